"""Learning dynamics of deep linear networks: mode ODE, onset time, singular-value flow.

An L-layer linear network trained by gradient descent (step lr, ``tau = 1/lr``, t in steps) on
``1/2 ||W_{L:1} - M||_F^2`` from a balanced init aligned with M, per-layer scale a0, learns each
mode alone; its strength ``u = a^L`` (u0 = a0^L) obeys (Saxe et al. 2014, deep networks; Arora,
Cohen, Hu & Luo 2019, singular-value dynamics restricted to one mode)

    ``tau du/dt = L u^{2-2/L} (s - u)``.

For L = 2 this is ``saxe_trajectory``. For L >= 3 the early phase ``da/dt = a^{L-1} s / tau``
blows up at the onset time ``tau / ((L-2) s a0^{L-2})``: polynomial, not logarithmic, in 1/a0,
so depth makes the plateaus longer and the transitions sharper (Gissin, Shalev-Shwartz &
Daniely 2020).
"""

from __future__ import annotations

import math

import torch

from ..networks import DeepLinearNetwork
from ..validation import check_choice, check_float, check_int, check_matrix
from ._common import (
    ModeTrajectory,
    as_times,
    check_depth,
    check_lr,
    check_scalar,
    check_singular_values,
    first_crossing,
    simulate_modes,
)

METHODS = ("ode", "gd")


def deep_mode_rhs(u, s, depth, lr):
    """``du/dt = lr L u^{2-2/L} (s - u)`` per gradient step (u: float, list, array or tensor)."""
    s = check_scalar("s", s, low=0.0, low_open=True)
    depth = check_depth(depth)
    lr = check_lr(lr)
    values, back = as_times(u, name="u")
    return back(lr * depth * values ** (2.0 - 2.0 / depth) * (s - values))


def integrate_deep_mode(s, u0, depth, lr, t, *, rtol: float = 1e-10):
    """Solve ``tau du/dt = L u^{2-2/L} (s - u)``, u(0) = u0, at the times t (in steps).

    The ODE is integrated in the logit ``x = ln(u / (s - u))``, where it reads
    ``dx/dt = lr L s^{2-2/L} sigma(x)^{1-2/L}``: a smooth, bounded right-hand side (constant for
    L = 2, where the solution is ``saxe_trajectory`` exactly), which an adaptive Dormand-Prince
    5(4) scheme follows with local tolerance ``rtol`` on x (u then agrees with a 1e-13 solution
    to about 1e-8 relative at the steepest point, L = 4). ``t`` may be a float, list, numpy
    array or tensor; the result has the same type (tensors keep their device and dtype).
    """
    s, u0, depth, lr = _check_mode(s, u0, depth, lr)
    rtol = check_float("rtol", rtol, low=1e-14, high=1e-3)
    times, back = as_times(t)
    flat = times.detach().reshape(-1).to("cpu", torch.float64)
    order = torch.argsort(flat)
    exponent = 1.0 - 2.0 / depth
    rate = lr * depth * s ** (2.0 - 2.0 / depth)

    def dx_dt(_, x):
        return rate * math.exp(exponent * _log_sigmoid(x))

    x_sorted = _dormand_prince(dx_dt, _logit(u0 / s), flat[order].tolist(), rtol, rtol)
    x = torch.empty_like(flat)
    x[order] = torch.tensor(x_sorted, dtype=torch.float64)
    u = (s * torch.sigmoid(x)).reshape(times.shape).to(device=times.device, dtype=times.dtype)
    return back(u)


