"""One CUDA kernel for a whole pass of mini-batch SGD over a block (CuPy only).

On the GPU, the array-API loop of ``BaseSGD`` launches about fifteen small
kernels per mini-batch, and at 100 features each one is far shorter than
its launch: a pass over 10 million rows in 1024-row batches is ~150,000
launches.  Here a single thread block walks the whole pass instead (the
batches depend on each other through the weights, so one block is the
natural unit): per batch, phase A computes the raw scores and the loss
gradient of each row (one thread per row, reading it 16 bytes at a time when
the row length allows), phase B the weight gradient (each thread one feature
column and a share of the rows, four rows in flight, summed in ``partial``)
and the update.  Compiled for an H100 (sm_90, nvcc 13.0): 63 registers per
thread with float32, so the block gets all 1024 threads, and no spills.  One launch per ``partial_fit`` call; the host schedule of
step sizes and averaging weights is computed beforehand, exactly as the
array-API loop computes it, so both paths take the same steps.

Used for dense CuPy input with the ``l2`` penalty or none (the ``l1``
penalties' cumulative clipping stays on the array-API path); setting the
environment variable ``GPUINC_FUSED_SGD=0`` turns it off.

The kernel source is plain CUDA C++ without warp intrinsics, so the tests
compile the very same source for the CPU (``compile_for_host``: every CUDA
thread a C++ thread, ``__syncthreads`` a barrier) and compare it with the
NumPy path on machines with no GPU.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from ._loss import (
    BinaryLogLoss,
    EpsilonInsensitive,
    Hinge,
    Huber,
    ModifiedHuber,
    MultinomialLogLoss,
    SquaredError,
    SquaredHinge,
)

#: threads of the one thread block (the kernel works with any number)
THREADS = 1024

# flags
HAS_WEIGHTS, HAS_ORDER, AVERAGE, FIT_INTERCEPT, TRACK_LOSS, VECTOR_LOADS = 1, 2, 4, 8, 16, 32

#: REAL per vector load (float4 / double2: 16 bytes)
_VECTOR = {"float": ("float4", 4), "double": ("double2", 2)}

# (C type, name) of the kernel's parameters, in order; REAL is float or double
PARAMS = (
    ("const REAL* __restrict__", "X"),  # (rows, d), C order
    ("const REAL* __restrict__", "T"),  # (rows, k) targets
    ("const REAL* __restrict__", "sw"),  # (rows,) per-sample weights, when HAS_WEIGHTS
    ("const long long* __restrict__", "order"),  # (n,) rows in training order, when HAS_ORDER
    ("const double* __restrict__", "eta"),  # (n_batches,) step sizes
    ("const double* __restrict__", "mix"),  # (n_batches,) averaging weights (0: none)
    ("REAL*", "W"),  # (k, d), updated in place
    ("REAL*", "b"),  # (k,)
    ("REAL*", "W_avg"),  # (k, d), when AVERAGE
    ("REAL*", "b_avg"),  # (k,)
    ("REAL*", "dz"),  # scratch (batch, k)
    ("long long*", "offsets"),  # scratch (batch,): where each row of the batch starts in X
    ("REAL*", "partial"),  # scratch (groups, k * (d + 1))
    ("double*", "out"),  # (2,): sum of the raw scores (finiteness probe), loss sum
    ("long long", "n"),  # rows trained on in this pass
    ("long long", "d"),
    ("long long", "k"),
    ("long long", "batch"),
    ("long long", "flags"),
    ("long long", "loss_code"),
    ("double", "param"),  # hinge threshold, or epsilon
    ("double", "l2"),  # alpha * (1 - l1_ratio), 0 without penalty
)

_SIGNATURE = ", ".join(f"{ctype} {name}" for ctype, name in PARAMS)

SOURCE = r"""
#ifndef REAL
#define REAL float
#endif

__device__ __forceinline__ REAL pos_part(REAL u) { return u > (REAL)0 ? u : (REAL)0; }

