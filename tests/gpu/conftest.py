"""Everything under tests/gpu is marked ``gpu`` and skipped without CuPy and a CUDA device.

The device check imports CuPy only when it is installed, so collecting this
folder on a machine without the GPU stack costs nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuinc._gpu import device_unavailable_reason

HERE = Path(__file__).resolve().parent
REASON = device_unavailable_reason()


#: tests that start a LocalCUDACluster run last: worker processes that fail to start
#: (a dask-cuda / CUDA bindings mismatch) wait for a timeout, and on a GPU machine lent
#: for minutes every other proof should have run by then
LAST = ("test_local_cuda_cluster_fit_matches_the_local_run", "test_demo_on_the_gpu")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason=f"GPU test: {REASON}") if REASON else None
    for item in items:
        if HERE not in Path(item.path).resolve().parents:
            continue
        item.add_marker(pytest.mark.gpu)
        if skip is not None:
            item.add_marker(skip)
    items.sort(key=lambda item: item.name in LAST)  # stable: the others keep their order


@pytest.fixture(scope="session")
def cp():
    """The CuPy module (the tests here are skipped before this runs without a GPU)."""
    return pytest.importorskip("cupy")


@pytest.fixture(autouse=True)
def _synchronize_after_each_test():
    """Surface asynchronous CUDA errors in the test that caused them."""
    yield
    if REASON is None:
        import cupy

        cupy.cuda.Device().synchronize()
