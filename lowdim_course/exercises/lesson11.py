"""Lesson 11 exercises: the stable rank and Hoyer's sparsity.

* ``11.stable_rank``: ``stable_rank(W) = ||W||_F^2 / ||W||_2^2 = sum sigma_k^2 / sigma_1^2``
  (Rudelson & Vershynin 2007); reference :func:`lowdim_course.theory.rank_measures.stable_rank`
  (Lesson 02's exercise is the effective rank; this one is its cousin).
* ``11.hoyer_sparsity``: ``(sqrt(n) - ||x||_1 / ||x||_2) / (sqrt(n) - 1)`` over all entries
  (Hoyer 2004); reference :func:`lowdim_course.literature.compressibility.hoyer_sparsity`.
"""

from __future__ import annotations

import math

import torch

from .framework import (
    Case,
    Exercise,
    Mistake,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
)


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
        "square both norms: sum sigma^2 / sigma_1^2",
    ),
    Mistake(
        lambda w: float(_s(w).sum() / _s(w)[0]),
        "returned sum sigma / sigma_1 (nuclear over spectral norm)",
        "the stable rank uses squares: ||W||_F^2 = sum sigma_k^2",
    ),
    Mistake(
        lambda w: float(_s(w).pow(2).sum() / _s(w)[-1] ** 2),
        "divided by the SMALLEST singular value squared",
        "||W||_2 is the largest singular value, svdvals(W)[0]",
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
        hint="s = torch.linalg.svdvals(W); (s**2).sum() / s[0]**2",
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
        "map it to [0, 1]: (sqrt(n) - ratio) / (sqrt(n) - 1)",
    ),
    Mistake(
        lambda x: float(
            (math.sqrt(_flat(x).numel()) - _flat(x).sum().abs() / _flat(x).norm())
            / (math.sqrt(_flat(x).numel()) - 1)
        ),
        "used |sum x| instead of sum |x| for the l1 norm",
        "||x||_1 = x.abs().sum()",
    ),
    Mistake(
        lambda x: float(1 - _flat(x).abs().sum() / _flat(x).norm() / math.sqrt(_flat(x).numel())),
        "returned 1 - ratio / sqrt(n) (does not reach 1 for a single nonzero)",
        "Hoyer's measure is (sqrt(n) - ratio) / (sqrt(n) - 1)",
    ),
    Mistake(
        lambda x: float(
            (math.sqrt(_flat(x).numel()) - _flat(x).norm() / _flat(x).abs().sum())
            / (math.sqrt(_flat(x).numel()) - 1)
        ),
        "used ||x||_2 / ||x||_1 (the ratio upside down)",
        "the ratio is ||x||_1 / ||x||_2, which lies between 1 and sqrt(n)",
    ),
)

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
            rtol=1e-9,
            atol=1e-12,
            mistakes=_HOYER_MISTAKES,
            name="the sparsity",
        ),
        hint="x = x.flatten(); n = x.numel(); (sqrt(n) - x.abs().sum() / x.norm()) / (sqrt(n) - 1)",
    )
)
