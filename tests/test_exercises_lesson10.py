"""Lesson 10's checks: accept an independent solution, reject the stub and wrong answers."""

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check


def checkpoint_basis(checkpoints):  # classical Gram-Schmidt in numpy, re-orthogonalized
    rows = []
    for v in np.asarray(checkpoints, dtype=float):
        for _ in range(2):
            for p in rows:
                v = v - (p @ v) * p
        rows.append(v / np.linalg.norm(v))
    return np.array(rows)


def qr_basis(checkpoints):
    q, _ = torch.linalg.qr(checkpoints.T)
    return q.T


def projected_step(weights, gradient, basis, lr):
    return weights - lr * (basis.T @ (basis @ gradient))


def stub(*args):
    raise NotImplementedError("your code here")


def test_solutions_pass(capsys):
    assert check("10.checkpoint_basis", checkpoint_basis).passed
    assert check("10.checkpoint_basis", qr_basis).passed  # another basis of the same span
    assert check("10.projected_step", projected_step).passed


@pytest.mark.parametrize("exercise_id", ["10.checkpoint_basis", "10.projected_step"])
def test_stub_is_rejected(exercise_id, capsys):
    result = check(exercise_id, stub)
    assert not result.passed and "not implemented yet" in result.message


def _normalized(c):
    return c / c.norm(dim=1, keepdim=True)


def _orthogonal_unnormalized(c):
    q = qr_basis(c)
    return q * torch.arange(1, q.shape[0] + 1, dtype=q.dtype)[:, None]


def _wrong_span(c):
    q, _ = torch.linalg.qr(torch.randn(c.shape[1], c.shape[0], dtype=torch.float64))
    return q.T


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda c: qr_basis(c).T, "transposed"),
        (_normalized, "not orthogonal"),
        (_orthogonal_unnormalized, "not of norm 1"),
        (_wrong_span, "do not span"),
    ],
)
def test_wrong_bases_are_named(student, words, capsys):
    result = check("10.checkpoint_basis", student)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda w, g, p, lr: w - lr * g, "full gradient"),
        (lambda w, g, p, lr: w + lr * p.T @ (p @ g), "uphill"),
        (lambda w, g, p, lr: w - lr * (g - p.T @ (p @ g)), "ORTHOGONAL"),
        (lambda w, g, p, lr: w - p.T @ (p @ g), "learning rate"),
        (lambda w, g, p, lr: p @ g, "wrong"),
    ],
)
def test_wrong_steps_are_named(student, words, capsys):
    result = check("10.projected_step", student)
    assert not result.passed and words in result.message, result.message
