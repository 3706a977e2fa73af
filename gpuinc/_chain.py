"""The chain: one ``partial_fit`` per block, in order, with bounded prefetch.

The model is a small object that travels along the chain; each block is
materialised once per pass, at most ``prefetch`` blocks ahead of the block
being trained, so memory is set by block size and prefetch depth rather than
by dataset size.  Two runners share one contract:

* ``LocalRunner`` (no distributed client): a loader thread computes the next
  blocks with Dask's local scheduler while the calling thread trains
  (chunks persisted in this process are taken as they are).
* ``DistributedRunner``: data never travels to the client.  A pass over
  blocks that each compute alone is one task running the local runner on a
  worker; otherwise each ``partial_fit`` runs as a task next to its block
  (persisted, or read by its own task) and the model moves between workers
  (small persisted blocks join a neighbour's task instead: ``RUN_FETCH_BYTES``).
  Over persisted blocks that several workers hold, the model goes from worker
  to worker directly instead of through the scheduler (``_relay``).

Work that lazy blocks share (a reduction's result, a shuffle's store, a chunk that
neighbouring blocks split) is computed once a pass, when the first block needing it
loads, and held until the last one has, by both runners (``_shared_work``,
``_PassHold``): each block computes only its own tasks from it.
"""

from __future__ import annotations

import contextlib
import copy
import queue
import re
import sys
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field

import dask
import numpy as np
import pandas as pd

try:  # private: only to read persisted chunks directly (see _in_memory and _persisted_key)
    from dask._task_spec import Alias, DataNode
except ImportError:  # pragma: no cover - a future Dask that moves it
    Alias = DataNode = None

from ._array_api import aligned as _aligned
from ._dispatch import DEVICE, HOST, KIND_HOME, block_kind, compute_context
from ._malloc import reusing_memory
from ._movers import as_estimator_input, move
from ._text import one_line


@dataclass
class ChainStats:
    """What a runner saw: used by tests and by ``history_``."""

    blocks: int = 0
    rows: int = 0
    max_in_flight: int = 0
    progressive: list = field(default_factory=list)
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start_block(self):
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)

    def end_block(self, rows: int):
        with self._lock:
            self._in_flight -= 1
            self.blocks += 1
            self.rows += rows


def _n_rows(block) -> int:
    shape = getattr(block, "shape", None)
    return int(shape[0]) if shape is not None else len(block)


def _describe(index: int, rows) -> str:
    where = f"block {index}"
    if rows is not None:
        where += f" (rows {rows[0]}:{rows[1]})"
    return where


def _first_non_finite(x) -> tuple[int, object] | None:
    """(row within the block, pandas index label or None) of X's first NaN/inf row, or None."""
    try:
        kind = block_kind(x)
    except TypeError:
        return None
    if kind == "pandas":
        try:
            values = x.to_numpy(dtype=float)
        except (TypeError, ValueError):
            return None
        bad = ~np.isfinite(values).reshape(len(x), -1).all(axis=1)
        if not bad.any():
            return None
        pos = int(np.argmax(bad))
        return pos, x.index[pos]
    if kind == "numpy":
        if not np.issubdtype(x.dtype, np.number) or np.isfinite(x).all():
            return None
        bad = ~np.isfinite(x).reshape(x.shape[0], -1).all(axis=1)
        return int(np.argmax(bad)), None
    if kind == "scipy.sparse":
        coo = x.tocoo()
        bad = ~np.isfinite(coo.data)
        return (int(coo.row[bad].min()), None) if bad.any() else None
    if kind == "cupy":
        import cupy

        if bool(cupy.isfinite(x).all()):
            return None
        bad = ~cupy.isfinite(x).reshape(x.shape[0], -1).all(axis=1)
        return int(cupy.argmax(bad)), None
    return None


def _non_finite_where(first, rows) -> str:
    """', first at row ...' for the error about a NaN/inf block."""
    pos, label = first
    where = f"; the first is in row {pos} of the block"
    more = [] if rows is None else [f"row {rows[0] + pos} of X"]
    if label is not None:
        label = label.item() if isinstance(label, np.generic) else label
        more.append(f"index {label!r}")
    return where + (f" ({', '.join(more)})" if more else "")


def check_block(x, y, kwargs, *, index, rows, kind) -> int:
    """Check one loaded block (its kind, aligned row counts); return its number of rows."""
    if x is None:
        raise ValueError(f"{_describe(index, rows)} of X is empty (None).")
    got = block_kind(x)
    if got != kind and not (kind == "pandas" and got == "numpy"):
        raise TypeError(
            f"{_describe(index, rows)} of X is a {got} block but the collection's meta says "
            f"{kind}; all blocks must be of the collection's kind. If only some blocks are "
            f"{got}, make them uniform, e.g. with X.map_blocks(np.asarray) or "
            f"X.map_blocks(cupy.asarray); if every block is {got}, give the collection a meta "
            "of that kind where it is built (map_blocks(..., meta=...))."
        )
    n = _n_rows(x)
    if y is not None and _n_rows(y) != n:
        raise ValueError(
            f"{_describe(index, rows)}: X has {n} rows but y has {_n_rows(y)}. With "
            "assume_equal_chunks=True block i of y goes with block i of X; pass "
            "assume_equal_chunks=False to let gpuinc count the rows and realign y to X, or "
            "block them alike yourself (a Dask array: y.rechunk(X.chunks[0]) when X's "
            "chunk sizes are known). Realigning pairs rows by position, so X and y must list "
            "the rows in the same order: if X was reordered (set_index, sort_values, "
            "shuffle), cut y from the reordered frame instead (y = X['target']; "
            "X = X.drop(columns='target'))."
        )
    for name, value in kwargs.items():
        if value is not None and _n_rows(value) != n:
            raise ValueError(
                f"{_describe(index, rows)}: X has {n} rows but {name} has {_n_rows(value)}."
            )
    return n


def fit_block(model, x, y, kwargs, static_kwargs, *, index, rows, kind, home,
              progressive=None, checked=False):
    """Train ``model`` on one block; the unit of work of the chain.

    Runs in the caller's thread (local runner) or as a task on a worker.
    Errors are re-raised with the block they come from.  With
    ``progressive`` (a scoring), the block is first scored by the model as it
    stands, before it learns from it (progressive validation); the small
    statistic is returned next to the model, and then the number of rows
    trained on (0 for a block that weighs nothing).  ``checked=True``: the
    block was checked and moved to ``home`` already (by the local runner's
    device mover).
    """
    if not checked:
        if check_block(x, y, kwargs, index=index, rows=rows, kind=kind) == 0:
            return model, None, 0  # empty partitions (filters, repartitions): nothing to learn
        if KIND_HOME[block_kind(x)] != home:
            x = move(x, home)
            y = move(y, home) if y is not None else None
            kwargs = {k: move(v, home) if v is not None else v for k, v in kwargs.items()}
        x, y = (_aligned(as_estimator_input(v, model, home)) for v in (x, y))
        kwargs = {k: _aligned(as_estimator_input(v, model, home)) for k, v in kwargs.items()}
    if _weighs_nothing(kwargs.get("sample_weight")):
        # no row counts: nothing to learn (scikit-learn's estimators refuse such a call)
        return model, None, 0
    stat = None
    if progressive is not None:
        from .metrics import progressive_statistic

        with compute_context(model, home):
            stat = progressive_statistic(model, x, y, kwargs.get("sample_weight"), progressive,
                                         home=home, index=index, rows=rows)
    try:
        with compute_context(model, home):
            if y is None:
                model.partial_fit(x, **kwargs, **static_kwargs)
            else:
                model.partial_fit(x, y, **kwargs, **static_kwargs)
    except (ValueError, TypeError) as exc:
        from ._blockwise import non_numeric_columns

        missing = _missing_labels(y)
        if missing:
            raise ValueError(
                f"{_describe(index, rows)}: y has {missing} missing value(s) (NaN, None or "
                f"NA), which {type(model).__name__} cannot learn from ({type(exc).__name__}: "
                f"{exc}); drop those rows (e.g. keep = y.notna(); X, y = X[keep], y[keep]) or "
                "fill them before training."
            ) from exc
        if isinstance(exc, TypeError):
            _add_block_note(exc, index, rows)
            raise
        text = non_numeric_columns(x)
        if text and any(w in str(exc).lower() for w in ("could not convert", "string to float",
                                                         "categor")):
            raise ValueError(
                f"{_describe(index, rows)} of X has column(s) {text} that are not numbers, "
                f"which {type(model).__name__} cannot train on ({exc}). Convert them first "
                "(e.g. X.astype(...) or dd.get_dummies(X)), or leave them out of X."
            ) from exc
        first = _first_non_finite(x)
        if first is not None:
            raise ValueError(
                f"{_describe(index, rows)} of X contains NaN or infinity"
                f"{_non_finite_where(first, rows)}, which "
                f"{type(model).__name__} cannot train on. Drop or impute those values before "
                "fitting (e.g. X = da.nan_to_num(X), or ddf.dropna() / ddf.fillna(0))."
            ) from exc
        _add_block_note(exc, index, rows)
        if hasattr(exc, "add_note") and _FIRST_CALL_ROWS.search(str(exc)):
            exc.add_note(
                "gpuinc: this was the first block the model trained on. If the estimator needs "
                "a number of rows in its first partial_fit call (IncrementalPCA: n_components, "
                "MiniBatchKMeans: n_clusters), give it a first block that large: with "
                "shuffle_blocks=True (the default) the first block is drawn at random, so make "
                "the blocks even and large enough (X.rechunk / ddf.repartition), or pass "
                "shuffle_blocks=False with a large first block."
            )
        raise
    except Exception as exc:
        _add_block_note(exc, index, rows)
        raise
    return model, stat, _n_rows(x)


