"""Lesson 08 demos: train large, then prune (Chang, Li, Oymak, Thrampoulidis, AAAI 2021).

* ``pruning_panel``: the pruned model's risk against the model size p (min-norm least squares
  on the first p features, then keep the top s), the large model and the oracle small model;
  the chosen p marked; sliders for p, s, noise, correlation, retraining;
* ``risk_table``: the lesson's setting (n = 100, s = 90, noise 1) with 200 training sets: the
  risks at p = 80, 105, 150, 300, the peak and the two oracles, next to the closed forms;
* ``regime_table``: at p = 300, how the comparison turns with the number s of kept weights,
  against three oracles (best-s least squares, best-k least squares, ridge on the best s);
* ``retraining_table``: pruned against retrained, with and without correlated features;
* ``retraining_capstone`` and ``kept_spectrum_table`` (in :mod:`lesson08_capstone`): the
  student's ``prune_and_retrain`` (capstone 08) on the lesson's
  training sets at p = 300: the risk after retraining by gradient descent against s, over the
  course's own, next to pruning alone, the least-squares refit and the best-k and ridge oracles.
"""

from __future__ import annotations

from ..literature.pruning import (
    KEEP,
    NOISE,
    P_GRID,
    cached_risk_curve,
    expected_least_squares_risk,
)
from ..literature.pruning_regimes import (
    mean_and_error,
    paired_verdict,
    per_set_risks,
    pruning_boundary,
)
from ..plots import demo_figure, show_figure
from ..threads import small_work
from .lesson08_capstone import (  # noqa: F401 (the lesson imports the capstone from here)
    DEMO_SEEDS,
    _oracles,
    _ridge,
    kept_spectrum_table,
    retraining_capstone,
)

TABLE_SEEDS = 200
BOUNDARY_KEEPS = (60, 62, 64, 66, 68, 70)  # the scan for where pruning starts to beat best-s


def best_k_oracle(keep: int = KEEP) -> tuple[int, float]:
    """``(k, risk)``: least squares on the best k <= keep features, k chosen to minimise the
    closed-form risk (an oracle that knows the features *and* how many to use)."""
    risks = {k: expected_least_squares_risk(k) for k in range(1, keep + 1)}
    k = min(risks, key=risks.get)
    return k, risks[k]


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
          f"{'ridge-s':>11}  pruned - best-s (paired)    retrained - pruned")  # fmt: skip
    for keep in keeps:
        risks = per_set_risks(p, keep, seeds=seeds)
        verdict, mean, error = paired_verdict(risks["pruned"], risks["best_s"])
        _, gain, gain_error = paired_verdict(risks["retrained"], risks["pruned"])
        said = {"first": "pruning wins", "second": "best-s wins"}.get(verdict, "within noise")
        row = {name: mean_and_error(risks[name])[0]
               for name in ("pruned", "retrained", "best_s", "best_k", "ridge_s")}  # fmt: skip
        table[keep] = row | {"k": risks["k"], "verdict": verdict, "difference": (mean, error),
                             "retraining": (gain, gain_error)}  # fmt: skip
        print(f"{keep:>3} {_cell(risks['pruned']):>11} {_cell(risks['retrained']):>11} "
              f"{_cell(risks['best_s']):>11} {_cell(risks['best_k']):>11} (k={risks['k']:>2}) "
              f"{_cell(risks['ridge_s']):>11}  {mean:+.2f}±{error:.2f}: {said:<14}"
              f"{gain:+.2f}±{gain_error:.2f}")  # fmt: skip
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
