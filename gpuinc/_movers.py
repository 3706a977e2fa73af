"""Move one block between host and device.

Movers work on a single block at the block boundary, just before its
``partial_fit``; the whole collection is never moved at once.  GPU libraries
are imported inside the functions, and only when a block actually has to go
to (or come from) the device.
"""

from __future__ import annotations

from ._dispatch import DEVICE, HOST, KIND_HOME, block_kind
from ._optional import import_optional, is_cudf_object


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
    frames; columns keep their order).  Copies that overlap training go
    through :class:`gpuinc._gpu.DeviceMover` (pinned staging, a copy stream).
    """
    kind = block_kind(block)
    if KIND_HOME[kind] == DEVICE:
        return block
    cupy = import_optional("cupy", "gpu-cu12")

    if kind == "pandas":
        block = block.to_numpy()
        kind = "numpy"
    if kind == "scipy.sparse":
        import cupyx.scipy.sparse as cpsp

        return cpsp.csr_matrix(block.tocsr())
    return cupy.asarray(block)


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
