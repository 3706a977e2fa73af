"""Out-of-core training: blocks are read lazily, once per pass, at most ``prefetch`` ahead.

Counting readers record how many blocks have been read when each
``partial_fit`` starts; the bound ``reads <= trained + 1 + prefetch`` holds
only if nothing reads further ahead (no persist, no eager gathering), on the
threaded scheduler and on a distributed cluster alike.
"""

from __future__ import annotations

import collections
import threading

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import gpuinc.io as gio
from gpuinc import Incremental
from gpuinc.io import DataError, read_table

N_FILES = 8
ROWS = 30
_LOCK = threading.Lock()
#: blocks read so far (all readers of this module count here)
READS = {"n": 0}
#: ``READS["n"]`` at the start of every partial_fit
SEEN_AT_FIT: list[int] = []


def reset_counters():
    with _LOCK:
        READS["n"] = 0
        SEEN_AT_FIT.clear()


def _count_read():
    with _LOCK:
        READS["n"] += 1


class ReadAheadProbe(ClassifierMixin, BaseEstimator):
    """Records how many blocks had been read when each partial_fit began."""

    def partial_fit(self, X, y, classes=None, sample_weight=None, offsets=None):
        with _LOCK:
            SEEN_AT_FIT.append(READS["n"])
        self.classes_ = np.array([0, 1])
        self.n_rows_ = getattr(self, "n_rows_", 0) + len(y)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


_ORIGINAL_PARQUET_READER = gio._read_parquet_block


def counting_parquet_reader(*args, **kwargs):
    _count_read()
    return _ORIGINAL_PARQUET_READER(*args, **kwargs)


@pytest.fixture
def counted(monkeypatch):
    monkeypatch.setattr(gio, "_read_parquet_block", counting_parquet_reader)
    reset_counters()
    yield
    reset_counters()


@pytest.fixture
def parquet_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(N_FILES):
        df = pd.DataFrame(rng.normal(size=(ROWS, 4)).astype("float32"),
                          columns=["a", "b", "c", "d"])
        df["label"] = (df["a"] > 0).astype("int64")
        df.to_parquet(tmp_path / f"part-{i:02d}.parquet", index=False)
    return tmp_path


def assert_read_ahead_bounded(prefetch: int, n_blocks: int, epochs: int = 1):
    assert len(SEEN_AT_FIT) == n_blocks * epochs
    for t, seen in enumerate(SEEN_AT_FIT):
        # block t is being trained: t blocks are done, at most `prefetch` more may be loaded
        assert seen <= t + 1 + prefetch, (t, SEEN_AT_FIT)


@pytest.mark.parametrize("prefetch", [0, 1, 2])
def test_threaded_reads_at_most_prefetch_ahead(parquet_folder, counted, prefetch):
    X, y = read_table(parquet_folder, "label", blocksize=None)
    assert READS["n"] == 0  # building the collections reads no data
    inc = Incremental(ReadAheadProbe(), prefetch=prefetch, shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1])
    assert_read_ahead_bounded(prefetch, N_FILES)
    assert inc.history_[0]["max_blocks_in_flight"] <= prefetch + 1
    assert inc.estimator_.n_rows_ == N_FILES * ROWS


def test_each_block_read_once_per_pass(parquet_folder, counted):
    X, y = read_table(parquet_folder, "label", blocksize=None)
    inc = Incremental(ReadAheadProbe(), epochs=3, prefetch=2, random_state=0)
    inc.fit(X, y, classes=[0, 1])
    # X and y come from one read task: one read per block per pass, not two
    assert READS["n"] == 3 * N_FILES
    assert [r["blocks"] for r in inc.history_] == [N_FILES] * 3


def test_validation_blocks_read_once_per_pass(parquet_folder, counted):
    X, y = read_table(parquet_folder, "label", blocksize=None)
    inc = Incremental(ReadAheadProbe(), epochs=2, validation=0.25, scoring="accuracy",
                      random_state=0)
    inc.fit(X, y, classes=[0, 1])
    assert [r["blocks"] for r in inc.history_] == [6, 6]
    assert READS["n"] == 2 * N_FILES  # 6 trained + 2 scored, each pass


