"""Lesson 09's checks: accept an independent solution, reject the stub and wrong answers."""

import math

import numpy as np
import pytest
import torch

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


def _prune(weights, threshold, largest_first=False, power=2, strict=False):
    w = np.abs(np.asarray(weights, dtype=float).ravel()) ** power
    energy = np.sort(w)[::-1] if largest_first else np.sort(w)
    share = np.cumsum(energy) / energy.sum()
    return int(np.sum(share < threshold if strict else share <= threshold))


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda w, e: _prune(w, e) / np.asarray(w).size, "forgot to square"),
        (lambda w, e: _prune(w, e * e), "number of prunable"),
        (lambda w, e: _prune(w, e, power=1) / np.asarray(w).size, "l1"),
        (lambda w, e: _prune(w, e * e, largest_first=True) / np.asarray(w).size, "LARGEST"),
        # differs from the right answer only at a tie, which one hidden case holds
        (lambda w, e: _prune(w, e * e, strict=True) / np.asarray(w).size, "used < instead"),
    ],
)
def test_wrong_prunable_answers_are_named(student, words, capsys):
    result = check("09.prunable_fraction", student)
    assert not result.passed and words in result.message, result.message


# ---------------------------------------------------------------------------------------------
# Capstone 09.block_tail_index and self-check 09.below_two
# ---------------------------------------------------------------------------------------------

SIZES = (2, 5, 10, 20, 50, 100, 500, 1000)


def block_tail_index(samples):  # numpy, a loop over blocks, np.median
    x = np.asarray(samples, dtype=float).ravel()
    n = x.size
    sizes = sorted({k for k in SIZES if 2 * k <= n} | {int(np.sqrt(n))})
    estimates = []
    for k1 in sizes:
        k2 = n // k1
        sums = [x[i * k1 : (i + 1) * k1].sum() for i in range(k2)]
        gap = np.mean(np.log(np.abs(sums))) - np.mean(np.log(np.abs(x[: k1 * k2])))
        estimates.append(np.log(k1) / gap)
    return float(np.median(estimates))


def block_tail_index_float32_median(samples):  # torch, the median of a float32 list
    n = samples.numel()
    estimates = []
    for k1 in sorted({k for k in SIZES if k <= n // 2} | {math.isqrt(n)}):
        x = samples[: (n // k1) * k1]
        y = x.view(-1, k1).sum(dim=1)
        estimates.append(math.log(k1) / (y.abs().log().mean() - x.abs().log().mean()).item())
    ordered = sorted(estimates)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return float(torch.tensor(ordered[middle - 1 : middle + 1]).mean())


def _default_sizes(n):
    return sorted({k for k in SIZES if 2 * k <= n} | {math.isqrt(n)})


def _consecutive(used, k1, k2):
    return used.reshape(k2, k1).sum(1)


def _blocks(samples, *, sizes=_default_sizes, sums=_consecutive, reduce=np.median, scale=None,
            leftovers=False):  # fmt: skip
    """The block estimate in numpy, with one part swapped for a wrong one."""
    x = np.asarray(samples, dtype=float).ravel()
    n = x.size
    estimates = []
    for k1 in sizes(n):
        k2 = n // k1
        used = x[: k1 * k2]
        gap = np.mean(np.log(np.abs(sums(used, k1, k2)))) - np.mean(
            np.log(np.abs(x if leftovers else used))
        )
        estimates.append((np.log(k1) if scale is None else scale(k1, k2)) / gap)
    return float(reduce(estimates))


def test_capstone_solutions_pass(capsys):
    assert check("09.block_tail_index", block_tail_index).passed
    assert check("09.block_tail_index", block_tail_index_float32_median).passed


def test_capstone_stub_is_rejected(capsys):
    result = check("09.block_tail_index", stub)
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda x: 1 / block_tail_index(x), "1/alpha"),
        (lambda x: _blocks(x, scale=lambda k1, k2: np.log(k2)), "log K2"),
        (lambda x: _blocks(x, reduce=np.mean), "instead of taking their median"),
        (lambda x: _blocks(x, reduce=lambda e: sorted(e)[(len(e) - 1) // 2]), "lower of the two"),
        (
            lambda x: _blocks(x, sums=lambda u, k1, k2: np.abs(u).reshape(k2, k1).sum(1)),
            "summed |X|",
        ),
        (lambda x: _blocks(x, sizes=lambda n: [k for k in SIZES if 2 * k <= n]), "sqrt(n)"),
        (
            lambda x: _blocks(
                x, sizes=lambda n: sorted({k for k in SIZES if k <= n} | {math.isqrt(n)})
            ),
            "larger than n/2",
        ),
        (lambda x: _blocks(x, sums=lambda u, k1, k2: u.reshape(k1, k2).sum(0)), "strided blocks"),
        (lambda x: _blocks(x, leftovers=True), "leftover samples"),
        # right on every stable sample (all read below 2); the uniform case reads above 2
        (lambda x: min(block_tail_index(x), 2.0), "capped the estimate at 2"),
    ],
)
def test_wrong_block_estimators_are_named(student, words, capsys):
    result = check("09.block_tail_index", student)
    assert not result.passed and words in result.message, result.message


@pytest.mark.parametrize("answer", ["b", "B", "(b)"])
def test_self_check_right_letter_passes(answer, capsys):
    assert check("09.below_two", lambda: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "1.02 raw and 1.88 centred"), ("c", "1.02 stays 1.02"), ("d", "make it worse")],
)
def test_self_check_wrong_letters_explain(letter, words, capsys):
    result = check("09.below_two", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message
