"""Does headless execution ever stall? Many consecutive runs of each solution notebook.

Each solution notebook is run ``--runs`` times in a row (default 20) in two ways, timing each run
from start to end (kernel start-up included):

* ``execute``: ``lowdim_course.headless.execute_notebook`` (what ``lowdim-course execute`` and
  the lesson builder use), in a temporary copy of ``solutions/``;
* ``grade``: ``lowdim_course.grading.grade_notebook`` (a worker, a kernel, the grader's checks).

A stall (jupyter/nbclient#312: a cell waiting out its whole timeout) shows as a run far above the
median; the target is every run within twice its notebook's median. The two ways alternate, so
both see the same machine load.

    python benchmarks/headless_stability.py                       # every solution, 20 runs
    python benchmarks/headless_stability.py --runs 5 solutions/04_compressing_width.ipynb
    python benchmarks/headless_stability.py --busy 1 --name loaded solutions/0[345]*.ipynb

``--busy N`` keeps N other processes spinning on the CPU for the whole run (a busy laptop: a
browser, another notebook). Writes ``results/headless-stability[-NAME].{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from lowdim_course.grading import grade_notebook
from lowdim_course.headless import execute_notebook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_RATIO = 2.0
TIMEOUT = 300.0


def run_execute(path: Path, folder: Path) -> float:
    notebook = nbformat.read(path, as_version=4)
    started = time.perf_counter()
    result = execute_notebook(notebook, cwd=folder, timeout=TIMEOUT)
    seconds = time.perf_counter() - started
    if result.error or result.cell_errors:
        raise RuntimeError(f"{path.name}: {result.error or result.cell_errors[0]}")
    return seconds


def run_grade(path: Path) -> float:
    started = time.perf_counter()
    entry = grade_notebook(path, timeout=TIMEOUT)
    seconds = time.perf_counter() - started
    if entry["error"] or entry["score"] != entry["max_score"]:
        raise RuntimeError(f"{path.name}: graded {entry['score']}/{entry['max_score']}")
    return seconds


def summary(times: list[float]) -> dict:
    median = statistics.median(times)
    return {
        "runs": len(times),
        "median": median,
        "max": max(times),
        "max_over_median": max(times) / median,
        "within_target": max(times) <= TARGET_RATIO * median,
        "seconds": times,
    }


def markdown(rows: list[dict], runs: int, busy: int) -> str:
    load = f", with {busy} other process(es) spinning on the CPU all along" if busy else ""
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs{load}: {runs} "
        "consecutive headless runs of each solution notebook, seconds per run (kernel start-up "
        "included), `execute` "
        "(lowdim_course.headless) and `grade` (lowdim_course.grading) alternating; target: every "
        f"run within {TARGET_RATIO:g}x its median (a stall of jupyter/nbclient#312 lasts a whole "
        "cell timeout).",
        "",
        "| notebook | execute median | execute max | max/median | grade median | grade max "
        "| max/median |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        e, g = row["execute"], row["grade"]
        lines.append(
            f"| {row['notebook']} | {e['median']:.1f} s | {e['max']:.1f} s "
            f"| {e['max_over_median']:.2f} | {g['median']:.1f} s | {g['max']:.1f} s "
            f"| {g['max_over_median']:.2f} |"
        )
    ok = all(row[kind]["within_target"] for row in rows for kind in ("execute", "grade"))
    total = sum(len(row[kind]["seconds"]) for row in rows for kind in ("execute", "grade"))
    lines += ["", f"{total} runs; every run within {TARGET_RATIO:g}x its median: {ok}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--busy", type=int, default=0, help="processes spinning meanwhile")
    parser.add_argument("--name", default="", help="suffix of the result files")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.runs < 2:
        print("headless_stability: error: --runs must be >= 2", file=sys.stderr)
        return 2
    paths = [p.resolve() for p in args.notebooks] or sorted((ROOT / "solutions").glob("*.ipynb"))
    rows = []
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)
    ]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            rows = _measure(paths, args.runs, Path(scratch))
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()
    table = markdown(rows, args.runs, args.busy)
    stem = "headless-stability" + (f"-{args.name}" if args.name else "")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / f"{stem}.md").write_text(table)
    print(table)
    return 0


def _measure(paths: list[Path], runs: int, scratch: Path) -> list[dict]:
    folder = scratch / "solutions"
    shutil.copytree(ROOT / "solutions", folder)
    rows = []
    for path in paths:
        times = {"execute": [], "grade": []}
        for run in range(runs):
            times["execute"].append(run_execute(path, folder))
            times["grade"].append(run_grade(path))
            print(
                f"{path.name} run {run + 1}/{runs}: execute {times['execute'][-1]:.1f} s, "
                f"grade {times['grade'][-1]:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
        rows.append({"notebook": name, **{k: summary(v) for k, v in times.items()}})
    return rows


if __name__ == "__main__":
    sys.exit(main())
