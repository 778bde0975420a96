"""Lesson 10's checks: accept an independent solution, reject the stub and wrong answers."""

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check


def checkpoint_basis(checkpoints):  # classical Gram-Schmidt in numpy, re-orthogonalized
    rows = []
    for v in np.asarray(checkpoints, dtype=float):
        for _ in range(2):
            for p in rows:
                v = v - (p @ v) * p
        rows.append(v / np.linalg.norm(v))
    return np.array(rows)


def qr_basis(checkpoints):
    q, _ = torch.linalg.qr(checkpoints.T)
    return q.T


def projected_step(weights, gradient, basis, lr):
    return weights - lr * (basis.T @ (basis @ gradient))


def stub(*args):
    raise NotImplementedError("your code here")


def test_solutions_pass(capsys):
    assert check("10.checkpoint_basis", checkpoint_basis).passed
    assert check("10.checkpoint_basis", qr_basis).passed  # another basis of the same span
    assert check("10.projected_step", projected_step).passed


@pytest.mark.parametrize("exercise_id", ["10.checkpoint_basis", "10.projected_step"])
def test_stub_is_rejected(exercise_id, capsys):
    result = check(exercise_id, stub)
    assert not result.passed and "not implemented yet" in result.message


def _normalized(c):
    return c / c.norm(dim=1, keepdim=True)


def _orthogonal_unnormalized(c):
    q = qr_basis(c)
    return q * torch.arange(1, q.shape[0] + 1, dtype=q.dtype)[:, None]


def _wrong_span(c):
    q, _ = torch.linalg.qr(torch.randn(c.shape[1], c.shape[0], dtype=torch.float64))
    return q.T


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda c: qr_basis(c).T, "transposed"),
        (_normalized, "not orthogonal"),
        (_orthogonal_unnormalized, "not of norm 1"),
        (_wrong_span, "do not span"),
    ],
)
def test_wrong_bases_are_named(student, words, capsys):
    result = check("10.checkpoint_basis", student)
    assert not result.passed and words in result.message, result.message


def classical_one_pass_numpy(checkpoints):  # every coefficient from the original checkpoint
    rows = []
    for w in np.asarray(checkpoints, dtype=float):
        v = w - sum((p @ w) * p for p in rows) if rows else w
        rows.append(v / np.linalg.norm(v))
    return np.array(rows)


def modified_one_pass(checkpoints):  # one pass, each projection from the current remainder
    rows = []
    for v in checkpoints:
        for p in rows:
            v = v - (p @ v) * p
        rows.append(v / v.norm())
    return torch.stack(rows)


def _orthogonality_loss(P):
    P = torch.as_tensor(P, dtype=torch.float64)
    return float(torch.linalg.matrix_norm(P @ P.T - torch.eye(len(P), dtype=torch.float64)))


def test_the_gradient_descent_case_is_as_ill_conditioned_as_the_lessons_checkpoints():
    # the docstring's numbers: condition number ~3.5e3 (the lesson's SGD checkpoints: 2.3e3 at
    # K = 10, 4.8e3 at K = 20), one classical pass ~1e-6 off orthonormal, two passes ~1e-15
    from lowdim_course.exercises.lesson10 import (
        gradient_descent_checkpoints,
        one_pass_classical_gram_schmidt,
    )
    from lowdim_course.literature import weight_averaging

    C = gradient_descent_checkpoints()
    sigma = torch.linalg.svdvals(C)
    assert C.shape == (12, 27) and 2e3 < float(sigma[0] / sigma[-1]) < 6e3
    assert 1e-6 < _orthogonality_loss(one_pass_classical_gram_schmidt(C)) < 1e-4
    assert _orthogonality_loss(classical_one_pass_numpy(C.numpy())) > 1e-6
    assert _orthogonality_loss(weight_averaging.orthonormal_basis(C)) < 1e-13
    data = weight_averaging.make_classification_data(seed=0)
    run = weight_averaging.sgd_checkpoints(data, epochs=20, seed=0)
    for K, low, high in ((10, 1e3, 4e3), (20, 3e3, 8e3)):
        sigma = torch.linalg.svdvals(run["checkpoints"][1 : K + 1])
        assert low < float(sigma[0] / sigma[-1]) < high
    lesson_20 = one_pass_classical_gram_schmidt(run["checkpoints"][1:21])
    assert _orthogonality_loss(lesson_20) > 1e-6  # the 3e-5 at K = 20


@pytest.mark.parametrize(
    "student",
    ["course", classical_one_pass_numpy],
)
def test_one_pass_of_classical_gram_schmidt_is_named(student, capsys):
    from lowdim_course.exercises.lesson10 import one_pass_classical_gram_schmidt

    student = one_pass_classical_gram_schmidt if student == "course" else student
    result = check("10.checkpoint_basis", student)
    assert not result.passed
    assert "loss of orthogonality" in result.message and "re-orthogonalize" in result.message
    assert "case 5/5" in result.message  # it passes the well-conditioned cases


