"""Lesson 02's new checks: the capstone trainer and the self-check on halving the init.

The solutions below are written from the formulas (numpy, loops), not from the core.
"""

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check
from lowdim_course.theory import deep_half_way_time, onset_time

# ---------------------------------------------------------------------------------------------
# Independent solutions of 02.train_deep_linear
# ---------------------------------------------------------------------------------------------


def _chain(layers, d):
    out = np.eye(d)
    for w in layers:
        out = w @ out
    return out


def train_numpy(M, depth, eps, eta, steps):
    """Gradient descent from eps I, in numpy, every gradient from the old layers."""
    target = np.asarray(M)
    d = target.shape[0]
    layers = [eps * np.eye(d) for _ in range(depth)]
    rows = [np.linalg.svd(_chain(layers, d), compute_uv=False)]
    for _ in range(steps):
        residual = _chain(layers, d) - target
        new = []
        for i, w in enumerate(layers):
            above, below = _chain(layers[i + 1 :], d), _chain(layers[:i], d)
            new.append(w - eta * above.T @ residual @ below.T)
        layers = new
        rows.append(np.linalg.svd(_chain(layers, d), compute_uv=False))
    return np.array(rows)


def train_with_autograd(M, depth, eps, eta, steps):
    """A different correct variant: torch autograd on the summed loss, then one joint update."""
    d = M.shape[0]
    layers = [(eps * torch.eye(d, dtype=M.dtype)).requires_grad_() for _ in range(depth)]
    spectra = []
    for step in range(steps + 1):
        product = layers[0]
        for w in layers[1:]:
            product = w @ product
        spectra.append(torch.linalg.svdvals(product.detach()))
        if step == steps:
            break
        loss = 0.5 * ((product - M) ** 2).sum()
        gradients = torch.autograd.grad(loss, layers)
        with torch.no_grad():
            layers = [
                (w - eta * g).requires_grad_() for w, g in zip(layers, gradients, strict=True)
            ]
    return torch.stack(spectra)


def stub(*args):
    raise NotImplementedError("your code here")


# ---------------------------------------------------------------------------------------------
# Plausible wrong answers, each written independently
# ---------------------------------------------------------------------------------------------


def train_sequential(M, depth, eps, eta, steps):
    target = np.asarray(M)
    d = target.shape[0]
    layers = [eps * np.eye(d) for _ in range(depth)]
    rows = [np.linalg.svd(_chain(layers, d), compute_uv=False)]
    for _ in range(steps):
        for i in range(depth):  # W_1 first, each gradient with the layers updated so far
            residual = _chain(layers, d) - target
            above, below = _chain(layers[i + 1 :], d), _chain(layers[:i], d)
            layers[i] = layers[i] - eta * above.T @ residual @ below.T
        rows.append(np.linalg.svd(_chain(layers, d), compute_uv=False))
    return np.array(rows)


def train_without_transposes(M, depth, eps, eta, steps):
    target = np.asarray(M)
    d = target.shape[0]
    layers = [eps * np.eye(d) for _ in range(depth)]
    rows = [np.linalg.svd(_chain(layers, d), compute_uv=False)]
    for _ in range(steps):
        residual = _chain(layers, d) - target
        layers = [
            w - eta * _chain(layers[i + 1 :], d) @ residual @ _chain(layers[:i], d)
            for i, w in enumerate(layers)
        ]
        rows.append(np.linalg.svd(_chain(layers, d), compute_uv=False))
    return np.array(rows)


def train_last_layer_only(M, depth, eps, eta, steps):
    target = np.asarray(M)
    d = target.shape[0]
    layers = [eps * np.eye(d) for _ in range(depth)]
    rows = [np.linalg.svd(_chain(layers, d), compute_uv=False)]
    for _ in range(steps):
        residual = _chain(layers, d) - target
        layers[-1] = layers[-1] - eta * residual @ _chain(layers[:-1], d).T
        rows.append(np.linalg.svd(_chain(layers, d), compute_uv=False))
    return np.array(rows)


def train_from_eps_to_the_l(M, depth, eps, eta, steps):
    return train_numpy(M, depth, eps**depth, eta, steps)


def train_missing_start(M, depth, eps, eta, steps):
    return train_numpy(M, depth, eps, eta, steps)[1:]


def train_one_row_too_many(M, depth, eps, eta, steps):
    return train_numpy(M, depth, eps, eta, steps + 1)


CAPSTONE_MISTAKES = [
    (train_sequential, "updated one after the other"),
    (train_without_transposes, "not transposed"),
    (train_last_layer_only, "only the last layer"),
    (train_from_eps_to_the_l, "eps^L"),
    (train_missing_start, "t = 0"),
    (train_one_row_too_many, "one too many"),
]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solution", [train_numpy, train_with_autograd])
def test_independent_trainers_pass(solution):
    assert check("02.train_deep_linear", solution).passed


def test_the_trainer_stub_is_not_implemented_yet():
    result = check("02.train_deep_linear", stub)
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize(("wrong", "words"), CAPSTONE_MISTAKES)
def test_trainer_mistakes_are_named(wrong, words):
    result = check("02.train_deep_linear", wrong)
    assert not result.passed
    assert words in result.message
    assert " — hint: " in result.message


def test_halve_the_init_accepts_c_in_any_spelling():
    for answer in ("c", "C", "(c)", " (C) "):
        assert check("02.halve_the_init", lambda answer=answer: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"), [("a", "two-layer law"), ("b", "depth 3"), ("d", "m0 shrinks")]
)
def test_halve_the_init_explains_every_wrong_option(letter, words):
    result = check("02.halve_the_init", lambda: letter)
    assert not result.passed
    assert f"not ({letter})" in result.message and words in result.message


def test_a_32_times_smaller_u0_at_depth_5_makes_the_wait_eight_times_longer():
    """The self-check's answer from the course's onset formula and mode ODE: m0 / 32 halves
    each layer's a0 at depth 5, and t* ~ a0^-(L-2) = 2^3."""
    a0, m0 = 0.1, 0.1**5
    assert (m0 / 32) ** (1 / 5) == pytest.approx(a0 / 2)
    assert onset_time(1.0, a0 / 2, 5, 1.0) / onset_time(1.0, a0, 5, 1.0) == pytest.approx(8.0)
    ode_ratio = deep_half_way_time(1.0, m0 / 32, 5, 1.0) / deep_half_way_time(1.0, m0, 5, 1.0)
    assert ode_ratio == pytest.approx(8.0, rel=0.01)
    two_layers = deep_half_way_time(1.0, 1e-3 / 32, 2, 1.0) / deep_half_way_time(1.0, 1e-3, 2, 1.0)
    assert two_layers < 1.6  # (a): only a fixed number of steps longer, (tau/2s) ln 32