#: scikit-learn's errors for a first partial_fit call given too few rows, raised only on
#: a model not fitted yet, so they say the block was its first (IncrementalPCA:
#: "n_components=60 must be less or equal to the batch number of samples 50 for the first
#: partial_fit call"; MiniBatchKMeans: "n_samples=50 should be >= n_clusters=60")
_FIRST_CALL_ROWS = re.compile(r"batch number of samples|n_samples=\d+ should be >= ")


def _missing_labels(y) -> int:
    """How many of a host block's labels are missing (NaN, None, NA); 0 when none or unknown.

    Only asked once ``partial_fit`` has failed: with ``classes=`` given, missing
    labels reach the estimator, whose error does not say so (pandas' NA gives
    "boolean value of NA is ambiguous").
    """
    if y is None or hasattr(y, "__cuda_array_interface__") or hasattr(y, "to_cupy"):
        return 0
    try:
        values = y.to_numpy() if hasattr(y, "to_numpy") else np.asarray(y)
        if values.dtype.kind in "biuSU":
            return 0
        return int(np.asarray(pd.isna(values)).sum())
    except Exception:  # noqa: BLE001 - a y this cannot read: the estimator's error stands
        return 0


def _weighs_nothing(weights) -> bool:
    """True for per-row weights that are all zero."""
    if weights is None:
        return False
    values = getattr(weights, "values", weights)  # a pandas Series: its array
    try:
        zero = values == 0
        return bool(zero.all()) if hasattr(zero, "all") else False
    except (TypeError, ValueError):
        return False


def _add_block_note(exc: BaseException, index, rows) -> None:
    note = f"gpuinc: raised by partial_fit on {_describe(index, rows)}"
    if hasattr(exc, "add_note"):
        exc.add_note(note)


def _device_mover(kind: str, home: str):
    """A mover that sends host blocks to the device ahead of training, or None."""
    if home == DEVICE and KIND_HOME[kind] == HOST:
        from ._gpu import DeviceMover

        return DeviceMover()
    return None


#: Set (by :func:`stop_on_interrupt`'s Ctrl-C handler) to stop a local pass after the block
#: in progress, even when the estimator caught the KeyboardInterrupt itself (scikit-learn's
#: MLP models do: they warn and return).
STOP_REQUESTED = threading.Event()
_INTERRUPT_DEPTH = [0]
#: the thread whose pass STOP_REQUESTED stops (the main thread, where the handler runs);
#: passes that run in other threads of the process (an in-process cluster's workers) are
#: stopped by cancelling them
_STOP_THREAD = [None]


def _stop_requested() -> bool:
    return STOP_REQUESTED.is_set() and threading.get_ident() == _STOP_THREAD[0]


@contextlib.contextmanager
def stop_on_interrupt():
    """Ctrl-C stops training, even if the estimator catches KeyboardInterrupt.

    scikit-learn's MLP models catch it inside ``partial_fit``, warn and
    return: training went on from a half-trained block, and the fit ended as
    if nothing had happened.  While this is active (in the main thread) the
    signal also sets ``STOP_REQUESTED``: a pass in this process stops after
    the block in progress, and a fit that ends with the flag set counts as
    interrupted.  Nested uses share the outermost one.
    """
    import signal

    if threading.current_thread() is not threading.main_thread() or _INTERRUPT_DEPTH[0]:
        yield  # signal handlers belong to the main thread; an outer use is in charge
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler:
        yield  # SIGINT ignored, or handled by the program's own handler: left as it is
        return

    def handler(signum, frame):
        STOP_REQUESTED.set()
        raise KeyboardInterrupt

    STOP_REQUESTED.clear()
    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main interpreter, or signals unavailable here
        yield
        return
    _STOP_THREAD[0] = threading.get_ident()
    _INTERRUPT_DEPTH[0] += 1
    try:
        yield
        if STOP_REQUESTED.is_set():  # caught by the estimator in the pass's last block
            raise KeyboardInterrupt
    finally:
        _INTERRUPT_DEPTH[0] -= 1
        signal.signal(signal.SIGINT, previous)
        STOP_REQUESTED.clear()


class LocalRunner:
    """Trains in the calling thread; a loader thread computes blocks ahead.

    When host blocks train on the device, the loader thread also starts
    their copy to the device (pinned staging buffers, a copy stream), so
    block *k+1* travels while block *k* trains.
    """

    def __init__(self, prefetch: int = 2, scheduler=None, independent: bool = False):
        self.prefetch = max(0, int(prefetch))
        self.scheduler = scheduler  # for dask.compute; "sync" inside a worker's task
        # independent: the blocks are known to share no work (a one-task pass's)
        self.independent = independent
        self._shared = None  # (ids of blocks checked, _shared_work of them)

    def _shared_work(self, blocks):
        return _shared_work_of_fit(self, blocks, _not_in_memory)

    def run(self, model, blocks, static_kwargs, *, kind, home, on_block=None, stats=None,
            progressive=None, group_runs=True):  # group_runs: distributed runner only
        stats = stats if stats is not None else ChainStats()
        where = {"kind": kind, "home": home, "progressive": progressive}
        mover = _device_mover(kind, home)

        loads = [0]  # blocks loaded so far: load() is called for each in order

        def load(block):
            stats.start_block()
            pos, loads[0] = loads[0], loads[0] + 1
            if hold is None:
                x, y, kw = _compute_block(block, self.scheduler)
            else:  # the work this block shares with others: computed once, then held
                hold.before(pos, lambda delayed: dask.compute(
                    *delayed, scheduler=self.scheduler or _default_local_scheduler()))
                x, y, kw = _compute_block(block, self.scheduler, shared, hold.values)
                hold.after(pos)
            if mover is None:
                return (x, y, kw), None
            n = check_block(x, y, kw, index=block.index, rows=block.rows, kind=kind)
            return None, (mover.submit((x, y, kw)) if n else None)

        def train(model, block, loaded):
            data, sent = loaded
            if data is None and sent is None:  # an empty block
                stats.progressive.append(None)
                return model, 0
            x, y, kw = data if data is not None else mover.ready(sent)
            model, stat, n = fit_block(model, x, y, kw, static_kwargs, index=block.index,
                                    rows=block.rows, checked=data is None, **where)
            if data is None:
                mover.block_done()
            stats.progressive.append(stat)
            if _stop_requested():
                raise KeyboardInterrupt("stop requested")
            return model, n

        base, done = len(stats.progressive), [0]  # for the snapshots given to on_block

        def finished(pos, block, model, n):
            stats.end_block(n)
            done[0] += n
            if on_block is not None:  # the snapshot is sliced only when asked for
                end = len(stats.progressive)
                on_block(pos, block, lambda m=model, r=done[0], e=end:
                         (m, r, stats.progressive[base:e]))

        blocks = list(blocks)
        lazy = not all(_in_memory(v) is not _LAZY for b in blocks for v in _pieces(b))
        shared = self._shared_work(blocks) if lazy and not self.independent else None
        hold = None if shared is None else _PassHold(shared, blocks)
        try:
            # blocks already in this process's memory (persisted chunks) have nothing to load
            # ahead: a loader thread would only cost a hand-over per block
            if self.prefetch == 0 or (mover is None and not lazy):
                for pos, block in enumerate(blocks):
                    model, n = train(model, block, load(block))
                    finished(pos, block, model, n)
                return model
            pending = deque()
            loader, done_all = _Loader(load), False
            try:
                nxt = 0
                for pos, block in enumerate(blocks):
                    # keep `prefetch` blocks loading beyond the one being trained
                    while nxt < len(blocks) and nxt <= pos + self.prefetch:
                        pending.append(loader.submit(blocks[nxt]))
                        nxt += 1
                    model, n = train(model, block, pending.popleft().result())
                    finished(pos, block, model, n)
                done_all = True
            finally:
                for fut in pending:
                    fut.cancel()
                # after an error or Ctrl-C a read that hangs (a stalled file system) must
                # not hold the caller; the device mover's buffers are in use until it ends
                loader.close(wait=done_all or mover is not None)
            return model
        finally:
            if hold is not None:  # (an error's traceback would keep them as long as it lives)
                hold.values.clear()
            if mover is not None:
                mover.close()


class _Loader:
    """One daemon thread that runs ``fn`` on the blocks submitted, in order.

    Like a one-thread ``ThreadPoolExecutor``, but a daemon: a load stuck in a
    read that never returns neither blocks :meth:`close` (``wait=False``) nor
    the interpreter's exit.
    """

    def __init__(self, fn):
        self._fn = fn
        self._queue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="gpuinc-load", daemon=True)
        self._thread.start()

    def submit(self, block) -> Future:
        fut = Future()
        self._queue.put((fut, block))
        return fut

    def _work(self):
        while (item := self._queue.get()) is not None:
            fut, block = item
            if not fut.set_running_or_notify_cancel():
                continue  # cancelled while waiting
            try:
                fut.set_result(self._fn(block))
            except BaseException as exc:  # noqa: BLE001 - handed to the trainer
                fut.set_exception(exc)

    def close(self, wait: bool = True) -> None:
        self._queue.put(None)
        if wait:
            self._thread.join()


