"""What a submitted notebook says before it runs: its lesson, its answer cells, what looks forged.

The lesson is read from the notebook's *exercise cells*: the cells that define a lesson's answer
functions (``def spectral_init(``) or call its checks (``check("04.spectral_init", ...)``).
Metadata and file names are what a student can edit, so they only break a tie, and a
disagreement is reported. A notebook with no exercise cell falls back to its metadata, then to
the leading digits of its file name.

``static_flags`` lists code that no answer needs and that reads or rewrites the grading
machinery (the reference answers, the hidden cases, the call stack, the course's solutions).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..exercises import REGISTRY, exercise_ids, normalize_lesson

_CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\w+)["']\s*,\s*([A-Za-z_]\w*)""")

# (pattern, what it means): anywhere in the notebook's code.
_FORGERY_PATTERNS = [
    (r"\.reference\b", "reads an exercise's reference answer (.reference)"),
    (r"\bmake_cases\b", "reads the hidden cases (make_cases)"),
    (r"\bget_exercise\b|\bREGISTRY\b", "reads the exercise registry"),
    (r"lowdim_course\.exercises\.(?!check\b)\w+|from\s+lowdim_course\.exercises\.",
     "imports the course's exercise modules (they hold the answers)"),
    (r"\bjudge\s*\(|\bcompare_arrays\b|\bcompare_integers\b",
     "calls the checker's comparison"),
    (r"LOWDIM_COURSE_GRADE", "writes to the grader's channel"),
    (r"_getframe|inspect\.(stack|currentframe|getouterframes|trace)|\bf_back\b|\btb_frame\b"
     r"|\bf_locals\b",
     "reads the call stack"),
    (r"\bset(profile|trace)\b", "installs a profile or trace hook"),
    (r"solutions[/\\\"']|solutions\b.*\.ipynb", "reads the course's solutions/"),
    (r"\.events\.register\b|ast_transformers|input_transformers",
     "changes how IPython runs cells"),
    (r"\bos\.kill\b|\bkillpg\b|\bsignal\.SIGKILL\b|\bpkill\b|\bkillall\b",
     "kills processes"),
    (r"/proc\b", "reads other processes through /proc"),
    (r"\bshutil\.rmtree\b|\bos\.(remove|unlink|rmdir)\b|\.unlink\(|\brm\s+-",
     "deletes files"),
]  # fmt: skip
_COMPILED = [(re.compile(pattern), what) for pattern, what in _FORGERY_PATTERNS]


@dataclass
class Reading:
    """What ``read_notebook`` found."""

    lesson: str | None
    answer_names: dict[str, str] = field(default_factory=dict)  # exercise id -> function name
    notes: list[str] = field(default_factory=list)  # said in the report, not scored
    flags: list[str] = field(default_factory=list)  # score the notebook 0, for review
    error: str | None = None


def decode_notebook(data: bytes) -> tuple[str, str | None]:
    """The file's text and, when it is not UTF-8 (what Jupyter writes), a note saying how it was
    read: as Windows-1252, else as Latin-1 (each byte one character; never fails). An editor on
    Windows that re-saves a notebook writes ``é`` as the byte 0xE9, not UTF-8's 0xC3 0xA9."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        where = f"byte 0x{data[exc.start]:02X} at offset {exc.start}"
    for encoding, name in (("cp1252", "Windows-1252"), ("latin-1", "Latin-1")):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return text, f"the file is not UTF-8 ({where}): read as {name}; Jupyter saves UTF-8"
    raise AssertionError("Latin-1 decodes every byte")  # pragma: no cover


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def parse_notebook(text: str, notes: list | None = None) -> dict:
    """The notebook's JSON as a dict whose code cells' ``source`` is one string.

    Plain ``json`` rather than nbformat, whose import (a JSON-schema validator) costs a worker
    seconds per notebook; only a notebook of an older format (nbformat 1-3: IPython 0.12-2.x,
    cells inside ``worksheets``, code in ``input``) goes through ``nbformat.reads(text,
    as_version=4)``. A lone surrogate in a code cell (``"\\ud800"`` in the JSON: no Unicode
    character, so Python cannot compile it nor a Jupyter client send it) becomes U+FFFD. Both
    say so in ``notes`` when a list is given. ValueError says what is wrong with a file that is
    not a notebook.
    """
    notebook = json.loads(text)
    if not isinstance(notebook, dict):
        raise ValueError("it is not a JSON object")
    version = notebook.get("nbformat")
    if version in (1, 2, 3):
        import nbformat

        notebook = json.loads(json.dumps(nbformat.reads(text, as_version=4)))
        _add(notes, f"an nbformat {version} notebook: converted to nbformat 4 before grading")
    elif version != 4:
        raise ValueError(f"it is not a version-4 notebook (nbformat {version!r})")
    if not isinstance(notebook.get("cells"), list):
        raise ValueError("it has no list of cells")
    for index, cell in enumerate(notebook["cells"], start=1):
        if not isinstance(cell, dict):
            raise ValueError("a cell is not a JSON object")
        source = cell.get("source", "")
        cell["source"] = "".join(source) if isinstance(source, list) else str(source)
        found = _SURROGATE.search(cell["source"])
        if found and cell.get("cell_type") == "code":
            cell["source"] = _SURROGATE.sub("\ufffd", cell["source"])
            _add(
                notes,
                f"cell {index} holds U+{ord(found.group()):04X}, a lone surrogate (no Unicode "
                "character, Python cannot run it): it ran with U+FFFD in its place",
            )
    return notebook


def _add(notes: list | None, note: str) -> None:
    if notes is not None:
        notes.append(note)


def function_name(exercise_id: str) -> str:
    """The name of the answer function: the signature's name (``'spectral_init'``)."""
    return REGISTRY[exercise_id].signature.split("(", 1)[0].strip()


