"""Lesson 07's checks: accept independent solutions, reject the stub and wrong answers."""

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check, exercise_ids


def subspace_gradient(P, grad_theta):  # numpy, one column at a time
    P, g = np.asarray(P), np.asarray(grad_theta)
    return np.array([P[:, j] @ g for j in range(P.shape[1])])


def d_int90(dims, accuracies, baseline):
    for d, a in sorted(zip(dims, accuracies, strict=False)):
        if a >= 0.9 * baseline:
            return d
    return None


def _smallest(dims, acc, test, ordered=True):
    pairs = zip(dims, acc, strict=True)
    return next(d for d, a in (sorted(pairs) if ordered else pairs) if test(a))


def stub(*args):
    raise NotImplementedError("your code here")


def test_solutions_pass(capsys):
    assert check("07.subspace_gradient", subspace_gradient).passed
    assert check("07.d_int90", d_int90).passed


@pytest.mark.parametrize("exercise_id", ["07.subspace_gradient", "07.d_int90"])
def test_stub_is_rejected(exercise_id, capsys):
    result = check(exercise_id, stub)
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda P, g: P @ (P.T @ g), "length D"),
        (lambda P, g: -(P.T @ g), "sign is flipped"),
        (lambda P, g: P.T @ g / P.shape[0], "divided by D"),
        (lambda P, g: 2 * (P.T @ g), "factor of about 2"),
        (lambda P, g: P.T, "shape"),
    ],
)
def test_wrong_gradients_are_named(student, words, capsys):
    result = check("07.subspace_gradient", student)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (
            lambda dims, acc, b: min(d for d, a in zip(dims, acc, strict=False) if a > 0.9 * b),
            "instead of >=",
        ),
        (
            lambda dims, acc, b: next(d for d, a in zip(dims, acc, strict=False) if a >= 0.9 * b),
            "given order",
        ),
        (
            lambda dims, acc, b: min(
                d for d, a in zip(dims, acc, strict=False) if a >= 0.9 * max(acc)
            ),
            "best subspace accuracy",
        ),
        (
            lambda dims, acc, b: min(d for d, a in zip(dims, acc, strict=False) if a >= 0.9),
            "0.9 itself",
        ),
        (lambda dims, acc, b: max(acc), "whole number"),
    ],
)
def test_wrong_dimensions_are_named(student, words, capsys):
    result = check("07.d_int90", student)
    assert not result.passed and words in result.message, result.message


def test_lesson07_exercises_are_registered():
    assert exercise_ids("07") == [
        "07.d_int90",
        "07.subspace_gradient",
        "07.train_in_subspace",
        "07.why_z_starts_at_zero",
    ]


# ---------------------------------------------------------------------------------------------
# 07.train_in_subspace (capstone)
# ---------------------------------------------------------------------------------------------


def subspace_descent_numpy(theta0, P, loss_and_grad, lr, steps):
    """From the maths, in numpy: z_0 = 0, z <- z - lr P^T grad(theta0 + P z), theta0 + P z."""
    t0, p = np.asarray(theta0, dtype=float), np.asarray(P, dtype=float)
    z = np.zeros(p.shape[1])
    for _ in range(steps):
        _, grad = loss_and_grad(torch.from_numpy(t0 + p @ z))
        z -= lr * (p.T @ np.asarray(grad, dtype=float))
    return t0 + p @ z


def descent_in_theta_space(theta0, P, loss_and_grad, lr, steps):
    """A different correct loop: theta itself, each step projected onto span(P) by P P^T."""
    theta = theta0.clone()
    for _ in range(steps):
        theta = theta - lr * (P @ (P.T @ loss_and_grad(theta)[1]))
    return theta


def test_capstone_solutions_pass():
    assert check("07.train_in_subspace", subspace_descent_numpy).passed
    assert check("07.train_in_subspace", descent_in_theta_space).passed


def test_capstone_stub_is_rejected():
    result = check("07.train_in_subspace", stub)
    assert not result.passed and "not implemented yet" in result.message


def _loop(step, start=lambda d: torch.zeros(d, dtype=torch.float64), at=None, out=None):
    """A wrong loop written by hand from the pieces given."""

    def student(theta0, P, loss_and_grad, lr, steps):
        z = start(P.shape[1])
        for _ in range(steps):
            where = (at or (lambda t0, pz: t0 + pz))(theta0, P @ z)
            z = z - lr * step(P, loss_and_grad(where)[1])
        return (out or (lambda t0, pz: t0 + pz))(theta0, P @ z)

    return student