// d loss / d z (*g) and the loss (*v) of one entry, as in gpuinc/linear_model/_loss.py
__device__ __forceinline__ void entry_loss(long long code, REAL param, REAL z, REAL y,
                                           REAL* g, REAL* v)
{
    switch (code) {
    case 0: {  // hinge (param: threshold; 0 is the perceptron)
        REAL yz = y * z;
        *g = yz <= param ? -y : (REAL)0;
        *v = pos_part(param - yz);
        break;
    }
    case 1: {  // squared hinge
        REAL h = pos_part((REAL)1 - y * z);
        *g = (REAL)(-2) * y * h;
        *v = h * h;
        break;
    }
    case 2: {  // modified huber
        REAL yz = y * z;
        REAL h = pos_part((REAL)1 - yz);
        *g = y * (yz >= (REAL)(-1) ? (REAL)(-2) * h : (REAL)(-4));
        *v = yz >= (REAL)(-1) ? h * h : (REAL)(-4) * yz;
        break;
    }
    case 3: {  // binary log loss
        REAL yz = y * z;
        *g = -y / ((REAL)1 + exp(yz < (REAL)50 ? yz : (REAL)50));
        REAL u = -yz;
        *v = pos_part(u) + log1p(exp(-fabs(u)));
        break;
    }
    case 5: {  // squared error
        REAL r = z - y;
        *g = r;
        *v = (REAL)0.5 * r * r;
        break;
    }
    case 6: {  // huber (param: epsilon)
        REAL r = z - y;
        REAL e = param;
        *g = r < -e ? -e : (r > e ? e : r);
        REAL a = fabs(r);
        REAL inner = a < e ? a : e;
        *v = (REAL)0.5 * inner * inner + e * (a - inner);
        break;
    }
    case 7: {  // epsilon insensitive
        REAL r = z - y;
        *g = fabs(r) > param ? (r > (REAL)0 ? (REAL)1 : (REAL)(-1)) : (REAL)0;
        *v = pos_part(fabs(r) - param);
        break;
    }
    default: {  // 8: squared epsilon insensitive
        REAL r = z - y;
        *g = (REAL)2 * (pos_part(r - param) - pos_part(-r - param));
        REAL h = pos_part(fabs(r) - param);
        *v = h * h;
        break;
    }
    }
}

// x . w over d entries, in order; with 16-byte loads when `vec` (d a multiple of
// REAL_VW, x and w 16-byte aligned): the same sums, a quarter (half) of the loads.
// w is not __restrict__: the kernel rewrites the weights between batches, and a
// const __restrict__ pointer lets the compiler read through the non-coherent
// read-only cache, which is only valid for data nothing writes during the kernel
__device__ __forceinline__ REAL dot(const REAL* __restrict__ x, const REAL* w,
                                    long long d, bool vec)
{
    REAL z = 0;
    if (vec) {
        const REAL_VEC* xv = (const REAL_VEC*)x;
        const REAL_VEC* wv = (const REAL_VEC*)w;
        for (long long q = 0; q < d / REAL_VW; ++q) {
            const REAL_VEC a = xv[q], c = wv[q];
            z += a.x * c.x;
            z += a.y * c.y;
#if REAL_VW == 4
            z += a.z * c.z;
            z += a.w * c.w;
#endif
        }
    } else {
        for (long long j = 0; j < d; ++j) z += x[j] * w[j];
    }
    return z;
}

