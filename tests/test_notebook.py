"""The example notebook runs from top to bottom (on CPU here)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "incremental.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.fixture
def this_python_kernel(tmp_path, monkeypatch):
    """A ``python3`` kernel spec that runs this interpreter.

    JUPYTER_PATH comes first in the kernel spec search, so a ``python3`` spec
    in a user's or the system's Jupyter directories cannot send the notebook
    to another Python.
    """
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (gpuinc tests)",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    return "python3"


def test_notebook_executes_on_cpu(tmp_path, monkeypatch, this_python_kernel):
    monkeypatch.setenv("CI", "true")  # no progress bars in the kernel's output
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # one extra cell, not saved: which Python the kernel runs
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    client = nbclient.NotebookClient(
        nb, kernel_name=this_python_kernel, timeout=120,
        resources={"metadata": {"path": str(run_dir)}},
    )
    client.execute()

    def text(cell):
        return "".join(
            out.get("text", "") + "".join(out.get("data", {}).get("text/plain", ""))
            for out in cell.outputs
        )

    code = [c for c in nb.cells if c.cell_type == "code"]
    everything = "\n".join(text(c) for c in code)
    assert "CPU workers" in everything
    assert "passes; stopped early" in everything
    assert "test accuracy:" in everything
    # the learning curve was drawn inline and written next to the notebook
    assert any("image/png" in out.get("data", {}) for c in code for out in c.outputs)
    assert (run_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kernel_python = text(code[-1]).strip()
    assert os.path.realpath(kernel_python) == os.path.realpath(sys.executable)
