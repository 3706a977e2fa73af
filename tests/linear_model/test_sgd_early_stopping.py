"""early_stopping / validation_fraction / n_iter_no_change of SGDClassifier and SGDRegressor."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sgd_data import blobs, linear
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from gpuinc._array_api import to_numpy
from gpuinc.linear_model import SGDClassifier, SGDRegressor


def _blobs(n_samples=2000, **kwargs):
    return blobs(n_samples, **kwargs)


def _linear(n_samples=2000, **kwargs):
    return linear(n_samples, **kwargs)


def _stopping_point(scores, tol, patience):
    """Pass (1-based) at which scikit-learn's rule stops on these scores, or None."""
    best, no_improvement = -math.inf, 0
    for i, score in enumerate(scores, start=1):
        no_improvement = no_improvement + 1 if score < best + tol else 0
        best = max(best, score)
        if no_improvement >= patience:
            return i
    return None


# ---------------------------------------------------------------- stopping
@pytest.mark.parametrize(
    "make",
    [
        lambda: (SGDClassifier(loss="log_loss", early_stopping=True, random_state=0), _blobs()),
        lambda: (SGDClassifier(early_stopping=True, random_state=0), _blobs(n_classes=3)),
        lambda: (SGDRegressor(early_stopping=True, random_state=0), _linear()),
    ],
    ids=["binary", "multiclass", "regressor"],
)
def test_stops_well_before_max_iter_on_an_easy_problem(make):
    est, (X, y) = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    assert est.n_iter_ < 30 < est.max_iter
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_
    assert all(isinstance(s, float) for s in scores)
    assert est.best_validation_score_ == max(scores)
    # it stopped exactly where scikit-learn's rule says, not earlier
    assert _stopping_point(scores, est.tol, est.n_iter_no_change) == est.n_iter_
    assert est.best_validation_score_ > 0.9
    assert est.score(X, y) > 0.9


def test_patience_and_tol_decide_when_to_stop():
    X, y = _blobs()
    quick = SGDClassifier(early_stopping=True, n_iter_no_change=1, random_state=0).fit(X, y)
    patient = SGDClassifier(early_stopping=True, n_iter_no_change=8, random_state=0).fit(X, y)
    assert quick.n_iter_ < patient.n_iter_
    assert _stopping_point(patient.validation_scores_, 1e-3, 8) == patient.n_iter_
    # tol=None never stops (as in scikit-learn), but every pass is still scored
    never = SGDClassifier(early_stopping=True, tol=None, max_iter=7, random_state=0).fit(X, y)
    assert never.n_iter_ == 7 and len(never.validation_scores_) == 7


def test_adaptive_rate_shrinks_on_validation_plateaus():
    X, y = _blobs(n_samples=600)
    est = SGDClassifier(
        loss="log_loss",
        learning_rate="adaptive",
        eta0=1.0,
        early_stopping=True,
        n_iter_no_change=2,
        random_state=0,
        max_iter=200,
    ).fit(X, y)
    assert est._eta_scale < 1.0
    assert est.n_iter_ < 200


def test_validation_rows_are_held_out_of_training():
    """With tol=None, early_stopping=True trains exactly like a fit on the training split."""
    X, y = _blobs(n_classes=3, n_samples=900)
    sw = np.linspace(0.5, 1.5, X.shape[0])
    params = dict(loss="log_loss", random_state=4, max_iter=4, tol=None)
    held_out = SGDClassifier(early_stopping=True, validation_fraction=0.2, **params)
    held_out.fit(X, y, sample_weight=sw)
    # the split is scikit-learn's: stratified, from random_state
    train, val = next(StratifiedShuffleSplit(1, test_size=0.2, random_state=4).split(X, y))
    train = np.sort(train)
    reference = SGDClassifier(**params).fit(X[train], y[train], sample_weight=sw[train])
    assert_array_equal(held_out.coef_, reference.coef_)
    assert_array_equal(held_out.intercept_, reference.intercept_)
    assert held_out.t_ == reference.t_
    assert held_out.validation_scores_[-1] == pytest.approx(
        reference.score(X[val], y[val], sample_weight=sw[val])
    )

    Xr, yr = _linear(n_samples=500)
    reg = SGDRegressor(early_stopping=True, random_state=2, max_iter=3, tol=None).fit(Xr, yr)
    train, val = next(ShuffleSplit(1, test_size=0.1, random_state=2).split(Xr))
    train = np.sort(train)
    ref = SGDRegressor(random_state=2, max_iter=3, tol=None).fit(Xr[train], yr[train])
    assert_array_equal(reg.coef_, ref.coef_)
    assert reg.validation_scores_[-1] == pytest.approx(ref.score(Xr[val], yr[val]))


