"""Lesson 06 checks: accept an independent solution, reject the stub and plausible mistakes."""

import numpy as np
import pytest
import torch
from torch import nn

from lowdim_course.exercises import check, exercise_ids


def surrogate_solution(features, labels, output_weight, output_bias):
    # written from the formula with numpy: S = C^T (Y - P)^T Phi / n
    phi = np.asarray(features, dtype=float)
    c = np.asarray(output_weight, dtype=float)
    logits = np.asarray(output_bias, dtype=float)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    y = np.zeros((phi.shape[0], c.shape[0]))
    y[np.arange(phi.shape[0]), np.asarray(labels)] = 1.0
    return c.T @ (y - p).T @ phi / phi.shape[0]


def block_solution(surrogate, r_hat, depth, eps):
    u, _, vh = np.linalg.svd(np.asarray(surrogate, dtype=float))
    weights = [eps * vh[:r_hat]] + [eps * np.eye(r_hat)] * (depth - 2) + [eps * u[:, :r_hat]]
    layers = []
    for weight in weights:
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight))
        layers.append(layer)
    return nn.Sequential(*layers)


def stub(*args):
    raise NotImplementedError("your code here")


def test_lesson06_exercises_are_registered():
    assert exercise_ids("06") == [
        "06.block_surrogate",
        "06.compress_and_train",
        "06.compressed_block",
        "06.surrogate_rank",
    ]


def test_independent_solutions_pass():
    assert check("06.block_surrogate", surrogate_solution).passed
    assert check("06.compressed_block", block_solution).passed
    # a plain list of layers, float32 weights, and flipped singular pairs are fine too
    assert check("06.compressed_block", lambda *a: list(block_solution(*a))).passed

    def flipped(surrogate, r_hat, depth, eps):
        block = block_solution(surrogate, r_hat, depth, eps)
        with torch.no_grad():
            block[0].weight[0] *= -1
            block[-1].weight[:, 0] *= -1
        return block

    assert check("06.compressed_block", flipped).passed


@pytest.mark.parametrize("exercise", ["06.block_surrogate", "06.compressed_block"])
def test_stub_is_rejected(exercise):
    result = check(exercise, stub)
    assert not result.passed and "not implemented" in result.message


def _softmax(bias):
    p = np.exp(bias - bias.max())
    return p / p.sum()


def _with_residual(residual):
    def student(features, labels, output_weight, output_bias):
        phi, c, b = (np.asarray(t, dtype=float) for t in (features, output_weight, output_bias))
        y = np.eye(c.shape[0])[np.asarray(labels)]
        return c.T @ residual(y, b).T @ phi / phi.shape[0]

    return student


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (_with_residual(lambda y, b: y), "predictions P are missing"),
        (_with_residual(lambda y, b: y - 1.0 / y.shape[1]), "output bias c was left out"),
        (_with_residual(lambda y, b: y - 1 / (1 + np.exp(-b))), "sigmoid"),
        (_with_residual(lambda y, b: _softmax(b) - y), "factor of -1"),
        (lambda f, y, c, b: surrogate_solution(f, y, c, b) * len(y), "factor of about"),
        (lambda f, y, c, b: surrogate_solution(f, y, c, b).T, "transposed"),
    ],
)
def test_surrogate_mistakes_are_diagnosed(student, words):
    result = check("06.block_surrogate", student)
    assert not result.passed and words in result.message, result.message


def _linear(weight, bias=False):
    weight = torch.as_tensor(weight, dtype=torch.float64)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return layer


def _with_weights(make):
    def student(surrogate, r_hat, depth, eps):
        u, _, vh = torch.linalg.svd(surrogate)
        return nn.Sequential(*(_linear(w) for w in make(u, vh, r_hat, depth, eps)))

    return student


def _right(u, vh, r, depth, eps):
    return [eps * vh[:r]] + [eps * torch.eye(r)] * (depth - 2) + [eps * u[:, :r]]


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda s, r, depth, eps: [w.weight for w in block_solution(s, r, depth, eps)],
         "weight matrices, not layers"),
        (lambda s, r, depth, eps: nn.Sequential(*block_solution(s, r, depth, eps), nn.ReLU()),
         "every layer must be an nn.Linear"),
        (_with_weights(lambda u, vh, r, depth, eps: _right(u, vh, r, depth + 1, eps)),
         "off by one"),
        (lambda s, r, depth, eps: nn.Sequential(
            *(_linear(layer.weight.detach(), bias=True)
              for layer in block_solution(s, r, depth, eps))), "have a bias"),
        (_with_weights(lambda u, vh, r, depth, eps: [eps * u[:, :r].T]
                       + [eps * torch.eye(r)] * (depth - 2) + [eps * vh[:r].T]),
         "W_1 holds the left singular vectors"),
        (_with_weights(lambda u, vh, r, depth, eps: [vh[:r]] + [eps * torch.eye(r)] * (depth - 2)
                       + [u[:, :r]]), "rows of W_1 should have norm eps"),
        (_with_weights(lambda u, vh, r, depth, eps: [eps * vh[-r:]]
                       + [eps * torch.eye(r)] * (depth - 2) + [eps * u[:, -r:]]),
         "SMALLEST singular values"),
        (lambda s, r, depth, eps: nn.Sequential(
            *(nn.Linear(layer.in_features, layer.out_features, bias=False, dtype=torch.float64)
              for layer in block_solution(s, r, depth, eps))), "nn.Linear starts with random"),
        (lambda s, r, depth, eps: nn.Sequential(
            *(_linear(layer.weight.detach().T)
              for layer in block_solution(s, r, depth, eps))), "in and out features swapped"),
    ],
)  # fmt: skip
def test_block_mistakes_are_diagnosed(student, words):
    result = check("06.compressed_block", student)
    assert not result.passed and words in result.message, result.message


