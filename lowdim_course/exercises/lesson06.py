"""Lesson 06 exercises: the compressed deep linear block inside a nonlinear network.

* ``06.block_surrogate``: ``block_surrogate(features, labels, output_weight, output_bias) -> S``,
  minus the gradient of the mean cross-entropy with respect to the block's end-to-end matrix B
  at ``B = 0``: ``S = C^T (Y - P)^T Phi / n`` with ``P = softmax(c)`` in every row
  (:func:`lowdim_course.nonlinear.block_surrogate`, Kwon et al. 2024, Sec. 5, with the course's
  choice of surrogate).
* ``06.compressed_block``: ``compressed_block(surrogate, r_hat, depth, eps) -> nn.Sequential`` of
  ``depth`` bias-free ``nn.Linear`` layers holding the spectral init ``W_1 = eps V_hat^T``,
  ``W_l = eps I``, ``W_L = eps U_hat`` (:func:`lowdim_course.nonlinear.compressed_block_layers`).
  The check reads the layers' shapes, their biases and parameter count
  (``2 w r_hat + (L-2) r_hat^2``), then compares the weights as ``04.spectral_init`` does (a
  common sign per singular pair is free).
* ``06.compress_and_train`` (capstone): ``compress_and_train(surrogate, features, labels, head,
  r_hat, depth, eps, lr, alpha, steps) -> (block, losses)``: the compressed block started from
  the surrogate's top singular vectors and trained with the head by full-batch Adam, ``alpha lr``
  on the block's first layer only (Kwon et al. 2024, Sec. 3.2 and 5); the losses carry both the
  start and the rates, and eleven wrong runs are named (alpha on both ends, on every layer, on
  the head, none; U and V swapped, the smallest singular vectors; no ``zero_grad``, ...).
* ``06.surrogate_rank`` (self-check): why the surrogate's rank is at most ``K - 1``.
"""

from __future__ import annotations

import torch
from torch import nn

from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
)
from .lesson06_blocks import _softmax_rows, reference_block_surrogate, reference_compressed_block

# the capstone lives in its own module: importing it registers it
from .lesson06_capstone import (  # noqa: F401
    COMPRESS_AND_TRAIN,
    reference_compress_and_train,
)
from .self_check import choice_question
from .spectral_layers import compare_spectral_init

# ---------------------------------------------------------------------------------------------
# 06.block_surrogate
# ---------------------------------------------------------------------------------------------


def _surrogate_cases() -> list[Case]:
    generator = seeded_generator(6000)
    settings = [(40, 6, 3), (25, 8, 4), (60, 5, 10), (30, 12, 3)]  # (n, w, classes)
    cases = []
    for n, width, classes in settings:
        features = torch.relu(random_matrix(n, width, generator))
        labels = torch.randint(classes, (n,), generator=generator)
        weight = random_matrix(classes, width, generator) / width**0.5
        bias = random_matrix(1, classes, generator).flatten()
        cases.append(Case((features, labels, weight, bias), f"n={n}, w={width}, K={classes}"))
    return cases


def _surrogate_with(residual_fn):
    def compute(features, labels, weight, bias):
        n, classes = features.shape[0], weight.shape[0]
        one_hot = torch.nn.functional.one_hot(labels, classes).to(torch.float64)
        return weight.T @ residual_fn(one_hot, bias, n).T @ features / n

    return compute


_SURROGATE_MISTAKES = (
    Mistake(
        _surrogate_with(lambda y, c, n: y),
        "the predictions P are missing: this is C^T Y^T Phi / n",
        "the gradient of the cross-entropy with respect to the logits is P - Y, not -Y",
    ),
    Mistake(
        _surrogate_with(lambda y, c, n: y - 1.0 / y.shape[1]),
        "P is uniform (1/K): the output bias c was left out of the logits",
        "at B = 0 the logits are the output bias c, so P = softmax(c) in every row",
    ),
    Mistake(
        _surrogate_with(lambda y, c, n: y - torch.sigmoid(c).expand(n, -1)),
        "P is a sigmoid of the logits, not a softmax",
        "cross-entropy over K classes: P = softmax(c) = exp(c) / sum(exp(c))",
    ),
    Mistake(
        _surrogate_with(lambda y, c, n: n * (y - _softmax_rows(c, n)) / y.shape[1]),
        "averaged over the classes, not over the samples",
        "the mean cross-entropy divides by the number of samples n",
    ),
)


BLOCK_SURROGATE = register(
    Exercise(
        id="06.block_surrogate",
        title="The surrogate of the linear block: minus the gradient at B = 0",
        signature="block_surrogate(features, labels, output_weight, output_bias) -> S (w x w)",
        make_cases=_surrogate_cases,
        reference=reference_block_surrogate,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_SURROGATE_MISTAKES, name="S", rtol=1e-6
        ),
        hint="at B = 0 every sample's logits are the output bias c, so every row of P is "
        "softmax(c); the gradient of the mean cross-entropy in the logits is (P - Y) / n, and "
        "the chain rule carries it back through C (on the left) and the features (on the right)",
    )
)


# ---------------------------------------------------------------------------------------------
# 06.compressed_block
# ---------------------------------------------------------------------------------------------


def _block_cases() -> list[Case]:
    generator = seeded_generator(6100)
    settings = [(12, 4, 3, 1.0), (16, 5, 2, 0.5), (10, 3, 4, 1.0), (20, 6, 3, 0.1)]
    cases = []
    for width, r_hat, depth, eps in settings:
        surrogate = random_matrix(width, width, generator)
        cases.append(
            Case(
                (surrogate, r_hat, depth, eps),
                f"w={width}, r_hat={r_hat}, depth={depth}, eps={eps}",
            )
        )
    return cases