def _train_theta_directly(theta0, P, loss_and_grad, lr, steps):
    theta = theta0.clone()
    for _ in range(steps):
        theta = theta - lr * loss_and_grad(theta)[1]
    return theta


def _returns_z(theta0, P, loss_and_grad, lr, steps):
    z = torch.zeros(P.shape[1], dtype=torch.float64)
    for _ in range(steps):
        z = z - lr * (P.T @ loss_and_grad(theta0 + P @ z)[1])
    return z


def _random_start(d):
    return torch.randn(d, dtype=torch.float64)


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (_train_theta_directly, "trained all D parameters directly"),
        (_loop(lambda P, g: P @ g), "P instead of P^T"),
        (_loop(lambda P, g: P.T @ g, at=lambda t0, pz: pz, out=lambda t0, pz: pz),
         "theta0 was left out"),
        (_loop(lambda P, g: P.T @ g, out=lambda t0, pz: pz), "theta0 was left out"),
        (_loop(lambda P, g: P.T @ g, at=lambda t0, pz: pz), "gradient was taken at P z"),
        (_loop(lambda P, g: P.T @ g, start=_random_start), "z did not start at 0"),
        (_loop(lambda P, g: -(P.T @ g)), "+ instead of -"),
        (_returns_z, "that is z, not theta"),
    ],
)  # fmt: skip
def test_capstone_mistakes_are_named(student, words):
    result = check("07.train_in_subspace", student)
    assert not result.passed and words in result.message, result.message


def test_gradient_frozen_at_theta0_and_step_counts_are_named():
    def frozen(theta0, P, loss_and_grad, lr, steps):
        grad = loss_and_grad(theta0)[1]
        z = torch.zeros(P.shape[1], dtype=torch.float64)
        for _ in range(steps):
            z = z - lr * (P.T @ grad)
        return theta0 + P @ z

    def counted(extra):
        def student(theta0, P, loss_and_grad, lr, steps):
            return subspace_descent_numpy(theta0, P, loss_and_grad, lr, steps + extra)

        return student

    assert "taken at theta0 in every step" in check("07.train_in_subspace", frozen).message
    assert "one step too many" in check("07.train_in_subspace", counted(1)).message
    assert "one step too few" in check("07.train_in_subspace", lambda t, P, o, lr, s: (
        subspace_descent_numpy(t, P, o, lr, max(s - 1, 0)))).message  # fmt: skip


def test_the_oracle_is_the_only_core_call_an_answer_may_make():
    from lowdim_course.exercises import get_exercise

    exercise = get_exercise("07.train_in_subspace")
    assert exercise.allowed_core_calls == (
        "lowdim_course.literature.intrinsic_dimension.loss_and_grad",
    )
    oracle = exercise.make_cases()[1].args[2]
    assert f"{oracle.__module__}.{oracle.__name__}" == exercise.allowed_core_calls[0]


# ---------------------------------------------------------------------------------------------
# 07.why_z_starts_at_zero (self-check)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["b", "B", "(b)"])
def test_why_z_right_letter_passes(answer):
    assert check("07.why_z_starts_at_zero", lambda: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "chain rule does hold at every z"), ("c", "same set"), ("d", "random direction")],
)
def test_why_z_wrong_letters_explain(letter, words):
    result = check("07.why_z_starts_at_zero", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


def test_why_z_the_shifted_start_is_about_sqrt_d_from_theta0():
    # the right answer's number: ||P 1|| for d random unit columns in R^D is about sqrt(d)
    # (the cross terms p_i . p_j are of order 1/sqrt(D)), at the capstone's D = 516
    from lowdim_course.literature.intrinsic_dimension import dense_projection

    for d in (10, 50, 100):
        P = dense_projection(516, d, seed=1)
        shift = torch.linalg.vector_norm(P @ torch.ones(d, dtype=P.dtype))
        assert 0.8 < float(shift) / d**0.5 < 1.2


def test_why_z_stub_is_rejected():
    assert "not implemented yet" in check("07.why_z_starts_at_zero", stub).message
