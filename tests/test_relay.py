"""Relay passes: over persisted blocks on a cluster, the model goes from worker to worker
directly (one task per worker), and the result is the chain's, bit for bit."""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time

import dask
import numpy as np
import pytest
from arrays import kill_this_process_once
from sklearn.linear_model import SGDClassifier

from gpuinc import Incremental, _chain, _relay, wrappers
from gpuinc.datasets import make_classification

distributed = pytest.importorskip("distributed")

DATA = dict(n_samples=1600, n_features=6, chunks=100, random_state=0)  # 16 blocks


def _persisted_on_both(client, X, y):
    """X and y persisted with blocks on both workers (a relay needs two owners)."""
    X, y = dask.persist(X, y)
    distributed.wait([X, y])
    workers = sorted(client.scheduler_info()["workers"])
    holders = {w for ws in client.who_has(X).values() for w in ws}
    if len(holders) < 2:
        client.rebalance([X, y], workers=workers)
        holders = {w for ws in client.who_has(X).values() for w in ws}
    assert len(holders) == 2, f"blocks not spread over both workers: {holders}"
    return X, y


def _plain(X, y, estimator):
    for xb, yb in zip(X.to_delayed().ravel(), y.to_delayed().ravel(), strict=True):
        estimator.partial_fit(*dask.compute(xb, yb), classes=[0, 1])
    return estimator


@pytest.fixture
def spy(monkeypatch):
    """Counts relay passes and the tasks each one submitted.

    Blocks this small would all join one task (see ``FETCH_BLOCK_BYTES``): none is
    fetched to another worker here, so each worker's blocks are runs of their own.
    """
    monkeypatch.setattr(_chain, "FETCH_BLOCK_BYTES", 0)
    seen = []
    run_relay = _relay.run_relay

    def counting(client, model, blocks, resolved, runs, owners, *args, **kwargs):
        seen.append(len(set(owners)))
        try:
            return run_relay(client, model, blocks, resolved, runs, owners, *args, **kwargs)
        except _relay.RelayBroken:
            seen.append("broken")
            raise

    monkeypatch.setattr(_relay, "run_relay", counting)
    return seen


def _mailboxes(client):
    def sizes(dask_worker):
        box = dask_worker.extensions.get(_relay.EXTENSION)
        return len(box._items) if box is not None else None

    return client.run(sizes)


def _settled(client, timeout=10.0):
    """No task runs on any worker any more (within ``timeout`` seconds)."""
    def running(dask_worker):
        return len(dask_worker.state.executing) + len(dask_worker.state.long_running)

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not any(client.processing().values()) and not any(client.run(running).values()):
            return True
        time.sleep(0.05)
    return False


def test_a_relay_pass_trains_the_model_the_plain_loop_does(client, spy):
    X, y = _persisted_on_both(client, *make_classification(**DATA))
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, epochs=2)
    inc.fit(X, y, classes=[0, 1])
    expected = _plain(X, y, _plain(X, y, SGDClassifier(random_state=0)))
    assert spy == [2, 2]  # one relay a pass, one task for each of the two workers
    assert np.array_equal(inc.coef_, expected.coef_)
    assert np.array_equal(inc.intercept_, expected.intercept_)
    assert [r["blocks"] for r in inc.history_] == [16, 16]
    assert [r["rows"] for r in inc.history_] == [1600, 1600]
    assert set(_mailboxes(client).values()) == {0}  # every model sent was taken


def test_a_relay_pass_and_a_chain_give_the_same_shuffled_model(client, spy, monkeypatch):
    X, y = _persisted_on_both(client, *make_classification(**DATA))
    make = lambda: Incremental(SGDClassifier(random_state=0), random_state=3, epochs=2,  # noqa: E731
                               validation=0.25)
    relayed = make().fit(X, y, classes=[0, 1])
    assert spy
    monkeypatch.setattr(_relay, "ENABLED", False)
    chained = make().fit(X, y, classes=[0, 1])
    assert len(spy) == 2  # the second fit made no relay
    assert np.array_equal(relayed.coef_, chained.coef_)
    assert relayed.history_[1]["val_score"] == chained.history_[1]["val_score"]


def test_an_error_in_a_relay_pass_names_its_block_and_leaves_nothing_running(client, spy):
    X, y = make_classification(**DATA)
    X = dask.array.where((dask.array.arange(1600) == 1234)[:, None], np.nan, X)
    X, y = _persisted_on_both(client, X, y)
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False)
    with pytest.raises(ValueError, match=r"block 12 \(rows 1200:1300\)"):
        inc.fit(X, y, classes=[0, 1])
    assert spy
    assert _settled(client), client.processing()
    assert set(_mailboxes(client).values()) == {0}