def test_one_pass_of_modified_gram_schmidt_is_accepted(capsys):
    # its loss of orthogonality grows like eps * kappa, not eps * kappa^2: 2e-13 here
    from lowdim_course.exercises.lesson10 import gradient_descent_checkpoints

    assert _orthogonality_loss(modified_one_pass(gradient_descent_checkpoints())) < 1e-11
    assert check("10.checkpoint_basis", modified_one_pass).passed


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda w, g, p, lr: w - lr * g, "full gradient"),
        (lambda w, g, p, lr: w + lr * p.T @ (p @ g), "uphill"),
        (lambda w, g, p, lr: w - lr * (g - p.T @ (p @ g)), "ORTHOGONAL"),
        (lambda w, g, p, lr: w - p.T @ (p @ g), "learning rate"),
        (lambda w, g, p, lr: p @ g, "wrong"),
    ],
)
def test_wrong_steps_are_named(student, words, capsys):
    result = check("10.projected_step", student)
    assert not result.passed and words in result.message, result.message


# ---------------------------------------------------------------------------------------------
# 10.train_twa (capstone)
# ---------------------------------------------------------------------------------------------


def twa_numpy(checkpoints, loss_and_grad, lr, steps, start="mean"):
    """From the maths, in numpy: P by Gram-Schmidt, c_0 = P w_start, c <- c - lr P g(P^T c)."""
    P = checkpoint_basis(checkpoints)
    c_ = np.asarray(checkpoints, dtype=float)
    c = P @ (c_.mean(0) if start == "mean" else c_[-1])
    for _ in range(steps):
        _, g = loss_and_grad(torch.from_numpy(P.T @ c))
        c = c - lr * (P @ np.asarray(g, dtype=float))
    return P.T @ c


def twa_on_the_weights(checkpoints, loss_and_grad, lr, steps, start="mean"):
    """A different correct loop: the weights themselves, each gradient projected by QR's basis."""
    Q = qr_basis(checkpoints)
    w = checkpoints.mean(0) if start == "mean" else checkpoints[-1].clone()
    for _ in range(steps):
        w = w - lr * (Q.T @ (Q @ loss_and_grad(w)[1]))
    return w


def test_capstone_solutions_pass():
    assert check("10.train_twa", twa_numpy).passed
    assert check("10.train_twa", twa_on_the_weights).passed


def test_capstone_stub_is_rejected():
    result = check("10.train_twa", stub)
    assert not result.passed and "not implemented yet" in result.message


def gram_schmidt(checkpoints):
    return torch.from_numpy(checkpoint_basis(checkpoints))


def _coefficients(basis=gram_schmidt, c0=None, rebuild=None, into=None, extra=0):
    """A loop on the coefficients, written by hand, with one piece replaced."""

    def student(checkpoints, loss_and_grad, lr, steps, start="mean"):
        P = basis(checkpoints)
        w0 = checkpoints.mean(0) if start == "mean" else checkpoints[-1]
        c = c0(P, w0) if c0 else P @ w0
        back = rebuild or (lambda P, c: P.T @ c)
        for _ in range(steps + extra):
            g = loss_and_grad(back(P, c))[1]
            c = c - lr * (into(P, g) if into else P @ g)
        return back(P, c)

    return student


def _full_gradient(checkpoints, loss_and_grad, lr, steps, start="mean"):
    w = checkpoints.mean(0) if start == "mean" else checkpoints[-1]
    for _ in range(steps):
        w = w - lr * loss_and_grad(w)[1]
    return w


def _raw_checkpoints(checkpoints, loss_and_grad, lr, steps, start="mean"):
    """c on the checkpoints themselves: c_0 = 1/K (the mean) or e_K (the last one)."""
    K = checkpoints.shape[0]
    c = torch.full((K,), 1.0 / K, dtype=torch.float64)
    if start == "last":
        c = torch.zeros(K, dtype=torch.float64)
        c[-1] = 1.0
    for _ in range(steps):
        c = c - lr * (checkpoints @ loss_and_grad(checkpoints.T @ c)[1])
    return checkpoints.T @ c


