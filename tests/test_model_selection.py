import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from gpuinc.datasets import make_classification
from gpuinc.model_selection import train_test_split


def test_blockwise_split_keeps_rows_paired_and_blocks():
    X, y = make_classification(n_samples=1000, n_features=4, chunks=250, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=1)
    assert Xtr.numblocks[0] == Xte.numblocks[0] == 4
    assert Xtr.shape == (800, 4) and Xte.shape == (200, 4)
    Xn, yn, Xtrn, ytrn, Xten, yten = dask.compute(X, y, Xtr, ytr, Xte, yte)
    rows = {tuple(r): t for r, t in zip(Xn, yn, strict=True)}
    assert all(rows[tuple(r)] == t for r, t in zip(Xtrn, ytrn, strict=True))
    assert all(rows[tuple(r)] == t for r, t in zip(Xten, yten, strict=True))
    together = np.concatenate([Xtrn, Xten])
    assert len({tuple(r) for r in together}) == 1000
    again = train_test_split(X, y, test_size=0.2, random_state=1)[0].compute()
    np.testing.assert_array_equal(again, Xtrn)


def test_dataframe_split():
    pdf = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100) % 2})
    ddf = dd.from_pandas(pdf, npartitions=4)
    tr, te = train_test_split(ddf, test_size=0.25, random_state=0)
    assert isinstance(tr, dd.DataFrame) and tr.npartitions == 4
    trp, tep = tr.compute(), te.compute()
    # each partition of 25 rows sends 6 or 7 rows (0.25 * 25 = 6.25) to the test set,
    # 25 in all here (rounding up every partition made it 28)
    assert {len(te.partitions[i].compute()) for i in range(4)} <= {6, 7}
    assert len(trp) == 75 and len(tep) == 25
    assert sorted(trp.a.tolist() + tep.a.tolist()) == list(np.arange(100.0))


def test_in_memory_goes_to_sklearn():
    X = np.arange(20).reshape(10, 2)
    a, b = train_test_split(X, test_size=0.3, random_state=0)
    assert a.shape == (7, 2) and b.shape == (3, 2)


def test_bad_inputs():
    X = da.ones((10, 2), chunks=5)
    with pytest.raises(ValueError, match="same number of row blocks"):
        train_test_split(X, da.ones(10, chunks=2))
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, test_size=3)
    with pytest.raises(TypeError, match="Mix of Dask"):
        train_test_split(X, np.ones(10))


def _frame_and_target(n=1000):
    pdf = pd.DataFrame({"a": np.arange(n), "y": np.arange(n)})
    return pdf, dd.from_pandas(pdf[["a"]], npartitions=4)


def test_differently_blocked_frame_and_series_raise_naming_the_block():
    pdf, X = _frame_and_target()
    y = dd.from_pandas(pdf["y"], npartitions=2).repartition(npartitions=4)
    parts = train_test_split(X, y, random_state=0)
    with pytest.raises(ValueError, match=r"row block \d+ has different lengths.*[Rr]epartition"):
        dask.compute(*parts)


@pytest.mark.filterwarnings("ignore:Computing mixed collections:UserWarning")
def test_differently_blocked_frame_and_array_raise():
    pdf, X = _frame_and_target()
    y = da.from_array(pdf["y"].to_numpy(), chunks=((100, 400, 250, 250),))
    with pytest.raises(ValueError, match=r"row block \d+ has different lengths"):
        dask.compute(*train_test_split(X, y, random_state=0))


def test_differently_chunked_arrays_raise_up_front():
    X = da.ones((100, 2), chunks=((50, 50), (2,)))
    with pytest.raises(ValueError, match="same row chunks.*rechunk"):
        train_test_split(X, da.ones(100, chunks=((40, 60),)))


