"""Train large, then prune: the double descent of a pruned least-squares model.

Chang, Li, Oymak, Thrampoulidis. *Provable Benefits of Overparameterization in Model
Compression: From Double Descent to Pruning Neural Networks.* AAAI 2021 (Sec. 3, the linear
model, and its Fig. 1). The data model:

* features ``x ~ N(0, Sigma)`` in ``R^D`` (``D = 1000``), ``Sigma = I`` or the equicorrelated
  ``Sigma = (1 - rho) I + rho 1 1^T`` (one common factor); labels ``y = x^T beta + noise z``;
* ``beta_i ∝ i^(-0.75)`` normalized to ``||beta|| = 2`` (:func:`power_law_beta`): the features
  are sorted from the most to the least informative;
* ``n = 100`` training samples. The *large model* fits min-norm least squares on the first
  ``p`` features, ``beta_hat = X_p^+ y`` (:func:`min_norm_least_squares`); *pruning* keeps its
  ``s`` largest entries by magnitude (:func:`magnitude_prune`); *retraining* refits ordinary
  least squares on the kept support. The *oracle small model* fits least squares on the ``s``
  truly best features (the first ``s``).

The risk of any fitted ``beta_hat`` is computed exactly from the population covariance,
``risk = noise^2 + (beta_hat - beta)^T Sigma (beta_hat - beta)`` (:func:`population_risk`): the
expected squared error on a fresh sample, with no test set. Only the training set is random;
:func:`pruned_risk_curve` averages over ``seeds`` training sets. For the un-pruned model with
isotropic features the average is known in closed form (:func:`expected_least_squares_risk`),
which the tests use to check the Monte Carlo average.

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

# Lesson 08's setting: n = 100 samples, keep s = 90 weights, noise 1, D = 1000 features.
N_SAMPLES = 100
KEEP = 90
NOISE = 1.0
NUM_FEATURES = 1000
EXPONENT = 0.75
BETA_NORM = 2.0
# Model sizes of the risk curve: around the peak at p = n (p = n itself has infinite mean risk).
P_GRID = (20, 40, 60, 80, 90, 95, 105, 110, 120, 150, 200, 300)
DRAWN = 300
# The ridge oracle's grid of penalties (absolute, on the summed squared error).
RIDGE_PENALTIES = tuple(10.0**k for k in (-2, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5, 3))


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
    x, _ = _sample_with_factor(num_samples, num_features, correlation, generator, batch)
    return x


def _sample_with_factor(num_samples, num_features, correlation, generator, batch):
    """The features and the common factor ``w`` (one per sample)."""
    num_samples = check_int("num_samples", num_samples, low=1)
    num_features = check_int("num_features", num_features, low=1)
    correlation = check_float("correlation", correlation, low=0.0, high=1.0, high_open=True)
    lead = (num_samples,) if batch is None else (check_int("batch", batch, low=1), num_samples)
    z = torch.randn(*lead, num_features, generator=generator, dtype=torch.float64)
    w = torch.randn(*lead, generator=generator, dtype=torch.float64)
    return (1 - correlation) ** 0.5 * z + correlation**0.5 * w[..., None], w


def min_norm_least_squares(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``beta_hat = X^+ y``: least squares for ``p < n``, the min-norm interpolator for ``p > n``.

    Batched over leading dimensions: ``features`` is ``(..., n, p)``, ``labels`` ``(..., n)``.
    Solves ``(X^T X) b = X^T y`` when ``p < n``, ``X b = y`` when ``p = n`` and
    ``b = X^T (X X^T)^{-1} y`` when ``p > n`` (Chang et al. 2021, Sec. 3).
    """
    n, p = features.shape[-2], features.shape[-1]
    if labels.shape != features.shape[:-1]:
        raise ValueError(
            f"labels must have shape {tuple(features.shape[:-1])}, got {tuple(labels.shape)}"
        )
    y = labels[..., None]
    if p < n:
        xt = features.transpose(-1, -2)
        return torch.linalg.solve(xt @ features, xt @ y)[..., 0]
    if p == n:
        return torch.linalg.solve(features, y)[..., 0]
    return (
        features.transpose(-1, -2) @ torch.linalg.solve(features @ features.transpose(-1, -2), y)
    )[..., 0]


def magnitude_prune(weights: torch.Tensor, keep: int) -> torch.Tensor:
    """Keep the ``keep`` entries of largest magnitude (per row for a batch), zero the rest.

    Ties are broken by ``torch.topk``; ``keep >= len(weights)`` keeps everything.
    """
    keep = check_int("keep", keep, low=0)
    if keep >= weights.shape[-1]:
        return weights.clone()
    index = torch.topk(weights.abs(), keep, dim=-1).indices
    mask = torch.zeros_like(weights, dtype=torch.bool).scatter_(-1, index, True)
    return torch.where(mask, weights, torch.zeros_like(weights))


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
    fits = _fits_for_every_size(x, y, p_values)
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
    x, factor = _sample_with_factor(n, seen, correlation, generator, seeds)
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


def ridge(features: torch.Tensor, labels: torch.Tensor, penalty: float) -> torch.Tensor:
    """``beta_hat = (X^T X + lambda I)^{-1} X^T y``: least squares shrunk towards zero.

    Batched like :func:`min_norm_least_squares`; ``penalty`` (lambda) > 0 weighs ``||b||^2``
    against the summed squared error ``||X b - y||^2``.
    """
    penalty = check_float("penalty", penalty, low=0.0, low_open=True)
    xt = features.transpose(-1, -2)
    eye = torch.eye(features.shape[-1], dtype=features.dtype, device=features.device)
    return torch.linalg.solve(xt @ features + penalty * eye, xt @ labels[..., None])[..., 0]


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


