"""Lesson 10 demo: trainable weight averaging against SWA and plain SGD (Li et al. ICLR 2023).

``weight_averaging_demo`` trains a small network by SGD for 20 epochs on the course's synthetic
classification task (600 training examples, 20 inputs, 5 classes, 10% label noise; hidden width
32: 837 weights), saves the weights after every epoch, and compares, from the first K
checkpoints: SWA (their mean), TWA (2 epochs of projected SGD in their span) and SGD itself.
``twa_over_seeds`` repeats the comparison over ten seeds (task, initialization and batches),
with three controls: the same projected training in a random 10-dimensional span through the
SWA mean, SGD with a better step (0.1 instead of 0.05, chosen by ``sgd_step_sweep``), and TWA
built on that better run's own checkpoints. ``your_twa`` (capstone) runs the student's TWA loop
on the lesson's first 10 checkpoints and draws its training loss and test accuracy next to the
course's (:func:`~lowdim_course.literature.weight_averaging.train_in_span`).
"""

from __future__ import annotations

import functools
import math

import torch

from ..exercises.capstone import run_student_code
from ..literature.weight_averaging import (
    accuracy,
    gradient_oracle,
    make_classification_data,
    orthonormal_basis,
    sgd_checkpoints,
    swa,
    train_in_span,
    twa,
)
from ..plots import demo_figure, show_figure
from ..spread import format_mean_sd, mean_sd
from ..threads import small_work

EPOCHS, HIDDEN, SGD_LR, TWA_EPOCHS = 20, 32, 0.05, 2
TUNED_SGD_LR = 0.1  # the best mean of ``sgd_step_sweep`` (0.05, 0.1, 0.2, 0.5) on this task
SGD_STEPS = (0.05, 0.1, 0.2, 0.5)
SEEDS = tuple(range(10))


@functools.lru_cache(maxsize=1)
def _run():
    data = make_classification_data(seed=0)
    return data, sgd_checkpoints(data, epochs=EPOCHS, hidden=HIDDEN, lr=SGD_LR, seed=0)


@functools.lru_cache(maxsize=32)
def _twa(checkpoints: int, lr: float, start: str):
    data, run = _run()
    return twa(
        data, run["checkpoints"][1 : checkpoints + 1], hidden=HIDDEN, epochs=TWA_EPOCHS, lr=lr,
        start=start,
    )  # fmt: skip


@small_work()
def weight_averaging_demo(checkpoints: int = 10, lr: float = 0.5, start: str = "mean"):
    """SGD's test accuracy per epoch, with SWA and TWA built from its first ``checkpoints`` epochs.

    Prints the accuracies and the first epoch at which SGD reaches TWA's accuracy.
    """
    lr = round(lr, 4)
    data, run = _run()
    kept = run["checkpoints"][1 : checkpoints + 1]
    swa_accuracy = accuracy(swa(kept), data.x_test, data.y_test, HIDDEN, data.classes)
    result = _twa(checkpoints, lr, start)
    twa_accuracy = result["test_accuracy"][-1]
    sgd = run["test_accuracy"]
    matched = next((epoch for epoch, a in enumerate(sgd) if a >= twa_accuracy), None)
    figure, (ax,) = demo_figure(1, 7, 3.6)
    ax.plot(range(len(sgd)), sgd, "o-", ms=3, color="tab:blue", label="SGD")
    ax.axvline(checkpoints, color="0.7", lw=0.6, ls=":")
    ax.plot([checkpoints], [swa_accuracy], "s", color="tab:orange", label="SWA (mean)")
    twa_epochs = [checkpoints + e for e in range(TWA_EPOCHS + 1)]
    ax.plot(twa_epochs, result["test_accuracy"], "*-", ms=9, color="tab:green", label="TWA")
    ax.set(
        xlabel="epochs of training", ylabel="test accuracy", ylim=(0.3, 0.9),
        title=f"{checkpoints} checkpoints, TWA lr={lr:.3g}, start: {start}",
    )  # fmt: skip
    ax.legend(fontsize=8, loc="lower right")
    show_figure(figure)
    print(
        f"from the first {checkpoints} epochs: SGD {sgd[checkpoints]:.3f}, SWA {swa_accuracy:.3f}, "
        f"TWA {twa_accuracy:.3f} (after {TWA_EPOCHS} epochs in a "
        f"{result['basis'].shape[0]}-dimensional span)"
    )
    print(
        f"SGD after {EPOCHS} epochs: {sgd[EPOCHS]:.3f}; SGD first reaches TWA's accuracy at "
        + ("no epoch up to 20" if matched is None else f"epoch {matched}")
    )
    return {
        "sgd": sgd,
        "swa": swa_accuracy,
        "twa": twa_accuracy,
        "twa_curve": result["test_accuracy"],
        "sgd_epoch_matching_twa": matched,
        "dimension": int(result["basis"].shape[0]),
        "parameters": int(kept.shape[1]),
    }


