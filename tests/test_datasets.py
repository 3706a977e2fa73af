import dask
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from gpuinc.datasets import make_classification, make_regression


def test_classification_shapes_chunks_and_reproducibility():
    X, y = make_classification(n_samples=1050, n_features=7, chunks=200, random_state=3)
    assert X.shape == (1050, 7) and y.shape == (1050,)
    assert X.chunks[0] == (200, 200, 200, 200, 200, 50)
    a = dask.compute(X, y)
    b = dask.compute(*make_classification(n_samples=1050, n_features=7, chunks=200,
                                          random_state=3))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = make_classification(n_samples=1050, n_features=7, chunks=200, random_state=4)[0]
    assert not np.array_equal(a[0], c.compute())


def test_classification_is_learnable_and_noisy():
    X, y = make_classification(n_samples=20000, n_features=20, chunks=5000, flip_y=0.2,
                               random_state=0)
    Xn, yn = dask.compute(X, y)
    acc = LogisticRegression().fit(Xn[:15000], yn[:15000]).score(Xn[15000:], yn[15000:])
    assert 0.6 < acc < 0.95  # flip_y=0.2 caps what any model can reach
    assert set(np.unique(yn)) == {0, 1}


def test_classification_multiclass_dtype():
    X, y = make_classification(n_samples=600, n_features=10, n_informative=4, n_classes=4,
                               chunks=300, dtype="float32", random_state=0)
    assert X.dtype == np.float32
    assert set(np.unique(y.compute())) == {0, 1, 2, 3}


def test_classification_bad_parameters():
    with pytest.raises(ValueError, match="n_informative"):
        make_classification(n_samples=100, n_features=3, n_informative=1, n_classes=4,
                            chunks=50)
    with pytest.raises(ValueError, match="chunks"):
        make_classification(n_samples=100, chunks=((30, 30), (20,)))
    with pytest.raises(ValueError, match="device"):
        make_classification(n_samples=100, device="tpu")


def test_regression_coef_and_noise():
    X, y, coef = make_regression(n_samples=3000, n_features=5, n_informative=3, chunks=1000,
                                 coef=True, random_state=0)
    Xn, yn = dask.compute(X, y)
    np.testing.assert_allclose(Xn @ coef, yn, rtol=1e-10, atol=1e-8)
    assert (coef != 0).sum() == 3


def test_classification_many_informative_features_is_cheap():
    from gpuinc.datasets import _hypercube_vertices

    # 2**40 vertices: must not be materialized
    X, y = make_classification(n_samples=50, n_features=45, n_informative=40, n_redundant=0,
                               n_classes=3, chunks=25, random_state=0)
    assert X.compute().shape == (50, 45) and set(np.unique(y.compute())) <= {0, 1, 2}
    v = _hypercube_vertices(64, 30, np.random.RandomState(0))
    assert v.shape == (64, 30) and len({tuple(r) for r in v}) == 64
    assert set(np.unique(v)) <= {0.0, 1.0}
    # all vertices of a small cube when asked for all of them (the rejection path too)
    full = _hypercube_vertices(8, 3, np.random.RandomState(0))
    assert len({tuple(r) for r in full}) == 8


def test_classification_weights_checked_at_call_time():
    with pytest.raises(ValueError, match="Weights specified but incompatible"):
        make_classification(n_samples=100, weights=[0.2, 0.3, 0.5], random_state=0)
    X, y = make_classification(n_samples=400, weights=[0.9], flip_y=0, chunks=200,
                               random_state=0)
    assert (y.compute() == 0).mean() > 0.75


@pytest.mark.parametrize("chunks, rows", [
    ((100, 5), (100,) * 10),
    (((500, 500), (5,)), (500, 500)),
    (((400, 600),), (400, 600)),
    (250, (250,) * 4),
    (-1, (1000,)),
    ("auto", (1000,)),
    (None, (1000,)),
])
def test_chunks_like_dask_ml(chunks, rows):
    X, y = make_classification(n_samples=1000, n_features=5, chunks=chunks, random_state=0)
    assert X.chunks == (rows, (5,)) and y.chunks == (rows,)
    Xr, yr = make_regression(n_samples=1000, n_features=5, chunks=chunks, random_state=0)
    assert Xr.chunks == (rows, (5,)) and yr.chunks == (rows,)


