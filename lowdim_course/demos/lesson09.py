"""Lesson 09 demos: heavy-tailed SGD and compressibility (Barsbey et al., NeurIPS 2021).

* ``estimators_on_known_laws``: Hill's and the block estimator on samples of known index
  (alpha-stable, Gaussian, Student t), 5 seeds each;
* ``estimators_on_known_laws``: Hill's and the block estimator on samples of known index
  (alpha-stable, Gaussian, Student t), 5 seeds each;
* ``tail_index``: SGD on linear regression (d = 10) at a step size and batch size; the exact
  stationary tail index (Kesten condition) next to Hill's estimate and the block estimator
  that Barsbey et al. use, each over 5 seeds; a sweep of the step size at batch 1;
* ``same_ratio``: the exact index and the chance that one step expands the error, for several
  (step, batch) pairs with the same ratio step / batch;
* ``stable_pruning``: alpha-stable weights, the fraction prunable at 10% relative error over
  20 seeds and three sizes n, and the three pruning schemes (magnitude, singular value, node)
  on 200 x 200 matrices of such weights over 10 seeds;
* ``ratio_sweep``: small two-layer networks trained by SGD at six ratios step / batch with the
  same training time step x steps, 5 runs each: tail estimates and pruning errors;
* ``block_estimator_capstone``: the student's ``block_tail_index`` (capstone 09) on the samples
  of known index and on the hidden weights of the ratio sweep's networks, over the course's.
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics

import matplotlib.ticker
import torch

from ..exercises.capstone import run_student_code
from ..literature.heavy_tails import (
    PRUNERS,
    expansion_probability,
    hill_estimator,
    kesten_tail_index,
    prunable_fraction,
    sgd_iterates,
    stable_samples,
    stable_tail_index,
    train_two_layer_networks,
)
from ..plots import demo_figure, show_figure
from ..threads import small_work

SWEEP_RATES = (0.10, 0.13, 0.15, 0.17)
CHAINS, STEPS, SGD_SEEDS = 1000, 500, 5
TABLE_ALPHAS = (2.0, 1.75, 1.5, 1.2)
SIZES, PRUNE_SEEDS, MATRIX_SEEDS = (1_000, 10_000, 100_000), 20, 10
SAMPLES = SIZES[-1]


def spread(values) -> str:
    """``mean ± sd (min..max)`` of a few numbers, to 3 significant digits."""
    values = [float(v) for v in values]
    mean, sd = statistics.mean(values), statistics.stdev(values)
    return f"{mean:.3g} ± {sd:.2g} ({min(values):.3g}..{max(values):.3g})"


def _exact(lr: float, batch_size: int) -> float | None:
    """The exact tail index, or None where the chain has no stationary law."""
    try:
        return kesten_tail_index(lr, batch_size)
    except ValueError:
        return None


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


def _known_law(name: str, n: int, seed: int) -> torch.Tensor:
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


@functools.lru_cache(maxsize=32)
def _iterates(lr: float, batch_size: int, seed: int) -> torch.Tensor:
    """Final errors of the 1,000 chains, coordinate by coordinate (chains vary fastest)."""
    return sgd_iterates(lr, batch_size, chains=CHAINS, steps=STEPS, seed=seed).T.flatten()


@functools.lru_cache(maxsize=32)
@small_work()
def _estimates(lr: float, batch_size: int) -> dict:
    """Hill's and the block estimate over 5 seeds, and the exact index."""
    runs = [_iterates(lr, batch_size, seed) for seed in range(SGD_SEEDS)]
    return {
        "exact": _exact(lr, batch_size),
        "hill": [hill_estimator(x) for x in runs],
        "block": [stable_tail_index(x) for x in runs],
    }


@functools.lru_cache(maxsize=1)
@small_work()
def _exact_curve() -> tuple[list[float], list[float]]:
    rates = [round(0.06 + 0.01 * i, 3) for i in range(12)]
    return rates, [kesten_tail_index(lr, 1) for lr in rates]


