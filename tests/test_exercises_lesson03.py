"""Lesson 03's new checks: the capstone measurement and the self-check on identity inits.

The solutions below are written from the definitions (numpy, loops), not from the core.
"""

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check
from lowdim_course.random_matrices import make_generator, random_orthogonal
from lowdim_course.theory import count_singular_values_at, rho_trajectory

# ---------------------------------------------------------------------------------------------
# Independent solutions of 03.measure_layer
# ---------------------------------------------------------------------------------------------


def _rank_against_layer(layer_t, layer_0, rho, eps):
    w_t, w_0 = np.asarray(layer_t), np.asarray(layer_0)
    moved = np.linalg.svd(w_t - rho / eps * w_0, compute_uv=False)
    return int(np.sum(moved > 1e-10 * np.linalg.norm(w_t, 2)))


def measure_by_counting(layer_t, layer_0, eps):
    """For every singular value, count its equals (loops); the best one's group mean is rho."""
    sigma = np.linalg.svd(np.asarray(layer_t), compute_uv=False)
    best, best_count = None, -1
    for value in sigma:
        members = [other for other in sigma if abs(other - value) <= 1e-9 * value]
        if len(members) > best_count:
            best, best_count = float(np.mean(members)), len(members)
    return best, _rank_against_layer(layer_t, layer_0, best, eps)


def measure_by_longest_run(layer_t, layer_0, eps):
    """A different correct variant: sort, then the longest run of neighbours that agree."""
    sigma = np.sort(np.linalg.svd(np.asarray(layer_t), compute_uv=False))
    runs, start = [], 0
    for i in range(1, len(sigma) + 1):
        if i == len(sigma) or sigma[i] - sigma[i - 1] > 1e-10 * sigma[i - 1]:
            runs.append(sigma[start:i])
            start = i
    plateau = max(runs, key=len)
    rho = float(np.median(plateau))
    return rho, _rank_against_layer(layer_t, layer_0, rho, eps)


def stub(*args):
    raise NotImplementedError("your code here")


# ---------------------------------------------------------------------------------------------
# Plausible wrong answers, each written independently
# ---------------------------------------------------------------------------------------------


def measure_with_rho_eps(layer_t, layer_0, eps):
    return eps, _rank_against_layer(layer_t, layer_0, eps, eps)


def measure_with_median(layer_t, layer_0, eps):
    rho = float(np.median(np.linalg.svd(np.asarray(layer_t), compute_uv=False)))
    return rho, _rank_against_layer(layer_t, layer_0, rho, eps)


def measure_with_smallest(layer_t, layer_0, eps):
    rho = float(np.linalg.svd(np.asarray(layer_t), compute_uv=False).min())
    return rho, _rank_against_layer(layer_t, layer_0, rho, eps)


def measure_without_shrinking(layer_t, layer_0, eps):
    rho, _ = measure_by_counting(layer_t, layer_0, eps)
    return rho, int(np.linalg.matrix_rank(np.asarray(layer_t) - np.asarray(layer_0)))


def measure_with_matrix_rank(layer_t, layer_0, eps):
    rho, _ = measure_by_counting(layer_t, layer_0, eps)
    return rho, int(torch.linalg.matrix_rank(layer_t - rho / eps * layer_0))


CAPSTONE_MISTAKES = [
    (measure_with_rho_eps, "used rho = eps"),
    (measure_with_median, "median"),
    (measure_with_smallest, "smallest singular value"),
    (measure_without_shrinking, "subtracted W_l(0) itself"),
    (measure_with_matrix_rank, "relative to the moved part"),
]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solution", [measure_by_counting, measure_by_longest_run])
def test_independent_measurements_pass(solution):
    assert check("03.measure_layer", solution).passed


def test_the_measurement_stub_is_not_implemented_yet():
    result = check("03.measure_layer", stub)
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize(("wrong", "words"), CAPSTONE_MISTAKES)
def test_measurement_mistakes_are_named(wrong, words):
    result = check("03.measure_layer", wrong)
    assert not result.passed
    assert words in result.message
    assert " — hint: " in result.message


