"""Scoring on Dask collections without gathering the test set.

``score`` accepts every scikit-learn scorer name and any callable scorer.
Empty blocks (filtered DataFrames, ``X[mask]``) are skipped, as ``predict``
skips them.

**Streaming metrics.**  The common metrics are reduced exactly from small
per-block statistics, so only a handful of numbers per block reach the
client: ``accuracy``, ``neg_mean_squared_error``,
``neg_root_mean_squared_error``, ``neg_mean_absolute_error``, ``r2``,
``explained_variance`` and ``neg_log_loss`` (multi-output ``y`` is averaged
over the outputs, as scikit-learn does; ``neg_log_loss`` takes a multilabel
indicator ``y`` with scikit-learn's formula, each row's positive labels, and is
computed over the model's ``classes_``, in memory too, so a test set lacking a
class is scored).

**Gathered responses.**  Every other scorer (``roc_auc``, ``f1_macro``,
``average_precision``, ...) and every callable is evaluated on the
estimator's responses: the blocks are predicted where they live and only the
predictions (one value, or one row of class scores, per sample), ``y`` and
``sample_weight`` are gathered; X never is.  A block's ``y`` and responses come
from one computation of the block, so they stay paired when the rows of a Dask
DataFrame come in another order at every compute (``shuffle``): a scikit-learn
scorer's response, or ``predict`` for a callable, is gathered with ``y``, and a
callable that asks for another response is stopped (an internal BaseException)
and called again once ``y`` and every response it asked for have been gathered
together: a callable may be called more than once, and one that swallows the
exception (a bare ``except:``) is called again all the same, its result
discarded.  NaN / infinite predictions are refused for scikit-learn's scorers;
a callable gets them as the estimator returns them.  A callable is called as
``scorer(estimator, X, y)`` where

* ``estimator`` is a stand-in for the fitted estimator: ``predict``,
  ``predict_proba``, ``predict_log_proba``, ``decision_function`` and
  ``score_samples`` return the responses for the whole test set (gathered
  blockwise), ``score`` is the estimator's own score of the whole test set,
  and every other attribute (``coef_``, ``classes_``, ``get_params`` ...) is
  read from the real fitted estimator.  Other methods that need X
  (``transform``, ``kneighbors`` ...) raise a ``TypeError``;
* ``X`` is a placeholder: a read-only array of NaN with one row per sample
  and the estimator's ``n_features_in_`` columns, which takes no memory.  Its
  shape is right but its values are not the data; pass it on to the
  stand-in's methods, do not compute with it.

Scorers made with :func:`sklearn.metrics.make_scorer` always work; a callable
that needs the real X must be called on in-memory data.

**The estimator's own score** (``scoring=None``, also for validation).
Classifiers and regressors whose ``score`` is scikit-learn's (accuracy,
R^2), cuML's, or one of the known overrides that keep that meaning
(gpuinc's ``SGDClassifier`` / ``SGDRegressor``, ``KNeighborsClassifier``,
the dummy estimators) use the exact streaming metrics.  For other
estimators the per-block ``score`` values are combined only when gpuinc
knows how that score adds up over rows: a sum for ``KMeans``,
``MiniBatchKMeans``, ``BisectingKMeans`` (minus the inertia) and
``KernelDensity`` (total log-likelihood); a mean for ``GaussianMixture``,
``BayesianGaussianMixture``, ``PCA``, ``FactorAnalysis`` (mean
log-likelihood), ``EmpiricalCovariance`` and its subclasses, and
``MultiOutputClassifier`` (subset accuracy).  Any other ``score`` (a
subclass's override, the D^2 of ``PoissonRegressor``, the bound of
``LatentDirichletAllocation`` ...) raises a ``TypeError`` instead of
returning a number that would depend on the chunking: pass ``scoring=``, or,
only for a score that is a sum or a row-weighted mean of per-row terms,
declare it with :func:`register_score_reduction` (the bound of
``LatentDirichletAllocation`` is neither: it holds terms that do not depend on
the rows).  In memory, ``score`` always calls the estimator's own ``score``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import warnings

import dask
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score, check_scoring, get_scorer, r2_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._blockwise import apply_method
from ._dispatch import DEVICE, KIND_HOME, block_kind, compute_context
from ._movers import as_estimator_input, move, to_host
from ._params import is_classifier, is_regressor
from ._text import one_line

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

#: per-row responses the stand-in of a callable scorer gathers blockwise
GATHERED_METHODS = ("predict", "predict_proba", "predict_log_proba", "decision_function",
                    "score_samples")

#: Estimators whose ``score`` gpuinc knows, as (module, class) -> how it is
#: computed blockwise: "accuracy" / "r2" (the exact streaming metrics), "sum"
#: (per-block scores added) or "mean" (averaged by rows).  The class's
#: ``score`` function is compared, never its name, so a subclass that
#: overrides ``score`` is not matched.
_KNOWN_SCORES = {
    ("sklearn.cluster", "KMeans"): "sum",  # -inertia (MiniBatchKMeans, BisectingKMeans share it)
    ("sklearn.neighbors", "KernelDensity"): "sum",  # total log-likelihood
    ("sklearn.mixture", "GaussianMixture"): "mean",  # BaseMixture.score, also Bayesian
    ("sklearn.decomposition", "PCA"): "mean",
    ("sklearn.decomposition", "FactorAnalysis"): "mean",
    ("sklearn.covariance", "EmpiricalCovariance"): "mean",  # linear in the mean outer product
    ("sklearn.multioutput", "MultiOutputClassifier"): "mean",  # subset accuracy
    ("sklearn.neighbors", "KNeighborsClassifier"): "accuracy",
    ("sklearn.dummy", "DummyClassifier"): "accuracy",
    ("sklearn.dummy", "DummyRegressor"): "r2",
    ("gpuinc.linear_model", "SGDClassifier"): "accuracy",  # array-API accuracy
    ("gpuinc.linear_model", "SGDRegressor"): "r2",
}

#: Estimators whose ``score`` is known not to add up over rows, as (module, class) -> why:
#: no per-block combination (``register_score_reduction`` included) gives their score.
_NOT_ADDITIVE = {
    ("sklearn.decomposition", "LatentDirichletAllocation"): (
        "is a variational bound that holds terms independent of the rows (those of the "
        "topic-word prior), counted once per call: summed or averaged over blocks they are "
        "counted once per block"
    ),
}

#: what register_score_reduction accepts
REDUCTIONS = ("accuracy", "r2", "sum", "mean")

#: score function -> reduction, filled by register_score_reduction
_REGISTERED: dict = {}


def register_score_reduction(estimator_class, how: str) -> None:
    """Declare how ``estimator_class.score`` is computed on a Dask collection.

    ``how="sum"``: the score of the whole data is the sum of the scores of
    its blocks (a total log-likelihood, minus an inertia); ``"mean"``: it is
    their mean weighted by rows (or by the total ``sample_weight``);
    ``"accuracy"`` / ``"r2"``: the score is that metric, computed exactly
    from per-block statistics.  ``Incremental.score`` with ``scoring=None``
    (and validation) on Dask input refuses estimators whose ``score`` gpuinc
    does not know; this declares one.  It applies to the class and to
    subclasses that do not override ``score``.  Declare only what holds: a
    score with a term that does not depend on the rows (the bound of
    ``LatentDirichletAllocation``) is neither a sum nor a mean, and declaring
    it one gives scores that depend on the chunking.
    """
    if how not in REDUCTIONS:
        raise ValueError(f"how must be one of {', '.join(map(repr, REDUCTIONS))}, got {how!r}.")
    score = getattr(estimator_class, "score", None)
    if score is None:
        raise TypeError(f"{getattr(estimator_class, '__name__', estimator_class)} has no score.")
    _REGISTERED[score] = how


def _known_reduction(score) -> str | None:
    if score is None:
        return None
    if score in _REGISTERED:
        return _REGISTERED[score]
    return _look_up_score(score, _KNOWN_SCORES)


def _look_up_score(score, table: dict):
    """``table``'s value for the class whose ``score`` function is ``score``, else None."""
    import importlib

    for (module, name), value in table.items():
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):  # pragma: no cover - older versions
            continue
        if getattr(cls, "score", None) is score:
            return value
    return None


def _is_mixin_score(score, mixin, qualname: str) -> bool:
    if score is mixin.score:
        return True
    # cuML's mixins score with accuracy and R^2 as well
    module = getattr(score, "__module__", "") or ""
    return module.split(".")[0] == "cuml" and getattr(score, "__qualname__", "") == qualname


