"""Heavy tails and compressibility (Barsbey et al. 2021): estimators, the exact index, SGD."""

import itertools
import math
import statistics

import pytest
import torch

from lowdim_course.literature.heavy_tails import (
    block_tail_estimator,
    default_k,
    expansion_probability,
    hill_estimator,
    kesten_log_moment,
    kesten_tail_index,
    magnitude_prune,
    node_prune,
    prunable_fraction,
    sgd_tail_index,
    singular_value_prune,
    stable_samples,
    stable_tail_index,
    train_two_layer_networks,
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


def test_trained_networks_are_seeded():
    one = train_two_layer_networks(0.05, 5, steps=200, runs=2, width=20, samples=100, seed=1)
    two = train_two_layer_networks(0.05, 5, steps=200, runs=2, width=20, samples=100, seed=1)
    assert one["hidden"].shape == (2, 20, 10) and torch.equal(one["hidden"], two["hidden"])
    assert bool((one["loss"] < 1.0).all())


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
        (lambda: block_tail_estimator([1.0, 2.0, 3.0, 4.0], 3), "block_size"),
        (lambda: block_tail_estimator([1.0, 2.0, 3.0], 2), "samples"),
        (lambda: block_tail_estimator([1.0, 0.0, 3.0, 4.0], 2), "nonzero"),
        (lambda: block_tail_estimator([1.0, float("inf"), 3.0, 4.0], 2), "samples"),
        (lambda: stable_tail_index(torch.ones(100), block_sizes=[1]), "block_sizes"),
        (lambda: stable_tail_index(torch.ones(100), block_sizes=3), "block_sizes"),
        (lambda: kesten_tail_index(0.0), "lr"),
        (lambda: kesten_tail_index(0.1, 0), "batch_size"),
        (lambda: kesten_tail_index(0.1, d=0), "d"),
        (lambda: kesten_tail_index(0.1, alpha_max=0.5), "alpha_max"),
        (lambda: kesten_tail_index(0.18, 1), "no stationary law"),
        (lambda: kesten_log_moment(-1.0, 0.1), "alpha"),
        (lambda: expansion_probability(0.1, 1, d=0), "d"),
        (lambda: train_two_layer_networks(0.1, 0), "batch_size"),
        (lambda: train_two_layer_networks(0.1, steps=-1), "steps"),
        (lambda: train_two_layer_networks(0.1, runs=0), "runs"),
    ],
)
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_divergence_is_reported():
    with pytest.raises(ValueError, match="smaller lr"):
        sgd_tail_index(1.0, chains=10, steps=600)


# --- the block estimator of Mohammadi, Mohammadpour, Ogata (2015) ------------------------------


def test_block_estimator_on_a_hand_computed_case():
    # blocks (1, 3) and (-2, 6) sum to 4 and 4: 1/alpha = (log 4 - mean(log 1, 3, 2, 6)) / log 2
    expected = math.log(2) / (math.log(4) - math.log(1 * 3 * 2 * 6) / 4)
    assert block_tail_estimator([1.0, 3.0, -2.0, 6.0], 2) == pytest.approx(expected, rel=1e-12)
    # a fifth sample does not fit in a block of 2 and is left out
    assert block_tail_estimator([1.0, 3.0, -2.0, 6.0, 100.0], 2) == pytest.approx(expected)
    # equal samples: the block sum is K1 times a sample, so 1/alpha = 1 exactly
    assert block_tail_estimator(torch.full((12,), 2.5), 3) == pytest.approx(1.0)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.5, 1.8, 2.0])
def test_block_estimator_recovers_the_index_of_stable_samples(alpha):
    # 20 seeds of n = 10,000 symmetric alpha-stable samples (Chambers-Mallows-Stuck): the
    # median over block sizes has sd <= 0.07 per seed (measured), so the mean of 20 seeds is
    # within 0.05 of alpha and every seed within 0.25
    estimates = [stable_tail_index(stable_samples(alpha, 10_000, seed=s)) for s in range(20)]
    assert abs(statistics.mean(estimates) - alpha) < 0.05
    assert max(abs(e - alpha) for e in estimates) < 0.25


