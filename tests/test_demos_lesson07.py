"""Lesson 07's demos, called as their slider panels call them (no kernel)."""

import matplotlib

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


def test_d_int90_grows_far_more_slowly_than_the_parameter_count(capsys):
    # Lesson 07's claim, over its five seeds: d_int90 is found for every width and seed, it grows
    # with width in every seed, and by less than a third of D's tenfold growth.
    summary = dint_sweep()
    rows = summary["rows"]
    assert 9 < summary["D_growth"] < 11
    assert all(d is not None for row in rows.values() for d in row["d_int90"])
    assert all(1 <= ratio < summary["D_growth"] / 3 for ratio in summary["d_int_growth"])
    assert summary["slower_seeds"] == 5 and len(rows[64]["tried"]) == 5
    assert "less than a third of D's growth in 5 of 5 seeds" in capsys.readouterr().out


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
