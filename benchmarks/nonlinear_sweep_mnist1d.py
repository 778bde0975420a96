"""``nonlinear_sweep.py --data mnist1d``: the three models on MNIST-1D, each tuned alike.

Runs :func:`lowdim_course.nonlinear_tuned.tuned_comparison` at ``MNIST1D_SETTINGS`` and writes
``results/nonlinear-sweep-mnist1d.{md,json}`` and the copy lesson 06 reads,
``lowdim_course/demos/lesson06_mnist1d_table.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from run_benchmarks import cpu_model

from lowdim_course.demos.lesson06_mnist1d import TABLE_PATH
from lowdim_course.nonlinear import CLAIM_POINTS, CLAIM_SPEEDUP, LABELS
from lowdim_course.nonlinear_tuned import tuned_comparison
from lowdim_course.spread import format_mean_sd


def _pm(pair, digits=1) -> str:
    return format_mean_sd(pair, digits)


def header(result: dict) -> str:
    machine, settings = result["machine"], result["settings"]
    tuning, reported = result["tuning_seeds"], result["reported_seeds"]
    return (
        f"Measured {machine['date']} on {machine['cpu']}, {machine['cores']} cores, load average "
        f"{machine['load_start']:.1f} at the start and {machine['load_end']:.1f} at the end, "
        f"torch {machine['torch']}, one CPU thread per model, float64. MNIST-1D (Greydanus & "
        "Kobak 2024, the standard data set: its fixed split of 4,000 training and 1,000 test "
        "signals), so a seed draws only the initial weights and the mini-batch order, not the "
        f"split. {settings['hidden_layers']} ReLU layers of width {settings['width']}, block "
        f"depth {settings['depth']}, r_hat {settings['r_hat']}, eps {settings['eps']:g}, alpha "
        f"{settings['alpha']:g} on the compressed block's {settings['alpha_layers']} layer, "
        f"{settings['steps']} Adam steps on mini-batches of {settings['batch_size']}. Every model "
        f"tried the same learning rates ({', '.join(f'{r:g}' for r in result['rates'])}) on seeds "
        f"{tuning[0]}-{tuning[-1]} and kept its best mean final test accuracy; nothing else was "
        f"tuned. Reported: seeds {reported[0]}-{reported[-1]}, the three models side by side, "
        "each at its own rate; mean +- sd over the seeds. The tuning seeds share the test set "
        "with the reported ones (MNIST-1D has one split)."
    )


def markdown(result: dict) -> str:
    lines = [header(result), "", "Tuning (seeds "
             f"{result['tuning_seeds'][0]}-{result['tuning_seeds'][-1]}), final test accuracy %:",
             "", "| lr | " + " | ".join(LABELS.values()) + " |", "|---|---|---|---|"]  # fmt: skip
    for row in result["tuning"]:
        cells = [_pm(row["accuracy"][kind]) for kind in LABELS]
        lines.append(f"| {row['lr']:g} | " + " | ".join(cells) + " |")
    chosen = result["chosen"]
    lines += ["", "Chosen: " + ", ".join(f"{LABELS[k]} lr {chosen[k]:g}" for k in LABELS), ""]
    reported = result["reported"]
    acc, tim, vs = reported["accuracy"], reported["time"], reported["block_against_mlp"]
    seeds = result["reported_seeds"]
    lines += [
        f"Reported (seeds {seeds[0]}-{seeds[-1]}), final test accuracy %:",
        "",
        "| | " + " | ".join(LABELS.values()) + " |",
        "|---|---|---|---|",
        "| mean +- sd | " + " | ".join(_pm(acc["accuracy"][k]) for k in LABELS) + " |",
        "",
        "| comparison (points, paired by seed) | mean +- sd | min..max | seeds above |",
        "|---|---|---|---|",
    ]
    for kind in ("dln", "cdln"):
        low, high = vs[kind]["range"]
        lines.append(
            f"| {LABELS[kind]} - MLP | {_pm(vs[kind]['gap'], 2)} | {low:+.1f}..{high:+.1f} "
            f"| {vs[kind]['above']} of {vs[kind]['seeds']} |"
        )
    low, high = acc["gap_range"]
    lines += [
        f"| C-DLN - DLN | {_pm(acc['gap'], 2)} | {low:+.1f}..{high:+.1f} | - |",
        "",
        f"Kwon et al.'s claim (C-DLN within {CLAIM_POINTS} points of DLN's final accuracy, "
        f"reached in at least {CLAIM_SPEEDUP:g}x less time): the accuracy half holds in "
        f"{acc['accuracy_holds']} of {acc['seeds']} seeds; iterations to the target DLN / C-DLN "
        f"{_pm(acc['iterations_ratio'], 2)} ({acc['iterations_ratio_seeds']} seeds where both "
        f"reach it); seconds per step DLN / C-DLN {_pm(tim['per_step_speedup'], 2)}; seconds "
        f"to the target DLN / C-DLN {_pm(tim['speedup'], 2)} ({tim['speedup_seeds']} seeds), "
        f"measured side by side (machine-dependent); the whole claim holds in {tim['holds']} "
        f"of {tim['seeds']} seeds.",
        "",
        "| seed | " + " | ".join(LABELS.values()) + " | C-DLN - DLN | iterations DLN, C-DLN "
        "| speed-up to target |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in reported["per_seed"]:
        its = row["iterations_to_target"]
        speedup = "-" if row["speedup"] is None else f"{row['speedup']:.2f}"
        lines.append(
            f"| {row['seed']} | "
            + " | ".join(f"{row['accuracy'][k]:.1f}" for k in LABELS)
            + f" | {row['gap']:+.1f} | {its['dln']}, {its['cdln']} | {speedup} |"
        )
    return "\n".join(lines) + "\n"


def run_mnist1d(results: Path) -> int:
    load_start, started = os.getloadavg()[0], time.perf_counter()
    result = tuned_comparison()
    result["machine"] = {
        "date": time.strftime("%Y-%m-%d"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "torch": torch.__version__,
        "wall_seconds": time.perf_counter() - started,
    }
    result["header"] = header(result)
    text = markdown(result)
    results.mkdir(exist_ok=True)
    (results / "nonlinear-sweep-mnist1d.md").write_text(text)
    stored = json.dumps(result, indent=1) + "\n"
    (results / "nonlinear-sweep-mnist1d.json").write_text(stored)
    TABLE_PATH.write_text(stored)
    print(text)
    return 0
