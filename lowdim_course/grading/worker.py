"""Grade ONE notebook, in a process of its own: ``python -m lowdim_course.grading.worker``.

The grader starts one worker per submission, in a new session, and writes it a job on stdin:
``{"secret", "label", "text", "timeout", "startup_timeout", "check_timeout", "threads"}``. The
worker

1. reads which lesson the notebook is and which functions answer it (``inspection``);
2. runs the notebook's cells in a fresh kernel (``headless``), in an empty temporary working
   directory with its own IPython profile, under one deadline for all the cells;
3. runs the grader's own cell (``kernel_side.collect``), which calls each answer function on the
   hidden cases and sends back what it returned;
4. judges those results here (``judging``), never in the kernel;
5. kills every process the notebook started (``processes``) and removes the directory;
6. prints one line: the entry as JSON with an HMAC made with ``secret``, so that the grader
   ignores anything else written to this process's stdout.

The kernel is this process's child: a notebook that kills its parent kills this worker, not the
grader, which then reports it. Any error of the worker itself becomes the entry's ``error``.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from ..exercises.framework import one_line
from . import processes
from .inspection import parse_notebook, read_notebook
from .judging import NOT_RUN, score_exercise, unscored

KERNEL_SIDE = Path(__file__).with_name("kernel_side.py")
_INHERITED_OUT = ("LOWDIM_COURSE_GRADE_LOG", "JPY_PARENT_PID", "PYTEST_CURRENT_TEST")


def sign(secret: str, entry: dict) -> str:
    """HMAC-SHA256 of the entry's canonical JSON."""
    text = json.dumps(entry, sort_keys=True, ensure_ascii=True)
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def new_entry(label: str) -> dict:
    return {
        "notebook": label,
        "lesson": None,
        "score": 0.0,
        "max_score": 0.0,
        "exercises": [],
        "error": None,
        "flags": [],
        "notes": [],
        "cell_errors": [],
        "seconds": 0.0,
    }


def skeleton(label: str, text: str | None):
    """What the notebook's text alone decides: ``(entry, reading, notebook)``.

    The entry has the lesson, the notes, the static flags and, when the notebook cannot be
    graded (unreadable, no lesson), its ``error`` and zero items; ``reading`` and ``notebook``
    are then None. The grader builds the same skeleton on its side, so that a worker's entry can
    be checked against it and a worker that dies still leaves a full entry.
    """
    entry, notes = new_entry(label), []
    try:
        if text is None:
            raise ValueError("not a readable file")
        notebook = parse_notebook(text, notes)
    except Exception as exc:
        message = f"could not read the notebook: {type(exc).__name__}: {one_line(exc, 200)}"
        return _unreadable(entry, label, message), None, None
    reading = read_notebook(label, notebook)
    entry["lesson"], entry["flags"] = reading.lesson, reading.flags
    entry["notes"] = notes + reading.notes
    if reading.error is not None:
        entry["error"] = reading.error
        return entry, None, None
    return entry, reading, notebook


def grade(job: dict) -> dict:
    """The entry of one notebook (see the module doc); never raises for a bad notebook."""
    started = time.monotonic()
    entry, reading, notebook = skeleton(job["label"], job["text"])
    if reading is not None:
        try:
            _grade(entry, reading, notebook, job)
        except Exception as exc:  # the grader's own bug: said for every exercise, not hidden
            error = f"internal grader error: {type(exc).__name__}: {one_line(exc, 200)}"
            entry["error"] = error
            entry["exercises"] = [unscored(i, error) for i in reading.answer_names]
    total(entry)
    entry["seconds"] = round(time.monotonic() - started, 2)
    return entry


def total(entry: dict) -> None:
    entry["score"] = sum(item["score"] for item in entry["exercises"])
    entry["max_score"] = sum(item["max_score"] for item in entry["exercises"])


def _grade(entry: dict, reading, notebook, job: dict) -> None:
    token = secrets.token_hex(16)
    folder = Path(tempfile.mkdtemp(prefix="lowdim-grade-"))
    try:
        records, error = _run(notebook, reading, job, folder, token, entry)
    finally:
        processes.end_processes(token=token, root=os.getpid())
        shutil.rmtree(folder, ignore_errors=True)
    if error is not None:
        entry["error"] = error
        entry["exercises"] = [unscored(i, error) for i in reading.answer_names]
    else:
        entry["flags"] += records.get("flags", [])
        entry["exercises"] = [
            score_exercise(i, records["exercises"].get(i), entry["flags"])
            for i in reading.answer_names
        ]


