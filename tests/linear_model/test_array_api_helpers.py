"""gpuinc._array_api: resolving namespaces and moving arrays and models between them."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from gpuinc._array_api import (
    device,
    get_namespace,
    is_numpy_namespace,
    namespace_name,
    resolve_namespace,
    same_namespace,
    to_namespace,
    to_numpy,
)
from gpuinc.linear_model import SGDClassifier

xps = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize(
    "host",
    [np.ones((2, 2)), [[1.0, 2.0]], sp.csr_matrix(np.eye(2)), np.float32(1.0)],
    ids=["ndarray", "list", "sparse", "scalar"],
)
def test_host_containers_resolve_to_numpy(host):
    xp = get_namespace(host)
    assert is_numpy_namespace(xp) and namespace_name(xp) == "numpy"
    assert device(host) == "cpu"


def test_pandas_resolves_to_numpy():
    pd = pytest.importorskip("pandas")
    assert is_numpy_namespace(get_namespace(pd.DataFrame({"a": [1.0]}), pd.Series([1])))


def test_array_namespace_wins_over_host_containers_and_none():
    a = xps.asarray([1.0])
    assert get_namespace(None, np.ones(1), a) is xps
    assert device(a) == xps.Device("CPU_DEVICE")


def test_resolve_namespace_by_name_module_or_array():
    assert namespace_name(resolve_namespace("numpy")) == "numpy"
    assert namespace_name(resolve_namespace(np)) == "numpy"
    assert resolve_namespace("array_api_strict") is xps
    assert resolve_namespace(xps.asarray([1.0])) is xps
    assert same_namespace(resolve_namespace(np), np)
    with pytest.raises(ValueError, match="Unknown array namespace"):
        resolve_namespace("jax.numpy.fast")
    with pytest.raises(TypeError, match="not an array-API namespace"):
        resolve_namespace(pytest)


def test_arrays_move_both_ways():
    host = np.arange(6.0).reshape(2, 3)
    moved = to_namespace(host, xps)
    assert type(moved).__module__.startswith("array_api_strict")
    np.testing.assert_array_equal(to_numpy(moved), host)
    np.testing.assert_array_equal(to_namespace(moved, "numpy"), host)
    assert to_namespace(host, np) is host
    other = [d for d in xps.__array_namespace_info__().devices() if d != moved.device]
    if other:
        assert to_namespace(moved, xps, device=other[0]).device == other[0]
    with pytest.raises(TypeError, match="only numeric"):
        to_namespace(np.array(["a", "b"]), xps)


def test_moving_a_model_copies_it_without_shared_state():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = SGDClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    same_place = to_namespace(clf, "numpy")
    assert same_place.coef_ is not clf.coef_ and same_place._rng is not clf._rng
    same_place.partial_fit(X, y)
    clf.partial_fit(X, y)
    np.testing.assert_array_equal(same_place.coef_, clf.coef_)
