"""Lesson 02 exercises: deep mode dynamics and the effective rank.

* ``02.deep_mode_rhs``: the speed of a mode of an L-layer network from a balanced init,
  ``du/dt = lr L u^{2-2/L} (s - u)`` per gradient step (Saxe et al. 2014; Arora et al. 2019,
  Thm. 3); reference :func:`lowdim_course.theory.deep_dynamics.deep_mode_rhs`.
* ``02.effective_rank``: ``erank(W) = exp(-sum_k p_k log p_k)`` with
  ``p_k = sigma_k / sum_j sigma_j`` (Roy & Vetterli 2007, Def. 1; ``0 log 0 = 0``); reference
  :func:`lowdim_course.theory.rank_measures.effective_rank`.
* ``02.train_deep_linear`` (capstone): gradient descent on ``1/2 ||W_L ... W_1 - M||_F^2`` from
  ``W_l(0) = eps I``, every layer stepping from the same old weights with
  ``grad_l = W_{L:l+1}^T (W_{L:1} - M) W_{l-1:1}^T``; returns the singular values of the
  end-to-end matrix at t = 0..steps (Arora, Cohen, Hu & Luo 2019, Sec. 3); reference
  :func:`lowdim_course.theory.deep_dynamics.identity_init_spectra`.
* ``02.halve_the_init`` (self-check): how the wait before a mode takes off changes when the
  per-layer init is halved at depth 4 (``t* ~ a0^{-(L-2)}``: 4 times longer).

The theory package is imported when a check runs, not when this module is imported.
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
from .self_check import choice_question


def reference_deep_mode_rhs(u, s, depth, lr):
    from ..theory.deep_dynamics import deep_mode_rhs

    return deep_mode_rhs(u, s, depth, lr)


def reference_effective_rank(matrix):
    from ..theory.rank_measures import effective_rank

    return effective_rank(matrix)


def _rhs(u, s, depth, lr, *, factor=None, exponent=None):
    factor = depth if factor is None else factor
    exponent = 2.0 - 2.0 / depth if exponent is None else exponent
    return lr * factor * u**exponent * (s - u)


def _rhs_cases() -> list[Case]:
    settings = [(5.0, 3, 1e-3), (1.0, 2, 0.1), (2.0, 4, 0.01), (3.0, 5, 0.5), (0.5, 3, 2.0)]
    cases = []
    for s, depth, lr in settings:
        u = torch.linspace(0.02 * s, 0.98 * s, 6, dtype=torch.float64)
        label = f"s={s:g}, depth={depth}, lr={lr:g}, u = a tensor of 6 values in (0, s)"
        cases.append(Case((u, s, depth, lr), label))
    return cases


_RHS_MISTAKES = (
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth - 1, lr),
        "this is the formula for depth L-1 (off by one in the depth)",
        "use the depth L as given: factor L and exponent 2 - 2/L",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth + 1, lr),
        "this is the formula for depth L+1 (off by one in the depth)",
        "use the depth L as given: factor L and exponent 2 - 2/L",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, lr, exponent=2.0 / depth),
        "the exponent is 2/L; it should be 2 - 2/L",
        "u^{2-2/L}: for L = 2 this is u^1, the two-layer law 2u(s - u)",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, lr, exponent=2.0 - 1.0 / depth),
        "the exponent is 2 - 1/L; it should be 2 - 2/L",
        "u^{2-2/L}: for L = 2 this is u^1, the two-layer law 2u(s - u)",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, lr, factor=1),
        "the factor L is missing",
        "u = a^L, so du/dt = L a^{L-1} da/dt: the chain rule brings the depth out in front",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, 1.0),
        "the learning rate is missing",
        "per gradient step the speed is multiplied by lr (tau = 1/lr)",
    ),
    Mistake(
        lambda u, s, depth, lr: _rhs(u, s, depth, 1.0 / lr),
        "divided by the learning rate instead of multiplying",
        "tau du/dt = ... with tau = 1/lr, so du/dt = lr * (...)",
    ),
)

DEEP_MODE_RHS = register(
    Exercise(
        id="02.deep_mode_rhs",
        title="How fast a mode of a deep network grows",
        signature="deep_mode_rhs(u, s, depth, lr) -> lr L u^{2-2/L} (s - u)",
        make_cases=_rhs_cases,
        reference=reference_deep_mode_rhs,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_RHS_MISTAKES, name="du/dt"
        ),
        hint="the boxed mode equation divided by tau: the learning rate, the depth, u raised to "
        "2 - 2/L and the distance still to go, s - u, all multiplied, value by value",
    )
)


def _erank_cases() -> list[Case]:
    generator = seeded_generator(2000)
    diagonal = torch.diag(torch.tensor([3.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    orthogonal, _ = torch.linalg.qr(random_matrix(5, 5, generator))
    column = random_matrix(6, 1, generator)
    row = random_matrix(1, 4, generator)
    decaying = random_matrix(7, 7, generator) @ torch.diag(
        torch.tensor([2.0**-k for k in range(7)], dtype=torch.float64)
    )
    return [
        Case((random_matrix(6, 6, generator),), "a 6 x 6 Gaussian matrix"),
        Case((diagonal,), "diag(3, 1, 0, 0): two singular values are exactly 0"),
        Case((random_matrix(5, 8, generator),), "a 5 x 8 Gaussian matrix"),
        Case((2.0 * orthogonal,), "2 x an orthogonal 5 x 5 matrix (all singular values equal)"),
        Case((decaying,), "a 7 x 7 matrix with decaying columns"),
        Case((column @ row,), "a 6 x 4 matrix of rank one"),
    ]


def _spectrum(matrix):
    return torch.linalg.svdvals(matrix)


def _entropy(p):
    p = p[p > 0]
    return -(p * torch.log(p)).sum()


_ERANK_MISTAKES = (
    Mistake(
        lambda w: _entropy(_spectrum(w) / _spectrum(w).sum()),
        "returned the entropy -sum p_k log p_k: the exp is missing",
        "the effective rank is exp(entropy)",
    ),
    Mistake(
        lambda w: torch.exp(-_entropy(_spectrum(w) / _spectrum(w).sum())),
        "exp(+sum p_k log p_k): the minus sign is missing (this is 1/erank)",
        "erank = exp(-sum_k p_k log p_k), the minus makes it >= 1",
    ),
    Mistake(
        lambda w: torch.exp(_entropy(_spectrum(w) ** 2 / (_spectrum(w) ** 2).sum())),
        "p_k from the squared singular values",
        "p_k = sigma_k / sum_j sigma_j, the singular values themselves (not squared)",
    ),
    Mistake(
        lambda w: 2.0 ** _entropy(_spectrum(w) / _spectrum(w).sum()),
        "2 ** entropy: the entropy is in nats, so the base is e",
        "use the natural log and torch.exp",
    ),
    Mistake(
        lambda w: torch.exp(_entropy(_spectrum(w) / _spectrum(w).max())),
        "p_k normalized by the largest singular value instead of the sum",
        "p_k = sigma_k / sum_j sigma_j, so that the p_k sum to 1",
    ),
)

EFFECTIVE_RANK = register(
    Exercise(
        id="02.effective_rank",
        title="The effective rank",
        signature="effective_rank(W) -> exp(-sum_k p_k log p_k), p_k = sigma_k / sum_j sigma_j",
        make_cases=_erank_cases,
        reference=reference_effective_rank,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            mistakes=_ERANK_MISTAKES,
            name="the effective rank",
            nan_hint="0 log 0 counts as 0: leave the zero p_k out of the sum (log 0 is -inf), "
            "or use a function that defines x log x as 0 at x = 0",
        ),
        hint="turn the singular values into a probability vector (each divided by their sum), "
        "take its entropy in nats, and exponentiate",
    )
)


# ---------------------------------------------------------------------------------------------
# Capstone: the deep linear network trainer
# ---------------------------------------------------------------------------------------------


def reference_train_deep_linear(target, depth, eps, lr, steps):
    from ..theory.deep_dynamics import identity_init_spectra

    return identity_init_spectra(target, depth, eps, lr, steps)


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
    lr,
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
                layers[i] = layers[i] - lr * scale * gradient
        else:
            indices = list(trainable) if order == "upwards" else list(trainable)[::-1]
            for i in indices:
                residual = _product(layers, d) - target
                layers[i] = layers[i] - lr * scale * _layer_gradient(layers, i, residual, form)
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
            "depth 2, M a 4 x 4 Gaussian matrix, eps=0.5, lr=0.1, 20 steps",
        ),
        Case(
            (low_rank, 3, 0.4, 0.05, 40),
            "depth 3, M a 5 x 5 matrix of rank 2 (not symmetric), eps=0.4, lr=0.05, 40 steps",
        ),
        Case(
            (symmetric, 4, 0.6, 0.05, 60),
            "depth 4, M = U diag(1, 0.5, 0.25) U^T (6 x 6), eps=0.6, lr=0.05, 60 steps",
        ),
        Case((small, 3, 0.3, 0.1, 0), "depth 3, M a 3 x 3 Gaussian matrix, eps=0.3, 0 steps"),
    ]


def _mistake(**change):
    return lambda target, depth, eps, lr, steps: _trainer(target, depth, eps, lr, steps, **change)


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
        lambda target, depth, eps, lr, steps: _trainer(
            target, depth, eps, lr, steps, scale=1.0 / target.shape[0] ** 2
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
        target, depth, eps, lr, _ = case.args
        after = _trainer(target, depth, eps, lr, steps, rows="after each step")
        before = _trainer(target, depth, eps, lr, steps, rows="before each step")
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
        signature="train_deep_linear(M, depth, eps, lr, steps) -> tensor (steps + 1, d) of the "
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


# ---------------------------------------------------------------------------------------------
# Self-check: what halving the initial scale does to the wait
# ---------------------------------------------------------------------------------------------

HALVE_THE_INIT = register(
    choice_question(
        id="02.halve_the_init",
        title="Halving the initial scale of a deep network",
        options={
            "a": "it gets longer by a fixed number of steps, whatever a0 was",
            "b": "about 2 times longer",
            "c": "about 4 times longer",
            "d": "about 16 times longer",
        },
        correct="c",
        why_wrong={
            "a": "that is the two-layer law: for L = 2 a small mode grows exponentially and the "
            "wait is logarithmic in 1/u0, so halving a0 only adds (tau/2s) ln 4 steps. For "
            "L >= 3 a small layer grows like a^(L-1), faster than exponentially, and the wait "
            "is polynomial in 1/a0",
            "b": "that is depth 3, where t* = tau/((L-2) s a0^(L-2)) is proportional to 1/a0. "
            "At L = 4 the exponent L - 2 is 2",
            "d": "2^4 = 16 is how much the end-to-end init u0 = a0^L shrinks, but the wait is "
            "not proportional to 1/u0: it scales as a0^-(L-2) (eps^L and eps are easy to mix "
            "up)",
        },
        hint="look at the onset time t* of Section 2 and how it depends on a0 when L = 4",
    )
)
