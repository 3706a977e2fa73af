"""The 'optimal' step of the squared losses: per mini-batch, measured on every call.

And the average of averaged SGD, which weighs each mini-batch's iterate by its rows.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression, Ridge

from gpuinc._array_api import to_numpy
from gpuinc.linear_model import SGDClassifier, SGDRegressor

W_TRUE = np.array([1.0, 2.0, 3.0, 4.0, 5.0])


def _stream(est, X, y, block=100):
    for start in range(0, X.shape[0], block):
        est.partial_fit(X[start : start + block], y[start : start + block])
    return est


def _test_set(seed=1):
    X = np.random.default_rng(seed).normal(size=(2000, 5))
    return X, X @ W_TRUE


def test_one_huge_first_row_does_not_stall_the_blocks_after_it():
    # the cap was the smallest ever seen: one 3000 in the first block froze learning
    # (R^2 -0.05 after 20,000 rows)
    X = np.random.default_rng(0).normal(size=(3000, 5))
    X[0, 0] = 3000.0
    est = _stream(SGDRegressor(random_state=0), X, X @ W_TRUE)
    assert est.score(*_test_set()) > 0.999


def test_a_late_mislabelled_huge_row_is_forgotten():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 5))
    y = X @ W_TRUE
    X[3000], y[3000] = 100.0, 0.0
    est = _stream(SGDRegressor(random_state=0), X[:3000], y[:3000])
    _stream(est, X[3000:3100], y[3000:3100])
    assert np.all(np.isfinite(est.coef_))
    _stream(est, X[3100:], y[3100:])
    assert est.score(*_test_set()) > 0.999


def test_a_heavy_tailed_column_does_not_slow_down_the_others():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 5))
    X[:, 0] = rng.lognormal(0.0, 3.0, size=20_000)
    est = _stream(SGDRegressor(random_state=0), X, X @ W_TRUE)
    assert_allclose(est.coef_, W_TRUE, rtol=0.02)


def test_a_batch_holding_a_huge_row_steps_shorter_than_the_others():
    X = np.random.default_rng(0).normal(size=(1000, 5))
    X[500] *= 1000.0
    est = SGDRegressor(random_state=0, shuffle=False, batch_size=100)
    est._check_params()
    est.partial_fit(X, X @ W_TRUE)
    norms, top, _ = est._step_caps(np, X, None, _squared_error(), None)
    caps = est._batch_caps(np, norms, top, None, 1000, 100, 1.0, quiet=False)
    # exact bound for the batch with the huge row: 1 / (max/m + top) <= m / max
    assert caps[5] <= 100.0 / float(norms[500])
    assert np.all(np.delete(caps, 5) > 1000 * caps[5])
    # a large batch drawn at random from well-scaled rows steps near 1 / top, not
    # 1 / mean squared row norm; rows as stored (no shuffle) take the trace alone
    clean = np.random.default_rng(1).normal(size=(4000, 100))
    norms, top, _ = est._step_caps(np, clean, None, _squared_error(), None)
    shuffled = np.random.default_rng(2).permutation(4000)
    caps = est._batch_caps(np, norms, top, shuffled, 4000, 1000, 1.0, quiet=False)
    assert 0.9 < top < 2.0  # the covariance is the identity (intercept included)
    assert np.all(caps > 20.0 / norms.mean())
    stored = est._batch_caps(np, norms, top, None, 4000, 1000, 1.0, quiet=False)
    assert_allclose(stored, 1.0 / norms.reshape(4, 1000).mean(axis=1))


def _squared_error():
    from gpuinc.linear_model._loss import make_loss

    return make_loss("squared_error", epsilon=0.1)


def test_many_features_are_learnt_in_one_partial_fit():
    # the single-sample cap 1 / (mean |x|^2 + 1) left R^2 at 0.28 after one pass
    rng = np.random.default_rng(0)
    d = 100
    X = rng.normal(size=(6000, d))
    y = X @ rng.normal(size=d) + 0.5 * rng.normal(size=6000)
    est = SGDRegressor(random_state=0).partial_fit(X[:5000], y[:5000])
    assert est.score(X[5000:], y[5000:]) > 0.9
    est.partial_fit(X[:5000], y[:5000])
    assert est.score(X[5000:], y[5000:]) > 0.99


@pytest.mark.parametrize(
    "scale",
    ["one column x1000", "correlated columns", "rows x50", "targets x1000", "float32 x100"],
)
@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_badly_scaled_data_does_not_diverge(scale, how):
    rng = np.random.default_rng(0)
    n = 4000
    X = rng.normal(size=(n, 10))
    if scale == "one column x1000":
        X[:, 0] *= 1000.0
    elif scale == "correlated columns":
        X = rng.normal(size=(n, 1)) + 0.01 * X
    elif scale == "rows x50":
        X[::50] *= 50.0
    elif scale == "float32 x100":
        X = (100.0 * X).astype(np.float32)
    y = X @ rng.normal(size=10) + 1.0 + 0.1 * rng.normal(size=n)
    if scale == "targets x1000":
        y = 1000.0 * y
    est = SGDRegressor(random_state=0)
    if how == "fit":
        est.fit(X, y)
    else:
        for _ in range(3):
            _stream(est, X, y, block=400)
    assert np.all(np.isfinite(est.coef_))
    assert est.score(X, y) > 0.99


def test_same_steps_on_numpy_and_strict_with_weights_and_an_outlier():
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(530, 7))
    X[17] *= 300.0
    y = X @ rng.normal(size=7) + 0.1 * rng.normal(size=530)
    sw = rng.uniform(0.0, 2.0, size=530)
    a, b = SGDRegressor(random_state=0), SGDRegressor(random_state=0)
    for rows in np.array_split(np.arange(530), 3):
        a.partial_fit(X[rows], y[rows], sample_weight=sw[rows])
        b.partial_fit(xps.asarray(X[rows]), xps.asarray(y[rows]), sample_weight=xps.asarray(sw[rows]))
    assert a.t_ == b.t_
    assert_allclose(to_numpy(b.coef_), a.coef_, rtol=1e-9, atol=1e-9)
    assert_allclose(to_numpy(b.intercept_), a.intercept_, rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ averaging
def test_average_weighs_each_iterate_by_the_rows_of_its_batch():
    X = np.random.default_rng(0).normal(size=(100, 3))
    y = X @ np.array([1.0, -1.0, 2.0])
    params = dict(learning_rate="constant", eta0=0.1, shuffle=False, batch_size=40)
    coefs, rows = [], []
    step = SGDRegressor(**params)
    for start in range(0, 100, 40):  # batches of 40, 40 and 20 rows
        step.partial_fit(X[start : start + 40], y[start : start + 40])
        coefs.append(step.coef_.copy())
        rows.append(min(40, 100 - start))
    avg = SGDRegressor(average=True, **params).partial_fit(X, y)
    assert_allclose(avg.coef_, np.average(coefs, axis=0, weights=rows), rtol=1e-10)


def test_averaged_fit_nears_the_exact_optimum():
    # every one of ~150 mini-batch iterates weighed the same, the early ones far from
    # the optimum: max error 0.11 against Ridge (scikit-learn's SGD: 0.04), 0.28 against
    # LogisticRegression (scikit-learn: 0.08)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 10))
    y = X @ rng.normal(size=10) + 1 + 0.5 * rng.normal(size=2000)
    labels = (X[:, 0] + X[:, 1] + 0.5 * rng.normal(size=2000) > 0).astype(int)
    ridge = Ridge(alpha=0.01 * 2000).fit(X, y)
    logistic = LogisticRegression(C=1 / (0.01 * 2000)).fit(X, labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for average, bound in [(True, 0.01), (2000, 0.005)]:
            reg = SGDRegressor(alpha=0.01, average=average, random_state=0).fit(X, y)
            assert np.abs(reg.coef_ - ridge.coef_).max() < bound, average
        clf = SGDClassifier(loss="log_loss", alpha=0.01, average=True, random_state=0)
        clf.fit(X, labels)
    assert np.abs(clf.coef_ - logistic.coef_).max() < 0.06


def test_rows_alike_stored_together_do_not_make_an_unshuffled_fit_diverge():
    # with shuffle=False a mini-batch of near-identical rows has a Hessian near its trace,
    # far above the data's top eigenvalue: the step cap for random batches diverged
    # (R^2 -45.9 where scikit-learn reaches 0.989), or raised that the fit diverges
    from gpuinc.linear_model import SGDRegressor

    rng = np.random.RandomState(0)
    d, n = 100, 40960
    X = rng.randn(n, d)
    v = rng.randn(d)
    v *= 10 / np.linalg.norm(v)
    X[-n // 20:] = v + 0.01 * rng.randn(n // 20, d)  # 5 % rows alike, stored together
    y = X @ (rng.randn(d) / 10) + 0.1 * rng.randn(n)
    assert SGDRegressor(random_state=0, shuffle=False).fit(X, y).score(X, y) > 0.98
    repeated = np.vstack([rng.randn(20000, d), np.repeat(rng.randn(1, d), 2048, axis=0)])
    target = repeated @ (rng.randn(d) / 10) + 0.1 * rng.randn(len(repeated))
    model = SGDRegressor(random_state=0, shuffle=False).fit(repeated, target)
    assert model.score(repeated, target) > 0.98
