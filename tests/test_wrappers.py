"""Incremental: equivalence with a hand loop, inputs, methods, sklearn plumbing."""

import pickle

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from arrays import misaligned_copy
from dask.base import is_dask_collection
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.decomposition import IncrementalPCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LinearRegression, SGDClassifier, SGDRegressor
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import MultinomialNB
from sklearn.preprocessing import StandardScaler

from gpuinc import Incremental
from gpuinc.datasets import make_classification, make_regression


def sgd(**kw):
    return SGDClassifier(loss="log_loss", tol=1e-3, random_state=0, **kw)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=3000, n_features=8, chunks=500, flip_y=0.1,
                               random_state=0)
    return X, y, X.compute(), y.compute()


def hand_loop(est, X_np, y_np, lengths, order=None, **kw):
    stops = np.cumsum(lengths)
    starts = stops - np.asarray(lengths)
    order = range(len(lengths)) if order is None else order
    for i in order:
        est.partial_fit(X_np[starts[i]:stops[i]], y_np[starts[i]:stops[i]], **kw)
    return est


# ---------------------------------------------------------------- equivalence
def test_fit_equals_hand_loop_threaded(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1])
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)
    assert np.array_equal(inc.intercept_, ref.intercept_)


def test_fit_equals_hand_loop_distributed(data, client):
    X, y, Xn, yn = data
    Xp, yp = dask.persist(X, y)
    inc = Incremental(sgd(), shuffle_blocks=False).fit(Xp, yp, classes=[0, 1])
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)
    assert inc.history_[0]["blocks"] == X.numblocks[0]


def test_partial_fit_continues(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd(), shuffle_blocks=False)
    inc.partial_fit(X, y, classes=[0, 1]).partial_fit(X, y, classes=[0, 1])
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1])
    ref = hand_loop(ref, Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)
    assert len(inc.history_) == 2


def test_set_params_between_partial_fits_reaches_the_model_they_continue(data):
    # as with scikit-learn's own partial_fit: a learning rate lowered between two calls
    X, y, Xn, yn = data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1])
    inc.set_params(estimator__learning_rate="constant", estimator__eta0=1e-4,
                   estimator__alpha=1e-2)
    inc.partial_fit(X, y, classes=[0, 1])
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1])
    ref.set_params(learning_rate="constant", eta0=1e-4, alpha=1e-2)
    ref = hand_loop(ref, Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)
    assert inc.estimator_.eta0 == 1e-4
    # unchanged since: nothing is set again
    inc.partial_fit(X, y, classes=[0, 1])
    ref = hand_loop(ref, Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)


def test_set_params_of_a_nested_estimator_reaches_the_model_partial_fit_continues(data):
    from sklearn.multiclass import OneVsRestClassifier

    X, y, _, _ = data
    inc = Incremental(OneVsRestClassifier(sgd()), shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1])
    template = inc.estimator_.estimator
    inc.set_params(estimator__estimator__alpha=0.5)
    inc.partial_fit(X, y, classes=[0, 1])
    assert inc.estimator_.estimator.alpha == 0.5
    assert template.alpha == 1e-4  # the fitted copy was changed, not an earlier one


def test_an_estimator_replaced_after_fit_is_not_continued_silently(data):
    X, y, _, _ = data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1])
    coef = inc.coef_.copy()
    inc.set_params(estimator=MultinomialNB())
    with pytest.raises(ValueError, match="replaced by a MultinomialNB after fit.*Call fit"):
        inc.partial_fit(X, y, classes=[0, 1])
    assert np.array_equal(inc.coef_, coef)
    # the same kind, other settings: they apply to the fitted model
    inc.set_params(estimator=sgd(alpha=0.25))
    inc.partial_fit(X, y, classes=[0, 1])
    assert inc.estimator_.alpha == 0.25


def test_fit_starts_fresh_and_never_mutates_user_estimator(data):
    X, y, _, _ = data
    user = sgd()
    inc = Incremental(user, shuffle_blocks=False)
    inc.fit(X, y, classes=[0, 1])
    first = inc.coef_.copy()
    inc.fit(X, y, classes=[0, 1])
    assert np.array_equal(first, inc.coef_)
    assert not hasattr(user, "coef_")
    assert inc.estimator_ is not user


def test_shuffled_order_reproducible_and_matches_loop(data):
    X, y, Xn, yn = data
    a = Incremental(sgd(), random_state=7).fit(X, y, classes=[0, 1])
    b = Incremental(sgd(), random_state=7).fit(X, y, classes=[0, 1])
    c = Incremental(sgd(), random_state=8).fit(X, y, classes=[0, 1])
    assert np.array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)
    # the order is a permutation: same model as the hand loop in that order
    from gpuinc.wrappers import _make_rng

    order = _make_rng(7, 0).permutation(np.arange(X.numblocks[0]))
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], order=order, classes=[0, 1])
    assert np.array_equal(a.coef_, ref.coef_)


def test_classes_computed_when_missing(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y)
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=np.array([0, 1]))
    assert np.array_equal(inc.coef_, ref.coef_)
    assert list(inc.classes_) == [0, 1]


def test_classes_of_a_dataframe_target_on_a_cluster_need_no_shuffle(client):
    import logging

    df = pd.DataFrame({"a": np.arange(600.0), "b": np.arange(600.0) % 7,
                       "t": np.arange(600) % 3})
    ddf = dd.from_pandas(df, npartitions=40, sort=False)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("distributed.shuffle")
    logger.addHandler(handler)
    try:
        inc = Incremental(sgd(), shuffle_blocks=False).fit(ddf[["a", "b"]], ddf.t)
    finally:
        logger.removeHandler(handler)
    assert list(inc.classes_) == [0, 1, 2]
    assert [r.getMessage() for r in records] == []  # y.unique() would start a P2P shuffle


# --------------------------------------------------------------------- inputs
def test_column_chunked_x_is_not_truncated(data):
    X, y, Xn, yn = data
    Xc = X.rechunk((500, 3))
    assert Xc.numblocks[1] > 1
    inc = Incremental(sgd(), shuffle_blocks=False).fit(Xc, y, classes=[0, 1])
    assert inc.coef_.shape == (1, 8)
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)


def test_unknown_chunk_sizes(data):
    X, y, Xn, yn = data
    keep = da.from_array(np.arange(len(yn)) % 3 != 0, chunks=500)
    Xf, yf = X[keep], y[keep]
    assert np.isnan(Xf.chunks[0][0])
    inc = Incremental(sgd(), shuffle_blocks=False).fit(Xf, yf, classes=[0, 1])
    mask = np.arange(len(yn)) % 3 != 0
    lengths = [int(mask[i:i + 500].sum()) for i in range(0, 3000, 500)]
    ref = hand_loop(sgd(), Xn[mask], yn[mask], lengths, classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)


def test_y_in_memory_with_dask_x(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, yn, classes=[0, 1])
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)


def test_y_with_different_row_blocking_is_realigned(data):
    X, y, Xn, yn = data
    y_other = y.rechunk(700)
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y_other, classes=[0, 1])
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)


