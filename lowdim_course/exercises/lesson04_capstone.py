"""Lesson 04's capstone exercise, ``04.compressed_gd_step``.

One step of the compressed network with the discrepant rate: the reference answer, hidden cases
and named mistakes; registered when ``lesson04`` (which imports this module) is imported.
"""

from __future__ import annotations

import torch

from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    _is_close,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
    to_tensor,
)
from .spectral_layers import layer_name


def reference_compressed_gd_step(layers, target, lr, alpha):
    """One gradient step on ``1/2 ||W_{L:1} - M*||_F^2`` with ``[alpha lr, lr, ..., alpha lr]``.

    ``grad_{W_l} = W_{L:l+1}^T (W_{L:1} - M*) W_{l-1:1}^T`` for every layer, all from the same
    old weights (Kwon et al. 2024, Sec. 3.2); the core's
    :meth:`lowdim_course.networks.DeepLinearNetwork.descend` with
    :func:`lowdim_course.training.layer_learning_rates`.
    """
    from ..networks import DeepLinearNetwork
    from ..training import layer_learning_rates as rates_of

    network = DeepLinearNetwork([torch.as_tensor(w).clone() for w in layers])
    lower = network.lower_products()
    gradient = network.layers[-1] @ lower[-1] - target
    network.descend(lower, gradient, rates_of(network.depth, lr, alpha))
    return [w.contiguous() for w in network.layers]


def _step_cases() -> list[Case]:
    generator = seeded_generator(4400)
    settings = [  # (d, r_hat, depth, lr, alpha); the last is the original network (r_hat = d)
        (8, 3, 3, 0.05, 5.0),
        (10, 4, 4, 0.02, 2.0),
        (6, 2, 2, 0.05, 3.0),
        (12, 6, 5, 0.01, 0.5),
        (5, 5, 3, 0.05, 1.0),
    ]
    cases = []
    for d, r_hat, depth, lr, alpha in settings:
        widths = [d] + [r_hat] * (depth - 1) + [d]
        layers = [
            random_matrix(widths[i + 1], widths[i], generator) / widths[i] ** 0.5
            for i in range(depth)
        ]
        u = random_matrix(d, 2, generator)
        target = u @ random_matrix(2, d, generator) / d**0.5
        label = f"d={d}, r_hat={r_hat}, depth={depth}, lr={lr:g}, alpha={alpha:g}"
        cases.append(Case((layers, target, lr, alpha), label))
    return cases


def _product(layers):
    out = layers[0]
    for layer in layers[1:]:
        out = layer @ out
    return out


def _gradient(layers, target, index, transpose_residual=False):
    """``W_{L:l+1}^T G W_{l-1:1}^T`` for layer ``index`` (0-based), ``G = W_{L:1} - M*``."""
    residual = _product(layers) - target
    if transpose_residual:
        residual = residual.T
    above = _product(layers[index + 1 :]) if index + 1 < len(layers) else None
    below = _product(layers[:index]) if index > 0 else None
    gradient = residual if above is None else above.T @ residual
    return gradient if below is None else gradient @ below.T


def _step_variant(layers, target, lr, alpha, *, variant):
    """The step with one named mistake (``variant``), written from the formula, not the core."""
    depth = len(layers)
    ends, middle = alpha * lr, lr
    if variant == "alpha everywhere":
        ends = middle = alpha * lr
    elif variant == "alpha middle":
        ends, middle = lr, alpha * lr
    elif variant == "plain":
        ends = middle = lr
    rates = [ends] + [middle] * (depth - 2) + [ends]
    sign = 1.0 if variant == "uphill" else -1.0
    factor = 2.0 if variant == "no half" else 1.0
    if variant in ("forward", "backward"):
        new = list(layers)
        order = range(depth) if variant == "forward" else range(depth - 1, -1, -1)
        for index in order:
            new[index] = new[index] - rates[index] * _gradient(new, target, index)
        return new
    if variant == "gradients":
        return [_gradient(layers, target, i) for i in range(depth)]
    transpose = variant == "transposed residual"
    return [
        w + sign * factor * rate * _gradient(layers, target, i, transpose)
        for i, (w, rate) in enumerate(zip(layers, rates, strict=True))
    ]


def _flat(layers) -> torch.Tensor:
    return torch.cat([torch.as_tensor(w, dtype=torch.float64).reshape(-1) for w in layers])


def _step_mistake(variant, what, hint):
    return Mistake(lambda *args: _flat(_step_variant(*args, variant=variant)), what, hint)


