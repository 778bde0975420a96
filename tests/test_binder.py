"""Binder's environment, rebuilt here: a fresh virtual environment from binder/requirements.txt.

The Docker-based Binder build cannot run on the development machines (COURSE.md), so this test
installs the same requirements into a new virtual environment, with PyTorch's CPU index line
swapped for this machine's local package source, and runs lesson 00 in it top to bottom.
"""

import os
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"

EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=300, kernel_name="python3",
               resources={"metadata": {"path": sys.argv[2]}}).execute()
errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
print("cells:", len(notebook.cells), "errors:", len(errors))
sys.exit(1 if errors else 0)
"""


def adapted_requirements(text: str) -> str:
    """binder/requirements.txt with the PyTorch index line pointed at the local source."""
    local = os.environ.get("PIP_FIND_LINKS")
    lines = []
    for line in text.splitlines():
        if PYTORCH_CPU_INDEX in line:
            line = f"--find-links {local}" if local else ""
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_binder_files_pin_python_and_the_cpu_build():
    requirements = (BINDER / "requirements.txt").read_text()
    assert f"--extra-index-url {PYTORCH_CPU_INDEX}" in requirements
    assert "torch==" in requirements and "+cpu" in requirements
    assert "-e ." in requirements.splitlines()
    assert (BINDER / "runtime.txt").read_text().strip().startswith("python-3.")


def test_adapting_swaps_only_the_index_line(monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    adapted = adapted_requirements((BINDER / "requirements.txt").read_text())
    assert PYTORCH_CPU_INDEX not in adapted and "--find-links /opt/wheels" in adapted
    assert "-e ." in adapted.splitlines()


@pytest.mark.slow
def test_lesson_00_runs_in_a_fresh_binder_environment(tmp_path):
    environment = tmp_path / "binder-env"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(adapted_requirements((BINDER / "requirements.txt").read_text()))
    # Binder's base image provides Jupyter; nbclient and ipykernel stand in for it here.
    install = subprocess.run(
        [python, "-m", "pip", "install", "-q", "-r", requirements, "nbclient", "ipykernel"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    run = subprocess.run(
        [python, "-c", EXECUTE, ROOT / "lessons" / "00_start_here.ipynb", ROOT / "lessons"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        check=False,
        timeout=600,
    )
    assert run.returncode == 0, (run.stdout + run.stderr)[-2000:]
    assert "errors: 0" in run.stdout
    check_torch = subprocess.run(
        [python, "-c", "import torch, lowdim_course; print(torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "+cpu" in check_torch.stdout
