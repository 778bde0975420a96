"""The nonlinear claim over data splits: bookkeeping checked on fakes, the verdict on real runs."""

import math

import pytest

from lowdim_course.nonlinear import claim_check, run_nonlinear
from lowdim_course.nonlinear_seeds import (
    SeedRow,
    accuracy_summary,
    claim_over_seeds,
    time_summary,
)
from lowdim_course.spread import format_mean_sd, mean_sd


def _row(seed, gap, dln_it, cdln_it, speedup):
    return SeedRow(seed=seed, accuracy={"mlp": 90.0, "dln": 96.0, "cdln": 96.0 + gap}, gap=gap,
                   iterations_to_target={"dln": dln_it, "cdln": cdln_it}, speedup=speedup,
                   per_step_speedup=2.0)  # fmt: skip


def test_mean_sd_is_the_sample_mean_and_standard_deviation():
    mean, sd = mean_sd([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3)
    assert sd == pytest.approx(
        math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2)
    )
    assert mean_sd([5.0]) == (5.0, 0.0)
    with pytest.raises(ValueError, match="at least one"):
        mean_sd([])
    assert format_mean_sd((1.234, 0.05), 1) == "1.2 +- 0.1" and format_mean_sd(None) == "-"


def test_verdicts_count_each_half_of_the_claim():
    rows = [
        _row(0, +0.2, 50, 40, 2.5),  # both halves
        _row(1, -0.7, 50, 40, 3.0),  # ends too far below
        _row(2, -0.2, 50, None, None),  # never reaches the target
        _row(3, +0.0, 60, 30, 1.5),  # accurate, not 2x faster
    ]
    accuracy = accuracy_summary(rows)
    assert accuracy["accuracy_holds"] == 2  # seeds 0 and 3
    assert accuracy["gap_range"] == (-0.7, 0.2)
    assert accuracy["iterations_ratio_seeds"] == 3
    assert accuracy["iterations_ratio"][0] == pytest.approx((50 / 40 + 50 / 40 + 60 / 30) / 3)
    timing = time_summary(rows)
    assert timing["holds"] == 1 and timing["speedup_seeds"] == 3


def test_rows_agree_with_single_runs_and_bad_seeds_are_refused():
    settings = {"width": 32, "r_hat": 10, "steps": 20, "eval_every": 5}
    (row,) = claim_over_seeds((3,), **settings)
    claim = claim_check(run_nonlinear(seed=3, **settings))
    assert row.gap == pytest.approx(claim["accuracy_gap"])
    assert row.iterations_to_target == claim["iterations_to_target"]
    with pytest.raises(ValueError, match="seed must be"):
        claim_over_seeds((-1,), **settings)
    with pytest.raises(ValueError, match="at least one seed"):
        claim_over_seeds((), **settings)
