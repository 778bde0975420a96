"""Lesson 06's settings chosen by a sweep: learning rate, alpha and which block layers get it.

For each setting the three models (MLP, Original + DLN, Original + C-DLN) race on five splits of
the digits (``lowdim_course.nonlinear_seeds.claim_over_seeds``), and the table reports, over the
splits, C-DLN's final accuracy minus DLN's (mean +- sd, and min..max), in how many splits the
accuracy half of Kwon et al.'s claim holds (reach DLN's final accuracy minus 0.5 points, end
within 0.5 points), the ratio of iterations to that target (DLN / C-DLN) and the speed-up in
seconds (machine-dependent, measured in the same run).

    python benchmarks/nonlinear_sweep.py            # the full grid (about two minutes, 2 cores)
    python benchmarks/nonlinear_sweep.py --quick    # two settings, to try the script
    python benchmarks/nonlinear_sweep.py --tuned    # lr 3e-3 on splits 5-9 (new splits)
    python benchmarks/nonlinear_sweep.py --narrow   # r_hat below the surrogate's rank, splits 0-4
    python benchmarks/nonlinear_sweep.py --data mnist1d   # MNIST-1D, every model tuned alike

Writes ``results/nonlinear-sweep.{md,json}`` (``-tuned``, ``-narrow`` for the other two).

``--data mnist1d`` (Greydanus & Kobak 2024; about 6 minutes on 2 cores): MNIST-1D has a fixed
train/test split, so a seed draws only the initial weights and the mini-batch order. Each model
(MLP, DLN, C-DLN) tries the same learning rates (``MNIST1D_LEARNING_RATES``) on seeds 0-4 and
keeps its best mean final accuracy; the three then race side by side, each at its own rate, on
seeds 5-9 (``lowdim_course.nonlinear_tuned``). Writes ``results/nonlinear-sweep-mnist1d.{md,json}``
and the copy lesson 06 reads, ``lowdim_course/demos/lesson06_mnist1d_table.json``.
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
from lowdim_course.threads import cpu_threads

RESULTS = Path(__file__).resolve().parent / "results"
LEARNING_RATES = (1e-3, 3e-3)
ALPHAS = (1.0, 3.0, 10.0)
ALPHA_LAYERS = ("first", "ends")


def _pm(pair, digits=2) -> str:
    return format_mean_sd(pair, digits)


TUNED_SEEDS = (5, 6, 7, 8, 9)  # new splits, to check the tuned rate off the splits it was read on
NARROW_R_HATS = (2, 4, 9)  # below and at the surrogate's rank K - 1 = 9


def sweep(settings, seeds=SEEDS) -> list[dict]:
    """One row per ``(lr, alpha, alpha_layers, r_hat)``: the race over ``seeds``."""
    rows = []
    for lr, alpha, layers, r_hat in settings:
        started = time.perf_counter()
        seeds_run = claim_over_seeds(seeds, lr=lr, alpha=alpha, alpha_layers=layers, r_hat=r_hat)
        rows.append({
            "lr": lr, "alpha": alpha, "alpha_layers": layers, "r_hat": r_hat,
            "accuracy": accuracy_summary(seeds_run), "time": time_summary(seeds_run),
            "per_seed": [{"seed": r.seed, "accuracy": r.accuracy, "gap": r.gap,
                          "iterations_to_target": r.iterations_to_target,
                          "speedup": r.speedup} for r in seeds_run],
            "wall_seconds": time.perf_counter() - started,
        })  # fmt: skip
        print(f"lr={lr:g} alpha={alpha:g} ({layers}) r_hat={r_hat}: gap "
              f"{_pm(rows[-1]['accuracy']['gap'])}, {rows[-1]['wall_seconds']:.0f} s",
              flush=True)  # fmt: skip
    return rows


def table(rows) -> str:
    lines = [
        "| lr | alpha | on layers | r_hat | MLP % | DLN % | C-DLN % | C-DLN - DLN (points) "
        "| min..max | accuracy half holds | iterations DLN / C-DLN | speed-up to target "
        "| whole claim holds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        acc, tim = row["accuracy"], row["time"]
        low, high = acc["gap_range"]
        lines.append(
            f"| {row['lr']:g} | {row['alpha']:g} | {row['alpha_layers']} | {row['r_hat']} "
            f"| {_pm(acc['accuracy']['mlp'], 1)} | {_pm(acc['accuracy']['dln'], 1)} "
            f"| {_pm(acc['accuracy']['cdln'], 1)} | {_pm(acc['gap'])} | {low:+.1f}..{high:+.1f} "
            f"| {acc['accuracy_holds']} of {acc['seeds']} | {_pm(acc['iterations_ratio'])} "
            f"| {_pm(tim['speedup'])} | {tim['holds']} of {tim['seeds']} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two settings only")
    parser.add_argument("--tuned", action="store_true", help="lr 3e-3 on splits 5-9")
    parser.add_argument("--narrow", action="store_true", help="r_hat 2, 4, 9 on splits 0-4")
    parser.add_argument(
        "--data", choices=("digits", "mnist1d"), default="digits",
        help="mnist1d: every model's learning rate tuned on seeds 0-4, raced on seeds 5-9",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.data == "mnist1d":
        if args.quick or args.tuned or args.narrow:
            parser.error("--data mnist1d runs its own protocol: no --quick, --tuned or --narrow")
        from nonlinear_sweep_mnist1d import run_mnist1d

        with cpu_threads(1):
            return run_mnist1d(RESULTS)
    r_hat, seeds, name = DEFAULTS["r_hat"], SEEDS, "nonlinear-sweep"
    grid = [(*s, r_hat) for s in itertools.product(LEARNING_RATES, ALPHAS, ALPHA_LAYERS)]
    if args.quick:
        grid, name = [(1e-3, 3.0, "first", r_hat), (1e-3, 3.0, "ends", r_hat)], f"{name}-quick"
    elif args.tuned:
        grid, seeds, name = [(3e-3, 3.0, "first", r_hat)], TUNED_SEEDS, f"{name}-tuned"
    elif args.narrow:
        grid = [(DEFAULTS["lr"], DEFAULTS["alpha"], "first", r) for r in NARROW_R_HATS]
        name = f"{name}-narrow"
    load_before = os.getloadavg()[0]
    rows = sweep(grid, seeds)
    header = (
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, load average {load_before:.1f} at the start and "
        f"{os.getloadavg()[0]:.1f} at the end, "
        f"torch {torch.__version__}, one CPU thread per model. Digits, one ReLU layer of width "
        f"{DEFAULTS['width']}, block depth {DEFAULTS['depth']}, r_hat as in the table, "
        f"eps {DEFAULTS['eps']:g}, {DEFAULTS['steps']} full-batch Adam steps; {len(seeds)} "
        f"splits (seeds {seeds[0]}-{seeds[-1]}: split and initial weights) per row, mean +- sd "
        "over the splits. "
        "'accuracy half holds': C-DLN reaches DLN's final accuracy minus 0.5 points and ends "
        "within 0.5 points of it. Speed-ups are seconds to that target, DLN / C-DLN "
        "(machine-dependent); 'whole claim holds': the accuracy half and a speed-up >= 2."
    )
    text = header + "\n\n" + table(rows) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    (RESULTS / f"{name}.json").write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
