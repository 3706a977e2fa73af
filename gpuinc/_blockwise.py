"""Apply a fitted estimator's method to one block, and lazily to collections."""

from __future__ import annotations

import math
import re
import warnings

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._array_api import to_numpy
from ._blocks import _is_1d_collection, one_d_x_error, takes_1d_x
from ._chain import _describe, _first_non_finite, _non_finite_where
from ._dispatch import DEVICE, HOST, KIND_HOME, block_kind, collection_kind, compute_context
from ._movers import as_estimator_input, move, to_host
from ._optional import is_cudf_object, is_cupyx_sparse

#: the Incremental parameter that describes each method's output (dask-ml's names)
META_PARAM = {
    "predict": "predict_meta",
    "predict_proba": "predict_proba_meta",
    "predict_log_proba": "predict_proba_meta",
    "transform": "transform_meta",
}

_PROBA = ("predict_proba", "predict_log_proba", "predict_joint_log_proba")


def _is_sparse(obj) -> bool:
    return sp.issparse(obj) or is_cupyx_sparse(obj)


def _empty_like_meta(out_meta):
    """A zero-row copy of ``out_meta`` (dense or sparse)."""
    if _is_sparse(out_meta):
        return type(out_meta)((0,) + tuple(out_meta.shape[1:]), dtype=out_meta.dtype)
    return out_meta[:0].copy()


def _check_output(out, out_meta, estimator, method: str) -> None:
    """Refuse a block result that does not match what the collection was promised."""
    if out_meta is None:
        return
    _refuse_a_list(out, estimator, method)
    ndim = getattr(out, "ndim", None)
    if ndim is None:
        return
    if ndim == out_meta.ndim and (ndim < 2 or out.shape[1:] == tuple(out_meta.shape[1:])):
        return
    expected = ("1-D" if out_meta.ndim == 1
                else f"{out_meta.ndim}-D with {out_meta.shape[1:]} trailing shape")
    param = META_PARAM.get(method)
    hint = (f"; if you passed {param}= to Incremental, describe this output with it "
            f"(e.g. an array of shape {(0,) + tuple(out.shape[1:])} and dtype {out.dtype})"
            if param else "")
    raise ValueError(
        f"{type(estimator).__name__}.{method} returned an array of shape {tuple(out.shape)}, "
        f"but the lazy result was set up for {expected} output{hint}."
    )


def _refuse_a_list(out, estimator, method: str) -> None:
    if isinstance(out, (list, tuple)):
        raise TypeError(
            f"{type(estimator).__name__}.{method} returns a {type(out).__name__} of "
            f"{len(out)} arrays (one per output), which cannot be laid out as one blockwise "
            f"result. Call it on in-memory data (e.g. inc.estimator_.{method}(X_block)), or "
            "on each output's estimator."
        )


