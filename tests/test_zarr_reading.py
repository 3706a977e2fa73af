"""gpuinc.io, Zarr: one store at a time, unique column names, row counts from the arrays
read, one read of each chunk per block, errors that travel from workers, clear messages."""

from __future__ import annotations

import collections
import pickle
import shutil

import dask
import numpy as np
import pytest

from gpuinc.io import DataError, read_classes, read_features, read_table, scan

zarr = pytest.importorskip("zarr")


def write_group(path, arrays: dict, chunks: dict | None = None):
    group = zarr.open_group(str(path), mode="w")
    for name, data in arrays.items():
        group.create_array(name, data=data, chunks=(chunks or {}).get(name, (len(data) or 1,)
                                                                       + data.shape[1:]))
    return path


def simple_group(path, n=40, seed=0):
    rng = np.random.default_rng(seed)
    f0, f1 = rng.normal(size=n), rng.normal(size=n)
    return write_group(path, {"f0": f0, "f1": f1, "label": (f0 > 0).astype("int64")})


@pytest.fixture
def chunk_gets(monkeypatch):
    """Counts of the chunk reads of every Zarr store opened locally, by key."""
    from zarr.storage import LocalStore

    counts = collections.Counter()
    original = LocalStore.get

    async def get(self, key, *args, **kwargs):
        if not key.endswith((".json", ".zarray", ".zgroup", ".zattrs")):
            counts[key] += 1
        return await original(self, key, *args, **kwargs)

    monkeypatch.setattr(LocalStore, "get", get)
    return counts


# --------------------------------------------------------------------------- 1: duplicate names
def test_root_array_with_repeated_column_names_is_refused(tmp_path):
    path = tmp_path / "dup.zarr"
    data = np.random.default_rng(0).normal(size=(20, 3))
    arr = zarr.create_array(str(path), data=data, chunks=(10, 3))
    arr.attrs["columns"] = ["x", "x", "label"]
    with pytest.raises(DataError, match=r"dup.zarr: the 'columns' attribute names column\(s\) "
                                        r"'x' more than once.*own name"):
        scan(path)


def test_root_array_columns_in_any_order_come_from_the_right_columns(tmp_path):
    path = tmp_path / "a.zarr"
    data = np.arange(60 * 5, dtype="float64").reshape(60, 5)
    arr = zarr.create_array(str(path), data=data, chunks=(20, 5))
    arr.attrs["columns"] = ["a", "b", "c", "d", "label"]
    X, y = read_table(path, "label", features=["d", "a", "b"], dtype=None, blocksize=20 * 3 * 8)
    np.testing.assert_array_equal(X.compute(), data[:, [3, 0, 1]])
    np.testing.assert_array_equal(y.compute(), data[:, 4])
    X = read_features(path, ["b", "c"], dtype=None)
    np.testing.assert_array_equal(X.compute(), data[:, [1, 2]])
    assert X.blocks[0].compute().flags.c_contiguous


# --------------------------------------------------------------------------- 2: several stores
def test_a_list_of_zarr_stores_is_refused(tmp_path):
    a, b = simple_group(tmp_path / "a.zarr"), simple_group(tmp_path / "b.zarr", seed=1)
    for call in (lambda: scan([a, b]), lambda: read_table([str(a), str(b)], "label")):
        with pytest.raises(DataError, match=r"2 Zarr stores .*one Zarr store at a time; pass "
                                            r"one store path"):
            call()
    assert scan([a]).n_rows == 40  # a list of one store is that store


def test_a_glob_matching_zarr_stores_says_so(tmp_path):
    simple_group(tmp_path / "a.zarr")
    simple_group(tmp_path / "b.zarr", seed=1)
    with pytest.raises(DataError, match=r"matches Zarr store\(s\) .*a.zarr.*b.zarr.*one Zarr "
                                        r"store at a time: pass one store path"):
        scan(str(tmp_path / "*.zarr"))


