"""Start the right local Dask cluster: GPU workers when there are GPUs, CPU workers otherwise."""

from __future__ import annotations

import os
import sys

from ._optional import gpu_available, has_module


def _log(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"gpuinc: {message}", file=sys.stderr)


def make_cluster(kind: str = "auto", *, n_workers: int | None = None,
                 threads_per_worker: int = 1, quiet: bool = False, **kwargs):
    """Start a local cluster for gpuinc.

    Parameters
    ----------
    kind : {"auto", "cpu", "gpu"}
        ``"gpu"``: a dask-cuda ``LocalCUDACluster`` with one worker per visible
        GPU (fails with a clear error when there is none). ``"cpu"``: a
        ``distributed.LocalCluster``. ``"auto"``: GPU when CuPy sees a device
        and dask-cuda is installed, otherwise CPU. A line on stderr says which.
    n_workers : int, optional
        CPU workers (default: the number of cores, at most 4).
    threads_per_worker : int, default=1
        Threads of each CPU worker.
    quiet : bool
        Do not print which cluster was started.
    **kwargs
        Passed to the cluster class (``memory_limit``, ``rmm_pool_size`` ...).

    ``n_workers`` and ``threads_per_worker`` apply to a CPU cluster only: a
    GPU cluster is started with ``kwargs`` alone and has one worker per GPU.

    Examples
    --------
    >>> from distributed import Client
    >>> from gpuinc.cluster import make_cluster
    >>> cluster = make_cluster("cpu", n_workers=1, quiet=True)  # doctest: +SKIP
    >>> client = Client(cluster)  # doctest: +SKIP
    """
    if kind not in ("auto", "cpu", "gpu"):
        raise ValueError(f"kind must be 'auto', 'cpu' or 'gpu', got {kind!r}.")
    if kind in ("auto", "gpu"):
        reason = _gpu_unavailable_reason()
        if reason is None:
            from dask_cuda import LocalCUDACluster

            cluster = LocalCUDACluster(**kwargs)
            _log(f"started a LocalCUDACluster with {len(cluster.workers)} GPU worker(s)", quiet)
            return cluster
        if kind == "gpu":
            raise GPUUnavailableError(reason)
        _log(f"no GPU cluster ({reason}); using CPU workers", quiet)
    from distributed import LocalCluster

    if n_workers is None:
        n_workers = max(1, min(4, os.cpu_count() or 1))
    kwargs.setdefault("dashboard_address", ":0")
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, **kwargs)
    _log(f"started a LocalCluster with {n_workers} CPU worker(s)", quiet)
    return cluster


class GPUUnavailableError(RuntimeError):
    """A GPU cluster was asked for (``kind='gpu'``) where none can start; ``reason`` says why."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(self.message("kind='gpu'", "kind='cpu'"))

    def message(self, asked: str, instead: str) -> str:
        """The error in the words of the caller (``--device gpu`` on the command line)."""
        return (f"{asked} needs a CUDA GPU with CuPy and dask-cuda: {self.reason}. Install "
                "them with `pip install 'gpuinc[gpu-cu12]'` (or gpu-cu13) on a GPU machine, or "
                f"use {instead}.")


def _gpu_unavailable_reason() -> str | None:
    """None when a GPU cluster can start, else why not (without importing what is absent)."""
    if not has_module("cupy"):
        return "CuPy is not installed"
    if not has_module("dask_cuda"):
        return "dask-cuda is not installed"
    if not gpu_available():
        return "CuPy sees no CUDA device"
    try:  # installed but broken (a missing dependency): say so and fall back
        from dask_cuda import LocalCUDACluster  # noqa: F401
    except Exception as exc:
        return f"dask-cuda does not import ({type(exc).__name__}: {exc})"
    return None
