"""Lesson 05's checks accept independent solutions and reject the stub and plausible mistakes.

The solutions below are written from the formulas (numpy, loops), not from the core.
"""

import math

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check
from lowdim_course.exercises.lesson05 import reference_sensing_surrogate
from lowdim_course.problems import make_problem

# ---------------------------------------------------------------------------------------------
# Independent solutions
# ---------------------------------------------------------------------------------------------


def sensing_surrogate(operator, measurements, d):
    a, y = np.asarray(operator), np.asarray(measurements)
    m = a.shape[0]
    total = np.zeros((d, d))
    for i in range(m):  # sum_i y_i A_i, A_i = row i reshaped (row-major)
        total += y[i] * a[i].reshape(d, d)
    return m * total  # (1/m) sum / sigma^2 with sigma^2 = 1/m^2


def completion_surrogate(target, mask, p):
    target, mask = np.asarray(target), np.asarray(mask)
    out = np.zeros_like(target)
    for i, j in zip(*np.nonzero(mask), strict=True):
        out[i, j] = target[i, j] / p
    return out


def subspace_angle(surrogate, target, r):
    qa = np.linalg.svd(np.asarray(target))[0][:, :r]
    qb = np.linalg.svd(np.asarray(surrogate))[0][:, :r]
    # sine of the largest angle: the largest singular value of (I - Q_A Q_A^T) Q_B
    sine = np.linalg.norm(qb - qa @ (qa.T @ qb), ord=2)
    return math.asin(min(1.0, sine))


def stub(*args):
    raise NotImplementedError("your code here")


# ---------------------------------------------------------------------------------------------
# The scaling behind 05.sensing_surrogate
# ---------------------------------------------------------------------------------------------


def test_the_unbiased_sensing_surrogate_is_m_squared_times_the_core_s():
    problem = make_problem("ms", d=8, r=2, m=50, seed=3)
    unbiased = reference_sensing_surrogate(problem.operator, problem.measurements, 8)
    assert torch.allclose(unbiased, problem.surrogate() * 50**2, rtol=1e-12, atol=0)


def test_the_unbiased_sensing_surrogate_has_mean_m_star():
    # average over many independent operators: the mean approaches M* (Monte Carlo, 1/sqrt(n))
    target = make_problem("mf", d=6, r=1, seed=0).target
    total, n = torch.zeros(6, 6, dtype=torch.float64), 400
    for seed in range(n):
        problem = make_problem("ms", d=6, m=30, seed=seed, target=target)
        total += reference_sensing_surrogate(problem.operator, problem.measurements, 6)
    error = torch.linalg.matrix_norm(total / n - target) / torch.linalg.matrix_norm(target)
    assert error < 0.15  # a biased version (M*/m or M*/m^2) would be off by ~1


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exercise", "solution"),
    [
        ("05.sensing_surrogate", sensing_surrogate),
        ("05.completion_surrogate", completion_surrogate),
        ("05.subspace_angle", subspace_angle),
    ],
)
def test_checks_accept_an_independent_solution_and_reject_the_stub(exercise, solution):
    assert check(exercise, solution).passed
    result = check(exercise, stub)
    assert not result.passed and "not implemented" in result.message


def _aty(a, y, d):
    return (a.T @ y).reshape(d, d)


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (lambda a, y, d: _aty(a, y, d) / a.shape[0], "mean is M*/m²"),
        (lambda a, y, d: _aty(a, y, d), "Σ y_i A_i, whose mean is M*/m"),
        (lambda a, y, d: a.shape[0] * _aty(a, y, d).T, "transposed"),
        (lambda a, y, d: a.shape[0] * a.T @ y, "wrong shape"),
        (lambda a, y, d: 3 * a.shape[0] * _aty(a, y, d), "factor of about 3"),
    ],
)
def test_sensing_check_names_the_mistake(wrong, says):
    result = check("05.sensing_surrogate", wrong)
    assert not result.passed and says in result.message


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (lambda t, mask, p: t * mask, "forgot to divide by p"),
        (lambda t, mask, p: t / p, "forgot the mask"),
        (lambda t, mask, p: t * mask * p, "multiplied by p"),
        (lambda t, mask, p: t * (~mask) / p, "UNOBSERVED"),
        (lambda t, mask, p: (t * mask / p).T, "transposed"),
    ],
)
def test_completion_check_names_the_mistake(wrong, says):
    result = check("05.completion_surrogate", wrong)
    assert not result.passed and says in result.message


def _angles(s, t, r):
    qa = torch.linalg.svd(t)[0][:, :r]
    qb = torch.linalg.svd(s)[0][:, :r]
    return torch.arccos(torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1))


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (lambda s, t, r: _angles(s, t, r).min(), "SMALLEST principal angle"),
        (lambda s, t, r: torch.rad2deg(_angles(s, t, r).max()), "degrees"),
        (lambda s, t, r: torch.cos(_angles(s, t, r).max()), "cosine of the largest"),
        (lambda s, t, r: _angles(s, t, r), "expected one angle"),
        (
            lambda s, t, r: torch.arccos(
                torch.linalg.svdvals(
                    torch.linalg.svd(t)[2][:r] @ torch.linalg.svd(s)[2][:r].T
                ).clamp(-1, 1)
            ).max(),
            "RIGHT singular vectors",
        ),
    ],
)
def test_angle_check_names_the_mistake(wrong, says):
    result = check("05.subspace_angle", wrong)
    assert not result.passed and says in result.message
