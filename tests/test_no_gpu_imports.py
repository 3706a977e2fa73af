"""``import gpuinc`` and a CPU fit must not import anything from the GPU stack.

The check runs in a fresh interpreter (the test process itself may have
imported CuPy: the GPU tests do). An import hook placed first on
``sys.meta_path`` records every attempt to import a GPU package together with
the file whose import statement made it, whether or not the package is
installed; so the check means the same on a CPU-only machine as on a GPU one.

gpuinc's own code must make no such attempt. Dask does make some, for its own
purposes, and they are not gpuinc's to prevent: ``dask.array`` tries
``import cupy`` to register CuPy chunks, and ``distributed`` tries ``pynvml``
and ``rmm`` for its diagnostics; where those packages are installed, they are
loaded as soon as Dask is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from gpuinc._optional import GPU_MODULES

SCRIPT = textwrap.dedent("""
    import json, sys, traceback

    GPU = set({gpu_modules!r})
    ATTEMPTS = []  # (phase, package, importing file)
    PHASE = ["import"]


    class RecordGPUImports:
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            if top in GPU and path is None:
                stack = traceback.extract_stack()[:-1]
                if any(f.name == "_find_and_load" for f in stack):  # an import, not a probe
                    importer = next((f.filename for f in reversed(stack)
                                     if "importlib" not in f.filename
                                     and not f.filename.startswith("<")), "?")
                    ATTEMPTS.append((PHASE[0], top, importer))
            return None


    sys.meta_path.insert(0, RecordGPUImports())

    import gpuinc, gpuinc.wrappers, gpuinc.cluster, gpuinc.datasets, gpuinc.cli
    import gpuinc.model_selection, gpuinc.metrics, gpuinc._gpu, gpuinc._movers
    try:
        import gpuinc.linear_model
    except ImportError:
        pass
    gpuinc.cli.build_parser()

    PHASE[0] = "cpu fit"
    from sklearn.linear_model import SGDClassifier
    from gpuinc import Incremental
    from gpuinc.datasets import make_classification
    from gpuinc.model_selection import train_test_split

    X, y = make_classification(n_samples=600, n_features=5, chunks=150, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    inc = Incremental(SGDClassifier(random_state=0), scoring="accuracy", random_state=0,
                      progress=False, epochs=2)
    inc.fit(Xtr, ytr, classes=[0, 1])
    inc.predict(Xte).compute()
    score = float(inc.score(Xte, yte))
    if "gpuinc.linear_model" in sys.modules:
        from gpuinc.linear_model import SGDClassifier as GSGD
        Incremental(GSGD(random_state=0), progress=False).fit(Xtr, ytr, classes=[0, 1])
    print(json.dumps({{"attempts": ATTEMPTS, "score": score,
                      "package": gpuinc.__path__[0]}}))
""")


def _report() -> dict:
    env = dict(os.environ)
    env.pop("SCIPY_ARRAY_API", None)  # an array-API switch must not decide the outcome
    env["CI"] = "true"
    code = SCRIPT.format(gpu_modules=tuple(GPU_MODULES))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_gpuinc_imports_and_cpu_fits_import_no_gpu_package():
    report = _report()
    package = os.path.abspath(report["package"]) + os.sep
    by_gpuinc = [a for a in report["attempts"] if os.path.abspath(a[2]).startswith(package)]
    assert by_gpuinc == [], f"gpuinc imported GPU packages (phase, package, file): {by_gpuinc}"
    assert 0.5 <= report["score"] <= 1.0
    # the hook works: it sees dask.array's own attempt to import CuPy
    assert any(pkg == "cupy" and "dask" in where for _, pkg, where in report["attempts"])


def test_the_list_of_gpu_modules_is_complete():
    assert set(GPU_MODULES) >= {"cupy", "cudf", "cuml", "dask_cuda", "dask_cudf", "pynvml", "rmm"}