@pytest.mark.parametrize("shuffle", [True, False])
def test_deterministic_for_a_random_state(shuffle):
    X, y = _blobs(n_classes=3)
    fits = [
        SGDClassifier(early_stopping=True, shuffle=shuffle, random_state=seed).fit(X, y)
        for seed in (5, 5, 6)
    ]
    assert_array_equal(fits[0].coef_, fits[1].coef_)
    assert fits[0].validation_scores_ == fits[1].validation_scores_
    assert fits[0].n_iter_ == fits[1].n_iter_
    assert not np.array_equal(fits[0].coef_, fits[2].coef_)
    rs = [
        SGDRegressor(early_stopping=True, random_state=np.random.RandomState(3)).fit(*_linear())
        for _ in range(2)
    ]
    assert_array_equal(rs[0].coef_, rs[1].coef_)


def test_sparse_input_gives_the_dense_result():
    X, y = _blobs(n_samples=800)
    X[np.abs(X) < 0.7] = 0.0
    params = dict(loss="log_loss", early_stopping=True, random_state=0)
    dense = SGDClassifier(**params).fit(X, y)
    sparse = SGDClassifier(**params).fit(sp.csr_matrix(X), y)
    assert sparse.n_iter_ == dense.n_iter_
    assert_allclose(sparse.validation_scores_, dense.validation_scores_)
    assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10, atol=1e-12)


def test_string_labels_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _blobs(n_classes=3)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    labels = np.array(["ant", "bee", "cat"])[y]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature-name warning from scoring the held-out rows
        clf = SGDClassifier(early_stopping=True, random_state=0).fit(frame, labels)
    assert clf.best_validation_score_ > 0.9
    assert set(clf.predict(frame)) <= {"ant", "bee", "cat"}


# ------------------------------------------------------------ namespaces
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "case",
    [
        dict(est=SGDClassifier, n_classes=2, params=dict(loss="log_loss")),
        dict(est=SGDClassifier, n_classes=3, params=dict(loss="hinge", average=True)),
        dict(est=SGDClassifier, n_classes=3, params=dict(loss="log_loss", shuffle=False)),
        dict(est=SGDRegressor, n_classes=None, params=dict()),
        dict(est=SGDRegressor, n_classes=None, params=dict(learning_rate="adaptive", eta0=0.05)),
    ],
    ids=["binary", "ovr-average", "multinomial-noshuffle", "regressor", "regressor-adaptive"],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_same_on_numpy_and_array_api_strict(case, dtype, weighted):
    xps = pytest.importorskip("array_api_strict")
    if case["n_classes"] is None:
        X, y = _linear(n_samples=600, dtype=dtype)
    else:
        X, y = _blobs(n_samples=600, n_classes=case["n_classes"], dtype=dtype)
    sw = np.linspace(0.2, 2.0, X.shape[0]).astype(dtype) if weighted else None
    params = dict(early_stopping=True, validation_fraction=0.25, random_state=1, **case["params"])
    est_np = case["est"](**params).fit(X, y, sample_weight=sw)
    est_xp = case["est"](**params).fit(
        xps.asarray(X), xps.asarray(y), sample_weight=None if sw is None else xps.asarray(sw)
    )
    assert type(est_xp.coef_).__module__.startswith("array_api_strict")
    assert est_np.n_iter_ == est_xp.n_iter_ < est_np.max_iter
    assert est_np.t_ == est_xp.t_
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)
    assert_allclose(est_xp.validation_scores_, est_np.validation_scores_, **tol)
    assert_allclose(to_numpy(est_xp.coef_), est_np.coef_, **tol)
    assert_allclose(to_numpy(est_xp.intercept_), est_np.intercept_, **tol)


def test_strict_input_errors_like_numpy():
    xps = pytest.importorskip("array_api_strict")
    X, y = _blobs(n_samples=20, n_classes=3)
    with pytest.raises(ValueError, match="validation_fraction"):
        SGDClassifier(early_stopping=True, validation_fraction=0.05).fit(
            xps.asarray(X), xps.asarray(y)
        )


