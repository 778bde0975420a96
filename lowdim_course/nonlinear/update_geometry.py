"""How many dimensions a layer's update ``Delta = W_t - W_0`` uses, and when its subspace settles.

Kwon et al. (AISTATS 2024), abstract and Sec. 3: "for many deep models, updates to the weight
matrices occur within a low-dimensional invariant subspace"; for deep linear networks Lesson 03
proves it (``W_l(t) - (rho/eps) W_l(0)`` has rank at most 2r, Yaras et al. 2023). For a
nonlinear network there is no theorem, only measurement. With the singular values
``s_1 >= s_2 >= ...`` of Delta:

* **stable rank** ``||Delta||_F^2 / ||Delta||_2^2 = sum s_i^2 / s_1^2``
  (:func:`lowdim_course.rank_measures.stable_rank`);
* **numerical rank** at :data:`UPDATE_RTOL`: the number of ``s_i > UPDATE_RTOL s_1``
  (:func:`lowdim_course.rank_measures.numerical_rank`). The tolerance 1e-3 keeps every direction
  that carries at least a millionth of the top direction's energy. Float64 rounding moves a
  singular value by about ``1e-16 s_1``, so the count only changes under rounding when some
  ``s_i`` lies within that of the threshold (:func:`threshold_margin` says how close the
  nearest one is);
* **energy share** of the top k directions ``sum_{i<=k} s_i^2 / sum_i s_i^2``, the part of
  ``||Delta||_F^2`` the best rank-k approximation keeps (Eckart-Young), and
  :func:`rank_for_energy`, the smallest k whose share reaches a target (the k that
  :func:`lowdim_course.literature.compressibility.rank_for_error` gives at relative error
  ``sqrt(1 - share)``, Eckart-Young);
* **principal angles** between the top-k left (or right) singular subspaces of the update at
  step t and at the end of training (:func:`lowdim_course.theory.principal_angles`, Björck &
  Golub 1973), and the **settling step**: the first recorded step from which the largest angle
  stays at or below a threshold until the end;
* **captured share** ``||U_k^T Delta_T V_k||_F^2 / ||Delta_T||_F^2`` of the final update inside
  the top-k subspaces found at an earlier step: what training restricted to those subspaces
  from then on could at best have kept of where training went (:mod:`restricted_training`).
  Unlike the angles it does not depend on which of two nearly equal directions is the k-th.

A subspace spanned by the top k singular vectors is well defined only when ``s_k > s_{k+1}``;
where the two are nearly equal the k-th direction can swap with the next between two steps and
the largest angle jumps. :func:`spectral_gap` reports ``s_{k+1} / s_k`` so that a reader can see
it.
"""

from __future__ import annotations

import math

import torch

from ..rank_measures import numerical_rank, stable_rank
from ..theory.invariant_subspace import principal_angles
from ..validation import check_float, check_int, check_matrix

UPDATE_RTOL = 1e-3  # numerical rank: singular values above 1e-3 s_1 count
SETTLE_ANGLE = 0.2  # radians (about 11.5 degrees): a subspace within this of its end has settled
SIDES = ("left", "right")

__all__ = [
    "SETTLE_ANGLE",
    "SIDES",
    "UPDATE_RTOL",
    "captured_share",
    "energy_share",
    "largest_angle",
    "rank_for_energy",
    "settling_step",
    "spectral_gap",
    "stable_rank",
    "subspace_angles",
    "threshold_margin",
    "top_subspace",
    "update_rank",
    "update_spectrum",
]


def _update(delta, name: str = "delta") -> torch.Tensor:
    return check_matrix(name, delta).detach().to("cpu", torch.float64)


def update_spectrum(delta) -> torch.Tensor:
    """The singular values of the update, largest first (float64)."""
    return torch.linalg.svdvals(_update(delta))


def update_rank(delta, rtol: float = UPDATE_RTOL) -> int:
    """Numerical rank: how many singular values exceed ``rtol * s_1`` (0 for Delta = 0)."""
    return numerical_rank(_update(delta), rtol=check_float("rtol", rtol, low=0.0, high=1.0))


def threshold_margin(delta, rtol: float = UPDATE_RTOL) -> float:
    """``min_i |s_i / s_1 - rtol| / rtol``: how far, relatively, the nearest singular value sits
    from the numerical rank's threshold (the count is safe from rounding when this is >> 1e-12).
    """
    rtol = check_float("rtol", rtol, low=0.0, high=1.0, low_open=True)
    s = update_spectrum(delta)
    if s.numel() == 0 or s[0] <= 0:
        return math.inf
    return float(((s / s[0] - rtol).abs() / rtol).min())


def energy_share(delta, k: int) -> float:
    """``sum_{i<=k} s_i^2 / sum_i s_i^2``: the share of ``||Delta||_F^2`` in the top k directions.

    k runs from 0 (share 0) to ``min(m, n)`` (share 1); the zero matrix raises (0 / 0).
    """
    delta = _update(delta)
    k = check_int("k", k, low=0, high=min(delta.shape))
    energy = torch.linalg.svdvals(delta) ** 2
    total = energy.sum()
    if total <= 0:
        raise ValueError("delta must not be the zero matrix (its energy share is 0 / 0)")
    return float(energy[:k].sum() / total)


