"""Lesson 05's capstone exercise, ``05.train_compressed_completion``.

Surrogate, spectral init, discrepant gradient descent: the reference answer, hidden cases and
named mistakes; registered when ``lesson05`` (which imports this module) is imported.
"""

from __future__ import annotations

import torch

from ..problems import MatrixCompletion, make_problem
from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    compare_arrays,
    register,
)


def reference_train_compressed_completion(observed, mask, p, r_hat, depth, eps, eta, alpha, steps):
    """The compressed network on completion: ``W_{L:1}`` after ``steps`` gradient steps.

    ``eta`` is the step on the SUMMED loss over the seen entries (the course's notation: the
    core's ``train`` takes ``lr`` on the mean over them, ``eta = lr / |Omega|``).

    Spectral initialization from the surrogate ``P_Omega(M*) / p``
    (:func:`lowdim_course.networks.spectral_init`), then gradient descent on
    ``1/2 ||P_Omega(W_{L:1} - M*)||_F^2`` (end-to-end gradient ``P_Omega(W_{L:1} - M*)``) with
    the rates ``[alpha eta, eta, ..., eta, alpha eta]``, every layer from the same old weights
    (:meth:`lowdim_course.networks.DeepLinearNetwork.descend`; Kwon et al. 2024, Sec. 3.2).
    """
    from ..networks import compressed_network
    from ..training import layer_learning_rates

    weights = mask.to(observed.dtype)
    seen = observed * weights
    network = compressed_network(seen / p, r_hat, depth, eps)
    rates = layer_learning_rates(depth, eta, alpha)
    for _ in range(steps):
        lower = network.lower_products()
        residual = (network.layers[-1] @ lower[-1] - seen) * weights
        network.descend(lower, residual, rates)
    return network.end_to_end()


def _run_cases() -> list[Case]:
    # (d, r, p, r_hat, depth, eps, eta x |Omega|, alpha, steps, seed): training has left the
    # plateau by the last step in every case, so each named mistake lands somewhere else.
    settings = [
        (10, 2, 0.5, 4, 3, 0.1, 2.0, 5.0, 150, 5300),
        (8, 1, 0.6, 2, 2, 0.1, 1.0, 3.0, 150, 5301),
        (12, 2, 0.4, 4, 4, 0.3, 2.0, 2.0, 200, 5302),
        (9, 2, 0.5, 3, 3, 0.1, 2.0, 1.0, 150, 5303),
    ]
    cases = []
    for d, r, p, r_hat, depth, eps, eta_total, alpha, steps, seed in settings:
        problem = make_problem("mc", d=d, r=r, p=p, seed=seed)
        assert isinstance(problem, MatrixCompletion)
        observed = torch.where(problem.mask, problem.target, torch.zeros_like(problem.target))
        eta = eta_total / problem.n_observed
        cases.append(
            Case(
                (observed, problem.mask, p, r_hat, depth, eps, eta, alpha, steps),
                f"d={d}, p={p}, r_hat={r_hat}, depth={depth}, alpha={alpha:g}, {steps} steps",
            )
        )
    return cases


def _completion_variant(observed, mask, p, r_hat, depth, eps, eta, alpha, steps, *, variant):
    """The run with one named mistake (``variant``), written from the formulas, not the core."""
    weights = mask.to(observed.dtype)
    seen = observed * weights
    u, _, vh = torch.linalg.svd(seen / p)
    first, last = eps * vh[:r_hat], eps * u[:, :r_hat]
    if variant == "swapped":
        first, last = eps * u[:, :r_hat].T, eps * vh[:r_hat].T
    layers = [first] + [eps * torch.eye(r_hat, dtype=observed.dtype)] * (depth - 2) + [last]
    ends, middle = alpha * eta, eta
    if variant == "plain":
        ends = middle = eta
    elif variant == "alpha everywhere":
        ends = middle = alpha * eta
    elif variant == "alpha middle":
        ends, middle = eta, alpha * eta
    elif variant == "mean":
        ends, middle = ends / weights.sum(), middle / weights.sum()
    rates = [ends] + [middle] * (depth - 2) + [ends]
    for _ in range(steps):
        residual = _product(layers) - seen
        if variant != "unmasked":
            residual = residual * weights
        gradients = []
        for index in range(depth):
            gradient = residual
            if index + 1 < depth:
                gradient = _product(layers[index + 1 :]).T @ gradient
            if index > 0:
                gradient = gradient @ _product(layers[:index]).T
            gradients.append(gradient)
        layers = [w - rate * g for w, rate, g in zip(layers, rates, gradients, strict=True)]
    return _product(layers)


def _product(layers):
    out = layers[0]
    for layer in layers[1:]:
        out = layer @ out
    return out


def _run_mistake(variant, what, hint):
    return Mistake(lambda *args: _completion_variant(*args, variant=variant), what, hint)


_RUN_MISTAKES = (
    _run_mistake(
        "unmasked",
        "the gradient is that of the FULL loss 1/2 ||W_{L:1} - observed||^2: the network was "
        "also fitted to the zeros at the unobserved entries",
        "the loss compares W_{L:1} with M* only where the mask is True: multiply the residual by "
        "the mask before it enters the layers' gradients",
    ),
    _run_mistake(
        "plain",
        "alpha is missing: every layer stepped with eta (the plain step)",
        "the end layers W_1 and W_L, which must turn the surrogate's subspace, step with "
        "alpha * eta",
    ),
    _run_mistake(
        "alpha everywhere",
        "alpha was applied to EVERY layer: the middle layers also stepped with alpha * eta",
        "only W_1 and W_L get alpha * eta; the middle layers keep eta",
    ),
    _run_mistake(
        "alpha middle",
        "alpha was applied to the middle layers instead of the end layers",
        "W_1 and W_L get alpha * eta, the middle layers eta",
    ),
    _run_mistake(
        "swapped",
        "the spectral initialization swapped the singular vectors: W_1 holds the left ones and "
        "W_L the right ones",
        "W_1 (r_hat x d) holds the top right singular vectors of the surrogate as rows, W_L "
        "(d x r_hat) the top left singular vectors as columns",
    ),
    _run_mistake(
        "mean",
        "the gradient was divided by |Omega| (the MEAN over the observed entries): the steps "
        "are |Omega| times too short",
        "here the loss is the SUM 1/2 ||P_Omega(W_{L:1} - M*)||^2, and eta is the step on it",
    ),
)


def _compare_run(expected, got, case: Case) -> Problem | None:
    return compare_arrays(
        expected, got, case, mistakes=_RUN_MISTAKES, name="the recovered matrix", rtol=1e-6,
        atol=1e-12,
        nan_hint="the run diverged or divided by zero: check the sign of the step and the rates",
    )  # fmt: skip


TRAIN_COMPRESSED_COMPLETION = register(
    Exercise(
        id="05.train_compressed_completion",
        title="Capstone: the compressed network on matrix completion",
        signature="train_compressed_completion(observed, mask, p, r_hat, depth, eps, eta, alpha, "
        "steps) -> W_{L:1} (d x d)",
        make_cases=_run_cases,
        reference=reference_train_compressed_completion,
        compare=_compare_run,
        hint="three stages: the surrogate from what was observed; the compressed network's "
        "layers from the surrogate's top singular vectors (Lesson 04); then repeat the gradient "
        "step of Lesson 04's capstone, with the residual seen only on the observed entries",
        tags=(CAPSTONE_TAG,),
    )
)
