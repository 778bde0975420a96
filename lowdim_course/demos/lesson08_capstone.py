"""Lesson 08's capstone and self-check demos (split from :mod:`lesson08`, which re-exports them).

* ``retraining_capstone``: the student's ``prune_and_retrain`` (capstone 08) on the lesson's
  training sets at p = 300: the risk after retraining by gradient descent against s, over the
  course's own, next to pruning alone, the least-squares refit and the best-k and ridge oracles,
  and the student's weights against the course's after 10 steps;
* ``kept_spectrum_table``: the eigenvalues of ``X_S^T X_S / n`` on the kept features for
  n = 100 and 200 (the self-check's data);
* ``_oracles`` and ``_ridge``: the oracles' risks on the lesson's sets, cached (shared with
  :mod:`lesson08`'s tables).
"""

from __future__ import annotations

import functools

import torch

from ..exercises.capstone import run_student_code
from ..literature.pruning import (
    KEEP,
    NOISE,
    cached_risk_curve,
    min_norm_least_squares,
    population_risk,
    retrain_by_gradient_descent,
    ridge_oracle,
    training_sets,
)
from ..literature.pruning_regimes import mean_and_error, per_set_risks
from ..plots import demo_figure, show_figure
from ..threads import small_work

DEMO_SEEDS = 50


@functools.lru_cache(maxsize=16)
def _oracles(keep: int, seeds: int) -> dict:
    """Per-set risks of the best-s, best-k and ridge oracles (the lesson's sets, seed 0)."""
    with small_work():
        return per_set_risks(keep, keep, seeds=seeds, retrained=False)


@functools.lru_cache(maxsize=16)
def _ridge(keep: int, seeds: int) -> tuple[float, float]:
    with small_work():
        return ridge_oracle(keep, seeds=seeds)


# Capstone 08: retraining by gradient descent, 100 steps of 0.2 (below 2 / lambda_max, about 0.5
# for 90 kept Gaussian features and 100 samples), on the lesson's training sets at p = 300.
CAPSTONE_P, CAPSTONE_KEEPS = 300, (10, 30, 60, 90)
RETRAIN_LR, RETRAIN_STEPS = 0.2, 100
STEP_COUNTS = (10, 100, 1000)
EARLY = STEP_COUNTS[0]  # the weights are compared here: a wrong start fades by 100 steps
AGREEMENT = 1e-6  # largest relative difference between two risks that still counts as equal


@functools.lru_cache(maxsize=4)
@small_work()
def _large_models(p: int, seeds: int, n: int = 100):
    """The lesson's training sets (``n`` samples) and their min-norm fits on the first p
    features."""
    features, labels, beta = training_sets(p, seeds=seeds, n=n)
    return features, labels, beta, min_norm_least_squares(features, labels)


def _mean_risk(weights, beta) -> float:
    return float(population_risk(weights, beta, NOISE).mean())


def _course_weights(p, keep, lr, steps, seeds) -> torch.Tensor:
    features, labels, _, fits = _large_models(p, seeds)
    return retrain_by_gradient_descent(features, labels, fits, keep, lr, steps)


@small_work()
def _course_retrained(p, keeps, lr, steps, seeds) -> dict:
    beta = _large_models(p, seeds)[2]
    return {keep: _mean_risk(_course_weights(p, keep, lr, steps, seeds), beta) for keep in keeps}


@small_work()
def _student_weights(student, p, keep, lr, steps, seeds) -> torch.Tensor:
    """The student's function on every training set, one at a time: ``(seeds, p)`` weights."""
    features, labels, _, fits = _large_models(p, seeds)
    retrained = []
    for x, y, w in zip(features, labels, fits, strict=True):
        out = torch.as_tensor(student(x.clone(), y.clone(), w.clone(), keep, lr, steps))
        if tuple(out.shape) != (p,):
            raise ValueError(f"returned shape {tuple(out.shape)}, expected ({p},)")
        retrained.append(out.detach().to("cpu", torch.float64))
    return torch.stack(retrained)


def _weight_distance(yours: torch.Tensor, course: torch.Tensor) -> float:
    """Largest ``||w_yours - w_course|| / ||w_course||`` over the training sets."""
    gap = torch.linalg.vector_norm(yours - course, dim=-1)
    return float((gap / torch.linalg.vector_norm(course, dim=-1)).max())


