"""Scoring on Dask collections equals scikit-learn's scoring on the gathered data."""

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import SGDClassifier, SGDRegressor
from sklearn.metrics import get_scorer, get_scorer_names, make_scorer, mean_squared_error

from gpuinc import Incremental, metrics
from gpuinc.datasets import make_classification, make_regression


@pytest.fixture(scope="module")
def binary():
    X, y = make_classification(n_samples=2000, n_features=6, chunks=400, flip_y=0.1,
                               random_state=1)
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0), random_state=0,
                      epochs=2).fit(X, y)
    return inc, X, y, *dask.compute(X, y)


@pytest.fixture(scope="module")
def multiclass():
    X, y = make_classification(n_samples=2000, n_features=6, n_informative=4, n_classes=3,
                               chunks=400, random_state=2)
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0), random_state=0).fit(X, y)
    return inc, X, y, *dask.compute(X, y)


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=2000, n_features=6, chunks=400, noise=5.0, bias=3.0,
                           random_state=3)
    y = abs(y) + 1  # positive targets so that log and percentage errors are defined
    inc = Incremental(SGDRegressor(random_state=0), random_state=0, epochs=3).fit(X, y)
    return inc, X, y, *dask.compute(X, y)


def _applicable(name, est, Xn, yn):
    try:
        value = get_scorer(name)(est, Xn, yn)
    except Exception:
        return None
    return value


@pytest.mark.parametrize("problem", ["binary", "multiclass", "regression"])
def test_every_scorer_name_matches_sklearn(problem, request):
    inc, X, y, Xn, yn = request.getfixturevalue(problem)
    checked = 0
    for name in get_scorer_names():
        expected = _applicable(name, inc.estimator_, Xn, yn)
        if expected is None:
            # scikit-learn refuses (accuracy of a regressor's continuous predictions, a
            # binary metric on three classes, ...): so must the blockwise score, never a
            # number (accuracy of a regressor was a silent 0.0)
            with pytest.raises(Exception):  # noqa: B017, PT011 - each scorer's own error
                inc.set_params(scoring=name).score(X, y)
            continue
        if not np.isfinite(expected):
            continue
        got = inc.set_params(scoring=name).score(X, y)
        assert got == pytest.approx(expected, rel=1e-7, abs=1e-10), name
        checked += 1
    inc.set_params(scoring=None)
    assert checked >= {"binary": 15, "multiclass": 8, "regression": 8}[problem]


