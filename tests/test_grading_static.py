"""The grader's static reading: it flags code, never prose, printouts or one's own scratch files.

No kernel: ``static_flags`` and the answers' names are read from the notebook's text alone.
Each honest cell below has a hostile twin that must still be flagged.
"""

from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from lowdim_course.grading.code_text import inside_working_directory, names_solutions
from lowdim_course.grading.inspection import code_cells, read_notebook, static_flags

HONEST = {
    "a printout about the solutions": 'print("My plot looks the same as in the solutions")',
    "an f-string about the solutions": 'n = 3\nprint(f"{n} answers differ from the solutions")',
    "a comment": "# the solutions/ folder has the answers; I did not look\nx = 1",
    "prose about killing": 'print("rm -rf is dangerous; never pkill a kernel")',
    "a string about the call stack": 'label = "inspect.stack() reads the call stack"',
    "a scratch file removed": (
        'import os\nimport numpy as np\nnp.save("scratch.npy", np.zeros(3))\n'
        'os.remove("scratch.npy")'
    ),
    "a scratch path in a name": (
        'import os\nscratch = "work/scratch.txt"\nos.makedirs("work", exist_ok=True)\n'
        'open(scratch, "w").close()\nos.remove(scratch)'
    ),
    "a pathlib scratch file": (
        'from pathlib import Path\nnotes = Path("out") / "notes.txt"\nnotes.parent.mkdir()\n'
        'notes.write_text("x")\nnotes.unlink()\nnotes.parent.rmdir()'
    ),
    "a scratch folder": 'import shutil\nshutil.rmtree("runs/tmp", ignore_errors=True)',
    "a scratch file under getcwd()": (
        'import os\npath = os.path.join(os.getcwd(), "scratch.txt")\nos.unlink(path)'
    ),
    "a shell rm of a scratch file": "!rm -f scratch.txt results/*.npy",
    "list.remove": "items = [1, 2, 3]\nitems.remove(2)\nseen = {1}\nseen.remove(1)",
    "%%time on a def cell": "%%time\ndef end_to_end(layers):\n    return layers[0]",
    "%time on a line": "%time x = sum(range(10))",
    "a percent format on a line of its own": 'text = ("%d items"\n        % 3)',
    "the word as a label": 'label = "solutions"\ntitle = {"solutions": 3}\nprint("solutions")',
    "an environment variable": 'import os\nos.environ["OMP_NUM_THREADS"] = "1"\nok = os.sep == "/"',
}

HOSTILE = {
    "reads solutions/": 'open("../solutions/04_compressing_width.ipynb").read()',
    "builds a path into solutions": 'import os\nos.path.join(root, "solutions", name)',
    "reads the call stack in code": "import inspect\nframes = inspect.stack()",
    "deletes outside": 'import os\nos.remove("../submissions/bob.ipynb")',
    "deletes an absolute path": 'import shutil\nshutil.rmtree("/tmp/lowdim-grade-x")',
    "deletes what it does not name": "import os\nfor name in os.listdir('.'):\n    os.remove(name)",
    "deletes the working directory": 'import shutil\nshutil.rmtree(".")',
    "deletes the working directory as a parent": (
        'from pathlib import Path\nPath("notes.txt").parent.rmdir()'
    ),
    "deletes the working directory by getcwd()": "import os, shutil\nshutil.rmtree(os.getcwd())",
    "deletes by shell outside": "!rm -rf ../submissions",
    "deletes by os.system": 'import os\nos.system("rm -rf ~/notebooks")',
    "kills by shell": "!pkill -f grading.worker",
    "reads /proc": 'pid = 1\nopen(f"/proc/{pid}/environ").read()',
    "the registry by getattr": 'import lowdim_course.exercises as e\ngetattr(e, "REGISTRY")',
    "a module name in a string": 'importlib.import_module("lowdim_course.exercises.lesson04")',
    "%%time around the call stack": "%%time\nimport sys\nframe = sys._getframe(1)",
    "%%bash rm": "%%bash\nrm -rf /tmp/other",
    "a path built with /": 'from pathlib import Path\ntext = (Path("..") / "solutions").iterdir()',
    "a path built with glob": 'import glob\nfiles = glob.glob("../*/" + "solutions")',
    "replaces exec": "import builtins\nbuiltins.exec = lambda *a, **k: None",
    "replaces os.write": "import os\nsetattr(os, 'write', lambda fd, data: len(data))",
    "replaces a builtin by its dict": "__builtins__['compile'] = None",
}


