"""Heavy-tailed SGD iterates make networks compressible (Barsbey et al., NeurIPS 2021).

Barsbey, Sefidgaran, Erdogdu, Richard, Simsekli, "Heavy Tails in SGD and Compressibility of
Overparametrized Neural Networks" (NeurIPS 2021). Three pieces, each with a small experiment here:

1. A larger step-size / batch-size ratio gives SGD iterates with heavier tails (Barsbey et al.,
   after Gurbuzbalaban, Simsekli, Zhu, ICML 2021). On linear regression with Gaussian
   data the update

       x_{k+1} = x_k - (eta / b) sum_{i in batch} a_i (a_i^T x_k - y_i)

   multiplies the error by random matrices ``A = I - (eta/b) sum a_i a_i^T``; when these
   sometimes expand, the stationary law has a power-law tail ``P(|x| > t) ~ t^-alpha``.
   :func:`kesten_tail_index` computes that ``alpha`` exactly (the root of
   ``E ||A e_1||^alpha = 1``), :func:`sgd_iterates` runs many independent chains at once.
2. Two estimators of ``alpha`` from samples: Hill's (:func:`hill_estimator`, Hill 1975) and the
   block-sum estimator for alpha-stable laws of Mohammadi, Mohammadpour, Ogata (Metrika 2015)
   (:func:`block_tail_estimator`, :func:`stable_tail_index`), which is the one the released code
   of Barsbey et al. uses (repository ``mbarsbey/sgd_comp_gen``, function ``est_alpha_one``).
3. Heavy-tailed weights are compressible (Barsbey et al.'s theory): among n i.i.d. symmetric
   alpha-stable samples with alpha < 2 (infinite variance), the fraction that can be set to zero
   at a fixed relative l2 error tends to 1 as n grows, but stays fixed for Gaussian (alpha = 2)
   weights. :func:`stable_samples` draws them (Chambers, Mallows, Stuck 1976) and
   :func:`prunable_fraction` measures the fraction; :func:`magnitude_prune`,
   :func:`singular_value_prune` and :func:`node_prune` are the paper's three pruning schemes
   applied to one weight matrix, e.g. of the small networks of :func:`train_two_layer_networks`.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from ..random_matrices import make_generator
from ..threads import small_work
from ..validation import check_float, check_int, check_matrix, resolve_device

# Hill's estimator uses the top 2.5% of the order statistics by default (see ``default_k``).
TAIL_FRACTION = 0.025
# An SGD iterate beyond this size counts as diverged (the stationary law has no such values).
_DIVERGED = 1e30


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
    x = _finite_vector("samples", samples).abs()
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


# Block sizes K1 over which :func:`stable_tail_index` takes the median (those <= n/2), plus
# floor(sqrt(n)): the list in the released code of Barsbey et al. (``est_alpha_one``).
BLOCK_SIZES = (2, 5, 10, 20, 50, 100, 500, 1000)


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
    x = _finite_vector("samples", samples)
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
    x = _finite_vector("samples", samples)
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
def kesten_log_moment(alpha: float, lr: float, batch_size: int = 1, *, d: int = 10) -> float:
    """``h(alpha) = log E ||A e_1||^alpha`` with ``A = I - (lr/b) sum_{i<=b} a_i a_i^T``.

    Gurbuzbalaban, Simsekli, Zhu (ICML 2021) show that for Gaussian data the stationary law
    of the SGD error has tail index ``alpha`` solving ``h(alpha) = 0`` (a Kesten-type
    condition). Because the law of ``A`` does not change under rotations, the general
    ``lim (1/k) log E ||A_k ... A_1 e||^alpha`` equals ``log E ||A e_1||^alpha`` for any unit
    vector. The expectation reduces to two independent chi-square variables: with ``c = lr/b``,
    ``S = sum_i (a_i)_1^2 ~ chi2_b`` and ``R ~ chi2_(d-1)`` (the other coordinates of
    ``sum_i (a_i)_1 a_i`` have law ``N(0, S I_(d-1))``),

        ||A e_1||^2 = (1 - c S)^2 + c^2 S R.

    The two-dimensional integral over ``sqrt(S)`` and ``sqrt(R)`` (chi densities) is computed by
    composite Gauss-Legendre quadrature (see :func:`kesten_tail_index` for its accuracy).
    """
    alpha = check_float("alpha", alpha, low=0.0, low_open=True)
    log_norm_sq, log_weight = _kesten_grid(lr, batch_size, d, max(alpha, 2.0))
    return float(torch.logsumexp(0.5 * alpha * log_norm_sq + log_weight, 0))


@small_work()
def kesten_tail_index(
    lr: float, batch_size: int = 1, *, d: int = 10, alpha_max: float = 100.0
) -> float:
    """The exact stationary tail index of SGD on the lesson's linear regression.

    The positive root of ``h(alpha) = log E ||(I - (lr/b) sum_{i<=b} a_i a_i^T) e_1||^alpha = 0``
    with ``a_i ~ N(0, I_d)`` (Gurbuzbalaban, Simsekli, Zhu, ICML 2021; see
    :func:`kesten_log_moment`). ``h`` is convex with ``h(0) = 0``; the chain has a stationary
    law when ``h'(0) = E log ||A e_1|| < 0`` (else ValueError), and then ``alpha`` is where
    ``h`` crosses zero again, found by bisection to 1e-10. Returns ``math.inf`` when
    ``h(alpha_max) < 0``: every moment up to ``alpha_max`` is finite.

    Method and accuracy: ``h`` is a 2-D integral over ``u = sqrt(S)`` (chi law, b degrees of
    freedom) and ``v = sqrt(R)`` (chi, d-1), on ``[0, sqrt(2 alpha_max + b) + 16] x
    [0, sqrt(alpha_max + d) + 16]`` in panels of width <= 1 (a panel edge at the kink
    ``u = 1/sqrt(c)``) with 16 Gauss-Legendre nodes each. Doubling the nodes or widening the
    box changes the root by less than 1e-9 at the settings of lesson 09; at ``alpha = 2`` the
    moment has the closed form ``1 - 2 lr + lr^2 (d + b + 1) / b`` and the quadrature matches it
    to a relative 1e-12 or better; for d = 1 an independent adaptive quadrature (scipy) gives
    the same root to 1e-6 (both in tests/test_heavy_tails.py).
    """
    alpha_max = check_float("alpha_max", alpha_max, low=1.0, high=400.0)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    log_norm_sq, log_weight = _kesten_grid(lr, batch_size, d, alpha_max)

    def h(alpha):
        return float(torch.logsumexp(0.5 * alpha * log_norm_sq + log_weight, 0))

    slope = float((0.5 * log_norm_sq * log_weight.exp()).sum())  # h'(0) = E log ||A e_1||
    if slope >= 0:
        raise ValueError(
            f"SGD has no stationary law at lr={lr:g}, batch_size={batch_size}, d={d}: "
            f"E log ||A e_1|| = {slope:.3g} >= 0, the error grows; take a smaller lr"
        )
    low, high = 0.0, 1.0
    while h(high) < 0:
        if high >= alpha_max:
            return math.inf
        low, high = high, min(2 * high, alpha_max)
    while high - low > 1e-10 * max(1.0, high):
        middle = 0.5 * (low + high)
        if h(middle) < 0:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def expansion_probability(lr: float, batch_size: int = 1, *, d: int = 10) -> float:
    """``P(||A e_1|| > 1)``: the chance that one SGD step stretches the error along ``e_1``.

    From ``||A e_1||^2 - 1 = c S (c (S + R) - 2)`` (notation of :func:`kesten_log_moment`), a
    step expands exactly when ``(lr/b) (S + R) > 2``, and ``S + R ~ chi2_(b + d - 1)``:

        P = P(chi2_(b + d - 1) > 2 b / lr) = Q((b + d - 1) / 2, b / lr),

    with ``Q`` the regularized upper incomplete gamma function.
    """
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    d = check_int("d", d, low=1)
    shape = torch.tensor((batch_size + d - 1) / 2, dtype=torch.float64)
    return float(torch.special.gammaincc(shape, torch.tensor(batch_size / lr, dtype=torch.float64)))


_PANEL_NODES = 16


def _panel_rule(upper: float, breaks=()) -> tuple[torch.Tensor, torch.Tensor]:
    """Composite Gauss-Legendre nodes and weights on [0, upper], panels of width <= 1."""
    nodes, weights = np.polynomial.legendre.leggauss(_PANEL_NODES)
    edges = sorted({0.0, upper, *(b for b in breaks if 0.0 < b < upper)})
    all_nodes, all_weights = [], []
    for start, stop in itertools.pairwise(edges):
        count = max(1, math.ceil(stop - start))
        for left, right in itertools.pairwise(np.linspace(start, stop, count + 1)):
            half = 0.5 * (right - left)
            all_nodes.append(half * nodes + 0.5 * (left + right))
            all_weights.append(half * weights)
    return (
        torch.from_numpy(np.concatenate(all_nodes)),
        torch.from_numpy(np.concatenate(all_weights)),
    )


def _log_chi_density(x: torch.Tensor, k: int) -> torch.Tensor:
    """log of the chi density with k degrees of freedom (the law of the norm of N(0, I_k))."""
    return (k - 1) * torch.log(x) - 0.5 * x * x - (0.5 * k - 1) * math.log(2) - math.lgamma(0.5 * k)


def _kesten_grid(lr, batch_size, d, alpha_max) -> tuple[torch.Tensor, torch.Tensor]:
    """log ||A e_1||^2 and log(weight * density) on the grid of :func:`kesten_log_moment`."""
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    d = check_int("d", d, low=1)
    c = lr / batch_size
    u, wu = _panel_rule(math.sqrt(2 * alpha_max + batch_size) + 16, (1 / math.sqrt(c),))
    log_wu = torch.log(wu) + _log_chi_density(u, batch_size)
    s = u * u
    if d == 1:
        return torch.log((1 - c * s) ** 2), log_wu
    v, wv = _panel_rule(math.sqrt(alpha_max + d) + 16)
    log_wv = torch.log(wv) + _log_chi_density(v, d - 1)
    norm_sq = (1 - c * s[:, None]) ** 2 + c * c * s[:, None] * (v * v)[None, :]
    return torch.log(norm_sq).flatten(), (log_wu[:, None] + log_wv[None, :]).flatten()


@small_work()
def sgd_iterates(
    lr: float,
    batch_size: int = 1,
    *,
    d: int = 10,
    chains: int = 1000,
    steps: int = 500,
    noise: float = 1.0,
    seed: int = 0,
    device="cpu",
) -> torch.Tensor:
    """Final errors ``x_T - x*`` of ``chains`` independent SGD runs on linear regression.

    Data are drawn fresh at every step (the online setting of Gurbuzbalaban et al. 2021, which
    Barsbey et al. build on): ``a ~ N(0, I_d)``, ``y = a^T x* + noise * N(0, 1)`` with ``x*``
    drawn once from N(0, I_d); every chain starts at 0 and takes ``steps`` steps of size ``lr`` on
    ``(1/2b) sum_batch (a^T x - y)^2``. Returns a ``chains x d`` float64 tensor on the CPU.
    The same seed gives the same numbers on every device (draws happen on the CPU).
    """
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    d = check_int("d", d, low=1)
    chains = check_int("chains", chains, low=1)
    steps = check_int("steps", steps, low=0)
    noise = check_float("noise", noise, low=0.0)
    device = resolve_device(device)
    generator = make_generator(seed)
    optimum = torch.randn(d, generator=generator, dtype=torch.float64)
    x = torch.zeros(chains, d, dtype=torch.float64, device=device)
    target = optimum.to(device)
    step = lr / batch_size
    for step_index in range(steps):
        a = torch.randn(chains, batch_size, d, generator=generator, dtype=torch.float64)
        e = noise * torch.randn(chains, batch_size, generator=generator, dtype=torch.float64)
        a, e = a.to(device), e.to(device)
        residual = torch.einsum("cbd,cd->cb", a, x - target) - e
        x = x - step * torch.einsum("cb,cbd->cd", residual, a)
        last = step_index == steps - 1
        if (step_index % 50 == 0 or last) and not bool(x.abs().max() < _DIVERGED):
            raise ValueError(
                f"SGD diverged at lr={lr:g}, batch_size={batch_size}: take a smaller lr "
                "(on this problem lr / batch_size must stay below about 0.2)"
            )
    return (x - target).cpu()


def sgd_tail_index(lr: float, batch_size: int = 1, **kwargs) -> float:
    """Hill's tail index of all coordinates of :func:`sgd_iterates` (``chains * d`` samples)."""
    return hill_estimator(sgd_iterates(lr, batch_size, **kwargs).flatten())


