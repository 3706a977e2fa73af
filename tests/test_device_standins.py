"""GPU paths checked on a CPU, with stand-ins for CuPy and cuDF that behave like them.

The stand-in modules are put in ``sys.modules`` under the GPU libraries' names
(gpuinc recognises GPU types only there).  Their objects hold pandas / NumPy
data but keep the traits of the real libraries that matter here:

* CuPy and cuDF objects refuse implicit conversion to the host
  (``__array__`` and iteration raise ``TypeError``);
* ``cupy.asarray`` refuses object (text) arrays;
* a cuDF DataFrame has no ``.dtype``; ``cudf.DataFrame(frame, columns=...)``
  selects columns by label (a missing label gives an all-null column) and
  ``cudf.Series(series, index=...)`` reindexes (duplicate labels raise);
* ``to_cupy()`` / ``.values`` refuse text columns.
"""

from __future__ import annotations

import sys
import types
from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest
from arrays import FakeCupyArray, parquet_parts
from dask.delayed import Delayed
from sklearn.naive_bayes import GaussianNB

from gpuinc._blockwise import apply_method, map_method
from gpuinc._cli_data import load_model
from gpuinc._dispatch import DEVICE, HOST
from gpuinc._movers import to_device, to_host

# ------------------------------------------------------------------- stand-ins


def _cupy_asarray(values, dtype=None):
    if isinstance(values, FakeCupyArray):
        return values if dtype is None else values.astype(dtype)
    host = np.asarray(values, dtype=dtype)
    if host.dtype.kind not in "biufc":
        raise ValueError(f"Unsupported dtype {host.dtype}")
    return FakeCupyArray(host)


def _pandas_index(index):
    if index is None or isinstance(index, pd.Index):
        return index
    if isinstance(index, FakeCudfIndex):
        return index._i
    if isinstance(index, FakeCupyArray):
        return pd.Index(index.get())
    return pd.Index(index)


def _reindex(obj, index):
    if not obj.index.is_unique:  # cuDF refuses, even to the labels it already has
        raise ValueError("cannot reindex on an axis with duplicate labels")
    return obj.reindex(_pandas_index(index))


class _CudfObject:
    """What cuDF's frames share: no implicit host conversion, explicit ``to_*``."""

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a host NumPy array via __array__ is not "
                        "allowed, use .to_numpy() or .values_host")

    def __iter__(self):
        raise TypeError(f"{type(self).__name__} object is not iterable; use .to_arrow() ...")

    def __len__(self):
        return len(self._p)

    shape = property(lambda self: self._p.shape)
    ndim = property(lambda self: self._p.ndim)

    @property
    def index(self):
        return FakeCudfIndex(self._p.index)

    @index.setter
    def index(self, value):
        value = _pandas_index(value)
        if len(value) != len(self._p):
            raise ValueError("Length mismatch")
        self._p.index = value

    def to_pandas(self):
        return self._p.copy()

    def to_cupy(self):
        host = self._p.to_numpy()
        if host.dtype.kind not in "biufc":
            raise ValueError("cannot convert text (or null) columns to CuPy")
        return FakeCupyArray(host)

    values = property(to_cupy)

    def copy(self, deep=True):
        return type(self)(self._p.copy(deep=deep))

    def __getitem__(self, key):
        if isinstance(key, slice):
            return type(self)(self._p[key])
        return FakeCudfSeries(self._p[key])

    @property
    def iloc(self):
        frame = self

        class _ILoc:
            def __getitem__(self, key):
                return type(frame)(frame._p.iloc[key])

        return _ILoc()

    def reset_index(self, drop=False):
        return type(self)(self._p.reset_index(drop=drop))


class FakeCudfSeries(_CudfObject):
    def __init__(self, data=None, index=None, dtype=None):
        if isinstance(data, pd.Series):
            self._p = data
            return
        if isinstance(data, FakeCudfSeries):  # cuDF reindexes a Series by the new labels
            self._p = _reindex(data._p, index) if index is not None else data._p
            return
        if isinstance(data, FakeCupyArray):
            data = data.get()
        self._p = pd.Series(data, index=_pandas_index(index), dtype=dtype)

    dtype = property(lambda self: self._p.dtype)