def test_streaming_metrics_do_not_gather(binary, regression, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("gathered responses for a streaming metric")

    monkeypatch.setattr(metrics, "_GatheredResponses", refuse)
    inc, X, y, Xn, yn = binary
    for name in ["accuracy", "neg_log_loss"]:
        inc.set_params(scoring=name)
        assert inc.score(X, y) == pytest.approx(get_scorer(name)(inc.estimator_, Xn, yn))
    inc, X, y, Xn, yn = regression
    for name in ["r2", "neg_mean_squared_error", "neg_root_mean_squared_error",
                 "neg_mean_absolute_error", "explained_variance"]:
        inc.set_params(scoring=name)
        assert inc.score(X, y) == pytest.approx(get_scorer(name)(inc.estimator_, Xn, yn))


def test_r2_is_stable_with_a_large_offset():
    rs = np.random.RandomState(0)
    Xn = rs.normal(size=(4000, 3))
    yn = 1e8 + Xn @ [1.0, 2.0, 3.0] + rs.normal(size=4000)
    est = SGDRegressor(random_state=0).fit(Xn, yn - 1e8)
    est.intercept_ += 1e8
    inc = Incremental(SGDRegressor(), scoring="r2")
    inc.estimator_ = est
    got = inc.score(dask.array.from_array(Xn, chunks=500), dask.array.from_array(yn, chunks=500))
    assert got == pytest.approx(est.score(Xn, yn), rel=1e-6)


def test_callable_scorer_and_sample_weight(binary):
    inc, X, y, Xn, yn = binary
    scorer = make_scorer(mean_squared_error, greater_is_better=False)
    inc.set_params(scoring=scorer)
    assert inc.score(X, y) == pytest.approx(scorer(inc.estimator_, Xn, yn))
    w = np.linspace(0.1, 1, len(yn))
    for name in ["accuracy", "roc_auc"]:
        inc.set_params(scoring=name)
        expected = get_scorer(name)(inc.estimator_, Xn, yn, sample_weight=w)
        assert inc.score(X, y, sample_weight=w) == pytest.approx(expected)
    inc.set_params(scoring=None)


def test_default_score_and_dataframe_input(binary):
    inc, X, y, Xn, yn = binary
    assert inc.score(X, y) == pytest.approx(inc.estimator_.score(Xn, yn))
    ddf = dd.from_pandas(pd.DataFrame(Xn), npartitions=3)
    ys = dd.from_pandas(pd.Series(yn), npartitions=3)
    assert inc.score(ddf, ys) == pytest.approx(inc.estimator_.score(Xn, yn))


def test_log_loss_unknown_label(binary):
    inc, X, y, Xn, yn = binary
    inc.set_params(scoring="neg_log_loss")
    with pytest.raises(ValueError, match="never saw"):
        inc.score(X, y + 5)
    inc.set_params(scoring=None)


def test_scorer_without_score_method():
    from sklearn.preprocessing import StandardScaler

    X, _ = make_classification(n_samples=200, chunks=100, random_state=0)
    inc = Incremental(StandardScaler()).fit(X)
    # no score without scoring (as scikit-learn's meta-estimators: a model search over it
    # then refuses it, instead of NaN scores and the first candidate as the best)
    assert not hasattr(inc, "score")
    with pytest.raises(AttributeError, match="StandardScaler has no score and scoring is None: "
                                             "pass scoring="):
        inc.score(X)
    with pytest.raises(TypeError, match="should have a 'score' method"):
        from sklearn.model_selection import GridSearchCV

        GridSearchCV(Incremental(StandardScaler()), {"estimator__with_mean": [True, False]},
                     cv=2).fit(X.compute())
    inc.set_params(scoring="explained_variance")
    assert hasattr(inc, "score")


def test_bad_scoring_name(binary):
    inc, X, y, *_ = binary
    inc.set_params(scoring="not_a_metric")
    with pytest.raises(ValueError, match="not_a_metric"):
        inc.score(X, y)
    inc.set_params(scoring=None)


@pytest.mark.parametrize(("scoring", "instead"), [
    ("f1", "'f1_macro'"), ("precision", "'precision_macro'"), ("roc_auc", "'roc_auc_ovr'"),
])
def test_binary_scoring_of_a_multiclass_fit_fails_before_training(scoring, instead):
    # scikit-learn's binary metrics only failed when first scored, after a whole pass
    import dask.array as da

    rng = np.random.default_rng(0)
    X = da.from_array(rng.normal(size=(300, 3)), chunks=100)
    y = da.from_array(rng.integers(0, 3, size=300), chunks=100)
    calls = []

    class Counting(SGDClassifier):
        def partial_fit(self, X, y, classes=None, sample_weight=None):
            calls.append(len(X))
            return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    inc = Incremental(Counting(loss="log_loss"), scoring=scoring, validation=0.34,
                      random_state=0)
    with pytest.raises(ValueError, match=rf"cannot score this problem of 3 classes.*{instead}"):
        inc.fit(X, y)
    assert calls == []
    # the multiclass scorings go through, and binary problems keep their binary metrics
    Incremental(Counting(loss="log_loss"), scoring=f"{scoring}_macro" if scoring != "roc_auc"
                else "roc_auc_ovr", validation=0.34, random_state=0).fit(X, y)
    Incremental(Counting(loss="log_loss"), scoring=scoring, validation=0.34,
                random_state=0).fit(X, y % 2)


@pytest.mark.parametrize("scoring", ["accuracy", "balanced_accuracy", "f1_macro"])
def test_a_classification_scorer_on_a_regressor_fails_before_training(scoring):
    # its validation score was 0.0 after every pass: a regressor's predictions are
    # continuous, and no row matched its label
    X, y = make_regression(n_samples=300, n_features=3, chunks=100, random_state=0)
    calls = []

    class Counting(SGDRegressor):
        def partial_fit(self, X, y, sample_weight=None):
            calls.append(len(X))
            return super().partial_fit(X, y, sample_weight=sample_weight)

    inc = Incremental(Counting(), scoring=scoring, validation=0.3)
    with pytest.raises(ValueError, match=r"is a regressor .*'r2'"):
        inc.fit(X, y)
    assert calls == []
    # without validation it trains, and scoring it later fails the same way in memory and
    # blockwise
    inc.set_params(validation=None).fit(X, y)
    with pytest.raises(ValueError, match="continuous"):
        inc.score(X, y)


def test_a_scorer_that_returns_no_number_is_named():
    X, y = make_classification(n_samples=200, chunks=100, random_state=0)
    inc = Incremental(SGDClassifier(random_state=0)).fit(X, y, classes=[0, 1])

    def rating(est, X_, y_):
        return "high"

    inc.set_params(scoring=rating)
    for data in [(X, y), dask.compute(X, y)]:
        with pytest.raises(TypeError, match=r"the scorer rating returned 'high' \(str\), not a "
                                            r"number"):
            inc.score(*data)


def test_scorer_with_pos_label():
    from sklearn.metrics import average_precision_score, f1_score

    from gpuinc.metrics import PositiveClassNeeded, check_scoring_for_classes, scorer_with_pos_label

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    y = np.where(X[:, 0] > 0, "yes", "no")
    clf = SGDClassifier(random_state=0).fit(X, y)
    f1 = scorer_with_pos_label("f1", "no")
    assert f1(clf, X, y) == pytest.approx(f1_score(y, clf.predict(X), pos_label="no"))
    ap = scorer_with_pos_label("average_precision", "yes")
    assert ap(clf, X, y) == pytest.approx(
        average_precision_score(y, clf.decision_function(X), pos_label="yes"))
    with pytest.raises(ValueError, match="'accuracy' takes no positive class"):
        scorer_with_pos_label("accuracy", "yes")
    with pytest.raises(PositiveClassNeeded, match=r"pos_label='yes'") as info:
        check_scoring_for_classes("f1", np.array(["no", "yes"]))
    assert (info.value.scoring, info.value.classes, info.value.suggested) == (
        "f1", ["no", "yes"], "yes")



def test_pos_label_errors_pickle_with_their_fields():
    import copy
    import pickle

    from gpuinc._checkpoint import CheckpointTooLongError
    from gpuinc.metrics import PositiveClassNeeded

    exc = PositiveClassNeeded("msg", scoring="f1", classes=["a", "b"], suggested="b")
    exc.add_note("a note")
    for back in (pickle.loads(pickle.dumps(exc)), copy.copy(exc)):
        assert (str(back), back.scoring, back.classes, back.suggested) == (
            "msg", "f1", ["a", "b"], "b")
        assert back.__notes__ == ["a note"]
    exc = CheckpointTooLongError("ckpt", "2 pass(es)", 1, 2)
    back = pickle.loads(pickle.dumps(exc))
    assert (str(back), back.need) == (str(exc), 2)
    worded = exc.worded(("--epochs ", "a new --checkpoint folder"))
    assert str(pickle.loads(pickle.dumps(worded))) == str(worded)


@pytest.mark.parametrize("name", ["r2", "explained_variance"])
@pytest.mark.parametrize("scale", [1e-300, 1e155])
def test_r2_does_not_depend_on_the_scale_of_the_weights(regression, name, scale):
    # the merge of two blocks multiplied their total weights: 1e-300 underflowed and 1e155
    # overflowed (r2 = 1.0 instead of scikit-learn's value)
    inc, X, y, Xn, yn = regression
    w = np.random.RandomState(0).uniform(0.5, 2.0, len(yn)) * scale
    inc.set_params(scoring=name)
    expected = get_scorer(name)(inc.estimator_, Xn, yn, sample_weight=w / scale)
    got = inc.score(X, y, sample_weight=dask.array.from_array(w, chunks=400))
    inc.set_params(scoring=None)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["r2", "explained_variance"])
