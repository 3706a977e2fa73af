"""One code path for every namespace: NumPy and array_api_strict must agree.

array_api_strict rejects anything outside the array-API standard, so what
passes here also runs on CuPy.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gpuinc._array_api import to_numpy
from gpuinc.linear_model import SGDClassifier, SGDRegressor, to_namespace

xps = pytest.importorskip("array_api_strict")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

CLASSIFIER_CASES = [
    dict(loss="hinge"),
    dict(loss="log_loss"),
    dict(loss="modified_huber"),
    dict(loss="squared_hinge"),
    dict(loss="perceptron"),
    dict(loss="log_loss", penalty="elasticnet", l1_ratio=0.5),
    dict(loss="hinge", penalty="l1", learning_rate="invscaling", eta0=0.1),
    dict(loss="log_loss", penalty=None, learning_rate="constant", eta0=0.05),
    dict(loss="modified_huber", average=True, class_weight={0: 2.0}),
    dict(loss="log_loss", average=50, learning_rate="adaptive", eta0=0.1, tol=1e-4),
    dict(loss="hinge", shuffle=False, batch_size=7, fit_intercept=False),
]
REGRESSOR_CASES = [
    dict(loss="squared_error"),
    dict(loss="huber", epsilon=0.5),
    dict(loss="epsilon_insensitive"),
    dict(loss="squared_epsilon_insensitive"),
    dict(penalty="elasticnet", average=True),
    dict(learning_rate="invscaling", eta0=0.05, power_t=0.3, penalty="l1"),
    dict(learning_rate="adaptive", eta0=0.05, tol=1e-4, shuffle=False),
]


def _classification(n_classes, dtype, n_samples=240, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n_samples)
    X = centers[y] + rng.normal(size=(n_samples, n_features))
    return X.astype(dtype), y


def _regression(dtype, n_samples=240, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = X @ rng.normal(size=n_features) + 0.5 + 0.1 * rng.normal(size=n_samples)
    return X.astype(dtype), y.astype(dtype)


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)


def _is_strict(a):
    return type(a).__module__.startswith("array_api_strict")


def _compare_fitted(est_np, est_xp, X, dtype, methods):
    tol = _tol(dtype)
    for name in ("coef_", "intercept_"):
        a, b = getattr(est_np, name), getattr(est_xp, name)
        assert _is_strict(b), f"{name} left the namespace"
        assert b.dtype == getattr(xps, np.dtype(dtype).name)
        assert a.dtype == dtype
        assert_allclose(to_numpy(b), a, **tol, err_msg=name)
    assert est_np.t_ == est_xp.t_
    assert est_np.n_iter_ == est_xp.n_iter_
    X_xp = xps.asarray(X)
    for method in methods:
        out_np = getattr(est_np, method)(X)
        out_xp = getattr(est_xp, method)(X_xp)
        assert _is_strict(out_xp), f"{method} returned {type(out_xp)}"
        assert_allclose(to_numpy(out_xp), out_np, **tol, err_msg=method)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("params", CLASSIFIER_CASES, ids=lambda p: ",".join(map(str, p.values())))
def test_classifier_fit_same_on_numpy_and_strict(params, n_classes, dtype):
    X, y = _classification(n_classes, dtype)
    sw = np.linspace(0.5, 1.5, X.shape[0])
    est = SGDClassifier(random_state=0, max_iter=8, **{"tol": None, **params})
    est_np = est.__class__(**est.get_params()).fit(X, y, sample_weight=sw)
    est_xp = est.__class__(**est.get_params()).fit(
        xps.asarray(X), xps.asarray(y), sample_weight=xps.asarray(sw)
    )
    assert _is_strict(est_xp.classes_)
    assert_allclose(to_numpy(est_xp.classes_), est_np.classes_)
    methods = ["decision_function", "predict"]
    if params["loss"] in ("log_loss", "modified_huber"):
        methods += ["predict_proba", "predict_log_proba"]
    _compare_fitted(est_np, est_xp, X, dtype, methods)
    score_np = est_np.score(X, y)
    score_xp = est_xp.score(xps.asarray(X), xps.asarray(y))
    assert isinstance(score_xp, float)
    assert score_xp == pytest.approx(score_np)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("params", REGRESSOR_CASES, ids=lambda p: ",".join(map(str, p.values())))
def test_regressor_fit_same_on_numpy_and_strict(params, dtype):
    X, y = _regression(dtype)
    params = {"tol": None, **params}
    est_np = SGDRegressor(random_state=0, max_iter=8, **params).fit(X, y)
    est_xp = SGDRegressor(random_state=0, max_iter=8, **params).fit(xps.asarray(X), xps.asarray(y))
    _compare_fitted(est_np, est_xp, X, dtype, ["predict"])
    assert est_xp.score(xps.asarray(X), xps.asarray(y)) == pytest.approx(
        est_np.score(X, y), rel=1e-4
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partial_fit_blocks_same_on_numpy_and_strict(dtype):
    X, y = _classification(4, dtype, n_samples=600)
    est_np = SGDClassifier(loss="log_loss", random_state=3, batch_size=32)
    est_xp = SGDClassifier(loss="log_loss", random_state=3, batch_size=32)
    for _ in range(3):
        for rows in np.array_split(np.arange(X.shape[0]), 5):
            est_np.partial_fit(X[rows], y[rows], classes=[0, 1, 2, 3])
            est_xp.partial_fit(xps.asarray(X[rows]), xps.asarray(y[rows]), classes=[0, 1, 2, 3])
    _compare_fitted(est_np, est_xp, X, dtype, ["decision_function", "predict", "predict_proba"])

    Xr, yr = _regression(dtype, n_samples=600)
    reg_np, reg_xp = SGDRegressor(random_state=1), SGDRegressor(random_state=1)
    for rows in np.array_split(np.arange(Xr.shape[0]), 4):
        reg_np.partial_fit(Xr[rows], yr[rows])
        reg_xp.partial_fit(xps.asarray(Xr[rows]), xps.asarray(yr[rows]))
    _compare_fitted(reg_np, reg_xp, Xr, dtype, ["predict"])


def test_integer_data_becomes_the_default_float():
    X, y = _classification(2, np.float64)
    Xi = np.round(X * 10).astype(np.int32)
    est_np = SGDClassifier(random_state=0, max_iter=3, tol=None).fit(Xi, y)
    est_xp = SGDClassifier(random_state=0, max_iter=3, tol=None).fit(xps.asarray(Xi), y)
    assert est_np.coef_.dtype == np.float64
    assert est_xp.coef_.dtype == xps.float64
    assert_allclose(to_numpy(est_xp.coef_), est_np.coef_)


def test_y_and_sample_weight_follow_X():
    """X decides the namespace; host y and sample_weight are moved next to it."""
    X, y = _classification(3, np.float64)
    sw = np.linspace(0.5, 1.5, X.shape[0])
    reference = SGDClassifier(random_state=0, max_iter=4, tol=None).fit(
        xps.asarray(X), xps.asarray(y), sample_weight=xps.asarray(sw)
    )
    mixed = SGDClassifier(random_state=0, max_iter=4, tol=None).fit(
        xps.asarray(X), list(y), sample_weight=sw
    )
    assert _is_strict(mixed.coef_) and _is_strict(mixed.classes_)
    assert_allclose(to_numpy(mixed.coef_), to_numpy(reference.coef_))


def test_non_numeric_labels_need_numpy():
    X, y = _classification(2, np.float64)
    labels = np.array(["no", "yes"])[y]
    clf = SGDClassifier(random_state=0, max_iter=3, tol=None).fit(X, labels)
    assert set(clf.predict(X)) <= {"no", "yes"}
    with pytest.raises(TypeError, match="only numeric"):
        SGDClassifier(max_iter=3).fit(xps.asarray(X), labels)
    with pytest.raises(TypeError, match="only numeric"):
        to_namespace(clf, xps)


def test_mixing_namespaces_between_calls_raises_and_says_how_to_move():
    X, y = _classification(2, np.float64)
    clf = SGDClassifier(random_state=0, max_iter=3, tol=None).fit(X, y)
    for method in ("predict", "decision_function", "score", "partial_fit"):
        args = (
            (xps.asarray(X), xps.asarray(y))
            if method in ("score", "partial_fit")
            else (xps.asarray(X),)
        )
        with pytest.raises(ValueError, match=rf"SGDClassifier\.{method}\(\).*to_namespace"):
            getattr(clf, method)(*args)

    reg = SGDRegressor(random_state=0, max_iter=3, tol=None).fit(xps.asarray(X), xps.asarray(y))
    with pytest.raises(ValueError, match="same namespace"):
        reg.predict(X)
    with pytest.raises(ValueError, match="same namespace"):
        reg.partial_fit(X, y)
    # fit starts over, so it may change namespace
    assert isinstance(reg.fit(X, y).coef_, np.ndarray)


def test_to_namespace_moves_a_fitted_model_both_ways():
    X, y = _classification(3, np.float32)
    clf = SGDClassifier(loss="log_loss", average=True, random_state=0, max_iter=4, tol=None)
    clf.fit(X, y)
    moved = to_namespace(clf, xps)
    assert moved is not clf and isinstance(clf.coef_, np.ndarray), "original must stay put"
    for name in ("coef_", "intercept_", "classes_", "_standard_coef", "_average_coef"):
        assert _is_strict(getattr(moved, name)), name
    assert_allclose(to_numpy(moved.predict_proba(xps.asarray(X))), clf.predict_proba(X))
    # training goes on in the new namespace
    moved.partial_fit(xps.asarray(X), xps.asarray(y))
    back = to_namespace(moved, "numpy")
    assert isinstance(back.coef_, np.ndarray) and back.coef_.dtype == np.float32
    assert_allclose(back.predict_proba(X), to_numpy(moved.predict_proba(xps.asarray(X))))
    # an example array works as the target too
    assert _is_strict(to_namespace(back, xps.asarray(X[:1])).coef_)


def test_device_mismatch_within_a_namespace_raises():
    devices = [d for d in xps.__array_namespace_info__().devices() if d != xps.Device("CPU_DEVICE")]
    if not devices:
        pytest.skip("this array_api_strict has a single device")
    X, y = _classification(2, np.float64)
    reg = SGDRegressor(random_state=0, max_iter=3, tol=None).fit(xps.asarray(X), y)
    X_other = xps.asarray(X, device=devices[0])
    with pytest.raises(ValueError, match="same device"):
        reg.predict(X_other)
    moved = to_namespace(reg, xps, device=devices[0])
    assert moved.predict(X_other).device == devices[0]


@pytest.mark.parametrize("namespace", ["numpy", "strict"])
def test_same_random_state_same_model(namespace):
    X, y = _classification(3, np.float64)
    wrap = xps.asarray if namespace == "strict" else np.asarray
    fits = [
        SGDClassifier(random_state=seed, max_iter=3, tol=None).fit(wrap(X), wrap(y))
        for seed in (7, 7, 8)
    ]
    coefs = [to_numpy(f.coef_) for f in fits]
    np.testing.assert_array_equal(coefs[0], coefs[1])
    assert not np.allclose(coefs[0], coefs[2])
    rs = SGDClassifier(random_state=np.random.RandomState(7), max_iter=3, tol=None)
    assert np.all(np.isfinite(to_numpy(rs.fit(wrap(X), wrap(y)).coef_)))


LABELS = {
    "int": lambda y: y.astype(np.int64),
    "float": lambda y: y.astype(np.float64),
    "bool": lambda y: y.astype(bool),
}


@pytest.mark.parametrize("classes", [None, [0, 1], [0.0, 1.0], [False, True]])
@pytest.mark.parametrize("label_kind", sorted(LABELS))
def test_labels_compare_by_value_on_every_namespace(label_kind, classes):
    # NumPy matches 1.0 with 1 and True with 1; strict namespaces refuse to mix the
    # types, so gpuinc has to do the matching itself
    X, y = _classification(2, np.float64)
    y = LABELS[label_kind](y)
    Xs, ys = xps.asarray(X), xps.asarray(y)
    host, strict = SGDClassifier(random_state=0), SGDClassifier(random_state=0)
    if classes is None:
        host.fit(X, y)
        strict.fit(Xs, ys)
    else:
        host.partial_fit(X, y, classes=classes)
        strict.partial_fit(Xs, ys, classes=classes)
        host.partial_fit(X, y)  # a second call compares y with the stored classes_
        strict.partial_fit(Xs, ys)
    assert to_numpy(strict.classes_).dtype == np.asarray(host.classes_).dtype
    assert np.array_equal(to_numpy(strict.predict(Xs)), host.predict(X))
    assert strict.score(Xs, ys) == pytest.approx(host.score(X, y))


def test_unknown_label_of_another_dtype_is_named():
    X, y = _classification(2, np.float64)
    y = y.astype(np.float64)
    y[3] = 2.0
    with pytest.raises(ValueError, match=r"labels \[2\.0\] not in classes \[0, 1\]"):
        SGDClassifier().partial_fit(xps.asarray(X), xps.asarray(y), classes=[0, 1])


@pytest.mark.parametrize("xp_name", ["numpy", "array_api_strict"])
def test_scores_use_the_wider_float_type(xp_name):
    X, y = _classification(3, np.float64)
    xp = np if xp_name == "numpy" else xps
    model = SGDClassifier(loss="log_loss", random_state=0).fit(
        xp.asarray(X.astype(np.float32)), xp.asarray(y)
    )
    assert to_numpy(model.coef_).dtype == np.float32
    wide = model.decision_function(xp.asarray(X))
    assert to_numpy(wide).dtype == np.float64  # as scikit-learn answers
    assert to_numpy(model.predict_proba(xp.asarray(X))).dtype == np.float64
    narrow = model.decision_function(xp.asarray(X.astype(np.float32)))
    assert to_numpy(narrow).dtype == np.float32
    assert_allclose(to_numpy(wide), to_numpy(narrow), rtol=1e-5, atol=1e-5)
    reg = SGDRegressor(random_state=0).fit(xp.asarray(X), xp.asarray(X[:, 0]))
    assert to_numpy(reg.predict(xp.asarray(X.astype(np.float32)))).dtype == np.float64


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_score_checks_y_and_sample_weight_on_every_namespace(Est):
    # broadcasting used to score a wrong-length y or weight vector without a word
    X, y = _classification(2, np.float64) if Est is SGDClassifier else _regression(np.float64)
    n = X.shape[0]
    for make in (np.asarray, xps.asarray):
        est = Est(random_state=0, max_iter=3, tol=None).fit(make(X), make(y))
        Xm = make(X)
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            est.score(Xm, make(y[:1]))
        with pytest.raises(ValueError, match="inconsistent numbers of samples"):
            est.score(Xm, make(np.reshape(y, (n // 2, 2))))
        with pytest.raises(ValueError, match=r"sample_weight|inconsistent numbers of samples"):
            est.score(Xm, make(y), sample_weight=[1.0])
        with pytest.raises(ValueError, match="non-zero"):
            est.score(Xm, make(y), sample_weight=np.zeros(n))
    # and the checked scores are those of NumPy
    sw = np.linspace(0.5, 1.5, n)
    a = Est(random_state=0, max_iter=3, tol=None).fit(X, y)
    b = to_namespace(a, "array_api_strict")
    assert b.score(xps.asarray(X), xps.asarray(y), sample_weight=sw) == pytest.approx(
        a.score(X, y, sample_weight=sw), rel=1e-9)
    assert b.score(xps.asarray(X), xps.asarray(np.reshape(y, (n, 1)))) == pytest.approx(
        a.score(X, y), rel=1e-9)


def test_float64_host_inputs_reach_a_device_without_float64():
    # a float32 model on a device without float64 (as some GPU backends): host weights,
    # targets and initial coefficients are cast before they move, not after
    if not hasattr(xps, "Device"):
        pytest.skip("this array_api_strict has no devices")
    dev = xps.Device("no_float64")
    X, y = _classification(2, np.float32)
    Xd, yd = xps.asarray(X, device=dev), xps.asarray(y.astype(np.int32), device=dev)
    n = X.shape[0]
    weighted = SGDClassifier(random_state=0, max_iter=3, tol=None).fit(
        Xd, yd, sample_weight=np.linspace(0.5, 1.5, n), coef_init=np.zeros((1, X.shape[1])))
    assert weighted.coef_.dtype == xps.float32
    assert 0.5 < weighted.score(Xd, yd, sample_weight=np.ones(n)) <= 1.0
    SGDClassifier(random_state=0, max_iter=3, tol=None, class_weight={0: 2, 1: 1}).fit(Xd, yd)
    reg = SGDRegressor(random_state=0, max_iter=3, tol=None).fit(Xd, X[:, 0].astype(np.float64))
    assert reg.score(Xd, X[:, 0].astype(np.float64)) > 0.5
