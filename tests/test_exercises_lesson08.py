"""Lesson 08's checks: accept independent solutions, reject the stub and wrong answers."""

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check


def magnitude_prune(weights, keep):  # numpy, by sorting
    w = np.asarray(weights)
    out = np.zeros_like(w)
    order = np.argsort(-np.abs(w))[:keep]
    out[order] = w[order]
    return out


def pruned_risk(X, y, beta, keep, noise):  # numpy lstsq gives the min-norm solution
    fitted = magnitude_prune(np.linalg.lstsq(np.asarray(X), np.asarray(y), rcond=None)[0], keep)
    error = np.asarray(beta).copy()
    error[: len(fitted)] -= fitted
    return noise**2 + float(error @ error)


def stub(*args):
    raise NotImplementedError("your code here")


def test_solutions_pass(capsys):
    assert check("08.magnitude_prune", magnitude_prune).passed
    assert check("08.pruned_risk", pruned_risk).passed


@pytest.mark.parametrize("exercise_id", ["08.magnitude_prune", "08.pruned_risk"])
def test_stub_is_rejected(exercise_id, capsys):
    result = check(exercise_id, stub)
    assert not result.passed and "not implemented yet" in result.message


def _keep_signed_largest(w, k):
    out = torch.zeros_like(w)
    index = torch.topk(w, k).indices
    out[index] = w[index]
    return out


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (_keep_signed_largest, "largest values"),
        (lambda w, k: torch.as_tensor(magnitude_prune(w, k + 1)), "one entry too many"),
        (lambda w, k: torch.as_tensor(np.abs(magnitude_prune(w, k))), "magnitudes instead"),
        (lambda w, k: w[torch.topk(w.abs(), k).indices], "wrong length"),
    ],
)
def test_wrong_pruning_is_named(student, words, capsys):
    result = check("08.magnitude_prune", student)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda X, y, b, k, s: pruned_risk(X, y, b, k, s) - s**2, "noise term"),
        (lambda X, y, b, k, s: pruned_risk(X, y, b, X.shape[1], s), "did not prune"),
        (lambda X, y, b, k, s: pruned_risk(X, y, b[: X.shape[1]], k, s), "first p entries"),
        (lambda X, y, b, k, s: "4.2", "expected a number"),
    ],
)
def test_wrong_risks_are_named(student, words, capsys):
    result = check("08.pruned_risk", student)
    assert not result.passed and words in result.message, result.message


# ---------------------------------------------------------------------------------------------
# Capstone 08.prune_and_retrain and self-check 08.retraining_with_more_samples
# ---------------------------------------------------------------------------------------------


def prune_and_retrain(X, y, weights, keep, lr, steps):  # numpy, a loop over the kept entries
    X, y, w0 = (np.asarray(a, dtype=float) for a in (X, y, weights))
    kept = np.argsort(-np.abs(w0))[:keep]
    w = np.zeros_like(w0)
    w[kept] = w0[kept]
    for _ in range(steps):
        residual = X @ w - y
        for j in kept:
            w[j] -= lr * (X[:, j] @ residual) / len(y)
    return w


def prune_and_retrain_on_columns(X, y, weights, keep, lr, steps):  # torch, only the kept columns
    kept = torch.topk(weights.abs(), keep).indices
    small, v = X[:, kept], weights[kept].clone()
    for _ in range(steps):
        v = v - lr * small.T @ (small @ v - y) / X.shape[0]
    out = torch.zeros_like(weights)
    out[kept] = v
    return out


def _retrain(X, y, weights, keep, lr, steps, *, start=None, masked=True, moving=False, n=None):
    X, y, w0 = (np.asarray(a, dtype=float) for a in (X, y, weights))
    mask = np.zeros_like(w0)
    mask[np.argsort(-np.abs(w0))[:keep]] = 1.0
    w = mask * w0 if start is None else start(w0, mask)
    for _ in range(steps):
        step = lr * X.T @ (X @ w - y) / (len(y) if n is None else n)
        w = w - (mask * step if masked else step)
        if moving:
            moved = np.zeros_like(w)
            moved[np.argsort(-np.abs(w))[:keep]] = 1.0
            w = moved * w
    return w


