"""GPU benchmark: gpuinc on one GPU against scikit-learn on the CPU and PyTorch on the GPU.

Everything is measured in one run on one machine, and every ratio compares
figures from that run. The parts, in order (each skips itself, with the
reason printed, when what it needs is missing or the time budget is spent):

1. **agreement**: gpuinc's ``SGDClassifier`` trained through ``Incremental``
   on the same 200,000 rows once as NumPy blocks on the CPU and once as CuPy
   blocks on the GPU; largest coefficient difference relative to the largest
   coefficient (goal: <= 1e-3) and prediction agreement. The "GPU" model's
   ``estimator_home_`` is printed; unless it is ``device`` both that row and
   the agreement goal FAIL (a model trained on the host agrees trivially).
2. **gpuinc on the device**: ``--rows`` x ``--features`` float32 (default
   10M x 100), generated on the GPU, wrapped with ``dask.array.from_array``
   in blocks of ``--block-rows``; ``Incremental(SGDClassifier(loss="log_loss"))``
   with ``batch_size=--batch-size`` (default 1024) for ``--passes`` passes
   after a warm-up fit; the figure is the median seconds per pass. Where the
   model trained (``estimator_home_``) is printed, and anything but
   ``device`` is a FAIL (then no speed-up is computed from that pass).
   Then **fused against array-API**: one direct ``partial_fit`` on the first
   ``--fused-rows`` rows through the one-kernel CUDA pass (shuffled, and
   in order: the difference is the cost of the scattered row reads) and
   through the array-API loop (``GPUINC_FUSED_SGD=0``), whether every timed
   fused call ran the kernel (counted by wrapping ``_fused.fused_epoch``
   during the timed calls) and whether the kernel was built in this process.
3. **scikit-learn on the CPU**: ``sklearn.linear_model.SGDClassifier
   (loss="log_loss")``, one ``partial_fit`` per pass on the first
   ``--sklearn-rows`` rows (float64, converted beforehand); the median time
   per pass is scaled per row to ``--rows`` (stated in the output). Goal:
   gpuinc at least 30x faster per pass. Accuracy is compared on equal data:
   gpuinc is also trained on those same rows for the same passes, and both
   are scored on the same held-out rows (goal: gpuinc >= scikit-learn - 0.002).
4. **PyTorch on the GPU**: a plain mini-batch logistic-regression loop
   (``nn.Linear`` + ``BCEWithLogitsLoss`` + ``optim.SGD``, a shuffled index
   per pass) with gpuinc's batch size, over the same device data. Goal:
   gpuinc at least 2x faster per pass.
5. **host blocks**: pinned host->device bandwidth (``cudaMemcpyAsync`` from
   ``cupyx.empty_pinned`` memory, timed with CUDA events) and pageable
   ``cupy.asarray`` bandwidth; ``gpuinc._gpu.DeviceMover`` throughput on NumPy
   blocks; then ``Incremental(..., device="gpu")`` on NumPy blocks, with a
   do-nothing device estimator (the data path alone) and with the SGD
   classifier. Goal: the SGD throughput (bytes of X and y per second) at
   least 70% of the pinned bandwidth.
6. **dask-cuda**: the device fit of part 2 on a one-GPU ``LocalCUDACluster``
   (data generated on the worker), when dask-cuda is installed.

Timings synchronise the device before reading a clock, come after a warm-up,
and are medians of ``--passes`` repeats. The last lines printed are the
table; with ``--json PATH`` (default ``$OUT/bench_gpu.json`` when ``OUT`` is
set) the figures are written as JSON too.

Usage::

    python benchmarks/bench_gpu.py                  # the full run (about 2 minutes on an H100)
    python benchmarks/bench_gpu.py --rows 2000000   # smaller
    python benchmarks/bench_gpu.py --dry-run        # the flow on the CPU, tiny sizes, no figures

Without a GPU the script says so and exits with status 0 without measuring.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

import numpy as np
from _machine import cpu_model  # benchmarks/ is on sys.path when run as a script
from sklearn.base import BaseEstimator

GOAL_VS_SKLEARN = 30.0
GOAL_VS_TORCH = 2.0
GOAL_H2D_FRACTION = 0.70
GOAL_AGREEMENT = 1e-3
ACCURACY_SLACK = 0.002


# ------------------------------------------------------------------ plumbing
class Budget:
    """Seconds left for the whole run; parts that would not fit are skipped."""

    def __init__(self, seconds: float):
        self.start = time.perf_counter()
        self.seconds = float(seconds)

    def left(self) -> float:
        return self.seconds - (time.perf_counter() - self.start)


class Report:
    """Figures, goals and notes of one run; printed as a table and written as JSON."""

    def __init__(self):
        self.figures: dict = {}
        self.rows: list = []  # (label, value text, goal text, verdict)
        self.notes: list = []
        self.skipped: dict = {}
        self.errors: dict = {}
        self.after_part = None  # called after each part (main writes the JSON so far)

    def figure(self, key, value, label=None, fmt="{:.3g}", unit=""):
        self.figures[key] = value
        if label is not None:
            self.rows.append((label, (fmt.format(value) + unit) if value is not None else "-",
                              "", ""))

    def goal(self, key, label, value, goal_text, ok, fmt="{:.3g}", unit=""):
        self.figures[key] = value
        verdict = "PASS" if ok else "FAIL"
        self.figures[key + "_goal_met"] = bool(ok)
        self.rows.append((label, fmt.format(value) + unit, goal_text, verdict))

    def skip(self, part, reason):
        self.skipped[part] = reason
        self.rows.append((f"[{part}]", "skipped", "", reason[:60]))
        print(f"  {part}: skipped ({reason})", flush=True)

    def note(self, text):
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def table(self) -> str:
        width = max([len(r[0]) for r in self.rows] + [10])
        lines = [f"{'measure':<{width}}  {'value':>14}  {'goal':>10}  result",
                 "-" * (width + 36)]
        for label, value, goal, verdict in self.rows:
            lines.append(f"{label:<{width}}  {value:>14}  {goal:>10}  {verdict}")
        return "\n".join(lines)


def log(msg):
    print(f"bench_gpu: {msg}", flush=True)


def median(values):
    return float(statistics.median(values))


def run_part(report, budget, name, needs_s, fn, *args):
    """Run one part unless the budget is short; errors are recorded, not raised."""
    if budget.left() < needs_s:
        report.skip(name, f"time budget: {budget.left():.0f} s left, needs about {needs_s} s")
        return None
    log(f"{name} ...")
    t0 = time.perf_counter()
    try:
        out = fn(*args)
    except Exception as exc:  # one broken part must not hide the others
        traceback.print_exc()
        report.errors[name] = f"{type(exc).__name__}: {exc}"
        report.rows.append((f"[{name}]", "error", "", f"{type(exc).__name__}"[:60]))
        out = None
    log(f"{name} done in {time.perf_counter() - t0:.1f} s")
    if report.after_part is not None:
        report.after_part()  # figures so far reach the disk even if a later part is killed
    return out


# ------------------------------------------------------------------- devices
class Device:
    """CuPy on the GPU, or NumPy standing in for it in a dry run."""

    def __init__(self, dry_run: bool):
        self.dry = dry_run
        if dry_run:
            self.xp = np
        else:
            import cupy

            self.xp = cupy

    def sync(self):
        if not self.dry:
            self.xp.cuda.Device().synchronize()

    def asnumpy(self, a):
        return np.asarray(a) if self.dry else self.xp.asnumpy(a)

    def standard_normal(self, seed, shape):
        if self.dry:
            return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)
        return self.xp.random.RandomState(seed).standard_normal(shape, dtype=self.xp.float32)

    def uniform(self, seed, n):
        if self.dry:
            return np.random.default_rng(seed).random(n, dtype=np.float32)
        return self.xp.random.RandomState(seed).random_sample(n, dtype=self.xp.float32)

    def free(self):
        gc.collect()
        if not self.dry:
            self.xp.get_default_memory_pool().free_all_blocks()

    @property
    def pin(self):
        """What ``Incremental(device=...)`` gets for gpuinc's estimators."""
        return None if self.dry else "gpu"


