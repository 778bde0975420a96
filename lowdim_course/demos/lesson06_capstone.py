"""Lesson 06's capstone: the student's compression of the block, on three splits (capstone 06).

``your_compression`` runs the student's ``compress_and_train`` (through
``exercises.capstone.run_student_code``) on the ReLU features of the lesson's network at
initialization (kept fixed), on three splits of the digits, and draws its training loss next to
the course's runs of the same block: spectral start with the discrepant rate (what the student
should match), spectral start without it (alpha = 1), and a random start with it (Kwon et al.
2024, Sec. 3.2 and 5). Printed measure per run, mean +- sd over the splits: the loss at the
start and after the last step, the steps until the loss falls below ``LOSS_LEVEL``, and the
test accuracy.
"""

from __future__ import annotations

import copy
import functools

import torch

from ..exercises.capstone import run_student_code
from ..exercises.lesson06_capstone import linear_block
from ..nonlinear import (
    DEFAULTS,
    block_surrogate,
    build_model,
    compressed_block_layers,
    load_digits_data,
    percent_correct,
    train_block_on_features,
)
from ..plots import demo_figure, show_figure
from ..random_matrices import gaussian, make_generator
from ..spread import format_mean_sd, mean_sd
from ..threads import small_work

CAPSTONE_SEEDS = (0, 1, 2)  # three splits: the split and the network's initial weights
CAPSTONE_R_HAT = 9  # K - 1: all the surrogate defines, so every correct SVD gives the same start
LOSS_LEVEL = 0.1  # "steps to a loss of 0.1" in the printed measure
RUNS = {  # the course's runs: (start, alpha)
    "spectral start, alpha = 3": ("spectral", DEFAULTS["alpha"]),
    "spectral start, alpha = 1": ("spectral", 1.0),
    "random start, alpha = 3": ("random", DEFAULTS["alpha"]),
}
STYLES = {
    "spectral start, alpha = 3": ("tab:orange", "-"),
    "spectral start, alpha = 1": ("0.5", "--"),
    "random start, alpha = 3": ("tab:blue", "-."),
    "yours": ("k", ":"),
}


@functools.lru_cache(maxsize=len(CAPSTONE_SEEDS))
def _split(seed: int):
    """One split: the data, the fixed ReLU features (train, test), the head, the surrogate."""
    data = load_digits_data(DEFAULTS["test_fraction"], seed)
    with small_work():
        model = build_model("mlp", data, width=DEFAULTS["width"], seed=seed)
        with torch.no_grad():
            features = (model.features(data.x_train), model.features(data.x_test))
        surrogate = block_surrogate(model, data.x_train, data.y_train)
    return data, features, model.output, surrogate


def _random_start(width: int, r_hat: int, depth: int, eps: float, seed: int):
    """``W_1 = eps Q_1^T``, ``W_l = eps I``, ``W_L = eps Q_2``: orthonormal but random columns."""
    generator = make_generator(1000 + seed)
    q1 = torch.linalg.qr(gaussian(width, r_hat, generator))[0]
    q2 = torch.linalg.qr(gaussian(width, r_hat, generator))[0]
    eye = torch.eye(r_hat, dtype=q1.dtype)
    return [eps * q1.T, *[eps * eye] * (depth - 2), eps * q2]


def _test_accuracy(block, head, seed: int) -> float:
    data, (_, test_features), _, _ = _split(seed)
    with torch.no_grad():
        predictions = head(block(test_features)).argmax(dim=1)
    return percent_correct(predictions, data.y_test)


@functools.lru_cache(maxsize=len(RUNS) * len(CAPSTONE_SEEDS))
def _course_run(name: str, seed: int):
    """The course's run ``name`` on split ``seed``: (losses, test accuracy)."""
    start, alpha = RUNS[name]
    data, (train_features, _), head, surrogate = _split(seed)
    depth, eps = DEFAULTS["depth"], DEFAULTS["eps"]
    if start == "spectral":
        weights = compressed_block_layers(surrogate, CAPSTONE_R_HAT, depth, eps)
    else:
        weights = _random_start(surrogate.shape[0], CAPSTONE_R_HAT, depth, eps, seed)
    block, head = linear_block(weights), copy.deepcopy(head)
    with small_work():
        losses = train_block_on_features(
            block, head, train_features, data.y_train,
            lr=DEFAULTS["lr"], alpha=alpha, steps=DEFAULTS["steps"], alpha_layers="first",
        )  # fmt: skip
    return losses, _test_accuracy(block, head, seed)


def _as_loss_list(value) -> list[float]:
    if isinstance(value, torch.Tensor):
        return [float(v) for v in value.detach().reshape(-1)]
    return [float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for v in value]


def _steps_to(losses, level: float) -> int:
    """The first step whose loss is below ``level`` (``len(losses)`` when none is)."""
    return next((i for i, loss in enumerate(losses) if loss < level), len(losses))


