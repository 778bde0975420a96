"""Hostile submissions: notebooks that attack the grader instead of answering the exercises.

Each route of attack is one notebook, built here with nbformat. The notebooks are graded together
once per module, by ``lowdim-course grade`` on one folder (``grade_notebooks`` with ``jobs=2``,
behind it), next to honest notebooks: every forged exercise must score 0 (or be flagged, with a
message that says so), and the honest notebooks graded in the same run must keep full marks.
Starting a kernel costs a few seconds per notebook, so only the time limit and the attacks on a
notebook graded at the same time have runs of their own.

The module's run is made with ``--no-sandbox``: these are the defences that still hold where
bubblewrap is missing (the notebooks here write probe files on the host, which a sandbox would
stop). What the sandbox adds is tested in test_grading_sandbox.py; what the grader cannot
prevent is listed in docs/grading.md ("What the grader is not").
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
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
    write_submission,
)

from lowdim_course.cli import main
from lowdim_course.exercises import exercise_ids
from lowdim_course.grading import (
    CSV_COLUMNS,
    TOTAL,
    grade_notebook,
    grade_notebooks,
    sandbox_status,
)

pytestmark = pytest.mark.slow  # grades hostile notebooks in Jupyter kernels

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_04 = ROOT / "solutions" / "04_compressing_width.ipynb"
TIMEOUT = 60  # seconds per notebook, as an instructor would set it

# ---------------------------------------------------------------------------------------------
# Honest answers
# ---------------------------------------------------------------------------------------------

LESSON_04 = [
    IMPORT,
    checked(SPECTRAL_INIT, "04.spectral_init"),
    checked(PARAM_COUNT, "04.compressed_param_count"),
    checked(RATES, "04.layer_learning_rates"),
    checked(COMPRESSED_STEP, "04.compressed_gd_step"),
    checked(NARROW_WIDTH, "04.narrow_width"),
]
LESSON_00 = [IMPORT, checked(END_TO_END, "00.end_to_end"), checked(RECOVERY, "00.recovery_error")]

# Wrong answers, each forged into a pass by one of the notebooks below.
WRONG_SPECTRAL_INIT = """
def spectral_init(surrogate, r_hat, depth, eps):
    d_out, d_in = surrogate.shape
    middle = [torch.zeros(r_hat, r_hat, dtype=torch.float64) for _ in range(depth - 2)]
    return [torch.zeros(r_hat, d_in, dtype=torch.float64), *middle,
            torch.zeros(d_out, r_hat, dtype=torch.float64)]
"""
WRONG_PARAM_COUNT = """
def compressed_param_count(d, r_hat, depth):
    return 0
"""
WRONG_RATES = """
def layer_learning_rates(depth, lr, alpha):
    return [lr] * depth
"""

# ---------------------------------------------------------------------------------------------
# Hostile cells
# ---------------------------------------------------------------------------------------------

DELETE_AROUND = """
import os, shutil
with open({probe!r}, "w") as file:
    file.write(os.getcwd())
for folder in (os.getcwd(), {submissions!r}):
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.remove(path)
shutil.rmtree({submissions!r}, ignore_errors=True)
"""

KILL_PARENT = "import os\nos.kill(os.getppid(), 9)"

# A process that outlives the notebook if it can: it waits for the gradebook, then writes over
# it and leaves a marker. It ignores every catchable signal.
DETACHED_CHILD = r"""
import os, signal, sys, time
for number in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(number, signal.SIG_IGN)
marker, *gradebook = sys.argv[1:]
deadline = time.monotonic() + 300
while time.monotonic() < deadline and not all(os.path.exists(p) for p in gradebook):
    time.sleep(0.1)
time.sleep(0.5)
for path in gradebook:
    with open(path, "w") as file:
        file.write("garbage\n")
with open(marker, "w") as file:
    file.write(str(os.getpid()))
