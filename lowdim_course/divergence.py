"""Stop a diverging run at once, with the step and the advice to lower the learning rate.

A learning rate too large for the problem makes gradient descent overshoot, and the loss grows
geometrically until it is ``inf`` and then ``nan``. Every training loop of the course (the deep
linear networks, the nonlinear models) checks each loss it reads with one ``DivergenceGuard``:
the run stops when the loss is not finite or exceeds ``factor`` times its first value.
"""

from __future__ import annotations

import math

from .validation import check_float


class DivergenceError(ValueError):
    """Training blew up: the learning rate is too large for this problem and network."""


class DivergenceGuard:
    """Watches the losses of one run; the first loss read is the reference.

    ``what``: the run's name in the message (``"training"``, ``"training of Original (MLP)"``);
    ``lr``, ``alpha``: the rates the message reports.
    """

    def __init__(self, factor: float, lr: float, alpha: float = 1.0, what: str = "training"):
        self.factor = check_float("divergence_factor", factor, low=1.0, low_open=True)
        self.lr, self.alpha, self.what = lr, alpha, what
        self.initial_loss: float | None = None

    def check(self, step: int, loss_value: float) -> None:
        """Raise ``DivergenceError`` if ``loss_value`` (read at ``step``) shows divergence."""
        if self.initial_loss is None:
            self.initial_loss = loss_value
        exploded = self.initial_loss > 0 and loss_value > self.factor * self.initial_loss
        if math.isfinite(loss_value) and not exploded:
            return
        raise DivergenceError(
            f"{self.what} diverged at step {step}: the loss became {loss_value:.3g} "
            f"(it started at {self.initial_loss:.3g}); lower the learning rate "
            f"(lr={self.lr:g}, alpha={self.alpha:g})"
        )
