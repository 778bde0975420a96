"""Lesson 01 exercises: the two-layer closed form of Saxe, McClelland & Ganguli (2014).

With time constant ``tau = 1/lr`` and t in gradient steps, a mode of strength u learning a
target singular value s obeys ``tau du/dt = 2u(s - u)``, so (Saxe et al. 2014, Eq. 7)

* ``01.saxe_trajectory``: ``u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0)`` for a tensor of
  times t; reference :func:`lowdim_course.theory.two_layer.saxe_trajectory`;
* ``01.half_way_time``: ``t_half = (tau / 2s) ln(s/u0 - 1)``, when u reaches s/2; reference
  :func:`lowdim_course.theory.two_layer.half_way_time`;
* ``01.two_layer_gd_step`` (capstone): one gradient-descent step on
  ``1/2 ||W_2 W_1 - M||_F^2``, both layers from the same old weights,
  ``grad_{W_1} = W_2^T (W_2 W_1 - M)``, ``grad_{W_2} = (W_2 W_1 - M) W_1^T``; reference
  :func:`lowdim_course.theory.two_layer.two_layer_gd_step`;
* ``01.birds_before_trees`` (self-check): why the semantic data's birds-vs-fish mode is learned
  before its trees-vs-flowers mode (its singular value is larger; Saxe et al. 2019).

The theory package is imported when a check runs, not when this module is imported.
"""

from __future__ import annotations

import math

import torch

from .framework import (
    Case,
    Exercise,
    Mistake,
    compare_arrays,
    register,
)

# the capstone lives in its own module: importing it registers it
from .lesson01_capstone import (  # noqa: F401
    TWO_LAYER_GD_STEP,
    reference_two_layer_gd_step,
)
from .self_check import choice_question


def reference_saxe_trajectory(t, s, u0, lr):
    from ..theory.two_layer import saxe_trajectory

    return saxe_trajectory(t, s, u0, lr)


def reference_half_way_time(s, u0, lr):
    from ..theory.two_layer import half_way_time

    return half_way_time(s, u0, lr)


# (s, u0, lr, last time): 2 s lr t stays below ~30, so even the naive formula cannot overflow
_TRAJECTORY_SETTINGS = [
    (5.0, 1e-4, 1e-3, 3000.0),
    (1.0, 0.01, 0.05, 200.0),
    (0.75, 1e-3, 0.01, 2000.0),
    (3.0, 0.5, 0.002, 1000.0),
    (2.0, 0.2, 0.1, 60.0),
]


def _trajectory_cases() -> list[Case]:
    cases = []
    for s, u0, lr, last in _TRAJECTORY_SETTINGS:
        times = torch.linspace(0.0, last, 9, dtype=torch.float64)
        label = f"s={s:g}, u0={u0:g}, lr={lr:g}, t = 0 .. {last:g} (a tensor of 9 times)"
        cases.append(Case((times, s, u0, lr), label))
    return cases


def _saxe(t, s, u0, rate):
    growth = torch.exp(rate * s * t)
    return s * growth / (growth - 1.0 + s / u0)


_TRAJECTORY_MISTAKES = (
    Mistake(
        lambda t, s, u0, lr: _saxe(t, s, u0, lr),
        "the exponent lacks the factor 2: this is e^{st/tau}",
        "the exponent is 2 s t / tau, with tau = 1/lr",
    ),
    Mistake(
        lambda t, s, u0, lr: _saxe(t, s, u0, 4.0 * lr),
        "the exponent has an extra factor 2: this is e^{4st/tau}",
        "the exponent is 2 s t / tau, with tau = 1/lr",
    ),
    Mistake(
        lambda t, s, u0, lr: _saxe(t, s, u0, 2.0),
        "the learning rate is missing from the exponent",
        "t counts gradient steps: the exponent is 2 s t / tau = 2 s t lr",
    ),
    Mistake(
        lambda t, s, u0, lr: s * torch.exp(2 * s * lr * t) / (torch.exp(2 * s * lr * t) + s / u0),
        "the '- 1' is missing from the denominator",
        "the denominator is e^{2st/tau} - 1 + s/u0 (so that u(0) = u0)",
    ),
    Mistake(
        lambda t, s, u0, lr: (
            s * torch.exp(2 * s * lr * t) / (torch.exp(2 * s * lr * t) - 1.0 + u0 / s)
        ),
        "u0/s where the formula has s/u0",
        "the denominator is e^{2st/tau} - 1 + s/u0",
    ),
)

