"""Lesson 04's capstone exercise, ``04.compressed_gd_step``.

One step of the compressed network with the discrepant rate: the reference answer, hidden cases
and named mistakes; registered when ``lesson04`` (which imports this module) is imported.
"""

from __future__ import annotations

import functools

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


def reference_compressed_gd_step(layers, target, eta, alpha):
    """One gradient step on ``1/2 ||W_{L:1} - M*||_F^2`` with ``[alpha eta, eta, ..., alpha eta]``.

    ``eta`` is the step on the SUMMED loss (the course's ``lr`` on the mean loss is ``eta d^2``).

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
    network.descend(lower, gradient, rates_of(network.depth, eta, alpha))
    return [w.contiguous() for w in network.layers]


def _step_cases() -> list[Case]:
    generator = seeded_generator(4400)
    settings = [  # (d, r_hat, depth, eta, alpha); the last is the original network (r_hat = d)
        (8, 3, 3, 0.05, 5.0),
        (10, 4, 4, 0.02, 2.0),
        (6, 2, 2, 0.05, 3.0),
        (12, 6, 5, 0.01, 0.5),
        (5, 5, 3, 0.05, 1.0),
    ]
    cases = []
    for d, r_hat, depth, eta, alpha in settings:
        widths = [d] + [r_hat] * (depth - 1) + [d]
        layers = [
            random_matrix(widths[i + 1], widths[i], generator) / widths[i] ** 0.5
            for i in range(depth)
        ]
        u = random_matrix(d, 2, generator)
        target = u @ random_matrix(2, d, generator) / d**0.5
        label = f"d={d}, r_hat={r_hat}, depth={depth}, eta={eta:g}, alpha={alpha:g}"
        cases.append(Case((layers, target, eta, alpha), label))
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


def _step_variant(layers, target, eta, alpha, *, variant):
    """The step with one named mistake (``variant``), written from the formula, not the core."""
    depth = len(layers)
    first, middle, last = alpha * eta, eta, alpha * eta
    if variant == "alpha everywhere":
        first = middle = last = alpha * eta
    elif variant == "alpha middle":
        first, middle, last = eta, alpha * eta, eta
    elif variant == "plain":
        first = last = eta
    elif variant == "alpha first":
        last = eta
    elif variant == "alpha last":
        first = eta
    rates = [first] + [middle] * (depth - 2) + [last]
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
    """A named mistake whose ``compute`` returns the wrong step's layers (the check flattens
    them; capstone 04's figure runs them: ``tests/test_demos_lesson04.py``)."""
    return Mistake(functools.partial(_step_variant, variant=variant), what, hint)


_ALL_FROM_OLD = (
    "compute every layer's gradient from the OLD weights first (keep them aside), then update "
    "all layers"
)
_RATE_SPLIT = "W_1 and W_L step with alpha * eta, the middle layers with eta"
_STEP_MISTAKES = (
    _step_mistake(
        "plain",
        "wrong rates: this is the plain step, every layer moved with eta and the end layers "
        "did not get alpha",
        "the discrepant rate gives the first and the last layer the larger step: " + _RATE_SPLIT,
    ),
    _step_mistake(
        "alpha everywhere",
        "wrong rates: alpha was applied to EVERY layer, the middle layers also stepped with "
        "alpha * eta",
        "only the end layers, which hold the subspace, get alpha: " + _RATE_SPLIT,
    ),
    _step_mistake(
        "alpha middle",
        "wrong rates: alpha was applied to the middle layers only (the end layers stepped "
        "with eta)",
        "it is the other way round: " + _RATE_SPLIT,
    ),
    _step_mistake(
        "alpha first",
        "wrong rates: alpha was applied to the first layer only (W_L stepped with eta); the "
        "gradients are right",
        "both end layers get alpha: " + _RATE_SPLIT,
    ),
    _step_mistake(
        "alpha last",
        "wrong rates: alpha was applied to the last layer only (W_1 stepped with eta); the "
        "gradients are right",
        "both end layers get alpha: " + _RATE_SPLIT,
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
# What the check compares: each mistake's layers, flattened like the student's.
_FLAT_MISTAKES = tuple(
    Mistake(lambda *args, wrong=m.compute: _flat(wrong(*args)), m.what, m.hint)
    for m in _STEP_MISTAKES
)


def _rate_factors(layers, expected, have, wrong) -> list[tuple[int, float]] | None:
    """For each wrong layer, the factor c with ``new - old = c (right new - old)``, when every
    wrong layer's step is such a multiple (to 1e-7): the gradient is right, its rate is not."""
    found = []
    for i in wrong:
        old = torch.as_tensor(layers[i], dtype=torch.float64)
        right = torch.as_tensor(expected[i], dtype=torch.float64) - old
        step = have[i] - old
        scale = float(torch.dot(right.flatten(), right.flatten()))
        if scale == 0:
            return None
        factor = float(torch.dot(step.flatten(), right.flatten())) / scale
        if not _is_close(factor * right, step, 1e-7, 1e-14):
            return None
        found.append((i, factor))
    return found or None


def compare_step(expected, got, case: Case) -> Problem | None:
    """The new layers, layer by layer: count, shapes, then the values (named mistakes first)."""
    layers, _, _, alpha = case.args
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
        _flat(expected), _flat(have), case, mistakes=_FLAT_MISTAKES, name="the new layers",
        rtol=1e-7,
    )  # fmt: skip
    if problem is None or not problem.what.startswith(("wrong values", "the new layers is")):
        return problem
    wrong = [
        i
        for i, (want, layer) in enumerate(zip(expected, have, strict=True))
        if not _is_close(torch.as_tensor(want, dtype=torch.float64), layer, 1e-7, 1e-12)
    ]
    rates = _rate_factors(layers, expected, have, wrong)
    if rates is not None:
        steps = ", ".join(
            f"{layer_name(i, depth)} is {c:.3g} times the right one" for i, c in rates
        )
        return Problem(
            f"wrong rates: the step of {steps} (its direction is right, so the gradient is; "
            f"alpha = {alpha:g} here)",
            _RATE_SPLIT,
        )
    wrong = [layer_name(i, depth) for i in wrong]
    return Problem(
        f"wrong values in {', '.join(wrong)} ({depth - len(wrong)} of {depth} layers right)",
        "for each layer: the product of the layers above it, transposed, times the residual, "
        "times the product of the layers below it, transposed",
    )


COMPRESSED_GD_STEP = register(
    Exercise(
        id="04.compressed_gd_step",
        title="Capstone: one step of the compressed network with the discrepant rate",
        signature="compressed_gd_step(layers, target, eta, alpha) -> [new W_1, ..., new W_L]",
        make_cases=_step_cases,
        reference=reference_compressed_gd_step,
        compare=compare_step,
        hint="every layer's gradient is its neighbours' products wrapped around the residual "
        "W_{L:1} - M*: the layers above it (transposed) on the left, the layers below it "
        "(transposed) on the right; compute all of them from the old weights, then step the end "
        "layers by alpha * eta and the middle layers by eta (eta: the step on the summed loss)",
        tags=(CAPSTONE_TAG,),
    )
)