extern "C" __global__ void __launch_bounds__(1024) sgd_epoch(SIGNATURE)
{
    const long long tid = threadIdx.x;
    const long long nt = blockDim.x;
    const bool has_weights = flags & 1, has_order = flags & 2, average = flags & 4;
    const bool fit_intercept = flags & 8, track = flags & 16, vec = flags & 32;
    const REAL p = (REAL)param;
    const long long P = k * (d + 1);  // gradient columns: d features and the intercept, per output
    const long long groups = nt / P > 1 ? nt / P : 1;
    double probe = 0.0, loss_sum = 0.0;

    long long s = 0;
    for (long long start = 0; start < n; start += batch, ++s) {
        const long long m = n - start < batch ? n - start : batch;

        // phase A: raw scores and loss gradient, one thread per row
        for (long long i = tid; i < m; i += nt) {
            const long long row = has_order ? order[start + i] : start + i;
            offsets[i] = row * d;
            const REAL* x = X + row * d;
            const REAL* t = T + row * k;
            REAL* g = dz + i * k;
            for (long long c = 0; c < k; ++c) {
                REAL z = dot(x, W + c * d, d, vec);
                if (fit_intercept) z += b[c];
                g[c] = z;
                probe += (double)z;
            }
            REAL row_loss = 0;
            if (loss_code == 4) {  // multinomial log loss: softmax - one hot
                REAL top = g[0];
                for (long long c = 1; c < k; ++c) top = g[c] > top ? g[c] : top;
                REAL total = 0, true_score = 0, mass = 0;
                for (long long c = 0; c < k; ++c) {
                    total += exp(g[c] - top);
                    true_score += g[c] * t[c];
                    mass += t[c];
                }
                for (long long c = 0; c < k; ++c) g[c] = exp(g[c] - top) / total - t[c];
                row_loss = (log(total) + top - true_score) * mass;
            } else {
                for (long long c = 0; c < k; ++c) {
                    REAL grad, value;
                    entry_loss(loss_code, p, g[c], t[c], &grad, &value);
                    g[c] = grad;
                    row_loss += value;
                }
            }
            if (has_weights) {
                const REAL sample_weight = sw[row];
                for (long long c = 0; c < k; ++c) g[c] *= sample_weight;
                row_loss *= sample_weight;
            }
            if (track) loss_sum += (double)row_loss;
        }
        __syncthreads();

        // phase B: weight gradient; thread q sums column q % P over rows q / P + groups * r,
        // four rows at a time into separate sums (independent loads in flight)
        for (long long q = tid; q < groups * P; q += nt) {
            const long long col = q % P, first = q / P;
            const long long c = col / (d + 1), j = col % (d + 1);
            REAL acc = 0;
            if (j < d) {
                const REAL* xj = X + j;
                REAL a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                long long i = first;
                for (; i + 3 * groups < m; i += 4 * groups) {
                    a0 += xj[offsets[i]] * dz[i * k + c];
                    a1 += xj[offsets[i + groups]] * dz[(i + groups) * k + c];
                    a2 += xj[offsets[i + 2 * groups]] * dz[(i + 2 * groups) * k + c];
                    a3 += xj[offsets[i + 3 * groups]] * dz[(i + 3 * groups) * k + c];
                }
                for (; i < m; i += groups) a0 += xj[offsets[i]] * dz[i * k + c];
                acc = (a0 + a1) + (a2 + a3);
            } else {  // the intercept's column of ones
                for (long long i = first; i < m; i += groups) acc += dz[i * k + c];
            }
            partial[first * P + col] = acc;
        }
        __syncthreads();

        // the update, as the array-API loop: W * decay - (eta / m) * gradient
        const double eta_s = eta[s];
        const double decay_d = 1.0 - eta_s * l2 > 0.0 ? 1.0 - eta_s * l2 : 0.0;
        const REAL decay = (REAL)decay_d;
        const REAL step = (REAL)(eta_s / (double)m);
        const REAL mix_s = average ? (REAL)mix[s] : (REAL)0;
        for (long long col = tid; col < P; col += nt) {
            REAL grad = 0;
            for (long long r = 0; r < groups; ++r) grad += partial[r * P + col];
            const long long c = col / (d + 1), j = col % (d + 1);
            if (j < d) {
                const REAL w = W[c * d + j] * decay - step * grad;
                W[c * d + j] = w;
                if (mix_s > (REAL)0) W_avg[c * d + j] += (w - W_avg[c * d + j]) * mix_s;
            } else {
                if (fit_intercept) b[c] = b[c] - step * grad;
                if (mix_s > (REAL)0) b_avg[c] += (b[c] - b_avg[c]) * mix_s;
            }
        }
        __syncthreads();
    }

    // the two sums, once per pass
    __shared__ double reduce[2 * 1024];
    reduce[tid] = probe;
    reduce[1024 + tid] = loss_sum;
    __syncthreads();
    if (tid == 0) {
        double a = 0.0, l = 0.0;
        for (long long i = 0; i < nt; ++i) {
            a += reduce[i];
            l += reduce[1024 + i];
        }
        out[0] = a;
        out[1] = l;
    }
}
""".replace("SIGNATURE", _SIGNATURE)


def loss_code(loss: Any) -> tuple[int, float] | None:
    """(kernel code, parameter) of a loss object, or None when the kernel lacks it."""
    if isinstance(loss, Hinge):
        return 0, float(loss.threshold)
    if isinstance(loss, SquaredHinge):
        return 1, 0.0
    if isinstance(loss, ModifiedHuber):
        return 2, 0.0
    if isinstance(loss, BinaryLogLoss):
        return 3, 0.0
    if isinstance(loss, MultinomialLogLoss):
        return 4, 0.0
    if isinstance(loss, SquaredError):
        return 5, 0.0
    if isinstance(loss, Huber):
        return 6, float(loss.epsilon)
    if isinstance(loss, EpsilonInsensitive):
        return (7 if loss.power == 1 else 8), float(loss.epsilon)
    return None


def enabled() -> bool:
    """Whether the fused kernel may be used (``GPUINC_FUSED_SGD=0`` turns it off)."""
    return os.environ.get("GPUINC_FUSED_SGD", "1").strip().lower() not in {
        "0",
        "false",
        "no",
        "off",
    }


def fused_epoch(
    xp: ModuleType,
    launch: Callable[..., None],
    X: Any,
    T: Any,
    sample_weight: Any,
    order: Any,
    W: Any,
    b: Any,
    W_avg: Any,
    b_avg: Any,
    *,
    loss: Any,
    etas: list[float],
    mixes: list[float],
    batch_size: int,
    l2: float,
    fit_intercept: bool,
    track_loss: bool,
    where: dict,
) -> tuple[Any, Any, Any, Any, float, float]:
    """One pass over (X, T) in one kernel launch: new (W, b, W_avg, b_avg), probe, loss sum.

    ``launch(*args)`` runs the kernel with the arguments of :data:`PARAMS`
    (arrays of ``xp`` and NumPy int64/float64 scalars).  The given weights
    are left as they were: the kernel updates copies.  ``order`` (row
    indices, any integer dtype, host or ``xp``) is None to train on the rows
    as stored; ``where`` holds the
    ``device=`` keyword for new arrays next to X.
    """
    code, param = loss_code(loss)
    dtype = X.dtype
    X, T = _c_order(X), _c_order(xp.astype(T, dtype))
    if sample_weight is not None:
        sample_weight = _c_order(xp.astype(sample_weight, dtype))
    n = X.shape[0] if order is None else int(order.shape[0])
    d, k = X.shape[1], T.shape[1]

    def host(values, dt):
        return xp.asarray(np.asarray(values, dtype=dt), **where)

    flags = (
        (HAS_WEIGHTS if sample_weight is not None else 0)
        | (HAS_ORDER if order is not None else 0)
        | (AVERAGE if W_avg is not None and any(mixes) else 0)
        | (FIT_INTERCEPT if fit_intercept else 0)
        | (TRACK_LOSS if track_loss else 0)
    )
    dummy = xp.zeros((1,), dtype=dtype, **where)
    W, b = W.copy(), b.copy()
    per_load = 4 if np.dtype(dtype).itemsize == 4 else 2
    if d % per_load == 0 and _address(X) % 16 == 0 and _address(W) % 16 == 0:
        flags |= VECTOR_LOADS
    if flags & AVERAGE:
        W_avg, b_avg = W_avg.copy(), b_avg.copy()
    groups = max(1, THREADS // (k * (d + 1)))
    out = xp.zeros((2,), dtype=xp.float64, **where)
    launch(
        X,
        T,
        dummy if sample_weight is None else sample_weight,
        host([0], np.int64) if order is None else xp.astype(xp.asarray(order, **where), xp.int64),
        host(etas, np.float64),
        host(mixes, np.float64),
        W,
        b,
        W_avg if flags & AVERAGE else dummy,
        b_avg if flags & AVERAGE else dummy,
        xp.empty((min(batch_size, max(n, 1)) * k,), dtype=dtype, **where),
        xp.empty((min(batch_size, max(n, 1)),), dtype=xp.int64, **where),
        xp.empty((groups * k * (d + 1),), dtype=dtype, **where),
        out,
        *(np.int64(v) for v in (n, d, k, batch_size, flags, code)),
        np.float64(param),
        np.float64(l2),
    )
    sums = np.asarray(out.get() if hasattr(out, "get") else out, dtype=np.float64)
    return W, b, W_avg, b_avg, float(sums[0]), float(sums[1])


def _address(a: Any) -> int:
    """Address of an array's first element (CuPy or NumPy)."""
    data = getattr(a, "data", None)
    return int(data.ptr) if hasattr(data, "ptr") else int(a.ctypes.data)


