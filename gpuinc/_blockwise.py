"""Apply a fitted estimator's method to one block, and lazily to collections."""

from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd

from ._dispatch import KIND_HOME, block_kind, collection_kind, compute_context
from ._movers import move


def apply_method(block, estimator, method: str, home: str, out_meta=None):
    """Call ``estimator.<method>`` on one block; the result comes back in the block's kind.

    Empty blocks give an empty result of the right trailing shape and dtype
    instead of reaching the estimator (most estimators reject zero rows).
    """
    kind = block_kind(block)
    n = block.shape[0]
    if n == 0 and out_meta is not None:
        empty = np.empty((0,) + tuple(out_meta.shape[1:]), dtype=out_meta.dtype)
        return move(empty, KIND_HOME[kind]) if KIND_HOME[kind] != "host" else empty
    x = block if KIND_HOME[kind] == home else move(block, home)
    with compute_context(estimator, home):
        out = getattr(estimator, method)(x)
    if isinstance(out, (pd.Series, pd.DataFrame)):
        out = out.to_numpy()
    if KIND_HOME[kind] != home:
        out = move(out, KIND_HOME[kind])
    return out


def _frame_result(part, estimator, method, home, out_meta, columns):
    out = apply_method(part, estimator, method, home, out_meta)
    kind = block_kind(part)
    if kind == "cudf":  # pragma: no cover - needs a GPU
        import cudf

        if out.ndim == 1:
            return cudf.Series(out, index=part.index)
        return cudf.DataFrame(out, index=part.index, columns=columns)
    if out.ndim == 1:
        return pd.Series(out, index=part.index)
    return pd.DataFrame(out, index=part.index, columns=columns)


def infer_meta(estimator, method: str, X, home: str):
    """Run ``method`` on one row of zeros shaped like X's blocks (nothing is computed)."""
    meta = X._meta
    if isinstance(X, da.Array):
        n_features = X.shape[1]
        probe = np.zeros((1, n_features), dtype=X.dtype, like=meta)
    else:
        if hasattr(meta, "columns"):
            probe = pd.DataFrame({c: np.zeros(1, dtype=dt) for c, dt in meta.dtypes.items()})
            if block_kind(meta) == "cudf":  # pragma: no cover - needs a GPU
                import cudf

                probe = cudf.from_pandas(probe)
        else:
            probe = meta.iloc[:0].copy()
    try:
        out = apply_method(probe, estimator, method, home)
    except Exception as exc:
        raise ValueError(
            f"gpuinc could not infer the output of {type(estimator).__name__}.{method} from one "
            f"row of zeros ({exc}); pass {method}_meta= to Incremental to describe it."
        ) from exc
    return out


def _columns_for(estimator, method: str, width: int):
    if method in ("predict_proba", "predict_log_proba", "decision_function"):
        classes = getattr(estimator, "classes_", None)
        if classes is not None and len(classes) == width:
            return list(classes)
    if method == "transform" and hasattr(estimator, "get_feature_names_out"):
        try:
            names = list(estimator.get_feature_names_out())
            if len(names) == width:
                return names
        except Exception:
            pass
    return list(range(width))


def map_method(X, estimator, method: str, home: str, meta=None):
    """Lazy blockwise ``estimator.<method>(X)`` for a Dask Array or DataFrame."""
    # One copy of the model in the graph, shared by every block's task.
    est = dask.delayed(estimator, pure=True)
    sample = infer_meta(estimator, method, X, home)
    if meta is not None:
        sample_dtype = getattr(meta, "dtype", sample.dtype)
    else:
        sample_dtype = sample.dtype
    out_meta = sample[:0].astype(sample_dtype) if hasattr(sample, "astype") else sample[:0]
    if isinstance(X, da.Array):
        if X.numblocks[1] > 1:
            X = X.rechunk({1: -1})
        if sample.ndim == 1:
            return X.map_blocks(
                apply_method, est, method, home, out_meta,
                drop_axis=1, dtype=sample_dtype, meta=out_meta, token=method,
            )
        width = sample.shape[1]
        return X.map_blocks(
            apply_method, est, method, home, out_meta,
            chunks=(X.chunks[0], (width,)), dtype=sample_dtype, meta=out_meta, token=method,
        )
    # DataFrame: Series out for 1-D results, DataFrame out for 2-D, with the partition's index
    if sample.ndim == 1:
        frame_meta = pd.Series(np.empty(0, dtype=sample_dtype), index=X._meta.index[:0])
        columns = None
    else:
        columns = _columns_for(estimator, method, sample.shape[1])
        frame_meta = pd.DataFrame(
            np.empty((0, sample.shape[1]), dtype=sample_dtype),
            index=X._meta.index[:0], columns=columns,
        )
    if collection_kind(X) == "cudf":  # pragma: no cover - needs a GPU
        import cudf

        frame_meta = cudf.from_pandas(frame_meta)
    return X.map_partitions(
        _frame_result, est, method, home, out_meta, columns, meta=frame_meta,
    )


def is_dask_frame(X) -> bool:
    return isinstance(X, (dd.DataFrame, dd.Series))
