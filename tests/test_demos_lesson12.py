"""Lesson 12's demos, called as their slider panels call them (no kernel)."""

import matplotlib

matplotlib.use("Agg")


import json
import re
from pathlib import Path

import numpy as np
import pytest

from lowdim_course.demos import lesson12, lesson12_table
from lowdim_course.demos.lesson12 import (
    lesson_setting,
    regime_table,
    restricted_demo,
    update_geometry_demo,
    width_table,
    your_settling,
)
from lowdim_course.demos.lesson12_geometry import gaussian_of_shape, geometry_data
from lowdim_course.exercises.lesson12 import _LARGEST_MISTAKES
from lowdim_course.nonlinear import update_sweep
from lowdim_course.nonlinear.update_sweep import gaussian_reference
from lowdim_course.plots import capture_figures
from lowdim_course.widgets import choice, slider_panel

CONTROLS = ("optimizer", "lr_factor", "width", "init_scale")


def _lesson_source() -> str:
    (source,) = (Path(__file__).resolve().parents[1] / "lessons" / "src").glob("12_*.md")
    return source.read_text(encoding="utf-8")


def _lessons_toggles() -> dict:
    """The options of each toggle of the lesson's update-geometry panel, read from its source."""
    source = _lesson_source()
    panel = source[source.index("update_geometry_demo,\n    optimizer=choice(") :]
    return {
        name: json.loads(re.search(rf"{name}=choice\((\[[^\]]*\])", panel).group(1))
        for name in CONTROLS
    }


@pytest.fixture(scope="module")
def table():
    stored = lesson12_table.load()
    if not stored:
        pytest.fail("the table is missing or stale: python -m lowdim_course.demos.lesson12_table")
    return stored


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


def _panel():
    toggles = _lessons_toggles()
    defaults = {"optimizer": "adam", "lr_factor": 1.0, "width": 100, "init_scale": 1.0}
    return slider_panel(
        update_geometry_demo,
        **{name: choice(toggles[name], defaults[name]) for name in CONTROLS},
    )


def test_moving_a_toggle_shows_the_new_position(table, capsys):
    panel = _panel()
    adam = panel.result["layers"]["layer 2"]["rank_for_energy"][0]
    panel.kwargs_widgets[0].value = "sgd"
    panel.kwargs_widgets[3].value = 0.3
    assert panel.result["setting"] == lesson_setting("sgd", 1.0, 100, 0.3)
    assert panel.result["layers"]["layer 2"]["rank_for_energy"][0] < adam / 3


def test_the_table_covers_exactly_the_lessons_toggles(table):
    toggles = _lessons_toggles()
    assert tuple(toggles["optimizer"]) == lesson12_table.OPTIMIZERS
    assert tuple(toggles["lr_factor"]) == lesson12_table.LR_FACTORS
    assert tuple(toggles["width"]) == lesson12_table.WIDTHS
    assert tuple(toggles["init_scale"]) == lesson12_table.INIT_SCALES
    assert set(table) == set(lesson12_table.grid())
    assert len(table) == len(lesson12_table.grid()) == 72


def test_a_panel_move_reads_the_table_and_computes_nothing(table, monkeypatch, capsys):
    """Each move reads the shipped table and draws its figure: nothing is trained (how long a
    move takes is measured by benchmarks/notebook_benchmark.py, not asserted here)."""
    computed = []  # a widget callback's exception is shown, not raised: record calls instead
    monkeypatch.setattr(lesson12, "geometry_data", lambda setting: computed.append(setting))
    panel = _panel()
    moves = ((2, 200), (0, "sgd"), (1, 3.0), (3, 0.3), (2, 25), (1, 0.3), (0, "adam"))
    with capture_figures() as figures:
        for control, value in moves:
            panel.kwargs_widgets[control].value = value
    assert not computed, f"{computed} were computed, not read from the table"
    assert len(figures) == len(moves)
    assert panel.result["setting"] == lesson_setting("adam", 0.3, 25, 0.3)


def _must_not_compute(setting):
    raise AssertionError(f"{setting} was computed, not read from the table")


def test_every_position_trains_without_diverging(table):
    for (optimizer, lr_factor, width, init_scale), data in table.items():
        assert data["setting"] == lesson_setting(optimizer, lr_factor, width, init_scale)
        assert data["accuracy"][0] > 20, data["setting"]  # chance is 10%
        assert data["layers"]["layer 2"]["shape"] == [width, width]
        assert len(data["layers"]["layer 2"]["share"]) == width + 1


def test_the_table_and_a_live_run_print_the_same_at_the_lessons_call(table, monkeypatch, capsys):
    monkeypatch.setattr(lesson12, "geometry_data", _must_not_compute)
    from_table = update_geometry_demo()
    printed_from_table = capsys.readouterr().out
    computed = []
    monkeypatch.setattr(lesson12, "geometry_data", lambda s: computed.append(s) or geometry_data(s))
    live = update_geometry_demo(stored=False)
    assert computed == [lesson_setting()]
    assert capsys.readouterr().out == printed_from_table
    assert live == from_table


