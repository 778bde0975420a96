"""Lesson 06's capstone exercise, ``06.train_compressed_block``.

Train the compressed block inside the network, with the discrepant rate on its first layer:
the reference answer, hidden cases and named mistakes; registered when ``lesson06`` (which
imports this module) is imported.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
)
from .lesson06_blocks import reference_block_surrogate, reference_compressed_block

#
# ``check`` copies tensors but not modules: the student's call trains the case's block and head
# in place before the reference runs. So every case module keeps its initial weights in
# ``_initial_weights`` (a plain attribute, not a parameter) and the reference and the mistakes
# train copies restored from them.


def _remember_initial_weights(module: nn.Module) -> nn.Module:
    module._initial_weights = {k: v.detach().clone() for k, v in module.state_dict().items()}
    return module


def _as_initialized(module: nn.Module) -> nn.Module:
    """A copy of a case's module holding its initial weights and no gradients."""
    fresh = copy.deepcopy(module)
    fresh.load_state_dict(getattr(module, "_initial_weights", module.state_dict()))
    for parameter in fresh.parameters():
        parameter.grad = None
    return fresh


def reference_train_compressed_block(block, head, features, labels, lr, alpha, steps):
    """Adam on head(block(features)) with alpha lr on the block's first layer; the losses
    (:func:`lowdim_course.nonlinear.train_block_on_features`)."""
    from ..nonlinear import train_block_on_features

    return train_block_on_features(
        _as_initialized(block), _as_initialized(head), features, labels,
        lr=lr, alpha=alpha, steps=steps, alpha_layers="first",
    )  # fmt: skip


def _training_cases() -> list[Case]:
    generator = seeded_generator(6200)
    # (n, w, K, r_hat, depth, lr, alpha, steps): tiny, a few milliseconds each
    settings = [
        (80, 8, 3, 2, 3, 1e-2, 3.0, 25),
        (120, 10, 4, 3, 2, 5e-3, 4.0, 30),
        (60, 12, 4, 4, 4, 1e-2, 0.5, 20),
    ]
    cases = []
    for n, width, classes, r_hat, depth, lr, alpha, steps in settings:
        features = torch.relu(random_matrix(n, width, generator))
        labels = (features @ random_matrix(width, classes, generator)).argmax(dim=1)
        head = nn.Linear(width, classes, dtype=torch.float64)
        with torch.no_grad():
            head.weight.copy_(random_matrix(classes, width, generator) / width**0.5)
            head.bias.copy_(0.1 * random_matrix(1, classes, generator).flatten())
        surrogate = reference_block_surrogate(features, labels, head.weight.detach(), head.bias)
        block = reference_compressed_block(surrogate.detach(), r_hat, depth, 1.0)
        args = (
            _remember_initial_weights(block), _remember_initial_weights(head), features, labels,
            lr, alpha, steps,
        )  # fmt: skip
        cases.append(
            Case(args, f"n={n}, w={width}, K={classes}, r_hat={r_hat}, L={depth}, alpha={alpha:g}")
        )
    return cases


def _train_variant(
    block_factors,
    head_factor=1.0,
    *,
    zero_grad=True,
    optimizer="adam",
    after=False,
    head_only=False,
):
    """A wrong training loop: the block's layers at ``factor * lr`` (``"alpha"`` for alpha)."""

    def compute(block, head, features, labels, lr, alpha, steps):
        block, head = _as_initialized(block), _as_initialized(head)
        layers = list(block)

        def rate(factor):
            return lr * (alpha if factor == "alpha" else factor)

        groups = [{"params": list(head.parameters()), "lr": rate(head_factor)}]
        if not head_only:
            factors = block_factors(len(layers))
            groups += [
                {"params": [w.weight], "lr": rate(f)} for w, f in zip(layers, factors, strict=True)
            ]
        maker = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
        opt = maker(groups, lr=lr)
        losses = []
        for _ in range(steps):
            if zero_grad:
                opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(head(block(features)), labels)
            loss.backward()
            opt.step()
            if after:
                with torch.no_grad():
                    loss = torch.nn.functional.cross_entropy(head(block(features)), labels)
            losses.append(float(loss.detach()))
        return losses

    return compute


def _first(depth):
    return ["alpha"] + [1.0] * (depth - 1)


_TRAINING_MISTAKES = (
    Mistake(
        _train_variant(lambda depth: ["alpha"] * depth),
        "every layer of the block stepped with alpha lr, not only the first",
        "the discrepant rate is a difference between layers: only the block's first "
        "(input-side) layer is faster, the other block layers and the head keep lr",
    ),
    Mistake(
        _train_variant(lambda depth: ["alpha"] + [1.0] * (depth - 2) + ["alpha"]),
        "alpha was put on both ends of the block (Lessons 04-05's matrix convention); here only "
        "the first layer steps with alpha lr",
        "Kwon et al. describe their nonlinear experiment with alpha on the block's first layer "
        "only, and so does the course (alpha_layers='first')",
    ),
    Mistake(
        _train_variant(lambda depth: [1.0] * (depth - 1) + ["alpha"]),
        "alpha was put on the block's last layer instead of its first",
        "the block's first layer is the one that reads the features (input side): block[0]",
    ),
    Mistake(
        _train_variant(lambda depth: [1.0] * depth, "alpha"),
        "alpha was put on the head (the output layer) instead of the block's first layer",
        "the discrepant rate belongs to the compressed block: its first layer steps with "
        "alpha lr, the head with lr",
    ),
    Mistake(
        _train_variant(_first, "alpha"),
        "the head also stepped with alpha lr",
        "only the block's first layer gets alpha lr; the head is an ordinary layer at lr",
    ),
    Mistake(
        _train_variant(lambda depth: [1.0] * depth),
        "no discrepancy: every layer stepped with lr (alpha was not used)",
        "give the block's first layer its own parameter group, with learning rate alpha * lr",
    ),
    Mistake(
        _train_variant(_first, zero_grad=False),
        "the gradients were never cleared (zero_grad forgotten): each step used the sum of all "
        "gradients so far",
        "backward() adds to .grad; clear the old gradients at the start of every step",
    ),
    Mistake(
        _train_variant(_first, after=True),
        "recorded each loss after its step, not before",
        "record the loss computed in the step, the one you call backward() on",
    ),
    Mistake(
        _train_variant(_first, optimizer="sgd"),
        "plain gradient descent (SGD): the lesson trains with Adam",
        "torch.optim has the optimizer the lesson uses; keep its default betas and eps",
    ),
    Mistake(
        _train_variant(_first, head_only=True),
        "only the head was trained: the block's layers are not in the optimizer",
        "every block layer and the head must be in the optimizer's parameter groups",
    ),
)


TRAIN_COMPRESSED_BLOCK = register(
    Exercise(
        id="06.train_compressed_block",
        title="Train the compressed block with the discrepant learning rate",
        signature="train_compressed_block(block, head, features, labels, lr, alpha, steps) "
        "-> list of steps losses",
        make_cases=_training_cases,
        reference=reference_train_compressed_block,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            mistakes=_TRAINING_MISTAKES,
            name="the losses",
            rtol=1e-6,
            nan_hint="the loss diverged: check the learning rates of the parameter groups",
        ),
        hint="one Adam optimizer with several parameter groups, each with its own learning "
        "rate: the block's first (input-side) layer at alpha times lr, every other block layer "
        "and the head at lr; each step clears the old gradients, computes the mean "
        "cross-entropy of the head applied to the block applied to the features, "
        "backpropagates and steps; keep the loss of every step",
        tags=(CAPSTONE_TAG,),
    )
)
