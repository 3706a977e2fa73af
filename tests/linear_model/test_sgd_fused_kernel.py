"""The fused CUDA pass of gpuinc's SGD, built for the CPU, against the array-API loop.

On a GPU, dense CuPy input trains through one CUDA kernel per pass
(``gpuinc.linear_model._fused``).  Its source has no GPU-only construct, so
here it is compiled with the C++ compiler (each CUDA thread a C++ thread,
``__syncthreads`` a barrier, an odd block size) and swapped in for NumPy
input: the models must match the NumPy path's to rounding.  The GPU run
(tests/gpu) checks the same kernel compiled by CuPy.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gpuinc.linear_model import SGDClassifier, SGDRegressor, _base, _fused

pytestmark = pytest.mark.skipif(
    shutil.which("c++") is None and shutil.which("g++") is None,
    reason="needs a C++20 compiler to build the kernel for the CPU",
)

# relative to the largest coefficient: float32 sums in another order drift by a few
# units in the last place per update
TOL = {np.float32: 1e-4, np.float64: 1e-10}


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("sgd_kernel"))
    return {dt: _fused.compile_for_host(dt, workdir) for dt in (np.float32, np.float64)}


@pytest.fixture
def fused_on_host(monkeypatch, host_kernels):
    """Route NumPy passes through the host build of the kernel; count the launches."""
    launches = []

    def launcher(dtype):
        launch = host_kernels[np.dtype(dtype).type]

        def counted(*args):
            launches.append(np.dtype(dtype).name)
            launch(*args)

        return counted

    def use_fused(self, xp, X, loss, is_sparse, l1_strength):
        return not is_sparse and not l1_strength and _fused.loss_code(loss) is not None

    monkeypatch.setattr(_fused, "cupy_launcher", launcher)
    monkeypatch.setattr(_base.BaseSGD, "_use_fused_kernel", use_fused)
    return launches


def _data(n_classes, dtype, n=700, d=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=1.5, size=(max(n_classes, 2), d))
    y = rng.integers(0, max(n_classes, 2), size=n)
    X = (centers[y] + rng.normal(size=(n, d))).astype(dtype)
    if n_classes == 0:  # regression
        y = (X @ rng.normal(size=d) + 0.5 + 0.1 * rng.normal(size=n)).astype(dtype)
    return X, y


def _fit_both(make, X, y, fused_on_host, monkeypatch, method="fit", **fit_kw):
    """(array-API model, fused model) after the same calls on the same data."""
    models = []
    for fused in (False, True):
        if not fused:
            with monkeypatch.context() as m:
                m.setattr(_base.BaseSGD, "_use_fused_kernel", lambda *a: False)
                est = make()
                _call(est, method, X, y, fit_kw)
        else:
            est = make()
            _call(est, method, X, y, fit_kw)
        models.append(est)
    assert fused_on_host, "the fused kernel was never launched"
    return models


def _call(est, method, X, y, fit_kw):
    if method == "fit":
        est.fit(X, y, **fit_kw)
    else:  # three partial_fit calls over row blocks
        for i, rows in enumerate(np.array_split(np.arange(X.shape[0]), 3)):
            kw = {
                k: (v[rows] if isinstance(v, np.ndarray) and v.shape == y.shape else v)
                for k, v in fit_kw.items()
            }
            if i and "classes" in kw:
                del kw["classes"]
            est.partial_fit(X[rows], y[rows], **kw)


def _assert_same(a, b, dtype):
    scale = TOL[dtype] * max(1.0, float(np.abs(a.coef_).max()), float(np.abs(a.intercept_).max()))
    assert_allclose(b.coef_, a.coef_, rtol=0, atol=scale)
    assert_allclose(b.intercept_, a.intercept_, rtol=0, atol=scale)
    assert a.t_ == b.t_
    assert a.coef_.dtype == b.coef_.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "loss", ["log_loss", "hinge", "perceptron", "modified_huber", "squared_hinge"]
)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_losses(loss, n_classes, dtype, fused_on_host, monkeypatch):
    X, y = _data(n_classes, dtype)
    a, b = _fit_both(
        lambda: SGDClassifier(loss=loss, random_state=0, max_iter=4, tol=None, batch_size=64),
        X,
        y,
        fused_on_host,
        monkeypatch,
    )
    _assert_same(a, b, dtype)
    assert np.mean(a.predict(X) == b.predict(X)) > 0.99


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "loss", ["squared_error", "huber", "epsilon_insensitive", "squared_epsilon_insensitive"]
)
def test_regressor_losses(loss, dtype, fused_on_host, monkeypatch):
    X, y = _data(0, dtype)
    a, b = _fit_both(
        lambda: SGDRegressor(loss=loss, random_state=0, max_iter=4, tol=None, batch_size=50),
        X,
        y,
        fused_on_host,
        monkeypatch,
    )
    _assert_same(a, b, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["huber", "epsilon_insensitive"])
def test_regressor_bounded_gradient_steps_reach_the_kernel(loss, dtype, fused_on_host,
                                                           monkeypatch):
    # the 'optimal' steps that bound how far an update moves a prediction (computed on
    # the host) are the kernel's too: the default fit reaches the data on both paths
    # (before, the step floor of about 10 gave R^2 -1559 / -19 on this data)
    from sklearn.datasets import load_iris

    data = load_iris().data.astype(dtype)
    X, y = np.ascontiguousarray(data[:, :3]), np.ascontiguousarray(data[:, 3])
    a, b = _fit_both(
        lambda: SGDRegressor(loss=loss, random_state=0, max_iter=20, tol=None),
        X, y, fused_on_host, monkeypatch,
    )  # fmt: skip
    _assert_same(a, b, dtype)
    assert a.score(X, y) > 0.88 and b.score(X, y) > 0.88


@pytest.mark.parametrize(
    "params",
    [
        dict(shuffle=False),
        dict(average=True),
        dict(average=300, fit_intercept=False),
        dict(penalty=None, learning_rate="invscaling", eta0=0.05),
        dict(class_weight={0: 2.0, 1: 0.5, 2: 1.0}),
        dict(early_stopping=True, n_iter_no_change=2, max_iter=6),
        dict(tol=1e-3, max_iter=20),  # the tracked training loss stops it
        dict(batch_size=1),
        dict(batch_size=5000),  # one batch larger than the data
    ],
    ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()),
)
def test_classifier_options(params, fused_on_host, monkeypatch):
    X, y = _data(3, np.float64, n=400)
    params = {"random_state": 1, "max_iter": 3, "tol": None, "batch_size": 32, **params}
    a, b = _fit_both(lambda: SGDClassifier(**params), X, y, fused_on_host, monkeypatch)
    _assert_same(a, b, np.float64)
    assert a.n_iter_ == b.n_iter_
    if params.get("average"):
        assert_allclose(b._standard_coef, a._standard_coef, rtol=1e-9, atol=1e-10)


def test_partial_fit_blocks_with_sample_weight(fused_on_host, monkeypatch):
    X, y = _data(2, np.float32, n=900)
    weights = np.random.default_rng(3).uniform(0.1, 3.0, size=y.shape[0])
    a, b = _fit_both(
        lambda: SGDClassifier(loss="log_loss", random_state=0, average=True),
        X,
        y,
        fused_on_host,
        monkeypatch,
        method="partial_fit",
        classes=np.array([0, 1]),
        sample_weight=weights,
    )
    _assert_same(a, b, np.float32)
    assert len(fused_on_host) == 3  # one launch per partial_fit call


def test_non_contiguous_input_is_copied(fused_on_host, monkeypatch):
    X, y = _data(2, np.float64)
    X_f = np.asfortranarray(X)
    a, b = _fit_both(
        lambda: SGDClassifier(random_state=0, max_iter=2, tol=None),
        X_f,
        y,
        fused_on_host,
        monkeypatch,
    )
    _assert_same(a, b, np.float64)


def test_nan_input_is_reported(fused_on_host):
    X, y = _data(2, np.float64)
    X[5, 2] = np.nan
    est = SGDClassifier(random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        est.partial_fit(X, y, classes=[0, 1])
    assert not hasattr(est, "coef_")  # nothing half-written


def test_l1_and_sparse_stay_on_the_array_api_loop():
    import scipy.sparse as sp

    est = SGDClassifier(penalty="l1")
    assert not est._use_fused_kernel(np, np.zeros((2, 2)), _fused.BinaryLogLoss(), False, 1e-4)
    assert not est._use_fused_kernel(np, sp.csr_matrix((2, 2)), _fused.BinaryLogLoss(), True, 0)
    # on NumPy the array-API loop runs (the kernel is for CuPy)
    assert not est._use_fused_kernel(np, np.zeros((2, 2)), _fused.BinaryLogLoss(), False, 0.0)


def test_environment_switch(monkeypatch):
    assert _fused.enabled()
    for off in ("0", "false", "OFF"):
        monkeypatch.setenv("GPUINC_FUSED_SGD", off)
        assert not _fused.enabled()


@pytest.mark.parametrize("dtype, d", [(np.float32, 8), (np.float64, 6), (np.float32, 7)])
def test_vector_loads_give_the_same_model(dtype, d, host_kernels, monkeypatch):
    # 16-byte loads when the rows allow them (float32: d % 4 == 0, float64: d % 2 == 0)
    flags_seen = []
    position = [name for _, name in _fused.PARAMS].index("flags")

    def launcher(dt):
        def run(*args):
            flags_seen.append(int(args[position]))
            host_kernels[np.dtype(dt).type](*args)

        return run

    X, y = _data(3, dtype, d=d)
    with monkeypatch.context() as m:
        m.setattr(_base.BaseSGD, "_use_fused_kernel", lambda *a: False)
        loop = SGDClassifier(random_state=0, max_iter=2, tol=None).fit(X, y)
    monkeypatch.setattr(_fused, "cupy_launcher", launcher)
    monkeypatch.setattr(_base.BaseSGD, "_use_fused_kernel", lambda *a: True)
    fused = SGDClassifier(random_state=0, max_iter=2, tol=None).fit(X, y)
    vector = d % (4 if dtype == np.float32 else 2) == 0
    assert flags_seen and all(bool(f & _fused.VECTOR_LOADS) == vector for f in flags_seen)
    _assert_same(loop, fused, dtype)


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="needs the CUDA compiler (nvcc)")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_source_compiles_for_the_gpu(dtype, tmp_path):
    # the CUDA compiler, not a C++ one: what the GPU will run must build, and in
    # float32 fit 1024 threads (at most 64 registers each) without spilling
    import re
    import subprocess

    src = tmp_path / "sgd_epoch.cu"
    src.write_text(_fused.SOURCE)
    done = subprocess.run(
        ["nvcc", "-arch=sm_90", "-cubin", "-Xptxas", "-v", *_fused._defines(dtype), str(src),
         "-o", str(tmp_path / "sgd_epoch.cubin")],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr
    registers = int(re.search(r"Used (\d+) registers", done.stderr).group(1))
    assert registers <= 64
    if dtype == "float32":
        assert "0 bytes spill stores" in done.stderr
