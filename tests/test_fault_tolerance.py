"""A worker killed in the middle of a distributed fit neither fails the fit nor
changes the model: the scheduler reruns the lost ``partial_fit`` tasks from
their inputs, and the chain passes the same model through the same blocks."""

from __future__ import annotations

import contextlib
import os
import signal

import numpy as np
import pytest
from arrays import kill_this_process_once
from sklearn.linear_model import SGDClassifier

from gpuinc import Incremental
from gpuinc.datasets import make_classification

distributed = pytest.importorskip("distributed")

DATA = dict(n_samples=1600, n_features=8, chunks=200, random_state=0)  # 8 blocks
FIT = dict(random_state=0, epochs=2, validation=0.25)  # 6 training blocks a pass
KILL_AT = 9  # the 9th partial_fit: block 3 of pass 2
MARKER = "GPUINC_TEST_KILL_MARKER"


def _in_a_worker() -> bool:
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True


class KillsItsWorkerOnce(SGDClassifier):
    """SGDClassifier whose ``KILL_AT``-th partial_fit SIGKILLs the worker running it.

    Only the first worker to get there dies: it creates the marker file (with
    its pid) before killing itself, and the rerun finds the file and trains.
    The call count travels with the model from worker to worker.
    """

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls_seen = getattr(self, "calls_seen", 0) + 1
        marker = os.environ.get(MARKER)
        if marker and self.calls_seen == KILL_AT and _in_a_worker():
            kill_this_process_once(marker)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_worker_killed_mid_fit_does_not_fail_it_or_change_the_model(tmp_path, monkeypatch):
    X, y = make_classification(**DATA)
    # the uninterrupted model, trained in this process without a cluster
    expected = Incremental(SGDClassifier(random_state=0), **FIT).fit(X, y)

    marker = tmp_path / "killed-worker.pid"
    monkeypatch.setenv(MARKER, str(marker))  # before the workers start: they inherit it
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        pids_before = set(client.run(os.getpid).values())
        inc = Incremental(KillsItsWorkerOnce(random_state=0), **FIT).fit(X, y)
        pids_after = set(client.run(os.getpid).values())

    assert marker.exists(), "no worker was killed: the fit did not run on the cluster"
    killed = int(marker.read_text())
    assert killed in pids_before and killed not in pids_after
    assert inc.estimator_.calls_seen == FIT["epochs"] * 6  # each block once, none skipped
    assert np.array_equal(inc.coef_, expected.coef_)
    assert np.array_equal(inc.intercept_, expected.intercept_)
    assert [r["val_score"] for r in inc.history_] == [r["val_score"] for r in expected.history_]


class Slow(SGDClassifier):
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        import time

        time.sleep(0.05)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def _slow_labels(block):
    import time

    time.sleep(0.2)
    return block


class SlowPredict(SGDClassifier):
    def predict(self, X):
        import time

        time.sleep(0.2)
        return super().predict(X)


