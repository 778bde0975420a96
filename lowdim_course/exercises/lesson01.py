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

from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    compare_arrays,
    fresh_copy,
    random_matrix,
    register,
    seeded_generator,
    to_tensor,
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
# Capstone: one gradient-descent step of a two-layer linear network
# ---------------------------------------------------------------------------------------------


def reference_two_layer_gd_step(w1, w2, target, lr):
    from ..theory.two_layer import two_layer_gd_step

    return two_layer_gd_step(w1, w2, target, lr)


def _step(w1, w2, target, lr, *, order="together", sign=-1.0, scale=1.0, form="right"):
    """One step with one named change (a mistake); ``form`` picks the gradients' formulas."""

    def gradients(a, b):
        residual = b @ a - target
        if form == "no transposes":
            return b @ residual, residual @ a
        if form == "swapped":
            return residual @ a.T, b.T @ residual
        return b.T @ residual, residual @ a.T

    if order == "W1 first":
        new1 = w1 + sign * lr * scale * gradients(w1, w2)[0]
        return new1, w2 + sign * lr * scale * gradients(new1, w2)[1]
    if order == "W2 first":
        new2 = w2 + sign * lr * scale * gradients(w1, w2)[1]
        return w1 + sign * lr * scale * gradients(w1, new2)[0], new2
    g1, g2 = gradients(w1, w2)
    return w1 + sign * lr * scale * g1, w2 + sign * lr * scale * g2


def _step_cases() -> list[Case]:
    generator = seeded_generator(1100)

    def matrix(rows, cols, scale):
        return random_matrix(rows, cols, generator) * scale

    return [
        Case(
            (matrix(3, 3, 0.5), matrix(3, 3, 0.5), matrix(3, 3, 1.0), 0.1),
            "W1, W2, M all 3 x 3 Gaussian, lr=0.1",
        ),
        Case(
            (matrix(4, 3, 0.5), matrix(5, 4, 0.5), matrix(5, 3, 1.0), 0.05),
            "W1 4 x 3, W2 5 x 4, M 5 x 3 (d_in=3, h=4, d_out=5), lr=0.05",
        ),
        Case(
            (matrix(2, 5, 0.3), matrix(4, 2, 0.3), matrix(4, 5, 1.0), 0.2),
            "a bottleneck: W1 2 x 5, W2 4 x 2, M 4 x 5, lr=0.2",
        ),
        Case(
            (matrix(4, 4, 0.03), matrix(4, 4, 0.03), matrix(4, 4, 2.0), 0.01),
            "a small init: W1, W2 4 x 4 with entries of size 0.03, M 4 x 4, lr=0.01",
        ),
    ]


_TOGETHER = (
    "compute both gradients from the old W1 and W2 first, then move both layers: one step of "
    "gradient descent moves all layers at once"
)
_PULL_BACK = (
    "the residual W2 W1 - M has the output's rows and the input's columns; to get a matrix of "
    "W1's shape, multiply it on the left by the layer above, transposed; for W2's shape, on "
    "the right by the layer below, transposed"
)


def _mistake(**change):
    return lambda w1, w2, target, lr: _step(w1, w2, target, lr, **change)