def apply_method(block, estimator, method: str, home: str, out_meta=None, block_info=None,
                 *, where=None):
    """Call ``estimator.<method>`` on one block; the result comes back in the block's kind.

    The result is an array: NumPy for host blocks, CuPy (or cupyx sparse) for
    device blocks; pandas output becomes NumPy and cuDF output (cuML's, for
    cuDF input) becomes CuPy.  One exception: a result that is not numeric
    (text labels, objects) for a cuDF block comes back as a cuDF Series (1-D)
    or DataFrame (2-D, columns ``0..k-1``) with a fresh index, since CuPy holds
    numbers only; :func:`gpuinc._movers.to_host` brings either to the host.

    Empty blocks give an empty result of the right trailing shape and dtype
    instead of reaching the estimator (most estimators reject zero rows).
    With ``out_meta`` (the lazy collection's meta) the result's number of
    dimensions and columns are checked against it, and the result is made
    sparse or dense, and of the dtype, the meta promised.

    ``where`` (the block's number and its ``(start, stop)`` rows or None; Dask
    passes ``block_info`` for it) names the block in the estimator's errors.
    """
    if where is None and block_info is not None:
        where = _block_location(block_info)
    kind = block_kind(block)
    n = block.shape[0]
    if n == 0 and out_meta is not None:
        if _is_sparse(out_meta):
            return _empty_like_meta(out_meta)
        empty = np.empty((0,) + tuple(out_meta.shape[1:]), dtype=out_meta.dtype)
        return _in_block_kind(empty, kind, estimator, method)
    x = block if KIND_HOME[kind] == home else move(block, home)
    x = as_estimator_input(x, estimator, home)
    try:
        with compute_context(estimator, home):
            out = getattr(estimator, method)(x)
    except Exception as exc:
        if where is None:
            raise  # in-memory X: the estimator's own error, as scikit-learn gives it
        _name_the_block(exc, block, estimator, method, where)
        raise
    if isinstance(out, (pd.Series, pd.DataFrame)):
        out = out.to_numpy()
    elif is_cudf_object(out):
        out = _cudf_result(out)
    if KIND_HOME[kind] != home:
        out = _in_block_kind(out, kind, estimator, method)
    _check_output(out, out_meta, estimator, method)
    if out_meta is not None and _is_sparse(out) and not _is_sparse(out_meta):
        out = out.toarray()  # a dense meta promised dense blocks
    out = _as_meta_dtype(out, out_meta, estimator, method)
    if out_meta is not None and _is_sparse(out_meta) and not _is_sparse(out):
        out = _sparse_like(out_meta, out)  # a sparse meta promised sparse blocks
    return out


def _block_location(block_info):
    """(block number, (start, stop) rows or None) of the block Dask's ``block_info`` describes."""
    try:
        info = block_info[0]
        index = int(info["chunk-location"][0])
        start, stop = info["array-location"][0]
    except (KeyError, IndexError, TypeError):
        return None
    rows = (int(start), int(stop)) if _known(start) and _known(stop) else None
    return index, rows


_NON_FINITE_ERROR = re.compile(r"\bnan\b|infinity|\binf\b", re.IGNORECASE)


def _name_the_block(exc, block, estimator, method: str, where) -> None:
    """Say which block of X the estimator failed on (as fit does), and where its first
    NaN / infinity is when it holds one: as a new ValueError (raised from ``exc``) when
    ``exc`` is the estimator's plain ValueError about such values, else as a note."""
    index, rows = where
    name = f"{type(estimator).__name__}.{method}"
    first = None
    if isinstance(exc, ValueError):
        try:
            first = _first_non_finite(block)
        except Exception:  # noqa: BLE001 - only a better message was at stake
            first = None
    if first is not None and type(exc) is ValueError and _NON_FINITE_ERROR.search(str(exc)):
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"{_describe(index, rows)} of X contains NaN or infinity"
            f"{_non_finite_where(first, rows)}, which {name} cannot take ({reason}). Drop or "
            "impute those values first (e.g. X = da.nan_to_num(X), or ddf.dropna() / "
            "ddf.fillna(0))."
        ) from exc
    note = f"gpuinc: raised by {name} on {_describe(index, rows)} of X"
    if first is not None:
        note += f", which contains NaN or infinity{_non_finite_where(first, rows)}"
    if hasattr(exc, "add_note"):
        exc.add_note(note)


def _sparse_like(meta, dense):
    """``dense`` as a sparse matrix of ``meta``'s format and dtype (on the dense's side)."""
    if sp.issparse(meta) and isinstance(dense, np.ndarray):
        return type(meta)(dense).astype(meta.dtype, copy=False)
    from cupyx.scipy import sparse as cusparse

    return cusparse.csr_matrix(dense).astype(meta.dtype, copy=False)


def _is_number_dtype(dtype) -> bool:
    """Whether values of ``dtype`` can live in a CuPy array (numbers and booleans)."""
    try:
        return np.dtype(dtype).kind in "biufc"
    except TypeError:  # pandas / cuDF extension dtypes (categories, ...)
        return False


def _cudf_result(out):
    """cuDF output as CuPy when every column is numeric (cuML answers cuDF input in
    cuDF, with columns ``0..k-1`` and the input's index); other cuDF output as it is."""
    dtypes = list(out.dtypes) if out.ndim == 2 else [out.dtype]
    if all(_is_number_dtype(dt) for dt in dtypes):
        from ._gpu import cudf_to_cupy

        return cudf_to_cupy(out)
    return out