def stable_samples(alpha: float, n: int, seed: int = 0, scale: float = 1.0) -> torch.Tensor:
    """``n`` i.i.d. symmetric alpha-stable samples (Chambers, Mallows, Stuck 1976).

    With ``V ~ U(-pi/2, pi/2)`` and ``W ~ Exp(1)`` independent,

        X = sin(alpha V) / cos(V)^(1/alpha) * (cos((1 - alpha) V) / W)^((1 - alpha) / alpha),

    and ``X = tan(V)`` (Cauchy) for alpha = 1. alpha = 2 gives N(0, 2). ``alpha`` in (0, 2];
    float64, on the CPU.
    """
    alpha = check_float("alpha", alpha, low=0.0, high=2.0, low_open=True)
    n = check_int("n", n, low=1)
    scale = check_float("scale", scale, low=0.0, low_open=True)
    generator = make_generator(seed)
    v = (torch.rand(n, generator=generator, dtype=torch.float64) - 0.5) * math.pi
    w = -torch.log1p(-torch.rand(n, generator=generator, dtype=torch.float64))
    if alpha == 1.0:
        return scale * torch.tan(v)
    x = (
        torch.sin(alpha * v)
        / torch.cos(v) ** (1 / alpha)
        * (torch.cos((1 - alpha) * v) / w) ** ((1 - alpha) / alpha)
    )
    return scale * x


