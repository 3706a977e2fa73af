import os

import numpy as np
import pytest

# Progress bars must stay quiet in the test-suite whatever the terminal.
os.environ.setdefault("CI", "true")


@pytest.fixture(scope="module")
def client():
    """A small in-process distributed cluster, shared by a module's tests."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        yield c


@pytest.fixture
def rng():
    return np.random.RandomState(0)
