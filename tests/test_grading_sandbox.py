"""Each graded kernel in a bubblewrap sandbox: one notebook cannot change another's grade.

Four attacks that worked on the grader before it had a sandbox, each a hostile notebook graded
beside victims (``--jobs 2``):

(a) connect to the other kernels through their connection files and redefine their answers;
(b) plant an IPython startup file in the other grading folders;
(c) write a user kernelspec that every later kernel would run;
(d) edit the installed course's comparison code, then kill the kernel so that it is graded again.

With the sandbox the victims keep their scores, nothing of the attack is left after the run, and
a second run grades the course's own solutions in full. Without bubblewrap the grader says so
and grades one notebook at a time; attack (d) then really edits the course (a copy, here), and
the judge, read before the first notebook ran, ignores the edit.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from student_answers import END_TO_END, IMPORT, RECOVERY, checked, write_submission

from lowdim_course.cli import main
from lowdim_course.grading import grade_notebooks, sandbox, sandbox_status

pytestmark = pytest.mark.slow  # grades notebooks in Jupyter kernels

ROOT = Path(__file__).resolve().parents[1]
SOLUTION_00 = ROOT / "solutions" / "00_start_here.ipynb"
TIMEOUT = 90


def _sandbox_or_skip() -> None:
    """Skip where no sandbox can be made, or fail where one must be (``.ci/run`` installs
    bubblewrap and sets LOWDIM_REQUIRE_SANDBOX=1)."""
    found = sandbox.probe()
    if found.works:
        return
    if os.environ.get("LOWDIM_REQUIRE_SANDBOX") == "1":
        pytest.fail(f"LOWDIM_REQUIRE_SANDBOX=1, but no sandbox can be made: {found.reason}")
    pytest.skip(f"no sandbox here: {found.reason}")


LESSON_00 = [IMPORT, checked(END_TO_END, "00.end_to_end"), checked(RECOVERY, "00.recovery_error")]
WRONG_LESSON_00 = [
    IMPORT,
    "def end_to_end(layers):\n    return layers[0] * 0",
    "def recovery_error(W, M_star):\n    return W.sum() * 0",
]
# A victim still alive when the attacks run: its answers are defined, then it waits.
VICTIM = [*LESSON_00, "import time\ntime.sleep(12)"]

# (a) Every connection file in reach, each kernel told to answer 0 from now on.
ATTACK_CONNECTION_FILES = """
import glob, os, time
from jupyter_client import BlockingKernelClient
mine = os.environ.get("JUPYTER_RUNTIME_DIR", "?")  # .../lowdim-grade-X/kernel/run
base = os.path.dirname(os.path.dirname(os.path.dirname(mine)))  # where the grader works
patterns = [base + "/lowdim-grade-*/kernel/run/*.json", "/tmp/lowdim-grade-*/kernel/run/*.json"]
patterns += [os.path.expanduser("~/.local/share/jupyter/runtime/*.json")]
clients = {}
for _ in range(60):  # every kernel found is told again and again: its own cells come and go
    for path in sorted({found for pattern in patterns for found in glob.glob(pattern)}):
        if not path.startswith(mine) and path not in clients:
            try:
                clients[path] = BlockingKernelClient(connection_file=path)
                clients[path].load_connection_file()
                clients[path].start_channels()
            except Exception:
                pass
    for client in clients.values():
        try:
            client.execute("def end_to_end(layers):\\n    return layers[0] * 0")
            client.execute("def recovery_error(W, M_star):\\n    return W.sum() * 0")
        except Exception:
            pass
    time.sleep(0.25)
"""

# (b) A startup file in every other grading folder, wherever IPython might look.
ATTACK_STARTUP_FILES = """
import glob, os, time
mine = os.path.dirname(os.environ["HOME"])  # this notebook's folder: .../lowdim-grade-X/kernel
base = os.path.dirname(os.path.dirname(mine))  # where the grader makes its folders
payload = (  # after every cell, the victim's answer replaced by a wrong one
    "ip = get_ipython()\\n"
    "def sabotage(result):\\n"
    "    ip.user_ns['end_to_end'] = lambda layers: layers[0] * 0\\n"
    "ip.events.register('post_run_cell', sabotage)\\n"
)
for _ in range(600):  # outlives the victim graded beside it, so the next one starts meanwhile
    for folder in glob.glob(base + "/lowdim-grade-*") + glob.glob("/tmp/lowdim-grade-*"):
        for where in ("ipython", "kernel/home/.ipython"):
            startup = os.path.join(folder, where, "profile_default", "startup")
            if startup.startswith(mine) or not os.path.isdir(os.path.join(folder, "kernel")):
                continue
            try:
                os.makedirs(startup, exist_ok=True)
                with open(os.path.join(startup, "00-planted.py"), "w") as file:
                    file.write(payload)
            except OSError:
                pass
    time.sleep(0.05)