def _c_order(a: Any) -> Any:
    return a if a.flags.c_contiguous else a.copy(order="C")


_CUPY_KERNELS: dict[str, Any] = {}


def _defines(dtype_name: str) -> tuple[str, ...]:
    """Compiler options that set REAL and its 16-byte vector type for ``dtype_name``."""
    real = {"float32": "float", "float64": "double"}[dtype_name]
    vec, per_load = _VECTOR[real]
    return (f"-DREAL={real}", f"-DREAL_VEC={vec}", f"-DREAL_VW={per_load}")


#: (dtype name, device id) -> why the kernel does not compile there (then not tried again)
_UNAVAILABLE: dict[tuple, str] = {}
#: (dtype name, device id) where it compiled
_BUILT: set[tuple] = set()


def _build(name: str, device: Any = None) -> None:
    """Compile the kernel for ``name`` on ``device`` (a CuPy Device; None: the current one).

    Raises what CuPy raises.
    """
    cupy_launcher(name)
    with device if hasattr(device, "id") else contextlib.nullcontext():
        int(_CUPY_KERNELS[name].max_threads_per_block)  # reading it compiles for the device


def _is_compile_error(exc: BaseException) -> bool:
    """An error of the compiler (final for this source and toolkit), not of the moment."""
    return (type(exc).__name__ in ("CompileException", "NVRTCError")
            or "nvrtc" in str(exc).lower())


