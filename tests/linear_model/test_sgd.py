"""Behaviour of gpuinc's SGDClassifier and SGDRegressor on NumPy input."""

from __future__ import annotations

import math
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from arrays import misaligned_copy
from numpy.testing import assert_allclose, assert_array_equal
from sgd_data import blobs as _blobs
from sgd_data import linear as _linear
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_class_weight

from gpuinc.linear_model import SGDClassifier, SGDRegressor


# ------------------------------------------------------------------ shapes, dtypes
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_and_predictions_are_numpy(dtype):
    X, y = _blobs(dtype=dtype)
    clf = SGDClassifier(random_state=0).fit(X, y)
    assert clf.coef_.dtype == dtype and clf.intercept_.dtype == dtype
    assert clf.decision_function(X).dtype == dtype
    assert isinstance(clf.predict(X), np.ndarray)
    # later blocks of another dtype are cast to the model's dtype
    clf.partial_fit(X.astype(np.float64), y)
    assert clf.coef_.dtype == dtype

    Xr, yr = _linear(dtype=dtype)
    reg = SGDRegressor(random_state=0).fit(Xr, yr)
    assert reg.coef_.dtype == dtype and reg.predict(Xr).dtype == dtype


def test_integer_input_is_trained_in_float64():
    X, y = _blobs()
    clf = SGDClassifier(random_state=0, max_iter=3, tol=None).fit(np.round(X).astype(int), y)
    assert clf.coef_.dtype == np.float64


def test_fitted_attribute_shapes():
    X, y = _blobs(n_classes=2)
    clf = SGDClassifier(random_state=0).fit(X, y)
    assert clf.coef_.shape == (1, 5) and clf.intercept_.shape == (1,)
    assert clf.decision_function(X).shape == (400,)
    X3, y3 = _blobs(n_classes=3)
    clf3 = SGDClassifier(random_state=0).fit(X3, y3)
    assert clf3.coef_.shape == (3, 5) and clf3.intercept_.shape == (3,)
    assert clf3.decision_function(X3).shape == (400, 3)
    assert clf3.n_features_in_ == 5
    Xr, yr = _linear()
    reg = SGDRegressor(random_state=0).fit(Xr, yr)
    assert reg.coef_.shape == (5,) and reg.intercept_.shape == (1,)


def test_string_labels_on_numpy():
    X, y = _blobs(n_classes=3)
    labels = np.array(["cat", "dog", "emu"])[y]
    clf = SGDClassifier(loss="log_loss", random_state=0).fit(X, labels)
    assert_array_equal(clf.classes_, ["cat", "dog", "emu"])
    assert clf.predict(X).dtype.kind == "U"
    assert clf.score(X, labels) > 0.9


def test_counters_count_updates_and_passes():
    X, y = _blobs(n_samples=160)
    clf = SGDClassifier(batch_size=32, random_state=0).partial_fit(X, y, classes=[0, 1])
    assert clf.t_ == 1 + 5 and clf.n_iter_ == 1
    # 'auto' takes at least 16 updates on a small call
    auto = SGDClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    assert auto.t_ == 1 + 16
    fitted = SGDClassifier(random_state=0, batch_size=40, max_iter=3, tol=None).fit(X, y)
    assert fitted.n_iter_ == 3 and fitted.t_ == 1 + 3 * 4