def _in_memory(value):
    """The value behind a lazy piece that only names data already in memory, else ``_LAZY``.

    A chunk of a collection persisted without a distributed client is a
    graph of one data node; reading it directly skips ``dask.compute``
    (~0.7 ms a block of work under the GIL, which the training thread waits
    for).
    """
    if not dask.is_dask_collection(value):
        return value
    if DataNode is None:  # pragma: no cover
        return _LAZY
    keys = value.__dask_keys__()
    if len(keys) != 1 or not isinstance(keys[0], (str, tuple)):
        return _LAZY
    graph = value.__dask_graph__()
    if len(graph) != 1:
        return _LAZY
    node = graph.get(keys[0])
    return node.value if isinstance(node, DataNode) else _LAZY


_LAZY = object()


def _not_in_memory(value) -> bool:
    """For a lazy piece: not one that only names data in memory (see ``_in_memory``)."""
    if DataNode is None:  # pragma: no cover
        return True
    graph = value.__dask_graph__()
    return len(graph) != 1 or not isinstance(graph.get(getattr(value, "key", None)), DataNode)


def _compute_block(block, scheduler=None, shared=None, held=None):
    """``(x, y, kwargs)`` of a block, in memory.

    ``shared``: the blocks' ``_SharedWork``, whose ``held`` values (computed
    for the pass) stand in for the block's tasks that compute them.
    """
    pieces = [_in_memory(v) for v in _pieces(block)]
    if any(v is _LAZY for v in pieces):
        if scheduler is None:
            scheduler = _default_local_scheduler()
        if shared is not None and id(block) in shared.blocks:
            x, y, *values = shared.block_pieces(block, held)
            kwargs = dict(zip(block.kwargs, values, strict=True))
            return dask.compute(x, y, kwargs, scheduler=scheduler)
        return dask.compute(block.x, block.y, block.kwargs, scheduler=scheduler)
    x, y, *values = pieces
    return x, y, dict(zip(block.kwargs, values, strict=True))


class DistributedRunner:
    """Runs a pass on the workers, where the blocks are held or read.

    Blocks whose lazy pieces the cluster already holds (persisted
    collections) cost nothing to load, so the prefetch bound protects no
    memory: their whole chain is submitted at once with the existing futures,
    and consecutive blocks held by one worker, with small blocks held elsewhere
    (``RUN_FETCH_BYTES``), are trained by one task (``group_runs``), saving a
    scheduler round trip and a model transfer per block. Lazy blocks that each
    compute alone are read and trained by one task on one worker (``_run_in_one_task``) unless ``group_runs`` is off
    (block-level checkpoints need the model after every block). Blocks whose
    lazy pieces compute from held data alone, each by steps of its own
    (``_on_held_plans``), are trained as held blocks, their steps run inside the
    fit task. Held runs on several workers are trained as a relay (``_relay.run_relay``: one task per
    worker, the model sent directly between them). Other blocks are computed at
    most ``prefetch`` ahead, each next to its ``partial_fit``; the work they share
    (``_shared_work``) is computed once a pass, and held while blocks need it.
    """

    def __init__(self, client, prefetch: int = 2):
        self.client = client
        self.prefetch = max(0, int(prefetch))
        self._independent = (frozenset(), False)  # (ids of blocks checked, result)
        # the tasks of the pass in progress pickle the model they trained when _pickle_check
        # is set (see _check_model_pickles); _pickle_checked: a pass of this fit has run
        self._pickle_checked = False
        self._pickle_check = self._pickle_every = False

    def _checks_pickle(self, n) -> bool:
        """Whether the pass's task number ``n`` checks that its model pickles."""
        return self._pickle_check and (self._pickle_every or n == 0)

    def _blocks_independent(self, blocks) -> bool:
        """``_blocks_are_independent``, checked once per fit: a later pass trains the
        same blocks (or some of them), and any subset of independent blocks is
        independent too.  (It reads every block's graph: ~3.5 ms a block.)"""
        ids = frozenset(id(b) for b in blocks)
        checked, result = self._independent
        if result and ids <= checked:
            return True
        result = _blocks_are_independent(self.client, blocks)
        self._independent = (ids, result)
        return result

    def _shared_work(self, blocks):
        client = self.client
        return _shared_work_of_fit(self, blocks, lambda v: not _held(client, v))

    def _plans_on_held(self, blocks):
        """``_on_held_plans`` of the blocks, once per fit (later passes train the same ones)."""
        ids = tuple(id(b) for b in blocks)
        cached = getattr(self, "_on_held", None)
        if cached is not None and set(ids) <= set(cached[0]):
            by_id = dict(zip(cached[0], cached[1], strict=True)) if cached[1] else None
            return None if by_id is None else [by_id[i] for i in ids]
        plans = _on_held_plans(self.client, blocks)
        self._on_held = (ids, plans)
        return plans

    def run(self, model, blocks, static_kwargs, *, kind, home, on_block=None, stats=None,
            progressive=None, group_runs=True):
        stats = stats if stats is not None else ChainStats()
        blocks = list(blocks)
        where = {"kind": kind, "home": home, "progressive": progressive}
        token = dask.base.tokenize(object())
        inproc = str(getattr(self.client.scheduler, "address", "")).startswith("inproc")
        if inproc:
            # an in-process cluster hands models between workers unpickled, but the client
            # pickles what it submits: a trained model (a later pass, or partial_fit after
            # fit) is checked here, else distributed's bare "cannot pickle ..."
            _check_model_pickles(model)
        # every task on the host (~20 us a block for a linear model); on a device (where
        # pickling copies the model to the host) the fit's first task only
        self._pickle_check = not inproc and (home == HOST or not self._pickle_checked)
        self._pickle_every = home == HOST
        self._pickle_checked = True
        if blocks and all(_held(self.client, v) for b in blocks for v in _pieces(b)):
            state = self._run_held(model, blocks, static_kwargs, where, token, on_block, stats,
                                   group_runs)
        elif (ONE_TASK_PASSES and group_runs and blocks and self._blocks_independent(blocks)
              and not any(dask.is_dask_collection(v) and _held(self.client, v)
                          for b in blocks for v in _pieces(b))):
            return self._run_in_one_task(model, blocks, static_kwargs, where, token, on_block,
                                         stats)
        elif blocks and (plans := self._plans_on_held(blocks)) is not None:
            state = self._run_held(model, blocks, static_kwargs, where, token, on_block, stats,
                                   group_runs, plans)
        else:
            state = self._run_windowed(model, blocks, static_kwargs, where, token, on_block,
                                       stats)
        if not isinstance(state, tuple):
            state = state.result()
        model, rows, progressive_stats = state
        stats.rows += rows
        stats.progressive.extend(progressive_stats)
        return model

    def _run_in_one_task(self, model, blocks, static_kwargs, where, token, on_block, stats):
        """The whole pass as one task: a worker reads and trains like the local runner.

        For blocks that can each be computed alone (see ``_blocks_are_independent``):
        no block or model then moves between workers, and no scheduler round trip
        sits between two blocks.  Progress comes back as events while the task runs.
        """
        client = self.client
        reported = set()
        events = queue.SimpleQueue()  # positions trained

        def report(pos):
            if pos in reported or pos >= len(blocks):
                return
            reported.add(pos)
            if on_block is not None:
                on_block(pos, blocks[pos], _model_inside_task)

        # the client's event loop only queues; reports run here, in the caller's
        # thread, where an error in them stops the pass
        _PROGRESS[token] = events.put
        fut = None
        try:
            _subscribe_progress(client)
            fut = client.submit(
                _pass_task, model, _Opaque(blocks), static_kwargs, prefetch=self.prefetch,
                token=token, check_pickle=self._pickle_check, **where,
                key=f"gpuinc-pass-{token}", pure=False,
                **_warm_placement(client),
            )
            # no done callback: distributed runs those on one shared thread, which a fit
            # started from another callback would be holding
            result = None
            while result is None:
                try:
                    item = events.get(timeout=_POLL_S)
                except queue.Empty:
                    if fut.done():
                        result = fut.result()
                    continue
                if isinstance(item, _Pushed) and item.payload is None:
                    result = fut.result()  # the task is returning a result too large to push
                elif isinstance(item, _Pushed):
                    result = item
                    _hold_while_ending(client, [fut])
                else:
                    report(item)
            model, counts, progressive_stats, worker = _unpushed(result)
            _LAST_PASS[client] = (worker, fut.key)
        except BaseException as exc:
            if fut is not None:
                with contextlib.suppress(Exception):
                    fut.cancel()  # the task stops at its next block (see _pass_task)
            _raise_if_client_gone(client, exc)
            # progress events may lag behind the task's death: no block is blamed
            _raise_if_workers_died(
                exc, f"the pass over blocks {blocks[0].index} to {blocks[-1].index} (one task "
                f"reads and trains them in order; {len(reported)} had been reported done)")
            raise
        finally:
            _PROGRESS.pop(token, None)
        for pos in range(len(blocks)):  # events still on their way are not waited for
            report(pos)
        n_blocks, rows, max_in_flight = counts
        with stats._lock:
            stats.blocks += n_blocks
            stats.rows += rows
            stats.max_in_flight = max(stats.max_in_flight, max_in_flight)
        stats.progressive.extend(progressive_stats)
        return model

    def _run_windowed(self, model, blocks, static_kwargs, where, token, on_block, stats):
        local = self._blocks_independent(blocks)
        # the work blocks share (a reduction's result, a shuffle's store): computed once
        # and held for the pass, instead of again by every block that needs it
        shared = None if local else self._shared_work(blocks)
        hold = None if shared is None else _PassHold(shared, blocks)
        try:
            return self._run_chain(model, blocks, static_kwargs, where, token, on_block,
                                   stats, local, hold)
        finally:
            if hold is not None:
                _release(list(hold.values.values()))
                hold.values.clear()

    def _run_chain(self, model, blocks, static_kwargs, where, token, on_block, stats, local,
                   hold):
        client = self.client
        outstanding = deque()  # (pos, block, fit future, futures this call created)
        from distributed import wait

        state = (model, 0, [])
        # the fits of the last `lag` blocks: each model the chain hands on is released
        # once nothing waits for it (the whole list would hold one model per block)
        lag = max(2, self.prefetch)
        fits = deque(maxlen=lag)

        settling = [None]  # the block whose fit is awaited (named if its workers die)

        def settle():
            # left in `outstanding` until its fit is known to have gone well: a failed one
            # (and its block's data) is released with the rest of the pass
            pos, block, fut, data = outstanding[0]
            settling[0] = block
            wait([fut])
            if fut.status != "finished":
                fut.result()  # raises the task's error, with its block in the message
            stats.end_block(0)
            if on_block is not None:
                on_block(pos, block, fut.result)  # (model, rows, progressive) so far
            outstanding.popleft()
            del data

        # A load waits for the fit `lag` blocks back: with one thread per worker, a load
        # queued early takes the thread before the fit of the block just loaded there,
        # and the chain stalls behind it. Waiting for fit k - 2, load k runs while
        # fit k - 1 trains on another worker.
        try:
            for pos, block in enumerate(blocks):
                while len(outstanding) > self.prefetch:
                    settle()
                after = fits[0] if len(fits) == lag else None  # the fit of block pos - lag
                if hold is not None:  # the shared work this block needs, computed once
                    hold.before(pos, client.compute)
                (x_f, y_f, kw_f, loaded), loads = _resolve(
                    self.client, block, local=local, after=after,
                    shared=None if hold is None else (hold.shared, hold.values))
                if hold is not None:  # (the block's tasks keep what they need until done)
                    _release(hold.after(pos))
                stats.start_block()
                state = client.submit(
                    _fit_task, state, x_f, y_f, kw_f, static_kwargs, loaded=loaded,
                    index=block.index, rows=block.rows, **where,
                    check_pickle=self._checks_pickle(pos),
                    key=f"gpuinc-partial-fit-{token}-{pos}", pure=False,
                    # training is the critical path: a worker with a ready fit runs it
                    # before starting to load another block
                    priority=1,
                )
                outstanding.append((pos, block, state, loads))
                fits.append(state)
            while outstanding:
                settle()
        except BaseException as exc:
            # stop the chain and the reads this call started; never the caller's own
            # (persisted) futures, which share keys with what they hold
            # (the error a future raised keeps it, through its traceback, as long as the
            # error lives: released explicitly, the cluster forgets it now)
            _release([item[2] for item in outstanding]
                     + [f for item in outstanding for f in item[3]] + list(fits)
                     + ([state] if not isinstance(state, tuple) else []))
            _raise_if_client_gone(client, exc)
            if settling[0] is not None:
                _raise_if_workers_died(exc, _describe(settling[0].index, settling[0].rows))
            raise
        return state

    def _run_held(self, model, blocks, static_kwargs, where, token, on_block, stats,
                  group_runs, plans=None):
        client = self.client
        from distributed import wait

        plans = plans if plans is not None else [None] * len(blocks)
        resolved = [_resolve(client, b, on_held=plan)[0]
                    for b, plan in zip(blocks, plans, strict=True)]
        reported = set()  # blocks a broken relay reported done: not reported again
        owned = []
        runs = (_runs_by_worker(client, resolved, owners=owned) if group_runs
                else [[i] for i in range(len(blocks))])
        owners = _relay_owners(owned) if group_runs and where["home"] == HOST else None
        if owners is not None:
            from . import _relay

            if (_relay.ENABLED and not _relay.recently_not_running(client, owners)
                    and _relay.ensure_plugin(client)):
                try:
                    return _relay.run_relay(client, model, blocks, resolved, runs, owners,
                                            static_kwargs, where, on_block, stats, reported,
                                            check_pickle=self._checks_pickle)
                except _relay.RelayBroken as exc:
                    # a relay cancelled because the client lost its scheduler says so now
                    _raise_if_client_gone(client, exc)
                    # else trained again as a chain, from the model the pass started with
                except BaseException as exc:
                    _raise_if_client_gone(client, exc)
                    raise
        state = (model, 0, [])
        submitted = deque()
        awaited = None
        try:
            for r, run in enumerate(runs):
                state = client.submit(
                    _fit_run_task, state, [resolved[i] for i in run], static_kwargs,
                    indices=[blocks[i].index for i in run], rows=[blocks[i].rows for i in run],
                    **where, check_pickle=self._checks_pickle(r),
                    key=f"gpuinc-partial-fit-{token}-{r}", pure=False, priority=1,
                )
                submitted.append((run, state))
            while submitted:
                # dropped once reported: a model the next task has taken is then released
                run, fut = submitted[0]
                awaited = run
                wait([fut])
                if fut.status != "finished":
                    fut.result()  # raises the task's error, with its block in the message
                for i in run:
                    if i not in reported:  # (model, rows, progressive) after the run
                        _report_held_block(stats, on_block, i, blocks[i], fut.result)
                submitted.popleft()
                del fut
        except BaseException as exc:
            _release([fut for _, fut in submitted])  # the chain only, never the data
            _raise_if_client_gone(client, exc)
            if awaited:
                first, last = blocks[awaited[0]], blocks[awaited[-1]]
                _raise_if_workers_died(exc, _describe(first.index, first.rows) if first is last
                                       else f"one of blocks {first.index} to {last.index}")
            raise
        return state


