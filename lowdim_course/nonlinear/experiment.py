"""The experiment: the three models on one split, the paper's claim, the figure and files."""

from __future__ import annotations

import json
import time
from pathlib import Path

from ..files import save_figure_atomically, write_atomically
from ..threads import cpu_threads
from ..validation import (
    check_choice,
)
from .data import ClassificationData, load_digits_data
from .model import build_model
from .settings import CLAIM_POINTS, CLAIM_SPEEDUP, DEFAULTS, KINDS, REPRODUCE_SETTINGS
from .trainer import ClassifierHistory, train_models


def _settings(overrides: dict, base: dict) -> dict:
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(base))}"
        )
    return {**base, **overrides}


def build_models(kinds, data: ClassificationData, settings: dict) -> tuple[dict, dict]:
    """``({kind: model}, {kind: seconds to build it})`` for the given settings."""
    models, setup = {}, {}
    for kind in kinds:
        started = time.perf_counter()
        models[kind] = build_model(
            kind,
            data,
            width=settings["width"],
            depth=settings["depth"],
            r_hat=settings["r_hat"],
            eps=settings["eps"],
            hidden_layers=settings["hidden_layers"],
            seed=settings["seed"],
        )
        setup[kind] = time.perf_counter() - started
    return models, setup


def run_nonlinear(
    kinds=KINDS,
    device="cpu",
    dtype=None,
    progress: bool = False,
    threads: int | None = 1,
    **overrides,
) -> dict[str, ClassifierHistory]:
    """Build the requested models on one data split and train them side by side.

    ``overrides`` are any of ``DEFAULTS``' keys (width, depth, r_hat, eps, lr, alpha,
    alpha_layers, steps,
    eval_every, hidden_layers, optimizer, batch_size, test_fraction, seed). Each model's build
    time is counted in its seconds. ``threads`` CPU threads build and train the models (see
    ``train_models``).
    """
    settings = _settings(overrides, DEFAULTS)
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("kinds must name at least one of 'mlp', 'dln', 'cdln'")
    for kind in kinds:
        check_choice("kinds", kind, KINDS)
    data = load_digits_data(settings["test_fraction"], settings["seed"], device, dtype)
    with cpu_threads(threads):
        models, setup = build_models(kinds, data, settings)
    histories = train_models(
        models,
        data,
        lr=settings["lr"],
        alpha=settings["alpha"],
        alpha_layers=settings["alpha_layers"],
        steps=settings["steps"],
        eval_every=settings["eval_every"],
        optimizer=settings["optimizer"],
        batch_size=settings["batch_size"],
        seed=settings["seed"],
        setup_seconds=setup,
        threads=threads,
        progress=progress,
    )
    for history in histories.values():
        history.settings.update(settings)
    return histories


def claim_check(histories: dict[str, ClassifierHistory]) -> dict:
    """The paper's claim, measured: C-DLN reaches Original + DLN's accuracy (within 0.5 points)
    in at least 2x less training time.

    ``target = final accuracy of Original + DLN - 0.5``; each model's seconds to first reach it
    (at an evaluation); ``speedup = seconds_dln / seconds_cdln``; ``accuracy_gap`` = final
    accuracy of C-DLN minus that of Original + DLN. Holds when C-DLN reaches the target, its
    final accuracy is at most 0.5 points below, and the speed-up is at least 2.
    """
    dln, cdln = histories["dln"], histories["cdln"]
    target = dln.final_accuracy - CLAIM_POINTS
    seconds = {k: histories[k].seconds_to(target) for k in ("dln", "cdln")}
    iterations = {k: histories[k].iterations_to(target) for k in ("dln", "cdln")}
    speedup = None
    if seconds["dln"] is not None and seconds["cdln"]:
        speedup = seconds["dln"] / seconds["cdln"]
    gap = cdln.final_accuracy - dln.final_accuracy
    holds = speedup is not None and speedup >= CLAIM_SPEEDUP and gap >= -CLAIM_POINTS
    return {
        "target_accuracy": target,
        "accuracy_gap": gap,
        "seconds_to_target": seconds,
        "iterations_to_target": iterations,
        "speedup": speedup,
        "per_step_speedup": dln.seconds_per_step / cdln.seconds_per_step,
        "params_ratio": dln.num_params / cdln.num_params,
        "block_params_ratio": dln.block_params / cdln.block_params,
        "holds": holds,
    }


def summarize(histories: dict[str, ClassifierHistory]) -> dict:
    """JSON-ready summary: settings, each model's numbers and curves, and the claim if both
    block models ran."""
    first = next(iter(histories.values()))
    per_model = ("block_alpha",)
    summary = {
        "experiment": "nonlinear",
        "settings": {k: v for k, v in first.settings.items() if k not in per_model},
        "models": {name: history.to_dict() for name, history in histories.items()},
    }
    if "dln" in histories and "cdln" in histories:
        summary["claim"] = claim_check(histories)
    return summary


def plot_accuracy(histories: dict[str, ClassifierHistory], axes=None, title: str | None = None):
    """Test accuracy against iteration (left) and against compute seconds (right)."""
    import matplotlib.pyplot as plt

    if axes is None:
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        figure.subplots_adjust(left=0.08, right=0.985, bottom=0.15, top=0.83, wspace=0.25)
    figure = axes[0].figure
    colors = {"mlp": "tab:gray", "dln": "tab:blue", "cdln": "tab:orange"}
    for history in histories.values():
        style = {"color": colors[history.kind], "label": history.label}
        axes[0].plot(history.iterations, history.test_accuracy, **style)
        axes[1].plot(history.seconds, history.test_accuracy, **style)
    axes[0].set_xlabel("iteration")
    axes[1].set_xlabel("seconds (compute)")
    low = min(min(h.test_accuracy[1:] or h.test_accuracy) for h in histories.values())
    for ax in axes:
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(max(low - 2, 0), 100.5)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    if title:
        figure.suptitle(title)
    return figure


def reproduce_nonlinear(device="cpu", out_dir=Path("."), progress: bool = True, **overrides):
    """Run the three models at ``REPRODUCE_SETTINGS`` (plus overrides); write PNG and JSON.

    Writes ``nonlinear.png`` (accuracy against iteration and seconds) and ``nonlinear.json``
    (``summarize``'s dict) into ``out_dir``, each atomically (temp file + ``os.replace``), and
    returns the summary with the two paths added.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(overrides, REPRODUCE_SETTINGS)
    histories = run_nonlinear(device=device, progress=progress, **settings)
    summary = summarize(histories)
    png, js = out_dir / "nonlinear.png", out_dir / "nonlinear.json"
    summary["png"], summary["json"] = str(png), str(js)

    import matplotlib.pyplot as plt

    claim = summary["claim"]
    figure = plot_accuracy(
        histories,
        title=f"digits, w={settings['width']}, L={settings['depth']}, r_hat={settings['r_hat']}: "
        f"C-DLN {claim['speedup'] or float('nan'):.2g}x faster to "
        f"{claim['target_accuracy']:.1f}%",
    )
    save_figure_atomically(figure, png)
    plt.close(figure)
    write_atomically(js, json.dumps(summary, indent=2))
    return summary