def _in_block_kind(out, kind: str, estimator, method: str):
    """A result computed on the other side brought to where a block of ``kind`` lives.

    Numeric results move as arrays; on a cuDF block a non-numeric one (text
    labels of a host classifier) becomes a cuDF Series or DataFrame instead of
    going through CuPy, which holds numbers only; on a CuPy block it is refused
    with a message that says what to do.
    """
    if KIND_HOME[kind] == HOST:
        out = move(out, HOST)
        return out.to_numpy() if isinstance(out, (pd.Series, pd.DataFrame)) else out
    dtype = getattr(out, "dtype", None)
    if _is_sparse(out) or dtype is None or _is_number_dtype(dtype):
        return move(out, DEVICE)
    if kind != "cudf":
        raise TypeError(
            f"{type(estimator).__name__}.{method} returned {dtype} values (e.g. text labels), "
            "which a CuPy array cannot hold; encode the labels as integers before training "
            "(e.g. with sklearn.preprocessing.LabelEncoder), or pass NumPy blocks."
        )
    import cudf

    host = np.asarray(to_host(out))
    if host.dtype.kind in "US":
        host = host.astype(object)  # Python strings: what cuDF builds its string columns from
    try:
        if host.ndim == 1:
            return cudf.Series(host)
        if host.ndim == 2:
            return cudf.DataFrame({i: cudf.Series(host[:, i]) for i in range(host.shape[1])})
    except Exception as exc:
        raise TypeError(
            f"{type(estimator).__name__}.{method} returned {host.dtype} values that cuDF "
            f"cannot hold ({exc}); return numbers, text or booleans, or pass the data as "
            "pandas (X.to_backend('pandas'))."
        ) from exc
    return move(out, DEVICE)  # other shapes: as CuPy would take them


def _as_meta_dtype(out, out_meta, estimator, method: str):
    """The block result in the dtype the lazy result promised, when no value changes: a
    cast that loses nothing (int64 labels for a float64 meta, integers to floats); text
    under a text meta keeps its own width (a meta of ``str`` is one character wide); any
    result under an object meta becomes object.  Other casts (floats to integers, wider
    integers to narrower, text to numbers or numbers to text) are refused."""
    dtype = getattr(out, "dtype", None)
    want = getattr(out_meta, "dtype", None)
    if dtype is None or want is None or dtype == want or _is_sparse(out):
        return out
    try:
        dtype, want = np.dtype(dtype), np.dtype(want)
    except TypeError:
        return out
    if dtype.kind in "US" and want.kind in "US":
        return out
    if want.kind == "O":
        return out.astype(object) if isinstance(out, np.ndarray) else out
    if dtype.kind == "V" or want.kind == "V":
        return out  # structured records: the estimator's own business
    if dtype.kind == "O" and want.kind in "biufc" and isinstance(out, np.ndarray):
        same = _cast_keeping_values(out, want)  # numbers held as objects
        if same is not None:
            return same
    param = META_PARAM.get(method)
    hint = f"; fix {param}= (or leave it out to let gpuinc infer it)" if param else ""
    if dtype.kind in "USO" or want.kind in "US":
        got = "text or objects" if dtype.kind in "USO" else "numbers"
        promised = "text" if want.kind in "US" else "numbers"
        fix = (f"; fix {param}= (np.array([], dtype=object) describes text, a numeric dtype "
               "numbers), or leave it out to let gpuinc infer it" if param else "")
        raise ValueError(
            f"{type(estimator).__name__}.{method} returned {dtype} values ({got}), but the lazy "
            f"result was set up for {want} ({promised}), and no cast turns one into the "
            f"other{fix}."
        )
    if np.can_cast(dtype, want, casting="safe") or (dtype.kind in "biu" and want.kind == "f"):
        return out.astype(want)
    raise ValueError(
        f"{type(estimator).__name__}.{method} returned {dtype} values, but the lazy result "
        f"was set up for {want}{hint}."
    )


