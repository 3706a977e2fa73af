#!/usr/bin/env bash
# One-shot proof on a GPU machine, in at most 6 minutes (GPU_CHECK_SECONDS, default 360):
#   1. what the machine is (nvidia-smi: device name, driver);
#   2. the Python packages gpuinc needs, installed from carried wheels (.whl/) when missing;
#   3. the checks that mean most where the GPU stack is installed (no GPU import from
#      `import gpuinc`, dispatch, make_cluster; quick, so first), then the GPU-marked tests
#      (pytest -m gpu tests/gpu tests/test_movers.py);
#   4. the GPU benchmark (benchmarks/bench_gpu.py);
#   5. a short table, printed last, and the same in $OUT/gpu_check.txt and .json.
#
# Run from anywhere in the repository, with no network needed:
#   bash ci/gpu_check.sh
# or after the install line printed by the wheel-fetching script:
#   <install line> bash ci/gpu_check.sh
# Environment: OUT (folder for results; a temporary one when unset), PYTHON (default
# python3), GPU_CHECK_SECONDS (overall limit, default 360, which leaves a session's
# 15 device minutes room for one rerun: about 20 s for the machine and packages, 30 s
# for the import/dispatch checks, up to 120 s for the GPU tests (115 s at the default) and 195 s
# for the benchmark, whose own --budget of 170 s covers its parts' estimates; the tests
# get less when the limit is lower, so that the benchmark keeps its time).
# Exit status, the first that applies:
#   2  no GPU was found (nvidia-smi reports none): nothing was proved;
#   1  a step failed: the tests or the import/dispatch checks did not pass (or did not
#      run), the benchmark exited non-zero (or did not run), or a GPU test skipped
#      for want of CuPy, dask-cuda or a device;
#   4  the GPU goals were not all measured: bench_gpu.json is missing or its status is
#      not "measured", a goal is missing, a part was skipped (time budget, PyTorch or
#      dask-cuda missing, ...), the fused kernel did not run in the timed calls, or a
#      model meant for the device trained on the host (the table says which);
#   0  everything ran and every goal was measured (a goal may still read FAIL).
# At most 8 files are written to $OUT; those this script reads are deleted first, so
# that a step that crashes cannot leave an older run's results in the table.

set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
T0=$(date +%s)
DEADLINE=$((T0 + ${GPU_CHECK_SECONDS:-360}))
PY=${PYTHON:-python3}
RES=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
mkdir -p "$RES"
# an older run's files must not pass for this run's (the summary reads these)
rm -f "$RES/nvidia_smi.txt" "$RES/environment.txt" "$RES/pytest_stack.txt" \
    "$RES/pytest_gpu.txt" "$RES/bench_gpu.txt" "$RES/bench_gpu.json" "$RES/gpu_check.txt" \
    "$RES/gpu_check.json"
BENCH_NEED=195   # seconds kept for the benchmark: --budget 170 plus start-up and teardown
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"   # this checkout's gpuinc first
export PYTHONUNBUFFERED=1 CI=true

say() { echo "gpu_check: $*"; }
left() { echo $((DEADLINE - $(date +%s))); }
# seconds for a step: at most $1, leaving $2 for what comes after
allot() { local l=$(( $(left) - $2 )); if (( l < $1 )); then echo "$l"; else echo "$1"; fi; }

# ---------------------------------------------------------------- 1. the machine
GPU_NAME=""; DRIVER=""; GPU_MEM=""
if command -v nvidia-smi >/dev/null 2>&1; then
    timeout 20 nvidia-smi > "$RES/nvidia_smi.txt" 2>&1
    if line=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total \
                  --format=csv,noheader 2>/dev/null | head -n 1) && [[ -n $line ]]; then
        IFS=, read -r GPU_NAME DRIVER GPU_MEM <<< "$line"
        GPU_NAME=$(echo "$GPU_NAME" | xargs); DRIVER=$(echo "$DRIVER" | xargs)
        GPU_MEM=$(echo "$GPU_MEM" | xargs)
    fi