@pytest.fixture
def chained(monkeypatch):
    """Independent blocks train one task per block (the chain), as dependent ones do."""
    import gpuinc._chain as chain

    monkeypatch.setattr(chain, "ONE_TASK_PASSES", False)


@pytest.fixture(params=["one task", "chain"])
def either_way(request, monkeypatch):
    import gpuinc._chain as chain

    monkeypatch.setattr(chain, "ONE_TASK_PASSES", request.param == "one task")
    return request.param


def test_distributed_reads_at_most_prefetch_ahead(parquet_folder, counted, client, either_way):
    X, y = read_table(parquet_folder, "label", blocksize=None)
    inc = Incremental(ReadAheadProbe(), prefetch=1, shuffle_blocks=False, epochs=2)
    inc.fit(X, y, classes=[0, 1])
    assert_read_ahead_bounded(1, N_FILES, epochs=2)
    assert all(r["max_blocks_in_flight"] <= 2 for r in inc.history_)
    assert inc.estimator_.n_rows_ == 2 * N_FILES * ROWS
    # never more than one read per block and pass (a result may be reused across passes)
    assert N_FILES <= READS["n"] <= 2 * N_FILES


def test_distributed_load_waits_for_the_fit_two_blocks_back(parquet_folder, counted, client,
                                                          chained):
    # with one thread per worker, a load queued early would take the thread before the
    # fit of the block just loaded there; so load k starts only once fit k - 2 is done,
    # and while block t trains at most blocks 0..t+1 have been read
    X, y = read_table(parquet_folder, "label", blocksize=None)
    inc = Incremental(ReadAheadProbe(), prefetch=2, shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1])
    assert len(SEEN_AT_FIT) == N_FILES
    for t, seen in enumerate(SEEN_AT_FIT):
        assert seen <= t + 2, (t, SEEN_AT_FIT)
    assert inc.estimator_.n_rows_ == N_FILES * ROWS


def test_block_independence_is_checked_once_per_fit(parquet_folder, client, monkeypatch):
    import gpuinc._chain as chain

    calls = []
    check = chain._blocks_are_independent

    def counted_check(client, blocks):
        calls.append(len(blocks))
        return check(client, blocks)

    monkeypatch.setattr(chain, "_blocks_are_independent", counted_check)
    X, y = read_table(parquet_folder, "label", blocksize=None)
    inc = Incremental(ReadAheadProbe(), epochs=3, random_state=0)
    inc.fit(X, y, classes=[0, 1])
    assert calls == [N_FILES]  # the later passes train the same blocks
    assert [r["blocks"] for r in inc.history_] == [N_FILES] * 3


def _idle(client, timeout=10):
    """Wait until no task runs on the cluster: a one-task pass of an earlier test may still
    be ending (its result came with its last event), and would be recorded after ``start``."""
    import time

    deadline = time.time() + timeout
    while any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.02)


def test_distributed_reads_each_block_in_one_task(parquet_folder, client, chained):
    # a block's small steps (splitting X from y, picking columns) run inside its load
    # task instead of costing a scheduler round trip each
    X, y = read_table(parquet_folder, "label", blocksize=None)
    client.get_task_stream()  # start recording
    _idle(client)
    start = __import__("time").time()
    Incremental(ReadAheadProbe(), shuffle_blocks=False).fit(X, y, classes=[0, 1])
    names = [str(t["key"]) for t in client.get_task_stream(start=start)]
    assert sum(n.startswith("gpuinc-load-") for n in names) == N_FILES
    assert sum(n.startswith("gpuinc-partial-fit-") for n in names) == N_FILES
    assert len(names) == 2 * N_FILES, sorted(names)


