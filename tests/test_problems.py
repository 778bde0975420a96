"""The three recovery problems against direct, independent computations."""

import math

import numpy as np
import pytest
import torch

from lowdim_course.problems import (
    make_problem,
    numerical_rank,
    spread_spectrum_indices,
    spread_spectrum_target,
    target_from_singular_values,
)
from lowdim_course.random_matrices import make_generator, random_orthogonal


def test_spread_spectrum_target_keeps_the_spec_indices():
    d, r = 40, 4
    target = spread_spectrum_target(d, r, seed=3)
    gaussian = torch.randn(d, d, generator=make_generator(3), dtype=torch.float64).numpy()
    full_spectrum = np.linalg.svd(gaussian, compute_uv=False)
    expected = full_spectrum[np.arange(0, d / 2, d / (2 * r)).astype(int)]
    got = np.linalg.svd(target.numpy(), compute_uv=False)[:r]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert numerical_rank(target) == r
    assert spread_spectrum_indices(100, 10) == list(range(0, 50, 5))


def test_target_from_singular_values_has_those_singular_values():
    s = [5.0, 3.0, 1.5]
    target = target_from_singular_values(12, s, seed=1)
    got = torch.linalg.svdvals(target)[:3]
    torch.testing.assert_close(got, torch.tensor(s, dtype=torch.float64))
    assert numerical_rank(target) == 3


def test_random_orthogonal_is_orthogonal_and_seeded():
    q = random_orthogonal(30, make_generator(7))
    torch.testing.assert_close(q.T @ q, torch.eye(30, dtype=torch.float64))
    torch.testing.assert_close(q, random_orthogonal(30, make_generator(7)), rtol=0, atol=0)


def _explicit_losses(problem, w):
    """The losses of the problems' table written entry by entry (numpy, independent of the core)."""
    residual = (w - problem.target).numpy()
    if problem.task == "mf":
        return 0.5 * np.mean(residual**2)
    if problem.task == "mc":
        mask = problem.mask.numpy()
        return 0.5 * np.sum((residual * mask) ** 2) / mask.sum()
    operator = problem.operator.numpy()
    matrices = operator.reshape(problem.m, problem.d, problem.d)
    inner = np.array([np.sum(a * w.numpy()) for a in matrices])
    measurements = np.array([np.sum(a * problem.target.numpy()) for a in matrices])
    return 0.5 * np.sum((inner - measurements) ** 2)


@pytest.mark.parametrize("task", ["mf", "mc", "ms"])
def test_loss_gradient_and_error_match_direct_computation_and_autograd(task):
    problem = make_problem(task, 10, 2, p=0.4, m=60, seed=2)
    w = torch.randn(10, 10, generator=make_generator(5), dtype=torch.float64)
    loss, gradient, error = problem.loss_grad_error(w.clone())
    assert loss == pytest.approx(_explicit_losses(problem, w), rel=1e-12)

    leaf = w.clone().requires_grad_(True)
    if task == "ms":
        residual = problem.operator @ leaf.reshape(-1) - problem.measurements
        autograd_loss = 0.5 * residual.square().sum()
    elif task == "mc":
        autograd_loss = 0.5 * ((leaf - problem.target) * problem.mask).square().sum()
        autograd_loss = autograd_loss / problem.n_observed
    else:
        autograd_loss = 0.5 * (leaf - problem.target).square().mean()
    autograd_loss.backward()
    torch.testing.assert_close(gradient, leaf.grad, rtol=1e-12, atol=1e-14)

    direct_error = np.linalg.norm(w - problem.target) / np.linalg.norm(problem.target)
    assert error == pytest.approx(direct_error, rel=1e-12)


