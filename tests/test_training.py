"""Training: the update rule, early stops, divergence, determinism and the paper's MF claim."""

import itertools
import math

import numpy as np
import pytest
import torch

from lowdim_course import training
from lowdim_course.networks import DeepLinearNetwork, compressed_network, original_network
from lowdim_course.problems import make_problem
from lowdim_course.training import DivergenceError, layer_learning_rates, train


@pytest.fixture(scope="module")
def spec_mf_runs():
    """The reference MF setting (d=100, r=10, L=3, eps=1e-2, lr=50), 5000 steps, no early stop."""
    problem = make_problem("mf", 100, 10, seed=0)
    original = train(problem, original_network(100, 3, 1e-2, seed=0), lr=50, steps=5000)
    compressed_net = compressed_network(problem.surrogate(), 20, 3, 1e-2)
    compressed = train(problem, compressed_net, lr=50, steps=5000)
    return problem, original, compressed


@pytest.mark.slow  # seconds: a run at the reference settings or a sweep
def test_compressed_error_is_at_most_the_original_at_every_iterate(spec_mf_runs):
    _, original, compressed = spec_mf_runs
    original_error = np.array(original.recovery_error)
    compressed_error = np.array(compressed.recovery_error)
    assert len(original_error) == len(compressed_error) == 5001
    assert np.all(compressed_error <= original_error)
    assert compressed.iterations_to(1e-4) < original.iterations_to(1e-4)


@pytest.mark.slow  # seconds: a run at the reference settings or a sweep
def test_error_floors_are_set_by_the_untouched_directions(spec_mf_runs):
    """After fitting, what remains is rho(t)^L on the directions the target never excites:
    d - 2r of them in the original network, r_hat - r in the compressed one."""
    problem, original, compressed = spec_mf_runs
    eta, rho = 50 / 100**2, 1e-2  # the step on the summed loss
    for _ in range(5000):
        rho = rho * (1 - eta * rho**4)
    target_norm = torch.linalg.matrix_norm(problem.target).item()
    assert compressed.final_error == pytest.approx(
        rho**3 * math.sqrt(20 - 10) / target_norm, rel=1e-6
    )
    assert original.final_error == pytest.approx(
        rho**3 * math.sqrt(100 - 20) / target_norm, rel=0.05
    )


def test_one_step_is_the_discrepant_gradient_descent_update():
    problem = make_problem("mc", 12, 2, p=0.5, seed=1)
    network = compressed_network(problem.surrogate(), 4, 3, 0.3)
    before = [w.clone() for w in network.layers]
    lr, alpha = 0.7, 5.0
    train(problem, network, lr=lr, alpha=alpha, steps=1)

    leaves = [w.clone().requires_grad_(True) for w in before]
    end_to_end = leaves[2] @ leaves[1] @ leaves[0]
    loss = 0.5 * ((end_to_end - problem.target) * problem.mask).square().sum() / problem.n_observed
    loss.backward()
    for index, (leaf, after) in enumerate(zip(leaves, network.layers, strict=True)):
        rate = alpha * lr if index in (0, 2) else lr
        torch.testing.assert_close(after, leaf.detach() - rate * leaf.grad, rtol=1e-12, atol=1e-14)


def test_weight_decay_enters_the_update():
    problem = make_problem("mf", 8, 2, seed=0)
    network = original_network(8, 2, 0.5, seed=0)
    before = [w.clone() for w in network.layers]
    gradients = DeepLinearNetwork(before).layer_gradients(
        DeepLinearNetwork(before).prefix_products(),
        problem.loss_grad_error(before[1] @ before[0])[1],
    )
    train(problem, network, lr=0.1, weight_decay=0.2, steps=1)
    for after, w, g in zip(network.layers, before, gradients, strict=True):
        torch.testing.assert_close(after, w - 0.1 * (g + 0.2 * w))


def test_layer_learning_rates():
    assert layer_learning_rates(4, 2.0, 5.0) == [10.0, 2.0, 2.0, 10.0]
    assert layer_learning_rates(2, 1.0, 3.0) == [3.0, 3.0]


@pytest.mark.parametrize("kind", ["original", "compressed"])
def test_adam_matches_torch_optim_with_autograd_gradients(kind):
    problem = make_problem("mf", 10, 2, seed=3)
    if kind == "original":
        network = original_network(10, 3, 0.1, seed=3)
    else:
        network = compressed_network(problem.surrogate(), 4, 3, 0.1)
    leaves = [w.clone().requires_grad_(True) for w in network.layers]
    train(problem, network, lr=1e-3, alpha=2.0, optimizer="adam", steps=5)

    groups = [
        {"params": [leaf], "lr": rate}
        for leaf, rate in zip(leaves, [2e-3, 1e-3, 2e-3], strict=True)
    ]
    reference = torch.optim.Adam(groups)
    for _ in range(5):
        reference.zero_grad()
        loss = 0.5 * (leaves[2] @ leaves[1] @ leaves[0] - problem.target).square().mean()
        loss.backward()
        reference.step()
    for ours, theirs in zip(network.layers, leaves, strict=True):
        torch.testing.assert_close(ours, theirs.detach(), rtol=1e-10, atol=1e-12)


