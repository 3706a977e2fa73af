#!/usr/bin/env bash
# One-shot proof on a GPU machine, ending within 290 s (GPU_CHECK_SECONDS, default 290), so
# that a device session of 15 minutes, the machine's start-up included, holds one rerun:
#   1. what the machine is (nvidia-smi: device name, driver);
#   2. the Python packages gpuinc needs: each is imported (an installed package that does not
#      import is as good as missing), wheels carried in .whl/ are installed when some are not
#      installed at all, and CuPy compiles and launches a one-line kernel; then the versions
#      and the fused SGD kernel, compiled by NVRTC (environment.txt);
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
# python3), GPU_CHECK_SECONDS (overall limit, default 290).
#
# Time: every step runs under `timeout -k 5` in a slot (seconds, the 5 s between SIGTERM and
# SIGKILL included) that ends before the overall limit less what the steps after it keep:
#   step                                     slot    at least   keeps for the steps after it
#   nvidia-smi: the query, then the report   25, 15     -          0
#   package check (imports, a CuPy kernel)   45         15       205 = 25 + 30 + 140 + 10
#   wheels from .whl/ (only when a package   60         20       205
#     is not installed), then the check again 45        15       205
#   environment (versions, fused kernel)     45         15       205
#   import/dispatch/cluster checks           25         15       180 = 30 + 140 + 10
#   GPU tests                                90         30       150 = 140 + 10
#   benchmark (--budget = slot - 30)        200         60        10 (the summary's)
#   summary (table, gpu_check.txt/.json)    what is left, at least 5
# A step gets its full slot when the time left allows it, less when not ("cut"), and does not
# run when even its "at least" does not fit ("skipped"); either way a line says so, and the
# table repeats it. With the default limit the setup (1 and 2) is held to 85 s in all, so the
# import/dispatch checks get their 25 s, the GPU tests at least 30 s (their 90 s when setup
# and those checks took 50 s or less: they give way first) and the benchmark at least 140 s,
# up to 200 s (its own --budget of 170 s, the sum of its parts' estimates) when the steps
# before it ended early. With every step taking its whole slot, the script ends by 290 s
# (+1 s of clock rounding): 40 nvidia-smi + 45 check + 0 environment (skipped) + 25 checks
# + 30 tests + 140 benchmark, then the summary (about 1 s) in the 10 s kept for it.
# Exit status, the first that applies:
#   2  no GPU was found (nvidia-smi reports none): nothing was proved;
#   1  a step failed: the tests or the import/dispatch checks did not pass (or did not
#      run, for time too), the benchmark exited non-zero (or did not run), or a GPU test
#      skipped for want of CuPy, dask-cuda or a device;
#   4  the GPU goals were not all measured: bench_gpu.json is missing or its status is
#      not "measured", a goal is missing, a part was skipped (time budget, PyTorch or
#      dask-cuda missing, ...), the fused kernel did not run in the timed calls, or a
#      model meant for the device trained on the host (the table says which);
#   0  everything ran and every goal was measured (a goal may still read FAIL).
# At most 8 files are written to $OUT; those this script reads are deleted first, so
# that a step that crashes cannot leave an older run's results in the table.

