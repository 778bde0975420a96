"""Lesson 09, Section 4: small two-layer networks trained by SGD at six ratios step / batch.

Barsbey et al. (NeurIPS 2021) link a large ratio of step size to batch size to heavy-tailed
weights and so to compressibility. ``ratio_sweep`` trains the same networks (paired runs) at six
ratios with the same ``lr x steps`` and measures the tails (Hill, block estimator) and three
pruning schemes of the hidden weights; the trained networks are cached for the capstone.
"""

from __future__ import annotations

import functools
import itertools
import statistics

import torch

from ..literature.heavy_tails import (
    PRUNERS,
    hill_estimator,
    network_tail_index,
    prunable_fraction,
    train_two_layer_networks,
)
from ..threads import small_work

SWEEP_LR, SWEEP_STEPS, RUNS = 0.05, 4000, 5
SWEEP_BATCHES = (1, 2, 4, 8, 16, 32)
# the same ratios reached with twice the step and half the steps (same lr x steps)
CHECK_LR, CHECK_STEPS, CHECK_BATCHES = 0.1, 2000, (2, 8)
# the extreme ratios again on new data and starts: 5 runs per seed, seeds 0-3 (20 paired runs)
PAIRED_SEEDS = (0, 1, 2, 3)
MEASURES = ("Hill", "block", "prunable", "magnitude", "singular value", "node", "loss")


def gaussian_twin(hidden: torch.Tensor, seed: int) -> torch.Tensor:
    """Gaussian entries with each column's mean and sd of ``hidden``: a law with no tail at
    all, placed where the trained weights are (the control for location and scale)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(hidden.shape, generator=generator, dtype=torch.float64)
    return hidden.mean(0) + hidden.std(0) * noise


def _measure(hidden: torch.Tensor, average: torch.Tensor, loss: float, run: int) -> dict:
    """Tails of the averaged network (as Barsbey et al.'s code), pruning of the final one."""
    twin = gaussian_twin(average, 1000 + run)
    values = {
        "Hill": hill_estimator(average.flatten(), k=50),
        "block": network_tail_index(average, seed=run),
        "prunable": prunable_fraction(hidden),
        # the same estimator without the centring, and both on the Gaussian twin
        "uncentred": network_tail_index(average, seed=run, centre=False),
        "twin uncentred": network_tail_index(twin, seed=run, centre=False),
        "twin centred": network_tail_index(twin, seed=run),
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
        _measure(w, a, float(loss), run)
        for run, (w, a, loss) in enumerate(
            zip(out["hidden"], out["hidden_average"], out["loss"], strict=True)
        )
    )


@functools.lru_cache(maxsize=8)
@small_work()
def _extreme_pair(seed: int) -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    """The runs of one seed at the largest and the smallest ratio (paired: same data, start)."""
    if seed == 0:
        return _trained(SWEEP_LR, SWEEP_BATCHES[0], SWEEP_STEPS), _trained(
            SWEEP_LR, SWEEP_BATCHES[-1], SWEEP_STEPS
        )
    pair = []
    for b in (SWEEP_BATCHES[0], SWEEP_BATCHES[-1]):
        out = train_two_layer_networks(SWEEP_LR, b, steps=SWEEP_STEPS, runs=RUNS, seed=seed)
        pair.append(
            tuple(
                _measure(w, a, float(loss), RUNS * seed + run)
                for run, (w, a, loss) in enumerate(
                    zip(out["hidden"], out["hidden_average"], out["loss"], strict=True)
                )
            )
        )
    return pair[0], pair[1]


def paired_counts(seeds=PAIRED_SEEDS) -> dict:
    """Over ``RUNS * len(seeds)`` paired runs: how many point to heavier tails / more
    compressibility at the largest ratio than at the smallest (as :func:`_paired_heavier`)."""
    counts = dict.fromkeys(MEASURES[:6], 0)
    for seed in seeds:
        large, small = _extreme_pair(seed)
        table = {SWEEP_BATCHES[0]: large, SWEEP_BATCHES[-1]: small}
        for m in counts:
            counts[m] += _paired_heavier(table, m)
    return counts


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


@small_work()
def ratio_sweep():
    """Two-layer networks trained at six ratios lr/b with the same lr x steps; 5 runs each.

    Width 200, 10 inputs, 400 samples of a random teacher per run; lr = 0.05 for 4,000 steps
    (lr x steps = 200) at b = 1, 2, 4, 8, 16, 32. Runs r = 0..4 share their data and initial
    weights across the six settings (paired). Per run: on the averaged network (the mean of
    the last half of the iterates of the hidden weights W, as Barsbey et al.'s code), Hill's
    index (k = 50) and the block estimate of Barsbey et al.'s code (``network_tail_index``:
    columns centred by their medians, median over 5 orders, capped at 2); on the final W, the
    prunable fraction at 10% error, the errors of removing half of W by magnitude, singular
    value and node; and the training loss. Then the block estimate without the centring, and
    on a Gaussian with each column's mean and sd (the control for location). Two more settings
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
    total = RUNS * len(PAIRED_SEEDS)
    counts = paired_counts()
    print(
        f"the same on {total} paired runs (seeds {PAIRED_SEEDS[0]}-{PAIRED_SEEDS[-1]}, "
        f"{RUNS} runs each): " + ", ".join(f"{m} {counts[m]} of {total}" for m in counts)
    )
    print(
        "means move one way across all six ratios: "
        + ", ".join(f"{m} {'yes' if _monotone_means(table, m) else 'no'}" for m in MEASURES[:6])
    )
    rows = [(f"{SWEEP_LR / b:.3g}", table[b]) for b in (SWEEP_BATCHES[0], SWEEP_BATCHES[-1])]
    rows.append(("untrained", initial))
    print("block estimate without centring, and on a Gaussian with each column's mean and sd:")
    for label, runs in rows:
        print(
            f"  lr/b {label:<10} uncentred {_mean_sd(r['uncentred'] for r in runs)}; Gaussian "
            f"twin: uncentred {_mean_sd(r['twin uncentred'] for r in runs)}, "
            f"centred {_mean_sd(r['twin centred'] for r in runs)}"
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
        "paired_counts": counts,
        "monotone_means": {m: _monotone_means(table, m) for m in MEASURES[:6]},
    }
