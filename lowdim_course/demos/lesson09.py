"""Lesson 09 demos: heavy-tailed SGD and compressibility (Barsbey et al., NeurIPS 2021).

* ``tail_index``: SGD on linear regression (d = 10) at a step size and batch size; the tail of
  its iterates on a log-log plot and Hill's index, with a sweep of the step size at batch 1;
* ``stable_pruning``: alpha-stable weights, the fraction prunable at 10% relative error, and the
  three pruning schemes (magnitude, singular value, node) on a matrix of such weights;
* ``trained_network``: a small two-layer network trained by SGD at two step/batch ratios, the
  Hill index of its hidden weights and its pruning errors.
"""

from __future__ import annotations

import functools
import statistics

import torch

from ..literature.heavy_tails import (
    PRUNERS,
    hill_estimator,
    prunable_fraction,
    sgd_iterates,
    stable_samples,
    train_two_layer_network,
)
from ..plots import demo_figure, show_figure

SWEEP_RATES = (0.10, 0.13, 0.15, 0.17)
TABLE_ALPHAS = (2.0, 1.75, 1.5, 1.2)
CHAINS, STEPS = 1000, 500
SAMPLES, SEEDS = 100_000, 5


@functools.lru_cache(maxsize=16)
def _iterates(lr: float, batch_size: int) -> torch.Tensor:
    return sgd_iterates(lr, batch_size, chains=CHAINS, steps=STEPS, seed=0).flatten()


@functools.lru_cache(maxsize=1)
def _sweep() -> dict:
    return {lr: hill_estimator(_iterates(lr, 1)) for lr in SWEEP_RATES}


def tail_index(lr: float = 0.15, batch_size: int = 1):
    """Hill's tail index of SGD iterates on linear regression; the tail on a log-log plot.

    Setting: d = 10, ``a ~ N(0, I)``, noise 1, 1,000 chains from 0 for 500 steps, Hill on the
    10,000 coordinates of the final errors with k = 250 (the top 2.5%).
    """
    x = _iterates(round(lr, 4), batch_size)
    alpha = hill_estimator(x)
    sweep = _sweep()
    figure, (left, right) = demo_figure(2, 10, 3.6)
    magnitudes = torch.sort(x.abs(), descending=True).values
    survival = torch.arange(1, magnitudes.numel() + 1) / magnitudes.numel()
    left.loglog(magnitudes, survival, color="tab:red", label=f"lr={lr:.3g}, b={batch_size}")
    gaussian = torch.sort(_iterates(0.05, 1).abs(), descending=True).values
    left.loglog(gaussian, survival, color="0.6", label="lr=0.05, b=1 (light tail)")
    left.set(xlabel="|x - x*| (coordinates)", ylabel="P(|X| > t)", title="tail of the iterates")
    left.legend(fontsize=8)
    rates = list(sweep)
    right.plot(rates, [sweep[r] for r in rates], "o-", color="tab:blue", label="b=1")
    right.plot([lr], [alpha], "*", ms=12, color="tab:red", label="your setting")
    right.set(xlabel="step size lr", ylabel="Hill tail index", title="heavier tails at larger lr/b")
    right.legend(fontsize=8)
    show_figure(figure)
    print(
        f"lr={lr:.3g}, batch size {batch_size} (lr/b={lr / batch_size:.3g}): tail index {alpha:.3g}"
    )
    print("batch 1 sweep: " + ", ".join(f"lr {r:.2f}: {sweep[r]:.3g}" for r in rates))
    return {"lr": lr, "batch_size": batch_size, "tail_index": alpha, "sweep": sweep}


@functools.lru_cache(maxsize=8)
def _prunable(alpha: float) -> tuple[float, float, float]:
    values = [prunable_fraction(stable_samples(alpha, SAMPLES, seed=s)) for s in range(SEEDS)]
    return statistics.median(values), min(values), max(values)


@functools.lru_cache(maxsize=8)
def _matrix_errors(alpha: float, fraction: float = 0.5) -> dict:
    w = stable_samples(alpha, 200 * 200, seed=11).reshape(200, 200)
    return {name: prune(w, fraction)[1] for name, prune in PRUNERS.items()}


