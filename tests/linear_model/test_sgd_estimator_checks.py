"""scikit-learn's estimator checks on gpuinc's SGD models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from gpuinc.linear_model import SGDClassifier, SGDRegressor

# scikit-learn expects its own SGD models to fail exactly these two: a weight
# of 2 is not the same as a repeated row once rows are visited in random
# mini-batches.
SAMPLE_WEIGHT_XFAIL = {
    "check_sample_weight_equivalence_on_dense_data": (
        "sample_weight is not equivalent to removing/repeating samples."
    ),
    "check_sample_weight_equivalence_on_sparse_data": (
        "sample_weight is not equivalent to removing/repeating samples."
    ),
}


def _expected_failed_checks(estimator):
    return SAMPLE_WEIGHT_XFAIL


@parametrize_with_checks(
    [SGDClassifier(random_state=0), SGDRegressor(random_state=0)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


ARRAY_API_CHECKS = textwrap.dedent("""
    import json, warnings
    warnings.simplefilter("ignore")
    from sklearn.utils.estimator_checks import (
        check_array_api_input, check_array_api_mixed_inputs, check_array_api_same_namespace,
    )
    from gpuinc.linear_model import SGDClassifier, SGDRegressor

    ran = []
    for est in (SGDClassifier(random_state=0), SGDRegressor(random_state=0)):
        name = type(est).__name__
        # attributes and outputs must match the NumPy fit, not just their types
        for device, dtype in (("CPU_DEVICE", "float64"), ("device1", "float32")):
            check_array_api_input(name, est, "array_api_strict", device, dtype,
                                  check_values=True, check_sample_weight=True)
            ran.append((name, "input", device))
        check_array_api_same_namespace(name, est, "array_api_strict")
        ran.append((name, "same_namespace", None))
    print(json.dumps(ran))
""")


def test_sklearn_array_api_checks_pass_with_array_api_strict():
    """scikit-learn's array-API checks only run with SciPy's array-API mode on at import."""
    pytest.importorskip("array_api_strict")
    env = dict(os.environ, SCIPY_ARRAY_API="1")
    proc = subprocess.run(
        [sys.executable, "-c", ARRAY_API_CHECKS],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(ran) == 6
