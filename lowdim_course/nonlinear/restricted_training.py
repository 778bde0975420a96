"""Train on in the top-k subspaces the update found: ``W = W_t0 + U_k C V_k^T``, only C learns.

In the spirit of Kwon et al. (AISTATS 2024), Sec. 4 (Lesson 04: once the subspace in which a
deep linear network learns is known, a network of that width learns as well): after ``t0``
steps of full training, each layer's update so far ``Delta = W_t0 - W_0`` gives its top-k left
and right singular vectors ``U_k`` (m x k) and ``V_k`` (n x k). Training then continues with
every weight matrix restricted to

    ``W = W_t0 + U_k C V_k^T``,  C (k x k) trainable, starting at 0,

(for a convolution W is its ``out x (in kernel)`` matrix, reshaped back to the kernel), while
``W_t0``, ``U_k`` and ``V_k`` stay fixed and the biases keep training. Each layer learns ``k^2``
numbers instead of ``m n``. The optimizer starts afresh at t0 (Adam's moment estimates are not
carried over: they belong to the full matrices) with the same rate, and the batches continue
where the full run's were (:class:`update_training.BatchStream`), so the restricted run and
the full one see the same data in the same order.

``subspace="random"`` draws ``U_k``, ``V_k`` as the first k columns of Haar orthogonal matrices
instead: the control that says whether the learned directions matter or only their number.
The restriction really confines the update: ``W_t - W_t0`` lies in the span,
``(I - U_k U_k^T)(W_t - W_t0) = 0`` and ``(W_t - W_t0)(I - V_k V_k^T) = 0`` to rounding
(:func:`outside_span`).
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..divergence import DivergenceGuard
from ..random_matrices import make_generator, random_orthogonal
from ..threads import cpu_threads
from ..validation import check_choice, check_int
from .data import ClassificationData
from .small_models import SmallNet, weight_matrices
from .update_geometry import top_subspace
from .update_training import BatchStream, make_optimizer, model_accuracy, take_steps

SUBSPACES = ("learned", "random")


class InSubspace(nn.Module):
    """The parametrization ``W -> W_t0 + U C V^T`` (the original weight is frozen at ``W_t0``)."""

    def __init__(self, left: torch.Tensor, right: torch.Tensor, shape: torch.Size):
        super().__init__()
        self.register_buffer("left", left)
        self.register_buffer("right", right)
        self.shape = shape
        self.core = nn.Parameter(torch.zeros(left.shape[1], right.shape[1], dtype=left.dtype))

    def forward(self, frozen: torch.Tensor) -> torch.Tensor:
        return frozen + (self.left @ self.core @ self.right.mT).reshape(self.shape)


def restrict_model(model: SmallNet, bases: dict) -> list[nn.Parameter]:
    """Put every layer of ``model`` (in place) into ``W_t0 + U C V^T``; the trainable parameters.

    ``bases[name] = (U, V)`` for each of ``model.named_weights()``; the original weights are
    frozen (``requires_grad = False``) and the returned list holds each layer's C and the biases.
    """
    modules = dict(zip(model.named_weights(), [*model.layers, model.head], strict=True))
    if set(bases) != set(modules):
        raise ValueError(f"bases must name every layer ({', '.join(modules)}), got {list(bases)}")
    trainable = []
    for name, module in modules.items():
        left, right = bases[name]
        weight = module.weight
        parametrization = InSubspace(left.to(weight), right.to(weight), weight.shape)
        weight.requires_grad_(False)
        parametrize.register_parametrization(module, "weight", parametrization)
        trainable += [parametrization.core, module.bias]
    return trainable


def subspace_bases(updates: dict, k: int, subspace: str = "learned", seed: int = 0) -> dict:
    """``{name: (U_k, V_k)}``: the top-k singular subspaces of each update, or random ones.

    ``k`` is capped at each matrix's smaller side.
    """
    check_choice("subspace", subspace, SUBSPACES)
    k = check_int("k", k, low=1)
    generator = make_generator(seed + 7)
    bases = {}
    for name, delta in updates.items():
        m, n = delta.shape
        kk = min(k, m, n)
        if subspace == "learned":
            bases[name] = (top_subspace(delta, kk, "left"), top_subspace(delta, kk, "right"))
        else:
            left = random_orthogonal(m, generator)[:, :kk]
            bases[name] = (left, random_orthogonal(n, generator)[:, :kk])
    return bases


def outside_span(delta, left, right) -> float:
    """``||Delta - U U^T Delta V V^T||_F / ||Delta||_F``: the part of Delta outside the span
    (0 when Delta = U C V^T for some C; 0 for Delta = 0)."""
    delta = torch.as_tensor(delta, dtype=torch.float64)
    left, right = left.to(delta), right.to(delta)
    norm = torch.linalg.matrix_norm(delta)
    if norm == 0:
        return 0.0
    inside = left @ (left.mT @ delta @ right) @ right.mT
    return float(torch.linalg.matrix_norm(delta - inside) / norm)


def train_restricted(
    model: SmallNet,
    data: ClassificationData,
    initial: dict,
    *,
    k: int,
    t0: int,
    steps: int,
    optimizer: str = "adam",
    lr: float = 1e-2,
    batch_size: int = 100,
    seed: int = 0,
    subspace: str = "learned",
    divergence_factor: float = 1e4,
    threads: int | None = 1,
) -> dict:
    """Continue ``model`` (at step ``t0``, weights ``W_t0``) for ``steps - t0`` restricted steps.

    ``initial``: ``W_0`` of every layer (``UpdateRun.initial``), so that the update
    ``W_t0 - W_0`` gives the subspaces. The batch stream is the one of a full run with the same
    ``seed`` and ``batch_size``, advanced by t0 batches. Returns ``{"test_accuracy",
    "seconds"`` (the SVDs and the restricted steps), ``"trainable"`` (numbers trained after t0),
    ``"outside"`` (per layer, :func:`outside_span` of ``W_T - W_t0``), ``"losses"}``. The model
    is left restricted (its parametrizations in place).
    """
    t0 = check_int("t0", t0, low=1)
    steps = check_int("steps", steps, low=t0)
    started = time.perf_counter()
    at_t0 = weight_matrices(model)
    updates = {name: at_t0[name] - initial[name] for name in at_t0}
    bases = subspace_bases(updates, k, subspace, seed)
    trainable = restrict_model(model, bases)
    stream = BatchStream(data, batch_size, seed)
    stream.skip(t0)
    opt = make_optimizer(optimizer, trainable, lr)
    guard = DivergenceGuard(divergence_factor, lr, what="restricted training")
    with cpu_threads(threads):
        losses = take_steps(model, opt, stream, steps - t0, guard, first_step=t0 + 1)
    seconds = time.perf_counter() - started
    at_end = weight_matrices(model)
    outside = {
        name: outside_span(at_end[name] - at_t0[name], *bases[name]) for name in at_end
    }  # fmt: skip
    return {
        "test_accuracy": model_accuracy(model, data),
        "seconds": seconds,
        "trainable": sum(p.numel() for p in trainable),
        "outside": outside,
        "losses": losses,
    }


def step_seconds_side_by_side(
    full: SmallNet,
    restricted: SmallNet,
    trainable: list[nn.Parameter],
    stream: BatchStream,
    *,
    optimizer: str,
    lr: float,
    pairs: int = 60,
    threads: int | None = 1,
) -> dict:
    """The seconds of one full step and one restricted step, taken in alternation.

    ``pairs`` times: one optimizer step of ``full`` (all its parameters) and one of
    ``restricted`` (only ``trainable``, from :func:`restrict_model`) on the same batch, the
    order swapped every pair, so that both see the same load from the rest of the machine (a
    speed ratio measured side by side; two runs timed one after the other can differ by more
    than the ratio itself on a busy machine). Returns ``{"full": [...], "restricted": [...],
    "ratio"}``: the seconds per step and the median over pairs of restricted / full.
    """
    pairs = check_int("pairs", pairs, low=1)
    runs = {
        "full": (full, make_optimizer(optimizer, full.parameters(), lr)),
        "restricted": (restricted, make_optimizer(optimizer, trainable, lr)),
    }
    seconds = {"full": [], "restricted": []}
    with cpu_threads(threads):
        for index in range(pairs):
            x, y = stream.next()
            order = ("full", "restricted") if index % 2 == 0 else ("restricted", "full")
            for name in order:
                model, opt = runs[name]
                started = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(x), y).backward()
                opt.step()
                seconds[name].append(time.perf_counter() - started)
    ratios = sorted(r / f for r, f in zip(seconds["restricted"], seconds["full"], strict=True))
    middle = len(ratios) // 2
    median = ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2
    return {**seconds, "ratio": median}
