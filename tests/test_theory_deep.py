"""Deep mode dynamics: ODE integrator vs RK4 and closed form, GD, onset formula, Arora et al."""

import math

import pytest
import torch

from lowdim_course.theory import (
    deep_half_way_time,
    deep_mode_rhs,
    half_way_iteration,
    half_way_time,
    integrate_deep_mode,
    onset_time,
    saxe_trajectory,
    separation,
    simulate_deep_modes,
    singular_value_velocity,
    time_to_fraction,
)

S, A0, LR = 5.0, 0.1, 1e-3


def rk4_in_u(s, u0, depth, lr, t_end, step=0.25):
    """Classical RK4 directly on tau du/dt = L u^{2-2/L} (s - u): an independent integrator."""

    def f(u):
        return lr * depth * u ** (2 - 2 / depth) * (s - u)

    u, n = u0, round(t_end / step)
    for _ in range(n):
        k1 = f(u)
        k2 = f(u + step * k1 / 2)
        k3 = f(u + step * k2 / 2)
        k4 = f(u + step * k3)
        u += step * (k1 + 2 * k2 + 2 * k3 + k4) / 6
    return u


@pytest.mark.parametrize("depth", [3, 4])
def test_integrator_matches_an_independent_rk4(depth):
    u0 = A0**depth
    t_end = 1.2 * onset_time(S, A0, depth, LR)
    times = [0.25 * t_end, 0.9 * t_end, t_end]
    ours = integrate_deep_mode(S, u0, depth, LR, times)
    for t, value in zip(times, ours.tolist(), strict=True):
        assert value == pytest.approx(rk4_in_u(S, u0, depth, LR, t), rel=1e-6)


def test_depth_two_integrator_is_the_closed_form():
    t = torch.linspace(0, 4000, 81, dtype=torch.float64)
    torch.testing.assert_close(
        integrate_deep_mode(S, 1e-4, 2, LR, t), saxe_trajectory(t, S, 1e-4, LR), rtol=1e-9, atol=0
    )
    assert deep_half_way_time(S, 1e-4, 2, LR) == pytest.approx(half_way_time(S, 1e-4, LR), 1e-9)
    assert onset_time(S, 1e-2, 2, LR) == pytest.approx(half_way_time(S, 1e-4, LR), rel=1e-12)


@pytest.mark.parametrize(("depth", "spec_ode", "spec_gd"), [(3, 1901, 1903), (4, 9976, 9980)])
def test_ode_gradient_descent_and_onset_formula_agree(depth, spec_ode, spec_gd):
    ode_time = deep_half_way_time(S, A0**depth, depth, LR)
    steps = math.ceil(1.1 * ode_time)
    run = simulate_deep_modes([S], A0, depth, LR, steps)
    (gd_time,) = half_way_iteration(run)
    ode_on_steps = integrate_deep_mode(S, A0**depth, depth, LR, run.iterations)
    assert half_way_iteration(ode_on_steps, S) == spec_ode
    assert gd_time == spec_gd
    assert gd_time == pytest.approx(ode_time, rel=0.005)
    assert (ode_on_steps - run.strengths[:, 0]).abs().max() < 0.05 * S
    assert onset_time(S, A0, depth, LR) == pytest.approx(ode_time, rel=0.10)


def test_onset_time_is_polynomial_in_one_over_a0():
    depth = 3
    times = [deep_half_way_time(S, a0**depth, depth, LR) for a0 in (0.02, 0.01)]
    assert times[1] / times[0] == pytest.approx(2.0, rel=0.02)
    formulas = [onset_time(S, a0, depth, LR) for a0 in (0.02, 0.01)]
    assert formulas[1] / formulas[0] == pytest.approx(2.0, rel=1e-12)


