"""Lesson 05 exercises: the surrogates of sensing and completion, and how good they are.

* ``05.sensing_surrogate``: ``(operator, measurements, d) -> m sum_i y_i A_i`` (d x d). The core's
  sensing operator has rows ``vec(A_i)`` (row-major, ``A_i.reshape(-1)``) with entries
  ``N(0,1)/m``, i.e. variance ``sigma^2 = 1/m^2``, and ``y_i = <A_i, M*>``. Then
  ``E[y_i A_i] = sigma^2 M*``, so the unbiased surrogate is
  ``(1/m) sum_i y_i A_i / sigma^2 = m sum_i y_i A_i = m reshape(A^T y)``, with ``E = M*``.
  The core's :meth:`lowdim_course.problems.MatrixSensing.surrogate` returns ``(1/m) A^T y``
  (mean ``M*/m^2``): the same singular vectors, which is all the spectral
  init uses. Reference: ``m^2`` times the core's surrogate.
* ``05.completion_surrogate``: ``(target, mask, p) -> P_Omega(M*) / p``, the core's
  :meth:`lowdim_course.problems.MatrixCompletion.surrogate` (each entry is seen with chance p,
  so its mean is ``M*``).
* ``05.subspace_angle``: ``(surrogate, target, r) -> theta_max`` in radians, the largest
  principal angle between the spans of the top-r left singular vectors of the two matrices
  (:func:`lowdim_course.theory.invariant_subspace.principal_angles`, Björck & Golub 1973).
  An answer through ``arccos`` is ill conditioned near 0, so the check's tolerance on the angle
  is what a rounding-size error in the cosine can cause there (:func:`angle_tolerance`).
* ``05.seed_that_misses`` (self-check): a run that misses 1e-4 but still descends, with the
  original missing too and a small pin, is a slow problem, not a stall of the compressed network.
"""

from __future__ import annotations

import math

import torch

from ..problems import MatrixCompletion, MatrixSensing, make_problem
from ..theory.invariant_subspace import principal_angles
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    compare_arrays,
    register,
    seeded_generator,
    to_tensor,
)

# the capstone lives in its own module: importing it registers it
from .lesson05_capstone import (  # noqa: F401
    TRAIN_COMPRESSED_COMPLETION,
    reference_train_compressed_completion,
)
from .self_check import choice_question

# ---------------------------------------------------------------------------------------------
# 05.sensing_surrogate
# ---------------------------------------------------------------------------------------------


def reference_sensing_surrogate(operator, measurements, d):
    """``m sum_i y_i A_i`` = ``m reshape(A^T y)``: mean M* for entries N(0,1)/m."""
    m = operator.shape[0]
    return m * torch.mv(operator.T, measurements).reshape(d, d)


def _sensing_problem(d, r, m, seed) -> MatrixSensing:
    return make_problem("ms", d=d, r=r, m=m, seed=seed)


def _sensing_cases() -> list[Case]:
    cases = []
    for d, r, m, seed in [(6, 2, 40, 5000), (8, 1, 100, 5001), (10, 3, 60, 5002), (5, 2, 7, 5003)]:
        problem = _sensing_problem(d, r, m, seed)
        cases.append(
            Case((problem.operator, problem.measurements, d), f"d={d}, m={m} measurements")
        )
    return cases


def _aty(operator, measurements, d):
    return torch.mv(operator.T, measurements).reshape(d, d)