def test_block_estimator_cannot_see_above_two():
    # Student t with 5 degrees of freedom: finite variance, tail index 5. Block sums are nearly
    # Gaussian, so the block estimate stays below 2 in every seed while Hill's reads above 3.5
    blocks, hills = [], []
    for seed in range(5):
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(20_000, generator=generator, dtype=torch.float64)
        chi2 = (torch.randn(20_000, 5, generator=generator, dtype=torch.float64) ** 2).sum(1)
        t = z / torch.sqrt(chi2 / 5)
        blocks.append(stable_tail_index(t))
        hills.append(hill_estimator(t, k=200))
    assert max(blocks) < 2.0 and min(blocks) > 1.6
    assert min(hills) > 3.5


def test_stable_tail_index_takes_the_median_over_block_sizes():
    x = stable_samples(1.3, 5000, seed=2)
    sizes = [2, 5, 10, 20, 50, 100, 500, 1000, 70]  # 70 = floor(sqrt(5000)); 1000 <= 2500
    expected = statistics.median(block_tail_estimator(x, k) for k in sizes)
    assert stable_tail_index(x) == pytest.approx(expected, rel=1e-12)


# --- the exact tail index (Kesten condition, Gurbuzbalaban, Simsekli, Zhu 2021) -----------------


@pytest.mark.parametrize(("lr", "b", "d"), [(0.1, 1, 10), (0.3, 4, 3), (0.05, 2, 1), (0.6, 8, 10)])
def test_second_moment_has_its_closed_form(lr, b, d):
    # E ||A e1||^2 = 1 - 2 lr + lr^2 (d + b + 1) / b, from E (sum_i a_i a_i^T)^2 = b(d + b + 1) I
    expected = 1 - 2 * lr + lr**2 * (d + b + 1) / b
    assert math.exp(kesten_log_moment(2.0, lr, b, d=d)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("b", "d"), [(1, 10), (2, 10), (4, 3), (1, 1), (8, 20)])
def test_index_is_two_exactly_where_the_second_moment_is_one(b, d):
    assert kesten_tail_index(2 * b / (d + b + 1), b, d=d) == pytest.approx(2.0, abs=1e-8)


@pytest.mark.parametrize("lr", [0.3, 0.5, 0.8])
def test_one_dimensional_index_matches_adaptive_quadrature(lr):
    # d = 1, b = 1: alpha solves E|1 - lr a^2|^alpha = 1, a ~ N(0, 1), here with scipy's quad
    # (split at the kink a^2 = 1/lr) and Brent's root finder: an independent computation
    integrate = pytest.importorskip("scipy.integrate")
    optimize = pytest.importorskip("scipy.optimize")

    def log_moment(alpha):
        def f(a):
            return abs(1 - lr * a * a) ** alpha * math.exp(-a * a / 2) / math.sqrt(2 * math.pi)

        kink = 1 / math.sqrt(lr)
        inner = integrate.quad(f, 0, kink, limit=200)[0]
        outer = integrate.quad(f, kink, math.inf, limit=200)[0]
        return math.log(2 * (inner + outer))

    expected = optimize.brentq(log_moment, 0.05, 20, xtol=1e-12)
    assert kesten_tail_index(lr, 1, d=1) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(("lr", "b", "alpha"), [(0.15, 1, 3.0), (0.3, 2, 1.5)])
def test_moment_matches_monte_carlo_with_full_matrices(lr, b, alpha):
    # draw A = I - (lr/b) sum a_i a_i^T itself (d = 10) and apply it to a random unit vector,
    # not e1: checks the chi-square reduction and the rotation invariance at once
    d, draws = 10, 200_000
    generator = torch.Generator().manual_seed(5)
    a = torch.randn(draws, b, d, generator=generator, dtype=torch.float64)
    u = torch.randn(d, generator=generator, dtype=torch.float64)
    u = u / u.norm()
    image = u - (lr / b) * torch.einsum("nbd,nb->nd", a, a @ u)
    values = image.norm(dim=1) ** alpha
    standard_error = float(values.std()) / math.sqrt(draws)
    exact = math.exp(kesten_log_moment(alpha, lr, b))
    assert abs(float(values.mean()) - exact) < 4 * standard_error
    # the chance of an expansion, P(||A u|| > 1), against the chi-square formula
    fraction = float((image.norm(dim=1) > 1).double().mean())
    p = expansion_probability(lr, b)
    assert abs(fraction - p) < 4 * math.sqrt(p * (1 - p) / draws)