def test_sample_weight_is_split_per_block(data):
    X, y, Xn, yn = data
    w = np.random.RandomState(1).uniform(0.1, 2, size=len(yn))
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1], sample_weight=w)
    ref = sgd()
    for i in range(6):
        sl = slice(500 * i, 500 * (i + 1))
        ref.partial_fit(Xn[sl], yn[sl], classes=[0, 1], sample_weight=w[sl])
    assert np.array_equal(inc.coef_, ref.coef_)
    # dask sample_weight with other chunks
    wd = da.from_array(w, chunks=900)
    inc2 = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1], sample_weight=wd)
    assert np.array_equal(inc2.coef_, ref.coef_)


@pytest.mark.parametrize("make_in_memory", [
    lambda X: X,
    lambda X: pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]),
    lambda X: sp.csr_matrix(X),
])
def test_in_memory_inputs_are_one_partial_fit(data, make_in_memory):
    _, _, Xn, yn = data
    Xm = make_in_memory(Xn)
    inc = Incremental(sgd()).fit(Xm, yn)
    ref = sgd().partial_fit(Xm, yn, classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)
    pred = inc.predict(Xm)
    assert isinstance(pred, np.ndarray) and np.array_equal(pred, ref.predict(Xm))
    assert inc.score(Xm, yn) == pytest.approx(ref.score(Xm, yn))


def _frame(Xn, yn, npartitions=6):
    pdf = pd.DataFrame(Xn, columns=[f"f{i}" for i in range(Xn.shape[1])])
    pdf["target"] = yn
    return pdf, dd.from_pandas(pdf, npartitions=npartitions, sort=False)


@pytest.mark.parametrize("op", ["plain", "repartition", "set_index", "filter", "sort_values"])
def test_dataframes_after_dask_expr_operations(data, op):
    _, _, Xn, yn = data
    pdf, ddf = _frame(Xn, yn)
    ddf = ddf.assign(key=ddf.f0 * 1000)
    if op == "repartition":
        ddf = ddf.repartition(npartitions=4)
    elif op == "set_index":
        ddf = ddf.set_index("key")
    elif op == "filter":
        ddf = ddf[ddf.f1 > 0]
    elif op == "sort_values":
        ddf = ddf.sort_values("f2")
    feats = [f"f{i}" for i in range(8)]
    Xd, yd = ddf[feats], ddf["target"]
    inc = Incremental(sgd(), shuffle_blocks=False).fit(Xd, yd, classes=[0, 1])
    # hand loop over the same partitions, computed by Dask itself
    ref = sgd()
    for part in ddf.to_delayed():
        p = part.compute()
        if len(p):
            ref.partial_fit(p[feats], p["target"], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)
    assert list(inc.feature_names_in_) == feats
    pred = inc.predict(Xd)
    assert isinstance(pred, dd.Series)
    assert len(pred.compute()) == len(yd.compute())