def test_r2_keeps_its_precision_when_the_mean_dwarfs_the_spread(name):
    # y about 1e12 +- 1: raw per-block sums of y lost about 2e-7 of r2, depending on the chunks
    rs = np.random.RandomState(0)
    yn = 1e12 + rs.randn(2000)
    pred = yn + 0.3 * rs.randn(2000)
    est = SGDRegressor().fit(np.zeros((2, 1)), [0.0, 1.0])
    est.coef_, est.intercept_ = np.array([1.0]), np.array([0.0])
    inc = Incremental(SGDRegressor(), scoring=name)
    inc.estimator_ = est
    yl, pl = yn.astype(np.longdouble), pred.astype(np.longdouble)  # the exact value
    res = yl - pl
    num = ((yl - pl) ** 2).sum() if name == "r2" else ((res - res.mean()) ** 2).sum()
    exact = float(1 - num / ((yl - yl.mean()) ** 2).sum())
    for chunks in (2000, 97):
        got = inc.score(dask.array.from_array(pred[:, None], chunks=(chunks, 1)),
                        dask.array.from_array(yn, chunks=chunks))
        assert got == pytest.approx(exact, rel=1e-12), chunks


@pytest.mark.parametrize("name", ["top_k_accuracy", "f1_macro", "balanced_accuracy"])
def test_a_nan_sample_weight_is_refused_by_gathered_scorers(multiclass, name):
    # top_k_accuracy returned nan where the documentation promises a ValueError
    inc, X, y, Xn, yn = multiclass
    w = np.ones(len(yn))
    w[407] = np.nan
    inc.set_params(scoring=name)
    with pytest.raises(ValueError, match=r"sample_weight contains NaN: 1 row\(s\) of block 1 "):
        inc.score(X, y, sample_weight=dask.array.from_array(w, chunks=400))
    inc.set_params(scoring=None)


