"""Comparing a student's spectral initialization with the course's, up to singular-vector signs.

Singular vectors are defined up to a common sign per pair (u_k, v_k), so the comparison fixes
each pair's sign before comparing the layers, then compares the sign-free end-to-end product
``eps^L U_hat V_hat^T`` (Kwon et al. 2024, Sec. 3.2). Lesson 04's ``spectral_init`` and
Lesson 06's ``compressed_block`` are both judged with it.
"""

from __future__ import annotations

import torch

from .comparing import Case, Problem, _is_close, compare_arrays, to_tensor


def _svd(surrogate):
    return torch.linalg.svd(surrogate, full_matrices=False)


def layer_name(index: int, depth: int) -> str:
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
        name = layer_name(index, depth)
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
            expected[index], layers[index], case, name=layer_name(index, depth)
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
            "take both ends from the same SVD: a singular pair (u_k, v_k) flips its sign "
            "together or not at all",
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
            "torch.linalg.svd returns Vh = V^T, whose ROWS are the right singular vectors",
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
