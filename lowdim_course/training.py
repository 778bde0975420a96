"""Full-batch training of a deep linear network on a recovery problem.

Plain gradient descent, as in Kwon et al. (2024, Sec. 3.2), with the *discrepant learning rate*:
the first and last layers step with ``alpha * lr``, the middle layers with ``lr``:

    ``W_l <- W_l - lr_l (grad_{W_l} l + lambda W_l)``,  ``lr_1 = lr_L = alpha lr``, else ``lr``.

Adam is available as an option. On a CPU, gradient descent on factorization and completion runs
in numpy (``numpy_step.NumpyStep``, ``docs/cpu-step.md``); Adam, sensing and the GPU run the
torch step (``DeepLinearNetwork.descend``). The loop stops early when the training loss falls
below ``tol`` or the recovery error below ``stop_error``, and raises ``DivergenceError`` (with
the step and a hint to lower the learning rate) as soon as the loss is not finite or has
exploded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .divergence import DivergenceError, DivergenceGuard
from .history import History
from .networks import DeepLinearNetwork
from .numpy_step import NumpyStep, runs_in_numpy
from .problems import MatrixCompletion, RecoveryProblem
from .threads import ThreadTuner, cpu_threads, threads_for
from .validation import check_choice, check_float, check_int, check_positive

OPTIMIZERS = ("gd", "adam")
# On a GPU a step is a few kernel launches; reading a number back makes the host wait for all of
# them. Reading every 50 steps keeps the device busy (and stays below log_every's default, 100).
DEVICE_READ_EVERY = 50

__all__ = ["OPTIMIZERS", "DivergenceError", "layer_learning_rates", "train"]


def layer_learning_rates(depth: int, lr: float, alpha: float = 1.0) -> list[float]:
    """``[alpha lr, lr, ..., lr, alpha lr]``: the discrepant learning rate (Kwon et al. 3.2)."""
    depth = check_int("depth", depth, low=2)
    lr = check_positive("lr", lr)
    alpha = check_positive("alpha", alpha)
    rates = [lr] * depth
    rates[0] = rates[-1] = alpha * lr
    return rates


def train(
    problem: RecoveryProblem,
    network: DeepLinearNetwork,
    *,
    lr: float,
    steps: int = 5000,
    alpha: float = 1.0,
    optimizer: str = "gd",
    weight_decay: float = 0.0,
    tol: float = 0.0,
    stop_error: float | None = None,
    time_limit: float | None = None,
    log_every: int = 100,
    record_layer_singular_values: bool = False,
    record_layers: bool = False,
    divergence_factor: float = 1e8,
    read_every: int | None = None,
    threads: int | None = None,
    progress: bool = False,
    description: str | None = None,
) -> History:
    """Train ``network`` in place on ``problem`` and return its ``History``.

    Parameters
    ----------
    lr, alpha: step size of the middle layers and the factor for the first and last layers.
    steps: the most gradient updates to take.
    optimizer: ``'gd'`` (full-batch gradient descent, the paper's) or ``'adam'``.
    weight_decay: ``lambda`` in the update above (0 by default).
    tol: stop once the training loss is below ``tol`` (0 never stops early).
    stop_error: stop once the recovery error is below this value (None: never).
    time_limit: stop after this many compute seconds (None: no limit).
    log_every: snapshot (singular values, on request layers) every this many steps.
    divergence_factor: the loss counts as exploded above this multiple of its initial value.
    read_every: read loss and error from the device every this many steps (None: every step on
        the CPU, ``DEVICE_READ_EVERY`` on a GPU, where each read makes the host wait for the
        device). The values of every step are kept on the device and all recorded; stopping
        and divergence are decided at each read, so a run may take up to ``read_every - 1``
        steps past the step that stopped it (they are in the history too). The CPU's numpy
        step (factorization and completion by gradient descent, ``numpy_step``) has its
        numbers on the host at once and reads every step.
    threads: CPU threads for the run (None: the course's policy, ``threads.threads_for``: one
        thread when every product is small; else torch's setting, capped by the CPUs this
        process may use, and one thread while other processes keep a CPU busy:
        ``threads.ThreadTuner``). Restored after.
    progress: show a progress bar (tqdm, notebook-aware). Ctrl-C / "interrupt kernel" stops the
        run and returns the history so far, with ``stopped_reason == 'interrupted'``.
    """
    if not isinstance(problem, RecoveryProblem):
        raise ValueError(f"problem must be a RecoveryProblem (see make_problem), got {problem!r}")
    if not isinstance(network, DeepLinearNetwork):
        raise ValueError(f"network must be a DeepLinearNetwork, got {network!r}")
    _check_compatible(problem, network)
    rates = layer_learning_rates(network.depth, lr, alpha)
    steps = check_int("steps", steps, low=0)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    weight_decay = check_float("weight_decay", weight_decay, low=0.0)
    tol = check_float("tol", tol, low=0.0)
    if stop_error is not None:
        stop_error = check_positive("stop_error", stop_error)
    if time_limit is not None:
        time_limit = check_positive("time_limit", time_limit)
    log_every = check_int("log_every", log_every, low=1)
    if read_every is None:
        read_every = 1 if problem.device.type == "cpu" else DEVICE_READ_EVERY
    read_every = check_int("read_every", read_every, low=1)

    history = History(
        stopped_reason="steps",
        settings={
            **problem.settings(),
            "network": network.kind,
            "depth": network.depth,
            "widths": network.widths,
            "lr": lr,
            "alpha": alpha,
            "optimizer": optimizer,
            "weight_decay": weight_decay,
            "device": str(problem.device),
            "dtype": str(problem.dtype).removeprefix("torch."),
        },
        num_params=network.num_params,
    )
    tuner = None
    if threads is not None:
        threads = check_int("threads", threads, low=1)
    elif problem.device.type == "cpu":
        threads = threads_for(_largest_product_work(network), problem.data_entries)
        if threads > 1:  # large products: several threads, but not against a busy neighbour
            tuner = ThreadTuner(threads)
    bar = tqdm(total=steps, desc=description or network.kind, disable=not progress, leave=False)
    try:
        with cpu_threads(threads):  # building the step multiplies too (the target's norm, SVD)
            if runs_in_numpy(problem, network, optimizer):
                step = NumpyStep(problem, network, rates, weight_decay)
            else:
                update = _Update(rates, weight_decay, optimizer, network)
                step = _TorchStep(problem, network, update)
            loop = _Loop(
                step=step,
                stopping=_StoppingRule(steps, tol, stop_error, time_limit),
                logging=_LoggingPlan(log_every, record_layer_singular_values, record_layers),
                guard=DivergenceGuard(divergence_factor, lr, alpha),
                readout=_Readout(read_every),
                tuner=tuner,
            )
            _run(problem, network, history, loop, bar)
    except KeyboardInterrupt:
        history.stopped_reason = "interrupted"
    finally:
        bar.close()
        for layer in network.layers:
            layer.grad = None
    return history


@dataclass
class _StoppingRule:
    """When a run ends: the step budget, the loss and error targets, the time limit."""

    steps: int
    tol: float
    stop_error: float | None
    time_limit: float | None

    def reason(self, step, loss_value, error_value, compute_seconds) -> str | None:
        """The ``History.stopped_reason`` if the run ends after reading this step, else None."""
        if loss_value < self.tol:
            return "tol"
        if self.stop_error is not None and error_value < self.stop_error:
            return "stop_error"
        if self.time_limit is not None and compute_seconds >= self.time_limit:
            return "time_limit"
        if step == self.steps:
            return "steps"
        return None


@dataclass
class _LoggingPlan:
    """What a snapshot records, and how often."""

    every: int
    layer_singular_values: bool
    layers: bool


class _Update:
    """The parameter update: the fused gradient-descent step, or Adam with per-layer rates."""

    def __init__(self, rates, weight_decay, optimizer, network):
        self.rates, self.weight_decay = rates, weight_decay
        self.adam = None
        if optimizer == "adam":
            groups = [
                {"params": [layer], "lr": rate}
                for layer, rate in zip(network.layers, rates, strict=True)
            ]
            self.adam = torch.optim.Adam(groups, weight_decay=weight_decay)

    def apply(self, network, lower, gradient, workspace) -> None:
        if self.adam is None:
            network.descend(lower, gradient, self.rates, self.weight_decay, out=workspace)
            return
        gradients = network.layer_gradients(lower, gradient, out=workspace)
        for layer, layer_gradient in zip(network.layers, gradients, strict=True):
            layer.grad = layer_gradient
        self.adam.step()


class _Readout:
    """The steps whose ``parts`` (see ``RecoveryProblem.parts_and_gradient``) wait to be read.

    With ``every > 1`` the parts are copied into a buffer on the device and read together: one
    wait for the device per ``every`` steps. (With ``every = 1`` the loop reads each step's
    parts at once and keeps nothing here: on the CPU reading costs nothing.)
    """

    def __init__(self, every: int):
        self.every = every
        self.buffer = None
        self.steps: list[int] = []

    def keep(self, step: int, parts: torch.Tensor) -> None:
        if self.buffer is None:
            self.buffer = parts.new_empty(self.every, parts.numel())
        self.buffer[len(self.steps)].copy_(parts.view(-1))
        self.steps.append(step)

    def due(self, forced: bool) -> bool:
        return forced or len(self.steps) == self.every

    def read(self) -> list[tuple[int, list[float]]]:
        """``(step, parts as floats)`` of every step kept since the last read; waits for them."""
        rows = self.buffer[: len(self.steps)].tolist()
        read, self.steps = list(zip(self.steps, rows, strict=True)), []
        return read


class _TorchStep:
    """One step in torch: the prefix products, the problem's gradient, then the update.

    The path for a GPU, for Adam and for sensing; on a CPU, plain gradient descent on
    factorization and completion runs in numpy (``numpy_step.NumpyStep``, same interface).
    """

    def __init__(self, problem, network, update: _Update):
        self.problem, self.network, self.update = problem, network, update
        self.workspace = network.workspace()
        self.lower = self.gradient = None

    def parts(self) -> torch.Tensor:
        """The forward pass; ``parts`` stay on the device (see ``_Readout``)."""
        self.lower = self.network.lower_products(out=self.workspace)
        parts, self.gradient = self.problem.parts_and_gradient_of_product(
            self.network.layers[-1], self.lower[-1], out=self.workspace.prefix[-1]
        )
        return parts

    def end_to_end(self) -> torch.Tensor:
        return self.network.layers[-1] @ self.lower[-1]

    def descend(self) -> None:
        self.update.apply(self.network, self.lower, self.gradient, self.workspace)


@dataclass
class _Loop:
    step: _TorchStep | NumpyStep
    stopping: _StoppingRule
    logging: _LoggingPlan
    guard: DivergenceGuard
    readout: _Readout
    tuner: ThreadTuner | None = None


def _run(problem, network, history, loop, bar):
    """The loop itself; the clock runs only around the arithmetic, not around logging."""
    each_step = loop.readout.every == 1
    compute_seconds = 0.0
    for step in range(loop.stopping.steps + 1):
        if loop.tuner is not None:
            loop.tuner.before_step()
        started = time.perf_counter()
        parts = loop.step.parts()
        log_now = step % loop.logging.every == 0
        on_host = isinstance(parts, list)  # the numpy step's floats: reading them costs nothing
        if each_step or on_host:
            values = parts if on_host else parts.tolist()
            compute_seconds += time.perf_counter() - started
            stop = _record(step, values, problem, history, loop, compute_seconds)
        else:
            stop = None
            loop.readout.keep(step, parts)
            if loop.readout.due(log_now or step == loop.stopping.steps):
                rows = loop.readout.read()  # waits for the device
                before = history.seconds[-1] if history.seconds else 0.0
                compute_seconds += time.perf_counter() - started
                stop = _record_chunk(rows, problem, history, loop, before, compute_seconds)
            else:
                compute_seconds += time.perf_counter() - started

        if log_now or stop is not None:
            _log(history, step, loop.step.end_to_end(), problem, network, loop.logging)
            bar.set_postfix(error=f"{history.recovery_error[-1]:.2e}", refresh=False)
        if stop is not None:
            history.stopped_reason = stop
            return

        started = time.perf_counter()
        loop.step.descend()
        compute_seconds += time.perf_counter() - started
        bar.update(1)


def _record(step, parts, problem, history, loop, seconds) -> str | None:
    """Append one step's loss, error and time to the history; check it; why it stops, if so."""
    loss_value, error_value = problem.loss_and_error(parts)
    history.train_loss.append(loss_value)
    history.recovery_error.append(error_value)
    history.seconds.append(seconds)
    loop.guard.check(step, loss_value)
    return loop.stopping.reason(step, loss_value, error_value, seconds)


def _record_chunk(rows, problem, history, loop, seconds_before, seconds_now) -> str | None:
    """``_record`` for every row read at once; the first stop reason, if any.

    Every step taken is recorded, also those after the one that stopped the run. The compute
    time since the last read is shared evenly among its steps (on a GPU they ran
    asynchronously, so only their total is known).
    """
    stop = None
    for index, (step, parts) in enumerate(rows, start=1):
        seconds = seconds_before + (seconds_now - seconds_before) * index / len(rows)
        reason = _record(step, parts, problem, history, loop, seconds)
        stop = stop or reason
    return stop


def _largest_product_work(network) -> int:
    """Multiply-adds of the largest product in a step (every product has the input width)."""
    d_in = network.widths[0]
    return max(w.shape[0] * w.shape[1] * d_in for w in network.layers)


def _check_compatible(problem, network):
    d = problem.d
    if network.widths[0] != d or network.widths[-1] != d:
        raise ValueError(
            f"network maps {network.widths[0]} -> {network.widths[-1]} but the problem's target "
            f"is {d} x {d}"
        )
    if network.device != problem.device or network.dtype != problem.dtype:
        raise ValueError(
            f"network is on {network.device}/{network.dtype} but the problem on "
            f"{problem.device}/{problem.dtype}: build both with the same device and dtype"
        )


def _log(history, step, end_to_end, problem, network, logging):
    history.log_iterations.append(step)
    history.singular_values.append(torch.linalg.svdvals(end_to_end).cpu())
    if logging.layer_singular_values:
        history.layer_singular_values.append(
            [torch.linalg.svdvals(w).cpu() for w in network.layers]
        )
    if logging.layers:
        history.layer_snapshots.append([w.detach().cpu().clone() for w in network.layers])
    if isinstance(problem, MatrixCompletion):
        value = problem.unobserved_error(end_to_end).item()
        history.logged_metrics.setdefault("unobserved_error", []).append(value)
