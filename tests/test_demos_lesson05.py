"""Lesson 05's demos, called as their slider panels call them (no kernel)."""

import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lowdim_course.demos.lesson05 import (
    sensing_learning_rate,
    sensing_over_seeds,
    sensing_race,
    subspace_angle,
    subspace_angles,
    timing_report,
)
from lowdim_course.demos.lesson05_completion import (
    completion_capstone,
    completion_over_seeds,
    completion_race,
)
from lowdim_course.problems import make_problem
from lowdim_course.spread import format_range
from lowdim_course.widgets import float_slider, int_slider, log_slider, slider_panel


def test_subspace_angle_is_zero_for_the_target_and_right_for_a_known_rotation():
    target = make_problem("mf", d=10, r=2, seed=0).target
    assert subspace_angle(target, target, 2) == pytest.approx(0.0, abs=1e-7)
    # rotate the top left singular vector by 30 degrees towards a direction outside the span
    u, s, vh = torch.linalg.svd(target)
    theta = math.radians(30)
    rotated = u.clone()
    rotated[:, 0] = math.cos(theta) * u[:, 0] + math.sin(theta) * u[:, 5]
    surrogate = (rotated[:, :2] * s[:2]) @ vh[:2]
    assert subspace_angle(surrogate, target, 2) == pytest.approx(theta, rel=1e-9)
    with pytest.raises(ValueError, match="r_hat"):
        subspace_angle(surrogate, target, 2, r_hat=1)


def test_sensing_learning_rate_matches_the_spec_at_the_reference_size():
    assert sensing_learning_rate(100, 2000) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="m must be"):
        sensing_learning_rate(100, 0)


def test_angles_shrink_as_data_grows_and_with_a_wider_subspace(capsys):
    few = subspace_angles(m=40, p=0.1, r_hat=2)
    many = subspace_angles(m=800, p=0.9, r_hat=2)
    wide = subspace_angles(m=40, p=0.1, r_hat=6)
    assert many["sensing_degrees"] < few["sensing_degrees"] / 2
    assert many["completion_degrees"] < few["completion_degrees"] / 2
    assert wide["sensing_degrees"] < few["sensing_degrees"]
    assert wide["completion_degrees"] < few["completion_degrees"]
    assert few["dof"] == 76
    assert "largest angle" in capsys.readouterr().out
    with pytest.raises(ValueError, match="p must be"):
        subspace_angles(p=1.5)


def test_sensing_race_recovers_with_enough_measurements_and_not_with_too_few(capsys):
    enough = sensing_race(m=320, r_hat=4)
    original, compressed = enough["original"], enough["compressed"]
    assert compressed["iterations_to_1e-4"] < original["iterations_to_1e-4"]
    assert compressed["params"] == 2 * 20 * 4 + 16 and original["params"] == 3 * 400
    assert 0 < enough["initial_angle_degrees"] < 45
    assert " us per step" not in capsys.readouterr().out
    too_few = sensing_race(m=120, r_hat=4)
    assert too_few["original"]["iterations_to_1e-4"] is None
    assert too_few["compressed"]["iterations_to_1e-4"] is None
    times = timing_report(enough)
    assert times["original"][1] > 0 and " us per step" in capsys.readouterr().out


def test_completion_race_alpha_speeds_up_the_compressed_network():
    summary = completion_race(p=0.3, alpha=5.0, r_hat=4)
    fast = summary["compressed"]["iterations_to_1e-4"]
    plain = summary["compressed_alpha_1"]["iterations_to_1e-4"]
    original = summary["original"]["iterations_to_1e-4"]
    assert fast * 2 < plain <= original
    assert summary["compressed"]["final_unobserved_error"] < 1e-4
    assert summary["settings"]["alpha"] == 5.0


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        subspace_angles,
        m=int_slider(160, 20, 800, step=20),
        p=float_slider(0.2, 0.05, 0.9, step=0.05),
        r_hat=int_slider(2, 2, 8),
    )
    before = panel.result["sensing_degrees"]
    panel.kwargs_widgets[0].value = 800
    assert panel.result["sensing_degrees"] < before
    race = slider_panel(
        completion_race,
        p=float_slider(0.3, 0.15, 0.9, step=0.05),
        alpha=log_slider(5.0, 0.5, 10.0),
        r_hat=int_slider(4, 2, 8),
    )
    assert race.result["settings"]["alpha"] == 5.0
    race.kwargs_widgets[1].value = 1.0
    assert race.result["settings"]["alpha"] == pytest.approx(1.0)
    assert (
        race.result["compressed"]["iterations_to_1e-4"]
        == (race.result["compressed_alpha_1"]["iterations_to_1e-4"])
    )
    sensing = slider_panel(sensing_race, m=int_slider(320, 80, 800, step=40))
    assert sensing.result["settings"]["m"] == 320
    sensing.kwargs_widgets[0].value = 640
    assert sensing.result["settings"]["m"] == 640


