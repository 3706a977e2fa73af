"""The ``Incremental`` meta-estimator."""

from __future__ import annotations

import contextlib
import inspect
import os
import time
import warnings
import weakref

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import get_scorer
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from . import _checkpoint
from ._array_api import get_namespace, to_numpy
from ._blocks import (
    PER_ROW_KEYWORDS,
    Block,
    check_supported_input,
    check_y_shape,
    in_memory_rows,
    is_dask_collection,
    one_d_x_error,
    plan_blocks,
    takes_1d_x,
)
from ._blockwise import apply_method, map_method
from ._chain import (
    ChainStats,
    _missing_labels,
    _raise_if_client_gone,
    copied,
    current_client,
    get_runner,
    one_process_pool,
    pickle_as_distributed,
    stop_on_interrupt,
)
from ._dispatch import DEVICE, KIND_HOME, block_kind, estimator_home
from ._params import check_random_state_param, is_classifier, is_regressor
from ._progress import bar, should_show
from ._text import one_line
from .metrics import (
    ESTIMATOR_DEFAULT,
    NoSamplesError,
    _continuous,
    _host,
    check_scoring_for_classes,
    combine_progressive,
    response_methods,
    score_blocks,
    score_in_memory,
    score_reduction,
)


class History(list):
    """One record per pass over the blocks; ``to_frame()`` gives a DataFrame."""

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(list(self))


def _takes_classes(estimator) -> bool:
    """Whether ``estimator.partial_fit`` wants ``classes=`` on its first call: a
    classifier's that names it, or a meta-estimator's that passes its keywords on to a
    classifier's (SelectFromModel)."""
    params = inspect.signature(estimator.partial_fit).parameters
    if is_classifier(estimator):
        return "classes" in params
    inner = getattr(estimator, "estimator", None)
    return (inner is not None and is_classifier(inner) and hasattr(inner, "partial_fit")
            and any(p.kind is p.VAR_KEYWORD for p in params.values())
            and "classes" in inspect.signature(inner.partial_fit).parameters)


def _has_method(name):
    def check(self):
        est = getattr(self, "estimator_", None) or self.estimator
        if not hasattr(est, name):
            raise AttributeError(f"{type(est).__name__} has no {name}")
        return True

    return check


def _can_score(self):
    """``score`` exists with a ``scoring``, or when the estimator has its own (as for
    scikit-learn's meta-estimators: a model search then refuses it, instead of NaN)."""
    if self.scoring is not None:
        return True
    est = getattr(self, "estimator_", None) or self.estimator
    if not hasattr(est, "score"):
        raise AttributeError(
            f"{type(est).__name__} has no score and scoring is None: pass scoring= (a scorer "
            "name or callable) to Incremental to score it."
        )
    return True


#: methods that exist only when the wrapped estimator can answer them (see available_if)
_GUARDED = frozenset({"score", "predict", "predict_proba", "predict_log_proba",
                      "predict_joint_log_proba", "decision_function", "score_samples",
                      "transform", "fit_transform", "inverse_transform", "fit_predict",
                      "get_feature_names_out", "set_output"})


_MISSING_LABELS = (
    "y has missing labels (NaN, None or NA), which a classifier cannot learn from; drop those "
    "rows (e.g. keep = y.notna(); X, y = X[keep], y[keep]) or fill them before training."
)


def _check_no_missing_labels(values) -> None:
    """Refuse host labels with NaN / None / NA (their sorting would fail obscurely)."""
    if _missing_labels(values):
        raise ValueError(_MISSING_LABELS)


def _unique_labels(y) -> np.ndarray:
    """Sorted distinct labels of an in-memory y (NumPy, CuPy, pandas, cuDF, list), as NumPy."""
    host = not hasattr(y, "to_pandas")  # cuDF has its own NA handling
    if hasattr(y, "to_numpy"):  # pandas and cuDF objects
        y = y.to_numpy()
    if isinstance(y, (list, tuple)):
        y = np.asarray(y)
    if host and isinstance(y, np.ndarray):
        _check_no_missing_labels(y)
    xp = get_namespace(y)
    return to_numpy(xp.unique_values(y))


def _column_labels(y) -> list:
    """``_unique_labels`` of every column of an in-memory 2-D y."""
    if hasattr(y, "iloc"):
        return [_unique_labels(y.iloc[:, j]) for j in range(y.shape[1])]
    return [_unique_labels(y[:, j]) for j in range(y.shape[1])]


def _merge_column_labels(parts: list) -> list:
    """Per-column labels of several blocks, merged column by column."""
    return [np.unique(np.concatenate(column)) for column in zip(*parts, strict=True)]


def _two_d_classes(estimator, y):
    """``classes`` for a 2-D y: label indices (multilabel) or one array per output."""
    tags = estimator.__sklearn_tags__()
    multilabel = (tags.classifier_tags is not None and tags.classifier_tags.multi_label
                  and not tags.target_tags.multi_output)
    if multilabel:  # an indicator matrix: the classes are its columns (MLPClassifier)
        n_labels = len(y.columns) if isinstance(y, dd.DataFrame) else y.shape[1]
        return np.arange(n_labels)
    if isinstance(y, dd.DataFrame):
        labels = dask.compute(*[y[c].unique(split_out=1) for c in y.columns])  # one pass over y
        for values in labels:
            if not hasattr(values, "to_pandas"):  # pandas (cuDF has its own NA handling)
                _check_no_missing_labels(values)
        return [np.sort(values.to_numpy()) for values in labels]
    if isinstance(y, da.Array):
        blocks = y.rechunk({1: -1}).to_delayed()[:, 0]
        return _merge_column_labels(dask.compute(*[dask.delayed(_column_labels)(b)
                                                   for b in blocks]))
    return _column_labels(y)


def _is_scalar(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _plain_keywords(fit_kwargs: dict) -> dict:
    """Fit keywords in the forms the blocks take.

    A lazy ``classes`` (``da.unique(y)``, as dask-ml's examples pass it) is
    computed once: it is one array for every call, not per-row data.  A 0-d
    array as ``sample_weight`` is its number; a boolean or text one is refused.
    """
    out = dict(fit_kwargs)
    if "classes" in out and out["classes"] is None:  # as scikit-learn: the same as not given
        del out["classes"]
    classes = out.get("classes")
    if is_dask_collection(classes):
        out["classes"] = _host(classes.compute())  # CuPy / cuDF from device data too
    weight = out.get("sample_weight")
    if isinstance(weight, np.ndarray) and weight.ndim == 0:
        weight = out["sample_weight"] = weight[()]
    if isinstance(weight, (bool, np.bool_, str, bytes)):
        raise TypeError(
            f"sample_weight must be one number for every row or one number per row, got "
            f"{weight!r}."
        )
    if getattr(weight, "ndim", 1) > 1:
        shape = tuple("?" if d != d else d for d in getattr(weight, "shape", ()))
        raise ValueError(
            f"sample_weight must be 1-D (one number per row), got shape {shape or '(?, ?)'}; "
            "pass one column of it."
        )
    return out


def _weight_per_row(X, weight: float):
    """A Dask collection holding ``weight`` for every row of Dask X, blocked like X."""
    if isinstance(X, dd.DataFrame):
        # the meta built from X's own (pandas or cuDF): the pairing joins it with X's
        return X.map_partitions(_full_like_rows, weight, meta=_full_like_rows(X._meta, weight))
    return X[:, 0].map_blocks(_full_like_rows, weight, dtype="float64")


def _full_like_rows(block, weight: float):
    """``weight`` for every row of ``block``: a Series on its index, or a 1-D array."""
    kind = block_kind(block)
    values = np.full(block.shape[0], weight, dtype="float64")
    if kind == "pandas":  # a partition: a Series on its index
        return pd.Series(values, index=block.index)
    if kind == "cudf":  # pragma: no cover - needs a GPU
        import cudf

        return cudf.Series(values, index=block.index)
    if kind in ("cupy", "cupyx.sparse"):  # pragma: no cover - needs a GPU
        import cupy

        return cupy.asarray(values)
    return values


def _in_memory_device(obj) -> bool:
    """Whether ``obj`` is an in-memory CuPy / cuDF object."""
    try:
        return KIND_HOME[block_kind(obj)] == DEVICE
    except TypeError:  # not a block type (a list ...)
        return False


def _one_block(obj):
    """An in-memory object as a one-block Dask collection, without hashing its values.

    (Dask would tokenize a CuPy array by pickling it: a copy of it to the host.)
    """
    if obj is None:
        return None
    kind = block_kind(obj)
    if kind == "cudf":  # pragma: no cover - needs a GPU
        import dask_cudf

        return dask_cudf.from_cudf(obj, npartitions=1, sort=False)
    if kind == "pandas":
        return dd.from_pandas(obj, npartitions=1, sort=False)
    return da.from_array(obj, chunks=obj.shape, name=False)


def _check_picklable(estimator, why: str, *, cloud: bool) -> None:
    """Refuse, before training, an estimator that cannot be pickled where it must be."""
    try:
        pickle_as_distributed(estimator, cloud=cloud)
    except Exception as exc:  # noqa: BLE001 - any pickling failure is the same answer

        raise TypeError(
            f"{type(estimator).__name__} cannot be pickled ({one_line(exc)}), but {why}. "
            "Keep what cannot be pickled (open files, locks, connections, generators) out of "
            "the estimator's attributes"
            + (", or train without a distributed client." if cloud else
               ", or fit without checkpoint=.")
        ) from exc


@contextlib.contextmanager
def _says_if_the_client_went():
    """A fit whose Dask client closed (or lost its scheduler) in any of its steps (the
    classes, a pass, validation) fails with a RuntimeError that says so, not with the
    cancelled future of whatever step was running."""
    client = current_client()
    try:
        yield
    except Exception as exc:
        if client is not None:
            _raise_if_client_gone(client, exc)
        raise


def _check_not_continuous(estimator, classes) -> None:
    """Labels that are floats with fractions (a regression target): said before training."""
    try:
        values = np.asarray(to_numpy(classes))
    except (TypeError, ValueError):  # one array per output, of other lengths
        return
    if (values.ndim == 1 and values.dtype.kind == "f" and np.isfinite(values).all()
            and _continuous(values)):
        inner = getattr(estimator, "estimator", None)
        who = (f"{type(estimator).__name__} trains a classifier ({type(inner).__name__})"
               if not is_classifier(estimator) and is_classifier(inner)
               else f"{type(estimator).__name__} is a classifier")
        raise ValueError(
            f"y holds continuous values ({len(values)} distinct, e.g. "
            f"{_listing_labels(values[:3])}), but {who}, which needs class labels: use a "
            "regressor (e.g. SGDRegressor), or turn y into labels first."
        )


def _listing_labels(classes) -> str:
    labels = [c.item() if hasattr(c, "item") else c for c in list(classes)[:10]]
    return repr(labels)[:-1] + (", ...]" if len(classes) > 10 else "]")


def _n_columns(X):
    """Number of feature columns of X when known without computing, else None."""
    if isinstance(X, (pd.DataFrame, dd.DataFrame)):
        return len(X.columns)
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) == 2 and not (isinstance(shape[1], float)
                                                      and np.isnan(shape[1])):
        return int(shape[1])
    return None


