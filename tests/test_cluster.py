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