def _fits_for_every_size(x, y, p_values) -> dict:
    """``{p: X_p^+ y}`` for every p, sharing work between sizes (same result as one by one).

    Below ``n`` the normal equations of every size are leading blocks of one ``X^T X``; above
    ``n`` the Gram matrix ``X_p X_p^T`` grows by the new columns only.
    """
    n = x.shape[-2]
    fits = {}
    small = sorted(p for p in set(p_values) if p < n)
    if small:
        head = x[..., : small[-1]]
        gram, moment = head.transpose(-1, -2) @ head, head.transpose(-1, -2) @ y[..., None]
        for p in small:
            fits[p] = torch.linalg.solve(gram[..., :p, :p], moment[..., :p, :])[..., 0]
    if n in p_values:
        fits[n] = min_norm_least_squares(x[..., :n], y)
    gram, done = None, 0
    for p in sorted(p for p in set(p_values) if p > n):
        block = x[..., done:p]
        update = block @ block.transpose(-1, -2)
        gram = update if gram is None else gram + update
        done = p
        fits[p] = (x[..., :p].transpose(-1, -2) @ torch.linalg.solve(gram, y[..., None]))[..., 0]
    return fits


def retrain_on_support(
    features: torch.Tensor, labels: torch.Tensor, support: torch.Tensor
) -> torch.Tensor:
    """Least squares refit on the kept features only (zeros elsewhere); batched like the rest.

    ``support`` is a boolean mask ``(..., p)`` with the same number of kept entries per row.
    """
    count = (
        int(support[(0,) * (support.ndim - 1)].sum()) if support.ndim > 1 else int(support.sum())
    )
    if not bool((support.sum(-1) == count).all()):
        raise ValueError("support must keep the same number of features in every row")
    index = torch.sort(
        torch.nonzero(support.reshape(-1, support.shape[-1]))[:, 1].reshape(-1, count), dim=-1
    ).values.reshape(*support.shape[:-1], count)
    chosen = torch.gather(features, -1, index[..., None, :].expand(*features.shape[:-1], count))
    refit = min_norm_least_squares(chosen, labels)
    out = torch.zeros(support.shape, dtype=features.dtype, device=features.device)
    return out.scatter_(-1, index, refit)


def retrain_by_gradient_descent(
    features: torch.Tensor,
    labels: torch.Tensor,
    weights: torch.Tensor,
    keep: int,
    lr: float,
    steps: int,
) -> torch.Tensor:
    """Prune ``weights`` to its ``keep`` largest magnitudes, then retrain the kept ones by GD.

    The mask ``m`` of kept entries is chosen once, before retraining, and never changes. From
    ``w_0 = m * weights`` (:func:`magnitude_prune`), ``steps`` steps of gradient descent on the
    mean squared error ``L(w) = (1/2n) ||X w - y||^2`` move the kept weights only:

        w_{t+1} = w_t - lr * m * (1/n) X^T (X w_t - y),

    so the pruned weights stay exactly 0. This is the retraining of Han, Pool, Tran, Dally
    (NeurIPS 2015): continue training the surviving weights from their pruned values. When
    ``keep < n`` and ``lr < 2 / lambda_max(X_S^T X_S / n)`` it converges, as ``steps`` grows, to
    least squares on the kept features (:func:`retrain_on_support`, the retraining of Chang et
    al. 2021, Sec. 3); a finite ``steps`` stops on the way there. Batched over leading
    dimensions like :func:`min_norm_least_squares`: ``features`` ``(..., n, p)``, ``labels``
    ``(..., n)``, ``weights`` ``(..., p)``.
    """
    p = features.shape[-1]
    keep = check_int("keep", keep, low=1, high=p)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    steps = check_int("steps", steps, low=0)
    if labels.shape != features.shape[:-1]:
        raise ValueError(
            f"labels must have shape {tuple(features.shape[:-1])}, got {tuple(labels.shape)}"
        )
    expected = (*features.shape[:-2], p)
    if tuple(weights.shape) != expected:
        raise ValueError(f"weights must have shape {expected}, got {tuple(weights.shape)}")
    # the same entries as magnitude_prune keeps; a kept weight that is exactly 0 is trained too
    index = torch.topk(weights.abs(), keep, dim=-1).indices
    mask = torch.zeros_like(weights).scatter_(-1, index, 1.0)
    current = mask * weights
    n = features.shape[-2]
    transposed = features.transpose(-1, -2)
    for _ in range(steps):
        residual = (features @ current[..., None])[..., 0] - labels
        gradient = (transposed @ residual[..., None])[..., 0] / n
        current = current - lr * mask * gradient
    return current


@functools.lru_cache(maxsize=32)
def cached_risk_curve(
    p_values: tuple, keep: int, noise: float, correlation: float, retrain: bool, seeds: int = 100
) -> RiskCurve:
    """:func:`pruned_risk_curve` on one CPU thread, remembered per setting (lesson sliders)."""
    with small_work():
        return pruned_risk_curve(
            p_values, keep, noise=noise, correlation=correlation, retrain=retrain, seeds=seeds
        )