def _passes_recorded(client, start, n, timeout=10):
    """The task stream since ``start``, once it holds ``n`` pass tasks (or at timeout).

    A pass sends its model back before its task ends, so ``fit`` can return before the
    scheduler records the task.
    """
    import time

    deadline = time.time() + timeout
    while True:
        stream = client.get_task_stream(start=start)
        done = sum(str(t["key"]).startswith("gpuinc-pass-") for t in stream)
        if done >= n or time.time() > deadline:
            return stream
        time.sleep(0.05)


def test_independent_blocks_train_in_one_task_per_pass(parquet_folder, client):
    """Blocks that each compute alone: one worker reads and trains them all, no hops."""
    from sklearn.linear_model import SGDClassifier

    X, y = read_table(parquet_folder, "label", blocksize=None)
    client.get_task_stream()  # start recording
    start = __import__("time").time()
    inc = Incremental(SGDClassifier(random_state=0), epochs=2, prefetch=1, random_state=0,
                      progress=False).fit(X, y, classes=[0, 1])
    names = [str(t["key"]) for t in _passes_recorded(client, start, 2)]
    assert sorted(n.split("-")[1] for n in names) == ["pass", "pass"], names
    assert [r["blocks"] for r in inc.history_] == [N_FILES, N_FILES]
    assert all(1 <= r["max_blocks_in_flight"] <= 2 for r in inc.history_)
    with dask.config.set(scheduler="threads"):  # the same model without a cluster
        local = Incremental(SGDClassifier(random_state=0), epochs=2, prefetch=1,
                            random_state=0, progress=False).fit(X, y, classes=[0, 1])
    assert np.array_equal(inc.coef_, local.coef_)
    assert np.array_equal(inc.intercept_, local.intercept_)


@pytest.fixture
def no_stealing(client):
    """The scheduler moves no task meanwhile: a pass sent to the worker still ending the
    previous pass (its result came with its last event) queues there, and work stealing
    could hand it to the idle worker (the placement is a preference: allow_other_workers)."""
    async def stop(dask_scheduler):
        await dask_scheduler.extensions["stealing"].stop()

    async def start(dask_scheduler):
        await dask_scheduler.extensions["stealing"].start()

    client.run_on_scheduler(stop)
    yield
    client.run_on_scheduler(start)


def test_one_task_passes_stay_on_one_worker(parquet_folder, client, no_stealing):
    """Later passes run where the first ran (warm memory) while that worker is there."""
    import gpuinc._chain as chain

    chain._LAST_PASS.pop(client, None)
    X, y = read_table(parquet_folder, "label", blocksize=None)
    client.get_task_stream()
    start = __import__("time").time()
    Incremental(ReadAheadProbe(), epochs=3, progress=False).fit(X, y, classes=[0, 1])
    Incremental(ReadAheadProbe(), progress=False).fit(X, y, classes=[0, 1])
    passes = [t for t in _passes_recorded(client, start, 4)
              if str(t["key"]).startswith("gpuinc-pass-")]
    assert len(passes) == 4
    assert len({t["worker"] for t in passes}) == 1, [t["worker"] for t in passes]
    assert chain._LAST_PASS[client][0] == passes[0]["worker"]


def test_a_busy_last_worker_is_not_waited_for(parquet_folder, client):
    import time

    import gpuinc._chain as chain

    X, y = read_table(parquet_folder, "label", blocksize=None)
    Incremental(ReadAheadProbe(), progress=False).fit(X, y, classes=[0, 1])
    last = chain._LAST_PASS[client]
    assert chain._warm_placement(client) == {"workers": [last[0]], "allow_other_workers": True}
    assert client not in chain._LAST_PASS  # taken: a concurrent fit goes anywhere
    chain._LAST_PASS[client] = last
    blocker = client.submit(time.sleep, 3, workers=[last[0]], pure=False)
    deadline = time.time() + 5
    # the blocker itself: the first fit's pass task may still be ending there (its result
    # came with its last event), and the blocker may not have reached the scheduler yet
    while (blocker.key not in client.processing(workers=[last[0]])[last[0]]
           and time.time() < deadline):
        time.sleep(0.01)
    assert chain._warm_placement(client) == {}  # busy: no preference
    chain._LAST_PASS[client] = last
    start = time.time()
    Incremental(ReadAheadProbe(), progress=False).fit(X, y, classes=[0, 1])
    assert time.time() - start < 2.5  # not behind the 3 s task
    assert chain._LAST_PASS[client][0] != last[0]
    blocker.cancel()


