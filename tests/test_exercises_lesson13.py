"""Lesson 13's checks: accept independent solutions, reject the stub and plausible mistakes."""

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check


def trainable_counts(m, n, r):
    w = max(m, n)
    return [m * n, r * m + r * n, n * w + w * w + w * m, 3 * r**2]


def deep_lora_update(left, inner, right):  # numpy, independently of the core
    product = np.eye(np.asarray(inner[0]).shape[0])
    for factor in inner:  # M_1 acts first: it ends up rightmost
        product = np.asarray(factor) @ product
    return np.asarray(left) @ product @ np.asarray(right).T


def compressed_start(factors, eps, gradient, rank):
    """numpy: its own SVD and QR (other bases and signs than the core's: the check compares
    L R^T, which does not depend on them)."""
    w1, w2, w3 = (np.asarray(f) for f in factors)
    product = w3 @ w2 @ w1 / eps**3
    g = np.asarray(gradient)
    u, _, vt = np.linalg.svd(g)
    h = rank // 2
    m, n = g.shape
    if n >= m:
        right, _ = np.linalg.qr(np.hstack([vt[:h].T, product.T @ u[:, :h]]))
        right = -right  # another sign convention: still the same subspace
        return product @ right, right
    left, _ = np.linalg.qr(np.hstack([product @ vt[:h].T, u[:, :h]]))  # other order too
    return left, product.T @ left


def stub(*args):
    raise NotImplementedError("your code here")


def test_independent_solutions_pass(capsys):
    assert check("13.trainable_counts", trainable_counts).passed
    assert check("13.deep_lora_update", deep_lora_update).passed
    assert check("13.compressed_start", compressed_start).passed
    assert check("13.why_fixed_outer_factors", lambda: "b").passed


@pytest.mark.parametrize(
    "exercise_id",
    [
        "13.trainable_counts",
        "13.deep_lora_update",
        "13.compressed_start",
        "13.why_fixed_outer_factors",
    ],
)
def test_the_stub_is_rejected(exercise_id, capsys):
    result = check(exercise_id, stub)
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda m, n, r: [m * n, r * (m + n), 3 * max(m, n) ** 2, 3 * r * r], "three w x w"),
        (lambda m, n, r: [m * n, r * m * n, (m + n + max(m, n)) * max(m, n), 3 * r * r], "r m n"),
        (
            lambda m, n, r: [m * n, r * (m + n), (m + n + max(m, n)) * max(m, n),
                             3 * r * r + r * (m + n)],
            "outer factors L and R as trained",
        ),
        (lambda m, n, r: [m * n, r * (m + n), (m + n + min(m, n)) * min(m, n), 3 * r * r],
         "min(m, n)"),
        (lambda m, n, r: m * n, "wrong shape of the counts"),
    ],
)  # fmt: skip
def test_wrong_counts_are_named(student, words, capsys):
    result = check("13.trainable_counts", student)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda L, inner, R: L @ inner[0] @ inner[1] @ inner[2] @ R.T, "M_1 M_2 M_3"),
        (lambda L, inner, R: inner[2] @ inner[1] @ inner[0], "wrong shape of the update"),
        (lambda L, inner, R: 2 * L @ inner[2] @ inner[1] @ inner[0] @ R.T, "factor of about 2"),
    ],
)
def test_wrong_updates_are_named(student, words, capsys):
    result = check("13.deep_lora_update", student)
    assert not result.passed and words in result.message, result.message


def _only_gradient(factors, eps, gradient, rank):
    w1, w2, w3 = factors
    product = w3 @ w2 @ w1 / eps**3
    u, _, vh = torch.linalg.svd(gradient)
    m, n = gradient.shape
    if n >= m:
        right = vh[:rank].T
        return product @ right, right
    left = u[:, :rank]
    return left, product.T @ left


def _not_orthonormal(factors, eps, gradient, rank):
    w1, w2, w3 = factors
    product = w3 @ w2 @ w1 / eps**3
    u, _, vh = torch.linalg.svd(gradient)
    h, (m, n) = rank // 2, gradient.shape
    if n >= m:
        right = torch.cat([vh[:h].T, product.T @ u[:, :h]], dim=1)
        return product @ right, right
    left = torch.cat([u[:, :h], product @ vh[:h].T], dim=1)
    return left, product.T @ left


def _smaller_side(factors, eps, gradient, rank):
    w1, w2, w3 = (np.asarray(f) for f in factors)
    product = w3 @ w2 @ w1 / eps**3
    u, _, vt = np.linalg.svd(np.asarray(gradient))
    h, (m, n) = rank // 2, gradient.shape
    if n < m:
        right, _ = np.linalg.qr(np.hstack([vt[:h].T, product.T @ u[:, :h]]))
        return product @ right, right
    left, _ = np.linalg.qr(np.hstack([u[:, :h], product @ vt[:h].T]))
    return left, product.T @ left


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (_only_gradient, "gradient's top singular vectors alone"),
        (_not_orthonormal, "did not orthonormalize"),
        (_smaller_side, "smaller side"),
        (lambda f, e, g, r: compressed_start(f, e, g, r)[0], "expected a pair (L, R)"),
        (lambda f, e, g, r: compressed_start(f, e, g, 2 * r), "wrong shapes"),
        (lambda f, e, g, r: tuple(x.T for x in compressed_start(f, e, g, r)), "wrong shapes"),
    ],
)
def test_wrong_starts_are_named(student, words, capsys):
    result = check("13.compressed_start", student)
    assert not result.passed and words in result.message, result.message


def test_an_unscaled_product_is_named(capsys):
    def unscaled(factors, eps, gradient, rank):
        left, right = compressed_start(factors, 1.0, gradient, rank)
        return left, right

    result = check("13.compressed_start", unscaled)
    assert not result.passed and "without dividing by eps^3" in result.message, result.message


@pytest.mark.parametrize("answer", ["a", "c", "d", "e", 2])
def test_the_self_check_rejects_the_other_answers(answer, capsys):
    assert not check("13.why_fixed_outer_factors", lambda: answer).passed
