"""Lesson 11 demos: measuring compressibility (Ou et al. survey; Roy & Vetterli 2007; Hoyer 2004).

* ``measures_vs_errors``: effective rank, stable rank, Hoyer and Gini of 40 matrices (decaying
  spectra and heavy-tailed entries) against the errors of their best rank-k and k-sparse
  compressions; the Spearman correlations say which measure predicts which error;
* ``rank_surrogates``: the survey's claim that the effective rank beats l1-type measures of the
  singular values, tested as a predictor of the rank-k error on five such families;
* ``erank_staircase_demo``: the effective rank of the end-to-end matrix while a deep linear
  network fits a rank-5 target (d = 50), plateau by plateau;
* ``your_rank_for_error`` (capstone): the student's ``rank_for_error`` on the weights that run
  trains (end-to-end matrix over training, and each layer at the end) and on the 40 matrices,
  next to the course's and the effective rank;
* ``flat_tail_example``: one large singular value and a flat tail of 499, where the stable rank
  and the effective rank disagree.
"""

from __future__ import annotations

import functools
import math

import torch

from ..exercises.capstone import run_student_code
from ..literature.compressibility import (
    erank_staircase,
    matrix_family,
    prediction_table,
    rank_for_error,
    spearman,
    spectral_prediction_over_seeds,
)
from ..networks import original_network
from ..plots import demo_figure, show_figure
from ..problems import course_learning_rate, make_problem
from ..theory.rank_measures import effective_rank, stable_rank
from ..threads import small_work
from ..training import train

SIZE = 30  # the family's matrices are SIZE x SIZE
KEEP_STEP = 0.1  # the keep slider's step


def largest_keep(size: int = SIZE, step: float = KEEP_STEP) -> float:
    """The largest ``keep`` (a multiple of ``step``) whose k-sparse budget still drops entries.

    The rank-k compression of an ``m x n`` matrix stores ``k (m + n)`` numbers; the k-sparse one
    keeps as many entries. Below ``k (m + n) < m n``, i.e. ``k < m n / (m + n)`` (``size / 2``
    for a square matrix), some entry is dropped; at ``k >= m n / (m + n)`` every entry is kept,
    every k-sparse error is 0 and its Spearman correlations are meaningless. With
    ``k = round(keep * size)``: for 30 x 30, ``k <= 14`` and, on a 0.1 grid, ``keep <= 0.4``.
    """
    k_max = math.ceil(size * size / (2 * size)) - 1  # the largest k with k (m + n) < m n
    grid = [round(i * step, 6) for i in range(1, round(1 / step) + 1)]
    return max(keep for keep in grid if round(keep * size) <= k_max)


KEEP_MAX = round(largest_keep(), 6)
DEPTH_RANGE = (2, 3)  # depth 4 learns nothing in STEPS at eps = 0.01 (first mode near 60,000)
EPS_RANGE = (0.01, 0.1)  # every corner of depth x eps learns all five modes in STEPS
STEPS = 3000


@functools.lru_cache(maxsize=1)
def _family():
    return matrix_family(count=40, size=30, seed=0)


@functools.lru_cache(maxsize=8)
def _table(keep: float) -> dict:
    return prediction_table(_family()[0], keep=keep)


@small_work()
def measures_vs_errors(keep: float = 0.2):
    """Scatter plots of measure against compression error; prints the correlation table.

    ``keep``: the rank-k compression keeps ``k = keep * 30`` singular triplets; the k-sparse
    one keeps as many entries as that factorization has numbers, ``k (30 + 30)``.
    """
    keep = round(keep, 4)
    if not 0 < keep <= KEEP_MAX:
        raise ValueError(
            f"keep must be in (0, {KEEP_MAX:g}]: from k = {SIZE // 2} on, the k-sparse budget "
            f"k (30 + 30) keeps all {SIZE * SIZE} entries; got {keep}"
        )
    table = _table(keep)
    labels = _family()[1]
    colors = ["tab:blue" if item["kind"] == "decaying spectrum" else "tab:red" for item in labels]
    figure, axes = demo_figure(2, 10, 3.6)
    for ax, measure, error in (
        (axes[0], "effective rank", "rank-k"),
        (axes[1], "Hoyer", "k-sparse"),
    ):
        ax.scatter(table["measures"][measure], table["errors"][error], c=colors, s=14)
        rho = table["correlation"][measure][error]
        ax.set(xlabel=measure, ylabel=f"{error} relative error", title=f"Spearman {rho:.2f}")
    axes[0].scatter([], [], c="tab:blue", s=14, label="decaying spectrum")
    axes[0].scatter([], [], c="tab:red", s=14, label="stable entries")
    axes[0].legend(fontsize=8)
    show_figure(figure)
    k = max(1, round(keep * 30))
    print(f"40 matrices 30 x 30; rank-k keeps k={k}, k-sparse keeps {k * 60} entries")
    print(f"{'Spearman':>15} | {'rank-k':>7} | {'k-sparse':>8}")
    for measure, row in table["correlation"].items():
        print(f"{measure:>15} | {row['rank-k']:>7.2f} | {row['k-sparse']:>8.2f}")
    return table["correlation"]


