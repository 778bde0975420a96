"""Grading: notebooks built here with nbformat, executed headless, scored by the grader.

Each executed notebook starts a kernel (a few seconds), so the notebooks that need one are graded
together once per module.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
import student_answers as answers
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from student_answers import IMPORT, checked

from lowdim_course import threads
from lowdim_course.cli import main
from lowdim_course.exercises import exercise_ids
from lowdim_course.grading import (
    format_report,
    grade_notebook,
    grade_notebooks,
    notebook_paths,
)
from lowdim_course.grading.inspection import claimed_lesson, read_notebook

pytestmark = pytest.mark.slow  # grades notebooks in Jupyter kernels

SPECTRAL_INIT = checked(answers.SPECTRAL_INIT, "04.spectral_init")
PARAM_COUNT = checked(answers.PARAM_COUNT, "04.compressed_param_count")
RATES = checked(answers.RATES, "04.layer_learning_rates")
STEP = checked(answers.COMPRESSED_STEP, "04.compressed_gd_step")
NARROW_WIDTH = checked(answers.NARROW_WIDTH, "04.narrow_width")
END_TO_END = checked(answers.END_TO_END, "00.end_to_end")
RECOVERY_WRONG = """
def recovery_error(W, M_star):
    return (W - M_star).norm()
check("00.recovery_error", recovery_error)
"""
LOOP_FIRST = """
def spectral_init(surrogate, r_hat, depth, eps):
    while True:
        pass
result = check("04.spectral_init", spectral_init, time_limit=0.5)
assert "did not return within 0.5 s" in result.message, result.message
"""
STUB = """
def layer_learning_rates(depth, lr, alpha):
    raise NotImplementedError
