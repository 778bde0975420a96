"""Lesson 10 exercises: the checkpoints' subspace and a step inside it (Li et al. ICLR 2023).

* ``10.checkpoint_basis``: ``checkpoint_basis(checkpoints) -> P`` (K x D, rows orthonormal)
  spanning the K checkpoints (rows of a K x D tensor, linearly independent in the cases).
  An orthonormal basis is unique only up to a rotation, so the check compares the projector
  ``P^T P`` with the reference's and checks ``P P^T = I``; reference
  :func:`lowdim_course.literature.weight_averaging.orthonormal_basis`.
* ``10.projected_step``: ``projected_step(weights, gradient, basis, lr) -> weights - lr P^T (P g)``
  (:func:`lowdim_course.literature.weight_averaging.projected_gradient`).
* ``10.train_twa`` (capstone): ``train_twa(checkpoints, loss_and_grad, lr, steps, start) ->
  weights``, TWA's loop on the coefficients: ``P`` orthonormal rows spanning the checkpoints,
  ``c(0) = P w_start`` (the checkpoints' mean or the last one), ``c <- c - lr P g(P^T c)`` for
  ``steps`` steps, ``P^T c`` returned (Li et al. 2023, Sec. 3); reference
  :func:`lowdim_course.literature.weight_averaging.train_in_span`. ``loss_and_grad`` is the
  course's oracle (:func:`~lowdim_course.literature.weight_averaging.gradient_oracle`), which
  answers may call.
* ``10.why_orthonormal`` (self-check): what goes wrong with the raw checkpoints as the basis.
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
from .self_check import choice_question


def _reference_basis(checkpoints):
    from ..literature.weight_averaging import orthonormal_basis

    return orthonormal_basis(checkpoints)


def _basis_cases() -> list[Case]:
    generator = seeded_generator(10000)
    drift = random_matrix(1, 40, generator)
    walk = torch.cumsum(0.1 * random_matrix(6, 40, generator), 0) + drift  # like a training run
    return [
        Case((random_matrix(3, 8, generator),), "3 random checkpoints in R^8"),
        Case((walk,), "6 checkpoints of a random walk in R^40 (nearly parallel)"),
        Case((random_matrix(1, 5, generator),), "a single checkpoint"),
        Case((random_matrix(10, 200, generator),), "10 checkpoints in R^200"),
    ]


def compare_basis(expected, got, case: Case) -> Problem | None:
    (checkpoints,) = case.args
    k, dim = checkpoints.shape
    p = to_tensor(got, "a matrix")
    if isinstance(p, Problem):
        return p
    if p.ndim != 2:
        return Problem(f"returned shape {tuple(p.shape)}, expected a {k} x {dim} matrix")
    if tuple(p.shape) == (dim, k) and dim != k:
        return Problem(
            f"wrong shape (expected {(k, dim)}, got {(dim, k)}): transposed?",
            "one basis vector per ROW, like the checkpoints",
        )
    if tuple(p.shape) != (k, dim):
        return Problem(f"wrong shape of the basis (expected {(k, dim)}, got {tuple(p.shape)})")
    if not torch.isfinite(p).all():
        return Problem("NaN or infinity in the basis", "do not divide by a zero norm")
    gram = p @ p.T
    identity = torch.eye(k, dtype=torch.float64)
    if not _is_close(identity, gram, 1e-8, 1e-10):
        diagonal = torch.diagonal(gram)
        if torch.allclose(diagonal, torch.ones(k, dtype=torch.float64), atol=1e-8):
            return Problem(
                "the rows have norm 1 but are not orthogonal",
                "subtract from each checkpoint its projections on the rows found so far "
                "(Gram-Schmidt) before normalizing",
            )
        if torch.allclose(gram, torch.diag(diagonal), atol=1e-8 * float(diagonal.max())):
            return Problem(
                "the rows are orthogonal but not of norm 1", "divide each row by its norm"
            )
        return Problem("the rows are not orthonormal (P P^T is not the identity)")
    if not _is_close(expected.T @ expected, p.T @ p, 1e-8, 1e-10):
        return Problem(
            "the rows are orthonormal but do not span the checkpoints",
            "each row must be a combination of the checkpoints (Gram-Schmidt on them, in order)",
        )
    return None


BASIS = register(
    Exercise(
        id="10.checkpoint_basis",
        title="An orthonormal basis of the checkpoints",
        signature="checkpoint_basis(checkpoints) -> P (K x D, orthonormal rows)",
        make_cases=_basis_cases,
        reference=_reference_basis,
        compare=compare_basis,
        hint="take the checkpoints in order; from each, remove its components along the unit "
        "rows you already have (twice, against rounding), then scale what is left to length 1 "
        "and keep it as the next row. (A QR factorization of the checkpoints as columns does "
        "the same job.)",
    )
)


def _reference_step(weights, gradient, basis, lr):
    from ..literature.weight_averaging import projected_gradient

    return weights - lr * projected_gradient(basis, gradient)


def _step_cases() -> list[Case]:
    generator = seeded_generator(10100)
    cases = []
    for k, dim, lr in ((2, 6, 0.1), (5, 30, 0.5), (3, 100, 1.0), (1, 4, 2.0)):
        q, _ = torch.linalg.qr(random_matrix(dim, k, generator))
        basis = q.T.contiguous()
        weights = random_matrix(1, k, generator).flatten() @ basis
        gradient = random_matrix(1, dim, generator).flatten()
        cases.append(Case((weights, gradient, basis, lr), f"K={k}, D={dim}, lr={lr}"))
    return cases


_STEP_MISTAKES = (
    Mistake(
        lambda w, g, p, lr: w - lr * g,
        "took the full gradient step (the weights leave the span)",
        "only the part of g inside the span may move the weights: project g onto the rows of "
        "the basis first",
    ),
    Mistake(
        lambda w, g, p, lr: w + lr * p.T @ (p @ g),
        "stepped uphill (+ instead of -)",
        "a descent step moves against the gradient",
    ),
    Mistake(
        lambda w, g, p, lr: w - lr * (g - p.T @ (p @ g)),
        "stepped along the part of g ORTHOGONAL to the span",
        "keep the part of g inside the span, the one you get by going to the K coefficients "
        "and back, not what is left of g after removing it",
    ),
    Mistake(
        lambda w, g, p, lr: w - p.T @ (p @ g),
        "forgot the learning rate",
        "multiply the projected gradient by lr",
    ),
)

STEP = register(
    Exercise(
        id="10.projected_step",
        title="A gradient step inside the span",
        signature="projected_step(weights, gradient, basis, lr) -> weights - lr P^T (P g)",
        make_cases=_step_cases,
        reference=_reference_step,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, rtol=1e-9, mistakes=_STEP_MISTAKES, name="the new weights"
        ),
        hint="the gradient's coordinates along the K orthonormal rows are K dot products; "
        "the vector those coordinates describe (back in R^D) is the part of g inside the span, "
        "and the step moves the weights against it, scaled by lr",
    )
)


# ---------------------------------------------------------------------------------------------
# 10.train_twa (capstone)
# ---------------------------------------------------------------------------------------------

ORACLE = "lowdim_course.literature.weight_averaging.loss_and_grad"


def reference_train_twa(checkpoints, loss_and_grad, lr, steps, start):
    from ..literature.weight_averaging import train_in_span

    return train_in_span(checkpoints, loss_and_grad, lr=lr, steps=steps, start=start)


def _twa_cases() -> list[Case]:
    from ..literature.weight_averaging import (
        gradient_oracle,
        init_weights,
        make_classification_data,
    )

    def task(seed, epochs):
        """The course's network with 2 inputs, 2 hidden units, 2 classes (D = 12 weights) and
        the weights after each of ``epochs`` runs of 4 full-batch gradient steps (lr 0.3)."""
        data = make_classification_data(n_train=24, n_test=1, dim=2, classes=2, seed=seed)
        oracle = gradient_oracle(data.x_train, data.y_train, 2, 2)
        weights, saved = init_weights(2, 2, 2, seed=seed), []
        for _ in range(epochs):
            for _ in range(4):
                weights = weights - 0.3 * oracle(weights)[1]
            saved.append(weights)
        return torch.stack(saved), oracle

    generator = seeded_generator(10200)
    square = 0.5 * random_matrix(12, 12, generator)
    cases = [Case((square, task(2, 4)[1], 0.3, 15, "mean"), "K = D = 12: P is a square matrix")]
    kept, oracle = task(1, 3)
    cases.append(Case((kept, oracle, 0.5, 0, "mean"), "steps = 0, start = 'mean': K = 3, D = 12"))
    cases.append(Case((kept, oracle, 0.5, 0, "last"), "steps = 0, start = 'last': K = 3, D = 12"))
    cases.append(
        Case(
            (kept, oracle, 1.0, 40, "mean"),
            "K = 3 checkpoints of gradient descent, D = 12, 40 steps",
        )
    )
    kept, oracle = task(2, 4)
    cases.append(Case((kept, oracle, 0.5, 30, "last"), "K = 4, start = 'last', 30 steps"))
    return cases


def _twa_start(checkpoints, start):
    return checkpoints.mean(0) if start == "mean" else checkpoints[-1].clone()


def _orthonormal(checkpoints):
    from ..literature.weight_averaging import orthonormal_basis

    return orthonormal_basis(checkpoints)


def _coefficient_loop(
    checkpoints, loss_and_grad, lr, steps, start, *, c0=None, rebuild=None, into=None, extra=0,
    sign=1.0, start_from=None, basis=None,
):  # fmt: skip
    """A loop on the coefficients with one piece replaced: the start ``c0(P, w_start, K)``, the
    map back to weights ``rebuild(P, c)`` or the map of the gradient ``into(P, g)``."""
    P = (basis or _orthonormal)(checkpoints)
    w_start = _twa_start(checkpoints, start_from or start)
    c = c0(P, w_start, len(checkpoints)) if c0 else P @ w_start
    rebuild = rebuild or (lambda P, c: P.T @ c)
    into = into or (lambda P, g: P @ g)
    for _ in range(max(steps + extra, 0)):
        _, g = loss_and_grad(rebuild(P, c))
        c = c - sign * lr * into(P, g)
    return rebuild(P, c)


def _twa_variant(**changes):
    def student(checkpoints, loss_and_grad, lr, steps, start):
        return _coefficient_loop(checkpoints, loss_and_grad, lr, steps, start, **changes)

    return student


def _weight_loop(direction):
    """A loop on the weights themselves, each step along ``direction(checkpoints, g)``."""

    def student(checkpoints, loss_and_grad, lr, steps, start):
        w = _twa_start(checkpoints, start)
        for _ in range(steps):
            w = w - lr * direction(checkpoints, loss_and_grad(w)[1])
        return w

    return student


def _normalized_rows(checkpoints):
    return checkpoints / torch.linalg.vector_norm(checkpoints, dim=1, keepdim=True)


def _gradient_frozen_at_start(checkpoints, loss_and_grad, lr, steps, start):
    P = _orthonormal(checkpoints)
    w_start = _twa_start(checkpoints, start)
    _, g = loss_and_grad(w_start)
    return P.T @ (P @ w_start - lr * steps * (P @ g))


_ORTHONORMALIZE = (
    "Gram-Schmidt (Exercise 10.1) first: only with orthonormal rows is going to the "
    "coefficients and back the orthogonal projection onto the span"
)
_TWA_MISTAKES = (
    Mistake(
        _weight_loop(lambda C, g: g),
        "took full gradient steps: the weights left the span of the checkpoints",
        "TWA trains only the K coefficients; the weights move only along the basis rows",
    ),
    Mistake(
        _weight_loop(lambda C, g: C.T @ (C @ g)),
        "used the raw checkpoints as the basis (not orthonormalised): the step C^T C g stays "
        "in the span but is not the projection of g",
        _ORTHONORMALIZE,
    ),
    Mistake(
        _weight_loop(lambda C, g: _normalized_rows(C).T @ (_normalized_rows(C) @ g)),
        "normalised the checkpoints but did not orthogonalise them: the basis is not orthonormal",
        _ORTHONORMALIZE,
    ),
    Mistake(
        _twa_variant(basis=lambda C: C),
        "used the raw checkpoints as the basis (not orthonormalised): P w_start and P^T c do "
        "not undo each other, so both the start and the steps are off",
        _ORTHONORMALIZE,
    ),
    Mistake(
        _twa_variant(basis=_normalized_rows),
        "normalised the checkpoints but did not orthogonalise them: with that basis P w_start "
        "and P^T c do not undo each other",
        _ORTHONORMALIZE,
    ),
    Mistake(
        _twa_variant(into=lambda P, g: P.T @ g),
        "carried the gradient into the coefficients with P^T instead of P",
        "the weights are w = P^T c; the chain rule through that map sends g to P g (K numbers)",
    ),
    Mistake(
        _twa_variant(rebuild=lambda P, c: P @ c),
        "rebuilt the weights as P c instead of P^T c",
        "the rows of P are the basis vectors, so w is the combination P^T c of the rows",
    ),
    Mistake(
        _twa_variant(c0=lambda P, w, K: torch.zeros(K, dtype=P.dtype)),
        "the coefficients started at 0: the weights started at the zero vector, not at the "
        "checkpoints",
        "the start is a point of the span (the mean or the last checkpoint); its coefficients "
        "are its coordinates along the rows of P",
    ),
    Mistake(
        _twa_variant(c0=lambda P, w, K: torch.full((K,), 1.0 / K, dtype=P.dtype)),
        "the coefficients started at 1/K, SWA's weights for the raw checkpoints: in the "
        "orthonormal basis the mean has other coefficients",
        "compute the start's coordinates along the orthonormal rows, P w_start",
    ),
    Mistake(
        _twa_variant(start_from="mean"),
        "started from the checkpoints' mean although start = 'last'",
        "start = 'last' means the last checkpoint (the last row)",
    ),
    Mistake(
        _twa_variant(start_from="last"),
        "started from the last checkpoint although start = 'mean'",
        "start = 'mean' means the SWA mean of the checkpoints",
    ),
    Mistake(
        _twa_variant(c0=lambda P, w, K: P @ w, into=lambda P, g: -(P @ g)),
        "stepped up the gradient (+ instead of -): the loss grows",
        "gradient descent moves the coefficients against their gradient",
    ),
    Mistake(
        _gradient_frozen_at_start,
        "the gradient was taken at the start in every step: the weights were not rebuilt "
        "from the current coefficients",
        "rebuild the weights from the current coefficients inside the loop, then ask for the "
        "gradient there",
    ),
    Mistake(
        lambda C, oracle, lr, steps, start: (
            _orthonormal(C) @ reference_train_twa(C, oracle, lr, steps, start)
        ),
        "returned the coefficients c, not the weights P^T c",
        "return the weights P^T c (length D), the point of the span the coefficients name",
    ),
    Mistake(
        _twa_variant(extra=1),
        "ran one step too many",
        "exactly `steps` gradient steps: check where the loop's count starts and ends",
    ),
    Mistake(
        _twa_variant(extra=-1),
        "ran one step too few",
        "exactly `steps` gradient steps: check where the loop's count starts and ends",
    ),
)


def _outside_span(vector, checkpoints) -> float:
    """``||w - proj(w)|| / ||w||`` for the span of the checkpoints (rows)."""
    P = _orthonormal(checkpoints)
    size = float(torch.linalg.vector_norm(vector))
    return float(torch.linalg.vector_norm(vector - P.T @ (P @ vector))) / max(size, 1e-300)


def compare_twa(expected, got, case: Case) -> Problem | None:
    checkpoints = case.args[0]
    K, D = checkpoints.shape
    tensor = to_tensor(got, "a vector")
    if not isinstance(tensor, Problem) and tuple(tensor.shape) == (K,) and K != D:
        return Problem(
            f"returned {K} numbers: those are the coefficients c, not the weights P^T c",
            "return the weights P^T c (length D), the point of the span the coefficients name",
        )
    problem = compare_arrays(expected, got, case, rtol=1e-8, mistakes=_TWA_MISTAKES,
                             name="the weights")  # fmt: skip
    named = {mistake.what for mistake in _TWA_MISTAKES}
    if problem is None or problem.what in named or isinstance(tensor, Problem):
        return problem
    if tensor.shape == (D,) and torch.isfinite(tensor).all():
        if _outside_span(tensor, checkpoints) > 1e-6:
            return Problem(
                f"{problem.what}; and the weights are not in the span of the checkpoints",
                "every step must stay in the span: move only along the orthonormal rows",
            )
    return problem


TRAIN_TWA = register(
    Exercise(
        id="10.train_twa",
        title="Trainable weight averaging: the loop on the coefficients",
        signature="train_twa(checkpoints, loss_and_grad, lr, steps, start) -> weights (length D)",
        make_cases=_twa_cases,
        reference=reference_train_twa,
        compare=compare_twa,
        hint="the weights are always a combination of the orthonormal rows of the checkpoints' "
        "basis, and only the K coefficients of that combination are trained. They start at the "
        "coordinates of the starting point (the mean or the last checkpoint) along those rows; "
        "each step rebuilds the weights from them, asks loss_and_grad for the gradient there "
        "(D numbers), carries it to the coefficients by the chain rule (K numbers) and steps "
        "against it; at the end the weights are rebuilt once more",
        tags=(CAPSTONE_TAG,),
        allowed_core_calls=(ORACLE,),
    )
)


# ---------------------------------------------------------------------------------------------
# 10.why_orthonormal (self-check)
# ---------------------------------------------------------------------------------------------

WHY_ORTHONORMAL = register(
    choice_question(
        id="10.why_orthonormal",
        title="Why the basis must be orthonormal",
        options={
            "a": "the step C^T (C g) leaves the span of the checkpoints",
            "b": "the step stays in the span and still goes downhill, but it is not the "
            "projection of g: it is stretched along the directions the checkpoints share, so "
            "nearly parallel checkpoints make one learning rate far too large along one "
            "direction and far too small along the others",
            "c": "the step is no longer a descent direction: the loss can grow for any "
            "learning rate",
            "d": "nothing: any basis of the span gives the same step, because the span is the same",
        },
        correct="b",
        why_wrong={
            "a": "C^T (C g) is a combination of the rows of C, the checkpoints themselves, so "
            "it lies in their span like every TWA step; staying in the span is not what the "
            "orthonormal basis is for",
            "c": "it is a descent direction: its inner product with g is g^T C^T C g = "
            "||C g||^2 >= 0, so a small enough step still lowers the loss; what changes is how "
            "far it goes in each direction",
            "d": "the span is the same, but the step is not: C^T C is the projection onto the "
            "span only when C C^T = I. With raw checkpoints it weighs each direction by the "
            "square of C's singular value along it, and consecutive checkpoints are nearly "
            "parallel, so those values differ by orders of magnitude",
        },
        hint="write the step for a basis C (K x D) with w = C^T c and c <- c - lr C g: the "
        "weights move by -lr C^T C g. When is C^T C a projection, and what is it otherwise?",
    )
)
