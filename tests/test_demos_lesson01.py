"""Lesson 01's demos, called as their slider panels call them (no kernel)."""

import matplotlib

matplotlib.use("Agg")

import pytest

from lowdim_course.demos.lesson01 import (
    MAX_STEPS,
    SEMANTIC_MAX_STEPS,
    gd_step_demo,
    run_length,
    saxe_demo,
    semantic_demo,
    semantic_overview,
    stage_like_learning,
    stages_demo,
)
from lowdim_course.theory.two_layer import half_way_time
from lowdim_course.widgets import choice, int_slider, log_slider, slider_panel


def test_saxe_demo_gradient_descent_follows_the_closed_form(capsys):
    result = saxe_demo(s=3.0, u0=1e-3, lr=1e-2, init="aligned")
    printed = capsys.readouterr().out
    assert result["t_half"] == pytest.approx(half_way_time(3.0, 1e-3, 1e-2))
    assert abs(result["gd_half"] - result["t_half"]) <= 3
    assert result["max_gap"] < 0.03 * 3.0
    assert result["final"] == pytest.approx(3.0, rel=0.01)
    assert f"{result['max_gap']:.3g}" in printed


def test_saxe_demo_gap_shrinks_with_the_learning_rate_and_random_init_departs():
    coarse = saxe_demo(s=2.0, u0=1e-2, lr=2e-2)
    fine = saxe_demo(s=2.0, u0=1e-2, lr=2e-3)
    assert fine["max_gap"] < 0.2 * coarse["max_gap"]
    random = saxe_demo(s=2.0, u0=1e-2, lr=2e-2, init="random")
    assert random["max_gap"] > 3 * coarse["max_gap"]
    assert 1.5 < random["final"] < 2.01


def test_saxe_demo_stops_at_the_step_cap_and_says_so(capsys):
    result = saxe_demo(s=0.5, u0=1e-4, lr=1e-3)
    assert result["steps"] == MAX_STEPS and result["gd_half"] is None
    assert "raise lr or u0" in capsys.readouterr().out


def test_stages_are_learned_strongest_first_as_the_closed_form_says():
    result = stages_demo(u0=1e-4, lr=1e-2)
    halves = [mode["gd_half"] for mode in result["modes"]]
    assert halves == sorted(halves)
    for mode in result["modes"]:
        assert abs(mode["gd_half"] - mode["t_half"]) <= 4
    assert result["max_gap"] < 0.3


def test_spec_reference_table_at_small_learning_rate():
    # Measured once and pinned: GD and the closed form differ by at most 0.027;
    # t_half theory/GD = 1082/1085, 1718/1721, 3205/3208, 5948/5951.
    result = stage_like_learning(u0=1e-4, lr=1e-3, max_steps=7000)
    assert result["max_gap"] < 0.028
    assert [mode["gd_half"] for mode in result["modes"]] == [1085, 1721, 3208, 5951]
    assert [round(mode["t_half"]) for mode in result["modes"]] == [1082, 1718, 3205, 5948]


def test_run_length_is_bounded():
    assert run_length([3.0], 1e-3, 1e-2) < MAX_STEPS
    assert run_length([0.5], 1e-6, 1e-3) == MAX_STEPS
    assert run_length([10.0], 0.1, 0.05) >= 50


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        saxe_demo,
        s=log_slider(3.0, 0.5, 10.0),
        u0=log_slider(1e-3, 1e-4, 0.1),
        lr=log_slider(1e-2, 1e-3, 0.05),
        init=choice(["aligned", "random"]),
    )
    before = panel.result
    panel.kwargs_widgets[0].value = 6.0
    after = panel.result
    assert after["t_half"] == pytest.approx(half_way_time(6.0, 1e-3, 1e-2))
    assert after["t_half"] < before["t_half"]
    panel.kwargs_widgets[3].value = "random"
    assert panel.result["max_gap"] > after["max_gap"]