class FakeCudfDataFrame(_CudfObject):
    def __init__(self, data=None, index=None, columns=None):
        if isinstance(data, pd.DataFrame):
            self._p = data
            return
        if isinstance(data, FakeCudfDataFrame):  # cuDF selects the columns by label
            p = data._p
            if columns is not None:
                p = pd.DataFrame({c: (p[c] if c in p.columns else pd.Series(np.nan, index=p.index))
                                  for c in columns})
            if index is not None:
                p = _reindex(p, index)
            self._p = p
            return
        if isinstance(data, dict):
            data = {k: (v._p.reset_index(drop=True) if isinstance(v, FakeCudfSeries) else v)
                    for k, v in data.items()}
        if isinstance(data, FakeCupyArray):
            data = data.get()
        self._p = pd.DataFrame(data, index=_pandas_index(index), columns=columns)

    # (no .dtype: a cuDF DataFrame has dtypes only)
    dtypes = property(lambda self: self._p.dtypes)

    @property
    def columns(self):
        return self._p.columns

    @columns.setter
    def columns(self, value):
        self._p.columns = value


class FakeCudfIndex:
    def __init__(self, index):
        self._i = pd.Index(index)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a host NumPy array is not allowed")

    def __iter__(self):
        raise TypeError("cuDF Index is not iterable")

    def __len__(self):
        return len(self._i)

    def __getitem__(self, key):
        return FakeCudfIndex(self._i[key])

    def to_pandas(self):
        return self._i


def _from_pandas(obj):
    if isinstance(obj, pd.DataFrame):
        return FakeCudfDataFrame(obj.copy())
    if isinstance(obj, pd.Series):
        return FakeCudfSeries(obj.copy())
    return FakeCudfIndex(obj)


@pytest.fixture
def gpu_standins(monkeypatch):
    """Stand-ins for cupy, cupyx.scipy.sparse and cudf in sys.modules, for one test."""
    cupy = types.ModuleType("cupy")
    cupy.ndarray = FakeCupyArray
    cupy.asarray = _cupy_asarray
    cpsp = types.ModuleType("cupyx.scipy.sparse")
    cpsp.issparse = lambda obj: False
    cudf = types.ModuleType("cudf")
    cudf.DataFrame, cudf.Series, cudf.Index = FakeCudfDataFrame, FakeCudfSeries, FakeCudfIndex
    cudf.from_pandas = _from_pandas
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    monkeypatch.setitem(sys.modules, "cupyx.scipy.sparse", cpsp)
    monkeypatch.setitem(sys.modules, "cudf", cudf)
    return types.SimpleNamespace(cupy=cupy, cudf=cudf)


class FakeDaskCudf:
    """Just enough of a Dask DataFrame with cuDF partitions for ``map_method``: its
    ``map_partitions`` runs the function on every partition at once."""

    def __init__(self, parts):
        self.parts = [FakeCudfDataFrame(p) for p in parts]
        self._meta = FakeCudfDataFrame(parts[0].iloc[:0])
        self._meta_nonempty = FakeCudfDataFrame(parts[0].iloc[:2])
        self.columns = parts[0].columns

    def map_partitions(self, func, *args, meta=None):
        args = [a.compute() if isinstance(a, Delayed) else a for a in args]
        return [func(part, *args) for part in self.parts], meta


def _host(obj):
    obj = to_host(obj)
    return obj.to_numpy() if hasattr(obj, "to_numpy") else np.asarray(obj)


# ------------------------------------------- 1. cuML results on dask-cuDF
class FakeCumlClassifier:
    """Answers cuDF input as cuML does: cuDF output, columns 0..k-1, the input's index."""

    def __init__(self, classes=(0, 1, 2)):
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = 2

    def _scores(self, X):
        assert isinstance(X, FakeCudfDataFrame), type(X)
        x = X.to_pandas().to_numpy(dtype=float)
        k = len(self.classes_)
        raw = np.exp(np.stack([x[:, 0] * (j + 1) + x[:, 1] for j in range(k)], axis=1) / 10)
        return raw / raw.sum(axis=1, keepdims=True), X.to_pandas().index

    def predict_proba(self, X):
        p, index = self._scores(X)
        return FakeCudfDataFrame(pd.DataFrame(p, index=index))  # columns 0..k-1

    def decision_function(self, X):
        return self.predict_proba(X)

    def transform(self, X):
        return self.predict_proba(X)

    def predict(self, X):
        p, index = self._scores(X)
        return FakeCudfSeries(pd.Series(self.classes_[p.argmax(axis=1)], index=index))


