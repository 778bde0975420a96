"""Lesson 09's SGD tail simulation, and its estimates for every slider position, shipped.

The tail-index panel (``lesson09.tail_index``) has a step-size slider (0.05 to 0.18 in steps of
0.01) and a batch-size slider (1 to 8): 112 settings. Each one needs five SGD simulations of
1,000 chains for 500 steps (``sgd_iterates``), 0.12 s per seed at batch 1 and 0.85 s at batch 8
on one core, mostly drawing Gaussian numbers: a slider move would take 0.6 to 4 s. So this
table holds, for every setting, what the panel shows: the exact index, Hill's and the block
estimate for seeds 0-4, and the tail curve of seed 0. It is written by

    python -m lowdim_course.demos.lesson09_table          # 2.5 minutes on 2 cores

with the very functions the panel calls when a setting is not in the table
(:func:`simulated_estimates`, :func:`simulated_tail`), and it is read only when the simulation
settings it was made with (d, chains, steps, seeds) are the code's. The floats are
stored as Python writes them (``repr``), so a value read back is the value computed.
``tests/test_demos_lesson09.py`` simulates entries again and compares.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from ..literature.heavy_tails import hill_estimator, kesten_tail_index, sgd_iterates
from ..literature.tail_estimators import network_tail_index
from ..threads import small_work

D, CHAINS, STEPS, SGD_SEEDS = 10, 1000, 500, 5
TAIL_EXACT_RANKS, TAIL_SPACED_RANKS = 300, 100
TABLE_PATH = Path(__file__).with_name("lesson09_tail_table.json")
RATES = tuple(round(0.05 + 0.01 * i, 2) for i in range(14))  # the step-size slider's values
BATCHES = tuple(range(1, 9))  # the batch-size slider's values


def grid() -> list[tuple[float, int]]:
    """Every (step size, batch size) the panel's sliders can show."""
    return [(rate, batch) for rate in RATES for batch in BATCHES]


def simulation_settings() -> dict:
    """What the stored numbers depend on; a table made with other settings is not used."""
    return {
        "d": D,
        "noise": 1.0,
        "chains": CHAINS,
        "steps": STEPS,
        "seeds": SGD_SEEDS,
        "block": "centred by coordinate medians, median of 5 orders, uncapped",
    }


@functools.lru_cache(maxsize=1)
def load() -> dict[tuple[float, int], dict]:
    """``{(lr, batch_size): entry}``; empty when the file is missing or made differently."""
    if not TABLE_PATH.is_file():
        return {}
    stored = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    if stored.get("settings") != simulation_settings():
        return {}
    return {(entry["lr"], entry["batch_size"]): entry for entry in stored["entries"]}


def entry(lr: float, batch_size: int) -> dict | None:
    """The stored entry for this setting (keys exact, hill, block, ranks, magnitudes) or None."""
    return load().get((round(float(lr), 4), int(batch_size)))


def compute_entry(setting: tuple[float, int]) -> dict:
    """One table row, from the panel's own simulation functions."""
    lr, batch_size = setting
    estimates = simulated_estimates(lr, batch_size)
    ranks, magnitudes = simulated_tail(lr, batch_size)
    exact = estimates["exact"]
    return {
        "lr": lr,
        "batch_size": batch_size,
        "exact": "inf" if exact is not None and math.isinf(exact) else exact,
        "hill": estimates["hill"],
        "block": estimates["block"],
        "ranks": ranks,
        "magnitudes": magnitudes,
    }


def decoded(stored: dict) -> dict:
    """A stored entry with the exact index as a float (``inf`` is kept as text in JSON)."""
    exact = stored["exact"]
    return {**stored, "exact": math.inf if exact == "inf" else exact}


def write(path: Path = TABLE_PATH, workers: int = 2) -> Path:
    """Simulate every setting of :func:`grid` and write the table (``workers`` processes)."""
    settings = grid()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        entries = []
        for number, row in enumerate(pool.map(compute_entry, settings), start=1):
            entries.append(row)
            print(f"{number}/{len(settings)} lr={row['lr']} b={row['batch_size']}", flush=True)
    table = {"settings": simulation_settings(), "entries": entries}
    path.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    load.cache_clear()
    return path


# ---------------------------------------------------------------------------------------------
# The simulation (what the table stores, and what a setting off the table costs)
# ---------------------------------------------------------------------------------------------


def exact_index(lr: float, batch_size: int) -> float | None:
    """The exact tail index, or None where the chain has no stationary law."""
    try:
        return kesten_tail_index(lr, batch_size)
    except ValueError:
        return None


@functools.lru_cache(maxsize=32)
def _iterates(lr: float, batch_size: int, seed: int) -> torch.Tensor:
    """Final errors of the 1,000 chains: a ``chains x d`` matrix (one row per chain)."""
    return sgd_iterates(lr, batch_size, d=D, chains=CHAINS, steps=STEPS, seed=seed)


@functools.lru_cache(maxsize=32)
@small_work()
def simulated_estimates(lr: float, batch_size: int) -> dict:
    """Hill's and the block estimate over 5 seeds, and the exact index, simulated now.

    The block estimate is Barsbey et al.'s procedure (:func:`network_tail_index`: each
    coordinate centred by its median over the chains, median over 5 random orders) without
    the cap at 2, so that the panel shows where it lands.
    """
    runs = [_iterates(lr, batch_size, seed) for seed in range(SGD_SEEDS)]
    return {
        "exact": exact_index(lr, batch_size),
        "hill": [hill_estimator(x.flatten()) for x in runs],
        "block": [network_tail_index(x, seed=seed, cap=None) for seed, x in enumerate(runs)],
    }


@small_work()
def simulated_tail(lr: float, batch_size: int) -> tuple[list[int], list[float]]:
    """Seed 0's tail curve: ``(ranks, |x - x*| at those ranks)``, largest first.

    The 300 largest magnitudes (Hill's k = 250 and the slope line read them) and 100 more at
    log-spaced ranks down to the smallest, to 6 significant digits: on log axes the curve is
    the one drawn from all 10,000, at a 25th of the points.
    """
    magnitudes = torch.sort(_iterates(lr, batch_size, 0).abs().flatten(), descending=True).values
    n = magnitudes.numel()
    spaced = torch.logspace(math.log10(TAIL_EXACT_RANKS + 1), math.log10(n), TAIL_SPACED_RANKS)
    ranks = sorted(set(range(1, TAIL_EXACT_RANKS + 1)) | {round(float(r)) for r in spaced})
    return ranks, [float(f"{float(magnitudes[rank - 1]):.6g}") for rank in ranks]


def panel_estimates(lr: float, batch_size: int) -> dict:
    """The panel's numbers for a setting: from the table where stored, else simulated."""
    stored = entry(lr, batch_size)
    if stored is None:
        return simulated_estimates(lr, batch_size)
    stored = decoded(stored)
    return {key: stored[key] for key in ("exact", "hill", "block")}


def panel_tail(lr: float, batch_size: int) -> tuple[list[int], list[float]]:
    """The panel's tail curve for a setting: from the table where stored, else simulated."""
    stored = entry(lr, batch_size)
    if stored is None:
        return simulated_tail(lr, batch_size)
    return stored["ranks"], stored["magnitudes"]


if __name__ == "__main__":
    print(write())
    sys.exit(0)