def environment(dev: Device) -> dict:
    env = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "dry_run": dev.dry,
    }
    for name in ("numpy", "sklearn", "dask", "distributed", "dask_cuda", "torch", "cupy"):
        try:
            env[name] = __import__(name).__version__
        except Exception:
            env[name] = None
    try:
        import gpuinc

        env["gpuinc"] = gpuinc.__version__
    except Exception:
        env["gpuinc"] = None
    if not dev.dry:
        rt = dev.xp.cuda.runtime
        props = rt.getDeviceProperties(dev.xp.cuda.Device().id)
        name = props["name"]
        env["device"] = name.decode() if isinstance(name, bytes) else str(name)
        env["device_memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
        env["cuda_driver_api"] = rt.driverGetVersion()
        env["cuda_runtime"] = rt.runtimeGetVersion()
        env["driver"] = _nvidia_smi_driver()
    else:
        env["device"] = "none (dry run: NumPy stands for the device)"
        env["driver"] = None
    return env


def _nvidia_smi_driver():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 else None
    except Exception:
        return None


# ---------------------------------------------------------------------- data
def true_weights(d: int) -> np.ndarray:
    """The model behind every row of the benchmark (train, test and cluster blocks)."""
    return (np.random.RandomState(0).standard_normal(d) * (2.0 / np.sqrt(d))).astype(np.float32)


def make_problem(dev: Device, n: int, d: int, rows_seed: int):
    """A logistic-model problem, y ~ Bernoulli(sigmoid(X @ w)), made on the device."""
    xp = dev.xp
    w = xp.asarray(true_weights(d))
    X = dev.standard_normal(rows_seed, (n, d))
    p = 1.0 / (1.0 + xp.exp(-(X @ w)))
    y = (dev.uniform(rows_seed + 1000, n) < p).astype(xp.int32)
    return X, y


def as_dask(X, y, block_rows: int):
    import dask.array as da

    # name=False: a random key instead of hashing gigabytes; asarray=False keeps CuPy chunks
    Xd = da.from_array(X, chunks=(block_rows, X.shape[1]), asarray=False, name=False)
    yd = da.from_array(y, chunks=(block_rows,), asarray=False, name=False)
    return Xd, yd


#: rows per SGD update, for gpuinc and the PyTorch loop alike (set by --batch-size)
BATCH_SIZE = 1024


def gpuinc_sgd(random_state=0):
    from gpuinc.linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", random_state=random_state, batch_size=BATCH_SIZE)


def fit_incremental(estimator, X, y, *, epochs, device, classes=(0, 1)):
    from gpuinc import Incremental

    inc = Incremental(estimator, shuffle_blocks=False, progress=False, epochs=epochs,
                      device=device, random_state=0)
    return inc.fit(X, y, classes=np.asarray(classes))


def check_home(dev: Device, report, key, label, inc) -> str:
    """Record where ``inc`` trained (``estimator_home_``); on a GPU anything but "device" FAILs.

    A model that trained on the host while its data was on the device makes
    every "GPU" figure of its part a host figure: the row says so.
    """
    home = str(getattr(inc, "estimator_home_", None))
    if dev.dry:  # NumPy stands for the device: the host is the only home there is
        report.figure(key, home, f"{label}: trained on (estimator_home_)", fmt="{}")
    else:
        report.goal(key, f"{label}: trained on (estimator_home_)", home, "device",
                    home == "device", fmt="{}")
        if home != "device":
            report.note(f"{label}: the model trained on the {home}, not on the device; "
                        "its figures are not GPU figures")
    return home


def accuracy(dev: Device, estimator, X, y) -> float:
    pred = estimator.predict(X)
    return float(dev.asnumpy(pred == y).mean())


# ----------------------------------------------------------------------- parts
def part_agreement(dev, report, X, y, args):
    n = min(200_000, X.shape[0])
    Xd, yd = dev.asnumpy(X[:n]), dev.asnumpy(y[:n])
    block = max(1, n // 4)
    host = fit_incremental(gpuinc_sgd(), *as_dask(Xd, yd, block), epochs=1, device=None)
    gpu = fit_incremental(gpuinc_sgd(), *as_dask(X[:n], y[:n], block), epochs=1, device=dev.pin)
    dev.sync()
    home = check_home(dev, report, "agreement_gpu_home", "agreement, the \"GPU\" model", gpu)
    on_device = dev.dry or home == "device"
    coef_h = np.asarray(host.coef_, dtype=np.float64)
    coef_g = dev.asnumpy(gpu.coef_).astype(np.float64)
    rel = float(np.abs(coef_g - coef_h).max() / max(np.abs(coef_h).max(), 1e-30))
    test = slice(0, min(50_000, n))
    agree = float(np.mean(dev.asnumpy(gpu.estimator_.predict(X[test]))
                          == host.estimator_.predict(Xd[test])))
    # a "GPU" model that trained on the host agrees trivially: that is no agreement check
    label = (f"GPU vs NumPy coef, max|diff|/max|coef| ({n:,} rows)" if on_device else
             f"GPU vs NumPy coef ({n:,} rows; the GPU model ran on the {home}: not compared)")
    report.goal("agreement_rel_coef_diff", label, rel, f"<= {GOAL_AGREEMENT:g}",
                on_device and rel <= GOAL_AGREEMENT, fmt="{:.2e}")
    report.figure("agreement_predictions", agree, "GPU vs NumPy identical predictions",
                  fmt="{:.4%}")


def part_gpuinc_device(dev, report, X, y, Xt, yt, args):
    import dask.array as da

    Xd, yd = as_dask(X, y, args.block_rows)
    warm = min(X.shape[0], 2 * args.batch_rows_warmup)
    fit_incremental(gpuinc_sgd(), da.from_array(X[:warm], chunks=(warm // 2, X.shape[1]),
                                                asarray=False, name=False),
                    da.from_array(y[:warm], chunks=warm // 2, asarray=False, name=False),
                    epochs=1, device=dev.pin)
    dev.sync()
    t0 = time.perf_counter()
    inc = fit_incremental(gpuinc_sgd(), Xd, yd, epochs=args.passes, device=dev.pin)
    dev.sync()
    total = time.perf_counter() - t0
    per_pass = [r["seconds"] for r in inc.history_]
    home = check_home(dev, report, "gpuinc_home", "gpuinc SGD on device data", inc)
    report.figure("gpuinc_pass_seconds_all", per_pass)
    report.figure("gpuinc_fit_total_seconds", total)
    med = median(per_pass)
    report.figure("gpuinc_pass_s", med, f"gpuinc SGD, s per pass ({X.shape[0]:,} rows, data on "
                  f"{'the host (dry run)' if dev.dry else 'device'}, trained on the {home})",
                  fmt="{:.3f}", unit=" s")
    report.figure("gpuinc_rows_per_s", X.shape[0] / med)
    report.figure("gpuinc_accuracy_full", accuracy(dev, inc.estimator_, Xt, yt),
                  f"gpuinc accuracy after {args.passes} passes on all rows", fmt="{:.4f}")
    if sum(per_pass) < 0.8 * total:
        report.note(f"per-pass times add up to {sum(per_pass):.2f} s of a {total:.2f} s fit")
    if not dev.dry and home != "device":
        report.note("no speed-up against scikit-learn or PyTorch is computed from a pass that "
                    "did not run on the device")
        return None
    return med


def part_fused(dev, report, X, y, args):
    """One direct partial_fit on the same rows: the fused CUDA pass against the array-API loop."""
    from gpuinc.linear_model import _fused

    n = min(X.shape[0], args.fused_rows)
    classes = np.array([0, 1])
    # which timed calls ran the one-kernel pass: partial_fit calls _fused.fused_epoch through
    # the module, so a counting wrapper around it sees every fused pass (one Python call each)
    launches = {"n": 0}
    real_epoch = _fused.fused_epoch

    def counting_epoch(*a, **kw):
        launches["n"] += 1
        return real_epoch(*a, **kw)

    def one_pass(fused, shuffle=True):
        """Seconds of one timed partial_fit, and whether it ran the fused kernel."""
        previous = os.environ.get("GPUINC_FUSED_SGD")
        os.environ["GPUINC_FUSED_SGD"] = "1" if fused else "0"
        try:
            est = gpuinc_sgd().set_params(shuffle=shuffle)
            est.partial_fit(X[:4 * BATCH_SIZE], y[:4 * BATCH_SIZE], classes=classes)  # warm-up
            dev.sync()
            launches["n"] = 0
            _fused.fused_epoch = counting_epoch
            try:
                t0 = time.perf_counter()
                est.partial_fit(X[:n], y[:n])
                dev.sync()
                seconds = time.perf_counter() - t0
            finally:
                _fused.fused_epoch = real_epoch
            return seconds, launches["n"] > 0
        finally:
            if previous is None:
                os.environ.pop("GPUINC_FUSED_SGD", None)
            else:
                os.environ["GPUINC_FUSED_SGD"] = previous

    fused_runs = [one_pass(True) for _ in range(args.passes)]
    in_order_runs = [one_pass(True, shuffle=False) for _ in range(args.passes)]
    loop_runs = [one_pass(False) for _ in range(args.passes)]
    fused, in_order, loop = ([t for t, _ in runs] for runs in (fused_runs, in_order_runs,
                                                                loop_runs))
    # every timed "fused" call ran the kernel (otherwise training fell back to the array-API
    # loop, with a warning, and the "fused" times are the loop's), and no loop call did
    used = all(u for _, u in fused_runs + in_order_runs)
    loop_clean = not any(u for _, u in loop_runs)
    report.figure("fused_kernel_used", used,
                  f"fused CUDA pass ran in all {2 * args.passes} timed fused calls", fmt="{}")
    report.figure("fused_kernel_built", any(key[0] == "float32" for key in _fused._BUILT),
                  "  fused kernel built in this process (float32)", fmt="{}")
    report.figure("fused_rows", n)
    if not loop_clean:
        report.note("GPUINC_FUSED_SGD=0 did not keep the fused kernel out of the array-API "
                    "timings: no fused comparison")
        return
    if not used:
        report.note("not every timed fused call ran the fused CUDA kernel: no fused figures")
        return
    report.figure("fused_pass_s", median(fused),
                  f"one partial_fit, {n:,} rows: fused CUDA pass", fmt="{:.4f}", unit=" s")
    report.figure("fused_in_order_pass_s", median(in_order), "  fused, shuffle=False",
                  fmt="{:.4f}", unit=" s")
    report.figure("array_api_pass_s", median(loop), "  same rows, array-API loop",
                  fmt="{:.4f}", unit=" s")
    report.figure("fused_speedup", median(loop) / median(fused), "  fused speed-up",
                  fmt="{:.1f}", unit="x")


def part_sklearn(dev, report, X, y, Xt, yt, args, gpuinc_pass_s):
    from sklearn.linear_model import SGDClassifier

    n_sub = min(args.sklearn_rows, X.shape[0])
    Xh = dev.asnumpy(X[:n_sub]).astype(np.float64)
    yh = dev.asnumpy(y[:n_sub])
    Xth, yth = dev.asnumpy(Xt).astype(np.float64), dev.asnumpy(yt)
    sk = SGDClassifier(loss="log_loss", random_state=0)
    sk.partial_fit(Xh[:1000], yh[:1000], classes=np.array([0, 1]))  # warm-up (not counted)
    sk = SGDClassifier(loss="log_loss", random_state=0)
    times = []
    for _ in range(args.passes):
        t0 = time.perf_counter()
        sk.partial_fit(Xh, yh, classes=np.array([0, 1]))
        times.append(time.perf_counter() - t0)
    sk_sub = median(times)
    scale = X.shape[0] / n_sub
    sk_full = sk_sub * scale
    sk_acc = float(sk.score(Xth, yth))
    report.figure("sklearn_pass_s_measured", sk_sub,
                  f"scikit-learn SGD, s per pass, {n_sub:,} rows measured", fmt="{:.3f}",
                  unit=" s")
    report.figure("sklearn_pass_s_scaled", sk_full,
                  f"  scaled per row to {X.shape[0]:,} rows (x{scale:g})", fmt="{:.2f}", unit=" s")
    # gpuinc on the very same rows and passes, for an equal-data accuracy comparison
    Xs, ys = as_dask(X[:n_sub], y[:n_sub], min(args.block_rows, n_sub))
    inc = fit_incremental(gpuinc_sgd(), Xs, ys, epochs=args.passes, device=dev.pin)
    g_acc = accuracy(dev, inc.estimator_, Xt, yt)
    report.figure("sklearn_accuracy", sk_acc, f"scikit-learn accuracy ({n_sub:,} rows, "
                  f"{args.passes} passes)", fmt="{:.4f}")
    report.goal("accuracy_gain_vs_sklearn", "gpuinc accuracy minus scikit-learn's (same rows)",
                g_acc - sk_acc, f">= -{ACCURACY_SLACK}", g_acc - sk_acc >= -ACCURACY_SLACK,
                fmt="{:+.4f}")
    report.figure("gpuinc_accuracy_same_rows", g_acc)
    if gpuinc_pass_s:
        ratio = sk_full / gpuinc_pass_s
        report.goal("speedup_vs_sklearn", "speedup per pass vs scikit-learn (CPU)", ratio,
                    f">= {GOAL_VS_SKLEARN:g}x", ratio >= GOAL_VS_SKLEARN, fmt="{:.1f}", unit="x")
    del Xh, Xth


def part_torch(dev, report, X, y, Xt, yt, args, gpuinc_pass_s, batch_size):
    import torch

    if dev.dry:
        device = torch.device("cpu")
        Xtt, ytt = torch.from_numpy(X), torch.from_numpy(y.astype(np.float32))
        Xtest = torch.from_numpy(Xt)
        sync = lambda: None  # noqa: E731
    else:
        if not torch.cuda.is_available():
            report.skip("torch", "PyTorch sees no CUDA device")
            return
        device = torch.device("cuda", dev.xp.cuda.Device().id)
        Xtt = torch.from_dlpack(X)  # the same device memory, no copy
        ytt = torch.from_dlpack(y).to(torch.float32)
        Xtest = torch.from_dlpack(Xt)
        sync = torch.cuda.synchronize
    n, d = Xtt.shape
    torch.manual_seed(0)
    model = torch.nn.Linear(d, 1).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    gen = torch.Generator(device=device).manual_seed(0)

    def one_pass(limit=None):
        perm = torch.randperm(n, device=device, generator=gen)
        stop = n if limit is None else min(n, limit * batch_size)
        for i in range(0, stop, batch_size):
            idx = perm[i:i + batch_size]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xtt[idx]).squeeze(1), ytt[idx])
            loss.backward()
            opt.step()

    one_pass(limit=200)  # warm-up
    sync()
    times = []
    for _ in range(args.passes):
        t0 = time.perf_counter()
        one_pass()
        sync()
        times.append(time.perf_counter() - t0)
    t_pass = median(times)
    with torch.no_grad():
        pred = (model(Xtest).squeeze(1) > 0).to(torch.int32)
    acc = float((pred.cpu().numpy() == dev.asnumpy(yt)).mean())
    report.figure("torch_pass_s", t_pass, f"PyTorch loop, s per pass (batch {batch_size})",
                  fmt="{:.3f}", unit=" s")
    report.figure("torch_accuracy", acc, "PyTorch accuracy", fmt="{:.4f}")
    if gpuinc_pass_s:
        ratio = t_pass / gpuinc_pass_s
        report.goal("speedup_vs_torch", "speedup per pass vs PyTorch loop (GPU)", ratio,
                    f">= {GOAL_VS_TORCH:g}x", ratio >= GOAL_VS_TORCH, fmt="{:.2f}", unit="x")
    if not dev.dry:
        torch.cuda.empty_cache()


def measure_h2d(dev, report, args):
    """Pinned and pageable host->device bandwidth, in bytes per second."""
    if dev.dry:
        report.skip("h2d bandwidth", "dry run: no device to copy to")
        return None
    import cupy
    import cupyx

    nbytes = 256 << 20
    pinned = cupyx.empty_pinned((nbytes,), dtype=np.uint8)
    pinned[:] = 1
    pageable = np.ones(nbytes, dtype=np.uint8)
    dst = cupy.empty(nbytes, dtype=np.uint8)
    stream = cupy.cuda.Stream(non_blocking=True)
    rt = cupy.cuda.runtime

    def timed(src):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record(stream)
        rt.memcpyAsync(dst.data.ptr, src.ctypes.data, nbytes, rt.memcpyHostToDevice, stream.ptr)
        end.record(stream)
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end) / 1e3

    for _ in range(2):
        timed(pinned)
    pinned_bw = nbytes / median([timed(pinned) for _ in range(10)])

    def pageable_once():
        t0 = time.perf_counter()
        dst.set(pageable)
        cupy.cuda.Device().synchronize()
        return time.perf_counter() - t0

    pageable_once()
    pageable_bw = nbytes / median([pageable_once() for _ in range(5)])
    report.figure("h2d_pinned_gbps", pinned_bw / 1e9, "host->device, pinned (256 MiB copies)",
                  fmt="{:.1f}", unit=" GB/s")
    report.figure("h2d_pageable_gbps", pageable_bw / 1e9, "host->device, pageable cupy set",
                  fmt="{:.1f}", unit=" GB/s")
    return pinned_bw


class _DeviceSink(BaseEstimator):
    """Does no learning: reads one value per block so each block must have arrived."""

    _gpuinc_array_api = True

    def partial_fit(self, X, y=None, **kwargs):
        self.last_ = float(X[-1, -1])
        return self


def part_host_blocks(dev, report, X, y, args, pinned_bw):
    import dask.array as da

    from gpuinc._gpu import DeviceMover

    n = min(args.host_rows, X.shape[0])
    Xh, yh = dev.asnumpy(X[:n]), dev.asnumpy(y[:n])  # ordinary (pageable) host memory
    block = min(args.host_block_rows, n)
    nbytes = Xh.nbytes + yh.nbytes
    blocks = [(Xh[i:i + block], yh[i:i + block]) for i in range(0, n, block)]
    report.figure("host_rows", n)
    report.figure("host_block_rows", block)

    # the mover alone
    with DeviceMover() as mover:
        for xb, yb in blocks[:1]:  # warm-up: allocate staging, start threads
            mover.ready(mover.submit((xb, yb)))
        dev.sync()
        times = []
        for _ in range(max(2, args.passes)):
            t0 = time.perf_counter()
            for xb, yb in blocks:
                x_dev, _ = mover.ready(mover.submit((xb, yb)))
                x_dev[:1].sum()
                mover.block_done()
                del x_dev
            dev.sync()
            times.append(time.perf_counter() - t0)
    mover_bw = nbytes / median(times)
    report.figure("mover_gbps", mover_bw / 1e9, "DeviceMover, NumPy blocks -> device",
                  fmt="{:.1f}", unit=" GB/s")
    t0 = time.perf_counter()
    for xb, yb in blocks:
        dev.xp.asarray(xb), dev.xp.asarray(yb)
    dev.sync()
    report.figure("plain_asarray_gbps", nbytes / (time.perf_counter() - t0) / 1e9,
                  "cupy.asarray per block (pageable)", fmt="{:.1f}", unit=" GB/s")

    Xd = da.from_array(Xh, chunks=(block, Xh.shape[1]), name=False)
    yd = da.from_array(yh, chunks=(block,), name=False)
    passes = max(2, args.passes)
    sink = fit_incremental(_DeviceSink(), Xd, yd, epochs=passes, device="gpu")
    sink_bw = nbytes / median([r["seconds"] for r in sink.history_[1:]])
    report.figure("incremental_data_path_gbps", sink_bw / 1e9,
                  f"Incremental data path, NumPy blocks ({n:,} rows)", fmt="{:.1f}", unit=" GB/s")
    fit_incremental(gpuinc_sgd(), Xd[:block], yd[:block], epochs=1, device="gpu")  # warm-up
    inc = fit_incremental(gpuinc_sgd(), Xd, yd, epochs=passes, device="gpu")
    check_home(dev, report, "host_blocks_home", "Incremental SGD on NumPy blocks", inc)
    sgd_s = median([r["seconds"] for r in inc.history_])
    sgd_bw = nbytes / sgd_s
    report.figure("incremental_sgd_host_pass_s", sgd_s)
    fraction = sgd_bw / pinned_bw
    report.figure("incremental_sgd_host_gbps", sgd_bw / 1e9,
                  "Incremental SGD, NumPy blocks, X+y bytes/s", fmt="{:.1f}", unit=" GB/s")
    report.figure("incremental_data_path_fraction", sink_bw / pinned_bw,
                  "  data path / pinned bandwidth", fmt="{:.0%}")
    report.goal("host_blocks_fraction_of_pinned", "  SGD throughput / pinned bandwidth",
                fraction, f">= {GOAL_H2D_FRACTION:.0%}", fraction >= GOAL_H2D_FRACTION,
                fmt="{:.0%}")
    del Xh, yh, blocks


def _cluster_block(seed, rows, d):
    """One block of part 2's problem family, made on the worker's GPU."""
    import cupy

    rs = cupy.random.RandomState(seed)
    X = rs.standard_normal((rows, d), dtype=cupy.float32)
    p = 1.0 / (1.0 + cupy.exp(-(X @ cupy.asarray(true_weights(d)))))
    y = (rs.random_sample(rows, dtype=cupy.float32) < p).astype(cupy.int32)
    return X, y


def part_dask_cuda(dev, report, args, local_pass_s):
    import cupy
    import dask
    import dask.array as da
    from dask_cuda import LocalCUDACluster
    from distributed import Client

    n, d, block = args.rows, args.features, args.block_rows
    meta_x = cupy.empty((0, 0), dtype=cupy.float32)
    meta_y = cupy.empty((0,), dtype=cupy.int32)
    with LocalCUDACluster(n_workers=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        xs, ys = [], []
        for i, start in enumerate(range(0, n, block)):
            rows = min(block, n - start)
            pair = dask.delayed(_cluster_block, nout=2, pure=True)(100 + i, rows, d)
            xs.append(da.from_delayed(pair[0], shape=(rows, d), dtype=np.float32, meta=meta_x))
            ys.append(da.from_delayed(pair[1], shape=(rows,), dtype=np.int32, meta=meta_y))
        X, y = client.persist([da.concatenate(xs), da.concatenate(ys)])
        fit_incremental(gpuinc_sgd(), X[:block], y[:block], epochs=1, device="gpu")  # warm-up
        inc = fit_incremental(gpuinc_sgd(), X, y, epochs=args.passes, device="gpu")
        t_pass = median([r["seconds"] for r in inc.history_])
    check_home(dev, report, "dask_cuda_home", "gpuinc SGD on a LocalCUDACluster", inc)
    report.figure("dask_cuda_pass_s", t_pass, "gpuinc SGD on a LocalCUDACluster, s per pass",
                  fmt="{:.3f}", unit=" s")
    if local_pass_s:
        report.figure("dask_cuda_vs_local", t_pass / local_pass_s,
                      "  cluster / local time per pass", fmt="{:.2f}", unit="x")


# ---------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--features", type=int, default=100)
    p.add_argument("--block-rows", type=int, default=1_000_000)
    p.add_argument("--test-rows", type=int, default=500_000)
    p.add_argument("--passes", type=int, default=3, help="timed passes (medians of these)")
    p.add_argument("--batch-size", type=int, default=1024,
                   help="rows per SGD update, gpuinc and PyTorch alike (default: 1024)")
    p.add_argument("--sklearn-rows", type=int, default=1_000_000)
    p.add_argument("--fused-rows", type=int, default=1_000_000,
                   help="rows of the fused-against-array-API comparison")
    p.add_argument("--host-rows", type=int, default=4_000_000)
    p.add_argument("--host-block-rows", type=int, default=500_000)
    p.add_argument("--budget", type=float, default=170.0,
                   help="seconds for the whole run; later parts are skipped past it")
    p.add_argument("--json", default=None, help="write figures here (default: $OUT/bench_gpu.json)")
    p.add_argument("--dry-run", action="store_true",
                   help="run the flow on the CPU with tiny sizes; measures nothing meaningful")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out "
                   "(agreement,device,fused,sklearn,torch,host,dask-cuda)")
    args = p.parse_args(argv)
    if args.dry_run:
        args.rows, args.features, args.block_rows = 20_000, 10, 5_000
        args.test_rows, args.sklearn_rows, args.host_rows = 2_000, 10_000, 10_000
        args.host_block_rows, args.passes = 2_500, 2
    args.batch_rows_warmup = min(100_000, args.rows // 2)
    return args


def main(argv=None) -> int:
    global BATCH_SIZE
    args = parse_args(argv)
    BATCH_SIZE = args.batch_size
    budget = Budget(args.budget)
    report = Report()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    json_path = args.json or (os.path.join(os.environ["OUT"], "bench_gpu.json")
                              if os.environ.get("OUT") else None)

    if not args.dry_run:
        from gpuinc._gpu import device_unavailable_reason

        reason = device_unavailable_reason()
        if reason is not None:
            log(f"no GPU here ({reason}); nothing was measured. "
                "Run it on a machine with a CUDA GPU and CuPy, or use --dry-run to check the flow.")
            _write_json(json_path, {"status": "skipped", "reason": reason})
            return 0
    dev = Device(args.dry_run)
    try:
        env = environment(dev)
    except Exception as exc:  # e.g. a CUDA library missing: say why in the results file
        traceback.print_exc()
        _write_json(json_path, {"status": "error", "reason": f"environment: {exc!r}"})
        return 1
    log(f"{env['device']}, driver {env['driver']}, {env['date']}; CPU {env['cpu']} "
        f"({env['cpu_cores']} cores)")
    if args.dry_run:
        log("DRY RUN: NumPy stands for the device; the figures mean nothing")
    try:
        import gpuinc.linear_model  # noqa: F401
    except ImportError as exc:
        log(f"gpuinc.linear_model is not importable ({exc}); nothing to benchmark")
        _write_json(json_path, {"status": "error", "reason": str(exc), "environment": env})
        return 1

    t0 = time.perf_counter()
    try:
        X, y = make_problem(dev, args.rows, args.features, rows_seed=1)
        Xt, yt = make_problem(dev, args.test_rows, args.features, rows_seed=2)
        dev.sync()
    except Exception as exc:  # out of memory, cuRAND / cuBLAS missing, ...
        traceback.print_exc()
        _write_json(json_path, {"status": "error", "reason": f"making the data: {exc!r}",
                                "environment": env})
        return 1
    log(f"data: {args.rows:,} x {args.features} float32 + {args.test_rows:,} test rows made on "
        f"the device in {time.perf_counter() - t0:.1f} s")
    report.figure("rows", args.rows)
    report.figure("features", args.features)
    report.figure("block_rows", args.block_rows)
    report.figure("passes", args.passes)

    def save_so_far():
        _write_json(json_path, {"status": "partial", "environment": env,
                                "arguments": _arguments(args), "figures": report.figures,
                                "goals_met": _goals(report), "skipped": report.skipped,
                                "errors": report.errors, "notes": report.notes})

    report.after_part = save_so_far
    if "agreement" not in skip:
        run_part(report, budget, "agreement", 10, part_agreement, dev, report, X, y, args)
    gpuinc_pass_s = None
    if "device" not in skip:
        gpuinc_pass_s = run_part(report, budget, "gpuinc on device", 30, part_gpuinc_device,
                                 dev, report, X, y, Xt, yt, args)
    if "fused" not in skip:
        if dev.dry:
            report.skip("fused", "dry run: the fused pass needs CuPy")
        else:
            run_part(report, budget, "fused vs array-API", 15, part_fused, dev, report, X, y,
                     args)
    batch_size = BATCH_SIZE
    if "sklearn" not in skip:
        run_part(report, budget, "scikit-learn", 20, part_sklearn, dev, report, X, y, Xt, yt,
                 args, gpuinc_pass_s)
    if "torch" not in skip:
        try:
            import torch  # noqa: F401

            run_part(report, budget, "torch", 25, part_torch, dev, report, X, y, Xt, yt, args,
                     gpuinc_pass_s, batch_size)
        except ImportError:
            report.skip("torch", "PyTorch is not installed")
    if "host" not in skip:
        if dev.dry:
            report.skip("host blocks", "dry run: no device to copy to")
        else:
            del Xt, yt
            dev.free()
            pinned_bw = run_part(report, budget, "h2d bandwidth", 5, measure_h2d, dev, report,
                                 args)
            if pinned_bw:
                run_part(report, budget, "host blocks", 25, part_host_blocks, dev, report, X, y,
                         args, pinned_bw)
    del X, y
    dev.free()
    if "dask-cuda" not in skip:
        if dev.dry:
            report.skip("dask-cuda", "dry run")
        else:
            try:
                import dask_cuda  # noqa: F401

                run_part(report, budget, "dask-cuda", 40, part_dask_cuda, dev, report, args,
                         gpuinc_pass_s)
            except ImportError:
                report.skip("dask-cuda", "dask-cuda is not installed")

    elapsed = budget.seconds - budget.left()
    goals = _goals(report)
    result = {
        "status": "dry-run" if dev.dry else "measured",
        "environment": env,
        "arguments": _arguments(args),
        "figures": report.figures,
        "goals_met": goals,
        "skipped": report.skipped,
        "errors": report.errors,
        "notes": report.notes,
        "elapsed_s": round(elapsed, 1),
    }
    _write_json(json_path, result)
    print()
    print(f"gpuinc GPU benchmark - {env['device']} (driver {env['driver']}), {env['date']}")
    print(f"CPU for scikit-learn: {env['cpu']} ({env['cpu_cores']} cores); "
          f"scikit-learn timed on {min(args.sklearn_rows, args.rows):,} rows and scaled per row "
          f"to {args.rows:,}")
    print(f"workload: {args.rows:,} x {args.features} float32, blocks of {args.block_rows:,} "
          f"rows, log-loss SGD, batch {batch_size}, {args.passes} timed passes (medians); "
          f"{elapsed:.0f} s in all")
    if dev.dry:
        print("DRY RUN on the CPU: these figures are not GPU measurements")
    for note in report.notes:
        print(f"note: {note}")
    print(report.table())
    if json_path:
        print(f"figures written to {json_path}")
    return 1 if report.errors else 0


def _goals(report) -> dict:
    """Goal name -> met, for the goals measured so far."""
    return {k[:-len("_goal_met")]: v for k, v in report.figures.items()
            if k.endswith("_goal_met")}


def _arguments(args) -> dict:
    return {k: v for k, v in vars(args).items() if k != "json"}


def _write_json(path, data):
    if not path:
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2, default=str)


if __name__ == "__main__":
    sys.exit(main())