class PairingProbe(RegressorMixin, BaseEstimator):
    """Records, per block, whether the rows it got belong together: every target column is
    10 * a, and every weight a + 100."""

    def partial_fit(self, X, y, sample_weight=None):
        a = np.asarray(X)[:, 0]
        y = np.asarray(y, dtype=float)
        ok = np.allclose(y, 10 * a[:, None] if y.ndim == 2 else 10 * a)
        if sample_weight is not None:
            ok = ok and np.allclose(np.asarray(sample_weight), a + 100)
        self.paired_ = [*getattr(self, "paired_", []), bool(ok)]
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict(self, X):
        return 10 * np.asarray(X)[:, 0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _tied_frame():
    """A frame whose partitions' row order changes each time Dask computes it (a set_index
    on a key with ties), with the target and the weights derivable from column a."""
    rng = np.random.RandomState(0)
    pdf = pd.DataFrame({"a": rng.randn(4000), "b": rng.randn(4000),
                        "k": rng.randint(0, 100, 4000)})
    pdf = pdf.assign(t=10 * pdf.a, t2=10 * pdf.a, w=pdf.a + 100)
    return dd.from_pandas(pdf, npartitions=8).set_index("k")


@pytest.mark.parametrize("how", ["weights", "weights-none", "frame-y", "score-weight"])
def test_rows_stay_paired_on_a_reordering_frame(how):
    # Dask computes the projections X, y and w of a frame apart, and a shuffle orders
    # tied rows differently each time: they were paired as they came, silently wrong
    f = _tied_frame()
    X = f[["a", "b"]]
    y = f[["t", "t2"]] if how == "frame-y" else f["t"]
    kw = {"weights": {"sample_weight": f["w"]}, "weights-none": {"sample_weight": None}}
    inc = Incremental(PairingProbe(), shuffle_blocks=False,
                      scoring="r2").fit(X, y, **kw.get(how, {}))
    assert inc.estimator_.paired_ == [True] * len(inc.estimator_.paired_)
    if how == "score-weight":
        assert inc.score(X, y, sample_weight=2.0) == pytest.approx(1.0)
        assert inc.score(X, y, sample_weight=f["w"]) == pytest.approx(1.0)


def test_dataframe_x_with_series_y_other_partitions(data):
    _, _, Xn, yn = data
    pdf, ddf = _frame(Xn, yn, npartitions=6)
    feats = [f"f{i}" for i in range(8)]
    y2 = dd.from_pandas(pdf["target"], npartitions=4, sort=False)
    inc = Incremental(sgd(), shuffle_blocks=False).fit(ddf[feats], y2, classes=[0, 1])
    ref = sgd()
    for part in ddf.to_delayed():
        p = part.compute()
        ref.partial_fit(p[feats], p["target"], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)


# --------------------------------------------------------------------- methods
def test_methods_are_lazy_for_dask_and_match_estimator(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd()).fit(X, y)
    est = inc.estimator_
    for method in ["predict", "predict_proba", "predict_log_proba", "decision_function"]:
        out = getattr(inc, method)(X)
        assert isinstance(out, da.Array), method
        np.testing.assert_allclose(out.compute(), getattr(est, method)(Xn))
    first = inc.predict(X)[:100].compute()
    assert isinstance(first, np.ndarray) and first.shape == (100,)


def test_methods_handle_empty_partitions(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd()).fit(X, y)
    _, ddf = _frame(Xn, yn)
    feats = [f"f{i}" for i in range(8)]
    empty = ddf[ddf.f0 > 1e9][feats]
    assert len(inc.predict(empty).compute()) == 0
    assert inc.predict_proba(empty).compute().shape == (0, 2)
    mixed = ddf.loc[:499][feats]  # most partitions empty
    np.testing.assert_array_equal(inc.predict(mixed).compute().to_numpy(),
                                  inc.estimator_.predict(Xn[:500]))
    Xe = X[da.from_array(np.zeros(len(yn), bool), chunks=500)]
    assert inc.predict(Xe).compute().shape == (0,)


def test_proba_frame_has_class_columns(data):
    X, y, Xn, yn = data
    _, ddf = _frame(Xn, yn)
    feats = [f"f{i}" for i in range(8)]
    inc = Incremental(sgd()).fit(ddf[feats], ddf["target"])
    proba = inc.predict_proba(ddf[feats])
    assert isinstance(proba, dd.DataFrame)
    assert list(proba.columns) == [0, 1]


def test_predict_proba_absent_for_hinge(data):
    X, y, _, _ = data
    inc = Incremental(SGDClassifier(loss="hinge"))
    assert not hasattr(inc, "predict_proba")
    inc.fit(X, y)
    assert not hasattr(inc, "predict_proba")
    assert hasattr(inc, "decision_function")


@pytest.mark.parametrize("est", [StandardScaler(), IncrementalPCA(n_components=3)])
def test_estimators_without_score_or_y(data, est):
    X, _, Xn, _ = data
    inc = Incremental(est, shuffle_blocks=False).fit(X)
    ref = clone(est)
    for i in range(6):
        ref.partial_fit(Xn[500 * i:500 * (i + 1)])
    out = inc.transform(X)
    assert isinstance(out, da.Array)
    np.testing.assert_allclose(out.compute(), ref.transform(Xn), rtol=1e-6, atol=1e-8)


def test_regression_and_r2(data):
    X, y = make_regression(n_samples=2000, n_features=5, chunks=400, noise=1.0, random_state=0)
    inc = Incremental(SGDRegressor(random_state=0), scoring="r2", random_state=0, epochs=3)
    inc.fit(X, y)
    Xn, yn = dask.compute(X, y)
    assert inc.score(X, y) == pytest.approx(inc.estimator_.score(Xn, yn), rel=1e-9)
    assert inc.score(X, y) > 0.9


# ---------------------------------------------------------------- sklearn glue
def test_clone_params_pickle(data):
    X, y, Xn, _ = data
    inc = Incremental(sgd(alpha=1e-3), scoring="accuracy", epochs=2)
    assert inc.get_params()["estimator__alpha"] == 1e-3
    inc.set_params(estimator__alpha=1e-2)
    assert inc.estimator.alpha == 1e-2
    c = clone(inc)
    assert c.get_params()["estimator__alpha"] == 1e-2 and c.epochs == 2
    inc.fit(X, y)
    again = pickle.loads(pickle.dumps(inc))
    np.testing.assert_array_equal(again.coef_, inc.coef_)
    np.testing.assert_array_equal(again.predict(Xn), inc.predict(Xn))


def test_grid_search(data):
    _, _, Xn, yn = data
    gs = GridSearchCV(Incremental(sgd()), {"estimator__alpha": [1e-4, 1e-1]}, cv=2)
    gs.fit(Xn, yn)
    assert gs.best_params_["estimator__alpha"] in (1e-4, 1e-1)
    assert gs.best_estimator_.coef_.shape == (1, 8)


def test_sklearn_tags_follow_the_estimator():
    from sklearn.base import is_classifier, is_regressor

    assert is_classifier(Incremental(sgd()))
    assert is_regressor(Incremental(SGDRegressor()))


# ------------------------------------------------------------------ bad input
def test_estimator_without_partial_fit():
    X, y = np.ones((4, 2)), np.array([0, 1, 0, 1])
    with pytest.raises(TypeError, match="has no partial_fit"):
        Incremental(LinearRegression()).fit(X, y)
    with pytest.raises(ValueError, match="has no partial_fit"):  # what dask-ml raises
        Incremental(LinearRegression()).partial_fit(X, y)


def test_predict_before_fit(data):
    X, *_ = data
    with pytest.raises(NotFittedError, match="not fitted"):
        Incremental(sgd()).predict(X)
    with pytest.raises(AttributeError, match="not fitted"):
        Incremental(sgd()).coef_  # noqa: B018


def test_a_first_block_too_small_for_the_estimator_says_how_to_fix_it():
    """IncrementalPCA needs n_components rows in its first call: a small block drawn first
    by the shuffle gets a note naming the cause and the fix; later small blocks train."""
    from sklearn.decomposition import IncrementalPCA

    X = da.from_array(np.random.default_rng(0).normal(size=(1000, 80)),
                      chunks=((50, 400, 400, 150), 80))
    with pytest.raises(ValueError, match="n_components=60") as info:
        Incremental(IncrementalPCA(n_components=60), shuffle_blocks=False).fit(X)
    notes = " ".join(getattr(info.value, "__notes__", ()))
    assert "block 0 (rows 0:50)" in notes
    assert "first block the model trained on" in notes and "shuffle_blocks=False" in notes
    X = X.rechunk(((400, 400, 150, 50), 80))
    inc = Incremental(IncrementalPCA(n_components=60), shuffle_blocks=False).fit(X)
    assert inc.components_.shape == (60, 80)
    # an error on a later block is not blamed on the first block's size
    with pytest.raises(ValueError) as info:
        inc.partial_fit(X[:, :40])
    assert "first block" not in " ".join(getattr(info.value, "__notes__", ()))


def test_nan_in_a_block_names_the_block(data):
    X, y, Xn, yn = data
    Xbad = Xn.copy()
    Xbad[1234, 3] = np.nan
    with pytest.raises(ValueError, match=r"block 2 \(rows 1000:1500\).*NaN or infinity; the "
                       r"first is in row 234 of the block \(row 1234 of X\)"):
        Incremental(sgd(), shuffle_blocks=False).fit(da.from_array(Xbad, chunks=(500, 8)), y)
    # a DataFrame's partitions have no known offsets: the row's index label is named
    frame = dd.from_pandas(pd.DataFrame(Xbad, index=np.arange(3000) + 10_000), npartitions=6)
    with pytest.raises(ValueError, match=r"block 2 of X contains NaN or infinity; the first is "
                       r"in row 234 of the block \(index 11234\)"):
        Incremental(sgd(), shuffle_blocks=False).fit(frame, frame[0] > 0, classes=[False, True])
    with pytest.raises(ValueError, match=r"block 2 \(rows 1000:1500\) of X .* the first is in "
                       r"row 234 of the block \(row 1234 of X, index 11234\)"):
        Incremental(sgd(), shuffle_blocks=False).fit(frame, yn, classes=[0, 1])


def test_nan_in_a_block_distributed(data, client):
    _, y, Xn, _ = data
    Xbad = Xn.copy()
    Xbad[10, 0] = np.inf
    with pytest.raises(ValueError, match=r"block 0 \(rows 0:500\).*NaN or infinity"):
        Incremental(sgd(), shuffle_blocks=False).fit(da.from_array(Xbad, chunks=(500, 8)), y)


def test_length_mismatch(data):
    X, y, Xn, yn = data
    with pytest.raises(ValueError, match="3000 rows but y has 2999"):
        Incremental(sgd()).fit(X, y[:-1])
    with pytest.raises(ValueError, match="3000 rows but y has 2999"):
        Incremental(sgd()).fit(Xn, yn[:-1])
    with pytest.raises(ValueError, match="3000 rows but y has 2999"):
        Incremental(sgd()).fit(X, yn[:-1])


def test_estimators_that_take_a_two_dimensional_y(data):
    """Multi-output by tag, multilabel classifiers, and MLPRegressor (untagged) take 2-D y."""
    from sklearn.multioutput import MultiOutputClassifier
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    X, y, Xn, yn = data
    Yn = np.c_[yn, 1 - yn, yn].astype(int)
    Y = da.from_array(Yn, chunks=(500, 3))
    reg = Incremental(MLPRegressor(hidden_layer_sizes=(4,), random_state=0), random_state=0)
    assert reg.fit(X, Y.astype(float)).predict(Xn).shape == (3000, 3)
    # classes computed for a 2-D y: label indices for a multilabel model, one array per
    # output for a multi-output one
    mlp = Incremental(MLPClassifier(hidden_layer_sizes=(4,), random_state=0), random_state=0)
    mlp.fit(X, Y)
    assert list(mlp.classes_) == [0, 1, 2]
    # one column is not an indicator matrix: its labels are the classes
    assert list(clone(mlp).fit(X, Y[:, :1]).classes_) == [0, 1]
    frame = dd.from_pandas(pd.DataFrame(Yn, columns=["a", "b", "c"]), npartitions=6)
    for target in (Y, frame, Yn):
        moc = Incremental(MultiOutputClassifier(sgd()), shuffle_blocks=False).fit(X, target)
        assert [list(e.classes_) for e in moc.estimator_.estimators_] == [[0, 1]] * 3
        ref = hand_loop(MultiOutputClassifier(sgd()), Xn, Yn, X.chunks[0],
                        classes=[np.array([0, 1])] * 3)
        for got, want in zip(moc.estimator_.estimators_, ref.estimators_, strict=True):
            assert np.array_equal(got.coef_, want.coef_)


@pytest.mark.parametrize("kind", ["pandas", "dask series", "dask array", "numpy float"])
def test_missing_labels_are_named_when_classes_are_computed(kind):
    X = np.arange(24.0).reshape(12, 2)
    labels = np.array(["a", "b", None, "a"] * 3, dtype=object)
    if kind == "pandas":
        y = pd.Series(labels)
    elif kind == "dask series":
        y = dd.from_pandas(pd.Series(labels), npartitions=3)
        X = dd.from_pandas(pd.DataFrame(X), npartitions=3)
    elif kind == "dask array":
        y = da.from_array(labels, chunks=4)
        X = da.from_array(X, chunks=(4, 2))
    else:
        y = np.array([0.0, 1.0, np.nan, 1.0] * 3)
    with pytest.raises(ValueError, match="y has missing labels"):
        Incremental(sgd()).fit(X, y)


def test_length_mismatch_unknown_chunks_found_at_the_block(data):
    X, y, Xn, yn = data
    keep = da.from_array(np.arange(3000) % 2 == 0, chunks=500)
    keep_y = da.from_array(np.arange(3000) % 3 == 0, chunks=500)
    with pytest.raises(ValueError, match="X has 250 rows but y has 167") as info:
        Incremental(sgd(), shuffle_blocks=False).fit(X[keep], y[keep_y], classes=[0, 1])
    # the advice to realign warns that it pairs by position (a reordered X needs its own y)
    assert "same order: if X was reordered (set_index" in str(info.value)


def test_two_dimensional_y(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match=r"y must be 1-D .* got shape \(3000, 2\).*y\[:, 0\]"):
        Incremental(sgd()).fit(X, da.stack([y, y], axis=1))
    frame = dd.from_pandas(pd.DataFrame({"a": y.compute(), "b": y.compute()}), npartitions=6)
    with pytest.raises(ValueError, match=r"got shape \(\?, 2\) \(a DataFrame with columns.*"
                                         r"y\['name'\] or y.iloc\[:, 0\]"):
        Incremental(sgd()).fit(X, frame)


def test_a_one_column_y_is_read_as_that_column_with_a_warning(data):
    # as dask-ml and scikit-learn take it (a notebook's ddf[["label"]]); it was refused,
    # with a fix (y[:, 0]) that a Dask DataFrame does not have
    from sklearn.exceptions import DataConversionWarning

    X, y, Xn, yn = data
    expected = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1])
    frame = dd.from_array(X, columns=[f"f{i}" for i in range(8)])
    label = dd.from_dask_array(y, columns="label").to_frame()
    for Xc, yc in [(X, y[:, None]), (frame, label), (Xn, yn[:, None]),
                   (Xn, pd.DataFrame({"label": yn}))]:
        with pytest.warns(DataConversionWarning, match="y has one column"):
            inc = Incremental(sgd(), shuffle_blocks=False).fit(Xc, yc, classes=[0, 1])
        if is_dask_collection(Xc):
            assert np.array_equal(inc.coef_, expected.coef_)
        column = yc.iloc[:, 0] if isinstance(yc, (pd.DataFrame, dd.DataFrame)) else yc[:, 0]
        assert inc.score(Xc, yc) == pytest.approx(inc.score(Xc, column))


