"""Blockwise scoring: empty blocks, the estimator's own score, callable scorers, missing y."""

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.cluster import MiniBatchKMeans
from sklearn.decomposition import PCA, LatentDirichletAllocation
from sklearn.linear_model import PoissonRegressor, SGDClassifier, SGDRegressor
from sklearn.metrics import get_scorer, make_scorer, mean_absolute_error, r2_score, roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.multioutput import MultiOutputClassifier, MultiOutputRegressor
from sklearn.neighbors import KernelDensity

from gpuinc import Incremental, metrics

GATHERED = ["roc_auc", "f1", "balanced_accuracy"]


def _frame_with_an_empty_partition():
    """A filtered Dask DataFrame whose second partition has no row left."""
    rs = np.random.RandomState(0)
    pdf = pd.DataFrame(rs.rand(800, 3), columns=list("abc"))
    pdf["y"] = (pdf.b + 0.3 * rs.rand(800) > 0.6).astype(int)
    pdf.loc[200:399, "a"] = -1.0
    ddf = dd.from_pandas(pdf, npartitions=4)
    ddf = ddf[ddf.a >= 0]
    kept = pdf[pdf.a >= 0]
    return ddf[list("abc")], ddf["y"], kept[list("abc")], kept["y"]


@pytest.fixture(scope="module")
def filtered_frame():
    X, y, Xn, yn = _frame_with_an_empty_partition()
    assert 0 in X.map_partitions(len).compute().tolist()
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0), random_state=0).fit(X, y)
    return inc, X, y, Xn, yn


@pytest.fixture(scope="module")
def masked_array():
    """``X[mask]`` of a Dask array: one block keeps no row, row counts are unknown."""
    rs = np.random.RandomState(1)
    Xn = rs.rand(800, 4)
    Xn[200:400, 0] = 0.0
    yn = (Xn[:, 1] + 0.3 * rs.rand(800) > 0.6).astype(int)
    Xa, ya = da.from_array(Xn, chunks=200), da.from_array(yn, chunks=200)
    mask = Xa[:, 0] > 0.1
    X, y = Xa[mask], ya[mask]
    keep = Xn[:, 0] > 0.1
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0), random_state=0).fit(X, y)
    return inc, X, y, Xn[keep], yn[keep]


# ------------------------------------------------------------- empty blocks
@pytest.mark.parametrize("data", ["filtered_frame", "masked_array"])
@pytest.mark.parametrize("name", [*GATHERED, "accuracy", "neg_log_loss"])
def test_empty_blocks_are_skipped_by_every_scorer(data, name, request):
    inc, X, y, Xn, yn = request.getfixturevalue(data)
    inc.set_params(scoring=name)
    try:
        expected = get_scorer(name)(inc.estimator_, Xn, yn)
        assert inc.score(X, y) == pytest.approx(expected, rel=1e-9)
    finally:
        inc.set_params(scoring=None)


def test_empty_blocks_with_sample_weight_and_a_callable(filtered_frame):
    inc, X, y, Xn, yn = filtered_frame
    w = np.linspace(0.1, 1.0, len(yn))
    wd = dd.from_pandas(pd.Series(w, index=yn.index), npartitions=1)
    inc.set_params(scoring="roc_auc")
    expected = get_scorer("roc_auc")(inc.estimator_, Xn, yn, sample_weight=w)
    # sample_weight in memory and as a Dask Series are split along X's partitions
    assert inc.score(X, y, sample_weight=w) == pytest.approx(expected)
    assert inc.score(X, y, sample_weight=wd) == pytest.approx(expected)

    def auc(est, X_, y_):
        return roc_auc_score(y_, est.predict_proba(X_)[:, 1])

    inc.set_params(scoring=auc)
    assert inc.score(X, y) == pytest.approx(auc(inc.estimator_, Xn, yn))
    inc.set_params(scoring=None)


@pytest.mark.parametrize("name", GATHERED)
def test_validation_data_with_an_empty_partition(filtered_frame, name):
    _, X, y, Xn, yn = filtered_frame
    inc = Incremental(SGDClassifier(random_state=0), scoring=name, random_state=0, epochs=2)
    inc.fit(X, y, validation_data=(X, y))
    assert len(inc.history_) == 2
    expected = get_scorer(name)(inc.estimator_, Xn, yn)
    assert inc.history_[-1]["val_score"] == pytest.approx(expected)


@pytest.mark.parametrize("name", ["roc_auc", "accuracy", None])
def test_every_block_empty_is_a_clear_error(masked_array, name):
    inc, X, y, _, _ = masked_array
    inc.set_params(scoring=name)
    none = X[:, 0] > 2.0
    with pytest.raises(ValueError, match="zero samples"):
        inc.score(X[none], y[none])
    inc.set_params(scoring=None)


def test_misaligned_blocks_are_an_error_not_a_wrong_score():
    rs = np.random.RandomState(0)
    Xn = rs.rand(400, 2)
    yn = (Xn[:, 0] > 0.5).astype(int)
    X, y = da.from_array(Xn, chunks=100), da.from_array(yn, chunks=100)
    inc = Incremental(SGDClassifier(random_state=0)).fit(X, y)
    m1, m2 = X[:, 0] > 0.2, X[:, 1] > 0.2  # same number of blocks, different rows
    for name in ["accuracy", "roc_auc"]:
        inc.set_params(scoring=name)
        with pytest.raises(ValueError, match="rows"):
            inc.score(X[m1], y[m2])


# -------------------------------------------------- the estimator's own score
@pytest.fixture(scope="module")
def kmeans():
    Xn = np.random.RandomState(0).rand(1200, 5)
    X = da.from_array(Xn, chunks=300)
    est = MiniBatchKMeans(n_clusters=3, random_state=0, n_init=3)
    inc = Incremental(est, shuffle_blocks=False).fit(X)
    return inc, Xn


@pytest.mark.parametrize("chunks", [300, 150, 1200, (100, 500, 600)])
def test_kmeans_score_is_the_score_of_the_whole_data(kmeans, chunks):
    inc, Xn = kmeans
    expected = inc.estimator_.score(Xn)
    assert inc.score(Xn) == pytest.approx(expected)
    assert inc.score(da.from_array(Xn, chunks=(chunks, 5))) == pytest.approx(expected, rel=1e-9)
    w = np.linspace(0.1, 2.0, len(Xn))
    got = inc.score(da.from_array(Xn, chunks=(chunks, 5)), sample_weight=w)
    assert got == pytest.approx(inc.estimator_.score(Xn, sample_weight=w), rel=1e-9)


def test_kmeans_score_on_a_filtered_frame_and_as_validation(kmeans):
    inc, Xn = kmeans
    pdf = pd.DataFrame(Xn)
    ddf = dd.from_pandas(pdf, npartitions=4)
    ddf = ddf[ddf[0] > 0.3]
    kept = pdf[pdf[0] > 0.3].to_numpy()
    assert inc.score(ddf.to_dask_array(lengths=True)) == pytest.approx(
        inc.estimator_.score(kept), rel=1e-9)
    X = da.from_array(Xn, chunks=300)
    fitted = Incremental(MiniBatchKMeans(n_clusters=3, random_state=0, n_init=3),
                         shuffle_blocks=False).fit(X, validation_data=(X.rechunk(200), None))
    assert fitted.history_[-1]["val_score"] == pytest.approx(
        fitted.estimator_.score(Xn), rel=1e-9)


