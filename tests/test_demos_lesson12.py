"""Lesson 12's demos, called as their slider panels call them (no kernel)."""

import matplotlib

matplotlib.use("Agg")


import numpy as np
import pytest

from lowdim_course.demos.lesson12 import (
    BASE_LR,
    INIT_SCALE_RANGE,
    LR_FACTOR_RANGE,
    WIDTH_RANGE,
    lesson_setting,
    regime_table,
    restricted_demo,
    update_geometry_demo,
    your_settling,
)
from lowdim_course.exercises.lesson12 import _LARGEST_MISTAKES
from lowdim_course.widgets import choice, int_slider, log_slider, slider_panel


def _largest_angle(delta_a, delta_b, k):
    ua = np.linalg.svd(delta_a.numpy())[0][:, :k]
    ub = np.linalg.svd(delta_b.numpy())[0][:, :k]
    return float(np.arccos(np.clip(np.linalg.svd(ua.T @ ub, compute_uv=False).min(), -1, 1)))


def test_update_geometry_demo_prints_what_it_returns(capsys):
    result = update_geometry_demo()
    printed = capsys.readouterr().out
    hidden = result["layers"]["layer 2"]
    assert f"{hidden['stable_rank'][0]:.1f} +- {hidden['stable_rank'][1]:.1f}" in printed
    assert f"{result['accuracy'][0]:.1f} +- {result['accuracy'][1]:.1f}%" in printed
    # Adam's update of the 100 x 100 layer: more concentrated than a Gaussian's, far from low rank
    assert 0.17 < hidden["top_k_share"][0] < 0.5 and hidden["rank_for_energy"][0] > 25


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        update_geometry_demo,
        optimizer=choice(list(BASE_LR), "adam"),
        lr_factor=log_slider(1.0, *LR_FACTOR_RANGE),
        width=int_slider(100, *WIDTH_RANGE, step=25),
        init_scale=log_slider(1.0, *INIT_SCALE_RANGE),
    )
    adam = panel.result["layers"]["layer 2"]["rank_for_energy"][0]
    panel.kwargs_widgets[0].value = "sgd"
    panel.kwargs_widgets[3].value = 0.3
    assert panel.result["setting"] == lesson_setting("sgd", 1.0, 100, 0.3)
    assert panel.result["layers"]["layer 2"]["rank_for_energy"][0] < adam / 3


def test_lesson_setting_names_bad_input():
    assert lesson_setting("sgd", 0.3)["lr"] == 0.03  # not 0.030000000000000002
    with pytest.raises(ValueError, match="optimizer"):
        lesson_setting("rmsprop")
    with pytest.raises(ValueError, match="lr_factor"):
        lesson_setting("adam", 0.0)


@pytest.mark.parametrize("optimizer", list(BASE_LR))
@pytest.mark.parametrize("lr_factor", LR_FACTOR_RANGE)
def test_every_lr_corner_trains_without_diverging(optimizer, lr_factor, capsys):
    result = update_geometry_demo(optimizer=optimizer, lr_factor=lr_factor)
    assert result["accuracy"][0] > 20  # chance is 10%


@pytest.mark.parametrize("width", WIDTH_RANGE)
@pytest.mark.parametrize("init_scale", INIT_SCALE_RANGE)
def test_every_width_and_scale_corner_runs(width, init_scale, capsys):
    result = update_geometry_demo(width=width, init_scale=init_scale)
    assert result["accuracy"][0] > 20
    assert result["layers"]["layer 2"]["shape"] == (width, width)


def test_the_regime_statement_holds_over_seeds(capsys):
    """SGD from a small initial scale concentrates the hidden layer's update in a few
    directions; Adam and large-step SGD do not: the lesson's regime sentence, seed by seed."""
    rows = {row["label"]: row for row in regime_table()}
    small = rows["SGD lr 0.1, init 0.3"]["layer 2"]
    for label in ("Adam lr 1e-2, init 1 (default)", "SGD lr 1, init 1"):
        other = rows[label]["layer 2"]
        assert small["top_k_share"][0] - small["top_k_share"][1] > (
            other["top_k_share"][0] + 3 * other["top_k_share"][1]
        )
        assert small["rank_for_energy"][0] * 5 < other["rank_for_energy"][0]
    assert "Gaussian 100 x 100" in capsys.readouterr().out


def test_restricted_training_stays_in_its_span_and_is_compared_per_seed(capsys):
    results = restricted_demo()
    for result in results.values():
        assert result["outside"] < 1e-12
        assert len(result["per_seed"]["learned"]) == 5
        # restricted training after t0 improves on the weights at t0 and stays below full
        assert result["accuracy"]["learned"][0] > result["accuracy"]["at t0"][0]
        assert result["accuracy"]["learned"][0] < result["accuracy"]["full"][0]
    printed = capsys.readouterr().out
    assert printed.count("learned - random (paired by seed)") == 2
    assert printed.count("inside its span (outside part < 1e-09 of it): yes") == 2


def test_your_settling_agrees_with_a_correct_function(capsys):
    result = your_settling(_largest_angle)
    agree, total = result["agree"]
    assert agree == total == 3 * 5 * 12
    assert result["student"] == result["course_settle"]
    # the head's top-2 subspace is separated by a gap and settles early; layer 1's is not
    assert result["gaps"]["head"][0] < 0.5 < result["gaps"]["layer 1"][0]
    assert np.mean(result["course_settle"]["head"]) < np.mean(result["course_settle"]["layer 1"])
    assert "your angle equals the course's" in capsys.readouterr().out


def test_your_settling_with_the_stub_prints_one_line(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    result = your_settling(stub)
    printed = capsys.readouterr().out
    assert result["student"] is None and printed.count("not written yet") == 1
    assert "Traceback" not in printed


@pytest.mark.parametrize("mistake", _LARGEST_MISTAKES, ids=lambda m: m.what[:30])
def test_each_named_mistake_shows_in_the_capstone(mistake, capsys):
    result = your_settling(mistake.compute)
    if result["agree"] is not None:
        agree, total = result["agree"]
        assert agree < total


def test_your_settling_names_bad_choices():
    with pytest.raises(ValueError, match="threshold"):
        your_settling(_largest_angle, threshold=2.0)
    with pytest.raises(ValueError, match="k"):
        your_settling(_largest_angle, k=0)


def test_the_lessons_sliders_are_the_tested_ranges():
    from pathlib import Path

    (source,) = (Path(__file__).resolve().parents[1] / "lessons" / "src").glob("12_*.md")
    text = source.read_text(encoding="utf-8")
    assert f"log_slider(1.0, {LR_FACTOR_RANGE[0]:g}, {LR_FACTOR_RANGE[1]:g}," in text
    assert f"int_slider(100, {WIDTH_RANGE[0]}, {WIDTH_RANGE[1]}, step=25," in text
    assert f"log_slider(1.0, {INIT_SCALE_RANGE[0]:g}, {INIT_SCALE_RANGE[1]:g}," in text
