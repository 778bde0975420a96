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


def gd_step_numpy(layers, target, lr, alpha, *, order=None, rates=None, transpose=False):
    """One step of ``1/2 ||W_{L:1} - M*||^2``, every gradient from the old weights.

    ``order`` (a list of layer indices): update the layers one after the other in that order
    instead (a wrong answer); ``rates``: override the per-layer rates; ``transpose``: the
    residual transposed (a wrong answer).
    """
    ws = [np.asarray(w, dtype=float) for w in layers]
    depth, d = len(ws), ws[0].shape[1]
    if rates is None:
        rates = [alpha * lr if index in (0, depth - 1) else lr for index in range(depth)]

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


def gd_step_autograd(layers, target, lr, alpha):
    """A different correct answer: the gradients from torch.autograd, then the step."""
    leaves = [torch.as_tensor(w).detach().clone().requires_grad_(True) for w in layers]
    product = leaves[0]
    for w in leaves[1:]:
        product = w @ product
    (0.5 * ((product - target) ** 2).sum()).backward()
    depth = len(leaves)
    with torch.no_grad():
        return [
            w - (alpha * lr if i in (0, depth - 1) else lr) * w.grad for i, w in enumerate(leaves)
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


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, rates=_every_layer(ws, lr, a)),
         "applied to EVERY layer"),
        (lambda ws, t, lr, a: gd_step_numpy(ws, t, lr, a, rates=_middle_only(ws, lr, a)),
         "middle layers only"),
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


def test_capstone_an_unnamed_error_says_which_layers(capsys):
    def last_layer_wrong(layers, target, lr, alpha):
        new = gd_step_numpy(layers, target, lr, alpha)
        new[-1] = new[-1] + 1e-3
        return new

    result = check("04.compressed_gd_step", last_layer_wrong)
    assert not result.passed and "wrong values in W_L" in result.message, result.message


# ---------------------------------------------------------------------------------------------
# Self-check 04.why_two_r
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["b", "B", "(b)", " b "])
def test_self_check_right_letter_passes(answer, capsys):
    assert check("04.why_two_r", lambda: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "random initialization"), ("c", "621 iterations"), ("d", "do not interact")],
)
def test_self_check_wrong_letters_explain(letter, words, capsys):
    result = check("04.why_two_r", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


def test_self_check_c_numbers_are_the_race(capsys):
    """The explanation of (c) quotes the race at r_hat = r = 5 and r_hat = 10."""
    from lowdim_course.demos.lesson04 import _race

    exact, slack = _race(50, 5, 5, 3, 0.03, 1000), _race(50, 5, 10, 3, 0.03, 1000)
    assert exact.compressed.iterations_to(1e-4) == slack.compressed.iterations_to(1e-4) == 621
    assert exact.compressed.final_error < 1e-15 < 1e-6 < slack.compressed.final_error