def test_bad_n_samples_and_chunks():
    with pytest.raises(ValueError, match="n_samples"):
        make_classification(n_samples=0)
    with pytest.raises(ValueError, match="n_samples"):
        make_regression(n_samples=0)
    with pytest.raises(ValueError, match="chunks"):
        make_classification(n_samples=100, chunks=0)


def test_make_regression_with_several_targets():
    X, y, coef = make_regression(n_samples=200, n_features=5, n_informative=3, n_targets=2,
                                 chunks=50, coef=True, random_state=0)
    assert y.shape == (200, 2) and y.chunks == ((50, 50, 50, 50), (2,))
    assert coef.shape == (5, 2) and np.count_nonzero(coef.any(axis=1)) == 3
    Xc, yc = dask.compute(X, y)
    np.testing.assert_allclose(Xc @ coef, yc)
    np.testing.assert_array_equal(yc, make_regression(n_samples=200, n_features=5,
                                                      n_informative=3, n_targets=2, chunks=50,
                                                      random_state=0)[1].compute())
    with pytest.raises(ValueError, match="n_targets must be a positive integer"):
        make_regression(n_samples=10, n_targets=0)


def test_make_regression_effective_rank_matches_scikit_learn_spectrum():
    from sklearn.datasets import make_regression as sk_make_regression

    kw = dict(n_samples=4000, n_features=30, effective_rank=5, tail_strength=0.2)
    X, y, coef = make_regression(**kw, chunks=1000, coef=True, random_state=0)
    Xc, yc = dask.compute(X, y)
    np.testing.assert_allclose(Xc @ coef, yc, rtol=1e-10, atol=1e-8)
    Xs = sk_make_regression(**kw, random_state=0)[0]
    ours = np.linalg.svd(Xc, compute_uv=False)
    theirs = np.linalg.svd(Xs, compute_uv=False)
    # the same singular profile; Z's columns are orthonormal only up to sampling error
    np.testing.assert_allclose(ours, theirs, rtol=0.1)
    assert ours[0] / ours[10] > 5  # low rank: not a well-conditioned Gaussian X
    # the default stays the well-conditioned, unit-variance X
    X0 = make_regression(n_samples=4000, n_features=30, chunks=1000, random_state=0)[0]
    assert abs(float(X0.std().compute()) - 1.0) < 0.05
    with pytest.raises(ValueError, match="effective_rank must be a positive integer"):
        make_regression(n_samples=10, effective_rank=0)
    with pytest.raises(ValueError, match="tail_strength must be between 0 and 1"):
        make_regression(n_samples=10, effective_rank=2, tail_strength=1.5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(weights=[1.2]), "weights must be class proportions"),
    (dict(weights=[-0.1, 1.1]), "weights must be class proportions"),
    (dict(n_classes=0), "n_classes and n_clusters_per_class must be >= 1"),
])
def test_bad_classification_parameters_fail_at_call_time(kwargs, match):
    from gpuinc.datasets import make_classification

    with pytest.raises(ValueError, match=match):
        make_classification(n_samples=100, chunks=50, random_state=0, **kwargs)


def test_negative_regression_noise_fails_at_call_time():
    from gpuinc.datasets import make_regression

    with pytest.raises(ValueError, match="noise must be >= 0"):
        make_regression(n_samples=100, chunks=50, noise=-1.0)


def test_gpu_data_without_cupy_names_the_install(monkeypatch):
    import sys

    from gpuinc.datasets import make_classification

    monkeypatch.setitem(sys.modules, "cupy", None)  # importing it raises ImportError
    with pytest.raises(ImportError, match="gpu-cu12"):
        make_classification(n_samples=100, chunks=50, device="gpu")