# --------------------------------------------------------------------------- 3: row count
def test_rows_come_from_the_arrays_read_not_from_the_first_name(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    path = write_group(tmp_path / "e.zarr", {
        "features": X, "labels": (X[:, 0] > 0).astype("int8"),
        "classes": np.array([0, 1]),  # sorts first, 2 rows, not read
    }, chunks={"features": (50, 3), "labels": (50,)})
    ds = scan(path)
    assert ds.n_rows is None  # the arrays differ: the rows are those of the arrays read
    Xd, yd = read_table(ds, "labels", features=["features"])
    assert Xd.shape == (300, 3) and yd.shape == (300,)
    np.testing.assert_allclose(Xd.compute(), X.astype("float32"))
    # the unused array's length does not count; a selected one does
    with pytest.raises(DataError, match="different lengths"):
        read_table(ds, "labels", features=["features", "classes"])


def test_an_empty_unused_array_does_not_refuse_the_store(tmp_path):
    X = np.random.default_rng(3).normal(size=(100, 2))
    path = write_group(tmp_path / "e.zarr", {
        "aaa_empty": np.zeros(0), "features": X, "labels": (X[:, 0] > 0).astype("int8")})
    Xd, yd = read_table(path, "labels", features=["features"])
    assert Xd.shape == (100, 2)
    assert read_classes(path, "labels").tolist() == [0, 1]
    with pytest.raises(DataError, match=r"'aaa_empty'.* have no rows"):
        read_features(path, ["aaa_empty"])
    only_empty = write_group(tmp_path / "z.zarr", {"a": np.zeros(0), "b": np.zeros(0)})
    with pytest.raises(DataError, match="has no rows"):
        scan(only_empty)


def test_same_length_arrays_give_the_row_count(tmp_path):
    assert scan(simple_group(tmp_path / "g.zarr")).n_rows == 40


# --------------------------------------------------------------------------- 4: reads
def _root_array_with_a_label(path, n: int, k: int):
    """A 2-D root array of ``n`` rows in chunks of 25, columns c0.. and a last 'label',
    read as blocks of 25 rows."""
    data = np.random.default_rng(0).normal(size=(n, k)).astype("float32")
    arr = zarr.create_array(str(path), data=data, chunks=(25, k))
    arr.attrs["columns"] = [f"c{i}" for i in range(k - 1)] + ["label"]
    X, y = read_table(path, "label", blocksize=25 * (k - 1) * 4)
    assert X.numblocks[0] == n // 25
    return data, X, y


def test_a_root_array_is_read_once_per_block_not_once_per_column(tmp_path, chunk_gets):
    data, X, _ = _root_array_with_a_label(tmp_path / "wide.zarr", 100, 30)
    chunk_gets.clear()
    Xv = X.compute(scheduler="sync")
    np.testing.assert_array_equal(Xv, data[:, :-1])
    assert len(chunk_gets) == 4 and set(chunk_gets.values()) == {1}, dict(chunk_gets)


def test_a_target_inside_the_root_array_is_read_with_the_features(tmp_path, chunk_gets):
    from sklearn.linear_model import SGDRegressor

    from gpuinc import Incremental

    n = 100
    data, X, y = _root_array_with_a_label(tmp_path / "xy.zarr", n, 6)
    chunk_gets.clear()
    Xv, yv = dask.compute(X, y, scheduler="sync")
    np.testing.assert_array_equal(Xv, data[:, :-1])
    np.testing.assert_array_equal(yv, data[:, -1])
    assert len(chunk_gets) == 4 and set(chunk_gets.values()) == {1}, dict(chunk_gets)
    # a training pass decodes each chunk once, not once for X and again for y
    chunk_gets.clear()
    inc = Incremental(SGDRegressor(random_state=0), shuffle_blocks=False).fit(X, y)
    assert len(chunk_gets) == 4 and set(chunk_gets.values()) == {1}, dict(chunk_gets)
    ref = SGDRegressor(random_state=0)
    for a in range(0, n, 25):
        ref.partial_fit(data[a:a + 25, :-1], data[a:a + 25, -1])
    np.testing.assert_array_equal(inc.estimator_.coef_, ref.coef_)
    # y alone still reads only what it needs
    chunk_gets.clear()
    np.testing.assert_array_equal(y.compute(scheduler="sync"), data[:, -1])
    assert len(chunk_gets) == 4


def test_a_target_far_from_the_features_does_not_read_the_columns_between(tmp_path,
                                                                           chunk_gets):
    path = tmp_path / "cols.zarr"
    data = np.random.default_rng(0).normal(size=(100, 400)).astype("float32")
    arr = zarr.create_array(str(path), data=data, chunks=(50, 40))
    arr.attrs["columns"] = [f"c{i}" for i in range(399)] + ["label"]
    X, y = read_table(path, "label", features=[f"c{i}" for i in range(10)], blocksize=None)
    chunk_gets.clear()
    Xv, yv = dask.compute(X, y, scheduler="sync")
    np.testing.assert_array_equal(Xv, data[:, :10])
    np.testing.assert_array_equal(yv, data[:, -1])
    # the features' column chunk and the target's, each row chunk once: not the 8 between
    assert sorted(chunk_gets) == ["c/0/0", "c/0/9", "c/1/0", "c/1/9"], dict(chunk_gets)
    assert set(chunk_gets.values()) == {1}


def test_differently_chunked_arrays_are_read_in_whole_chunks(tmp_path, chunk_gets):
    n = 200
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=n).astype("float32"), rng.normal(size=n).astype("float32")
    path = write_group(tmp_path / "m.zarr", {"a": a, "b": b, "label": np.arange(n) % 2},
                       chunks={"a": (20,), "b": (50,), "label": (50,)})
    # about 130 rows a block: blocks of 100 rows hold whole chunks of every array
    X, y = read_table(path, "label", blocksize=130 * 2 * 4)
    assert X.numblocks[0] == 2
    chunk_gets.clear()
    Xv, yv = dask.compute(X, y, scheduler="sync")
    np.testing.assert_array_equal(Xv, np.column_stack([a, b]))
    np.testing.assert_array_equal(yv, np.arange(n) % 2)
    assert set(chunk_gets.values()) == {1}, dict(chunk_gets)  # each chunk read once
    assert len(chunk_gets) == 10 + 4 + 4


