"""gpuinc's SGD models on CuPy arrays: same results as on NumPy, outputs stay on the GPU."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

pytestmark = pytest.mark.gpu

cupy = pytest.importorskip("cupy")
if not cupy.cuda.is_available():
    pytest.skip("no CUDA device", allow_module_level=True)

from gpuinc.linear_model import SGDClassifier, SGDRegressor, to_namespace  # noqa: E402

# float32 on two BLAS libraries: sums are ordered differently, so results
# agree to float32 rounding grown over a few hundred updates, not bit for bit.
F32 = dict(rtol=2e-3, atol=2e-3)


def _classification(n_classes, dtype=np.float32, n_samples=4000, n_features=12, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(n_classes, n_features))
    y = rng.integers(0, n_classes, size=n_samples)
    X = centers[y] + rng.normal(size=(n_samples, n_features))
    return X.astype(dtype), y


def _regression(dtype=np.float32, n_samples=4000, n_features=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    y = X @ rng.normal(size=n_features) + 1.0 + 0.1 * rng.normal(size=n_samples)
    return X.astype(dtype), y.astype(dtype)


def _is_cupy(a):
    return isinstance(a, cupy.ndarray)


def _agreement(a, b):
    return float(np.mean(cupy.asnumpy(a) == np.asarray(b)))


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("loss", ["log_loss", "hinge", "modified_huber"])
def test_classifier_on_cupy_matches_numpy(loss, n_classes):
    X, y = _classification(n_classes)
    params = dict(loss=loss, random_state=0, max_iter=5, tol=None)
    cpu = SGDClassifier(**params).fit(X, y)
    gpu = SGDClassifier(**params).fit(cupy.asarray(X), cupy.asarray(y))
    for name in ("coef_", "intercept_", "classes_"):
        assert _is_cupy(getattr(gpu, name)), name
    assert gpu.coef_.dtype == cupy.float32
    assert_allclose(cupy.asnumpy(gpu.coef_), cpu.coef_, **F32)
    assert_allclose(cupy.asnumpy(gpu.intercept_), cpu.intercept_, **F32)
    X_gpu = cupy.asarray(X)
    pred = gpu.predict(X_gpu)
    assert _is_cupy(pred)
    assert _agreement(pred, cpu.predict(X)) > 0.995
    scores = gpu.decision_function(X_gpu)
    assert _is_cupy(scores) and scores.dtype == cupy.float32
    assert_allclose(cupy.asnumpy(scores), cpu.decision_function(X), **F32)
    if loss in ("log_loss", "modified_huber"):
        proba = gpu.predict_proba(X_gpu)
        assert _is_cupy(proba)
        assert_allclose(cupy.asnumpy(proba.sum(axis=1)), 1.0, rtol=1e-5)
        assert_allclose(cupy.asnumpy(proba), cpu.predict_proba(X), **F32)
    assert gpu.score(X_gpu, cupy.asarray(y)) == pytest.approx(cpu.score(X, y), abs=0.005)


def test_partial_fit_blocks_on_cupy_match_numpy():
    X, y = _classification(3, n_samples=6000)
    cpu = SGDClassifier(loss="log_loss", random_state=0)
    gpu = SGDClassifier(loss="log_loss", random_state=0)
    for _ in range(3):
        for rows in np.array_split(np.arange(X.shape[0]), 6):
            cpu.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
            # host y and classes are moved next to the CuPy X
            gpu.partial_fit(cupy.asarray(X[rows]), y[rows], classes=np.array([0, 1, 2]))
    assert _is_cupy(gpu.coef_)
    assert gpu.t_ == cpu.t_
    assert_allclose(cupy.asnumpy(gpu.coef_), cpu.coef_, **F32)
    assert _agreement(gpu.predict(cupy.asarray(X)), cpu.predict(X)) > 0.995


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["squared_error", "huber", "epsilon_insensitive"])
def test_regressor_on_cupy_matches_numpy(loss, dtype):
    X, y = _regression(dtype)
    params = dict(loss=loss, epsilon=0.5, random_state=0, max_iter=5, tol=None, average=True)
    cpu = SGDRegressor(**params).fit(X, y)
    gpu = SGDRegressor(**params).fit(cupy.asarray(X), cupy.asarray(y))
    tol = F32 if dtype == np.float32 else dict(rtol=1e-8, atol=1e-8)
    assert gpu.coef_.dtype == cupy.dtype(dtype)
    assert_allclose(cupy.asnumpy(gpu.coef_), cpu.coef_, **tol)
    pred = gpu.predict(cupy.asarray(X))
    assert _is_cupy(pred)
    assert_allclose(cupy.asnumpy(pred), cpu.predict(X), **tol)


def test_mixing_numpy_and_cupy_raises_and_to_namespace_moves():
    X, y = _classification(2)
    gpu = SGDClassifier(loss="log_loss", random_state=0, max_iter=3, tol=None)
    gpu.fit(cupy.asarray(X), cupy.asarray(y))
    with pytest.raises(ValueError, match="same namespace.*to_namespace"):
        gpu.predict(X)
    with pytest.raises(ValueError, match="same namespace"):
        gpu.partial_fit(X, y)
    cpu = to_namespace(gpu, "numpy")
    assert isinstance(cpu.coef_, np.ndarray) and _is_cupy(gpu.coef_)
    assert_allclose(cpu.predict_proba(X), cupy.asnumpy(gpu.predict_proba(cupy.asarray(X))), **F32)
    back = to_namespace(cpu, cupy)
    assert _is_cupy(back.coef_) and _is_cupy(back.classes_)
    back.partial_fit(cupy.asarray(X), cupy.asarray(y))


def test_cupyx_sparse_is_refused_clearly():
    cupyx_sparse = pytest.importorskip("cupyx.scipy.sparse")
    X, y = _classification(2)
    with pytest.raises(TypeError, match="cupyx.scipy.sparse"):
        SGDClassifier().fit(cupyx_sparse.csr_matrix(cupy.asarray(X)), y)


def test_same_random_state_same_model_on_gpu():
    X, y = _classification(3)
    fits = [
        SGDClassifier(random_state=5, max_iter=3, tol=None).fit(cupy.asarray(X), cupy.asarray(y))
        for _ in range(2)
    ]
    assert bool(cupy.all(fits[0].coef_ == fits[1].coef_))


@pytest.fixture
def kernel_launches(monkeypatch):
    """Count the launches of the fused CUDA pass."""
    from gpuinc.linear_model import _fused

    launches = []
    compiled = _fused.cupy_launcher

    def counting(dtype):
        launch = compiled(dtype)

        def run(*args):
            launches.append(np.dtype(dtype).name)
            launch(*args)

        return run

    monkeypatch.setattr(_fused, "cupy_launcher", counting)
    return launches


CLASSIFIER_LOSSES = ["hinge", "perceptron", "log_loss", "modified_huber", "squared_hinge"]
REGRESSOR_LOSSES = ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]


@pytest.mark.parametrize("loss", CLASSIFIER_LOSSES + REGRESSOR_LOSSES)
def test_fused_pass_matches_array_api_loop_and_numpy(loss, kernel_launches, monkeypatch):
    # float64, so that the three results may differ only by the order of sums
    if loss in REGRESSOR_LOSSES:
        X, y = _regression(dtype=np.float64)
        make = lambda: SGDRegressor(loss=loss, random_state=0, max_iter=3, tol=None,  # noqa: E731
                                    average=True)
    else:
        X, y = _classification(3, dtype=np.float64)
        make = lambda: SGDClassifier(loss=loss, random_state=0, max_iter=3, tol=None,  # noqa: E731
                                     average=True)
    weights = np.random.default_rng(1).uniform(0.5, 2.0, size=y.shape[0])
    fused = make().fit(cupy.asarray(X), cupy.asarray(y), sample_weight=cupy.asarray(weights))
    assert kernel_launches == ["float64"] * 3  # one launch per pass
    monkeypatch.setenv("GPUINC_FUSED_SGD", "0")
    loop = make().fit(cupy.asarray(X), cupy.asarray(y), sample_weight=cupy.asarray(weights))
    assert len(kernel_launches) == 3  # switched off
    cpu = make().fit(X, y, sample_weight=weights)
    scale = 1e-9 * max(1.0, float(np.abs(cpu.coef_).max()))
    for other in (loop, cpu):
        for name in ("coef_", "intercept_"):
            assert_allclose(cupy.asnumpy(getattr(fused, name)), cupy.asnumpy(getattr(other, name))
                            if _is_cupy(getattr(other, name)) else getattr(other, name),
                            rtol=0, atol=scale, err_msg=name)
    assert fused.t_ == cpu.t_


def test_fused_pass_float32_blocks_match_numpy(kernel_launches):
    X, y = _classification(2, dtype=np.float32, n_samples=20_000, n_features=40)
    gpu = SGDClassifier(random_state=0)
    cpu = SGDClassifier(random_state=0)
    for rows in np.array_split(np.arange(X.shape[0]), 4):
        gpu.partial_fit(cupy.asarray(X[rows]), cupy.asarray(y[rows]), classes=[0, 1])
        cpu.partial_fit(X[rows], y[rows], classes=[0, 1])
    assert kernel_launches == ["float32"] * 4
    assert_allclose(cupy.asnumpy(gpu.coef_), cpu.coef_, **F32)
    assert_allclose(cupy.asnumpy(gpu.intercept_), cpu.intercept_, **F32)


def test_l1_penalty_stays_on_the_array_api_loop(kernel_launches):
    X, y = _classification(2)
    gpu = SGDClassifier(penalty="elasticnet", random_state=0, max_iter=2, tol=None)
    gpu.fit(cupy.asarray(X), cupy.asarray(y))
    cpu = SGDClassifier(penalty="elasticnet", random_state=0, max_iter=2, tol=None).fit(X, y)
    assert kernel_launches == []
    assert_allclose(cupy.asnumpy(gpu.coef_), cpu.coef_, **F32)