_SENSING_MISTAKES = (
    Mistake(
        lambda a, y, d: _aty(a, y, d) / a.shape[0],
        "this is (1/m) Σ y_i A_i, whose mean is M*/m² here (entries N(0,1)/m have variance 1/m²)",
        "divide by the entry variance 1/m² as well: (1/m) Σ y_i A_i / (1/m²) = m Σ y_i A_i",
    ),
    Mistake(
        lambda a, y, d: _aty(a, y, d),
        "this is Σ y_i A_i, whose mean is M*/m (entries N(0,1)/m have variance 1/m²)",
        "E[y_i A_i] = M*/m², and there are m terms: multiply the sum by m",
    ),
    Mistake(
        lambda a, y, d: _aty(a, y, d) * a.shape[0] ** 2,
        "off by a factor m: m² Σ y_i A_i has mean m M*",
        "E[y_i A_i] = M*/m², and there are m terms: the sum needs a factor m, not m²",
    ),
    Mistake(
        lambda a, y, d: a.shape[0] * _aty(a, y, d).T,
        "the result is transposed: vec(A_i) is row-major here (row i of the operator is "
        "A_i.reshape(-1))",
        "fold the vector back in the order it was flattened (row by row), without a transpose",
    ),
    Mistake(
        lambda a, y, d: a.shape[0] * _aty(a, torch.mv(a, y.new_ones(a.shape[1])), d),
        "used A 1 (the operator applied to all-ones) instead of the measurements y",
        "the surrogate weighs each A_i by its measurement y_i",
    ),
)

SENSING_SURROGATE = register(
    Exercise(
        id="05.sensing_surrogate",
        title="The sensing surrogate with mean M*",
        signature="sensing_surrogate(operator, measurements, d) -> (d, d) matrix",
        make_cases=_sensing_cases,
        reference=reference_sensing_surrogate,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_SENSING_MISTAKES, name="the surrogate", rtol=1e-8
        ),
        hint="one product of the operator's transpose with the measurements gives the sum of "
        "y_i vec(A_i); fold it back into a d x d matrix (row by row, as the rows were made) and "
        "scale it so that its mean is M*: E[y_i A_i] is M* times the entry variance 1/m²",
    )
)


# ---------------------------------------------------------------------------------------------
# 05.completion_surrogate
# ---------------------------------------------------------------------------------------------


def reference_completion_surrogate(target, mask, p):
    """``P_Omega(M*) / p``: the observed entries scaled by 1/p, zeros elsewhere."""
    return torch.where(mask, target, torch.zeros_like(target)) / p


def _completion_cases() -> list[Case]:
    cases = []
    # p d^2 is a whole number in every case, so |Omega| / d^2 = p exactly.
    for d, r, p, seed in [(10, 2, 0.3, 5100), (8, 1, 0.5, 5101), (20, 3, 0.25, 5102),
                          (5, 2, 0.8, 5103)]:  # fmt: skip
        problem = make_problem("mc", d=d, r=r, p=p, seed=seed)
        assert isinstance(problem, MatrixCompletion)
        cases.append(Case((problem.target, problem.mask, p), f"d={d}, p={p}"))
    return cases


_COMPLETION_MISTAKES = (
    Mistake(
        lambda target, mask, p: target * mask,
        "forgot to divide by p: P_Omega(M*) has mean p M*",
        "scale the observed entries by 1/p",
    ),
    Mistake(
        lambda target, mask, p: target / p,
        "forgot the mask: every entry of M* is used, not only the observed ones",
        "keep the entries where mask is True and set the others to 0",
    ),
    Mistake(
        lambda target, mask, p: target * mask * p,
        "multiplied by p instead of dividing",
        "each entry is seen with chance p: divide by p so that the mean is M*",
    ),
    Mistake(
        lambda target, mask, p: target * (~mask) / p,
        "used the UNOBSERVED entries (the mask inverted)",
        "mask is True where an entry is observed",
    ),
    Mistake(
        lambda target, mask, p: target * (~mask) / (1 - p),
        "used the UNOBSERVED entries (the mask inverted)",
        "mask is True where an entry is observed",
    ),
)

COMPLETION_SURROGATE = register(
    Exercise(
        id="05.completion_surrogate",
        title="The completion surrogate P_Omega(M*)/p",
        signature="completion_surrogate(target, mask, p) -> (d, d) matrix",
        make_cases=_completion_cases,
        reference=reference_completion_surrogate,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_COMPLETION_MISTAKES, name="the surrogate", rtol=1e-8
        ),
        hint="keep the observed entries of the target and set the others to 0, then scale so "
        "that each entry's mean is its value in M*: each entry is seen with chance p",
    )
)