def test_time_to_fraction_inverts_the_integrator():
    for depth in (2, 3, 5):
        for fraction in (0.1, 0.5, 0.95):
            t = time_to_fraction(S, 1e-3, depth, LR, fraction)
            reached = integrate_deep_mode(S, 1e-3, depth, LR, t)
            assert reached == pytest.approx(fraction * S, rel=1e-6)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_simulation_reduces_to_the_scalar_mode_recursion(depth):
    singular_values, lr, steps = (3.0, 1.0), 0.01, 400
    run = simulate_deep_modes(singular_values, 0.5, depth, lr, steps, d=4, seed=2)
    for i, s in enumerate(singular_values):
        a, expected = 0.5, [0.5**depth]
        for _ in range(steps):
            a += lr * a ** (depth - 1) * (s - a**depth)
            expected.append(a**depth)
        torch.testing.assert_close(
            run.strengths[:, i], torch.tensor(expected, dtype=torch.float64), rtol=1e-10, atol=1e-12
        )


def test_mode_rhs_is_the_per_step_change_of_gradient_descent():
    depth, lr = 3, 1e-4
    run = simulate_deep_modes([2.0], 0.5, depth, lr, 2000)
    u = run.strengths[:, 0]
    predicted = deep_mode_rhs(u[:-1], 2.0, depth, lr)
    torch.testing.assert_close(u[1:] - u[:-1], predicted, rtol=1e-3, atol=0)
    assert deep_mode_rhs(0.5, 2.0, 2, 0.1) == pytest.approx(0.1 * 2 * 0.5 * 1.5)


def test_singular_value_velocity_matches_finite_differences_of_a_run():
    depth, d, lr = 3, 6, 1e-5
    generator = torch.Generator().manual_seed(4)

    def orthogonal():
        q, _ = torch.linalg.qr(torch.randn(d, d, generator=generator, dtype=torch.float64))
        return q

    frames = [orthogonal() for _ in range(depth + 1)]
    scales = torch.diag(torch.linspace(1.2, 0.5, d, dtype=torch.float64) ** (1 / depth))
    layers = [(frames[i + 1] @ scales @ frames[i].T).requires_grad_() for i in range(depth)]
    target = torch.randn(d, 2, generator=generator, dtype=torch.float64)
    target = target @ torch.randn(2, d, generator=generator, dtype=torch.float64)

    def end_to_end():
        product = layers[0]
        for layer in layers[1:]:
            product = layer @ product
        return product

    sigmas, velocities = [], []
    for _ in range(3):
        product = end_to_end()
        loss = 0.5 * ((product - target) ** 2).sum()
        gradients = torch.autograd.grad(loss, layers)
        w = product.detach()
        sigmas.append(torch.linalg.svdvals(w))
        velocities.append(singular_value_velocity(w, w - target, depth, lr=lr))
        with torch.no_grad():
            for layer, gradient in zip(layers, gradients, strict=True):
                layer -= lr * gradient
    central = (sigmas[2] - sigmas[0]) / 2
    torch.testing.assert_close(central, velocities[1], rtol=1e-3, atol=1e-12)
    assert velocities[1].abs().min() > 1e-8


def test_separation_reproduces_the_spec_table_and_its_trend():
    spec = {2: 0.057, 3: 0.0016, 4: 0.0008}
    values = {depth: separation(depth, 1e-4) for depth in spec}
    for depth, expected in spec.items():
        assert values[depth] == pytest.approx(expected, rel=0.05)
    assert values[2] > values[3] > values[4]
    for depth in (2, 3, 4):
        by_init = [separation(depth, u0) for u0 in (1e-2, 1e-3, 1e-4)]
        assert by_init[0] > by_init[1] > by_init[2]


def test_separation_for_two_layers_from_the_closed_form():
    u0 = 1e-4
    crossing = math.log(0.9 / 0.1 * (1.0 / u0 - 1.0)) / 2.0
    expected = saxe_trajectory(crossing, 0.5, u0, 1.0) / 0.5
    assert separation(2, u0) == pytest.approx(expected, rel=1e-8)


@pytest.mark.parametrize("depth", [2, 3])
def test_separation_by_gradient_descent_agrees_with_the_ode(depth):
    gd = separation(depth, 1e-4, lr=1e-2, method="gd")
    assert gd == pytest.approx(separation(depth, 1e-4), rel=0.02)