# --------------------------------------------------------------------- probabilities
@pytest.mark.parametrize("loss", ["log_loss", "modified_huber"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_predict_proba_sums_to_one(loss, n_classes):
    X, y = _blobs(n_classes=n_classes)
    clf = SGDClassifier(loss=loss, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], n_classes)
    assert np.all(proba >= 0) and np.all(proba <= 1)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    if loss == "log_loss":
        assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
        assert_allclose(np.exp(clf.predict_log_proba(X)), proba, atol=1e-12)


def test_modified_huber_gives_uniform_rows_where_no_class_scores():
    X, y = _blobs(n_classes=3)
    clf = SGDClassifier(loss="modified_huber", random_state=0).fit(X, y)
    clf.coef_ = np.zeros_like(clf.coef_)
    clf.intercept_ = np.full_like(clf.intercept_, -5.0)
    assert_allclose(clf.predict_proba(X[:3]), np.full((3, 3), 1 / 3))


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge", "perceptron"])
def test_no_probabilities_for_margin_losses(loss):
    clf = SGDClassifier(loss=loss)
    assert not hasattr(clf, "predict_proba")
    assert not hasattr(clf, "predict_log_proba")
    with pytest.raises(AttributeError) as excinfo:
        getattr(clf, "predict_proba")  # noqa: B009
    assert f"not available for loss='{loss}'" in str(excinfo.value.__cause__)


# ------------------------------------------------------------------------ weights
def test_sample_weight_scales_each_sample_loss():
    """Doubling every weight is doubling the step (one full batch, constant rate)."""
    X, y = _blobs()
    common = dict(
        learning_rate="constant", penalty=None, shuffle=False, batch_size=400, max_iter=1, tol=None
    )
    doubled = SGDClassifier(eta0=0.01, **common).fit(X, y, sample_weight=np.full(400, 2.0))
    faster = SGDClassifier(eta0=0.02, **common).fit(X, y)
    assert_allclose(doubled.coef_, faster.coef_, rtol=1e-12)
    ones = SGDClassifier(random_state=0).fit(X, y, sample_weight=np.ones(400))
    none = SGDClassifier(random_state=0).fit(X, y)
    assert_array_equal(ones.coef_, none.coef_)


def test_sample_weight_shifts_the_boundary():
    X, y = _blobs(n_classes=2, seed=3)
    X = X + np.random.default_rng(1).normal(scale=3.0, size=X.shape)  # overlap the classes
    base = SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    favour_1 = SGDClassifier(loss="log_loss", random_state=0).fit(
        X, y, sample_weight=np.where(y == 1, 10.0, 1.0)
    )
    assert np.mean(favour_1.predict(X) == 1) > np.mean(base.predict(X) == 1)


def test_sample_weight_errors():
    X, y = _blobs()
    with pytest.raises(ValueError, match="sample_weight.shape"):
        SGDClassifier().fit(X, y, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="non-zero"):
        SGDRegressor().fit(X, y, sample_weight=np.zeros(400))


@pytest.mark.parametrize("params", [
    {}, {"alpha": 0.1}, {"penalty": "l1", "alpha": 0.01}, {"average": True},
    {"class_weight": {0: 2.0, 1: 1.0}},
])
@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_partial_fit_block_of_zero_weights_changes_nothing(Est, params):
    # no row asks for a step: no decay, no l1 clipping, no averaging, no schedule step
    if Est is SGDRegressor and "class_weight" in params:
        pytest.skip("class_weight is the classifier's")
    X, y = _blobs()
    kw = {"classes": [0, 1]} if Est is SGDClassifier else {}
    est = Est(random_state=0, **params).partial_fit(X, y, **kw)
    state = {k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in vars(est).items()
             if k != "_rng"}
    est.partial_fit(X, y, sample_weight=np.zeros(400))
    for k, v in state.items():
        assert_array_equal(getattr(est, k), v, err_msg=k)
    est.partial_fit(X, y, sample_weight=np.ones(400))  # and a weighted block trains again
    assert est.t_ > state["t_"]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_class_weight_dict_is_a_per_class_sample_weight(n_classes):
    X, y = _blobs(n_classes=n_classes)
    class_weight = {1: 3.0, 0: 0.5}
    by_class = SGDClassifier(random_state=0, class_weight=class_weight).fit(X, y)
    per_sample = np.array([class_weight.get(label, 1.0) for label in y])
    by_sample = SGDClassifier(random_state=0).fit(X, y, sample_weight=per_sample)
    assert_allclose(by_class.coef_, by_sample.coef_, rtol=1e-10)
    assert_allclose(by_class.intercept_, by_sample.intercept_, rtol=1e-10, atol=1e-12)


def test_class_weight_balanced():
    X, y = _blobs(n_classes=3)
    keep = (y != 2) | (np.arange(y.size) % 4 == 0)  # make class 2 rare
    X, y = X[keep], y[keep]
    balanced = SGDClassifier(random_state=0, class_weight="balanced").fit(X, y)
    weights = compute_class_weight("balanced", classes=np.unique(y), y=y)
    explicit = SGDClassifier(random_state=0, class_weight=dict(enumerate(weights))).fit(X, y)
    assert_allclose(balanced.coef_, explicit.coef_, rtol=1e-10)
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        SGDClassifier(class_weight="balanced").partial_fit(X, y, classes=[0, 1, 2])
    # also after fit, as scikit-learn
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        balanced.partial_fit(X, y)
    # scikit-learn's rule: an extra label is fine when every class has a weight
    with pytest.raises(ValueError, match=r"The classes, \[0, 1, 2\], are not in class_weight"):
        SGDClassifier(class_weight={7: 2.0}).fit(X, y)
    extra = SGDClassifier(random_state=0, class_weight={**dict(enumerate(weights)), 7: 2.0})
    assert_allclose(extra.fit(X, y).coef_, explicit.coef_, rtol=1e-10)


@pytest.mark.parametrize("param, value", [("fit_intercept", "no"), ("shuffle", "yes"),
                                          ("warm_start", 1), ("verbose", "x"), ("verbose", -1)])
def test_flags_are_type_checked(param, value):
    X, y = _blobs()
    with pytest.raises(ValueError, match=f"{param} must be"):
        SGDClassifier(**{param: value}).fit(X, y)


def test_scalar_zero_sample_weight_is_refused_by_fit():
    X, y = _linear()
    with pytest.raises(ValueError, match="at least one non-zero"):
        SGDRegressor().fit(X, y, sample_weight=0)


# ----------------------------------------------------------------------- averaging
def _iterates(X, y, batch, params):
    """Weights after each mini-batch, by feeding one batch per partial_fit call."""
    est = SGDClassifier(batch_size=batch, **params)
    coefs, intercepts = [], []
    for start in range(0, X.shape[0], batch):
        est.partial_fit(X[start : start + batch], y[start : start + batch], classes=[0, 1])
        coefs.append(est.coef_.copy())
        intercepts.append(est.intercept_.copy())
    return np.array(coefs), np.array(intercepts)


@pytest.mark.parametrize("average, first", [(True, 0), (50, 1), (120, 2)])
def test_average_is_the_mean_of_the_iterates(average, first):
    X, y = _blobs(n_samples=200)
    params = dict(loss="log_loss", learning_rate="constant", eta0=0.1, shuffle=False)
    coefs, intercepts = _iterates(X, y, 40, params)
    avg = SGDClassifier(batch_size=40, average=average, **params)
    avg.partial_fit(X, y, classes=[0, 1])
    assert_allclose(avg.coef_, coefs[first:].mean(axis=0), rtol=1e-10)
    assert_allclose(avg.intercept_, intercepts[first:].mean(axis=0), rtol=1e-10)
    # the iterate itself keeps going underneath
    assert_allclose(avg._standard_coef, coefs[-1], rtol=1e-10)


def test_average_before_start_exposes_the_iterate():
    est = SGDRegressor(average=10_000, batch_size=10, random_state=0)
    est.partial_fit(*_linear(n_samples=100))
    assert_array_equal(est.coef_, est._standard_coef[0])


# ------------------------------------------------------------------ fitting options
def test_fit_stops_on_a_plateau_and_warns_when_it_cannot():
    X, y = _blobs()
    clf = SGDClassifier(random_state=0, max_iter=1000).fit(X, y)
    assert 1 < clf.n_iter_ < 1000
    for max_iter in (1, 2):  # one pass is not spared the warning, as in scikit-learn
        with pytest.warns(ConvergenceWarning, match="max_iter"):
            SGDClassifier(random_state=0, max_iter=max_iter, tol=1e-12).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SGDClassifier(random_state=0, max_iter=2, tol=None).fit(X, y)


def test_adaptive_rate_shrinks_on_plateaus():
    X, y = _linear()
    reg = SGDRegressor(learning_rate="adaptive", eta0=0.1, tol=1e-2, n_iter_no_change=2)
    reg.set_params(random_state=0, max_iter=60).fit(X, y)
    assert reg._eta_scale < 1.0
    assert reg.score(X, y) > 0.99


@pytest.mark.parametrize("learning_rate", ["constant", "optimal", "invscaling", "adaptive"])
def test_every_learning_rate_learns(learning_rate):
    X, y = _blobs()
    clf = SGDClassifier(learning_rate=learning_rate, eta0=0.1, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    Xr, yr = _linear()
    reg = SGDRegressor(learning_rate=learning_rate, eta0=0.05, random_state=0).fit(Xr, yr)
    assert reg.score(Xr, yr) > 0.95


def test_warm_start_and_initial_weights():
    X, y = _blobs()
    cold = SGDClassifier(random_state=0, max_iter=1, tol=None).fit(X, y)
    warm = SGDClassifier(random_state=0, max_iter=1, tol=None, warm_start=True).fit(X, y)
    warm.fit(X, y)
    assert not np.allclose(cold.coef_, warm.coef_)

    start = np.full((1, 5), 3.0)
    tiny = SGDClassifier(learning_rate="constant", eta0=1e-9, max_iter=1, tol=None)
    tiny.fit(X, y, coef_init=start, intercept_init=[1.5])
    assert_allclose(tiny.coef_, start, rtol=1e-6)
    assert_allclose(tiny.intercept_, [1.5], rtol=1e-6)
    reg = SGDRegressor(learning_rate="constant", eta0=1e-9, max_iter=1, tol=None)
    reg.fit(*_linear(), coef_init=np.arange(5.0))
    assert_allclose(reg.coef_, np.arange(5.0), atol=1e-6)
    with pytest.raises(ValueError, match="coef_init has shape"):
        SGDClassifier().fit(X, y, coef_init=np.ones((2, 5)))


def test_l1_penalty_gives_exact_zeros():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 20))
    y = (X[:, 0] - 2 * X[:, 1] > 0).astype(int)
    l1 = SGDClassifier(penalty="l1", alpha=3e-2, random_state=0).fit(X, y)
    l2 = SGDClassifier(penalty="l2", alpha=3e-2, random_state=0).fit(X, y)
    assert np.sum(l1.coef_ == 0) >= 8
    assert np.sum(l2.coef_ == 0) == 0
    assert np.all(l1.coef_[0, :2] != 0)
    assert l1.score(X, y) > 0.95
    elastic = SGDClassifier(penalty="elasticnet", l1_ratio=0.9, alpha=3e-2, random_state=0)
    assert np.sum(elastic.fit(X, y).coef_ == 0) >= 4


