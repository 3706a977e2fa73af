"""``gpuinc train`` / ``gpuinc predict`` end to end on generated Parquet and CSV folders."""

from __future__ import annotations

import gzip
import os
import pickle
import re
import stat
import warnings

import fsspec
import fsspec.implementations.memory
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from arrays import parquet_parts, swallows_interrupts
from sklearn.linear_model import SGDClassifier

from gpuinc import Incremental
from gpuinc._cli_data import build_estimator, load_model, save_model
from gpuinc.cli import main

FEATURES = ["f0", "f1", "f2", "f3"]
N_FILES, ROWS = 6, 50
#: the start of a model file an earlier `gpuinc train` wrote (which train replaces)
PREVIOUS_MODEL = pickle.dumps({"format": "gpuinc-model", "version": 1, "model": "previous"})


def frame(n, start=0, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    df["label"] = (df["f0"] - df["f1"] > 0).astype("int64")
    df["value"] = 2.0 * df["f0"] + df["f2"]
    df["id"] = np.arange(start, start + n)
    return df


@pytest.fixture
def data(tmp_path):
    return parquet_parts(tmp_path / "train",
                         [frame(ROWS, start=i * ROWS, seed=i) for i in range(N_FILES)])


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def train_args(folder, model, *extra):
    return ("train", folder, "--target", "label", "--exclude", "id", "value", "--workers", "0",
            "--blocksize", "None", "--out", model, *extra)


def test_train_then_predict_parquet(tmp_path, data, capsys):
    folder, expected = data
    model = tmp_path / "out" / "model.pkl"
    rc, out, err = run(capsys, *train_args(folder, model, "--epochs", "2", "--validation", "0.34",
                                           "--random-state", "1"))
    assert rc == 0, err
    assert "data: " in out and f"{N_FILES} blocks" in out
    assert "classes: [0, 1]" in out
    for p in (1, 2):
        assert re.search(rf"pass {p}/2: val_score=[01]\.\d{{5}} \(4 blocks", out), out
    assert f"model saved to {model}" in out
    payload = load_model(model)
    assert payload["features"] == FEATURES and payload["target"] == "label"
    assert payload["dtype"] == "float32" and payload["classes"].tolist() == [0, 1]
    inc = payload["model"]
    assert isinstance(inc, Incremental) and len(inc.history_) == 2
    assert [p.name for p in model.parent.iterdir()] == ["model.pkl"]  # no temporary left

    preds = tmp_path / "preds.parquet"
    rc, out, err = run(capsys, "predict", model, folder, "--out", preds, "--id", "id", "--proba",
                       "--workers", "0")
    assert rc == 0, err
    got = pd.read_parquet(preds)
    assert list(got.columns) == ["id", "prediction", "proba_0", "proba_1"]
    assert got["id"].tolist() == expected["id"].tolist()  # one row per input row, in order
    want = inc.predict(expected[FEATURES].astype("float32"))
    np.testing.assert_array_equal(got["prediction"].to_numpy(), np.asarray(want))
    np.testing.assert_allclose(got[["proba_0", "proba_1"]].sum(axis=1), 1.0, rtol=1e-5)


def test_predict_to_csv_and_overwrite(tmp_path, data, capsys):
    folder, expected = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model, "--model", "sklearn-sgd-classifier"))[0] == 0
    preds = tmp_path / "preds.csv"
    rc, _, err = run(capsys, "predict", model, folder, "--out", preds, "--workers", "0")
    assert rc == 0, err
    got = pd.read_csv(preds)
    assert list(got.columns) == ["prediction"] and len(got) == len(expected)
    rc, _, err = run(capsys, "predict", model, folder, "--out", preds, "--workers", "0")
    assert rc == 2 and "exists; pass --overwrite" in err
    rc, _, err = run(capsys, "predict", model, folder, "--out", preds, "--workers", "0",
                     "--overwrite")
    assert rc == 0, err


def test_overwrite_replaces_only_an_earlier_prediction_output(tmp_path, data, capsys,
                                                              monkeypatch):
    # --overwrite moved aside and deleted whatever --out named: the input data, the model,
    # a folder of other files, the working folder
    folder, expected = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    (tmp_path / "notes.txt").write_text("keep me")
    before = sorted(p.name for p in tmp_path.iterdir())
    parts = sorted(p.name for p in folder.iterdir())
    predict = ("predict", model, folder, "--workers", "0", "--overwrite", "--out")
    for out, says in [(folder, "holds the data"), (folder / parts[0], "is the data"),
                      (tmp_path, "holds the model")]:
        rc, _, err = run(capsys, *predict, out)
        assert rc == 2 and says in err and "--overwrite replaces only" in err, err
    odd = tmp_path / "model.csv"  # a model file named like an output
    odd.write_bytes(model.read_bytes())
    rc, _, err = run(capsys, "predict", odd, folder, "--workers", "0", "--overwrite", "--out", odd)
    assert rc == 2 and "is the model" in err, err
    odd.unlink()
    monkeypatch.chdir(tmp_path / "train")
    rc, _, err = run(capsys, *predict, ".")
    assert rc == 2 and "holds the data" in err
    other = tmp_path / "results"
    other.mkdir()
    (other / "summary.txt").write_text("keep me too")
    rc, _, err = run(capsys, *predict, other)
    assert rc == 2 and "holds more than an earlier prediction output (e.g. summary.txt)" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "results"])
    assert sorted(p.name for p in folder.iterdir()) == parts
    assert (other / "summary.txt").read_text() == "keep me too"
    # an earlier output is replaced, as before
    preds = tmp_path / "preds.parquet"
    assert run(capsys, "predict", model, folder, "--workers", "0", "--out", preds)[0] == 0
    rc, _, err = run(capsys, *predict, preds)
    assert rc == 0, err
    assert len(pd.read_parquet(preds)) == len(expected)


def test_zarr_features_less_exclude_are_the_model_features(tmp_path, capsys):
    # the model was trained on --features less --exclude but saved --features: predict
    # then failed with "X has 3 features, but SGDClassifier is expecting 2"
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(0)
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    for name in ("f0", "f1", "f2"):
        group.create_array(name, shape=(200,), chunks=(50,), dtype="float64")[:] = \
            rng.normal(size=200)
    group.create_array("label", shape=(200,), chunks=(50,), dtype="int64")[:] = \
        group["f0"][:] > 0
    model = tmp_path / "z.pkl"
    rc, _, err = run(capsys, "train", tmp_path / "d.zarr", "--target", "label", "--features",
                     "f0", "f1", "f2", "--exclude", "f2", "--workers", "0", "--validation", "0",
                     "--out", model)
    assert rc == 0, err
    rc, _, err = run(capsys, "predict", model, tmp_path / "d.zarr", "--out", tmp_path / "p.csv",
                     "--workers", "0")
    assert rc == 0, err
    assert len(pd.read_csv(tmp_path / "p.csv")) == 200


def test_zarr_rows_are_those_of_the_arrays_read(tmp_path, capsys):
    # a short array the run does not read decided the row count ("2 rows")
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(0)
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    group.create_array("f0", shape=(200,), chunks=(50,), dtype="float64")[:] = \
        rng.normal(size=200)
    group.create_array("label", shape=(200,), chunks=(50,), dtype="int64")[:] = \
        group["f0"][:] > 0
    group.create_array("classes", shape=(2,), chunks=(2,), dtype="int64")[:] = [0, 1]
    rc, out, err = run(capsys, "train", tmp_path / "d.zarr", "--target", "label", "--features",
                       "f0", "--workers", "0", "--validation", "0", "--out", tmp_path / "m.pkl")
    assert rc == 0, err
    assert "Zarr store, 200 rows)" in out, out


def test_train_out_url_without_its_package_fails_before_training(tmp_path, data, capsys):
    pytest.importorskip("fsspec")
    if __import__("importlib").util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed")
    folder, _ = data
    rc, out, err = run(capsys, *train_args(folder, "gs://bucket/m.pkl"))
    assert rc == 2 and "cannot write gs://bucket/m.pkl" in err and "gcsfs" in err, err
    assert "pass 1" not in out


def test_train_out_onto_the_data_is_refused_before_training(tmp_path, data, capsys):
    folder, _ = data
    one = sorted(folder.glob("*.parquet"))[0]
    before = one.read_bytes()
    for data_arg in (one, folder):  # the file itself, and a folder that holds it
        rc, stdout, err = run(capsys, *train_args(data_arg, one))
        assert rc == 2 and f"--out {one} is the data" in err, err
        assert "saving the model there would replace the data" in err and "pass 1" not in stdout
    assert one.read_bytes() == before
    csv = tmp_path / "train.csv"
    pd.read_parquet(one).to_csv(csv, index=False)
    text = csv.read_text()
    rc, _, err = run(capsys, *train_args(csv, csv))
    assert rc == 2 and f"--out {csv} is the data" in err, err
    assert csv.read_text() == text


def test_train_regressor_on_csv(tmp_path, capsys):
    folder = tmp_path / "csv"
    folder.mkdir()
    for i in range(4):
        frame(ROWS, seed=i).to_csv(folder / f"part-{i}.csv", index=False)
    model = tmp_path / "reg.pkl"
    rc, out, err = run(capsys, "train", folder, "--target", "value", "--features", "f0,f1", "f2",
                       "--model", "sklearn-sgd-regressor", "--param", "eta0=0.05", "--epochs", "3",
                       "--validation", "0.25", "--blocksize", "None", "--workers", "0",
                       "--out", model)
    assert rc == 0, err
    assert "classes:" not in out
    scores = [float(line.split("val_score=")[1].split()[0])
              for line in out.splitlines() if line.startswith("pass ")]
    assert len(scores) == 3 and scores[-1] > 0.9  # value = 2 f0 + f2 is learnable
    payload = load_model(model)
    assert payload["features"] == ["f0", "f1", "f2"]
    assert payload["model"].estimator_.eta0 == 0.05


