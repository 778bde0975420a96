"""Figures drawn from training histories (matplotlib; no computation happens here)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import NullFormatter

from .history import History

STYLE = {
    "original": {"color": "tab:blue", "label": "original (width d)"},
    "compressed": {"color": "tab:orange", "label": "compressed (width $\\hat r$)"},
}


def plot_error_curves(histories: dict[str, History], axes=None, title: str | None = None):
    """Recovery error against iteration (left) and against compute seconds (right), log scale.

    ``histories`` maps a name ('original', 'compressed' or any label) to its History.
    Returns the figure.
    """
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    else:
        fig = axes[0].figure
    for name, history in histories.items():
        style = STYLE.get(name, {"label": name})
        axes[0].semilogy(history.iterations, history.recovery_error, **style)
        axes[1].semilogy(history.seconds, history.recovery_error, **style)
    axes[0].set_xlabel("iteration")
    axes[1].set_xlabel("seconds (compute)")
    for ax in axes:
        # Over less than a decade matplotlib labels the minor ticks of a log axis, and those
        # labels read like "10 x 10^-1": keep to the powers of ten.
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel(r"$\|W - M^*\|_F / \|M^*\|_F$")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return fig