@pytest.mark.parametrize("est", [GaussianMixture(n_components=2, random_state=0),
                                 PCA(n_components=2), KernelDensity(bandwidth=0.5)])
def test_sum_and_mean_scores_of_fitted_estimators(est):
    Xn = np.random.RandomState(0).rand(600, 3)
    inc = Incremental(SGDRegressor())
    inc.estimator_ = est.fit(Xn)
    for chunks in [100, 250]:
        got = inc.score(da.from_array(Xn, chunks=(chunks, 3)))
        assert got == pytest.approx(est.score(Xn), rel=1e-9)


class _OwnScoreClassifier(ClassifierMixin, BaseEstimator):
    """A classifier whose score is not accuracy: the share of rows predicted as 1."""

    def partial_fit(self, X, y, classes=None):
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):
        return (np.asarray(X)[:, 0] > 0.5).astype(int)

    def score(self, X, y=None):
        return float(self.predict(X).mean())


def test_unknown_score_is_refused_not_guessed(monkeypatch):
    monkeypatch.setattr(metrics, "_REGISTERED", {})
    Xn = np.random.RandomState(0).rand(400, 3)
    yn = (Xn[:, 1] > 0.5).astype(int)
    X, y = da.from_array(Xn, chunks=100), da.from_array(yn, chunks=100)
    inc = Incremental(_OwnScoreClassifier()).fit(X, y)
    with pytest.raises(TypeError, match="_OwnScoreClassifier.score.*scoring="):
        inc.score(X, y)
    assert inc.score(Xn, yn) == inc.estimator_.score(Xn, yn)  # in memory: its own score
    metrics.register_score_reduction(_OwnScoreClassifier, "mean")
    assert inc.score(X.rechunk(70), y.rechunk(70)) == pytest.approx(
        inc.estimator_.score(Xn, yn))
    metrics.register_score_reduction(_OwnScoreClassifier, "accuracy")  # a wrong claim ...
    assert inc.score(X, y) == pytest.approx(np.mean(inc.estimator_.predict(Xn) == yn))
    with pytest.raises(ValueError, match="'sum', 'mean'"):
        metrics.register_score_reduction(_OwnScoreClassifier, "median")
    # PoissonRegressor.score is D^2, not R^2: refused although it is a regressor
    inc = Incremental(SGDRegressor())
    inc.estimator_ = PoissonRegressor().fit(Xn, yn + 1.0)
    with pytest.raises(TypeError, match="scoring='r2' if it is R\\^2"):
        inc.score(X, y + 1.0)
    inc.set_params(scoring="r2")
    assert inc.score(X, y + 1.0) == pytest.approx(r2_score(yn + 1.0, inc.estimator_.predict(Xn)))
    # LatentDirichletAllocation.score (a variational bound) does not add up over blocks
    counts = da.from_array(np.random.RandomState(0).poisson(2.0, (400, 6)), chunks=100)
    lda = Incremental(LatentDirichletAllocation(n_components=2, random_state=0)).fit(counts)
    with pytest.raises(TypeError, match="LatentDirichletAllocation"):
        lda.score(counts)


def test_progressive_train_score_of_a_summed_score():
    stats = [("sum", {"sw": 10.0, "sum": -3.0}), None, ("sum", {"sw": 5.0, "sum": -2.0})]
    assert metrics.combine_progressive(stats) == pytest.approx(-5.0)
    Xn = np.random.RandomState(0).rand(100, 2)
    est = MiniBatchKMeans(n_clusters=2, random_state=0, n_init=1).fit(Xn)
    stat = metrics.progressive_statistic(est, Xn[:40], None, None, metrics.ESTIMATOR_DEFAULT)
    assert stat[0] == "sum" and stat[1]["sum"] == pytest.approx(est.score(Xn[:40]))


# --------------------------------------------------------------- multi-output
def test_multi_output_scores_match_scikit_learn():
    rs = np.random.RandomState(0)
    Xn = rs.rand(600, 3)
    Yn = np.c_[Xn @ [1.0, 2.0, 3.0], Xn @ [3.0, 0.0, 1.0] + 5.0] + 0.1 * rs.rand(600, 2)
    X, Y = da.from_array(Xn, chunks=150), da.from_array(Yn, chunks=(150, 2))
    inc = Incremental(MultiOutputRegressor(SGDRegressor(random_state=0)), random_state=0).fit(X, Y)
    assert inc.score(X, Y) == pytest.approx(inc.estimator_.score(Xn, Yn), rel=1e-9)
    for name in ["r2", "explained_variance", "neg_mean_squared_error",
                 "neg_root_mean_squared_error", "neg_mean_absolute_error"]:
        inc.set_params(scoring=name)
        expected = get_scorer(name)(inc.estimator_, Xn, Yn)
        assert inc.score(X, Y) == pytest.approx(expected, rel=1e-9), name
    Yc = (Yn > np.median(Yn, axis=0)).astype(int)
    clf = Incremental(MultiOutputClassifier(SGDClassifier(random_state=0)), random_state=0)
    clf.fit(X, da.from_array(Yc, chunks=(150, 2)), classes=[[0, 1], [0, 1]])
    got = clf.score(X, da.from_array(Yc, chunks=(100, 2)))
    assert got == pytest.approx(clf.estimator_.score(Xn, Yc))


# ------------------------------------------------------------ callable scorers
@pytest.fixture(scope="module")
def regression():
    rs = np.random.RandomState(0)
    Xn = rs.rand(800, 4)
    yn = Xn @ [1.0, 2.0, 3.0, 4.0] + 0.1 * rs.rand(800)
    X, y = da.from_array(Xn, chunks=200), da.from_array(yn, chunks=200)
    inc = Incremental(SGDRegressor(random_state=0), random_state=0, epochs=2).fit(X, y)
    return inc, X, y, Xn, yn


CALLABLES = {
    "est.score": lambda est, X, y: est.score(X, y),
    "X.shape": lambda est, X, y: r2_score(y, est.predict(X)) - 0.001 * X.shape[1],
    "est.coef_": lambda est, X, y: float(np.abs(est.coef_).sum() + est.intercept_[0]),
    "get_params": lambda est, X, y: float(est.get_params()["alpha"] * len(X)),
    "make_scorer": make_scorer(r2_score),
}


@pytest.mark.parametrize("name", list(CALLABLES))
def test_callable_scorers_give_the_in_memory_result(regression, name):
    inc, X, y, Xn, yn = regression
    scorer = CALLABLES[name]
    inc.set_params(scoring=scorer)
    try:
        expected = scorer(inc.estimator_, Xn, yn)
        assert inc.score(Xn, yn) == pytest.approx(expected)
        assert inc.score(X, y) == pytest.approx(expected, rel=1e-9)
    finally:
        inc.set_params(scoring=None)


def test_callable_scorer_gets_a_placeholder_x(regression):
    inc, X, y, Xn, yn = regression
    seen = {}

    def spy(est, X_, y_):
        seen["X"], seen["est"] = X_, est
        return 0.0

    inc.set_params(scoring=spy)
    inc.score(X, y)
    placeholder = seen["X"]
    assert placeholder.shape == Xn.shape
    assert np.isnan(placeholder).all() and placeholder.strides == (0, 0)  # takes no memory
    assert not placeholder.flags.writeable
    assert "gathered responses" in repr(seen["est"])
    inc.set_params(scoring=None)


