"""Lesson 09 demos: heavy-tailed SGD and compressibility (Barsbey et al., NeurIPS 2021).

* ``estimators_on_known_laws``: Hill's and the block estimator on samples of known index
  (alpha-stable, Gaussian, Student t), 5 seeds each;
* ``tail_index``: SGD on linear regression (d = 10) at a step size and batch size; the exact
  stationary tail index (Kesten condition) next to Hill's estimate and the block estimator
  that Barsbey et al. use, each over 5 seeds; a sweep of the step size at batch 1 (every
  slider position is simulated once and shipped: ``lesson09_table``);
* ``same_ratio``: the exact index and the chance that one step expands the error, for several
  (step, batch) pairs with the same ratio step / batch;
* ``stable_pruning``: alpha-stable weights, the fraction prunable at 10% relative error over
  20 seeds and three sizes n, and the three pruning schemes (magnitude, singular value, node)
  on 200 x 200 matrices of such weights over 10 seeds;
* ``ratio_sweep`` (in ``lesson09_sweep``): small two-layer networks trained by SGD at six ratios
  step / batch with the same training time step x steps, 5 runs each: tail estimates and
  pruning errors;
* ``block_estimator_capstone``: the student's ``block_tail_index`` (capstone 09) on the samples
  of known index and on the hidden weights of the ratio sweep's networks, over the course's
  (the figure: ``lesson09_capstone``).
"""

from __future__ import annotations

import functools
import math
import statistics

import matplotlib.ticker
import torch

from ..literature.heavy_tails import (
    PRUNERS,
    expansion_probability,
    hill_estimator,
    kesten_tail_index,
    prunable_fraction,
    stable_samples,
    stable_tail_index,
)
from ..plots import demo_figure, show_figure
from ..threads import small_work
from .lesson09_capstone import block_estimator_figure
from .lesson09_sweep import SWEEP_BATCHES, ratio_sweep
from .lesson09_table import CHAINS, SGD_SEEDS, D, exact_index, panel_estimates, panel_tail

__all__ = [
    "SIZES",
    "SWEEP_BATCHES",
    "SWEEP_RATES",
    "block_estimator_capstone",
    "estimators_on_known_laws",
    "ratio_sweep",
    "same_ratio",
    "stable_pruning",
    "tail_index",
]

SWEEP_RATES = (0.10, 0.13, 0.15, 0.17)
TABLE_ALPHAS = (2.0, 1.75, 1.5, 1.2)
SIZES, PRUNE_SEEDS, MATRIX_SEEDS = (1_000, 10_000, 100_000), 20, 10
SAMPLES = SIZES[-1]


def spread(values) -> str:
    """``mean ± sd (min..max)`` of a few numbers, to 3 significant digits."""
    values = [float(v) for v in values]
    mean, sd = statistics.mean(values), statistics.stdev(values)
    return f"{mean:.3g} ± {sd:.2g} ({min(values):.3g}..{max(values):.3g})"


def _exact_text(alpha: float | None) -> str:
    if alpha is None:
        return "none (E log||A e1|| >= 0: no stationary law)"
    return "above 100" if math.isinf(alpha) else f"{alpha:.3g}"


KNOWN_LAWS = {
    "alpha-stable 1.5": 1.5,
    "alpha-stable 1.8": 1.8,
    "Gaussian (stable 2)": 2.0,
    "Student t, 5 d.o.f.": 5.0,
}


# the capstone's samples of known index: a size that several block sizes do not divide and
# with 1,000 > n/2, so that the leftovers and the largest block size matter
CAPSTONE_SAMPLES = 1234
# bounded, so no power-law tail: the uncapped block estimate reads above 2 (the capstone's panel)
UNIFORM = "uniform (no tail)"


def _known_law(name: str, n: int, seed: int) -> torch.Tensor:
    if name == UNIFORM:
        generator = torch.Generator().manual_seed(seed)
        return 2 * torch.rand(n, generator=generator, dtype=torch.float64) - 1
    if name.startswith("Student"):
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(n, generator=generator, dtype=torch.float64)
        chi2 = (torch.randn(n, 5, generator=generator, dtype=torch.float64) ** 2).sum(1)
        return z / torch.sqrt(chi2 / 5)
    return stable_samples(KNOWN_LAWS[name], n, seed=seed)


@functools.lru_cache(maxsize=1)
@small_work()
def _known_estimates() -> dict:
    return {
        name: {
            "hill": [hill_estimator(_known_law(name, 10_000, s)) for s in range(SGD_SEEDS)],
            "block": [stable_tail_index(_known_law(name, 10_000, s)) for s in range(SGD_SEEDS)],
        }
        for name in KNOWN_LAWS
    }


@small_work()
def estimators_on_known_laws():
    """Hill (k = 250) and the block estimator on 10,000 samples of known index, 5 seeds each."""
    results = _known_estimates()
    print("10,000 samples, mean ± sd (min..max) over 5 seeds:")
    for name, values in results.items():
        print(
            f"  {name:<20} true index {KNOWN_LAWS[name]:g}: Hill {spread(values['hill'])}, "
            f"block {spread(values['block'])}"
        )
    return results


