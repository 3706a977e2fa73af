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
