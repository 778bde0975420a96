"""The instructor's loop: a folder of submissions graded into a JSON and CSV gradebook.

The submissions are made here from the course's own notebooks, as students hand them in (renamed;
the lesson comes from the notebook's metadata): complete ones (copies of solutions/), partial
ones (a lesson with one exercise filled in from its solution), one with a syntax error in an
answer, one with an endless loop, and one that is not a notebook at all. ``lowdim-course grade``
must grade every file, with the right score, and the endless loop must cost no more than the
per-notebook time limit.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from lowdim_course.cli import main
from lowdim_course.grading import CSV_COLUMNS, TOTAL, format_csv

pytestmark = pytest.mark.slow  # grades a class of notebooks in Jupyter kernels

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 60  # seconds per notebook, as an instructor would set it


def _course_notebook(folder: str, lesson: str):
    return nbformat.read(next((ROOT / folder).glob(f"{lesson}_*.ipynb")), as_version=4)


def _answer_cell(lesson: str, exercise: str) -> int:
    """Index of the cell holding the student's answer to ``exercise`` (``"00.end_to_end"``)."""
    blank, solved = _course_notebook("lessons", lesson), _course_notebook("solutions", lesson)
    assert len(blank.cells) == len(solved.cells)
    name = exercise.split(".", 1)[1]
    found = [
        index
        for index, (a, b) in enumerate(zip(blank.cells, solved.cells, strict=True))
        if a.cell_type == "code" and a.source != b.source and f"def {name}(" in b.source
    ]
    assert len(found) == 1, (exercise, found)
    return found[0]


def _complete(lesson: str):
    return _course_notebook("solutions", lesson)


def _partial(lesson: str, exercise: str):
    """The lesson with only ``exercise`` answered, by the solution's cell."""
    notebook, index = _course_notebook("lessons", lesson), _answer_cell(lesson, exercise)
    notebook.cells[index] = copy.deepcopy(_complete(lesson).cells[index])
    return notebook


def _with_syntax_error(lesson: str, exercise: str):
    """The solution with the answer to ``exercise`` broken by a typo."""
    notebook = _complete(lesson)
    cell = notebook.cells[_answer_cell(lesson, exercise)]
    broken = cell.source.replace("):", ")", 1)  # `def f(x):` -> `def f(x)`
    assert broken != cell.source
    cell.source = broken
    return notebook


def _looping(lesson: str):
    """The solution with an endless loop just before the first answer."""
    notebook = _complete(lesson)
    first = min(_answer_cell(lesson, exercise) for exercise in _lesson_exercises(lesson))
    loop = nbformat.v4.new_code_cell("while True:  # waiting for Godot\n    pass")
    notebook.cells.insert(first, loop)
    return notebook


def _lesson_exercises(lesson: str) -> list[str]:
    from lowdim_course.exercises import exercise_ids

    return exercise_ids(lesson)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    made = {
        "alice.ipynb": _complete("00"),
        "bob.ipynb": _partial("00", "00.end_to_end"),
        "carol.ipynb": _with_syntax_error("00", "00.recovery_error"),
        "dave.ipynb": _looping("00"),
        "erin.ipynb": _partial("03", "03.moved_rank"),
    }
    for name, notebook in made.items():
        nbformat.write(notebook, folder / name)
    (folder / "frank.ipynb").write_text('{"cells": [')  # a truncated upload
    return folder


