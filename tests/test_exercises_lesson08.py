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
