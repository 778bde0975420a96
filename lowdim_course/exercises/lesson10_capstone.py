"""Lesson 10's capstone exercise, ``10.train_twa``.

Trainable weight averaging: gradient descent on the coefficients of an orthonormal basis of
the checkpoints' span. The reference answer, hidden cases and named mistakes; registered when
``lesson10`` (which imports this module) is imported.
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

ORACLE = "lowdim_course.literature.weight_averaging.loss_and_grad"


def reference_train_twa(checkpoints, loss_and_grad, lr, steps, start):
    from ..literature.weight_averaging import train_in_span

    return train_in_span(checkpoints, loss_and_grad, lr=lr, steps=steps, start=start)


def descent_checkpoints(*, dim, hidden, classes, n_train, count, steps_between, seed):
    """The course's network on ``n_train`` generated examples, trained by full-batch gradient
    steps (lr 0.3), saved every ``steps_between`` steps: ``(checkpoints as rows, oracle)``."""
    from ..literature.weight_averaging import (
        gradient_oracle,
        init_weights,
        make_classification_data,
    )

    data = make_classification_data(n_train=n_train, n_test=1, dim=dim, classes=classes, seed=seed)
    oracle = gradient_oracle(data.x_train, data.y_train, hidden, classes)
    weights, saved = init_weights(dim, hidden, classes, seed=seed), []
    for _ in range(count):
        for _ in range(steps_between):
            weights = weights - 0.3 * oracle(weights)[1]
        saved.append(weights)
    return torch.stack(saved), oracle


def _twa_cases() -> list[Case]:
    def task(seed, epochs):
        """The course's network with 2 inputs, 2 hidden units, 2 classes (D = 12 weights) and
        the weights after each of ``epochs`` runs of 4 full-batch gradient steps (lr 0.3)."""
        return descent_checkpoints(
            dim=2, hidden=2, classes=2, n_train=24, count=epochs, steps_between=4, seed=seed
        )

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