def test_fit_intercept_false_keeps_zero_intercept():
    X, y = _linear()
    reg = SGDRegressor(fit_intercept=False, random_state=0).fit(X, y)
    assert_array_equal(reg.intercept_, [0.0])


# ----------------------------------------------------------------- input handling
def test_sparse_input_gives_the_dense_result():
    X, y = _blobs(n_classes=3)
    X[np.abs(X) < 1.0] = 0.0
    dense = SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    for fmt in (sp.csr_matrix, sp.csc_array, sp.coo_matrix):
        sparse = SGDClassifier(loss="log_loss", random_state=0).fit(fmt(X), y)
        assert_allclose(sparse.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
        assert_allclose(sparse.predict_proba(fmt(X)), dense.predict_proba(X), rtol=1e-10)
    Xr, yr = _linear()
    reg_dense = SGDRegressor(random_state=0).partial_fit(Xr, yr)
    reg_sparse = SGDRegressor(random_state=0).partial_fit(sp.csr_array(Xr), yr)
    assert_allclose(reg_sparse.coef_, reg_dense.coef_, rtol=1e-10)


def test_pandas_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = _blobs()
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    clf = SGDClassifier(random_state=0).fit(frame, pd.Series(y))
    assert_array_equal(clf.feature_names_in_, frame.columns)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        clf.predict(X)
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(frame[frame.columns[::-1]])


def test_partial_fit_errors():
    X, y = _blobs(n_classes=3)
    with pytest.raises(ValueError, match="classes must be passed"):
        SGDClassifier().partial_fit(X, y)
    with pytest.raises(ValueError, match="greater than one"):
        SGDClassifier().partial_fit(X, y, classes=[0])
    clf = SGDClassifier().partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"labels \[9\] not in classes"):
        clf.partial_fit(X, np.where(y == 0, 9, y))
    with pytest.raises(ValueError, match=r"labels \['a', 'b'\] not in classes \[0, 1, 2, 3\]"):
        clf.partial_fit(X, np.where(y == 0, "a", "b"))  # labels of another type
    with pytest.raises(ValueError, match="not the same as on the first call"):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :3], y)
    with pytest.raises(ValueError, match="Unknown label type"):
        SGDClassifier().fit(X, y + 0.5)
    assert clf.partial_fit(X, y, classes=[0, 1, 2, 3]) is clf


