"""Lazy blockwise methods: sparse Dask input, clear errors on bad input, honoured metas."""

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from arrays import text_label_frame
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.decomposition import IncrementalPCA
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.preprocessing import StandardScaler

from gpuinc import Incremental

N, F, CHUNK = 600, 5, 150


def sgd():
    return SGDClassifier(loss="log_loss", tol=1e-3, random_state=0)


@pytest.fixture(scope="module")
def sparse_data():
    rng = np.random.RandomState(0)
    Xn = rng.rand(N, F) * (rng.rand(N, F) > 0.5)
    yn = (Xn[:, 0] > 0.25).astype(int)
    Xs = sp.csr_matrix(Xn)
    X = da.from_array(Xs, chunks=(CHUNK, F), asarray=False)
    y = da.from_array(yn, chunks=CHUNK)
    return X, y, Xs, yn


@pytest.fixture(scope="module")
def dense_data():
    rng = np.random.RandomState(1)
    Xn = rng.rand(N, F)
    yn = (Xn[:, 0] + Xn[:, 1] > 1).astype(int)
    return da.from_array(Xn, chunks=CHUNK), da.from_array(yn, chunks=CHUNK), Xn, yn


@pytest.fixture(scope="module")
def fitted(dense_data):
    X, y, _, _ = dense_data
    return Incremental(sgd(), shuffle_blocks=False).fit(X, y)


def _frame(Xn, npartitions=4):
    pdf = pd.DataFrame(Xn, columns=[f"f{i}" for i in range(Xn.shape[1])])
    return pdf, dd.from_pandas(pdf, npartitions=npartitions)


# ------------------------------------------------------------ test estimators
def _log_of_positive(X):
    X = np.asarray(X)
    if (X <= 0).any():
        raise ValueError("features must be > 0")
    return np.log(X)


class PositiveOnly(RegressorMixin, BaseEstimator):
    """A regressor defined only for strictly positive features (it works on log X)."""

    def partial_fit(self, X, y):
        self.coef_ = np.linalg.lstsq(np.log(np.asarray(X)), np.asarray(y), rcond=None)[0]
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return _log_of_positive(X) @ self.coef_


class PositiveOnlyClassifier(ClassifierMixin, BaseEstimator):
    """Class probabilities from log features: undefined on a row of zeros."""

    def partial_fit(self, X, y, classes=None):
        self.classes_ = np.asarray(classes if classes is not None else np.unique(y))
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X):
        score = _log_of_positive(X).sum(axis=1)
        p = 1 / (1 + np.exp(-score))
        cols = [p * (k + 1) for k in range(len(self.classes_))]
        out = np.stack(cols, axis=1)
        return out / out.sum(axis=1, keepdims=True)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class PositiveOnlyTransformer(TransformerMixin, BaseEstimator):
    """log(X) @ a fixed projection to n_components columns: undefined on zeros."""

    def __init__(self, n_components=2):
        self.n_components = n_components

    def partial_fit(self, X, y=None):
        X = np.asarray(X)
        self.n_features_in_ = X.shape[1]
        self.n_components_ = self.n_components
        self.components_ = np.arange(X.shape[1] * self.n_components, dtype=float).reshape(
            X.shape[1], self.n_components)
        return self

    def transform(self, X):
        X = np.asarray(X)
        if (X <= 0).any():
            raise ValueError("features must be > 0")
        return np.log(X) @ self.components_


@pytest.fixture(scope="module")
def positive_data():
    rng = np.random.RandomState(0)
    Xn = rng.rand(N, 3) + 0.5
    yn = np.log(Xn) @ [1.0, 2.0, 3.0]
    return da.from_array(Xn, chunks=CHUNK), da.from_array(yn, chunks=CHUNK), Xn, yn


# ------------------------------------------------------------ sparse Dask input
@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "predict_log_proba", "decision_function"]
)
def test_sparse_dask_methods_equal_in_memory(sparse_data, method):
    X, y, Xs, _ = sparse_data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y)
    out = getattr(inc, method)(X)
    assert isinstance(out, da.Array)
    expected = getattr(inc.estimator_, method)(Xs)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    got = out.compute()
    assert isinstance(got, np.ndarray)  # dense predictions out of sparse blocks
    np.testing.assert_allclose(got, expected)


def test_sparse_dask_predict_column_chunks_and_empty_blocks(sparse_data):
    X, y, Xs, yn = sparse_data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y)
    Xc = da.from_array(Xs, chunks=(CHUNK, 2), asarray=False)  # several column blocks
    np.testing.assert_array_equal(inc.predict(Xc).compute(), inc.estimator_.predict(Xs))
    keep = np.ones(N, bool)
    keep[CHUNK:2 * CHUNK] = False  # one block of the filtered array has zero rows
    Xe = X[da.from_array(keep, chunks=CHUNK)]
    np.testing.assert_array_equal(inc.predict(Xe).compute(), inc.estimator_.predict(Xs[keep]))
    assert inc.predict_proba(Xe).compute().shape == (int(keep.sum()), 2)


