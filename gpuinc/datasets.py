"""Chunked synthetic datasets, reproducible with ``random_state``.

Each row block is generated independently from its own seed (derived from
``random_state`` and the block index), so data of any size is created
lazily, block by block, and the result does not depend on the scheduler.
"""

from __future__ import annotations

import dask.array as da
import numpy as np


def _normalize_row_chunks(n_samples: int, chunks) -> tuple:
    if chunks is None:
        chunks = min(n_samples, 100_000)
    if isinstance(chunks, tuple) and len(chunks) and isinstance(chunks[0], tuple):
        chunks = chunks[0]
    if isinstance(chunks, (int, np.integer)):
        if chunks < 1:
            raise ValueError(f"chunks must be >= 1, got {chunks}.")
        full, rest = divmod(n_samples, int(chunks))
        rows = (int(chunks),) * full + ((rest,) if rest else ())
    else:
        rows = tuple(int(c) for c in chunks)
    if sum(rows) != n_samples:
        raise ValueError(f"chunks {rows} do not add up to n_samples={n_samples}.")
    return rows


def _block_seeds(random_state, n_blocks: int) -> list:
    rs = np.random.RandomState(random_state) if not isinstance(
        random_state, np.random.RandomState) else random_state
    base = int(rs.randint(np.iinfo(np.int32).max))
    return [np.random.SeedSequence([base, i]).generate_state(1)[0] for i in range(n_blocks)]


def _to_device(block, device):
    if device in (None, "cpu"):
        return block
    from ._movers import to_device

    return to_device(block)


def _dask_from_blocks(make_block, rows, n_features, dtype, y_dtype, device, meta_like):
    xs, ys = [], []
    import dask

    for i, n in enumerate(rows):
        pair = dask.delayed(make_block, nout=2, pure=True)(i, n)
        xs.append(da.from_delayed(pair[0], shape=(n, n_features), dtype=dtype, meta=meta_like(2, dtype)))
        ys.append(da.from_delayed(pair[1], shape=(n,), dtype=y_dtype, meta=meta_like(1, y_dtype)))
    return da.concatenate(xs, axis=0), da.concatenate(ys, axis=0)


def _meta_factory(device):
    if device in (None, "cpu"):
        return lambda ndim, dtype: np.empty((0,) * ndim, dtype=dtype)
    import cupy

    return lambda ndim, dtype: cupy.empty((0,) * ndim, dtype=dtype)


def _check_device(device):
    if device not in (None, "cpu", "gpu"):
        raise ValueError(f"device must be 'cpu' or 'gpu', got {device!r}.")


def make_classification(n_samples=100, n_features=20, n_informative=2, n_redundant=2,
                        n_repeated=0, n_classes=2, n_clusters_per_class=2, weights=None,
                        flip_y=0.01, class_sep=1.0, hypercube=True, shift=0.0, scale=1.0,
                        shuffle=True, random_state=None, chunks=None, dtype="float64",
                        device=None):
    """A random classification problem as chunked Dask arrays ``(X, y)``.

    The parameters mean what they mean in
    :func:`sklearn.datasets.make_classification`. The class structure
    (cluster centres, informative directions) is shared by all blocks; rows are
    drawn block by block. ``device="gpu"`` gives CuPy blocks.

    Examples
    --------
    >>> from gpuinc.datasets import make_classification
    >>> X, y = make_classification(n_samples=1000, n_features=5, chunks=250, random_state=0)
    >>> X.numblocks, y.shape
    ((4, 1), (1000,))
    """
    _check_device(device)
    rows = _normalize_row_chunks(n_samples, chunks)
    seeds = _block_seeds(random_state, len(rows))
    structure_seed = int(np.random.RandomState(random_state).randint(np.iinfo(np.int32).max)) \
        if not isinstance(random_state, np.random.RandomState) else int(random_state.randint(2**31 - 1))
    # The class structure (centroids, covariances, redundant mixing) is drawn once and
    # shared by every block; rows are drawn per block from the block's own seed.
    params = dict(n_features=n_features, n_informative=n_informative, n_redundant=n_redundant,
                  n_repeated=n_repeated, n_classes=n_classes,
                  n_clusters_per_class=n_clusters_per_class, weights=weights, flip_y=flip_y,
                  class_sep=class_sep, hypercube=hypercube, shift=shift, scale=scale,
                  shuffle=shuffle)

    model = _ClassificationModel(structure_seed, params)  # validates the parameters now

    def make_block(i, n):
        X, y = model(seeds[i], n)
        return _to_device(X.astype(dtype, copy=False), device), _to_device(y.astype("int64"), device)

    return _dask_from_blocks(make_block, rows, n_features, np.dtype(dtype), np.dtype("int64"),
                             device, _meta_factory(device))