def test_bad_input_leaves_the_model_unchanged():
    X, y = _blobs()
    clf = SGDClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    before = clf.coef_.copy(), clf.t_
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.partial_fit(bad, y)
    bad[7, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.partial_fit(bad, y)
    assert_array_equal(clf.coef_, before[0])
    assert clf.t_ == before[1]
    with pytest.raises(ValueError, match="infinity"):
        clf.predict(bad)


def test_divergence_raises_and_keeps_the_model():
    """Finite input that makes the weights overflow is reported as such, not as NaN input."""
    Xr, yr = _linear()
    reg = SGDRegressor(learning_rate="constant", eta0=1.0, batch_size=1, random_state=0)
    reg.partial_fit(Xr, yr)
    before = reg.coef_.copy()
    reg.set_params(eta0=1e8)
    with pytest.raises(ValueError, match="no longer finite"):
        reg.partial_fit(Xr * 1e3, yr)
    assert_array_equal(reg.coef_, before)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(loss="squared_error"), "loss='squared_error' is not supported"),
        (dict(penalty="l3"), "penalty"),
        (dict(learning_rate="fast"), "learning_rate"),
        (dict(alpha=0.0), "alpha must be > 0 with learning_rate='optimal'"),
        (dict(alpha=-1.0), "alpha must be >= 0"),
        (dict(eta0=0.0), "eta0 must be > 0"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size="big"), "batch_size"),
        (dict(max_iter=0), "max_iter"),
        (dict(l1_ratio=1.5), "l1_ratio"),
        (dict(average=-1), "average"),
    ],
)
def test_parameter_errors(params, match):
    X, y = _blobs()
    with pytest.raises(ValueError, match=match):
        SGDClassifier(**params).fit(X, y)