def test_train_on_a_cluster(tmp_path, data, capsys, monkeypatch):
    from distributed import LocalCluster

    import gpuinc.cluster

    def in_process_cluster(kind, n_workers=None, **kw):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                            dashboard_address=":0")

    monkeypatch.setattr(gpuinc.cluster, "make_cluster", in_process_cluster)
    folder, _ = data
    model = tmp_path / "m.pkl"
    args = list(train_args(folder, model, "--epochs", "2"))
    args[args.index("--workers") + 1] = "2"
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    assert "device cpu" in out and "pass 2/2" in out
    assert load_model(model)["model"].history_[-1]["blocks"] == N_FILES - 1


def test_train_then_predict_zarr(tmp_path, capsys):
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(0)
    Xv = rng.normal(size=(200, 3))
    group = zarr.open_group(str(tmp_path / "d.zarr"), mode="w")
    group.create_array("X", shape=Xv.shape, chunks=(50, 3), dtype="float64")[:] = Xv
    group.create_array("label", shape=(200,), chunks=(50,), dtype="int64")[:] = Xv[:, 0] > 0
    model = tmp_path / "z.pkl"
    rc, out, err = run(capsys, "train", tmp_path / "d.zarr", "--target", "label", "--workers", "0",
                       "--blocksize", "600", "--out", model)
    assert rc == 0, err
    assert "in 4 blocks; 3 feature columns" in out
    rc, _, err = run(capsys, "predict", model, tmp_path / "d.zarr", "--out", tmp_path / "p.csv",
                     "--proba", "--workers", "0")
    assert rc == 0, err
    got = pd.read_csv(tmp_path / "p.csv")
    assert list(got.columns) == ["prediction", "proba_0", "proba_1"] and len(got) == 200
    assert (got["prediction"] == (Xv[:, 0] > 0)).mean() > 0.9


def test_predict_id_that_is_a_model_feature_comes_through_unchanged(tmp_path, capsys):
    folder = tmp_path / "train"
    folder.mkdir()
    df = frame(ROWS).assign(id=np.arange(ROWS) + 2**24 + 1)  # not exact in float32
    for fmt in ("parquet", "csv"):
        data = folder / f"data.{fmt}"
        if fmt == "parquet":
            df.to_parquet(data, index=False)
        else:
            df.to_csv(data, index=False)
        model = tmp_path / f"{fmt}.pkl"
        rc, _, err = run(capsys, "train", data, "--target", "label", "--exclude", "value",
                         "--workers", "0", "--validation", "0", "--out", model)
        assert rc == 0, err
        inc = load_model(model)["model"]
        assert load_model(model)["features"] == [*FEATURES, "id"]
        preds = tmp_path / f"preds-{fmt}.parquet"
        rc, _, err = run(capsys, "predict", model, data, "--id", "id", "--workers", "0",
                         "--out", preds)
        assert rc == 0, err
        got = pd.read_parquet(preds)
        if fmt == "parquet":
            # integer ids come out as pandas' nullable Int64 (exact, also with missing values)
            assert got["id"].dtype == "Int64" and got["id"].tolist() == df["id"].tolist()
        else:  # CSV ids come out as the text of their fields
            assert got["id"].tolist() == df["id"].astype(str).tolist()
        want = inc.predict(df[[*FEATURES, "id"]].astype("float32"))  # as in training
        np.testing.assert_array_equal(got["prediction"].to_numpy(), np.asarray(want))


@pytest.mark.parametrize(("dtype", "why"), [("int32", "truncate"), ("foo", "not a supported"),
                                           ("None", "not a supported"),
                                           ("float16", "not a supported")])
def test_bad_dtype_is_a_usage_error(tmp_path, data, capsys, dtype, why):
    folder, _ = data
    model = tmp_path / "m.pkl"
    rc, out, err = run(capsys, *train_args(folder, model, "--dtype", dtype))
    assert rc == 2 and err.startswith(f"gpuinc: error: --dtype {dtype}: ") and err.count("\n") == 1
    assert why in err and "--dtype float32 or --dtype float64" in err
    assert "dtype=None" not in err and "Traceback" not in err and out == ""  # up front
    assert not model.exists()


def test_dtype_spellings_are_saved_by_name(tmp_path, data, capsys):
    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model, "--dtype", "f8"))[0] == 0
    assert load_model(model)["dtype"] == "float64"


# --------------------------------------------------------------------------- bad data
def _missing_target(folder):
    return ("price", r"Target column 'price' is not in .*part-0\.parquet; available columns: 'f0'")


def _text_feature(folder):
    frame(ROWS, seed=9).assign(f3="x").to_parquet(folder / "part-3.parquet", index=False)
    return ("label", r"Schema drift: column 'f3' is double in .*part-0\.parquet but "
                     r"(large_)?string in .*part-3\.parquet")


def _text_feature_everywhere(folder):
    for p in folder.iterdir():
        pd.read_parquet(p).assign(f3="x").to_parquet(p, index=False)
    return ("label", r"Feature column 'f3' in .*part-0\.parquet is not numeric: (large_)?string\. "
                     r"Leave it out .*--exclude")


def _empty_file(folder):
    (folder / "part-2.parquet").write_bytes(b"")
    return ("label", r"part-2\.parquet is empty \(0 bytes\)")


def _corrupt_file(folder):
    (folder / "part-4.parquet").write_bytes(b"garbage" * 50)
    return ("label", r"part-4\.parquet is not a readable Parquet file")


def _corrupt_page(folder):
    path = folder / "part-4.parquet"
    offset = pq.ParquetFile(path).metadata.row_group(0).column(0).data_page_offset
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(b"\xff" * 16)
    return ("label", r"part-4\.parquet \(row group 0\) could not be read")


def _schema_drift(folder):
    frame(ROWS, seed=8).drop(columns="f2").to_parquet(folder / "part-5.parquet", index=False)
    return ("label", r"Schema drift: .*part-5\.parquet has no column\(s\) 'f2'")


@pytest.mark.parametrize("make_bad", [_missing_target, _text_feature, _text_feature_everywhere,
                                      _empty_file, _corrupt_file, _corrupt_page, _schema_drift])
