"""Fine-tuning the pretrained network's layers with one kind of update, and what it learned.

Every layer ``A_l`` of the pretrained MLP gets an update ``Delta_l`` of the same kind
(:mod:`.factorized`); biases stay frozen, as in LoRA (Hu et al. 2022) and Deep LoRA (Yaras et
al. 2024). The loss is the mean cross-entropy over the few training examples, full batch,
minimized with Adam (the optimizer of both papers' runs) for ``steps`` steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from ..divergence import DivergenceGuard
from ..rank_measures import numerical_rank, stable_rank
from ..threads import cpu_threads
from ..validation import check_choice, check_int, check_positive
from .factorized import (
    DEFAULT_EPS,
    Adapter,
    compressed_deep_adapter,
    deep_adapter,
    full_adapter,
    lora_adapter,
)
from .pretrained import PretrainedMLP

KINDS = ("full", "lora", "deep_compressed", "deep")
LABELS = {
    "full": "full fine-tuning",
    "lora": "LoRA",
    "deep_compressed": "Deep LoRA (compressed)",
    "deep": "deep, full width",
}
RANK_TOLERANCE = 1e-3  # numerical rank: singular values above 1e-3 x the largest
DIVERGENCE_FACTOR = 1e3


@dataclass
class FineTuneResult:
    """One fine-tuning run: its settings, the final updates, the losses, the test accuracy."""

    kind: str
    rank: int
    per_class: int
    seed: int
    lr: float
    steps: int
    deltas: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    seconds: float = 0.0
    trainable_parameters: int = 0
    # {"test": {step: percent}, "validation": {...}} at the checkpoints
    accuracies: dict = field(default_factory=dict)
    # {step: [stable rank of each layer's update]} at the checkpoints
    stable_ranks_at: dict = field(default_factory=dict)

    @property
    def test_accuracy(self) -> float:
        """Percent correct on the test set after the last step (nan if none was given)."""
        test = self.accuracies.get("test", {})
        return test[self.steps] if self.steps in test else float("nan")

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    def stable_ranks(self) -> list[float]:
        """``||Delta_l||_F^2 / ||Delta_l||_2^2`` of each layer's update."""
        return [stable_rank(delta) for delta in self.deltas]

    def numerical_ranks(self, rtol: float = RANK_TOLERANCE) -> list[int]:
        """Each update's singular values above ``rtol`` times its largest."""
        return [numerical_rank(delta, rtol) for delta in self.deltas]


def layer_gradients(model: PretrainedMLP, x: torch.Tensor, y: torch.Tensor) -> list:
    """``dl/dDelta_l`` at ``Delta = 0``: the few-shot loss's gradient for each layer's update."""
    deltas = [torch.zeros(shape, dtype=x.dtype, requires_grad=True) for shape in model.shapes]
    loss = torch.nn.functional.cross_entropy(model.forward(x, deltas), y)
    return [grad.detach() for grad in torch.autograd.grad(loss, deltas)]


def build_adapters(model, kind, rank, x, y, seed=0, eps=DEFAULT_EPS, start=None) -> list:
    """One adapter of ``kind`` for each layer; rank ``min(rank, smaller side)`` per layer.

    ``start``: for ``"deep_compressed"``, a function ``(factors, eps, gradient, rank) -> (L, R)``
    building the outer factors from the full-width start (Lesson 13's capstone passes the
    student's); None: :func:`.factorized.compressed_deep_start`.
    """
    check_choice("kind", kind, KINDS)
    rank = check_int("rank", rank, low=1)
    if kind == "deep_compressed" and rank % 2:
        raise ValueError(f"rank must be even for Deep LoRA (half from each side), got {rank}")
    if kind == "full":
        return [full_adapter(shape) for shape in model.shapes]
    layer_ranks = [min(rank, *shape) for shape in model.shapes]
    if kind == "lora":
        return [
            lora_adapter(shape, r, seed=seed + index)
            for index, (shape, r) in enumerate(zip(model.shapes, layer_ranks, strict=True))
        ]
    deep = [deep_adapter(shape, eps, seed=seed + index) for index, shape in enumerate(model.shapes)]
    if kind == "deep":
        return deep
    gradients = layer_gradients(model, x, y)
    adapters = []
    for full, gradient, r in zip(deep, gradients, layer_ranks, strict=True):
        r -= r % 2
        if start is None:
            adapters.append(compressed_deep_adapter(full, gradient, r, eps))
            continue
        factors = [factor.detach().clone() for factor in full.factors]
        left, right = start(factors, eps, gradient.clone(), r)
        fixed = [torch.as_tensor(m, dtype=torch.float64).detach() for m in (left, right)]
        inner = [(eps * torch.eye(r, dtype=torch.float64)).requires_grad_(True) for _ in range(3)]
        adapters.append(Adapter("deep_compressed", full.shape, inner, fixed, eps=eps))
    return adapters


def fine_tune(
    model: PretrainedMLP,
    x: torch.Tensor,
    y: torch.Tensor,
    kind: str,
    *,
    rank: int = 8,
    lr: float = 1e-3,
    steps: int = 300,
    seed: int = 0,
    eps: float = DEFAULT_EPS,
    test=None,
    validation=None,
    checkpoints=(),
    per_class: int = 0,
    start=None,
) -> FineTuneResult:
    """Adapt ``model`` to ``(x, y)`` with updates of ``kind``; evaluate on ``test`` and
    ``validation`` (each ``(x, y)`` or None) after the last step and after each of
    ``checkpoints`` (step counts).

    The adapters' random draws (LoRA's ``A``, the deep factors) come from ``seed``; the
    compressed deep adapter's construction and its time are counted in ``seconds``, the
    evaluations are not. ``start``: see :func:`build_adapters`.
    """
    lr = check_positive("lr", lr)
    steps = check_int("steps", steps, low=1)
    eps = check_positive("eps", eps)
    evaluated = {name: pair for name, pair in (("test", test), ("validation", validation))}
    evaluated = {name: pair for name, pair in evaluated.items() if pair is not None}
    stops = sorted({check_int("checkpoint", c, low=1, high=steps) for c in checkpoints} | {steps})
    accuracies, ranks_at = {name: {} for name in evaluated}, {}
    with cpu_threads(1):
        started = time.perf_counter()
        adapters = build_adapters(model, kind, rank, x, y, seed, eps, start)
        factors = [factor for adapter in adapters for factor in adapter.factors]
        optimizer = torch.optim.Adam(factors, lr=lr)
        guard = DivergenceGuard(DIVERGENCE_FACTOR, lr, what=f"fine-tuning with {LABELS[kind]}")
        losses, seconds = [], 0.0
        for step in range(1, steps + 1):
            deltas = [adapter.delta() for adapter in adapters]
            loss = torch.nn.functional.cross_entropy(model.forward(x, deltas), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            guard.check(step, losses[-1])
            if step in stops:
                seconds += time.perf_counter() - started
                with torch.no_grad():
                    deltas = [adapter.delta().detach() for adapter in adapters]
                for name, (x_eval, y_eval) in evaluated.items():
                    accuracies[name][step] = model.accuracy(x_eval, y_eval, deltas)
                ranks_at[step] = [stable_rank(delta) for delta in deltas]
                started = time.perf_counter()
    return FineTuneResult(
        kind,
        rank,
        per_class,
        seed,
        lr,
        steps,
        deltas,
        losses,
        seconds,
        sum(adapter.trainable_parameters for adapter in adapters),
        accuracies,
        ranks_at,
    )