class _ClassificationModel:
    """Gaussian clusters on hypercube vertices, as in scikit-learn's generator."""

    def __init__(self, seed, p):
        rs = np.random.RandomState(seed)
        n_inf, n_red, n_rep = p["n_informative"], p["n_redundant"], p["n_repeated"]
        n_classes, cpc = p["n_classes"], p["n_clusters_per_class"]
        if n_inf + n_red + n_rep > p["n_features"]:
            raise ValueError("n_informative + n_redundant + n_repeated must be <= n_features.")
        if n_classes * cpc > 2**n_inf:
            raise ValueError(
                "n_classes * n_clusters_per_class must be <= 2**n_informative; raise "
                "n_informative or lower n_clusters_per_class."
            )
        self.p = p
        n_clusters = n_classes * cpc
        weights = p["weights"]
        if weights is None:
            weights = [1.0 / n_classes] * n_classes
        else:
            weights = list(weights)
            if len(weights) == n_classes - 1:
                weights.append(1.0 - sum(weights))
        self.cluster_probs = np.repeat(np.asarray(weights) / cpc, cpc)
        self.cluster_probs /= self.cluster_probs.sum()
        centroids = _hypercube_vertices(n_clusters, n_inf, rs).astype(float)
        centroids *= 2 * p["class_sep"]
        centroids -= p["class_sep"]
        if not p["hypercube"]:
            centroids *= rs.uniform(size=(n_clusters, 1))
            centroids *= rs.uniform(size=(1, n_inf))
        self.centroids = centroids
        self.covariances = [2 * rs.uniform(size=(n_inf, n_inf)) - 1 for _ in range(n_clusters)]
        self.redundant = 2 * rs.uniform(size=(n_inf, n_red)) - 1
        self.repeat_idx = ((n_inf + n_red - 1) * rs.uniform(size=n_rep) + 0.5).astype(np.intp)
        n_useless = p["n_features"] - n_inf - n_red - n_rep
        self.n_useless = n_useless
        shift, scale = p["shift"], p["scale"]
        self.shift = (2 * rs.uniform(size=p["n_features"]) - 1) * p["class_sep"] if shift is None else shift
        self.scale = 1 + 100 * rs.uniform(size=p["n_features"]) if scale is None else scale
        self.permutation = rs.permutation(p["n_features"])

    def __call__(self, seed, n):
        p, rs = self.p, np.random.RandomState(seed)
        n_inf, cpc = p["n_informative"], p["n_clusters_per_class"]
        cluster = rs.choice(len(self.cluster_probs), size=n, p=self.cluster_probs)
        X_inf = rs.standard_normal(size=(n, n_inf))
        out = np.empty((n, n_inf), dtype=float)
        for k in range(len(self.cluster_probs)):
            mask = cluster == k
            out[mask] = X_inf[mask] @ self.covariances[k] + self.centroids[k]
        y = cluster // cpc
        parts = [out, out @ self.redundant]
        if len(self.repeat_idx):
            parts.append(np.concatenate(parts, axis=1)[:, self.repeat_idx])
        if self.n_useless:
            parts.append(rs.standard_normal(size=(n, self.n_useless)))
        X = np.concatenate(parts, axis=1)
        if p["flip_y"] > 0:
            flip = rs.uniform(size=n) < p["flip_y"]
            y[flip] = rs.randint(p["n_classes"], size=int(flip.sum()))
        X += self.shift
        X *= self.scale
        if p["shuffle"]:
            X = X[:, self.permutation]
        return X, y


def _hypercube_vertices(n_vertices, dimensions, rs):
    """Distinct random vertices of the unit hypercube (as 0/1 rows)."""
    if dimensions > 30:
        return np.hstack([rs.randint(2, size=(n_vertices, dimensions - 30)),
                          _hypercube_vertices(n_vertices, 30, rs)])
    picks = rs.choice(2**dimensions, n_vertices, replace=False)
    bits = ((picks[:, None] >> np.arange(dimensions)) & 1).astype(float)
    return bits


def make_regression(n_samples=100, n_features=100, n_informative=10, n_targets=1, bias=0.0,
                    effective_rank=None, tail_strength=0.5, noise=0.0, shuffle=True, coef=False,
                    random_state=None, chunks=None, dtype="float64", device=None):
    """A random linear regression problem as chunked Dask arrays ``(X, y)``.

    Parameters follow :func:`sklearn.datasets.make_regression` (``effective_rank``
    is not supported: rows are drawn independently per block). With
    ``coef=True`` the true coefficients are returned as a third value.

    Examples
    --------
    >>> from gpuinc.datasets import make_regression
    >>> X, y = make_regression(n_samples=1000, n_features=5, chunks=500, random_state=0)
    >>> X.chunks[0]
    (500, 500)
    """
    _check_device(device)
    if effective_rank is not None:
        raise ValueError("effective_rank is not supported for chunked data; leave it None.")
    rows = _normalize_row_chunks(n_samples, chunks)
    seeds = _block_seeds(random_state, len(rows))
    rs = np.random.RandomState(random_state) if not isinstance(
        random_state, np.random.RandomState) else random_state
    n_informative = min(n_features, n_informative)
    ground_truth = np.zeros((n_features, n_targets))
    ground_truth[:n_informative, :] = 100 * rs.uniform(size=(n_informative, n_targets))
    permutation = rs.permutation(n_features) if shuffle else np.arange(n_features)
    true_coef = ground_truth[permutation]

    def make_block(i, n):
        brs = np.random.RandomState(seeds[i])
        X = brs.standard_normal(size=(n, n_features))
        y = X @ true_coef + bias
        if noise > 0:
            y += brs.normal(scale=noise, size=y.shape)
        y = y[:, 0] if n_targets == 1 else y
        return _to_device(X.astype(dtype, copy=False), device), _to_device(y.astype(dtype), device)

    X, y = _dask_from_blocks(make_block, rows, n_features, np.dtype(dtype), np.dtype(dtype),
                             device, _meta_factory(device))
    if n_targets != 1:
        raise ValueError("n_targets > 1 is not supported for chunked data yet; use n_targets=1.")
    if coef:
        return X, y, np.squeeze(true_coef)
    return X, y


__all__ = ["make_classification", "make_regression"]