@pytest.mark.parametrize("where", ["dask", "memory"])
def test_no_rows_at_all_is_an_error_not_an_empty_model(data, where):
    X, y, Xn, yn = data
    if where == "dask":
        keep = da.from_array(np.zeros(3000, dtype=bool), chunks=500)
        X, y = X[keep], y[keep]
    else:
        X, y = Xn[:0], yn[:0]
    with pytest.raises(ValueError, match="X has no rows") as info:
        Incremental(sgd()).fit(X, y, classes=[0, 1])
    assert "no rows to train on" in str(info.value)


def test_mixed_block_types(data):
    X, y, Xn, _ = data
    sparse_blocks = X.map_blocks(sp.csr_matrix, meta=np.empty((0, 0)))
    with pytest.raises(TypeError, match="scipy.sparse block but the collection's meta says numpy"):
        Incremental(sgd()).fit(sparse_blocks, y, classes=[0, 1])


@pytest.mark.parametrize("bad", ["a string", {"a": 1}, None, db.from_sequence([1, 2])])
def test_unsupported_input_types(bad):
    with pytest.raises(TypeError):
        Incremental(sgd()).fit(bad, np.array([0, 1]))


def test_bad_hyperparameters(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="epochs"):
        Incremental(sgd(), epochs=0).fit(X, y)
    with pytest.raises(ValueError, match="validation"):
        Incremental(sgd(), validation=1.5).fit(X, y)


def test_multinomial_nb_counts_are_exact(data):
    X, y, Xn, yn = data
    Xp, Xpn = abs(X), abs(Xn)
    inc = Incremental(MultinomialNB()).fit(Xp, y)
    ref = MultinomialNB().fit(Xpn, yn)
    np.testing.assert_allclose(inc.feature_count_, ref.feature_count_)


@pytest.mark.parametrize("distributed", [False, True])
def test_progressive_train_score(data, distributed, request):
    X, y, Xn, yn = data
    if distributed:
        request.getfixturevalue("client")
    inc = Incremental(sgd(), scoring="accuracy", shuffle_blocks=False, train_score=True,
                      epochs=2).fit(X, y, classes=[0, 1])
    # by hand: score each block with the model before it trains on it
    ref, hits, n = sgd(), 0.0, 0
    for epoch in range(2):
        hits, n = 0.0, 0
        for i in range(6):
            sl = slice(500 * i, 500 * (i + 1))
            if epoch or i:
                hits += (ref.predict(Xn[sl]) == yn[sl]).sum()
                n += 500
            ref.partial_fit(Xn[sl], yn[sl], classes=[0, 1])
        assert inc.history_[epoch]["train_score"] == pytest.approx(hits / n)
    assert np.array_equal(inc.coef_, ref.coef_)


