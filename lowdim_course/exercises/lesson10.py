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

# the capstone lives in its own module: importing it registers it
from .lesson10_capstone import (  # noqa: F401
    TRAIN_TWA,
    descent_checkpoints,
    reference_train_twa,
)
from .self_check import choice_question


def _reference_basis(checkpoints):
    from ..literature.weight_averaging import orthonormal_basis

    return orthonormal_basis(checkpoints)


def gradient_descent_checkpoints(count: int = 12, seed: int = 3) -> torch.Tensor:
    """``count`` checkpoints (rows), every 5 full-batch gradient steps (lr 0.3), of the course's
    network with 4 inputs, 3 hidden units and 3 classes (D = 27) on 40 generated examples.

    Consecutive checkpoints of a converging run are nearly parallel: their condition number is
    about 3.5e3, the order of the lesson's own SGD checkpoints (2.3e3 for K = 10, 4.8e3 for
    K = 20), where one pass of classical Gram-Schmidt leaves ``||P P^T - I||`` near 1e-6 (a bound
    of order ``eps kappa^2``; Giraud et al. 2005) and a second pass brings it to 1e-15.
    """
    checkpoints, _ = descent_checkpoints(
        dim=4, hidden=3, classes=3, n_train=40, count=count, steps_between=5, seed=seed
    )
    return checkpoints


def _basis_cases() -> list[Case]:
    generator = seeded_generator(10000)
    drift = random_matrix(1, 40, generator)
    walk = torch.cumsum(0.1 * random_matrix(6, 40, generator), 0) + drift  # like a training run
    return [
        Case((random_matrix(3, 8, generator),), "3 random checkpoints in R^8"),
        Case((walk,), "6 checkpoints of a random walk in R^40 (nearly parallel)"),
        Case((random_matrix(1, 5, generator),), "a single checkpoint"),
        Case((random_matrix(10, 200, generator),), "10 checkpoints in R^200"),
        Case(
            (gradient_descent_checkpoints(),),
            "12 consecutive checkpoints of gradient descent in R^27 (condition number ~3.5e3)",
        ),
    ]


def one_pass_classical_gram_schmidt(checkpoints):
    """Classical Gram-Schmidt, one pass: ``v_i = w_i - P_<i^T (P_<i w_i)``, ``p_i = v_i/||v_i||``.

    Every coefficient is taken from the ORIGINAL checkpoint; the rows it returns lose
    orthogonality like ``eps kappa^2`` (Giraud et al. 2005), 1e-6 on nearly parallel checkpoints.
    """
    rows: list[torch.Tensor] = []
    for w in checkpoints:
        v = w - torch.stack(rows).T @ (torch.stack(rows) @ w) if rows else w
        rows.append(v / torch.linalg.vector_norm(v))
    return torch.stack(rows)


_LOST_ORTHOGONALITY = (
    "the rows have norm 1 and are nearly orthogonal, but not to rounding precision "
    "(|P P^T - I| = {error:.1e}): on nearly parallel checkpoints each new remainder v_i is a "
    "small difference of large vectors, and one pass of Gram-Schmidt (classical: every "
    "coefficient p_j^T w_i from the original checkpoint) leaves rounding error along the old "
    "rows -- the loss of orthogonality"
)
_REORTHOGONALIZE = (
    "re-orthogonalize: subtract the projections on the rows found so far a second time, from "
    "what is left of the checkpoint, before normalizing ('twice is enough')"
)
_BASIS_MISTAKES = (Mistake(one_pass_classical_gram_schmidt, _LOST_ORTHOGONALITY, _REORTHOGONALIZE),)


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
        error = float(torch.linalg.matrix_norm(gram - identity))
        if torch.allclose(diagonal, torch.ones(k, dtype=torch.float64), atol=1e-8) and (
            float((gram - identity).abs().max()) < 1e-3
        ):  # one pass of Gram-Schmidt (the named mistake), or any loss of orthogonality
            (mistake,) = _BASIS_MISTAKES
            return Problem(mistake.what.format(error=error), mistake.hint)
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
# 10.why_orthonormal (self-check)
# ---------------------------------------------------------------------------------------------

WHY_ORTHONORMAL = register(
    choice_question(
        id="10.why_orthonormal",
        title="A basis that skips Gram-Schmidt",
        options={
            "a": "the step there leaves the span of the checkpoints",
            "b": "the step there is 200 times smaller than along the top direction (the ratio "
            "of the singular values)",
            "c": "the step there is 40,000 times smaller than along the top direction: that "
            "direction of the span barely trains",
            "d": "nothing changes: any basis of the span gives the same step, because the "
            "span is the same",
        },
        correct="c",
        why_wrong={
            "a": "C^T (C g) is a combination of the rows of C, the checkpoints themselves, so "
            "it lies in their span like every TWA step; staying in the span is not what the "
            "orthonormal basis is for",
            "b": "the weights move by -lr C^T C g, and C^T C scales each direction of the span "
            "by the SQUARE of C's singular value along it: (40 / 0.2)^2, not 40 / 0.2",
            "d": "the span is the same, but the step is not: C^T C is the projection onto the "
            "span only when C C^T = I. With raw checkpoints it weighs each direction by the "
            "square of C's singular value along it",
        },
        hint="write the step for a basis C (K x D) with w = C^T c and c <- c - lr C g: the "
        "weights move by -lr C^T C g. Write C by its singular value decomposition: by how much "
        "does C^T C scale the direction of singular value sigma?",
    )
)