def test_expansion_probability_is_a_chi_square_tail():
    stats = pytest.importorskip("scipy.stats")
    for lr, b, d in [(0.17, 1, 10), (0.16, 2, 10), (0.64, 8, 10), (0.5, 1, 1)]:
        expected = stats.chi2.sf(2 * b / lr, b + d - 1)
        assert expansion_probability(lr, b, d=d) == pytest.approx(expected, rel=1e-10)


def test_exact_index_depends_on_step_and_batch_not_only_their_ratio():
    # lesson 09: 12.8 at lr = 0.10 (batch 1), 1.49 at lr = 0.17; falls with the step
    indices = [kesten_tail_index(lr, 1) for lr in (0.10, 0.13, 0.15, 0.17)]
    assert all(a > b for a, b in itertools.pairwise(indices))
    assert indices[0] == pytest.approx(12.83, abs=0.01)
    assert indices[-1] == pytest.approx(1.49, abs=0.01)
    # same step, larger batch: lighter (4.54 at b = 1, 17.6 at b = 2)
    assert kesten_tail_index(0.15, 2) == pytest.approx(17.59, abs=0.01)
    # same ratio lr/b = 0.08, larger batch: heavier (17.7, 16.0, 13.0, 8.0), and expansions
    # become more likely (chi-square with b + d - 1 degrees of freedom)
    same = [kesten_tail_index(0.08 * b, b) for b in (1, 2, 4, 8)]
    chances = [expansion_probability(0.08 * b, b) for b in (1, 2, 4, 8)]
    assert all(a > b for a, b in itertools.pairwise(same))
    assert all(a < b for a, b in itertools.pairwise(chances))
    assert same[0] - same[-1] > 9


def test_exact_index_is_infinite_beyond_alpha_max():
    assert kesten_tail_index(0.05, 8) == math.inf
    assert kesten_tail_index(0.05, 1) == pytest.approx(31.46, abs=0.01)
    assert kesten_tail_index(0.05, 1, alpha_max=20) == math.inf


# --- the batched network trainer -----------------------------------------------------------


