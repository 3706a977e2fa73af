"""Chunked synthetic datasets, reproducible with ``random_state``.

Each row block is generated independently from its own seed (derived from
``random_state`` and the block index), so data of any size is created
lazily, block by block, and the result does not depend on the scheduler.
"""

from __future__ import annotations

import numbers

import cloudpickle
import dask
import dask.array as da
import numpy as np


def _normalize_row_chunks(n_samples: int, chunks, n_features: int = 1, dtype="float64") -> tuple:
    """Row chunks of ``X``, through :func:`dask.array.core.normalize_chunks` as in dask-ml.

    ``chunks`` may be an int (rows per block), a blockshape tuple such as
    ``(100, 5)``, explicit chunks ``((500, 500), (5,))``, ``"auto"`` or ``-1``
    (one block). Only the row chunks are used: column chunks are ignored and
    ``X`` always has a single block across its features.
    """
    from dask.array.core import normalize_chunks

    n_samples = _check_n_samples(n_samples)
    if chunks is None:
        chunks = min(n_samples, 100_000)
    if isinstance(chunks, tuple) and len(chunks) == 1 and isinstance(chunks[0], tuple):
        chunks = (chunks[0], -1)  # ((rows...),): explicit row chunks only
    row_chunk = chunks[0] if isinstance(chunks, (tuple, list)) and chunks else chunks
    if isinstance(row_chunk, (int, np.integer)) and not isinstance(row_chunk, bool) \
            and row_chunk != -1 and row_chunk < 1:
        raise ValueError(
            f"chunks must give >= 1 rows per block (or -1 for one block), got {chunks!r}; "
            f"pass e.g. chunks={min(n_samples, 100_000)} (rows per block)."
        )
    try:
        rows = normalize_chunks(chunks, (n_samples, max(int(n_features), 1)),
                                dtype=np.dtype(dtype))[0]
    except (ValueError, TypeError, ZeroDivisionError) as e:
        raise ValueError(
            f"Invalid chunks={chunks!r} for n_samples={n_samples}, n_features={n_features}: {e}"
        ) from e
    return tuple(int(c) for c in rows)


def _check_n_samples(n_samples) -> int:
    """``n_samples`` as an int >= 1; whole floats such as ``1e4`` are accepted (as in dask-ml)."""
    if isinstance(n_samples, (float, np.floating)):
        if not float(n_samples).is_integer():
            raise ValueError(
                f"n_samples must be a whole number of rows, got {n_samples!r}; pass an int "
                "or a whole float such as 1e4."
            )
        n_samples = int(n_samples)
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) \
            or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    return int(n_samples)