def test_stages_panel_recomputes_when_u0_moves():
    panel = slider_panel(
        stages_demo, u0=log_slider(1e-4, 1e-7, 1e-2), lr=log_slider(1e-2, 2e-3, 5e-2)
    )
    before = panel.result["modes"][0]["t_half"]
    panel.kwargs_widgets[0].value = 1e-2
    assert panel.result["modes"][0]["t_half"] < before


# ---------------------------------------------------------------------------------------------
# The semantic data set and the capstone's figure
# ---------------------------------------------------------------------------------------------


def _correct_step(W1, W2, M, lr):
    residual = W2 @ W1 - M
    return W1 - lr * W2.T @ residual, W2 - lr * residual @ W1.T


def _sequential_step(W1, W2, M, lr):
    W1 = W1 - lr * W2.T @ (W2 @ W1 - M)
    return W1, W2 - lr * (W2 @ W1 - M) @ W1.T


def _stub_step(W1, W2, M, lr):
    raise NotImplementedError


def test_gd_step_demo_says_a_correct_step_agrees(capsys):
    result = gd_step_demo(_correct_step)
    printed = capsys.readouterr().out
    assert result["agrees"] and result["student_gap"] < 1e-12
    assert result["student_half"] == result["course_half"] == 135
    assert "they agree" in printed
    assert result["course_gap_to_theory"] == pytest.approx(0.0671, abs=5e-4)


def test_gd_step_demo_with_the_stub_prints_one_line_and_draws_the_course(capsys):
    result = gd_step_demo(_stub_step)
    printed = capsys.readouterr().out.splitlines()
    assert not result["student_ran"]
    assert sum("two_layer_gd_step" in line for line in printed) == 1
    assert "not written yet" in printed[0] and "course's result only" in printed[0]


def test_gd_step_demo_tells_a_wrong_step_apart(capsys):
    result = gd_step_demo(_sequential_step)
    assert not result["agrees"] and result["student_gap"] > 0.05
    assert "they differ" in capsys.readouterr().out


def test_gd_step_demo_survives_a_step_that_returns_one_matrix(capsys):
    result = gd_step_demo(lambda W1, W2, M, lr: W1)
    assert not result["student_ran"]
    assert "expected (W1_next, W2_next)" in capsys.readouterr().out


def test_semantic_overview_prints_the_modes_with_their_meanings(capsys):
    result = semantic_overview()
    printed = capsys.readouterr().out
    assert result["meanings"][:4] == [
        "shared by all living things",
        "animals vs plants",
        "birds vs fish",
        "trees vs flowers",
    ]
    assert "canary: grows, is alive, moves" in printed
    assert "flies, has feathers, has wings | swims, has scales, has gills" in printed


@pytest.mark.parametrize("depth", [2, 3])
def test_semantic_demo_learns_the_modes_in_order_in_every_seed(capsys, depth):
    result = semantic_demo(init_scale=0.1, lr=0.05, depth=depth)
    printed = capsys.readouterr().out
    assert result["in_order"] == result["seeds"] == 5
    means = [mean for mean, _ in result["half_way"]]
    assert means[:4] == sorted(means[:4]) and means[3] < min(means[4:])
    assert (
        "shared by all living things < animals vs plants < birds vs fish < trees vs flowers "
        "< single items" in printed
    )


def test_semantic_demo_reports_a_capped_run_and_a_divergence(capsys):
    capped = semantic_demo(init_scale=0.03, lr=0.01, depth=4)
    assert capped["steps"] == SEMANTIC_MAX_STEPS
    assert "stopped at" in capsys.readouterr().out
    assert semantic_demo(init_scale=0.5, lr=3.0, depth=4) is None
    assert "lower lr" in capsys.readouterr().out


def test_semantic_panel_recomputes_when_the_depth_moves():
    panel = slider_panel(
        semantic_demo,
        init_scale=log_slider(0.1, 0.03, 0.5),
        lr=log_slider(0.05, 0.01, 0.15),
        depth=int_slider(2, 2, 4),
    )
    before = panel.result["half_way"][0][0]
    panel.kwargs_widgets[2].value = 3
    assert panel.result["half_way"][0][0] > before
