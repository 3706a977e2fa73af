"""GPU helpers behind the movers: a prefetching host->device copier and cuDF conversions.

Nothing here imports CuPy or cuDF at module import time; every GPU import
sits inside the function that needs it, so ``import gpuinc._gpu`` is as cheap
on a machine without a GPU as anywhere else.

The :class:`DeviceMover` is what makes "block *k+1* is on its way while block
*k* trains" true for host blocks trained on the device:

* a **copy stream** (non-blocking, so it never waits for the compute stream
  by accident) carries every host->device copy;
* a small **ring of pinned staging buffers** (``cupyx.empty_pinned``) is
  allocated once and reused: a block is cut into row chunks, each chunk is
  copied into a free slot by a few host threads, then sent with
  ``cudaMemcpyAsync``; while the copy engine sends one slot, the threads fill
  the next;
* the consumer makes its own stream **wait on an event** instead of
  synchronising the host, so the handover costs nothing on the CPU side;
* device memory stays bounded and safe to reuse: outputs are allocated from
  the copy stream's arena of CuPy's memory pool, and every copy first waits
  for the consumer's last :meth:`DeviceMover.block_done` event, so memory of a
  block that a kernel may still read is never overwritten.

Examples
--------
On a machine with a GPU (skipped elsewhere)::

    >>> import numpy as np
    >>> from gpuinc._gpu import DeviceMover
    >>> mover = DeviceMover()                                  # doctest: +SKIP
    >>> pending = mover.submit((np.ones((4, 3)), np.arange(4)))  # doctest: +SKIP
    >>> X, y = mover.ready(pending)                            # doctest: +SKIP
    >>> type(X).__module__.split(".")[0]                       # doctest: +SKIP
    'cupy'
"""

from __future__ import annotations

import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._movers import pandas_to_numpy, sparse_to_device
from ._optional import gpu_available, has_module, is_cudf_object

__all__ = [
    "DeviceMover",
    "PendingBlock",
    "cudf_to_cupy",
    "cudf_to_host",
    "describe_devices",
    "device_unavailable_reason",
]

#: copies smaller than this are staged by one thread
_PARALLEL_COPY_MIN_BYTES = 8 << 20


# ---------------------------------------------------------------- availability
def device_unavailable_reason() -> str | None:
    """Why CuPy cannot compute here, or None when it can.

    Imports CuPy only when it is installed.

    Returns
    -------
    str or None
        ``"CuPy is not installed"``, ``"CuPy sees no CUDA device"``, or None.

    Examples
    --------
    >>> from gpuinc._gpu import device_unavailable_reason
    >>> device_unavailable_reason() in (None, "CuPy is not installed", "CuPy sees no CUDA device")
    True
    """
    if not has_module("cupy"):
        return "CuPy is not installed"
    if not gpu_available():
        return "CuPy sees no CUDA device"
    return None


def describe_devices() -> list[dict]:
    """Name, memory and compute capability of every CUDA device CuPy sees.

    Returns an empty list when CuPy is missing or sees no device.

    Examples
    --------
    >>> from gpuinc._gpu import describe_devices
    >>> isinstance(describe_devices(), list)
    True
    """
    if device_unavailable_reason() is not None:
        return []
    import cupy

    out = []
    for i in range(cupy.cuda.runtime.getDeviceCount()):
        props = cupy.cuda.runtime.getDeviceProperties(i)
        name = props["name"]
        out.append({
            "index": i,
            "name": name.decode() if isinstance(name, bytes) else str(name),
            "memory_bytes": int(props["totalGlobalMem"]),
            "compute_capability": f"{props['major']}.{props['minor']}",
        })
    return out


# ------------------------------------------------------------------------ cuDF
def cudf_to_cupy(obj):
    """A cuDF DataFrame or Series as a CuPy array, on the device, without a host trip.

    Parameters
    ----------
    obj : cudf.DataFrame, cudf.Series or cudf.Index
        Numeric data; a DataFrame becomes a 2-D array (columns in order,
        dtypes promoted to a common one), a Series a 1-D array.

    Returns
    -------
    cupy.ndarray

    Raises
    ------
    TypeError
        For anything that is not a cuDF object, or for non-numeric columns.
    """
    if not is_cudf_object(obj):
        raise TypeError(
            f"cudf_to_cupy expects a cuDF DataFrame, Series or Index, got "
            f"{type(obj).__module__}.{type(obj).__qualname__}."
        )
    try:
        return obj.to_cupy()
    except (TypeError, ValueError, NotImplementedError) as exc:
        raise TypeError(
            "Cannot turn this cuDF object into a CuPy array; select numeric columns first, "
            "e.g. df.select_dtypes('number') or df.astype('float32')."
        ) from exc


