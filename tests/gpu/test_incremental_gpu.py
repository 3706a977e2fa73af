"""Incremental on a GPU: CuPy, cuDF and host blocks against host, device and cuML estimators.

Every test compares the GPU run with the same run on NumPy data, so the
assertions are about values, not only types. Skipped (see conftest.py)
unless CuPy sees a CUDA device; cuDF, dask-cudf, dask-cuda and cuML parts
skip themselves when those are not installed.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import SGDClassifier as SkSGDClassifier

from gpuinc import Incremental
from gpuinc._dispatch import collection_kind
from gpuinc.datasets import make_classification, make_regression
from gpuinc.model_selection import train_test_split

pytestmark = pytest.mark.gpu

N, D, CHUNK = 4000, 20, 1000
CLASSES = np.array([0, 1])


def _data(device, dtype="float32"):
    return make_classification(n_samples=N, n_features=D, n_informative=5, chunks=CHUNK,
                               random_state=0, dtype=dtype, device=device)


def _gpuinc_sgd(**kw):
    linear_model = pytest.importorskip("gpuinc.linear_model")
    return linear_model.SGDClassifier(loss="log_loss", random_state=0, **kw)


def _fit(estimator, X, y, **kw):
    inc = Incremental(estimator, shuffle_blocks=False, progress=False, scoring="accuracy",
                      **{k: v for k, v in kw.items() if k in ("device", "epochs")})
    return inc.fit(X, y, classes=kw.get("classes", CLASSES))


def _assert_float32_close(got, want):
    """Equal up to float32 rounding accumulated over a few dozen SGD steps.

    The absolute part is that of the host tests of the fused kernel against the
    loop (1e-4 of the largest weight): device and host reductions add in
    different orders, and small weights carry the largest weight's rounding.
    """
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-4 * scale)


# ------------------------------------------------------------------ data on device
def test_datasets_make_cupy_blocks_with_the_host_values(cp):
    Xg, yg = _data("gpu")
    Xc, yc = _data(None)
    assert collection_kind(Xg) == "cupy" and collection_kind(yg) == "cupy"
    first = Xg.blocks[0].compute()
    assert isinstance(first, cp.ndarray) and first.dtype == cp.float32
    np.testing.assert_array_equal(cp.asnumpy(Xg.compute()), Xc.compute())
    np.testing.assert_array_equal(cp.asnumpy(yg.compute()), yc.compute())
    Xr, yr = make_regression(n_samples=600, n_features=4, chunks=200, random_state=0,
                             device="gpu")
    assert isinstance(Xr.compute(), cp.ndarray) and isinstance(yr.compute(), cp.ndarray)


def test_train_test_split_keeps_cupy_blocks(cp):
    gpu = train_test_split(*_data("gpu"), random_state=0)
    host = train_test_split(*_data(None), random_state=0)
    for g, h in zip(gpu, host, strict=True):
        assert collection_kind(g) == "cupy"
        assert g.chunks == h.chunks
        out = g.compute()
        assert isinstance(out, cp.ndarray)
        np.testing.assert_array_equal(cp.asnumpy(out), h.compute())


# ------------------------------------------ scikit-learn (host) on device blocks
def test_sklearn_estimator_gets_host_blocks_and_predictions_come_back_as_cupy(cp):
    Xg, yg = _data("gpu")
    Xc, yc = _data(None)
    g = _fit(SkSGDClassifier(loss="log_loss", random_state=0), Xg, yg)
    c = _fit(SkSGDClassifier(loss="log_loss", random_state=0), Xc, yc)
    assert g.block_kind_ == "cupy" and g.estimator_home_ == "host"
    # the same float32 values reached scikit-learn in the same order
    np.testing.assert_array_equal(g.coef_, c.coef_)
    np.testing.assert_array_equal(g.intercept_, c.intercept_)

    pred = g.predict(Xg)
    assert collection_kind(pred) == "cupy"
    out = pred.compute()
    assert isinstance(out, cp.ndarray)
    np.testing.assert_array_equal(cp.asnumpy(out), c.predict(Xc).compute())
    proba = g.predict_proba(Xg).compute()
    assert isinstance(proba, cp.ndarray) and proba.shape == (N, 2)
    np.testing.assert_allclose(cp.asnumpy(proba), c.predict_proba(Xc).compute(), rtol=1e-6)

    eager = g.predict(Xg.blocks[0].compute())  # in-memory CuPy in, CuPy out
    assert isinstance(eager, cp.ndarray)
    assert g.score(Xg, yg) == pytest.approx(c.score(Xc, yc))
    # in-memory CuPy data is scored too (the host estimator gets host values)
    assert g.score(Xg.compute(), yg.compute()) == pytest.approx(c.score(Xc, yc))
    for scoring in ("accuracy", "roc_auc"):
        g.set_params(scoring=scoring)
        c.set_params(scoring=scoring)
        assert g.score(Xg.compute(), yg.compute()) == pytest.approx(c.score(Xc, yc))


def test_classes_are_found_from_cupy_labels(cp):
    Xg, yg = _data("gpu")
    inc = Incremental(SkSGDClassifier(random_state=0), progress=False).fit(Xg, yg)
    np.testing.assert_array_equal(np.asarray(inc.classes_), CLASSES)


def test_sklearn_array_api_estimator_computes_on_the_device(cp, monkeypatch):
    import sklearn
    from sklearn.naive_bayes import GaussianNB

    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    tags = getattr(GaussianNB(), "__sklearn_tags__", None)
    if tags is None or not tags().array_api_support:
        pytest.skip(f"scikit-learn {sklearn.__version__}'s GaussianNB has no array-API support")
    Xg, yg = _data("gpu")
    Xc, yc = _data(None)
    c = _fit(GaussianNB(), Xc, yc)
    with sklearn.config_context(array_api_dispatch=True):
        g = _fit(GaussianNB(), Xg, yg, classes=cp.asarray(CLASSES))
        # scikit-learn's configuration is per thread: predict in this one
        pred = g.predict(Xg).compute(scheduler="sync")
    assert g.estimator_home_ == "device"
    assert isinstance(g.theta_, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(g.theta_), c.theta_, rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(cp.asnumpy(g.var_), c.var_, rtol=1e-3)
    assert isinstance(pred, cp.ndarray)
    assert np.mean(cp.asnumpy(pred) == c.predict(Xc).compute()) > 0.99


# ------------------------------------------------ gpuinc array-API estimators
def test_gpuinc_sgd_trains_on_the_device_and_matches_numpy(cp):
    Xg, yg = _data("gpu")
    Xc, yc = _data(None)
    g = _fit(_gpuinc_sgd(), Xg, yg, epochs=2)
    c = _fit(_gpuinc_sgd(), Xc, yc, epochs=2)
    assert g.block_kind_ == "cupy" and g.estimator_home_ == "device"
    assert isinstance(g.coef_, cp.ndarray) and g.coef_.dtype == cp.float32
    assert isinstance(c.coef_, np.ndarray) and c.coef_.dtype == np.float32
    _assert_float32_close(cp.asnumpy(g.coef_), c.coef_)
    _assert_float32_close(cp.asnumpy(g.intercept_), c.intercept_)

    pg, pc = g.predict(Xg).compute(), c.predict(Xc).compute()
    assert isinstance(pg, cp.ndarray)
    assert np.mean(cp.asnumpy(pg) == pc) > 0.995
    assert g.score(Xg, yg) == pytest.approx(c.score(Xc, yc), abs=5e-3)


def test_gpuinc_sgd_log_loss_scoring_on_the_device(cp):
    Xg, yg = _data("gpu")
    inc = Incremental(_gpuinc_sgd(), scoring="neg_log_loss", progress=False,
                      shuffle_blocks=False).fit(Xg, yg, classes=CLASSES)
    ref = Incremental(_gpuinc_sgd(), scoring="neg_log_loss", progress=False,
                      shuffle_blocks=False).fit(*_data(None), classes=CLASSES)
    assert inc.score(Xg, yg) == pytest.approx(ref.score(*_data(None)), rel=1e-3)


def test_device_pin_moves_host_blocks_and_predictions_stay_numpy(cp):
    Xc, yc = _data(None)
    g = _fit(_gpuinc_sgd(), Xc, yc, epochs=2, device="gpu")
    c = _fit(_gpuinc_sgd(), Xc, yc, epochs=2)
    assert g.block_kind_ == "numpy" and g.estimator_home_ == "device"
    assert c.estimator_home_ == "host"
    assert isinstance(g.coef_, cp.ndarray)
    _assert_float32_close(cp.asnumpy(g.coef_), c.coef_)
    pred = g.predict(Xc)
    assert collection_kind(pred) == "numpy"
    out = pred.compute()
    assert isinstance(out, np.ndarray)
    assert np.mean(out == c.predict(Xc).compute()) > 0.995


def test_device_pin_with_sample_weight_and_validation(cp):
    Xc, yc = _data(None)
    w = da.from_array(np.random.RandomState(1).uniform(0.5, 1.5, N).astype(np.float32),
                      chunks=CHUNK)
    inc = Incremental(_gpuinc_sgd(), device="gpu", progress=False, scoring="accuracy",
                      validation=0.25, random_state=0, epochs=2)
    inc.fit(Xc, yc, classes=CLASSES, sample_weight=w)
    assert [r["blocks"] for r in inc.history_] == [3, 3]
    assert 0.5 < inc.history_[-1]["val_score"] <= 1.0


def test_gpuinc_regressor_on_device_matches_numpy(cp):
    linear_model = pytest.importorskip("gpuinc.linear_model")
    Xg, yg = make_regression(n_samples=N, n_features=8, chunks=CHUNK, noise=1.0,
                             random_state=0, dtype="float32", device="gpu")
    Xc, yc = make_regression(n_samples=N, n_features=8, chunks=CHUNK, noise=1.0,
                             random_state=0, dtype="float32")

    def fit(X, y):
        return Incremental(linear_model.SGDRegressor(random_state=0), shuffle_blocks=False,
                           progress=False).fit(X, y)

    g, c = fit(Xg, yg), fit(Xc, yc)
    assert g.estimator_home_ == "device" and isinstance(g.coef_, cp.ndarray)
    _assert_float32_close(cp.asnumpy(g.coef_), c.coef_)


# ------------------------------------------------------------------- clusters
def test_local_cuda_cluster_fit_matches_the_local_run(cp):
    pytest.importorskip("dask_cuda")
    from distributed import Client

    from gpuinc.cluster import make_cluster

    with make_cluster("gpu", dashboard_address=":0") as cluster, Client(cluster) as client:
        assert type(cluster).__name__ == "LocalCUDACluster"
        assert len(cluster.workers) == cp.cuda.runtime.getDeviceCount()
        Xg, yg = client.persist(list(_data("gpu")))
        dist = _fit(_gpuinc_sgd(), Xg, yg, epochs=2)
        assert dist.estimator_home_ == "device"
        assert isinstance(dist.coef_, cp.ndarray)
        dist_score = dist.score(Xg, yg)
    local = _fit(_gpuinc_sgd(), *_data("gpu"), epochs=2)
    _assert_float32_close(cp.asnumpy(dist.coef_), cp.asnumpy(local.coef_))
    assert dist_score == pytest.approx(local.score(*_data("gpu")), abs=1e-3)


def test_demo_on_the_gpu(cp, capsys):
    pytest.importorskip("dask_cuda")
    from gpuinc.cli import main

    rc = main(["demo", "--device", "gpu", "--n-samples", "40000", "--n-features", "10",
               "--blocks", "4", "--epochs", "2", "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0
    assert "LocalCUDACluster" in out.err
    assert "(GPU)" in out.out
    assert "pass 2: test accuracy" in out.out


# ----------------------------------------------------------------- cuDF and cuML
def _frames(backend):
    X, y = _data(None)
    pdf = pd.DataFrame(X.compute(), columns=[f"f{i}" for i in range(D)])
    ps = pd.Series(y.compute(), name="y")
    import dask.dataframe as dd

    Xf = dd.from_pandas(pdf, npartitions=N // CHUNK, sort=False)
    yf = dd.from_pandas(ps, npartitions=N // CHUNK, sort=False)
    if backend == "cudf":
        Xf, yf = Xf.to_backend("cudf"), yf.to_backend("cudf")
    return Xf, yf


def test_cudf_partitions_with_a_host_estimator(cp):
    pytest.importorskip("cudf")
    pytest.importorskip("dask_cudf")
    Xg, yg = _frames("cudf")
    Xh, yh = _frames("pandas")
    assert collection_kind(Xg) == "cudf"
    g = _fit(SkSGDClassifier(random_state=0), Xg, yg)
    h = _fit(SkSGDClassifier(random_state=0), Xh, yh)
    assert g.estimator_home_ == "host"
    np.testing.assert_array_equal(g.coef_, h.coef_)
    pred = g.predict(Xg)
    assert collection_kind(pred) == "cudf"
    np.testing.assert_array_equal(pred.compute().to_numpy(), h.predict(Xh).compute().to_numpy())


def test_cudf_partitions_with_a_device_estimator(cp):
    pytest.importorskip("cudf")
    pytest.importorskip("dask_cudf")
    Xg, yg = _frames("cudf")
    Xh, yh = _frames("pandas")
    g = _fit(_gpuinc_sgd(), Xg, yg)
    h = _fit(_gpuinc_sgd(), Xh, yh)
    assert g.estimator_home_ == "device"
    _assert_float32_close(cp.asnumpy(g.coef_), h.coef_)


def test_cuml_multinomial_nb_as_it_is(cp):
    naive_bayes = pytest.importorskip("cuml.naive_bayes")
    from sklearn.naive_bayes import MultinomialNB

    rs = cp.random.RandomState(0)
    counts = rs.poisson(2.0, size=(N, 30)).astype(cp.float32)
    labels = cp.argmax(counts[:, :3], axis=1).astype(cp.int32)  # three classes
    X = da.from_array(counts, chunks=(CHUNK, 30), asarray=False)
    y = da.from_array(labels, chunks=CHUNK, asarray=False)
    assert collection_kind(X) == "cupy"

    inc = _fit(naive_bayes.MultinomialNB(), X, y, classes=cp.asarray([0, 1, 2], dtype=cp.int32))
    assert inc.estimator_home_ == "device"
    ref = MultinomialNB().fit(cp.asnumpy(counts), cp.asnumpy(labels))
    np.testing.assert_allclose(cp.asnumpy(inc.feature_count_), ref.feature_count_, rtol=1e-5)
    pred = inc.predict(X).compute()
    assert isinstance(pred, cp.ndarray)
    assert np.mean(cp.asnumpy(pred) == ref.predict(cp.asnumpy(counts))) > 0.99


def test_persisted_cupy_blocks_train_without_recomputing(cp):
    Xg, yg = dask.persist(*_data("gpu"))
    inc = _fit(_gpuinc_sgd(), Xg, yg)
    assert inc.history_[0]["rows"] == N


def test_device_classes_with_validation_and_train_score(cp):
    """A model fitted on CuPy keeps CuPy classes_: the checks before training and the
    gathered scorers (roc_auc) bring them and the responses to the host."""
    Xg, yg = _data("gpu")
    Xc, yc = _data(None)
    kw = dict(scoring="roc_auc", train_score=True, validation=0.25, random_state=0,
              progress=False, shuffle_blocks=False)
    g = Incremental(_gpuinc_sgd(), **kw).fit(Xg, yg, classes=cp.asarray(CLASSES))
    c = Incremental(_gpuinc_sgd(), **kw).fit(Xc, yc, classes=CLASSES)
    assert isinstance(g.classes_, cp.ndarray)
    g.partial_fit(Xg, yg)  # classes_ (CuPy) now feed the scoring check
    c.partial_fit(Xc, yc)
    for a, b in zip(g.history_, c.history_, strict=True):
        assert a["val_score"] == pytest.approx(b["val_score"], abs=5e-3)
        assert a["train_score"] == pytest.approx(b["train_score"], abs=5e-3)


def test_lazy_classes_from_device_labels(cp):
    Xg, yg = _data("gpu")
    inc = Incremental(_gpuinc_sgd(), progress=False).fit(Xg, yg, classes=da.unique(yg))
    assert cp.asnumpy(inc.classes_).tolist() == [0, 1]


def test_in_memory_cudf_and_cupy_score_like_dask_input(cp):
    cudf = pytest.importorskip("cudf")
    pytest.importorskip("dask_cudf")
    Xh, yh = _frames("pandas")
    host = _fit(SkSGDClassifier(random_state=0), Xh, yh)
    Xm, ym = Xh.compute(), yh.compute()
    want = host.score(Xm, ym)
    assert host.score(cudf.from_pandas(Xm), cudf.from_pandas(ym)) == pytest.approx(want)
    assert host.score(cp.asarray(Xm.to_numpy()), cp.asarray(ym.to_numpy())) == pytest.approx(
        want)


def test_scalar_weight_and_positional_y_on_cudf_partitions(cp):
    pytest.importorskip("dask_cudf")
    Xg, yg = _frames("cudf")
    Xh, yh = _frames("pandas")
    g = _fit(SkSGDClassifier(random_state=0), Xg, yg)
    h = _fit(SkSGDClassifier(random_state=0), Xh, yh)
    assert g.score(Xg, yg, sample_weight=2.0) == pytest.approx(h.score(Xh, yh))
    # a y whose index holds none of X's labels is paired with X by position
    import dask.dataframe as dd

    pdf = Xh.compute()
    pdf.index = pdf.index + 10 * N
    Xh_far = dd.from_pandas(pdf, npartitions=N // CHUNK, sort=False)
    g2 = _fit(SkSGDClassifier(random_state=0), Xh_far.to_backend("cudf"), yg)
    h2 = _fit(SkSGDClassifier(random_state=0), Xh_far, yh)
    np.testing.assert_array_equal(g2.coef_, h2.coef_)
    np.testing.assert_array_equal(h2.coef_, h.coef_)


def test_in_memory_cupy_x_scored_with_a_host_y(cp):
    Xc, yc = _data(None)
    inc = _fit(SkSGDClassifier(random_state=0), Xc, yc)
    Xm, ym = Xc.compute(), yc.compute()
    want = inc.score(Xm, ym)
    for y_host in (ym, list(ym)):
        assert inc.score(cp.asarray(Xm), y_host) == pytest.approx(want)