def available(dtype: Any, device: Any = None) -> bool:
    """Whether the kernel compiles for ``dtype`` on ``device`` (that of the data).

    Where NVRTC rejects the source it warns once and says False from then on:
    that costs speed, not the fit, as the array-API loop takes the same steps.
    Another error (out of memory, a busy device) says False for this call
    only, and is tried again on the next.  Dtypes other than float32 and
    float64 say False, without a warning.
    """
    key = (np.dtype(dtype).name, getattr(device, "id", None))
    if key[0] not in ("float32", "float64"):
        return False  # the kernel is written for these two (X is validated to one of them)
    if key in _BUILT:
        return True
    if key in _UNAVAILABLE:
        return False
    try:
        _build(key[0], device)
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"[:300]
        final = _is_compile_error(exc)
        if final:
            _UNAVAILABLE[key] = why
        warnings.warn(
            f"gpuinc's fused CUDA kernel for {key[0]} SGD did not "
            f"{'compile on this machine' if final else 'start'} ({why}); "
            f"{'training' if final else 'this pass'} uses the array-API loop instead (the "
            "same steps, slower). Set GPUINC_FUSED_SGD=0 to skip the attempt.",
            RuntimeWarning, stacklevel=3,
        )
        return False
    _BUILT.add(key)
    return True