def _reduction_or_none(estimator) -> str | None:
    score = getattr(type(estimator), "score", None)
    how = _known_reduction(score)
    if how is not None:
        return how
    if is_classifier(estimator) and _is_mixin_score(score, ClassifierMixin,
                                                    "ClassifierMixin.score"):
        return "accuracy"
    if is_regressor(estimator) and _is_mixin_score(score, RegressorMixin,
                                                   "RegressorMixin.score"):
        return "r2"
    return None


def default_scoring(estimator) -> str | None:
    """The streaming metric equal to ``estimator.score`` ("accuracy" or "r2"), else None.

    scikit-learn's classifier and regressor ``score`` (and the known
    overrides that keep their meaning) qualify; a ``score`` overridden with
    something else (D^2 of the generalized linear models, a user's own
    score ...) does not.
    """
    how = _reduction_or_none(estimator)
    return how if how in STREAMING else None


def score_reduction(estimator) -> str:
    """How ``estimator.score`` is computed blockwise on a Dask collection.

    Returns ``"accuracy"`` or ``"r2"`` (exact streaming metrics), ``"sum"``
    or ``"mean"`` (per-block ``score`` values added, or averaged by rows);
    raises ``TypeError`` when the estimator has no ``score`` or when gpuinc
    cannot know how its score combines over blocks.  Works on unfitted
    estimators too.
    """
    name = type(estimator).__name__
    if not hasattr(estimator, "score"):
        raise TypeError(
            f"{name} has no score method; pass scoring= (a scorer name or callable) to "
            "Incremental to score it."
        )
    how = _reduction_or_none(estimator)
    if how is not None:
        return how
    why = _look_up_score(getattr(type(estimator), "score", None), _NOT_ADDITIVE)
    if why is not None:
        raise TypeError(
            f"gpuinc cannot score {name} block by block with its own score method on Dask "
            f"input: {name}.score {why}, so no combination of per-block scores (a sum or a "
            "mean, register_score_reduction included) gives the score of the whole data. "
            "Pass scoring= to Incremental (a scorer name, or a scorer made with "
            "sklearn.metrics.make_scorer), or call inc.estimator_.score on in-memory data."
        )
    hint = ""
    if is_classifier(estimator):
        hint = "scoring='accuracy' if it is accuracy, "
    elif is_regressor(estimator):
        hint = "scoring='r2' if it is R^2, "
    raise TypeError(
        f"gpuinc cannot score {name} block by block with its own score method on Dask input: "
        f"{name}.score is not one gpuinc knows (scikit-learn's accuracy or R^2, or a sum or a "
        "mean over rows), so combining per-block scores could give a number that depends on "
        f"the chunking. Pass scoring= to Incremental ({hint}a scorer name, or a scorer made "
        "with sklearn.metrics.make_scorer) or call inc.estimator_.score on in-memory data. "
        f"Only if {name}.score is a sum of per-row terms (like a total log-likelihood) or a "
        "row-weighted mean of per-row terms (like a mean log-likelihood or an accuracy), "
        "with no term that does not depend on the rows, declare it with "
        f"gpuinc.metrics.register_score_reduction({name}, 'sum') (or 'mean'); for any other "
        "score that would give a number that depends on the chunking."
    )


def _host(a):
    """One block's y / sample_weight / response as a NumPy array."""
    if isinstance(a, (list, tuple)):
        return np.asarray(a)
    a = to_host(a)
    if hasattr(a, "to_numpy"):
        a = a.to_numpy()
    return np.asarray(a)


def _a_number(value, scorer) -> float:
    """A scorer's result as a float; anything else is the scorer's error, said so."""
    try:
        return float(value)
    except (TypeError, ValueError):
        name = getattr(scorer, "__name__", type(scorer).__name__)
        raise TypeError(
            f"the scorer {name} returned {value!r} ({type(value).__name__}), not a number; "
            "a scorer(estimator, X, y) must return one number, higher being better."
        ) from None


def _needs_y(what: str) -> ValueError:
    return ValueError(
        f"{what} compares predictions with the true targets, but y is None: call "
        "score(X, y) (or give validation_data=(X_val, y_val))."
    )


def _rows(x) -> int:
    return int(x.shape[0])


def _check_rows(n_x: int, n_y: int, what: str = "y", index=None) -> None:
    if n_x != n_y:
        block = "a block" if index is None else _block_name(index)
        raise ValueError(
            f"{block} of X has {n_x} rows but the matching block of {what} has {n_y}; X and "
            f"{what} must have the same rows in every block (use "
            "Incremental(assume_equal_chunks=False) to realign them)."
        )


def _match_shapes(out, y):
    """Give responses and targets the same shape; never let NumPy broadcast them."""
    if out.shape == y.shape:
        return out, y
    if y.ndim == 2 and y.shape[1] == 1 and out.ndim == 1:
        return out, y[:, 0]
    if out.ndim == 2 and out.shape[1] == 1 and y.ndim == 1:
        return out[:, 0], y
    raise ValueError(f"predictions of shape {out.shape} do not match y of shape {y.shape}.")


def _holds_text(values) -> bool:
    kind = values.dtype.kind
    if kind in "US":
        return True
    return kind == "O" and any(isinstance(v, str) for v in pd.unique(values.ravel()))


def _check_label_kinds(y, out, estimator) -> None:
    """Text labels against numeric predictions (or the reverse) never match: refuse, as
    scikit-learn does, instead of scoring 0."""
    text_y, text_out = _holds_text(y), _holds_text(out)
    if text_y == text_out:
        return
    classes = getattr(estimator, "classes_", None)
    seen = f" (classes_={_host(classes).tolist()[:5]})" if classes is not None else ""
    raise ValueError(
        f"y holds {'text' if text_y else 'numeric'} labels but {type(estimator).__name__} "
        f"predicts {'text' if text_out else 'numbers'}{seen}: a mix of label types, which "
        "never match. Give y the type of the labels the model was trained on (e.g. "
        "y.astype(int), or y.astype(str))."
    )


@dataclasses.dataclass(frozen=True)
class _At:
    """The block a scoring error is about: its number, its ``(start, stop)`` rows when
    known, and whether it is a training block (``train_score``) or one of the test data.

    The ``index`` argument of the checks below takes one, or a plain block number.
    """

    index: int
    rows: tuple | None = None
    training: bool = False


def _block_name(index) -> str:
    """``block 3 (rows 60:80)``, or ``training block 3 (rows 60:80)``."""
    if not isinstance(index, _At):
        return f"block {index}"
    name = f"{'training ' if index.training else ''}block {index.index}"
    return name if index.rows is None else f"{name} (rows {index.rows[0]}:{index.rows[1]})"


def _in_block(index) -> str:
    if index is None:
        return "a block of the test data"
    if isinstance(index, _At) and index.training:
        return _block_name(index)
    return f"{_block_name(index)} of the test data"


def _where(index):
    """``apply_method``'s ``where=`` (block number, rows) for an ``index``, or None."""
    if index is None:
        return None
    return (index.index, index.rows) if isinstance(index, _At) else (index, None)


def _not_finite(values) -> np.ndarray | None:
    """The mask of NaN / infinite entries of float ``values``; None when all are finite."""
    if values.dtype.kind not in "fc":
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()):  # one cheap pass; a finite sum has no NaN / inf
            return None
    bad = ~np.isfinite(values)
    return bad if bad.any() else None  # (a sum can overflow on finite values)


def _check_finite_weights(w, index=None) -> None:
    """NaN or infinite sample_weight: refused, as scikit-learn refuses it (not a NaN score)."""
    bad = _not_finite(w)
    if bad is None:
        return
    what = "NaN" if np.isnan(w).any() else "infinity"
    raise ValueError(
        f"Input sample_weight contains {what}: {int(bad.sum())} row(s) of {_in_block(index)} "
        "have a NaN or infinite weight, which cannot be scored (scikit-learn refuses it too). "
        "Give every row a finite weight: drop those rows, or fill their weight (e.g. with 0 "
        "to leave them out of the score)."
    )


def _check_finite_targets(y, index=None) -> None:
    """Infinite y (NaN is a missing label, see ``_has_missing``): refused, as scikit-learn does."""
    bad = _not_finite(y)
    if bad is None:
        return
    raise ValueError(
        f"Input y contains infinity: {int(bad.sum())} row(s) of {_in_block(index)} hold an "
        "infinite target, which cannot be scored (scikit-learn refuses it too). Drop those "
        "rows or replace the values with finite ones."
    )


class _NotFinitePredictions(ValueError):
    """NaN / infinite predictions refused by gpuinc (never left out of a train score)."""


