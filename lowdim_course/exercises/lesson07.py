"""Lesson 07 exercises: intrinsic dimension (Li, Farkhoor, Liu, Yosinski 2018, Sec. 2).

* ``07.subspace_gradient``: ``subspace_gradient(P, grad_theta) -> P^T grad_theta``, the gradient
  of ``L(theta0 + P z)`` in ``z`` by the chain rule; reference
  :func:`lowdim_course.literature.intrinsic_dimension.subspace_gradient`.
* ``07.d_int90``: ``d_int90(dims, accuracies, baseline) -> int``, the smallest ``d`` whose accuracy
  reaches 90% of the baseline; reference
  :func:`lowdim_course.literature.intrinsic_dimension.d_int90`.
"""

from __future__ import annotations

import torch

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
    to_tensor,
)


def reference_subspace_gradient(P, grad_theta):
    from ..literature.intrinsic_dimension import subspace_gradient

    return subspace_gradient(P, grad_theta)


def _unit_columns(D, d, generator):
    P = random_matrix(D, d, generator)
    return P / torch.linalg.vector_norm(P, dim=0, keepdim=True)


def _gradient_cases() -> list[Case]:
    generator = seeded_generator(7000)
    cases = []
    for D, d in [(30, 4), (100, 10), (12, 3), (200, 25)]:
        P = _unit_columns(D, d, generator)
        grad = random_matrix(D, 1, generator)[:, 0]
        cases.append(Case((P, grad), f"D={D}, d={d}"))
    return cases


_GRADIENT_MISTAKES = (
    Mistake(
        lambda P, g: P.T @ g / P.shape[0],
        "divided by D",
        "the chain rule gives P^T grad_theta exactly: no averaging over parameters",
    ),
    Mistake(
        lambda P, g: -(P.T @ g),
        "the sign is flipped",
        "this is the gradient, not the descent step: grad_z = +P^T grad_theta",
    ),
    Mistake(
        lambda P, g: (P / torch.linalg.vector_norm(P, dim=1, keepdim=True)).T @ g,
        "P's rows were normalized",
        "P is used as given (its columns already have unit norm)",
    ),
)


def compare_subspace_gradient(expected, got, case: Case) -> Problem | None:
    P, _ = case.args
    tensor = to_tensor(got, "a vector")
    if not isinstance(tensor, Problem) and tuple(tensor.shape) == (P.shape[0],):
        return Problem(
            f"returned a vector of length D = {P.shape[0]}: the gradient in theta's space",
            "project it into the subspace: grad_z = P^T grad_theta has length d",
        )
    return compare_arrays(expected, got, case, mistakes=_GRADIENT_MISTAKES, name="grad_z")


SUBSPACE_GRADIENT = register(
    Exercise(
        id="07.subspace_gradient",
        title="The gradient in the random subspace",
        signature="subspace_gradient(P, grad_theta) -> grad_z",
        make_cases=_gradient_cases,
        reference=reference_subspace_gradient,
        compare=compare_subspace_gradient,
        hint="theta = theta0 + P z, so dL/dz = P^T dL/dtheta: return P.T @ grad_theta",
    )
)


def reference_d_int90(dims, accuracies, baseline):
    from ..literature.intrinsic_dimension import d_int90

    table = dict(zip(dims, accuracies, strict=True))
    found, _ = d_int90(table.__getitem__, baseline, dims)
    return found


def _dint_cases() -> list[Case]:
    return [
        Case(([10, 20, 50, 100, 200], [0.3, 0.5, 0.7, 0.85, 0.9], 0.92), "increasing"),
        Case(([200, 25, 100, 50], [0.83, 0.6, 0.82, 0.7], 0.9), "dims not sorted"),
        Case(([5, 10, 15, 20], [0.2, 0.9, 0.6, 0.95], 1.0), "exactly 90% counts, not monotone"),
        Case(([1, 2, 3, 4, 5], [0.1, 0.2, 0.5, 0.45, 0.5], 0.5), "0.45 reached at d=3, then a dip"),
        Case(([8, 16, 32, 64], [0.55, 0.7, 0.86, 0.95], 0.97), "max accuracy is not the baseline"),
    ]


def _first(dims, accuracies, test):
    return next(d for d, a in zip(dims, accuracies, strict=True) if test(a))


def _sorted_pairs(dims, accuracies):
    pairs = sorted(zip(dims, accuracies, strict=True))
    return [d for d, _ in pairs], [a for _, a in pairs]


_DINT_MISTAKES = (
    Mistake(
        lambda dims, acc, base: _first(*_sorted_pairs(dims, acc), lambda a: a > 0.9 * base),
        "used > instead of >= (reaching exactly 90% counts)",
        "the smallest d with accuracy >= 0.9 * baseline",
    ),
    Mistake(
        lambda dims, acc, base: _first(dims, acc, lambda a: a >= 0.9 * base),
        "took the first d in the given order, not the smallest",
        "sort the dimensions (or take the min over those that reach the threshold)",
    ),
    Mistake(
        lambda dims, acc, base: _first(*_sorted_pairs(dims, acc), lambda a: a >= 0.9 * max(acc)),
        "compared with 90% of the best subspace accuracy instead of the baseline",
        "the baseline is the directly trained network's accuracy, passed as `baseline`",
    ),
    Mistake(
        lambda dims, acc, base: _first(*_sorted_pairs(dims, acc), lambda a: a >= 0.9),
        "compared with 0.9 itself instead of 0.9 * baseline",
        "90% of the baseline: accuracy >= 0.9 * baseline",
    ),
)

D_INT90 = register(
    Exercise(
        id="07.d_int90",
        title="Measure d_int90",
        signature="d_int90(dims, accuracies, baseline) -> int",
        make_cases=_dint_cases,
        reference=reference_d_int90,
        compare=lambda expected, got, case: compare_integers(
            expected, got, case, mistakes=_DINT_MISTAKES
        ),
        hint="among the d with accuracy >= 0.9 * baseline, return the smallest",
    )
)
