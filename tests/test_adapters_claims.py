"""The claims' arithmetic on a hand-made table: the validation set chooses, the test set reports."""

import pytest

from lowdim_course.adapters.claims import (
    chosen_setting,
    paired_gain,
    rank_sensitivity,
    tuned_accuracy,
    tuned_stable_rank,
)
from lowdim_course.spread import mean_sd


def _entry(test, validation, ranks=((1.0, 1.0, 1.0),) * 2):
    """Two seeds, two checkpoints: ``test[seed][checkpoint]``, likewise ``validation``."""
    return {
        "runs": [
            {"test": list(t), "validation": list(v), "stable_ranks": [list(r) for r in ranks]}
            for t, v in zip(test, validation, strict=True)
        ]
    }


@pytest.fixture
def table():
    return {
        # LoRA at rank 8: lr 1e-4 has the best validation at checkpoint 1; its test is lower
        ("lora", 8, 5, 1e-4): _entry([[60, 70], [62, 72]], [[50, 80], [52, 82]]),
        ("lora", 8, 5, 1e-3): _entry([[90, 90], [90, 90]], [[60, 60], [60, 60]]),
        ("lora", 2, 5, 1e-4): _entry([[55, 65], [57, 67]], [[10, 10], [10, 10]]),
        ("lora", 2, 5, 1e-3): _entry([[1, 2], [3, 4]], [[90, 90], [90, 90]]),
        # Deep LoRA: equal validation means at both rates: the smaller rate wins the tie
        ("deep_compressed", 8, 5, 1e-4): _entry(
            [[71, 75], [73, 76]], [[70, 70], [70, 70]], ((1.0, 2.0, 3.0), (2.0, 2.0, 2.0))
        ),
        ("deep_compressed", 8, 5, 1e-3): _entry([[0, 0], [0, 0]], [[70, 70], [70, 70]]),
    }


def test_the_validation_accuracy_chooses_and_ties_go_to_the_smaller_rate_and_earlier_step(table):
    assert chosen_setting(table, "lora", 8, 5) == (1e-4, 1)
    assert chosen_setting(table, "deep_compressed", 8, 5) == (1e-4, 0)
    assert tuned_accuracy(table, "lora", 8, 5) == [70, 72]  # the test set never chose


def test_the_gain_is_paired_seed_by_seed(table):
    assert paired_gain(table, 8, 5) == [71 - 70, 73 - 72]


def test_the_stable_rank_is_averaged_over_the_layers(table):
    assert tuned_stable_rank(table, "deep_compressed", 8, 5) == [2.0, 2.0]


def test_rank_sensitivity_keeps_the_setting_chosen_at_the_largest_rank(table):
    # at rank 2 the validation would choose lr 1e-3 (test 1-4); the claim keeps rank 8's choice
    assert rank_sensitivity(table, "lora", 5, ranks=(2, 8)) == {2: [65, 67], 8: [70, 72]}


def test_missing_runs_and_bad_kinds_are_named(table):
    with pytest.raises(ValueError, match="no runs of 'lora' at rank 4, 5 per class"):
        chosen_setting(table, "lora", 4, 5)
    with pytest.raises(ValueError, match="kind must be one of"):
        rank_sensitivity(table, "full", 5)


def test_the_spread_is_the_courses_mean_and_sample_standard_deviation():
    assert mean_sd([1.0, 3.0]) == (2.0, pytest.approx(2**0.5))
    assert mean_sd([4.0]) == (4.0, 0.0)
