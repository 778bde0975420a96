"""Lesson 12's update-geometry panel for every position of its toggle buttons, computed once.

The panel (``lesson12.update_geometry_demo``) trains five MLPs of 600 steps per position:
seconds per move, too slow for a control. Its toggle buttons span a small grid, optimizer
(Adam, SGD) x lr factor (0.3, 1, 3) x width (25, 50, 100, 200) x initial scale (0.3, 1, 3),
72 positions; this table holds :func:`lesson12_geometry.geometry_data` of each (what the figure
plots and what the printout prints). Written by

    python -m lowdim_course.demos.lesson12_table          # 2 worker processes

in about 2 minutes (measured 2026-12-07: 130 s wall, 206 s CPU for the 72 positions, 2 workers
of one thread each, AMD EPYC shared with other jobs; 440 kB). Printed numbers are stored as
Python writes them (``repr``: a value read back is the value computed), plotted curves to 6
significant digits. Read only when the settings it was made with are the code's
(:func:`run_settings`); otherwise the panel computes live. ``tests/test_demos_lesson12.py``
recomputes entries and compares.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..nonlinear.mnist1d import STANDARD_DATA_SEED
from ..nonlinear.update_geometry import SETTLE_ANGLE, UPDATE_RTOL
from ..nonlinear.update_sweep import DEFAULT_SETTING, ENERGY, RECORD_EVERY, SEEDS, T0, TOP_K
from ..threads import cpu_model
from .lesson12_geometry import BASE_LR, PLOT_DIGITS, geometry_data, lesson_setting

OPTIMIZERS = ("adam", "sgd")
LR_FACTORS = (0.3, 1.0, 3.0)
WIDTHS = (25, 50, 100, 200)
INIT_SCALES = (0.3, 1.0, 3.0)
TABLE_PATH = Path(__file__).with_name("lesson12_table.json")


def grid() -> list[tuple[str, float, int, float]]:
    """Every (optimizer, lr factor, width, initial scale) the panel can show."""
    return [
        (optimizer, lr_factor, width, init_scale)
        for optimizer in OPTIMIZERS
        for lr_factor in LR_FACTORS
        for width in WIDTHS
        for init_scale in INIT_SCALES
    ]


def run_settings() -> dict:
    """What the stored numbers depend on; a table made with other settings is not used."""
    return {
        "base": dict(DEFAULT_SETTING),
        "base_lr": dict(BASE_LR),
        "seeds": list(SEEDS),
        "data_seed": STANDARD_DATA_SEED,
        "top_k": TOP_K,
        "energy": ENERGY,
        "record_every": RECORD_EVERY,
        "t0": T0,
        "update_rtol": UPDATE_RTOL,
        "settle_angle": SETTLE_ANGLE,
        "plot_digits": PLOT_DIGITS,
        "format": 1,
    }


@functools.lru_cache(maxsize=1)
def _stored() -> tuple[dict, dict]:
    """``(settings, {position: data})`` as the file holds them (read once per process)."""
    if not TABLE_PATH.is_file():
        return {}, {}
    stored = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    entries = {tuple(row["position"]): row["data"] for row in stored["entries"]}
    return stored.get("settings", {}), entries


def load() -> dict:
    """``{(optimizer, lr_factor, width, init_scale): data}``; empty when the file is missing
    or was made with other settings than the code's now (checked at every call: a setting
    changed in this process makes the table stale too)."""
    settings, entries = _stored()
    return entries if settings == run_settings() else {}


def forget() -> None:
    """Read the file again at the next :func:`load` (after a write, or a new TABLE_PATH)."""
    _stored.cache_clear()


def entry(optimizer: str, lr_factor: float, width: int, init_scale: float) -> dict | None:
    """The stored data of one position, or None (not on the grid, or no valid table)."""
    return load().get((optimizer, float(lr_factor), int(width), float(init_scale)))


def compute_entry(position: tuple[str, float, int, float]) -> dict:
    """One table row: :func:`geometry_data` of the position, computed now."""
    return {"position": list(position), "data": geometry_data(lesson_setting(*position))}


def write(path: Path = TABLE_PATH, workers: int = 2) -> Path:
    """Compute every position of :func:`grid` and write the table (``workers`` processes)."""
    positions = grid()
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        entries = []
        for number, row in enumerate(pool.map(compute_entry, positions), start=1):
            entries.append(row)
            print(f"{number}/{len(positions)} {row['position']}", flush=True)
    table = {
        "settings": run_settings(),
        "machine": {
            "cpu": cpu_model(),
            "workers": workers,
            "seconds": round(time.perf_counter() - started),
        },
        "entries": entries,
    }
    path.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    forget()
    return path


if __name__ == "__main__":
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    print(f"wrote {write(workers=workers)}")
