"""Lesson 02's capstone exercise, ``02.train_deep_linear``.

The deep linear network trainer: the reference answer, hidden cases and named mistakes;
registered when ``lesson02`` (which imports this module) is imported.
"""

from __future__ import annotations

import torch

from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
    to_tensor,
)


def reference_train_deep_linear(target, depth, eps, eta, steps):
    from ..theory.deep_dynamics import identity_init_spectra

    return identity_init_spectra(target, depth, eps, eta, steps)


def _product(layers, dim):
    """``layers[-1] @ ... @ layers[0]`` (the identity for no layers)."""
    result = torch.eye(dim, dtype=torch.float64)
    for layer in layers:
        result = layer @ result
    return result


def _layer_gradient(layers, index, residual, form):
    above = _product(layers[index + 1 :], residual.shape[0])
    below = _product(layers[:index], residual.shape[0])
    if form == "no transposes":
        return above @ residual @ below
    if form == "swapped":
        return below.T @ residual @ above.T
    return above.T @ residual @ below.T


def _trainer(
    target,
    depth,
    eps,
    eta,
    steps,
    *,
    init=None,
    form="right",
    order="together",
    trained="all",
    scale=1.0,
    record="end-to-end",
    rows="all",
):
    """Gradient descent from ``W_l(0) = init(eps, L) I`` with one named change (a mistake)."""
    d = target.shape[0]
    start = eps if init is None else init(eps, depth)
    layers = [start * torch.eye(d, dtype=torch.float64) for _ in range(depth)]
    trainable = range(depth) if trained == "all" else [depth - 1]

    def spectrum():
        matrix = layers[-1] if record == "last layer" else _product(layers, d)
        return torch.linalg.svdvals(matrix)

    spectra = [spectrum()]
    for _ in range(steps):
        if order == "together":
            residual = _product(layers, d) - target
            gradients = {i: _layer_gradient(layers, i, residual, form) for i in trainable}
            for i, gradient in gradients.items():
                layers[i] = layers[i] - eta * scale * gradient
        else:
            indices = list(trainable) if order == "upwards" else list(trainable)[::-1]
            for i in indices:
                residual = _product(layers, d) - target
                layers[i] = layers[i] - eta * scale * _layer_gradient(layers, i, residual, form)
        spectra.append(spectrum())
    result = torch.stack(spectra)
    if rows == "after each step":
        return result[1:]
    if rows == "before each step":
        return result[:-1]
    return result


def _train_cases() -> list[Case]:
    generator = seeded_generator(2200)
    square = random_matrix(4, 4, generator) * 0.6
    low_rank = random_matrix(5, 2, generator) @ random_matrix(2, 5, generator) * 0.4
    basis, _ = torch.linalg.qr(random_matrix(6, 6, generator))
    symmetric = (basis[:, :3] * torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64)) @ basis[
        :, :3
    ].T
    small = random_matrix(3, 3, generator) * 0.5
    return [
        Case(
            (square, 2, 0.5, 0.1, 20),
            "depth 2, M a 4 x 4 Gaussian matrix, eps=0.5, eta=0.1, 20 steps",
        ),
        Case(
            (low_rank, 3, 0.4, 0.05, 40),
            "depth 3, M a 5 x 5 matrix of rank 2 (not symmetric), eps=0.4, eta=0.05, 40 steps",
        ),
        Case(
            (symmetric, 4, 0.6, 0.05, 60),
            "depth 4, M = U diag(1, 0.5, 0.25) U^T (6 x 6), eps=0.6, eta=0.05, 60 steps",
        ),
        Case((small, 3, 0.3, 0.1, 0), "depth 3, M a 3 x 3 Gaussian matrix, eps=0.3, 0 steps"),
    ]


def _mistake(**change):
    return lambda target, depth, eps, eta, steps: _trainer(target, depth, eps, eta, steps, **change)


_ONE_STEP_FOR_ALL = (
    "compute every layer's gradient from the old weights first, then update them all: one "
    "step of gradient descent moves all layers at once"
)
_GRADIENT_IDEA = (
    "layer l's gradient is the residual pulled back through the other layers: the product of "
    "the layers above l, transposed, on the left; the product of the layers below l, "
    "transposed, on the right"
)