def _plain_array(obj):
    """A foreign array-like (an object with ``__array__`` only, as scikit-learn takes
    them) as a NumPy array; everything else as it is."""
    if obj is None or is_dask_collection(obj) or isinstance(obj, (list, tuple, str, bytes)):
        return obj
    try:
        block_kind(obj)
    except TypeError:
        if hasattr(obj, "__array__"):
            return np.asarray(obj)
    return obj


def _check_has_columns(X) -> None:
    """X with no feature column (``ddf[[]]``): said before any block is read."""
    if _n_columns(X) == 0:
        raise ValueError(
            "X has no feature columns (0 columns): there is nothing to learn from or predict "
            "with. Select at least one column, e.g. X = ddf[['a', 'b']]."
        )


def _check_same_width(X, X_val) -> None:
    """validation_data's X must have the training X's columns (checked before the first pass)."""
    width, val_width = _n_columns(X), _n_columns(X_val)
    if width is not None and val_width is not None and width != val_width:
        raise ValueError(
            f"validation_data's X has {val_width} features but X has {width}; pass validation "
            "data with the same columns as the training data."
        )
    frames = (pd.DataFrame, dd.DataFrame)
    if isinstance(X, frames) and isinstance(X_val, frames):
        names, val_names = list(X.columns), list(X_val.columns)
        if names == val_names:
            return
        if sorted(map(str, names)) == sorted(map(str, val_names)):
            raise ValueError(
                f"validation_data's X has the training columns in another order ({val_names[:5]}"
                f" against {names[:5]}); select them in the training order: X_val[X.columns]."
            )
        raise ValueError(
            f"validation_data's X has other columns than X: "
            f"{sorted(set(map(str, val_names)) - set(map(str, names)))[:5]} not in X, "
            f"{sorted(set(map(str, names)) - set(map(str, val_names)))[:5]} missing; pass "
            "validation data with the training columns."
        )


def _n_rows_known(X):
    """Rows of X when known without computing (in memory, or known chunks), else None."""
    if X is None:
        return None
    if isinstance(X, da.Array):
        return None if np.isnan(X.shape[0]) else int(X.shape[0])
    if is_dask_collection(X):
        return None
    try:
        return int(in_memory_rows(X))
    except Exception:
        return None


def _accepts_keyword(func, name: str) -> bool:
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return True  # cannot tell: the call says
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def _check_count(name: str, value, *, low: int) -> None:
    if not (_is_int(value) and value >= low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


class _ParamsAtFit:
    """The wrapped estimator's parameters when a fit or partial_fit started.

    ``set_params(estimator__alpha=...)`` after a fit changes ``estimator``,
    not the fitted ``estimator_`` that ``partial_fit`` continues: the next
    ``partial_fit`` applies the parameters changed since (as scikit-learn's
    own ``partial_fit`` uses the parameters set between two calls).
    """

    def __init__(self, estimator):
        self.kind = type(estimator)
        self.params = dict(estimator.get_params(deep=True))

    def changes(self, now: _ParamsAtFit, fitted_name: str) -> dict:
        """The parameters ``now`` has that differ from these (nested keys included)."""
        if now.kind is not self.kind:
            raise ValueError(
                f"estimator was replaced by a {now.kind.__name__} after fit, but partial_fit "
                f"continues the fitted {fitted_name}. Call fit to train the new estimator from "
                "the start, or set the fitted one's parameters instead "
                "(set_params(estimator__alpha=...)).")
        changed = {}
        for name, value in now.params.items():
            old = self.params.get(name, _MISSING_PARAM)
            if old is value:
                continue
            if hasattr(value, "get_params") or hasattr(old, "get_params"):
                raise ValueError(
                    f"the estimator's {name!r} was replaced after fit, but partial_fit continues "
                    f"the fitted one. Call fit to train the new one from the start, or set the "
                    f"fitted one's parameters instead (set_params(estimator__{name}__...=...)).")
            if not _same_value(old, value):
                changed[name] = value
        return changed


_MISSING_PARAM = object()
#: the clients whose dashboard link was printed (gone with them)
_DASHBOARD_SHOWN: weakref.WeakSet = weakref.WeakSet()


def _same_value(a, b) -> bool:
    """``a == b`` for parameter values (arrays compared whole; an error means different)."""
    if a is _MISSING_PARAM or type(a) is not type(b):
        return False
    try:
        if isinstance(a, np.ndarray):
            return a.shape == b.shape and bool(np.all(a == b))
        same = a == b
        return same if isinstance(same, bool) else bool(np.all(same))
    except Exception:
        return False


def _multi_output(estimator) -> bool:
    """Tagged multi-output (one classes array per column of y, even of a single column)."""
    try:
        return bool(estimator.__sklearn_tags__().target_tags.multi_output)
    except AttributeError:
        return False


def _copy_breaks(estimator) -> bool:
    """An estimator whose fitted state a deepcopy or pickle corrupts (scikit-learn's Birch)."""
    return any(f"{c.__module__}.{c.__qualname__}" == "sklearn.cluster._birch.Birch"
               for c in type(estimator).__mro__)


def _is_fitted(estimator) -> bool:
    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        return False
    return True


def _check_validation_data(validation_data):
    """``(X_val, y_val)``, or an error naming what was passed instead."""
    if validation_data is None:
        return None
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        what = (f"a {type(validation_data).__name__} of length {len(validation_data)}"
                if isinstance(validation_data, (tuple, list))
                else f"a {type(validation_data).__name__}")
        raise ValueError(
            f"validation_data must be a pair (X_val, y_val), got {what}; pass "
            "validation_data=(X_val, y_val) (y_val may be None for unsupervised scoring)."
        )
    return tuple(validation_data)


def _raise_if_persisted_data_lost(exc, *inputs) -> None:
    """After a failed pass (a bare KeyError from a worker): say so when the input was
    persisted on a cluster that has since lost it (``client.restart()``, workers gone)."""
    from distributed import Future

    from ._chain import _ClientGone

    if isinstance(exc, _ClientGone):  # the scheduler is gone: every future is, and it says so
        return

    def collections(obj):
        if is_dask_collection(obj):
            yield obj
        elif isinstance(obj, (list, tuple)):
            for o in obj:
                yield from collections(o)
        elif isinstance(obj, dict):
            for o in obj.values():
                yield from collections(o)

    for coll in collections(inputs):
        try:
            nodes = dict(coll.__dask_graph__()).values()
            # (not "error": a computation of the user's that failed says so itself)
            lost = [v for v in nodes if isinstance(v, Future)
                    and v.status in ("cancelled", "lost")]
        except Exception:  # noqa: BLE001 - the pass's own error stands
            return
        if lost:
            raise ValueError(
                f"the data given to fit was persisted on a cluster that has lost it since "
                f"({len(lost)} of its persisted piece(s) are {lost[0].status}: a "
                "client.restart(), or workers that left): persist it again (or load it "
                "again) before fitting."
            ) from exc


def _check_resumable(saved: dict, epochs: int, directory) -> None:
    """Refuse a checkpoint whose model holds more passes than ``epochs``."""
    done, partial = int(saved["epoch"]), saved.get("order") is not None
    if done > epochs or (done == epochs and partial):
        held = f"{done} pass(es)" + (f" and part of pass {done + 1}" if partial else "")
        need = done + 1 if partial else done
        raise _checkpoint.CheckpointTooLongError(directory, held, epochs, need)


def _make_rng(random_state, salt: int):
    if isinstance(random_state, np.random.RandomState):
        return random_state
    if random_state is None:
        return np.random.RandomState()
    seed = np.random.SeedSequence([int(random_state), int(salt)]).generate_state(1)[0]
    return np.random.RandomState(seed)


def format_pass(record) -> str:
    """One pass of ``history_`` in words: its scores, blocks, rows and seconds."""
    scores = "".join(f"{name}={record[name]:.5f} " for name in ("val_score", "train_score")
                     if record.get(name) is not None)
    return (f"{scores}({record['blocks']} blocks, {record['rows']:,} rows, "
            f"{record['seconds']:.2f} s)")


class _NoPartialFitError(TypeError, ValueError):
    """The wrapped estimator has no ``partial_fit`` (a TypeError; a ValueError too, as
    dask-ml raises, so code that catches either keeps working)."""


def _may_gain_after_fit(estimator, methods) -> bool:
    """Whether an unfitted ``estimator`` lacking all of ``methods`` could have one once fitted.

    scikit-learn's and gpuinc's conditional methods (``available_if``) depend on
    parameters only (``loss``, ``voting`` ...), so their absence before fitting is
    final.  Another library's method, or attributes served by ``__getattr__``,
    may depend on the fitted state: those are checked when first used instead,
    also when they belong to an estimator that a scikit-learn meta-estimator
    wraps.
    """
    cls = type(estimator)
    if any("__getattr__" in vars(c) for c in cls.__mro__[:-1]):
        return True
    for m in methods:
        owner = next((c for c in cls.__mro__ if m in vars(c)), None)
        if owner is not None and not owner.__module__.startswith(("sklearn.", "gpuinc.")):
            return True
    # a meta-estimator (OneVsRestClassifier ...) offers what the estimators it wraps offer
    return any(_may_gain_after_fit(inner, methods) for inner in _wrapped_estimators(estimator))


def _wrapped_estimators(estimator):
    """The estimators among ``estimator``'s parameters (``estimator=``, ``estimators=[...]``)."""
    try:
        params = estimator.get_params(deep=False)
    except Exception:  # not a scikit-learn estimator
        return
    for value in params.values():
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, tuple) and len(item) >= 2:  # ("name", estimator) pairs
                item = item[1]
            if hasattr(item, "get_params") and hasattr(item, "fit") and not isinstance(item, type):
                yield item


