"""Lesson 05 demos: sensing and completion (Kwon et al. 2024, Sec. 3.2 and Sec. 4).

* ``subspace_angles``: the largest principal angle between the target's top-r left singular
  subspace and the surrogate's top-r_hat one, as the number of measurements m (sensing) or the
  observed fraction p (completion) grows;
* ``sensing_race``: original against compressed on a small sensing problem, error against
  iteration and against seconds;
* completion, its race over seeds and capstone 05: ``lesson05_completion``, which shares this
  module's race helpers.

Learning rates follow the course's scaling (``problems.course_learning_rate``, lr = 50 at
d = 100 for the mean factorization loss): the effective step on ``W - M*`` is ``lr / d^2`` for
factorization and completion and ``lr / m`` for sensing, so sensing uses
``lr = m * course_learning_rate(d) / d^2`` (= 10 at the reference sensing size d = 100, m = 2000).
"""

from __future__ import annotations

import functools
import math

import torch

from ..comparison import Comparison, timing_report
from ..history import History
from ..networks import compressed_network, original_network
from ..plots import demo_figure, plot_error_curves, show_figure
from ..problems import course_learning_rate, make_problem
from ..spread import format_range
from ..theory.invariant_subspace import principal_angles
from ..threads import small_work
from ..training import train
from ..validation import check_float, check_int

__all__ = [
    "operator_memory",
    "random_subspace_angles",
    "sensing_learning_rate",
    "sensing_race",
    "subspace_angle",
    "subspace_angles",
    "timing_report",
]

TARGET_ERROR = 1e-4
# Sensing at eps = 0.03 stalls just under 1e-4 (a floor that scales like eps^L), so its race is
# judged at 1e-3, which neither network's floor touches.
SENSING_ERROR = 1e-3
SEEDS = (0, 1, 2, 3, 4)
STOP_ERROR = 1e-5
M_GRID = (20, 40, 80, 120, 160, 240, 320, 480, 640, 800)
P_GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7, 0.9)
COMPLETION_LR = 5.0


def sensing_learning_rate(d: int, m: int) -> float:
    """``m * course_learning_rate(d) / d^2``: the step ``lr / m`` on ``W - M*`` equals MF's."""
    return check_int("m", m, low=1) * course_learning_rate(d) / d**2


def subspace_angle(surrogate, target, r: int, r_hat: int | None = None) -> float:
    """Largest principal angle (radians) between span of the target's top-r left singular
    vectors and span of the surrogate's top-r_hat ones (Björck & Golub 1973).

    Zero when the surrogate's subspace contains the target's; pi/2 when some target direction
    is orthogonal to it. ``r_hat`` defaults to ``r``.
    """
    r = check_int("r", r, low=1)
    r_hat = r if r_hat is None else check_int("r_hat", r_hat, low=r)
    u_target = torch.linalg.svd(target)[0][:, :r]
    u_surrogate = torch.linalg.svd(surrogate)[0][:, :r_hat]
    return float(principal_angles(u_target, u_surrogate).max())


@small_work()
def random_subspace_angles(d: int = 20, k: int = 2, draws: int = 1000, seed: int = 0) -> dict:
    """The principal angles between a fixed k-dimensional subspace of R^d and random ones.

    A random subspace is the span of a d x k Gaussian matrix (uniform over subspaces, by
    rotation invariance); its angles to the span of the first k coordinate vectors are
    ``arccos`` of the singular values of the top k x k block of its orthonormal basis
    (Björck & Golub 1973). Prints, for each angle (smallest to largest), the median and the
    range that holds 90% of the draws (5th to 95th percentile), in degrees.
    """
    d, k = check_int("d", d, low=2), check_int("k", k, low=1, high=d)
    draws = check_int("draws", draws, low=10)
    generator = torch.Generator().manual_seed(check_int("seed", seed, low=0))
    samples = torch.randn(draws, d, k, generator=generator, dtype=torch.float64)
    bases = torch.linalg.qr(samples)[0]
    cosines = torch.linalg.svdvals(bases[:, :k, :]).clamp(0.0, 1.0)  # descending per draw
    degrees = torch.rad2deg(torch.arccos(cosines))  # ascending per draw
    levels = torch.tensor([0.05, 0.5, 0.95], dtype=torch.float64)
    quantiles = torch.quantile(degrees, levels, dim=0)  # (3, k)
    print(f"{draws:,} random {k}-dimensional subspaces of R^{d} against a fixed one (degrees):")
    for index in range(k):
        low, middle, high = quantiles[:, index].tolist()
        print(f"  angle {index + 1}: median {middle:.0f}, 90% of draws between {low:.0f} and "
              f"{high:.0f}")  # fmt: skip
    return {"quantiles": quantiles.T.tolist(), "draws": draws}