@pytest.mark.filterwarnings("ignore:Computing mixed collections:UserWarning")
@pytest.mark.parametrize("shuffle", [None, True, False])
@pytest.mark.parametrize("y_kind", ["series", "array"])
def test_aligned_frame_with_series_or_array_stays_paired(y_kind, shuffle):
    pdf, X = _frame_and_target()
    y = (dd.from_pandas(pdf["y"], npartitions=4) if y_kind == "series"
         else da.from_array(pdf["y"].to_numpy(), chunks=250))
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=0,
                                          shuffle=shuffle)
    if y_kind == "array":
        assert ytr.chunks == ((200,) * 4,) and yte.chunks == ((50,) * 4,)
    Xtr, Xte, ytr, yte = dask.compute(Xtr, Xte, ytr, yte)
    np.testing.assert_array_equal(Xtr["a"].to_numpy(), np.asarray(ytr))
    np.testing.assert_array_equal(Xte["a"].to_numpy(), np.asarray(yte))
    assert len(Xtr) == 800 and len(Xte) == 200
    # with a DataFrame among the inputs, only shuffle=True reorders the rows (of all of them)
    assert Xtr.index.is_monotonic_increasing == (shuffle is not True)


def test_train_and_test_size_both_honoured_like_sklearn():
    X = da.arange(1000, chunks=250)
    tr, te = train_test_split(X, test_size=0.2, train_size=0.5, random_state=0)
    assert tr.shape == (500,) and te.shape == (200,)
    trn, ten = dask.compute(tr, te)
    assert len(set(trn) | set(ten)) == 700
    tr, te = train_test_split(X, train_size=0.7, random_state=0)
    assert tr.shape == (700,) and te.shape == (300,)
    with pytest.raises(ValueError, match="sum of test_size and train_size"):
        train_test_split(X, test_size=0.6, train_size=0.6)
    with pytest.raises(ValueError, match="train_size"):
        train_test_split(X, train_size=5)


def test_no_shuffle_sends_last_rows_of_each_array_block_to_test():
    X = da.arange(1000, chunks=250)
    tr, te = dask.compute(*train_test_split(X, shuffle=False, test_size=0.2))
    np.testing.assert_array_equal(
        te, np.concatenate([np.arange(200, 250) + 250 * i for i in range(4)]))
    np.testing.assert_array_equal(
        tr, np.concatenate([np.arange(200) + 250 * i for i in range(4)]))
    # in memory (scikit-learn) agrees for a single block
    np.testing.assert_array_equal(train_test_split(np.arange(250), shuffle=False,
                                                   test_size=0.2)[1], np.arange(200, 250))


def test_column_blocked_array_split():
    A = da.arange(40).reshape(20, 2).rechunk((5, 1))
    tr, te = train_test_split(A, shuffle=False, test_size=0.4)
    assert tr.chunks == ((3,) * 4, (2,))
    np.testing.assert_array_equal(te.compute()[:, 0], [6, 8, 16, 18, 26, 28, 36, 38])


def test_default_test_size_is_a_tenth_of_each_dask_array_block():
    # as dask-ml: neither size given means test_size=0.1 (not scikit-learn's 0.25)
    X = da.arange(95, chunks=30)  # blocks of 30, 30, 30, 5 rows
    tr, te = train_test_split(X, random_state=0)
    # ceil(0.1 * n) test rows per block: 3, 3, 3, 1
    assert te.chunks == ((3, 3, 3, 1),) and tr.chunks == ((27, 27, 27, 4),)
    trn, ten = dask.compute(tr, te)
    assert len(ten) == 10 and len(trn) == 85
    assert sorted(trn.tolist() + ten.tolist()) == list(range(95))


def test_default_test_size_is_a_tenth_of_each_dataframe_partition():
    pdf = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100) % 2})
    ddf = dd.from_pandas(pdf, npartitions=4)
    tr, te = train_test_split(ddf, random_state=0)
    trp, tep = tr.compute(), te.compute()
    # each partition of 25 rows sends 2 or 3 rows (0.1 * 25 = 2.5) to the test set
    assert 9 <= len(tep) <= 11 and len(trp) + len(tep) == 100
    assert sorted(trp.a.tolist() + tep.a.tolist()) == list(np.arange(100.0))


def test_default_test_size_is_a_tenth_in_memory():
    X = np.arange(40).reshape(20, 2)
    y = np.arange(20)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    assert Xtr.shape == (18, 2) and Xte.shape == (2, 2)
    assert ytr.shape == (18,) and yte.shape == (2,)


