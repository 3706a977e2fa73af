"""Checkpoints of a multi-pass fit: atomic writes, contents, resuming after a
failure or a SIGKILL, and refusing a checkpoint that belongs to another fit."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import types

import dask
import numpy as np
import pytest
from sklearn.linear_model import Perceptron, SGDClassifier

from gpuinc import Incremental, _checkpoint
from gpuinc._checkpoint import FILENAME, CheckpointInUseError, CheckpointMismatchError
from gpuinc.datasets import make_classification

# 12 blocks of 100 rows; validation=0.25 holds out 3, so a pass trains 9 blocks
DATA = dict(n_samples=1200, n_features=8, chunks=100, random_state=0)
FIT = dict(random_state=0, epochs=3, validation=0.25)
TRAIN_BLOCKS = 9
TOTAL_CALLS = FIT["epochs"] * TRAIN_BLOCKS

CALLS = {"n": 0, "fail_at": None}


class InjectedFailure(RuntimeError):
    pass


class FlakySGD(SGDClassifier):
    """scikit-learn's SGDClassifier whose ``fail_at``-th partial_fit call fails, once."""

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        CALLS["n"] += 1
        if CALLS["n"] == CALLS["fail_at"]:
            CALLS["fail_at"] = None
            raise InjectedFailure(f"injected failure in partial_fit call {CALLS['n']}")
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.update(n=0, fail_at=None)


@pytest.fixture(scope="module")
def data():
    return make_classification(**DATA)


@pytest.fixture(scope="module")
def uninterrupted(data):
    X, y = data
    return Incremental(SGDClassifier(random_state=0), **FIT).fit(X, y)


def read_checkpoint(directory):
    with open(directory / FILENAME, "rb") as fh:
        return pickle.load(fh)


def leftovers(directory):
    """Files other than the checkpoint and the fit's lock file (temporary files, ...)."""
    return sorted(p.name for p in directory.iterdir()
                  if p.name not in (FILENAME, _checkpoint.LOCKNAME))


def assert_same_model(a, b):
    assert np.array_equal(a.coef_, b.coef_)
    assert np.array_equal(a.intercept_, b.intercept_)
    assert a.t_ == b.t_


# -------------------------------------------------------------- contents
def test_checkpoint_holds_model_position_rng_split_and_history(tmp_path, data):
    X, y = data
    ckpt = tmp_path / "ckpt"
    inc = Incremental(SGDClassifier(random_state=0), checkpoint=ckpt, **FIT).fit(X, y)
    assert sorted(p.name for p in ckpt.iterdir()) == sorted([FILENAME, _checkpoint.LOCKNAME])
    state = read_checkpoint(ckpt)
    assert state["format"] == _checkpoint.FORMAT
    assert (state["epoch"], state["position"], state["order"]) == (3, -1, None)
    assert_same_model(state["model"], inc.estimator_)
    assert state["history"] == list(inc.history_)
    rng = np.random.RandomState()
    rng.set_state(state["rng"])  # a complete MT19937 state
    assert sorted(state["train_idx"] + state["val_idx"]) == list(range(12))
    assert len(state["val_idx"]) == 3
    fp = state["fingerprint"]
    assert fp["estimator"] == "sklearn.linear_model._stochastic_gradient.SGDClassifier"
    assert (fp["blocks"], fp["n_features"]) == (12, 8)


