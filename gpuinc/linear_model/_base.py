"""Shared machinery of the mini-batch SGD estimators.

``BaseSGD`` holds everything that does not depend on the task: parameter
checks, input validation for host and device arrays, the learning-rate
schedule, and the mini-batch loop.  Subclasses turn ``y`` into a target matrix
``T`` of shape (n_samples, k) and pick the loss; the loop then sees only
arrays of one namespace and runs one matrix product forward and one backward
per mini-batch, whatever ``k`` is.
"""

from __future__ import annotations

import contextlib
import functools
import math
import numbers
import sys
import warnings
from types import ModuleType
from typing import Any

import numpy as np
import scipy.sparse as sp
from dask import is_dask_collection
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .._array_api import aligned as _aligned
from .._array_api import (
    device,
    get_namespace,
    is_numpy_namespace,
    namespace_name,
    same_namespace,
    to_namespace,
    to_numpy,
)
from .._optional import is_cudf_object, is_cupyx_sparse
from .._params import check_random_state_param
from . import _fused
from ._scratch import scratch
from ._shuffle import draw_keys, shuffle_order

# batch_size="auto": 1024-row batches on large inputs, but at least 16 updates
# per pass on small ones (fit on a few hundred rows would otherwise make one
# full-batch step per pass).
AUTO_BATCH_MAX = 1024
AUTO_MIN_UPDATES = 16
#: Under 'optimal', without ``average``, a mini-batch of ``m`` rows under a squared
#: loss steps at most ``m / (QUIET_BATCH_ROWS * c * mean squared row norm of the
#: batch)`` (see ``BaseSGD._batch_caps``): the noise an update adds to the iterate
#: grows with step / m.  Measured on noisy streams of 1- to 100-row blocks (20
#: features): at the largest stable step the test R^2 stayed 0.08-0.34 below the
#: least-squares optimum, at 8 0.013-0.02, at 32 within 0.004-0.005.
QUIET_BATCH_ROWS = 32
#: Under 'optimal', a loss without a scale (the perceptron: no curvature, no
#: margin) steps ``m * e`` along a mini-batch's mean gradient, as scikit-learn's
#: ``m`` per-sample steps would, up to ``SCALE_FREE_SHRINK / alpha``: the step at
#: which one update's L2 shrinkage, ``1 - step * alpha``, would keep only half of
#: the weights.  A unit smoothness, as for the hinge, held each update to about
#: one sample's step: the weights stayed ``m`` times too small, and the absolute
#: ``tol`` then ended the fit long before it separated the classes.
SCALE_FREE_SHRINK = 0.5
#: Rows (spread over the data) from which the 'optimal' schedule estimates the
#: scale of the data: mean squared row norm and top eigenvalue (see ``_step_caps``).
CAP_SAMPLE_ROWS = 4096
#: A pass of ``fit`` whose mean training loss exceeds this many times both that
#: of the first pass and that of the all-zero model is a diverging fit (see
#: ``BaseSGD._check_loss``).
LOSS_BLOWUP = 1e6
#: Power-method steps of that eigenvalue estimate (many features), from a start
#: vector drawn with a fixed seed (the same estimate on every namespace).
POWER_ITERATIONS = 20
#: Up to this many weights (features + intercept) that eigenvalue is computed
#: exactly from the Gram matrix of those rows instead (cheaper than the power
#: method for so few features).
GRAM_MAX_FEATURES = 64
#: Rows of that sample (every k-th) that the eigenvalue is computed from: its
#: cost, ``2 * POWER_ITERATIONS`` products with them, stays near that of a pass
#: over a few thousand rows.
EIGEN_SAMPLE_ROWS = 1024
POWER_START_SEED = 0
LEARNING_RATES = ("constant", "optimal", "invscaling", "adaptive")
PENALTIES = ("l2", "l1", "elasticnet", None)


def _cumulative_l1(xp: ModuleType, W: Any, applied: Any, total: float) -> tuple[Any, Any]:
    """L1 step by truncated gradient with a cumulative penalty (Tsuruoka et al., 2009).

    ``total`` is the L1 shrinkage every weight could have received so far and
    ``applied`` the (signed) shrinkage each one did receive.  A weight is pulled
    towards zero by the difference and clipped at zero, so weights that the
    noisy mini-batch gradients keep pushing back and forth still end up at
    exactly zero.
    """
    shrunk = xp.where(
        W > 0.0,
        xp.maximum(W - (total + applied), 0.0),
        xp.where(W < 0.0, xp.minimum(W + (total - applied), 0.0), W),
    )
    return shrunk, applied + (shrunk - W)


