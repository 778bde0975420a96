"""Lesson 00 exercises: the end-to-end matrix of a deep linear network and the recovery error.

* ``00.end_to_end``: ``end_to_end(layers) -> W_L ... W_1`` for ``layers = [W_1, ..., W_L]``
  (input side first, Kwon et al. 2024, Sec. 2). Reference:
  :meth:`lowdim_course.networks.DeepLinearNetwork.end_to_end`.
* ``00.recovery_error``: ``recovery_error(W, M_star) -> ||W - M*||_F / ||M*||_F``, the one error
  every task reports (``problems.RecoveryProblem.recovery_error``).
"""

from __future__ import annotations

import functools

import torch

from ..networks import DeepLinearNetwork
from .framework import (
    Case,
    Exercise,
    Mistake,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
)

# ---------------------------------------------------------------------------------------------
# 00.end_to_end
# ---------------------------------------------------------------------------------------------


def reference_end_to_end(layers) -> torch.Tensor:
    """``W_{L:1} = W_L ... W_1``, computed by the core's network."""
    return DeepLinearNetwork(layers).end_to_end()


def _end_to_end_cases() -> list[Case]:
    generator = seeded_generator(1000)
    # square layers first, so a product in the wrong order still has the right shape and the
    # check can name the mistake; then layers of different widths
    shapes = [
        [(4, 4), (4, 4), (4, 4)],
        [(5, 5), (5, 5)],
        [(3, 3), (3, 3), (3, 3), (3, 3)],
        [(2, 6), (4, 2), (5, 4)],
        [(3, 7), (3, 3), (3, 3), (7, 3)],
    ]
    cases = []
    for layer_shapes in shapes:
        layers = [random_matrix(rows, cols, generator) for rows, cols in layer_shapes]
        widths = " -> ".join(str(s[1]) for s in layer_shapes[:1]) + "".join(
            f" -> {s[0]}" for s in layer_shapes
        )
        cases.append(Case((layers,), f"depth {len(layers)}, widths {widths}"))
    return cases


def _product(matrices) -> torch.Tensor:
    return functools.reduce(torch.matmul, matrices)


_END_TO_END_MISTAKES = (
    Mistake(
        lambda layers: _product(layers),
        "multiplied in the wrong order: this is W_1 W_2 ... W_L",
        "the first layer acts first, so it stands on the right: W_L ... W_2 W_1",
    ),
    Mistake(
        lambda layers: _product(layers[::-1][:-1]),
        "left out the first layer W_1",
        "multiply all L layers: check where your loop starts (off by one?)",
    ),
    Mistake(
        lambda layers: _product(layers[::-1][1:]),
        "left out the last layer W_L",
        "multiply all L layers: check where your loop ends (off by one?)",
    ),
    Mistake(
        lambda layers: functools.reduce(torch.mul, layers),
        "multiplied entry by entry (the `*` operator)",
        "use the matrix product `@` (or torch.matmul), not `*`",
    ),
)

END_TO_END = register(
    Exercise(
        id="00.end_to_end",
        title="The end-to-end matrix of a deep linear network",
        signature="end_to_end(layers: list of L matrices [W_1, ..., W_L]) -> W_L ... W_1",
        make_cases=_end_to_end_cases,
        reference=reference_end_to_end,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_END_TO_END_MISTAKES, name="the end-to-end matrix"
        ),
        hint="the first layer acts first, so it stands on the right: go through the layers in "
        "order and put each new one on the left of the product so far",
    )
)


# ---------------------------------------------------------------------------------------------
# 00.recovery_error
# ---------------------------------------------------------------------------------------------


def reference_recovery_error(end_to_end, target) -> torch.Tensor:
    """``||W - M*||_F / ||M*||_F`` (``problems.RecoveryProblem.recovery_error``)."""
    return torch.linalg.matrix_norm(end_to_end - target) / torch.linalg.matrix_norm(target)


def _recovery_cases() -> list[Case]:
    generator = seeded_generator(1001)
    cases = []
    for d, scale, noise in [(6, 1.0, 0.3), (10, 3.0, 0.05), (5, 0.2, 1.0), (8, 10.0, 2.0)]:
        target = scale * random_matrix(d, d, generator)
        estimate = target + noise * scale * random_matrix(d, d, generator)
        cases.append(Case((estimate, target), f"{d} x {d}, ||M*||_F = {target.norm():.3g}"))
    generator_rect = seeded_generator(1002)
    target = 2.0 * random_matrix(4, 7, generator_rect)
    cases.append(Case((target + random_matrix(4, 7, generator_rect), target), "4 x 7 matrices"))
    return cases


def _fro(matrix):
    return torch.linalg.matrix_norm(matrix)


_RECOVERY_MISTAKES = (
    Mistake(
        lambda w, m: _fro(w - m),
        "forgot to divide by ||M*||_F (this is the absolute error)",
        "the recovery error is relative: divide by the norm of the target",
    ),
    Mistake(
        lambda w, m: _fro(w - m) ** 2 / _fro(m) ** 2,
        "squared the norms",
        "take the Frobenius norms themselves, not their squares",
    ),
    Mistake(
        lambda w, m: _fro(w - m) / _fro(w),
        "divided by ||W||_F instead of ||M*||_F",
        "normalize by the target M*, not by the estimate",
    ),
    Mistake(
        lambda w, m: torch.linalg.matrix_norm(w - m, ord=2) / torch.linalg.matrix_norm(m, ord=2),
        "used the spectral norm (largest singular value)",
        "use the Frobenius norm (all entries squared and summed), which is the default matrix "
        "norm in torch.linalg, not the largest singular value",
    ),
    Mistake(
        lambda w, m: _fro(w - m) ** 2 / _fro(m),
        "squared the numerator",
        "take the norm ||W - M*||_F, not its square",
    ),
)

RECOVERY_ERROR = register(
    Exercise(
        id="00.recovery_error",
        title="The recovery error",
        signature="recovery_error(W, M_star) -> ||W - M*||_F / ||M*||_F",
        make_cases=_recovery_cases,
        reference=reference_recovery_error,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_RECOVERY_MISTAKES, name="the recovery error"
        ),
        hint="the Frobenius norm is the square root of the sum of squared entries; divide the "
        "norm of the difference by the norm of the target",
    )
)
