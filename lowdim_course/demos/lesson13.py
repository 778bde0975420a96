"""Lesson 13 demos: fine-tuning with LoRA and Deep LoRA (Hu et al. 2022; Yaras et al. 2024).

* ``starting_point``: the pretrained MLP on its own test set and on the related task;
* ``compressed_follows_full_width``: a square layer's update by gradient descent on a rank-2
  target, the full-width deep factorization against its compressed form, step by step: the
  invariant subspace of Lessons 03-04 at work in an adapter;
* ``few_shot_panel`` (sliders: rank, examples per class, learning rate): test accuracy after
  100, 300 and 1,000 steps for full fine-tuning, LoRA and Deep LoRA, mean +- sd over five
  seeds, read from the shipped table (``lesson13_table``);
* ``three_claims``: Yaras et al.'s three claims measured on the table, each with its numbers.
"""

from __future__ import annotations

import functools
import statistics

import torch

from ..adapters import compressed_deep_adapter, deep_adapter, descend_on_target
from ..adapters.claims import (
    paired_gain,
    paired_gain_at,
    rank_sensitivity,
    tuned_accuracy,
    tuned_stable_rank,
)
from ..adapters.finetune import LABELS, build_adapters
from ..adapters.pretrained import PRETRAINING, load_pretrained
from ..adapters.tasks import related_task
from ..nonlinear.mnist1d import load_mnist1d_data
from ..plots import demo_figure, show_figure
from ..random_matrices import gaussian, make_generator
from ..spread import mean_sd
from ..threads import small_work
from . import lesson13_table

COLORS = {"full": "tab:gray", "lora": "tab:blue", "deep_compressed": "tab:red"}


@functools.lru_cache(maxsize=1)
def _model_and_data():
    source = load_mnist1d_data(PRETRAINING["data_seed"], num_samples=PRETRAINING["num_samples"])
    return load_pretrained(), source, related_task()


@small_work()
def starting_point() -> dict:
    """The pretrained network's test accuracy on its own task and on the related one."""
    model, source, task = _model_and_data()
    own = model.accuracy(source.x_test, source.y_test)
    related = model.accuracy(task.x_test, task.y_test)
    print(f"pretrained MLP 40-128-128-10 on {source.x_train.shape[0]:,} MNIST-1D signals")
    print(f"test accuracy on its own task: {own:.1f}% ({source.x_test.shape[0]:,} signals)")
    print(f"test accuracy on the related task (stronger shear): {related:.1f}% "
          f"({task.x_test.shape[0]:,} signals)")  # fmt: skip
    return {"own": own, "related": related}


@small_work()
def compressed_follows_full_width(size: int = 20, eps: float = 0.3, steps: int = 200) -> dict:
    """Gradient descent on ``0.5 ||Delta - Phi||_F^2`` (Phi of rank 2, spectral norm 1), lr 0.2.

    The full-width factorization (3 x size^2 numbers) against the compressed one (3 x 16),
    built from the gradient at Delta = 0 (``-Phi``). Prints the largest distance between the
    two updates inside the compressed subspace over all steps, and the distance outside it.
    """
    generator = make_generator(0)
    target = gaussian(size, 2, generator) @ gaussian(2, size, generator)
    target = target / torch.linalg.matrix_norm(target, 2)
    deep = deep_adapter((size, size), eps=eps, seed=1)
    compressed = compressed_deep_adapter(deep, -target, rank=4, eps=eps)
    left, right = compressed.fixed
    full_path = descend_on_target(deep, target, 0.2, steps)
    small_path = descend_on_target(compressed, target, 0.2, steps)
    inside = [float(torch.linalg.matrix_norm(left.T @ (a - b) @ right))
              for a, b in zip(full_path, small_path, strict=True)]  # fmt: skip
    outside = [
        float(torch.linalg.matrix_norm(a - b)) for a, b in zip(full_path, small_path, strict=True)
    ]
    errors = {
        "full width": [float(torch.linalg.matrix_norm(a - target)) for a in full_path],
        "compressed": [float(torch.linalg.matrix_norm(b - target)) for b in small_path],
    }
    figure, (ax,) = demo_figure(1, 6.5, 3.4)
    for (label, curve), style in zip(errors.items(), ("-", "--"), strict=True):
        ax.semilogy(range(1, steps + 1), curve, style, label=label)
    ax.set(xlabel="step", ylabel=r"$\|\Delta - \Phi\|_F$", title=f"{size} x {size} layer, rank 2")
    ax.legend(fontsize=8)
    show_figure(figure)
    print(f"trained numbers: full width {sum(f.numel() for f in deep.factors):,}, "
          f"compressed {sum(f.numel() for f in compressed.factors)}")  # fmt: skip
    # rounding-sized (1e-16 here, other digits on another CPU): printed as a bound far above
    # any rounding, not as a value
    inside_text = "below 1e-9" if max(inside) < 1e-9 else f"{max(inside):.1e}"
    print(f"largest difference inside the compressed subspace over {steps} steps: {inside_text}")
    print(f"difference outside it (the full-width start's rest, eps^3 scale): {max(outside):.2g}")
    return {"inside": max(inside), "outside": max(outside), "errors": errors}


def _entries() -> dict:
    table = lesson13_table.load()
    if not table:
        raise FileNotFoundError(
            "lesson 13's table is missing or was made with other settings: "
            "python -m lowdim_course.demos.lesson13_table"
        )
    return table


