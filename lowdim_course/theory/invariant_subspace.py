"""The invariant low-dimensional subspace of deep matrix factorization, and its scalar modes.

Yaras, Wang, Hu, Zhu, Balzano & Qu (2023, "The law of parsimony in gradient descent for learning
deep linear networks") and Kwon et al. (AISTATS 2024), Sec. 3: for
matrix factorization with a rank-r target, ``d >= 2r`` and ``W_l(0) = eps O_l`` (O_l orthogonal),
gradient descent with step eta on the summed loss ``1/2 ||W_{L:1} - M||_F^2`` and weight decay
lam keeps every layer of the form

    ``W_l(t) = U_l diag(W~_l(t), rho(t) I_{d-2r}) V_l^T``,  U_l, V_l fixed, ``V_{l+1} = U_l``,

with ``rho(t+1) = rho(t) (1 - eta lam - eta rho(t)^{2(L-1)})``, ``rho(0) = eps``. So d - 2r
singular values of each layer equal rho(t), and ``W_l(t) - (rho/eps) W_l(0)`` has rank <= 2r:
only a 2r-dimensional part of each layer ever learns.

The core's losses are means for MF (``1/2 mean``), so its step lr is ``eta = lr / d^2`` here, and
its weight decay ``lambda`` (applied with step lr) is ``lam = lambda d^2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..validation import check_float, check_int, check_matrix, check_positive
from ._common import check_depth, check_scalar, check_singular_values


def rho_trajectory(eps, eta, depth, steps, weight_decay: float = 0.0) -> torch.Tensor:
    """``rho(t+1) = rho(t) (1 - eta lam - eta rho(t)^{2(L-1)})``, ``rho(0) = eps``, t = 0..steps.

    Yaras et al. (2023): the scale of the d - 2r directions that never learn. Returns a
    float64 CPU tensor of length ``steps + 1``.
    """
    eps = check_positive("eps", check_scalar("eps", eps))
    eta = check_positive("eta", check_scalar("eta", eta))
    depth = check_depth(depth)
    steps = check_int("steps", steps, low=0)
    weight_decay = check_float("weight_decay", check_scalar("weight_decay", weight_decay), low=0.0)
    values = [eps]
    rho = eps
    for _ in range(steps):
        rho = rho * (1.0 - eta * weight_decay - eta * rho ** (2 * (depth - 1)))
        values.append(rho)
    return torch.tensor(values, dtype=torch.float64)


def count_singular_values_at(layer, rho, rtol: float = 1e-9) -> int:
    """How many singular values sigma of ``layer`` satisfy ``|sigma - rho| <= rtol * rho``."""
    layer = _float_matrix("layer", layer)
    rho = check_positive("rho", check_scalar("rho", rho))
    rtol = check_float("rtol", rtol, low=0.0)
    sigma = torch.linalg.svdvals(layer)
    return int(((sigma - rho).abs() <= rtol * rho).sum())


def moved_part(layer_t, layer_0, rho, eps) -> torch.Tensor:
    """``W_l(t) - (rho(t)/eps) W_l(0)``: what learning added beyond the shrinking init.

    By Yaras et al. (2023) it is ``U_l diag(W~_l(t) - (rho/eps) W~_l(0), 0) V_l^T``, of
    rank at most 2r.
    """
    layer_t = _float_matrix("layer_t", layer_t)
    layer_0 = check_matrix("layer_0", layer_0, shape=tuple(layer_t.shape)).to(layer_t)
    rho = check_positive("rho", check_scalar("rho", rho))
    eps = check_positive("eps", check_scalar("eps", eps))
    return layer_t - (rho / eps) * layer_0


def moved_rank(layer_t, layer_0, rho, eps, rtol: float = 1e-10) -> int:
    """Numerical rank of ``moved_part``: singular values above ``rtol * ||W_l(t)||_2`` count.

    The threshold is relative to the layer, not to the moved part, because rounding errors are
    of the size of the layer's entries (the moved part is tiny early on).
    """
    rtol = check_float("rtol", rtol, low=0.0)
    moved = moved_part(layer_t, layer_0, rho, eps)
    scale = torch.linalg.matrix_norm(torch.as_tensor(layer_t).to(moved), ord=2)
    sigma = torch.linalg.svdvals(moved)
    return int((sigma > rtol * scale).sum())


def estimate_rho(layer, rtol: float = 1e-9) -> tuple[float, int]:
    """``(rho, count)``: the value shared by the largest group of equal singular values.

    Yaras et al. (2023), Thm. 1: d - 2r singular values of every layer equal rho(t), the others
    are spread out; so rho can be read off a layer without knowing r. Two singular values count
    as equal when ``|sigma_j - sigma_i| <= rtol sigma_i``; rho is the mean of the largest group
    (ties: the group of the larger value) and ``count`` its size.
    """
    layer = _float_matrix("layer", layer)
    rtol = check_float("rtol", rtol, low=0.0)
    sigma = torch.linalg.svdvals(layer)
    close = (sigma[None, :] - sigma[:, None]).abs() <= rtol * sigma[:, None]
    sizes = close.sum(1)
    best = int(torch.argmax(sizes))
    return float(sigma[close[best]].mean()), int(sizes[best])


def measure_layer(layer_t, layer_0, eps, rtol: float = 1e-9, moved_rtol: float = 1e-10):
    """``(rho_hat, moved rank)`` of one layer of a run from ``W_l(0) = eps O_l``, r unknown.

    ``rho_hat`` from :func:`estimate_rho`, then the rank of ``W_l(t) - (rho_hat/eps) W_l(0)``
    counted as :func:`moved_rank` does (singular values above ``moved_rtol ||W_l(t)||_2``).
    """
    rho, _ = estimate_rho(layer_t, rtol)
    return rho, moved_rank(layer_t, layer_0, rho, eps, moved_rtol)


def principal_angles(a, b, rtol: float | None = None) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of A and B.

    Björck & Golub (1973): with orthonormal bases Q_A, Q_B, ``cos theta_k`` are the singular
    values of ``Q_A^T Q_B``; small angles are taken from the sines, the singular values of
    ``Q_B - Q_A Q_A^T Q_B``, for accuracy (Knyazev & Argentati 2002). Bases come from the SVD,
    keeping the singular values above ``rtol * sigma_max`` (``numerical_rank``'s default), so
    rank-deficient matrices are fine. Returns ``min(rank A, rank B)`` angles.
    """
    a, b = _float_matrix("a", a), _float_matrix("b", b)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must have as many rows, got {a.shape[0]} and {b.shape[0]}")
    b = b.to(a)
    q_a, q_b = _column_basis(a, rtol), _column_basis(b, rtol)
    if q_a.shape[1] < q_b.shape[1]:
        q_a, q_b = q_b, q_a
    cosines = torch.linalg.svdvals(q_a.mT @ q_b).clamp(-1.0, 1.0)
    sines = torch.linalg.svdvals(q_b - q_a @ (q_a.mT @ q_b)).clamp(0.0, 1.0)
    from_cosines = torch.arccos(cosines)
    from_sines = torch.arcsin(sines.flip(0))
    return torch.where(from_cosines < math.pi / 4, from_sines, from_cosines)


