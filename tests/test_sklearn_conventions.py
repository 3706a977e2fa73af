"""scikit-learn conventions of the Incremental wrapper: metadata routing, the
transformer API, methods that exist only when the estimator has them, classes."""

from __future__ import annotations

import warnings

import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gpuinc import Incremental


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


def test_sample_weight_is_routed_to_fit(routing):
    X, y = make_classification(300, 5, random_state=0)
    w = np.linspace(0.0, 2.0, 300)
    inc = Incremental(SGDClassifier(random_state=0), random_state=0)
    inc.set_fit_request(sample_weight=True).set_score_request(sample_weight=False)
    got = cross_validate(inc, X, y, params={"sample_weight": w}, cv=3)["test_score"]
    with sklearn.config_context(enable_metadata_routing=False):  # fit params passed as they are
        want = cross_validate(Incremental(SGDClassifier(random_state=0), random_state=0), X, y,
                              params={"sample_weight": w}, cv=3)["test_score"]
        unweighted = cross_validate(Incremental(SGDClassifier(random_state=0), random_state=0),
                                    X, y, cv=3)["test_score"]
    np.testing.assert_allclose(got, want)
    assert not np.allclose(got, unweighted)  # the weights did reach fit
    # in a pipeline, and classes= too
    pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False),
                         Incremental(SGDClassifier(random_state=0)).set_fit_request(
                             sample_weight=True, classes=True))
    pipe.fit(X, y, sample_weight=w, classes=[0, 1, 2])
    assert list(pipe[-1].classes_) == [0, 1, 2]
    Incremental(SGDClassifier()).set_partial_fit_request(sample_weight=True, classes=True)


def test_a_wrapped_transformer_offers_the_transformer_api():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 2)) * [1, 10] + [0, 5], columns=["a", "b"])
    inc = Incremental(StandardScaler())
    assert not hasattr(inc, "predict")  # scikit-learn's scaler has none
    assert not hasattr(make_pipeline(inc), "predict")
    out = inc.fit_transform(frame.to_numpy())
    np.testing.assert_allclose(out, StandardScaler().fit_transform(frame.to_numpy()))
    inc.set_output(transform="pandas")
    got = inc.fit(frame).transform(frame)
    assert isinstance(got, pd.DataFrame) and list(got.columns) == ["a", "b"]
    assert list(inc.get_feature_names_out()) == ["a", "b"]
    # on Dask input the blocks keep X's kind
    X = da.from_array(frame.to_numpy(), chunks=50)
    assert isinstance(inc.fit(X).transform(X).compute(), np.ndarray)
    ddf = dd.from_pandas(frame, npartitions=4)
    lazy = Incremental(StandardScaler()).fit(ddf).transform(ddf)
    assert list(lazy.columns) == ["a", "b"]
    np.testing.assert_allclose(lazy.compute().to_numpy(),
                               StandardScaler().fit_transform(frame.to_numpy()))
    assert not hasattr(Incremental(SGDClassifier()), "set_output")
    assert not hasattr(Incremental(SGDClassifier()), "transform")


def test_classes_none_is_the_same_as_not_given():
    X, y = make_classification(200, 4, random_state=0)
    for Xi, yi in ((X, y), (da.from_array(X, chunks=50), da.from_array(y, chunks=50))):
        inc = Incremental(SGDClassifier(random_state=0)).fit(Xi, yi, classes=None)
        assert list(inc.classes_) == [0, 1]