def test_sparse_dask_transform_keeps_sparse_blocks(sparse_data):
    X, _, Xs, _ = sparse_data
    inc = Incremental(StandardScaler(with_mean=False), shuffle_blocks=False).fit(X)
    out = inc.transform(X)
    assert isinstance(out, da.Array) and sp.issparse(out._meta)
    expected = inc.estimator_.transform(Xs)
    got = out.compute()
    assert sp.issparse(got) and got.shape == expected.shape
    np.testing.assert_allclose(got.toarray(), expected.toarray())
    keep = np.ones(N, bool)
    keep[:CHUNK] = False
    got = inc.transform(X[da.from_array(keep, chunks=CHUNK)]).compute()
    np.testing.assert_allclose(got.toarray(), expected[keep].toarray())


def test_sparse_dask_transform_dense_output(sparse_data):
    from sklearn.cluster import MiniBatchKMeans

    X, _, Xs, _ = sparse_data
    inc = Incremental(MiniBatchKMeans(n_clusters=3, n_init=1, random_state=0),
                      shuffle_blocks=False).fit(X)
    out = inc.transform(X)  # sparse blocks in, dense distances out
    assert out.shape == (N, 3) and isinstance(out._meta, np.ndarray)
    np.testing.assert_allclose(out.compute(), inc.estimator_.transform(Xs))
    np.testing.assert_array_equal(inc.predict(X).compute(), inc.estimator_.predict(Xs))


# ------------------------------------------------------------ bad input
def test_wrong_number_of_features_is_the_estimator_message(fitted, dense_data):
    X, _, Xn, _ = dense_data
    with pytest.raises(ValueError) as in_memory:
        fitted.predict(Xn[:, :3])
    for method in ["predict", "predict_proba", "decision_function"]:
        with pytest.raises(ValueError, match="X has 3 features, but SGDClassifier is "
                                             "expecting 5 features") as lazy:
            getattr(fitted, method)(X[:, :3])  # raised at call time: nothing is computed
        assert "meta" not in str(lazy.value)
    assert str(lazy.value) == str(in_memory.value)


def test_wrong_number_of_features_with_predict_meta(dense_data):
    X, y, _, _ = dense_data
    inc = Incremental(sgd(), predict_meta=np.array([0])).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features, but SGDClassifier is expecting 5") as exc:
        inc.predict(X[:, :3])
    assert "zeros" not in str(exc.value) and "meta" not in str(exc.value)


def test_wrong_number_of_features_dataframe(fitted, dense_data):
    _, _, Xn, _ = dense_data
    _, ddf = _frame(Xn)
    with pytest.raises(ValueError, match="X has 2 features, but SGDClassifier is expecting 5") as exc:
        fitted.predict(ddf[["f0", "f1"]])
    assert "zeros" not in str(exc.value)


def test_wrong_feature_names_dataframe(dense_data):
    _, _, Xn, yn = dense_data
    pdf, ddf = _frame(Xn)
    inc = Incremental(sgd()).fit(ddf, dd.from_pandas(pd.Series(yn), npartitions=4))
    renamed = ddf.rename(columns={"f4": "other"})
    with pytest.raises(ValueError) as in_memory:
        inc.estimator_.predict(pdf.rename(columns={"f4": "other"}))
    with pytest.raises(ValueError, match="feature names should match") as lazy:
        inc.predict(renamed)
    assert "Feature names unseen at fit time:\n- other" in str(lazy.value)
    assert str(lazy.value) == str(in_memory.value)
    with pytest.raises(ValueError, match="same order"):
        inc.predict(ddf[list(reversed(ddf.columns))])


def test_one_dimensional_dask_array(fitted, dense_data):
    X, _, Xn, _ = dense_data
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        fitted.predict(Xn[:, 0])
    with pytest.raises(ValueError, match=r"Expected 2D array, got 1D array(.|\n)*reshape\(-1, 1\)"):
        fitted.predict(X[:, 0])
    with pytest.raises(ValueError, match="Expected 2D array, got 3D array"):
        fitted.predict(X[:, :, None])


def test_dask_series(fitted, dense_data):
    _, _, Xn, _ = dense_data
    s = dd.from_pandas(pd.Series(Xn[:, 0]), npartitions=4)
    with pytest.raises(ValueError, match="Expected a 2-dimensional container") as exc:
        fitted.predict(s)
    assert "meta" not in str(exc.value)


def test_meta_advice_only_when_zeros_fail(positive_data):
    X, y, _, _ = positive_data
    inc = Incremental(PositiveOnly()).fit(X, y)
    with pytest.raises(ValueError, match="one row of zeros.*features must be > 0.*predict_meta="):
        inc.predict(X)


