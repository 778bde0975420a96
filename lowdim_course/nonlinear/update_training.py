"""Train a small network on MNIST-1D and record each layer's update ``W_t - W_0`` as it goes.

Mini-batches of ``batch_size`` signals, each epoch a fresh permutation of the 4,000 training
signals drawn from a generator seeded by ``seed`` (:class:`BatchStream`), so the batch order is
fixed by the seed; mean cross-entropy; SGD (no momentum) or Adam (torch's defaults: betas
0.9, 0.999, eps 1e-8), learning rate ``lr``. At every ``record_every`` steps and at the last one
the update of every layer's weight matrix (:func:`small_models.weight_matrices`) is stored in
float64 on the CPU: these are the matrices whose geometry :mod:`update_geometry` measures
(Kwon et al., AISTATS 2024, abstract: "updates to the weight matrices occur within a
low-dimensional invariant subspace").

A loss that is not finite, or larger than ``divergence_factor`` times the first, stops the run
with a ``DivergenceError`` (a ValueError) naming the step and telling to lower the rate
(:mod:`lowdim_course.divergence`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from ..divergence import DivergenceGuard
from ..random_matrices import make_generator
from ..threads import cpu_threads
from ..validation import check_choice, check_float, check_int, check_positive
from .data import ClassificationData
from .small_models import SmallNet, weight_matrices
from .trainer import percent_correct

OPTIMIZERS = ("sgd", "adam")


class BatchStream:
    """The seeded sequence of mini-batches: a new permutation of the training set each epoch.

    ``next()`` returns ``(x, y)``; ``skip(n)`` advances by n batches without returning them, so a
    run resumed at step n sees the same batches as one that never stopped. Batches never
    straddle two epochs (the last ``n_train mod batch_size`` signals of a permutation are left
    out); ``batch_size >= n_train`` is full-batch.
    """

    def __init__(self, data: ClassificationData, batch_size: int, seed: int):
        self.x, self.y = data.x_train, data.y_train
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.generator = make_generator(check_int("seed", seed, low=0) + 1)
        self.order, self.position = None, 0

    def _indices(self):
        n = self.x.shape[0]
        if self.batch_size >= n:
            return None
        if self.order is None or self.position + self.batch_size > n:
            self.order = torch.randperm(n, generator=self.generator)
            self.position = 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return index

    def next(self):
        index = self._indices()
        if index is None:
            return self.x, self.y
        return self.x[index], self.y[index]

    def skip(self, count: int) -> None:
        for _ in range(check_int("count", count, low=0)):
            self._indices()


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """``"sgd"``: plain SGD (no momentum, no weight decay); ``"adam"``: Adam, torch's defaults."""
    check_choice("optimizer", name, OPTIMIZERS)
    lr = check_positive("lr", lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)


def take_steps(model, optimizer, stream, steps, guard, *, first_step=1, on_step=None, bar=None):
    """``steps`` optimizer steps on the stream's batches; ``on_step(t, loss)`` after step t.

    Each step clears the gradients, computes the mean cross-entropy of one batch, backpropagates
    and steps; the loss (before the step) goes to ``guard.check``. Returns the losses.
    """
    losses = []
    for t in range(first_step, first_step + steps):
        x, y = stream.next()
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        value = float(loss.detach())
        guard.check(t, value)
        losses.append(value)
        if on_step is not None:
            on_step(t, value)
        if bar is not None:
            bar.update(1)
    return losses


@torch.no_grad()
def model_accuracy(model: SmallNet, data: ClassificationData) -> float:
    """Test accuracy in percent (largest logit = true class), counted as integers."""
    return percent_correct(model(data.x_test).argmax(dim=1), data.y_test)


