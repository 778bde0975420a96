"""README's lesson table and lesson 00's map, written from the lesson sources.

Each source (``lessons/src/NN_slug.md``) names itself in its first heading,
``# Lesson NN — Title``, and says what it shows in its front matter's ``summary:`` line. The
table and the map are rebuilt from those every time the lessons are built
(``python -m lowdim_course.authoring``), between two marker comments that Markdown does not
show::

    <!-- lessons:begin -->
    | lesson | what you will see |
    ...
    <!-- lessons:end -->

so adding a lesson adds its row in both places, and no summary is kept twice. README's rows also
link the lesson in Google Colab (``links.colab_url``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from . import links
from .lesson_source import read_source

BEGIN, END = "<!-- lessons:begin -->", "<!-- lessons:end -->"
_HEADING = re.compile(r"^# Lesson (\d\d) — (.+)$", re.MULTILINE)
HEADER = ["| lesson | what you will see |", "|---|---|"]


@dataclass(frozen=True)
class LessonEntry:
    number: str
    title: str
    stem: str
    summary: str


def lesson_sources(root: Path) -> list[Path]:
    return sorted((root / "lessons" / "src").glob("[0-9][0-9]_*.md"))


def lesson_entry(source: Path) -> LessonEntry:
    """The lesson's number, title and summary; ValueError names what the source lacks."""
    front, cells = read_source(source.read_text(encoding="utf-8"))
    heading = _HEADING.search("\n\n".join(body for kind, body in cells if kind == "markdown"))
    if heading is None:
        raise ValueError(f"{source.name}: the first heading must read '# Lesson NN — Title'")
    if heading.group(1) != source.name[:2]:
        raise ValueError(
            f"{source.name}: the heading says Lesson {heading.group(1)}, the file name "
            f"{source.name[:2]}"
        )
    if not front.summary:
        raise ValueError(
            f"{source.name}: the header's lowdim_course block needs a 'summary:' line (what "
            "the lesson shows, for README's table and lesson 00's map)"
        )
    return LessonEntry(heading.group(1), heading.group(2).strip(), source.stem, front.summary)


README_HEADER = ["| lesson | what you will see | open in |", "|---|---|---|"]


def readme_table(entries: list[LessonEntry]) -> str:
    """Rows link to the saved notebooks (paths from the repository's root) and to Colab."""
    rows = []
    for e in entries:
        notebook = f"lessons/{e.stem}.ipynb"
        colab = f"[Colab]({links.colab_url(notebook)})"
        rows.append(f"| [{e.number} {e.title}]({notebook}) | {e.summary} | {colab} |")
    return "\n".join([*README_HEADER, *rows])


def map_table(entries: list[LessonEntry]) -> str:
    """Lesson 00's map: the same rows, names in bold (a notebook opens its neighbours itself)."""
    rows = [f"| **{e.number} {e.title}** | {e.summary} |" for e in entries]
    return "\n".join([*HEADER, *rows])


def replace_between_markers(text: str, body: str, where: str) -> str:
    """``text`` with what lies between ``BEGIN`` and ``END`` replaced by ``body``."""
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise ValueError(f"{where} must hold the markers {BEGIN} and {END} once each, in order")
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{body}\n{END}{tail}"


def sync(root: Path) -> list[Path]:
    """Rewrite README's table and lesson 00's map from the sources; return the files changed."""
    entries = [lesson_entry(source) for source in lesson_sources(root)]
    start_here = next(s for s in lesson_sources(root) if s.name.startswith("00_"))
    changed = []
    for path, table in ((root / "README.md", readme_table), (start_here, map_table)):
        old = path.read_text(encoding="utf-8")
        new = replace_between_markers(old, table(entries), path.name)
        if new != old:
            path.write_text(new, encoding="utf-8")
            changed.append(path)
    return changed
