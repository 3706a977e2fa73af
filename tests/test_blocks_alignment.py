"""Whether X and y are cut from one frame, decided without hashing in-memory data."""

from __future__ import annotations

import warnings

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

import gpuinc._blocks as blocks
from gpuinc._blocks import _co_aligned

are_co_aligned = pytest.importorskip("dask.dataframe.dask_expr._expr").are_co_aligned


@pytest.fixture
def frame():
    df = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) * 2, "t": np.arange(40) % 2})
    return dd.from_pandas(df, npartitions=4)


@pytest.fixture
def parquet(tmp_path, frame):
    frame.to_parquet(tmp_path / "data")
    return dd.read_parquet(tmp_path / "data")


def cases(frame, parquet):
    x_p, y_p = dask.persist(frame[["a", "b"]], frame["t"])
    return {
        "one frame": (frame[["a", "b"]], frame["t"]),
        "blockwise steps": ((frame[["a", "b"]] * 2).astype("float32"), frame["t"] + 1),
        "read_parquet projections": (parquet[["a", "b"]], parquet["t"]),
        "shuffled y": (frame[["a", "b"]], frame.shuffle("t")["t"]),
        "persisted apart": (x_p, y_p),
        "other frame": (frame[["a", "b"]], dd.from_pandas(pd.Series(np.arange(40) % 3),
                                                         npartitions=4)),
    }


@pytest.mark.parametrize("case", ["one frame", "blockwise steps", "read_parquet projections",
                                  "shuffled y", "persisted apart", "other frame"])
def test_same_answer_as_dask(frame, parquet, case):
    X, y = cases(frame, parquet)[case]
    assert _co_aligned(X.expr, y.expr) == are_co_aligned(X.expr, y.expr)


def test_persisted_or_shared_frames_are_not_hashed(frame, parquet, monkeypatch):
    """Dask's check tokenizes a persisted frame's data (0.58 s for 1 GB): not needed here."""
    def refuse(*exprs):
        raise AssertionError("are_co_aligned was called")

    monkeypatch.setattr("dask.dataframe.dask_expr._expr.are_co_aligned", refuse)
    c = cases(frame, parquet)
    for case in ("one frame", "blockwise steps", "persisted apart"):
        X, y = c[case]
        assert _co_aligned(X.expr, y.expr) == (case != "persisted apart")


def test_plan_blocks_pairs_persisted_blocks_by_partition(frame):
    X, y = dask.persist(frame[["a", "b"]], frame["t"])
    plan = blocks.plan_blocks(X, y)
    got = [dask.compute(b.x, b.y) for b in plan.blocks]
    assert len(got) == 4
    assert pd.concat([x for x, _ in got]).equals(frame[["a", "b"]].compute())
    assert pd.concat([t for _, t in got]).equals(frame["t"].compute())


def _pairs(plan):
    """(X block, y block) of every planned block, computed."""
    return [dask.compute(b.x, b.y) for b in plan.blocks]


@pytest.mark.parametrize("reindex", ["y per partition", "y.reset_index", "X.reset_index",
                                     "X filtered"])
def test_y_with_another_index_is_paired_row_by_row(frame, reindex):
    """Block i of y goes with block i of X row by row: by label when y's index holds X's
    rows (X filtered from y's frame), else by position, whatever y's index labels are."""
    X, y = frame[["a", "b"]], frame["t"]
    n = 40
    if reindex == "y per partition":
        y = y.map_partitions(lambda s: s.reset_index(drop=True))
    elif reindex == "y.reset_index":
        y = y.reset_index(drop=True)
    elif reindex == "X.reset_index":
        X = X.reset_index(drop=True)
    else:
        X = X[X["a"] % 3 != 0]
        n = 26
    got = _pairs(blocks.plan_blocks(X, y))
    assert len(got) == 4
    assert sum(len(x) for x, _ in got) == n
    for x, t in got:
        assert len(x) == len(t)
        # the frame's t is a % 2: a row's label must be its own
        np.testing.assert_array_equal(t.to_numpy(), x["a"].to_numpy().astype(int) % 2)


def test_y_partition_of_another_length_is_an_error(frame):
    y = frame["t"].map_partitions(lambda s: s.iloc[1:])
    with pytest.raises(ValueError, match="X has 10 rows but y has 9, and y's index does not "
                                         "hold X's rows"):
        _pairs(blocks.plan_blocks(frame[["a", "b"]], y))