def test_bad_data_is_one_line_and_writes_no_model(tmp_path, data, capsys, make_bad):
    folder, _ = data
    target, pattern = make_bad(folder)
    model = tmp_path / "model.pkl"
    model.write_bytes(PREVIOUS_MODEL)
    rc, out, err = run(capsys, "train", folder, "--target", target, "--exclude", "id", "value",
                       "--workers", "0", "--blocksize", "None", "--epochs", "2", "--out", model)
    assert rc == 2
    assert err.startswith("gpuinc: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert re.search(pattern, err), err
    assert model.read_bytes() == PREVIOUS_MODEL  # untouched: nothing written on failure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl", "train"]


def test_usage_errors(tmp_path, data, capsys):
    folder, _ = data
    model = tmp_path / "m.pkl"
    rc, _, err = run(capsys, *train_args(folder, model, "--param", "bogus=1"))
    assert rc == 2 and "--param bogus" in err and "valid ones" in err
    rc, _, err = run(capsys, *train_args(folder, model, "--epochs", "0"))
    assert rc == 2 and "--epochs must be >= 1" in err
    args = list(train_args(folder, model))
    args[args.index("--blocksize") + 1] = "64MiB"  # everything in one block
    rc, _, err = run(capsys, *args, "--validation", "0.1")  # asked for: refused
    assert rc == 2 and "--blocksize" in err and "--validation 0" in err
    assert not model.exists()
    not_a_model = tmp_path / "x.pkl"
    not_a_model.write_bytes(pickle.dumps({"hello": 1}))
    rc, _, err = run(capsys, "predict", not_a_model, folder, "--out", tmp_path / "p.parquet")
    assert rc == 2 and "was not written by `gpuinc train`" in err
    rc, _, err = run(capsys, "predict", tmp_path / "none.pkl", folder, "--out", tmp_path / "p.csv")
    assert rc == 2 and "does not exist" in err


def test_save_model_is_atomic(tmp_path):
    target = tmp_path / "model.pkl"
    target.write_bytes(b"old")
    with pytest.raises((pickle.PicklingError, TypeError, AttributeError)):
        save_model({"bad": lambda: None}, target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pkl"]
    save_model({"format": "gpuinc-model", "version": 1, "x": 1}, target)
    assert load_model(target)["x"] == 1


def test_build_estimator_names():
    assert type(build_estimator("sgd-classifier", 0)).__module__.startswith("gpuinc.linear_model")
    assert build_estimator("perceptron", 3).random_state == 3
    with pytest.raises(ValueError, match="unknown model"):
        build_estimator("random-forest")


def test_a_worker_error_is_one_line_on_a_real_cluster(tmp_path, data, capfd):
    # the error happens inside a worker process (a page of a file is corrupt); its
    # "Compute Failed" log and traceback must not reach the terminal
    folder, _ = data
    target, pattern = _corrupt_page(folder)
    model = tmp_path / "model.pkl"
    rc = main([str(a) for a in ("train", folder, "--target", target, "--exclude", "id", "value",
                                "--workers", "1", "--device", "cpu", "--blocksize", "None",
                                "--out", model)])
    out, err = capfd.readouterr()
    assert rc == 2
    lines = [line for line in err.splitlines() if not line.startswith("gpuinc: started")
             and not line.startswith("gpuinc: no GPU cluster")]
    assert len(lines) == 1 and lines[0].startswith("gpuinc: error: "), err
    assert re.search(pattern, lines[0]), err
    assert "Traceback" not in err and "Compute Failed" not in err
    assert not model.exists()


# --------------------------------------------------------------------------- outputs
def _with_nan_block(folder):
    """Make the last file of ``folder`` hold a NaN feature: predict fails at that block."""
    last = sorted(folder.iterdir())[-1]
    pd.read_parquet(last).assign(f1=np.nan).to_parquet(last, index=False)


@pytest.mark.parametrize("name", ["preds.csv", "preds.parquet"])
def test_a_failed_predict_leaves_nothing_behind_even_with_slow_writes(tmp_path, data, capsys,
                                                                      monkeypatch, name):
    # Dask raised the first block's error while other block writes still ran; one that
    # wrote after the clean-up left a temporary output behind
    import time

    import dask.dataframe.io.csv as dask_csv
    import dask.dataframe.io.parquet.core as dask_parquet

    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    _with_nan_block(folder)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    slow_csv, slow_parquet = dask_csv._write_csv, dask_parquet.ToParquetFunctionWrapper.__call__

    def csv_later(*args, **kwargs):
        time.sleep(0.2)
        return slow_csv(*args, **kwargs)

    def parquet_later(self, *args, **kwargs):
        time.sleep(0.2)
        return slow_parquet(self, *args, **kwargs)

    monkeypatch.setattr(dask_csv, "_write_csv", csv_later)
    monkeypatch.setattr(dask_parquet.ToParquetFunctionWrapper, "__call__", parquet_later)
    rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--blocksize", "None",
                     "--out", out_dir / name)
    assert rc == 2 and "missing (NaN)" in err, err
    time.sleep(0.5)  # a write still running would land now
    assert list(out_dir.iterdir()) == []


def test_file_urls_are_local_paths(tmp_path, data, capsys, monkeypatch):
    folder, expected = data
    monkeypatch.chdir(tmp_path)
    url = (tmp_path / "m.pkl").as_uri()
    rc, out, err = run(capsys, *train_args(folder, url))
    assert rc == 0, err
    assert load_model(tmp_path / "m.pkl")["target"] == "label"
    for name in ("p.parquet", "p.csv"):
        rc, _, err = run(capsys, "predict", url, folder, "--workers", "0",
                         "--out", (tmp_path / name).as_uri())
        assert rc == 0, err
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == len(pd.read_csv(tmp_path / "p.csv"))
    rc, _, err = run(capsys, "predict", url, folder, "--workers", "0",
                     "--out", (tmp_path / "p.csv").as_uri())
    assert rc == 2 and "exists; pass --overwrite" in err
    assert not any(p.name.startswith("file:") for p in tmp_path.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pkl", "p.csv", "p.parquet", "train"]


@pytest.fixture
def memory_fs():
    fs = fsspec.filesystem("memory")
    root = f"/gpuinc-test-{os.getpid()}"
    yield fs, root
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_a_missing_model_url_is_named(tmp_path, data, capsys, memory_fs):
    _, root = memory_fs
    folder, _ = data
    url = f"memory://{root}/none.pkl"
    rc, _, err = run(capsys, "predict", url, folder, "--workers", "0", "--out",
                     tmp_path / "p.csv")
    assert rc == 2 and f"model file {url} does not exist" in err, err


def test_predict_to_a_url_refuses_an_existing_output_and_keeps_it_on_failure(
        tmp_path, data, capsys, memory_fs):
    fs, root = memory_fs
    folder, expected = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    fs.pipe(f"{root}/p.parquet/part.0.parquet", b"old parquet")
    fs.pipe(f"{root}/p.csv", b"old csv")
    before = sorted(fs.find(root, withdirs=True))
    for name in ("p.parquet", "p.csv"):
        out = f"memory://{root}/{name}"
        rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--out", out)
        assert rc == 2 and f"{out} exists; pass --overwrite" in err
    _with_nan_block(folder)
    for name in ("p.parquet", "p.csv", "new/sub/p.csv"):
        rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--overwrite",
                         "--out", f"memory://{root}/{name}")
        assert rc == 2 and "missing (NaN)" in err
    # the old outputs are intact; no temporary output, no folder made for the failed one
    assert sorted(fs.find(root, withdirs=True)) == before
    assert fs.cat(f"{root}/p.parquet/part.0.parquet") == b"old parquet"
    assert fs.cat(f"{root}/p.csv") == b"old csv"


def test_predict_to_a_url_replaces_with_overwrite(tmp_path, data, capsys, memory_fs):
    fs, root = memory_fs
    folder, expected = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    fs.pipe(f"{root}/p.parquet/part.7.parquet", b"old parquet")  # a longer earlier output
    rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--overwrite",
                     "--out", f"memory://{root}/p.parquet")
    assert rc == 0, err
    assert not fs.exists(f"{root}/p.parquet/part.7.parquet")
    assert fs.ls(root, detail=False) == [f"{root}/p.parquet"]  # no temporary left
    assert len(pd.read_parquet(f"memory://{root}/p.parquet")) == len(expected)


def test_out_below_a_file_is_refused_before_any_work(tmp_path, data, capsys):
    folder, _ = data
    blocker = tmp_path / "m.pkl"
    blocker.write_bytes(b"a file")
    rc, out, err = run(capsys, *train_args(folder, blocker / "model.pkl"))
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert f"{blocker} is a file, not a folder; choose another --out" in err
    model = tmp_path / "real.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    rc, out, err = run(capsys, "predict", model, folder, "--workers", "0",
                       "--out", blocker / "sub" / "p.parquet")
    assert rc == 2 and out == "" and "is a file, not a folder" in err
    assert blocker.read_bytes() == b"a file"


def test_predict_out_suffixes(tmp_path, data, capsys):
    folder, expected = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--id", "id",
                     "--out", tmp_path / "p.csv.gz")
    assert rc == 0, err
    with gzip.open(tmp_path / "p.csv.gz") as fh:  # a gzip file, not a folder
        got = pd.read_csv(fh)
    assert got["id"].tolist() == expected["id"].tolist()
    rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--out", tmp_path / "p")
    assert rc == 0, err
    assert len(pd.read_parquet(tmp_path / "p")) == len(expected)  # no suffix: a Parquet folder
    for name in ("p.json", "p.txt", "p.parquet.gz"):
        rc, out, err = run(capsys, "predict", model, folder, "--workers", "0",
                           "--out", tmp_path / name)
        assert rc == 2 and out == "" and "unknown output type" in err, err
        assert "preds.parquet" in err and "preds.csv.gz" in err
        assert not (tmp_path / name).exists()


def test_model_file_mode_follows_the_umask_and_is_kept_on_replace(tmp_path):
    payload = {"format": "gpuinc-model", "version": 1}
    old_umask = os.umask(0o027)
    try:
        save_model(payload, tmp_path / "new.pkl")
        kept = tmp_path / "kept.pkl"
        kept.write_bytes(b"old")
        kept.chmod(0o604)
        save_model(payload, kept)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "new.pkl").stat().st_mode) == 0o640
    assert stat.S_IMODE(kept.stat().st_mode) == 0o604 and load_model(kept)["version"] == 1


def test_a_failed_predict_removes_the_folders_it_created(tmp_path, data, capsys):
    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    _with_nan_block(folder)
    for name in ("p.parquet", "p.csv"):
        rc, _, err = run(capsys, "predict", model, folder, "--workers", "0",
                         "--out", tmp_path / "new" / "sub" / name)
        assert rc == 2 and "missing (NaN)" in err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pkl", "train"]



@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("epochs, call", [("3", 2), ("1", N_FILES)])
def test_ctrl_c_stops_training_even_if_the_estimator_catches_it(tmp_path, data, capsys,
                                                               monkeypatch, epochs, call,
                                                               signame):
    """In the middle of the fit it stops after the block; in its last block, no model
    either; SIGTERM alike, with its own exit status."""
    import signal

    import gpuinc._cli_data as cli_data

    folder, _ = data
    model = tmp_path / "model.pkl"
    model.write_bytes(PREVIOUS_MODEL)
    calls = []
    monkeypatch.setattr(cli_data, "build_estimator", lambda *a, **k: swallows_interrupts(
        call, calls, getattr(signal, signame)))
    rc, out, err = run(capsys, *train_args(folder, model, "--epochs", epochs, "--validation", "0"))
    want = (130, "interrupted") if signame == "SIGINT" else (143, "terminated")
    assert rc == want[0] and want[1] in err, err
    assert len(calls) == call  # stopped after the block in progress, not after all passes
    assert model.read_bytes() == PREVIOUS_MODEL  # nothing written
    from gpuinc._chain import STOP_REQUESTED

    assert not STOP_REQUESTED.is_set()


class _TokenFileSystem(fsspec.implementations.memory.MemoryFileSystem):
    """An in-memory filesystem that, like a cloud store, refuses callers without a token."""

    protocol = "gpuinc-token"
    store: dict = {}
    pseudo_dirs = [""]

    def __init__(self, *args, token=None, **kwargs):
        if token != "s3cret":
            raise PermissionError(f"gpuinc-token:// refused token {token!r}")
        super().__init__(*args, **kwargs)

    @classmethod
    def _strip_protocol(cls, path):
        path = path.removeprefix("gpuinc-token://")
        return super()._strip_protocol(path)


