"""Grade submitted lesson notebooks: each one run headless, alone, and judged by the grader.

``grade_notebooks(paths, timeout=..., jobs=...)`` returns one entry per notebook, always:

* every submission is read into memory before the first one runs, so a notebook that deletes
  files cannot take another's submission with it;
* each notebook is graded by a worker process of its own (``worker``), in a new session, with
  the kernel in an empty temporary directory; when the worker ends, every process the notebook
  started has been killed (``processes``), and the grader adopts and kills any orphan whose
  worker was killed;
* the lesson comes from the exercise cells (``inspection``), the answers are called by the
  grader's own cell and judged in the worker's process (``kernel_side``, ``judging``), and the
  entry reaches the grader signed with a per-run secret;
* ``timeout`` bounds the notebook's cells together; the kernel's start-up (``startup_timeout``)
  and the grader's checks afterwards (``check_timeout``) have allowances of their own.

An entry is ``{"notebook", "lesson", "score", "max_score", "exercises": [{"id", "passed",
"score", "max_score", "message"}], "error", "flags", "notes", "cell_errors", "seconds"}``.
``format_report``, ``format_csv`` and ``format_json`` turn a list of them into the gradebook
(``report``: no text of a notebook can repaint the printed report or run in a spreadsheet).
Each kernel runs in a bubblewrap sandbox where one can be made (``sandbox``), and the judge's
code is read once, before any notebook runs (``sealed``); docs/grading.md says what that
prevents and what it does not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..validation import check_positive
from . import processes
from . import sandbox as _sandbox
from . import sealed as _sealed
from .inspection import decode_notebook
from .judging import NOT_RUN, unscored
from .report import (
    CSV_COLUMNS,
    TOTAL,
    format_csv,
    format_entry,
    format_json,
    format_report,
    printable,
)
from .worker import new_entry, sign, skeleton, total

DEFAULT_TIMEOUT = 300.0
STARTUP_TIMEOUT = 60.0
CHECK_TIMEOUT = 180.0
_MARGIN = 30.0  # for the worker's own start and clean-up


def default_jobs() -> int:
    """The CPUs this process may use (its affinity mask, which containers narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def grade_notebook(path, *, timeout: float = DEFAULT_TIMEOUT, **options) -> dict:
    """The entry of one notebook (see the module doc)."""
    return grade_notebooks([path], timeout=timeout, jobs=1, **options)[0]


def grade_notebooks(
    paths,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    jobs: int | None = None,
    startup_timeout: float = STARTUP_TIMEOUT,
    check_timeout: float = CHECK_TIMEOUT,
    sandbox: bool | None = None,
    progress=None,
) -> list[dict]:
    """One entry per path, in order; ``jobs`` notebooks at a time (default: the CPU count).

    Each kernel runs in a bubblewrap sandbox (``sandbox.py``) when one can be made here;
    ``sandbox=False`` grades without (``True`` requires one: ValueError where there is none).
    Without a sandbox, notebooks are graded one at a time and every entry says so in its
    ``notes`` (``sandbox_status`` gives the line to print first). ``progress(done, total,
    entry)`` is called as each notebook finishes. Never raises for a bad notebook: its entry
    carries score 0 and the reason in ``error``.
    """
    if os.name != "posix":
        raise ValueError(
            "grading needs Linux or macOS (the kernel's Unix sockets and results pipe); on "
            "Windows, grade in WSL or a Linux container"
        )
    timeout = check_positive("timeout", timeout)
    startup_timeout = check_positive("startup_timeout", startup_timeout)
    check_timeout = check_positive("check_timeout", check_timeout)
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    found = _sandbox.probe() if sandbox is not False else None
    if sandbox and not found.works:
        raise ValueError(f"sandbox=True, but no sandbox can be made here: {found.reason}")
    without = _without_line(found)
    if without is not None:
        jobs = 1  # notebooks that share a user and a /tmp must not run side by side
    paths = [Path(path) for path in paths]
    read = [_read_text(path) for path in paths]  # all of them before any notebook runs
    sealed_code = _sealed.snapshot()  # the judge, read before any notebook runs (sealed.py)
    texts, decoded = [text for text, _ in read], [note for _, note in read]
    secret = secrets.token_hex(32)
    # One thread per kernel: parallel kernels must not fight over the cores, and two threads on a
    # busy machine spin (lesson 05 ran in 7-36 s instead of 3 s with one other busy process; one
    # thread graded it in 4.1-4.4 s: benchmarks/results/headless-stability-loaded.md).
    limits = {
        "timeout": float(timeout),
        "startup_timeout": float(startup_timeout),
        "check_timeout": float(check_timeout),
        "threads": 1,
        "sandbox": None if without else _sandbox_job(found),
        "sealed": sealed_code,
    }
    done, lock = [0], threading.Lock()
    before = _children()  # other code's subprocesses: never touched

    def one(index: int, alone: bool = False) -> dict:
        job = {"secret": secret, "label": str(paths[index]), "text": texts[index], **limits}
        try:
            entry = _grade_in_worker(job, before)
        except Exception as exc:  # the grader's own bug: this notebook's error, not the run's end
            entry = new_entry(job["label"])
            entry["error"] = f"internal grader error: {type(exc).__name__}: {exc}"
        if decoded[index] and decoded[index] not in entry["notes"]:
            entry["notes"].insert(0, decoded[index])
        if without is not None:
            entry["notes"].insert(0, without)
        if alone or not (entry.get("retry") and jobs > 1):
            with lock:
                done[0] += 1
                if progress is not None:
                    progress(done[0], len(paths), entry)
        return entry

    adopted = processes.become_subreaper(True)
    protected = processes.protect_memory(True)
    try:
        with ThreadPoolExecutor(max_workers=min(jobs, max(1, len(paths)))) as pool:
            entries = list(pool.map(one, range(len(paths))))
        # A kernel that died, or a worker that was killed, may be another notebook's doing
        # (graded at the same time): such notebooks are graded again, alone, at the end.
        for index, entry in enumerate(entries):
            if entry.get("retry") and jobs > 1:
                entries[index] = one(index, alone=True)
                if entries[index].get("retry"):
                    entries[index]["notes"].append("graded again alone, with the same result")
    finally:
        if adopted:
            processes.become_subreaper(False)
        if protected:
            processes.protect_memory(False)
    for entry in entries:
        entry.pop("retry", None)
    return entries


def sandbox_status(sandbox: bool | None = None) -> str | None:
    """None when ``grade_notebooks(..., sandbox=sandbox)`` runs its kernels in a sandbox here;
    else the line that says they run without one, and why (printed first, kept in each entry)."""
    return _without_line(_sandbox.probe() if sandbox is not False else None)


def _without_line(found: _sandbox.Probe | None) -> str | None:
    if found is not None and found.works:
        return None
    reason = found.reason if found is not None else "asked for: --no-sandbox"
    return (
        f"graded WITHOUT a sandbox ({reason}): one notebook at a time, each with a private "
        "HOME, but with the grader's user rights (docs/grading.md, 'Without a sandbox')"
    )


def _sandbox_job(found: _sandbox.Probe) -> dict:
    """The probe as the worker rebuilds it (``sandbox.Probe(**job["sandbox"])``)."""
    return dataclasses.asdict(found)


def _read_text(path: Path) -> tuple[str | None, str | None]:
    """The file's text (None when it cannot be read) and how it was decoded, if not as UTF-8."""
    try:
        return decode_notebook(path.read_bytes())
    except OSError:
        return None, None


_live_workers: set[int] = set()
_workers_lock = threading.Lock()


def _grade_in_worker(job: dict, before: set[int]) -> dict:
    """Run ``worker`` on one job: its signed entry checked against what the grader reads in
    the notebook itself, or that reading with an error saying what went wrong."""
    started = time.monotonic()
    expected, reading, _ = skeleton(job["label"], job["text"], sandboxed=bool(job.get("sandbox")))
    if reading is None:  # unreadable, or no lesson: nothing to run
        total(expected)
        return expected
    budget = job["timeout"] + job["startup_timeout"] + job["check_timeout"] + _MARGIN
    with _workers_lock:  # no orphan hunt may see this worker before it is known
        worker = subprocess.Popen(
            [sys.executable, "-c", _sealed.BOOTSTRAP],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the notebook cannot signal the grader's process group
            env=_worker_environment(),
        )
        _live_workers.add(worker.pid)
    try:
        output, _ = worker.communicate(json.dumps(job).encode(), timeout=budget)
        problem = None
    except subprocess.TimeoutExpired:
        output, problem = b"", f"grading did not finish within {budget:g} s"
    finally:
        processes.end_processes(root=worker.pid, group=worker.pid, reap=False)
        worker.kill()
        worker.wait()
        with _workers_lock:
            _live_workers.discard(worker.pid)
        _end_orphans(before)
    entry = _signed_entry(output, job["secret"])
    ids = list(reading.answer_names)
    if entry is not None and [item.get("id") for item in entry.get("exercises", [])] != ids:
        entry, problem = None, "the grading result did not match the notebook's exercises"
    if entry is None:
        entry = expected
        entry["error"] = problem or (
            "grading stopped: the process grading this notebook ended without a result "
            f"(exit code {worker.returncode}; did the notebook kill its parent process?)"
        )
        entry["exercises"] = [unscored(i, entry["error"]) for i in ids]
        entry["retry"] = problem is None
        entry["seconds"] = round(time.monotonic() - started, 2)
    # What the notebook's text says is the grader's own reading, whatever the worker sent.
    entry["notebook"], entry["lesson"] = job["label"], expected["lesson"]
    entry["notes"] = _merged(expected["notes"], entry.get("notes", []))
    entry["flags"] = _merged(expected["flags"], entry.get("flags", []))
    if expected["flags"]:
        message = f"flagged for review: {expected['flags'][0]}"
        for item in entry["exercises"]:
            if item["passed"]:
                item.update(passed=False, score=0.0, message=message)
    total(entry)
    return entry


def _merged(ours: list, theirs: list) -> list:
    return [*ours, *(line for line in theirs if line not in ours)]


def _worker_environment() -> dict:
    """Ours, with this package importable (also from a source tree that is not installed)."""
    env = dict(os.environ)
    package_parent = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    return env


def _signed_entry(output: bytes, secret: str) -> dict | None:
    """The last line of the worker's output that carries a valid signature."""
    for line in reversed(output.decode("utf-8", errors="replace").splitlines()):
        try:
            message = json.loads(line)
            entry, mac = message["entry"], message["mac"]
        except (ValueError, TypeError, KeyError):
            continue
        if isinstance(entry, dict) and isinstance(mac, str):
            if secrets.compare_digest(mac, sign(secret, entry)):
                return entry
    return None


def _children() -> set[int]:
    if not os.path.isdir("/proc"):
        return set()
    me = os.getpid()
    return {pid for pid, parent in processes.parents().items() if parent == me}


def _end_orphans(before: set[int]) -> None:
    """Kill what was re-parented to the grader (orphans of a killed worker), and reap it."""
    with _workers_lock:
        keep = set(_live_workers) | before
        for pid in _children() - keep:
            processes.end_processes(root=pid, reap=False)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        processes.reap_children(keep=keep)


def notebook_paths(paths) -> list[Path]:
    """Expand folders to the ``*.ipynb`` files in them (sorted, checkpoints skipped).

    ValueError names a path that does not exist or a folder without notebooks.
    """
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(
                item
                for item in path.rglob("*.ipynb")
                if ".ipynb_checkpoints" not in item.parts and item.is_file()
            )
            if not inside:
                raise ValueError(f"notebook folder {str(path)!r} holds no .ipynb file")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise ValueError(f"notebook {str(path)!r} does not exist")
    return found


__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_TIMEOUT",
    "NOT_RUN",
    "TOTAL",
    "default_jobs",
    "format_csv",
    "format_entry",
    "format_json",
    "format_report",
    "grade_notebook",
    "grade_notebooks",
    "notebook_paths",
    "printable",
    "sandbox_status",
]
