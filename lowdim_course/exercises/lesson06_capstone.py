"""Lesson 06's capstone exercise, ``06.compress_and_train``: the compression, built by the student.

``compress_and_train(surrogate, features, labels, head, r_hat, depth, eps, lr, alpha, steps)
-> (block, losses)``: start the compressed block from the surrogate's top singular vectors
(``W_1 = eps V_hat^T``, ``W_l = eps I``, ``W_L = eps U_hat``, Kwon et al. 2024, Sec. 3.2) and
train it with the head by full-batch Adam, the discrepant rate ``alpha lr`` on the block's
first layer only (their Sec. 5). The reference answer, hidden cases and named mistakes;
registered when ``lesson06`` (which imports this module) is imported.

The hidden cases keep ``r_hat`` at most the surrogate's rank, where the top singular vectors
are defined up to a common sign per pair; flipping a pair flips a row of ``W_1``, a row and a
column of each middle layer and a column of ``W_L``, which changes neither the loss nor Adam's
elementwise steps, so every correct start gives the same losses.
"""

from __future__ import annotations

import torch
from torch import nn

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
)
from .lesson06_blocks import reference_block_surrogate, reference_compressed_block

# ``check`` copies tensors but not modules: the student's call trains the case's head in place
# before the reference and the mistakes run. So a case's head keeps its initial weights in
# ``_initial_weights`` (a plain attribute, not a parameter), and the reference and the mistakes
# put them back (in place) before they train it.


def _remember_initial_weights(module: nn.Module) -> nn.Module:
    module._initial_weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
    return module


def _restart(head: nn.Module) -> nn.Module:
    """``head`` itself, back at a case's initial weights (when it has them), no gradients."""
    initial = getattr(head, "_initial_weights", None)
    if initial is not None:
        head.load_state_dict(initial)
    for parameter in head.parameters():
        parameter.grad = None
    return head


def linear_block(weights) -> nn.Sequential:
    """Bias-free ``nn.Linear`` layers holding ``weights`` (out x in each), input side first."""
    layers = []
    for weight in weights:
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(weight)
        layers.append(layer)
    return nn.Sequential(*layers)


def _spectral_weights(surrogate, r_hat, depth, eps, *, swap=False, smallest=False):
    """``[eps V_hat^T, eps I, ..., eps U_hat]`` from the SVD (or a wrong variant of it)."""
    u, _, vh = torch.linalg.svd(surrogate, full_matrices=False)
    chosen = slice(-r_hat, None) if smallest else slice(None, r_hat)
    first, last = vh[chosen], u[:, chosen]
    if swap:  # W_1 from the left singular vectors, W_L from the right ones
        first, last = u[:, chosen].T, vh[chosen].T
    eye = torch.eye(r_hat, dtype=surrogate.dtype)
    return [eps * first, *[eps * eye] * (depth - 2), eps * last]


def _variant(block_factors, head_factor=1.0, *, swap=False, smallest=False, optimizer="adam",
             zero_grad=True, head_only=False):  # fmt: skip
    """A training run with the block's layer rates ``block_factors(L)`` times lr ("alpha" for
    alpha), the head's ``head_factor``, and the start from ``_spectral_weights``."""

    def compute(surrogate, features, labels, head, r_hat, depth, eps, lr, alpha, steps):
        head = _restart(head)
        block = linear_block(_spectral_weights(surrogate, r_hat, depth, eps, swap=swap,
                                          smallest=smallest))  # fmt: skip

        def rate(factor):
            return lr * (alpha if factor == "alpha" else factor)

        groups = [{"params": list(head.parameters()), "lr": rate(head_factor)}]
        if not head_only:
            groups += [
                {"params": [layer.weight], "lr": rate(f)}
                for layer, f in zip(block, block_factors(depth), strict=True)
            ]
        make = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
        opt = make(groups, lr=lr)
        losses = []
        for _ in range(steps):
            if zero_grad:
                opt.zero_grad()
            loss = nn.functional.cross_entropy(head(block(features)), labels)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return block, losses

    return compute


