"""Training the classifiers: histories, the discrepant rate as parameter groups, the loop."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from ..divergence import DivergenceGuard
from ..random_matrices import make_generator
from ..threads import cpu_threads
from ..training import layer_learning_rates
from ..validation import (
    check_choice,
    check_float,
    check_int,
    check_positive,
)
from .data import ClassificationData
from .model import BlockMLP
from .settings import ALPHA_LAYERS, DEFAULTS, LABELS, OPTIMIZERS


@dataclass
class ClassifierHistory:
    """Test accuracy (percent) and training loss at the evaluated iterations.

    ``seconds[k]`` is the compute time up to ``iterations[k]``: building the model (for the
    compressed one this includes the surrogate and its SVD) plus the training steps, without the
    time spent evaluating.
    """

    kind: str
    settings: dict = field(default_factory=dict)
    iterations: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    num_params: int = 0
    block_params: int = 0
    setup_seconds: float = 0.0
    stopped_reason: str = "steps"

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @property
    def steps(self) -> int:
        return self.iterations[-1] if self.iterations else 0

    @property
    def final_accuracy(self) -> float:
        return self.test_accuracy[-1] if self.test_accuracy else math.nan

    @property
    def best_accuracy(self) -> float:
        return max(self.test_accuracy) if self.test_accuracy else math.nan

    @property
    def seconds_per_step(self) -> float:
        """Mean training seconds per step (setup excluded)."""
        if not self.steps:
            return math.nan
        return (self.seconds[-1] - self.setup_seconds) / self.steps

    def first_reaching(self, accuracy: float) -> int | None:
        """Index of the first evaluation with test accuracy >= ``accuracy`` (None if never)."""
        return next((k for k, a in enumerate(self.test_accuracy) if a >= accuracy - 1e-9), None)

    def iterations_to(self, accuracy: float) -> int | None:
        index = self.first_reaching(accuracy)
        return None if index is None else self.iterations[index]

    def seconds_to(self, accuracy: float) -> float | None:
        index = self.first_reaching(accuracy)
        return None if index is None else self.seconds[index]

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "label": self.label,
            "params": self.num_params,
            "block_params": self.block_params,
            "steps": self.steps,
            "final_test_accuracy": self.final_accuracy,
            "best_test_accuracy": self.best_accuracy,
            "seconds": self.seconds[-1] if self.seconds else math.nan,
            "setup_seconds": self.setup_seconds,
            "seconds_per_step": self.seconds_per_step,
            "iterations": list(self.iterations),
            "curve_seconds": list(self.seconds),
            "test_accuracy": list(self.test_accuracy),
            "train_loss": list(self.train_loss),
        }


class _Trainer:
    """One model's optimizer and its step; ``step()`` returns the loss before the update."""

    def __init__(
        self, model, data, lr, alpha, alpha_layers, optimizer, batch_size, seed, divergence_factor
    ):
        self.model, self.data = model, data
        groups = [
            {"params": [p for layer in model.hidden for p in layer.parameters()], "lr": lr},
            {"params": list(model.output.parameters()), "lr": lr},
        ]
        if model.depth:
            groups += block_parameter_groups(model.block_layers(), lr, alpha, alpha_layers)
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(groups)
        else:
            self.optimizer = torch.optim.SGD(groups)
        self.batch_size = batch_size
        self.generator = make_generator(seed + 2)
        self.order, self.position = None, 0
        self.guard = DivergenceGuard(
            divergence_factor, lr, alpha, what=f"training of {LABELS[model.kind]}"
        )

    def _batch(self):
        x, y = self.data.x_train, self.data.y_train
        if self.batch_size is None or self.batch_size >= x.shape[0]:
            return x, y
        if self.order is None or self.position + self.batch_size > x.shape[0]:
            self.order = torch.randperm(x.shape[0], generator=self.generator).to(x.device)
            self.position = 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return x[index], y[index]

    def step(self, iteration: int) -> float:
        x, y = self._batch()
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        value = float(loss.detach())
        self.guard.check(iteration, value)
        return value


def block_learning_rates(
    depth: int, lr: float, alpha: float = 1.0, alpha_layers: str = "first"
) -> list[float]:
    """The block's per-layer rates, input side first.

    ``alpha_layers="first"``: ``[alpha lr, lr, ..., lr]``, the discrepant rate on the block's
    first layer only, as Kwon et al. (2024, Sec. 5) describe their nonlinear experiment.
    ``"ends"``: ``[alpha lr, lr, ..., lr, alpha lr]``, first and last layer, as in their matrix
    experiments (``training.layer_learning_rates``).
    """
    check_choice("alpha_layers", alpha_layers, ALPHA_LAYERS)
    rates = layer_learning_rates(depth, lr, alpha)
    if alpha_layers == "first":
        rates[-1] = lr
    return rates