# ---------------------------------------------------------------------------------------------
# 06.compress_and_train (capstone)
# ---------------------------------------------------------------------------------------------


def adam_by_hand(surrogate, features, labels, head, r_hat, depth, eps, lr, alpha, steps):
    """Written from the maths in numpy: the start from numpy's SVD, manual backpropagation
    through the linear block and the head, and Adam's update (m, v, bias corrections) with
    torch's defaults; the head is trained in place, the block returned as nn.Linear layers."""
    beta1, beta2, adam_eps = 0.9, 0.999, 1e-8
    u, _, vh = np.linalg.svd(np.asarray(surrogate, dtype=float))
    weights = [eps * vh[:r_hat]] + [eps * np.eye(r_hat)] * (depth - 2) + [eps * u[:, :r_hat]]
    x = np.asarray(features, dtype=float)
    y = np.eye(head.out_features)[np.asarray(labels)]
    params = [*weights, head.weight.detach().numpy().copy(), head.bias.detach().numpy().copy()]
    rates = [alpha * lr] + [lr] * (len(weights) - 1) + [lr, lr]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    losses = []
    for t in range(1, steps + 1):
        *ws, c, b = params
        hs = [x]
        for w in ws:
            hs.append(hs[-1] @ w.T)
        logits = hs[-1] @ c.T + b
        shifted = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
        losses.append(float(-np.mean(np.sum(y * np.log(p), axis=1))))
        upstream = (p - y) / x.shape[0]  # d loss / d logits
        grads_head = [upstream.T @ hs[-1], upstream.sum(axis=0)]
        back = upstream @ c
        grads_block = []
        for k in range(len(ws) - 1, -1, -1):
            grads_block.insert(0, back.T @ hs[k])
            back = back @ ws[k]
        grads = grads_block + grads_head
        for i, g in enumerate(grads):
            m[i] = beta1 * m[i] + (1 - beta1) * g
            v[i] = beta2 * v[i] + (1 - beta2) * g * g
            m_hat, v_hat = m[i] / (1 - beta1**t), v[i] / (1 - beta2**t)
            params[i] = params[i] - rates[i] * m_hat / (np.sqrt(v_hat) + adam_eps)
    block = nn.Sequential(*(_linear(w) for w in params[:-2]))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(params[-2]))
        head.bias.copy_(torch.from_numpy(params[-1]))
    return block, losses


def flipped_pairs_by_torch(surrogate, features, labels, head, r_hat, depth, eps, lr, alpha, steps):
    """A different correct answer: the student's 06.2 block with every singular pair's sign
    flipped, one group per layer, log-softmax and NLL, tensors out, a list of layers."""
    block = list(block_solution(surrogate, r_hat, depth, eps))
    with torch.no_grad():
        block[0].weight.neg_()  # every pair flipped: the middle layers (-I) I (-I) stay I
        block[-1].weight.neg_()
    groups = [{"params": [block[0].weight], "lr": alpha * lr}]
    groups += [{"params": [layer.weight]} for layer in block[1:]]
    groups.append({"params": [head.weight, head.bias]})
    optimizer = torch.optim.Adam(groups, lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=False)
        hidden = features
        for layer in block:
            hidden = hidden @ layer.weight.T
        log_p = torch.log_softmax(hidden @ head.weight.T + head.bias, dim=1)
        loss = -log_p[torch.arange(len(labels)), labels].mean()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return block, losses


def test_capstone_solutions_pass():
    assert check("06.compress_and_train", adam_by_hand).passed
    assert check("06.compress_and_train", flipped_pairs_by_torch).passed


def test_capstone_stub_is_rejected():
    result = check("06.compress_and_train", stub)
    assert not result.passed and "not implemented yet" in result.message


