"""Intrinsic dimension (Li et al. 2018): projections, the subspace gradient, the toy problem,
d_int90, the teacher MLP; CUDA tests skip without a GPU."""

import pytest
import torch

from lowdim_course.literature.intrinsic_dimension import (
    d_int90,
    dense_projection,
    make_projection,
    mlp_forward,
    mlp_init,
    mlp_num_params,
    mlp_sizes,
    sparse_projection,
    subspace_gradient,
    teacher_task,
    toy_min_loss,
    toy_problem,
    train_in_subspace,
    train_mlp,
)

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.mark.parametrize("kind", ["dense", "sparse"])
@pytest.mark.parametrize(("D", "d"), [(50, 5), (1000, 40), (7, 12)])
def test_projection_columns_have_unit_norm(kind, D, d):
    P = make_projection(kind, D, d, seed=3)
    dense = P.to_dense() if P.is_sparse else P
    assert dense.shape == (D, d)
    assert torch.allclose(
        torch.linalg.vector_norm(dense, dim=0), torch.ones(d, dtype=torch.float64)
    )
    assert torch.equal(
        dense,
        (
            make_projection(kind, D, d, seed=3).to_dense()
            if P.is_sparse
            else make_projection(kind, D, d, seed=3)
        ),
    )


def test_sparse_projection_stores_about_sqrt_D_entries_per_column():
    P = sparse_projection(10_000, 30, seed=0)
    assert P.is_sparse and P._nnz() <= 100 * 30 and P._nnz() >= 95 * 30


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_subspace_gradient_matches_autograd(kind):
    sizes = mlp_sizes(8, inputs=5, classes=3)
    D = mlp_num_params(sizes)
    theta0 = mlp_init(sizes, seed=1)
    P = make_projection(kind, D, 11, seed=2)
    x = torch.randn(40, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = torch.arange(40) % 3
    z = torch.linspace(-0.3, 0.3, 11, dtype=torch.float64, requires_grad=True)

    def loss(theta):
        return torch.nn.functional.cross_entropy(mlp_forward(theta, x, sizes), y)

    dense = P.to_dense() if P.is_sparse else P
    (grad_z,) = torch.autograd.grad(loss(theta0 + dense @ z), z)
    theta = (theta0 + dense @ z).detach().requires_grad_()
    (grad_theta,) = torch.autograd.grad(loss(theta), theta)
    assert torch.allclose(subspace_gradient(P, grad_theta), grad_z, rtol=1e-10, atol=1e-14)


def test_toy_problem_has_intrinsic_dimension_ten():
    A, _ = toy_problem()
    assert A.shape == (10, 1000) and torch.equal(A.sum(1), torch.full((10,), 100.0, dtype=A.dtype))
    losses = [toy_min_loss(d, seed=0) for d in range(1, 13)]
    assert all(v < 1e-9 for v in losses[9:])
    assert all(v > 1.0 for v in losses[:9])
    # seed 0 is the lesson's: 38.5 at d = 9 (the mean over random subspaces is also 38.5)
    assert losses[8] == pytest.approx(38.49, abs=0.01)
    assert toy_min_loss(10, seed=5, kind="sparse") < 1e-9 < toy_min_loss(9, seed=5, kind="sparse")


def test_toy_loss_at_nine_follows_its_beta_law_on_average():
    # E = ||t||^2 / 10 = 38.5 for a random 9-dim subspace through theta0 = 0 (sd of the mean ~4)
    values = [toy_min_loss(9, seed=s) for s in range(60)]
    assert sum(values) / len(values) == pytest.approx(38.5, abs=12)


@pytest.mark.slow  # seconds: a run at the reference settings or a sweep
def test_subspace_training_reaches_the_toy_minimum():
    A, target = toy_problem()
    P = dense_projection(1000, 10, seed=0)

    def loss(theta):
        return ((A @ theta - target) ** 2).sum()

    _, losses = train_in_subspace(
        loss, torch.zeros(1000, dtype=torch.float64), P, 3000, 0.05, optimizer="adam"
    )
    assert losses[-1] < 1e-6 and losses[0] == pytest.approx(385.0)


def test_d_int90_finds_the_known_threshold_and_stops_early():
    calls = []

    def evaluate(d):
        calls.append(d)
        return min(d, 40) / 40  # reaches 0.9 at d = 36

    found, seen = d_int90(evaluate, 1.0, range(1, 60))
    assert found == 36 and calls == list(range(1, 37)) and seen[36] == 0.9
    assert d_int90(lambda d: 0.1, 1.0, [5, 10])[0] is None
    assert d_int90(lambda d: d / 10, 1.0, [10, 3, 9])[0] == 9


def test_mlp_width_grows_parameters_and_training_is_deterministic():
    assert mlp_num_params(mlp_sizes(32)) == 11 * 32 + 33 * 32 + 33 * 4
    task = teacher_task(n_train=200, n_test=300)
    first = train_mlp(16, 40, steps=60, task=task)
    again = train_mlp(16, 40, steps=60, task=task)
    assert first["test_accuracy"] == again["test_accuracy"] and first["losses"] == again["losses"]
    base = train_mlp(16, None, steps=60, task=task)
    assert base["losses"][-1] < base["losses"][0] and first["losses"][-1] < first["losses"][0]
    assert base["train_accuracy"] > 0.5


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: dense_projection(0, 3), "D must be"),
        (lambda: dense_projection(10, 0), "d must be"),
        (lambda: make_projection("fastfood", 10, 3), "kind must be one of"),
        (lambda: sparse_projection(10, 2, nonzeros=11), "nonzeros must be"),
        (lambda: subspace_gradient(torch.ones(5, 2), torch.ones(4)), "grad_theta must be"),
        (lambda: d_int90(lambda d: 1.0, 1.0, [3], fraction=1.5), "fraction must be"),
        (lambda: d_int90(lambda d: 1.0, 1.0, []), "dims must hold"),
        (lambda: train_mlp(0), "width must be"),
        (lambda: train_mlp(8, 5, kind="x"), "kind must be one of"),
        (lambda: train_in_subspace(lambda t: t.sum(), torch.zeros(3), None, 5, -1.0), "lr must"),
        (
            lambda: train_mlp(8, 5, device="cuda:99" if torch.cuda.is_available() else "cuda"),
            "cuda",
        ),
    ],
)
def test_bad_inputs_name_the_argument(call, words):
    with pytest.raises(ValueError, match=words):
        call()


