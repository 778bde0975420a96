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

import contextlib
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
from . import processes, sandbox, sealed
from .channel import ResultsPipe
from .inspection import parse_notebook, read_notebook
from .judging import NOT_RUN, score_exercise, unscored


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


def skeleton(label: str, text: str | None, *, sandboxed: bool = False):
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
    reading = read_notebook(label, notebook, sandboxed=sandboxed)
    entry["lesson"], entry["flags"] = reading.lesson, reading.flags
    entry["notes"] = notes + reading.notes
    if reading.error is not None:
        entry["error"] = reading.error
        return entry, None, None
    return entry, reading, notebook


def grade(job: dict) -> dict:
    """The entry of one notebook (see the module doc); never raises for a bad notebook."""
    started = time.monotonic()
    entry, reading, notebook = skeleton(
        job["label"], job["text"], sandboxed=bool(job.get("sandbox"))
    )
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
    folder = _grading_folder()
    try:
        records, error = _run(notebook, reading, job, folder, token, entry)
    finally:
        processes.end_processes(token=token, root=os.getpid())
        _remove(folder)
    if error is not None:
        entry["error"] = error
        entry["exercises"] = [unscored(i, error) for i in reading.answer_names]
    else:
        entry["flags"] += records.get("flags", [])
        entry["exercises"] = [
            score_exercise(i, records["exercises"].get(i), entry["flags"])
            for i in reading.answer_names
        ]


_SOCKET_PATH_MAX = 107  # bytes of a Unix socket's path (Linux), the kernel's run/k-N included


def _grading_folder() -> Path:
    """A new private folder in the temporary directory, or in /tmp where TMPDIR is so deep that
    the kernel's socket paths in it would be too long for a Unix socket."""
    folder = Path(tempfile.mkdtemp(prefix="lowdim-grade-"))
    if len(os.fsencode(folder / "kernel" / "run" / "k-99")) > _SOCKET_PATH_MAX:
        folder.rmdir()
        folder = Path(tempfile.mkdtemp(prefix="lowdim-grade-", dir="/tmp"))
    return folder