def test_same_seed_gives_identical_histories():
    runs = []
    for _ in range(2):
        problem = make_problem("mc", 20, 2, p=0.5, seed=4)
        network = original_network(20, 3, 0.05, seed=4)
        runs.append(train(problem, network, lr=20, steps=300, log_every=50))
    assert runs[0].train_loss == runs[1].train_loss
    assert runs[0].recovery_error == runs[1].recovery_error
    for a, b in zip(runs[0].singular_values, runs[1].singular_values, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_both_networks_recover_the_target_in_each_dtype(dtype):
    problem = make_problem("mf", 30, 3, seed=0, dtype=dtype)
    original = original_network(30, 3, 1e-2, seed=0, dtype=dtype)
    compressed = compressed_network(problem.surrogate(), 6, 3, 1e-2)
    assert compressed.dtype == getattr(torch, dtype)
    for network in (original, compressed):
        history = train(problem, network, lr=20, steps=4000, stop_error=1e-4)
        assert history.stopped_reason == "stop_error"
        assert history.final_error < 1e-4


def test_early_stops_and_history_bookkeeping():
    problem = make_problem("mf", 20, 2, seed=0)
    history = train(
        problem, original_network(20, 3, 1e-2), lr=10, steps=5000, tol=1e-10, log_every=100
    )
    assert history.stopped_reason == "tol"
    assert history.train_loss[-1] < 1e-10 <= history.train_loss[-2]
    assert history.steps == len(history.train_loss) - 1 == history.log_iterations[-1]
    assert history.log_iterations[:3] == [0, 100, 200]
    first = history.iterations_to(1e-3)
    assert history.recovery_error[first] < 1e-3 <= history.recovery_error[first - 1]
    assert history.seconds_to(1e-3) == history.seconds[first]
    assert history.iterations_to(1e-30) is None and history.seconds_to(1e-30) is None
    assert all(a <= b for a, b in zip(history.seconds, history.seconds[1:], strict=False))
    svals = history.singular_value_matrix()
    assert svals.shape == (len(history.log_iterations), 20)

    limited = train(problem, original_network(20, 3, 1e-2), lr=10, steps=10**6, time_limit=1e-3)
    assert limited.stopped_reason == "time_limit" and limited.steps < 10**6


def test_layer_records_on_request():
    problem = make_problem("mf", 10, 2, seed=0)
    network = original_network(10, 3, 1e-2)
    history = train(
        problem,
        network,
        lr=10,
        steps=20,
        log_every=10,
        record_layer_singular_values=True,
        record_layers=True,
    )
    assert history.log_iterations == [0, 10, 20]
    assert len(history.layer_snapshots) == 3 and len(history.layer_snapshots[0]) == 3
    torch.testing.assert_close(history.layer_snapshots[-1][1], network.layers[1])
    torch.testing.assert_close(
        history.layer_singular_values[0][0], torch.full((10,), 1e-2, dtype=torch.float64)
    )


def test_completion_logs_the_unobserved_error():
    problem = make_problem("mc", 20, 2, p=0.5, seed=0)
    history = train(problem, original_network(20, 3, 1e-2), lr=10, steps=10, log_every=5)
    assert len(history.logged_metrics["unobserved_error"]) == 3


@pytest.mark.parametrize("task", ["mf", "ms"])  # the numpy step and the torch step
def test_interrupt_returns_the_history_so_far(task, monkeypatch):
    problem = make_problem(task, 10, 2, m=40, seed=0)
    calls = {"n": 0}
    record = training._record

    def interrupted_at_step_five(*arguments):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return record(*arguments)

    monkeypatch.setattr(training, "_record", interrupted_at_step_five)
    history = train(problem, original_network(10, 3, 1e-2), lr=1e-3, steps=100)
    assert history.stopped_reason == "interrupted" and len(history.train_loss) == 5


def test_divergence_stops_with_step_and_advice():
    problem = make_problem("mf", 20, 2, seed=0)
    with pytest.raises(DivergenceError, match=r"diverged at step \d+.*lower the learning rate"):
        train(problem, original_network(20, 3, 0.5), lr=1e4, steps=1000)


def test_thread_setting_is_restored():
    before = torch.get_num_threads()
    problem = make_problem("mf", 10, 2, seed=0)
    train(problem, original_network(10, 3, 1e-2), lr=10, steps=3, threads=1)
    assert torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("task", "d", "kind", "single_thread"),
    [
        ("mf", 20, "compressed", True),
        ("mf", 100, "original", False),
        ("ms", 20, "compressed", False),
    ],
)
def test_one_thread_only_when_every_product_and_the_data_are_small(
    monkeypatch, task, d, kind, single_thread
):
    calls = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), real(n)))
    problem = make_problem(task, d, 2, m=100, seed=0)  # sensing: 100 x 400 operator
    if kind == "original":  # 100^3 multiply-adds per product
        network = original_network(d, 3, 1e-2)
    else:
        network = compressed_network(problem.surrogate(), 4)
    train(problem, network, lr=1e-3, steps=1)
    assert (calls[:1] == [1]) is single_thread


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lr": 0.0}, "lr must be > 0"),
        ({"lr": float("inf")}, "lr must be a finite number"),
        ({"lr": 1.0, "alpha": -1.0}, "alpha must be > 0"),
        ({"lr": 1.0, "steps": -1}, "steps must be an integer >= 0"),
        ({"lr": 1.0, "optimizer": "sgd"}, "optimizer must be one of"),
        ({"lr": 1.0, "tol": -1.0}, "tol must be >= 0"),
        ({"lr": 1.0, "log_every": 0}, "log_every must be an integer >= 1"),
        ({"lr": 1.0, "weight_decay": -0.1}, "weight_decay must be >= 0"),
        ({"lr": "fast"}, "lr must be a number"),
    ],
)
def test_bad_training_arguments(kwargs, message):
    problem = make_problem("mf", 10, 2, seed=0)
    with pytest.raises(ValueError, match=message):
        train(problem, original_network(10, 3, 1e-2), **kwargs)


