"""What Lesson 12's update-geometry panel plots and prints, as plain data (no figure).

For one panel position (optimizer, lr factor, width, initial scale) of the MLP
40-width-width-10 on MNIST-1D (600 steps, five seeds, ``nonlinear.update_sweep``):
:func:`geometry_data` returns the spectrum of each layer's update ``W_T - W_0`` (seed 0, over
its largest singular value), the energy share of the top k directions against k (mean over the
seeds; a Gaussian matrix of the same shape beside it), the captured share of the final update
in the top-5 subspaces of each recorded step, and the printed numbers (test accuracy and the
per-layer measures, mean +- sd over the seeds, with a Gaussian matrix's). Kwon et al.
(AISTATS 2024) predict a low-dimensional update for deep linear networks; these numbers
measure it here. ``lesson12_table`` stores this data for every position of the panel.
"""

from __future__ import annotations

import functools

import torch

from ..nonlinear.update_geometry import update_spectrum
from ..nonlinear.update_sweep import SEEDS, gaussian_reference, sweep_setting, trained_run
from ..random_matrices import make_generator
from ..threads import small_work
from ..validation import check_choice, check_float, check_int

BASE_LR = {"adam": 1e-2, "sgd": 0.1}  # the learning rate at lr_factor = 1
PLOT_DIGITS = 6  # significant digits kept of what is only plotted
PRINTED_MEASURES = ("rank", "stable_rank", "top_k_share", "rank_for_energy", "captured_early")


def lesson_setting(optimizer="adam", lr_factor=1.0, width=100, init_scale=1.0) -> dict:
    """The MLP setting a panel position stands for: ``lr = BASE_LR[optimizer] * lr_factor``."""
    check_choice("optimizer", optimizer, tuple(BASE_LR))
    lr_factor = check_float("lr_factor", lr_factor, low=0.0, high=100.0, low_open=True)
    width = check_int("width", width, low=1, high=1024)
    init_scale = check_float("init_scale", init_scale, low=0.0, high=100.0, low_open=True)
    lr = float(f"{BASE_LR[optimizer] * lr_factor:.3g}")  # 0.3 times 0.1 is 0.03
    return {"optimizer": optimizer, "lr": lr, "width": width, "init_scale": init_scale}


def _plotted(values) -> list[float]:
    return [float(f"{float(v):.{PLOT_DIGITS}g}") for v in values]


def share_curve(delta) -> list[float]:
    """``[0, e_1, e_2, ...]``: the energy share ``sum_{i<=k} s_i^2 / sum_i s_i^2`` against k."""
    energy = update_spectrum(delta) ** 2
    kept = energy.cumsum(0) / energy.sum()
    return [0.0, *kept.tolist()]


@functools.lru_cache(maxsize=16)
def gaussian_of_shape(rows: int, cols: int):
    """The Gaussian matrix the figure's dashed curves come from (seed 1000, float64)."""
    return torch.randn(rows, cols, generator=make_generator(1000), dtype=torch.float64)


@small_work()
def geometry_data(setting: dict) -> dict:
    """The plain data of one setting (``lesson_setting``'s dict), computed now (seconds).

    ``{"setting", "accuracy": [mean, sd], "steps", "layers": {name: {"shape", measure: [mean,
    sd] for every measure of sweep_setting, "gaussian": gaussian_reference(shape) (printed),
    "spectrum" (seed 0, s_i / s_1), "share" (mean over seeds), "gaussian_share", "captured"
    (mean over seeds per recorded step)}}}``. Printed numbers are kept as computed; the curves
    (only plotted) to PLOT_DIGITS significant digits.
    """
    result = sweep_setting(SEEDS, **setting)
    runs = [trained_run(seed, **setting) for seed in SEEDS]
    layers = {}
    for name, measures in result["layers"].items():
        final = runs[0].final_update(name)
        spectrum = update_spectrum(final)
        curves = [share_curve(run.final_update(name)) for run in runs]
        per_seed = [described[name]["captured"] for described in result["per_seed"]]
        reference = gaussian_reference(measures["shape"])
        layers[name] = {
            "shape": list(measures["shape"]),
            **{m: list(v) for m, v in measures.items() if m != "shape"},
            "gaussian": {m: list(v) for m, v in reference.items()},
            "spectrum": _plotted(spectrum / spectrum[0]),
            "share": _plotted(sum(v) / len(v) for v in zip(*curves, strict=True)),
            "gaussian_share": _plotted(share_curve(gaussian_of_shape(*final.shape))),
            "captured": _plotted(sum(v) / len(v) for v in zip(*per_seed, strict=True)),
        }
    return {
        "setting": dict(setting),
        "accuracy": list(result["accuracy"]),
        "steps": list(result["steps"]),
        "layers": layers,
    }