# --------------------------------------------------------------------------- 5: worker errors
def test_a_read_error_pickles_as_a_data_error(tmp_path):
    """A DataError from a worker must unpickle on the client: chained to a Zarr exception
    (which does not unpickle), distributed turned it into a bare Exception."""
    path = simple_group(tmp_path / "gone.zarr")
    ds = scan(path)
    shutil.rmtree(path / "label")
    with pytest.raises(DataError) as info:
        read_classes(ds, "label")
    err = info.value
    assert "'label' could not be read" in str(err) and "gone.zarr" in str(err)
    with pytest.raises(DataError):
        read_table(ds, "label")[1].compute(scheduler="sync")
    try:  # distributed pickles exceptions with their cause and context (tblib)
        from tblib import pickling_support
        pickling_support.install(err)
    except ImportError:
        pass
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, DataError) and str(back) == str(err)


# --------------------------------------------------------------------------- 6: messages
def test_corrupt_array_metadata_names_the_store_and_the_array(tmp_path):
    path = simple_group(tmp_path / "bad.zarr")
    (path / "f1" / "zarr.json").write_text("{not json")
    with pytest.raises(DataError, match=r"metadata of the array 'f1' in .*bad.zarr cannot be "
                                        r"read \(.*\); the store may be corrupt"):
        scan(path)


def test_a_3d_array_is_named_as_there_but_not_a_column(tmp_path):
    rng = np.random.default_rng(0)
    path = write_group(tmp_path / "c.zarr", {
        "cube": rng.normal(size=(40, 2, 2)), "f0": rng.normal(size=40),
        "label": np.arange(40) % 2})
    for call in (lambda: read_table(path, "label", features=["cube"]),
                 lambda: read_table(path, "cube"),
                 lambda: read_features(path, ["f0", "cube"])):
        with pytest.raises(DataError, match=r"c.zarr holds array 'cube' \(3-D\), but only 1-D "
                                            r"arrays .* and 2-D arrays .* are columns"):
            call()
    X, _ = read_table(path, "label", exclude=["cube"])  # it is left out anyway
    assert X.shape == (40, 1)
    only = write_group(tmp_path / "o.zarr", {"cube": rng.normal(size=(40, 2, 2))})
    with pytest.raises(DataError, match=r"without 1-D or 2-D arrays \(its arrays 'cube' \(3-D\)"):
        scan(only)


def test_a_complex_feature_is_not_numeric(tmp_path):
    path = write_group(tmp_path / "x.zarr", {
        "f0": np.arange(20) * (1 + 2j), "label": np.arange(20) % 2})
    with pytest.raises(DataError, match=r"'f0' in .*x.zarr holds complex numbers "
                                        r"\(complex128\); features must be real"):
        read_table(path, "label")
