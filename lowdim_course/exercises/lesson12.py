"""Lesson 12 exercises: the geometry of a layer's update ``Delta = W_t - W_0``.

* ``12.energy_share``: ``energy_share(delta, k) = sum_{i<=k} s_i^2 / sum_i s_i^2``, the share of
  ``||Delta||_F^2`` in the top k singular directions; reference
  :func:`lowdim_course.nonlinear.update_geometry.energy_share`.
* ``12.principal_angles``: the principal angles (radians, ascending) between the column spaces
  of two orthonormal bases, ``arccos`` of the singular values of ``Q_a^T Q_b`` (Björck & Golub
  1973); reference :func:`lowdim_course.theory.principal_angles`.
* ``12.largest_angle`` (capstone): the largest principal angle between the top-k LEFT singular
  subspaces of two updates; reference
  :func:`lowdim_course.nonlinear.update_geometry.largest_angle`.
* ``12.sgd_head_rank`` (self-check): why the head's update has rank 9 under SGD, 10 under Adam.
"""

from __future__ import annotations

import math

import torch

from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
)
from .self_check import choice_question

# arccos near 1 loses half the digits (an angle of 0 comes out as about 1e-8 in float64): every
# angle is compared with this absolute tolerance, far below every named mistake's change.
ANGLE_ATOL = 1e-6


def _s(matrix) -> torch.Tensor:
    return torch.linalg.svdvals(torch.as_tensor(matrix, dtype=torch.float64))


def _with_spectrum(rows, cols, spectrum, generator) -> torch.Tensor:
    """``U diag(spectrum) V^T`` with random orthonormal U (rows x r) and V (cols x r)."""
    r = len(spectrum)
    u, _ = torch.linalg.qr(random_matrix(rows, r, generator))
    v, _ = torch.linalg.qr(random_matrix(cols, r, generator))
    return u @ torch.diag(torch.tensor(spectrum, dtype=torch.float64)) @ v.T


# ---------------------------------------------------------------------------------------------
# 12.energy_share
# ---------------------------------------------------------------------------------------------


def _reference_energy_share(delta, k):
    from ..nonlinear.update_geometry import energy_share

    return energy_share(delta, k)


def _share_cases() -> list[Case]:
    generator = seeded_generator(12000)
    return [
        Case((_with_spectrum(8, 6, [4.0, 2.0, 1.0, 0.5, 0.25, 0.1], generator), 2),
             "8 x 6 with singular values 4, 2, 1, 0.5, 0.25, 0.1, k = 2"),
        Case((torch.diag(torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64)), 1),
             "diag(3, 1, 0), k = 1: 9 of 10"),
        Case((random_matrix(5, 9, generator), 3), "a 5 x 9 Gaussian matrix, k = 3"),
        Case((random_matrix(7, 4, generator), 4), "a 7 x 4 Gaussian matrix, k = 4 (all of it)"),
        Case((random_matrix(6, 1, generator) @ random_matrix(1, 5, generator), 1),
             "rank one, k = 1"),
    ]  # fmt: skip


def _shares(delta):
    energy = _s(delta) ** 2
    return energy, energy.sum()


_SHARE_MISTAKES = (
    Mistake(
        lambda d, k: float(_s(d)[:k].sum() / _s(d).sum()),
        "added the singular values, not their squares",
        "||Delta||_F^2 is the sum of the SQUARED singular values: energy, not length",
    ),
    Mistake(
        lambda d, k: math.sqrt(float(_shares(d)[0][:k].sum() / _shares(d)[1])),
        "returned the square root of the share",
        "the share is a ratio of energies (squared norms), with no square root",
    ),
    Mistake(
        lambda d, k: float(_shares(d)[0][: k + 1].sum() / _shares(d)[1]),
        "kept k + 1 directions",
        "the top k are s_1, ..., s_k: the first k entries of svdvals' output",
    ),
    Mistake(
        lambda d, k: float(_shares(d)[0][:k].sum() / _shares(d)[0][0]),
        "divided by s_1^2 instead of the whole energy",
        "the share divides by sum_i s_i^2 = ||Delta||_F^2 (then it lies between 0 and 1)",
    ),
    Mistake(
        lambda d, k: float(_shares(d)[0][k:].sum() / _shares(d)[1]),
        "returned the share of the directions left OUT",
        "the top-k share is what the best rank-k approximation keeps, 1 minus the tail",
    ),
    Mistake(
        lambda d, k: float(_shares(d)[0].flip(0)[:k].sum() / _shares(d)[1]),
        "took the k SMALLEST singular values",
        "torch.linalg.svdvals sorts them largest first",
    ),
)

ENERGY_SHARE = register(
    Exercise(
        id="12.energy_share",
        title="The energy share of the top k directions",
        signature="energy_share(delta, k) -> sum_{i<=k} s_i^2 / sum_i s_i^2",
        make_cases=_share_cases,
        reference=_reference_energy_share,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            rtol=1e-9,
            atol=1e-12,
            mistakes=_SHARE_MISTAKES,
            name="the share",
        ),
        hint="get the singular values once (largest first); the energy of a direction is its "
        "singular value squared, and the share is the top k's energy over all of it",
    )
)