def prunable_fraction(weights, rel_error: float = 0.1) -> float:
    """Largest fraction of entries that can be zeroed with ``||w - w_pruned|| <= rel_error ||w||``.

    Zero the smallest ``|w_i|`` first (magnitude pruning; Barsbey et al.'s
    ``l_p``-compressibility with p = 2): the answer is ``max j / n`` with ``sum_{i<=j} w_(i)^2 <=
    rel_error^2 ||w||^2``, the ``w_(i)`` sorted by increasing magnitude.
    """
    w = _finite_vector("weights", weights)
    rel_error = check_float("rel_error", rel_error, low=0.0, high=1.0)
    energy = torch.sort(w * w).values
    total = energy.sum()
    if total <= 0:
        return 1.0
    cumulative = torch.cumsum(energy, 0) / total
    return int((cumulative <= rel_error**2 * (1 + 1e-12)).sum()) / w.numel()


def magnitude_prune(matrix, fraction: float) -> tuple[torch.Tensor, float]:
    """Zero the ``round(fraction * size)`` smallest entries; return (pruned, relative error)."""
    w = _float_matrix(matrix)
    count = _count("fraction", fraction, w.numel())
    flat = w.flatten().clone()
    if count:
        flat[torch.argsort(flat.abs())[:count]] = 0.0
    pruned = flat.reshape(w.shape)
    return pruned, _relative(w, pruned)


