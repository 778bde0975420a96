"""Lesson 09's capstone: the student's block estimator next to the course's (capstone 09).

``block_estimator_figure`` runs the student's ``block_tail_index`` through
``exercises.capstone.run_student_code`` on the samples of known index that lesson 09 draws and
on the hidden weights of the ratio sweep's networks (``lesson09_sweep``, cached), and draws both
estimates against the truth and against the course's ``stable_tail_index``.
"""

from __future__ import annotations

import statistics

import matplotlib.ticker
import torch

from ..exercises.capstone import run_student_code
from ..literature.heavy_tails import stable_tail_index
from ..plots import demo_figure, show_figure
from ..threads import small_work
from .lesson09_sweep import RUNS, SWEEP_LR, SWEEP_STEPS, _mean_sd, _networks

PERMUTATIONS = 5  # random orders per weight matrix, as in Barsbey et al.'s code

# two estimates that differ by less than this (relative) agree: a float32 median is fine
AGREEMENT = 1e-6


def _orders(hidden: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """The hidden weights as Barsbey et al.'s code feeds them to the estimator: each column
    centred by its median, then all entries by theirs, in ``PERMUTATIONS`` random orders (the
    same orders as ``network_tail_index(hidden, seed=seed)``)."""
    x = hidden - torch.quantile(hidden, 0.5, dim=0)
    flat = (x - torch.quantile(x.flatten(), 0.5)).flatten()
    generator = torch.Generator().manual_seed(seed)
    return [flat[torch.randperm(flat.numel(), generator=generator)] for _ in range(PERMUTATIONS)]


def _capstone_samples(known: dict, batches) -> dict:
    """Every sample set of the capstone figure, keyed by (group, label, index, order)."""
    samples = {}
    for name, draws in known.items():
        for seed, x in enumerate(draws):
            samples["known", name, seed, 0] = x
    for b in batches:
        for run, hidden in enumerate(_networks(SWEEP_LR, b, SWEEP_STEPS)["hidden_average"]):
            for order, x in enumerate(_orders(hidden, run)):
                samples["trained", b, run, order] = x
    for run, hidden in enumerate(_networks(SWEEP_LR, 1, 0)["hidden_average"]):
        for order, x in enumerate(_orders(hidden, run)):
            samples["untrained", None, run, order] = x
    return samples


@small_work()
def _run_estimator(estimator, samples: dict) -> dict:
    """The estimate per sample set: the value itself for the known laws, the median over the
    orders (uncapped) for a weight matrix."""
    values = {}
    for key, x in samples.items():
        value = estimator(x.clone())
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"returned shape {tuple(value.shape)}, expected one number")
            value = value.item()
        values.setdefault(key[:3], []).append(float(value))
    return {
        key: float(torch.quantile(torch.tensor(v, dtype=torch.float64), 0.5))
        for key, v in values.items()
    }


def _span(values: dict, name: str, seeds: int) -> str:
    draws = [values["known", name, s] for s in range(seeds)]
    return f"{min(draws):.3g}..{max(draws):.3g}"


def _where(key) -> str:
    group, label, index = key
    if group == "known":
        return f"{label}, seed {index}"
    if group == "trained":
        return f"trained weights at lr/b {SWEEP_LR / label:.3g}, run {index}"
    return f"untrained weights, run {index}"