def _check_finite_responses(out, estimator, method: str, index=None) -> None:
    """NaN / infinite predictions or probabilities: refused, as scikit-learn does."""
    bad = _not_finite(out)
    if bad is None:
        return
    rows = int(bad.reshape(bad.shape[0], -1).any(axis=1).sum())
    what = "NaN" if np.isnan(out).any() else "infinity"
    raise _NotFinitePredictions(
        f"Input y_pred contains {what}: {type(estimator).__name__}.{method} returned NaN or "
        f"infinite values for {rows} row(s) of {_in_block(index)}, which cannot be scored "
        "(scikit-learn refuses them too). The model has likely diverged (retrain with a "
        "smaller learning rate, more regularization or scaled features), or those rows of X "
        "hold extreme values."
    )


def _one_array_needed(estimator, method: str, out, who: str) -> ValueError:
    """A response that is a list of arrays, one per output (``MultiOutputClassifier``'s
    ``predict_proba``), where one array is needed."""
    return ValueError(
        f"{who} needs {type(estimator).__name__}.{method} to return one array, but it "
        f"returns a {type(out).__name__} of {len(out)} (one per output); score each "
        "output's estimator on its own, or pick another scoring."
    )


def _block_stats(estimator, x, y, w, name: str, home: str, index=None):
    """Small sufficient statistics of one block for the streaming metrics."""
    y = _host(y)
    n = y.shape[0]
    _check_rows(_rows(x), n, index=index)
    if n == 0:
        return None
    if _has_missing(y):
        raise ValueError(
            f"y holds missing values (NaN / None) in {int(np.sum(pd.isna(y)))} row(s) of "
            f"{_in_block(index)}; a missing label cannot be scored. Drop those rows or fill "
            "them."
        )
    _check_finite_targets(y, index)
    if w is None:
        w = np.ones(n)
    else:
        w = _host(w).astype(float)
        _check_rows(n, w.shape[0], "sample_weight", index)
        _check_finite_weights(w, index)
    method = STREAMING[name]
    out = apply_method(x, estimator, method, home, where=_where(index))
    if isinstance(out, (list, tuple)):  # one array per output (MultiOutputClassifier)
        raise _one_array_needed(estimator, method, out, name)
    out = _host(out)
    _check_rows(out.shape[0], n, index=index)
    _check_finite_responses(out, estimator, method, index)
    sw = float(w.sum())
    if name == "neg_log_loss":
        # as scikit-learn's log_loss: of two classes, only the positive one's column
        one_d = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
        scored = out[:, 1] if out.ndim == 2 and out.shape[1] == 2 and one_d else out
        if scored.size and (scored.max() > 1 or scored.min() < 0):
            bad = scored.max() if scored.max() > 1 else scored.min()
            raise ValueError(
                f"y_prob contains values {'greater than 1' if bad > 1 else 'lower than 0'}: "
                f"{type(estimator).__name__}.{method} returned {float(bad)!r} for "
                f"{_in_block(index)}, which is not a probability; neg_log_loss needs "
                "probabilities in [0, 1] (choose another scoring for this estimator)."
            )
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            return {"sw": sw, "nll": _multilabel_nll(out, y, w)}
        classes = _host(estimator.classes_)
        pos = np.searchsorted(classes, y)
        pos = np.clip(pos, 0, len(classes) - 1)
        if not np.array_equal(classes[pos], y):
            raise _unseen_labels_error(_unseen_labels(y, classes), classes, estimator, index,
                                       "log loss is undefined for them")
        eps = np.finfo(out.dtype).eps
        if out.ndim == 2 and out.shape[1] == 2 and len(classes) == 2:
            # as scikit-learn: of two classes, the positive column p, and 1 - p for the other
            p = np.where(pos == 1, out[:, 1], 1 - out[:, 1])
        else:
            p = out[np.arange(n), pos]
        p = np.clip(p, eps, 1 - eps)
        return {"sw": sw, "nll": float(-(w @ np.log(p)))}
    out, y = _match_shapes(out, y)
    if name == "accuracy":
        for what, values in (("y", y), ("the predictions", out)):
            if _continuous(values):
                raise ValueError(
                    f"accuracy needs class labels, but {what} holds continuous values (as a "
                    "regressor's do); score a regressor with a regression scorer such as "
                    "'r2' or 'neg_mean_squared_error'."
                )
        _check_label_kinds(y, out, estimator)
        hit = out == y
        if hit.ndim == 2:  # multi-output: a row counts when all its outputs are right
            hit = hit.all(axis=1)
        return {"sw": sw, "hit": float(w @ hit)}
    # Regression metrics: one statistic per output (column), averaged at the end.
    numeric = y.dtype.kind != "O"
    y = y.astype(float).reshape(n, -1)
    if not numeric:  # object values: infinity is seen once they are floats
        _check_finite_targets(y, index)
    r = y - out.astype(float).reshape(n, -1)
    if name in ("neg_mean_squared_error", "neg_root_mean_squared_error"):
        return {"sw": sw, "sse": w @ (r * r)}
    if name == "neg_mean_absolute_error":
        return {"sw": sw, "sae": w @ np.abs(r)}
    # r2 / explained variance: weighted mean and M2 of y and of the residual,
    # merged across blocks with Chan's update (see _merge_moments).
    if sw == 0:  # a block that weighs nothing adds its rows only (it has no mean)
        return {"sw": 0.0, "n": n}
    # The range of y and of the residual over the rows that weigh something: a constant
    # has an M2 of exactly 0, which the merged float moments miss (y = 0.3 everywhere
    # gives about 1e-32, and r2 about -1e31 instead of scikit-learn's 0).
    counted = w != 0
    yc, rc = (y, r) if counted.all() else (y[counted], r[counted])
    stats = {"sw": sw, "n": n, "sse": w @ (r * r), "ymin": yc.min(axis=0),
             "ymax": yc.max(axis=0), "rmin": rc.min(axis=0), "rmax": rc.max(axis=0)}
    for key, values, first in (("y", y, yc[0]), ("r", r, rc[0])):
        # Moments of the values less the block's first one ("ky" / "kr"), with the mean
        # corrected by a second pass: a mean far larger than the spread (y about 1e12 +- 1)
        # keeps its precision, as scikit-learn's two-pass formula does.
        shifted = values - first
        mean = (w @ shifted) / sw
        mean = mean + (w @ (shifted - mean)) / sw
        stats.update({f"k{key}": first, f"m{key}": mean,
                      f"m2{key}": w @ ((shifted - mean) ** 2)})
    return stats


def _multilabel_nll(out, y, w) -> float:
    """Weighted log loss of a label indicator matrix, summed over the rows.

    scikit-learn's ``log_loss`` on an indicator ``y``: each row's loss is
    ``-sum_k y_k log p_k`` over its positive labels, ``p`` clipped to
    ``[eps, 1 - eps]``.
    """
    if y.ndim != 2 or out.ndim != 2 or out.shape != y.shape:
        raise ValueError(
            f"neg_log_loss with a {y.ndim}-D y of shape {y.shape} needs predict_proba of the "
            f"same shape (a label indicator matrix), got {out.shape}."
        )
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise ValueError(
            "neg_log_loss with a 2-D y needs a label indicator matrix (0 / 1 values); this y "
            "holds other values. A multi-output y has no single log loss: score each "
            "output on its own, or pick another scoring."
        )
    eps = np.finfo(out.dtype).eps if out.dtype.kind == "f" else np.finfo(float).eps
    p = np.clip(out.astype(float, copy=False), eps, 1 - eps)
    return float(-(w @ (y.astype(float) * np.log(p)).sum(axis=1)))


def _label_classes(estimator):
    """The classes of a fitted single-output classifier as a 1-D host array, else None."""
    classes = getattr(estimator, "classes_", None)
    if classes is None or not is_classifier(estimator):
        return None
    if isinstance(classes, (list, tuple)) and any(
            getattr(c, "ndim", 0) > 0 or isinstance(c, (list, tuple)) for c in classes):
        return None  # one array of classes per output (multi-output)
    try:
        classes = _host(classes)
    except Exception:  # noqa: BLE001 - classes gpuinc cannot read: no check
        return None
    return classes if classes.ndim == 1 else None


def _unseen_labels(y, classes) -> list:
    """The labels of a block's 1-D ``y`` that are not in ``classes`` (missing values aside)."""
    if classes is None or y is None:
        return []
    values = _host(y)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1 or values.size == 0:
        return []
    known = set(classes.tolist())
    labels = pd.unique(values)
    return [v.item() if hasattr(v, "item") else v for v in labels
            if not pd.isna(v) and v not in known]