# ---------------------------------------------------------------------------------------------
# 05.subspace_angle
# ---------------------------------------------------------------------------------------------


def reference_subspace_angle(surrogate, target, r):
    """Largest principal angle between the top-r left singular subspaces (radians)."""
    u_surrogate = torch.linalg.svd(surrogate)[0][:, :r]
    u_target = torch.linalg.svd(target)[0][:, :r]
    return principal_angles(u_target, u_surrogate).max()


def _angle_cases() -> list[Case]:
    generator = seeded_generator(5200)
    cases = []
    for d, r, noise in [(10, 2, 0.3), (12, 3, 1.0), (8, 1, 0.1), (15, 4, 3.0), (9, 2, 0.0)]:
        u = torch.linalg.qr(torch.randn(d, r, generator=generator, dtype=torch.float64))[0]
        v = torch.linalg.qr(torch.randn(d, r, generator=generator, dtype=torch.float64))[0]
        target = (u * torch.linspace(3.0, 1.0, r, dtype=torch.float64)) @ v.T
        surrogate = target + noise * torch.randn(d, d, generator=generator, dtype=torch.float64)
        cases.append(Case((surrogate, target, r), f"d={d}, r={r}, noise {noise}"))
    return cases


def _angles(surrogate, target, r, left=True):
    index = 0 if left else 2
    a = torch.linalg.svd(surrogate)[index]
    b = torch.linalg.svd(target)[index]
    if not left:
        a, b = a.T, b.T
    return principal_angles(b[:, :r], a[:, :r])


# How far a cosine computed by a correct answer may be off: products and SVDs on another
# processor differ by about 1e-16 relative (1e-12 under the course's harsh stand-in,
# rounding.RoundingPerturbation), and a few of them lie between the matrices and the cosine.
COSINE_ROUNDING = 1e-10
ANGLE_ATOL = 1e-7  # the tolerance on the angle wherever arccos is well conditioned


def angle_tolerance(angle: float) -> float:
    """The error a correct arccos-based answer may carry at ``angle`` (radians).

    ``theta = arccos(c)`` turns an error delta in the cosine into ``delta / sin(theta)``: fine
    for large angles, unbounded at 0, where ``arccos(1 - delta) = sqrt(2 delta)`` (1.4e-5 for
    delta = 1e-10, against 1e-8 at 0.01 rad). So the tolerance is the angle error that
    ``COSINE_ROUNDING`` in the cosine can cause there, and never below ``ANGLE_ATOL``: it is
    looser only near 0, where every angle's cosine is within rounding of 1.
    """
    cosine = math.cos(angle)
    shifted = math.acos(max(-1.0, cosine - COSINE_ROUNDING))
    return max(ANGLE_ATOL, shifted - angle)


def _compare_angle(expected, got, case: Case) -> Problem | None:
    value = to_tensor(got, "a number")
    if isinstance(value, Problem):
        return value
    if value.numel() > 1:
        return Problem(
            f"returned {value.numel()} numbers, expected one angle (the largest)",
            "principal angles come as a list: return the largest one, in radians",
        )
    mistakes = (
        Mistake(
            lambda s, t, r: _angles(s, t, r).min(),
            "this is the SMALLEST principal angle",
            "the subspaces are as far apart as their largest angle: take the max",
        ),
        Mistake(
            lambda s, t, r: torch.rad2deg(_angles(s, t, r).max()),
            "the angle is in degrees",
            "return radians (torch.arccos / torch.arcsin give radians)",
        ),
        Mistake(
            lambda s, t, r: torch.cos(_angles(s, t, r).max()),
            "this is the cosine of the largest angle (the smallest singular value of Q_A^T Q_B)",
            "take arccos of that singular value",
        ),
        Mistake(
            lambda s, t, r: torch.cos(_angles(s, t, r).min()),
            "this is the largest singular value of Q_A^T Q_B: the cosine of the SMALLEST angle",
            "the largest angle is arccos of the SMALLEST singular value",
        ),
        Mistake(
            lambda s, t, r: _angles(s, t, r, left=False).max(),
            "used the RIGHT singular vectors (rows of Vh)",
            "compare the LEFT singular vectors: the first r columns of U",
        ),
        Mistake(
            lambda s, t, r: torch.tensor(0.0, dtype=torch.float64),
            "returned 0: with all d singular vectors both subspaces are the whole space",
            "keep only the first r columns of U for each matrix",
        ),
    )
    atol = angle_tolerance(float(expected))
    return compare_arrays(expected, value.reshape(()), case, mistakes=mistakes, atol=atol)


