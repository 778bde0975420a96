"""Lesson 05's demos, called as their slider panels call them (no kernel)."""

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from lowdim_course.demos.lesson05 import (
    operator_memory,
    random_subspace_angles,
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
from lowdim_course.exercises.lesson05_capstone import _RUN_MISTAKES
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


@pytest.mark.slow
def test_completion_over_seeds_separates_alpha_from_compression_and_diagnoses_misses(capsys):
    """Lesson 05's ten-seed completion table: alpha = 5 speeds both networks about threefold,
    at equal alpha the compressed one is only slightly faster; seed 1 stalls (r_hat = 4, fixed
    at r_hat = r), seed 7 is slow for every network and has by far the smallest pin."""
    from lowdim_course.demos.lesson05_completion import COMPLETION_SEEDS, completion_over_seeds

    summary = completion_over_seeds(p=0.3, r_hat=4)
    printed = capsys.readouterr().out
    assert COMPLETION_SEEDS == tuple(range(10))
    assert summary["wins"] == 8 and summary["missed_seeds"] == [1, 7]
    assert summary["stalled_seeds"] == [1]
    assert all(3.0 < ratio < 3.6 for ratio in summary["ratios"])
    assert f"{min(summary['equal_alpha_ratios']):.2f} to " in printed
    assert format_range(summary["equal_alpha_ratios"]) == "1.02 to 1.13"  # the lesson's numbers
    rows = {row["seed"]: row for row in summary["rows"]}
    stalled, slow = rows[1], rows[7]
    assert stalled["fall_compressed_5"] < 1.05 and stalled["third_singular_value"] > 1e-3
    assert stalled["original, alpha=5"] is not None and stalled["rank_r_iterations"] is not None
    assert slow["fall_compressed_5"] > 1.8 and slow["third_singular_value"] < 1e-3
    assert all(slow[name] is None for name in ("original, alpha=1", "original, alpha=5"))
    assert slow["rank_r_iterations"] is None
    others = sorted(row["sampling"] for seed, row in rows.items() if seed != 7)
    assert slow["sampling"] < 0.5 * others[0]  # "less than half the next one"
    assert f"{slow['sampling']:.3f}" == "0.029"
    succeeded = [row["sampling"] for row in rows.values() if row["compressed, alpha=5"]]
    assert (f"{min(succeeded):.3f}", f"{max(succeeded):.3f}") == ("0.076", "0.134")  # self-check
    angles = [row["angle"] for seed, row in rows.items() if seed not in (1, 7)]
    assert all(min(angles) < row["angle"] < max(angles) for row in (stalled, slow))
    assert "misses 1e-4 in 2 of 10 seeds (95% interval for the rate 2.5% to 56%)" in printed
    assert "stalls in 1 of 10 seeds (95% interval for the rate 0.25% to 45%)" in printed


def test_rate_interval_is_clopper_pearson():
    """Its ends are where the binomial tails equal 2.5%; the textbook values for 1 of 10."""
    from lowdim_course.demos.lesson05_completion import rate_interval

    def tail_at_most(k, n, q):
        return sum(math.comb(n, j) * q**j * (1 - q) ** (n - j) for j in range(k + 1))

    for count, total in ((1, 10), (2, 10), (5, 20)):
        low, high = rate_interval(count, total)
        assert 1 - tail_at_most(count - 1, total, low) == pytest.approx(0.025, abs=1e-9)
        assert tail_at_most(count, total, high) == pytest.approx(0.025, abs=1e-9)
    assert rate_interval(1, 10) == pytest.approx((0.00253, 0.44502), abs=1e-5)
    assert rate_interval(0, 10)[0] == 0.0 and rate_interval(10, 10)[1] == 1.0
    with pytest.raises(ValueError, match="count"):
        rate_interval(11, 10)


def test_sampling_on_tangent_matches_a_basis_built_entry_by_entry():
    from lowdim_course.demos.lesson05_completion import sampling_on_tangent

    for seed in (0, 7):
        problem = make_problem("mc", d=12, r=2, p=0.4, seed=seed)
        u, _, vt = np.linalg.svd(problem.target.numpy())
        spanning = []
        for k in range(2):
            for i in range(12):
                e = np.zeros(12)
                e[i] = 1.0
                spanning += [np.outer(u[:, k], e).ravel(), np.outer(e, vt[k]).ravel()]
        q = np.linalg.svd(np.array(spanning).T, full_matrices=False)[0][:, : 2 * (24 - 2)]
        seen = problem.mask.numpy().ravel()
        expected = np.linalg.svd(q[seen], compute_uv=False)[-1]
        assert sampling_on_tangent(problem, 2) == pytest.approx(expected, rel=1e-9)
    full = make_problem("mc", d=12, r=2, p=1.0, seed=0)
    assert sampling_on_tangent(full, 2) == pytest.approx(1.0, rel=1e-12)  # all seen: isometry


def test_random_subspace_angles_agree_with_an_independent_draw(capsys):
    """The Think! answer's numbers: 90% ranges 51-79 and 72-89 degrees, medians 66 and 84."""
    summary = random_subspace_angles(d=20, k=2, draws=1000)
    printed = capsys.readouterr().out
    assert "angle 1: median 66, 90% of draws between 51 and 79" in printed
    assert "angle 2: median 84, 90% of draws between 72 and 89" in printed
    rng = np.random.default_rng(5)
    degrees = []
    for _ in range(20000):
        q = np.linalg.qr(rng.standard_normal((20, 2)))[0]
        cosines = np.linalg.svd(q[:2], compute_uv=False)
        degrees.append(np.degrees(np.arccos(np.clip(cosines, 0, 1))))
    independent = np.percentile(np.array(degrees), [5, 50, 95], axis=0).T
    assert np.allclose(np.array(summary["quantiles"]), independent, atol=2.0)


def test_operator_memory_in_both_dtypes(capsys):
    sizes = operator_memory(d=200, m=4000)
    assert sizes == {"float64": 4000 * 200**2 * 8, "float32": 4000 * 200**2 * 4}
    printed = capsys.readouterr().out
    assert "1.28 GB in float64" in printed and "0.64 GB in float32" in printed


# ---------------------------------------------------------------------------------------------
# Capstone 05: the student's completion run against the course's
# ---------------------------------------------------------------------------------------------


def _student_run(observed, mask, p, r_hat, depth, eps, eta, alpha, steps, masked=True):
    """Capstone 05 from the formulas (torch); ``masked=False``: the full, unmasked loss."""
    seen = mask.to(observed.dtype)
    u, _, vh = torch.linalg.svd(observed * seen / p)
    layers = [eps * vh[:r_hat]] + [eps * torch.eye(r_hat, dtype=observed.dtype)] * (depth - 2)
    layers.append(eps * u[:, :r_hat])
    rates = [alpha * eta] + [eta] * (depth - 2) + [alpha * eta]

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


@pytest.mark.slow
@pytest.mark.parametrize("mistake", _RUN_MISTAKES, ids=lambda m: m.what[:40])
def test_capstone_figure_differs_for_every_named_mistake(mistake, capsys):
    """The printed error after the last checkpoint moves by more than a factor of 10."""
    right = completion_capstone(_student_run, every=300)
    wrong = completion_capstone(mistake.compute, every=300)
    printed = capsys.readouterr().out
    assert right["agree"] is True and wrong["agree"] is False
    last_right, last_wrong = right["student"][-1], wrong["student"][-1]
    assert abs(math.log10(last_wrong / last_right)) > 1, mistake.what
    assert f"error {last_wrong:.3g} after 900" in printed


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