def time_to_fraction(s, u0, depth, lr, fraction: float = 0.5, *, rtol: float = 1e-10) -> float:
    """Steps the mode ODE needs to go from u0 to ``fraction * s``.

    ``t = integral from x0 to x1 of dx / (lr L s^{2-2/L} sigma(x)^{1-2/L})`` with
    ``x = logit(u/s)``, integrated adaptively (Dormand-Prince 5(4)). Negative if u0 is already
    above ``fraction * s``. For L = 2 it equals ``(tau/2s) ln((f/(1-f)) (s/u0 - 1))``.
    """
    s, u0, depth, lr = _check_mode(s, u0, depth, lr)
    fraction = check_scalar("fraction", fraction, low=0.0, high=1.0, low_open=True, high_open=True)
    rtol = check_float("rtol", rtol, low=1e-14, high=1e-3)
    start, end = _logit(u0 / s), _logit(fraction)
    exponent = 1.0 - 2.0 / depth
    rate = lr * depth * s ** (2.0 - 2.0 / depth)
    direction = 1.0 if end >= start else -1.0

    def dt_dy(y, _):
        return direction / (rate * math.exp(exponent * _log_sigmoid(start + direction * y)))

    return _dormand_prince(dt_dy, 0.0, [abs(end - start)], rtol, 0.0)[0]


def deep_half_way_time(s, u0, depth, lr) -> float:
    """Steps the mode ODE needs to reach ``s/2`` (``half_way_time`` for L = 2)."""
    return time_to_fraction(s, u0, depth, lr, 0.5)


def onset_time(s, a0, depth, lr) -> float:
    """When a mode with per-layer init a0 is learned: ``tau / ((L-2) s a0^{L-2})`` for L >= 3.

    For L >= 3 it is the blow-up time of the early phase ``tau da/dt = s a^{L-1}`` (the
    ``(s - u)`` factor dropped), a slight over-estimate of the half-way time; for L = 2 it is the
    exact half-way time ``(tau / 2s) ln(s/a0^2 - 1)`` (Saxe et al. 2014), logarithmic in 1/a0.
    Requires ``a0^L < s``.
    """
    depth = check_depth(depth)
    s = check_scalar("s", s, low=0.0, low_open=True)
    a0 = check_scalar("a0", a0, low=0.0, high=s ** (1.0 / depth), low_open=True, high_open=True)
    lr = check_lr(lr)
    if depth == 2:
        return math.log(s / a0**2 - 1.0) / (2.0 * s * lr)
    return 1.0 / (lr * (depth - 2) * s * a0 ** (depth - 2))


def simulate_deep_modes(
    singular_values, a0, depth, lr, steps, *, d=None, seed: int = 0, device="cpu", dtype=None
) -> ModeTrajectory:
    """Gradient descent on an L-layer linear network from a balanced, aligned init.

    Loss ``1/2 ||W_L ... W_1 - M||_F^2`` (summed), ``M = U diag(singular_values) V^T`` (random
    orthonormal U, V), layers ``W_1 = a0 O_1 V^T``, ``W_l = a0 O_l O_{l-1}^T``,
    ``W_L = a0 U O_{L-1}^T``: balanced (``W_{l+1}^T W_{l+1} = W_l W_l^T``) with
    ``W_{L:1}(0) = a0^L U V^T``. Each mode then follows ``a <- a + lr a^{L-1} (s - a^L)``, the
    Euler discretization of the mode ODE. Returns a ``ModeTrajectory`` with the strengths
    ``u_i^T W_{L:1}(t) v_i``.
    """
    depth = check_depth(depth)
    a0 = check_scalar("a0", a0, low=0.0, low_open=True)
    lr = check_lr(lr)
    return simulate_modes(
        singular_values,
        a0,
        depth,
        lr,
        steps,
        init="aligned",
        d=d,
        seed=seed,
        device=device,
        dtype=dtype,
    )


