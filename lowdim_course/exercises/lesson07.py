"""Lesson 07 exercises: intrinsic dimension (Li, Farkhoor, Liu, Yosinski 2018, Sec. 2).

* ``07.subspace_gradient``: ``subspace_gradient(P, grad_theta) -> P^T grad_theta``, the gradient
  of ``L(theta0 + P z)`` in ``z`` by the chain rule; reference
  :func:`lowdim_course.literature.intrinsic_dimension.subspace_gradient`.
* ``07.d_int90``: ``d_int90(dims, accuracies, baseline) -> int``, the smallest ``d`` whose accuracy
  reaches 90% of the baseline; reference
  :func:`lowdim_course.literature.intrinsic_dimension.d_int90`.
* ``07.train_in_subspace`` (capstone): ``train_in_subspace(theta0, P, loss_and_grad, lr, steps)
  -> theta``, gradient descent on ``z`` only, ``z(0) = 0``, ``z <- z - lr P^T grad_theta L(theta0
  + P z)``, returning ``theta0 + P z``; reference
  :func:`lowdim_course.literature.intrinsic_dimension.train_in_subspace` (autograd through
  ``theta0 + P z``, plain gradient descent). ``loss_and_grad`` is the course's oracle
  (:func:`~lowdim_course.literature.intrinsic_dimension.loss_and_gradient`), which answers may
  call.
* ``07.why_z_starts_at_zero`` (self-check): why ``z(0) = 0``.
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
    compare_integers,
    random_matrix,
    register,
    seeded_generator,
    to_tensor,
)
from .self_check import choice_question


def reference_subspace_gradient(P, grad_theta):
    from ..literature.intrinsic_dimension import subspace_gradient

    return subspace_gradient(P, grad_theta)


def _unit_columns(D, d, generator):
    P = random_matrix(D, d, generator)
    return P / torch.linalg.vector_norm(P, dim=0, keepdim=True)


def _gradient_cases() -> list[Case]:
    generator = seeded_generator(7000)
    cases = []
    for D, d in [(30, 4), (100, 10), (12, 3), (200, 25)]:
        P = _unit_columns(D, d, generator)
        grad = random_matrix(D, 1, generator)[:, 0]
        cases.append(Case((P, grad), f"D={D}, d={d}"))
    return cases


_GRADIENT_MISTAKES = (
    Mistake(
        lambda P, g: P.T @ g / P.shape[0],
        "divided by D",
        "the chain rule has no averaging in it: nothing is divided by the number of parameters",
    ),
    Mistake(
        lambda P, g: -(P.T @ g),
        "the sign is flipped",
        "this asks for the gradient itself; the minus sign belongs to the descent step, not to "
        "the gradient",
    ),
    Mistake(
        lambda P, g: (P / torch.linalg.vector_norm(P, dim=1, keepdim=True)).T @ g,
        "P's rows were normalized",
        "P is used as given (its columns already have unit norm)",
    ),
)


def compare_subspace_gradient(expected, got, case: Case) -> Problem | None:
    P, _ = case.args
    tensor = to_tensor(got, "a vector")
    if not isinstance(tensor, Problem) and tuple(tensor.shape) == (P.shape[0],):
        return Problem(
            f"returned a vector of length D = {P.shape[0]}: the gradient in theta's space",
            "the gradient in z has one entry per subspace direction (d of them): how fast the "
            "loss changes when theta moves along that column of P",
        )
    return compare_arrays(expected, got, case, mistakes=_GRADIENT_MISTAKES, name="grad_z")


SUBSPACE_GRADIENT = register(
    Exercise(
        id="07.subspace_gradient",
        title="The gradient in the random subspace",
        signature="subspace_gradient(P, grad_theta) -> grad_z",
        make_cases=_gradient_cases,
        reference=reference_subspace_gradient,
        compare=compare_subspace_gradient,
        hint="theta depends on z through the linear map z -> theta0 + P z; the chain rule "
        "carries a gradient in theta back through that map with its transpose, which turns a "
        "D-vector into a d-vector",
    )
)


def reference_d_int90(dims, accuracies, baseline):
    from ..literature.intrinsic_dimension import d_int90

    table = dict(zip(dims, accuracies, strict=True))
    found, _ = d_int90(table.__getitem__, baseline, dims)
    return found


def _dint_cases() -> list[Case]:
    return [
        Case(([10, 20, 50, 100, 200], [0.3, 0.5, 0.7, 0.85, 0.9], 0.92), "increasing"),
        Case(([200, 25, 100, 50], [0.83, 0.6, 0.82, 0.7], 0.9), "dims not sorted"),
        Case(([5, 10, 15, 20], [0.2, 0.9, 0.6, 0.95], 1.0), "exactly 90% counts, not monotone"),
        Case(([1, 2, 3, 4, 5], [0.1, 0.2, 0.5, 0.45, 0.5], 0.5), "0.45 reached at d=3, then a dip"),
        Case(([8, 16, 32, 64], [0.55, 0.7, 0.86, 0.95], 0.97), "max accuracy is not the baseline"),
    ]


def _first(dims, accuracies, test):
    return next(d for d, a in zip(dims, accuracies, strict=True) if test(a))


def _sorted_pairs(dims, accuracies):
    pairs = sorted(zip(dims, accuracies, strict=True))
    return [d for d, _ in pairs], [a for _, a in pairs]


_DINT_MISTAKES = (
    Mistake(
        lambda dims, acc, base: _first(*_sorted_pairs(dims, acc), lambda a: a > 0.9 * base),
        "used > instead of >= (reaching exactly 90% counts)",
        "the smallest d with accuracy >= 0.9 * baseline",
    ),
    Mistake(
        lambda dims, acc, base: _first(dims, acc, lambda a: a >= 0.9 * base),
        "took the first d in the given order, not the smallest",
        "sort the dimensions (or take the min over those that reach the threshold)",
    ),
    Mistake(
        lambda dims, acc, base: _first(*_sorted_pairs(dims, acc), lambda a: a >= 0.9 * max(acc)),
        "compared with 90% of the best subspace accuracy instead of the baseline",
        "the baseline is the directly trained network's accuracy, passed as `baseline`",
    ),
    Mistake(
        lambda dims, acc, base: _first(*_sorted_pairs(dims, acc), lambda a: a >= 0.9),
        "compared with 0.9 itself instead of 0.9 * baseline",
        "90% of the baseline: accuracy >= 0.9 * baseline",
    ),
)

D_INT90 = register(
    Exercise(
        id="07.d_int90",
        title="Measure d_int90",
        signature="d_int90(dims, accuracies, baseline) -> int",
        make_cases=_dint_cases,
        reference=reference_d_int90,
        compare=lambda expected, got, case: compare_integers(
            expected, got, case, mistakes=_DINT_MISTAKES
        ),
        hint="among the d with accuracy >= 0.9 * baseline, return the smallest",
    )
)


# ---------------------------------------------------------------------------------------------
# 07.train_in_subspace (capstone)
# ---------------------------------------------------------------------------------------------

ORACLE = "lowdim_course.literature.intrinsic_dimension.loss_and_grad"


def reference_train_in_subspace(theta0, P, loss_and_grad, lr, steps):
    """Gradient descent on z from 0 through autograd (the core's ``train_in_subspace``)."""
    from ..literature.intrinsic_dimension import train_in_subspace

    theta, _ = train_in_subspace(loss_and_grad.loss, theta0, P, steps, lr, optimizer="gd")
    return theta


def _quadratic(A, b):
    def loss(theta):
        return 0.5 * ((A @ theta - b) ** 2).sum() / A.shape[0]

    return loss


def _tiny_mlp_loss(x, y, sizes):
    from ..literature.intrinsic_dimension import mlp_forward

    def loss(theta):
        return torch.nn.functional.cross_entropy(mlp_forward(theta, x, sizes), y)

    return loss


def _subspace_cases() -> list[Case]:
    from ..literature.intrinsic_dimension import loss_and_gradient, mlp_init, mlp_num_params

    generator = seeded_generator(7100)

    def least_squares(m, D):
        A, b = random_matrix(m, D, generator), random_matrix(m, 1, generator)[:, 0]
        return loss_and_gradient(_quadratic(A, b))

    cases = []
    # (D, d, lr, steps): steps = 0 first (theta must be theta0), then a square P (d = D), where
    # P and P^T differ but both fit
    for D, d, lr, steps, label in [
        (12, 4, 0.1, 0, "steps = 0: nothing is trained"),
        (6, 6, 0.05, 40, "d = D = 6, least squares"),
        (30, 5, 0.05, 60, "D = 30, d = 5, least squares"),
    ]:
        theta0 = random_matrix(D, 1, generator)[:, 0]
        oracle = least_squares(20, D)
        cases.append(Case((theta0, _unit_columns(D, d, generator), oracle, lr, steps), label))
    sizes = [3, 5, 2]
    D = mlp_num_params(sizes)
    x = random_matrix(40, 3, generator)
    y = (x[:, 0] * x[:, 1] > 0).long()
    oracle = loss_and_gradient(_tiny_mlp_loss(x, y, sizes))
    theta0 = mlp_init(sizes, seed=7)
    cases.append(
        Case((theta0, _unit_columns(D, 8, generator), oracle, 0.5, 30), f"ReLU MLP, D={D}, d=8")
    )
    return cases


def _descend(theta0, P, loss_and_grad, lr, steps, *, direction, at, start=None, out=None):
    """A wrong loop: ``z <- z - lr * direction(P, g)`` with ``g`` taken at ``at(theta0, P z)``."""
    z = torch.zeros(P.shape[1], dtype=theta0.dtype)
    for _ in range(steps):
        _, grad = loss_and_grad(at(theta0, P @ z))
        z = z - lr * direction(P, grad)
    return (out or (lambda t0, pz: t0 + pz))(theta0, P @ z)


def _subspace_variant(direction=lambda P, g: P.T @ g, at=lambda t0, pz: t0 + pz, out=None, extra=0):
    def compute(theta0, P, loss_and_grad, lr, steps):
        return _descend(
            theta0, P, loss_and_grad, lr, max(steps + extra, 0), direction=direction, at=at, out=out
        )

    return compute


def _direct_training(theta0, P, loss_and_grad, lr, steps):
    theta = theta0.clone()
    for _ in range(steps):
        theta = theta - lr * loss_and_grad(theta)[1]
    return theta


def _gradient_at_theta0_only(theta0, P, loss_and_grad, lr, steps):
    _, grad = loss_and_grad(theta0)
    return theta0 + P @ (-lr * steps * (P.T @ grad))


_SUBSPACE_MISTAKES = (
    Mistake(
        _direct_training,
        "trained all D parameters directly: theta left the subspace theta0 + span(P)",
        "only z (d numbers) is trained; theta is always rebuilt as theta0 + P z",
    ),
    Mistake(
        _subspace_variant(direction=lambda P, g: P @ g),
        "used P instead of P^T to carry the gradient into the subspace",
        "the chain rule goes backwards through z -> theta0 + P z, with the transpose of P",
    ),
    Mistake(
        _subspace_variant(at=lambda t0, pz: pz, out=lambda t0, pz: pz),
        "theta0 was left out: theta = P z (or P z was returned without theta0)",
        "the subspace passes through the initialization: theta = theta0 + P z, in the "
        "gradient's argument and in the result",
    ),
    Mistake(
        _subspace_variant(at=lambda t0, pz: pz),
        "the gradient was taken at P z, without theta0",
        "ask for the gradient at the current theta, which includes theta0",
    ),
    Mistake(
        _subspace_variant(direction=lambda P, g: -(P.T @ g)),
        "stepped up the gradient (+ instead of -): the loss grows",
        "gradient descent moves z against its gradient",
    ),
    Mistake(
        _gradient_at_theta0_only,
        "the gradient was taken at theta0 in every step: theta was not rebuilt from z",
        "rebuild theta from the current z inside the loop, then ask for its gradient",
    ),
    Mistake(
        _subspace_variant(extra=1),
        "ran one step too many",
        "exactly `steps` gradient steps: check where the loop's count starts and ends",
    ),
    Mistake(
        _subspace_variant(extra=-1),
        "ran one step too few",
        "exactly `steps` gradient steps: check where the loop's count starts and ends",
    ),
)


def _in_span(vector, P) -> bool:
    coefficients = torch.linalg.lstsq(P, vector[:, None]).solution
    residual = vector - (P @ coefficients)[:, 0]
    return bool(torch.linalg.vector_norm(residual) <= 1e-6 * torch.linalg.vector_norm(vector))


def compare_subspace_training(expected, got, case: Case) -> Problem | None:
    theta0, P, _, _, steps = case.args
    D, d = P.shape
    tensor = to_tensor(got, "a vector")
    if not isinstance(tensor, Problem) and tuple(tensor.shape) == (d,) and d != D:
        return Problem(
            f"returned a vector of length d = {d}: that is z, not theta",
            "return the trained parameters theta = theta0 + P z (length D)",
        )
    problem = compare_arrays(expected, got, case, mistakes=_SUBSPACE_MISTAKES, name="theta")
    named = {mistake.what for mistake in _SUBSPACE_MISTAKES}
    if problem is None or problem.what in named or isinstance(tensor, Problem):
        return problem
    if tensor.shape != theta0.shape:
        return problem
    if steps == 0 and torch.isfinite(tensor).all() and _in_span(tensor - theta0, P):
        return Problem(
            "with steps = 0 theta should be theta0, but it moved inside the subspace: z did not "
            "start at 0",
            "z starts at the origin of the subspace, so training starts from theta0 itself",
        )
    return problem


TRAIN_IN_SUBSPACE = register(
    Exercise(
        id="07.train_in_subspace",
        title="Train in a random subspace",
        signature="train_in_subspace(theta0, P, loss_and_grad, lr, steps) -> theta",
        make_cases=_subspace_cases,
        reference=reference_train_in_subspace,
        compare=compare_subspace_training,
        hint="theta is never trained itself: it is always theta0 + P z, and only z (d numbers, "
        "starting at the origin) changes. Each step rebuilds theta from z, asks loss_and_grad "
        "for the gradient in theta (D numbers), carries it into z's space by the chain rule "
        "(d numbers) and takes a gradient-descent step on z; at the end, theta is rebuilt "
        "from the final z",
        tags=(CAPSTONE_TAG,),
        allowed_core_calls=(ORACLE,),
    )
)


# ---------------------------------------------------------------------------------------------
# 07.why_z_starts_at_zero (self-check)
# ---------------------------------------------------------------------------------------------

WHY_Z_STARTS_AT_ZERO = register(
    choice_question(
        id="07.why_z_starts_at_zero",
        title="A subspace run that starts at z = (1, ..., 1)",
        options={
            "a": "nothing: the gradient P^T grad_theta L holds at every z, so her runs are the "
            "same as yours",
            "b": "each run starts at theta0 + P 1, about sqrt(d) away from theta0 in a random "
            "direction, farther for larger d: accuracy(d) mixes the effect of the dimension with "
            "that of a start the baseline never uses, so her d_int90 no longer compares like "
            "with like",
            "c": "she trains in a different subspace than you for each d, so her d_int90 "
            "measures another problem",
            "d": "her runs start nearer a minimum, so her d_int90 comes out smaller and is the "
            "better measurement",
        },
        correct="b",
        why_wrong={
            "a": "the chain rule does hold at every z (theta0 + P z is linear in z), but the "
            "runs are not the same: gradient descent starts from theta0 + P z(0), and that "
            "point is not theta0",
            "c": "the affine subspace {theta0 + P z : z in R^d} is the same set whatever z "
            "starts at; z(0) only moves the starting point inside it",
            "d": "P 1 is a sum of d random unit columns, a random direction of length about "
            "sqrt(d): nothing points it toward a minimum, and the start it gives is not the "
            "initialization the baseline starts from",
        },
        hint="d_int90 compares two runs: training in the subspace and training all D "
        "parameters. Where does each of them start, and how far is theta0 + P 1 from theta0 "
        "when P has d unit columns in random directions?",
    )
)