def _first(depth):
    return ["alpha"] + [1.0] * (depth - 1)


def reference_compress_and_train(
    surrogate, features, labels, head, r_hat, depth, eps, lr, alpha, steps
):
    """The course's block (:func:`lowdim_course.nonlinear.compressed_block_layers`) trained by
    :func:`lowdim_course.nonlinear.train_block_on_features`, alpha on the first layer."""
    from ..nonlinear import train_block_on_features

    head = _restart(head)
    block = reference_compressed_block(surrogate, r_hat, depth, eps)
    losses = train_block_on_features(
        block, head, features, labels, lr=lr, alpha=alpha, steps=steps, alpha_layers="first"
    )
    return block, losses


# Each is visible in capstone 06's figure (its printed final training loss moves by more than a
# third on the lesson's digits features; tests/test_demos_lesson06.py runs every one).
_CAPSTONE_MISTAKES = (
    Mistake(
        _variant(lambda depth: ["alpha"] + [1.0] * (depth - 2) + ["alpha"]),
        "alpha was put on both ends of the block (Lessons 04-05's convention for matrix "
        "problems); here only the first layer steps with alpha lr",
        "Kwon et al. put the discrepant rate on the first layer of the block in their "
        "nonlinear experiment, and so does this lesson",
    ),
    Mistake(
        _variant(lambda depth: ["alpha"] * depth),
        "every layer of the block stepped with alpha lr, not only the first",
        "the discrepant rate is a difference between layers: only the block's first "
        "(input-side) layer is faster; the other block layers and the head keep lr",
    ),
    Mistake(
        _variant(lambda depth: [1.0] * (depth - 1) + ["alpha"]),
        "alpha was put on the block's last layer instead of its first",
        "the first layer is the one that reads the features: block[0], the r_hat x w layer",
    ),
    Mistake(
        _variant(lambda depth: [1.0] * depth, "alpha"),
        "alpha was put on the head (the output layer) instead of the block's first layer",
        "the discrepant rate belongs to the compressed block: its first layer at alpha lr, "
        "the head at lr",
    ),
    Mistake(
        _variant(_first, "alpha"),
        "the head also stepped with alpha lr",
        "only the block's first layer gets alpha lr; the head is an ordinary layer at lr",
    ),
    Mistake(
        _variant(lambda depth: [1.0] * depth),
        "no discrepancy: every layer stepped with lr (alpha was not used)",
        "give the block's first layer its own parameter group, with rate alpha * lr",
    ),
    Mistake(
        _variant(_first, swap=True),
        "the block started from the wrong singular vectors: W_1 from the left ones (U) and W_L "
        "from the right ones (V)",
        "the first layer reads the features, which live in S's row space: W_1 = eps V_hat^T, "
        "and the last layer writes into S's column space: W_L = eps U_hat",
    ),
    Mistake(
        _variant(_first, smallest=True),
        "the block started from the singular vectors of the SMALLEST singular values",
        "the SVD returns the singular values in decreasing order: keep the first r_hat",
    ),
    Mistake(
        _variant(_first, zero_grad=False),
        "the gradients were never cleared (zero_grad forgotten): each step used the sum of all "
        "gradients so far",
        "backward() adds to .grad; clear the old gradients at the start of every step",
    ),
    Mistake(
        _variant(_first, optimizer="sgd"),
        "plain gradient descent (SGD): the lesson trains with Adam",
        "torch.optim has the optimizer the lesson uses; keep its default betas and eps",
    ),
    Mistake(
        _variant(_first, head_only=True),
        "only the head was trained: the block's layers are not in the optimizer",
        "every block layer and the head must be in the optimizer's parameter groups",
    ),
)


def _losses_only(mistake: Mistake) -> Mistake:
    return Mistake(lambda *args: mistake.compute(*args)[1], mistake.what, mistake.hint)


