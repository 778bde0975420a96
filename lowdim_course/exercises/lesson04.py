"""Lesson 04 exercises: the compressed network's spectral init, its size, its learning rates.

* ``04.spectral_init``: ``spectral_init(surrogate, r_hat, depth, eps) -> [W_1, ..., W_L]`` with
  ``surrogate = U S V^T``: ``W_1 = eps V_hat^T`` (r_hat x d), ``W_l = eps I`` for 1 < l < L,
  ``W_L = eps U_hat`` (d x r_hat), U_hat, V_hat the top-r_hat singular vectors (Kwon et al.
  2024, Sec. 3.2). Reference: :func:`lowdim_course.networks.spectral_init`. Singular vectors are
  defined up to a common sign per pair (u_k, v_k), so the check fixes each pair's sign before
  comparing the layers, then compares the sign-free end-to-end product ``eps^L U_hat V_hat^T``.
* ``04.compressed_param_count``: ``2 d r_hat + (L - 2) r_hat^2``
  (:func:`lowdim_course.networks.compressed_param_count`).
* ``04.layer_learning_rates``: ``[alpha lr, lr, ..., lr, alpha lr]``, the discrepant learning
  rate (:func:`lowdim_course.training.layer_learning_rates`).
* ``04.narrow_width`` (self-check): the final error of a compressed network narrower than the
  target's rank, from Section 3's decoupled modes (``narrow_width_answer``).
"""

from __future__ import annotations

from ..networks import compressed_param_count, spectral_init
from ..training import layer_learning_rates
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

# the capstone lives in its own module: importing it registers it
from .lesson04_capstone import (  # noqa: F401
    COMPRESSED_GD_STEP,
    reference_compressed_gd_step,
)
from .self_check import number_question
from .spectral_layers import compare_spectral_init

# ---------------------------------------------------------------------------------------------
# 04.spectral_init
# ---------------------------------------------------------------------------------------------


def reference_spectral_init(surrogate, r_hat, depth, eps):
    return spectral_init(surrogate, r_hat, depth, eps)


def _spectral_cases() -> list[Case]:
    generator = seeded_generator(4000)
    settings = [  # (d_out, d_in, r_hat, depth, eps)
        (8, 8, 3, 3, 0.1),
        (12, 12, 4, 2, 1e-2),
        (10, 10, 2, 4, 0.5),
        (20, 20, 6, 3, 1e-2),
        (6, 9, 3, 3, 0.2),
    ]
    cases = []
    for d_out, d_in, r_hat, depth, eps in settings:
        surrogate = random_matrix(d_out, d_in, generator)
        size = f"{d_out} x {d_in}" if d_out != d_in else f"d={d_in}"
        cases.append(
            Case((surrogate, r_hat, depth, eps), f"{size}, r_hat={r_hat}, depth={depth}, eps={eps}")
        )
    return cases


SPECTRAL_INIT = register(
    Exercise(
        id="04.spectral_init",
        title="Spectral initialization of the compressed network",
        signature="spectral_init(surrogate, r_hat, depth, eps) -> [W_1, ..., W_L]",
        make_cases=_spectral_cases,
        reference=reference_spectral_init,
        compare=compare_spectral_init,
        hint="one SVD of the surrogate gives both ends: the first layer holds the top r_hat "
        "right singular vectors as its rows, the last layer the top r_hat left singular vectors "
        "as its columns, each scaled by eps; every middle layer is eps times the identity",
    )
)


# ---------------------------------------------------------------------------------------------
# 04.compressed_param_count
# ---------------------------------------------------------------------------------------------


def _count_cases() -> list[Case]:
    return [
        Case((100, 20, 3), "d=100, r_hat=20, depth=3"),
        Case((50, 10, 2), "d=50, r_hat=10, depth=2"),
        Case((30, 7, 5), "d=30, r_hat=7, depth=5"),
        Case((64, 8, 4), "d=64, r_hat=8, depth=4"),
        Case((10, 10, 6), "d=10, r_hat=10, depth=6"),
    ]


_COUNT_MISTAKES = (
    Mistake(
        lambda d, r, depth: 2 * d * r + (depth - 1) * r * r,
        "counted L-1 middle layers (off by one in the depth)",
        "the first and the last layer are not middle layers: there are L-2 of them",
    ),
    Mistake(
        lambda d, r, depth: 2 * d * r + depth * r * r,
        "counted L middle layers (off by one in the depth)",
        "the first and the last layer are not middle layers: there are L-2 of them",
    ),
    Mistake(
        lambda d, r, depth: 2 * d * r + (depth - 3) * r * r,
        "counted L-3 middle layers (off by one in the depth)",
        "there are L-2 middle layers, each r_hat x r_hat",
    ),
    Mistake(
        lambda d, r, depth: d * r + (depth - 2) * r * r,
        "counted only one of the two d x r_hat end layers",
        "W_1 (r_hat x d) and W_L (d x r_hat) have d r_hat parameters each",
    ),
    Mistake(
        lambda d, r, depth: depth * d * d,
        "this is the ORIGINAL network's count L d^2",
        "the compressed network has width r_hat: 2 d r_hat + (L - 2) r_hat^2",
    ),
    Mistake(
        lambda d, r, depth: 2 * d * r + (depth - 2) * r,
        "counted r_hat (not r_hat^2) parameters per middle layer",
        "a middle layer is an r_hat x r_hat matrix",
    ),
)