def _measure(runs) -> dict:
    """Mean +- sd over the splits of the start loss, final loss, steps to LOSS_LEVEL, accuracy."""
    return {
        "start_loss": mean_sd(losses[0] for losses, _ in runs),
        "final_loss": mean_sd(losses[-1] for losses, _ in runs),
        "steps_to_level": mean_sd(_steps_to(losses, LOSS_LEVEL) for losses, _ in runs),
        "accuracy": mean_sd(accuracy for _, accuracy in runs),
    }


def _line(name: str, measure: dict) -> str:
    steps = DEFAULTS["steps"]
    return (
        f"{name:>26}: loss {format_mean_sd(measure['start_loss'], 3)} at the start, "
        f"{format_mean_sd(measure['final_loss'], 4)} after {steps} steps; "
        f"{format_mean_sd(measure['steps_to_level'], 0)} steps to a loss of {LOSS_LEVEL:g} "
        f"({steps} = never); test accuracy {format_mean_sd(measure['accuracy'], 1)}%"
    )


@small_work()
def your_compression(compress_and_train, seeds=CAPSTONE_SEEDS) -> dict:
    """Capstone 06: the student's ``compress_and_train`` beside the course's three runs.

    On each split in ``seeds``: the lesson's network (w = 128) at initialization gives fixed
    ReLU features, its head and the surrogate S; the block has r_hat = 9 (S's rank), L = 3,
    eps = 1, and trains for 100 full-batch Adam steps at lr 1e-3, alpha = 3 on its first layer.
    The figure draws the training loss (mean over the splits) of each run; the printed lines give
    the measure of ``_measure`` and whether the student's losses agree with the course's spectral
    start at alpha = 3 on every split (relative 1e-6). A stub, an exception or NaN in the
    student's code prints one line, and the figure shows the course's runs only.
    """
    seeds = tuple(int(seed) for seed in seeds)
    lr, alpha, steps = DEFAULTS["lr"], DEFAULTS["alpha"], DEFAULTS["steps"]
    depth, eps = DEFAULTS["depth"], DEFAULTS["eps"]

    def students_runs():
        runs = []
        for seed in seeds:
            data, (train_features, _), head, surrogate = _split(seed)
            head = copy.deepcopy(head)
            with small_work():
                block, losses = compress_and_train(
                    surrogate.clone(), train_features.clone(), data.y_train.clone(), head,
                    CAPSTONE_R_HAT, depth, eps, lr, alpha, steps,
                )  # fmt: skip
            runs.append((_as_loss_list(losses), _test_accuracy(block, head, seed)))
        return runs

    student = run_student_code(students_runs, name="compress_and_train")
    course = {name: [_course_run(name, seed) for seed in seeds] for name in RUNS}
    shown = dict(course)
    if student.ok:
        shown["yours"] = student.value

    figure, axes = demo_figure(2, 10, 3.4)
    figure.subplots_adjust(left=0.1)  # room for the log axis' tick labels
    measures = {name: _measure(runs) for name, runs in shown.items()}
    for name, runs in shown.items():
        color, line = STYLES[name]
        length = min(len(losses) for losses, _ in runs)
        mean = [sum(losses[i] for losses, _ in runs) / len(runs) for i in range(length)]
        width = 2 if name == "yours" else 1.5
        axes[0].semilogy(range(length), mean, line, color=color, lw=width, label=name)
    axes[0].axhline(LOSS_LEVEL, color="0.8", lw=1)
    axes[0].set(xlabel="Adam step", ylabel=f"training cross-entropy (mean of {len(seeds)} splits)")
    axes[0].legend(fontsize=8)
    names = list(shown)
    axes[1].bar(
        [name.replace(", ", "\n") for name in names],
        [measures[name]["steps_to_level"][0] for name in names],
        yerr=[measures[name]["steps_to_level"][1] for name in names],
        color=[STYLES[name][0] for name in names],
    )
    axes[1].set(ylabel=f"steps to a loss of {LOSS_LEVEL:g} ({steps} = never)")
    axes[1].tick_params(axis="x", labelsize=8)
    for ax in axes:
        ax.grid(True, alpha=0.3)
    figure.suptitle(
        f"compressed block on fixed features: w={DEFAULTS['width']}, r_hat={CAPSTONE_R_HAT}, "
        f"L={depth}, {steps} Adam steps, lr={lr:g}, splits {', '.join(map(str, seeds))}"
    )
    show_figure(figure)

    for name in names:
        print(_line(name, measures[name]))
    result = {"measures": measures, "student": None, "agree": None}
    if student.ok:
        reference = course["spectral start, alpha = 3"]
        agree = all(
            len(mine) == len(theirs)
            and torch.linalg.vector_norm(torch.tensor(mine) - torch.tensor(theirs))
            <= 1e-6 * torch.linalg.vector_norm(torch.tensor(theirs))
            for (mine, _), (theirs, _) in zip(student.value, reference, strict=True)
        )
        print(f"yours agrees with the course's spectral start at alpha = {alpha:g} on every split "
              f"(to 1e-6): {agree}")  # fmt: skip
        result.update(student=student.value, agree=agree)
    return result