def test_mismatched_network_and_problem():
    problem = make_problem("mf", 10, 2, seed=0)
    with pytest.raises(ValueError, match="target is 10 x 10"):
        train(problem, original_network(12, 3, 1e-2), lr=1.0)
    with pytest.raises(ValueError, match="same device and dtype"):
        train(problem, original_network(10, 3, 1e-2, dtype="float32"), lr=1.0)
    with pytest.raises(ValueError, match="problem must be a RecoveryProblem"):
        train("mf", original_network(10, 3, 1e-2), lr=1.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run_matches_cpu_run():
    cpu = make_problem("mf", 30, 3, seed=0)
    gpu = make_problem("mf", 30, 3, seed=0, device="cuda", dtype="float64")
    runs = []
    for problem in (cpu, gpu):
        network = compressed_network(problem.surrogate(), 6, 3, 1e-2)
        runs.append(train(problem, network, lr=20, steps=500))
    np.testing.assert_allclose(runs[0].recovery_error, runs[1].recovery_error, rtol=1e-6)


@pytest.fixture
def torch_step(monkeypatch):
    """The torch step on the CPU for every task: reading in chunks is that step's (the GPU's)
    way; on a CPU, factorization and completion run in numpy and read every step."""
    monkeypatch.setattr(training, "runs_in_numpy", lambda *arguments: False)


@pytest.mark.parametrize(
    ("task", "lr", "alpha"), [("mf", 5.0, 1.0), ("mc", 5.0, 2.0), ("ms", 5.0, 1.0)]
)
def test_reading_every_k_steps_records_the_same_run(task, lr, alpha, torch_step):
    # The GPU's sync-free loop, run on the CPU: the values of every step are the same, the
    # first step under 1e-4 is the same, and the run overshoots its stop by fewer than k steps.
    problem = make_problem(task, 16, 2, p=0.8, m=300, seed=3)
    # one thread in both runs: the thread tuner may pick different counts in the two runs, and
    # a product summed by two threads can differ from one thread's in the last bit
    settings = {"lr": lr, "alpha": alpha, "steps": 3000, "stop_error": 1e-4, "threads": 1}
    runs = {}
    for every in (1, 7):
        network = compressed_network(problem.surrogate(), 4)
        runs[every] = train(problem, network, read_every=every, log_every=40, **settings)
    each, chunked = runs[1], runs[7]
    assert each.stopped_reason == chunked.stopped_reason == "stop_error"
    assert each.iterations_to(1e-4) == chunked.iterations_to(1e-4) is not None
    common = len(each.train_loss)
    assert 0 <= len(chunked.train_loss) - common < 7
    assert chunked.train_loss[:common] == each.train_loss
    assert chunked.recovery_error[:common] == each.recovery_error
    assert len(chunked.seconds) == len(chunked.train_loss)
    assert all(b >= a for a, b in itertools.pairwise(chunked.seconds))
    assert chunked.log_iterations[:-1] == each.log_iterations[:-1]


def test_reading_every_k_steps_reads_once_per_chunk_and_at_each_snapshot(monkeypatch, torch_step):
    reads = []
    real_read = training._Readout.read
    monkeypatch.setattr(training._Readout, "read", lambda self: reads.append(1) or real_read(self))
    problem = make_problem("mf", 12, 2, seed=0)
    train(problem, original_network(12, 3, 1e-2), lr=10, steps=100, read_every=10, log_every=50)
    # steps 0..100: chunks end at 0 (snapshot), 10, ..., 50 (snapshot), ..., 100 (last)
    assert len(reads) == 11


def test_divergence_is_caught_at_the_same_step_when_reading_in_chunks(torch_step):
    problem = make_problem("mf", 20, 2, seed=0)
    messages = []
    for every in (1, 16):
        with pytest.raises(DivergenceError) as caught:
            train(problem, original_network(20, 3, 0.5), lr=1e4, steps=1000, read_every=every)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]


def test_read_every_must_be_a_positive_integer():
    problem = make_problem("mf", 10, 2, seed=0)
    with pytest.raises(ValueError, match="read_every must be an integer >= 1"):
        train(problem, original_network(10, 3, 1e-2), lr=1.0, read_every=0)