def _coefficients_returned(checkpoints, loss_and_grad, lr, steps, start="mean"):
    P = gram_schmidt(checkpoints)
    c = P @ checkpoints.mean(0)
    for _ in range(steps):
        c = c - lr * (P @ loss_and_grad(P.T @ c)[1])
    return c


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (_full_gradient, "full gradient steps"),
        (_raw_checkpoints, "not orthonormalised"),
        (_coefficients(basis=_normalized), "did not orthogonalise"),
        (_coefficients(into=lambda P, g: P.T @ g), "P^T instead of P"),
        (_coefficients(rebuild=lambda P, c: P @ c), "P c instead of P^T c"),
        (_coefficients(c0=lambda P, w: torch.zeros(P.shape[0], dtype=torch.float64)),
         "coefficients started at 0"),
        (_coefficients(c0=lambda P, w: torch.full((P.shape[0],), 1 / P.shape[0],
                                                  dtype=torch.float64)), "started at 1/K"),
        (_coefficients(into=lambda P, g: -(P @ g)), "+ instead of -"),
        (_coefficients(extra=1), "one step too many"),
        (_coefficients_returned, "coefficients c, not the weights"),
    ],
)  # fmt: skip
def test_capstone_mistakes_are_named(student, words):
    result = check("10.train_twa", student)
    assert not result.passed and words in result.message, result.message


def test_capstone_start_is_read():
    def always_mean(checkpoints, loss_and_grad, lr, steps, start="mean"):
        return twa_on_the_weights(checkpoints, loss_and_grad, lr, steps, "mean")

    def always_last(checkpoints, loss_and_grad, lr, steps, start="mean"):
        return twa_on_the_weights(checkpoints, loss_and_grad, lr, steps, "last")

    assert "mean although start = 'last'" in check("10.train_twa", always_mean).message
    assert "last checkpoint although start = 'mean'" in check("10.train_twa", always_last).message


def test_capstone_the_oracle_is_the_only_core_call_an_answer_may_make():
    from lowdim_course.exercises import get_exercise

    exercise = get_exercise("10.train_twa")
    assert exercise.allowed_core_calls == (
        "lowdim_course.literature.weight_averaging.loss_and_grad",
    )
    oracle = exercise.make_cases()[0].args[1]
    assert f"{oracle.__module__}.{oracle.__name__}" == exercise.allowed_core_calls[0]


def test_course_loop_matches_the_course_twa_at_one_batch_per_epoch():
    # train_in_span with a full-batch oracle is twa with one batch holding all the data
    from lowdim_course.literature import weight_averaging as wa

    data = wa.make_classification_data(n_train=40, n_test=5, dim=3, classes=3, seed=3)
    kept = wa.sgd_checkpoints(data, epochs=4, hidden=4, lr=0.2, batch_size=10, seed=3)
    kept = kept["checkpoints"][1:]
    oracle = wa.gradient_oracle(data.x_train, data.y_train, 4, 3)
    ours = wa.train_in_span(kept, oracle, lr=0.5, steps=3)
    theirs = wa.twa(data, kept, hidden=4, epochs=3, lr=0.5, batch_size=40)["weights"]
    assert torch.allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_train_in_span_rejects_bad_input():
    from lowdim_course.literature import weight_averaging as wa

    kept = torch.randn(3, 12, dtype=torch.float64)
    oracle = wa.gradient_oracle(torch.randn(5, 2, dtype=torch.float64), torch.zeros(5).long(), 2, 2)
    with pytest.raises(ValueError, match="start"):
        wa.train_in_span(kept, oracle, lr=0.1, steps=1, start="first")
    with pytest.raises(ValueError, match="steps"):
        wa.train_in_span(kept, oracle, lr=0.1, steps=-1)
    with pytest.raises(ValueError, match="lr"):
        wa.train_in_span(kept, oracle, lr=0.0, steps=1)


# ---------------------------------------------------------------------------------------------
# 10.why_orthonormal (self-check)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["c", "C", "(c)"])
def test_why_orthonormal_right_letter_passes(answer):
    assert check("10.why_orthonormal", lambda: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "lies in their span"), ("b", "SQUARE"), ("d", "C C^T = I")],
)
def test_why_orthonormal_wrong_letters_explain(letter, words):
    result = check("10.why_orthonormal", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


def test_why_orthonormal_answer_is_the_squared_ratio_of_the_singular_values():
    # the question's numbers: raw checkpoints with singular values 40 and 0.2; the step
    # -lr C^T C g scales the two directions of the span by 40^2 and 0.2^2
    generator = torch.Generator().manual_seed(0)
    u, _ = torch.linalg.qr(torch.randn(2, 2, dtype=torch.float64, generator=generator))
    v, _ = torch.linalg.qr(torch.randn(30, 2, dtype=torch.float64, generator=generator))
    C = u @ torch.diag(torch.tensor([40.0, 0.2], dtype=torch.float64)) @ v.T
    top, bottom = ((C.T @ (C @ v[:, i])).norm() for i in (0, 1))
    assert round(float(top / bottom)) == 40_000


def test_why_orthonormal_stub_is_rejected():
    assert "not implemented yet" in check("10.why_orthonormal", stub).message