@dataclass
class ScalarModes:
    """The compressed network under spectral init, reduced to scalars (one per mode).

    ``layer_values[t, i]`` (first/last layer) and ``middle_values[t, i]`` (middle layers) give
    the per-layer strength of mode i after t steps; ``strengths = end^2 middle^{L-2}`` is the
    end-to-end mode; ``recovery_error[t] = ||W_{L:1}(t) - M*||_F / ||M*||_F``.
    """

    iterations: torch.Tensor
    layer_values: torch.Tensor
    middle_values: torch.Tensor
    strengths: torch.Tensor
    recovery_error: torch.Tensor
    singular_values: torch.Tensor


def scalar_mode_trajectory(
    singular_values, eps, eta, depth, steps, *, r_hat: int | None = None, alpha: float = 1.0
) -> ScalarModes:
    """``a_i(t+1) = a_i + eta a_i^{L-1} (s_i - a_i^L)``, ``a_i(0) = eps``: the compressed network.

    Kwon et al. (2024), Sec. 3.2: for MF with spectral init (``W_1 = eps V_hat^T``,
    ``W_l = eps I``, ``W_L = eps U_hat``) every layer stays diagonal in the target's singular
    bases, so each of the r_hat modes is a scalar product of L numbers. ``singular_values`` are
    the target's nonzero ones (sorted here, largest first); modes r..r_hat-1 have ``s = 0`` and
    decay like rho(t); if ``r_hat < r`` the rest of the target is never fit. ``eta`` is the step
    on the summed loss (``lr / d^2`` for the core's MF loss). With ``alpha != 1`` the first and
    last layers step with ``alpha eta`` (the discrepant learning rate) and are tracked apart from
    the middle ones. The predicted error is
    ``sqrt(sum_{i<r_hat} (u_i - s_i)^2 + sum_{i>=r_hat} s_i^2) / ||s||``.
    """
    s = torch.sort(check_singular_values(singular_values), descending=True).values
    eps = check_positive("eps", check_scalar("eps", eps))
    eta = check_positive("eta", check_scalar("eta", eta))
    depth = check_depth(depth)
    steps = check_int("steps", steps, low=0)
    r_hat = s.numel() if r_hat is None else check_int("r_hat", r_hat, low=1)
    alpha = check_positive("alpha", check_scalar("alpha", alpha))
    fitted = torch.zeros(r_hat, dtype=torch.float64)
    fitted[: min(r_hat, s.numel())] = s[:r_hat]
    unfit = float((s[r_hat:] ** 2).sum())
    norm = float(torch.linalg.vector_norm(s))

    end = torch.full((r_hat,), eps, dtype=torch.float64)
    middle = torch.full((r_hat,), eps, dtype=torch.float64)
    ends, middles = [end.clone()], [middle.clone()]
    for _ in range(steps):
        residual = fitted - end * end * middle ** (depth - 2)
        end_step = alpha * eta * end * middle ** (depth - 2) * residual
        if depth > 2:
            middle = middle + eta * end * end * middle ** (depth - 3) * residual
        end = end + end_step
        ends.append(end.clone())
        middles.append(middle.clone())
    layer_values, middle_values = torch.stack(ends), torch.stack(middles)
    strengths = layer_values**2 * middle_values ** (depth - 2)
    error = torch.sqrt(((strengths - fitted) ** 2).sum(1) + unfit) / norm
    return ScalarModes(
        iterations=torch.arange(steps + 1),
        layer_values=layer_values,
        middle_values=middle_values,
        strengths=strengths,
        recovery_error=error,
        singular_values=s,
    )


