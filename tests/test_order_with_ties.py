"""rounding.order_with_ties: a sort that rounding cannot reorder (tied values keep their order)."""

import pytest
import torch

from lowdim_course.rounding import order_with_ties


def test_values_equal_up_to_rounding_keep_their_listing_order():
    values = [0.5, 2.0, 0.5 * (1 + 1e-13), 1.0, 2.0 * (1 - 1e-14), 0.5 * (1 - 1e-13)]
    assert order_with_ties(values) == [0, 2, 5, 3, 1, 4]
    assert order_with_ties(values, descending=True) == [1, 4, 3, 0, 2, 5]
    # a plain sort orders the ties by their last bits
    assert torch.argsort(torch.tensor(values, dtype=torch.float64)).tolist()[:3] == [5, 0, 2]


def test_distinct_values_sort_as_usual():
    values = torch.randn(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert order_with_ties(values) == torch.argsort(values).tolist()
    assert order_with_ties(values, descending=True) == torch.argsort(-values).tolist()
    assert order_with_ties([]) == []


def test_the_tolerance_is_relative_to_the_largest_value():
    values = [1e6, 3.0, 3.0 + 1e-4]
    assert order_with_ties(values) == [1, 2, 0]  # 1e-4 < 1e-9 x 1e6: a tie
    assert order_with_ties(values, tolerance=0.0) == [1, 2, 0]
    assert order_with_ties([3.0 + 1e-4, 3.0, 1e6], tolerance=0.0) == [1, 0, 2]
    assert order_with_ties([3.0 + 1e-4, 3.0, 1e6]) == [0, 1, 2]


@pytest.mark.parametrize(
    ("values", "kwargs", "message"),
    [
        ([1.0, float("nan")], {}, "values must be finite"),
        ([1.0, float("inf")], {}, "values must be finite"),
        ([1.0], {"tolerance": -1.0}, "tolerance"),
        ([1.0], {"tolerance": 0.1}, "tolerance"),
    ],
)
def test_bad_input_names_the_argument(values, kwargs, message):
    with pytest.raises(ValueError, match=message):
        order_with_ties(values, **kwargs)
