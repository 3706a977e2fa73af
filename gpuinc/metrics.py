"""Scoring on Dask collections without gathering the test set.

``score`` accepts every scikit-learn scorer name and any callable scorer.
The common metrics are reduced exactly from small per-block statistics, so
only a handful of numbers per block reach the client:

``accuracy``, ``neg_mean_squared_error``, ``neg_root_mean_squared_error``,
``neg_mean_absolute_error``, ``r2``, ``explained_variance`` and
``neg_log_loss``.

Every other scorer (``roc_auc``, ``f1_macro``, ``average_precision``, ...)
and every callable is evaluated on the estimator's responses: the blocks
are predicted where they live and only the predictions (one value, or one
row of class scores, per sample) and ``y`` are gathered; X never is.  A
callable is called as ``scorer(estimator, X, y)`` where ``estimator``'s
``predict`` / ``predict_proba`` / ``decision_function`` return those
gathered responses and ``X`` is a placeholder with one row per sample.
"""

from __future__ import annotations

import dask
import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.metrics import check_scoring, get_scorer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._blockwise import apply_method
from ._dispatch import block_kind
from ._movers import to_host

#: scorer name -> the response method its per-block statistic needs
STREAMING = {
    "accuracy": "predict",
    "neg_mean_squared_error": "predict",
    "neg_root_mean_squared_error": "predict",
    "neg_mean_absolute_error": "predict",
    "r2": "predict",
    "explained_variance": "predict",
    "neg_log_loss": "predict_proba",
}


#: stands for "the estimator's own notion of score" where None means "off"
ESTIMATOR_DEFAULT = "estimator-default"


def default_scoring(estimator) -> str | None:
    """The name matching ``estimator.score``: accuracy or r2; None for others."""
    if is_classifier(estimator):
        return "accuracy"
    if is_regressor(estimator):
        return "r2"
    return None


def _host_1d(a):
    a = to_host(a) if not isinstance(a, (list, tuple)) else np.asarray(a)
    if hasattr(a, "to_numpy"):
        a = a.to_numpy()
    return np.asarray(a)


def _block_stats(estimator, x, y, w, name: str, home: str):
    """Small sufficient statistics of one block for the streaming metrics."""
    y = _host_1d(y)
    n = y.shape[0]
    if n == 0:
        return None
    w = np.ones(n) if w is None else _host_1d(w).astype(float)
    method = STREAMING[name]
    out = _host_1d(apply_method(x, estimator, method, home))
    sw = float(w.sum())
    if name == "accuracy":
        return {"sw": sw, "hit": float(w @ (out == y))}
    if name == "neg_log_loss":
        classes = _host_1d(estimator.classes_)
        pos = np.searchsorted(classes, y)
        pos = np.clip(pos, 0, len(classes) - 1)
        if not np.array_equal(classes[pos], y):
            unknown = np.setdiff1d(np.unique(y), classes)
            raise ValueError(
                f"y contains labels {unknown[:5].tolist()} that the estimator never saw "
                f"(classes_={classes.tolist()}); log loss is undefined for them."
            )
        eps = np.finfo(out.dtype).eps
        p = np.clip(out[np.arange(n), pos], eps, 1 - eps)
        return {"sw": sw, "nll": float(-(w @ np.log(p)))}
    y = y.astype(float)
    r = y - out.astype(float)
    if name in ("neg_mean_squared_error", "neg_root_mean_squared_error"):
        return {"sw": sw, "sse": float(w @ (r * r))}
    if name == "neg_mean_absolute_error":
        return {"sw": sw, "sae": float(w @ np.abs(r))}
    # r2 / explained variance: weighted mean and M2 of y and of the residual,
    # merged across blocks with Chan's update (stable for large offsets).
    my = float(w @ y) / sw
    mr = float(w @ r) / sw
    return {
        "sw": sw,
        "sse": float(w @ (r * r)),
        "my": my,
        "m2y": float(w @ ((y - my) ** 2)),
        "mr": mr,
        "m2r": float(w @ ((r - mr) ** 2)),
    }


