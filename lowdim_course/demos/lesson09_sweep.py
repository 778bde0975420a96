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
    prunable_fraction,
    stable_tail_index,
    train_two_layer_networks,
)
from ..threads import small_work

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


@small_work()
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
