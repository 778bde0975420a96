"""Where training large and pruning beats the oracles: per-training-set risks, paired verdicts.

Chang, Li, Oymak, Thrampoulidis (AAAI 2021), Sec. 3: fitting min-norm least squares on ``p``
features and pruning it to ``s`` can beat least squares on the ``s`` truly best features in
some regimes. Over a finite number of training sets every risk here is a Monte Carlo average
over the *same* training sets (:func:`lowdim_course.literature.pruning.training_sets`), so
that two models are compared set by set: the verdict on "pruning beats the oracle" is the mean
of the paired difference ``risk_pruned - risk_oracle`` with its standard error
``sd / sqrt(seeds)``, not two means printed side by side.

The oracles (each knows which features are informative):

* **best-s**: least squares on the first ``s`` features;
* **best-k**: least squares on the first ``k <= s`` features, ``k`` chosen to give the lowest
  average risk *on these training sets* (``k = s`` is allowed, so it is never above best-s);
* **ridge-s**: ridge on the first ``s`` features, the penalty chosen the same way from
  :data:`~lowdim_course.literature.pruning.RIDGE_PENALTIES`.
"""

from __future__ import annotations

import torch

from ..validation import check_int
from .pruning import (
    KEEP,
    NOISE,
    RIDGE_PENALTIES,
    magnitude_prune,
    min_norm_least_squares,
    population_risk,
    retrain_on_support,
    ridge,
    training_sets,
)

# Two standard errors of the paired difference: a verdict weaker than this is "within noise".
MARGIN_IN_STANDARD_ERRORS = 2.0


def _sets(p: int, seeds: int, seed: int):
    features, labels, beta = training_sets(p, seeds=seeds, seed=seed)
    return features, labels, beta, min_norm_least_squares(features, labels)


def _risks(weights, beta) -> torch.Tensor:
    return population_risk(weights, beta, NOISE)


def _best_features(features, labels, count: int):
    return min_norm_least_squares(features[..., :count].contiguous(), labels)


def mean_and_error(values: torch.Tensor) -> tuple[float, float]:
    """``(mean, standard error)`` of per-set values: ``sd / sqrt(seeds)`` (0 for one set)."""
    count = values.numel()
    spread = float(values.std()) / count**0.5 if count > 1 else 0.0
    return float(values.mean()), spread


def per_set_risks(
    p: int = 300, keep: int = KEEP, *, seeds: int = 50, seed: int = 0, retrained: bool = True
) -> dict:
    """The exact risk of each model on each of ``seeds`` training sets (isotropic features).

    Returns tensors of length ``seeds`` under ``"pruned"`` (``X_p^+ y`` pruned to ``keep``),
    ``"retrained"`` (least squares refit on the kept support; only if ``retrained``),
    ``"best_s"``, ``"best_k"`` and ``"ridge_s"``, and the oracles' choices ``"k"`` and
    ``"penalty"`` (chosen by the lowest mean over these sets).
    """
    p = check_int("p", p, low=2, high=1000)
    keep = check_int("keep", keep, low=1, high=p)
    seeds = check_int("seeds", seeds, low=1)
    features, labels, beta, fits = _sets(p, seeds, seed)
    kept = magnitude_prune(fits, keep)
    out = {"pruned": _risks(kept, beta)}
    if retrained:
        out["retrained"] = (
            _risks(retrain_on_support(features, labels, kept != 0), beta)
            if keep < p
            else out["pruned"]
        )
    by_k = {k: _risks(_best_features(features, labels, k), beta) for k in range(1, keep + 1)}
    k = min(by_k, key=lambda size: float(by_k[size].mean()))
    chosen = features[..., :keep].contiguous()
    by_penalty = {lam: _risks(ridge(chosen, labels, lam), beta) for lam in RIDGE_PENALTIES}
    penalty = min(by_penalty, key=lambda lam: float(by_penalty[lam].mean()))
    return out | {
        "best_s": by_k[keep],
        "best_k": by_k[k],
        "ridge_s": by_penalty[penalty],
        "k": k,
        "penalty": penalty,
    }


def paired_verdict(first: torch.Tensor, second: torch.Tensor) -> tuple[str, float, float]:
    """``(verdict, mean, standard error)`` of ``first - second`` over the same training sets.

    ``"first"`` when the mean difference is below ``-2`` standard errors (the first model's
    risk is lower), ``"second"`` when above ``+2``, ``"within noise"`` otherwise.
    """
    mean, error = mean_and_error(first - second)
    if mean < -MARGIN_IN_STANDARD_ERRORS * error:
        return "first", mean, error
    if mean > MARGIN_IN_STANDARD_ERRORS * error:
        return "second", mean, error
    return "within noise", mean, error


def pruning_boundary(
    p: int = 300, keeps=tuple(range(60, 72, 2)), *, seeds: int = 50, seed: int = 0
) -> dict:
    """Where, as ``s`` grows, pruning starts to beat the best-s oracle.

    For each ``s`` in ``keeps``, the paired verdict (:func:`paired_verdict`) of pruned against
    best-s on the same ``seeds`` training sets. Returns ``{"rows": {s: (verdict, mean, se)},
    "oracle_wins_up_to": largest s where best-s is lower by 2 se, "pruning_wins_from":
    smallest s from which pruning is lower by 2 se at every larger s of the scan}`` (``None``
    when no such s).
    """
    p = check_int("p", p, low=2, high=1000)
    keeps = tuple(sorted(check_int("keep", s, low=1, high=p) for s in keeps))
    seeds = check_int("seeds", seeds, low=2)
    features, labels, beta, fits = _sets(p, seeds, seed)
    rows = {}
    for keep in keeps:
        pruned = _risks(magnitude_prune(fits, keep), beta)
        oracle = _risks(_best_features(features, labels, keep), beta)
        rows[keep] = paired_verdict(pruned, oracle)
    oracle_wins = [s for s in keeps if rows[s][0] == "second"]
    from_here = None
    for s in reversed(keeps):
        if rows[s][0] != "first":
            break
        from_here = s
    return {
        "rows": rows,
        "oracle_wins_up_to": max(oracle_wins) if oracle_wins else None,
        "pruning_wins_from": from_here,
    }