# ------------------------------------------------------------ metas
def test_predict_meta_replaces_the_zeros_probe(positive_data):
    X, y, Xn, _ = positive_data
    inc = Incremental(PositiveOnly(), predict_meta=np.array([0.0])).fit(X, y)
    out = inc.predict(X)
    assert isinstance(out, da.Array) and out.dtype == np.float64 and out.shape == (N,)
    np.testing.assert_allclose(out.compute(), inc.estimator_.predict(Xn))
    # DataFrames: a Series out, empty partitions included
    pdf, ddf = _frame(Xn)
    pdf.columns = ddf.columns = list(range(3))
    ddf = dd.from_pandas(pdf, npartitions=4)
    pred = inc.predict(ddf)
    assert isinstance(pred, dd.Series)
    np.testing.assert_allclose(pred.compute().to_numpy(), inc.estimator_.predict(Xn))
    assert len(inc.predict(ddf[ddf[0] > 1e9]).compute()) == 0


def test_predict_meta_dtype_only(positive_data):
    X, y, Xn, _ = positive_data
    for meta in [np.float64, "float64", np.dtype("float64"), np.float64(0), [0.0]]:
        inc = Incremental(PositiveOnly(), predict_meta=meta).fit(X, y)
        out = inc.predict(X)
        assert out.ndim == 1 and out.dtype == np.float64
    np.testing.assert_allclose(out.compute(), inc.estimator_.predict(Xn))


@pytest.mark.parametrize("meta", [
    np.empty((0, 0)),                   # width from classes_
    np.array([[0.2, 0.3, 0.5]]),        # dask-ml style: one example row
    np.empty((0, 3)),
    np.float64,
])
def test_predict_proba_meta_replaces_the_probe(positive_data, meta):
    X, _, Xn, _ = positive_data
    yc = da.from_array(np.arange(N) % 3, chunks=CHUNK)
    inc = Incremental(PositiveOnlyClassifier(), predict_proba_meta=meta).fit(X, yc)
    out = inc.predict_proba(X)
    assert out.shape == (N, 3) and out.dtype == np.float64
    np.testing.assert_allclose(out.compute(), inc.estimator_.predict_proba(Xn))
    _, ddf = _frame(Xn)
    inc_frame = Incremental(PositiveOnlyClassifier(), predict_proba_meta=meta).fit(
        ddf, dd.from_pandas(pd.Series(np.arange(N) % 3), npartitions=4))
    proba = inc_frame.predict_proba(ddf)
    assert isinstance(proba, dd.DataFrame) and list(proba.columns) == [0, 1, 2]
    np.testing.assert_allclose(proba.compute().to_numpy(), inc.estimator_.predict_proba(Xn))


def test_predict_proba_meta_conflicting_with_classes(positive_data):
    X, _, _, _ = positive_data
    yc = da.from_array(np.arange(N) % 3, chunks=CHUNK)
    inc = Incremental(PositiveOnlyClassifier(), predict_proba_meta=np.empty((0, 2))).fit(X, yc)
    with pytest.raises(ValueError, match="describes 2 columns.*3 classes"):
        inc.predict_proba(X)
    inc.set_params(predict_proba_meta=np.array([0.0]))
    with pytest.raises(ValueError, match="describes a 1-D output.*3 classes"):
        inc.predict_proba(X)


def test_transform_meta_width_from_meta_or_estimator(positive_data):
    X, _, Xn, _ = positive_data
    for meta in [np.empty((0, 0)), np.empty((0, 4)), np.zeros((1, 4), dtype=np.float64)]:
        inc = Incremental(PositiveOnlyTransformer(n_components=4), transform_meta=meta).fit(X)
        out = inc.transform(X)
        assert out.shape == (N, 4)
        np.testing.assert_allclose(out.compute(), inc.estimator_.transform(Xn))


def test_transform_meta_without_a_width_is_refused(positive_data):
    X, _, _, _ = positive_data

    class NoWidth(PositiveOnlyTransformer):
        def partial_fit(self, X, y=None):
            super().partial_fit(X)
            del self.n_components_
            return self

    inc = Incremental(NoWidth(), transform_meta=np.empty((0, 0))).fit(X)
    with pytest.raises(ValueError, match=r"cannot tell its number of columns.*\(0, n_columns\)"):
        inc.transform(X)


class UnsizedTransformer(PositiveOnlyTransformer):
    """Does not tell its output width (no ``n_components_``)."""

    def partial_fit(self, X, y=None):
        super().partial_fit(X, y)
        del self.n_components_
        return self


def test_meta_with_the_wrong_shape_fails_clearly_at_compute(positive_data):
    X, _, _, _ = positive_data
    inc = Incremental(PositiveOnlyTransformer(n_components=2), transform_meta=np.empty((0, 3)))
    with pytest.raises(ValueError, match=r"describes 3 columns.*gives 2 columns"):
        inc.fit(X).transform(X)  # the width is known: refused when built
    inc = Incremental(UnsizedTransformer(n_components=2), transform_meta=np.empty((0, 3)))
    out = inc.fit(X).transform(X)
    assert out.shape == (N, 3)  # what the meta said
    with pytest.raises(ValueError, match=r"returned an array of shape \(150, 2\).*transform_meta="):
        out.compute()
    inc = Incremental(PositiveOnlyTransformer(), transform_meta=np.array([0.0])).fit(X)
    with pytest.raises(ValueError, match="set up for 1-D output"):
        inc.transform(X).compute()


