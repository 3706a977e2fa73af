"""Block movers: host paths everywhere, device paths where CuPy sees a GPU.

``DeviceMover``'s bookkeeping (row chunks, staging-slot reuse, ordering
events, trees of blocks) is exercised here on host memory through stand-in
operations; the same class runs on CuPy in the ``gpu`` tests below.
"""

from __future__ import annotations

from contextlib import nullcontext

import dask.array as da
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from gpuinc import Incremental
from gpuinc._dispatch import DEVICE, HOST
from gpuinc._gpu import DeviceMover, PendingBlock, device_unavailable_reason
from gpuinc._movers import move, to_device, to_host

GPU_REASON = device_unavailable_reason()
needs_gpu = [pytest.mark.gpu, pytest.mark.skipif(GPU_REASON is not None,
                                                 reason=f"needs a GPU: {GPU_REASON}")]


# ------------------------------------------------------------------ host paths
@pytest.mark.parametrize("block", [
    np.arange(6.0).reshape(3, 2),
    pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}),
    pd.Series([1, 2, 3]),
    sp.csr_matrix(np.eye(3)),
])
def test_host_blocks_stay_as_they_are(block):
    assert to_host(block) is block
    assert move(block, HOST) is block


def test_move_rejects_unknown_home():
    with pytest.raises(ValueError, match="home must be 'host' or 'device'"):
        move(np.ones(2), "tpu")


def test_to_host_rejects_unknown_block_types():
    with pytest.raises(TypeError, match="cannot train on blocks of type"):
        to_host([1, 2, 3])


# ------------------------------------------ DeviceMover on host stand-ins
class _Event:
    def __init__(self):
        self.done = True
        self.synchronized = 0

    def synchronize(self):
        self.synchronized += 1


class _DeviceArray:
    """Stands for a device array: host memory the mover can only reach via copy_async."""

    def __init__(self, data):
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype


class _HostOps:
    """The operations DeviceMover asks of CuPy, done on host memory, with a log."""

    def __init__(self, pinned=False):
        self.copies = []
        self.log = []
        self.pinned = pinned
        self.stream = object()
        self.events = []

    def on_device(self):
        return nullcontext()

    def on_stream(self, stream):
        assert stream is self.stream
        return nullcontext()

    def new_stream(self):
        return self.stream

    def current_stream(self):
        return "consumer"

    def empty(self, shape, dtype):
        self.log.append("alloc")
        return _DeviceArray(np.full(shape, 99, dtype=dtype))

    def empty_pinned(self, nbytes):
        return np.zeros(nbytes, dtype=np.uint8)

    def is_device(self, obj):
        return isinstance(obj, _DeviceArray)

    def is_pinned(self, arr):
        return self.pinned

    def copy_async(self, out, offset, src, nbytes, stream):
        assert stream is self.stream
        assert src.flags.c_contiguous
        dst = out.data.reshape(-1).view(np.uint8)
        dst[offset:offset + nbytes] = src.reshape(-1).view(np.uint8)[:nbytes]
        self.copies.append((offset, nbytes))
        self.log.append("copy")

    def record(self, stream):
        self.log.append(("record", "copy" if stream is self.stream else stream))
        event = _Event()
        self.events.append(event)
        return event

    def wait_event(self, stream, event):
        self.log.append(("wait", "copy" if stream is self.stream else stream))

    def sparse_to_device(self, matrix):
        return _DeviceArray(matrix.toarray())


def _mover(**kw):
    ops = _HostOps(pinned=kw.pop("pinned", False))
    return DeviceMover(_ops=ops, **kw), ops


@pytest.mark.parametrize("array", [
    np.arange(1000, dtype=np.float32).reshape(100, 10),
    np.asfortranarray(np.arange(1000, dtype=np.float64).reshape(100, 10)),
    np.arange(2000, dtype=np.float32).reshape(100, 20)[:, ::2],        # strided view
    np.arange(97, dtype=np.int64),                                     # 1-D, odd length
    np.arange(60, dtype=">f4").reshape(20, 3),                         # big-endian
    np.array([True, False, True]),
    np.array(3.5, dtype=np.float32),                                   # 0-d
    np.empty((0, 7), dtype=np.float32),
])
def test_mover_copies_exact_values_in_chunks(array):
    mover, ops = _mover(chunk_bytes=128, slots=2, copy_threads=2)
    out = mover.to_device(array)
    assert isinstance(out, _DeviceArray)
    assert out.shape == array.shape
    assert out.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out.data, array)
    if array.nbytes:
        assert sum(n for _, n in ops.copies) == array.nbytes
        assert max(n for _, n in ops.copies) <= 128
        offsets = [o for o, _ in ops.copies]
        assert offsets == sorted(offsets) and offsets[0] == 0