def random_span(kept: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Stand-ins for ``kept`` spanning the SWA mean and ``len(kept) - 1`` random directions: the
    same dimension as the checkpoints' span, through the same mean, but not along training."""
    mean = swa(kept)
    generator = torch.Generator().manual_seed(1000 + seed)
    directions = torch.randn(len(kept) - 1, mean.numel(), generator=generator, dtype=mean.dtype)
    directions *= 0.1 * mean.norm() / directions.norm(dim=1, keepdim=True)
    return torch.cat([mean[None], mean[None] + directions])


@small_work()
def twa_over_seeds(checkpoints: int = 10, lr: float = 0.5, seeds=SEEDS) -> dict:
    """SGD, SWA, TWA and the two controls over ``seeds``; prints a row per seed and the counts."""
    rows = []
    for seed in seeds:
        data = make_classification_data(seed=seed)
        run = sgd_checkpoints(data, epochs=EPOCHS, hidden=HIDDEN, lr=SGD_LR, seed=seed)
        tuned = sgd_checkpoints(data, epochs=EPOCHS, hidden=HIDDEN, lr=TUNED_SGD_LR, seed=seed)
        kept = run["checkpoints"][1 : checkpoints + 1]
        common = {"hidden": HIDDEN, "epochs": TWA_EPOCHS, "lr": lr, "seed": seed}
        rows.append({
            "seed": seed,
            "sgd_at_k": run["test_accuracy"][checkpoints],
            "swa": accuracy(swa(kept), data.x_test, data.y_test, HIDDEN, data.classes),
            "twa": twa(data, kept, **common)["test_accuracy"][-1],
            "random_span": twa(data, random_span(kept, seed), **common)["test_accuracy"][-1],
            "sgd_at_end": run["test_accuracy"][EPOCHS],
            "tuned_sgd_same_epochs": tuned["test_accuracy"][checkpoints + TWA_EPOCHS],
            "twa_on_tuned": twa(data, tuned["checkpoints"][1 : checkpoints + 1],
                                **common)["test_accuracy"][-1],
        })  # fmt: skip
    done = checkpoints + TWA_EPOCHS
    print(f"test accuracy, {len(rows)} seeds; TWA from {checkpoints} checkpoints + {TWA_EPOCHS} "
          f"epochs, SGD step {SGD_LR:g}, tuned SGD step {TUNED_SGD_LR:g}")  # fmt: skip
    print(f" seed  SGD@{checkpoints}   SWA    TWA  random span  SGD@{EPOCHS}  tuned SGD@{done}"
          "  TWA on tuned")  # fmt: skip
    for row in rows:
        print(f"{row['seed']:>5}  {row['sgd_at_k']:.3f}  {row['swa']:.3f}  {row['twa']:.3f}"
              f"        {row['random_span']:.3f}   {row['sgd_at_end']:.3f}          "
              f"{row['tuned_sgd_same_epochs']:.3f}         {row['twa_on_tuned']:.3f}")  # fmt: skip

    def count(test):
        return sum(bool(test(row)) for row in rows)

    counts = {
        "twa_beats_swa": count(lambda row: row["twa"] > row["swa"]),
        "twa_beats_random_span": count(lambda row: row["twa"] > row["random_span"]),
        "twa_within_001_of_sgd_end": count(lambda row: row["twa"] >= row["sgd_at_end"] - 0.01),
        "tuned_sgd_beats_twa": count(lambda row: row["tuned_sgd_same_epochs"] > row["twa"]),
        "tuned_twa_beats_tuned_sgd": count(
            lambda row: row["twa_on_tuned"] > row["tuned_sgd_same_epochs"]
        ),
    }
    n = len(rows)
    print(f"TWA beats SWA in {counts['twa_beats_swa']} of {n} seeds and the random span in "
          f"{counts['twa_beats_random_span']} of {n}; it is within 0.01 of SGD's epoch-{EPOCHS} "
          f"accuracy in {counts['twa_within_001_of_sgd_end']} of {n}; SGD with step "
          f"{TUNED_SGD_LR:g} beats it after the same {done} epochs in "
          f"{counts['tuned_sgd_beats_twa']} of {n}")  # fmt: skip
    gaps = {
        "twa_minus_tuned_sgd": [row["twa"] - row["tuned_sgd_same_epochs"] for row in rows],
        "tuned_twa_minus_tuned_sgd": [
            row["twa_on_tuned"] - row["tuned_sgd_same_epochs"] for row in rows
        ],
    }
    ties = sum(gap == 0 for gap in gaps["tuned_twa_minus_tuned_sgd"])
    print(f"TWA built on the step-{TUNED_SGD_LR:g} run's checkpoints beats that run's epoch-{done} "
          f"accuracy in {counts['tuned_twa_beats_tuned_sgd']} of {n} seeds, ties in {ties}, "
          f"loses in {n - counts['tuned_twa_beats_tuned_sgd'] - ties}")  # fmt: skip
    for key, text in (("twa_minus_tuned_sgd", "TWA"),
                      ("tuned_twa_minus_tuned_sgd", "TWA on tuned")):  # fmt: skip
        values = gaps[key]
        print(f"  {text} minus tuned SGD@{done}: {format_mean_sd(mean_sd(values), 3)} "
              f"(min {min(values):+.3f}, max {max(values):+.3f})")  # fmt: skip
    return {"rows": rows, **counts, "tuned_twa_ties": ties, **gaps}


@small_work()
def sgd_step_sweep(steps=SGD_STEPS, seeds=SEEDS, epochs: int = 12) -> dict:
    """Test accuracy of plain SGD after ``epochs`` epochs for each step, over ``seeds``.

    This is how the tuned baseline's step was chosen: on *test* accuracy (the task has no
    validation split), which favours the baseline, not TWA. Prints mean +- sd and min..max.
    """
    table = {}
    for lr in steps:
        values = []
        for seed in seeds:
            data = make_classification_data(seed=seed)
            run = sgd_checkpoints(data, epochs=epochs, hidden=HIDDEN, lr=lr, seed=seed)
            values.append(run["test_accuracy"][epochs])
        table[lr] = values
    print(f"plain SGD, test accuracy after {epochs} epochs, {len(seeds)} seeds")
    for lr, values in table.items():
        mean, sd = mean_sd(values)
        print(
            f"  step {lr:<5g} {mean:.3f} +- {sd:.3f}  "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )
    best = max(table, key=lambda lr: sum(table[lr]))
    print(f"best mean: step {best:g}")
    return {"accuracy": table, "best": best}


CAPSTONE_K, CAPSTONE_LR = 10, 1.0
CAPSTONE_STEPS = (0, 2, 5, 10, 15, 20, 30, 40, 60)


def _loss_text(loss: float) -> str:
    return f"{loss:>6.3f}" if abs(loss) < 100 else f"{loss:>6.0e}"


def _curve_point(weights, data, oracle) -> tuple[float, float]:
    """(full-batch training loss, test accuracy) of the lesson's network at ``weights``."""
    loss, _ = oracle(weights)
    return loss, accuracy(weights, data.x_test, data.y_test, HIDDEN, data.classes)


CAPSTONE_LAST_STEPS = (0, 60)  # the runs from the last checkpoint (start = "last")


def _capstone_runs():
    """(start, steps) of every run the capstone makes: the curve from the SWA mean, then two
    points from the last checkpoint, where a loop that ignores ``start`` shows."""
    return [("mean", n) for n in CAPSTONE_STEPS] + [("last", n) for n in CAPSTONE_LAST_STEPS]


@functools.lru_cache(maxsize=1)
def _course_span_curve():
    data, run = _run()
    kept = run["checkpoints"][1 : CAPSTONE_K + 1]
    oracle = gradient_oracle(data.x_train, data.y_train, HIDDEN, data.classes)
    weights = [
        train_in_span(kept, oracle, lr=CAPSTONE_LR, steps=steps, start=start)
        for start, steps in _capstone_runs()
    ]
    return kept, oracle, weights, [_curve_point(w, data, oracle) for w in weights]


def _relative_gap(mine, course) -> float:
    """``max_i ||w_i - w_i^course|| / ||w_i^course||`` over the capstone's runs (inf when a
    diverged loop's weights make it NaN)."""
    gap = max(
        float(torch.linalg.vector_norm(w - c) / torch.linalg.vector_norm(c))
        for w, c in zip(mine, course, strict=True)
    )
    return gap if math.isfinite(gap) else math.inf


@small_work()
def your_twa(train_twa_function) -> dict:
    """Capstone 10: the student's TWA loop on the lesson's first 10 checkpoints.

    Full-batch gradient descent in the span (step ``CAPSTONE_LR``, from the SWA mean) for each
    number of steps in ``CAPSTONE_STEPS``: training loss and test accuracy of the student's
    weights next to the course's ``train_in_span`` on the same checkpoints and gradient (Li et
    al. 2023, Sec. 3), with SGD's accuracy at epochs 10 and 20 for scale. A stub, an exception or
    NaN in the student's code prints one line and the figure shows the course's curves only.
    """
    data, run = _run()
    kept, oracle, course_weights, course = _course_span_curve()
    basis = orthonormal_basis(kept)

    def students_run():
        found = []
        with small_work():
            for start, steps in _capstone_runs():
                weights = train_twa_function(kept.clone(), oracle, CAPSTONE_LR, steps, start)
                weights = torch.as_tensor(weights, dtype=torch.float64).detach().reshape(-1)
                if weights.numel() != kept.shape[1]:
                    raise ValueError(
                        f"it returned {weights.numel()} numbers for {steps} steps, expected the "
                        f"weights (D = {kept.shape[1]})"
                    )
                found.append(weights)
        return found

    student = run_student_code(students_run, name="train_twa")
    steps, n = list(CAPSTONE_STEPS), len(CAPSTONE_STEPS)
    last_steps = list(CAPSTONE_LAST_STEPS)
    figure, (left, right) = demo_figure(2, 10, 3.6)
    for ax, k in ((left, 0), (right, 1)):
        ax.plot(steps, [p[k] for p in course[:n]], "o-", color="tab:green", label="course's TWA")
        ax.plot(last_steps, [p[k] for p in course[n:]], "^", color="tab:green", ms=8,
                label="course's, from the last checkpoint")  # fmt: skip
    for epoch, style in ((CAPSTONE_K, ":"), (EPOCHS, "--")):
        right.axhline(run["test_accuracy"][epoch], color="tab:blue", ls=style, lw=1,
                      label=f"SGD after {epoch} epochs")  # fmt: skip
    result = {"course": course[:n], "course_last": course[n:], "student": None,
              "student_last": None, "agree": None, "gap": None, "outside_span": None}  # fmt: skip
    if student.ok:
        mine = [_curve_point(w, data, oracle) for w in student.value]
        for ax, k in ((left, 0), (right, 1)):
            ax.plot(steps, [p[k] for p in mine[:n]], "s:", color="k", ms=4, label="yours")
            ax.plot(last_steps, [p[k] for p in mine[n:]], "x", color="k", ms=8,
                    label="yours, from the last checkpoint")  # fmt: skip
        gap = _relative_gap(student.value, course_weights)
        outside = max(
            float(torch.linalg.vector_norm(w - basis.T @ (basis @ w)))
            / max(float(torch.linalg.vector_norm(w)), 1e-300)
            for w in student.value
        )
        result.update(student=mine[:n], student_last=mine[n:], agree=gap <= 1e-6, gap=gap,
                      outside_span=outside)  # fmt: skip
    left.set(xlabel="TWA steps (full batch)", ylabel="training loss",
             title=f"{CAPSTONE_K} checkpoints, lr {CAPSTONE_LR:g}, from the SWA mean")  # fmt: skip
    right.set(xlabel="TWA steps (full batch)", ylabel="test accuracy")
    left.set_ylim(0.0, 1.5 * course[0][0])  # a diverging loop's loss would hide the course's
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    show_figure(figure)
    print("from the SWA mean")
    print("steps:          " + " ".join(f"{k:>6}" for k in steps))
    print("course loss:    " + " ".join(f"{loss:>6.3f}" for loss, _ in course[:n]))
    print("course accuracy:" + " ".join(f"{a:>6.3f}" for _, a in course[:n]))
    if student.ok:
        print("your loss:      " + " ".join(_loss_text(loss) for loss, _ in result["student"]))
        print("your accuracy:  " + " ".join(f"{a:>6.3f}" for _, a in result["student"]))
    print("from the last checkpoint (start = 'last'), after "
          + " and ".join(str(k) for k in last_steps) + " steps: course loss "
          + ", ".join(f"{loss:.3f}" for loss, _ in course[n:]) + ", accuracy "
          + ", ".join(f"{a:.3f}" for _, a in course[n:]))  # fmt: skip
    if student.ok:
        last = result["student_last"]
        print("                   yours: loss "
              + ", ".join(_loss_text(loss).strip() for loss, _ in last)
              + ", accuracy " + ", ".join(f"{a:.3f}" for _, a in last))  # fmt: skip
        outside = result["outside_span"]
        print("largest distance of your weights from the course's (relative): "
              + ("below 1e-10" if result["gap"] < 1e-10 else f"{result['gap']:.1e}")
              + f"; they agree at every point (to 1e-6): {result['agree']}")  # fmt: skip
        print("largest part of your weights outside the checkpoints' span: "
              + ("below 1e-10" if outside < 1e-10 else f"{outside:.1e}"))  # fmt: skip
    print(f"SGD's test accuracy after {CAPSTONE_K} epochs {run['test_accuracy'][CAPSTONE_K]:.3f}, "
          f"after {EPOCHS} epochs {run['test_accuracy'][EPOCHS]:.3f}")  # fmt: skip
    return result
