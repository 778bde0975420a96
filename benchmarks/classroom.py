"""How many students does one machine hold? A class on a local JupyterHub, 1, 3 and 6 at once.

The hub of tests/test_classroom_hub.py (tests/hub_tools.py: JupyterHub with
configurable-http-proxy, each student's server in a home of its own, one thread per kernel).
For each class size N, a fresh hub; N students log in at the same time (a Chromium of their own
each), open lesson 04 from its nbgitpuller link and run all its cells. Then all N move the first
slider of its first panel at the same moment, ``--moves`` times (waiting for each other between
moves): the latency is the time from the key press to the panel's new figure in the page.
Memory is the resident size (RSS) of each student's processes (their single-user server and its
kernel, found by ``JUPYTERHUB_USER`` in their environment), after the moves.

    python benchmarks/classroom.py                  # 1, 3 and 6 students, 5 moves each
    python benchmarks/classroom.py --busy 1         # with a process spinning meanwhile

Writes ``results/classroom.{md,json}``. The sizes are measured in one run, one after the other,
so that their ratios are comparable; the browsers run on the same machine and take CPU too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from hub_tools import (  # noqa: E402
    launch_browser,
    missing_pieces,
    move_slider,
    open_lesson,
    run_all,
    running_hub,
    slider_panel,
    wait_until_idle,
)

from lowdim_course.threads import cpu_model  # noqa: E402

LESSON = "lessons/04_compressing_width.ipynb"
THRESHOLD_SECONDS = 1.0  # the slowest slider move a student should wait
RUN_SECONDS = 900


def _student(hub, user, moves, barrier, results):
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page, notebook = open_lesson(context, hub, user, LESSON)
                started = time.perf_counter()
                run_all(page, notebook, RUN_SECONDS)
                results[user] = {"run_seconds": time.perf_counter() - started, "moves": []}
                panel = slider_panel(page, notebook)
                for _ in range(moves):
                    barrier.wait(timeout=RUN_SECONDS)
                    results[user]["moves"].append(move_slider(page, panel))
                    wait_until_idle(page, 120)
                barrier.wait(timeout=RUN_SECONDS)  # everyone done: memory is measured now
                barrier.wait(timeout=RUN_SECONDS)  # measured
            finally:
                browser.close()
    except BaseException as error:
        results[user] = {"error": f"{type(error).__name__}: {error}"}
        barrier.abort()


def _memory_by_user() -> dict[str, int]:
    """Bytes resident per hub user: every process whose environment names that user."""
    total: dict[str, int] = {}
    for process in psutil.process_iter():
        try:
            user = process.environ().get("JUPYTERHUB_USER")
            if user:
                total[user] = total.get(user, 0) + process.memory_info().rss
        except psutil.Error:
            continue
    return total


def _hub_memory(folder: Path) -> int:
    """The hub and its proxy: processes started in ``folder`` that belong to no user."""
    total = 0
    for process in psutil.process_iter():
        try:
            if process.cwd() == str(folder) and "JUPYTERHUB_USER" not in process.environ():
                total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


def measure(size: int, folder: Path, moves: int) -> dict:
    users = [f"student{i + 1}" for i in range(size)]
    results: dict[str, dict] = {}
    barrier = threading.Barrier(size + 1)  # the students and this thread (memory)
    with running_hub(folder, users) as hub:
        threads = [
            threading.Thread(target=_student, args=(hub, u, moves, barrier, results)) for u in users
        ]
        for thread in threads:
            thread.start()
        try:
            for _ in range(moves + 1):
                barrier.wait(timeout=RUN_SECONDS * 2)
            memory = _memory_by_user()
            hub_bytes = _hub_memory(hub.folder)
            barrier.wait(timeout=RUN_SECONDS)
        except threading.BrokenBarrierError:
            memory, hub_bytes = {}, 0
        for thread in threads:
            thread.join()
    errors = {u: r["error"] for u, r in results.items() if "error" in r}
    if errors:
        raise RuntimeError(f"{size} students: {errors}")
    latencies = [s for u in users for s in results[u]["moves"]]
    per_student = [memory.get(u, 0) / 2**20 for u in users]
    return {
        "students": size,
        "moves_per_student": moves,
        "latency_median_s": statistics.median(latencies),
        "latency_max_s": max(latencies),
        "latencies_s": latencies,
        "run_seconds_max": max(results[u]["run_seconds"] for u in users),
        "memory_per_student_mib": per_student,
        "memory_per_student_max_mib": max(per_student),
        "memory_students_total_mib": sum(per_student),
        "memory_hub_and_proxy_mib": hub_bytes / 2**20,
    }


def markdown(result: dict) -> str:
    rows = result["rows"]
    load = (
        f", with {result['busy']} other process(es) spinning on the CPU all along"
        if result["busy"]
        else ""
    )
    lines = [
        f"Measured {result['date']} on {result['cpus']} CPUs ({result['cpu_model']}){load}: a "
        f"JupyterHub on this machine (tests/hub_tools.py), N students at once, each in a Chromium "
        f"of their own on the same machine, open lesson 04 from its nbgitpuller link, run "
        "all its cells, then all move the first slider of the first panel together, "
        f"{result['moves']} times; one thread per kernel (OMP_NUM_THREADS=1). Latency: key press "
        "to the panel's new figure in the page. Memory: resident size (RSS) of each student's "
        "server and kernel. The machine was shared with other jobs (noisy: compare the rows, "
        "measured in one run, not the absolute times).",
        "",
        "| students | slider latency, median | slider latency, max | memory per student "
        "(max) | students' memory, total | hub + proxy |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['students']} | {row['latency_median_s']:.2f} s | {row['latency_max_s']:.2f} s "
            f"| {row['memory_per_student_max_mib']:.0f} MiB "
            f"| {row['memory_students_total_mib']:.0f} MiB "
            f"| {row['memory_hub_and_proxy_mib']:.0f} MiB |"
        )
    lines += [
        "",
        f"Students per core (slowest move under {result['threshold_s']:g} s): "
        f"{result['students_per_core_summary']}. Memory per student: "
        f"{result['memory_per_student_summary']}.",
    ]
    return "\n".join(lines) + "\n"


def summarise(result: dict) -> None:
    """Students per core and memory per student, from the rows.

    A class "fits" when its slowest slider move stayed under the threshold. Each kernel runs one
    thread, so a class of N <= cores students uses N cores at most: students per core is the
    largest fitting N over min(N, cores)."""
    rows, cpus, threshold = result["rows"], result["cpus"], result["threshold_s"]
    fits = [row["students"] for row in rows if row["latency_max_s"] < threshold]
    if fits:
        most = max(fits)
        per_core = most / min(most, cpus)
        larger = [r for r in rows if r["students"] > most]
        summary = (
            f"{per_core:.1f} ({most} student(s) on {cpus} cores kept every move under "
            f"{threshold:g} s, using at most {min(most, cpus)} core(s): one thread per kernel"
        )
        if larger:
            first = min(larger, key=lambda r: r["students"])
            summary += (
                f"; {first['students']} did not: slowest {first['latency_max_s']:.2f} s, median "
                f"{first['latency_median_s']:.2f} s"
            )
        summary += ")"
    else:
        per_core = 0.0
        summary = f"none: even one student waited over {threshold:g} s"
    medians = [row["students"] for row in rows if row["latency_median_s"] < threshold]
    if medians:
        summary += (
            f"; the median move stayed under {threshold:g} s up to {max(medians)} students "
            f"({max(medians) / cpus:.1f} per core)"
        )
    result["students_per_core"] = per_core
    result["students_per_core_summary"] = summary
    worst = max(row["memory_per_student_max_mib"] for row in rows)
    result["memory_per_student_mib"] = worst
    result["memory_per_student_summary"] = (
        f"at most {worst:.0f} MiB (the largest student's server and kernel, any class size), "
        f"plus {max(r['memory_hub_and_proxy_mib'] for r in rows):.0f} MiB once for the hub and "
        "its proxy"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 6])
    parser.add_argument("--moves", type=int, default=5)
    parser.add_argument("--busy", type=int, default=0, help="processes spinning meanwhile")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--name", default="classroom")
    parser.add_argument(
        "--render", action="store_true", help="rewrite the table from the saved JSON, no run"
    )
    args = parser.parse_args(argv)
    if args.render:
        result = json.loads((args.out / f"{args.name}.json").read_text())
        return _write(result, args.out, args.name)
    reason = missing_pieces()
    if reason:
        print(f"cannot start a class hub here: {reason}", file=sys.stderr)
        return 2
    spinning = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)
    ]
    rows = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for size in args.sizes:
                print(f"== {size} student(s)", flush=True)
                row = measure(size, Path(scratch) / f"class{size}", args.moves)
                print(json.dumps({k: v for k, v in row.items() if k != "latencies_s"}), flush=True)
                rows.append(row)
    finally:
        for process in spinning:
            process.kill()
            process.wait()
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "busy": args.busy,
        "moves": args.moves,
        "threshold_s": THRESHOLD_SECONDS,
        "rows": rows,
    }
    return _write(result, args.out, args.name)


def _write(result: dict, out: Path, name: str) -> int:
    summarise(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
