"""Lesson 13's capstone figure: Deep LoRA fine-tuned from the student's compressed start.

The student's ``compressed_start(factors, eps, gradient, rank) -> (L, R)`` (exercise
``13.compressed_start``) builds the outer factors of every layer's adapter; the run is then the
course's fine-tuning (:func:`lowdim_course.adapters.finetune.fine_tune`) with 5 examples per
class over five seeds, at the rate and step count the validation set chose for Deep LoRA at that
rank (``adapters.claims.chosen_setting``). Beside it: the same runs from the course's start and
LoRA of the same rank at its own chosen setting, both read from the shipped table. The student
chooses the rank; the figure shows what it gives.
"""

from __future__ import annotations

from ..adapters.claims import chosen_setting
from ..adapters.finetune import LABELS, fine_tune
from ..exercises.capstone import run_student_code
from ..plots import demo_figure, show_figure
from ..spread import mean_sd
from ..threads import small_work
from . import lesson13_table
from .lesson13 import COLORS, _model_and_data

PER_CLASS = 5
RANKS = (2, 4, 8)  # the ranks the table holds


def _setting(kind: str, rank: int) -> tuple[float, int]:
    """``(lr, steps)`` the validation accuracy chose for ``kind`` at ``rank``, 5 per class."""
    lr, index = chosen_setting(lesson13_table.load(), kind, rank, PER_CLASS)
    return lr, lesson13_table.CHECKPOINTS[index]


def _course_runs(kind: str, rank: int) -> list[float]:
    """The table's test accuracies of the five seeds at the chosen setting."""
    lr, steps = _setting(kind, rank)
    index = lesson13_table.CHECKPOINTS.index(steps)
    runs = lesson13_table.entry(kind, rank, PER_CLASS, lr)["runs"]
    return [run["test"][index] for run in runs]


def _students_accuracy(model, task, rank, seed, start):
    from ..adapters.tasks import few_shot

    lr, steps = _setting("deep_compressed", rank)
    x, y = few_shot(task, PER_CLASS, seed)
    result = fine_tune(
        model, x, y, "deep_compressed", rank=rank, lr=lr, steps=steps, seed=seed,
        test=(task.x_test, task.y_test), start=start,
    )  # fmt: skip
    return result.test_accuracy


@small_work()
def your_deep_lora(compressed_start_function, rank: int = 4) -> dict:
    """Test accuracy of Deep LoRA from your start and from the course's, and of LoRA, at ``rank``.

    Five seeds (examples drawn and factors), 5 examples per class, each method at its
    validation-chosen rate and step count. A stub, an exception or NaN in the student's code
    prints one line and the figure shows the course's runs only.
    """
    if rank not in RANKS:
        raise ValueError(f"rank must be one of {RANKS} (the ranks the table holds), got {rank!r}")
    model, _, task = _model_and_data()
    course = {kind: _course_runs(kind, rank) for kind in ("lora", "deep_compressed")}
    seeds = lesson13_table.SEEDS

    def students_runs():
        return [
            _students_accuracy(model, task, rank, seed, compressed_start_function) for seed in seeds
        ]

    student = run_student_code(students_runs, name="compressed_start", seconds=60.0)
    figure, (ax,) = demo_figure(1, 6.5, 3.4)
    positions = range(len(seeds))
    ax.plot(positions, course["lora"], "o", color=COLORS["lora"], label=LABELS["lora"])
    ax.plot(positions, course["deep_compressed"], "s", color=COLORS["deep_compressed"],
            mfc="none", ms=9, label="Deep LoRA, course's start")  # fmt: skip
    if student.ok:
        ax.plot(positions, student.value, "x", color="k", ms=8, label="Deep LoRA, your start")
    ax.set(xlabel="seed", ylabel="test accuracy (%)", xticks=list(positions),
           title=f"rank {rank}, {PER_CLASS} examples per class")  # fmt: skip
    ax.legend(fontsize=8)
    show_figure(figure)
    rows = {"LoRA": course["lora"], "Deep LoRA, course's start": course["deep_compressed"]}
    if student.ok:
        rows["Deep LoRA, your start"] = list(student.value)
    for (label, values), kind in zip(rows.items(), ("lora", "deep_compressed", "deep_compressed"),
                                     strict=False):  # fmt: skip
        mean, sd = mean_sd(values)
        lr, steps = _setting(kind, rank)
        print(f"{label:>26}: {mean:.1f} +- {sd:.1f}% over {len(values)} seeds "
              f"(lr {lr:g}, {steps:,} steps)")  # fmt: skip
    return {"course": course, "student": list(student.value) if student.ok else None}