def _cast_keeping_values(out, want):
    """``out`` (an object array) as ``want`` when that changes no value, else None."""
    try:
        cast = out.astype(want)
        if bool(np.all(cast.astype(object) == out)):
            return cast
    except (TypeError, ValueError, OverflowError):
        pass
    return None


def _frame_result(part, estimator, method, home, out_meta, columns, partition_info=None):
    where = None if partition_info is None else (int(partition_info["number"]), None)
    out = apply_method(part, estimator, method, home, out_meta, where=where)
    kind = block_kind(part)
    if is_cudf_object(out):  # a non-numeric result of a cuDF block (see apply_method)
        out = out.copy(deep=False)
        out.index = part.index  # by position: cuDF's constructors would reindex by label
        if out.ndim == 2 and columns is not None:
            out.columns = columns
        return out
    if kind == "cudf":
        import cudf

        if out.ndim == 1:
            return cudf.Series(out, index=part.index)
        return cudf.DataFrame(out, index=part.index, columns=columns)
    if sp.issparse(out):  # a sparse meta: pandas sparse columns (see map_method)
        return pd.DataFrame.sparse.from_spmatrix(out, index=part.index, columns=columns)
    # object stays object: pandas would read an object array of text as its str dtype
    dtype = object if out.dtype == object else None
    if out.ndim == 1:
        return pd.Series(out, index=part.index, dtype=dtype)
    return pd.DataFrame(out, index=part.index, columns=columns, dtype=dtype)


# ----------------------------------------------------------- input checks
def _known(n) -> bool:
    return n is not None and not (isinstance(n, float) and math.isnan(n))


def check_lazy_input(X, estimator, method: str = "predict") -> None:
    """Refuse, from metadata alone, Dask input the estimator cannot take.

    The messages are the ones scikit-learn gives for in-memory input: a
    1-D array or a Series, or a number of features (or feature names) that
    differs from the one the estimator was fitted on (not checked for
    ``inverse_transform``, whose input is the transform's output).  An
    estimator that takes a 1-D X (see :func:`gpuinc._blocks.takes_1d_x`: text
    vectorizers) takes a Dask Series or a 1-D Dask array, and no 2-D X.
    """
    name = type(estimator).__name__
    if method != "inverse_transform" and takes_1d_x(estimator):
        if not _is_1d_collection(X):
            raise one_d_x_error(X, estimator, method)
        return
    if isinstance(X, dd.Series):
        raise ValueError(
            "Expected a 2-dimensional container but got a Dask Series instead. Pass a Dask "
            "DataFrame containing a single column (i.e. single feature), e.g. X.to_frame()."
        )
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(
                f"Expected 2D array, got {X.ndim}D array instead: a Dask array of shape "
                f"{X.shape}.\nReshape your data either using X.reshape(-1, 1) if your data has a "
                "single feature or X.reshape(1, -1) if it contains a single sample."
            )
        n_features = X.shape[1]
        columns = None
    else:
        columns = list(X.columns)
        n_features = len(columns)
    if method == "inverse_transform":  # its input is the transform's output
        try:
            width = len(estimator.get_feature_names_out())
        except Exception:  # noqa: BLE001 - no names: the estimator checks the width itself
            return
        if _known(n_features) and int(n_features) != width:
            raise ValueError(
                f"X has {int(n_features)} columns, but {name}.inverse_transform takes the "
                f"output of {name}.transform, which has {width}: pass transformed data."
            )
        return
    expected = getattr(estimator, "n_features_in_", None)
    if _known(n_features) and expected is not None and int(n_features) != int(expected):
        raise ValueError(
            f"X has {int(n_features)} features, but {name} is expecting {int(expected)} "
            "features as input."
        )
    fitted = getattr(estimator, "feature_names_in_", None)
    if (columns is not None and fitted is not None
            and all(isinstance(c, str) for c in columns) and list(fitted) != columns):
        unseen = [c for c in columns if c not in set(fitted)]
        missing = [c for c in fitted if c not in set(columns)]
        message = "The feature names should match those that were passed during fit.\n"
        if unseen:
            message += "Feature names unseen at fit time:\n" + "".join(f"- {c}\n" for c in unseen)
        if missing:
            message += ("Feature names seen at fit time, yet now missing:\n"
                        + "".join(f"- {c}\n" for c in missing))
        if not unseen and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)