# --------------------------------------------------------------- partial_fit
@pytest.mark.parametrize("est", [SGDClassifier, SGDRegressor])
def test_partial_fit_ignores_early_stopping(est):
    X, y = _blobs() if est is SGDClassifier else _linear()
    extra = {"classes": [0, 1]} if est is SGDClassifier else {}
    plain = est(random_state=0)
    early = est(random_state=0, early_stopping=True, validation_fraction=0.5)
    for rows in np.array_split(np.arange(X.shape[0]), 4):
        plain.partial_fit(X[rows], y[rows], **extra)
        early.partial_fit(X[rows], y[rows], **extra)
    assert_array_equal(early.coef_, plain.coef_)
    assert_array_equal(early.intercept_, plain.intercept_)
    assert early.t_ == plain.t_ and early.n_iter_ == 1
    assert not hasattr(early, "validation_scores_")
    # even a block too small to split is fine
    early.partial_fit(X[:2], y[:2])


def test_validation_attributes_describe_the_last_fit():
    X, y = _blobs()
    clf = SGDClassifier(early_stopping=True, random_state=0).fit(X, y)
    assert clf.validation_scores_
    clf.set_params(early_stopping=False).fit(X, y)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_early_stopping_off_keeps_the_old_fit():
    """validation_fraction does nothing without early_stopping."""
    X, y = _blobs()
    a = SGDClassifier(random_state=0).fit(X, y)
    b = SGDClassifier(random_state=0, validation_fraction=0.5).fit(X, y)
    assert_array_equal(a.coef_, b.coef_)
    assert a.n_iter_ == b.n_iter_


# -------------------------------------------------------------------- errors
@pytest.mark.parametrize("fraction", [0, 0.0, 1, 1.0, -0.1, 1.5, "0.1", None, float("nan"), True])
@pytest.mark.parametrize("est", [SGDClassifier, SGDRegressor])
@pytest.mark.parametrize("early_stopping", [True, False])
def test_bad_validation_fraction(est, fraction, early_stopping):
    X, y = _blobs(n_samples=100)
    with pytest.raises(ValueError, match=r"validation_fraction must be .*between 0 and 1.*got"):
        est(early_stopping=early_stopping, validation_fraction=fraction).fit(X, y)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_early_stopping_must_be_a_bool(value):
    X, y = _blobs(n_samples=100)
    with pytest.raises(ValueError, match="early_stopping must be True or False"):
        SGDClassifier(early_stopping=value).fit(X, y)


def test_too_small_validation_split_says_how_to_fix_it():
    X, y = _blobs(n_samples=20, n_classes=3)
    # ceil(0.05 * 20) = 1 validation sample for 3 classes
    with pytest.raises(ValueError, match=r"at least one validation sample of each of the 3 "):
        SGDClassifier(early_stopping=True, validation_fraction=0.05).fit(X, y)
    with pytest.raises(ValueError, match=r"Raise validation_fraction to at least 0\.15"):
        SGDClassifier(early_stopping=True, validation_fraction=0.05).fit(X, y)
    # a stratified split needs two samples of every class
    y_rare = y.copy()
    y_rare[:] = np.where(np.arange(20) % 2 == 0, 0, 1)
    y_rare[3] = 2
    with pytest.raises(ValueError, match=r"classes \[2\] have only 1"):
        SGDClassifier(early_stopping=True, validation_fraction=0.5).fit(X, y_rare)
    # too little left to train on
    with pytest.raises(ValueError, match="at least one training sample of each"):
        SGDClassifier(early_stopping=True, validation_fraction=0.95).fit(X, y)
    Xr, yr = _linear(n_samples=5)
    with pytest.raises(ValueError, match=r"leaves nothing to train on.*validation_fraction"):
        SGDRegressor(early_stopping=True, validation_fraction=0.9).fit(Xr, yr)
    # ... all of which work without early stopping
    SGDRegressor(validation_fraction=0.9, max_iter=3, tol=None).fit(Xr, yr)


def test_all_zero_validation_weights_raise():
    X, y = _linear(n_samples=100)
    val = next(ShuffleSplit(1, test_size=0.1, random_state=0).split(X))[1]
    sw = np.ones(100)
    sw[val] = 0.0
    with pytest.raises(ValueError, match="sample weights of all 10 validation samples are zero"):
        SGDRegressor(early_stopping=True, random_state=0).fit(X, y, sample_weight=sw)


def test_nan_in_the_validation_rows_is_reported():
    X, y = _blobs(n_samples=200)
    val = next(StratifiedShuffleSplit(1, test_size=0.1, random_state=0).split(X, y))[1]
    X[val[0], 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        SGDClassifier(early_stopping=True, random_state=0).fit(X, y)
    # bad input is named as such even where the split could not be made either
    X_small = np.ones((10, 3))
    X_small[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        SGDClassifier(early_stopping=True, random_state=0).fit(X_small, np.arange(10) % 2)
