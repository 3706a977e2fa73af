"""make_cluster: which cluster starts, what it says, and the errors it gives."""

from __future__ import annotations

import pytest

from gpuinc import cluster as cluster_module
from gpuinc.cluster import make_cluster


@pytest.fixture
def no_gpu(monkeypatch):
    """Make the GPU check answer 'no' whatever this machine has."""
    monkeypatch.setattr(cluster_module, "_gpu_unavailable_reason",
                        lambda: "CuPy sees no CUDA device")


def _close(cluster):
    cluster.close()


def test_cpu_cluster_starts_and_says_so(capsys):
    cluster = make_cluster("cpu", n_workers=1, processes=False)
    try:
        assert type(cluster).__name__ == "LocalCluster"
        assert len(cluster.workers) == 1
    finally:
        _close(cluster)
    err = capsys.readouterr().err
    assert "started a LocalCluster with 1 CPU worker(s)" in err


def test_auto_falls_back_to_cpu_with_the_reason(no_gpu, capsys):
    cluster = make_cluster("auto", n_workers=1, processes=False)
    try:
        assert type(cluster).__name__ == "LocalCluster"
    finally:
        _close(cluster)
    err = capsys.readouterr().err
    assert "no GPU cluster (CuPy sees no CUDA device); using CPU workers" in err
    assert "LocalCluster" in err


def test_auto_falls_back_on_this_machine_when_it_has_no_gpu(capsys):
    reason = cluster_module._gpu_unavailable_reason()
    if reason is None:
        pytest.skip("this machine can start a GPU cluster")
    cluster = make_cluster("auto", n_workers=1, processes=False)
    try:
        assert type(cluster).__name__ == "LocalCluster"
    finally:
        _close(cluster)
    assert f"no GPU cluster ({reason})" in capsys.readouterr().err


def test_quiet_cluster_prints_nothing(no_gpu, capsys):
    cluster = make_cluster("auto", n_workers=1, processes=False, quiet=True)
    _close(cluster)
    assert capsys.readouterr().err == ""


def test_gpu_without_a_gpu_is_a_clear_error(no_gpu):
    with pytest.raises(RuntimeError, match=r"kind='gpu' needs a CUDA GPU.*CuPy sees no CUDA "
                                           r"device.*gpuinc\[gpu-cu12\].*kind='cpu'"):
        make_cluster("gpu")


def test_gpu_on_this_machine_without_a_gpu():
    if cluster_module._gpu_unavailable_reason() is None:
        pytest.skip("this machine can start a GPU cluster")
    with pytest.raises(RuntimeError, match="kind='gpu' needs a CUDA GPU"):
        make_cluster("gpu")


@pytest.mark.parametrize("kind", ["cuda", "GPU", "", None, "tpu"])
def test_unknown_kind(kind):
    with pytest.raises(ValueError, match="kind must be 'auto', 'cpu' or 'gpu'"):
        make_cluster(kind)


@pytest.mark.parametrize("present, reason", [
    ({"cupy": False, "dask_cuda": True}, "CuPy is not installed"),
    ({"cupy": True, "dask_cuda": False}, "dask-cuda is not installed"),
])
def test_unavailability_reasons_name_the_missing_package(monkeypatch, present, reason):
    monkeypatch.setattr(cluster_module, "has_module", lambda name: present[name])
    assert cluster_module._gpu_unavailable_reason() == reason


def test_no_device_reason(monkeypatch):
    monkeypatch.setattr(cluster_module, "has_module", lambda name: True)
    monkeypatch.setattr(cluster_module, "gpu_available", lambda: False)
    assert cluster_module._gpu_unavailable_reason() == "CuPy sees no CUDA device"


def test_a_broken_dask_cuda_install_falls_back_with_the_reason(monkeypatch, capsys):
    import sys

    monkeypatch.setattr(cluster_module, "has_module", lambda name: True)
    monkeypatch.setattr(cluster_module, "gpu_available", lambda: True)
    monkeypatch.setitem(sys.modules, "dask_cuda", None)  # importing it raises ImportError
    reason = cluster_module._gpu_unavailable_reason()
    assert reason.startswith("dask-cuda does not import (") and "dask_cuda" in reason
    with pytest.raises(RuntimeError, match="dask-cuda does not import"):
        make_cluster("gpu")