def _unseen_labels_error(unseen, classes, estimator, index, why: str) -> ValueError:
    """A validation / test y holding labels the classifier was never given."""
    unseen = sorted(unseen, key=repr)
    listed = ", ".join(map(repr, unseen[:5])) + (" ..." if len(unseen) > 5 else "")
    return ValueError(
        f"y contains label(s) {listed} in {_in_block(index)} that the estimator never saw: "
        f"{type(estimator).__name__} knows the classes {classes.tolist()[:20]} (classes_), so "
        f"it never predicts them and {why}. Give every label when training, e.g. "
        "Incremental.fit(X, y, classes=<all labels, those of the test data included>), or "
        "drop those rows from the test data."
    )


def _has_missing(y) -> bool:
    """NaN in float labels, None / NaN / pd.NA in object labels."""
    if y.dtype.kind in "fc":
        return bool(np.isnan(y).any())
    if y.dtype.kind == "O":
        return bool(pd.isna(y).any())
    return False


def _merge_moments(a, b, key):
    """Chan's update of the weighted mean and M2 of ``key`` ("y" or "r") of two blocks.

    Means are kept relative to the first block's shift (``k<key>``, see
    ``_block_stats``); the weights enter as ``a_sw * (b_sw / n)``, never as the
    product ``a_sw * b_sw``, which overflows or underflows for weights far from 1
    (1e155, 1e-300).
    """
    n = a["sw"] + b["sw"]
    delta = ((b["k" + key] - a["k" + key]) + b["m" + key]) - a["m" + key]
    share = b["sw"] / n
    return (
        a["m" + key] + delta * share,
        a["m2" + key] + b["m2" + key] + delta * delta * a["sw"] * share,
    )


class NoSamplesError(ValueError):
    """The test data holds no row to score (every block empty, or weighing nothing)."""


def _zero_samples() -> ValueError:
    return NoSamplesError(
        "cannot score on zero samples: every block of the test data is empty (or, for r2 and "
        "explained_variance, weighs zero)."
    )


def _combine(stats: list, name: str) -> float:
    stats = [s for s in stats if s is not None]
    if not stats:
        raise _zero_samples()
    if name in ("r2", "explained_variance"):
        n_rows = sum(s["n"] for s in stats)
        stats = [s for s in stats if s["sw"] != 0]  # (negative weights are scikit-learn's too)
        if not stats:
            raise _zero_samples()
        acc = dict(stats[0])
        for s in stats[1:]:
            my, m2y = _merge_moments(acc, s, "y")
            mr, m2r = _merge_moments(acc, s, "r")
            acc = {"sw": acc["sw"] + s["sw"], "sse": acc["sse"] + s["sse"],
                   "ky": acc["ky"], "kr": acc["kr"],
                   "my": my, "m2y": m2y, "mr": mr, "m2r": m2r,
                   **{k: np.minimum(acc[k], s[k]) for k in ("ymin", "rmin")},
                   **{k: np.maximum(acc[k], s[k]) for k in ("ymax", "rmax")}}
        if name == "r2" and n_rows < 2:  # scikit-learn: not well defined on one sample
            from sklearn.exceptions import UndefinedMetricWarning

            warnings.warn(f"{name} is not well-defined with fewer than two samples.",
                          UndefinedMetricWarning, stacklevel=2)
            return float("nan")
        # A constant y (or, for explained_variance, a constant residual) has a deviance
        # of exactly 0, whatever the rounding of the merged moments.
        if name == "r2":
            num = np.asarray(acc["sse"], dtype=float)
        else:
            num = np.where(acc["rmin"] == acc["rmax"], 0.0, acc["m2r"])
        den = np.where(acc["ymin"] == acc["ymax"], 0.0, acc["m2y"])
        safe = np.where(den == 0, 1.0, den)
        # scikit-learn's convention (force_finite=True, as its scorers use) for a zero
        # denominator: 1 when the numerator is 0 too (predicted exactly), else 0
        per_output = np.where(den == 0, np.where(num == 0, 1.0, 0.0), 1.0 - num / safe)
        return float(np.mean(per_output))
    sw = sum(s["sw"] for s in stats)
    if sw == 0:  # every row weighs zero (scikit-learn refuses such weights too)
        raise NoSamplesError(
            f"cannot score {name} on test rows that all weigh zero (sample_weight is 0 for "
            "every row); give some rows a positive weight."
        )
    if name == "accuracy":
        return sum(s["hit"] for s in stats) / sw
    if name == "neg_log_loss":
        return -sum(s["nll"] for s in stats) / sw
    if name == "neg_mean_squared_error":
        return -float(np.mean(sum(s["sse"] for s in stats) / sw))
    if name == "neg_root_mean_squared_error":
        return -float(np.mean(np.sqrt(sum(s["sse"] for s in stats) / sw)))
    if name == "neg_mean_absolute_error":
        return -float(np.mean(sum(s["sae"] for s in stats) / sw))
    raise KeyError(name)  # pragma: no cover


def _continuous(values) -> bool:
    """Float values that are not all whole numbers (scikit-learn's 'continuous' target)."""
    values = np.asarray(values)
    if values.dtype.kind != "f" or values.size == 0:
        return False
    finite = values[np.isfinite(values)]
    return bool(np.any(finite != np.floor(finite)))


# ----------------------------------------------------- gathered responses
#: responses that must be finite to be scored (log-probabilities and score_samples
#: may be -inf, legitimately)
_FINITE_METHODS = ("predict", "predict_proba", "decision_function")


def _block_response(x, estimator, method, home, where=None):
    """``estimator.<method>`` of one block on the host; None for an empty block."""
    if _rows(x) == 0:
        return None  # most estimators reject zero rows; predict skips them too
    out = apply_method(x, estimator, method, home, where=_where(where))
    if isinstance(out, (list, tuple)):  # one array per output (MultiOutputClassifier)
        raise _one_array_needed(estimator, method, out, "scoring block by block")
    return _host(out)


def _block_targets(x, y, w, estimator=None, methods=(), home="host", index=None, classes=None,
                   guessed=()):
    """One block's row count, host y and sample_weight, responses and unseen labels.

    Returns ``(rows, y, sample_weight, {method: response}, labels of y not in
    classes, index)``, all from this one computation of the block.  ``x`` is
    None when the rows can be counted on y and no response is asked for: then
    the block of X is not read at all.  The error of a method in ``guessed``
    (gathered for a callable scorer that may not use it) is kept in its place,
    and raised only if the scorer asks for that response.
    """
    if y is not None:  # a pandas y stays one (a callable scorer may use its methods)
        y = to_host(y)
        y = y if isinstance(y, (pd.Series, pd.DataFrame)) else _host(y)
    w = None if w is None else _host(w)
    n = _rows(x) if x is not None else y.shape[0]
    if y is not None:
        _check_rows(n, y.shape[0], index=index)
    if w is not None:
        _check_rows(n, w.shape[0], "sample_weight", index)
        _check_finite_weights(w, index)
    outs = {}
    for m in methods or ():
        try:
            outs[m] = _block_response(x, estimator, m, home, index)
        except Exception as exc:
            if m not in guessed:
                raise
            outs[m] = _Failed(exc)
    return n, y, w, outs, _unseen_labels(y, classes), index


class _Failed:
    """The error of a response gathered for a callable that may not use it (see
    ``_block_targets``): raised when the scorer asks for that response."""

    def __init__(self, exc: BaseException):
        self.exc = exc


def _refuse_x_method(estimator, name):
    est = type(estimator).__name__

    def refuse(*args, **kwargs):
        raise TypeError(
            f"{est}.{name} needs the real X, which gpuinc never gathers. On Dask input a "
            f"callable scorer is called with a stand-in for {est} whose "
            f"{', '.join(GATHERED_METHODS)} return the responses gathered block by block "
            "and whose other attributes are the fitted estimator's, and with a placeholder X "
            "(the right shape, NaN values). Use a scorer made with "
            "sklearn.metrics.make_scorer, or call the scorer on in-memory data, e.g. "
            "scorer(inc.estimator_, X.compute(), y.compute())."
        )

    refuse.__name__ = name
    return refuse


#: methods of an estimator that take X and so cannot run on the placeholder
_X_METHODS = frozenset({
    "fit", "partial_fit", "fit_predict", "fit_transform", "transform", "inverse_transform",
    "kneighbors", "kneighbors_graph", "radius_neighbors", "radius_neighbors_graph", "apply",
    "decision_path", "staged_predict", "staged_predict_proba", "staged_decision_function",
    "predict_joint_log_proba", "mahalanobis", "error_norm", "sample",
})