def _compare(expected, got, case) -> Problem | None:
    """The block's layers and shapes, then the losses (which carry the start and the rates)."""
    surrogate, _, _, _, r_hat, depth, _, _, _, steps = case.args
    width = surrogate.shape[0]
    if not isinstance(got, tuple | list) or len(got) != 2:
        return Problem(
            f"expected (block, losses), got {type(got).__name__}",
            "return the block you built and the list of losses: `return block, losses`",
        )
    block, losses = got
    layers = list(block) if isinstance(block, nn.Sequential | list | tuple) else None
    if layers is None or not all(isinstance(layer, nn.Linear) for layer in layers):
        return Problem(
            "the block must be an nn.Sequential (or a list) of nn.Linear layers",
            "build one bias-free nn.Linear per factor, input side first",
        )
    shapes = [(r_hat, width), *[(r_hat, r_hat)] * (depth - 2), (width, r_hat)]
    if [tuple(layer.weight.shape) for layer in layers] != shapes:
        return Problem(
            f"the block's weights have shapes {[tuple(x.weight.shape) for x in layers]}, "
            f"expected {shapes} ({case.label})",
            "nn.Linear(in_features, out_features) stores an out x in weight; the first layer "
            "maps w -> r_hat",
        )
    if len(losses) != steps:
        return Problem(
            f"wrong length: {len(losses)} losses for {steps} steps",
            "append one loss per step, the one computed before the step's update",
        )
    return compare_arrays(
        expected[1],
        [float(v) for v in losses],
        case,
        mistakes=[_losses_only(m) for m in _CAPSTONE_MISTAKES],
        name="the losses",
        rtol=1e-6,
        nan_hint="the loss diverged: check the learning rates of the parameter groups",
    )


def _training_cases() -> list[Case]:
    generator = seeded_generator(6200)
    # (n, w, K, r_hat, depth, eps, lr, alpha, steps): r_hat <= K - 1, the surrogate's rank
    settings = [
        (80, 8, 4, 2, 3, 1.0, 1e-2, 3.0, 25),
        (120, 10, 5, 3, 2, 0.7, 5e-3, 4.0, 30),
        (60, 12, 6, 4, 4, 1.3, 1e-2, 0.5, 20),
    ]
    cases = []
    for n, width, classes, r_hat, depth, eps, lr, alpha, steps in settings:
        features = torch.relu(random_matrix(n, width, generator))
        labels = (features @ random_matrix(width, classes, generator)).argmax(dim=1)
        head = nn.Linear(width, classes, dtype=torch.float64)
        with torch.no_grad():
            head.weight.copy_(random_matrix(classes, width, generator) / width**0.5)
            head.bias.copy_(0.1 * random_matrix(1, classes, generator).flatten())
        surrogate = reference_block_surrogate(features, labels, head.weight.detach(), head.bias)
        args = (surrogate.detach(), features, labels, _remember_initial_weights(head), r_hat,
                depth, eps, lr, alpha, steps)  # fmt: skip
        label = f"n={n}, w={width}, K={classes}, r_hat={r_hat}, L={depth}, eps={eps:g}, "
        cases.append(Case(args, label + f"alpha={alpha:g}"))
    return cases


COMPRESS_AND_TRAIN = register(
    Exercise(
        id="06.compress_and_train",
        title="Compress the block: start it from the surrogate, train it with the discrepant rate",
        signature="compress_and_train(surrogate, features, labels, head, r_hat, depth, eps, lr, "
        "alpha, steps) -> (block, list of steps losses)",
        make_cases=_training_cases,
        reference=reference_compress_and_train,
        compare=_compare,
        hint="the start: the surrogate's top r_hat singular pairs, the right singular vectors "
        "in the first (input-side) layer and the left ones in the last, identities between, "
        "all times eps; the training: one Adam optimizer whose parameter groups give the "
        "block's first layer alpha lr and every other layer lr",
        tags=(CAPSTONE_TAG,),
    )
)
