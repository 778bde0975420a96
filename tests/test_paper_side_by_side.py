"""benchmarks/paper_side_by_side.py: argument errors, the arithmetic and the report.

Everything here but the last test runs without JAX. The last (slow) test runs the whole script
with tiny counts when LOWDIM_PAPER_CODE (a checkout of soominkwon/comp-deep-nets) and
LOWDIM_JAX_PYTHON (the python of a venv with jax, optax, tqdm and matplotlib) are set.
"""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPT = BENCHMARKS / "paper_side_by_side.py"
sys.path.insert(0, str(BENCHMARKS))

import paper_side_by_side as side_by_side  # noqa: E402  (a script in benchmarks/, not a package)

PAPER_FILES = ("network.py", "solver.py", "loss.py", "data.py", "utils.py")


def _run(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def _fake_paper_code(folder: Path, network_text="def kwon_compress_network(): pass\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in PAPER_FILES:
        (folder / name).write_text("")
    (folder / "network.py").write_text(network_text)
    return folder


def _one_line_error(result, argument):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("paper_side_by_side: error: ")
    assert argument in lines[0]
    return lines[0]


def test_a_missing_or_wrong_paper_code_is_one_line_naming_it(tmp_path):
    _one_line_error(_run("--jax-python", sys.executable), "--paper-code")
    _one_line_error(_run("--paper-code", str(tmp_path / "nowhere")), "--paper-code")
    empty = tmp_path / "empty"
    empty.mkdir()
    line = _one_line_error(_run("--paper-code", str(empty)), "--paper-code")
    assert "network.py" in line
    other = _fake_paper_code(tmp_path / "other", network_text="def init_net(): pass\n")
    line = _one_line_error(_run("--paper-code", str(other)), "--paper-code")
    assert "kwon_compress_network" in line


def test_a_missing_or_wrong_jax_python_is_one_line_naming_it(tmp_path):
    paper = _fake_paper_code(tmp_path / "paper")
    _one_line_error(_run("--paper-code", str(paper)), "--jax-python")
    _one_line_error(
        _run("--paper-code", str(paper), "--jax-python", str(tmp_path / "none")), "--jax-python"
    )
    not_executable = tmp_path / "python"
    not_executable.write_text("")
    line = _one_line_error(
        _run("--paper-code", str(paper), "--jax-python", str(not_executable)), "--jax-python"
    )
    assert "executable" in line


def _python_with(tmp_path, modules: dict) -> Path:
    """An executable that runs this python with fake modules (name -> source) importable."""
    fakes = tmp_path / "fake-modules"
    fakes.mkdir(parents=True)
    for name, source in modules.items():
        (fakes / f"{name}.py").write_text(source)
    wrapper = tmp_path / "fake-python"
    wrapper.write_text(f'#!/bin/sh\nPYTHONPATH="{fakes}" exec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for a python")
def test_a_python_without_jax_or_that_cannot_import_the_paper_code_is_named(tmp_path):
    paper = _fake_paper_code(tmp_path / "paper")
    no_jax = _python_with(tmp_path / "a", {"jax_is_not_here": ""})
    line = _one_line_error(
        _run("--paper-code", str(paper), "--jax-python", str(no_jax)), "--jax-python"
    )
    assert "cannot import jax and optax" in line
    # jax and optax import, but the paper's modules need a package this python lacks
    broken = _fake_paper_code(
        tmp_path / "broken",
        "import a_plotting_library_not_installed\ndef kwon_compress_network(): pass\n",
    )
    with_jax = _python_with(tmp_path / "b", {"jax": "", "optax": ""})
    line = _one_line_error(
        _run("--paper-code", str(broken), "--jax-python", str(with_jax)), "--jax-python"
    )
    assert "do not import" in line and "a_plotting_library_not_installed" in line


def test_bad_counts_and_tasks_are_one_line():
    _one_line_error(_run("--rounds", "0"), "--rounds")
    _one_line_error(_run("--tasks", "mf,ms"), "--tasks")
    _one_line_error(_run("--budget", "-1"), "--budget")
    _one_line_error(_run("--rounds", "three"), "--rounds")


def _samples():
    return {
        "mf": {
            "original": {
                "paper": [4e-4, 5e-4, 3e-4],
                "course": [2e-4, 6e-4, 3e-4],
                "course_compute": [1e-4, 3e-4, 2e-4],
            },
            "compressed": {
                "paper": [8e-5, 1e-4, 9e-5],
                "course": [4e-5, 5e-5, 9e-5],
                "course_compute": [3e-5, 4e-5, 6e-5],
            },
        }
    }


def test_medians_ranges_and_ratios():
    summary = side_by_side.summarize(_samples())["mf"]
    original = summary["original"]
    assert original["paper"]["median"] == pytest.approx(4e-4)
    assert (original["paper"]["min"], original["paper"]["max"]) == (3e-4, 5e-4)
    assert original["course"]["median"] == pytest.approx(3e-4)
    assert original["course_over_paper"] == pytest.approx(0.75)
    per_round = original["course_over_paper_per_round"]  # 0.5, 1.2, 1.0
    assert per_round["median"] == pytest.approx(1.0)
    assert (per_round["min"], per_round["max"]) == (pytest.approx(0.5), pytest.approx(1.2))
    assert original["course_compute_over_paper"] == pytest.approx(0.5)
    per_round = original["course_compute_over_paper_per_round"]  # 0.25, 0.6, 0.667
    assert (per_round["min"], per_round["max"]) == (pytest.approx(0.25), pytest.approx(2 / 3))
    compressed = summary["compressed"]
    assert compressed["course_over_paper"] == pytest.approx(5e-5 / 9e-5)
    speedup = summary["original_over_compressed"]
    assert speedup["paper"] == pytest.approx(4e-4 / 9e-5)
    assert speedup["course"] == pytest.approx(3e-4 / 5e-5)
    assert speedup["course_compute"] == pytest.approx(2e-4 / 4e-5)
    uneven = {"paper": [1.0], "course": [], "course_compute": [1.0]}
    with pytest.raises(ValueError, match="as many"):
        side_by_side.summarize({"mf": {"original": uneven}})


def _report(conditions):
    return {
        "environment": {
            "date": "2026-01-01 00:00 UTC",
            "cpu": "Some CPU 9000, 2 cores",
            "paper_side": {
                "jax": "0.0.1",
                "xla_flags": "",
                "os_threads": 5,
                "networks": {"mf original": {"difference_from_solver_train": 2.5e-16}},
            },
            "course_side": {"torch": "9.9", "policy_threads_text": "threads=None; 1 thread"},
        },
        "settings": {"mf": {"d": 100, "r": 10, "lr": 50.0, "alpha": 1.0}},
        "rounds": 3,
        "blocks": 10,
        "warmup_blocks": 3,
        "budget": 1.0,
        "conditions": conditions,
    }


def test_the_table_and_the_json_from_a_fake_measurement(tmp_path):
    summary = side_by_side.summarize(_samples())
    report = _report({"quiet": summary, "loaded": summary})
    table = side_by_side.write_report(report, tmp_path)
    assert (tmp_path / "paper-side-by-side.md").read_text() == table
    assert json.loads((tmp_path / "paper-side-by-side.json").read_text()) == report
    assert "Some CPU 9000, 2 cores" in table and "JAX 0.0.1" in table and "torch 9.9" in table
    rows = [line for line in table.splitlines() if line.startswith("| mf")]
    assert len(rows) == 4  # two networks, quiet and loaded
    assert rows[0] == (
        "| mf | original | quiet | 400 us [300 us-500 us] | 300 us [200 us-600 us] "
        "| 0.75x [0.50-1.20] | 200 us [100 us-300 us] | 0.50x [0.25-0.67] |"
    )
    assert "| mf | compressed | loaded | 90 us [80 us-100 us] | 50 us [40 us-90 us] |" in table
    assert (
        "mf, quiet: original/compressed per step, paper 4.4x, course 6.0x (compute 5.0x)" in table
    )
    assert "busy_neighbour" in table
    assert "solver.train by at most (relative) 2.5e-16 (mf original)" in table
    quiet_only = side_by_side.markdown(_report({"quiet": summary}))
    assert "loaded" not in quiet_only


@pytest.mark.slow
def test_the_script_times_both_sides(tmp_path):
    paper_code = os.environ.get("LOWDIM_PAPER_CODE")
    jax_python = os.environ.get("LOWDIM_JAX_PYTHON")
    if not (paper_code and jax_python):
        pytest.skip("set LOWDIM_PAPER_CODE and LOWDIM_JAX_PYTHON to run the paper's code")
    result = _run(
        "--paper-code",
        paper_code,
        "--jax-python",
        jax_python,
        "--rounds",
        "2",
        "--blocks",
        "1",
        "--warmup-blocks",
        "1",
        "--budget",
        "0.02",
        "--out",
        str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "paper-side-by-side.json").read_text())
    assert set(report["conditions"]) == {"quiet", "loaded"}
    for results in report["conditions"].values():
        assert set(results) == {"mf", "mc"}
        for networks in results.values():
            for name in ("original", "compressed"):
                row = networks[name]
                for side in ("paper", "course", "course_compute"):
                    assert len(row[side]["rounds"]) == 2
                    assert all(value > 0 for value in row[side]["rounds"])
                assert row["course_over_paper"] > 0
    env = report["environment"]
    assert env["paper_side"]["jax"] and env["course_side"]["torch"]
    # both sides built the same networks: the same parameter counts; the JAX side's timed loop
    # takes the same steps as the paper's solver.train
    for key, course in env["course_side"]["networks"].items():
        paper = env["paper_side"]["networks"][key]
        assert paper["params"] == course["params"], key
        assert paper["difference_from_solver_train"] < 1e-12, key
    assert (tmp_path / "paper-side-by-side.md").read_text().count("| m") == 8
