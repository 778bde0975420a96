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

For a class on a JupyterHub, ``python -m lowdim_course.course_map --hub https://hub.example.edu``
prints one nbgitpuller link per lesson (``links.nbgitpuller_url``), a Markdown table for the
instructor to hand out (docs/classroom.md).
"""

from __future__ import annotations

import argparse
import re
import sys
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


HUB_HEADER = ["| lesson | open on the class hub |", "|---|---|"]


def hub_table(
    entries: list[LessonEntry],
    hub_url: str,
    ref: str = links.PINNED_REF,
    repository_url: str = links.REPOSITORY_URL,
) -> str:
    """One row per lesson: its name and its nbgitpuller link on ``hub_url``."""
    rows = []
    for e in entries:
        url = links.nbgitpuller_url(hub_url, f"lessons/{e.stem}.ipynb", ref, repository_url)
        rows.append(f"| {e.number} {e.title} | [open]({url}) |")
    return "\n".join([*HUB_HEADER, *rows])


def main(argv: list[str] | None = None, root: Path | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lowdim_course.course_map",
        description="Print one nbgitpuller link per lesson for a class's JupyterHub "
        "(a Markdown table).",
    )
    parser.add_argument(
        "--hub", required=True, help="the hub's address, e.g. https://hub.example.edu"
    )
    parser.add_argument("--ref", default=links.PINNED_REF, help="the git ref students pull")
    parser.add_argument(
        "--repository", default=links.REPOSITORY_URL, help="the repository students pull"
    )
    arguments = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[1] if root is None else root
    entries = [lesson_entry(source) for source in lesson_sources(root)]
    if not entries:
        parser.error(f"no lesson sources under {root / 'lessons' / 'src'}")
    try:
        table = hub_table(entries, arguments.hub, arguments.ref, arguments.repository)
    except ValueError as error:
        parser.error(str(error))
    sys.stdout.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
