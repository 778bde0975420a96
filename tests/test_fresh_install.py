"""A fresh machine: the course installed from a clean copy of the repository, as README says.

One new virtual environment gets ``pip install torch==2.13.0`` then ``pip install "<repo>[course]"``
(not editable: this proves the package itself installs), runs ``lowdim-course compare`` and
lesson 00, and imports every module of the installed package. A wheel built from the same copy
must hold every module of the core. The copy holds only the files git tracks, as a clone would,
so a file that works here only because it lies untracked in the working tree is caught.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from venv_tools import clean_env, execute_notebook, fresh_venv, pip_install, run

from lowdim_course import links

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # README's first command

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import lowdim_course
names = ["lowdim_course"] + [
    module.name for module in pkgutil.walk_packages(lowdim_course.__path__, "lowdim_course.")]
files = {name: importlib.import_module(name).__file__ for name in names}
print(json.dumps(files))
"""


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, text=True
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell which files a clone would hold")
    return [name for name in listed.stdout.split("\0") if name and (ROOT / name).is_file()]


def _core_modules() -> set[str]:
    """The package's files in the repository: every one must be in the wheel."""
    return {name for name in _tracked_files() if name.startswith("lowdim_course/")}


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clone") / "lowdim-course"
    for name in _tracked_files():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def installed(clone, tmp_path_factory):
    """README's set-up in a new virtual environment: its python."""
    environment = tmp_path_factory.mktemp("fresh") / "venv"
    python = fresh_venv(environment)
    pip_install(python, TORCH, cwd=clone)
    pip_install(python, f"{clone}[course]", cwd=clone)
    return python


def test_the_package_installs_and_every_module_imports(installed, clone):
    result = run([installed, "-c", IMPORT_ALL], cwd=installed.parent, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    files = json.loads(result.stdout.strip().splitlines()[-1])
    site = installed.parent.parent / "lib"
    for name, path in files.items():  # from the environment, not from the clone or the repo
        assert Path(path).is_relative_to(site), (name, path)
    modules = {
        name.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
        for name in _core_modules()
        if name.endswith(".py")
    }
    assert modules <= set(files), modules - set(files)
    for subpackage in ("theory", "exercises", "demos"):
        assert f"lowdim_course.{subpackage}" in files


def test_compare_runs_from_the_console_script(installed, tmp_path):
    script = installed.with_name("lowdim-course")
    assert script.exists()
    result = run(
        [
            script,
            "compare",
            *("--d", "30", "--r", "3", "--lr", "10", "--eps", "0.03", "--steps", "1500"),
            *("--no-progress", "--json", "out.json"),
        ],
        cwd=tmp_path,
        timeout=300,
        env=clean_env(installed.parent.parent),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "out.json").read_text())
    assert summary["task"] == "mf"
    assert summary["settings"]["d"] == 30 and summary["settings"]["r"] == 3
    original, compressed = summary["original"], summary["compressed"]
    assert (original["params"], compressed["params"]) == (3 * 30 * 30, 2 * 30 * 6 + 6 * 6)
    for side in (original, compressed):  # both reach the target error within the steps
        assert 0 < side["iterations_to_1e-4"] <= 1500 and side["final_error"] < 1e-4
    assert compressed["iterations_to_1e-4"] <= original["iterations_to_1e-4"]
    assert "compressed" in result.stdout and "iterations to 1e-4" in result.stdout


def test_lesson_00_runs_in_the_fresh_environment(installed, clone, tmp_path):
    shutil.copy(clone / "lessons" / "00_start_here.ipynb", tmp_path)
    ran = execute_notebook(installed, tmp_path / "00_start_here.ipynb", tmp_path)
    assert ran["errors"] == [] and ran["cells"] >= 10
    environment = installed.parent.parent
    assert Path(ran["kernel_prefix"]) == environment  # the kernel is the environment's own
    assert Path(ran["lowdim_course"]).is_relative_to(environment)


def test_the_wheel_holds_the_core(installed, clone, tmp_path):
    result = run(
        [installed, "-m", "pip", "wheel", "-q", "--no-deps", clone, "-w", tmp_path / "dist"],
        cwd=tmp_path,
        timeout=600,
        env=clean_env(installed.parent.parent),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("lowdim_course-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    core = _core_modules()
    assert core and core <= names, sorted(core - names)  # .py files and any data file
    for folder in ("theory", "exercises", "demos"):
        assert any(name.startswith(f"lowdim_course/{folder}/") for name in names), folder
    assert not any(name.startswith(("tests/", "lessons/", "benchmarks/")) for name in names)
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    assert (
        "lowdim-course = lowdim_course.cli:main"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_a_lessons_first_cell_installs_the_course_where_it_is_missing(clone, tmp_path):
    """Colab's case, without the network: an environment with PyTorch (and Jupyter's kernel)
    but not the course. The lesson's install cell, pointed at a wheel of the clone by its
    environment variable, installs the course and leaves PyTorch as it was; lesson 00 then runs
    top to bottom there."""
    environment = tmp_path / "colab-like"
    python = fresh_venv(environment)
    pip_install(python, TORCH, "ipykernel", "nbformat", "nbclient", cwd=tmp_path)
    env = clean_env(environment)
    probe = "import importlib.util, torch; print(importlib.util.find_spec('lowdim_course'))"
    before = run([python, "-c", probe + "; print(torch.__version__)"], cwd=tmp_path, env=env)
    assert before.returncode == 0 and before.stdout.split()[0] == "None", before.stderr[-2000:]
    built = run(
        [python, "-m", "pip", "wheel", "-q", "--no-deps", clone, "-w", tmp_path / "dist"],
        cwd=tmp_path,
        timeout=600,
        env=env,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("lowdim_course-*.whl")

    lesson = json.loads((clone / "lessons" / "00_start_here.ipynb").read_text())
    install = "".join(next(c for c in lesson["cells"] if c["cell_type"] == "code")["source"])
    assert links.INSTALL_SOURCE_VARIABLE in install and "find_spec" in install
    installed_env = {**env, links.INSTALL_SOURCE_VARIABLE: str(wheel)}
    ran = run([python, "-c", install], cwd=tmp_path, env=installed_env, timeout=900)
    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-3000:]
    after = run([python, "-c", probe + "; print(torch.__version__)"], cwd=tmp_path, env=env)
    assert after.stdout.split()[0] != "None"
    assert after.stdout.split()[-1] == before.stdout.split()[-1]  # Colab's torch is kept

    shutil.copy(clone / "lessons" / "00_start_here.ipynb", tmp_path)
    result = execute_notebook(python, tmp_path / "00_start_here.ipynb", tmp_path)
    assert result["errors"] == [] and result["cells"] >= 10
    assert Path(result["lowdim_course"]).is_relative_to(environment)