def test_callable_scorer_methods_that_need_x_are_clear_errors(kmeans, regression):
    inc, Xn = kmeans
    X = da.from_array(Xn, chunks=300)
    inc.set_params(scoring=lambda est, X_, y_: -float(est.transform(X_).min(axis=1).sum()))
    with pytest.raises(TypeError, match=r"MiniBatchKMeans\.transform needs the real X.*make_scorer"):
        inc.score(X)
    inc.set_params(scoring=None)

    inc, X, y, Xn, yn = regression
    inc.set_params(scoring=lambda est, X_, y_: r2_score(y_[:10], est.predict(X_[:10])))
    with pytest.raises(ValueError, match="placeholder X"):
        inc.score(X, y)
    inc.set_params(scoring=lambda est, X_, y_: est.no_such_attribute_)
    with pytest.raises(AttributeError, match="SGDRegressor"):
        inc.score(X, y)
    inc.set_params(scoring=None)


def test_callable_scorer_without_y(kmeans):
    inc, Xn = kmeans
    X = da.from_array(Xn, chunks=(250, 5))

    def biggest_cluster(est, X_, y_):
        assert y_ is None
        return float(np.bincount(est.predict(X_)).max() + est.score(X_))

    inc.set_params(scoring=biggest_cluster)
    expected = biggest_cluster(inc.estimator_, Xn, None)
    assert inc.score(Xn) == pytest.approx(expected)
    assert inc.score(X) == pytest.approx(expected, rel=1e-9)
    inc.set_params(scoring=None)


# ------------------------------------------------------------------ missing y
@pytest.mark.parametrize("scoring", [None, "accuracy", "roc_auc"])
def test_score_without_y_says_y_is_needed(masked_array, scoring):
    inc, X, _, Xn, _ = masked_array
    inc.set_params(scoring=scoring)
    try:
        for data in (X, Xn):
            with pytest.raises(ValueError, match="y is None"):
                inc.score(data)
    finally:
        inc.set_params(scoring=None)


CALLS = []


class _CountingClassifier(SGDClassifier):
    def decision_function(self, X):
        CALLS.append(X.shape[0])
        return super().decision_function(X)


def test_gathered_scorer_predicts_each_block_once(filtered_frame):
    _, X, y, Xn, yn = filtered_frame
    inc = Incremental(_CountingClassifier(random_state=0), scoring="roc_auc",
                      random_state=0).fit(X, y)
    CALLS.clear()
    expected = get_scorer("roc_auc")(inc.estimator_, Xn, yn)
    CALLS.clear()
    assert inc.score(X, y) == pytest.approx(expected)
    assert sorted(CALLS) == sorted(n for n in X.map_partitions(len).compute() if n)


def test_gpuinc_estimators_score_is_accuracy_and_r2():
    from gpuinc.linear_model import SGDClassifier as GpuincSGDClassifier
    from gpuinc.linear_model import SGDRegressor as GpuincSGDRegressor

    rs = np.random.RandomState(0)
    Xn = rs.rand(400, 3)
    yn = Xn @ [1.0, -2.0, 3.0]
    X = da.from_array(Xn, chunks=100)
    for est, target in [(GpuincSGDClassifier(random_state=0), (yn > 0.5).astype(int)),
                        (GpuincSGDRegressor(random_state=0), yn)]:
        inc = Incremental(est, random_state=0).fit(X, da.from_array(target, chunks=100))
        assert metrics.default_scoring(inc.estimator_) in ("accuracy", "r2")
        got = inc.score(X, da.from_array(target, chunks=100))
        assert got == pytest.approx(inc.estimator_.score(Xn, target), rel=1e-6)


@pytest.mark.parametrize("name", ["r2", "explained_variance", "neg_mean_squared_error"])
def test_a_block_that_weighs_nothing_scores_like_sklearn(name):
    # r2's per-block mean divided by the block's zero weight: NaN for the whole score
    rng = np.random.RandomState(0)
    Xn = rng.randn(400, 3)
    yn = Xn @ [1.0, 2.0, 3.0] + rng.randn(400)
    w = rng.rand(400)
    w[100:200] = 0.0
    est = SGDRegressor(random_state=0).fit(Xn, yn)
    inc = Incremental(SGDRegressor(), scoring=name)
    inc.estimator_ = est
    got = inc.score(da.from_array(Xn, chunks=100), da.from_array(yn, chunks=100),
                    sample_weight=da.from_array(w, chunks=100))
    assert got == pytest.approx(get_scorer(name)(est, Xn, yn, sample_weight=w), rel=1e-9)


def test_fit_skips_a_block_that_weighs_nothing():
    # scikit-learn's partial_fit refuses all-zero weights; that block has nothing to teach
    rng = np.random.RandomState(0)
    Xn = rng.randn(400, 3)
    yn = Xn @ [1.0, 2.0, 3.0]
    w = np.ones(400)
    w[100:200] = 0.0
    inc = Incremental(SGDRegressor(random_state=0), shuffle_blocks=False).fit(
        da.from_array(Xn, chunks=100), da.from_array(yn, chunks=100),
        sample_weight=da.from_array(w, chunks=100))
    ref = SGDRegressor(random_state=0)
    for i in (0, 2, 3):
        rows = slice(100 * i, 100 * (i + 1))
        ref.partial_fit(Xn[rows], yn[rows], sample_weight=w[rows])
    np.testing.assert_array_equal(inc.coef_, ref.coef_)


@pytest.mark.parametrize("name", ["accuracy", None])
def test_missing_test_labels_are_an_error_not_a_miss(name):
    rng = np.random.RandomState(0)
    Xn = rng.randn(200, 3)
    yn = (Xn[:, 0] > 0).astype(float)
    est = SGDClassifier(random_state=0).fit(Xn, yn)
    yn[5] = np.nan
    inc = Incremental(SGDClassifier(), scoring=name)
    inc.estimator_ = est
    with pytest.raises(ValueError, match=r"y holds missing values .* in 1 row"):
        inc.score(da.from_array(Xn, chunks=50), da.from_array(yn, chunks=50))


