"""Mean and spread of a few repeated measurements (seeds, splits): the numbers a verdict prints.

Every comparison a lesson prints is computed over several seeds and shown with its spread; these
two helpers keep that arithmetic, and the ``mean +- sd`` text, in one place.
"""

from __future__ import annotations

import statistics


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (``n - 1`` in the denominator; 0 for one value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values must hold at least one number")
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), spread


def format_mean_sd(pair: tuple[float, float] | None, digits: int = 2) -> str:
    """``"mean +- sd"`` with ``digits`` decimals, or ``"-"`` when nothing was measured."""
    if pair is None:
        return "-"
    mean, sd = pair
    return f"{mean:.{digits}f} +- {sd:.{digits}f}"


def format_range(values, digits: int = 2) -> str:
    """``"min to max"`` of ``values`` with ``digits`` decimals, or ``"-"`` when there are none.

    A comparison over seeds reports the range where it exists: with runs too short for any
    seed to reach a threshold there is no ratio to print, and the table says so instead of
    failing.
    """
    values = [float(v) for v in values]
    if not values:
        return "-"
    return f"{min(values):.{digits}f} to {max(values):.{digits}f}"