def test_storage_options_reach_the_model_and_the_output_urls(tmp_path, data, capsys):
    fsspec.register_implementation("gpuinc-token", _TokenFileSystem, clobber=True)
    folder, expected = data
    model, out = "gpuinc-token://models/m.pkl", "gpuinc-token://preds/p.csv"
    token = ("--storage-option", "token=s3cret")
    # without the option the store refuses the model, and no model is written
    rc, _, err = run(capsys, *train_args(folder, model))
    assert rc == 2 and "refused token None" in err
    assert run(capsys, *train_args(folder, model, *token))[0] == 0
    rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--out", out)
    assert rc == 2 and "refused token None" in err
    rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--out", out, *token)
    assert rc == 0, err
    fs = fsspec.filesystem("gpuinc-token", token="s3cret")
    assert load_model(model, {"token": "s3cret"})["target"] == "label"
    with fs.open("/preds/p.csv") as fh:
        assert len(pd.read_csv(fh)) == len(expected)
    fs.rm("/models", recursive=True)
    fs.rm("/preds", recursive=True)


def test_predict_parquet_rows_in_input_order_for_any_reader(tmp_path, capsys):
    # 12 blocks: readers that order files by name read part.10 before part.2
    folder = tmp_path / "many"
    folder.mkdir()
    parts = [frame(20, start=i * 20, seed=i) for i in range(12)]
    for i, df in enumerate(parts):
        df.to_parquet(folder / f"part-{i:02d}.parquet", index=False)
    expected = pd.concat(parts, ignore_index=True)
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model, "--validation", "0"))[0] == 0
    preds = tmp_path / "preds.parquet"
    rc, _, err = run(capsys, "predict", model, folder, "--out", preds, "--id", "id",
                     "--workers", "0", "--blocksize", "None")
    assert rc == 0, err
    names = sorted(p.name for p in preds.iterdir() if p.suffix == ".parquet")
    assert len(names) == 12 and names[0] == "part.00.parquet"
    for got in (pd.read_parquet(preds), pq.read_table(preds).to_pandas()):
        assert got["id"].tolist() == expected["id"].tolist()


@pytest.mark.parametrize(("ids", "why"), [
    (["id", "id"], "more than once"),
    (["id", "prediction"], "replace them"),
    (["proba_1"], "replace them"),
])
def test_predict_id_columns_that_clash_are_refused_before_any_work(tmp_path, data, capsys,
                                                                    ids, why):
    folder, _ = data
    df = frame(ROWS).assign(prediction=1.0, proba_1=0.5)
    data_file = tmp_path / "clash.parquet"
    df.to_parquet(data_file, index=False)
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model, "--validation", "0"))[0] == 0
    preds = tmp_path / "preds.parquet"
    rc, _, err = run(capsys, "predict", model, data_file, "--out", preds, "--proba",
                     "--workers", "0", "--id", *ids)
    assert rc == 2 and why in err and err.count("\n") == 1, err
    assert not preds.exists()


def test_train_on_data_of_one_block(tmp_path, capsys):
    # a small CSV is one block whatever --blocksize says: the default trains without
    # validation (and says so); an explicit --validation gets advice that can work
    data = tmp_path / "small.csv"
    frame(ROWS).to_csv(data, index=False)
    model = tmp_path / "m.pkl"
    base = ("train", data, "--target", "label", "--exclude", "id", "value", "--workers", "0",
            "--out", model)
    rc, out, err = run(capsys, *base)
    assert rc == 0, err
    assert "the data makes 1 block, so none is held out for validation" in out
    assert load_model(model)["model"].history_[-1].get("val_score") is None
    model.unlink()
    rc, out, err = run(capsys, *base, "--validation", "0.2", "--blocksize", "1KiB")
    assert rc == 2 and "one CSV file of 64 KiB or less" in err and "--validation 0" in err, err
    assert not model.exists()


def test_one_block_of_parquet_files_gets_a_blocksize_that_splits_it(tmp_path, data, capsys):
    folder, _ = data  # 6 files of 50 rows: 4 float features of 8 bytes = 9.4 KiB
    model = tmp_path / "m.pkl"
    rc, out, err = run(capsys, "train", folder, "--target", "label", "--exclude", "id", "value",
                       "--workers", "0", "--dtype", "float64", "--out", model)
    assert rc == 0, err
    assert "its features take about 9.4 KiB, so --blocksize 2KiB may make up to 4 blocks; or " \
        "--blocksize none makes one block per file (6 files)" in out, out
    model.unlink()
    rc, out, err = run(capsys, "train", folder, "--target", "label", "--exclude", "id", "value",
                       "--workers", "0", "--blocksize", "2KiB", "--out", model)
    assert rc == 0 and "none is held out" not in out, (out, err)



def test_one_block_that_cannot_split_says_why(tmp_path, capsys):
    # one Parquet row group: a smaller --blocksize changes nothing (it was advised, in a loop)
    frame(ROWS).to_parquet(tmp_path / "one.parquet", index=False)
    rc, out, err = run(capsys, "train", tmp_path / "one.parquet", "--target", "label",
                       "--exclude", "id", "value", "--workers", "0", "--validation", "0.2",
                       "--out", tmp_path / "m.pkl")
    assert rc == 2 and "it is one Parquet row group, the smallest block there is" in err, err
    assert "--blocksize" not in err.split("smallest block")[1]


def test_train_says_when_it_resumes_or_finds_a_finished_checkpoint(tmp_path, data, capsys):
    folder, _ = data
    model, ckpt = tmp_path / "m.pkl", tmp_path / "ckpt"
    args = train_args(folder, model, "--epochs", "2", "--checkpoint", ckpt)
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    assert "resumed" not in out and "nothing was trained" not in out
    rc, out, err = run(capsys, *args)
    assert rc == 0, err
    assert f"the checkpoint in {ckpt} held a finished fit of 2 pass(es): nothing was " \
        "trained; pass a larger --epochs" in out
    rc, out, err = run(capsys, *train_args(folder, model, "--epochs", "3", "--checkpoint", ckpt))
    assert rc == 0, err
    assert "resuming from checkpoint" in out and f"resumed from the checkpoint in {ckpt} after " \
        "2 pass(es) and 0 block(s)" in out


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("out", ["preds.parquet", "preds.csv"])
@pytest.mark.parametrize("missing", [ROWS + 5, 5], ids=["later-file", "first-rows"])
def test_predict_ids_stay_exact_with_missing_values(tmp_path, capsys, fmt, out, missing):
    # 64-bit ids above 2**53 with one missing: pandas makes such a block float64 and
    # rounds every id in it (9007199254740993 -> 9007199254740992.0); in the first rows
    # of a CSV file the scan's own sample is such a block
    folder = tmp_path / "data"
    folder.mkdir()
    ids = pd.array(2**53 + 1 + np.arange(2 * ROWS), dtype="Int64")
    ids[missing] = pd.NA
    for i in range(2):
        df = frame(ROWS, seed=i).drop(columns="id").assign(id=ids[i * ROWS:(i + 1) * ROWS])
        if fmt == "csv":
            df.to_csv(folder / f"part-{i}.csv", index=False)
        else:
            df.to_parquet(folder / f"part-{i}.parquet", index=False)
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model, "--validation", "0"))[0] == 0
    preds = tmp_path / out
    rc, _, err = run(capsys, "predict", model, folder, "--out", preds, "--id", "id",
                     "--workers", "0", "--blocksize", "None")
    assert rc == 0, err
    got = (pd.read_parquet(preds) if out.endswith(".parquet")
           else pd.read_csv(preds, dtype={"id": "Int64"}))
    assert got["id"].astype("Int64").tolist() == list(ids)


def test_predict_categorical_id_to_parquet(tmp_path, capsys):
    data = tmp_path / "cat.parquet"
    df = frame(ROWS).assign(store=pd.Categorical(np.where(np.arange(ROWS) % 2, "north", "south")))
    df.to_parquet(data, index=False)
    model = tmp_path / "m.pkl"
    rc, _, err = run(capsys, "train", data, "--target", "label", "--exclude", "id", "value",
                     "store", "--workers", "0", "--validation", "0", "--out", model)
    assert rc == 0, err
    preds = tmp_path / "preds.parquet"
    rc, _, err = run(capsys, "predict", model, data, "--out", preds, "--id", "store",
                     "--workers", "0")
    assert rc == 0, err
    assert pd.read_parquet(preds)["store"].astype(str).tolist() == df["store"].astype(str).tolist()


def test_predict_csv_ids_keep_their_text_exactly(tmp_path, data, capsys):
    # pandas' inference made zero-padded ids numbers ("000123" -> 123) and refused a text id
    # after many integer ones ("holds 'A4000' where the first rows ... hold integers")
    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model, "--validation", "0"))[0] == 0
    csv = tmp_path / "ids.csv"
    df = frame(4000)  # ~400 KB: the last row lies beyond the 64 KiB that the scan samples
    ids = [f"{i:06d}" for i in range(3999)] + ["A4000"]
    df["id"] = ids
    df.loc[5, "id"] = None  # an empty field: a missing id
    df.to_csv(csv, index=False)
    for out in (tmp_path / "p.parquet", tmp_path / "p.csv"):
        rc, _, err = run(capsys, "predict", model, csv, "--out", out, "--id", "id", "--workers",
                         "0", "--blocksize", "100KB")
        assert rc == 0, err
        got = (pd.read_parquet(out) if out.suffix == ".parquet"
               else pd.read_csv(out, dtype={"id": str}))["id"]
        expected = [None if i == 5 else v for i, v in enumerate(ids)]
        assert [None if pd.isna(v) else v for v in got] == expected