def _check_count(name: str, value, minimum=None) -> None:
    """Refuse a count that is not an int (scikit-learn refuses ``10.0`` too), naming it.

    With ``minimum``, smaller values are refused as well; without it the caller
    checks the range.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        whole = isinstance(value, (float, np.floating)) and float(value).is_integer()
        raise ValueError(
            f"{name} must be an integer, got {value!r} ({type(value).__name__})"
            + (f"; pass {name}={int(value)}." if whole else ".")
        )
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def _check_random_state(random_state) -> np.random.RandomState:
    """``random_state`` as a :class:`numpy.random.RandomState`, as scikit-learn's
    :func:`~sklearn.utils.check_random_state` reads it.

    None is NumPy's global RandomState (so ``np.random.seed`` makes runs
    reproducible, as in scikit-learn and dask-ml), an int seeds a new one, and
    a RandomState is used as it is (each call draws from it). Anything else,
    a :class:`numpy.random.Generator` included (scikit-learn refuses it too),
    is refused with a ``ValueError`` that says what is accepted.
    """
    from sklearn.utils import check_random_state

    if (random_state is None or random_state is np.random
            or isinstance(random_state, (numbers.Integral, np.random.RandomState))):
        return check_random_state(random_state)  # (bools too, as an int)
    hint = (" For a numpy.random.Generator, pass an int drawn from it, e.g. "
            "random_state=int(rng.integers(2**31))."
            if isinstance(random_state, np.random.Generator) else "")
    raise ValueError(
        f"random_state must be None, an int or a numpy.random.RandomState (as in "
        f"scikit-learn), got {random_state!r} ({type(random_state).__name__}).{hint}"
    )


def _block_seeds(random_state, n_blocks: int) -> list:
    rs = _check_random_state(random_state)
    base = int(rs.randint(np.iinfo(np.int32).max))
    return [np.random.SeedSequence([base, i]).generate_state(1)[0] for i in range(n_blocks)]


def _to_device(block, device):
    if device in (None, "cpu"):
        return block
    from ._movers import to_device

    return to_device(block)


class _BlockMaker:
    """What all row blocks share (the class structure, the coefficients), drawn once.

    Called with a block's seed and row count, it draws that block's ``(X, y)``
    with ``draw`` and casts and moves them.
    """

    def __init__(self, draw, dtype, y_dtype, device):
        self.draw, self.dtype, self.y_dtype, self.device = draw, dtype, y_dtype, device
        self._token = None

    def __dask_tokenize__(self):
        # computed once (a pickle of the shared model), not once per block's task
        if self._token is None:
            from dask.base import tokenize

            self._token = tokenize(type(self).__name__, cloudpickle.dumps(
                (self.draw, self.dtype, self.y_dtype, self.device)))
        return self._token

    def __getstate__(self):
        return {**self.__dict__, "_token": None}

    def __call__(self, seed, n):
        X, y = self.draw(seed, n)
        return (_to_device(X.astype(self.dtype, copy=False), self.device),
                _to_device(y.astype(self.y_dtype, copy=False), self.device))


def _make_block(maker, seed, n):
    return maker(seed, n)


def _dask_from_blocks(maker, seeds, rows, n_features, meta_like, y_columns=None):
    """X and y from ``maker(seeds[i], n)`` for each row block of ``n`` rows.

    Each block's task carries ``maker`` (the shared model, tokenized once) with
    its own seed and row count, so building the graph takes time linear in the
    number of blocks (the list of all seeds is neither tokenized nor pickled
    with each task), and the blocks depend on no common task: gpuinc trains
    such independent blocks in one task per pass. y has ``y_columns`` columns
    (None: 1-D).
    """
    y_ndim = 1 if y_columns is None else 2
    make = dask.delayed(_make_block, nout=2, pure=True)
    x_meta, y_meta = meta_like(2, maker.dtype), meta_like(y_ndim, maker.y_dtype)
    xs, ys = [], []
    for seed, n in zip(seeds, rows, strict=True):
        pair = make(maker, int(seed), n)
        xs.append(da.from_delayed(pair[0], shape=(n, n_features), dtype=maker.dtype,
                                  meta=x_meta))
        y_shape = (n,) if y_columns is None else (n, y_columns)
        ys.append(da.from_delayed(pair[1], shape=y_shape, dtype=maker.y_dtype, meta=y_meta))
    return da.concatenate(xs, axis=0), da.concatenate(ys, axis=0)


def _meta_factory(device):
    if device in (None, "cpu"):
        return lambda ndim, dtype: np.empty((0,) * ndim, dtype=dtype)
    from ._optional import import_optional

    cupy = import_optional("cupy", "gpu-cu12")  # a message that names the install

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
    drawn block by block.

    ``dtype`` (default ``"float64"``) is the dtype of ``X``; ``y`` is always
    ``int64``. ``device`` is where the blocks live: None or ``"cpu"`` gives
    NumPy blocks, ``"gpu"`` CuPy blocks (each block is drawn on the host and
    copied to the current CUDA device when it is computed; needs CuPy).

    ``chunks`` goes through :func:`dask.array.core.normalize_chunks` with
    shape ``(n_samples, n_features)`` as in dask-ml: an int (rows per block),
    a blockshape such as ``(100, 5)``, explicit chunks, ``"auto"`` or ``-1``
    (one block); the default is blocks of up to 100,000 rows. Column chunks
    are ignored: ``X`` always has one block across its features.
    ``n_samples`` must be at least 1; a whole float such as ``1e4`` is
    accepted (as in dask-ml). The other counts (``n_features``,
    ``n_informative``, ``n_classes``, ...) must be ints, as in scikit-learn.
    ``weights`` must have ``n_classes`` or ``n_classes - 1`` entries (checked
    at call time, as in scikit-learn); ``flip_y`` must be in [0, 1] and
    ``class_sep`` above 0, as in scikit-learn.

    ``random_state`` is read as scikit-learn reads it: None draws from NumPy's
    global RandomState (``np.random.seed`` makes the data reproducible), an
    int gives the same data each time, a :class:`numpy.random.RandomState` is
    drawn from; a :class:`numpy.random.Generator` (refused by scikit-learn too)
    or a float is refused with a ``ValueError``. For a given ``random_state``
    and ``chunks`` the data does not depend on the scheduler; other ``chunks``
    give other rows (each block draws its rows from its own seed).

    As in scikit-learn, cluster ``k`` is labelled ``k % n_classes`` (and its
    rows are drawn in proportion to ``weights[k % n_classes]``),
    and when the clusters take every vertex of the ``n_informative``-cube
    (the defaults: 2 classes x 2 clusters on the 4 vertices of a square)
    cluster ``k`` sits on vertex ``k`` in binary order, so each class is a
    face of the cube: the classes are separated by a hyperplane (up to the
    clusters' spread and ``flip_y``) whatever ``random_state`` is. With fewer
    clusters than vertices, the vertices are a random subset in random order.

    Examples
    --------
    >>> from gpuinc.datasets import make_classification
    >>> X, y = make_classification(n_samples=1000, n_features=5, chunks=250, random_state=0)
    >>> X.numblocks, y.shape
    ((4, 1), (1000,))
    """
    _check_device(device)
    n_samples = _check_n_samples(n_samples)
    _check_count("n_features", n_features, 1)
    for name, value in (("n_informative", n_informative), ("n_redundant", n_redundant),
                        ("n_repeated", n_repeated)):
        _check_count(name, value, 0)
    _check_count("n_classes", n_classes)  # the range is checked with the class structure
    _check_count("n_clusters_per_class", n_clusters_per_class)
    rows = _normalize_row_chunks(n_samples, chunks, n_features, dtype)
    if not 0.0 <= flip_y <= 1.0:
        raise ValueError(
            f"flip_y must be a fraction in [0, 1] (as in scikit-learn), got {flip_y!r}.")
    if not class_sep > 0:
        raise ValueError(
            f"class_sep must be > 0 (as in scikit-learn), got {class_sep!r}.")
    seeds = _block_seeds(random_state, len(rows))
    # an int seeds both draws alike; a RandomState (None: NumPy's global one) draws twice
    structure_seed = int(_check_random_state(random_state).randint(np.iinfo(np.int32).max))
    # The class structure (centroids, covariances, redundant mixing) is drawn once and
    # shared by every block; rows are drawn per block from the block's own seed.
    params = dict(n_features=n_features, n_informative=n_informative, n_redundant=n_redundant,
                  n_repeated=n_repeated, n_classes=n_classes,
                  n_clusters_per_class=n_clusters_per_class, weights=weights, flip_y=flip_y,
                  class_sep=class_sep, hypercube=hypercube, shift=shift, scale=scale,
                  shuffle=shuffle)

    model = _ClassificationModel(structure_seed, params)  # validates the parameters now
    maker = _BlockMaker(model, np.dtype(dtype), np.dtype("int64"), device)
    return _dask_from_blocks(maker, seeds, rows, n_features, _meta_factory(device))


