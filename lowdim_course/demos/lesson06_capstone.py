"""Lesson 06's capstone: the student's training loop for the compressed block (capstone 06).

``your_block_training`` runs the student's ``train_compressed_block`` through
``exercises.capstone.run_student_code`` on the lesson's Original + C-DLN (its ReLU features
fixed) and draws its loss and test accuracy next to the course's training of the same block,
with and without the discrepant learning rate (Kwon et al. 2024, Sec. 5).
"""

from __future__ import annotations

import copy
import functools

import torch
from torch import nn

from ..exercises.capstone import run_student_code
from ..nonlinear import (
    DEFAULTS,
    build_model,
    load_digits_data,
    percent_correct,
    train_block_on_features,
)
from ..plots import demo_figure, show_figure
from ..threads import small_work

CAPSTONE_ALPHAS = (DEFAULTS["alpha"], 1.0)  # the lesson's discrepant rate, and none


@functools.lru_cache(maxsize=1)
def _capstone_model():
    """The lesson's Original + C-DLN at initialization and its (fixed) ReLU features."""
    data = load_digits_data(DEFAULTS["test_fraction"], DEFAULTS["seed"])
    with small_work():
        model = build_model("cdln", data)
        with torch.no_grad():
            features = (model.features(data.x_train), model.features(data.x_test))
    return data, model, features


def _fresh_block_and_head():
    _, model, _ = _capstone_model()
    return copy.deepcopy(nn.Sequential(*model.block)), copy.deepcopy(model.output)


def _block_test_accuracy(block, head) -> float:
    data, _, (_, test_features) = _capstone_model()
    with torch.no_grad():
        predictions = head(block(test_features)).argmax(dim=1)
    return percent_correct(predictions, data.y_test)


@functools.lru_cache(maxsize=4)
def _course_block_training(alpha: float):
    """The course's loop (``train_block_on_features``) at the lesson's settings and ``alpha``."""
    data, _, (train_features, _) = _capstone_model()
    block, head = _fresh_block_and_head()
    with small_work():
        losses = train_block_on_features(
            block, head, train_features, data.y_train,
            lr=DEFAULTS["lr"], alpha=alpha, steps=DEFAULTS["steps"], alpha_layers="first",
        )  # fmt: skip
    return losses, _block_test_accuracy(block, head)


def _as_loss_list(value) -> list[float]:
    if isinstance(value, torch.Tensor):
        return [float(v) for v in value.detach().reshape(-1)]
    return [float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for v in value]


@small_work()
def your_block_training(train_compressed_block) -> dict:
    """Capstone 06: the student's ``train_compressed_block`` beside the course's loop.

    Both train a fresh copy of the lesson's compressed block (w = 128, r_hat = 20, L = 3,
    spectral init from the surrogate) and its output layer on the lesson's training split, on
    the ReLU layer's features at initialization (kept fixed), for 100 full-batch Adam steps at
    lr 1e-3 with alpha = 3 on the block's first layer (Kwon et al. 2024, Sec. 5). The course's
    loop without the discrepant rate (alpha = 1) is drawn too. Left: training loss against the
    step; right: test accuracy after training. A stub, an exception or NaN in the student's code
    prints one line and the figure shows the course's curves only.
    """
    data, _, (train_features, _) = _capstone_model()
    lr, alpha, steps = DEFAULTS["lr"], DEFAULTS["alpha"], DEFAULTS["steps"]
    block, head = _fresh_block_and_head()

    def students_run():
        with small_work():
            losses = train_compressed_block(
                block, head, train_features.clone(), data.y_train.clone(), lr, alpha, steps
            )
        return _as_loss_list(losses), _block_test_accuracy(block, head)

    student = run_student_code(students_run, name="train_compressed_block")
    course = {a: _course_block_training(a) for a in CAPSTONE_ALPHAS}

    figure, axes = demo_figure(2, 10, 3.4)
    figure.subplots_adjust(left=0.1)  # room for the log axis' tick labels
    styles = {alpha: ("tab:orange", "-"), 1.0: ("0.5", "--")}
    names, accuracies, colors = [], [], []
    for a, (losses, accuracy) in course.items():
        color, line = styles[a]
        label = f"course, alpha = {a:g}" + (" (no discrepant rate)" if a == 1.0 else "")
        axes[0].semilogy(range(len(losses)), losses, line, color=color, label=label)
        names.append(f"course\nalpha = {a:g}")
        accuracies.append(accuracy)
        colors.append(color)
    if student.ok:
        losses, accuracy = student.value
        axes[0].semilogy(
            range(len(losses)), losses, ":", color="k", lw=2, label=f"yours, alpha = {alpha:g}"
        )
        names.append(f"yours\nalpha = {alpha:g}")
        accuracies.append(accuracy)
        colors.append("k")
    axes[0].set(xlabel="Adam step", ylabel="training cross-entropy")
    axes[0].legend(fontsize=8)
    axes[1].bar(names, accuracies, color=colors)
    low = min(accuracies)
    axes[1].set(ylabel="test accuracy (%)", ylim=(max(low - 5, 0), 100))
    for ax in axes:
        ax.grid(True, alpha=0.3)
    figure.suptitle(
        f"compressed block on fixed features: w={DEFAULTS['width']}, r_hat={DEFAULTS['r_hat']}, "
        f"L={DEFAULTS['depth']}, {steps} Adam steps, lr={lr:g}"
    )
    show_figure(figure)

    for a, (losses, accuracy) in course.items():
        print(
            f"course, alpha = {a:g} on the block's first layer: training loss {losses[0]:.4f} -> "
            f"{losses[-1]:.4f} in {steps} steps, test accuracy {accuracy:.1f}%"
        )
    result = {"course": course, "student": None, "agree": None}
    if student.ok:
        losses, accuracy = student.value
        reference = torch.tensor(course[alpha][0], dtype=torch.float64)
        mine = torch.tensor(losses, dtype=torch.float64)
        agree = mine.shape == reference.shape and bool(
            torch.linalg.vector_norm(mine - reference) <= 1e-6 * torch.linalg.vector_norm(reference)
        )
        last = f"{losses[-1]:.4f}" if losses else "-"
        print(
            f"yours, alpha = {alpha:g}: {len(losses)} losses, the last {last}, test accuracy "
            f"{accuracy:.1f}%; agrees with the course's alpha = {alpha:g} run (to 1e-6): {agree}"
        )
        result.update(student=student.value, agree=agree)
    return result
