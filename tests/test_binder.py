"""Binder's environment, rebuilt here: a fresh virtual environment from binder/requirements.txt.

The Docker-based Binder build cannot run on the development machines, so this test
installs the same requirements into a new virtual environment, with PyTorch's CPU index line
swapped for this machine's local package source, runs binder/postBuild as Binder would, and
runs lesson 00 in it top to bottom.
"""

import json
import os
import re
from pathlib import Path

import pytest
from venv_tools import clean_env, execute_notebook, fresh_venv, pip_install, run

pytestmark = pytest.mark.slow  # builds a fresh environment
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")

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


def _requirement_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] not in "#-"]


def test_binder_files_pin_python_and_the_cpu_build():
    requirements = (BINDER / "requirements.txt").read_text()
    assert f"--extra-index-url {PYTORCH_CPU_INDEX}" in requirements
    assert "torch==" in requirements and "+cpu" in requirements
    assert (BINDER / "runtime.txt").read_text().strip().startswith("python-3.")


def test_requirements_name_no_repository_file_so_binder_can_cache_them():
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    local = [line for line in lines if re.match(r"\s*(-e\b|\.|file:|/)", line)]
    assert local == [], "a line naming the repository makes every commit rebuild this layer"


def test_requirements_are_pyprojects_dependencies_and_course_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    # and the classroom extra but JupyterHub, which repo2docker's environment brings
    classroom = [r for r in extras["classroom"] if not r.startswith("jupyterhub")]
    assert classroom, "the classroom extra names nbgitpuller"
    wanted = project["dependencies"] + extras["course"] + classroom
    have = _requirement_lines((BINDER / "requirements.txt").read_text())
    name = re.compile(r"[A-Za-z0-9_.-]+")
    assert {name.match(r).group() for r in wanted} == {name.match(r).group() for r in have}
    assert sorted(r for r in wanted if not r.startswith("torch")) == sorted(
        r for r in have if not r.startswith("torch")
    )


def test_post_build_installs_the_course_without_its_dependencies():
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK)
    commands = [line for line in post_build.read_text().splitlines() if "pip install" in line]
    assert len(commands) == 1 and "--no-deps" in commands[0] and commands[0].endswith(" -e .")


def test_adapting_swaps_only_the_index_line(monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    text = (BINDER / "requirements.txt").read_text()
    adapted = adapted_requirements(text)
    assert PYTORCH_CPU_INDEX not in adapted and "--find-links /opt/wheels" in adapted
    assert _requirement_lines(adapted) == _requirement_lines(text)


@pytest.mark.slow
def test_lesson_00_runs_in_a_fresh_binder_environment(tmp_path):
    environment = tmp_path / "binder-env"
    python = fresh_venv(environment)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(adapted_requirements((BINDER / "requirements.txt").read_text()))
    # Binder's base image provides Jupyter; nbclient and ipykernel stand in for it here.
    pip_install(python, "-r", requirements, "nbclient", "ipykernel", cwd=ROOT)
    listing = [python, "-m", "pip", "list", "--format=json"]
    before = {p["name"].lower() for p in json.loads(run(listing, cwd=tmp_path).stdout)}
    post_build = run(["bash", BINDER / "postBuild"], cwd=ROOT, env=clean_env(environment))
    assert post_build.returncode == 0, post_build.stderr[-3000:]
    after = {p["name"].lower() for p in json.loads(run(listing, cwd=tmp_path).stdout)}
    assert after - before == {"lowdim-course"}  # the course, and nothing else
    ran = execute_notebook(python, ROOT / "lessons" / "00_start_here.ipynb", ROOT / "lessons")
    assert ran["errors"] == [] and ran["cells"] >= 10
    assert Path(ran["kernel_prefix"]) == environment
    check_torch = run([python, "-c", "import torch; print(torch.__version__)"], cwd=tmp_path)
    assert check_torch.returncode == 0 and "+cpu" in check_torch.stdout
