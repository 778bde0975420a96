"""Lesson 04 demos: the compressed network (Kwon et al. 2024, Sec. 3).

* ``parameter_counts``: ``L d^2`` against ``2 d r_hat + (L-2) r_hat^2`` as d grows;
* ``compression_race``: original against compressed on one factorization problem
  (``lowdim_course.comparison.compare``), error against iteration and against seconds, and the
  paper's claim (compressed error <= original error at every iteration) checked live;
  ``timing_report`` prints the seconds, which change from machine to machine;
* ``scalar_modes``: the scalar recursion ``a_i(t+1) = a_i + eta a_i^{L-1} (s_i - a_i^L)``
  against the trained compressed network;
* ``race_over_seeds``: the same check over five seeds in chosen regimes (depth, eps, learning
  rate), with the step-stability number ``eta L s_1^(2-2/L)`` of each seed: only the seeds
  clearly inside the edge (number <= 2 - ``EDGE_MARGIN``) are raced and counted; past the edge
  the outcome is decided by rounding, and the table says so instead of counting it;
* ``discrepant_rate``: the factor alpha on the first and last layers, on a small completion
  problem where it matters; ``alpha_over_seeds`` repeats it over ten seeds, ``width_over_seeds``
  compares r_hat = r with r_hat = 2r there (``lesson04_alpha``);
* ``step_race``: capstone 04, the student's ``compressed_gd_step`` driving the compressed
  network from the core's spectral initialization at ``alpha = 2`` in the race of
  ``compression_race``, drawn over the course's compressed network at the same alpha and the
  race at alpha = 1 (the figure: ``lesson04_capstone``).
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import torch
from matplotlib.ticker import NullFormatter

from ..comparison import compare, timing_report
from ..networks import (
    compressed_network,
    compressed_param_count,
    original_param_count,
)
from ..plots import STYLE, demo_figure, plot_error_curves, show_figure
from ..problems import course_learning_rate, make_problem
from ..theory.invariant_subspace import (
    EDGE_MARGIN,
    STEP_EDGE,
    mode_step_stability,
    scalar_mode_trajectory,
)
from ..threads import small_work
from ..training import DivergenceError, train
from .lesson04_alpha import _mean_sd, alpha_over_seeds, discrepant_rate, width_over_seeds
from .lesson04_capstone import step_race_figure

__all__ = [  # what the lesson and its tests import from here
    "EDGE_MARGIN",
    "SEEDS",
    "alpha_over_seeds",
    "compression_race",
    "discrepant_rate",
    "parameter_counts",
    "race_over_seeds",
    "scalar_modes",
    "step_race",
    "timing_report",
    "width_over_seeds",
]

TARGET_ERROR = 1e-4
# The compressed error counts as <= the original's up to rounding (relative, then absolute).
RTOL, ATOL = 1e-9, 1e-14
SEEDS = (0, 1, 2, 3, 4)
# (depth, eps, learning-rate factor, steps): the default, a deeper setting inside the stable
# step (its original network needs 1,172 to 1,367 iterations to reach 1e-4 over the five seeds,
# so it runs 2,000), depth 5 where the course's learning rate is too large for the top mode, and
# the same halved. A regime given without steps runs ``race_over_seeds``'s ``steps``.
RACE_REGIMES = ((3, 0.03, 1.0, 1000), (4, 0.1, 1.0, 2000), (5, 0.3, 1.0, 1000), (5, 0.3, 0.5, 1000))
# The step check's edge: the top mode settles only when eta L s_1^(2-2/L) < STEP_EDGE. A seed is
# counted only at least EDGE_MARGIN below it: there the top mode's distance to its end point, and
# any rounding difference along it, shrinks by |1 - number| per step (0.8 at 1.8). Nearer the
# edge the factor nears 1 (the mode still rings at the end of a run); past it the end point
# repels, the mode oscillates, often chaotically, and a last-bit difference between two
# processors' products decides the outcome (measured at depth 5, eps = 0.2: a 1e-12 relative
# change of every product changes which seeds hold and which diverge).


@small_work()
def parameter_counts(d: int = 100, r_hat: int = 20, depth: int = 3):
    """Parameters of both networks for widths up to 4d, the chosen d marked; prints the counts."""
    original = original_param_count(d, depth)
    compressed = compressed_param_count(d, r_hat, depth)
    widths = torch.arange(max(r_hat, 2), 4 * d + 1)
    figure, (ax,) = demo_figure(1, 6, 3.6, title=False)
    ax.loglog(widths, depth * widths**2, **STYLE["original"])
    ax.loglog(
        widths, 2 * widths * r_hat + (depth - 2) * r_hat**2, **STYLE["compressed"]
    )  # fmt: skip
    ax.plot([d, d], [compressed, original], "ko", ms=4)
    ax.xaxis.set_minor_formatter(NullFormatter())  # the decades are labels enough
    ax.set(xlabel="width d", ylabel="parameters", title=f"depth L={depth}, r_hat={r_hat}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    show_figure(figure)
    summary = {"original": original, "compressed": compressed, "ratio": original / compressed}
    print(f"original   L d^2 = {depth} x {d}^2 = {original:,}")
    print(
        f"compressed 2 d r_hat + (L-2) r_hat^2 = 2 x {d} x {r_hat} + {depth - 2} x {r_hat}^2 "
        f"= {compressed:,}"
    )
    print(f"the compressed network is {summary['ratio']:.3g} times smaller")
    return summary


@functools.lru_cache(maxsize=4)
def _race(d, r, r_hat, depth, eps, steps, lr_factor=1.0, seed=0):
    lr = lr_factor * course_learning_rate(d)
    return compare(
        "mf", d=d, r=r, r_hat=r_hat, depth=depth, eps=eps, lr=lr, steps=steps, tol=0.0, seed=seed
    )  # fmt: skip


def _below_at_every_iteration(result) -> tuple[bool, int | None]:
    """Is the compressed error <= the original's (up to rounding) at every iteration? And where
    it is first not."""
    pairs = zip(result.compressed.recovery_error, result.original.recovery_error, strict=True)
    first_above = next(
        (t for t, (c, o) in enumerate(pairs) if c > o * (1 + RTOL) + ATOL), None
    )  # fmt: skip
    return first_above is None, first_above


def _inside_edge(number: float) -> bool:
    """Is a step-check number clearly inside the edge (at most ``STEP_EDGE - EDGE_MARGIN``)?"""
    return number <= STEP_EDGE - EDGE_MARGIN


def step_stability(d: int, r: int, depth: int, lr_factor: float = 1.0, seed: int = 0) -> float:
    """``eta L s_1^(2-2/L)`` for the race's problem: < 2 means the top mode can settle.

    ``eta = lr / d^2`` is the step on the summed loss and ``s_1`` the target's largest singular
    value (``theory.invariant_subspace.mode_step_stability``).
    """
    problem = make_problem("mf", d=d, r=r, seed=seed)
    top = float(torch.linalg.svdvals(problem.target)[0])
    return mode_step_stability(top, lr_factor * course_learning_rate(d) / d**2, depth)


@small_work()
def compression_race(
    r_hat: int = 10, depth: int = 3, eps: float = 0.03, steps: int = 1000, d: int = 50, r: int = 5
):
    """Train both networks on one factorization problem; plot error vs iteration and vs time.

    Prints only what does not depend on the machine: parameters, iterations to 1e-4, final
    errors, and whether the compressed error is <= the original's at every iteration (Kwon et
    al. 2024, Sec. 3). The returned dict also holds the seconds (see ``timing_report``).
    """
    stability = step_stability(d, r, depth)
    try:
        result = _race(d, r, r_hat, depth, eps, steps)
    except DivergenceError as error:
        print(f"{error}\nstep check: eta L s_1^(2-2/L) = {stability:.2f} (the top mode settles "
              "only below 2)")  # fmt: skip
        return {"diverged": str(error), "step_stability": stability}
    original, compressed = result.original, result.compressed
    figure, axes = demo_figure(2, 10, 3.6)
    plot_error_curves(
        {"original": original, "compressed": compressed},
        axes=axes,
        title=f"factorization d={d}, r={r}: r_hat={r_hat}, depth L={depth}, eps={eps:.3g}",
    )
    figure.axes[0].axhline(TARGET_ERROR, color="0.6", lw=0.6)
    show_figure(figure)

    below, first_above = _below_at_every_iteration(result)
    summary = result.to_dict()
    key = "iterations_to_1e-4"
    iterations = (summary["original"][key], summary["compressed"][key])
    summary.update(
        {
            "compressed_below_original": below,
            "first_iteration_above": first_above,
            "iterations_compared": len(compressed.recovery_error),
            "step_stability": stability,
            "params_ratio": original.num_params / compressed.num_params,
            "iterations_ratio": None if None in iterations else iterations[0] / iterations[1],
        }
    )
    for side in ("original", "compressed"):
        values = summary[side]
        reached = values[key]
        print(
            f"{side:>10}: {values['params']:>6,} parameters, iterations to 1e-4: "
            f"{'not reached' if reached is None else f'{reached:,}'}, "
            f"final error {values['final_error']:.2e}"
        )
    print(
        f"compressed error <= original error at every one of the "
        f"{summary['iterations_compared']:,} iterations: {below}"
        + ("" if first_above is None else f" (first exception at iteration {first_above})")
    )
    print(f"step check: eta L s_1^(2-2/L) = {stability:.2f} (the top mode settles only below 2)")
    if not _inside_edge(stability):
        print(f"at or past the edge (above {STEP_EDGE - EDGE_MARGIN:g}): once the top mode "
              "arrives, rounding decides the verdict; another processor may print "
              "another")  # fmt: skip
    ratio = summary["iterations_ratio"]
    print(
        f"ratios original / compressed: parameters {summary['params_ratio']:.3g}, iterations to "
        f"1e-4 {'-' if ratio is None else f'{ratio:.3g}'}"
    )
    return summary


@small_work()
def race_over_seeds(
    regimes=RACE_REGIMES, seeds=SEEDS, r_hat: int = 10, steps: int = 1000, d: int = 50, r: int = 5
) -> list[dict]:
    """The race repeated over ``seeds`` (target and original initialization) in each regime.

    ``regimes`` holds ``(depth, eps, lr_factor)`` or ``(depth, eps, lr_factor, steps)`` (without
    it, ``steps``); the learning rate is ``lr_factor`` times the course's ``50 (d/100)^(4/3)``.
    Each seed's step-check number ``eta L s_1^(2-2/L)`` depends
    on its target alone. A seed is raced and counted only when its number is at most
    ``STEP_EDGE - EDGE_MARGIN`` = 1.8: there the claim's verdict is the same on every processor.
    At or past the edge the top mode overshoots its end point and the difference between two
    runs can grow every step, so whether the compressed error stays below the original's, or a
    run diverges, is decided by rounding (see ``STEP_EDGE``); those seeds are listed, not raced.

    Prints, per regime, the range of the numbers over the seeds, in how many counted seeds the
    compressed error stays <= the original's at every iteration (a counted run that diverges
    counts as not holding, and is named), the seeds at or past the edge, and the original /
    compressed ratio of iterations to 1e-4 (mean +- sd over the counted seeds where both reach
    it). Returns one dict per regime with the same, and each seed's number.
    """
    rows = []
    for regime in regimes:
        depth, eps, lr_factor, run_steps = (*regime, steps)[:4]
        numbers = {int(seed): step_stability(d, r, depth, lr_factor, int(seed)) for seed in seeds}
        counted = [seed for seed, number in numbers.items() if _inside_edge(number)]
        holds, diverged, ratios = 0, [], []
        for seed in counted:
            try:
                result = _race(d, r, r_hat, depth, eps, run_steps, lr_factor, seed)
            except DivergenceError:
                diverged.append(seed)
                continue
            holds += _below_at_every_iteration(result)[0]
            reached = (result.original.iterations_to(TARGET_ERROR),
                       result.compressed.iterations_to(TARGET_ERROR))  # fmt: skip
            if None not in reached:
                ratios.append(reached[0] / reached[1])
        rows.append({"depth": depth, "eps": eps, "lr_factor": lr_factor, "steps": run_steps,
                     "seeds": len(numbers),
                     "step_stability": numbers, "counted": counted, "holds": holds,
                     "diverged": diverged, "at_edge": sorted(set(numbers) - set(counted)),
                     "iterations_ratios": ratios})  # fmt: skip
    print(f"factorization d={d}, r={r}, r_hat={r_hat}, {len(seeds)} seeds; "
          "lr = factor x 50 (d/100)^(4/3)")  # fmt: skip
    print(f"a seed is raced when its step check eta L s_1^(2-2/L) is at most "
          f"{STEP_EDGE - EDGE_MARGIN:g} (the edge, {STEP_EDGE:g}, minus a margin of "
          f"{EDGE_MARGIN:g}); past it, the outcome is decided by rounding")  # fmt: skip
    print("depth   eps   lr factor   steps   eta L s_1^(2-2/L)   iterations to 1e-4, orig. / "
          "comp.   compressed <= original at every iteration")  # fmt: skip
    for row in rows:
        ratios = row["iterations_ratios"]
        ratio_text = f"{_mean_sd(ratios)} ({len(ratios)} seeds)" if ratios else "-"
        numbers = row["step_stability"].values()
        print(f"{row['depth']:>5}  {row['eps']:>4g}   {row['lr_factor']:>9g}   "
              f"{row['steps']:>5,}   "
              f"{f'{min(numbers):.2f} to {max(numbers):.2f}':>17}   {ratio_text:<34}  "
              f"{_verdict(row)}")  # fmt: skip
    print("('-': not reached by both networks within the run: a plateau longer than the run, "
          "or a floor above 1e-4 at a large eps)")  # fmt: skip
    return rows


def _verdict(row: dict) -> str:
    """The last column of ``race_over_seeds``: the count over the raced seeds, then the rest."""
    counted, at_edge = row["counted"], row["at_edge"]
    parts = []
    if counted:
        parts.append(f"in {row['holds']} of {len(counted)} seeds")
    if row["diverged"]:
        parts.append(f"diverged: seed {', '.join(map(str, row['diverged']))}")
    if at_edge:
        which = "all" if not counted else "seed " + ", ".join(map(str, at_edge))
        parts.append(f"not raced: {which} at or past the edge, where rounding decides")
    return "; ".join(parts)


@functools.lru_cache(maxsize=4)
def _compressed_mf(d, r, r_hat, depth, eps, steps):
    problem = make_problem("mf", d=d, r=r, seed=0)
    network = compressed_network(problem.surrogate(), r_hat, depth, eps, rank=r)
    lr = course_learning_rate(d)
    history = train(problem, network, lr=lr, steps=steps, log_every=max(1, steps // 40))
    return problem, history, lr


@small_work()
def scalar_modes(
    r_hat: int = 10, depth: int = 3, eps: float = 0.03, steps: int = 1000, d: int = 50, r: int = 5
):
    """The compressed network is r_hat scalar recursions: prediction against training.

    Left: the per-mode end-to-end strengths ``a_i^L`` from the recursion (lines) and the
    singular values of the trained network's ``W_{L:1}`` (dots). Right: the recovery error,
    trained and predicted. Prints how closely they agree (a yes/no at 1e-9: the difference is
    rounding, about 1e-13, and its exact digits are not stable).
    """
    problem, history, lr = _compressed_mf(d, r, r_hat, depth, eps, steps)
    eta = lr / d**2
    target = torch.linalg.svdvals(problem.target)[:r]
    modes = scalar_mode_trajectory(target, eps, eta, depth, steps, r_hat=r_hat)
    measured = torch.tensor(history.recovery_error, dtype=torch.float64)
    gap = float((measured - modes.recovery_error).abs().max())
    logged = history.singular_value_matrix()[:, :r_hat]
    predicted_logged = torch.sort(modes.strengths[history.log_iterations], descending=True).values
    mode_gap = float((logged - predicted_logged).abs().max() / target[0])

    figure, axes = demo_figure(2, 11, 3.6)
    for i in range(r_hat):
        color = plt.cm.viridis(i / r_hat)
        axes[0].semilogy(modes.strengths[:, i], color=color, lw=1.2)
    axes[0].semilogy(history.log_iterations, logged, "k.", ms=3)
    axes[0].plot([], [], "k.", label=r"trained: $\sigma_i(W_{L:1})$")
    axes[0].plot([], [], color=plt.cm.viridis(0.5), label=r"recursion: $a_i^L$")
    axes[0].set(xlabel="iteration", ylabel="mode strength", title=f"{r_hat} scalar modes")
    axes[0].legend(fontsize=8)
    axes[1].semilogy(measured, color=STYLE["compressed"]["color"], lw=3, alpha=0.5, label="trained")
    axes[1].semilogy(modes.recovery_error, "k--", lw=1, label="scalar recursion")
    axes[1].set(xlabel="iteration", ylabel=r"$\|W - M^*\|_F / \|M^*\|_F$", title="recovery error")
    axes[1].legend()
    figure.suptitle(f"compressed network, d={d}, r={r}, r_hat={r_hat}, L={depth}, eps={eps:.3g}")
    show_figure(figure)

    predicted_final = float(modes.recovery_error[-1])
    summary = {
        "eta": eta,
        "max_error_gap": gap,
        "max_mode_gap": mode_gap,
        "agree": gap < 1e-9 and mode_gap < 1e-9,
        "predicted_iterations_to_1e-4": next(
            (t for t, e in enumerate(modes.recovery_error.tolist()) if e < TARGET_ERROR), None
        ),
        "trained_iterations_to_1e-4": history.iterations_to(TARGET_ERROR),
        "final_error": history.final_error,
        "predicted_final_error": predicted_final,
    }
    print(f"eta = lr / d^2 = {eta:.3g}; {r} target modes and {r_hat - r} that stay near zero")
    print(f"trained and predicted curves agree to 1e-9 at every iteration: {summary['agree']}")
    print(
        f"iterations to 1e-4: trained {summary['trained_iterations_to_1e-4']}, "
        f"predicted {summary['predicted_iterations_to_1e-4']}"
    )
    print(f"final error: trained {history.final_error:.2e}, predicted {predicted_final:.2e}")
    return summary


@small_work()
def step_race(
    compressed_gd_step,
    alpha: float = 2.0,
    r_hat: int = 10,
    depth: int = 3,
    eps: float = 0.03,
    steps: int = 1000,
    d: int = 50,
    r: int = 5,
) -> dict:
    """Capstone 04: the race of ``compression_race`` with the student's step in the compressed
    network, at a discrepant rate ``alpha``.

    The student's ``compressed_gd_step(layers, target, eta, alpha)`` runs ``steps`` times from
    the core's spectral initialization with ``eta = course_learning_rate(d) / d^2`` on the summed
    loss (the course's mean loss with ``course_learning_rate(d)``), through
    ``run_student_code``: a stub or a bug prints one line and the figure shows the course's
    networks only. ``alpha`` (2 by default) multiplies the rate of the first and last layers
    (Kwon et al. 2024, Sec. 3.2); at alpha = 1 a wrong split of the rate among the layers would
    not show. Drawn: the recovery error of the course's original and compressed networks at
    alpha = 1, of the course's compressed network at ``alpha`` and of the student's, against
    iteration, and the relative gap between the last two; printed: iterations to 1e-4 of each
    and whether the student's curve is the course's (relative gap below ``STEP_AGREEMENT`` at
    every iteration), else where it leaves it and the largest gap. The figure:
    ``lesson04_capstone.step_race_figure``.
    """
    if not (isinstance(alpha, int | float) and 0 < alpha <= 3):
        raise ValueError(f"alpha must be a number in (0, 3] (larger steps diverge), got {alpha!r}")
    result = _race(d, r, r_hat, depth, eps, steps)
    return step_race_figure(compressed_gd_step, result, r_hat, depth, eps, steps, d, r, alpha)