@pytest.mark.parametrize("command", ["demo", "train"])
def test_the_command_line_says_device_gpu_without_a_gpu(no_gpu, capsys, tmp_path, command):
    """One line in the command line's words (--device), not a traceback about kind=."""
    import pandas as pd

    from gpuinc.cli import main

    argv = ["demo", "--device", "gpu"]
    if command == "train":
        pd.DataFrame({"a": [1.0, 2.0], "y": [0, 1]}).to_parquet(tmp_path / "d.parquet")
        argv = ["train", str(tmp_path / "d.parquet"), "--target", "y", "--device", "gpu",
                "--workers", "1", "--validation", "0", "--out", str(tmp_path / "m.pkl")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("gpuinc: error: --device gpu needs a CUDA GPU")
    assert "use --device cpu or auto" in err and "kind=" not in err


@pytest.mark.parametrize("kind", ["cpu", "auto"])
@pytest.mark.parametrize("n_workers", [0, -2])
def test_no_workers_is_a_clear_error(no_gpu, kind, n_workers):
    """A cluster without workers never runs a task: refused, not started to wait forever."""
    with pytest.raises(ValueError, match=rf"n_workers must be >= 1, got {n_workers} .*"
                                         r"threaded scheduler"):
        make_cluster(kind, n_workers=n_workers, processes=False)


@pytest.mark.parametrize("n_workers", [1.5, 2.0, "2", True])
def test_n_workers_must_be_a_whole_number(n_workers):
    with pytest.raises(ValueError, match="n_workers must be a whole number >= 1 or None"):
        make_cluster("cpu", n_workers=n_workers, processes=False)


@pytest.mark.parametrize("quiet", [False, True])
def test_auto_drops_gpu_only_keywords_when_it_falls_back(no_gpu, capsys, quiet):
    """rmm_pool_size= (dask-cuda only) once made the CPU workers fail to start."""
    cluster = make_cluster("auto", n_workers=1, processes=False, quiet=quiet,
                           rmm_pool_size="1GB", device_memory_limit=0.5, memory_limit="1GiB")
    try:
        assert type(cluster).__name__ == "LocalCluster"
        assert len(cluster.workers) == 1
        worker = next(iter(cluster.workers.values()))
        assert worker.memory_manager.memory_limit == 2**30  # LocalCluster's keyword is kept
    finally:
        _close(cluster)
    notes = [line for line in capsys.readouterr().err.splitlines() if "ignores" in line]
    assert notes == ["gpuinc: note: the CPU cluster ignores device_memory_limit=, "
                     "rmm_pool_size= (only dask-cuda's LocalCUDACluster takes them)"]


def test_cpu_refuses_gpu_only_keywords(capsys):
    with pytest.raises(ValueError, match=r"rmm_pool_size=: only dask-cuda's LocalCUDACluster "
                                         r".*kind='cpu'.*kind='gpu'"):
        make_cluster("cpu", n_workers=1, processes=False, rmm_pool_size="1GB")
    assert "started" not in capsys.readouterr().err


def _local_cluster_keywords() -> set:
    import inspect

    from distributed import LocalCluster, Nanny, Worker

    return {name for cls in (LocalCluster, Nanny, Worker)
            for name in inspect.signature(cls).parameters}


def test_gpu_only_keywords_are_none_that_local_cluster_takes():
    assert not cluster_module.GPU_ONLY_KWARGS & _local_cluster_keywords()


def test_gpu_only_keywords_cover_the_installed_dask_cuda():
    import inspect

    dask_cuda = pytest.importorskip("dask_cuda")
    own = set(inspect.signature(dask_cuda.LocalCUDACluster).parameters) - {"kwargs"}
    assert own - _local_cluster_keywords() <= cluster_module.GPU_ONLY_KWARGS


@pytest.mark.parametrize("threads", [0, -1, 1.5, 2.0, "2", None, True])
def test_threads_per_worker_must_be_a_whole_number(threads):
    """0 once started workers of 2 threads, 1.5 was taken, "2" failed in the nanny."""
    with pytest.raises(ValueError, match=r"threads_per_worker must be a whole number >= 1"):
        make_cluster("cpu", n_workers=1, threads_per_worker=threads, processes=False)


def test_nthreads_is_refused_not_overridden():
    with pytest.raises(ValueError, match=r"nthreads=2: pass threads_per_worker= instead"):
        make_cluster("cpu", n_workers=1, processes=False, nthreads=2)


def test_threads_per_worker_is_taken(no_gpu):
    import numpy as np

    cluster = make_cluster("cpu", n_workers=1, threads_per_worker=np.int64(2), processes=False,
                           quiet=True)
    try:
        assert [w.state.nthreads for w in cluster.workers.values()] == [2]
    finally:
        _close(cluster)
