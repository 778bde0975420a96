"""Lesson 07's demos, called as their slider panels call them (no kernel)."""

import matplotlib
import pytest

matplotlib.use("Agg")

from lowdim_course.demos.lesson07 import dint_sweep, gradient_check, subspace_panel, toy_losses
from lowdim_course.widgets import choice, int_slider, slider_panel


def test_toy_losses_jump_to_zero_at_ten(capsys):
    summary = toy_losses()
    assert all(v < 1e-9 for v in summary["losses"][9:]) and summary["min_below_10"] > 30
    printed = capsys.readouterr().out
    assert "zero loss from d = 10 on: True" in printed
    lowest = min(range(9), key=summary["losses"].__getitem__) + 1
    assert f"(at d = {lowest})" in printed  # the d of the smallest loss, not a fixed 9
    other = toy_losses(seed=3)
    assert all(v < 1e-9 for v in other["losses"][9:]) and other["min_below_10"] > 0


@pytest.mark.slow  # seconds: a run at the reference settings or a sweep
def test_d_int90_grows_far_more_slowly_than_the_parameter_count(capsys):
    # Lesson 07's claim, over its five seeds: d_int90 is found for every width and seed, it grows
    # with width in every seed, and by less than a third of D's tenfold growth.
    summary = dint_sweep()
    rows = summary["rows"]
    assert 9 < summary["D_growth"] < 11
    assert all(d is not None for row in rows.values() for d in row["d_int90"])
    assert all(1 <= ratio < summary["D_growth"] / 3 for ratio in summary["d_int_growth"])
    assert summary["slower_seeds"] == 5 and len(rows[64]["tried"]) == 5
    printed = capsys.readouterr().out
    assert "less than a third of D's growth in 5 of 5 seeds" in printed
    # the Think!'s observation: the accuracy is not monotone in d (each d its own subspace); the
    # falls, recomputed from the runs' accuracies: 3 of 15 runs, the largest at width 64, seed 4
    falls = [
        (tried[b] - tried[a], width, seed)
        for width, row in rows.items()
        for seed, tried in enumerate(row["tried"])
        for a, b in zip(sorted(tried), sorted(tried)[1:], strict=False)
        if tried[b] < tried[a]
    ]
    assert len(falls) == len(summary["drops"]) == 3
    assert min(falls)[1:] == (64, 4)
    assert "fell from one d to the next in 3 of 15 (width, seed) runs" in printed
    assert "width 64, seed 4, d = 50 -> 75" in printed


def test_gradient_check_agrees():
    assert gradient_check()["relative_gap"] < 1e-10


def test_subspace_panel_default_and_more_dimensions_help(capsys):
    summary = subspace_panel()
    assert summary["D"] == 1540 and 0.8 < summary["baseline"] < 0.9
    assert "reaches the 90% line" in capsys.readouterr().out
    assert subspace_panel(d=25)["ratio"] < summary["ratio"]
    assert subspace_panel(d=100, projection="sparse")["ratio"] > 0.85


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        subspace_panel,
        d=int_slider(100, 10, 400, step=10),
        width=choice([16, 32, 64], value=32),
        projection=choice(["dense", "sparse"]),
    )
    first = panel.result
    panel.kwargs_widgets[0].value = 50
    assert panel.result["accuracy"] != first["accuracy"] and panel.result["D"] == 1540
    panel.kwargs_widgets[1].value = 16
    assert panel.result["D"] == 516


# ---------------------------------------------------------------------------------------------
# Capstone 07: the student's subspace loop in the figure
# ---------------------------------------------------------------------------------------------


def _students_loop(theta0, P, loss_and_grad, lr, steps):
    import torch

    z = torch.zeros(P.shape[1], dtype=theta0.dtype)
    for _ in range(steps):
        z = z - lr * (P.T @ loss_and_grad(theta0 + P @ z)[1])
    return theta0 + P @ z