@pytest.mark.parametrize("task", ["mf", "mc", "ms"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_loss_of_a_factored_matrix_equals_the_loss_of_the_product(task, dtype):
    # MF and MC fold the product into the residual (one addmm); it must change nothing but speed.
    problem = make_problem(task, 12, 2, p=0.5, m=80, seed=4, dtype=dtype)
    generator = make_generator(9)
    left = torch.randn(12, 5, generator=generator, dtype=torch.float64).to(dtype)
    right = torch.randn(5, 12, generator=generator, dtype=torch.float64).to(dtype)
    buffer = torch.full((12, 12), float("nan"), dtype=dtype)
    fused = problem.loss_grad_error_of_product(left, right, out=buffer)
    plain = problem.loss_grad_error(left @ right)
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    assert fused[0] == pytest.approx(plain[0], rel=tolerance)
    assert fused[2] == pytest.approx(plain[2], rel=tolerance)
    torch.testing.assert_close(fused[1], plain[1], rtol=tolerance, atol=tolerance * 1e-3)


def test_completion_observes_exactly_floor_p_d_squared_entries():
    for p in (0.3, 0.55, 1.0):
        problem = make_problem("mc", 17, 3, p=p, seed=0)
        assert int(problem.mask.sum()) == math.floor(p * 17 * 17) == problem.n_observed


def test_completion_surrogate_and_unobserved_error():
    problem = make_problem("mc", 20, 2, p=0.3, seed=1)
    mask = problem.mask.to(torch.float64)
    torch.testing.assert_close(problem.surrogate(), problem.target * mask / 0.3)
    w = problem.target * mask  # right on the observed entries, zero elsewhere
    assert problem.loss(w) == pytest.approx(0.0, abs=1e-30)
    assert problem.unobserved_error(w).item() == pytest.approx(1.0)


def test_sensing_measurements_and_surrogate_match_the_sum_over_matrices():
    problem = make_problem("ms", 8, 2, m=50, seed=4)
    assert problem.operator.shape == (50, 64)
    matrices = problem.operator.reshape(50, 8, 8)
    measurements = torch.stack([(a * problem.target).sum() for a in matrices])
    torch.testing.assert_close(problem.measurements, measurements)
    surrogate = sum(y * a for y, a in zip(measurements, matrices, strict=True)) / 50
    torch.testing.assert_close(problem.surrogate(), surrogate)
    assert problem.operator_bytes == 50 * 64 * 8


def test_sensing_operator_has_the_spec_scale():
    problem = make_problem("ms", 20, 2, m=400, seed=0)
    # entries N(0, 1) / m: the sample standard deviation times m is close to 1
    assert (problem.operator.std() * 400).item() == pytest.approx(1.0, rel=0.01)


def test_same_seed_same_problem_and_seed_changes_it():
    a = make_problem("ms", 10, 2, m=30, seed=9)
    b = make_problem("ms", 10, 2, m=30, seed=9)
    c = make_problem("ms", 10, 2, m=30, seed=10)
    assert torch.equal(a.target, b.target) and torch.equal(a.operator, b.operator)
    assert not torch.equal(a.target, c.target)


def test_given_target_is_used_as_is():
    target = target_from_singular_values(16, [2.0, 1.0], seed=0)
    problem = make_problem("mf", target=target)
    assert problem.d == 16 and problem.rank == 2
    torch.testing.assert_close(problem.target, target)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_is_respected(dtype):
    problem = make_problem("mc", 10, 2, dtype=dtype)
    assert problem.target.dtype == getattr(torch, dtype)
    assert problem.surrogate().dtype == getattr(torch, dtype)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "xx"}, "task must be one of"),
        ({"d": 1}, "d must be an integer >= 2"),
        ({"d": 10, "r": 6}, r"r must be an integer in \[1, 5\]"),
        ({"d": 10, "r": 0}, r"r must be an integer in \[1, 5\]"),
        ({"task": "mc", "p": 0.0}, r"p must be in \(0, 1\]"),
        ({"task": "mc", "p": 1.5}, r"p must be in \(0, 1\]"),
        ({"task": "mc", "p": float("nan")}, "p must be a finite number"),
        ({"task": "ms", "m": 0}, "m must be an integer >= 1"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"device": "tpu"}, "device must be"),
        ({"dtype": "float16"}, "dtype must be"),
        ({"target": torch.zeros(3, 4), "d": None}, "target must be square"),
        ({"target": torch.full((4, 4), float("nan")), "d": None}, "NaN"),
        ({"target": torch.ones(4, 4), "d": 5}, r"target must have shape \(5, 5\)"),
        ({"singular_values": [1.0, -2.0]}, "singular_values must be finite and > 0"),
    ],
)
def test_bad_arguments_name_the_argument_and_range(kwargs, message):
    kwargs = {"task": "mf", "d": 10, "r": 2, **kwargs}
    task = kwargs.pop("task")
    d = kwargs.pop("d")
    r = kwargs.pop("r")
    with pytest.raises(ValueError, match=message):
        make_problem(task, d, r, **kwargs)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message where no GPU exists")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU is available"):
        make_problem("mf", 10, 2, device="cuda")


@pytest.mark.parametrize("device", ["mps", "mps:0"])
def test_apples_gpu_is_refused_with_the_reason(device):
    # refused before torch is asked, on every machine: the lessons compute in float64
    with pytest.raises(ValueError, match=r"device='mps.*no float64.*device='cpu'"):
        make_problem("mf", 10, 2, device=device)


def test_factorization_reads_a_reused_buffer_afresh_every_step():
    problem = make_problem("mf", d=8, r=2, seed=1)
    generator = torch.Generator().manual_seed(2)
    buffer = torch.empty(8, 8, dtype=problem.dtype)
    for _ in range(3):  # the same buffer, new factors: parts follow what is in it now
        left = torch.randn(8, 3, generator=generator, dtype=problem.dtype)
        right = torch.randn(3, 8, generator=generator, dtype=problem.dtype)
        parts, gradient = problem.parts_and_gradient_of_product(left, right, out=buffer)
        expected = (left @ right - problem.target) / 64
        assert gradient is buffer
        torch.testing.assert_close(gradient, expected, rtol=1e-13, atol=1e-15)
        assert float(parts) == pytest.approx(float((expected**2).sum()), rel=1e-12)
