"""Blockwise train/test splitting that keeps data where it is."""

from __future__ import annotations

import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
from sklearn.model_selection import train_test_split as _sk_train_test_split

from ._blocks import is_dask_collection


def _fraction(test_size, train_size):
    if test_size is None and train_size is None:
        return 0.25
    if test_size is None:
        if not 0 < train_size < 1:
            raise ValueError("train_size must be a fraction in (0, 1) for Dask inputs.")
        return 1 - train_size
    if not 0 < test_size < 1:
        raise ValueError(
            f"test_size must be a fraction in (0, 1) for Dask inputs, got {test_size}; absolute "
            "counts would need the row count of every block."
        )
    return test_size


def _block_masks_seed(random_state, n_blocks):
    rs = np.random.RandomState(random_state) if not isinstance(
        random_state, np.random.RandomState) else random_state
    return [int(s) for s in rs.randint(np.iinfo(np.int32).max, size=n_blocks)]


def _split_array_block(block, seed, test_fraction, shuffle, want_test):
    n = block.shape[0]
    rs = np.random.RandomState(seed)
    n_test = int(np.ceil(test_fraction * n))
    idx = rs.permutation(n) if shuffle else np.arange(n)
    chosen = np.sort(idx[:n_test]) if want_test else np.sort(idx[n_test:])
    if type(block).__module__.startswith("cupy"):  # pragma: no cover - GPU
        import cupy

        chosen = cupy.asarray(chosen)
    if hasattr(block, "iloc"):
        return block.iloc[chosen]
    return block[chosen]


def _split_dask(arr, seeds, test_fraction, shuffle):
    out = []
    for want_test in (False, True):
        if isinstance(arr, da.Array):
            rows = tuple(
                (n - int(np.ceil(test_fraction * n))) if not want_test else int(np.ceil(test_fraction * n))
                for n in arr.chunks[0]
            ) if not any(np.isnan(arr.chunks[0])) else (np.nan,) * arr.numblocks[0]
            seed_arr = da.from_array(np.asarray(seeds), chunks=1)
            chunks = (rows,) + arr.chunks[1:]
            if arr.ndim == 2 and arr.numblocks[1] > 1:
                arr = arr.rechunk({1: -1})
                chunks = (rows,) + arr.chunks[1:]
            part = da.map_blocks(
                _split_array_block_arr, arr, seed_arr if arr.ndim == 1 else seed_arr[:, None],
                test_fraction, shuffle, want_test, chunks=chunks, dtype=arr.dtype, meta=arr._meta,
            )
        else:
            parts = [
                dask.delayed(_split_array_block)(d, seeds[i], test_fraction, shuffle, want_test)
                for i, d in enumerate(arr.to_delayed())
            ]
            part = dd.from_delayed(parts, meta=arr._meta, verify_meta=False)
        out.append(part)
    return out


def _split_array_block_arr(block, seed, test_fraction, shuffle, want_test):
    return _split_array_block(block, int(np.asarray(seed).ravel()[0]), test_fraction, shuffle, want_test)


def train_test_split(*arrays, test_size=None, train_size=None, random_state=None,
                     shuffle=True, blockwise=True, **options):
    """Split arrays or DataFrames into random train and test subsets.

    Dask inputs are split *blockwise*: every block keeps its place and sends
    a ``test_size`` fraction of its rows (chosen at random, reproducibly with
    ``random_state``) to the test set, so nothing is moved between workers
    and the block kind (NumPy, CuPy, pandas, cuDF) is kept. All Dask inputs
    must share the row blocking. In-memory inputs go to scikit-learn's
    :func:`~sklearn.model_selection.train_test_split`.

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
    ((748, 20), (252, 20))
    """
    if not arrays:
        raise ValueError("train_test_split needs at least one array.")
    if not any(is_dask_collection(a) for a in arrays):
        return _sk_train_test_split(*arrays, test_size=test_size, train_size=train_size,
                                    random_state=random_state, shuffle=shuffle, **options)
    if options:
        raise TypeError(f"unexpected options for Dask inputs: {sorted(options)}.")
    if not blockwise:
        raise NotImplementedError("Only blockwise=True splitting is supported for Dask inputs.")
    if not all(is_dask_collection(a) for a in arrays):
        raise TypeError("Mix of Dask and in-memory inputs; make them all Dask collections.")
    nblocks = {a.numblocks[0] if isinstance(a, da.Array) else a.npartitions for a in arrays}
    if len(nblocks) != 1:
        raise ValueError(
            f"All inputs must have the same number of row blocks, got {sorted(nblocks)}; "
            "rechunk them alike first (e.g. y.rechunk(X.chunks[0]))."
        )
    sizes = [a.chunks[0] for a in arrays if isinstance(a, da.Array)]
    if len(set(sizes)) > 1:
        raise ValueError(
            "All Dask arrays must have the same row chunks; rechunk y to X's chunks "
            "(y.rechunk(X.chunks[0]))."
        )
    test_fraction = _fraction(test_size, train_size)
    seeds = _block_masks_seed(random_state, nblocks.pop())
    out = []
    for a in arrays:
        out.extend(_split_dask(a, seeds, test_fraction, shuffle))
    return out


__all__ = ["train_test_split"]
