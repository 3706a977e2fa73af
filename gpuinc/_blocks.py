"""Turn (X, y, fit keywords) into a list of aligned row blocks.

Each block is a small record of Dask ``Delayed`` objects (or in-memory
pieces) for X, y and every per-row keyword.  Blocks come from the
collections' own ``to_delayed`` so that any Dask expression (repartition,
set_index, filters, column selections) is optimised and lowered by Dask
itself; gpuinc never writes low-level graph keys by hand.
"""

from __future__ import annotations

import hashlib
import math
import operator
import warnings
from dataclasses import dataclass, field
from typing import Any

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._dispatch import block_kind, collection_kind

#: fit keywords that carry one value per row and are split with the blocks
PER_ROW_KEYWORDS = frozenset({"sample_weight"})


@dataclass
class Block:
    """One row block: its position and the lazy (or in-memory) pieces."""

    index: int
    x: Any
    y: Any = None
    kwargs: dict = field(default_factory=dict)
    rows: tuple | None = None  # (start, stop) when the row offsets are known


@dataclass
class BlockPlan:
    blocks: list
    kind: str  # block kind of X
    n_rows: int | None


def is_dask_collection(obj) -> bool:
    return isinstance(obj, (da.Array, dd.DataFrame, dd.Series))


def check_supported_input(obj, name: str) -> None:
    """Raise a clear TypeError for inputs gpuinc cannot split into rows."""
    if obj is None:
        raise TypeError(f"{name} is None; pass an array, a DataFrame or a Dask collection.")
    if dask.is_dask_collection(obj) and not is_dask_collection(obj):
        raise TypeError(
            f"{name} is a {type(obj).__module__}.{type(obj).__name__}; gpuinc trains on Dask "
            "Arrays and Dask DataFrames/Series. Convert it first, e.g. bag.to_dataframe() or "
            "da.stack(list_of_delayed_arrays)."
        )
    if sp.issparse(obj):
        return  # (a DOK matrix is a dict, and passes for one below)
    if getattr(obj, "ndim", None) == 0:
        raise TypeError(
            f"{name} is a scalar ({type(obj).__name__}); it must hold one value per row of X "
            "(an array, a Series or a Dask collection of rows)."
        )
    if isinstance(obj, (str, bytes, dict, set)) or not (
        hasattr(obj, "__len__") or hasattr(obj, "__array__") or hasattr(obj, "shape")
    ):
        raise TypeError(
            f"{name} of type {type(obj).__name__} is not array-like; pass a NumPy array, a "
            "pandas object, a scipy.sparse matrix or a Dask Array/DataFrame."
        )


def takes_1d_x(estimator) -> bool:
    """Whether ``estimator`` takes X as a 1-D sequence, one document or record per row
    (HashingVectorizer, FeatureHasher), as its scikit-learn input tags say
    (``two_d_array=False``); False for estimators without tags."""
    try:
        return not estimator.__sklearn_tags__().input_tags.two_d_array
    except Exception:  # noqa: BLE001 - no (or broken) tags: the usual 2-D X
        return False


def one_d_x_error(X, estimator, method: str) -> ValueError:
    """The error for 2-D X given to an estimator that takes a 1-D X (see takes_1d_x)."""
    if isinstance(X, (dd.DataFrame, pd.DataFrame)):
        what = f"a DataFrame with {len(X.columns)} column(s)"
        fix = "the column as a Series, e.g. X['text']"
    else:
        shape = tuple("?" if d != d else d for d in X.shape)
        what = f"a {len(shape)}-D array of shape {shape}"
        fix = "a 1-D array, e.g. X[:, 0]"
    return ValueError(
        f"{type(estimator).__name__}.{method} takes X as a 1-D sequence (one document or "
        f"record per row; its scikit-learn input tags say two_d_array=False), but X is {what}; "
        f"pass {fix}."
    )


def split_graph(pieces) -> list:
    """Give each Delayed of one ``to_delayed`` call a graph of its own tasks only.

    ``to_delayed`` hands every piece the graph of the whole collection, so
    sending pieces one by one (as the chain does) would ship and parse the
    whole graph once per block: quadratic in the number of blocks.  The
    shared graph is materialised once and each piece keeps just the tasks it
    depends on.
    """
    pieces = list(pieces)
    if len(pieces) < 2:
        return pieces
    try:
        from dask._task_spec import convert_legacy_graph
        from dask.delayed import Delayed

        graph = convert_legacy_graph(dict(pieces[0].__dask_graph__()))
        out = []
        for piece in pieces:
            keep, stack = {}, [piece.key]
            while stack:
                key = stack.pop()
                if key in keep or key not in graph:
                    continue
                node = graph[key]
                keep[key] = node
                stack.extend(node.dependencies)
            out.append(Delayed(piece.key, keep))
        return out
    except Exception:  # an unfamiliar graph: keep Dask's own (correct, only slower)
        return pieces


