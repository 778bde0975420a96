"""Lesson 00's demo, called as its slider panel calls it (no kernel)."""

import matplotlib

matplotlib.use("Agg")

from lowdim_course.demos.lesson00 import first_look
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