def test_a_fit_inside_a_done_callback_does_not_hang(parquet_folder, client):
    """distributed runs done callbacks on one thread: a pass must not need it to end."""
    import time

    X, y = read_table(parquet_folder, "label", blocksize=None)
    result = {}

    def train(_):
        try:
            inc = Incremental(ReadAheadProbe(), progress=False).fit(X, y, classes=[0, 1])
            result["rows"] = inc.estimator_.n_rows_
        except BaseException as exc:  # pragma: no cover - reported below
            result["error"] = exc

    client.submit(int, 1, pure=False).add_done_callback(train)
    deadline = time.time() + 20
    while not result and time.time() < deadline:
        time.sleep(0.05)
    assert result == {"rows": N_FILES * ROWS}


def test_a_pass_runs_elsewhere_when_its_last_worker_is_gone(parquet_folder, client):
    import gpuinc._chain as chain

    chain._LAST_PASS[client] = ("tcp://127.0.0.1:9", None)  # no worker there
    X, y = read_table(parquet_folder, "label", blocksize=None)
    inc = Incremental(ReadAheadProbe(), progress=False).fit(X, y, classes=[0, 1])
    assert inc.estimator_.n_rows_ == N_FILES * ROWS
    assert chain._LAST_PASS[client][0] in client.scheduler_info()["workers"]


def test_one_task_pass_reports_every_block_in_order(parquet_folder, client):
    from gpuinc._blocks import plan_blocks
    from gpuinc._chain import ChainStats, DistributedRunner

    X, y = read_table(parquet_folder, "label", blocksize=None)
    blocks = plan_blocks(X, y, {}).blocks
    seen, stats = [], ChainStats()
    model = DistributedRunner(client, prefetch=2).run(
        ReadAheadProbe(), blocks, {"classes": [0, 1]}, kind="pandas", home="host",
        on_block=lambda pos, block, get_model: seen.append((pos, block.index)), stats=stats,
    )
    assert seen == [(i, b.index) for i, b in enumerate(blocks)]
    assert (stats.blocks, stats.rows) == (N_FILES, N_FILES * ROWS)
    assert model.n_rows_ == N_FILES * ROWS


class _SlowProbe(ReadAheadProbe):
    def partial_fit(self, X, y, classes=None):
        __import__("time").sleep(0.2)
        return super().partial_fit(X, y, classes=classes)


def test_a_cancelled_one_task_pass_stops_at_the_next_block(parquet_folder, counted, client):
    from gpuinc._blocks import plan_blocks
    from gpuinc._chain import _Opaque, _pass_task

    X, y = read_table(parquet_folder, "label", blocksize=None)
    blocks = plan_blocks(X, y, {}).blocks
    fut = client.submit(_pass_task, _SlowProbe(), _Opaque(blocks), {"classes": [0, 1]},
                        prefetch=1, token="t", kind="pandas", home="host", progressive=None,
                        pure=False)
    deadline = __import__("time").time() + 10
    while len(SEEN_AT_FIT) < 2 and __import__("time").time() < deadline:
        __import__("time").sleep(0.02)
    fut.cancel()
    __import__("time").sleep(1.0)  # five more blocks' worth, had it gone on
    assert 2 <= len(SEEN_AT_FIT) <= 4, SEEN_AT_FIT
    assert READS["n"] <= len(SEEN_AT_FIT) + 2


class _FailsAtThirdBlock(ReadAheadProbe):
    def partial_fit(self, X, y, classes=None):
        if getattr(self, "n_rows_", 0) >= 2 * ROWS:
            raise ValueError("probe: this block is bad")
        return super().partial_fit(X, y, classes=classes)


