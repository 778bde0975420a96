"""The course as a static site: every lesson as saved, readable without running anything.

    python -m lowdim_course.website                 # writes site/_build/html/index.html
    python -m lowdim_course.website --out /tmp/site

The site is built with Sphinx and myst-nb (``site/conf.py``) from the committed notebooks in
``lessons/``, with the figures and numbers they were saved with: nothing is executed and nothing
is fetched, so it builds offline. It has

* a home page: README's "What this course is", the ways to run the lessons, and the lesson
  table (``course_map``: the same summaries as README and lesson 00);
* every lesson, with Binder and Colab launch buttons (the theme's) in place of the notebook's own
  Colab badge and install cell, which only matter where the notebook runs;
* the glossary, which the lessons link.

A slider panel shows its static copy (``widgets.SliderPanel``: starting values, printout,
figure); the "default run" cell after it, which repeats that run for nbval's checks, shows its
code with a note in place of the repeated printout and figure. The ``# NBVAL_...`` marker
comments (nbval's, not the reader's) are left out of the code shown. The page's download button
gives the lesson exactly as saved (install cell included, so it runs in Colab). Formulas are
typeset by MathJax 3 served from the site (the copy that ``sphinx-mathjax-offline`` ships, its
TeX web fonts included). The build needs the ``site`` extra: ``pip install -e ".[site]"``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from html import unescape
from pathlib import Path

from . import course_map, links

# sphinx-mathjax-offline installs a folder of that name (with hyphens): found by its spec
MATHJAX_PACKAGE = "sphinx-mathjax-offline"
SITE_PACKAGES = ("sphinx", "myst_nb", "sphinx_book_theme", MATHJAX_PACKAGE)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# MathJax 3's bundles that the site does not load (it loads tex-chtml.js and what that asks for)
_UNUSED_MATHJAX = ("mml-*.js", "tex-svg*.js", "tex-mml-*.js", "tex-chtml-full*.js", "node-main.js")
_NBVAL_MARKER = re.compile(r"^[ \t]*#[ \t]*NBVAL_[A-Z_]+[ \t]*(?:\n|$)", re.MULTILINE)
SAME_RUN_NOTE = (
    "The same run as the slider panel above, which opens at these settings: "
    "its printout and figure are shown there."
)
_SECTION = "## What this course is"


def readme_section(readme: str, heading: str = _SECTION) -> str:
    """The body of README's section under ``heading`` (up to the next ``## `` heading)."""
    start = readme.find(f"\n{heading}\n")
    if start < 0:
        raise ValueError(f"README.md has no section {heading!r}")
    body = readme[start + len(heading) + 2 :]
    end = body.find("\n## ")
    return (body if end < 0 else body[:end]).strip()


def home_page(root: Path) -> str:
    """The site's index: what the course is, how to run it, the lessons (with a toctree)."""
    entries = [course_map.lesson_entry(source) for source in course_map.lesson_sources(root)]
    readme = (root / "README.md").read_text(encoding="utf-8")
    first = f"lessons/{entries[0].stem}.ipynb" if entries else "lessons/"
    rows = [f"| [{e.number} {e.title}](lessons/{e.stem}.ipynb) | {e.summary} |" for e in entries]
    toctree = "\n".join(f"lessons/{e.stem}" for e in entries)
    return f"""# lowdim-course

{readme_section(readme)}

## Reading and running the lessons

This site shows every lesson as it was saved, with its figures and printed numbers; a slider
panel shows the figure of its starting values. To move the sliders and do the exercises, run the
lesson: the rocket button at the top of each page opens it on
[Binder]({links.binder_url(first)}) or in [Google Colab]({links.colab_url(first)}), or install
the course on your own machine ([README]({links.REPOSITORY_URL}#readme)). Words such as
*mode* or *surrogate* are explained in the [glossary](lessons/glossary.md).

## The lessons

| lesson | what you will see |
|---|---|
{chr(10).join(rows)}

```{{toctree}}
:hidden:
:maxdepth: 1

{toctree}
lessons/glossary
```
"""


def _is_colab_badge(line: str) -> bool:
    return line.startswith("[![Open in Colab]")


def site_notebook(notebook):
    """The notebook as the site shows it: without its Colab badge, install cell and nbval markers.

    The theme's launch buttons replace the badge, and the install cell only does something where
    the notebook runs; a "default run" that repeats the slider panel before it shows a note in
    place of the repeated outputs (``drop_repeated_runs``). Everything else is kept as saved.
    """
    cells = [cell for cell in notebook.cells if cell.source != links.INSTALL_CELL]
    for cell in cells:
        if cell.cell_type == "code":
            cell.source = without_nbval_markers(cell.source)
    if cells and cells[0].cell_type == "markdown":
        lines = cells[0].source.split("\n")
        if lines and _is_colab_badge(lines[0]):
            cells[0].source = "\n".join(lines[1:]).lstrip("\n")
    notebook.cells = cells
    drop_repeated_runs(notebook)
    return notebook


def without_nbval_markers(source: str) -> str:
    """A code cell's source without nbval's marker comments (``# NBVAL_IGNORE_OUTPUT`` etc.)."""
    return _NBVAL_MARKER.sub("", source)


def panel_copy(cell) -> str | None:
    """The static HTML copy of the slider panel a code cell's saved output holds, or None."""
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if WIDGET_VIEW in data and "text/html" in data:
            return data["text/html"]
    return None