set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
T0=$(date +%s)
LIMIT=${GPU_CHECK_SECONDS:-290}
END=$((T0 + LIMIT))
PY=${PYTHON:-python3}
RES=${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
mkdir -p "$RES"
# an older run's files must not pass for this run's (the summary reads these)
rm -f "$RES/nvidia_smi.txt" "$RES/environment.txt" "$RES/pytest_stack.txt" \
    "$RES/pytest_gpu.txt" "$RES/bench_gpu.txt" "$RES/bench_gpu.json" "$RES/gpu_check.txt" \
    "$RES/gpu_check.json"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"   # this checkout's gpuinc first
export PYTHONUNBUFFERED=1 CI=true

# slots in seconds (see the header): the most a step gets, the least worth starting it with
SUMMARY_KEEP=10
CHECK_S=45; CHECK_MIN=15
WHEELS_S=60; WHEELS_MIN=20
ENV_S=45; ENV_MIN=15
STACK_S=25; STACK_MIN=15
TESTS_S=90; TESTS_MIN=30
BENCH_KEEP=140; BENCH_S=200; BENCH_MIN=60
SETUP_KEEP=$((STACK_S + TESTS_MIN + BENCH_KEEP + SUMMARY_KEEP))   # 205
STACK_KEEP=$((TESTS_MIN + BENCH_KEEP + SUMMARY_KEEP))            # 180
TESTS_KEEP=$((BENCH_KEEP + SUMMARY_KEEP))                        # 150

say() { echo "gpu_check: $*"; }
left() { echo $((END - $(date +%s))); }
TIME_NOTES=""   # every step cut or skipped for time, one per line (repeated in the table)
# plan WHAT MOST LEAST KEEP [PLANNED]: sets SLOT to the seconds for a step: MOST when the time
# left allows it while keeping KEEP for the steps after it, less when not, 0 when not even
# LEAST fits. A line says so (and TIME_NOTES keeps it) when the step gets less than PLANNED
# (default MOST); NOTE holds the line of a skipped step, for its log.
plan() {
    local what=$1 most=$2 least=$3 keep=$4 planned=${5:-$2} l
    l=$(left)
    SLOT=$((l - keep)); NOTE=""
    (( SLOT > most )) && SLOT=$most
    (( SLOT >= planned )) && return 0
    if (( SLOT < least )); then
        NOTE="$what skipped for time: ${l} s of ${LIMIT} left, ${keep} s kept for the steps after it, and it needs at least ${least} s"
        SLOT=0
    else
        NOTE="$what cut to ${SLOT} s (of ${planned}) for time: ${l} s of ${LIMIT} left, ${keep} s kept for the steps after it"
    fi
    say "$NOTE"
    TIME_NOTES+="$NOTE"$'\n'
    (( SLOT > 0 )) && NOTE=""   # a cut step's log says so only if it times out
    return 0
}
# limited CMD...: CMD under the current SLOT (SIGTERM at SLOT - 5 s, SIGKILL 5 s later)
limited() { timeout -k 5 "$((SLOT - 5))" "$@"; }
# stopped RC WHAT: the line a log gets when a step ended at its time limit
stopped() {
    case $1 in 124|137) echo "gpu_check: $2: stopped at the time limit of $((SLOT - 5)) s";;
    esac
}

