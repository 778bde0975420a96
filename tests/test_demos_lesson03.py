"""Lesson 03's demos, called as their slider panels call them (no kernel)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from lowdim_course.demos.lesson03 import (
    EDGE_MARGIN,
    STEP_EDGE,
    capstone_demo,
    course_learning_rate,
    moving_subspaces,
    singular_value_waterfall,
    step_check,
    step_checks,
    subspace_run,
)
from lowdim_course.demos.lesson03_capstone import built_layer
from lowdim_course.exercises.lesson03_capstone import _MEASURE_MISTAKES
from lowdim_course.problems import make_problem
from lowdim_course.theory import rho_trajectory
from lowdim_course.widgets import int_slider, log_slider, slider_panel


@pytest.mark.parametrize(
    ("d", "r", "depth", "eps", "steps"),
    [(30, 3, 3, 0.1, 600), (24, 4, 2, 0.3, 300), (20, 2, 4, 0.2, 400)],
)
def test_waterfall_counts_d_minus_2r_at_rho_and_moved_rank_2r(d, r, depth, eps, steps, capsys):
    summary = singular_value_waterfall(d=d, r=r, depth=depth, eps=eps, steps=steps)
    printed = capsys.readouterr().out
    assert summary["at_rho"] == [d - 2 * r] * depth
    assert summary["moved_rank"] == [2 * r] * depth
    assert summary["at_rho_always"] and summary["moved_rank_always"]
    assert summary["eta"] == pytest.approx(course_learning_rate(d) / d**2)
    expected_rho = float(rho_trajectory(eps, summary["eta"], depth, steps)[-1])
    assert summary["rho_final"] == pytest.approx(expected_rho, rel=1e-12)
    assert summary["measured_rho"] == pytest.approx(expected_rho, rel=1e-8)
    assert f"[{', '.join([str(d - 2 * r)] * depth)}]" in printed
    assert f"{summary['final_error']:.2e}" in printed


def test_default_run_learns_the_target_and_rho_shrinks_with_large_eps():
    summary = singular_value_waterfall()
    torch.testing.assert_close(
        torch.tensor(summary["learned"]), torch.tensor(summary["predicted_learned"]), rtol=1e-3,
        atol=0,
    )  # fmt: skip
    assert summary["final_error"] < 1e-3
    large = singular_value_waterfall(d=24, r=4, depth=2, eps=0.3, steps=300)
    assert large["rho_final"] < 0.9 * 0.3  # visibly below eps, and still counted exactly


def test_moving_subspaces_are_fixed_while_modes_are_found_one_at_a_time(capsys):
    summary = moving_subspaces()
    printed = capsys.readouterr().out
    assert summary["drift_is_zero"] and summary["largest_drift"] < 1e-9  # "about 1e-10"
    assert summary["chain_is_zero"]
    assert summary["random_angle"] > 1.0
    found = summary["found_at"]
    assert None not in found and found == sorted(found) and found[0] < found[-1]
    assert str(found) in printed


def test_subspace_run_is_shared_between_the_demos():
    first = subspace_run(30, 3, 3, 0.1, 600)
    assert subspace_run(30, 3, 3, 0.1, 600) is first
    _, history, report = first
    assert history.layer_snapshots and report.iterations == history.log_iterations


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        singular_value_waterfall,
        d=int_slider(30, 20, 60, step=2),
        r=int_slider(3, 1, 8),
        depth=int_slider(3, 2, 4),
        eps=log_slider(0.1, 0.01, 0.5),
        steps=int_slider(300, 200, 2000, step=100),
    )
    assert panel.result["at_rho"] == [24] * 3
    panel.kwargs_widgets[1].value = 5  # r
    assert panel.result["at_rho"] == [20] * 3 and panel.result["moved_rank"] == [10] * 3
    panel.kwargs_widgets[2].value = 2  # depth
    assert panel.result["at_rho"] == [20] * 2

    angles = slider_panel(moving_subspaces, d=int_slider(30, 20, 60, step=2), r=int_slider(3, 1, 8))
    before = angles.result["found_at"]
    angles.kwargs_widgets[1].value = 2
    assert len(angles.result["found_at"]) == 2 != len(before)


def _measure(layer_t, layer_0, eps):
    """The capstone's measurement written from its definition (no core code)."""
    sigma = torch.linalg.svdvals(layer_t)
    counts = [int(((sigma - value).abs() <= 1e-9 * value).sum()) for value in sigma]
    best = sigma[counts.index(max(counts))]
    rho = float(sigma[(sigma - best).abs() <= 1e-9 * best].mean())
    moved = torch.linalg.svdvals(layer_t - rho / eps * layer_0)
    return rho, int((moved > 1e-10 * sigma[0]).sum())


