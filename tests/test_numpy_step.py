"""The CPU training step in numpy (``lowdim_course/numpy_step.py``) against two independent ones.

Each step is checked against torch's autograd on the problem's own loss (nothing of the course's
hand-written gradients involved) and against the torch path of ``train`` (``DeepLinearNetwork.
descend``), for factorization and completion, the original and the compressed network, depths
2 to 4, with and without weight decay; the factored residual of factorization is checked where
it is used, and where it hands over to the formed one.
"""

import numpy as np
import pytest
import torch

from lowdim_course import numpy_step, threads, training
from lowdim_course.networks import compressed_network, original_network
from lowdim_course.problems import make_problem
from lowdim_course.training import layer_learning_rates, train

D, R = 24, 3


def _network(problem, kind, depth, dtype=torch.float64):
    if kind == "original":
        return original_network(problem.d, depth, eps=0.3, seed=2, dtype=dtype)
    network = compressed_network(problem.surrogate(), 2 * R, depth, eps=0.3)
    # Off the spectral start (where every product is aligned with the target) so that all
    # the gradient's terms are at work.
    generator = torch.Generator().manual_seed(5)
    for layer in network.layers:
        layer.add_(0.05 * torch.randn(layer.shape, generator=generator, dtype=layer.dtype))
    return network


def _autograd_step(problem, network, rates, weight_decay):
    """One gradient-descent step from autograd on ``problem.loss`` of the end-to-end matrix."""
    layers = [w.clone().requires_grad_(True) for w in network.layers]
    product = layers[0]
    for layer in layers[1:]:
        product = layer @ product
    residual = product - problem.target
    if problem.task == "mc":
        loss = 0.5 * (residual * problem.mask).pow(2).sum() / problem.n_observed
    else:
        loss = 0.5 * residual.pow(2).mean()
    loss.backward()
    with torch.no_grad():
        return [
            (1 - rate * weight_decay) * w - rate * w.grad
            for w, rate in zip(layers, rates, strict=True)
        ], loss.item()


CASES = [
    (task, kind, depth)
    for task in ("mf", "mc")
    for kind in ("original", "compressed")
    for depth in (2, 3, 4)
]