class _ClassificationModel:
    """Gaussian clusters on hypercube vertices, as in scikit-learn's generator."""

    def __init__(self, seed, p):
        rs = np.random.RandomState(seed)
        n_inf, n_red, n_rep = p["n_informative"], p["n_redundant"], p["n_repeated"]
        n_classes, cpc = p["n_classes"], p["n_clusters_per_class"]
        if n_inf + n_red + n_rep > p["n_features"]:
            raise ValueError("n_informative + n_redundant + n_repeated must be <= n_features.")
        if n_classes < 1 or cpc < 1:
            raise ValueError(
                f"n_classes and n_clusters_per_class must be >= 1, got {n_classes} and {cpc}."
            )
        if n_classes * cpc > 2**n_inf:
            raise ValueError(
                "n_classes * n_clusters_per_class must be <= 2**n_informative; raise "
                "n_informative or lower n_clusters_per_class."
            )
        self.p = p
        n_clusters = n_classes * cpc
        weights = p["weights"]
        if weights is not None and len(weights) not in (n_classes, n_classes - 1):
            raise ValueError("Weights specified but incompatible with number of classes.")
        if weights is None:
            weights = [1.0 / n_classes] * n_classes
        else:
            weights = list(weights)
            if len(weights) == n_classes - 1:
                weights.append(1.0 - sum(weights))
            if any(not w >= 0 for w in weights) or sum(weights) <= 0:
                raise ValueError(
                    f"weights must be class proportions >= 0 (with n_classes - 1 of them, "
                    f"summing to at most 1), got {p['weights']!r}."
                )
        # As scikit-learn: cluster k belongs to class k % n_classes (see __call__).
        self.cluster_probs = np.asarray(weights, dtype=float)[np.arange(n_clusters) % n_classes]
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
        n_inf = p["n_informative"]
        cluster = rs.choice(len(self.cluster_probs), size=n, p=self.cluster_probs)
        X_inf = rs.standard_normal(size=(n, n_inf))
        out = np.empty((n, n_inf), dtype=float)
        for k in range(len(self.cluster_probs)):
            mask = cluster == k
            out[mask] = X_inf[mask] @ self.covariances[k] + self.centroids[k]
        y = cluster % p["n_classes"]  # scikit-learn's labels: with all vertices, a cube face
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
    """Distinct vertices of the unit hypercube (as 0/1 rows).

    Row ``k`` is vertex ``k`` written in binary, most significant bit first
    (as in scikit-learn). Asked for all ``2**dimensions`` vertices, they come
    in that order, ``0 .. 2**dimensions - 1``, and ``rs`` is not used, as with
    scikit-learn's sampler: so the labels ``k % n_classes`` make each class a
    face of the cube. Asked for fewer, a random subset comes in random order:
    up to 20 dimensions drawn as distinct integers with ``rs.choice`` (that
    permutes ``2**dimensions`` values, at most 8 MiB); beyond that random 0/1
    rows are drawn and duplicates redrawn, so memory stays
    ``O(n_vertices * dimensions)`` whatever ``dimensions`` is.
    """
    if dimensions <= 20 or n_vertices == 2**dimensions:
        picks = (np.arange(n_vertices) if n_vertices == 2**dimensions
                 else rs.choice(2**dimensions, n_vertices, replace=False))
        return ((picks[:, None] >> np.arange(dimensions - 1, -1, -1)) & 1).astype(float)
    seen, rows = set(), []
    while len(rows) < n_vertices:
        for row in rs.randint(2, size=(n_vertices - len(rows), dimensions)).astype(np.uint8):
            key = row.tobytes()
            if key not in seen:
                seen.add(key)
                rows.append(row)
    return np.asarray(rows, dtype=float).reshape(n_vertices, dimensions)


