"""Lesson 08 demos: train large, then prune (Chang, Li, Oymak, Thrampoulidis, AAAI 2021).

* ``pruning_panel``: the pruned model's risk against the model size p (min-norm least squares
  on the first p features, then keep the top s), the large model and the oracle small model;
  the chosen p marked; sliders for p, s, noise, correlation, retraining;
* ``risk_table``: the lesson's setting (n = 100, s = 90, noise 1) with 200 training sets: the
  risks at p = 80, 105, 150, 300, the peak and the two oracles, next to the closed forms;
* ``regime_table``: at p = 300, how the comparison turns with the number s of kept weights,
  against three oracles (best-s least squares, best-k least squares, ridge on the best s);
* ``retraining_table``: pruned against retrained, with and without correlated features;
* ``retraining_capstone``: the student's ``prune_and_retrain`` (capstone 08) on the lesson's
  training sets at p = 300: the risk after retraining by gradient descent against s, over the
  course's own, next to pruning alone, the least-squares refit and the best-k and ridge oracles.
"""

from __future__ import annotations

import functools

import torch

from ..exercises.capstone import run_student_code
from ..literature.pruning import (
    KEEP,
    NOISE,
    P_GRID,
    cached_risk_curve,
    expected_least_squares_risk,
    min_norm_least_squares,
    population_risk,
    retrain_by_gradient_descent,
    ridge_oracle,
    training_sets,
)
from ..literature.pruning_regimes import (
    mean_and_error,
    paired_verdict,
    per_set_risks,
    pruning_boundary,
)
from ..plots import demo_figure, show_figure
from ..threads import small_work

DEMO_SEEDS = 50
TABLE_SEEDS = 200
BOUNDARY_KEEPS = (60, 62, 64, 66, 68, 70)  # the scan for where pruning starts to beat best-s


def best_k_oracle(keep: int = KEEP) -> tuple[int, float]:
    """``(k, risk)``: least squares on the best k <= keep features, k chosen to minimise the
    closed-form risk (an oracle that knows the features *and* how many to use)."""
    risks = {k: expected_least_squares_risk(k) for k in range(1, keep + 1)}
    k = min(risks, key=risks.get)
    return k, risks[k]


@functools.lru_cache(maxsize=16)
def _oracles(keep: int, seeds: int) -> dict:
    """Per-set risks of the best-s, best-k and ridge oracles (the lesson's sets, seed 0)."""
    with small_work():
        return per_set_risks(keep, keep, seeds=seeds, retrained=False)


@functools.lru_cache(maxsize=16)
def _ridge(keep: int, seeds: int) -> tuple[float, float]:
    with small_work():
        return ridge_oracle(keep, seeds=seeds)


def _grid(keep: int) -> tuple:
    return tuple(sorted(set(P_GRID) | {keep}))


@small_work()
def pruning_panel(
    p: int = 150,
    keep: int = KEEP,
    noise: float = NOISE,
    correlation: float = 0.0,
    retrain: bool = False,
) -> dict:
    """Risk of the pruned model against p (50 training sets), the chosen p marked.

    The curve is cached per (s, noise, correlation, retrain): moving p only adds one point.
    """
    keep, noise, correlation = int(keep), float(noise), float(correlation)
    curve = cached_risk_curve(_grid(keep), keep, noise, correlation, bool(retrain), DEMO_SEEDS)
    here = cached_risk_curve((int(p),), keep, noise, correlation, bool(retrain), DEMO_SEEDS)
    risk = here.pruned[0]
    figure, (ax,) = demo_figure(1, 7, 3.8)
    label = "pruned, then retrained" if retrain else "pruned to s"
    ax.semilogy(curve.p, curve.pruned, "o-", color="tab:red", ms=3, label=label)
    ax.semilogy(curve.p, curve.large, "--", color="0.5", lw=1, label="large model (p features)")
    ax.axhline(curve.oracle, color="tab:green", lw=1, label=f"oracle: best {keep} features")
    ax.axvline(100, color="0.8", lw=0.8)
    ax.plot([p], [risk], "ko", ms=6)
    ax.set(xlabel="features p of the large model", ylabel="test risk (exact, mean of 50 sets)")
    ax.set_title(
        f"n=100, s={keep}, noise={noise:.2g}, correlation={correlation:.2g}"
        + (", retrained" if retrain else "")
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8)
    show_figure(figure)
    peak_p, peak = curve.peak
    summary = {
        "p": int(p),
        "risk": risk,
        "large_risk": here.large[0],
        "oracle": curve.oracle,
        "peak_p": peak_p,
        "peak": peak,
        "beats_oracle": risk < curve.oracle,
    }
    print(
        f"p = {p}: pruned risk {risk:.3g}, large model {here.large[0]:.3g}, "
        f"oracle (best {keep} features) {curve.oracle:.3g}"
    )
    print(
        f"peak of the pruned curve: {peak:.3g} at p = {peak_p}; "
        f"train large then prune beats the oracle here: {summary['beats_oracle']}"
    )
    return summary