def test_a_block_error_in_a_one_task_pass_reaches_the_caller(parquet_folder, client):
    X, y = read_table(parquet_folder, "label", blocksize=None)
    inc = Incremental(_FailsAtThirdBlock(), shuffle_blocks=False, progress=False)
    with pytest.raises(ValueError, match="probe: this block is bad") as info:
        inc.fit(X, y, classes=[0, 1])
    # which block, as on every other path (a note on the error)
    assert any("block 2" in note for note in getattr(info.value, "__notes__", ())), info.value
    assert not hasattr(inc, "estimator_")  # no half-trained model left behind


def test_an_error_in_a_progress_report_stops_the_one_task_pass(parquet_folder, counted,
                                                             client):
    """Reports run in the caller's thread: their errors cancel the pass instead of vanishing."""
    from gpuinc._blocks import plan_blocks
    from gpuinc._chain import ChainStats, DistributedRunner

    X, y = read_table(parquet_folder, "label", blocksize=None)
    blocks = plan_blocks(X, y, {}).blocks
    callers = []

    def on_block(pos, block, get_model):
        callers.append(threading.get_ident())
        if pos == 1:
            raise KeyError("report failed")

    with pytest.raises(KeyError, match="report failed"):
        DistributedRunner(client, prefetch=1).run(
            _SlowProbe(), blocks, {"classes": [0, 1]}, kind="pandas", home="host",
            on_block=on_block, stats=ChainStats(),
        )
    assert callers == [threading.get_ident()] * 2
    __import__("time").sleep(1.0)  # five more blocks' worth, had the task gone on
    assert len(SEEN_AT_FIT) <= 4, SEEN_AT_FIT


def test_train_score_through_a_one_task_pass(parquet_folder, client):
    from sklearn.linear_model import SGDClassifier

    X, y = read_table(parquet_folder, "label", blocksize=None)
    kwargs = {"epochs": 2, "train_score": True, "scoring": "accuracy", "random_state": 0,
              "progress": False}
    inc = Incremental(SGDClassifier(random_state=0), **kwargs).fit(X, y, classes=[0, 1])
    with dask.config.set(scheduler="threads"):
        local = Incremental(SGDClassifier(random_state=0), **kwargs).fit(X, y, classes=[0, 1])
    scores = [r["train_score"] for r in inc.history_]
    assert all(0 <= s <= 1 for s in scores)
    assert scores == [r["train_score"] for r in local.history_]


def test_lazy_x_with_persisted_y_is_chained(parquet_folder, client):
    """A held piece cannot be computed inside a worker's task: such blocks are chained."""
    from sklearn.linear_model import SGDClassifier

    X, y = read_table(parquet_folder, "label", blocksize=None)
    (y_held,) = client.persist([y])
    client.get_task_stream()
    _idle(client)
    start = __import__("time").time()
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False,
                      progress=False).fit(X, y_held, classes=[0, 1])
    names = [str(t["key"]) for t in client.get_task_stream(start=start)]
    assert not any(n.startswith("gpuinc-pass-") for n in names)
    with dask.config.set(scheduler="threads"):
        local = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False,
                            progress=False).fit(X, y, classes=[0, 1])
    assert np.array_equal(inc.coef_, local.coef_)


def test_blocks_sharing_tasks_are_left_to_the_scheduler(client):
    from gpuinc._blocks import plan_blocks
    from gpuinc._chain import _blocks_are_independent, _held

    frame = dd.from_pandas(pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40) % 3}),
                           npartitions=4)
    independent = plan_blocks(frame[["a"]], frame["b"], {}).blocks
    shuffled = frame.shuffle("b")  # each output block depends on every input block
    shared = plan_blocks(shuffled[["a"]], shuffled["b"], {}).blocks
    # a lazy step on persisted data refers to what the cluster holds: not computable alone
    persisted = client.persist(frame)
    on_persisted = plan_blocks(persisted[["a"]], persisted["b"], {}).blocks
    assert _blocks_are_independent(client, independent)
    assert not _blocks_are_independent(client, shared)
    assert not _blocks_are_independent(client, on_persisted)
    # persisted themselves, X and y are held: nothing is left to compute
    kept = client.persist([frame[["a"]], frame["b"]])  # held while the names are
    held = plan_blocks(*kept, {}).blocks
    assert all(_held(client, piece) for block in held for piece in (block.x, block.y))
    assert not any(_held(client, piece) for block in on_persisted for piece in (block.x,
                                                                                  block.y))


