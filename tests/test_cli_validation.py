"""The command line's contract: bad input is one line on stderr and exit 2, caught before any
training or notebook run (the training functions are replaced by ones that fail the test if
called); --version; help for every option; compare's error definition and ratio line; a task
given the other command's way; execute writes a new file.
"""

import argparse
import json
import math
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import lowdim_course
import lowdim_course.comparison as comparison
import lowdim_course.reproduce as rp
from lowdim_course import cli, cli_training
from lowdim_course.problems import TASKS

SMALL = ["--d", "20", "--r", "2", "--steps", "1500", "--lr", "6", "--no-progress"]
UNWRITABLE = Path("/proc/forbidden")  # no process, root included, can create files in /proc


def run_cli(argv) -> int:
    """Exit code of the command, whether main returns it or argparse exits with it."""
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


def one_line_error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"lowdim-course {command}: error: "), err
    return err.strip()


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any problem is built or any network trained; the calls made."""
    calls = []

    def forbidden(name):
        def refuse(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was called: the input was not checked first")

        return refuse

    for module, name in [
        (comparison, "build_problem"),
        (comparison, "train"),
        (comparison, "run_both"),
        (rp, "build_problem"),
        (rp, "run_both"),
        (rp, "_reproduce_nonlinear"),
    ]:
        monkeypatch.setattr(module, name, forbidden(f"{module.__name__}.{name}"))
    return calls


needs_proc = pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux's /proc")


# --- 1. output paths and formats, before training ------------------------------------------


@needs_proc
@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["compare", *SMALL, "--json", str(UNWRITABLE / "a.json")], "--json must be a path"),
        (["compare", *SMALL, "--plot", str(UNWRITABLE / "a.png")], "--plot must be a path"),
        (["compare", *SMALL, "--plot", "out.txt"], "--plot must end in .png, .pdf or .svg"),
        (["compare", *SMALL, "--plot", "out"], "--plot must end in .png, .pdf or .svg"),
        (["reproduce", "mf", "--out", str(UNWRITABLE)], "--out must be a path"),
        (["reproduce", "nonlinear", "--out", str(UNWRITABLE)], "--out must be a path"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_training(
    argv, words, no_training, capsys, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert run_cli(argv) == 2
    assert words in one_line_error(capsys, argv[0])
    assert no_training == [] and list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_of_an_output_folder_is_refused(no_training, capsys, tmp_path):
    (tmp_path / "plain").write_text("x")
    assert run_cli(["compare", *SMALL, "--json", str(tmp_path / "plain" / "a.json")]) == 2
    assert "is a file, not a folder" in one_line_error(capsys, "compare")
    assert run_cli(["reproduce", "mf", "--out", str(tmp_path / "plain")]) == 2
    assert "--out must be a folder, got the file" in one_line_error(capsys, "reproduce")
    assert run_cli(["compare", *SMALL, "--json", str(tmp_path)]) == 2
    assert "--json must be a file name, got the folder" in one_line_error(capsys, "compare")
    assert no_training == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_a_folder_without_write_permission_is_refused(no_training, capsys, tmp_path):
    import os

    if os.geteuid() == 0:
        pytest.skip("root may write anywhere the file system allows")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert run_cli(["compare", *SMALL, "--json", str(locked / "a.json")]) == 2
        assert "permission denied" in one_line_error(capsys, "compare")
    finally:
        locked.chmod(0o700)
    assert no_training == []


def test_missing_folders_are_fine_and_a_writable_path_leaves_nothing_behind(tmp_path):
    from lowdim_course.files import FIGURE_SUFFIXES, check_output_file, check_output_folder

    assert check_output_folder("--out", tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    for suffix in FIGURE_SUFFIXES:
        check_output_file("--plot", tmp_path / "a" / f"figure{suffix.upper()}", FIGURE_SUFFIXES)
    assert list(tmp_path.iterdir()) == []  # the probe file is gone, no folder was created


@pytest.mark.parametrize("suffix", [".png", ".pdf", ".svg"])
def test_every_plot_suffix_the_help_names_is_saved_in_its_format(suffix, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lowdim_course.files import save_figure_atomically

    figure = plt.figure()
    figure.add_subplot().plot([0, 1], [1, 0])
    save_figure_atomically(figure, tmp_path / f"f{suffix}")
    plt.close(figure)
    head = (tmp_path / f"f{suffix}").read_bytes()[:200]
    magic = {".png": b"\x89PNG", ".pdf": b"%PDF", ".svg": b"<svg"}[suffix]
    assert magic in head


@needs_proc
def test_grade_and_execute_check_their_outputs_before_any_notebook_runs(
    tmp_path, capsys, monkeypatch
):
    pytest.importorskip("nbformat")
    import lowdim_course.grading as grading
    import lowdim_course.headless as headless

    ran = []
    monkeypatch.setattr(grading, "grade_notebooks", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(headless, "execute_notebook", lambda *a, **k: ran.append(a))
    notebook = tmp_path / "01_x.ipynb"
    notebook.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    for option in ("--json", "--csv"):
        assert run_cli(["grade", str(notebook), option, str(UNWRITABLE / "book")]) == 2
        assert f"{option} must be a path" in one_line_error(capsys, "grade")
    assert run_cli(["execute", str(notebook), "--out", str(UNWRITABLE / "x.ipynb")]) == 2
    assert "--out must be a path" in one_line_error(capsys, "execute")
    assert ran == []


# --- 2. numbers out of range, before training -----------------------------------------------


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--steps", "0"], "--steps must be an integer >= 1, got 0"),
        (["--steps", "-4"], "--steps must be an integer >= 1, got -4"),
        (["--d", "1"], "--d must be an integer >= 2"),
        (["--r", "0"], "--r must be an integer in [1, 10]"),
        (["--r-hat", "0"], "--r-hat must be an integer in [1, 20]"),
        (["--depth", "0"], "--depth must be an integer >= 2"),
        (["--eps", "0"], "--eps must be > 0"),
        (["--eps", "inf"], "--eps must be a finite number > 0"),
        (["--lr", "-1"], "--lr must be > 0"),
        (["--lr", "nan"], "--lr must be a finite number > 0"),
        (["--alpha", "0"], "--alpha must be > 0"),
        (["--tol=-1e-3"], "--tol must be >= 0"),
        (["--seed", "-1"], "--seed must be an integer >= 0"),
        (["--task", "mc", "--p", "0"], "--p must be in (0, 1]"),
        (["--task", "mc", "--p", "1.01"], "--p must be in (0, 1]"),
        (["--task", "ms", "--m", "-2"], "--m must be an integer >= 1"),
        (["--p", "0.5"], "--p applies to task 'mc' only"),
        (["--device", "tpu"], "--device must be 'cpu', 'cuda', 'cuda:N' or 'auto'"),
    ],
)
def test_compare_refuses_nonsense_numbers_before_training(extra, words, no_training, capsys):
    assert run_cli(["compare", *SMALL, *extra]) == 2
    assert words in one_line_error(capsys, "compare")
    assert no_training == []


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["reproduce", "mf", "--steps", "0"], "--steps must be an integer >= 1, got 0"),
        (["reproduce", "mf", "ms", "--steps", "-1"], "--steps must be an integer >= 1"),
        (["reproduce", "mf", "--device", "tpu"], "--device must be"),
        (["reproduce", "mf", "nonlinear", "--device", "gpu"], "--device must be"),
    ],
)
def test_reproduce_refuses_nonsense_before_the_first_experiment(
    argv, words, no_training, capsys, tmp_path
):
    assert run_cli([*argv, "--out", str(tmp_path / "out")]) == 2
    assert words in one_line_error(capsys, "reproduce")
    assert no_training == [] and list(tmp_path.iterdir()) == []


def test_the_boundaries_themselves_are_accepted():
    parser = cli.build_parser()
    edge = ["--d", "2", "--r", "1", "--r-hat", "1", "--depth", "2", "--steps", "1"]
    edge += ["--tol", "0", "--seed", "0", "--task", "mc", "--p", "1", "--eps", "1e-300"]
    options = cli_training.check_compare(parser.parse_args(["compare", *edge]))
    assert options["d"] == 2 and options["p"] == 1.0 and options["steps"] == 1
    assert comparison.resolve_settings("ms", m=1)["m"] == 1


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["grade", "{nb}", "--timeout", "0"], "--timeout must be > 0"),
        (["grade", "{nb}", "--jobs", "0"], "--jobs must be an integer >= 1"),
        (["execute", "{nb}", "--timeout", "-1"], "--timeout must be > 0"),
    ],
)
def test_notebook_commands_refuse_nonsense_numbers(argv, words, tmp_path, capsys, monkeypatch):
    pytest.importorskip("nbformat")
    import lowdim_course.grading as grading
    import lowdim_course.headless as headless

    ran = []
    monkeypatch.setattr(grading, "grade_notebooks", lambda *a, **k: ran.append(a))
    monkeypatch.setattr(headless, "execute_notebook", lambda *a, **k: ran.append(a))
    notebook = tmp_path / "01_x.ipynb"
    notebook.write_text("{}")
    assert run_cli([word.replace("{nb}", str(notebook)) for word in argv]) == 2
    assert words in one_line_error(capsys, argv[0])
    assert ran == []


# --- 3. --version ------------------------------------------------------------------------------


def test_version_prints_the_package_version():
    run = subprocess.run(
        [sys.executable, "-m", "lowdim_course", "--version"], capture_output=True, text=True
    )
    assert run.returncode == 0
    assert run.stdout == f"lowdim-course {lowdim_course.__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", lowdim_course.__version__)


# --- 4. help for every option --------------------------------------------------------------


def options_without_help(parser: argparse.ArgumentParser) -> list[str]:
    """``'COMMAND --option'`` for every argument of the parser and its subparsers with no help."""
    missing = []

    def walk(parser, where):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            name = "/".join(action.option_strings) or action.metavar or action.dest
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"{where} {name}".strip())
            if isinstance(action, argparse._SubParsersAction):
                for command, sub in action.choices.items():
                    walk(sub, f"{where} {command}".strip())

    walk(parser, "")
    return missing


def test_every_option_of_every_command_has_help():
    parser = cli.build_parser()
    assert options_without_help(parser) == []
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == {"compare", "reproduce", "grade", "execute", "reset"}


def test_the_help_walker_finds_an_option_without_help():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(help="commands").add_parser("run", help="run it")
    sub.add_argument("--fast", help="go fast")
    sub.add_argument("--quiet", action="store_true")
    assert options_without_help(parser) == ["run --quiet"]


# --- 5. compare's output: the error it reports, and the ratios ----------------------------


def test_compare_defines_its_error_and_ends_with_the_ratios(tmp_path, capsys):
    out = tmp_path / "mf.json"
    assert cli.main(["compare", *SMALL, "--json", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert any("||W_L ... W_1 - M*||_F / ||M*||_F" in line for line in lines)
    assert "iterations to 1e-4" in "\n".join(lines) and "parameters" in "\n".join(lines)
    last = lines[-1]
    match = re.fullmatch(
        r"compressed/original: parameters (\S+), iterations to 1e-4 (\S+), seconds to 1e-4 "
        r"(\S+) \(seconds as measured in this run on this CPU\)",
        last,
    )
    assert match, last
    data = json.loads(out.read_text())
    original, compressed = data["original"], data["compressed"]
    assert compressed["params"] == 2 * 20 * 4 + 4 * 4 and original["params"] == 3 * 20 * 20
    expected = [
        compressed[key] / original[key]
        for key in ("params", "iterations_to_1e-4", "seconds_to_1e-4")
    ]
    for printed, value in zip(match.groups(), expected, strict=True):
        assert math.isclose(float(printed), value, rel_tol=5e-3)


def test_compare_says_n_a_where_1e_4_is_not_reached():
    summary = {
        "original": {"params": 1200, "iterations_to_1e-4": None, "seconds_to_1e-4": None},
        "compressed": {"params": 176, "iterations_to_1e-4": 90, "seconds_to_1e-4": 0.1},
    }
    line = cli_training.ratio_line(summary, "cuda:0")
    assert line.startswith("compressed/original: parameters 0.147, iterations to 1e-4 n/a, ")
    assert "on this GPU, cuda:0; n/a: a network never reached 1e-4)" in line


@pytest.mark.parametrize("task", TASKS)
def test_the_printed_error_is_what_training_records(task):
    """||W_L...W_1 - M*||_F / ||M*||_F in numpy, against the error the training loop logged."""
    from lowdim_course import make_problem, original_network, train

    problem = make_problem(task, d=12, r=2, seed=3, **({"m": 300} if task == "ms" else {}))
    network = original_network(12, depth=3, eps=0.3, seed=1)
    history = train(problem, network, lr=2.0, steps=30, tol=0.0)
    product = network.end_to_end().numpy()
    target = problem.target.numpy()
    mine = np.linalg.norm(product - target) / np.linalg.norm(target)
    assert history.final_error == pytest.approx(mine, rel=1e-9)
    assert history.recovery_error[0] != pytest.approx(mine, rel=1e-3)  # it moved


# --- 6. a task given the other command's way -----------------------------------------------


@pytest.mark.parametrize("task", TASKS)
def test_a_positional_task_to_compare_suggests_dash_dash_task(task, no_training, capsys):
    assert run_cli(["compare", task, "--no-progress"]) == 2
    err = one_line_error(capsys, "compare")
    assert err.endswith(f"did you mean --task {task}?")
    assert no_training == []


def test_other_stray_words_keep_argparses_message(no_training, capsys):
    assert run_cli(["compare", "fast"]) == 2
    err = capsys.readouterr().err
    assert err == "lowdim-course: error: unrecognized arguments: fast\n"


@pytest.mark.parametrize("argv", [["--task", "mc"], ["--task=mc"], ["mf", "--task", "mc"]])
def test_reproduce_with_dash_dash_task_suggests_the_positional_form(argv, no_training, capsys):
    assert run_cli(["reproduce", *argv]) == 2
    assert one_line_error(capsys, "reproduce").endswith("did you mean reproduce mc?")
    assert no_training == []


# --- 7. execute writes a new file ----------------------------------------------------------


@pytest.fixture
def fake_kernel(monkeypatch):
    """execute_notebook replaced: every code cell gets the output 'ran'; no kernel starts."""
    nbformat = pytest.importorskip("nbformat")
    import lowdim_course.headless as headless

    def execute(notebook, cwd, timeout):
        for cell in notebook.cells:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
        return types.SimpleNamespace(cell_errors=[], seconds=0.5, error=None)

    monkeypatch.setattr(headless, "execute_notebook", execute)
    return nbformat


def _notebook(nbformat, path):
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(1)")]), path)
    return path.read_bytes()


def _outputs(nbformat, path):
    return [o.text for o in nbformat.read(path, as_version=4).cells[0].outputs]


def test_execute_writes_a_new_file_and_leaves_the_notebook_alone(fake_kernel, tmp_path, capsys):
    path = tmp_path / "04_lesson.ipynb"
    before = _notebook(fake_kernel, path)
    assert cli.main(["execute", str(path)]) == 0
    executed = tmp_path / "04_lesson.executed.ipynb"
    assert path.read_bytes() == before and _outputs(fake_kernel, executed) == ["ran\n"]
    assert f"wrote {executed}" in capsys.readouterr().out
    other = tmp_path / "elsewhere" / "run.ipynb"
    for option in ("--out", "--output"):
        assert cli.main(["execute", str(path), option, str(other)]) == 0
        assert path.read_bytes() == before and _outputs(fake_kernel, other) == ["ran\n"]
        other.unlink()


def test_execute_in_place_overwrites_only_when_asked(fake_kernel, tmp_path, capsys):
    path = tmp_path / "n.ipynb"
    _notebook(fake_kernel, path)
    assert cli.main(["execute", str(path), "--in-place"]) == 0
    assert _outputs(fake_kernel, path) == ["ran\n"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.ipynb"]
    assert run_cli(["execute", str(path), "--in-place", "--out", str(tmp_path / "o.ipynb")]) == 2
    assert "not allowed with" in capsys.readouterr().err