@functools.lru_cache(maxsize=2)
def _spectral(seeds: tuple, keeps: tuple) -> dict:
    return spectral_prediction_over_seeds(seeds=seeds, keeps=keeps)


@small_work()
def rank_surrogates(seeds=(0, 1, 2, 3, 4), keeps=(0.1, 0.2, 0.3)) -> dict:
    """Spearman correlation of each measure of the singular values with the rank-k error.

    One family of 40 matrices per seed (``matrix_family``); prints, per budget ``keep``, each
    measure's correlation as mean +- sd over the seeds, and which measure was best in each seed.
    Sparsity measures are turned so that larger means less compressible, like the ranks.
    """
    table = _spectral(tuple(seeds), tuple(keeps))
    names = list(table["correlation"][keeps[0]])
    print(f"Spearman correlation with the rank-k error, {len(seeds)} families of 40 matrices "
          "(mean +- sd over the families)")  # fmt: skip
    print(f"{'measure of the singular values':>32} | "
          + " | ".join(f"k = {round(keep * 30):>2} of 30" for keep in keeps))  # fmt: skip
    for name in names:
        cells = [table["correlation"][keep][name] for keep in keeps]
        print(f"{name:>32} | " + " | ".join(f"{m:.3f} +- {sd:.3f}" for m, sd in cells))
    for keep in keeps:
        wins = table["best_counts"][keep]
        shown = ", ".join(f"{name} {count}" for name, count in wins.items() if count)
        print(f"best measure per family at k = {round(keep * 30)}: {shown}")
    return table


@functools.lru_cache(maxsize=8)
def _run(depth: int, eps: float, d: int = 50, r: int = 5, steps: int = STEPS):
    problem = make_problem("mf", d=d, r=r, seed=0)
    network = original_network(d, depth, eps, seed=0)
    history = train(
        problem, network, lr=course_learning_rate(d), steps=steps, log_every=10, record_layers=True
    )
    return problem, history


@small_work()
def erank_staircase_demo(depth: int = 3, eps: float = 0.01):
    """Effective rank of ``W_{L:1}`` over training (d = 50, r = 5, lr = 50 (d/100)^(4/3)).

    Marks the predicted plateaus ``erank(s_1, ..., s_k)``; prints start, lowest, the iteration at
    which each mode is learned, the effective rank halfway between two such moments (the measured
    plateaus, see ``erank_staircase``) and the end against erank(M*).
    """
    eps = round(eps, 6)
    problem, history = _run(depth, eps)
    stairs = erank_staircase(history, problem.target)
    figure, (ax,) = demo_figure(1, 7, 3.6)
    ax.semilogy(history.log_iterations, stairs["erank"], color="tab:purple")
    for value in stairs["predicted"]:
        ax.axhline(value, color="0.7", lw=0.6, ls=":")
    ax.set(
        xlabel="iteration",
        ylabel="effective rank of $W_{L:1}$",
        title=f"deep factorization d=50, r=5, L={depth}, eps={eps:.3g}",
    )
    show_figure(figure)
    plateaus = ", ".join("-" if p is None else f"{p:.2f}" for p in stairs["plateaus"])
    predicted = ", ".join(f"{p:.2f}" for p in stairs["predicted"])
    print(
        f"effective rank: start {stairs['start']:.3g}, lowest {stairs['lowest']:.2f}, "
        f"end {stairs['end']:.2f} (erank(M*) = {stairs['target']:.2f})"
    )
    learned = ", ".join("-" if t is None else f"{t:,}" for t in stairs["learned_at"])
    print(f"mode k learned (sigma_k reaches s_k/2) at iteration: {learned}")
    print(f"effective rank halfway between modes k and k+1: {plateaus}")
    print(f"predicted erank(s_1..s_k):                     {predicted}")
    final = float(history.recovery_error[-1])
    print(f"recovery error after {history.steps:,} steps: {final:.1e}")
    return {key: value for key, value in stairs.items() if key != "erank"} | {
        "final_error": final,
        "erank_curve": torch.as_tensor(stairs["erank"]),
    }