def _unreadable(entry: dict, label: str, message: str) -> dict:
    from ..exercises import exercise_ids
    from .inspection import claimed_lesson

    lesson = claimed_lesson(label, None)
    entry["error"] = message
    try:
        ids = exercise_ids(lesson) if lesson else []
    except ValueError:
        ids = []
    entry["lesson"] = lesson if ids else None
    entry["exercises"] = [unscored(i, message) for i in ids]
    return entry


def _kernel_environment(folder: Path, token: str, threads: int | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in _INHERITED_OUT}
    env.update(
        {
            "MPLBACKEND": "Agg",
            "IPYTHONDIR": str(folder / "ipython"),  # no startup file of another notebook
            processes.TOKEN_VARIABLE: token,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    return env


def _run(notebook, reading, job, folder: Path, token: str, entry: dict):
    """Run the cells and the grader's cell; return (the kernel's records, error or None)."""
    from ..headless import DeadlineReached, HeadlessKernel, KernelDied, KernelStartError

    work = folder / "work"
    work.mkdir()
    kernel = HeadlessKernel(
        cwd=work,
        env=_kernel_environment(folder, token, job.get("threads")),
        startup_timeout=job["startup_timeout"],
    )
    try:
        kernel.start()
    except KernelStartError as exc:
        entry["retry"] = True  # perhaps not the notebook's fault: the grader tries it again alone
        return None, str(exc)
    try:
        timeout = job["timeout"]
        deadline = time.monotonic() + timeout
        index = None
        try:
            for index, cell in enumerate(notebook["cells"], start=1):
                if cell.get("cell_type") != "code" or not cell["source"].strip():
                    continue
                reply = kernel.run(cell["source"], deadline=deadline)
                if reply.get("status") != "ok":
                    name, value = reply.get("ename", "Error"), reply.get("evalue", "")
                    entry["cell_errors"].append(f"cell {index}: {name}: {one_line(value, 200)}")
        except DeadlineReached:
            return None, (
                f"the notebook did not finish within {timeout:g} s (endless loop?, stopped in "
                f"cell {index})"
            )
        except KernelDied:
            entry["retry"] = True
            return None, f"the kernel died while running cell {index}"
        return _collect(kernel, reading, job, entry)
    finally:
        kernel.shutdown()


def _collect(kernel, reading, job, entry):
    from ..headless import DeadlineReached, KernelDied

    nonce = secrets.token_hex(8)
    variable = f"_lowdim_grader_{nonce}"
    wanted = [[exercise_id, name] for exercise_id, name in reading.answer_names.items()]
    code = (
        "import importlib.util as _lowdim_u\n"
        f"_lowdim_s = _lowdim_u.spec_from_file_location('lowdim_grader_{nonce}', "
        f"{str(KERNEL_SIDE)!r})\n"
        "_lowdim_m = _lowdim_u.module_from_spec(_lowdim_s)\n"
        "_lowdim_s.loader.exec_module(_lowdim_m)\n"
        f"{variable} = _lowdim_m.collect({nonce!r}, {json.dumps(wanted)})\n"
        "del _lowdim_u, _lowdim_s, _lowdim_m\n"
    )
    try:
        reply = kernel.run(
            code,
            deadline=time.monotonic() + job["check_timeout"],
            user_expressions={"result": variable},
        )
    except DeadlineReached:
        return None, f"{NOT_RUN}: the grader's checks ran over {job['check_timeout']:g} s"
    except KernelDied:
        entry["retry"] = True
        return None, f"{NOT_RUN}: the kernel died while the grader's checks ran"
    try:
        if reply.get("status") != "ok":
            raise ValueError(f"{reply.get('ename')}: {reply.get('evalue')}")
        shown = reply["user_expressions"]["result"]
        if shown.get("status") != "ok":
            raise ValueError(f"{shown.get('ename')}: {shown.get('evalue')}")
        records = json.loads(ast.literal_eval(shown["data"]["text/plain"]))
        if records.get("nonce") != nonce or not isinstance(records.get("exercises"), dict):
            raise ValueError("the answer did not come from the grader's cell")
    except Exception as exc:
        return None, f"{NOT_RUN}: the grader's checks failed in the kernel ({one_line(exc, 200)})"
    return records, None


def main() -> int:
    processes.become_subreaper()
    processes.protect_memory()  # the kernel may not read our secret or write to our stdout
    job = json.loads(sys.stdin.read())
    sys.stdin.close()
    try:
        entry = grade(job)
    except Exception as exc:  # the grader's own bug: this notebook's error, not the run's end
        entry = new_entry(job.get("label", "?"))
        entry["error"] = f"internal grader error: {type(exc).__name__}: {one_line(exc, 200)}"
    processes.end_processes(root=os.getpid())
    line = json.dumps({"entry": entry, "mac": sign(job["secret"], entry)}, ensure_ascii=True)
    sys.stdout.write("\n" + line + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
