"""Lesson 00's demo, called as its slider panel calls it (no kernel)."""

import math

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from lowdim_course.comparison import compare
from lowdim_course.demos.lesson00 import STEP_CHECK_LIMIT, demo_rate, first_look, step_check_table
from lowdim_course.problems import spread_spectrum_target
from lowdim_course.widgets import int_slider, log_slider, slider_panel


def test_first_look_compares_both_networks_and_prints_their_numbers(capsys):
    summary = first_look(depth=3, eps=0.03, steps=1500)
    printed = capsys.readouterr().out
    assert summary["original"]["params"] == 3 * 30 * 30
    assert summary["compressed"]["params"] == 2 * 30 * 6 + 6 * 6
    assert summary["compressed"]["iterations_to_1e-4"] <= summary["original"]["iterations_to_1e-4"]
    assert f"{summary['compressed']['final_error']:.2e}" in printed


def test_moving_the_depth_slider_recomputes():
    panel = slider_panel(
        first_look,
        depth=int_slider(3, 2, 5),
        eps=log_slider(0.03, 0.003, 0.3),
        steps=int_slider(500, 500, 3000, step=500),
    )
    before = panel.result
    panel.kwargs_widgets[0].value = 2
    assert panel.result["compressed"]["params"] == 2 * 30 * 6 != before["compressed"]["params"]


# ---------------------------------------------------------------------------------------------
# The depth-aware rate: the step check eta L s_1^(2-2/L) (Lesson 04) at the course's rate
# ---------------------------------------------------------------------------------------------

# The eps slider's values: log_slider(0.03, 0.003, 0.3) steps by a tenth of a decade from 0.003.
SLIDER_EPS = [10 ** (math.log10(0.003) + k / 10) for k in range(21)]


def _checks_by_hand(d=30, r=3):
    """The step check from numpy's SVD and the formulas, not from the demo."""
    top = np.linalg.svd(spread_spectrum_target(d, r, seed=0).numpy(), compute_uv=False)[0]
    lr = 50.0 * (d / 100) ** (4 / 3)
    return {depth: lr / d**2 * depth * top ** (2 - 2 / depth) for depth in (2, 3, 4, 5)}


def test_the_step_check_table_is_the_formula_and_only_depth_5_is_lowered(capsys):
    rows = step_check_table()
    printed = capsys.readouterr().out
    by_hand = _checks_by_hand()
    for row in rows:
        assert row["course_check"] == pytest.approx(by_hand[row["depth"]], rel=1e-9)
        assert f"{row['course_check']:.2f}" in printed
        lowered = by_hand[row["depth"]] > STEP_CHECK_LIMIT
        assert (row["lr"] < row["course_lr"]) == lowered
        assert row["check"] == pytest.approx(min(by_hand[row["depth"]], STEP_CHECK_LIMIT))
    assert [row["depth"] for row in rows if row["course_check"] > 2] == [5]


@pytest.mark.slow
def test_at_the_course_rate_depth_5_learns_nothing_for_any_eps_on_the_slider():
    """The step check is past 2 (2.31): every run on the slider ends with error above 0.1."""
    rate = demo_rate(5, 30, 3)
    assert rate["course_check"] > 2
    for eps in SLIDER_EPS:
        result = compare(
            "mf", d=30, r=3, depth=5, eps=eps, steps=3000, lr=rate["course_lr"], tol=0.0
        ).to_dict()
        for side in ("original", "compressed"):
            assert result[side]["final_error"] > 0.1, (eps, side)


@pytest.mark.slow
@pytest.mark.parametrize(("depth", "eps"), [(4, 0.1), (5, 0.15), (5, 0.2)])
def test_the_lessons_advice_raise_eps_works_at_depth_4_and_5(depth, eps):
    """The lesson's 'try': at these slider values both networks reach 1e-4 within 3,000 steps
    (at depth 5 thanks to the lowered rate)."""
    nearest = min(SLIDER_EPS, key=lambda value: abs(math.log(value / eps)))
    summary = first_look(depth=depth, eps=nearest, steps=3000)
    for side in ("original", "compressed"):
        assert summary[side]["iterations_to_1e-4"] is not None, side