SAXE_TRAJECTORY = register(
    Exercise(
        id="01.saxe_trajectory",
        title="The two-layer closed form",
        signature="saxe_trajectory(t, s, u0, lr) -> u(t) (t: a tensor of times in steps)",
        make_cases=_trajectory_cases,
        reference=reference_saxe_trajectory,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_TRAJECTORY_MISTAKES, name="u(t)"
        ),
        hint="the boxed solution of Section 2 with tau = 1/lr, evaluated for all times at once: "
        "math's functions take one number, torch's work on every entry of a tensor",
    )
)


def _half_way_cases() -> list[Case]:
    settings = [(5.0, 1e-4, 1e-3), (1.0, 0.25, 0.1), (3.0, 0.1, 0.01), (0.75, 1e-4, 1e-3)]
    settings.append((2.0, 0.5, 0.05))
    return [Case((s, u0, lr), f"s={s:g}, u0={u0:g}, lr={lr:g}") for s, u0, lr in settings]


_HALF_WAY_MISTAKES = (
    Mistake(
        lambda s, u0, lr: math.log(s / u0) / (2 * s * lr),
        "this is (tau/2s) ln(s/u0): the '- 1' is missing",
        "solve u(t) = s/2 for the exponential first: what does e^{2st/tau} equal there?",
    ),
    Mistake(
        lambda s, u0, lr: math.log(s / u0 - 1) / (s * lr),
        "twice the half-way time: the factor 1/2 is missing",
        "the exponent is 2st/tau: the logarithm is divided by 2s/tau, not by s/tau",
    ),
    Mistake(
        lambda s, u0, lr: lr * math.log(s / u0 - 1) / (2 * s),
        "used tau = lr; the time constant is tau = 1/lr",
        "a smaller learning rate means a longer time: tau = 1/lr",
    ),
    Mistake(
        lambda s, u0, lr: math.log(s / u0 - 1) / 2 * s / lr,
        "multiplied by s instead of dividing",
        "t_half = (tau / 2s) ln(s/u0 - 1): strong modes are learned faster",
    ),
    Mistake(
        lambda s, u0, lr: math.log10(s / u0 - 1) / (2 * s * lr),
        "used log10; the formula has the natural log",
        "the formula's ln is the natural logarithm",
    ),
)

HALF_WAY_TIME = register(
    Exercise(
        id="01.half_way_time",
        title="When a mode is half learned",
        signature="half_way_time(s, u0, lr) -> t_half (in gradient steps)",
        make_cases=_half_way_cases,
        reference=reference_half_way_time,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_HALF_WAY_MISTAKES, name="t_half"
        ),
        hint="set the closed form u(t) equal to s/2, solve for the exponential first, then take "
        "its logarithm; remember that tau = 1/lr",
    )
)


# ---------------------------------------------------------------------------------------------
# Self-check: why birds vs fish comes before trees vs flowers
# ---------------------------------------------------------------------------------------------

BIRDS_BEFORE_TREES = register(
    choice_question(
        id="01.birds_before_trees",
        title="Why birds vs fish is learned before trees vs flowers",
        options={
            "a": "the network must first learn animals vs plants, and animals come first",
            "b": "more features tell birds from fish than trees from flowers, so that mode has "
            "the larger singular value",
            "c": "the random initialization happens to favour the birds-vs-fish mode",
            "d": "the birds-vs-fish split involves more items",
        },
        correct="b",
        why_wrong={
            "a": "it is tempting to read the tree as a schedule, but from the aligned init the "
            "modes do not interact at all (each follows its own equation tau du/dt = 2u(s - u)), "
            "and the animals-vs-plants mode holds animals and plants alike; nothing waits for "
            "it. What sets a mode's time is its own s",
            "c": "the same order comes out in each of the lesson's five seeds, and from the "
            "aligned init, where every mode starts at the same u0 = a^2: only s differs, and "
            "t_half = (tau/2s) ln(s/u0 - 1) falls as s grows",
            "d": "both splits involve four items (two against two); a bigger category does "
            "strengthen a mode, but here the sizes are equal and the feature counts differ "
            "(3 features each for birds and fish, 1 each for trees and flowers)",
        },
        hint="both splits sit at the same level of the tree; compare their singular values and "
        "Section 4's half-way time",
    )
)
