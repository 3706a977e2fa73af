"""gpuinc.io: lazy Parquet/CSV/Zarr readers, their block planning and their data errors."""

from __future__ import annotations

import gzip
import re
import zipfile

import dask
import dask.array as da
import dask.dataframe as dd
import fsspec
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import SGDClassifier

from gpuinc import Incremental
from gpuinc.io import DataError, detect_format, read_classes, read_features, read_table, scan

FEATURES = ["f0", "f1", "f2"]


def make_frame(n, start=0, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, 3)), columns=FEATURES)
    df["label"] = (df["f0"] > 0).astype("int64")
    df["id"] = np.arange(start, start + n)
    return df


def write_parquet_dir(path, n_files=3, rows=40, row_group_size=10, **kw):
    path.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(n_files):
        df = make_frame(rows, start=i * rows, seed=i)
        df.to_parquet(path / f"part-{i}.parquet", index=False, row_group_size=row_group_size, **kw)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def write_csv_dir(path, n_files=2, rows=30):
    path.mkdir(parents=True, exist_ok=True)
    frames = []
    for i in range(n_files):
        df = make_frame(rows, start=i * rows, seed=10 + i)
        df.to_csv(path / f"part-{i}.csv", index=False)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def pq_dir(tmp_path):
    folder = tmp_path / "pq"
    return folder, write_parquet_dir(folder)


@pytest.fixture
def csv_dir(tmp_path):
    folder = tmp_path / "csv"
    return folder, write_csv_dir(folder)


# --------------------------------------------------------------------------- reading
def test_parquet_round_trip_is_lazy_and_converted(pq_dir):
    folder, expected = pq_dir
    X, y = read_table(folder, "label", exclude=["id"], blocksize=None)
    assert isinstance(X, dd.DataFrame) and isinstance(y, dd.Series)
    assert list(X.columns) == FEATURES
    assert X.npartitions == 3  # one block per file
    assert all(X.dtypes == np.float32)
    Xc, yc = dask.compute(X, y)
    np.testing.assert_allclose(Xc.to_numpy(), expected[FEATURES].to_numpy(np.float32))
    np.testing.assert_array_equal(yc.to_numpy(), expected["label"].to_numpy())



@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_frames_convert_to_dask_arrays(pq_dir, csv_dir, fmt):
    """.values / to_dask_array of what read_table returns compute (they once failed
    with 'Missing dependency')."""
    folder, expected = pq_dir if fmt == "parquet" else csv_dir
    X, y = read_table(folder, "label", exclude=["id"], blocksize=None)
    Xa, ya = X.values, y.to_dask_array(lengths=True)
    assert isinstance(Xa, da.Array) and isinstance(ya, da.Array)
    np.testing.assert_allclose(Xa.compute(), expected[FEATURES].to_numpy(np.float32))
    np.testing.assert_array_equal(ya.compute(), expected["label"].to_numpy())
    assert sum(ya.chunks[0]) == len(expected) and len(ya.chunks[0]) == X.npartitions

def test_parquet_blocks_follow_blocksize(pq_dir):
    folder, expected = pq_dir
    row_bytes = 4 * len(FEATURES)
    # one row group (10 rows) per block
    X, _ = read_table(folder, "label", exclude=["id"], blocksize=10 * row_bytes)
    assert X.npartitions == 12
    # blocks cross file boundaries: 25 rows -> groups of 3 row groups (30 rows)
    X, _ = read_table(folder, "label", exclude=["id"], blocksize=25 * row_bytes)
    sizes = [len(p) for p in dask.compute(*X.to_delayed())]
    assert sizes == [30, 30, 30, 30]
    assert sum(sizes) == len(expected)


def test_dtype_none_keeps_types_and_float64_converts(pq_dir):
    folder, _ = pq_dir
    X, _ = read_table(folder, "label", features=["f0", "id"], dtype=None)
    assert X.dtypes.tolist() == [np.float64, np.int64]
    X, _ = read_table(folder, "label", features=["id"], dtype="float64")
    assert X.compute()["id"].dtype == np.float64


def test_features_order_and_exclude(pq_dir):
    folder, _ = pq_dir
    X, _ = read_table(folder, "label", features=["f2", "f0"])
    assert list(X.columns) == ["f2", "f0"]
    X, _ = read_table(folder, "label", exclude=["id", "f1"])
    assert list(X.columns) == ["f0", "f2"]


def test_pandas_index_is_not_a_feature(tmp_path):
    df = make_frame(20).set_index("id")
    df.to_parquet(tmp_path / "data.parquet")
    X, _ = read_table(tmp_path / "data.parquet", "label")
    assert list(X.columns) == FEATURES


