"""Lesson 01 exercises: the two-layer closed form of Saxe, McClelland & Ganguli (2014).

With a step eta on the summed loss, time constant ``tau = 1/eta`` and t in gradient steps, a
mode of strength m (``m = u_i^T W_2 W_1 v_i``, named m so that u stays the singular vector)
learning a target singular value s obeys ``tau dm/dt = 2m(s - m)``, so (Saxe et al. 2014, Eq. 7)

* ``01.saxe_trajectory``: ``m(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/m0)``, evaluated in the
  stable form ``s / (1 + (s/m0 - 1) e^{-2st/tau})`` for a tensor of times t, including long
  times at which ``e^{2st/tau}`` overflows (float32 past ``2st/tau = 88.7``: the first form
  gives inf/inf = NaN there); reference :func:`lowdim_course.theory.two_layer.saxe_trajectory`;
* ``01.half_way_time``: ``t_half = (tau / 2s) ln(s/m0 - 1)``, when m reaches s/2; reference
  :func:`lowdim_course.theory.two_layer.half_way_time`;
* ``01.two_layer_gd_step`` (capstone): one gradient-descent step on
  ``1/2 ||W_2 W_1 - M||_F^2``, both layers from the same old weights,
  ``grad_{W_1} = W_2^T (W_2 W_1 - M)``, ``grad_{W_2} = (W_2 W_1 - M) W_1^T``; reference
  :func:`lowdim_course.theory.two_layer.two_layer_gd_step`;
* ``01.which_split_first`` (self-check): in a new hierarchy built like the lesson's semantic data
  (Saxe et al. 2019), which of two splits at the same level is learned first: the one whose
  features are carried by more items (4 items x 2 features against 2 x 3), whose singular value
  is larger, not the one with more features.

The theory package is imported when a check runs, not when this module is imported.
"""

from __future__ import annotations

import math

import torch

from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    compare_arrays,
    fresh_copy,
    register,
    to_tensor,
)

# the capstone lives in its own module: importing it registers it
from .lesson01_capstone import (  # noqa: F401
    TWO_LAYER_GD_STEP,
    reference_two_layer_gd_step,
)
from .self_check import choice_question


def reference_saxe_trajectory(t, s, m0, eta):
    from ..theory.two_layer import saxe_trajectory

    return saxe_trajectory(t, s, m0, eta)


def reference_half_way_time(s, m0, eta):
    from ..theory.two_layer import half_way_time

    return half_way_time(s, m0, eta)


# (s, m0, eta, last time, dtype). The first five keep 2 s eta t below ~30, where even the first
# written form is exact; the last two are long runs: e^{2 s eta t} overflows float32 past step
# 1,479 and float64 past step 11,830 at s = 3, eta = 0.01, where that form gives inf/inf = NaN.
_TRAJECTORY_SETTINGS = [
    (5.0, 1e-4, 1e-3, 3000.0, torch.float64),
    (1.0, 0.01, 0.05, 200.0, torch.float64),
    (0.75, 1e-3, 0.01, 2000.0, torch.float64),
    (3.0, 0.5, 0.002, 1000.0, torch.float64),
    (2.0, 0.2, 0.1, 60.0, torch.float64),
    (3.0, 1e-3, 0.01, 4000.0, torch.float32),
    (3.0, 1e-3, 0.01, 20000.0, torch.float64),
]


def _trajectory_cases() -> list[Case]:
    cases = []
    for s, m0, eta, last, dtype in _TRAJECTORY_SETTINGS:
        times = torch.linspace(0.0, last, 9, dtype=dtype)
        precision = str(dtype).removeprefix("torch.")
        label = (
            f"s={s:g}, m0={m0:g}, eta={eta:g}, t = 0 .. {last:g} (a {precision} tensor of 9 times)"
        )
        cases.append(Case((times, s, m0, eta), label))
    return cases


def _saxe(t, s, m0, rate):
    """The closed form as first written: ``e^{rate s t}`` overflows at long times."""
    growth = torch.exp(rate * s * t)
    return s * growth / (growth - 1.0 + s / m0)


_OVERFLOW = Mistake(
    lambda t, s, m0, eta: _saxe(t, s, m0, 2.0 * eta),
    "the form s e^{2st/tau} / (e^{2st/tau} - 1 + s/m0) overflows at long times: e^{2st/tau} "
    "becomes inf, and inf/inf = NaN",
    "divide the numerator and the denominator by e^{2st/tau}: the exponential then has a "
    "negative exponent and can only underflow to 0, which is harmless",
)


_TRAJECTORY_MISTAKES = (
    Mistake(
        lambda t, s, m0, eta: _saxe(t, s, m0, eta),
        "the exponent lacks the factor 2: this is e^{st/tau}",
        "the exponent is 2 s t / tau, with tau = 1/eta",
    ),
    Mistake(
        lambda t, s, m0, eta: _saxe(t, s, m0, 4.0 * eta),
        "the exponent has an extra factor 2: this is e^{4st/tau}",
        "the exponent is 2 s t / tau, with tau = 1/eta",
    ),
    Mistake(
        lambda t, s, m0, eta: _saxe(t, s, m0, 2.0),
        "the step eta is missing from the exponent",
        "t counts gradient steps: the exponent is 2 s t / tau = 2 s t eta",
    ),
    Mistake(
        lambda t, s, m0, eta: s / (1.0 + s / m0 * torch.exp(-2 * s * eta * t)),
        "the '- 1' is missing: this is s / (1 + (s/m0) e^{-2st/tau}), which starts at "
        "s m0 / (m0 + s) instead of m0",
        "check t = 0: the formula must give m0 there",
    ),
    Mistake(
        lambda t, s, m0, eta: s / (1.0 + (m0 / s - 1.0) * torch.exp(-2 * s * eta * t)),
        "m0/s where the formula has s/m0",
        "check t = 0: the formula must give m0 there",
    ),
    _OVERFLOW,
)