@small_work()
def risk_table(seeds: int = TABLE_SEEDS) -> dict:
    """The lesson's setting with ``seeds`` training sets, next to the closed forms."""
    curve = cached_risk_curve(_grid(KEEP), KEEP, NOISE, 0.0, False, seeds)
    rows = {p: curve.at(p) for p in (80, 105, 150, 300)}
    rows["best-90 oracle"] = curve.oracle
    exact = {
        80: expected_least_squares_risk(80),
        "best-90 oracle": expected_least_squares_risk(KEEP),
    }
    k, best = best_k_oracle(KEEP)
    oracles = _oracles(KEEP, seeds)
    rows["best-k oracle"] = mean_and_error(oracles["best_k"])[0]
    exact["best-k oracle"] = best
    print(f"{'':>15} {'average of ' + str(seeds):>14} {'closed form':>12}")
    for key, value in rows.items():
        name = f"pruned, p={key}" if isinstance(key, int) else key
        closed = f"{exact[key]:.3g}" if key in exact else "-"
        print(f"{name:>15} {value:>14.3g} {closed:>12}"
              + (f"   (k = {oracles['k']} chosen on these sets, k = {k} by the closed form)"
                 if key == "best-k oracle" else ""))  # fmt: skip
    penalty, ridge_risk = _ridge(KEEP, seeds)
    print(f"{'ridge oracle':>15} {ridge_risk:>14.3g} {'-':>12}   (the {KEEP} best features, "
          f"lambda = {penalty:.3g} chosen on these training sets)")  # fmt: skip
    peak_p, peak = curve.peak
    print(f"peak of the average {peak:.3g} at p = {peak_p}")
    return {"risks": rows, "closed_form": exact, "peak_p": peak_p, "peak": peak,
            "best_k": k, "best_k_risk": best, "best_k_sets": oracles["k"], "ridge_risk": ridge_risk,
            "ridge_penalty": penalty}  # fmt: skip


def _cell(values) -> str:
    mean, error = mean_and_error(values)
    return f"{mean:.2f}±{error:.2f}"