@small_work()
def _kept_spectrum(p: int, keep: int, seeds: int, n: int = 100) -> tuple[list, list]:
    """Smallest and largest eigenvalue of ``X_S^T X_S / n`` on each set's kept features ``S``.

    Gradient descent on the kept weights moves along an eigenvector at the rate ``lr *
    eigenvalue`` per step: the smallest eigenvalue says how slowly the last directions are
    fitted, the largest bounds the stable step (``lr < 2 / largest``).
    """
    features, _, _, fits = _large_models(p, seeds, n)
    low, high = [], []
    for x, w in zip(features, fits, strict=True):
        kept = x[:, torch.topk(w.abs(), keep).indices]
        values = torch.linalg.eigvalsh(kept.T @ kept / x.shape[0])
        low.append(float(values[0]))
        high.append(float(values[-1]))
    return low, high


@small_work()
def retraining_capstone(
    prune_and_retrain,
    lr: float = RETRAIN_LR,
    steps: int = RETRAIN_STEPS,
    p: int = CAPSTONE_P,
    keeps=CAPSTONE_KEEPS,
    seeds: int = DEMO_SEEDS,
) -> dict:
    """Risk after pruning to s and retraining by gradient descent, the student's and the course's.

    On the lesson's ``seeds`` training sets (n = 100, isotropic features), the large model is
    min-norm least squares on ``p`` features; for each s in ``keeps`` the student's
    ``prune_and_retrain(X, y, weights, s, lr, steps)`` runs on every set (through
    ``run_student_code``: a stub or a bug prints one line and the figure shows the course's
    curves only). Drawn against s: pruning alone, the course's retraining by gradient descent
    (:func:`retrain_by_gradient_descent`), the student's, the least-squares refit on the kept
    features (the limit of many steps), the best-k oracle and ridge on the best s (means over
    the same training sets, like every curve here).
    Then the course's retraining at s = 90 after 10, 100 and 1000 steps.
    """
    keeps = tuple(int(k) for k in keeps)
    course = _course_retrained(p, keeps, lr, steps, seeds)
    top = max(keeps)

    def students_run():
        beta = _large_models(p, seeds)[2]
        risks = {k: _mean_risk(_student_weights(prune_and_retrain, p, k, lr, steps, seeds), beta)
                 for k in keeps}  # fmt: skip
        weights = {count: _student_weights(prune_and_retrain, p, top, lr, count, seeds)
                   for count in STEP_COUNTS}  # fmt: skip
        return risks, {count: _mean_risk(w, beta) for count, w in weights.items()}, weights[EARLY]

    student = run_student_code(students_run, name="prune_and_retrain")
    yours, your_steps, your_weights = student.value if student.ok else (None, None, None)
    course_weights = _course_weights(p, top, lr, EARLY, seeds)
    pruned = {k: cached_risk_curve((p,), k, NOISE, 0.0, False, seeds).pruned[0] for k in keeps}
    refit = {k: cached_risk_curve((p,), k, NOISE, 0.0, True, seeds).pruned[0] for k in keeps}
    best_k = {k: mean_and_error(_oracles(k, seeds)["best_k"])[0] for k in keeps}
    ridge_s = {k: _ridge(k, seeds)[1] for k in keeps}

    figure, (ax, right) = demo_figure(2, 12, 3.8)
    kept = course_weights != 0
    right.plot(course_weights[kept], course_weights[kept], "-", color="k", lw=1)
    if student.ok:
        right.plot(course_weights.flatten(), your_weights.flatten(), "x", color="tab:red", ms=3,
                   label="yours (all p weights of every set)")  # fmt: skip
        right.legend(fontsize=8)
    right.set(xlabel=f"course's weight, s = {top}, after {EARLY} steps", ylabel="your weight",
              title="weight by weight: on the line where they agree")  # fmt: skip
    right.grid(True, alpha=0.3)
    ax.plot(keeps, [pruned[k] for k in keeps], "o--", color="0.5", label="pruned, no retraining")
    ax.plot(keeps, [refit[k] for k in keeps], "s-", color="tab:purple", ms=4,
            label="least squares on the kept features (steps → ∞)")  # fmt: skip
    ax.plot(keeps, [course[k] for k in keeps], "-", color="k", lw=2,
            label=f"course: {steps} steps of lr {lr:g}")  # fmt: skip
    if student.ok:
        ax.plot(keeps, [yours[k] for k in keeps], "x", color="tab:red", ms=10, mew=2,
                label="your prune_and_retrain")  # fmt: skip
    ax.plot(keeps, [best_k[k] for k in keeps], ":", color="tab:green", label="best-k oracle")
    ax.plot(keeps, [ridge_s[k] for k in keeps], "-.", color="tab:green", label="ridge on best s")
    ax.set(xlabel="kept weights s", ylabel=f"test risk (exact, mean of {seeds} sets)")
    ax.set_title(f"train large (p={p}), prune to s, retrain by gradient descent")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    show_figure(figure)

    columns = {"pruned": pruned}
    if student.ok:
        columns["yours"] = yours
    columns |= {"course": course, "refit": refit, "best-k": best_k, "ridge-s": ridge_s}
    print(f"p = {p}, n = 100, {seeds} training sets; retraining: {steps} steps of lr {lr:g}")
    print(f"{'s':>4}" + "".join(f"{name:>9}" for name in columns))
    for k in keeps:
        print(f"{k:>4}" + "".join(f"{values[k]:>9.2f}" for values in columns.values()))
    agree = None
    if student.ok:
        gaps = {k: abs(yours[k] - course[k]) / course[k] for k in keeps}
        worst = max(gaps, key=gaps.get)
        agree = gaps[worst] <= AGREEMENT
        if agree:
            print(f"your retrained risks agree with the course's at every s (to {AGREEMENT:g})")
        else:
            print(f"your retrained risks differ from the course's: at s = {worst} yours "
                  f"{yours[worst]:.4g}, the course's {course[worst]:.4g}")  # fmt: skip
    by_steps = {count: _course_retrained(p, (top,), lr, count, seeds)[top] for count in STEP_COUNTS}
    print(f"the course's retraining at s = {top} after "
          + ", ".join(f"{c}" for c in STEP_COUNTS) + " steps: "
          + ", ".join(f"{by_steps[c]:.3g}" for c in STEP_COUNTS)
          + f"; least squares on the kept features (steps → ∞): {refit[top]:.3g}")  # fmt: skip
    distance = None
    if student.ok:
        print(f"yours at s = {top} after the same steps: "
              + ", ".join(f"{your_steps[c]:.3g}" for c in STEP_COUNTS))  # fmt: skip
        distance = _weight_distance(your_weights, course_weights)
        shown = f"{distance:.2g}" if distance > AGREEMENT else f"below {AGREEMENT:g}"
        print(f"your weights at s = {top} after {EARLY} steps against the course's: largest "
              f"relative distance over the {seeds} sets {shown}")  # fmt: skip
    low, high = _kept_spectrum(p, top, seeds)
    print(
        f"at s = {top}, eigenvalues of X_S^T X_S / n over the {seeds} sets: smallest "
        f"{min(low):.2g} to {max(low):.2g}, largest {min(high):.2g} to {max(high):.2g}"
    )
    return {
        "course": course,
        "student": yours,
        "student_by_steps": your_steps,
        "weight_distance": distance,
        "smallest_eigenvalues": low,
        "largest_eigenvalues": high,
        "message": student.message,
        "agree": agree,
        "pruned": pruned,
        "refit": refit,
        "best_k": best_k,
        "ridge_s": ridge_s,
        "by_steps": by_steps,
    }


@small_work()
def kept_spectrum_table(samples=(100, 200), p: int = CAPSTONE_P, keep: int = KEEP,
                        seeds: int = DEMO_SEEDS) -> dict:  # fmt: skip
    """For each training-set size ``n``: the range over ``seeds`` sets of the smallest and
    largest eigenvalue of ``X_S^T X_S / n`` on the ``keep`` kept features (the self-check's
    data; it prints no risk, the question asks the student to predict it)."""
    table = {}
    for n in samples:
        low, high = _kept_spectrum(p, keep, seeds, int(n))
        table[n] = {"smallest": (min(low), max(low)), "largest": (min(high), max(high))}
        print(f"n = {n}, p = {p}, s = {keep}: eigenvalues of X_S^T X_S / n over {seeds} sets: "
              f"smallest {min(low):.2g} to {max(low):.2g}, largest {min(high):.2g} to "
              f"{max(high):.2g}")  # fmt: skip
    return table
