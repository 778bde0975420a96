"""The experiment: the three models on one split, the paper's claim, the figure and files."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path

from ..files import check_output_folder, save_figure_atomically, write_atomically
from ..threads import cpu_threads
from ..validation import (
    check_choice,
    check_float,
    check_int,
    check_positive,
)
from .data import ClassificationData, load_digits_data
from .mnist1d import load_mnist1d_data
from .model import build_model
from .settings import (
    ALPHA_LAYERS,
    CLAIM_POINTS,
    CLAIM_SPEEDUP,
    DATA_SETS,
    DEFAULTS,
    KINDS,
    MNIST1D_REPRODUCE_SETTINGS,
    OPTIMIZERS,
    REPRODUCE_SETTINGS,
)
from .trainer import ClassifierHistory, train_models

DATA_TITLES = {"digits": "digits", "mnist1d": "MNIST-1D"}


def _settings(overrides: dict, base: dict) -> dict:
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(base))}"
        )
    return {**base, **overrides}


def check_settings(settings: dict) -> dict:
    """Every setting of ``DEFAULTS`` checked (ValueError naming it and its valid range).

    Called before any data is loaded or any model trained, so that a bad value fails at once.
    """
    checked = dict(settings)
    checked["data"] = check_choice("data", settings["data"], DATA_SETS)
    for name, low in (("width", 1), ("depth", 2), ("steps", 1), ("eval_every", 1),
                      ("hidden_layers", 1), ("seed", 0)):  # fmt: skip
        checked[name] = check_int(name, settings[name], low=low)
    checked["r_hat"] = check_int("r_hat", settings["r_hat"], low=1)  # <= width: build_model
    for name in ("eps", "alpha"):
        checked[name] = check_positive(name, settings[name])
    if isinstance(settings["lr"], Mapping):  # one rate per model kind, each tuned on its own
        checked["lr"] = {}
        for kind, rate in settings["lr"].items():
            check_choice("lr's keys", kind, KINDS)
            checked["lr"][kind] = check_positive(f"lr[{kind!r}]", rate)
    else:
        checked["lr"] = check_positive("lr", settings["lr"])
    checked["alpha_layers"] = check_choice("alpha_layers", settings["alpha_layers"], ALPHA_LAYERS)
    checked["optimizer"] = check_choice("optimizer", settings["optimizer"], OPTIMIZERS)
    if settings["batch_size"] is not None:
        checked["batch_size"] = check_int("batch_size", settings["batch_size"], low=1)
    checked["test_fraction"] = check_float(
        "test_fraction", settings["test_fraction"], low=0.0, high=1.0, low_open=True,
        high_open=True,
    )  # fmt: skip
    return checked


def load_data(
    data: str = DEFAULTS["data"],
    test_fraction: float = DEFAULTS["test_fraction"],
    seed: int = DEFAULTS["seed"],
    device="cpu",
    dtype=None,
) -> ClassificationData:
    """The experiment's data set by name, ``"digits"`` or ``"mnist1d"``.

    ``"digits"``: scikit-learn's digits, a random split drawn from ``seed`` with
    ``test_fraction`` of the samples held out (:func:`load_digits_data`). ``"mnist1d"``: the
    standard MNIST-1D of Greydanus & Kobak (2024), whose train/test split is fixed (4,000 /
    1,000 signals, :func:`load_mnist1d_data`); ``test_fraction`` and ``seed`` do not change it,
    so over seeds only the initial weights (and the mini-batch order) vary.
    """
    data = check_choice("data", data, DATA_SETS)
    if data == "mnist1d":
        return load_mnist1d_data(device=device, dtype=dtype)
    return load_digits_data(test_fraction, seed, device, dtype)


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

    ``overrides`` are any of ``DEFAULTS``' keys (data, width, depth, r_hat, eps, lr, alpha,
    alpha_layers, steps, eval_every, hidden_layers, optimizer, batch_size, test_fraction, seed);
    ``lr`` is a float, or a dict ``{kind: rate}`` covering ``kinds`` (each model tuned apart).
    ``data`` names the data set (:func:`load_data`): on ``"digits"`` the seed draws the split
    and the initial weights; on ``"mnist1d"`` the split is fixed and the seed draws the initial
    weights (and the mini-batch order). Each model's build time is counted in its seconds.
    ``threads`` CPU threads build and train the models (see ``train_models``).
    """
    settings = check_settings(_settings(overrides, DEFAULTS))
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("kinds must name at least one of 'mlp', 'dln', 'cdln'")
    for kind in kinds:
        check_choice("kinds", kind, KINDS)
    data = load_data(settings["data"], settings["test_fraction"], settings["seed"], device, dtype)
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
        rate = history.settings["lr"]
        history.settings.update(settings)
        history.settings["lr"] = rate
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
    settings = {k: v for k, v in first.settings.items() if k not in per_model}
    rates = {h.kind: h.settings["lr"] for h in histories.values()}
    if len(set(rates.values())) > 1:
        settings["lr"] = rates
    summary = {
        "experiment": "nonlinear",
        "settings": settings,
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

    ``data="mnist1d"`` runs them on MNIST-1D's fixed split instead of a split of the digits, at
    ``MNIST1D_REPRODUCE_SETTINGS`` (each model at the learning rate the tuned sweep chose,
    ``benchmarks/results/nonlinear-sweep-mnist1d.md``). The settings are checked before any
    training.

    Writes ``nonlinear.png`` (accuracy against iteration and seconds) and ``nonlinear.json``
    (``summarize``'s dict) into ``out_dir``, each atomically (temp file + ``os.replace``), and
    returns the summary with the two paths added.
    """
    out_dir = check_output_folder("out_dir", out_dir)  # before any training
    out_dir.mkdir(parents=True, exist_ok=True)
    data = check_choice("data", overrides.get("data", DEFAULTS["data"]), DATA_SETS)
    base = REPRODUCE_SETTINGS if data == "digits" else MNIST1D_REPRODUCE_SETTINGS
    settings = check_settings(_settings(overrides, base))
    histories = run_nonlinear(device=device, progress=progress, **settings)
    summary = summarize(histories)
    png, js = out_dir / "nonlinear.png", out_dir / "nonlinear.json"
    summary["png"], summary["json"] = str(png), str(js)

    import matplotlib.pyplot as plt

    claim = summary["claim"]
    figure = plot_accuracy(
        histories,
        title=f"{DATA_TITLES[settings['data']]}, w={settings['width']}, "
        f"L={settings['depth']}, r_hat={settings['r_hat']}: "
        f"C-DLN {claim['speedup'] or float('nan'):.2g}x faster to "
        f"{claim['target_accuracy']:.1f}%",
    )
    save_figure_atomically(figure, png)
    plt.close(figure)
    write_atomically(js, json.dumps(summary, indent=2))
    return summary
