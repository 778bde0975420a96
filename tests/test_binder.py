"""Binder's environment, rebuilt here: a fresh virtual environment from binder/requirements.txt.

The Docker-based Binder build cannot run on the development machines, so this test
installs the same requirements into a new virtual environment, with PyTorch's CPU index line
swapped for this machine's local package source, and runs lesson 00 in it top to bottom.
"""

import os
from pathlib import Path

import pytest
from venv_tools import execute_notebook, fresh_venv, pip_install, run

pytestmark = pytest.mark.slow  # builds a fresh environment

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
PYTORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


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
    assert "-e .[course]" in requirements.splitlines()
    assert (BINDER / "runtime.txt").read_text().strip().startswith("python-3.")


def test_adapting_swaps_only_the_index_line(monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    adapted = adapted_requirements((BINDER / "requirements.txt").read_text())
    assert PYTORCH_CPU_INDEX not in adapted and "--find-links /opt/wheels" in adapted
    assert "-e .[course]" in adapted.splitlines()


@pytest.mark.slow
def test_lesson_00_runs_in_a_fresh_binder_environment(tmp_path):
    environment = tmp_path / "binder-env"
    python = fresh_venv(environment)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(adapted_requirements((BINDER / "requirements.txt").read_text()))
    # Binder's base image provides Jupyter; nbclient and ipykernel stand in for it here.
    pip_install(python, "-r", requirements, "nbclient", "ipykernel", cwd=ROOT)
    ran = execute_notebook(python, ROOT / "lessons" / "00_start_here.ipynb", ROOT / "lessons")
    assert ran["errors"] == [] and ran["cells"] >= 10
    assert Path(ran["kernel_prefix"]) == environment
    check_torch = run([python, "-c", "import torch; print(torch.__version__)"], cwd=tmp_path)
    assert check_torch.returncode == 0 and "+cpu" in check_torch.stdout