@cuda
@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_subspace_training_on_cuda(kind):
    task = teacher_task(n_train=200, n_test=300)
    result = train_mlp(16, 40, kind=kind, steps=60, task=task, device="cuda")
    assert result["losses"][-1] < result["losses"][0]
    P = make_projection(kind, 300, 7, seed=0, device="cuda")
    grad = torch.ones(300, device=P.device, dtype=torch.float64)
    assert subspace_gradient(P, grad).device.type == "cuda"


def test_accuracy_is_a_count_over_n_whatever_the_rounding():
    """k / n exactly: a float mean under ``RoundingPerturbation`` left k / n by 1e-12, which
    moved the third decimal of lesson 07's accuracies where k / 2000 ends in 5."""
    from lowdim_course.literature.intrinsic_dimension import accuracy
    from lowdim_course.rounding import RoundingPerturbation

    task = teacher_task(seed=0)
    sizes = mlp_sizes(16)
    theta = mlp_init(sizes, seed=0)
    scores = mlp_forward(theta, task.x_test, sizes).tolist()
    correct = sum(
        max(range(len(row)), key=row.__getitem__) == int(label)
        for row, label in zip(scores, task.y_test, strict=True)
    )
    plain = accuracy(theta, task.x_test, task.y_test, sizes)
    with RoundingPerturbation(seed=3) as mode:
        perturbed = accuracy(theta, task.x_test, task.y_test, sizes)
    assert mode.count > 0
    assert plain == perturbed == correct / task.y_test.numel()