# ---------------------------------------------------------- output metas
def _zeros_like_meta(meta, shape, dtype):
    """Zeros of ``shape`` in the array type of ``meta`` (NumPy, CuPy, scipy/cupyx sparse)."""
    if _is_sparse(meta):
        return type(meta)(shape, dtype=dtype)  # an all-zero sparse matrix
    return np.zeros(shape, dtype=dtype, like=meta)


def _probe_frame(X):
    """One row of zeros with X's columns and dtypes (first fake row for non-numeric ones)."""
    meta = X._meta
    cols = {}
    nonempty = None
    for c, dt in meta.dtypes.items():
        try:
            cols[c] = np.zeros(1, dtype=dt)
        except TypeError:  # categoricals, strings, ...: a value of the right dtype
            if nonempty is None:
                nonempty = X._meta_nonempty
            value = nonempty[c].iloc[:1].reset_index(drop=True)
            if hasattr(value, "to_pandas"):  # cuDF: refuses implicit conversion to pandas
                value = value.to_pandas()
            cols[c] = value
    columns = meta.columns.to_pandas() if hasattr(meta.columns, "to_pandas") else meta.columns
    probe = pd.DataFrame(cols, columns=columns)
    if block_kind(meta) == "cudf":
        import cudf

        probe = cudf.from_pandas(probe)
    return probe


def _meta_advice(estimator, method: str) -> str:
    param = META_PARAM.get(method)
    if param is None:
        return ""
    example = {"predict": "np.array([0.0])", "transform": "np.empty((0, n_columns))"}.get(
        method, "np.empty((0, n_classes))")
    return (f"; if it cannot run on zeros, pass {param}= to Incremental to describe the output "
            f"instead (e.g. {param}={example}, with the output's dtype)")


def infer_meta(estimator, method: str, X, home: str):
    """Run ``method`` on one row of zeros shaped like X's blocks (nothing is computed).

    Call :func:`check_lazy_input` first: a failure here is then the
    estimator's own (it cannot run on zeros), not a wrong shape of X.
    """
    meta = X._meta
    if isinstance(X, dd.Series):  # an estimator that takes 1-D X (see check_lazy_input)
        probe = _probe_series(X)
    elif isinstance(X, da.Array) and X.ndim == 1:
        probe = (np.array([""], dtype=object) if X.dtype == object  # documents, as text
                 else _zeros_like_meta(meta, (1,), X.dtype))
    elif isinstance(X, da.Array):
        n_features = X.shape[1]
        if not _known(n_features):
            # inverse_transform takes the transform's output, not the fitted input
            n_features = (_estimator_width(estimator, "transform") if method == "inverse_transform"
                          else getattr(estimator, "n_features_in_", None))
            if n_features is None:
                param = META_PARAM.get(method)
                raise ValueError(
                    "X's number of columns is unknown; call X.compute_chunk_sizes()"
                    + (f" or pass {param}= to Incremental." if param else " first.")
                )
        probe = _zeros_like_meta(meta, (1, int(n_features)), X.dtype)
    else:
        probe = _probe_frame(X)
    try:
        with warnings.catch_warnings():
            # the probe's row of zeros is no data: what the estimator says of it (a
            # division by zero, a solver stopping early) is not the user's to read
            warnings.simplefilter("ignore")
            out = apply_method(probe, estimator, method, home)
    except Exception as exc:
        text = non_numeric_columns(meta)
        if text:
            raise _not_numbers(estimator, method, f"column(s) {text} are", exc,
                               "X.astype(...) or dd.get_dummies(X)), or leave them out") from exc
        if isinstance(X, da.Array) and X.ndim == 2 and not _is_number_dtype(X.dtype):
            raise _not_numbers(estimator, method, f"values ({X.dtype}) are", exc,
                               "X.astype(float) for numbers stored as text), or encode the "
                               "text as numbers before predicting") from exc
        raise ValueError(
            f"gpuinc could not infer the output of {type(estimator).__name__}.{method} from one "
            f"row of zeros ({exc}){_meta_advice(estimator, method)}."
        ) from exc
    _refuse_a_list(out, estimator, method)
    return out


