"""Lesson 03 exercises: the invariant subspace of Yaras et al. (2023).

For matrix factorization with a rank-r target, d >= 2r and ``W_l(0) = eps O_l``, gradient
descent with step eta keeps ``d - 2r`` singular values of every layer equal to one scalar rho(t):

* ``03.rho_trajectory``: ``rho(t+1) = rho(t) (1 - eta rho(t)^{2(L-1)})``, ``rho(0) = eps``,
  returned for t = 0..steps (``steps + 1`` values); reference
  :func:`lowdim_course.theory.invariant_subspace.rho_trajectory` (weight decay 0).
* ``03.moved_rank``: the numerical rank of ``W_l(t) - (rho/eps) W_l(0)``, what learning added
  beyond the shrinking init (at most 2r): singular values above ``1e-10 ||W_l(t)||_2`` count,
  a tolerance relative to the layer, because rounding errors are of the layer's size (a
  tolerance relative to the moved part, ``torch.linalg.matrix_rank``'s default, counts pure
  rounding noise when nothing has moved); reference
  :func:`lowdim_course.theory.invariant_subspace.moved_rank`.
* ``03.measure_layer`` (capstone): from one layer of a run, r unknown, read rho(t) off the
  largest group of equal singular values and count the rank of what learning moved, with a
  tolerance relative to the layer; returns ``(rho_hat, moved rank)``; reference
  :func:`lowdim_course.theory.invariant_subspace.measure_layer`.
* ``03.identity_init_moves`` (self-check): from ``W_l(0) = eps I`` with a symmetric target, r
  (not 2r) singular values leave rho: the two sets of r directions coincide.

The theory package is imported when a check runs, not when this module is imported.
"""

from __future__ import annotations

import torch

from .calling import fresh_copy
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    compare_arrays,
    compare_integers,
    random_matrix,
    register,
    seeded_generator,
    to_integer,
)

# the capstone lives in its own module: importing it registers it
from .lesson03_capstone import (  # noqa: F401
    MEASURE_LAYER,
    reference_measure_layer,
)
from .self_check import choice_question


def reference_rho_trajectory(eps, eta, depth, steps):
    from ..theory.invariant_subspace import rho_trajectory

    return rho_trajectory(eps, eta, depth, steps)


def reference_moved_rank(layer_t, layer_0, rho, eps):
    from ..theory.invariant_subspace import moved_rank

    return moved_rank(layer_t, layer_0, rho, eps)


def _rho(eps, eta, steps, power, *, sign=-1.0, include_start=True):
    values = [eps]
    rho = eps
    for _ in range(steps):
        rho = rho * (1.0 + sign * eta * rho**power)
        values.append(rho)
    return torch.tensor(values if include_start else values[1:], dtype=torch.float64)


def _rho_cases() -> list[Case]:
    # large enough eps and eta that rho visibly shrinks, so every mistake shows
    settings = [(0.3, 1.0, 2, 10), (0.8, 0.1, 3, 30), (0.5, 0.5, 2, 20), (0.9, 0.05, 4, 40)]
    cases = [
        Case((eps, eta, depth, steps), f"eps={eps:g}, eta={eta:g}, depth={depth}, steps={steps}")
        for eps, eta, depth, steps in settings
    ]
    cases.append(Case((0.01, 5e-3, 3, 0), "eps=0.01, eta=0.005, depth=3, steps=0"))
    return cases


_RHO_MISTAKES = (
    Mistake(
        lambda eps, eta, depth, steps: _rho(eps, eta, steps, 2 * depth),
        "the exponent is 2L: this is the law for depth L+1 (off by one in the depth)",
        "count the powers of rho in the frozen block's gradient: L-l from the layers above, L from "
        "the product, l-1 from the layers below; rho(t) factored out of the step leaves the rest",
    ),
    Mistake(
        lambda eps, eta, depth, steps: _rho(eps, eta, steps, 2 * (depth - 2)),
        "the exponent is 2(L-2): this is the law for depth L-1 (off by one in the depth)",
        "count the powers of rho in the frozen block's gradient: L-l from the layers above, L from "
        "the product, l-1 from the layers below; rho(t) factored out of the step leaves the rest",
    ),
    Mistake(
        lambda eps, eta, depth, steps: _rho(eps, eta, steps, depth - 1),
        "the exponent is L-1; it should be 2(L-1)",
        "count the powers of rho in the frozen block's gradient: L-l from the layers above, L from "
        "the product, l-1 from the layers below; rho(t) factored out of the step leaves the rest",
    ),
    Mistake(
        lambda eps, eta, depth, steps: _rho(eps, eta, steps, 2 * (depth - 1), sign=1.0),
        "rho grows: the sign in 1 - eta rho^{2(L-1)} is flipped",
        "a step goes against the gradient, and in the frozen block the gradient is "
        "+rho^(2L-1): rho can only shrink",
    ),
    Mistake(
        lambda eps, eta, depth, steps: _rho(eps, eta, steps, 2 * (depth - 1), include_start=False),
        "rho(0) = eps is missing at the start",
        "return steps + 1 values: rho(0) = eps, then one per step",
    ),
)


def _compare_rho(expected, got, case) -> Problem | None:
    expected_length = case.args[3] + 1
    problem = compare_arrays(expected, got, case, mistakes=_RHO_MISTAKES, name="rho")
    if problem is not None and problem.what.startswith("wrong length"):
        return Problem(
            f"wrong length of rho (expected steps + 1 = {expected_length} values, rho(0) .. "
            f"rho(steps), got {_length(got)}): off by one?",
            "start the list with rho(0) = eps and take exactly `steps` steps",
        )
    return problem


def _length(value) -> str:
    try:
        return str(len(value))
    except TypeError:
        return "no length"