def test_a_broken_relay_trains_the_pass_again_as_a_chain(client, spy, monkeypatch):
    X, y = _persisted_on_both(client, *make_classification(**DATA))
    sends = []
    send = _relay._send

    def fails_once(worker, address, token, run, state, stop):
        sends.append(run)
        if len(sends) == 2:
            raise _relay.RelayBroken("lost on the way (test)")
        return send(worker, address, token, run, state, stop)

    monkeypatch.setattr(_relay, "_send", fails_once)  # the workers run in this process
    updates = []
    monkeypatch.setattr(wrappers, "bar", lambda total, desc, progress: _Counter(updates))
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1])
    assert spy == [2, "broken"] and len(sends) == 2
    expected = _plain(X, y, SGDClassifier(random_state=0))
    assert np.array_equal(inc.coef_, expected.coef_)
    assert inc.history_[0]["blocks"] == 16 and inc.history_[0]["rows"] == 1600
    assert sum(updates) == 16  # blocks reported before the break were not reported again
    assert _settled(client)


class _Counter:
    def __init__(self, updates):
        self.updates = updates

    def update(self, n=1):
        self.updates.append(n)

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


class Sleepy(SGDClassifier):
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        time.sleep(0.003)  # long enough for the relays' tasks to interleave
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def test_concurrent_relay_passes_on_one_cluster_do_not_wait_on_each_other(client, spy,
                                                                          monkeypatch):
    # Relay tasks that kept their worker's thread while waiting deadlocked here: each
    # of two relays held one worker's only thread, waiting for a model whose task
    # waited to rejoin that worker's thread pool.
    X, y = _persisted_on_both(client, *make_classification(**DATA))
    make = lambda: Incremental(Sleepy(random_state=0), random_state=1)  # noqa: E731
    monkeypatch.setattr(_relay, "ENABLED", False)
    expected = make().fit(X, y, classes=[0, 1]).coef_
    monkeypatch.setattr(_relay, "ENABLED", True)
    for _ in range(3):
        results, errors = [], []

        def fit(results=results, errors=errors):
            try:
                results.append(make().fit(X, y, classes=[0, 1]).coef_)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=fit, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        end = time.monotonic() + 60
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        assert not any(t.is_alive() for t in threads), "concurrent relay passes deadlocked"
        assert not errors and len(results) == 4
        assert all(np.array_equal(c, expected) for c in results)
    assert len(spy) == 12


class SlowSGD(SGDClassifier):
    """Sends Ctrl-C (SIGINT) to this process at its ``interrupt_at``-th call, and takes
    ``seconds`` a call (the workers are threads of this process)."""

    calls, interrupt_at, seconds = 0, 5, 0.02

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        type(self).calls += 1
        if type(self).calls == self.interrupt_at:
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(self.seconds)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs POSIX signals")
def test_ctrl_c_stops_a_relay_pass_and_its_waiting_tasks(client, spy):
    X, y = _persisted_on_both(client, *make_classification(**DATA))
    SlowSGD.calls = 0
    inc = Incremental(SlowSGD(random_state=0), shuffle_blocks=False)
    with pytest.raises(KeyboardInterrupt):
        inc.fit(X, y, classes=[0, 1])
    assert spy and not hasattr(inc, "estimator_")
    assert _settled(client), client.processing()  # the waiting task stopped too
    assert set(_mailboxes(client).values()) == {0}
    calls = SlowSGD.calls
    time.sleep(0.3)
    assert SlowSGD.calls == calls  # nothing trains on after the interrupt
    # the cluster is fine for the next fit
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False).fit(X, y,
                                                                              classes=[0, 1])
    assert np.array_equal(inc.coef_, _plain(X, y, SGDClassifier(random_state=0)).coef_)


class SlowerSGD(SlowSGD):
    calls, interrupt_at, seconds = 0, 3, 0.1


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs POSIX signals")
def test_ctrl_c_stops_a_held_run_at_its_next_block(client, monkeypatch):
    # the task training a run of held blocks went on to the end of its run (here 13 more
    # blocks) after the fit had stopped, and the next fit waited behind it
    monkeypatch.setattr(_relay, "ENABLED", False)  # the chain of held runs
    X, y = _persisted_on_both(client, *make_classification(**DATA))
    SlowerSGD.calls = 0
    inc = Incremental(SlowerSGD(random_state=0), shuffle_blocks=False)
    with pytest.raises(KeyboardInterrupt):
        inc.fit(X, y, classes=[0, 1])
    assert SlowerSGD.calls < 16
    assert _settled(client, timeout=0.8), "the held run trained on after the interrupt"
    calls = SlowerSGD.calls
    time.sleep(0.3)
    assert SlowerSGD.calls == calls


