"""Lesson 11's checks: accept an independent solution, reject the stub and wrong answers."""

import math

import numpy as np
import pytest
import torch

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


@pytest.mark.parametrize("seed", range(5))
def test_hoyer_check_passes_a_right_answer_under_another_processors_rounding(seed, capsys):
    """Under the course's 1e-12 rounding model (a torch answer: its sums are perturbed too)
    the check passes; with a fixed atol of 1e-12 it failed on the flat vector, where H = 0."""
    from lowdim_course.rounding import RoundingPerturbation

    def torch_answer(x):
        x = x.flatten()
        root = x.numel() ** 0.5
        return float((root - x.abs().sum() / x.norm()) / (root - 1))

    with RoundingPerturbation(seed=seed) as mode:
        result = check("11.hoyer_sparsity", torch_answer)
    assert mode.count > 0 and result.passed, result.message


@pytest.mark.parametrize(("error", "passes"), [(1e-11, True), (1e-7, False)])
def test_hoyer_tolerance_is_relative_on_the_norm_ratio(error, passes, capsys):
    """An answer whose ratio ||x||_1 / ||x||_2 is off by ``error`` (relative): 1e-11 is
    rounding and passes, 1e-7 is not and fails, on every case (the flat one included)."""
    from lowdim_course.exercises.lesson11 import RATIO_RTOL, hoyer_tolerance

    def off(x):
        x = _flat(x)
        root = math.sqrt(x.size)
        return (root - (1 + error) * np.abs(x).sum() / np.linalg.norm(x)) / (root - 1)

    assert check("11.hoyer_sparsity", off).passed is passes
    flat = np.array(
        [2.0, -2.0, 2.0]
    )  # R = sqrt(3): the tolerance is RATIO_RTOL sqrt(3) / (sqrt(3) - 1)
    expected = RATIO_RTOL * math.sqrt(3) / (math.sqrt(3) - 1)
    assert hoyer_tolerance(torch.tensor(flat)) == pytest.approx(expected, rel=1e-12)


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


# ---------------------------------------------------------------------------------------------
# 11.rank_for_error (capstone)
# ---------------------------------------------------------------------------------------------


def rank_for_error_numpy(W, rel_error):
    """From the maths, in numpy: the first k whose tail energy is at most rel_error^2 ||W||_F^2."""
    energy = np.linalg.svd(np.asarray(W, dtype=float), compute_uv=False) ** 2
    for k in range(len(energy) + 1):
        if energy[k:].sum() <= rel_error**2 * energy.sum():
            return k
    return len(energy)


def rank_for_error_cumsum(W, rel_error):
    """A different correct answer: count the k whose error sqrt(1 - kept / total) is too big."""
    s = torch.linalg.svdvals(W)
    kept = torch.cat([torch.zeros(1, dtype=s.dtype), torch.cumsum(s**2, 0)])
    errors = torch.sqrt(torch.clamp(1 - kept / kept[-1], min=0))
    return int((errors > rel_error + 1e-12).sum())


def test_capstone_solutions_pass():
    assert check("11.rank_for_error", rank_for_error_numpy).passed
    assert check("11.rank_for_error", rank_for_error_cumsum).passed


def test_capstone_stub_is_rejected():
    result = check("11.rank_for_error", stub)
    assert not result.passed and "not implemented yet" in result.message


def _first(W, test):
    energy = np.linalg.svd(np.asarray(W, dtype=float), compute_uv=False) ** 2
    return next(k for k in range(len(energy) + 1) if test(energy, k))


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda W, eps: _first(W, lambda e, k: np.sqrt(e[k:].sum() / e.sum()) < eps),
         "< instead of <="),
        (lambda W, eps: _first(W, lambda e, k: e[k:].sum() / e.sum() <= eps),
         "error squared"),
        (lambda W, eps: _first(W, lambda e, k: np.sqrt(e[k:]).sum() / np.sqrt(e).sum() <= eps),
         "singular values themselves"),
        (lambda W, eps: rank_for_error_numpy(W, eps) - 1, "counting from 0"),
        (lambda W, eps: int((np.linalg.svd(np.asarray(W), compute_uv=False)
                             > eps * np.linalg.norm(np.asarray(W), 2)).sum()),
         "numerical rank"),
        (lambda W, eps: max(1, rank_for_error_numpy(W, eps)), "never returned 0"),
        (lambda W, eps: _first(W, lambda e, k: np.sqrt(e[:k].sum() / e.sum()) >= 1 - eps),
         "kept part"),
    ],
)  # fmt: skip
def test_capstone_mistakes_are_named(student, words):
    result = check("11.rank_for_error", student)
    assert not result.passed and words in result.message, result.message


def test_core_rank_for_error_edges():
    from lowdim_course.literature.compressibility import rank_for_error, rank_k_error

    W = torch.randn(7, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for eps in (0.05, 0.2, 0.5, 0.9):
        k = rank_for_error(W, eps)
        assert rank_k_error(W, k) <= eps and (k == 0 or rank_k_error(W, k - 1) > eps)
    assert rank_for_error(W, 1.0) == 0 and rank_for_error(torch.zeros(3, 4), 0.1) == 0
    assert rank_for_error(W, 1e-12) == 5
    with pytest.raises(ValueError, match="rel_error"):
        rank_for_error(W, -0.1)


# ---------------------------------------------------------------------------------------------
# 11.what_stable_rank_misses (self-check)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["c", "C", "(c)"])
def test_what_stable_rank_misses_right_letter_passes(answer):
    assert check("11.what_stable_rank_misses", lambda: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "not a count of terms"), ("b", "LARGER than eps * sigma_1"), ("d", "sqrt(1/3)")],
)
def test_what_stable_rank_misses_wrong_letters_explain(letter, words):
    result = check("11.what_stable_rank_misses", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


def test_what_stable_rank_misses_stub_is_rejected():
    assert "not implemented yet" in check("11.what_stable_rank_misses", stub).message


def test_the_answer_c_is_what_the_course_computes():
    # stable rank 1.5 with the last third of the energy in one value (k = 2) or in 499 (k = 486)
    from lowdim_course.literature.compressibility import rank_for_error
    from lowdim_course.theory.rank_measures import stable_rank

    one = torch.diag(torch.tensor([1.0, 0.5**0.5], dtype=torch.float64))
    tail = torch.full((499,), (0.5 / 499) ** 0.5, dtype=torch.float64)
    spread = torch.diag(torch.cat([torch.ones(1, dtype=torch.float64), tail]))
    assert stable_rank(one) == pytest.approx(1.5) and stable_rank(spread) == pytest.approx(1.5)
    assert rank_for_error(one, 0.1) == 2 and rank_for_error(spread, 0.1) == 486
    assert rank_for_error(spread, 0.1) > 1.5 / 0.1**2
