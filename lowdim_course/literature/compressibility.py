"""Measuring compressibility: rank measures, sparsity measures, and the errors they predict.

Ou, Chen, Zhu, Liu, "Low Rank Optimization for Efficient Deep Learning: Making A Balance between
Compact Architecture and Fast Training" (survey), Sec. 2-3: a weight matrix compresses well
*by low rank* when its singular values decay fast, and *by sparsity* when its entries do. One
number each:

* rank measures (reused from :mod:`lowdim_course.theory.rank_measures`): effective rank
  ``exp(H(sigma / sum sigma))`` and stable rank ``||W||_F^2 / ||W||_2^2``;
* sparsity measures of the entries (Hurley & Rickard, "Comparing measures of sparsity", IEEE
  Trans. Inf. Theory 2009): :func:`l1_l2_ratio` ``||x||_1 / ||x||_2`` (between 1 and sqrt(n)),
  :func:`hoyer_sparsity` ``(sqrt(n) - ||x||_1/||x||_2) / (sqrt(n) - 1)`` (0 for a constant
  vector, 1 for a single nonzero; Hoyer 2004) and :func:`gini_index`;
* the errors they should predict: :func:`rank_k_error` (Eckart-Young: ``sqrt(sum_{i>k}
  sigma_i^2) / ||W||_F``) and :func:`k_sparse_error` (keep the k largest ``|w_ij|``);
  :func:`rank_for_error` turns the first around: the smallest k within a given error.

:func:`matrix_family` draws matrices whose spectrum decay and entry tails vary independently;
:func:`prediction_table` ranks each measure against each error (Spearman correlation), which
says which measure predicts which compression. :func:`erank_staircase` reads the effective
rank of a deep factorization run at its plateaus.
"""

from __future__ import annotations

import math

import torch

from ..random_matrices import make_generator, random_orthogonal
from ..theory.rank_measures import (
    effective_rank,
    effective_rank_of_spectrum,
    effective_rank_over_training,
    stable_rank,
)
from ..validation import check_float, check_int, check_matrix
from .heavy_tails import stable_samples


def l1_l2_ratio(values) -> float:
    """``||x||_1 / ||x||_2`` of all entries: sqrt(n) for equal magnitudes, 1 for one nonzero."""
    x = _entries(values)
    norm = torch.linalg.vector_norm(x)
    if norm <= 0:
        raise ValueError("values must not be all zero (the ratio is 0 / 0)")
    return float(x.abs().sum() / norm)


def hoyer_sparsity(values) -> float:
    """Hoyer's sparsity ``(sqrt(n) - ||x||_1 / ||x||_2) / (sqrt(n) - 1)``, in [0, 1].

    Hoyer, "Non-negative matrix factorization with sparseness constraints" (JMLR 2004), Eq. 1:
    0 when all entries have the same magnitude, 1 when exactly one is nonzero. Needs n >= 2.
    """
    x = _entries(values)
    n = x.numel()
    if n < 2:
        raise ValueError(f"values must hold at least 2 entries, got {n}")
    root = math.sqrt(n)
    return (root - l1_l2_ratio(x)) / (root - 1)


def gini_index(values) -> float:
    """Gini index of the magnitudes (Hurley & Rickard 2009, Sec. III.D), in [0, 1 - 1/n].

    With ``c_(1) <= ... <= c_(n)`` the sorted ``|x_i|``:
    ``G = 1 - 2 sum_k (c_(k) / ||c||_1) (n - k + 1/2) / n``; 0 for equal magnitudes.
    """
    c = torch.sort(_entries(values).abs()).values
    total = c.sum()
    if total <= 0:
        raise ValueError("values must not be all zero (the Gini index is 0 / 0)")
    n = c.numel()
    k = torch.arange(1, n + 1, dtype=torch.float64)
    return float(1 - 2 * ((c / total) * (n - k + 0.5) / n).sum())


SPARSITY_MEASURES = {"Hoyer": hoyer_sparsity, "l1/l2": l1_l2_ratio, "Gini": gini_index}
RANK_MEASURES = {"effective rank": effective_rank, "stable rank": stable_rank}
# Rank surrogates: measures of the singular values sigma. The sparsity ones are signed so that,
# like a rank, a larger value means a flatter spectrum (less compressible by low rank).
SPECTRAL_MEASURES = {
    "effective rank": effective_rank_of_spectrum,
    "stable rank": lambda s: float((s * s).sum() / s.max() ** 2),
    "l1/l2 (nuclear / Frobenius)": l1_l2_ratio,  # Hoyer's sparsity of sigma orders as this does
    "minus Gini": lambda s: -gini_index(s),
}


def rank_k_error(matrix, k: int) -> float:
    """Relative error of the best rank-k approximation: ``sqrt(sum_{i>k} sigma_i^2) / ||W||_F``.

    Eckart-Young-Mirsky: truncating the SVD is optimal in the Frobenius norm.
    """
    w = _matrix(matrix)
    k = check_int("k", k, low=0, high=min(w.shape))
    s = torch.linalg.svdvals(w)
    total = (s * s).sum()
    return float(torch.sqrt((s[k:] ** 2).sum() / total)) if total > 0 else 0.0


