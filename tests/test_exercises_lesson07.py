"""Lesson 07's checks: accept independent solutions, reject the stub and wrong answers."""

import numpy as np
import pytest

from lowdim_course.exercises import check


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
