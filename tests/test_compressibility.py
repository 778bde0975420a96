"""Compressibility measures (Ou et al. survey): sparsity, compression errors, erank staircase."""

import math

import pytest
import torch

from lowdim_course.demos.lesson03 import course_learning_rate
from lowdim_course.literature.compressibility import (
    erank_staircase,
    gini_index,
    hoyer_sparsity,
    k_sparse_error,
    l1_l2_ratio,
    matrix_family,
    prediction_table,
    rank_for_error,
    rank_k_error,
    spearman,
)
from lowdim_course.networks import original_network
from lowdim_course.problems import make_problem
from lowdim_course.training import train


def test_sparsity_measures_on_known_vectors():
    one_hot, flat = [0.0, 0.0, 3.0, 0.0], [1.0, -1.0, 1.0, -1.0]
    assert hoyer_sparsity(one_hot) == pytest.approx(1.0)
    assert hoyer_sparsity(flat) == pytest.approx(0.0, abs=1e-15)
    assert l1_l2_ratio(one_hot) == pytest.approx(1.0) and l1_l2_ratio(flat) == pytest.approx(2.0)
    assert gini_index(one_hot) == pytest.approx(0.75) and gini_index(flat) == pytest.approx(0.0)
    # (sqrt(3) - 3/sqrt(5)) / (sqrt(3) - 1) for (1, 2, 0)
    expected = (math.sqrt(3) - 3 / math.sqrt(5)) / (math.sqrt(3) - 1)
    assert hoyer_sparsity([1.0, 2.0, 0.0]) == pytest.approx(expected)
    # Gini of (1, 2, 3): 1 - 2 * (1/6 * 2.5 + 2/6 * 1.5 + 3/6 * 0.5) / 3
    assert gini_index([3.0, 1.0, 2.0]) == pytest.approx(1 - 2 * (2.5 + 3 + 1.5) / 18)


def test_compression_errors():
    w = torch.diag(torch.tensor([3.0, 2.0, 1.0], dtype=torch.float64))
    assert rank_k_error(w, 1) == pytest.approx(math.sqrt(5 / 14))
    assert rank_k_error(w, 3) == 0.0 and rank_k_error(w, 0) == pytest.approx(1.0)
    assert k_sparse_error(w, 2) == pytest.approx(math.sqrt(1 / 14))
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(8, 6, generator=generator, dtype=torch.float64)
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    best = (u[:, :2] * s[:2]) @ vh[:2]
    assert rank_k_error(a, 2) == pytest.approx(
        float(torch.linalg.norm(a - best) / torch.linalg.norm(a))
    )