def test_half_way_iteration_on_plain_sequences():
    assert half_way_iteration([0.0, 1.0, 2.0, 3.0], 4.0) == 2
    assert half_way_iteration([0.0, 1.0], 4.0) is None
    table = torch.tensor([[0.0, 0.0], [1.0, 0.1], [2.0, 0.6]])
    assert half_way_iteration(table, [2.0, 1.0]) == [1, 2]


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: integrate_deep_mode(5.0, 6.0, 3, 0.1, 1.0), "u0"),
        (lambda: integrate_deep_mode(5.0, 0.1, 1, 0.1, 1.0), "depth"),
        (lambda: integrate_deep_mode(5.0, 0.1, 3, -0.1, 1.0), "lr"),
        (lambda: integrate_deep_mode(5.0, 0.1, 3, 0.1, [-1.0]), "t"),
        (lambda: onset_time(1.0, 1.5, 3, 0.1), "a0"),
        (lambda: onset_time(0.0, 0.1, 3, 0.1), "s"),
        (lambda: deep_mode_rhs(0.1, 1.0, 2.5, 0.1), "depth"),
        (lambda: separation(3, 0.7), "u0"),
        (lambda: separation(3, 1e-3, singular_values=(1.0,)), "singular_values"),
        (lambda: separation(3, 1e-3, method="euler"), "method"),
        (lambda: half_way_iteration([0.0, 1.0]), "s"),
        (lambda: time_to_fraction(1.0, 0.1, 3, 0.1, 1.0), "fraction"),
        (lambda: singular_value_velocity(torch.eye(3), torch.eye(2), 3), "loss_gradient"),
        (lambda: simulate_deep_modes([1.0], 0.1, 3, 0.1, 10, device="tpu"), "device"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b"):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_inputs_give_cuda_outputs():
    t = torch.arange(0, 2501, device="cuda", dtype=torch.float64)
    u = integrate_deep_mode(S, A0**3, 3, LR, t)
    assert u.device.type == "cuda"
    run = simulate_deep_modes([S], A0, 3, LR, 2500, device="cuda", dtype="float64")
    assert (run.strengths[:, 0] - u).abs().max() < 0.05 * S
    w = torch.randn(5, 5, device="cuda", dtype=torch.float64)
    assert singular_value_velocity(w, w, 3).device.type == "cuda"


def test_identity_init_spectra_follow_the_mode_recursion_for_a_symmetric_target():
    """From eps I and M = Q diag(s) Q^T: sigma = a^L, a <- a + lr a^{L-1} (s - a^L)."""
    from lowdim_course.theory import identity_init_spectra

    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(4),
                                       dtype=torch.float64))  # fmt: skip
    s = torch.tensor([2.0, 0.7, 0.0, 0.0, 0.0], dtype=torch.float64)
    spectra = identity_init_spectra((q * s) @ q.T, 3, 0.2, 0.05, 80)
    a = torch.full((5,), 0.2, dtype=torch.float64)
    for step in range(81):
        expected = torch.sort(a**3, descending=True).values
        torch.testing.assert_close(spectra[step], expected, rtol=1e-10, atol=1e-13)
        a = a + 0.05 * a**2 * (s - a**3)
    assert spectra.shape == (81, 5)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: _identity_spectra(torch.ones(2, 3), 2, 0.1, 0.1, 3), "square"),
        (lambda: _identity_spectra(torch.eye(2), 1, 0.1, 0.1, 3), "depth"),
        (lambda: _identity_spectra(torch.eye(2), 2, 0.0, 0.1, 3), "eps"),
        (lambda: _identity_spectra(torch.eye(2), 2, 0.1, 0.1, -1), "steps"),
    ],
)
def test_identity_init_spectra_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _identity_spectra(*args):
    from lowdim_course.theory import identity_init_spectra

    return identity_init_spectra(*args)