def test_meta_dtype_is_the_lazy_dtype(dense_data):
    X, y, Xn, _ = dense_data
    inc = Incremental(sgd(), predict_meta=np.array([0], dtype=np.int64)).fit(X, y)
    out = inc.predict(X)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.compute(), inc.estimator_.predict(Xn))


# ------------------------------------------------------------ unchanged behaviour
@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_dense_and_frame_outputs_unchanged(fitted, dense_data):
    X, _, Xn, _ = dense_data
    est = fitted.estimator_
    for method in ["predict", "predict_proba", "predict_log_proba", "decision_function"]:
        out = getattr(fitted, method)(X)
        assert isinstance(out, da.Array) and out.dtype == getattr(est, method)(Xn[:2]).dtype
        np.testing.assert_allclose(out.compute(), getattr(est, method)(Xn))
    _, ddf = _frame(Xn)
    pred = fitted.predict(ddf)
    assert isinstance(pred, dd.Series)
    assert isinstance(fitted.predict_proba(ddf), dd.DataFrame)
    assert list(fitted.predict_proba(ddf).columns) == [0, 1]
    np.testing.assert_array_equal(pred.compute().to_numpy(), est.predict(Xn))
    assert fitted.predict(ddf[ddf.f0 > 1e9]).compute().shape == (0,)
    assert fitted.predict_proba(ddf[ddf.f0 > 1e9]).compute().shape == (0, 2)


def test_regressor_dataframe_and_in_memory_unchanged(dense_data):
    X, _, Xn, _ = dense_data
    yr = da.from_array(Xn @ np.arange(F), chunks=CHUNK)
    inc = Incremental(SGDRegressor(random_state=0)).fit(X, yr)
    np.testing.assert_allclose(inc.predict(X).compute(), inc.estimator_.predict(Xn))
    np.testing.assert_allclose(inc.predict(Xn), inc.estimator_.predict(Xn))
    assert dask.is_dask_collection(inc.predict(X))


class FirstColumnTwice(RegressorMixin, BaseEstimator):
    """Takes DataFrames with non-numeric columns; predicts 2 * column "a"."""

    def partial_fit(self, X, y):
        return self

    def predict(self, X):
        assert isinstance(X, pd.DataFrame)
        return X["a"].to_numpy() * 2.0


def test_frame_probe_with_non_numeric_columns():
    pdf = pd.DataFrame({"a": np.arange(10.0), "c": pd.Categorical(list("xyxyxyxyxy")),
                        "s": list("abcdefghij")})
    ddf = dd.from_pandas(pdf, npartitions=3)
    y = dd.from_pandas(pd.Series(np.arange(10.0)), npartitions=3)
    inc = Incremental(FirstColumnTwice()).fit(ddf, y)
    pred = inc.predict(ddf)
    assert isinstance(pred, dd.Series) and pred.dtype == np.float64
    np.testing.assert_array_equal(pred.compute().to_numpy(), 2 * np.arange(10.0))


def test_transform_meta_conflicting_with_the_output_width():
    from sklearn.preprocessing import StandardScaler

    X = da.from_array(np.arange(60.0).reshape(20, 3), chunks=(5, 3))
    inc = Incremental(StandardScaler(), transform_meta=np.empty((0, 1))).fit(X)
    with pytest.raises(ValueError, match=r"describes 1 columns, but StandardScaler.transform "
                                         r"gives 3 columns; pass an array of shape \(0, 3\)"):
        inc.transform(X)  # refused when built, not inside compute()
    inc.set_params(transform_meta=np.empty((0, 3)))
    np.testing.assert_allclose(inc.transform(X).compute(), inc.estimator_.transform(X.compute()))


def test_blocks_come_in_the_dtype_the_meta_promised(dense_data):
    # the lazy result said float32 while compute() gave int64 labels
    X, y = dense_data[:2]
    inc = Incremental(sgd(), predict_meta=np.array([0], dtype="float32")).fit(X, y)
    pred = inc.predict(X)
    assert pred.dtype == "float32" and pred.compute().dtype == "float32"
    # a cast that would change values (labels into a boolean or a narrower meta) is refused
    for meta in (np.array([True]), np.array([0], dtype="int8")):
        inc = Incremental(sgd(), predict_meta=meta).fit(X, y)
        with pytest.raises(ValueError, match=rf"returned int64 values, but the lazy result was "
                                             rf"set up for {meta.dtype}; fix predict_meta="):
            inc.predict(X).compute()


def test_text_labels_keep_their_width_whatever_the_meta_says(dense_data):
    # predict_meta=str is a one-character meta: casting to it cut "cat" to "c"
    X, y, Xn, yn = dense_data
    labels = np.where(yn == 1, "horse", "cat")
    inc = Incremental(sgd(), predict_meta=np.array([], dtype=str)).fit(
        X, da.from_array(labels, chunks=X.chunks[0]))
    got = inc.predict(X).compute()
    assert set(got) <= {"horse", "cat"} and len(set(got)) == 2


