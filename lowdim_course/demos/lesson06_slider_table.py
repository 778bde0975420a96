"""Lesson 06's compressed-block panel: every slider position trained once and shipped.

The panel (``lesson06.compressed_block_demo``) retrains Original + C-DLN on the digits for 100
full-batch Adam steps at a width ``r_hat``, a factor ``alpha`` and a block depth ``L``. In float64
on one core that takes 0.5 to 2.5 s (measured on a shared 2-core AMD EPYC), more than a slider
move should; float32 halves it but moved a printed accuracy (95.5% against 95.8% at r_hat 64,
L 5). So this table holds, for every position of the panel's controls, the curve that the panel
draws (test accuracy at every evaluated iteration) and the block's size. It is written by

    python -m lowdim_course.demos.lesson06_slider_table     # about two minutes on one core

with the very function the panel calls off the table (:func:`compressed_run`), and it is
read only when the settings it was made with are the code's. Floats are stored as Python writes
them (``repr``), so a value read back is the value computed. ``tests/test_demos_lesson06.py``
trains entries again and compares.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

from ..nonlinear import DEFAULTS, build_models, load_digits_data, train_models
from ..threads import small_work

TABLE_PATH = Path(__file__).with_name("lesson06_slider_table.json")
R_HATS = (4, 9, 20, 40, 64)  # below, at and above the surrogate's rank 9, up to w / 2
ALPHAS = (0.5, 1.0, 3.0, 10.0)
DEPTHS = (2, 3, 4, 5)
_KEYS = ("data", "width", "eps", "lr", "alpha_layers", "steps", "eval_every", "hidden_layers",
         "optimizer", "batch_size", "test_fraction", "seed")  # fmt: skip


@functools.lru_cache(maxsize=16)
def compressed_run(r_hat: int, alpha: float, depth: int, steps: int):
    """Original + C-DLN alone on the lesson's digits split at (r_hat, alpha, depth): its
    history (the run the panel shows, in the table or trained now)."""
    data = load_digits_data(DEFAULTS["test_fraction"], DEFAULTS["seed"])
    with small_work():
        models, setup = build_models(("cdln",), data, {**DEFAULTS, "r_hat": r_hat, "depth": depth})
    return train_models(
        {"cdln": models["cdln"]},
        data,
        lr=DEFAULTS["lr"],
        alpha=alpha,
        alpha_layers=DEFAULTS["alpha_layers"],
        steps=steps,
        eval_every=DEFAULTS["eval_every"],
        setup_seconds=setup,
    )["cdln"]


def grid() -> list[tuple[int, float, int]]:
    """Every ``(r_hat, alpha, depth)`` the panel's controls can show."""
    return [(r, a, d) for r in R_HATS for a in ALPHAS for d in DEPTHS]


def training_settings() -> dict:
    """What the stored curves depend on; a table made with other settings is not used."""
    return {key: DEFAULTS[key] for key in _KEYS}


@functools.lru_cache(maxsize=1)
def load() -> dict[tuple[int, float, int], dict]:
    """``{(r_hat, alpha, depth): entry}``; empty when the file is missing or made differently."""
    if not TABLE_PATH.is_file():
        return {}
    stored = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    if stored.get("settings") != training_settings():
        return {}
    return {(e["r_hat"], e["alpha"], e["depth"]): e for e in stored["entries"]}


def entry(r_hat: int, alpha: float, depth: int) -> dict | None:
    """The stored entry (block_params, iterations, test_accuracy) or None off the table."""
    return load().get((int(r_hat), round(float(alpha), 6), int(depth)))


def compute_entry(setting: tuple[int, float, int]) -> dict:
    """One table row, from the panel's own training function."""
    r_hat, alpha, depth = setting
    history = compressed_run(r_hat, alpha, depth, DEFAULTS["steps"])
    return {
        "r_hat": r_hat,
        "alpha": alpha,
        "depth": depth,
        "block_params": history.block_params,
        "iterations": list(history.iterations),
        "test_accuracy": list(history.test_accuracy),
    }


def write(path: Path = TABLE_PATH) -> Path:
    """Train every setting of :func:`grid` and write the table."""
    settings = grid()
    entries = []
    for number, setting in enumerate(settings, start=1):
        entries.append(compute_entry(setting))
        print(f"{number}/{len(settings)} r_hat, alpha, depth = {setting}", flush=True)
    table = {"settings": training_settings(), "entries": entries}
    path.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    load.cache_clear()
    return path


if __name__ == "__main__":
    sys.exit(print(write()))
