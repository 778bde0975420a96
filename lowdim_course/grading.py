"""Grade submitted lesson notebooks: run each one headless and collect its exercise checks.

How it works:

1. The lesson of a notebook is its metadata ``lowdim_course.lesson`` (``"04"``) if present, else
   the leading digits of the file name (``04_compression.ipynb``); failing both, the lesson
   whose checks ran in it.
2. The exercises expected in that lesson come from the registry
   (``lowdim_course.exercises.exercise_ids(lesson)``), so an exercise whose check never ran still
   appears, with score 0 and the message "check did not run".
3. The notebook runs in a fresh kernel (nbclient, ``allow_errors``: a failing cell does not stop
   the next ones) with the environment variable ``LOWDIM_COURSE_GRADE_LOG`` naming a private
   file; every ``check(...)`` in the kernel appends its result there as one JSON line, and the
   grader keeps each exercise's last result. Checks of other lessons do not count.
4. A notebook that cannot be read, kills its kernel or runs past ``timeout`` seconds (all its
   cells together) scores 0, with the error as every exercise's message (and in ``error``).
   Nothing stops the next notebook.

The result per notebook is ``{"notebook", "score", "max_score", "exercises": [{"id", "passed",
"score", "max_score", "message"}]}`` plus ``lesson``, ``error``, ``cell_errors`` and ``seconds``.
``format_csv`` flattens a list of them into a gradebook: one row per notebook and exercise.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from .exercises import GRADE_LOG_ENV, exercise_ids, get_exercise, normalize_lesson
from .validation import check_positive

DEFAULT_TIMEOUT = 300.0
NOT_RUN = "check did not run"


def lesson_of(path, notebook=None) -> str | None:
    """``'04'`` from the notebook's metadata ``lowdim_course.lesson``, else from the file name."""
    if notebook is not None:
        metadata = notebook.get("metadata", {}).get("lowdim_course", {})
        lesson = metadata.get("lesson") if isinstance(metadata, dict) else None
        if lesson is not None:
            try:
                return normalize_lesson(lesson)
            except ValueError:
                pass
    match = re.match(r"(\d+)", Path(path).name)
    if match:
        try:
            return normalize_lesson(match.group(1))
        except ValueError:
            return None
    return None


def grade_notebook(
    path, *, timeout: float = DEFAULT_TIMEOUT, kernel_name: str = "python3", startup_timeout=60
) -> dict:
    """Execute the notebook at ``path`` headless and score its exercises (see the module doc).

    ``timeout`` bounds the time of all cells together (kernel start-up not included). Never
    raises for a bad notebook: the entry carries score 0 and the error instead.
    """
    timeout = check_positive("timeout", timeout)
    path = Path(path)
    started = time.perf_counter()
    entry = {
        "notebook": str(path),
        "lesson": None,
        "score": 0.0,
        "max_score": 0.0,
        "exercises": [],
        "error": None,
        "cell_errors": [],
        "seconds": 0.0,
    }
    notebook, error = _read(path)
    lesson = lesson_of(path, notebook)
    logged: dict[str, dict] = {}
    if notebook is not None:
        logged, error, entry["cell_errors"] = _execute(
            notebook, path, timeout, kernel_name, startup_timeout
        )
    if lesson is None and logged:
        lesson = Counter(key.split(".", 1)[0] for key in logged).most_common(1)[0][0]
    if lesson is None and error is None:
        error = (
            "could not tell which lesson this is: no metadata lowdim_course.lesson, no "
            "leading number in the file name and no check ran"
        )
    entry["lesson"] = lesson
    entry["exercises"] = _score(lesson, logged, error, entry["cell_errors"])
    entry["error"] = error
    entry["score"] = sum(item["score"] for item in entry["exercises"])
    entry["max_score"] = sum(item["max_score"] for item in entry["exercises"])
    entry["seconds"] = round(time.perf_counter() - started, 2)
    return entry


def grade_notebooks(paths, *, timeout: float = DEFAULT_TIMEOUT, **options) -> list[dict]:
    """``grade_notebook`` for each path, in order: one entry per notebook (a JSON-ready list)."""
    timeout = check_positive("timeout", timeout)
    return [grade_notebook(path, timeout=timeout, **options) for path in paths]


def _read(path: Path):
    import nbformat

    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as exc:
        return None, f"could not read the notebook: {type(exc).__name__}: {_first_line(exc)}"
    if not isinstance(notebook.get("cells"), list):
        return None, "could not read the notebook: it has no list of cells"
    return notebook, None


