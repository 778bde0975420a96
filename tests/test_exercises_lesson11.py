"""Lesson 11's checks: accept an independent solution, reject the stub and wrong answers."""

import math

import numpy as np
import pytest

from lowdim_course.exercises import check


def stable_rank(w):  # numpy, independently of the core
    s = np.linalg.svd(np.asarray(w, dtype=float), compute_uv=False)
    return float(np.sum(s**2) / s[0] ** 2)


def hoyer_sparsity(x):
    x = np.asarray(x, dtype=float).ravel()
    root = math.sqrt(x.size)
    return (root - np.abs(x).sum() / np.linalg.norm(x)) / (root - 1)


def stub(*args):
    raise NotImplementedError("your code here")


def test_solutions_pass(capsys):
    assert check("11.stable_rank", stable_rank).passed
    assert check("11.hoyer_sparsity", hoyer_sparsity).passed


@pytest.mark.parametrize("exercise_id", ["11.stable_rank", "11.hoyer_sparsity"])
def test_stub_is_rejected(exercise_id, capsys):
    result = check(exercise_id, stub)
    assert not result.passed and "not implemented yet" in result.message


def _s(w):
    return np.linalg.svd(np.asarray(w, dtype=float), compute_uv=False)


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda w: np.linalg.norm(_s(w)) / _s(w)[0], "forgot the squares"),
        (lambda w: _s(w).sum() / _s(w)[0], "nuclear"),
        (lambda w: int(np.linalg.matrix_rank(np.asarray(w))), "the rank"),
        (lambda w: np.sum(_s(w) ** 2) / _s(w)[0], "wrong value"),
    ],
)
def test_wrong_stable_ranks_are_named(student, words, capsys):
    result = check("11.stable_rank", student)
    assert not result.passed and words in result.message, result.message


def _flat(x):
    return np.asarray(x, dtype=float).ravel()


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda x: np.abs(_flat(x)).sum() / np.linalg.norm(_flat(x)), "itself"),
        (
            lambda x: (
                (math.sqrt(_flat(x).size) - abs(_flat(x).sum()) / np.linalg.norm(_flat(x)))
                / (math.sqrt(_flat(x).size) - 1)
            ),
            "|sum x|",
        ),
        (
            lambda x: (
                1 - np.abs(_flat(x)).sum() / np.linalg.norm(_flat(x)) / math.sqrt(_flat(x).size)
            ),
            "1 - ratio",
        ),
    ],
)
def test_wrong_hoyer_answers_are_named(student, words, capsys):
    result = check("11.hoyer_sparsity", student)
    assert not result.passed and words in result.message, result.message