def test_outputs_that_are_lists_get_a_clear_error(dense_data):
    # MultiOutputClassifier.predict_proba: one array per output; the lazy result died
    # with "'list' object has no attribute 'dtype'"
    from sklearn.multioutput import MultiOutputClassifier

    X, y, Xn, yn = dense_data
    Y = da.stack([y, 1 - y], axis=1)
    inc = Incremental(MultiOutputClassifier(SGDClassifier(loss="log_loss", random_state=0)),
                      scoring="neg_log_loss").fit(X, Y)
    assert len(inc.predict_proba(Xn)) == 2  # in memory it is the estimator's own list
    with pytest.raises(TypeError, match="returns a list of 2 arrays .* one blockwise result"):
        inc.predict_proba(X)
    with pytest.raises(ValueError, match="neg_log_loss needs MultiOutputClassifier.predict_proba"):
        inc.score(X, Y)


def test_a_sparse_meta_for_a_dense_output_gives_sparse_blocks():
    # the meta said sparse, the blocks came dense: code trusting the meta broke
    X = da.from_array(np.random.RandomState(0).randn(400, 3), chunks=(100, 3))
    inc = Incremental(StandardScaler(), transform_meta=sp.csr_matrix((0, 3)))
    out = inc.fit(X).transform(X)
    blocks = [b.compute() for b in out.blocks]
    assert all(isinstance(b, sp.csr_matrix) and b.dtype == np.float64 for b in blocks)
    dense = inc.estimator_.transform(X.compute())
    assert np.allclose(out.map_blocks(lambda b: b.toarray(), dtype=float).compute(), dense)


@pytest.mark.parametrize("meta", [pd.Series([], dtype="string"), pd.Series([], dtype="category"),
                                  "string"])
def test_a_pandas_extension_dtype_meta_is_refused_naming_the_parameter(meta):
    ddf = text_label_frame(npartitions=4)
    inc = Incremental(SGDClassifier(random_state=0), predict_meta=meta)
    inc.fit(ddf[list("abc")], ddf.y)
    with pytest.raises(ValueError, match=r"predict_meta has the dtype .* not a NumPy dtype.*"
                                         r"dtype=object"):
        inc.predict(ddf[list("abc")])


@pytest.mark.parametrize("fmt", ["coo", "dia", "bsr", "csc"])
def test_a_sparse_meta_of_a_format_dask_cannot_slice_gives_csr_blocks(fmt):
    X = da.from_array(np.random.RandomState(0).randn(400, 3), chunks=(100, 3))
    meta = sp.csr_matrix((0, 3)).asformat(fmt)
    out = Incremental(StandardScaler(), transform_meta=meta).fit(X).transform(X)
    expected = "csc" if fmt == "csc" else "csr"
    assert all(b.compute().format == expected for b in out.blocks)
    assert out[:10].compute().shape == (10, 3)


def test_setting_up_a_lazy_transform_says_nothing_of_the_probe_row():
    import warnings

    from sklearn.decomposition import MiniBatchNMF

    X = np.abs(np.random.RandomState(0).randn(200, 5))
    Xd = da.from_array(X, chunks=(50, 5))
    inc = Incremental(MiniBatchNMF(n_components=3, random_state=0)).fit(Xd)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the row of zeros divided by zero: 200 warnings
        lazy = inc.transform(Xd)
    assert lazy.shape == (200, 3)


class CountsPickles(SGDClassifier):
    pickled = 0

    def __getstate__(self):
        type(self).pickled += 1
        return super().__getstate__()


def test_setting_up_a_lazy_method_does_not_pickle_the_model():
    # dask hashed the model to name it: a pickle of the whole model on every call
    X = da.from_array(np.random.RandomState(0).randn(400, 3), chunks=(100, 3))
    y = (X[:, 0] > 0).astype(int)
    inc = Incremental(CountsPickles(loss="log_loss", random_state=0)).fit(X, y, classes=[0, 1])
    CountsPickles.pickled = 0
    lazy = [inc.predict(X), inc.predict_proba(X), inc.decision_function(X)]
    assert CountsPickles.pickled == 0
    np.testing.assert_array_equal(lazy[0].compute(), inc.estimator_.predict(X.compute()))