def test_save_writes_a_temporary_file_then_renames_it(tmp_path, monkeypatch):
    renames = []
    real_replace = os.replace

    def recording_replace(src, dst):
        renames.append((os.fspath(src), os.fspath(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(_checkpoint.os, "replace", recording_replace)
    target = _checkpoint.save(tmp_path, {"model": "first"})
    assert target == tmp_path / FILENAME
    [(src, dst)] = renames
    assert os.path.dirname(src) == str(tmp_path)  # same filesystem: the rename is atomic
    assert os.path.basename(src) != FILENAME and dst == str(target)
    assert leftovers(tmp_path) == []
    assert read_checkpoint(tmp_path)["model"] == "first"


@pytest.mark.parametrize("error", [OSError("No space left on device"),
                                   OSError(28, "No space left on device"),
                                   OSError(13, "Permission denied")])
def test_a_failed_write_leaves_the_previous_checkpoint_and_no_temp_file(tmp_path, monkeypatch,
                                                                        error):
    _checkpoint.save(tmp_path, {"model": "good"})
    before = (tmp_path / FILENAME).read_bytes()

    def dump_then_fail(obj, fh, protocol=None):
        fh.write(b"half a pickle")
        raise error

    fake_pickle = types.SimpleNamespace(dump=dump_then_fail, load=pickle.load,
                                        HIGHEST_PROTOCOL=pickle.HIGHEST_PROTOCOL)
    monkeypatch.setattr(_checkpoint, "pickle", fake_pickle)
    with pytest.raises(OSError, match=error.strerror or str(error)) as info:
        _checkpoint.save(tmp_path, {"model": "new"})
    if error.errno is not None:  # the file is named, and what to do
        fix = "free some space" if error.errno == 28 else "choose a path you can write to"
        assert str(tmp_path / FILENAME) in str(info.value) and fix in str(info.value)
    assert (tmp_path / FILENAME).read_bytes() == before
    assert leftovers(tmp_path) == []


def test_a_model_that_cannot_be_pickled_is_named_when_saved(tmp_path):
    import threading

    with pytest.raises(TypeError, match=r"could not save .*cannot be pickled \(cannot pickle "
                                        r"'_thread.lock'"):
        _checkpoint.save(tmp_path, {"model": threading.Lock()})
    assert leftovers(tmp_path) == []


# ---------------------------------------------------------------- schedule
@pytest.mark.parametrize(
    ("every", "expected"),
    [
        ("epoch", [(1, -1), (2, -1)]),
        (4, [(0, 3), (0, 7), (1, -1), (1, 3), (1, 7), (2, -1)]),
        (1, [(0, p) for p in range(9)] + [(1, -1)] + [(1, p) for p in range(9)] + [(2, -1)]),
    ],
)
def test_checkpoint_every_blocks_or_epoch(tmp_path, data, monkeypatch, every, expected):
    X, y = data
    written = []
    real_save = _checkpoint.save

    def recording_save(directory, state):
        written.append((state["epoch"], state["position"]))
        return real_save(directory, state)

    monkeypatch.setattr(_checkpoint, "save", recording_save)
    Incremental(SGDClassifier(random_state=0), checkpoint=tmp_path, checkpoint_every=every,
                **dict(FIT, epochs=2)).fit(X, y)
    assert written == expected


@pytest.mark.parametrize("every", [0, -3, "pass", 1.5])
def test_checkpoint_every_is_validated(tmp_path, data, every):
    X, y = data
    with pytest.raises(ValueError, match="checkpoint_every"):
        Incremental(SGDClassifier(), checkpoint=tmp_path, checkpoint_every=every).fit(X, y)


# ------------------------------------------------------------------ resume
@pytest.mark.parametrize(
    ("every", "fail_at", "saved_at"),
    [
        (1, 13, (1, 2)),  # call 13 is block 4 of pass 2: blocks 1-3 of that pass were saved
        (4, 13, (1, -1)),  # the last save before call 13 ended pass 1
        (4, 18, (1, 7)),
        ("epoch", 13, (1, -1)),
        ("epoch", 3, (0, None)),  # nothing saved yet: the second fit starts over
    ],
)
def test_resume_after_a_failure_equals_an_uninterrupted_fit(tmp_path, data, uninterrupted,
                                                            every, fail_at, saved_at):
    X, y = data
    ckpt = tmp_path / "ckpt"

    def make():
        return Incremental(FlakySGD(random_state=0), checkpoint=ckpt, checkpoint_every=every,
                           **FIT)

    CALLS["fail_at"] = fail_at
    with pytest.raises(InjectedFailure):
        make().fit(X, y)
    if saved_at[1] is None:
        assert not (ckpt / FILENAME).exists()
        done = 0
    else:
        state = read_checkpoint(ckpt)
        assert (state["epoch"], state["position"]) == saved_at
        done = saved_at[0] * TRAIN_BLOCKS + saved_at[1] + 1
    CALLS["n"] = 0
    resumed = make().fit(X, y)
    assert CALLS["n"] == TOTAL_CALLS - done  # picked up where the checkpoint left off
    if saved_at[1] is None:
        assert resumed.resumed_from_ is None
    else:
        assert resumed.resumed_from_ == {"passes": saved_at[0], "blocks": saved_at[1] + 1}
    again = make().fit(X, y)  # a finished fit: nothing left to train
    assert again.resumed_from_ == {"passes": again.n_epochs_, "blocks": 0}
    assert_same_model(resumed.estimator_, uninterrupted.estimator_)
    assert [r["epoch"] for r in resumed.history_] == [1, 2, 3]
    assert [r["val_score"] for r in resumed.history_] == [
        r["val_score"] for r in uninterrupted.history_
    ]
    assert leftovers(ckpt) == []


def test_resumed_history_counts_the_whole_pass(tmp_path, data, uninterrupted):
    X, y = data
    kw = dict(checkpoint=tmp_path, checkpoint_every=1, **FIT)
    CALLS["fail_at"] = 13
    with pytest.raises(InjectedFailure):
        Incremental(FlakySGD(random_state=0), **kw).fit(X, y)
    resumed = Incremental(FlakySGD(random_state=0), **kw).fit(X, y)
    assert [(r["blocks"], r["rows"]) for r in resumed.history_] == [
        (r["blocks"], r["rows"]) for r in uninterrupted.history_
    ]


def test_fit_again_after_a_finished_checkpoint_does_not_retrain(tmp_path, data):
    X, y = data
    first = Incremental(FlakySGD(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    CALLS["n"] = 0
    again = Incremental(FlakySGD(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    assert CALLS["n"] == 0
    assert_same_model(again.estimator_, first.estimator_)
    assert list(again.history_) == list(first.history_)


# -------------------------------------------------------------- mismatches
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("estimator", "estimator"),
        ("params", "params"),
        ("n_features", "n_features"),
        ("blocks", "blocks"),
    ],
)
def test_a_checkpoint_from_another_fit_is_refused(tmp_path, data, change, field):
    X, y = data
    kw = dict(checkpoint=tmp_path, random_state=0)
    Incremental(SGDClassifier(random_state=0), **kw).fit(X, y)
    saved = (tmp_path / FILENAME).read_bytes()
    est = SGDClassifier(random_state=0)
    if change == "estimator":
        est = Perceptron(random_state=0)
    elif change == "params":
        est = SGDClassifier(random_state=0, alpha=1e-3)
    elif change == "n_features":
        X = X[:, :6]
    else:
        X, y = X.rechunk((200, 8)), y.rechunk(200)
    with pytest.raises(CheckpointMismatchError, match=field) as info:
        Incremental(est, **kw).fit(X, y)
    assert isinstance(info.value, ValueError)
    assert "different fit" in str(info.value) and "new checkpoint directory" in str(info.value)
    assert (tmp_path / FILENAME).read_bytes() == saved  # left as it was


def test_a_checkpoint_for_another_number_of_rows_is_refused(tmp_path, data):
    X, y = data
    kw = dict(checkpoint=tmp_path, random_state=0)
    Incremental(SGDClassifier(random_state=0), **kw).fit(X, y)
    fewer = dict(DATA, n_samples=1080, chunks=90)  # same blocks and features, fewer rows
    with pytest.raises(CheckpointMismatchError, match="n_rows"):
        Incremental(SGDClassifier(random_state=0), **kw).fit(*make_classification(**fewer))


def test_a_checkpoint_for_other_data_of_the_same_shape_is_refused(tmp_path, data):
    X, y = data
    kw = dict(checkpoint=tmp_path, random_state=0)
    Incremental(SGDClassifier(random_state=0), **kw).fit(X, y)
    other = make_classification(**dict(DATA, random_state=1))  # same shapes, other values
    with pytest.raises(CheckpointMismatchError, match="values of the first block"):
        Incremental(SGDClassifier(random_state=0), **kw).fit(*other)
    relabelled = (X, 1 - y)
    with pytest.raises(CheckpointMismatchError, match="values of the first block"):
        Incremental(SGDClassifier(random_state=0), **kw).fit(*relabelled)


def test_a_parameter_mismatch_names_only_that_parameter(tmp_path, data):
    X, y = data
    kw = dict(checkpoint=tmp_path, random_state=0)
    Incremental(SGDClassifier(random_state=0), **kw).fit(X, y)
    with pytest.raises(CheckpointMismatchError) as info:
        Incremental(SGDClassifier(random_state=0, alpha=1e-3), **kw).fit(X, y)
    message = str(info.value)
    assert "params.alpha: checkpoint has 0.0001, this fit has 0.001" in message
    assert "eta0" not in message and "l1_ratio" not in message


def test_random_state_instances_resume(tmp_path, data):
    # a RandomState's repr holds its address, which differs in the next process
    X, y = data

    def make():
        return Incremental(FlakySGD(random_state=np.random.RandomState(0)), checkpoint=tmp_path,
                           **dict(FIT, random_state=np.random.RandomState(0)))

    first = make().fit(X, y)
    CALLS["n"] = 0
    again = make().fit(X, y)
    assert CALLS["n"] == 0  # resumed the finished fit, nothing retrained
    assert_same_model(again.estimator_, first.estimator_)


def test_an_unreadable_checkpoint_is_refused(tmp_path, data):
    X, y = data
    (tmp_path / FILENAME).write_bytes(b"not a pickle")
    with pytest.raises(CheckpointMismatchError, match="not a readable gpuinc checkpoint"):
        Incremental(SGDClassifier(), checkpoint=tmp_path).fit(X, y)


# ----------------------------------------------------------------- SIGKILL
KILLABLE = '''
"""An SGDClassifier that stops in its STOP_AT-th partial_fit call, waiting to be killed."""
import os
import threading

from sklearn.linear_model import SGDClassifier

CALLS = 0


class MarkedSGD(SGDClassifier):
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        global CALLS
        CALLS += 1
        if CALLS == int(os.environ.get("GPUINC_TEST_STOP_AT", "0")):
            marker = os.environ["GPUINC_TEST_MARKER"]
            with open(marker + ".tmp", "w") as fh:
                fh.write(str(os.getpid()))
            os.replace(marker + ".tmp", marker)
            threading.Event().wait(120)  # the parent kills us here
            raise RuntimeError("partial_fit was not interrupted")
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)
'''

TRAIN = '''
import json
import sys

import dask
import numpy as np

sys.path.insert(0, {here!r})
import killable  # noqa: E402

from gpuinc import Incremental  # noqa: E402
from gpuinc.datasets import make_classification  # noqa: E402

checkpoint, out = sys.argv[1], sys.argv[2]
X, y = make_classification(**{data!r})
inc = Incremental(killable.MarkedSGD(random_state=0), checkpoint=checkpoint,
                  checkpoint_every=1, **{fit!r})
inc.fit(X, y)
np.save(out, inc.coef_)
print(json.dumps({{"calls": killable.CALLS, "epochs": len(inc.history_)}}))
'''


def wait_for_file(path, proc, timeout):
    """Poll for ``path`` while ``proc`` runs; fail if it exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"the training process exited early with {proc.returncode}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.02)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_sigkill_mid_fit_then_a_new_process_resumes_to_the_uninterrupted_model(
        tmp_path, uninterrupted, monkeypatch):
    (tmp_path / "killable.py").write_text(KILLABLE)
    script = tmp_path / "train.py"
    script.write_text(TRAIN.format(here=str(tmp_path), data=DATA, fit=FIT))
    ckpt, marker = tmp_path / "ckpt", tmp_path / "killed-in-partial-fit"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUINC_TEST_")}
    env["GPUINC_TEST_MARKER"] = str(marker)

    # 1. train, and SIGKILL the process inside partial_fit call 13 (pass 2, block 4)
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(ckpt), str(tmp_path / "first.npy")],
            env=dict(env, GPUINC_TEST_STOP_AT="13"), stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            wait_for_file(marker, proc, timeout=120)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == -signal.SIGKILL, (tmp_path / "first.log").read_text()
    assert int(marker.read_text()) == proc.pid
    assert not (tmp_path / "first.npy").exists()
    monkeypatch.syspath_prepend(str(tmp_path))  # the pickled model's class
    try:
        state = read_checkpoint(ckpt)
    finally:
        sys.modules.pop("killable", None)
    assert (state["epoch"], state["position"]) == (1, 2)  # saved after call 12
    assert type(state["model"]).__name__ == "MarkedSGD"
    assert leftovers(ckpt) == []

    # 2. a second process with the same fit and directory resumes
    done = subprocess.run(
        [sys.executable, str(script), str(ckpt), str(tmp_path / "resumed.npy")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"calls": TOTAL_CALLS - 12, "epochs": 3}

    # 3. ... to exactly the model of an uninterrupted run
    resumed_coef = np.load(tmp_path / "resumed.npy")
    assert np.array_equal(resumed_coef, uninterrupted.coef_)


# --------------------------------------- resumed passes, epochs and early stopping
def _frame_data():
    """X and y as Dask DataFrame / Series: Dask does not know their blocks' row counts."""
    import dask.dataframe as dd
    import pandas as pd

    X, y = make_classification(**DATA)
    cols = [f"f{i}" for i in range(X.shape[1])]
    df = pd.DataFrame(X.compute(), columns=cols).assign(t=y.compute())
    ddf = dd.from_pandas(df, npartitions=12, sort=False)
    return ddf[cols], ddf.t


@pytest.mark.parametrize("every", [1, 4])
def test_a_mid_pass_resume_of_dataframes_records_the_whole_pass(tmp_path, every):
    X, y = _frame_data()
    kw = dict(FIT, scoring="accuracy", train_score=True)
    reference = Incremental(SGDClassifier(random_state=0), **kw).fit(X, y, classes=[0, 1])
    kw.update(checkpoint=tmp_path, checkpoint_every=every)
    CALLS["fail_at"] = 13 if every == 1 else 18  # pass 2, after a checkpoint within it
    with pytest.raises(InjectedFailure):
        Incremental(FlakySGD(random_state=0), **kw).fit(X, y, classes=[0, 1])
    assert read_checkpoint(tmp_path)["position"] >= 0  # saved within pass 2
    resumed = Incremental(FlakySGD(random_state=0), **kw).fit(X, y, classes=[0, 1])
    assert_same_model(resumed.estimator_, reference.estimator_)
    for name in ("epoch", "blocks", "rows", "train_score", "val_score"):
        assert [r[name] for r in resumed.history_] == [r[name] for r in reference.history_]
    resumed_pass = resumed.history_[1]
    assert resumed_pass["seconds"] > 0 and resumed_pass["max_blocks_in_flight"] >= 1


class _FailOnce:
    """A scorer (accuracy) that fails the first time it is called, as a lost cluster would."""

    calls = 0

    def __call__(self, estimator, X, y):
        type(self).calls += 1
        if type(self).calls == 1:
            raise InjectedFailure("validation failed")
        return float((estimator.predict(X) == y).mean())

    def __repr__(self):
        return "_FailOnce()"


def test_a_checkpoint_made_after_the_last_block_resumes_to_the_validation(tmp_path):
    X, y = _frame_data()
    kw = dict(FIT, scoring=_FailOnce(), checkpoint=tmp_path, checkpoint_every=1)
    with pytest.raises(InjectedFailure, match="validation failed"):
        Incremental(FlakySGD(random_state=0), **kw).fit(X, y, classes=[0, 1])
    state = read_checkpoint(tmp_path)
    assert (state["epoch"], state["position"]) == (0, TRAIN_BLOCKS - 1)
    CALLS["n"] = 0
    resumed = Incremental(FlakySGD(random_state=0), **kw).fit(X, y, classes=[0, 1])
    assert CALLS["n"] == TOTAL_CALLS - TRAIN_BLOCKS
    assert [r["rows"] for r in resumed.history_] == [900] * 3


def test_resuming_with_fewer_epochs_than_the_checkpoint_holds_is_refused(tmp_path, data):
    X, y = data
    kw = dict(FIT, checkpoint=tmp_path, checkpoint_every=1)
    CALLS["fail_at"] = 2 * TRAIN_BLOCKS + 4  # block 4 of pass 3
    with pytest.raises(InjectedFailure):
        Incremental(FlakySGD(random_state=0), **kw).fit(X, y)
    saved = (tmp_path / FILENAME).read_bytes()
    with pytest.raises(CheckpointMismatchError,
                       match=r"2 pass\(es\) and part of pass 3, more than epochs=2\. Pass "
                             r"epochs=3 or more"):
        Incremental(FlakySGD(random_state=0), **dict(kw, epochs=2)).fit(X, y)
    assert (tmp_path / FILENAME).read_bytes() == saved
    done = Incremental(FlakySGD(random_state=0), **kw).fit(X, y)  # epochs=3: resumes
    assert done.n_epochs_ == 3
    with pytest.raises(CheckpointMismatchError, match=r"3 pass\(es\), more than epochs=1"):
        Incremental(FlakySGD(random_state=0), **dict(kw, epochs=1)).fit(X, y)


def test_a_refused_checkpoint_says_what_it_holds_for_callers_that_word_the_fix():
    """The command line says --epochs / --checkpoint from the error's fields, not by
    rewriting its text."""
    from gpuinc._checkpoint import CheckpointTooLongError, _unwritable, reworded

    exc = CheckpointTooLongError("ckpt", "2 pass(es)", 1, 2)
    assert isinstance(exc, CheckpointMismatchError)
    assert (exc.directory, exc.held, exc.epochs, exc.need) == ("ckpt", "2 pass(es)", 1, 2)
    cli = str(exc.worded(("--epochs ", "a new --checkpoint folder")))
    assert "more than --epochs 1. Pass --epochs 2 or more to resume it, or a new " \
        "--checkpoint folder to train for fewer passes." in cli
    err = _unwritable("ckpt", PermissionError(13, "Permission denied"))
    assert "pass checkpoint= a directory you can write to" in str(err)
    again = reworded(err, "pass --checkpoint a folder you can write to")
    assert type(again) is PermissionError and again.errno == 13
    assert str(again) == ("[Errno 13] the checkpoint directory ckpt cannot be created or "
                          "written (Permission denied); pass --checkpoint a folder you can "
                          "write to")
    assert reworded(PermissionError(13, "Permission denied"), "x") is None


def _constant_score(estimator, X, y):
    return 0.5


def test_a_fit_that_stopped_early_continues_when_early_stopping_allows_it(tmp_path, data):
    X, y = data
    kw = dict(FIT, scoring=_constant_score, checkpoint=tmp_path, epochs=6)
    first = Incremental(FlakySGD(random_state=0), early_stopping=True, n_iter_no_change=1,
                        **kw).fit(X, y)
    assert (first.n_epochs_, first.stopped_early_) == (2, True)
    CALLS["n"] = 0
    again = Incremental(FlakySGD(random_state=0), early_stopping=True, n_iter_no_change=1,
                        **kw).fit(X, y)
    assert CALLS["n"] == 0 and (again.n_epochs_, again.stopped_early_) == (2, True)
    patient = Incremental(FlakySGD(random_state=0), early_stopping=True, n_iter_no_change=3,
                          **kw).fit(X, y)
    assert (patient.n_epochs_, patient.stopped_early_) == (4, True)
    off = Incremental(FlakySGD(random_state=0), early_stopping=False, **kw).fit(X, y)
    assert (off.n_epochs_, off.stopped_early_) == (6, False)
    assert CALLS["n"] == 4 * TRAIN_BLOCKS


def test_a_checkpoint_for_another_scoring_is_refused(tmp_path, data):
    X, y = data
    kw = dict(FIT, checkpoint=tmp_path)
    Incremental(SGDClassifier(random_state=0), scoring="accuracy", **kw).fit(X, y)
    with pytest.raises(CheckpointMismatchError, match="scoring: checkpoint has 'accuracy', this fit "
                                                   "has 'balanced_accuracy'"):
        Incremental(SGDClassifier(random_state=0), scoring="balanced_accuracy", **kw).fit(X, y)


def test_a_checkpoint_for_another_source_of_validation_is_refused(tmp_path, data):
    # resumed, it kept the saved split (every block trains) and drew a held-out one too:
    # the fit validated on blocks it trained on
    X, y = data
    kw = dict(FIT, checkpoint=tmp_path)
    Xv, yv = make_classification(**{**DATA, "random_state": 7})
    Incremental(SGDClassifier(random_state=0), **{**kw, "epochs": 1}).fit(
        X, y, validation_data=(Xv, yv))
    with pytest.raises(CheckpointMismatchError, match="held_out_blocks: checkpoint has False, "
                                                       "this fit has True"):
        Incremental(SGDClassifier(random_state=0), **kw).fit(X, y)
    # without held-out blocks either way (no validation, then validation_data): it resumes
    plain = dict(kw, validation=None, epochs=1, checkpoint=tmp_path / "plain")
    Incremental(SGDClassifier(random_state=0), **plain).fit(X, y)
    inc = Incremental(SGDClassifier(random_state=0), **dict(plain, epochs=2)).fit(
        X, y, validation_data=(Xv, yv))
    assert inc.resumed_from_ == {"passes": 1, "blocks": 0}


def test_a_checkpoint_without_a_validation_source_still_resumes(tmp_path, data):
    # written before the fingerprint recorded it: not compared
    X, y = data
    kw = dict(FIT, checkpoint=tmp_path)
    Incremental(SGDClassifier(random_state=0), **{**kw, "epochs": 1}).fit(X, y)
    ckpt = _checkpoint.path_for(tmp_path)
    state = pickle.loads(ckpt.read_bytes())
    del state["fingerprint"]["held_out_blocks"]
    ckpt.write_bytes(pickle.dumps(state))
    inc = Incremental(SGDClassifier(random_state=0), **kw).fit(X, y)
    assert inc.resumed_from_ == {"passes": 1, "blocks": 0}


def test_a_folder_in_place_of_the_checkpoint_file_is_refused(tmp_path, data):
    X, y = data
    _checkpoint.path_for(tmp_path).mkdir()
    with pytest.raises(CheckpointMismatchError, match="is a folder, not a gpuinc checkpoint"):
        Incremental(SGDClassifier(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)


def test_a_parameter_only_one_estimator_has_is_named_as_such():
    diffs = _checkpoint._differences({"params": {"a": "1"}}, {"params": {"b": "None"}})
    assert diffs == ["params.a: checkpoint has 1, this fit has no such parameter",
                     "params.b: checkpoint has no such parameter, this fit has None"]


# ----------------------------------------------------------- the directory
def test_two_fits_cannot_share_a_checkpoint_directory(tmp_path, data):
    X, y = data
    with _checkpoint.lock(tmp_path):  # a fit in progress
        with pytest.raises(CheckpointInUseError, match="another fit in this process is writing"):
            Incremental(FlakySGD(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    assert CALLS["n"] == 0 and not (tmp_path / FILENAME).exists()
    pytest.importorskip("fcntl")
    holder = subprocess.Popen(  # a fit of another process
        [sys.executable, "-c", "import fcntl, sys; f = open(sys.argv[1], 'a+b'); "
         "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()",
         str(tmp_path / _checkpoint.LOCKNAME)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(CheckpointInUseError, match="another fit is writing checkpoints"):
            Incremental(FlakySGD(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    finally:
        holder.communicate("", timeout=60)
    assert CALLS["n"] == 0 and not (tmp_path / FILENAME).exists()
    Incremental(FlakySGD(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)  # released
    assert (tmp_path / FILENAME).exists()


def test_a_checkpoint_path_that_cannot_be_a_directory_fails_before_training(tmp_path, data):
    X, y = data
    (tmp_path / "file").write_text("not a directory")
    for path in (tmp_path / "file", tmp_path / "file" / "below"):
        with pytest.raises(OSError, match="checkpoint directory .* cannot be created or written"):
            Incremental(FlakySGD(random_state=0), checkpoint=path, **FIT).fit(X, y)
    assert CALLS["n"] == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes to read-only directories")
def test_a_read_only_checkpoint_directory_fails_before_training(tmp_path, data):
    X, y = data
    ckpt = tmp_path / "ro"
    ckpt.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match="cannot be created or written"):
        Incremental(FlakySGD(random_state=0), checkpoint=ckpt, **FIT).fit(X, y)
    assert CALLS["n"] == 0


def test_a_directory_where_no_file_can_be_made_fails_before_training(tmp_path, data,
                                                                    monkeypatch):
    # a directory that already holds the lock file (an earlier fit) opened it fine even
    # when read-only; the first checkpoint, after a whole pass, then failed
    import pathlib

    X, y = data
    Incremental(SGDClassifier(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    real_touch = pathlib.Path.touch

    def read_only(self, *args, **kwargs):
        if self.parent == tmp_path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_touch(self, *args, **kwargs)

    monkeypatch.setattr(pathlib.Path, "touch", read_only)
    CALLS["n"] = 0
    with pytest.raises(PermissionError, match="cannot be created or written"):
        Incremental(FlakySGD(random_state=0), checkpoint=tmp_path,
                    **{**FIT, "epochs": FIT.get("epochs", 1) + 2}).fit(X, y)
    assert CALLS["n"] == 0


def test_temporary_files_of_a_killed_write_are_removed(tmp_path, data):
    X, y = data
    stale = tmp_path / f".{FILENAME}.0123456789abcdef.tmp"
    stale.write_bytes(b"half a pickle")
    Incremental(SGDClassifier(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    assert not stale.exists() and leftovers(tmp_path) == []


def test_a_filesystem_without_locks_warns_and_trains(tmp_path, data, monkeypatch):
    fcntl = pytest.importorskip("fcntl")

    def no_locks(fd, op):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    X, y = data
    with pytest.warns(RuntimeWarning, match="cannot lock .*No locks available"):
        Incremental(SGDClassifier(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    assert (tmp_path / FILENAME).exists()


def test_without_fcntl_the_lock_is_a_windows_byte_lock(tmp_path, data, monkeypatch):
    """Where fcntl is missing (Windows) the lock goes through msvcrt.locking, and is
    released before the file is closed (Windows frees unreleased locks only later)."""
    held, calls = {}, []

    def locking(fd, mode, nbytes):
        key = os.fstat(fd).st_ino
        calls.append(mode)
        assert nbytes == 1 and mode in (fake.LK_NBLCK, fake.LK_UNLCK)
        if mode == fake.LK_UNLCK:
            assert held.pop(key) == fd, "released by another file"
        elif key in held:
            raise PermissionError(13, "Permission denied")
        else:
            held[key] = fd

    fake = types.SimpleNamespace(LK_NBLCK=2, LK_UNLCK=0, locking=locking)
    monkeypatch.setitem(sys.modules, "fcntl", None)  # import fcntl -> ImportError
    monkeypatch.setitem(sys.modules, "msvcrt", fake)
    X, y = data
    with _checkpoint.lock(tmp_path):
        assert held, "msvcrt.locking was not called"
    assert not held  # released when the block ended
    held[os.stat(tmp_path / _checkpoint.LOCKNAME).st_ino] = -1  # another process holds it
    with pytest.raises(CheckpointInUseError, match="another fit is writing"):
        Incremental(SGDClassifier(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    held.clear()
    Incremental(SGDClassifier(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    assert (tmp_path / FILENAME).exists() and not held
    assert calls.count(fake.LK_UNLCK) == 2  # each lock taken was released


def test_without_locks_temporary_files_are_left_alone(tmp_path, monkeypatch):
    """Unlocked, a temporary file may be another fit's write in progress: kept."""
    fcntl = pytest.importorskip("fcntl")

    def no_locks(fd, op):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    in_progress = tmp_path / f".{FILENAME}.0123456789abcdef.tmp"
    in_progress.write_bytes(b"another fit's checkpoint, half written")
    with pytest.warns(RuntimeWarning, match="cannot lock"), _checkpoint.lock(tmp_path):
        pass
    assert in_progress.exists()


def test_cluster_checkpoints_hold_the_model_of_their_position(tmp_path, client, monkeypatch):
    """Each mid-pass checkpoint holds the model after exactly the blocks it records.

    A chain task on the worker that ran the previous one is handed that task's
    result object; it must train a copy, or a checkpoint fetched a little later
    holds a model that already learned the next blocks (and a resume trains
    them twice).
    """
    import dask.array as da

    rs = da.random.RandomState(0)
    X = rs.normal(size=(30 * 200, 5), chunks=(200, 5))
    y = (X[:, 0] > 0).astype(int)
    X = X - X.mean(axis=0) * 0  # one graph with y: blocks computed on the workers
    saved = []
    real_save = _checkpoint.save

    def recording_save(directory, state):
        saved.append((state["position"], float(state["model"].t_)))
        return real_save(directory, state)

    monkeypatch.setattr(_checkpoint, "save", recording_save)
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, progress=False,
                      checkpoint=tmp_path, checkpoint_every=1)
    inc.fit(X, y, classes=[0, 1])
    assert len(saved) >= 30
    # t_ counts rows seen, plus one; position -1 is the checkpoint at the end of the pass
    wrong = [(pos, t) for pos, t in saved if t != 1 + 200 * (pos + 1 if pos >= 0 else 30)]
    assert wrong == [], "checkpoints of a model that had learned more blocks"


def _ordered_first_block(X, y):
    """The digest of the first block of formats 2 and 3: rows in order."""
    from gpuinc._blocks import plan_blocks

    return _checkpoint.block_digest(plan_blocks(X, y, {}).blocks[0], ordered=True)


def _as_format_2(ckpt, X, y):
    """Rewrite a checkpoint as format 2 wrote it: no scoring in the fingerprint, no
    counts of a pass in progress, the first block digested in row order."""
    state = read_checkpoint(ckpt)
    state["format"] = 2
    del state["fingerprint"]["scoring"]
    state["fingerprint"]["first_block"] = _ordered_first_block(X, y)
    for key in [k for k in state if k.startswith("pass_")]:
        del state[key]
    (ckpt / FILENAME).write_bytes(pickle.dumps(state))


def test_a_checkpoint_of_format_3_resumes_mid_pass_and_still_tells_other_data(tmp_path,
                                                                             data,
                                                                             uninterrupted):
    X, y = data
    ckpt = tmp_path / "ckpt"
    CALLS["fail_at"] = 12
    with pytest.raises(InjectedFailure):
        Incremental(FlakySGD(random_state=0), checkpoint=ckpt, checkpoint_every=2,
                    **FIT).fit(X, y)
    state = read_checkpoint(ckpt)
    assert state["position"] >= 0
    state["format"] = 3
    state["fingerprint"]["first_block"] = _ordered_first_block(X, y)
    (ckpt / FILENAME).write_bytes(pickle.dumps(state))
    with pytest.raises(CheckpointMismatchError, match="first block of X/y differ"):
        Incremental(FlakySGD(random_state=0), checkpoint=ckpt, checkpoint_every=2,
                    **FIT).fit(X, 1 - y)
    resumed = Incremental(FlakySGD(random_state=0), checkpoint=ckpt, checkpoint_every=2,
                          **FIT).fit(X, y)
    assert resumed.resumed_from_["blocks"] > 0
    assert_same_model(resumed.estimator_, uninterrupted.estimator_)
    assert read_checkpoint(ckpt)["format"] == _checkpoint.FORMAT


def test_a_checkpoint_of_the_previous_format_resumes_at_a_pass_end(tmp_path, data,
                                                                   uninterrupted):
    X, y = data
    ckpt = tmp_path / "ckpt"
    Incremental(SGDClassifier(random_state=0), checkpoint=ckpt,
                **dict(FIT, epochs=1)).fit(X, y)
    _as_format_2(ckpt, X, y)
    resumed = Incremental(SGDClassifier(random_state=0), checkpoint=ckpt, **FIT).fit(X, y)
    assert_same_model(resumed.estimator_, uninterrupted.estimator_)
    assert len(resumed.history_) == FIT["epochs"]
    # other parameters are still compared
    _as_format_2(ckpt, X, y)
    with pytest.raises(CheckpointMismatchError, match="alpha"):
        Incremental(SGDClassifier(random_state=0, alpha=1.0), checkpoint=ckpt,
                    **dict(FIT, epochs=4)).fit(X, y)


def test_a_mid_pass_checkpoint_of_the_previous_format_is_refused(tmp_path, data):
    X, y = data
    ckpt = tmp_path / "ckpt"
    CALLS["fail_at"] = 4
    with pytest.raises(RuntimeError):
        Incremental(FlakySGD(random_state=0), checkpoint=ckpt, checkpoint_every=2,
                    **FIT).fit(X, y)
    assert read_checkpoint(ckpt)["position"] >= 0
    _as_format_2(ckpt, X, y)
    with pytest.raises(CheckpointMismatchError, match="middle of a pass by an earlier gpuinc"):
        Incremental(FlakySGD(random_state=0), checkpoint=ckpt, checkpoint_every=2,
                    **FIT).fit(X, y)


def test_two_fits_of_one_process_are_told_apart_without_the_filesystem(tmp_path, monkeypatch):
    """On NFS an flock is the process's: a second lock in the process succeeds there."""
    fcntl = pytest.importorskip("fcntl")
    monkeypatch.setattr(fcntl, "flock", lambda fd, op: None)  # every lock granted
    with _checkpoint.lock(tmp_path):
        with pytest.raises(CheckpointInUseError, match="another fit in this process"):
            with _checkpoint.lock(tmp_path / "." / ""):  # the same directory, spelt otherwise
                pass
    with _checkpoint.lock(tmp_path):  # free again once the first fit ended
        pass


def test_resumed_from_is_none_after_partial_fit(tmp_path, data):
    X, y = data
    inc = Incremental(FlakySGD(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    assert inc.resumed_from_ is None
    inc = Incremental(FlakySGD(random_state=0), checkpoint=tmp_path, **FIT).fit(X, y)
    assert inc.resumed_from_ is not None
    inc.partial_fit(X, y)
    assert inc.resumed_from_ is None
    assert Incremental(FlakySGD(random_state=0)).partial_fit(X, y).resumed_from_ is None


def test_array_parameters_are_compared_by_value():
    # repr shows 8 digits and elides the middle of long arrays: changed values looked equal
    a = np.linspace(0, 1, 5000)
    b = a.copy()
    b[2500] += 1e-13
    assert repr(a) == repr(b)
    assert _checkpoint.stable_repr(a) != _checkpoint.stable_repr(b)
    assert _checkpoint.stable_repr(a) == _checkpoint.stable_repr(a.copy())


def test_a_checkpoint_of_a_class_this_environment_lacks_is_not_called_unreadable(
        tmp_path, monkeypatch):
    """The file is fine: resuming needs the module its model's class comes from. Deleting
    it, as for a corrupt file, would throw the progress away."""
    import sys

    module = tmp_path / "gone_module.py"
    module.write_text("class Model:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_module

    _checkpoint.save(tmp_path / "ck", {"model": gone_module.Model()})
    module.unlink()
    monkeypatch.delitem(sys.modules, "gone_module")
    with pytest.raises(_checkpoint.CheckpointMismatchError,
                       match=r"could not be loaded here \(ModuleNotFoundError.*gone_module.*"
                             r"Resume where it was written"):
        _checkpoint.load(tmp_path / "ck", {})


def test_a_folder_that_refuses_the_temporary_file_names_the_target(tmp_path, monkeypatch):
    real_open = os.open

    def refused(path, *args, **kwargs):
        if str(path).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_checkpoint.os, "open", refused)
    with pytest.raises(PermissionError, match=r"could not write .*gpuinc-checkpoint.pkl: "
                                              r"Permission denied; choose a path you can"):
        _checkpoint.save(tmp_path, {"model": "m"})


def test_the_first_block_digest_ignores_the_row_order_only():
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.RandomState(0)
    Xn = rng.randn(50, 4)
    yn = rng.randint(0, 3, 50)
    w = rng.rand(50)
    order = rng.permutation(50)
    frame = pd.DataFrame(Xn, columns=list("abcd")).assign(s=list("xyzuv") * 10)
    digest = _checkpoint._rows_digest
    numeric = frame[list("abcd")].astype({"a": np.float32, "b": np.int64})
    for x in (Xn, frame, numeric, sp.random(50, 6, density=0.3, format="csr", random_state=0)):
        shuffled = x.iloc[order] if isinstance(x, pd.DataFrame) else x[order]
        base = digest(x, yn, {"sample_weight": w})
        assert digest(shuffled, yn[order], {"sample_weight": w[order]}) == base
        # the same rows, other pairings of X with y: other data
        assert digest(shuffled, yn, {"sample_weight": w[order]}) != base
        assert digest(x, np.where(yn == 0, 2, yn), {"sample_weight": w}) != base
        assert digest(x, yn, {"sample_weight": w * 2}) != base
    assert digest(frame, yn, {}) != digest(frame.rename(columns={"a": "z"}), yn, {})
    assert digest(Xn, yn, {}) != digest(Xn.astype(np.float32), yn, {})
    # structured changes that a plain sum of the values' bits cancels out: every row's
    # signs flipped in pairs (X against -X), and integers beyond float64's precision
    assert digest(Xn, yn, {}) != digest(-Xn, yn, {})
    assert digest(pd.DataFrame({"i": [2**53 + 1], "f": [0.5]}), None, {}) != digest(
        pd.DataFrame({"i": [2**53], "f": [0.5]}), None, {})


def test_the_first_block_digest_needs_a_few_columns_of_memory_not_the_block_times_16():
    import tracemalloc

    block = np.random.RandomState(0).randint(0, 255, size=(200_000, 50), dtype=np.uint8)
    tracemalloc.start()
    try:
        _checkpoint._rows_digest(block, None, {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * block.nbytes  # (uint64 products of the whole block: 16 times it)


def test_a_fit_on_a_frame_whose_rows_dask_reorders_resumes_from_its_checkpoint(tmp_path):
    # after set_index on a key with ties, Dask gives block 0's rows in another order on
    # each compute: the checkpoint was refused as belonging to other data
    import dask.dataframe as dd
    import pandas as pd

    rng = np.random.RandomState(0)
    df = pd.DataFrame(rng.randn(2000, 3), columns=list("abc"))
    df["t"] = (df.a > 0).astype(int)
    df["day"] = rng.randint(0, 30, 2000)
    frame = dd.from_pandas(df, npartitions=8).set_index("day")
    X, y = frame[list("abc")], frame["t"]
    ckpt = tmp_path / "ckpt"
    kwargs = dict(random_state=0, epochs=3, checkpoint=ckpt, checkpoint_every=2)
    CALLS["fail_at"] = 12
    with pytest.raises(InjectedFailure):
        Incremental(FlakySGD(random_state=0), **kwargs).fit(X, y, classes=[0, 1])
    resumed = Incremental(FlakySGD(random_state=0), **kwargs).fit(X, y, classes=[0, 1])
    assert resumed.resumed_from_["passes"] == 1
    assert len(resumed.history_) == 3


def test_the_first_block_is_digested_where_it_is_held(tmp_path, monkeypatch):
    # with a client, block 0 came whole to the client to be digested there
    distributed = pytest.importorskip("distributed")
    digest, seen = _checkpoint._rows_digest, tmp_path / "digested-on"

    def where(*args):  # (sent to the worker pickled: it leaves a file, not a list entry)
        with open(seen, "a") as fh:
            fh.write(distributed.get_worker().address + "\n")  # raises outside a task
        return digest(*args)

    monkeypatch.setattr(_checkpoint, "_rows_digest", where)
    X, y = make_classification(**DATA)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster):
        X, y = dask.persist(X, y)
        Incremental(SGDClassifier(random_state=0), checkpoint=tmp_path / "ckpt",
                    **FIT).fit(X, y)
    assert len(seen.read_text().split()) == 1


def test_train_score_switched_on_at_a_mid_pass_resume_records_none_for_that_pass(tmp_path,
                                                                                 data):
    # the resumed pass's score covered only the blocks after the checkpoint, while the
    # docs promise the record of the whole pass
    X, y = data
    ckpt = tmp_path / "ckpt"
    kwargs = dict(FIT, checkpoint=ckpt, checkpoint_every=2, scoring="accuracy")
    CALLS["fail_at"] = 14  # pass 2, after a checkpoint at its block 4
    with pytest.raises(InjectedFailure):
        Incremental(FlakySGD(random_state=0), **kwargs).fit(X, y)
    assert read_checkpoint(ckpt)["position"] >= 0
    with pytest.warns(UserWarning, match="the resumed pass records no train_score"):
        resumed = Incremental(FlakySGD(random_state=0), train_score=True, **kwargs).fit(X, y)
    scores = [record.get("train_score") for record in resumed.history_]
    assert scores[0] is None and scores[1] is None  # pass 1 was done before; pass 2 resumed
    assert 0.5 < scores[2] <= 1.0


# ------------------------------------------- defect fixes: resume, data check
@pytest.mark.parametrize("before", [dict(early_stopping=True, n_iter_no_change=5),
                                    dict(early_stopping=False)])
def test_a_mid_pass_resume_finishes_its_pass_before_the_stopping_rule_as_now_set(tmp_path,
                                                                                data, before):
    # the rule, tightened, stopped the fit before the pass in progress: its half-trained
    # model was returned, with a history_ that ended a pass earlier
    X, y = data
    kw = dict(FIT, scoring=_constant_score, epochs=10, checkpoint=tmp_path,
              checkpoint_every=1, progress=False)
    CALLS["fail_at"] = 3 * TRAIN_BLOCKS + 4  # block 4 of pass 4
    with pytest.raises(InjectedFailure):
        Incremental(FlakySGD(random_state=0), **before, **kw).fit(X, y)
    resumed = Incremental(FlakySGD(random_state=0), early_stopping=True, n_iter_no_change=2,
                          **kw).fit(X, y)
    assert resumed.resumed_from_ == {"passes": 3, "blocks": 3}
    assert (resumed.n_epochs_, resumed.stopped_early_) == (4, True)
    assert [r["epoch"] for r in resumed.history_] == [1, 2, 3, 4]
    assert resumed.history_[-1]["val_score"] == 0.5
    assert resumed.history_[-1]["blocks"] == TRAIN_BLOCKS
    four = Incremental(SGDClassifier(random_state=0),
                       **dict(FIT, scoring=_constant_score, epochs=4)).fit(X, y)
    assert_same_model(resumed.estimator_, four.estimator_)
    again = Incremental(FlakySGD(random_state=0), early_stopping=True, n_iter_no_change=2,
                        **kw).fit(X, y)  # finished: nothing left to train
    assert again.resumed_from_ == {"passes": 4, "blocks": 0} and again.n_epochs_ == 4


def _first_partition_empty(seed):
    """A Dask DataFrame whose partition 0 a filter emptied (row counts unknown)."""
    import dask.dataframe as dd
    import pandas as pd

    rng = np.random.RandomState(seed)
    df = pd.DataFrame(rng.randn(200, 3), columns=list("abc"))
    df["t"] = (df.a > 0).astype(int)
    df["day"] = np.repeat(np.arange(10), 20)
    ddf = dd.from_pandas(df, npartitions=10)
    ddf = ddf[ddf.day >= 1]
    return ddf[list("abc")], ddf.t


def test_an_empty_first_block_does_not_make_the_data_check_vacuous(tmp_path):
    kw = dict(random_state=0, epochs=2, progress=False, checkpoint=tmp_path)
    X, y = _first_partition_empty(0)
    Incremental(SGDClassifier(random_state=0), **kw).fit(X, y, classes=[0, 1])
    X2, y2 = _first_partition_empty(1)  # other data, the same shape
    with pytest.raises(CheckpointMismatchError, match="first block of X/y differ"):
        Incremental(SGDClassifier(random_state=0), **kw).fit(X2, y2, classes=[0, 1])
    assert read_checkpoint(tmp_path)["fingerprint"]["first_block_at"] == 1
    same = Incremental(SGDClassifier(random_state=0), **kw).fit(X, y, classes=[0, 1])
    assert same.resumed_from_ == {"passes": 2, "blocks": 0}


def _as_written_before_first_block_at(ckpt, X, y):
    """Rewrite a checkpoint's fingerprint as gpuinc wrote it before "first_block_at": the
    digest of block 0, rows or not."""
    from gpuinc._blocks import plan_blocks

    state = read_checkpoint(ckpt)
    state["fingerprint"].pop("first_block_at", None)
    state["fingerprint"]["first_block"] = _checkpoint.block_digest(
        plan_blocks(X, y, {}).blocks[0])
    (ckpt / FILENAME).write_bytes(pickle.dumps(state))


def test_a_checkpoint_written_before_the_first_block_with_rows_was_digested(tmp_path, data):
    # block 0 with rows: it digested the same block, and resumes
    X, y = data
    ckpt = tmp_path / "rows"
    Incremental(SGDClassifier(random_state=0), checkpoint=ckpt, **FIT).fit(X, y)
    _as_written_before_first_block_at(ckpt, X, y)
    with pytest.raises(CheckpointMismatchError, match="first block of X/y differ"):
        Incremental(SGDClassifier(random_state=0), checkpoint=ckpt, **FIT).fit(X, 1 - y)
    resumed = Incremental(SGDClassifier(random_state=0), checkpoint=ckpt, **FIT).fit(X, y)
    assert resumed.resumed_from_ == {"passes": 3, "blocks": 0}
    # block 0 empty: its digest checked nothing; refused, saying what to do
    ckpt = tmp_path / "empty"
    kw = dict(random_state=0, epochs=2, progress=False, checkpoint=ckpt)
    X, y = _first_partition_empty(0)
    Incremental(SGDClassifier(random_state=0), **kw).fit(X, y, classes=[0, 1])
    _as_written_before_first_block_at(ckpt, X, y)
    with pytest.raises(CheckpointMismatchError, match=r"earlier gpuinc.*block 0 of this X is "
                                                      r"empty.*Delete the checkpoint"):
        Incremental(SGDClassifier(random_state=0), **kw).fit(X, y, classes=[0, 1])


# ------------------------------------------------- fingerprint: what else it records
SMALL = dict(n_samples=120, n_features=4, chunks=30, random_state=0)


def _drop_from_fingerprint(ckpt, *keys):
    """Rewrite a checkpoint's fingerprint as gpuinc wrote it before ``keys`` joined it."""
    state = read_checkpoint(ckpt)
    for key in keys:
        del state["fingerprint"][key]
    (ckpt / FILENAME).write_bytes(pickle.dumps(state))


def test_other_validation_data_is_refused_and_the_same_resumes(tmp_path):
    # the checkpoint's best score and no-improvement count were computed on its validation
    # data: scores of another set must not be compared with them
    X, y = make_classification(**SMALL)
    Xa, ya = make_classification(**dict(SMALL, n_samples=60, random_state=1))
    Xb, yb = make_classification(**dict(SMALL, n_samples=60, random_state=2))
    kw = dict(random_state=0, validation=None, early_stopping=True, n_iter_no_change=2,
              progress=False, checkpoint=tmp_path)
    Incremental(SGDClassifier(random_state=0), epochs=1, **kw).fit(X, y,
                                                                  validation_data=(Xa, ya))
    saved = (tmp_path / FILENAME).read_bytes()
    for other in [(Xb, yb), (Xa, 1 - ya), (Xa[:30], ya[:30])]:
        with pytest.raises(CheckpointMismatchError, match=r"validation_data: this fit's "
                           r"validation data differs.*pass the same validation_data"):
            Incremental(SGDClassifier(random_state=0), epochs=2, **kw).fit(
                X, y, validation_data=other)
    with pytest.raises(CheckpointMismatchError, match="validation_data: the checkpoint's "
                                                      "scores.*this fit has none"):
        Incremental(SGDClassifier(random_state=0), epochs=2,
                    **dict(kw, early_stopping=False)).fit(X, y)
    assert (tmp_path / FILENAME).read_bytes() == saved
    again = Incremental(SGDClassifier(random_state=0), epochs=2, **kw).fit(
        X, y, validation_data=(Xa, ya))
    assert again.resumed_from_ == {"passes": 1, "blocks": 0}


def test_only_the_first_validation_block_with_rows_is_read_for_the_fingerprint(tmp_path,
                                                                               monkeypatch):
    X, y = make_classification(**SMALL)
    Xv, yv = make_classification(**dict(SMALL, random_state=1))  # 4 blocks
    read = []
    real = _checkpoint.first_rows_digest

    def counted(blocks):
        read.append(0)

        def each():
            for block in blocks:
                read[-1] += 1
                yield block

        return real(each())

    monkeypatch.setattr(_checkpoint, "first_rows_digest", counted)
    Incremental(SGDClassifier(random_state=0), epochs=1, progress=False,
                checkpoint=tmp_path).fit(X, y, validation_data=(Xv, yv))
    assert read == [1, 1]  # X's first block, and validation_data's


def test_another_classes_is_refused_naming_classes(tmp_path):
    X, y = make_classification(**SMALL)
    kw = dict(random_state=0, progress=False, checkpoint=tmp_path)
    CALLS["fail_at"] = 6  # in the second pass (4 blocks a pass)
    with pytest.raises(InjectedFailure):
        Incremental(FlakySGD(random_state=0), epochs=3, checkpoint_every=1, **kw).fit(
            X, y, classes=[0, 1])
    with pytest.raises(CheckpointMismatchError, match=r"fit\(classes=\.\.\.\): checkpoint has "
                                                      r"\[0, 1\], this fit has \[0, 1, 2\]"):
        Incremental(FlakySGD(random_state=0), epochs=3, checkpoint_every=1, **kw).fit(
            X, y, classes=[0, 1, 2])
    # the same classes as an array (or a tuple): compared by value, it resumes
    done = Incremental(FlakySGD(random_state=0), epochs=3, checkpoint_every=1, **kw).fit(
        X, y, classes=np.array([0, 1]))
    assert done.resumed_from_["passes"] == 1
    # a finished checkpoint is not returned for a fit asking for other classes
    with pytest.raises(CheckpointMismatchError, match=r"fit\(classes=\.\.\.\)"):
        Incremental(FlakySGD(random_state=0), epochs=3, **kw).fit(X, y, classes=[0, 1, 2])
    same = Incremental(FlakySGD(random_state=0), epochs=3, **kw).fit(X, y, classes=(0, 1))
    assert same.resumed_from_ == {"passes": 3, "blocks": 0}


def test_a_checkpoint_written_before_fit_keywords_dtypes_and_validation_data_resumes(
        tmp_path):
    # checkpoints of this format written by the gpuinc before these joined the fingerprint
    X, y = make_classification(**SMALL)
    Xv, yv = make_classification(**dict(SMALL, random_state=1))
    kw = dict(random_state=0, progress=False, checkpoint=tmp_path)
    Incremental(SGDClassifier(random_state=0), epochs=1, **kw).fit(
        X, y, classes=[0, 1], validation_data=(Xv, yv))
    _drop_from_fingerprint(tmp_path, "fit_kwargs", "dtypes", "validation_data")
    inc = Incremental(SGDClassifier(random_state=0), epochs=2, **kw).fit(
        X, y, classes=[0, 1], validation_data=(Xv, yv))
    assert inc.resumed_from_ == {"passes": 1, "blocks": 0}
    assert read_checkpoint(tmp_path)["fingerprint"]["fit_kwargs"] == {"classes": "[0, 1]"}


def test_another_dtype_is_said_as_such(tmp_path):
    X, y = make_classification(**SMALL)
    kw = dict(random_state=0, progress=False, checkpoint=tmp_path)
    Incremental(SGDClassifier(random_state=0), epochs=1, **kw).fit(X.astype("float32"), y)
    with pytest.raises(CheckpointMismatchError, match="the dtype of X: checkpoint has float32, "
                                                      "this fit has float64") as info:
        Incremental(SGDClassifier(random_state=0), epochs=2, **kw).fit(X.astype("float64"), y)
    assert "values of the first block" not in str(info.value)
    with pytest.raises(CheckpointMismatchError, match="the dtype of y: checkpoint has int64, "
                                                      "this fit has int32"):
        Incremental(SGDClassifier(random_state=0), epochs=2, **kw).fit(
            X.astype("float32"), y.astype("int32"))
    # the other values, in the same dtype: said as before
    Xo, yo = make_classification(**dict(SMALL, random_state=1))
    with pytest.raises(CheckpointMismatchError, match="values of the first block"):
        Incremental(SGDClassifier(random_state=0), epochs=2, **kw).fit(Xo.astype("float32"), yo)
    # a checkpoint written before the dtypes were recorded: the digest still tells
    _drop_from_fingerprint(tmp_path, "dtypes")
    with pytest.raises(CheckpointMismatchError, match="values of the first block"):
        Incremental(SGDClassifier(random_state=0), epochs=2, **kw).fit(X.astype("float64"), y)


def test_a_frame_s_dtypes_are_counted_by_column():
    import dask.dataframe as dd
    import pandas as pd

    frame = pd.DataFrame({"a": [1.0], "b": [2], "c": [3]})
    assert _checkpoint.dtype_words(frame) == "float64 (1 column), int64 (2 columns)"
    assert _checkpoint.dtype_words(dd.from_pandas(frame, npartitions=1)) == \
        "float64 (1 column), int64 (2 columns)"
    assert _checkpoint.dtype_words(frame.a) == "float64"
    assert _checkpoint.dtype_words(None) is None


def _non_canonical_csr(read_only=False):
    import scipy.sparse as sp

    n = 40
    indptr = np.arange(0, 2 * n + 1, 2)
    indices = np.tile([3, 1], n)
    indices[::2] = 1  # each row: a duplicate entry, indices not sorted in some
    indices[1::4] = 0
    data = np.random.RandomState(0).rand(2 * n)
    if read_only:  # as memory-mapped files or buffers from another process can be
        for a in (indptr, indices, data):
            a.flags.writeable = False
    return sp.csr_matrix((data, indices, indptr), shape=(n, 5))


def test_the_sparse_digest_leaves_the_callers_matrix_as_it_is():
    X = _non_canonical_csr()
    arrays = (X.indptr, X.indices, X.data)
    before = tuple(a.copy() for a in arrays)
    y = np.arange(X.shape[0]) % 2
    digest = _checkpoint._rows_digest(X, y, {})
    assert all(a is b for a, b in zip((X.indptr, X.indices, X.data), arrays, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(arrays, before, strict=True))
    # the digest of the same matrix in canonical form
    canonical = X.copy()
    canonical.sum_duplicates()
    assert _checkpoint._rows_digest(canonical, y, {}) == digest


def test_a_read_only_sparse_matrix_is_digested(tmp_path):
    X = _non_canonical_csr(read_only=True)
    y = np.arange(X.shape[0]) % 2
    Incremental(SGDClassifier(random_state=0), epochs=1, progress=False,
                checkpoint=tmp_path).fit(X, y)
    again = Incremental(SGDClassifier(random_state=0), epochs=1, progress=False,
                        checkpoint=tmp_path).fit(X, y)
    assert again.resumed_from_ == {"passes": 1, "blocks": 0}


def test_numpy_scalars_match_the_same_python_values(tmp_path):
    X, y = make_classification(**SMALL)
    kw = dict(progress=False, checkpoint=tmp_path)
    Incremental(SGDClassifier(random_state=0, alpha=1e-4), random_state=0, epochs=1,
                **kw).fit(X, y)
    inc = Incremental(SGDClassifier(random_state=np.int64(0), alpha=np.float64(1e-4)),
                      random_state=np.int64(0), epochs=2, **kw).fit(X, y)
    assert inc.resumed_from_ == {"passes": 1, "blocks": 0}
    assert _checkpoint.stable_repr(np.float32(0.5)) == "0.5"
    assert _checkpoint.stable_repr(np.True_) == "True"
    # fingerprints that an earlier gpuinc wrote with NumPy's repr still match
    assert _checkpoint._differences(
        {"random_state": "np.int64(0)", "params": {"alpha": "np.float64(0.0001)",
                                                   "sizes": "(np.int64(3), 2)"}},
        {"random_state": "0", "params": {"alpha": "0.0001", "sizes": "(3, 2)"}}) == []
    assert _checkpoint._differences({"random_state": "np.int64(1)"},
                                    {"random_state": "0"}) != []


def test_a_checkpoint_file_that_cannot_be_read_is_named(tmp_path, monkeypatch):
    X, y = make_classification(**SMALL)
    kw = dict(random_state=0, progress=False, checkpoint=tmp_path)
    Incremental(SGDClassifier(random_state=0), epochs=1, **kw).fit(X, y)
    target = str(_checkpoint.path_for(tmp_path))

    def denied(path, *args, **kwargs):  # as for a file of another user (tests run as root)
        if str(path) == target:
            raise PermissionError(13, "Permission denied", target)
        return open(path, *args, **kwargs)

    monkeypatch.setattr(_checkpoint, "open", denied, raising=False)
    with pytest.raises(CheckpointMismatchError, match=rf"{target} cannot be read \(Permission "
                                                      r"denied\); give this user read access"):
        Incremental(SGDClassifier(random_state=0), epochs=2, **kw).fit(X, y)


def test_a_written_checkpoint_s_directory_is_flushed(tmp_path, monkeypatch):
    import stat

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(
        stat.S_ISDIR(os.fstat(fd).st_mode)) or real(fd))
    _checkpoint.save(tmp_path, {"x": 1})
    assert synced == [False, True]  # the file, then the directory that names it
    # where a directory cannot be opened (Windows), the checkpoint is written all the same
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, flags, *a: (_ for _ in ()).throw(
        PermissionError(13, "Permission denied")) if os.path.isdir(path) else
        real_open(path, flags, *a))
    synced.clear()
    _checkpoint.save(tmp_path, {"x": 2})
    assert synced == [False] and read_checkpoint(tmp_path)["x"] == 2


def test_fit_keywords_are_compared_by_value_whatever_their_container():
    text = _checkpoint.keyword_repr(["a", "b"])
    assert text == "['a', 'b']"
    assert _checkpoint.keyword_repr(np.array(["a", "b"], dtype=object)) == text
    assert _checkpoint.keyword_repr(("a", "b")) == text
    assert _checkpoint.keyword_repr(np.arange(30)) != _checkpoint.keyword_repr(np.arange(1, 31))
    assert _checkpoint.keyword_repr(np.float64(2.0)) == _checkpoint.keyword_repr(2.0)
