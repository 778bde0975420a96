"""The notebook benchmark's table: quiet and loaded run times per lesson and their ratio."""

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import notebook_benchmark  # noqa: E402  (a script in benchmarks/, not a package)


def _row(name, seconds, slider):
    return {
        "notebook": name,
        "seconds": seconds,
        "peak_megabytes": 300.0,
        "panels": [{"depth": slider}],
        "max_slider_seconds": slider,
    }


def test_the_loaded_run_adds_its_time_and_the_ratio_to_the_quiet_row():
    row = notebook_benchmark.with_loaded(_row("a", 4.0, 0.2), _row("a", 5.0, 0.25))
    assert row["seconds"] == 4.0 and row["loaded_seconds"] == 5.0
    assert row["loaded_ratio"] == 1.25 and row["loaded_max_slider_seconds"] == 0.25
    failed = notebook_benchmark.with_loaded(_row("b", 4.0, 0.2), {"notebook": "b", "error": "x"})
    assert failed["loaded_error"] == "x" and "loaded_ratio" not in failed


def test_the_table_shows_both_run_times_the_ratio_the_worst_lesson_and_the_processor():
    rows = [
        notebook_benchmark.with_loaded(_row("lessons/00.ipynb", 2.0, 0.2), _row("x", 2.4, 0.2)),
        notebook_benchmark.with_loaded(_row("lessons/02.ipynb", 4.0, 0.3), _row("x", 8.0, 0.4)),
    ]
    table = notebook_benchmark.markdown(rows, "AMD EPYC 7B13, 2 cores")
    assert "on AMD EPYC 7B13, 2 cores:" in table
    assert "| run time | run time, loaded | loaded/quiet |" in table
    assert "| lessons/00.ipynb | 2.0 s | 2.4 s | 1.20 | 300 MB | 1 | 0.20 s | 0.20 s |" in table
    assert "| lessons/02.ipynb | 4.0 s | 8.0 s | 2.00 |" in table
    assert "Largest loaded/quiet: 2.00 (lessons/02.ipynb), over the target of 1.5." in table
    quiet = notebook_benchmark.markdown([_row("lessons/00.ipynb", 2.0, 0.2)], "cpu")
    assert "loaded" not in quiet and "| lessons/00.ipynb | 2.0 s | 300 MB | 1 | 0.20 s |" in quiet
