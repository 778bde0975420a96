"""Lesson 05, completion: the race with the discrepant learning rate, over seeds, capstone 05.

* ``completion_race``: original against compressed on a small completion problem, with the
  discrepant learning rate alpha on the compressed network's end layers (Kwon et al. 2024,
  Sec. 3.2; the compressed network at alpha = 1 drawn for reference);
* ``completion_over_seeds``: which network reaches 1e-4 first, over ten seeds, with a diagnosis
  of each seed where the compressed network misses it (stalled, or still descending; how well
  the seen entries pin the target down: :func:`sampling_on_tangent`);
* ``completion_capstone``: capstone 05, the student's ``train_compressed_completion`` run to a
  row of checkpoints, drawn over the course's compressed completion run.

The runs are cached: a slider that moves alpha does not retrain the original network.
"""

from __future__ import annotations

import functools
import math

import torch

from ..exercises.capstone import run_student_code
from ..plots import demo_figure, plot_error_curves, show_figure
from ..problems import make_problem
from ..spread import format_range
from ..threads import small_work
from ..validation import check_float, check_int
from .lesson05 import (
    COMPLETION_LR,
    TARGET_ERROR,
    _print_race,
    _race_summary,
    _train_pair,
    subspace_angle,
)

# The completion race over seeds: ten, so that a rate of failure comes with a usable interval.
COMPLETION_SEEDS = tuple(range(10))
# A run "stalls" when its error fell by less than this factor over its last STALL_WINDOW steps.
STALL_FACTOR, STALL_WINDOW = 1.5, 1000


