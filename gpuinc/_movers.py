"""Move one block between host and device.

Movers work on a single block at the block boundary, just before its
``partial_fit``; the whole collection is never moved at once.  GPU libraries
are imported inside the functions, and only when a block actually has to go
to (or come from) the device.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._dispatch import DEVICE, HOST, KIND_HOME, block_kind
from ._optional import import_optional, is_cudf_object


def pandas_to_numpy(obj) -> np.ndarray:
    """A pandas DataFrame, Series or Index as one NumPy array, for a trip to the device.

    When every column is numeric or boolean the array has their common NumPy
    dtype (``np.result_type``), so a frame that mixes bool and float columns,
    or holds nullable ``Int64`` / ``boolean`` / ``Float64`` columns, gives a
    numeric array rather than pandas' object one; a nullable integer or boolean
    column that holds missing values counts as float64, its missing values as
    NaN.  Frames with other columns (text, categories, dates) come out as
    ``to_numpy()`` gives them, for the caller to refuse.

    Examples
    --------
    >>> import pandas as pd
    >>> from gpuinc._movers import pandas_to_numpy
    >>> pandas_to_numpy(pd.DataFrame({"a": [True, False], "b": [0.5, 1.5]})).dtype
    dtype('float64')
    >>> pandas_to_numpy(pd.Series([1, None], dtype="Int64"))
    array([ 1., nan])
    """
    columns = ([obj.iloc[:, i] for i in range(obj.shape[1])] if isinstance(obj, pd.DataFrame)
               else [obj])
    if not columns or not all(pd.api.types.is_numeric_dtype(c.dtype)
                              or pd.api.types.is_bool_dtype(c.dtype) for c in columns):
        return obj.to_numpy()
    dtypes, missing = [], False
    for col in columns:
        dtype = col.dtype
        if isinstance(dtype, np.dtype):
            dtypes.append(dtype)
            continue
        base = np.dtype(getattr(dtype, "numpy_dtype", np.float64))  # nullable / Arrow dtypes
        if col.hasnans:
            missing = True
            if base.kind not in "fc":
                base = np.dtype(np.float64)
        dtypes.append(base)
    dtype = np.result_type(*dtypes)
    if missing:
        return obj.to_numpy(dtype=dtype, na_value=np.nan)
    return obj.to_numpy(dtype=dtype)


def to_host(block):
    """Return ``block`` as a host object (NumPy, scipy.sparse or pandas)."""
    kind = block_kind(block)
    if KIND_HOME[kind] == HOST:
        return block
    if kind == "cupy":
        return block.get()
    if kind == "cupyx.sparse":
        return block.get()
    if kind == "cudf":
        return block.to_pandas()
    raise TypeError(f"no host mover for {kind} blocks")  # pragma: no cover


def to_device(block):
    """Return ``block`` on the current CUDA device (a synchronous copy).

    NumPy -> CuPy, scipy.sparse -> cupyx sparse, pandas -> CuPy (numeric
    frames, in their columns' common dtype, see :func:`pandas_to_numpy`;
    columns keep their order).  Copies that overlap training go
    through :class:`gpuinc._gpu.DeviceMover` (pinned staging, a copy stream).
    """
    kind = block_kind(block)
    if KIND_HOME[kind] == DEVICE:
        return block
    cupy = import_optional("cupy", "gpu-cu12")

    if kind == "pandas":
        block = pandas_to_numpy(block)
        kind = "numpy"
    if kind == "scipy.sparse":
        return sparse_to_device(block)
    return cupy.asarray(block)


def sparse_to_device(matrix):
    """A scipy.sparse matrix as a cupyx CSR matrix on the device.

    cupyx holds bool, float32/64 and complex64/128 values only (other dtypes raise):
    integer values (a vectorizer's counts) and long doubles become float64, or float32
    for integers of at most two bytes, which float32 holds exactly.
    """
    import cupyx.scipy.sparse as cpsp

    csr = matrix.tocsr()
    if csr.dtype.char not in "?fdFD":
        csr = csr.astype(np.float32 if csr.dtype.itemsize <= 2 else np.float64)
    return cpsp.csr_matrix(csr)


def move(block, home: str):
    """Move ``block`` to ``home`` (``"host"`` or ``"device"``) if it is not there."""
    if home == HOST:
        return to_host(block)
    if home == DEVICE:
        return to_device(block)
    raise ValueError(f"home must be 'host' or 'device', got {home!r}")


def as_estimator_input(value, estimator, home: str):
    """``value`` in the form ``estimator`` takes on ``home``.

    scikit-learn's array-API mode on the device takes CuPy arrays, not cuDF
    frames (it would try to turn them into NumPy): a cuDF DataFrame or
    Series becomes a CuPy array there, on the device.  cuML and gpuinc's own
    estimators take cuDF as it is; everything else passes through.
    """
    if home != DEVICE or not is_cudf_object(value):
        return value
    if type(estimator).__module__.split(".")[0] != "sklearn":
        return value
    from ._gpu import cudf_to_cupy

    return cudf_to_cupy(value)