@pytest.mark.parametrize("random_state", [0, 1, 2, 3, 4, 5])
def test_default_classes_are_linearly_separable_for_every_seed(random_state):
    # the clusters once sat on the square's vertices in random order with labels
    # cluster // 2: for about a third of the seeds the classes formed an XOR that no
    # linear model learns (accuracy 0.5 for seeds 1, 2 and 3; scikit-learn: 0.87-0.97)
    X, y = make_classification(n_samples=1000, chunks=250, random_state=random_state)
    Xn, yn = dask.compute(X, y)
    acc = LogisticRegression().fit(Xn[:750], yn[:750]).score(Xn[750:], yn[750:])
    assert acc > 0.75


@pytest.mark.parametrize("random_state", range(6))
def test_classes_are_faces_of_the_cube_like_scikit_learn(random_state):
    # as in scikit-learn: with every vertex used, cluster k sits on vertex k (binary,
    # most significant bit first) and has label k % n_classes, so the label is read
    # off the last informative coordinates (far apart with class_sep=10)
    kw = dict(n_redundant=0, flip_y=0.0, class_sep=10.0, shuffle=False, chunks=100,
              random_state=random_state)
    X, y = dask.compute(*make_classification(n_samples=300, n_features=2, n_informative=2,
                                             **kw))
    np.testing.assert_array_equal(y, X[:, 1] > 0)
    X, y = dask.compute(*make_classification(n_samples=300, n_features=3, n_informative=3,
                                             n_classes=4, **kw))
    np.testing.assert_array_equal(y, 2 * (X[:, 1] > 0) + (X[:, 2] > 0))


def test_all_hypercube_vertices_come_in_binary_order():
    from gpuinc.datasets import _hypercube_vertices

    full = _hypercube_vertices(8, 3, np.random.RandomState(0))
    np.testing.assert_array_equal(full, [[k >> 2 & 1, k >> 1 & 1, k & 1] for k in range(8)])
    some = _hypercube_vertices(5, 3, np.random.RandomState(0))  # a random subset otherwise
    assert len({tuple(r) for r in some}) == 5


@pytest.mark.parametrize("make", [make_classification, make_regression])
def test_whole_float_n_samples_is_accepted_like_dask_ml(make):
    X, y = make(n_samples=1e3, n_features=4, chunks=250, random_state=0)
    assert X.shape == (1000, 4) and X.chunks[0] == (250,) * 4 and y.shape == (1000,)
    X_int = make(n_samples=1000, n_features=4, chunks=250, random_state=0)[0]
    np.testing.assert_array_equal(X.compute(), X_int.compute())
    assert make(n_samples=np.float64(300.0), n_features=4, chunks=100)[0].shape == (300, 4)


@pytest.mark.parametrize("make", [make_classification, make_regression])
@pytest.mark.parametrize("kwargs, match", [
    (dict(n_samples=100.5), r"n_samples must be a whole number of rows.*got 100\.5"),
    (dict(n_samples=float("nan")), "n_samples must be a whole number of rows"),
    (dict(n_features=10.0), r"n_features must be an integer, got 10\.0.*n_features=10"),
    (dict(n_informative=2.0), r"n_informative must be an integer, got 2\.0"),
    (dict(n_features=0), "n_features must be an integer >= 1"),
])
def test_non_integer_counts_are_refused_naming_the_parameter(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**{"n_samples": 100, **kwargs})


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_classes=2.0), r"n_classes must be an integer, got 2\.0"),
    (dict(n_clusters_per_class=1.5), r"n_clusters_per_class must be an integer, got 1\.5"),
    (dict(n_redundant=-1), "n_redundant must be an integer >= 0"),
])
def test_classification_counts_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_classification(n_samples=100, **kwargs)


