"""Lesson 06 on MNIST-1D: the three models, each tuned alike, read from the shipped table.

The comparison takes about six minutes on 2 cores (three learning rates x five tuning seeds,
then five reported seeds, 3,000 mini-batch steps each), too long for a lesson cell, so the table
``lesson06_mnist1d_table.json`` ships with the course. It is written by

    python benchmarks/nonlinear_sweep.py --data mnist1d

with :func:`lowdim_course.nonlinear_tuned.tuned_comparison`, and read only when the settings it
was made with are the code's (``MNIST1D_SETTINGS``, the rate grid, the seeds).
``tests/test_demos_lesson06.py`` runs one reported seed again and compares.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from ..nonlinear import CLAIM_POINTS, CLAIM_SPEEDUP, KINDS, LABELS
from ..plots import demo_figure, show_figure
from ..spread import format_mean_sd
from ..threads import small_work

TABLE_PATH = Path(__file__).with_name("lesson06_mnist1d_table.json")
COLORS = {"mlp": "tab:gray", "dln": "tab:blue", "cdln": "tab:orange"}
SHORT = {"mlp": "MLP", "dln": "DLN", "cdln": "C-DLN"}


@functools.lru_cache(maxsize=1)
def load() -> dict:
    """The stored comparison, or ``{}`` when the file is missing or made with other settings."""
    from ..nonlinear import MNIST1D_LEARNING_RATES
    from ..nonlinear_tuned import REPORTED_SEEDS, TUNING_SEEDS, fixed_settings

    try:
        table = json.loads(TABLE_PATH.read_text())
    except (OSError, ValueError):
        return {}
    expected = {
        "settings": fixed_settings({}),
        "rates": list(MNIST1D_LEARNING_RATES),
        "tuning_seeds": list(TUNING_SEEDS),
        "reported_seeds": list(REPORTED_SEEDS),
    }
    if any(table.get(key) != value for key, value in expected.items()):
        return {}
    return table


def _pm(pair, digits: int = 1) -> str:
    return format_mean_sd(pair, digits)


def _direction(low: float, high: float) -> str:
    if low > 0:
        return "higher in every seed"
    if high < 0:
        return "lower in every seed"
    return "higher in some seeds, lower in others"


def _stored() -> dict:
    table = load()
    if not table:
        raise ValueError(
            f"the MNIST-1D table {TABLE_PATH.name} is missing or was made with other settings: "
            "python benchmarks/nonlinear_sweep.py --data mnist1d writes it"
        )
    return table


@small_work()
def mnist1d_comparison() -> dict:
    """The three models on MNIST-1D, each at its tuned learning rate, from the shipped table.

    Left: each model's mean final test accuracy over the tuning seeds against the learning
    rate (error bars: sd); right: the reported seeds' final accuracies, one dot a seed. Prints
    the chosen rates, the accuracies (mean +- sd), the block models minus the plain MLP paired
    by seed (mean +- sd, min..max) and C-DLN minus DLN with the accuracy half of the claim.
    Nothing here depends on the machine; ``mnist1d_timing`` prints the stored seconds.
    """
    table = _stored()
    settings, chosen = table["settings"], table["chosen"]
    reported = table["reported"]
    accuracy, versus = reported["accuracy"], reported["block_against_mlp"]
    tuning, seeds = table["tuning_seeds"], table["reported_seeds"]

    figure, axes = demo_figure(2, 10, 3.4)
    for offset, kind in zip((-0.06, 0.0, 0.06), KINDS, strict=True):
        rates = [row["lr"] for row in table["tuning"]]
        means = [row["accuracy"][kind][0] for row in table["tuning"]]
        sds = [row["accuracy"][kind][1] for row in table["tuning"]]
        shifted = [rate * 10**offset for rate in rates]
        axes[0].errorbar(shifted, means, yerr=sds, fmt="o-", color=COLORS[kind], label=LABELS[kind],
                         capsize=3)  # fmt: skip
        values = [row["accuracy"][kind] for row in reported["per_seed"]]
        position = KINDS.index(kind)
        axes[1].plot([position] * len(values), values, "o", color=COLORS[kind], alpha=0.7)
        mean, sd = accuracy["accuracy"][kind]
        axes[1].errorbar(position + 0.15, mean, yerr=sd, fmt="s", color="black", capsize=3)
    axes[0].set_xscale("log")
    axes[0].set(xlabel="learning rate", ylabel="final test accuracy (%)",
                title=f"tuning: seeds {tuning[0]}-{tuning[-1]}, mean +- sd")  # fmt: skip
    axes[0].legend(loc="lower right")
    axes[1].set_xticks(range(len(KINDS)), [LABELS[k] for k in KINDS])
    axes[1].set(ylabel="final test accuracy (%)",
                title=f"each at its tuned rate: seeds {seeds[0]}-{seeds[-1]}")  # fmt: skip
    for ax in axes:
        ax.grid(True, alpha=0.3)
    show_figure(figure)

    print(f"MNIST-1D: its fixed split (4,000 training, 1,000 test signals), so a seed draws the "
          f"initial weights and the mini-batch order only; {settings['hidden_layers']} ReLU "
          f"layers of width {settings['width']}, {settings['steps']:,} Adam steps on batches of "
          f"{settings['batch_size']}, block L={settings['depth']}, r_hat={settings['r_hat']}, "
          f"alpha={settings['alpha']:g} (stored table, float64)")  # fmt: skip
    print(f"tuning, final test accuracy % over seeds {tuning[0]}-{tuning[-1]} (mean +- sd):")
    for row in table["tuning"]:
        print(f"  lr {row['lr']:<6g} " + ", ".join(
            f"{SHORT[k]} {_pm(row['accuracy'][k])}" for k in KINDS))  # fmt: skip
    print("chosen (each model its best mean): "
          + ", ".join(f"{SHORT[k]} lr {chosen[k]:g}" for k in KINDS))  # fmt: skip
    for kind in KINDS:
        print(f"{LABELS[kind]:>17}: final test accuracy {_pm(accuracy['accuracy'][kind])} % "
              f"(seeds {seeds[0]}-{seeds[-1]})")  # fmt: skip
    for kind in ("dln", "cdln"):
        low, high = versus[kind]["range"]
        print(f"{LABELS[kind]} minus the tuned MLP: {_pm(versus[kind]['gap'], 1)} points "
              f"(min {low:+.1f}, max {high:+.1f}): {_direction(low, high)}")  # fmt: skip
    low, high = accuracy["gap_range"]
    print(f"C-DLN minus DLN: {_pm(accuracy['gap'], 1)} points (min {low:+.1f}, max {high:+.1f}); "
          f"C-DLN reaches DLN's final accuracy minus {CLAIM_POINTS} points and ends within "
          f"{CLAIM_POINTS} points in {accuracy['accuracy_holds']} of {accuracy['seeds']} "
          f"seeds")  # fmt: skip
    ratio = accuracy["iterations_ratio"]
    print(f"iterations to that target, DLN / C-DLN: {_pm(ratio, 2)} "
          f"({accuracy['iterations_ratio_seeds']} seeds where both reach it)")  # fmt: skip
    return {"chosen": chosen, "accuracy": accuracy, "block_against_mlp": versus}


@small_work()
def mnist1d_timing() -> dict:
    """The stored seconds: DLN / C-DLN per step and to the target, and where they were taken."""
    table = _stored()
    timing, machine = table["reported"]["time"], table["machine"]
    print(
        f"measured {machine['date']} on {machine['cpu']} ({machine['cores']} cores, one "
        f"thread per model, load average {machine['load_start']:.1f}), models side by side"
    )
    speedups = [r["speedup"] for r in table["reported"]["per_seed"] if r["speedup"] is not None]
    spread = f", min {min(speedups):.2f}, max {max(speedups):.2f}" if speedups else ""
    print(f"seconds per step, DLN / C-DLN: {_pm(timing['per_step_speedup'], 2)}; seconds to "
          f"the target: {_pm(timing['speedup'], 2)} ({timing['speedup_seeds']} seeds{spread}); "
          f"the whole "
          f"claim (within {CLAIM_POINTS} points, at least {CLAIM_SPEEDUP:g}x faster) holds in "
          f"{timing['holds']} of {timing['seeds']} seeds")  # fmt: skip
    return timing


def rerun_seed(seed: int) -> dict:
    """One reported seed run again at the stored rates (``{kind: final accuracy}``), to compare
    with the table."""
    from ..nonlinear_tuned import tuned_race

    (row,) = tuned_race(_stored()["chosen"], seeds=(seed,))
    return dict(row.accuracy)