def test_each_block_carries_only_its_own_tasks():
    from gpuinc._blocks import plan_blocks

    X = da.random.RandomState(0).random_sample((4000, 3), chunks=(50, 3))
    y = (X[:, 0] > 0.5).astype(int)
    plan = plan_blocks(X, y)
    assert len(plan.blocks) == 80
    sizes = [len(dict(b.x.__dask_graph__())) for b in plan.blocks]
    assert max(sizes) <= 3  # the block's own tasks, not the 80-block graph
    x5, y5 = dask.compute(plan.blocks[5].x, plan.blocks[5].y)
    Xn, yn = dask.compute(X, y)
    np.testing.assert_array_equal(x5, Xn[250:300])
    np.testing.assert_array_equal(y5, yn[250:300])


def test_failed_fit_keeps_the_users_persisted_data(data, client):
    _, y, Xn, _ = data
    Xbad = Xn.copy()
    Xbad[1600, 2] = np.nan
    Xp, yp = dask.persist(da.from_array(Xbad, chunks=(500, 8)), y)
    with pytest.raises(ValueError, match="block 3"):
        Incremental(sgd(), shuffle_blocks=False).fit(Xp, yp, classes=[0, 1])
    # the persisted chunks are still there and usable
    np.testing.assert_array_equal(Xp[:500].compute(), Xbad[:500])
    assert yp.sum().compute() == y.sum().compute()


def test_small_persisted_blocks_train_in_few_tasks(client):
    # 60 blocks of 50 x 8 spread over two workers: one task per block would hop the model
    # through the scheduler ~30 times; small blocks are fetched to the model instead
    X, y = make_classification(n_samples=3000, n_features=8, chunks=50, random_state=1)
    Xn, yn = dask.compute(X, y)
    Xp, yp = dask.persist(X, y)
    from distributed import wait

    wait([Xp, yp])
    holders = client.who_has(client.futures_of(Xp))
    assert len({w for ws in holders.values() for w in ws}) == 2  # spread, or this tests nothing
    client.get_task_stream()
    start = __import__("time").time()
    inc = Incremental(sgd(), shuffle_blocks=False).fit(Xp, yp, classes=[0, 1])
    names = [str(t["key"]) for t in client.get_task_stream(start=start)]
    assert sum(n.startswith("gpuinc-partial-fit-") for n in names) == 1, sorted(names)
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1])
    assert np.array_equal(inc.coef_, ref.coef_)
    assert inc.history_[0]["blocks"] == 60


class _FakeClient:
    """Where blocks placed by hand are and their sizes, for the run grouping (what
    ``_chain._placement`` asks the scheduler)."""

    def __init__(self, placement):  # key -> (workers, nbytes)
        self.placement = placement

    def placement_of(self, keys, with_sizes):
        who = {k: list(self.placement[k][0]) for k in keys}
        return who, ({k: self.placement[k][1] for k in keys if who[k]} if with_sizes else {})


def test_runs_fetch_small_blocks_within_the_byte_budget(monkeypatch):
    from distributed import Future

    import gpuinc._chain as chain

    monkeypatch.setattr(chain, "_placement", lambda client, keys, sizes:
                        client.placement_of(keys, sizes))

    class Key:  # stands for a Future: _runs_by_worker reads only .key (and .done())
        def __init__(self, key):
            self.key = key

        def done(self):
            return True

    monkeypatch.setattr("distributed.Future", Key)
    MB = 2**20
    placement = {
        "a0": (["A"], 60 * MB), "a1": (["A"], 60 * MB),  # same worker: one run
        "b0": (["B"], 4 * MB), "b1": (["B"], 4 * MB),  # small, elsewhere: fetched
        "b2": (["B"], 5 * MB),  # larger than a block may be to be fetched: the model hops
        "a2": (["A"], 4 * MB), "a3": (["A"], 4 * MB),  # small again: fetched
        "d0": (["D"], 4 * MB), "e0": (["E"], 4 * MB),  # 13 MiB fetched in all
        "f0": (["F"], 4 * MB),  # 17 MiB: over the run's budget, a new run
        "p0": ([], 1 * MB),  # not held anywhere (yet): never joined
        "p1": (["A"], 1 * MB),
    }
    resolved = [(Key(k), None, {}, None) for k in placement]
    owners = []
    runs = chain._runs_by_worker(_FakeClient(placement), resolved, fetch_bytes=16 * MB,
                                 block_bytes=4 * MB, owners=owners)
    names = [[list(placement)[i] for i in run] for run in runs]
    assert names == [["a0", "a1", "b0", "b1"], ["b2", "a2", "a3", "d0", "e0"], ["f0"],
                     ["p0"], ["p1"]]
    # each run's worker (holding most of its bytes) and what its task fetches from others
    # (p0 is held nowhere yet: no worker, and a size unknown, counted as over any budget)
    assert owners == [("A", 8 * MB), ("A", 13 * MB), ("F", 0), (None, 16 * MB + 1), ("A", 0)]
    # without a budget only blocks one worker holds share a task, as before
    runs = chain._runs_by_worker(_FakeClient(placement), resolved, fetch_bytes=0)
    assert [len(r) for r in runs] == [2, 3, 2, 1, 1, 1, 1, 1]
    assert Future is not Key


class AlignmentRecorder(SGDClassifier):
    """Notes whether each block it trained on was aligned in memory."""

    def partial_fit(self, X, y=None, **kwargs):
        self.aligned_ = [*getattr(self, "aligned_", []), X.flags.aligned and y.flags.aligned]
        return super().partial_fit(X, y, **kwargs)


def test_misaligned_blocks_reach_partial_fit_aligned():
    # chunks rebuilt from a byte stream can sit at odd addresses; NumPy is
    # very slow on them, so the chain hands partial_fit aligned copies
    X, y = make_classification(n_samples=400, n_features=4, chunks=100, random_state=0)
    Xm, ym = X.map_blocks(misaligned_copy), y.map_blocks(misaligned_copy)
    inc = Incremental(AlignmentRecorder(random_state=0), shuffle_blocks=False,
                      progress=False).fit(Xm, ym, classes=[0, 1])
    assert inc.estimator_.aligned_ == [True] * 4
    ref = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False,
                      progress=False).fit(X, y, classes=[0, 1])
    np.testing.assert_array_equal(inc.coef_, ref.coef_)