def _not_numbers(estimator, method: str, what: str, exc, fix: str) -> ValueError:
    """The error for X that is not numbers (text columns, a Dask array of text): no meta
    parameter helps, the estimator cannot read X."""
    return ValueError(
        f"{type(estimator).__name__}.{method} failed on X, whose {what} not numbers ({exc}). "
        f"Convert them first (e.g. {fix}."
    )


def _probe_series(X):
    """One row of a Dask Series (a fake value of its dtype, as Dask makes for its meta)."""
    probe = X._meta_nonempty.iloc[:1]
    return probe.reset_index(drop=True)


def non_numeric_columns(frame) -> str:
    """The non-numeric columns of a pandas / cuDF frame with their dtypes, for a message
    ("" for other inputs or all-numeric frames)."""
    dtypes = getattr(frame, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "items"):
        return ""
    bad = [f"{c!r} ({dt})" for c, dt in dtypes.items()
           if not (pd.api.types.is_numeric_dtype(dt) or pd.api.types.is_bool_dtype(dt))]
    return ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")


def _flat_classes(estimator):
    classes = getattr(estimator, "classes_", None)
    if classes is None or isinstance(classes, list) or np.ndim(classes) != 1:
        return None  # unfitted, or multi-output (a list of arrays)
    return classes


def _estimator_width(estimator, method: str):
    """Columns of ``method``'s 2-D output, read from the fitted estimator (or None)."""
    if method in _PROBA or method == "decision_function":
        classes = _flat_classes(estimator)
        if classes is not None and (method in _PROBA or len(classes) > 2):
            return len(classes)
        return None
    if method == "transform":
        if hasattr(estimator, "get_feature_names_out"):
            try:
                return len(estimator.get_feature_names_out())
            except Exception:
                pass
        for attr in ("_n_features_out", "n_components_"):
            value = getattr(estimator, attr, None)
            if isinstance(value, (int, np.integer)):
                return int(value)
        return None
    value = getattr(estimator, "n_outputs_", None)  # multi-output predict
    return int(value) if isinstance(value, (int, np.integer)) and value > 1 else None


def _default_ndim(estimator, method: str) -> int:
    if method == "predict":  # 2-D for a multi-output estimator (one column per output)
        return 1 if _estimator_width(estimator, "predict") is None else 2
    if method == "decision_function":
        classes = _flat_classes(estimator)
        return 1 if classes is not None and len(classes) <= 2 else 2
    return 2


