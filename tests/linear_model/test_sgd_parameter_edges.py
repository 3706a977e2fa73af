"""Edge cases of the SGD estimators' parameters and labels (review fixes).

Huge ``batch_size``, non-finite and extreme hyper-parameters, non-finite class
labels and exact integer labels on namespaces other than NumPy.
"""

from __future__ import annotations

import math
import sys
import tracemalloc
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from gpuinc._array_api import to_numpy
from gpuinc.linear_model import SGDClassifier, SGDRegressor

xps = pytest.importorskip("array_api_strict")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _linear(n=100, d=3):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    return X, X @ np.arange(1.0, d + 1) - 2.0 + 0.1 * rng.normal(size=n)


# ------------------------------------------------------------------ batch_size
@pytest.mark.parametrize("namespace", ["numpy", "array_api_strict"])
@pytest.mark.parametrize("loss", ["squared_error", "huber"])
@pytest.mark.parametrize("shuffle", [True, False])
def test_a_batch_size_above_the_rows_is_one_batch_of_them_all(namespace, loss, shuffle):
    # before: the step caps padded the row norms to batch_size entries (8 TiB here)
    X, y = _linear()
    conv = np.asarray if namespace == "numpy" else xps.asarray
    kw = dict(loss=loss, shuffle=shuffle, max_iter=3, tol=None, random_state=0)
    tracemalloc.start()
    try:
        huge = SGDRegressor(batch_size=2**40, **kw).fit(conv(X), conv(y))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    one_batch = SGDRegressor(batch_size=100, **kw).fit(conv(X), conv(y))
    assert_array_equal(to_numpy(huge.coef_), to_numpy(one_batch.coef_))
    assert_array_equal(to_numpy(huge.intercept_), to_numpy(one_batch.intercept_))
    assert huge.t_ == one_batch.t_ == 4.0


def test_a_huge_batch_size_in_partial_fit_and_the_classifier():
    X, y = _linear()
    labels = (y > 0).astype(int)
    for est, target in ((SGDClassifier(batch_size=2**40, random_state=0), labels),
                        (SGDRegressor(batch_size=2**40, random_state=0), y)):
        kw = {"classes": [0, 1]} if isinstance(est, SGDClassifier) else {}
        est.partial_fit(X, target, **kw)
        assert est.t_ == 2.0


# ------------------------------------------------------------ non-finite params
@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
@pytest.mark.parametrize("param", ["alpha", "tol", "power_t", "eta0", "epsilon", "l1_ratio"])
@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_infinite_parameters_are_refused(Est, param, value):
    # before: tol, power_t and eta0 were taken silently; alpha and epsilon failed later
    # with another error, power_t=-inf with ZeroDivisionError
    X, y = _linear()
    target = (y > 0).astype(int) if Est is SGDClassifier else y
    kw = {param: value, "learning_rate": "invscaling"}
    if param == "l1_ratio":
        kw["penalty"] = "elasticnet"
    with pytest.raises(ValueError, match=f"{param} must be a finite real number"):
        Est(**kw).fit(X, target)


def test_tol_none_is_still_accepted():
    X, y = _linear()
    assert SGDRegressor(tol=None, max_iter=3).fit(X, y).n_iter_ == 3


