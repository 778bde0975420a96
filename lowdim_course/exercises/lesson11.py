"""Lesson 11 exercises: the stable rank and Hoyer's sparsity.

* ``11.stable_rank``: ``stable_rank(W) = ||W||_F^2 / ||W||_2^2 = sum sigma_k^2 / sigma_1^2``
  (Rudelson & Vershynin 2007); reference :func:`lowdim_course.theory.rank_measures.stable_rank`
  (Lesson 02's exercise is the effective rank; this one is its cousin).
* ``11.hoyer_sparsity``: ``(sqrt(n) - ||x||_1 / ||x||_2) / (sqrt(n) - 1)`` over all entries
  (Hoyer 2004); reference :func:`lowdim_course.literature.compressibility.hoyer_sparsity`.
* ``11.rank_for_error`` (capstone): ``rank_for_error(W, rel_error) -> k``, the smallest k whose
  best rank-k approximation has relative Frobenius error ``sqrt(sum_{i>k} sigma_i^2) / ||W||_F
  <= rel_error`` (Eckart-Young-Mirsky: the tail energy of the singular values); reference
  :func:`lowdim_course.literature.compressibility.rank_for_error`.
* ``11.what_stable_rank_misses`` (self-check): a stable rank of 1.5 bounds no truncation rank.
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
    compare_integers,
    random_matrix,
    register,
    seeded_generator,
)
from .self_check import choice_question


def _reference_stable_rank(matrix):
    from ..theory.rank_measures import stable_rank

    return stable_rank(matrix)


def _reference_hoyer(values):
    from ..literature.compressibility import hoyer_sparsity

    return hoyer_sparsity(values)


def _matrix_cases() -> list[Case]:
    generator = seeded_generator(11000)
    decaying = random_matrix(8, 8, generator) * torch.tensor(
        [2.0**-k for k in range(8)], dtype=torch.float64
    )
    return [
        Case((random_matrix(6, 6, generator),), "a 6 x 6 Gaussian matrix"),
        Case((torch.diag(torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64)),), "diag(3, 1, 0)"),
        Case((random_matrix(4, 9, generator),), "a 4 x 9 Gaussian matrix"),
        Case((decaying,), "an 8 x 8 matrix with decaying columns"),
        Case((random_matrix(5, 1, generator) @ random_matrix(1, 7, generator),), "rank one"),
    ]


def _s(matrix):
    return torch.linalg.svdvals(torch.as_tensor(matrix, dtype=torch.float64))


_STABLE_MISTAKES = (
    Mistake(
        lambda w: float(_s(w).pow(2).sum().sqrt() / _s(w)[0]),
        "returned ||W||_F / ||W||_2 (forgot the squares)",
        "the stable rank is a ratio of squared norms: energy against energy",
    ),
    Mistake(
        lambda w: float(_s(w).sum() / _s(w)[0]),
        "returned sum sigma / sigma_1 (nuclear over spectral norm)",
        "the Frobenius norm squared is the sum of the SQUARED singular values",
    ),
    Mistake(
        lambda w: float(_s(w).pow(2).sum() / _s(w)[-1] ** 2),
        "divided by the SMALLEST singular value squared",
        "the spectral norm ||W||_2 is the largest singular value (svdvals sorts them, "
        "largest first)",
    ),
    Mistake(
        lambda w: float(torch.linalg.matrix_rank(torch.as_tensor(w, dtype=torch.float64))),
        "returned the rank",
        "the stable rank is a ratio of norms, not the number of nonzero singular values",
    ),
)

STABLE_RANK = register(
    Exercise(
        id="11.stable_rank",
        title="The stable rank",
        signature="stable_rank(W) -> ||W||_F^2 / ||W||_2^2",
        make_cases=_matrix_cases,
        reference=_reference_stable_rank,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, rtol=1e-8, mistakes=_STABLE_MISTAKES, name="the stable rank"
        ),
        hint="both norms are functions of the singular values: the Frobenius norm squared is "
        "their total energy, the spectral norm is the largest one. Get the singular values "
        "once and compare the whole energy with the top direction's",
    )
)


def _vector_cases() -> list[Case]:
    generator = seeded_generator(11100)
    return [
        Case((torch.tensor([0.0, 0.0, 3.0, 0.0], dtype=torch.float64),), "one nonzero entry"),
        Case(
            (torch.tensor([1.0, -2.0, 0.5, 0.0, -1.0], dtype=torch.float64),), "[1, -2, 0.5, 0, -1]"
        ),
        Case((random_matrix(6, 5, generator),), "a 6 x 5 Gaussian matrix (all entries)"),
        Case((torch.tensor([2.0, -2.0, 2.0], dtype=torch.float64),), "equal magnitudes"),
        Case((random_matrix(1, 40, generator).flatten() ** 3,), "cubed Gaussian entries"),
    ]


def _flat(x):
    return torch.as_tensor(x, dtype=torch.float64).flatten()


_HOYER_MISTAKES = (
    Mistake(
        lambda x: float(_flat(x).abs().sum() / _flat(x).norm()),
        "returned ||x||_1 / ||x||_2 itself",
        "the ratio runs from 1 to sqrt(n); Hoyer's measure maps that range linearly onto "
        "[0, 1], with sqrt(n) (a flat vector) going to 0 and 1 (a spike) going to 1",
    ),
    Mistake(
        lambda x: float(
            (math.sqrt(_flat(x).numel()) - _flat(x).sum().abs() / _flat(x).norm())
            / (math.sqrt(_flat(x).numel()) - 1)
        ),
        "used |sum x| instead of sum |x| for the l1 norm",
        "the l1 norm adds the magnitudes of the entries, so signs cannot cancel",
    ),
    Mistake(
        lambda x: float(1 - _flat(x).abs().sum() / _flat(x).norm() / math.sqrt(_flat(x).numel())),
        "returned 1 - ratio / sqrt(n) (does not reach 1 for a single nonzero)",
        "check the two ends: a single nonzero entry (ratio 1) must give exactly 1, a flat "
        "vector (ratio sqrt(n)) exactly 0",
    ),
    Mistake(
        lambda x: float(
            (math.sqrt(_flat(x).numel()) - _flat(x).norm() / _flat(x).abs().sum())
            / (math.sqrt(_flat(x).numel()) - 1)
        ),
        "used ||x||_2 / ||x||_1 (the ratio upside down)",
        "the ratio in Hoyer's formula lies between 1 and sqrt(n): which norm must be on top?",
    ),
)

# Hoyer's measure is H = (sqrt(n) - R) / (sqrt(n) - 1) with R = ||x||_1 / ||x||_2, a quotient of
# two sums of n terms. In float64 each sum carries a relative rounding error of at most about
# (n - 1) 2^-53, and another summation order (another processor, thread count or BLAS; the
# course imitates it with 1e-12 per reduction, rounding.py) moves R by a few 1e-12 relative.
# The check therefore allows a relative error RATIO_RTOL in R, which moves H by at most
# RATIO_RTOL * R / (sqrt(n) - 1): an absolute tolerance that grows where H is ill-conditioned
# (R near sqrt(n), H near 0, where a fixed atol of 1e-12 failed under that rounding). 1e-9 is a
# thousand times the rounding model and far below every named mistake, which moves R or H by
# order 1.
RATIO_RTOL = 1e-9


def hoyer_tolerance(values) -> float:
    """The absolute tolerance on Hoyer's measure of ``values``: ``RATIO_RTOL * R / (sqrt(n) - 1)``,
    the change a relative error ``RATIO_RTOL`` in ``R = ||x||_1 / ||x||_2`` makes."""
    x = _flat(values)
    root = math.sqrt(x.numel())
    return RATIO_RTOL * float(x.abs().sum() / x.norm()) / (root - 1)


HOYER = register(
    Exercise(
        id="11.hoyer_sparsity",
        title="Hoyer's sparsity measure",
        signature="hoyer_sparsity(x) -> (sqrt(n) - ||x||_1/||x||_2) / (sqrt(n) - 1)",
        make_cases=_vector_cases,
        reference=_reference_hoyer,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            rtol=0.0,
            atol=hoyer_tolerance(case.args[0]),
            mistakes=_HOYER_MISTAKES,
            name="the sparsity",
        ),
        hint="all entries count, whatever the shape. The ratio of the l1 to the l2 norm is 1 "
        "for a single spike and sqrt(n) for a flat vector of n entries; Hoyer's measure is "
        "where the ratio sits between those two ends, rescaled so that flat is 0 and a spike "
        "is 1",
    )
)


# ---------------------------------------------------------------------------------------------
# 11.rank_for_error (capstone)
# ---------------------------------------------------------------------------------------------


def reference_rank_for_error(W, rel_error):
    from ..literature.compressibility import rank_for_error

    return rank_for_error(W, rel_error)


def _rank_cases() -> list[Case]:
    generator = seeded_generator(11200)
    decaying = random_matrix(10, 10, generator)
    u, _, vh = torch.linalg.svd(decaying)
    spectrum = torch.tensor([0.7**k for k in range(10)], dtype=torch.float64)
    decaying = u @ torch.diag(spectrum) @ vh
    diag = torch.diag(torch.tensor([3.0, 1.0, 1.0, 1.0], dtype=torch.float64))
    return [
        Case((diag, 0.5), "diag(3, 1, 1, 1), rel_error = 0.5: rank 1 has error exactly 0.5"),
        Case((decaying, 0.1), "10 x 10, sigma_k = 0.7^k, rel_error = 0.1"),
        Case((decaying, 0.3), "10 x 10, sigma_k = 0.7^k, rel_error = 0.3"),
        Case((torch.eye(6, dtype=torch.float64), 0.5), "I_6 (a flat spectrum), rel_error = 0.5"),
        Case((random_matrix(6, 9, generator), 0.2), "6 x 9 Gaussian, rel_error = 0.2"),
        Case((random_matrix(5, 5, generator), 1.2), "rel_error = 1.2: nothing needs to be kept"),
        Case((random_matrix(8, 3, generator) @ random_matrix(3, 8, generator), 0.05),
             "8 x 8 of rank 3, rel_error = 0.05"),
    ]  # fmt: skip


def _energy(W):
    return torch.linalg.svdvals(torch.as_tensor(W, dtype=torch.float64)) ** 2


def _first_k(values, test):
    """The smallest k in 0..n with ``test(k)``, n = len(values)."""
    return next(k for k in range(len(values) + 1) if test(k))


def _tail_error(W, k):
    e = _energy(W)
    return float(torch.sqrt(e[k:].sum() / e.sum()))


_RANK_MISTAKES = (
    Mistake(
        lambda W, eps: _first_k(_energy(W), lambda k: _tail_error(W, k) < eps),
        "used < instead of <=: a rank whose error is exactly rel_error is good enough",
        "the smallest k whose error is at most rel_error",
    ),
    Mistake(
        lambda W, eps: _first_k(_energy(W), lambda k: _tail_error(W, k) ** 2 <= eps),
        "compared the tail's share of the energy (the error squared) with rel_error",
        "the relative error is the square root of the tail's share of the energy",
    ),
    Mistake(
        lambda W, eps: _first_k(
            _energy(W),
            lambda k: float(_energy(W)[k:].sqrt().sum() / _energy(W).sqrt().sum()) <= eps,
        ),
        "measured the tail with the singular values themselves, not their squares",
        "the Frobenius norm adds squared singular values: the error is a tail of sigma_i^2",
    ),
    Mistake(
        lambda W, eps: _first_k(_energy(W), lambda k: _tail_error(W, k) <= eps) - 1,
        "returned the index of the last singular value kept (counting from 0), one less than k",
        "k counts the singular values kept: rank 0 keeps none, rank 1 keeps sigma_1",
    ),
    Mistake(
        lambda W, eps: int((_energy(W).sqrt() > eps * _energy(W)[0].sqrt()).sum()),
        "counted the singular values above rel_error * sigma_1 (a numerical rank), not the "
        "error of the truncation",
        "the error of keeping k terms is the energy of all the dropped ones together, "
        "relative to the whole matrix",
    ),
    Mistake(
        lambda W, eps: max(1, _first_k(_energy(W), lambda k: _tail_error(W, k) <= eps)),
        "never returned 0: with rel_error above 1 the empty approximation (k = 0, error 1) "
        "already qualifies",
        "start the search at k = 0",
    ),
    Mistake(
        lambda W, eps: _first_k(
            _energy(W),
            lambda k: float(torch.sqrt(_energy(W)[:k].sum() / _energy(W).sum())) >= 1 - eps,
        ),
        "asked the kept part to reach 1 - rel_error of the norm instead of the dropped part to "
        "be at most rel_error",
        "the error of the rank-k approximation is the norm of what it DROPS, relative to "
        "||W||_F (Eckart-Young)",
    ),
)

RANK_FOR_ERROR = register(
    Exercise(
        id="11.rank_for_error",
        title="The rank a given error needs",
        signature="rank_for_error(W, rel_error) -> smallest k with rank-k relative error <= "
        "rel_error",
        make_cases=_rank_cases,
        reference=reference_rank_for_error,
        compare=lambda expected, got, case: compare_integers(
            expected, got, case, mistakes=_RANK_MISTAKES
        ),
        hint="by Eckart-Young the best rank-k approximation keeps the k largest singular "
        "values, and its error is the energy of the ones it drops, relative to the total "
        "energy, square-rooted. That error only falls as k grows, so walk k up from 0 (or use "
        "a cumulative sum) and stop at the first k where it is small enough",
        tags=(CAPSTONE_TAG,),
    )
)


# ---------------------------------------------------------------------------------------------
# 11.what_stable_rank_misses (self-check)
# ---------------------------------------------------------------------------------------------

WHAT_STABLE_RANK_MISSES = register(
    choice_question(
        id="11.what_stable_rank_misses",
        title="What the stable rank does not tell",
        options={
            "a": "at most 2: the stable rank rounded up",
            "b": "at most 1.5 / 0.1^2 = 150",
            "c": "the stable rank alone bounds nothing: the other third of the energy may be "
            "spread over many tiny singular values, and nearly all of them must then be kept",
            "d": "exactly 1, because sigma_1^2 holds most of the energy",
        },
        correct="c",
        why_wrong={
            "a": "the stable rank is a ratio of energies, not a count of terms: it is 1.5 "
            "whether the remaining third sits in one singular value (k = 2 suffices) or is "
            "spread over hundreds (then nearly all of them are needed)",
            "b": "1.5 / eps^2 bounds how many singular values can be LARGER than eps * sigma_1 "
            "(each of them carries eps^2 sigma_1^2 of the energy); the error of a truncation "
            "counts the small ones too, all together, and a flat tail of 499 tiny values needs "
            "k = 486 (the cell after this check computes it)",
            "d": "keeping sigma_1 alone leaves a third of the energy, an error of sqrt(1/3) = "
            "0.58, far above 0.1",
        },
        hint="the error of keeping k terms is the energy of all the dropped ones together. "
        "Build two matrices of stable rank 1.5: one whose last third of the energy is a single "
        "singular value, one where it is spread over 499 equal ones",
    )
)