@functools.lru_cache(maxsize=1)
@small_work()
def _exact_curve() -> tuple[list[float], list[float]]:
    rates = [round(0.06 + 0.01 * i, 3) for i in range(12)]
    return rates, [kesten_tail_index(lr, 1) for lr in rates]


@small_work()
def tail_index(lr: float = 0.15, batch_size: int = 1):
    """Exact and estimated tail index of SGD iterates on linear regression; the tail on log axes.

    Setting: d = 10, ``a ~ N(0, I)``, noise 1, 1,000 chains from 0 for 500 steps, seeds 0-4.
    Hill's estimator uses the 10,000 final coordinates with k = 250 (the top 2.5%); the block
    estimator (median over block sizes) takes them coordinate by coordinate, so that every block
    holds independent chains. The exact index solves E||A e1||^alpha = 1.
    """
    lr = round(lr, 4)
    setting = panel_estimates(lr, batch_size)
    sweep = {rate: panel_estimates(rate, 1) for rate in SWEEP_RATES}
    figure, (left, right) = demo_figure(2, 10, 3.6)
    samples = CHAINS * D  # every coordinate of every chain
    ranks, magnitudes = panel_tail(lr, batch_size)
    survival = [rank / samples for rank in ranks]
    left.loglog(magnitudes, survival, color="tab:red", label=f"lr={lr:.3g}, b={batch_size}")
    light_ranks, light = panel_tail(0.05, 1)
    left.loglog(
        light,
        [rank / samples for rank in light_ranks],
        color="0.6",
        label="lr=0.05, b=1 (exact index 31)",
    )
    exact = setting["exact"]
    if exact is not None and math.isfinite(exact):
        start = magnitudes[249]  # rank 250: the top 2.5%
        t = torch.logspace(math.log10(start), math.log10(magnitudes[0]) + 0.3, 20)
        left.loglog(t, 0.025 * (t / start) ** -exact, "k--", lw=1, label=f"slope -{exact:.3g}")
    left.set(xlabel="|x - x*| (coordinates)", ylabel="P(|X| > t)", title="tail of the iterates")
    left.set_ylim(1e-4 / 2, 1.2)
    left.set_xlim(left=1e-2)
    left.legend(fontsize=8)
    rates, curve = _exact_curve()
    right.semilogy(rates, curve, color="k", label="exact (Kesten condition)")
    estimators = (("hill", "Hill", "tab:blue", -0.002), ("block", "block", "tab:green", 0.002))
    for key, name, color, shift in estimators:
        right.errorbar(
            [r + shift for r in SWEEP_RATES],
            [statistics.mean(sweep[r][key]) for r in SWEEP_RATES],
            yerr=[statistics.stdev(sweep[r][key]) for r in SWEEP_RATES],
            fmt="o",
            color=color,
            capsize=3,
            label=f"{name} estimate (5 seeds)",
        )
    right.set(xlabel="step size lr (batch 1)", ylabel="tail index", title="exact vs estimated")
    ticks = [1, 2, 5, 10, 20, 40]
    right.set_yticks(ticks, [str(t) for t in ticks])
    right.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    right.legend(fontsize=8)
    show_figure(figure)
    print(
        f"lr={lr:.3g}, batch size {batch_size} (lr/b={lr / batch_size:.3g}): exact index "
        f"{_exact_text(exact)}; over {SGD_SEEDS} seeds Hill {spread(setting['hill'])}, "
        f"block {spread(setting['block'])}"
    )
    print("batch 1 sweep (Hill and block: mean ± sd (min..max) over 5 seeds):")
    for rate in SWEEP_RATES:
        values = sweep[rate]
        print(
            f"  lr {rate:.2f}: exact {_exact_text(values['exact'])}, Hill {spread(values['hill'])}"
            f", block {spread(values['block'])}"
        )
    return {
        "lr": lr,
        "batch_size": batch_size,
        "exact": exact,
        "hill": setting["hill"],
        "block": setting["block"],
        "sweep": sweep,
    }


@small_work()
def same_ratio(ratio: float = 0.08, batch_sizes=(1, 2, 4, 8)):
    """Exact tail index and P(one step expands the error) at a fixed ratio lr / b (d = 10)."""
    rows = {}
    for b in batch_sizes:
        lr = ratio * b
        rows[b] = {"lr": lr, "exact": exact_index(lr, b), "expansion": expansion_probability(lr, b)}
        print(
            f"lr={lr:.3g}, b={b} (lr/b={ratio:g}): exact index {_exact_text(rows[b]['exact'])}, "
            f"P(a step expands the error) = {rows[b]['expansion']:.2g}"
        )
    return rows