def test_sparse_blocks_refused_early_for_gpuinc_sgd_on_the_device(monkeypatch):
    # the device copy would make cupyx CSR blocks, which gpuinc's SGD does not take
    import gpuinc.wrappers as wrappers
    from gpuinc.linear_model import SGDClassifier as GpuincSGD

    monkeypatch.setattr(wrappers, "estimator_home", lambda est, data_home, device: "device")
    X, y = make_classification(n_samples=200, n_features=4, chunks=100, random_state=0)
    Xs = X.map_blocks(sp.csr_matrix, meta=sp.csr_matrix((0, 0)))
    with pytest.raises(TypeError, match=r"dense arrays on the GPU, but X has scipy.sparse"):
        Incremental(GpuincSGD(), device="gpu").fit(Xs, y, classes=[0, 1])


def test_score_compute_false_is_lazy_as_in_dask_ml(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd(), scoring="accuracy", random_state=0).fit(X, y, classes=[0, 1])
    expected = inc.score(X, y)
    for scoring in ("accuracy", "roc_auc", None):  # streamed, gathered, the estimator's own
        inc.set_params(scoring=scoring)
        lazy = inc.score(X, y, compute=False)
        # a 0-d Dask array, as dask-ml's: float() and np.asarray compute it
        assert isinstance(lazy, da.Array) and lazy.shape == () and lazy.dtype == np.float64
        assert lazy.compute() == inc.score(X, y)
        assert float(lazy) == inc.score(X, y) == np.asarray(lazy)
        # the final task combines per-block results: it does not carry X's blocks (192 KB)
        graph = dict(lazy.__dask_graph__())
        final = [k for k in graph if str(k).startswith("_as_float64")]
        assert len(final) == 1 and len(pickle.dumps(graph[final[0]])) < 20_000
    # a callable gets predict gathered with y (in the same computation of each block) ...
    inc.set_params(scoring=lambda est, X_, y_: float(np.mean(est.predict(X_) == y_)))
    assert float(inc.score(X, y, compute=False)) == pytest.approx(expected)
    # ... and any other response it asks for only when computed at once
    inc.set_params(scoring=lambda est, X_, y_: float(np.mean(
        est.classes_[est.predict_proba(X_).argmax(axis=1)] == y_)))
    with pytest.raises(TypeError, match="also asked for predict_proba; score with compute=True"):
        inc.score(X, y, compute=False).compute()
    inc.set_params(scoring="accuracy")
    assert inc.score(X, y, False).compute() == expected  # positional, as dask-ml's
    assert inc.score(Xn, yn, compute=False) == expected  # in memory: scored at once
    with pytest.raises(TypeError, match="third argument is compute.*sample_weight=w"):
        inc.score(X, y, np.ones(3000))
    assert inc.score(X, y, sample_weight=np.ones(3000)) == pytest.approx(expected)


def test_a_scalar_sample_weight_weighs_every_row(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1], sample_weight=2.0)
    ref = hand_loop(sgd(), Xn, yn, X.chunks[0], classes=[0, 1], sample_weight=2.0)
    assert np.array_equal(inc.coef_, ref.coef_)


def test_scalar_y_is_explained(data):
    X, y, _, _ = data
    with pytest.raises(TypeError, match="y is a scalar .* one value per row"):
        Incremental(sgd()).fit(X, y.sum())


class _DeviceStandIn(np.ndarray):
    """Looks like an in-memory CuPy array to Incremental.score's dispatch (module name)."""


_DeviceStandIn.__module__ = "cupy._stand_in"


def test_in_memory_device_arrays_are_scored_as_one_block(data):
    """The path for CuPy arrays in memory, exercised on the host: one Dask block, same score."""
    X, y, Xn, yn = data
    inc = Incremental(sgd(), scoring="accuracy", random_state=0).fit(X, y, classes=[0, 1])
    Xs = Xn.view(_DeviceStandIn)
    w = np.linspace(0.5, 1.5, len(yn))
    assert inc.score(Xs, yn) == inc.score(Xn, yn)
    assert inc.score(Xs, yn, sample_weight=w) == pytest.approx(inc.score(Xn, yn, sample_weight=w))


@pytest.mark.parametrize("kind", ["array", "frame"])
def test_a_scalar_sample_weight_is_used_by_score(kind):
    """A summed score (k-means inertia) doubles with weight 2, as scikit-learn's does."""
    from sklearn.cluster import MiniBatchKMeans

    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(400, 3))
    X = (da.from_array(Xn, chunks=(100, 3)) if kind == "array"
         else dd.from_pandas(pd.DataFrame(Xn), npartitions=4))
    inc = Incremental(MiniBatchKMeans(n_clusters=3, random_state=0, n_init=1)).fit(X)
    expected = inc.estimator_.score(Xn, sample_weight=np.full(400, 2.0))
    assert inc.score(X, sample_weight=2.0) == pytest.approx(expected, rel=1e-9)
    assert inc.score(X, sample_weight=2.0) == pytest.approx(2 * inc.score(X), rel=1e-9)


@pytest.mark.parametrize("lazy", ["array", "series"])
def test_lazy_classes_are_computed_once_not_split(data, lazy):
    # dask-ml's own examples pass classes=da.unique(y); it is one array for every call
    X, y, Xn, yn = data
    if lazy == "array":
        inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=da.unique(y))
    else:
        pdf, ddf = _frame(Xn, yn)
        feats = [f"f{i}" for i in range(8)]
        inc = Incremental(sgd(), shuffle_blocks=False).fit(ddf[feats], ddf["target"],
                                                          classes=ddf["target"].unique())
    assert inc.classes_.tolist() == [0, 1]


def test_sample_weight_forms(data):
    X, y, Xn, yn = data
    inc = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1])
    ref = Incremental(sgd(), shuffle_blocks=False).fit(X, y, classes=[0, 1],
                                                       sample_weight=np.array(1.0))
    np.testing.assert_array_equal(inc.coef_, ref.coef_)  # a 0-d array is its number
    # one number scores in memory as it does on Dask input
    assert inc.score(Xn, yn, sample_weight=2.0) == pytest.approx(inc.score(X, y))
    assert inc.score(Xn, yn, sample_weight=np.array(2.0)) == pytest.approx(inc.score(X, y))
    with pytest.raises(TypeError, match="sample_weight must be one number .* got True"):
        Incremental(sgd()).fit(X, y, classes=[0, 1], sample_weight=True)
    with pytest.raises(ValueError, match=r"sample_weight must be 1-D .* got shape \(3000, 2\)"):
        Incremental(sgd()).fit(X, y, classes=[0, 1], sample_weight=da.ones((3000, 2)))


def test_validation_that_holds_out_only_empty_partitions_says_so():
    pdf = pd.DataFrame({"a": np.arange(400.0), "t": np.arange(400) % 2})
    ddf = dd.from_pandas(pdf, npartitions=4)
    ddf = ddf[ddf.a >= 200]  # partitions 0 and 1 are empty
    inc = Incremental(sgd(), validation=0.5, random_state=0, shuffle_blocks=False)
    inc._split = lambda rng, n: np.array([0, 1])  # hold those out
    with pytest.raises(ValueError, match=r"validation= held out block\(s\) \[0, 1\] .* every one"):
        inc.fit(ddf[["a"]], ddf["t"], classes=[0, 1])


