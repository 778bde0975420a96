"""Measuring a tail: two estimators of the tail index alpha from samples (lesson 09).

For a law with ``P(|X| > t) ~ t^-alpha`` the index ``alpha`` says how heavy the tail is: moments
of order ``alpha`` and above are infinite. Two ways to read it off samples:

* Hill's estimator (Hill 1975, :func:`hill_estimator`) from the largest order statistics;
* the block-sum estimator for alpha-stable laws of Mohammadi, Mohammadpour, Ogata (Metrika
  2015, :func:`block_tail_estimator`), and its median over several block sizes
  (:func:`stable_tail_index`);
* :func:`network_tail_index`, the procedure of the released code of Barsbey et al. (NeurIPS
  2021; repository ``mbarsbey/sgd_comp_gen``, ``alpha_estimation``) for one weight matrix: centre
  each column by its median, take the median of :func:`stable_tail_index` over 5 random orders of
  the entries, and cap it at 2.

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

_EPS = torch.finfo(torch.float64).eps
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
    y = x.reshape(k2, k1).sum(1).abs()
    # a block that cancels exactly (e.g. the pair +-c that centring by a median of an even count
    # leaves) counts as machine epsilon times the largest |x|: Barsbey et al.'s code adds
    # numpy's spacing(1) inside every log, which on O(1) weights is the same
    y = torch.where(y == 0, _EPS * x.abs().max(), y)
    gap = float(torch.log(y).mean() - torch.log(x.abs()).mean())
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


@small_work()
def network_tail_index(
    weights,
    *,
    permutations: int = 5,
    seed: int = 0,
    centre: bool = True,
    cap: float | None = 2.0,
    estimator=None,
) -> float:
    """The tail index of a weight matrix as Barsbey et al.'s released code measures it.

    ``weights`` is ``rows x columns`` (rows = neurons, as in ``nn.Linear.weight``). Steps:

    1. centre each column by its median over the rows, then all entries by their median
       (medians of an even count are the mean of the two middle values, as ``numpy.median``);
       the estimator is built for *strictly* stable laws, which are centred at 0: an offset
       ``mu`` makes ``log|Y|`` of a block sum grow like ``log(K1 |mu|)``, i.e. read as alpha = 1,
       whatever the tail;
    2. for each of ``permutations`` random orders of the entries (a ``torch.Generator`` seeded
       ``seed``), :func:`stable_tail_index` (or ``estimator``) of the reordered entries, so that
       a block mixes entries of different rows and columns;
    3. the median over the orders, then ``min(median, cap)`` (the code caps at 2, the largest
       index of a stable law; ``cap=None`` returns the median uncapped).

    ``centre=False`` skips step 1 (the entries as they are: what the course measured before,
    to show how much of a reading below 2 is location rather than tail). The block sizes are
    :data:`BLOCK_SIZES` up to ``n // 2`` on the first ``K1 * K2`` entries, plus
    ``floor(sqrt(n))``; the authors' code replaces a size that does not divide ``n`` by the
    largest divisor below it (for the 200 x 10 matrices of lesson 09 all listed sizes divide
    2,000, and only the square-root size differs: 44 on 1,980 entries here, 40 there).
    """
    w = torch.as_tensor(weights)
    if w.ndim != 2 or w.shape[0] < 2:
        raise ValueError(
            f"weights must be a matrix with at least 2 rows, got shape {tuple(w.shape)}"
        )
    x = check_finite_vector("weights", w).reshape(w.shape)
    permutations = check_int("permutations", permutations, low=1)
    if cap is not None and not (isinstance(cap, int | float) and cap > 0):
        raise ValueError(f"cap must be a positive number or None, got {cap!r}")
    if centre:
        x = x - torch.quantile(x, 0.5, dim=0)
        x = x - torch.quantile(x.flatten(), 0.5)
    flat = x.flatten()
    generator = torch.Generator().manual_seed(int(seed))
    estimate = stable_tail_index if estimator is None else estimator
    values = [
        float(estimate(flat[torch.randperm(flat.numel(), generator=generator)].clone()))
        for _ in range(permutations)
    ]
    median = float(torch.quantile(torch.tensor(values, dtype=torch.float64), 0.5))
    return median if cap is None else min(median, float(cap))


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