@small_work()
def regime_table(
    p: int = 300, keeps=(10, 30, 60, 90), seeds: int = DEMO_SEEDS, boundary=BOUNDARY_KEEPS
) -> dict:
    """At model size ``p``, for each number ``keep`` of kept weights: pruned, retrained and the
    three oracles (best-s, best-k with k chosen on these sets, ridge on the best s), every one a
    mean over the same ``seeds`` training sets ± its standard error; the verdict of pruned
    against best-s is paired, set by set (:func:`paired_verdict`). Then the scan over
    ``boundary`` values of s for where pruning starts to beat best-s (:func:`pruning_boundary`).
    """
    table = {}
    print(f"p = {p}, n = 100, mean ± standard error over the same {seeds} training sets")
    print(f"{'s':>3} {'pruned':>11} {'retrained':>11} {'best-s':>11} {'best-k':>16} "
          f"{'ridge-s':>11}  pruned vs best-s (paired)")  # fmt: skip
    for keep in keeps:
        risks = per_set_risks(p, keep, seeds=seeds)
        verdict, mean, error = paired_verdict(risks["pruned"], risks["best_s"])
        said = {"first": "pruning wins", "second": "best-s wins"}.get(verdict, "within noise")
        row = {name: mean_and_error(risks[name])[0]
               for name in ("pruned", "retrained", "best_s", "best_k", "ridge_s")}  # fmt: skip
        table[keep] = row | {"k": risks["k"], "verdict": verdict, "difference": (mean, error)}
        print(f"{keep:>3} {_cell(risks['pruned']):>11} {_cell(risks['retrained']):>11} "
              f"{_cell(risks['best_s']):>11} {_cell(risks['best_k']):>11} (k={risks['k']:>2}) "
              f"{_cell(risks['ridge_s']):>11}  {mean:+.2f}±{error:.2f}: {said}")  # fmt: skip
    scan = pruning_boundary(p, boundary, seeds=seeds)
    print(f"scan s = {', '.join(str(s) for s in scan['rows'])} (pruned minus best-s, paired): "
          + ", ".join(f"{m:+.2f}±{e:.2f}" for _, m, e in scan["rows"].values()))  # fmt: skip
    print(f"best-s wins (by 2 standard errors) up to s = {scan['oracle_wins_up_to']}, "
          f"pruning wins from s = {scan['pruning_wins_from']} on")  # fmt: skip
    return {"rows": table, "boundary": scan}


@small_work()
def retraining_table(p: int = 300, correlations=(0.0, 0.7)) -> dict:
    """Pruned against retrained on the kept support, at ``p`` and each correlation."""
    table = {}
    print(f"p = {p}, s = {KEEP}: {'correlation':>11} {'pruned':>8} {'retrained':>10} {'oracle':>8}")
    for rho in correlations:
        plain = cached_risk_curve((p,), KEEP, NOISE, rho, False, DEMO_SEEDS)
        again = cached_risk_curve((p,), KEEP, NOISE, rho, True, DEMO_SEEDS)
        table[rho] = {
            "pruned": plain.pruned[0],
            "retrained": again.pruned[0],
            "oracle": plain.oracle,
        }
        print(
            f"{'':>16}{rho:>11.2g} {plain.pruned[0]:>8.3g} {again.pruned[0]:>10.3g} "
            f"{plain.oracle:>8.3g}"
        )
    return table


# Capstone 08: retraining by gradient descent, 100 steps of 0.2 (below 2 / lambda_max, about 0.5
# for 90 kept Gaussian features and 100 samples), on the lesson's training sets at p = 300.
CAPSTONE_P, CAPSTONE_KEEPS = 300, (10, 30, 60, 90)
RETRAIN_LR, RETRAIN_STEPS = 0.2, 100
STEP_COUNTS = (10, 100, 1000)
EARLY = STEP_COUNTS[0]  # the weights are compared here: a wrong start fades by 100 steps
AGREEMENT = 1e-6  # largest relative difference between two risks that still counts as equal


@functools.lru_cache(maxsize=4)
@small_work()
def _large_models(p: int, seeds: int):
    """The lesson's training sets and their min-norm fits on the first p features."""
    features, labels, beta = training_sets(p, seeds=seeds)
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
def _kept_spectrum(p: int, keep: int, seeds: int) -> tuple[list[float], list[float]]:
    """Smallest and largest eigenvalue of ``X_S^T X_S / n`` on each set's kept features ``S``.

    Gradient descent on the kept weights moves along an eigenvector at the rate ``lr *
    eigenvalue`` per step: the smallest eigenvalue says how slowly the last directions are
    fitted, the largest bounds the stable step (``lr < 2 / largest``).
    """
    features, _, _, fits = _large_models(p, seeds)
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
        print(f"your weights at s = {top} after {EARLY} steps against the course's: largest "
              f"relative distance over the {seeds} sets {distance:.2g}")  # fmt: skip
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