def _row_lengths(X) -> tuple | None:
    """Row count of every block of X, or None when Dask does not know them."""
    if isinstance(X, da.Array):
        lengths = X.chunks[0]
        return None if any(math.isnan(n) for n in lengths) else tuple(int(n) for n in lengths)
    return None


def _compute_row_lengths(X, x_blocks) -> tuple:
    """Rows of every block of X, counted on the blocks that will be trained.

    For a DataFrame, ``X.map_partitions(len)`` is lowered on its own, and a
    narrow Parquet read may then be fused into fewer partitions than X's
    blocks: the blocks themselves are counted instead (this reads them).
    """
    if isinstance(X, da.Array):
        return tuple(int(n) for n in X.compute_chunk_sizes().chunks[0])
    return tuple(int(n) for n in dask.compute(*[dask.delayed(len)(b) for b in x_blocks]))


def _reads_shared(X, obj) -> bool:
    """Whether ``obj`` (y, a per-row keyword) is cut from arrays X is cut from too.

    ``to_delayed`` optimizes each collection alone, and Dask's fusion then folds
    a shared read (``data = da.from_zarr(...)``; ``X, y = data[:, :-1],
    data[:, -1]``) into both X's and y's tasks: every chunk would be read twice a
    block (``dask.optimize(X, y)`` fuses them apart too).  Such collections give
    their blocks unoptimized (``to_delayed(optimize_graph=False)``), so the read
    stays one task that all depend on when a block is computed.  Data already in
    memory (NumPy chunks, persisted results) has nothing to read twice.
    """
    if not (isinstance(X, da.Array) and isinstance(obj, da.Array) and X.ndim == 2
            and obj.ndim in (1, 2) and X.numblocks[0] == obj.numblocks[0]):
        return False
    graph = X.__dask_graph__()
    shared = set(graph.layers) & set(obj.__dask_graph__().layers)
    return bool(shared) and _computes(graph, shared)


def _computes(graph, names) -> bool:
    """Whether the named layers of ``graph`` hold any task (a read, a computation), not
    only data already in memory (NumPy chunks, persisted results)."""
    try:
        from dask._task_spec import Task, convert_legacy_graph
    except ImportError:  # pragma: no cover - older Dask: assume they do
        return True
    for name in names:
        if any(isinstance(node, Task)
               for node in convert_legacy_graph(dict(graph.layers[name])).values()):
            return True
    return False


def _is_1d_collection(X) -> bool:
    return isinstance(X, dd.Series) or (isinstance(X, da.Array) and X.ndim == 1)


def _x_blocks(X, shared: bool = False, one_d: bool = False) -> list:
    """X's row blocks; ``one_d``: an estimator that takes 1-D X (documents, records), whose
    blocks are those of a Dask Series or 1-D array (checked by plan_blocks)."""
    if isinstance(X, da.Array):
        if not one_d and X.ndim != 2:
            raise ValueError(
                f"X must be 2-D (rows x features), got a {X.ndim}-D Dask array of shape {X.shape}; "
                "reshape it, e.g. X.reshape(-1, 1) for a single feature."
            )
        if not one_d and X.numblocks[1] > 1:
            # Every partial_fit must see all the features of its rows.
            X = X.rechunk({1: -1})
        pieces = X.to_delayed(optimize_graph=not shared)
        return split_graph(list(pieces) if one_d else pieces[:, 0])
    if isinstance(X, dd.Series) and not one_d:
        raise ValueError(
            "X is a Dask Series (1-D); estimators need 2-D X. Use X.to_frame() for one feature."
        )
    return split_graph(X.to_delayed())


def _as_dask_array_1d_or_2d(obj):
    if isinstance(obj, (dd.Series, dd.DataFrame)):
        # lowered first: Dask counts the rows of the frame as written but splits the
        # lowered one, whose partitions may have been fused (a narrow Parquet read)
        return obj.optimize().to_dask_array(lengths=True)
    return obj