def _merge_moments(a, b, mean, m2):
    n = a["sw"] + b["sw"]
    delta = b[mean] - a[mean]
    return (
        a[mean] + delta * b["sw"] / n,
        a[m2] + b[m2] + delta * delta * a["sw"] * b["sw"] / n,
    )


def _combine(stats: list, name: str) -> float:
    stats = [s for s in stats if s is not None]
    if not stats:
        raise ValueError("cannot score on zero samples: every block of the test data is empty.")
    if name in ("r2", "explained_variance"):
        acc = dict(stats[0])
        for s in stats[1:]:
            my, m2y = _merge_moments(acc, s, "my", "m2y")
            mr, m2r = _merge_moments(acc, s, "mr", "m2r")
            acc = {"sw": acc["sw"] + s["sw"], "sse": acc["sse"] + s["sse"],
                   "my": my, "m2y": m2y, "mr": mr, "m2r": m2r}
        num = acc["sse"] if name == "r2" else acc["m2r"]
        if acc["m2y"] == 0:
            return 1.0 if num == 0 else 0.0  # scikit-learn's convention for constant y
        return 1.0 - num / acc["m2y"]
    sw = sum(s["sw"] for s in stats)
    if name == "accuracy":
        return sum(s["hit"] for s in stats) / sw
    if name == "neg_log_loss":
        return -sum(s["nll"] for s in stats) / sw
    if name == "neg_mean_squared_error":
        return -sum(s["sse"] for s in stats) / sw
    if name == "neg_root_mean_squared_error":
        return -float(np.sqrt(sum(s["sse"] for s in stats) / sw))
    if name == "neg_mean_absolute_error":
        return -sum(s["sae"] for s in stats) / sw
    raise KeyError(name)  # pragma: no cover


def _inner_has(name):
    return lambda self: hasattr(self._estimator, name)


class _GatheredResponses:
    """A fitted-estimator stand-in whose response methods return gathered results.

    Lets any scikit-learn scorer run on predictions computed blockwise where
    the data lives; responses are computed on first use and cached.
    """

    def __init__(self, estimator, blocks, home):
        self._estimator = estimator
        self._blocks = blocks
        self._home = home
        self._cache = {}
        if hasattr(estimator, "classes_"):
            self.classes_ = _host_1d(estimator.classes_)

    def __sklearn_tags__(self):
        return self._estimator.__sklearn_tags__()

    def _responses(self, method):
        if method not in self._cache:
            if not hasattr(self._estimator, method):
                raise AttributeError(f"{type(self._estimator).__name__} has no {method}")
            est = dask.delayed(self._estimator, pure=False)
            parts = [dask.delayed(apply_method)(b.x, est, method, self._home) for b in self._blocks]
            outs = [to_host(o) for o in dask.compute(*parts) if o.shape[0] > 0]
            self._cache[method] = np.concatenate(outs, axis=0)
        return self._cache[method]

    @available_if(_inner_has("predict"))
    def predict(self, X=None):
        return self._responses("predict")

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X=None):
        return self._responses("predict_proba")

    @available_if(_inner_has("predict_log_proba"))
    def predict_log_proba(self, X=None):
        return self._responses("predict_log_proba")

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X=None):
        return self._responses("decision_function")

    def get_params(self, deep=True):
        return self._estimator.get_params(deep=deep)