@pytest.fixture(scope="module")
def gradebook(submissions, tmp_path_factory):
    out = tmp_path_factory.mktemp("gradebook")
    script = Path(sys.executable).with_name("lowdim-course")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "lowdim_course.cli"]
    started = time.monotonic()
    run = subprocess.run(
        [
            *command,
            "grade",
            str(submissions),
            "--json",
            str(out / "gradebook.json"),
            "--csv",
            str(out / "gradebook.csv"),
            "--timeout",
            str(TIMEOUT),
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=600,
        check=False,
    )
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stdout + run.stderr
    entries = json.loads((out / "gradebook.json").read_text())
    with (out / "gradebook.csv").open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    return {
        "entries": {Path(entry["notebook"]).name: entry for entry in entries},
        "rows": rows,
        "stdout": run.stdout,
        "seconds": seconds,
    }


EXPECTED = {  # name: (lesson, the exercises that score; every other one scores 0)
    "alice.ipynb": ("00", {"00.end_to_end", "00.recovery_error"}),
    "bob.ipynb": ("00", {"00.end_to_end"}),
    "carol.ipynb": ("00", {"00.end_to_end"}),
    "dave.ipynb": ("00", set()),
    "erin.ipynb": ("03", {"03.moved_rank"}),
    "frank.ipynb": (None, set()),
}


def test_every_submission_is_graded_with_its_score(gradebook):
    entries = gradebook["entries"]
    assert sorted(entries) == sorted(EXPECTED)
    for name, (lesson, scoring) in EXPECTED.items():
        entry = entries[name]
        assert entry["lesson"] == lesson, name
        ids = _lesson_exercises(lesson) if lesson else []
        assert [item["id"] for item in entry["exercises"]] == ids, name
        scores = {item["id"]: item["score"] for item in entry["exercises"]}
        assert scores == {i: float(i in scoring) for i in ids}, (name, entry)
        assert entry["score"] == len(scoring) and entry["max_score"] == len(ids), name
    printed = gradebook["stdout"]
    most = sum(len(_lesson_exercises(lesson)) for lesson, _ in EXPECTED.values() if lesson)
    assert f"total: 5/{most} over 6 notebook(s)" in printed  # 5/12 since lesson 03 has four
    assert "wrote" in printed and "gradebook.csv" in printed


def test_the_messages_say_what_went_wrong(gradebook):
    entries = gradebook["entries"]
    stub = _item(entries["bob.ipynb"], "00.recovery_error")
    assert not stub["passed"] and "not implemented yet" in stub["message"]
    typo = entries["carol.ipynb"]
    assert typo["error"] is None and any("SyntaxError" in e for e in typo["cell_errors"])
    assert _item(typo, "00.recovery_error")["message"].startswith("no function `recovery_error`")
    assert "did not finish within 60 s" in entries["dave.ipynb"]["error"]
    assert entries["frank.ipynb"]["error"].startswith("could not read the notebook")
    for name in ("alice.ipynb", "erin.ipynb"):
        passed = [item for item in entries[name]["exercises"] if item["passed"]]
        assert passed and all(item["message"].startswith("passed") for item in passed)


def _item(entry, exercise):
    return next(item for item in entry["exercises"] if item["id"] == exercise)


def test_an_endless_loop_costs_at_most_the_time_limit(gradebook):
    loop = gradebook["entries"]["dave.ipynb"]
    assert TIMEOUT <= loop["seconds"] < TIMEOUT + 30
    others = sum(e["seconds"] for name, e in gradebook["entries"].items() if name != "dave.ipynb")
    assert gradebook["seconds"] < loop["seconds"] + others + 30  # no other wait anywhere


def test_the_csv_gradebook_matches_the_json(gradebook):
    rows, entries = gradebook["rows"], gradebook["entries"]
    assert tuple(rows[0]) == CSV_COLUMNS
    exercise_rows = [row for row in rows if TOTAL not in (row["exercise"], row["notebook"])]
    assert len(exercise_rows) == sum(len(e["exercises"]) for e in entries.values())
    for row in exercise_rows:
        item = next(
            item
            for item in entries[Path(row["notebook"]).name]["exercises"]
            if item["id"] == row["exercise"]
        )
        assert row["passed"] == ("true" if item["passed"] else "false")
        assert float(row["score"]) == item["score"] and row["message"] == item["message"]
    totals = {Path(row["notebook"]).name: row for row in rows if row["exercise"] == TOTAL}
    assert sorted(totals) == sorted(EXPECTED)
    for name, entry in entries.items():
        assert float(totals[name]["score"]) == entry["score"] == len(EXPECTED[name][1])
        assert float(totals[name]["max_score"]) == entry["max_score"]
    assert totals["alice.ipynb"]["passed"] == "true" and totals["bob.ipynb"]["passed"] == "false"
    assert totals["frank.ipynb"]["message"].startswith("could not read")
    last = rows[-1]
    most = sum(len(_lesson_exercises(lesson)) for lesson, _ in EXPECTED.values() if lesson)
    assert last["notebook"] == TOTAL and (last["score"], last["max_score"]) == ("5", str(most))
    assert last["message"] == "6 notebook(s)"


def test_format_csv_quotes_messages_and_sums():
    entries = [
        {
            "notebook": "a, the first.ipynb",
            "lesson": "04",
            "score": 1.0,
            "max_score": 2.0,
            "error": None,
            "exercises": [
                {"id": "04.x", "passed": True, "score": 1.0, "max_score": 1.0, "message": "ok"},
                {
                    "id": "04.y",
                    "passed": False,
                    "score": 0.0,
                    "max_score": 1.0,
                    "message": 'wrong "sign",\nsee the hint',
                },
            ],
        },
        {"notebook": "b.ipynb", "lesson": None, "score": 0.0, "max_score": 0.0, "error": "bad",
         "exercises": []},
    ]  # fmt: skip
    rows = list(csv.reader(io.StringIO(format_csv(entries))))
    assert rows[0] == list(CSV_COLUMNS)
    assert rows[1] == ["a, the first.ipynb", "04", "04.x", "true", "1", "1", "ok"]
    assert rows[2][-1] == 'wrong "sign",\nsee the hint'
    assert rows[3] == ["a, the first.ipynb", "04", TOTAL, "false", "1", "2", ""]
    assert rows[4] == ["b.ipynb", "", TOTAL, "false", "0", "0", "bad"]
    assert rows[5] == [TOTAL, "", "", "false", "1", "2", "2 notebook(s)"]
    assert format_csv([]).splitlines() == [",".join(CSV_COLUMNS), "TOTAL,,,false,0,0,0 notebook(s)"]


def test_cli_writes_the_csv_next_to_the_json(tmp_path, capsys):
    broken = tmp_path / "02_broken.ipynb"
    broken.write_text("not a notebook")
    out = tmp_path / "out"
    assert main(["grade", str(tmp_path), "--csv", str(out / "book.csv")]) == 0
    assert f"wrote {out / 'book.csv'}" in capsys.readouterr().out
    rows = list(csv.DictReader((out / "book.csv").open(newline="")))
    assert [row["exercise"] for row in rows[:-2]] == _lesson_exercises("02")
    assert all(row["score"] == "0" for row in rows)
    assert not list(out.glob(".*.tmp"))  # written atomically
    shutil.rmtree(out)