def test_a_given_random_state_keeps_giving_the_same_data():
    # users' seeds must keep their data: these values come from earlier releases
    X, y = dask.compute(*make_classification(n_samples=40, n_features=4, n_informative=2,
                                             chunks=10, random_state=0))
    np.testing.assert_allclose(X[[0, 15, 39]], [[0.496745, -0.740602, -0.565716, 0.388574],
                                                [-0.955957, 1.322692, 0.980513, -0.787663],
                                                [1.506023, -0.689294, -0.073812, 1.783094]],
                               atol=1e-6)
    assert y[:10].tolist() == [0, 0, 1, 1, 1, 1, 1, 1, 0, 1]
    X, y = dask.compute(*make_regression(n_samples=40, n_features=4, n_informative=2,
                                         effective_rank=2, noise=1.0, chunks=10,
                                         random_state=0))
    np.testing.assert_allclose(X[[0, 15, 39], :2], [[-0.145964, 0.069192],
                                                    [-0.020117, 0.067193],
                                                    [-0.035213, -0.086231]], atol=1e-6)
    np.testing.assert_allclose(y[[0, 15, 39]], [-14.015723, -1.537351, -15.030793], atol=1e-6)


def _largest_task_bytes(*arrays):
    import cloudpickle

    graph = {k: v for a in arrays for k, v in dict(a.__dask_graph__()).items()}
    return max(len(cloudpickle.dumps(task)) for key, task in graph.items()
               if "BlockMaker" not in str(key))  # the one task all blocks share


@pytest.mark.parametrize("make, kwargs", [
    (make_classification, {}),
    (make_regression, dict(effective_rank=5)),  # a low-rank basis shared by all blocks
])
def test_block_tasks_carry_their_own_seed_only(make, kwargs):
    # each block's task once pickled a closure holding every block's seed (and the
    # low-rank basis): building the graph took time quadratic in the number of blocks
    few = _largest_task_bytes(*make(n_samples=40, n_features=30, chunks=4, random_state=0,
                                    **kwargs))
    many = _largest_task_bytes(*make(n_samples=2000, n_features=30, chunks=4, random_state=0,
                                     **kwargs))
    assert many < few + 200  # 10 vs 500 blocks: no per-block growth


@pytest.mark.parametrize("make", [make_classification, make_regression])
def test_random_state_none_follows_numpy_global_seed(make):
    # as scikit-learn (check_random_state): None draws from NumPy's global RandomState
    def draw():
        np.random.seed(7)
        return dask.compute(*make(n_samples=60, n_features=4, chunks=20))

    first, second = draw(), draw()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    np.random.seed(8)
    assert not np.array_equal(first[0], make(n_samples=60, n_features=4, chunks=20)[0].compute())


@pytest.mark.parametrize("make", [make_classification, make_regression])
@pytest.mark.parametrize("random_state", [np.random.default_rng(0), 1.5, "0"])
def test_bad_random_state_is_refused_naming_it(make, random_state):
    with pytest.raises(ValueError, match="random_state must be None, an int or a numpy.random"):
        make(n_samples=20, chunks=10, random_state=random_state)


def test_random_state_instance_draws_on():
    rs = np.random.RandomState(0)
    a = make_classification(n_samples=20, chunks=10, random_state=rs)[0].compute()
    b = make_classification(n_samples=20, chunks=10, random_state=rs)[0].compute()
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("kwargs, match", [
    (dict(flip_y=1.5), r"flip_y must be a fraction in \[0, 1\]"),
    (dict(flip_y=-0.1), r"flip_y must be a fraction in \[0, 1\]"),
    (dict(class_sep=-1.0), "class_sep must be > 0"),
    (dict(class_sep=0.0), "class_sep must be > 0"),  # scikit-learn refuses 0 too
])
def test_classification_ranges_checked_like_scikit_learn(kwargs, match):
    from sklearn.datasets import make_classification as sk_make_classification

    with pytest.raises(ValueError):
        sk_make_classification(n_samples=20, **kwargs)
    with pytest.raises(ValueError, match=match):
        make_classification(n_samples=20, **kwargs)


@pytest.mark.parametrize("make", [make_classification, make_regression])
def test_blockshape_with_zero_rows_is_refused(make):
    with pytest.raises(ValueError, match=r"chunks must give >= 1 rows per block.*got \(0, 20\)"):
        make(n_samples=100, n_features=20, chunks=(0, 20))
