"""The one divergence check every training loop uses."""

import math

import pytest

from lowdim_course.divergence import DivergenceError, DivergenceGuard


def test_the_first_loss_read_is_the_reference_and_growth_below_the_factor_passes():
    guard = DivergenceGuard(factor=10.0, lr=0.5, alpha=2.0)
    for step, loss in enumerate([2.0, 5.0, 19.9, 20.0, 0.1]):
        guard.check(step, loss)
    assert guard.initial_loss == 2.0


@pytest.mark.parametrize("bad", [20.01, math.inf, math.nan])
def test_an_exploded_or_non_finite_loss_stops_with_the_step_and_the_rates(bad):
    guard = DivergenceGuard(factor=10.0, lr=0.5, alpha=2.0, what="training of the block")
    guard.check(0, 2.0)
    with pytest.raises(DivergenceError) as caught:
        guard.check(7, bad)
    message = str(caught.value)
    assert message.startswith("training of the block diverged at step 7")
    assert "lower the learning rate (lr=0.5, alpha=2)" in message
    assert isinstance(caught.value, ValueError)  # the CLI's one-line error path catches these


def test_a_first_loss_of_zero_only_stops_on_a_non_finite_loss():
    guard = DivergenceGuard(factor=2.0, lr=1.0)
    guard.check(0, 0.0)
    guard.check(1, 1e300)  # no multiple of 0 to exceed
    with pytest.raises(DivergenceError):
        guard.check(2, math.nan)


def test_a_non_finite_first_loss_stops_at_once():
    with pytest.raises(DivergenceError, match="at step 0"):
        DivergenceGuard(factor=2.0, lr=1.0).check(0, math.inf)


@pytest.mark.parametrize("factor", [1.0, 0.5, math.nan])
def test_the_factor_must_exceed_one(factor):
    with pytest.raises(ValueError, match="divergence_factor must be"):
        DivergenceGuard(factor=factor, lr=1.0)