def singular_value_prune(matrix, fraction: float) -> tuple[torch.Tensor, float]:
    """Drop the ``round(fraction * min(m, n))`` smallest singular values (low-rank pruning)."""
    w = _float_matrix(matrix)
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    keep = s.numel() - _count("fraction", fraction, s.numel())
    pruned = (u[:, :keep] * s[:keep]) @ vh[:keep]
    return pruned, _relative(w, pruned)


def node_prune(matrix, fraction: float) -> tuple[torch.Tensor, float]:
    """Remove the ``round(fraction * rows)`` neurons (rows) of smallest l2 norm."""
    w = _float_matrix(matrix)
    count = _count("fraction", fraction, w.shape[0])
    pruned = w.clone()
    if count:
        pruned[torch.argsort(torch.linalg.vector_norm(w, dim=1))[:count]] = 0.0
    return pruned, _relative(w, pruned)


PRUNERS = {"magnitude": magnitude_prune, "singular value": singular_value_prune, "node": node_prune}


@small_work()
def train_two_layer_networks(
    lr: float,
    batch_size: int = 1,
    *,
    steps: int = 4000,
    runs: int = 5,
    width: int = 200,
    inputs: int = 10,
    samples: int = 400,
    seed: int = 0,
) -> dict:
    """``runs`` independent two-layer ReLU networks, each on its own teacher task, trained at once.

    Each run has its own data (``x ~ N(0, I)``, labels from its own random teacher of width 5
    plus noise 0.1) and its own initialization, all drawn first from one generator seeded
    ``seed``, so runs with the same ``seed`` start from the same networks and data whatever
    ``lr`` and ``batch_size`` are. Then ``steps`` SGD steps: each draws a batch of
    ``batch_size`` samples *with replacement* and updates ``v`` and ``W`` of
    ``f(x) = (1/width) v^T relu(W x)`` with step ``lr * width`` on the batch's mean squared loss
    (the mean-field time scale). The training time of the gradient flow that SGD discretizes is
    ``lr * steps``: comparing runs at equal ``lr * steps`` compares the same mean dynamics with
    different noise levels ``lr / batch_size``. Returns ``{"hidden": runs x width x inputs,
    "outer": runs x width, "loss": runs}`` (float64, CPU); a diverged run has loss ``inf``.
    """
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    steps = check_int("steps", steps, low=0)
    runs = check_int("runs", runs, low=1)
    width = check_int("width", width, low=1)
    inputs = check_int("inputs", inputs, low=1)
    samples = check_int("samples", samples, low=1)
    generator = make_generator(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = draw(runs, samples, inputs)
    teacher = draw(runs, 5, inputs)
    y = torch.relu(x @ teacher.transpose(1, 2)).sum(2) / 5 + 0.1 * draw(runs, samples)
    hidden, outer = draw(runs, width, inputs) / math.sqrt(inputs), draw(runs, width)
    run_index = torch.arange(runs)[:, None]
    for _ in range(steps):
        index = torch.randint(samples, (runs, batch_size), generator=generator)
        xb, yb = x[run_index, index], y[run_index, index]  # runs x b x inputs, runs x b
        pre = xb @ hidden.transpose(1, 2)  # runs x b x width
        act = torch.relu(pre)
        residual = (act @ outer[:, :, None])[..., 0] / width - yb  # runs x b
        grad_outer = (act * residual[..., None]).sum(1) / (batch_size * width)
        signal = residual[..., None] * outer[:, None, :] / width * (pre > 0)
        grad_hidden = signal.transpose(1, 2) @ xb / batch_size  # runs x width x inputs
        outer = outer - lr * width * grad_outer
        hidden = hidden - lr * width * grad_hidden
    prediction = (torch.relu(x @ hidden.transpose(1, 2)) @ outer[..., None])[..., 0] / width
    loss = 0.5 * ((prediction - y) ** 2).mean(1)
    finite = torch.isfinite(hidden).flatten(1).all(1) & torch.isfinite(outer).all(1)
    loss = torch.where(finite & torch.isfinite(loss), loss, torch.inf)
    return {"hidden": hidden, "outer": outer, "loss": loss}


def _finite_vector(name, values) -> torch.Tensor:
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


_INTS = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _float_matrix(matrix) -> torch.Tensor:
    w = check_matrix("matrix", matrix)
    return w.detach().to("cpu", torch.float64)


def _count(name, fraction, size) -> int:
    fraction = check_float(name, fraction, low=0.0, high=1.0)
    return min(size, round(fraction * size))


def _relative(original, pruned) -> float:
    norm = torch.linalg.matrix_norm(original)
    return float(torch.linalg.matrix_norm(original - pruned) / norm) if norm > 0 else 0.0
