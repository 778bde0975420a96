"""Reproduce the paper's trajectory figures: original vs compressed, error against time.

``reproduce(task)`` trains the original deep linear network and the compressed one (spectral
init, discrepant learning rate) on one problem at the reference settings (the paper's sizes;
``comparison.TASK_DEFAULTS`` with ``REFERENCE_SIZES`` below) and writes, into ``out_dir``,

* ``<task>.png``: recovery error ``||W - M*||_F / ||M*||_F`` against iteration (left) and
  against compute seconds (right), both networks (Kwon et al. 2024, Figs. of Sec. 4);
* ``<task>.json``: ``{"task", "settings", "original": {...}, "compressed": {...}}`` as
  ``lowdim-course compare --json`` writes it, plus ``ratios`` (original / compressed) and, per
  network, ``curve``: the error curve subsampled to at most ``CURVE_POINTS`` points.

Each file is written atomically (a temporary file in the same folder, then ``os.replace``), so
an interrupt never leaves half a file and loses no finished result.

Sensing stores its operator as one ``m x d^2`` matrix. At the reference size d=200, m=4000 that
is ``m d^2 = 1.6e8`` numbers (1.28 GB in float64); when the free memory (psutil's
available RAM on the CPU, ``torch.cuda.mem_get_info`` on a GPU) is below that plus a margin, the
run falls back to d=100, m=2000 and says so.

    lowdim-course reproduce mf mc ms --out reproduced/
"""

from __future__ import annotations

import json
import math

import psutil
import torch

from .comparison import (
    REPORTED_ERROR,
    Comparison,
    build_problem,
    resolve_settings,
    run_both,
)
from .files import check_output_folder, save_figure_atomically, write_atomically
from .history import History
from .problems import TASKS
from .validation import check_choice, resolve_device, resolve_dtype

EXPERIMENTS = (*TASKS, "nonlinear")

# Where reproduce departs from compare's defaults (``comparison.TASK_DEFAULTS``, the one table):
# sensing at the paper's size, stopping a decade below the reported error, because a step at
# d = 200 reads a 1.28 GB operator twice.
REFERENCE_SIZES = {"ms": {"d": 200, "m": 4000, "stop_error": 1e-5}}
SENSING_FALLBACK = {"d": 100, "m": 2000}
# Free memory must exceed the operator by this factor plus this many bytes.
MEMORY_FACTOR, MEMORY_MARGIN = 1.25, 512 * 2**20
CURVE_POINTS = 500


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------


def free_memory_bytes(device) -> int | None:
    """Bytes free for new tensors on ``device``: available RAM (CPU) or ``mem_get_info`` (CUDA).

    The CPU figure is psutil's ``available`` (Linux's MemAvailable, and its counterparts on
    macOS and Windows); None when it cannot be told.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        return int(psutil.virtual_memory().available)
    except (OSError, RuntimeError, AttributeError):
        return None


def sensing_memory_needed(d: int, m: int, dtype: torch.dtype, device) -> dict[str, int]:
    """Bytes the sensing operator needs, per place: ``{"cpu": ..., "cuda": ...}``.

    The operator has ``m d^2`` entries. It is drawn in float64 on the CPU (``m d^2 x 8`` bytes,
    plus the converted copy when the run is float32 on the CPU) and then moved to the device.
    """
    entries = m * d * d
    element = torch.empty((), dtype=dtype).element_size()
    device = torch.device(device)
    if device.type == "cuda":
        return {"cpu": entries * 8, "cuda": entries * element}
    return {"cpu": entries * 8 + (entries * element if element != 8 else 0)}


def sensing_fits(d: int, m: int, dtype, device) -> tuple[bool, str]:
    """Whether the sensing operator fits in free memory (with margin), and a line saying why."""
    for place, needed in sensing_memory_needed(d, m, dtype, device).items():
        where = torch.device(device) if place == "cuda" else torch.device("cpu")
        free = free_memory_bytes(where)
        wanted = MEMORY_FACTOR * needed + MEMORY_MARGIN
        if free is None:
            return False, f"the free memory on {place} cannot be read"
        if free < wanted:
            return False, (
                f"the sensing operator at d={d}, m={m} needs {needed / 1e9:.2f} GB on {place} "
                f"({wanted / 1e9:.2f} GB with margin) but only {free / 1e9:.2f} GB is free"
            )
    return True, ""


# --------------------------------------------------------------------------------------------
# Writing files
# --------------------------------------------------------------------------------------------


def subsample_curve(history: History, points: int = CURVE_POINTS) -> dict[str, list]:
    """At most ``points`` (iteration, seconds, error) triples, evenly spaced, last one kept."""
    total = len(history.recovery_error)
    stride = max(1, math.ceil(total / points))
    indices = list(range(0, total, stride))
    if indices and indices[-1] != total - 1:
        indices.append(total - 1)
    return {
        "iteration": indices,
        "seconds": [history.seconds[i] for i in indices],
        "error": [history.recovery_error[i] for i in indices],
    }


def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


# --------------------------------------------------------------------------------------------
# One experiment
# --------------------------------------------------------------------------------------------


def reference_settings(task: str, **overrides) -> dict:
    """``comparison.resolve_settings`` with ``REFERENCE_SIZES`` for ``task`` under the overrides."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return resolve_settings(task, **{**REFERENCE_SIZES.get(task, {}), **given})