def _relay_owners(owned):
    """Each run's worker, if the runs (``(worker, bytes fetched)`` from ``_runs_by_worker``)
    can be trained as a relay; else None.

    A relay needs two workers or more, each run held by a known one, and no
    relay task fetching more than ``RUN_FETCH_BYTES``: it fetches the foreign
    blocks of all its runs at once, where the chain's task of one run fetches
    those of that run only.
    """
    fetched = {}
    for owner, n in owned:
        fetched[owner] = fetched.get(owner, 0) + n
    if len(fetched) < 2 or None in fetched or max(fetched.values()) > RUN_FETCH_BYTES:
        return None
    return [owner for owner, _ in owned]


def _release(futures) -> None:
    """Stop what a failed pass started, by letting go of its futures.

    Released, a task nobody else wants is forgotten by the scheduler, and a
    running one is cancelled on its worker (see ``_task_cancelled``); the
    caller's own futures of the same keys (persisted data) keep theirs.
    ``Client.cancel`` is not used: it also cancels the tasks that depend on a
    key, and ``distributed`` (2026.8) fails an assertion on such a task that no
    client wants (an intermediate task of the data's graph), which drops the
    client's connection to the scheduler: the next fit then failed with "the
    Dask client lost its connection".  A closed client has nothing left to
    release (and its error would hide the one that stopped the pass).
    """
    for future in futures:
        with contextlib.suppress(Exception):
            future.release()


class WorkersDiedError(RuntimeError):
    """Every worker that ran a block's task died (killed, out of memory, a crash)."""


def _raise_if_workers_died(exc: BaseException, what: str) -> None:
    """Name the block whose task killed every worker that ran it (distributed's
    KilledWorker names only an internal task)."""
    try:
        from distributed.scheduler import KilledWorker
    except ImportError:  # pragma: no cover - distributed is a dependency
        return
    if not isinstance(exc, KilledWorker):
        return
    tries = getattr(exc, "allowed_failures", None)
    who = (f"{tries + 1} worker(s) in a row" if isinstance(tries, int) else "the workers")
    raise WorkersDiedError(
        f"{who} died running {what}: killed, out of memory, or a crash in native code. The "
        "fit stops. See the workers' logs; if they ran out of memory, make the blocks "
        "smaller (e.g. a smaller blocksize) or give the workers more memory."
    ) from exc


class _ClientGone(RuntimeError):
    """A fit's Dask client closed or lost its scheduler (said once, however deep)."""


def _raise_if_client_gone(client, exc: BaseException) -> None:
    """Say what happened when a pass failed because its client closed or lost the scheduler."""
    status = str(getattr(client, "status", ""))
    if (not isinstance(exc, Exception) or isinstance(exc, _ClientGone)
            or status not in ("closing", "closed", "connecting")):
        return
    what = ("lost its connection to the scheduler" if status == "connecting"
            else "was closed")
    raise _ClientGone(
        f"the Dask client {what} during the fit ({type(exc).__name__}: {exc}); the wrapper "
        "keeps what it held before this call. Fit again with a running client (with "
        "checkpoint= the fit resumes from its last checkpoint)."
    ) from exc