@dataclass
class UpdateRun:
    """One training run's updates: ``updates[name][j] = W_{steps[j]} - W_0`` of layer ``name``.

    ``initial[name]`` is ``W_0``; ``losses`` the mini-batch loss of every step (index t - 1 for
    step t); ``test_accuracy`` in percent after the last step; ``seconds`` the training time
    (steps only: recording and the final evaluation excluded).
    """

    settings: dict
    steps: list = field(default_factory=list)
    initial: dict = field(default_factory=dict)
    updates: dict = field(default_factory=dict)
    losses: list = field(default_factory=list)
    test_accuracy: float = float("nan")
    seconds: float = 0.0

    @property
    def layer_names(self) -> list[str]:
        return list(self.initial)

    def final_update(self, name: str) -> torch.Tensor:
        """``W_T - W_0`` of layer ``name`` (T: the last step)."""
        return self.updates[self._checked(name)][-1]

    def update_at(self, name: str, step: int) -> torch.Tensor:
        """``W_step - W_0`` of layer ``name``; ``step`` must be a recorded step."""
        if step not in self.steps:
            raise ValueError(f"step must be one of the recorded steps {self.steps}, got {step!r}")
        return self.updates[self._checked(name)][self.steps.index(step)]

    def _checked(self, name: str) -> str:
        if name not in self.updates:
            raise ValueError(f"name must be one of {', '.join(self.updates)}, got {name!r}")
        return name


def train_recording_updates(
    model: SmallNet,
    data: ClassificationData,
    *,
    optimizer: str = "adam",
    lr: float = 1e-2,
    steps: int = 1200,
    batch_size: int = 100,
    seed: int = 0,
    record_every: int = 50,
    keep_state_at: int | None = None,
    divergence_factor: float = 1e4,
    threads: int | None = 1,
    progress: bool = False,
) -> UpdateRun:
    """Train ``model`` in place and record every layer's update every ``record_every`` steps.

    ``seed`` draws the batch order (:class:`BatchStream`; the model has its own seed). With
    ``keep_state_at = t0`` the model's parameters after step t0 are kept in
    ``run.settings["state_at"]`` (what :mod:`restricted_training` resumes from) and the training
    seconds up to then in ``run.settings["seconds_at_state"]``. ``threads``:
    CPU threads for the run (one by default: the course's policy for small products).
    """
    if not isinstance(model, SmallNet):
        raise ValueError(f"model must be a SmallNet (see build_small_model), got {model!r}")
    check_choice("optimizer", optimizer, OPTIMIZERS)
    lr = check_positive("lr", lr)
    steps = check_int("steps", steps, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    seed = check_int("seed", seed, low=0)
    record_every = check_int("record_every", record_every, low=1, high=steps)
    if keep_state_at is not None:
        keep_state_at = check_int("keep_state_at", keep_state_at, low=0, high=steps)
    divergence_factor = check_float("divergence_factor", divergence_factor, low=1.0, low_open=True)
    settings = {"architecture": model.architecture, "optimizer": optimizer, "lr": lr,
                "steps": steps, "batch_size": batch_size, "seed": seed}  # fmt: skip
    run = UpdateRun(settings=settings, initial=weight_matrices(model))
    run.updates = {name: [] for name in run.initial}
    stream = BatchStream(data, batch_size, seed)
    opt = make_optimizer(optimizer, model.parameters(), lr)
    guard = DivergenceGuard(divergence_factor, lr, what=f"training of the {model.architecture}")
    record_seconds = [0.0]

    def on_step(t, _loss):
        if t % record_every and t != steps and t != keep_state_at:
            return
        started = time.perf_counter()
        if t % record_every == 0 or t == steps:
            run.steps.append(t)
            for name, w in weight_matrices(model).items():
                run.updates[name].append(w - run.initial[name])
        if t == keep_state_at:
            run.settings["state_at"] = _state(model)
            run.settings["seconds_at_state"] = time.perf_counter() - began - record_seconds[0]
        record_seconds[0] += time.perf_counter() - started

    if keep_state_at == 0:
        run.settings["state_at"] = _state(model)
        run.settings["seconds_at_state"] = 0.0
    bar = tqdm(total=steps, desc=f"{model.architecture} {optimizer}", disable=not progress,
               leave=False)  # fmt: skip
    began = time.perf_counter()
    try:
        with cpu_threads(threads):
            run.losses = take_steps(model, opt, stream, steps, guard, on_step=on_step, bar=bar)
    finally:
        bar.close()
    run.seconds = time.perf_counter() - began - record_seconds[0]
    run.test_accuracy = model_accuracy(model, data)
    return run


def _state(model) -> dict:
    return {name: p.detach().clone() for name, p in model.state_dict().items()}
