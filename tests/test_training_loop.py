"""The multi-pass training loop of ``Incremental``: epochs, block order,
validation, early stopping, ``history_``, progress output and the learning
curve plot."""

from __future__ import annotations

import io
import re
import sys

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from arrays import swallows_interrupts, text_label_frame
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import SGDClassifier

from gpuinc import History, Incremental
from gpuinc.datasets import make_classification

CHUNK = 10
N_BLOCKS = 8

#: rows passed to ``predict`` by the estimators below, one entry per call
PREDICT_CALLS: list[int] = []


def block_data(n_blocks=N_BLOCKS, chunk=CHUNK):
    """X whose first column is the row number, so a block names itself."""
    n = n_blocks * chunk
    rows = np.arange(n, dtype=float)
    X = np.column_stack([rows, (rows * 0.6180339887) % 1.0])
    y = (np.arange(n) % 2).astype(int)
    return da.from_array(X, chunks=(chunk, 2)), da.from_array(y, chunks=chunk)


class BlockRecorder(ClassifierMixin, BaseEstimator):
    """Remembers which block each ``partial_fit`` call saw; predicts class 0."""

    def __init__(self, chunk=CHUNK):
        self.chunk = chunk

    def partial_fit(self, X, y):
        self.seen_ = [*getattr(self, "seen_", []), int(X[0, 0]) // self.chunk]
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):
        PREDICT_CALLS.append(X.shape[0])
        return np.zeros(X.shape[0], dtype=int)


class SlowLearner(ClassifierMixin, BaseEstimator):
    """Its accuracy grows by about ``step * blocks`` per pass, whatever the data.

    Row ``i`` is predicted right when its second feature (a low-discrepancy
    sequence in [0, 1)) is below ``step * calls``; the labels are the parity
    of the row number (column 0).
    """

    def __init__(self, step=0.005):
        self.step = step

    def partial_fit(self, X, y):
        self.calls_ = getattr(self, "calls_", 0) + 1
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):
        truth = X[:, 0].astype(int) % 2
        right = X[:, 1] < self.step * self.calls_
        return np.where(right, truth, 1 - truth)


def passes(seen, blocks_per_pass):
    return [seen[i:i + blocks_per_pass] for i in range(0, len(seen), blocks_per_pass)]


@pytest.fixture(autouse=True)
def _reset_predict_calls():
    PREDICT_CALLS.clear()


# ----------------------------------------------------------------- epochs
def test_default_is_one_pass():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0)
    assert inc.epochs == 1
    inc.fit(X, y)
    assert sorted(inc.estimator_.seen_) == list(range(N_BLOCKS))
    assert len(inc.history_) == 1


def test_epochs_make_that_many_passes_over_every_block():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, epochs=3).fit(X, y)
    seen = inc.estimator_.seen_
    assert len(seen) == 3 * N_BLOCKS
    for order in passes(seen, N_BLOCKS):
        assert sorted(order) == list(range(N_BLOCKS))
    assert [r["epoch"] for r in inc.history_] == [1, 2, 3]
    assert inc.n_epochs_ == 3
    assert not inc.stopped_early_


def test_fit_starts_from_a_fresh_clone_each_time():
    X, y = block_data()
    est = BlockRecorder()
    inc = Incremental(est, random_state=0, epochs=2)
    inc.fit(X, y)
    inc.fit(X, y)
    assert len(inc.estimator_.seen_) == 2 * N_BLOCKS
    assert not hasattr(est, "seen_")  # the wrapped estimator is never trained


def test_blocks_reshuffled_every_pass_reproducibly():
    X, y = block_data()

    def orders(**kw):
        inc = Incremental(BlockRecorder(), epochs=4, **kw).fit(X, y)
        return passes(inc.estimator_.seen_, N_BLOCKS)

    first = orders(random_state=0)
    assert len({tuple(o) for o in first}) == 4  # a new order on every pass
    assert orders(random_state=0) == first
    assert orders(random_state=1) != first
    assert orders(random_state=0, shuffle_blocks=False) == [list(range(N_BLOCKS))] * 4


def test_partial_fit_makes_exactly_one_pass_whatever_epochs_says():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, epochs=5)
    inc.partial_fit(X, y)
    assert sorted(inc.estimator_.seen_) == list(range(N_BLOCKS))
    inc.partial_fit(X, y)
    seen = inc.estimator_.seen_
    assert len(seen) == 2 * N_BLOCKS  # continued, not restarted
    assert sorted(seen[N_BLOCKS:]) == list(range(N_BLOCKS))
    assert [r["blocks"] for r in inc.history_] == [N_BLOCKS, N_BLOCKS]


def test_partial_fit_after_fit_continues_and_appends_one_record():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, epochs=2).fit(X, y)
    inc.partial_fit(X, y)
    assert len(inc.estimator_.seen_) == 3 * N_BLOCKS
    assert len(inc.history_) == 3


def test_partial_fit_after_fit_numbers_its_pass_after_the_others():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, epochs=2).fit(X, y)
    inc.partial_fit(X, y)
    assert [r["epoch"] for r in inc.history_] == [1, 2, 3]


def test_partial_fit_keeps_the_blocks_held_out_by_validation(capsys):
    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", random_state=0, epochs=2,
                      validation=0.25, verbose=1, progress=False).fit(X, y)
    trained = sorted(inc.estimator_.seen_[:N_BLOCKS - 2])
    inc.partial_fit(X, y)
    assert sorted(inc.estimator_.seen_[-(N_BLOCKS - 2):]) == trained  # same split
    assert len(inc.estimator_.seen_) == 3 * (N_BLOCKS - 2)
    assert [r["epoch"] for r in inc.history_] == [1, 2, 3]
    assert inc.history_[-1]["val_score"] == 0.5
    assert "pass 3: val_score=0.50000" in capsys.readouterr().out
    # a first partial_fit holds out the blocks that fit would
    alone = Incremental(BlockRecorder(), scoring="accuracy", random_state=0, validation=0.25)
    alone.partial_fit(X, y)
    assert sorted(alone.estimator_.seen_) == trained
    assert alone.history_[-1]["val_score"] == 0.5


def test_partial_fit_scores_validation_data():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", validation=0.25, random_state=0)
    inc.partial_fit(X, y, validation_data=(X[:20], y[:20]))
    assert sorted(inc.estimator_.seen_) == list(range(N_BLOCKS))  # validation_data wins
    assert inc.history_[-1]["val_score"] == 0.5



def test_partial_fit_on_one_block_trains_it_whole_with_validation_set():
    """A stream of one in-memory batch per call: validation= holds nothing out."""
    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", validation=0.25, random_state=0)
    Xc, yc = X.compute(), y.compute()
    for i in range(3):
        inc.partial_fit(Xc[i * CHUNK:(i + 1) * CHUNK], yc[i * CHUNK:(i + 1) * CHUNK])
        inc.partial_fit(X[:CHUNK], y[:CHUNK])  # a one-block Dask array too
    assert len(inc.estimator_.seen_) == 6
    assert len(inc.history_) == 6 and "val_score" not in inc.history_[-1]
    with pytest.raises(ValueError, match="only one block"):  # fit still needs blocks to hold out
        Incremental(BlockRecorder(), scoring="accuracy", validation=0.25).fit(X[:CHUNK], y[:CHUNK])