def _wrong(*, start=None, rates=None, clear=True, optimizer=torch.optim.Adam):
    """A wrong answer written by hand: ``start(u, vh, r, depth, eps)`` gives the weights and
    ``rates(alpha, L)`` the factors of lr for the block's layers and then the head."""
    start = start or _right
    rates = rates or (lambda a, depth: [a] + [1.0] * depth)

    def student(surrogate, features, labels, head, r_hat, depth, eps, lr, alpha, steps):
        u, _, vh = torch.linalg.svd(surrogate)
        block = nn.Sequential(*(_linear(w) for w in start(u, vh, r_hat, depth, eps)))
        factors = rates(alpha, depth)
        pairs = zip(block, factors[:-1], strict=True)
        groups = [{"params": [w.weight], "lr": f * lr} for w, f in pairs]
        groups.append({"params": list(head.parameters()), "lr": factors[-1] * lr})
        opt = optimizer(groups, lr=lr)
        losses = []
        for _ in range(steps):
            if clear:
                opt.zero_grad()
            loss = nn.functional.cross_entropy(head(block(features)), labels)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return block, losses

    return student


def _swapped(u, vh, r, depth, eps):
    return [eps * u[:, :r].T] + [eps * torch.eye(r)] * (depth - 2) + [eps * vh[:r].T]


def _smallest(u, vh, r, depth, eps):
    return [eps * vh[-r:]] + [eps * torch.eye(r)] * (depth - 2) + [eps * u[:, -r:]]


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (_wrong(rates=lambda a, depth: [a] * depth + [1.0]), "every layer of the block"),
        (_wrong(rates=lambda a, depth: [a] + [1.0] * (depth - 2) + [a, 1.0]), "both ends"),
        (_wrong(rates=lambda a, depth: [1.0] * (depth - 1) + [a, 1.0]), "last layer instead"),
        (_wrong(rates=lambda a, depth: [1.0] * depth + [a]), "on the head"),
        (_wrong(rates=lambda a, depth: [a] + [1.0] * (depth - 1) + [a]), "head also stepped"),
        (_wrong(rates=lambda a, depth: [1.0] * (depth + 1)), "no discrepancy"),
        (_wrong(start=_swapped), "W_1 from the left ones"),
        (_wrong(start=_smallest), "SMALLEST singular values"),
        (_wrong(clear=False), "zero_grad forgotten"),
        (_wrong(optimizer=torch.optim.SGD), "SGD"),
        (lambda *args: (adam_by_hand(*args)[0], [*adam_by_hand(*args)[1], 0.0]), "wrong length"),
        (lambda *args: adam_by_hand(*args)[1], "expected (block, losses)"),
        (lambda *args: ([layer.weight for layer in adam_by_hand(*args)[0]],
                        adam_by_hand(*args)[1]), "nn.Linear layers"),
        (lambda s, f, y, h, r, depth, eps, lr, a, steps:
         (nn.Sequential(*(_linear(layer.weight.detach().T)
                          for layer in adam_by_hand(s, f, y, h, r, depth, eps, lr, a, steps)[0])),
          adam_by_hand(s, f, y, h, r, depth, eps, lr, a, steps)[1]), "expected [("),
    ],
)  # fmt: skip
def test_capstone_mistakes_are_named(student, words):
    result = check("06.compress_and_train", student)
    assert not result.passed and words in result.message, result.message


def test_a_missing_eps_is_caught_by_the_case_with_eps_off_one():
    """eps = 1 in the lesson's figure, so a missing eps is not a named mistake; the hidden
    cases with eps = 0.7 and 1.3 still reject it."""
    result = check("06.compress_and_train", _wrong(start=lambda u, vh, r, depth, eps:
                                                   _right(u, vh, r, depth, 1.0)))  # fmt: skip
    assert not result.passed and "eps=0.7" in result.message, result.message


# ---------------------------------------------------------------------------------------------
# 06.surrogate_rank (self-check)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["b", "B", "(b)", " b "])
def test_surrogate_rank_right_letter_passes(answer):
    assert check("06.surrogate_rank", lambda: answer).passed


def test_the_regression_heads_surrogate_has_rank_three():
    """The self-check's answer, recomputed: S = -dl/dB at B = 0 for the mean squared error with
    K = 3 real outputs, c = 0 and random targets is C^T Y^T Phi / n, of rank 3, not K - 1."""
    generator = torch.Generator().manual_seed(6)
    n, width, outputs = 200, 64, 3
    phi = torch.relu(torch.randn(n, width, generator=generator, dtype=torch.float64))
    targets = torch.randn(n, outputs, generator=generator, dtype=torch.float64)
    c_weight = torch.randn(outputs, width, generator=generator, dtype=torch.float64)
    block = torch.zeros(width, width, dtype=torch.float64, requires_grad=True)
    loss = 0.5 * ((phi @ block.T @ c_weight.T - targets) ** 2).sum(dim=1).mean()
    (gradient,) = torch.autograd.grad(loss, block)
    values = torch.linalg.svdvals(-gradient)
    assert int((values > 1e-10 * values[0]).sum()) == 3


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "K - 1 came from the classifier"), ("c", "narrowest factor, 3"), ("d", "rank one")],
)
def test_surrogate_rank_wrong_letters_explain(letter, words):
    result = check("06.surrogate_rank", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


def test_surrogate_rank_stub_and_non_letters():
    assert "not implemented yet" in check("06.surrogate_rank", stub).message
    assert "not one of the options" in check("06.surrogate_rank", lambda: "e").message