class Incremental(MetaEstimatorMixin, BaseEstimator):
    """Train any estimator with ``partial_fit`` on data too large for memory.

    ``fit`` makes ``epochs`` passes over the blocks of X (Dask Array chunks or
    Dask DataFrame partitions) starting from a fresh clone of ``estimator``;
    ``partial_fit`` makes one more pass, continuing ``estimator_``.  Each pass
    calls ``estimator.partial_fit`` once per block, in order, with at most
    ``prefetch`` blocks loaded ahead of the one being trained.  On a
    ``distributed`` cluster each call runs on the worker that holds its block
    and only the model travels.  In-memory X (NumPy, pandas, scipy.sparse)
    is one block.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        Never modified by training: a clone is trained and stored as ``estimator_``
        (``set_params(estimator__...)`` and ``set_output`` set it, as in scikit-learn).
    scoring : str, callable or None
        Any scikit-learn scorer name or a callable ``scorer(estimator, X, y)``,
        used by :meth:`score` and for validation. None uses the estimator's
        own ``score`` (accuracy for classifiers, R^2 for regressors; see
        :meth:`score` for other estimators).
    shuffle_blocks : bool, default=True
        Visit the blocks in a random order on each pass.
    random_state : int, RandomState or None
        Makes the block order (and the validation split) reproducible.
    assume_equal_chunks : bool, default=True
        When Dask does not know the row counts of X's and y's blocks (for
        example after a filter), pair block *i* of X with block *i* of y and
        check their lengths as each block is trained.  With False, gpuinc
        computes the row counts first and realigns y to X.
    predict_meta, predict_proba_meta, transform_meta : array-like or dtype, optional
        Describe the output of those methods for lazy (Dask) input instead of
        inferring it by calling the estimator on one row of zeros (no probe
        runs): its dtype and number of dimensions, as in dask-ml (e.g.
        ``np.array([0])`` for 1-D int predictions). For 2-D outputs the number
        of columns is ``meta.shape[1]`` when non-zero, else read from the
        fitted estimator (``classes_``, ``n_components_``,
        ``get_feature_names_out()``); a scipy.sparse meta gives sparse blocks.
        ``predict_proba_meta`` also describes ``predict_log_proba``.
    epochs : int, default=1
        Passes over the blocks made by ``fit``.
    prefetch : int, default=2
        Blocks loaded ahead of the block being trained; peak memory is about
        ``prefetch + 1`` blocks, whatever the size of the dataset.
    validation : float or None
        Hold out this fraction of the blocks (at least one) and score them
        after every pass; or pass ``validation_data=(X, y)`` to ``fit``.
    early_stopping : bool, default=False
        Stop ``fit`` when the validation score has not improved by ``tol``
        for ``n_iter_no_change`` passes. Needs validation data.
    n_iter_no_change : int, default=5
    tol : float, default=1e-4
    progress : {"auto", True, False}, default="auto"
        A progress bar per pass (terminals and notebooks; quiet when stdout
        is not a terminal or ``CI`` is set).
    checkpoint : str or path, optional
        Directory for checkpoints. ``fit`` resumes from a checkpoint found
        there and refuses one written by a different fit, or one holding
        more passes than ``epochs``; a second fit using the directory at the
        same time is refused (``CheckpointInUseError``). Checkpoints are
        pickles: load only your own.
    checkpoint_every : int or "epoch", default="epoch"
        Write a checkpoint every that many blocks, or after every pass.
    train_score : bool, default=False
        Record a training score per pass in ``history_`` by progressive
        validation: each block is scored by the model just before the model
        learns from it, so no data is read twice. It costs one extra
        ``predict`` per block.
    device : {None, "cpu", "gpu"}
        Where gpuinc's array-API estimators compute; None follows the data.
    verbose : int, default=0
        With 1 or more, print one line as each pass ends (its scores, blocks,
        rows and seconds), flushed at once: the record of a long fit in a log
        file, where progress bars stay quiet.

    Attributes
    ----------
    estimator_ : estimator
        The trained clone. Its fitted attributes (``coef_``, ``classes_``,
        ...) are also readable on the wrapper.
    history_ : History
        One dict per pass: epoch, blocks, rows, seconds, val_score, ...
    n_epochs_ : int
        Passes in ``history_`` after ``fit``.
    stopped_early_ : bool
        Whether early stopping ended ``fit`` before ``epochs`` passes.
    resumed_from_ : dict or None
        None after ``partial_fit`` and a ``fit`` that started afresh; when ``fit`` resumed from a
        checkpoint, ``{"passes": ..., "blocks": ...}``, the passes the
        checkpoint held and the blocks of the next pass already trained
        (``passes == n_epochs_`` and ``blocks == 0``: nothing was left to train).

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from gpuinc import Incremental
    >>> from gpuinc.datasets import make_classification
    >>> X, y = make_classification(n_samples=2000, n_features=10, chunks=500, random_state=0)
    >>> inc = Incremental(SGDClassifier(random_state=0), scoring="accuracy", random_state=0)
    >>> inc = inc.fit(X, y, classes=[0, 1])
    >>> inc.predict(X[:5]).compute().shape
    (5,)
    """

    # fit keywords scikit-learn's metadata routing may pass (set_fit_request, ...):
    # they sit in **fit_kwargs, which routing cannot read from the signature
    __metadata_request__fit = {"sample_weight": None, "classes": None}  # noqa: RUF012
    __metadata_request__partial_fit = {"sample_weight": None, "classes": None}  # noqa: RUF012

    def __init__(
        self,
        estimator=None,
        scoring=None,
        shuffle_blocks=True,
        random_state=None,
        assume_equal_chunks=True,
        predict_meta=None,
        predict_proba_meta=None,
        transform_meta=None,
        *,
        epochs=1,
        prefetch=2,
        validation=None,
        early_stopping=False,
        n_iter_no_change=5,
        tol=1e-4,
        progress="auto",
        checkpoint=None,
        checkpoint_every="epoch",
        train_score=False,
        device=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.scoring = scoring
        self.shuffle_blocks = shuffle_blocks
        self.random_state = random_state
        self.assume_equal_chunks = assume_equal_chunks
        self.predict_meta = predict_meta
        self.predict_proba_meta = predict_proba_meta
        self.transform_meta = transform_meta
        self.epochs = epochs
        self.prefetch = prefetch
        self.validation = validation
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.progress = progress
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.train_score = train_score
        self.device = device
        self.verbose = verbose

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, *, validation_data=None, **fit_kwargs):
        """Train a fresh clone of ``estimator`` for ``epochs`` passes over the blocks.

        Parameters
        ----------
        X : Dask Array, Dask DataFrame, or in-memory array/DataFrame/sparse matrix
        y : Dask Array/Series or in-memory array, optional
        validation_data : (X_val, y_val), optional
            Scored after every pass (blockwise for Dask inputs).
        **fit_kwargs
            Passed to every ``partial_fit``. Per-row keywords (``sample_weight``,
            and any Dask collection) are split with the blocks; ``classes`` is
            computed from y once when the estimator needs it and it is missing.
        """
        self._validate_params_here()
        self._check_fit_keywords(fit_kwargs)
        self._check_y_given(y)
        validation_data = _check_validation_data(validation_data)
        estimator = clone(self.estimator)
        params = _ParamsAtFit(self.estimator)
        with stop_on_interrupt(), _says_if_the_client_went():
            self._train(estimator, X, y, fit_kwargs, epochs=int(self.epochs),
                        validation_data=validation_data, resumable=True, salt=0)
        self._params_at_fit = params
        return self

    def partial_fit(self, X, y=None, *, validation_data=None, **fit_kwargs):
        """One more pass over the blocks, continuing ``estimator_`` (or a fresh clone).

        With ``validation=`` the blocks held out by ``fit`` (the same split,
        drawn the same way on a first call) are not trained on, and are scored
        after the pass, as are ``validation_data=(X_val, y_val)``; the score is
        recorded in ``history_``.  A call that trains on the held-out blocks
        (with ``validation_data=``, or ``validation=None``) gives that split up;
        a split drawn for a model trained without one warns that its scores
        are optimistic.  X of a single block (one in-memory batch
        per call, as in a stream) is trained on whole and not scored.  Early
        stopping and checkpoints belong to ``fit``: one pass is made whatever
        they say.
        """
        self._validate_params_here()
        self._check_fit_keywords(fit_kwargs)
        self._check_y_given(y)
        validation_data = _check_validation_data(validation_data)
        fitted = getattr(self, "estimator_", None)
        params = _ParamsAtFit(self.estimator)
        if fitted is not None:
            # a copy: a pass that fails leaves estimator_ as it was
            estimator = copied(fitted, "partial_fit trains a copy of estimator_ (a pass that "
                               "fails then leaves it as it was)",
                               "give its class a __deepcopy__ method")
            before = getattr(self, "_params_at_fit", None)
            if before is not None:  # set_params(estimator__...) since: the model continues with them
                changed = before.changes(params, type(fitted).__name__)
                if changed:
                    estimator.set_params(**changed)
        else:
            estimator = clone(self.estimator)
        passes = len(getattr(self, "history_", []) or [])
        with stop_on_interrupt(), _says_if_the_client_went():
            self._train(estimator, X, y, fit_kwargs, epochs=1, validation_data=validation_data,
                        resumable=False, salt=passes + 1, append=fitted is not None)
        self._params_at_fit = params
        return self

    def _validate_params_here(self):
        est = self.estimator
        if est is None:
            raise TypeError("Incremental needs an estimator, e.g. Incremental(SGDClassifier()).")
        if not hasattr(est, "partial_fit"):
            raise _NoPartialFitError(
                f"{type(est).__name__} has no partial_fit, so it cannot learn block by block. "
                "Wrap an estimator with partial_fit (SGDClassifier, SGDRegressor, MultinomialNB, "
                "MiniBatchKMeans, IncrementalPCA, StandardScaler, gpuinc.linear_model ...), or "
                "fit this one directly on in-memory data."
            )
        if self.device not in (None, "cpu", "gpu"):
            raise ValueError(
                f"device must be None (follow the data), 'cpu' or 'gpu', got {self.device!r}."
            )
        _check_count("epochs", self.epochs, low=1)
        _check_count("prefetch", self.prefetch, low=0)
        _check_count("n_iter_no_change", self.n_iter_no_change, low=1)
        if not _is_real(self.tol) or not self.tol >= 0:
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}.")
        if self.validation is not None and not (_is_real(self.validation)
                                                and 0 < self.validation < 1):
            raise ValueError(
                f"validation must be None or a fraction of the blocks in (0, 1), e.g. 0.1, got "
                f"{self.validation!r}."
            )
        every = self.checkpoint_every
        if every != "epoch" and not (_is_int(every) and every >= 1):
            raise ValueError(f"checkpoint_every must be 'epoch' or a block count >= 1, got {every!r}.")
        if self.checkpoint is not None and not str(self.checkpoint).strip():
            raise ValueError(
                "checkpoint must be None or a directory, got an empty path; pass e.g. "
                "checkpoint='ckpt/run1'."
            )
        should_show(self.progress)
        for name in ("shuffle_blocks", "early_stopping", "train_score", "assume_equal_chunks"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{name} must be True or False, got {value!r}.")
        if not (isinstance(self.verbose, (bool, np.bool_))
                or (_is_int(self.verbose) and self.verbose >= 0)):
            raise ValueError(f"verbose must be an integer >= 0 (or a bool), got {self.verbose!r}.")
        check_random_state_param(self.random_state)
        if self.checkpoint is not None and not isinstance(self.checkpoint, (str, os.PathLike)):
            raise ValueError(
                f"checkpoint must be None or a directory (a str or path), got "
                f"{self.checkpoint!r}; pass e.g. checkpoint='ckpt/run1'."
            )
        scoring = self.scoring
        if scoring is not None and not isinstance(scoring, str) and not callable(scoring):
            raise ValueError(
                f"scoring must be None, a scorer name (e.g. 'accuracy') or a callable "
                f"scorer(estimator, X, y), got a {type(scoring).__name__}: {scoring!r}. "
                "Incremental scores one metric; score others after fitting with e.g. "
                "inc.set_params(scoring='f1').score(X_test, y_test)."
            )

    # -------------------------------------------------------------- blocks
    def _blocks(self, X, y, fit_kwargs):
        """Aligned training blocks, their kind, and the non-per-row keywords."""
        fit_kwargs = _plain_keywords(fit_kwargs)
        check_supported_input(X, "X")
        _check_has_columns(X)
        if y is not None:
            check_supported_input(y, "y")
            y = check_y_shape(y, self.estimator)
        # a scalar sample_weight weighs every row alike: passed to every call as it is
        static = {k: v for k, v in fit_kwargs.items()
                  if (k not in PER_ROW_KEYWORDS or _is_scalar(v)) and not is_dask_collection(v)}
        per_row = {k: v for k, v in fit_kwargs.items() if k not in static}
        if is_dask_collection(X):
            plan = plan_blocks(X, y, per_row, assume_equal_chunks=self.assume_equal_chunks,
                               estimator=self.estimator)
            if not plan.blocks:
                raise ValueError("X has no blocks (zero partitions); there is nothing to train on.")
            return plan.blocks, plan.kind, static
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        kind = block_kind(X)
        if takes_1d_x(self.estimator):  # text vectorizers: one document per row
            if X.ndim != 1:
                raise one_d_x_error(X, self.estimator, "partial_fit")
        elif X.ndim != 2:
            fix = ("X.to_frame() for a single feature (a Series)" if isinstance(X, pd.Series)
                   else "X.reshape(-1, 1) for a single feature")
            raise ValueError(
                f"X must be 2-D (rows x features), got shape {X.shape}; reshape it, e.g. {fix}."
            )
        n = in_memory_rows(X)
        if y is not None:
            y = y.compute() if is_dask_collection(y) else y
            y = np.asarray(y) if isinstance(y, (list, tuple)) else y
            if in_memory_rows(y) != n:
                raise ValueError(
                    f"X has {n} rows but y has {in_memory_rows(y)}; they must have the same "
                    "number of rows."
                )
        kw = {}
        for k, v in per_row.items():
            v = v.compute() if is_dask_collection(v) else v
            if v is not None and in_memory_rows(v) != n:
                raise ValueError(f"X has {n} rows but {k} has {in_memory_rows(v)}.")
            kw[k] = v
        return [Block(0, X, y, kw, (0, n))], kind, static

    def _add_classes(self, estimator, y, static, stream=False):
        """Give ``classes`` to classifiers whose partial_fit wants it on the first call.

        ``stream``: this is a first ``Incremental.partial_fit``, whose y may be one
        batch of a stream (the classes found in it may not be all of them).
        """
        if y is not None and "classes" in static and is_classifier(estimator):
            _check_not_continuous(estimator, static["classes"])  # (the CLI passes them)
        if y is None or "classes" in static or not _takes_classes(estimator):
            return
        known = getattr(estimator, "classes_", None)
        if known is not None:
            static["classes"] = known
            return
        if _is_fitted(estimator):
            # fitted, with its classes kept elsewhere (MultiOutputClassifier's in its
            # estimators_): later calls need none, and this y's may be fewer
            return
        if isinstance(y, (list, tuple)):
            y = np.asarray(y)
        if (2 if isinstance(y, dd.DataFrame) else getattr(y, "ndim", 1)) == 2:
            one = (len(y.columns) if hasattr(y, "columns") else y.shape[1]) == 1
            if not one or _multi_output(estimator):  # one array of classes per output
                static["classes"] = _two_d_classes(estimator, y)
                return
            y = y.iloc[:, 0] if hasattr(y, "iloc") else y[:, 0]  # one column: its labels
        if isinstance(y, da.Array):
            # one small task per block, computed where the block lives (NumPy or CuPy)
            parts = [dask.delayed(_unique_labels)(b) for b in y.to_delayed().ravel()]
            classes = np.unique(np.concatenate(dask.compute(*parts)))
        elif isinstance(y, dd.Series):
            labels = y.unique(split_out=1).compute()  # a tree reduction: no shuffle
            if not hasattr(labels, "to_pandas"):  # pandas (cuDF has its own NA handling)
                _check_no_missing_labels(labels)
            classes = np.sort(labels.to_numpy())
        else:
            classes = np.unique(_unique_labels(y))
        _check_not_continuous(estimator, classes)
        static["classes"] = classes
        if stream:
            warnings.warn(
                f"partial_fit was not given classes, so {type(estimator).__name__}'s classes "
                f"are taken from this call's y: {_listing_labels(classes)}. A later call whose "
                "y holds another label will fail; pass every label on the first call, "
                "partial_fit(X, y, classes=[...]), as scikit-learn requires.",
                UserWarning, stacklevel=4,
            )

    def _split(self, rng, n_blocks: int) -> np.ndarray:
        """The sorted indices of the blocks held out by ``validation``."""
        n_val = min(n_blocks - 1, max(1, int(round(self.validation * n_blocks))))
        return np.sort(rng.permutation(n_blocks)[:n_val])

    def _validation_blocks(self, validation_data):
        Xv, yv = validation_data
        if _n_rows_known(Xv) == 0:
            raise ValueError("validation_data's X has no rows: there is nothing to score. "
                             "Pass validation data with rows, or leave validation_data out.")
        try:
            blocks, _, _ = self._blocks(Xv, yv, {})
        except (ValueError, TypeError) as exc:  # said of X and y: of these ones
            if exc.args and isinstance(exc.args[0], str):
                exc.args = (f"validation_data=(X_val, y_val): {exc.args[0]}", *exc.args[1:])
            raise
        return blocks

    def _check_y_given(self, y) -> None:
        """A supervised estimator without y: said before any block is read."""
        est = self.estimator
        if y is None and (is_classifier(est) or is_regressor(est)):
            raise ValueError(
                f"{type(est).__name__} requires y to be passed, but the target y is None: "
                "call fit(X, y) (partial_fit(X, y)) with the targets."
            )

    def _check_fit_keywords(self, fit_kwargs) -> None:
        """A wrapper parameter passed to fit (``fit(X, y, epochs=3)``): said so, instead
        of the estimator's "unexpected keyword" from the first block."""
        own = set(self.get_params(deep=False)) - {"estimator"}
        clash = sorted(k for k in fit_kwargs
                       if k in own and not _accepts_keyword(self.estimator.partial_fit, k))
        if clash:
            raise TypeError(
                f"{', '.join(clash)} {'is a parameter' if len(clash) == 1 else 'are parameters'}"
                f" of Incremental, not of fit: set it on the wrapper, e.g. "
                f"Incremental(estimator, {clash[0]}=...) or inc.set_params({clash[0]}=...)."
            )

    # --------------------------------------------------------------- train
    def _fingerprint(self, estimator, blocks, kind, X, y, fit_kwargs, static,
                     validation_data, val_blocks):
        """What a checkpoint must agree with to be resumed by this fit (see _checkpoint).

        ``static``: fit's keywords that are the same for every row, as given (before
        ``classes`` is found from y); ``val_blocks``: validation_data's blocks, or None.
        """
        n_features = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
        if isinstance(X, dd.DataFrame):
            n_features = len(X.columns)
        n_rows = _n_rows_known(X)
        # the first block with rows (an empty one, from a filter, would check nothing)
        digest, digested = _checkpoint.first_rows_digest(blocks)
        return {
            "estimator": f"{type(estimator).__module__}.{type(estimator).__qualname__}",
            "n_rows": n_rows,
            "params": {k: _checkpoint.stable_repr(v)
                       for k, v in sorted(self.estimator.get_params(deep=True).items())},
            "blocks": len(blocks),
            "n_features": None if n_features is None or n_features != n_features else int(n_features),
            "kind": kind,
            "shuffle_blocks": bool(self.shuffle_blocks),
            "random_state": _checkpoint.stable_repr(self.random_state),
            "validation": self.validation,
            "scoring": _checkpoint.stable_repr(self.scoring),
            "first_block": digest,
            "first_block_at": digested,
            # classes=, a scalar sample_weight ... (None: the same as not passed)
            "fit_kwargs": {k: _checkpoint.keyword_repr(v)
                           for k, v in sorted(static.items(), key=str) if v is not None},
            # said as such (the digest, which covers them, would call them other values)
            "dtypes": {"X": _checkpoint.dtype_words(X), "y": _checkpoint.dtype_words(y),
                       **{k: _checkpoint.dtype_words(v) for k, v in fit_kwargs.items()
                          if k not in static and v is not None}},
            # the scores, best score and early-stopping count were computed on it: its
            # blocks, rows and one block's digest, as X's (None: held out, or none)
            "validation_data": None if validation_data is None else self._validation_print(
                validation_data, val_blocks),
        }

    @staticmethod
    def _validation_print(validation_data, val_blocks) -> dict:
        digest, digested = _checkpoint.first_rows_digest(val_blocks)
        return {"blocks": len(val_blocks), "n_rows": _n_rows_known(validation_data[0]),
                "first_block": digest, "first_block_at": digested}

    def _train(self, estimator, X, y, fit_kwargs, *, epochs, validation_data, resumable,
               salt, append=False):
        X, y = _plain_array(X), _plain_array(y)
        blocks, kind, static = self._blocks(X, y, fit_kwargs)
        given = dict(static)  # the keywords passed (before classes found from y join them)
        # a first partial_fit on in-memory y: maybe one batch of a stream
        self._add_classes(estimator, y, static,
                          stream=(salt != 0 and not append and not is_dask_collection(y)
                                  and not is_dask_collection(X)))
        home = estimator_home(estimator, KIND_HOME[kind], self.device)
        if home == DEVICE and kind in ("scipy.sparse", "cupyx.sparse") and getattr(
                estimator, "_gpuinc_array_api", False):
            raise TypeError(
                f"{type(estimator).__name__} computes on dense arrays on the GPU, but X has "
                f"{kind} blocks. Densify the blocks (X.map_blocks(lambda b: b.toarray(), "
                "dtype=X.dtype)) or train on the host (device='cpu')."
            )
        rng = _make_rng(self.random_state, salt)
        # what a validation split is drawn with (partial_fit keeps fit's split: see below)
        split_params = split_params_now = (self.validation,
                                           _checkpoint.stable_repr(self.random_state))
        val_blocks = None
        train_idx = np.arange(len(blocks))
        # partial_fit: the blocks that the model's fit (or an earlier partial_fit) held out,
        # when they are blocks of an X like this one
        kept = None if resumable else getattr(self, "_held_out", None)
        if kept is not None and kept[0] != len(blocks):
            kept = None
        if validation_data is not None:  # takes precedence over validation=
            val_blocks = self._validation_blocks(validation_data)
        elif self.validation is not None and (resumable or len(blocks) > 1):
            # (partial_fit on one block, a batch per call as in a stream, trains on it)
            if len(blocks) < 2:
                raise ValueError(
                    "validation= holds out whole blocks, but X has only one block; split X "
                    "into more blocks (X.rechunk / X.repartition; for read_table, a smaller "
                    "blocksize=) or pass validation_data=(X_val, y_val)."
                )
            if resumable:  # fit: drawn first from the fit's generator
                val_idx = self._split(rng, len(blocks))
            else:  # partial_fit: fit's split, kept, or drawn as fit draws it
                if kept is not None:
                    val_idx = np.asarray(kept[1])
                    drawn_with = kept[2] if len(kept) > 2 else None
                    split_params = drawn_with  # the split is fit's: so are its parameters
                    if drawn_with is not None and drawn_with != split_params_now:
                        warnings.warn(
                            f"validation / random_state changed since the fit that held out "
                            f"blocks {val_idx.tolist()[:10]} ({drawn_with} -> "
                            f"{split_params_now}); "
                            "partial_fit keeps that split, so that the model is never scored "
                            "on blocks it learned from. Call fit to draw a new one.",
                            UserWarning, stacklevel=4)
                else:
                    val_idx = self._split(_make_rng(self.random_state, 0), len(blocks))
                    if append:  # a trained model, and no split kept from its training
                        warnings.warn(
                            f"validation={self.validation} holds out blocks "
                            f"{val_idx.tolist()[:10]} of X for this partial_fit, but the model "
                            "was trained before without these blocks held out (by a fit "
                            "without validation=, a partial_fit that trained on them, or on X "
                            "of another number of blocks): it may have learned from them, so "
                            "their scores are optimistic. Pass "
                            "validation_data=(X_val, y_val) to score data it never saw, or "
                            "fit with validation= from the start (partial_fit keeps that "
                            "split).", UserWarning, stacklevel=4)
            train_idx = np.setdiff1d(np.arange(len(blocks)), val_idx)
            val_blocks = [blocks[i] for i in val_idx]
        if self.early_stopping and val_blocks is None and resumable:
            raise ValueError(
                "early_stopping=True needs validation data: set validation=0.1 (a fraction of "
                "the blocks) or pass validation_data=(X_val, y_val) to fit."
            )
        self._check_scoring_before_training(estimator, val_blocks, static.get("classes"))
        if validation_data is not None:
            _check_same_width(X, validation_data[0])
        history = History(self.history_ if append and hasattr(self, "history_") else [])
        # the pass in progress: its blocks, rows, progressive statistics, seconds and
        # most blocks in flight so far (a checkpoint made within a pass keeps them)
        state = {"epoch": 0, "position": -1, "order": None, "best": None, "no_improve": 0,
                 "finished": False, "pass_blocks": 0, "pass_rows": 0, "pass_progressive": [],
                 "pass_scored": True,
                 "pass_seconds": 0.0, "pass_in_flight": 0}
        fingerprint = None
        resumed_from = None  # partial_fit never resumes
        with contextlib.ExitStack() as guard:
            guard.enter_context(one_process_pool())  # scheduler="processes": one pool
            if resumable and self.checkpoint is not None:
                _check_picklable(estimator, "checkpoint= saves it with pickle", cloud=False)
                # one fit per directory; a directory that cannot be written fails here
                guard.enter_context(_checkpoint.lock(self.checkpoint))
                fingerprint = self._fingerprint(estimator, blocks, kind, X, y, fit_kwargs, given,
                                                validation_data, val_blocks)
                # where the validation scores come from: resuming with another source would
                # keep the saved split of training blocks and validate on some of them
                fingerprint["held_out_blocks"] = validation_data is None and val_blocks is not None
                saved = _checkpoint.load(self.checkpoint, fingerprint, earlier=lambda: {
                    "first_block": _checkpoint.block_digest(blocks[0], ordered=True)
                    if blocks else None})
                if saved is not None:
                    _check_resumable(saved, epochs, self.checkpoint)
                    estimator = saved["model"]
                    history = History(saved["history"])
                    rng.set_state(saved["rng"])
                    train_idx = np.asarray(saved["train_idx"])
                    if saved["val_idx"] is not None and validation_data is None:
                        val_blocks = [blocks[i] for i in saved["val_idx"]]
                    state = {k: saved.get(k, v) for k, v in state.items()}
                    resumed_from = {"passes": int(state["epoch"]),
                                    "blocks": int(state["position"]) + 1}
                    if self.verbose or should_show(self.progress):
                        print(f"resuming from checkpoint {self.checkpoint}: "
                              f"{resumed_from['passes']} pass(es) done, "
                              f"{resumed_from['blocks']} block(s) into the next",
                              flush=True)
            try:
                self._run_passes(estimator, blocks, kind, home, static, epochs=epochs,
                                 rng=rng, train_idx=train_idx, val_blocks=val_blocks,
                                 history=history, state=state, fingerprint=fingerprint,
                                 held_out=validation_data is None and val_blocks is not None,
                                 label_passes=resumable)
            except Exception as exc:
                _raise_if_persisted_data_lost(exc, X, y, fit_kwargs, validation_data)
                raise
        # with the model they belong to (a failed fit keeps the earlier ones)
        self.resumed_from_ = resumed_from
        if val_blocks is not None and validation_data is None:
            self._held_out = (len(blocks), [b.index for b in val_blocks], split_params)
        elif resumable or kept is not None:
            # a fit that held no blocks out, or a partial_fit that trained on the blocks
            # kept: none is held out of the model any more
            self._held_out = None
        return self

    def _stops_early(self, state, val_blocks) -> bool:
        """Whether early stopping, as now configured, ends the fit in ``state``."""
        return bool(self.early_stopping and val_blocks is not None
                    and state["no_improve"] >= self.n_iter_no_change)

    def _run_passes(self, estimator, blocks, kind, home, static, *, epochs, rng, train_idx,
                    val_blocks, history, state, fingerprint, held_out, label_passes):
        """Make the passes of ``_train`` from ``state``; set the fitted attributes."""
        val_idx_saved = [b.index for b in val_blocks] if held_out else None
        runner = get_runner(self.prefetch)
        client = current_client()
        if _copy_breaks(estimator) and (not label_passes or fingerprint is not None
                                        or client is not None):
            warnings.warn(
                f"{type(estimator).__name__}'s fitted tree does not survive being copied: "
                "scikit-learn keeps its subclusters' centroids as views of arrays that a copy "
                "or a pickle separates, so later updates are partly lost. A partial_fit, a "
                "checkpoint and a pass on a cluster (the model moves between workers) copy "
                "it; train it with one fit on the threaded scheduler (epochs= for more "
                "passes), or use MiniBatchKMeans.", UserWarning, stacklevel=4)
        if client is not None and not str(getattr(client.scheduler, "address", "")).startswith(
                "inproc"):  # an in-process cluster hands objects over without pickling
            # an unfitted copy: cheap, and a fitted model the cluster trained pickled already
            try:
                probe = clone(estimator)
            except Exception:  # noqa: BLE001 - not a scikit-learn estimator: the thing itself
                probe = estimator
            _check_picklable(probe, "a pass on a distributed cluster sends it to the workers",
                             cloud=True)
        if client is not None and should_show(self.progress) and client not in _DASHBOARD_SHOWN:
            # once per client: not again for every partial_fit of a streaming loop
            _DASHBOARD_SHOWN.add(client)
            print(f"gpuinc: Dask dashboard at {client.dashboard_link}")

        def save(model, position, order, **pass_so_far):
            _checkpoint.save(self.checkpoint, {
                **pass_so_far,
                "model": model, "history": list(history), "rng": rng.get_state(),
                "train_idx": train_idx.tolist(), "val_idx": val_idx_saved,
                "epoch": state["epoch"], "position": position, "order": order,
                "best": state["best"], "no_improve": state["no_improve"],
                "finished": self._stops_early(state, val_blocks),
                "fingerprint": fingerprint,
            })

        every = self.checkpoint_every
        # a pass that a checkpoint holds in progress is finished (and recorded) first: its
        # model is half-trained; the stopping rule, as now set, applies after it
        while state["epoch"] < epochs and (state["order"] is not None
                                           or not self._stops_early(state, val_blocks)):
            epoch = state["epoch"]
            if state["order"] is None:
                order = rng.permutation(train_idx) if self.shuffle_blocks else train_idx.copy()
                order = [int(i) for i in order]
                start = 0
            else:
                order, start = list(state["order"]), state["position"] + 1
            todo = [blocks[i] for i in order[start:]]
            stats = ChainStats()
            before = {"blocks": 0, "rows": 0, "progressive": [], "seconds": 0.0, "scored": True}
            if start:  # resumed mid-pass: the blocks trained before the checkpoint count
                before = {k: state[f"pass_{k}"] for k in before}
                if self.train_score and not before["scored"]:
                    warnings.warn(
                        "train_score is on, but the checkpoint was written mid-pass without it: "
                        "the resumed pass records no train_score (its first blocks were not "
                        "scored); the passes after it do.", UserWarning, stacklevel=4)
                stats.blocks, stats.rows = before["blocks"], before["rows"]
                stats.progressive = list(before["progressive"])
                stats.max_in_flight = state["pass_in_flight"]
            if label_passes:  # fit: "epoch 2/5" on the bar, "pass 2/5" in the log line
                label, line = f"epoch {epoch + 1}/{epochs}", f"pass {epoch + 1}/{epochs}"
            else:  # partial_fit: the pass's number in history_
                label = line = f"pass {len(history) + 1}"
            progress = bar(len(order), label, self.progress)
            progress.update(start)
            t0 = time.perf_counter()

            def on_block(pos, block, snapshot, _order=order, _start=start, _bar=progress,
                         _t0=t0, _before=before, _stats=stats):
                _bar.update(1)
                done = _start + pos
                if fingerprint is not None and every != "epoch" and (done + 1) % every == 0:
                    model, rows, progressive = snapshot()
                    save(model, done, _order, pass_blocks=done + 1,
                         pass_rows=_before["rows"] + rows,
                         pass_progressive=[*_before["progressive"], *progressive],
                         pass_seconds=_before["seconds"] + time.perf_counter() - _t0,
                         pass_in_flight=_stats.max_in_flight,
                         pass_scored=bool(self.train_score) and _before["scored"])

            try:
                estimator = runner.run(
                    estimator, todo, static, kind=kind, home=home, on_block=on_block,
                    stats=stats, progressive=self.scoring_for_progress(),
                    # block-level checkpoints need the model after every block
                    group_runs=fingerprint is None or every == "epoch",
                )
                if stats.rows == 0:
                    raise ValueError(
                        f"X has no rows to train on: all {len(order)} training blocks are "
                        "empty (a filter that matches nothing, or empty input) or weigh nothing "
                        "(sample_weight all zero). Check the data before fitting."
                    )
                seconds = before["seconds"] + time.perf_counter() - t0
                record = {"epoch": len(history) + 1, "blocks": stats.blocks, "rows": stats.rows,
                          "seconds": seconds, "max_blocks_in_flight": stats.max_in_flight}
                if self.train_score:  # (None for a resumed pass begun without it)
                    record["train_score"] = (combine_progressive(stats.progressive)
                                             if before["scored"] else None)
                if val_blocks is not None:
                    vscore = self._validation_score(estimator, val_blocks, home, held_out)
                    record["val_score"] = vscore
                    progress.set_postfix_str(f"val_score={vscore:.4f}")
                    self._track_best(state, vscore, record["epoch"])
            finally:
                progress.close()
            history.append(record)
            if self.verbose:
                print(f"{line}: {format_pass(record)}", flush=True)
            state["epoch"], state["order"], state["position"] = epoch + 1, None, -1
            if fingerprint is not None:
                save(estimator, -1, None)
        self.estimator_ = estimator
        self.history_ = history
        self.n_epochs_ = len(history)
        self.stopped_early_ = self._stops_early(state, val_blocks) and state["epoch"] < epochs
        self.block_kind_ = kind
        self.estimator_home_ = home

    def _track_best(self, state, vscore: float, pass_number: int) -> None:
        """Update the early-stopping state with a pass's validation score.

        A score that is not a finite number never improves on the best one
        and never becomes it (as in Keras), with a warning.
        """
        if not np.isfinite(vscore):
            warnings.warn(
                f"the validation score of pass {pass_number} is {vscore}; it counts as no "
                "improvement. Check the validation data and the scoring.",
                RuntimeWarning, stacklevel=4,
            )
            state["no_improve"] += 1
        elif state["best"] is None:
            state["best"], state["no_improve"] = vscore, 0
        else:
            # scikit-learn's rule: a pass improves when it is at least tol above the best
            # score so far, and any higher score becomes the best
            if vscore < state["best"] + self.tol:
                state["no_improve"] += 1
            else:
                state["no_improve"] = 0
            state["best"] = max(state["best"], vscore)

    def _validation_score(self, estimator, val_blocks, home, held_out):
        try:
            return score_blocks(estimator, val_blocks, self.scoring, home=home)
        except NoSamplesError as exc:
            if not held_out:
                raise
            raise ValueError(
                f"validation= held out block(s) {[b.index for b in val_blocks]} of X, and "
                "every one of them is empty (partitions emptied by a filter, say) or weighs "
                "nothing, so there is nothing to validate on. Pass validation_data=(X_val, "
                "y_val), or drop the empty partitions first (e.g. "
                "ddf.repartition(npartitions=...) after filtering)."
            ) from exc

    def _check_scoring_before_training(self, estimator, val_blocks, classes=None):
        """Fail now, not after a pass, when validation or train scores cannot be computed."""
        needs_score = val_blocks is not None or self.train_score
        if isinstance(self.scoring, str):
            scorer = get_scorer(self.scoring)  # an unknown name: scikit-learn's error, now
            if needs_score and is_classifier(estimator):
                check_scoring_for_classes(self.scoring, classes)  # f1 on 3 classes, ...
            methods = response_methods(scorer)
            func = getattr(scorer, "_score_func", None)
            if (needs_score and methods == ("predict",) and is_classifier(estimator)
                    and getattr(func, "__module__", "").endswith("._regression")
                    and classes is not None and np.asarray(to_numpy(classes)).dtype.kind
                    not in "biuf"):
                raise ValueError(
                    f"scoring={self.scoring!r} compares numbers, but {type(estimator).__name__} "
                    f"predicts the text labels {_listing_labels(classes)}; choose a "
                    "classification scorer such as 'accuracy' or 'f1_macro'."
                )
            if (needs_score and methods == ("predict",) and is_regressor(estimator)
                    and getattr(func, "__module__", "").endswith("._classification")):
                raise ValueError(
                    f"scoring={self.scoring!r} compares class labels, but "
                    f"{type(estimator).__name__} is a regressor (its predictions are "
                    "continuous); choose a regression scorer such as 'r2' or "
                    "'neg_mean_squared_error'."
                )
            if (needs_score and methods and not any(hasattr(estimator, m) for m in methods)
                    and not _may_gain_after_fit(estimator, methods)):
                raise ValueError(
                    f"scoring={self.scoring!r} needs {' or '.join(methods)}, which "
                    f"{type(estimator).__name__} (with these parameters) does not have; choose "
                    "a scoring that uses what it has (e.g. 'accuracy' for a classifier, 'r2' for "
                    "a regressor) or an estimator that has it (for SGDClassifier, "
                    "loss='log_loss')."
                )
        how = None
        if self.scoring is None and needs_score:
            how = score_reduction(estimator)  # TypeError for a score gpuinc cannot combine
        supervised = isinstance(self.scoring, str) or how in ("accuracy", "r2")
        if val_blocks is not None and supervised and all(b.y is None for b in val_blocks):
            raise ValueError(
                "validation scoring compares predictions with y, but the validation data has "
                "no y: pass validation_data=(X_val, y_val), or y to fit."
            )

    def scoring_for_progress(self):
        """The scoring used for progressive train scores, or None when they are off."""
        if not self.train_score:
            return None
        return self.scoring if self.scoring is not None else ESTIMATOR_DEFAULT

    # ------------------------------------------------------------- predict
    def _check_fitted(self):
        if not hasattr(self, "estimator_"):
            raise NotFittedError(
                "This Incremental instance is not fitted yet; call fit or partial_fit first."
            )

    def _method(self, method, X, meta=None):
        self._check_fitted()
        X = _plain_array(X)
        check_supported_input(X, "X")
        _check_has_columns(X)
        est = self.estimator_
        if is_dask_collection(X):
            from ._dispatch import collection_kind

            home = estimator_home(est, KIND_HOME[collection_kind(X)], self.device)
            return map_method(X, est, method, home, meta=meta)
        if isinstance(X, (list, tuple)):
            X = np.asarray(X)
        home = estimator_home(est, KIND_HOME[block_kind(X)], self.device)
        if method == "transform" and home == KIND_HOME[block_kind(X)] and getattr(
                est, "_sklearn_output_config", {}).get("transform", "default") != "default":
            return est.transform(X)  # in memory, set_output's container as it is
        return apply_method(X, est, method, home)

    @available_if(_has_method("predict"))
    def predict(self, X):
        """Predict blockwise: lazy for Dask input (same kind out), eager otherwise."""
        return self._method("predict", X, self.predict_meta)

    @available_if(_has_method("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities, blockwise; lazy for Dask input."""
        return self._method("predict_proba", X, self.predict_proba_meta)

    @available_if(_has_method("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities, blockwise; lazy for Dask input."""
        return self._method("predict_log_proba", X, self.predict_proba_meta)

    @available_if(_has_method("decision_function"))
    def decision_function(self, X):
        """Decision function, blockwise; lazy for Dask input."""
        return self._method("decision_function", X)

    @available_if(_has_method("predict_joint_log_proba"))
    def predict_joint_log_proba(self, X):
        """Joint log-probabilities log P(x, y) of the naive Bayes models, blockwise; lazy for
        Dask input."""
        return self._method("predict_joint_log_proba", X)

    @available_if(_has_method("score_samples"))
    def score_samples(self, X):
        """The estimator's per-row scores (BernoulliRBM, SGDOneClassSVM ...), blockwise;
        lazy for Dask input."""
        return self._method("score_samples", X)

    @available_if(_has_method("fit_predict"))
    def fit_predict(self, X, y=None, **fit_kwargs):
        """``fit`` then ``predict`` (clusterers, outlier detectors); two passes over Dask
        input, as for :meth:`fit_transform`: every block is trained on before any is
        predicted."""
        return self.fit(X, y, **fit_kwargs).predict(X)

    @available_if(_has_method("transform"))
    def transform(self, X):
        """Transform blockwise; lazy for Dask input."""
        return self._method("transform", X, self.transform_meta)

    @available_if(_has_method("inverse_transform"))
    def inverse_transform(self, X):
        """Map transformed data back to the input space, blockwise (IncrementalPCA, the
        scalers ...); lazy for Dask input, whose DataFrame partitions get the columns
        the model was fitted on."""
        return self._method("inverse_transform", X)

    @available_if(_has_method("transform"))
    def fit_transform(self, X, y=None, **fit_kwargs):
        """``fit`` then ``transform`` (two passes over Dask input: the model must be
        trained on every block before any block is transformed)."""
        return self.fit(X, y, **fit_kwargs).transform(X)

    @available_if(_has_method("get_feature_names_out"))
    def get_feature_names_out(self, input_features=None):
        """The trained estimator's output feature names (a transformer's)."""
        self._check_fitted()
        return self.estimator_.get_feature_names_out(input_features)

    @available_if(_has_method("set_output"))
    def set_output(self, *, transform=None):
        """Set the wrapped transformer's output container, as scikit-learn's ``set_output``.

        In memory, ``transform`` then returns what the estimator returns (a
        pandas DataFrame with ``transform="pandas"``). On Dask input the blocks
        keep X's kind: a Dask Array's stay arrays, a Dask DataFrame's
        partitions are DataFrames named by ``get_feature_names_out``.
        """
        self.estimator.set_output(transform=transform)
        if hasattr(self, "estimator_"):
            self.estimator_.set_output(transform=transform)
        return self

    @available_if(_can_score)
    def score(self, X, y=None, compute=True, sample_weight=None):
        """Score with ``scoring`` (or the estimator's own score) without gathering X.

        ``compute=False`` (as in dask-ml) returns, for Dask inputs, a 0-d
        Dask array whose ``compute()`` is the score (for scorer
        names and ``make_scorer`` scorers; a callable that calls the estimator
        needs ``compute=True``); in-memory inputs are always scored at once.
        Pass ``sample_weight`` by keyword; one number weighs every row.

        For Dask inputs empty blocks are skipped, and:

        * ``accuracy``, ``neg_log_loss``, ``r2``, ``explained_variance`` and the
          squared/absolute error scorers are reduced exactly from per-block
          statistics;
        * any other scorer name, a ``make_scorer`` scorer, or a callable
          ``scorer(estimator, X, y)`` is evaluated on responses computed block
          by block and gathered (one value or one row of class scores per
          sample, with ``y`` and ``sample_weight``). A callable gets a stand-in
          for ``estimator_``: ``predict``, ``predict_proba``,
          ``predict_log_proba``, ``decision_function`` and ``score_samples``
          return the gathered responses for the whole test set, ``score`` is
          the estimator's own score of the test set, and other attributes
          (``coef_``, ``classes_``, ``get_params`` ...) are those of
          ``estimator_``. ``X`` is a placeholder of the right shape holding NaN
          (it takes no memory); methods that need the real X (``transform``,
          ``kneighbors`` ...) raise ``TypeError``: compute such scores on
          in-memory data;
        * ``scoring=None`` is the estimator's own ``score``: accuracy / R^2
          for scikit-learn classifiers / regressors, the sum of block scores
          for KMeans, MiniBatchKMeans and KernelDensity, the row-weighted mean
          for GaussianMixture, PCA, FactorAnalysis ...; other estimators raise
          ``TypeError`` (pass ``scoring=`` or use
          :func:`gpuinc.metrics.register_score_reduction`).

        ``y`` is required unless the score is unsupervised or a callable does
        not use it. In-memory inputs are scored by scikit-learn directly.
        """
        if not isinstance(compute, (bool, np.bool_)):
            raise TypeError(
                f"score's third argument is compute (True or False, as in dask-ml), got "
                f"{type(compute).__name__}; pass sample weights by keyword: "
                "score(X, y, sample_weight=w)."
            )
        self._check_fitted()
        X, y = _plain_array(X), _plain_array(y)
        check_supported_input(X, "X")
        _check_has_columns(X)
        est = self.estimator_
        sample_weight = _plain_keywords({"sample_weight": sample_weight})["sample_weight"]
        if is_dask_collection(X):
            if _is_scalar(sample_weight):  # one weight for every row, laid out like X
                sample_weight = _weight_per_row(X, float(sample_weight))
            kw = {} if sample_weight is None else {"sample_weight": sample_weight}
            blocks, kind, _ = self._blocks(X, y, kw)
            home = estimator_home(est, KIND_HOME[kind], self.device)
            return score_blocks(est, blocks, self.scoring, home=home, compute=bool(compute))
        if is_dask_collection(y):
            y = y.compute()
        if _in_memory_device(X) and getattr(X, "ndim", 0) == 2:
            # device data in memory (CuPy, cuDF): scored as one block, like Dask input, so
            # that the data meets the estimator where it computes and scorers see host values
            if isinstance(y, (list, tuple)) or (y is not None and block_kind(X) == "cupy"
                                                and not _in_memory_device(y)):
                from ._movers import to_device

                y = to_device(np.asarray(y))  # with X, as Dask input must be
            return self.score(_one_block(X), _one_block(y), sample_weight=sample_weight)
        if _is_scalar(sample_weight):  # scikit-learn's scorers take one weight per row
            sample_weight = np.full(in_memory_rows(X), float(sample_weight))
        return score_in_memory(est, X, y, self.scoring, sample_weight)

    # ------------------------------------------------------ sklearn plumbing
    def __getattr__(self, name):
        # Fitted attributes of the trained estimator read through the wrapper.
        if name.endswith("_") and not name.startswith("__") and name != "estimator_":
            try:
                est = self.__dict__["estimator_"]
            except KeyError:
                raise AttributeError(
                    f"{type(self).__name__} has no attribute {name!r} (it is not fitted yet)."
                ) from None
            return getattr(est, name)
        reason = ""
        if name in _GUARDED and "estimator" in self.__dict__:  # why the method is not there
            try:
                (_can_score if name == "score" else _has_method(name))(self)
            except AttributeError as exc:
                reason = f": {exc}"
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}{reason}")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            inner = self.estimator.__sklearn_tags__()
        except Exception:
            return tags
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.transformer_tags = inner.transformer_tags
        tags.target_tags = inner.target_tags
        tags.input_tags = inner.input_tags
        return tags


