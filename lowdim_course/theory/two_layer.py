"""Exact learning dynamics of a two-layer linear network (Saxe, McClelland & Ganguli 2014).

Setting (Saxe, McClelland & Ganguli, "Exact solutions to the nonlinear dynamics of learning in
deep linear neural networks", ICLR 2014): whitened input, loss ``1/2 ||W_2 W_1 - M||_F^2``
(summed), target ``M = sum_i s_i u_i v_i^T``, gradient descent with step ``lr`` on both layers.
From a small balanced init aligned with the target's singular vectors, every mode evolves alone:
its strength ``u = u_i^T W_2 W_1 v_i`` obeys, with time constant ``tau = 1/lr`` and t counted in
gradient steps,

    ``tau du/dt = 2 u (s - u)``,  so  ``u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0)``

(Saxe et al. 2014, with ``u = a^2`` for per-layer strength a). Strong
modes are learned first and each one after a plateau: incremental, stage-like learning of
principal components.
"""

from __future__ import annotations

import math

import torch

from ..validation import check_choice
from ._common import (
    ModeStart,
    ModeTrajectory,
    as_times,
    check_lr,
    check_scalar,
    mode_start,
    simulate_modes,
)

INITS = ("aligned", "random")


def saxe_trajectory(t, s, u0, lr):
    """Mode strength ``u(t) = s e^{2st/tau} / (e^{2st/tau} - 1 + s/u0)``, ``tau = 1/lr``.

    Saxe, McClelland & Ganguli (2014), the mode solution. ``t`` is in gradient steps: a float,
    a list, a numpy array or a tensor (its device and float dtype are kept); the result has the
    same type.
    Evaluated as ``s / (1 + (s/u0 - 1) e^{-2st/tau})``, which never overflows.
    """
    s, u0, lr = _check_mode(s, u0, lr)
    times, back = as_times(t)
    decay = torch.exp(-2.0 * s * lr * times)
    return back(s / (1.0 + (s / u0 - 1.0) * decay))


def half_way_time(s, u0, lr) -> float:
    """Steps until ``u = s/2``: ``t_half = (tau / 2s) ln(s/u0 - 1)`` (Saxe et al. 2014)."""
    s, u0, lr = _check_mode(s, u0, lr)
    return math.log(s / u0 - 1.0) / (2.0 * s * lr)


def learning_time(s, eps, lr) -> float:
    """Order of the steps a mode needs from strength eps: ``(tau / s) ln(s / eps)``.

    Saxe et al. (2014): learning time is inversely proportional to s. The exact
    time to go from eps to ``s - eps`` is ``(tau / 2s) ln((s - eps)^2 / eps^2)``, about this.
    """
    s = check_scalar("s", s, low=0.0, low_open=True)
    eps = check_scalar("eps", eps, low=0.0, high=s, low_open=True, high_open=True)
    lr = check_lr(lr)
    return math.log(s / eps) / (s * lr)


def simulate_two_layer(
    singular_values,
    u0,
    lr,
    steps,
    *,
    init: str = "aligned",
    d: int | None = None,
    seed: int = 0,
    device="cpu",
    dtype=None,
) -> ModeTrajectory:
    """Gradient descent on ``1/2 ||W_2 W_1 - M||_F^2`` and the mode strengths over time.

    ``M = U diag(singular_values) V^T`` (d x d, random orthonormal U, V from ``seed``; d defaults
    to the number of singular values), both layers d x d. ``init='aligned'``: the balanced init
    of Saxe et al. with ``W_2 W_1 = u0 U V^T``, so every mode starts at u0 and follows
    ``saxe_trajectory`` up to the O(lr) error of discrete steps. ``init='random'``:
    ``W_l = sqrt(u0) O_l`` with Haar-random O_l (balanced but not aligned, as in Kwon et al.).
    Returns a ``ModeTrajectory`` whose ``strengths[t, i] = u_i^T W_2(t) W_1(t) v_i``.
    """
    u0 = check_scalar("u0", u0, low=0.0, low_open=True)
    lr = check_lr(lr)
    check_choice("init", init, INITS)
    return simulate_modes(
        singular_values,
        math.sqrt(u0),
        2,
        lr,
        steps,
        init=init,
        d=d,
        seed=seed,
        device=device,
        dtype=dtype,
    )


def two_layer_start(singular_values, u0, *, init: str = "aligned", d: int | None = None, seed=0):
    """The layers ``[W_1, W_2]`` and target that :func:`simulate_two_layer` starts from.

    Same arguments and seed, same matrices (a ``ModeStart``: ``layers``, ``target``, and the
    target's singular vectors ``left``, ``right``), so a hand-written gradient step run from
    here can be compared with the course's run step by step.
    """
    u0 = check_scalar("u0", u0, low=0.0, low_open=True)
    check_choice("init", init, INITS)
    return mode_start(singular_values, math.sqrt(u0), 2, init=init, d=d, seed=seed)


def two_layer_gd_step(w1, w2, target, lr):
    """One gradient-descent step on ``l = 1/2 ||W_2 W_1 - M||_F^2``, both layers at once.

    ``grad_{W_1} = W_2^T (W_2 W_1 - M)``, ``grad_{W_2} = (W_2 W_1 - M) W_1^T`` (Saxe et al. 2014,
    Sec. 1), both from the old weights; returns ``(W_1 - lr grad_{W_1}, W_2 - lr grad_{W_2})``.
    ``W_1`` is h x d_in, ``W_2`` d_out x h, ``M`` d_out x d_in.
    """
    if not all(isinstance(x, torch.Tensor) and x.ndim == 2 for x in (w1, w2, target)):
        raise ValueError("w1, w2 and target must be 2-D tensors")
    if w2.shape[1] != w1.shape[0] or target.shape != (w2.shape[0], w1.shape[1]):
        raise ValueError(
            f"shapes do not chain: w1 {tuple(w1.shape)}, w2 {tuple(w2.shape)} and target "
            f"{tuple(target.shape)} must be h x d_in, d_out x h and d_out x d_in"
        )
    lr = check_lr(lr)
    residual = w2 @ w1 - target
    return w1 - lr * (w2.T @ residual), w2 - lr * (residual @ w1.T)


def mode_strengths(end_to_end, start: ModeStart) -> torch.Tensor:
    """``u_i^T W v_i`` for every mode i of ``start``'s target (``left``, ``right``)."""
    return (start.left * (end_to_end @ start.right)).sum(0)


def _check_mode(s, u0, lr):
    s = check_scalar("s", s, low=0.0, low_open=True)
    u0 = check_scalar("u0", u0, low=0.0, high=s, low_open=True, high_open=True)
    return s, u0, check_lr(lr)