def score_blocks(estimator, blocks, scoring=None, *, home: str = "host") -> float:
    """Score a fitted estimator on aligned blocks (see :func:`gpuinc._blocks.plan_blocks`)."""
    if scoring is None:
        scoring = default_scoring(estimator)
        if scoring is None:
            if not hasattr(estimator, "score"):
                raise TypeError(
                    f"{type(estimator).__name__} has no score method; pass scoring= (a scorer "
                    "name or callable) to Incremental to score it."
                )
            return _mean_of_block_scores(estimator, blocks, home)
    if isinstance(scoring, str) and scoring in STREAMING:
        est = dask.delayed(estimator, pure=False)
        parts = [
            dask.delayed(_block_stats)(est, b.x, b.y, b.kwargs.get("sample_weight"), scoring, home)
            for b in blocks
        ]
        return float(_combine(list(dask.compute(*parts)), scoring))
    scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring
    if not callable(scorer):
        raise TypeError(f"scoring must be a scorer name or a callable, got {scoring!r}.")
    proxy = _GatheredResponses(estimator, blocks, home)
    ys = dask.compute(*[b.y for b in blocks])
    y = np.concatenate([_host_1d(v) for v in ys if v is not None and len(v)])
    weights = [b.kwargs.get("sample_weight") for b in blocks]
    kwargs = {}
    if any(w is not None for w in weights):
        kwargs["sample_weight"] = np.concatenate([_host_1d(w) for w in dask.compute(*weights)])
    placeholder = np.empty((y.shape[0], 0))
    return float(scorer(proxy, placeholder, y, **kwargs))


def _is_fitted(estimator) -> bool:
    """scikit-learn's notion of fitted, also for estimators that only have ``partial_fit``."""
    if hasattr(estimator, "fit"):
        try:
            check_is_fitted(estimator)
        except NotFittedError:
            return False
        return True
    if hasattr(estimator, "__sklearn_is_fitted__"):
        return bool(estimator.__sklearn_is_fitted__())
    return any(k.endswith("_") and not k.startswith("__") for k in vars(estimator))


def progressive_statistic(estimator, x, y, w, scoring, home: str = "host"):
    """Score one block with the model as it stands, before it learns from it.

    Returns a small statistic that :func:`combine_progressive` merges across
    blocks; None while the model has not been fitted yet (the first block).
    """
    if not _is_fitted(estimator):
        return None
    if scoring in (None, ESTIMATOR_DEFAULT):
        scoring = default_scoring(estimator)
    if isinstance(scoring, str) and scoring in STREAMING:
        return (scoring, _block_stats(estimator, x, y, w, scoring, home))
    n = _host_1d(y).shape[0]
    scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring
    if scorer is None:
        value = estimator.score(x, y)
    else:
        kw = {} if w is None else {"sample_weight": w}
        value = scorer(estimator, x, y, **kw)
    return ("mean", {"sw": float(n), "sum": float(value) * n})


def combine_progressive(stats: list) -> float | None:
    """Merge :func:`progressive_statistic` results of a pass into one score."""
    stats = [s for s in stats if s is not None and s[1] is not None]
    if not stats:
        return None
    name = stats[0][0]
    parts = [s[1] for s in stats]
    if name == "mean":
        return sum(p["sum"] for p in parts) / sum(p["sw"] for p in parts)
    return _combine(parts, name)


def _block_score(estimator, x, y, home):
    y = _host_1d(y) if y is not None else None
    n = x.shape[0]
    if n == 0:
        return 0.0, 0
    kind = block_kind(x)
    from ._dispatch import KIND_HOME
    from ._movers import move

    if KIND_HOME[kind] != home:
        x = move(x, home)
    value = estimator.score(x) if y is None else estimator.score(x, y)
    return float(value), n


def _mean_of_block_scores(estimator, blocks, home):
    est = dask.delayed(estimator, pure=False)
    parts = dask.compute(*[dask.delayed(_block_score)(est, b.x, b.y, home) for b in blocks])
    total = sum(n for _, n in parts)
    if total == 0:
        raise ValueError("cannot score on zero samples: every block of the test data is empty.")
    return sum(v * n for v, n in parts) / total


def score_in_memory(estimator, X, y, scoring=None, sample_weight=None) -> float:
    """Score on in-memory data with scikit-learn's scorer for ``scoring``."""
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    if scoring is None:
        if not hasattr(estimator, "score"):
            raise TypeError(
                f"{type(estimator).__name__} has no score method; pass scoring= (a scorer name "
                "or callable) to Incremental to score it."
            )
        return float(estimator.score(X, y, **kwargs) if y is not None else estimator.score(X))
    scorer = check_scoring(estimator, scoring=scoring)
    return float(scorer(estimator, X, y, **kwargs))