# ---------------------------------------------------------------------------------------------
# 12.principal_angles
# ---------------------------------------------------------------------------------------------


def _reference_angles(basis_a, basis_b):
    from ..theory.invariant_subspace import principal_angles

    return principal_angles(basis_a, basis_b)


def _orthonormal(rows, cols, generator):
    q, _ = torch.linalg.qr(random_matrix(rows, cols, generator))
    return q


def _rotated_pair(angles, rows, generator):
    """Bases of two k-dimensional subspaces of R^rows at the given principal angles."""
    k = len(angles)
    q = _orthonormal(rows, 2 * k, generator)
    a = q[:, :k]
    c = torch.tensor([math.cos(t) for t in angles], dtype=torch.float64)
    s = torch.tensor([math.sin(t) for t in angles], dtype=torch.float64)
    b = a * c + q[:, k:] * s
    mix = _orthonormal(k, k, generator)  # another basis of the same subspace
    return a, b @ mix


def _angle_cases() -> list[Case]:
    generator = seeded_generator(12100)
    same = _orthonormal(7, 3, generator)
    return [
        Case(_rotated_pair([0.3, 1.2], 6, generator), "two planes in R^6 at 0.3 and 1.2 rad"),
        Case((same, same @ _orthonormal(3, 3, generator)),
             "the same 3-D subspace in two bases: all angles 0"),
        Case(_rotated_pair([0.1, 0.7, math.pi / 2], 8, generator),
             "3-D subspaces of R^8 at 0.1, 0.7, pi/2"),
        Case((_orthonormal(9, 2, generator), _orthonormal(9, 2, generator)),
             "two random planes in R^9"),
        Case(_rotated_pair([0.5], 4, generator), "two lines in R^4 at 0.5 rad"),
    ]  # fmt: skip


def _cosines(a, b):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return torch.linalg.svdvals(a.T @ b).clamp(-1.0, 1.0)


_ANGLE_MISTAKES = (
    Mistake(
        lambda a, b: torch.arccos(_cosines(a, b)).flip(0),
        "returned the angles largest first",
        "return them smallest first (svdvals sorts the cosines largest first, so their arccos "
        "already comes out in that order)",
    ),
    Mistake(
        lambda a, b: torch.sort(torch.rad2deg(torch.arccos(_cosines(a, b)))).values,
        "returned degrees",
        "torch.arccos gives radians; the course measures angles in radians",
    ),
    Mistake(
        lambda a, b: torch.sort(_cosines(a, b)).values,
        "returned the cosines, not the angles",
        "the singular values of Q_a^T Q_b are the cosines of the principal angles",
    ),
    Mistake(
        lambda a, b: (
            torch.sort(
                torch.arccos(torch.diagonal(torch.as_tensor(a).T @ torch.as_tensor(b)).clamp(-1, 1))
            ).values
        ),
        "took arccos of the diagonal of Q_a^T Q_b",
        "the diagonal depends on the bases chosen; its singular values do not (the same "
        "subspace in another basis must give angles 0)",
    ),
    Mistake(
        lambda a, b: torch.sort(torch.arcsin(_cosines(a, b))).values,
        "took arcsin of the singular values (pi/2 minus each angle)",
        "the singular values of Q_a^T Q_b are COSINES",
    ),
)

PRINCIPAL_ANGLES = register(
    Exercise(
        id="12.principal_angles",
        title="Principal angles between two subspaces",
        signature="principal_angles(Q_a, Q_b) -> angles (radians, ascending)",
        make_cases=_angle_cases,
        reference=_reference_angles,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            rtol=0.0,
            atol=ANGLE_ATOL,
            mistakes=_ANGLE_MISTAKES,
            name="the angles",
        ),
        hint="with orthonormal bases the cosines of the principal angles are the singular "
        "values of Q_a^T Q_b; clip them to [-1, 1] before arccos (rounding can push one a "
        "hair above 1) and return the angles smallest first",
    )
)


# ---------------------------------------------------------------------------------------------
# 12.largest_angle (capstone)
# ---------------------------------------------------------------------------------------------


def reference_largest_angle(delta_a, delta_b, k):
    from ..nonlinear.update_geometry import largest_angle

    return largest_angle(delta_a, delta_b, k, "left")


