"""The demos' figure helpers: fixed layout, lighter log ticks, shown uncropped and closed."""

import io

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.ticker import LogLocator, NullLocator
from PIL import Image as PILImage

from lowdim_course import plots


def test_demo_figure_has_fixed_margins_and_fixed_title_heights():
    figure, axes = plots.demo_figure(3, 12, 4, title=False)
    assert len(axes) == 3 and tuple(figure.get_size_inches()) == (12, 4)
    assert figure.get_layout_engine() is None  # no constrained layout re-measuring texts
    assert figure.subplotpars.left == pytest.approx(0.8 / 12) and figure.subplotpars.top == 0.9
    assert not any(ax._autotitlepos for ax in axes)  # matplotlib's title placement is skipped
    plt.close(figure)


def test_show_figure_closes_the_figure_and_thins_log_ticks():
    figure, (wide, narrow, linear) = plots.demo_figure(3, 12)
    wide.semilogy([1, 2, 3], [1e-6, 1e-2, 1.0])  # six decades
    narrow.semilogy([1, 2, 3], [0.2, 0.5, 1.5])  # under one decade
    linear.plot([1, 2, 3], [1, 2, 3])
    linear_minor = linear.yaxis.get_minor_locator()
    plots.show_figure(figure)
    assert figure.number not in plt.get_fignums()
    assert isinstance(wide.yaxis.get_minor_locator(), NullLocator)
    narrow_minor = narrow.yaxis.get_minor_locator()
    assert isinstance(narrow_minor, LogLocator)
    inside = [t for t in narrow_minor.tick_values(0.1, 1.0) if 0.1 < t < 1.0]
    assert inside == pytest.approx([0.2, 0.5])  # two minor ticks a decade, not eight
    assert linear.yaxis.get_minor_locator() is linear_minor  # linear axes are left alone


def test_in_a_notebook_the_figure_is_shown_as_a_png_of_its_full_size(monkeypatch):
    shown = []
    monkeypatch.setattr(matplotlib, "get_backend", lambda: "module://matplotlib_inline")
    monkeypatch.setattr("IPython.display.display", shown.append)
    figure, (ax,) = plots.demo_figure(1, 5, 3)
    ax.plot([0, 1], [0, 1])
    plots.show_figure(figure)
    assert len(shown) == 1
    picture = PILImage.open(io.BytesIO(shown[0].data))
    # Not cropped to the drawn content: the figure's own size in pixels.
    assert picture.size == (round(5 * figure.dpi), round(3 * figure.dpi))
    assert figure.number not in plt.get_fignums()