# The edge of mode_step_stability's number (the top mode settles only below it) and the margin
# the lessons keep from it: within EDGE_MARGIN of the edge the mode still rings at the end of a
# run, |1 - number| per step is near 1, and rounding can decide the outcome (Lessons 00, 03, 04).
STEP_EDGE, EDGE_MARGIN = 2.0, 0.2


def mode_step_stability(singular_value, eta, depth) -> float:
    """``eta L s^(2 - 2/L)``: the top mode's recursion settles at ``s^(1/L)`` only when this is < 2.

    Linearising ``a <- a + eta a^{L-1} (s - a^L)`` (``scalar_mode_trajectory`` with alpha = 1)
    at its fixed point ``a* = s^(1/L)`` gives the factor ``1 - eta L a*^(2L-2) =
    1 - eta L s^(2-2/L)``, whose absolute value is below 1 exactly when the returned number is
    below 2. Above 2 the mode overshoots and oscillates (or escapes) instead of converging: the
    step is too large for that mode. With the largest singular value this bounds the usable step
    for a given depth; it grows with depth at a fixed step because ``s^(2-2/L)`` does (s > 1).
    """
    s = check_positive("singular_value", check_scalar("singular_value", singular_value))
    eta = check_positive("eta", check_scalar("eta", eta))
    depth = check_depth(depth)
    return eta * depth * s ** (2 - 2 / depth)


