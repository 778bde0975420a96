"""The headless runner: outputs as nbclient saves them, one deadline, a dead kernel, the CLI.

One kernel per test (a few seconds each); the outputs are compared with what the cells print.
"""

import json
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from lowdim_course.cli import main
from lowdim_course.headless import execute_notebook

pytestmark = pytest.mark.slow  # starts Jupyter kernels

CELLS = [
    "print('a'); print('b')",  # two writes, one stream output
    "import sys; print('to stderr', file=sys.stderr)",
    "6 * 7",  # an execute_result
    "from IPython.display import clear_output\nprint('gone')\nclear_output()\nprint('kept')",
    "1 / 0",  # an error; the next cell still runs
    "import ipywidgets as w\nw.IntSlider(3)",  # a widget view, as nbclient saves it
    "out = w.Output()\nwith out:\n    print('captured')\nprint('after')",
]


def test_outputs_are_saved_as_nbclient_saves_them(tmp_path):
    notebook = new_notebook(cells=[new_markdown_cell("# t"), *map(new_code_cell, CELLS)])
    result = execute_notebook(notebook, cwd=tmp_path, timeout=60)
    assert result.error is None and not result.timed_out
    code = notebook.cells[1:]
    assert [o.text for o in code[0].outputs] == ["a\nb\n"]
    assert code[1].outputs[0].name == "stderr"
    assert code[2].outputs[0].output_type == "execute_result"
    assert code[2].outputs[0].data["text/plain"] == "42"
    assert code[2].outputs[0].execution_count == code[2].execution_count == 3
    assert [o.text for o in code[3].outputs] == ["kept\n"]
    assert code[4].outputs[0].ename == "ZeroDivisionError"
    assert [(c.index, c.ename) for c in result.cell_errors] == [(5, "ZeroDivisionError")]
    assert "application/vnd.jupyter.widget-view+json" in code[5].outputs[0].data
    # what the Output widget captured belongs to the widget, not to the cell
    assert [o.get("text") for o in code[6].outputs] == ["after\n"]
    assert notebook.metadata["language_info"]["name"] == "python"
    nbformat.validate(notebook)


def test_one_deadline_for_all_cells(tmp_path):
    cells = [new_code_cell("import time; time.sleep(0.9)") for _ in range(30)]
    notebook = new_notebook(cells=cells)
    started = time.monotonic()
    result = execute_notebook(notebook, cwd=tmp_path, timeout=3)
    assert result.timed_out and "did not finish within 3 s" in result.error
    assert 2 <= len(result.cells) <= 4 and result.stopped_at == len(result.cells)
    assert time.monotonic() - started < 3 + 30  # start-up and shut-down, never 30 x 0.9 s


def test_a_kernel_that_dies_ends_the_run_with_a_message(tmp_path):
    cells = ["x = 1", "import os; os._exit(1)", "print('never')"]
    notebook = new_notebook(cells=list(map(new_code_cell, cells)))
    result = execute_notebook(notebook, cwd=tmp_path, timeout=60)
    assert result.error == "the kernel died" and result.stopped_at == 1
    assert notebook.cells[2].outputs == []


def test_cli_execute_saves_outputs_and_reports_cell_errors(tmp_path, capsys):
    path = tmp_path / "n.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("print(2 + 2)")]), path)
    before = path.read_bytes()
    assert main(["execute", str(path)]) == 0
    saved = nbformat.read(tmp_path / "n.executed.ipynb", as_version=4)  # a new file by default
    assert saved.cells[0].outputs[0].text == "4\n" and path.read_bytes() == before
    assert "wrote" in capsys.readouterr().out
    assert main(["execute", str(path), "--in-place"]) == 0  # the input only when asked
    assert nbformat.read(path, as_version=4).cells[0].outputs[0].text == "4\n"
    nbformat.write(new_notebook(cells=[new_code_cell("raise KeyError('k')")]), path)
    assert main(["execute", str(path), "--output", str(tmp_path / "out.ipynb")]) == 1
    assert "cell 1: KeyError" in capsys.readouterr().err
    assert json.loads((tmp_path / "out.ipynb").read_text())["cells"][0]["outputs"]


def test_cli_execute_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "bad.ipynb").write_text("not json")
    for arguments, words in [
        (["execute", str(tmp_path / "missing.ipynb")], "does not exist"),
        (["execute", str(tmp_path / "bad.ipynb")], "is not a notebook"),
        (["execute", str(tmp_path / "bad.ipynb"), "--timeout", "0"], "timeout"),
    ]:
        assert main(arguments) == 2
        error = capsys.readouterr().err
        assert words in error and error.count("\n") == 1


def test_grade_and_execute_without_the_course_extra_say_what_to_install(
    tmp_path, capsys, monkeypatch
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nbformat" else real(name)
    )
    (tmp_path / "00_x.ipynb").write_text("{}")
    for command in (["grade", str(tmp_path)], ["execute", str(tmp_path / "00_x.ipynb")]):
        assert main(command) == 2
        error = capsys.readouterr().err
        assert "pip install 'lowdim-course[course]'" in error and error.count("\n") == 1
