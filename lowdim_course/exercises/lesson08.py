"""Lesson 08 exercises: train large, then prune (Chang, Li, Oymak, Thrampoulidis, AAAI 2021).

* ``08.magnitude_prune``: ``magnitude_prune(weights, keep)``: keep the ``keep`` entries of
  largest absolute value, zero the others; reference
  :func:`lowdim_course.literature.pruning.magnitude_prune`.
* ``08.pruned_risk``: ``pruned_risk(X, y, beta, keep, noise)``: fit min-norm least squares
  ``X^+ y`` on the given features, prune it to ``keep`` entries and return its exact risk on
  isotropic features, ``noise^2 + ||beta_pruned - beta||^2``; reference built from
  :func:`min_norm_least_squares`, :func:`magnitude_prune` and :func:`population_risk`.
"""

from __future__ import annotations

import torch

from .framework import (
    Case,
    Exercise,
    Mistake,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
)


def reference_magnitude_prune(weights, keep):
    from ..literature.pruning import magnitude_prune

    return magnitude_prune(weights, keep)


def _prune_cases() -> list[Case]:
    generator = seeded_generator(8000)
    cases = []
    for size, keep in [(10, 3), (50, 10), (7, 7), (30, 1), (100, 40)]:
        w = random_matrix(size, 1, generator)[:, 0]
        cases.append(Case((w, keep), f"{size} weights, keep={keep}"))
    return cases


def _keep_by(score, weights, keep):
    index = torch.topk(score, min(keep, len(weights))).indices
    out = torch.zeros_like(weights)
    out[index] = weights[index]
    return out


_PRUNE_MISTAKES = (
    Mistake(
        lambda w, k: _keep_by(w, w, k),
        "kept the largest values, not the largest magnitudes",
        "rank by absolute value: a large negative weight matters as much as a large positive one",
    ),
    Mistake(
        lambda w, k: _keep_by(-w.abs(), w, k),
        "kept the SMALLEST magnitudes",
        "keep the largest |w_i|",
    ),
    Mistake(
        lambda w, k: _keep_by(w.abs(), w, k + 1),
        "kept one entry too many",
        "exactly `keep` entries stay nonzero",
    ),
    Mistake(
        lambda w, k: _keep_by(w.abs(), w.abs(), k),
        "returned the magnitudes instead of the weights",
        "keep each weight with its sign",
    ),
)

MAGNITUDE_PRUNE = register(
    Exercise(
        id="08.magnitude_prune",
        title="Magnitude pruning",
        signature="magnitude_prune(weights, keep) -> pruned weights (same shape)",
        make_cases=_prune_cases,
        reference=reference_magnitude_prune,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_PRUNE_MISTAKES, name="the pruned weights"
        ),
        hint="idx = torch.topk(weights.abs(), keep).indices; copy weights[idx] into zeros",
    )
)


def reference_pruned_risk(X, y, beta, keep, noise):
    from ..literature.pruning import magnitude_prune, min_norm_least_squares, population_risk

    fitted = min_norm_least_squares(X, y)
    return population_risk(magnitude_prune(fitted, keep), beta, noise)


def _risk_cases() -> list[Case]:
    generator = seeded_generator(8100)
    cases = []
    for n, p, D, keep, noise in [
        (20, 40, 60, 10, 1.0),
        (30, 15, 40, 10, 0.5),
        (25, 60, 60, 20, 0.0),
        (40, 80, 100, 30, 2.0),
    ]:
        beta = torch.arange(1, D + 1, dtype=torch.float64) ** -0.75
        beta = 2 * beta / torch.linalg.vector_norm(beta)
        X = random_matrix(n, D, generator)
        y = X @ beta + noise * random_matrix(n, 1, generator)[:, 0]
        cases.append(
            Case(
                (X[:, :p].contiguous(), y, beta, keep, noise),
                f"n={n}, p={p}, D={D}, keep={keep}, noise={noise:g}",
            )
        )
    return cases


def _risk(beta_hat, beta, noise):
    error = beta.clone()
    error[: beta_hat.shape[0]] -= beta_hat
    return noise**2 + (error**2).sum()


_RISK_MISTAKES = (
    Mistake(
        lambda X, y, beta, k, noise: _risk(
            _keep_by((torch.linalg.pinv(X) @ y).abs(), torch.linalg.pinv(X) @ y, k), beta, 0.0
        ),
        "left out the noise term noise^2",
        "a fresh label carries its own noise: risk = noise^2 + ||beta_hat - beta||^2",
    ),
    Mistake(
        lambda X, y, beta, k, noise: _risk(
            _keep_by((torch.linalg.pinv(X) @ y).abs(), torch.linalg.pinv(X) @ y, k),
            beta,
            noise**0.5,
        ),
        "added noise instead of noise^2",
        "the noise variance is noise^2",
    ),
    Mistake(
        lambda X, y, beta, k, noise: _risk(torch.linalg.pinv(X) @ y, beta, noise),
        "did not prune (the risk of the large model)",
        "keep only the `keep` largest entries of X^+ y before computing the risk",
    ),
    Mistake(
        lambda X, y, beta, k, noise: (
            noise**2
            + (
                (
                    _keep_by((torch.linalg.pinv(X) @ y).abs(), torch.linalg.pinv(X) @ y, k)
                    - beta[: X.shape[1]]
                )
                ** 2
            ).sum()
        ),
        "compared with the first p entries of beta only",
        "the features the model does not see still carry signal: compare with all of beta",
    ),
)

PRUNED_RISK = register(
    Exercise(
        id="08.pruned_risk",
        title="The risk of the pruned model",
        signature="pruned_risk(X, y, beta, keep, noise) -> float",
        make_cases=_risk_cases,
        reference=reference_pruned_risk,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_RISK_MISTAKES, name="the risk", rtol=1e-6
        ),
        hint="b = torch.linalg.pinv(X) @ y; prune b to `keep` entries; pad with zeros to "
        "len(beta); return noise**2 + ||b - beta||^2",
    )
)