def _capstone_cases() -> list[Case]:
    generator = seeded_generator(12200)
    spread = [5.0, 3.0, 2.0, 1.0, 0.5, 0.2]
    a = _with_spectrum(8, 8, spread, generator)
    noise = 0.3 * random_matrix(8, 8, generator)
    wide = _with_spectrum(6, 10, [4.0, 2.0, 1.0, 0.3], generator)
    tall = _with_spectrum(10, 5, [3.0, 2.0, 1.0, 0.5, 0.1], generator)
    return [
        Case((a, a + noise, 2), "8 x 8 update and a noisy copy, k = 2"),
        Case((a, -2.5 * a, 3), "an update and -2.5 times it, k = 3: angle 0"),
        Case((a, _with_spectrum(8, 8, spread, generator), 1), "two unrelated 8 x 8, k = 1"),
        Case((wide, wide + 0.5 * random_matrix(6, 10, generator), 2),
             "6 x 10 (more columns than rows), k = 2"),
        Case((tall, tall + 0.2 * random_matrix(10, 5, generator), 3), "10 x 5, k = 3"),
        Case((a, a + noise, 4), "8 x 8 and the noisy copy, k = 4"),
    ]  # fmt: skip


def _svd(delta):
    return torch.linalg.svd(torch.as_tensor(delta, dtype=torch.float64), full_matrices=False)


def _angles_between(a, b):
    return torch.arccos(torch.linalg.svdvals(a.T @ b).clamp(-1.0, 1.0))


def _left(delta, k):
    return _svd(delta)[0][:, :k]


def _right(delta, k):
    return _svd(delta)[2][:k].T


_LARGEST_MISTAKES = (
    Mistake(
        lambda a, b, k: float(_angles_between(_right(a, k), _right(b, k)).max()),
        "compared the RIGHT singular subspaces (the rows of Vh)",
        "the left singular vectors are the columns of U: the output side of the layer",
    ),
    Mistake(
        lambda a, b, k: float(_angles_between(_left(a, k), _left(b, k)).min()),
        "returned the smallest angle",
        "two subspaces are close only when even their largest principal angle is small",
    ),
    Mistake(
        lambda a, b, k: float(_angles_between(_svd(a)[0][:, -k:], _svd(b)[0][:, -k:]).max()),
        "took the k LAST columns of U (the weakest directions)",
        "torch.linalg.svd sorts the singular values largest first: the top k are U[:, :k]",
    ),
    Mistake(
        lambda a, b, k: float(_angles_between(_left(a, k + 1), _left(b, k + 1)).max()),
        "compared k + 1 directions",
        "the top-k subspace is spanned by the first k columns of U",
    ),
    Mistake(
        lambda a, b, k: math.degrees(float(_angles_between(_left(a, k), _left(b, k)).max())),
        "returned degrees",
        "torch.arccos gives radians; the course measures angles in radians",
    ),
    Mistake(
        lambda a, b, k: float(
            torch.arccos(torch.linalg.svdvals(_left(a, k).T @ _left(b, k)).clamp(-1, 1)[0])
        ),
        "took arccos of the LARGEST cosine (that is the smallest angle)",
        "the largest angle belongs to the smallest singular value of U_a^T U_b",
    ),
)

LARGEST_ANGLE = register(
    Exercise(
        id="12.largest_angle",
        title="How far apart two updates' top-k subspaces are",
        signature="largest_angle(delta_a, delta_b, k) -> largest principal angle (radians) "
        "between the top-k left singular subspaces",
        make_cases=_capstone_cases,
        reference=reference_largest_angle,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            rtol=0.0,
            atol=ANGLE_ATOL,
            mistakes=_LARGEST_MISTAKES,
            name="the angle",
        ),
        hint="one SVD per update gives U (columns: left singular vectors, largest first); "
        "keep the first k columns of each, and the cosines of the principal angles between "
        "them are the singular values of U_a^T U_b. The largest angle belongs to the "
        "smallest cosine",
        tags=(CAPSTONE_TAG,),
    )
)


# ---------------------------------------------------------------------------------------------
# 12.sgd_head_rank (self-check)
# ---------------------------------------------------------------------------------------------

SGD_HEAD_RANK = register(
    choice_question(
        id="12.sgd_head_rank",
        title="Why the head's update has rank 9 under SGD",
        options={
            "a": "one of the ten classes is never predicted, so its row of the head never moves",
            "b": "the gradient of the cross-entropy with respect to the logits, softmax(z) - "
            "onehot(y), sums to zero over the ten classes, so every SGD step adds a matrix "
            "whose columns sum to zero; Adam divides each entry by its own running scale and "
            "breaks that sum",
            "c": "the hidden layer has only nine active ReLU units after training",
            "d": "rounding: the tenth singular value is tiny but not zero, and the tolerance "
            "1e-3 happens to cut it",
        },
        correct="b",
        why_wrong={
            "a": "every row of the head moves (each class's logit gets a gradient from every "
            "sample through the softmax); what is lost is one direction of the 10-dimensional "
            "output space, the all-ones vector, not a row",
            "c": "the rank of an SGD update of the 10 x 100 head is limited by its 10 rows, not "
            "by the 100 hidden units, which are mostly active; and Adam would share any limit "
            "coming from the features",
            "d": "the tenth singular value is zero up to rounding (about 1e-15 of the first) "
            "at every step and seed: an exact identity, far from any tolerance",
        },
        hint="write the gradient of the mean cross-entropy with respect to the head's weight "
        "as a product of (softmax - one-hot) and the features, and add up its rows",
    )
)