def _split_per_row(obj, name: str, x_blocks: int, lengths: tuple | None, x_lengths_fn,
                   assume_equal_chunks: bool, shared: bool = False, x_indexes_fn=None) -> list:
    """Split a per-row object (y, sample_weight) into pieces matching X's blocks."""
    if is_dask_collection(obj):
        if isinstance(obj, da.Array) and obj.ndim == 2 and obj.numblocks[1] > 1:
            obj = obj.rechunk({1: -1})
        pieces = (obj.to_delayed(optimize_graph=False) if shared  # with X, see above
                  else obj.to_delayed())
        pieces = pieces[:, 0] if isinstance(obj, da.Array) and pieces.ndim == 2 else pieces
        # count the pieces Dask will really produce: its optimizer may fuse partitions
        nblocks = len(pieces)
        own = _row_lengths(obj) if isinstance(obj, da.Array) else None
        same_known = lengths is not None and own is not None and own == lengths
        unknown_but_paired = nblocks == x_blocks and (lengths is None or own is None) and assume_equal_chunks
        if same_known or unknown_but_paired:
            return split_graph(pieces)
        # Different row blocking: realign on X's row lengths.
        lengths = lengths if lengths is not None else x_lengths_fn()
        arr = _as_dask_array_1d_or_2d(obj)
        if any(math.isnan(n) for n in arr.chunks[0]):
            arr = arr.compute_chunk_sizes()
        if arr.shape[0] != sum(lengths):
            raise ValueError(
                f"X has {sum(lengths)} rows but {name} has {arr.shape[0]}; they must have the same "
                "number of rows." + _not_per_row_hint(name)
            )
        arr = arr.rechunk({0: lengths})
        pieces = arr.to_delayed()
        return split_graph(pieces[:, 0] if pieces.ndim == 2 else pieces.ravel())
    # In memory: slice on X's row offsets.
    labelled = x_indexes_fn is not None and isinstance(obj, (pd.Series, pd.DataFrame))
    indexes = x_indexes_fn() if labelled else None
    lengths = lengths if lengths is not None else x_lengths_fn()
    n = _n_rows(obj)
    if indexes is not None and n != sum(lengths):
        # paired by label: obj holds X's rows and more (X was filtered, y was not)
        return [obj.take(obj.index.get_indexer(i)) for i in indexes]
    if n != sum(lengths):
        raise ValueError(
            f"X has {sum(lengths)} rows but {name} has {n}; they must have the same number of rows."
        )
    stops = np.cumsum(lengths)
    starts = stops - np.asarray(lengths)
    pieces = [_take_rows(obj, int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
    if indexes is not None:
        pieces = _by_label(obj, pieces, indexes)
    return pieces


def _labels_pair(indexes, objects, unlabelled: bool) -> bool:
    """Whether in-memory pandas ``objects`` pair with X's blocks (``indexes``) by label.

    A Dask DataFrame may hold its rows in another order than the pandas objects
    they came with (``dd.from_pandas`` sorts by index), and one whose rows come in
    another order on each compute (a shuffle) has no one order to follow.  They are
    paired by label when X's labels are unique over all its blocks and every
    object's index is unique and holds all of them, even in X's order as read (the
    block's task pairs them again, see :func:`_follow_labels`).  With
    ``unlabelled`` (a NumPy y or sample_weight beside them, which can only follow
    position) they are paired by position when in X's order as read, and another
    order is an error, not a silent mismatch between them.
    """
    if all(isinstance(i, pd.RangeIndex) for i in indexes):
        return False  # a reader's numbering (dd.read_csv, Parquet without an index): positions
    labels = indexes[0].append(list(indexes[1:])) if len(indexes) > 1 else indexes[0]
    pair = labels.is_unique and all(
        obj.index.is_unique and not bool((obj.index.get_indexer(labels) < 0).any())
        for obj in objects)
    if pair:
        # in X's order as read: the labels still pair them, since X's rows may come in
        # another order when its blocks are computed again (see _follow_labels)
        if unlabelled:
            if all(obj.index.equals(labels) for obj in objects):
                return False  # by position is by label (checked again, see _follow_order)
            raise ValueError(
                "X's rows are in another order than the index of the in-memory pandas y "
                "(or sample_weight), which would pair them by label, but a NumPy y or "
                "sample_weight beside it has no labels and can only follow X's order. Pass "
                "every per-row object as pandas with the same index (or as columns of the "
                "Dask DataFrame X comes from), or all of them in X's order as NumPy arrays."
            )
        return True
    for obj in objects:  # paired by position: say so when the labels tell another order
        own = obj.index
        if len(own) != len(labels) or own.equals(labels):
            continue
        try:  # X's labels in another order, or (X's unique) nearly all of them with a few
            # repeated or missing; not a reader's partitions, each numbered from 0, nor a y
            # numbered 0..n-1 of its own (a Series made from an array: in X's order)
            reordered = (np.array_equal(np.sort(own.to_numpy()), np.sort(labels.to_numpy()))
                         or (labels.is_unique and not isinstance(own, pd.RangeIndex)
                             and float(np.mean(own.isin(labels))) >= 0.9))
        except TypeError:  # labels of types that do not sort together
            reordered = False
        if reordered:
            warnings.warn(
                "an in-memory pandas y (or sample_weight) holds X's index labels in another "
                "order, but the labels cannot pair every per-row object (repeated labels, or "
                "another object's index lacks some), so all are paired with X's rows by "
                "position. Pass y as a column of the same Dask DataFrame as X (y = "
                "ddf['target']), or reorder y and sample_weight to X's rows first.",
                UserWarning, stacklevel=6,
            )
            break
    return False


def _by_label(obj, pieces: list, indexes) -> list:
    """Pieces of an in-memory pandas ``obj`` holding the rows of X's blocks by index
    label (see :func:`_labels_pair`, which decided that they pair so)."""
    if all(p.index.equals(i) for p, i in zip(pieces, indexes, strict=True)):
        return pieces
    return [obj.take(obj.index.get_indexer(i)) for i in indexes]


def _block_index(block):
    """The index of one partition, as pandas (a cuDF partition's too)."""
    index = block.index
    return index.to_pandas() if hasattr(index, "to_pandas") else index


def _index_digest(index) -> str | None:
    """A short digest of one partition's index labels, in their order (None: no digest)."""
    if isinstance(index, pd.RangeIndex):
        return f"range {index.start} {index.stop} {index.step}"
    try:
        values = pd.util.hash_pandas_object(index, index=False, categorize=False).to_numpy()
    except (TypeError, ValueError):  # labels pandas cannot hash: nothing to compare
        return None
    return f"{len(values)} " + hashlib.blake2b(values.tobytes(), digest_size=16).hexdigest()


def _block_layout(block) -> tuple:
    """(rows, index digest) of one partition of X: see :func:`_follow_order`."""
    return len(block), _index_digest(_block_index(block))


def _follow_labels(part, piece, name: str, number: int):
    """``piece`` of an in-memory pandas ``name`` (y, sample_weight), labelled with the
    rows of X's block ``number`` as gpuinc read them, in the order of ``part``, the
    block as computed now.

    A Dask DataFrame whose rows come in another order on each compute (a shuffle,
    ``set_index`` or ``sort_values`` on keys with ties) would otherwise be paired
    with the labels' order of another compute: the piece follows the rows by label
    in the task that trains (or scores) them, as :func:`_attach_pieces` does for
    Dask pieces.
    """
    index = _block_index(part)
    if index.equals(piece.index):
        return piece
    where = piece.index.get_indexer(index)
    if len(where) != len(piece) or bool((where < 0).any()):
        raise ValueError(
            f"partition {number} of X holds other rows than when gpuinc read its index "
            f"labels to pair the in-memory pandas {name} with it by label ({len(index)} "
            f"rows, {len(piece)} then): X's partitions hold other rows from one compute to "
            "the next. Persist X first (X = X.persist()), or pass "
            f"{name} as a column of the Dask DataFrame X comes from."
        )
    return piece.take(where)


def _follow_order(part, piece, digest, name: str, number: int):
    """``piece`` of an in-memory ``name`` paired by position with X's block ``number``,
    after checking that the block (``part``, as computed now) holds the index labels,
    in the order, that gpuinc read when it planned the blocks (``digest``).

    A Dask DataFrame whose rows come in another order on each compute (a shuffle,
    ``set_index`` or ``sort_values`` on keys with ties) has no one order an in-memory
    NumPy y could follow: that is an error, not a silent mismatch.  (Rows reordered
    among tied labels, as ``set_index`` on a key with ties makes them, leave the
    labels as they were: that cannot be seen here.)
    """
    if digest is not None and _index_digest(_block_index(part)) != digest:
        raise ValueError(
            f"partition {number} of X came with its rows in another order (or other rows) "
            f"than when gpuinc first read it, so the in-memory {name}, paired with X's rows "
            "by position, no longer matches them: X's row order changes from one compute "
            "to the next (a shuffle, or set_index / sort_values on keys with ties). Pass "
            f"{name} as a column of the Dask DataFrame X comes from (y = ddf['target']), "
            "or as pandas with X's own unique index labels, or persist X first "
            f"(X = X.persist()) and take {name} from it in that order."
        )
    return piece


def _not_per_row_hint(name: str) -> str:
    if name == "y" or name in PER_ROW_KEYWORDS:
        return ""
    return (f" A Dask collection passed as a fit keyword is split with the blocks, one value per "
            f"row; if {name} is not per row, compute it first ({name}={name}.compute()).")


def _n_rows(obj) -> int:
    shape = getattr(obj, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(obj)


def _take_rows(obj, start: int, stop: int):
    if isinstance(obj, (pd.Series, pd.DataFrame)):
        return obj.iloc[start:stop]
    if isinstance(obj, (list, tuple)):
        return np.asarray(obj[start:stop])
    return obj[start:stop]


def accepts_2d_y(estimator) -> bool:
    """Whether ``partial_fit`` takes a 2-D y: multi-output or multilabel by its tags.

    scikit-learn's ``MLPRegressor`` takes one without saying so in its tags.
    """
    try:
        tags = estimator.__sklearn_tags__()
    except Exception:
        return False
    if tags.target_tags.multi_output:
        return True
    if tags.classifier_tags is not None and tags.classifier_tags.multi_label:
        return True
    from sklearn.neural_network import MLPRegressor

    return isinstance(estimator, MLPRegressor)


def check_y_shape(y, estimator):
    """y as the estimator takes it: a 2-D y only for a multi-output estimator.

    A y of one column (a one-column DataFrame, an ``(n, 1)`` array) is read
    as that column, with scikit-learn's DataConversionWarning; more columns
    are refused.
    """
    ndim = getattr(y, "ndim", None)
    if ndim is None and not is_dask_collection(y):
        ndim = np.ndim(y)
    if isinstance(y, dd.DataFrame):
        ndim = 2
    if ndim is None or ndim <= 1:
        return y
    multi = accepts_2d_y(estimator)
    frame = isinstance(y, (dd.DataFrame, pd.DataFrame))
    if ndim == 2 and not multi:
        width = len(y.columns) if frame else getattr(y, "shape", (None, None))[1]
        if width == 1:
            from sklearn.exceptions import DataConversionWarning

            warnings.warn(
                f"y has one column but {type(estimator).__name__} takes a 1-D y: its column is "
                "used (pass y[:, 0], or the Series y['name'], to say so).",
                DataConversionWarning, stacklevel=4)
            return y.iloc[:, 0] if frame else y[:, 0]
        if frame:
            shape = f"(?, {len(y.columns)}) (a DataFrame with columns {list(y.columns)[:5]})"
            fix = "y['name'] or y.iloc[:, 0]"
        else:
            shape = tuple("?" if d != d else d for d in getattr(y, "shape", ("?",)))
            fix = "y[:, 0]"
        raise ValueError(
            f"y must be 1-D for {type(estimator).__name__}, got shape {shape}. "
            f"Pass one column, e.g. {fix}. (If the estimator does take a 2-D y, "
            "declare it in its scikit-learn tags: target_tags.multi_output = True.)"
        )
    if ndim > 2:
        raise ValueError(f"y must be 1-D or 2-D, got {ndim} dimensions.")
    return y


_JOINT_PREFIX = "__gpuinc_joint_"
_NO_INDEX = object()


def _joint_frame_blocks(X, y, fit_kwargs) -> BlockPlan | None:
    """Blocks of X, y and per-row keywords lowered as one frame when all are cut from one.

    ``ddf[features]`` and ``ddf[target]`` are two expressions that Dask may
    lower to different partitionings (a narrow column projection of
    ``read_parquet`` can be fused into fewer partitions), or compute apart:
    a shuffle, ``set_index`` or ``sort_values`` on a key with ties orders
    the rows of a partition differently each time it runs.  Putting y (a
    Series or a DataFrame) and the per-row keywords (``sample_weight``) back
    into X's frame and splitting each partition afterwards keeps them aligned
    and reads every partition once.
    """
    if not isinstance(X, dd.DataFrame) or not isinstance(y, (dd.Series, dd.DataFrame)):
        return None
    extra = {k: v for k, v in fit_kwargs.items() if v is not None}
    if not all(isinstance(v, (dd.Series, dd.DataFrame)) for v in extra.values()):
        return None
    pieces = [("y", y), *extra.items()]
    if any(str(c).startswith(_JOINT_PREFIX) for c in X.columns):
        return None
    if any(v.npartitions != X.npartitions for _, v in pieces):
        return None
    try:
        ancestors, aligned = _co_alignment(X.expr, *(v.expr for _, v in pieces))
        if not aligned:
            return None
    except Exception:  # private helper moved or refused: fall back to pairing by partition
        return None
    try:
        # Cut from one frame, the pieces are lowered together, from one read. From two
        # (two reads of the same files, say), each side is lowered alone, and a narrow
        # read fused into fewer partitions would leave partitions without a partner.
        if ancestors > 1 and len({c.optimize().npartitions
                                  for c in (X, *(v for _, v in pieces))}) > 1:
            return None
        layout = _joint_layout(pieces)
        meta = _attach_pieces(X._meta, *(v._meta for _, v in pieces), layout=layout)
        # block i of y goes with block i of X by position, as on the other paths: assign()
        # would align y's index labels to X's, and a y with another index (reset per
        # partition, say) would pair wrong rows with NaN in between
        joined = dd.map_partitions(_attach_pieces, X, *(v for _, v in pieces), layout=layout,
                                   align_dataframes=False, meta=meta, enforce_metadata=False)
        parts = split_graph(joined.to_delayed())
    except Exception:  # Dask refused to pair them (divisions, lowering): pair by partition
        return None
    columns = list(X.columns)
    take = dask.delayed(_joint_piece, pure=True)
    blocks = []
    for i, p in enumerate(parts):
        kwargs = {name: take(p, *spec) for name, *spec in layout[1:]}
        blocks.append(Block(i, dask.delayed(operator.getitem, pure=True)(p, columns),
                            take(p, *layout[0][1:]), kwargs))
    return BlockPlan(blocks, collection_kind(X), None)


def _joint_layout(pieces) -> list:
    """(name, joined column names, the piece's own column names or its Series name, is_frame)
    for each piece: the columns it occupies in the joined frame."""
    layout = []
    for j, (name, value) in enumerate(pieces):
        if isinstance(value, dd.DataFrame):
            own = list(value.columns)
            joined = [f"{_JOINT_PREFIX}{j}_{i}" for i in range(len(own))]
            layout.append((name, joined, own, True))
        else:
            layout.append((name, [f"{_JOINT_PREFIX}{j}"], value.name, False))
    return layout


def _joint_piece(part, joined, own, is_frame, index_name=_NO_INDEX):
    """One piece (y, a keyword) back out of a joined partition, with its own names (and,
    given ``index_name``, its own index, as :func:`_attach_pieces` kept it)."""
    if is_frame:
        out = part[joined].copy(deep=False)
        out.columns = own
    else:
        out = part[joined[0]].rename(own)
    if index_name is not _NO_INDEX:
        out.index = part[_index_column(joined)].rename(index_name)
    return out


def _index_column(joined) -> str:
    return f"{joined[0]}_index"


def _attach_pieces(part, *others, layout, partition_info=None, keep_index=False):
    """One partition of X with the partitions of y and the keywords as columns.

    Rows are paired by index label when a piece's labels are unique and cover
    X's (y cut from X's frame, X filtered since: ``ddf[cols].dropna()`` with
    ``ddf.t``), otherwise by position (a piece with an index of its own, reset
    per partition or renumbered), which needs as many rows on both sides.
    """
    columns = {}
    for (name, joined, _, is_frame), other in zip(layout, others, strict=True):
        if part.index.equals(other.index):
            paired, own_index = other, other.index
        elif other.index.is_unique and bool(part.index.isin(other.index).all()):
            paired, own_index = other.reindex(part.index), part.index
        elif len(part) != len(other):
            where = "" if partition_info is None else f"partition {partition_info['number']}: "
            raise ValueError(
                f"{where}X has {len(part)} rows but {name} has {len(other)}, and {name}'s index "
                f"does not hold X's rows either: X and {name} must list the same rows. Cut "
                "them from one frame after filtering or reordering it (X = frame[features]; "
                "y = frame[target])."
            )
        else:
            # relabelled by position (cuDF has no set_axis)
            paired, own_index = other.copy(deep=False), other.index
            paired.index = part.index
        if keep_index:  # each piece's own index labels, row for row (train_test_split)
            columns[_index_column(joined)] = own_index
        if is_frame:
            columns.update({c: paired.iloc[:, i] for i, c in enumerate(joined)})
        else:
            columns[joined[0]] = paired
    return part.assign(**columns)


def _co_aligned(*exprs) -> bool:
    """Whether Dask may pair the partitions of these expressions (see ``_co_alignment``)."""
    return _co_alignment(*exprs)[1]


def _co_alignment(*exprs) -> tuple[int, bool]:
    """(number of ancestors, Dask's ``are_co_aligned``), answered from names when it can be.

    Dask walks each expression through blockwise steps to its ancestors and
    compares their tokens, minus column projections; tokenizing a frame that
    was persisted or built from pandas hashes all of its data (0.58 s for
    1 GB).  When X and y reach the same ancestors by name (both cut from one
    frame), they are co-aligned without that; when one of several ancestors
    is a persisted collection, they are not.
    """
    from dask.dataframe.dask_expr._cumulative import CumulativeAggregations
    from dask.dataframe.dask_expr._expr import Blockwise, are_co_aligned
    from dask.dataframe.dask_expr._reductions import Reduction
    from dask.dataframe.dask_expr.io.io import FromGraph

    ancestors, persisted = set(), False
    steps = (Blockwise, CumulativeAggregations, Reduction)
    for e, through in _walk([e for e in exprs if e.ndim > 0], lambda e: isinstance(e, steps)):
        if not through:
            ancestors.add(e._name)
            persisted = persisted or isinstance(e, FromGraph)
    if len(ancestors) <= 1:
        return len(ancestors), True
    # two persisted collections (different keys) are never co-aligned for Dask
    return len(ancestors), not persisted and are_co_aligned(*exprs)


def _order_is_fixed(X) -> bool:
    """Whether a Dask DataFrame's rows come in the same order at every compute: all it
    starts from is persisted or pandas data, reached through Dask's own row-wise steps
    only (a user's function in ``map_partitions`` may reorder them).  False when Dask's
    expressions cannot be read (another Dask version): the pieces are then checked."""
    try:
        from dask.dataframe.dask_expr._expr import Blockwise, MapOverlap, MapPartitions
        from dask.dataframe.dask_expr.io.io import FromGraph, FromPandas

        return _walks_to_fixed_order(X.expr, Blockwise, (MapPartitions, MapOverlap),
                                     (FromGraph, FromPandas))
    except (ImportError, AttributeError):
        return False


def _walks_to_fixed_order(expr, blockwise, user_steps, fixed_roots) -> bool:
    for e, through in _walk([expr], lambda e: isinstance(e, blockwise)):
        if isinstance(e, user_steps) or not (through or isinstance(e, fixed_roots)):
            return False
    return True


def _walk(exprs, steps_through):
    """Each Dask expression reachable from ``exprs`` once, with whether the walk went on
    to its dependencies: it does through those for which ``steps_through`` is true."""
    seen, stack = set(), list(exprs)
    while stack:
        e = stack.pop()
        if e._name in seen:
            continue
        seen.add(e._name)
        through = bool(steps_through(e) and e.dependencies())
        if through:
            stack.extend(e.dependencies())
        yield e, through


def plan_blocks(X, y=None, fit_kwargs: dict | None = None, *, assume_equal_chunks: bool = True,
                estimator=None) -> BlockPlan:
    """Split Dask X (and y, per-row keywords) into aligned row blocks.

    With ``estimator`` given, an estimator that takes a 1-D X (see
    :func:`takes_1d_x`: text vectorizers) gets the blocks of a Dask Series or
    1-D Dask array, and 2-D X is refused for it.
    """
    fit_kwargs = dict(fit_kwargs or {})
    one_d = estimator is not None and takes_1d_x(estimator)
    if one_d and not _is_1d_collection(X):
        raise one_d_x_error(X, estimator, "partial_fit")
    if y is not None:
        _check_meta_home(X, y, collection_kind(X))
        joint = _joint_frame_blocks(X, y, fit_kwargs)
        if joint is not None:
            return joint
    kind = collection_kind(X)
    shared = {name: _reads_shared(X, value) for name, value in
              [("y", y), *((k, v) for k, v in fit_kwargs.items()
                           if k in PER_ROW_KEYWORDS or is_dask_collection(v))]}
    x_blocks = _x_blocks(X, any(shared.values()), one_d)
    lengths = _row_lengths(X)
    cache: dict = {}

    in_memory = [v for v in (y, *(v for k, v in fit_kwargs.items() if k in PER_ROW_KEYWORDS))
                 if v is not None and not is_dask_collection(v)]
    x_indexes = None
    framed = [v for v in in_memory if isinstance(v, (pd.Series, pd.DataFrame))]
    # in-memory pandas y / sample_weight may be paired with a Dask DataFrame by label,
    # when X's partitions have labels of their own (see _labels_pair: RangeIndex
    # partitions are a reader's numbering, which says nothing about the rows); the
    # partitions are read for that, not X's meta, whose index after set_index on an
    # integer column is a RangeIndex although the partitions hold the labels
    if isinstance(X, (dd.DataFrame, dd.Series)) and framed:
        def x_indexes():
            # X's labels, block by block (read once, with the row counts); None unless
            # the in-memory pandas objects are to be paired with them by label
            if "indexes" not in cache:
                cache["indexes"] = dask.compute(*[dask.delayed(_block_index)(b)
                                                  for b in x_blocks])
                cache.setdefault("lengths", tuple(len(i) for i in cache["indexes"]))
                cache["by_label"] = _labels_pair(cache["indexes"], framed,
                                                 len(framed) < len(in_memory))
            return cache["indexes"] if cache["by_label"] else None

    # in-memory pieces go with a Dask DataFrame's blocks by label or by position, which
    # the block's task checks (see _follow_labels, _follow_order): X's labels (or their
    # digests) are read with its row counts.  Not for a frame whose rows come in one
    # order (persisted, or from pandas, through row-wise steps only): its pieces stay in
    # memory, as they were paired when planned, and its blocks need no computing
    frame_x = (isinstance(X, (dd.DataFrame, dd.Series)) and bool(in_memory)
               and not _order_is_fixed(X))

    def x_lengths():
        if "lengths" not in cache:
            if x_indexes is not None:  # one read of X gives both
                x_indexes()
            elif frame_x:
                layout = dask.compute(*[dask.delayed(_block_layout)(b) for b in x_blocks])
                cache["lengths"] = tuple(n for n, _ in layout)
                cache["digests"] = tuple(d for _, d in layout)
            else:
                cache["lengths"] = _compute_row_lengths(X, x_blocks)
        return cache["lengths"]

    if y is not None:
        if isinstance(X, da.Array) and isinstance(y, da.Array) and lengths is not None:
            if not any(math.isnan(n) for n in y.shape) and y.shape[0] != X.shape[0]:
                raise ValueError(
                    f"X has {X.shape[0]} rows but y has {y.shape[0]}; they must have the same "
                    "number of rows."
                )
        y_pieces = _split_per_row(y, "y", len(x_blocks), lengths, x_lengths, assume_equal_chunks,
                                  shared["y"], x_indexes)
    else:
        y_pieces = [None] * len(x_blocks)
    kw_pieces = {}
    for name, value in fit_kwargs.items():
        if name in PER_ROW_KEYWORDS or is_dask_collection(value):
            if value is None:
                continue
            kw_pieces[name] = _split_per_row(
                value, name, len(x_blocks), lengths, x_lengths, assume_equal_chunks,
                shared.get(name, False), x_indexes_fn=x_indexes,
            )
    if frame_x:
        follow = _block_followers(x_blocks, cache)
        if y is not None and not is_dask_collection(y):
            y_pieces = follow(y_pieces, "y")
        for name, value in fit_kwargs.items():
            if name in kw_pieces and not is_dask_collection(value):
                kw_pieces[name] = follow(kw_pieces[name], name)
    final_lengths = lengths if lengths is not None else cache.get("lengths")
    offsets = None
    if final_lengths is not None:
        stops = np.cumsum(final_lengths)
        offsets = [(int(b - n), int(b)) for b, n in zip(stops, final_lengths, strict=True)]
    blocks = []
    for i, xb in enumerate(x_blocks):
        kw = {name: pieces[i] for name, pieces in kw_pieces.items()}
        blocks.append(Block(i, xb, y_pieces[i], kw, offsets[i] if offsets else None))
    n_rows = int(sum(final_lengths)) if final_lengths is not None else None
    return BlockPlan(blocks, kind, n_rows)


def _block_followers(x_blocks, cache):
    """A function that turns the in-memory pieces of one per-row object into tasks that
    follow X's blocks as computed when trained (or scored): by label when the plan
    paired them by label, else by position, checked (see _follow_labels, _follow_order)."""
    if cache.get("by_label"):
        def follow(pieces, name):
            return [dask.delayed(_follow_labels, pure=False)(xb, piece, name, i)
                    for i, (xb, piece) in enumerate(zip(x_blocks, pieces, strict=True))]
        return follow
    digests = cache.get("digests")
    if digests is None:
        digests = tuple(_index_digest(i) for i in cache["indexes"])

    def follow(pieces, name):
        return [dask.delayed(_follow_order, pure=False)(xb, piece, d, name, i)
                for i, (xb, piece, d) in enumerate(zip(x_blocks, pieces, digests, strict=True))]
    return follow


def _check_meta_home(X, y, x_kind: str) -> None:
    if not is_dask_collection(y):
        try:
            y_kind = block_kind(y)
        except TypeError:
            return  # lists and the like are host data
    else:
        y_kind = collection_kind(y)
    from ._dispatch import KIND_HOME

    if KIND_HOME[y_kind] != KIND_HOME[x_kind]:
        raise TypeError(
            f"X has {x_kind} blocks but y has {y_kind} blocks; put both on the same side, e.g. "
            "y.map_blocks(cupy.asarray) for GPU data or y.map_blocks(cupy.asnumpy) for host data."
        )


def in_memory_rows(obj) -> int:
    return _n_rows(obj)


def is_sparse(obj) -> bool:
    return sp.issparse(obj)