class BaseSGD(BaseEstimator):
    """Mini-batch SGD over a linear model; not for direct use."""

    _loss_names: tuple[str, ...] = ()
    #: Whether 'optimal' bounds how far one update moves a prediction under a loss
    #: with a bounded gradient (``huber``, ``epsilon_insensitive``): the regressor,
    #: whose predictions are the model (see ``_eta``).  The classifier's scores only
    #: count by their sign.
    _bounded_moves = False
    # Read by gpuinc's dispatch: these estimators compute where their input lives.
    _gpuinc_array_api = True

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        name = type(self).__name__
        if self.loss not in self._loss_names:
            raise ValueError(
                f"{name}: loss={self.loss!r} is not supported; choose one of {self._loss_names}."
            )
        if self.penalty not in PENALTIES:
            raise ValueError(
                f"{name}: penalty={self.penalty!r} is not supported; choose one of {PENALTIES}."
            )
        if self.learning_rate not in LEARNING_RATES:
            raise ValueError(
                f"{name}: learning_rate={self.learning_rate!r} is not supported; choose one "
                f"of {LEARNING_RATES}."
            )
        _check_real(name, "alpha", self.alpha, low=0.0)
        if self.l1_ratio is not None or self.penalty == "elasticnet":  # None: unused, as in sklearn
            _check_real(name, "l1_ratio", self.l1_ratio, low=0.0, high=1.0)
        _check_real(name, "epsilon", self.epsilon, low=0.0)
        _check_real(name, "eta0", self.eta0, low=0.0, low_open=True)
        _check_real(name, "power_t", self.power_t)
        if self.tol is not None:
            _check_real(name, "tol", self.tol, low=0.0)
        _check_int(name, "max_iter", self.max_iter, low=1)
        check_random_state_param(self.random_state, name)
        _check_int(name, "n_iter_no_change", self.n_iter_no_change, low=1)
        for flag in ("fit_intercept", "shuffle", "warm_start"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                raise ValueError(
                    f"{name}: {flag} must be True or False, got {getattr(self, flag)!r}."
                )
        if not isinstance(self.verbose, (numbers.Integral, np.bool_)) or self.verbose < 0:
            raise ValueError(f"{name}: verbose must be an int >= 0, got {self.verbose!r}.")
        if not isinstance(self.early_stopping, (bool, np.bool_)):
            raise ValueError(
                f"{name}: early_stopping must be True or False, got {self.early_stopping!r}."
            )
        fraction = self.validation_fraction
        if (
            not isinstance(fraction, numbers.Real)
            or isinstance(fraction, bool)
            or not 0.0 < fraction < 1.0
        ):
            raise ValueError(
                f"{name}: validation_fraction must be a number strictly between 0 and 1 (the "
                f"share of the training data that early_stopping=True holds out), got "
                f"{fraction!r}; the default is validation_fraction=0.1."
            )
        if self.batch_size != "auto":
            _check_int(name, "batch_size", self.batch_size, low=1)
        if not isinstance(self.average, (bool, np.bool_)):
            _check_int(name, "average", self.average, low=1)
        class_weight = getattr(self, "class_weight", None)
        if not (class_weight is None or isinstance(class_weight, dict)
                or (isinstance(class_weight, str) and class_weight == "balanced")):
            raise ValueError(
                f"{name}: class_weight must be a dict (class label -> weight), 'balanced' or "
                f"None, got {class_weight!r}."
            )
        if self.learning_rate == "optimal" and self.alpha == 0:
            raise ValueError(
                f"{name}: alpha must be > 0 with learning_rate='optimal' (the step size is "
                "1 / (alpha * (t + t0))); raise alpha or pick another learning_rate."
            )

    # --------------------------------------------------------- input handling
    def _namespace(self, X: Any, method: str, *, reset: bool) -> ModuleType:
        """Resolve ``xp`` from ``X`` and, unless ``reset``, check it matches the model."""
        if is_dask_collection(X):
            cls = type(self).__name__
            raise TypeError(
                f"{cls}.{method}() takes in-memory arrays (NumPy, CuPy, ...), not a Dask "
                f"{type(X).__name__}. For Dask data use gpuinc.Incremental({cls}(...)), which "
                f"calls {cls} block by block, or call .compute() on data that fits in memory."
            )
        if is_cupyx_sparse(X):
            raise TypeError(
                f"{type(self).__name__} does not take cupyx.scipy.sparse input; pass a dense "
                "CuPy array (X.toarray()) or a scipy.sparse matrix on the host (X.get())."
            )
        if is_cudf_object(X):
            X = X.values
        xp = get_namespace(X)
        if reset or not hasattr(self, "coef_"):
            return xp
        model_xp = get_namespace(self.coef_)
        x_device, model_device = device(X), device(self.coef_)
        if same_namespace(xp, model_xp) and (is_numpy_namespace(xp) or x_device == model_device):
            return xp
        cls = type(self).__name__
        raise ValueError(
            f"Inputs passed to {cls}.{method}() must use the same namespace and the same "
            f"device as those passed to fit(): the model's arrays are "
            f"{namespace_name(model_xp)} arrays on {model_device!r}, X is a "
            f"{namespace_name(xp)} array on {x_device!r}. Move the model where X is with "
            "`model = gpuinc.linear_model.to_namespace(model, X)` (or pass a namespace "
            "name such as 'numpy' or 'cupy'), or move X to the model's namespace."
        )

    def _validate_X(
        self,
        xp: ModuleType,
        X: Any,
        *,
        reset: bool,
        dtype: Any = None,
        check_finite: bool = True,
    ) -> tuple[Any, bool]:
        """Validated X (and whether it is scipy.sparse), in the namespace ``xp``.

        ``dtype=None`` keeps float32/float64 and turns anything else into the
        namespace's default float; otherwise X is cast to ``dtype``.  Training
        passes ``check_finite=False`` and checks the mini-batches instead, which
        saves a pass over X.
        """
        if is_cudf_object(X):
            X = X.values
        if is_numpy_namespace(xp):
            X = self._validate_host(X, reset=reset, dtype=dtype, check_finite=check_finite)
            return _aligned(X), sp.issparse(X)
        X = self._validate_device_X(xp, X, reset=reset, dtype=dtype, check_finite=check_finite)
        return X, False

    def _validate_host(self, X: Any, y: Any = "no_validation", *, reset: bool, dtype: Any,
                       check_finite: bool, **check_params: Any) -> Any:
        """scikit-learn's ``validate_data`` for NumPy / scipy.sparse input: X, or (X, y)."""
        return validate_data(
            self,
            X,
            y,
            reset=reset,
            accept_sparse="csr",
            dtype=[np.float64, np.float32] if dtype is None else dtype,
            order="C",
            ensure_all_finite=check_finite,
            **check_params,
        )

    def _validate_device_X(
        self, xp: ModuleType, X: Any, *, reset: bool, dtype: Any, check_finite: bool
    ) -> Any:
        if X.ndim != 2:
            raise ValueError(
                f"Expected 2D array, got {X.ndim}D array instead. Reshape your data with "
                "X.reshape(-1, 1) for a single feature or X.reshape(1, -1) for a single sample."
            )
        n_samples, n_features = X.shape
        if n_samples < 1 or n_features < 1:
            raise ValueError(
                f"Found array with shape {tuple(X.shape)}; a minimum of 1 sample and 1 "
                f"feature is required by {type(self).__name__}."
            )
        if dtype is None:
            if _host_dtype(X.dtype) in (np.dtype(np.float32), np.dtype(np.float64)):
                dtype = X.dtype
            elif xp.isdtype(X.dtype, ("real floating", "integral", "bool")):
                # float16 too, as on the host: the model computes in float32 or float64
                dtype = _default_float(xp, X)
            else:
                raise ValueError(f"{type(self).__name__} does not accept X of dtype {X.dtype}.")
        if X.dtype != dtype:
            X = xp.astype(X, dtype)
        if check_finite:
            _check_finite(xp, X, "X")
        if reset:
            self.n_features_in_ = int(n_features)
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif n_features != self.n_features_in_:
            raise ValueError(
                f"X has {n_features} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        return X

    def _validate_training_data(
        self, xp: ModuleType, X: Any, y: Any, *, reset: bool, y_numeric: bool
    ) -> tuple[Any, Any, bool]:
        """(X, y, X is sparse) for fit/partial_fit; y is 1-D and sits next to X."""
        dtype = None if reset else self.coef_.dtype
        if is_numpy_namespace(xp):
            X, y = self._validate_host(X, y, reset=reset, dtype=dtype, check_finite=False,
                                       y_numeric=y_numeric)
            return _aligned(X), _aligned(y), sp.issparse(X)
        X, _ = self._validate_X(xp, X, reset=reset, dtype=dtype, check_finite=False)
        y = self._to_X_namespace(xp, y, X, dtype=X.dtype if y_numeric else None)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it was raveled.",
                DataConversionWarning,
                stacklevel=3,
            )
            y = xp.reshape(y, (-1,))
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(
                f"y should be a 1d array with {X.shape[0]} entries, got shape {tuple(y.shape)}."
            )
        return X, y, False

    def _validate_sample_weight(
        self, xp: ModuleType, sample_weight: Any, X: Any, dtype: Any, *, in_fit: bool = False
    ) -> Any:
        """Sample weights as a 1-D array of ``dtype`` next to X, or None.

        ``fit`` refuses all-zero weights (nothing to learn from); a
        ``partial_fit`` block with all-zero weights is a valid no-op.
        """
        if sample_weight is None:
            return None
        n_samples = X.shape[0]
        if isinstance(sample_weight, numbers.Number):
            if not math.isfinite(float(sample_weight)):
                raise ValueError(f"sample_weight must be finite, got {sample_weight!r}.")
            if in_fit and float(sample_weight) == 0.0:
                raise ValueError("Sample weights must contain at least one non-zero number.")
            return xp.full((n_samples,), float(sample_weight), dtype=dtype, **_where(xp, X))
        sample_weight = self._to_X_namespace(xp, sample_weight, X, dtype=dtype)
        if sample_weight.ndim != 1 or sample_weight.shape[0] != n_samples:
            raise ValueError(
                f"sample_weight.shape == {tuple(sample_weight.shape)}, expected ({n_samples},)!"
            )
        sample_weight = xp.astype(sample_weight, dtype)
        _check_finite(xp, sample_weight, "sample_weight")
        if in_fit and not bool(xp.any(sample_weight != 0)):
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return sample_weight

    def _to_X_namespace(self, xp: ModuleType, a: Any, X: Any, dtype: Any = None) -> Any:
        """Move ``y``-like input next to X (host containers become NumPy arrays).

        With ``dtype``, host input is cast to it before it moves: a device
        without float64 (array_api_strict's ``no_float64``, a GPU backend
        without it) cannot receive NumPy's default float64 first.
        """
        if is_cudf_object(a):
            a = a.values
        if dtype is not None and (isinstance(a, (list, tuple, np.ndarray, numbers.Number))
                                  or hasattr(a, "iloc")):
            a = np.asarray(a).astype(_host_dtype(dtype), copy=False)
        return to_namespace(a, xp, device=_device_or_none(xp, X))

    # ------------------------------------------------------------ parameters
    def _init_state(self, xp: ModuleType, n_outputs: int, X: Any, dtype: Any) -> None:
        """Zero weights of shape (n_outputs, n_features) and fresh counters."""
        n_features = X.shape[1]
        W = xp.zeros((n_outputs, n_features), dtype=dtype, **_where(xp, X))
        b = xp.zeros((n_outputs,), dtype=dtype, **_where(xp, X))
        for name in (
            "_standard_coef",
            "_standard_intercept",
            "_average_coef",
            "_average_intercept",
            "_l1_total",
            "_l1_applied",
            "validation_scores_",
            "best_validation_score_",
        ):
            if hasattr(self, name):
                delattr(self, name)
        self._samples_seen = 0
        self._n_averaged = 0
        self.t_ = 1.0
        self._eta_scale = 1.0
        self._smooth_cap = None
        self._move_cap = None
        self._rng = np.random.default_rng(_seed_from(self.random_state))
        self._store_weights(xp, W, b, W * 1.0, b * 1.0)

    def _reseed_call(self) -> None:
        """Before a ``partial_fit`` call after the first: a new shuffle stream, unless seeded.

        With an int ``random_state`` the stream of the first call goes on.  A
        ``RandomState`` (None: NumPy's global one) gives one draw per call, as
        scikit-learn draws a seed from it on every call.
        """
        if not isinstance(self.random_state, numbers.Integral):
            self._rng = np.random.default_rng(_seed_from(self.random_state))

    def _warm_start_weights(self) -> tuple[Any, Any, Any] | None:
        """``(W, b, classes)`` of the previous fit that ``warm_start`` continues from, or None.

        Read in the namespace they live in (``_set_init`` moves them next to
        X); ``classes`` is None for the regressor.
        """
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        W, b = self._standard_weights(get_namespace(self.coef_))
        return W, b, getattr(self, "classes_", None)

    def _check_warm_features(self, X: Any, W: Any) -> None:
        """Refuse a ``warm_start`` fit on X of another width than the previous fit's."""
        if W.shape[-1] != X.shape[1]:
            raise ValueError(
                f"warm_start=True continues from the previous fit, which had {W.shape[-1]} "
                f"features, but X has {X.shape[1]}. Fit on data with the same features, or "
                "set warm_start=False to start over."
            )

    def _set_init(self, xp, coef_init, intercept_init, X, dtype) -> None:
        """Overwrite the starting weights with user-given ones (``fit``'s coef_init...)."""
        W, b = self._standard_weights(xp)
        k, d = W.shape
        if coef_init is not None:
            coef = xp.astype(self._to_X_namespace(xp, coef_init, X, dtype=dtype), dtype)
            allowed = {(k, d), (d,)} if k == 1 else {(k, d)}
            if tuple(coef.shape) not in allowed:
                raise ValueError(
                    f"coef_init has shape {tuple(coef.shape)}; expected one of {sorted(allowed)}."
                )
            W = xp.reshape(coef, (k, d)) * 1.0
        if intercept_init is not None:
            intercept = self._to_X_namespace(xp, intercept_init, X, dtype=dtype)
            intercept = xp.reshape(xp.astype(intercept, dtype), (-1,))
            if intercept.shape[0] != k:
                raise ValueError(
                    f"intercept_init has shape {tuple(intercept.shape)}; expected ({k},)."
                )
            b = intercept * 1.0
        self._store_weights(xp, W, b, W * 1.0, b * 1.0)

    def _standard_weights(self, xp: ModuleType) -> tuple[Any, Any]:
        """The SGD iterate (not the average) as a (k, n_features) matrix and (k,) vector."""
        if hasattr(self, "_standard_coef"):
            return self._standard_coef, self._standard_intercept
        return self._coef_matrix(xp), self.intercept_

    def _store_weights(self, xp: ModuleType, W: Any, b: Any, W_avg: Any, b_avg: Any) -> None:
        if self.average:
            self._standard_coef, self._standard_intercept = W, b
            self._average_coef, self._average_intercept = W_avg, b_avg
            if self._n_averaged > 0:
                W, b = W_avg, b_avg
        else:
            # averaging switched off: coef_ is the iterate again (a stored one is stale)
            for name in ("_standard_coef", "_standard_intercept"):
                self.__dict__.pop(name, None)
        self._set_coef(xp, W)
        self.intercept_ = b

    def _coef_matrix(self, xp: ModuleType) -> Any:
        """``coef_`` viewed as a (k, n_features) matrix."""
        return self.coef_

    def _set_coef(self, xp: ModuleType, W: Any) -> None:
        self.coef_ = W

    def _optimal_t0(self) -> float:
        # Same heuristic as scikit-learn: start where a typical weight of size
        # alpha ** -1/4 would be reached in one step.
        typical_w = math.sqrt(1.0 / math.sqrt(self.alpha))
        return 1.0 / (typical_w * self.alpha)

    def _row_norms(self, xp: ModuleType, X: Any, sample_weight: Any,
                   name: str = "row-norms") -> Any:
        """``|w_i| * (|x_i|^2 + fit_intercept)`` for every row of X.

        On NumPy the result is this thread's scratch ``name`` (see
        ``_scratch``): valid until the next call with that name.
        """
        if sp.issparse(X):
            norms = np.asarray(X.multiply(X).sum(axis=1), dtype=X.dtype).ravel()
            norms += float(bool(self.fit_intercept))
            if sample_weight is not None:
                norms *= np.abs(sample_weight)
            return norms
        if is_numpy_namespace(xp):
            # in place in scratch: no temporaries of n floats (see ``_scratch``)
            norms = scratch(name, X.shape[:1], X.dtype)
            if hasattr(np, "vecdot"):  # NumPy >= 2
                np.vecdot(X, X, axis=-1, out=norms)
            else:  # pragma: no cover - NumPy 1.26
                np.einsum("ij,ij->i", X, X, out=norms)
            norms += float(bool(self.fit_intercept))
            if sample_weight is not None:
                norms *= sample_weight
                np.abs(norms, out=norms)  # |w| * norm: the norms are >= 0
            return norms
        if hasattr(xp, "vecdot"):
            norms = xp.vecdot(X, X, axis=-1)  # no temporary the size of X
        else:  # pragma: no cover - namespaces before the 2023.12 standard
            norms = xp.sum(X * X, axis=1)
        norms = norms + float(bool(self.fit_intercept))
        if sample_weight is not None:
            norms = norms * xp.abs(sample_weight)
        return norms

    def _mean_row_norm(self, xp: ModuleType, X: Any, sample_weight: Any) -> float:
        """``mean(|w_i| * (|x_i|^2 + fit_intercept))`` over the rows of X."""
        norms = self._row_norms(xp, X, sample_weight, "row-norms-sample")
        return float(np.mean(norms) if sp.issparse(X) else xp.mean(norms))

    def _top_eigenvalue(self, xp: ModuleType, X: Any, sample_weight: Any, upper: float) -> float:
        """Largest eigenvalue of ``G = mean(|w_i| x~_i x~_i^T)`` over the rows of X.

        ``x~_i`` is the row with a trailing 1 when ``fit_intercept`` (the
        intercept is a weight too).  Up to ``GRAM_MAX_FEATURES`` features, and
        where the namespace has the ``linalg`` extension, ``G`` is formed (one
        matrix product) and its eigenvalues computed exactly.  Otherwise
        ``POWER_ITERATIONS`` steps of the power method, from a start vector
        drawn with a fixed seed (the same on every namespace), apply ``G`` as
        two products with X without forming it; that estimate approaches the
        eigenvalue from below.  ``upper`` (the trace of ``G``: the mean
        squared row norm) bounds the result from above.
        """
        n, d = X.shape
        fit_intercept = bool(self.fit_intercept)
        is_sparse = sp.issparse(X)
        if is_sparse:
            weights = None if sample_weight is None else np.abs(np.asarray(sample_weight))
        else:
            weights = None if sample_weight is None else xp.abs(sample_weight)
        if d + fit_intercept <= GRAM_MAX_FEATURES and (is_sparse or hasattr(xp, "linalg")):
            if is_sparse:
                WX = X if weights is None else sp.csr_matrix(X.multiply(weights[:, None]))
                G = np.asarray((X.T @ WX).toarray())
                col = np.asarray(WX.sum(axis=0)).reshape(-1)
                total = float(n if weights is None else np.sum(weights))
                linalg, concat, reshape, full = np.linalg, np.concatenate, np.reshape, np.full
            else:
                WX = X if weights is None else X * weights[:, None]
                G = X.T @ WX
                col = xp.sum(WX, axis=0)
                total = float(n if weights is None else xp.sum(weights))
                linalg, concat, reshape = xp.linalg, xp.concat, xp.reshape

                def full(shape, value, dtype):
                    return xp.full(shape, value, dtype=dtype, **_where(xp, X))
            if fit_intercept:
                top_rows = concat([G, reshape(col, (1, d))], axis=0)
                last = concat([reshape(col, (d, 1)), full((1, 1), total, G.dtype)], axis=0)
                G = concat([top_rows, last], axis=1)
            value = float(linalg.eigvalsh(G / n)[-1])
            return min(value, upper) if math.isfinite(value) else upper
        start = np.random.default_rng(POWER_START_SEED).standard_normal(d + 1)
        if is_sparse:
            u = start[:d].astype(X.dtype)
        else:
            u = xp.asarray(start[:d].astype(_host_dtype(X.dtype)), **_where(xp, X))
        c = float(start[d]) if fit_intercept else 0.0
        value = 0.0
        for _ in range(POWER_ITERATIONS):
            z = X @ u
            if fit_intercept:
                z = z + c
            wz = z if weights is None else z * weights
            u_new = (X.T @ wz) / n
            c_new = (wz.sum() if is_sparse else xp.sum(wz)) / n if fit_intercept else 0.0
            # Rayleigh quotient v.Av / v.v of the current vector: a lower bound
            norm2 = (u @ u if is_sparse else xp.sum(u * u)) + c * c
            value = ((u @ u_new if is_sparse else xp.sum(u * u_new)) + c * c_new) / norm2
            scale = ((u_new @ u_new if is_sparse else xp.sum(u_new * u_new))
                     + c_new * c_new) ** 0.5
            if is_sparse or is_numpy_namespace(xp):
                if not float(scale) > 0.0:  # X (or its weights) is all zero
                    return 0.0
            else:  # no read back per step: a zero vector stays zero
                scale = xp.where(scale > 0.0, scale, xp.ones_like(scale))
            u, c = u_new / scale, c_new / scale
        value = float(value)
        return min(value, upper) if math.isfinite(value) else upper

    def _step_caps(
        self, xp: ModuleType, X: Any, sample_weight: Any, loss: Any, rows: Any = None,
        averaged: bool = False,
    ) -> tuple[Any, float, float | None]:
        """``(row_norms, top, smooth)``: what the 'optimal' step needs to know of this data.

        Squared losses (``loss.curvature`` set): ``row_norms`` holds
        ``|w_i| * (|x_i|^2 + fit_intercept)`` for every row of X, from which
        each mini-batch's cap is computed (see ``_batch_caps``), and ``top``
        estimates the largest eigenvalue of the (weighted) second-moment
        matrix of the training rows (``rows``: host indices restricting
        training to those rows; all: None), from up to ``EIGEN_SAMPLE_ROWS``
        rows spread over them.  The same for the other smooth losses when
        ``averaged`` (the model averages its iterates); otherwise
        ``(None, 0.0, smooth)``.

        ``smooth``: ``1 / L`` with ``L = smoothness * mean(...)`` over up to
        ``CAP_SAMPLE_ROWS`` rows spread over the training rows, which bounds
        the curvature of the mean loss of a mini-batch (0 without a
        smoothness; ``SCALE_FREE_SHRINK / alpha`` for a smoothness of 0, the
        perceptron; None when the data tells nothing: every row or weight is
        zero).  Rows whose squared norm overflows are an error.
        """
        n = X.shape[0] if rows is None else int(rows.shape[0])
        stride = max(1, n // CAP_SAMPLE_ROWS)
        if rows is None and (stride == 1 or not sp.issparse(X)):
            # every stride-th row, as a view: no copy of them
            sample = X if stride == 1 else X[::stride, ...]
            sample_w = sample_weight
            if sample_weight is not None and stride > 1:
                sample_w = sample_weight[::stride]
        else:
            picked = np.arange(0, n, stride)
            if rows is not None:
                picked = rows[picked]
            sample = _take_rows(xp, X, picked)
            sample_w = None if sample_weight is None else _take_rows(xp, sample_weight, picked)
        mean = self._mean_row_norm(xp, sample, sample_w)
        if mean == 0.0 and stride > 1:  # the sampled rows weigh nothing: ask them all
            if rows is not None:
                sample = _take_rows(xp, X, rows)
                sample_w = None if sample_weight is None else _take_rows(xp, sample_weight, rows)
            else:
                sample, sample_w = X, sample_weight
            mean = self._mean_row_norm(xp, sample, sample_w)
        norms, top = None, 0.0
        with_norms = loss.curvature is not None or (averaged and loss.is_smooth)
        # the regressor's bounded-gradient losses need ``top`` only (``_optimal_move_cap``)
        with_top = with_norms or self._moves_bounded(loss)
        if with_norms:
            norms = self._row_norms(xp, X, sample_weight)
            peak = float(np.max(norms) if sp.issparse(X) else xp.max(norms))
            if not (math.isfinite((loss.curvature or loss.smoothness) * peak)
                    and math.isfinite(mean)):
                _check_finite(xp, X.data if sp.issparse(X) else X, "X")
                raise ValueError(
                    "Floating-point overflow in SGD: the squared norms of the rows of X "
                    f"overflow {X.dtype}. Scale the input (e.g. with StandardScaler)."
                )
        if with_top and mean > 0.0 and math.isfinite(mean):
            every = max(1, -(-sample.shape[0] // EIGEN_SAMPLE_ROWS))
            eigen_w = None if sample_w is None else sample_w[::every]
            if is_numpy_namespace(xp) and not sp.issparse(sample):
                # gathered into scratch: the eigenvalue reads these rows many times.
                # From X itself where the sample is a strided view of it: np.take
                # would first copy a non-contiguous source whole.
                if rows is None and sample is not X:  # sample = X[::stride]
                    source, picked = X, np.arange(0, n, stride)[::every]
                else:
                    source, picked = sample, np.arange(0, sample.shape[0], every)
                buf = scratch("cap-sample", (picked.shape[0], X.shape[1]), X.dtype)
                eigen = np.take(source, picked, axis=0, out=buf, mode="clip")
            else:
                eigen = sample[::every, ...]
            top = self._top_eigenvalue(xp, eigen, eigen_w, mean)
        if loss.smoothness is None:
            return norms, top, 0.0
        if loss.smoothness == 0.0:
            # No scale in the loss (perceptron): the step is scikit-learn's, the batch's
            # per-sample steps summed, bounded only where the L2 shrinkage of one
            # update would take more than SCALE_FREE_SHRINK of the weights
            return norms, top, SCALE_FREE_SHRINK / float(self.alpha)
        lipschitz = loss.smoothness * mean
        # None: this data tells nothing (zero weights or zero rows), not "no longer step"
        smooth = None if not math.isfinite(lipschitz) or lipschitz <= 0.0 else 1.0 / lipschitz
        return norms, top, smooth

    def _moves_bounded(self, loss: Any) -> bool:
        """Whether 'optimal' bounds the moves of predictions under ``loss`` (see ``_eta``)."""
        return bool(self._bounded_moves and getattr(loss, "gradient_bound", None))

    def _optimal_move_cap(
        self, xp: ModuleType, T: Any, rows: Any, loss: Any, smooth: float, top: float,
        batch_size: int,
    ) -> float | None:
        """``M_0 / (G * R)`` for the regressor's bounded-gradient losses (see ``_eta``).

        One step ``eta`` along a mini-batch's mean gradient ``g = mean_B(G_j x~_j)``
        (``|G_j| <= G``) moves the prediction of a row ``x~_i`` by ``eta * x~_i . g``.
        Its own term gives ``G |x~_i|^2 / m``; the others, ``G |x~_i . mean_j
        (+-x~_j)|``, at most about ``G sqrt(lambda |x~_i|^2)`` with ``lambda`` the top
        eigenvalue of the rows' second-moment matrix (``top``) -- nearly
        ``|x~_i|^2`` for rows far from zero mean (iris), far less for many
        near-orthogonal features; never more than ``G |x~_i|^2``.  With ``s`` the
        mean squared row norm, ``R = min(s, s / m + sqrt(lambda s))``, so a step
        of this over ``sqrt(t)`` moves a typical row by at most ``M_0 / sqrt(t)``.
        Sizing it by ``s`` alone, as if each batch's gradient lay along each
        row, held the steps ``m``-fold too short on many features (R^2 0.18 for
        ``huber`` on 3000 x 200 ``make_regression``, where scikit-learn reaches
        1.0).

        ``M_0 = max(rms(y), epsilon)`` over up to ``CAP_SAMPLE_ROWS`` of the
        call's training rows (``rows``: host indices, None: all), ``G`` the
        loss's ``gradient_bound``, ``m`` the call's ``batch_size``; ``s`` (rows
        times their sample weights) is ``1 / (smoothness * smooth)``, from
        ``_step_caps``.  None where this does not apply (the classifier, the
        other losses, a zero gradient bound): ``_eta`` then keeps its other
        schedule.
        """
        if not self._moves_bounded(loss):
            return None
        bound = loss.gradient_bound
        n = T.shape[0] if rows is None else int(rows.shape[0])
        stride = max(1, n // CAP_SAMPLE_ROWS)  # the rows _step_caps samples
        if rows is None:
            y = T[::stride, ...]
        else:
            y = _take_rows(xp, T, rows[::stride])
        peak = float(xp.max(xp.abs(y)))
        rms = peak * math.sqrt(float(xp.mean((y / peak) ** 2))) if peak > 0.0 else 0.0
        scale = max(rms, float(self.epsilon))
        mean = 1.0 / (smooth * loss.smoothness)
        reach = min(mean, mean / batch_size + math.sqrt(max(top, 0.0) * mean))
        return scale / (bound * reach)

    def _batch_caps(
        self, xp: ModuleType, norms: Any, top: float, order: Any, n_samples: int,
        batch_size: int, curvature: float, *, quiet: bool,
    ) -> np.ndarray:
        """Largest stable step of each mini-batch of this pass, for the squared losses.

        The mean gradient of a mini-batch ``B`` of ``m`` rows changes with the
        weights at the rate of its Hessian ``H_B = c * mean_B(w_i x~_i x~_i^T)``
        (``c`` the loss's curvature); a step ``eta`` cannot diverge on ``B``
        while ``eta * lambda_max(H_B) <= 1``.  ``lambda_max(H_B)`` lies between
        ``c * max_B(w_i |x~_i|^2) / m`` (one row's share) and the trace
        ``c * mean_B(w_i |x~_i|^2)``.  The trace alone is the single-sample
        bound, ``d`` times too cautious for ``m >> d`` rows of ``d`` similar
        features; for large ``m`` the Hessian nears ``c`` times the
        second-moment matrix of the data, whose top eigenvalue is ``top``.
        The cap is ``1 / L_B`` with

            L_B = c * min(mean_B(w_i |x~_i|^2), max_B(w_i |x~_i|^2) / m + top)

        (the second term is the mini-batch step of Ma, Bassily and Belkin,
        2018, ``m / (R^2 + (m - 1) lambda)``, with the largest row of the
        batch as ``R^2``).  That second term holds for batches drawn at
        random from the call's rows (``shuffle=True``); rows taken as stored
        (``order`` None) may come in batches of rows alike (sorted, grouped,
        repeated), whose Hessian is near its trace: those take the trace
        alone.  A batch holding a huge row gets a small step from its own
        ``max_B``; the other batches, and later calls, do not.
        With ``quiet`` the step is also at most ``m / (QUIET_BATCH_ROWS * c *
        mean_B(w_i |x~_i|^2))``: the noise an update adds to the iterate
        grows with ``step / m``, so small noisy mini-batches take
        proportionally shorter steps.  The averaged model, whose average
        removes that noise, passes ``quiet=False``.
        Returns one cap per mini-batch, in the order of the pass (``order``:
        device indices into the rows of X; None: as stored).
        """
        n_batches = -(-n_samples // batch_size)
        padded = n_batches * batch_size
        if isinstance(norms, np.ndarray):  # NumPy, or the norms of a scipy.sparse X
            ordered = scratch("row-norms-ordered", (padded,), norms.dtype)
            ordered[n_samples:] = 0.0
            if order is None:
                ordered[:n_samples] = norms[:n_samples]
            else:
                # in pieces: np.take turns uint32 indices into intp ones, a copy of each piece
                for i in range(0, n_samples, 4096):
                    piece = order[i : i + 4096]
                    np.take(norms, piece, out=ordered[i : i + piece.shape[0]], mode="clip")
            blocks = ordered.reshape(n_batches, batch_size)
            peak = np.max(blocks, axis=1)
            total = np.sum(blocks, axis=1)
        else:
            ordered = norms[:n_samples] if order is None else xp.take(norms, order)
            if padded > n_samples:
                pad = xp.zeros((padded - n_samples,), dtype=ordered.dtype, **_where(xp, ordered))
                ordered = xp.concat([ordered, pad])
            blocks = xp.reshape(ordered, (n_batches, batch_size))
            peak = to_numpy(xp.max(blocks, axis=1))
            total = to_numpy(xp.sum(blocks, axis=1))
        rows = np.full(n_batches, float(batch_size))
        rows[-1] = n_samples - (n_batches - 1) * batch_size
        peak, total = peak.astype(np.float64), total.astype(np.float64)
        if order is None:
            # rows as stored: a batch may hold rows alike (sorted, grouped, repeated), whose
            # Hessian is near its trace, far above ``top``: the trace only
            lipschitz = curvature * (total / rows)
        else:
            lipschitz = curvature * np.minimum(total / rows, peak / rows + top)
        with np.errstate(divide="ignore"):
            stable = np.where(lipschitz > 0.0, 1.0 / lipschitz, math.inf)
            if not quiet:
                return stable
            mean = total / rows
            noise = np.where(mean > 0.0, rows / (QUIET_BATCH_ROWS * curvature * mean), math.inf)
        return np.minimum(stable, noise)

    def _batch_size(self, n_samples: int) -> int:
        """Rows per update for a call on ``n_samples`` rows."""
        if self.batch_size == "auto":
            return max(1, min(AUTO_BATCH_MAX, n_samples // AUTO_MIN_UPDATES))
        # a batch_size above the rows of the call is one batch of all of them: clamped
        # here, so that nothing downstream (step caps, gathers) is sized by batch_size
        return max(1, min(int(self.batch_size), n_samples))

    def _eta(self, t: float, seen: int, t0: float, rows: int = 1, cap: float = math.inf,
             smooth: float | None = None) -> float:
        """Step size of the next update; ``t`` counts updates, ``seen`` samples.

        ``'optimal'``: scikit-learn's per-sample step ``e = 1 / (alpha * (seen + t0))``
        would be taken ``rows`` times over a mini-batch of ``rows`` samples.  One
        step along the batch's mean gradient may be that long (``rows * e``) as
        long as it stays below the stable step of the loss (``_smooth_cap``), and
        is never shorter than ``e`` except where ``cap`` bounds it: the stable
        step of this mini-batch under a squared loss, shortened for small
        mini-batches, whose gradients are too noisy for the largest stable
        step (see ``_batch_caps``).  ``smooth`` (with ``average``: per batch,
        from ``_batch_caps`` too) replaces ``_smooth_cap``.  Without the
        ``rows * e`` part a pass moves ``rows`` times less than scikit-learn's
        schedule, which stalls at large ``alpha``.

        The regressor's losses with a bounded gradient ``G`` (``huber``:
        ``epsilon``; ``epsilon_insensitive``: 1) step instead
        ``min(rows * e, _move_cap / sqrt(t))`` (see ``_optimal_move_cap``), with
        or without ``average``: one update then moves a typical row's
        prediction by at most ``M_0 / sqrt(t)``, ``M_0 = max(rms(y), epsilon)``
        the distance from the all-zero model, shrinking as the step of
        subgradient descent on a non-smooth loss does.  Their gradient does not
        shrink near the fit, so the stable step bounds nothing there, and the
        floor ``e`` (about 10 at the start with the default ``alpha``) moved
        the predictions far past the targets: R^2 -1501 (``epsilon_insensitive``)
        and -10 (``huber``) on iris, where scikit-learn's defaults reach 0.92 / 0.91.
        A constant stable step (no floor) still left ``epsilon_insensitive``
        jumping about one unit of ``y`` around the fit (iris: 0.74), and a
        constant move of ``epsilon`` too short for targets far from zero.  The
        classifier keeps the schedule above: only the sign of its scores
        counts.
        """
        lr = self.learning_rate
        if lr == "optimal":
            e = 1.0 / (self.alpha * (seen + t0))
            move = getattr(self, "_move_cap", None)
            if move:
                return min(rows * e, move / math.sqrt(t), cap)
            if smooth is None:
                smooth = getattr(self, "_smooth_cap", None) or 0.0
            return min(rows * e, max(e, smooth), cap)
        if lr == "invscaling":
            return _invscaling(self.eta0, t, self.power_t)
        return self.eta0 * self._eta_scale

    # ------------------------------------------------------------ the loop
    def _sgd_epoch(self, xp: ModuleType, *args: Any, **kwargs: Any) -> float | None:
        # Bad input or a diverging step is reported by one ValueError at the
        # end of the pass, so NumPy's floating-point warnings on the way there
        # would only be noise.
        with _quiet_floating_point(xp):
            return self._sgd_epoch_loop(xp, *args, **kwargs)

    def _sgd_epoch_loop(
        self,
        xp: ModuleType,
        X: Any,
        T: Any,
        sample_weight: Any,
        loss: Any,
        *,
        is_sparse: bool,
        track_loss: bool = False,
        check_finite: bool = True,
        rows: Any = None,
        step_stats: dict | None = None,
    ) -> float | None:
        """One pass of mini-batch SGD over (X, T); the model changes only if it succeeds.

        Per mini-batch: gather the rows, one matrix product forward, the loss
        gradient elementwise, one matrix product backward, the penalty step.
        Nothing inside the loop reads a value back to the host; the checks
        (finite input, finite weights) and the tracked loss are read once at
        the end.  Returns the mean training loss when ``track_loss``.

        ``rows`` (sorted host indices, or None for all) are the rows to train
        on: ``fit`` with ``early_stopping`` leaves the validation rows out.
        ``step_stats``: what the 'optimal' schedule learnt of the data (see
        ``_step_caps``); ``fit`` passes one dict to all its passes, so the
        data is measured once, an empty one or None measures it now.
        """
        n_samples = X.shape[0] if rows is None else int(rows.shape[0])
        batch_size = self._batch_size(n_samples)
        fit_intercept = bool(self.fit_intercept)
        alpha = float(self.alpha)
        l1_ratio = {"l1": 1.0, "elasticnet": self.l1_ratio}.get(self.penalty) or 0.0
        l2_strength = 0.0 if self.penalty is None else alpha * (1.0 - l1_ratio)
        l1_strength = 0.0 if self.penalty is None else alpha * l1_ratio
        average_start = 0
        if self.average:
            average_start = 1 if self.average is True else int(self.average)
        t0 = self._optimal_t0() if self.learning_rate == "optimal" else 0.0
        where = _where(xp, X)
        if rows is not None:
            rows_host = rows
            rows = xp.asarray(rows, **where)  # next to X, like the shuffled order
        order = rows
        if self.shuffle:
            order = shuffle_order(xp, n_samples, draw_keys(self._rng), where, reuse=True)
            if rows is not None:
                order = xp.take(rows, order)
        # Averaging (and with it the averaged model's longer steps) starts with the
        # batch that reaches ``average`` samples; until then this is plain SGD.
        seen_before = int(self._samples_seen)
        averaged = bool(average_start) and seen_before + n_samples >= average_start
        all_averaged = averaged and seen_before + min(batch_size, n_samples) >= average_start
        caps = smooth_caps = None
        if self.learning_rate == "optimal":
            if not step_stats or (averaged and loss.is_smooth and step_stats["norms"] is None):
                # once per partial_fit call (and per fit), from this call's rows only:
                # an earlier block of large rows does not shorten the steps of later ones
                norms, top, smooth = self._step_caps(
                    xp, X, sample_weight, loss, None if rows is None else rows_host,
                    averaged=averaged,
                )
                if step_stats is None:
                    step_stats = {}
                step_stats.update(norms=norms, top=top)
                if smooth is not None:  # None: this block tells nothing; keep the last one
                    self._smooth_cap = smooth
                    self._move_cap = self._optimal_move_cap(
                        xp, T, None if rows is None else rows_host, loss, smooth, top,
                        batch_size,
                    )
            norms, top = step_stats["norms"], step_stats["top"]
            if norms is not None and loss.curvature is not None:
                caps = self._batch_caps(
                    xp, norms, top, order, n_samples, batch_size, loss.curvature,
                    quiet=not all_averaged,
                )
                if averaged and not all_averaged:  # the batches from the start on: not quiet
                    caps = (caps, self._batch_caps(
                        xp, norms, top, order, n_samples, batch_size, loss.curvature,
                        quiet=False,
                    ))
            if (norms is not None and averaged and loss.is_smooth
                    and not getattr(self, "_move_cap", None)):
                # averaged SGD: the average, not the iterate, is the model, so the
                # iterate may take the largest stable steps of the smooth losses too
                smooth_caps = self._batch_caps(
                    xp, norms, top, order, n_samples, batch_size, loss.smoothness, quiet=False,
                )

        W, b = self._standard_weights(xp)
        l1_total = float(getattr(self, "_l1_total", 0.0))
        l1_applied = getattr(self, "_l1_applied", None)
        if l1_strength and l1_applied is None:
            l1_applied = xp.zeros_like(W)
        W_avg = getattr(self, "_average_coef", None)
        b_avg = getattr(self, "_average_intercept", None)
        if average_start and W_avg is None:  # `average` switched on after the first call
            W_avg, b_avg = xp.zeros_like(W), xp.zeros_like(b)
            self._n_averaged = 0
        etas, mixes, t, seen, n_averaged = self._batch_schedule(
            n_samples, batch_size, t0, average_start, caps, smooth_caps
        )

        if self._use_fused_kernel(xp, X, loss, is_sparse, l1_strength):
            W, b, W_avg, b_avg, probe, loss_sum = _fused.fused_epoch(
                xp, _fused.cupy_launcher(X.dtype), X, T, sample_weight, order, W, b, W_avg, b_avg,
                loss=loss, etas=etas, mixes=mixes, batch_size=batch_size, l2=l2_strength,
                fit_intercept=fit_intercept, track_loss=track_loss, where=where,
            )  # fmt: skip
        else:
            weights, probe, loss_sum, (l1_total, l1_applied) = self._array_api_epoch(
                xp, X, T, sample_weight, loss, order, (W, b, W_avg, b_avg), (etas, mixes),
                batch_size=batch_size, is_sparse=is_sparse, track_loss=track_loss,
                check_finite=check_finite, penalty=(l2_strength, l1_strength, l1_total, l1_applied),
            )  # fmt: skip
            W, b, W_avg, b_avg = weights

        weights_finite = bool(xp.all(xp.isfinite(W))) and bool(xp.all(xp.isfinite(b)))
        if (check_finite and not math.isfinite(float(probe))) or not weights_finite:
            # Large finite data can overflow the probe or the weights; only
            # an exact look at X may call the input bad.
            _check_finite(xp, X.data if is_sparse else X, "X")
        if not weights_finite:
            raise ValueError(
                "Floating-point overflow in SGD: the weights are no longer finite. Scale the "
                "input (e.g. with StandardScaler), lower eta0 or raise alpha."
            )
        self.t_ = t
        self._samples_seen = seen
        self._n_averaged = n_averaged
        if l1_strength:
            self._l1_total, self._l1_applied = l1_total, l1_applied
        self._store_weights(xp, W, b, W_avg, b_avg)
        return float(loss_sum) / n_samples if track_loss else None

    def _batch_schedule(
        self, n_samples: int, batch_size: int, t0: float, average_start: int, caps: Any = None,
        smooth_caps: Any = None,
    ) -> tuple[list[float], list[float], float, int, int]:
        """Step sizes and averaging weights of the batches of one pass, and the counters after.

        ``(etas, mixes, t, seen, n_averaged)``: ``mixes[i]`` is the weight of
        batch ``i``'s iterate in the running average (0: not averaged yet);
        ``n_averaged`` counts the samples averaged so far, and each iterate
        weighs as many samples as its batch has rows.
        ``caps``: the stable step of each batch (squared losses under
        'optimal'), or None, or a pair of them (the quiet caps of plain SGD,
        those of averaged SGD) for a pass in which averaging starts;
        ``smooth_caps`` apply to the averaged batches only.  Computed on the
        host before the pass, for both ways of running it.
        """
        etas, mixes = [], []
        t, seen, n_averaged = float(self.t_), int(self._samples_seen), int(self._n_averaged)
        plain_caps = averaged_caps = caps
        if isinstance(caps, tuple):  # (before averaging starts, from then on)
            plain_caps, averaged_caps = caps
        for i, start in enumerate(range(0, n_samples, batch_size)):
            rows = min(batch_size, n_samples - start)
            # a batch whose iterate enters the average steps as averaged SGD; before
            # that, exactly as plain SGD
            averaging = bool(average_start) and seen + rows >= average_start
            step_caps = averaged_caps if averaging else plain_caps
            cap = math.inf if step_caps is None else float(step_caps[i])
            smooth = None if smooth_caps is None or not averaging else float(smooth_caps[i])
            etas.append(self._eta(t, seen, t0, rows, cap, smooth))
            t += 1.0
            seen += rows
            if averaging:
                # weighed by its rows, as scikit-learn's per-sample average would
                n_averaged += rows
                mixes.append(rows / n_averaged)
            else:
                mixes.append(0.0)
        return etas, mixes, t, seen, n_averaged

    def _use_fused_kernel(
        self, xp: ModuleType, X: Any, loss: Any, is_sparse: bool, l1_strength: float
    ) -> bool:
        """Whether this pass runs as one CUDA kernel (see ``_fused``): dense CuPy, no l1."""
        return (
            namespace_name(xp) == "cupy"
            and not is_sparse
            and not l1_strength
            and _fused.loss_code(loss) is not None
            and _fused.enabled()
            and _fused.available(X.dtype, getattr(X, "device", None))  # False: warned
        )

    def _array_api_epoch(
        self, xp, X, T, sample_weight, loss, order, weights, schedule, *, batch_size, is_sparse,
        track_loss, check_finite, penalty,
    ):  # fmt: skip
        """The pass as array-API operations, one mini-batch at a time (any namespace).

        ``weights`` is ``(W, b, W_avg, b_avg)``, ``schedule`` ``(etas, mixes)``
        and ``penalty`` ``(l2, l1, l1 total, l1 applied)``; returns the new
        weights, the finiteness probe, the loss sum and the new l1 state.
        """
        W, b, W_avg, b_avg = weights
        etas, mixes = schedule
        l2_strength, l1_strength, l1_total, l1_applied = penalty
        fit_intercept = bool(self.fit_intercept)
        loss_sum = 0.0
        probe = 0.0
        xsum = _sum_function(xp)
        batches = _mini_batches(xp, X, T, sample_weight, order, batch_size, is_sparse)
        for (xb, tb, wb), eta, mix in zip(batches, etas, mixes, strict=True):
            z = xb @ W.T
            if fit_intercept:
                z = z + b
            if check_finite:
                # Any NaN/inf in the batch reaches z (0 * inf is NaN too).
                probe = probe + xsum(z, axis=None)
            dz = loss.gradient(xp, z, tb)
            if wb is not None:
                dz = dz * wb[:, None]
            if track_loss:
                batch_loss = loss.value(xp, z, tb)
                if wb is not None:
                    batch_loss = batch_loss * wb[:, None]
                loss_sum = loss_sum + xsum(batch_loss, axis=None)

            step = eta / xb.shape[0]
            grad_W = (xb.T @ dz).T
            if l2_strength:
                W = W * max(0.0, 1.0 - eta * l2_strength) - step * grad_W
            else:
                W = W - step * grad_W
            if l1_strength:
                l1_total += eta * l1_strength
                W, l1_applied = _cumulative_l1(xp, W, l1_applied, l1_total)
            if fit_intercept:
                b = b - step * xsum(dz, axis=0)
            if mix:
                W_avg = W_avg + (W - W_avg) * mix
                b_avg = b_avg + (b - b_avg) * mix
        return (W, b, W_avg, b_avg), probe, loss_sum, (l1_total, l1_applied)

    def _run_fit_epochs(
        self,
        xp,
        X,
        T,
        sample_weight,
        loss,
        *,
        is_sparse: bool,
        score_weight: Any = None,
        stratify: Any = None,
    ) -> None:
        """The passes of ``fit``: stop on a plateau, or shrink the step (adaptive).

        The plateau is one of the mean training loss, or with
        ``early_stopping`` of the score on a held-out validation split
        (weighted by ``score_weight``, the user's sample weights; stratified
        by the labels ``stratify`` for classifiers).
        """
        early_stopping = bool(self.early_stopping)
        rows = validation = None
        self.validation_scores_ = self.best_validation_score_ = None
        if early_stopping:
            rows, validation = self._validation_split(
                xp, X, T, score_weight, stratify=stratify, is_sparse=is_sparse
            )
            self.validation_scores_ = []
        # ``check``: the passes' losses decide the plateau, and are checked for
        # divergence; ``verbose`` only adds them where they are printed, so that it
        # never changes the fit
        check = not early_stopping and (self.tol is not None or self.learning_rate == "adaptive")
        track = bool(self.verbose) or check
        # tol=None: no pass stops fit, but a pass that improves nothing at all is
        # still a plateau, on which 'adaptive' shrinks its step
        tol = 0.0 if self.tol is None else float(self.tol)
        best = -math.inf if early_stopping else math.inf
        first_loss = None
        no_improvement = 0
        step_stats: dict = {}
        self.n_iter_ = 0
        for epoch in range(int(self.max_iter)):
            epoch_loss = self._sgd_epoch(
                xp,
                X,
                T,
                sample_weight,
                loss,
                is_sparse=is_sparse,
                track_loss=track,
                check_finite=epoch == 0,
                rows=rows,
                step_stats=step_stats,
            )
            self.n_iter_ = epoch + 1
            if check:
                first_loss = epoch_loss if first_loss is None else first_loss
                self._check_loss(xp, epoch_loss, first_loss, T, sample_weight, loss)
            if early_stopping:
                # scikit-learn's rule: a pass improves when its score beats
                # the best so far by at least tol.
                score = self._validation_score(xp, *validation)
                self.validation_scores_.append(score)
                no_improvement = no_improvement + 1 if score < best + tol else 0
                best = max(best, score)
                self.best_validation_score_ = best
            elif track:
                no_improvement = no_improvement + 1 if epoch_loss > best - tol else 0
                best = min(best, epoch_loss)
            if self.verbose:
                print(
                    f"-- Epoch {epoch + 1}: mean loss {epoch_loss:.6g}, "
                    + (f"validation score {score:.6g}, " if early_stopping else "")
                    + f"samples seen {self._samples_seen}, updates {int(self.t_) - 1}"
                )
            if no_improvement >= self.n_iter_no_change:
                if self.learning_rate == "adaptive" and self._eta_scale * self.eta0 > 1e-6:
                    self._eta_scale /= 5.0
                    no_improvement = 0
                elif self.tol is not None:
                    break
        if self.tol is not None and self.n_iter_ == self.max_iter:
            warnings.warn(
                f"Maximum number of iteration reached before convergence in "
                f"{type(self).__name__}. Consider increasing max_iter to improve the fit.",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _check_loss(self, xp: ModuleType, epoch_loss: float, first_loss: float, T: Any,
                    sample_weight: Any, loss: Any) -> None:
        """Raise when the mean training loss of a pass says that the fit diverges.

        The loss is non-finite, or ``LOSS_BLOWUP`` times both that of the first
        pass and that of the all-zero model (which predicts 0 for every row):
        SGD that works does not multiply its loss by a million, and a model a
        million times worse than no model at all is no fit.  The first pass
        alone is no scale: a fit that starts (``warm_start``) near a perfect
        separation has a loss near zero, and a million times 1e-188 is
        nothing.  Without this a diverging fit whose weights are still finite
        (1e95) would count the exploding loss as "no improvement" and stop
        normally.  Run on the passes whose loss ``fit`` computes for ``tol``
        (not for ``verbose``, which only prints it).
        """
        if math.isfinite(epoch_loss) and not (first_loss > 0.0
                                              and epoch_loss > LOSS_BLOWUP * first_loss):
            return
        if math.isfinite(epoch_loss) and not epoch_loss > LOSS_BLOWUP * self._zero_model_loss(
                xp, T, sample_weight, loss):
            return
        raise ValueError(
            f"Floating-point overflow in SGD: the fit diverges (the mean training loss of pass "
            f"{self.n_iter_} is {epoch_loss:.3g}, the first pass's {first_loss:.3g}). "
            + ("Lower eta0, scale the input (e.g. with StandardScaler) or raise alpha."
               if self.learning_rate != "optimal" else
               "Scale the input (e.g. with StandardScaler) or raise alpha.")
        )

    @staticmethod
    def _zero_model_loss(xp: ModuleType, T: Any, sample_weight: Any, loss: Any) -> float:
        """Mean training loss of the model whose scores are all zero (as the passes count it)."""
        with _quiet_floating_point(xp):
            values = loss.value(xp, xp.zeros_like(T), T)
            if sample_weight is not None:
                values = values * sample_weight[:, None]
            return float(xp.sum(values)) / T.shape[0]

    def _validation_split(
        self, xp: ModuleType, X: Any, T: Any, sample_weight: Any, *, stratify: Any, is_sparse: bool
    ) -> tuple[np.ndarray, tuple[Any, Any, Any]]:
        """(training rows, (X, T, sample weights) of the validation rows) for early stopping.

        Like scikit-learn: ``StratifiedShuffleSplit`` on the labels
        ``stratify`` for a classifier, ``ShuffleSplit`` otherwise, with
        ``test_size=validation_fraction`` and ``random_state``.  The split is
        drawn on the host (labels are copied there once), so it is the same
        on every namespace; the validation rows are gathered next to X and the
        training rows are returned as sorted host indices.
        """
        name = type(self).__name__
        n_samples = X.shape[0]
        fraction = float(self.validation_fraction)
        n_val = math.ceil(fraction * n_samples)
        n_train = n_samples - n_val
        what = (
            f"{name}: early_stopping=True holds out validation_fraction={fraction!r} of the "
            f"{n_samples} training samples ({n_val} for validation, {n_train} for training)"
        )
        problem = None
        labels = None
        if stratify is not None:
            labels = to_numpy(stratify)
            classes, counts = np.unique(labels, return_counts=True)
            n_classes = classes.shape[0]
            if counts.min() < 2:
                problem = (
                    f"{what}, but the stratified split needs at least 2 samples of every class "
                    f"and classes {classes[counts < 2].tolist()} have only 1. Pass more samples "
                    "or set early_stopping=False."
                )
            elif n_val < n_classes:
                problem = (
                    f"{what}, but the stratified split needs at least one validation sample of "
                    f"each of the {n_classes} classes. Raise validation_fraction to at least "
                    f"{n_classes / n_samples:.3g}, pass more samples, or set early_stopping=False."
                )
            elif n_train < n_classes:
                problem = (
                    f"{what}, but the stratified split needs at least one training sample of "
                    f"each of the {n_classes} classes. Lower validation_fraction, pass more "
                    "samples, or set early_stopping=False."
                )
        elif n_train < 1:
            problem = (
                f"{what}, which leaves nothing to train on. Lower validation_fraction, pass "
                "more samples, or set early_stopping=False."
            )
        splitter = StratifiedShuffleSplit if labels is not None else ShuffleSplit
        cv = splitter(n_splits=1, test_size=fraction, random_state=self.random_state)
        cause = None
        if problem is None:
            try:
                train, val = next(cv.split(np.zeros((n_samples, 1)), labels))
            except ValueError as exc:
                problem = f"{what}: {exc} Set early_stopping=False to train on all of X."
                cause = exc
        if problem is not None:
            # Bad input is reported as such, not as a split that cannot be made.
            _check_finite(xp, X.data if is_sparse else X, "X")
            raise ValueError(problem) from cause
        train, val = np.sort(train), np.sort(val)
        X_val = _take_rows(xp, X, val)
        T_val = _take_rows(xp, T, val)
        w_val = None if sample_weight is None else _take_rows(xp, sample_weight, val)
        _check_finite(xp, X_val.data if is_sparse else X_val, "X")
        if w_val is not None and not bool(xp.any(w_val != 0)):
            raise ValueError(
                f"{what}, but the sample weights of all {n_val} validation samples are zero, so "
                "no pass can be scored. Use another random_state or a larger "
                "validation_fraction, or set early_stopping=False."
            )
        return train, (X_val, T_val, w_val)

    def _validation_score(self, xp: ModuleType, X: Any, T: Any, sample_weight: Any) -> float:
        """Score of the current model on validation rows (``T`` their target matrix)."""
        raise NotImplementedError

    def _raw_scores(self, X: Any, method: str) -> tuple[ModuleType, Any]:
        """(xp, X @ coef.T + intercept) as a 2-D score matrix.

        Computed in the wider of the two float types, as NumPy would: float64
        input to a float32 model gets float64 scores (scikit-learn's models
        always answer in float64), float32 input to a float64 model too.
        """
        check_is_fitted(self)
        xp = self._namespace(X, method, reset=False)
        X, is_sparse = self._validate_X(xp, X, reset=False)
        W, b = self._coef_matrix(xp), self.intercept_
        if X.dtype != W.dtype:
            if xp.finfo(X.dtype).bits > xp.finfo(W.dtype).bits:
                W, b = xp.astype(W, X.dtype), xp.astype(b, X.dtype)
            else:
                X = X.astype(W.dtype) if is_sparse else xp.astype(X, W.dtype)
        return xp, X @ W.T + b

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True
        return tags


# With ``shuffle=True`` the rows of each mini-batch are gathered in the
# permuted order into a chunk of whole mini-batches, which is then sliced.
#
# On a GPU (any namespace but NumPy) a chunk is about 16 MiB: one gather
# kernel per chunk, not one per mini-batch.
#
# On the host the gather is bound by memory latency (random rows), and each
# mini-batch is then read twice, by the forward and the backward matrix
# product.  A chunk of about 1 MiB (at least one mini-batch) is still in the
# core's cache when they read it; a 16 MiB chunk is not.  The chunk is one
# buffer reused for the whole pass: one allocation per call, so no page faults
# per chunk even where the allocator returns every large block to the OS (Dask
# workers set MALLOC_TRIM_THRESHOLD_, which pins glibc's mmap threshold at
# 128 KiB).  Smaller chunks only change where the rows are copied to, never
# their order, so the model is bit for bit the same for any chunk size.
GATHER_CHUNK_BYTES = 16 * 2**20
HOST_GATHER_CHUNK_BYTES = 2**20


def _mini_batches(xp, X, T, sample_weight, order, batch_size, is_sparse):
    """Yield (X, T, weights) mini-batches in ``order`` (None: as stored).

    On NumPy the gathered mini-batches are views of a buffer that the next
    chunk overwrites: use each one before asking for the next.
    """
    n_features = X.shape[1]
    n_samples = X.shape[0] if order is None else int(order.shape[0])
    if order is not None and not is_sparse and is_numpy_namespace(xp):
        yield from _host_gathered_batches(X, T, sample_weight, order, batch_size)
        return
    row_bytes = max(1, n_features * _itemsize(xp, X.dtype))
    per_chunk = max(1, GATHER_CHUNK_BYTES // (row_bytes * batch_size)) * batch_size
    for c0 in range(0, n_samples, per_chunk):
        c1 = min(c0 + per_chunk, n_samples)
        if order is None:
            Xc, Tc = X[c0:c1, ...], T[c0:c1, ...]
            wc = None if sample_weight is None else sample_weight[c0:c1]
        else:
            idx = order[c0:c1]
            Xc = X[idx] if is_sparse else xp.take(X, idx, axis=0)
            Tc = xp.take(T, idx, axis=0)
            wc = None if sample_weight is None else xp.take(sample_weight, idx)
        for start in range(0, c1 - c0, batch_size):
            stop = min(start + batch_size, c1 - c0)
            yield (
                Xc[start:stop, ...],
                Tc[start:stop, ...],
                None if wc is None else wc[start:stop],
            )


def _host_gathered_batches(X, T, sample_weight, order, batch_size):
    """``_mini_batches`` for dense NumPy input in ``order``, through one reused buffer.

    The buffer is this thread's scratch (see ``_scratch``): the batches are
    views of it, valid until the next chunk is gathered.
    """
    n_samples = order.shape[0]
    row_bytes = max(1, X.shape[1] * X.itemsize)
    per_chunk = max(1, HOST_GATHER_CHUNK_BYTES // (row_bytes * batch_size)) * batch_size
    per_chunk = min(per_chunk, n_samples)
    X_buf = scratch("gather-X", (per_chunk, X.shape[1]), X.dtype)
    T_buf = scratch("gather-T", (per_chunk, T.shape[1]), T.dtype)
    w_buf = None
    if sample_weight is not None:
        w_buf = scratch("gather-w", (per_chunk,), sample_weight.dtype)
    for c0 in range(0, n_samples, per_chunk):
        idx = order[c0 : c0 + per_chunk]
        m = idx.shape[0]
        # Every index in ``order`` is a row of X, so mode="clip" never clips;
        # unlike the default mode="raise" it lets np.take write straight into
        # ``out`` instead of into a temporary that is then copied there.
        Xc = np.take(X, idx, axis=0, out=X_buf[:m], mode="clip")
        Tc = np.take(T, idx, axis=0, out=T_buf[:m], mode="clip")
        wc = None if w_buf is None else np.take(sample_weight, idx, out=w_buf[:m], mode="clip")
        for start in range(0, m, batch_size):
            stop = min(start + batch_size, m)
            yield Xc[start:stop], Tc[start:stop], None if wc is None else wc[start:stop]


def _host_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of the same name as any namespace's dtype (``array_api_strict.float32``,
    a CuPy / NumPy dtype, ``torch.float32``)."""
    if isinstance(dtype, np.dtype):
        return dtype
    return np.dtype(str(dtype).rsplit(".", 1)[-1])


def _sum_function(xp: ModuleType) -> Any:
    """``xp.sum``, or on NumPy the reduction that ``np.sum`` calls (same result).

    Skips np.sum's per-call overhead, a few microseconds twice per mini-batch.
    Always pass ``axis``: np.add.reduce defaults to axis 0, not None.
    """
    return np.add.reduce if is_numpy_namespace(xp) else xp.sum


def _itemsize(xp: ModuleType, dtype: Any) -> int:
    try:
        return xp.finfo(dtype).bits // 8
    except (TypeError, ValueError):
        return 8


def _quiet_floating_point(xp: ModuleType) -> Any:
    return np.errstate(all="ignore") if is_numpy_namespace(xp) else contextlib.nullcontext()


def _device_or_none(xp: ModuleType, X: Any) -> Any:
    return None if is_numpy_namespace(xp) else device(X)


def _where(xp: ModuleType, X: Any) -> dict:
    """``device=`` keyword for array creation next to X (none on NumPy)."""
    return {} if is_numpy_namespace(xp) else {"device": device(X)}


def _take_rows(xp: ModuleType, a: Any, rows: np.ndarray) -> Any:
    """Rows ``rows`` (host indices) of an array of any namespace, or of a scipy.sparse matrix."""
    if sp.issparse(a):
        return a[rows]
    if is_numpy_namespace(xp):
        return np.take(a, rows, axis=0)
    return xp.take(a, xp.asarray(rows, **_where(xp, a)), axis=0)


def _check_finite(xp: ModuleType, a: Any, name: str) -> None:
    if not bool(xp.all(xp.isfinite(a))):
        raise ValueError(f"Input {name} contains NaN or infinity.")


def _default_float(xp: ModuleType, X: Any) -> Any:
    info = getattr(xp, "__array_namespace_info__", None)
    if info is None:
        return xp.float64
    return info().default_dtypes(device=device(X))["real floating"]


def _seed_from(random_state: Any) -> int:
    """The seed of a call's shuffle, as scikit-learn draws it.

    An int is the seed; a ``RandomState`` gives one draw (it is consumed, one
    draw per ``fit`` / ``partial_fit`` call), and None one draw from NumPy's
    global ``RandomState`` (``np.random.seed`` makes the fit repeatable).
    """
    if isinstance(random_state, numbers.Integral):
        return int(random_state)
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


def all_or_nothing(method):
    """Decorate ``fit`` / ``partial_fit``: a call that raises leaves the estimator as it was.

    Without this a first call that fails (NaN in X, an overflow) would leave
    ``classes_`` and zero weights behind, and the estimator would look fitted.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        before = dict(self.__dict__)
        rng = before.get("_rng")
        rng_state = None if rng is None else rng.bit_generator.state
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(before)
            if rng is not None:
                rng.bit_generator.state = rng_state  # the shuffle of a retry is unchanged
            raise

    return wrapper


def _check_real(
    est: str,
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> None:
    if not isinstance(value, numbers.Real) or isinstance(value, bool) or math.isnan(value):
        raise ValueError(f"{est}: {name} must be a real number, got {value!r}.")
    if not math.isfinite(value):  # scikit-learn refuses +-inf for every real parameter
        raise ValueError(f"{est}: {name} must be a finite real number, got {value!r}.")
    if low is not None and (value < low or (low_open and value == low)):
        bound = ">" if low_open else ">="
        raise ValueError(f"{est}: {name} must be {bound} {low}, got {value!r}.")
    if high is not None and value > high:
        raise ValueError(f"{est}: {name} must be <= {high}, got {value!r}.")


def _invscaling(eta0: float, t: float, power_t: float) -> float:
    """``eta0 / t ** power_t`` without Python's float overflow or division by zero.

    ``t >= 1``, so ``t ** power_t`` only leaves the float range for a large
    ``|power_t|``: the step is then 0 (large ``power_t``: ``t ** power_t``
    overflows) or the largest float (large negative ``power_t``: it
    underflows to 0), where scikit-learn's C code gets 0 or inf.  A step that
    large overflows the weights, which ``fit`` reports as a diverging fit
    (a ``ValueError``), not as Python's OverflowError / ZeroDivisionError.
    """
    try:
        scale = t**power_t
    except OverflowError:  # power_t large and positive: a step below any float
        return 0.0
    if scale == 0.0:  # underflow: power_t large and negative
        return sys.float_info.max
    return min(eta0 / scale, sys.float_info.max)  # the usual arithmetic where it fits


def _check_int(est: str, name: str, value: Any, *, low: int) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{est}: {name} must be an integer >= {low}, got {value!r}.")