CAPSTONE_EVERY = 2  # every second log of the run (every 20 iterations)
# The trained W_{3:1} at every tolerance from "keep nothing" (1: k = 0, the error of the empty
# approximation is exactly 1) down to below its noise floor; the first two catch a search that
# never returns 0 or compares with < instead of <=.
TOLERANCES = (1.0, 0.5, 0.3, 0.1, 0.03, 0.01, 0.003)


def _end_to_end(layers) -> torch.Tensor:
    """``W_{L:1} = W_L ... W_1`` from the layers, first layer first."""
    product = layers[0]
    for layer in layers[1:]:
        product = layer @ product
    return product


@functools.lru_cache(maxsize=4)
def _trained_weights(depth: int = 3, eps: float = 0.01):
    """The end-to-end matrices over training (every ``CAPSTONE_EVERY`` logs) and the layers at
    the end of the lesson's run."""
    _, history = _run(depth, eps)
    logs = list(range(0, len(history.log_iterations), CAPSTONE_EVERY))
    products = [_end_to_end(history.layer_snapshots[i]) for i in logs]
    iterations = [history.log_iterations[i] for i in logs]
    final = {f"W_{i + 1}": w for i, w in enumerate(history.layer_snapshots[-1])}
    final[f"W_{{{depth}:1}}"] = _end_to_end(history.layer_snapshots[-1])
    return iterations, products, final


