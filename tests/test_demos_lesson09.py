"""Lesson 09's demos, called as their slider panels call them (no kernel)."""

import itertools

import matplotlib

matplotlib.use("Agg")

from lowdim_course.demos.lesson09 import (
    SWEEP_RATES,
    stable_pruning,
    tail_index,
    trained_network,
)
from lowdim_course.widgets import choice, float_slider, int_slider, slider_panel


def test_tail_index_falls_with_the_step_and_rises_with_the_batch(capsys):
    default = tail_index()
    assert default["lr"] == 0.15 and default["batch_size"] == 1
    sweep = default["sweep"]
    indices = [sweep[lr] for lr in SWEEP_RATES]
    assert all(a > b for a, b in itertools.pairwise(indices))
    assert sweep[0.17] < 2.0 and 4.5 < sweep[0.10] < 8.0
    assert tail_index(lr=0.15, batch_size=4)["tail_index"] > default["tail_index"] + 2
    assert "batch 1 sweep: lr 0.10:" in capsys.readouterr().out


def test_stable_weights_are_more_prunable_when_heavier(capsys):
    gaussian = stable_pruning(alpha=2.0)
    heavy = stable_pruning(alpha=1.2)
    assert abs(gaussian["prunable"] - 0.266) < 0.005  # Gaussian weights: about 27%
    assert heavy["prunable"] > 0.99
    for name, error in heavy["half_pruning_errors"].items():
        assert error < gaussian["half_pruning_errors"][name] / 3
    assert "median of 5 seeds" in capsys.readouterr().out


def test_trained_network_reports_both_settings(capsys):
    results = trained_network()
    assert set(results) == {"small lr/b", "large lr/b"}
    for values in results.values():
        assert 0 < values["prunable"] < 1 and values["tail_index"] > 0
    assert results["large lr/b"]["tail_index"] < results["small lr/b"]["tail_index"]
    assert "Hill index" in capsys.readouterr().out


def test_moving_a_slider_recomputes(capsys):
    panel = slider_panel(
        tail_index,
        lr=float_slider(0.15, 0.05, 0.18, step=0.01),
        batch_size=int_slider(1, 1, 8),
    )
    before = panel.result["tail_index"]
    panel.kwargs_widgets[0].value = 0.17
    assert panel.result["lr"] == 0.17 and panel.result["tail_index"] < before
    pruning = slider_panel(stable_pruning, alpha=choice([1.5, 1.2, 2.0]))
    pruning.kwargs_widgets[0].value = 2.0
    assert pruning.result["alpha"] == 2.0