COMPRESSED_PARAM_COUNT = register(
    Exercise(
        id="04.compressed_param_count",
        title="Parameters of the compressed network",
        signature="compressed_param_count(d, r_hat, depth) -> int",
        make_cases=_count_cases,
        reference=compressed_param_count,
        compare=lambda expected, got, case: compare_integers(
            expected, got, case, mistakes=_COUNT_MISTAKES
        ),
        hint="add up the layer sizes: W_1 is r_hat x d, L-2 middle layers r_hat x r_hat, "
        "W_L is d x r_hat",
    )
)


# ---------------------------------------------------------------------------------------------
# 04.layer_learning_rates
# ---------------------------------------------------------------------------------------------


def _rates_cases() -> list[Case]:
    return [
        Case((3, 50.0, 5.0), "depth=3, lr=50, alpha=5"),
        Case((2, 0.1, 3.0), "depth=2, lr=0.1, alpha=3"),
        Case((5, 10.0, 2.0), "depth=5, lr=10, alpha=2"),
        Case((4, 1e-3, 0.5), "depth=4, lr=1e-3, alpha=0.5"),
        Case((3, 2.0, 1.0), "depth=3, lr=2, alpha=1"),
    ]


def _rates(depth, first, middle, last):
    return [first] + [middle] * (depth - 2) + [last] if depth >= 2 else [first]


_RATES_MISTAKES = (
    Mistake(
        lambda depth, lr, alpha: _rates(depth, alpha * lr, lr, lr),
        "alpha is applied to the first layer only",
        "the first AND the last layer step with alpha * lr",
    ),
    Mistake(
        lambda depth, lr, alpha: _rates(depth, lr, lr, alpha * lr),
        "alpha is applied to the last layer only",
        "the first AND the last layer step with alpha * lr",
    ),
    Mistake(
        lambda depth, lr, alpha: _rates(depth, lr, alpha * lr, lr),
        "alpha is applied to the middle layers instead of the end layers",
        "the middle layers keep lr; the first and last layers get alpha * lr",
    ),
    Mistake(
        lambda depth, lr, alpha: _rates(depth, lr / alpha, lr, lr / alpha),
        "divided by alpha instead of multiplying",
        "the end layers step with alpha * lr",
    ),
    Mistake(
        lambda depth, lr, alpha: _rates(depth, alpha, lr, alpha),
        "the end layers get alpha itself, not alpha * lr",
        "alpha is a factor on the learning rate: alpha * lr",
    ),
)

LAYER_LEARNING_RATES = register(
    Exercise(
        id="04.layer_learning_rates",
        title="The discrepant learning rate",
        signature="layer_learning_rates(depth, lr, alpha) -> [alpha lr, lr, ..., lr, alpha lr]",
        make_cases=_rates_cases,
        reference=layer_learning_rates,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            mistakes=_RATES_MISTAKES,
            name="the list of learning rates",
            rtol=1e-6,
        ),
        hint="one rate per layer, first layer first: the two end layers step alpha times "
        "further than the depth - 2 middle layers, which keep lr",
    )
)


# 04.narrow_width: a compressed network narrower than the target's rank, for factorization.
# Target singular values (6, 3, 2, 1), r_hat = 2: Section 3's modes are decoupled and the
# spectral initialization holds the top two pairs, so modes 1 and 2 settle at 6 and 3 and modes
# 3 and 4 do not exist: the error ends at sqrt(2^2 + 1^2) / sqrt(6^2 + 3^2 + 2^2 + 1^2).
NARROW_SINGULAR_VALUES = (6.0, 3.0, 2.0, 1.0)
NARROW_WIDTH_RHAT = 2


def narrow_width_answer(singular_values=NARROW_SINGULAR_VALUES, r_hat=NARROW_WIDTH_RHAT):
    """The final recovery error of a width-``r_hat`` compressed network on a factorization
    target with these singular values: the norm of the modes it lacks over ``||M*||_F``."""
    missing = sum(s * s for s in singular_values[r_hat:])
    return (missing / sum(s * s for s in singular_values)) ** 0.5


NARROW_WIDTH = register(
    number_question(
        id="04.narrow_width",
        title="A compressed network narrower than the target's rank",
        answer=narrow_width_answer(),
        mistakes={
            0.0: "the network cannot learn a mode it does not have: with r_hat = 2 it holds "
            "only the surrogate's top two singular pairs, and Section 3's modes do not "
            "interact, so nothing else ever grows",
            0.1: "that is the squared ratio ||W - M*||^2 / ||M*||^2; the recovery error is the "
            "ratio of the Frobenius norms themselves",
            5**0.5: "that is ||W - M*||_F itself; the recovery error divides it by ||M*||_F",
            0.5: "half the modes are missing, but not half the error: each missing mode counts "
            "with its singular value squared",
            (45 / 50) ** 0.5: "the spectral initialization holds the TOP singular pairs: the "
            "network learns 6 and 3 and lacks 2 and 1",
        },
        hint="Section 3: each of the r_hat modes settles at its own s_i and no other direction "
        "ever moves; the error is what is left of M* along the directions the network lacks",
        rtol=0.01,
    )
)
