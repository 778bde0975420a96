"""The invariant subspace (Yaras et al.) and the compressed network's scalar modes (Kwon et al.),
each checked against networks trained by the core's gradient descent."""

import math

import pytest
import torch

from lowdim_course import compressed_network, make_problem, original_network, train
from lowdim_course.history import History
from lowdim_course.theory import (
    count_singular_values_at,
    invariant_subspace_report,
    moved_part,
    moved_rank,
    principal_angles,
    rho_trajectory,
    scalar_mode_trajectory,
)

D, R, DEPTH, EPS, ETA = 100, 10, 3, 0.01, 5e-3


@pytest.fixture(scope="module")
def spec_run():
    problem = make_problem("mf", d=D, r=R, seed=0)
    network = original_network(D, DEPTH, EPS, seed=0)
    history = train(problem, network, lr=ETA * D**2, steps=3000, log_every=500, record_layers=True)
    return problem, history


def test_exactly_d_minus_2r_singular_values_equal_rho(spec_run):
    _, history = spec_run
    report = invariant_subspace_report(history, rtol=1e-9)
    assert report.eta == pytest.approx(ETA) and report.eps == pytest.approx(EPS, rel=1e-12)
    assert report.at_rho[0].tolist() == [D] * DEPTH
    assert (report.at_rho[1:] == D - 2 * R).all()
    assert report.moved_rank[0].tolist() == [0] * DEPTH
    assert (report.moved_rank[1:] == 2 * R).all()
    assert history.final_error < 1e-5


def test_moved_part_has_rank_exactly_2r(spec_run):
    _, history = spec_run
    rho = rho_trajectory(EPS, ETA, DEPTH, history.log_iterations[-1])
    first, last = history.layer_snapshots[0], history.layer_snapshots[-1]
    for layer_0, layer_t in zip(first, last, strict=True):
        sigma = torch.linalg.svdvals(moved_part(layer_t, layer_0, rho[-1], EPS))
        assert sigma[2 * R - 1] > 1e-6
        assert sigma[2 * R] < 1e-13


def test_the_moving_subspaces_are_fixed_and_chained(spec_run):
    _, history = spec_run
    rho = rho_trajectory(EPS, ETA, DEPTH, history.log_iterations[-1])
    first = history.layer_snapshots[0]

    def moved(log, layer):
        iteration = history.log_iterations[log]
        return moved_part(history.layer_snapshots[log][layer], first[layer], rho[iteration], EPS)

    def angles(a, b):
        return principal_angles(a, b, rtol=1e-9)

    early, late = moved(1, 1), moved(-1, 1)
    assert angles(early, late).shape == (2 * R,)
    assert angles(early, late).max() < 1e-6
    assert angles(early.T, late.T).max() < 1e-6
    for layer in range(DEPTH - 1):
        assert angles(moved(-1, layer), moved(-1, layer + 1).T).max() < 1e-6
    random_space = torch.randn(D, 2 * R, generator=torch.Generator().manual_seed(0)).double()
    assert angles(late, random_space).max() > 1.0


def test_rho_recursion_with_large_init_and_weight_decay():
    d, r, depth, eps, lr, weight_decay = 30, 3, 3, 0.3, 4.0, 5e-4
    problem = make_problem("mf", d=d, r=r, seed=1)
    network = original_network(d, depth, eps, seed=1)
    history = train(
        problem,
        network,
        lr=lr,
        steps=1500,
        log_every=300,
        weight_decay=weight_decay,
        record_layers=True,
    )
    report = invariant_subspace_report(history)
    assert (report.at_rho[1:] == d - 2 * r).all()
    assert (report.moved_rank[1:] == 2 * r).all()
    eta = lr / d**2
    plain = rho_trajectory(eps, eta, depth, 1500)
    assert report.rho[-1] < 0.5 * eps
    assert plain[-1] > 0.95 * eps
    wrong = plain[history.log_iterations[-1]]
    assert count_singular_values_at(history.layer_snapshots[-1][1], wrong) == 0


def test_rho_recursion_by_hand():
    rho = rho_trajectory(0.5, 0.1, 3, 2, weight_decay=0.2)
    first = 0.5 * (1 - 0.02 - 0.1 * 0.5**4)
    second = first * (1 - 0.02 - 0.1 * first**4)
    torch.testing.assert_close(rho, torch.tensor([0.5, first, second], dtype=torch.float64))


@pytest.mark.parametrize(
    ("depth", "eps", "alpha", "steps"),
    [(3, 1e-2, 1.0, 4000), (3, 1e-2, 2.0, 2500), (2, 1e-2, 1.0, 1500), (4, 0.1, 1.0, 2500)],
)
def test_scalar_recursion_reproduces_the_compressed_network(depth, eps, alpha, steps):
    d, r, r_hat = 50, 5, 10
    problem = make_problem("mf", d=d, r=r, seed=3)
    network = compressed_network(problem.surrogate(), r_hat, depth, eps)
    lr = ETA * d**2
    history = train(problem, network, lr=lr, alpha=alpha, steps=steps, log_every=steps)
    singular_values = torch.linalg.svdvals(problem.target)[:r]
    modes = scalar_mode_trajectory(
        singular_values, eps, lr / d**2, depth, steps, r_hat=r_hat, alpha=alpha
    )
    measured = torch.tensor(history.recovery_error, dtype=torch.float64)
    assert (modes.recovery_error - measured).abs().max() < 1e-10
    assert history.final_error < 1e-3
    end_to_end = network.end_to_end()
    u, _, vh = torch.linalg.svd(problem.target)
    diagonal = torch.diagonal(u[:, :r].T @ end_to_end @ vh[:r].T)
    torch.testing.assert_close(diagonal, modes.strengths[-1, :r], rtol=1e-9, atol=1e-12)


