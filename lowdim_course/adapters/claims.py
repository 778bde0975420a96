"""Yaras et al.'s three claims for Deep LoRA, measured on a table of fine-tuning runs.

The table (``demos/lesson13_table.py``) holds, for each setting ``(kind, rank, per_class, lr)``,
five seeded runs with test and validation accuracy and each layer's stable rank after 100, 300
and 1,000 steps. A method's result for a given rank and number of examples is taken at the
learning rate and step count with the best mean **validation** accuracy (1,000 signals of the
related task that no few-shot set uses), so the test set chooses nothing. The claims:

1. *Better few-shot fine-tuning*: Deep LoRA's test accuracy minus LoRA's, paired by seed (the
   same examples), at each one's chosen setting; and at one rate and step count for both, as
   the paper's scripts run them.
2. *Lower-rank updates*: the stable rank ``||Delta||_F^2 / ||Delta||_2^2`` of the learned
   updates, averaged over the layers, at the chosen settings.
3. *Less sensitive to the rank*: how much a method's test accuracy moves when r goes from 2 to
   8 with everything else kept (its learning rate and step count chosen once, at r = 8).
"""

from __future__ import annotations

import statistics

from ..validation import check_choice

METHODS = ("lora", "deep_compressed")


def chosen_setting(entries: dict, kind: str, rank: int, per_class: int) -> tuple[float, int]:
    """``(lr, checkpoint index)`` with the best mean validation accuracy over the seeds.

    Ties (equal means) go to the smaller learning rate and then the earlier checkpoint.
    """
    best = None
    for (k, r, n, lr), entry in sorted(entries.items(), key=lambda item: item[0][3]):
        if (k, r, n) != (kind, rank, per_class):
            continue
        for index in range(len(entry["runs"][0]["validation"])):
            score = statistics.fmean(run["validation"][index] for run in entry["runs"])
            if best is None or score > best[0] + 1e-9:
                best = (score, lr, index)
    if best is None:
        raise ValueError(f"the table has no runs of {kind!r} at rank {rank}, {per_class} per class")
    return best[1], best[2]


def _runs_at(entries, kind, rank, per_class, lr, index, field):
    entry = entries[(kind, rank, per_class, lr)]
    return [run[field][index] for run in entry["runs"]]


def tuned_accuracy(entries: dict, kind: str, rank: int, per_class: int) -> list[float]:
    """Test accuracy of each seed at the method's chosen setting."""
    lr, index = chosen_setting(entries, kind, rank, per_class)
    return _runs_at(entries, kind, rank, per_class, lr, index, "test")


def paired_gain(entries: dict, rank: int, per_class: int) -> list[float]:
    """Deep LoRA minus LoRA, test accuracy in points, seed by seed (claim 1)."""
    deep = tuned_accuracy(entries, "deep_compressed", rank, per_class)
    lora = tuned_accuracy(entries, "lora", rank, per_class)
    return [a - b for a, b in zip(deep, lora, strict=True)]


def paired_gain_at(entries: dict, rank: int, per_class: int, lr: float, index: int) -> list:
    """Deep LoRA minus LoRA at one fixed rate and step count for both, seed by seed.

    Yaras et al.'s few-shot scripts run both adapters this way (rate 1e-4, a fixed number of
    steps, no choice on validation data)."""
    deep = _runs_at(entries, "deep_compressed", rank, per_class, lr, index, "test")
    lora = _runs_at(entries, "lora", rank, per_class, lr, index, "test")
    return [a - b for a, b in zip(deep, lora, strict=True)]


def tuned_stable_rank(entries: dict, kind: str, rank: int, per_class: int) -> list[float]:
    """Each seed's stable rank of the update, averaged over the layers (claim 2)."""
    lr, index = chosen_setting(entries, kind, rank, per_class)
    ranks = _runs_at(entries, kind, rank, per_class, lr, index, "stable_ranks")
    return [statistics.fmean(layers) for layers in ranks]


def rank_sensitivity(
    entries: dict, kind: str, per_class: int, ranks=(2, 4, 8)
) -> dict[int, list[float]]:
    """Test accuracy of each seed at each rank, at the setting chosen for the largest (claim 3)."""
    check_choice("kind", kind, METHODS)
    lr, index = chosen_setting(entries, kind, max(ranks), per_class)
    return {r: _runs_at(entries, kind, r, per_class, lr, index, "test") for r in ranks}
