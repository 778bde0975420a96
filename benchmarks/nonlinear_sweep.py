"""Lesson 06's settings chosen by a sweep: learning rate, alpha and which block layers get it.

For each setting the three models (MLP, Original + DLN, Original + C-DLN) race on five splits of
the digits (``lowdim_course.nonlinear_seeds.claim_over_seeds``), and the table reports, over the
splits, C-DLN's final accuracy minus DLN's (mean +- sd, and min..max), in how many splits the
accuracy half of Kwon et al.'s claim holds (reach DLN's final accuracy minus 0.5 points, end
within 0.5 points), the ratio of iterations to that target (DLN / C-DLN) and the speed-up in
seconds (machine-dependent, measured in the same run).

    python benchmarks/nonlinear_sweep.py            # the full grid (about two minutes, 2 cores)
    python benchmarks/nonlinear_sweep.py --quick    # two settings, to try the script

Writes ``results/nonlinear-sweep.{md,json}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import time
from pathlib import Path

import torch

from lowdim_course.nonlinear import DEFAULTS
from lowdim_course.nonlinear_seeds import SEEDS, accuracy_summary, claim_over_seeds, time_summary
from lowdim_course.spread import format_mean_sd

RESULTS = Path(__file__).resolve().parent / "results"
LEARNING_RATES = (1e-3, 3e-3)
ALPHAS = (1.0, 3.0, 10.0)
ALPHA_LAYERS = ("first", "ends")


def _pm(pair, digits=2) -> str:
    return format_mean_sd(pair, digits)


def sweep(settings) -> list[dict]:
    rows = []
    for lr, alpha, layers in settings:
        started = time.perf_counter()
        seeds = claim_over_seeds(SEEDS, lr=lr, alpha=alpha, alpha_layers=layers)
        rows.append({
            "lr": lr, "alpha": alpha, "alpha_layers": layers,
            "accuracy": accuracy_summary(seeds), "time": time_summary(seeds),
            "per_seed": [{"seed": r.seed, "accuracy": r.accuracy, "gap": r.gap,
                          "iterations_to_target": r.iterations_to_target,
                          "speedup": r.speedup} for r in seeds],
            "wall_seconds": time.perf_counter() - started,
        })  # fmt: skip
        print(f"lr={lr:g} alpha={alpha:g} ({layers}): gap {_pm(rows[-1]['accuracy']['gap'])}, "
              f"{rows[-1]['wall_seconds']:.0f} s", flush=True)  # fmt: skip
    return rows


def table(rows) -> str:
    lines = [
        "| lr | alpha | on layers | MLP % | DLN % | C-DLN % | C-DLN - DLN (points) | min..max "
        "| accuracy half holds | iterations DLN / C-DLN | speed-up to target | whole claim holds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        acc, tim = row["accuracy"], row["time"]
        low, high = acc["gap_range"]
        lines.append(
            f"| {row['lr']:g} | {row['alpha']:g} | {row['alpha_layers']} "
            f"| {_pm(acc['accuracy']['mlp'], 1)} | {_pm(acc['accuracy']['dln'], 1)} "
            f"| {_pm(acc['accuracy']['cdln'], 1)} | {_pm(acc['gap'])} | {low:+.1f}..{high:+.1f} "
            f"| {acc['accuracy_holds']} of {acc['seeds']} | {_pm(acc['iterations_ratio'])} "
            f"| {_pm(tim['speedup'])} | {tim['holds']} of {tim['seeds']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two settings only")
    args = parser.parse_args(argv)
    grid = list(itertools.product(LEARNING_RATES, ALPHAS, ALPHA_LAYERS))
    if args.quick:
        grid = [(1e-3, 3.0, "first"), (1e-3, 3.0, "ends")]
    load_before = os.getloadavg()[0]
    rows = sweep(grid)
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load_before:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end, "
        f"torch {torch.__version__}, one CPU thread per model. Digits, one ReLU layer of width "
        f"{DEFAULTS['width']}, block depth {DEFAULTS['depth']}, r_hat {DEFAULTS['r_hat']}, "
        f"eps {DEFAULTS['eps']:g}, {DEFAULTS['steps']} full-batch Adam steps; {len(SEEDS)} "
        "splits (seeds 0-4: split and initial weights) per row, mean +- sd over the splits. "
        "'accuracy half holds': C-DLN reaches DLN's final accuracy minus 0.5 points and ends "
        "within 0.5 points of it. Speed-ups are seconds to that target, DLN / C-DLN "
        "(machine-dependent); 'whole claim holds': the accuracy half and a speed-up >= 2."
    )
    text = header + "\n\n" + table(rows) + "\n"
    RESULTS.mkdir(exist_ok=True)
    name = "nonlinear-sweep-quick" if args.quick else "nonlinear-sweep"
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
