"""Block kinds, collection kinds and estimator homes, without computing or importing GPU code.

Device kinds are checked with small stand-in modules placed in ``sys.modules``
under the GPU libraries' names: dispatch recognises GPU objects only through
``sys.modules``, so this is exactly the path it takes for real CuPy and cuDF.
"""

from __future__ import annotations

import sys
import types

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.base import BaseEstimator
from sklearn.linear_model import SGDClassifier
from sklearn.naive_bayes import GaussianNB

from gpuinc import Incremental
from gpuinc._dispatch import (
    DEVICE,
    HOST,
    KIND_HOME,
    block_kind,
    collection_kind,
    estimator_home,
    is_host_kind,
)


# ------------------------------------------------------------- stand-in GPU libs
@pytest.fixture
def fake_gpu_modules(monkeypatch):
    """Stand-ins for cupy, cupyx.scipy.sparse and cudf, only for the test's duration."""
    cupy = types.ModuleType("cupy")

    class ndarray:  # noqa: N801 - the name CuPy uses
        pass

    cupy.ndarray = ndarray

    cpsp = types.ModuleType("cupyx.scipy.sparse")

    class csr_matrix:  # noqa: N801
        pass

    cpsp.csr_matrix = csr_matrix
    cpsp.issparse = lambda obj: isinstance(obj, csr_matrix)

    cudf = types.ModuleType("cudf")
    for name in ("DataFrame", "Series", "Index"):
        setattr(cudf, name, type(name, (), {}))

    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx.scipy.sparse", cpsp)
    monkeypatch.setitem(sys.modules, "cudf", cudf)
    return types.SimpleNamespace(cupy=cupy, cpsp=cpsp, cudf=cudf)


def _boom():
    raise AssertionError("a block was computed")


# ------------------------------------------------------------------ block_kind
@pytest.mark.parametrize("block, kind", [
    (np.ones((2, 2)), "numpy"),
    (np.ones(3, dtype=np.float32), "numpy"),
    (pd.DataFrame({"a": [1]}), "pandas"),
    (pd.Series([1.0]), "pandas"),
    (sp.csr_matrix((2, 2)), "scipy.sparse"),
    (sp.coo_matrix((2, 2)), "scipy.sparse"),
    (sp.csr_array((2, 2)), "scipy.sparse"),
])
def test_block_kind_of_host_blocks(block, kind):
    assert block_kind(block) == kind
    assert KIND_HOME[kind] == HOST
    assert is_host_kind(kind)


def test_block_kind_of_device_blocks(fake_gpu_modules):
    fake = fake_gpu_modules
    assert block_kind(fake.cupy.ndarray()) == "cupy"
    assert block_kind(fake.cpsp.csr_matrix()) == "cupyx.sparse"
    for name in ("DataFrame", "Series", "Index"):
        assert block_kind(getattr(fake.cudf, name)()) == "cudf"
    for kind in ("cupy", "cupyx.sparse", "cudf"):
        assert KIND_HOME[kind] == DEVICE
        assert not is_host_kind(kind)


def test_device_kinds_are_not_guessed_when_the_library_is_absent(monkeypatch):
    class ndarray:  # noqa: N801 - looks like CuPy's by name only
        __module__ = "cupy"

    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    with pytest.raises(TypeError):
        block_kind(ndarray())


@pytest.mark.parametrize("obj", [[1, 2], {"a": 1}, "text", 3.0])
def test_block_kind_rejects_other_types_and_says_what_to_do(obj):
    with pytest.raises(TypeError, match=r"Supported blocks are .*convert the data first"):
        block_kind(obj)


# ------------------------------------------------------------- collection_kind
def test_collection_kind_reads_the_meta_without_computing():
    x = da.from_delayed(dask.delayed(_boom)(), shape=(3, 2), dtype=float,
                        meta=np.empty((0, 0)))
    assert collection_kind(x) == "numpy"
    frame = dd.from_delayed([dask.delayed(_boom)()], meta=pd.DataFrame({"a": [1.0]}).iloc[:0],
                            verify_meta=False)
    assert collection_kind(frame) == "pandas"
    assert collection_kind(frame["a"]) == "pandas"


def test_collection_kind_of_sparse_chunks():
    x = da.from_array(np.eye(4), chunks=2).map_blocks(sp.csr_matrix,
                                                      meta=sp.csr_matrix((0, 0)))
    assert collection_kind(x) == "scipy.sparse"