def test_your_subspace_training_agrees_with_a_correct_loop(capsys):
    from lowdim_course.demos.lesson07 import CAPSTONE_DIMS, your_subspace_training

    result = your_subspace_training(_students_loop)
    printed = capsys.readouterr().out
    assert result["agree"] is True and "(to 1e-6): True" in printed
    assert result["gap"] < 1e-10 and "(relative): below 1e-10" in printed
    assert result["student_d_int90"] == result["course_d_int90"] == 75
    assert max(abs(result["student"][d] - result["course"][d]) for d in CAPSTONE_DIMS) < 1e-9
    # the lesson's text: accuracy rises with d from well below to above the 90% line
    assert result["course"][10] < 0.9 * result["baseline"] <= result["course"][75]


def test_your_subspace_training_with_the_stub_prints_one_line(capsys):
    from lowdim_course.demos.lesson07 import your_subspace_training

    def stub(*args):
        raise NotImplementedError("your code here")

    result = your_subspace_training(stub)
    printed = capsys.readouterr().out.splitlines()
    assert result["student"] is None and result["course_d_int90"] == 75
    assert sum("train_in_subspace" in line for line in printed) == 1
    assert "not written yet" in printed[0] and not any(line.startswith("yours") for line in printed)


def test_direct_training_draws_a_flat_line_at_the_baseline(capsys):
    from lowdim_course.demos.lesson07 import your_subspace_training

    def direct(theta0, P, loss_and_grad, lr, steps):
        theta = theta0.clone()
        for _ in range(steps):
            theta = theta - lr * loss_and_grad(theta)[1]
        return theta

    result = your_subspace_training(direct)
    assert result["agree"] is False and result["student_d_int90"] == 10
    assert len({round(a, 9) for a in result["student"].values()}) == 1
    assert abs(result["student"][10] - result["baseline"]) < 1e-9


def test_a_student_returning_z_prints_one_line(capsys):
    from lowdim_course.demos.lesson07 import your_subspace_training

    result = your_subspace_training(lambda theta0, P, oracle, lr, steps: P.T @ theta0)
    printed = capsys.readouterr().out
    assert result["student"] is None and "expected theta (D = 516)" in printed


def test_the_panel_reuses_what_the_sweep_trained():
    """A slider move to a setting the d_int90 sweep has trained redraws without training."""
    from lowdim_course.demos import lesson07

    lesson07.dint_sweep(widths=(16,), dims=(300,), seeds=(0,))
    trained = lesson07._subspace.cache_info().misses, lesson07._baseline.cache_info().misses
    lesson07.subspace_panel(d=300, width=16, projection="dense")
    again = lesson07._subspace.cache_info().misses, lesson07._baseline.cache_info().misses
    assert again == trained


def _subspace_mistakes():
    from lowdim_course.exercises.lesson07 import _SUBSPACE_MISTAKES

    return _SUBSPACE_MISTAKES


@pytest.mark.slow  # seconds: the capstone's 6 subspace runs per mistake
@pytest.mark.parametrize("mistake", _subspace_mistakes(), ids=lambda m: m.what[:40])
def test_every_named_mistake_shows_in_the_capstones_printed_summary(mistake, capsys):
    # each named mistake changes what the capstone prints: a test accuracy (3 decimals) at least
    # 0.005 (10 of the 2,000 test points) away from the course's at one d, and a distance from
    # the course's theta far above 1e-6; or, for a loop whose shapes do not fit, the one line
    # saying it raised and no curve of the student's
    from lowdim_course.demos.lesson07 import your_subspace_training

    result = your_subspace_training(mistake.compute)
    printed = capsys.readouterr().out
    if result["student"] is None:
        assert "your train_in_subspace raised" in printed and "yours:" not in printed
        return
    course, mine = result["course"], result["student"]
    assert max(abs(round(mine[d], 3) - round(course[d], 3)) for d in course) >= 0.005
    assert result["gap"] > 1e-3 and "they agree at every d (to 1e-6): False" in printed