def rate_interval(count: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval for a rate seen ``count`` times in ``total`` tries.

    The exact binomial interval (Clopper & Pearson 1934): the lower end is the rate at which
    ``P(X >= count) = (1 - confidence)/2``, the upper the rate at which ``P(X <= count)`` is;
    found by bisection on the binomial tail, 0 and 1 at the ends.
    """
    total = check_int("total", total, low=1)
    count = check_int("count", count, low=0, high=total)
    tail = (1 - check_float("confidence", confidence, low=0.0, high=1.0, low_open=True)) / 2

    def at_most(k, rate):
        return sum(math.comb(total, j) * rate**j * (1 - rate) ** (total - j) for j in range(k + 1))

    def solve(function):  # function(rate) increases from below 0 to above 0 on [0, 1]
        low, high = 0.0, 1.0
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if function(middle) < 0 else (low, middle)
        return (low + high) / 2

    lower = 0.0 if count == 0 else solve(lambda q: (1 - at_most(count - 1, q)) - tail)
    upper = 1.0 if count == total else solve(lambda q: tail - at_most(count, q))
    return lower, upper


def sampling_on_tangent(problem, r: int) -> float:
    """How well the seen entries pin the target down: the smallest singular value of P_Omega
    restricted to the tangent space of the rank-r matrices at M*.

    The tangent space ``T = {U A^T + B V^T}`` (U, V: the target's top-r singular vectors) holds
    every small change of a rank-r matrix near M*; with an orthonormal basis of T (dimension
    ``r(2d - r)``) as columns, keep the rows of the seen entries and take the smallest singular
    value. 0 means a rank-r change the seen entries cannot see; near it, gradient descent moves
    slowly along that direction, because the loss barely changes there (the local condition of
    completion, Candès & Recht 2009, Sec. 4).
    """
    target, mask = problem.target, problem.mask
    d = target.shape[0]
    u, _, vh = torch.linalg.svd(target)
    left, right = u[:, :r].contiguous(), vh[:r].T.contiguous()
    eye = torch.eye(d, dtype=target.dtype)
    columns = [torch.kron(left[:, k : k + 1], eye) for k in range(r)]  # vec(u_k e_i^T), row-major
    columns += [torch.kron(eye, right[:, k : k + 1]) for k in range(r)]  # vec(e_i v_k^T)
    spanning = torch.cat(columns, dim=1)  # d^2 x 2rd, rank r(2d - r)
    basis = torch.linalg.svd(spanning, full_matrices=False)[0][:, : r * (2 * d - r)]
    return float(torch.linalg.svdvals(basis[mask.reshape(-1)])[-1])


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


@small_work()
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
        sampling = sampling_on_tangent(problem, r)
    return runs, angle, sampling


def _fall(history) -> float:
    """By what factor the error fell over the last ``STALL_WINDOW`` steps of a run."""
    errors = history.recovery_error
    return errors[-1 - min(STALL_WINDOW, len(errors) - 1)] / errors[-1]


@functools.lru_cache(maxsize=4)
def _rank_r_run(p, d, r, eps, steps, seed):
    """The compressed network at r_hat = r, alpha = 5: no spare direction."""
    settings = _completion_settings(p, r, d, r, eps, steps)
    problem = make_problem("mc", d=d, r=r, p=p, seed=seed)
    return _train_pair(problem, settings, 5.0, which=("compressed",))["compressed"]


@small_work()
def completion_over_seeds(p: float = 0.3, r_hat: int = 4, seeds=COMPLETION_SEEDS, d: int = 30,
                          r: int = 2, eps: float = 0.01, steps: int = 8000) -> dict:  # fmt: skip
    """The completion race over ``seeds`` (target, mask, original init), both networks at
    alpha = 1 and 5 (alpha on the original network's end layers is the control).

    Prints per seed the starting angle, :func:`sampling_on_tangent` and the iterations to 1e-4
    (``-``: not within ``steps``); in how many seeds the compressed network at alpha = 5 reaches
    1e-4 first; the range of the ratio original (alpha = 1) / compressed (alpha = 5), and the
    same at equal alpha = 5. For each seed where the compressed network (alpha = 5) misses
    1e-4: by what factor its error fell over the last ``STALL_WINDOW`` steps (below
    ``STALL_FACTOR``: stalled, else still descending), its singular value r + 1, whether the
    original (alpha = 5) reached 1e-4, and the compressed network at r_hat = r on the same seed;
    then how many seeds missed and stalled, each with its 95% interval (:func:`rate_interval`).
    """
    p = check_float("p", p, low=0.0, high=1.0, low_open=True)
    names = ("original, alpha=1", "compressed, alpha=1", "original, alpha=5",
             "compressed, alpha=5")  # fmt: skip
    rows = []
    for seed in seeds:
        runs, angle, sampling = _completion_seed(p, r_hat, d, r, float(eps), steps, int(seed))
        row = {"seed": int(seed), "angle": angle, "sampling": sampling}
        row |= {name: runs[name].iterations_to(TARGET_ERROR) for name in names}
        last = runs["compressed, alpha=5"]
        row["final_compressed_5"] = last.final_error
        row["fall_compressed_5"] = _fall(last)
        row["third_singular_value"] = float(last.singular_value_matrix()[-1][r])
        rows.append(row)
    print(f"completion d={d}, r={r}, p={p:g}, r_hat={r_hat}, at most {steps:,} steps, "
          f"{len(rows)} seeds: iterations to 1e-4")  # fmt: skip
    print(f"{'seed':>4} {'angle':>6} {'pin':>5} | " + " | ".join(f"{n:>19}" for n in names))
    for row in rows:
        cells = " | ".join(f"{'-' if row[n] is None else f'{row[n]:,}':>19}" for n in names)
        print(f"{row['seed']:>4} {row['angle']:>5.0f}° {row['sampling']:>5.3f} | {cells}")
    print(f"pin: smallest singular value of the seen entries on the rank-{r} tangent space at M*")

    def ratios(slow, fast):
        return [row[slow] / row[fast] for row in rows if row[slow] and row[fast]]

    unequal = ratios("original, alpha=1", "compressed, alpha=5")
    equal = ratios("original, alpha=5", "compressed, alpha=5")
    missed = [row for row in rows if row["compressed, alpha=5"] is None]
    wins = sum(1 for row in rows if _first(row["compressed, alpha=5"], row["original, alpha=1"]))
    print(
        f"compressed (alpha=5) reaches 1e-4 before the original (alpha=1) in {wins} of "
        f"{len(rows)} seeds; ratio {format_range(unequal)} where both do"
    )
    print(f"at equal alpha = 5: ratio original / compressed {format_range(equal)}")
    for row in missed:
        row["stalled"] = row["fall_compressed_5"] < STALL_FACTOR
        narrow = _rank_r_run(p, d, r, float(eps), steps, row["seed"]).iterations_to(TARGET_ERROR)
        row["rank_r_iterations"] = narrow
        state = "stalled" if row["stalled"] else "still descending"
        original = row["original, alpha=5"]
        print(f"seed {row['seed']}: compressed (alpha=5) at {row['final_compressed_5']:.1e} after "
              f"{steps:,} steps, {state} (error fell {row['fall_compressed_5']:.2f}x over the "
              f"last {STALL_WINDOW:,}); singular value {r + 1} of its W_L:1 "
              f"{row['third_singular_value']:.1e}; original (alpha=5) "
              f"{'-' if original is None else f'{original:,}'}; r_hat = r = {r}: "
              f"{'-' if narrow is None else f'{narrow:,}'}")  # fmt: skip
    stalls = [row for row in missed if row["stalled"]]
    for label, chosen in (("misses 1e-4", missed), ("stalls", stalls)):
        low, high = rate_interval(len(chosen), len(rows))
        print(f"compressed (alpha=5) {label} in {len(chosen)} of {len(rows)} seeds (95% interval "
              f"for the rate {100 * low:.2g}% to {100 * high:.2g}%)")  # fmt: skip
    return {"rows": rows, "wins": wins, "ratios": unequal, "equal_alpha_ratios": equal,
            "stalled_seeds": [row["seed"] for row in stalls],
            "missed_seeds": [row["seed"] for row in missed]}  # fmt: skip


# Capstone 05: the student's run agrees with the course's when the recovery error at every
# checkpoint is within this relative gap (they differ by rounding, about 1e-12).
RUN_AGREEMENT = 1e-6


@small_work()
def _student_checkpoints(train_fn, problem, checkpoints, r_hat, depth, eps, eta, alpha):
    """The student's recovery error after each number of steps in ``checkpoints`` (one fresh
    run per checkpoint: the function returns only the final matrix)."""
    target, mask = problem.target, problem.mask
    observed = torch.where(mask, target, torch.zeros_like(target))
    norm = float(torch.linalg.matrix_norm(target))
    errors = []
    for steps in checkpoints:
        recovered = train_fn(observed.clone(), mask.clone(), problem.p, r_hat, depth, eps, eta,
                             alpha, steps)  # fmt: skip
        recovered = torch.as_tensor(recovered, dtype=target.dtype)
        if tuple(recovered.shape) != tuple(target.shape):
            raise ValueError(
                f"returned shape {tuple(recovered.shape)}, expected {tuple(target.shape)}"
            )
        errors.append(float(torch.linalg.matrix_norm(recovered - target)) / norm)
    return errors


@small_work()
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
    ``train_compressed_completion(observed, mask, p, r_hat, depth=3, eps, eta, alpha, steps)``
    runs to every ``every``-th step of the course's compressed run (``eta = 5 / |Omega|`` on the
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
    eta = COMPLETION_LR / problem.n_observed

    def work():
        return _student_checkpoints(
            train_compressed_completion, problem, checkpoints, r_hat, 3, eps, eta, alpha
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
    ax.set_title(f"completion d={d}, r={r}, p={p:g}: r_hat={r_hat}, η=5/|Ω|", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    show_figure(figure)

    print(f"p={p:g}: |Omega| = {problem.n_observed} entries seen; eta = 5 / |Omega| = {eta:.4g} on "
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
