"""Slider panels: a lesson's interactive demo is a plain function wired to sliders here.

The course's rule: a widget callback is a library function with arguments that computes, then
plots (and prints the numbers the plot shows); the notebook only wires sliders to it::

    from lowdim_course.demos.lesson01 import two_layer_demo
    from lowdim_course.widgets import slider_panel, log_slider, choice

    slider_panel(two_layer_demo, s=log_slider(3.0, 0.1, 10.0), init=choice(["aligned", "random"]))

Every slider has ``continuous_update=False``: the demo recomputes when the handle is released,
not at every pixel it passes, and it recomputes with one CPU thread (``threads.small_work``).
The panel runs the callback once with the starting values, so it opens with a figure. The
panel is an ``ipywidgets.interactive``: tests set ``panel.kwargs_widgets[i].value`` and read
``panel.result`` without a kernel.

A page read without a kernel (the course's static site, a notebook viewer) cannot draw the
sliders. So the panel also keeps a static copy of its opening run, the starting values, what
the callback printed and the figures it showed, and offers it as HTML next to the live widget
(:class:`SliderPanel`); a live front end shows the widget, a static one the copy.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import html
import inspect
import io
import math
import sys
import time

import ipywidgets

from .plots import capture_figures
from .threads import small_work
from .validation import check_float

_LAYOUT = {"description_width": "initial"}


def float_slider(value, low, high, step=None, description=None, readout_format=".3g"):
    """A linear slider on [low, high] (100 steps unless ``step`` is given)."""
    value, low, high = (
        check_float(n, v) for n, v in (("value", value), ("low", low), ("high", high))
    )
    _check_inside(value, low, high)
    return ipywidgets.FloatSlider(
        value=value,
        min=low,
        max=high,
        step=step if step is not None else (high - low) / 100,
        description=description or "",
        continuous_update=False,
        readout_format=readout_format,
        style=_LAYOUT,
    )


def log_slider(value, low, high, description=None, steps_per_decade=10, readout_format=".3g"):
    """A slider on a log scale from ``low`` to ``high`` (both > 0): for scales and rates."""
    value, low, high = (
        check_float(n, v, low=0.0, low_open=True)
        for n, v in (("value", value), ("low", low), ("high", high))
    )
    _check_inside(value, low, high)
    return ipywidgets.FloatLogSlider(
        value=value,
        base=10,
        min=math.log10(low),
        max=math.log10(high),
        step=1 / steps_per_decade,
        description=description or "",
        continuous_update=False,
        readout_format=readout_format,
        style=_LAYOUT,
    )


def int_slider(value, low, high, step=1, description=None):
    """An integer slider on [low, high]."""
    _check_inside(value, low, high)
    return ipywidgets.IntSlider(
        value=value,
        min=low,
        max=high,
        step=step,
        description=description or "",
        continuous_update=False,
        style=_LAYOUT,
    )


def choice(options, value=None, description=None):
    """Toggle buttons for a few named options (the first one unless ``value`` is given)."""
    options = list(options)
    if not options:
        raise ValueError("options must hold at least one choice")
    if value is not None and value not in options:
        raise ValueError(f"value must be one of {options}, got {value!r}")
    return ipywidgets.ToggleButtons(
        options=options,
        value=options[0] if value is None else value,
        description=description or "",
        style=_LAYOUT,
    )


class SliderPanel(ipywidgets.interactive):
    """An ``ipywidgets.interactive`` that also keeps a static copy of its opening run.

    ``static_html`` is that copy: the controls' starting values, what the callback printed and
    each figure it showed (``plots.show_figure``) as an inline PNG. It goes into the panel's
    display data as ``text/html`` beside the widget view, so a notebook saved with its outputs
    shows the figure where no kernel draws the widget.
    """

    static_html: str | None = None

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        if self.static_html is not None and isinstance(bundle, dict):
            bundle["text/html"] = self.static_html
        return bundle


def slider_panel(callback, **controls) -> SliderPanel:
    """Wire ``controls`` (argument name -> widget) to ``callback``, which runs once at once.

    The description of each control defaults to its argument name. Returns the
    :class:`SliderPanel`; ``panel.result`` holds the callback's last return value and
    ``panel.static_html`` the static copy of the opening run.
    """
    if not callable(callback):
        raise ValueError(f"callback must be a function, got {callback!r}")
    for name, control in controls.items():
        if not isinstance(control, ipywidgets.ValueWidget):
            raise ValueError(f"control {name!r} must be a widget (see float_slider, log_slider)")
        if not control.description:
            control.description = name
    seconds = []
    opening: dict = {}

    @functools.wraps(callback)
    def timed(**values):
        started = time.perf_counter()
        try:
            # A slider move is small work: one thread, so a busy neighbour (a browser, a second
            # notebook) cannot stall it; a demo that trains with its own thread policy keeps it.
            with small_work():
                if opening:
                    return callback(**values)
                with capture_figures() as figures, _tee_stdout() as printed:
                    result = callback(**values)
                opening.update(values=values, printed=printed.getvalue(), figures=figures)
                return result
        finally:
            seconds.append(time.perf_counter() - started)

    # Arguments without a control keep their defaults: interactive would make sliders for them.
    signature = inspect.signature(callback)
    held = {
        name: ipywidgets.fixed(parameter.default)
        for name, parameter in signature.parameters.items()
        if name not in controls and parameter.default is not inspect.Parameter.empty
    }
    panel = SliderPanel(timed, **controls, **held)
    panel.callback_seconds = seconds
    if opening:
        described = {name: control.description for name, control in controls.items()}
        panel.static_html = static_copy(described, **opening)
    _PANELS.append(panel)
    return panel


def static_copy(descriptions: dict[str, str], values: dict, printed: str, figures) -> str:
    """The HTML that stands for a panel without a kernel: starting values, printout, figures.

    ``descriptions`` maps each controlled argument to its slider's label; only those
    arguments are listed (the fixed ones are not sliders).
    """
    settings = ", ".join(
        f"{html.escape(label)} = {_shown(values[name])}" for name, label in descriptions.items()
    )
    parts = [
        '<div class="lowdim-static-panel">',
        f"<p><em>Slider panel at its starting values ({settings}). "
        "Run the notebook to move the sliders.</em></p>",
    ]
    if printed.strip():
        parts.append(f"<pre>{html.escape(printed.rstrip())}</pre>")
    for number, png in enumerate(figures, start=1):
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<img src="data:image/png;base64,{encoded}" '
            f'alt="figure {number} of the slider panel at its starting values"/>'
        )
    parts.append("</div>")
    return "\n".join(parts)


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return html.escape(str(value))


class _Tee(io.TextIOBase):
    """Writes to two streams: the notebook's output and a buffer."""

    def __init__(self, shown, kept):
        self.shown, self.kept = shown, kept

    def write(self, text):
        self.kept.write(text)
        return self.shown.write(text)

    def flush(self):
        self.shown.flush()


