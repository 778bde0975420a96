"""The notebook builder (one source, two notebooks) and the slider panels, without a kernel."""

import pytest

from lowdim_course.authoring import STUB, make_notebook, render_code
from lowdim_course.lesson_frame import prose_numbers
from lowdim_course.lesson_source import read_source
from lowdim_course.widgets import (
    choice,
    float_slider,
    int_slider,
    log_slider,
    nudge,
    panels_made,
    slider_panel,
)

SOURCE = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
---

# Title

Some text.

+++

More text.

```{code-cell} ipython3
def f(x):
    # BEGIN SOLUTION
    return 2 * x
    # END SOLUTION
```

```{code-cell} ipython3
check("00.f", f);
```
"""


def test_the_source_is_read_as_markdown_and_code_cells():
    kinds = [kind for kind, _ in read_source(SOURCE)[1]]
    assert kinds == ["markdown", "markdown", "code", "code"]


def test_lesson_gets_a_stub_and_solution_gets_the_answer():
    code = read_source(SOURCE)[1][2][1]
    lesson, solved = render_code(code, solved=False), render_code(code, solved=True)
    assert lesson == f"def f(x):\n    {STUB}"
    assert solved == "def f(x):\n    return 2 * x"
    namespace = {}
    exec(solved, namespace)
    assert namespace["f"](3) == 6
    exec(lesson, namespace)
    with pytest.raises(NotImplementedError):
        namespace["f"](3)


@pytest.mark.parametrize(
    "code",
    [
        "# BEGIN SOLUTION\nx = 1",
        "x = 1\n# END SOLUTION",
        "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION",
    ],
)
def test_unbalanced_markers_are_errors(code):
    with pytest.raises(ValueError, match="SOLUTION"):
        render_code(code, solved=False)


def test_make_notebook_sets_lesson_metadata(tmp_path):
    path = tmp_path / "07_demo.md"
    path.write_text(SOURCE)
    notebook = make_notebook(path, solved=False)
    assert notebook.metadata["lowdim_course"] == {"lesson": "07", "solved": False}
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    assert len({cell["id"] for cell in notebook.cells}) == len(notebook.cells)


def test_panel_runs_once_then_recomputes_when_a_slider_moves():
    calls = []

    def demo(a, b, kind):
        calls.append((a, b, kind))
        return a * b

    panel = slider_panel(
        demo,
        a=float_slider(1.0, 0.0, 4.0),
        b=log_slider(0.1, 0.01, 10.0),
        kind=choice(["x", "y"]),
    )
    assert calls == [(1.0, 0.1, "x")] and panel.result == pytest.approx(0.1)
    panel.kwargs_widgets[0].value = 3.0
    assert calls[-1] == (3.0, 0.1, "x") and panel.result == pytest.approx(0.3)
    panel.kwargs_widgets[2].value = "y"
    assert calls[-1][2] == "y"
    assert all(not getattr(w, "continuous_update", False) for w in panel.kwargs_widgets)
    assert [w.description for w in panel.kwargs_widgets] == ["a", "b", "kind"]


def test_arguments_without_a_control_keep_their_defaults():
    def demo(a, size=30, name="x"):
        return (a, size, name)

    panel = slider_panel(demo, a=int_slider(1, 0, 3))
    assert panel.result == (1, 30, "x")
    assert [w.description for w in panel.children if hasattr(w, "value")] == ["a"]


def test_nudge_moves_every_control_times_it_and_puts_it_back():
    seen = []

    def demo(n, scale, kind):
        seen.append((n, scale, kind))

    panel = slider_panel(
        demo, n=int_slider(5, 1, 5), scale=log_slider(1.0, 0.1, 10.0), kind=choice("ab")
    )
    assert panel in panels_made()
    latencies = nudge(panel)
    assert set(latencies) == {"n", "scale", "kind"} and all(t >= 0 for t in latencies.values())
    moved = {values for values in seen[1:] if values != (5, 1.0, "a")}
    assert (4, 1.0, "a") in moved and (5, 1.0, "b") in moved
    assert any(abs(scale - 10**0.1) < 1e-9 for _, scale, _ in moved)
    assert [w.value for w in panel.kwargs_widgets] == [5, 1.0, "a"]


def test_a_panel_keeps_a_static_copy_of_its_opening_run():
    import base64
    import re

    import matplotlib.pyplot as plt

    from lowdim_course.plots import show_figure

    def demo(width, scale, title="kept"):
        print(f"width {width} & scale {scale:.2f} <- {title}")
        for height in (1.0, 2.0):
            figure, ax = plt.subplots(figsize=(2, height))
            ax.plot([0, width], [0, scale])
            show_figure(figure)

    panel = slider_panel(
        demo, width=int_slider(3, 1, 5, description="width d"), scale=log_slider(0.5, 0.1, 1.0)
    )
    copy = panel.static_html
    assert "width d = 3" in copy and "scale = 0.5" in copy and "title" not in copy.split("<pre>")[0]
    assert "<pre>width 3 &amp; scale 0.50 &lt;- kept</pre>" in copy
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', copy)
    decoded = [base64.b64decode(image) for image in images]
    assert len(decoded) == 2 and all(png.startswith(b"\x89PNG") for png in decoded)
    heights = [int.from_bytes(png[20:24], "big") for png in decoded]  # the IHDR height field
    assert heights[1] > 1.5 * heights[0]  # in the order they were shown

    bundle = panel._repr_mimebundle_()
    assert bundle["text/html"] == copy and "application/vnd.jupyter.widget-view+json" in bundle

    panel.kwargs_widgets[0].value = 5  # a later move redraws the widget, not the copy
    assert panel.static_html == copy


def test_a_slider_move_computes_with_one_thread_and_gives_the_others_back():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []
        panel = slider_panel(lambda a: seen.append(torch.get_num_threads()), a=int_slider(1, 0, 3))
        panel.kwargs_widgets[0].value = 2
        assert seen == [1, 1]  # the opening run and the move
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_a_panel_that_shows_nothing_has_a_copy_without_figures():
    panel = slider_panel(lambda a: a + 1, a=int_slider(1, 0, 3))
    assert "a = 1" in panel.static_html
    assert "<img" not in panel.static_html and "<pre>" not in panel.static_html


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: float_slider(5.0, 0.0, 1.0), "value must be in"),
        (lambda: log_slider(0.1, 0.0, 1.0), "low must be > 0"),
        (lambda: int_slider(1, 3, 2), "low must be < high"),
        (lambda: choice([]), "options must hold"),
        (lambda: slider_panel(42), "callback must be a function"),
        (lambda: slider_panel(print, x=3), "control 'x' must be a widget"),
    ],
)
def test_bad_widget_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_new_writes_a_lesson_skeleton_that_parses_and_compiles(tmp_path, capsys):
    from lowdim_course.authoring import main

    assert main(["new", "12", "Low-rank adapters!", "--root", str(tmp_path)]) == 0
    source = tmp_path / "lessons" / "src" / "12_low_rank_adapters.md"
    front, cells = read_source(source.read_text())
    assert front.summary and front.prerequisites and len(front.read_next) == 2
    assert cells[0][1].startswith("# Lesson 12 — Low-rank adapters!")
    # the prose's only number is the exercise id, declared (tests/test_prose_numbers.py)
    stated = {n for kind, text in cells if kind == "markdown" for n in prose_numbers(text)}
    assert stated == set(front.numbers_not_from_runs) == {"12.1"}
    codes = [text for kind, text in cells if kind == "code"]
    assert any('check("12.squared_norm", squared_norm)' in code for code in codes)
    answer = next(code for code in codes if "def squared_norm" in code)
    assert STUB in render_code(answer, solved=False)
    for relative in (
        "lowdim_course/demos/lesson12.py",
        "lowdim_course/exercises/lesson12.py",
        "tests/test_lesson12.py",
    ):
        path = tmp_path / relative
        compile(path.read_text(), str(path), "exec")  # valid Python
    assert '"12.squared_norm"' in (tmp_path / "tests" / "test_lesson12.py").read_text()
    # the number is now taken: a one-line error, exit 2, nothing overwritten
    assert main(["new", "12", "Other", "--root", str(tmp_path)]) == 2
    assert "number 12 is taken" in capsys.readouterr().err
    assert main(["new", "100", "Other", "--root", str(tmp_path)]) == 2
    assert "number must be a lesson number 1..99" in capsys.readouterr().err


def test_every_saved_notebook_is_built_from_its_current_source():
    # a source edited without rebuilding (or a notebook edited by hand) would drift from its twin
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[1]
    sources = sorted((root / "lessons" / "src").glob("[0-9][0-9]_*.md"))
    assert sources
    for source in sources:
        for folder, solved in (("lessons", False), ("solutions", True)):
            built = make_notebook(source, solved)
            saved = nbformat.read(root / folder / f"{source.stem}.ipynb", as_version=4)
            assert len(built.cells) == len(saved.cells), f"{folder}/{source.stem}: rebuild it"
            for fresh, kept in zip(built.cells, saved.cells, strict=True):
                if fresh.source.startswith("## Before you start"):
                    continue  # holds the time the build measured
                assert fresh.source == kept.source, f"{folder}/{source.stem}: rebuild it"


def test_every_notebook_opens_with_its_colab_badge_and_the_install_cell():
    from pathlib import Path

    import nbformat

    from lowdim_course import links

    root = Path(__file__).resolve().parents[1]
    for folder in ("lessons", "solutions"):
        for path in sorted((root / folder).glob("[0-9][0-9]_*.ipynb")):
            notebook = nbformat.read(path, as_version=4)
            title = notebook.cells[0]
            assert title.cell_type == "markdown"
            assert title.source.startswith(links.colab_badge(f"{folder}/{path.name}")), path
            first_code = next(c for c in notebook.cells if c.cell_type == "code")
            assert first_code.source == links.INSTALL_CELL and not first_code.outputs, path


def test_the_install_cell_does_nothing_where_the_course_is_installed(monkeypatch, capsys):
    import subprocess

    from lowdim_course import links

    def no_pip(*args, **kwargs):
        raise AssertionError(f"the install cell ran {args}")

    monkeypatch.setattr(subprocess, "run", no_pip)
    exec(compile(links.INSTALL_CELL, "install-cell", "exec"), {})
    assert capsys.readouterr() == ("", "")


def test_the_install_cell_installs_what_the_variable_names_when_the_course_is_missing(
    monkeypatch,
):
    import importlib.util
    import subprocess

    from lowdim_course import links

    calls = []
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(subprocess, "run", lambda command, check: calls.append(command))
    monkeypatch.setenv(links.INSTALL_SOURCE_VARIABLE, "/wheels/lowdim_course-0.1.0.whl")
    exec(compile(links.INSTALL_CELL, "install-cell", "exec"), {})
    assert calls and calls[0][1:] == [
        "-m", "pip", "install", "--quiet", "/wheels/lowdim_course-0.1.0.whl"
    ]  # fmt: skip
    monkeypatch.delenv(links.INSTALL_SOURCE_VARIABLE)
    calls.clear()
    exec(compile(links.INSTALL_CELL, "install-cell", "exec"), {})
    assert calls[0][-1] == f"git+https://github.com/{links.REPOSITORY}@{links.PINNED_REF}"
