"""Saxe et al.'s closed-form two-layer dynamics against gradient descent and autograd."""

import math

import numpy as np
import pytest
import torch

from lowdim_course.theory import (
    half_way_iteration,
    half_way_time,
    learning_time,
    saxe_trajectory,
    simulate_two_layer,
)

SPEC_S = (5.0, 3.0, 1.5, 0.75)
SPEC_U0, SPEC_LR = 1e-4, 1e-3


@pytest.fixture(scope="module")
def spec_run():
    return simulate_two_layer(SPEC_S, SPEC_U0, SPEC_LR, 10000)


def test_gradient_descent_follows_the_closed_form(spec_run):
    times = spec_run.iterations.to(torch.float64)
    for i, s in enumerate(SPEC_S):
        theory = saxe_trajectory(times, s, SPEC_U0, SPEC_LR)
        assert (theory - spec_run.strengths[:, i]).abs().max() < 0.05
    assert spec_run.fractions[-1].min() > 0.99


def test_half_way_times_match_gradient_descent_within_one_percent(spec_run):
    measured = half_way_iteration(spec_run)
    for s, iteration in zip(SPEC_S, measured, strict=True):
        assert iteration == pytest.approx(half_way_time(s, SPEC_U0, SPEC_LR), rel=0.01)
    assert measured == sorted(measured)


def test_closed_form_solves_the_mode_ode():
    s, u0, lr = 2.0, 1e-3, 0.01
    t = torch.linspace(0.0, 800.0, 41, dtype=torch.float64, requires_grad=True)
    u = saxe_trajectory(t, s, u0, lr)
    (du_dt,) = torch.autograd.grad(u.sum(), t)
    torch.testing.assert_close(du_dt, lr * 2 * u.detach() * (s - u.detach()), rtol=1e-9, atol=1e-14)
    assert saxe_trajectory(0.0, s, u0, lr) == pytest.approx(u0, rel=1e-14)


def test_half_way_time_is_where_the_closed_form_crosses_half():
    for s in SPEC_S:
        t_half = half_way_time(s, SPEC_U0, SPEC_LR)
        assert saxe_trajectory(t_half, s, SPEC_U0, SPEC_LR) == pytest.approx(s / 2, rel=1e-12)


def test_learning_time_approximates_the_time_from_eps_to_s_minus_eps():
    s, eps, lr = 2.0, 1e-3, 0.01
    run = simulate_two_layer([s], eps, lr, 600)
    reached = int(torch.nonzero(run.strengths[:, 0] >= s - eps)[0, 0])
    assert reached == pytest.approx(learning_time(s, eps, lr), rel=0.02)


def test_random_init_still_learns_strong_modes_first():
    run = simulate_two_layer(SPEC_S, SPEC_U0, SPEC_LR, 8000, init="random", d=8, seed=1)
    measured = half_way_iteration(run)
    assert None not in measured and measured == sorted(measured)
    for s, iteration in zip(SPEC_S, measured, strict=True):
        assert iteration >= half_way_time(s, SPEC_U0, SPEC_LR) * 0.9


def test_output_type_follows_input_type():
    assert isinstance(saxe_trajectory(10, 1.0, 0.1, 0.1), float)
    as_numpy = saxe_trajectory(np.array([0.0, 1.0]), 1.0, 0.1, 0.1)
    assert isinstance(as_numpy, np.ndarray) and as_numpy.shape == (2,)
    single = saxe_trajectory(torch.tensor([0.0, 5.0]), 1.0, 0.1, 0.1)
    assert single.dtype == torch.float32
    from_list = saxe_trajectory([0, 1, 2], 1.0, 0.1, 0.1)
    assert isinstance(from_list, torch.Tensor) and from_list.shape == (3,)
    assert saxe_trajectory(torch.tensor(1e6), 1.0, 1e-4, 1.0).item() == 1.0


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: saxe_trajectory(1.0, -1.0, 0.1, 0.1), "s"),
        (lambda: saxe_trajectory(1.0, 1.0, 1.5, 0.1), "u0"),
        (lambda: saxe_trajectory(1.0, 1.0, 0.0, 0.1), "u0"),
        (lambda: saxe_trajectory(1.0, 1.0, 0.1, 0.0), "lr"),
        (lambda: saxe_trajectory(-1.0, 1.0, 0.1, 0.1), "t"),
        (lambda: saxe_trajectory(float("nan"), 1.0, 0.1, 0.1), "t"),
        (lambda: half_way_time(1.0, 2.0, 0.1), "u0"),
        (lambda: learning_time(1.0, 0.0, 0.1), "eps"),
        (lambda: simulate_two_layer([1.0, -2.0], 0.1, 0.1, 10), "singular_values"),
        (lambda: simulate_two_layer([1.0], 0.1, 0.1, 10, init="zeros"), "init"),
        (lambda: simulate_two_layer([1.0], 0.1, 0.1, -1), "steps"),
        (lambda: simulate_two_layer([1.0, 2.0], 0.1, 0.1, 10, d=1), "d"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_tensors_stay_on_the_gpu():
    t = torch.arange(0, 3001, device="cuda", dtype=torch.float64)
    u = saxe_trajectory(t, 5.0, SPEC_U0, SPEC_LR)
    assert u.device.type == "cuda"
    run = simulate_two_layer(SPEC_S[:2], SPEC_U0, SPEC_LR, 3000, device="cuda", dtype="float64")
    assert run.strengths.device.type == "cuda"
    assert (run.strengths[:, 0] - u).abs().max() < 0.05
    assert math.isfinite(float(run.strengths[-1, 1]))


def test_two_layer_start_is_where_simulate_two_layer_starts():
    from lowdim_course.theory.two_layer import mode_strengths, two_layer_gd_step, two_layer_start

    start = two_layer_start([3.0, 1.0], 1e-2, d=5, seed=3)
    run = simulate_two_layer([3.0, 1.0], 1e-2, 0.05, 40, d=5, seed=3)
    w1, w2 = start.layers
    for step in range(41):
        assert torch.allclose(mode_strengths(w2 @ w1, start), run.strengths[step], atol=1e-12)
        w1, w2 = two_layer_gd_step(w1, w2, start.target, 0.05)


def test_two_layer_gd_step_matches_autograd_and_rejects_bad_shapes():
    from lowdim_course.theory.two_layer import two_layer_gd_step

    generator = torch.Generator().manual_seed(0)
    w1 = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    w2 = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    target = torch.randn(5, 3, generator=generator, dtype=torch.float64)
    a, b = w1.clone().requires_grad_(), w2.clone().requires_grad_()
    grads = torch.autograd.grad(0.5 * ((b @ a - target) ** 2).sum(), (a, b))
    new1, new2 = two_layer_gd_step(w1, w2, target, 0.1)
    assert torch.allclose(new1, w1 - 0.1 * grads[0]) and torch.allclose(new2, w2 - 0.1 * grads[1])
    with pytest.raises(ValueError, match="shapes do not chain"):
        two_layer_gd_step(w1, w2, target.T, 0.1)
    with pytest.raises(ValueError, match="lr"):
        two_layer_gd_step(w1, w2, target, -1.0)