def test_distributed_error_names_the_file(parquet_folder, client):
    (parquet_folder / "part-05.parquet").write_bytes(b"PAR1" + b"\x00" * 64 + b"PAR1")
    with pytest.raises(DataError, match=r"part-05\.parquet is not a readable Parquet file"):
        read_table(parquet_folder, "label")

    df = pd.DataFrame({"a": [1.0, 2.0, np.inf], "label": [0, 1, 0]})
    df.to_parquet(parquet_folder / "part-05.parquet", index=False)
    X, y = read_table(parquet_folder, "label", features=["a"], blocksize=None)
    # prefetch=0: no read of a later block is left running on the shared cluster after the error
    inc = Incremental(ReadAheadProbe(), shuffle_blocks=False, prefetch=0)
    with pytest.raises(DataError, match=r"part-05\.parquet .*'a' hold missing \(NaN\) or infinite"):
        inc.fit(X, y, classes=[0, 1])


# --------------------------------------------------------------------------- other lazy inputs
def _counting_block(i, rows, cols):
    _count_read()
    rng = np.random.default_rng(i)
    return rng.normal(size=(rows, cols))


def _labels(i, rows):
    return np.arange(rows) % 2


def test_any_lazy_array_is_read_at_most_prefetch_ahead(counted):
    """No persist needed: a plain lazy dask array is read block by block."""
    n_blocks, rows = 10, 7
    X = da.concatenate([da.from_delayed(dask.delayed(_counting_block)(i, rows, 3),
                                        shape=(rows, 3), dtype=float) for i in range(n_blocks)])
    y = da.concatenate([da.from_delayed(dask.delayed(_labels)(i, rows), shape=(rows,), dtype=int)
                        for i in range(n_blocks)])
    inc = Incremental(ReadAheadProbe(), prefetch=2, shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1])
    assert_read_ahead_bounded(2, n_blocks)
    assert READS["n"] == n_blocks


class _CountedTable:
    """An on-disk-like 2-D array for ``da.from_array``: counts its reads by rows."""

    reads: collections.Counter = collections.Counter()

    def __init__(self, values):
        self.values, self.shape, self.dtype, self.ndim = values, values.shape, values.dtype, 2

    def __getitem__(self, key):
        rows = key[0] if isinstance(key, tuple) else key
        _CountedTable.reads[(rows.start, rows.stop)] += 1
        return self.values[key]


@pytest.mark.parametrize("where", ["threads", "cluster"])
def test_x_and_y_cut_from_one_array_read_it_once_a_block(where, request):
    """``X, y = data[:, :-1], data[:, -1]`` (and a sample_weight from data too): each chunk
    of data is read once a pass."""
    rng = np.random.default_rng(0)
    values = rng.normal(size=(400, 4))
    values[:, -1] = values[:, 0] > 0
    data = da.from_array(_CountedTable(values), chunks=(100, 4), asarray=False)
    X, y = data[:, :-1], data[:, -1].astype(int)
    w = abs(data[:, 1]) + 0.5  # a sample_weight cut from it too
    offsets = data[:, 2] * 0  # and another per-row Dask keyword
    if where == "cluster":
        request.getfixturevalue("client")
    _CountedTable.reads.clear()
    inc = Incremental(ReadAheadProbe(), epochs=2, shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1], sample_weight=w, offsets=offsets)
    assert inc.estimator_.n_rows_ == 800
    chunks = [(a, a + 100) for a in range(0, 400, 100)]
    assert dict(_CountedTable.reads) == dict.fromkeys(chunks, 2)  # two passes, one read each