def cudf_to_host(obj):
    """A cuDF object as the matching pandas object (one device->host copy)."""
    if not is_cudf_object(obj):
        raise TypeError(
            f"cudf_to_host expects a cuDF object, got {type(obj).__module__}."
            f"{type(obj).__qualname__}."
        )
    return obj.to_pandas()


# ---------------------------------------------------------------------- mover
@dataclass
class PendingBlock:
    """A block whose copies to the device have been issued, not necessarily finished.

    Hand it to :meth:`DeviceMover.ready` in the thread that will use it.
    """

    value: Any
    event: Any = None
    sparse_paths: tuple = ()


class DeviceMover:
    """Copy host blocks to the current CUDA device asynchronously, through pinned buffers.

    Call :meth:`submit` where blocks are loaded (a loader thread), :meth:`ready`
    where they are used (the training thread), and :meth:`block_done` after
    each use. Device blocks (CuPy, cupyx sparse, cuDF) and ``None`` pass
    through untouched; tuples, lists and dicts are walked.

    Parameters
    ----------
    chunk_bytes : int, default=32 MiB
        Size of one pinned staging slot; blocks are sent in row chunks of at
        most this size.
    slots : int, default=4
        Number of staging slots (pinned memory used: ``chunk_bytes * slots``).
    copy_threads : int, optional
        Host threads that fill a slot (NumPy releases the GIL while copying).
        Default: the number of cores, at most 8.

    Notes
    -----
    scipy.sparse blocks are converted to cupyx CSR in :meth:`ready`, on the
    consumer's stream (no overlap); pandas blocks go through
    ``DataFrame.to_numpy()`` and must be numeric. Estimators that compute on
    streams of their own must finish their work before ``partial_fit``
    returns, since :meth:`block_done` marks the end of a block on the
    consumer's current CuPy stream.
    """

    def __init__(self, chunk_bytes: int = 32 << 20, slots: int = 4,
                 copy_threads: int | None = None, *, _ops=None):
        if int(chunk_bytes) < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}.")
        if int(slots) < 1:
            raise ValueError(f"slots must be >= 1, got {slots}.")
        self.chunk_bytes = int(chunk_bytes)
        self.slots = int(slots)
        self.copy_threads = int(copy_threads or max(1, min(8, os.cpu_count() or 1)))
        self._ops = _ops if _ops is not None else _CupyOps()
        self._lock = threading.Lock()  # one submit at a time (the ring is shared)
        self._done_lock = threading.Lock()  # never held while staging
        self._stream = None
        self._ring: list = []  # [pinned uint8 buffer, event of its last copy or None]
        self._next_slot = 0
        self._consumer_done = None
        self._keepalive: deque = deque()  # (event, host object) until its copy has finished
        self._pool: ThreadPoolExecutor | None = None
        self.bytes_copied = 0
        self.chunks_copied = 0

    # -- public -----------------------------------------------------------
    def submit(self, obj) -> PendingBlock:
        """Start copying the host arrays in ``obj`` to the device; return at once.

        Returns after the last chunk was staged and queued, before the device
        has received it; the result is usable after :meth:`ready`.
        """
        with self._lock, self._ops.on_device():
            self._setup()
            plans: list = []
            sparse_paths: list = []
            value = _map_tree(obj, (), lambda leaf, path: self._plan(leaf, path, plans,
                                                                     sparse_paths))
            event = None
            if plans:
                # Outputs are allocated before this read, so memory freed by the consumer
                # for them was released before its block_done event: waiting for that
                # event means no copy lands on memory a kernel may still read.
                with self._done_lock:
                    consumer_done = self._consumer_done
                if consumer_done is not None:
                    self._ops.wait_event(self._stream, consumer_done)
                for src, out in plans:
                    self._copy(src, out)
                event = self._ops.record(self._stream)
                self._keepalive.append((event, [src for src, _ in plans]))
            self._forget_finished()
            return PendingBlock(value, event, tuple(sparse_paths))

    def ready(self, pending: PendingBlock):
        """The device block, ordered after its copies on the caller's current stream.

        Does not block the host: the caller's stream waits for the copies.
        """
        if not isinstance(pending, PendingBlock):
            raise TypeError(
                f"ready() takes what submit() returned, got {type(pending).__name__}."
            )
        with self._ops.on_device():
            if pending.event is not None:
                self._ops.wait_event(self._ops.current_stream(), pending.event)
            value = pending.value
            for path in pending.sparse_paths:
                value = _replace_at(value, path, self._ops.sparse_to_device)
            return value

    def block_done(self) -> None:
        """Mark the end of the consumer's work on the blocks it has so far.

        Later copies wait for this point on the device before writing, so the
        memory of blocks freed by then can be reused safely.
        """
        with self._ops.on_device():
            event = self._ops.record(self._ops.current_stream())
        with self._done_lock:
            self._consumer_done = event

    def to_device(self, obj):
        """Synchronous convenience: ``ready(submit(obj))``."""
        return self.ready(self.submit(obj))

    def close(self) -> None:
        """Wait for copies in flight and release the copy threads and staging buffers."""
        with self._lock:
            for event, _ in self._keepalive:
                event.synchronize()
            self._keepalive.clear()
            for slot in self._ring:
                if slot[1] is not None:
                    slot[1].synchronize()
            self._ring = []
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals --------------------------------------------------------
    def _setup(self) -> None:
        if self._stream is None:
            self._stream = self._ops.new_stream()
        if not self._ring:
            self._ring = [[self._ops.empty_pinned(self.chunk_bytes), None]
                          for _ in range(self.slots)]
            self._next_slot = 0

    def _plan(self, leaf, path, plans, sparse_paths):
        """Allocate the device output of one leaf (copies are issued later)."""
        if leaf is None or self._ops.is_device(leaf):
            return leaf
        if sp.issparse(leaf):
            sparse_paths.append(path)
            return leaf
        if isinstance(leaf, (pd.DataFrame, pd.Series, pd.Index)):
            leaf = pandas_to_numpy(leaf)  # numeric columns: their common dtype
        elif isinstance(leaf, np.generic):
            leaf = np.asarray(leaf)
        if not isinstance(leaf, np.ndarray):
            raise TypeError(
                f"DeviceMover cannot copy a {type(leaf).__module__}.{type(leaf).__qualname__} "
                "to the device; pass NumPy arrays, pandas objects or scipy.sparse matrices."
            )
        if leaf.dtype.kind not in "biufc":
            raise TypeError(
                f"Cannot copy an array of dtype {leaf.dtype} to the device: only numeric and "
                "boolean data live there. Encode or select numeric columns first "
                "(e.g. df.select_dtypes('number') or X.astype('float32'))."
            )
        with self._ops.on_stream(self._stream):
            out = self._ops.empty(leaf.shape, leaf.dtype.newbyteorder("="))
        plans.append((leaf, out))
        return out

    def _copy(self, src: np.ndarray, out) -> None:
        """Send ``src`` into ``out`` on the copy stream, chunk by chunk."""
        nbytes = src.size * src.dtype.itemsize
        if nbytes == 0:
            return
        if src.flags.c_contiguous and src.dtype.isnative and self._ops.is_pinned(src):
            self._ops.copy_async(out, 0, src, nbytes, self._stream)
            self._count(nbytes)
            return
        rows_src = src.reshape(1) if src.ndim == 0 else src
        n_rows = rows_src.shape[0]
        row_bytes = max(1, nbytes // n_rows)
        if row_bytes > self.chunk_bytes:
            # a single row is larger than a slot: one staging buffer of its own
            staging = np.ascontiguousarray(rows_src, dtype=out.dtype)
            self._ops.copy_async(out, 0, staging, nbytes, self._stream)
            self._keepalive.append((self._ops.record(self._stream), staging))
            self._count(nbytes)
            return
        rows_per_chunk = max(1, self.chunk_bytes // row_bytes)
        for start in range(0, n_rows, rows_per_chunk):
            stop = min(n_rows, start + rows_per_chunk)
            slot = self._ring[self._next_slot]
            self._next_slot = (self._next_slot + 1) % len(self._ring)
            if slot[1] is not None:
                slot[1].synchronize()  # that slot's previous copy has left it
            size = (stop - start) * row_bytes
            staged = slot[0][:size].view(out.dtype).reshape((stop - start,) + rows_src.shape[1:])
            self._fill(staged, rows_src[start:stop])
            self._ops.copy_async(out, start * row_bytes, staged, size, self._stream)
            slot[1] = self._ops.record(self._stream)
            self._count(size)

    def _fill(self, dst: np.ndarray, src: np.ndarray) -> None:
        """``dst[...] = src`` using a few threads for large copies."""
        nbytes = dst.nbytes
        parts = min(self.copy_threads, dst.shape[0] if dst.ndim else 1)
        if parts <= 1 or nbytes < _PARALLEL_COPY_MIN_BYTES:
            np.copyto(dst, src, casting="unsafe")
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.copy_threads, thread_name_prefix="gpuinc-stage")
        bounds = np.linspace(0, dst.shape[0], parts + 1).astype(int)
        futures = [self._pool.submit(np.copyto, dst[a:b], src[a:b], casting="unsafe")
                   for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        for f in futures:
            f.result()

    def _count(self, nbytes: int) -> None:
        self.bytes_copied += int(nbytes)
        self.chunks_copied += 1

    def _forget_finished(self) -> None:
        while self._keepalive and self._keepalive[0][0].done:
            self._keepalive.popleft()


# ------------------------------------------------------------- tree helpers
def _map_tree(obj, path, fn):
    if isinstance(obj, dict):
        return {k: _map_tree(v, path + (k,), fn) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_tree(v, path + (i,), fn) for i, v in enumerate(obj))
    return fn(obj, path)


def _replace_at(obj, path, fn):
    if not path:
        return fn(obj)
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        out = dict(obj)
        out[head] = _replace_at(obj[head], rest, fn)
        return out
    items = list(obj)
    items[head] = _replace_at(items[head], rest, fn)
    return type(obj)(items)


# ------------------------------------------------------------ CuPy operations
class _CupyOps:
    """The handful of CUDA operations the mover needs, done with CuPy.

    Kept apart so the mover's bookkeeping (chunking, slot reuse, ordering)
    can be exercised without a GPU by passing stand-in operations (the tests
    do this with host memory).
    """

    def __init__(self):
        from ._optional import import_optional

        self.cupy = import_optional("cupy", "gpu-cu12")
        self.device_id = self.cupy.cuda.Device().id

    def on_device(self):
        return self.cupy.cuda.Device(self.device_id)

    def on_stream(self, stream):
        return stream

    def new_stream(self):
        # non_blocking: no implicit ordering with the legacy default stream,
        # which is what lets a copy overlap kernels launched there
        return self.cupy.cuda.Stream(non_blocking=True)

    def current_stream(self):
        return self.cupy.cuda.get_current_stream()

    def empty(self, shape, dtype):
        return self.cupy.empty(shape, dtype=dtype)

    def empty_pinned(self, nbytes: int):
        import cupyx

        return cupyx.empty_pinned((int(nbytes),), dtype=np.uint8)

    def is_device(self, obj) -> bool:
        from ._dispatch import DEVICE, KIND_HOME, block_kind

        try:
            return KIND_HOME[block_kind(obj)] == DEVICE
        except TypeError:
            return False

    def is_pinned(self, arr: np.ndarray) -> bool:
        runtime = self.cupy.cuda.runtime
        try:
            attrs = runtime.pointerGetAttributes(arr.ctypes.data)
        except Exception:
            return False
        return getattr(attrs, "type", 0) == 1  # cudaMemoryTypeHost: page-locked

    def copy_async(self, out, offset: int, src: np.ndarray, nbytes: int, stream) -> None:
        runtime = self.cupy.cuda.runtime
        runtime.memcpyAsync(out.data.ptr + int(offset), src.ctypes.data, int(nbytes),
                            runtime.memcpyHostToDevice, stream.ptr)

    def record(self, stream):
        return stream.record()

    def wait_event(self, stream, event) -> None:
        stream.wait_event(event)

    def sparse_to_device(self, matrix):
        return sparse_to_device(matrix)