else
    echo "nvidia-smi not found" > "$RES/nvidia_smi.txt"
fi
if [[ -n $GPU_NAME ]]; then
    say "device: $GPU_NAME, driver $DRIVER, $GPU_MEM"
else
    say "nvidia-smi reports no GPU (see nvidia_smi.txt); the GPU tests and benchmark will skip"
fi

# ------------------------------------------------------- 2. packages (no network)
NEEDED="numpy scipy pandas sklearn dask distributed array_api_compat tornado zict tblib partd locket cupy dask_cuda"
missing() {
    "$PY" - "$NEEDED" <<'EOF'
import importlib.util, sys
print(" ".join(n for n in sys.argv[1].split() if importlib.util.find_spec(n) is None))
EOF
}
MISSING=$(missing)
if [[ -n $MISSING ]] && compgen -G ".whl/*.whl" > /dev/null; then
    say "missing: $MISSING; installing the carried wheels from .whl/"
    SITE=/tmp/gpuinc-site
    if timeout 120 "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
            --upgrade --target "$SITE" .whl/*.whl; then
        export PYTHONPATH="$ROOT:$SITE${PYTHONPATH#"$ROOT"}" PATH="$SITE/bin:$PATH"
    else
        say "installing the wheels failed"
    fi
    MISSING=$(missing)
fi
[[ -n $MISSING ]] && say "still missing (those parts will skip): $MISSING"
# without these nothing of gpuinc runs: say so once instead of letting every test fail
CORE_MISSING=$(for m in $MISSING; do
    case $m in dask|distributed|array_api_compat|numpy|scipy|sklearn|pandas) echo -n "$m ";; esac
done)
[[ -n $CORE_MISSING ]] && say "cannot test or benchmark gpuinc without: $CORE_MISSING"
"$PY" - > "$RES/environment.txt" 2>&1 <<'EOF'
import importlib, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("numpy", "scipy", "pandas", "sklearn", "dask", "distributed", "dask_cuda",
             "array_api_compat", "cupy", "pynvml", "gpuinc"):
    try:
        mod = importlib.import_module(name)
        print(name, getattr(mod, "__version__", "?"), getattr(mod, "__file__", ""))
    except Exception as exc:
        print(name, "-", type(exc).__name__, exc)
from importlib import metadata
for dist in ("cuda-core", "cuda-bindings", "cuda-python", "cupy-cuda12x", "cupy-cuda13x",
             "dask-cuda", "scikit-learn", "torch"):  # torch: its version only (a slow import)
    try:
        print("distribution", dist, metadata.version(dist))
    except metadata.PackageNotFoundError:
        pass
try:
    import cupy
    print("cuda runtime", cupy.cuda.runtime.runtimeGetVersion(),
          "driver api", cupy.cuda.runtime.driverGetVersion(),
          "devices", cupy.cuda.runtime.getDeviceCount())
except Exception as exc:
    print("cupy device check:", type(exc).__name__, exc)
try:  # the fused SGD kernel, compiled by NVRTC as training will (else: array-API loop)
    from gpuinc.linear_model import _fused
    for dtype in ("float32", "float64"):
        _fused._build(dtype)
        print("fused SGD kernel", dtype, "compiled, max threads per block",
              int(_fused._CUPY_KERNELS[dtype].max_threads_per_block))
except Exception as exc:
    print("fused SGD kernel:", type(exc).__name__, str(exc)[:2000])
EOF
cat "$RES/environment.txt"

# --------------------------------------------------------------------- 3. tests
STACK_RC=-1   # -1: not run
TEST_RC=-1
if [[ -n $CORE_MISSING ]]; then
    say "tests not run: missing $CORE_MISSING" | tee "$RES/pytest_stack.txt" "$RES/pytest_gpu.txt"
else
    if (( $(allot 30 $((120 + BENCH_NEED))) >= 15 )); then
        say "import and dispatch checks with the GPU stack installed"
        timeout -k 5 "$(allot 30 $((120 + BENCH_NEED)))" "$PY" -m pytest tests/test_no_gpu_imports.py \
            tests/test_dispatch.py tests/test_cluster.py -p no:cacheprovider -o addopts="" -q \
            2>&1 | tee "$RES/pytest_stack.txt"
        STACK_RC=${PIPESTATUS[0]}
    fi
    # CuPy compiles each kernel on its first use, so the first tests are the slow ones;
    # -v names every test as it ends, so a run cut short still says how far it got
    TEST_S=$(allot 120 "$BENCH_NEED")
    if (( TEST_S >= 20 )); then
        EXTRA=()
        "$PY" -c "import pytest_timeout" 2>/dev/null && EXTRA+=(--timeout=60)
        say "GPU tests (limit ${TEST_S} s)"
        timeout -k 5 "$TEST_S" "$PY" -m pytest -m gpu tests/gpu tests/test_movers.py \
            -p no:cacheprovider -o addopts="" -v --durations=10 -rsxXf ${EXTRA[@]+"${EXTRA[@]}"} \
            2>&1 | tee "$RES/pytest_gpu.txt"
        TEST_RC=${PIPESTATUS[0]}
    else
        say "no time left for the tests" | tee "$RES/pytest_gpu.txt"
    fi
fi

# ----------------------------------------------------------------- 4. benchmark
BENCH_S=$(allot "$BENCH_NEED" 5)
BENCH_RC=-1
if [[ -n $CORE_MISSING ]]; then
    say "benchmark not run: missing $CORE_MISSING" | tee "$RES/bench_gpu.txt"
elif (( BENCH_S >= 40 )); then
    say "GPU benchmark (limit ${BENCH_S} s)"
    timeout -k 5 "$BENCH_S" "$PY" benchmarks/bench_gpu.py --budget $((BENCH_S - 25)) \
        --json "$RES/bench_gpu.json" 2>&1 | tee "$RES/bench_gpu.txt"
    BENCH_RC=${PIPESTATUS[0]}
else
    say "no time left for the benchmark" | tee "$RES/bench_gpu.txt"
fi

# ------------------------------------------------------------------- 5. summary
ELAPSED=$(( $(date +%s) - T0 ))
"$PY" - "$RES" "$GPU_NAME" "$DRIVER" "$GPU_MEM" "$TEST_RC" "$BENCH_RC" "$ELAPSED" "$STACK_RC" <<'EOF'
import datetime, json, os, re, sys

res, name, driver, mem, test_rc, bench_rc, elapsed, stack_rc = sys.argv[1:9]
test_rc, bench_rc, stack_rc = int(test_rc), int(bench_rc), int(stack_rc)


def read(path):
    try:
        with open(os.path.join(res, path)) as fh:
            return fh.read()
    except OSError:
        return ""


def counts(log):
    last = (read(log).strip().splitlines() or [""])[-1]
    pattern = r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?|deselected)"
    return {what: int(count) for count, what in re.findall(pattern, last)}


# on a GPU machine, a test skipped for want of dask-cuda or CuPy hides a proof
hidden = [line.strip() for line in read("pytest_gpu.txt").splitlines()
          if line.startswith("SKIPPED") and re.search(r"dask.cuda|GPU test:|no CUDA device|needs a GPU|could not import 'cupy", line)]


tests, stack = counts("pytest_gpu.txt"), counts("pytest_stack.txt")
try:
    bench = json.loads(read("bench_gpu.json"))
except ValueError:
    bench = {}
fig = bench.get("figures", {})
goals = bench.get("goals_met", {})

# Every goal a complete bench_gpu run measures on a GPU (keep in step with bench_gpu.py's
# report.goal calls); the *_home goals say that the "GPU" models trained on the device.
EXPECTED_GOALS = (
    "agreement_gpu_home", "agreement_rel_coef_diff", "gpuinc_home",
    "accuracy_gain_vs_sklearn", "speedup_vs_sklearn", "speedup_vs_torch",
    "host_blocks_home", "host_blocks_fraction_of_pinned", "dask_cuda_home",
)


def unmeasured():
    """Why the benchmark's GPU goals are not all measured (empty: they are)."""
    why = []
    if not bench:
        why.append("no bench_gpu.json from this run")
    elif bench.get("status") != "measured":
        why.append(f"benchmark status {bench.get('status')!r}, not 'measured'"
                   + (f" ({bench['reason']})" if bench.get("reason") else ""))
    for part, reason in bench.get("skipped", {}).items():
        why.append(f"part skipped: {part} ({reason})")
    for part, err in bench.get("errors", {}).items():
        why.append(f"part failed: {part} ({err})")
    missing = [g for g in EXPECTED_GOALS if g not in goals]
    if missing:
        why.append("goals not measured: " + ", ".join(missing))
    homes = [g for g in EXPECTED_GOALS if g.endswith("_home") and goals.get(g) is False]
    if homes:
        why.append("trained on the host, not the device: " + ", ".join(
            f"{g} = {fig.get(g)}" for g in homes))
    if bench and fig.get("fused_kernel_used") is not True:
        why.append(f"fused kernel in the timed calls: {fig.get('fused_kernel_used', 'not measured')}")
    return why

def show(key, fmt, unit=""):
    value = fig.get(key)
    return "-" if value is None else fmt.format(value) + unit

def verdict(key):
    return {True: "PASS", False: "FAIL"}.get(goals.get(key), "MISSING" if name else "-")

rows = [
    ("gpuinc SGD trained on (estimator_home_)", show("gpuinc_home", "{}"), "device",
     verdict("gpuinc_home")),
    ("gpuinc SGD, s per pass (device data)", show("gpuinc_pass_s", "{:.3f}", " s"), "", ""),
    ("  fused CUDA pass ran in every timed fused call", show("fused_kernel_used", "{}"), "",
     ""),
    ((f"  {fig['fused_rows']:,} rows" if fig.get("fused_rows") else "  same rows")
     + ": fused pass / array-API loop, s",
     f"{show('fused_pass_s', '{:.4f}')} / {show('array_api_pass_s', '{:.4f}')}", "", ""),
    ("scikit-learn SGD, s per pass (CPU, scaled per row)",
     show("sklearn_pass_s_scaled", "{:.2f}", " s"), "", ""),
    ("speedup vs scikit-learn", show("speedup_vs_sklearn", "{:.1f}", "x"), ">= 30x",
     verdict("speedup_vs_sklearn")),
    ("accuracy, gpuinc minus scikit-learn (same rows)",
     show("accuracy_gain_vs_sklearn", "{:+.4f}"), ">= -0.002", verdict("accuracy_gain_vs_sklearn")),
    ("PyTorch loop, s per pass (GPU)", show("torch_pass_s", "{:.3f}", " s"), "", ""),
    ("speedup vs PyTorch loop", show("speedup_vs_torch", "{:.2f}", "x"), ">= 2x",
     verdict("speedup_vs_torch")),
    ("pinned host->device bandwidth", show("h2d_pinned_gbps", "{:.1f}", " GB/s"), "", ""),
    ("Incremental SGD on NumPy blocks", show("incremental_sgd_host_gbps", "{:.1f}", " GB/s"), "", ""),
    ("  as a fraction of pinned bandwidth", show("host_blocks_fraction_of_pinned", "{:.0%}"),
     ">= 70%", verdict("host_blocks_fraction_of_pinned")),
    ("  trained on (estimator_home_)", show("host_blocks_home", "{}"), "device",
     verdict("host_blocks_home")),
    ("gpuinc SGD on a LocalCUDACluster trained on", show("dask_cuda_home", "{}"), "device",
     verdict("dask_cuda_home")),
    ("agreement: the GPU model trained on", show("agreement_gpu_home", "{}"), "device",
     verdict("agreement_gpu_home")),
    ("GPU vs NumPy coefficients, relative difference",
     show("agreement_rel_coef_diff", "{:.1e}"), "<= 1e-3", verdict("agreement_rel_coef_diff")),
]
date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
def ran(rc):
    """How a step ended: -1 not run, 124 / 137 (SIGKILL after -k) cut by its time limit."""
    return {-1: " (not run)", 124: " (timed out)", 137: " (timed out)"}.get(rc, "")


test_text = (", ".join(f"{v} {k}" for k, v in tests.items()) or "no result line") + ran(test_rc)
lines = [
    f"gpuinc GPU check - {name or 'no GPU found'}"
    + (f", driver {driver}, {mem}" if name else "") + f", {date}",
    f"tests (pytest -m gpu): {test_text} [exit {test_rc}]",
    "import/dispatch/cluster checks: "
    + (", ".join(f"{v} {k}" for k, v in stack.items()) or "no result line") + ran(stack_rc)
    + f" [exit {stack_rc}]",
    f"benchmark: {bench.get('status', 'no result')} [exit {bench_rc}]"
    + ran(bench_rc)
    + (f"; {bench['reason']}" if bench.get("reason") else "")
    + ("; scikit-learn timed on "
       f"{min(bench.get('arguments', {}).get('sklearn_rows', 0), fig.get('rows', 0)):,} rows "
       f"and scaled per row to {fig.get('rows', 0):,}" if fig.get("sklearn_pass_s_scaled") else ""),
]
for part, why in bench.get("skipped", {}).items():
    lines.append(f"  skipped {part}: {why}")
for part, err in bench.get("errors", {}).items():
    lines.append(f"  error in {part}: {err}")
for note in bench.get("notes", []):
    lines.append(f"  note: {note}")
if name:
    for line in hidden:
        lines.append(f"  attention, a GPU proof skipped: {line[:200]}")
incomplete = unmeasured() if name else []
if name:
    lines.append("GPU goals measured: " + ("all" if not incomplete else "NO (exit 4 unless a "
                                                                         "step failed)"))
    for why in incomplete:
        lines.append(f"  NOT MEASURED: {why}")
width = max(len(r[0]) for r in rows)
lines.append(f"{'measure':<{width}}  {'value':>12}  {'goal':>9}  result")
lines += [f"{a:<{width}}  {b:>12}  {c:>9}  {d}" for a, b, c, d in rows]
lines.append(f"total {elapsed} s; results in {res}")
text = "\n".join(lines)
with open(os.path.join(res, "gpu_check.txt"), "w") as fh:
    fh.write(text + "\n")
with open(os.path.join(res, "gpu_check.json"), "w") as fh:
    json.dump({"device": name or None, "driver": driver or None, "memory": mem or None,
               "date": date, "elapsed_s": int(elapsed),
               "tests": {"exit_status": test_rc, **tests, "gpu_proofs_skipped": hidden},
               "stack_checks": {"exit_status": stack_rc, **stack},
               "benchmark": {"exit_status": bench_rc, "status": bench.get("status"),
                             "figures": fig, "goals_met": goals,
                             "skipped": bench.get("skipped", {}),
                             "errors": bench.get("errors", {}),
                             "not_measured": incomplete,
                             "environment": bench.get("environment", {})}},
              fh, indent=2, default=str)
print()
print(text)
if name and hidden:
    sys.exit(3)  # a GPU proof skipped in the tests: a failed step (exit 1)
if incomplete:
    sys.exit(4)  # the GPU goals were not all measured (exit 4)
EOF
SUMMARY_RC=$?

if [[ -z $GPU_NAME ]]; then exit 2; fi
if (( TEST_RC != 0 || STACK_RC != 0 || BENCH_RC != 0 )); then exit 1; fi
if (( SUMMARY_RC == 4 )); then exit 4; fi
if (( SUMMARY_RC == 0 )); then exit 0; fi
exit 1
