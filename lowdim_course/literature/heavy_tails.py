"""Heavy-tailed SGD iterates make networks compressible (Barsbey et al., NeurIPS 2021).

Barsbey, Sefidgaran, Erdogdu, Richard, Simsekli, "Heavy Tails in SGD and Compressibility of
Overparametrized Neural Networks" (NeurIPS 2021). Two facts, each with a small experiment here:

1. A larger step-size / batch-size ratio gives SGD iterates with heavier tails (Sec. 3, after
   Gurbuzbalaban, Simsekli, Zhu 2021). On linear regression with Gaussian data the update

       x_{k+1} = x_k - (eta / b) sum_{i in batch} a_i (a_i^T x_k - y_i)

   multiplies the error by random matrices ``I - (eta/b) sum a_i a_i^T``; when these sometimes
   expand, the stationary distribution has a power-law tail ``P(|x| > t) ~ t^-alpha``, and
   ``alpha`` falls as eta/b grows. :func:`sgd_iterates` runs many independent chains at once
   and :func:`hill_estimator` measures ``alpha`` from their final iterates.
2. Heavy-tailed weights are compressible (Sec. 4, Thm. 2): among n i.i.d. symmetric
   alpha-stable samples, the fraction that can be set to zero at a fixed relative l2 error
   tends to 1 as n grows when alpha < 2, but stays fixed for Gaussian (alpha = 2) weights.
   :func:`stable_samples` draws them (Chambers, Mallows, Stuck 1976) and
   :func:`prunable_fraction` measures the fraction; :func:`magnitude_prune`,
   :func:`singular_value_prune` and :func:`node_prune` are the paper's three pruning schemes
   applied to one weight matrix, e.g. of the small network :func:`train_two_layer_network`.
"""

from __future__ import annotations

import math

import torch

from ..random_matrices import make_generator
from ..training import cpu_threads
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
    estimate is consistent; Barsbey et al. (Sec. 5) use it on network weights. ``k`` must be in
    [1, n-1]; the default is ``default_k(n)`` (2.5% of the samples, at least 1).
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


@cpu_threads(1)
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

    Data are drawn fresh at every step (the online setting of Gurbuzbalaban et al. 2021, as in
    Barsbey et al. Sec. 3): ``a ~ N(0, I_d)``, ``y = a^T x* + noise * N(0, 1)`` with ``x*`` drawn
    once from N(0, I_d); every chain starts at 0 and takes ``steps`` steps of size ``lr`` on
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

    Zero the smallest ``|w_i|`` first (magnitude pruning, Barsbey et al. Def. 1 of
    ``l_2``-compressibility): the answer is ``max j / n`` with ``sum_{i<=j} w_(i)^2 <=
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


@cpu_threads(1)
def train_two_layer_network(
    lr: float,
    batch_size: int = 1,
    *,
    width: int = 200,
    inputs: int = 10,
    samples: int = 400,
    epochs: int = 10,
    seed: int = 0,
    device="cpu",
) -> dict:
    """SGD on a two-layer ReLU network ``f(x) = (1/width) v^T relu(W x)`` (mean-field scaling).

    The mean-field limit of Barsbey et al. (Sec. 4) is what makes the rows of W independent.
    Data: ``x ~ N(0, I)``, labels from a random teacher of width 5 plus noise 0.1, all from
    ``seed``. The step on the hidden layer is ``lr * width`` (the mean-field time scale), on
    the mean squared loss of a batch. Returns ``{"hidden": W (width x inputs), "outer": v,
    "loss": final training loss}``, on the CPU in float64.
    """
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    width = check_int("width", width, low=1)
    inputs = check_int("inputs", inputs, low=1)
    samples = check_int("samples", samples, low=batch_size)
    epochs = check_int("epochs", epochs, low=1)
    device = resolve_device(device)
    generator = make_generator(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = draw(samples, inputs)
    teacher = draw(5, inputs)
    y = torch.relu(x @ teacher.T).sum(1) / 5 + 0.1 * draw(samples)
    hidden, outer = draw(width, inputs) / math.sqrt(inputs), draw(width)
    x, y, hidden, outer = (t.to(device) for t in (x, y, hidden, outer))
    for _ in range(epochs):
        order = torch.randperm(samples, generator=generator).to(device)
        for start in range(0, samples - batch_size + 1, batch_size):
            index = order[start : start + batch_size]
            xb, yb = x[index], y[index]
            pre = xb @ hidden.T
            act = torch.relu(pre)
            residual = act @ outer / width - yb  # batch
            grad_outer = act.T @ residual / batch_size / width
            grad_hidden = ((residual[:, None] * outer[None, :] / width) * (pre > 0)).T @ xb
            grad_hidden = grad_hidden / batch_size
            outer = outer - lr * width * grad_outer
            hidden = hidden - lr * width * grad_hidden
        if not (torch.isfinite(hidden).all() and torch.isfinite(outer).all()):
            raise ValueError(f"training diverged at lr={lr:g}: take a smaller lr")
    loss = 0.5 * float(((torch.relu(x @ hidden.T) @ outer / width - y) ** 2).mean())
    return {"hidden": hidden.cpu(), "outer": outer.cpu(), "loss": loss}


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