def test_mover_reuses_its_staging_slots_after_their_copy():
    mover, ops = _mover(chunk_bytes=80, slots=2)
    x = np.arange(400, dtype=np.float64).reshape(50, 8)  # 64 bytes a row: one row per chunk
    out = mover.to_device(x)
    np.testing.assert_array_equal(out.data, x)
    assert mover.chunks_copied == 50
    assert len(mover._ring) == 2
    # 50 chunks through 2 slots: before each reuse the slot's previous copy was waited
    # for, so every chunk's event but the last two was synchronised exactly once
    chunk_events = ops.events[:50]
    assert [e.synchronized for e in chunk_events] == [1] * 48 + [0, 0]


def test_mover_row_larger_than_a_slot_still_arrives():
    mover, ops = _mover(chunk_bytes=16, slots=1)
    x = np.arange(30, dtype=np.float64).reshape(3, 10)  # 80-byte rows
    np.testing.assert_array_equal(mover.to_device(x).data, x)


def test_mover_pinned_source_goes_in_one_copy():
    mover, ops = _mover(chunk_bytes=16, slots=1, pinned=True)
    x = np.arange(100, dtype=np.float32)
    np.testing.assert_array_equal(mover.to_device(x).data, x)
    assert ops.copies == [(0, x.nbytes)]


def test_mover_large_copy_uses_several_threads():
    mover, ops = _mover(chunk_bytes=16 << 20, slots=2, copy_threads=4)
    x = np.random.RandomState(0).standard_normal((300_000, 10)).astype(np.float32)  # 12 MB
    np.testing.assert_array_equal(mover.to_device(x).data, x)
    assert mover._pool is not None
    mover.close()
    assert mover._pool is None and mover._ring == []


def test_mover_walks_trees_and_leaves_device_blocks_and_none():
    mover, ops = _mover(chunk_bytes=64)
    already = _DeviceArray(np.ones(3))
    X = pd.DataFrame({"a": np.arange(5.0), "b": np.arange(5.0) * 2})
    tree = (X, np.arange(5), {"sample_weight": np.ones(5), "other": None, "dev": already})
    pending = mover.submit(tree)
    assert isinstance(pending, PendingBlock)
    x, y, kw = mover.ready(pending)
    np.testing.assert_array_equal(x.data, X.to_numpy())
    np.testing.assert_array_equal(y.data, np.arange(5))
    np.testing.assert_array_equal(kw["sample_weight"].data, np.ones(5))
    assert kw["other"] is None and kw["dev"] is already


def test_mover_converts_sparse_blocks_on_the_consumer_side():
    mover, ops = _mover()
    m = sp.random(6, 4, density=0.5, format="csr", random_state=0)
    pending = mover.submit((m, np.arange(6)))
    assert sp.issparse(pending.value[0])  # not converted in the loader
    x, y = mover.ready(pending)
    np.testing.assert_array_equal(x.data, m.toarray())


def test_mover_orders_copies_after_the_consumers_last_block():
    mover, ops = _mover(chunk_bytes=1 << 10)
    x = np.ones((10, 4))
    mover.to_device(x)
    assert ("wait", "copy") not in ops.log  # nothing consumed yet: no wait
    mover.block_done()
    ops.log.clear()
    pending = mover.submit(x)
    # outputs are allocated first, then the copy stream waits for the consumer, then copies
    assert ops.log.index("alloc") < ops.log.index(("wait", "copy")) < ops.log.index("copy")
    assert ops.log[-1] == ("record", "copy")
    ops.log.clear()
    mover.ready(pending)
    assert ops.log == [("wait", "consumer")]