def _remove(folder: Path) -> None:
    """Delete the notebook's folder, also where it took away its own write permissions."""

    def writable_again(function, path, _):
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            function(path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(folder, onexc=writable_again)
    else:
        shutil.rmtree(folder, onerror=writable_again)


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


# What the kernel keeps of the worker's environment: the rest (the grader's own variables, a
# token of the instructor's) is not the notebook's to read.
_KEPT_VARIABLES = ("PATH", "LANG", "LANGUAGE", "TZ", "PYTHONPATH", "PYTHONHASHSEED")
_KEPT_PREFIXES = ("LC_", "LOWDIM_COURSE_")


def _kernel_environment(kernel_folder: Path, token: str, threads: int | None) -> dict:
    """A private HOME, IPython, Jupyter, matplotlib and temporary folder, all in
    ``kernel_folder`` (a startup file or kernelspec a notebook plants lands there and dies with
    it), the per-notebook token, and the thread count."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in _KEPT_VARIABLES or key.startswith(_KEPT_PREFIXES)
    }
    env.pop("LOWDIM_COURSE_GRADE_LOG", None)
    home = kernel_folder / "home"
    env.update(
        {
            "HOME": str(home),
            "IPYTHONDIR": str(home / ".ipython"),
            "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
            "JUPYTER_DATA_DIR": str(home / ".local" / "share" / "jupyter"),
            "JUPYTER_RUNTIME_DIR": str(kernel_folder / "run"),
            "MPLCONFIGDIR": str(home / ".config" / "matplotlib"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "TMPDIR": str(kernel_folder / "tmp"),
            "MPLBACKEND": "Agg",
            processes.TOKEN_VARIABLE: token,
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if threads:
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[name] = str(threads)
    return env


def _start_kernel(job: dict, folder: Path, token: str, pipe):
    """A started ``HeadlessKernel`` whose one writable folder is ``folder / "kernel"``: in a
    bubblewrap sandbox when the job says one works here (``sandbox``), else a plain process."""
    from ..headless import HeadlessKernel

    kernel_folder = folder / "kernel"
    for name in ("work", "home", "run", "tmp"):
        (kernel_folder / name).mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    owner = None
    if job.get("sandbox"):
        box = sandbox.KernelSandbox(kernel_folder, sandbox.Probe(**job["sandbox"]))
        argv, owner = box.wrap(argv, cwd=kernel_folder / "work"), box.owner
    kernel = HeadlessKernel(
        cwd=kernel_folder / "work",
        env=_kernel_environment(kernel_folder, token, job.get("threads")),
        startup_timeout=job["startup_timeout"],
        argv=argv,
        connection_file=kernel_folder / "run" / "k.json",  # sockets k-1 ... k-5 beside it
        connection_file_owner=owner,
        launch={"pass_fds": (pipe.write_fd,)},
    )
    try:
        kernel.start()
    finally:
        pipe.kernel_started()
    return kernel


def _run(notebook, reading, job, folder: Path, token: str, entry: dict):
    """Run the cells and the grader's cell; return (the kernel's records, error or None)."""
    from ..headless import DeadlineReached, KernelDied, KernelStartError

    pipe = ResultsPipe()
    try:
        kernel = _start_kernel(job, folder, token, pipe)
    except KernelStartError as exc:
        pipe.close()
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
        return _collect(kernel, reading, job, entry, pipe)
    finally:
        kernel.shutdown()
        pipe.close()


def grader_cell(job: dict, nonce: str, wanted: list, fd: int) -> str:
    """The grader's own cell: ``kernel_results`` and ``kernel_side`` from the sealed copy, run
    in a namespace of their own, then ``collect`` sent down the pipe ``fd``."""
    namespace = f"_lowdim_grader_{nonce}"
    lines = [f"{namespace} = {{'__name__': 'lowdim_grader_{nonce}'}}"]
    for module in ("kernel_results", "kernel_side"):
        path, text = sealed.source(job, f"lowdim_course.grading.{module}")
        lines.append(f"{namespace}['__file__'] = {path!r}")
        lines.append(f"exec(compile({text!r}, {path!r}, 'exec'), {namespace})")
    lines.append(
        f"{namespace}['send']({fd}, {nonce!r}, {namespace}['collect']({nonce!r}, {wanted!r}))"
    )
    lines.append(f"del {namespace}")
    return "\n".join(lines) + "\n"


def _collect(kernel, reading, job, entry, pipe):
    from ..headless import DeadlineReached, KernelDied

    nonce = secrets.token_hex(8)
    wanted = [[exercise_id, name] for exercise_id, name in reading.answer_names.items()]
    pipe.listen()
    try:
        reply = kernel.run(
            grader_cell(job, nonce, wanted, pipe.kernel_fd),
            deadline=time.monotonic() + job["check_timeout"],
        )
    except DeadlineReached:
        return None, f"{NOT_RUN}: the grader's checks ran over {job['check_timeout']:g} s"
    except KernelDied:
        entry["retry"] = True
        return None, f"{NOT_RUN}: the kernel died while the grader's checks ran"
    try:
        if reply.get("status") != "ok":
            raise ValueError(f"{reply.get('ename')}: {reply.get('evalue')}")
        payload = pipe.frame(nonce)
        if payload is None:
            raise ValueError("no result came back on the grader's channel")
        records = json.loads(payload.decode("ascii"))
        if not isinstance(records, dict) or records.get("nonce") != nonce:
            raise ValueError("the answer did not come from the grader's cell")
        if not isinstance(records.get("exercises"), dict):
            raise ValueError("the answer did not come from the grader's cell")
    except Exception as exc:
        return None, f"{NOT_RUN}: the grader's checks failed in the kernel ({one_line(exc, 200)})"
    return records, None


def main(job: dict | None = None) -> int:
    """Grade the job (read from stdin when not given: ``sealed.BOOTSTRAP`` passes it)."""
    processes.become_subreaper()
    processes.protect_memory()  # the kernel may not read our secret or write to our stdout
    if job is None:
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