def test_a_block_where_the_scorer_is_undefined_does_not_blank_the_train_score():
    # roc_auc of a block holding one class is NaN; it made every pass's train_score NaN
    import warnings

    rng = np.random.RandomState(0)
    Xn = rng.randn(2400, 5)
    yn = (Xn[:, 0] > 0).astype(int)
    yn[1000:1200] = 1  # block 5 holds one class only
    X, y = da.from_array(Xn, chunks=(200, 5)), da.from_array(yn, chunks=200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn warns about the one-class block
        inc = Incremental(SGDClassifier(loss="log_loss", random_state=0), scoring="roc_auc",
                          train_score=True, shuffle_blocks=False, epochs=2,
                          progress=False).fit(X, y, classes=[0, 1])
    scores = [r["train_score"] for r in inc.history_]
    assert all(np.isfinite(scores)) and 0.9 < scores[-1] <= 1.0, scores


def test_blocks_that_weigh_nothing_are_not_counted_and_all_zero_is_an_error():
    rng = np.random.RandomState(0)
    Xn = rng.randn(400, 3)
    yn = Xn @ [1.0, 2.0, 3.0]
    X, y = da.from_array(Xn, chunks=100), da.from_array(yn, chunks=100)
    w = np.ones(400)
    w[100:200] = 0.0
    inc = Incremental(SGDRegressor(random_state=0), shuffle_blocks=False).fit(
        X, y, sample_weight=da.from_array(w, chunks=100))
    assert inc.history_[0]["rows"] == 300
    with pytest.raises(ValueError, match=r"no rows to train on: .* weigh nothing"):
        Incremental(SGDRegressor(random_state=0)).fit(X, y, sample_weight=da.zeros(400,
                                                                                  chunks=100))


def test_neg_log_loss_of_a_multilabel_indicator_y_matches_scikit_learn():
    from sklearn.neural_network import MLPClassifier

    rs = np.random.RandomState(0)
    Xn = rs.rand(600, 4)
    Yn = np.c_[Xn[:, 0] > 0.5, Xn[:, 1] + Xn[:, 2] > 1.0, Xn[:, 3] > 0.7].astype(int)
    X, Y = da.from_array(Xn, chunks=150), da.from_array(Yn, chunks=(150, 3))
    inc = Incremental(MLPClassifier(hidden_layer_sizes=(5,), random_state=0),
                      scoring="neg_log_loss", random_state=0).fit(X, Y)
    w = np.linspace(0.5, 2.0, 600)
    with pytest.warns(UserWarning, match="do not sum to one"):  # scikit-learn's own warning
        want = get_scorer("neg_log_loss")(inc.estimator_, Xn, Yn)
        want_w = get_scorer("neg_log_loss")(inc.estimator_, Xn, Yn, sample_weight=w)
    assert inc.score(X, Y) == pytest.approx(want, rel=1e-9)
    assert inc.score(X, Y, sample_weight=da.from_array(w, chunks=150)) == pytest.approx(
        want_w, rel=1e-9)
    # values other than 0 / 1 are a multi-output y, which has no single log loss
    with pytest.raises(ValueError, match="label indicator matrix"):
        inc.score(X, Y * 2)


def test_multi_output_classes_of_different_sizes_with_a_scoring_name():
    """One array of classes per output (2 and 3 classes): the scoring check skips them."""
    rng = np.random.default_rng(0)
    Xn = rng.normal(size=(600, 3))
    Yn = np.c_[Xn[:, 0] > 0, np.digitize(Xn[:, 1], [-0.5, 0.5])].astype(int)
    inc = Incremental(MultiOutputClassifier(SGDClassifier(random_state=0)), scoring="accuracy",
                      validation=0.2, random_state=0)
    inc.fit(da.from_array(Xn, chunks=100), da.from_array(Yn, chunks=(100, 2)))
    assert [len(e.classes_) for e in inc.estimator_.estimators_] == [2, 3]
    assert 0.0 <= inc.history_[-1]["val_score"] <= 1.0


def test_a_callable_scorer_gets_y_as_it_came_a_series_for_a_dask_series(filtered_frame):
    # on Dask input it got a NumPy array where in memory it gets the Series: a scorer using
    # the Series' methods worked on one and failed on the other
    inc, X, y, Xn, yn = filtered_frame

    def scorer(est, X_, y_):
        assert isinstance(y_, pd.Series) and y_.name == y.name
        return float((est.predict(X_) == y_.to_numpy()).mean())

    inc.set_params(scoring=scorer)
    assert inc.score(X, y) == pytest.approx(inc.score(Xn, yn))
    seen = []
    inc.set_params(scoring=lambda est, X_, y_: seen.append(type(y_)) or 0.0)
    inc.score(X.to_dask_array(lengths=True), y.to_dask_array(lengths=True))
    assert seen == [np.ndarray]  # arrays stay arrays
    inc.set_params(scoring=None)


@pytest.mark.parametrize("scoring", [None, "r2", "neg_median_absolute_error"])
def test_a_length_mismatch_found_while_scoring_names_its_block(scoring):
    df = pd.DataFrame(np.random.RandomState(0).rand(1000, 2), columns=list("ab"))
    df["y"] = df.a
    X = dd.from_pandas(df[["a", "b"]], npartitions=4)
    other = dd.from_pandas(df[["y"]], chunksize=300).y  # blocks of 300 rows, X's of 250
    inc = Incremental(SGDRegressor(random_state=0), scoring=scoring).fit(X, df.y)
    with pytest.raises(ValueError, match=r"block [0-3] of X has 250 rows but the matching "
                                         r"block of y has (300|100)"):
        inc.score(X, other)


# ------------------------------------------------ degenerate and non-finite input
def _fitted(scoring, est):
    inc = Incremental(est, scoring=scoring)
    inc.estimator_ = est
    return inc


@pytest.mark.parametrize("name", ["r2", "explained_variance"])
@pytest.mark.parametrize("chunks", [(100, 100, 100), (1, 0, 99, 200), (7, 13, 280)])
def test_a_constant_target_scores_like_scikit_learn_whatever_the_chunks(name, chunks):
    # y = 0.3 is not exact in floats: the merged variance of y was about 1e-32, not 0, and
    # the score about -3e31 (varying with the chunks) where scikit-learn gives 0
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression
    from sklearn.metrics import explained_variance_score

    rng = np.random.RandomState(13)
    Xn = rng.randn(300, 3)
    yn = np.full(300, 0.3)
    X, y = da.from_array(Xn, chunks=(chunks, 3)), da.from_array(yn, chunks=(chunks,))
    scorer = get_scorer(name)
    varying = SGDRegressor(random_state=0).fit(Xn, Xn[:, 0])  # predictions not constant
    exact = DummyRegressor(strategy="constant", constant=0.3).fit(Xn, yn)  # y exactly
    shifted = DummyRegressor(strategy="constant", constant=0.1).fit(Xn, yn)  # y - 0.2
    for est in (varying, exact, shifted):
        want = scorer(est, Xn, yn)
        assert _fitted(name, est).score(X, y) == want, (est, want)
    assert _fitted(name, varying).score(X, y) == 0.0
    assert _fitted(name, exact).score(X, y) == 1.0
    # multi-output: one constant output, predicted 0.7 everywhere (a constant residual),
    # and one that varies; the outputs are averaged. (scikit-learn's own moments of the
    # constant column are not exactly 0 here: it gives -3e28 for r2.)
    Yn = np.c_[yn, Xn @ [1.0, 2.0, 3.0] + 0.1 * rng.randn(300)]
    Y = da.from_array(Yn, chunks=(chunks, 2))
    lin = LinearRegression().fit(Xn, Yn @ np.diag([0.0, 1.0]) + [0.7, 0.0])
    assert np.ptp(lin.predict(Xn)[:, 0]) == 0.0
    metric = r2_score if name == "r2" else explained_variance_score
    # a zero denominator: 0 when the numerator is not 0 (r2: y - 0.7 is not 0), else 1
    # (explained variance: the residual y - 0.7 is constant); scikit-learn's convention
    constant = 0.0 if name == "r2" else 1.0
    want = (constant + metric(Yn[:, 1], lin.predict(Xn)[:, 1])) / 2
    assert _fitted(name, lin).score(X, Y) == pytest.approx(want, rel=1e-12)
    # rows that weigh nothing do not make y vary
    w = np.ones(300)
    w[::3] = 0.0
    yv = np.where(w == 0, 5.0, yn)
    got = _fitted(name, varying).score(X, da.from_array(yv, chunks=(chunks,)),
                                       sample_weight=da.from_array(w, chunks=(chunks,)))
    assert got == 0.0


_STREAMING_CLASSIFICATION = ["accuracy", "neg_log_loss"]
_STREAMING_REGRESSION = ["r2", "explained_variance", "neg_mean_squared_error",
                         "neg_root_mean_squared_error", "neg_mean_absolute_error"]


def _nonfinite_problem(name):
    rng = np.random.RandomState(20)
    Xn = rng.randn(300, 3)
    if name in _STREAMING_CLASSIFICATION:
        yn = (Xn[:, 0] > 0).astype(float)
        est = SGDClassifier(loss="log_loss", random_state=0).fit(Xn, yn)
    else:
        yn = Xn @ [1.0, 2.0, 3.0] + rng.randn(300)
        est = SGDRegressor(random_state=0).fit(Xn, yn)
    return est, Xn, yn


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", _STREAMING_CLASSIFICATION + _STREAMING_REGRESSION)
def test_a_non_finite_sample_weight_is_refused_as_scikit_learn_does(name, bad):
    # it gave a silent NaN score
    est, Xn, yn = _nonfinite_problem(name)
    w = np.random.RandomState(0).uniform(0.5, 2.0, 300)
    w[105] = bad
    with pytest.raises(ValueError, match="sample_weight"):
        get_scorer(name)(est, Xn, yn, sample_weight=w)
    what = "NaN" if np.isnan(bad) else "infinity"
    with pytest.raises(ValueError, match=rf"sample_weight contains {what}: 1 row\(s\) of block 1"):
        _fitted(name, est).score(da.from_array(Xn, chunks=(100, 3)),
                                 da.from_array(yn, chunks=100),
                                 sample_weight=da.from_array(w, chunks=100))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scikit-learn's own
@pytest.mark.parametrize("bad", [np.inf, -np.inf])
@pytest.mark.parametrize("name", _STREAMING_CLASSIFICATION + _STREAMING_REGRESSION)
def test_an_infinite_target_is_refused_as_scikit_learn_does(name, bad):
    # it gave a silent NaN or -inf score
    est, Xn, yn = _nonfinite_problem(name)
    yn = yn.copy()
    yn[203] = bad
    with pytest.raises(ValueError, match="infinity"):
        get_scorer(name)(est, Xn, yn)
    with pytest.raises(ValueError, match=r"y contains infinity: 1 row\(s\) of block 2"):
        _fitted(name, est).score(da.from_array(Xn, chunks=(100, 3)),
                                 da.from_array(yn, chunks=100))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scikit-learn's own
@pytest.mark.parametrize("name, bad", [("neg_log_loss", np.nan)] + [
    (name, bad) for name in _STREAMING_REGRESSION for bad in (np.nan, np.inf)])
def test_non_finite_predictions_are_refused_as_scikit_learn_does(name, bad):
    # a diverged model: its NaN / infinite predictions (or probabilities) gave a NaN score
    est, Xn, yn = _nonfinite_problem(name)
    est.coef_ = est.coef_.copy()
    est.coef_.flat[0] = bad
    if name == "neg_log_loss":
        assert not np.isfinite(est.predict_proba(Xn)).all()
    else:
        assert not np.isfinite(est.predict(Xn)).all()
    with pytest.raises(ValueError, match="NaN|infinity"):
        get_scorer(name)(est, Xn, yn)
    method = "predict_proba" if name == "neg_log_loss" else "predict"
    with pytest.raises(ValueError, match=rf"y_pred contains (NaN|infinity): "
                                         rf"{type(est).__name__}\.{method} returned"):
        _fitted(name, est).score(da.from_array(Xn, chunks=(100, 3)),
                                 da.from_array(yn, chunks=100))
    # NaN labels are still missing labels
    est, Xn, yn = _nonfinite_problem(name)
    yn[5] = np.nan
    with pytest.raises(ValueError, match=r"y holds missing values"):
        _fitted(name, est).score(da.from_array(Xn, chunks=(100, 3)),
                                 da.from_array(yn, chunks=100))


@pytest.mark.parametrize("model", ["regressor", "classifier"])
def test_a_callable_scorer_may_check_that_the_estimator_is_fitted(regression, filtered_frame,
                                                                  model):
    # the stand-in of a regressor failed check_is_fitted (a classifier passed by its classes_)
    from sklearn.utils.validation import check_is_fitted

    inc, X, y, Xn, yn = regression if model == "regressor" else filtered_frame

    def scorer(est, X_, y_):
        check_is_fitted(est)
        return float(np.mean((np.asarray(y_) - est.predict(X_)) ** 2))

    inc.set_params(scoring=scorer)
    try:
        assert inc.score(X, y) == pytest.approx(inc.score(Xn, yn), rel=1e-9)
    finally:
        inc.set_params(scoring=None)


def test_the_refusal_of_an_unknown_score_suggests_a_reduction_only_conditionally(monkeypatch):
    # it told to register LatentDirichletAllocation's score as a sum or a mean, which gives
    # scores that depend on the chunking
    monkeypatch.setattr(metrics, "_REGISTERED", {})
    counts = da.from_array(np.random.RandomState(0).poisson(2.0, (400, 6)), chunks=100)
    lda = Incremental(LatentDirichletAllocation(n_components=2, random_state=0)).fit(counts)
    with pytest.raises(TypeError) as refusal:
        lda.score(counts)
    message = str(refusal.value)
    assert "register_score_reduction(LatentDirichletAllocation" not in message
    assert "does not depend on the rows" in message or "independent of the rows" in message
    assert "scoring=" in message
    inc = Incremental(_OwnScoreClassifier())
    inc.estimator_ = _OwnScoreClassifier().partial_fit(None, None)
    with pytest.raises(TypeError, match=r"Only if _OwnScoreClassifier\.score is a sum of "
                                        r"per-row terms .* row-weighted mean .*"
                                        r"register_score_reduction\(_OwnScoreClassifier, "
                                        r"'sum'\) \(or 'mean'\)"):
        inc.score(counts.astype(float)[:, :3], da.zeros(400, chunks=100, dtype=int))


def test_log_loss_of_values_that_are_not_probabilities_is_refused():
    """scikit-learn's log_loss refuses y_prob outside [0, 1]; the blockwise one did not."""

    class Odd(ClassifierMixin, BaseEstimator):
        def partial_fit(self, X, y, classes=None):
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X):
            return np.zeros(len(X), dtype=int)

        def predict_proba(self, X):
            return np.column_stack([np.full(len(X), -0.5), np.full(len(X), 1.5)])

    rng = np.random.default_rng(0)
    Xn, yn = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    X, y = da.from_array(Xn, chunks=50), da.from_array(yn, chunks=50)
    inc = Incremental(Odd(), scoring="neg_log_loss").fit(X, y)
    with pytest.raises(ValueError, match="y_prob contains values (greater than 1|lower than 0)"):
        get_scorer("neg_log_loss")(inc.estimator_, Xn, yn)
    with pytest.raises(ValueError, match=r"y_prob contains values greater than 1: Odd"):
        inc.score(X, y)