def test_first_partial_fit_of_a_stream_warns_that_classes_come_from_its_y():
    X, y = make_classification(200, 6, n_classes=3, n_informative=3, random_state=0)
    inc = Incremental(SGDClassifier(random_state=0))
    with pytest.warns(UserWarning, match=r"classes are taken from this call's y: \[0, 1, 2\]"):
        inc.partial_fit(X[:100], y[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inc.partial_fit(X[100:], y[100:])  # classes_ known now: nothing to say
        Incremental(SGDClassifier(random_state=0)).partial_fit(X, y, classes=[0, 1, 2])
        Incremental(SGDClassifier(random_state=0)).fit(X, y)  # fit sees all of y
        # a Dask y in partial_fit is a pass over its data, not one batch
        Incremental(SGDClassifier(random_state=0)).partial_fit(
            da.from_array(X, chunks=50), da.from_array(y, chunks=50))


@pytest.mark.parametrize("scoring", ["accuracy", "neg_log_loss", "neg_mean_squared_error",
                                     "neg_mean_absolute_error", "r2", None])
def test_test_rows_that_all_weigh_zero_are_a_clear_error(scoring):
    from sklearn.linear_model import SGDRegressor

    from gpuinc.metrics import NoSamplesError

    X, y = make_classification(400, 4, random_state=0)
    regression = scoring in ("neg_mean_squared_error", "neg_mean_absolute_error", "r2")
    est = (SGDRegressor(random_state=0) if regression
           else SGDClassifier(loss="log_loss", random_state=0))
    inc = Incremental(est, scoring=scoring).fit(X, y)
    Xd, yd = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    with pytest.raises(NoSamplesError, match="weigh"):
        inc.score(Xd, yd, sample_weight=da.zeros(400, chunks=100))


def test_r2_of_one_row_is_undefined_as_in_scikit_learn():
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.linear_model import SGDRegressor

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    inc = Incremental(SGDRegressor(random_state=0), scoring="r2").fit(X, y)
    with pytest.warns(UndefinedMetricWarning):
        want = inc.score(X[:1], y[:1])
    with pytest.warns(UndefinedMetricWarning, match="fewer than two samples"):
        got = inc.score(da.from_array(X[:1], chunks=1), da.from_array(y[:1], chunks=1))
    assert np.isnan(want) and np.isnan(got)
    # explained_variance of one row is defined (1.0), as are r2 rows that weigh zero
    from sklearn.metrics import explained_variance_score, r2_score

    ev = Incremental(SGDRegressor(random_state=0), scoring="explained_variance").fit(X, y)
    assert ev.score(da.from_array(X[:1], chunks=1), da.from_array(y[:1], chunks=1)) == (
        explained_variance_score(y[:1], ev.predict(X[:1])))
    w = np.array([1.0, 0.0, 0.0])
    got = inc.score(da.from_array(X[:3], chunks=1), da.from_array(y[:3], chunks=1),
                    sample_weight=da.from_array(w, chunks=1))
    assert got == r2_score(y[:3], inc.predict(X[:3]), sample_weight=w)


def test_a_list_of_numpy_scalar_classes_is_checked_before_training():
    from gpuinc.metrics import check_scoring_for_classes

    for classes in (list(np.unique([0, 1, 2])), [np.str_("a"), np.str_("b"), np.str_("c")]):
        with pytest.raises(ValueError, match="cannot score this problem of 3 classes"):
            check_scoring_for_classes("f1", classes)


def test_array_likes_that_only_offer_array_are_taken_as_scikit_learn_takes_them():
    from sklearn.utils.estimator_checks import _NotAnArray

    X, y = make_classification(200, 4, random_state=0)

    class ArrayLike:
        def __init__(self, a):
            self.a = a

        def __array__(self, dtype=None, copy=None):
            return np.asarray(self.a, dtype=dtype)

        def __len__(self):
            return len(self.a)

    want = Incremental(SGDClassifier(random_state=0)).fit(X, y)
    for wrap in (_NotAnArray, ArrayLike):  # _NotAnArray refuses NumPy's other functions
        inc = Incremental(SGDClassifier(random_state=0)).fit(wrap(X), wrap(y))
        np.testing.assert_array_equal(inc.coef_, want.coef_)
        np.testing.assert_array_equal(inc.predict(wrap(X)), want.predict(X))
        assert inc.score(wrap(X), wrap(y)) == want.score(X, y)


def test_r2_with_negative_weights_matches_scikit_learn():
    from sklearn.linear_model import SGDRegressor
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(6, 2)), rng.normal(size=6)
    inc = Incremental(SGDRegressor(random_state=0), scoring="r2").fit(X, y)
    w = np.array([1, 1, -0.5, -0.5, 1, 1.0])  # the middle block's weights sum below zero
    got = inc.score(da.from_array(X, chunks=2), da.from_array(y, chunks=2),
                    sample_weight=da.from_array(w, chunks=2))
    assert got == pytest.approx(r2_score(y, inc.predict(X), sample_weight=w))


def test_a_sigterm_outside_a_fit_leaves_no_stop_request_behind():
    import os
    import signal

    from gpuinc._chain import STOP_REQUESTED
    from gpuinc.cli import _sigterm_stops, _Terminated

    with pytest.raises(_Terminated), _sigterm_stops():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):  # the handler runs between these bytecodes
            pass
    assert not STOP_REQUESTED.is_set()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