def _takes_x(name, value) -> bool:
    if name in _X_METHODS:
        return True
    try:
        params = list(inspect.signature(value).parameters)
    except (TypeError, ValueError):
        return False
    return bool(params) and params[0] in ("X", "x", "X_test")


def _inner_has(name):
    return lambda self: hasattr(self._estimator, name)


class _GatheredResponses:
    """A fitted-estimator stand-in whose response methods return gathered results.

    Lets any scikit-learn scorer run on predictions computed blockwise where
    the data lives; responses are computed on first use and cached.  Other
    attributes are read from the real estimator (see the module docstring).
    """

    def __init__(self, estimator, blocks, home, *, rows, y=None, sample_weight=None,
                 placeholder=None, pending=None, where=None, check_finite=True):
        self._estimator = estimator
        self._blocks = blocks
        self._home = home
        self._block_rows = list(rows)
        self._y = y
        self._sample_weight = sample_weight
        self._placeholder = placeholder
        self._pending = dict(pending or {})  # method -> per-block responses, unchecked
        self._where = list(where) if where is not None else [None] * len(self._block_rows)
        self._cache = {}
        # NaN / infinite predictions are refused for scikit-learn's scorers (as scikit-learn
        # does); a callable gets what the estimator returns, as in memory
        self._check_finite = check_finite
        # responses the scorer asked for that were not gathered, in the order asked: the
        # scorer is called again once they are (see _score_of_gathered), whatever it did
        # with the _MoreResponses that stopped it
        self._unserved = []
        if hasattr(estimator, "classes_"):
            self.classes_ = _host(estimator.classes_)

    def __sklearn_tags__(self):
        return self._estimator.__sklearn_tags__()

    def __sklearn_is_fitted__(self):
        # check_is_fitted(stand-in) in a scorer: fitted as the estimator it stands for is
        return _is_fitted(self._estimator)

    def __repr__(self):
        return f"<gathered responses of {self._estimator!r}>"

    def __getattr__(self, name):
        # Only called for names the stand-in does not define: read them from the
        # fitted estimator (coef_, classes_, n_features_in_, get_params ...).
        if name.startswith("__") or name in ("_estimator", "_blocks", "_cache"):
            raise AttributeError(name)
        try:
            est = self.__dict__["_estimator"]
        except KeyError:
            raise AttributeError(name) from None
        value = getattr(est, name)
        if callable(value) and not isinstance(value, type) and _takes_x(name, value):
            return _refuse_x_method(est, name)
        return value

    def _check_x(self, X, method):
        if X is None or X is self._placeholder:
            return
        if self._placeholder is not None and getattr(X, "shape", None) == self._placeholder.shape:
            return
        raise ValueError(
            f"on Dask input the stand-in for {type(self._estimator).__name__} answers "
            f"{method} for the whole test set only: call it with the placeholder X the "
            f"scorer was given (shape {getattr(self._placeholder, 'shape', None)}), not with "
            f"an X of shape {getattr(X, 'shape', None)}. gpuinc never gathers the real X."
        )

    def _no_blocks(self, what):
        if self._blocks is None:
            raise TypeError(
                f"score(..., compute=False) computes one response per block ahead, but this "
                f"scorer also asked for {what}; score with compute=True."
            )

    def _responses(self, method):
        if method not in self._cache:
            if not hasattr(self._estimator, method):
                raise AttributeError(f"{type(self._estimator).__name__} has no {method}")
            if method not in self._pending:
                if method not in self._unserved:
                    self._unserved.append(method)
                self._no_blocks(method)
                raise _MoreResponses((method,))  # gathered again, with y (_score_gathered)
            outs = self._pending[method]
            for out in outs:
                if isinstance(out, _Failed):  # (kept pending: raised again if asked again)
                    raise out.exc
            del self._pending[method]
            self._cache[method] = self._checked(method, outs)
        return self._cache[method]

    def _checked(self, method, outs):
        """The per-block responses ``outs`` checked (finite, one row per row) and joined."""
        if self._check_finite and method in _FINITE_METHODS:
            for out, at in zip(outs, self._where, strict=True):
                if out is not None:
                    _check_finite_responses(out, self._estimator, method, at)
        return _concat_responses(outs, self._block_rows, self._estimator, method)

    @available_if(_inner_has("predict"))
    def predict(self, X=None):
        self._check_x(X, "predict")
        return self._responses("predict")

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X=None):
        self._check_x(X, "predict_proba")
        return self._responses("predict_proba")

    @available_if(_inner_has("predict_log_proba"))
    def predict_log_proba(self, X=None):
        self._check_x(X, "predict_log_proba")
        return self._responses("predict_log_proba")

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X=None):
        self._check_x(X, "decision_function")
        return self._responses("decision_function")

    @available_if(_inner_has("score_samples"))
    def score_samples(self, X=None):
        self._check_x(X, "score_samples")
        return self._responses("score_samples")

    @available_if(_inner_has("score"))
    def score(self, X=None, y=None, sample_weight=None):
        """The estimator's own score of the whole test set (``X`` is the placeholder)."""
        self._check_x(X, "score")
        how = score_reduction(self._estimator)
        kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
        if how in ("accuracy", "r2"):
            if y is None:
                raise _needs_y(f"{type(self._estimator).__name__}.score")
            metric = accuracy_score if how == "accuracy" else r2_score
            return float(metric(y, self.predict(X), **kwargs))
        # A sum or mean of per-block scores: blockwise on the test set's own y and weights.
        for given, own, what in ((y, self._y, "y"), (sample_weight, self._sample_weight,
                                                     "sample_weight")):
            if given is not None and not (given is own or (own is not None and np.array_equal(
                    np.asarray(given), own))):
                raise ValueError(
                    f"on Dask input the stand-in's score scores the test set block by block "
                    f"with its own {what}; it cannot take a different {what}."
                )
        self._no_blocks(f"{type(self._estimator).__name__}.score")
        return _reduce_block_scores(self._estimator, self._blocks, how, self._home,
                                    with_y=y is not None, with_weight=sample_weight is not None)

    def get_params(self, deep=True):
        return self._estimator.get_params(deep=deep)


class _OneBlockResponses(_GatheredResponses):
    """The stand-in of :class:`_GatheredResponses` for one in-memory block (a training
    block scored by ``train_score``): responses are computed on first use, and NaN /
    infinite predictions are refused naming the block (``at``)."""

    def __init__(self, estimator, x, home, *, y=None, sample_weight=None, at=None,
                 check_finite=True):
        n = _rows(x)
        super().__init__(estimator, None, home, rows=[n], y=y, sample_weight=sample_weight,
                         placeholder=_placeholder(estimator, n), where=[at],
                         check_finite=check_finite)
        self._x = x

    def _responses(self, method):
        if method not in self._cache:
            if not hasattr(self._estimator, method):
                raise AttributeError(f"{type(self._estimator).__name__} has no {method}")
            out = _block_response(self._x, self._estimator, method, self._home,
                                  self._where[0])
            self._cache[method] = self._checked(method, [out])
        return self._cache[method]

    def score(self, X=None, y=None, sample_weight=None):
        """The estimator's own score of the block (``X`` is the placeholder)."""
        self._check_x(X, "score")
        where = KIND_HOME[block_kind(self._x)]  # y and weights join the block where it lives
        y = None if y is None else move(y, where)
        sample_weight = None if sample_weight is None else move(sample_weight, where)
        return _block_score(self._estimator, self._x, y, sample_weight, self._home,
                            with_y=y is not None, with_weight=sample_weight is not None)[0]


def _concat_responses(outs, rows, estimator, method):
    outs = list(outs)
    for out, n in zip(outs, rows, strict=True):
        got = 0 if out is None else out.shape[0]
        if got != n:
            raise ValueError(
                f"{type(estimator).__name__}.{method} gave {got} rows for a block whose y (or "
                f"sample_weight) has {n}; X and y must have the same rows in every block (use "
                "Incremental(assume_equal_chunks=False) to realign them)."
            )
    outs = [o for o in outs if o is not None]
    if not outs:
        raise _zero_samples()
    return np.concatenate(outs, axis=0)


def response_methods(scorer) -> tuple:
    """The estimator methods a scikit-learn scorer may ask for, in its order (() if unknown)."""
    wanted = getattr(scorer, "_response_method", None)
    return (wanted,) if isinstance(wanted, str) else tuple(wanted or ())