@pytest.mark.parametrize("kind", ["array", "frame", "numpy"])
def test_explicit_test_size_wins_over_the_default(kind):
    data = np.arange(100)
    X = {"array": lambda: da.from_array(data, chunks=25),
         "frame": lambda: dd.from_pandas(pd.DataFrame({"a": data}), npartitions=4),
         "numpy": lambda: data}[kind]()
    tr, te = dask.compute(*train_test_split(X, test_size=0.25, random_state=0))
    # 25 % of 100 rows; array blocks of 25 rows: ceil(0.25 * 25) = 7 each; DataFrame
    # partitions of 25 rows: 6 or 7 each, 25 in all here
    n_test = 28 if kind == "array" else 25
    assert len(te) == n_test and len(tr) == 100 - n_test
    tr, te = dask.compute(*train_test_split(X, train_size=0.6, random_state=0))
    assert len(tr) == 60 and len(te) == 40


def test_split_frames_convert_to_dask_arrays():
    """.values of split DataFrames computes (it once failed with 'Missing dependency')."""
    pdf = pd.DataFrame(np.arange(300.0).reshape(100, 3), columns=list("abc"))
    pdf["y"] = np.arange(100) % 2
    ddf = dd.from_pandas(pdf, npartitions=4)
    X_train, X_test, y_train, y_test = train_test_split(ddf[list("abc")], ddf.y, random_state=0)
    for X, y in ((X_train, y_train), (X_test, y_test)):
        values, labels = X.values.compute(), y.values.compute()
        np.testing.assert_array_equal(values, X.compute().to_numpy())
        np.testing.assert_array_equal(labels, y.compute().to_numpy())
        np.testing.assert_array_equal(labels, values[:, 0] // 3 % 2)  # rows stay paired
    assert len(X_train.compute()) + len(X_test.compute()) == 100


def test_convert_mixed_types_gives_arrays():
    X, _ = make_classification(n_samples=200, n_features=3, n_informative=2, n_redundant=0,
                               chunks=50, random_state=0)
    y = dd.from_dask_array(X[:, 0] > 0)  # a Series next to an array
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0,
                                                        convert_mixed_types=True)
    assert all(isinstance(a, da.Array) for a in (X_train, X_test, y_train, y_test))
    np.testing.assert_array_equal(y_test.compute(), X_test.compute()[:, 0] > 0)
    # the converted frame's splits have known chunks, as dask-ml's (len, slicing, stacking)
    assert not np.isnan(y_train.shape[0]) and len(y_train) + len(y_test) == 200
    assert y_train[:5].compute().shape == (5,)
    # default: kinds kept (shuffle=True: the arrays' default, as convert_mixed_types used)
    _, _, y_train_frame, _ = train_test_split(X, y, random_state=0, shuffle=True)
    assert isinstance(y_train_frame, dd.Series)
    np.testing.assert_array_equal(y_train_frame.compute().to_numpy(), y_train.compute())


def test_frames_that_dask_reorders_on_each_compute_stay_paired():
    # set_index on a key with ties orders a partition's rows differently each time Dask
    # computes it; split apart, X's and y's rows no longer belonged together
    rng = np.random.RandomState(0)
    pdf = pd.DataFrame({"a": rng.randn(4000), "k": rng.randint(0, 100, 4000)})
    pdf = pdf.assign(t=10 * pdf.a, u=-pdf.a)
    f = dd.from_pandas(pdf, npartitions=8).set_index("k")
    X_tr, X_te, y_tr, y_te, u_tr, u_te = train_test_split(f[["a"]], f["t"], f[["u"]],
                                                          random_state=0)
    X_tr_c, y_tr_c, u_tr_c, X_te_c, y_te_c = dask.compute(X_tr, y_tr, u_tr, X_te, y_te)
    np.testing.assert_allclose(y_tr_c.to_numpy(), 10 * X_tr_c["a"].to_numpy())
    np.testing.assert_allclose(u_tr_c["u"].to_numpy(), -X_tr_c["a"].to_numpy())
    np.testing.assert_allclose(y_te_c.to_numpy(), 10 * X_te_c["a"].to_numpy())
    assert len(X_tr_c) + len(X_te_c) == 4000 and len(X_te_c) == pytest.approx(400, abs=8)
    # the outputs keep the inputs' kinds, names and divisions
    assert isinstance(y_tr, dd.Series) and y_tr.name == "t" and list(u_tr.columns) == ["u"]
    assert X_tr.known_divisions


