"""Rank measures against numpy and hand computations, and over a training run."""

import math

import numpy as np
import pytest
import torch

import lowdim_course.problems
from lowdim_course import make_problem, original_network, train
from lowdim_course.history import History
from lowdim_course.theory import (
    effective_rank,
    effective_rank_of_spectrum,
    effective_rank_over_training,
    numerical_rank,
    stable_rank,
    stable_rank_over_training,
)


def test_effective_rank_spec_values():
    assert effective_rank(torch.eye(5)) == pytest.approx(5.0, rel=1e-12)
    rank_one = torch.outer(torch.arange(1.0, 5.0).double(), torch.tensor([1.0, -2.0, 0.5]).double())
    assert effective_rank(rank_one) == pytest.approx(1.0, abs=1e-6)
    p = np.array([0.75, 0.25])
    by_hand = math.exp(-(p * np.log(p)).sum())
    assert effective_rank(torch.diag(torch.tensor([3.0, 1.0]))) == pytest.approx(by_hand, 1e-6)
    assert effective_rank(torch.diag(torch.tensor([3.0, 1.0]))) == pytest.approx(1.7548, abs=1e-4)
    assert effective_rank(torch.zeros(3, 3)) == 0.0
    assert effective_rank([[2, 0], [0, 2]]) == pytest.approx(2.0)


def test_effective_rank_against_numpy_on_random_matrices():
    rng = np.random.default_rng(0)
    for shape in [(7, 7), (5, 9), (12, 3)]:
        matrix = rng.standard_normal(shape)
        sigma = np.linalg.svd(matrix, compute_uv=False)
        p = sigma / sigma.sum()
        expected = math.exp(-(p * np.log(p)).sum())
        assert effective_rank(torch.from_numpy(matrix)) == pytest.approx(expected, rel=1e-12)
        assert 1.0 <= expected <= min(shape)


def test_stable_rank_against_numpy():
    rng = np.random.default_rng(1)
    matrix = rng.standard_normal((8, 6))
    expected = np.linalg.norm(matrix, "fro") ** 2 / np.linalg.norm(matrix, 2) ** 2
    assert stable_rank(torch.from_numpy(matrix)) == pytest.approx(expected, rel=1e-12)
    assert stable_rank(torch.eye(4)) == pytest.approx(4.0)
    assert stable_rank(torch.zeros(2, 2)) == 0.0


def test_numerical_rank_matches_numpy_and_lives_in_theory():
    rng = np.random.default_rng(2)
    for rank in (1, 3, 6):
        matrix = rng.standard_normal((10, rank)) @ rng.standard_normal((rank, 8))
        assert numerical_rank(torch.from_numpy(matrix)) == np.linalg.matrix_rank(matrix) == rank
    assert numerical_rank(torch.diag(torch.tensor([1.0, 1e-3, 1e-9])), rtol=1e-6) == 2
    assert numerical_rank(torch.zeros(3, 3)) == 0
    assert lowdim_course.problems.numerical_rank is numerical_rank


def test_effective_rank_over_training_shows_incremental_learning():
    d, r = 30, 3
    problem = make_problem("mf", d=d, r=r, seed=0)
    network = original_network(d, 3, 0.01, seed=0)
    history = train(problem, network, lr=10.0, steps=3000, log_every=50, record_layers=True)
    curve = effective_rank_over_training(history)
    assert curve.shape == (len(history.log_iterations),)
    for index in (0, 7, len(curve) - 1):
        layers = history.layer_snapshots[index]
        end_to_end = layers[2] @ layers[1] @ layers[0]
        assert curve[index] == pytest.approx(effective_rank(end_to_end), rel=1e-9)
    target_rank = effective_rank(problem.target)
    assert curve[0] == pytest.approx(d, rel=1e-9)
    assert curve.min() < 1.5 < target_rank
    assert history.final_error < 1e-3
    assert curve[-1] == pytest.approx(target_rank, abs=0.01)
    stable = stable_rank_over_training(history)
    assert stable[-1] == pytest.approx(stable_rank(problem.target), abs=0.01)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: effective_rank(torch.ones(2, 2, 2)), "matrix"),
        (lambda: effective_rank(torch.tensor([[1.0, float("nan")]])), "matrix"),
        (lambda: stable_rank("abc"), "matrix"),
        (lambda: numerical_rank(torch.eye(2), rtol=-1.0), "rtol"),
        (lambda: effective_rank_of_spectrum([1.0, -1.0]), "singular_values"),
        (lambda: effective_rank_over_training(object()), "history"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_empty_history_gives_an_empty_curve():
    assert effective_rank_over_training(History()).shape == (0,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matrices():
    matrix = torch.diag(torch.tensor([3.0, 1.0], device="cuda"))
    assert effective_rank(matrix) == pytest.approx(1.7548, abs=1e-4)
    assert stable_rank(matrix) == pytest.approx(10.0 / 9.0, rel=1e-6)
    assert numerical_rank(matrix) == 2