def test_train_on_csv_labels_that_mix_digits_and_text(tmp_path, capsys):
    # pandas types each block alone: blocks without the text label parsed "1" as 1, and
    # training failed at the first such block ("labels [1, 2] not in classes ['1', ...]")
    df = frame(8000).drop(columns=["value", "id"])
    df["label"] = np.where(df["label"] == 1, "2", "1").astype(object)
    df.loc[7990:, "label"] = "n/a-code"  # only in the last block, past the scanned rows
    data = tmp_path / "mixed.csv"
    df.to_csv(data, index=False)
    model = tmp_path / "m.pkl"
    rc, out, err = run(capsys, "train", data, "--target", "label", "--workers", "0",
                       "--blocksize", "1KiB", "--validation", "0", "--out", model)
    assert rc == 0, err
    assert "classes: ['1', '2', 'n/a-code']" in out
    assert load_model(model)["model"].classes_.tolist() == ["1", "2", "n/a-code"]


def test_column_names_with_commas_can_be_named(tmp_path, capsys):
    df = frame(ROWS).rename(columns={"f0": "price, usd", "id": "id, internal"})
    data = tmp_path / "commas.parquet"
    df.to_parquet(data, index=False)
    model = tmp_path / "m.pkl"
    rc, _, err = run(capsys, "train", data, "--target", "label", "--features", "price, usd",
                     "f1", "--workers", "0", "--validation", "0", "--out", model)
    assert rc == 0, err
    assert load_model(model)["features"] == ["price, usd", "f1"]
    rc, _, err = run(capsys, "train", data, "--target", "label", "--exclude", "f1,f2",
                     "id, internal", "value", "--workers", "0", "--validation", "0",
                     "--out", model)
    assert rc == 0, err
    assert load_model(model)["features"] == ["price, usd", "f3"]
    preds = tmp_path / "p.csv"
    rc, _, err = run(capsys, "predict", model, data, "--id", "id, internal", "--workers", "0",
                     "--out", preds)
    assert rc == 0, err
    assert pd.read_csv(preds)["id, internal"].tolist() == df["id, internal"].tolist()


def test_an_estimator_error_on_a_block_names_its_file(tmp_path, capsys):
    # MultinomialNB refuses negative counts, naming only "block 1": the file is added
    folder = tmp_path / "counts"
    folder.mkdir()
    for i in range(3):
        df = frame(ROWS, seed=i).drop(columns=["value", "id"])
        df[FEATURES] = np.abs(df[FEATURES])
        if i == 1:
            df.loc[7, "f2"] = -1.0
        df.to_parquet(folder / f"part-{i}.parquet", index=False)
    rc, _, err = run(capsys, "train", folder, "--target", "label", "--model", "multinomial-nb",
                     "--workers", "0", "--validation", "0", "--blocksize", "None",
                     "--random-state", "0", "--out", tmp_path / "m.pkl")
    assert rc == 2 and "block 1" in err and "(block 1 reads " in err and "part-1.parquet" in err, err


def test_train_on_csv_files_whose_labels_are_digits_in_one_and_text_in_another(tmp_path, capsys):
    folder = tmp_path / "labels"
    folder.mkdir()
    for i, labels in enumerate([("01", "02"), ("01", "x")]):
        df = frame(ROWS, seed=i).drop(columns=["value", "id"])
        df["label"] = np.where(df["label"] == 1, labels[1], labels[0])
        df.to_csv(folder / f"part-{i}.csv", index=False)
    with pytest.raises(Exception, match="text_target=True"):  # the library says what to do
        from gpuinc.io import read_table
        read_table(folder, "label")
    model = tmp_path / "m.pkl"
    rc, out, err = run(capsys, "train", folder, "--target", "label", "--workers", "0",
                       "--validation", "0", "--out", model)
    assert rc == 0, err
    assert "classes: ['01', '02', 'x']" in out


@pytest.mark.parametrize("version", [(1, 7), (1, 8)])
def test_passive_aggressive_on_any_scikit_learn(monkeypatch, version):
    # learning_rate="pa1" with eta0 as the step cap is public from scikit-learn 1.8;
    # before, the same classifier is PassiveAggressiveClassifier (cap C)
    import sklearn.linear_model

    from gpuinc import _cli_data as cli_data

    if version < (1, 8) and not hasattr(sklearn.linear_model, "PassiveAggressiveClassifier"):
        pytest.skip("PassiveAggressiveClassifier was removed from this scikit-learn")
    monkeypatch.setattr(cli_data, "_sklearn_version", lambda: version)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated from 1.8
        est = build_estimator("passive-aggressive", 3)
    if version < (1, 8):
        assert type(est) is sklearn.linear_model.PassiveAggressiveClassifier
        assert (est.C, est.loss, est.random_state) == (1.0, "hinge", 3)
    else:
        assert type(est) is SGDClassifier
        params = est.get_params()
        assert (params["loss"], params["penalty"], params["learning_rate"], params["eta0"],
                params["random_state"]) == ("hinge", None, "pa1", 1.0, 3)


def test_passive_aggressive_trains(tmp_path, data, capsys):
    folder, _ = data
    rc, out, err = run(capsys, *train_args(folder, tmp_path / "m.pkl", "--model",
                                           "passive-aggressive", "--validation", "0.34"))
    assert rc == 0, err
    assert re.search(r"pass 1/1: val_score=[01]\.\d{5}", out), out


def test_a_checkpoint_of_more_passes_than_epochs_is_refused_in_cli_words(tmp_path, data,
                                                                         capsys):
    folder, _ = data
    model, ckpt = tmp_path / "m.pkl", tmp_path / "ckpt"
    rc, out, err = run(capsys, *train_args(folder, model, "--epochs", "2", "--checkpoint", ckpt))
    assert rc == 0, err
    model.unlink()
    rc, out, err = run(capsys, *train_args(folder, model, "--epochs", "1", "--checkpoint", ckpt))
    assert rc == 2 and err.count("\n") == 1, err
    assert f"The checkpoint in {ckpt} holds a model trained for 2 pass(es), more than " \
        "--epochs 1. Pass --epochs 2 or more to resume it, or a new --checkpoint folder" in err
    assert "epochs=" not in err and "checkpoint directory" not in err
    assert not model.exists()


@pytest.mark.parametrize("command", ["train", "predict"])
def test_sigterm_stops_the_command_and_leaves_nothing_behind(tmp_path, data, capsys,
                                                              monkeypatch, command):
    """``timeout``, Slurm and Kubernetes send SIGTERM: the command cleans up as for Ctrl-C
    and exits with 143 (before, it died on the spot and left hidden partial outputs)."""
    import signal

    import gpuinc.io as gio

    folder, _ = data
    model = tmp_path / "model.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    before = model.read_bytes()
    reader, reads = gio._read_parquet_block, []

    def terminated_at_the_third_read(*args, **kwargs):
        reads.append(1)
        if len(reads) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return reader(*args, **kwargs)

    monkeypatch.setattr(gio, "_read_parquet_block", terminated_at_the_third_read)
    out = tmp_path / "new" / "preds.parquet"
    argv = (train_args(folder, model, "--epochs", "3") if command == "train"
            else ("predict", model, folder, "--workers", "0", "--blocksize", "None", "--out", out))
    rc, _, err = run(capsys, *argv)
    assert rc == 143 and "terminated" in err, err
    assert model.read_bytes() == before  # the previous model is kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl", "train"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_a_checkpoint_path_that_is_a_file_is_said_in_the_command_s_words(tmp_path, data,
                                                                         capsys):
    folder, _ = data
    not_a_folder = tmp_path / "ck"
    not_a_folder.write_text("a file")
    rc, out, err = run(capsys, *train_args(folder, tmp_path / "m.pkl", "--checkpoint",
                                           not_a_folder))
    assert rc == 2 and "cannot be created or written" in err, err
    assert "pass --checkpoint a folder you can write to" in err and "checkpoint=" not in err
    assert "pass 1" not in out and not (tmp_path / "m.pkl").exists()


def test_an_output_that_appears_during_predict_is_not_replaced(tmp_path, data, capsys,
                                                               monkeypatch):
    """Two predicts to one --out: the later one to finish must not silently replace the
    other's output (only --overwrite replaces)."""
    import gpuinc._cli_data as cli_data

    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    out = tmp_path / "preds.csv"
    compute = cli_data._compute_writes

    def another_run_finishes_first(writes):
        compute(writes)
        out.write_text("the other run's predictions")

    monkeypatch.setattr(cli_data, "_compute_writes", another_run_finishes_first)
    rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--out", out)
    assert rc == 2 and "appeared while these predictions were computed" in err, err
    assert out.read_text() == "the other run's predictions"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pkl", "preds.csv", "train"]
    out.unlink()
    rc, _, _ = run(capsys, "predict", model, folder, "--workers", "0", "--overwrite",
                   "--out", out)
    assert rc == 0 and out.read_text() != "the other run's predictions"  # --overwrite replaces


def test_python_dash_m_gpuinc_runs_the_command():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "gpuinc", "train", "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: gpuinc train")


