"""Fresh virtual environments for the tests that install the course as a newcomer would.

Used by test_binder.py (Binder's requirements) and test_fresh_install.py (README's commands and
the wheel). Everything runs in a child process with no standard input, without this test run's
PYTHONPATH or virtual environment, so the fresh environment sees only what was installed in it.
"""

from __future__ import annotations

import json
import os
import subprocess
import venv
from pathlib import Path

# Runs a notebook top to bottom in the environment's own kernel (the course's stall-proof runner,
# from that environment) and prints one JSON line: the number of cells, the error outputs and
# where the kernel's Python and lowdim_course live (from a cell added in front).
EXECUTE = """
import json, sys, nbformat
from lowdim_course.headless import execute_notebook
notebook = nbformat.read(sys.argv[1], as_version=4)
probe = nbformat.v4.new_code_cell(
    "import sys, lowdim_course\\nprint(sys.prefix)\\nprint(lowdim_course.__file__)")
notebook.cells.insert(0, probe)
result = execute_notebook(notebook, cwd=sys.argv[2], timeout=300)
assert result.error is None, result.error
errors = [f"{o.ename}: {o.evalue}" for c in notebook.cells for o in c.get("outputs", [])
          if o.output_type == "error"]
prefix, package = notebook.cells[0].outputs[0].text.split()
print(json.dumps({"cells": len(notebook.cells) - 1, "errors": errors,
                  "kernel_prefix": prefix, "lowdim_course": package}))
"""


def clean_env(environment: Path | None = None) -> dict[str, str]:
    """os.environ without this run's Python settings; ``environment``'s bin first on PATH."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "JUPYTER_PATH", "MPLBACKEND"}
    }
    if environment is not None:
        env["PATH"] = os.pathsep.join([str(environment / "bin"), env.get("PATH", "")])
        env["VIRTUAL_ENV"] = str(environment)
    return env


def fresh_venv(folder: Path) -> Path:
    """A new virtual environment with pip at ``folder``; returns its python."""
    venv.create(folder, with_pip=True)
    return folder / "bin" / "python"


def run(command, *, cwd, timeout=900, env=None) -> subprocess.CompletedProcess:
    """``command`` (a list) with no standard input; output captured as text; never raises."""
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env if env is not None else clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pip_install(python: Path, *arguments, cwd, timeout=900) -> None:
    """``python -m pip install -q ARGUMENTS``; fails the test with pip's last words."""
    result = run(
        [python, "-m", "pip", "install", "-q", *arguments],
        cwd=cwd,
        timeout=timeout,
        env=clean_env(python.parent.parent),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def execute_notebook(python: Path, notebook: Path, workdir: Path, timeout=600) -> dict:
    """Run ``notebook`` in ``python``'s environment, kernel working in ``workdir``.

    Returns ``{"cells", "errors", "kernel_prefix", "lowdim_course"}`` (see EXECUTE).
    """
    result = run(
        [python, "-c", EXECUTE, notebook, workdir],
        cwd=workdir,
        timeout=timeout,
        env=clean_env(python.parent.parent),
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