@small_work()
def operator_memory(d: int = 200, m: int = 4000) -> dict:
    """Bytes of the sensing operator (m x d^2 numbers) in float64 and float32, printed in GB.

    float64 is the course's default on the CPU (and the operator is always drawn in float64 on
    the CPU first); float32 is the default on a GPU (``validation.resolve_dtype``).
    """
    numbers = check_int("m", m, low=1) * check_int("d", d, low=1) ** 2
    kinds = (("float64", torch.float64), ("float32", torch.float32))
    sizes = {name: numbers * torch.empty((), dtype=kind).element_size() for name, kind in kinds}
    print(f"sensing operator, d = {d}, m = {m:,}: m d^2 = {numbers:,} numbers, "
          f"{sizes['float64'] / 1e9:.2f} GB in float64 (the CPU default), "
          f"{sizes['float32'] / 1e9:.2f} GB in float32 (the default on a GPU)")  # fmt: skip
    return sizes


@functools.lru_cache(maxsize=64)
def _angle(task: str, value, d: int, r: int, r_hat: int) -> float:
    with small_work():
        if task == "ms":
            problem = make_problem("ms", d=d, r=r, m=int(value), seed=0)
        else:
            problem = make_problem("mc", d=d, r=r, p=float(value), seed=0)
        return subspace_angle(problem.surrogate(), problem.target, r, r_hat)


@small_work()
def subspace_angles(m: int = 160, p: float = 0.2, r_hat: int = 2, d: int = 20, r: int = 2):
    """How close the surrogate's top singular subspace is to the target's, as m or p grows.

    Left: sensing with m measurements, surrogate ``m sum_i y_i A_i`` (same singular vectors as
    ``(1/m) sum_i y_i A_i``). Right: completion with a fraction p observed, ``P_Omega(M*)/p``.
    The curve is the largest principal angle (degrees) between the target's left r-subspace and
    the surrogate's top-r_hat one; dashed: r_hat = r. Prints the angles at the chosen m and p.
    """
    m, d, r = check_int("m", m, low=1), check_int("d", d, low=2), check_int("r", r, low=1)
    r_hat = check_int("r_hat", r_hat, low=r, high=d)
    p = check_float("p", p, low=0.0, high=1.0, low_open=True)
    figure, axes = demo_figure(2, 10, 3.6)
    dof = r * (2 * d - r)
    chosen = {}
    for ax, task, grid, value, label in (
        (axes[0], "ms", M_GRID, m, "measurements m"),
        (axes[1], "mc", P_GRID, p, "observed fraction p"),
    ):
        for width, style in ((r_hat, "-"), (r, "--")):
            if width == r and r_hat == r and style == "--":
                continue
            angles = [math.degrees(_angle(task, v, d, r, width)) for v in grid]
            ax.plot(grid, angles, style, color="tab:purple", marker="." if style == "-" else None,
                    label=rf"$\hat r={width}$")  # fmt: skip
        chosen[task] = math.degrees(_angle(task, value, d, r, r_hat))
        ax.plot([value], [chosen[task]], "ko", ms=6)
        ax.set(xlabel=label, ylabel="largest angle (degrees)", ylim=(0, 92))
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].axvline(dof, color="0.6", lw=0.8)
    axes[0].set_title(f"sensing ({dof} degrees of freedom: grey line)", fontsize=10)
    axes[1].set_title("completion", fontsize=10)
    figure.suptitle(f"surrogate subspace vs target subspace, d={d}, r={r}")
    show_figure(figure)
    print(f"target: d={d}, r={r}, r(2d - r) = {dof} degrees of freedom")
    print(f"sensing, m={m} ({m / dof:.3g} per degree of freedom): largest angle "
          f"{chosen['ms']:.3g} degrees with r_hat={r_hat}")  # fmt: skip
    print(f"completion, p={p:.3g} ({math.floor(p * d * d)} entries seen): largest angle "
          f"{chosen['mc']:.3g} degrees with r_hat={r_hat}")  # fmt: skip
    return {"sensing_degrees": chosen["ms"], "completion_degrees": chosen["mc"], "dof": dof}


def _train_pair(
    problem,
    settings,
    alpha,
    which=("original", "compressed"),
    seed: int = 0,
    original_alpha: float = 1.0,
) -> dict[str, History]:
    runs = {}
    common = {"lr": settings["lr"], "steps": settings["steps"], "stop_error": STOP_ERROR,
              "tol": 1e-14, "log_every": settings["steps"]}  # fmt: skip
    if "original" in which:
        network = original_network(settings["d"], settings["depth"], settings["eps"], seed=seed)
        runs["original"] = train(problem, network, alpha=original_alpha, **common)
    if "compressed" in which:
        network = compressed_network(
            problem.surrogate(), settings["r_hat"], settings["depth"], settings["eps"]
        )
        runs["compressed"] = train(problem, network, alpha=alpha, **common)
    return runs


def _race_summary(task, settings, runs, problem) -> dict:
    summary = Comparison(task, settings, runs["original"], runs["compressed"]).to_dict()
    key = "iterations_to_1e-4"
    iterations = (summary["original"][key], summary["compressed"][key])
    summary["iterations_ratio"] = None if None in iterations else iterations[0] / iterations[1]
    with small_work():
        angle = subspace_angle(
            problem.surrogate(), problem.target, settings["r"], settings["r_hat"]
        )
    summary["initial_angle_degrees"] = math.degrees(angle)
    return summary


