"""Kwon et al.'s nonlinear claim measured over several data splits (Sec. 5 of their paper).

The claim: Original + C-DLN reaches the test accuracy of Original + DLN (within 0.5 points) in
at least 2x less training time. One split of the digits has 449 test images, so half a point is
about two images; ``claim_over_seeds`` repeats the three-model race over seeds (each seed draws a
new train/test split and new initial weights) and reports the spread of every number the
verdict rests on. The accuracy half does not depend on the machine; the time half does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .nonlinear import CLAIM_POINTS, CLAIM_SPEEDUP, claim_check, run_nonlinear
from .spread import mean_sd
from .validation import check_int

SEEDS = (0, 1, 2, 3, 4)


@dataclass
class SeedRow:
    """One split's race: final accuracies (%), iterations and seconds to the target, speed-ups."""

    seed: int
    accuracy: dict
    gap: float
    iterations_to_target: dict
    speedup: float | None
    per_step_speedup: float

    @property
    def accuracy_holds(self) -> bool:
        """C-DLN reaches DLN's final accuracy minus 0.5 points and ends within 0.5 points."""
        return self.iterations_to_target["cdln"] is not None and self.gap >= -CLAIM_POINTS

    @property
    def holds(self) -> bool:
        """The whole claim: the accuracy half and at least 2x less time to the target."""
        return self.accuracy_holds and self.speedup is not None and self.speedup >= CLAIM_SPEEDUP


def claim_over_seeds(seeds=SEEDS, **overrides) -> list[SeedRow]:
    """Run the three models once per seed (``run_nonlinear(seed=...)``) and check the claim.

    ``overrides`` are ``run_nonlinear``'s settings (width, lr, alpha, alpha_layers, steps, ...).
    On the digits a seed draws the split and the initial weights; with ``data="mnist1d"`` the
    split is MNIST-1D's fixed one and a seed draws the initial weights and mini-batch order.
    """
    seeds = [check_int("seed", seed, low=0) for seed in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    rows = []
    for seed in seeds:
        histories = run_nonlinear(seed=seed, **overrides)
        claim = claim_check(histories)
        rows.append(
            SeedRow(
                seed=seed,
                accuracy={kind: h.final_accuracy for kind, h in histories.items()},
                gap=claim["accuracy_gap"],
                iterations_to_target=claim["iterations_to_target"],
                speedup=claim["speedup"],
                per_step_speedup=claim["per_step_speedup"],
            )
        )
    return rows


def accuracy_summary(rows: list[SeedRow]) -> dict:
    """What does not depend on the machine: accuracies, gap, iterations, the accuracy verdict."""
    both = [r for r in rows if None not in r.iterations_to_target.values()]
    ratios = [r.iterations_to_target["dln"] / r.iterations_to_target["cdln"] for r in both]
    return {
        "seeds": len(rows),
        "accuracy": {kind: mean_sd(r.accuracy[kind] for r in rows) for kind in rows[0].accuracy},
        "gap": mean_sd(r.gap for r in rows),
        "gap_range": (min(r.gap for r in rows), max(r.gap for r in rows)),
        "accuracy_holds": sum(r.accuracy_holds for r in rows),
        "iterations_ratio": mean_sd(ratios) if ratios else None,
        "iterations_ratio_seeds": len(ratios),
    }


def time_summary(rows: list[SeedRow]) -> dict:
    """The machine-dependent half: speed-ups per step and to the target, the whole verdict."""
    speedups = [r.speedup for r in rows if r.speedup is not None]
    return {
        "per_step_speedup": mean_sd(r.per_step_speedup for r in rows),
        "speedup": mean_sd(speedups) if speedups else None,
        "speedup_seeds": len(speedups),
        "holds": sum(r.holds for r in rows),
        "seeds": len(rows),
    }