def run_experiment(
    task: str, *, device="cpu", dtype=None, progress: bool = True, say=print, **overrides
) -> tuple[Comparison, dict]:
    """Train both networks at the reference settings; ``(Comparison, notes)``.

    For sensing at the reference size the free memory is checked first; if the operator does
    not fit, the run uses d=100, m=2000 and ``notes["fallback"]`` holds the printed message.
    """
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    settings = reference_settings(task, **overrides)
    notes = {"fallback": None}
    if task == "ms":
        fits, why = sensing_fits(settings["d"], settings["m"], dtype, device)
        fallback = SENSING_FALLBACK
        smaller = fallback["m"] * fallback["d"] ** 2 < settings["m"] * settings["d"] ** 2
        if not fits and not smaller:
            raise ValueError(f"{why}: lower m or d")
        if not fits:
            fits_too, why_too = sensing_fits(fallback["d"], fallback["m"], dtype, device)
            if not fits_too:
                raise ValueError(f"{why}, and {why_too}: lower m or d")
            message = (
                f"reproduce ms: {why}: running at d={fallback['d']}, m={fallback['m']} instead "
                "(free some memory, or use a machine with more, for the reference size)"
            )
            say(message)
            notes["fallback"] = message
            settings.update(fallback)
    say(
        f"reproduce {task}: "
        + ", ".join(
            f"{key}={value}"
            for key, value in settings.items()
            if value is not None and key not in ("task", "device", "dtype")
        )
        + f", device={device}, dtype={str(dtype).removeprefix('torch.')}"
    )
    settings.update(device=device, dtype=dtype)
    log_every = max(1, settings["steps"] // 50)
    comparison = run_both(
        build_problem(settings), settings, progress=progress, log_every=log_every, label=task
    )
    return comparison, notes


def summarize(comparison: Comparison, notes: dict) -> dict:
    """The JSON: ``compare``'s summary, ratios original/compressed, subsampled curves."""
    data = comparison.to_dict()
    key_it, key_s = "iterations_to_1e-4", "seconds_to_1e-4"
    original, compressed = data["original"], data["compressed"]
    data["ratios"] = {
        "params": _ratio(original["params"], compressed["params"]),
        "iterations_to_1e-4": _ratio(original[key_it], compressed[key_it]),
        "seconds_to_1e-4": _ratio(original[key_s], compressed[key_s]),
        "seconds_per_step": _ratio(original["seconds_per_step"], compressed["seconds_per_step"]),
    }
    data["original"]["curve"] = subsample_curve(comparison.original)
    data["compressed"]["curve"] = subsample_curve(comparison.compressed)
    data["fallback"] = notes.get("fallback")
    data["torch"] = torch.__version__
    return data


def plot_comparison(comparison: Comparison):
    """The figure: error vs iteration and vs seconds, both networks, the 1e-4 level marked."""
    from .plots import plot_error_curves

    s = comparison.settings
    extra = {"mc": f", p={s.get('p')}", "ms": f", m={s.get('m')}"}.get(comparison.task, "")
    figure = plot_error_curves(
        {"original": comparison.original, "compressed": comparison.compressed},
        title=(
            f"{comparison.task}: d={s['d']}, r={s['r']}{extra}, L={s['depth']}, eps={s['eps']:g}, "
            f"lr={s['lr']:g}, r_hat={s['r_hat']}, alpha={s['alpha']:g} ({s['device']}, "
            f"{s['dtype']})"
        ),
    )
    for ax in figure.axes:
        ax.axhline(REPORTED_ERROR, color="0.6", lw=0.6)
    return figure


def reproduce(
    task: str,
    *,
    device="cpu",
    out_dir="reproduced",
    progress: bool = True,
    dtype=None,
    say=print,
    data: str | None = None,
    **overrides,
) -> dict:
    """Run one experiment (``'mf'``, ``'mc'``, ``'ms'`` or ``'nonlinear'``) and write its files.

    ``overrides`` (d, r, r_hat, depth, eps, lr, alpha, steps, tol, p, m, seed, stop_error)
    replace reference settings, for tests and for capped runs. Returns the JSON's content with
    ``paths`` (the files written) added. ``'nonlinear'`` hands over to
    ``lowdim_course.nonlinear.reproduce_nonlinear``; ``data`` (``'digits'``, the default, or
    ``'mnist1d'``) picks its data set and is checked before any training.
    """
    check_choice("task", task, EXPERIMENTS)
    out_dir = check_output_folder("out_dir", out_dir)  # before any training
    if data is not None and task != "nonlinear":
        raise ValueError(f"data applies to the 'nonlinear' experiment only, not to {task!r}")
    if task == "nonlinear":
        if overrides or dtype is not None:
            raise ValueError("nonlinear takes no size overrides or dtype here")
        return _reproduce_nonlinear(device=device, out_dir=out_dir, progress=progress, data=data)
    comparison, notes = run_experiment(
        task, device=device, dtype=dtype, progress=progress, say=say, **overrides
    )
    data = summarize(comparison, notes)
    json_path, png_path = out_dir / f"{task}.json", out_dir / f"{task}.png"
    write_atomically(json_path, json.dumps(data, indent=2) + "\n")
    say(f"wrote {json_path}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plot_comparison(comparison)
    try:
        save_figure_atomically(figure, png_path)
    finally:
        plt.close(figure)
    say(f"wrote {png_path}")
    say(format_summary(data))
    return {**data, "paths": [str(json_path), str(png_path)]}


def format_summary(data: dict) -> str:
    """Two lines per experiment: iterations and seconds to 1e-4 of both, and the ratios."""
    lines = []
    for side in ("original", "compressed"):
        values = data[side]
        it, sec = values["iterations_to_1e-4"], values["seconds_to_1e-4"]
        lines.append(
            f"  {side:>10}: {values['params']:>7,} params, iterations to 1e-4 "
            f"{'-' if it is None else f'{it:,}'}, seconds to 1e-4 "
            f"{'-' if sec is None else f'{sec:.3g}'}, {values['seconds_per_step'] * 1e3:.3g} ms "
            f"per step, final error {values['final_error']:.2e}"
        )
    ratios = data["ratios"]

    def fmt(value):
        return "-" if value is None else f"{value:.3g}x"

    lines.append(
        f"  original / compressed: params {fmt(ratios['params'])}, iterations "
        f"{fmt(ratios['iterations_to_1e-4'])}, seconds {fmt(ratios['seconds_to_1e-4'])}, per "
        f"step {fmt(ratios['seconds_per_step'])}"
    )
    return "\n".join(lines)


def _reproduce_nonlinear(*, device, out_dir, progress, data=None):
    try:
        from .nonlinear import reproduce_nonlinear
    except ImportError as exc:
        raise ValueError(
            "the nonlinear experiment is not available in this installation "
            f"(lowdim_course.nonlinear.reproduce_nonlinear: {exc})"
        ) from None
    options = {} if data is None else {"data": data}  # the digits unless asked
    return reproduce_nonlinear(device=device, out_dir=out_dir, progress=progress, **options)


def reproduce_many(tasks, **options) -> list[dict]:
    """``reproduce`` each task in turn; files of finished tasks stay if a later one fails."""
    tasks = list(tasks)
    if not tasks:
        raise ValueError(f"tasks must name at least one of {EXPERIMENTS}")
    for task in tasks:
        check_choice("task", task, EXPERIMENTS)
    return [reproduce(task, **options) for task in tasks]