check("04.layer_learning_rates", layer_learning_rates)
"""


def _write(path, cells, lesson=None):
    notebook = new_notebook(cells=[new_markdown_cell("# A submission"), *cells])
    if lesson is not None:
        notebook.metadata["lowdim_course"] = {"lesson": lesson}
    nbformat.write(notebook, path)
    return path


def _code(*sources):
    return [new_code_cell(source) for source in sources]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    paths = {
        # lesson from the metadata (the file name says nothing); an endless loop stopped by the
        # check's alarm inside the kernel, then the right answer: the last result counts
        "complete": _write(
            folder / "alice.ipynb",
            _code(IMPORT, LOOP_FIRST, SPECTRAL_INIT, PARAM_COUNT, RATES, STEP, NARROW_WIDTH),
            "04",
        ),
        # lesson from the file name; the second exercise is wrong
        "lesson00": _write(folder / "00_bob.ipynb", _code(IMPORT, END_TO_END, RECOVERY_WRONG)),
        # a stub, a cell with a syntax error, a cell that raises, one exercise never checked,
        # and a check of another lesson that must not count
        "partial": _write(
            folder / "04_carol.ipynb",
            _code(IMPORT, "def broken(:\n    pass", "1 / 0", STUB, PARAM_COUNT, END_TO_END),
        ),
    }
    entries = grade_notebooks(list(paths.values()), timeout=120)
    return {name: entry for name, entry in zip(paths, entries, strict=True)}


def _by_id(entry):
    return {item["id"]: item for item in entry["exercises"]}


def test_a_complete_notebook_scores_full_marks(graded):
    entry = graded["complete"]
    assert entry["lesson"] == "04" and entry["error"] is None and entry["cell_errors"] == []
    assert entry["score"] == entry["max_score"] == len(exercise_ids("04")) == 5.0
    assert [item["id"] for item in entry["exercises"]] == exercise_ids("04")
    for item in entry["exercises"]:
        assert set(item) == {"id", "passed", "score", "max_score", "message"}
        assert item["passed"] and item["score"] == 1.0 and item["message"].startswith("passed")
    json.dumps(entry)  # JSON-ready


def test_a_wrong_answer_scores_zero_with_the_check_message(graded):
    entry = graded["lesson00"]
    assert entry["lesson"] == "00" and entry["score"] == 1.0 and entry["max_score"] == 2.0
    wrong = _by_id(entry)["00.recovery_error"]
    assert not wrong["passed"] and wrong["score"] == 0.0
    assert "divide by ||M*||_F" in wrong["message"]


def test_a_partial_notebook_with_failing_cells_still_runs_to_the_end(graded):
    entry = graded["partial"]
    assert entry["error"] is None
    assert entry["score"] == 1.0 and entry["max_score"] == len(exercise_ids("04"))
    items = _by_id(entry)
    assert set(items) == set(exercise_ids("04"))  # 00.end_to_end ran but does not count
    assert items["04.compressed_param_count"]["passed"]
    assert "not implemented yet" in items["04.layer_learning_rates"]["message"]
    not_run = items["04.spectral_init"]
    assert not not_run["passed"] and not_run["message"].startswith("no function `spectral_init`")
    assert [error.split(":")[1].strip() for error in entry["cell_errors"]] == [
        "SyntaxError",
        "ZeroDivisionError",
    ]
    report = format_report(list((graded["complete"], entry)))
    assert "total: 6/10 over 2 notebook(s)" in report
    assert "❌ 04.spectral_init" in report and "✅ 04.compressed_param_count" in report


def test_an_endless_loop_stops_at_the_notebook_time_limit(tmp_path):
    path = _write(tmp_path / "00_loop.ipynb", _code(IMPORT, END_TO_END, "while True:\n    pass"))
    entry = grade_notebook(path, timeout=3)
    assert entry["score"] == 0.0 and entry["max_score"] == 2.0
    assert "did not finish within 3 s" in entry["error"] and "cell 4" in entry["error"]
    for item in entry["exercises"]:
        assert item["message"] == entry["error"] and item["score"] == 0.0
    # the time limit is the notebook's, not a cell's: start-up and clean-up add little
    assert entry["seconds"] < 3 + 30


def test_unreadable_and_unknown_notebooks_score_zero_without_a_kernel(tmp_path):
    broken = tmp_path / "03_broken.ipynb"
    broken.write_text("{ this is not json")
    entry = grade_notebook(broken)
    assert entry["lesson"] == "03" and entry["score"] == 0.0
    assert entry["max_score"] == len(exercise_ids("03"))
    assert entry["error"].startswith("could not read the notebook")
    assert all(item["message"] == entry["error"] for item in entry["exercises"])


def test_the_claimed_lesson_is_the_metadata_then_the_file_name():
    assert claimed_lesson("x/04_compression.ipynb", None) == "04"
    assert claimed_lesson("4-homework.ipynb", None) == "04"
    assert claimed_lesson("homework.ipynb", None) is None
    notebook = new_notebook(metadata={"lowdim_course": {"lesson": "2"}})
    assert claimed_lesson("04_x.ipynb", notebook) == "02"


def test_the_lesson_is_read_from_the_exercise_cells_not_the_metadata():
    cells = _code(IMPORT, PARAM_COUNT, RATES)
    notebook = new_notebook(cells=cells, metadata={"lowdim_course": {"lesson": "00"}})
    reading = read_notebook("00_homework.ipynb", notebook)
    assert reading.lesson == "04" and reading.error is None
    assert "says lesson 00 but its exercise cells are lesson 04's" in reading.notes[0]
    assert reading.answer_names["04.spectral_init"] == "spectral_init"
    # a check call names the function that answers (here a renamed one)
    renamed = new_notebook(cells=_code('check("04.spectral_init", my_init)'))
    assert read_notebook("x.ipynb", renamed).answer_names["04.spectral_init"] == "my_init"
    # no exercise cell: the metadata decides, and says so; an unknown lesson is an error
    empty = new_notebook(cells=_code("print(1)"), metadata={"lowdim_course": {"lesson": "03"}})
    assert read_notebook("x.ipynb", empty).lesson == "03"
    empty.metadata["lowdim_course"]["lesson"] = "99"
    unknown = read_notebook("x.ipynb", empty)
    assert unknown.lesson is None and "lesson 99 has no exercises" in unknown.error
    assert "could not tell" in read_notebook("x.ipynb", new_notebook()).error


def test_no_course_notebook_trips_a_static_flag():
    from lowdim_course.grading.inspection import code_cells, static_flags

    for folder in ("lessons", "solutions"):
        for path in sorted((ROOT / folder).glob("[0-9]*.ipynb")):
            notebook = nbformat.read(path, as_version=4)
            assert static_flags(code_cells(notebook)) == [], path.name


def test_notebook_paths_expand_folders_and_reject_missing_ones(tmp_path):
    (tmp_path / "b.ipynb").write_text("{}")
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "a-checkpoint.ipynb").write_text("{}")
    assert notebook_paths([tmp_path]) == [tmp_path / "a.ipynb", tmp_path / "b.ipynb"]
    with pytest.raises(ValueError, match="does not exist"):
        notebook_paths([tmp_path / "missing.ipynb"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"holds no \.ipynb"):
        notebook_paths([tmp_path / "empty"])
    with pytest.raises(ValueError, match="timeout"):
        grade_notebooks([], timeout=0)


def test_cli_grade_prints_a_table_writes_json_and_exits_0(tmp_path, capsys):
    broken = tmp_path / "01_broken.ipynb"
    broken.write_text("not a notebook")
    out = tmp_path / "out" / "grades.json"
    assert main(["grade", str(broken), "--json", str(out), "--timeout", "30"]) == 0
    printed = capsys.readouterr().out
    most = len(exercise_ids("01"))
    assert f"01_broken.ipynb (lesson 01): 0/{most}" in printed
    assert "❌ 01.half_way_time" in printed and f"total: 0/{most} over 1 notebook(s)" in printed
    data = json.loads(out.read_text())
    assert isinstance(data, list) and len(data) == 1
    assert {"notebook", "score", "max_score", "exercises"} <= set(data[0])
    assert data[0]["notebook"] == str(broken) and data[0]["score"] == 0


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["grade", "missing.ipynb"], "does not exist"),
        (["grade", "{folder}", "--timeout", "-5"], "timeout must be"),
        (["grade", "{folder}", "--timeout", "soon"], "invalid float value"),
        (["grade"], "required"),
    ],
)
def test_cli_grade_bad_usage_exits_2_with_one_line(arguments, words, tmp_path, capsys):
    (tmp_path / "00_x.ipynb").write_text("{}")
    arguments = [a.replace("{folder}", str(tmp_path)) for a in arguments]
    try:
        code = main(arguments)
    except SystemExit as exit_:  # argparse's own usage errors
        code = exit_.code
    assert code == 2
    error = capsys.readouterr().err
    assert words in error and error.count("\n") == 1


ROOT = Path(__file__).resolve().parent.parent
COURSE_NOTEBOOKS = sorted(path.name for path in (ROOT / "solutions").glob("[0-9]*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("name", COURSE_NOTEBOOKS)
def test_grade_scores_full_marks_on_solutions_and_zero_on_lessons(name):
    solved, lesson = grade_notebooks([ROOT / "solutions" / name, ROOT / "lessons" / name])
    assert solved["error"] is None and lesson["error"] is None
    assert solved["max_score"] >= 2 and solved["score"] == solved["max_score"], solved
    assert lesson["max_score"] == solved["max_score"] and lesson["score"] == 0, lesson
    assert all("not implemented yet" in item["message"] for item in lesson["exercises"])


def test_parallel_grading_gives_the_same_entries_as_one_at_a_time(tmp_path):
    paths = [
        _write(tmp_path / "04_a.ipynb", _code(IMPORT, SPECTRAL_INIT, PARAM_COUNT, RATES)),
        _write(tmp_path / "00_b.ipynb", _code(IMPORT, END_TO_END, RECOVERY_WRONG)),
        _write(tmp_path / "04_c.ipynb", _code(IMPORT, STUB, PARAM_COUNT)),
    ]
    seen = []
    parallel = grade_notebooks(paths, timeout=120, jobs=3, progress=lambda *a: seen.append(a))
    serial = grade_notebooks(paths, timeout=120, jobs=1)

    def comparable(entries):
        return [{k: v for k, v in entry.items() if k != "seconds"} for entry in entries]

    assert comparable(parallel) == comparable(serial)
    assert [entry["score"] for entry in serial] == [3.0, 1.0, 1.0]
    assert sorted(done for done, _, _ in seen) == [1, 2, 3] and {t for _, t, _ in seen} == {3}
    with pytest.raises(ValueError, match="jobs must be an integer >= 1"):
        grade_notebooks(paths, jobs=0)


def test_a_grader_bug_on_one_notebook_is_that_notebooks_error(tmp_path, monkeypatch):
    import lowdim_course.grading as grading

    def flaky(job, before):
        if job["label"].endswith("a.ipynb"):
            raise RuntimeError("boom")
        return {**grading.new_entry(job["label"]), "lesson": "00"}

    monkeypatch.setattr(grading, "_grade_in_worker", flaky)
    paths = [tmp_path / "a.ipynb", tmp_path / "b.ipynb"]
    entries = grade_notebooks(paths, jobs=2)
    assert entries[0]["error"] == "internal grader error: RuntimeError: boom"
    assert entries[1]["error"] is None and entries[1]["lesson"] == "00"


def _spin_on_every_cpu() -> list[subprocess.Popen]:
    """One process per CPU this process may use, each spinning ``while True: pass``."""
    return [
        subprocess.Popen([sys.executable, "-c", "while True: pass"])
        for _ in range(threads.available_cpus())
    ]


@pytest.mark.slow
def test_every_solution_gets_full_marks_beside_busy_neighbours():
    """A busy machine (one spinning process per CPU, and the notebooks graded in parallel)
    changes how long an answer takes, never its mark: no answer is told it timed out."""
    spinners = _spin_on_every_cpu()
    started = time.monotonic()
    try:
        entries = grade_notebooks([ROOT / "solutions" / name for name in COURSE_NOTEBOOKS])
        elapsed = time.monotonic() - started
        spun = [psutil.Process(spinner.pid).cpu_times().user for spinner in spinners]
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    # the neighbours were really busy: each had a good share of a core all along
    assert min(spun) > 0.2 * elapsed, (spun, elapsed)
    for entry in entries:
        assert entry["error"] is None and entry["cell_errors"] == [], entry
        assert entry["max_score"] >= 2 and entry["score"] == entry["max_score"], entry
        messages = " ".join(item["message"] for item in entry["exercises"])
        assert "did not return" not in messages and "endless loop" not in messages, entry
