"""Each of the three models tuned by the same budget, then raced on other seeds.

The comparison of Kwon et al.'s Sec. 5 (plain MLP, Original + DLN, Original + C-DLN) is fair
only if no model is handicapped by its learning rate. Here every model tries the same grid of
learning rates on *tuning* seeds and keeps the one with the highest mean final test accuracy
(ties: the smaller rate); the three models then race side by side, each at its own rate, on
*reported* seeds that took no part in the choice. Nothing else is tuned (alpha, r_hat and the
architecture stay fixed), so every model has the same number of tried settings.

On MNIST-1D the train/test split is fixed: tuning and reported seeds share the test set and
differ in the initial weights and the mini-batch order; with three rates to choose from, the
choice can favour the test set only a little.
"""

from __future__ import annotations

from .nonlinear import KINDS, MNIST1D_LEARNING_RATES, MNIST1D_SETTINGS
from .nonlinear_seeds import SeedRow, accuracy_summary, claim_over_seeds, time_summary
from .spread import mean_sd

TUNING_SEEDS = (0, 1, 2, 3, 4)
REPORTED_SEEDS = (5, 6, 7, 8, 9)


def fixed_settings(overrides: dict) -> dict:
    """``MNIST1D_SETTINGS`` with ``overrides``, less the seed and the rate (which vary)."""
    return {k: v for k, v in {**MNIST1D_SETTINGS, **overrides}.items() if k not in ("seed", "lr")}


def tune_learning_rates(
    rates=MNIST1D_LEARNING_RATES, seeds=TUNING_SEEDS, **overrides
) -> tuple[dict, list[dict]]:
    """``({kind: chosen rate}, rows)``: the three models at every rate over ``seeds``.

    ``rows`` holds one dict per rate, ``{"lr", "per_seed": [SeedRow], "accuracy": {kind: (mean,
    sd)}}``; each kind's choice maximizes its own mean final accuracy.
    """
    settings = fixed_settings(overrides)
    rows = []
    for rate in rates:
        seed_rows = claim_over_seeds(seeds, lr=rate, **settings)
        accuracy = {kind: mean_sd(r.accuracy[kind] for r in seed_rows) for kind in KINDS}
        rows.append({"lr": rate, "per_seed": seed_rows, "accuracy": accuracy})
    chosen = {}
    for kind in KINDS:
        best = max(rows, key=lambda row: (row["accuracy"][kind][0], -row["lr"]))
        chosen[kind] = best["lr"]
    return chosen, rows


def tuned_race(rates: dict, seeds=REPORTED_SEEDS, **overrides) -> list[SeedRow]:
    """The three models side by side, each at ``rates[kind]``, once per seed."""
    return claim_over_seeds(seeds, lr=dict(rates), **fixed_settings(overrides))


def block_against_mlp(rows: list[SeedRow]) -> dict:
    """Paired differences over seeds, block model minus plain MLP (percentage points).

    The models of one seed share their ReLU layers' and output layer's initial weights, so the
    difference is taken seed by seed: ``{kind: {"gap": (mean, sd), "range": (min, max),
    "above": seeds where the block model ends higher}}`` for ``"dln"`` and ``"cdln"``.
    """
    result = {}
    for kind in ("dln", "cdln"):
        gaps = [r.accuracy[kind] - r.accuracy["mlp"] for r in rows]
        result[kind] = {
            "gap": mean_sd(gaps),
            "range": (min(gaps), max(gaps)),
            "above": sum(g > 0 for g in gaps),
            "seeds": len(gaps),
        }
    return result


def seed_row_dict(row: SeedRow) -> dict:
    """One seed's race as JSON: final accuracies, C-DLN - DLN, iterations and speed-ups."""
    return {
        "seed": row.seed,
        "accuracy": dict(row.accuracy),
        "gap": row.gap,
        "iterations_to_target": dict(row.iterations_to_target),
        "speedup": row.speedup,
        "per_step_speedup": row.per_step_speedup,
        "accuracy_holds": row.accuracy_holds,
        "holds": row.holds,
    }


def tuned_comparison(
    rates=MNIST1D_LEARNING_RATES,
    tuning_seeds=TUNING_SEEDS,
    reported_seeds=REPORTED_SEEDS,
    **overrides,
) -> dict:
    """Tune every model's rate on ``tuning_seeds``, race on ``reported_seeds``; a JSON dict.

    Keys: ``settings`` (what was fixed), ``rates``, the seeds, ``tuning`` (each rate's mean +- sd
    final accuracy per model and the per-seed accuracies), ``chosen`` (``{kind: rate}``) and
    ``reported`` (per-seed rows, ``accuracy_summary``, ``time_summary`` and
    :func:`block_against_mlp`).
    """
    chosen, tuning_rows = tune_learning_rates(rates, tuning_seeds, **overrides)
    race = tuned_race(chosen, reported_seeds, **overrides)
    return {
        "settings": fixed_settings(overrides),
        "rates": list(rates),
        "tuning_seeds": list(tuning_seeds),
        "reported_seeds": list(reported_seeds),
        "tuning": [
            {
                "lr": row["lr"],
                "accuracy": row["accuracy"],
                "per_seed": [{"seed": r.seed, "accuracy": r.accuracy} for r in row["per_seed"]],
            }
            for row in tuning_rows
        ],
        "chosen": chosen,
        "reported": {
            "per_seed": [seed_row_dict(r) for r in race],
            "accuracy": accuracy_summary(race),
            "time": time_summary(race),
            "block_against_mlp": block_against_mlp(race),
        },
    }