@pytest.fixture
def wide_files(tmp_path):
    """12 Parquet files of 20 features and a label y that numbers the rows."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "files"
    folder.mkdir()
    frames = []
    for i in range(12):
        df = pd.DataFrame({f"f{j}": rng.normal(size=25) for j in range(20)})
        df["y"] = np.arange(25) + 100 * i
        df.to_parquet(folder / f"part-{i:02d}.parquet")
        frames.append(df)
    return folder, pd.concat(frames, ignore_index=True), [f"f{j}" for j in range(20)]


@pytest.mark.parametrize("reads", ["one frame", "two reads"])
def test_parquet_with_a_narrow_y_that_dask_fuses(wide_files, reads):
    """A narrow read of y may be lowered to fewer partitions than X's: paired right anyway
    (cut from one frame: from the one read; two reads: realigned on X's blocks)."""
    folder, whole, features = wide_files
    if reads == "one frame":
        frame = dd.read_parquet(folder)
        X, y = frame[features], frame["y"]
    else:
        X = dd.read_parquet(folder, columns=features)
        y = dd.read_parquet(folder, columns=["y"])["y"]
    assert len(y.to_delayed()) < len(X.to_delayed())  # the case under test
    # one frame: X and y come from one read of each file (the joint plan)
    assert (blocks._joint_frame_blocks(X, y, {}) is not None) == (reads == "one frame")
    got = _pairs(blocks.plan_blocks(X, y))
    assert len(got) == len(X.to_delayed())
    np.testing.assert_array_equal(np.concatenate([x.to_numpy() for x, _ in got]),
                                  whole[features].to_numpy())
    np.testing.assert_array_equal(np.concatenate([np.asarray(t) for _, t in got]),
                                  whole["y"].to_numpy())


def test_score_and_fit_with_a_reindexed_y_match_in_memory(frame):
    from sklearn.linear_model import SGDClassifier

    from gpuinc import Incremental

    X, y = frame[["a", "b"]], frame["t"].map_partitions(lambda s: s.reset_index(drop=True))
    pdf = frame.compute()
    inc = Incremental(SGDClassifier(random_state=0), scoring="accuracy", shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1])
    plain = SGDClassifier(random_state=0)
    for part in np.array_split(np.arange(40), 4):
        plain.partial_fit(pdf[["a", "b"]].iloc[part], pdf["t"].iloc[part], classes=[0, 1])
    np.testing.assert_array_equal(inc.coef_, plain.coef_)
    assert inc.score(X, y) == inc.score(pdf[["a", "b"]], pdf["t"])


def _hand_loop(estimator, parts):
    for x, y, w in parts:
        estimator.partial_fit(x, y, classes=[0, 1], sample_weight=w)
    return estimator


def test_in_memory_pandas_y_is_paired_with_a_dask_frame_by_label():
    """``dd.from_pandas`` sorts the rows by index; a pandas y (and sample_weight) that
    came with them in their first order is paired by label, not by position."""
    from sklearn.linear_model import SGDClassifier

    from gpuinc import Incremental

    rng = np.random.default_rng(0)
    index = rng.permutation(400) + 1000
    Xp = pd.DataFrame(rng.normal(size=(400, 3)), index=index, columns=list("abc"))
    yp = pd.Series((Xp.a + 0.2 * rng.normal(size=400) > 0).astype(int), index=index)
    wp = pd.Series(rng.uniform(0.5, 2.0, 400), index=index)
    X = dd.from_pandas(Xp, npartitions=4)  # rows now in index order
    assert not X.compute().index.equals(Xp.index)
    sgd = lambda: SGDClassifier(random_state=0)  # noqa: E731
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, yp, sample_weight=wp)
    parts = [(p, yp.loc[p.index], wp.loc[p.index]) for p in X.partitions]
    parts = [(x.compute(), y, w) for x, y, w in parts]
    ref = _hand_loop(sgd(), parts)
    np.testing.assert_array_equal(inc.estimator_.coef_, ref.coef_)
    assert inc.score(X, yp) == pytest.approx(inc.estimator_.score(Xp, yp))
    # a y whose labels are not X's is still paired by position
    y_pos = yp.reset_index(drop=True)
    inc2 = Incremental(sgd(), shuffle_blocks=False).fit(X, y_pos)
    starts = np.cumsum([0] + [len(x) for x, _, _ in parts])
    ref2 = _hand_loop(sgd(), [(x, y_pos.iloc[a:b], None)
                              for (x, _, _), a, b in zip(parts, starts, starts[1:], strict=False)])
    np.testing.assert_array_equal(inc2.estimator_.coef_, ref2.coef_)


