"""The gradebook as text (``format_report``) and as CSV (``format_csv``)."""

from __future__ import annotations

import csv
import io


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
    for note in entry.get("notes", []):
        lines.append(f"  note: {note}")
    for flag in entry.get("flags", []):
        lines.append(f"  flagged: {flag}")
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
            "; ".join(filter(None, [entry.get("error"), *entry.get("flags", [])])),
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
