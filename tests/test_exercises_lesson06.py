"""Lesson 06 checks: accept an independent solution, reject the stub and plausible mistakes."""

import numpy as np
import pytest
import torch
from torch import nn

from lowdim_course.exercises import check, exercise_ids


def surrogate_solution(features, labels, output_weight, output_bias):
    # written from the formula with numpy: S = C^T (Y - P)^T Phi / n
    phi = np.asarray(features, dtype=float)
    c = np.asarray(output_weight, dtype=float)
    logits = np.asarray(output_bias, dtype=float)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    y = np.zeros((phi.shape[0], c.shape[0]))
    y[np.arange(phi.shape[0]), np.asarray(labels)] = 1.0
    return c.T @ (y - p).T @ phi / phi.shape[0]


def block_solution(surrogate, r_hat, depth, eps):
    u, _, vh = np.linalg.svd(np.asarray(surrogate, dtype=float))
    weights = [eps * vh[:r_hat]] + [eps * np.eye(r_hat)] * (depth - 2) + [eps * u[:, :r_hat]]
    layers = []
    for weight in weights:
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight))
        layers.append(layer)
    return nn.Sequential(*layers)


def stub(*args):
    raise NotImplementedError("your code here")


def test_lesson06_exercises_are_registered():
    assert exercise_ids("06") == ["06.block_surrogate", "06.compressed_block"]


def test_independent_solutions_pass():
    assert check("06.block_surrogate", surrogate_solution).passed
    assert check("06.compressed_block", block_solution).passed
    # a plain list of layers, float32 weights, and flipped singular pairs are fine too
    assert check("06.compressed_block", lambda *a: list(block_solution(*a))).passed

    def flipped(surrogate, r_hat, depth, eps):
        block = block_solution(surrogate, r_hat, depth, eps)
        with torch.no_grad():
            block[0].weight[0] *= -1
            block[-1].weight[:, 0] *= -1
        return block

    assert check("06.compressed_block", flipped).passed


@pytest.mark.parametrize("exercise", ["06.block_surrogate", "06.compressed_block"])
def test_stub_is_rejected(exercise):
    result = check(exercise, stub)
    assert not result.passed and "not implemented" in result.message


def _softmax(bias):
    p = np.exp(bias - bias.max())
    return p / p.sum()


def _with_residual(residual):
    def student(features, labels, output_weight, output_bias):
        phi, c, b = (np.asarray(t, dtype=float) for t in (features, output_weight, output_bias))
        y = np.eye(c.shape[0])[np.asarray(labels)]
        return c.T @ residual(y, b).T @ phi / phi.shape[0]

    return student


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (_with_residual(lambda y, b: y), "predictions P are missing"),
        (_with_residual(lambda y, b: y - 1.0 / y.shape[1]), "output bias c was left out"),
        (_with_residual(lambda y, b: y - 1 / (1 + np.exp(-b))), "sigmoid"),
        (_with_residual(lambda y, b: _softmax(b) - y), "factor of -1"),
        (lambda f, y, c, b: surrogate_solution(f, y, c, b) * len(y), "factor of about"),
        (lambda f, y, c, b: surrogate_solution(f, y, c, b).T, "transposed"),
    ],
)
def test_surrogate_mistakes_are_diagnosed(student, words):
    result = check("06.block_surrogate", student)
    assert not result.passed and words in result.message, result.message


def _linear(weight, bias=False):
    weight = torch.as_tensor(weight, dtype=torch.float64)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def _with_weights(make):
    def student(surrogate, r_hat, depth, eps):
        u, _, vh = torch.linalg.svd(surrogate)
        return nn.Sequential(*(_linear(w) for w in make(u, vh, r_hat, depth, eps)))

    return student


def _right(u, vh, r, depth, eps):
    return [eps * vh[:r]] + [eps * torch.eye(r)] * (depth - 2) + [eps * u[:, :r]]


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda s, r, depth, eps: [w.weight for w in block_solution(s, r, depth, eps)],
         "weight matrices, not layers"),
        (lambda s, r, depth, eps: nn.Sequential(*block_solution(s, r, depth, eps), nn.ReLU()),
         "every layer must be an nn.Linear"),
        (_with_weights(lambda u, vh, r, depth, eps: _right(u, vh, r, depth + 1, eps)),
         "off by one"),
        (lambda s, r, depth, eps: nn.Sequential(
            *(_linear(layer.weight.detach(), bias=True)
              for layer in block_solution(s, r, depth, eps))), "have a bias"),
        (_with_weights(lambda u, vh, r, depth, eps: [eps * u[:, :r].T]
                       + [eps * torch.eye(r)] * (depth - 2) + [eps * vh[:r].T]),
         "W_1 holds the left singular vectors"),
        (_with_weights(lambda u, vh, r, depth, eps: [vh[:r]] + [eps * torch.eye(r)] * (depth - 2)
                       + [u[:, :r]]), "rows of W_1 should have norm eps"),
        (_with_weights(lambda u, vh, r, depth, eps: [eps * vh[-r:]]
                       + [eps * torch.eye(r)] * (depth - 2) + [eps * u[:, -r:]]),
         "SMALLEST singular values"),
        (lambda s, r, depth, eps: nn.Sequential(
            *(nn.Linear(layer.in_features, layer.out_features, bias=False, dtype=torch.float64)
              for layer in block_solution(s, r, depth, eps))), "nn.Linear starts with random"),
        (lambda s, r, depth, eps: nn.Sequential(
            *(_linear(layer.weight.detach().T)
              for layer in block_solution(s, r, depth, eps))), "in and out features swapped"),
    ],
)  # fmt: skip
def test_block_mistakes_are_diagnosed(student, words):
    result = check("06.compressed_block", student)
    assert not result.passed and words in result.message, result.message