def block_estimator_figure(block_tail_index, known: dict, true_index: dict, batches) -> dict:
    """The student's block estimator over the course's, on known laws and on trained weights.

    Left: the estimate on each sample of ``known`` (law name -> one sample per seed) against its
    true index (``true_index``, law name -> index, or None for a law with no power-law tail).
    Right: the estimate on the hidden weights ``W`` of the averaged networks of
    ``ratio_sweep`` (lr = 0.05, 4,000 steps, 5 runs per ratio lr/b) and of the untrained ones,
    read as Barsbey et al.'s code reads them (columns centred by their medians, median over 5
    random orders) but not capped at 2. Printed: the mean ± sd per ratio, and the largest gap
    between the student's estimate and the course's over all sample sets. The student's
    function runs through ``run_student_code``: a stub or a bug prints one line and the
    figure shows the course's estimates only. The networks are those of :func:`ratio_sweep`
    (cached: no training twice).
    """
    batches = tuple(int(b) for b in batches)
    samples = _capstone_samples(known, batches)
    seeds = len(next(iter(known.values())))
    course = _run_estimator(stable_tail_index, samples)
    student = run_student_code(
        lambda: _run_estimator(block_tail_index, samples), name="block_tail_index"
    )
    figure, (left, right) = demo_figure(2, 10, 3.6)
    names = list(known)
    for i, name in enumerate(names):
        ours = [course["known", name, s] for s in range(seeds)]
        if true_index[name] is not None:
            left.plot([i - 0.3, i + 0.3], [true_index[name]] * 2, "-", color="tab:green", lw=2,
                      label="true index" if i == 0 else None)  # fmt: skip
        left.plot([i] * len(ours), ours, "o", color="k", ms=4, label="course" if i == 0 else None)
        if student.ok:
            theirs = [student.value["known", name, s] for s in range(seeds)]
            left.plot([i] * len(theirs), theirs, "x", color="tab:red", ms=8, mew=2,
                      label="yours" if i == 0 else None)  # fmt: skip
    left.set_xticks(range(len(names)), [name.split(" (")[0].split(",")[0] for name in names])
    left.set(ylabel="tail index", title=f"samples of known index ({seeds} seeds each)")
    left.legend(fontsize=8, loc="upper left")
    ratios = [SWEEP_LR / b for b in batches]

    def per_ratio(values, b):
        return [values["trained", b, run] for run in range(RUNS)]

    right.plot(ratios, [statistics.mean(per_ratio(course, b)) for b in batches], "-", color="k",
               label=f"course: mean of {RUNS} runs")  # fmt: skip
    for b, ratio in zip(batches, ratios, strict=True):
        right.plot([ratio] * RUNS, per_ratio(course, b), "o", color="k", ms=4,
                   label="course: each run" if b == batches[0] else None)  # fmt: skip
        if student.ok:
            right.plot([ratio] * RUNS, per_ratio(student.value, b), "x", color="tab:red", ms=8,
                       mew=2, label="yours: each run" if b == batches[0] else None)  # fmt: skip
    untrained = [course["untrained", None, run] for run in range(RUNS)]
    right.axhline(statistics.mean(untrained), color="0.6", ls="--", label="course: untrained W")
    right.set_xscale("log")
    right.set_xticks(ratios, [f"{r:.2g}" for r in ratios])
    right.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    right.set(xlabel="ratio lr / b (lr x steps = 200)", ylabel="block estimate of centred W",
              title="hidden weights of the trained networks")  # fmt: skip
    right.set_ylim(top=max(2.2, max(course.values()) + 0.3))
    right.legend(fontsize=8, loc="upper center", ncol=2)
    show_figure(figure)

    print(f"block estimate on {seeds} draws of each law, min..max:")
    for name in names:
        line = f"  {name:<22} course {_span(course, name, seeds)}"
        if student.ok:
            line += f", yours {_span(student.value, name, seeds)}"
        print(line)
    print(f"block estimate of the hidden weights, mean ± sd over {RUNS} runs:")
    for b, ratio in zip(batches, ratios, strict=True):
        line = f"  lr/b {ratio:<7.3g} course {_mean_sd(per_ratio(course, b))}"
        if student.ok:
            line += f", yours {_mean_sd(per_ratio(student.value, b))}"
        print(line)
    line = f"  untrained    course {_mean_sd(untrained)}"
    if student.ok:
        line += f", yours {_mean_sd(student.value['untrained', None, run] for run in range(RUNS))}"
    print(line)
    agree = None
    if student.ok:
        gaps = {key: abs(student.value[key] - course[key]) for key in course}
        worst = max(gaps, key=gaps.get)
        agree = gaps[worst] <= AGREEMENT * max(1.0, abs(course[worst]))
        known = len(names) * seeds
        head = f"largest gap |yours - course's| over the {len(course)} sample sets: "
        if agree:  # rounding-level gaps differ between processors: not printed
            print(head + f"below {AGREEMENT:g} (relative)")
        else:
            print(
                head + f"{gaps[worst]:.3g} ({_where(worst)}: yours {student.value[worst]:.4g}, "
                f"the course's {course[worst]:.4g})"
            )
        if agree:
            print(
                f"your estimates agree with the course's on all {len(course)} sample sets "
                f"({known} of known index, {len(course) - known} weight matrices)"
            )
        else:
            print("your estimates differ from the course's")
    return {"course": course, "student": student.value, "message": student.message,
            "agree": agree}  # fmt: skip