def test_log_loss_of_a_test_set_lacking_a_class_is_the_same_in_memory_and_on_dask(multiclass):
    # in memory scikit-learn's scorer refused it ("y_true and y_prob contain different
    # number of classes"), on Dask input it was scored over the model's classes
    from sklearn.metrics import log_loss

    inc, X, y, Xn, yn = multiclass
    keep = yn != 2
    inc.set_params(scoring="neg_log_loss")
    expected = -log_loss(yn[keep], inc.estimator_.predict_proba(Xn[keep]),
                         labels=inc.estimator_.classes_)
    on_dask = inc.score(dask.array.from_array(Xn[keep], chunks=300),
                        dask.array.from_array(yn[keep], chunks=300))
    in_memory = inc.score(Xn[keep], yn[keep])
    inc.set_params(scoring=None)
    assert on_dask == pytest.approx(expected, rel=1e-9)
    assert in_memory == pytest.approx(expected, rel=1e-9)


def test_in_memory_log_loss_of_a_multilabel_classifier_is_scikit_learn_s():
    # labels=classes_ was forced on every classifier in memory: on a multilabel indicator y
    # scikit-learn's log_loss refused it ("not fitted with multilabel input")
    import dask.array as da
    from sklearn.neural_network import MLPClassifier

    rng = np.random.RandomState(0)
    Xn = rng.randn(300, 4)
    Yn = (Xn[:, :3] + rng.randn(300, 3) > 0).astype(int)
    inc = Incremental(MLPClassifier(random_state=0, max_iter=5), scoring="neg_log_loss")
    inc.fit(Xn, Yn, classes=[0, 1, 2])
    expected = get_scorer("neg_log_loss")(inc.estimator_, Xn, Yn)
    assert inc.score(Xn, Yn) == pytest.approx(expected, rel=1e-12)
    assert inc.score(da.from_array(Xn, chunks=100),
                     da.from_array(Yn, chunks=100)) == pytest.approx(expected, rel=1e-9)