def test_da_from_zarr_and_dd_read_csv(tmp_path):
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(0)
    Xv = rng.normal(size=(60, 3))
    yv = (Xv[:, 0] > 0).astype(int)
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    group.create_array("X", shape=Xv.shape, chunks=(10, 3), dtype="float64")[:] = Xv
    group.create_array("y", shape=yv.shape, chunks=(10,), dtype="int64")[:] = yv
    X, y = da.from_zarr(group["X"]), da.from_zarr(group["y"])
    inc = Incremental(ReadAheadProbe(), prefetch=1).fit(X, y, classes=[0, 1])
    assert inc.history_[0]["blocks"] == 6 and inc.history_[0]["max_blocks_in_flight"] <= 2

    pd.DataFrame(Xv, columns=["a", "b", "c"]).assign(y=yv).to_csv(tmp_path / "d.csv", index=False)
    frame = dd.read_csv(tmp_path / "d.csv", blocksize=600)
    assert frame.npartitions > 1
    inc = Incremental(ReadAheadProbe(), prefetch=1).fit(frame[["a", "b", "c"]], frame["y"],
                                                         classes=[0, 1])
    assert inc.estimator_.n_rows_ == 60
    assert inc.history_[0]["max_blocks_in_flight"] <= 2


def test_dd_read_parquet_columns_of_one_frame(parquet_folder):
    frame = dd.read_parquet(parquet_folder)
    inc = Incremental(ReadAheadProbe(), prefetch=1)
    inc.fit(frame[["a", "b", "c", "d"]], frame["label"], classes=[0, 1])
    assert inc.estimator_.n_rows_ == N_FILES * ROWS


def test_threaded_persisted_blocks_are_taken_as_they_are(monkeypatch):
    """Chunks persisted without a client are in the graph already: no dask.compute per block."""
    X = da.random.default_rng(0).random((60, 3), chunks=20)
    y = (X[:, 0] > 0.5).astype(int)
    lazy_y = y + 0
    X, y = dask.persist(X, y)
    real, calls = dask.compute, []

    def spy(*args, **kwargs):
        calls.append(len(args))
        return real(*args, **kwargs)

    monkeypatch.setattr(dask, "compute", spy)
    inc = Incremental(ReadAheadProbe(), shuffle_blocks=False).fit(X, y, classes=[0, 1])
    assert calls == []
    assert inc.estimator_.n_rows_ == 60
    # a piece that still needs computing sends the block through dask.compute
    Incremental(ReadAheadProbe(), shuffle_blocks=False).fit(X, lazy_y, classes=[0, 1])
    assert len(calls) == 3


def test_progress_is_live_after_the_client_reconnects(parquet_folder):
    """A restarted scheduler has no subscribers: the client subscribes again.

    ``live`` records, at each progress report, whether the pass was still
    waiting for its task; reports made only after the task ended would be
    all False.
    """
    import socket
    import time

    from distributed import Client, LocalCluster

    import gpuinc._chain as chain
    from gpuinc._blocks import plan_blocks
    from gpuinc._chain import ChainStats, DistributedRunner

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    options = dict(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0",
                   scheduler_port=port, host="127.0.0.1")
    X, y = read_table(parquet_folder, "label", blocksize=None)
    blocks = plan_blocks(X, y, {}).blocks

    def one_pass(client):
        live = []
        DistributedRunner(client, prefetch=2).run(
            ReadAheadProbe(), blocks, {"classes": [0, 1]}, kind="pandas", home="host",
            on_block=lambda pos, block, get_model: live.append(bool(chain._PROGRESS)),
            stats=ChainStats(),
        )
        return live

    cluster = LocalCluster(**options)
    client = Client(f"tcp://127.0.0.1:{port}")
    try:
        assert all(one_pass(client))
        cluster.close()
        cluster = LocalCluster(**options)
        deadline = time.time() + 20
        while client.status != "running" and time.time() < deadline:
            time.sleep(0.05)
        client.wait_for_workers(1, timeout=20)
        assert all(one_pass(client))
    finally:
        client.close()
        cluster.close()