def half_way_iteration(trajectory, s=None):
    """First iteration t with ``u(t) >= s/2`` (None if never reached).

    ``trajectory``: a 1-D sequence of strengths (then ``s`` is a number and an int or None is
    returned), a ``(T+1, k)`` array with k singular values ``s``, or a ``ModeTrajectory`` (``s``
    defaults to its singular values); the last two give a list over modes.
    """
    if isinstance(trajectory, ModeTrajectory):
        values = trajectory.strengths
        s = trajectory.singular_values if s is None else s
    else:
        values = torch.as_tensor(trajectory)
    if s is None:
        raise ValueError("s must be given: the singular value(s) the trajectory converges to")
    if values.ndim == 1:
        s = check_scalar("s", s, low=0.0, low_open=True)
        return first_crossing(values, s / 2.0)
    if values.ndim != 2:
        raise ValueError(f"trajectory must be 1-D or 2-D (steps x modes), got {values.ndim}-D")
    s = check_singular_values(s, name="s")
    if s.numel() != values.shape[1]:
        raise ValueError(f"s must hold {values.shape[1]} values (one per mode), got {s.numel()}")
    return [first_crossing(values[:, i], float(s[i]) / 2.0) for i in range(values.shape[1])]


def singular_value_velocity(end_to_end, loss_gradient, depth, lr: float = 1.0) -> torch.Tensor:
    """``d sigma_r/dt = -L (sigma_r^2)^{1-1/L} <grad l(W), u_r v_r^T>``, times lr per step.

    Arora, Cohen, Hu & Luo, "Implicit regularization in deep matrix factorization" (NeurIPS
    2019), theorem on the singular values ``sigma_r`` (singular vectors u_r, v_r) of the
    end-to-end matrix W of a depth-L linear network under gradient flow from a balanced init.
    ``loss_gradient`` is ``grad l`` at W. Returns one value per singular value, largest first,
    on the input's device; with ``lr`` the change per gradient step.
    """
    end_to_end = check_matrix("end_to_end", end_to_end)
    loss_gradient = check_matrix("loss_gradient", loss_gradient, shape=tuple(end_to_end.shape))
    depth = check_depth(depth)
    lr = check_lr(lr)
    u, sigma, vh = torch.linalg.svd(end_to_end, full_matrices=False)
    projection = (u * (loss_gradient.to(u) @ vh.mT)).sum(0)
    return -lr * depth * sigma ** (2.0 - 2.0 / depth) * projection


def identity_init_spectra(target, depth, eps, lr, steps) -> torch.Tensor:
    """Gradient descent on ``1/2 ||W_L ... W_1 - M||_F^2`` (summed) from ``W_l(0) = eps I``.

    Every layer is d x d (``target`` square); each step updates all layers at once from the
    same old weights with ``grad_l = W_{L:l+1}^T (W_{L:1} - M) W_{l-1:1}^T`` (Arora, Cohen,
    Hu & Luo 2019, Sec. 3), by the training loop's own update, ``DeepLinearNetwork.descend``.
    Returns the singular values of ``W_{L:1}``, largest first, before the first step and after
    every step: a float64 tensor of shape ``(steps + 1, d)``. For a symmetric positive
    semi-definite target the init is balanced and aligned, so each singular value follows the
    discrete mode recursion ``a <- a + lr a^{L-1} (s - a^L)``, ``u = a^L``.
    """
    target = check_matrix("target", target).to(torch.float64)
    if target.shape[0] != target.shape[1]:
        raise ValueError(f"target must be square (W_l(0) = eps I), got {tuple(target.shape)}")
    depth = check_depth(depth)
    eps = check_scalar("eps", eps, low=0.0, low_open=True)
    lr = check_lr(lr)
    steps = check_int("steps", steps, low=0)
    d = target.shape[0]
    network = DeepLinearNetwork([eps * torch.eye(d, dtype=torch.float64) for _ in range(depth)])
    spectra = torch.empty(steps + 1, d, dtype=torch.float64)
    for step in range(steps + 1):
        prefix = network.prefix_products()
        spectra[step] = torch.linalg.svdvals(prefix[-1])
        if step == steps:
            break
        network.descend(prefix, prefix[-1] - target, [lr] * depth)
    return spectra