def test_log_loss_of_two_classes_reads_the_positive_column_only():
    """scikit-learn's binary log loss reads only the positive class's column: a first
    column slightly above 1 is not refused (the positive one is a probability)."""

    class Unnormalised(ClassifierMixin, BaseEstimator):
        def partial_fit(self, X, y, classes=None):
            self.classes_ = np.array([0, 1])
            return self

        def predict(self, X):
            return (X[:, 0] > 0).astype(int)

        def predict_proba(self, X):
            p = 1 / (1 + np.exp(-X[:, 0]))
            return np.column_stack([1 - p + 1e-6, p])

    rng = np.random.default_rng(0)
    Xn, yn = rng.normal(size=(200, 3)), rng.integers(0, 2, 200)
    inc = Incremental(Unnormalised(), scoring="neg_log_loss").fit(
        da.from_array(Xn, chunks=50), da.from_array(yn, chunks=50))
    expected = get_scorer("neg_log_loss")(inc.estimator_, Xn, yn)
    assert inc.score(da.from_array(Xn, chunks=50), da.from_array(yn, chunks=50)) == \
        pytest.approx(expected, rel=1e-9)


# ------------------------------------------------- rows that move between computes
class _Threshold(ClassifierMixin, BaseEstimator):
    """Predicts class 1 where column ``a`` is positive: right on every row of the data below."""

    def partial_fit(self, X, y, classes=None):
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return (np.asarray(X)[:, 0] > 0).astype(int)

    def decision_function(self, X):
        return np.asarray(X)[:, 0]