# ------------------------------------------------------------------- power_t
def test_invscaling_with_a_large_power_t_fits():
    # before: OverflowError (t ** 100 beyond the float range)
    X, y = _linear(4000)
    est = SGDRegressor(learning_rate="invscaling", power_t=100.0, batch_size=1, max_iter=2,
                       random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    assert np.all(np.isfinite(est.coef_))


def test_invscaling_with_a_large_negative_power_t_reports_the_divergence():
    # before: ZeroDivisionError (t ** -100 underflows to 0); scikit-learn reports the
    # overflow of the weights with a ValueError too
    X, y = _linear(4000)
    est = SGDRegressor(learning_rate="invscaling", power_t=-100.0, batch_size=1, max_iter=2,
                       random_state=0)
    with pytest.raises(ValueError, match="overflow"):
        est.fit(X, y)
    assert not hasattr(est, "coef_")


def test_invscaling_step_is_the_usual_arithmetic_where_it_fits():
    from gpuinc.linear_model._base import _invscaling

    assert _invscaling(0.01, 7.0, 0.25) == 0.01 / 7.0**0.25
    assert _invscaling(0.01, 1.0, -1e6) == 0.01
    assert _invscaling(0.01, 3.0, 1e6) == 0.0
    assert _invscaling(0.01, 3.0, -1e6) == sys.float_info.max
    assert _invscaling(1e300, 1e10, -5.0) == sys.float_info.max


# ------------------------------------------------- labels on other namespaces
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize("bad, message", [
    (math.inf, r"Input y contains infinity or a value too large for dtype\('float64'\)"),
    (-math.inf, r"Input y contains infinity or a value too large for dtype\('float64'\)"),
    (math.nan, "Input y contains NaN"),
])  # fmt: skip
def test_non_finite_labels_are_refused_as_on_numpy(bad, message, method):
    # before: inf became a class label (classes_ [0, inf]), NaN "continuous"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = np.where(X[:, 0] > 0, bad, 0.0)
    for conv in (np.asarray, xps.asarray):
        est = SGDClassifier(random_state=0)
        with pytest.raises(ValueError, match=message):
            if method == "fit":
                est.fit(conv(X), conv(y))
            else:
                est.partial_fit(conv(X), conv(y), classes=conv(np.array([0.0, 1.0])))


def test_non_finite_labels_are_refused_in_later_partial_fit_calls():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(np.float64)
    est = SGDClassifier(random_state=0).partial_fit(
        xps.asarray(X), xps.asarray(y), classes=xps.asarray([0.0, 1.0]))
    with pytest.raises(ValueError, match="Input y contains infinity"):
        est.partial_fit(xps.asarray(X), xps.asarray(np.where(y > 0, math.inf, 0.0)))


def test_uint64_labels_above_2_53_stay_apart_from_int64_classes():
    # before: compared as float64, 2**53 and 2**53 + 1 were one class (accuracy 0.5)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    big = 2**53
    y = np.array([big, big + 1], dtype=np.uint64)[(X[:, 0] > 0).astype(int)]
    classes = np.array([big, big + 1], dtype=np.int64)
    accuracy = []
    for conv in (np.asarray, xps.asarray):
        est = SGDClassifier(random_state=0).partial_fit(conv(X), conv(y), classes=conv(classes))
        pred = np.asarray(to_numpy(est.predict(conv(X)))).astype(np.uint64)
        accuracy.append(np.mean(pred == y))
        assert est.score(conv(X), conv(y)) == pytest.approx(accuracy[-1])
    assert accuracy[0] == accuracy[1] > 0.95


def test_labels_and_classes_without_an_exact_common_integer_type_are_refused():
    X = np.random.default_rng(0).normal(size=(4, 2))
    y = xps.asarray(np.array([2**63, 2**63 + 1, 2**63, 2**63 + 1], dtype=np.uint64))
    classes = xps.asarray(np.array([-1, 2], dtype=np.int64))
    with pytest.raises(ValueError, match="cannot be compared exactly"):
        SGDClassifier().partial_fit(xps.asarray(X), y, classes=classes)


def test_int64_labels_with_uint64_classes_compare_exactly():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    big = 2**53
    y = np.array([big, big + 1], dtype=np.int64)[(X[:, 0] > 0).astype(int)]
    classes = np.array([big, big + 1], dtype=np.uint64)
    est = SGDClassifier(random_state=0).partial_fit(
        xps.asarray(X), xps.asarray(y), classes=xps.asarray(classes))
    pred = np.asarray(to_numpy(est.predict(xps.asarray(X))))
    accuracy = np.mean(pred.astype(np.int64) == y)
    assert accuracy > 0.95
    assert est.score(xps.asarray(X), xps.asarray(y)) == pytest.approx(accuracy)


def test_integer_labels_whose_common_type_is_a_float_compare_exactly():
    # NumPy's and CuPy's result_type(uint64, int64) is float64 (array_api_strict raises),
    # which would merge labels above 2**53
    import array_api_compat.numpy as xp_np

    from gpuinc.linear_model._sgd import _comparable_labels

    big = 2**53
    y = np.array([big, big + 1, big], dtype=np.uint64)
    classes = np.array([big, big + 1], dtype=np.int64)
    a, b = _comparable_labels(xp_np, y, classes)
    assert a.dtype == b.dtype and a.dtype.kind in "iu"
    assert (a[:, None] == b[None, :]).sum(axis=1).tolist() == [1, 1, 1]
    assert a.tolist() == [big, big + 1, big] and b.tolist() == [big, big + 1]
