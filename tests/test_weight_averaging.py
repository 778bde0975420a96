"""Trainable weight averaging (Li et al. 2023): basis, projected steps, SWA vs TWA."""

import pytest
import torch

from lowdim_course.literature.weight_averaging import (
    accuracy,
    init_weights,
    logits,
    loss_and_gradient,
    make_classification_data,
    orthonormal_basis,
    parameter_count,
    projected_gradient,
    sgd_checkpoints,
    swa,
    twa,
)


@pytest.fixture(scope="module")
def run():
    data = make_classification_data(seed=0)
    return data, sgd_checkpoints(data, epochs=12, seed=0)


def test_gram_schmidt_basis_is_orthonormal_and_spans_the_checkpoints(run):
    _, result = run
    checkpoints = result["checkpoints"][1:11]
    basis = orthonormal_basis(checkpoints)
    assert basis.shape == (10, checkpoints.shape[1])
    assert torch.allclose(basis @ basis.T, torch.eye(10, dtype=torch.float64), atol=1e-12)
    projected = checkpoints @ basis.T @ basis
    assert torch.allclose(projected, checkpoints, atol=1e-10 * checkpoints.abs().max())
    # same span as numpy-free QR of the checkpoints
    q, _ = torch.linalg.qr(checkpoints.T)
    assert torch.allclose(basis.T @ basis, q @ q.T, atol=1e-10)


def test_dependent_checkpoints_add_no_direction():
    a = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [3.0, -4.0, 0.0]], dtype=torch.float64)
    assert orthonormal_basis(a).shape == (2, 3)


def test_projected_step_stays_in_the_span_and_matches_autograd(run):
    data, result = run
    checkpoints = result["checkpoints"][1:6]
    basis = orthonormal_basis(checkpoints)
    w = swa(checkpoints)
    x, y = data.x_train[:30], data.y_train[:30]
    _, gradient = loss_and_gradient(w, x, y, 32, data.classes)
    auto = w.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(logits(auto, x, 32, data.classes), y).backward()
    assert torch.allclose(gradient, auto.grad, atol=1e-12)
    step = projected_gradient(basis, gradient)
    assert torch.allclose(step, basis.T @ (basis @ auto.grad), atol=1e-14)
    new = w - 0.5 * step
    outside = new - basis.T @ (basis @ new)
    assert float(outside.norm()) < 1e-10
    assert torch.allclose(swa(checkpoints), checkpoints.mean(0))


def test_twa_stays_in_the_span_and_beats_swa(run):
    data, result = run
    checkpoints = result["checkpoints"][1:11]
    out = twa(data, checkpoints, hidden=32, epochs=2, lr=0.5)
    w = out["weights"]
    assert float((w - out["basis"].T @ out["coefficients"]).norm()) < 1e-10
    swa_accuracy = accuracy(swa(checkpoints), data.x_test, data.y_test, 32, data.classes)
    assert out["test_accuracy"][0] == pytest.approx(swa_accuracy)
    assert out["test_accuracy"][-1] > swa_accuracy + 0.05
    assert out["test_accuracy"][-1] > result["test_accuracy"][10]


def test_data_and_init_are_seeded():
    a, b = make_classification_data(seed=3), make_classification_data(seed=3)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_train, b.y_train)
    assert init_weights(20, 32, 5).numel() == parameter_count(20, 32, 5) == 32 * 21 + 5 * 33


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: make_classification_data(classes=1), "classes"),
        (lambda: make_classification_data(label_noise=2.0), "label_noise"),
        (lambda: orthonormal_basis(torch.zeros(2, 3)), "checkpoints"),
        (lambda: orthonormal_basis(torch.ones(3)), "checkpoints"),
        (lambda: projected_gradient(torch.eye(3), torch.ones(4)), "gradient"),
        (lambda: logits(torch.ones(5), torch.ones(2, 3), 4, 2), "weights"),
        (
            lambda: twa(
                make_classification_data(n_train=10), torch.ones(2, 10), hidden=1, start="best"
            ),
            "start",
        ),
        (lambda: sgd_checkpoints(make_classification_data(n_train=10), lr=0.0), "lr"),
    ],
)
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_accuracy_is_a_count_over_n_whatever_the_rounding(run):
    """k / n exactly, so a tie at the printed precision (1533 / 2000 = 0.7665) prints one way.

    Under ``RoundingPerturbation`` every float reduction is off by up to 1e-12: a float mean
    moved the accuracy off k / n and its third decimal with it (lesson 10 printed 0.767 for
    0.766); the integer count does not move.
    """
    from lowdim_course.rounding import RoundingPerturbation

    data, result = run
    weights = result["checkpoints"][-1]
    scores = logits(weights, data.x_test, 32, data.classes).tolist()
    correct = sum(
        max(range(len(row)), key=row.__getitem__) == int(label)
        for row, label in zip(scores, data.y_test, strict=True)
    )
    plain = accuracy(weights, data.x_test, data.y_test, 32, data.classes)
    with RoundingPerturbation(seed=3) as mode:
        perturbed = accuracy(weights, data.x_test, data.y_test, 32, data.classes)
    assert mode.count > 0
    assert plain == perturbed == correct / data.y_test.numel()
