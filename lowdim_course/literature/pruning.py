"""Train large, then prune: the double descent of a pruned least-squares model.

Chang, Li, Oymak, Thrampoulidis. *Provable Benefits of Overparameterization in Model
Compression: From Double Descent to Pruning Neural Networks.* AAAI 2021 (Sec. 3, the linear
model, and its Fig. 1). This module runs their experiment; the data model and the exact risk
are in :mod:`lowdim_course.literature.pruning_model`, the fits in
:mod:`lowdim_course.literature.pruning_fits` (both re-exported here):

* features ``x ~ N(0, Sigma)`` in ``R^D`` (``D = 1000``), ``Sigma = I`` or the equicorrelated
  ``Sigma = (1 - rho) I + rho 1 1^T`` (one common factor); labels ``y = x^T beta + noise z``;
* ``beta_i ∝ i^(-0.75)`` normalized to ``||beta|| = 2`` (``power_law_beta``): the features
  are sorted from the most to the least informative;
* ``n = 100`` training samples. The *large model* fits min-norm least squares on the first
  ``p`` features, ``beta_hat = X_p^+ y`` (``min_norm_least_squares``); *pruning* keeps its
  ``s`` largest entries by magnitude (``magnitude_prune``); *retraining* refits ordinary
  least squares on the kept support. The *oracle small model* fits least squares on the ``s``
  truly best features (the first ``s``).

The risk of any fitted ``beta_hat`` is computed exactly from the population covariance,
``risk = noise^2 + (beta_hat - beta)^T Sigma (beta_hat - beta)`` (``population_risk``): the
expected squared error on a fresh sample, with no test set. Only the training set is random;
:func:`pruned_risk_curve` averages over ``seeds`` training sets (:func:`training_sets`). For the
un-pruned model with isotropic features the average is known in closed form
(``expected_least_squares_risk``), which the tests use to check the Monte Carlo average.

As ``p`` grows past ``s`` the pruned model's risk first rises to a peak near the interpolation
threshold ``p = n`` and then falls below the oracle's: a double descent of the pruned model.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from ..random_matrices import make_generator
from ..threads import small_work
from ..validation import check_float, check_int, resolve_device
from .pruning_fits import (
    fits_for_every_size,
    magnitude_prune,
    min_norm_least_squares,
    retrain_by_gradient_descent,
    retrain_on_support,
    ridge,
)
from .pruning_model import (
    BETA_NORM,
    EXPONENT,
    N_SAMPLES,
    NOISE,
    NUM_FEATURES,
    expected_least_squares_risk,
    feature_covariance,
    features_and_factor,
    population_risk,
    power_law_beta,
    sample_features,
)

__all__ = [  # the experiment here, and the data model and fits it is made of
    "BETA_NORM",
    "DRAWN",
    "EXPONENT",
    "KEEP",
    "NOISE",
    "NUM_FEATURES",
    "N_SAMPLES",
    "P_GRID",
    "RIDGE_PENALTIES",
    "RiskCurve",
    "cached_risk_curve",
    "expected_least_squares_risk",
    "feature_covariance",
    "magnitude_prune",
    "min_norm_least_squares",
    "population_risk",
    "power_law_beta",
    "pruned_risk_curve",
    "retrain_by_gradient_descent",
    "retrain_on_support",
    "ridge",
    "ridge_oracle",
    "sample_features",
    "training_sets",
]

# Lesson 08 keeps s = 90 of the weights (the rest of its setting is in pruning_model).
KEEP = 90
# Model sizes of the risk curve: around the peak at p = n (p = n itself has infinite mean risk).
P_GRID = (20, 40, 60, 80, 90, 95, 105, 110, 120, 150, 200, 300)
DRAWN = 300
# The ridge oracle's grid of penalties (absolute, on the summed squared error).
RIDGE_PENALTIES = tuple(10.0**k for k in (-2, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3))


@dataclass(frozen=True)
class RiskCurve:
    """Average risks over training sets, one entry per model size ``p``."""

    p: tuple[int, ...]
    pruned: tuple[float, ...]
    large: tuple[float, ...]
    oracle: float
    settings: dict

    def at(self, p: int) -> float:
        """The pruned model's average risk at ``p`` (one of the computed sizes)."""
        if p not in self.p:
            raise ValueError(f"p must be one of the computed sizes {self.p}, got {p}")
        return self.pruned[self.p.index(p)]

    @property
    def peak(self) -> tuple[int, float]:
        """``(p, risk)`` where the pruned risk is largest."""
        index = max(range(len(self.p)), key=self.pruned.__getitem__)
        return self.p[index], self.pruned[index]


def _check_setting(p_values, keep, n, noise, correlation, num_features, seeds):
    n = check_int("n", n, low=2)
    num_features = check_int("num_features", num_features, low=1)
    keep = check_int("keep", keep, low=1, high=num_features)
    noise = check_float("noise", noise, low=0.0)
    correlation = check_float("correlation", correlation, low=0.0, high=1.0, high_open=True)
    seeds = check_int("seeds", seeds, low=1)
    if isinstance(p_values, int):
        p_values = (p_values,)
    p_values = tuple(check_int("p", p, low=1, high=num_features) for p in p_values)
    if not p_values:
        raise ValueError("p must hold at least one model size")
    return p_values, keep, n, noise, correlation, num_features, seeds


