"""Lesson 13's capstone figure: Deep LoRA fine-tuned from the student's compressed start.

The student's ``compressed_start(factors, eps, gradient, rank) -> (L, R)`` (exercise
``13.compressed_start``) builds the outer factors of every layer's adapter; the run is then the
course's fine-tuning (:func:`lowdim_course.adapters.finetune.fine_tune`), beside the same run
from the course's start and LoRA of the same rank, over five seeds. The student chooses the
rank; the figure shows what it gives.
"""

from __future__ import annotations

import functools

from ..adapters.claims import mean_sd
from ..adapters.finetune import LABELS, fine_tune
from ..exercises.capstone import run_student_code
from ..plots import demo_figure, show_figure
from ..threads import small_work
from ..validation import check_int
from .lesson13 import COLORS, _model_and_data

SEEDS = (0, 1, 2, 3, 4)
PER_CLASS = 5
STEPS = 300
RATES = {"lora": 1e-4, "deep_compressed": 3e-4}  # each method's rate from the table's choice


@functools.lru_cache(maxsize=8)
def _course_runs(kind: str, rank: int) -> tuple[float, ...]:
    model, _, task = _model_and_data()
    return tuple(_accuracy(model, task, kind, rank, seed, None) for seed in SEEDS)


def _accuracy(model, task, kind, rank, seed, start):
    from ..adapters.tasks import few_shot

    x, y = few_shot(task, PER_CLASS, seed)
    result = fine_tune(
        model, x, y, kind, rank=rank, lr=RATES[kind], steps=STEPS, seed=seed,
        test=(task.x_test, task.y_test), start=start,
    )  # fmt: skip
    return result.test_accuracy


@small_work()
def your_deep_lora(compressed_start_function, rank: int = 4) -> dict:
    """Test accuracy of Deep LoRA from your start and from the course's, and of LoRA, at ``rank``.

    Five seeds (examples drawn and factors), 5 examples per class, 300 Adam steps. A stub, an
    exception or NaN in the student's code prints one line and the figure shows the course's
    runs only.
    """
    rank = check_int("rank", rank, low=2, high=10)
    if rank % 2:
        raise ValueError(f"rank must be even (half from each side of the gradient), got {rank}")
    model, _, task = _model_and_data()
    course = {kind: list(_course_runs(kind, rank)) for kind in ("lora", "deep_compressed")}

    def students_runs():
        return [
            _accuracy(model, task, "deep_compressed", rank, seed, compressed_start_function)
            for seed in SEEDS
        ]

    student = run_student_code(students_runs, name="compressed_start", seconds=60.0)
    figure, (ax,) = demo_figure(1, 6.5, 3.4)
    positions = range(len(SEEDS))
    ax.plot(positions, course["lora"], "o", color=COLORS["lora"], label=LABELS["lora"])
    ax.plot(positions, course["deep_compressed"], "s", color=COLORS["deep_compressed"],
            mfc="none", ms=9, label="Deep LoRA, course's start")  # fmt: skip
    if student.ok:
        ax.plot(positions, student.value, "x", color="k", ms=8, label="Deep LoRA, your start")
    ax.set(xlabel="seed", ylabel="test accuracy (%)", xticks=list(positions),
           title=f"rank {rank}, {PER_CLASS} examples per class, {STEPS} steps")  # fmt: skip
    ax.legend(fontsize=8)
    show_figure(figure)
    rows = {"LoRA": course["lora"], "Deep LoRA, course's start": course["deep_compressed"]}
    if student.ok:
        rows["Deep LoRA, your start"] = list(student.value)
    for label, values in rows.items():
        mean, sd = mean_sd(values)
        print(f"{label:>26}: {mean:.1f} +- {sd:.1f}% over {len(values)} seeds")
    return {"course": course, "student": list(student.value) if student.ok else None}