def test_csv_round_trip_split_into_byte_ranges(tmp_path):
    df = make_frame(3000)
    df.to_csv(tmp_path / "big.csv", index=False)
    size = (tmp_path / "big.csv").stat().st_size
    X, y = read_table(tmp_path / "big.csv", "label", exclude=["id"], blocksize=12 * 600)
    assert X.npartitions == -(-size // (64 * 1024))  # byte ranges of at least 64 KiB
    assert X.npartitions > 1
    Xc, yc = dask.compute(X, y)
    np.testing.assert_allclose(Xc.to_numpy(), df[FEATURES].to_numpy(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(yc.to_numpy(), df["label"].to_numpy())


def test_compressed_csv(tmp_path):
    df = make_frame(50)
    with gzip.open(tmp_path / "data.csv.gz", "wt") as fh:
        df.to_csv(fh, index=False)
    X, y = read_table(tmp_path / "data.csv.gz", "label", exclude=["id"])
    assert X.npartitions == 1
    np.testing.assert_allclose(X.compute().to_numpy(), df[FEATURES].to_numpy(np.float32), rtol=1e-6)


def test_compressed_csv_under_a_name_that_does_not_say_so(tmp_path):
    # read as text, its gzip bytes were "not a UTF-8 text header ... corrupt"
    df = make_frame(50)
    with gzip.open(tmp_path / "data.txt.gz", "wt") as fh:
        df.to_csv(fh, index=False)
    X, y = read_table(tmp_path / "data.txt.gz", "label", exclude=["id"], fmt="csv")
    np.testing.assert_allclose(X.compute().to_numpy(), df[FEATURES].to_numpy(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(y.compute().to_numpy(), df["label"].to_numpy())


@pytest.mark.parametrize("name, fmt", [("data.csv.zip", None), ("data.dat", "csv")])
def test_zipped_csv_of_one_file(tmp_path, name, fmt):
    # "Cannot tell the format" by name, and "not a UTF-8 text header" with fmt="csv"
    df = make_frame(50)
    with zipfile.ZipFile(tmp_path / name, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.csv", df.to_csv(index=False))
    X, y = read_table(tmp_path / name, "label", exclude=["id"], fmt=fmt)
    assert X.npartitions == 1
    np.testing.assert_allclose(X.compute().to_numpy(), df[FEATURES].to_numpy(np.float32), rtol=1e-6)
    np.testing.assert_array_equal(y.compute().to_numpy(), df["label"].to_numpy())


@pytest.mark.parametrize("members", [2, 0])
def test_zip_of_other_than_one_file_is_refused(tmp_path, members):
    # a zip is read as its first member alone: the others' rows would be lost without a word
    with zipfile.ZipFile(tmp_path / "two.csv.zip", "w") as archive:
        for i in range(members):
            archive.writestr(f"part{i}.csv", make_frame(10, seed=i).to_csv(index=False))
    with pytest.raises(DataError, match=rf"two\.csv\.zip is a zip archive of {members} files.*"
                                        r"must hold one file"):
        read_table(tmp_path / "two.csv.zip", "label")


def test_csv_with_carriage_returns_alone_is_named_with_the_fix(tmp_path):
    # it was "a header but no rows; remove it from the dataset"
    (tmp_path / "old.csv").write_bytes(make_frame(20).to_csv(index=False).replace(
        "\n", "\r").encode())
    with pytest.raises(DataError, match=r"old\.csv ends its lines with a carriage return alone.*"
                                        r"convert its line endings"):
        read_table(tmp_path / "old.csv", "label")


def test_zarr_group_and_root_array(tmp_path):
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(0)
    Xv = rng.normal(size=(100, 3))
    yv = (Xv[:, 0] > 0).astype("int64")
    group = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    group.create_array("X", shape=Xv.shape, chunks=(20, 3), dtype="float64")[:] = Xv
    group.create_array("extra", shape=(100,), chunks=(20,), dtype="float64")[:] = Xv[:, 1]
    group.create_array("label", shape=(100,), chunks=(20,), dtype="int64")[:] = yv
    X, y = read_table(tmp_path / "g.zarr", "label", blocksize=40 * 16)
    assert isinstance(X, da.Array) and X.shape == (100, 4) and X.dtype == np.float32
    assert X.numblocks[0] == 3  # whole chunks: 40, 40, 20 rows
    np.testing.assert_allclose(X.compute(), np.column_stack([Xv, Xv[:, 1]]).astype(np.float32))
    np.testing.assert_array_equal(y.compute(), yv)
    X, _ = read_table(tmp_path / "g.zarr", "label", features=["extra"])
    assert X.shape == (100, 1)

    arr = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=(100, 4), chunks=(25, 4),
                          dtype="float64")
    arr[:] = np.column_stack([Xv, yv])
    arr.attrs["columns"] = ["a", "b", "c", "target"]
    X, y = read_table(tmp_path / "a.zarr", "target")
    np.testing.assert_allclose(X.compute(), Xv.astype(np.float32))
    np.testing.assert_array_equal(y.compute(), yv.astype(float))
    assert read_classes(tmp_path / "a.zarr", "target").tolist() == [0.0, 1.0]


def test_fsspec_url_glob_and_list(tmp_path):
    df = make_frame(30)
    fs = fsspec.filesystem("memory")
    for i in range(2):
        with fs.open(f"/gpuinc-test-io/part-{i}.parquet", "wb") as fh:
            df.to_parquet(fh, index=False)
    try:
        X, y = read_table("memory://gpuinc-test-io/", "label", exclude=["id"])
        assert len(X.compute()) == 60
        X, _ = read_table("memory://gpuinc-test-io/*.parquet", "label", exclude=["id"])
        assert X.npartitions == 1
        ds = scan(["memory://gpuinc-test-io/part-1.parquet"])
        shown = ds.files[0].shown
        assert shown.startswith("memory://") and shown.endswith("gpuinc-test-io/part-1.parquet")
    finally:
        fs.rm("/gpuinc-test-io", recursive=True)


def test_hidden_files_are_skipped(pq_dir):
    folder, expected = pq_dir
    (folder / "_SUCCESS").write_text("")
    (folder / ".part-0.parquet.crc").write_bytes(b"\x00crc")
    ds = scan(folder)
    assert ds.fmt == "parquet" and len(ds.files) == 3 and ds.n_rows == len(expected)


def test_format_detection(tmp_path, pq_dir, csv_dir):
    assert detect_format(pq_dir[0]) == "parquet"
    assert detect_format(csv_dir[0]) == "csv"
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    make_frame(5).to_csv(mixed / "a.csv", index=False)
    make_frame(5).to_parquet(mixed / "b.parquet")
    with pytest.raises(DataError, match="mixes formats"):
        scan(mixed)
    assert scan(mixed, fmt="csv").files[0].path.endswith("a.csv")
    odd = tmp_path / "data.bin"
    odd.write_bytes(b"x")
    with pytest.raises(DataError, match="Cannot tell the format.*fmt="):
        scan(odd)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan(tmp_path / "nothing-here")


def test_read_features_keeps_columns_in_one_read(pq_dir):
    folder, expected = pq_dir
    frame = read_features(folder, FEATURES, keep=["id"])
    assert list(frame.columns) == [*FEATURES, "id"]
    out = frame.compute()
    assert out["id"].tolist() == expected["id"].tolist()
    assert out["f0"].dtype == np.float32


def test_read_classes(pq_dir, csv_dir):
    assert read_classes(pq_dir[0], "label").tolist() == [0, 1]
    assert read_classes(csv_dir[0], "label").tolist() == [0, 1]


# --------------------------------------------------------------------------- bad data
def test_missing_target_lists_available_columns(pq_dir):
    with pytest.raises(DataError, match=r"'price' is not in .*part-0\.parquet.*'f0', 'f1'"):
        read_table(pq_dir[0], "price")


def test_non_numeric_feature_named_up_front_parquet(tmp_path):
    df = make_frame(20)
    df["city"] = "Paris"
    df.to_parquet(tmp_path / "data.parquet", index=False)
    with pytest.raises(DataError, match=r"'city' in .*data\.parquet is not numeric.*--exclude"):
        read_table(tmp_path / "data.parquet", "label")
    X, _ = read_table(tmp_path / "data.parquet", "label", exclude=["city"])
    assert "city" not in X.columns


def test_non_numeric_feature_in_csv_sample_and_deep_in_a_block(tmp_path):
    df = make_frame(20)
    df["city"] = "Paris"
    df.to_csv(tmp_path / "small.csv", index=False)
    with pytest.raises(DataError, match=r"'city' in .*small\.csv is not numeric.*'Paris'"):
        read_table(tmp_path / "small.csv", "label")
    # a text value far beyond the sampled first 64 KiB: caught when its block is read
    big = make_frame(4000).astype({"f1": object})
    big.loc[3990, "f1"] = "n/a?"
    big.to_csv(tmp_path / "big.csv", index=False)
    X, y = read_table(tmp_path / "big.csv", "label", exclude=["id"], blocksize=None)
    with pytest.raises(DataError, match=r"big\.csv: feature column 'f1' holds non-numeric values "
                                        r"\(e\.g\. 'n/a\?'\)"):
        dask.compute(X, y)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_empty_files(tmp_path, fmt):
    write = (lambda d, p: d.to_parquet(p, index=False)) if fmt == "parquet" \
        else (lambda d, p: d.to_csv(p, index=False))
    folder = tmp_path / "d"
    folder.mkdir()
    write(make_frame(10), folder / f"a.{fmt}")
    (folder / f"b.{fmt}").write_bytes(b"")
    with pytest.raises(DataError, match=rf"b\.{fmt} is empty \(0 bytes\)"):
        read_table(folder, "label")
    write(make_frame(0), folder / f"b.{fmt}")
    with pytest.raises(DataError, match=rf"b\.{fmt} has (a header but )?no rows"):
        read_table(folder, "label")


def test_corrupt_files_named_up_front(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    make_frame(10).to_parquet(folder / "a.parquet")
    (folder / "b.parquet").write_bytes(b"this is not parquet at all, just some text" * 10)
    with pytest.raises(DataError, match=r"b\.parquet is not a readable Parquet file"):
        read_table(folder, "label")
    (tmp_path / "bin.csv").write_bytes(bytes(range(255, -1, -1)) * 4)
    with pytest.raises(DataError, match=r"bin\.csv does not start with a UTF-8 text header"):
        read_table(tmp_path / "bin.csv", "label")


def corrupt_first_page(path):
    md = pq.ParquetFile(path).metadata
    offset = md.row_group(0).column(0).data_page_offset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 16)


def test_corrupt_page_named_at_its_block(pq_dir):
    folder, _ = pq_dir
    corrupt_first_page(folder / "part-1.parquet")
    X, y = read_table(folder, "label", exclude=["id"], blocksize=None)  # metadata is fine
    assert len(X.partitions[0].compute()) == 40
    with pytest.raises(DataError, match=r"part-1\.parquet \(row groups 0-3\) could not be read"):
        X.partitions[1].compute()
    inc = Incremental(SGDClassifier(), shuffle_blocks=False)
    with pytest.raises(DataError, match=r"part-1\.parquet"):
        inc.fit(X, y, classes=[0, 1])


def test_malformed_csv_rows(tmp_path):
    (tmp_path / "small.csv").write_text(make_frame(10).to_csv(index=False) + "1,2,3,4,5,6,7\n")
    with pytest.raises(DataError, match=r"small\.csv is not well-formed CSV in its first lines "
                                        r"\(.*Expected 5 fields in line 12, saw 7"):
        read_table(tmp_path / "small.csv", "label")
    # beyond the sampled first 64 KiB: caught when its block is read
    text = make_frame(4000).to_csv(index=False) + "1,2,3,4,5,6,7\n"
    (tmp_path / "big.csv").write_text(text)
    X, y = read_table(tmp_path / "big.csv", "label", blocksize=None)
    with pytest.raises(DataError, match=r"big\.csv is not well-formed CSV \(.*saw 7"):
        dask.compute(X, y)


def test_schema_drift_between_parquet_files(tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    make_frame(10).to_parquet(folder / "a.parquet", index=False)
    make_frame(10).assign(extra=1.0).to_parquet(folder / "b.parquet", index=False)
    with pytest.raises(DataError, match=r"Schema drift: .*b\.parquet has column\(s\) 'extra'"):
        read_table(folder, "label")
    read_table(folder, "label", features=FEATURES)  # explicit features: the extra column is unused

    make_frame(10).drop(columns="f2").to_parquet(folder / "b.parquet", index=False)
    with pytest.raises(DataError, match=r"Schema drift: .*b\.parquet has no column\(s\) 'f2'"):
        read_table(folder, "label", features=FEATURES)

    make_frame(10).astype({"f1": str}).to_parquet(folder / "b.parquet", index=False)
    with pytest.raises(DataError, match=r"Schema drift: column 'f1' is double in .*a\.parquet but "
                                        r"(large_)?string in .*b\.parquet"):
        read_table(folder, "label")

    make_frame(10).astype({"label": str}).to_parquet(folder / "b.parquet", index=False)
    with pytest.raises(DataError, match=r"target column 'label' is int64 in .*a\.parquet"):
        read_table(folder, "label", features=FEATURES)


def test_schema_drift_between_csv_headers(csv_dir):
    folder, _ = csv_dir
    make_frame(5).rename(columns={"f1": "f_1"}).to_csv(folder / "part-9.csv", index=False)
    with pytest.raises(DataError, match=r"Schema drift: .*part-9\.csv has no column\(s\) 'f1'"):
        read_table(folder, "label")


def test_missing_values(tmp_path):
    df = make_frame(20)
    df.loc[5, "f2"] = np.nan
    df.to_parquet(tmp_path / "nan.parquet", index=False)
    X, y = read_table(tmp_path / "nan.parquet", "label", exclude=["id"])
    with pytest.raises(DataError, match=r"nan\.parquet .*'f2' hold missing \(NaN\)"):
        X.compute()
    X, _ = read_table(tmp_path / "nan.parquet", "label", exclude=["id"], allow_nan=True)
    assert int(X.compute()["f2"].isna().sum()) == 1
    df = make_frame(20)
    df["label"] = df["label"].astype(float)
    df.loc[3, "label"] = np.nan
    df.to_csv(tmp_path / "nolabel.csv", index=False)
    _, y = read_table(tmp_path / "nolabel.csv", "label")
    with pytest.raises(DataError, match=r"nolabel\.csv.*target column 'label' has missing values"):
        y.compute()


def test_bad_arguments(pq_dir):
    folder, _ = pq_dir
    with pytest.raises(DataError, match="also listed as a feature"):
        read_table(folder, "label", features=["f0", "label"])
    with pytest.raises(DataError, match=r"'nope'.* not in"):
        read_table(folder, "label", features=["f0", "nope"])
    with pytest.raises(ValueError, match="dtype must be 'float32', 'float64' or None"):
        read_table(folder, "label", dtype="str")
    with pytest.raises(ValueError, match="fmt must be one of"):
        read_table(folder, "label", fmt="json")


@pytest.mark.parametrize(("sep", "called"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_csv_with_another_separator_says_so(tmp_path, sep, called):
    # read as one column named 'id;a;b;label': "Target column 'label' is not in ...;
    # available columns: 'id;a;b;label'", which did not say why
    path = tmp_path / "x.csv"
    path.write_text(sep.join(["id", "a", "b", "label"]) + "\n" + sep.join("1230") + "\n")
    with pytest.raises(DataError, match=rf"x.csv looks separated by {called}, not commas.*"
                                        r"write the file with commas"):
        read_table(path, "label")


def test_csv_header_names_follow_pandas_and_unnamed_index(tmp_path):
    # df.to_csv() writes the index as an unnamed first column: pandas names it 'Unnamed: 0'
    df = pd.DataFrame({"f0": [1.0, 2.0, 3.0], "label": [0, 1, 0]})
    df.to_csv(tmp_path / "idx.csv")
    ds = scan(tmp_path / "idx.csv")
    assert ds.columns == ("Unnamed: 0", "f0", "label")
    X, y = read_table(ds, "label")
    assert list(X.columns) == ["f0"]  # the index is not a feature
    np.testing.assert_array_equal(X.compute()["f0"].to_numpy(), [1, 2, 3])
    X, _ = read_table(ds, "label", exclude=["Unnamed: 0"])
    assert list(X.columns) == ["f0"]
    X, _ = read_table(ds, "label", features=["Unnamed: 0", "f0"])
    np.testing.assert_array_equal(X.compute()["Unnamed: 0"].to_numpy(), [0, 1, 2])
    # empty names elsewhere: as pandas names them, and they are features
    (tmp_path / "odd.csv").write_text("a,,b,a.1,label\n1,2,3,4,0\n5,6,7,8,1\n")
    ds = scan(tmp_path / "odd.csv")
    expected = list(pd.read_csv(tmp_path / "odd.csv").columns)
    assert list(ds.columns) == expected == ["a", "Unnamed: 1", "b", "a.1", "label"]
    X, _ = read_table(ds, "label")
    assert list(X.columns) == ["a", "Unnamed: 1", "b", "a.1"]
    np.testing.assert_array_equal(X.compute().to_numpy(), [[1, 2, 3, 4], [5, 6, 7, 8]])


@pytest.mark.parametrize("name", ["dup.parquet", "dup.csv"])
@pytest.mark.parametrize("reader", ["scan", "read_table", "read_features"])
def test_repeated_column_names_are_refused_naming_file_and_column(tmp_path, name, reader):
    import pyarrow as pa

    # Parquet: pyarrow writes two columns named "a"; CSV: pandas would read "a" and "a.1"
    path = tmp_path / name
    if name.endswith(".parquet"):
        pq.write_table(pa.table([pa.array([1.0, 2.0]), pa.array([3.0, 4.0]), pa.array([0, 1])],
                                names=["a", "a", "label"]), path)
    else:
        path.write_text("a,label,a\n1,0,3\n4,1,6\n")
    read = {"scan": lambda: scan(path), "read_table": lambda: read_table(path, "label"),
            "read_features": lambda: read_features(path, ["label"])}[reader]
    with pytest.raises(DataError, match=rf"{name} has more than one column named 'a'.*"
                                        r"rename the columns"):
        read()


def test_csv_header_longer_than_the_sample(tmp_path, monkeypatch):
    import gpuinc.io
    from gpuinc.io import CSV_SAMPLE_BYTES

    width = 12000
    df = pd.DataFrame(np.arange(3 * width, dtype=float).reshape(3, width),
                      columns=[f"col{i}" for i in range(width)]).assign(label=[0, 1, 0])
    df.to_csv(tmp_path / "wide.csv", index=False)
    assert len((tmp_path / "wide.csv").read_text().split("\n")[0]) > CSV_SAMPLE_BYTES
    ds = scan(tmp_path / "wide.csv")
    assert len(ds.columns) == width + 1
    X, y = read_table(ds, "label")
    np.testing.assert_array_equal(X.compute().to_numpy(), df.drop(columns="label").to_numpy())
    # no line break at all: read to the end of a small file; a big one is corrupt
    (tmp_path / "noline.csv").write_bytes(b"x" * (3 * CSV_SAMPLE_BYTES))
    with pytest.raises(DataError, match=r"noline\.csv has a header but no rows"):
        scan(tmp_path / "noline.csv")
    monkeypatch.setattr(gpuinc.io, "CSV_MAX_SAMPLE_BYTES", 2 * CSV_SAMPLE_BYTES)
    with pytest.raises(DataError, match=r"noline\.csv: the first \d+ bytes hold no line break"):
        scan(tmp_path / "noline.csv")


def test_nullable_int_and_boolean_missing_values(tmp_path):
    df = pd.DataFrame({"f0": [0.0, 1.0, 2.0, 3.0],
                       "i": pd.array([1, None, 3, None], dtype="Int64"),
                       "b": pd.array([True, None, False, True], dtype="boolean"),
                       "label": [0, 1, 0, 1]})
    df.to_parquet(tmp_path / "na.parquet")
    for dtype in (None, "float32"):
        for col in ("i", "b"):
            X, _ = read_table(tmp_path / "na.parquet", "label", features=["f0", col], dtype=dtype)
            with pytest.raises(DataError, match=rf"na\.parquet .*'{col}' hold missing .*allow_nan"):
                X.compute()
    X, _ = read_table(tmp_path / "na.parquet", "label", dtype=None, allow_nan=True)
    block = X.compute()
    assert block.to_numpy().dtype == np.float64
    assert all(isinstance(dt, np.dtype) for dt in block.dtypes)
    assert block["i"].isna().tolist() == [False, True, False, True]
    assert block["b"].isna().tolist() == [False, True, False, False]
    # without missing values: NumPy int64 / bool, never object
    full = df.assign(i=pd.array([1, 2, 3, 4], dtype="Int64"),
                     b=pd.array([True, False, False, True], dtype="boolean"))
    full.to_parquet(tmp_path / "full.parquet")
    X, _ = read_table(tmp_path / "full.parquet", "label", features=["i"], dtype=None)
    assert X.compute()["i"].dtype == np.int64
    assert X.dtypes["i"] == np.int64
    X, _ = read_table(tmp_path / "full.parquet", "label", features=["b"], dtype=None)
    assert X.compute()["b"].dtype == np.bool_


def test_parquet_decimal_bool_with_nulls_and_all_null_columns(tmp_path):
    import decimal

    import pyarrow as pa

    n = 4
    cases = {"bool_with_nulls": pa.array([True, None, False, True]),
             "decimal": pa.array([decimal.Decimal("1.50")] * n, pa.decimal128(5, 2)),
             "all_null": pa.nulls(n)}
    for name, arr in cases.items():
        path = tmp_path / f"{name}.parquet"
        # no pandas metadata, as Spark or pyarrow write
        pq.write_table(pa.table({"f0": np.arange(n, dtype=float), "c": arr,
                                 "label": np.arange(n) % 2}), path)
        assert dict(zip(scan(path).columns, scan(path).files[0].numeric, strict=True))["c"]
        for dtype in ("float32", None):
            X, _ = read_table(path, "label", dtype=dtype)
            if name == "decimal":
                got = X.compute()
                np.testing.assert_allclose(got["c"].to_numpy(), 1.5)
                assert got["c"].dtype == (np.float32 if dtype else np.float64)
                continue
            with pytest.raises(DataError, match=rf"{name}\.parquet .*'c' hold missing .*allow_nan"):
                X.compute()
            X, _ = read_table(path, "label", dtype=dtype, allow_nan=True)
            got = X.compute()
            assert got.to_numpy().dtype.kind == "f"
            assert int(got["c"].isna().sum()) == (1 if name == "bool_with_nulls" else n)


def test_many_explicit_features_are_fast(tmp_path):
    import time

    import pyarrow as pa

    width = 20000
    pq.write_table(pa.table({**{f"c{i}": np.zeros(2, np.float32) for i in range(width)},
                             "label": np.arange(2)}), tmp_path / "wide.parquet")
    ds = scan(tmp_path / "wide.parquet")
    start = time.perf_counter()
    X, _ = read_table(ds, "label", features=[f"c{i}" for i in range(width)])
    assert time.perf_counter() - start < 5  # was quadratic: minutes
    assert len(X.columns) == width
    with pytest.raises(DataError, match=r"'c1' listed more than once"):
        read_table(ds, "label", features=["c0", "c1", "c1"])


def test_zarr_text_target(tmp_path):
    zarr = pytest.importorskip("zarr")
    path = tmp_path / "s.zarr"
    group = zarr.open_group(str(path), mode="w")
    group.create_array("f0", shape=(10,), chunks=(5,), dtype="f8")[:] = np.arange(10.0)
    group.create_array("label", shape=(10,), chunks=(5,), dtype=str)[:] = np.array(["cat", "dog"] * 5)
    assert list(read_classes(path, "label")) == ["cat", "dog"]
    X, y = read_table(path, "label", blocksize=40)
    assert y.dtype == object
    labels = y.compute()
    assert labels.dtype == object and list(labels) == ["cat", "dog"] * 5
    assert X.compute().shape == (10, 1)


def test_zarr_target_with_missing_values_names_the_store_and_rows(tmp_path):
    zarr = pytest.importorskip("zarr")
    path = tmp_path / "n.zarr"
    group = zarr.open_group(str(path), mode="w")
    group.create_array("f0", shape=(40,), chunks=(10,), dtype="f8")[:] = np.arange(40.0)
    price = np.arange(40.0)
    price[[25, 27]] = np.nan
    group.create_array("price", shape=(40,), chunks=(10,), dtype="f8")[:] = price
    with pytest.raises(DataError, match=r"n.zarr rows 20:40: the target array 'price' has "
                                        r"missing values in 2 row\(s\)"):
        read_table(path, "price", blocksize=80)[1].compute()
    with pytest.raises(DataError, match="the target array 'price' has missing values"):
        read_classes(path, "price")


# --------------------------------------------------------------------------- review fixes
def write_hive(path, n=40):
    """A Parquet folder partitioned as pandas writes it: year=2023/city=New%20York/...parquet."""
    df = make_frame(n)
    df["year"] = np.where(np.arange(n) % 2, 2024, 2023)
    df["city"] = np.where(np.arange(n) % 4 < 2, "New York", "Paris")
    df.to_parquet(path, partition_cols=["year", "city"], index=False)
    return df


def test_hive_partition_folders_are_columns(tmp_path):
    folder = tmp_path / "hive"
    df = write_hive(folder)
    ds = scan(folder)
    assert ds.columns == (*FEATURES, "label", "id", "year", "city")  # as pyarrow/Dask order them
    expected = df.sort_values("id", ignore_index=True)

    X, _ = read_table(ds, "label", exclude=["id", "city"])
    assert list(X.columns) == [*FEATURES, "year"]
    X, y = read_table(ds, "label", features=["id", "f0", "year"], dtype=None)
    got = X.compute().assign(label=y.compute()).sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(got, expected[["id", "f0", "year", "label"]])
    # a partition key as the target, its labels, and a text key carried along unchanged
    _, y = read_table(ds, "year", features=["f0"])
    assert sorted(y.compute().unique().tolist()) == [2023, 2024]
    assert read_classes(ds, "year").tolist() == [2023, 2024]
    assert read_classes(ds, "city").tolist() == ["New York", "Paris"]
    kept = read_features(ds, ["f0"], keep=["id", "city"]).compute().sort_values("id")
    assert kept["city"].tolist() == expected["city"].tolist()
    # a text key is a non-numeric feature, named up front
    with pytest.raises(DataError, match=r"Feature column 'city' in .*year=2023.* is not numeric"):
        read_table(ds, "label")
    # a glob or a list finds them below the files' common folder, as Dask does
    files = sorted(folder.rglob("*.parquet"))
    assert scan(str(folder / "*" / "*" / "*.parquet")).columns[-2:] == ("year", "city")
    assert scan(files).columns[-2:] == ("year", "city")
    # a folder inside a partition is its own dataset: its path is above the root
    assert "year" not in scan(folder / "year=2024").columns
    assert scan(folder / "year=2024").columns[-1] == "city"


def test_hive_partition_missing_values_and_name_clash(tmp_path):
    folder = tmp_path / "hive"
    df = make_frame(8)
    df["g"] = [1.0, 1.0, np.nan, np.nan, 2.0, 2.0, 1.0, 1.0]
    df.to_parquet(folder, partition_cols=["g"], index=False)
    assert any(p.name == "g=__HIVE_DEFAULT_PARTITION__" for p in folder.iterdir())
    X, _ = read_table(folder, "label", features=["f0", "g"])
    with pytest.raises(DataError, match=r"g=__HIVE_DEFAULT_PARTITION__.*'g' hold missing"):
        X.compute()
    X, _ = read_table(folder, "label", features=["f0", "g"], allow_nan=True)
    assert int(X.compute()["g"].isna().sum()) == 2
    with pytest.raises(DataError, match=r"target column 'g' is missing for every row"):
        read_classes(folder, "g")
    # a folder key that is also a column of the file: ambiguous, refused up front
    clash = tmp_path / "clash" / "label=1"
    clash.mkdir(parents=True)
    make_frame(5).to_parquet(clash / "part-0.parquet", index=False)
    with pytest.raises(DataError, match=r"part-0\.parquet: partition folder key\(s\) 'label' "
                                        r"also name a column"):
        scan(tmp_path / "clash")


def test_read_features_keep_returns_columns_unconverted(tmp_path):
    df = make_frame(5).assign(id=np.arange(5) + 2**53 + 1, name=list("abcde"))
    df.to_parquet(tmp_path / "k.parquet", index=False)
    df.to_csv(tmp_path / "k.csv", index=False)
    for path in (tmp_path / "k.parquet", tmp_path / "k.csv"):
        frame = read_features(path, FEATURES, keep=["id", "name"])
        out = frame.compute()
        assert out["id"].dtype == np.int64 and out["id"].tolist() == df["id"].tolist()
        assert out["name"].tolist() == df["name"].tolist()
        assert frame.dtypes["id"] == np.int64 and out["f0"].dtype == np.float32
        # a column cannot be converted as a feature and unchanged as a kept column at once
        with pytest.raises(DataError, match=r"'id' listed both as features and in keep=.*only one"):
            read_features(path, [*FEATURES, "id"], keep=["id"])


def test_integer_dtype_is_refused(tmp_path):
    df = pd.DataFrame({"f0": [1.7, -2.2, 3.5], "label": [0, 1, 0]})
    df.to_parquet(tmp_path / "d.parquet", index=False)
    df.to_csv(tmp_path / "d.csv", index=False)
    for path in (tmp_path / "d.parquet", tmp_path / "d.csv"):
        for dtype in ("int32", "int64", "uint8", np.int16):
            with pytest.raises(ValueError, match=r"integer dtype would silently truncate.*"
                                                 r"'float32'"):
                read_table(path, "label", dtype=dtype)
            with pytest.raises(ValueError, match=r"integer dtype"):
                read_features(path, ["f0"], dtype=dtype)
        X, _ = read_table(path, "label", dtype="float64")
        assert X.compute()["f0"].tolist() == [1.7, -2.2, 3.5]


@pytest.mark.parametrize("blocksize", [None, 300])
def test_csv_rows_ending_with_a_delimiter_keep_their_columns(tmp_path, blocksize):
    # pandas makes the first field the index when rows have one field more than the header:
    # every value then lands one column to the left (y read from x1, x1 from x2, ...)
    df = make_frame(40)
    clean, trailing = tmp_path / "clean.csv", tmp_path / "trailing.csv"
    df.to_csv(clean, index=False)
    trailing.write_text("".join(line + ",\n" if i else line + "\n" for i, line in
                                enumerate(clean.read_text().splitlines())))
    want = dask.compute(*read_table(clean, "label", exclude=["id"], blocksize=blocksize))
    got = dask.compute(*read_table(trailing, "label", exclude=["id"], blocksize=blocksize))
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert read_classes(scan(trailing), "label").tolist() == [0, 1]


def test_csv_rows_with_more_values_than_header_names_are_refused(tmp_path):
    path = tmp_path / "extra.csv"
    path.write_text("f0,f1,label\n1,2,1,7\n3,4,0,7\n")
    with pytest.raises(DataError, match=r"extra\.csv.*4 fields for 3 header names"):
        dask.compute(*read_table(path, "label"))


def test_paths_and_globs_find_the_data_files(tmp_path):
    df = make_frame(40)
    # an existing folder whose name holds glob characters is that folder
    odd = tmp_path / "run[1]"
    odd.mkdir()
    df.to_parquet(odd / "part-0.parquet", index=False)
    X, _ = read_table(odd, "label", exclude=["id"])
    assert len(X.compute()) == 40
    # a glob that matches folders reads the files inside them; markers are skipped as in a folder
    for year in (2020, 2021):
        part = tmp_path / "hive" / f"year={year}"
        part.mkdir(parents=True)
        df.to_parquet(part / "part-0.parquet", index=False)
        (part / "_SUCCESS").write_text("")
        (part / ".part-0.parquet.crc").write_bytes(b"\x00")
    X, _ = read_table(str(tmp_path / "hive" / "year=*"), "label", exclude=["id"])
    assert len(X.compute()) == 80
    X, _ = read_table(str(tmp_path / "hive" / "year=2020" / "*"), "label", exclude=["id"])
    assert len(X.compute()) == 40
    with pytest.raises(FileNotFoundError, match="No files match"):
        read_table(str(tmp_path / "hive" / "nothing*"), "label")


def test_csv_of_a_compression_this_python_lacks_says_what_to_install(tmp_path, monkeypatch):
    import gpuinc.io as gio

    path = tmp_path / "x.csv.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(20))
    monkeypatch.setattr(gio, "_available_compressions", lambda: [None, "gzip", "bz2"])
    with pytest.raises(DataError, match=r"x\.csv\.zst is zstd-compressed.*pip install zstandard"):
        read_table(path, "b")


def test_csv_trailing_delimiter_edge_cases(tmp_path):
    from gpuinc.io import _read_csv

    # a later row with a value where the others end with an empty field: refused, not dropped
    with pytest.raises(ValueError, match="holds '99' there"):
        _read_csv(b"a,b\n1,2,\n3,4,99\n")
    # a whitespace line before the rows, and rows without the trailing field, are fine
    assert _read_csv(b"a,b\n  \n1,2,\n3,4\n").to_dict("list") == {"a": [1, 3], "b": [2, 4]}
    # a header longer than 64 KiB: the first row is still compared with all of it
    names = [f"f{i:05d}" for i in range(12_000)]
    text = ",".join(names) + "\n" + ",".join("1" for _ in names) + ",\n"
    frame = _read_csv(text.encode())
    assert list(frame.columns) == names and frame.iloc[0].tolist() == [1] * len(names)


def test_csv_text_labels_are_read_as_written(tmp_path):
    # one file of digit labels ("01", "02" parse as 1, 2), one with text: all text, as written
    folder = tmp_path / "labels"
    folder.mkdir()
    df = make_frame(20)
    df.assign(label=np.where(df["label"] == 1, "02", "01")).to_csv(folder / "a.csv", index=False)
    df.assign(label="x").to_csv(folder / "b.csv", index=False)
    assert read_classes(scan(folder), "label").tolist() == ["01", "02", "x"]
    _, y = read_table(folder, "label", exclude=["id"], text_target=True)
    assert sorted(set(y.compute())) == ["01", "02", "x"]


def test_a_glob_matching_one_hive_folder_keeps_its_partition_columns(tmp_path):
    df = make_frame(40).assign(year=2020, region=np.repeat(["eu", "us"], 20))
    df.to_parquet(tmp_path / "h", partition_cols=["year", "region"])
    X = read_features(str(tmp_path / "h" / "year=2020*"), ["f0"], keep=["year", "region"])
    got = X.compute()
    assert got["year"].tolist() == [2020] * 40 and sorted(set(got["region"])) == ["eu", "us"]


@pytest.mark.parametrize("values, kind", [
    (["1152921504606846977", "", "-3"], "Int64"),
    (["18446744073709551610", "", "3"], "UInt64"),
])
def test_csv_integer_ids_missing_in_the_sampled_rows_stay_exact(tmp_path, values, kind):
    # the scan's sample holds the missing id: pandas types it float64, which rounds ids
    # above 2**53; the sample's text says they are integers
    lines = ["id,f0"] + [f"{v},{i}.5" for i, v in enumerate(values)]
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    X = read_features(tmp_path / "a.csv", ["f0"], keep=["id"])
    assert X.dtypes["id"] == kind
    got = X.compute()["id"]
    assert got.dtype == kind
    assert got.tolist() == [int(values[0]), pd.NA, int(values[2])]


def test_csv_ids_written_as_decimals_are_read_as_numbers(tmp_path):
    (tmp_path / "a.csv").write_text("id,f0\n1.5,1\n,2\n3,3\n")
    got = read_features(tmp_path / "a.csv", ["f0"], keep=["id"]).compute()["id"]
    assert got.dtype == "float64" and got.iloc[0] == 1.5 and got.isna().iloc[1]


def test_unsigned_integer_ids_stay_exact(tmp_path):
    import pyarrow as pa

    ids = pa.array([2**63 + 5, None, 3], type=pa.uint64())
    pq.write_table(pa.table({"id": ids, "f0": [1.0, 2.0, 3.0]}), tmp_path / "u.parquet")
    got = read_features(tmp_path / "u.parquet", ["f0"], keep=["id"]).compute()["id"]
    assert got.dtype == "UInt64" and got.tolist() == [2**63 + 5, pd.NA, 3]


# ------------------------------------------------------------------ malformed CSV rows: lines
def _wide_csv(rows=4000):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(rows, 10)), columns=[f"f{i}" for i in range(10)])
    df["label"] = np.arange(rows) % 2
    return df.to_csv(index=False).splitlines(keepends=True)  # [0] is the header: file line 1


def _block_errors(path, target="label", **kw):
    """The DataError messages of the blocks of ``read_table(path, target, ...)``."""
    X, y = read_table(path, target, blocksize="16KiB", **kw)
    assert X.npartitions > 2
    out = []
    for i in range(X.npartitions):
        with dask.config.set(scheduler="sync"):
            try:
                dask.compute(X.partitions[i], y.partitions[i])
            except DataError as exc:
                out.append(str(exc))
    return out


def test_ragged_csv_row_names_its_line_in_the_file(tmp_path):
    # a row with more fields than the header, deep in the file: pandas counts its line from
    # the start of the block, the message from the start of the file
    lines = _wide_csv()
    lines[2999] = lines[2999].rstrip("\n") + ",1,2\n"  # file line 3000
    (tmp_path / "r.csv").write_text("".join(lines))
    (errors,) = _block_errors(tmp_path / "r.csv")
    assert re.search(r"r\.csv \(bytes [1-9]\d*-\d+\) is not well-formed CSV \(expected 11 fields, "
                     r"as in the header, in line 3000 of the file, saw 13\)\. Fix that row or "
                     r"drop it", errors), errors
    # a block inside the file may start inside a quoted line break: the way out is named
    assert "read the file in one block (blocksize=None, --blocksize none)" in errors
    # a compressed file is one block: its line is the file's, and the fix is named too
    with gzip.open(tmp_path / "r.csv.gz", "wt") as fh:
        fh.write("".join(lines))
    X, y = read_table(tmp_path / "r.csv.gz", "label")
    with pytest.raises(DataError, match=r"r\.csv\.gz is not well-formed CSV \(expected 11 fields, "
                                        r"as in the header, in line 3000 of the file, saw 13\)\. "
                                        r"Fix that row or drop it") as info:
        dask.compute(X, y)
    assert "blocksize=None" not in str(info.value)  # one block already


def test_ragged_csv_row_line_when_the_lines_before_cannot_be_counted(tmp_path, monkeypatch):
    import gpuinc.io as gio

    lines = _wide_csv()
    lines[2999] = lines[2999].rstrip("\n") + ",1,2\n"
    text = "".join(lines)
    (tmp_path / "r.csv").write_text(text)

    def cannot(self):
        raise OSError("connection reset")

    monkeypatch.setattr(gio._BlockLines, "lines_before", cannot)
    (error,) = _block_errors(tmp_path / "r.csv")
    got = re.search(r"in line (\d+) of bytes (\d+)-(\d+), counted from the first line that starts "
                    r"there \(the lines before could not be counted: .*connection reset\)", error)
    assert got, error
    start = text.index("\n", int(got[2])) + 1  # where the block starts
    assert text[:start].count("\n") + int(got[1]) == 3000


def test_csv_row_with_too_few_fields_is_not_missing_values(tmp_path):
    lines = _wide_csv()
    empty = list(lines)
    empty[2999] = ",".join(lines[2999].split(",")[:5]) + ",,,,,,1\n"  # empty fields: missing values
    (tmp_path / "empty.csv").write_text("".join(empty))
    (error,) = _block_errors(tmp_path / "empty.csv")
    assert re.search(r"empty\.csv \(bytes .*\): feature column\(s\) 'f5', .* hold missing \(NaN\)",
                     error), error
    assert not _block_errors(tmp_path / "empty.csv", allow_nan=True)

    short = list(lines)
    short[2999] = ",".join(lines[2999].split(",")[:6]) + "\n"  # 6 fields of 11, no target
    short[3049] = ",".join(lines[3049].split(",")[:3]) + "\n"  # a second one, same block
    (tmp_path / "short.csv").write_text("".join(short))
    for allow_nan in (False, True):  # a short row is malformed, not missing values
        (error,) = _block_errors(tmp_path / "short.csv", allow_nan=allow_nan)
        assert re.search(r"short\.csv \(bytes [1-9]\d*-\d+\) is not well-formed CSV \(expected 11 "
                         r"fields, as in the header, in line 3000 of the file, saw 6; 1 more "
                         r"row\(s\) of this block have too few fields too\)\. Fix that row or "
                         r"drop it", error), error
        assert "allow-nan" not in error and "allow_nan" not in error
    # read_classes (gpuinc train reads a classifier's labels first) reads the target column
    # only: its missing label is the short row's
    assert read_classes(tmp_path / "empty.csv", "label").tolist() == [0, 1]
    with pytest.raises(DataError, match=r"short\.csv is not well-formed CSV \(expected 11 fields, "
                                        r"as in the header, in line 3000 of the file, saw 6\)\. "
                                        r"Fix that row or drop it"):
        read_classes(tmp_path / "short.csv", "label")


def test_csv_short_row_check_keeps_quoted_commas_and_blank_lines(tmp_path):
    # the fields of a row with a quoted delimiter are counted as pandas counts them; blank
    # lines are skipped; genuinely missing values (with allow_nan) are fine
    text = 'id,name,f0\n1,"a,b",1.5\n\n2,c,\n   \n3,"x, ""y"", z",\n'
    (tmp_path / "q.csv").write_text(text)
    got = read_features(tmp_path / "q.csv", ["f0"], keep=["name"], allow_nan=True).compute()
    assert got["name"].tolist() == ["a,b", "c", 'x, "y", z'] and got["f0"].isna().sum() == 2
    (tmp_path / "s.csv").write_text(text + '4,"p,q"\n')
    with pytest.raises(DataError, match=r"expected 3 fields, as in the header, in line 7 of the "
                                        r"file, saw 2\)"):
        read_features(tmp_path / "s.csv", ["f0"], keep=["name"], allow_nan=True).compute()


def test_missing_feature_column_says_what_asked_for_it_and_the_fix(tmp_path, capsys):
    from gpuinc.cli import main

    train, new = tmp_path / "train", tmp_path / "new"
    write_parquet_dir(train, n_files=1)
    new.mkdir()
    make_frame(20).drop(columns="f2").to_parquet(new / "part-0.parquet", index=False)
    with pytest.raises(DataError, match=r"Feature column\(s\) 'f2' not in .*part-0\.parquet; "
                                        r"available columns: 'f0', 'f1', 'label', 'id'\. They were "
                                        r"asked for as features: by --features / features=, or by "
                                        r"the model in `gpuinc predict` \(a model needs the columns "
                                        r"it was trained on, under the same names\)\. Give data "
                                        r"that has these columns.*train it again"):
        read_features(new, FEATURES)
    model = tmp_path / "m.pkl"
    assert main(["train", str(train), "--target", "label", "--exclude", "id", "--workers", "0",
                 "--out", str(model)]) == 0
    capsys.readouterr()
    rc = main(["predict", str(model), str(new), "--out", str(tmp_path / "p.parquet"),
               "--workers", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "'f2' not in" in err and "by the model in `gpuinc predict`" in err, err
    with pytest.raises(DataError, match=r"Column\(s\) 'ID' given to carry along \(--id / keep=\) "
                                        r"not in .*Name columns this data has"):
        read_features(new, ["f0"], keep=["ID"])
    with pytest.raises(DataError, match=r"Column\(s\) 'f9' given to --exclude / exclude= not in "):
        read_table(new, "label", exclude=["f9"])


def test_csv_field_counts_know_quoted_commas_line_breaks_and_escaped_quotes():
    from gpuinc.io import _field_counts

    data = (b'a,b,c\n'
            b'"x, y",1,2\n'              # a comma inside quotes
            b'"two\nlines, here",3,4\n'  # a quoted line break: one record
            b'"say ""hi"", ok",5,6\n'    # escaped quotes
            b'\n'                        # a blank line
            b'7,8\n'                     # a short row
            b'9,10,11')                  # no final line break
    assert _field_counts(data).tolist() == [3, 3, 3, 3, -1, 2, 3]


def test_csv_header_ending_with_a_delimiter_over_rows_without_it(tmp_path):
    """'a,b,t,' over rows '1,2,0': the header's last name is empty; the rows lack nothing."""
    path = tmp_path / "trail.csv"
    rows = "".join(f"{i},{i * 2},{i % 2}\n" for i in range(50))
    path.write_text("a,b,t,\n" + rows)
    X, y = read_table(path, "t", features=["a", "b"], blocksize=None, allow_nan=True)
    np.testing.assert_array_equal(y.compute(), np.arange(50) % 2)
    np.testing.assert_array_equal(np.asarray(X.compute())[:, 0], np.arange(50))


@pytest.mark.parametrize("text, ok", [
    ('note,a,t,b\n5"3 tall,7,1,2\nx,8,0,\n', True),   # a literal quote mid-field
    ('a,t,note\n1,0,5"3\n4,1\n5,0,x\n', False),       # ... and a short row after it
    ('a,t,note\n1,0,5"3 and 6"4\n4,1\n', False),      # two literal quotes hide nothing
])
def test_csv_short_rows_with_literal_quotes(tmp_path, text, ok):
    path = tmp_path / "q.csv"
    path.write_text(text)
    features = ["a", "b"] if text.startswith("note") else ["a"]
    X, y = read_table(path, "t", features=features, blocksize=None, allow_nan=True)
    if ok:
        np.testing.assert_array_equal(y.compute(), [1, 0])
    else:
        with pytest.raises(DataError, match="in line 3 of the file, saw 2"):
            dask.compute(X, y)


def test_read_classes_file_scan_does_not_cut_a_quoted_line_break(tmp_path, monkeypatch):
    """The scan for short rows reads a file in pieces; a piece cut at a line break inside
    quotes made a good record look short."""
    import gpuinc.io as gio

    monkeypatch.setattr(gio, "_COUNT_CHUNK", 64)  # pieces of 64 bytes
    rows = "".join(f'{i},"note\n{i}",{i % 2}\n' for i in range(40))
    path = tmp_path / "q.csv"
    path.write_text("a,note,t\n" + rows + "40,x\n")  # one short row, at the end
    with pytest.raises(DataError, match="in line 82 of the file, saw 2"):
        gio._check_short_rows_in_file(fsspec.filesystem("file"), str(path), "q.csv", None)


def test_pandas_index_is_a_column_but_not_a_default_feature(tmp_path):
    # the index (not a RangeIndex: stored as a column) was dropped from the columns, so
    # features= / keep= could not name it although read_table's docstring says they can
    folder = tmp_path / "d"
    folder.mkdir()
    df = pd.DataFrame({"user_id": [5, 3, 9, 1, 7, 2], "f0": np.arange(6.0),
                       "label": [0, 1] * 3})
    df.iloc[:3].set_index("user_id").to_parquet(folder / "a.parquet")
    df.iloc[3:].set_index("user_id").to_parquet(folder / "b.parquet")  # not a range either
    X, _ = read_table(folder, "label")
    assert list(X.columns) == ["f0"]  # not a default feature
    X, _ = read_table(folder, "label", features=["f0", "user_id"])
    assert X.compute()["user_id"].tolist() == [5, 3, 9, 1, 7, 2]
    kept = read_features(folder, ["f0"], keep=["user_id"]).compute()
    assert kept["user_id"].tolist() == [5, 3, 9, 1, 7, 2] and kept["f0"].tolist() == df["f0"].tolist()
    # evenly spaced ids: pandas stores a RangeIndex as (start, stop, step) only, no column
    ranged = tmp_path / "r.parquet"
    df.assign(user_id=np.arange(6) * 7 + 100).set_index("user_id").to_parquet(
        ranged, row_group_size=4)
    assert pq.read_schema(ranged).names == ["f0", "label"]
    X, _ = read_table(ranged, "label", features=["f0", "user_id"], blocksize=1)
    assert X.npartitions == 2 and X.compute()["user_id"].tolist() == [100, 107, 114, 121, 128, 135]


def test_categorical_and_string_text_labels_are_one_type(tmp_path):
    # pandas writes a Categorical's codes as int8 (<= 127 categories) or int16: that, or a
    # plain string column in another file, was refused as schema drift of the target
    folder = tmp_path / "d"
    folder.mkdir()
    small = [f"c{i % 50}" for i in range(60)]
    large = [f"c{i % 200}" for i in range(200)]
    pd.DataFrame({"f0": np.arange(60.0), "label": pd.Categorical(small)}).to_parquet(
        folder / "a.parquet")
    pd.DataFrame({"f0": np.arange(200.0), "label": pd.Categorical(large)}).to_parquet(
        folder / "b.parquet")
    pd.DataFrame({"f0": [1.0, 2.0], "label": ["c1", "x"]}).to_parquet(folder / "c.parquet")
    types = [info.types[1] for info in scan(folder).files]
    assert "int8" in types[0] and "int16" in types[1] and "dictionary" not in types[2]
    _, y = read_table(folder, "label")
    assert [str(v) for v in y.compute()] == [*small, *large, "c1", "x"]
    assert sorted(read_classes(folder, "label")) == sorted({*large, "x"})
    # a numeric target in one file and text in another is still drift
    pd.DataFrame({"f0": [1.0], "label": [3]}).to_parquet(folder / "d.parquet")
    with pytest.raises(DataError, match=r"Schema drift: target column 'label'"):
        read_table(folder, "label")


@pytest.mark.filterwarnings("error:overflow encountered:RuntimeWarning")
def test_value_too_large_for_float32_is_named_with_the_fix(tmp_path):
    # 3e39 became inf in float32 and was reported as "missing (NaN) or infinite ... pass
    # --allow-nan": following that trained on inf
    df = pd.DataFrame({"f0": [1.0, 3e39, 2.0], "f1": [1.0, 2.0, 3.0], "label": [0, 1, 0]})
    df.to_parquet(tmp_path / "d.parquet", index=False)
    df.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(DataError, match=r"'f0' \(e\.g\. 3e\+39\) hold values too large for "
                                        r"float32 .*Pass --dtype float64") as info:
        read_table(tmp_path / "d.parquet", "label")[0].compute()
    assert "allow-nan" not in str(info.value) and "'f1'" not in str(info.value)
    # CSV values are parsed as float32 directly: too large and infinite look alike there
    with pytest.raises(DataError, match=r"'f0'.*too large for float32.*--dtype float64"):
        read_table(tmp_path / "d.csv", "label")[0].compute()
    for path in (tmp_path / "d.parquet", tmp_path / "d.csv"):
        X, _ = read_table(path, "label", dtype="float64")
        assert X.compute()["f0"].tolist() == [1.0, 3e39, 2.0]


def test_exclude_may_name_a_column_only_later_files_have(tmp_path):
    # --exclude was checked against the first file's columns only, while leaving the column
    # in gave "Schema drift: b has column(s) 'note'"
    folder = tmp_path / "d"
    folder.mkdir()
    make_frame(4).to_parquet(folder / "a.parquet", index=False)
    make_frame(4, start=4).assign(note="x").to_parquet(folder / "b.parquet", index=False)
    with pytest.raises(DataError, match=r"b\.parquet has column\(s\) 'note'.*--exclude"):
        read_table(folder, "label")
    X, _ = read_table(folder, "label", exclude=["note", "id"])
    assert list(X.columns) == FEATURES and len(X.compute()) == 8
    with pytest.raises(DataError, match=r"'nope' given to --exclude"):
        read_table(folder, "label", exclude=["note", "nope"])


# --------------------------------------------------------------------------- purpose
#: the readers' fixes by purpose (see gpuinc.io.TRAIN / PREDICT): reading for training, a fix
#: may choose other features or another dtype; predicting with a trained model, the features
#: are the model's, read as it was trained (gpuinc predict has no --features / --exclude)
NOT_NUMBERS = ("Leave it out of the features (--exclude / --features; exclude= / features= in "
               "read_table), or encode it as numbers first.",
               "The model was trained on it as a numeric feature: give data where it holds "
               "numbers, encoded as for training.")
NAN = ("Fill or drop them in the data, or pass allow_nan=True (--allow-nan) for an estimator "
       "that handles them.",
       "Fill or drop them in the data, or pass --allow-nan for a model that handles them.")
TOO_LARGE = ("Pass --dtype float64 (dtype='float64'), or scale the values down.",
             "The model reads its features as it was trained (train's --dtype): train it again "
             "with --dtype float64, or scale the values down.")
MAYBE_TOO_LARGE = ("for those, pass --dtype float64 (dtype='float64').",
                   "for those, train the model again with --dtype float64.")
DRIFT_MISSING = ("Make the files agree, or leave the column out (--features / --exclude).",
                 "Make the files agree: the model needs the column(s).")
DRIFT_TYPE = ("Make the files agree (convert the column to numbers in every file), or leave it "
              "out (--exclude / --features).",
              "Make the files agree (convert the column to numbers in every file, as for "
              "training): the model needs it.")
ZARR_NAN = NAN  # the same advice as for Parquet and CSV columns
ZARR_3D = ("Store it as 2-D (e.g. arr.reshape(len(arr), -1)), or leave it out (--features / "
           "--exclude).",
           "The model was trained on it as column(s): give data where it is 1-D or 2-D, as for "
           "training (e.g. arr.reshape(len(arr), -1)).")
ZARR_NOT_NUMBERS = ("; leave it out (--exclude / --features) or store it as numbers.",
                    ". " + NOT_NUMBERS[1])
ZARR_COMPLEX = ("Store the real and imaginary parts (or the magnitude) as arrays of their own, "
                "or leave it out (--exclude / --features).",
                "The model was trained on it as real numbers: give data where it holds real "
                "numbers, as for training.")


def _purpose_cases(tmp_path) -> dict:
    """name -> (data, fixes, raised in a block task): one dataset per reader error whose fix
    depends on what the data is read for; ``fixes``: its (training, predicting) fixes, the
    message's last one last."""
    rng = np.random.default_rng(0)
    n = 40
    base = pd.DataFrame({"f0": rng.normal(size=n), "f1": rng.normal(size=n)})
    cases = {}

    def parquet(name, *frames):
        folder = tmp_path / name
        folder.mkdir()
        for i, df in enumerate(frames):
            df.to_parquet(folder / f"part-{i}.parquet", index=False)
        return folder

    cases["text"] = (parquet("text", base.assign(f1="x")), [NOT_NUMBERS], False)
    # CSV: the scan's sample (the first 64 KiB) holds numbers only; the block holds the text
    big = pd.DataFrame({"f0": np.arange(20_000.0), "f1": np.arange(20_000.0)})
    (tmp_path / "late.csv").write_text(big.to_csv(index=False) + "1.5,x\n")
    cases["text in a block"] = (tmp_path / "late.csv", [NOT_NUMBERS], True)
    nan = base.assign(f1=np.where(np.arange(n) == 3, np.nan, base["f1"]))
    cases["nan"] = (parquet("nan", nan), [NAN], True)
    large = base.assign(f1=np.where(np.arange(n) == 3, 3e39, base["f1"]))
    cases["too large"] = (parquet("large", large), [TOO_LARGE], True)
    large.to_csv(tmp_path / "large.csv", index=False)  # parsed as float32: inf
    cases["maybe too large"] = (tmp_path / "large.csv", [NAN, MAYBE_TOO_LARGE], True)
    cases["drift: missing"] = (parquet("missing", base, base[["f0"]]), [DRIFT_MISSING], False)
    cases["drift: type"] = (parquet("type", base, base.assign(f1="x")), [DRIFT_TYPE], False)
    zarr = pytest.importorskip("zarr")

    def store(name, **arrays):
        group = zarr.open_group(str(tmp_path / name), mode="w")
        for key, values in arrays.items():
            group.create_array(key, data=values, chunks=(n,) + values.shape[1:])
        return tmp_path / name

    f0 = base["f0"].to_numpy()
    cases["zarr: nan"] = (store("nan.zarr", f0=f0, f1=nan["f1"].to_numpy()), [ZARR_NAN],
                          True)
    cases["zarr: 3-D"] = (store("cube.zarr", f0=f0, f1=rng.normal(size=(n, 2, 2))),
                          [ZARR_3D], False)
    cases["zarr: not numbers"] = (store("text.zarr", f0=f0, f1=np.array(["a"] * n)),
                                  [ZARR_NOT_NUMBERS], False)
    cases["zarr: complex"] = (store("complex.zarr", f0=f0, f1=f0 + 1j), [ZARR_COMPLEX], False)
    return cases


def _error_of(read) -> str:
    """The DataError's message of ``read()`` or of computing what it returns."""
    with pytest.raises(DataError) as info:
        dask.compute(read())
    return str(info.value)


def _read_for(purpose: str, data, blocksize="64MiB"):
    """Read features f0, f1 as gpuinc predict does (purpose PREDICT) or as training does."""
    from gpuinc.io import PREDICT, _read_features, _read_features_and_kept

    ds = scan(data)
    options = {"dtype": "float32", "blocksize": blocksize, "allow_nan": False,
               "purpose": purpose}
    if purpose == PREDICT and ds.fmt != "zarr":
        return _read_features_and_kept(ds, ["f0", "f1"], [], **options)[0]
    return _read_features(ds, ["f0", "f1"], **options)


#: zarr warns that NumPy's fixed-width text has no Zarr 3 specification (the text array case)
ZARR_TEXT_WARNING = "ignore:The data type .* does not have a Zarr V3 specification"


@pytest.mark.filterwarnings("error:overflow encountered:RuntimeWarning", ZARR_TEXT_WARNING)
def test_readers_word_their_fixes_for_the_purpose(tmp_path):
    # gpuinc predict regex-rewrote the readers' training advice afterwards: a message changed
    # in io.py silently lost its predict wording. The readers now word it themselves.
    from gpuinc.io import PREDICT, TRAIN

    for name, (data, fixes, in_block) in _purpose_cases(tmp_path).items():
        if in_block:  # found only when the block is read
            _read_for(PREDICT, data)
            read_features(data, ["f0", "f1"])
        trained = _error_of(lambda d=data: read_features(d, ["f0", "f1"]))
        assert trained.endswith(fixes[-1][0]), (name, trained)  # training's words: unchanged
        assert trained == _error_of(lambda d=data: _read_for(TRAIN, d)), name
        predicted = _error_of(lambda d=data: _read_for(PREDICT, d))
        assert predicted.endswith(fixes[-1][1]), (name, predicted)
        for train_fix, predict_fix in fixes:  # the rest of the message is the same
            assert train_fix in trained and predict_fix in predicted, name
            trained = trained.replace(train_fix, "")
            predicted = predicted.replace(predict_fix, "")
        assert predicted == trained, name
        for option in ("--exclude", "--features", "read_table", "dtype=", "allow_nan="):
            assert option not in predicted, (name, predicted)


@pytest.mark.filterwarnings("error:overflow encountered:RuntimeWarning", ZARR_TEXT_WARNING)
def test_block_errors_on_a_cluster_are_worded_for_the_purpose(tmp_path):
    # a block task runs on a worker: the purpose travels with it (on _Columns, or as an
    # argument of the Zarr task), not as a rewrite of the message it sends back
    import pickle

    from distributed import Client, LocalCluster

    from gpuinc.io import PREDICT, TRAIN, _Columns

    cols = _Columns(("f0",), None, (), "float32", False, purpose=PREDICT)
    assert pickle.loads(pickle.dumps(cols)) == cols
    with pytest.raises(ValueError, match="purpose must be 'train' or 'predict'"):
        _Columns(("f0",), None, (), "float32", False, purpose="score")
    cases = {name: case for name, case in _purpose_cases(tmp_path).items() if case[2]}
    assert len(cases) == 5
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        for name, (data, fixes, _) in cases.items():
            for purpose, fix in zip((TRAIN, PREDICT), fixes[-1], strict=True):
                X = _read_for(purpose, data)
                error = _error_of(lambda X=X: client.compute(X).result())
                assert error.endswith(fix), (name, purpose, error)


def test_zarr_without_zarr_installed_names_the_extra(tmp_path, monkeypatch):
    import sys

    store = tmp_path / "d.zarr"
    store.mkdir()
    monkeypatch.setitem(sys.modules, "zarr", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'gpuinc\[io\]'"):
        read_table(store, "label")


def test_a_kept_value_that_is_not_an_integer_is_shown_plainly(tmp_path):
    # the message showed "np.float64(1.5)"
    rows = 20_000  # beyond the rows the scan reads to type the column
    df = pd.DataFrame({"f0": np.arange(rows, dtype=float), "id": np.arange(rows).astype(object)})
    df.loc[15_000, "id"] = 1.5
    df.to_csv(tmp_path / "ids.csv", index=False)
    with pytest.raises(DataError, match=r"column 'id' holds 1\.5 where the first rows"):
        read_features(tmp_path / "ids.csv", ["f0"], keep=["id"]).compute()


def test_csv_id_columns_keep_the_text_of_pandas_missing_value_strings(tmp_path):
    # pandas reads NA, N/A, nan, None, null as missing: an --id column keeps their text, and
    # only an empty field is a missing id; features and the target keep pandas' reading
    from gpuinc.io import PREDICT, _read_features_and_kept

    ids = ["NA", "FR", "N/A", "nan", "None", "null", ""]
    (tmp_path / "ids.csv").write_text(
        "country,f0,f1,label\n"
        + "".join(f"{c},{i},{'NA' if i == 2 else i},{i % 2}\n" for i, c in enumerate(ids)))
    ds = scan(tmp_path / "ids.csv")
    options = {"dtype": "float64", "blocksize": "64MiB", "purpose": PREDICT}
    X, kept = _read_features_and_kept(ds, ["f0", "f1"], ["country"], allow_nan=True, **options)
    assert [None if pd.isna(v) else v for v in kept.compute()["country"]] == [*ids[:6], None]
    assert np.isnan(X.compute()["f1"].to_numpy()[2])  # a feature's NA is still missing
    with pytest.raises(DataError, match="'f1'"):
        _read_features_and_kept(ds, ["f0", "f1"], ["country"], allow_nan=False,
                                **options)[0].compute()
    # an id that is also a feature: the id keeps "NA", the feature reads it as missing
    X, kept = _read_features_and_kept(ds, ["f0", "f1"], ["f1"], allow_nan=True, **options)
    assert kept.compute()["f1"].tolist() == ["0", "1", "NA", "3", "4", "5", "6"]
    assert np.isnan(X.compute()["f1"].to_numpy()[2])
    # without ids (read_table): pandas' missing-value strings are missing values, as before
    X, _ = read_table(ds, "label", features=["f0", "f1"], allow_nan=True)
    assert np.isnan(X.compute()["f1"].to_numpy()[2])
    # blocks after the first (the header line prepended), rows ending with a delimiter
    (tmp_path / "big.csv").write_text("id,f0,\n" + "NA,1,\nnull,2,\n,3,\n" * 5000)
    _, kept = _read_features_and_kept(scan(tmp_path / "big.csv"), ["f0"], ["id"], allow_nan=False,
                                      dtype="float64", blocksize=1000, purpose=PREDICT)
    assert kept.npartitions > 1
    assert kept.compute()["id"].value_counts(dropna=False).to_dict() == {"NA": 5000,
                                                                        "null": 5000, pd.NA: 5000}


def test_zip_of_a_csv_file_with_its_folder_is_refused(tmp_path):
    # `zip -r d.csv.zip data/` puts the folder first: it passed as one file and was read
    # as the folder's entry, empty
    with zipfile.ZipFile(tmp_path / "d.csv.zip", "w") as archive:
        archive.writestr(zipfile.ZipInfo("data/"), "")
        archive.writestr("data/x.csv", make_frame(10).to_csv(index=False))
    with pytest.raises(DataError, match=r"d\.csv\.zip is a zip archive of the file data/x\.csv "
                                        r"and its folder.*zip -j"):
        read_table(tmp_path / "d.csv.zip", "label")


# --------------------------------------------------------------------------- review fixes
def test_csv_blocks_are_planned_from_the_shortest_rows(tmp_path):
    # long rows first, short rows after: planned from the first 64 KiB alone, a block
    # would hold many times blocksize of features
    from gpuinc import io

    path = tmp_path / "skew.csv"
    rng = np.random.default_rng(0)
    names = [f"f{j}" for j in range(20)]
    long_rows = "".join(",".join(f"{v:.15f}" for v in rng.normal(size=20)) + f",{i % 2}\n"
                        for i in range(300))
    short_rows = (",".join(["0"] * 20) + ",1\n") * 60_000
    path.write_text(",".join(names) + ",label\n" + long_rows + short_rows)
    ds = scan(path)
    rows = io._rows_per_block("256KiB", 20, "float32")
    data = path.read_bytes()
    pieces = io._csv_pieces(ds.files, rows)
    assert len(pieces) > 4
    most = max(data[off:off + length].count(b"\n") for _, off, length in pieces)
    assert most <= 1.2 * rows, (most, rows)
    X, y = read_table(path, "label", blocksize="256KiB")
    assert len(X) == 60_300 and X.npartitions == len(pieces)


def test_short_row_check_works_in_bounded_slices(monkeypatch):
    # quoted CSV whose last column has a missing value: the short-row check must not build
    # arrays the size of the block (several such arrays were several times the block)
    import tracemalloc

    from gpuinc import io

    monkeypatch.setattr(io, "_FIELD_CHUNK", 1 << 16, raising=False)
    row = b'"1","0.5","a,b","2"\n'
    data = b'"label","f0","name","f1"\n' + row * 60_000 + b'"1","0.5","x"\n' + row * 40_000
    lines = io._BlockLines(None, "x.csv", None, 0, None)
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match=r"expected 4 fields, as in the header, in line "
                                            r"60002 of the file, saw 3"):
            io._check_short_rows(data, "x.csv", lines, 100_001)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < len(data) // 2, (peak, len(data))


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_field_counts_by_slices_match_the_whole_count(monkeypatch, chunk):
    from gpuinc import io

    data = (b'a,b,c\n1,"x\ny",3\n\n  \n4,5\n"q""r",",",6\n7,8,9')
    monkeypatch.setattr(io, "_FIELD_CHUNK", 1 << 20, raising=False)
    whole = io._field_counts(data, spans=True)
    monkeypatch.setattr(io, "_FIELD_CHUNK", chunk, raising=False)
    sliced = io._field_counts(data, spans=True)
    for a, b in zip(whole, sliced, strict=True):
        np.testing.assert_array_equal(a, b)
    assert whole[0].tolist() == [3, 3, -1, -1, 2, 3, 3]
    stray = b'a,b\n5"3,1\n2\n'  # an odd number of quotes: every line is a record
    monkeypatch.setattr(io, "_FIELD_CHUNK", chunk, raising=False)
    assert io._field_counts(stray).tolist() == [2, 2, 1]


def test_csv_block_reads_whole_lines_after_the_header(tmp_path):
    from gpuinc import io

    path = tmp_path / "x.csv"
    make_frame(5000).to_csv(path, index=False)
    raw = path.read_bytes()
    header = raw[:raw.index(b"\n") + 1]
    import fsspec.utils

    with open(path, "rb") as fh:
        for offset, length in [(0, 1000), (1, 1000), (5000, 7000), (len(raw) - 10, 10),
                               (len(raw) - 10, 100)]:
            want = fsspec.utils.read_block(fh, offset, length, delimiter=b"\n")
            got = io._read_lines(fh, offset, length, header if offset else b"")
            assert bytes(got) == (header if offset else b"") + want
    X, y = read_table(path, "label", exclude=["id"], blocksize="16KiB")
    assert X.npartitions > 3
    np.testing.assert_allclose(X.compute().to_numpy(), make_frame(5000)[FEATURES].to_numpy(),
                               rtol=1e-6)


def test_binary_kept_column_or_target_is_refused_naming_it(tmp_path):
    import pyarrow as pa

    path = tmp_path / "uuid.parquet"
    pq.write_table(pa.table({"uid": pa.array([b"\xff" * 16, b"\x00" * 16], pa.binary(16)),
                             "tags": pa.array([[1], [2, 3]]),
                             "f0": [1.0, 2.0], "label": [0, 1]}), path)
    with pytest.raises(DataError, match=r"Column 'uid' in .*uuid.parquet holds bytes "
                                        r"\(fixed_size_binary\[16\]\).*leave it out of keep="):
        read_features(path, ["f0"], keep=["uid"])
    with pytest.raises(DataError, match=r"Column 'tags' .* holds nested values"):
        read_features(path, ["f0"], keep=["tags"])
    with pytest.raises(DataError, match=r"Target column 'uid' .* holds bytes"):
        read_table(path, "uid", ["f0"])
    with pytest.raises(DataError, match=r"Target column 'uid' .* holds bytes"):
        read_classes(path, "uid")


def test_kept_parquet_columns_keep_their_type(tmp_path):
    import datetime
    import decimal

    import pyarrow as pa

    path = tmp_path / "k.parquet"
    table = pa.table({
        "flag": pa.array([True, None, False, True], pa.bool_()),
        "ok": pa.array([True, False, False, True], pa.bool_()),
        "price": pa.array([decimal.Decimal("1.50"), None, decimal.Decimal("2.00"),
                           decimal.Decimal("-3.25")], pa.decimal128(6, 2)),
        "day": pa.array([datetime.date(2024, 1, 31), None, datetime.date(2024, 2, 1),
                         datetime.date(2023, 12, 1)]),
        "f0": [1.0, 2.0, 3.0, 4.0]})
    pq.write_table(table, path, row_group_size=2)
    got = read_features(path, ["f0"], keep=["flag", "ok", "price", "day"],
                        blocksize=1).compute()
    assert got["flag"].dtype == "boolean" and got["flag"].tolist()[::2] == [True, False]
    assert got["flag"].isna().tolist() == [False, True, False, False]
    assert got["ok"].dtype == bool and got["ok"].tolist() == [True, False, False, True]
    assert got["price"].tolist()[::2] == ["1.50", "2.00"] and got["price"].isna().iloc[1]
    assert got["day"].tolist()[::2] == ["2024-01-31", "2024-02-01"]


def test_a_list_of_folders_reads_their_files(tmp_path):
    for name, seed in (("a", 0), ("b", 1)):
        (tmp_path / name).mkdir()
        make_frame(10, seed=seed).to_parquet(tmp_path / name / "p.parquet")
    (tmp_path / "a" / "_SUCCESS").write_text("")
    ds = scan([tmp_path / "a", str(tmp_path / "b") + "/"])
    assert [f.path.rsplit("/", 2)[-2] for f in ds.files] == ["a", "b"] and ds.n_rows == 20
    X, y = read_table([tmp_path / "a", tmp_path / "b"], "label", exclude=["id"])
    assert len(X.compute()) == 20
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is an empty folder"):
        scan([tmp_path / "a", tmp_path / "empty"])


def test_a_file_listed_twice_is_refused(tmp_path):
    make_frame(10).to_parquet(tmp_path / "p.parquet")
    with pytest.raises(DataError, match=r"names '.*p.parquet' more than once .* list each "
                                        "file once"):
        scan([tmp_path / "p.parquet", tmp_path / "p.parquet"])
    with pytest.raises(DataError, match="more than once"):
        scan([tmp_path, tmp_path / "p.parquet"])


def test_a_tar_archive_or_binary_file_read_as_csv_is_refused_briefly(tmp_path):
    import tarfile

    inner = tmp_path / "x.csv"
    inner.write_text("a,label\n1,0\n2,1\n")
    archive = tmp_path / "x.csv.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(inner, arcname="x.csv")
    with pytest.raises(DataError, match=r"is a tar archive \(gzip-compressed\), not a CSV file; "
                                        r"extract it") as err:
        scan(archive, fmt="csv")
    assert len(str(err.value)) < 300
    blob = tmp_path / "blob.csv"
    blob.write_bytes(b"ab\x00" * 5000 + b"\n1,2\n")  # (a NUL second: UTF-16, below)
    with pytest.raises(DataError, match="holds NUL bytes") as err:
        scan(blob)
    assert len(str(err.value)) < 300


def test_a_long_column_name_is_quoted_briefly(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("x" * 5000 + ",label\nabc,1\ndef,0\n")
    with pytest.raises(DataError, match="is not numeric") as err:
        read_table(path, "label")
    assert len(str(err.value)) < 600


def test_last_csv_block_is_named_up_to_the_end_of_the_file(tmp_path):
    from gpuinc.io import block_sources

    path = tmp_path / "x.csv"
    make_frame(5000).to_csv(path, index=False)
    size = path.stat().st_size
    sources = block_sources(scan(path), 3, "float32", "16KiB")
    assert len(sources) > 2 and sources[-1].endswith(f"-{size})")


@pytest.mark.parametrize("kwargs, error, match", [
    ({"dtype": "float16"}, ValueError, r"dtype must be 'float32', 'float64' or None"),
    ({"blocksize": True}, TypeError, r"blocksize must be a whole number of bytes"),
    ({"blocksize": 1.5e6 + 0.5}, TypeError, r"blocksize must be a whole number of bytes"),
    ({"blocksize": "lots"}, ValueError, r"blocksize must be a number of bytes"),
    ({"allow_nan": "no"}, TypeError, r"allow_nan must be True or False, got 'no'"),
    ({"text_target": "yes"}, TypeError, r"text_target must be True or False"),
    ({"target": ["label"]}, TypeError, r"target must be one column name \(a str\)"),
])
def test_odd_arguments_are_refused_naming_them(csv_dir, kwargs, error, match):
    folder, _ = csv_dir
    kwargs = {"target": "label", **kwargs}
    with pytest.raises(error, match=match):
        read_table(folder, **kwargs)
    kwargs.pop("target")
    kwargs.pop("text_target", None)
    if kwargs:
        with pytest.raises(error, match=match):
            read_features(folder, FEATURES, **kwargs)


@pytest.mark.parametrize("blocksize", [1e5, np.float64(1e5), np.int64(100_000)])
def test_a_whole_number_blocksize_of_any_number_type_is_bytes(csv_dir, blocksize):
    folder, _ = csv_dir
    X, _ = read_table(folder, "label", blocksize=blocksize)
    assert X.npartitions == read_table(folder, "label", blocksize=100_000)[0].npartitions


def test_csv_block_is_read_without_a_copy_of_its_text(tmp_path):
    # the header and the block's lines are read into one buffer (not read, then copied
    # behind the header), and the text is freed before the block is converted
    import tracemalloc

    from gpuinc import io

    path = tmp_path / "x.csv"
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(60_000, 10)).round(6), columns=[f"f{j}" for j in range(10)])
    df["label"] = 1
    df.to_csv(path, index=False)
    ds = scan(path)
    info = ds.files[0]
    cols = io._Columns(tuple(f"f{j}" for j in range(10)), "label", (), "float32", False)
    piece = (info.path, info.shown, info.header, 1000, info.size - 1000, None)
    features = 60_000 * 10 * 4
    tracemalloc.start()
    try:
        block = io._read_csv_block(piece, ds.fs, cols)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(block) > 59_000 and block.dtypes.iloc[0] == np.float32
    assert peak < info.size + 2 * features, (peak, info.size, features)


@pytest.mark.parametrize("missing_at", [3, 90_000])
def test_kept_csv_booleans_stay_booleans_in_every_block(tmp_path, missing_at):
    # a missing value in the scan's sample (at 3: the sample saw Python objects, and the
    # first blocks came out as text) or past it, in a later block
    n = 100_000
    flag = np.array(["True", "False"] * (n // 2), dtype=object)
    flag[missing_at] = ""
    path = tmp_path / "b.csv"
    pd.DataFrame({"a": np.arange(n, dtype=float), "flag": flag}).to_csv(path, index=False)
    frame = read_features(path, ["a"], keep=["flag"], blocksize=20_000)
    kinds = {str(frame.partitions[i].compute()["flag"].dtype) for i in range(frame.npartitions)}
    assert kinds == {"bool", "boolean"}
    flag[95_000] = "maybe"
    pd.DataFrame({"a": np.arange(n, dtype=float), "flag": flag}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'flag' holds 'maybe' where the first rows of "
                                        r"the data hold booleans"):
        read_features(path, ["a"], keep=["flag"], blocksize=20_000).compute()


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                                      "utf-32-be"])
def test_utf16_csv_is_named_as_such(tmp_path, encoding):
    # (its NUL bytes made it "binary data, not a CSV file")
    path = tmp_path / "wide.csv"
    pd.DataFrame({"a": [1.0, 2.0], "label": [0, 1]}).to_csv(path, index=False,
                                                            encoding=encoding)
    with pytest.raises(DataError, match=r"UTF-16 \(or UTF-32\) encoded text; save it as UTF-8"):
        read_table(path, "label")
