"""Lesson 10's demo, called as its slider panel calls it (no kernel)."""

import matplotlib

matplotlib.use("Agg")

from lowdim_course.demos.lesson10 import twa_over_seeds, weight_averaging_demo
from lowdim_course.widgets import choice, int_slider, log_slider, slider_panel


def test_twa_beats_swa_and_comes_close_to_longer_sgd(capsys):
    result = weight_averaging_demo()
    assert result["twa"] > result["swa"] + 0.05
    assert result["twa"] > result["sgd"][10]
    # this run of SGD (step 0.05) reaches TWA's accuracy only after more than 15 epochs
    assert result["sgd_epoch_matching_twa"] is not None
    assert result["sgd_epoch_matching_twa"] >= 15
    assert result["dimension"] == 10 and result["parameters"] == 837
    printed = capsys.readouterr().out
    assert "SWA" in printed and "TWA" in printed


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        weight_averaging_demo,
        checkpoints=int_slider(10, 2, 20),
        lr=log_slider(0.5, 0.05, 2.0),
        start=choice(["mean", "last"]),
    )
    assert panel.result["dimension"] == 10
    panel.kwargs_widgets[0].value = 5
    assert panel.result["dimension"] == 5
    panel.kwargs_widgets[2].value = "last"
    assert panel.result["twa_curve"][0] == panel.result["sgd"][5]


def test_over_seeds_the_span_matters_and_a_better_sgd_wins(capsys):
    # Lesson 10's claims, over five seeds: TWA beats SWA and a random span of the same dimension
    # through the same mean in every seed; SGD with step 0.1 beats it in the same 12 epochs
    summary = twa_over_seeds()
    assert summary["twa_beats_swa"] == 5 and summary["twa_beats_random_span"] == 5
    assert summary["tuned_sgd_beats_twa"] == 5
    assert summary["twa_within_001_of_sgd_end"] == 3
    for row in summary["rows"]:
        assert row["twa"] > row["random_span"] + 0.05
    assert "TWA beats SWA in 5 of 5 seeds" in capsys.readouterr().out


def test_the_tuned_baseline_is_the_sweeps_best_and_twa_on_it_wins_only_sometimes(capsys):
    from lowdim_course.demos.lesson10 import TUNED_SGD_LR, sgd_step_sweep, twa_over_seeds

    sweep = sgd_step_sweep()
    assert sweep["best"] == TUNED_SGD_LR
    summary = twa_over_seeds(checkpoints=10, lr=0.5)
    assert summary["tuned_sgd_beats_twa"] == 5
    assert 0 < summary["tuned_twa_beats_tuned_sgd"] < 5
    assert "TWA built on the step-0.1 run" in capsys.readouterr().out
