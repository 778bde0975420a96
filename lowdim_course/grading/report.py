"""The gradebook as text (``format_report``), as CSV (``format_csv``) and as JSON (``format_json``).

A notebook chooses much of what the gradebook shows: its file name, the messages of the
exceptions its answers raise, the text its answers return. So the printed report shows every
such string through ``printable`` (a terminal obeys escape sequences: ``ESC[1A ESC[2K`` moves up
and erases a line, so a message could repaint a ``0/2`` head line as ``2/2`` with ticks), and
every CSV cell goes through ``csv_cell`` (a spreadsheet runs a cell that starts with ``=`` as a
formula: OWASP, "CSV Injection"). The JSON is data, not a display: it keeps every string exactly.
"""

from __future__ import annotations

import csv
import io
import json
import re

# ESC sequences whole (ECMA-48: CSI ``ESC [ ... final``; OSC, DCS, SOS, PM and APC strings up to
# BEL or ``ESC \``, an unterminated one up to the next ESC; ``ESC 7``, ``ESC ( B``), then any
# control character left: C0 but tab and newline, DEL, C1, and the bidirectional formatting
# characters (U+061C, U+200E-F, U+202A-E, U+2066-9), which reorder what a terminal shows
# (CVE-2021-42574, "Trojan Source").
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -/]*[0-~]"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
# OWASP's list: a spreadsheet reads a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def printable(text, *, one_line: bool = False) -> str:
    """``str(text)`` safe to print on a terminal: escape sequences and control characters removed
    (tab and newline kept, or made spaces when ``one_line``), and lone surrogates (a file name
    that is not UTF-8, a ``"\\ud800"`` in a notebook) shown as U+FFFD, which UTF-8 can encode."""
    text = _SURROGATES.sub("\ufffd", _CONTROLS.sub("", _ESCAPES.sub("", str(text))))
    return " ".join(text.replace("\t", " ").split("\n")) if one_line else text


def csv_cell(text) -> str:
    """A text cell for the CSV: ``printable``, then prefixed with ``'`` when it starts as a formula
    would (OWASP's rule), so that ``=1+2+HYPERLINK(0).ipynb`` stays text in a spreadsheet."""
    text = printable(text)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def format_json(entries: list[dict]) -> str:
    """The entries as JSON, exactly: non-ASCII text as it is, unless a lone surrogate (which UTF-8
    cannot hold) is somewhere, and then everything non-ASCII as a ``\\uXXXX`` escape."""
    text = json.dumps(entries, indent=2, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(entries, indent=2, ensure_ascii=True)
    return text + "\n"


def format_report(entries: list[dict]) -> str:
    """The per-notebook, per-exercise table and the total, as printed by ``lowdim-course grade``."""
    lines = [format_entry(entry) for entry in entries]
    score = sum(entry["score"] for entry in entries)
    max_score = sum(entry["max_score"] for entry in entries)
    lines.append(f"total: {score:g}/{max_score:g} over {len(entries)} notebook(s)")
    return "\n".join(lines)


def format_entry(entry: dict) -> str:
    """One notebook's lines: the head (name, lesson, score), its error, notes and flags, then a
    line per exercise. Every string is ``printable`` and on one line, so that no text of the
    notebook can add a line, move the cursor or hide the real score."""

    def show(text) -> str:
        return printable(text, one_line=True)

    lesson = f"lesson {show(entry['lesson'])}" if entry.get("lesson") else "lesson ?"
    head = f"{show(entry['notebook'])} ({lesson}): {entry['score']:g}/{entry['max_score']:g}"
    lines = [head]
    if entry.get("error"):
        lines.append(f"  error: {show(entry['error'])}")
    for note in entry.get("notes", []):
        lines.append(f"  note: {show(note)}")
    for flag in entry.get("flags", []):
        lines.append(f"  flagged: {show(flag)}")
    ids = [show(item["id"]) for item in entry["exercises"]]
    width = max(map(len, ids), default=0)
    for exercise_id, item in zip(ids, entry["exercises"], strict=True):
        mark = "✅" if item["passed"] else "❌"
        points = f"{item['score']:g}/{item['max_score']:g}"
        lines.append(f"  {mark} {exercise_id:<{width}}  {points:>5}  {show(item['message'])}")
    return "\n".join(lines)


CSV_COLUMNS = ("notebook", "lesson", "exercise", "passed", "score", "max_score", "message")
TOTAL = "TOTAL"


def format_csv(entries: list[dict]) -> str:
    """The gradebook as CSV: a row per notebook and exercise, then a ``TOTAL`` row per notebook.

    Columns are ``CSV_COLUMNS``; ``passed`` is ``true``/``false``; every text cell is a
    ``csv_cell``. A notebook's ``TOTAL`` row
    (in the ``exercise`` column) carries its score, its maximum, whether every exercise passed,
    and its error, if any; the last row (``TOTAL`` in the ``notebook`` column) sums all of them.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)

    def row(notebook, lesson, exercise, passed, score, max_score, message):
        flag = "true" if passed else "false"
        writer.writerow(
            [
                csv_cell(notebook),
                csv_cell(lesson or ""),
                csv_cell(exercise),
                flag,
                f"{score:g}",
                f"{max_score:g}",
                csv_cell(message),
            ]
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
