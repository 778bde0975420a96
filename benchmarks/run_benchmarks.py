"""Speed of the original and the compressed deep linear network, measured in one process.

For matrix factorization (mf), completion (mc) and sensing (ms), at the reference settings
(d = 100, the sizes of the paper's experiments) and at larger sizes, this script measures on
each device:

* seconds per gradient step of both networks, the runs interleaved (original, compressed,
  original, compressed, ...) so that a noisy neighbour slows both alike; the median is reported;
* the same "loaded": with one other process keeping a core busy the whole time (a browser, a
  second notebook), as on a student's laptop; the course's thread policy
  (``lowdim_course/threads.py``) must keep each loaded time within 1.5x of its quiet time;
* iterations and seconds until the recovery error first falls below 1e-4 (one full run each);
* the compressed/original ratios and the exponent k in ``seconds per step ~ d^k``.

It writes ``results/benchmark.json`` and ``results/benchmark.md`` (the table that README shows).

    python benchmarks/run_benchmarks.py                  # CPU, and CUDA when present
    python benchmarks/run_benchmarks.py --quick          # smaller sizes, a few seconds a run

Larger sizes keep the reference target rank (so the compressed width r_hat = 2r stays fixed
while d grows) and scale the learning rate like ``(d/100)^(4/3)``: the target's singular values
grow like sqrt(d) and the mean loss divides the step by d^2, so this keeps the effective step
``lr/d^2 * s^(4/3)`` of a depth-3 network at its d = 100 value.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from lowdim_course.comparison import build_networks, build_problem, resolve_settings
from lowdim_course.threads import cpu_model
from lowdim_course.training import train

HERE = Path(__file__).resolve().parent
TARGET_ERROR = 1e-4
LOADED_LIMIT = 1.5  # loaded / quiet, per network
SIZES = {"mf": (100, 200, 400), "mc": (100, 200, 400), "ms": (100, 200)}
QUICK_SIZES = {"mf": (50, 100), "mc": (100,), "ms": (50,)}
# Sensing stores m = 20 d measurements (m = 2000 at d = 100, 4000 at d = 200); its
# operator is m d^2 numbers, so beyond d = 200 it no longer fits a laptop. At sizes above 100
# only the seconds per step are measured for sensing: a full run would take many minutes.
FULL_RUN_SIZES = {"mf": (100, 200, 400), "mc": (100, 200, 400), "ms": (100,)}


def settings_for(task: str, d: int, device: str) -> dict:
    settings = resolve_settings(task, device=device)
    base_d = settings["d"]
    settings["d"] = d
    settings["lr"] = settings["lr"] * (d / base_d) ** (4 / 3)
    if task == "ms":
        settings["m"] = 20 * d
    settings["r"] = min(settings["r"], d // 2)
    settings["r_hat"] = 2 * settings["r"]
    settings["steps"] = 4 * settings["steps"]
    return settings


def build(settings: dict):
    """The problem, built once, and a maker of fresh networks for it."""
    problem = build_problem(settings)
    return problem, lambda: build_networks(problem, settings)


def seconds_per_step(
    problem,
    networks,
    settings,
    repeats: int,
    budget: float,
    threads: int | None = None,
    wall: dict | None = None,
    stop_error: float | None = None,
) -> dict:
    """Median seconds per step of each network over ``repeats`` interleaved timed runs.

    The time is ``History.seconds_per_step``: compute seconds, the clock around the arithmetic
    only. ``threads``: a fixed thread count (None: the course's policy, what users get).
    ``wall``: a dict to fill with the median wall-clock seconds per step of the same runs (the
    whole ``train`` call: also its per-step bookkeeping, logging and setup). ``stop_error``:
    each timed run ends there, as the course's runs do (None: it takes all its steps).
    """
    probe = {}
    for name, (network, alpha) in networks().items():
        history = train(problem, network, lr=settings["lr"], alpha=alpha, steps=5, threads=threads)
        probe[name] = history.seconds_per_step
    steps = {name: max(3, min(3000, int(budget / (repeats * t)))) for name, t in probe.items()}
    samples = {name: [] for name in probe}
    wall_samples = {name: [] for name in probe}
    for _ in range(repeats):
        for name, (network, alpha) in networks().items():
            started = time.perf_counter()
            history = train(
                problem,
                network,
                lr=settings["lr"],
                alpha=alpha,
                steps=steps[name],
                threads=threads,
                stop_error=stop_error,
            )
            wall_samples[name].append((time.perf_counter() - started) / history.steps)
            samples[name].append(history.seconds_per_step)
    if wall is not None:
        wall.update({name: statistics.median(values) for name, values in wall_samples.items()})
    return {name: statistics.median(values) for name, values in samples.items()}


@contextlib.contextmanager
def busy_neighbour():
    """One other process spinning on a core for as long as the body runs."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let the scheduler place it
        yield
    finally:
        spinner.kill()
        spinner.wait()


def time_to_error(problem, networks, settings, time_limit: float) -> dict:
    """Iterations and seconds until the recovery error is below 1e-4, one run per network."""
    result = {}
    for name, (network, alpha) in networks().items():
        history = train(
            problem,
            network,
            lr=settings["lr"],
            alpha=alpha,
            steps=settings["steps"],
            stop_error=TARGET_ERROR,
            time_limit=time_limit,
        )
        result[name] = {
            "iterations": history.iterations_to(TARGET_ERROR),
            "seconds": history.seconds_to(TARGET_ERROR),
            "final_error": history.final_error,
            "params": history.num_params,
        }
    return result


def ratio(numerator, denominator):
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def run(devices, sizes, repeats, budget, time_limit, with_load=True) -> list[dict]:
    rows = []
    for device in devices:
        for task, task_sizes in sizes.items():
            for d in task_sizes:
                settings = settings_for(task, d, device)
                print(f"[{device}] {task} d={d} ...", file=sys.stderr, flush=True)
                try:
                    problem, networks = build(settings)
                except ValueError as exc:
                    print(f"  skipped: {exc}", file=sys.stderr)
                    continue
                per_step = seconds_per_step(problem, networks, settings, repeats, budget)
                loaded = None
                if device == "cpu" and with_load:
                    # the floor under load: one thread, the whole of one core, on a quiet machine
                    one_thread = seconds_per_step(
                        problem, networks, settings, repeats, budget, threads=1
                    )
                    with busy_neighbour():
                        loaded = seconds_per_step(problem, networks, settings, repeats, budget)
                    loaded = {name: (loaded[name], one_thread[name]) for name in loaded}
                full = None
                if d in FULL_RUN_SIZES[task] or d < 100:
                    full = time_to_error(problem, networks, settings, time_limit)
                rows.append(make_row(task, d, device, settings, per_step, loaded, full))
                del problem
    add_growth_exponents(rows)
    return rows


def make_row(task, d, device, settings, per_step, loaded, full) -> dict:
    row = {
        "task": task,
        "device": device,
        "d": d,
        "r": settings["r"],
        "r_hat": settings["r_hat"],
        "lr": settings["lr"],
        "alpha": settings["alpha"],
        "m": settings.get("m"),
        "p": settings.get("p"),
    }
    for name in ("original", "compressed"):
        side = {"seconds_per_step": per_step[name]}
        if loaded is not None:
            side["seconds_per_step_loaded"], side["seconds_per_step_one_thread"] = loaded[name]
            side["loaded_over_quiet"] = loaded[name][0] / per_step[name]
            side["loaded_over_one_thread"] = loaded[name][0] / loaded[name][1]
        if full is not None:
            side.update(
                {
                    f"iterations_to_{TARGET_ERROR:.0e}": full[name]["iterations"],
                    f"seconds_to_{TARGET_ERROR:.0e}": full[name]["seconds"],
                    "final_error": full[name]["final_error"],
                    "params": full[name]["params"],
                }
            )
        row[name] = side
    original, compressed = row["original"], row["compressed"]
    key_it, key_s = f"iterations_to_{TARGET_ERROR:.0e}", f"seconds_to_{TARGET_ERROR:.0e}"
    row["ratios"] = {
        "seconds_per_step": ratio(original["seconds_per_step"], compressed["seconds_per_step"]),
        "iterations": ratio(original.get(key_it), compressed.get(key_it)),
        "seconds": ratio(original.get(key_s), compressed.get(key_s)),
    }
    return row


def add_growth_exponents(rows):
    """``k`` in ``seconds per step ~ d^k``, from each size to the next of the same task."""
    by_key = {}
    for row in rows:
        by_key.setdefault((row["task"], row["device"]), []).append(row)
    for group in by_key.values():
        group.sort(key=lambda row: row["d"])
        for smaller, larger in itertools.pairwise(group):
            for name in ("original", "compressed"):
                growth = math.log(
                    larger[name]["seconds_per_step"] / smaller[name]["seconds_per_step"]
                ) / math.log(larger["d"] / smaller["d"])
                larger[name]["growth_exponent"] = growth


def markdown(rows, environment) -> str:
    def fmt(value, kind):
        if value is None:
            return "-"
        if kind == "us":
            return f"{value * 1e6:,.0f} us" if value < 0.01 else f"{value * 1e3:,.1f} ms"
        if kind == "s":
            return f"{value:.2f} s"
        if kind == "x":
            return f"{value:.1f}x"
        if kind == "k":
            return f"{value:.2f}"
        return f"{value:,}"

    key_it, key_s = f"iterations_to_{TARGET_ERROR:.0e}", f"seconds_to_{TARGET_ERROR:.0e}"
    lines = [
        f"Measured {environment['date']} on {environment['cpu']} ({environment['threads']} "
        f"threads), torch {environment['torch']}, float64 on CPU, float32 on CUDA. "
        "o = original (width d), c = compressed (width r_hat = 2r); times are compute "
        "seconds to recovery error 1e-4; k = growth exponent of the time per step in d.",
        "",
        "| task | device | d | r_hat | step o | step c | step o/c | iters o | iters c "
        "| time o | time c | time o/c | k o | k c |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        o, c, ratios = row["original"], row["compressed"], row["ratios"]
        cells = [
            row["task"],
            row["device"],
            str(row["d"]),
            str(row["r_hat"]),
            fmt(o["seconds_per_step"], "us"),
            fmt(c["seconds_per_step"], "us"),
            fmt(ratios["seconds_per_step"], "x"),
            fmt(o.get(key_it), "n"),
            fmt(c.get(key_it), "n"),
            fmt(o.get(key_s), "s"),
            fmt(c.get(key_s), "s"),
            fmt(ratios["seconds"], "x"),
            fmt(o.get("growth_exponent"), "k"),
            fmt(c.get("growth_exponent"), "k"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    loaded_rows = [row for row in rows if "seconds_per_step_loaded" in row["original"]]
    if loaded_rows:
        lines += [
            "",
            f"Quiet and loaded (one other process busy on a core), seconds per step; the aim "
            f"is loaded <= {LOADED_LIMIT}x quiet. 1 thr = one thread on a quiet machine: the "
            "floor of a loaded run, which has one core left (/1 thr = loaded / that floor):",
            "",
            "| task | d | o quiet | o loaded | o loaded/quiet | o 1 thr | o /1 thr | c quiet "
            "| c loaded | c loaded/quiet | c 1 thr | c /1 thr |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in loaded_rows:
            cells = [row["task"], str(row["d"])]
            for name in ("original", "compressed"):
                side = row[name]
                cells += [
                    fmt(side["seconds_per_step"], "us"),
                    fmt(side["seconds_per_step_loaded"], "us"),
                    f"{side['loaded_over_quiet']:.2f}x",
                    fmt(side["seconds_per_step_one_thread"], "us"),
                    f"{side['loaded_over_one_thread']:.2f}x",
                ]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "The paper's own code is timed beside the course's in one run by "
        "`paper_side_by_side.py` (results/paper-side-by-side.md).",
    ]
    return "\n".join(lines) + "\n"


def environment_facts(devices) -> dict:
    facts = {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "devices": devices,
    }
    if "cuda" in devices:
        facts["gpu"] = torch.cuda.get_device_name(0)
    return facts


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing runs")
    parser.add_argument("--budget", type=float, default=3.0, help="seconds of timing per size")
    parser.add_argument("--time-limit", type=float, default=240.0, help="per full run (s)")
    parser.add_argument(
        "--no-load", action="store_true", help="skip the loaded runs (one busy neighbour)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    if args.device == "all":
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    elif args.device == "cuda" and not torch.cuda.is_available():
        print("run_benchmarks: error: --device cuda but no CUDA GPU is available", file=sys.stderr)
        return 2
    else:
        devices = [args.device]
    sizes = QUICK_SIZES if args.quick else SIZES
    rows = run(devices, sizes, args.repeats, args.budget, args.time_limit, not args.no_load)
    environment = environment_facts(devices)
    table = markdown(rows, environment)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "benchmark-quick" if args.quick else "benchmark"
    (args.out / f"{stem}.json").write_text(
        json.dumps({"environment": environment, "rows": rows}, indent=2) + "\n"
    )
    (args.out / f"{stem}.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
