"""A NumPy pass allocates no array of one float per row: its work arrays are reused scratch.

Inside Dask workers (whose nanny sets ``MALLOC_TRIM_THRESHOLD_``) every such
temporary is a fresh ``mmap`` paid for with a page fault per 4 KiB, which
made a pass about 1.4x slower there than in the client.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from gpuinc.linear_model import SGDClassifier, SGDRegressor

N, D = 40_000, 20


def _data(kind, rng):
    X = rng.standard_normal((N, D)).astype(np.float32)
    if kind == "binary":
        return X, (X[:, 0] + rng.standard_normal(N) > 0).astype(np.int64), {"classes": [0, 1]}
    if kind == "multiclass":
        return X, rng.integers(0, 4, N), {"classes": [0, 1, 2, 3]}
    return X, (X[:, 0] + 0.1 * rng.standard_normal(N)).astype(np.float32), {}


CASES = [
    ("binary", SGDClassifier(loss="log_loss", random_state=0)),
    ("binary", SGDClassifier(loss="hinge", shuffle=False, random_state=0)),
    ("multiclass", SGDClassifier(loss="log_loss", average=True, random_state=0)),
    ("multiclass", SGDClassifier(loss="modified_huber", random_state=0)),
    ("regression", SGDRegressor(random_state=0)),
    ("regression", SGDRegressor(loss="huber", average=True, random_state=0)),
]


@pytest.mark.parametrize("kind, est", CASES, ids=[f"{k}-{e!r}" for k, e in CASES])
def test_a_pass_allocates_less_than_one_float_per_row(kind, est):
    X, y, kwargs = _data(kind, np.random.default_rng(0))
    est.partial_fit(X, y, **kwargs)  # first call: scratch arrays are created
    tracemalloc.start()
    try:
        est.partial_fit(X, y, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < N * X.itemsize, f"peak {peak} bytes for {N} rows"


@pytest.mark.parametrize("kind, est", CASES, ids=[f"{k}-{e!r}" for k, e in CASES])
def test_interleaved_estimators_do_not_share_state_through_scratch(kind, est):
    rng = np.random.default_rng(1)
    (X1, y1, kw), (X2, y2, _) = _data(kind, rng), _data(kind, rng)
    alone_a, alone_b = est.__class__(**est.get_params()), est.__class__(**est.get_params())
    alone_a.partial_fit(X1, y1, **kw).partial_fit(X2, y2, **kw)
    alone_b.partial_fit(X2[: N // 2], y2[: N // 2], **kw)
    a, b = est.__class__(**est.get_params()), est.__class__(**est.get_params())
    a.partial_fit(X1, y1, **kw)
    b.partial_fit(X2[: N // 2], y2[: N // 2], **kw)  # smaller: a view of the same scratch
    a.partial_fit(X2, y2, **kw)
    np.testing.assert_array_equal(a.coef_, alone_a.coef_)
    np.testing.assert_array_equal(a.intercept_, alone_a.intercept_)
    np.testing.assert_array_equal(b.coef_, alone_b.coef_)


def _in_new_thread(fn):
    """Run ``fn`` in a thread of its own: a scratch store that starts empty."""
    import threading

    out = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # pragma: no cover - re-raised below
            out["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["value"]


VARIANTS = [
    ("multiclass", SGDClassifier(class_weight={0: 1.0, 1: 2.0, 2: 0.5, 3: 1.0}, random_state=0), {}),
    ("binary", SGDClassifier(early_stopping=True, n_iter_no_change=2, random_state=0), {}),
    ("binary", SGDClassifier(loss="log_loss", random_state=0), {"weights": np.float64}),
    ("regression", SGDRegressor(average=True, random_state=0), {"weights": np.float64}),
    ("multiclass", SGDClassifier(loss="hinge", random_state=0), {"sparse": True}),
]


@pytest.mark.parametrize("kind, est, how", VARIANTS, ids=[repr(v[1]) + str(v[2]) for v in VARIANTS])
def test_scratch_cap_changes_memory_kept_not_results(kind, est, how, monkeypatch):
    """With nothing kept (cap 0) and with the default cap, the same model, bit for bit."""
    import scipy.sparse as sp

    from gpuinc.linear_model import _scratch

    X, y, kwargs = _data(kind, np.random.default_rng(2))
    if how.get("sparse"):
        X = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))
    if "weights" in how:
        kwargs["sample_weight"] = np.random.default_rng(3).uniform(0.5, 2, N).astype(how["weights"])
    fit = est.fit if est.get_params().get("early_stopping") else None

    def train():
        model = est.__class__(**est.get_params())
        if fit is not None:
            model.fit(X, y, **{k: v for k, v in kwargs.items() if k != "classes"})
        else:
            model.partial_fit(X, y, **kwargs).partial_fit(X, y, **kwargs)
        kept = _scratch._kept_bytes(_scratch._LOCAL.__dict__)
        return model, kept

    kept_model, kept = _in_new_thread(train)
    assert 0 < kept <= _scratch.MAX_BYTES
    monkeypatch.setattr(_scratch, "MAX_BYTES", 0)
    fresh_model, none_kept = _in_new_thread(train)
    assert none_kept == 0
    np.testing.assert_array_equal(kept_model.coef_, fresh_model.coef_)
    np.testing.assert_array_equal(kept_model.intercept_, fresh_model.intercept_)