@small_work()
def your_rank_for_error(rank_for_error_function, rel_error: float = 0.1) -> dict:
    """Capstone 11: the student's ``rank_for_error`` on weights trained in this lesson.

    Left: the rank the end-to-end matrix ``W_{3:1}`` of the staircase run (d = 50, L = 3,
    eps = 0.01) needs for relative error ``rel_error``, over training, the student's next to the
    course's, with the effective rank for comparison. Right: the same for the 40 matrices of
    Section 3 against their effective rank. Prints the trained layers' measures and how often
    the student's k equals the course's. A stub, an exception or NaN in the student's code
    prints one line and the figure shows the course's result only.
    """
    iterations, products, final = _trained_weights()
    family = _family()[0]
    course_curve = [rank_for_error(w, rel_error) for w in products]
    course_family = [rank_for_error(w, rel_error) for w in family]
    course_final = {name: rank_for_error(w, rel_error) for name, w in final.items()}
    end = final["W_{3:1}"]
    course_sweep = [rank_for_error(end, tolerance) for tolerance in TOLERANCES]
    erank_curve = [effective_rank(w) for w in products]
    erank_family = [effective_rank(w) for w in family]

    def students_run():
        with small_work():

            def k_of(w):
                return int(rank_for_error_function(w.clone(), rel_error))

            return (
                [k_of(w) for w in products],
                [k_of(w) for w in family],
                {name: k_of(w) for name, w in final.items()},
                [int(rank_for_error_function(end.clone(), t)) for t in TOLERANCES],
            )

    student = run_student_code(students_run, name="rank_for_error")
    figure, (left, right, sweep) = demo_figure(3, 14, 3.6)
    sweep.semilogx(TOLERANCES, course_sweep, "o-", color="tab:green", label="course's k")
    sweep.set(xlabel="tolerance (relative error)", ylabel="k", title="$W_{3:1}$ at the end")
    left.semilogy(iterations, erank_curve, color="tab:purple", lw=1, label="effective rank")
    left.semilogy(iterations, [max(k, 0.5) for k in course_curve], color="tab:green",
                  label=f"course's k at error {rel_error:g}")  # fmt: skip
    right.scatter(erank_family, course_family, s=30, facecolors="none", edgecolors="tab:green",
                  label="course's k")  # fmt: skip
    result = {"course_curve": course_curve, "course_family": course_family,
              "course_final": course_final, "course_sweep": course_sweep, "student": None,
              "agree": None}  # fmt: skip
    if student.ok:
        mine_curve, mine_family, mine_final, mine_sweep = student.value
        sweep.semilogx(TOLERANCES, mine_sweep, "x", color="k", ms=8, label="your k")
        left.semilogy(iterations[::5], [max(k, 0.5) for k in mine_curve[::5]], "s", ms=3,
                      color="k", label="your k")  # fmt: skip
        right.scatter(erank_family, mine_family, s=10, marker="x", color="k", label="your k")
        agree = {
            "curve": sum(a == b for a, b in zip(mine_curve, course_curve, strict=True)),
            "family": sum(a == b for a, b in zip(mine_family, course_family, strict=True)),
            "final": sum(mine_final[name] == course_final[name] for name in final),
            "tolerances": sum(a == b for a, b in zip(mine_sweep, course_sweep, strict=True)),
        }
        result.update(student={"curve": mine_curve, "family": mine_family, "final": mine_final,
                               "tolerances": mine_sweep}, agree=agree)  # fmt: skip
    left.set(xlabel="iteration", ylabel="rank",
             title="deep factorization d=50, r=5, L=3: $W_{3:1}$ over training")  # fmt: skip
    right.set(xlabel="effective rank", ylabel=f"k for error {rel_error:g}",
              title="the 40 matrices of Section 3")  # fmt: skip
    for ax in (left, right, sweep):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    show_figure(figure)

    print(f"rank needed for relative error {rel_error:g} (course's rank_for_error)")
    header = f"{'trained weights':>16} | {'erank':>6} | {'srank':>6} | {'course k':>8}"
    print(header + (f" | {'your k':>6}" if student.ok else ""))
    for name, w in final.items():
        row = f"{name:>16} | {effective_rank(w):>6.2f} | {stable_rank(w):>6.2f} | "
        row += f"{course_final[name]:>8}"
        print(row + (f" | {student.value[2][name]:>6}" if student.ok else ""))
    lowest = min(range(len(course_curve)), key=course_curve.__getitem__)
    climbs = [
        next((iterations[i] for i in range(lowest, len(course_curve)) if course_curve[i] >= k),
             None)
        for k in range(course_curve[lowest] + 1, course_curve[-1] + 1)
    ]  # fmt: skip
    print(f"W_{{3:1}} over training: course's k starts at {course_curve[0]}, falls to "
          f"{course_curve[lowest]} (iteration {iterations[lowest]:,}), then reaches "
          + ", ".join(f"{k} at {t:,}" for k, t in
                      zip(range(course_curve[lowest] + 1, course_curve[-1] + 1), climbs,
                          strict=True) if t is not None)
          + f"; end {course_curve[-1]}")  # fmt: skip
    print(
        "W_{3:1} at the end, k for tolerance "
        + ", ".join(f"{t:g}" for t in TOLERANCES)
        + ": course's "
        + ", ".join(str(k) for k in course_sweep)
        + ("; yours " + ", ".join(str(k) for k in student.value[3]) if student.ok else "")
    )
    rho = spearman(erank_family, course_family)
    print(f"40 matrices: Spearman(effective rank, course's k) = {rho:.2f}")
    if student.ok:
        agree = result["agree"]
        print(f"your k equals the course's at {agree['curve']} of {len(course_curve)} moments "
              f"of training, on {agree['family']} of {len(family)} matrices, on "
              f"{agree['final']} of {len(final)} trained weights and at {agree['tolerances']} of "
              f"{len(TOLERANCES)} tolerances")  # fmt: skip
    return result


@small_work()
def flat_tail_example(size: int = 500) -> dict:
    """One large singular value and a flat tail: what the stable rank cannot see.

    ``W = diag(1, t, ..., t)`` (``size x size``) with ``t = sqrt(0.5 / (size - 1))``, so the tail
    holds a third of ``||W||_F^2`` spread over ``size - 1`` singular values. Prints its stable
    rank, effective rank and the rank a 10% error needs (``rank_for_error``).
    """
    tail = torch.full((size - 1,), (0.5 / (size - 1)) ** 0.5, dtype=torch.float64)
    flat_tail = torch.diag(torch.cat([torch.ones(1, dtype=torch.float64), tail]))
    measures = {
        "stable_rank": stable_rank(flat_tail),
        "effective_rank": effective_rank(flat_tail),
        "rank_for_10_percent": rank_for_error(flat_tail, 0.1),
    }
    print(
        f"stable rank {measures['stable_rank']:.3f}, "
        f"effective rank {measures['effective_rank']:.1f}, "
        f"rank for 10% error {measures['rank_for_10_percent']} of {size}"
    )
    return measures