def cupy_launcher(dtype: Any) -> Callable[..., None]:
    """Launch function for CuPy arrays of ``dtype`` (float32 or float64); compiled once."""
    import cupy

    name = np.dtype(dtype).name
    kernel = _CUPY_KERNELS.get(name)
    if kernel is None:
        kernel = cupy.RawKernel(SOURCE, "sgd_epoch", options=_defines(name))
        _CUPY_KERNELS[name] = kernel

    def launch(*args: Any) -> None:
        with args[0].device:  # the device of the data, which may not be the current one
            # Reading the attribute compiles the kernel for this device. Fewer threads
            # where it needs more registers than 1024 threads get (any block size works).
            threads = min(THREADS, int(kernel.max_threads_per_block))
            kernel((1,), (threads,), args)

    return launch


# ------------------------------------------------------------- host build
# The same source built for the CPU, for the tests: each CUDA thread is a
# std::thread, __syncthreads a std::barrier, __shared__ memory a static shared
# by the threads.
_HOST_SHIM = r"""
#include <barrier>
#include <cmath>
#include <thread>
#include <vector>
using std::exp; using std::fabs; using std::log; using std::log1p;
struct Dim3 { long long x, y, z; };
static thread_local Dim3 threadIdx;
static Dim3 blockDim;
static std::barrier<>* block_barrier;
#define __syncthreads() block_barrier->arrive_and_wait()
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(16) double2 { double x, y; };
#define __global__
#define __launch_bounds__(threads)
#define __device__
#define __forceinline__ inline
#define __shared__ static
"""

_HOST_RUNNER = r"""
extern "C" void run_block(long long threads, SIGNATURE)
{
    blockDim.x = threads;
    std::barrier<> bar(threads);
    block_barrier = &bar;
    std::vector<std::thread> pool;
    for (long long t = 0; t < threads; ++t)
        pool.emplace_back([=] { threadIdx.x = t; sgd_epoch(ARGS); });
    for (auto& th : pool) th.join();
}
""".replace("SIGNATURE", _SIGNATURE).replace("ARGS", ", ".join(name for _, name in PARAMS))


def compile_for_host(dtype: Any, workdir: str, threads: int = 37) -> Callable[..., None]:
    """Build the kernel for the CPU with the C++ compiler (tests only); a launch function.

    ``threads`` stands for the block size; an odd number checks that no part
    of the kernel assumes a multiple of the warp size.
    """
    import ctypes
    import subprocess

    name = np.dtype(dtype).name
    src = os.path.join(workdir, f"sgd_epoch_{name}.cpp")
    lib = os.path.join(workdir, f"sgd_epoch_{name}.so")
    with open(src, "w") as fh:
        fh.write(_HOST_SHIM + SOURCE + _HOST_RUNNER)
    cxx = os.environ.get("CXX", "c++")
    done = subprocess.run(
        [cxx, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", *_defines(name), src, "-o", lib],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{cxx} could not build {src}:\n{done.stderr}")
    run = ctypes.CDLL(lib).run_block
    kinds = {"long long": ctypes.c_longlong, "double": ctypes.c_double}
    run.argtypes = [ctypes.c_longlong] + [kinds.get(c, ctypes.c_void_p) for c, _ in PARAMS]
    run.restype = None
    keep: list[Any] = []

    def launch(*args: Any) -> None:
        converted = []
        for (ctype, name), value in zip(PARAMS, args, strict=True):
            if "*" in ctype:
                array = np.asarray(value)
                if not array.flags.c_contiguous:
                    raise ValueError(f"{name} must be C-contiguous")
                keep.append(array)
                converted.append(array.ctypes.data)
            else:
                converted.append(value.item())
        run(threads, *converted)
        keep.clear()

    return launch
