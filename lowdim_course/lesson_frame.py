"""A lesson's first and last words: time, prerequisites and glossary up front, read-next at the end.

The lesson source (``lessons/src/NN_name.md``, see ``lesson_source``) carries its front matter
in the ``lowdim_course`` block of its YAML header::

    lowdim_course:
      summary: the two-layer closed form against gradient descent; your own gradient step
      prerequisites:
      - the singular value decomposition
      - gradient descent
      read_next:
      - Saxe, McClelland, Ganguli (2019). *A mathematical theory of semantic development in
        deep neural networks.* PNAS 116(23). The modes of Lesson 01 on a hierarchy of living
        things.

``summary`` is one line: what the lesson shows, for README's table and lesson 00's map
(``course_map``). ``prerequisites`` and ``read_next`` are lists of strings. The builder puts a
"Before you start" cell after the lesson's first cell and a "Read next" cell at the end.

``numbers_not_from_runs`` maps each number of the lesson's prose that its own runs do not print
(a paper's figure, a data set's size, a setting, an exercise id, a section of a paper) to the
reason, e.g. ``{"1,797": "digits data set size", "04.1": "exercise id"}``. Every other number
of the prose must appear in the lesson's saved outputs (``tests/test_prose_numbers.py``).
``prose_numbers`` says which numbers count: those written with a decimal point or a thousands
separator, outside LaTeX math, code, link targets and HTML tags; integers are too often
settings, counts or years to tell apart.

The time is an estimate from the lesson itself, written out so a reader can judge it:
reading at ``READING_WORDS_PER_MINUTE`` (a pace for text with formulas), the minutes each kind of
exercise takes (``EXERCISE_MINUTES``, by the exercise's tag), and the seconds the build measured
for running every cell, rounded up to a minute.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

READING_WORDS_PER_MINUTE = 100
EXERCISE_MINUTES = {"warm-up": 5, "capstone": 15, "self-check": 2}
GLOSSARY_LINK = "../lessons/glossary.md"  # the same path works from lessons/ and solutions/

_CHECK_ID = re.compile(r"""check\(\s*["'](\d\d\.\w+)["']""")
# A number as the prose writes it: 0.75, 1.29, 2,252, 1,797.5, 7.70e-06, 4.7x (a sign is not part
# of it, nor % or the x of "times"). Whole tokens only: not a piece of 11.29, 1.295, v0.1.0, x1.5.
NUMBER = re.compile(
    r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+)(?:e[-+]?\d+)?(?!(?!x\b)\w|[.,]\d)"
)
# A run's number written as math, $7.70\cdot10^{-6}$: read as 7.70e-06, as Python prints it.
_MATH_SCIENTIFIC = re.compile(r"(\d+\.\d+)\s*\\(?:cdot|times)\s*10\^\{?(-?)(\d+)\}?")
# What the prose does not say in words: fenced code, display and inline math, code spans, the
# target of a link or image, HTML tags. Order matters: code first (it may hold a $).
_NOT_PROSE = [
    re.compile(r"```.*?```", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"(?<!\\)\$.+?(?<!\\)\$", re.S),
    re.compile(r"`[^`]*`"),
    re.compile(r"\]\([^)]*\)"),
    re.compile(r"<[^>]+>"),
]


@dataclass
class FrontMatter:
    """What the source's front matter says; empty when it has none."""

    summary: str = ""
    prerequisites: list[str] = field(default_factory=list)
    read_next: list[str] = field(default_factory=list)
    numbers_not_from_runs: dict[str, str] = field(default_factory=dict)

    def as_metadata(self) -> dict:
        """The YAML block's content (empty fields left out); :func:`front_matter` reverses it."""
        fields = {
            "summary": self.summary,
            "prerequisites": self.prerequisites,
            "read_next": self.read_next,
            "numbers_not_from_runs": self.numbers_not_from_runs,
        }
        return {key: value for key, value in fields.items() if value}


FRONT_KEYS = tuple(FrontMatter.__dataclass_fields__)


def front_matter(metadata: dict) -> FrontMatter:
    """The front matter from the header's ``lowdim_course`` block; ValueError names a bad entry."""
    if not isinstance(metadata, dict):
        raise ValueError(f"lowdim_course in the header must be a mapping, got {metadata!r}")
    unknown = set(metadata) - set(FRONT_KEYS)
    if unknown:
        raise ValueError(
            f"lowdim_course in the header has unknown keys {sorted(unknown)}: "
            f"expected {', '.join(FRONT_KEYS)}"
        )
    summary = metadata.get("summary", "")
    if not isinstance(summary, str):
        raise ValueError(f"summary must be one line of text, got {summary!r}")
    lists = {}
    for key in ("prerequisites", "read_next"):
        value = metadata.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{key} must be a list of strings ('- ' items), got {value!r}")
        lists[key] = [" ".join(item.split()) for item in value if item.strip()]
    numbers = _declared_numbers(metadata.get("numbers_not_from_runs", {}))
    return FrontMatter(summary=" ".join(summary.split()), **lists, numbers_not_from_runs=numbers)


def _declared_numbers(value) -> dict[str, str]:
    """``numbers_not_from_runs``: each key one number as the prose writes it, each value a reason.

    YAML reads an unquoted 0.5 as a float (and would write it back as 0.5 whatever the prose
    says), so a key must be a quoted string; it must be one whole ``NUMBER`` token, so that the
    check of the prose can find it.
    """
    if not isinstance(value, dict):
        raise ValueError(
            f'numbers_not_from_runs must be a mapping {{"number": "reason"}}, got {value!r}'
        )
    numbers = {}
    for number, reason in value.items():
        if not isinstance(number, str):
            raise ValueError(
                f'numbers_not_from_runs: quote the number {number!r} ("{number}"), so YAML '
                "keeps it as the prose writes it"
            )
        if not NUMBER.fullmatch(number):
            raise ValueError(
                f"numbers_not_from_runs: {number!r} is not a number the prose check counts (one "
                "token with a decimal point or a thousands separator, such as 0.5 or 1,797)"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(
                f"numbers_not_from_runs: {number!r} needs its reason (a paper's figure, a "
                f"setting, ...), got {reason!r}"
            )
        numbers[number] = " ".join(reason.split())
    return numbers


def prose_numbers(markdown: str) -> list[str]:
    """The numbers ``markdown`` states: ``NUMBER`` tokens outside ``_NOT_PROSE``, then those
    written in math as a decimal times a power of ten (``7.70e-06`` for ``7.70\\cdot10^{-6}``)."""
    scientific = [
        f"{mantissa}e{sign or '+'}{int(power):02d}"
        for mantissa, sign, power in _MATH_SCIENTIFIC.findall(markdown)
    ]
    for pattern in _NOT_PROSE:
        markdown = pattern.sub(" ", markdown)
    return NUMBER.findall(markdown) + scientific


def markdown_words(cells: list[tuple[str, str]]) -> int:
    """Words of running text in the Markdown cells (formulas count as one word per token)."""
    return sum(len(body.split()) for kind, body in cells if kind == "markdown")


def exercise_kinds(cells: list[tuple[str, str]]) -> list[str]:
    """The kind (``warm-up``, ``capstone``, ``self-check``) of each exercise the lesson checks."""
    from .exercises import REGISTRY

    ids = dict.fromkeys(
        found for kind, body in cells if kind == "code" for found in _CHECK_ID.findall(body)
    )
    kinds = []
    for exercise_id in ids:
        tags = REGISTRY[exercise_id].tags if exercise_id in REGISTRY else ()
        kinds.append(next((tag for tag in EXERCISE_MINUTES if tag in tags), "warm-up"))
    return kinds


def _count(kinds: list[str], kind: str) -> str:
    n = kinds.count(kind)
    name = {"warm-up": "warm-up", "capstone": "capstone", "self-check": "self-check question"}
    return f"{n} {name[kind]}{'s' if n != 1 else ''}"


def before_you_start(
    front: FrontMatter, cells: list[tuple[str, str]], run_seconds: float | None
) -> str:
    """The "Before you start" Markdown: time (with how it is estimated), needs, glossary."""
    reading = math.ceil(markdown_words(cells) / READING_WORDS_PER_MINUTE)
    kinds = exercise_kinds(cells)
    exercising = sum(EXERCISE_MINUTES[kind] for kind in kinds)
    running = 0 if run_seconds is None else max(1, math.ceil(run_seconds / 60))
    total = reading + exercising + running
    parts = [f"about {reading} min reading ({READING_WORDS_PER_MINUTE} words a minute)"]
    if kinds:
        counts = ", ".join(_count(kinds, kind) for kind in EXERCISE_MINUTES if kind in kinds)
        parts.append(f"{exercising} min exercises ({counts})")
    if run_seconds is not None:
        parts.append(f"{running} min running every cell (measured: {run_seconds:.0f} s)")
    lines = [
        "## Before you start",
        "",
        f"* **Time:** about {total} minutes: {'; '.join(parts)}.",
    ]
    if front.prerequisites:
        lines.append(f"* **You need:** {'; '.join(front.prerequisites)}.")
    lines.append(
        f"* **Words** such as *mode*, *surrogate* or *tail index* are explained in the "
        f"[glossary]({GLOSSARY_LINK})."
    )
    return "\n".join(lines)


def read_next(front: FrontMatter) -> str | None:
    """The closing "Read next" Markdown, or None when the source lists nothing."""
    if not front.read_next:
        return None
    return "\n".join(["## Read next", "", *(f"* {item}" for item in front.read_next)])