class ScriptedScores:
    """A scorer that returns the given scores, one per call."""

    def __init__(self, scores):
        self.scores = list(scores)

    def __call__(self, estimator, X, y):
        return self.scores.pop(0)


def test_a_score_that_is_not_a_number_never_becomes_the_best():
    X, y = block_data()
    scores = [float("nan"), 0.5, 0.6, 0.7, 0.8]
    inc = Incremental(BlockRecorder(), scoring=ScriptedScores(scores), epochs=5,
                      validation=0.25, early_stopping=True, n_iter_no_change=3, progress=False)
    with pytest.warns(RuntimeWarning, match="validation score of pass 1 is nan"):
        inc.fit(X, y)
    assert (inc.n_epochs_, inc.stopped_early_) == (5, False)
    stalled = Incremental(BlockRecorder(), scoring=ScriptedScores([0.5] + [float("inf")] * 4),
                          epochs=5, validation=0.25, early_stopping=True, n_iter_no_change=2,
                          progress=False)
    with pytest.warns(RuntimeWarning, match="is inf"):
        stalled.fit(X, y)
    assert (stalled.n_epochs_, stalled.stopped_early_) == (3, True)


@pytest.mark.parametrize("params, message", [
    ({"epochs": 0}, "epochs must be an integer >= 1, got 0"),
    ({"epochs": 2.7}, "epochs must be an integer >= 1, got 2.7"),
    ({"epochs": "3"}, "epochs must be an integer >= 1, got '3'"),
    ({"epochs": True}, "epochs must be an integer >= 1, got True"),
    ({"prefetch": -1}, "prefetch must be an integer >= 0"),
    ({"n_iter_no_change": 0}, "n_iter_no_change must be an integer >= 1, got 0"),
    ({"n_iter_no_change": None}, "n_iter_no_change must be an integer >= 1, got None"),
    ({"tol": None}, "tol must be a number >= 0, got None"),
    ({"tol": "a"}, "tol must be a number >= 0, got 'a'"),
    ({"tol": -1e-3}, "tol must be a number >= 0"),
    ({"validation": "0.1"}, "validation must be None or a fraction of the blocks in"),
    ({"validation": 1.0}, "validation must be None or a fraction of the blocks in"),
    ({"checkpoint_every": True}, "checkpoint_every must be 'epoch' or a block count"),
    ({"checkpoint": ""}, "checkpoint must be None or a directory, got an empty path"),
])
def test_bad_training_parameters_fail_before_any_block(params, message):
    X, y = block_data()
    est = BlockRecorder()
    with pytest.raises(ValueError, match=re.escape(message)):
        Incremental(est, **params).fit(X, y)
    with pytest.raises(ValueError, match=re.escape(message)):
        Incremental(est, **params).partial_fit(X, y)


def test_numpy_integers_are_accepted_as_counts():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), epochs=np.int64(2), n_iter_no_change=np.int32(2),
                      tol=np.float32(0.0), progress=False).fit(X, y)
    assert inc.n_epochs_ == 2


@pytest.mark.parametrize("bad", ["X", "triple", "dict"])
def test_validation_data_must_be_a_pair(bad):
    X, y = block_data()
    value = {"X": X, "triple": (X, y, y), "dict": {"X": X}}[bad]
    with pytest.raises(ValueError, match="validation_data must be a pair"):
        Incremental(BlockRecorder(), scoring="accuracy").fit(X, y, validation_data=value)


# ------------------------------------------------------------- validation
def test_validation_fraction_holds_out_the_same_blocks_every_pass():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", random_state=0, epochs=3,
                      validation=0.25).fit(X, y)
    orders = passes(inc.estimator_.seen_, N_BLOCKS - 2)
    trained = set(orders[0])
    assert len(trained) == N_BLOCKS - 2
    assert all(set(o) == trained for o in orders)
    held_out = set(range(N_BLOCKS)) - trained
    assert len(held_out) == 2
    for record in inc.history_:
        assert record["blocks"] == N_BLOCKS - 2
        assert record["rows"] == (N_BLOCKS - 2) * CHUNK
        # y alternates 0/1 and the model predicts 0: accuracy is exactly 1/2
        assert record["val_score"] == pytest.approx(0.5)
    # validation was scored block by block: two blocks per pass, never gathered
    assert PREDICT_CALLS == [CHUNK] * (2 * 3)


def test_validation_split_depends_on_random_state():
    X, y = block_data()

    def trained(seed):
        inc = Incremental(BlockRecorder(), random_state=seed, validation=0.25).fit(X, y)
        return set(inc.estimator_.seen_)

    assert trained(0) == trained(0)
    assert any(trained(s) != trained(0) for s in range(1, 6))


def test_validation_data_is_scored_blockwise_after_every_pass():
    X, y = block_data()
    Xv, yv = block_data(n_blocks=4, chunk=5)
    inc = Incremental(BlockRecorder(), random_state=0, epochs=2)
    inc.fit(X, y, validation_data=(Xv, yv))
    assert len(inc.estimator_.seen_) == 2 * N_BLOCKS  # all of X trains
    assert [r["val_score"] for r in inc.history_] == [pytest.approx(0.5)] * 2
    assert PREDICT_CALLS == [5] * (4 * 2)


def test_last_val_score_is_the_score_of_the_final_model():
    # (validation rows from the same problem: another random_state is another problem)
    Xa, ya = make_classification(n_samples=2600, n_features=10, chunks=200, random_state=0)
    X, y, Xv, yv = Xa[:2000], ya[:2000], Xa[2000:], ya[2000:]
    inc = Incremental(SGDClassifier(random_state=0), scoring="accuracy", random_state=0,
                      epochs=3).fit(X, y, validation_data=(Xv, yv))
    assert inc.history_[-1]["val_score"] == pytest.approx(inc.score(Xv, yv))
    assert 0.5 < inc.history_[-1]["val_score"] <= 1.0


def test_validation_fraction_needs_two_blocks():
    X, y = block_data(n_blocks=1)
    with pytest.raises(ValueError, match="validation_data"):
        Incremental(BlockRecorder(), validation=0.2).fit(X, y)


@pytest.mark.parametrize("fraction", [0, 1, 1.5])
def test_validation_fraction_must_be_a_fraction(fraction):
    X, y = block_data()
    with pytest.raises(ValueError, match="fraction"):
        Incremental(BlockRecorder(), validation=fraction).fit(X, y)


# --------------------------------------------------------- early stopping
def test_early_stopping_stops_on_a_plateau():
    # BlockRecorder always predicts 0: its validation score never improves.
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, epochs=20, validation=0.25,
                      early_stopping=True, n_iter_no_change=3).fit(X, y)
    assert len(inc.history_) == 1 + 3
    assert inc.n_epochs_ == 4
    assert inc.stopped_early_
    assert len(inc.estimator_.seen_) == 4 * (N_BLOCKS - 2)


def test_without_early_stopping_a_plateau_runs_every_epoch():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, epochs=6, validation=0.25,
                      n_iter_no_change=2).fit(X, y)
    assert len(inc.history_) == 6
    assert not inc.stopped_early_