def test_capstone_solutions_pass(capsys):
    assert check("08.prune_and_retrain", prune_and_retrain).passed
    assert check("08.prune_and_retrain", prune_and_retrain_on_columns).passed


def test_capstone_stub_is_rejected(capsys):
    result = check("08.prune_and_retrain", stub)
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda X, y, w, k, lr, t: _retrain(X, y, w, k, lr, 0), "did not retrain"),
        (lambda *a: _retrain(*a, masked=False), "pruned weights were updated too"),
        (lambda *a: _retrain(*a, masked=False, moving=True), "mask was recomputed"),
        (lambda *a: _smallest(*a), "SMALLEST"),
        (lambda *a: _retrain(*a, start=lambda w0, m: np.zeros_like(w0)), "retrained from zero"),
        (lambda *a: _retrain(*a, n=1), "SUMMED squared error"),
        (lambda *a: _retrain(*a) + 1e-3 * (np.asarray(a[2]) != 0), "pruned weight is not 0"),
    ],
)
def test_wrong_retraining_is_named(student, words, capsys):
    result = check("08.prune_and_retrain", student)
    assert not result.passed and words in result.message, result.message


def _smallest(X, y, weights, keep, lr, steps):
    X, y, w0 = (np.asarray(a, dtype=float) for a in (X, y, weights))
    mask = np.zeros_like(w0)
    mask[np.argsort(np.abs(w0))[:keep]] = 1.0
    w = mask * w0
    for _ in range(steps):
        w = w - lr * mask * (X.T @ (X @ w - y)) / len(y)
    return w


@pytest.mark.parametrize("answer", ["b", "B", "(b)", " b "])
def test_self_check_right_letter_passes(answer, capsys):
    assert check("08.retraining_with_more_samples", lambda: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "no direction is starved"), ("c", "2 / lambda_max"), ("d", "210 weights")],
)
def test_self_check_wrong_letters_explain(letter, words, capsys):
    result = check("08.retraining_with_more_samples", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


@pytest.mark.slow
def test_self_check_numbers_are_the_lessons_runs():
    """The explanations' numbers, on the lesson's 50 sets at p = 300, s = 90, step 0.2: at
    n = 100 retraining rises towards a bad refit; at n = 200 it falls to a good one and stays."""
    from lowdim_course.threads import small_work

    printed = {
        100: (4.02, 8.58, (4.14, 4.84, 7.05), (0.0017, 0.0081), 4.0),
        200: (4.00, 3.67, (3.66, 3.66, 3.67), (0.097, 0.13), 3.0),
    }
    for n, (pruned, refit, steps, smallest, largest) in printed.items():
        with small_work():  # one thread, as the lesson computes them
            _check_retraining(n, pruned, refit, steps, smallest, largest)


def _check_retraining(n, pruned, refit, steps, smallest, largest):
    from lowdim_course.literature.pruning import (
        magnitude_prune,
        min_norm_least_squares,
        population_risk,
        retrain_by_gradient_descent,
        retrain_on_support,
        training_sets,
    )

    x, y, beta = training_sets(300, n=n, seeds=50)
    fits = min_norm_least_squares(x, y)

    def risk(w, beta=beta):
        return float(population_risk(w, beta, 1.0).mean())

    kept = magnitude_prune(fits, 90)
    assert round(risk(kept), 2) == pruned
    assert round(risk(retrain_on_support(x, y, kept != 0)), 2) == refit
    for count, value in zip((10, 100, 1000), steps, strict=True):
        assert round(risk(retrain_by_gradient_descent(x, y, fits, 90, 0.2, count)), 2) == value
    chosen = torch.gather(x, -1, torch.topk(fits.abs(), 90).indices[:, None, :].expand(-1, n, -1))
    values = torch.linalg.eigvalsh(chosen.transpose(-1, -2) @ chosen / n)
    low = values[:, 0]
    assert float(low.min()) == pytest.approx(smallest[0], rel=0.05)
    assert float(low.max()) == pytest.approx(smallest[1], rel=0.05)
    assert float(values[:, -1].max()) == pytest.approx(largest, rel=0.05)
