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

import ast
import json
import keyword
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..exercises import REGISTRY, exercise_ids, normalize_lesson
from .code_text import (
    inside_working_directory,
    literal_paths,
    names_solutions,
    shell_commands,
    solutions_in_a_path,
    split_cell,
    unsafe_deletions,
)

_CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d\.\w+)["']\s*,\s*([A-Za-z_]\w*)""")

_REGISTRY = "reads the exercise registry"
_EXERCISE_MODULES = "imports the course's exercise modules (they hold the answers)"
_CHANNEL = "writes to the grader's channel"
_STACK = "reads the call stack"
_HOOK = "installs a profile or trace hook"
_KILLS = "kills processes"
_DELETES = "deletes files outside its working directory (or does not say which)"
_SOLUTIONS = "reads the course's solutions/"
_PROC = "reads other processes through /proc"

# (pattern, what it means): searched in the notebook's code with its strings and comments
# blanked out (``code_text.py``), so that prose and printouts never match.
_FORGERY_PATTERNS = [
    (r"\.reference\b", "reads an exercise's reference answer (.reference)"),
    (r"\bmake_cases\b", "reads the hidden cases (make_cases)"),
    (r"\bget_exercise\b|\bREGISTRY\b", _REGISTRY),
    (r"lowdim_course\s*\.\s*exercises\s*\.\s*(?!check\b)\w+"
     r"|from\s+lowdim_course\.exercises\.", _EXERCISE_MODULES),
    (r"\bjudge\s*\(|\bcompare_arrays\b|\bcompare_integers\b",
     "calls the checker's comparison"),
    (r"LOWDIM_COURSE_GRADE", _CHANNEL),
    (r"_getframe|inspect\.(stack|currentframe|getouterframes|trace)|\bf_back\b|\btb_frame\b"
     r"|\bf_locals\b", _STACK),
    (r"\bset(profile|trace)\b", _HOOK),
    (r"\.events\.register\b|ast_transformers|input_transformers",
     "changes how IPython runs cells"),
    (r"\bos\.kill\b|\bkillpg\b|\bsignal\.SIGKILL\b", _KILLS),
    # The grader's cell uses built-ins and os functions (kernel_results): not the notebook's to
    # replace. An environment variable (os.environ["X"] = ...) is not a replacement.
    (r"\b(builtins|__builtins__|os|posix)\s*\.\s*\w+\s*=(?!=)|__builtins__\s*\["
     r"|\bsetattr\s*\(\s*(builtins|__builtins__|os|posix)\b",
     "replaces a built-in or os function (what the grader's cell runs with)"),
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


def read_notebook(path, notebook, *, sandboxed: bool = False) -> Reading:
    """Decide the lesson, find each answer function's name, and list static flags (those of
    ``static_flags(..., sandboxed=sandboxed)``)."""
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
    reading.flags = static_flags(sources, sandboxed=sandboxed)
    return reading


def _answer_names(lesson: str, sources: list[str]) -> dict[str, str]:
    """Each exercise's answer: what its ``check`` call passes (last wins), else the signature's
    name. A name, or the expression's text (``lambda L: end_to_end(L)``,
    ``partial(rates, alpha=2)``), which the grader's cell evaluates in the notebook."""
    names = {exercise_id: function_name(exercise_id) for exercise_id in exercise_ids(lesson)}
    for source in sources:
        tree = split_cell(source).tree
        if tree is None:  # not Python that parses: read the calls by their look
            for exercise_id, name in _CHECK_CALL.findall(source):
                if exercise_id in names and not keyword.iskeyword(name):
                    names[exercise_id] = name
            continue
        for node in ast.walk(tree):
            exercise_id, answer = _check_call(node)
            if exercise_id in names and answer is not None:
                names[exercise_id] = answer
    return names


def _check_call(node) -> tuple[str | None, str | None]:
    """``(exercise id, answer text)`` of a call ``check("NN.name", answer, ...)``."""
    if not (isinstance(node, ast.Call) and len(node.args) >= 2):
        return None, None
    function = node.func
    called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    first, answer = node.args[0], node.args[1]
    if called != "check" or not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        return None, None
    if isinstance(answer, ast.Name):
        return first.value, answer.id
    if isinstance(answer, ast.Lambda | ast.Call | ast.Attribute | ast.Subscript):
        return first.value, ast.unparse(answer)
    return first.value, None


def static_flags(sources: list[str], *, sandboxed: bool = False) -> list[str]:
    """What the notebook's code does that no answer needs, one line each: ``cell N: ...``.

    Code patterns are searched in the code alone (strings and comments blanked: a printout or
    a sentence never matches); strings and shell commands are searched for what only they can
    say (``code_text``). Deleting a file the code names inside the working directory is fine.
    ``sandboxed``: the kernel runs in a sandbox (``sandbox.py``), where deleting files, killing
    processes and reading ``/proc`` reach nothing but the notebook's own, so none is flagged.
    """
    cells = [split_cell(source) for source in sources]
    known = literal_paths(cell.tree for cell in cells if cell.tree is not None)
    flags = []
    for index, cell in enumerate(cells, start=1):
        found = [what for pattern, what in _COMPILED if pattern.search(cell.code)]
        found += _string_flags(cell.strings) + _shell_flags(cell.shell)
        if cell.tree is not None and solutions_in_a_path(cell.tree):
            found.append(_SOLUTIONS)
        if cell.tree is not None:
            if unsafe_deletions(cell.tree, known):
                found.append(_DELETES)
        elif _RAW_DELETION.search(cell.code):
            found.append(_DELETES)
        if sandboxed:
            found = [what for what in found if what not in _HARMLESS_IN_A_SANDBOX]
        flags += [f"code cell {index} {what}" for what in dict.fromkeys(found)]
    return flags


_HARMLESS_IN_A_SANDBOX = (_KILLS, _DELETES, _PROC)
_RAW_DELETION = re.compile(r"\bshutil\.rmtree\b|\bos\.(remove|unlink|rmdir)\b|\.unlink\(")
# A string that is exactly one of these names is the attribute spelled as a string (getattr).
_MACHINERY_NAMES = {
    "make_cases": "reads the hidden cases (make_cases)",
    "get_exercise": _REGISTRY,
    "REGISTRY": _REGISTRY,
    **dict.fromkeys(("_getframe", "f_back", "f_locals", "tb_frame"), _STACK),
    **dict.fromkeys(("setprofile", "settrace"), _HOOK),
}
_PROC_PATH = re.compile(r"(?<![\w.])/proc(/|\b)")
_EXERCISE_MODULE_NAME = re.compile(r"lowdim_course\.exercises\.(?!check\b)\w+")


def _string_flags(strings: list[str]) -> list[str]:
    found = []
    for text in strings:
        found += _text_flags(text)
        words = text.split()
        if words and words[0] in ("rm", "pkill", "killall", "kill"):  # a command for a shell
            found += _command_flags(text)
    return found


def _shell_flags(lines: list[str]) -> list[str]:
    found = []
    for line in lines:
        for word in line.split():
            found += _text_flags(word)
        found += _command_flags(line)
    return found


def _text_flags(text: str) -> list[str]:
    found = []
    if "LOWDIM_COURSE_GRADE" in text:
        found.append(_CHANNEL)
    if _EXERCISE_MODULE_NAME.search(text):
        found.append(_EXERCISE_MODULES)
    if text.strip() in _MACHINERY_NAMES:
        found.append(_MACHINERY_NAMES[text.strip()])
    if names_solutions(text):
        found.append(_SOLUTIONS)
    if _PROC_PATH.search(text):
        found.append(_PROC)
    return found


def _command_flags(line: str) -> list[str]:
    found = []
    for words in shell_commands(line):
        if words[0] in ("kill", "pkill", "killall"):
            found.append(_KILLS)
        elif words[0] in ("rm", "rmdir", "unlink", "shred"):
            targets = [word for word in words[1:] if not word.startswith("-")]
            if not targets or not all(inside_working_directory(t) for t in targets):
                found.append(_DELETES)
    return found
