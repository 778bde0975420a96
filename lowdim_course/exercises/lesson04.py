"""Lesson 04 exercises: the compressed network's spectral init, its size, its learning rates.

* ``04.spectral_init``: ``spectral_init(surrogate, r_hat, depth, eps) -> [W_1, ..., W_L]`` with
  ``surrogate = U S V^T``: ``W_1 = eps V_hat^T`` (r_hat x d), ``W_l = eps I`` for 1 < l < L,
  ``W_L = eps U_hat`` (d x r_hat), U_hat, V_hat the top-r_hat singular vectors (Kwon et al.
  2024, Sec. 3.2). Reference: :func:`lowdim_course.networks.spectral_init`. Singular vectors are
  defined up to a common sign per pair (u_k, v_k), so the check fixes each pair's sign before
  comparing the layers, then compares the sign-free end-to-end product ``eps^L U_hat V_hat^T``.
* ``04.compressed_param_count``: ``2 d r_hat + (L - 2) r_hat^2``
  (:func:`lowdim_course.networks.compressed_param_count`).
* ``04.layer_learning_rates``: ``[alpha lr, lr, ..., lr, alpha lr]``, the discrepant learning
  rate (:func:`lowdim_course.training.layer_learning_rates`).
"""

from __future__ import annotations

import torch

from ..networks import compressed_param_count, spectral_init
from ..training import layer_learning_rates
from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    _is_close,
    compare_arrays,
    compare_integers,
    random_matrix,
    register,
    seeded_generator,
    to_tensor,
)
from .self_check import choice_question
from .spectral_layers import compare_spectral_init, layer_name

# ---------------------------------------------------------------------------------------------
# 04.spectral_init
# ---------------------------------------------------------------------------------------------


def reference_spectral_init(surrogate, r_hat, depth, eps):
    return spectral_init(surrogate, r_hat, depth, eps)


def _spectral_cases() -> list[Case]:
    generator = seeded_generator(4000)
    settings = [  # (d_out, d_in, r_hat, depth, eps)
        (8, 8, 3, 3, 0.1),
        (12, 12, 4, 2, 1e-2),
        (10, 10, 2, 4, 0.5),
        (20, 20, 6, 3, 1e-2),
        (6, 9, 3, 3, 0.2),
    ]
    cases = []
    for d_out, d_in, r_hat, depth, eps in settings:
        surrogate = random_matrix(d_out, d_in, generator)
        size = f"{d_out} x {d_in}" if d_out != d_in else f"d={d_in}"
        cases.append(
            Case((surrogate, r_hat, depth, eps), f"{size}, r_hat={r_hat}, depth={depth}, eps={eps}")
        )
    return cases


SPECTRAL_INIT = register(
    Exercise(
        id="04.spectral_init",
        title="Spectral initialization of the compressed network",
        signature="spectral_init(surrogate, r_hat, depth, eps) -> [W_1, ..., W_L]",
        make_cases=_spectral_cases,
        reference=reference_spectral_init,
        compare=compare_spectral_init,
        hint="one SVD of the surrogate gives both ends: the first layer holds the top r_hat "
        "right singular vectors as its rows, the last layer the top r_hat left singular vectors "
        "as its columns, each scaled by eps; every middle layer is eps times the identity",
    )
)


# ---------------------------------------------------------------------------------------------
# 04.compressed_param_count
# ---------------------------------------------------------------------------------------------


def _count_cases() -> list[Case]:
    return [
        Case((100, 20, 3), "d=100, r_hat=20, depth=3"),
        Case((50, 10, 2), "d=50, r_hat=10, depth=2"),
        Case((30, 7, 5), "d=30, r_hat=7, depth=5"),
        Case((64, 8, 4), "d=64, r_hat=8, depth=4"),
        Case((10, 10, 6), "d=10, r_hat=10, depth=6"),
    ]


_COUNT_MISTAKES = (
    Mistake(
        lambda d, r, depth: 2 * d * r + (depth - 1) * r * r,
        "counted L-1 middle layers (off by one in the depth)",
        "the first and the last layer are not middle layers: there are L-2 of them",
    ),
    Mistake(
        lambda d, r, depth: 2 * d * r + depth * r * r,
        "counted L middle layers (off by one in the depth)",
        "the first and the last layer are not middle layers: there are L-2 of them",
    ),
    Mistake(
        lambda d, r, depth: 2 * d * r + (depth - 3) * r * r,
        "counted L-3 middle layers (off by one in the depth)",
        "there are L-2 middle layers, each r_hat x r_hat",
    ),
    Mistake(
        lambda d, r, depth: d * r + (depth - 2) * r * r,
        "counted only one of the two d x r_hat end layers",
        "W_1 (r_hat x d) and W_L (d x r_hat) have d r_hat parameters each",
    ),
    Mistake(
        lambda d, r, depth: depth * d * d,
        "this is the ORIGINAL network's count L d^2",
        "the compressed network has width r_hat: 2 d r_hat + (L - 2) r_hat^2",
    ),
    Mistake(
        lambda d, r, depth: 2 * d * r + (depth - 2) * r,
        "counted r_hat (not r_hat^2) parameters per middle layer",
        "a middle layer is an r_hat x r_hat matrix",
    ),
)