def meta_sample(meta, estimator, method: str, X):
    """The empty output described by a user's ``<method>_meta`` (no probe runs).

    ``meta`` is array-like (dask-ml style): its dtype is the output's dtype
    and its number of dimensions the output's.  A 2-D output takes its
    number of columns from ``meta.shape[1]`` when that is not zero, otherwise
    from the fitted estimator (``classes_`` for probabilities,
    ``get_feature_names_out()`` or ``n_components_`` for transforms).  A
    bare dtype (or a 0-d array) gives the method's usual number of dimensions.
    A scipy.sparse meta makes the output blocks sparse (CSR for a format that
    cannot be sliced by row, such as COO).  Returns the meta of
    the lazy result (zero rows) and the column names a DataFrame meta gives.
    """
    name = type(estimator).__name__
    param = META_PARAM.get(method, f"{method}_meta")
    columns = None
    if isinstance(meta, pd.DataFrame):
        columns = list(meta.columns)
        dtype = meta.to_numpy().dtype
        ndim, width = 2, len(columns)
    elif isinstance(meta, (np.dtype, type, str)):
        dtype, ndim, width = _numpy_dtype(meta, param), _default_ndim(estimator, method), 0
    else:
        if not (hasattr(meta, "dtype") and hasattr(meta, "shape")):
            meta = np.asarray(meta)
        dtype = _numpy_dtype(meta.dtype, param)
        ndim = len(meta.shape) or _default_ndim(estimator, method)
        width = int(meta.shape[1]) if len(meta.shape) == 2 else 0
    if ndim > 2:
        raise ValueError(f"{param} must describe a 1-D or 2-D output, got {ndim} dimensions.")
    classes = _flat_classes(estimator)
    if method == "predict" and classes is not None:
        _check_label_kind(classes, dtype, name, param)
    if method in _PROBA and ndim == 1 and classes is not None:
        raise ValueError(
            f"{param} describes a 1-D output, but {name}.{method} gives one column per class "
            f"({len(classes)} classes); pass a 2-D array, e.g. "
            f"np.empty((0, {len(classes)}), dtype={dtype.name!r})."
        )
    if ndim == 2:
        known = _estimator_width(estimator, method)
        if width and known is not None and width != known:
            what = (f"one column per class ({known} classes)" if method in _PROBA
                    or method == "decision_function" else f"{known} columns")
            raise ValueError(
                f"{param} describes {width} columns, but {name}.{method} gives {what}; pass "
                f"an array of shape (0, {known}) or (0, 0)."
            )
        width = width or known
        if not width:
            raise ValueError(
                f"{param} describes a 2-D output, but gpuinc cannot tell its number of columns "
                f"from {name}; pass an array of shape (0, n_columns), e.g. "
                f"np.empty((0, n_columns), dtype={dtype.name!r})."
            )
    shape = (0,) if ndim == 1 else (0, int(width))
    if _is_sparse(meta):
        if ndim != 2:
            raise ValueError(f"a sparse {param} must be 2-D.")
        kind = type(meta)
        if getattr(meta, "format", "csr") not in ("csr", "csc"):
            # coo, dia, bsr, ... cannot be sliced by row: Dask could not index the result
            kind = type(meta.tocsr()) if sp.issparse(meta) else kind
        return kind(shape, dtype=dtype), columns
    out = np.empty(shape, dtype=dtype)
    if KIND_HOME[collection_kind(X)] == DEVICE and _is_number_dtype(dtype):
        out = move(out, DEVICE)  # (text stays a NumPy meta: CuPy holds numbers only)
    return out, columns


def _check_label_kind(classes, dtype, name: str, param: str) -> None:
    """Refuse, when the lazy result is built, a predict meta of numbers for text labels
    (or of text for numeric labels): every block would fail to cast."""
    classes = to_numpy(classes)
    text = classes.dtype.kind in "US" or (
        classes.dtype.kind == "O" and len(classes) > 0 and all(isinstance(c, str) for c in classes))
    if text and dtype.kind in "biufc":
        what, fix = "text", "np.array([], dtype=object) for text labels"
    elif classes.dtype.kind in "biufc" and dtype.kind in "US":
        what, fix = "numbers", f"np.array([], dtype={classes.dtype.name!r}) (or another number dtype)"
    else:
        return
    raise ValueError(
        f"{param} describes {dtype} values, but {name}.predict returns labels from its classes_, "
        f"which are {what} ({classes.dtype}), and no cast turns one into the other; pass "
        f"{param}={fix}, or leave it out to let gpuinc infer it."
    )


def _numpy_dtype(dtype, param: str) -> np.dtype:
    """A meta's dtype as NumPy's; a pandas extension dtype (string, category) refused."""
    try:
        return np.dtype(dtype)
    except TypeError:
        raise ValueError(
            f"{param} has the dtype {dtype!r}, which is not a NumPy dtype: gpuinc builds "
            f"lazy results in NumPy dtypes. Pass one (e.g. {param}=np.array([], dtype=object) "
            "for text) and convert the result afterwards (e.g. .astype('string'))."
        ) from None