FakeCumlClassifier.__module__ = "cuml.naive_bayes"  # estimator_home: the device


def _frames(index_sets):
    rng = np.random.default_rng(0)
    return [pd.DataFrame(rng.normal(size=(len(ix), 2)), columns=["a", "b"], index=ix)
            for ix in index_sets]


@pytest.mark.parametrize("method", ["predict_proba", "decision_function", "transform"])
def test_cuml_frame_output_on_cudf_partitions_without_meta(gpu_standins, method):
    parts = _frames([[0, 1, 2], [3, 4]])
    est = FakeCumlClassifier()
    results, meta = map_method(FakeDaskCudf(parts), est, method, DEVICE)
    assert isinstance(meta, FakeCudfDataFrame) and meta.shape == (0, 3)
    for part, out in zip(parts, results, strict=True):
        want, _ = est._scores(FakeCudfDataFrame(part))
        np.testing.assert_allclose(out.to_pandas().to_numpy(), want)
        assert out.to_pandas().index.tolist() == part.index.tolist()


def test_cuml_probabilities_keep_their_columns_with_a_meta(gpu_standins):
    parts = _frames([[0, 1, 2], [3, 4]])
    est = FakeCumlClassifier(classes=[1, 2, 3])
    results, meta = map_method(FakeDaskCudf(parts), est, "predict_proba", DEVICE,
                               meta=np.empty((0, 3)))
    for part, out in zip(parts, results, strict=True):
        got = out.to_pandas()
        want, _ = est._scores(FakeCudfDataFrame(part))
        assert got.columns.tolist() == [1, 2, 3]
        np.testing.assert_allclose(got.to_numpy(), want)  # not shifted, no null column


def test_cuml_predictions_on_partitions_with_repeated_index_labels(gpu_standins):
    parts = _frames([[7, 7, 8], [9, 9]])
    est = FakeCumlClassifier()
    results, meta = map_method(FakeDaskCudf(parts), est, "predict", DEVICE)
    for part, out in zip(parts, results, strict=True):
        got = out.to_pandas()
        assert got.index.tolist() == part.index.tolist()
        want, _ = est._scores(FakeCudfDataFrame(part))
        np.testing.assert_array_equal(got.to_numpy(), est.classes_[want.argmax(axis=1)])


def test_cuml_cudf_output_becomes_cupy_in_apply_method(gpu_standins):
    part = FakeCudfDataFrame(_frames([[0, 1]])[0])
    out = apply_method(part, FakeCumlClassifier(), "predict_proba", DEVICE)
    assert isinstance(out, FakeCupyArray) and out.shape == (2, 3)


# ------------------------------- 2. host estimators with text output on cuDF
def _text_classifier():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] > 0, "yes", "no").astype(object)
    return GaussianNB().fit(X, y), X


def test_host_classifier_with_text_labels_predicts_on_cudf_partitions(gpu_standins):
    clf, _ = _text_classifier()
    parts = _frames([[5, 5, 6], [1, 2]])
    results, meta = map_method(FakeDaskCudf(parts), clf, "predict", HOST)
    assert isinstance(meta, FakeCudfSeries)
    for part, out in zip(parts, results, strict=True):
        assert isinstance(out, FakeCudfSeries)
        got = out.to_pandas()
        assert got.index.tolist() == part.index.tolist()
        assert got.tolist() == clf.predict(part.to_numpy()).tolist()


