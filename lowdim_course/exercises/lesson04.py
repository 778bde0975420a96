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
"""

from __future__ import annotations

import torch

from ..networks import compressed_param_count, spectral_init
from ..training import layer_learning_rates
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    _is_close,
    compare_arrays,
    compare_integers,
    random_matrix,
    register,
    seeded_generator,
    to_tensor,
)

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


def _svd(surrogate):
    return torch.linalg.svd(surrogate, full_matrices=False)


def _layer_name(index: int, depth: int) -> str:
    return "W_1" if index == 0 else ("W_L" if index == depth - 1 else f"W_{index + 1}")


def compare_spectral_init(expected, got, case: Case) -> Problem | None:
    """Compare two lists of layers; sign of each singular pair is free but must match."""
    surrogate, r_hat, depth, eps = case.args
    if isinstance(got, torch.Tensor | tuple) is False and not isinstance(got, list):
        return Problem(
            f"returned {type(got).__name__}, expected a list of {depth} layers",
            "return [W_1, W_2, ..., W_L] (a Python list of matrices)",
        )
    if isinstance(got, torch.Tensor):
        if got.ndim != 3:
            return Problem(
                f"returned one tensor of shape {tuple(got.shape)}, expected a list of {depth} "
                "layers",
                "return [W_1, W_2, ..., W_L] (a Python list of matrices)",
            )
        got = list(got)
    layers = []
    for index, layer in enumerate(got):
        tensor = to_tensor(layer, "a matrix")
        if isinstance(tensor, Problem):
            return Problem(f"layer {index + 1}: {tensor.what}")
        layers.append(tensor)
    if len(layers) != depth:
        return Problem(
            f"returned {len(layers)} layers for depth={depth} (off by one?)",
            "depth L means L layers: W_1, then L-2 middle layers eps I, then W_L",
        )
    for index, (want, have) in enumerate(zip(expected, layers, strict=True)):
        name = _layer_name(index, depth)
        if tuple(have.shape) != tuple(want.shape):
            transposed = tuple(have.shape) == tuple(want.shape)[::-1]
            return Problem(
                f"wrong shape of {name} (expected {tuple(want.shape)}, got {tuple(have.shape)})"
                + (": transposed?" if transposed else ""),
                "W_1 = eps V_hat^T is r_hat x d, the middle layers are r_hat x r_hat, "
                "W_L = eps U_hat is d x r_hat",
            )
        if not torch.isfinite(have).all():
            return Problem(f"NaN or infinity in {name}")
    u, _, vh = _svd(surrogate)
    u_hat, vt_hat = u[:, :r_hat], vh[:r_hat]
    first, last = layers[0], layers[-1]
    # the middle layers: eps times the identity
    for index in range(1, depth - 1):
        problem = compare_arrays(
            expected[index], layers[index], case, name=_layer_name(index, depth)
        )
        if problem is not None:
            return Problem(
                problem.what, "every middle layer is eps times the r_hat x r_hat identity"
            )
    # W_1 = eps V_hat^T up to a sign per row, W_L = eps U_hat up to a sign per column
    for name, have, basis, other, which in [
        ("W_1", first, vt_hat, u_hat.T, "right"),
        ("W_L", last.T, u_hat.T, vt_hat, "left"),
    ]:
        want = eps * basis
        signs = torch.sign((have * want).sum(dim=1, keepdim=True))
        signs[signs == 0] = 1
        if _is_close(want, signs * have, 1e-5, 1e-12):
            continue
        return _diagnose_factor(name, have, want, eps * other, eps, which, surrogate, r_hat)
    # consistent signs: the pair (u_k, v_k) must flip together
    product = last @ first
    if not _is_close(expected[-1] @ expected[0], product, 1e-5, 1e-12):
        return Problem(
            "W_L W_1 is not eps^2 U_hat V_hat^T: the signs of the singular vectors in W_1 and W_L "
            "do not match",
            "take U and V from the same SVD call; flipping u_k requires flipping v_k too",
        )
    return None


def _diagnose_factor(name, have, want, swapped, eps, which, surrogate, r_hat) -> Problem:
    """``have`` (rows are singular vectors up to sign) differs from ``want``: say how."""

    def matches_up_to_sign(candidate, rtol=1e-5):
        if candidate.shape != have.shape:
            return False
        signs = torch.sign((have * candidate).sum(dim=1, keepdim=True))
        signs[signs == 0] = 1
        return _is_close(candidate, signs * have, rtol, 1e-12)

    formula = "eps V_hat^T" if name == "W_1" else "eps U_hat"
    if matches_up_to_sign(swapped):
        other = "left" if which == "right" else "right"
        return Problem(
            f"{name} holds the {other} singular vectors",
            f"{name} = {formula}: the {which} singular vectors "
            f"({'rows of Vh' if which == 'right' else 'columns of U'} from torch.linalg.svd)",
        )
    u, _, vh = _svd(surrogate)
    bottom = (vh[-r_hat:] if which == "right" else u[:, -r_hat:].T) * eps
    if matches_up_to_sign(bottom.flip(0)) or matches_up_to_sign(bottom):
        return Problem(
            f"{name} holds the singular vectors of the SMALLEST singular values",
            "torch.linalg.svd sorts singular values in decreasing order: take the first r_hat",
        )
    if which == "right" and matches_up_to_sign(eps * vh[:, :r_hat].T):
        return Problem(
            "W_1 holds columns of Vh instead of rows",
            "torch.linalg.svd returns Vh = V^T: V_hat^T is Vh[:r_hat], the first r_hat rows",
        )
    denominator = (want * want).sum().item()
    ratio = (have.abs() * want.abs()).sum().item() / denominator if denominator else 0.0
    if ratio > 0 and matches_up_to_sign(ratio * want, rtol=1e-4):
        return Problem(
            f"{name} is off by a factor of about {ratio:.4g}",
            f"{name} = {formula}: the singular vectors scaled by eps (not by the singular values, "
            "not by eps^L)",
        )
    return Problem(
        f"{name} is not {formula}",
        f"{name} = {formula}, with U_hat, V_hat the top-r_hat singular vectors of the surrogate",
    )


SPECTRAL_INIT = register(
    Exercise(
        id="04.spectral_init",
        title="Spectral initialization of the compressed network",
        signature="spectral_init(surrogate, r_hat, depth, eps) -> [W_1, ..., W_L]",
        make_cases=_spectral_cases,
        reference=reference_spectral_init,
        compare=compare_spectral_init,
        hint="U, S, Vh = torch.linalg.svd(surrogate); W_1 = eps * Vh[:r_hat], "
        "W_L = eps * U[:, :r_hat], middle layers eps * torch.eye(r_hat)",
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
        hint="one rate per layer: [alpha * lr] + [lr] * (depth - 2) + [alpha * lr]",
    )
)