_ALL_FROM_OLD = (
    "compute every layer's gradient from the OLD weights first (keep them aside), then update "
    "all layers"
)
_STEP_MISTAKES = (
    _step_mistake(
        "plain",
        "this is the plain step: every layer moved with lr, the end layers did not get alpha",
        "the discrepant rate gives the first and the last layer the larger step alpha * lr",
    ),
    _step_mistake(
        "alpha everywhere",
        "alpha was applied to EVERY layer: the middle layers also stepped with alpha * lr",
        "only the end layers W_1 and W_L, which hold the subspace, step with alpha * lr; the "
        "middle layers keep lr",
    ),
    _step_mistake(
        "alpha middle",
        "alpha was applied to the middle layers only (the end layers stepped with lr)",
        "it is the other way round: W_1 and W_L get alpha * lr, the middle layers lr",
    ),
    _step_mistake(
        "forward",
        "the layers were updated one after the other (W_1 first): the gradient of W_2 used the "
        "new W_1",
        _ALL_FROM_OLD,
    ),
    _step_mistake(
        "backward",
        "the layers were updated one after the other (W_L first): the gradient of W_{L-1} used "
        "the new W_L",
        _ALL_FROM_OLD,
    ),
    _step_mistake(
        "transposed residual",
        "the residual W_{L:1} - M* entered transposed (a transpose missing or misplaced)",
        "the residual is d x d with rows on the output side: the layers above W_l act on it "
        "from the left (transposed), the layers below from the right (transposed)",
    ),
    _step_mistake(
        "uphill",
        "the step went UP the gradient (the loss grows)",
        "gradient descent subtracts the rate times the gradient",
    ),
    _step_mistake(
        "no half",
        "the gradient is twice too large: the loss 1/2 ||W_{L:1} - M*||^2 has a factor 1/2",
        "the gradient of 1/2 ||X||^2 with respect to X is X itself, not 2X",
    ),
    _step_mistake(
        "gradients",
        "returned the gradients, not the new layers",
        "return each layer minus its rate times its gradient",
    ),
)


def compare_step(expected, got, case: Case) -> Problem | None:
    """The new layers, layer by layer: count, shapes, then the values (named mistakes first)."""
    layers, _, _, _ = case.args
    depth = len(layers)
    if isinstance(got, torch.Tensor) and got.ndim == 3:
        got = list(got)
    if not isinstance(got, list | tuple):
        return Problem(
            f"returned {type(got).__name__}, expected a list of {depth} layers",
            "return [new W_1, ..., new W_L] (a Python list of matrices)",
        )
    if len(got) != depth:
        return Problem(
            f"returned {len(got)} layers for a network of depth {depth}",
            "return every layer, updated, in the order W_1, ..., W_L",
        )
    have = []
    for index, (want, layer) in enumerate(zip(expected, got, strict=True)):
        name = layer_name(index, depth)
        tensor = to_tensor(layer, "a matrix")
        if isinstance(tensor, Problem):
            return Problem(f"{name}: {tensor.what}")
        if tuple(tensor.shape) != tuple(want.shape):
            transposed = tuple(tensor.shape) == tuple(want.shape)[::-1]
            return Problem(
                f"wrong shape of the new {name} (expected {tuple(want.shape)}, got "
                f"{tuple(tensor.shape)})" + (": transposed?" if transposed else ""),
                "a layer's gradient has the layer's own shape: check the order and the "
                "transposes of the factors around the residual",
            )
        have.append(tensor)
    if _is_close(_flat(layers), _flat(have), 1e-12, 0.0):
        return Problem("returned the layers unchanged: no step was taken", "subtract the step")
    problem = compare_arrays(
        _flat(expected), _flat(have), case, mistakes=_STEP_MISTAKES, name="the new layers",
        rtol=1e-7,
    )  # fmt: skip
    if problem is None or not problem.what.startswith(("wrong values", "the new layers is")):
        return problem
    wrong = [
        layer_name(i, depth)
        for i, (want, layer) in enumerate(zip(expected, have, strict=True))
        if not _is_close(torch.as_tensor(want, dtype=torch.float64), layer, 1e-7, 1e-12)
    ]
    return Problem(
        f"wrong values in {', '.join(wrong)} ({depth - len(wrong)} of {depth} layers right)",
        "for each layer: the product of the layers above it, transposed, times the residual, "
        "times the product of the layers below it, transposed",
    )


COMPRESSED_GD_STEP = register(
    Exercise(
        id="04.compressed_gd_step",
        title="Capstone: one step of the compressed network with the discrepant rate",
        signature="compressed_gd_step(layers, target, lr, alpha) -> [new W_1, ..., new W_L]",
        make_cases=_step_cases,
        reference=reference_compressed_gd_step,
        compare=compare_step,
        hint="every layer's gradient is its neighbours' products wrapped around the residual "
        "W_{L:1} - M*: the layers above it (transposed) on the left, the layers below it "
        "(transposed) on the right; compute all of them from the old weights, then step the end "
        "layers by alpha * lr and the middle layers by lr",
        tags=(CAPSTONE_TAG,),
    )
)