def test_x_and_y_from_data_in_memory_keep_dask_s_optimization():
    """Only a shared read or computation is worth unoptimized blocks: slices of NumPy
    chunks or of persisted data have nothing to read twice (and more tasks would cost
    scheduler round trips on a cluster)."""
    import dask.array as da

    values = np.random.default_rng(0).normal(size=(100, 4))
    data = da.from_array(values, chunks=25)
    for source in (data, data.persist(scheduler="sync")):
        assert blocks._reads_shared(source[:, :-1], source[:, -1]) is False
    computed = data * 2.0  # a computation both would repeat
    assert blocks._reads_shared(computed[:, :-1], computed[:, -1]) is True


def test_a_dask_frame_numbered_from_0_in_each_partition_pairs_by_position(tmp_path):
    """``dd.read_csv`` (and files read one by one) number each partition from 0: X's labels
    are not unique, so a pandas y with a RangeIndex is paired by position, not by label."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    frame.to_csv(tmp_path / "d.csv", index=False)
    X = dd.read_csv(tmp_path / "d.csv", blocksize=4000)
    assert X.npartitions > 1
    y = pd.Series(np.arange(600))  # y is the row number
    plan = blocks.plan_blocks(X, y, {"sample_weight": pd.Series(np.arange(600.0))})
    for b in plan.blocks:
        x, yb, kw = dask.compute(b.x, b.y, b.kwargs)
        np.testing.assert_array_equal(frame.a.to_numpy()[yb.to_numpy()], x.a.to_numpy())
        np.testing.assert_array_equal(kw["sample_weight"].to_numpy(), yb.to_numpy())


def test_a_pandas_y_with_x_s_labels_in_another_order_but_repeated_warns():
    rng = np.random.default_rng(0)
    labels = rng.permutation(400)
    labels[:10] = labels[10:20]  # repeated labels: no pairing by label
    X = dd.from_pandas(pd.DataFrame({"a": np.arange(400.0)}, index=labels), npartitions=4)
    y = pd.Series(np.arange(400), index=labels)
    with pytest.warns(UserWarning, match="paired with X's rows by position"):
        blocks.plan_blocks(X, y, {})


def test_label_pairing_needs_labels_of_x_s_own_and_every_per_row_object_in_pandas():
    rng = np.random.default_rng(0)
    labels = rng.permutation(400) + 1000
    frame = pd.DataFrame({"a": np.arange(400.0)}, index=labels)
    X = dd.from_pandas(frame, npartitions=4)  # sorted by label
    y = pd.Series(labels, index=labels)
    # a NumPy sample_weight beside a y that would be reordered: an error, not a mismatch
    with pytest.raises(ValueError, match="a NumPy y or sample_weight beside it"):
        blocks.plan_blocks(X, y, {"sample_weight": np.ones(400)})
    # one partition of a frame with a RangeIndex (a reader's numbers): by position
    shuffled = frame.reset_index(drop=True)
    Xr = dd.from_pandas(shuffled, npartitions=1)
    yr = pd.Series(np.arange(400), index=rng.permutation(400))  # y is the row number
    plan = blocks.plan_blocks(Xr, yr, {})
    x, yb = dask.compute(plan.blocks[0].x, plan.blocks[0].y)
    np.testing.assert_array_equal(yb.to_numpy(), np.arange(400))


def test_an_in_memory_pandas_y_holding_more_rows_than_a_filtered_x_is_paired_by_label():
    # the README's rule (the index holds all of X's labels) with X filtered and y not: it
    # was refused as "X has 190 rows but y has 400" (a Dask y of the same rows was fine)
    from sklearn.linear_model import SGDRegressor

    from gpuinc import Incremental

    rng = np.random.RandomState(0)
    df = pd.DataFrame(rng.rand(400, 3), columns=list("abc"), index=np.arange(400) * 7)
    df["y"] = df.a * 2
    ddf = dd.from_pandas(df, npartitions=4)
    X = ddf[ddf.b > 0.5][list("abc")]
    sgd = lambda: SGDRegressor(random_state=0)  # noqa: E731
    by_dask = Incremental(sgd(), shuffle_blocks=False).fit(X, ddf.y)
    in_memory = Incremental(sgd(), shuffle_blocks=False).fit(X, df.y)
    np.testing.assert_array_equal(in_memory.coef_, by_dask.coef_)
    ref = sgd()
    for part in X.partitions:
        xp = part.compute()
        if len(xp):
            ref.partial_fit(xp, df.y.loc[xp.index])
    np.testing.assert_array_equal(in_memory.coef_, ref.coef_)
    # labels that X has and y lacks: no pairing by label, and a clear count error
    with pytest.raises(ValueError, match="X has .* rows but y has 100"):
        Incremental(sgd()).fit(X, df.y.iloc[:100])


def test_a_pandas_y_with_most_of_x_s_labels_and_one_repeated_warns():
    """y's labels are X's but one, repeated: it cannot pair by label, and pairing by position
    trains on mismatched rows (X from dd.from_pandas is in index order): said, not silent."""
    rng = np.random.default_rng(0)
    labels = rng.permutation(400) + 100
    X = dd.from_pandas(pd.DataFrame({"a": np.arange(400.0)}, index=labels), npartitions=4)
    y = pd.Series(np.arange(400), index=np.r_[labels[:-1], labels[0]])
    with pytest.warns(UserWarning, match="paired with X's rows by position"):
        blocks.plan_blocks(X, y, {})
    # a reader's partitions, each numbered from 0, and a y numbered 0..n-1: no warning
    frame = dd.from_pandas(pd.DataFrame({"a": np.arange(400.0)}), npartitions=2)
    X = frame.map_partitions(lambda p: p.reset_index(drop=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blocks.plan_blocks(X, pd.Series(np.arange(400)), {})


def test_a_y_made_from_an_array_beside_a_filtered_frame_does_not_warn():
    """X filtered from a frame keeps a gapped index; y built from an array (0..m-1) is in
    X's order and pairs by position, rightly: no warning."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=1000)})
    kept = frame[frame.a > -1.5]  # about 93 % of the rows: most of y's labels are X's
    X = dd.from_pandas(kept, npartitions=4)
    y = pd.Series((kept.a.to_numpy() > 0).astype(int))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        blocks.plan_blocks(X, y, {})