"""

# (c) A user kernelspec named python3, in every home it can name.
ATTACK_KERNELSPEC = """
import json, os
spec = {"argv": ["python3", "-c", "raise SystemExit(3)"], "display_name": "x", "language": "python"}
names = os.listdir("/home") if os.path.isdir("/home") else []
homes = [os.path.join("/home", name) for name in names]
for home in {os.path.expanduser("~"), "/root", *homes}:
    folder = os.path.join(home, ".local", "share", "jupyter", "kernels", "python3")
    try:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "kernel.json"), "w") as file:
            json.dump(spec, file)
    except OSError:
        pass
"""

# (d) The judge made to pass everything, then the kernel killed so that it is graded again.
ATTACK_THE_JUDGE = """
import lowdim_course, os, pathlib
judging = pathlib.Path(lowdim_course.__file__).parent / "grading" / "judging.py"
try:
    with open(judging, "a") as file:
        file.write(
            "\\n_real_score = score_exercise\\n"
            "def score_exercise(exercise_id, record, flags):\\n"
            "    item = _real_score(exercise_id, record, flags)\\n"
            "    item.update(passed=True, score=item['max_score'], message='passed')\\n"
            "    return item\\n"
        )
except OSError:
    pass
else:
    os.kill(os.getpid(), 9)
"""


def _write(path: Path, sources, lesson: str | None = "00") -> Path:
    return write_submission(path, sources, lesson)


def _full_marks(entry: dict) -> None:
    assert entry["error"] is None and entry["flags"] == [], entry
    assert entry["score"] == entry["max_score"] == 2.0, entry


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The grading folders of this test only, and a HOME of its own for the grader."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setenv("HOME", str(home))
    return folder


def _kernelspecs() -> dict:
    from jupyter_client.kernelspec import KernelSpecManager

    return KernelSpecManager().find_kernel_specs()


@pytest.mark.parametrize(
    "attack", ["connection_files", "startup_files", "kernelspec"], ids=["a", "b", "c"]
)
def test_a_sandboxed_notebook_cannot_touch_the_kernels_graded_beside_it(
    attack, tmp_path, private_tmp
):
    _sandbox_or_skip()
    cell = {
        "connection_files": ATTACK_CONNECTION_FILES,
        "startup_files": ATTACK_STARTUP_FILES,
        "kernelspec": ATTACK_KERNELSPEC,
    }[attack]
    specs_before = _kernelspecs()
    hostile = _write(tmp_path / "a_hostile.ipynb", [cell, *WRONG_LESSON_00])
    victims = [_write(tmp_path / f"victim_{i}.ipynb", VICTIM) for i in range(3)]
    entries = grade_notebooks([hostile, *victims], timeout=TIMEOUT, jobs=2)
    assert entries[0]["score"] == 0.0 and entries[0]["error"] is None, entries[0]
    for entry in entries[1:]:
        _full_marks(entry)
    # Nothing persists: no grading folder left, no kernelspec, and the next run grades in full.
    assert list(private_tmp.iterdir()) == []
    assert _kernelspecs() == specs_before
    for home in ("/root", str(Path.home())):
        assert not Path(home, ".local/share/jupyter/kernels/python3/kernel.json").exists()
    _full_marks(grade_notebooks([SOLUTION_00], timeout=TIMEOUT, jobs=1)[0])


@pytest.mark.parametrize(
    "attack", ["connection_files", "startup_files"], ids=["a-control", "b-control"]
)
def test_the_attacks_are_real_two_at_a_time_without_a_sandbox(
    attack, tmp_path, private_tmp, monkeypatch
):
    """The control: with neither a sandbox nor the fallback's one-at-a-time (a combination the
    grader never uses, forced here), attacks (a) and (b) do take a victim's marks."""
    import lowdim_course.grading as grading

    monkeypatch.setattr(grading, "_without_line", lambda found: None)
    monkeypatch.setattr(grading, "_sandbox_job", lambda found: None)
    cell = {"connection_files": ATTACK_CONNECTION_FILES, "startup_files": ATTACK_STARTUP_FILES}
    hostile = _write(tmp_path / "a_hostile.ipynb", [cell[attack], *WRONG_LESSON_00])
    victims = [_write(tmp_path / f"victim_{i}.ipynb", VICTIM) for i in range(3)]
    entries = grade_notebooks([hostile, *victims], timeout=TIMEOUT, jobs=2)
    assert min(entry["score"] for entry in entries[1:]) < 2.0, entries


def _course_copy(tmp_path: Path) -> Path:
    """A copy of the package the grader and its kernels import instead of the installed one."""
    parent = tmp_path / "course"
    shutil.copytree(ROOT / "lowdim_course", parent / "lowdim_course")
    return parent