#: Train a pass over independent lazy blocks as one task (``_run_in_one_task``);
#: False: always chain one task per block (tests of the chain set this).
ONE_TASK_PASSES = True
PROGRESS_TOPIC = "gpuinc-progress"
_PROGRESS: dict = {}  # run token -> callback(position), for this client's passes
#: A pass's result no larger than this, pickled, comes back with a last event of its own
#: (through the scheduler, which keeps a topic's last 1,000 events: this bounds what they
#: hold), instead of being fetched from the worker once the task has ended: a round trip
#: less at the end of every pass.  Larger results are fetched.
PUSH_RESULT_BYTES = 16 * 1024
#: client -> (address of the worker of its last one-task pass, the key of that pass's task)
#: (gone with the client)
_LAST_PASS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: ``[(deadline, future)]``: the futures of passes whose results came with their last event,
#: held until their tasks have ended, so that they end as finished (released while running,
#: they would be cancelled, and missing from the task stream and the dashboard).  A daemon
#: thread lets go of each once its task is done (or ENDING_HOLD_S later at most): a pass's
#: task may hold the whole dataset (da.from_array and dd.from_pandas embed it in the graph)
_ENDING: list = []
_ENDING_LOCK = threading.Lock()
_ENDING_SWEEPER: list = [None]  # the thread sweeping _ENDING, while it holds anything
ENDING_HOLD_S = 30.0
#: client -> weak reference to the scheduler connection its progress subscription was sent on
_SUBSCRIBED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_POLL_S = 0.05  # how often a waiting pass looks whether its task ended without a last event


def _hold_while_ending(client, futures) -> None:
    """Hold ``futures`` (of ``client``) until their tasks have ended, then release them."""
    deadline = time.monotonic() + ENDING_HOLD_S
    with _ENDING_LOCK:
        _ENDING.extend((deadline, f) for f in futures)
        if _ENDING_SWEEPER[0] is None:
            thread = threading.Thread(target=_sweep_ending, name="gpuinc-ending", daemon=True)
            _ENDING_SWEEPER[0] = thread
            thread.start()


def _sweep_ending() -> None:
    """Release the held futures whose tasks are done (see ``_ENDING``); end when none is left.

    A thread, not a done callback: distributed runs those on one shared thread, which a
    fit started from another callback could be holding.
    """
    while True:
        time.sleep(_POLL_S)
        with _ENDING_LOCK:
            now = time.monotonic()
            done, kept = [], []
            for item in _ENDING:
                if now >= item[0] or item[1].done():
                    done.append(item[1])
                else:
                    kept.append(item)
            _ENDING[:] = kept
            last = not kept
            if last:
                _ENDING_SWEEPER[0] = None
        _release(done)
        del done
        if last:
            return


def _warm_placement(client) -> dict:
    """``submit`` keywords sending a pass to the worker of the client's previous pass.

    Its memory is warm (the blocks' arrays come from pages it already has; a
    fresh worker's first pass waits on the kernel for new ones).  Only while
    that worker is idle: the preference is taken by the pass that uses it, so
    concurrent fits spread over the workers, and a busy worker is not waited for.
    """
    last, ending = _LAST_PASS.pop(client, (None, None))
    if last is None:
        return {}
    try:
        busy = client.processing(workers=[last]).get(last)
    except Exception:  # the scheduler could not say: no preference
        return {}
    # (the previous pass's task may still be ending: its result came with its last event)
    if busy is None or any(str(k) != ending for k in busy):
        return {}  # gone, or running something
    return {"workers": [last], "allow_other_workers": True}


def _subscribe_progress(client) -> None:
    """Subscribe ``client`` to the progress topic, once per connection to its scheduler.

    A scheduler keeps its subscribers in memory, and a client that reconnects
    (to a restarted scheduler) does not send its subscriptions again: without
    a new one, a pass's progress would only be reported when the pass ends.
    """
    comm = getattr(client, "scheduler_comm", None)
    sent_on = _SUBSCRIBED.get(client)
    if comm is not None and sent_on is not None and sent_on() is comm:
        return
    client.subscribe_topic(PROGRESS_TOPIC, _dispatch_progress)
    if comm is not None:
        _SUBSCRIBED[client] = weakref.ref(comm)


def _dispatch_progress(event):
    """Client-side handler of the progress events of every one-task pass.

    The callback receives the position of a block trained, a :class:`_Pushed`
    result, or that a relay task started (:class:`_Started`).
    """
    _, msg = event
    callback = _PROGRESS.get(msg.get("token")) if isinstance(msg, dict) else None
    if callback is None:
        return
    if "result" in msg:
        callback(_Pushed(msg["result"]))
    elif "start" in msg:
        callback(_Started(msg["start"]))
    else:
        callback(int(msg["pos"]))


@dataclass(frozen=True)
class _Started:
    """A task of a relay pass started (the number of its first run)."""

    run: int


@dataclass(frozen=True)
class _Pushed:
    """A pass's result as its task pickled it (see :func:`_push_result`); None: too large
    to be sent as an event (the client then fetches it)."""

    payload: bytes | None


def _push_result(worker, token, result, home):
    """What a pass's task returns, after its last event.

    A small result (``PUSH_RESULT_BYTES``, pickled) of a model on the host is
    pickled here, sent with that event and returned pickled (read it with
    :func:`_unpushed`); otherwise the event says that the result is not coming
    that way (the client fetches it at once, instead of waiting to see the
    task end), and it is returned as it is, for distributed to send.
    """
    payload = None
    if home == HOST:  # device arrays travel with distributed's own serializers
        from distributed.protocol.pickle import dumps

        with contextlib.suppress(Exception):  # distributed may still manage: it tries harder
            buffers = []  # (large arrays are not copied to be measured)
            payload = dumps(result, buffer_callback=buffers.append)
            size = len(payload) + sum(memoryview(b).nbytes for b in buffers)
            if size > PUSH_RESULT_BYTES:
                payload = None
            elif buffers:
                payload = dumps(result)  # in one piece
    worker.log_event(PROGRESS_TOPIC, {"token": token, "result": payload})
    return result if payload is None else _Pushed(payload)


def _unpushed(result):
    """The result of a pass's task (pushed or fetched), unpickled if it came pickled."""
    if isinstance(result, _Pushed) and result.payload is not None:
        from distributed.protocol.pickle import loads

        return loads(result.payload)
    return result


def _model_inside_task():
    raise RuntimeError("the model of a one-task pass is only known when the pass ends")


#: ``on_block(pos, block, snapshot)`` is called after each block a runner trains;
#: ``snapshot()`` returns ``(model, rows, progressive)``: the model after that block,
#: and the rows and progressive statistics of the blocks trained so far by this
#: ``run`` call (one-task passes cannot say: they run with group_runs only).


class _PassCancelled(Exception):
    """Raised inside a one-task pass whose future was cancelled."""


def _pass_task(model, opaque, static_kwargs, *, prefetch, token, check_pickle=False, **where):
    """Worker side of ``_run_in_one_task``: the local runner, computing blocks here.

    After every block it reports progress and stops if the client cancelled it.
    """
    from dask.local import get_sync

    worker, key = _this_task()

    def on_block(pos, block, snapshot):
        worker.log_event(PROGRESS_TOPIC, {"token": token, "pos": pos})
        if _task_cancelled(worker, key):
            raise _PassCancelled(f"gpuinc: pass {token} was cancelled")

    stats = ChainStats()
    with reusing_memory():
        # a function, not "sync": Dask then skips looking for a client on every block
        model = LocalRunner(prefetch, scheduler=get_sync, independent=True).run(
            model, opaque.value, static_kwargs, on_block=on_block, stats=stats, **where
        )
    if check_pickle:  # (distributed's own error would not say what to do)
        _check_model_pickles(model)
    return _push_result(worker, token, (model, (stats.blocks, stats.rows, stats.max_in_flight),
                                        stats.progressive, worker.address), where["home"])


def _this_task():
    """``(worker, key)`` of the task running this code; ``(None, None)`` outside a worker."""
    from distributed import get_worker
    from distributed.worker import thread_state

    try:
        worker = get_worker()
    except ValueError:
        return None, None
    return worker, getattr(thread_state, "key", None)


def _task_cancelled(worker, key) -> bool:
    """The worker's task ``key`` (the one running this code) was cancelled or released."""
    if key is None:
        return False
    task = worker.state.tasks.get(key)
    return task is None or task.state in ("cancelled", "released")


def _report_held_block(stats, on_block, pos, block, snapshot) -> None:
    """Count and report one trained block of a held pass (not loaded ahead: one at a time)."""
    stats.start_block()
    stats.end_block(0)
    if on_block is not None:
        on_block(pos, block, snapshot)


def _pieces(block):
    return (block.x, block.y, *block.kwargs.values())


def _held(client, value) -> bool:
    """In memory already: not lazy, or a piece whose key the cluster holds (persisted)."""
    if not dask.is_dask_collection(value):
        return True
    return _held_key(client, value) is not None


def _held_key(client, value):
    """The key the cluster holds for a lazy piece, or None (see :func:`_persisted_key`)."""
    key = getattr(value, "key", None)
    if key is None:
        return None
    return _persisted_key(value.__dask_graph__(), key, client)


