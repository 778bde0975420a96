"""Heavy-tailed SGD iterates make networks compressible (Barsbey et al., NeurIPS 2021).

Barsbey, Sefidgaran, Erdogdu, Richard, Simsekli, "Heavy Tails in SGD and Compressibility of
Overparametrized Neural Networks" (NeurIPS 2021). Three pieces, each with a small experiment; this
module holds the experiments, and re-exports the theory and the measurements they are read with:

1. A larger step-size / batch-size ratio gives SGD iterates with heavier tails (Barsbey et al.,
   after Gurbuzbalaban, Simsekli, Zhu, ICML 2021). On linear regression with Gaussian
   data the update

       x_{k+1} = x_k - (eta / b) sum_{i in batch} a_i (a_i^T x_k - y_i)

   multiplies the error by random matrices ``A = I - (eta/b) sum a_i a_i^T``; when these
   sometimes expand, the stationary law has a power-law tail ``P(|x| > t) ~ t^-alpha``.
   :func:`sgd_iterates` runs many independent chains at once; ``kesten_tail_index`` (in
   :mod:`lowdim_course.literature.kesten`) computes that ``alpha`` exactly, the root of
   ``E ||A e_1||^alpha = 1``.
2. Two estimators of ``alpha`` from samples (in :mod:`lowdim_course.literature.tail_estimators`):
   Hill's (``hill_estimator``, Hill 1975) and the block-sum estimator for alpha-stable laws of
   Mohammadi, Mohammadpour, Ogata (Metrika 2015) (``block_tail_estimator``,
   ``stable_tail_index``), which is the one the released code of Barsbey et al. uses
   (repository ``mbarsbey/sgd_comp_gen``, function ``est_alpha_one``).
3. Heavy-tailed weights are compressible (Barsbey et al.'s theory): among n i.i.d. symmetric
   alpha-stable samples with alpha < 2 (infinite variance), the fraction that can be set to zero
   at a fixed relative l2 error tends to 1 as n grows, but stays fixed for Gaussian (alpha = 2)
   weights. :func:`stable_samples` draws them (Chambers, Mallows, Stuck 1976) and
   :func:`prunable_fraction` measures the fraction; :func:`magnitude_prune`,
   :func:`singular_value_prune` and :func:`node_prune` are the paper's three pruning schemes
   applied to one weight matrix, e.g. of the small networks of :func:`train_two_layer_networks`.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..random_matrices import make_generator
from ..rounding import active_perturbation
from ..threads import small_work
from ..validation import check_float, check_int, check_matrix, resolve_device
from .kesten import expansion_probability, kesten_log_moment, kesten_tail_index
from .tail_estimators import (
    BLOCK_SIZES,
    TAIL_FRACTION,
    block_tail_estimator,
    check_finite_vector,
    default_k,
    hill_estimator,
    network_tail_index,
    stable_tail_index,
)

__all__ = [  # the experiments here, and the theory and estimators the lesson reads them with
    "BLOCK_SIZES",
    "PRUNERS",
    "TAIL_FRACTION",
    "block_tail_estimator",
    "default_k",
    "expansion_probability",
    "hill_estimator",
    "kesten_log_moment",
    "kesten_tail_index",
    "magnitude_prune",
    "network_tail_index",
    "node_prune",
    "prunable_fraction",
    "sgd_iterates",
    "sgd_tail_index",
    "singular_value_prune",
    "stable_samples",
    "stable_tail_index",
    "train_two_layer_networks",
]

# An SGD iterate beyond this size counts as diverged (the stationary law has no such values).
_DIVERGED = 1e30


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
    w = check_finite_vector("weights", weights).numpy()
    rel_error = check_float("rel_error", rel_error, low=0.0, high=1.0)
    # numpy's sort: twice torch's speed at n = 100,000 (lesson 09's slider sorts 60 of these)
    energy = np.sort(w * w)
    total = float(energy.sum())
    if total <= 0:
        return 1.0
    cumulative = np.cumsum(energy)
    perturbation = active_perturbation()  # numpy's sums, out of its sight otherwise
    if perturbation is not None:
        total = perturbation.perturb_value(total)
        perturbation.perturb_array(cumulative)
    cumulative /= total
    return int((cumulative <= rel_error**2 * (1 + 1e-12)).sum()) / w.size


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
    average_last: int | None = None,
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
    ``"hidden_average"`` is the mean of the last ``average_last`` iterates of ``W`` (default
    ``steps // 2``; the start when ``steps`` is 0): the averaged network on which Barsbey et
    al.'s released code estimates the tail index (their ``avg_net``, a running mean of the
    iterates after a burn-in).
    """
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    steps = check_int("steps", steps, low=0)
    runs = check_int("runs", runs, low=1)
    width = check_int("width", width, low=1)
    inputs = check_int("inputs", inputs, low=1)
    samples = check_int("samples", samples, low=1)
    average_last = steps // 2 if average_last is None else average_last
    average_last = check_int("average_last", average_last, low=0, high=steps)
    generator = make_generator(seed)

    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = draw(runs, samples, inputs)
    teacher = draw(runs, 5, inputs)
    y = torch.relu(x @ teacher.transpose(1, 2)).sum(2) / 5 + 0.1 * draw(runs, samples)
    hidden, outer = draw(runs, width, inputs) / math.sqrt(inputs), draw(runs, width)
    run_index = torch.arange(runs)[:, None]
    total = torch.zeros_like(hidden)
    for step in range(steps):
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
        if step >= steps - average_last:
            total += hidden
    prediction = (torch.relu(x @ hidden.transpose(1, 2)) @ outer[..., None])[..., 0] / width
    loss = 0.5 * ((prediction - y) ** 2).mean(1)
    finite = torch.isfinite(hidden).flatten(1).all(1) & torch.isfinite(outer).all(1)
    loss = torch.where(finite & torch.isfinite(loss), loss, torch.inf)
    average = total / average_last if average_last else hidden.clone()
    return {"hidden": hidden, "outer": outer, "loss": loss, "hidden_average": average}


def _float_matrix(matrix) -> torch.Tensor:
    w = check_matrix("matrix", matrix)
    return w.detach().to("cpu", torch.float64)


def _count(name, fraction, size) -> int:
    fraction = check_float(name, fraction, low=0.0, high=1.0)
    return min(size, round(fraction * size))


def _relative(original, pruned) -> float:
    norm = torch.linalg.matrix_norm(original)
    return float(torch.linalg.matrix_norm(original - pruned) / norm) if norm > 0 else 0.0