def test_collection_kind_of_device_meta(fake_gpu_modules):
    coll = types.SimpleNamespace(_meta=fake_gpu_modules.cupy.ndarray())
    assert collection_kind(coll) == "cupy"
    coll = types.SimpleNamespace(_meta=fake_gpu_modules.cudf.DataFrame())
    assert collection_kind(coll) == "cudf"


def test_collection_kind_needs_a_meta():
    with pytest.raises(TypeError, match="no Dask meta"):
        collection_kind(np.ones(3))


# -------------------------------------------------------------- estimator_home
def _fake_cuml_class():
    def partial_fit(self, X, y=None, classes=None):
        return self

    return type("MultinomialNB", (), {"__module__": "cuml.naive_bayes",
                                      "partial_fit": partial_fit})


class _ArrayAPIEstimator(BaseEstimator):
    """Computes wherever its input lives, as gpuinc's own estimators do."""

    _gpuinc_array_api = True

    def partial_fit(self, X, y=None, **kwargs):
        self.seen_type_ = type(X)
        return self


@pytest.mark.parametrize("data_home", [HOST, DEVICE, None])
def test_scikit_learn_computes_on_the_host(data_home):
    assert estimator_home(SGDClassifier(), data_home) == HOST
    assert estimator_home(SGDClassifier(), data_home, device="gpu") == HOST


@pytest.mark.parametrize("data_home", [HOST, DEVICE, None])
@pytest.mark.parametrize("pin", [None, "cpu", "gpu"])
def test_cuml_computes_on_the_device(data_home, pin):
    est = _fake_cuml_class()()
    assert type(est).__module__ == "cuml.naive_bayes"
    assert estimator_home(est, data_home, device=pin) == DEVICE


@pytest.mark.parametrize("data_home, pin, home", [
    (HOST, None, HOST),
    (DEVICE, None, DEVICE),
    (None, None, HOST),
    (DEVICE, "cpu", HOST),
    (HOST, "gpu", DEVICE),
    (DEVICE, "gpu", DEVICE),
    (HOST, "cpu", HOST),
])
def test_array_api_estimators_follow_the_data_unless_pinned(data_home, pin, home):
    assert estimator_home(_ArrayAPIEstimator(), data_home, device=pin) == home


def test_gpuinc_linear_models_declare_that_they_follow_the_data():
    linear_model = pytest.importorskip("gpuinc.linear_model")
    for cls in (linear_model.SGDClassifier, linear_model.SGDRegressor):
        assert getattr(cls, "_gpuinc_array_api", False) is True
        assert estimator_home(cls(), DEVICE) == DEVICE
        assert estimator_home(cls(), HOST) == HOST
        assert estimator_home(cls(), HOST, device="gpu") == DEVICE


def test_scikit_learn_with_array_api_dispatch_follows_the_data(monkeypatch):
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    tags = getattr(GaussianNB(), "__sklearn_tags__", None)
    if tags is None or not tags().array_api_support:
        pytest.skip(f"scikit-learn {sklearn.__version__}'s GaussianNB has no array-API support")
    assert estimator_home(GaussianNB(), DEVICE) == HOST  # dispatch off: host
    with sklearn.config_context(array_api_dispatch=True):
        assert estimator_home(GaussianNB(), DEVICE) == DEVICE
        assert estimator_home(GaussianNB(), HOST) == HOST
        # no array-API support declared: still the host
        assert estimator_home(SGDClassifier(), DEVICE) == HOST


# --------------------------------------------------- the pin through Incremental
def test_incremental_records_homes_and_honours_a_cpu_pin():
    X = da.from_array(np.random.RandomState(0).standard_normal((40, 3)), chunks=10)
    inc = Incremental(_ArrayAPIEstimator(), device="cpu", progress=False).fit(X)
    assert inc.block_kind_ == "numpy"
    assert inc.estimator_home_ == HOST
    assert inc.estimator_.seen_type_ is np.ndarray


def test_incremental_gpu_pin_moves_blocks_to_the_device():
    from gpuinc._gpu import device_unavailable_reason

    if device_unavailable_reason() != "CuPy is not installed":
        pytest.skip("CuPy is installed here; tests/gpu covers the device path")
    X = da.from_array(np.ones((20, 3)), chunks=10)
    with pytest.raises(ImportError, match="cupy"):
        Incremental(_ArrayAPIEstimator(), device="gpu", progress=False).fit(X)
