"""The chain: one ``partial_fit`` per block, in order, with bounded prefetch.

The model is a small object that travels along the chain; each block is
materialised once per pass, at most ``prefetch`` blocks ahead of the block
being trained, so memory is set by block size and prefetch depth rather than
by dataset size.  Two runners share one contract:

* ``LocalRunner`` (no distributed client): a loader thread computes the next
  blocks with Dask's local scheduler while the calling thread trains.
* ``DistributedRunner``: blocks are computed on the workers and each
  ``partial_fit`` runs as a task next to its block, so data never travels to
  the client; only the model moves between workers.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dask
import numpy as np

from ._dispatch import DEVICE, HOST, KIND_HOME, block_kind, compute_context
from ._movers import move


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


def _has_non_finite(x) -> bool:
    try:
        kind = block_kind(x)
    except TypeError:
        return False
    if kind == "pandas":
        try:
            values = x.to_numpy(dtype=float)
        except (TypeError, ValueError):
            return False
        return not np.isfinite(values).all()
    if kind == "numpy":
        return np.issubdtype(x.dtype, np.number) and not np.isfinite(x).all()
    if kind == "scipy.sparse":
        return not np.isfinite(x.data).all()
    if kind == "cupy":
        import cupy

        return not bool(cupy.isfinite(x).all())
    return False


def check_block(x, y, kwargs, *, index, rows, kind) -> int:
    """Check one loaded block (its kind, aligned row counts); return its number of rows."""
    if x is None:
        raise ValueError(f"{_describe(index, rows)} of X is empty (None).")
    got = block_kind(x)
    if got != kind and not (kind == "pandas" and got == "numpy"):
        raise TypeError(
            f"{_describe(index, rows)} of X is a {got} block but the collection's meta says "
            f"{kind}; all blocks must be of one kind. Make them uniform, e.g. with "
            "X.map_blocks(np.asarray) or X.map_blocks(cupy.asarray)."
        )
    n = _n_rows(x)
    if y is not None and _n_rows(y) != n:
        raise ValueError(
            f"{_describe(index, rows)}: X has {n} rows but y has {_n_rows(y)}. X and y must "
            "be blocked alike; rechunk y to X's chunks (y.rechunk(X.chunks[0])) or pass "
            "assume_equal_chunks=False to let gpuinc realign them."
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
    statistic is returned next to the model.  ``checked=True``: the block was
    checked and moved to ``home`` already (by the local runner's device mover).
    """
    if not checked:
        if check_block(x, y, kwargs, index=index, rows=rows, kind=kind) == 0:
            return model, None  # empty partitions (filters, repartitions): nothing to learn
        if KIND_HOME[block_kind(x)] != home:
            x = move(x, home)
            y = move(y, home) if y is not None else None
            kwargs = {k: move(v, home) if v is not None else v for k, v in kwargs.items()}
    stat = None
    if progressive is not None and y is not None:
        from .metrics import progressive_statistic

        with compute_context(model, home):
            stat = progressive_statistic(model, x, y, kwargs.get("sample_weight"), progressive,
                                         home=home)
    try:
        with compute_context(model, home):
            if y is None:
                model.partial_fit(x, **kwargs, **static_kwargs)
            else:
                model.partial_fit(x, y, **kwargs, **static_kwargs)
    except ValueError as exc:
        if _has_non_finite(x):
            raise ValueError(
                f"{_describe(index, rows)} of X contains NaN or infinity, which "
                f"{type(model).__name__} cannot train on. Drop or impute those values before "
                "fitting (e.g. X = da.nan_to_num(X), or ddf.dropna() / ddf.fillna(0))."
            ) from exc
        _add_block_note(exc, index, rows)
        raise
    except Exception as exc:
        _add_block_note(exc, index, rows)
        raise
    return model, stat


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