@pytest.mark.parametrize("make", [StandardScaler, lambda: IncrementalPCA(n_components=3)])
def test_inverse_transform_blockwise(make):
    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(N, 6))
    X = da.from_array(Xn, chunks=(CHUNK, 6))
    inc = Incremental(make(), shuffle_blocks=False).fit(X)
    est = inc.estimator_
    Z = inc.transform(X)
    back = inc.inverse_transform(Z)
    assert isinstance(back, da.Array) and back.chunks == ((CHUNK,) * 4, (6,))
    expected = est.inverse_transform(est.transform(Xn))
    np.testing.assert_allclose(back.compute(), expected)
    np.testing.assert_allclose(inc.inverse_transform(Z.compute()), expected)  # in memory
    # DataFrames: the partitions get back the columns the model was fitted on
    frame = dd.from_pandas(pd.DataFrame(Xn, columns=list("abcdef")), npartitions=4)
    inc = Incremental(make(), shuffle_blocks=False).fit(frame)
    back = inc.inverse_transform(inc.transform(frame))
    assert isinstance(back, dd.DataFrame) and list(back.columns) == list("abcdef")
    np.testing.assert_allclose(back.compute().to_numpy(),
                               inc.estimator_.inverse_transform(
                                   inc.estimator_.transform(frame.compute())))


def test_inverse_transform_of_untransformed_data_is_refused():
    X = da.from_array(np.random.default_rng(0).normal(size=(N, 6)), chunks=(CHUNK, 6))
    inc = Incremental(IncrementalPCA(n_components=3)).fit(X)
    with pytest.raises(ValueError, match=r"X has 6 columns, but IncrementalPCA.inverse_transform "
                                         r"takes the output of IncrementalPCA.transform, which "
                                         r"has 3"):
        inc.inverse_transform(X)
    assert not hasattr(Incremental(sgd()), "inverse_transform")


def test_score_samples_joint_log_proba_and_fit_predict_blockwise():
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.linear_model import SGDOneClassSVM
    from sklearn.naive_bayes import GaussianNB

    rng = np.random.default_rng(0)
    Xn = rng.random((N, 6))
    yn = np.where(Xn[:, 0] > 0.5, "y", "n")
    X = da.from_array(Xn, chunks=(CHUNK, 6))
    svm = Incremental(SGDOneClassSVM(random_state=0), shuffle_blocks=False)
    labels = svm.fit_predict(X)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), svm.estimator_.predict(Xn))
    scores = svm.score_samples(X)
    assert isinstance(scores, da.Array) and scores.shape == (N,)
    np.testing.assert_allclose(scores.compute(), svm.estimator_.score_samples(Xn))
    frame = dd.from_pandas(pd.DataFrame(Xn, columns=list("abcdef")), npartitions=4)
    nb = Incremental(GaussianNB(), shuffle_blocks=False).fit(
        frame, dd.from_pandas(pd.Series(yn), npartitions=4))
    joint = nb.predict_joint_log_proba(frame)
    assert isinstance(joint, dd.DataFrame) and list(joint.columns) == ["n", "y"]
    np.testing.assert_allclose(joint.compute().to_numpy(),
                               nb.estimator_.predict_joint_log_proba(frame.compute()))
    km = Incremental(MiniBatchKMeans(n_clusters=3, n_init=3, random_state=0),
                     shuffle_blocks=False)
    np.testing.assert_array_equal(km.fit_predict(Xn), km.estimator_.predict(Xn))  # in memory
    for name in ("score_samples", "predict_joint_log_proba", "fit_predict"):
        assert not hasattr(Incremental(sgd()), name)


# ------------------------------------------------------------ reviewed defects
class SparseOut(TransformerMixin, BaseEstimator):
    """transform returns CSR, as hashing / one-hot style transformers do."""

    def partial_fit(self, X, y=None):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        A = np.array(X, dtype=float)
        A[np.abs(A) < 1] = 0
        return sp.csr_matrix(A)


def test_sparse_output_of_a_dataframe_gives_pandas_sparse_columns():
    # a DataFrame of sparse blocks died in pandas: "Shape of passed values is (50, 1) ..."
    from sklearn.preprocessing import MaxAbsScaler

    Xn = np.random.RandomState(0).randn(200, 4)
    pdf, ddf = _frame(Xn)
    for inc in (Incremental(SparseOut()),
                Incremental(MaxAbsScaler(), transform_meta=sp.csr_matrix((0, 4)))):
        inc.fit(ddf)
        out = inc.transform(ddf)
        assert all(isinstance(dt, pd.SparseDtype) for dt in out.dtypes)
        got = out.compute()
        assert list(got.dtypes) == list(out.dtypes) and got.index.equals(pdf.index)
        expected = inc.estimator_.transform(pdf)
        expected = expected.toarray() if sp.issparse(expected) else expected
        np.testing.assert_allclose(got.sparse.to_dense().to_numpy(), expected)
        empty = inc.transform(ddf[ddf.f0 > 1e9]).compute()  # empty partitions only
        assert empty.shape == (0, 4) and list(empty.dtypes) == list(out.dtypes)


def test_a_dense_transform_meta_densifies_sparse_blocks():
    # the meta said ndarray, the blocks came as CSR
    Xn = np.random.RandomState(0).randn(200, 4)
    X = da.from_array(Xn, chunks=(50, 4))
    inc = Incremental(SparseOut(), transform_meta=np.empty((0, 4))).fit(X)
    out = inc.transform(X)
    blocks = [b.compute() for b in out.blocks]
    assert all(isinstance(b, np.ndarray) and b.dtype == np.float64 for b in blocks)
    np.testing.assert_array_equal(np.vstack(blocks), inc.estimator_.transform(Xn).toarray())