def rank_for_energy(delta, share: float) -> int:
    """The smallest k whose top-k directions hold at least ``share`` of ``||Delta||_F^2``.

    By Eckart-Young this is the smallest k whose best rank-k approximation has relative error
    at most ``sqrt(1 - share)``, ``compressibility.rank_for_error`` (tested to agree); it is
    computed here from the kept energy, ``sum_{i<=k} s_i^2 >= share sum_i s_i^2``, so that a
    share met exactly (diag(3, 1) keeps 0.9 with k = 1) is not lost to the square root's
    rounding. 0 for ``share = 0``.
    """
    share = check_float("share", share, low=0.0, high=1.0)
    energy = torch.linalg.svdvals(_update(delta)) ** 2
    total = energy.sum()
    if total <= 0:
        raise ValueError("delta must not be the zero matrix (its energy share is 0 / 0)")
    kept = torch.cat([torch.zeros(1, dtype=energy.dtype), torch.cumsum(energy, 0)])
    return int(torch.nonzero(kept >= share * total)[0, 0]) if share < 1 else _last_nonzero(energy)


def _last_nonzero(energy) -> int:
    return int((energy > 0).sum())


def top_subspace(delta, k: int, side: str = "left") -> torch.Tensor:
    """An orthonormal basis (columns) of the top-k left (``U_k``, m x k) or right (``V_k``,
    n x k) singular subspace of Delta."""
    delta = _update(delta)
    k = check_int("k", k, low=1, high=min(delta.shape))
    if side not in SIDES:
        raise ValueError(f"side must be one of 'left', 'right', got {side!r}")
    u, _, vh = torch.linalg.svd(delta, full_matrices=False)
    return u[:, :k] if side == "left" else vh[:k].mT


def spectral_gap(delta, k: int) -> float:
    """``s_{k+1} / s_k``: near 1 the top-k subspace is ill defined (0 when k = min(m, n))."""
    s = update_spectrum(delta)
    k = check_int("k", k, low=1, high=s.numel())
    if s[k - 1] <= 0:
        return math.nan
    return float(s[k] / s[k - 1]) if k < s.numel() else 0.0


def subspace_angles(basis_a, basis_b) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of two bases.

    :func:`lowdim_course.theory.principal_angles`: the cosines are the singular values of
    ``Q_a^T Q_b``, small angles taken from the sines (Björck & Golub 1973).
    """
    return principal_angles(_update(basis_a, "basis_a"), _update(basis_b, "basis_b"))


def largest_angle(delta_a, delta_b, k: int, side: str = "left") -> float:
    """The largest principal angle between the top-k subspaces (``side``) of two updates."""
    a, b = top_subspace(delta_a, k, side), top_subspace(delta_b, k, side)
    return float(subspace_angles(a, b).max())


def settling_step(steps, angles, threshold: float = SETTLE_ANGLE):
    """The first of ``steps`` from which every angle is ``<= threshold`` (None if the last is
    above it).

    ``angles[j]`` is the largest angle at ``steps[j]`` between a subspace and its end-of-training
    value; the last angle is usually 0 (the end compared with itself).
    """
    steps, angles = list(steps), [float(a) for a in angles]
    if len(steps) != len(angles) or not steps:
        raise ValueError(
            f"steps and angles must be equally long and not empty, got {len(steps)} and "
            f"{len(angles)}"
        )
    threshold = check_float("threshold", threshold, low=0.0, high=math.pi / 2)
    settled = None
    for step, angle in zip(reversed(steps), reversed(angles), strict=True):
        if not angle <= threshold:  # NaN counts as unsettled
            break
        settled = step
    return settled


def captured_share(delta_final, left, right) -> float:
    """``||U^T Delta V||_F^2 / ||Delta||_F^2``: the share of ``||Delta||_F^2`` inside the span of
    ``U`` (left, m x k) and ``V`` (right, n x k), both with orthonormal columns.

    1 when ``Delta = U C V^T``; at most ``energy_share(Delta, k)`` (Eckart-Young), reached by
    Delta's own top-k singular vectors.
    """
    delta = _update(delta_final, "delta_final")
    left, right = _update(left, "left"), _update(right, "right")
    if left.shape[0] != delta.shape[0] or right.shape[0] != delta.shape[1]:
        raise ValueError(
            f"left must have {delta.shape[0]} rows and right {delta.shape[1]} (the shape of "
            f"delta_final), got {left.shape[0]} and {right.shape[0]}"
        )
    total = torch.linalg.matrix_norm(delta) ** 2
    if total <= 0:
        raise ValueError("delta_final must not be the zero matrix (its share is 0 / 0)")
    return float(torch.linalg.matrix_norm(left.mT @ delta @ right) ** 2 / total)