class LocalRunner:
    """Trains in the calling thread; a loader thread computes blocks ahead.

    When host blocks train on the device, the loader thread also starts
    their copy to the device (pinned staging buffers, a copy stream), so
    block *k+1* travels while block *k* trains.
    """

    def __init__(self, prefetch: int = 2):
        self.prefetch = max(0, int(prefetch))

    def run(self, model, blocks, static_kwargs, *, kind, home, on_block=None, stats=None,
            progressive=None):
        stats = stats if stats is not None else ChainStats()
        where = {"kind": kind, "home": home, "progressive": progressive}
        mover = _device_mover(kind, home)

        def load(block):
            stats.start_block()
            x, y, kw = dask.compute(block.x, block.y, block.kwargs)
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
            model, stat = fit_block(model, x, y, kw, static_kwargs, index=block.index,
                                    rows=block.rows, checked=data is None, **where)
            if data is None:
                mover.block_done()
            stats.progressive.append(stat)
            return model, _n_rows(x)

        try:
            if self.prefetch == 0:
                for pos, block in enumerate(blocks):
                    model, n = train(model, block, load(block))
                    stats.end_block(n)
                    if on_block is not None:
                        on_block(pos, block, lambda m=model: m)
                return model
            pending = deque()
            blocks = list(blocks)
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpuinc-load") as pool:
                try:
                    nxt = 0
                    for pos, block in enumerate(blocks):
                        # keep `prefetch` blocks loading beyond the one being trained
                        while nxt < len(blocks) and nxt <= pos + self.prefetch:
                            pending.append(pool.submit(load, blocks[nxt]))
                            nxt += 1
                        model, n = train(model, block, pending.popleft().result())
                        stats.end_block(n)
                        if on_block is not None:
                            on_block(pos, block, lambda m=model: m)
                finally:
                    for fut in pending:
                        fut.cancel()
            return model
        finally:
            if mover is not None:
                mover.close()


class DistributedRunner:
    """Runs every ``partial_fit`` as a task on the worker that holds its block."""

    def __init__(self, client, prefetch: int = 2):
        self.client = client
        self.prefetch = max(0, int(prefetch))

    def run(self, model, blocks, static_kwargs, *, kind, home, on_block=None, stats=None,
            progressive=None):
        stats = stats if stats is not None else ChainStats()
        client = self.client
        outstanding = deque()  # (pos, block, fit future, data futures)
        from distributed import wait

        state = (model, 0, [])
        token = dask.base.tokenize(object())

        def settle():
            pos, block, fut, data = outstanding.popleft()
            wait([fut])
            if fut.status != "finished":
                fut.result()  # raises the task's error, with its block in the message
            stats.end_block(0)
            if on_block is not None:
                on_block(pos, block, lambda: fut.result()[0])
            del data

        try:
            for pos, block in enumerate(blocks):
                while len(outstanding) > self.prefetch:
                    settle()
                # Only the lazy pieces become futures (in-memory pieces travel with the
                # task); an empty keyword dict must not turn into a task of its own.
                names = list(block.kwargs)
                futures = [block.x, block.y, *block.kwargs.values()]
                lazy = [i for i, v in enumerate(futures) if dask.is_dask_collection(v)]
                for i, fut in zip(lazy, client.compute([futures[i] for i in lazy]), strict=True):
                    futures[i] = fut
                stats.start_block()
                x_f, y_f, *kw_values = futures
                kw_f = dict(zip(names, kw_values, strict=True))
                state = client.submit(
                    _fit_task, state, x_f, y_f, kw_f, static_kwargs,
                    index=block.index, rows=block.rows, kind=kind, home=home,
                    progressive=progressive, key=f"gpuinc-partial-fit-{token}-{pos}", pure=False,
                    # training is the critical path: a worker with a ready fit runs it
                    # before starting to load another block
                    priority=1,
                )
                outstanding.append((pos, block, state, futures))
            while outstanding:
                settle()
        except BaseException:
            # stop the chain and the reads already prefetched for it
            pending = [item[2] for item in outstanding]
            pending += [f for item in outstanding for f in _flatten(item[3])
                        if type(f).__name__ == "Future"]
            client.cancel(pending)
            raise
        if not isinstance(state, tuple):
            state = state.result()
        model, rows, progressive_stats = state
        stats.rows += rows
        stats.progressive.extend(progressive_stats)
        return model


def _fit_task(state, x, y, kwargs, static_kwargs, **where):
    """Worker-side step: carries (model, rows seen, progressive statistics) along the chain."""
    model, seen, stats = state
    model, stat = fit_block(model, x, y, kwargs, static_kwargs, **where)
    return model, seen + _n_rows(x), stats + [stat]


def _flatten(values):
    for v in values:
        if isinstance(v, dict):
            yield from v.values()
        else:
            yield v


def get_runner(prefetch: int = 2):
    """The distributed runner when a default client exists, else the local one."""
    client = current_client()
    if client is not None:
        return DistributedRunner(client, prefetch)
    return LocalRunner(prefetch)


def current_client():
    """The default ``distributed.Client`` if one is active and Dask uses it."""
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