def test_early_stopping_tol_decides_what_counts_as_improvement():
    X, y = block_data(chunk=50)
    Xv, yv = block_data(n_blocks=4, chunk=100)

    def fit(tol):
        inc = Incremental(SlowLearner(), random_state=0, epochs=6, early_stopping=True,
                          n_iter_no_change=2, tol=tol)
        return inc.fit(X, y, validation_data=(Xv, yv))

    steady = fit(tol=1e-3)
    scores = [r["val_score"] for r in steady.history_]
    assert len(scores) == 6 and not steady.stopped_early_
    gains = np.diff(scores)
    assert (gains > 0.02).all() and (gains < 0.06).all()  # about 0.04 per pass
    strict = fit(tol=0.1)  # gains of 0.04 are not improvements at this tol
    assert len(strict.history_) == 1 + 2
    assert strict.stopped_early_


def test_early_stopping_counts_like_scikit_learn():
    # scores rising by 0.6 tol a pass: none is tol above the best so far, so after
    # n_iter_no_change passes scikit-learn's rule stops (the best moves up every pass)
    X, y = block_data()
    Xv, yv = block_data(n_blocks=1)
    calls = []

    def creeping(estimator, X, y):
        calls.append(1)
        return 0.5 + 0.6e-4 * len(calls)

    inc = Incremental(BlockRecorder(), random_state=0, epochs=10, early_stopping=True,
                      n_iter_no_change=2, tol=1e-4, scoring=creeping)
    inc.fit(X, y, validation_data=(Xv, yv))
    assert len(inc.history_) == 3 and inc.stopped_early_


def test_early_stopping_needs_validation_data():
    X, y = block_data()
    with pytest.raises(ValueError, match="validation"):
        Incremental(BlockRecorder(), early_stopping=True, epochs=3).fit(X, y)


# ---------------------------------------------------------------- history
def test_history_has_one_record_per_pass_and_converts_to_a_frame():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", random_state=0, epochs=3,
                      validation=0.25).fit(X, y)
    assert isinstance(inc.history_, History) and isinstance(inc.history_, list)
    for i, record in enumerate(inc.history_, start=1):
        assert record["epoch"] == i
        assert record["blocks"] == N_BLOCKS - 2
        assert record["rows"] == (N_BLOCKS - 2) * CHUNK
        assert isinstance(record["seconds"], float) and record["seconds"] >= 0
        assert "val_score" in record
    frame = inc.history_.to_frame()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 3
    assert {"epoch", "blocks", "rows", "seconds", "val_score"} <= set(frame.columns)
    assert frame["epoch"].tolist() == [1, 2, 3]


def test_history_without_validation_has_no_scores():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, epochs=2).fit(X, y)
    assert all("val_score" not in r for r in inc.history_)
    assert inc.history_.to_frame()["rows"].tolist() == [N_BLOCKS * CHUNK] * 2


# --------------------------------------------------------------- progress
class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def fit_quietly_or_not(progress, epochs=2):
    X, y = block_data()
    Incremental(BlockRecorder(), random_state=0, epochs=epochs, validation=0.25,
                progress=progress).fit(X, y)


def test_progress_auto_shows_a_bar_per_pass_in_a_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    fit_quietly_or_not("auto")
    out = terminal.getvalue()
    assert "epoch 1/2" in out and "epoch 2/2" in out
    assert f"{N_BLOCKS - 2}/{N_BLOCKS - 2}" in out  # the bar counts blocks
    assert "val_score=" in out


class LineCounter(BlockRecorder):
    """Notes how many pass lines stdout held when each block was trained."""

    def partial_fit(self, X, y):
        self.lines_seen_ = [*getattr(self, "lines_seen_", []),
                            sys.stdout.getvalue().count("pass ")]
        return super().partial_fit(X, y)