def _execute(notebook, path: Path, timeout: float, kernel_name: str, startup_timeout):
    """Run the notebook; return (logged results by id, notebook error or None, cell errors)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    state = {"deadline": None, "cell": None}

    def cell_timeout(cell):
        now = time.monotonic()
        if state["deadline"] is None:
            state["deadline"] = now + timeout
        return max(1, round(state["deadline"] - now))

    def on_cell_start(cell=None, cell_index=None, **_):
        state["cell"] = cell_index

    error = None
    with tempfile.TemporaryDirectory(prefix="lowdim-grade-") as folder:
        log = Path(folder) / "checks.jsonl"
        env = {**os.environ, GRADE_LOG_ENV: str(log), "MPLBACKEND": "Agg"}
        client = NotebookClient(
            notebook,
            kernel_name=kernel_name,
            allow_errors=True,
            timeout_func=cell_timeout,
            interrupt_on_timeout=False,
            startup_timeout=startup_timeout,
            shutdown_kernel="immediate",
            resources={"metadata": {"path": str(path.resolve().parent)}},
            on_cell_start=on_cell_start,
        )
        try:
            # the kernel's own chatter (transport warnings) would drown the report
            client.execute(env=env, stderr=subprocess.DEVNULL)
        except CellTimeoutError:
            where = "" if state["cell"] is None else f", stopped in cell {state['cell'] + 1}"
            error = f"the notebook did not finish within {timeout:g} s (endless loop?{where})"
        except DeadKernelError as exc:
            error = f"the kernel died while running the notebook ({_first_line(exc)})"
        except Exception as exc:
            error = f"could not run the notebook: {type(exc).__name__}: {_first_line(exc)}"
        logged = _read_log(log)
    return logged, error, _cell_errors(notebook)


def _read_log(log: Path) -> dict[str, dict]:
    """The last result per exercise id in the JSON-lines log (broken lines are skipped)."""
    results: dict[str, dict] = {}
    if not log.exists():
        return results
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("id"), str):
            results[record["id"]] = record
    return results


def _cell_errors(notebook) -> list[str]:
    """``'cell N: ErrorName: message'`` for every code cell whose output holds an error."""
    errors = []
    for index, cell in enumerate(notebook.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                name, value = output.get("ename", "Error"), output.get("evalue", "")
                errors.append(f"cell {index}: {name}: {_first_line(value)}")
    return errors


def _score(lesson, logged: dict, error: str | None, cell_errors: list[str]) -> list[dict]:
    if lesson is None:
        return []
    items = []
    for exercise_id in exercise_ids(lesson):
        points = float(get_exercise(exercise_id).points)
        record = logged.get(exercise_id)
        if error is not None:
            said = f"; its check had said: {record.get('message')}" if record else ""
            items.append(_item(exercise_id, False, 0.0, points, error + said))
        elif record is None:
            detail = f" ({len(cell_errors)} cell(s) raised; first {cell_errors[0]})"
            items.append(
                _item(exercise_id, False, 0.0, points, NOT_RUN + (detail if cell_errors else ""))
            )
        else:
            passed = record.get("passed") is True
            items.append(
                _item(
                    exercise_id,
                    passed,
                    points if passed else 0.0,
                    points,
                    str(record.get("message", "")),
                )
            )
    return items


def _item(exercise_id, passed, score, max_score, message) -> dict:
    return {
        "id": exercise_id,
        "passed": passed,
        "score": score,
        "max_score": max_score,
        "message": message,
    }


def _first_line(value, limit: int = 200) -> str:
    text = " ".join(str(value).split()) or "(no message)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def format_report(entries: list[dict]) -> str:
    """The per-notebook, per-exercise table and the total, as printed by ``lowdim-course grade``."""
    lines = [format_entry(entry) for entry in entries]
    score = sum(entry["score"] for entry in entries)
    max_score = sum(entry["max_score"] for entry in entries)
    lines.append(f"total: {score:g}/{max_score:g} over {len(entries)} notebook(s)")
    return "\n".join(lines)


def format_entry(entry: dict) -> str:
    lesson = f"lesson {entry['lesson']}" if entry.get("lesson") else "lesson ?"
    head = f"{entry['notebook']} ({lesson}): {entry['score']:g}/{entry['max_score']:g}"
    lines = [head]
    if entry.get("error"):
        lines.append(f"  error: {entry['error']}")
    width = max((len(item["id"]) for item in entry["exercises"]), default=0)
    for item in entry["exercises"]:
        mark = "✅" if item["passed"] else "❌"
        points = f"{item['score']:g}/{item['max_score']:g}"
        lines.append(f"  {mark} {item['id']:<{width}}  {points:>5}  {item['message']}")
    return "\n".join(lines)


CSV_COLUMNS = ("notebook", "lesson", "exercise", "passed", "score", "max_score", "message")
TOTAL = "TOTAL"


def format_csv(entries: list[dict]) -> str:
    """The gradebook as CSV: a row per notebook and exercise, then a ``TOTAL`` row per notebook.

    Columns are ``CSV_COLUMNS``; ``passed`` is ``true``/``false``. A notebook's ``TOTAL`` row
    (in the ``exercise`` column) carries its score, its maximum, whether every exercise passed,
    and its error, if any; the last row (``TOTAL`` in the ``notebook`` column) sums all of them.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(notebook, lesson, exercise, passed, score, max_score, message):
        flag = "true" if passed else "false"
        writer.writerow(
            [notebook, lesson or "", exercise, flag, f"{score:g}", f"{max_score:g}", message]
        )

    for entry in entries:
        for item in entry["exercises"]:
            row(
                entry["notebook"],
                entry.get("lesson"),
                item["id"],
                item["passed"],
                item["score"],
                item["max_score"],
                item["message"],
            )
        complete = bool(entry["exercises"]) and all(i["passed"] for i in entry["exercises"])
        row(
            entry["notebook"],
            entry.get("lesson"),
            TOTAL,
            complete,
            entry["score"],
            entry["max_score"],
            entry.get("error") or "",
        )
    score = sum(entry["score"] for entry in entries)
    max_score = sum(entry["max_score"] for entry in entries)
    row(
        TOTAL,
        "",
        "",
        bool(entries) and score == max_score,
        score,
        max_score,
        f"{len(entries)} notebook(s)",
    )
    return buffer.getvalue()


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
