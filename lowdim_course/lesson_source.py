"""A lesson's source file: MyST Markdown, read and written with jupytext.

``lessons/src/NN_slug.md`` is a notebook in jupytext's MyST format, so it opens as a notebook
in JupyterLab (with jupytext installed) and reads as plain Markdown anywhere else::

    ---
    jupytext:
      notebook_metadata_filter: lowdim_course
      text_representation: {extension: .md, format_name: myst}
    kernelspec: {display_name: Python 3 (ipykernel), language: python, name: python3}
    lowdim_course:
      summary: the two-layer closed form against gradient descent; your own gradient step
      prerequisites:
      - the singular value decomposition
      read_next:
      - Saxe, McClelland, Ganguli (2019). ...
    ---

    # Lesson 01 — ...

    Markdown text; a line ``+++`` alone starts a new Markdown cell.

    ```{code-cell} ipython3
    print("a code cell")
    ```

The ``lowdim_course`` block of the header is the lesson's front matter (``lesson_frame``);
``notebook_metadata_filter`` tells jupytext to keep it when JupyterLab saves the file. What a
code cell's exercise markers mean is the builder's business (``authoring.render_code``).
"""

from __future__ import annotations

import jupytext
import nbformat
import yaml

from .lesson_frame import FrontMatter, front_matter

FORMAT = "md:myst"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_JUPYTEXT = {
    "notebook_metadata_filter": "lowdim_course",
    "default_lexer": "ipython3",  # code cells open with ```{code-cell} ipython3
    "text_representation": {"extension": ".md", "format_name": "myst"},
}


def read_source(text: str) -> tuple[FrontMatter, list[tuple[str, str]]]:
    """``(front matter, [(kind, source)])`` with kind ``'markdown'`` or ``'code'``, in order.

    ValueError names what is wrong: malformed front matter, or a raw cell (the course has
    none: a cell is Markdown or Python).
    """
    try:
        notebook = jupytext.reads(text, fmt=FORMAT)
    except yaml.YAMLError as error:
        raise ValueError(f"the YAML header does not parse: {error}") from None
    front = front_matter(notebook.metadata.get("lowdim_course", {}))
    cells = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type not in ("markdown", "code"):
            raise ValueError(
                f"cell {number} is a {cell.cell_type} cell: a lesson has Markdown and code cells"
            )
        cells.append((cell.cell_type, cell.source))
    return front, cells


def write_source(front: FrontMatter, cells: list[tuple[str, str]]) -> str:
    """The MyST text for ``front`` and ``cells``; :func:`read_source` reads it back unchanged.

    The header is written with block-style lists (one prerequisite or reference per line), which
    read better than jupytext's own ``[a, b]`` style; jupytext reads both.
    """
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(body)
            if kind == "markdown"
            else nbformat.v4.new_code_cell(body)
            for kind, body in cells
        ]
    )
    notebook.metadata = {"jupytext": dict(_JUPYTEXT), "kernelspec": dict(KERNELSPEC)}
    text = jupytext.writes(notebook, fmt=FORMAT)
    end = text.index("\n---\n", 4)
    header = yaml.safe_load(text[4:end])
    header["lowdim_course"] = front.as_metadata()
    dumped = yaml.safe_dump(
        header, default_flow_style=False, sort_keys=False, width=96, allow_unicode=True
    )
    return f"---\n{dumped}---\n{text[end + 5 :]}"