def test_verbose_prints_each_pass_as_it_ends(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    X, y = block_data()
    inc = Incremental(LineCounter(), random_state=0, epochs=3, validation=0.25, progress=False,
                      train_score=True, verbose=1).fit(X, y)
    per_pass = N_BLOCKS - 2
    # the line of pass k is out before any block of pass k + 1 trains
    assert inc.estimator_.lines_seen_ == [k for k in range(3) for _ in range(per_pass)]
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    for k, line in enumerate(lines, start=1):
        assert line.startswith(f"pass {k}/3: val_score=0.")
        assert "train_score=0." in line and f"({per_pass} blocks, " in line


def test_quiet_by_default(capsys):
    X, y = block_data()
    Incremental(BlockRecorder(), random_state=0, epochs=2, progress=False).fit(X, y)
    assert capsys.readouterr().out == ""


def test_progress_auto_is_quiet_under_ci(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    fit_quietly_or_not("auto")
    assert terminal.getvalue() == ""
    captured = capsys.readouterr()
    assert captured.err == ""


def test_progress_auto_is_quiet_when_stdout_is_not_a_terminal(monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    fit_quietly_or_not("auto")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_false_is_quiet_even_in_a_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    fit_quietly_or_not(False)
    assert terminal.getvalue() == ""


def test_progress_true_shows_even_when_not_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    fit_quietly_or_not(True, epochs=3)
    out = capsys.readouterr().out
    assert all(f"epoch {i}/3" in out for i in (1, 2, 3))
    assert "block" in out


def test_progress_rejects_unknown_values():
    X, y = block_data()
    with pytest.raises(ValueError, match="progress"):
        Incremental(BlockRecorder(), progress="loud").fit(X, y)


def test_dashboard_link_printed_when_a_client_exists(client, capsys, monkeypatch):
    # `client`: the in-process cluster of tests/conftest.py; no link shown for it yet
    monkeypatch.setattr("gpuinc.wrappers._DASHBOARD_SHOWN", set())
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, epochs=2, progress=True).fit(X, y)
    out = capsys.readouterr().out
    assert client.dashboard_link in out
    assert "epoch 2/2" in out
    assert len(inc.estimator_.seen_) == 2 * N_BLOCKS


def test_dashboard_link_printed_once_per_client(client, capsys, monkeypatch):
    # a streaming loop of partial_fit calls printed the link before every pass
    monkeypatch.setattr("gpuinc.wrappers._DASHBOARD_SHOWN", set())
    X, y = block_data()
    inc = Incremental(BlockRecorder(), random_state=0, progress=True).fit(X, y)
    for _ in range(3):
        inc.partial_fit(X, y)
    out = capsys.readouterr().out
    assert out.count(client.dashboard_link) == 1
    assert len(inc.estimator_.seen_) == 4 * N_BLOCKS


def test_dashboard_link_not_printed_when_quiet(client, capsys, monkeypatch):
    monkeypatch.setattr("gpuinc.wrappers._DASHBOARD_SHOWN", set())
    X, y = block_data()
    Incremental(BlockRecorder(), random_state=0, progress=False).fit(X, y)
    assert client.dashboard_link not in capsys.readouterr().out


# ---------------------------------------------------------- learning curve
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def fitted_with_validation(epochs=4):
    X, y = make_classification(n_samples=2000, n_features=10, chunks=200, random_state=0,
                               flip_y=0.2)
    return Incremental(SGDClassifier(random_state=0), scoring="accuracy", random_state=0,
                       epochs=epochs, validation=0.2, train_score=True).fit(X, y)


def test_learning_curve_plots_scores_per_epoch_and_saves_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    from gpuinc.plot import learning_curve

    inc = fitted_with_validation()
    path = tmp_path / "curve.png"
    ax = learning_curve(inc, path=path)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"training", "validation"}
    for label, key in [("training", "train_score"), ("validation", "val_score")]:
        x, y = lines[label].get_data()
        assert list(x) == [1, 2, 3, 4]
        assert list(y) == [r[key] for r in inc.history_]
    assert ax.get_ylabel() == "accuracy"
    assert ax.get_xlabel() == "pass (epoch)"
    assert "SGDClassifier" in ax.get_title()


def test_learning_curve_path_without_suffix_is_written_as_png_under_that_name(tmp_path):
    # matplotlib appended ".png": path="curve" wrote curve.png and left "curve" missing
    pytest.importorskip("matplotlib")
    from gpuinc.plot import learning_curve

    learning_curve([{"epoch": 1, "val_score": 0.7}, {"epoch": 2, "val_score": 0.8}],
                   path=tmp_path / "curve")
    assert (tmp_path / "curve").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve"]
    learning_curve([{"epoch": 1, "val_score": 0.7}], path=tmp_path / "curve.svg")
    assert b"<svg" in (tmp_path / "curve.svg").read_bytes()[:500]


def test_learning_curve_draws_train_score_when_present_and_takes_a_history(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from gpuinc.plot import learning_curve

    history = [{"epoch": e, "train_score": 0.6 + e / 10, "val_score": 0.5 + e / 10}
               for e in (1, 2, 3)]
    ax = Figure().add_subplot()
    assert learning_curve(History(history), ax=ax) is ax
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["training", "validation"]
    assert list(ax.get_lines()[0].get_ydata()) == [h["train_score"] for h in history]
    # a DataFrame and another column work too
    ax2 = learning_curve(pd.DataFrame(history), metric="train_score",
                         path=tmp_path / "train.png")
    assert [line.get_label() for line in ax2.get_lines()] == ["training"]
    assert (tmp_path / "train.png").read_bytes()[:8] == PNG_SIGNATURE


def test_learning_curve_explains_what_is_missing():
    pytest.importorskip("matplotlib")
    from gpuinc.plot import learning_curve

    with pytest.raises(ValueError, match="fit it"):
        learning_curve(Incremental(SGDClassifier()))
    with pytest.raises(ValueError, match="validation_data"):
        learning_curve([{"epoch": 1, "blocks": 3}])
    with pytest.raises(ValueError, match="empty"):
        learning_curve([])
    with pytest.raises(ValueError, match=r"val_score column has no value to plot: every score "
                                         r"is missing \(NaN\)"):
        learning_curve([{"epoch": 1, "val_score": float("nan")}])


def test_learning_curve_names_the_extra_when_matplotlib_is_missing(monkeypatch):
    from gpuinc.plot import learning_curve

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install 'gpuinc\[plot\]'"):
        learning_curve([{"epoch": 1, "val_score": 0.5}])


def test_demo_shows_progress_and_writes_a_learning_curve(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from gpuinc.cli import main

    path = tmp_path / "demo.png"
    rc = main(["demo", "--n-samples", "2000", "--n-features", "5", "--blocks", "4",
               "--epochs", "2", "--estimator", "sklearn-sgd", "--device", "cpu",
               "--workers", "1", "--plot", str(path)])
    assert rc == 0
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out
    assert "dashboard" in out.lower()


def _demo_must_not_start(monkeypatch):
    """Fail the test if the demo starts a cluster or makes data (it must refuse first)."""
    import gpuinc.cluster
    import gpuinc.datasets

    def started(*args, **kwargs):
        raise AssertionError("the demo started a cluster / made data before refusing")

    monkeypatch.setattr(gpuinc.cluster, "make_cluster", started)
    monkeypatch.setattr(gpuinc.datasets, "make_classification", started)


@pytest.mark.parametrize("argv, message", [
    (["--blocks", "0"], "--blocks must be >= 1, got 0."),
    (["--epochs", "0"], "--epochs must be >= 1, got 0."),
    (["--n-samples", "0"], "--n-samples must be >= 100, got 0"),
    (["--n-features", "0"], "--n-features must be >= 4, got 0"),
    (["--workers", "-1"], "--workers must be >= 0, got -1"),
    (["--seed", "-1"], "--seed must be >= 0, got -1."),
    (["--n-samples", "1000", "--blocks", "501"], "--blocks 501 is too many for --n-samples "
                                                   "1000: each block needs 2 rows or more"),
    (["--plot", "{tmp}/missing/curve.png"], "the folder {tmp}/missing does not exist"),
    (["--plot", "{tmp}/curve"], "the file name needs an image suffix matplotlib writes (.png"),
    (["--plot", "{tmp}"], "--plot {tmp} is a folder"),
])
def test_demo_refuses_bad_options_in_one_line_before_starting(monkeypatch, capsys, tmp_path,
                                                              argv, message):
    if any("{tmp}" in a for a in argv):
        pytest.importorskip("matplotlib")
    from gpuinc.cli import main

    _demo_must_not_start(monkeypatch)
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["demo", "--no-progress", *argv]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("gpuinc: error: ") and err.count("\n") == 1, err
    assert message.replace("{tmp}", str(tmp_path)) in err
    assert "Traceback" not in err and captured.out == ""


def test_demo_plot_without_matplotlib_names_the_extra_before_training(monkeypatch, capsys,
                                                                       tmp_path):
    from gpuinc.cli import main

    _demo_must_not_start(monkeypatch)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importing it raises ImportError
    assert main(["demo", "--no-progress", "--plot", str(tmp_path / "curve.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpuinc: error: --plot") and err.count("\n") == 1, err
    assert "pip install 'gpuinc[plot]'" in err
    assert not (tmp_path / "curve.png").exists()


def test_demo_device_gpu_with_no_workers_needs_a_gpu(monkeypatch, capsys):
    import gpuinc._optional
    from gpuinc.cli import main

    _demo_must_not_start(monkeypatch)
    monkeypatch.setattr(gpuinc._optional, "gpu_available", lambda: False)
    assert main(["demo", "--no-progress", "--workers", "0", "--device", "gpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpuinc: error: --device gpu needs a CUDA GPU") and "cpu" in err


def test_demo_with_no_workers_runs_on_threads_and_finishes():
    """``--workers 0`` once started a cluster without workers, which waited forever."""
    import subprocess

    try:
        done = subprocess.run(
            [sys.executable, "-m", "gpuinc", "demo", "--workers", "0", "--n-samples", "2000",
             "--n-features", "5", "--blocks", "3", "--epochs", "2", "--device", "cpu",
             "--no-progress"],
            capture_output=True, text=True, timeout=180,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"gpuinc demo --workers 0 did not finish in 180 s: {exc.stderr!r}")
    assert done.returncode == 0, done.stderr
    assert "threaded scheduler in this process" in done.stdout
    assert "LocalCluster" not in done.stderr and "dashboard" not in done.stdout.lower()
    assert "in 3 training blocks" in done.stdout  # --blocks 3 makes 3 blocks, not 4
    assert "pass 2: test accuracy" in done.stdout


def test_demo_reports_a_plot_it_cannot_write_in_one_line(monkeypatch, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    import gpuinc.plot
    from gpuinc.cli import main

    def refuse(inc, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(gpuinc.plot, "learning_curve", refuse)
    path = tmp_path / "curve.png"
    assert main(["demo", "--workers", "1", "--device", "cpu", "--n-samples", "200",
                 "--n-features", "4", "--blocks", "2", "--epochs", "1", "--no-progress",
                 "--plot", str(path)]) == 2
    captured = capsys.readouterr()
    assert "pass 1: test accuracy" in captured.out
    last = captured.err.splitlines()[-1]  # after the line saying which cluster started
    assert last.startswith(f"gpuinc: error: --plot {path}: cannot write it: ")
    assert "Traceback" not in captured.err


def test_learning_curve_numbers_passes_in_order_when_epochs_repeat():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from gpuinc.plot import learning_curve

    history = [{"epoch": 1, "val_score": 0.5}, {"epoch": 2, "val_score": 0.6},
               {"epoch": 1, "val_score": 0.7}]
    ax = learning_curve(history, ax=Figure().add_subplot())
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]


class OwnScore(BlockRecorder):
    """A classifier whose score is its own (not accuracy): gpuinc cannot combine it blockwise."""

    def score(self, X, y):
        return 42.0


def test_an_uncombinable_validation_score_fails_before_training():
    X, y = block_data()
    inc = Incremental(OwnScore(), random_state=0, validation=0.25, progress=False)
    with pytest.raises(TypeError, match="cannot score OwnScore block by block"):
        inc.fit(X, y)
    assert not hasattr(inc, "estimator_")  # refused before any block was trained
    # naming a metric makes it work
    inc.set_params(scoring="accuracy").fit(X, y)
    assert inc.history_[-1]["val_score"] == 0.5


#: partial_fit calls of CountingSGD, all instances
SGD_CALLS: list[int] = []


class CountingSGD(SGDClassifier):
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        SGD_CALLS.append(len(X))
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


@pytest.mark.parametrize("how", ["validation", "no validation"])
def test_an_unknown_scoring_name_fails_before_training(how):
    X, y = block_data()
    SGD_CALLS.clear()
    inc = Incremental(CountingSGD(), scoring="acuracy", progress=False,
                      validation=0.25 if how == "validation" else None)
    with pytest.raises(ValueError, match="'acuracy' is not a valid scoring value"):
        inc.fit(X, y, classes=[0, 1])
    assert SGD_CALLS == []


def test_a_scoring_the_estimator_cannot_answer_fails_before_training():
    X, y = block_data()
    SGD_CALLS.clear()
    inc = Incremental(CountingSGD(loss="hinge"), scoring="neg_log_loss", validation=0.25,
                      progress=False)
    with pytest.raises(ValueError, match="needs predict_proba, which CountingSGD"):
        inc.fit(X, y, classes=[0, 1])
    assert SGD_CALLS == []
    # without validation the scoring is not used while training: fit works
    inc.set_params(validation=None).fit(X, y, classes=[0, 1])
    assert len(SGD_CALLS) == N_BLOCKS
    # with a loss that has predict_proba the same scoring validates
    inc.set_params(estimator__loss="log_loss", validation=0.25).fit(X, y, classes=[0, 1])
    assert np.isfinite(inc.history_[-1]["val_score"])


class ProbaAfterFit(SGDClassifier):
    """predict_proba appears once fitted (as in a library that calibrates on the data)."""

    def __getattr__(self, name):
        if name == "predict_proba" and hasattr(self, "coef_"):
            return self._predict_proba_lr
        raise AttributeError(name)


def test_a_method_gained_by_fitting_is_not_refused_before_training():
    X, y = block_data()
    est = ProbaAfterFit(loss="hinge", random_state=0)
    assert not hasattr(est, "predict_proba")
    inc = Incremental(est, scoring="neg_log_loss", validation=0.25, progress=False,
                      random_state=0)
    inc.fit(X, y, classes=[0, 1])
    assert np.isfinite(inc.history_[-1]["val_score"]) and inc.history_[-1]["val_score"] < 0



def test_a_method_gained_by_a_wrapped_estimator_is_not_refused_before_training():
    """OneVsRestClassifier offers predict_proba when what it wraps does, once fitted."""
    from sklearn.multiclass import OneVsRestClassifier

    X, y = block_data()
    est = OneVsRestClassifier(ProbaAfterFit(loss="hinge", random_state=0))
    assert not hasattr(est, "predict_proba")
    inc = Incremental(est, scoring="neg_log_loss", validation=0.25, progress=False,
                      random_state=0)
    inc.fit(X, y, classes=[0, 1])
    assert np.isfinite(inc.history_[-1]["val_score"])
    # scikit-learn's own, without the method whatever the data: still refused up front
    with pytest.raises(ValueError, match="needs predict_proba"):
        Incremental(OneVsRestClassifier(SGDClassifier(loss="hinge")), scoring="neg_log_loss",
                    validation=0.25).fit(X, y, classes=[0, 1])

def test_validation_data_of_another_width_fails_before_training():
    X, y = block_data()
    SGD_CALLS.clear()
    inc = Incremental(CountingSGD(), scoring="accuracy", progress=False)
    with pytest.raises(ValueError, match="validation_data's X has 1 features but X has 2"):
        inc.fit(X, y, classes=[0, 1], validation_data=(X[:, :1], y))
    assert SGD_CALLS == []


def test_hyper_parameter_loop_of_the_docs_refits_the_best_candidate_exactly():
    # docs/training.md, "Choosing hyper-parameters": the refit of the best candidate
    # for its best number of passes makes the same passes and scores the same.
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid

    X, y = make_classification(n_samples=6000, n_features=8, chunks=500, flip_y=0.1,
                               random_state=0)
    X_train, X_val, y_train, y_val = X[:4500], X[4500:], y[:4500], y[4500:]
    base = Incremental(SGDClassifier(loss="log_loss", random_state=0), scoring="accuracy",
                       epochs=8, early_stopping=True, n_iter_no_change=2, random_state=0,
                       progress=False)
    results = []
    for params in ParameterGrid({"estimator__alpha": [1e-4, 1e-2]}):
        inc = clone(base).set_params(**params)
        inc.fit(X_train, y_train, classes=[0, 1], validation_data=(X_val, y_val))
        best = max(inc.history_, key=lambda record: record["val_score"])
        results.append((best["val_score"], best["epoch"], params))
    assert results[0][2] != results[1][2] and results[0][0] != results[1][0]
    score, epochs, params = max(results, key=lambda r: r[0])
    final = clone(base).set_params(**params, epochs=epochs, early_stopping=False)
    final.fit(X_train, y_train, classes=[0, 1])
    assert final.n_epochs_ == epochs
    assert final.score(X_val, y_val) == score


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_ctrl_c_stops_a_fit_even_if_the_estimator_catches_it(method):
    # the fit went on from a half-trained block and ended as if nothing had happened
    from gpuinc._chain import STOP_REQUESTED

    X, y = make_classification(n_samples=600, n_features=4, chunks=100, random_state=0)
    calls = []
    inc = Incremental(swallows_interrupts(2, calls), epochs=2, shuffle_blocks=False)
    # trained in this process (a client of an earlier test would train on its workers)
    with dask.config.set(scheduler="threads"), pytest.raises(KeyboardInterrupt):
        getattr(inc, method)(X, y, classes=[0, 1])
    assert len(calls) == 2  # stopped after the block in progress
    assert not hasattr(inc, "estimator_") and not STOP_REQUESTED.is_set()
    import signal

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_a_program_that_ignores_sigint_keeps_ignoring_it_during_a_fit():
    import os
    import signal

    X, y = make_classification(n_samples=400, n_features=4, chunks=100, random_state=0)
    calls = []
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with dask.config.set(scheduler="threads"):
            Incremental(swallows_interrupts(2, calls), shuffle_blocks=False).fit(
                X, y, classes=[0, 1])
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert len(calls) == 4 and os.getpid()  # every block trained: the signal was ignored


def test_a_stop_request_stops_only_the_pass_of_the_thread_that_asked():
    # an in-process cluster's worker thread raised KeyboardInterrupt inside a task
    import threading

    from gpuinc import _chain

    _chain.STOP_REQUESTED.set()
    try:
        _chain._STOP_THREAD[0] = threading.get_ident()
        assert _chain._stop_requested()
        seen = []
        worker = threading.Thread(target=lambda: seen.append(_chain._stop_requested()))
        worker.start()
        worker.join()
        assert seen == [False]
    finally:
        _chain.STOP_REQUESTED.clear()
        _chain._STOP_THREAD[0] = None


def test_ctrl_c_returns_while_a_block_read_is_stuck():
    """A read that never returns (a stalled mount) must not hold an interrupted fit: the
    loader thread is left to it, and the fit raises at once."""
    import os
    import signal
    import threading

    from sklearn.linear_model import SGDClassifier

    release, stuck, ended = threading.Event(), threading.Event(), threading.Event()

    def read(i):
        if i == 3:
            stuck.set()
            release.wait(20)  # stuck until the test lets it go
            ended.set()
        return np.random.default_rng(i).normal(size=(50, 3))

    X = da.concatenate([da.from_delayed(dask.delayed(read)(i), shape=(50, 3), dtype=float)
                        for i in range(6)])
    y = (X[:, 0] > 0).astype(int)

    class InterruptedAtTheThirdBlock(SGDClassifier):
        calls = 0

        def partial_fit(self, X, y, classes=None, sample_weight=None):
            type(self).calls += 1
            if type(self).calls == 3:  # block 2 trains while block 3's read hangs
                assert stuck.wait(30)
                os.kill(os.getpid(), signal.SIGINT)
            return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    inc = Incremental(InterruptedAtTheThirdBlock(random_state=0), shuffle_blocks=False,
                      prefetch=2)
    try:
        with dask.config.set(scheduler="threads"), pytest.raises(KeyboardInterrupt):
            inc.fit(X, y, classes=[0, 1])
        assert not ended.is_set()  # the fit returned while the read was still stuck
    finally:
        release.set()


def test_progress_bars_show_in_kernels_built_on_jupyter_s_shell(monkeypatch):
    """Colab's kernel shell is a subclass of ipykernel's under another name."""
    zmqshell = pytest.importorskip("ipykernel.zmqshell")
    import sys

    import IPython

    from gpuinc import _progress

    class Shell(zmqshell.ZMQInteractiveShell):
        def __init__(self):  # no kernel behind it: only its type matters here
            pass

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules["ipykernel"])
    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    assert _progress.interactive()


def test_text_labels_against_numeric_classes_are_refused_not_scored_zero():
    # the blockwise accuracy compared "1" with 1: every row wrong, a validation score of 0
    # for each pass (and early stopping after n_iter_no_change passes) without a word
    rng = np.random.RandomState(0)
    Xn = rng.randn(600, 3)
    yn = (Xn[:, 0] > 0).astype(int)
    X, y = da.from_array(Xn, chunks=100), da.from_array(yn, chunks=100)
    text = np.where(yn == 1, "1", "0")
    inc = Incremental(SGDClassifier(random_state=0), scoring="accuracy", progress=False)
    with pytest.raises(ValueError, match="y holds text labels but SGDClassifier predicts "
                                         "numbers.*y.astype"):
        inc.fit(X, y, classes=[0, 1], validation_data=(Xn[:200], text[:200]))
    inc.fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="mix of label types"):
        inc.score(da.from_array(Xn[:200], chunks=100), da.from_array(text[:200], chunks=100))
    assert inc.score(da.from_array(Xn[:200], chunks=100),
                     da.from_array(yn[:200], chunks=100)) > 0.8


class FailsOnCall(SGDClassifier):
    """scikit-learn's SGDClassifier whose partial_fit call number ``fail_at`` fails."""

    calls = {"n": 0, "fail_at": None}

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        self.calls["n"] += 1
        if self.calls["n"] == self.calls["fail_at"]:
            raise RuntimeError("injected")
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def test_a_failed_fit_keeps_the_split_of_the_model_it_keeps():
    # the held-out blocks were replaced by the failed fit's: a later partial_fit then
    # validated the kept model on blocks it had been trained on
    X, y = block_data(n_blocks=10)
    inc = Incremental(FailsOnCall(random_state=0), scoring="accuracy", progress=False,
                      validation=0.3)
    inc.fit(X, y, classes=[0, 1])
    held = list(inc._held_out[1])
    coef = inc.coef_.copy()
    for _ in range(10):  # random_state=None: another split each fit, mostly
        FailsOnCall.calls.update(n=0, fail_at=2)
        with pytest.raises(RuntimeError, match="injected"):
            inc.fit(X, y, classes=[0, 1])
        assert list(inc._held_out[1]) == held
    assert np.array_equal(inc.coef_, coef)
    FailsOnCall.calls.update(n=0, fail_at=None)
    inc.partial_fit(X, y)
    assert inc.history_[-1]["blocks"] == 7  # the 3 blocks held out by the kept model's fit


@pytest.mark.parametrize("params, match", [
    ({"early_stopping": "no"}, "early_stopping must be True or False, got 'no'"),
    ({"shuffle_blocks": "False"}, "shuffle_blocks must be True or False"),
    ({"train_score": 1}, "train_score must be True or False"),
    ({"verbose": -1}, "verbose must be an integer >= 0"),
    ({"random_state": 1.5}, r"random_state must be None, an integer in \[0, 2\*\*32 - 1\]"),
    ({"random_state": -1}, "random_state must be"),
    ({"random_state": np.random.default_rng(0)}, "a numpy Generator: pass an integer seed instead"),
    ({"checkpoint": True}, "checkpoint must be None or a directory"),
    ({"scoring": ["accuracy", "f1"]}, "scoring must be None, a scorer name.*got a list"),
    ({"scoring": 3}, "scoring must be None"),
])
def test_bad_wrapper_parameters_are_named_before_any_block_is_read(params, match):
    X, y = block_data()
    inc = Incremental(BlockRecorder(), progress=False, validation=0.25, **params)
    with pytest.raises(ValueError, match=match):
        inc.fit(X, y)
    with pytest.raises(ValueError, match=match):
        inc.partial_fit(X, y)
    assert not hasattr(inc, "estimator_")


def test_a_wrapper_parameter_passed_to_fit_is_said_to_belong_to_the_wrapper():
    X, y = block_data()
    inc = Incremental(SGDClassifier(), progress=False)
    with pytest.raises(TypeError, match=r"epochs is a parameter of Incremental, not of fit.*"
                                        r"Incremental\(estimator, epochs=\.\.\.\)"):
        inc.fit(X, y, classes=[0, 1], epochs=3)
    with pytest.raises(TypeError, match="early_stopping, validation are parameters"):
        inc.partial_fit(X, y, classes=[0, 1], validation=0.2, early_stopping=True)


class TakesVerbose(BlockRecorder):
    def partial_fit(self, X, y, verbose=0):
        self.verbose_seen_ = verbose
        return super().partial_fit(X, y)


def test_a_fit_keyword_the_estimator_takes_is_passed_even_if_the_wrapper_has_it_too():
    X, y = block_data()
    inc = Incremental(TakesVerbose(), progress=False).fit(X, y, verbose=2)
    assert inc.estimator_.verbose_seen_ == 2


def test_validation_data_that_cannot_fit_the_training_data_is_refused_before_training():
    frame = pd.DataFrame({"a": np.arange(80.0), "b": np.arange(80.0) % 7, "t": np.arange(80) % 2})
    ddf = dd.from_pandas(frame, npartitions=4)
    X, y = ddf[["a", "b"]], ddf["t"]
    inc = Incremental(BlockRecorder(), scoring="accuracy", progress=False)
    cases = [
        ((frame[["b", "a"]], frame["t"]), r"training columns in another order.*X_val\[X.columns\]"),
        ((frame[["a"]].assign(c=1.0), frame["t"]), r"other columns than X: \['c'\] not in X, "
                                                   r"\['b'\] missing"),
        ((frame[["a", "b"]].iloc[:0], frame["t"].iloc[:0]), "validation_data's X has no rows"),
        ((frame[["a", "b"]], frame["t"][:50]), r"validation_data=\(X_val, y_val\): .*80.*50"),
    ]
    for validation_data, match in cases:
        with pytest.raises(ValueError, match=match):
            inc.fit(X, y, validation_data=validation_data)
        assert not hasattr(inc, "estimator_")


@pytest.mark.parametrize("scoring", ["f1", "precision", "recall", "average_precision", "jaccard",
                                     "neg_brier_score"])
def test_a_binary_scorer_without_its_positive_class_fails_before_training(scoring):
    # text labels: pos_label=1 is not one of them; this failed after a whole pass, with
    # scikit-learn's message and no way out
    ddf = text_label_frame(npartitions=8)
    inc = Incremental(SGDClassifier(loss="log_loss"), scoring=scoring, validation=0.25,
                      progress=False)
    with pytest.raises(ValueError, match=r"needs its positive class named: the classes are "
                                         r"\['neg', 'pos'\].*make_scorer\(sklearn.metrics.\w+.*"
                                         r"pos_label='pos'") as info:
        inc.fit(ddf[list("abc")], ddf.y, classes=["neg", "pos"])
    assert not hasattr(inc, "estimator_")
    # the scorer it suggests scores this problem
    import sklearn.metrics

    suggested = eval(str(info.value).split("scoring=", 2)[2].split(", or use")[0],
                     {"sklearn": sklearn})
    proba = Incremental(SGDClassifier(loss="log_loss", random_state=0), validation=0.25,
                        progress=False, scoring=suggested)
    assert np.isfinite(proba.fit(ddf[list("abc")], ddf.y).history_[-1]["val_score"])
    # with the positive class named, or numeric labels, it trains and scores
    from sklearn.metrics import f1_score, make_scorer

    named = Incremental(SGDClassifier(loss="log_loss", random_state=0), validation=0.25,
                        progress=False, scoring=make_scorer(f1_score, pos_label="pos"))
    assert named.fit(ddf[list("abc")], ddf.y).history_[-1]["val_score"] > 0.8
    numeric = Incremental(SGDClassifier(loss="log_loss", random_state=0), scoring=scoring,
                          validation=0.25, progress=False)
    numeric.fit(ddf[list("abc")], (ddf.y == "pos").astype(int))
    assert np.isfinite(numeric.history_[-1]["val_score"])


def test_learning_curve_keeps_each_score_at_its_own_pass():
    # a frame indexed by epoch, filtered, or out of order was renumbered 1..n: the scores
    # were drawn at the wrong passes (and the best one named at the wrong pass)
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    from gpuinc.plot import learning_curve

    frame = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "val_score": [.5, .6, .7, .9, .8]})
    kept = frame.set_index("epoch").loc[3:5]
    ax = learning_curve(kept, ax=Figure().add_subplot())
    assert list(ax.get_lines()[0].get_xdata()) == [3, 4, 5]
    ax = learning_curve(frame.iloc[[3, 0, 4]], ax=Figure().add_subplot())
    assert list(ax.get_lines()[0].get_xdata()) == [1, 4, 5]
    assert list(ax.get_lines()[0].get_ydata()) == [.5, .9, .8]
    ax = learning_curve(frame.to_dict(orient="list"), ax=Figure().add_subplot())
    assert list(ax.get_lines()[0].get_ydata()) == list(frame.val_score)
    with pytest.raises(TypeError, match="got a str"):
        learning_curve("history.csv")


def test_learning_curve_of_a_search_plots_its_best_estimator():
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure
    from sklearn.model_selection import GridSearchCV

    from gpuinc.plot import learning_curve

    rng = np.random.RandomState(0)
    Xn, yn = rng.randn(300, 3), (rng.randn(300) > 0).astype(int)
    search = GridSearchCV(Incremental(SGDClassifier(random_state=0), epochs=2, progress=False),
                          {"estimator__alpha": [1e-4, 1e-2]}, cv=2).fit(Xn, yn, classes=[0, 1])
    best = search.best_estimator_
    best.set_params(train_score=True).partial_fit(Xn, yn)
    ax = learning_curve(search, ax=Figure().add_subplot())
    assert list(ax.get_lines()[0].get_ydata())[-1] == best.history_[-1]["train_score"]
    with pytest.raises(ValueError, match="has no history_: learning_curve plots the passes"):
        learning_curve(GridSearchCV(SGDClassifier(), {"alpha": [1e-4]}, cv=2).fit(Xn, yn))


def test_partial_fit_says_it_keeps_fit_s_split_when_validation_or_random_state_changed():
    import warnings

    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", random_state=0,
                      validation=0.25, progress=False).fit(X, y)
    trained = len(inc.estimator_.seen_)
    for params in ({"validation": 0.5}, {"validation": 0.25, "random_state": 1}):
        inc.set_params(**params)
        with pytest.warns(UserWarning, match=r"changed since the fit that held out blocks.*"
                                             r"keeps that split.*Call fit"):
            inc.partial_fit(X, y)
        assert len(inc.estimator_.seen_) == trained * (len(inc.history_))  # fit's split
    inc.set_params(random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inc.partial_fit(X, y)  # the parameters of the split again: nothing to say


@pytest.mark.parametrize("scoring", ["roc_auc_ovr", "neg_brier_score", "top_k_accuracy"])
def test_a_training_score_undefined_on_a_block_leaves_that_block_out(scoring):
    # a rare class missing from a block made the per-block scorer raise, and the fit with it
    rng = np.random.RandomState(0)
    X = rng.randn(1000, 4)
    y = (X[:, 0] > 0).astype(int)
    y[rng.rand(1000) < 0.02] = 2  # a rare third class
    Xd, yd = da.from_array(X, chunks=(50, 4)), da.from_array(y, chunks=50)
    est = SGDClassifier(loss="log_loss", random_state=0)
    plain = Incremental(est, scoring=scoring, random_state=0, progress=False).fit(Xd, yd)
    scored = Incremental(est, scoring=scoring, random_state=0, train_score=True,
                         progress=False).fit(Xd, yd)
    assert np.array_equal(plain.coef_, scored.coef_)
    assert np.isfinite(scored.history_[-1]["train_score"])


def test_a_training_score_undefined_on_every_block_says_why():
    # a scorer's error on a training block leaves that block out; on every block: a warning
    # that quotes the error, and a NaN train_score (the fit goes on)
    def refuses(est, X, y):
        raise ValueError("this scorer needs something the blocks lack")

    X, y = block_data()
    inc = Incremental(SGDClassifier(random_state=0), scoring=refuses, train_score=True,
                      progress=False)
    with pytest.warns(UserWarning, match="could not be computed on any block of the pass: "
                                         "this scorer needs"):
        inc.fit(X, y, classes=[0, 1])
    assert np.isnan(inc.history_[-1]["train_score"])


class _Warmup(BaseEstimator):
    """A regressor that predicts -2 (a bad guess) until it has seen 3 blocks, then y's
    running mean."""

    _estimator_type = "regressor"

    def partial_fit(self, X, y):
        self.k_ = getattr(self, "k_", 0) + 1
        self.s_ = getattr(self, "s_", 0.0) + float(np.sum(y))
        self.n_ = getattr(self, "n_", 0) + len(y)
        return self

    def predict(self, X):
        return np.full(len(X), -2.0 if self.k_ < 3 else self.s_ / self.n_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        return tags


def test_a_training_score_undefined_on_some_blocks_leaves_them_out_and_the_fit_goes_on():
    # neg_mean_squared_log_error refuses the negative predictions of the early model: its
    # ValueError on training block 1 aborted the whole fit
    rng = np.random.RandomState(0)
    X = da.from_array(rng.randn(500, 3), chunks=(100, 3))
    y = da.from_array(1 + rng.rand(500), chunks=100)
    inc = Incremental(_Warmup(), scoring="neg_mean_squared_log_error", epochs=2,
                      train_score=True, shuffle_blocks=False, progress=False)
    with pytest.warns(UserWarning, match=r"could not be computed on 2 of the 4 blocks scored "
                                         r"in the pass, which are left out of it: Mean Squared "
                                         r"Logarithmic Error cannot be used"):
        inc.fit(X, y)
    scores = [r["train_score"] for r in inc.history_]
    assert len(scores) == 2 and all(np.isfinite(scores)), scores


def test_a_classifier_on_a_continuous_target_is_told_to_use_a_regressor_before_training():
    rng = np.random.RandomState(0)
    X = da.from_array(rng.randn(200, 3), chunks=50)
    y = da.from_array(rng.randn(200), chunks=50)
    inc = Incremental(SGDClassifier(), progress=False)
    with pytest.raises(ValueError, match="y holds continuous values .* is a classifier.*"
                                         "use a regressor"):
        inc.fit(X, y)
    assert not hasattr(inc, "estimator_")
    Incremental(SGDClassifier(), progress=False).fit(X, (y > 0).astype(float))  # 0.0 / 1.0
    # classes given (gpuinc train passes those it read): the same check
    with pytest.raises(ValueError, match="y holds continuous values"):
        Incremental(SGDClassifier(), progress=False).fit(X, y, classes=np.unique(y.compute()))


def test_a_regression_scorer_for_text_labels_fails_before_training():
    ddf = text_label_frame(npartitions=8)
    inc = Incremental(SGDClassifier(), scoring="r2", validation=0.25, progress=False)
    with pytest.raises(ValueError, match="scoring='r2' compares numbers, but SGDClassifier "
                                         "predicts the text labels"):
        inc.fit(ddf[list("abc")], ddf.y)
    assert not hasattr(inc, "estimator_")


def _held_out_warning():
    return pytest.warns(UserWarning, match=r"holds out blocks \[.*\] of X for this partial_fit, "
                                           r"but the model was trained before.*optimistic.*"
                                           r"validation_data=\(X_val, y_val\).*fit with "
                                           r"validation= from the start")


def _trained_blocks_of_last_pass(inc, blocks):
    return sorted(inc.estimator_.seen_[-blocks:])


def test_a_fit_without_a_split_forgets_the_split_of_an_earlier_fit():
    # fit 1 held out blocks 1 and 6; fit 2 (validation_data) trained on them; the next
    # partial_fit scored them as held out, silently
    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", random_state=0, validation=0.25,
                      progress=False).fit(X, y)
    held = sorted(set(range(N_BLOCKS)) - set(inc.estimator_.seen_))
    inc.fit(X, y, validation_data=(X[:20], y[:20]))
    assert sorted(inc.estimator_.seen_) == list(range(N_BLOCKS))
    with _held_out_warning():
        inc.partial_fit(X, y)
    assert not set(_trained_blocks_of_last_pass(inc, N_BLOCKS - 2)) & set(held)


def test_a_partial_fit_that_trains_on_the_held_out_blocks_gives_the_split_up():
    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", random_state=0, validation=0.25,
                      progress=False).fit(X, y)
    inc.partial_fit(X, y, validation_data=(X[:20], y[:20]))  # trains on every block
    assert _trained_blocks_of_last_pass(inc, N_BLOCKS) == list(range(N_BLOCKS))
    with _held_out_warning():
        inc.partial_fit(X, y)
    # validation=None trains on them too
    inc = Incremental(BlockRecorder(), scoring="accuracy", random_state=0, validation=0.25,
                      progress=False).fit(X, y)
    inc.set_params(validation=None).partial_fit(X, y)
    assert _trained_blocks_of_last_pass(inc, N_BLOCKS) == list(range(N_BLOCKS))
    with _held_out_warning():
        inc.set_params(validation=0.25).partial_fit(X, y)


def test_a_split_drawn_after_a_fit_without_one_says_its_scores_are_optimistic():
    import warnings

    X, y = block_data()
    inc = Incremental(BlockRecorder(), scoring="accuracy", random_state=0,
                      progress=False).fit(X, y)
    with _held_out_warning():
        inc.set_params(validation=0.25).partial_fit(X, y)
    assert len(inc.history_) == 2 and inc.history_[-1]["val_score"] == 0.5
    with warnings.catch_warnings():  # the split is kept from now on: said once
        warnings.simplefilter("error")
        inc.partial_fit(X, y)
        # a first partial_fit (no model yet) and a partial_fit after a fit with the
        # split: nothing to say
        Incremental(BlockRecorder(), scoring="accuracy", random_state=0, validation=0.25,
                    progress=False).partial_fit(X, y).partial_fit(X, y)
        fitted = Incremental(BlockRecorder(), scoring="accuracy", random_state=0,
                             validation=0.25, progress=False).fit(X, y)
        fitted.partial_fit(X, y)
        fitted.partial_fit(X[:CHUNK], y[:CHUNK])  # one block (a stream): trained whole
        fitted.partial_fit(X, y)  # ... and the split of X is still fit's