def _reordered_each_compute():
    """A Dask DataFrame whose partitions come in another row order at every compute, as
    after ``shuffle`` (or ``sort_values`` / ``set_index`` on tied keys)."""
    import itertools

    calls = itertools.count()
    rng = np.random.RandomState(0)
    pdf = pd.DataFrame(rng.randn(400, 2), columns=list("ab"))
    pdf["y"] = (pdf.a > 0).astype(int)

    def reorder(part):
        return part.iloc[np.random.RandomState(next(calls)).permutation(len(part))]

    ddf = dd.from_pandas(pdf, npartitions=4).map_partitions(reorder, meta=pdf.iloc[:0])
    return ddf[["a", "b"]], ddf.y, pdf


def test_a_callable_scorer_pairs_y_with_the_predictions_of_the_same_rows():
    # y was gathered in one compute and predict in another: on rows that come in another
    # order at every compute, y was paired with other rows' predictions (accuracy ~0.5)
    from sklearn.metrics import accuracy_score, roc_auc_score

    X, y, pdf = _reordered_each_compute()
    inc = Incremental(_Threshold(), scoring="accuracy").fit(pdf[["a", "b"]], pdf.y)
    assert inc.score(X, y) == 1.0  # streamed: y and predict in one task
    for scoring in [lambda est, X_, y_: accuracy_score(y_, est.predict(X_)),
                    # asks for two responses: both are gathered with y, in one compute
                    lambda est, X_, y_: (roc_auc_score(y_, est.decision_function(X_))
                                         + accuracy_score(y_, est.predict(X_))) / 2,
                    lambda est, X_, y_: est.score(X_, y_)]:
        inc.set_params(scoring=scoring)
        assert inc.score(X, y) == 1.0
    inc.set_params(scoring=lambda est, X_, y_: accuracy_score(y_, est.predict(X_)))
    assert float(inc.score(X, y, compute=False)) == 1.0  # predict is gathered ahead


def test_validation_with_a_callable_scorer_pairs_y_with_its_predictions():
    from sklearn.metrics import accuracy_score

    X, y, pdf = _reordered_each_compute()
    inc = Incremental(_Threshold(), scoring=lambda e, X_, y_: accuracy_score(y_, e.predict(X_)),
                      epochs=2, progress=False)
    inc.fit(pdf[["a", "b"]], pdf.y, validation_data=(X, y))
    assert [r["val_score"] for r in inc.history_] == [1.0, 1.0]


def test_a_callable_scorer_is_not_failed_by_a_response_it_does_not_use(kmeans):
    # predict is gathered with y for a callable ahead of its call; its error counts only
    # if the scorer asks for predict
    class NoPredict(_Threshold):
        def predict(self, X):
            raise RuntimeError("predict is broken")

    X, y, pdf = _reordered_each_compute()
    inc = Incremental(NoPredict(), scoring=lambda e, X_, y_: float(len(y_))).fit(
        pdf[["a", "b"]], pdf.y)
    assert inc.score(X, y) == 400.0
    inc.set_params(scoring=lambda e, X_, y_: float(e.predict(X_).mean()))
    with pytest.raises(RuntimeError, match="predict is broken"):
        inc.score(X, y)


# --------------------------------------------------- errors that name their block
class _FailsOnNegatives(SGDRegressor):
    def predict(self, X):
        if (np.asarray(X)[:, 0] < -100).any():
            raise ValueError("cannot predict a row below -100")
        return super().predict(X)


@pytest.mark.parametrize("scoring", ["r2", "neg_median_absolute_error"])
def test_an_estimator_error_while_scoring_names_its_block(scoring):
    rng = np.random.RandomState(0)
    Xn = rng.randn(300, 2)
    yn = Xn[:, 0] + rng.randn(300)
    inc = Incremental(_FailsOnNegatives(random_state=0), scoring=scoring).fit(Xn, yn)
    Xn[250, 0] = -1000
    with pytest.raises(ValueError, match="below -100") as info:
        inc.score(da.from_array(Xn, chunks=(100, 2)), da.from_array(yn, chunks=100))
    assert any("_FailsOnNegatives.predict on block 2 (rows 200:300) of X" in note
               for note in getattr(info.value, "__notes__", [])), info.value


class _Diverges(RegressorMixin, BaseEstimator):
    """Predicts 0, then NaN (as a diverged model does) after ``after`` partial_fit calls."""

    def __init__(self, after=3):
        self.after = after

    def partial_fit(self, X, y):
        self.n_ = getattr(self, "n_", 0) + 1
        self.coef_ = np.ones(X.shape[1])
        return self

    def predict(self, X):
        return np.full(len(X), np.nan if self.n_ > self.after else 0.0)


def _diverging_data():
    rng = np.random.RandomState(0)
    return da.from_array(rng.rand(100, 3), chunks=(20, 3)), da.from_array(rng.rand(100), chunks=20)


@pytest.mark.parametrize("scoring", ["r2", "neg_median_absolute_error"])
def test_nan_predictions_on_a_training_block_raise_naming_it(scoring):
    # the train score of a diverged model: a gathered scorer's ValueError left the block out
    # silently, and r2 said "a block of the test data"
    X, y = _diverging_data()
    inc = Incremental(_Diverges(), scoring=scoring, train_score=True, shuffle_blocks=False,
                      epochs=2, progress=False)
    with pytest.raises(ValueError, match=r"(y_pred contains NaN: _Diverges\.predict returned "
                                         r"NaN or infinite values for 20 row\(s\) of |"
                                         r"Input contains NaN)") as info:
        inc.fit(X, y)
    said = " ".join([str(info.value), *getattr(info.value, "__notes__", [])])
    assert "training block 4 (rows 80:100)" in said and "test data" not in said, said