@pytest.mark.parametrize("class_weight", [[0, 1], (1, 2), "even"])
def test_class_weight_of_another_type_is_refused(class_weight):
    X, y = _blobs()
    with pytest.raises(ValueError, match="class_weight must be a dict .* 'balanced' or None"):
        SGDClassifier(class_weight=class_weight).fit(X, y)
    with pytest.raises(ValueError, match="class_weight must be a dict"):
        SGDClassifier(class_weight=class_weight).partial_fit(X, y, classes=[0, 1])


@pytest.mark.parametrize("Model, data", [(SGDClassifier, _blobs), (SGDRegressor, _linear)])
@pytest.mark.parametrize("params, match", [
    (dict(learning_rate="bogus"), "learning_rate='bogus' is not supported"),
    (dict(penalty="bogus"), "penalty='bogus' is not supported"),
    (dict(alpha=-1.0), "alpha must be >= 0"),
])
def test_parameters_set_between_partial_fit_calls_are_checked(Model, data, params, match):
    X, y = data()
    kw = {"classes": np.unique(y)} if Model is SGDClassifier else {}
    model = Model(random_state=0).partial_fit(X, y, **kw)
    before = model.coef_.copy()
    with pytest.raises(ValueError, match=match):
        model.set_params(**params).partial_fit(X, y)
    assert_array_equal(model.coef_, before)


@pytest.mark.parametrize("Model, data", [(SGDClassifier, _blobs), (SGDRegressor, _linear)])
def test_a_block_that_weighs_nothing_leaves_the_step_sizes_alone(Model, data):
    """All-zero sample weights tell nothing about the data's scale: the 'optimal'
    schedule's smoothness cap must not fall to zero (which shortens every later step)."""
    X, y = data()
    kw = {"classes": np.unique(y)} if Model is SGDClassifier else {}
    plain = Model(random_state=0).partial_fit(X, y, **kw)
    skipped = Model(random_state=0).partial_fit(X, y, **kw)
    skipped.partial_fit(X[:50], y[:50], sample_weight=np.zeros(50))
    assert plain._smooth_cap > 0
    assert skipped._smooth_cap == plain._smooth_cap
    # the first call weighing nothing: no cap yet, the next block sets it
    late = Model(random_state=0).partial_fit(X[:50], y[:50], sample_weight=np.zeros(50), **kw)
    assert late._smooth_cap is None
    late.partial_fit(X, y)
    assert late._smooth_cap == plain._smooth_cap


def test_a_zero_smoothness_cap_saved_by_older_versions_is_replaced():
    X, y = _blobs()
    plain = SGDClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    old = SGDClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    old._smooth_cap = 0.0  # what a block of zero weights used to leave behind
    plain.partial_fit(X, y)
    old.partial_fit(X, y)
    assert old._smooth_cap == plain._smooth_cap > 0


def test_smoothness_sample_of_rows_that_weigh_nothing_falls_back_to_all_rows():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 3))
    y = (X[:, 0] > 0).astype(int)
    w = np.zeros(10_000)
    w[1::2] = 1.0  # every other row: the strided sample (every 2nd row from 0) weighs nothing
    clf = SGDClassifier(random_state=0, max_iter=1, tol=None).fit(X, y, sample_weight=w)
    assert clf._smooth_cap is not None and 0 < clf._smooth_cap < math.inf


def test_regressor_rejects_classification_losses():
    with pytest.raises(ValueError, match="loss='hinge' is not supported"):
        SGDRegressor(loss="hinge").fit(*_linear())


def test_clone_and_pickle_keep_training_deterministic():
    X, y = _blobs()
    clf = SGDClassifier(random_state=0).partial_fit(X, y, classes=[0, 1])
    copy = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    assert_array_equal(clf.coef_, copy.coef_)
    fresh = clone(clf)
    assert not hasattr(fresh, "coef_") and fresh.get_params() == clf.get_params()


