"""Mini-batch SGD classifier and regressor with one code path for every array namespace."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, unique_labels
from sklearn.utils.validation import check_is_fitted

from .._array_api import is_numpy_namespace, namespace_name, to_numpy
from ._base import BaseSGD, _check_finite, _host_dtype, all_or_nothing
from ._loss import (
    CLASSIFICATION_LOSSES,
    REGRESSION_LOSSES,
    log_softmax,
    make_loss,
    sigmoid,
    softmax,
)
from ._scratch import scratch

__all__ = ["SGDClassifier", "SGDRegressor"]


_COMMON_PARAMS_DOC = """
    penalty : {'l2', 'l1', 'elasticnet'} or None, default='l2'
        Regularisation term.  The L1 part is applied after each mini-batch by
        truncated gradient with a cumulative penalty (Tsuruoka et al., 2009),
        which leaves exact zeros.
    alpha : float, default=1e-4
        Regularisation strength; also sets the step size when
        ``learning_rate='optimal'``.
    l1_ratio : float, default=0.15
        Elastic-net mixing (0: pure L2, 1: pure L1); used with ``'elasticnet'``.
    fit_intercept : bool, default=True
        Whether to learn an intercept.
    max_iter : int, default=1000
        Maximum number of passes over the data in ``fit`` (``partial_fit``
        always makes one pass).
    tol : float or None, default=1e-3
        ``fit`` stops when the mean training loss of a pass has not improved
        by ``tol`` for ``n_iter_no_change`` passes (with ``early_stopping``:
        when the validation score has not improved by ``tol``).  ``None``
        disables the check (and, except with ``learning_rate='adaptive'``,
        the per-pass loss computation).  Where the loss is computed for
        ``tol`` (not with ``early_stopping``; with ``tol=None`` only under
        ``'adaptive'``; ``verbose`` never changes this), a pass whose mean
        loss is not finite, or a million times both that of the first pass
        and that of the all-zero model, stops ``fit`` with a ``ValueError``
        (the fit diverges).
    shuffle : bool, default=True
        Visit the samples of each pass in a random order: a keyed Feistel
        permutation whose four keys come from ``random_state``, computed in
        the namespace of the data (no host permutation, nothing copied to the
        device), so the order is the same on every namespace.
    verbose : int, default=0
        Print the mean loss of each pass of ``fit``.
    epsilon : float, default=0.1
        Width of the insensitive region for the regressor's ``huber`` and
        epsilon-insensitive losses.  The classifier has none of these losses
        and ignores it; it is accepted so that scikit-learn's parameters are.
    random_state : int, RandomState instance or None, default=None
        Seed for the shuffling (and the ``early_stopping`` split): an int in
        ``[0, 2**32 - 1]``, a ``numpy.random.RandomState`` or None, as in
        scikit-learn (a ``numpy.random.Generator`` is refused).  A
        ``RandomState`` gives one seed per ``fit`` / ``partial_fit`` call
        (each call draws from it); None draws it from NumPy's global
        ``RandomState``, so ``np.random.seed`` makes the fit repeatable.
    learning_rate : {'optimal', 'constant', 'invscaling', 'adaptive'}, default='optimal'
        Step size schedule, with ``t`` the number of mini-batch updates so far
        (starting at 1) and ``s`` the number of samples seen so far:

        - ``'optimal'``: scikit-learn's per-sample step ``e = 1 / (alpha * (s +
          t0))`` with its heuristic ``t0 = alpha ** -0.75``, counting samples
          (not updates).  One update along the mean gradient of a mini-batch
          of ``m`` rows stands for ``m`` such steps: it is ``m * e`` long as
          long as that stays below ``1 / L_s`` (``L_s`` the loss's smoothness
          times the mean squared row norm of a sample of the rows: the
          stable step of a smooth loss; ``hinge`` and
          ``epsilon_insensitive`` use a unit smoothness), and never shorter
          than ``e``.  The ``perceptron`` loss has no scale (no curvature, no
          margin: scaling the weights scales the loss), so no step is more
          stable than another: it steps ``m * e``, as scikit-learn's ``m``
          per-sample steps would, bounded only at ``0.5 / alpha`` (where one
          update's L2 shrinkage would halve the weights).  For the squared
          losses (``squared_hinge``, ``squared_error``,
          ``squared_epsilon_insensitive``), whose gradient is unbounded, each
          mini-batch's step is also capped at its own stable step ``1 / L_B``,
          ``L_B = c * min(mean_B(|x_i|^2), max_B(|x_i|^2) / m + lambda)``
          (``c`` the loss curvature, ``|x_i|^2`` the squared row norm, plus 1
          with ``fit_intercept``, times the sample weight; ``lambda`` the
          largest eigenvalue of the data's second-moment matrix, estimated
          from up to 1024 rows of each ``fit`` / ``partial_fit`` call).  A
          mini-batch's curvature is at most the mean of its squared row
          norms, but a large mini-batch averages the rows and its curvature
          nears ``lambda``, about ``n_features`` times smaller on
          well-conditioned data: a single-sample bound would step that much
          too short.  That holds for batches of shuffled rows: with
          ``shuffle=False`` a batch may hold rows alike (sorted, grouped,
          repeated), and its cap is ``1 / (c * mean_B(|x_i|^2))`` alone.
          A batch holding a huge row is held back by its own
          ``max_B``; the cap is measured again on every call, so one block
          of outliers does not slow down the blocks after it.  Without
          ``average`` the step is also at most ``m / (32 * c * mean_B(|x_i|^2))``
          (the mean over the batch's rows): the noise an update adds to the
          iterate grows with ``step / m``, and at the largest stable step the
          iterate of a noisy stream of small blocks would keep jumping around
          the optimum.  That bound holds back small mini-batches (streams of
          small ``partial_fit`` blocks; ``fit`` on fewer than 512 rows, as
          ``batch_size='auto'`` takes ``n // 16`` rows per update, where a
          larger ``batch_size`` helps) and many features (100 features,
          312-row batches: R^2 0.96 after one pass, 0.995 after two, where
          the largest stable step reaches 0.997 in one).  With ``average``
          the average, not the noisier iterate, is the model: from the
          mini-batch where averaging starts, the squared losses take the
          stable step alone, and the other smooth losses (``log_loss``,
          ``modified_huber``) a per-batch stable step of the same
          form (instead of ``1 / L_s``); the batches before it step as
          without ``average``.
          The regressor's ``huber`` and ``epsilon_insensitive``, whose
          gradient is bounded by ``G`` (``epsilon``, 1), step differently,
          with or without ``average``: ``min(m * e, M_0 / (sqrt(t) * G *
          R))``, which moves a typical row's prediction by at most ``M_0 /
          sqrt(t)``, ``M_0 = max(rms(y), epsilon)`` (the root mean square of
          the targets of the ``fit`` / ``partial_fit`` call, from up to 4096
          rows), ``R = min(s, s / m + sqrt(lambda * s))`` with ``s`` the mean
          squared row norm and ``lambda`` the top eigenvalue of the rows'
          second-moment matrix (a batch's mean gradient moves a row by its
          own term, over ``m``, and by the others' projection on it).  Their
          gradient does not shrink near the fit, so a
          step that stays long (the stable step, or the floor ``e``, about 10
          at the start) keeps moving the predictions around it: R^2 -1501 and
          -10 on iris (petal width from the other three columns) before this
          schedule, 0.92 and 0.91 now (median of five seeds), as scikit-learn's
          defaults.
        - ``'constant'``: ``eta0``.
        - ``'invscaling'``: ``eta0 / t ** power_t``.
        - ``'adaptive'``: ``eta0``, divided by 5 in ``fit`` whenever the
          training loss (with ``early_stopping``: the validation score) fails
          to improve by ``tol`` for ``n_iter_no_change`` passes; once it is
          down to 1e-6, the next such plateau ends ``fit``.  With
          ``tol=None`` a plateau is a run of passes that do not improve at
          all; it still divides the step, but never ends ``fit``
          (scikit-learn's ``'adaptive'`` never lowers its step with
          ``tol=None``).
          ``partial_fit`` never shrinks it, and continues with the step
          where ``fit`` left it (scikit-learn restarts every ``partial_fit``
          call at ``eta0``).
    eta0 : float, default=0.01
        Initial step size for ``'constant'``, ``'invscaling'`` and
        ``'adaptive'``: the length of one update along a mini-batch's mean
        gradient.  scikit-learn takes that step once per sample, so a pass
        here moves about ``batch_size`` times less far with the same
        ``eta0``; with the losses whose gradient is bounded (``hinge``,
        ``huber``, ``epsilon_insensitive`` ...) and targets far from the
        start, ``fit`` may then stop on ``tol`` long before it fits, without
        a ``ConvergenceWarning`` (the loss does stop improving by ``tol``).
        For example ``SGDRegressor(loss='huber')`` (``epsilon=0.1``, so each
        row's gradient is at most 0.1) with ``'invscaling'``, ``'constant'``
        or ``'adaptive'`` and the default ``eta0=0.01`` reaches R^2 0.01-0.03
        on 2000 rows of 5 standard-normal features and a target of scale 6,
        where scikit-learn reaches 1.0; ``eta0=1.0`` or ``batch_size=1``
        reach 1.0.  Raise ``eta0`` (about ``batch_size`` times
        scikit-learn's, up to the stable step of the loss), use
        ``'optimal'`` (which scales its step with the mini-batch), or
        ``batch_size=1``.
    power_t : float, default=0.5 (classifier), 0.25 (regressor)
        Exponent of ``'invscaling'``.
    early_stopping : bool, default=False
        As in scikit-learn: ``fit`` first sets aside ``validation_fraction``
        of the training data (a stratified split for the classifier, a plain
        random one for the regressor, drawn from ``random_state``), trains on
        the rest, scores the model on the held-out rows after every pass
        (accuracy for the classifier, R^2 for the regressor, as ``score``
        computes them, weighted by ``sample_weight``) and stops when that
        score has not improved by at least ``tol`` over the best so far for
        ``n_iter_no_change`` consecutive passes.  The model of the last pass
        is kept (not the best one).  ``partial_fit`` ignores it (see Notes).
    validation_fraction : float, default=0.1
        Fraction of the training data held out by ``early_stopping``; must be
        strictly between 0 and 1.  Only used with ``early_stopping=True``.
    n_iter_no_change : int, default=5
        Patience of the ``tol`` criterion, in passes.
    warm_start : bool, default=False
        Let ``fit`` start from the current weights instead of zeros.  With
        ``average``, that is the SGD iterate, not the average exposed as
        ``coef_`` (scikit-learn restarts from ``coef_``).  The data must have
        the same number of features (and, for the classifier, the same
        classes) as the previous fit; otherwise ``fit`` raises a
        ``ValueError``.
    average : bool or int, default=False
        Average the weights over the updates (averaged SGD) and expose the
        average as ``coef_``/``intercept_``; an int ``n`` starts averaging once
        ``n`` samples have been seen (with the mini-batch that reaches ``n``):
        until then the model, and every step, is exactly that of plain SGD.
        Each mini-batch's iterate weighs as many samples as the batch has
        rows, as in scikit-learn's per-sample average; with ``'optimal'`` the
        averaged batches of the smooth losses then take larger steps (see
        ``learning_rate``).
    batch_size : int or 'auto', default='auto'
        Number of samples per update.  ``'auto'`` uses
        ``min(1024, max(1, n // 16))`` for a call on ``n`` samples: 1024-row
        batches on large blocks, at least 16 updates per pass on small ones.
        The gradient of a mini-batch is the mean over its rows of the
        weighted per-sample gradients, so ``eta0`` means the same thing for
        every batch size.
"""


class SGDClassifier(ClassifierMixin, BaseSGD):
    """Linear classifier trained by mini-batch stochastic gradient descent.

    A drop-in for :class:`sklearn.linear_model.SGDClassifier` with
    ``partial_fit`` that runs where its input lives: NumPy (and lists, pandas,
    ``scipy.sparse``) on the host, CuPy on the GPU, or any array-API
    namespace.  Fitted arrays and predictions stay in that namespace; use
    :func:`gpuinc.linear_model.to_namespace` to move a fitted model.

    All classes share one weight matrix of shape (n_classes, n_features) (one
    row for binary problems), updated with one matrix product forward and
    one backward per mini-batch.  For multiclass problems ``log_loss`` is the
    multinomial (softmax) cross-entropy, unlike scikit-learn's one-vs-rest;
    the hinge-type losses are one-vs-rest, computed for all classes at once.

    Parameters
    ----------
    loss : {'hinge', 'log_loss', 'modified_huber', 'squared_hinge', \
'perceptron'}, default='hinge'
        Loss function.  ``log_loss`` gives logistic regression and
        ``modified_huber`` a smooth hinge; both provide ``predict_proba``.
    {common}
    class_weight : dict, 'balanced' or None, default=None
        Weight of each class, multiplied into the sample weights.
        ``'balanced'`` uses ``n_samples / (n_classes * count(class))`` and is
        only available in ``fit``.

    Attributes
    ----------
    coef_ : array of shape (1, n_features) or (n_classes, n_features)
        Weights, in the namespace of the training data.
    intercept_ : array of shape (1,) or (n_classes,)
        Intercepts.
    classes_ : array of shape (n_classes,)
        Class labels: any dtype on NumPy, numeric elsewhere.
    t_ : float
        Number of mini-batch updates performed, plus one.
    n_iter_ : int
        Number of passes made by the last ``fit`` (1 after ``partial_fit``).
    validation_scores_ : list of float or None
        Set by ``fit``: the validation accuracy after each pass with
        ``early_stopping=True``, None without it.
    best_validation_score_ : float or None
        Best of ``validation_scores_`` (None without early stopping).
    n_features_in_ : int
        Number of features seen during the first ``fit``/``partial_fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when trained on a pandas DataFrame with string names.

    See Also
    --------
    SGDRegressor : The regression counterpart.

    Notes
    -----
    Differences from scikit-learn's ``SGDClassifier``: updates use mini-batches
    (see ``batch_size``); multiclass ``log_loss`` is multinomial, so
    ``predict_proba`` is a softmax rather than normalised one-vs-rest
    probabilities; in one-vs-rest problems ``class_weight`` weights a sample
    in every column by the weight of its own class; ``n_jobs`` does not
    exist.  ``partial_fit`` ignores ``early_stopping`` where scikit-learn's
    refuses ``early_stopping=True`` with a ``ValueError``, so that one model
    can be both fitted and trained block by block; across blocks,
    ``gpuinc.Incremental(..., early_stopping=True)`` holds out validation
    data and stops.  Early stopping scores the model that ``predict`` uses
    (the averaged one with ``average``), where scikit-learn scores the plain
    SGD iterate.  A ``partial_fit`` block whose sample weights are all zero
    changes nothing (scikit-learn raises), so that such a block does not stop
    a fit over many blocks; NaN or infinity in its X is still an error.
    ``loss`` takes the classification losses only (scikit-learn's also
    takes the regression ones), and ``sparsify`` / ``densify`` do not exist:
    ``coef_`` stays a dense array of the training namespace.

    The input's namespace decides where the model computes.  On CuPy, a
    pass over dense input with the ``l2`` penalty or none is one CUDA kernel
    (every mini-batch of the pass, in order, within one thread block) instead
    of about fifteen kernels per mini-batch; the environment variable
    ``GPUINC_FUSED_SGD=0`` switches back to the array-API loop.  A model fitted
    on one namespace or device refuses input from another with a
    ``ValueError``; ``to_namespace(model, "cupy")``, ``to_namespace(model,
    "numpy")`` or ``to_namespace(model, X)`` returns a copy that lives there.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuinc.linear_model import SGDClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3)).astype(np.float32)
    >>> y = (X[:, 0] + X[:, 1] > 0).astype(int)
    >>> clf = SGDClassifier(loss="log_loss", random_state=0)
    >>> for X_block, y_block in zip(np.split(X, 4), np.split(y, 4)):
    ...     clf = clf.partial_fit(X_block, y_block, classes=[0, 1])
    >>> clf.coef_.dtype
    dtype('float32')
    >>> bool(clf.score(X, y) > 0.9)
    True
    """

    _loss_names = CLASSIFICATION_LOSSES

    def __init__(
        self,
        loss: str = "hinge",
        *,
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        shuffle: bool = True,
        verbose: int = 0,
        epsilon: float = 0.1,
        random_state: Any = None,
        learning_rate: str = "optimal",
        eta0: float = 0.01,
        power_t: float = 0.5,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        class_weight: dict | str | None = None,
        warm_start: bool = False,
        average: bool | int = False,
        batch_size: int | str = "auto",
    ) -> None:
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.average = average
        self.batch_size = batch_size

    # ------------------------------------------------------------- fitting
    @all_or_nothing
    def fit(
        self,
        X: Any,
        y: Any,
        coef_init: Any = None,
        intercept_init: Any = None,
        sample_weight: Any = None,
    ) -> SGDClassifier:
        """Fit the model with up to ``max_iter`` passes of mini-batch SGD.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; its namespace decides where the model computes.
        y : array-like of shape (n_samples,)
            Target labels; moved to the namespace of ``X``.
        coef_init : array of shape (n_classes, n_features), optional
            Starting weights.
        intercept_init : array of shape (n_classes,), optional
            Starting intercepts.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights.

        Returns
        -------
        self : SGDClassifier
            Fitted estimator.
        """
        self._check_params()
        xp = self._namespace(X, "fit", reset=True)
        warm = self._warm_start_weights()
        X, y, is_sparse = self._validate_Xy(xp, X, y, reset=True)
        classes = self._unique_classes(xp, y)
        if warm is not None:
            previous = to_numpy(warm[2])
            if not np.array_equal(np.asarray(to_numpy(classes)), previous):
                raise ValueError(
                    f"warm_start=True continues from the previous fit, which had classes "
                    f"{previous.tolist()}, but y has classes {to_numpy(classes).tolist()}. "
                    "Fit on data with the same classes, or set warm_start=False to start over."
                )
            self._check_warm_features(X, warm[0])
            coef_init = warm[0] if coef_init is None else coef_init
            intercept_init = warm[1] if intercept_init is None else intercept_init
        T, weights, loss, sample_weight = self._prepare(
            xp, X, y, classes, sample_weight, in_fit=True
        )
        self.classes_ = classes
        self._init_state(xp, T.shape[1], X, X.dtype)
        self._set_init(xp, coef_init, intercept_init, X, X.dtype)
        self._run_fit_epochs(
            xp,
            X,
            T,
            weights,
            loss,
            is_sparse=is_sparse,
            score_weight=sample_weight,
            stratify=y,
        )
        return self

    @all_or_nothing
    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> SGDClassifier:
        """Make one pass of mini-batch SGD over the given samples.

        ``early_stopping`` does not apply here: every given sample is trained
        on, and nothing is held out.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; after the first call it must come from the same
            namespace and device as the model.
        y : array-like of shape (n_samples,)
            Target labels.
        classes : array-like of shape (n_classes,), optional
            All labels that can ever occur; required on the first call.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights.

        Returns
        -------
        self : SGDClassifier
            Updated estimator.
        """
        first_call = not hasattr(self, "classes_")
        self._check_params()  # every call: set_params may have changed them since
        if self.class_weight == "balanced":  # also after fit, as scikit-learn
            raise ValueError(
                "class_weight 'balanced' is not supported for partial_fit: the class "
                "frequencies of one block are not those of the data. Compute weights "
                "once with sklearn.utils.class_weight.compute_class_weight('balanced', "
                "classes=classes, y=y_sample) and pass them as a dict."
            )
        xp = self._namespace(X, "partial_fit", reset=first_call)
        X, y, is_sparse = self._validate_Xy(xp, X, y, reset=first_call)
        if first_call:
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            classes = self._unique_classes(xp, self._to_X_namespace(xp, classes, X))
        else:
            if classes is not None:
                given = np.unique(to_numpy(classes))
                if not np.array_equal(given, to_numpy(self.classes_)):
                    raise ValueError(
                        f"`classes={given!r}` is not the same as on the first call to "
                        f"partial_fit, which was {to_numpy(self.classes_)!r}."
                    )
            classes = self.classes_
        T, weights, loss, _ = self._prepare(xp, X, y, classes, sample_weight, in_fit=False)
        if first_call:
            self.classes_ = classes
            self._init_state(xp, T.shape[1], X, X.dtype)
        else:
            self._reseed_call()
        if _weighs_nothing(xp, weights):
            # nothing to learn, but bad input is still refused (and a first call fails)
            _check_finite(xp, X.data if is_sparse else X, "X")
        else:
            self._sgd_epoch(xp, X, T, weights, loss, is_sparse=is_sparse)
        self.n_iter_ = 1
        return self

    def _validate_Xy(self, xp: ModuleType, X: Any, y: Any, *, reset: bool):
        X, y, is_sparse = self._validate_training_data(xp, X, y, reset=reset, y_numeric=False)
        if is_numpy_namespace(xp) and reset:
            check_classification_targets(y)
        elif xp.isdtype(y.dtype, "real floating") and not bool(xp.all(xp.isfinite(y))):
            # scikit-learn's messages on NumPy: inf or NaN is no class label
            if bool(xp.any(xp.isnan(y))):
                raise ValueError("Input y contains NaN.")
            raise ValueError(
                "Input y contains infinity or a value too large for "
                f"dtype('{_host_dtype(y.dtype)}')."
            )
        elif xp.isdtype(y.dtype, "real floating") and not bool(xp.all(y == xp.round(y))):
            raise ValueError(
                "Unknown label type: continuous. SGDClassifier needs class labels, not "
                "real-valued targets."
            )
        return X, y, is_sparse

    def _unique_classes(self, xp: ModuleType, y: Any) -> Any:
        """Sorted distinct labels; at least two are needed."""
        if is_numpy_namespace(xp):
            classes = unique_labels(np.asarray(y))
        elif xp.isdtype(y.dtype, "bool"):  # sort() takes numbers only: False before True
            present = xp.unique_values(y)
            classes = xp.take(present, xp.argsort(xp.astype(present, xp.int8)))
        elif xp.isdtype(y.dtype, ("integral", "real floating")):
            classes = xp.sort(xp.unique_values(y))
        else:
            raise ValueError(
                f"Class labels on {namespace_name(xp)} must be numeric, got dtype {y.dtype}."
            )
        if classes.shape[0] < 2:
            raise ValueError(
                f"The number of classes has to be greater than one; got {classes.shape[0]} class."
            )
        return classes

    def _prepare(
        self, xp: ModuleType, X: Any, y: Any, classes: Any, sample_weight: Any, *, in_fit: bool
    ):
        """Targets (n, k), combined sample/class weights, the loss, and the sample weights.

        Binary problems get one +1/-1 column; multiclass problems a one-hot
        matrix (multinomial log loss) or a +1/-1 matrix (one-vs-rest).  The
        last item is the validated ``sample_weight`` alone (or None), which
        weighs the validation score of early stopping, as in ``score``.
        """
        dtype = X.dtype
        stored = classes
        if is_numpy_namespace(xp):
            y, classes = np.asarray(y), np.asarray(classes)
        else:
            y, classes = _comparable_labels(xp, y, classes)
        if classes.shape[0] == 2:
            is_positive = y == classes[1]
            known = is_positive | (y == classes[0])
            is_class = xp.reshape(is_positive, (-1, 1))
        elif is_numpy_namespace(xp):
            is_class = scratch("targets-is-class", (y.shape[0], classes.shape[0]), np.bool_)
            try:
                np.equal(y[:, None], classes[None, :], out=is_class)
            except TypeError:  # labels that cannot be compared (str and int): none match
                is_class[...] = False
            known = np.logical_or.reduce(is_class, axis=1)
        else:
            is_class = y[:, None] == classes[None, :]
            known = xp.any(is_class, axis=1)
        signed = classes.shape[0] == 2 or self.loss != "log_loss"  # +1/-1, else one-hot
        if is_numpy_namespace(xp):
            # written in place into this thread's scratch: no temporaries of n floats
            T = scratch("targets", is_class.shape, dtype)
            np.copyto(T, is_class)
            if signed:
                T *= 2.0
                T -= 1.0
        else:
            T = xp.astype(is_class, dtype)
            if signed:
                T = 2.0 * T - 1.0
        if not bool(xp.all(known)):
            labels = set(to_numpy(classes).tolist())
            unknown = sorted({v for v in to_numpy(y).tolist() if v not in labels}, key=repr)
            raise ValueError(
                f"y contains labels {unknown} not in classes {to_numpy(stored).tolist()}."
            )
        sample_weight = self._validate_sample_weight(xp, sample_weight, X, dtype, in_fit=in_fit)
        weights = sample_weight
        indicator = None if self.class_weight is None else xp.astype(is_class, dtype)
        class_weights = self._class_weight_vector(xp, indicator, classes)
        if class_weights is not None:
            if indicator.shape[1] == 1:
                per_sample = class_weights[0] + (class_weights[1] - class_weights[0]) * indicator
                per_sample = xp.reshape(per_sample, (-1,))
            else:
                per_sample = indicator @ class_weights
            weights = per_sample if weights is None else weights * per_sample
        loss = make_loss(self.loss, epsilon=float(self.epsilon), n_columns=T.shape[1])
        return T, weights, loss, sample_weight

    def _class_weight_vector(self, xp: ModuleType, indicator: Any, classes: Any) -> Any:
        """One weight per class, or None; ``indicator`` is (n, 1) for binary problems."""
        if self.class_weight is None:
            return None
        n_classes = classes.shape[0]
        if isinstance(self.class_weight, str):
            if self.class_weight != "balanced":
                raise ValueError(
                    f"class_weight must be a dict, 'balanced' or None, got {self.class_weight!r}."
                )
            n_samples = indicator.shape[0]
            counts = xp.sum(indicator, axis=0)
            if indicator.shape[1] == 1:
                counts = xp.concat([n_samples - counts, counts])
            return n_samples / (n_classes * counts)
        labels = to_numpy(classes).tolist()
        # scikit-learn's rule: extra labels are fine when every class has a weight
        unweighted = [label for label in labels if label not in self.class_weight]
        if unweighted and len(labels) - len(unweighted) != len(self.class_weight):
            raise ValueError(f"The classes, {unweighted}, are not in class_weight")
        values = np.asarray([float(self.class_weight.get(label, 1.0)) for label in labels])
        return xp.astype(self._to_X_namespace(xp, values, indicator, dtype=indicator.dtype),
                         indicator.dtype)

    # ------------------------------------------------------------ predicting
    def decision_function(self, X: Any) -> Any:
        """Signed distance to the hyperplane(s).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples, in the model's namespace.

        Returns
        -------
        array of shape (n_samples,) or (n_samples, n_classes)
            Scores; one column per class for multiclass problems.
        """
        xp, scores = self._raw_scores(X, "decision_function")
        if scores.shape[1] == 1:
            return scores[:, 0]
        return scores

    def predict(self, X: Any) -> Any:
        """Predict class labels.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples, in the model's namespace.

        Returns
        -------
        array of shape (n_samples,)
            Labels from ``classes_``.
        """
        xp, scores = self._raw_scores(X, "predict")
        if scores.shape[1] == 1:
            index = xp.astype(scores[:, 0] > 0, xp.int64)
        else:
            index = xp.argmax(scores, axis=1)
        if is_numpy_namespace(xp):
            return np.asarray(self.classes_)[np.asarray(index)]
        return xp.take(self.classes_, index)

    def _check_proba(self) -> bool:
        if self.loss not in ("log_loss", "modified_huber"):
            raise AttributeError(
                f"probability estimates are not available for loss={self.loss!r}; use "
                "loss='log_loss' or loss='modified_huber'."
            )
        return True

    @available_if(_check_proba)
    def predict_proba(self, X: Any) -> Any:
        """Class probabilities (``log_loss`` and ``modified_huber`` only).

        For ``log_loss`` these are the logistic (binary) or softmax
        (multiclass) probabilities of the model.  For ``modified_huber`` they
        follow scikit-learn: ``(clip(score, -1, 1) + 1) / 2`` per class,
        normalised over classes.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples, in the model's namespace.

        Returns
        -------
        array of shape (n_samples, n_classes)
            Rows sum to one.
        """
        xp, scores = self._raw_scores(X, "predict_proba")
        return self._proba_from_scores(xp, scores)

    def _proba_from_scores(self, xp: ModuleType, scores: Any) -> Any:
        if self.loss == "log_loss":
            if scores.shape[1] == 1:
                # each column from its own sigmoid: 1 - p would floor the small
                # probability of the negative class at the rounding error of p
                return xp.concat([sigmoid(xp, -scores), sigmoid(xp, scores)], axis=1)
            return softmax(xp, scores)
        p = (xp.clip(scores, min=-1.0, max=1.0) + 1.0) / 2.0
        if scores.shape[1] == 1:
            return xp.concat([1.0 - p, p], axis=1)
        total = xp.sum(p, axis=1, keepdims=True)
        uniform = xp.ones_like(p) / p.shape[1]
        return xp.where(total > 0, p / xp.where(total > 0, total, xp.ones_like(total)), uniform)

    @available_if(_check_proba)
    def predict_log_proba(self, X: Any) -> Any:
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples, in the model's namespace.

        Returns
        -------
        array of shape (n_samples, n_classes)
            Log-probabilities.
        """
        xp, scores = self._raw_scores(X, "predict_log_proba")
        if self.loss == "log_loss":
            if scores.shape[1] == 1:
                scores = xp.concat([xp.zeros_like(scores), scores], axis=1)
            return log_softmax(xp, scores)
        return xp.log(self._proba_from_scores(xp, scores))

    def _validation_score(self, xp: ModuleType, X: Any, T: Any, sample_weight: Any) -> float:
        """Accuracy on validation rows for early stopping: ``score`` without its checks.

        The rows were validated by ``fit``; the labels come from the target
        matrix ``T`` (class index = positive column / largest entry), so the
        same array-API code and arithmetic run on every namespace.
        """
        scores = X @ self._coef_matrix(xp).T + self.intercept_
        if scores.shape[1] == 1:
            correct = (scores[:, 0] > 0) == (T[:, 0] > 0)
        else:
            correct = xp.argmax(scores, axis=1) == xp.argmax(T, axis=1)
        if sample_weight is None:
            return int(xp.count_nonzero(correct)) / correct.shape[0]
        hits = xp.where(correct, sample_weight, xp.zeros_like(sample_weight))
        return float(xp.sum(hits)) / float(xp.sum(sample_weight))

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on the given samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), optional
            Sample weights.

        Returns
        -------
        float
            (Weighted) fraction of correct predictions.
        """
        check_is_fitted(self)
        xp = self._namespace(X, "score", reset=False)
        if is_numpy_namespace(xp):
            return float(super().score(X, y, sample_weight=sample_weight))
        pred = self.predict(X)
        y, weights = _score_targets(self, xp, y, pred, sample_weight)
        y, pred = _comparable_labels(xp, y, pred)
        correct = xp.astype(y == pred, self.coef_.dtype)
        return _weighted_mean(xp, correct, weights)


class SGDRegressor(RegressorMixin, BaseSGD):
    """Linear regression trained by mini-batch stochastic gradient descent.

    A drop-in for :class:`sklearn.linear_model.SGDRegressor` with
    ``partial_fit`` that runs where its input lives (NumPy, CuPy or any
    array-API namespace); fitted arrays and predictions stay there.

    Parameters
    ----------
    loss : {'squared_error', 'huber', 'epsilon_insensitive', \
'squared_epsilon_insensitive'}, default='squared_error'
        Loss function.
    {common}

    Attributes
    ----------
    coef_ : array of shape (n_features,)
        Weights, in the namespace of the training data.
    intercept_ : array of shape (1,)
        Intercept.
    t_ : float
        Number of mini-batch updates performed, plus one.
    n_iter_ : int
        Number of passes made by the last ``fit`` (1 after ``partial_fit``).
    validation_scores_ : list of float or None
        Set by ``fit``: the validation R^2 after each pass with
        ``early_stopping=True``, None without it.
    best_validation_score_ : float or None
        Best of ``validation_scores_`` (None without early stopping).
    n_features_in_ : int
        Number of features seen during the first ``fit``/``partial_fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when trained on a pandas DataFrame with string names.

    See Also
    --------
    SGDClassifier : The classification counterpart.

    Notes
    -----
    The default ``learning_rate`` is ``'optimal'``, not scikit-learn's
    ``'invscaling'`` with ``eta0=0.01``: a per-sample step of 0.01 moves far
    too little once each update is the mean gradient of a whole mini-batch,
    while ``'optimal'`` scales its step with the mini-batch and the data (see
    ``learning_rate`` in :class:`SGDClassifier`).  For ``huber`` and
    ``epsilon_insensitive`` it bounds how far one update moves a prediction,
    by ``max(rms(y), epsilon) / sqrt(t)``.  Median training R^2 over five
    seeds, defaults otherwise (scikit-learn's defaults in brackets):
    ``epsilon_insensitive`` 0.92 (0.92) on iris, 0.94 (0.93) on standardized
    iris, 0.98 (0.99) on 2000 rows of three mean-5 features; ``huber`` 0.91
    (0.91), 0.93 (0.71), 0.98 (0.98).  ``tol`` is measured in the loss's own
    units, which for ``huber`` are ``epsilon`` times those of the residuals:
    on badly conditioned data (features far from zero mean) ``fit`` may stop
    on ``tol`` before it has converged; scale the features or lower ``tol``.
    ``partial_fit`` ignores ``early_stopping`` (scikit-learn's raises a
    ``ValueError``).  See :class:`SGDClassifier` for namespaces, the one-kernel
    pass on CuPy, early stopping and :func:`to_namespace`.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuinc.linear_model import SGDRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    >>> reg = SGDRegressor(random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.99)
    True
    """

    _loss_names = REGRESSION_LOSSES
    _bounded_moves = True  # see BaseSGD._eta

    def __init__(
        self,
        loss: str = "squared_error",
        *,
        penalty: str | None = "l2",
        alpha: float = 0.0001,
        l1_ratio: float = 0.15,
        fit_intercept: bool = True,
        max_iter: int = 1000,
        tol: float | None = 1e-3,
        shuffle: bool = True,
        verbose: int = 0,
        epsilon: float = 0.1,
        random_state: Any = None,
        learning_rate: str = "optimal",
        eta0: float = 0.01,
        power_t: float = 0.25,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        warm_start: bool = False,
        average: bool | int = False,
        batch_size: int | str = "auto",
    ) -> None:
        self.loss = loss
        self.penalty = penalty
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.epsilon = epsilon
        self.random_state = random_state
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.average = average
        self.batch_size = batch_size

    @all_or_nothing
    def fit(
        self,
        X: Any,
        y: Any,
        coef_init: Any = None,
        intercept_init: Any = None,
        sample_weight: Any = None,
    ) -> SGDRegressor:
        """Fit the model with up to ``max_iter`` passes of mini-batch SGD.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; its namespace decides where the model computes.
        y : array-like of shape (n_samples,)
            Targets; moved to the namespace of ``X``.
        coef_init : array of shape (n_features,), optional
            Starting weights.
        intercept_init : array of shape (1,), optional
            Starting intercept.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights.

        Returns
        -------
        self : SGDRegressor
            Fitted estimator.
        """
        self._check_params()
        xp = self._namespace(X, "fit", reset=True)
        warm = self._warm_start_weights()
        X, T, is_sparse = self._validate_Xy(xp, X, y, reset=True)
        if warm is not None:
            self._check_warm_features(X, warm[0])
            coef_init = warm[0] if coef_init is None else coef_init
            intercept_init = warm[1] if intercept_init is None else intercept_init
        weights = self._validate_sample_weight(xp, sample_weight, X, X.dtype, in_fit=True)
        self._init_state(xp, 1, X, X.dtype)
        self._set_init(xp, coef_init, intercept_init, X, X.dtype)
        loss = make_loss(self.loss, epsilon=float(self.epsilon))
        self._run_fit_epochs(xp, X, T, weights, loss, is_sparse=is_sparse, score_weight=weights)
        return self

    @all_or_nothing
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> SGDRegressor:
        """Make one pass of mini-batch SGD over the given samples.

        ``early_stopping`` does not apply here: every given sample is trained
        on, and nothing is held out.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data; after the first call it must come from the same
            namespace and device as the model.
        y : array-like of shape (n_samples,)
            Targets.
        sample_weight : array-like of shape (n_samples,), optional
            Per-sample weights.

        Returns
        -------
        self : SGDRegressor
            Updated estimator.
        """
        first_call = not hasattr(self, "coef_")
        self._check_params()  # every call: set_params may have changed them since
        xp = self._namespace(X, "partial_fit", reset=first_call)
        X, T, is_sparse = self._validate_Xy(xp, X, y, reset=first_call)
        weights = self._validate_sample_weight(xp, sample_weight, X, X.dtype)
        if first_call:
            self._init_state(xp, 1, X, X.dtype)
        else:
            self._reseed_call()
        loss = make_loss(self.loss, epsilon=float(self.epsilon))
        if _weighs_nothing(xp, weights):
            # nothing to learn, but bad input is still refused (and a first call fails)
            _check_finite(xp, X.data if is_sparse else X, "X")
        else:
            self._sgd_epoch(xp, X, T, weights, loss, is_sparse=is_sparse)
        self.n_iter_ = 1
        return self

    def _validate_Xy(self, xp: ModuleType, X: Any, y: Any, *, reset: bool):
        X, y, is_sparse = self._validate_training_data(xp, X, y, reset=reset, y_numeric=True)
        if is_numpy_namespace(xp):
            y = np.asarray(y, dtype=X.dtype)
        else:
            y = xp.astype(y, X.dtype)
        if not bool(xp.all(xp.isfinite(y))):
            raise ValueError("Input y contains NaN or infinity.")
        return X, xp.reshape(y, (-1, 1)), is_sparse

    def _coef_matrix(self, xp: ModuleType) -> Any:
        return xp.reshape(self.coef_, (1, -1))

    def _set_coef(self, xp: ModuleType, W: Any) -> None:
        self.coef_ = xp.reshape(W, (-1,))

    def predict(self, X: Any) -> Any:
        """Predict targets.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples, in the model's namespace.

        Returns
        -------
        array of shape (n_samples,)
            Predictions.
        """
        _, scores = self._raw_scores(X, "predict")
        return scores[:, 0]

    def _validation_score(self, xp: ModuleType, X: Any, T: Any, sample_weight: Any) -> float:
        """R^2 on validation rows for early stopping: ``score`` without its checks.

        Same array-API code and arithmetic on every namespace; like
        ``r2_score``, a constant target gives 1.0 for a perfect fit, else 0.0.
        """
        y = T[:, 0]
        residual = y - (X @ self._coef_matrix(xp).T + self.intercept_)[:, 0]
        if sample_weight is None:
            centred = y - xp.mean(y)
            ss_res = float(xp.sum(residual * residual))
            ss_tot = float(xp.sum(centred * centred))
        else:
            centred = y - xp.sum(sample_weight * y) / xp.sum(sample_weight)
            ss_res = float(xp.sum(sample_weight * residual * residual))
            ss_tot = float(xp.sum(sample_weight * centred * centred))
        if ss_tot == 0.0:
            return 1.0 if ss_res == 0.0 else 0.0
        return 1.0 - ss_res / ss_tot

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination R^2 on the given samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            True targets.
        sample_weight : array-like of shape (n_samples,), optional
            Sample weights.

        Returns
        -------
        float
            R^2 of the predictions.
        """
        check_is_fitted(self)
        xp = self._namespace(X, "score", reset=False)
        if is_numpy_namespace(xp):
            return float(super().score(X, y, sample_weight=sample_weight))
        pred = self.predict(X)
        y, weights = _score_targets(self, xp, y, pred, sample_weight, numeric=True)
        y = xp.astype(y, pred.dtype)
        y_mean = _weighted_mean(xp, y, weights)
        ss_res = _weighted_mean(xp, (y - pred) ** 2, weights)
        ss_tot = _weighted_mean(xp, (y - y_mean) ** 2, weights)
        if ss_tot == 0.0:
            return 1.0 if ss_res == 0.0 else 0.0
        return 1.0 - ss_res / ss_tot


SGDClassifier.__doc__ = SGDClassifier.__doc__.replace("{common}", _COMMON_PARAMS_DOC.strip())
SGDRegressor.__doc__ = SGDRegressor.__doc__.replace("{common}", _COMMON_PARAMS_DOC.strip())


def _comparable_labels(xp: ModuleType, y: Any, classes: Any) -> tuple[Any, Any]:
    """``y`` and ``classes`` in one dtype, so that they compare by value on any namespace.

    NumPy compares 1.0 with 1 and True with 1 by value; strict namespaces
    refuse to mix bool, integer and float arrays.  Bool goes to the other
    kind, integers to floats, two integer types to their common type.  Two
    that have none (uint64 and a signed type) are compared exactly: the
    signed values as uint64 when none is negative, else the unsigned ones as
    int64 when none exceeds its range; otherwise a ValueError (float64 would
    merge labels above 2**53).
    """
    if y.dtype == classes.dtype:
        return y, classes

    def kind(dtype):
        if xp.isdtype(dtype, "bool"):
            return 0
        return 1 if xp.isdtype(dtype, "integral") else 2

    ky, kc = kind(y.dtype), kind(classes.dtype)
    if ky != kc:
        common = y.dtype if ky > kc else classes.dtype
    else:
        try:
            common = xp.result_type(y.dtype, classes.dtype)
        except TypeError:  # (array_api_strict: uint64 and a signed type have none)
            return _exact_integer_labels(xp, y, classes)
        if ky == 1 and not xp.isdtype(common, "integral"):  # (NumPy, CuPy: float64)
            return _exact_integer_labels(xp, y, classes)
    return xp.astype(y, common), xp.astype(classes, common)


def _exact_integer_labels(xp: ModuleType, y: Any, classes: Any) -> tuple[Any, Any]:
    """``y`` and ``classes``, one of them unsigned and the other signed, in one exact dtype."""
    unsigned, signed = (y, classes) if xp.isdtype(y.dtype, "unsigned integer") else (classes, y)
    if signed.shape[0] == 0 or int(xp.min(signed)) >= 0:
        target = unsigned.dtype
    elif unsigned.shape[0] == 0 or int(xp.max(unsigned)) <= int(xp.iinfo(signed.dtype).max):
        target = signed.dtype
    else:
        raise ValueError(
            f"Labels of dtype {y.dtype} cannot be compared exactly with classes of dtype "
            f"{classes.dtype}: one holds negative values, the other values above "
            f"{int(xp.iinfo(signed.dtype).max)}. Pass labels and classes of one integer dtype."
        )
    return xp.astype(y, target), xp.astype(classes, target)


def _score_targets(est: BaseSGD, xp: ModuleType, y: Any, pred: Any,
                   sample_weight: Any, numeric: bool = False) -> tuple[Any, Any]:
    """``y`` as a 1-D array next to ``pred``, and validated weights (or None).

    The checks of scikit-learn's ``score`` on NumPy, for the other namespaces:
    one target per predicted row, finite targets, weights of the same length,
    finite and not all zero.
    """
    y = est._to_X_namespace(xp, y, pred, dtype=pred.dtype if numeric else None)
    n = pred.shape[0]
    if y.ndim == 2 and y.shape[1] == 1:
        y = xp.reshape(y, (-1,))
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(
            f"Found input variables with inconsistent numbers of samples: X has {n} rows, "
            f"y has shape {tuple(y.shape)}; pass one target per row of X (a 1-D y)."
        )
    if xp.isdtype(y.dtype, "real floating") and not bool(xp.all(xp.isfinite(y))):
        # scikit-learn's error on NumPy (its classifier names the targets y_true)
        name = "" if numeric else " y_true"
        if bool(xp.any(xp.isnan(y))):
            raise ValueError(f"Input{name} contains NaN.")
        raise ValueError(
            f"Input{name} contains infinity or a value too large for "
            f"dtype('{_host_dtype(y.dtype)}')."
        )
    weights = est._validate_sample_weight(xp, sample_weight, pred, est.coef_.dtype, in_fit=True)
    return y, weights


def _weighted_mean(xp: ModuleType, values: Any, weights: Any) -> float:
    if weights is None:
        return float(xp.mean(values))
    weights = xp.astype(weights, values.dtype)
    return float(xp.sum(values * weights) / xp.sum(weights))


def _weighs_nothing(xp: ModuleType, weights: Any) -> bool:
    """Whether every row of a ``partial_fit`` block has weight zero (then it is a no-op).

    Without this the pass would still decay, clip and average the weights and
    advance the step schedule, although no row asked for a step.
    """
    return weights is not None and not bool(xp.any(weights != 0))