@contextlib.contextmanager
def _closable_client():
    """A client of its own in-process cluster, for a test that closes it mid-fit."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()


def _closed_after(seconds, client):
    import threading

    timer = threading.Timer(seconds, client.close)
    timer.start()
    return timer


@pytest.mark.parametrize("step", ["classes", "validation"])
def test_a_client_closed_outside_the_training_pass_is_named(step):
    """Closed while the fit computes the classes or scores validation blocks: the same
    RuntimeError as in a pass, not the cancelled future of that step."""
    X, y = make_classification(n_samples=1600, n_features=4, chunks=100, random_state=0)
    with _closable_client() as client:
        if step == "classes":
            inc, kw = Incremental(SGDClassifier(random_state=0), progress=False), {}
            y = y.map_blocks(_slow_labels)
        else:
            inc = Incremental(SlowPredict(random_state=0), validation=0.5, scoring="accuracy",
                              progress=False)
            kw = {"classes": [0, 1]}
        timer = _closed_after(0.4, client)
        with pytest.raises(RuntimeError, match="client was closed during the fit"):
            inc.fit(X, y, **kw)
        timer.join()
        assert not hasattr(inc, "estimator_")


@pytest.mark.parametrize("data_kind", ["persisted", "lazy"])
def test_a_client_closed_during_the_fit_is_named(data_kind):
    """The error says the client closed (not a cancelled future, nor the cleanup's own
    'Client is closed' error), and the wrapper keeps its earlier model."""
    import dask

    X, y = make_classification(n_samples=1200, n_features=4, chunks=30, random_state=0)
    with _closable_client() as client:
        if data_kind == "persisted":
            X, y = dask.persist(X, y)
        inc = Incremental(Slow(random_state=0), shuffle_blocks=False, progress=False)
        inc.fit(X[:60], y[:60], classes=[0, 1])
        before = inc.estimator_
        timer = _closed_after(0.3, client)
        with pytest.raises(RuntimeError, match="client was closed during the fit") as info:
            inc.partial_fit(X, y)
        timer.join()
        assert inc.estimator_ is before
        assert str(info.value).count("during the fit") == 1  # said once, not wrapped twice


class _HoldsALock(SGDClassifier):
    def __init__(self, random_state=None):
        super().__init__(random_state=random_state)
        import threading

        self.lock = threading.Lock()

    def __sklearn_clone__(self):
        return _HoldsALock(random_state=self.random_state)

    def partial_fit(self, *args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("trained although the estimator cannot be saved")


def test_an_estimator_that_cannot_be_pickled_is_refused_before_training(tmp_path):
    from gpuinc.wrappers import _check_picklable

    X, y = make_classification(n_samples=400, n_features=4, chunks=100, random_state=0)
    with pytest.raises(TypeError, match=r"_HoldsALock cannot be pickled .*checkpoint= saves"):
        Incremental(_HoldsALock(random_state=0), checkpoint=tmp_path / "ck").fit(
            X, y, classes=[0, 1])
    assert not (tmp_path / "ck" / "gpuinc-checkpoint.pkl").exists()
    with pytest.raises(TypeError, match="sends it to the workers.*without a distributed client"):
        _check_picklable(_HoldsALock(), "a pass on a distributed cluster sends it to the workers",
                         cloud=True)
    _check_picklable(lambda: 1, "-", cloud=True)  # cloudpickle takes what pickle refuses


class KillsEveryWorkerAtBlock3(SGDClassifier):
    """Its fourth partial_fit (block 3) SIGKILLs whichever worker runs it, every time."""

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls_seen = getattr(self, "calls_seen", 0) + 1
        if os.environ.get(MARKER) and self.calls_seen == 4 and _in_a_worker():
            os.kill(os.getpid(), signal.SIGKILL)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_block_that_kills_every_worker_is_named(monkeypatch):
    import dask

    from gpuinc import WorkersDiedError

    X, y = make_classification(**DATA)
    monkeypatch.setenv(MARKER, "1")  # before the workers start: they inherit it
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        with pytest.raises(WorkersDiedError, match=r"1 worker\(s\) in a row died running the "
                                                   r"pass over blocks 0 to 7 .*out of memory"):
            Incremental(KillsEveryWorkerAtBlock3(random_state=0), shuffle_blocks=False).fit(
                X, y, classes=[0, 1])


def _wait_for_event(_=None, name=None):
    from distributed import Event

    Event(name).wait(30)
    return 1


def test_stopping_a_failed_pass_keeps_the_client_connected():
    """A failed pass let go of its load futures with Client.cancel, which also cancels the
    tasks depending on them; on one that no client wants (an intermediate task of the
    data's graph) the scheduler failed an assertion and dropped the client's connection,
    and the next fit failed with "the Dask client lost its connection"."""
    import time

    from distributed import Client, Event, LocalCluster

    from gpuinc._chain import _release

    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        go = Event("go")
        load = client.submit(_wait_for_event, name="go", key="load", pure=False)
        middle = client.submit(_wait_for_event, load, name="go", key="middle", pure=False)
        last = client.submit(_wait_for_event, middle, name="go", key="last", pure=False)
        middle.release()  # still needed by "last", wanted by no client
        scheduler = cluster.scheduler
        deadline = time.monotonic() + 10
        def middle_unwanted():
            task = scheduler.tasks.get("middle")
            return task is not None and "last" in scheduler.tasks and not task.who_wants

        while not middle_unwanted() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert middle_unwanted()
        comm = client.scheduler_comm.comm
        _release([load])
        go.set()
        assert last.result(timeout=30) == 1  # "last" is still wanted: it runs to the end
        assert client.status == "running"
        assert client.scheduler_comm.comm is comm  # the same connection: never dropped
        deadline = time.monotonic() + 10
        while "load" in scheduler.tasks and scheduler.tasks["load"].who_wants \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        assert "load" not in scheduler.tasks or not scheduler.tasks["load"].who_wants


class RaisesAtCall3(SGDClassifier):
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 3:
            raise RuntimeError("boom at call 3")
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def _wanted_keys(client) -> list:
    """Keys some client wants, as the scheduler sees them."""
    def wanted(dask_scheduler):
        return [str(k) for k, ts in dask_scheduler.tasks.items() if ts.who_wants]

    return client.run_on_scheduler(wanted)


def test_a_failed_fit_leaves_nothing_held_on_the_cluster():
    """A partial_fit error in a chain of blocks that share work (X - X.mean(0)) left the
    failed block's data and its errored fit task held until the client closed: the block
    being settled was taken off the pass's list before its error was raised."""
    import gc
    import time

    X, y = make_classification(n_samples=1000, n_features=4, chunks=100, random_state=0)
    X = X - X.mean(axis=0)
    with _closable_client() as client:
        with pytest.raises(RuntimeError, match="boom at call 3"):
            Incremental(RaisesAtCall3(random_state=0), shuffle_blocks=False,
                        progress=False).fit(X, y, classes=[0, 1])
        gc.collect()
        # released by the fit (not by gc: the error keeps the failed fit's future); a
        # release reaches the client's event loop, then the scheduler, a moment later
        deadline = time.monotonic() + 10
        while (client.futures or _wanted_keys(client)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [str(k) for k in client.futures]
        assert _wanted_keys(client) == []