def _columns_for(estimator, method: str, width: int):
    if method in _PROBA or method == "decision_function":
        classes = getattr(estimator, "classes_", None)
        if classes is not None and len(classes) == width:
            # host values: device (CuPy) scalars cannot name DataFrame columns
            return to_numpy(classes).tolist()
    if method == "inverse_transform":
        names = getattr(estimator, "feature_names_in_", None)
        if names is not None and len(names) == width:
            return list(names)
    if method == "transform" and hasattr(estimator, "get_feature_names_out"):
        try:
            names = list(estimator.get_feature_names_out())
            if len(names) == width:
                return names
        except Exception:
            pass
    return list(range(width))


def map_method(X, estimator, method: str, home: str, meta=None):
    """Lazy blockwise ``estimator.<method>(X)`` for a Dask Array or DataFrame.

    The output's dtype and shape come from ``meta`` when it is given (see
    :func:`meta_sample`; nothing runs), otherwise from running ``method`` on
    one row of zeros (:func:`infer_meta`).
    """
    check_lazy_input(X, estimator, method)
    # One copy of the model in the graph, shared by every block's task; named, not hashed
    # (hashing a model pickles it whole, on every call, warnings of its pickling included)
    est = dask.delayed(estimator, pure=False)
    meta_columns = None
    if meta is not None:
        out_meta, meta_columns = meta_sample(meta, estimator, method, X)
    else:
        out_meta = _empty_like_meta(infer_meta(estimator, method, X, home))
        if is_cudf_object(out_meta):  # a non-numeric result on cuDF: described in NumPy
            out_meta = np.asarray(to_host(out_meta).to_numpy())
    dtype = out_meta.dtype
    if isinstance(X, da.Array):
        if X.ndim == 2 and X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        # 1-D X (documents, see check_lazy_input): its rows keep axis 0, a 2-D result adds 1
        if out_meta.ndim == 1:
            return X.map_blocks(
                apply_method, est, method, home, out_meta,
                drop_axis=[1] if X.ndim == 2 else [], dtype=dtype, meta=out_meta, token=method,
            )
        width = out_meta.shape[1]
        return X.map_blocks(
            apply_method, est, method, home, out_meta,
            new_axis=[1] if X.ndim == 1 else None,
            chunks=(X.chunks[0], (width,)), dtype=dtype, meta=out_meta, token=method,
        )
    # DataFrame: Series out for 1-D results, DataFrame out for 2-D, with the partition's index
    index = X._meta.index[:0]
    if hasattr(index, "to_pandas"):  # cuDF: its index refuses implicit conversion to NumPy
        index = index.to_pandas()
    if out_meta.ndim == 1:
        frame_meta = pd.Series(np.empty(0, dtype=dtype), index=index)
        columns = None
    else:
        width = out_meta.shape[1]
        columns = (meta_columns if meta_columns is not None and len(meta_columns) == width
                   else _columns_for(estimator, method, width))
        if _is_sparse(out_meta):
            # sparse blocks become pandas sparse columns (SparseDtype, zeros left out)
            if collection_kind(X) == "cudf":
                raise ValueError(
                    f"{type(estimator).__name__}.{method} gives sparse output, which a cuDF "
                    "DataFrame cannot hold; pass X as a Dask array "
                    "(X.to_dask_array(lengths=True)) to get sparse blocks, or a dense "
                    f"{META_PARAM.get(method, 'meta')}= (e.g. np.empty((0, {width}))) to get "
                    "dense columns."
                )
            frame_meta = pd.DataFrame.sparse.from_spmatrix(
                sp.csr_matrix((0, width), dtype=dtype), index=index, columns=columns)
        else:
            frame_meta = pd.DataFrame(
                np.empty((0, width), dtype=dtype), index=index, columns=columns,
            )
    if collection_kind(X) == "cudf":
        import cudf

        frame_meta = cudf.from_pandas(frame_meta)
    return X.map_partitions(
        _frame_result, est, method, home, out_meta, columns, meta=frame_meta,
    )


def is_dask_frame(X) -> bool:
    return isinstance(X, (dd.DataFrame, dd.Series))