def compare_compressed_block(expected, got, case: Case) -> Problem | None:
    """Modules first (type, count, bias, shapes, parameters), then the spectral init."""
    surrogate, r_hat, depth, eps = case.args
    width = surrogate.shape[0]
    if isinstance(got, nn.Linear):
        got = [got]
    if not isinstance(got, nn.Sequential | nn.ModuleList | list | tuple):
        return Problem(
            f"returned {type(got).__name__}, expected nn.Sequential of {depth} nn.Linear layers",
            "return nn.Sequential(layer_1, ..., layer_L)",
        )
    layers = list(got)
    if any(isinstance(layer, torch.Tensor) for layer in layers):
        return Problem(
            "returned weight matrices, not layers",
            "the block is made of layers: each matrix W (out x in) becomes the weight of a "
            "bias-free linear layer with in inputs and out outputs, copied in without tracking "
            "gradients",
        )
    if not all(isinstance(layer, nn.Linear) for layer in layers):
        kinds = sorted({type(layer).__name__ for layer in layers})
        return Problem(
            f"the block holds {', '.join(kinds)}: every layer must be an nn.Linear",
            "the block is linear: no activation between its layers",
        )
    if len(layers) != depth:
        return Problem(
            f"returned {len(layers)} layers for depth={depth} (off by one?)",
            "depth L means L layers: W_1, then L-2 middle layers eps I, then W_L",
        )
    with_bias = [k + 1 for k, layer in enumerate(layers) if layer.bias is not None]
    if with_bias:
        return Problem(
            f"layer(s) {with_bias} have a bias: the block is W_L ... W_1 with no biases "
            "(and the biases add parameters)",
            "nn.Linear adds a bias unless it is told not to",
        )
    for index, (want, layer) in enumerate(zip(expected, layers, strict=True)):
        shape, have = tuple(want.weight.shape), tuple(layer.weight.shape)
        if have != shape:
            flipped = " (in and out features swapped?)" if have == shape[::-1] else ""
            return Problem(
                f"layer {index + 1} has weight shape {have}, expected {shape}{flipped}",
                "nn.Linear(in_features, out_features) stores an out x in weight: the first "
                "layer maps w -> r_hat, the middle ones r_hat -> r_hat, the last r_hat -> w",
            )
    count = sum(p.numel() for layer in layers for p in layer.parameters())
    want_count = 2 * width * r_hat + (depth - 2) * r_hat**2
    if count != want_count:
        return Problem(
            f"the block has {count:,} parameters, expected 2 w r_hat + (L-2) r_hat^2 = "
            f"{want_count:,}",
            "only the L weight matrices are parameters",
        )
    weights = [layer.weight.detach() for layer in layers]
    problem = compare_spectral_init([layer.weight.detach() for layer in expected], weights, case)
    if problem is None:
        return None
    row_norms = torch.linalg.vector_norm(weights[0].to(torch.float64), dim=1)
    if not torch.allclose(row_norms, torch.full_like(row_norms, eps), rtol=1e-4):
        return Problem(
            f"wrong initial weights: the rows of W_1 should have norm eps={eps:g} (orthonormal "
            f"singular vectors times eps), got norms from {row_norms.min():.3g} to "
            f"{row_norms.max():.3g}: {problem.what}",
            "nn.Linear starts with random weights of its own: each layer's weight must be "
            "overwritten with its spectral-init matrix (eps times the singular vectors, or eps "
            "times the identity)",
        )
    return Problem(f"wrong initial weights: {problem.what}", problem.hint)


COMPRESSED_BLOCK = register(
    Exercise(
        id="06.compressed_block",
        title="The compressed linear block as layers",
        signature="compressed_block(surrogate, r_hat, depth, eps) -> nn.Sequential",
        make_cases=_block_cases,
        reference=reference_compressed_block,
        compare=compare_compressed_block,
        hint="the surrogate's top r_hat right singular vectors (as rows) open the block, its "
        "top r_hat left singular vectors (as columns) close it, identities sit in between, all "
        "times eps; each matrix goes into a bias-free linear layer whose weight is out x in",
    )
)


# ---------------------------------------------------------------------------------------------
# 06.surrogate_rank (self-check)
# ---------------------------------------------------------------------------------------------

SURROGATE_RANK = register(
    choice_question(
        id="06.surrogate_rank",
        title="The surrogate's rank for a regression head",
        options={"a": "2", "b": "3", "c": "64", "d": "1"},
        correct="b",
        why_wrong={
            "a": "K - 1 came from the classifier: a one-hot row and a softmax row each sum to "
            "one, so every row of Y - P sums to zero. Here the residual at B = 0 is Y - 1 c^T "
            "with real targets and c = 0: nothing makes its rows sum to zero, so it keeps rank 3",
            "c": "S is a product that passes through C^T (64 x 3): its rank is at most that of "
            "the narrowest factor, 3, whatever the features are",
            "d": "rank one would need every target y_i to point the same way in R^3; "
            "targets drawn at random span all three directions",
        },
        hint="write S = -dl/dB at B = 0 for the squared error as a product of three factors, "
        "as Section 2 did for the cross-entropy; find the narrowest one, and ask whether the "
        "residual's rows are forced to sum to zero here",
    )
)