@pytest.mark.parametrize("name", sorted(HONEST))
def test_honest_code_trips_no_static_flag(name):
    assert static_flags([HONEST[name]]) == []


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_hostile_twin_is_still_flagged(name):
    flags = static_flags([HOSTILE[name]])
    assert flags and all(flag.startswith("code cell 1 ") for flag in flags), flags


def test_outputs_and_markdown_are_never_read():
    cell = new_code_cell("x = 1")
    cell.outputs = [new_output("stream", name="stdout", text="see solutions/04.ipynb, rm -rf")]
    notebook = new_notebook(
        cells=[new_markdown_cell("Compare with `solutions/04_compressing_width.ipynb`."), cell]
    )
    notebook = nbformat.reads(nbformat.writes(notebook), as_version=4)
    assert code_cells(notebook) == ["x = 1"]
    assert static_flags(code_cells(notebook)) == []


def test_the_answer_of_a_check_call_may_be_a_lambda_or_a_partial():
    cells = [
        new_code_cell('check("00.end_to_end", lambda L: end_to_end(L))'),
        new_code_cell('%%time\ncheck("00.recovery_error", functools.partial(error, p=2))'),
    ]
    reading = read_notebook("x.ipynb", new_notebook(cells=cells))
    assert reading.lesson == "00" and reading.flags == []
    assert reading.answer_names == {
        "00.end_to_end": "lambda L: end_to_end(L)",
        "00.recovery_error": "functools.partial(error, p=2)",
    }


def test_a_cell_that_does_not_parse_is_read_by_its_look():
    # no syntax tree: the patterns search the whole text, strings included (as before)
    assert static_flags(['x = (\nprint("solutions/04.ipynb")']) != []
    cells = [new_code_cell('check("00.end_to_end", lambda')]
    assert read_notebook("x.ipynb", new_notebook(cells=cells)).answer_names["00.end_to_end"] == (
        "end_to_end"
    )


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("scratch.npy", True),
        ("out/a.txt", True),
        ("./out/../b.txt", True),
        ("*.npy", True),
        ("../b.txt", False),
        ("out/../../b", False),
        ("/tmp/x", False),
        ("~/x", False),
        ("$HOME/x", False),
        (".", False),
        ("", False),
    ],
)
def test_inside_the_working_directory(path, inside):
    assert inside_working_directory(path) is inside


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("solutions", False),  # a label; where the code puts it decides (below)
        ("../solutions/04_x.ipynb", True),
        ("C:\\course\\solutions\\04.ipynb", True),
        ("compare with the solutions", False),
        ("solutions.", False),
        ("my_solutions.txt", False),
    ],
)
def test_a_path_into_solutions_is_not_a_sentence(text, path):
    assert names_solutions(text) is path


HARMLESS_IN_A_SANDBOX = sorted(
    name for name in HOSTILE if name.startswith(("deletes", "kills", "reads /proc", "%%bash rm"))
)


@pytest.mark.parametrize("name", HARMLESS_IN_A_SANDBOX)
def test_in_a_sandbox_deleting_killing_and_proc_reach_only_the_notebook_s_own(name):
    assert static_flags([HOSTILE[name]])  # flagged without a sandbox...
    assert static_flags([HOSTILE[name]], sandboxed=True) == []  # ...harmless inside one


@pytest.mark.parametrize("name", sorted(set(HOSTILE) - set(HARMLESS_IN_A_SANDBOX)))
def test_in_a_sandbox_tampering_with_the_grader_is_still_flagged(name):
    assert static_flags([HOSTILE[name]], sandboxed=True)