def _panel_printout(copy: str) -> str:
    blocks = re.findall(r"<pre>(.*?)</pre>", copy, re.DOTALL)
    return "\n".join(unescape(block).strip() for block in blocks).strip()


def _panel_figures(copy: str) -> set[str]:
    return set(re.findall(r'src="data:image/png;base64,([^"]+)"', copy))


def repeats_panel(copy: str, cell) -> bool:
    """Whether a code cell's outputs are the run a panel's static copy already shows.

    It is, when it prints the panel's printout (the same numbers; its figure may differ in a
    timing axis) or, for a panel that prints nothing, draws one of the panel's figures.
    """
    outputs = cell.get("outputs", [])
    printed = "".join(o.get("text", "") for o in outputs if o["output_type"] == "stream").strip()
    printout = _panel_printout(copy)
    if printout:
        return printed == printout
    figures = {o["data"]["image/png"].strip() for o in outputs if "image/png" in o.get("data", {})}
    return bool(figures & _panel_figures(copy))


def _note(text: str):
    import nbformat

    return nbformat.v4.new_output(
        "display_data",
        data={"text/html": f'<p class="lowdim-same-run"><em>{text}</em></p>', "text/plain": text},
    )


def drop_repeated_runs(notebook) -> list[int]:
    """Replace the outputs of every "default run" that repeats the panel before it; their indices.

    A slider panel's static copy shows its opening run; the next code cell often runs the same
    thing at the same settings, for nbval to check its numbers. The site keeps that cell's code
    and puts a note in place of its printout and figures (other outputs are kept).
    """
    dropped = []
    copy = None
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if copy is not None and repeats_panel(copy, cell):
            kept = [
                o
                for o in cell.outputs
                if o["output_type"] != "stream" and "image/png" not in o.get("data", {})
            ]
            cell.outputs = [*kept, _note(SAME_RUN_NOTE)]
            dropped.append(index)
        copy = panel_copy(cell)
    return dropped


def stage(root: Path, staging: Path) -> Path:
    """Copy what the site is built from into ``staging`` (emptied first); return it."""
    import importlib.util

    import nbformat

    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(root / "site", staging, ignore=shutil.ignore_patterns("_build"))
    package = importlib.util.find_spec(MATHJAX_PACKAGE).origin
    mathjax = Path(package).parent / "static" / "mathjax"
    ignore = shutil.ignore_patterns(*_UNUSED_MATHJAX)
    shutil.copytree(mathjax, staging / "_static" / "mathjax", ignore=ignore)
    (staging / "lessons").mkdir()
    notebooks = sorted(
        path
        for path in (root / "lessons").glob("[0-9][0-9]_*.ipynb")
        if not path.name.endswith(".executed.ipynb")  # lowdim-course execute's copies
    )
    if not notebooks:
        raise ValueError(f"no lesson notebooks in {root / 'lessons'}")
    for path in notebooks:
        notebook = site_notebook(nbformat.read(path, as_version=4))
        nbformat.write(notebook, staging / "lessons" / path.name)
    shutil.copy(root / "lessons" / "glossary.md", staging / "lessons" / "glossary.md")
    home = home_page(root)
    for image in re.findall(r"\]\((docs/[^)\s]+\.png)\)", home):  # README's pictures
        (staging / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / image, staging / image)
    (staging / "index.md").write_text(home, encoding="utf-8")
    return staging


def missing_packages() -> list[str]:
    """The site's packages that cannot be imported here."""
    import importlib.util

    return [name for name in SITE_PACKAGES if importlib.util.find_spec(name) is None]


def build(root: Path, out: Path) -> Path:
    """Build the site into ``out / "html"`` (staging in ``out / "source"``); return index.html.

    RuntimeError carries Sphinx's output when the build fails or warns: a broken link or a
    missing file in a lesson is an error here, not a silent gap on the site. The page's
    download button serves ``_sources/lessons/<lesson>.ipynb``: Sphinx copies the staged
    notebook there, which is replaced by the lesson as saved (with its install cell, so that
    the downloaded notebook runs in Colab).
    """
    staging = stage(root, out / "source")
    html = out / "html"
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going"]
    command += ["-d", str(out / "doctrees"), str(staging), str(html)]
    finished = subprocess.run(command, capture_output=True, text=True, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"sphinx failed:\n{finished.stdout}{finished.stderr}")
    for path in sorted((root / "lessons").glob("[0-9][0-9]_*.ipynb")):
        download = html / "_sources" / "lessons" / path.name
        if not download.is_file():
            raise RuntimeError(f"the build has no {download}: where does the theme's download go?")
        shutil.copy(path, download)
    return html / "index.html"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lowdim_course.website",
        description="Build the course's static site from the saved lesson notebooks (offline).",
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository")
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default: ROOT/site/_build)"
    )
    args = parser.parse_args(argv)
    missing = missing_packages()
    if missing:
        print(
            f'error: the site needs {", ".join(missing)}: pip install -e ".[site]"',
            file=sys.stderr,
        )
        return 2
    if not (args.root / "site" / "conf.py").is_file():
        print(
            f"error: --root must be the course's repository (no site/conf.py in {args.root})",
            file=sys.stderr,
        )
        return 2
    out = args.out if args.out is not None else args.root / "site" / "_build"
    try:
        index = build(args.root.resolve(), out.resolve())
    except (RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