def test_batched_networks_take_the_mean_field_sgd_step():
    # one step of one run, recomputed with autograd on the batch loss (1/2b) sum (f - y)^2
    lr, b, width, inputs, samples = 0.05, 3, 7, 4, 11
    out = train_two_layer_networks(
        lr, b, steps=1, runs=1, width=width, inputs=inputs, samples=samples, seed=4
    )
    generator = torch.Generator().manual_seed(4)

    def draw(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = draw(1, samples, inputs)[0]
    teacher = draw(1, 5, inputs)[0]
    y = torch.relu(x @ teacher.T).sum(1) / 5 + 0.1 * draw(1, samples)[0]
    hidden = (draw(1, width, inputs)[0] / math.sqrt(inputs)).requires_grad_()
    outer = draw(1, width)[0].requires_grad_()
    index = torch.randint(samples, (1, b), generator=generator)[0]
    f = torch.relu(x[index] @ hidden.T) @ outer / width
    (0.5 * ((f - y[index]) ** 2).mean()).backward()
    with torch.no_grad():
        assert torch.allclose(out["hidden"][0], hidden - lr * width * hidden.grad)
        assert torch.allclose(out["outer"][0], outer - lr * width * outer.grad)


def test_batched_networks_share_data_across_settings_and_differ_across_runs():
    small = dict(steps=0, runs=3, width=20, samples=50)
    one = train_two_layer_networks(0.05, 1, **small)
    two = train_two_layer_networks(0.2, 8, **small)
    assert torch.equal(one["hidden"], two["hidden"])  # same start whatever lr and b
    assert not torch.equal(one["hidden"][0], one["hidden"][1])
    trained = train_two_layer_networks(0.05, 4, steps=300, runs=3, width=20, samples=50)
    assert trained["hidden"].shape == (3, 20, 10)
    assert bool((trained["loss"] < one["loss"]).all())
    diverged = train_two_layer_networks(50.0, 1, steps=200, runs=2, width=20, samples=50)
    assert bool(torch.isinf(diverged["loss"]).all())


# ---------------------------------------------------------------------------------------------
# The tail index of a weight matrix as Barsbey et al.'s code measures it
# ---------------------------------------------------------------------------------------------


def test_network_tail_index_ignores_column_offsets_that_pull_the_raw_reading_to_one():
    from lowdim_course.literature.heavy_tails import network_tail_index, stable_samples

    w = stable_samples(1.5, 3000, seed=5).reshape(300, 10)
    shifted = w + torch.linspace(-2.0, 2.0, 10, dtype=torch.float64)
    centred = network_tail_index(w, cap=None)
    assert network_tail_index(shifted, cap=None) == pytest.approx(centred, rel=1e-9)
    assert abs(centred - 1.5) < 0.15
    # without the centring an offset of 4 sd-like units reads near 1, whatever the tail
    gaussian = torch.randn(300, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert network_tail_index(gaussian + 3.0, centre=False, cap=None) < 1.1
    assert network_tail_index(gaussian + 3.0, cap=None) > 1.85


def test_network_tail_index_caps_at_two_and_takes_the_median_over_orders():
    from lowdim_course.literature.heavy_tails import network_tail_index, stable_tail_index

    uniform = 2 * torch.rand(200, 10, generator=torch.Generator().manual_seed(1)) - 1
    assert network_tail_index(uniform, cap=None) > 2.05
    assert network_tail_index(uniform) == 2.0
    calls = []

    def spy(x):
        calls.append(x.clone())
        return stable_tail_index(x)

    value = network_tail_index(uniform, cap=None, estimator=spy, permutations=3)
    assert len(calls) == 3 and value == pytest.approx(float(torch.tensor(
        [stable_tail_index(x) for x in calls], dtype=torch.float64).median()))  # fmt: skip
    assert not torch.equal(calls[0], calls[1])  # different random orders


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda f: f(torch.ones(10)), "matrix with at least 2 rows"),
        (lambda f: f(torch.randn(5, 4), permutations=0), "permutations"),
        (lambda f: f(torch.randn(5, 4), cap=-1.0), "cap must be"),
    ],
)
def test_network_tail_index_rejects_bad_input(call, words):
    from lowdim_course.literature.heavy_tails import network_tail_index

    with pytest.raises(ValueError, match=words):
        call(network_tail_index)


def test_the_averaged_network_is_the_mean_of_the_last_iterates():
    from lowdim_course.literature.heavy_tails import train_two_layer_networks

    kwargs = {"runs": 2, "width": 8, "inputs": 3, "samples": 20, "seed": 4}
    iterates = [train_two_layer_networks(0.05, 2, steps=k, **kwargs)["hidden"] for k in range(5)]
    out = train_two_layer_networks(0.05, 2, steps=4, average_last=3, **kwargs)
    assert torch.allclose(out["hidden_average"], sum(iterates[2:]) / 3, rtol=1e-12, atol=0)
    default = train_two_layer_networks(0.05, 2, steps=4, **kwargs)  # the last half
    assert torch.allclose(default["hidden_average"], (iterates[3] + iterates[4]) / 2)
    start = train_two_layer_networks(0.05, 2, steps=0, **kwargs)
    assert torch.equal(start["hidden_average"], start["hidden"])
    with pytest.raises(ValueError, match="average_last"):
        train_two_layer_networks(0.05, 2, steps=4, average_last=5, **kwargs)
