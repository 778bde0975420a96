"""Lesson 05 demos: sensing and completion (Kwon et al. 2024, Sec. 3.2 and Sec. 4).

* ``subspace_angles``: the largest principal angle between the target's top-r left singular
  subspace and the surrogate's top-r_hat one, as the number of measurements m (sensing) or the
  observed fraction p (completion) grows;
* ``sensing_race``: original against compressed on a small sensing problem, error against
  iteration and against seconds;
* ``completion_race``: the same for completion, with the discrepant learning rate alpha on the
  compressed network's end layers (the compressed network at alpha = 1 drawn for reference);
* ``completion_capstone``: capstone 05, the student's ``train_compressed_completion`` run to a
  row of checkpoints, drawn over the course's compressed completion run.

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
from ..exercises.capstone import run_student_code
from ..history import History
from ..networks import compressed_network, original_network
from ..plots import demo_figure, plot_error_curves, show_figure
from ..problems import course_learning_rate, make_problem
from ..theory.invariant_subspace import principal_angles
from ..threads import small_work
from ..training import train
from ..validation import check_float, check_int

__all__ = [
    "completion_capstone",
    "completion_over_seeds",
    "completion_race",
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


@functools.lru_cache(maxsize=64)
def _angle(task: str, value, d: int, r: int, r_hat: int) -> float:
    with small_work():
        if task == "ms":
            problem = make_problem("ms", d=d, r=r, m=int(value), seed=0)
        else:
            problem = make_problem("mc", d=d, r=r, p=float(value), seed=0)
        return subspace_angle(problem.surrogate(), problem.target, r, r_hat)


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
          f"iterations {min(ratios):.2f} to {max(ratios):.2f}")  # fmt: skip
    print(f"final error lower for the original network in {lower_floor} of {len(rows)} seeds "
          f"(both at their eps floor)")  # fmt: skip
    return {"rows": rows, "wins": wins, "ratios": ratios, "original_lower_floor": lower_floor}


@functools.lru_cache(maxsize=8)
def _completion_problem(p, d, r):
    return make_problem("mc", d=d, r=r, p=p, seed=0)


def _completion_settings(p, r_hat, d, r, eps, steps):
    return {"d": d, "r": r, "p": p, "r_hat": r_hat, "depth": 3, "eps": eps,
            "lr": COMPLETION_LR, "steps": steps}  # fmt: skip


@functools.lru_cache(maxsize=8)
def _completion_original(p, d, r, eps, steps):
    settings = _completion_settings(p, 2 * r, d, r, eps, steps)
    problem = _completion_problem(p, d, r)
    return _train_pair(problem, settings, 1.0, which=("original",))["original"]


@functools.lru_cache(maxsize=32)
def _completion_compressed(p, alpha, r_hat, d, r, eps, steps):
    settings = _completion_settings(p, r_hat, d, r, eps, steps)
    problem = _completion_problem(p, d, r)
    return _train_pair(problem, settings, alpha, which=("compressed",))["compressed"]


def completion_race(
    p: float = 0.3,
    alpha: float = 5.0,
    r_hat: int = 4,
    d: int = 30,
    r: int = 2,
    eps: float = 0.01,
    steps: int = 4000,
):
    """Original vs compressed on completion (d=30, r=2), the end layers at ``alpha * lr``.

    lr = 5; each run stops at error 1e-5 or after ``steps`` steps. The compressed network at
    alpha = 1 is drawn dashed for reference. Prints iterations to 1e-4, final errors (overall
    and on the unobserved entries); ``timing_report`` prints the seconds.
    """
    p = check_float("p", p, low=0.0, high=1.0, low_open=True)
    alpha = check_float("alpha", alpha, low=0.0, low_open=True)
    r_hat = check_int("r_hat", r_hat, low=r, high=d)
    problem = _completion_problem(p, d, r)
    settings = {**_completion_settings(p, r_hat, d, r, eps, steps), "alpha": alpha}
    runs = {
        "original": _completion_original(p, d, r, eps, steps),
        "compressed": _completion_compressed(p, float(alpha), r_hat, d, r, eps, steps),
    }
    baseline = _completion_compressed(p, 1.0, r_hat, d, r, eps, steps)
    figure, axes = demo_figure(2, 10, 3.6)
    plot_error_curves(runs, axes=axes, title=f"completion d={d}, r={r}, p={p:.3g}: "
                      rf"r_hat={r_hat}, lr={COMPLETION_LR:g}, $\alpha$={alpha:.3g}")  # fmt: skip
    for ax, x in zip(axes, (baseline.iterations, baseline.seconds), strict=True):
        ax.semilogy(x, baseline.recovery_error, ls="--", color="0.5", lw=1,
                    label=r"compressed, $\alpha=1$")  # fmt: skip
        ax.axhline(TARGET_ERROR, color="0.6", lw=0.6)
        ax.legend(fontsize=8)
    show_figure(figure)
    summary = _race_summary("mc", settings, runs, problem)
    summary["compressed_alpha_1"] = {
        "iterations_to_1e-4": baseline.iterations_to(TARGET_ERROR),
        "final_error": baseline.final_error,
    }
    print(f"p={p:.3g}: {problem.n_observed} of {d * d} entries seen; spectral init starts "
          f"{summary['initial_angle_degrees']:.3g} degrees from the target's subspace")  # fmt: skip
    _print_race(summary)
    plain = summary["compressed_alpha_1"]["iterations_to_1e-4"]
    print(f"compressed at alpha=1: iterations to 1e-4 {'not reached' if plain is None else plain}")
    for side in ("original", "compressed"):
        print(f"{side:>10}: final error on the unobserved entries "
              f"{summary[side]['final_unobserved_error']:.2e}")  # fmt: skip
    return summary


def _first(fast, slow) -> bool:
    """Did the run that took ``fast`` iterations reach the target before the other one?"""
    return fast is not None and (slow is None or fast < slow)


@functools.lru_cache(maxsize=4)
def _completion_seed(p, r_hat, d, r, eps, steps, seed):
    settings = _completion_settings(p, r_hat, d, r, eps, steps)
    problem = make_problem("mc", d=d, r=r, p=p, seed=seed)
    runs = {}
    for alpha in (1.0, 5.0):
        pair = _train_pair(problem, settings, alpha, seed=seed, original_alpha=alpha)
        runs[f"original, alpha={alpha:g}"] = pair["original"]
        runs[f"compressed, alpha={alpha:g}"] = pair["compressed"]
    with small_work():
        angle = math.degrees(subspace_angle(problem.surrogate(), problem.target, r, r_hat))
    return runs, angle


def completion_over_seeds(p: float = 0.3, r_hat: int = 4, seeds=SEEDS, d: int = 30, r: int = 2,
                          eps: float = 0.01, steps: int = 8000) -> dict:  # fmt: skip
    """The completion race over ``seeds`` (target, mask, original init), both networks at
    alpha = 1 and 5 (alpha on the original network's end layers is the control).

    Prints per seed the starting angle and the iterations to 1e-4 (``-``: not within ``steps``),
    then in how many seeds the compressed network at alpha = 5 reaches 1e-4 first, the range of
    the ratio original (alpha = 1) / compressed (alpha = 5), and the same at equal alpha = 5.
    """
    p = check_float("p", p, low=0.0, high=1.0, low_open=True)
    names = ("original, alpha=1", "compressed, alpha=1", "original, alpha=5",
             "compressed, alpha=5")  # fmt: skip
    rows = []
    for seed in seeds:
        runs, angle = _completion_seed(p, r_hat, d, r, float(eps), steps, int(seed))
        row = {"seed": int(seed), "angle": angle}
        row |= {name: runs[name].iterations_to(TARGET_ERROR) for name in names}
        stalled = runs["compressed, alpha=5"]
        row["final_compressed_5"] = stalled.final_error
        row["final_loss_compressed_5"] = stalled.train_loss[-1]
        row["third_singular_value"] = float(stalled.singular_value_matrix()[-1][r])
        rows.append(row)
    print(f"completion d={d}, r={r}, p={p:g}, r_hat={r_hat}, at most {steps:,} steps, "
          f"{len(rows)} seeds: iterations to 1e-4")  # fmt: skip
    print(f"{'seed':>4} {'angle':>6} | " + " | ".join(f"{n:>19}" for n in names))
    for row in rows:
        cells = " | ".join(f"{'-' if row[n] is None else f'{row[n]:,}':>19}" for n in names)
        print(f"{row['seed']:>4} {row['angle']:>5.0f}° | {cells}")

    def ratios(slow, fast):
        return [row[slow] / row[fast] for row in rows if row[slow] and row[fast]]

    unequal = ratios("original, alpha=1", "compressed, alpha=5")
    equal = ratios("original, alpha=5", "compressed, alpha=5")
    stalled = [row for row in rows if row["compressed, alpha=5"] is None]
    wins = sum(1 for row in rows if _first(row["compressed, alpha=5"], row["original, alpha=1"]))
    print(
        f"compressed (alpha=5) reaches 1e-4 before the original (alpha=1) in {wins} of "
        f"{len(rows)} seeds; ratio {min(unequal):.2f} to {max(unequal):.2f} where both do"
    )
    print(f"at equal alpha = 5: ratio original / compressed {min(equal):.2f} to {max(equal):.2f}")
    for row in stalled:
        print(f"seed {row['seed']}: the compressed network (alpha=5) stops at error "
              f"{row['final_compressed_5']:.1e}, above 1e-4, with training loss "
              f"{row['final_loss_compressed_5']:.1e} and singular value {r + 1} of its W_L:1 at "
              f"{row['third_singular_value']:.1e} (the target has {r})")  # fmt: skip
    return {"rows": rows, "wins": wins, "ratios": unequal, "equal_alpha_ratios": equal,
            "stalled_seeds": [row["seed"] for row in stalled]}  # fmt: skip


# Capstone 05: the student's run agrees with the course's when the recovery error at every
# checkpoint is within this relative gap (they differ by rounding, about 1e-12).
RUN_AGREEMENT = 1e-6


@small_work()
def _student_checkpoints(train_fn, problem, checkpoints, r_hat, depth, eps, lr, alpha):
    """The student's recovery error after each number of steps in ``checkpoints`` (one fresh
    run per checkpoint: the function returns only the final matrix)."""
    target, mask = problem.target, problem.mask
    observed = torch.where(mask, target, torch.zeros_like(target))
    norm = float(torch.linalg.matrix_norm(target))
    errors = []
    for steps in checkpoints:
        recovered = train_fn(observed.clone(), mask.clone(), problem.p, r_hat, depth, eps, lr,
                             alpha, steps)  # fmt: skip
        recovered = torch.as_tensor(recovered, dtype=target.dtype)
        if tuple(recovered.shape) != tuple(target.shape):
            raise ValueError(
                f"returned shape {tuple(recovered.shape)}, expected {tuple(target.shape)}"
            )
        errors.append(float(torch.linalg.matrix_norm(recovered - target)) / norm)
    return errors


def completion_capstone(
    train_compressed_completion,
    p: float = 0.3,
    alpha: float = 5.0,
    r_hat: int = 4,
    d: int = 30,
    r: int = 2,
    eps: float = 0.01,
    every: int = 75,
) -> dict:
    """Capstone 05: the student's compressed completion run against the course's.

    On ``completion_race``'s problem (d = 30, r = 2, p = 0.3, seed 0) the student's
    ``train_compressed_completion(observed, mask, p, r_hat, depth=3, eps, lr, alpha, steps)``
    runs to every ``every``-th step of the course's compressed run (``lr = 5 / |Omega|`` on the
    summed loss is the course's lr = 5 on the mean over the observed entries), through
    ``run_student_code``: a stub or a bug prints one line and the figure shows the course's runs
    only. Drawn: the recovery error of the course's compressed network (alpha) and original
    network (alpha = 1) against iteration, the student's at the checkpoints; printed: when each
    gets below 1e-4 and whether the student's errors are the course's.
    """
    p = check_float("p", p, low=0.0, high=1.0, low_open=True)
    alpha = check_float("alpha", alpha, low=0.0, low_open=True)
    every = check_int("every", every, low=1)
    steps = 4000
    problem = _completion_problem(p, d, r)
    course = _completion_compressed(p, float(alpha), r_hat, d, r, eps, steps)
    original = _completion_original(p, d, r, eps, steps)
    checkpoints = list(range(every, len(course.recovery_error), every))
    lr = COMPLETION_LR / problem.n_observed

    def work():
        return _student_checkpoints(
            train_compressed_completion, problem, checkpoints, r_hat, 3, eps, lr, alpha
        )

    student = run_student_code(work, name="train_compressed_completion")
    figure, (ax,) = demo_figure(1, 7, 3.8)
    ax.semilogy(original.recovery_error, color="tab:blue", lw=1,
                label=r"course: original, $\alpha=1$")  # fmt: skip
    ax.semilogy(course.recovery_error, lw=3, alpha=0.5, color="tab:orange",
                label=rf"course: compressed, $\alpha={alpha:g}$")  # fmt: skip
    if student.ok:
        ax.semilogy(checkpoints, student.value, "x", color="k", ms=7, mew=1.5,
                    label="yours")  # fmt: skip
    ax.axhline(TARGET_ERROR, color="0.6", lw=0.6)
    ax.set(xlabel="iteration", ylabel=r"$\|W_{L:1} - M^*\|_F / \|M^*\|_F$")
    ax.set_title(f"completion d={d}, r={r}, p={p:g}: r_hat={r_hat}, lr=5/|Ω|", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    show_figure(figure)

    print(f"p={p:g}: |Omega| = {problem.n_observed} entries seen; lr = 5 / |Omega| = {lr:.4g} on "
          f"1/2 ||P_Omega(W - M*)||^2, alpha = {alpha:g}")  # fmt: skip
    reached = {"original": original.iterations_to(TARGET_ERROR),
               "compressed": course.iterations_to(TARGET_ERROR)}  # fmt: skip
    for name in ("original", "compressed"):
        shown = "not reached" if reached[name] is None else f"{reached[name]:,}"
        print(f"course, {name:>10}: iterations to 1e-4: {shown}")
    agree = None
    if student.ok:
        below = next((c for c, e in zip(checkpoints, student.value, strict=True)
                      if e < TARGET_ERROR), None)  # fmt: skip
        print(f"yours, {len(checkpoints)} runs of {checkpoints[0]} to {checkpoints[-1]:,} steps: "
              + ("never below 1e-4" if below is None else f"first below 1e-4 at {below:,} steps")
              + f", error {student.value[-1]:.3g} after {checkpoints[-1]:,}")  # fmt: skip
        course_errors = [course.recovery_error[c] for c in checkpoints]
        gaps = [abs(a - b) / b for a, b in zip(student.value, course_errors, strict=True)]
        worst = max(range(len(gaps)), key=gaps.__getitem__)
        agree = gaps[worst] <= RUN_AGREEMENT
        if agree:
            print(f"your run is the course's compressed network at every checkpoint "
                  f"(to {RUN_AGREEMENT:g})")  # fmt: skip
        else:
            print(
                f"your run differs from the course's: after {checkpoints[worst]:,} steps "
                f"error {student.value[worst]:.4g} against {course_errors[worst]:.4g}"
            )
    return {
        "checkpoints": checkpoints,
        "student": student.value,
        "message": student.message,
        "agree": agree,
        "iterations_to_1e-4": reached,
    }
