"""Out-of-core training: peak memory and time of ``Incremental`` on Parquet files.

For each dataset size (default 1 GB and 4 GB) the script writes a folder of
Parquet files under ``--root`` (float32 features ``f0..f63`` plus an int32
``label`` from a noisy linear rule; ``--file-size`` per file, 4 row groups
each, snappy), then trains one pass of
``sklearn.linear_model.SGDClassifier(loss="log_loss", random_state=0)`` over
it in two ways, each in a fresh child process:

1. **plain**: ``for file in files: df = pd.read_parquet(file);
   clf.partial_fit(df[features].to_numpy(), df["label"].to_numpy())``;
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
times: **cold** (the first pass of a fresh process, or of a fresh cluster's
workers: first-use costs included, such as the kernel handing out fresh
memory pages for the blocks in flight) and **warm** (the second pass, as
in a session that trains more than once; ``bench_incremental.py`` likewise
times after a warm-up).  The files are the same, so the second pass reads
them from the page cache like the first.

While a child runs, the parent samples the summed RSS of the child and all
its descendants (the cluster's worker processes included) every 50 ms with
psutil and keeps the peak.  The files were just written, so both methods
read them from the page cache.

Printed: one row per size with the seconds of each method, the ratios to
the plain loop, the peaks, the block count and the most blocks gpuinc had in
flight (``history_[0]["max_blocks_in_flight"]``); then the goals for the
cluster run (and, for reference, the threaded run): peak at the largest size
at most 1.10x the peak at the smallest, and time at most 0.80x the plain
loop's.  With ``--repeats N`` the methods take turns N times per size (the
starting method rotates) and medians are shown.

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

from _memory import PeakRSS  # noqa: E402

METHODS = ("plain", "gpuinc", "threads")
GOAL_MEMORY = 1.10
GOAL_TIME = 0.80
N_FEATURES = 64
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
    return _twice(_plain_pass, folder)


def _twice(timed, *args) -> dict:
    """Run ``timed`` twice in this process: the first pass is 'cold', the second 'warm'."""
    cold = timed(*args)
    warm = timed(*args)
    return {**cold, "warm_seconds": warm["seconds"]}


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
    return {"seconds": seconds, "rows": rows, "blocks": len(files),
            "coef_norm": float(np.linalg.norm(clf.coef_))}


def _warm_up() -> None:
    import pyarrow.parquet  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    import gpuinc.io  # noqa: F401


def child_gpuinc(folder: str, workers: int, prefetch: int, blocksize) -> dict:
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        # the plain loop imported these before its clock started; so do the workers
        client.run(_warm_up)
        return _twice(_timed_fit, folder, prefetch, blocksize)


def child_threads(folder: str, prefetch: int, blocksize) -> dict:
    import gpuinc.io  # noqa: F401  (imported before the clock starts, as in the other runs)

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
            "max_in_flight": int(record["max_blocks_in_flight"]),
            "coef_norm": float(np.linalg.norm(inc.estimator_.coef_))}


def run_child(method: str, folder: Path, args) -> dict:
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
    p.add_argument("--repeats", type=int, default=1, help="runs of each method per size")
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
        f"prefetch={args.prefetch}, blocksize={args.blocksize}, repeats={args.repeats}")
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
                    say(f"  {method:7s} run {r + 1}: {res['seconds']:7.2f} s cold, "
                        f"{res['warm_seconds']:7.2f} s warm, peak "
                        f"{human(res['peak'])}, {res['blocks']} blocks, {res['rows']:,} rows"
                        f"{extra}")
            rows_out.append((label, on_disk, n_files, runs))
    finally:
        if not args.keep:
            shutil.rmtree(args.root, ignore_errors=True)

    def med(runs, key):
        return statistics.median(r[key] for r in runs)

    say(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other processes "
        "on the machine slow every method and blur the ratios)")
    say()
    header = (f"{'size':>6} {'pass':>4} {'on disk':>8} {'files':>5} | {'plain s':>7} "
              f"{'gpuinc s':>8} {'ratio':>5} {'threads s':>9} {'ratio':>5} | {'plain peak':>10} "
              f"{'gpuinc peak':>11} {'threads peak':>12} | {'blocks':>6} {'in flight':>9}")
    say("gpuinc = Incremental on the 2-worker cluster; threads = Incremental without a cluster; "
        "ratio = method / plain; medians; cold = first pass of a fresh process, warm = its "
        "second pass; peaks cover both")
    say(header)
    say("-" * len(header))
    for label, on_disk, n_files, runs in rows_out:
        flight = max(r["max_in_flight"] for m in ("gpuinc", "threads") for r in runs[m])
        for key, name in (("seconds", "cold"), ("warm_seconds", "warm")):
            ps = med(runs["plain"], key)
            gs, ts = med(runs["gpuinc"], key), med(runs["threads"], key)
            say(f"{label:>6} {name:>4} {human(on_disk):>8} {n_files:>5} | {ps:7.2f} {gs:8.2f} "
                f"{gs / ps:5.2f} {ts:9.2f} {ts / ps:5.2f} | "
                f"{human(med(runs['plain'], 'peak')):>10} "
                f"{human(med(runs['gpuinc'], 'peak')):>11} "
                f"{human(med(runs['threads'], 'peak')):>12} | "
                f"{runs['gpuinc'][0]['blocks']:>6} {flight:>9}")
    say()
    small, large = rows_out[0], rows_out[-1]
    for method, what in (("gpuinc", "cluster"), ("threads", "threads")):
        if len(rows_out) < 2:
            say(f"memory ({what}): one size only, no ratio (the goal compares two sizes)")
            continue
        mem_ratio = med(large[3][method], "peak") / med(small[3][method], "peak")
        verdict = "met" if mem_ratio <= GOAL_MEMORY else "NOT met"
        say(f"memory ({what}): peak at {large[0]} / at {small[0]} = {mem_ratio:.2f} "
            f"(goal <= {GOAL_MEMORY:.2f}: {verdict})")
    for label, _, _, runs in rows_out:
        for key, name in (("seconds", "cold"), ("warm_seconds", "warm")):
            for method, what in (("gpuinc", "cluster"), ("threads", "threads")):
                ratio = med(runs[method], key) / med(runs["plain"], key)
                verdict = "met" if ratio <= GOAL_TIME else "NOT met"
                say(f"time at {label}, {name} ({what}): {ratio:.2f} x the plain loop "
                    f"(goal <= {GOAL_TIME:.2f}: {verdict})")
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