def rank_for_error(matrix, rel_error: float) -> int:
    """The smallest k whose best rank-k approximation has relative error ``<= rel_error``.

    Eckart-Young-Mirsky: the error of truncating the SVD after k terms is the tail energy
    ``sqrt(sum_{i>k} sigma_i^2) / ||W||_F``, which falls as k grows; the answer is the first k
    where it is at most ``rel_error`` (0 when ``rel_error >= 1`` or W = 0). The tail is summed
    from the smallest singular value up, so a tail of tiny values is not lost to rounding
    against the total.
    """
    w = _matrix(matrix)
    rel_error = check_float("rel_error", rel_error, low=0.0)
    energy = torch.linalg.svdvals(w) ** 2
    total = energy.sum()
    if total <= 0 or rel_error >= 1:  # the zero matrix already has relative error 1
        return 0
    from_the_end = torch.flip(torch.cumsum(torch.flip(energy, [0]), 0), [0])
    tails = torch.cat([from_the_end, torch.zeros(1, dtype=energy.dtype)])  # sum of energy[k:]
    allowed = rel_error * rel_error * total
    return int(torch.nonzero(tails <= allowed)[0, 0])


def k_sparse_error(matrix, k: int) -> float:
    """Relative error of the best k-sparse approximation (keep the k largest ``|w_ij|``)."""
    w = _matrix(matrix)
    k = check_int("k", k, low=0, high=w.numel())
    energy = torch.sort((w * w).flatten(), descending=True).values
    total = energy.sum()
    return float(torch.sqrt(energy[k:].sum() / total)) if total > 0 else 0.0


def matrix_family(
    count: int = 40, size: int = 30, seed: int = 0
) -> tuple[list[torch.Tensor], list[dict]]:
    """``count`` matrices (size x size) of varied low-rankness and entry sparsity.

    Half are ``U diag(s) V^T`` with Haar U, V and ``s_k = k^-p``, p in [0, 3] (low rank, dense
    entries); half hold i.i.d. symmetric alpha-stable entries, alpha in [0.6, 2] (rank ``size``,
    but at small alpha a few entries dominate: nearly sparse, effective rank down to about 1.4).
    Returns the matrices and, for each, ``{"kind", "parameter"}``.
    """
    count = check_int("count", count, low=2)
    size = check_int("size", size, low=2)
    generator = make_generator(seed)
    matrices, labels = [], []
    half = count // 2
    for i in range(half):
        p = 3.0 * i / max(half - 1, 1)
        s = torch.arange(1, size + 1, dtype=torch.float64) ** -p
        u, v = random_orthogonal(size, generator), random_orthogonal(size, generator)
        matrices.append((u * s) @ v.T)
        labels.append({"kind": "decaying spectrum", "parameter": p})
    rest = count - half
    for i in range(rest):
        alpha = 0.6 + 1.4 * i / max(rest - 1, 1)
        entries = stable_samples(alpha, size * size, seed=seed * 1000 + i + 1)
        matrices.append(entries.reshape(size, size))
        labels.append({"kind": "stable entries", "parameter": alpha})
    return matrices, labels


def spearman(x, y) -> float:
    """Spearman's rank correlation of two equally long sequences (no ties expected)."""
    x, y = _entries(x), _entries(y)
    if x.numel() != y.numel() or x.numel() < 2:
        raise ValueError("x and y must have the same length >= 2")
    rx = torch.argsort(torch.argsort(x)).double()
    ry = torch.argsort(torch.argsort(y)).double()
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx @ ry) / torch.sqrt((rx @ rx) * (ry @ ry)))


def prediction_table(matrices, keep: float = 0.2) -> dict:
    """Spearman correlation of each measure with each compression error over ``matrices``.

    The errors: best rank-k with ``k = round(keep * n)`` and best k-sparse keeping the same
    number of parameters as that rank-k factorization, ``k (m + n)`` entries. Returns
    ``{"measures": {name: [values]}, "errors": {name: [values]},
    "correlation": {measure: {error: rho}}}``. For the rank measures a *low* value means
    compressible, for Hoyer and Gini a *high* one: read the sign accordingly.
    """
    keep = check_float("keep", keep, low=0.0, high=1.0, low_open=True)
    matrices = [_matrix(w) for w in matrices]
    if len(matrices) < 2:
        raise ValueError("matrices must hold at least 2 matrices")
    measures = {name: [] for name in (*RANK_MEASURES, *SPARSITY_MEASURES)}
    errors = {"rank-k": [], "k-sparse": []}
    for w in matrices:
        for name, function in {**RANK_MEASURES, **SPARSITY_MEASURES}.items():
            measures[name].append(function(w))
        k = max(1, round(keep * min(w.shape)))
        errors["rank-k"].append(rank_k_error(w, k))
        errors["k-sparse"].append(k_sparse_error(w, min(w.numel(), k * sum(w.shape))))
    correlation = {
        m: {e: spearman(measures[m], errors[e]) for e in errors} for m in measures
    }  # fmt: skip
    return {"measures": measures, "errors": errors, "correlation": correlation}