def _resolve(client, block, *, local=False, after=None, on_held=None, shared=None):
    """``((x, y, kwargs, loaded), loads)``: the block with its lazy pieces as futures.

    Pieces the cluster holds reuse their futures (no graph is built or sent).
    The other lazy pieces are computed by one task when ``local`` (the blocks
    are independent: see :func:`_blocks_are_independent`), whose future is
    ``loaded`` and whose items replace ``_Part`` placeholders in the fit task;
    otherwise by one ``client.compute`` call.  Those futures are returned in
    ``loads`` too (only they may be cancelled); in-memory pieces travel with
    the task.  ``shared``: ``(_SharedWork, {held key: future})``, the work blocks share,
    held for the pass: the block's own tasks are computed, using those futures.
    """
    from distributed import Future

    pieces = list(_pieces(block))
    if shared is not None and id(block) in shared[0].blocks:
        pieces = shared[0].block_pieces(block, shared[1])
    if on_held is not None:
        # computed from held data inside the fit task (see _on_held_plans): the data are
        # the task's dependencies, the block's own small graph travels with it.  The plan
        # says which pieces it computes (the client's view of what it holds may change).
        graph, leaves, computed = on_held
        for i, value in enumerate(pieces):
            if dask.is_dask_collection(value) and i not in computed:
                pieces[i] = Future(_held_key(client, value), client)
        loaded = [_ON_HELD, _Opaque((graph, [pieces[i].key for i in computed], leaves)),
                  [Future(k, client) for k in leaves]]
        for j, i in enumerate(computed):
            pieces[i] = _Part(j)
        x, y, *kw_values = pieces
        return (x, y, dict(zip(block.kwargs, kw_values, strict=True)), loaded), []
    lazy = []
    for i, value in enumerate(pieces):
        if not dask.is_dask_collection(value):
            continue
        key = _held_key(client, value)
        if key is not None:
            pieces[i] = Future(key, client)
        else:
            lazy.append(i)
    if lazy and local:
        # One task computes the block's whole graph on its worker (the threaded runner
        # does the same in its loader thread): the small steps of a block (splitting X
        # from y, picking columns) cost no scheduler round trip each.
        load = client.submit(_compute_here, _Opaque([pieces[i] for i in lazy]), after,
                             pure=False,
                             key=f"gpuinc-load-{dask.base.tokenize(object())}")
        loads = [load]
        for j, i in enumerate(lazy):
            pieces[i] = _Part(j)
        pieces.append(load)
    else:
        loads = client.compute([pieces[i] for i in lazy]) if lazy else []
        for i, fut in zip(lazy, loads, strict=True):
            pieces[i] = fut
        pieces.append(None)
    x, y, *kw_values, loaded = pieces
    return (x, y, dict(zip(block.kwargs, kw_values, strict=True)), loaded), loads


class _Opaque:
    """Keeps collections in a task's arguments from being read as part of its graph."""

    def __init__(self, value):
        self.value = value


@dataclass(frozen=True)
class _Part:
    """Stands for item ``i`` of a block's loaded pieces until the fit task fills it in."""

    i: int


def _compute_here(opaque, after=None):
    """Compute a block's pieces in this worker, with the synchronous scheduler.

    ``after``: the result of a task this load must wait for (unused).
    """
    with reusing_memory():
        return list(dask.compute(*opaque.value, scheduler="sync"))


def _blocks_are_independent(client, blocks) -> bool:
    """True when each block's lazy pieces can be computed alone, inside one task.

    That is: every piece's graph holds all the tasks it needs (nothing the
    cluster holds, no futures) and no task belongs to two blocks (a shuffle, a
    reduction or a shared input is better left to the scheduler, which
    computes it once).
    """
    from distributed import Future

    seen = set()
    for block in blocks:
        mine = set()
        for value in _pieces(block):
            if not dask.is_dask_collection(value) or _held(client, value):
                continue
            graph = dict(value.__dask_graph__())
            keys = set(graph)
            for node in graph.values():
                deps = getattr(node, "dependencies", None)
                if deps is None or not set(deps) <= keys:
                    return False
                if isinstance(node, Future) or isinstance(getattr(node, "value", None), Future):
                    return False
            mine |= keys
        if mine & seen:
            return False
        seen |= mine
    return True


#: At most this many rounds of finding what blocks share (see ``_shared_work``): each round
#: holds the outermost shared pieces; nested ones (a reduction feeding another) take more
SHARED_ROUNDS = 8


@dataclass
class _SharedWork:
    """What blocks share, found by :func:`_shared_work`: held once per pass.

    ``graph``: every block's tasks (their union); ``held``: the keys computed
    once a pass and held while blocks need them (see :class:`_PassHold`): the
    pieces that several blocks' own tasks use directly (a reduction's result, a
    shuffle's intermediate store, a chunk neighbours split); per block (by ``id``): ``(own, needs)``, the keys the
    block computes itself and the held keys those use.
    """

    graph: dict
    held: list
    blocks: dict

    def held_delayed(self, keys, values=None) -> list:
        """``Delayed`` objects computing ``keys`` together (their graph culled to them),
        from the held ``values`` computed already (data, or futures on a cluster)."""
        from dask.delayed import Delayed

        values = values or {}
        sub, stack = {}, list(keys)
        while stack:
            key = stack.pop()
            if key in sub or key not in self.graph:
                continue
            if key in values:
                value = values[key]
                sub[key] = value if _is_future(value) else DataNode(key, value)
                continue
            node = sub[key] = self.graph[key]
            stack.extend(getattr(node, "dependencies", ()))
        return [Delayed(k, sub) for k in keys]

    def block_pieces(self, block, values: dict) -> list:
        """The block's pieces (``_pieces`` order), each lazy one a ``Delayed`` of the block's
        own tasks, the held keys standing in as ``values`` (data on the threaded
        scheduler, futures on a cluster)."""
        from dask.delayed import Delayed

        own, needs = self.blocks[id(block)]
        dsk = {}
        for key in own:
            node = dsk[key] = self.graph[key]
            for dep in node.dependencies:  # a leaf (persisted data): as the block had it
                if dep not in own and dep not in needs and dep in self.graph:
                    dsk[dep] = self.graph[dep]
        for key in needs:
            value = values[key]
            dsk[key] = value if _is_future(value) else DataNode(key, value)
        pieces = []
        for value in _pieces(block):
            key = getattr(value, "key", None)
            if not dask.is_dask_collection(value) or key not in own and key not in needs:
                pieces.append(value)  # in memory, or held by the cluster
            elif key in needs:
                pieces.append(values[key])
            else:
                pieces.append(Delayed(key, dsk))
        return pieces


class _PassHold:
    """The held keys of a :class:`_SharedWork` during one pass over ``blocks``: each is
    computed when the first block that needs it loads (``before``) and let go of once
    the last one has (``after``).  A reduction's result is so held for the whole pass;
    a chunk that only neighbouring blocks share (a repartition or rechunk that splits
    it, ``map_overlap``), only while they load: what is held at once stays a few
    blocks' worth, not the dataset."""

    def __init__(self, shared: _SharedWork, blocks):
        self.shared = shared
        self.values: dict = {}  # held key -> its value (threads) or future (cluster)
        self.needs = [shared.blocks[id(b)][1] if id(b) in shared.blocks else set()
                      for b in blocks]
        self.last = {k: pos for pos, needs in enumerate(self.needs) for k in needs}

    def before(self, pos: int, compute) -> None:
        """Compute (``compute(list of Delayed) -> values``) the held keys that block
        ``pos`` needs and that are not held yet."""
        missing = [k for k in self.shared.held if k in self.needs[pos] and k not in self.values]
        if missing:
            got = compute(self.shared.held_delayed(missing, self.values))
            self.values.update(zip(missing, got, strict=True))

    def after(self, pos: int) -> list:
        """Let go of the held keys no block after ``pos`` needs; returns their values."""
        return [self.values.pop(k) for k in self.needs[pos]
                if self.last[k] == pos and k in self.values]


def _is_future(value) -> bool:
    distributed = sys.modules.get("distributed")
    return distributed is not None and isinstance(value, distributed.Future)