def test_train_on_a_decimal_target(tmp_path, capsys):
    # Parquet decimal128 labels (SQL / Spark exports) came out as Decimal objects: the
    # classes printed as [Decimal('0'), Decimal('1')], then partial_fit refused them
    from decimal import Decimal

    import pyarrow as pa

    df = frame(ROWS)
    folder = tmp_path / "dec"
    folder.mkdir()
    table = pa.Table.from_pandas(df[FEATURES], preserve_index=False).append_column(
        "label", pa.array([Decimal(int(v)) for v in df["label"]], type=pa.decimal128(10, 0)))
    pq.write_table(table, folder / "part-0.parquet")
    model = tmp_path / "m.pkl"
    rc, out, err = run(capsys, "train", folder, "--target", "label", "--workers", "0",
                       "--validation", "0", "--out", model)
    assert rc == 0, err
    assert "Decimal" not in out
    assert load_model(model)["model"].estimator_.classes_.tolist() == [0.0, 1.0]
    preds = tmp_path / "p.csv"
    rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--out", preds)
    assert rc == 0, err
    assert set(pd.read_csv(preds)["prediction"]) <= {0.0, 1.0}


def test_train_out_ending_in_a_separator_is_refused(tmp_path, data, capsys):
    # --out models/ wrote a FILE named models and said "model saved to models/"
    folder, _ = data
    out = str(tmp_path / "models") + "/"
    rc, _, err = run(capsys, *train_args(folder, out))
    assert rc == 2 and f"--out {out} names a folder" in err and "models/model.pkl" in err, err
    assert not (tmp_path / "models").exists()


def test_predict_out_inside_the_data_folder_is_refused(tmp_path, data, capsys):
    # the predictions became part of the dataset that the folder holds
    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model, "--validation", "0"))[0] == 0
    before = sorted(p.name for p in folder.iterdir())
    for out in (folder / "preds.parquet", folder / "sub" / "p.csv"):
        rc, _, err = run(capsys, "predict", model, folder, "--workers", "0", "--out", out)
        assert rc == 2 and f"--out {out} is inside the data folder {folder}" in err, err
        assert "outside" in err
    assert sorted(p.name for p in folder.iterdir()) == before
    # next to the data (a file's folder is not the data folder) is fine
    one = sorted(folder.iterdir())[0]
    rc, _, err = run(capsys, "predict", model, one, "--workers", "0",
                     "--out", folder.parent / "p.csv")
    assert rc == 0, err


def test_predict_out_that_the_data_glob_matches_is_refused(tmp_path, data, capsys):
    # DATA as a glob skipped the check: the predictions went into the folder, and every
    # later read of the glob failed on them ("Schema drift: .../preds.parquet/part.0...")
    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model, "--validation", "0"))[0] == 0
    pattern = f"{folder}/*.parquet"
    before = sorted(p.name for p in folder.iterdir())
    for out in (folder / "preds.parquet", folder / "preds.parquet" / "p.csv"):
        rc, _, err = run(capsys, "predict", model, pattern, "--workers", "0", "--out", out)
        assert rc == 2 and f"--out {out} matches the data glob {pattern}" in err, err
    assert sorted(p.name for p in folder.iterdir()) == before
    # what the glob does not match is fine, in the same folder or below it
    for out in (folder / "p.csv", folder / "sub" / "p.parquet"):
        rc, _, err = run(capsys, "predict", model, pattern, "--workers", "0", "--out", out)
        assert rc == 0, err
    from gpuinc._cli_data import _glob_takes

    assert _glob_takes("/d/**/*.parquet", "/d/a/b/p.parquet")
    assert _glob_takes("/d/**", "/d/p.csv") and not _glob_takes("/d/*.parquet", "/d/s/p.parquet")


@pytest.mark.parametrize(("model", "param", "why"), [
    ("sgd-classifier", "alpha=abc", "alpha must be a real number"),
    ("sgd-classifier", "batch_size=0", "batch_size must be an integer >= 1"),
    ("sgd-classifier", "loss=bogus", "loss='bogus' is not supported"),
    ("sklearn-sgd-classifier", "alpha=abc", "'alpha' parameter of SGDClassifier"),
    ("mlp-classifier", "batch_size=0", "'batch_size' parameter of MLPClassifier"),
])
def test_bad_param_value_is_refused_before_reading(tmp_path, capsys, model, param, why):
    # the error came after a classes scan and the first block read, blamed on the data
    # ("raised by partial_fit on block 0 ...") and never mentioned --param; the data here
    # does not exist: the values are checked before it is looked at
    rc, _, err = run(capsys, "train", tmp_path / "nowhere", "--target", "label", "--model", model,
                     "--param", param, "--workers", "0", "--out", tmp_path / "m.pkl")
    assert rc == 2 and err.startswith(f"gpuinc: error: --param {param.split('=')[0]}="), err
    assert why in err and "nowhere" not in err, err


def test_good_param_values_pass_the_check(tmp_path, capsys):
    from gpuinc._cli_data import build_estimator

    assert build_estimator("sgd-classifier", 0, {"alpha": 1e-3}).alpha == 1e-3
    assert build_estimator("passive-aggressive", 0, {"alpha": 1e-3}).alpha == 1e-3
    assert build_estimator("mlp-classifier", 0, {"batch_size": 16}).batch_size == 16


def test_param_values_true_and_false_in_lower_case_are_booleans():
    # --param fit_intercept=false was the text 'false', refused ("got 'false'"), and
    # average=true the text 'true' ("average must be an integer >= 1")
    from gpuinc._cli_data import _key_value

    assert _key_value("fit_intercept=false") == ("fit_intercept", False)
    assert _key_value("average=TRUE") == ("average", True)
    assert _key_value("average=True") == ("average", True)
    assert _key_value("loss=hinge") == ("loss", "hinge")  # other text stays text


def _small_model(tmp_path, capsys):
    """A model trained by ``gpuinc train`` on one small file, and the file's rows."""
    df = frame(ROWS).drop(columns=["value", "id"])
    df.to_parquet(tmp_path / "train.parquet", index=False)
    model = tmp_path / "m.pkl"
    rc, _, err = run(capsys, "train", tmp_path / "train.parquet", "--target", "label",
                     "--workers", "0", "--validation", "0", "--out", model)
    assert rc == 0, err
    return model, df


def test_predict_errors_suggest_only_what_predict_has(tmp_path, capsys):
    # predict said "Leave it out of the features (--exclude / --features ...)" and "before
    # training", and a MODEL that is a folder (arguments swapped) gave "[Errno 21] Is a
    # directory"
    model, df = _small_model(tmp_path, capsys)
    text, nan = tmp_path / "text", tmp_path / "nan"
    text.mkdir()
    nan.mkdir()
    df.assign(f1="x").to_parquet(text / "a.parquet", index=False)
    df.assign(f1=np.where(np.arange(ROWS) == 3, np.nan, df["f1"])).to_parquet(nan / "a.parquet")
    for data, words, fix in ((text, "'f1' in ", "holds numbers, encoded as for training"),
                             (nan, "'f1' hold missing", "--allow-nan for a model")):
        rc, _, err = run(capsys, "predict", model, data, "--workers", "0",
                         "--out", tmp_path / "p.csv")
        assert rc == 2 and words in err and fix in err, err
        assert "--exclude" not in err and "--features" not in err, err
        assert "before training" not in err and "read_table" not in err, err
    large = tmp_path / "large"
    large.mkdir()
    df.assign(f1=np.where(np.arange(ROWS) == 3, 3e39, df["f1"])).to_parquet(large / "a.parquet")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", "overflow encountered", RuntimeWarning)
        rc, _, err = run(capsys, "predict", model, large, "--workers", "0",
                         "--out", tmp_path / "p.csv")
    assert rc == 2 and "too large for float32" in err, err
    assert "train it again with --dtype float64" in err and "dtype=" not in err, err
    rc, _, err = run(capsys, "predict", text, model, "--workers", "0", "--out", tmp_path / "p.csv")
    assert rc == 2 and f"model file {text} is a folder" in err and "MODEL DATA" in err, err
    assert "Errno" not in err


def test_predict_id_and_features_may_name_a_pandas_index(tmp_path, capsys):
    # df.set_index("user_id").to_parquet(...): 'user_id' was "not in the file"
    folder = tmp_path / "data"
    folder.mkdir()
    df = frame(ROWS).drop(columns=["value", "id"]).assign(user_id=np.arange(ROWS) * 3 + 7)
    df.set_index("user_id").to_parquet(folder / "part-0.parquet")  # a range: metadata only
    shuffled = df.iloc[[1, 0, *range(2, ROWS)]]
    shuffled.set_index("user_id").to_parquet(folder / "part-1.parquet")  # a column
    assert pq.read_schema(folder / "part-1.parquet").names[-1] == "user_id"
    model = tmp_path / "m.pkl"
    rc, _, err = run(capsys, "train", folder, "--target", "label", "--workers", "0",
                     "--validation", "0", "--out", model)
    assert rc == 0, err
    assert load_model(model)["features"] == FEATURES  # not a default feature
    rc, _, err = run(capsys, "train", folder, "--target", "label", "--workers", "0",
                     "--validation", "0", "--features", *FEATURES, "user_id",
                     "--out", tmp_path / "m2.pkl")
    assert rc == 0, err
    preds = tmp_path / "p.csv"
    rc, _, err = run(capsys, "predict", model, folder, "--id", "user_id", "--workers", "0",
                     "--out", preds)
    assert rc == 0, err
    assert pd.read_csv(preds)["user_id"].tolist() == [*df["user_id"], *shuffled["user_id"]]


