#!/usr/bin/env bash
# The README's test command, from a fresh clone: a new virtual environment,
# gpuinc with its test extra, then the CPU test-suite (GPU tests skip themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m pytest
