"""Lesson 11's demos, called as their slider panels call them (no kernel)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from lowdim_course.demos.lesson11 import (
    DEPTH_RANGE,
    EPS_RANGE,
    KEEP_MAX,
    KEEP_STEP,
    SIZE,
    erank_staircase_demo,
    flat_tail_example,
    largest_keep,
    measures_vs_errors,
)
from lowdim_course.exercises.lesson11 import _RANK_MISTAKES
from lowdim_course.widgets import float_slider, int_slider, log_slider, slider_panel


def test_each_measure_predicts_its_own_compression(capsys):
    rho = measures_vs_errors()
    assert rho["effective rank"]["rank-k"] > 0.95 and rho["Hoyer"]["k-sparse"] < -0.95
    assert abs(rho["effective rank"]["k-sparse"]) < 0.8 and abs(rho["Hoyer"]["rank-k"]) < 0.8
    assert "Spearman" in capsys.readouterr().out


def test_staircase_matches_its_prediction_at_the_defaults(capsys):
    stairs = erank_staircase_demo()
    assert stairs["start"] == pytest.approx(50.0)
    assert stairs["lowest"] == pytest.approx(1.00, abs=0.005)
    assert stairs["plateaus"][2] == pytest.approx(2.97, abs=0.02)
    assert stairs["end"] == pytest.approx(4.88, abs=0.005)
    printed = capsys.readouterr().out
    assert "lowest 1.00" in printed and "end 4.88" in printed


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        erank_staircase_demo,
        depth=int_slider(3, *DEPTH_RANGE),
        eps=log_slider(0.01, *EPS_RANGE),
    )
    assert panel.result["lowest"] == pytest.approx(1.0, abs=0.005)
    panel.kwargs_widgets[0].value = 2
    assert panel.result["lowest"] > 1.5  # depth 2 separates the modes less
    table = slider_panel(measures_vs_errors, keep=float_slider(0.2, 0.1, KEEP_MAX, step=KEEP_STEP))
    table.kwargs_widgets[0].value = 0.3
    assert table.result["effective rank"]["rank-k"] > 0.9


def _students_rank_for_error(W, rel_error):
    energy = torch.linalg.svdvals(W) ** 2
    for k in range(len(energy) + 1):
        if energy[k:].sum() <= rel_error**2 * energy.sum():
            return k
    return len(energy)


def test_your_rank_for_error_agrees_with_a_correct_function(capsys):
    from lowdim_course.demos.lesson11 import your_rank_for_error

    result = your_rank_for_error(_students_rank_for_error)
    curve = result["course_curve"]
    assert result["agree"] == {"curve": len(curve), "family": 40, "final": 4, "tolerances": 7}
    assert result["course_sweep"] == [0, 3, 5, 5, 5, 5, 5]
    assert curve[0] == 50 and min(curve) == 1 and curve[-1] == 5  # the staircase in integers
    assert set(result["course_final"].values()) == {5}
    printed = capsys.readouterr().out
    assert f"your k equals the course's at {len(curve)} of {len(curve)}" in printed


def test_your_rank_for_error_with_the_stub_prints_one_line(capsys):
    from lowdim_course.demos.lesson11 import your_rank_for_error

    def stub(*args):
        raise NotImplementedError("your code here")

    result = your_rank_for_error(stub)
    printed = capsys.readouterr().out
    assert result["student"] is None
    assert printed.count("not written yet") == 1 and "Traceback" not in printed


def test_your_rank_for_error_shows_a_wrong_tail(capsys):
    from lowdim_course.demos.lesson11 import your_rank_for_error

    def squared(W, rel_error):  # compares the error squared with rel_error
        return _students_rank_for_error(W, rel_error**0.5)

    result = your_rank_for_error(squared)
    assert result["agree"]["family"] < 20


def test_flat_tail_example_against_its_spectrum(capsys):
    measures = flat_tail_example(size=500)
    t = (0.5 / 499) ** 0.5
    # ||W||_F^2 = 1 + 499 t^2 = 1.5 and sigma_1 = 1
    assert measures["stable_rank"] == pytest.approx(1.5, rel=1e-12)
    weights = np.array([1.0] + [t] * 499)
    p = weights / weights.sum()
    assert measures["effective_rank"] == pytest.approx(np.exp(-(p * np.log(p)).sum()), rel=1e-12)
    # keeping k singular values leaves sqrt((499 - (k - 1)) t^2 / 1.5) relative error <= 0.1
    smallest = next(k for k in range(1, 501) if ((500 - k) * t**2 / 1.5) ** 0.5 <= 0.1)
    assert measures["rank_for_10_percent"] == smallest
    assert f"rank for 10% error {smallest} of 500" in capsys.readouterr().out


def test_the_keep_slider_stops_before_the_sparse_budget_keeps_everything():
    """k = round(keep * 30) and a budget of k (30 + 30) entries: k = 15 keeps all 900 (every
    k-sparse error 0), k = 14 does not. The cap 0.4 is the largest 0.1-step value below that;
    at it every matrix still has a nonzero k-sparse error, one step further none has."""
    from lowdim_course.demos.lesson11 import _family
    from lowdim_course.literature.compressibility import k_sparse_error

    k_max = max(k for k in range(1, SIZE + 1) if k * 2 * SIZE < SIZE * SIZE)
    assert k_max == 14 and KEEP_MAX == 0.4 == largest_keep(SIZE, KEEP_STEP)
    assert round(KEEP_MAX * SIZE) <= k_max < round((KEEP_MAX + KEEP_STEP) * SIZE)
    family = _family()[0]
    budget = round(KEEP_MAX * SIZE) * 2 * SIZE
    assert min(k_sparse_error(w, budget) for w in family) > 0
    beyond = round((KEEP_MAX + KEEP_STEP) * SIZE) * 2 * SIZE
    assert max(k_sparse_error(w, min(beyond, SIZE * SIZE)) for w in family) == 0
    with pytest.raises(ValueError, match="keep"):
        measures_vs_errors(keep=KEEP_MAX + KEEP_STEP)
    assert largest_keep(20, 0.1) == 0.4 and largest_keep(30, 0.05) == 0.45


@pytest.mark.parametrize("depth", DEPTH_RANGE)
@pytest.mark.parametrize("eps", EPS_RANGE)
def test_every_corner_of_the_staircase_sliders_learns_every_mode(depth, eps, capsys):
    """At both ends of both sliders all five modes reach half their strength within the run."""
    stairs = erank_staircase_demo(depth=depth, eps=eps)
    assert all(t is not None for t in stairs["learned_at"]), stairs["learned_at"]
    assert stairs["final_error"] < 1e-2


def test_depth_four_at_the_default_eps_learns_nothing_in_the_run():
    """Why depth 4 is not on the slider: at eps = 0.01 no mode is learned in 3,000 steps."""
    from lowdim_course.demos.lesson11 import _run
    from lowdim_course.literature.compressibility import erank_staircase

    problem, history = _run(4, 0.01)
    assert all(t is None for t in erank_staircase(history, problem.target)["learned_at"])


@pytest.mark.slow
@pytest.mark.parametrize("mistake", _RANK_MISTAKES, ids=lambda m: m.what[:30])
def test_each_named_mistake_shows_in_the_capstone_figure(mistake, capsys):
    """The printed agreement (moments, matrices, trained weights, tolerances) is complete for
    a correct function and falls by at least one for every named mistake; the two that differ
    only at a tie or at k = 0 show at the tolerance 1 of the sweep panel."""
    from lowdim_course.demos.lesson11 import your_rank_for_error

    correct = your_rank_for_error(_students_rank_for_error)["agree"]
    wrong = your_rank_for_error(mistake.compute)["agree"]
    assert correct == {"curve": 151, "family": 40, "final": 4, "tolerances": 7}
    assert sum(wrong.values()) <= sum(correct.values()) - 1
    printed = capsys.readouterr().out
    assert printed.count("tolerances") >= 2


def test_the_lessons_sliders_are_the_tested_ranges():
    """The lesson's slider calls use the ranges the tests above check (KEEP_MAX, DEPTH_RANGE,
    EPS_RANGE)."""
    from pathlib import Path

    (source,) = (Path(__file__).resolve().parents[1] / "lessons" / "src").glob("11_*.md")
    text = source.read_text(encoding="utf-8")
    assert f"float_slider(0.2, 0.1, {KEEP_MAX:g}, step={KEEP_STEP:g}," in text
    assert f"int_slider(3, {DEPTH_RANGE[0]}, {DEPTH_RANGE[1]}," in text
    assert f"log_slider(0.01, {EPS_RANGE[0]:g}, {EPS_RANGE[1]:g}," in text