def _compare_trajectory(expected, got, case) -> Problem | None:
    """``compare_arrays``, with the overflowing form named: where the student's values are
    inf or NaN exactly where ``_saxe`` overflows on this case, say so (``compare_arrays`` would
    only report a NaN)."""
    values = to_tensor(got, "an array")
    if isinstance(values, torch.Tensor) and not torch.isfinite(values).all():
        overflow = to_tensor(_OVERFLOW.compute(*fresh_copy(case.args)))
        if overflow.shape == values.shape and torch.equal(
            torch.isfinite(overflow), torch.isfinite(values)
        ):
            return Problem(_OVERFLOW.what, _OVERFLOW.hint)
    return compare_arrays(expected, got, case, mistakes=_TRAJECTORY_MISTAKES, name="m(t)")


SAXE_TRAJECTORY = register(
    Exercise(
        id="01.saxe_trajectory",
        title="The two-layer closed form",
        signature="saxe_trajectory(t, s, m0, eta) -> m(t) (t: a tensor of times in steps)",
        make_cases=_trajectory_cases,
        reference=reference_saxe_trajectory,
        compare=_compare_trajectory,
        hint="the boxed solution of Section 2 with tau = 1/eta, written so that no exponential "
        "can grow without bound, evaluated for all times at once: math's functions take one "
        "number, torch's work on every entry of a tensor",
    )
)


def _half_way_cases() -> list[Case]:
    settings = [(5.0, 1e-4, 1e-3), (1.0, 0.25, 0.1), (3.0, 0.1, 0.01), (0.75, 1e-4, 1e-3)]
    settings.append((2.0, 0.5, 0.05))
    return [Case((s, m0, eta), f"s={s:g}, m0={m0:g}, eta={eta:g}") for s, m0, eta in settings]


_HALF_WAY_MISTAKES = (
    Mistake(
        lambda s, m0, eta: math.log(s / m0) / (2 * s * eta),
        "this is (tau/2s) ln(s/m0): the '- 1' is missing",
        "solve u(t) = s/2 for the exponential first: what does e^{2st/tau} equal there?",
    ),
    Mistake(
        lambda s, m0, eta: math.log(s / m0 - 1) / (s * eta),
        "twice the half-way time: the factor 1/2 is missing",
        "the exponent is 2st/tau: the logarithm is divided by 2s/tau, not by s/tau",
    ),
    Mistake(
        lambda s, m0, eta: eta * math.log(s / m0 - 1) / (2 * s),
        "used tau = eta; the time constant is tau = 1/eta",
        "a smaller step means a longer time: tau = 1/eta",
    ),
    Mistake(
        lambda s, m0, eta: math.log(s / m0 - 1) / 2 * s / eta,
        "multiplied by s instead of dividing",
        "strong modes are learned faster: how does the time depend on s?",
    ),
    Mistake(
        lambda s, m0, eta: math.log10(s / m0 - 1) / (2 * s * eta),
        "used log10; the formula has the natural log",
        "the formula's ln is the natural logarithm",
    ),
)

HALF_WAY_TIME = register(
    Exercise(
        id="01.half_way_time",
        title="When a mode is half learned",
        signature="half_way_time(s, m0, eta) -> t_half (in gradient steps)",
        make_cases=_half_way_cases,
        reference=reference_half_way_time,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_HALF_WAY_MISTAKES, name="t_half"
        ),
        hint="set the closed form u(t) equal to s/2, solve for the exponential first, then take "
        "its logarithm; remember that tau = 1/eta",
    )
)


# ---------------------------------------------------------------------------------------------
# Self-check: which of two splits at the same level of a new hierarchy is learned first
# ---------------------------------------------------------------------------------------------

WHICH_SPLIT_FIRST = register(
    choice_question(
        id="01.which_split_first",
        title="Which of two splits at the same level is learned first",
        options={
            "a": "owls vs hawks: more features tell an owl from a hawk than a cat from a dog",
            "b": "cats vs dogs: each of its features is carried by four items, so the split "
            "counts more feature-item pairs, and its mode has the larger singular value",
            "c": "both at the same time: they sit at the same level of the tree",
            "d": "whichever the random initialization happens to favour",
        },
        correct="b",
        why_wrong={
            "a": "the feature count alone is what set birds vs fish apart in the lesson's data, "
            "where both splits had two items a side; here the sides differ in size. A mode's "
            "strength counts features times the items that carry them: P s^2 is 4 x 2 + 1 = 9 "
            "for cats vs dogs against 2 x 3 + 1 = 7 for owls vs hawks",
            "c": "the level in the tree does not enter the mode equation: each mode follows "
            "tau dm/dt = 2m(s - m) with its own s, and t_half = (tau/2s) ln(s/m0 - 1) falls as "
            "s grows; two splits at one level have equal s only if they count the same "
            "feature-item pairs",
            "d": "from a small init the order is set by s, not by the draw: the lesson's five "
            "seeds all learn its modes in the order of their singular values",
        },
        hint="count, for one side of each split, its own features times the items that carry "
        "them, plus one for an item's own feature: that is P s^2 in a balanced tree like the "
        "lesson's (Section 6)",
    )
)
