"""Heavy tails and compressibility (Barsbey et al. 2021): Hill, SGD chains, stable samples."""

import statistics

import pytest
import torch

from lowdim_course.literature.heavy_tails import (
    default_k,
    hill_estimator,
    magnitude_prune,
    node_prune,
    prunable_fraction,
    sgd_tail_index,
    singular_value_prune,
    stable_samples,
    train_two_layer_network,
)


@pytest.mark.parametrize("alpha", [1.0, 2.0, 4.0])
def test_hill_recovers_the_index_of_pareto_samples(alpha):
    generator = torch.Generator().manual_seed(7)
    u = torch.rand(20000, generator=generator, dtype=torch.float64)
    pareto = u ** (-1 / alpha)  # P(X > t) = t^-alpha for t >= 1
    # k = 2000 exponential spacings: relative standard error 1/sqrt(k) ~ 2.2%, allow 4 sigma
    assert hill_estimator(pareto, k=2000) == pytest.approx(alpha, rel=0.09)


def test_hill_is_independent_of_independent_code():
    x = torch.tensor([8.0, -4.0, 2.0, 1.0, 0.5])
    expected = 1 / ((torch.log(torch.tensor(8.0 / 2)) + torch.log(torch.tensor(4.0 / 2))) / 2)
    assert hill_estimator(x, k=2) == pytest.approx(float(expected))
    assert default_k(1000) == 25 and default_k(10) == 1


def test_stable_samples_have_the_right_tail():
    alpha = 1.5
    x = stable_samples(alpha, 200000, seed=3)
    # far in the tail a stable law is Pareto-like with index alpha
    assert hill_estimator(x, k=400) == pytest.approx(alpha, rel=0.15)
    gaussian = stable_samples(2.0, 100000, seed=3)
    assert float(gaussian.var()) == pytest.approx(2.0, rel=0.03)  # alpha = 2 is N(0, 2)
    assert torch.equal(stable_samples(1.2, 50, seed=5), stable_samples(1.2, 50, seed=5))


def test_prunable_fraction_of_gaussian_and_heavy_tailed_weights():
    # Gaussian weights concentrate: 0.266 at 10% relative error, whatever the seed
    assert prunable_fraction(stable_samples(2.0, 100000, seed=0)) == pytest.approx(0.266, abs=0.004)
    # heavy tails: the fraction is random (a few huge samples carry the norm); the median of 9
    # seeds at n = 1e5 gives 0.42 / 0.76 / 0.998 for alpha = 1.75 / 1.5 / 1.2, one draw
    # ranges over about [0.37, 1] at alpha = 1.75: the ordering and the limits are what hold
    medians = {
        a: statistics.median(prunable_fraction(stable_samples(a, 100000, seed=s)) for s in range(9))
        for a in (1.75, 1.5, 1.2)
    }
    assert 0.3 < medians[1.75] < 0.55
    assert 0.6 < medians[1.5] < 0.95
    assert medians[1.2] > 0.99
    assert medians[1.75] < medians[1.5] < medians[1.2]


def test_prunable_fraction_on_a_known_vector():
    w = torch.tensor([10.0, 0.1, 0.2, 0.3, 5.0])
    # ||w||^2 = 125.14; dropping 0.1, 0.2, 0.3 costs 0.14 <= 1% of it, dropping 5 costs too much
    assert prunable_fraction(w, rel_error=0.1) == pytest.approx(3 / 5)
    assert prunable_fraction(w, rel_error=0.0) == 0.0


def test_sgd_tail_index_falls_with_the_step():
    # batch 1: the index falls as the step grows (lesson 09: about 6 at 0.10, 1.5 at 0.17)
    small = dict(chains=400, steps=300)
    indices = [sgd_tail_index(lr, 1, **small) for lr in (0.10, 0.15, 0.17)]
    assert indices[0] > indices[1] > indices[2]
    assert indices[2] < 2.5
    # a larger batch at the same step lightens the tail
    assert sgd_tail_index(0.17, 4, **small) > indices[2] + 2


def test_pruners_remove_what_they_say():
    generator = torch.Generator().manual_seed(0)
    w = torch.randn(6, 4, generator=generator, dtype=torch.float64)
    pruned, error = magnitude_prune(w, 0.5)
    assert int((pruned == 0).sum()) == 12
    assert error == pytest.approx(float(torch.linalg.norm(w - pruned) / torch.linalg.norm(w)))
    low, error = singular_value_prune(w, 0.5)
    assert torch.linalg.matrix_rank(low) == 2
    s = torch.linalg.svdvals(w)
    assert error == pytest.approx(float(torch.sqrt((s[2:] ** 2).sum() / (s**2).sum())))
    nodes, _ = node_prune(w, 0.5)
    assert int((nodes.abs().sum(1) == 0).sum()) == 3
    assert magnitude_prune(w, 0.0)[1] == 0.0 and node_prune(w, 1.0)[1] == pytest.approx(1.0)


def test_a_trained_network_is_returned_and_seeded():
    one = train_two_layer_network(0.05, 5, width=20, samples=100, epochs=2, seed=1)
    two = train_two_layer_network(0.05, 5, width=20, samples=100, epochs=2, seed=1)
    assert one["hidden"].shape == (20, 10) and torch.equal(one["hidden"], two["hidden"])
    assert one["loss"] < 1.0


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: hill_estimator([1.0, 2.0, 3.0], k=3), "k"),
        (lambda: hill_estimator([1.0]), "samples"),
        (lambda: hill_estimator([1.0, float("nan")]), "samples"),
        (lambda: stable_samples(2.5, 10), "alpha"),
        (lambda: stable_samples(0.0, 10), "alpha"),
        (lambda: stable_samples(1.5, 0), "n"),
        (lambda: prunable_fraction([1.0, 2.0], rel_error=1.5), "rel_error"),
        (lambda: sgd_tail_index(-0.1), "lr"),
        (lambda: sgd_tail_index(0.1, 0), "batch_size"),
        (lambda: sgd_tail_index(0.1, seed=-1), "seed"),
        (lambda: magnitude_prune(torch.ones(3), 0.5), "matrix"),
        (lambda: node_prune(torch.ones(3, 3), 1.5), "fraction"),
    ],
)
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_divergence_is_reported():
    with pytest.raises(ValueError, match="smaller lr"):
        sgd_tail_index(1.0, chains=10, steps=600)
