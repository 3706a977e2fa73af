"""Start the right local Dask cluster: GPU workers when there are GPUs, CPU workers otherwise."""

from __future__ import annotations

import numbers
import os
import sys

from ._optional import gpu_available, has_module

#: keywords of dask-cuda's ``LocalCUDACluster`` (over its releases) that
#: ``distributed.LocalCluster`` and its workers do not take: ``"auto"`` drops them
#: when it falls back to the CPU, ``"cpu"`` refuses them. (``memory_limit``,
#: ``local_directory``, ``protocol``, ``data``, ``worker_class`` ... are shared.)
GPU_ONLY_KWARGS = frozenset({
    "CUDA_VISIBLE_DEVICES", "device_memory_limit", "enable_cudf_spill", "cudf_spill_stats",
    "shared_filesystem", "enable_tcp_over_ucx", "enable_infiniband", "enable_nvlink",
    "enable_rdmacm", "enable_rocm_ipc", "ucx_net_devices", "rmm_pool_size",
    "rmm_maximum_pool_size", "rmm_managed_memory", "rmm_async",
    "rmm_allocator_external_lib_list", "rmm_release_threshold", "rmm_log_directory",
    "rmm_track_allocations", "jit_unspill", "log_spilling", "pre_import",
})


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
        CPU workers, at least 1 (default: the number of cores, at most 4). To
        compute without a cluster, start none: Dask's threaded scheduler runs
        in this process.
    threads_per_worker : int, default=1
        Threads of each CPU worker, a whole number >= 1. ``nthreads=`` (the
        workers' own name for it) is refused: pass ``threads_per_worker``.
    quiet : bool
        Do not print which cluster was started.
    **kwargs
        Passed to the cluster class (``memory_limit``, ``rmm_pool_size`` ...).
        Keywords only dask-cuda's ``LocalCUDACluster`` takes (``rmm_*``,
        ``device_memory_limit``, ``jit_unspill``, ... see ``GPU_ONLY_KWARGS``)
        are dropped, with a note on stderr (also with ``quiet``), when ``"auto"``
        falls back to the CPU, and are a ``ValueError`` with ``"cpu"``.

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
    _check_n_workers(n_workers)
    _check_threads_per_worker(threads_per_worker)
    if "nthreads" in kwargs:
        raise ValueError(
            f"nthreads={kwargs['nthreads']!r}: pass threads_per_worker= instead (make_cluster "
            f"sets the workers' threads from it, {threads_per_worker!r} here, and would "
            "override nthreads=).")
    gpu_only = sorted(GPU_ONLY_KWARGS.intersection(kwargs))
    if kind == "cpu" and gpu_only:
        it = "it" if len(gpu_only) == 1 else "them"
        raise ValueError(
            f"{_keywords(gpu_only)}: only dask-cuda's LocalCUDACluster (a GPU cluster) takes "
            f"{it}; kind='cpu' starts a distributed.LocalCluster. Leave {it} out, or use "
            f"kind='gpu' (or 'auto', which drops {it} when it falls back to the CPU)."
        )
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
        if gpu_only:  # said even when quiet: the caller asked for them
            print(f"gpuinc: note: the CPU cluster ignores {_keywords(gpu_only)} (only "
                  f"dask-cuda's LocalCUDACluster takes {'it' if len(gpu_only) == 1 else 'them'})",
                  file=sys.stderr)
            kwargs = {k: v for k, v in kwargs.items() if k not in GPU_ONLY_KWARGS}
    from distributed import LocalCluster

    if n_workers is None:
        n_workers = max(1, min(4, os.cpu_count() or 1))
    kwargs.setdefault("dashboard_address", ":0")
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, **kwargs)
    _log(f"started a LocalCluster with {n_workers} CPU worker(s)", quiet)
    return cluster


def _keywords(names) -> str:
    return ", ".join(f"{name}=" for name in names)


def _check_n_workers(n_workers) -> None:
    if n_workers is None:
        return
    if isinstance(n_workers, bool) or not isinstance(n_workers, numbers.Integral):
        raise ValueError(f"n_workers must be a whole number >= 1 or None (one per core, at "
                         f"most 4), got {n_workers!r}.")
    if n_workers < 1:
        raise ValueError(
            f"n_workers must be >= 1, got {n_workers} (a cluster without workers never runs a "
            "task): pass a positive number or None (one per core, at most 4). To compute "
            "without a cluster, start none: Dask's threaded scheduler then runs in this "
            "process (the command line's --workers 0)."
        )


def _check_threads_per_worker(threads) -> None:
    if (isinstance(threads, bool) or not isinstance(threads, numbers.Integral)
            or threads < 1):
        raise ValueError(f"threads_per_worker must be a whole number >= 1 (threads of each "
                         f"CPU worker; default 1), got {threads!r}.")


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
