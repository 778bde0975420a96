"""Fitting, pruning and retraining a linear model (lesson 08; Chang et al. 2021, Sec. 3).

Chang, Li, Oymak, Thrampoulidis, AAAI 2021. The *large model* fits min-norm least squares on
the first ``p`` features, ``beta_hat = X_p^+ y`` (:func:`min_norm_least_squares`, or
:func:`fits_for_every_size` for many ``p`` at once); *pruning* keeps its ``s`` largest entries
by magnitude (:func:`magnitude_prune`); *retraining* refits least squares on the kept support
(:func:`retrain_on_support`) or continues gradient descent on the kept weights
(:func:`retrain_by_gradient_descent`, Han et al. 2015). :func:`ridge` is the shrinking fit of
the ridge oracle. Every fit is batched over leading dimensions (one training set per row), so
one call fits all the training sets of :mod:`lowdim_course.literature.pruning`.
"""

from __future__ import annotations

import torch

from ..validation import check_float, check_int


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


def fits_for_every_size(x: torch.Tensor, y: torch.Tensor, p_values) -> dict:
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


def ridge(features: torch.Tensor, labels: torch.Tensor, penalty: float) -> torch.Tensor:
    """``beta_hat = (X^T X + lambda I)^{-1} X^T y``: least squares shrunk towards zero.

    Batched like :func:`min_norm_least_squares`; ``penalty`` (lambda) > 0 weighs ``||b||^2``
    against the summed squared error ``||X b - y||^2``.
    """
    penalty = check_float("penalty", penalty, low=0.0, low_open=True)
    xt = features.transpose(-1, -2)
    eye = torch.eye(features.shape[-1], dtype=features.dtype, device=features.device)
    return torch.linalg.solve(xt @ features + penalty * eye, xt @ labels[..., None])[..., 0]


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
