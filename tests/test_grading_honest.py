"""Honest notebooks that an earlier grader flagged or failed: each gets full marks, no flag.

Decorated answers (``torch.no_grad``, ``functools.lru_cache``, a ``functools.wraps`` wrapper
from a module of the notebook's own), ``functools.partial``, a lambda around the student's own
function in ``check``, ``%%time`` cells, the word "solutions" in printouts, outputs and prose,
a scratch file deleted inside the working directory, and Lesson 06's block built from a subclass
of ``nn.Linear`` (which the student's own ``check`` accepts). The notebooks are built here with
nbformat and graded together, as an instructor would (``grade_notebooks`` with two jobs).
The quick-tier twins of these cases (no kernel) are tests/test_grading_agreement.py and
tests/test_grading_static.py.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from student_answers import (
    COMPRESSED_STEP,
    END_TO_END,
    IMPORT,
    NARROW_WIDTH,
    PARAM_COUNT,
    RATES,
    RECOVERY,
    SPECTRAL_INIT,
    checked,
)

from lowdim_course.exercises import exercise_ids
from lowdim_course.grading import grade_notebooks

pytestmark = pytest.mark.slow  # grades notebooks in Jupyter kernels

IMPORTS = IMPORT + "\nimport functools"
LESSON_04 = {
    "04.spectral_init": checked(SPECTRAL_INIT, "04.spectral_init"),
    "04.compressed_param_count": checked(PARAM_COUNT, "04.compressed_param_count"),
    "04.layer_learning_rates": checked(RATES, "04.layer_learning_rates"),
    "04.compressed_gd_step": checked(COMPRESSED_STEP, "04.compressed_gd_step"),
    "04.narrow_width": checked(NARROW_WIDTH, "04.narrow_width"),
}
RECOVERY_CELL = checked(RECOVERY, "00.recovery_error")


def _lesson_04(**replaced: str) -> list[str]:
    cells = {**LESSON_04, **{f"04.{key}": value for key, value in replaced.items()}}
    return [IMPORTS, *cells.values()]


TRACING_MODULE = """%%writefile tracing.py
import functools, time

def timed(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            wrapper.seconds = time.perf_counter() - started
    return wrapper
"""

PARTIAL = """
def init_with(scale, surrogate, r_hat, depth, eps):
    u, s, vh = torch.linalg.svd(surrogate, full_matrices=False)
    middle = [scale * eps * torch.eye(r_hat, dtype=surrogate.dtype) for _ in range(depth - 2)]
    return [scale * eps * vh[:r_hat], *middle, scale * eps * u[:, :r_hat]]

spectral_init = functools.partial(init_with, 1.0)
check("04.spectral_init", spectral_init)
"""

SCRATCH = """
import os
from pathlib import Path
import numpy as np

np.save("scratch.npy", np.arange(3.0))
assert np.load("scratch.npy").sum() == 3.0
os.remove("scratch.npy")
notes = Path("work") / "notes.txt"
notes.parent.mkdir(exist_ok=True)
notes.write_text("spectral init: eps times the top singular vectors")
notes.unlink()
notes.parent.rmdir()
"""

BLOCK = """
from torch import nn

class MyLinear(nn.Linear):
    \"\"\"A bias-free linear layer that prints as mine.\"\"\"

    def extra_repr(self):
        return "mine: " + super().extra_repr()

def compressed_block(surrogate, r_hat, depth, eps):
    u, s, vh = torch.linalg.svd(surrogate, full_matrices=False)
    middle = [eps * torch.eye(r_hat, dtype=surrogate.dtype) for _ in range(depth - 2)]
    layers = []
    for weight in [eps * vh[:r_hat], *middle, eps * u[:, :r_hat]]:
        layer = MyLinear(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(weight)
        layers.append(layer)
    return nn.Sequential(*layers)

result = check("06.compressed_block", compressed_block)
assert result.passed, result.message  # the student's own check accepts it
"""


def _printout_cell():
    cell = new_code_cell('print("My plot looks the same as in the solutions")')
    cell.outputs = [
        new_output("stream", name="stdout", text="My plot looks the same as in the solutions\n")
    ]
    return cell


NOTEBOOKS = {
    "no_grad": [
        IMPORTS,
        "@torch.no_grad()\n" + checked(END_TO_END, "00.end_to_end"),
        RECOVERY_CELL,
    ],
    "lru_cache": _lesson_04(
        compressed_param_count="@functools.lru_cache\n"
        + checked(PARAM_COUNT, "04.compressed_param_count")
    ),
    "wraps": [
        TRACING_MODULE,
        *_lesson_04(
            layer_learning_rates="from tracing import timed\n\n@timed\n"
            + checked(RATES, "04.layer_learning_rates")
        ),
    ],
    "partial": _lesson_04(spectral_init=PARTIAL),
    "lambda": [
        IMPORTS,
        END_TO_END + '\ncheck("00.end_to_end", lambda L: end_to_end(L))',
        RECOVERY_CELL,
    ],
    "percent_time": [
        IMPORTS,
        "%%time\n" + END_TO_END,
        '%%time\ncheck("00.end_to_end", end_to_end)',
        "%%time\n" + RECOVERY_CELL,
    ],
    "solutions_word": [
        new_markdown_cell(
            "I compared my answers with the solutions (`solutions/00_linear_networks.ipynb`)."
        ),
        IMPORTS,
        checked(END_TO_END, "00.end_to_end"),
        _printout_cell(),
        RECOVERY_CELL,
    ],
    "scratch": [*_lesson_04(), SCRATCH, "!echo hi > scratch.txt\n!rm -f scratch.txt"],
    "block_subclass": [IMPORTS, BLOCK],
}
FULL_MARKS = {name: "04" if name in ("lru_cache", "wraps", "partial", "scratch") else "00"
              for name in NOTEBOOKS if name != "block_subclass"}  # fmt: skip


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("honest")
    paths = []
    for name, cells in NOTEBOOKS.items():
        cells = [new_code_cell(c) if isinstance(c, str) else c for c in cells]
        notebook = new_notebook(cells=[new_markdown_cell(f"# {name}"), *cells])
        path = folder / f"{name}.ipynb"
        nbformat.write(notebook, path)
        paths.append(path)
    entries = grade_notebooks(paths, timeout=120, jobs=2)
    return dict(zip(NOTEBOOKS, entries, strict=True))


@pytest.mark.parametrize("name", sorted(FULL_MARKS))
def test_an_honest_notebook_gets_full_marks_and_no_flag(name, graded):
    entry, lesson = graded[name], FULL_MARKS[name]
    assert entry["lesson"] == lesson and entry["error"] is None, entry
    assert entry["flags"] == [] and entry["cell_errors"] == [], entry
    assert [item["id"] for item in entry["exercises"]] == exercise_ids(lesson)
    assert entry["score"] == entry["max_score"] == len(exercise_ids(lesson)), entry
    assert all(item["message"].startswith("passed") for item in entry["exercises"]), entry


def test_a_block_of_nn_linear_subclasses_passes_check_and_grader_alike(graded):
    entry = graded["block_subclass"]
    assert entry["lesson"] == "06" and entry["error"] is None, entry
    assert entry["flags"] == [] and entry["cell_errors"] == [], entry  # check said passed
    items = {item["id"]: item for item in entry["exercises"]}
    assert items["06.compressed_block"]["passed"], items["06.compressed_block"]
    # the lesson's other exercises were not answered: no function, not a flag
    for exercise_id in set(items) - {"06.compressed_block"}:
        assert items[exercise_id]["message"].startswith("no function"), items[exercise_id]