def separation(
    depth, u0, singular_values=(1.0, 0.5), lr: float = 1e-2, *, method: str = "ode", level=0.9
) -> float:
    """Fraction ``u_2 / s_2`` of mode 2 learned when mode 1 first reaches ``level * s_1``.

    Both modes start at ``u0`` (per-layer scale ``u0^{1/L}``). Small values mean sharply
    separated, incremental learning; depth and a smaller init make it smaller (Gissin,
    Shalev-Shwartz & Daniely, ICLR 2020). ``method='ode'`` integrates the mode ODE (lr only
    sets the time unit); ``'gd'`` runs ``simulate_deep_modes`` with step ``lr`` and reads the
    first iteration where mode 1 passes the level.
    """
    depth = check_depth(depth)
    s = check_singular_values(singular_values)
    if s.numel() != 2:
        raise ValueError(f"singular_values must hold two values (s_1, s_2), got {s.numel()}")
    s1, s2 = float(s[0]), float(s[1])
    u0 = check_scalar("u0", u0, low=0.0, high=min(s1, s2), low_open=True, high_open=True)
    lr = check_lr(lr)
    check_choice("method", method, METHODS)
    level = check_scalar("level", level, low=0.0, high=1.0, low_open=True, high_open=True)
    if u0 >= level * s1:
        raise ValueError(f"u0 must be below level * s_1 = {level * s1:g}, got {u0:g}")
    crossing = time_to_fraction(s1, u0, depth, lr, level)
    if method == "ode":
        return integrate_deep_mode(s2, u0, depth, lr, crossing) / s2
    steps = math.ceil(1.5 * crossing) + 10
    run = simulate_deep_modes([s1, s2], u0 ** (1.0 / depth), depth, lr, steps)
    iteration = first_crossing(run.strengths[:, 0], level * s1)
    if iteration is None:
        raise ValueError(f"mode 1 did not reach {level:g} s_1 in {steps} steps: lower lr")
    return float(run.strengths[iteration, 1]) / s2


def _check_mode(s, u0, depth, lr):
    s = check_scalar("s", s, low=0.0, low_open=True)
    u0 = check_scalar("u0", u0, low=0.0, high=s, low_open=True, high_open=True)
    return s, u0, check_depth(depth), check_lr(lr)


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _log_sigmoid(x: float) -> float:
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


# Dormand & Prince (1980), "A family of embedded Runge-Kutta formulae", J. Comput. Appl. Math.
_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_B5 = _A[6] + (0.0,)
_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
_MAX_STEPS = 2_000_000


def _dormand_prince(f, y0: float, ends, rtol: float, atol: float) -> list[float]:
    """Solve the scalar ODE ``y' = f(t, y)``, y(0) = y0, at the sorted times ``ends`` >= 0."""
    y, t = y0, 0.0
    slope = abs(f(0.0, y0))
    h = 0.01 * (abs(y0) + 1.0) / slope if slope > 0 else 1.0
    values, n_steps = [], 0
    for end in ends:
        while t < end:
            step = min(h, end - t)
            stages = []
            for c, row in zip(_C, _A, strict=True):
                increment = sum(a * k for a, k in zip(row, stages, strict=True))
                stages.append(f(t + c * step, y + step * increment))
            y_new = y + step * sum(b * k for b, k in zip(_B5, stages, strict=True))
            error = step * sum((b5 - b4) * k for b5, b4, k in zip(_B5, _B4, stages, strict=True))
            scale = atol + rtol * max(abs(y), abs(y_new))
            ratio = abs(error) / scale if scale > 0 else 0.0
            if ratio <= 1.0:
                t, y = (end if step == end - t else t + step), y_new
            grow = 5.0 if ratio == 0 else min(5.0, max(0.2, 0.9 * ratio**-0.2))
            if ratio > 1.0 or step == h:
                h = step * grow
            n_steps += 1
            if n_steps > _MAX_STEPS:
                raise RuntimeError("the mode ODE needed too many steps: loosen rtol")
        values.append(y)
    return values