def _print_race(summary, names=("original", "compressed")):
    for side in names:
        values = summary[side]
        reached = values["iterations_to_1e-4"]
        print(
            f"{side:>10}: {values['params']:>5,} parameters, iterations to 1e-4: "
            f"{'not reached' if reached is None else f'{reached:,}'}, "
            f"final error {values['final_error']:.2e}"
        )
    ratio = summary["iterations_ratio"]
    print(f"iterations to 1e-4, original / compressed: {'-' if ratio is None else f'{ratio:.3g}'}")


@functools.lru_cache(maxsize=16)
def _sensing(m, r_hat, d, r, eps, steps, seed):
    settings = {"d": d, "r": r, "m": m, "r_hat": r_hat, "depth": 3, "eps": eps,
                "lr": sensing_learning_rate(d, m), "alpha": 1.0, "steps": steps}  # fmt: skip
    problem = make_problem("ms", d=d, r=r, m=m, seed=seed)
    return settings, problem, _train_pair(problem, settings, 1.0, seed=seed)


@small_work()
def sensing_race(
    m: int = 320, r_hat: int = 4, d: int = 20, r: int = 2, eps: float = 0.03, steps: int = 800
):
    """Original vs compressed on sensing (d=20, r=2): error against iteration and seconds.

    Both run until the error is below 1e-5 or ``steps`` steps, with
    ``lr = sensing_learning_rate(d, m)``. Prints parameters, iterations to 1e-4 and to 1e-3 (the
    race's line: both stall near 1e-4 at eps = 0.03), final errors and the spectral init's
    starting angle; ``timing_report`` prints the seconds.
    """
    m = check_int("m", m, low=1)
    r_hat = check_int("r_hat", r_hat, low=r, high=d)
    settings, problem, runs = _sensing(m, r_hat, d, r, float(eps), steps, 0)
    figure, axes = demo_figure(2, 10, 3.6)
    plot_error_curves(runs, axes=axes, title=f"sensing d={d}, r={r}, m={m}: r_hat={r_hat}, "
                      f"lr={settings['lr']:.3g}")  # fmt: skip
    for ax in axes:
        ax.axhline(TARGET_ERROR, color="0.6", lw=0.6)
        ax.axhline(SENSING_ERROR, color="0.3", lw=0.8, ls="--")
    show_figure(figure)
    summary = _race_summary("ms", settings, runs, problem)
    reached = {side: runs[side].iterations_to(SENSING_ERROR) for side in runs}
    summary["iterations_to_1e-3"] = reached
    print(f"m={m} measurements, lr = m * {course_learning_rate(d):.3g} / d^2 = "
          f"{settings['lr']:.3g}; operator m x d^2 = {m * d * d:,} numbers")  # fmt: skip
    print(f"spectral init starts {summary['initial_angle_degrees']:.3g} degrees from the target's "
          "subspace")  # fmt: skip
    _print_race(summary)
    shown = {side: "not reached" if it is None else f"{it:,}" for side, it in reached.items()}
    print(f"iterations to 1e-3 (dashed line): original {shown['original']}, "
          f"compressed {shown['compressed']}")  # fmt: skip
    return summary


@small_work()
def sensing_over_seeds(m: int = 320, r_hat: int = 4, seeds=SEEDS, d: int = 20, r: int = 2,
                       eps: float = 0.03, steps: int = 800) -> dict:  # fmt: skip
    """The sensing race repeated over ``seeds`` (target, measurements and original init): prints
    each seed's iterations to 1e-3 and final errors, and how often the compressed network wins."""
    m = check_int("m", m, low=1)
    rows = []
    for seed in seeds:
        _, _, runs = _sensing(m, r_hat, d, r, float(eps), steps, int(seed))
        rows.append({
            "seed": int(seed),
            "original": runs["original"].iterations_to(SENSING_ERROR),
            "compressed": runs["compressed"].iterations_to(SENSING_ERROR),
            "final_original": runs["original"].final_error,
            "final_compressed": runs["compressed"].final_error,
        })  # fmt: skip
    print(f"sensing d={d}, r={r}, m={m}, r_hat={r_hat}, eps={eps:g}, {len(rows)} seeds")
    print(
        " seed   iterations to 1e-3 (original / compressed)   final error (original / compressed)"
    )
    for row in rows:
        print(f"{row['seed']:>5}   {row['original']!s:>18} / {row['compressed']!s:<18}"
              f"   {row['final_original']:.2e} / {row['final_compressed']:.2e}")  # fmt: skip
    both = [row for row in rows if row["original"] and row["compressed"]]
    wins = sum(row["compressed"] < row["original"] for row in both)
    ratios = [row["original"] / row["compressed"] for row in both]
    lower_floor = sum(row["final_original"] < row["final_compressed"] for row in rows)
    print(f"compressed first to 1e-3 in {wins} of {len(rows)} seeds; original / compressed "
          f"iterations {format_range(ratios)}")  # fmt: skip
    print(f"final error lower for the original network in {lower_floor} of {len(rows)} seeds "
          f"(both at their eps floor)")  # fmt: skip
    return {"rows": rows, "wins": wins, "ratios": ratios, "original_lower_floor": lower_floor}