def test_apply_method_on_a_cudf_block_gives_text_as_cudf(gpu_standins):
    clf, X = _text_classifier()
    block = FakeCudfDataFrame(pd.DataFrame(X[:5]))
    out = apply_method(block, clf, "predict", HOST)
    # what gpuinc.metrics does with a response: to_host, then NumPy
    assert _host(out).tolist() == clf.predict(X[:5]).tolist()
    empty = apply_method(FakeCudfDataFrame(pd.DataFrame(X[:0])), clf, "predict", HOST,
                         out_meta=np.empty(0, dtype=object))
    assert isinstance(empty, FakeCudfSeries) and len(empty) == 0
    # numbers still travel as CuPy arrays
    numbers = apply_method(block, clf, "predict_proba", HOST)
    assert isinstance(numbers, FakeCupyArray) and numbers.shape == (5, 2)


class _TextTransformer:
    n_features_in_ = 2

    def transform(self, X):
        X = np.asarray(X)
        return np.where(X > 0, "pos", "neg").astype(object)


def test_two_dimensional_text_output_on_cudf_partitions(gpu_standins):
    parts = _frames([[3, 4, 5]])
    results, meta = map_method(FakeDaskCudf(parts), _TextTransformer(), "transform", HOST)
    out = results[0]
    assert isinstance(out, FakeCudfDataFrame)
    got = out.to_pandas()
    assert got.index.tolist() == [3, 4, 5] and got.shape == (3, 2)
    assert got.to_numpy().tolist() == _TextTransformer().transform(parts[0]).tolist()


# -------------------------------- 3. numeric pandas frames on the device path
MIXED = [
    pd.DataFrame({"flag": [True, False, True], "x": [0.5, 1.5, 2.5]}),
    pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"),
                  "b": pd.array([True, None, False], dtype="boolean"),
                  "f": pd.array([0.5, 1.0, None], dtype="Float64")}),
    pd.DataFrame({"n": pd.array([1, 2, 3], dtype="Int64"), "f": np.float32([1, 2, 3])}),
]


@pytest.mark.parametrize("frame", MIXED)
def test_numeric_pandas_frames_go_to_the_device(gpu_standins, frame):
    out = to_device(frame)
    assert isinstance(out, FakeCupyArray) and out.dtype.kind in "biuf"
    want = frame.astype("float64").to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_array_equal(out.get().astype(float), want)


class _Ops:
    """The CUDA operations DeviceMover asks of CuPy, done on host memory."""

    class _Event:
        done = True

        def synchronize(self):
            pass

    class Array:
        def __init__(self, data):
            self.data, self.shape, self.dtype = data, data.shape, data.dtype

    def on_device(self):
        return nullcontext()

    def on_stream(self, stream):
        return nullcontext()

    def new_stream(self):
        return "copy"

    def current_stream(self):
        return "consumer"

    def empty(self, shape, dtype):
        return self.Array(np.zeros(shape, dtype=dtype))

    def empty_pinned(self, nbytes):
        return np.zeros(nbytes, dtype=np.uint8)

    def is_device(self, obj):
        return isinstance(obj, self.Array)

    def is_pinned(self, arr):
        return False

    def copy_async(self, out, offset, src, nbytes, stream):
        dst = out.data.reshape(-1).view(np.uint8)
        dst[offset:offset + nbytes] = src.reshape(-1).view(np.uint8)[:nbytes]

    def record(self, stream):
        return self._Event()

    def wait_event(self, stream, event):
        pass


@pytest.mark.parametrize("frame", MIXED)
def test_device_mover_takes_numeric_pandas_frames(frame):
    from gpuinc._gpu import DeviceMover

    mover = DeviceMover(_ops=_Ops())
    out = mover.ready(mover.submit(frame))
    assert out.dtype.kind in "biuf"
    want = frame.astype("float64").to_numpy(dtype=float, na_value=np.nan)
    np.testing.assert_array_equal(out.data.astype(float), want)


def test_text_frames_are_still_refused_with_a_clear_message(gpu_standins):
    from gpuinc._gpu import DeviceMover

    mover = DeviceMover(_ops=_Ops())
    with pytest.raises(TypeError, match="only numeric and boolean"):
        mover.submit(pd.DataFrame({"a": ["x", "y"], "b": [1.0, 2.0]}))