def test_optimal_rate_is_capped_for_squared_losses():
    """Targets in the hundreds and the 1/(alpha t) schedule must not blow up."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 10))
    y = X @ rng.uniform(50, 100, size=10) + 0.5
    reg = SGDRegressor(random_state=0).fit(X, y)
    assert reg.score(X, y) > 0.999
    assert np.all(np.isfinite(reg.coef_))


def test_a_failed_first_partial_fit_leaves_the_model_unfitted():
    X, y = _blobs()
    clf = SGDClassifier(random_state=0)
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X, y, classes=[0, 5])
    assert not hasattr(clf, "classes_") and not hasattr(clf, "coef_")
    clf.partial_fit(X, y, classes=[0, 1])
    assert_array_equal(clf.classes_, [0, 1])


def test_string_labels_through_partial_fit():
    X, y = _blobs()
    labels = np.array(["neg", "pos"], dtype=object)[y]
    clf = SGDClassifier(loss="log_loss", random_state=0)
    for rows in np.array_split(np.arange(X.shape[0]), 4):
        clf.partial_fit(X[rows], labels[rows], classes=["neg", "pos"])
    assert clf.score(X, labels) > 0.9
    assert set(clf.predict(X)) == {"neg", "pos"}


@pytest.mark.parametrize("Est, data", [(SGDClassifier, _blobs), (SGDRegressor, _linear)])
def test_misaligned_input_trains_like_aligned(Est, data):
    X, y = data(dtype=np.float32)
    kw = {"classes": [0, 1]} if Est is SGDClassifier else {}
    ref = Est(random_state=0).partial_fit(X, y, **kw)
    got = Est(random_state=0).partial_fit(misaligned_copy(X), misaligned_copy(y), **kw)
    np.testing.assert_array_equal(got.coef_, ref.coef_)
    np.testing.assert_array_equal(got.predict(misaligned_copy(X)), ref.predict(X))


@pytest.mark.parametrize("Est, data", [(SGDClassifier, _blobs), (SGDRegressor, _linear)])
def test_a_failed_first_call_leaves_the_estimator_unfitted(Est, data):
    X, y = data()
    X_bad = X.copy()
    X_bad[-1, 0] = np.nan
    kw = {"classes": [0, 1]} if Est is SGDClassifier else {}
    est = Est(random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        est.partial_fit(X_bad, y, **kw)
    assert not hasattr(est, "coef_") and not hasattr(est, "n_features_in_")
    # a retry trains exactly as a first call would (the shuffle included)
    retried = est.partial_fit(X, y, **kw)
    np.testing.assert_array_equal(retried.coef_, Est(random_state=0).partial_fit(X, y, **kw).coef_)


def test_a_failed_call_leaves_a_fitted_model_as_it_was():
    X, y = _linear()
    est = SGDRegressor(random_state=0).fit(X, y)
    coef = est.coef_.copy()
    X_bad = X * 1e200  # the squared row norms overflow
    with pytest.raises(ValueError, match="overflow"):
        est.partial_fit(X_bad, y)
    np.testing.assert_array_equal(est.coef_, coef)


def test_zero_leading_rows_do_not_set_an_unbounded_step():
    # the step cap of the squared losses comes from all the rows, not the first batch
    X, y = _linear(n_samples=2000)
    X[:300] = 0.0
    y[:300] = 0.0
    est = SGDRegressor(random_state=0, fit_intercept=False, batch_size=256).fit(X, y)
    assert np.all(np.isfinite(est.coef_)) and np.abs(est.coef_).max() < 10
    assert est.score(X[300:], y[300:]) > 0.9


@pytest.mark.parametrize("dtype, scale", [(np.float64, 1e160), (np.float32, 1e20)])
def test_rows_whose_squared_norm_overflows_are_an_error(dtype, scale):
    X, y = _linear(dtype=dtype)
    with pytest.raises(ValueError, match="squared norms of the rows of X overflow"):
        SGDRegressor(random_state=0).fit(X * dtype(scale), y)


@pytest.mark.parametrize("Est, data", [(SGDClassifier, _blobs), (SGDRegressor, _linear)])
def test_warm_start_fit_on_another_namespace(Est, data):
    xs = pytest.importorskip("array_api_strict")
    X, y = data()
    est = Est(random_state=0, warm_start=True).fit(X, y)
    start = est.coef_.copy()
    est.fit(xs.asarray(X), xs.asarray(y))
    assert type(est.coef_).__module__.startswith("array_api_strict")
    # it started from the NumPy fit's weights: one more fit from there, on NumPy, agrees
    again = Est(random_state=0, warm_start=True).fit(X, y).fit(X, y)
    np.testing.assert_allclose(np.asarray(est.coef_), again.coef_, rtol=1e-5, atol=1e-8)
    assert not np.array_equal(start, again.coef_)


@pytest.mark.parametrize("alpha", [1e-3, 1e-2])
def test_optimal_schedule_reaches_the_regularized_optimum_at_large_alpha(alpha):
    # one step per mini-batch used to move batch_size times less than the per-sample
    # schedule, and stalled far from the optimum when alpha * batch_size was large
    from sklearn.linear_model import LogisticRegression, Ridge

    rng = np.random.default_rng(1)
    n = 20000
    X = rng.normal(size=(n, 5))
    w = np.array([2.0, -1.0, 0.0, 0.0, 0.5])
    y_reg = X @ w + 1 + rng.normal(size=n)
    y_clf = (X @ w + rng.logistic(size=n) > 0).astype(int)
    ridge = Ridge(alpha=alpha * n).fit(X, y_reg)
    reg = SGDRegressor(alpha=alpha, random_state=0).fit(X, y_reg)
    assert_allclose(reg.coef_, ridge.coef_, atol=0.05)
    logistic = LogisticRegression(C=1 / (alpha * n), tol=1e-10, max_iter=10000).fit(X, y_clf)
    clf = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0).fit(X, y_clf)
    assert_allclose(clf.coef_, logistic.coef_, atol=0.05)

    # the default hinge loss: the regularized objective as low as scikit-learn's SGD
    from sklearn.linear_model import SGDClassifier as SklearnSGD

    def objective(est):
        margin = (2 * y_clf - 1) * (X @ est.coef_.ravel() + est.intercept_[0])
        return np.maximum(0, 1 - margin).mean() + alpha / 2 * (est.coef_ ** 2).sum()

    ours = SGDClassifier(alpha=alpha, random_state=0).fit(X, y_clf)
    theirs = SklearnSGD(alpha=alpha, random_state=0, max_iter=50, tol=None).fit(X, y_clf)
    assert objective(ours) <= 1.005 * objective(theirs)


def test_switching_average_off_mid_stream_continues_from_the_latest_iterate():
    import array_api_compat.numpy as xp

    X, y = _blobs(n_samples=600)
    a, b = slice(0, 300), slice(300, 600)
    est = SGDClassifier(random_state=0, average=True).partial_fit(X[a], y[a], classes=[0, 1])
    est.set_params(average=False).partial_fit(X[b], y[b])
    # the next call starts from the iterate that coef_ now shows, not from block a's
    W, b0 = est._standard_weights(xp)
    np.testing.assert_array_equal(W, est.coef_)
    np.testing.assert_array_equal(b0, est.intercept_)


def test_a_fused_kernel_that_does_not_start_is_tried_again(monkeypatch):
    """An error of the moment (out of memory) is not taken for a compiler's verdict."""
    from gpuinc.linear_model import _fused

    monkeypatch.setattr(_fused, "_UNAVAILABLE", {})
    monkeypatch.setattr(_fused, "_BUILT", set())
    errors = [MemoryError("out of memory allocating 1,024 bytes")]

    def flaky(name, device=None):
        if errors:
            raise errors.pop()

    monkeypatch.setattr(_fused, "_build", flaky)
    with pytest.warns(RuntimeWarning, match="did not start .*this pass uses the array-API"):
        assert not _fused.available(np.float32)
    assert _fused.available(np.float32)  # tried again, and compiled
    assert ("float32", None) in _fused._BUILT