def test_capstone_demo_with_a_correct_measurement_agrees_with_the_theory(capsys):
    summary = capstone_demo(_measure)
    printed = capsys.readouterr().out
    assert summary["student_ran"]
    assert summary["rho_agrees"] and summary["largest_rho_gap"] < 1e-12
    assert summary["rank_is_2r"] and summary["rank_agrees"]
    assert "largest relative gap: below 1e-09" in printed
    assert "in every layer: True" in printed
    assert "invariant_subspace_report: 0 of 93" in printed
    assert summary["built_rho_gap"] < 1e-12 and summary["built_rank"] == 8
    assert "relative gap of rho_hat below 1e-09, moved rank 8 (2r = 8)" in printed
    assert "(0.0668% lower)" in printed  # the lesson quotes 0.067%


def test_capstone_demo_with_the_stub_prints_one_line_and_draws_the_course(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    summary = capstone_demo(stub)
    printed = capsys.readouterr().out.splitlines()
    assert not summary["student_ran"]
    assert printed[0].startswith("your measure_layer is not written yet")
    assert sum("your measure_layer" in line for line in printed) == 1
    assert summary["rank_is_2r"] and summary["rank_agrees"]


def test_capstone_demo_shows_a_wrong_measurement():
    def rho_is_eps(layer_t, layer_0, eps):
        moved = torch.linalg.svdvals(layer_t - layer_0)
        return eps, int((moved > 1e-10 * torch.linalg.matrix_norm(layer_t, 2)).sum())

    summary = capstone_demo(rho_is_eps)
    assert summary["student_ran"]
    assert not summary["rho_agrees"] and not summary["rank_is_2r"]


# ---------------------------------------------------------------------------------------------
# Capstone 03's figure shows every named mistake, the step check, the r-above-r-below split
# ---------------------------------------------------------------------------------------------

_MARGIN = 1e-6  # a correct measurement's relative gaps are below 1e-12: a mistake's is far above


def _printed_measures(summary):
    """The numbers the capstone demo prints: rho gap (run), ranks that differ, built-layer gap
    and rank."""
    return (
        summary["largest_rho_gap"],
        summary["ranks_differing"],
        summary["built_rho_gap"],
        summary["built_rank"],
    )


@pytest.mark.slow
@pytest.mark.parametrize("mistake", _MEASURE_MISTAKES, ids=lambda m: m.what[:40])
def test_capstone_figure_differs_for_every_named_mistake(mistake, capsys):
    right = capstone_demo(_measure)
    wrong = capstone_demo(mistake.compute)
    capsys.readouterr()
    assert wrong["student_ran"]
    gap, differing, built_gap, built_rank = _printed_measures(wrong)
    shows = (
        gap > _MARGIN or differing >= 1 or built_gap > _MARGIN or built_rank != right["built_rank"]
    )
    assert shows, f"{mistake.what}: the figure's printed numbers are the right ones"
    assert _printed_measures(right)[:3] == (right["largest_rho_gap"], 0, right["built_rho_gap"])


def test_a_median_estimate_is_right_on_the_run_and_wrong_on_the_built_layer():
    """The run splits the moving values r above, r below rho; the built layer does not."""
    layer_t, _, _, rho, r = built_layer()
    sigma = torch.linalg.svdvals(layer_t)
    assert int((sigma > rho * (1 + 1e-9)).sum()) == 2 * r
    assert abs(float(sigma.median()) - rho) > rho  # the median is a moving value there
    for d, r, depth, eps in ((30, 3, 3, 0.1), (20, 8, 2, 0.1), (24, 4, 4, 0.3)):
        _, history, report = subspace_run(d, r, depth, eps, 300)
        for j in (1, len(history.layer_snapshots) - 1):
            for layer in history.layer_snapshots[j]:
                values = torch.linalg.svdvals(layer)
                rho_t = float(report.rho[j])
                assert int((values > rho_t * (1 + 1e-9)).sum()) == r
                assert int((values < rho_t * (1 - 1e-9)).sum()) == r
                assert abs(float(values.median()) - rho_t) <= 1e-9 * rho_t


def test_step_checks_recompute_eta_l_s1_and_put_only_depth_5_past_the_edge(capsys):
    table = step_checks()
    printed = capsys.readouterr().out
    for depth, numbers in table.items():
        for d, number in zip((20, 30, 40, 60), numbers, strict=True):
            target = make_problem("mf", d=d, r=3, seed=0).target
            s1 = float(np.linalg.norm(target.numpy(), 2))
            eta = 50.0 * (d / 100) ** (4 / 3) / d**2
            assert number == pytest.approx(eta * depth * s1 ** (2 - 2 / depth), rel=1e-12)
            assert f"{number:.2f}" in printed
        assert (max(numbers) > STEP_EDGE - EDGE_MARGIN) == (depth == 5)
    # the ranges the demo module's comment quotes, over every width and rank on the sliders
    quoted = {2: (0.21, 0.25), 3: (0.71, 0.8), 4: (1.38, 1.66), 5: (2.15, 2.71)}
    for depth, (low, high) in quoted.items():
        numbers = [round(step_check(d, r, depth), 2) for d in range(20, 61, 2) for r in range(1, 9)]
        assert (min(numbers), max(numbers)) == (low, high)


def test_the_demos_warn_past_the_edge_and_not_inside_it(capsys):
    inside = singular_value_waterfall(d=20, r=2, depth=4, eps=0.3, steps=200)
    printed = capsys.readouterr().out
    assert inside["step_check"] <= STEP_EDGE - EDGE_MARGIN and "warning" not in printed
    past = singular_value_waterfall(d=20, r=2, depth=5, eps=0.3, steps=200)
    printed = capsys.readouterr().out
    assert past["step_check"] > STEP_EDGE and "warning: the step check is at or past" in printed
    moving_subspaces(d=20, r=2, depth=5, eps=0.3, steps=200)
    assert "warning: the step check is at or past" in capsys.readouterr().out


@pytest.mark.slow
def test_the_subspace_drift_is_larger_but_below_1e_4_at_the_smallest_eps(capsys):
    """The lesson: about 1e-10 at the defaults, up to about 1e-5 at eps = 0.01."""
    small = moving_subspaces(eps=0.01, steps=2000)
    capsys.readouterr()
    assert 1e-6 < small["largest_drift"] < 1e-4 and small["drift_is_zero"]


@pytest.mark.slow
def test_at_depth_4_eps_01_is_still_on_the_plateau_and_eps_03_learns(capsys):
    """The lesson's 'at L = 4 raise eps to about 0.3': 600 steps from 0.1 end on the plateau."""
    plateau = singular_value_waterfall(depth=4, eps=0.1)
    learned = singular_value_waterfall(depth=4, eps=0.3)
    capsys.readouterr()
    assert plateau["final_error"] > 0.5 and learned["final_error"] < 1e-2
    assert plateau["at_rho_always"] and learned["at_rho_always"] and learned["moved_rank_always"]