def _grade_with_copy(parent: Path, folder: Path, *options: str) -> tuple[list[dict], str]:
    book = parent / "book.json"
    env = {**os.environ, "PYTHONPATH": str(parent)}
    run = subprocess.run(
        [sys.executable, "-m", "lowdim_course", "grade", str(folder), "--json", str(book),
         "--quiet", "--timeout", str(TIMEOUT), "--jobs", "2", *options],
        capture_output=True, text=True, timeout=900, check=False, cwd=parent, env=env,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(book.read_text()), run.stdout


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("with_sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_d_an_edited_judge_changes_no_grade(with_sandbox, tmp_path, private_tmp):
    if with_sandbox:
        _sandbox_or_skip()
    parent = _course_copy(tmp_path)
    judging = parent / "lowdim_course" / "grading" / "judging.py"
    before = _digest(judging)
    folder = tmp_path / "submissions"
    folder.mkdir()
    _write(folder / "a_hostile.ipynb", [IMPORT, ATTACK_THE_JUDGE, *WRONG_LESSON_00[1:]])
    _write(folder / "b_wrong.ipynb", WRONG_LESSON_00)
    shutil.copy(SOLUTION_00, folder / "c_solution.ipynb")
    entries, printed = _grade_with_copy(parent, folder, *([] if with_sandbox else ["--no-sandbox"]))
    hostile, wrong, solution = entries
    assert hostile["score"] == 0.0 and wrong["score"] == 0.0, entries
    _full_marks(solution)
    if with_sandbox:
        assert _digest(judging) == before  # read-only in the sandbox
        assert "each notebook in a bubblewrap sandbox" in printed.splitlines()[0]
    else:
        assert _digest(judging) != before  # the attack worked on the files...
        assert "WITHOUT a sandbox" in printed.splitlines()[0]  # ...said on the first line
        assert all("WITHOUT a sandbox" in entry["notes"][0] for entry in entries)


def test_without_bubblewrap_the_grader_says_so_and_grades_one_at_a_time(
    tmp_path, private_tmp, monkeypatch, capsys
):
    monkeypatch.setattr(sandbox, "find_bwrap", lambda: None)
    sandbox.probe.cache_clear()
    try:
        assert "bubblewrap (bwrap) is not installed" in sandbox_status()
        with pytest.raises(ValueError, match="sandbox=True"):
            grade_notebooks([SOLUTION_00], sandbox=True)
        book = tmp_path / "book.json"
        folder = tmp_path / "submissions"
        folder.mkdir()
        shutil.copy(SOLUTION_00, folder / "solution.ipynb")
        assert main(["grade", str(folder), "--json", str(book), "--quiet"]) == 0
    finally:
        sandbox.probe.cache_clear()
    first = capsys.readouterr().out.splitlines()[0]
    assert "WITHOUT a sandbox (bubblewrap (bwrap) is not installed)" in first
    (entry,) = json.loads(book.read_text())
    _full_marks(entry)
    assert entry["notes"][0].startswith("graded WITHOUT a sandbox"), entry
    # a private HOME per kernel even so: nothing written to the grader's
    assert list(Path(os.environ["HOME"]).iterdir()) == []


# What the grader's cell used to pass its results through, replaced before it runs; and forged
# frames written to every pipe the kernel holds (the results pipe among them).
PATCHED_CHANNELS = """
import importlib.util, json, os, stat
real_dumps = json.dumps
def forging_dumps(obj, *args, **kwargs):  # the kernel's own messages still go through
    if isinstance(obj, dict) and "exercises" in obj:
        obj = {**obj, "exercises": {}}
    return real_dumps(obj, *args, **kwargs)
json.dumps = forging_dumps
importlib.util.spec_from_file_location = lambda *args, **kwargs: None
get_ipython().display_formatter.formatters["text/plain"].for_type(str, lambda s, p, c: p.text("0"))
for fd in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, b'lowdim-grader-frame 0123 2\\n{}')
    except OSError:
        pass
"""


def test_the_results_channel_ignores_what_the_notebook_patched(tmp_path, private_tmp):
    right = _write(tmp_path / "right.ipynb", [*LESSON_00, PATCHED_CHANNELS])
    wrong = _write(tmp_path / "wrong.ipynb", [*WRONG_LESSON_00, PATCHED_CHANNELS])
    right_entry, wrong_entry = grade_notebooks([right, wrong], timeout=TIMEOUT, jobs=2)
    _full_marks(right_entry)
    assert wrong_entry["error"] is None and wrong_entry["score"] == 0.0, wrong_entry
    for item in wrong_entry["exercises"]:
        assert "grader's checks" not in item["message"], item  # judged, not lost on the way