def pruned_risk_curve(
    p_values=P_GRID,
    keep: int = KEEP,
    *,
    n: int = N_SAMPLES,
    noise: float = NOISE,
    correlation: float = 0.0,
    retrain: bool = False,
    num_features: int = NUM_FEATURES,
    seeds: int = 100,
    seed: int = 0,
    device: str = "cpu",
) -> RiskCurve:
    """Average population risk of the pruned model (and of the large and oracle models).

    For each of ``seeds`` training sets (drawn from ``seed``): fit ``X_p^+ y`` on the first
    ``p`` features, keep the top ``keep`` entries (``retrain``: refit least squares on them),
    and evaluate :func:`population_risk` exactly. The oracle fits least squares on the first
    ``keep`` features. The same training sets serve every ``p``. Chang et al. 2021, Fig. 1.

    Only the first ``F = max(p_values, keep, DRAWN)`` features are drawn (``DRAWN = 300``, so
    that a curve and a single ``p <= 300`` share their training sets): the others enter the labels
    through their exact joint law given the common factor,
    ``x_rest^T beta_rest = sqrt(1 - rho) ||beta_rest|| xi + sqrt(rho) w 1^T beta_rest``.
    """
    p_values, keep, n, noise, correlation, num_features, seeds = _check_setting(
        p_values, keep, n, noise, correlation, num_features, seeds
    )
    device = resolve_device(device)
    beta = power_law_beta(num_features)
    # Always draw at least DRAWN features: the training sets do not depend on p_values.
    seen = max(max(p_values), keep, DRAWN)
    x, y = _training_sets(beta, n, seen, noise, correlation, seeds, seed)
    x, y, beta = x.to(device), y.to(device), beta.to(device)

    def mean_risk(beta_hat):
        return float(population_risk(beta_hat, beta, noise, correlation).mean())

    pruned, large = [], []
    fits = fits_for_every_size(x, y, p_values)
    for p in p_values:
        fitted = fits[p]
        large.append(mean_risk(fitted))
        kept = magnitude_prune(fitted, keep)
        if retrain and keep < p:
            kept = retrain_on_support(x[..., :p], y, kept != 0)
        pruned.append(mean_risk(kept))
    oracle = mean_risk(min_norm_least_squares(x[..., :keep], y))
    settings = {
        "keep": keep,
        "n": n,
        "noise": noise,
        "correlation": correlation,
        "retrain": bool(retrain),
        "num_features": num_features,
        "seeds": seeds,
        "seed": seed,
    }
    return RiskCurve(tuple(p_values), tuple(pruned), tuple(large), oracle, settings)


def _training_sets(beta, n, seen, noise, correlation, seeds, seed):
    """``seeds`` training sets ``(x, y)``: the first ``seen`` features drawn, the rest of
    ``x^T beta`` drawn from its exact law given the common factor (see ``pruned_risk_curve``)."""
    generator = make_generator(seed)
    x, factor = features_and_factor(n, seen, correlation, generator, seeds)
    rest = beta[seen:]
    rest_term = (1 - correlation) ** 0.5 * torch.linalg.vector_norm(rest) * torch.randn(
        seeds, n, generator=generator, dtype=torch.float64
    ) + correlation**0.5 * factor * rest.sum()
    y = (
        x @ beta[:seen]
        + rest_term
        + noise * torch.randn(seeds, n, generator=generator, dtype=torch.float64)
    )
    return x, y


def training_sets(
    p: int,
    *,
    n: int = N_SAMPLES,
    noise: float = NOISE,
    correlation: float = 0.0,
    num_features: int = NUM_FEATURES,
    seeds: int = 100,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(features, labels, beta)``: the training sets of :func:`pruned_risk_curve`.

    ``features`` ``(seeds, n, p)`` holds the first ``p`` features, ``labels`` ``(seeds, n)``,
    ``beta`` the true coefficients of all ``num_features``; the same ``seed`` and ``seeds`` give
    the very training sets on which :func:`pruned_risk_curve` and :func:`ridge_oracle` average.
    """
    (p,), _, n, noise, correlation, num_features, seeds = _check_setting(
        (p,), 1, n, noise, correlation, num_features, seeds
    )
    beta = power_law_beta(num_features)
    x, y = _training_sets(beta, n, max(p, DRAWN), noise, correlation, seeds, seed)
    return x[..., :p].contiguous(), y, beta


def ridge_oracle(
    keep: int = KEEP,
    *,
    n: int = N_SAMPLES,
    noise: float = NOISE,
    correlation: float = 0.0,
    num_features: int = NUM_FEATURES,
    seeds: int = 100,
    seed: int = 0,
    penalties=RIDGE_PENALTIES,
) -> tuple[float, float]:
    """``(lambda, risk)``: ridge on the ``keep`` truly best features, with the penalty from
    ``penalties`` that gives the lowest average risk over the training sets.

    An oracle twice over: it knows which features matter and how much to shrink. It uses the
    same training sets as :func:`pruned_risk_curve` with the same ``seed`` and ``seeds``.
    """
    _, keep, n, noise, correlation, num_features, seeds = _check_setting(
        (keep,), keep, n, noise, correlation, num_features, seeds
    )
    penalties = tuple(check_float("penalty", lam, low=0.0, low_open=True) for lam in penalties)
    if not penalties:
        raise ValueError("penalties must hold at least one value")
    beta = power_law_beta(num_features)
    x, y = _training_sets(beta, n, max(keep, DRAWN), noise, correlation, seeds, seed)
    risks = {
        lam: float(population_risk(ridge(x[..., :keep], y, lam), beta, noise, correlation).mean())
        for lam in penalties
    }
    best = min(risks, key=risks.get)
    return best, risks[best]


@functools.lru_cache(maxsize=32)
def cached_risk_curve(
    p_values: tuple, keep: int, noise: float, correlation: float, retrain: bool, seeds: int = 100
) -> RiskCurve:
    """:func:`pruned_risk_curve` on one CPU thread, remembered per setting (lesson sliders)."""
    with small_work():
        return pruned_risk_curve(
            p_values, keep, noise=noise, correlation=correlation, retrain=retrain, seeds=seeds
        )