"""

# Two ways out: a new session with an environment of its own (so no variable of the grader's
# follows it), and a double fork with setsid (re-parented away from the kernel).
DETACH = """
import os, subprocess, sys
CHILD = {child!r}
paths = [{json_path!r}, {csv_path!r}]
clean = {{"PATH": os.environ.get("PATH", "/usr/bin:/bin")}}
subprocess.Popen(
    [sys.executable, "-c", CHILD, {marker_popen!r}, *paths],
    start_new_session=True,
    env=clean,
    stdin=subprocess.DEVNULL,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
pid = os.fork()
if pid == 0:
    try:
        os.setsid()
        if os.fork() == 0:
            os.execve(sys.executable, [sys.executable, "-c", CHILD, {marker_fork!r}, *paths], clean)
    finally:
        os._exit(0)
os.waitpid(pid, 0)
"""

GRADE_LOG = """
import json, os
log = os.environ.get("LOWDIM_COURSE_GRADE_LOG")
fake = [{"id": i, "passed": True, "score": 1.0, "max_score": 1.0, "message": "passed (5/5 cases)"}
        for i in ("04.spectral_init", "04.compressed_param_count", "04.layer_learning_rates")]
if log:
    with open(log, "a") as file:
        for line in fake:
            file.write(json.dumps(line) + "\\n")
forged = json.dumps({"entry": {"score": 3.0, "max_score": 3.0}, "mac": "0" * 64})
with open(f"/proc/{os.getppid()}/fd/1", "w") as out:  # the worker's stdout, read by the grader
    out.write("\\n" + forged + "\\n")
"""

MONKEYPATCH = """
import lowdim_course.exercises.framework as f
from lowdim_course.exercises import REGISTRY, CheckResult

def passed(exercise, *args, **kwargs):
    return CheckResult(exercise.id, True, exercise.points, exercise.points, "passed (5/5 cases)")

f.judge = passed
f.check = lambda exercise_id, function, **kwargs: passed(REGISTRY[exercise_id])
REGISTRY["04.spectral_init"].compare = lambda *args: None
REGISTRY["04.spectral_init"].make_cases = lambda: [
    f.Case((torch.eye(2, dtype=torch.float64), 1, 2, 1.0), "trivial")
]
"""

# The same, with every name the grader's static reading knows spelled so that it cannot see it.
MONKEYPATCH_HIDDEN = """
import importlib
fw = importlib.import_module("lowdim_course.exer" + "cises.frame" + "work")
exercise = getattr(fw, "REGIS" + "TRY")["04.spectral_init"]
setattr(exercise, "compare", lambda *args: None)
setattr(exercise, "make_" + "cases", lambda: [
    fw.Case((torch.eye(2, dtype=torch.float64), 1, 2, 1.0), "trivial")
])
setattr(fw, "jud" + "ge", lambda exercise, *args: fw.CheckResult(
    exercise.id, True, exercise.points, exercise.points, "passed"))
"""

STACK_READER = """
import inspect

def layer_learning_rates(depth, lr, alpha):
    for info in inspect.stack()[1:]:
        for key in ("expected", "reference", "want"):
            value = info.frame.f_locals.get(key)
            if isinstance(value, list) and len(value) == depth:
                return value
    return [lr] * depth
check("04.layer_learning_rates", layer_learning_rates)
"""

TENSOR_LIAR = """
class AlwaysEqual(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in {"norm", "vector_norm", "matrix_norm", "dist", "__sub__", "sub", "__rsub__"}:
            return torch.zeros((), dtype=torch.float64)
        if name in {"allclose", "equal", "isclose", "__eq__"}:
            return True
        with torch._C.DisableTorchFunction():
            return func(*args, **(kwargs or {}))

    def norm(self, *args, **kwargs):
        return torch.zeros((), dtype=torch.float64)

    def __sub__(self, other):
        return torch.zeros((), dtype=torch.float64)

    __rsub__ = __sub__

def end_to_end(layers):
    rows, cols = layers[-1].shape[0], layers[0].shape[1]
    return torch.zeros(rows, cols, dtype=torch.float64).as_subclass(AlwaysEqual)
check("00.end_to_end", end_to_end)
"""

IMPORTED = """
from lowdim_course.networks import spectral_init
from lowdim_course.training import layer_learning_rates
check("04.spectral_init", spectral_init)
check("04.layer_learning_rates", layer_learning_rates)
"""

WRAPPER = """
from lowdim_course import networks

def spectral_init(*args):
    return networks.spectral_init(*args)
check("04.spectral_init", spectral_init)
"""

REFERENCE = """
from lowdim_course.exercises import get_exercise
spectral_init = get_exercise("04.spectral_init").reference
check("04.spectral_init", spectral_init)
"""

# The course's code called through a function compiled outside the notebook's cells.
TRAMPOLINE = """
from lowdim_course import networks
helper = eval("lambda *args: networks.spectral_init(*args)")

def spectral_init(surrogate, r_hat, depth, eps):
    return helper(surrogate, r_hat, depth, eps)
check("04.spectral_init", spectral_init)
"""

FROM_SOLUTIONS = """
import json
with open({path!r}) as file:
    cells = json.load(file)["cells"]
source = next(
    "".join(cell["source"]) for cell in cells
    if cell["cell_type"] == "code" and "def spectral_init(" in "".join(cell["source"])
)
exec(source)
check("04.spectral_init", spectral_init)
"""

FAKE_CHECK = """
def check(exercise_id, function, **kwargs):
    print(f"✅ {exercise_id}: passed (5/5 cases)")
"""

SLOW = "import time\ntime.sleep(0.9)"

# The per-run secret read from the memory of the process that runs the kernel, a fully marked
# entry signed with every candidate and written to that process's stdout, which is then killed
# so that its own line never comes.
FORGED_ENTRY = r"""
import hashlib, hmac, json, os, re
worker = os.getppid()
candidates = set()
with open(f"/proc/{worker}/maps") as maps, open(f"/proc/{worker}/mem", "rb", 0) as memory:
    for line in maps:
        fields = line.split()
        if not fields[1].startswith("rw"):
            continue
        start, end = (int(x, 16) for x in fields[0].split("-"))
        try:
            memory.seek(start)
            chunk = memory.read(end - start)
        except (OSError, ValueError, OverflowError):
            continue
        candidates.update(re.findall(rb"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])", chunk))
ids = ("04.compressed_param_count", "04.layer_learning_rates", "04.spectral_init")
entry = {
    "notebook": "x", "lesson": "04", "score": 3.0, "max_score": 3.0,
    "exercises": [{"id": i, "passed": True, "score": 1.0, "max_score": 1.0,
                   "message": "passed (5/5 cases)"} for i in ids],
    "error": None, "flags": [], "notes": [], "cell_errors": [], "seconds": 4.2,
}
text = json.dumps(entry, sort_keys=True, ensure_ascii=True).encode()
with open(f"/proc/{worker}/fd/1", "w") as out:
    for secret in candidates:
        mac = hmac.new(secret, text, hashlib.sha256).hexdigest()
        out.write("\n" + json.dumps({"entry": entry, "mac": mac}) + "\n")
os.kill(worker, 9)
"""

PARENT_OF = """
import os, time
def parent_of(pid):
    with open(f"/proc/{pid}/stat") as file:
        stat = file.read()
    return int(stat[stat.rfind(")") + 2:].split()[1])
"""

# The processes that grade the other notebooks: the grader's other children.
KILL_SIBLINGS = (
    PARENT_OF
    + """
mine = os.getppid()
grader, killed, end = parent_of(mine), 0, time.monotonic() + 30
while time.monotonic() < end and not killed:
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == mine:
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                worker = b"lowdim_course.grading" in file.read()
            if worker and parent_of(entry) == grader:
                os.kill(int(entry), 9)
                killed += 1
        except OSError:
            pass
    time.sleep(0.05)
"""
)

# The working directories of the other notebooks' kernels.
DELETE_SIBLINGS = """
import glob, os, shutil, time
mine = os.path.dirname(os.path.dirname(os.getcwd()))  # .../lowdim-grade-X (cwd: kernel/work)
deleted, end = 0, time.monotonic() + 30
while time.monotonic() < end and not deleted:
    for folder in glob.glob(os.path.join(os.path.dirname(mine), "lowdim-grade-*")):
        if folder != mine:
            shutil.rmtree(folder, ignore_errors=True)
            deleted += 1
    time.sleep(0.05)
"""


# ---------------------------------------------------------------------------------------------
# The submissions
# ---------------------------------------------------------------------------------------------


def _write(path: Path, sources, lesson=None) -> Path:
    return write_submission(path, sources, lesson, title="# A submission")


def _submissions(folder: Path, probe: Path, gradebook: dict[str, Path]) -> dict[str, Path]:
    """Every hostile notebook (and the honest ones) in ``folder``, by a short name."""
    lesson04_wrong = [
        IMPORT,
        checked(WRONG_SPECTRAL_INIT, "04.spectral_init"),
        checked(PARAM_COUNT, "04.compressed_param_count"),
        checked(RATES, "04.layer_learning_rates"),
    ]
    detach = {
        name: DETACH.format(
            child=DETACHED_CHILD,
            json_path=str(gradebook["json"]),
            csv_path=str(gradebook["csv"]),
            marker_popen=str(probe / f"{name}-popen.marker"),
            marker_fork=str(probe / f"{name}-fork.marker"),
        )
        for name in ("detach", "detach_kill")
    }
    notebooks = {
        "honest04": (LESSON_04, "04"),
        "honest00": (LESSON_00, None),
        # 1. deletes its working directory and the submissions folder
        "delete": (
            [
                *LESSON_00,
                DELETE_AROUND.format(probe=str(probe / "cwd.txt"), submissions=str(folder)),
            ],
            None,
        ),
        # 2. kills the process that runs its kernel
        "kill_parent": ([*LESSON_04, KILL_PARENT], None),
        # 3. leaves processes behind that write over the gradebook when it appears
        "detach": ([*LESSON_00, detach["detach"]], None),
        "detach_kill": ([*LESSON_00, detach["detach_kill"], KILL_PARENT], None),
        # 4. slow cells (under this run's time limit: see the test of the limit)
        "slow": ([*LESSON_00, *[SLOW] * 30], None),
        # 5a. the old file channel of the checks, and a fake signed line on stdout
        "grade_log": (
            [
                IMPORT,
                checked(SPECTRAL_INIT, "04.spectral_init"),
                checked(WRONG_PARAM_COUNT, "04.compressed_param_count"),
                checked(RATES, "04.layer_learning_rates"),
                GRADE_LOG,
            ],
            None,
        ),
        # 5b. the checker rewritten in the kernel, in plain sight and hidden from static reading
        "monkeypatch": ([IMPORT, MONKEYPATCH, *lesson04_wrong[1:]], None),
        "monkeypatch_hidden": ([IMPORT, MONKEYPATCH_HIDDEN, *lesson04_wrong[1:]], None),
        # 5c. the expected value read off the call stack
        "stack": ([*LESSON_04[:3], STACK_READER], None),
        # 5d. a tensor that says it equals anything (with zeros inside)
        "tensor_liar": ([IMPORT, TENSOR_LIAR, checked(RECOVERY, "00.recovery_error")], None),
        # 5e. the course's own implementation, four ways
        "imported": ([IMPORT, IMPORTED, checked(PARAM_COUNT, "04.compressed_param_count")], None),
        "wrapper": ([IMPORT, WRAPPER, *LESSON_04[2:]], None),
        "reference": ([IMPORT, REFERENCE, *LESSON_04[2:]], None),
        "trampoline": ([IMPORT, TRAMPOLINE, *LESSON_04[2:]], None),
        # 5e'. the grader's own signature forged, from the secret in memory
        "forged_entry": (["x = 1", FORGED_ENTRY], "04"),
        # 5f. the def cell exec'd from the course's solutions/
        "solutions": (
            [IMPORT, FROM_SOLUTIONS.format(path=str(SOLUTION_04)), *LESSON_04[2:]],
            None,
        ),
        # 5g. a metadata lesson that the exercise cells contradict
        "metadata_00": (LESSON_04, "00"),
        # 5h. a lesson that does not exist, and no exercise cell
        "lesson_99": (["x = 1"], "99"),
        # 5i. the check cells deleted: only the defs are left
        "defs_only": (
            ["import torch", SPECTRAL_INIT, PARAM_COUNT, RATES, COMPRESSED_STEP, NARROW_WIDTH],
            None,
        ),
        # 5j. check redefined to always say "passed"
        "fake_check": (
            [
                IMPORT,
                FAKE_CHECK,
                checked(SPECTRAL_INIT, "04.spectral_init"),
                checked(WRONG_PARAM_COUNT, "04.compressed_param_count"),
                checked(WRONG_RATES, "04.layer_learning_rates"),
            ],
            None,
        ),
        # 6. lesson 04 by its metadata, with its exercise cells deleted: no check ever ran
        "no_exercise_cells": (["x = 1", ""], "04"),
    }
    paths = {name: _write(folder / f"{name}.ipynb", *spec) for name, spec in notebooks.items()}
    # 5g. a lesson-00 notebook renamed as lesson 04's
    paths["renamed"] = _write(folder / "04_x.ipynb", LESSON_00)
    # 7. files that are not notebooks
    paths["not_utf8"] = folder / "not_utf8.ipynb"
    paths["not_utf8"].write_bytes(b"\xff\xfe\x00{not a notebook")
    paths["not_json"] = folder / "not_json.ipynb"
    paths["not_json"].write_text("{ this is not json")
    return paths


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """``lowdim-course grade`` on the folder of submissions; the gradebook and what it left."""
    folder = tmp_path_factory.mktemp("submissions")
    probe = tmp_path_factory.mktemp("probe")
    out = tmp_path_factory.mktemp("gradebook")
    gradebook = {"json": out / "grades.json", "csv": out / "grades.csv"}
    paths = _submissions(folder, probe, gradebook)
    grade_log = probe / "grade_log.jsonl"
    arguments = ["grade", str(folder), "--json", str(gradebook["json"])]
    arguments += ["--csv", str(gradebook["csv"]), "--timeout", str(TIMEOUT), "--jobs", "2"]
    arguments += ["--no-sandbox"]  # the defences that hold without one (test_grading_sandbox)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOWDIM_COURSE_GRADE_LOG", str(grade_log))
        code = main([*arguments, "--quiet"])
    finished = time.monotonic()
    written = {kind: path.read_bytes() for kind, path in gradebook.items()}
    entries = json.loads(written["json"])
    by_name = {Path(entry["notebook"]).name: entry for entry in entries}
    graded = {name: by_name.get(path.name) for name, path in paths.items()}
    return {
        "code": code,
        "folder": folder,
        "probe": probe,
        "paths": paths,
        "entries": entries,
        "graded": graded,
        "gradebook": gradebook,
        "written": written,
        "finished": finished,
        "grade_log": grade_log,
    }


def _items(entry: dict) -> dict:
    return {item["id"]: item for item in entry["exercises"]}


def _full_marks(entry: dict, lesson: str) -> None:
    assert entry is not None
    assert entry["lesson"] == lesson and entry["error"] is None, entry
    assert entry["flags"] == [] and entry["cell_errors"] == [], entry
    assert [item["id"] for item in entry["exercises"]] == exercise_ids(lesson)
    assert entry["score"] == entry["max_score"] == len(exercise_ids(lesson)), entry
    assert all(item["message"].startswith("passed") for item in entry["exercises"]), entry


def _forged(entry: dict, exercise_id: str, *words: str) -> dict:
    """The forged exercise scored 0, its message holding ``words``."""
    item = _items(entry)[exercise_id]
    assert not item["passed"] and item["score"] == 0.0 and item["max_score"] == 1.0, item
    for word in words:
        assert word in item["message"], item
    return item


# ---------------------------------------------------------------------------------------------
# The honest notebooks, graded next to the hostile ones
# ---------------------------------------------------------------------------------------------


def test_honest_notebooks_graded_next_to_hostile_ones_keep_full_marks(run):
    graded = run["graded"]
    _full_marks(graded["honest04"], "04")
    _full_marks(graded["honest00"], "00")


# ---------------------------------------------------------------------------------------------
# 1-3: the notebook attacks the files and processes around it
# ---------------------------------------------------------------------------------------------


def test_deleting_the_submissions_folder_takes_no_other_submission_with_it(run):
    # the notebook did delete the folder the submissions came from...
    assert not run["folder"].exists()
    # ...from a working directory of its own, outside that folder, removed after grading
    cwd = Path((run["probe"] / "cwd.txt").read_text())
    assert cwd != run["folder"] and run["folder"] not in cwd.parents
    assert not cwd.exists()
    # every other submission was graded from what was read before any notebook ran
    assert len(run["entries"]) == len(run["paths"])
    assert all(entry is not None for entry in run["graded"].values())
    _full_marks(run["graded"]["honest00"], "00")
    deleter = run["graded"]["delete"]
    assert deleter["score"] == 0.0 and deleter["max_score"] == 2.0
    assert any("deletes files" in flag for flag in deleter["flags"]), deleter
    assert all("flagged" in item["message"] for item in deleter["exercises"])


def test_killing_its_parent_is_an_error_of_that_notebook_only(run):
    entry = run["graded"]["kill_parent"]
    assert entry["score"] == 0.0
    assert "grading stopped" in entry["error"] and "kill its parent" in entry["error"], entry
    _full_marks(run["graded"]["honest04"], "04")


def test_detached_children_are_killed_before_the_gradebook_is_written(run):
    # the notebooks did start their children (no cell raised), and were graded
    assert run["graded"]["detach"]["cell_errors"] == []
    assert run["graded"]["detach"]["score"] == 2.0  # starting processes outside answers is no crime
    assert "kill its parent" in run["graded"]["detach_kill"]["error"]
    # a surviving child writes over the gradebook half a second after it appears
    time.sleep(max(0.0, run["finished"] + 7.0 - time.monotonic()))
    assert sorted(path.name for path in run["probe"].glob("*.marker")) == []
    for kind, path in run["gradebook"].items():
        assert path.read_bytes() == run["written"][kind], f"the {kind} gradebook was changed"


# ---------------------------------------------------------------------------------------------
# 4: the time limit
# ---------------------------------------------------------------------------------------------


def test_slow_cells_stop_at_the_notebook_time_limit(tmp_path):
    path = _write(tmp_path / "slow.ipynb", [*LESSON_00, *[SLOW] * 30])
    started = time.monotonic()
    entry = grade_notebook(path, timeout=8)
    wall = time.monotonic() - started
    assert entry["score"] == 0.0 and entry["max_score"] == 2.0
    assert "did not finish within 8 s" in entry["error"], entry
    stopped_in = int(entry["error"].rsplit("cell ", 1)[1].rstrip(")"))
    assert stopped_in < 20, entry  # not the 34th: 30 cells of 0.9 s take 27 s
    assert entry["seconds"] < 8 + 20 + 10, entry  # the cells, the checks, the kernel's start
    assert wall < entry["seconds"] + 10
    for item in entry["exercises"]:
        assert item["message"].startswith(entry["error"])


# ---------------------------------------------------------------------------------------------
# 5: forged answers
# ---------------------------------------------------------------------------------------------


def test_a_fake_grade_log_and_a_fake_signed_line_count_for_nothing(run):
    entry = run["graded"]["grade_log"]
    assert not run["grade_log"].exists()  # the kernel never saw the variable
    _forged(entry, "04.compressed_param_count", "flagged")
    assert entry["score"] == 0.0 and entry["max_score"] == len(exercise_ids("04"))
    assert any("grader's channel" in flag for flag in entry["flags"]), entry


def test_a_monkeypatched_checker_changes_no_score(run):
    entry = run["graded"]["monkeypatch"]
    _forged(entry, "04.spectral_init", "flagged")
    assert entry["score"] == 0.0 and entry["flags"], entry


def test_a_checker_patched_out_of_sight_of_the_static_reading_still_fails(run):
    entry = run["graded"]["monkeypatch_hidden"]
    assert entry["flags"] == [], entry  # nothing for the static reading: the run decides
    _forged(entry, "04.spectral_init")
    items = _items(entry)
    assert (
        items["04.compressed_param_count"]["passed"] and items["04.layer_learning_rates"]["passed"]
    )
    assert entry["score"] == 2.0


def test_reading_the_call_stack_is_flagged(run):
    entry = run["graded"]["stack"]
    _forged(entry, "04.layer_learning_rates", "flagged")
    assert entry["score"] == 0.0
    assert any("call stack" in flag for flag in entry["flags"]), entry


def test_a_tensor_that_claims_to_equal_anything_is_judged_by_its_numbers(run):
    entry = run["graded"]["tensor_liar"]
    assert entry["lesson"] == "00" and entry["flags"] == [], entry
    _forged(entry, "00.end_to_end", "wrong values")
    assert _items(entry)["00.recovery_error"]["passed"] and entry["score"] == 1.0


def test_the_course_imported_as_the_answer_is_flagged(run):
    entry = run["graded"]["imported"]
    for exercise_id in ("04.spectral_init", "04.layer_learning_rates"):
        _forged(entry, exercise_id, "flagged", "the course's own implementation")
    assert _items(entry)["04.compressed_param_count"]["passed"] and entry["score"] == 1.0


def test_a_wrapper_around_the_course_is_flagged(run):
    entry = run["graded"]["wrapper"]
    _forged(entry, "04.spectral_init", "flagged", "calls the course's own code")
    assert entry["score"] == len(exercise_ids("04")) - 1  # the honest answers beside it count


def test_the_exercise_reference_as_the_answer_is_flagged(run):
    entry = run["graded"]["reference"]
    _forged(entry, "04.spectral_init", "flagged", "the course's own implementation")
    assert entry["score"] == 0.0 and entry["flags"], entry


def test_a_trampoline_around_the_course_is_flagged(run):
    entry = run["graded"]["trampoline"]
    _forged(entry, "04.spectral_init", "flagged")


def _can_read_parent_memory() -> bool:
    """Whether a kernel may read its parent's memory here: root, or no Yama restriction."""
    try:
        scope = Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip()
    except OSError:
        scope = "0"
    return os.path.isdir("/proc") and (os.geteuid() == 0 or scope == "0")


@pytest.mark.skipif(not _can_read_parent_memory(), reason="the kernel cannot read the worker")
def test_an_entry_signed_with_the_secret_read_from_memory_is_refused(run):
    # As root the kernel can read the worker's secret and forge a signed entry; the grader's
    # own reading of the notebook still flags what the code does (/proc, kill).
    entry = run["graded"]["forged_entry"]
    assert entry["score"] == 0.0, entry
    assert any("/proc" in flag for flag in entry["flags"]), entry


def test_a_def_cell_exec_d_from_the_solutions_is_flagged(run):
    entry = run["graded"]["solutions"]
    assert entry["cell_errors"] == [], entry  # the solution's cell was found and run
    _forged(entry, "04.spectral_init", "flagged")
    assert entry["score"] == 0.0
    assert any("solutions/" in flag for flag in entry["flags"]), entry


def test_the_lesson_comes_from_the_exercise_cells_not_the_metadata_or_the_name(run):
    relabelled, renamed = run["graded"]["metadata_00"], run["graded"]["renamed"]
    for entry, claimed, lesson in ((relabelled, "00", "04"), (renamed, "04", "00")):
        assert entry["lesson"] == lesson
        assert entry["score"] == entry["max_score"] == len(exercise_ids(lesson)), entry
        assert any(
            f"says lesson {claimed}" in note and f"graded as lesson {lesson}" in note
            for note in entry["notes"]
        ), entry


def test_a_lesson_without_exercises_is_an_error_not_a_silent_zero(run):
    entry = run["graded"]["lesson_99"]
    assert entry["score"] == entry["max_score"] == 0.0 and entry["exercises"] == []
    assert "lesson 99" in entry["error"], entry


def test_answers_without_their_check_cells_are_still_graded(run):
    entry = run["graded"]["defs_only"]
    _full_marks(entry, "04")


def test_a_check_that_always_says_passed_changes_no_score(run):
    entry = run["graded"]["fake_check"]
    assert entry["flags"] == [] and entry["score"] == 1.0, entry
    _forged(entry, "04.compressed_param_count", "wrong value")
    _forged(entry, "04.layer_learning_rates")
    assert _items(entry)["04.spectral_init"]["passed"]


# ---------------------------------------------------------------------------------------------
# 6-7: no check ran; the gradebook is always written
# ---------------------------------------------------------------------------------------------


def test_a_notebook_where_no_check_ran_gets_an_entry_per_exercise(run):
    entry = run["graded"]["no_exercise_cells"]
    assert entry["lesson"] == "04" and entry["error"] is None, entry
    assert [item["id"] for item in entry["exercises"]] == exercise_ids("04")
    assert entry["score"] == 0.0 and entry["max_score"] == len(exercise_ids("04"))
    for item in entry["exercises"]:
        assert not item["passed"] and "no function" in item["message"], item
    assert any("no exercise cell" in note for note in entry["notes"]), entry


def test_the_gradebook_has_one_entry_per_file_whatever_the_files_did(run):
    assert run["code"] == 0
    _full_marks(run["graded"]["slow"], "00")  # 27 s of cells, under the run's limit of 60 s
    names = sorted(path.name for path in run["paths"].values())
    assert sorted(Path(entry["notebook"]).name for entry in run["entries"]) == names
    for name in ("not_utf8", "not_json"):
        entry = run["graded"][name]
        assert entry["score"] == 0.0 and "could not read the notebook" in entry["error"]
    rows = list(csv.DictReader(io.StringIO(run["written"]["csv"].decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    totals = [row for row in rows if row["exercise"] == TOTAL]
    assert sorted(Path(row["notebook"]).name for row in totals) == names
    assert rows[-1]["notebook"] == TOTAL
    assert rows[-1]["message"] == f"{len(names)} notebook(s)"
    score = sum(entry["score"] for entry in run["entries"])
    assert float(rows[-1]["score"]) == score
    assert os.path.getsize(run["gradebook"]["json"]) > 0


# ---------------------------------------------------------------------------------------------
# Attacks on the grader itself and on the notebooks graded beside
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", ["kill_workers", "delete_directories"])
def test_a_notebook_cannot_take_down_the_notebook_graded_beside_it(attack, tmp_path):
    cell = {"kill_workers": KILL_SIBLINGS, "delete_directories": DELETE_SIBLINGS}[attack]
    hostile = _write(tmp_path / "hostile.ipynb", [cell, *LESSON_00])
    # honest, and slow enough to be graded while the hostile notebook runs
    honest = _write(tmp_path / "honest.ipynb", ["import time\ntime.sleep(4)", *LESSON_04])
    private = tmp_path / "tmp"  # the grading directories of this test only, not of other runs
    private.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", str(private))
        entries = grade_notebooks([hostile, honest], timeout=TIMEOUT, jobs=2)
    _full_marks(entries[1], "04")
    if sandbox_status() is None:  # in a sandbox the attack reached nothing: graded as it is
        _full_marks(entries[0], "00")
    else:  # without one, one notebook at a time, and the attack is flagged
        assert entries[0]["score"] == 0.0 and entries[0]["flags"], entries[0]


# The same forgery with nothing for the static reading to see.
FORGED_OUT_OF_SIGHT = FORGED_ENTRY.replace('f"/proc/', 'f"/pr" f"oc/').replace(
    "os.kill(worker, 9)", 'getattr(os, "ki" "ll")(worker, 9)'
)


def _can_drop_ptrace() -> bool:
    return os.path.isdir("/proc") and os.geteuid() == 0 and shutil.which("setpriv") is not None


@pytest.mark.skipif(not _can_drop_ptrace(), reason="needs root, setpriv and /proc")
def test_a_worker_keeps_its_secret_from_a_kernel_without_ptrace_rights(tmp_path):
    # Root may read any process; an ordinary user may read its own processes' memory unless they
    # are not dumpable. Root without CAP_SYS_PTRACE stands in for that user here: the worker is
    # not dumpable, so its kernel can neither read the secret nor write to the worker's stdout.
    assert "/proc" not in FORGED_OUT_OF_SIGHT and "os.kill" not in FORGED_OUT_OF_SIGHT
    folder = tmp_path / "submissions"
    folder.mkdir()
    _write(folder / "forged.ipynb", ["x = 1", FORGED_OUT_OF_SIGHT], "04")
    book = tmp_path / "book.json"
    run = subprocess.run(
        ["setpriv", "--bounding-set=-sys_ptrace", sys.executable, "-m", "lowdim_course.cli",
         "grade", str(folder), "--json", str(book), "--quiet", "--timeout", str(TIMEOUT),
         "--no-sandbox"],
        capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    (entry,) = json.loads(book.read_text())
    assert entry["flags"] == [], entry  # the static reading saw nothing...
    # ...and nothing is forged
    assert entry["score"] == 0.0 and entry["max_score"] == len(exercise_ids("04")), entry
    assert any("PermissionError" in error for error in entry["cell_errors"]), entry