def test_sensing_over_seeds_the_compressed_network_reaches_1e_3_first(capsys):
    # Lesson 05's claim, over its five seeds: first to 1e-3 every time, by 1.05-1.21x, while the
    # original ends lower in most seeds (both at their eps floor)
    from lowdim_course.demos.lesson05 import sensing_over_seeds

    summary = sensing_over_seeds(m=320, r_hat=4)
    assert summary["wins"] == 5
    assert 1.0 < min(summary["ratios"]) and max(summary["ratios"]) < 1.3
    assert summary["original_lower_floor"] >= 3
    assert "compressed first to 1e-3 in 5 of 5 seeds" in capsys.readouterr().out


def test_sensing_floor_scales_like_eps_cubed_and_m_120_is_enough_information():
    # The floor near 1e-4 is the small initialization's (eps^L, L = 3): 27x lower at eps/3...
    from lowdim_course.demos.lesson05 import sensing_learning_rate
    from lowdim_course.networks import compressed_network, original_network
    from lowdim_course.training import train

    problem = make_problem("ms", d=20, r=2, m=320, seed=0)
    floors = {}
    for eps in (0.03, 0.01):
        networks = (
            original_network(20, 3, eps, seed=0),
            compressed_network(problem.surrogate(), 4, 3, eps),
        )
        floors[eps] = [
            train(problem, network, lr=sensing_learning_rate(20, 320), steps=3000,
                  stop_error=1e-12, tol=1e-20, log_every=3000).final_error
            for network in networks
        ]  # fmt: skip
    for side in (0, 1):
        assert 20 < floors[0.03][side] / floors[0.01][side] < 35
    # ...and m = 120 (> r(2d - r) = 76) suffices once eps is small and the steps many
    few = sensing_race(m=120, r_hat=4, eps=0.003, steps=20000)
    assert few["original"]["iterations_to_1e-4"] and few["compressed"]["iterations_to_1e-4"]
    stuck = sensing_race(m=120, r_hat=4, eps=0.03, steps=20000)
    assert stuck["original"]["final_error"] > 1e-4 and stuck["compressed"]["final_error"] > 1e-4


def test_sensing_discrepant_rate_helps_at_2_and_breaks_at_5():
    from lowdim_course.demos.lesson05 import sensing_learning_rate
    from lowdim_course.networks import compressed_network
    from lowdim_course.training import train

    speedups, misses = [], 0
    for seed in range(5):
        problem = make_problem("ms", d=20, r=2, m=320, seed=seed)
        reached = {}
        for alpha in (1.0, 2.0, 5.0):
            network = compressed_network(problem.surrogate(), 4, 3, 0.03)
            run = train(problem, network, alpha=alpha, lr=sensing_learning_rate(20, 320),
                        steps=800, stop_error=1e-5, log_every=800)  # fmt: skip
            reached[alpha] = run.iterations_to(1e-3)
        speedups.append(reached[1.0] / reached[2.0])
        misses += reached[5.0] is None
    assert all(1.5 < speedup < 1.7 for speedup in speedups)
    assert misses >= 4