def block_parameter_groups(
    block_weights, lr: float, alpha: float = 1.0, alpha_layers: str = "first"
) -> list[dict]:
    """One optimizer parameter group per block layer, ``{"params": [W_l], "lr": rate_l}``.

    The rates are :func:`block_learning_rates`: the discrepant learning rate of Kwon et al.
    (2024, Sec. 3.2) as parameter groups of one optimizer, so that Adam (or SGD) steps the
    block's first layer with ``alpha lr`` and the others with ``lr``.
    """
    block_weights = list(block_weights)
    rates = block_learning_rates(len(block_weights), lr, alpha, alpha_layers)
    return [{"params": [w], "lr": rate} for w, rate in zip(block_weights, rates, strict=True)]


def train_block_on_features(
    block,
    head: nn.Linear,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    lr: float = DEFAULTS["lr"],
    alpha: float = DEFAULTS["alpha"],
    steps: int = DEFAULTS["steps"],
    alpha_layers: str = DEFAULTS["alpha_layers"],
) -> list[float]:
    """Train a linear block and the output layer in place on fixed features; the losses.

    ``logits = head(W_L ... W_1 features)`` with ``block = [W_1, ..., W_L]`` (``nn.Linear``
    layers, input side first), mean cross-entropy, full-batch Adam (default betas and eps) with
    the block's layers at :func:`block_learning_rates` (``alpha lr`` on the first layer for
    ``alpha_layers="first"``, Kwon et al. 2024, Sec. 5) and the head at ``lr``. Each step clears
    the gradients, computes the loss, backpropagates and steps. Returns the ``steps`` losses, each
    taken before its step. The features stay fixed (the ReLU layers are not trained): this is
    the part of ``train_models``' C-DLN step that the discrepant rate acts on.
    """
    block = list(block)
    if len(block) < 2 or not all(isinstance(layer, nn.Linear) for layer in block):
        raise ValueError(f"block must hold at least 2 nn.Linear layers, got {block!r}")
    if not isinstance(head, nn.Linear):
        raise ValueError(f"head must be an nn.Linear, got {head!r}")
    lr = check_positive("lr", lr)
    alpha = check_positive("alpha", alpha)
    steps = check_int("steps", steps, low=0)
    groups = block_parameter_groups([layer.weight for layer in block], lr, alpha, alpha_layers)
    optimizer = torch.optim.Adam([*groups, {"params": list(head.parameters()), "lr": lr}])
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        hidden = features
        for layer in block:
            hidden = layer(hidden)
        loss = torch.nn.functional.cross_entropy(head(hidden), labels)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def model_learning_rates(lr, models: dict) -> dict[str, float]:
    """``{name: rate}``: one positive ``lr`` for every model, or a dict keyed by each model's
    name or kind (``"mlp"``, ``"dln"``, ``"cdln"``) that must cover every model."""
    if not isinstance(lr, Mapping):
        rate = check_positive("lr", lr)
        return dict.fromkeys(models, rate)
    rates = {}
    for name, model in models.items():
        key = name if name in lr else model.kind
        if key not in lr:
            raise ValueError(f"lr must give a rate for {name!r}, got keys {sorted(lr)}")
        rates[name] = check_positive(f"lr[{key!r}]", lr[key])
    return rates


def percent_correct(predictions: torch.Tensor, labels: torch.Tensor) -> float:
    """``100 k / n`` for k correct of n, k counted as an integer.

    One division of two integers gives the same double on every machine; a float mean adds in
    an order the processor chooses, which may leave a tie such as 1533/2000 on either side of
    the printed rounding.
    """
    return 100.0 * int((predictions == labels).sum()) / labels.numel()


@torch.no_grad()
def test_accuracy(model: BlockMLP, data: ClassificationData) -> float:
    """Percentage of test samples whose largest logit is the true class."""
    return percent_correct(model(data.x_test).argmax(dim=1), data.y_test)