def _low_rank_basis(rs, n_features: int, rank: int, effective_rank: int,
                    tail_strength: float) -> np.ndarray:
    """``diag(s) V^T`` (rank x n_features) of scikit-learn's low-rank, fat-tail profile.

    V has orthonormal columns; singular value ``i`` is
    ``(1 - tail) exp(-(i / effective_rank)^2) + tail exp(-0.1 i / effective_rank)``.
    """
    v, _ = np.linalg.qr(rs.standard_normal(size=(n_features, rank)))
    i = np.arange(rank, dtype=np.float64) / effective_rank
    s = (1.0 - tail_strength) * np.exp(-(i**2)) + tail_strength * np.exp(-0.1 * i)
    return s[:, None] * v.T


def make_regression(n_samples=100, n_features=100, n_informative=10, n_targets=1, bias=0.0,
                    effective_rank=None, tail_strength=0.5, noise=0.0, shuffle=True, coef=False,
                    random_state=None, chunks=None, dtype="float64", device=None):
    """A random linear regression problem as chunked Dask arrays ``(X, y)``.

    Parameters follow :func:`sklearn.datasets.make_regression`. With
    ``coef=True`` the true coefficients are returned as a third value.
    ``effective_rank`` gives X scikit-learn's low-rank singular profile with a
    fat tail (weighted by ``tail_strength``): X = Z diag(s) V^T, with V drawn
    once and each block's rows of Z drawn independently from N(0, 1/n_samples),
    so that Z's columns are orthonormal up to sampling error instead of
    exactly, as they are in scikit-learn's one-piece matrix.
    With ``n_targets > 1``, y is 2-D (rows x targets), chunked by rows like X.
    ``n_samples`` may be a whole float such as ``1e4`` (as in dask-ml); the
    other counts must be ints, as in scikit-learn. ``random_state`` is read
    as in :func:`make_classification` (None: NumPy's global RandomState).
    ``chunks`` is read as in :func:`make_classification` (only row chunks are
    used). ``dtype`` (default ``"float64"``) is the dtype of both ``X`` and
    ``y``. ``device``: None or ``"cpu"`` gives NumPy blocks, ``"gpu"`` CuPy
    blocks, as in :func:`make_classification`.

    Examples
    --------
    >>> from gpuinc.datasets import make_regression
    >>> X, y = make_regression(n_samples=1000, n_features=5, chunks=500, random_state=0)
    >>> X.chunks[0]
    (500, 500)
    """
    _check_device(device)
    n_samples = _check_n_samples(n_samples)
    _check_count("n_features", n_features, 1)
    _check_count("n_informative", n_informative, 0)
    if not isinstance(n_targets, (int, np.integer)) or n_targets < 1:
        raise ValueError(f"n_targets must be a positive integer, got {n_targets!r}.")
    if effective_rank is not None and (
            isinstance(effective_rank, bool) or not isinstance(effective_rank, (int, np.integer))
            or effective_rank < 1):
        raise ValueError(
            f"effective_rank must be a positive integer or None, got {effective_rank!r}.")
    if not 0.0 <= float(tail_strength) <= 1.0:
        raise ValueError(f"tail_strength must be between 0 and 1, got {tail_strength!r}.")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0 (the standard deviation), got {noise!r}.")
    rows = _normalize_row_chunks(n_samples, chunks, n_features, dtype)
    seeds = _block_seeds(random_state, len(rows))
    rs = _check_random_state(random_state)
    n_informative = min(n_features, n_informative)
    ground_truth = np.zeros((n_features, n_targets))
    ground_truth[:n_informative, :] = 100 * rs.uniform(size=(n_informative, n_targets))
    permutation = rs.permutation(n_features) if shuffle else np.arange(n_features)
    true_coef = ground_truth[permutation]
    basis = None
    if effective_rank is not None:
        rank = min(n_samples, n_features)
        basis = _low_rank_basis(rs, n_features, rank, effective_rank, tail_strength)

    draw = _RegressionModel(n_features, basis, n_samples, true_coef, bias, noise, n_targets)
    maker = _BlockMaker(draw, np.dtype(dtype), np.dtype(dtype), device)
    X, y = _dask_from_blocks(maker, seeds, rows, n_features, _meta_factory(device),
                             y_columns=None if n_targets == 1 else n_targets)
    if coef:
        return X, y, np.squeeze(true_coef)
    return X, y


class _RegressionModel:
    """The coefficients (and low-rank basis) shared by all blocks; draws a block's rows."""

    def __init__(self, n_features, basis, n_samples, true_coef, bias, noise, n_targets):
        self.n_features, self.basis, self.n_samples = n_features, basis, n_samples
        self.true_coef, self.bias, self.noise, self.n_targets = true_coef, bias, noise, n_targets

    def __call__(self, seed, n):
        brs = np.random.RandomState(seed)
        if self.basis is None:
            X = brs.standard_normal(size=(n, self.n_features))
        else:
            X = brs.standard_normal(size=(n, self.basis.shape[0])) @ self.basis \
                / np.sqrt(self.n_samples)
        y = X @ self.true_coef + self.bias
        if self.noise > 0:
            y += brs.normal(scale=self.noise, size=y.shape)
        return X, (y[:, 0] if self.n_targets == 1 else y)


__all__ = ["make_classification", "make_regression"]