def _shared_work(blocks, lazy):
    """What the blocks' graphs share, as :class:`_SharedWork`; None when nothing is shared.

    ``lazy(value)``: whether a ``Delayed`` piece is to be computed (not in
    memory, not held by the cluster).  Each block computes the tasks reached
    from its pieces, stopping at held keys; a task more than one block would
    compute is shared.  The shared tasks that blocks' own tasks use directly
    (or that are pieces of several blocks) are held: the mean of
    ``X - X.mean(0)``, not the chunks it is computed from (each is then
    computed twice: once for the mean, once for its own block, not once per
    block), a shuffle's intermediate store.  Repeated until no task is computed
    by two blocks (nested reductions take a round each, up to
    ``SHARED_ROUNDS``).  Also None for lazy pieces other than ``Delayed``, or
    graphs of other nodes than tasks and futures (the blocks are then computed
    as they are).  Each round visits every task once.
    """
    from dask.delayed import Delayed

    graphs, outs = [], []  # per block: its pieces' graphs, their keys
    for block in blocks:
        mine, keys = [], []
        for value in _pieces(block):
            if not isinstance(value, Delayed):  # (asked first: Delayed's own test is slow)
                if dask.is_dask_collection(value) and lazy(value):
                    return None
                continue
            if lazy(value):
                mine.append(value.__dask_graph__())
                keys.append(value.key)
        graphs.append(mine)
        outs.append(keys)
    graph: dict = {}  # the tasks walked, from the blocks' graphs

    def node_of(key, j):
        node = graph.get(key)
        if node is None:
            for g in graphs[j]:
                node = g.get(key)
                if node is not None:
                    if not (hasattr(node, "dependencies") or _is_future(node)):
                        raise _Unfamiliar
                    graph[key] = node
                    break
        return node

    def walk(held):
        """Per block, the tasks it computes first; the tasks another block computes too."""
        owner, shared, walks = {}, set(), []
        for j, keys in enumerate(outs):
            own, stack = set(), list(keys)
            while stack:
                key = stack.pop()
                if key in own or key in held:
                    continue
                if key in owner:  # (and all it needs: see below)
                    shared.add(key)
                    continue
                node = node_of(key, j)
                if node is None or _is_future(node):
                    continue  # persisted data (a leaf): computed by no block
                own.add(key)
                owner[key] = j
                stack.extend(node.dependencies)
            walks.append(own)
        stack = list(shared)  # what a shared task needs is shared
        while stack:
            for dep in graph[stack.pop()].dependencies:
                if dep in owner and dep not in shared and dep not in held:
                    shared.add(dep)
                    stack.append(dep)
        return walks, shared

    held: set = set()
    try:
        for _ in range(SHARED_ROUNDS):
            walks, shared = walk(held)
            if not shared:
                break
            users: dict = {}  # shared key -> blocks whose own tasks use it directly
            for j, own in enumerate(walks):
                for key in outs[j]:
                    if key in shared:
                        users.setdefault(key, set()).add(j)
                for key in own:
                    if key not in shared:
                        for dep in graph[key].dependencies:
                            if dep in shared:
                                users.setdefault(dep, set()).add(j)
            more = {k for k, js in users.items() if len(js) > 1}
            if not more:
                break
            held |= more
        else:
            walks, shared = walk(held)
    except _Unfamiliar:
        return None
    if not held:
        return None
    per_block = {}
    for block, keys, own in zip(blocks, outs, walks, strict=True):
        # (with tasks still shared after the last round, the blocks compute what they
        # share again, each: as correct as before, only slower)
        if shared:
            own = _walk_from(keys, graph, held)
        needs = {k for k in keys if k in held}
        for key in own:
            needs.update(d for d in graph[key].dependencies if d in held)
        per_block[id(block)] = (own, needs)
    return _SharedWork(graph, [k for k in graph if k in held], per_block)


def _shared_work_of_fit(runner, blocks, lazy):
    """:func:`_shared_work` of the blocks, found once per fit and kept on the ``runner``
    (``runner._shared``): later passes train the same blocks, or some of them."""
    ids = frozenset(id(b) for b in blocks)
    cached = getattr(runner, "_shared", None)
    if cached is None or not ids <= cached[0]:
        cached = runner._shared = (ids, _shared_work(blocks, lazy))
    return cached[1]


class _Unfamiliar(Exception):
    """A graph node that is neither a task nor a future (see ``_shared_work``)."""


def _walk_from(keys, graph, held) -> set:
    """The tasks of ``graph`` that ``keys`` need, stopping at ``held`` keys and leaves."""
    own, stack = set(), list(keys)
    while stack:
        key = stack.pop()
        if key in own or key in held:
            continue
        node = graph.get(key)
        if node is None or _is_future(node):
            continue
        own.add(key)
        stack.extend(node.dependencies)
    return own


_ON_HELD = "gpuinc-on-held"


def _on_held_plans(client, blocks):
    """Per block, ``(graph, leaves, computed)`` when its pieces compute from persisted data alone.

    That is: every lazy piece's tasks lead only to persisted chunks, which its
    graph holds as futures (``leaves``, a list of their keys), through tasks of
    this block alone (``graph``), such as ``ddf[features]`` and ``ddf[target]``
    of a persisted ``ddf``.  ``computed``: the positions (in ``_pieces``
    order) of the pieces the graph computes; the others are persisted chunks
    themselves (among the leaves) or in memory.  Such a block is trained where
    its data are held, its pieces computed inside the fit task; None (for the
    whole pass) when any block is otherwise.

    Only futures the graphs hold count: a key the client holds for a while
    (something computed and not yet released) could be gone by the pass that
    uses the plan.
    """
    from distributed import Future

    plans, seen = [], set()
    for block in blocks:
        graph, leaves, computed = {}, [], []
        for pos, value in enumerate(_pieces(block)):
            if not dask.is_dask_collection(value):
                continue
            if _held_key(client, value) is not None:
                continue  # a persisted chunk itself
            source = value.__dask_graph__()
            computed.append(pos)
            stack = [value.key]
            while stack:
                key = stack.pop()
                if key in graph or key in leaves:
                    continue
                node = source.get(key)
                if isinstance(node, Future) or (node is None and key in client.futures):
                    leaves.append(key)  # persisted (aliases to it are tasks of the graph)
                    continue
                if node is None:
                    return None  # a key nowhere
                deps = getattr(node, "dependencies", None)
                if deps is None or _needs_the_cluster(key, node):
                    return None
                graph[key] = node
                stack.extend(deps)
        if not computed or not leaves or set(graph) & seen:
            # all persisted (the held path's), nothing persisted (plain lazy), or work
            # shared with another block
            return None
        seen |= set(graph)
        plans.append((graph, leaves, computed))
    return plans


def _persisted_key(graph, key, client):
    """The persisted key that ``key`` stands for (itself or through aliases), else None.

    A graph holds a persisted chunk as a future; a graph split per block (a
    delayed chunk) may leave it out and keep the key only, which the client
    then holds.  A persisted Dask DataFrame's partitions are aliases of the
    persisted keys under new names, followed here (plain aliases only: a piece
    that computes anything is lazy).  A key whose graph has a task for it is
    computed, even if the client holds it for a while (something computed and
    not released yet, which could be gone by the time the pass uses it).
    """
    from distributed import Future

    seen = set()
    while key not in seen:
        seen.add(key)
        node = graph.get(key)
        if isinstance(node, Future):
            return node.key
        if node is None:
            return key if key in client.futures else None
        if Alias is None or not isinstance(node, Alias):
            return None
        key = node.target
    return None


def _needs_the_cluster(key, node) -> bool:
    """A task that only runs on the cluster's workers: a P2P shuffle's (its transfer tasks
    talk to the workers' shuffle extension, its barrier to the scheduler's)."""
    name = str(key[0] if isinstance(key, tuple) else key)
    func = getattr(node, "func", None)
    return (name.startswith(("shuffle-transfer-", "shuffle-barrier-", "shuffle-p2p-"))
            or str(getattr(func, "__module__", "")).startswith("distributed."))


def _compute_on_held(loaded):
    """The pieces of an ``_ON_HELD`` block, from its leaves' data (the task's dependencies)."""
    from dask.local import get_sync

    _, recipe, values = loaded
    graph, keys, leaves = recipe.value
    dsk = dict(graph)
    for key, value in zip(leaves, values, strict=True):
        dsk[key] = DataNode(key, value)
    return list(get_sync(dsk, keys))


def _filled(x, y, kwargs, loaded):
    """A block's pieces with the ``_Part`` placeholders filled from what was loaded."""
    if loaded is None:
        return x, y, kwargs
    if (isinstance(loaded, list) and loaded and isinstance(loaded[0], str)
            and loaded[0] == _ON_HELD):
        loaded = _compute_on_held(loaded)
    return _fill(x, loaded), _fill(y, loaded), {k: _fill(v, loaded) for k, v in kwargs.items()}


def _fill(value, loaded):
    return loaded[value.i] if isinstance(value, _Part) else value


#: Held blocks are trained in runs, one task per run: consecutive blocks (in training order)
#: that one worker holds, plus blocks held elsewhere whose pieces there come to at most
#: FETCH_BLOCK_BYTES, as long as the run's task, on the worker holding most of its bytes,
#: fetches at most RUN_FETCH_BYTES.  Fetching a few MiB costs about what the model's hop to
#: them does (a scheduler round trip, ~5-10 ms); more costs more (a 30 MB block fetched
#: instead of one hop: 0.18 s a pass against 0.15 s, 2026-11-29).  1,000 blocks of 200 x 10
#: float64 on 2 workers took 11 s a pass as one task per block, 1.1 s in runs.
RUN_FETCH_BYTES = 32 * 2**20
FETCH_BLOCK_BYTES = 4 * 2**20


def _placement(client, keys: list, with_sizes: bool) -> tuple[dict, dict]:
    """``(who_has, nbytes)`` of ``keys``: both asked of the scheduler at once (one round
    trip, not two: every pass over persisted blocks asks); a key released meanwhile has
    no holder and no size."""
    import asyncio

    async def ask():
        calls = [client.scheduler.who_has(keys=keys)]
        if with_sizes:
            calls.append(client.scheduler.nbytes(keys=keys, summary=False))
        return await asyncio.gather(*calls, return_exceptions=True)

    answers = client.sync(ask)
    if isinstance(answers[0], BaseException):
        raise answers[0]
    who = {k: list(v) for k, v in answers[0].items()}
    sizes = {}
    if with_sizes and not isinstance(answers[1], BaseException):  # (KeyError: one released)
        sizes = {k: n for k, n in answers[1].items() if who.get(k)}
    return who, sizes