def _reordering_frame(n=400, npartitions=4, seed=0):
    """(pandas frame with labels of its own, a Dask frame of it whose rows come in another
    order within each partition on every compute, as after a shuffle on tied keys)."""
    rng = np.random.default_rng(seed)
    pdf = pd.DataFrame(rng.normal(size=(n, 3)), columns=list("abc"),
                       index=rng.permutation(n) + 1000)
    pdf["t"] = (pdf.a + 0.3 * rng.normal(size=n) > 0).astype(int)
    pdf["w"] = rng.uniform(0.5, 2.0, n)
    ddf = dd.from_pandas(pdf, npartitions=npartitions)
    return pdf, ddf.map_partitions(lambda p: p.sample(frac=1), meta=ddf._meta)


def test_an_in_memory_pandas_y_follows_x_s_rows_when_their_order_changes_per_compute():
    """A pandas y and sample_weight paired by label go with the rows of each block as the
    block is computed when trained or scored, not in the order of the read that planned
    the blocks (they were mispaired: score 0.69 for 0.88 after a shuffle)."""
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.naive_bayes import GaussianNB

    from gpuinc import Incremental

    pdf, ddf = _reordering_frame()
    X, y, w = ddf[["a", "b", "c"]], pdf.t, pdf.w
    with dask.config.set(scheduler="sync"):
        assert not ddf.compute().index.equals(ddf.compute().index)  # the order does change
        plan = blocks.plan_blocks(X, y, {"sample_weight": w})
        for b in plan.blocks:
            x, yb, kw = dask.compute(b.x, b.y, b.kwargs)
            assert yb.index.equals(x.index) and kw["sample_weight"].index.equals(x.index)
            np.testing.assert_array_equal(yb.to_numpy(), pdf.t.loc[x.index].to_numpy())
            np.testing.assert_array_equal(kw["sample_weight"].to_numpy(),
                                          pdf.w.loc[x.index].to_numpy())
        inc = Incremental(GaussianNB(), scoring="accuracy", shuffle_blocks=False)
        inc.fit(X, y, sample_weight=w, classes=[0, 1])
        # GaussianNB learns sums per class: the rows' order within a block does not count
        ref = GaussianNB()
        for part in ddf.partitions:
            p = part.compute()
            ref.partial_fit(p[["a", "b", "c"]], p.t, classes=[0, 1], sample_weight=p.w)
        np.testing.assert_allclose(inc.estimator_.theta_, ref.theta_, rtol=1e-9)
        np.testing.assert_allclose(inc.estimator_.var_, ref.var_, rtol=1e-9)
        predicted = ref.predict(pdf[["a", "b", "c"]])
        assert inc.score(X, y) == pytest.approx(accuracy_score(pdf.t, predicted))
        inc.set_params(scoring="f1")
        assert inc.score(X, y) == pytest.approx(f1_score(pdf.t, predicted))
        # a partition that holds other rows than when its labels were read: said so
        fewer = ddf.map_partitions(lambda p: p.sample(n=len(p) - 1), meta=ddf._meta)
        with pytest.raises(ValueError, match="holds other rows than when gpuinc read"):
            inc.score(fewer[["a", "b", "c"]], y)