def code_cells(notebook) -> list[str]:
    return [
        str(cell.get("source", ""))
        for cell in notebook.get("cells", [])
        if isinstance(cell, dict) and cell.get("cell_type") == "code"
    ]


def lesson_votes(sources: list[str]) -> Counter:
    """How many exercise cells of each lesson the code holds (a ``def`` or a ``check``)."""
    names = {function_name(exercise_id): exercise_id for exercise_id in REGISTRY}
    found: set[str] = set()
    for source in sources:
        for exercise_id, _ in _CHECK_CALL.findall(source):
            if exercise_id in REGISTRY:
                found.add(exercise_id)
        for name in re.findall(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", source, re.MULTILINE):
            if name in names:
                found.add(names[name])
    return Counter(exercise_id.split(".", 1)[0] for exercise_id in found)


def claimed_lesson(path, notebook) -> str | None:
    """The lesson the notebook's metadata (``lowdim_course.lesson``) or file name claims."""
    metadata = notebook.get("metadata", {}).get("lowdim_course", {}) if notebook else {}
    claimed = metadata.get("lesson") if isinstance(metadata, dict) else None
    if claimed is None:
        match = re.match(r"(\d+)", Path(path).name)
        claimed = match.group(1) if match else None
    if claimed is None:
        return None
    try:
        return normalize_lesson(claimed)
    except ValueError:
        return str(claimed)


def read_notebook(path, notebook) -> Reading:
    """Decide the lesson, find each answer function's name, and list static flags."""
    sources = code_cells(notebook)
    votes = lesson_votes(sources)
    claimed = claimed_lesson(path, notebook)
    known = sorted({exercise_id.split(".", 1)[0] for exercise_id in REGISTRY})
    reading = Reading(lesson=None)
    if votes:
        top = max(votes.values())
        leaders = sorted(lesson for lesson, count in votes.items() if count == top)
        reading.lesson = claimed if claimed in leaders else leaders[0]
        if claimed is not None and claimed != reading.lesson:
            reading.notes.append(
                f"the notebook says lesson {claimed} but its exercise cells are lesson "
                f"{reading.lesson}'s: graded as lesson {reading.lesson}"
            )
    elif claimed in known:
        reading.lesson = claimed
        reading.notes.append(
            f"no exercise cell found (deleted?): graded as lesson {claimed}, from its metadata "
            "or file name"
        )
    elif claimed is not None:
        reading.error = (
            f"lesson {claimed} has no exercises in this course (lessons {known[0]}-{known[-1]}) "
            "and the notebook holds no exercise cell of any lesson"
        )
        return reading
    else:
        reading.error = (
            "could not tell which lesson this is: no exercise cell, no metadata "
            "lowdim_course.lesson and no leading number in the file name"
        )
        return reading
    reading.answer_names = _answer_names(reading.lesson, sources)
    reading.flags = static_flags(sources)
    return reading


def _answer_names(lesson: str, sources: list[str]) -> dict[str, str]:
    """Each exercise's function: the one its ``check`` call names (last wins), else the
    signature's name."""
    names = {exercise_id: function_name(exercise_id) for exercise_id in exercise_ids(lesson)}
    for source in sources:
        for exercise_id, name in _CHECK_CALL.findall(source):
            if exercise_id in names:
                names[exercise_id] = name
    return names


def static_flags(sources: list[str]) -> list[str]:
    """What the notebook's code does that no answer needs, one line each: ``cell N: ...``."""
    flags = []
    for index, source in enumerate(sources, start=1):
        for pattern, what in _COMPILED:
            if pattern.search(source):
                flags.append(f"code cell {index} {what}")
    return flags