def test_a_callable_decides_what_nan_predictions_of_a_training_block_give():
    # a callable gets what the estimator returns, as in memory: no NaN check of gpuinc's.
    # One that refuses NaN (scikit-learn's metric) has those blocks left out, with a
    # warning; one that handles NaN itself scores them
    X, y = _diverging_data()

    def refuses_nan(e, X_, y_):
        return -mean_absolute_error(y_, e.predict(X_))

    inc = Incremental(_Diverges(), scoring=refuses_nan, train_score=True,
                      shuffle_blocks=False, epochs=2, progress=False)
    with pytest.warns(UserWarning, match="could not be computed on 1 of the 4 blocks.*"
                                         "Input contains NaN"):
        inc.fit(X, y)
    assert np.isfinite(inc.history_[0]["train_score"])
    assert np.isnan(inc.history_[1]["train_score"])  # every block NaN: warned as well

    def nan_zero(e, X_, y_):
        return float(np.nansum(e.predict(X_)))

    inc = Incremental(_Diverges(), scoring=nan_zero, train_score=True, shuffle_blocks=False,
                      epochs=2, progress=False).fit(X, y)
    assert [r["train_score"] for r in inc.history_] == [0.0, 0.0]


class _Abstains(RegressorMixin, BaseEstimator):
    """Predicts x0, or NaN (no opinion) where x0 < -1."""

    def partial_fit(self, X, y):
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    fit = partial_fit

    def predict(self, X):
        X = np.asarray(X)
        return np.where(X[:, 0] < -1, np.nan, X[:, 0])


def test_a_callable_that_handles_nan_predictions_scores_dask_input_as_in_memory():
    # the stand-in refused NaN predictions for callables too, which work in memory
    rng = np.random.RandomState(0)
    Xn = rng.randn(500, 2)
    yn = Xn[:, 0] + 0.1 * rng.randn(500)

    def nan_mae(est, X_, y_):
        return -float(np.nanmean(np.abs(y_ - est.predict(X_))))

    inc = Incremental(_Abstains(), scoring=nan_mae).fit(Xn, yn)
    expected = inc.score(Xn, yn)
    assert np.isfinite(expected)
    Xd, yd = da.from_array(Xn, chunks=(100, 2)), da.from_array(yn, chunks=100)
    assert inc.score(Xd, yd) == pytest.approx(expected, rel=1e-12)
    # scikit-learn's scorers still refuse them, naming the block
    inc.set_params(scoring="neg_median_absolute_error")
    with pytest.raises(ValueError, match=r"y_pred contains NaN: _Abstains\.predict returned"):
        inc.score(Xd, yd)


def test_nan_predictions_on_validation_with_a_gathered_scorer_name_the_block():
    # scikit-learn's bare "Input contains NaN." came from deep in the metric
    X, y = _diverging_data()
    inc = Incremental(_Diverges(after=2), scoring="neg_median_absolute_error", epochs=2,
                      shuffle_blocks=False, progress=False)
    with pytest.raises(ValueError, match=r"y_pred contains NaN: _Diverges\.predict returned NaN "
                                         r"or infinite values for 20 row\(s\) of block 0 \(rows "
                                         r"0:20\) of the test data"):
        inc.fit(X, y, validation_data=(X, y))


@pytest.mark.filterwarnings("ignore:Only one class:UserWarning")  # scikit-learn's own
def test_the_train_score_warns_about_every_block_it_leaves_out():
    # a block where the scorer is undefined was left out silently unless all were
    rng = np.random.RandomState(0)
    Xn = rng.randn(200, 3)
    yn = (Xn[:, 0] > 0).astype(int)
    est = SGDClassifier(loss="log_loss", random_state=0).fit(Xn, yn)
    one_class = metrics.progressive_statistic(est, Xn[yn == 1][:40], yn[yn == 1][:40], None,
                                              "roc_auc")
    both = metrics.progressive_statistic(est, Xn[:40], yn[:40], None, "roc_auc")
    assert not np.isfinite(one_class[1]["sum"]) and np.isfinite(both[1]["sum"])
    with pytest.warns(UserWarning, match="1 of the 2 blocks scored in the pass"):
        assert metrics.combine_progressive([both, one_class]) == pytest.approx(
            roc_auc_score(yn[:40], est.decision_function(Xn[:40])))


def test_a_scorer_error_on_a_training_block_leaves_it_out_with_a_warning_that_quotes_it():
    # a ValueError of the scorer on a block with every class aborted the fit: it leaves
    # the block out (the warning quotes the first error); NaN predictions still raise
    rng = np.random.RandomState(0)
    Xn = rng.randn(200, 3)
    yn = (Xn[:, 0] > 0).astype(int)
    est = SGDClassifier(loss="log_loss", random_state=0).fit(Xn, yn)

    def buggy(e, X, y):
        raise ValueError("a bug of the\nscorer")

    failed = metrics.progressive_statistic(est, Xn[:40], yn[:40], None, buggy, index=0,
                                           rows=(0, 40))
    scored = metrics.progressive_statistic(est, Xn[40:80], yn[40:80], None, "roc_auc")
    assert np.isnan(failed[1]["sum"]) and np.isfinite(scored[1]["sum"])
    with pytest.warns(UserWarning, match="1 of the 2 blocks scored in the pass, which are left "
                                         "out of it: a bug of the scorer"):
        assert metrics.combine_progressive([failed, scored]) == pytest.approx(
            roc_auc_score(yn[40:80], est.decision_function(Xn[40:80])))
    with pytest.warns(UserWarning, match="any block of the pass: a bug of the scorer"):
        assert np.isnan(metrics.combine_progressive([failed, failed]))


# ------------------------------------------------------------ unseen labels
@pytest.mark.parametrize("scoring", ["roc_auc", "f1", "neg_log_loss"])
def test_a_test_label_the_model_never_saw_is_named(scoring):
    # scikit-learn's errors were about something else: "multi_class must be in ('ovo',
    # 'ovr')", "Target is multiclass but average='binary'"
    rng = np.random.RandomState(0)
    Xn = rng.randn(300, 3)
    yn = (Xn[:, 0] > 0).astype(int)
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0), scoring=scoring).fit(
        Xn, yn, classes=[0, 1])
    yt = yn.copy()
    yt[205] = 2
    with pytest.raises(ValueError, match=r"y contains label\(s\) 2 in block 2 \(rows 200:300\) "
                                         r"of the test data that the estimator never saw: "
                                         r"SGDClassifier knows the classes \[0, 1\].*classes="):
        inc.score(da.from_array(Xn, chunks=(100, 3)), da.from_array(yt, chunks=100))


# ------------------------------------- callables that swallow the request for a response
@pytest.mark.parametrize("fallback", ["predict", "predict_proba"])
def test_a_callable_that_swallows_the_request_for_a_response_is_called_again(fallback):
    # a bare except caught gpuinc's _MoreResponses (the stand-in's "not gathered yet") and
    # fell back on another response: the Dask score differed from the in-memory one
    rng = np.random.RandomState(0)
    Xn = rng.randn(400, 3)
    yn = (Xn[:, 0] + 0.5 * rng.randn(400) > 0).astype(int)
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0)).fit(Xn, yn,
                                                                          classes=[0, 1])
    used = []

    def auc(est, X, y):
        try:
            s = est.decision_function(X)
            used.append("decision_function")
        except:  # noqa: E722 - what the scorer under test does
            s = getattr(est, fallback)(X)
            s = s[:, 1] if s.ndim == 2 else s
            used.append(fallback)
        return roc_auc_score(y, s)

    expected = auc(inc.estimator_, Xn, yn)
    assert used == ["decision_function"]
    used.clear()
    inc.set_params(scoring=auc)
    got = inc.score(da.from_array(Xn, chunks=(100, 3)), da.from_array(yn, chunks=100))
    assert got == pytest.approx(expected, rel=1e-12)
    assert used[-1] == "decision_function"
    assert len(used) == (2 if fallback == "predict" else 1)  # (an aborted call appends none)
    # compute=False gathers predict only: a scorer that swallows the refusal is refused
    used.clear()
    with pytest.raises(TypeError, match="also asked for decision_function"):
        float(inc.score(da.from_array(Xn, chunks=(100, 3)), da.from_array(yn, chunks=100),
                        compute=False))