def test_completion_over_seeds_separates_alpha_from_compression(capsys):
    """Lesson 05's five-seed completion table: alpha = 5 speeds both networks about threefold,
    at equal alpha the compressed one is only slightly faster, and seed 1 stalls (r_hat = 4)."""
    from lowdim_course.demos.lesson05 import _train_pair
    from lowdim_course.demos.lesson05_completion import (
        _completion_settings,
        completion_over_seeds,
    )
    from lowdim_course.problems import make_problem

    summary = completion_over_seeds(p=0.3, r_hat=4)
    assert summary["wins"] == 4 and summary["stalled_seeds"] == [1]
    assert all(3.0 < ratio < 3.6 for ratio in summary["ratios"])
    assert all(1.0 < ratio < 1.2 for ratio in summary["equal_alpha_ratios"])
    stalled = summary["rows"][1]
    assert stalled["final_compressed_5"] > 1e-4 and stalled["final_loss_compressed_5"] < 1e-7
    assert stalled["third_singular_value"] > 1e-3
    assert "seed 1: the compressed network" in capsys.readouterr().out
    # with no spare direction the same seed recovers
    settings = _completion_settings(0.3, 2, 30, 2, 0.01, 8000)
    problem = make_problem("mc", d=30, r=2, p=0.3, seed=1)
    narrow = _train_pair(problem, settings, 5.0, which=("compressed",))["compressed"]
    assert narrow.iterations_to(1e-4) is not None


# ---------------------------------------------------------------------------------------------
# Capstone 05: the student's completion run against the course's
# ---------------------------------------------------------------------------------------------


def _student_run(observed, mask, p, r_hat, depth, eps, lr, alpha, steps, masked=True):
    """Capstone 05 from the formulas (torch); ``masked=False``: the full, unmasked loss."""
    seen = mask.to(observed.dtype)
    u, _, vh = torch.linalg.svd(observed * seen / p)
    layers = [eps * vh[:r_hat]] + [eps * torch.eye(r_hat, dtype=observed.dtype)] * (depth - 2)
    layers.append(eps * u[:, :r_hat])
    rates = [alpha * lr] + [lr] * (depth - 2) + [alpha * lr]

    def chain(ws, n):
        out = torch.eye(n, dtype=observed.dtype)
        for w in ws:
            out = w @ out
        return out

    d = observed.shape[0]
    for _ in range(steps):
        residual = chain(layers, d) - observed
        if masked:
            residual = residual * seen
        layers = [
            w - rate * chain(layers[i + 1 :], w.shape[0]).T @ residual @ chain(layers[:i], d).T
            for i, (w, rate) in enumerate(zip(layers, rates, strict=True))
        ]
    return chain(layers, d)


def test_completion_capstone_agrees_with_a_correct_student(capsys):
    result = completion_capstone(_student_run)
    assert result["agree"] is True and result["message"] is None
    assert result["checkpoints"][0] == 75 and result["checkpoints"][-1] == 1050
    assert result["iterations_to_1e-4"] == {"original": 2817, "compressed": 905}
    out = capsys.readouterr().out
    assert "the course's compressed network at every checkpoint" in out
    assert "first below 1e-4 at 975 steps" in out


def test_completion_capstone_with_the_stub_prints_one_line(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    result = completion_capstone(stub)
    assert result["student"] is None and result["agree"] is None
    out = capsys.readouterr().out
    assert out.count("train_compressed_completion is not written yet") == 1
    assert "Traceback" not in out and "yours" not in out


def test_completion_capstone_shows_an_unmasked_loss(capsys):
    result = completion_capstone(lambda *args: _student_run(*args, masked=False))
    assert result["agree"] is False and 0.7 < result["student"][-1] < 0.9
    assert "differs from the course's" in capsys.readouterr().out


def test_over_seeds_tables_say_dash_when_no_seed_reaches_the_threshold(capsys):
    # runs far too short for any seed to reach the error threshold: a table, not a traceback
    sensing = sensing_over_seeds(seeds=(0, 1), steps=20)
    assert sensing["ratios"] == [] and "iterations -" in capsys.readouterr().out
    completion_over_seeds(seeds=(0,), steps=20)
    assert "ratio - where both do" in capsys.readouterr().out


def test_format_range():
    assert format_range([1.234, 0.5, 2]) == "0.50 to 2.00"
    assert format_range([], digits=3) == "-"