@small_work()
def few_shot_panel(rank: int = 8, per_class: int = 5, lr: float = 1e-4) -> dict:
    """Test accuracy after 100, 300, 1,000 steps, mean +- sd over five seeds, per method."""
    entries = _entries()
    checkpoints = lesson13_table.CHECKPOINTS
    figure, (ax,) = demo_figure(1, 6.5, 3.4)
    shown = {}
    for kind, kind_rank in (("full", 0), ("lora", rank), ("deep_compressed", rank)):
        runs = entries[(kind, kind_rank, per_class, lr)]["runs"]
        curve = [mean_sd(run["test"][i] for run in runs) for i in range(len(checkpoints))]
        means = [m for m, _ in curve]
        ax.errorbar(checkpoints, means, yerr=[s for _, s in curve], color=COLORS[kind],
                    label=LABELS[kind], capsize=3, marker="o")  # fmt: skip
        shown[kind] = curve
    ax.set(xscale="log", xlabel="Adam steps", ylabel="test accuracy (%)",
           title=f"r = {rank}, {per_class} examples per class, lr = {lr:g}")  # fmt: skip
    ax.legend(fontsize=8)
    show_figure(figure)
    print(f"test accuracy (%), mean +- sd over 5 seeds; r = {rank}, {per_class} per class, "
          f"lr = {lr:g}")  # fmt: skip
    print(f"{'steps':>24} | " + " | ".join(f"{c:>12,}" for c in checkpoints))
    for kind, curve in shown.items():
        print(f"{LABELS[kind]:>24} | " + " | ".join(f"{m:5.1f} +- {s:4.1f}" for m, s in curve))
    return shown


@small_work()
def three_claims(rank: int = 8) -> dict:
    """Yaras et al.'s three claims on the table, each method at its validation-chosen setting."""
    entries = _entries()
    counts = lesson13_table.PER_CLASS
    result = {
        "gain": {},
        "gain_paper_protocol": {},
        "accuracy": {},
        "stable_rank": {},
        "sensitivity": {},
    }
    print(f"1. few-shot accuracy (%), each method at the rate and step count its validation "
          f"accuracy chose; r = {rank}, mean +- sd over 5 seeds")  # fmt: skip
    for per_class in counts:
        row = {kind: mean_sd(tuned_accuracy(entries, kind, rank if kind != "full" else 0,
                                            per_class))
               for kind in ("full", "lora", "deep_compressed")}  # fmt: skip
        gain = mean_sd(paired_gain(entries, rank, per_class))
        result["accuracy"][per_class], result["gain"][per_class] = row, gain
        cells = "  ".join(f"{LABELS[k]} {m:.1f} +- {s:.1f}" for k, (m, s) in row.items())
        print(f"   {per_class:>2} per class: {cells};  Deep LoRA - LoRA {gain[0]:+.1f} +- "
              f"{gain[1]:.1f} points")  # fmt: skip
    paper_lr, paper_steps = 1e-4, lesson13_table.CHECKPOINTS[-1]
    print(f"   the paper's protocol instead (both at lr {paper_lr:g}, {paper_steps:,} steps, no "
          "validation): Deep LoRA - LoRA")  # fmt: skip
    for per_class in counts:
        gain = mean_sd(
            paired_gain_at(entries, rank, per_class, paper_lr, len(lesson13_table.CHECKPOINTS) - 1)
        )
        result["gain_paper_protocol"][per_class] = gain
        print(f"   {per_class:>2} per class: {gain[0]:+.1f} +- {gain[1]:.1f} points")
    print("2. stable rank of the learned updates (mean over the 3 layers, then over seeds)")
    for per_class in counts:
        pair = {kind: mean_sd(tuned_stable_rank(entries, kind, rank, per_class))
                for kind in ("lora", "deep_compressed")}  # fmt: skip
        result["stable_rank"][per_class] = pair
        print(
            f"   {per_class:>2} per class: LoRA {pair['lora'][0]:.2f} +- {pair['lora'][1]:.2f}, "
            f"Deep LoRA {pair['deep_compressed'][0]:.2f} +- {pair['deep_compressed'][1]:.2f}"
        )
    print("3. test accuracy as r goes 2 -> 4 -> 8 at the setting chosen for r = 8; 'moves' is "
          "the largest minus the smallest mean")  # fmt: skip
    for per_class in counts:
        row = {}
        for kind in ("lora", "deep_compressed"):
            by_rank = rank_sensitivity(entries, kind, per_class)
            means = {r: statistics.fmean(v) for r, v in by_rank.items()}
            row[kind] = means
        result["sensitivity"][per_class] = row
        cells = "; ".join(
            f"{LABELS[k]} "
            + " / ".join(f"{m:.1f}" for m in means.values())
            + f" (moves {max(means.values()) - min(means.values()):.1f})"
            for k, means in row.items()
        )
        print(f"   {per_class:>2} per class: {cells}")
    return result


@small_work()
def trainable_table(rank: int = 8) -> dict:
    """Numbers each kind of adapter trains on each layer of the pretrained network.

    Counted from the adapters the fine-tuning builds (``build_adapters``), not from a formula.
    """
    model, _, task = _model_and_data()
    x, y = task.x_train[:20], task.y_train[:20]
    counts = {}
    for kind in ("full", "lora", "deep", "deep_compressed"):
        adapters = build_adapters(model, kind, rank, x, y)
        counts[kind] = [adapter.trainable_parameters for adapter in adapters]
    print(f"numbers trained per layer at r = {rank}")
    print(f"{'layer':>10} | " + " | ".join(f"{LABELS[kind]:>22}" for kind in counts))
    for index, shape in enumerate(model.shapes):
        cells = " | ".join(f"{counts[kind][index]:>22,}" for kind in counts)
        print(f"{shape[0]:>4} x {shape[1]:<3} | {cells}")
    totals = " | ".join(f"{sum(values):>22,}" for values in counts.values())
    print(f"{'total':>10} | {totals}")
    return counts