def test_zarr_data_of_another_width_than_the_model_is_named(tmp_path, capsys):
    # it was scikit-learn's "X has 4 features, but GaussianNB is expecting 5", naming neither
    # the store nor the model
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(0)
    for name, width in (("train.zarr", 5), ("new.zarr", 4)):
        group = zarr.open_group(str(tmp_path / name), mode="w")
        group.create_array("X", shape=(200, width), chunks=(50, width), dtype="float64")[:] = \
            rng.normal(size=(200, width))
        group.create_array("label", shape=(200,), chunks=(50,), dtype="int64")[:] = \
            group["X"][:, 0] > 0
    model = tmp_path / "z.pkl"
    rc, _, err = run(capsys, "train", tmp_path / "train.zarr", "--target", "label",
                     "--workers", "0", "--validation", "0", "--out", model)
    assert rc == 0, err
    rc, _, err = run(capsys, "predict", model, tmp_path / "new.zarr", "--out",
                     tmp_path / "p.csv", "--workers", "0")
    assert rc != 0
    assert re.search(r"new\.zarr has 4 feature column\(s\), but the model .*z\.pkl was trained "
                     r"on 5", err), err
    assert not (tmp_path / "p.csv").exists()


def test_predict_errors_raised_on_cluster_workers_say_predicts_fixes(tmp_path, capsys,
                                                                     monkeypatch):
    # the fixes were training's, rewritten by regexes over the text that came back from the
    # workers; now each block task words them for predict itself (the purpose travels with it)
    from distributed import LocalCluster

    import gpuinc.cluster

    def in_process_cluster(kind, n_workers=None, **kw):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=False,
                            dashboard_address=":0")

    monkeypatch.setattr(gpuinc.cluster, "make_cluster", in_process_cluster)
    model, df = _small_model(tmp_path, capsys)
    row3 = np.arange(ROWS) == 3
    cases = {"nan": (np.nan, "'f1' hold missing", "or pass --allow-nan for a model that "
                                                  "handles them."),
             "large": (3e39, "too large for float32", "train it again with --dtype float64, "
                                                      "or scale the values down.")}
    for name, (value, words, fix) in cases.items():
        (tmp_path / name).mkdir()
        df.assign(f1=np.where(row3, value, df["f1"])).to_parquet(tmp_path / name / "a.parquet")
        with warnings.catch_warnings():
            warnings.filterwarnings("error", "overflow encountered", RuntimeWarning)
            rc, _, err = run(capsys, "predict", model, tmp_path / name, "--workers", "1",
                             "--out", tmp_path / "p.csv")
        assert rc == 2 and words in err and fix in err, err
        assert "allow_nan=" not in err and "dtype=" not in err, err
        assert not (tmp_path / "p.csv").exists()


def test_predict_id_missing_from_a_file_is_not_called_a_model_column(tmp_path, capsys):
    # predict's rewrite of "leave the column out (--features / --exclude)" said "the model
    # needs the column(s)" also of an --id column, which the model does not need
    df = frame(ROWS).drop(columns=["value"])
    df.drop(columns="id").to_parquet(tmp_path / "train.parquet", index=False)
    model = tmp_path / "m.pkl"
    rc, _, err = run(capsys, "train", tmp_path / "train.parquet", "--target", "label",
                     "--workers", "0", "--validation", "0", "--out", model)
    assert rc == 0, err
    new = tmp_path / "new"
    new.mkdir()
    df.to_parquet(new / "a.parquet", index=False)
    df.drop(columns="id").to_parquet(new / "b.parquet", index=False)
    rc, _, err = run(capsys, "predict", model, new, "--id", "id", "--workers", "0",
                     "--out", tmp_path / "p.csv")
    assert rc == 2 and "b.parquet has no column(s) 'id'" in err, err
    assert "Make the files agree, or leave the column(s) out of --id." in err, err
    assert "model needs" not in err and "--features" not in err, err
    df.drop(columns="f2").to_parquet(new / "b.parquet", index=False)
    rc, _, err = run(capsys, "predict", model, new, "--id", "id", "--workers", "0",
                     "--out", tmp_path / "p.csv")
    assert rc == 2 and "b.parquet has no column(s) 'f2'" in err, err
    assert "Make the files agree: the model needs the column(s)." in err, err


def _text_labels_folder(tmp_path):
    frames = [frame(ROWS, start=i * ROWS, seed=i) for i in range(N_FILES)]
    for df in frames:
        df["label"] = np.where(df["label"] == 1, "yes", "no")
    return parquet_parts(tmp_path / "text", frames)[0]


def test_binary_scoring_of_text_labels_takes_pos_label(tmp_path, capsys):
    """f1 on labels 'no' / 'yes' needs the positive class: the command line names its own
    option (--pos-label), not a make_scorer call it cannot take."""
    from sklearn.metrics import f1_score

    folder, model = _text_labels_folder(tmp_path), tmp_path / "model.pkl"
    rc, _, err = run(capsys, *train_args(folder, model, "--scoring", "f1"))
    assert rc == 2 and "pass --pos-label yes" in err and "make_scorer" not in err, err
    assert not model.exists()
    rc, out, err = run(capsys, *train_args(folder, model, "--scoring", "f1", "--pos-label", "no",
                                           "--epochs", "2"))
    assert rc == 0, err
    payload = load_model(model)
    scorer = payload["model"].scoring
    assert scorer._kwargs["pos_label"] == "no" and scorer._score_func is f1_score
    scores = [r["val_score"] for r in payload["history"]]
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)
    assert f"val_score={scores[-1]:.5f}" in out
    # the same score as scikit-learn's f1 of the class 'no' on the data, scored in memory
    inc = payload["model"]
    all_rows = pd.concat([pd.read_parquet(p) for p in sorted(folder.iterdir())])
    X = all_rows[FEATURES].astype("float32")
    assert inc.score(X, all_rows["label"].to_numpy()) == pytest.approx(
        f1_score(all_rows["label"], inc.predict(X), pos_label="no"))


@pytest.mark.parametrize("extra, message", [
    (("--pos-label", "yes"), "pass one too, e.g. --scoring f1"),
    (("--scoring", "f1", "--pos-label", "maybe"), "--pos-label maybe is not one of the classes "
                                                  "['no', 'yes']"),
    (("--scoring", "accuracy", "--pos-label", "yes"), "--scoring accuracy takes no --pos-label"),
    (("--scoring", "f1_macro", "--pos-label", "yes"), "--scoring f1_macro takes no --pos-label"),
])
def test_pos_label_misuse_is_refused_before_training(tmp_path, capsys, extra, message):
    folder, model = _text_labels_folder(tmp_path), tmp_path / "model.pkl"
    rc, _, err = run(capsys, *train_args(folder, model, *extra))
    assert rc == 2 and message in err, err
    assert not model.exists()


def test_pos_label_is_refused_for_a_regressor(tmp_path, data, capsys):
    folder, _ = data
    model = tmp_path / "model.pkl"
    rc, _, err = run(capsys, "train", folder, "--target", "value", "--model", "sgd-regressor",
                     "--exclude", "id", "label", "--scoring", "f1", "--pos-label", "1",
                     "--workers", "0", "--out", model)
    assert rc == 2 and "--pos-label is for classifiers" in err, err
    assert not model.exists()


def test_a_glob_the_shell_expanded_gets_a_hint(tmp_path, data, capsys):
    folder, _ = data
    files = sorted(str(p) for p in folder.iterdir())
    with pytest.raises(SystemExit) as info:
        main(["train", *files, "--target", "label", "--out", str(tmp_path / "m.pkl")])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "unrecognized arguments" in err and "Quote it (e.g. 'data/*.parquet')" in err, err
    with pytest.raises(SystemExit):
        main(["train", str(folder), "--target", "label", "--no-such-option"])
    assert "Quote it" not in capsys.readouterr().err  # an unknown option: no path hint


@pytest.mark.parametrize("argv, option, example", [
    (["train", "--features", "f0", "f1", "data.parquet", "--target", "label"],
     "--features takes", "gpuinc train DATA --target COLUMN"),
    (["train", "--features", "f0", "data.csv", "--exclude", "id", "s3://b/d", "--target", "y"],
     "--features / --exclude take", "gpuinc train DATA"),
    (["predict", "model.pkl", "--id", "id", "new.parquet", "--out", "p.csv"], "--id takes",
     "gpuinc predict MODEL DATA --out preds.parquet --id A B"),
])
def test_data_taken_by_a_multi_value_option_gets_a_hint(capsys, argv, option, example):
    with pytest.raises(SystemExit):
        main(argv)
    err = capsys.readouterr().err
    assert "required: DATA" in err and option in err and example in err, err


@pytest.mark.parametrize("argv", [
    ["train", "--target", "label", "--exclude", "id"],  # DATA left out: not taken by --exclude
    ["train", "data.parquet", "--target", "label", "--chekpoint", "ck.parquet"],  # a typo
])
def test_no_path_hint_where_no_path_was_misplaced(capsys, argv):
    with pytest.raises(SystemExit):
        main(argv)
    err = capsys.readouterr().err
    assert "DATA first" not in err and "Quote it" not in err, err