@contextlib.contextmanager
def _tee_stdout():
    kept = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, kept)):
        yield kept


# Every panel made in this process, in order: the notebook benchmark moves their sliders.
_PANELS: list = []


def panels_made() -> list:
    """The slider panels created so far in this process (kernel), oldest first."""
    return list(_PANELS)


def nudge(panel) -> dict[str, float]:
    """Move each control of ``panel`` one notch and back; seconds each recompute took.

    A slider moves one step up (or down at its maximum), toggle buttons to the next option.
    Used by ``benchmarks/notebook_benchmark.py`` to measure what a student waits for.
    """
    latencies = {}
    controls = [w for w in panel.kwargs_widgets if isinstance(w, ipywidgets.ValueWidget)]
    for control in controls:
        original = control.value
        control.value = _neighbour(control)
        latencies[control.description] = panel.callback_seconds[-1]
        control.value = original
    return latencies


def _neighbour(control):
    if isinstance(control, ipywidgets.ToggleButtons):
        options = list(control.options)
        return options[(options.index(control.value) + 1) % len(options)]
    if isinstance(control, ipywidgets.FloatLogSlider):
        exponent = math.log10(control.value) + control.step
        if exponent > control.max + 1e-12:
            exponent = math.log10(control.value) - control.step
        return control.base**exponent
    up = control.value + control.step
    return up if up <= control.max else control.value - control.step


def _check_inside(value, low, high):
    if not low < high:
        raise ValueError(f"low must be < high, got low={low:g}, high={high:g}")
    if not low <= value <= high:
        raise ValueError(f"value must be in [{low:g}, {high:g}], got {value:g}")