def test_a_relay_needs_two_workers_and_never_fetches_more_than_a_run_may(monkeypatch):
    monkeypatch.setattr(_chain, "RUN_FETCH_BYTES", 100)
    plan = _chain._relay_owners
    assert plan([("A", 0), ("B", 40), ("A", 60)]) == ["A", "B", "A"]
    assert plan([("A", 0), ("A", 0)]) is None  # one worker: one task anyway
    assert plan([("A", 0), (None, 0)]) is None  # a run held nowhere known
    # a relay task fetches the foreign blocks of all its runs at once: 60 + 60 > 100
    assert plan([("A", 60), ("B", 0), ("A", 60)]) is None


def test_block_level_checkpoints_do_not_relay(client, spy, tmp_path):
    X, y = _persisted_on_both(client, *make_classification(**DATA))
    Incremental(SGDClassifier(random_state=0), shuffle_blocks=False,
                checkpoint=tmp_path / "ck.pkl", checkpoint_every=4).fit(X, y, classes=[0, 1])
    assert spy == []  # a checkpoint every 4 blocks needs the model after each block


MARKER = "GPUINC_TEST_RELAY_KILL_MARKER"


class KillsItsWorkerOnce(SGDClassifier):
    """SIGKILLs the worker running its 20th partial_fit (block 4 of pass 2), once."""

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls_seen = getattr(self, "calls_seen", 0) + 1
        marker = os.environ.get(MARKER)
        if marker and self.calls_seen == 20:
            kill_this_process_once(marker)  # trained again after the kill
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_worker_killed_during_a_relay_pass_does_not_change_the_model(tmp_path, monkeypatch,
                                                                       spy):
    X, y = make_classification(**DATA)
    expected = _plain(X, y, _plain(X, y, SGDClassifier(random_state=0)))
    marker = tmp_path / "killed.pid"
    monkeypatch.setenv(MARKER, str(marker))  # before the workers start: they inherit it
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        Xp, yp = _persisted_on_both(client, X, y)
        inc = Incremental(KillsItsWorkerOnce(random_state=0), shuffle_blocks=False, epochs=2)
        inc.fit(Xp, yp, classes=[0, 1])
    assert marker.exists(), "no worker was killed"
    assert spy == [2, 2, "broken"]  # the second pass was trained again as a chain
    assert inc.estimator_.calls_seen == 32  # each block once a pass, none skipped
    assert np.array_equal(inc.coef_, expected.coef_)
    assert [r["blocks"] for r in inc.history_] == [16, 16]


class Slow(SGDClassifier):
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        time.sleep(0.05)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def test_another_client_registering_the_relay_plugin_leaves_a_running_pass_alone(client,
                                                                                 spy):
    # registering the plugin again replaced every worker's mailbox, and the waiting task of
    # the running pass never got its model: the fit hung
    X, y = _persisted_on_both(client, *make_classification(**DATA))
    boxes = client.run(lambda dask_worker: id(dask_worker.extensions.get(_relay.EXTENSION)))
    done, errors = [], []

    def fit():
        try:
            done.append(Incremental(Slow(random_state=0), shuffle_blocks=False).fit(
                X, y, classes=[0, 1]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    time.sleep(0.3)  # the pass is running
    with distributed.Client(client.scheduler.address) as other:
        assert _relay.ensure_plugin(other)
    thread.join(60)
    assert not thread.is_alive(), "the running pass hung"
    assert not errors and spy[0] == 2
    assert np.array_equal(done[0].coef_, _plain(X, y, SGDClassifier(random_state=0)).coef_)
    assert client.run(lambda dask_worker: id(dask_worker.extensions.get(_relay.EXTENSION))) \
        == boxes


class Slower(SGDClassifier):
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        time.sleep(0.1)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def test_a_worker_retired_during_a_relay_pass_is_trained_around_at_once(spy):
    # the surviving worker's task kept retrying to send the model to the retired worker
    # (distributed's 30 s connect timeout) while the pass trained again behind it, and the
    # retired worker's waiting thread polled for ever
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        X, y = _persisted_on_both(client, *make_classification(**DATA))
        expected = _plain(X, y, SGDClassifier(random_state=0))
        victim = sorted(client.scheduler_info()["workers"])[0]
        timer = threading.Timer(0.8, client.retire_workers, args=([victim],))
        timer.start()
        start = time.monotonic()
        inc = Incremental(Slower(random_state=0), shuffle_blocks=False).fit(X, y,
                                                                            classes=[0, 1])
        took = time.monotonic() - start
        timer.join()
        assert spy == [2, "broken"]
        assert took < 15, f"the fit took {took:.1f} s after the worker left"
        assert np.array_equal(inc.coef_, expected.coef_)
        assert inc.history_[0]["blocks"] == 16
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
                "_await_model" in repr(f) or "_send" in repr(f)
                for f in _frames()):
            time.sleep(0.1)
        assert not any("_await_model" in repr(f) or "_send" in repr(f) for f in _frames())


def _pause(dask_worker):
    """As if the worker's memory were past distributed's pause threshold."""
    dask_worker.memory_manager.memory_pause_fraction = 1e-6


def test_a_paused_worker_breaks_the_relay_and_the_pass_is_trained_as_a_chain(spy):
    # a paused worker starts no task: the relay task pinned to it waited for ever, and
    # the fit with it (the chain trains there: a paused worker still serves its data)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        X, y = _persisted_on_both(client, *make_classification(**DATA))
        expected = _plain(X, y, _plain(X, y, SGDClassifier(random_state=0)))
        paused = sorted(client.scheduler_info()["workers"])[0]
        client.run(_pause, workers=[paused])
        deadline = time.monotonic() + 10
        while client.scheduler_info()["workers"][paused]["status"] != "paused":
            assert time.monotonic() < deadline, "the worker did not pause"
            time.sleep(0.05)
        out = {}
        start = time.monotonic()
        _fit_within(30, out, "the relay waited for the paused worker",
                    Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, epochs=2),
                    X, y)
        took = time.monotonic() - start
    assert "error" not in out, out.get("error")
    assert spy == [2, "broken"]  # the next pass trained as a chain at once
    assert took < 10, f"the fit took {took:.1f} s"
    assert np.array_equal(out["inc"].coef_, expected.coef_)
    assert [r["blocks"] for r in out["inc"].history_] == [16, 16]


