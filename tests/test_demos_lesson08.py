"""Lesson 08's demos, called as their slider panels call them (no kernel)."""

import matplotlib

matplotlib.use("Agg")

from lowdim_course.demos.lesson08 import pruning_panel, retraining_table
from lowdim_course.widgets import choice, float_slider, int_slider, slider_panel


def test_default_panel_beats_the_oracle(capsys):
    summary = pruning_panel()
    assert summary["beats_oracle"] and summary["risk"] < summary["oracle"] / 2
    assert summary["peak_p"] in (95, 105)
    assert "p = 150: pruned risk" in capsys.readouterr().out


def test_below_s_nothing_is_pruned():
    summary = pruning_panel(p=60)
    assert summary["risk"] == summary["large_risk"]


def test_retraining_table_helps_only_with_correlation():
    table = retraining_table()
    assert table[0.0]["retrained"] > table[0.0]["pruned"]
    assert table[0.7]["retrained"] < table[0.7]["pruned"]


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        pruning_panel,
        p=int_slider(150, 20, 300, step=5),
        keep=int_slider(90, 30, 95, step=5),
        noise=float_slider(1.0, 0.0, 2.0, step=0.1),
        correlation=float_slider(0.0, 0.0, 0.9, step=0.1),
        retrain=choice([False, True]),
    )
    first = panel.result
    panel.kwargs_widgets[0].value = 300
    assert panel.result["p"] == 300 and panel.result["risk"] != first["risk"]
    panel.kwargs_widgets[4].value = True
    assert panel.result["risk"] > first["risk"]