# ------------------------------------------------- 4. the CLI and text targets
@pytest.fixture
def text_data(tmp_path):
    rng = np.random.default_rng(0)

    def part():
        df = pd.DataFrame(rng.normal(size=(40, 2)), columns=["f0", "f1"])
        return df.assign(label=np.where(df["f0"] > 0, "yes", "no"))

    return parquet_parts(tmp_path / "train", [part() for _ in range(3)])


def _run(capsys, *argv):
    from gpuinc.cli import main

    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def _train_on_text(capsys, folder, model, *extra):
    return _run(capsys, "train", folder, "--target", "label", "--workers", "0",
                "--blocksize", "None", "--validation", "0", *extra, "--out", model)


def _pretend_gpu(monkeypatch):
    """What ``--device auto`` sees on a GPU machine (with --workers 0)."""
    import gpuinc._optional

    monkeypatch.setattr(gpuinc._optional, "gpu_available", lambda: True)


def test_cli_text_target_trains_on_the_cpu_with_device_auto(tmp_path, text_data, capsys,
                                                            monkeypatch):
    folder, _ = text_data
    _pretend_gpu(monkeypatch)
    model = tmp_path / "m.pkl"
    rc, out, err = _train_on_text(capsys, folder, model)
    assert rc == 0, err
    notes = [line for line in out.splitlines() if line.startswith("note: training on the CPU")]
    assert len(notes) == 1 and "'label'" in notes[0] and "text" in notes[0]
    assert "device cpu" in out


def test_cli_predict_keeps_a_text_class_model_on_the_host(tmp_path, text_data, capsys,
                                                          monkeypatch):
    folder, frame = text_data
    model = tmp_path / "m.pkl"
    rc, out, err = _train_on_text(capsys, folder, model, "--device", "cpu")
    assert rc == 0, err
    _pretend_gpu(monkeypatch)  # predict on a GPU machine, --device auto
    preds = tmp_path / "p.csv"
    rc, out, err = _run(capsys, "predict", model, folder, "--out", preds, "--workers", "0")
    assert rc == 0, err
    assert "note: predicting on the CPU" in out
    got = pd.read_csv(preds)["prediction"]
    want = load_model(model)["model"].predict(frame[["f0", "f1"]].astype("float32"))
    assert got.tolist() == np.asarray(want).tolist()


def test_cli_text_target_with_device_gpu_is_a_clear_error(tmp_path, text_data, capsys,
                                                          monkeypatch):
    folder, _ = text_data
    _pretend_gpu(monkeypatch)
    model = tmp_path / "m.pkl"
    rc, out, err = _train_on_text(capsys, folder, model, "--device", "gpu")
    assert rc == 2
    assert err.startswith("gpuinc: error: ") and err.count("\n") == 1, err
    assert "'label'" in err and "integers" in err and "--device cpu" in err
    assert "model:" not in out and not model.exists()  # refused before any training


def test_cli_numeric_target_keeps_the_gpu_choice(tmp_path, capsys, monkeypatch):
    import gpuinc._cli_data as cli_data

    seen = []

    class _Stop(Exception):
        pass

    def scheduler(device, workers):
        seen.append(device)
        raise _Stop

    monkeypatch.setattr(cli_data, "_scheduler", scheduler)
    folder = tmp_path / "train"
    folder.mkdir()
    pd.DataFrame({"f0": [0.0, 1.0, 2.0, 3.0], "label": [0, 1, 0, 1]}).to_parquet(
        folder / "a.parquet", index=False)
    with pytest.raises(_Stop):
        _run(capsys, "train", folder, "--target", "label", "--workers", "0", "--validation",
             "0", "--device", "gpu", "--out", tmp_path / "m.pkl")
    assert seen == ["gpu"]


# -------------------------------------------------------------- 5. smaller ones
def test_cudf_text_columns_get_the_not_numbers_message(gpu_standins):
    clf, _ = _text_classifier()
    part = pd.DataFrame({"a": [0.5, 1.0, 2.0], "b": ["x", "y", "z"]})
    with pytest.raises(ValueError, match=r"column\(s\) 'b' .* are not numbers"):
        map_method(FakeDaskCudf([part]), clf, "predict", HOST)