SUBSPACE_ANGLE = register(
    Exercise(
        id="05.subspace_angle",
        title="How far the surrogate's subspace is from the target's",
        signature="subspace_angle(surrogate, target, r) -> largest principal angle (radians)",
        make_cases=_angle_cases,
        reference=reference_subspace_angle,
        compare=_compare_angle,
        hint="take an orthonormal basis of each top-r left singular subspace; the cosines of "
        "the principal angles are the singular values of the r x r matrix of their inner "
        "products, and the largest angle belongs to the smallest cosine",
    )
)


WHAT_P_DOES = register(
    choice_question(
        id="05.what_p_does",
        title="What the 1/p of the completion surrogate does to the compressed network",
        options={
            "a": "the initial end-to-end matrix is p times smaller, so every plateau lasts longer",
            "b": "nothing: P_Omega(M*) and P_Omega(M*)/p have the same singular vectors, and "
            "the spectral initialization uses only those (eps sets the scale); the 1/p matters "
            "only when the surrogate is compared with M* itself",
            "c": "the starting subspace is further from the target's, so the end layers have "
            "more to turn",
            "d": "the network converges to p M* instead of M*",
        },
        correct="b",
        why_wrong={
            "a": "tempting, since the surrogate is p times smaller, but the start is "
            "eps^L U_hat V_hat^T: the singular values of the surrogate never enter it",
            "c": "multiplying a matrix by a positive number changes no singular vector, so no "
            "angle changes; what sets the angle is WHICH entries were seen (how many, p d^2), "
            "not the division",
            "d": "the surrogate only chooses where the network starts; the loss fits the "
            "observed entries of M* itself, wherever the start was",
        },
        hint="write down which parts of the surrogate's SVD the spectral initialization keeps, "
        "and what multiplying a matrix by 1/p does to each part",
    )
)

SEED_THAT_MISSES = register(
    choice_question(
        id="05.seed_that_misses",
        title="A completion run that misses: stalled, or slow?",
        options={
            "a": "the compressed network at r_hat = r = 3: its spare directions grew a wrong mode",
            "b": "more steps, or more observed entries: the seen entries hardly determine one "
            "direction, and every network creeps along it",
            "c": "a larger alpha: the end layers have not yet turned the subspace",
            "d": "a smaller eps: the initialization's error floor holds it up",
        },
        correct="b",
        why_wrong={
            "a": "that was seed 1's story: its error stood still and the original network "
            "reached 1e-4 at the same alpha. Here the error still falls (1.9x per 1,000 "
            "steps) and the original misses too, so the spare directions are not to blame: "
            "at r_hat = r the lesson's slow seed 7 missed as well",
            "c": "alpha speeds up the original network as much as the compressed one, and the "
            "original at alpha = 5 misses too: nothing is waiting to be turned. A larger step "
            "must also stay below the stability edge",
            "d": "an error at its floor stops falling; this one falls 1.9x per 1,000 steps. And "
            "a pin of 0.012, far below the 0.076 to 0.134 of the seeds that succeeded, says "
            "the seen entries, not the start, are the bottleneck",
        },
        hint="two failures appear in the ten-seed table: which one does this run look like? "
        "Compare how fast its error still falls, what the original network does, and its pin",
    )
)

__all__ = [
    "COMPLETION_SURROGATE",
    "SEED_THAT_MISSES",
    "SENSING_SURROGATE",
    "SUBSPACE_ANGLE",
    "TRAIN_COMPRESSED_COMPLETION",
    "WHAT_P_DOES",
]
