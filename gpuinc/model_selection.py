"""Blockwise train/test splitting that keeps data where it is."""

from __future__ import annotations

import math
import numbers

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
from sklearn.model_selection import train_test_split as _sk_train_test_split

from ._blocks import is_dask_collection
from .datasets import _check_random_state

#: The test fraction used when neither ``test_size`` nor ``train_size`` is given.
#: It is dask-ml's default (for Dask and in-memory inputs alike), not
#: scikit-learn's 0.25, so that code moved over from ``dask_ml`` splits the same.
_DEFAULT_TEST_SIZE = 0.1


def _check_sizes(test_size, train_size):
    """Validate the fractions; return ``(test_size, train_size)`` with ``None`` kept."""
    for name, value in (("test_size", test_size), ("train_size", train_size)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
            raise ValueError(
                f"{name} must be a fraction in (0, 1) for Dask inputs, got {value!r}; absolute "
                "counts would need the row count of every block."
            )
    if test_size is not None and train_size is not None and test_size + train_size > 1:
        raise ValueError(
            f"The sum of test_size and train_size = {test_size + train_size}, should be in "
            "the (0, 1] range. Reduce test_size and/or train_size."
        )
    return test_size, train_size


#: A DataFrame partition whose expected test (or training) row count is below this rounds
#: it up or down (see :func:`_block_counts`); from here on, it rounds up as Dask arrays'
#: blocks do, which adds less than 1 % to the test rows (and keeps earlier splits).
_RANDOM_ROUNDING_BELOW = 100


#: The golden ratio's fractional part: ``(u0 + i * _GOLDEN) % 1`` for blocks ``i = 0, 1, ...``
#: covers [0, 1) evenly (a Weyl sequence), so over consecutive blocks the ones that
#: round up come in the proportion of the fractional part, not in random clumps.
_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


def _rounding_draws(seeds) -> list:
    """Each block's number in [0, 1) for rounding its counts (see :func:`_block_counts`).

    A random start (from the first block's seed, apart from its row permutation)
    and then a Weyl sequence across the blocks: with 20 partitions of one row
    and ``test_size=0.1``, 1 to 3 of them (never none, never all) go to the
    test set, where independent draws would leave it empty once in 8 splits.
    """
    if not len(seeds):
        return []
    u0 = float(np.random.default_rng([int(seeds[0]), 1]).random())
    return [(u0 + i * _GOLDEN) % 1.0 for i in range(len(seeds))]


def _block_counts(n, test_size, train_size, u=None):
    """``(n_train, n_test)`` of a block of ``n`` rows, rounded like scikit-learn.

    The products are rounded first to 9 decimals: 0.07 * 100 is 7.000000000000001 in
    floating point, which ``ceil`` would make 8.  With both sizes given, the training
    rows are capped at what the test rows leave (scikit-learn refuses sizes whose
    rounded counts exceed the rows; a block cannot hold more rows than it has).

    With ``u`` (DataFrame partitions, whose sizes are not known up front; see
    :func:`_rounding_draws`), a product below :data:`_RANDOM_ROUNDING_BELOW` is
    rounded up when ``u`` is at least one minus its fractional part (a chance equal to
    the fractional part), down otherwise, so that
    many small partitions (1-3 rows, after a selective filter) send
    ``test_size`` of their rows to the test set, instead of at least one row
    each; larger products are rounded as without ``u``.
    """

    def rounded(product, up):
        product = round(product, 9)
        if u is None or product >= _RANDOM_ROUNDING_BELOW or float(product).is_integer():
            return int(math.ceil(product) if up else math.floor(product))
        # the test side rounds up when u >= 1 - frac, the training side when u <= frac:
        # with test_size + train_size == 1 the two counts still sum to n
        return int(math.floor(product + (u if up else 1.0 - u)))

    if test_size is not None:
        n_test = min(n, rounded(test_size * n, up=True))
        n_train = n - n_test if train_size is None else min(
            n - n_test, rounded(train_size * n, up=False))
    else:
        n_train = min(n, rounded(train_size * n, up=False))
        n_test = n - n_train
    return n_train, n_test


def _check_not_empty(counts, test_size, train_size) -> None:
    """Refuse a split whose training or test set would be empty (blocks of one row, say)."""
    for side, name in ((0, "train"), (1, "test")):
        if counts and sum(c[side] for c in counts) == 0:
            n = sum(c[0] + c[1] for c in counts)
            raise ValueError(
                f"With blocks of {sorted({c[0] + c[1] for c in counts})[:5]} rows (n_samples="
                f"{n}), test_size={test_size} and train_size={train_size}, the resulting "
                f"{name} set would be empty: each block rounds its test rows up (its "
                "training rows down) to whole rows. Use larger blocks (rechunk / "
                "repartition), or a "
                f"{'smaller test_size (larger train_size)' if side == 0 else 'larger test_size'}"
                "."
            )


def _block_masks_seed(random_state, n_blocks):
    rs = _check_random_state(random_state)
    return [int(s) for s in rs.randint(np.iinfo(np.int32).max, size=n_blocks)]


#: How a block's rows are chosen and ordered (see :func:`_order`).
_SHUFFLED = "shuffled"  # rows chosen at random, in random order (scikit-learn, dask-ml)
_KEPT = "kept"  # rows chosen at random, kept in their order (dask-ml's DataFrames)
_HEAD = "head"  # the first rows train, the next ones test (scikit-learn's shuffle=False)


def _order(shuffle, frames) -> str:
    """The row order for ``shuffle`` (True, False or None) and inputs with or without frames."""
    if shuffle is None:
        return _KEPT if frames else _SHUFFLED
    if shuffle:
        return _SHUFFLED
    return _KEPT if frames else _HEAD


def _block_indices(n, seed, test_size, train_size, order, u=None):
    """``(train, test)`` row positions of one block of ``n`` rows, in the ``order`` asked.

    ``_SHUFFLED`` and ``_KEPT`` choose the same rows for the same seed; ``_KEPT``
    returns them sorted. ``u``: round the counts as DataFrame partitions do
    (see :func:`_block_counts`).
    """
    n_train, n_test = _block_counts(n, test_size, train_size, u)
    if order == _HEAD:
        # As scikit-learn: the first rows train, the next ones test (the rest is dropped).
        return np.arange(n_train), np.arange(n_train, n_train + n_test)
    idx = np.random.RandomState(seed).permutation(n)
    train, test = idx[n_test:n_test + n_train], idx[:n_test]
    if order == _KEPT:
        return np.sort(train), np.sort(test)
    return train, test


def _take(block, chosen):
    if type(block).__module__.startswith("cupy"):  # pragma: no cover - GPU
        import cupy

        chosen = cupy.asarray(chosen)
    if hasattr(block, "iloc"):
        return block.iloc[chosen]
    return block[chosen]


def _split_array_block(block, seed, test_size, train_size, order, want_test):
    seed = int(np.asarray(seed).ravel()[0])
    train, test = _block_indices(block.shape[0], seed, test_size, train_size, order)
    return _take(block, test if want_test else train)


def _checked_indices(i, seed, u, test_size, train_size, order, *blocks):
    lengths = [int(b.shape[0]) for b in blocks]  # len() of a SciPy sparse matrix raises
    if len(set(lengths)) > 1:
        raise ValueError(
            f"train_test_split: row block {i} has different lengths across the inputs "
            f"({lengths}); the inputs are blocked differently, so their rows cannot be paired. "
            "Rechunk / repartition them alike first, e.g. keep y as a column of the same "
            "DataFrame as X, or build both from one Dask array with the same chunks."
        )
    return _block_indices(lengths[0], seed, test_size, train_size, order, u)


def _row_blocks(arr):
    """One delayed object per row block (arrays get one block across the other axes)."""
    if isinstance(arr, da.Array):
        if arr.ndim > 1 and any(nb > 1 for nb in arr.numblocks[1:]):
            arr = arr.rechunk({ax: -1 for ax in range(1, arr.ndim)})
        return list(arr.to_delayed().ravel()), arr
    return list(arr.to_delayed()), arr


def _split_known(arr, seeds, test_size, train_size, order):
    """Dask arrays with known row chunks: one ``map_blocks`` per side."""
    if arr.ndim > 1 and any(nb > 1 for nb in arr.numblocks[1:]):
        arr = arr.rechunk({ax: -1 for ax in range(1, arr.ndim)})
    counts = [_block_counts(n, test_size, train_size) for n in arr.chunks[0]]
    _check_not_empty(counts, test_size, train_size)
    seed_arr = da.from_array(np.asarray(seeds), chunks=1)
    seed_arr = seed_arr.reshape((len(seeds),) + (1,) * (arr.ndim - 1)) if arr.ndim > 1 else seed_arr
    out = []
    for side, want_test in ((0, False), (1, True)):
        rows = tuple(c[side] for c in counts)
        out.append(da.map_blocks(
            _split_array_block, arr, seed_arr, test_size, train_size, order, want_test,
            chunks=(rows,) + arr.chunks[1:], dtype=arr.dtype, meta=arr._meta,
        ))
    return out


def _split_checked(arrays, draw_seeds, test_size, train_size, order, random_rounding):
    """Some row-block lengths unknown: pair the blocks and check them inside each task.

    Each block's task carries its own seed, so a partition selected or pruned
    later (``.partitions[i]``, ``.loc``) is split as it is in the whole output.
    """
    blocked = [_row_blocks(a) for a in arrays]
    seeds = draw_seeds(len(blocked[0][0]))
    draws = _rounding_draws(seeds) if random_rounding else [None] * len(seeds)
    indices = [
        dask.delayed(_checked_indices, nout=2, pure=True)(
            i, seed, u, test_size, train_size, order, *[b[0][i] for b in blocked])
        for i, (seed, u) in enumerate(zip(seeds, draws, strict=True))
    ]
    out = []
    for blocks, arr in blocked:
        for side in (0, 1):
            parts = [dask.delayed(_take, pure=True)(blk, idx[side])
                     for blk, idx in zip(blocks, indices, strict=True)]
            if isinstance(arr, da.Array):
                if any(math.isnan(n) for n in arr.chunks[0]):
                    rows = [np.nan] * len(parts)
                else:  # its sizes are known, and the task checks the others match them
                    counts = [_block_counts(n, test_size, train_size, u)
                              for n, u in zip(arr.chunks[0], draws, strict=True)]
                    if side == 0:
                        _check_not_empty(counts, test_size, train_size)
                    rows = [c[side] for c in counts]
                part = da.concatenate([
                    da.from_delayed(p, shape=(r,) + arr.shape[1:], dtype=arr.dtype, meta=arr._meta)
                    for p, r in zip(parts, rows, strict=True)
                ], axis=0)
            else:
                # rows keep their partition, so the input's divisions hold for each side
                part = dd.from_delayed(parts, meta=arr._meta,
                                       divisions=_divisions(arr, len(parts)))
            out.append(part)
    return out


def _divisions(frame, n_parts):
    """A frame's divisions when known (to keep them on its splits), else None.

    None as well when Dask lowered the frame to another number of partitions
    (``n_parts``) than it announced.
    """
    if not frame.known_divisions or len(frame.divisions) != n_parts + 1:
        return None
    return tuple(frame.divisions)


def _split_frames_jointly(arrays, draw_seeds, test_size, train_size, order):
    """DataFrames / Series cut from one frame: split as one frame, or None.

    Dask computes each input on its own, and a shuffle (``set_index``,
    ``sort_values`` with ties, ``merge``) orders a partition's rows
    differently each time: split apart, the inputs' rows would no longer
    pair.  Joined into one frame first, each partition is computed once and
    split once, and each output is a projection of the same split frame, which
    ``Incremental`` (and any single ``dask.compute``) computes once.

    Each partition's split task carries that partition's seed (from
    ``from_delayed``, as the array path's seeds are chunked like the data): a
    seed looked up from ``partition_info["number"]`` would be another
    partition's once Dask prunes the partitions (``.partitions[i]``,
    ``get_partition``, ``.loc``, ``tail``), which numbers the ones left from 0.
    """
    from ._blocks import _co_alignment, _joint_layout, _joint_piece

    if not all(isinstance(a, (dd.DataFrame, dd.Series)) for a in arrays):
        return None
    try:
        if not _co_alignment(*(a.expr for a in arrays))[1]:
            return None
    except Exception:  # private helper moved or refused: split each input alone
        return None
    layout = _joint_layout([(f"input {i}", a) for i, a in enumerate(arrays)])
    meta = _join_inputs(*(a._meta for a in arrays), layout=layout)
    joined = dd.map_partitions(_join_inputs, *arrays, layout=layout, align_dataframes=False,
                               meta=meta, enforce_metadata=False)
    parts = joined.to_delayed()
    divisions = _divisions(joined, len(parts))
    seeds = draw_seeds(len(parts))
    split = dask.delayed(_split_frame_partition, nout=2, pure=True)
    pairs = [split(p, seed, u, test_size, train_size, order)
             for p, seed, u in zip(parts, seeds, _rounding_draws(seeds), strict=True)]
    sides = [dd.from_delayed([pair[side] for pair in pairs], meta=meta, divisions=divisions)
             for side in (0, 1)]
    out = []
    for (_, cols, own, is_frame), a in zip(layout, arrays, strict=True):
        for side in sides:
            out.append(side.map_partitions(_joint_piece, cols, own, is_frame, a._meta.index.name,
                                           meta=a._meta, enforce_metadata=False))
    return out


def _join_inputs(*parts, layout, partition_info=None):
    from ._blocks import _attach_pieces

    base = parts[0].iloc[:, :0] if parts[0].ndim == 2 else parts[0].to_frame().iloc[:, :0]
    return _attach_pieces(base, *parts, layout=layout, partition_info=partition_info,
                          keep_index=True)


def _split_frame_partition(part, seed, u, test_size, train_size, order):
    train, test = _block_indices(len(part), seed, test_size, train_size, order, u)
    return part.iloc[train], part.iloc[test]


def train_test_split(*arrays, test_size=None, train_size=None, random_state=None,
                     shuffle=None, blockwise=True, convert_mixed_types=False, **options):
    """Split arrays or DataFrames into random train and test subsets.

    Dask inputs are split *blockwise*: every block keeps its place and sends
    a ``test_size`` fraction of its rows (chosen at random, reproducibly with
    ``random_state``) to the test set, so nothing is moved between workers
    and the block kind (NumPy, CuPy, pandas, cuDF) is kept. In-memory inputs
    go to scikit-learn's :func:`~sklearn.model_selection.train_test_split`.

    Given neither ``test_size`` nor ``train_size``, 10 % of the rows go to the
    test set (``test_size=0.1``), for Dask and in-memory inputs alike. That is
    dask-ml's default; scikit-learn's own function would use 0.25, so pass
    ``test_size=0.25`` to get scikit-learn's split.

    All Dask inputs must share the row blocking (same number of blocks and
    the same length for each block). When every input's block lengths are
    known (Dask arrays) they are compared up front; otherwise (DataFrames,
    arrays with unknown chunks) each block's task checks that the inputs'
    blocks have the same length and raises a ``ValueError`` naming the block
    if not, so rows are never paired wrongly. Rechunk / repartition the inputs
    alike to fix it.

    For Dask inputs ``test_size`` and ``train_size`` must be fractions in
    (0, 1). Both are honoured like scikit-learn, per block: a block of ``n``
    rows of a Dask array sends ``ceil(test_size * n)`` rows to the test set
    and ``floor(train_size * n)`` to the training set (the rest, if the two
    sum to less than 1, is dropped); a sum above 1 is an error. Given one of
    them, the other is the complement; given neither, ``test_size=0.1``.
    A split that would leave the training or the test set empty (blocks of
    one row, say) raises a ``ValueError`` when the block lengths are known.

    DataFrame / Series partitions round the same way when ``test_size * n``
    (or ``train_size * n``) is 100 rows or more. Below that, rounding up
    each partition would inflate the test set (a third of the rows for
    partitions of 3 rows at ``test_size=0.1``), so a partition rounds
    ``test_size * n`` up or down, up in the proportion of its fractional part,
    spread evenly over consecutive partitions (from ``random_state``): the
    test fraction stays ``test_size`` whatever the partition sizes, and 20
    partitions of one row give 1 to 3 test rows, about 2. Partition lengths
    are not known before computing, so a frame too small to give each side a
    row (fewer than about ``1 / test_size`` rows in one-row partitions) can
    come out with an empty side without an error; repartition such a frame
    (``ddf.repartition(npartitions=1)``), or use Dask arrays with known chunks.

    ``shuffle`` decides which rows of a block go where and in what order; it
    means different things for Dask arrays and for DataFrames, as in dask-ml:

    - ``shuffle=True``: the rows of each side are chosen at random and come
      in random order (permuted within their block), as scikit-learn and
      dask-ml return them. All outputs get the same permutation, so X, y and
      the other inputs stay row for row together, and DataFrame index labels
      travel with their rows. A DataFrame's divisions are kept but its index
      is then unsorted within partitions (as after Dask's
      ``random_split(shuffle=True)``), so label slices (``.loc[a:b]``) of the
      outputs may fail.
    - ``shuffle=False`` with Dask arrays: no randomness, as scikit-learn does
      for the whole array: the first rows of each block train and the
      following ones test. (dask-ml refuses ``shuffle=False`` for arrays.)
    - ``shuffle=False`` with DataFrames / Series: the rows are still chosen at
      random, as dask-ml's ``random_split(..., shuffle=False)`` does, but each
      side keeps them in their original order (the same rows as with
      ``shuffle=True``, for the same ``random_state``).
    - ``shuffle=None`` (the default): ``True`` for Dask arrays and in-memory
      inputs; ``False`` for DataFrames / Series, which keeps each partition's
      index sorted (dask-ml's default for DataFrames, without its warning).

    When DataFrames / Series and Dask arrays are split together (without
    ``convert_mixed_types``), the DataFrame meaning applies to all of them, so
    that their rows stay paired.

    Dask DataFrames / Series cut from one frame are split as one frame: each
    partition is computed once and the same rows go to each output, even
    after a shuffle (``set_index``, ``merge``, ``sort_values`` with ties)
    that orders a partition's rows differently each time Dask computes it.
    The outputs keep that pairing when computed together (one
    ``dask.compute``, or ``Incremental``); computed one at a time, each
    recomputes the shuffle.

    ``random_state`` is read as scikit-learn reads it: None draws from NumPy's
    global RandomState (so ``np.random.seed`` makes the split reproducible), an
    int seeds the split, a :class:`numpy.random.RandomState` is drawn from; a
    :class:`numpy.random.Generator` or a float is refused with a
    ``ValueError``. Each block (partition) gets its own seed, carried by its
    own task: a partition selected later (``X_train.partitions[i]``,
    ``get_partition``, ``.loc``, ``tail``) holds the same rows as in the
    whole ``X_train``.

    DataFrame outputs keep the inputs' known divisions (each row stays in its
    partition), whether the inputs are split as one frame or one by one.

    ``blockwise`` must be True or False (as in dask-ml; anything else is a
    ``ValueError``), and True for Dask inputs (the only way they are split);
    other keyword ``options`` (``stratify``, ...) go to scikit-learn for
    in-memory inputs and are refused for Dask inputs.

    ``convert_mixed_types=True`` (as in dask-ml): when Dask arrays and Dask
    DataFrames / Series are given together, the frames are split as Dask
    arrays (``to_dask_array(lengths=True)``: their row counts are computed
    first), so every output is an array with known chunks.

    Returns
    -------
    list
        ``X_train, X_test, y_train, y_test, ...`` as in scikit-learn.

    Examples
    --------
    >>> from gpuinc.datasets import make_classification
    >>> from gpuinc.model_selection import train_test_split
    >>> X, y = make_classification(n_samples=1000, chunks=250, random_state=0)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    >>> X_train.shape, X_test.shape
    ((900, 20), (100, 20))
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array.")
    if test_size is None and train_size is None:
        test_size = _DEFAULT_TEST_SIZE
    if not any(is_dask_collection(a) for a in arrays):
        return _sk_train_test_split(*arrays, test_size=test_size, train_size=train_size,
                                    random_state=random_state,
                                    shuffle=True if shuffle is None else shuffle, **options)
    if options:
        raise TypeError(f"unexpected options for Dask inputs: {sorted(options)}.")
    if blockwise not in (True, False):  # as dask-ml (1 and 0 pass, as there)
        raise ValueError(
            f"blockwise must be True or False, got {blockwise!r}; Dask inputs are split "
            "blockwise (blockwise=True, the default)."
        )
    _check_random_state(random_state)  # refuses a bad one now, whatever the path
    if convert_mixed_types and any(isinstance(a, da.Array) for a in arrays):
        # with their row counts (one pass over the frame's partitions), as dask-ml: the
        # splits then have known chunks, which slicing, len() and stacking need
        arrays = tuple(a.to_dask_array(lengths=True) if isinstance(a, (dd.DataFrame, dd.Series))
                       else a for a in arrays)
    if not blockwise:
        raise NotImplementedError("Only blockwise=True splitting is supported for Dask inputs.")
    if not all(is_dask_collection(a) for a in arrays):
        raise TypeError("Mix of Dask and in-memory inputs; make them all Dask collections.")
    nblocks = {a.numblocks[0] if isinstance(a, da.Array) else a.npartitions for a in arrays}
    if len(nblocks) != 1:
        raise ValueError(
            f"All inputs must have the same number of row blocks, got {sorted(nblocks)}; "
            "rechunk / repartition them alike first (e.g. y.rechunk(X.chunks[0]))."
        )
    known = [tuple(int(n) for n in a.chunks[0]) for a in arrays
             if isinstance(a, da.Array) and not any(math.isnan(n) for n in a.chunks[0])]
    if len(set(known)) > 1:
        raise ValueError(
            f"All inputs must have the same row chunks, got {sorted(set(known))}; "
            "rechunk them alike first (e.g. y.rechunk(X.chunks[0]))."
        )
    test_size, train_size = _check_sizes(test_size, train_size)

    def draw_seeds(n_blocks):  # called once, by the path taken, for its number of blocks
        return _block_masks_seed(random_state, n_blocks)

    frames = any(isinstance(a, (dd.DataFrame, dd.Series)) for a in arrays)
    # One order for all inputs, so that their rows stay paired.
    order = _order(shuffle, frames)
    if len(known) == len(arrays):
        seeds = draw_seeds(nblocks.pop())
        out = []
        for a in arrays:
            out.extend(_split_known(a, seeds, test_size, train_size, order))
        return out
    joint = _split_frames_jointly(arrays, draw_seeds, test_size, train_size, order)
    if joint is not None:
        return joint
    return _split_checked(arrays, draw_seeds, test_size, train_size, order, frames)


__all__ = ["train_test_split"]
