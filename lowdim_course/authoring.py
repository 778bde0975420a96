"""Build the lesson notebooks and their solved twins from one source each.

A lesson is written once, as ``lessons/src/NN_name.md``: a notebook in jupytext's MyST
Markdown (``lesson_source``), so it opens as a notebook in JupyterLab. Inside a code cell an
exercise's worked answer sits between two marker lines::

    def half_way_time(s, u0, lr):
        # BEGIN SOLUTION
        return math.log(s / u0 - 1) / (2 * s * lr)
        # END SOLUTION

``lessons/NN_name.ipynb`` gets a stub in its place (``raise NotImplementedError(...)`` at the
same indentation) and ``solutions/NN_name.ipynb`` gets the answer, so the two can never drift
apart. ``build`` executes both top to bottom (``lowdim_course.headless``, a fresh kernel each),
removes saved widget state (nbval compares outputs, not widget state) and writes them.

The ``lowdim_course`` block of the source's YAML header (summary, prerequisites, read_next)
becomes the lesson's first and last words (see ``lesson_frame``).

    python -m lowdim_course.authoring            # every lesson
    python -m lowdim_course.authoring 01 04      # only these
    python -m lowdim_course.authoring new 12 "Low-rank adapters"   # a new lesson's four files
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from . import course_map, links
from .lesson_source import KERNELSPEC

SOLUTION_BEGIN = "# BEGIN SOLUTION"
SOLUTION_END = "# END SOLUTION"
STUB = 'raise NotImplementedError("your code here")'


def render_code(source: str, solved: bool) -> str:
    """The cell as the solutions (``solved``) or the lesson shows it."""
    lines, out, inside = source.splitlines(), [], False
    for line in lines:
        stripped = line.strip()
        if stripped == SOLUTION_BEGIN:
            if inside:
                raise ValueError(f"nested {SOLUTION_BEGIN} in:\n{source}")
            inside = True
            if not solved:
                indent = line[: len(line) - len(line.lstrip())]
                out.append(f"{indent}{STUB}")
            continue
        if stripped == SOLUTION_END:
            if not inside:
                raise ValueError(f"{SOLUTION_END} without {SOLUTION_BEGIN} in:\n{source}")
            inside = False
            continue
        if solved or not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{SOLUTION_BEGIN} without {SOLUTION_END} in:\n{source}")
    return "\n".join(out)


def make_notebook(source_path: Path, solved: bool, run_seconds: float | None = None):
    """An unexecuted notebook for the lesson (``solved=False``) or its solution.

    The front matter becomes a "Before you start" cell after the first cell (its time includes
    ``run_seconds`` when the build measured it) and a "Read next" cell at the end. Every
    notebook opens with an "Open in Colab" badge above its title and, as its first code cell,
    ``links.INSTALL_CELL`` (installs the course where it is missing, as on Colab).
    """
    import nbformat

    from .lesson_frame import before_you_start, read_next
    from .lesson_source import read_source

    front, parsed = read_source(source_path.read_text(encoding="utf-8"))
    cells = []
    for kind, body in parsed:
        if kind == "markdown":
            cells.append(nbformat.v4.new_markdown_cell(body))
        else:
            cells.append(nbformat.v4.new_code_cell(render_code(body, solved)))
    if front.prerequisites or front.read_next:
        header = before_you_start(front, parsed, run_seconds)
        cells.insert(1, nbformat.v4.new_markdown_cell(header))
        closing = read_next(front)
        if closing:
            cells.append(nbformat.v4.new_markdown_cell(closing))
    folder = "solutions" if solved else "lessons"
    if cells and cells[0].cell_type == "markdown":  # the title: the badge goes above it
        badge = links.colab_badge(f"{folder}/{source_path.stem}.ipynb")
        cells[0].source = f"{badge}\n\n{cells[0].source}"
    cells.insert(1, nbformat.v4.new_code_cell(links.INSTALL_CELL))
    notebook = nbformat.v4.new_notebook(cells=cells)
    lesson = source_path.name[:2]
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    notebook.metadata["lowdim_course"] = {"lesson": lesson, "solved": solved}
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"{lesson}-{index:03d}"
    return notebook


def strip_widget_state(notebook) -> None:
    """Drop saved widget state (large, machine-specific, and not what nbval compares)."""
    notebook.metadata.pop("widgets", None)
    for cell in notebook.cells:
        cell.get("metadata", {}).pop("widgets", None)


def execute(notebook, working_directory: Path, timeout: int = 600, attempts: int = 3) -> None:
    """Run every cell in a fresh kernel (``headless``: it does not stall on slider panels).

    A cell that raises stops the build with ``RuntimeError`` naming the cell; a kernel that
    fails to start (it happens on a loaded machine) is retried up to ``attempts`` times.
    """
    from .headless import execute_notebook

    for attempt in range(1, attempts + 1):
        result = execute_notebook(
            notebook, cwd=working_directory, timeout=timeout, stop_on_error=True
        )
        if result.cells or result.error is None:
            break
        if attempt == attempts:
            raise RuntimeError(result.error)
        print(f"{result.error}; retrying", file=sys.stderr)
    if result.error is not None:
        raise RuntimeError(result.error)


def build(root: Path, lessons: list[str] | None = None, run: bool = True) -> list[Path]:
    """Write ``lessons/NN_*.ipynb`` and ``solutions/NN_*.ipynb`` for each source; return paths."""
    import nbformat

    for changed in course_map.sync(root):
        print(f"updated the lesson table in {changed.relative_to(root)}", file=sys.stderr)
    sources = sorted((root / "lessons" / "src").glob("[0-9][0-9]_*.md"))
    if lessons:
        sources = [path for path in sources if path.name[:2] in lessons]
    written = []
    for source in sources:
        for folder, solved in (("lessons", False), ("solutions", True)):
            notebook = make_notebook(source, solved)
            target = root / folder / f"{source.stem}.ipynb"
            target.parent.mkdir(exist_ok=True)
            if run:
                print(f"executing {target.relative_to(root)}", file=sys.stderr, flush=True)
                started = time.perf_counter()
                execute(notebook, target.parent)
                timed = make_notebook(source, solved, run_seconds=time.perf_counter() - started)
                for cell, ran in zip(timed.cells, notebook.cells, strict=True):
                    if cell.cell_type == "markdown":  # the header now holds the measured time
                        ran.source = cell.source
            strip_widget_state(notebook)
            nbformat.write(notebook, target)
            written.append(target)
    return written


def _new(argv) -> int:
    from .lesson_skeleton import new_lesson

    parser = argparse.ArgumentParser(
        prog="python -m lowdim_course.authoring new",
        description="Write a new lesson's source, demos, exercises and tests.",
    )
    parser.add_argument("number", help="the lesson number, 1..99")
    parser.add_argument("title", help='the title, e.g. "Low-rank adapters"')
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    try:
        written = new_lesson(args.root, args.number, args.title)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["new"]:
        return _new(argv[1:])
    parser = argparse.ArgumentParser(description="Build lessons/ and solutions/ from lessons/src.")
    parser.add_argument("lessons", nargs="*", help="two-digit lesson numbers (default: all)")
    parser.add_argument("--no-run", action="store_true", help="write without executing")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    for path in build(args.root, args.lessons or None, run=not args.no_run):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
