"""Where a block lives and where an estimator computes.

Two homes matter for every ``partial_fit``: the *block home* (``"host"`` for
NumPy, scipy.sparse and pandas; ``"device"`` for CuPy, cupyx sparse and cuDF)
and the *estimator home* (scikit-learn computes on the host, cuML on the
device, gpuinc's array-API estimators wherever their data is).  Kinds are read
from Dask's ``_meta`` so nothing is computed, and GPU types are recognised
through ``sys.modules`` so nothing from the GPU stack is imported.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._optional import is_cudf_object, is_cupy_array, is_cupyx_sparse

HOST = "host"
DEVICE = "device"

#: kind name -> home
KIND_HOME = {
    "numpy": HOST,
    "scipy.sparse": HOST,
    "pandas": HOST,
    "cupy": DEVICE,
    "cupyx.sparse": DEVICE,
    "cudf": DEVICE,
}


def block_kind(obj) -> str:
    """Name the kind of one in-memory block (or a Dask ``_meta``).

    Returns one of ``"numpy"``, ``"scipy.sparse"``, ``"pandas"``, ``"cupy"``,
    ``"cupyx.sparse"``, ``"cudf"``; raises ``TypeError`` for anything else.
    """
    if isinstance(obj, np.ndarray):
        return "numpy"
    if isinstance(obj, (pd.DataFrame, pd.Series)):
        return "pandas"
    if sp.issparse(obj):
        return "scipy.sparse"
    if is_cupy_array(obj):
        return "cupy"
    if is_cupyx_sparse(obj):
        return "cupyx.sparse"
    if is_cudf_object(obj):
        return "cudf"
    raise TypeError(
        f"gpuinc cannot train on blocks of type {type(obj).__module__}.{type(obj).__qualname__}. "
        "Supported blocks are NumPy arrays, scipy.sparse matrices, pandas objects, CuPy arrays, "
        "cupyx sparse matrices and cuDF objects; convert the data first "
        "(e.g. np.asarray(x) or dask.array.from_array(x))."
    )


def collection_kind(collection) -> str:
    """Kind of the blocks of a Dask collection, read from its ``_meta``."""
    meta = getattr(collection, "_meta", None)
    if meta is None:
        raise TypeError(f"{type(collection).__name__} has no Dask meta to read a block kind from.")
    return block_kind(meta)


def is_host_kind(kind: str) -> bool:
    return KIND_HOME[kind] == HOST


def estimator_home(estimator, data_home: str | None = None, device: str | None = None) -> str:
    """Where ``estimator`` computes: ``"host"`` or ``"device"``.

    Parameters
    ----------
    estimator : object
        The (unfitted or fitted) estimator.
    data_home : {"host", "device"}, optional
        Home of the blocks it will see; array-API estimators follow their data.
    device : {"cpu", "gpu", None}, optional
        User pin for array-API estimators (``Incremental(device=...)``).
    """
    module = type(estimator).__module__.split(".")[0]
    if module == "cuml":
        return DEVICE
    if _follows_data(estimator):
        if device in ("cpu", "host"):
            return HOST
        if device in ("gpu", "cuda", "device"):
            return DEVICE
        return data_home or HOST
    if module == "sklearn" and _sklearn_array_api_enabled(estimator):
        return data_home or HOST
    return HOST


def compute_context(estimator, home: str):
    """The context to call ``estimator`` in, on ``home``.

    scikit-learn keeps ``array_api_dispatch`` per thread: an array-API
    scikit-learn estimator sent to the device needs it on in the thread that
    runs it (a Dask worker thread or process), not only where ``fit`` was called.
    """
    if home == DEVICE and type(estimator).__module__.split(".")[0] == "sklearn":
        import sklearn

        return sklearn.config_context(array_api_dispatch=True)
    return nullcontext()


def _follows_data(estimator) -> bool:
    """gpuinc's own array-API estimators compute wherever their input lives."""
    return bool(getattr(estimator, "_gpuinc_array_api", False))


def _sklearn_array_api_enabled(estimator) -> bool:
    try:
        import sklearn

        if not sklearn.get_config().get("array_api_dispatch", False):
            return False
        tags = estimator.__sklearn_tags__()
        return bool(getattr(tags, "array_api_support", False))
    except Exception:
        return False