def spectral_prediction_over_seeds(
    seeds=(0, 1, 2, 3, 4), keeps=(0.1, 0.2, 0.3), count: int = 40, size: int = 30
) -> dict:
    """How well each rank surrogate (``SPECTRAL_MEASURES``, computed on the singular values)
    orders ``matrix_family(count, size, seed)`` by its best rank-k error, for each seed.

    Ou et al. (survey, abstract): "the effective rank ... outperforms other conventional sparse
    measures such as the l1 norm for network compression". Read as a prediction of the rank-k
    error (one reading of "for compression"), this returns ``{"correlation": {keep: {measure:
    (mean, sd)}}, "per_seed": {keep: {measure: [rho per seed]}}, "best_counts": {keep:
    {measure: seeds in which it had the highest correlation}}}``, with ``k = round(keep * size)``.
    """
    seeds = [check_int("seed", seed, low=0) for seed in seeds]
    if len(seeds) < 2:
        raise ValueError("seeds must hold at least 2 seeds (the spread needs two)")
    keeps = [check_float("keep", keep, low=0.0, high=1.0, low_open=True) for keep in keeps]
    per_seed = {keep: {name: [] for name in SPECTRAL_MEASURES} for keep in keeps}
    for seed in seeds:
        matrices, _ = matrix_family(count, size, seed)
        spectra = [torch.linalg.svdvals(w) for w in matrices]
        values = {name: [f(s) for s in spectra] for name, f in SPECTRAL_MEASURES.items()}
        for keep in keeps:
            k = max(1, round(keep * size))
            errors = [rank_k_error(w, k) for w in matrices]
            for name in SPECTRAL_MEASURES:
                per_seed[keep][name].append(spearman(values[name], errors))
    correlation, best_counts = {}, {}
    for keep in keeps:
        rows = per_seed[keep]
        correlation[keep] = {
            name: (sum(r) / len(r), float(torch.tensor(r).std())) for name, r in rows.items()
        }  # fmt: skip
        counts = dict.fromkeys(rows, 0)
        for i in range(len(seeds)):
            counts[max(rows, key=lambda name, i=i: rows[name][i])] += 1
        best_counts[keep] = counts
    return {"correlation": correlation, "per_seed": per_seed, "best_counts": best_counts}


def erank_staircase(history, target) -> dict:
    """The effective rank of ``W_{L:1}`` between the moments its modes are learned.

    While k modes are learned and the others are still tiny, the end-to-end matrix is close to
    the top-k part of the target, so ``erank`` should sit near ``erank(s_1, ..., s_k)``. The
    moments come from the singular values, not from the effective rank: mode k is *learned* at
    the first log where ``sigma_k(W_{L:1}) >= s_k / 2``, and the k-th plateau is the effective
    rank halfway (in logs) between mode k and mode k+1 being learned (for k = r: between mode r
    and the end). Returns ``{"erank": curve over logs, "start", "lowest", "end", "target":
    erank(M*), "learned_at": [iteration per mode], "plateaus": [...], "predicted":
    [erank(s_1..s_k)]}`` (None where a mode was never learned).
    """
    curve = effective_rank_over_training(history)
    s = torch.linalg.svdvals(_matrix(target))
    rank = int((s > s[0] * 1e-10).sum()) if s[0] > 0 else 0
    values = history.singular_value_matrix()
    learned = []
    for k in range(rank):
        hit = torch.nonzero(values[:, k] >= s[k] / 2)
        learned.append(int(hit[0, 0]) if hit.numel() else None)
    ends = [*learned[1:], len(curve) - 1]
    plateaus = [
        None if start is None or end is None else float(curve[(start + end) // 2])
        for start, end in zip(learned, ends, strict=True)
    ]
    return {
        "erank": curve,
        "start": float(curve[0]),
        "lowest": float(curve.min()),
        "end": float(curve[-1]),
        "target": effective_rank_of_spectrum(s),
        "learned_at": [None if i is None else history.log_iterations[i] for i in learned],
        "plateaus": plateaus,
        "predicted": [effective_rank_of_spectrum(s[:k]) for k in range(1, rank + 1)],
    }


def _entries(values) -> torch.Tensor:
    try:
        x = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"values must be an array of numbers ({exc})") from None
    if x.is_complex() or x.dtype == torch.bool:
        raise ValueError(f"values must hold real numbers, got dtype {x.dtype}")
    x = x.detach().to("cpu", torch.float64).flatten()
    if x.numel() == 0:
        raise ValueError("values must not be empty")
    if not torch.isfinite(x).all():
        raise ValueError("values must be finite: they hold NaN or infinity")
    return x


def _matrix(matrix) -> torch.Tensor:
    return check_matrix("matrix", matrix).detach().to("cpu", torch.float64)
