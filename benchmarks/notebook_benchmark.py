"""What a student waits for: each notebook's run time and peak memory, each slider's latency.

Every notebook runs top to bottom in a fresh kernel (its start-up not counted), in a subprocess
of its own, so that the peak resident memory of that kernel can be read
(``getrusage(RUSAGE_CHILDREN).ru_maxrss`` after
the kernel has exited). A last cell is appended to the executed copy (never to the file): it
moves every control of every slider panel the notebook made one notch
(``lowdim_course.widgets.nudge``) and reports how long the demo took to recompute.

    python benchmarks/notebook_benchmark.py                 # lessons/*.ipynb
    python benchmarks/notebook_benchmark.py solutions/*.ipynb
    python benchmarks/notebook_benchmark.py --loaded        # and again with a busy neighbour

With ``--loaded`` each notebook runs a second time, top to bottom and its sliders, beside one
other process spinning on a core (``run_benchmarks.busy_neighbour``), and the table gains its
run time loaded and loaded/quiet. Writes ``results/notebooks.json`` (the processor, as
/proc/cpuinfo names it, and one row per notebook) and ``results/notebooks.md``. Targets: under
60 s and 1 GB per notebook on 2 CPU cores, under 0.5 s per slider move at default values, and
a run at most 1.5 times slower beside a busy neighbour than quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TARGET_SECONDS, TARGET_MEGABYTES, TARGET_LATENCY = 60.0, 1024.0, 0.5
TARGET_LOADED_RATIO = 1.5  # run time beside a busy neighbour / run time quiet

# The last cell: move every slider of every panel one notch, write the seconds to a file.
_PROBE = """
import json
from lowdim_course.widgets import nudge, panels_made
with open({path!r}, "w") as file:
    json.dump([nudge(panel) for panel in panels_made()], file)
"""

# Running the notebook and the probe in one kernel, with the course's headless runner (blocking
# client, nothing sent while a cell runs), which does not stall as nbclient can on slider panels
# (jupyter/nbclient#312; docs/headless-execution.md).
_RUNNER = """
import json, resource, sys, time
import nbformat
from lowdim_course.headless import HeadlessKernel
path, probe, workdir, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
notebook = nbformat.read(path, as_version=4)

def run(kernel, code, index):
    reply = kernel.run(code, deadline=time.monotonic() + timeout)
    if reply["status"] != "ok":
        raise SystemExit(f"cell {index}: {reply.get('ename')}: {reply.get('evalue')}")

with HeadlessKernel(cwd=workdir) as kernel:
    run(kernel, "pass", -1)  # the kernel is up and ready
    started = time.perf_counter()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            run(kernel, cell.source, index)
    seconds = time.perf_counter() - started
    run(kernel, probe, len(notebook.cells))
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_megabytes": peak_kb / 1024}))
"""
CELL_TIMEOUT = 120.0


def measure(path: Path) -> dict:
    with tempfile.TemporaryDirectory() as scratch:
        latencies_file = Path(scratch) / "latencies.json"
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                _RUNNER,
                str(path),
                _PROBE.format(path=str(latencies_file)),
                str(path.parent.resolve()),
                str(CELL_TIMEOUT),
            ],
            capture_output=True,
            stdin=subprocess.DEVNULL,  # an inherited terminal can stall the kernel's start
            text=True,
            check=False,
        )
        if run.returncode != 0:
            return {"notebook": str(path), "error": run.stderr.strip().splitlines()[-1]}
        result = json.loads(run.stdout.strip().splitlines()[-1])
        panels = json.loads(latencies_file.read_text())
    latencies = [seconds for panel in panels for seconds in panel.values()]
    return {
        "notebook": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path),
        "seconds": result["seconds"],
        "peak_megabytes": result["peak_megabytes"],
        "panels": panels,
        "max_slider_seconds": max(latencies) if latencies else None,
    }


def with_loaded(row: dict, loaded: dict) -> dict:
    """``row`` (a quiet run) with the loaded run's time, slowest slider move and their ratio."""
    if "error" in loaded:
        return {**row, "loaded_error": loaded["error"]}
    return {
        **row,
        "loaded_seconds": loaded["seconds"],
        "loaded_ratio": loaded["seconds"] / row["seconds"],
        "loaded_max_slider_seconds": loaded["max_slider_seconds"],
    }


def _seconds(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f} s"


def markdown(rows, cpu: str) -> str:
    loaded = any("loaded_seconds" in row or "loaded_error" in row for row in rows)
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {cpu}: run time top to bottom in a fresh "
        f"kernel, peak memory of that kernel, slowest slider move (targets: "
        f"{TARGET_SECONDS:.0f} s, {TARGET_MEGABYTES:.0f} MB, {TARGET_LATENCY} s)"
        + (
            f"; loaded: the same with one other process busy on a core, and loaded/quiet of the "
            f"run time (target: at most {TARGET_LOADED_RATIO:g})."
            if loaded
            else "."
        ),
        "",
        "| notebook | run time |"
        + (" run time, loaded | loaded/quiet |" if loaded else "")
        + " peak memory | sliders | slowest slider move |"
        + (" slowest move, loaded |" if loaded else ""),
        "|---|---|" + ("---|---|" if loaded else "") + "---|---|---|" + ("---|" if loaded else ""),
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['notebook']} | failed: {row['error']} |")
            continue
        count = sum(len(panel) for panel in row["panels"])
        line = f"| {row['notebook']} | {_seconds(row['seconds'])} |"
        if loaded and "loaded_error" in row:
            line += f" failed: {row['loaded_error']} | - |"
        elif loaded:
            line += f" {_seconds(row['loaded_seconds'])} | {row['loaded_ratio']:.2f} |"
        line += (
            f" {row['peak_megabytes']:.0f} MB | {count} "
            f"| {_seconds(row['max_slider_seconds'], 2)} |"
        )
        if loaded:
            line += f" {_seconds(row.get('loaded_max_slider_seconds'), 2)} |"
        lines.append(line)
    ratios = [(row["loaded_ratio"], row["notebook"]) for row in rows if "loaded_ratio" in row]
    if ratios:
        worst, where = max(ratios)
        verdict = "within" if worst <= TARGET_LOADED_RATIO else "over"
        lines += [
            "",
            f"Largest loaded/quiet: {worst:.2f} ({where}), {verdict} the target of "
            f"{TARGET_LOADED_RATIO:g}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument(
        "--loaded",
        action="store_true",
        help="run each notebook again with a busy neighbour (run time and sliders)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "lessons").glob("*.ipynb"))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"notebook_benchmark: error: no such notebook: {missing[0]}", file=sys.stderr)
        return 2
    # the speed table's helpers (same folder)
    from run_benchmarks import busy_neighbour, cpu_model

    cpu = f"{cpu_model()}, {os.cpu_count()} cores"
    rows = []
    for path in paths:
        print(f"running {path} ...", file=sys.stderr, flush=True)
        row = measure(path.resolve())
        if args.loaded and "error" not in row:
            with busy_neighbour():
                row = with_loaded(row, measure(path.resolve()))
        rows.append(row)
    table = markdown(rows, cpu)
    args.out.mkdir(parents=True, exist_ok=True)
    measured = {"date": time.strftime("%Y-%m-%d"), "cpu": cpu, "notebooks": rows}
    (args.out / "notebooks.json").write_text(json.dumps(measured, indent=2) + "\n")
    (args.out / "notebooks.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
