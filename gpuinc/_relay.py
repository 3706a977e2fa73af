"""Relay passes: the model goes from worker to worker directly, not through the scheduler.

A pass over persisted blocks trains runs of blocks, each on the worker that
holds it (see ``_chain._runs_by_worker``).  Chained as one task per run, every
hand-over of the model between two workers is a round trip through the
scheduler: the finished task is reported, the next one is sent to its worker,
which then fetches the model from the previous worker (about 5-6 ms a hop on
a 2-core machine).  A relay pass submits one task per worker instead, holding
all of that worker's runs; a task that finishes a run sends the model straight
to the worker of the next run, whose task is already waiting for it (about
2-3 ms a hop).

The workers receive models in a mailbox that a worker plugin
(:class:`RelayPlugin`, registered once per client) installs with a comm
handler.  A task waiting for the model leaves the worker's thread pool
(``secede``), so relay passes of concurrent fits, or any other work, never
wait on each other.  Anything that breaks the relay
itself (a worker that leaves, a model that cannot be delivered) makes the
client cancel it and train the pass again as an ordinary chain, from the
model it started with.  The last task sends a small result with its last
progress event, as a one-task pass does (``_chain._push_result``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import time
import weakref
from collections import deque

from distributed.diagnostics.plugin import WorkerPlugin

from ._chain import (
    _POLL_S,
    _PROGRESS,
    PROGRESS_TOPIC,
    _check_model_pickles,
    _filled,
    _fit_step,
    _hold_while_ending,
    _own,
    _PassCancelled,
    _push_result,
    _Pushed,
    _report_held_block,
    _Started,
    _subscribe_progress,
    _task_cancelled,
    _this_task,
    _unpushed,
)

#: the worker comm handler that receives models, and the worker extension holding them
RELAY_OP = "gpuinc_relay_put"
EXTENSION = "gpuinc-relay"
PLUGIN_NAME = "gpuinc-relay"
#: a model not delivered within this many seconds breaks the relay (a worker that hangs,
#: or one without the handler: distributed then never answers; a worker that is gone
#: refuses the connection at once).  Generous: a large model on a slow network is slow.
SEND_TIMEOUT_S = 300.0
#: how often the client checks that every worker of a relay pass is still there
ALIVE_CHECK_S = 1.0
#: relay passes are used at all (tests compare them with the plain chain)
ENABLED = True

#: client -> weak reference to the scheduler connection the plugin was registered on
_REGISTERED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_MISSING = object()


class RelayBroken(RuntimeError):
    """The relay could not hand the model on (not an error of the training)."""


class _Stopped(_PassCancelled):
    """Raised in a relay task whose pass was cancelled, or whose worker is closing."""


class Mailbox:
    """Models sent to this worker, by (pass token, run number)."""

    def __init__(self):
        self._cond = threading.Condition()
        self._items: dict = {}
        self._closed: deque = deque(maxlen=1024)  # tokens of passes that ended or stopped

    def receive(self, token=None, run=None, state=None) -> str:
        """The comm handler (runs on the worker's event loop: never blocks for long)."""
        return "ok" if self.put(token, run, state) else "closed"

    def put(self, token, run, state) -> bool:
        with self._cond:
            if token in self._closed:
                return False
            self._items[(token, run)] = state
            self._cond.notify_all()
        return True

    def take(self, token, run, timeout: float):
        """The model for ``run`` if it came within ``timeout`` seconds, else ``_MISSING``."""
        with self._cond:
            if (token, run) not in self._items:
                self._cond.wait(timeout)
            return self._items.pop((token, run), _MISSING)

    def is_closed(self, token) -> bool:
        with self._cond:
            return token in self._closed

    def close_pass(self, token) -> None:
        """Drop what a pass left here and refuse what is still on its way."""
        with self._cond:
            self._closed.append(token)
            for key in [k for k in self._items if k[0] == token]:
                del self._items[key]
            self._cond.notify_all()

    def close(self) -> None:
        """The worker is closing (it closes its extensions): drop everything, wake waiters."""
        with self._cond:
            self._items.clear()
            self._cond.notify_all()


class RelayPlugin(WorkerPlugin):
    """Installs the mailbox and its comm handler on every worker, present and future.

    Registering it again (another client's first relay, a reconnected client)
    changes nothing on the workers: it is idempotent, and a worker keeps its
    mailbox, which relay tasks waiting there hold.
    """

    name = PLUGIN_NAME
    idempotent = True

    def setup(self, worker):
        box = worker.extensions.get(EXTENSION)
        if not isinstance(box, Mailbox):
            box = worker.extensions[EXTENSION] = Mailbox()
        worker.handlers[RELAY_OP] = box.receive

    def teardown(self, worker):
        pass  # the mailbox stays: a task may be waiting on it


_REGISTER_LOCK = threading.Lock()


def ensure_plugin(client) -> bool:
    """Register :class:`RelayPlugin` once per connection to the scheduler; False if it failed."""
    with _REGISTER_LOCK:  # fits starting at once in several threads register it once
        comm = getattr(client, "scheduler_comm", None)
        sent_on = _REGISTERED.get(client)
        if comm is not None and sent_on is not None and sent_on() is comm:
            return True
        try:
            replies = client.register_plugin(RelayPlugin(), name=PLUGIN_NAME)
        except Exception:
            return False
        if isinstance(replies, dict) and any(
                isinstance(r, dict) and r.get("status") not in (None, "OK")
                for r in replies.values()):
            return False
        if comm is not None:
            _REGISTERED[client] = weakref.ref(comm)
        return True


async def _close_token(token, dask_worker=None):
    """Run on each worker's event loop (``client.run(..., wait=False)`` wants a coroutine)."""
    box = dask_worker.extensions.get(EXTENSION) if dask_worker is not None else None
    if isinstance(box, Mailbox):
        box.close_pass(token)


# -- worker side ---------------------------------------------------------------------------


#: how long a relay task waits for the model while keeping its worker's thread
GRACE_S = 0.002


def _await_model(worker, box, token, run, stop):
    """Wait in this task for the model of ``run``, out of the worker's thread pool.

    A task that kept its thread while waiting could close a cycle: with two
    relays on one cluster, each holding one worker's thread while waiting for a
    model whose task waits (in ``rejoin``) for that very thread.  So, beyond a
    short grace for a model already on its way, the wait gives the thread up.
    """
    from distributed import rejoin, secede

    state = box.take(token, run, GRACE_S)
    if state is not _MISSING:
        return state
    stop()
    secede()
    while True:  # a pass cancelled meanwhile ends here, out of the pool (no rejoin wait)
        state = box.take(token, run, 0.1)
        if state is not _MISSING:
            break
        stop()
    rejoin()
    return state


def _send(worker, address, token, run, state, stop) -> None:
    """Deliver the model to ``address``, stopping (``stop()``) if the pass is cancelled.

    Distributed retries a connection that is refused until its connect timeout
    (30 s by default): a worker that left would hold this task that long, so
    the delivery is waited for in short slices.
    """
    from distributed.protocol import to_serialize

    async def deliver():
        return await asyncio.wait_for(
            worker.rpc(address).gpuinc_relay_put(token=token, run=run,
                                                  state=to_serialize(state)),
            SEND_TIMEOUT_S)

    future = asyncio.run_coroutine_threadsafe(deliver(), worker.loop.asyncio_loop)
    try:
        while True:
            try:
                reply = future.result(timeout=0.1)
                break
            except concurrent.futures.TimeoutError:
                stop()
    except _Stopped:
        future.cancel()
        raise
    except Exception as exc:
        raise RelayBroken(f"gpuinc: the model could not be sent to {address} "
                          f"({type(exc).__name__}: {exc})") from exc
    if reply != "ok":
        raise RelayBroken(f"gpuinc: {address} refused the model of pass {token} ({reply!r})")


def relay_task(model, runs, static_kwargs, *, token, numbers, nexts, positions, indices, rows,
               check_pickle=(), **where):
    """Worker side: train this worker's runs of the pass, in order, handing the model on.

    ``numbers[k]`` is the run number of ``runs[k]`` (a list of resolved
    blocks), ``nexts[k]`` the address of the worker of the next run (None
    after the last run of the pass, whose task returns the chain state; the
    others return None).  ``model`` is given to the task of run 0 only.  The
    model trained by a run whose number is in ``check_pickle`` is checked to
    pickle (see ``_check_model_pickles``).
    """
    from ._malloc import reusing_memory

    worker, key = _this_task()
    box = worker.extensions.get(EXTENSION)
    if not isinstance(box, Mailbox):
        raise RelayBroken(f"gpuinc: worker {worker.address} has no relay mailbox")

    def stop():
        if _task_cancelled(worker, key) or box.is_closed(token):
            raise _Stopped(f"gpuinc: pass {token} was cancelled")
        if getattr(worker.status, "name", "running") not in ("running", "paused"):
            raise _Stopped(f"gpuinc: worker {worker.address} is closing")

    # the client tells a rerun (a worker restarted at the same address: the task waits
    # for a model sent to the process that died) by a second start
    worker.log_event(PROGRESS_TOPIC, {"token": token, "start": numbers[0]})
    state = None
    for number, blocks, nxt, where_pos, where_index, where_rows in zip(
            numbers, runs, nexts, positions, indices, rows, strict=True):
        state = _own((model, 0, [])) if number == 0 else _await_model(worker, box, token,
                                                                      number, stop)
        with reusing_memory():
            for (x, y, kwargs, loaded), pos, index, block_rows in zip(
                    blocks, where_pos, where_index, where_rows, strict=True):
                stop()  # a cancelled pass stops at the next block
                x, y, kwargs = _filled(x, y, kwargs, loaded)
                state = _fit_step(state, x, y, kwargs, static_kwargs, index=index,
                                  rows=block_rows, **where)
                worker.log_event(PROGRESS_TOPIC, {"token": token, "pos": pos})
        if number in check_pickle:  # see _check_model_pickles
            _check_model_pickles(state[0])
        if nxt is None:
            return _push_result(worker, token, state, where["home"])
        stop()
        if nxt == worker.address:
            box.put(token, number + 1, state)
        else:
            _send(worker, nxt, token, number + 1, state, stop)
        state = None
    return None


# -- client side ---------------------------------------------------------------------------


def run_relay(client, model, blocks, resolved, runs, owners, static_kwargs, where, on_block,
              stats, reported, check_pickle=lambda run: False):
    """Train ``runs`` (lists of positions in ``blocks``) as a relay; the final chain state.

    ``owners[r]`` is the worker holding run ``r``.  Positions reported done
    (``on_block`` called) are added to ``reported``.  ``check_pickle(r)``: whether
    run ``r`` checks that its model pickles.  Raises
    :class:`RelayBroken` when the relay itself failed, the pass to be trained
    again another way; errors of the training propagate.
    """
    import dask
    from distributed import wait

    token = dask.base.tokenize(object())
    mine: dict = {}
    for r, owner in enumerate(owners):
        mine.setdefault(owner, []).append(r)
    nexts = [*owners[1:], None]
    events = queue.SimpleQueue()
    futures = []
    last = None
    done = [-1]  # the last position reported
    started = set()  # the first run numbers of the relay tasks that started

    def report_through(pos):
        for p in range(done[0] + 1, min(pos, len(blocks) - 1) + 1):
            reported.add(p)
            done[0] = p
            _report_held_block(stats, on_block, p, blocks[p], _model_in_relay)

    def check_workers():
        if str(getattr(client, "status", "")) != "running":  # asking would wait for it
            raise RelayBroken(f"gpuinc: the client is {client.status}")
        # a worker that is not running (paused: its memory is past distributed's pause
        # threshold; closing) starts no task: a relay task pinned there that has not
        # started would wait for it for ever (asked as often as ncores was: no cost added)
        running = client.sync(client.scheduler.ncores_running, workers=list(mine))
        if not set(mine) - set(running):
            return
        gone = sorted(set(mine) - set(client.ncores()))
        if gone:
            raise RelayBroken(f"gpuinc: worker(s) {', '.join(gone)} left during the pass")
        stuck = sorted(w for w in set(mine) - set(running) if mine[w][0] not in started)
        if stuck:
            _note_not_running(client, stuck)
            raise RelayBroken(
                f"gpuinc: worker(s) {', '.join(stuck)} are not running (paused: memory, or "
                "closing) and start no task of the relay")

    _PROGRESS[token] = events.put
    try:
        _subscribe_progress(client)
        for n, (owner, numbers) in enumerate(mine.items()):
            fut = client.submit(
                relay_task, model if 0 in numbers else None,
                [[resolved[i] for i in runs[r]] for r in numbers], static_kwargs,
                token=token, numbers=numbers, nexts=[nexts[r] for r in numbers],
                positions=[runs[r] for r in numbers],
                indices=[[blocks[i].index for i in runs[r]] for r in numbers],
                rows=[[blocks[i].rows for i in runs[r]] for r in numbers], **where,
                # the run numbers whose model is checked (it leaves this worker)
                check_pickle=[r for r in numbers if check_pickle(r)],
                key=f"gpuinc-relay-{token}-{n}", workers=[owner], allow_other_workers=False,
                pure=False, priority=1,
            )
            futures.append(fut)
            if len(runs) - 1 in numbers:
                last = fut
        next_check = time.monotonic() + ALIVE_CHECK_S
        # Until the last task has ended (not only reported its last block: its worker may
        # still die), follow the progress, stop at the first error, and check that every
        # worker of the relay is still there and running: a pinned task whose worker left
        # (or is paused before it started) would wait for it forever.
        pushed, ended = None, False
        while not last.done():
            if not ended:
                try:
                    item = events.get(timeout=_POLL_S)
                except queue.Empty:
                    item = None
                if isinstance(item, _Pushed):  # the last task is returning its result
                    ended = True
                    if item.payload is not None:
                        pushed = item  # here already: every run is trained and handed on
                        _hold_while_ending(client, futures)
                        break
                elif isinstance(item, _Started):
                    if item.run in started:
                        raise RelayBroken(
                            f"gpuinc: the relay task of run {item.run} started again (its "
                            "worker restarted at the same address)")
                    started.add(item.run)
                elif item is not None:
                    report_through(item)
            else:  # the result is to be fetched once the last task has ended
                with contextlib.suppress(TimeoutError):
                    wait([last], timeout=_POLL_S)
            if any(f.status == "error" for f in futures):
                break
            if any(f.status == "cancelled" for f in futures) or last.status == "lost":
                raise RelayBroken("gpuinc: a task of the relay was cancelled or lost")
            if time.monotonic() >= next_check:
                check_workers()
                next_check = time.monotonic() + ALIVE_CHECK_S
        for fut in futures if pushed is None else ():  # (pushed: every run went well)
            if fut.status == "error":
                if isinstance(fut.exception(), _PassCancelled):  # its worker is closing
                    raise RelayBroken(f"gpuinc: {fut.exception()}")
                fut.result()  # raises: a training error names its block; RelayBroken stays so
        while pushed is None:  # its worker may die while the result comes: the scheduler
            if last.status not in ("finished", "lost", "pending"):  # would wait forever
                raise RelayBroken(f"gpuinc: the relay's last task ended {last.status}")
            try:
                pushed = last.result(timeout=ALIVE_CHECK_S)
            except TimeoutError:
                check_workers()
        state = _unpushed(pushed)
    except BaseException:
        # a client that lost its scheduler has cancelled everything already, and would
        # wait for it (to send these) as long as it tries to reconnect (30 s by default)
        if str(getattr(client, "status", "")) == "running":
            with contextlib.suppress(Exception):
                client.cancel(futures)
            with contextlib.suppress(Exception):
                client.run(_close_token, token, wait=False)
        raise
    finally:
        _PROGRESS.pop(token, None)
    report_through(len(blocks) - 1)  # events still on their way are not waited for
    return state  # every model sent was taken: no mailbox holds anything of this pass


#: client -> {address: time.monotonic()} of workers that broke a relay by not running
#: (paused): a relay through them is not tried again for NOT_RUNNING_S seconds (the
#: passes of a fit would otherwise each wait ALIVE_CHECK_S before training as a chain)
_NOT_RUNNING: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
NOT_RUNNING_S = 30.0


def _note_not_running(client, workers) -> None:
    noted = _NOT_RUNNING.setdefault(client, {})
    now = time.monotonic()
    noted.update(dict.fromkeys(workers, now))


def recently_not_running(client, owners) -> bool:
    """Whether a worker among ``owners`` broke a relay by not running, lately (no round
    trip: what the last relays saw)."""
    noted = _NOT_RUNNING.get(client)
    if not noted:
        return False
    now = time.monotonic()
    for worker, when in list(noted.items()):
        if now - when > NOT_RUNNING_S:
            noted.pop(worker, None)
    return any(w in noted for w in owners)


def _model_in_relay():
    raise RuntimeError("the model of a relay pass is only known when the pass ends")