class _PerfectClassifier(ClassifierMixin, BaseEstimator):
    """Stand-in that answers every row right: row ``i`` is of class ``classes_[i]``."""

    def __init__(self, classes):
        self.classes = classes
        self.classes_ = np.asarray(classes)

    def fit(self, X, y):  # pragma: no cover - never called; scikit-learn's checks want it
        return self

    def predict(self, X):
        return self.classes_[: X.shape[0]]

    def predict_proba(self, X):
        n = len(self.classes_)
        return np.eye(X.shape[0], n) * 0.9 + 0.1 / n

    def predict_log_proba(self, X):
        return np.log(self.predict_proba(X))

    def decision_function(self, X):
        if len(self.classes_) == 2:
            return np.where(np.arange(X.shape[0]) == 1, 1.0, -1.0)
        return np.eye(X.shape[0], len(self.classes_)) * 2.0 - 1.0


class PositiveClassNeeded(ValueError):
    """A binary scorer name (``f1``, ``precision`` ...) whose positive class is not one of
    two classes (text labels): ``scoring``, ``classes`` and ``suggested`` (the class
    scikit-learn would treat as positive in ``roc_auc``: the last) let a caller word the fix
    its own way (the command line's ``--pos-label``)."""

    def __init__(self, message: str, *, scoring: str, classes: list, suggested):
        super().__init__(message)
        self.scoring, self.classes, self.suggested = scoring, classes, suggested

    def __reduce__(self):  # pickled and copied with its fields
        return (_positive_class_needed, (self.args[0], self.scoring, self.classes, self.suggested),
                self.__dict__)


def _positive_class_needed(message, scoring, classes, suggested):
    return PositiveClassNeeded(message, scoring=scoring, classes=classes, suggested=suggested)


def scorer_with_pos_label(scoring: str, pos_label):
    """The scikit-learn scorer named ``scoring`` with its positive class ``pos_label``.

    For binary scorers of two classes that do not include 1 (text labels):
    ``scorer_with_pos_label("f1", "yes")`` is ``make_scorer(f1_score,
    pos_label="yes")``. Raises ValueError for a scorer that takes no positive class.
    """
    import inspect

    from sklearn.metrics import make_scorer

    scorer = get_scorer(scoring)
    func = getattr(scorer, "_score_func", None)
    try:
        takes = func is not None and "pos_label" in inspect.signature(func).parameters
    except (TypeError, ValueError):
        takes = False
    if not takes:
        raise ValueError(
            f"scoring={scoring!r} takes no positive class (pos_label); it needs none, or use "
            "a binary scorer such as 'f1', 'precision', 'recall' or 'average_precision'."
        )
    average = getattr(scorer, "_kwargs", {}).get("average", "binary")
    if average not in (None, "binary"):
        raise ValueError(
            f"scoring={scoring!r} averages over the classes (average={average!r}), so it takes "
            f"no positive class; use the binary {scoring.split('_')[0]!r}, or leave pos_label out."
        )
    kwargs = {**getattr(scorer, "_kwargs", {}), "pos_label": pos_label}
    return make_scorer(func, response_method=getattr(scorer, "_response_method", "predict"),
                       greater_is_better=getattr(scorer, "_sign", 1) > 0, **kwargs)


