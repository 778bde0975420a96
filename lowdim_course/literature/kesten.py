"""The exact stationary tail index of SGD on Gaussian linear regression (lesson 09).

Gurbuzbalaban, Simsekli, Zhu, "The Heavy-Tail Phenomenon in SGD" (ICML 2021), on which Barsbey
et al. (NeurIPS 2021) build. With fresh data ``a_i ~ N(0, I_d)`` at every step, the SGD error
of linear regression is multiplied by the random matrix ``A = I - (lr/b) sum_{i<=b} a_i a_i^T``
(and shifted by noise). When ``A`` sometimes expands, the stationary law of the error has a
power-law tail ``P(|x| > t) ~ t^-alpha`` whose index solves the Kesten-type condition

    h(alpha) = log E ||A e_1||^alpha = 0.

:func:`kesten_log_moment` computes ``h`` by quadrature, :func:`kesten_tail_index` its positive
root, :func:`expansion_probability` the chance that one step expands the error. The SGD chains
whose tails these predict are :func:`lowdim_course.literature.heavy_tails.sgd_iterates`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from ..threads import small_work
from ..validation import check_float, check_int

# Gauss-Legendre nodes per panel of the quadrature (see :func:`kesten_tail_index`).
_PANEL_NODES = 16


@small_work()
def kesten_log_moment(alpha: float, lr: float, batch_size: int = 1, *, d: int = 10) -> float:
    """``h(alpha) = log E ||A e_1||^alpha`` with ``A = I - (lr/b) sum_{i<=b} a_i a_i^T``.

    Gurbuzbalaban, Simsekli, Zhu (ICML 2021) show that for Gaussian data the stationary law
    of the SGD error has tail index ``alpha`` solving ``h(alpha) = 0`` (a Kesten-type
    condition). Because the law of ``A`` does not change under rotations, the general
    ``lim (1/k) log E ||A_k ... A_1 e||^alpha`` equals ``log E ||A e_1||^alpha`` for any unit
    vector. The expectation reduces to two independent chi-square variables: with ``c = lr/b``,
    ``S = sum_i (a_i)_1^2 ~ chi2_b`` and ``R ~ chi2_(d-1)`` (the other coordinates of
    ``sum_i (a_i)_1 a_i`` have law ``N(0, S I_(d-1))``),

        ||A e_1||^2 = (1 - c S)^2 + c^2 S R.

    The two-dimensional integral over ``sqrt(S)`` and ``sqrt(R)`` (chi densities) is computed by
    composite Gauss-Legendre quadrature (see :func:`kesten_tail_index` for its accuracy).
    """
    alpha = check_float("alpha", alpha, low=0.0, low_open=True)
    log_norm_sq, log_weight = _kesten_grid(lr, batch_size, d, max(alpha, 2.0))
    return float(torch.logsumexp(0.5 * alpha * log_norm_sq + log_weight, 0))


@small_work()
def kesten_tail_index(
    lr: float, batch_size: int = 1, *, d: int = 10, alpha_max: float = 100.0
) -> float:
    """The exact stationary tail index of SGD on the lesson's linear regression.

    The positive root of ``h(alpha) = log E ||(I - (lr/b) sum_{i<=b} a_i a_i^T) e_1||^alpha = 0``
    with ``a_i ~ N(0, I_d)`` (Gurbuzbalaban, Simsekli, Zhu, ICML 2021; see
    :func:`kesten_log_moment`). ``h`` is convex with ``h(0) = 0``; the chain has a stationary
    law when ``h'(0) = E log ||A e_1|| < 0`` (else ValueError), and then ``alpha`` is where
    ``h`` crosses zero again, found by bisection to 1e-10. Returns ``math.inf`` when
    ``h(alpha_max) < 0``: every moment up to ``alpha_max`` is finite.

    Method and accuracy: ``h`` is a 2-D integral over ``u = sqrt(S)`` (chi law, b degrees of
    freedom) and ``v = sqrt(R)`` (chi, d-1), on ``[0, sqrt(2 alpha_max + b) + 16] x
    [0, sqrt(alpha_max + d) + 16]`` in panels of width <= 1 (a panel edge at the kink
    ``u = 1/sqrt(c)``) with 16 Gauss-Legendre nodes each. Doubling the nodes or widening the
    box changes the root by less than 1e-9 at the settings of lesson 09; at ``alpha = 2`` the
    moment has the closed form ``1 - 2 lr + lr^2 (d + b + 1) / b`` and the quadrature matches it
    to a relative 1e-12 or better; for d = 1 an independent adaptive quadrature (scipy) gives
    the same root to 1e-6 (both in tests/test_heavy_tails.py).
    """
    alpha_max = check_float("alpha_max", alpha_max, low=1.0, high=400.0)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    log_norm_sq, log_weight = _kesten_grid(lr, batch_size, d, alpha_max)

    def h(alpha):
        return float(torch.logsumexp(0.5 * alpha * log_norm_sq + log_weight, 0))

    slope = float((0.5 * log_norm_sq * log_weight.exp()).sum())  # h'(0) = E log ||A e_1||
    if slope >= 0:
        raise ValueError(
            f"SGD has no stationary law at lr={lr:g}, batch_size={batch_size}, d={d}: "
            f"E log ||A e_1|| = {slope:.3g} >= 0, the error grows; take a smaller lr"
        )
    low, high = 0.0, 1.0
    while h(high) < 0:
        if high >= alpha_max:
            return math.inf
        low, high = high, min(2 * high, alpha_max)
    while high - low > 1e-10 * max(1.0, high):
        middle = 0.5 * (low + high)
        if h(middle) < 0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def expansion_probability(lr: float, batch_size: int = 1, *, d: int = 10) -> float:
    """``P(||A e_1|| > 1)``: the chance that one SGD step stretches the error along ``e_1``.

    From ``||A e_1||^2 - 1 = c S (c (S + R) - 2)`` (notation of :func:`kesten_log_moment`), a
    step expands exactly when ``(lr/b) (S + R) > 2``, and ``S + R ~ chi2_(b + d - 1)``:

        P = P(chi2_(b + d - 1) > 2 b / lr) = Q((b + d - 1) / 2, b / lr),

    with ``Q`` the regularized upper incomplete gamma function.
    """
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    d = check_int("d", d, low=1)
    shape = torch.tensor((batch_size + d - 1) / 2, dtype=torch.float64)
    return float(torch.special.gammaincc(shape, torch.tensor(batch_size / lr, dtype=torch.float64)))


def _panel_rule(upper: float, breaks=()) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite Gauss-Legendre nodes and weights on [0, upper], panels of width <= 1."""
    nodes, weights = np.polynomial.legendre.leggauss(_PANEL_NODES)
    edges = sorted({0.0, upper, *(b for b in breaks if 0.0 < b < upper)})
    all_nodes, all_weights = [], []
    for start, stop in itertools.pairwise(edges):
        count = max(1, math.ceil(stop - start))
        for left, right in itertools.pairwise(np.linspace(start, stop, count + 1)):
            half = 0.5 * (right - left)
            all_nodes.append(half * nodes + 0.5 * (left + right))
            all_weights.append(half * weights)
    return (
        torch.from_numpy(np.concatenate(all_nodes)),
        torch.from_numpy(np.concatenate(all_weights)),
    )