def test_frames_split_jointly_train_on_paired_rows():
    from sklearn.base import BaseEstimator, RegressorMixin

    from gpuinc import Incremental

    class Probe(RegressorMixin, BaseEstimator):
        def partial_fit(self, X, y):
            paired = np.allclose(np.asarray(y), 10 * np.asarray(X)[:, 0])
            self.paired_ = [*getattr(self, "paired_", []), paired]
            return self

    rng = np.random.RandomState(1)
    pdf = pd.DataFrame({"a": rng.randn(3000), "k": rng.randint(0, 50, 3000)})
    other = dd.from_pandas(pd.DataFrame({"k": range(50), "c": 1.0}), npartitions=2)
    f = dd.from_pandas(pdf.assign(t=10 * pdf.a), npartitions=6).merge(other, on="k")
    X_tr, _, y_tr, _ = train_test_split(f[["a", "c"]], f["t"], random_state=0)
    inc = Incremental(Probe(), shuffle_blocks=False).fit(X_tr, y_tr)
    assert inc.estimator_.paired_ and all(inc.estimator_.paired_)


def test_an_input_paired_by_position_keeps_its_own_index():
    pdf = pd.DataFrame({"a": np.arange(100.0)}, index=[f"r{i}" for i in range(100)])
    X = dd.from_pandas(pdf, npartitions=4, sort=False)
    y = X.a.map_partitions(lambda s: s.reset_index(drop=True),
                           meta=pd.Series([], dtype=float, name="a"))
    X_tr, _, y_tr, _ = train_test_split(X, y, random_state=0)
    X_c, y_c = dask.compute(X_tr, y_tr)
    assert y_c.index.dtype == y_tr._meta.index.dtype == "int64"
    np.testing.assert_array_equal(X_c["a"].to_numpy(), y_c.to_numpy())


@pytest.mark.parametrize("shuffle", [True, False])
def test_sizes_whose_rounded_counts_overflow_a_block_keep_shapes_true(shuffle):
    """0.07 * 100 is 7.000000000000001: rounded up it made 8 test rows, plus 93 training
    rows, in a block of 100 (wrong declared shapes, or an IndexError at compute time)."""
    X = da.arange(400, chunks=100).reshape(400, 1).rechunk((100, 1))
    y = da.arange(400, chunks=100)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.07, train_size=0.93,
                                              shuffle=shuffle, random_state=0)
    got = dask.compute(X_tr, X_te, y_tr, y_te)
    assert [g.shape[0] for g in got] == [X_tr.shape[0], X_te.shape[0], 372, 28]
    assert sorted(np.concatenate([got[2], got[3]]).tolist()) == list(range(400))
    np.testing.assert_array_equal(got[0][:, 0], got[2])


def test_blocks_too_small_for_a_training_row_are_refused():
    with pytest.raises(ValueError, match="the resulting train set would be empty"):
        train_test_split(da.arange(10, chunks=1), random_state=0)


def _blocks_of(values, n_blocks):
    return np.array_split(np.asarray(values), n_blocks)


@pytest.mark.parametrize("shuffle", [False, None])
def test_dataframe_without_shuffle_picks_random_rows_kept_in_order(shuffle):
    # as dask-ml (DataFrame.random_split(..., shuffle=False), also its default): rows go
    # to train / test at random, only their order is kept; not the tail of each block
    pdf, X = _frame_and_target()
    tr, te = dask.compute(*train_test_split(X, shuffle=shuffle, test_size=0.2,
                                            random_state=0))
    assert len(tr) == 800 and len(te) == 200
    tail = np.concatenate([np.arange(200, 250) + 250 * i for i in range(4)])
    assert len(np.intersect1d(te["a"].to_numpy(), tail)) < 100  # about 40 expected
    for part in (tr, te):  # each side in its original order, index labels with their rows
        assert part.index.is_monotonic_increasing
        np.testing.assert_array_equal(part.index.to_numpy(), part["a"].to_numpy())
    assert sorted(tr["a"].tolist() + te["a"].tolist()) == list(range(1000))
    # the same rows as shuffle=True, which only changes their order
    tr_s, te_s = dask.compute(*train_test_split(X, shuffle=True, test_size=0.2,
                                                random_state=0))
    assert sorted(te_s["a"].tolist()) == te["a"].tolist()
    assert sorted(tr_s["a"].tolist()) == tr["a"].tolist()