def stable_pruning(alpha: float = 1.5):
    """Fraction of alpha-stable weights prunable at 10% relative l2 error; three pruning schemes.

    Left: relative error against the fraction of the smallest weights removed, for alpha and
    for Gaussian weights (n = 100,000, seed 0). Right: the relative error of removing half the
    entries / singular values / rows of a 200 x 200 matrix of i.i.d. alpha-stable entries.
    Prints the median (and range) over 5 seeds of the prunable fraction, also for other alphas.
    """
    alpha = round(alpha, 4)
    figure, (left, right) = demo_figure(2, 10, 3.6)
    for a, color in ((alpha, "tab:red"), (2.0, "0.5")):
        energy = torch.sort(stable_samples(a, SAMPLES, seed=0) ** 2).values
        error = torch.sqrt(torch.cumsum(energy, 0) / energy.sum())[::100]
        fraction = torch.linspace(0, 1, error.numel())
        left.plot(fraction, error, color=color, label=f"alpha={a:.3g}")
    left.axhline(0.1, color="k", lw=0.6, ls=":")
    left.set(xlabel="fraction of weights removed", ylabel="relative l2 error", ylim=(0, 0.5))
    left.set_title("magnitude pruning of i.i.d. weights")
    left.legend(fontsize=8)
    errors = _matrix_errors(alpha)
    gaussian = _matrix_errors(2.0)
    names = list(errors)
    positions = torch.arange(len(names), dtype=torch.float64)
    right.bar(
        positions - 0.2,
        [errors[n] for n in names],
        0.4,
        color="tab:red",
        label=f"alpha={alpha:.3g}",
    )
    right.bar(positions + 0.2, [gaussian[n] for n in names], 0.4, color="0.6", label="alpha=2")
    right.set_xticks(positions.tolist(), names)
    right.set(ylabel="relative error", title="remove half of a 200 x 200 matrix")
    right.legend(fontsize=8)
    show_figure(figure)
    median, low, high = _prunable(alpha)
    print(
        f"alpha={alpha:.3g}: prunable at 10% error {median:.3g} "
        f"(median of {SEEDS} seeds, range {low:.3g}-{high:.3g}; n={SAMPLES:,})"
    )
    print(
        f"medians over {SEEDS} seeds: "
        + ", ".join(f"alpha {a:g}: {_prunable(a)[0]:.3g}" for a in TABLE_ALPHAS)
    )
    print(
        "error after removing half: "
        + ", ".join(f"{n} {errors[n]:.3g} (Gaussian {gaussian[n]:.3g})" for n in names)
    )
    return {
        "alpha": alpha,
        "prunable": median,
        "prunable_range": (low, high),
        "median_table": {a: _prunable(a)[0] for a in TABLE_ALPHAS},
        "half_pruning_errors": errors,
    }


SETTINGS = {"small lr/b": (0.02, 10), "large lr/b": (0.1, 1)}


@functools.lru_cache(maxsize=1)
def _networks() -> dict:
    return {name: train_two_layer_network(lr, b, seed=0) for name, (lr, b) in SETTINGS.items()}


def trained_network():
    """Train the two-layer network at a small and a large lr/batch; Hill index and pruning errors.

    Width 200, 10 inputs, 400 samples, 10 epochs (``train_two_layer_network``'s defaults).
    """
    results = {}
    for name, out in _networks().items():
        w = out["hidden"]
        results[name] = {
            "tail_index": hill_estimator(w.flatten(), k=50),
            "prunable": prunable_fraction(w),
            "errors": {n: prune(w, 0.5)[1] for n, prune in PRUNERS.items()},
            "loss": out["loss"],
        }
    for name, values in results.items():
        lr, b = SETTINGS[name]
        errors = ", ".join(f"{n} {e:.3g}" for n, e in values["errors"].items())
        print(
            f"{name} (lr={lr:g}, b={b}): train loss {values['loss']:.2g}, Hill index "
            f"{values['tail_index']:.3g}, prunable at 10% {values['prunable']:.3g}; "
            f"error after removing half: {errors}"
        )
    return results