@pytest.mark.parametrize("command", ["train", "predict"])
def test_ctrl_c_while_the_cluster_stops_keeps_the_finished_work(tmp_path, data, capsys,
                                                                 monkeypatch, command):
    """The model was trained (the predictions written): a Ctrl-C during the cluster's
    shutdown still saves it (reports them), then ends the command as interrupted."""
    import contextlib

    import gpuinc._cli_data as cli_data

    folder, _ = data
    model = tmp_path / "model.pkl"
    if command == "predict":
        rc, _, err = run(capsys, *train_args(folder, model))
        assert rc == 0, err

    @contextlib.contextmanager
    def interrupted_on_exit(device, workers):
        yield "cpu"
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_data, "_scheduler", interrupted_on_exit)
    if command == "train":
        rc, out, err = run(capsys, *train_args(folder, model))
        assert f"model saved to {model}" in out and load_model(model)["model"].estimator_
    else:
        preds = tmp_path / "preds.csv"
        rc, out, err = run(capsys, "predict", model, folder, "--out", preds, "--workers", "0")
        assert f"written to {preds}" in out and len(pd.read_csv(preds)) == N_FILES * ROWS
    assert rc == 130 and "interrupted" in err, (out, err)



def test_pos_label_on_more_than_two_classes_is_refused_before_training(tmp_path, capsys):
    frames = [frame(ROWS, start=i * ROWS, seed=i) for i in range(N_FILES)]
    for df in frames:
        df["label"] = np.array(["a", "b", "c"])[np.arange(len(df)) % 3]
    folder = parquet_parts(tmp_path / "three", frames)[0]
    model = tmp_path / "model.pkl"
    rc, out, err = run(capsys, *train_args(folder, model, "--scoring", "f1", "--pos-label", "a"))
    assert rc == 2 and "the target has 3 classes" in err and "pass 1" not in out, (out, err)


def test_binary_scoring_without_validation_needs_no_pos_label(tmp_path, capsys):
    # nothing is scored: the Python API does not ask either
    folder, model = _text_labels_folder(tmp_path), tmp_path / "model.pkl"
    rc, _, err = run(capsys, *train_args(folder, model, "--scoring", "f1", "--validation", "0"))
    assert rc == 0, err


@pytest.mark.parametrize("labels, given", [((0.0, 2.0), "2"), ((False, True), "true")])
def test_pos_label_names_numeric_and_bool_classes_as_typed(tmp_path, capsys, labels, given):
    frames = [frame(ROWS, start=i * ROWS, seed=i) for i in range(N_FILES)]
    for df in frames:
        df["label"] = np.where(df["label"] == 1, labels[1], labels[0])
    folder = parquet_parts(tmp_path / "typed", frames)[0]
    model = tmp_path / "model.pkl"
    rc, _, err = run(capsys, *train_args(folder, model, "--scoring", "f1", "--pos-label", given))
    assert rc == 0, err
    assert load_model(model)["model"].scoring._kwargs["pos_label"] == labels[1]


def test_a_reader_that_stops_early_does_not_stop_training(tmp_path, data):
    # `gpuinc train ... | head -2`: the first line written after the reader left raised
    # BrokenPipeError, and train failed (exit 2) without saving the model
    import subprocess
    import sys

    folder, _ = data
    model = tmp_path / "m.pkl"
    args = [str(a) for a in train_args(folder, model, "--epochs", "3", "--progress", "never")]
    proc = subprocess.Popen([sys.executable, "-m", "gpuinc", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert model.exists()
    assert b"Broken pipe" not in err and b"Exception ignored" not in err, err.decode()


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_ctrl_c_on_a_cluster_says_interrupted_without_the_workers_tracebacks(tmp_path, data):
    # a terminal's Ctrl-C reaches every process of the group: each worker printed its own
    # KeyboardInterrupt traceback, and the client logged "Task exception was never
    # retrieved ... AllExit", some hundred lines around "interrupted"
    import signal
    import subprocess
    import sys

    folder, _ = data
    model = tmp_path / "m.pkl"
    args = ["train", folder, "--target", "label", "--exclude", "id", "value", "--workers", "1",
            "--epochs", "100000", "--progress", "never", "--out", model]
    proc = subprocess.Popen([sys.executable, "-m", "gpuinc", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        for line in proc.stdout:  # training has started on the cluster
            if line.startswith("pass "):
                break
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130 and err.strip().endswith("interrupted"), err
    assert "Traceback" not in err and "AllExit" not in err, err
    assert not model.exists()


@pytest.mark.parametrize(("rc", "ignored"), [(0, True), (2, False)])
def test_a_late_ctrl_c_does_not_turn_a_success_into_a_failure(monkeypatch, rc, ignored):
    # predict said "predictions ... written" and then exited 130: the Ctrl-C came while
    # the interpreter shut down; after a success the command now ignores it
    import signal

    import gpuinc.cli as cli

    monkeypatch.setattr(cli, "main", lambda: rc)
    before = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit_:
            cli.console()
        assert exit_.value.code == rc
        assert (signal.getsignal(signal.SIGINT) is signal.SIG_IGN) is ignored
    finally:
        signal.signal(signal.SIGINT, before)


@pytest.mark.parametrize("argv, message", [
    (("train", "{missing}", "--target", "label", "--scoring", "acuracy", "--out", "{model}"),
     "--scoring acuracy is not a scorer name; did you mean accuracy"),
    (("train", "{missing}", "--target", "label", "--workers", "-1", "--out", "{model}"),
     "--workers must be >= 0, got -1"),
    (("predict", "{model}", "{missing}", "--workers", "-1", "--out", "{preds}"),
     "--workers must be >= 0, got -1"),
])
def test_bad_options_are_refused_before_the_data_is_read(tmp_path, capsys, argv, message):
    # the data does not exist: an option checked only after the data is scanned would fail
    # on the missing folder instead
    names = {"missing": tmp_path / "nothing-here", "model": tmp_path / "model.pkl",
             "preds": tmp_path / "preds.parquet"}
    rc, _, err = run(capsys, *(a.format(**names) for a in argv))
    assert rc == 2 and message in err, err
    assert not (tmp_path / "model.pkl").exists() and not (tmp_path / "preds.parquet").exists()


def test_predict_with_allow_nan_names_the_file_of_a_block_the_model_cannot_take(
        tmp_path, data, capsys):
    # with --allow-nan the reader lets NaN through, and the model's error named no file
    folder, _ = data
    model = tmp_path / "model.pkl"
    assert run(capsys, *train_args(folder, model, "--validation", "0"))[0] == 0
    parts = [frame(ROWS, start=i * ROWS, seed=i) for i in range(3)]
    parts[2].loc[parts[2].index[4], "f1"] = np.nan
    bad, _ = parquet_parts(tmp_path / "bad", parts)
    preds = tmp_path / "preds.parquet"
    rc, _, err = run(capsys, "predict", model, bad, "--out", preds, "--workers", "0",
                     "--blocksize", "None", "--allow-nan")
    assert rc != 0
    assert "block 2 of X contains NaN" in err and "block 2 reads" in err, err
    assert "part-2.parquet" in err.split("block 2 reads")[1], err
    assert not preds.exists()


def test_train_out_replaces_only_a_gpuinc_model_without_overwrite(tmp_path, data, capsys):
    folder, _ = data
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    rc, stdout, err = run(capsys, *train_args(folder, other))
    assert rc == 2 and f"--out {other} exists and is not a model written by `gpuinc train`; " \
        "pass --overwrite to replace it" in err, err
    assert "pass 1" not in stdout and other.read_text() == "a,b\n1,2\n"
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    rc, _, err = run(capsys, *train_args(folder, model, "--epochs", "2"))  # an earlier model
    assert rc == 0, err
    assert len(load_model(model)["model"].history_) == 2
    rc, _, err = run(capsys, *train_args(folder, other, "--overwrite"))
    assert rc == 0, err
    assert load_model(other)["target"] == "label"


def test_predict_id_of_bytes_is_refused_naming_the_column(tmp_path, data, capsys):
    import pyarrow as pa

    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    new = tmp_path / "uuid.parquet"
    table = pa.table({"uid": pa.array([b"\xff" * 16, b"\x01" * 16], pa.binary(16)),
                      **{f: [0.5, -0.5] for f in FEATURES}})
    pq.write_table(table, new)
    rc, _, err = run(capsys, "predict", model, new, "--id", "uid", "--workers", "0", "--out",
                     tmp_path / "p.parquet")
    assert rc == 2 and "Column 'uid' in" in err and "holds bytes (fixed_size_binary[16])" in err
    assert "leave it out of --id" in err and "utf-8" not in err


def test_predict_id_of_booleans_with_nulls_stays_boolean(tmp_path, data, capsys):
    import pyarrow as pa

    folder, _ = data
    model = tmp_path / "m.pkl"
    assert run(capsys, *train_args(folder, model))[0] == 0
    new = tmp_path / "flags.parquet"
    table = pa.table({"flag": pa.array([True, None, False, True], pa.bool_()),
                      **{f: [0.5, -0.5, 1.0, 2.0] for f in FEATURES}})
    pq.write_table(table, new, row_group_size=2)
    out = tmp_path / "p.parquet"
    rc, _, err = run(capsys, "predict", model, new, "--id", "flag", "--workers", "0", "--out",
                     out, "--blocksize", "1")
    assert rc == 0, err
    got = pd.read_parquet(out)
    assert got["flag"].dtype == "boolean"
    assert got["flag"].isna().tolist() == [False, True, False, False]
    assert got["flag"].tolist()[::2] == [True, False]