_STEP_MISTAKES = (
    Mistake(
        _mistake(order="W1 first"),
        "the layers were updated one after the other: W2's gradient used the new W1",
        _TOGETHER,
    ),
    Mistake(
        _mistake(order="W2 first"),
        "the layers were updated one after the other: W1's gradient used the new W2",
        _TOGETHER,
    ),
    Mistake(
        _mistake(sign=1.0),
        "a step up the gradient (ascent): the loss grows; gradient descent moves against the "
        "gradient",
        "descent subtracts lr times the gradient; check the sign of the residual too (the "
        "model minus the target)",
    ),
    Mistake(
        _mistake(form="swapped"),
        "the gradients of the two layers are swapped: W1 got W2's gradient and W2 got W1's",
        "W1's gradient has W2 (the layer above) in it, and W2's has W1 (the layer below)",
    ),
    Mistake(
        _mistake(form="no transposes"),
        "the transposes are missing: W2 (W2 W1 - M) and (W2 W1 - M) W1 instead of the "
        "transposed layers",
        _PULL_BACK,
    ),
    Mistake(
        lambda w1, w2, target, lr: _step(w1, w2, target, 1.0),
        "the learning rate is missing: the whole gradient was subtracted",
        "each layer moves by lr times its gradient",
    ),
    Mistake(
        _mistake(scale=2.0),
        "the gradient has a factor 2 too many (the gradient of ||W2 W1 - M||^2, not of "
        "1/2 ||W2 W1 - M||^2)",
        "the 1/2 in the loss cancels the 2 from the square",
    ),
    Mistake(
        lambda w1, w2, target, lr: _step(w1, w2, target, lr, scale=1.0 / target.numel()),
        "the gradient is divided by the number of entries of M (the mean loss's): this "
        "lesson's loss is the sum 1/2 ||W2 W1 - M||_F^2",
        "the summed loss's gradient has no 1/(number of entries)",
    ),
    Mistake(
        lambda w1, w2, target, lr: (w1 - lr * w2.T @ (w2 @ w1 - target), w2),
        "only W1 was updated: W2 came back unchanged",
        "both layers take a step, each against its own gradient",
    ),
    Mistake(
        lambda w1, w2, target, lr: (w1, w2 - lr * (w2 @ w1 - target) @ w1.T),
        "only W2 was updated: W1 came back unchanged",
        "both layers take a step, each against its own gradient",
    ),
    Mistake(
        lambda w1, w2, target, lr: (w2.T @ (w2 @ w1 - target), (w2 @ w1 - target) @ w1.T),
        "returned the gradients, not the new weights",
        "return the new weights: each layer moved by lr times its gradient, downhill",
    ),
)


def _pair(value, what):
    if not isinstance(value, tuple | list) or len(value) != 2:
        return Problem(
            f"returned {type(value).__name__}, expected {what}",
            "return a pair: return W1_next, W2_next",
        )
    tensors = [to_tensor(item) for item in value]
    for item in tensors:
        if isinstance(item, Problem):
            return item
    return tensors


def _close(expected, got) -> bool:
    return all(
        a.shape == b.shape and compare_arrays(a, b, _ANY_CASE, rtol=1e-7, atol=1e-12) is None
        for a, b in zip(expected, got, strict=True)
    )


_ANY_CASE = Case((), "")


def _compare_step(expected, got, case) -> Problem | None:
    expected = _pair(expected, "a pair")
    if isinstance(expected, Problem):
        raise TypeError(f"reference result: {expected.what}")
    got = _pair(got, "a pair of matrices (W1_next, W2_next)")
    if isinstance(got, Problem):
        return got
    if _close(expected, got):
        return None
    if _close(expected, got[::-1]) or (
        got[0].shape == expected[1].shape
        and got[1].shape == expected[0].shape
        and got[0].shape != got[1].shape
    ):
        return Problem(
            "returned (W2_next, W1_next): the pair is in the wrong order",
            "return W1's new value first, then W2's",
        )
    for mistake in _STEP_MISTAKES:
        try:
            wrong = _pair(mistake.compute(*fresh_copy(case.args)), "a pair")
        except Exception:
            continue
        if not isinstance(wrong, Problem) and _close(wrong, got):
            return Problem(mistake.what, mistake.hint)
    for name, want, have in zip(("W1_next", "W2_next"), expected, got, strict=True):
        problem = compare_arrays(want, have, case, rtol=1e-7, atol=1e-12, name=name)
        if problem is not None:
            return problem
    return None


TWO_LAYER_GD_STEP = register(
    Exercise(
        id="01.two_layer_gd_step",
        title="Capstone: one gradient-descent step of a two-layer linear network",
        signature="two_layer_gd_step(W1, W2, M, lr) -> (W1_next, W2_next)",
        make_cases=_step_cases,
        reference=reference_two_layer_gd_step,
        compare=_compare_step,
        hint="the residual W2 W1 - M tells how the product is off; each layer's gradient is "
        "that residual brought back to the layer's own shape through the other layer; compute "
        "both from the old weights, then move each layer a step of size lr against its own",
        tags=(CAPSTONE_TAG,),
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
