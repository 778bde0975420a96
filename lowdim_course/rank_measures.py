"""How many dimensions a matrix really uses: numerical, effective and stable rank.

For singular values ``sigma_1 >= sigma_2 >= ...`` of W:

* numerical rank: the number of ``sigma_k > rtol * sigma_1``;
* effective rank (Roy & Vetterli 2007; Ou et al. survey): ``exp(-sum_k p_k log p_k)`` with
  ``p_k = sigma_k / sum_j sigma_j``, the exponential of the entropy of the normalized spectrum;
* stable rank: ``||W||_F^2 / ||W||_2^2 = sum_k sigma_k^2 / sigma_1^2``.

This module sits in the package's lowest layer (it imports only ``validation``), so that
``problems`` can use ``numerical_rank``; ``lowdim_course.theory`` re-exports it.
"""

from __future__ import annotations

import torch

from .validation import check_float, check_matrix


def numerical_rank(matrix, rtol: float | None = None) -> int:
    """Number of singular values above ``rtol * sigma_max`` (default ``max(m, n) * machine eps``).

    The default tolerance is the one of ``numpy.linalg.matrix_rank``; the zero matrix has rank 0.
    """
    matrix = _float_matrix("matrix", matrix)
    s = torch.linalg.svdvals(matrix)
    if rtol is None:
        rtol = max(matrix.shape) * torch.finfo(matrix.dtype).eps
    else:
        rtol = check_float("rtol", rtol, low=0.0)
    if s.numel() == 0 or s[0] <= 0:
        return 0
    return int((s > rtol * s[0]).sum())


def effective_rank(matrix) -> float:
    """``erank(W) = exp(-sum_k p_k log p_k)``, ``p_k = sigma_k / sum_j sigma_j``.

    Roy & Vetterli, "The effective rank: a measure of effective dimensionality" (EUSIPCO 2007),
    Between 1 (rank one) and the number of nonzero singular values (all equal);
    0 for the zero matrix.
    """
    return effective_rank_of_spectrum(torch.linalg.svdvals(_float_matrix("matrix", matrix)))


def effective_rank_of_spectrum(singular_values) -> float:
    """The effective rank from given singular values (any order, all >= 0)."""
    s = torch.as_tensor(singular_values)
    if not s.is_floating_point():
        s = s.to(torch.float64)
    if s.ndim != 1 or not torch.isfinite(s).all() or (s < 0).any():
        raise ValueError("singular_values must be a 1-D list of finite numbers >= 0")
    total = s.sum()
    if total <= 0:
        return 0.0
    p = s / total
    entropy = -torch.special.xlogy(p, p).sum()
    return float(torch.exp(entropy))


def stable_rank(matrix) -> float:
    """``srank(W) = ||W||_F^2 / ||W||_2^2`` (Rudelson & Vershynin 2007); 0 for the zero matrix."""
    s = torch.linalg.svdvals(_float_matrix("matrix", matrix))
    if s.numel() == 0 or s[0] <= 0:
        return 0.0
    return float((s * s).sum() / (s[0] * s[0]))


def effective_rank_over_training(history) -> torch.Tensor:
    """Effective rank of the end-to-end matrix at each logged step of a ``History``.

    Reads ``history.singular_values`` (one row per ``history.log_iterations`` entry) and returns
    a float64 CPU tensor of the same length.
    """
    return _over_training(history, effective_rank_of_spectrum)


def stable_rank_over_training(history) -> torch.Tensor:
    """Stable rank ``sum sigma^2 / sigma_1^2`` of the end-to-end matrix at each logged step."""

    def from_spectrum(s):
        s = s.to(torch.float64)
        return float((s * s).sum() / s.max() ** 2) if s.numel() and s.max() > 0 else 0.0

    return _over_training(history, from_spectrum)


def _over_training(history, measure) -> torch.Tensor:
    spectra = getattr(history, "singular_values", None)
    if spectra is None:
        raise ValueError(f"history must be a History from lowdim_course.train, got {history!r}")
    return torch.tensor([measure(s.cpu()) for s in spectra], dtype=torch.float64)


def _float_matrix(name, matrix) -> torch.Tensor:
    matrix = check_matrix(name, matrix)
    return matrix if matrix.is_floating_point() else matrix.to(torch.float64)
