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
        make_classification(n_samples=100, chunks=(30, 30))
    with pytest.raises(ValueError, match="device"):
        make_classification(n_samples=100, device="tpu")


def test_regression_coef_and_noise():
    X, y, coef = make_regression(n_samples=3000, n_features=5, n_informative=3, chunks=1000,
                                 coef=True, random_state=0)
    Xn, yn = dask.compute(X, y)
    np.testing.assert_allclose(Xn @ coef, yn, rtol=1e-10, atol=1e-8)
    assert (coef != 0).sum() == 3