def tail_index(lr: float = 0.15, batch_size: int = 1):
    """Exact and estimated tail index of SGD iterates on linear regression; the tail on log axes.

    Setting: d = 10, ``a ~ N(0, I)``, noise 1, 1,000 chains from 0 for 500 steps, seeds 0-4.
    Hill's estimator uses the 10,000 final coordinates with k = 250 (the top 2.5%); the block
    estimator (median over block sizes) takes them coordinate by coordinate, so that every block
    holds independent chains. The exact index solves E||A e1||^alpha = 1.
    """
    lr = round(lr, 4)
    setting = _estimates(lr, batch_size)
    sweep = {rate: _estimates(rate, 1) for rate in SWEEP_RATES}
    figure, (left, right) = demo_figure(2, 10, 3.6)
    magnitudes = torch.sort(_iterates(lr, batch_size, 0).abs(), descending=True).values
    survival = torch.arange(1, magnitudes.numel() + 1) / magnitudes.numel()
    left.loglog(magnitudes, survival, color="tab:red", label=f"lr={lr:.3g}, b={batch_size}")
    light = torch.sort(_iterates(0.05, 1, 0).abs(), descending=True).values
    left.loglog(light, survival, color="0.6", label="lr=0.05, b=1 (exact index 31)")
    exact = setting["exact"]
    if exact is not None and math.isfinite(exact):
        start = float(magnitudes[249])
        t = torch.logspace(math.log10(start), math.log10(float(magnitudes[0])) + 0.3, 20)
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
        rows[b] = {"lr": lr, "exact": _exact(lr, b), "expansion": expansion_probability(lr, b)}
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


SWEEP_LR, SWEEP_STEPS, RUNS = 0.05, 4000, 5
SWEEP_BATCHES = (1, 2, 4, 8, 16, 32)
# the same ratios reached with twice the step and half the steps (same lr x steps)
CHECK_LR, CHECK_STEPS, CHECK_BATCHES = 0.1, 2000, (2, 8)
MEASURES = ("Hill", "block", "prunable", "magnitude", "singular value", "node", "loss")


def _measure(hidden: torch.Tensor, loss: float) -> dict:
    columns = hidden.T.flatten()  # same input weight of consecutive neurons: independent
    values = {
        "Hill": hill_estimator(hidden.flatten(), k=50),
        "block": stable_tail_index(columns),
        "prunable": prunable_fraction(hidden),
    }
    values.update({name: prune(hidden, 0.5)[1] for name, prune in PRUNERS.items()})
    values["loss"] = loss
    return values


@functools.lru_cache(maxsize=16)
@small_work()
def _networks(lr: float, batch_size: int, steps: int) -> dict:
    """The ``RUNS`` trained networks of one setting (``steps = 0``: the untrained ones)."""
    out = train_two_layer_networks(lr, batch_size, steps=steps, runs=RUNS, seed=0)
    if not bool(torch.isfinite(out["loss"]).all()):
        raise ValueError(f"a run diverged at lr={lr:g}, batch_size={batch_size}")
    return out


@functools.lru_cache(maxsize=16)
@small_work()
def _trained(lr: float, batch_size: int, steps: int) -> tuple[dict, ...]:
    out = _networks(lr, batch_size, steps)
    return tuple(
        _measure(w, float(loss)) for w, loss in zip(out["hidden"], out["loss"], strict=True)
    )


def _initial() -> tuple[dict, ...]:
    return _trained(SWEEP_LR, 1, 0)


def _mean_sd(values) -> str:
    values = [float(v) for v in values]
    return f"{statistics.mean(values):.3g} ± {statistics.stdev(values):.2g}"


def _paired_heavier(table: dict, measure: str) -> int:
    """Runs whose measure points to heavier tails / more compressibility at the largest ratio.

    That is: a lower tail index, a higher prunable fraction, a lower pruning error at
    lr/b = 0.05 than at lr/b = 0.0016, for the same run (same data and initial weights).
    """
    large, small = table[SWEEP_BATCHES[0]], table[SWEEP_BATCHES[-1]]
    sign = -1 if measure == "prunable" else 1
    return sum(sign * (large[r][measure] - small[r][measure]) < 0 for r in range(RUNS))


def _monotone_means(table: dict, measure: str) -> bool:
    means = [statistics.mean(r[measure] for r in table[b]) for b in SWEEP_BATCHES]
    steps = [b - a for a, b in itertools.pairwise(means)]
    return all(s > 0 for s in steps) or all(s < 0 for s in steps)