_TRAIN_MISTAKES = (
    Mistake(
        _mistake(init=lambda eps, depth: eps**depth),
        "every layer started at eps^L I: eps is the scale of one layer (the product starts at "
        "eps^L)",
        "W_l(0) = eps I for every l, so that W_{L:1}(0) = eps^L I",
    ),
    Mistake(
        _mistake(init=lambda eps, depth: eps ** (1.0 / depth)),
        "every layer started at eps^(1/L) I: eps is the scale of one layer, not of the product",
        "W_l(0) = eps I for every l, so that W_{L:1}(0) = eps^L I",
    ),
    Mistake(
        _mistake(order="upwards"),
        "the layers were updated one after the other: a layer's gradient used the layers "
        "already updated in the same step",
        _ONE_STEP_FOR_ALL,
    ),
    Mistake(
        _mistake(order="downwards"),
        "the layers were updated one after the other (from the top): a layer's gradient used "
        "the layers already updated in the same step",
        _ONE_STEP_FOR_ALL,
    ),
    Mistake(
        _mistake(trained="last"),
        "only the last layer W_L was trained: the gradient of the other layers is missing",
        "every layer has its own gradient and takes its own step",
    ),
    Mistake(
        _mistake(form="no transposes"),
        "the products in the gradient are not transposed: W_{L:l+1} G W_{l-1:1} instead of "
        "W_{L:l+1}^T G W_{l-1:1}^T",
        _GRADIENT_IDEA,
    ),
    Mistake(
        _mistake(form="swapped"),
        "the products in the gradient are in the wrong order: the layers below l stand on the "
        "left of the residual and the layers above on the right",
        _GRADIENT_IDEA,
    ),
    Mistake(
        _mistake(record="last layer"),
        "recorded the singular values of the last layer W_L, not of the end-to-end matrix W_{L:1}",
        "record the singular values of the product of all layers",
    ),
    Mistake(
        lambda target, depth, eps, eta, steps: _trainer(
            target, depth, eps, eta, steps, scale=1.0 / target.shape[0] ** 2
        ),
        "the step is divided by d^2 (the gradient of the mean loss): this lesson's loss is "
        "the sum 1/2 ||W_{L:1} - M||_F^2",
        "the gradient of 1/2 ||W_{L:1} - M||_F^2 has no 1/d^2",
    ),
)


def _rows(value) -> int | None:
    tensor = to_tensor(value)
    if isinstance(tensor, Problem) or tensor.ndim != 2:
        return None
    return tensor.shape[0]


def _compare_spectra(expected, got, case) -> Problem | None:
    steps = case.args[4]
    rows = _rows(got)
    if rows == steps and steps > 0:
        got_tensor = to_tensor(got)
        target, depth, eps, eta, _ = case.args
        after = _trainer(target, depth, eps, eta, steps, rows="after each step")
        before = _trainer(target, depth, eps, eta, steps, rows="before each step")
        if got_tensor.shape == after.shape and torch.allclose(got_tensor, after, rtol=1e-5):
            what = "the state at t = 0 (before the first step) is missing"
        elif got_tensor.shape == before.shape and torch.allclose(got_tensor, before, rtol=1e-5):
            what = "the state after the last step is missing"
        else:
            what = "one row is missing"
        return Problem(
            f"wrong number of rows (expected steps + 1 = {steps + 1}, got {rows}): {what}",
            "record the singular values once before the first step and once after every step",
        )
    if rows == steps + 2:
        return Problem(
            f"wrong number of rows (expected steps + 1 = {steps + 1}, got {rows}): one too many",
            "record the singular values once before the first step and once after every step",
        )
    return compare_arrays(
        expected, got, case, rtol=1e-6, atol=1e-10, mistakes=_TRAIN_MISTAKES,
        name="the singular values",
    )  # fmt: skip


TRAIN_DEEP_LINEAR = register(
    Exercise(
        id="02.train_deep_linear",
        title="Capstone: train a deep linear network and watch its singular values",
        signature="train_deep_linear(M, depth, eps, eta, steps) -> tensor (steps + 1, d) of the "
        "singular values of W_L ... W_1, largest first",
        make_cases=_train_cases,
        reference=reference_train_deep_linear,
        compare=_compare_spectra,
        hint="start every layer at eps times the identity; in each step compute the residual "
        "of the product and every layer's gradient from the same old layers, then move all "
        "layers against their gradients; record the product's singular values before the "
        "first step and after every step",
        tags=(CAPSTONE_TAG,),
    )
)
