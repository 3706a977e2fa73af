"""Without a cluster, fitting neither needs nor imports ``distributed``.

``dask.compute`` without a scheduler imports ``distributed`` to look for a
client (0.2 s in a fresh process); when nothing imported it, no client can
exist, and the blocks are computed with the threaded scheduler by name.
A scheduler the user configured is still the one used.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import dask
import dask.array as da
import numpy as np
from sklearn.linear_model import SGDClassifier

from gpuinc import Incremental
from gpuinc._chain import _default_local_scheduler


def test_a_threaded_fit_does_not_import_distributed():
    script = textwrap.dedent("""
        import sys
        import dask.array as da, numpy as np
        from sklearn.linear_model import SGDClassifier
        from gpuinc import Incremental
        from gpuinc.datasets import make_classification

        X, y = make_classification(n_samples=2000, n_features=5, chunks=500, random_state=0)
        inc = Incremental(SGDClassifier(random_state=0), progress=False, epochs=2)
        inc.fit(X, y, classes=[0, 1])
        assert inc.history_[-1]["blocks"] == 4
        print("distributed" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["False"], out.stdout + out.stderr


def _record_thread(block, seen):
    seen.add(threading.current_thread().name)
    return block


def test_a_configured_scheduler_is_used(monkeypatch):
    # as in a process that never imported distributed (the test session has)
    monkeypatch.delitem(sys.modules, "distributed", raising=False)
    assert _default_local_scheduler() is not None
    rng = np.random.default_rng(0)
    X = da.from_array(rng.standard_normal((400, 3)), chunks=100)
    y = da.from_array((rng.standard_normal(400) > 0).astype(int), chunks=100)
    seen: set[str] = set()
    X_seen = X.map_blocks(_record_thread, seen, dtype=X.dtype)
    seen.clear()  # map_blocks tried the function on an empty block
    with dask.config.set(scheduler="sync"):
        assert _default_local_scheduler() is None  # Dask decides: the configured one
        Incremental(SGDClassifier(random_state=0), progress=False).fit(X_seen, y,
                                                                       classes=[0, 1])
    # "sync" computes in the thread that asks: gpuinc's loader thread
    assert seen and all(name.startswith("gpuinc-load") for name in seen), seen


def test_the_process_scheduler_serves_a_fit_from_one_pool(monkeypatch):
    """scheduler="processes": one pool for the fit, not a new one per block (seconds
    each), and the same model as the threaded scheduler."""
    import dask.multiprocessing as dmp

    made = []

    class Counted(dmp.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            made.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(dmp, "ProcessPoolExecutor", Counted)  # the pools Dask makes per call
    rs = da.random.RandomState(0)
    X = rs.normal(size=(600, 4), chunks=(100, 4))
    y = (X[:, 0] > 0).astype(int)
    X, y = dask.persist(X, y, scheduler="threads")
    X, y = X + 0, y + 0  # a lazy step per block, computed by the configured scheduler

    def fit():
        return Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, progress=False,
                           validation=0.34, scoring="accuracy", random_state=0,
                           epochs=2).fit(X, y, classes=[0, 1])

    threaded = fit()
    with dask.config.set(scheduler="processes", num_workers=1):
        inc = fit()
    assert made == []
    np.testing.assert_array_equal(inc.coef_, threaded.coef_)
    assert [r["val_score"] for r in inc.history_] == [r["val_score"] for r in threaded.history_]
