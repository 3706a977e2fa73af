"""Out-of-core training: peak memory and time of ``Incremental`` on Parquet files.

For each dataset size (default 1 GB and 4 GB) the script writes a folder of
Parquet files under ``--root`` (float32 features ``f0..f63`` plus an int32
``label`` from a noisy linear rule; ``--file-size`` per file, 4 row groups
each, snappy), then trains one pass of
``sklearn.linear_model.SGDClassifier(loss="log_loss", random_state=0)`` over
it in three ways, each in a fresh child process:

1. **plain**: the sorted list of ``*.parquet`` files, then ``for path in
   files: df = pd.read_parquet(path); X = df.drop(columns="label")
   .to_numpy(dtype=np.float32); y = df["label"].to_numpy();
   clf.partial_fit(X, y, classes=[0, 1])``.  The timed span starts before
   listing the files; pandas, ``pyarrow.parquet`` and scikit-learn are
   imported before it, as the other two methods import theirs;
2. **gpuinc**: ``X, y = gpuinc.io.read_table(folder, "label", blocksize=None)``
   (one block per file, the same blocks as the plain loop) and
   ``Incremental(clf, shuffle_blocks=False, prefetch=2).fit(X, y)`` on a
   ``distributed.LocalCluster`` of ``--workers`` worker processes with one
   thread each.  The timed span starts at ``read_table`` (metadata scan
   included) and excludes starting the cluster;
3. **threads**: the same ``read_table`` + ``Incremental.fit`` without a
   cluster (Dask's threaded scheduler: a loader thread reads ahead while the
   calling thread trains).

Each child makes its pass twice in the same process and reports both
times, the summed RSS of its process tree (cluster workers included) just
before each pass (after the imports each method makes before its clock),
and the model's ``coef_`` and
its norm: **cold** (the first pass of a fresh process, or of a fresh cluster's
workers: first-use costs included, such as the kernel handing out fresh
memory pages for the blocks in flight) and **warm** (the second pass, as
in a session that trains more than once; ``bench_incremental.py`` likewise
times after a warm-up).  The files are the same, so the second pass reads
them from the page cache like the first.

While a child runs, the parent samples the summed RSS of the child and all
its descendants (the cluster's worker processes included) every 50 ms with
psutil and keeps the peak.  The files were just written, so all methods
read them from the page cache.  The parent also measures the CPU time other
processes on the machine used during each child (as ``bench_incremental.py``
does); a run during which they used more than ``--max-foreign`` of the
machine (default 5 %) is run again, up to ``--retries`` times (default 1)
after waiting up to ``--settle`` seconds for a quiet second, and the least
disturbed run is kept.

Printed, after the commit and library versions: one line per run (seconds,
peak, RSS before the pass, coef_norm, foreign load); one row per size and
pass with the seconds of each method, the ratios to the plain loop of the
medians and of the minimums, the peaks, the block count and the most blocks
gpuinc had in flight (``history_[0]["max_blocks_in_flight"]``); a memory
table per size and method: RSS just before the cold pass (median), peak,
growth = peak - that baseline, and the growth in blocks (growth / the bytes
of one block in memory: rows per block x 4 bytes x (features + label)); the
models' agreement (the largest coefficient difference of any run from the
first plain run, relative to its largest coefficient: FAIL above 1e-5); then
the goals for the cluster run (and, for reference, the threaded run): peak
at the largest size at most 1.10x the peak at the smallest (with the ratio
of the growths next to it), and time at most 0.80x the plain loop's (on
medians, with the ratio of minimums next to it).  With ``--repeats N``
(default 3) the methods take turns N times per size (the starting method
rotates).

Usage::

    python benchmarks/bench_out_of_core.py                       # 1 GB and 4 GB
    python benchmarks/bench_out_of_core.py --sizes 0.5GB 2GB --save
    python benchmarks/bench_out_of_core.py --sizes 100MB 400MB   # quick check

``--save`` also appends the printed output to
``benchmarks/results/out_of_core-<YYYY-MM-DD>.txt``.  ``--keep`` keeps the
generated data (it is reused when the parameters match).  Needs psutil.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _machine import ForeignLoad, gpuinc_revision  # noqa: E402
from _memory import PeakRSS, tree_rss  # noqa: E402

METHODS = ("plain", "gpuinc", "threads")
GOAL_MEMORY = 1.10
GOAL_TIME = 0.80
N_FEATURES = 64
COEF_TOLERANCE = 1e-5  # largest |coef difference| / largest |coef| between methods' models
BASELINE = ("dask-ml 2025.1.0 (from the issue, not measured here): peak 2.0 GB at 0.5 GB of "
            "Parquet, 2.9 GB at 2 GB; fit 1.66x slower than the plain loop")


def parse_size(text: str) -> int:
    from dask.utils import parse_bytes

    return int(parse_bytes(text))


def human(nbytes: float) -> str:
    return f"{nbytes / 1e9:.2f} GB"


# --------------------------------------------------------------------------- data
def write_dataset(folder: Path, total: int, file_size: int, n_features: int, seed: int = 0) -> dict:
    """Parquet files of float32 features and an int32 label; reused if already there."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    params = {"total": total, "file_size": file_size, "n_features": n_features, "seed": seed,
              "version": 2}
    marker = folder / "_params.json"
    if marker.exists() and json.loads(marker.read_text()) == params:
        return params
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    row_bytes = 4 * (n_features + 1)
    rows_per_file = max(1000, file_size // row_bytes)
    n_files = max(1, round(total / (rows_per_file * row_bytes)))
    rng = np.random.default_rng(seed)
    weights = rng.standard_normal(n_features).astype(np.float32)
    names = [f"f{i}" for i in range(n_features)]
    for i in range(n_files):
        # generated column by column so each column is contiguous
        X = rng.standard_normal((n_features, rows_per_file), dtype=np.float32)
        noise = rng.standard_normal(rows_per_file, dtype=np.float32)
        label = ((weights @ X) + 2.0 * noise > 0).astype(np.int32)
        table = pa.table({**{n: X[j] for j, n in enumerate(names)}, "label": label})
        pq.write_table(table, folder / f"part-{i:05d}.parquet",
                       row_group_size=max(1, rows_per_file // 4), compression="snappy",
                       use_dictionary=False)
    marker.write_text(json.dumps(params))
    return params


# --------------------------------------------------------------------------- children
def child_plain(folder: str) -> dict:
    # what the plain loop uses, imported before its clock and the RSS baseline, as the
    # other methods import theirs (pyarrow.parquet would otherwise be imported by the
    # first read_parquet, inside the cold pass's clock)
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    return _twice(_plain_pass, folder)


def _twice(timed, *args) -> dict:
    """Run ``timed`` twice in this process: the first pass is 'cold', the second 'warm'.

    The RSS of this process and its descendants (a cluster's workers) is read
    just before each pass, outside its clock.
    """
    import psutil

    me = psutil.Process()
    rss_cold = tree_rss(me)
    cold = timed(*args)
    rss_warm = tree_rss(me)
    warm = timed(*args)
    return {**cold, "warm_seconds": warm["seconds"], "rss_before_cold": rss_cold,
            "rss_before_warm": rss_warm}


def _plain_pass(folder: str) -> dict:
    import pandas as pd
    from sklearn.linear_model import SGDClassifier

    t0 = time.perf_counter()
    files = sorted(p for p in Path(folder).iterdir() if p.suffix == ".parquet")
    clf = SGDClassifier(loss="log_loss", random_state=0)
    classes = np.array([0, 1], dtype=np.int32)
    rows = 0
    for path in files:
        df = pd.read_parquet(path)
        X = df.drop(columns="label").to_numpy(dtype=np.float32)
        y = df["label"].to_numpy()
        del df
        clf.partial_fit(X, y, classes=classes)
        rows += X.shape[0]
        del X, y
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": rows, "blocks": len(files), **_model(clf)}


def _model(clf) -> dict:
    """The fitted model as JSON-able numbers: coef_ and intercept_ in one list, and its norm."""
    coef = np.concatenate([np.ravel(clf.coef_), np.ravel(clf.intercept_)])
    return {"coef": coef.tolist(), "coef_norm": float(np.linalg.norm(clf.coef_))}


def _warm_up() -> None:
    import pyarrow.parquet  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import gpuinc.io  # noqa: F401


def child_gpuinc(folder: str, workers: int, prefetch: int, blocksize) -> dict:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        # the workers and this process import what they will use before the clock starts
        # (and before the RSS baseline), as the plain loop does (child_plain)
        client.run(_warm_up)
        _warm_up()
        return _twice(_timed_fit, folder, prefetch, blocksize)


def child_threads(folder: str, prefetch: int, blocksize) -> dict:
    import sklearn.linear_model  # noqa: F401  (before the clock and the RSS baseline)

    import gpuinc  # noqa: F401
    import gpuinc.io  # noqa: F401

    return _twice(_timed_fit, folder, prefetch, blocksize)


def _timed_fit(folder: str, prefetch: int, blocksize) -> dict:
    """``read_table`` + one pass of ``Incremental.fit``, timed; on whatever scheduler is active."""
    from sklearn.linear_model import SGDClassifier

    from gpuinc import Incremental
    from gpuinc.io import read_table

    t0 = time.perf_counter()
    X, y = read_table(folder, "label", blocksize=blocksize)
    inc = Incremental(SGDClassifier(loss="log_loss", random_state=0), shuffle_blocks=False,
                      prefetch=prefetch, random_state=0, progress=False)
    inc.fit(X, y, classes=np.array([0, 1], dtype=np.int32))
    seconds = time.perf_counter() - t0
    record = inc.history_[0]
    return {"seconds": seconds, "rows": int(record["rows"]), "blocks": int(record["blocks"]),
            "max_in_flight": int(record["max_blocks_in_flight"]), **_model(inc.estimator_)}


METER = None  # a ForeignLoad, set in main


def run_child(method: str, folder: Path, args) -> dict:
    """Run one method in a fresh process, again while other processes disturb it.

    A run during which other processes used more than ``--max-foreign`` of
    the machine is retried (``--retries`` times at most, each after waiting
    up to ``--settle`` s for a quiet second); the least disturbed is kept.
    """
    best = None
    for attempt in range(args.retries + 1):
        before = METER.start()
        t0 = time.perf_counter()
        res = _run_child_once(method, folder, args)
        res["foreign"] = METER.share(before, time.perf_counter() - t0)
        res["tries"] = attempt + 1
        if best is None or (res["foreign"] or 0.0) < (best["foreign"] or 0.0):
            best = {**res}
        if res["foreign"] is None or res["foreign"] <= args.max_foreign:
            break
        if attempt < args.retries:
            METER.wait_quiet(args.max_foreign, args.settle)
    best["tries"] = attempt + 1
    return best


def _run_child_once(method: str, folder: Path, args) -> dict:
    """Run one method in a fresh process; return its result plus the tree's peak RSS."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method,
           "--data", str(folder), "--workers", str(args.workers),
           "--prefetch", str(args.prefetch), "--blocksize", str(args.blocksize)]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with PeakRSS(proc.pid, interval=0.05) as peak:
        out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{method} child failed ({proc.returncode}):\n{err[-4000:]}")
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    result["peak"] = peak.peak_bytes
    result["samples"] = peak.samples
    return result


# --------------------------------------------------------------------------- report
def machine_lines() -> list[str]:
    import dask
    import distributed
    import pandas
    import psutil
    import pyarrow
    import sklearn

    import gpuinc

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = psutil.virtual_memory().total
    return [
        f"date: {_dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"gpuinc {gpuinc.__version__} {gpuinc_revision()}",
        f"machine: {platform.node()} | {cpu} | {os.cpu_count()} cores | {human(mem)} RAM | "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()} | gpuinc {gpuinc.__version__} | dask {dask.__version__}"
        f" | distributed {distributed.__version__} | pandas {pandas.__version__} | pyarrow "
        f"{pyarrow.__version__} | scikit-learn {sklearn.__version__} | psutil {psutil.__version__}",
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", nargs="+", default=["1GB", "4GB"],
                   help="dataset sizes (default: 1GB 4GB)")
    p.add_argument("--file-size", default="32MiB", help="bytes per Parquet file (default: 32MiB)")
    p.add_argument("--workers", type=int, default=2, help="cluster workers (default: 2)")
    p.add_argument("--prefetch", type=int, default=2, help="Incremental(prefetch=) (default: 2)")
    p.add_argument("--blocksize", default="none",
                   help="read_table blocksize (default: none = one block per file)")
    p.add_argument("--repeats", type=int, default=3,
                   help="runs of each method per size (default: 3)")
    p.add_argument("--max-foreign", type=float, default=0.05,
                   help="run a child again when other processes used more than this share of "
                        "the CPUs during it (default 0.05)")
    p.add_argument("--retries", type=int, default=1,
                   help="runs again of a disturbed child (default 1)")
    p.add_argument("--settle", type=float, default=30.0,
                   help="seconds to wait at most for other load to stop before a retry")
    p.add_argument("--root", default="/tmp/gpuinc-bench-ooc", help="where the data is written")
    p.add_argument("--keep", action="store_true", help="keep the generated data")
    p.add_argument("--save", action="store_true",
                   help="also append the output to benchmarks/results/out_of_core-<date>.txt")
    p.add_argument("--note", default="",
                   help="a line written above this run's output in the --save file")
    p.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        blocksize = None if args.blocksize.lower() == "none" else args.blocksize
        if args.child == "plain":
            result = child_plain(args.data)
        elif args.child == "threads":
            result = child_threads(args.data, args.prefetch, blocksize)
        else:
            result = child_gpuinc(args.data, args.workers, args.prefetch, blocksize)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    global METER
    METER = ForeignLoad()
    lines: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        lines.append(text)

    say("bench_out_of_core: Incremental over Parquet files vs a plain one-file-at-a-time loop")
    for line in machine_lines():
        say(line)
    sizes = [parse_size(s) for s in args.sizes]
    file_size = parse_size(args.file_size)
    say(f"data: {N_FEATURES} float32 features + int32 label, {args.file_size} files, 4 row groups "
        f"each, snappy, under {args.root}; workers={args.workers} (1 thread each), "
        f"prefetch={args.prefetch}, blocksize={args.blocksize}, repeats={args.repeats}; "
        f"foreign load above {args.max_foreign:.0%} is retried up to {args.retries} time(s)")
    say(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    say()
    rows_out = []
    try:
        for size, label in zip(sizes, args.sizes, strict=True):
            folder = Path(args.root) / f"size-{label}"
            t0 = time.perf_counter()
            write_dataset(folder, size, file_size, N_FEATURES)
            n_files = sum(1 for f in folder.iterdir() if f.suffix == ".parquet")
            on_disk = sum(f.stat().st_size for f in folder.iterdir() if f.suffix == ".parquet")
            say(f"{label}: {n_files} files, {human(on_disk)} on disk "
                f"(ready in {time.perf_counter() - t0:.1f} s)")
            runs = {m: [] for m in METHODS}
            for r in range(args.repeats):
                order = METHODS[r % len(METHODS):] + METHODS[:r % len(METHODS)]
                for method in order:
                    res = run_child(method, folder, args)
                    runs[method].append(res)
                    extra = (f", max in flight {res['max_in_flight']}" if method != "plain" else "")
                    load = ("n/a" if res["foreign"] is None else f"{res['foreign']:.0%}")
                    say(f"  {method:7s} run {r + 1}: {res['seconds']:7.2f} s cold, "
                        f"{res['warm_seconds']:7.2f} s warm, peak "
                        f"{human(res['peak'])} (RSS before the cold pass "
                        f"{human(res['rss_before_cold'])}), {res['blocks']} blocks, "
                        f"{res['rows']:,} rows{extra}, coef_norm {res['coef_norm']:.6f}, "
                        f"foreign load {load} (try {res['tries']})")
            rows_out.append((label, on_disk, n_files, runs))
    finally:
        if not args.keep:
            shutil.rmtree(args.root, ignore_errors=True)

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    def low(runs, key):
        return min(r[key] for r in runs)

    shares = [r["foreign"] for _, _, _, runs in rows_out for m in METHODS for r in runs[m]
              if r["foreign"] is not None]
    disturbed = sum(1 for s in shares if s > args.max_foreign)
    retried = sum(1 for _, _, _, runs in rows_out for m in METHODS for r in runs[m]
                  if r["tries"] > 1)
    say(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes "
        "on the machine slow every method and blur the ratios)")
    if shares:
        say(f"foreign CPU load during the kept runs: median {statistics.median(shares):.1%}, max "
            f"{max(shares):.1%} of capacity; {retried} of {len(shares)} runs retried, "
            f"{disturbed} still above {args.max_foreign:.0%}"
            + (": trust the min columns more than the medians" if disturbed else ""))
    say()
    header = (f"{'size':>6} {'pass':>4} {'on disk':>8} {'files':>5} | {'plain s':>7} "
              f"{'gpuinc s':>8} {'ratio':>5} {'r(min)':>6} {'threads s':>9} {'ratio':>5} "
              f"{'r(min)':>6} | {'plain peak':>10} {'gpuinc peak':>11} {'threads peak':>12} | "
              f"{'blocks':>6} {'in flight':>9}")
    say(f"gpuinc = Incremental on the {args.workers}-worker cluster; threads = Incremental "
        "without a cluster; "
        "ratio = method / plain of medians, r(min) = of minimums; seconds are medians; cold = "
        "first pass of a fresh process, warm = its second pass; peaks (medians) cover both")
    say(header)
    say("-" * len(header))
    for label, on_disk, n_files, runs in rows_out:
        flight = max(r["max_in_flight"] for m in ("gpuinc", "threads") for r in runs[m])
        for key, name in (("seconds", "cold"), ("warm_seconds", "warm")):
            ps, ps_min = med(runs["plain"], key), low(runs["plain"], key)
            gs, ts = med(runs["gpuinc"], key), med(runs["threads"], key)
            gs_min, ts_min = low(runs["gpuinc"], key), low(runs["threads"], key)
            say(f"{label:>6} {name:>4} {human(on_disk):>8} {n_files:>5} | {ps:7.2f} {gs:8.2f} "
                f"{gs / ps:5.2f} {gs_min / ps_min:6.2f} {ts:9.2f} {ts / ps:5.2f} "
                f"{ts_min / ps_min:6.2f} | "
                f"{human(med(runs['plain'], 'peak')):>10} "
                f"{human(med(runs['gpuinc'], 'peak')):>11} "
                f"{human(med(runs['threads'], 'peak')):>12} | "
                f"{runs['gpuinc'][0]['blocks']:>6} {flight:>9}")
    say()

    # memory above what the process tree held when its first pass started
    def growth(runs):
        return statistics.median(r["peak"] - r["rss_before_cold"] for r in runs)

    say("memory: baseline = RSS of the child's process tree just before its cold pass (median); "
        "growth = peak - baseline (median over runs); block = rows per block x "
        f"{4 * (N_FEATURES + 1)} bytes")
    mem_header = (f"{'size':>6} {'method':>7} | {'baseline':>9} {'peak':>9} {'growth':>9} | "
                  f"{'block':>9} {'growth in blocks':>16}")
    say(mem_header)
    say("-" * len(mem_header))
    for label, _, _, runs in rows_out:
        for method in METHODS:
            rs = runs[method]
            block_bytes = rs[0]["rows"] / max(1, rs[0]["blocks"]) * 4 * (N_FEATURES + 1)
            g = growth(rs)
            say(f"{label:>6} {method:>7} | {human(med(rs, 'rss_before_cold')):>9} "
                f"{human(med(rs, 'peak')):>9} {human(g):>9} | {block_bytes / 1e6:6.1f} MB "
                f"{g / block_bytes:16.1f}")
    say()

    # the three methods train the same model on the same blocks in the same order
    models_ok = True
    for label, _, _, runs in rows_out:
        ref = np.asarray(runs["plain"][0]["coef"])
        scale = max(float(np.abs(ref).max()), 1e-30)
        worst = max(float(np.abs(np.asarray(r["coef"]) - ref).max()) / scale
                    for m in METHODS for r in runs[m])
        ok = worst <= COEF_TOLERANCE
        models_ok &= ok
        norms = ", ".join(f"{m} " + "/".join(f"{r['coef_norm']:.6f}" for r in runs[m])
                          for m in METHODS)
        say(f"models at {label}: coef_norm {norms}; largest coef difference from plain run 1, "
            f"relative to its largest |coef|: {worst:.2e} (tolerance {COEF_TOLERANCE:g}: "
            f"{'PASS' if ok else 'FAIL'})")
    say()
    small, large = rows_out[0], rows_out[-1]
    for method, what in (("gpuinc", "cluster"), ("threads", "threads")):
        if len(rows_out) < 2:
            say(f"memory ({what}): one size only, no ratio (the goal compares two sizes)")
            continue
        mem_ratio = med(large[3][method], "peak") / med(small[3][method], "peak")
        g_small, g_large = growth(small[3][method]), growth(large[3][method])
        g_ratio = (f"{g_large / g_small:.2f}" if g_small > 0 else "n/a (no growth at "
                   f"{small[0]})")
        verdict = "met" if mem_ratio <= GOAL_MEMORY else "NOT met"
        say(f"memory ({what}): peak at {large[0]} / at {small[0]} = {mem_ratio:.2f} "
            f"(goal <= {GOAL_MEMORY:.2f}: {verdict}); growth above the baseline at {large[0]} / "
            f"at {small[0]} = {g_ratio} ({g_large / 1e6:.0f} MB / {g_small / 1e6:.0f} MB)")
    for label, _, _, runs in rows_out:
        for key, name in (("seconds", "cold"), ("warm_seconds", "warm")):
            for method, what in (("gpuinc", "cluster"), ("threads", "threads")):
                ratio = med(runs[method], key) / med(runs["plain"], key)
                ratio_min = low(runs[method], key) / low(runs["plain"], key)
                verdict = "met" if ratio <= GOAL_TIME else "NOT met"
                say(f"time at {label}, {name} ({what}): {ratio:.2f} x the plain loop of medians, "
                    f"{ratio_min:.2f} x of minimums (goal <= {GOAL_TIME:.2f}, on medians: "
                    f"{verdict})")
    say(f"baseline, {BASELINE}")
    if args.save:
        out = HERE / "results" / f"out_of_core-{_dt.date.today().isoformat()}.txt"
        out.parent.mkdir(parents=True, exist_ok=True)
        rule = "=" * 78
        with out.open("a") as fh:  # a day's runs accumulate in one file
            if out.stat().st_size:
                fh.write("\n")
            fh.write(f"{rule}\n{args.note}\n{rule}\n")
            fh.write("\n".join(lines) + "\n")
        print(f"appended to {out}")
    return 0 if models_ok else 1


if __name__ == "__main__":
    sys.exit(main())