def test_a_table_made_with_other_settings_is_not_used(tmp_path, monkeypatch):
    stale = tmp_path / "stale.json"
    stored = json.loads(lesson12_table.TABLE_PATH.read_text(encoding="utf-8"))
    stored["settings"]["seeds"] = [0, 1]
    stale.write_text(json.dumps(stored), encoding="utf-8")
    monkeypatch.setattr(lesson12_table, "TABLE_PATH", stale)
    lesson12_table.forget()
    try:
        assert lesson12_table.load() == {}
        monkeypatch.setattr(lesson12, "geometry_data", lambda setting: {"live": setting})
        assert lesson12.geometry_for("sgd", 3.0, 25, 0.3) == {
            "live": lesson_setting("sgd", 3.0, 25, 0.3)
        }
    finally:
        monkeypatch.undo()
        lesson12_table.forget()
    assert lesson12_table.load()
    # a setting changed in this process (as tests/test_thread_policy.py does) makes it stale too
    monkeypatch.setitem(update_sweep.DEFAULT_SETTING, "steps", 20)
    assert lesson12_table.load() == {}


def _assert_entry_is_recomputed(stored, fresh):
    """Printed numbers (means, sds, the Gaussian's) within rel 1e-9 of the stored ones: the same
    code on another CPU may differ in the last bits, never in the printed digits unless a value
    sits on a rounding edge; plotted curves within the 6 significant digits they were stored to."""
    assert fresh["setting"] == stored["setting"] and fresh["steps"] == stored["steps"]
    assert fresh["accuracy"] == pytest.approx(stored["accuracy"], rel=1e-9, abs=1e-9)
    for name, layer in stored["layers"].items():
        new = fresh["layers"][name]
        assert new["shape"] == layer["shape"]
        for measure in lesson12.MEASURES:
            assert new[measure] == pytest.approx(layer[measure], rel=1e-9, abs=1e-9), measure
        for measure, value in layer["gaussian"].items():
            assert new["gaussian"][measure] == pytest.approx(value, rel=1e-12)
        for curve in ("spectrum", "share", "gaussian_share", "captured"):
            assert new[curve] == pytest.approx(layer[curve], rel=1e-5, abs=1e-9), curve


def test_a_small_stored_entry_is_what_the_run_gives_now(table):
    position = ("sgd", 3.0, 25, 0.3)
    _assert_entry_is_recomputed(table[position], geometry_data(lesson_setting(*position)))


@pytest.mark.slow
@pytest.mark.parametrize("position", [("adam", 0.3, 200, 3.0), ("sgd", 1.0, 50, 1.0)])
def test_stored_entries_are_what_the_runs_give_now(table, position):
    _assert_entry_is_recomputed(table[position], geometry_data(lesson_setting(*position)))


def test_the_stored_gaussian_reference_is_the_codes(table):
    layer = table[("adam", 1.0, 50, 1.0)]["layers"]["layer 2"]
    reference = gaussian_reference((50, 50))
    assert layer["gaussian"] == {name: list(value) for name, value in reference.items()}
    # a Gaussian matrix's curve: its first share is its top singular value's energy share
    sigma = np.linalg.svd(np.asarray(gaussian_of_shape(50, 50)), compute_uv=False)
    assert layer["gaussian_share"][1] == pytest.approx(sigma[0] ** 2 / (sigma**2).sum(), rel=1e-5)


def test_the_width_table_prints_the_stored_k90(table, capsys):
    rows = width_table()
    printed = capsys.readouterr().out
    for width in lesson12_table.WIDTHS:
        stored = table[("adam", 1.0, width, 1.0)]["layers"]["layer 2"]
        assert rows[width]["Adam, init 1"] == tuple(stored["rank_for_energy"])
        mean, sd = stored["rank_for_energy"]
        assert f"{mean:.1f} +- {sd:.1f} ({mean / width:.0%})" in printed
        assert rows[width]["Gaussian"] == gaussian_reference((width, width))["rank_for_energy"][0]
        # SGD from a small start concentrates the update far more than Adam, at every width
        assert rows[width]["SGD, init 0.3"][0] < rows[width]["Adam, init 1"][0] / 3


def test_lesson_setting_names_bad_input():
    assert lesson_setting("sgd", 0.3)["lr"] == 0.03  # not 0.030000000000000002
    with pytest.raises(ValueError, match="optimizer"):
        lesson_setting("rmsprop")
    with pytest.raises(ValueError, match="lr_factor"):
        lesson_setting("adam", 0.0)


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