def test_a_single_number_is_not_a_pair():
    result = check("03.measure_layer", lambda layer_t, layer_0, eps: eps)
    assert not result.passed and "expected a pair" in result.message


def test_identity_init_moves_accepts_b_in_any_spelling():
    for answer in ("b", "B", "(b)"):
        assert check("03.identity_init_moves", lambda answer=answer: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "upper bound"), ("c", "stay at rho"), ("d", "depth does not add directions")],
)
def test_identity_init_moves_explains_every_wrong_option(letter, words):
    result = check("03.identity_init_moves", lambda: letter)
    assert not result.passed
    assert f"not ({letter})" in result.message and words in result.message


def _train_from_identity(target, depth, eps, eta, steps):
    d = target.shape[0]
    layers = [eps * torch.eye(d, dtype=torch.float64) for _ in range(depth)]

    def chain(ws):
        out = torch.eye(d, dtype=torch.float64)
        for w in ws:
            out = w @ out
        return out

    for _ in range(steps):
        residual = chain(layers) - target
        layers = [
            w - eta * chain(layers[i + 1 :]).T @ residual @ chain(layers[:i]).T
            for i, w in enumerate(layers)
        ]
    return layers


def test_from_eps_identity_a_symmetric_target_moves_r_directions_and_a_general_one_2r():
    """The self-check's answer (b) by training: d - r at rho for a symmetric target."""
    d, r, depth, eps, eta, steps = 12, 3, 3, 0.3, 0.05, 200
    generator = make_generator(1)
    u = random_orthogonal(d, generator).to(torch.float64)[:, :r]
    v = random_orthogonal(d, generator).to(torch.float64)[:, :r]
    s = torch.tensor([2.0, 1.0, 0.5], dtype=torch.float64)
    rho = float(rho_trajectory(eps, eta, depth, steps)[-1])
    symmetric = _train_from_identity((u * s) @ u.T, depth, eps, eta, steps)
    general = _train_from_identity((v * s) @ u.T, depth, eps, eta, steps)
    assert [count_singular_values_at(w, rho) for w in symmetric] == [d - r] * depth
    assert [count_singular_values_at(w, rho) for w in general] == [d - 2 * r] * depth


# ---------------------------------------------------------------------------------------------
# 03.moved_rank: the tolerance is relative to the layer
# ---------------------------------------------------------------------------------------------


def _moved_rank_explicit(layer_t, layer_0, rho, eps):
    """The lesson's solution: torch's rank with an explicit tolerance relative to the layer."""
    tolerance = 1e-10 * torch.linalg.matrix_norm(layer_t, ord=2)
    return int(torch.linalg.matrix_rank(layer_t - (rho / eps) * layer_0, atol=tolerance))


def _moved_rank_default(layer_t, layer_0, rho, eps):
    return int(torch.linalg.matrix_rank(layer_t - (rho / eps) * layer_0))


def test_the_default_tolerance_reads_rank_9_when_nothing_moved_and_is_named():
    from lowdim_course.exercises.lesson03 import MOVED_RANK

    nothing = MOVED_RANK.make_cases()[-1]
    assert "nothing moved" in nothing.label
    assert _moved_rank_default(*nothing.args) == 9  # the lesson quotes "rank 9 of 10"
    assert _moved_rank_explicit(*nothing.args) == 0
    result = check("03.moved_rank", _moved_rank_default)
    assert not result.passed
    assert "relative to the moved part's own largest singular value" in result.message
    assert "expected 0, got 9" in result.message


def test_the_explicit_tolerance_passes_with_and_without_another_processors_rounding():
    from lowdim_course.rounding import RoundingPerturbation

    assert check("03.moved_rank", _moved_rank_explicit).passed
    with RoundingPerturbation():
        assert check("03.moved_rank", _moved_rank_explicit).passed
        assert not check("03.moved_rank", _moved_rank_default).passed