# ---------------------------------------------------------------- 1. the machine
GPU_NAME=""; DRIVER=""; GPU_MEM=""
trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; echo "${s%"${s##*[![:space:]]}"}"; }
if command -v nvidia-smi >/dev/null 2>&1; then
    # the whole answer first, then its first line: `| head -n 1` could end nvidia-smi with
    # SIGPIPE on a machine of several GPUs, and pipefail would read that as a failure
    SLOT=25   # the first call can wait for the driver to load
    if smi=$(limited nvidia-smi --query-gpu=name,driver_version,memory.total \
                 --format=csv,noheader 2>/dev/null) && [[ -n $smi ]]; then
        IFS=, read -r GPU_NAME DRIVER GPU_MEM <<< "${smi%%$'\n'*}"
        GPU_NAME=$(trim "$GPU_NAME"); DRIVER=$(trim "$DRIVER"); GPU_MEM=$(trim "$GPU_MEM")
    fi
    SLOT=15
    limited nvidia-smi > "$RES/nvidia_smi.txt" 2>&1
    stopped $? "nvidia-smi" >> "$RES/nvidia_smi.txt"
else
    echo "nvidia-smi not found" > "$RES/nvidia_smi.txt"
fi
if [[ -n $GPU_NAME ]]; then
    say "device: $GPU_NAME, driver $DRIVER, $GPU_MEM"
else
    say "nvidia-smi reports no GPU (see nvidia_smi.txt); the GPU tests and benchmark will skip"
fi

# ------------------------------------------------------- 2. packages (no network)
# Imported, not only looked up: a wheel installed with --no-deps can be there and still fail
# to import (dask_cuda without cuda.core's Device, pynvml or click, say). cupy comes first:
# dask.array registers CuPy chunks when it can import it.
NEEDED="numpy scipy pandas sklearn cupy dask dask.array distributed array_api_compat tornado zict tblib partd locket pynvml dask_cuda pytest gpuinc"
# check_packages: one line per package that is not installed or does not import, and per
# kernel that CuPy cannot compile or launch ("problem: ..."), then "absent: NAMES" (not
# installed) and "broken: NAMES" (installed, import failed); appended to environment.txt
check_packages() {
    plan "package check" "$CHECK_S" "$CHECK_MIN" "$SETUP_KEEP"
    if (( SLOT == 0 )); then
        echo "gpu_check: $NOTE" >> "$RES/environment.txt"
        return 1
    fi
    local out rc
    out=$(limited "$PY" - "$NEEDED" 2>&1 <<'EOF'
import importlib
import importlib.util
import sys


def first_line(exc):
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:300] if text else ''}"


absent, broken = [], []
for name in sys.argv[1].split():
    try:
        found = importlib.util.find_spec(name) is not None
    except Exception:  # its parent package is missing or broken
        found = False
    if not found:
        absent.append(name)
        print(f"problem: {name} is not installed")
        continue
    try:
        importlib.import_module(name)
    except BaseException as exc:  # ImportError, a CUDA error, SystemExit from a package
        broken.append(name)
        print(f"problem: {name} is installed but does not import: {first_line(exc)}")
        if name == "dask_cuda":
            print("problem: dask-cuda 26.x imports cuda.core's Device (cuda-core >= 0.5.1 with "
                  "cuda-bindings), pynvml (nvidia-ml-py) and click: see docs/gpu.md, "
                  "'The GPU check', for the wheels to carry")
if "cupy" in sys.modules:
    try:  # what every GPU test needs: NVRTC, a context, a launch, a copy back
        import cupy

        kernel = cupy.RawKernel(
            'extern "C" __global__ void fill(int* x) { x[threadIdx.x] = threadIdx.x; }', "fill")
        x = cupy.zeros(32, dtype=cupy.int32)
        kernel((1,), (32,), (x,))
        if int(x[31]) != 31:
            raise RuntimeError(f"the kernel wrote {int(x[31])} where 31 was expected")
        print("cupy: a RawKernel compiled by NVRTC and launched")
    except BaseException as exc:
        print(f"problem: CuPy cannot compile or launch a CUDA kernel: {first_line(exc)}")
print("absent:", " ".join(absent))
print("broken:", " ".join(broken))
EOF
    )
    rc=$?
    printf '%s\n' "$out" >> "$RES/environment.txt"
    grep '^problem:\|^cupy:' <<< "$out"   # the rest (warnings, say) is in environment.txt
    if (( rc != 0 )); then
        local why="exit status $rc"
        [[ $rc == 124 || $rc == 137 ]] && why="stopped at the time limit of $((SLOT - 5)) s"
        echo "problem: the package check did not finish ($why)" | tee -a "$RES/environment.txt"
        return 1
    fi
    ABSENT=$(sed -n 's/^absent: *//p' <<< "$out")
    BROKEN=$(sed -n 's/^broken: *//p' <<< "$out")
    return 0
}
ABSENT=""; BROKEN=""
check_packages; CHECK_RC=$?
if (( CHECK_RC == 0 )) && [[ -n $ABSENT ]] && compgen -G ".whl/*.whl" > /dev/null; then
    plan "installing the wheels from .whl/" "$WHEELS_S" "$WHEELS_MIN" "$SETUP_KEEP"
    if (( SLOT > 0 )); then
        say "not installed: $ABSENT; installing the carried wheels from .whl/"
        SITE=/tmp/gpuinc-site
        if limited "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
                --upgrade --target "$SITE" .whl/*.whl; then
            export PYTHONPATH="$ROOT:$SITE${PYTHONPATH#"$ROOT"}" PATH="$SITE/bin:$PATH"
            ABSENT=""; BROKEN=""   # the first check's answer no longer holds
            check_packages; CHECK_RC=$?
        else
            echo "problem: installing the wheels from .whl/ failed" | tee -a "$RES/environment.txt"
        fi
    fi
fi
MISSING="$ABSENT $BROKEN"
[[ -n ${MISSING// /} ]] && say "not importable (the parts that need them will skip or fail): $MISSING"
# without these nothing of gpuinc runs: say so once instead of letting every test fail
CORE_MISSING=$(for m in $MISSING; do
    case $m in numpy|scipy|pandas|sklearn|dask|dask.array|distributed|array_api_compat|gpuinc)
        echo -n "$m ";; esac
done)
[[ -n $CORE_MISSING ]] && say "cannot test or benchmark gpuinc without: $CORE_MISSING"
NO_PYTEST=""
[[ " $MISSING " == *" pytest "* ]] && NO_PYTEST=1

plan "environment" "$ENV_S" "$ENV_MIN" "$SETUP_KEEP"
if (( SLOT > 0 )); then
    limited "$PY" - 2>&1 <<'EOF' | tee -a "$RES/environment.txt"
import importlib, platform, sys
print("python", platform.python_version(), sys.executable)
for name in ("numpy", "scipy", "pandas", "sklearn", "dask", "distributed", "dask_cuda",
             "array_api_compat", "cupy", "pynvml", "cuda.core", "cuda.bindings", "gpuinc"):
    try:
        mod = importlib.import_module(name)
        print(name, getattr(mod, "__version__", "?"), getattr(mod, "__file__", ""))
    except Exception as exc:
        print(name, "-", type(exc).__name__, exc)
from importlib import metadata
for dist in ("cuda-core", "cuda-bindings", "cuda-pathfinder", "cuda-python", "cupy-cuda12x",
             "cupy-cuda13x", "dask-cuda", "nvidia-ml-py", "scikit-learn", "torch"):
    try:  # torch: its version only (a slow import)
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
    # a "problem:" line, so that the table repeats it
    stopped "${PIPESTATUS[0]}" "the environment step" | sed 's/^gpu_check:/problem:/' \
        | tee -a "$RES/environment.txt"
else
    echo "gpu_check: $NOTE" >> "$RES/environment.txt"
fi

# --------------------------------------------------------------------- 3. tests
STACK_RC=-1   # -1: not run
TEST_RC=-1
if [[ -n $CORE_MISSING ]]; then
    say "tests not run: missing $CORE_MISSING" | tee "$RES/pytest_stack.txt" "$RES/pytest_gpu.txt"
elif [[ -n $NO_PYTEST ]]; then
    say "tests not run: pytest does not import" | tee "$RES/pytest_stack.txt" "$RES/pytest_gpu.txt"
else
    plan "the import/dispatch/cluster checks" "$STACK_S" "$STACK_MIN" "$STACK_KEEP"
    if (( SLOT > 0 )); then
        say "import and dispatch checks with the GPU stack installed (limit $((SLOT - 5)) s)"
        limited "$PY" -m pytest tests/test_no_gpu_imports.py tests/test_dispatch.py \
            tests/test_cluster.py -p no:cacheprovider -o addopts="" -q \
            2>&1 | tee "$RES/pytest_stack.txt"
        STACK_RC=${PIPESTATUS[0]}
        stopped "$STACK_RC" "the import/dispatch/cluster checks" | tee -a "$RES/pytest_stack.txt"
    else
        echo "gpu_check: $NOTE" > "$RES/pytest_stack.txt"
    fi
    # CuPy compiles each kernel on its first use, so the first tests are the slow ones;
    # -v names every test as it ends, so a run cut short still says how far it got
    EXTRA=()
    "$PY" -c "import pytest_timeout" 2>/dev/null && EXTRA+=(--timeout=60)
    plan "the GPU tests" "$TESTS_S" "$TESTS_MIN" "$TESTS_KEEP"
    if (( SLOT > 0 )); then
        say "GPU tests (limit $((SLOT - 5)) s)"
        limited "$PY" -m pytest -m gpu tests/gpu tests/test_movers.py \
            -p no:cacheprovider -o addopts="" -v --durations=10 -rsxXf ${EXTRA[@]+"${EXTRA[@]}"} \
            2>&1 | tee "$RES/pytest_gpu.txt"
        TEST_RC=${PIPESTATUS[0]}
        stopped "$TEST_RC" "the GPU tests" | tee -a "$RES/pytest_gpu.txt"
    else
        echo "gpu_check: $NOTE" > "$RES/pytest_gpu.txt"
    fi
fi

# ----------------------------------------------------------------- 4. benchmark
BENCH_RC=-1
if [[ -n $CORE_MISSING ]]; then
    say "benchmark not run: missing $CORE_MISSING" | tee "$RES/bench_gpu.txt"
else
    plan "the benchmark" "$BENCH_S" "$BENCH_MIN" "$SUMMARY_KEEP" "$BENCH_KEEP"
    if (( SLOT > 0 )); then
        # its --budget leaves 25 s of the time limit for the interpreter, imports, the part
        # that started last running past its estimate, and the dask-cuda cluster's teardown
        say "GPU benchmark (limit $((SLOT - 5)) s, --budget $((SLOT - 30)))"
        limited "$PY" benchmarks/bench_gpu.py --budget $((SLOT - 30)) \
            --json "$RES/bench_gpu.json" 2>&1 | tee "$RES/bench_gpu.txt"
        BENCH_RC=${PIPESTATUS[0]}
        stopped "$BENCH_RC" "the benchmark" | tee -a "$RES/bench_gpu.txt"
    else
        echo "gpu_check: $NOTE" > "$RES/bench_gpu.txt"
    fi
fi

# ------------------------------------------------------------------- 5. summary
ELAPSED=$(( $(date +%s) - T0 ))
SLOT=$(( $(left) - 1 )); (( SLOT < 5 )) && SLOT=5   # the table is never skipped
timeout -k 1 "$SLOT" "$PY" - "$RES" "$GPU_NAME" "$DRIVER" "$GPU_MEM" "$TEST_RC" "$BENCH_RC" \
    "$ELAPSED" "$STACK_RC" "$TIME_NOTES" <<'EOF'
import datetime, json, os, re, sys

res, name, driver, mem, test_rc, bench_rc, elapsed, stack_rc, time_notes = sys.argv[1:10]
test_rc, bench_rc, stack_rc = int(test_rc), int(bench_rc), int(stack_rc)
time_notes = [line for line in time_notes.splitlines() if line]


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
# what the package check found (a package that does not import, a kernel CuPy cannot build)
problems = [line[len("problem: "):] for line in read("environment.txt").splitlines()
            if line.startswith("problem: ")]
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
for why in problems:
    lines.append(f"  setup: {why}")
for why in time_notes:
    lines.append(f"  time: {why}")
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
               "date": date, "elapsed_s": int(elapsed), "setup_problems": problems,
               "cut_for_time": time_notes,
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