@pytest.mark.parametrize(("task", "kind", "depth"), CASES)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_one_step_equals_autograds(task, kind, depth, weight_decay):
    problem = make_problem(task, d=D, r=R, p=0.5, seed=3)
    network = _network(problem, kind, depth)
    rates = layer_learning_rates(depth, 0.7, alpha=2.0)
    expected, loss = _autograd_step(problem, network, rates, weight_decay)
    step = numpy_step.NumpyStep(problem, network, rates, weight_decay)
    factored = task == "mf" and kind == "compressed"
    assert (step.factored is not None) == factored
    parts = step.parts()
    assert problem.loss_and_error(parts)[0] == pytest.approx(loss, rel=1e-10)
    step.descend()
    for got, want in zip(network.layers, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(("task", "kind", "depth"), CASES)
def test_train_in_numpy_gives_the_torch_paths_run(task, kind, depth, monkeypatch):
    problem = make_problem(task, d=D, r=R, p=0.5, seed=3)
    settings = {"lr": 0.5, "alpha": 2.0, "steps": 300, "log_every": 50}
    in_numpy = _network(problem, kind, depth)
    in_torch = in_numpy.clone()
    assert numpy_step.runs_in_numpy(problem, in_numpy, "gd")
    history = train(problem, in_numpy, **settings)
    monkeypatch.setattr(training, "runs_in_numpy", lambda *arguments: False)
    reference = train(problem, in_torch, **settings)
    assert len(history.train_loss) == len(reference.train_loss) == 301
    np.testing.assert_allclose(history.train_loss, reference.train_loss, rtol=1e-9)
    np.testing.assert_allclose(history.recovery_error, reference.recovery_error, rtol=1e-9)
    for got, want in zip(history.singular_values, reference.singular_values, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)
    for got, want in zip(in_numpy.layers, in_torch.layers, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12)


def test_the_factored_loss_hands_over_to_the_formed_residual_near_the_fit():
    """Far from the fit the Gram formula is read; below a relative error of 1e-2 the residual is
    formed, and either way the loss equals the one of the formed residual."""
    problem = make_problem("mf", d=D, r=R, seed=3)
    network = compressed_network(problem.surrogate(), 2 * R, 3, eps=0.3)
    step = numpy_step.NumpyStep(problem, network, layer_learning_rates(3, 1.0), 0.0)
    formed_loss = problem.loss(network.end_to_end())
    calls = []
    formed = step.factored.formed_squared_norm
    step.factored.formed_squared_norm = lambda out: calls.append(1) or formed(out)
    assert problem.loss_and_error(step.parts())[0] == pytest.approx(formed_loss, rel=1e-12)
    assert not calls
    # The end-to-end matrix one part in 1e3 away from the target: below the hand-over.
    u, s, vh = (torch.from_numpy(x) for x in problem.target_svd())
    width = 2 * R
    scale = (s[:width] * (1 + 1e-3)).sqrt()
    network.layers[0].copy_(scale[:, None] * vh[:width])
    network.layers[1].copy_(torch.eye(width))
    network.layers[2].copy_(u[:, :width] * scale)
    loss, error = problem.loss_and_error(step.parts())
    assert calls
    assert loss == pytest.approx(problem.loss(network.end_to_end()), rel=1e-9)
    assert error == pytest.approx(problem.recovery_error(network.end_to_end()).item(), rel=1e-9)


def test_the_factored_step_runs_as_the_formed_one_to_1e_4_and_past_it(monkeypatch):
    """The reference factorization (d = 100, r = 10, compressed r_hat = 20, L = 3, lr = 50),
    three seeds, 3,000 steps (the error reaches 1e-4 after about 2,300 and levels off near
    1e-7): the same step reaches 1e-4 with either residual, and the errors agree to 1e-9 all
    along, also where the factored step reads its loss from the formed residual."""
    for seed in range(3):
        problem = make_problem("mf", d=100, r=10, seed=seed)
        network = compressed_network(problem.surrogate(), 20, 3)
        factored = network.clone()
        history = train(problem, factored, lr=50, steps=3000)
        monkeypatch.setattr(numpy_step, "_target_factors", lambda *arguments: None)
        formed = train(problem, network, lr=50, steps=3000)
        monkeypatch.undo()
        assert history.iterations_to(1e-4) == formed.iterations_to(1e-4) is not None
        assert min(history.recovery_error) < 1e-6
        np.testing.assert_allclose(history.recovery_error, formed.recovery_error, rtol=1e-9)


def test_float32_and_wide_networks_form_the_residual():
    problem = make_problem("mf", d=D, r=R, seed=3, dtype=torch.float32)
    network = compressed_network(problem.surrogate(), 2 * R, 3)
    assert numpy_step.NumpyStep(problem, network, [1.0] * 3).factored is None
    problem = make_problem("mf", d=D, r=R, seed=3)
    assert numpy_step.NumpyStep(problem, original_network(D, 3), [1.0] * 3).factored is None


def test_a_layer_not_stored_row_major_goes_the_torch_way():
    """The numpy step relies on row-major layers (``DeepLinearNetwork`` stores them so); a layer
    replaced by a column-major tensor afterwards sends the run to the torch step."""
    problem = make_problem("mc", d=D, r=R, p=0.5, seed=3)
    network = _network(problem, "compressed", 3)
    assert numpy_step.runs_in_numpy(problem, network, "gd")
    network.layers[-1] = network.layers[-1].T.contiguous().T
    assert not numpy_step.runs_in_numpy(problem, network, "gd")


def test_gpu_adam_and_sensing_stay_in_torch():
    network = original_network(D, 3)
    assert not numpy_step.runs_in_numpy(make_problem("mf", d=D, r=R), network, "adam")
    assert not numpy_step.runs_in_numpy(make_problem("ms", d=D, r=R, m=30), network, "gd")


def test_cpu_threads_sets_numpy_blas_threads_and_restores_them():
    with threads.cpu_threads(2):
        assert threads.numpy_blas_threads() == 2
        with threads.cpu_threads(1):
            assert threads.numpy_blas_threads() == 1
        assert threads.numpy_blas_threads() == 2


def test_the_step_perturbs_its_products_under_a_rounding_perturbation():
    """``rounding.RoundingPerturbation`` imitates another processor's rounding through torch's
    dispatch, which numpy's products never reach: the step perturbs its own while one is on."""
    from lowdim_course.rounding import RoundingPerturbation

    for task in ("mf", "mc"):
        problem = make_problem(task, d=D, r=R, p=0.5, seed=3)
        plain, perturbed = _network(problem, "compressed", 3), None
        perturbed = plain.clone()
        reference = train(problem, plain, lr=0.5, steps=50)
        with RoundingPerturbation(1e-12) as mode:
            history = train(problem, perturbed, lr=0.5, steps=50)
        assert mode.count >= 50 * 8  # every product and dot product of every step
        assert history.train_loss != reference.train_loss
        np.testing.assert_allclose(history.train_loss, reference.train_loss, rtol=1e-9)


def test_one_number_is_perturbed_by_the_promised_relative_size():
    from lowdim_course.rounding import RoundingPerturbation

    mode = RoundingPerturbation(1e-6, seed=4)
    values = [mode.perturb_value(3.0) for _ in range(200)]
    relative = np.abs(np.array(values) / 3.0 - 1.0)
    assert mode.count == 200 and len(set(values)) == 200
    assert relative.max() <= 1e-6 and relative.max() > 0.5e-6  # uniform in (-size, size)
    assert RoundingPerturbation(0.0).perturb_value(3.0) == 3.0