def train_models(
    models: dict[str, BlockMLP],
    data: ClassificationData,
    *,
    lr: float = DEFAULTS["lr"],
    alpha: float = DEFAULTS["alpha"],
    alpha_layers: str = DEFAULTS["alpha_layers"],
    steps: int = DEFAULTS["steps"],
    eval_every: int = DEFAULTS["eval_every"],
    optimizer: str = DEFAULTS["optimizer"],
    batch_size: int | None = DEFAULTS["batch_size"],
    seed: int = DEFAULTS["seed"],
    setup_seconds: dict | None = None,
    divergence_factor: float = 1e4,
    threads: int | None = 1,
    progress: bool = False,
) -> dict[str, ClassifierHistory]:
    """Train the models side by side (one step of each in turn) and record their histories.

    Interleaving the steps means a busy machine slows every model alike, so the seconds compare.
    ``lr`` is one rate for every model, or a dict giving each model (by name or by kind) its own
    (:func:`model_learning_rates`): each model tuned on its own, still raced side by side.
    ``alpha`` multiplies the learning rate of the *compressed* block's first layer
    (``alpha_layers="first"``) or of its first and last (``"ends"``); a full-width block trains
    with ``alpha = 1``. Mini-batches (``batch_size``) are drawn
    from a generator seeded by ``seed``; ``None`` is full-batch. Evaluates the test accuracy at
    iteration 0 and every ``eval_every`` steps (and at the last). Raises ``DivergenceError``
    (a ValueError) when a loss is not finite or exceeds ``divergence_factor`` times its first
    value. Ctrl-C stops all models and returns what was recorded. ``threads``: CPU threads for
    the run (restored after); the default 1 is the fastest on a busy laptop for these sizes
    (two threads on a shared 2-core machine were measured up to 60x slower), ``None`` keeps
    torch's setting.
    """
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict name -> BlockMLP")
    rates = model_learning_rates(lr, models)
    alpha = check_float("alpha", alpha, low=0.0, low_open=True)
    steps = check_int("steps", steps, low=1)
    eval_every = check_int("eval_every", eval_every, low=1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("alpha_layers", alpha_layers, ALPHA_LAYERS)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    seed = check_int("seed", seed, low=0)
    divergence_factor = check_float("divergence_factor", divergence_factor, low=1.0, low_open=True)
    setup_seconds = setup_seconds or {}
    trainers, histories, clocks = {}, {}, {}
    for name, model in models.items():
        if not isinstance(model, BlockMLP):
            raise ValueError(f"models[{name!r}] must be a BlockMLP, got {model!r}")
        rate_factor = alpha if model.kind == "cdln" else 1.0
        trainers[name] = _Trainer(
            model, data, rates[name], rate_factor, alpha_layers, optimizer, batch_size, seed,
            divergence_factor,
        )  # fmt: skip
        clocks[name] = float(setup_seconds.get(name, 0.0))
        histories[name] = ClassifierHistory(
            kind=model.kind,
            settings={
                "lr": rates[name],
                "alpha": alpha,
                "block_alpha": rate_factor,
                "alpha_layers": alpha_layers,
                "optimizer": optimizer,
                "batch_size": batch_size,
                "seed": seed,
                "depth": model.depth,
                "device": str(data.x_train.device),
                "dtype": str(data.x_train.dtype).removeprefix("torch."),
            },
            num_params=model.num_params,
            block_params=model.block_params,
            setup_seconds=clocks[name],
        )

    def evaluate(iteration, losses):
        for name, model in models.items():
            history = histories[name]
            history.iterations.append(iteration)
            history.seconds.append(clocks[name])
            history.test_accuracy.append(test_accuracy(model, data))
            history.train_loss.append(losses.get(name, math.nan))

    synchronize = torch.cuda.synchronize if data.x_train.device.type == "cuda" else None
    with torch.no_grad():
        initial = {
            n: float(torch.nn.functional.cross_entropy(m(data.x_train), data.y_train))
            for n, m in models.items()
        }
    evaluate(0, initial)
    bar = tqdm(total=steps, desc="nonlinear", disable=not progress, leave=False)
    threads_context = cpu_threads(threads)
    threads_context.__enter__()
    try:
        for iteration in range(1, steps + 1):
            losses = {}
            for name, trainer in trainers.items():
                started = time.perf_counter()
                losses[name] = trainer.step(iteration)
                if synchronize is not None:
                    synchronize()
                clocks[name] += time.perf_counter() - started
            if iteration % eval_every == 0 or iteration == steps:
                evaluate(iteration, losses)
            bar.update(1)
    except KeyboardInterrupt:
        for history in histories.values():
            history.stopped_reason = "interrupted"
    finally:
        threads_context.__exit__(None, None, None)
        bar.close()
    return histories