def check_scoring_for_classes(scoring, classes) -> None:
    """Refuse a scorer name that cannot score a problem of these ``classes``.

    Binary metrics (``f1``, ``precision``, ``roc_auc``, ...) fail on multiclass
    targets, and on two classes without the positive class 1 (text labels),
    only when first scored, after a whole pass.  Here the scorer runs on one
    perfectly predicted row per class, before any training.
    """
    if not isinstance(scoring, str) or classes is None:
        return
    if isinstance(classes, (list, tuple)) and any(
            getattr(c, "ndim", 0) > 0 or isinstance(c, (list, tuple)) for c in classes):
        return  # one array of classes per output (multi-output): no single class count
    classes = _host(classes)  # CuPy / cuDF classes (a model fitted on the device)
    if classes.ndim != 1 or len(classes) < 2:
        return
    scorer = get_scorer(scoring)
    stand_in = _PerfectClassifier(classes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the stand-in's scores are not the point
            scorer(stand_in, np.zeros((len(classes), 1)), classes)
    except ValueError as exc:
        if len(classes) == 2:  # binary: only a positive class that is not one of them
            if "pos_label" not in str(exc):
                return
            func = getattr(getattr(scorer, "_score_func", None), "__name__", "f1_score")
            method = getattr(scorer, "_response_method", "predict")
            extra = "" if method == "predict" else f", response_method={method!r}"
            if getattr(scorer, "_sign", 1) < 0:
                extra += ", greater_is_better=False"
            last = classes[-1].item() if hasattr(classes[-1], "item") else classes[-1]
            raise PositiveClassNeeded(
                f"scoring={scoring!r} needs its positive class named: the classes are "
                f"{classes.tolist()} ({one_line(exc)[:200]}); name it with a scorer: "
                f"scoring=sklearn.metrics.make_scorer(sklearn.metrics.{func}, "
                f"pos_label={last!r}{extra}), or use 'accuracy'.",
                scoring=scoring, classes=classes.tolist(), suggested=last,
            ) from exc
        base = scoring.split("_")[0]
        instead = "'accuracy'"
        if base in ("f1", "precision", "recall", "jaccard"):
            instead += f", '{base}_macro' or '{base}_weighted'"
        elif base == "roc":
            instead += ", 'roc_auc_ovr' or 'roc_auc_ovo'"
        raise ValueError(
            f"scoring={scoring!r} cannot score this problem of {len(classes)} classes "
            f"({one_line(exc)[:300]}); choose a scoring that takes more than two classes, "
            f"such as {instead}."
        ) from exc
    except Exception:  # noqa: BLE001 - the stand-in may lack what a scorer wants: not a verdict
        return


def _first_response_method(scorer, estimator):
    """The response method a scikit-learn scorer will ask for, to gather it with y."""
    for name in response_methods(scorer):
        if isinstance(name, str) and name in GATHERED_METHODS and hasattr(estimator, name):
            return name
    return None


def _is_sklearn_scorer(scorer) -> bool:
    return hasattr(scorer, "_score_func")


class _MoreResponses(BaseException):
    """Raised through a scorer by the stand-in when it asks for a response that was not
    gathered with y: the gathering is redone with that response too.

    A BaseException, so that a scorer's own ``except Exception`` does not swallow it.  A
    scorer that swallows it anyway (a bare ``except:``) is called again all the same: the
    stand-in records every response it could not serve (see ``_score_of_gathered``).
    """

    def __init__(self, methods: tuple):
        super().__init__(*methods)
        self.methods = tuple(methods)


def _score_gathered(estimator, blocks, scorer, scoring, home, compute=True):
    """A scorer that is not streamed, on responses gathered blockwise with y.

    y, sample_weight and every response the scorer uses come from ONE
    computation of each block: a Dask DataFrame whose row order changes from
    one compute to the next (after ``shuffle``, or ``sort_values`` /
    ``set_index`` on tied keys) would otherwise pair y with another row's
    prediction.  The responses gathered are the one a scikit-learn scorer asks
    for, or ``predict`` for a callable; when the scorer asks for another one the
    stand-in stops it, and y and all the responses asked for so far are
    gathered again, together, before the scorer is called again.
    """
    has_y = any(b.y is not None for b in blocks)
    if not has_y and _is_sklearn_scorer(scorer):
        raise _needs_y(f"scoring={scoring!r}")
    if _is_sklearn_scorer(scorer):
        method = _first_response_method(scorer, estimator)
        methods = () if method is None else (method,)
    else:  # a callable: predict is what most of them ask for (others gather again)
        methods = ("predict",) if has_y and hasattr(estimator, "predict") else ()
    # A callable may not use a response gathered for it (predict, gathered ahead), and may
    # catch the estimator's error on one it asks for and fall back on another (as in
    # memory): the estimator's error on a block is kept in place and raised only when the
    # callable asks for that response, as the real estimator would raise it.
    callable_scorer = not _is_sklearn_scorer(scorer)
    classes = _label_classes(estimator) if has_y else None
    # Without y the rows are counted on X, unless Dask knows them already.
    known_rows = [None if b.rows is None else b.rows[1] - b.rows[0] for b in blocks]
    has_w = any(b.kwargs.get("sample_weight") is not None for b in blocks)

    def gather(methods):
        if not methods and not has_y and not has_w and None not in known_rows:
            return [(n, None, None, {}, [], _At(b.index, b.rows))
                    for n, b in zip(known_rows, blocks, strict=True)]
        est = dask.delayed(estimator, pure=False) if methods else None
        read_x = bool(methods) or not has_y
        return [
            dask.delayed(_block_targets)(b.x if read_x else None, b.y,
                                         b.kwargs.get("sample_weight"), est, methods, home,
                                         _At(b.index, b.rows), classes,
                                         methods if callable_scorer else ())
            for b in blocks
        ]

    if not compute:
        # a lazy score holds no block: those graphs may hold the data (from_array,
        # from_pandas); a response not gathered ahead is refused (see _no_blocks)
        finish = functools.partial(_score_of_gathered, estimator, None, scorer, home, has_y)
        return _finish(gather(methods), finish, compute)
    # Each new gathering adds at least one response, and there are finitely many.
    for _ in range(len(GATHERED_METHODS) + 1):
        gathered = list(dask.compute(*gather(methods)))
        try:
            return _score_of_gathered(estimator, blocks, scorer, home, has_y, gathered)
        except _MoreResponses as more:
            new = tuple(m for m in more.methods if m not in methods)
            if not new:  # pragma: no cover - the stand-in had them all
                raise RuntimeError(f"{more.methods} were gathered but not served") from None
            methods = (*methods, *new)
    raise RuntimeError(  # pragma: no cover - bounded above
        f"the scorer kept asking for responses not gathered: {methods}")


def _placeholder(estimator, n_rows: int) -> np.ndarray:
    """The X a scorer is given in place of the real one: the right shape, NaN values."""
    try:
        n_features = int(getattr(estimator, "n_features_in_", 0))
    except (TypeError, ValueError):
        n_features = 0
    return np.broadcast_to(np.float64(np.nan), (n_rows, n_features))


def _score_of_gathered(estimator, blocks, scorer, home, has_y, gathered):
    """The scorer on the gathered per-block results of ``_block_targets``."""
    rows = [g[0] for g in gathered]
    if sum(rows) == 0:
        raise _zero_samples()
    y = given_y = None
    if has_y:
        parts = [g[1] for g in gathered]
        if all(isinstance(p, (pd.Series, pd.DataFrame)) for p in parts):
            given_y = pd.concat(parts)  # what the scorer is given: y as it came, a Series
        y = np.concatenate([_host(p) for p in parts], axis=0)
        given_y = y if given_y is None else given_y
    kwargs = {}
    weights = [g[2] for g in gathered]
    if any(w is not None for w in weights):
        kwargs["sample_weight"] = np.concatenate(
            [np.ones(n) if w is None else w for w, n in zip(weights, rows, strict=True)]
        )
    pending = {m: [g[3][m] for g in gathered] for m in (gathered[0][3] if gathered else {})}
    placeholder = _placeholder(estimator, sum(rows))
    proxy = _GatheredResponses(estimator, blocks, home, rows=rows, y=y,
                               sample_weight=kwargs.get("sample_weight"),
                               placeholder=placeholder, pending=pending,
                               where=[g[5] for g in gathered],
                               check_finite=_is_sklearn_scorer(scorer))

    def unserved():
        # A response the scorer asked for was not gathered: whatever the scorer did next
        # (stopped by _MoreResponses, or went on after swallowing it with a bare except,
        # falling back on another response, or failed), its result is not the score: it
        # is called again once y and every response asked for are gathered together.
        if proxy._unserved:
            proxy._no_blocks(proxy._unserved[0])  # compute=False: refused (TypeError)
            return _MoreResponses(tuple(proxy._unserved))
        return None

    try:
        value = scorer(proxy, placeholder, given_y, **kwargs)
    except _MoreResponses as exc:
        raise (unserved() or exc) from None
    except Exception as exc:
        more = unserved()
        if more is not None:
            raise more from None
        if not isinstance(exc, ValueError):
            raise
        unseen = [(g[5], g[4]) for g in gathered if g[4]]
        if not unseen:
            raise
        # a label the model never saw: scikit-learn's error is about something else
        # ("Target is multiclass but average='binary'", "multi_class must be in ...")
        at = unseen[0][0]
        labels = {v for _, found in unseen for v in found}
        classes = _label_classes(estimator)
        if not _caused_by_unseen_labels(exc, scorer, proxy, y, kwargs, classes):
            # an error of its own (a callable's check, roc_auc of a multiclass model): kept,
            # with a note on the labels
            listed = ", ".join(map(repr, sorted(labels, key=repr)[:5]))
            if not hasattr(exc, "add_note"):  # pragma: no cover - Python 3.10
                raise
            exc.add_note(
                f"gpuinc: y also contains label(s) {listed} in {_in_block(at)} that "
                f"{type(estimator).__name__} never saw (it knows the classes "
                f"{classes.tolist()[:20]}); if they are what the scorer fails on, give every "
                "label when training (Incremental.fit(X, y, classes=<all labels>)) or drop "
                "those rows from the test data.")
            raise
        said = one_line(exc)
        error = _unseen_labels_error(
            labels, classes, estimator, at,
            f"the scorer fails on them ({said[:500]}{' ...' if len(said) > 500 else ''})")
        raise error from exc
    more = unserved()
    if more is not None:
        raise more
    return _a_number(value, scorer)


#: words of a scorer's error about labels or classes (scikit-learn's "y_true contains only
#: one label", "Target is multiclass but average='binary'", "multi_class must be in ...",
#: "pos_label=2 is not a valid label", "Number of classes in y_true not equal to ...")
_LABEL_WORDS = re.compile(r"\b(labels?|class(es)?|multi_class|average)\b")


def _caused_by_unseen_labels(exc, scorer, proxy, y, kwargs, classes) -> bool:
    """Whether a gathered scorer's ValueError comes from the labels of y the model never
    saw: a scikit-learn scorer is run again on the other rows (from the responses already
    gathered; no side effect), which must then succeed; else (a callable, or a scorer
    that asks for a response not gathered yet) its message must be about labels or
    classes."""
    if _is_sklearn_scorer(scorer) and classes is not None and y is not None:
        values = y[:, 0] if y.ndim == 2 and y.shape[1] == 1 else y
        if values.ndim == 1:
            keep = np.isin(values, classes)
            if keep.any() and proxy._cache:
                n = int(keep.sum())
                sub_kwargs = {k: v[keep] for k, v in kwargs.items()}
                sub = _GatheredResponses(
                    proxy._estimator, None, proxy._home, rows=[n], y=y[keep],
                    sample_weight=sub_kwargs.get("sample_weight"),
                    placeholder=_placeholder(proxy._estimator, n),
                    pending={m: [r[keep]] for m, r in proxy._cache.items()})
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        scorer(sub, sub._placeholder, y[keep], **sub_kwargs)
                except ValueError:
                    return False  # it fails without them too
                except Exception:  # noqa: BLE001 - not answered so: the message decides
                    pass
                else:
                    return True
    return _LABEL_WORDS.search(str(exc).lower()) is not None


# ------------------------------------------------ the estimator's own score
def _block_score(estimator, x, y, w, home, with_y=True, with_weight=True):
    """``estimator.score`` of one block, its weight (rows or total weight) and rows."""
    n = _rows(x)
    if n == 0:
        return 0.0, 0.0, 0
    kind = block_kind(x)
    if KIND_HOME[kind] != home:
        x = move(x, home)
        y = move(y, home) if y is not None else None
        w = move(w, home) if w is not None else None
    # as partial_fit got them: a device block as the array-API estimator takes it (cuDF
    # as CuPy), scored with scikit-learn's array-API dispatch on in this thread too
    x, y, w = (None if v is None else as_estimator_input(v, estimator, home)
               for v in (x, y if with_y else None, w if with_weight else None))
    kwargs = {} if w is None else {"sample_weight": w}
    with compute_context(estimator, home):
        value = estimator.score(x, **kwargs) if y is None else estimator.score(x, y, **kwargs)
    weight = float(_host(w).sum()) if w is not None else float(n)
    return float(value), weight, n


def _reduce_block_scores(estimator, blocks, how, home, *, with_y=True, with_weight=True,
                         compute=True):
    est = dask.delayed(estimator, pure=False)
    parts = [
        dask.delayed(_block_score)(est, b.x, b.y, b.kwargs.get("sample_weight"), home,
                                   with_y, with_weight)
        for b in blocks
    ]
    return _finish(parts, functools.partial(_combine_block_scores, how=how), compute)


def _combine_block_scores(parts, how):
    if sum(n for _, _, n in parts) == 0:
        raise _zero_samples()
    if how == "sum":
        return float(sum(v for v, _, n in parts if n))
    total = sum(wt for _, wt, n in parts if n)
    return float(sum(v * wt for v, wt, n in parts if n) / total)


def _finish(parts, combine, compute: bool):
    """``combine`` of the computed per-block ``parts``; with ``compute=False`` a 0-d Dask
    array of it, as dask-ml's (``float()`` and ``np.asarray`` compute it).

    It depends on the small per-block results only, so computing it gathers no
    block.
    """
    if compute:
        return combine(list(dask.compute(*parts)))
    import dask.array as da

    return da.from_delayed(dask.delayed(_as_float64, pure=True)(combine, parts), shape=(),
                           dtype=np.float64)


def _as_float64(combine, parts):
    return np.float64(combine(parts))


def score_blocks(estimator, blocks, scoring=None, *, home: str = "host", compute: bool = True):
    """Score a fitted estimator on aligned blocks (see :func:`gpuinc._blocks.plan_blocks`).

    ``scoring=None`` is the estimator's own ``score`` (see
    :func:`score_reduction`); empty blocks are skipped. ``compute=False``
    returns a 0-d Dask array that computes the score.
    """
    has_y = any(b.y is not None for b in blocks)
    what = f"scoring={scoring!r}"
    if scoring is None:
        how = score_reduction(estimator)
        if how in ("sum", "mean"):
            return _reduce_block_scores(estimator, blocks, how, home, compute=compute)
        scoring = how
        what = f"{type(estimator).__name__}.score ({'accuracy' if how == 'accuracy' else 'R^2'})"
    if isinstance(scoring, str) and scoring in STREAMING:
        if not has_y:
            raise _needs_y(what)
        est = dask.delayed(estimator, pure=False)
        parts = [
            dask.delayed(_block_stats)(est, b.x, b.y, b.kwargs.get("sample_weight"), scoring, home,
                                       _At(b.index, b.rows))
            for b in blocks
        ]
        return _finish(parts, functools.partial(_combined_float, scoring=scoring), compute)
    scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring
    if not callable(scorer):
        raise TypeError(f"scoring must be a scorer name or a callable, got {scoring!r}.")
    return _score_gathered(estimator, blocks, scorer, scoring, home, compute=compute)


def _combined_float(parts, scoring):
    return float(_combine(parts, scoring))


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


def progressive_statistic(estimator, x, y, w, scoring, home: str = "host", *, index=None,
                          rows=None):
    """Score one block with the model as it stands, before it learns from it.

    Returns a small statistic that :func:`combine_progressive` merges across
    blocks; None while the model has not been fitted yet (the first block).
    ``index`` and ``rows`` (the training block's number and ``(start, stop)``)
    name the block in errors.  NaN / infinite predictions raise a ValueError
    naming the block, as on the test data, for the streaming metrics and
    scikit-learn's scorers (a callable gets what the estimator returns and
    decides).  Any other ValueError of the scorer (one undefined on the block:
    ``roc_auc`` on a block of one class, ``neg_mean_squared_log_error`` on the
    negative predictions of an early model) leaves the block out of the pass's
    score, with a warning from :func:`combine_progressive` that says how many
    blocks were left out and quotes the first error; when no block of the pass
    could be scored it warns and the pass's train score is NaN.
    """
    if not _is_fitted(estimator):
        return None
    at = None if index is None else _At(index, rows, training=True)
    if scoring in (None, ESTIMATOR_DEFAULT):
        how = score_reduction(estimator)
        if how in ("sum", "mean"):
            value, weight, n = _block_score(estimator, x, y, w, home)
            if n == 0:
                return None
            return (how, {"sw": weight, "sum": value if how == "sum" else value * weight})
        scoring = how
    if isinstance(scoring, str) and scoring in STREAMING:
        if y is None:
            raise _needs_y(f"scoring={scoring!r}")
        return (scoring, _block_stats(estimator, x, y, w, scoring, home, at))
    n = _rows(x)
    if n == 0:
        return None
    scorer = get_scorer(scoring) if isinstance(scoring, str) else scoring
    if w is not None:
        _check_finite_weights(_host(w), at)
    sklearn_scorer = _is_sklearn_scorer(scorer)
    if sklearn_scorer or home == DEVICE or KIND_HOME[block_kind(x)] == DEVICE:
        # The scorer gets a stand-in whose responses are computed where the block lives and
        # brought to the host (scikit-learn's metrics take host arrays); those of a
        # scikit-learn scorer are checked finite. A callable on a host block gets the real
        # estimator and X.
        y = None if y is None else _host(y)
        w = None if w is None else _host(w)
        proxy = _OneBlockResponses(estimator, x, home, y=y, sample_weight=w, at=at,
                                   check_finite=sklearn_scorer)
        method = _first_response_method(scorer, estimator)
        if method is not None:
            proxy._responses(method)  # NaN predictions raise here, never left out
        x = proxy._placeholder
        estimator_or_proxy = proxy
    else:
        estimator_or_proxy = estimator
    kw = {} if w is None else {"sample_weight": w}
    try:
        value = scorer(estimator_or_proxy, x, y, **kw)
    except _NotFinitePredictions:
        raise  # the predictions of a diverged model: never left out (it names the block)
    except ValueError as exc:
        # undefined on this block (roc_auc_ovr, brier or top-k on a block lacking a class,
        # neg_mean_squared_log_error on negative predictions of an early model): left out
        # of the pass's score, with a warning (see combine_progressive)
        return ("mean", {"sw": float(n), "sum": float("nan"), "error": one_line(exc)})
    return ("mean", {"sw": float(n), "sum": _a_number(value, scorer) * n})




def combine_progressive(stats: list) -> float | None:
    """Merge :func:`progressive_statistic` results of a pass into one score."""
    stats = [s for s in stats if s is not None and s[1] is not None]
    if not stats:
        return None
    name = stats[0][0]
    parts = [s[1] for s in stats]
    if name == "sum":
        return float(sum(p["sum"] for p in parts))
    if name == "mean":
        # a block where the scorer is undefined (roc_auc on a block of one class) is left
        # out rather than making the whole pass's score NaN
        defined = [p for p in parts if np.isfinite(p["sum"])]
        if len(defined) < len(parts):
            errors = [p["error"] for p in parts if "error" in p]
            why = (f": {errors[0][:300]}" if errors else
                   " (the scorer gave NaN or infinity on them)")
            what = ("any block of the pass" if not defined else
                    f"{len(parts) - len(defined)} of the {len(parts)} blocks scored in the "
                    "pass, which are left out of it")
            warnings.warn(
                f"the training score (train_score) could not be computed on {what}{why}",
                UserWarning, stacklevel=2)
        parts = defined or parts
        return sum(p["sum"] for p in parts) / sum(p["sw"] for p in parts)
    return _combine(parts, name)


def _one_label_per_row(y) -> bool:
    """Whether ``y`` holds one label per row (1-D, or one column): binary or multiclass."""
    ndim = np.ndim(y)  # (0 for None)
    return ndim == 1 or (ndim == 2 and np.shape(y)[1] == 1)


def score_in_memory(estimator, X, y, scoring=None, sample_weight=None) -> float:
    """Score on in-memory data with scikit-learn's scorer for ``scoring``."""
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    if scoring is None:
        if not hasattr(estimator, "score"):
            raise TypeError(
                f"{type(estimator).__name__} has no score method; pass scoring= (a scorer name "
                "or callable) to Incremental to score it."
            )
        if y is None:
            default = default_scoring(estimator)
            if default is not None:
                raise _needs_y(f"{type(estimator).__name__}.score "
                               f"({'accuracy' if default == 'accuracy' else 'R^2'})")
            return float(estimator.score(X, **kwargs))
        return float(estimator.score(X, y, **kwargs))
    scorer = check_scoring(estimator, scoring=scoring)
    classes = _label_classes(estimator)
    if (scoring == "neg_log_loss" and classes is not None and len(classes) >= 2
            and _one_label_per_row(y)):
        # as on Dask input, where each block is scored on its own: log loss over the
        # model's classes (scikit-learn's scorer infers them from y, and refuses a test set
        # that lacks one of them). Only for a binary / multiclass y: a multilabel indicator
        # y is scored by scikit-learn's scorer (log_loss's labels= are not its columns)
        from sklearn.metrics import log_loss, make_scorer

        scorer = make_scorer(log_loss, greater_is_better=False,
                             response_method="predict_proba", labels=classes)
    if y is None and _is_sklearn_scorer(scorer):
        raise _needs_y(f"scoring={scoring!r}")
    return _a_number(scorer(estimator, X, y, **kwargs), scorer)