def test_a_numpy_y_with_x_s_rows_in_another_order_per_compute_is_an_error():
    """An in-memory y paired by position can follow only one order of X's rows: a frame
    whose rows come in another order on each compute is an error, not a silent mismatch."""
    from sklearn.linear_model import SGDClassifier

    from gpuinc import Incremental

    pdf, ddf = _reordering_frame()
    X = ddf[["a", "b", "c"]]
    inc = Incremental(SGDClassifier(random_state=0), scoring="accuracy")
    inc.fit(pdf[["a", "b", "c"]], pdf.t, classes=[0, 1])
    with dask.config.set(scheduler="sync"):
        for y in (ddf.t.compute().to_numpy(), ddf.t.compute().reset_index(drop=True)):
            with pytest.raises(ValueError, match="came with its rows in another order"):
                inc.score(X, y)
            with pytest.raises(ValueError, match="came with its rows in another order"):
                Incremental(SGDClassifier(random_state=0)).fit(X, y, classes=[0, 1])
        # the same rows in a stable order (no reordering step) train as before
        steady = dd.from_pandas(pdf, npartitions=4)
        y = steady.t.compute().to_numpy()
        assert inc.score(steady[["a", "b", "c"]], y) == pytest.approx(
            inc.estimator_.score(steady[["a", "b", "c"]].compute(), y))


class _PairChecker(BaseEstimator):
    """partial_fit refuses any block whose y is not twice its first feature."""

    def partial_fit(self, X, y, sample_weight=None):
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        assert np.array_equal(y, 2 * X[:, 0]), "X and y mispaired"
        self.rows_ = getattr(self, "rows_", 0) + len(y)
        return self


def test_a_pandas_y_pairs_by_label_with_x_set_index_on_an_integer_column():
    # set_index on an integer column gives a RangeIndex meta (pandas 3) while the
    # partitions hold the labels: the meta said "a reader's numbering", and y (in the
    # frame's original order) was paired by position, every row with another's target
    from gpuinc import Incremental

    rng = np.random.RandomState(0)
    ids = rng.permutation(400) + 1000
    df = pd.DataFrame({"id": ids, "a": rng.randn(400), "b": rng.randn(400)})
    X = dd.from_pandas(df, npartitions=4).set_index("id")
    assert type(X._meta.index).__name__ == "RangeIndex"  # what misled the pairing
    y = (df.set_index("id")["a"] * 2)  # the frame's order, labelled by id
    inc = Incremental(_PairChecker(), shuffle_blocks=False, progress=False).fit(X, y)
    assert inc.estimator_.rows_ == 400


def test_in_memory_pieces_of_a_frame_in_fixed_order_stay_in_memory():
    # pieces that follow X's blocks as tasks made every block of an in-memory (from_pandas
    # or persisted) X a dask.compute: +27 % per pass on 1,000 persisted blocks
    df = pd.DataFrame({"a": np.arange(100.0), "b": 1.0})
    X = dd.from_pandas(df, npartitions=4)
    for x in (X, X.persist(), X[["a"]], X[X.a >= 0]):
        plan = blocks.plan_blocks(x, (2 * df.a).to_numpy())
        assert all(isinstance(b.y, np.ndarray) for b in plan.blocks)
    shuffled = X.shuffle("b")  # no one order: pieces follow X's rows in the block's task
    plan = blocks.plan_blocks(shuffled, (2 * df.a).to_numpy())
    assert all(dask.is_dask_collection(b.y) for b in plan.blocks)
