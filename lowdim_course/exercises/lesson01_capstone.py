"""Lesson 01's capstone exercise, ``01.two_layer_gd_step``.

One gradient-descent step of a two-layer linear network on the summed loss
``1/2 ||W_2 W_1 - M||_F^2``, with step ``eta`` (the course's name for a step on the summed loss):
the reference answer, hidden cases and named mistakes; registered when ``lesson01`` (which
imports this module) is imported. The lesson's figure (``demos.lesson01_capstone``) runs the step
at the step size the student chose.
"""

from __future__ import annotations

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


def reference_two_layer_gd_step(w1, w2, target, eta):
    from ..theory.two_layer import two_layer_gd_step

    return two_layer_gd_step(w1, w2, target, eta)


def _step(w1, w2, target, eta, *, order="together", sign=-1.0, scale=1.0, form="right"):
    """One step with one named change (a mistake); ``form`` picks the gradients' formulas."""

    def gradients(a, b):
        residual = b @ a - target
        if form == "no transposes":
            return b @ residual, residual @ a
        if form == "swapped":
            return residual @ a.T, b.T @ residual
        return b.T @ residual, residual @ a.T

    if order == "W1 first":
        new1 = w1 + sign * eta * scale * gradients(w1, w2)[0]
        return new1, w2 + sign * eta * scale * gradients(new1, w2)[1]
    if order == "W2 first":
        new2 = w2 + sign * eta * scale * gradients(w1, w2)[1]
        return w1 + sign * eta * scale * gradients(w1, new2)[0], new2
    g1, g2 = gradients(w1, w2)
    return w1 + sign * eta * scale * g1, w2 + sign * eta * scale * g2


def _step_cases() -> list[Case]:
    generator = seeded_generator(1100)

    def matrix(rows, cols, scale):
        return random_matrix(rows, cols, generator) * scale

    return [
        Case(
            (matrix(3, 3, 0.5), matrix(3, 3, 0.5), matrix(3, 3, 1.0), 0.1),
            "W1, W2, M all 3 x 3 Gaussian, eta=0.1",
        ),
        Case(
            (matrix(4, 3, 0.5), matrix(5, 4, 0.5), matrix(5, 3, 1.0), 0.05),
            "W1 4 x 3, W2 5 x 4, M 5 x 3 (d_in=3, h=4, d_out=5), eta=0.05",
        ),
        Case(
            (matrix(2, 5, 0.3), matrix(4, 2, 0.3), matrix(4, 5, 1.0), 0.2),
            "a bottleneck: W1 2 x 5, W2 4 x 2, M 4 x 5, eta=0.2",
        ),
        Case(
            (matrix(4, 4, 0.03), matrix(4, 4, 0.03), matrix(4, 4, 2.0), 0.01),
            "a small init: W1, W2 4 x 4 with entries of size 0.03, M 4 x 4, eta=0.01",
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
    return lambda w1, w2, target, eta: _step(w1, w2, target, eta, **change)


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
        "descent subtracts eta times the gradient; check the sign of the residual too (the "
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
        lambda w1, w2, target, eta: _step(w1, w2, target, 1.0),
        "the step eta is missing: the whole gradient was subtracted",
        "each layer moves by eta times its gradient",
    ),
    Mistake(
        _mistake(scale=2.0),
        "the gradient has a factor 2 too many (the gradient of ||W2 W1 - M||^2, not of "
        "1/2 ||W2 W1 - M||^2)",
        "the 1/2 in the loss cancels the 2 from the square",
    ),
    Mistake(
        lambda w1, w2, target, eta: _step(w1, w2, target, eta, scale=1.0 / target.numel()),
        "the gradient is divided by the number of entries of M (the mean loss's): this "
        "lesson's loss is the sum 1/2 ||W2 W1 - M||_F^2",
        "the summed loss's gradient has no 1/(number of entries)",
    ),
    Mistake(
        lambda w1, w2, target, eta: (w1 - eta * w2.T @ (w2 @ w1 - target), w2),
        "only W1 was updated: W2 came back unchanged",
        "both layers take a step, each against its own gradient",
    ),
    Mistake(
        lambda w1, w2, target, eta: (w1, w2 - eta * (w2 @ w1 - target) @ w1.T),
        "only W2 was updated: W1 came back unchanged",
        "both layers take a step, each against its own gradient",
    ),
    Mistake(
        lambda w1, w2, target, eta: (w2.T @ (w2 @ w1 - target), (w2 @ w1 - target) @ w1.T),
        "returned the gradients, not the new weights",
        "return the new weights: each layer moved by eta times its gradient, downhill",
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
        signature="two_layer_gd_step(W1, W2, M, eta) -> (W1_next, W2_next)",
        make_cases=_step_cases,
        reference=reference_two_layer_gd_step,
        compare=_compare_step,
        hint="the residual W2 W1 - M tells how the product is off; each layer's gradient is "
        "that residual brought back to the layer's own shape through the other layer; compute "
        "both from the old weights, then move each layer a step of size eta against its own",
        tags=(CAPSTONE_TAG,),
    )
)