def test_shuffle_returns_the_chosen_rows_in_random_order_and_paired():
    # as scikit-learn and dask-ml: the chosen rows come shuffled (within their block),
    # the same way for X and y
    X = da.arange(2000, chunks=250).reshape(1000, 2).rechunk((250, 2))
    y = da.arange(1000, chunks=250)
    X_tr, X_te, y_tr, y_te = dask.compute(*train_test_split(X, y, test_size=0.2,
                                                            random_state=0))
    for Xs, ys, n in ((X_tr, y_tr, 200), (X_te, y_te, 50)):
        np.testing.assert_array_equal(Xs[:, 0], 2 * ys)
        for block in _blocks_of(ys, 4):
            assert len(block) == n and not np.all(np.diff(block) > 0)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == list(range(1000))
    # DataFrames with shuffle=True: index labels travel with their rows
    pdf = pd.DataFrame({"a": np.arange(100)}, index=[f"r{i}" for i in range(100)])
    f = dd.from_pandas(pdf, npartitions=4, sort=False)
    tr, te, a_tr, a_te = dask.compute(*train_test_split(f, f.a, shuffle=True, random_state=0))
    assert not np.all(np.diff(tr["a"].to_numpy()) > 0)
    for frame, series in ((tr, a_tr), (te, a_te)):
        assert frame.index.tolist() == [f"r{a}" for a in frame["a"]]
        pd.testing.assert_series_equal(series, frame["a"])


def test_sparse_arrays_with_unknown_chunks_split():
    import scipy.sparse as sp

    n = 400
    dense = np.zeros((n, 5))
    dense[:, 0] = np.arange(n) + 1  # row i carries i + 1, to check the pairing
    dense[::7, 3] = 2.0
    X = da.from_array(sp.csr_matrix(dense), chunks=(100, 5), asarray=False)
    y = da.arange(n, chunks=100)
    keep = y % 3 != 0  # a boolean mask: the row chunks become unknown
    X_tr, X_te, y_tr, y_te = dask.compute(*train_test_split(X[keep], y[keep],
                                                            random_state=0))
    assert sp.issparse(X_tr) and X_tr.shape[0] == len(y_tr)
    assert X_tr.shape[0] + X_te.shape[0] == np.count_nonzero(np.arange(n) % 3)
    np.testing.assert_array_equal(X_tr[:, 0].toarray().ravel() - 1, y_tr)
    np.testing.assert_array_equal(X_te[:, 0].toarray().ravel() - 1, y_te)