def _log_chi_density(x: torch.Tensor, k: int) -> torch.Tensor:
    """log of the chi density with k degrees of freedom (the law of the norm of N(0, I_k))."""
    return (k - 1) * torch.log(x) - 0.5 * x * x - (0.5 * k - 1) * math.log(2) - math.lgamma(0.5 * k)


def _kesten_grid(lr, batch_size, d, alpha_max) -> tuple[torch.Tensor, torch.Tensor]:
    """log ||A e_1||^2 and log(weight * density) on the grid of :func:`kesten_log_moment`."""
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    d = check_int("d", d, low=1)
    c = lr / batch_size
    u, wu = _panel_rule(math.sqrt(2 * alpha_max + batch_size) + 16, (1 / math.sqrt(c),))
    log_wu = torch.log(wu) + _log_chi_density(u, batch_size)
    s = u * u
    if d == 1:
        return torch.log((1 - c * s) ** 2), log_wu
    v, wv = _panel_rule(math.sqrt(alpha_max + d) + 16)
    log_wv = torch.log(wv) + _log_chi_density(v, d - 1)
    norm_sq = (1 - c * s[:, None]) ** 2 + c * c * s[:, None] * (v * v)[None, :]
    return torch.log(norm_sq).flatten(), (log_wu[:, None] + log_wv[None, :]).flatten()