@pytest.mark.parametrize("bad, match", [
    (np.array(["a", "b"], dtype=object), "only numeric and boolean"),
    (pd.DataFrame({"a": ["x", "y"]}), "only numeric and boolean"),
    ([1.0, 2.0], "pass NumPy arrays"),
])
def test_mover_rejects_what_cannot_live_on_a_device(bad, match):
    mover, _ = _mover()
    with pytest.raises(TypeError, match=match):
        mover.submit(bad)


def test_mover_checks_its_arguments():
    with pytest.raises(ValueError, match="chunk_bytes"):
        DeviceMover(chunk_bytes=0, _ops=_HostOps())
    with pytest.raises(ValueError, match="slots"):
        DeviceMover(slots=0, _ops=_HostOps())
    mover, _ = _mover()
    with pytest.raises(TypeError, match="what submit"):
        mover.ready(np.ones(2))


class _DeviceSink(BaseEstimator):
    """A device estimator that records what reached it."""

    _gpuinc_array_api = True

    def partial_fit(self, X, y=None, sample_weight=None):
        assert isinstance(X, _DeviceArray) and isinstance(y, _DeviceArray)
        assert sample_weight is None or isinstance(sample_weight, _DeviceArray)
        self.first_column_ = getattr(self, "first_column_", []) + [X.data[:, 0].copy()]
        return self


@pytest.mark.parametrize("prefetch", [0, 1, 2])
def test_local_runner_sends_host_blocks_through_the_mover(monkeypatch, prefetch):
    import gpuinc._chain
    import gpuinc._gpu

    if not hasattr(gpuinc._chain, "_device_mover"):
        pytest.skip("the local runner does not use DeviceMover yet")
    ops = _HostOps()
    monkeypatch.setattr(gpuinc._gpu, "_CupyOps", lambda: ops)
    X = np.arange(200.0).reshape(50, 4)
    Xd = da.from_array(X, chunks=(10, 4))
    yd = da.from_array(np.arange(50), chunks=10)
    wd = da.from_array(np.ones(50), chunks=10)
    inc = Incremental(_DeviceSink(), device="gpu", shuffle_blocks=False, progress=False,
                      prefetch=prefetch).fit(Xd, yd, sample_weight=wd)
    assert inc.estimator_home_ == DEVICE
    np.testing.assert_array_equal(np.concatenate(inc.estimator_.first_column_), X[:, 0])
    assert inc.history_[0]["rows"] == 50 and inc.history_[0]["blocks"] == 5
    # every block: the consumer waited for its copies, then marked its end
    assert ops.log.count(("wait", "consumer")) == 5
    assert ops.log.count(("record", "consumer")) == 5


def test_device_mover_without_cupy_says_what_to_install():
    if GPU_REASON != "CuPy is not installed":
        pytest.skip("CuPy is installed here")
    with pytest.raises(ImportError, match=r"gpuinc\[gpu-cu12\]"):
        DeviceMover()


def test_describe_devices_matches_availability():
    from gpuinc._gpu import describe_devices

    devices = describe_devices()
    if GPU_REASON is not None:
        assert devices == []
    else:
        assert devices and all(d["name"] and d["memory_bytes"] > 0 for d in devices)


# ------------------------------------------------------------------ cuDF helpers
def test_cudf_helpers_convert_cudf_objects_only(monkeypatch):
    import sys
    import types

    from gpuinc._gpu import cudf_to_cupy, cudf_to_host

    cudf = types.ModuleType("cudf")

    class DataFrame:  # stands for cudf.DataFrame
        def to_cupy(self):
            return "device array"

        def to_pandas(self):
            return "pandas frame"

    class Series(DataFrame):
        def to_cupy(self):
            raise ValueError("strings cannot go to CuPy")

    cudf.DataFrame, cudf.Series = DataFrame, Series
    monkeypatch.setitem(sys.modules, "cudf", cudf)
    assert cudf_to_cupy(DataFrame()) == "device array"
    assert cudf_to_host(DataFrame()) == "pandas frame"
    with pytest.raises(TypeError, match="select numeric columns"):
        cudf_to_cupy(Series())
    for helper in (cudf_to_cupy, cudf_to_host):
        with pytest.raises(TypeError, match="expects a cuDF"):
            helper(pd.DataFrame({"a": [1]}))


