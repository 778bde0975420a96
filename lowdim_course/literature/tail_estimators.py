"""Measuring a tail: two estimators of the tail index alpha from samples (lesson 09).

For a law with ``P(|X| > t) ~ t^-alpha`` the index ``alpha`` says how heavy the tail is: moments
of order ``alpha`` and above are infinite. Two ways to read it off samples:

* Hill's estimator (Hill 1975, :func:`hill_estimator`) from the largest order statistics;
* the block-sum estimator for alpha-stable laws of Mohammadi, Mohammadpour, Ogata (Metrika
  2015, :func:`block_tail_estimator`), and its median over several block sizes
  (:func:`stable_tail_index`), which is what the released code of Barsbey et al. (NeurIPS
  2021; repository ``mbarsbey/sgd_comp_gen``, function ``est_alpha_one``) reports.

The experiments these estimators measure live in :mod:`lowdim_course.literature.heavy_tails`.
"""

from __future__ import annotations

import math

import torch

from ..threads import small_work
from ..validation import check_int

# Hill's estimator uses the top 2.5% of the order statistics by default (see ``default_k``).
TAIL_FRACTION = 0.025
# Block sizes K1 over which :func:`stable_tail_index` takes the median (those <= n/2), plus
# floor(sqrt(n)): the list in the released code of Barsbey et al. (``est_alpha_one``).
BLOCK_SIZES = (2, 5, 10, 20, 50, 100, 500, 1000)

_INTS = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def hill_estimator(samples, k: int | None = None) -> float:
    """Hill's estimate of the tail index alpha from the ``k`` largest ``|x|`` (Hill 1975).

    With ``|x|_(1) >= |x|_(2) >= ...`` the order statistics of the absolute values,

        1 / alpha_hat = (1/k) sum_{i=1}^{k} log(|x|_(i) / |x|_(k+1)).

    For a Pareto tail ``P(|X| > t) = t^-alpha`` the terms are Exp(alpha) variables, so the
    estimate is consistent as ``k -> infinity`` with ``k / n -> 0``. It reads only the largest
    ``k`` samples, so a light-tailed body inside them pulls the estimate toward what the body
    looks like (about 5-6 for Gaussian-like samples at the default ``k``), not toward the far
    tail. (Barsbey et al. report the block estimator, :func:`stable_tail_index`; their code
    computes Hill's only as one of several alternatives.) ``k`` must be in [1, n-1]; the
    default is ``default_k(n)`` (2.5% of the samples, at least 1).
    """
    x = check_finite_vector("samples", samples).abs()
    n = x.numel()
    if n < 2:
        raise ValueError(f"samples must hold at least 2 numbers, got {n}")
    k = default_k(n) if k is None else check_int("k", k, low=1, high=n - 1)
    top = torch.topk(x, k + 1).values
    if top[k] <= 0:
        raise ValueError(
            f"the {k + 1} largest |samples| include zero: take a smaller k (got k={k})"
        )
    return float(1.0 / torch.log(top[:k] / top[k]).mean())


def default_k(n: int) -> int:
    """The number of order statistics Hill's estimator uses by default: ``max(1, n // 40)``."""
    n = check_int("n", n, low=2)
    return max(1, min(n - 1, int(n * TAIL_FRACTION)))


def block_tail_estimator(samples, block_size: int) -> float:
    """The block-sum estimate of an alpha-stable index (Mohammadi, Mohammadpour, Ogata 2015).

    Mohammadi, Mohammadpour, Ogata, "On estimating the tail index and the spectral measure of
    multivariate alpha-stable distributions", Metrika 78 (2015). With ``K1 = block_size``, the
    first ``n = K1 * K2`` samples (``K2 = len(samples) // K1``) are split into ``K2``
    consecutive blocks and ``Y_i`` is the sum of block ``i``:

        1 / alpha_hat = (1 / log K1) * ( (1/K2) sum_i log|Y_i| - (1/n) sum_j log|X_j| ).

    Why: for i.i.d. strictly alpha-stable ``X``, a sum of ``K1`` copies has the law of
    ``K1^(1/alpha) X``, so ``E log|Y| - E log|X| = log(K1) / alpha``. For samples with finite
    variance the block sums are nearly Gaussian instead, ``|Y| ~ sqrt(K1) |X|``, and the
    estimate tends to 2: it cannot report an index above 2. For laws far from stable (e.g. no
    mass near 0) the block sums can be *smaller* than the samples on a log scale; the value is
    then negative, and is returned as it is, as in the authors' code. The samples must be
    independent in the order given (a block should not hold correlated values); samples beyond
    ``K1 * K2`` are not used. ``block_size`` must be in [2, len(samples) // 2].
    """
    x = check_finite_vector("samples", samples)
    n = x.numel()
    if n < 4:
        raise ValueError(f"samples must hold at least 4 numbers (two blocks of 2), got {n}")
    k1 = check_int("block_size", block_size, low=2, high=n // 2)
    k2 = n // k1
    x = x[: k1 * k2]
    if bool((x == 0).any()):
        raise ValueError("samples must be nonzero: the estimator takes log|x|")
    y = x.reshape(k2, k1).sum(1)
    if bool((y == 0).any()):
        raise ValueError(f"a block of {k1} samples sums to exactly 0: take another block_size")
    gap = float(torch.log(y.abs()).mean() - torch.log(x.abs()).mean())
    return math.log(k1) / gap if gap != 0 else math.inf


@small_work()
def stable_tail_index(samples, block_sizes=BLOCK_SIZES) -> float:
    """Median of :func:`block_tail_estimator` over several block sizes, as Barsbey et al. did.

    The block sizes are those of ``block_sizes`` that are at most ``n // 2``, plus
    ``floor(sqrt(n))``. This follows the released code of Barsbey et al. (2021), which
    takes this median and then reports ``min(median, 2)``; here the median is returned
    uncapped, so that an estimate slightly above 2 (finite variance) stays visible.
    """
    x = check_finite_vector("samples", samples)
    n = x.numel()
    if n < 4:
        raise ValueError(f"samples must hold at least 4 numbers (two blocks of 2), got {n}")
    try:
        sizes = [check_int("block_sizes", k, low=2) for k in block_sizes]
    except TypeError:
        raise ValueError(
            f"block_sizes must be a sequence of integers, got {block_sizes!r}"
        ) from None
    chosen = sorted({k for k in sizes if k <= n // 2} | {max(2, math.isqrt(n))})
    estimates = torch.tensor([block_tail_estimator(x, k) for k in chosen], dtype=torch.float64)
    return float(torch.quantile(estimates, 0.5))


def check_finite_vector(name: str, values) -> torch.Tensor:
    """``values`` as a flat float64 CPU tensor of real, finite numbers (ValueError otherwise)."""
    try:
        x = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be an array of numbers ({exc})") from None
    if x.is_complex() or not (x.is_floating_point() or x.dtype in _INTS):
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    x = x.detach().to("cpu", torch.float64).flatten()
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} must be finite: it holds NaN or infinity")
    return x
