"""Lesson 04's capstone and self-check: independent solutions pass, the stub and named mistakes
fail with the words that name them.

The solutions below are written from the formulas (numpy, loops), not from the core.
"""

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check


def stub(*args):
    raise NotImplementedError("your code here")


# ---------------------------------------------------------------------------------------------
# Capstone 04.compressed_gd_step
# ---------------------------------------------------------------------------------------------


def _chain(layers, n):
    """``W_k ... W_1`` of a list (the n x n identity for an empty list)."""
    out = np.eye(n)
    for w in layers:
        out = w @ out
    return out


def gd_step_numpy(layers, target, eta, alpha, *, order=None, rates=None, transpose=False):
    """One step of ``1/2 ||W_{L:1} - M*||^2``, every gradient from the old weights.

    ``order`` (a list of layer indices): update the layers one after the other in that order
    instead (a wrong answer); ``rates``: override the per-layer rates; ``transpose``: the
    residual transposed (a wrong answer).
    """
    ws = [np.asarray(w, dtype=float) for w in layers]
    depth, d = len(ws), ws[0].shape[1]
    if rates is None:
        rates = [alpha * eta if index in (0, depth - 1) else eta for index in range(depth)]

    def gradient(current, index):
        residual = _chain(current, d) - np.asarray(target)
        if transpose:
            residual = residual.T
        above = _chain(current[index + 1 :], current[index].shape[0])
        below = _chain(current[:index], d)
        return above.T @ residual @ below.T

    if order is None:
        pairs = enumerate(zip(ws, rates, strict=True))
        return [w - rate * gradient(ws, i) for i, (w, rate) in pairs]
    new = list(ws)
    for index in order:
        new[index] = new[index] - rates[index] * gradient(new, index)
    return new


def gd_step_autograd(layers, target, eta, alpha):
    """A different correct answer: the gradients from torch.autograd, then the step."""
    leaves = [torch.as_tensor(w).detach().clone().requires_grad_(True) for w in layers]
    product = leaves[0]
    for w in leaves[1:]:
        product = w @ product
    (0.5 * ((product - target) ** 2).sum()).backward()
    depth = len(leaves)
    with torch.no_grad():
        return [
            w - (alpha * eta if i in (0, depth - 1) else eta) * w.grad for i, w in enumerate(leaves)
        ]


def test_capstone_solutions_pass(capsys):
    assert check("04.compressed_gd_step", gd_step_numpy).passed
    assert check("04.compressed_gd_step", gd_step_autograd).passed


def test_capstone_stub_is_rejected(capsys):
    result = check("04.compressed_gd_step", stub)
    assert not result.passed and "not implemented yet" in result.message


def _every_layer(layers, lr, alpha):
    return [alpha * lr] * len(layers)


def _middle_only(layers, lr, alpha):
    depth = len(layers)
    return [lr if i in (0, depth - 1) else alpha * lr for i in range(depth)]


def _one_end(layers, lr, alpha, end):
    """alpha on layer ``end`` (0: the first, -1: the last) only."""
    rates = [lr] * len(layers)
    rates[end] = alpha * lr
    return rates


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, rates=_every_layer(ws, lr, a)),
         "applied to EVERY layer"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, rates=_middle_only(ws, lr, a)),
         "middle layers only"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, rates=_one_end(ws, lr, a, 0)),
         "wrong rates: alpha was applied to the first layer only"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, rates=_one_end(ws, lr, a, -1)),
         "wrong rates: alpha was applied to the last layer only"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, 1.0), "plain step"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, order=range(len(ws))),
         "one after the other"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, order=range(len(ws) - 1, -1, -1)),
         "one after the other"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, transpose=True), "transposed"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, -lr, a), "UP the gradient"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, 2 * lr, a), "factor 1/2"),
        (lambda ws, t, lr, a: ws, "unchanged"),
        (lambda ws, t, lr, a: [w.T for w in gd_step_numpy(ws, t, lr, a)], "transposed?"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a)[:-1], "returned 2 layers"),
    ],
)  # fmt: skip
def test_capstone_mistakes_are_named(student, words, capsys):
    result = check("04.compressed_gd_step", student)
    assert not result.passed and words in result.message, result.message


def test_capstone_a_wrong_rate_is_named_as_a_rate(capsys):
    """A rate no named mistake has (three times alpha on W_L): the gradients are right, and the
    message says which layer's step is how many times too long, not that a gradient is wrong."""

    def last_rate_tripled(layers, target, eta, alpha):
        depth = len(layers)
        rates = [alpha * eta] + [eta] * (depth - 2) + [3 * alpha * eta]
        return gd_step_numpy(layers, target, eta, alpha, rates=rates)

    result = check("04.compressed_gd_step", last_rate_tripled)
    assert not result.passed, result.message
    assert "wrong rates: the step of W_L is 3 times the right one" in result.message
    assert "gradient is" in result.message and "W_1 and W_L step with alpha * eta" in result.message


def test_capstone_an_unnamed_error_says_which_layers(capsys):
    def last_layer_wrong(layers, target, eta, alpha):
        new = gd_step_numpy(layers, target, eta, alpha)
        new[-1] = new[-1] + 1e-3
        return new

    result = check("04.compressed_gd_step", last_layer_wrong)
    assert not result.passed and "wrong values in W_L" in result.message, result.message


# ---------------------------------------------------------------------------------------------
# Self-check 04.narrow_width
# ---------------------------------------------------------------------------------------------


def test_self_check_answer_is_what_a_narrow_compressed_network_reaches():
    """Recomputed by training: the width-2 compressed network on a d = 20 target with singular
    values (6, 3, 2, 1) ends at sqrt(2^2 + 1^2) / ||M*||_F, as the answer key says."""
    from lowdim_course.exercises.lesson04 import NARROW_SINGULAR_VALUES, narrow_width_answer
    from lowdim_course.networks import compressed_network
    from lowdim_course.problems import make_problem
    from lowdim_course.training import train

    d = 20
    problem = make_problem("mf", d=d, singular_values=NARROW_SINGULAR_VALUES, seed=4)
    assert torch.linalg.svdvals(problem.target)[:5].tolist() == pytest.approx([6, 3, 2, 1, 0])
    network = compressed_network(problem.surrogate(), 2, 3, 0.1)
    history = train(problem, network, lr=0.02 * d**2, steps=3000)
    assert history.final_error == pytest.approx(narrow_width_answer(), rel=1e-6)
    assert narrow_width_answer() == pytest.approx(0.1**0.5)


def test_self_check_right_number_passes(capsys):
    assert check("04.narrow_width", lambda: (5 / 50) ** 0.5).passed
    assert check("04.narrow_width", lambda: 0.316).passed


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (0.0, "cannot learn a mode it does not have"),
        (0.1, "squared ratio"),
        (5**0.5, "divides it by ||M*||_F"),
        (0.5, "singular value squared"),
        (0.9**0.5, "TOP singular pairs"),
    ],
)
def test_self_check_wrong_numbers_explain(answer, words, capsys):
    result = check("04.narrow_width", lambda: answer)
    assert not result.passed and words in result.message, result.message