def test_an_unrelated_scorer_error_is_not_blamed_on_a_label_the_model_never_saw():
    # every ValueError of a gathered scorer was rewritten as "y contains label(s) 7 ...
    # never saw", also a callable's own error and roc_auc (binary) of a 3-class model, which
    # fail without label 7 too
    from sklearn.metrics import f1_score

    rng = np.random.RandomState(0)
    Xn = rng.randn(600, 4)
    yn = np.digitize(Xn[:, 0], [-.5, .5])
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0)).fit(Xn, yn,
                                                                          classes=[0, 1, 2])
    yt = yn.copy()
    yt[550:] = 7
    Xd, yd = da.from_array(Xn, chunks=(100, 4)), da.from_array(yt, chunks=100)

    def needs_rows(est, X, y):
        raise ValueError("my_scorer needs at least 1000 rows")

    for scoring, said in [(needs_rows, "my_scorer needs at least 1000 rows"),
                          ("roc_auc", "multi_class must be in")]:
        inc.set_params(scoring=scoring)
        with pytest.raises(ValueError, match=said) as info:
            inc.score(Xd, yd)
        assert "never saw" not in str(info.value)
        if hasattr(info.value, "add_note"):  # (Python 3.11+)
            note = " ".join(getattr(info.value, "__notes__", []))
            assert "label(s) 7 in block 5 (rows 500:600)" in note and "never saw" in note, note
    # an error about the labels is still named as theirs: a scikit-learn scorer that
    # scores the other rows, and a callable whose error is about labels / classes
    for scoring in ["roc_auc_ovr",
                    lambda est, X, y: f1_score(y, est.predict(X), average="binary")]:
        inc.set_params(scoring=scoring)
        with pytest.raises(ValueError, match=r"y contains label\(s\) 7 in block 5 .*never saw"):
            inc.score(Xd, yd)


def test_a_response_with_one_array_per_output_is_named_not_a_row_mismatch():
    # MultiOutputClassifier.predict_proba (a list of 3 arrays) was taken for 3 rows: "gave 3
    # rows for a block whose y has 100 ... assume_equal_chunks=False"
    rng = np.random.RandomState(0)
    Xn = rng.randn(300, 4)
    Yn = (Xn[:, :3] + rng.randn(300, 3) > 0).astype(int)
    Xd, Yd = da.from_array(Xn, chunks=(100, 4)), da.from_array(Yn, chunks=(100, 3))
    classes = [np.array([0, 1])] * 3

    def mk():
        return MultiOutputClassifier(SGDClassifier(loss="log_loss", random_state=0))

    said = (r"needs MultiOutputClassifier\.predict_proba to return one array, but it returns "
            r"a list of 3 \(one per output\)")
    inc = Incremental(mk(), scoring="roc_auc", train_score=True, progress=False)
    with pytest.raises(ValueError, match=said) as info:
        inc.fit(Xd, Yd, classes=classes)
    assert "assume_equal_chunks" not in str(info.value)

    def mean_proba(est, X, y):
        return float(np.mean(est.predict_proba(X)))

    inc = Incremental(mk(), scoring=mean_proba).fit(Xn, Yn, classes=classes)
    with pytest.raises(ValueError, match=said) as info:
        inc.score(Xd, Yd)
    assert "assume_equal_chunks" not in str(info.value)


def test_a_callable_that_catches_an_estimator_error_falls_back_as_in_memory():
    # the error of a response asked for on the second call was raised by the gathering
    # itself, so the callable could not fall back on another response as it does in memory
    class NoScoresOnOutliers(SGDClassifier):
        def decision_function(self, X):
            if (np.abs(np.asarray(X)) > 3).any():
                raise ValueError("no decision on outliers")
            return super().decision_function(X)

        def predict_proba(self, X):
            p = 1 / (1 + np.exp(-super().decision_function(X)))
            return np.c_[1 - p, p]

    rng = np.random.RandomState(0)
    Xn = rng.randn(400, 3)
    yn = (Xn[:, 0] + 0.5 * rng.randn(400) > 0).astype(int)
    Xn[250, 1] = 5.0
    inc = Incremental(NoScoresOnOutliers(loss="log_loss", random_state=0)).fit(
        Xn, yn, classes=[0, 1])

    def auc(est, X, y):
        try:
            s = est.decision_function(X)
        except ValueError:
            s = est.predict_proba(X)[:, 1]
        return roc_auc_score(y, s)

    expected = auc(inc.estimator_, Xn, yn)
    inc.set_params(scoring=auc)
    assert inc.score(da.from_array(Xn, chunks=(100, 3)),
                     da.from_array(yn, chunks=100)) == pytest.approx(expected, rel=1e-12)


def test_a_callable_is_called_again_per_response_as_the_docs_say():
    # docs/training.md: the first call is stopped by a BaseException (not an Exception)
    # when it asks for a response not gathered; its side effects happen again
    log = []

    class Run:
        def __enter__(self):
            log.append("start")

        def __exit__(self, typ, exc, tb):
            log.append("ok" if typ is None else
                       "stopped" if not issubclass(typ, Exception) else "error")

    def scorer(est, X, y):
        with Run():
            return roc_auc_score(y, est.predict_proba(X)[:, 1])

    rng = np.random.RandomState(0)
    Xn = rng.randn(300, 3)
    yn = (Xn[:, 0] > 0).astype(int)
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0), scoring=scorer).fit(
        Xn, yn, classes=[0, 1])
    inc.score(da.from_array(Xn, chunks=(100, 3)), da.from_array(yn, chunks=100))
    assert log == ["start", "stopped", "start", "ok"]


class _PredictBroken(SGDClassifier):
    def predict(self, X):
        raise ValueError("predict is broken")


def test_a_callable_may_ask_again_for_a_response_that_failed():
    # the failed response was dropped once raised: asked for again, the scorer met
    # "('predict',) were gathered but not served" instead of the estimator's error
    rng = np.random.RandomState(0)
    Xn = rng.randn(200, 3)
    yn = (Xn[:, 0] > 0).astype(int)
    X, y = da.from_array(Xn, chunks=50), da.from_array(yn, chunks=50)
    inc = Incremental(_PredictBroken(loss="log_loss", random_state=0)).fit(X, y, classes=[0, 1])
    asked = []

    def scorer(est, X_, y_):
        for _ in range(2):
            try:
                return float(np.mean(est.predict(X_) == y_))
            except ValueError as exc:
                asked.append(str(exc))
        return float(np.mean(est.classes_[est.predict_proba(X_).argmax(axis=1)] == y_))

    inc.set_params(scoring=scorer)
    assert inc.score(X, y) == pytest.approx(scorer(inc.estimator_, Xn, yn))
    assert asked and all(a == "predict is broken" for a in asked)
