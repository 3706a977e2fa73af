"""Device results reach scikit-learn's metrics on the host.

CuPy refuses implicit conversion to NumPy (``np.asarray`` raises TypeError),
so every place that hands device values to NumPy or to scikit-learn must bring
them to the host first.  These tests use a stand-in CuPy module, placed in
``sys.modules`` under CuPy's name, whose arrays refuse ``__array__`` as CuPy's do.
"""

from __future__ import annotations

import sys
import types

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from arrays import FakeCupyArray
from sklearn.metrics import roc_auc_score

from gpuinc import metrics
from gpuinc.wrappers import _plain_keywords, _weight_per_row


@pytest.fixture
def fake_cupy(monkeypatch):
    cupy = types.ModuleType("cupy")
    cupy.ndarray = FakeCupyArray
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    return cupy


class DeviceClassifier:
    """A fitted classifier that takes and returns device arrays, as cuML's do."""

    _estimator_type = "classifier"

    def __init__(self, w):
        self.w = np.asarray(w)
        self.classes_ = FakeCupyArray([0, 1])
        self.n_features_in_ = len(self.w)

    def __sklearn_tags__(self):
        from sklearn.base import ClassifierMixin
        from sklearn.utils import Tags

        tags = Tags(estimator_type="classifier", target_tags=None)
        return ClassifierMixin.__sklearn_tags__(self) if hasattr(
            ClassifierMixin, "__sklearn_tags__") and False else tags

    def _p(self, X):
        assert isinstance(X, FakeCupyArray), type(X)
        return 1 / (1 + np.exp(-(X.get() @ self.w)))

    def predict_proba(self, X):
        p = self._p(X)
        return FakeCupyArray(np.c_[1 - p, p])

    def predict(self, X):
        return FakeCupyArray((self._p(X) > 0.5).astype(int))

    def decision_function(self, X):
        return FakeCupyArray(X.get() @ self.w)


def test_device_classes_pass_the_scoring_check(fake_cupy):
    with pytest.raises(ValueError, match="cannot score this problem of 3 classes"):
        metrics.check_scoring_for_classes("f1", FakeCupyArray([0, 1, 2]))
    metrics.check_scoring_for_classes("f1_macro", FakeCupyArray([0, 1, 2]))
    # one array of classes per output, of different lengths: nothing to check
    metrics.check_scoring_for_classes("f1", [np.array([0, 1]), np.array([0, 1, 2])])


def test_lazy_classes_computed_on_the_device_come_to_the_host(fake_cupy):
    lazy = da.from_delayed(dask.delayed(FakeCupyArray)(np.array([0, 1, 2])), shape=(3,),
                           dtype=int, meta=np.empty((0,), int))
    assert isinstance(lazy.compute(), FakeCupyArray)
    classes = _plain_keywords({"classes": lazy})["classes"]
    assert isinstance(classes, np.ndarray) and classes.tolist() == [0, 1, 2]


@pytest.mark.parametrize("scoring", ["roc_auc", "f1", "balanced_accuracy", "neg_brier_score"])
def test_train_score_of_a_device_block_with_a_gathered_scorer(fake_cupy, scoring):
    from sklearn.metrics import get_scorer

    rng = np.random.default_rng(0)
    Xh = rng.normal(size=(200, 3))
    yh = (Xh[:, 0] + 0.3 * rng.normal(size=200) > 0).astype(int)
    wh = np.linspace(0.5, 1.5, 200)
    est = DeviceClassifier([1.0, 0.2, -0.1])
    stat = metrics.progressive_statistic(est, FakeCupyArray(Xh), FakeCupyArray(yh),
                                         FakeCupyArray(wh), scoring, home="device")
    assert metrics.combine_progressive([stat]) is not None

    class HostTwin(DeviceClassifier):  # the same model on host arrays, for the expected value
        def _p(self, X):
            return 1 / (1 + np.exp(-(np.asarray(X) @ self.w)))

        def predict_proba(self, X):
            return self._p(X)[:, None] * [-1, 1] + [1, 0]

        def predict(self, X):
            return (self._p(X) > 0.5).astype(int)

        def decision_function(self, X):
            return np.asarray(X) @ self.w

    twin = HostTwin([1.0, 0.2, -0.1])
    twin.classes_ = np.array([0, 1])
    want = get_scorer(scoring)(twin, Xh, yh, sample_weight=wh)
    assert metrics.combine_progressive([stat]) == pytest.approx(want)
    if scoring == "roc_auc":
        assert want == pytest.approx(roc_auc_score(yh, Xh @ twin.w, sample_weight=wh))


def test_one_weight_for_every_row_is_laid_out_like_x():
    frame = pd.DataFrame({"a": np.arange(6.0)}, index=list("abcdef"))
    X = dd.from_pandas(frame, npartitions=2)
    w = _weight_per_row(X, 2.0)
    assert w._meta.index.dtype == X._meta.index.dtype
    assert w.compute().to_dict() == dict.fromkeys("abcdef", 2.0)
