"""Lesson 02 exercises: deep mode dynamics and the effective rank.

* ``02.deep_mode_rhs``: the speed of a mode of an L-layer network from a balanced init,
  ``du/dt = lr L u^{2-2/L} (s - u)`` per gradient step (Saxe et al. 2014; Arora et al. 2019,
  Thm. 3); reference :func:`lowdim_course.theory.deep_dynamics.deep_mode_rhs`.
* ``02.effective_rank``: ``erank(W) = exp(-sum_k p_k log p_k)`` with
  ``p_k = sigma_k / sum_j sigma_j`` (Roy & Vetterli 2007, Def. 1; ``0 log 0 = 0``); reference
  :func:`lowdim_course.theory.rank_measures.effective_rank`.

The theory package is imported when a check runs, not when this module is imported.
"""

from __future__ import annotations

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


def reference_deep_mode_rhs(u, s, depth, lr):
    from ..theory.deep_dynamics import deep_mode_rhs

    return deep_mode_rhs(u, s, depth, lr)


def reference_effective_rank(matrix):
    from ..theory.rank_measures import effective_rank

    return effective_rank(matrix)


def _rhs(u, s, depth, lr, *, factor=None, exponent=None):
    factor = depth if factor is None else factor
    exponent = 2.0 - 2.0 / depth if exponent is None else exponent
    return lr * factor * u**exponent * (s - u)


def _rhs_cases() -> list[Case]:
    settings = [(5.0, 3, 1e-3), (1.0, 2, 0.1), (2.0, 4, 0.01), (3.0, 5, 0.5), (0.5, 3, 2.0)]
    cases = []
    for s, depth, lr in settings:
        u = torch.linspace(0.02 * s, 0.98 * s, 6, dtype=torch.float64)
        label = f"s={s:g}, depth={depth}, lr={lr:g}, u = a tensor of 6 values in (0, s)"
        cases.append(Case((u, s, depth, lr), label))
    return cases


_RHS_MISTAKES = (
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth - 1, lr),
        "this is the formula for depth L-1 (off by one in the depth)",
        "use the depth L as given: factor L and exponent 2 - 2/L",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth + 1, lr),
        "this is the formula for depth L+1 (off by one in the depth)",
        "use the depth L as given: factor L and exponent 2 - 2/L",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, lr, exponent=2.0 / depth),
        "the exponent is 2/L; it should be 2 - 2/L",
        "u^{2-2/L}: for L = 2 this is u^1, the two-layer law 2u(s - u)",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, lr, exponent=2.0 - 1.0 / depth),
        "the exponent is 2 - 1/L; it should be 2 - 2/L",
        "u^{2-2/L}: for L = 2 this is u^1, the two-layer law 2u(s - u)",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, lr, factor=1),
        "the factor L is missing",
        "du/dt = lr * L * u^{2-2/L} * (s - u)",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, 1.0),
        "the learning rate is missing",
        "per gradient step the speed is multiplied by lr (tau = 1/lr)",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, 1.0 / lr),
        "divided by the learning rate instead of multiplying",
        "tau du/dt = ... with tau = 1/lr, so du/dt = lr * (...)",
    ),
)

DEEP_MODE_RHS = register(
    Exercise(
        id="02.deep_mode_rhs",
        title="How fast a mode of a deep network grows",
        signature="deep_mode_rhs(u, s, depth, lr) -> lr L u^{2-2/L} (s - u)",
        make_cases=_rhs_cases,
        reference=reference_deep_mode_rhs,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_RHS_MISTAKES, name="du/dt"
        ),
        hint="du/dt = lr * L * u ** (2 - 2 / L) * (s - u), elementwise on the tensor u",
    )
)


def _erank_cases() -> list[Case]:
    generator = seeded_generator(2000)
    diagonal = torch.diag(torch.tensor([3.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    orthogonal, _ = torch.linalg.qr(random_matrix(5, 5, generator))
    column = random_matrix(6, 1, generator)
    row = random_matrix(1, 4, generator)
    decaying = random_matrix(7, 7, generator) @ torch.diag(
        torch.tensor([2.0**-k for k in range(7)], dtype=torch.float64)
    )
    return [
        Case((random_matrix(6, 6, generator),), "a 6 x 6 Gaussian matrix"),
        Case((diagonal,), "diag(3, 1, 0, 0): two singular values are exactly 0"),
        Case((random_matrix(5, 8, generator),), "a 5 x 8 Gaussian matrix"),
        Case((2.0 * orthogonal,), "2 x an orthogonal 5 x 5 matrix (all singular values equal)"),
        Case((decaying,), "a 7 x 7 matrix with decaying columns"),
        Case((column @ row,), "a 6 x 4 matrix of rank one"),
    ]


def _spectrum(matrix):
    return torch.linalg.svdvals(matrix)


def _entropy(p):
    p = p[p > 0]
    return -(p * torch.log(p)).sum()


_ERANK_MISTAKES = (
    Mistake(
        lambda w: _entropy(_spectrum(w) / _spectrum(w).sum()),
        "returned the entropy -sum p_k log p_k: the exp is missing",
        "the effective rank is exp(entropy)",
    ),
    Mistake(
        lambda w: torch.exp(-_entropy(_spectrum(w) / _spectrum(w).sum())),
        "exp(+sum p_k log p_k): the minus sign is missing (this is 1/erank)",
        "erank = exp(-sum_k p_k log p_k), the minus makes it >= 1",
    ),
    Mistake(
        lambda w: torch.exp(_entropy(_spectrum(w) ** 2 / (_spectrum(w) ** 2).sum())),
        "p_k from the squared singular values",
        "p_k = sigma_k / sum_j sigma_j, the singular values themselves (not squared)",
    ),
    Mistake(
        lambda w: 2.0 ** _entropy(_spectrum(w) / _spectrum(w).sum()),
        "2 ** entropy: the entropy is in nats, so the base is e",
        "use the natural log and torch.exp",
    ),
    Mistake(
        lambda w: torch.exp(_entropy(_spectrum(w) / _spectrum(w).max())),
        "p_k normalized by the largest singular value instead of the sum",
        "p_k = sigma_k / sum_j sigma_j, so that the p_k sum to 1",
    ),
)

EFFECTIVE_RANK = register(
    Exercise(
        id="02.effective_rank",
        title="The effective rank",
        signature="effective_rank(W) -> exp(-sum_k p_k log p_k), p_k = sigma_k / sum_j sigma_j",
        make_cases=_erank_cases,
        reference=reference_effective_rank,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            mistakes=_ERANK_MISTAKES,
            name="the effective rank",
            nan_hint="0 log 0 counts as 0: drop the zero singular values (p = p[p > 0]) or use "
            "torch.special.xlogy(p, p)",
        ),
        hint="sigma = torch.linalg.svdvals(W); p = sigma / sigma.sum(); "
        "exp(-(p * log p).sum()) over the p > 0",
    )
)
