"""How long does a class take to grade? A folder of N submissions through ``lowdim-course grade``.

The class is made from the course's own notebooks, as students hand them in: every lesson,
complete (its solution), untouched (the lesson as released) and partial (the lesson with its
first answer filled in), renamed ``student_NNN.ipynb`` and cycled until there are N. The command
runs as an instructor runs it (a subprocess, ``--jobs``), and the wall time of the whole run is
measured, with the expected total score as a check that the grading was right.

    python benchmarks/grade_class.py                  # 200 notebooks, default --jobs
    python benchmarks/grade_class.py --count 40 --jobs 1

Writes ``results/grade-class.{md,json}``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from lowdim_course.grading import default_jobs, sandbox_status

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import cpu_model

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _first_answer_filled(lesson: Path, solution: Path):
    """The lesson with the first cell that differs from its solution taken from the solution."""
    blank = nbformat.read(lesson, as_version=4)
    solved = nbformat.read(solution, as_version=4)
    for index, (a, b) in enumerate(zip(blank.cells, solved.cells, strict=True)):
        if a.cell_type == "code" and a.source != b.source:
            blank.cells[index] = copy.deepcopy(b)
            return blank
    return blank


def make_class(folder: Path, count: int) -> float:
    """Write ``count`` submissions into ``folder``; return the score they should get."""
    kinds = []
    for solution in sorted((ROOT / "solutions").glob("[0-9]*.ipynb")):
        lesson = ROOT / "lessons" / solution.name
        points = sum(1 for _ in _exercise_cells(solution))
        kinds += [
            (nbformat.read(solution, as_version=4), points),
            (nbformat.read(lesson, as_version=4), 0),
            (_first_answer_filled(lesson, solution), 1),
        ]
    expected = 0.0
    for index in range(count):
        notebook, points = kinds[index % len(kinds)]
        nbformat.write(notebook, folder / f"student_{index:03d}.ipynb")
        expected += points
    return expected


def _exercise_cells(solution: Path):
    from lowdim_course.exercises import exercise_ids

    return exercise_ids(solution.name[:2])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    jobs = args.jobs or default_jobs()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "submissions"
        folder.mkdir()
        expected = make_class(folder, args.count)
        book = Path(scratch) / "gradebook.json"
        script = Path(sys.executable).with_name("lowdim-course")
        started = time.perf_counter()
        run = subprocess.run(
            [str(script), "grade", str(folder), "--json", str(book), "--jobs", str(jobs)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        seconds = time.perf_counter() - started
        if run.returncode != 0:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
        entries = json.loads(book.read_text())
    score = sum(entry["score"] for entry in entries)
    errors = sum(1 for entry in entries if entry["error"])
    per_notebook = sorted(entry["seconds"] for entry in entries)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "notebooks": len(entries),
        "jobs": jobs,
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "sandbox": sandbox_status() or "each notebook in a bubblewrap sandbox",
        "seconds": seconds,
        "seconds_per_notebook": seconds / len(entries),
        "median_notebook_seconds": per_notebook[len(per_notebook) // 2],
        "score": score,
        "expected_score": expected,
        "errors": errors,
    }
    table = (
        f"Measured {result['date']} on {result['cpus']} CPUs ({result['cpu_model']}): "
        f"`lowdim-course grade` on a class of {len(entries)} submissions (every lesson "
        f"complete, untouched and partly answered, cycled), `--jobs {jobs}`; "
        f"{result['sandbox']}.\n\n"
        "| notebooks | jobs | wall time | per notebook | median notebook | score (expected) "
        "| errors |\n|---|---|---|---|---|---|---|\n"
        f"| {len(entries)} | {jobs} | {seconds / 60:.1f} min | {seconds / len(entries):.1f} s "
        f"| {result['median_notebook_seconds']:.1f} s | {score:g} ({expected:g}) | {errors} |\n"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "grade-class.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "grade-class.md").write_text(table)
    print(table)
    return 0 if score == expected and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