# ---------------------------------------------------------------- device paths
def _device_params():
    blocks = [
        np.arange(12.0, dtype=np.float32).reshape(4, 3),
        np.asfortranarray(np.arange(12.0).reshape(4, 3)),
        pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]}),
        sp.random(8, 5, density=0.4, format="csr", random_state=0),
    ]
    return [pytest.param(b, marks=needs_gpu) for b in blocks]


@pytest.mark.parametrize("block", _device_params())
def test_to_device_and_back(block):
    import cupy

    dev = move(block, DEVICE)
    assert type(dev).__module__.split(".")[0] in ("cupy", "cupyx")
    assert to_device(dev) is dev and move(dev, DEVICE) is dev
    back = to_host(dev)
    want = block.toarray() if sp.issparse(block) else np.asarray(block)
    got = back.toarray() if sp.issparse(back) else np.asarray(back)
    np.testing.assert_array_equal(got, want)
    cupy.cuda.Device().synchronize()


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=f"needs a GPU: {GPU_REASON}")
def test_device_mover_on_cupy_matches_host_values():
    import cupy

    rs = np.random.RandomState(0)
    blocks = [rs.standard_normal((5000, 17)).astype(np.float32) for _ in range(5)]
    blocks.append(np.asfortranarray(rs.standard_normal((333, 9))))
    with DeviceMover(chunk_bytes=64 << 10, slots=3, copy_threads=4) as mover:
        pending = [mover.submit((b, np.arange(len(b)))) for b in blocks]
        for b, p in zip(blocks, pending, strict=True):
            x, y = mover.ready(p)
            assert isinstance(x, cupy.ndarray) and x.flags.c_contiguous
            total = float(x.sum())  # runs on the consumer stream, after the copy
            mover.block_done()
            np.testing.assert_array_equal(cupy.asnumpy(x), b)
            np.testing.assert_array_equal(cupy.asnumpy(y), np.arange(len(b)))
            assert total == pytest.approx(float(b.sum(dtype=np.float64)), rel=1e-4, abs=1e-2)
        assert mover.bytes_copied == sum(b.nbytes + 8 * len(b) for b in blocks)


@pytest.mark.gpu
@pytest.mark.skipif(GPU_REASON is not None, reason=f"needs a GPU: {GPU_REASON}")
def test_device_mover_pinned_source_is_sent_directly():
    import cupy
    import cupyx

    src = cupyx.empty_pinned((1000, 8), dtype=np.float32)
    src[...] = np.arange(8000, dtype=np.float32).reshape(1000, 8)
    with DeviceMover(chunk_bytes=1 << 10) as mover:
        out = mover.to_device(src)
        assert mover.chunks_copied == 1
        np.testing.assert_array_equal(cupy.asnumpy(out), src)


def test_cudf_blocks_reach_array_api_scikit_learn_as_cupy(monkeypatch):
    import sys
    import types

    from sklearn.linear_model import SGDClassifier as SklearnSGD

    import gpuinc._gpu as gpu_helpers
    from gpuinc._movers import as_estimator_input
    from gpuinc.linear_model import SGDClassifier

    cudf = types.ModuleType("cudf")
    cudf.DataFrame = type("DataFrame", (), {})
    cudf.Series = type("Series", (), {})
    monkeypatch.setitem(sys.modules, "cudf", cudf)
    monkeypatch.setattr(gpu_helpers, "cudf_to_cupy", lambda obj: ("cupy", type(obj).__name__))
    frame, series = cudf.DataFrame(), cudf.Series()
    # scikit-learn's array-API mode on the device takes CuPy, not cuDF
    assert as_estimator_input(frame, SklearnSGD(), "device") == ("cupy", "DataFrame")
    assert as_estimator_input(series, SklearnSGD(), "device") == ("cupy", "Series")
    # on the host, for gpuinc's own estimators (they read cuDF) and for other values: unchanged
    assert as_estimator_input(frame, SklearnSGD(), "host") is frame
    assert as_estimator_input(frame, SGDClassifier(), "device") is frame
    values = np.ones(3)
    assert as_estimator_input(values, SklearnSGD(), "device") is values
    assert as_estimator_input(None, SklearnSGD(), "device") is None