def ratio_sweep():
    """Two-layer networks trained at six ratios lr/b with the same lr x steps; 5 runs each.

    Width 200, 10 inputs, 400 samples of a random teacher per run; lr = 0.05 for 4,000 steps
    (lr x steps = 200) at b = 1, 2, 4, 8, 16, 32. Runs r = 0..4 share their data and initial
    weights across the six settings (paired). Per run: Hill's index of the hidden weights W
    (k = 50), the block estimate, the prunable fraction at 10% error, the errors of removing
    half of W by magnitude, singular value and node, and the training loss. Two more settings
    reach ratios 0.05 and 0.0125 with lr = 0.1 for 2,000 steps (same lr x steps).
    """
    table = {b: _trained(SWEEP_LR, b, SWEEP_STEPS) for b in SWEEP_BATCHES}
    initial = _initial()
    header = ("lr/b", "Hill", "block", "prunable", "magnitude", "sing. value", "node", "loss")
    widths = (11, 13, 14, 16, 16, 15, 15, 0)
    print(
        f"lr={SWEEP_LR}, {SWEEP_STEPS:,} steps (lr x steps = {SWEEP_LR * SWEEP_STEPS:g}), "
        f"mean ± sd over {RUNS} runs; errors after removing half of W"
    )
    print("".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    rows = [(f"{SWEEP_LR / b:.3g}", table[b]) for b in SWEEP_BATCHES]
    rows.append(("untrained", initial))
    for label, runs in rows:
        cells = [label] + [_mean_sd(r[m] for r in runs) for m in MEASURES]
        if label == "untrained":
            cells[-1] = ""
        print("".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    print(
        f"heavier / more compressible at lr/b={SWEEP_LR / SWEEP_BATCHES[0]:.2g} than at "
        f"{SWEEP_LR / SWEEP_BATCHES[-1]:.2g} (same run): "
        + ", ".join(f"{m} {_paired_heavier(table, m)} of {RUNS}" for m in MEASURES[:6])
    )
    print(
        "means move one way across all six ratios: "
        + ", ".join(f"{m} {'yes' if _monotone_means(table, m) else 'no'}" for m in MEASURES[:6])
    )
    check = {b: _trained(CHECK_LR, b, CHECK_STEPS) for b in CHECK_BATCHES}
    for b in CHECK_BATCHES:
        partner = round(b * SWEEP_LR / CHECK_LR)
        print(
            f"same ratio {CHECK_LR / b:g}, singular value error: "
            f"{_mean_sd(r['singular value'] for r in check[b])} "
            f"(lr={CHECK_LR}, b={b}, {CHECK_STEPS:,} steps) vs "
            f"{_mean_sd(r['singular value'] for r in table[partner])} "
            f"(lr={SWEEP_LR}, b={partner}, {SWEEP_STEPS:,} steps)"
        )
    return {
        "sweep": table,
        "check": check,
        "initial": initial,
        "heavier_runs": {m: _paired_heavier(table, m) for m in MEASURES[:6]},
        "monotone_means": {m: _monotone_means(table, m) for m in MEASURES[:6]},
    }


# two estimates that differ by less than this (relative) agree: a float32 median is fine
AGREEMENT = 1e-6


def _weights_in_blocks(hidden: torch.Tensor) -> torch.Tensor:
    """The hidden weights in the order the block estimator reads them: column by column, so
    that a block holds the same input weight of consecutive (independent) neurons."""
    return hidden.T.flatten()


def _capstone_samples(batches) -> dict:
    """Every sample set of the capstone figure, keyed by (group, label, index)."""
    samples = {}
    for name in KNOWN_LAWS:
        for seed in range(SGD_SEEDS):
            samples["known", name, seed] = _known_law(name, 10_000, seed)
    for b in batches:
        for run, hidden in enumerate(_networks(SWEEP_LR, b, SWEEP_STEPS)["hidden"]):
            samples["trained", b, run] = _weights_in_blocks(hidden)
    for run, hidden in enumerate(_networks(SWEEP_LR, 1, 0)["hidden"]):
        samples["untrained", None, run] = _weights_in_blocks(hidden)
    return samples


@small_work()
def _run_estimator(estimator, samples: dict) -> dict:
    estimates = {}
    for key, x in samples.items():
        value = estimator(x.clone())
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"returned shape {tuple(value.shape)}, expected one number")
            value = value.item()
        estimates[key] = float(value)
    return estimates


def _where(key) -> str:
    group, label, index = key
    if group == "known":
        return f"{label}, seed {index}"
    if group == "trained":
        return f"trained weights at lr/b {SWEEP_LR / label:.3g}, run {index}"
    return f"untrained weights, run {index}"


def block_estimator_capstone(block_tail_index, batches=SWEEP_BATCHES) -> dict:
    """The student's block estimator over the course's, on known laws and on trained weights.

    Left: the estimate on 10,000 samples of each law of :func:`estimators_on_known_laws` (5
    seeds each) against its true index. Right: the estimate on the hidden weights ``W`` of the
    networks of :func:`ratio_sweep` (lr = 0.05, 4,000 steps, 5 runs per ratio lr/b; read column
    by column) and of the untrained networks. The student's function runs through
    ``run_student_code``: a stub or a bug prints one line and the figure shows the course's
    estimates only. The networks are those of :func:`ratio_sweep` (cached: no training twice).
    """
    batches = tuple(int(b) for b in batches)
    samples = _capstone_samples(batches)
    course = _run_estimator(stable_tail_index, samples)
    student = run_student_code(
        lambda: _run_estimator(block_tail_index, samples), name="block_tail_index"
    )
    figure, (left, right) = demo_figure(2, 10, 3.6)
    names = list(KNOWN_LAWS)
    for i, name in enumerate(names):
        ours = [course["known", name, s] for s in range(SGD_SEEDS)]
        left.plot([i - 0.3, i + 0.3], [KNOWN_LAWS[name]] * 2, "-", color="tab:green", lw=2,
                  label="true index" if i == 0 else None)  # fmt: skip
        left.plot([i] * len(ours), ours, "o", color="k", ms=4, label="course" if i == 0 else None)
        if student.ok:
            theirs = [student.value["known", name, s] for s in range(SGD_SEEDS)]
            left.plot([i] * len(theirs), theirs, "x", color="tab:red", ms=8, mew=2,
                      label="yours" if i == 0 else None)  # fmt: skip
    short = ["stable 1.5", "stable 1.8", "Gaussian", "Student t (5)"]
    left.set_xticks(range(len(names)), short)
    left.set(ylabel="tail index", title="samples of known index (5 seeds each)")
    left.legend(fontsize=8, loc="upper left")
    ratios = [SWEEP_LR / b for b in batches]

    def per_ratio(values, b):
        return [values["trained", b, run] for run in range(RUNS)]

    right.plot(ratios, [statistics.mean(per_ratio(course, b)) for b in batches], "-", color="k",
               label=f"course: mean of {RUNS} runs")  # fmt: skip
    for b, ratio in zip(batches, ratios, strict=True):
        right.plot([ratio] * RUNS, per_ratio(course, b), "o", color="k", ms=4,
                   label="course: each run" if b == batches[0] else None)  # fmt: skip
        if student.ok:
            right.plot([ratio] * RUNS, per_ratio(student.value, b), "x", color="tab:red", ms=8,
                       mew=2, label="yours: each run" if b == batches[0] else None)  # fmt: skip
    untrained = [course["untrained", None, run] for run in range(RUNS)]
    right.axhline(statistics.mean(untrained), color="0.6", ls="--", label="course: untrained W")
    right.set_xscale("log")
    right.set_xticks(ratios, [f"{r:.2g}" for r in ratios])
    right.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    right.set(xlabel="ratio lr / b (lr x steps = 200)", ylabel="block estimate of W",
              title="hidden weights of the trained networks")  # fmt: skip
    right.set_ylim(top=max(2.2, max(course.values()) + 0.3))
    right.legend(fontsize=8, loc="upper center", ncol=2)
    show_figure(figure)

    print(f"block estimate of the hidden weights, mean ± sd over {RUNS} runs:")
    for b, ratio in zip(batches, ratios, strict=True):
        line = f"  lr/b {ratio:<7.3g} course {_mean_sd(per_ratio(course, b))}"
        if student.ok:
            line += f", yours {_mean_sd(per_ratio(student.value, b))}"
        print(line)
    line = f"  untrained    course {_mean_sd(untrained)}"
    if student.ok:
        line += f", yours {_mean_sd(student.value['untrained', None, run] for run in range(RUNS))}"
    print(line)
    agree = None
    if student.ok:
        gaps = {key: abs(student.value[key] - course[key]) for key in course}
        worst = max(gaps, key=gaps.get)
        agree = gaps[worst] <= AGREEMENT * max(1.0, abs(course[worst]))
        known = len(names) * SGD_SEEDS
        if agree:
            print(
                f"your estimates agree with the course's on all {len(course)} sample sets "
                f"({known} of known index, {len(course) - known} weight matrices)"
            )
        else:
            print(
                f"your estimates differ from the course's: largest gap on {_where(worst)}: "
                f"yours {student.value[worst]:.4g}, the course's {course[worst]:.4g}"
            )
    return {"course": course, "student": student.value, "message": student.message,
            "agree": agree}  # fmt: skip
