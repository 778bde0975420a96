"""The data model of lesson 08 and the exact risk of a fitted model (Chang et al. 2021, Sec. 3).

Chang, Li, Oymak, Thrampoulidis, AAAI 2021, the linear model of their Sec. 3 and Fig. 1:

* features ``x ~ N(0, Sigma)`` in ``R^D`` (``D = 1000``), ``Sigma = I`` or the equicorrelated
  ``Sigma = (1 - rho) I + rho 1 1^T`` (:func:`feature_covariance`, one common factor;
  :func:`sample_features` draws them);
* labels ``y = x^T beta + noise z`` with ``beta_i ∝ i^(-0.75)``, ``||beta|| = 2``
  (:func:`power_law_beta`): the features are sorted from the most to the least informative.

The risk of any fitted ``beta_hat`` is exact, from the population covariance
(:func:`population_risk`), with no test set; for least squares on the first ``p`` isotropic
features its average over training sets has a closed form (:func:`expected_least_squares_risk`).
The experiment that fits, prunes and averages is :mod:`lowdim_course.literature.pruning`.
"""

from __future__ import annotations

import torch

from ..validation import check_float, check_int

# Lesson 08's setting: n = 100 samples, noise 1, D = 1000 features, beta_i ∝ i^-0.75, ||beta|| = 2.
N_SAMPLES = 100
NOISE = 1.0
NUM_FEATURES = 1000
EXPONENT = 0.75
BETA_NORM = 2.0


def power_law_beta(
    num_features: int = NUM_FEATURES, exponent: float = EXPONENT, norm: float = BETA_NORM
) -> torch.Tensor:
    """``beta_i = c i^(-exponent)``, ``i = 1..num_features``, scaled so that ``||beta|| = norm``."""
    num_features = check_int("num_features", num_features, low=1)
    exponent = check_float("exponent", exponent, low=0.0)
    norm = check_float("norm", norm, low=0.0, low_open=True)
    beta = torch.arange(1, num_features + 1, dtype=torch.float64) ** (-exponent)
    return beta * (norm / torch.linalg.vector_norm(beta))


def feature_covariance(num_features: int, correlation: float = 0.0) -> torch.Tensor:
    """``Sigma = (1 - rho) I + rho 1 1^T``: unit variances, every pair correlated by ``rho``.

    Equicorrelated features share one common factor, ``x = sqrt(1 - rho) z + sqrt(rho) w 1``
    with ``z ~ N(0, I)`` and a scalar ``w ~ N(0, 1)``: the D x D matrix is never needed to
    sample or to evaluate a risk (:func:`population_risk` takes ``correlation`` directly).
    """
    num_features = check_int("num_features", num_features, low=1)
    correlation = check_float("correlation", correlation, low=0.0, high=1.0, high_open=True)
    eye = torch.eye(num_features, dtype=torch.float64)
    return (1 - correlation) * eye + correlation


def sample_features(
    num_samples: int,
    num_features: int,
    correlation: float,
    generator: torch.Generator,
    batch: int | None = None,
) -> torch.Tensor:
    """Rows ``x ~ N(0, (1 - rho) I + rho 1 1^T)``: ``sqrt(1 - rho) z + sqrt(rho) w 1``.

    Shape ``(num_samples, num_features)``, or ``(batch, num_samples, num_features)``.
    """
    x, _ = features_and_factor(num_samples, num_features, correlation, generator, batch)
    return x


def features_and_factor(
    num_samples: int,
    num_features: int,
    correlation: float,
    generator: torch.Generator,
    batch: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sample_features` and the common factor ``w`` of each sample (shape without the
    last dimension): the features not drawn depend on the drawn ones through ``w`` only."""
    num_samples = check_int("num_samples", num_samples, low=1)
    num_features = check_int("num_features", num_features, low=1)
    correlation = check_float("correlation", correlation, low=0.0, high=1.0, high_open=True)
    lead = (num_samples,) if batch is None else (check_int("batch", batch, low=1), num_samples)
    z = torch.randn(*lead, num_features, generator=generator, dtype=torch.float64)
    w = torch.randn(*lead, generator=generator, dtype=torch.float64)
    return (1 - correlation) ** 0.5 * z + correlation**0.5 * w[..., None], w


def population_risk(
    beta_hat: torch.Tensor, beta: torch.Tensor, noise: float, correlation: float = 0.0
) -> torch.Tensor:
    """``noise^2 + (beta_hat - beta)^T Sigma (beta_hat - beta)``: the exact test error.

    ``Sigma = (1 - rho) I + rho 1 1^T`` gives ``e^T Sigma e = (1 - rho) ||e||^2 + rho (1^T e)^2``
    with ``e = beta_hat - beta``. ``beta_hat`` may be shorter than ``beta`` (a model on the first
    p features: zeros beyond) and may carry leading batch dimensions.
    """
    noise = check_float("noise", noise, low=0.0)
    correlation = check_float("correlation", correlation, low=0.0, high=1.0, high_open=True)
    if beta_hat.shape[-1] > beta.shape[-1]:
        raise ValueError(
            f"beta_hat must have at most {beta.shape[-1]} entries, got {beta_hat.shape[-1]}"
        )
    seen = beta_hat.shape[-1]
    head = beta_hat - beta[:seen]
    tail = beta[seen:]
    squares = (head**2).sum(-1) + (tail**2).sum()
    total = head.sum(-1) - tail.sum()
    return noise**2 + (1 - correlation) * squares + correlation * total**2


def expected_least_squares_risk(
    p: int, n: int = N_SAMPLES, noise: float = NOISE, beta: torch.Tensor | None = None
) -> float:
    """Closed-form average risk of ``X_p^+ y`` over Gaussian training sets, isotropic features.

    With ``b = ||beta_{1:p}||^2`` and ``t = ||beta_{p+1:}||^2`` (the unseen features act as
    noise of variance ``v = noise^2 + t``): ``v (1 + p / (n - p - 1))`` for ``p <= n - 2`` and
    ``b (1 - n/p) + v (1 + n / (p - n - 1))`` for ``p >= n + 2`` (Hastie, Montanari, Rosset,
    Tibshirani 2022, Sec. 2-3; Belkin, Hsu, Xu 2020). Infinite for ``|p - n| <= 1``.
    """
    p = check_int("p", p, low=1)
    n = check_int("n", n, low=2)
    noise = check_float("noise", noise, low=0.0)
    beta = power_law_beta() if beta is None else beta
    if p > beta.shape[-1]:
        raise ValueError(f"p must be an integer in [1, {beta.shape[-1]}], got {p}")
    seen = float((beta[:p] ** 2).sum())
    unseen = float((beta[p:] ** 2).sum())
    variance = noise**2 + unseen
    if abs(p - n) <= 1:
        return float("inf")
    if p < n:
        return variance * (1 + p / (n - p - 1))
    return seen * (1 - n / p) + variance * (1 + n / (p - n - 1))