COMPRESSED_PARAM_COUNT = register(
    Exercise(
        id="04.compressed_param_count",
        title="Parameters of the compressed network",
        signature="compressed_param_count(d, r_hat, depth) -> int",
        make_cases=_count_cases,
        reference=compressed_param_count,
        compare=lambda expected, got, case: compare_integers(
            expected, got, case, mistakes=_COUNT_MISTAKES
        ),
        hint="add up the layer sizes: W_1 is r_hat x d, L-2 middle layers r_hat x r_hat, "
        "W_L is d x r_hat",
    )
)


# ---------------------------------------------------------------------------------------------
# 04.layer_learning_rates
# ---------------------------------------------------------------------------------------------


def _rates_cases() -> list[Case]:
    return [
        Case((3, 50.0, 5.0), "depth=3, lr=50, alpha=5"),
        Case((2, 0.1, 3.0), "depth=2, lr=0.1, alpha=3"),
        Case((5, 10.0, 2.0), "depth=5, lr=10, alpha=2"),
        Case((4, 1e-3, 0.5), "depth=4, lr=1e-3, alpha=0.5"),
        Case((3, 2.0, 1.0), "depth=3, lr=2, alpha=1"),
    ]


def _rates(depth, first, middle, last):
    return [first] + [middle] * (depth - 2) + [last] if depth >= 2 else [first]


_RATES_MISTAKES = (
    Mistake(
        lambda depth, lr, alpha: _rates(depth, alpha * lr, lr, lr),
        "alpha is applied to the first layer only",
        "the first AND the last layer step with alpha * lr",
    ),
    Mistake(
        lambda depth, lr, alpha: _rates(depth, lr, lr, alpha * lr),
        "alpha is applied to the last layer only",
        "the first AND the last layer step with alpha * lr",
    ),
    Mistake(
        lambda depth, lr, alpha: _rates(depth, lr, alpha * lr, lr),
        "alpha is applied to the middle layers instead of the end layers",
        "the middle layers keep lr; the first and last layers get alpha * lr",
    ),
    Mistake(
        lambda depth, lr, alpha: _rates(depth, lr / alpha, lr, lr / alpha),
        "divided by alpha instead of multiplying",
        "the end layers step with alpha * lr",
    ),
    Mistake(
        lambda depth, lr, alpha: _rates(depth, alpha, lr, alpha),
        "the end layers get alpha itself, not alpha * lr",
        "alpha is a factor on the learning rate: alpha * lr",
    ),
)

LAYER_LEARNING_RATES = register(
    Exercise(
        id="04.layer_learning_rates",
        title="The discrepant learning rate",
        signature="layer_learning_rates(depth, lr, alpha) -> [alpha lr, lr, ..., lr, alpha lr]",
        make_cases=_rates_cases,
        reference=layer_learning_rates,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            mistakes=_RATES_MISTAKES,
            name="the list of learning rates",
            rtol=1e-6,
        ),
        hint="one rate per layer, first layer first: the two end layers step alpha times "
        "further than the depth - 2 middle layers, which keep lr",
    )
)


# ---------------------------------------------------------------------------------------------
# Capstone 04.compressed_gd_step: one step of the compressed network with the discrepant rate
# ---------------------------------------------------------------------------------------------


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


WHY_TWO_R = register(
    choice_question(
        id="04.why_two_r",
        title="Why r_hat = 2r and not r?",
        options={
            "a": "Lesson 03's invariant subspace has dimension 2r, so the compressed network "
            "needs 2r directions to hold everything the original network moves",
            "b": "slack for an inexact surrogate: when its top r singular vectors are a little "
            "off, the next ones give the end layers room to reach the target's subspace; for "
            "factorization, where the surrogate is exact, r_hat = r suffices",
            "c": "a network of width r cannot fit a rank-r target: one spare direction per "
            "target direction is needed",
            "d": "the extra modes speed up the learning of the r target modes",
        },
        correct="b",
        why_wrong={
            "a": "tempting, because both numbers are 2r, but r of the original network's 2r "
            "moving directions come from its random initialization (where the random layers "
            "send the target's directions); the aligned compressed network does not have them",
            "c": "a width-r network can represent every rank-r matrix: in the factorization race "
            "of Section 4, r_hat = r = 5 reaches 1e-4 in the same 621 iterations as r_hat = 10 "
            "and ends at 3e-16, below r_hat = 10's floor (try it)",
            "d": "Section 3 shows the modes do not interact: each follows its own scalar "
            "recursion, and the extra ones (s_i = 0) never grow; they only add a small floor "
            "rho^L sqrt(r_hat - r)",
        },
        hint="ask what the compressed network would lack with exactly r directions, in "
        "factorization (exact surrogate) and in completion (a noisy one); Section 1 says it",
    )
)