def test_scalar_recursion_error_floor_and_narrow_networks():
    s = [4.0, 2.0, 1.0]
    full = scalar_mode_trajectory(s, 0.1, 0.05, 3, 3000, r_hat=5)
    floor = math.sqrt(2) * float(full.strengths[-1, 3]) / math.sqrt(sum(x * x for x in s))
    assert float(full.recovery_error[-1]) == pytest.approx(floor, rel=1e-3)
    narrow = scalar_mode_trajectory(s, 0.1, 0.05, 3, 3000, r_hat=2)
    assert float(narrow.recovery_error[-1]) == pytest.approx(1.0 / math.sqrt(21.0), rel=1e-6)


def test_count_singular_values_and_moved_rank_on_known_matrices():
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(1)).double())
    layer = q @ torch.diag(torch.tensor([0.3, 0.3, 0.3, 0.3, 2.0, 1.0], dtype=torch.float64))
    assert count_singular_values_at(layer, 0.3) == 4
    assert count_singular_values_at(layer, 0.3 * (1 + 1e-6)) == 0
    initial = 0.5 * q
    assert moved_rank(layer, initial, 0.3, 0.5) == 2


def test_principal_angles_of_a_known_pair():
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(2)).double())
    angles = torch.tensor([1e-9, 0.4, 1.3], dtype=torch.float64)
    a = q[:, :3]
    b = q[:, :3] * torch.cos(angles) + q[:, 3:6] * torch.sin(angles)
    mixed = b @ torch.randn(3, 3, generator=torch.Generator().manual_seed(3)).double()
    got = principal_angles(a, mixed)
    torch.testing.assert_close(got, angles, rtol=1e-6, atol=1e-15)
    assert got[0] == pytest.approx(1e-9, rel=1e-5)
    deficient = torch.cat([a, a[:, :1] + a[:, 1:2]], dim=1)
    assert principal_angles(deficient, a).max() < 1e-12
    assert principal_angles(a[:, :1], a[:, 1:2]).item() == pytest.approx(math.pi / 2)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: rho_trajectory(0.0, 0.1, 3, 10), "eps"),
        (lambda: rho_trajectory(0.1, 0.1, 1, 10), "depth"),
        (lambda: rho_trajectory(0.1, 0.1, 3, -1), "steps"),
        (lambda: rho_trajectory(0.1, 0.1, 3, 10, weight_decay=-1.0), "weight_decay"),
        (lambda: count_singular_values_at(torch.eye(3), -1.0), "rho"),
        (lambda: moved_part(torch.eye(3), torch.eye(2), 0.1, 0.1), "layer_0"),
        (lambda: principal_angles(torch.eye(3), torch.eye(2)), "a and b"),
        (lambda: scalar_mode_trajectory([1.0, 0.0], 0.1, 0.1, 3, 10), "singular_values"),
        (lambda: scalar_mode_trajectory([1.0], 0.1, 0.1, 3, 10, r_hat=0), "r_hat"),
        (lambda: invariant_subspace_report(History()), "record_layers"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_report_needs_eta_outside_factorization():
    problem = make_problem("mc", d=10, r=2, p=0.5, seed=0)
    network = original_network(10, 3, 0.1)
    history = train(problem, network, lr=1.0, steps=5, record_layers=True)
    with pytest.raises(ValueError, match="eta"):
        invariant_subspace_report(history)
    report = invariant_subspace_report(history, eta=1.0 / problem.n_observed)
    assert report.at_rho.shape == (2, 3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_layers():
    layer = 0.3 * torch.eye(5, device="cuda", dtype=torch.float64)
    assert count_singular_values_at(layer, 0.3) == 5
    assert moved_part(layer, layer, 0.3, 0.3).device.type == "cuda"
    assert principal_angles(layer, layer).device.type == "cuda"


def test_estimate_rho_finds_the_largest_group_wherever_it_sits():
    from lowdim_course.theory import estimate_rho, measure_layer

    values = torch.tensor([3.0, 0.5, 0.5, 0.5, 0.2, 0.1], dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(2),
                                       dtype=torch.float64))  # fmt: skip
    layer = (q * values) @ q.T
    rho, count = estimate_rho(layer)
    assert rho == pytest.approx(0.5, rel=1e-12) and count == 3
    layer_0 = 0.7 * torch.eye(6, dtype=torch.float64)
    assert measure_layer(0.5 / 0.7 * layer_0, layer_0, 0.7) == (pytest.approx(0.5), 0)


def test_measure_layer_on_a_real_run_matches_the_report(spec_run):
    from lowdim_course.theory import measure_layer

    history, report = spec_run[1], invariant_subspace_report(spec_run[1])
    snapshots = history.layer_snapshots
    for j in (0, len(snapshots) // 2, len(snapshots) - 1):
        for layer in range(len(snapshots[0])):
            rho, rank = measure_layer(snapshots[j][layer], snapshots[0][layer], report.eps)
            assert rho == pytest.approx(float(report.rho[j]), rel=1e-9)
            assert rank == int(report.moved_rank[j, layer])