@functools.lru_cache(maxsize=32)
@small_work()
def _prunable(alpha: float, n: int) -> tuple[float, ...]:
    return tuple(prunable_fraction(stable_samples(alpha, n, seed=s)) for s in range(PRUNE_SEEDS))


@functools.lru_cache(maxsize=8)
@small_work()
def _matrix_errors(alpha: float, fraction: float = 0.5) -> dict:
    errors = {name: [] for name in PRUNERS}
    for seed in range(MATRIX_SEEDS):
        w = stable_samples(alpha, 200 * 200, seed=100 + seed).reshape(200, 200)
        for name, prune in PRUNERS.items():
            errors[name].append(prune(w, fraction)[1])
    return errors


@small_work()
def stable_pruning(alpha: float = 1.5):
    """Fraction of alpha-stable weights prunable at 10% relative l2 error; three pruning schemes.

    Left: relative error against the fraction of the smallest weights removed, for alpha and
    for Gaussian weights (n = 100,000, seed 0). Right: the relative error of removing half the
    entries / singular values / rows of a 200 x 200 matrix of i.i.d. alpha-stable entries, mean
    and sd over 10 matrices. Prints the median and range over 20 seeds of the prunable
    fraction at n = 1,000, 10,000 and 100,000, for alpha and for the table's alphas.
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
    left.set_title("magnitude pruning of i.i.d. weights (one draw)")
    left.legend(fontsize=8)
    errors, gaussian = _matrix_errors(alpha), _matrix_errors(2.0)
    names = list(errors)
    positions = torch.arange(len(names), dtype=torch.float64)
    for values, shift, color, label in (
        (errors, -0.2, "tab:red", f"alpha={alpha:.3g}"),
        (gaussian, 0.2, "0.6", "alpha=2"),
    ):
        right.bar(
            positions + shift,
            [statistics.mean(values[n]) for n in names],
            0.4,
            yerr=[statistics.stdev(values[n]) for n in names],
            color=color,
            label=label,
        )
    right.set_xticks(positions.tolist(), names)
    right.set(ylabel="relative error", title="remove half of a 200 x 200 matrix (10 seeds)")
    right.legend(fontsize=8)
    show_figure(figure)

    def median_range(a, n):
        values = _prunable(a, n)
        return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"

    print(f"prunable at 10% error, median [min, max] over {PRUNE_SEEDS} seeds:")
    for a in dict.fromkeys((alpha, *TABLE_ALPHAS)):
        print(f"  alpha {a:<4g}: " + ", ".join(f"n={n:,} {median_range(a, n)}" for n in SIZES))
    print(f"error after removing half, mean ± sd over {MATRIX_SEEDS} matrices:")
    gains = {}
    for n in names:
        reference = statistics.mean(gaussian[n])
        gains[n] = [reference / e for e in errors[n]]
        print(
            f"  {n:>14}: alpha={alpha:g} {statistics.mean(errors[n]):.3g} ± "
            f"{statistics.stdev(errors[n]):.2g}, Gaussian {reference:.3g} ± "
            f"{statistics.stdev(gaussian[n]):.2g}: {reference / statistics.mean(errors[n]):.1f}x "
            "smaller on average"
        )
    ranked = [tuple(sorted(names, key=lambda n: -gains[n][i])) for i in range(MATRIX_SEEDS)]
    for order in sorted(set(ranked), key=ranked.count, reverse=True):
        print(
            f"  gain (Gaussian mean / error) ranks {' > '.join(order)} "
            f"in {ranked.count(order)} of {MATRIX_SEEDS} matrices"
        )
    return {
        "alpha": alpha,
        "prunable": {n: _prunable(alpha, n) for n in SIZES},
        "median_table": {
            a: {n: statistics.median(_prunable(a, n)) for n in SIZES} for a in TABLE_ALPHAS
        },
        "half_pruning_errors": errors,
        "gain_ranking": ranked,
        "gaussian_half_pruning_errors": gaussian,
    }


@small_work()
def block_estimator_capstone(block_tail_index, batches=SWEEP_BATCHES) -> dict:
    """The student's block estimator over the course's, on known laws and on trained weights.

    Left: the estimate on 1,234 samples of each law of :func:`estimators_on_known_laws` and of
    a uniform law (5 seeds each) against its true index. Right: the estimate on the hidden
    weights ``W`` of the averaged networks of :func:`ratio_sweep` (lr = 0.05, 4,000 steps, 5
    runs per ratio lr/b) and of the untrained networks, centred and reordered as Barsbey et
    al.'s code does, uncapped. The student's function runs through
    ``run_student_code``: a stub or a bug prints one line and the figure shows the course's
    estimates only. The networks are those of :func:`ratio_sweep` (cached: no training twice).
    """
    laws = {**KNOWN_LAWS, UNIFORM: None}
    known = {
        name: [_known_law(name, CAPSTONE_SAMPLES, seed) for seed in range(SGD_SEEDS)]
        for name in laws
    }
    batches = tuple(int(b) for b in batches)
    return block_estimator_figure(block_tail_index, known, laws, batches)