@dataclass
class SubspaceReport:
    """Per logged step (rows) and layer (columns) of an original network's training run.

    ``at_rho[j, l]``: singular values of W_l equal to rho(t_j); ``moved_rank[j, l]``: rank of
    ``W_l(t_j) - (rho/eps) W_l(0)``; Yaras et al. predict ``d - 2r`` and ``<= 2r``.
    """

    iterations: list
    rho: torch.Tensor
    at_rho: torch.Tensor
    moved_rank: torch.Tensor
    eps: float
    eta: float


def invariant_subspace_report(
    history, *, eps=None, eta=None, rtol: float = 1e-9, moved_rtol: float = 1e-10
) -> SubspaceReport:
    """Check the invariant subspace on a ``History`` recorded with ``record_layers=True``.

    ``eta`` defaults to ``lr / d^2`` (MF's mean loss; give it for other tasks, where the
    structure is only approximate) and the weight decay to ``lambda d^2`` the same way; ``eps``
    defaults to the common singular value of ``W_1(0)`` (orthogonal init). Needs plain gradient
    descent with ``alpha = 1`` and the iteration 0 snapshot.
    """
    snapshots = getattr(history, "layer_snapshots", None)
    if not snapshots:
        raise ValueError("history has no layer snapshots: train with record_layers=True")
    settings = history.settings
    if history.log_iterations[0] != 0:
        raise ValueError("history must include the snapshot at iteration 0")
    if settings.get("optimizer", "gd") != "gd" or settings.get("alpha", 1.0) != 1.0:
        raise ValueError("the rho(t) recursion holds for plain gradient descent with alpha = 1")
    d = snapshots[0][0].shape[1]
    if eta is None:
        if settings.get("task") != "mf":
            raise ValueError("eta must be given for tasks other than 'mf' (step on summed loss)")
        eta = settings["lr"] / d**2
    eta = check_positive("eta", check_scalar("eta", eta))
    weight_decay = settings.get("weight_decay", 0.0) * settings.get("lr", 0.0) / eta
    if eps is None:
        sigma = torch.linalg.svdvals(snapshots[0][0].to(torch.float64))
        if (sigma.max() - sigma.min()) > 1e-10 * sigma.max():
            raise ValueError("W_1(0) is not a multiple of an orthogonal matrix: give eps")
        eps = float(sigma.mean())
    eps = check_positive("eps", check_scalar("eps", eps))
    depth = len(snapshots[0])
    rho_all = rho_trajectory(eps, eta, depth, history.log_iterations[-1], weight_decay)
    rho = rho_all[list(history.log_iterations)]
    at_rho, ranks = [], []
    for layers, rho_t in zip(snapshots, rho.tolist(), strict=True):
        at_rho.append([count_singular_values_at(w, rho_t, rtol) for w in layers])
        ranks.append(
            [
                moved_rank(w, w0, rho_t, eps, moved_rtol)
                for w, w0 in zip(layers, snapshots[0], strict=True)
            ]
        )
    return SubspaceReport(
        iterations=list(history.log_iterations),
        rho=rho,
        at_rho=torch.tensor(at_rho),
        moved_rank=torch.tensor(ranks),
        eps=eps,
        eta=eta,
    )


def _column_basis(matrix, rtol):
    u, sigma, _ = torch.linalg.svd(matrix, full_matrices=False)
    if sigma.numel() == 0 or sigma[0] <= 0:
        return u[:, :0]
    if rtol is None:
        rtol = max(matrix.shape) * torch.finfo(matrix.dtype).eps
    rank = int((sigma > check_float("rtol", rtol, low=0.0) * sigma[0]).sum())
    return u[:, :rank]


def _float_matrix(name, matrix):
    matrix = check_matrix(name, matrix)
    return matrix if matrix.is_floating_point() else matrix.to(torch.float64)