def _runs_by_worker(client, resolved, fetch_bytes: int | None = None,
                    block_bytes: int | None = None, owners: list | None = None):
    """Consecutive block positions to train in one task each, as lists (see RUN_FETCH_BYTES).

    ``owners``, when given, receives each run's worker and the bytes its task
    fetches from other workers, as ``(worker, fetched)``: the worker is the one
    holding most of the run's bytes (None when no piece of it is held by a known
    worker).
    """
    from distributed import Future, wait

    fetch_bytes = RUN_FETCH_BYTES if fetch_bytes is None else fetch_bytes
    block_bytes = FETCH_BLOCK_BYTES if block_bytes is None else block_bytes
    futures = [v for parts in resolved for v in _flatten(parts) if isinstance(v, Future)]
    who, sizes = {}, {}
    if futures:
        if not all(f.done() for f in futures):
            wait(futures)  # just persisted: where they will be is not known before
        who, sizes = _placement(client, list({f.key for f in futures}), fetch_bytes > 0)
    unknown = fetch_bytes + 1  # a block of unknown size is never fetched to another worker
    runs, held, total = [], {}, 0
    for i, parts in enumerate(resolved):
        mine, size = {}, 0
        for v in _flatten(parts):
            if isinstance(v, Future):
                n = sizes.get(v.key)
                n = unknown if n is None or n < 0 else max(1, int(n))
                size += n
                for w in who.get(v.key, ()):
                    mine[w] = mine.get(w, 0) + n
        joined = {w: held.get(w, 0) + mine.get(w, 0) for w in {*held, *mine}}
        before = total - max(held.values(), default=0)
        fetched = total + size - max(joined.values(), default=0)
        if runs and fetched <= fetch_bytes and fetched - before <= block_bytes:
            runs[-1].append(i)
            held, total = joined, total + size
        else:
            runs.append([i])
            held, total = mine, size
        if owners is not None:
            owner = max(sorted(held), key=held.get) if held else None
            owners[len(runs) - 1:] = [(owner, total - held.get(owner, 0))]
    return runs


def _fit_step(state, x, y, kwargs, static_kwargs, **where):
    """Carries (model, rows seen, progressive statistics) one block along the chain."""
    model, seen, stats = state
    model, stat, trained = fit_block(model, x, y, kwargs, static_kwargs, **where)
    return model, seen + trained, stats + [stat]


def _own(state):
    """The chain state a worker task may change: a copy of the model it was handed.

    A task that runs where the previous one did is handed the very object
    that task returned, which is still that task's result: a checkpoint or a
    retry may read it later.  Training a copy keeps every task's result as it
    was when the task ended.
    """
    model, seen, stats = state
    model = copied(model, "each task on a cluster trains a copy of the model it is handed",
                   "train on the threaded scheduler (without a distributed client)")
    return model, seen, list(stats)


def copied(model, why: str, fix: str):
    """A deep copy of a trained ``model``, or a TypeError that says ``why`` one is needed.

    ``fix``: what else the user may do, besides keeping what cannot be copied
    out of the estimator.
    """
    try:
        return copy.deepcopy(model)
    except Exception as exc:  # noqa: BLE001 - any failure to copy is the same answer

        raise TypeError(
            f"{why}, but this {type(model).__name__} cannot be copied after partial_fit "
            f"({one_line(exc)}). Keep what cannot be copied (locks, open files, connections, "
            f"generators) out of the estimator's attributes, or {fix}."
        ) from exc


def _fit_task(state, x, y, kwargs, static_kwargs, loaded=None, check_pickle=False, **where):
    """Worker-side step over one block.

    ``loaded``: the pieces one load task computed, standing in for the ``_Part``
    placeholders among x, y and kwargs.  ``check_pickle``: see
    :func:`_check_model_pickles`.
    """
    x, y, kwargs = _filled(x, y, kwargs, loaded)
    with reusing_memory():
        state = _fit_step(_own(state), x, y, kwargs, static_kwargs, **where)
    if check_pickle:
        _check_model_pickles(state[0])
    return state


def _fit_run_task(state, blocks, static_kwargs, *, indices, rows, check_pickle=False, **where):
    """Worker-side step over consecutive blocks this worker holds, in order.

    Stops at the next block when the client cancelled it (Ctrl-C, an error
    elsewhere in the pass), as ``_pass_task`` does: a run of many blocks would
    otherwise keep its worker busy long after the fit ended.
    """
    worker, key = _this_task()
    state = _own(state)
    with reusing_memory():
        for (x, y, kwargs, loaded), index, block_rows in zip(blocks, indices, rows,
                                                             strict=True):
            if worker is not None and _task_cancelled(worker, key):
                raise _PassCancelled(f"gpuinc: the task {key} was cancelled")
            x, y, kwargs = _filled(x, y, kwargs, loaded)
            state = _fit_step(state, x, y, kwargs, static_kwargs, index=index,
                              rows=block_rows, **where)
    if check_pickle:
        _check_model_pickles(state[0])
    return state


def _check_model_pickles(model) -> None:
    """Raise a TypeError that says so when the model trained cannot be pickled any more.

    A model that ``partial_fit`` made unpicklable (it stored a lock, an open
    file) cannot move between workers: distributed then retries the transfer
    for ever, and the pass hangs.  On the host, every task of a pass checks the
    model it trained (large arrays are not copied: out of band, ~20 us for a
    linear model); on a device, where pickling would copy the model to the host,
    the first task of a fit's first pass only.
    """
    try:
        pickle_as_distributed(model)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is the same answer

        raise TypeError(
            f"the model ({type(model).__name__}) cannot be pickled after partial_fit "
            f"({one_line(exc)}): a distributed cluster moves it between workers. Keep what "
            "cannot be pickled (locks, open files, connections, generators) out of the "
            "estimator's attributes, or train on the threaded scheduler (without a "
            "distributed client)."
        ) from exc


def pickle_as_distributed(obj, *, cloud: bool = True) -> None:
    """Pickle ``obj`` and discard the result; raise what pickling raised.

    As distributed does: pickle, else (``cloud``) cloudpickle, which also takes
    lambdas and local classes.  Large buffers go out of band: not copied.
    """
    import pickle

    def discard(buffer):
        pass

    try:
        pickle.dumps(obj, protocol=5, buffer_callback=discard)
    except Exception:  # noqa: BLE001 - cloudpickle is the real test
        if not cloud:
            raise
        import cloudpickle

        cloudpickle.dumps(obj, protocol=5, buffer_callback=discard)


def _flatten(values):
    for v in values:
        if isinstance(v, dict):
            yield from v.values()
        elif isinstance(v, list):  # an _ON_HELD block's loads: its leaves' futures
            yield from _flatten(v)
        else:
            yield v


def get_runner(prefetch: int = 2):
    """The distributed runner when a default client exists, else the local one."""
    client = current_client()
    if client is not None:
        return DistributedRunner(client, prefetch)
    return LocalRunner(prefetch)


@contextlib.contextmanager
def one_process_pool():
    """One pool of processes for a whole fit under ``scheduler="processes"``.

    The fit computes its blocks one at a time; without a configured ``pool``
    Dask's process scheduler starts (spawns) a new pool for every compute,
    seconds per block.  Here one pool, made as Dask makes it, serves them all.
    Does nothing under any other scheduler, or when a pool is configured.
    """
    if (dask.config.get("scheduler", None) not in ("processes", "multiprocessing")
            or dask.config.get("pool", None) is not None or current_client() is not None):
        yield
        return
    import os
    from concurrent.futures import ProcessPoolExecutor
    from functools import partial

    from dask import multiprocessing as dmp

    if os.environ.get("PYTHONHASHSEED") in (None, "0"):  # as Dask does: stable hashing
        os.environ["PYTHONHASHSEED"] = "6640"
    workers = dask.config.get("num_workers", None) or dmp.CPU_COUNT
    init = partial(dmp.initialize_worker_process,
                   user_initializer=dask.config.get("multiprocessing.initializer", None))
    pool = ProcessPoolExecutor(workers, mp_context=dmp.get_context(), initializer=init)
    try:
        with dask.config.set(pool=pool):
            yield
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _default_local_scheduler():
    """Dask's threaded scheduler, named so that ``dask.compute`` does not import distributed.

    Without a scheduler, ``dask.compute`` imports ``distributed`` to look for
    a client (0.2 s, once per process).  When nothing has imported it, no
    client can exist; then the threaded scheduler (the default of arrays and
    data frames) is passed as a function.  None when a scheduler is configured
    or distributed is loaded: Dask decides, as usual.
    """
    if "distributed" in sys.modules or dask.config.get("scheduler", None) is not None:
        return None
    from dask.threaded import get

    return get


def current_client():
    """The default ``distributed.Client`` if one is active and Dask uses it."""
    if "distributed" not in sys.modules:
        return None  # nothing imported distributed, so no client exists
    try:
        from distributed import default_client
    except ImportError:  # pragma: no cover - distributed is a dependency
        return None
    try:
        client = default_client()
    except ValueError:
        return None
    scheduler = dask.config.get("scheduler", None)
    if scheduler not in (None, "dask.distributed", "distributed"):
        return None  # the user asked for a local scheduler explicitly
    return client