def test_non_numeric_columns_are_named_in_fit_and_predict():
    rng = np.random.RandomState(0)
    pdf = pd.DataFrame({"a": rng.randn(100), "c": pd.Categorical(rng.choice(["x", "y"], 100))})
    f = dd.from_pandas(pdf.assign(t=pdf.a), npartitions=2)
    with pytest.raises(ValueError, match=r"column\(s\) 'c' \(category\) that are not numbers"):
        Incremental(SGDRegressor()).fit(f[["a", "c"]], f["t"])
    inc = Incremental(SGDRegressor()).fit(f[["a"]], f["t"])
    with pytest.raises(ValueError, match=r"column\(s\) 'a' \(.*\) are not numbers"):
        inc.predict(f[["a"]].assign(a=f.a.astype(str)))


@pytest.mark.parametrize("persisted", [False, True])
def test_a_chained_pass_holds_few_models_not_one_per_block(client, persisted):
    # every fit future was kept to the end of the pass: one model per block in memory
    from gpuinc._blocks import plan_blocks
    from gpuinc._chain import DistributedRunner

    X, y = make_classification(n_samples=2400, n_features=4, chunks=100, random_state=0)
    if persisted:
        X, y = dask.persist(X, y)
    blocks = plan_blocks(X, y, {}).blocks
    held = []

    def on_block(pos, block, get_model):  # finished fits whose model the client keeps
        held.append(sum(str(k).startswith("gpuinc-partial-fit-") and s.status == "finished"
                        for k, s in client.futures.items()))

    DistributedRunner(client, prefetch=2).run(
        _SlowSGD(), blocks, {"classes": [0, 1]}, kind="numpy", home="host", on_block=on_block,
        group_runs=False)
    assert len(held) == 24 and max(held) <= 6, held


class _SlowSGD(SGDClassifier):
    """Slower than the client reports its blocks: the chain never runs far ahead of it."""

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        __import__("time").sleep(0.02)
        return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)


def test_x_without_columns_is_refused_before_any_block():
    pdf = pd.DataFrame(np.random.default_rng(0).random((40, 3)), columns=list("abc"))
    pdf["t"] = np.arange(40) % 2
    ddf = dd.from_pandas(pdf, npartitions=4)
    fitted = Incremental(sgd()).fit(ddf[list("abc")], ddf.t, classes=[0, 1])
    for call in (lambda: Incremental(sgd()).fit(ddf[[]], ddf.t, classes=[0, 1]),
                 lambda: fitted.predict(ddf[[]]),
                 lambda: fitted.score(ddf[[]], ddf.t),
                 lambda: Incremental(sgd()).fit(np.empty((10, 0)), np.arange(10) % 2)):
        with pytest.raises(ValueError, match="X has no feature columns"):
            call()


@pytest.mark.parametrize("dtype", ["string", "Int64", "float64"])
def test_missing_labels_with_classes_given_name_the_block_and_the_fix(dtype):
    # with classes= the labels reach partial_fit, whose errors did not say what was wrong
    # (pandas' NA: "boolean value of NA is ambiguous")
    import dask.dataframe as dd

    rng = np.random.default_rng(0)
    pdf = pd.DataFrame(rng.normal(size=(300, 2)), columns=["a", "b"])
    labels = np.where(pdf.a > 0, 1, 0)
    if dtype == "string":
        pdf["y"] = pd.array(np.where(labels == 1, "u", "v"), dtype="string")
        classes = ["u", "v"]
    else:
        pdf["y"] = pd.array(labels, dtype=dtype)
        classes = [0, 1]
    pdf.loc[250, "y"] = pd.NA if dtype != "float64" else np.nan
    ddf = dd.from_pandas(pdf, npartitions=3)
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False)
    with pytest.raises(ValueError, match=r"block 2: y has 1 missing value\(s\) .*y\.notna\(\)"):
        inc.fit(ddf[["a", "b"]], ddf["y"], classes=classes)


def test_a_fitted_multi_output_classifier_is_not_given_the_classes_of_a_later_batch():
    # its classes live in estimators_: every call gave it the classes of its own y, and
    # a batch lacking a label was refused ("classes ... is not the same as on last call")
    from sklearn.multioutput import MultiOutputClassifier

    rng = np.random.RandomState(0)
    X = rng.randn(200, 4)
    Y = np.c_[rng.randint(0, 3, 200), rng.randint(0, 2, 200)]
    Y[100:, 0] = np.minimum(Y[100:, 0], 1)  # the second batch has no label 2 in output 0
    classes = [np.array([0, 1, 2]), np.array([0, 1])]
    ref = MultiOutputClassifier(SGDClassifier(random_state=0))
    ref.partial_fit(X[:100], Y[:100], classes=classes)
    ref.partial_fit(X[100:], Y[100:])
    inc = Incremental(MultiOutputClassifier(SGDClassifier(random_state=0)))
    inc.partial_fit(X[:100], Y[:100], classes=classes)
    inc.partial_fit(X[100:], Y[100:])
    for a, b in zip(inc.estimator_.estimators_, ref.estimators_, strict=True):
        assert np.array_equal(a.coef_, b.coef_)
    # a Dask pass after an in-memory batch, without classes
    Xd, Yd = da.from_array(X[100:], chunks=(50, 4)), da.from_array(Y[100:], chunks=(50, 2))
    inc.partial_fit(Xd, Yd)
    assert [list(e.classes_) for e in inc.estimator_.estimators_] == [[0, 1, 2], [0, 1]]


def test_a_multi_output_classifier_with_one_column_gets_one_array_of_classes_per_output():
    from sklearn.multioutput import MultiOutputClassifier

    rng = np.random.RandomState(0)
    X, Y = rng.randn(200, 4), rng.randint(0, 3, (200, 1))
    Xd, Yd = da.from_array(X, chunks=(50, 4)), da.from_array(Y, chunks=(50, 1))
    inferred = Incremental(MultiOutputClassifier(SGDClassifier(random_state=0)),
                           shuffle_blocks=False).fit(Xd, Yd)
    given = Incremental(MultiOutputClassifier(SGDClassifier(random_state=0)),
                        shuffle_blocks=False).fit(Xd, Yd, classes=[np.arange(3)])
    assert np.array_equal(inferred.estimator_.estimators_[0].coef_,
                          given.estimator_.estimators_[0].coef_)