def test_each_measure_predicts_its_own_error():
    table = prediction_table(matrix_family(count=24, size=20, seed=1)[0])
    rho = table["correlation"]
    assert rho["effective rank"]["rank-k"] > 0.9 and rho["stable rank"]["rank-k"] > 0.9
    assert rho["Hoyer"]["k-sparse"] < -0.9 and rho["Gini"]["k-sparse"] < -0.9
    assert abs(rho["effective rank"]["k-sparse"]) < abs(rho["Hoyer"]["k-sparse"])
    assert abs(rho["Hoyer"]["rank-k"]) < abs(rho["effective rank"]["rank-k"])
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_erank_staircase_of_deep_factorization():
    # d=50, r=5, L=3: 50 -> ... -> 1.00 -> 2.97 -> 4.88 = erank(M*), each plateau read halfway
    # between two modes being learned (timed by the singular values, not by the curve)
    problem = make_problem("mf", d=50, r=5, seed=0)
    network = original_network(50, 3, 1e-2, seed=0)
    history = train(problem, network, lr=course_learning_rate(50), steps=3000, log_every=10)
    stairs = erank_staircase(history, problem.target)
    assert stairs["start"] == pytest.approx(50.0)
    assert stairs["lowest"] == pytest.approx(1.00, abs=0.005)
    assert stairs["target"] == pytest.approx(4.875, abs=0.001)
    assert stairs["end"] == pytest.approx(stairs["target"], abs=1e-3)
    for measured, predicted in zip(stairs["plateaus"], stairs["predicted"], strict=True):
        assert measured == pytest.approx(predicted, abs=0.02)
    assert stairs["plateaus"][2] == pytest.approx(2.97, abs=0.02)
    learned = stairs["learned_at"]
    assert None not in learned and learned == sorted(learned)
    # two layers separate the modes less: halfway readings are far above the prediction
    shallow = train(problem, original_network(50, 2, 1e-2, seed=0), lr=course_learning_rate(50),
                    steps=3000, log_every=10)  # fmt: skip
    loose = erank_staircase(shallow, problem.target)
    assert loose["plateaus"][0] > loose["predicted"][0] + 1.0


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: hoyer_sparsity([0.0, 0.0]), "values"),
        (lambda: hoyer_sparsity([1.0]), "values"),
        (lambda: gini_index([float("nan"), 1.0]), "values"),
        (lambda: l1_l2_ratio([]), "values"),
        (lambda: rank_k_error(torch.eye(3), 4), "k"),
        (lambda: k_sparse_error(torch.eye(3), -1), "k"),
        (lambda: rank_k_error(torch.ones(3), 1), "matrix"),
        (lambda: prediction_table([torch.eye(3)]), "matrices"),
        (lambda: prediction_table([torch.eye(3), torch.eye(3)], keep=0.0), "keep"),
        (lambda: matrix_family(count=1), "count"),
    ],
)
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_the_stable_entry_family_has_full_rank_but_can_have_a_tiny_effective_rank():
    # Lesson 11's words: every stable-entry matrix has rank 30, yet at alpha = 0.6 a few entries
    # carry the norm (effective rank about 1.4) while Gaussian entries give about 24.
    from lowdim_course.literature.compressibility import matrix_family
    from lowdim_course.theory.rank_measures import effective_rank

    matrices, labels = matrix_family()
    stable = [(lab["parameter"], m) for m, lab in zip(matrices, labels, strict=True)
              if lab["kind"] == "stable entries"]  # fmt: skip
    assert all(torch.linalg.matrix_rank(m).item() == 30 for _, m in stable)
    eranks = {round(alpha, 2): float(effective_rank(m)) for alpha, m in stable}
    assert 1.3 < eranks[0.6] < 1.5 and min(eranks.values()) == eranks[0.6]
    assert 22 < eranks[2.0] < 26


def test_no_measure_of_the_spectrum_clearly_beats_the_others_at_predicting_rank_k_error():
    """Lesson 11's reading of the survey's claim: over five families the effective rank does not
    outperform the l1/l2 ratio of the singular values (nuclear / Frobenius), and the stable
    rank is the weakest predictor at the larger budgets."""
    from lowdim_course.literature.compressibility import spectral_prediction_over_seeds

    table = spectral_prediction_over_seeds(keeps=(0.1, 0.3))
    small, large = table["correlation"][0.1], table["correlation"][0.3]
    assert small["l1/l2 (nuclear / Frobenius)"][0] >= small["effective rank"][0]
    assert table["best_counts"][0.1]["effective rank"] == 0
    assert large["minus Gini"][0] >= large["effective rank"][0] - 0.005
    for keep in (0.1, 0.3):
        means = {name: mean for name, (mean, _) in table["correlation"][keep].items()}
        assert all(mean > 0.9 for mean in means.values())
        assert sum(table["best_counts"][keep].values()) == 5
    assert min(large, key=lambda name: large[name][0]) == "stable rank"
    with pytest.raises(ValueError, match="at least 2 seeds"):
        spectral_prediction_over_seeds(seeds=(0,))


def test_rank_for_error_at_error_one_is_zero_whatever_the_rounding():
    # the tail summed from the end can exceed the total summed from the front by one ulp;
    # relative error 1 must still give rank 0 (the zero matrix), for every matrix
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        shape = tuple(int(n) for n in torch.randint(2, 9, (2,), generator=generator))
        matrix = torch.randn(*shape, generator=generator, dtype=torch.float64)
        assert rank_for_error(matrix, 1.0) == 0
        assert rank_for_error(matrix, 1.5) == 0
