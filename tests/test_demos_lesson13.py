"""Lesson 13's demos and its shipped table of fine-tuning runs."""

import math

import pytest

from lowdim_course.adapters.claims import chosen_setting
from lowdim_course.demos import lesson13, lesson13_table


def test_the_starting_point_is_the_pretrained_networks_accuracy(capsys):
    numbers = lesson13.starting_point()
    model, source, task = lesson13._model_and_data()
    assert numbers["own"] == model.accuracy(source.x_test, source.y_test)
    assert numbers["related"] == model.accuracy(task.x_test, task.y_test)
    assert numbers["related"] < numbers["own"]
    assert f"{numbers['related']:.1f}%" in capsys.readouterr().out


def test_the_compressed_adapter_follows_the_full_width_one_in_the_demo(capsys):
    result = lesson13.compressed_follows_full_width(size=12, eps=0.3, steps=100)
    assert result["inside"] < 1e-12
    assert 0 < result["outside"] <= 0.3**3 * 12**0.5 * (1 + 1e-9)
    assert result["errors"]["compressed"][-1] < 0.1 * result["errors"]["compressed"][0]
    assert "below 1e-9" in capsys.readouterr().out


@pytest.fixture(scope="module")
def entries():
    table = lesson13_table.load()
    if not table:
        pytest.fail("the table is missing or stale: python -m lowdim_course.demos.lesson13_table")
    return table


def test_the_table_holds_every_slider_position_and_five_seeds(entries):
    assert set(entries) == set(lesson13_table.grid())
    for entry in entries.values():
        assert [run["seed"] for run in entry["runs"]] == list(lesson13_table.SEEDS)
        for run in entry["runs"]:
            assert len(run["test"]) == len(run["validation"]) == len(lesson13_table.CHECKPOINTS)
            assert all(0 <= a <= 100 for a in run["test"] + run["validation"])
            assert all(len(ranks) == 3 for ranks in run["stable_ranks"])


def test_a_table_made_with_other_settings_is_not_read(tmp_path, monkeypatch):
    stale = tmp_path / "stale.json"
    stale.write_text('{"settings": {"seeds": [0]}, "entries": []}\n', encoding="utf-8")
    monkeypatch.setattr(lesson13_table, "TABLE_PATH", stale)
    lesson13_table.load.cache_clear()
    try:
        assert lesson13_table.load() == {}
        with pytest.raises(FileNotFoundError, match="lesson13_table"):
            lesson13.few_shot_panel()
    finally:
        monkeypatch.undo()
        lesson13_table.load.cache_clear()


@pytest.mark.slow
@pytest.mark.parametrize(
    "setting", [("lora", 4, 5, 1e-4), ("deep_compressed", 8, 2, 3e-4), ("full", 0, 10, 1e-4)]
)
def test_stored_entries_are_what_the_runs_give_now(entries, setting):
    stored = entries[setting]
    fresh = lesson13_table.compute_entry(setting)
    for old, new in zip(stored["runs"], fresh["runs"], strict=True):
        # accuracies are counts over 1,000 signals: a rounding difference could move one signal
        assert all(abs(a - b) <= 0.1 + 1e-9 for a, b in zip(old["test"], new["test"], strict=True))
        for a, b in zip(old["stable_ranks"], new["stable_ranks"], strict=True):
            assert a == pytest.approx(b, rel=1e-6)


def test_the_panel_prints_the_tables_means(entries, capsys):
    shown = lesson13.few_shot_panel(rank=4, per_class=5, lr=1e-4)
    runs = entries[("lora", 4, 5, 1e-4)]["runs"]
    mean = sum(run["test"][1] for run in runs) / len(runs)
    assert shown["lora"][1][0] == pytest.approx(mean)
    assert f"{mean:5.1f}" in capsys.readouterr().out


def test_the_claims_use_the_validation_choice(entries, capsys):
    result = lesson13.three_claims(rank=8)
    lr, index = chosen_setting(entries, "lora", 8, 5)
    runs = entries[("lora", 8, 5, lr)]["runs"]
    expected = sum(run["test"][index] for run in runs) / len(runs)
    assert result["accuracy"][5]["lora"][0] == pytest.approx(expected)
    for per_class in lesson13_table.PER_CLASS:
        mean, sd = result["gain"][per_class]
        assert math.isfinite(mean) and sd >= 0
        assert 1.0 <= result["stable_rank"][per_class]["deep_compressed"][0] <= 8.0
    out = capsys.readouterr().out
    assert "Deep LoRA - LoRA" in out and "moves" in out


def test_the_panels_figure_shows_three_methods(entries, monkeypatch):
    shown = []
    monkeypatch.setattr(lesson13, "show_figure", lambda figure: shown.append(figure))
    lesson13.few_shot_panel(rank=2, per_class=2, lr=3e-4)
    (figure,) = shown
    assert len(figure.axes[0].containers) == 3  # one error-bar curve per method


def test_the_capstone_runs_the_students_start_beside_the_courses(capsys):
    from lowdim_course.demos.lesson13_capstone import your_deep_lora
    from lowdim_course.exercises.lesson13 import reference_compressed_start

    result = your_deep_lora(reference_compressed_start, rank=8)
    # the student's runs are the table's (made on another day, maybe another CPU: a signal of
    # the 1,000 may flip under other rounding)
    for mine, stored in zip(result["student"], result["course"]["deep_compressed"], strict=True):
        assert abs(mine - stored) <= 0.1 + 1e-9
    out = capsys.readouterr().out
    assert "Deep LoRA, your start" in out

    def stub(*args):
        raise NotImplementedError

    assert your_deep_lora(stub, rank=8)["student"] is None
    assert "not written yet" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"rank must be one of \(2, 4, 8\)"):
        your_deep_lora(reference_compressed_start, rank=6)