@pytest.mark.parametrize("persisted_apart", [False, True])
@pytest.mark.parametrize("shuffle", [None, True])
def test_a_pruned_partition_of_a_split_frame_is_split_as_in_the_whole(shuffle, persisted_apart):
    # the seed of a partition came from partition_info["number"], which Dask renumbers
    # from 0 when it prunes partitions: .partitions[3], get_partition(3), .loc and tail()
    # gave other rows than partition 3 of the whole X_train, test rows among them
    pdf = pd.DataFrame({"a": np.arange(1000), "t": 10 * np.arange(1000)})
    ddf = dd.from_pandas(pdf, npartitions=10)  # divisions 0, 100, ..., 900, 999
    X, y = ddf[["a"]], ddf["t"]
    if persisted_apart:
        X, y = dask.persist(X, y)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0, shuffle=shuffle)
    X_tr_c, X_te_c, y_tr_c = dask.compute(X_tr, X_te, y_tr)
    in_part_3 = X_tr_c[(X_tr_c.a >= 300) & (X_tr_c.a < 400)]
    pd.testing.assert_frame_equal(X_tr.partitions[3].compute(), in_part_3)
    pd.testing.assert_frame_equal(X_tr.get_partition(3).compute(), in_part_3)
    pd.testing.assert_series_equal(y_tr.partitions[3].compute(), 10 * in_part_3["a"],
                                   check_names=False)
    pd.testing.assert_frame_equal(X_tr.partitions[[7, 9]].compute(),
                                  X_tr_c[X_tr_c.a >= 700].loc[lambda f: f.a // 100 != 8])
    pd.testing.assert_frame_equal(X_tr.tail(5, compute=True),  X_tr_c.tail(5))
    if shuffle is None:  # sorted partitions: label slices work
        pd.testing.assert_frame_equal(X_tr.loc[300:399].compute(), in_part_3)
        assert not set(X_tr.loc[300:399].compute().a) & set(X_te_c.a)


@pytest.mark.filterwarnings("ignore:Computing mixed collections:UserWarning")
def test_small_partitions_keep_the_test_fraction():
    # each partition rounded its test rows up: 3-row partitions sent a third of the rows
    # to the test set at test_size=0.1, and 1-row partitions all of them (train empty)
    pdf = pd.DataFrame({"a": np.arange(90), "t": np.arange(90) % 2})
    ddf = dd.from_pandas(pdf, npartitions=30)  # 3 rows each
    X_tr, X_te, y_tr, y_te = dask.compute(*train_test_split(ddf[["a"]], ddf["t"],
                                                            test_size=0.1, random_state=0))
    assert 8 <= len(X_te) <= 10 and len(X_tr) + len(X_te) == 90
    np.testing.assert_array_equal(X_te["a"].to_numpy() % 2, y_te.to_numpy())
    one = dd.from_pandas(pdf.iloc[:20], npartitions=20)  # 1 row each
    for random_state in range(5):  # rounded evenly across partitions: never all, never none
        tr, te = dask.compute(*train_test_split(one, random_state=random_state))
        assert 1 <= len(te) <= 3 and len(tr) + len(te) == 20
    # a frame and an array blocked alike: the array's declared chunks match the frame's rows
    y = da.from_array(pdf["t"].to_numpy(), chunks=3)
    X_tr, X_te, y_tr, y_te = train_test_split(ddf[["a"]], y, test_size=0.1, random_state=0)
    X_te_c, y_te_c = dask.compute(X_te, y_te)
    assert y_te.shape == y_te_c.shape == (len(X_te_c),)
    np.testing.assert_array_equal(X_te_c["a"].to_numpy() % 2, y_te_c)


def test_large_partitions_round_their_test_rows_up_as_before():
    # from 100 expected test rows on, a partition rounds up as Dask array blocks do, so
    # the splits of large partitions are the same as before small ones were fixed
    pdf = pd.DataFrame({"a": np.arange(3003)})
    ddf = dd.from_pandas(pdf, npartitions=3)  # 1001 rows each: 100.1 test rows expected
    te = train_test_split(ddf, random_state=0)[1]
    assert [len(te.partitions[i].compute()) for i in range(3)] == [101, 101, 101]


def test_random_state_none_follows_numpy_global_seed():
    # as scikit-learn and dask-ml: None draws from NumPy's global RandomState
    X = da.arange(1000, chunks=100)
    frame = dd.from_pandas(pd.DataFrame({"a": np.arange(100)}), npartitions=4)
    for data in (X, frame):
        np.random.seed(0)
        first = dask.compute(*train_test_split(data))
        np.random.seed(0)
        second = dask.compute(*train_test_split(data))
        for a, b in zip(first, second, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("random_state", [np.random.default_rng(0), 1.5])
def test_bad_random_state_is_refused_naming_it(random_state):
    with pytest.raises(ValueError, match="random_state must be None, an int or a numpy.random"):
        train_test_split(da.arange(10, chunks=5), random_state=random_state)


@pytest.mark.parametrize("blockwise", ["no", None, 2])
def test_blockwise_must_be_a_boolean(blockwise):
    # as dask-ml: only True (or False, which Dask inputs refuse) is accepted
    with pytest.raises(ValueError, match="blockwise must be True or False"):
        train_test_split(da.arange(10, chunks=5), blockwise=blockwise)
    with pytest.raises(NotImplementedError, match="blockwise=True"):
        train_test_split(da.arange(10, chunks=5), blockwise=False)


def test_frames_split_apart_keep_known_divisions():
    # X and y persisted separately are split one by one (not as one frame): their
    # outputs lost the known divisions, and with them .loc and aligned joins
    pdf = pd.DataFrame({"a": np.arange(2000), "t": np.arange(2000)})
    ddf = dd.from_pandas(pdf, npartitions=8)
    X, y = dask.persist(ddf[["a"]], ddf["t"])
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, random_state=0)
    for out in (X_tr, X_te, y_tr, y_te):
        assert out.known_divisions and out.divisions == X.divisions
    X_tr_c, y_tr_c = dask.compute(X_tr, y_tr)
    np.testing.assert_array_equal(X_tr_c["a"].to_numpy(), y_tr_c.to_numpy())
    got = X_tr.loc[100:200].compute()
    pd.testing.assert_frame_equal(got, X_tr_c.loc[100:200])