def test_a_first_partial_fit_over_a_dask_x_is_a_pass_not_a_stream_batch():
    import warnings

    X, y = make_classification(n_samples=400, n_features=4, chunks=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "classes are taken from this call's y"
        Incremental(sgd()).partial_fit(X, y.compute())


def test_birch_is_said_to_lose_updates_when_it_is_copied_and_not_otherwise(client):
    import warnings

    from sklearn.cluster import Birch

    rng = np.random.RandomState(0)
    Xn = rng.randn(200, 5) + 3 * rng.randint(0, 3, 200)[:, None]
    X = da.from_array(Xn, chunks=(50, 5))
    with dask.config.set(scheduler="threads"), warnings.catch_warnings():
        warnings.simplefilter("error")
        inc = Incremental(Birch(n_clusters=3), shuffle_blocks=False, epochs=2).fit(X)
    with dask.config.set(scheduler="threads"), pytest.warns(UserWarning, match="does not "
                                                                   "survive being copied"):
        inc.partial_fit(X)
    with pytest.warns(UserWarning, match="a pass on a cluster"):
        Incremental(Birch(n_clusters=3)).fit(X.persist())


@pytest.mark.parametrize("estimator", [sgd(), SGDRegressor(), MultinomialNB()])
def test_a_supervised_estimator_without_y_is_told_before_any_block_is_read(data, estimator):
    X, _, _, _ = data
    inc = Incremental(estimator)
    for call in (inc.fit, inc.partial_fit):
        with pytest.raises(ValueError, match="requires y to be passed, but the target y is "
                                             "None: call fit"):
            call(X)
    assert not hasattr(inc, "estimator_")
    Incremental(StandardScaler()).fit(X)  # unsupervised: no y needed


def test_classes_are_found_for_a_selector_around_a_classifier():
    """SelectFromModel passes classes= on to its classifier's partial_fit: found from y as
    for a classifier, instead of the classifier's 'classes must be passed' error."""
    from sklearn.feature_selection import SelectFromModel

    X, y = make_classification(n_samples=2000, n_features=10, chunks=500, random_state=0)
    inc = Incremental(SelectFromModel(sgd()), shuffle_blocks=False).fit(X, y)
    ref = Incremental(SelectFromModel(sgd()), shuffle_blocks=False).fit(X, y, classes=[0, 1])
    assert np.array_equal(inc.estimator_.estimator_.coef_, ref.estimator_.estimator_.coef_)
    assert np.array_equal(inc.transform(X).compute(), ref.transform(X).compute())
    inc.partial_fit(X, y)  # fitted: later calls need no classes


def test_the_first_block_note_is_only_for_too_few_rows():
    """A NaN sample_weight on the first block is not blamed on the block's size."""
    X, y = make_classification(n_samples=400, n_features=4, chunks=100, random_state=0)
    w = da.where(da.arange(400, chunks=100) == 5, np.nan, 1.0)
    with pytest.raises(ValueError) as info:
        Incremental(sgd(), shuffle_blocks=False).fit(X, y, sample_weight=w)
    assert "first block the model trained on" not in " ".join(
        getattr(info.value, "__notes__", ())), info.value


def test_continuous_y_for_a_selector_names_its_classifier():
    from sklearn.feature_selection import SelectFromModel

    X = da.random.random((200, 3), chunks=50)
    with pytest.raises(ValueError, match=r"SelectFromModel trains a classifier \(SGDClassifier\)"):
        Incremental(SelectFromModel(sgd())).fit(X, X[:, 0])


def test_data_persisted_on_a_cluster_that_lost_it_is_said_to_be_lost():
    """client.restart() cancels persisted pieces: the pass failed with a bare KeyError."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        X, y = make_classification(n_samples=2_000, n_features=5, chunks=500, random_state=0)
        X, y = dask.persist(X, y)
        client.restart()
        with pytest.raises(ValueError, match="persisted on a cluster that has lost it since"):
            Incremental(sgd(), random_state=0).fit(X, y, classes=[0, 1])


def test_a_persisted_computation_that_failed_keeps_its_own_error(client):
    """A piece in 'error' (the user's computation raised) is not lost data."""
    X, y = make_classification(n_samples=2_000, n_features=5, chunks=500, random_state=0)

    def fail_on_third(block, block_info=None):
        if block_info[0]["chunk-location"][0] == 2:
            raise ZeroDivisionError("the user's own error")
        return block

    Xb = X.map_blocks(fail_on_third, dtype=X.dtype).persist()
    with pytest.raises(Exception) as info:
        Incremental(sgd(), shuffle_blocks=False).fit(Xb, y, classes=[0, 1])
    assert "lost it since" not in str(info.value)
    assert "the user's own error" in str(info.value) or isinstance(info.value, ZeroDivisionError)


def test_a_text_vectorizer_fits_on_documents_and_refuses_a_frame():
    # HashingVectorizer takes one document per row (input tags two_d_array=False): a Dask
    # Series was refused with advice to use .to_frame(), and after that transform failed
    from sklearn.feature_extraction.text import HashingVectorizer

    docs = pd.Series([f"word{i % 7} other{i % 3} text" for i in range(40)])
    expected = HashingVectorizer(n_features=16).transform(docs).toarray()
    for X in (dd.from_pandas(docs, npartitions=4), list(docs),
              da.from_array(np.array(list(docs), dtype=object), chunks=10)):
        inc = Incremental(HashingVectorizer(n_features=16)).fit(X)
        out = inc.transform(X)
        out = out.compute() if is_dask_collection(out) else out
        out = out.sparse.to_dense().to_numpy() if isinstance(out, pd.DataFrame) else out.toarray()
        np.testing.assert_allclose(out, expected)
    with pytest.raises(ValueError, match=r"takes X as a 1-D sequence .* pass the column as a "
                                         r"Series, e.g. X\['text'\]"):
        Incremental(HashingVectorizer(n_features=16)).fit(
            dd.from_pandas(docs.to_frame("text"), npartitions=2))
    with pytest.raises(ValueError, match="takes X as a 1-D sequence"):
        Incremental(HashingVectorizer(n_features=16)).fit(docs.to_frame("text"))


class _DuckTypedRegressor:
    """An estimator of another library: partial_fit and predict, no scikit-learn base."""

    _estimator_type = "regressor"

    def __init__(self, step=0.1):
        self.step = step

    def get_params(self, deep=True):
        return {"step": self.step}

    def set_params(self, **params):
        self.step = params.get("step", self.step)
        return self

    def partial_fit(self, X, y):
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
        self.coef_ = getattr(self, "coef_", np.zeros(X.shape[1]))
        self.coef_ = self.coef_ + self.step * X.T @ (y - X @ self.coef_) / len(y)
        return self

    def predict(self, X):
        return np.asarray(X, dtype=float) @ self.coef_


def test_an_estimator_without_scikit_learn_tags_is_wrapped():
    # scikit-learn's is_classifier raises for an object without __sklearn_tags__: fit
    # failed with "no attribute '__sklearn_tags__'"
    rng = np.random.RandomState(0)
    Xn = rng.randn(400, 3)
    yn = Xn @ np.array([1.0, -2.0, 0.5])
    X, y = da.from_array(Xn, chunks=100), da.from_array(yn, chunks=100)
    inc = Incremental(_DuckTypedRegressor(), scoring="r2", shuffle_blocks=False,
                      progress=False).fit(X, y)
    ref = _DuckTypedRegressor()
    for i in range(4):
        ref.partial_fit(Xn[100 * i:100 * (i + 1)], yn[100 * i:100 * (i + 1)])
    np.testing.assert_allclose(inc.coef_, ref.coef_)
    np.testing.assert_allclose(inc.predict(X).compute(), ref.predict(Xn))
    assert inc.score(X, y) == pytest.approx(
        1 - np.sum((yn - ref.predict(Xn)) ** 2) / np.sum((yn - yn.mean()) ** 2))
