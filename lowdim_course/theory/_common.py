"""Shared pieces of the theory modules: argument checks and the gradient-descent simulator."""

from __future__ import annotations

import itertools
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from ..networks import DeepLinearNetwork
from ..random_matrices import make_generator, random_orthogonal
from ..validation import check_float, check_int, check_positive, resolve_device, resolve_dtype


def check_scalar(name: str, value, **bounds) -> float:
    """A float (or a one-element tensor) inside the bounds of ``validation.check_float``."""
    if isinstance(value, torch.Tensor | np.ndarray):
        if np.prod(value.shape, dtype=int) != 1:
            shape = tuple(value.shape)
            raise ValueError(f"{name} must be a single number, got an array of shape {shape}")
        value = value.item()
    return check_float(name, value, **bounds)


def check_depth(depth, low: int = 2) -> int:
    return check_int("depth", depth, low=low)


def check_lr(lr) -> float:
    return check_positive("lr", check_scalar("lr", lr))


def check_singular_values(values, name: str = "singular_values", allow_zero=False):
    """A 1-D float64 CPU tensor of finite values > 0 (>= 0 with ``allow_zero``)."""
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        values = [values]
    try:
        s = torch.as_tensor(values, dtype=torch.float64).cpu().flatten()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a list of numbers ({exc})") from None
    bound = ">= 0" if allow_zero else "> 0"
    bad = (s < 0).any() if allow_zero else (s <= 0).any()
    if s.numel() == 0 or not torch.isfinite(s).all() or bad:
        raise ValueError(f"{name} must be a non-empty list of finite numbers {bound}")
    return s


def as_times(t, name: str = "t"):
    """``t`` as a float tensor plus a function that gives a result back in the caller's type.

    A float gives a float, a numpy array a numpy array, a tensor a tensor on its device (float
    dtype kept, integer tensors become float64), a list a float64 tensor.
    """
    if isinstance(t, torch.Tensor):
        values = t if t.is_floating_point() else t.to(torch.float64)

        def back(out):
            return out

    elif isinstance(t, np.ndarray):
        values = torch.as_tensor(t, dtype=torch.float64)

        def back(out):
            return out.cpu().numpy()

    elif isinstance(t, numbers.Real) and not isinstance(t, bool):
        values = torch.tensor(float(t), dtype=torch.float64)

        def back(out):
            return float(out)

    else:
        try:
            values = torch.as_tensor(t, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{name} must be a number, a list or a tensor ({exc})") from None

        def back(out):
            return out

    if not torch.isfinite(values).all() or (values < 0).any():
        raise ValueError(f"{name} must hold finite numbers >= 0")
    return values, back


@dataclass
class ModeTrajectory:
    """Mode strengths ``u_i(t) = u_i^T W_{L:1}(t) v_i`` of a simulated gradient-descent run.

    ``strengths`` has shape ``(T + 1, k)``: row t is the state after t steps; column i belongs to
    the target's i-th singular triplet ``(s_i, u_i, v_i)``.
    """

    iterations: torch.Tensor
    strengths: torch.Tensor
    singular_values: torch.Tensor
    depth: int
    lr: float
    init_scale: float

    @property
    def fractions(self) -> torch.Tensor:
        """``u_i(t) / s_i``: how much of each mode has been learned."""
        return self.strengths / self.singular_values.to(self.strengths)


@dataclass
class ModeStart:
    """The starting point of a mode simulation: the layers, the target and its singular vectors.

    ``target = left diag(s) right^T`` with ``left`` (d x k) and ``right`` (d x k) orthonormal;
    ``layers[0]`` is ``W_1`` (the input side). All float64 on the CPU.
    """

    layers: list[torch.Tensor]
    target: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor


def mode_start(singular_values, layer_scale, depth, *, init, d, seed) -> ModeStart:
    """Layers and target of :func:`simulate_modes` (same seed, same matrices).

    ``M = U_k diag(s) V_k^T`` with Haar-random orthonormal U_k, V_k. ``init='aligned'``: the
    balanced init ``W_1 = a O_1 V^T``, ``W_l = a O_l O_{l-1}^T``, ``W_L = a U O_{L-1}^T``
    (U, V the full orthogonal completions), so ``W_{L:1}(0) = a^L U V^T``;
    ``init='random'``: ``W_l = a O_l`` with independent Haar O_l (balanced, not aligned).
    """
    s = check_singular_values(singular_values)
    k = s.numel()
    d = k if d is None else check_int("d", d, low=k)
    generator = make_generator(seed)
    left = random_orthogonal(d, generator)
    right = random_orthogonal(d, generator)
    hidden = [random_orthogonal(d, generator) for _ in range(depth - 1)]
    if init == "aligned":
        frames = [right, *hidden, left]
        layers = [layer_scale * upper @ lower.T for lower, upper in itertools.pairwise(frames)]
    else:
        layers = [layer_scale * random_orthogonal(d, generator) for _ in range(depth)]
    target = (left[:, :k] * s) @ right[:, :k].T
    return ModeStart(layers, target, left[:, :k], right[:, :k])


def simulate_modes(
    singular_values, layer_scale, depth, lr, steps, *, init, d, seed, device, dtype
) -> ModeTrajectory:
    """Gradient descent on ``1/2 ||W_L ... W_1 - M||_F^2`` (summed), every layer d x d.

    The start (layers, target) is :func:`mode_start`'s. Each step is the training loop's own
    update, ``DeepLinearNetwork.descend``, with the same rate for every layer.
    """
    s = check_singular_values(singular_values)
    k = s.numel()
    steps = check_int("steps", steps, low=0)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    start = mode_start(s, layer_scale, depth, init=init, d=d, seed=seed)

    def on_device(x):
        return x.to(device=device, dtype=dtype).contiguous()

    network = DeepLinearNetwork([on_device(w) for w in start.layers], "theory")
    target, u_k, v_k = on_device(start.target), on_device(start.left), on_device(start.right)
    workspace = network.workspace()
    rates = [lr] * depth
    strengths = torch.empty(steps + 1, k, device=device, dtype=dtype)
    for step in range(steps + 1):
        prefix = network.prefix_products(out=workspace)
        end_to_end = prefix[-1]
        strengths[step] = (u_k * (end_to_end @ v_k)).sum(0)
        if step == steps:
            break
        network.descend(prefix, end_to_end - target, rates, out=workspace)
    return ModeTrajectory(
        iterations=torch.arange(steps + 1),
        strengths=strengths,
        singular_values=s.to(device=device, dtype=dtype),
        depth=depth,
        lr=lr,
        init_scale=layer_scale,
    )


def first_crossing(values: torch.Tensor, level: float) -> int | None:
    """First index i with ``values[i] >= level`` (None if never)."""
    hits = torch.nonzero(values >= level)
    return int(hits[0, 0]) if hits.numel() else None
