"""Figures: the demos' layout and display, and figures drawn from training histories.

No computation happens here. A slider move waits for its figure to be drawn, and drawing, not
training, is most of that wait in most lessons; so every demo makes its figure with
:func:`demo_figure` and shows it with :func:`show_figure`, which between them draw a figure
about 3x faster than matplotlib's notebook defaults (``benchmarks/notebook_benchmark.py``).
"""

from __future__ import annotations

import contextlib
import io
import math

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.ticker import LogLocator, NullFormatter, NullLocator

from .history import History

STYLE = {
    "original": {"color": "tab:blue", "label": "original (width d)"},
    "compressed": {"color": "tab:orange", "label": "compressed (width $\\hat r$)"},
}


# The lists that capture_figures() is filling, innermost last.
_CAPTURES: list[list[bytes]] = []


def demo_figure(ncols: int, width: float, height: float = 3.8, title: bool = True):
    """A row of ``ncols`` axes with fixed margins; ``title``: room for a figure title on top.

    Fixed margins instead of matplotlib's constrained layout, which re-measures every text at
    each draw; and each axes' title sits at a fixed height, where matplotlib would otherwise
    measure the tick labels under it first.
    """
    with matplotlib.rc_context({"axes.titley": 1.0}):
        figure, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    figure.subplots_adjust(
        left=0.8 / width, right=0.985, bottom=0.15, top=0.83 if title else 0.9, wspace=0.3
    )
    return figure, list(axes[0])


def show_figure(figure) -> None:
    """Show ``figure`` once, then close it: what every demo does with its figure.

    In a notebook the figure is rendered here as it is, where the notebook's own display would
    draw it twice to crop it (``bbox_inches='tight'``), which :func:`demo_figure`'s margins make
    needless. Log axes spanning two decades or more lose their minor ticks (eight per decade,
    each one costs about as much to draw as a line); narrower ones keep two per decade (2 and 5).
    Outside a notebook this is ``plt.show()``.
    """
    for ax in figure.axes:
        for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() == "log":
                axis.set_minor_locator(_minor_log_ticks(limits))
    inline = "inline" in matplotlib.get_backend()
    if inline or _CAPTURES:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        for captured in _CAPTURES:
            captured.append(buffer.getvalue())
    if inline:
        from IPython.display import Image, display

        display(Image(buffer.getvalue()))
    else:
        plt.show()
    plt.close(figure)


@contextlib.contextmanager
def capture_figures():
    """Collect, as PNG bytes, every figure :func:`show_figure` shows inside the block.

    The figures are still shown as usual. The slider panels use it to keep a static copy of
    their opening figure (``widgets.slider_panel``), which a page without a kernel shows.
    """
    captured: list[bytes] = []
    _CAPTURES.append(captured)
    try:
        yield captured
    finally:
        _CAPTURES.pop()  # blocks nest, so the innermost list is the last one


def _minor_log_ticks(limits):
    low, high = sorted(limits)
    if low > 0 and math.log10(high / low) >= 2:
        return NullLocator()
    return LogLocator(subs=(2.0, 5.0))


def plot_error_curves(histories: dict[str, History], axes=None, title: str | None = None):
    """Recovery error against iteration (left) and against compute seconds (right), log scale.

    ``histories`` maps a name ('original', 'compressed' or any label) to its History.
    Returns the figure.
    """
    if axes is None:
        fig, axes = demo_figure(2, 10, 3.6, title=title is not None)
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
