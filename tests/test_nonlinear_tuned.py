"""Each model tuned by the same budget, then raced on other seeds (nonlinear_tuned)."""

import pytest

from lowdim_course.nonlinear import run_nonlinear
from lowdim_course.nonlinear_tuned import block_against_mlp, tune_learning_rates, tuned_race
from lowdim_course.spread import mean_sd

TINY = {"width": 16, "r_hat": 4, "steps": 20, "eval_every": 10, "batch_size": 200}


@pytest.fixture(scope="module")
def tuned():
    return tune_learning_rates((1e-3, 1e-2), (0, 1), **TINY)


def test_each_model_keeps_its_own_best_mean_over_the_tuning_seeds(tuned):
    chosen, rows = tuned
    # independently: each rate's run, seed by seed, straight from run_nonlinear
    means = {}
    for rate in (1e-3, 1e-2):
        runs = [run_nonlinear(data="mnist1d", hidden_layers=2, lr=rate, seed=s, **TINY)
                for s in (0, 1)]  # fmt: skip
        means[rate] = {k: sum(r[k].final_accuracy for r in runs) / 2 for k in runs[0]}
    for kind in ("mlp", "dln", "cdln"):
        best = max(means, key=lambda rate: (means[rate][kind], -rate))
        assert chosen[kind] == best
        for row in rows:
            assert row["accuracy"][kind][0] == pytest.approx(means[row["lr"]][kind])


def test_the_race_trains_each_model_at_its_chosen_rate(tuned):
    chosen, _ = tuned
    (row,) = tuned_race(chosen, seeds=(5,), **TINY)
    for kind, rate in chosen.items():
        alone = run_nonlinear(kinds=(kind,), data="mnist1d", hidden_layers=2, lr=rate, seed=5,
                              **TINY)[kind]  # fmt: skip
        assert row.accuracy[kind] == alone.final_accuracy


def test_block_against_mlp_is_paired_by_seed(tuned):
    _, rows = tuned
    seed_rows = rows[0]["per_seed"]
    result = block_against_mlp(seed_rows)
    for kind in ("dln", "cdln"):
        gaps = [r.accuracy[kind] - r.accuracy["mlp"] for r in seed_rows]
        assert result[kind]["gap"] == pytest.approx(mean_sd(gaps))
        assert result[kind]["range"] == (min(gaps), max(gaps))
        assert result[kind]["above"] == sum(g > 0 for g in gaps)
