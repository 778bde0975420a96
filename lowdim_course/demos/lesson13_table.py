"""Lesson 13's fine-tuning runs for every slider position, computed once and shipped.

The lesson's panel compares full fine-tuning, LoRA and Deep LoRA (compressed) on the related
task for a rank r (2, 4, 8), a number of examples per class (2, 5, 10, 20) and a learning rate
(3e-5 to 1e-3), each over five seeds (the examples drawn and the adapters' random factors).
That is 560 runs of 1,000 Adam steps, 5 to 10 minutes on 2 cores, too slow for a slider; so
this table holds, for each setting and seed, the test and validation accuracy and the stable
rank of each layer's update after 100, 300 and 1,000 steps, and the run's seconds. Written by

    python -m lowdim_course.demos.lesson13_table          # every setting

with :func:`compute_entry`, which calls the lesson's own ``adapters.finetune.fine_tune``; read
only when the settings it was made with are the code's. Floats are stored as Python writes them
(``repr``), so a value read back is the value computed; seconds are the one machine-dependent
number (the CPU is stored with them). ``tests/test_demos_lesson13.py`` recomputes entries and
compares.
"""

from __future__ import annotations

import functools
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..adapters.factorized import DEFAULT_EPS
from ..adapters.finetune import fine_tune
from ..adapters.pretrained import PRETRAINING, load_pretrained
from ..adapters.tasks import (
    DRAW_POOL,
    TARGET_DATA_SEED,
    TARGET_TRANSFORMS,
    few_shot,
    related_task,
    validation_set,
)
from ..threads import cpu_model

KIND_RANKS = (
    ("full", 0),
    ("lora", 2),
    ("lora", 4),
    ("lora", 8),
    ("deep_compressed", 2),
    ("deep_compressed", 4),
    ("deep_compressed", 8),
)
PER_CLASS = (2, 5, 10, 20)
RATES = (3e-5, 1e-4, 3e-4, 1e-3)
CHECKPOINTS = (100, 300, 1000)
SEEDS = (0, 1, 2, 3, 4)
TABLE_PATH = Path(__file__).with_name("lesson13_table.json")


def grid() -> list[tuple[str, int, int, float]]:
    """Every (kind, rank, examples per class, learning rate) the panel can show."""
    return [
        (kind, rank, per_class, lr)
        for kind, rank in KIND_RANKS
        for per_class in PER_CLASS
        for lr in RATES
    ]


def run_settings() -> dict:
    """What the stored numbers depend on; a table made with other settings is not used."""
    return {
        "pretraining": json.loads(json.dumps(PRETRAINING)),  # tuples as lists, as stored
        "task": {"data_seed": TARGET_DATA_SEED, "transforms": TARGET_TRANSFORMS, "pool": DRAW_POOL},
        "optimizer": "adam, full batch, biases frozen",
        "eps": DEFAULT_EPS,
        "checkpoints": list(CHECKPOINTS),
        "seeds": list(SEEDS),
    }


@functools.lru_cache(maxsize=1)
def load() -> dict:
    """``{(kind, rank, per_class, lr): entry}``; empty when missing or made differently."""
    if not TABLE_PATH.is_file():
        return {}
    stored = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
    if stored.get("settings") != run_settings():
        return {}
    return {
        (row["kind"], row["rank"], row["per_class"], row["lr"]): row for row in stored["entries"]
    }


def entry(kind: str, rank: int, per_class: int, lr: float) -> dict | None:
    """The stored runs of one setting, or None."""
    return load().get((kind, int(rank), int(per_class), float(lr)))


@functools.lru_cache(maxsize=1)
def _model_and_task():
    task = related_task()
    return load_pretrained(), task, (task.x_test, task.y_test), validation_set(task)


def compute_entry(setting: tuple[str, int, int, float]) -> dict:
    """One table row: the setting's five seeded runs, from the lesson's own functions."""
    kind, rank, per_class, lr = setting
    model, task, test, validation = _model_and_task()
    runs = []
    for seed in SEEDS:
        x, y = few_shot(task, per_class, seed)
        result = fine_tune(
            model,
            x,
            y,
            kind,
            rank=max(rank, 1),
            lr=lr,
            steps=max(CHECKPOINTS),
            seed=seed,
            test=test,
            validation=validation,
            checkpoints=CHECKPOINTS,
            per_class=per_class,
        )
        runs.append(
            {
                "seed": seed,
                "test": [result.accuracies["test"][c] for c in CHECKPOINTS],
                "validation": [result.accuracies["validation"][c] for c in CHECKPOINTS],
                "stable_ranks": [result.stable_ranks_at[c] for c in CHECKPOINTS],
                "seconds": result.seconds,
                "trainable": result.trainable_parameters,
            }
        )
    return {"kind": kind, "rank": rank, "per_class": per_class, "lr": lr, "runs": runs}


def write(path: Path = TABLE_PATH, workers: int = 2) -> Path:
    """Run every setting of :func:`grid` and write the table (``workers`` processes)."""
    settings = grid()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        entries = []
        for number, row in enumerate(pool.map(compute_entry, settings), start=1):
            entries.append(row)
            print(
                f"{number}/{len(settings)} {row['kind']} r={row['rank']} "
                f"n={row['per_class']} lr={row['lr']}",
                flush=True,
            )
    table = {
        "settings": run_settings(),
        "machine": {"cpu": cpu_model(), "workers": workers},
        "entries": entries,
    }
    path.write_text(json.dumps(table, separators=(",", ":")) + "\n", encoding="utf-8")
    load.cache_clear()
    return path


if __name__ == "__main__":
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    print(f"wrote {write(workers=workers)}")