class LocksItself(SGDClassifier):
    """Cannot be pickled once trained (as with an open file or a connection kept)."""

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.lock_ = threading.Lock()
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


@pytest.fixture
def tcp_client():
    """In-process workers that talk over TCP: what moves between them is pickled."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as c:
        yield c


class LocksItselfLater(SGDClassifier):
    """Pickles until its fifth partial_fit, then keeps a lock (a cache opened late, say)."""

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls_ = getattr(self, "calls_", 0) + 1
        if self.calls_ >= 5:
            self.lock_ = threading.Lock()
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


@pytest.mark.parametrize("model", [LocksItself, LocksItselfLater])
@pytest.mark.parametrize("path", ["one task", "chain", "held runs", "relay"])
def test_a_model_that_cannot_be_pickled_once_trained_is_named_not_waited_for(
        tcp_client, monkeypatch, spy, path, model):
    # the model could not move to the next block's worker: distributed retried for ever and
    # the chain hung (a one-task pass failed with distributed's "Could not serialize"); a
    # model that became unpicklable at a later block hung it while only the fit's first
    # task checked
    X, y = make_classification(**DATA)
    if path == "chain":
        monkeypatch.setattr(_chain, "ONE_TASK_PASSES", False)
    elif path != "one task":
        monkeypatch.setattr(_relay, "ENABLED", path == "relay")
        X, y = _persisted_on_both(tcp_client, X, y)
    out = {}
    _fit_within(30, out, f"the {path} pass hung on a model it could not move",
                Incremental(model(random_state=0), shuffle_blocks=False, epochs=2), X, y)
    assert isinstance(out.get("error"), TypeError), out
    assert re.search(rf"the model \({model.__name__}\) cannot be pickled after partial_fit "
                     r"\(.*lock.*\): a distributed cluster moves it between workers.*"
                     r"threaded scheduler", str(out["error"]))
    assert spy == ([2] if path == "relay" else [])  # the relay said so itself: no chain
    assert _settled(tcp_client)


def test_a_scheduler_lost_during_a_relay_pass_is_said_at_once(spy):
    # the relay's cleanup asked the lost scheduler (to close the pass's mailboxes) and
    # waited for the client to give up reconnecting (30 s), then said "was closed"
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                       dashboard_address=":0")
    out = {}
    try:
        with distributed.Client(cluster) as client:
            X, y = _persisted_on_both(client, *make_classification(**DATA))
            timer = threading.Timer(0.6, cluster.sync, args=(cluster.scheduler.close,))
            timer.start()
            _fit_within(15, out, "the fit waited for the lost scheduler",
                        Incremental(Slower(random_state=0), shuffle_blocks=False), X, y)
            timer.join()
    finally:
        # (closing asks the scheduler, which is gone, to close the workers: not for 30 s)
        with dask.config.set({"distributed.comm.timeouts.connect": "0.5s"}):
            cluster.close()
    assert spy == [2, "broken"]
    assert "lost its connection to the scheduler during the fit" in str(out.get("error")), out


def _frames():
    """Code objects of every thread's stack, this process (in-process workers' too)."""
    import sys

    out = []
    for frame in sys._current_frames().values():
        while frame is not None:
            out.append(frame.f_code)
            frame = frame.f_back
    return out


def _send_to_nowhere():
    from distributed import get_worker

    start = time.monotonic()

    def stop():
        if time.monotonic() - start > 0.3:
            raise _relay._Stopped("the pass was cancelled (test)")

    try:
        # nothing listens there: distributed retries the connection for 30 s
        _relay._send(get_worker(), "tcp://127.0.0.1:9", "token", 1, (None, 0, []), stop)
    except _relay._Stopped:
        return time.monotonic() - start
    return None


def test_sending_the_model_to_a_worker_that_left_stops_with_the_pass(client):
    took = client.submit(_send_to_nowhere, pure=False).result(timeout=60)
    assert took is not None and took < 5


def _fit_within(seconds, out, hung, inc, X, y):
    """Fit ``inc`` in a thread: ``out["inc"]``, or ``out["error"]``; fail if it hangs."""
    def fit():
        try:
            out["inc"] = inc.fit(X, y, classes=[0, 1])
        except BaseException as exc:  # pragma: no cover - reported by the caller
            out["error"] = exc

    thread = threading.Thread(target=fit, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), hung


DIES_MARKER = "GPUINC_TEST_RELAY_RESULT_MARKER"


class DiesWhenItsResultIsSent(SGDClassifier):
    """SIGKILLs the worker that pickles it after 16 blocks, once: a worker that dies while
    the client fetches the pass's result.

    The task pickles its result itself, to send it with its last event
    (``_push_result``): refused there, the result is fetched once the task has
    ended, as a large one is.
    """

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls_seen = getattr(self, "calls_seen", 0) + 1
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    def __getstate__(self):
        marker = os.environ.get(DIES_MARKER)
        if marker and getattr(self, "calls_seen", 0) == 16:
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_name != "_push_result":
                frame = frame.f_back
            if frame is not None:
                raise RuntimeError("not pushed: fetched")
            kill_this_process_once(marker)  # the pass trained again
        return super().__getstate__()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_worker_dying_while_the_result_comes_does_not_hang_the_fit(tmp_path, monkeypatch,
                                                                      spy):
    # the client waited for the result of the last task, pinned to a worker that was gone:
    # the scheduler held it as 'no-worker' for ever
    X, y = make_classification(**DATA)
    expected = _plain(X, y, SGDClassifier(random_state=0))
    marker = tmp_path / "killed"
    monkeypatch.setenv(DIES_MARKER, str(marker))  # before the workers start: they inherit it
    out = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        Xp, yp = _persisted_on_both(client, X, y)

        _fit_within(90, out, "the fit hung after the worker died",
                    Incremental(DiesWhenItsResultIsSent(random_state=0), shuffle_blocks=False),
                    Xp, yp)
    assert marker.exists(), "no worker was killed"
    assert "error" not in out, out.get("error")
    assert spy == [2, "broken"]
    assert out["inc"].estimator_.calls_seen == 16
    assert np.array_equal(out["inc"].coef_, expected.coef_)


def test_persisted_dataframe_partitions_are_trained_where_they_are_held(client, spy):
    # a persisted Dask DataFrame's partitions are aliases of the persisted keys: they were
    # read as lazy, and each was computed again by a task of its own
    import dask.dataframe as dd
    import pandas as pd

    X, y = make_classification(**DATA)
    Xn, yn = dask.compute(X, y)
    frame = pd.DataFrame(Xn, columns=[f"f{i}" for i in range(Xn.shape[1])])
    Xd = dd.from_pandas(frame, npartitions=16)
    yd = dd.from_pandas(pd.Series(yn, name="y"), npartitions=16)
    Xd, yd = dask.persist(Xd, yd)
    distributed.wait([Xd, yd])
    if len({w for ws in client.who_has(Xd).values() for w in ws}) < 2:
        client.rebalance([Xd, yd], workers=sorted(client.scheduler_info()["workers"]))
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False).fit(
        Xd, yd, classes=[0, 1])
    assert spy == [2]
    expected = SGDClassifier(random_state=0)
    for i in range(16):
        part = slice(i * 100, (i + 1) * 100)
        expected.partial_fit(frame.iloc[part], yn[part], classes=[0, 1])
    assert np.array_equal(inc.coef_, expected.coef_)


def test_x_and_y_selected_from_a_persisted_frame_are_trained_where_it_is_held(client, spy):
    # ddf.persist(); X, y = ddf[features], ddf[target]: each block was computed by a task of
    # its own and the model handed on by the scheduler (6.8 s against 0.5 s for 3 passes
    # over 100 partitions); the pieces are now computed inside the fit tasks
    import dask.dataframe as dd
    import pandas as pd

    X, y = make_classification(**DATA)
    Xn, yn = dask.compute(X, y)
    frame = pd.DataFrame(Xn, columns=[f"f{i}" for i in range(Xn.shape[1])])
    frame["label"] = yn
    frame["w"] = np.linspace(0.5, 1.5, len(frame))
    ddf = dd.from_pandas(frame, npartitions=16).persist()
    distributed.wait(ddf)
    if len({w for ws in client.who_has(ddf).values() for w in ws}) < 2:
        client.rebalance([ddf], workers=sorted(client.scheduler_info()["workers"]))
    features = [c for c in frame.columns if c.startswith("f")]
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, epochs=2).fit(
        ddf[features], ddf["label"], classes=[0, 1], sample_weight=ddf["w"])
    assert spy == [2, 2]
    expected = SGDClassifier(random_state=0)
    for _ in range(2):
        for i in range(16):
            part = frame.iloc[i * 100:(i + 1) * 100]
            expected.partial_fit(part[features], part["label"], classes=[0, 1],
                                 sample_weight=part["w"])
    assert np.array_equal(inc.coef_, expected.coef_)
    assert [r["rows"] for r in inc.history_] == [1600, 1600]
    # a filter after persist: still block by block on held data
    kept = ddf[ddf["f0"] > 0]
    filtered = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False).fit(
        kept[features], kept["label"], classes=[0, 1])
    expected = SGDClassifier(random_state=0)
    for i in range(16):
        part = frame.iloc[i * 100:(i + 1) * 100]
        part = part[part["f0"] > 0]
        expected.partial_fit(part[features], part["label"], classes=[0, 1])
    assert np.array_equal(filtered.coef_, expected.coef_)
    assert len(spy) == 3
    # a shuffle after persist shares work between blocks: left to the scheduler
    shuffled = ddf.shuffle("label")
    Incremental(SGDClassifier(random_state=0), shuffle_blocks=False).fit(
        shuffled[features], shuffled["label"], classes=[0, 1])
    assert len(spy) == 3


def test_blocks_computed_from_held_data_are_planned_only_when_each_stands_alone(client):
    import dask.dataframe as dd
    import pandas as pd

    from gpuinc._blocks import plan_blocks

    frame = dd.from_pandas(pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40) % 2}),
                           npartitions=4).persist()
    distributed.wait(frame)
    blocks = plan_blocks(frame[["a"]], frame["b"], {}).blocks
    plans = _chain._on_held_plans(client, blocks)
    assert plans is not None and len(plans) == 4
    assert all(len(leaves) == 1 for _, leaves, _ in plans)  # each block reads its own partition
    # (other values: the same ones would name the very keys the cluster holds)
    lazy = dd.from_pandas(pd.DataFrame({"a": np.arange(40.0) + 1, "b": np.arange(40) % 2}),
                          npartitions=4)
    assert _chain._on_held_plans(client, plan_blocks(lazy[["a"]], lazy["b"], {}).blocks) is None
    shuffled = frame.shuffle("b")
    assert _chain._on_held_plans(
        client, plan_blocks(shuffled[["a"]], shuffled["b"], {}).blocks) is None


def test_a_p2p_shuffle_on_held_data_is_left_to_the_cluster(client):
    # a shuffle into one partition shares no task with another block, but its tasks only
    # run on the workers: computed inside a fit task, it failed (P2PConsistencyError)
    import dask.dataframe as dd
    import pandas as pd

    from gpuinc._blocks import plan_blocks

    rng = np.random.default_rng(0)
    pdf = pd.DataFrame({"a": rng.normal(size=400), "b": np.arange(400) % 2})
    frame = dd.from_pandas(pdf, npartitions=4).persist()
    distributed.wait(frame)
    one = frame.shuffle("b", npartitions=1)
    assert _chain._on_held_plans(client, plan_blocks(one[["a"]], one["b"], {}).blocks) is None
    inc = Incremental(SGDClassifier(random_state=0)).fit(one[["a"]], one["b"], classes=[0, 1])
    assert inc.history_[0]["rows"] == 400


def test_a_piece_the_client_holds_for_a_while_does_not_change_the_plan(client, spy,
                                                                       monkeypatch):
    # a checkpoint's digest computes block 0's X, whose key the client then held until
    # garbage collection: planned as held, resolved as lazy a pass later -> KeyError
    X, y = make_classification(**DATA)
    Xp, yp = dask.persist(X, y)
    distributed.wait([Xp, yp])
    derived, target = Xp * 2, (yp + 1) - 1
    held = {"f": client.compute(derived.to_delayed()[0, 0])}  # held for a while
    distributed.wait(held["f"])
    run, passes = _chain.DistributedRunner.run, []

    def releasing_before_the_second_pass(self, *args, **kwargs):
        passes.append(1)
        if len(passes) == 2:
            held.clear()
            time.sleep(0.2)
        return run(self, *args, **kwargs)

    monkeypatch.setattr(_chain.DistributedRunner, "run", releasing_before_the_second_pass)
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, epochs=2).fit(
        derived, target, classes=[0, 1])
    expected = SGDClassifier(random_state=0)
    Xn, yn = dask.compute(derived, target)
    for _ in range(2):
        for i in range(16):
            expected.partial_fit(Xn[i * 100:(i + 1) * 100], yn[i * 100:(i + 1) * 100],
                                 classes=[0, 1])
    assert len(passes) == 2
    assert np.array_equal(inc.coef_, expected.coef_)


def test_a_lazy_block_the_client_holds_for_a_while_is_computed_not_held(client,
                                                                       monkeypatch):
    # the key of a lazy block the client computed and still holds (a checkpoint's digest
    # did so for block 0) is no persisted chunk: read as held, it sent the pass down the
    # block-by-block path instead of one task that reads and trains every block
    X, y = make_classification(**DATA)
    held = client.compute(X.to_delayed()[0, 0])
    distributed.wait(held)
    assert X.to_delayed()[0, 0].key in client.futures
    assert not _chain._held(client, X.to_delayed()[0, 0])
    persisted = X.persist()
    distributed.wait(persisted)
    assert _chain._held(client, persisted.to_delayed()[0, 0])
    one_task, paths = _chain.DistributedRunner._run_in_one_task, []

    def counted(self, *args, **kwargs):
        paths.append("one task")
        return one_task(self, *args, **kwargs)

    monkeypatch.setattr(_chain.DistributedRunner, "_run_in_one_task", counted)
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False).fit(
        X, y, classes=[0, 1])
    assert paths == ["one task"]
    assert np.array_equal(inc.coef_, _plain(X, y, SGDClassifier(random_state=0)).coef_)


@pytest.mark.parametrize("push_bytes", [_chain.PUSH_RESULT_BYTES, 0])
def test_a_pass_s_result_comes_with_its_last_event_when_small(client, spy, monkeypatch,
                                                             push_bytes):
    # small: no round trip to fetch it once the task has ended; large (here: any, with a
    # limit of 0): the event says so, and it is fetched
    monkeypatch.setattr(_chain, "PUSH_RESULT_BYTES", push_bytes)  # in-process workers
    X, y = make_classification(**DATA)
    expected = _plain(X, y, SGDClassifier(random_state=0))
    Xp, yp = _persisted_on_both(client, X, y)
    for data in [(X, y), (Xp, yp)]:  # a one-task pass (lazy), a relay (persisted)
        since = time.time()
        inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False).fit(
            *data, classes=[0, 1])
        assert np.array_equal(inc.coef_, expected.coef_)
        ends = [msg for at, msg in client.get_events(_chain.PROGRESS_TOPIC)
                if at >= since and "result" in msg]
        assert len(ends) == 1  # one pass
        assert all(isinstance(m["result"], bytes) == bool(push_bytes) for m in ends)
    assert spy == [2]


class KillsItsWorkerAtTheLastBlock(SGDClassifier):
    """SIGKILLs the worker running its 32nd partial_fit (the last block of pass 2), once."""

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls_seen = getattr(self, "calls_seen", 0) + 1
        marker = os.environ.get(MARKER)
        if marker and self.calls_seen == 32:
            kill_this_process_once(marker)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_worker_restarted_at_the_same_address_does_not_hang_a_relay_pass(tmp_path,
                                                                           monkeypatch, spy):
    # workers on fixed ports come back at the same address: the client saw them all there,
    # while the rerun of the dead one's task waited for a model sent to the process that died
    X, y = make_classification(**DATA)
    expected = _plain(X, y, _plain(X, y, SGDClassifier(random_state=0)))
    marker = tmp_path / "killed.pid"
    monkeypatch.setenv(MARKER, str(marker))  # before the workers start: they inherit it
    workers = {f"w{i}": {"cls": distributed.Nanny, "options": {
        "nthreads": 1, "host": "127.0.0.1", "worker_port": _free_port()}} for i in range(2)}
    scheduler = {"cls": distributed.Scheduler, "options": {"dashboard_address": ":0"}}
    out = {}
    with distributed.SpecCluster(workers=workers, scheduler=scheduler) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        Xp, yp = _persisted_on_both(client, X, y)

        _fit_within(90, out, "the relay pass hung after its worker restarted",
                    Incremental(KillsItsWorkerAtTheLastBlock(random_state=0),
                                shuffle_blocks=False, epochs=2), Xp, yp)
        # (the killed worker's nanny may still be starting it again when the fit ends)
        client.wait_for_workers(2, timeout=60)
        assert sorted(client.scheduler_info()["workers"]) == sorted(
            f"tcp://127.0.0.1:{w['options']['worker_port']}" for w in workers.values())
    assert marker.exists(), "no worker was killed"
    assert "error" not in out, out.get("error")
    assert spy == [2, 2, "broken"]
    assert np.array_equal(out["inc"].coef_, expected.coef_)
    assert [r["blocks"] for r in out["inc"].history_] == [16, 16]


def test_where_blocks_are_and_their_sizes_come_in_one_round_trip(client):
    X = dask.array.from_array(np.arange(400.0).reshape(100, 4), chunks=25).persist()
    distributed.wait(X)
    keys = [k for row in X.__dask_keys__() for k in row]
    who, sizes = _chain._placement(client, keys, True)
    assert who == {k: list(v) for k, v in client.who_has(X).items()}
    assert sizes == client.nbytes(keys, summary=False)
    assert _chain._placement(client, keys, False)[1] == {}
    # a key released meanwhile: no holder, and sizes unknown rather than an error
    who, sizes = _chain._placement(client, [*keys, ("gpuinc-released", 0)], True)
    assert who[("gpuinc-released", 0)] == [] and sizes == {}


def test_an_in_process_cluster_names_a_model_it_cannot_resubmit(client):
    """In-process workers hand the model over unpickled, but the client pickles the trained
    model it submits for the next pass: said with the model's name, not as distributed's
    "Could not serialize object of type LLGExpr"."""
    X, y = make_classification(**DATA)
    with pytest.raises(TypeError, match=r"the model \(LocksItself\) cannot be pickled"):
        Incremental(LocksItself(random_state=0), epochs=2).fit(X, y)
    inc = Incremental(LocksItself(random_state=0)).fit(X, y)  # one pass: never resubmitted
    assert inc.n_epochs_ == 1
    # partial_fit continues a copy of estimator_, which this model refuses (was a bare
    # "cannot pickle '_thread.lock' object" from deepcopy)
    with pytest.raises(TypeError, match=r"partial_fit trains a copy of estimator_ .* this "
                                        r"LocksItself cannot be copied after partial_fit \(cannot pickle"):
        inc.partial_fit(X, y)
    assert inc.n_epochs_ == 1


def test_an_in_process_chain_names_a_model_it_cannot_copy(client, monkeypatch):
    # each chain task trains a copy of the model it is handed: was a bare "cannot pickle
    # '_thread.lock' object" from the second task's deepcopy
    monkeypatch.setattr(_chain, "ONE_TASK_PASSES", False)
    X, y = make_classification(**DATA)
    with pytest.raises(TypeError, match=r"each task on a cluster trains a copy of the model "
                                        r"it is handed, but this LocksItself cannot be copied "
                                        r"after partial_fit \(cannot pickle .*threaded scheduler"):
        Incremental(LocksItself(random_state=0), shuffle_blocks=False).fit(X, y)


def _gpuinc_keys_wanted(client) -> list:
    def wanted(dask_scheduler):
        return [str(k) for k, ts in dask_scheduler.tasks.items()
                if ts.who_wants and str(k).startswith("gpuinc-")]

    return client.run_on_scheduler(wanted)


def test_a_finished_pass_s_task_is_not_held_after_the_fit(client, spy):
    """The task of a pass whose result came with its last event was held (16 per client)
    to end as finished; from da.from_array its spec holds the whole dataset, which the
    scheduler then kept. Held until its task has ended only."""
    import dask.array as da

    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(800, 4))
    yn = (Xn[:, 0] > 0).astype(int)
    X, y = da.from_array(Xn, chunks=(100, 4)), da.from_array(yn, chunks=100)
    Xp, yp = _persisted_on_both(client, *make_classification(**DATA))
    for data in [(X, y), (Xp, yp)]:  # a one-task pass, a relay
        since = time.time()
        Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, epochs=2,
                    progress=False).fit(*data, classes=[0, 1])
        pushed = [m for at, m in client.get_events(_chain.PROGRESS_TOPIC)
                  if at >= since and isinstance(m.get("result"), bytes)]
        assert len(pushed) == 2  # the results came with the events: the case held
        deadline = time.monotonic() + 5
        while ((_gpuinc_keys_wanted(client) or any(str(k).startswith("gpuinc-")
                                                   for k in client.futures))
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert not [k for k in client.futures if str(k).startswith("gpuinc-")]
        assert _gpuinc_keys_wanted(client) == []
    assert spy == [2, 2]
