"""Lesson 09's checks: accept an independent solution, reject the stub and wrong answers."""

import numpy as np
import pytest

from lowdim_course.exercises import check


def hill_estimator(samples, k):  # written with numpy, independently of the core
    x = np.sort(np.abs(np.asarray(samples, dtype=float)))[::-1]
    return 1.0 / np.mean(np.log(x[:k] / x[k]))


def prunable_fraction(weights, rel_error):
    w = np.asarray(weights, dtype=float).ravel()
    energy = np.sort(w**2)
    removable = np.searchsorted(np.cumsum(energy), rel_error**2 * energy.sum(), side="right")
    return removable / w.size


def stub(*args):
    raise NotImplementedError("your code here")


def test_solutions_pass(capsys):
    assert check("09.hill_estimator", hill_estimator).passed
    assert check("09.prunable_fraction", prunable_fraction).passed
    assert capsys.readouterr().out.count("✅") == 2


@pytest.mark.parametrize("exercise_id", ["09.hill_estimator", "09.prunable_fraction"])
def test_stub_is_rejected(exercise_id, capsys):
    result = check(exercise_id, stub)
    assert not result.passed and "not implemented yet" in result.message


def _sorted(x):
    return np.sort(np.abs(np.asarray(x, dtype=float)))[::-1]


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda x, k: np.mean(np.log(_sorted(x)[:k] / _sorted(x)[k])), "1/alpha"),
        (lambda x, k: 1 / np.mean(np.log(_sorted(x)[:k] / _sorted(x)[k - 1])), "k-th largest"),
        (lambda x, k: (k + 1) / np.sum(np.log(_sorted(x)[:k] / _sorted(x)[k])), "k+1 terms"),
        (lambda x, k: 1 / np.mean(np.log(_sorted(x)[: k + 1] / _sorted(x)[k + 1])), "wrong value"),
    ],
)
def test_wrong_hill_answers_are_named(student, words, capsys):
    result = check("09.hill_estimator", student)
    assert not result.passed and words in result.message, result.message


def _prune(weights, threshold, largest_first=False, power=2):
    w = np.abs(np.asarray(weights, dtype=float).ravel()) ** power
    energy = np.sort(w)[::-1] if largest_first else np.sort(w)
    return int(np.sum(np.cumsum(energy) / energy.sum() <= threshold))


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda w, e: _prune(w, e) / np.asarray(w).size, "forgot to square"),
        (lambda w, e: _prune(w, e * e), "number of prunable"),
        (lambda w, e: _prune(w, e, power=1) / np.asarray(w).size, "l1"),
        (lambda w, e: _prune(w, e * e, largest_first=True) / np.asarray(w).size, "LARGEST"),
    ],
)
def test_wrong_prunable_answers_are_named(student, words, capsys):
    result = check("09.prunable_fraction", student)
    assert not result.passed and words in result.message, result.message