RHO_TRAJECTORY = register(
    Exercise(
        id="03.rho_trajectory",
        title="The scale rho(t) of the directions that never learn",
        signature="rho_trajectory(eps, eta, depth, steps) -> tensor of rho(0), ..., rho(steps)",
        make_cases=_rho_cases,
        reference=reference_rho_trajectory,
        compare=_compare_rho,
        hint="start the list at rho(0) = eps and apply the boxed recursion once per step, each "
        "time to the newest value; the list holds steps + 1 numbers",
    )
)


def _moved_cases() -> list[Case]:
    generator = seeded_generator(3000)
    settings = [  # (d, moved rank, eps, rho)
        (12, 4, 0.01, 0.0037),
        (20, 6, 0.1, 0.0731),
        (9, 2, 1e-3, 9.1e-4),
        (15, 1, 0.05, 0.0123),
        (10, 0, 0.01, 0.0049),
    ]
    cases = []
    for d, rank, eps, rho in settings:
        orthogonal, _ = torch.linalg.qr(random_matrix(d, d, generator))
        layer_0 = eps * orthogonal
        moved = random_matrix(d, rank, generator) @ random_matrix(rank, d, generator) * 0.05
        layer_t = (rho / eps) * layer_0 + moved
        label = f"d={d}, eps={eps:g}, rho={rho:g}, a moved part of rank {rank}"
        cases.append(Case((layer_t, layer_0, rho, eps), label))
    # nothing moved, and the layer computed as a run has it, rho times the rotation: the moved
    # part is rounding noise alone (about 1e-17 here, 1e-16 of the layer), whose singular values
    # a tolerance relative to the moved part itself counts (torch.linalg.matrix_rank's default
    # reads rank 9 of 10)
    orthogonal, _ = torch.linalg.qr(random_matrix(10, 10, seeded_generator(3001)))
    nothing = (0.0049 * orthogonal, 0.01 * orthogonal, 0.0049, 0.01)
    cases.append(Case(nothing, "d=10, eps=0.01, rho=0.0049, nothing moved: W(t) = rho O"))
    return cases


_MOVED_MISTAKES = (
    Mistake(
        lambda w_t, w_0, rho, eps: torch.linalg.matrix_rank(w_t - (rho / eps) * w_0),
        "the tolerance is relative to the moved part's own largest singular value (as "
        "torch.linalg.matrix_rank's default is): when nothing has moved, the moved part is "
        "rounding noise alone, and its noise counts as rank",
        "give the tolerance explicitly, relative to the layer: rounding errors are of the "
        "size of W_l(t), so count singular values above 1e-10 times its largest one",
    ),
    Mistake(
        lambda w_t, w_0, rho, eps: torch.linalg.matrix_rank(w_t - (rho / eps) * w_0, rtol=0.3),
        "counted only the large singular values (a tolerance far too loose)",
        "a singular value at the level of rounding errors is zero; the others all count, "
        "however small next to the largest",
    ),
)


def _compare_moved_rank(expected, got, case) -> Problem | None:
    """Integer comparison; the full rank d gets one message naming its two usual causes."""
    layer_t = case.args[0]
    full = min(layer_t.shape)
    value = to_integer(got)
    named = isinstance(value, int) and any(
        _mistake_gives(mistake, case, value) for mistake in _MOVED_MISTAKES
    )
    if isinstance(value, int) and value == full and expected != full and not named:
        return Problem(
            f"got the full rank {full} (expected {expected}): the moved part has rank at most 2r",
            "the init to subtract is shrunk by rho/eps (not W_l(0) itself, not grown by "
            "eps/rho), and the rank counts singular values above a tolerance: rounding errors "
            "are tiny but not zero",
        )
    return compare_integers(expected, got, case, mistakes=_MOVED_MISTAKES)


def _mistake_gives(mistake, case, value) -> bool:
    try:
        return int(mistake.compute(*fresh_copy(case.args))) == value
    except Exception:
        return False


MOVED_RANK = register(
    Exercise(
        id="03.moved_rank",
        title="The rank of what learning moved",
        signature="moved_rank(layer_t, layer_0, rho, eps) -> rank of W_l(t) - (rho/eps) W_l(0)",
        make_cases=_moved_cases,
        reference=reference_moved_rank,
        compare=_compare_moved_rank,
        hint="subtract the initial layer shrunk by the same factor as the frozen directions, "
        "rho/eps, and count the singular values of what is left that are above 1e-10 times "
        "the layer's largest singular value (rounding errors are of the layer's size)",
    )
)


# ---------------------------------------------------------------------------------------------
# Self-check: why 2r, and when not
# ---------------------------------------------------------------------------------------------

IDENTITY_INIT_MOVES = register(
    choice_question(
        id="03.identity_init_moves",
        title="Why 2r, and when fewer directions move",
        options={
            "a": "2r, as in the theorem",
            "b": "r",
            "c": "d - 2r",
            "d": "L r, r for each layer the gradient passes through",
        },
        correct="b",
        why_wrong={
            "a": "2r counts the target's r directions plus the r different directions that "
            "random orthogonal layers send them to. With W_l(0) = eps I each layer sends every "
            "direction to itself, and a symmetric target's column and row directions are the "
            "same U: the two sets of r coincide. The theorem's 2r is an upper bound",
            "c": "d - 2r is how many singular values stay at rho(t) under a random init, not how "
            "many leave it",
            "d": "the layers share their subspaces (V_(l+1) = U_l), so every layer moves in "
            "the same directions whatever the depth: depth does not add directions",
        },
        hint="ask where the 2r came from in the Think! above: which r directions, and which "
        "other r? Then look at what an identity init does to them",
    )
)