@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
def test_a_predict_meta_of_another_kind_than_the_labels(dense_data):
    # a numeric meta for text labels gave int64 lazily and '<U5' computed; an object meta
    # for integer labels gave object lazily and int64 computed
    X, y, Xn, yn = dense_data
    text = da.from_array(np.where(yn == 1, "horse", "cat"), chunks=CHUNK)
    _, ddf = _frame(Xn)
    for meta in (np.array([0]), np.float64):
        inc = Incremental(sgd(), predict_meta=meta).fit(X, text)
        with pytest.raises(ValueError, match=r"predict_meta describes (int64|float64) values, "
                                             r"but SGDClassifier.predict returns labels from its "
                                             r"classes_, which are text \(<U5\).*dtype=object"):
            inc.predict(X)
    inc = Incremental(sgd(), predict_meta=np.array([], dtype=str)).fit(X, y)
    with pytest.raises(ValueError, match=r"describes <U1 values.*which are numbers \(int64\)"):
        inc.predict(ddf)
    inc = Incremental(sgd(), predict_meta=np.array([], dtype=object)).fit(X, y)
    for lazy in (inc.predict(X), inc.predict(ddf), inc.predict(ddf[ddf.f0 < 0.3])):
        assert lazy.dtype == object
        got = lazy.compute()
        assert got.dtype == object and {type(v) for v in got.tolist()} == {int}
    np.testing.assert_array_equal(inc.predict(X).compute().astype(int),
                                  inc.estimator_.predict(Xn))


class TextRegressor(RegressorMixin, BaseEstimator):
    """No classes_: the lazy result cannot know that predict gives text."""

    def partial_fit(self, X, y):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return np.where(np.asarray(X)[:, 0] > 0.5, "high", "low")


def test_text_output_under_a_numeric_meta_is_refused_at_compute(dense_data):
    X, y = dense_data[:2]
    inc = Incremental(TextRegressor(), predict_meta=np.array([0.0])).fit(X, y)
    pred = inc.predict(X)
    assert pred.dtype == np.float64
    with pytest.raises(ValueError, match=r"TextRegressor.predict returned <U4 values \(text or "
                                         r"objects\), but the lazy result was set up for float64 "
                                         r"\(numbers\).*fix predict_meta="):
        pred.compute()


def test_a_text_vectorizer_takes_a_dask_series_or_a_1d_array():
    # HashingVectorizer (input tags: two_d_array=False) was told to pass X.to_frame(), and
    # that crashed in pandas; Incremental.fit cannot take a Series yet (see plan_blocks)
    from sklearn.feature_extraction.text import HashingVectorizer

    from gpuinc._blocks import plan_blocks
    from gpuinc._blockwise import map_method

    docs = pd.Series(["the cat sat", "a dog ran", "cats and dogs", "hello world"] * 10)
    ds = dd.from_pandas(docs, npartitions=4)
    arr = da.from_array(docs.to_numpy().astype(str), chunks=10)
    hv = HashingVectorizer(n_features=16)
    expected = hv.transform(docs).toarray()
    frame = map_method(ds, hv, "transform", "host")
    assert isinstance(frame, dd.DataFrame) and list(frame.columns) == list(range(16))
    np.testing.assert_allclose(frame.compute().sparse.to_dense().to_numpy(), expected)
    lazy = map_method(arr, hv, "transform", "host")
    assert lazy.shape == (40, 16) and sp.issparse(lazy._meta)
    np.testing.assert_allclose(lazy.compute().toarray(), expected)
    # X.to_frame() (the advice given to other estimators) is refused up front, not in pandas
    with pytest.raises(ValueError, match=r"HashingVectorizer.transform takes X as a 1-D sequence"
                                         r".*two_d_array=False.*X\['text'\]") as exc:
        map_method(ds.to_frame(), hv, "transform", "host")
    assert "to_frame" not in str(exc.value)
    with pytest.raises(ValueError, match=r"X is a 2-D array of shape \(40, 1\); pass a 1-D"):
        map_method(arr[:, None], hv, "transform", "host")
    # training blocks: 1-D X for such an estimator, 2-D X refused
    plan = plan_blocks(ds, estimator=hv)
    assert [len(b.x.compute()) for b in plan.blocks] == [10] * 4
    assert [b.x.compute().shape for b in plan_blocks(arr, estimator=hv).blocks] == [(10,)] * 4
    with pytest.raises(ValueError, match=r"HashingVectorizer.partial_fit takes X as a 1-D "
                                         r"sequence.*a DataFrame with 1 column"):
        plan_blocks(ds.to_frame(), estimator=hv)