def test_float16_input_follows_the_host_rule_on_every_namespace():
    import array_api_compat.numpy as xp_compat

    from gpuinc.linear_model import SGDClassifier

    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float16)
    y = np.arange(20) % 2
    host = SGDClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    est = SGDClassifier(random_state=0)
    Xv = est._validate_device_X(xp_compat, X, reset=True, dtype=None, check_finite=True)
    assert Xv.dtype == host.coef_.dtype  # float64, as scikit-learn's validation gives
    assert Xv.dtype != np.float16


def test_text_output_on_cupy_blocks_is_refused_with_advice(gpu_standins):
    clf, X = _text_classifier()
    with pytest.raises(TypeError, match="encode the labels as integers"):
        apply_method(FakeCupyArray(X[:3]), clf, "predict", HOST)


def test_fused_kernel_is_not_tried_for_other_float_dtypes():
    import warnings

    from gpuinc.linear_model import _fused

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _fused.available(np.float16) is False


def test_device_meta_of_text_stays_numpy(gpu_standins):
    from gpuinc._blockwise import meta_sample

    clf, _ = _text_classifier()
    out, _ = meta_sample(np.empty(0, dtype=object), clf, "predict",
                         FakeDaskCudf(_frames([[0, 1]])))
    assert isinstance(out, np.ndarray) and out.dtype == object


# ------------- the estimator's own score of a device block, as partial_fit saw it
def test_own_score_of_a_cudf_block_runs_like_partial_fit_on_the_device(gpu_standins,
                                                                      monkeypatch):
    # an array-API scikit-learn estimator trained on the device is scored (scoring=None)
    # with CuPy input and array_api_dispatch on in the scoring thread, as partial_fit was
    import sklearn

    from gpuinc.metrics import _block_score

    monkeypatch.setenv("SCIPY_ARRAY_API", "1")  # scikit-learn asks for it with the dispatch
    seen = {}

    class Scored:
        def score(self, X, y, sample_weight=None):
            seen["dispatch"] = sklearn.get_config()["array_api_dispatch"]
            seen["types"] = [type(v).__name__ for v in (X, y, sample_weight)]
            return 0.5

    Scored.__module__ = "sklearn.fake"  # compute_context: a scikit-learn estimator
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.0]})
    x = FakeCudfDataFrame(frame)
    y = FakeCudfSeries(pd.Series([0, 1, 0]))
    w = FakeCudfSeries(pd.Series([1.0, 2.0, 1.0]))
    value, weight, n = _block_score(Scored(), x, y, w, DEVICE)
    assert (value, weight, n) == (0.5, 4.0, 3)
    assert seen == {"dispatch": True, "types": ["FakeCupyArray"] * 3}
    assert sklearn.get_config()["array_api_dispatch"] is False  # only while scoring


@pytest.mark.parametrize("dtype, want", [(np.int64, np.float64), (np.int32, np.float64),
                                         (np.uint8, np.float32), (np.longdouble, np.float64),
                                         (np.float32, np.float32), (bool, bool)])
def test_sparse_blocks_of_any_dtype_go_to_the_device(gpu_standins, monkeypatch, dtype, want):
    # cupyx's sparse matrices hold bool, float and complex values only (ValueError for
    # others): a vectorizer's integer counts go as floats that hold them exactly
    import scipy.sparse as sp

    made = []

    def csr_matrix(matrix):
        if matrix.dtype.char not in "?fdFD":
            raise ValueError("Only bool, float32, float64, complex64 and complex128 are "
                             "supported")
        made.append(matrix)
        return matrix

    cpsp = sys.modules["cupyx.scipy.sparse"]
    cpsp.csr_matrix = csr_matrix
    for name in ("cupyx", "cupyx.scipy"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    counts = sp.random(5, 4, density=0.5, format="csc", random_state=0, dtype=np.float64)
    counts.data = np.round(counts.data * 100)
    block = counts.astype(dtype)
    out = to_device(block)
    assert made and out.format == "csr" and out.dtype == want
    np.testing.assert_array_equal(out.toarray(), block.toarray().astype(want))
