"""The record of one training run: what a plot, a table or a theory check reads."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


@dataclass
class History:
    """Per-step curves plus snapshots taken every ``log_every`` steps.

    Per step t = 0, 1, ..., T (the state after t updates): ``train_loss[t]``,
    ``recovery_error[t]`` and ``seconds[t]``, the compute time spent up to that state (time spent
    logging is not counted). At the logged iterations ``log_iterations``: ``singular_values``
    (one row per log, the end-to-end matrix's singular values, largest first), and on request
    ``layer_singular_values`` and ``layer_snapshots`` (lists over logs of lists over layers, on
    the CPU), plus task metrics in ``logged_metrics`` (e.g. completion's unobserved error).
    """

    settings: dict = field(default_factory=dict)
    train_loss: list = field(default_factory=list)
    recovery_error: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    log_iterations: list = field(default_factory=list)
    singular_values: list = field(default_factory=list)
    layer_singular_values: list = field(default_factory=list)
    layer_snapshots: list = field(default_factory=list)
    logged_metrics: dict = field(default_factory=dict)
    stopped_reason: str = ""
    num_params: int = 0

    @property
    def steps(self) -> int:
        """Number of gradient updates performed."""
        return max(len(self.train_loss) - 1, 0)

    @property
    def iterations(self) -> torch.Tensor:
        return torch.arange(len(self.train_loss))

    @property
    def final_error(self) -> float:
        return self.recovery_error[-1] if self.recovery_error else math.nan

    @property
    def final_loss(self) -> float:
        return self.train_loss[-1] if self.train_loss else math.nan

    @property
    def seconds_per_step(self) -> float:
        """Mean compute seconds per gradient update (nan before the first update)."""
        return self.seconds[-1] / self.steps if self.steps else math.nan

    def iterations_to(self, error: float) -> int | None:
        """First iteration whose recovery error is below ``error`` (None if never)."""
        for iteration, value in enumerate(self.recovery_error):
            if value < error:
                return iteration
        return None

    def seconds_to(self, error: float) -> float | None:
        """Compute seconds until the recovery error first fell below ``error`` (None if never)."""
        iteration = self.iterations_to(error)
        return None if iteration is None else self.seconds[iteration]

    def singular_value_matrix(self) -> torch.Tensor:
        """Logged end-to-end singular values as one ``(n_logs, k)`` tensor."""
        return torch.stack(self.singular_values) if self.singular_values else torch.empty(0, 0)

    def summary(self, error: float = 1e-4) -> dict:
        """The numbers a comparison table needs (JSON-friendly; None where not reached)."""
        label = error_label(error)
        return {
            "params": self.num_params,
            f"iterations_to_{label}": self.iterations_to(error),
            f"seconds_to_{label}": self.seconds_to(error),
            "seconds_per_step": None if self.steps == 0 else self.seconds_per_step,
            "final_error": self.final_error if math.isfinite(self.final_error) else None,
            "steps": self.steps,
            "stopped": self.stopped_reason,
        }


def error_label(error: float) -> str:
    """``1e-4`` for a power of ten (as in ``iterations_to_1e-4``), else the ``%g`` form."""
    exponent = round(math.log10(error)) if error > 0 else 0
    if error > 0 and math.isclose(error, 10.0**exponent, rel_tol=1e-12):
        return f"1e{exponent}"
    return f"{error:g}"
