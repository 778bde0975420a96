"""``compare`` and the ``lowdim-course compare`` command: tables, JSON, plots, one-line errors."""

import json
import subprocess
import sys

import pytest
import torch

from lowdim_course.cli import main
from lowdim_course.comparison import compare, resolve_settings


def run_cli(argv) -> int:
    """Exit code of the command, whether main returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


SMALL = ["--d", "20", "--r", "2", "--steps", "1500", "--lr", "6", "--no-progress"]


def test_compare_runs_both_networks_on_one_problem():
    result = compare("mf", d=20, r=2, steps=1500, lr=6.0)
    summary = result.to_dict()
    assert summary["original"]["params"] == 3 * 20 * 20
    assert summary["compressed"]["params"] == 2 * 20 * 4 + 4 * 4
    assert result.original.settings["d"] == result.compressed.settings["d"] == 20
    assert result.original.recovery_error[0] == pytest.approx(1.0, abs=1e-3)
    assert result.compressed.final_error < 1e-2 and result.original.final_error < 1e-2
    assert result.settings["r_hat"] == 4 and result.settings["lr"] == 6.0


def test_task_defaults_and_task_only_options():
    assert resolve_settings("mc")["alpha"] == 5.0 and resolve_settings("mc")["p"] == 0.3
    assert "p" not in resolve_settings("mf") and "m" not in resolve_settings("mc")
    with pytest.raises(ValueError, match="p applies to task 'mc' only"):
        resolve_settings("mf", p=0.5)
    with pytest.raises(ValueError, match="m applies to task 'ms' only"):
        compare("mc", m=100)
    with pytest.raises(ValueError, match=r"lrr is not a setting; the settings are .*lr"):
        compare("mf", lrr=5)  # a typo used to be stored and ignored: the run went at lr = 50


def test_cli_prints_table_and_writes_json_and_plot(tmp_path, capsys):
    json_path, plot_path = tmp_path / "out" / "mf.json", tmp_path / "mf.png"
    assert main(["compare", *SMALL, "--json", str(json_path), "--plot", str(plot_path)]) == 0
    printed = capsys.readouterr().out
    assert "iterations to 1e-4" in printed and "parameters" in printed
    data = json.loads(json_path.read_text())
    assert set(data) == {"task", "settings", "original", "compressed"}
    for side in ("original", "compressed"):
        assert {
            "params",
            "iterations_to_1e-4",
            "seconds_to_1e-4",
            "seconds_per_step",
            "final_error",
        } <= set(data[side])
    assert data["original"]["params"] == 1200
    assert plot_path.stat().st_size > 1000


def test_cli_completion_reports_the_unobserved_error(tmp_path, capsys):
    args = ["compare", "--task", "mc", *SMALL, "--p", "0.5", "--json", str(tmp_path / "a.json")]
    assert main(args) == 0
    assert "final unobserved error" in capsys.readouterr().out
    data = json.loads((tmp_path / "a.json").read_text())
    assert data["settings"]["p"] == 0.5 and data["compressed"]["final_unobserved_error"] > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--depth", "1"], "--depth must be an integer >= 2"),
        (["--r-hat", "1"], "--r-hat must be >= r=2"),
        (["--r-hat", "30"], "--r-hat must be an integer in [1, 20]"),
        (["--r", "11"], "--r must be an integer in [1, 10]"),
        (["--lr", "0"], "--lr must be > 0"),
        (["--eps", "-1"], "--eps must be > 0"),
        (["--task", "mc", "--p", "1.5"], "--p must be in (0, 1]"),
        (["--task", "ms", "--m", "0"], "--m must be an integer >= 1"),
        (["--lr", "1e6"], "lower the learning rate"),
        (["--task", "xx"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(args, message, capsys):
    assert run_cli(["compare", *SMALL, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_console_script_without_cuda_fails_cleanly():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    run = subprocess.run(
        [sys.executable, "-m", "lowdim_course.cli", "compare", *SMALL, "--device", "cuda"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "no CUDA GPU is available" in run.stderr