def test_a_fused_kernel_that_does_not_compile_falls_back_with_one_warning(monkeypatch):
    from gpuinc.linear_model import _base, _fused

    monkeypatch.setattr(_fused, "_UNAVAILABLE", {})
    monkeypatch.setattr(_fused, "_BUILT", set())

    def fail(name, device=None):
        raise RuntimeError("nvrtc: error: identifier 'float4' is undefined")

    monkeypatch.setattr(_fused, "_build", fail)
    monkeypatch.setattr(_base, "namespace_name", lambda xp: "cupy")  # as for CuPy input
    est, X = SGDClassifier(), np.zeros((4, 2), dtype=np.float32)
    with pytest.warns(RuntimeWarning, match=r"float32 SGD did not compile .*'float4' is "
                                            r"undefined.*array-API loop instead"):
        assert not est._use_fused_kernel(np, X, _fused.BinaryLogLoss(), False, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # told once, then quietly on the array-API loop
        assert not est._use_fused_kernel(np, X, _fused.BinaryLogLoss(), False, 0.0)
    monkeypatch.setattr(_fused, "_build", lambda name, device=None: None)
    assert _fused.available(np.float64)  # another dtype that compiles is used


@pytest.mark.parametrize("Est", [SGDClassifier, SGDRegressor])
def test_dask_input_is_refused_with_the_way_to_train_on_it(Est):
    import dask.array as da

    from gpuinc.linear_model import to_namespace

    X, y = _blobs()
    Xd, yd = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
    with pytest.raises(TypeError, match=r"not a Dask Array.*gpuinc.Incremental"):
        Est().fit(Xd, yd)
    kw = {"classes": [0, 1]} if Est is SGDClassifier else {}
    with pytest.raises(TypeError, match="gpuinc.Incremental"):
        Est().partial_fit(Xd, yd, **kw)
    est = Est(random_state=0).fit(X, y)
    with pytest.raises(TypeError, match=r"\.compute\(\)"):
        est.predict(Xd)
    with pytest.raises(ValueError, match="cannot move arrays or a model into dask.array"):
        to_namespace(est, Xd)


@pytest.mark.parametrize("penalty", ["l2", "l1", None])
def test_l1_ratio_none_is_accepted_where_it_is_unused(penalty):
    # as in scikit-learn: None only matters with penalty='elasticnet'
    X, y = _blobs()
    a = SGDClassifier(penalty=penalty, l1_ratio=None, random_state=0).fit(X, y)
    b = SGDClassifier(penalty=penalty, random_state=0).fit(X, y)
    assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(ValueError, match="l1_ratio"):
        SGDClassifier(penalty="elasticnet", l1_ratio=None).fit(X, y)


# ------------------------------------------------------------------ review fixes
def test_a_fit_whose_loss_explodes_raises_and_keeps_the_model():
    # the weights reached 1e95 (R^2 -3.5e190) and fit returned normally: the exploding
    # loss counted as "no improvement" and ended fit on the plateau rule
    rng = np.random.default_rng(0)
    X = rng.normal(scale=30.0, size=(1000, 10))
    y = X @ rng.normal(size=10)
    reg = SGDRegressor(learning_rate="constant", eta0=0.01, random_state=0, warm_start=True)
    reg.fit(X / 30.0, y)
    before = reg.coef_.copy()
    with pytest.raises(ValueError, match="fit diverges.*Lower eta0, scale the input"):
        reg.fit(X, y)
    assert_array_equal(reg.coef_, before)


def test_a_fit_whose_loss_falls_to_zero_is_not_a_divergence():
    X, _ = _linear(n_samples=200)
    y = X @ np.arange(1.0, 6.0)  # noiseless: the loss goes to (almost) zero
    reg = SGDRegressor(random_state=0, alpha=1e-8, max_iter=200).fit(X, y)
    assert reg.score(X, y) > 0.999


def test_adaptive_rate_shrinks_on_plateaus_without_tol():
    # tol=None only keeps a plateau from ending fit; it used to stop the step from shrinking
    X, y = _linear()
    reg = SGDRegressor(learning_rate="adaptive", eta0=0.1, tol=None, n_iter_no_change=2)
    reg.set_params(random_state=0, max_iter=60).fit(X, y)
    assert reg.n_iter_ == 60
    assert reg._eta_scale < 1.0


@pytest.mark.parametrize("first", [True, False])
@pytest.mark.parametrize("Est, data", [(SGDClassifier, _blobs), (SGDRegressor, _linear)])
def test_a_block_of_zero_weights_still_refuses_nan(Est, data, first):
    X, y = data(n_samples=40)
    kw = {"classes": [0, 1]} if Est is SGDClassifier else {}
    est = Est(random_state=0)
    if not first:
        est.partial_fit(X, y, **kw)
    before = None if first else est.coef_.copy()
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        est.partial_fit(bad, y, sample_weight=np.zeros(40), **kw)
    if first:
        assert not hasattr(est, "coef_")
    else:
        assert_array_equal(est.coef_, before)


@pytest.mark.parametrize("seed", [np.random.default_rng(0), -1, 2**32, 1.5, "0", True])
def test_random_state_is_validated(seed):
    X, y = _blobs()
    with pytest.raises(ValueError, match=r"SGD\w+: random_state must be None, an integer in"):
        SGDClassifier(random_state=seed).fit(X, y)


@pytest.mark.parametrize("seed", [None, 0, 2**32 - 1, np.int64(3), np.random.RandomState(0)])
def test_random_state_accepts_what_scikit_learn_accepts(seed):
    X, y = _linear()
    assert SGDRegressor(random_state=seed).fit(X, y).score(X, y) > 0.9


def test_warm_start_with_other_classes_or_features_says_what_changed():
    X, y = _blobs(n_classes=2)
    clf = SGDClassifier(warm_start=True, random_state=0).fit(X, y)
    X3, y3 = _blobs(n_classes=3)
    with pytest.raises(ValueError, match=r"had classes \[0, 1\], but y has classes \[0, 1, 2\]"
                       r".*warm_start=False"):
        clf.fit(X3, y3)
    with pytest.raises(ValueError, match="had 5 features, but X has 4.*warm_start=False"):
        clf.fit(X[:, :4], y)
    Xr, yr = _linear()
    reg = SGDRegressor(warm_start=True, random_state=0).fit(Xr, yr)
    with pytest.raises(ValueError, match="had 5 features, but X has 3.*warm_start=False"):
        reg.fit(Xr[:, :3], yr)
    # what the user passes as coef_init is still checked as such
    with pytest.raises(ValueError, match="coef_init has shape"):
        SGDRegressor().fit(Xr, yr, coef_init=np.zeros(3))