@pytest.mark.parametrize("fmt", ["dok_matrix", "dok_array"])
def test_dok_input_is_sparse_input(sparse_data, fmt):
    # a DOK matrix subclasses dict: it was refused as "not array-like"
    X, y, Xs, yn = sparse_data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y)
    dok = getattr(sp, fmt)(Xs)
    np.testing.assert_array_equal(inc.predict(dok), inc.estimator_.predict(Xs))
    np.testing.assert_allclose(inc.decision_function(dok), inc.estimator_.decision_function(Xs))
    assert inc.score(dok, yn) == inc.estimator_.score(Xs, yn)
    refit = Incremental(sgd(), shuffle_blocks=False).fit(dok, yn)
    np.testing.assert_array_equal(refit.estimator_.coef_,
                                  Incremental(sgd(), shuffle_blocks=False).fit(Xs, yn)
                                  .estimator_.coef_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("meta", [np.float64, "float64", np.array(0.0)])
def test_a_bare_dtype_predict_meta_of_a_multi_output_estimator_is_2d(meta):
    # set up as 1-D: every block failed at compute with "returned an array of shape (50, 2)"
    from sklearn.neural_network import MLPRegressor

    Xn = np.random.RandomState(0).randn(200, 4)
    X = da.from_array(Xn, chunks=(50, 4))
    Y = da.from_array(Xn[:, :2], chunks=(50, 2))
    inc = Incremental(MLPRegressor(hidden_layer_sizes=(4,), random_state=0),
                      predict_meta=meta).fit(X, Y)
    out = inc.predict(X)
    assert out.shape == (200, 2) and out.dtype == np.float64
    np.testing.assert_allclose(out.compute(), inc.estimator_.predict(Xn))


def test_inverse_transform_of_an_unknown_number_of_columns():
    # the probe took n_features_in_ (6, the transform's input) for the transform's output (3)
    Xn = np.random.default_rng(0).normal(size=(N, 6))
    inc = Incremental(IncrementalPCA(n_components=3)).fit(da.from_array(Xn, chunks=(CHUNK, 6)))
    Z = inc.estimator_.transform(Xn)
    unknown = da.from_array(Z, chunks=(CHUNK, 3)).map_blocks(
        lambda b: b, chunks=((CHUNK,) * 4, (np.nan,)), dtype=float)
    assert np.isnan(unknown.shape[1])
    back = inc.inverse_transform(unknown)
    assert back.shape == (N, 6)
    np.testing.assert_allclose(back.compute(), inc.estimator_.inverse_transform(Z))


@pytest.mark.filterwarnings("ignore:X has feature names:UserWarning")
def test_nan_in_a_block_names_the_block_and_the_row(fitted, dense_data):
    # fit named block and row; predict gave scikit-learn's bare "Input X contains NaN"
    _, _, Xn, _ = dense_data
    bad = Xn.copy()
    bad[CHUNK + 23, 2] = np.nan
    with pytest.raises(ValueError, match=r"^block 1 \(rows 150:300\) of X contains NaN or "
                                         r"infinity; the first is in row 23 of the block \(row "
                                         r"173 of X\), which SGDClassifier.predict cannot take "
                                         r"\(Input X contains NaN.\).*da.nan_to_num") as exc:
        fitted.predict(da.from_array(bad, chunks=CHUNK)).compute()
    assert "Input X contains NaN" in str(exc.value.__cause__)
    pdf, ddf = _frame(bad)
    pdf.index = pdf.index + 1000
    with pytest.raises(ValueError, match=r"^block 1 of X contains NaN or infinity; the first is "
                                         r"in row 23 of the block \(index 1173\), which "
                                         r"SGDClassifier.predict_proba cannot take"):
        fitted.predict_proba(dd.from_pandas(pdf, npartitions=4)).compute()
    # in memory: scikit-learn's own error, unchanged
    with pytest.raises(ValueError, match="^Input X contains NaN"):
        fitted.predict(bad)


class FailsOnBigValues(RegressorMixin, BaseEstimator):
    def partial_fit(self, X, y):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        X = np.asarray(X)
        if (X > 10).any():
            raise KeyError("too big")
        return X[:, 0]


def test_other_errors_of_a_block_keep_their_type_with_a_note_naming_the_block(dense_data):
    X, y, Xn, _ = dense_data
    inc = Incremental(FailsOnBigValues()).fit(X, y)
    big = Xn.copy()
    big[2 * CHUNK + 5, 0] = 100.0
    with pytest.raises(KeyError, match="too big") as exc:
        inc.predict(da.from_array(big, chunks=CHUNK)).compute()
    assert exc.value.__notes__ == [
        "gpuinc: raised by FailsOnBigValues.predict on block 2 (rows 300:450) of X"]


def test_a_dask_array_of_text_is_not_numbers(fitted):
    # the message advised predict_meta=, which only moved the failure to compute time
    X = da.from_array(np.array([["a", "b", "c", "d", "e"]] * 20), chunks=(10, 5))
    with pytest.raises(ValueError, match=r"SGDClassifier.predict failed on X, whose values "
                                         r"\(<U1\) are not numbers .*Convert them first") as exc:
        fitted.predict(X)
    assert "predict_meta" not in str(exc.value) and "zeros" not in str(exc.value)
