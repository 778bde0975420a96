"""Lesson 12's core: the measures of an update against independent computations (numpy, scipy,
matrices with known answers), the models, training with recorded updates, and the sweeps."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from lowdim_course.divergence import DivergenceError
from lowdim_course.literature.compressibility import rank_for_error
from lowdim_course.nonlinear import load_mnist1d_data
from lowdim_course.nonlinear.small_models import (
    as_matrix,
    build_small_model,
    conv_lengths,
    weight_matrices,
)
from lowdim_course.nonlinear.update_geometry import (
    UPDATE_RTOL,
    captured_share,
    energy_share,
    largest_angle,
    rank_for_energy,
    settling_step,
    spectral_gap,
    stable_rank,
    subspace_angles,
    threshold_margin,
    top_subspace,
    update_rank,
)
from lowdim_course.nonlinear.update_training import BatchStream, train_recording_updates


def _random(rows, cols, seed=0):
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)  # fmt: skip


@pytest.fixture(scope="module")
def data():
    return load_mnist1d_data()


# ---------------------------------------------------------------------------------------------
# measures
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7, 5), (5, 9), (12, 12)])
def test_stable_rank_and_energy_share_against_numpy(shape):
    w = _random(*shape, seed=sum(shape))
    s = np.linalg.svd(w.numpy(), compute_uv=False)
    assert stable_rank(w) == pytest.approx(np.sum(s**2) / s[0] ** 2, rel=1e-12)
    for k in range(min(shape) + 1):
        expected = np.sum(s[:k] ** 2) / np.linalg.norm(w.numpy(), "fro") ** 2
        assert energy_share(w, k) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_measures_of_a_known_matrix():
    w = torch.diag(torch.tensor([3.0, 1.0, 0.0], dtype=torch.float64))
    assert stable_rank(w) == pytest.approx(10 / 9)
    assert energy_share(w, 1) == pytest.approx(0.9)
    assert energy_share(w, 0) == 0.0 and energy_share(w, 3) == pytest.approx(1.0)
    assert rank_for_energy(w, 0.9) == 1 and rank_for_energy(w, 0.91) == 2
    assert rank_for_energy(w, 0.0) == 0 and rank_for_energy(w, 1.0) == 2
    assert spectral_gap(w, 1) == pytest.approx(1 / 3) and spectral_gap(w, 2) == 0.0
    assert math.isnan(spectral_gap(w, 3))  # s_3 = 0: no top-3 subspace to speak of
    assert spectral_gap(torch.eye(2), 2) == 0.0 and spectral_gap(torch.eye(2), 1) == 1.0


def test_rank_for_energy_is_the_first_k_reaching_the_share():
    w = _random(9, 6, seed=3)
    s2 = np.linalg.svd(w.numpy(), compute_uv=False) ** 2
    for share in (0.1, 0.5, 0.8, 0.95, 0.999):
        brute = next(k for k in range(7) if s2[:k].sum() >= share * s2.sum())
        assert rank_for_energy(w, share) == brute
        # Eckart-Young: the same k as the course's rank_for_error at error sqrt(1 - share)
        assert rank_for_energy(w, share) == rank_for_error(w, math.sqrt(1 - share))


def test_update_rank_counts_values_above_the_relative_tolerance():
    u, _ = torch.linalg.qr(_random(8, 8, seed=1))
    v, _ = torch.linalg.qr(_random(6, 6, seed=2))
    spectrum = torch.tensor([2.0, 0.5, 3e-3, 1e-3 * 2 * 0.9, 1e-6, 0.0], dtype=torch.float64)
    w = u[:, :6] @ torch.diag(spectrum) @ v.T
    # relative to s_1 = 2: 1, 0.25, 1.5e-3 count; 0.9e-3, 5e-7 and 0 do not
    assert update_rank(w) == 3 == np.linalg.matrix_rank(w.numpy(), tol=UPDATE_RTOL * 2.0)
    assert update_rank(torch.zeros(4, 3)) == 0
    # the nearest value to the threshold (0.9e-3 of s_1) is 10% away from it
    assert threshold_margin(w) == pytest.approx(0.1, rel=1e-9)


def test_top_subspace_projection_is_the_best_rank_k_approximation():
    w = _random(10, 7, seed=4)
    for k in (1, 3, 7):
        u, v = top_subspace(w, k, "left"), top_subspace(w, k, "right")
        assert torch.allclose(u.T @ u, torch.eye(k, dtype=torch.float64), atol=1e-12)
        assert torch.allclose(v.T @ v, torch.eye(k, dtype=torch.float64), atol=1e-12)
        # Eckart-Young: U U^T W V V^T is the truncated SVD, whose share is energy_share(W, k)
        projected = u @ u.T @ w @ v @ v.T
        truncated = np.linalg.svd(w.numpy())
        best = truncated[0][:, :k] * truncated[1][:k] @ truncated[2][:k]
        assert np.allclose(projected.numpy(), best, atol=1e-12)
        assert captured_share(w, u, v) == pytest.approx(energy_share(w, k), rel=1e-12)


def test_captured_share_of_other_bases_is_below_the_best():
    w = _random(10, 7, seed=5)
    q_left, _ = torch.linalg.qr(_random(10, 3, seed=6))
    q_right, _ = torch.linalg.qr(_random(7, 3, seed=7))
    share = captured_share(w, q_left, q_right)
    by_hand = np.linalg.norm(q_left.numpy().T @ w.numpy() @ q_right.numpy()) ** 2
    assert share == pytest.approx(by_hand / np.linalg.norm(w.numpy()) ** 2, rel=1e-12)
    assert share < energy_share(w, 3)
    inside = q_left @ _random(3, 3, seed=8) @ q_right.T
    assert captured_share(inside, q_left, q_right) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="left must have 10 rows"):
        captured_share(w, q_right, q_right)


@pytest.mark.parametrize("angle", [1e-6, 0.3, 1.2, math.pi / 2])
def test_principal_angles_of_a_known_rotation(angle):
    e = torch.eye(4, dtype=torch.float64)
    a = e[:, :2]
    b = torch.stack([math.cos(angle) * e[:, 0] + math.sin(angle) * e[:, 2], e[:, 1]], dim=1)
    angles = subspace_angles(a, b)
    assert angles.tolist() == pytest.approx([0.0, angle], abs=1e-12)


def test_principal_angles_against_scipy():
    a, b = _random(12, 4, seed=9), _random(12, 4, seed=10)
    expected = np.sort(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
    assert subspace_angles(a, b).numpy() == pytest.approx(expected, abs=1e-12)
    # the same from the cosines computed another way: QR bases, numpy's SVD
    qa, qb = np.linalg.qr(a.numpy())[0], np.linalg.qr(b.numpy())[0]
    cosines = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), -1, 1)
    assert subspace_angles(a, b).numpy() == pytest.approx(np.sort(np.arccos(cosines)), abs=1e-7)


def test_largest_angle_ignores_scale_and_sign_and_sees_rotation():
    w = _random(8, 6, seed=11)
    assert largest_angle(w, -3.0 * w, 2) == pytest.approx(0.0, abs=1e-7)
    assert largest_angle(w, -3.0 * w, 2, "right") == pytest.approx(0.0, abs=1e-7)
    u, s, vh = torch.linalg.svd(w, full_matrices=False)
    swapped = u @ torch.diag(s.flip(0)) @ vh  # the top direction becomes the last one
    assert largest_angle(w, swapped, 1) == pytest.approx(math.pi / 2, abs=1e-7)


def test_settling_step():
    steps = [10, 20, 30, 40, 50]
    assert settling_step(steps, [0.5, 0.1, 0.3, 0.1, 0.0], threshold=0.2) == 40
    assert settling_step(steps, [0.1, 0.1, 0.1, 0.1, 0.0], threshold=0.2) == 10
    assert settling_step(steps, [0.1, 0.1, 0.1, 0.1, 0.3], threshold=0.2) is None
    assert settling_step(steps, [0.1, 0.1, math.nan, 0.1, 0.0], threshold=0.2) == 40
    assert settling_step(steps, [0.1, 0.2, 0.1, 0.1, 0.0], threshold=0.2) == 10  # <= counts
    with pytest.raises(ValueError, match="steps and angles"):
        settling_step(steps, [0.1])
    with pytest.raises(ValueError, match="threshold"):
        settling_step(steps, [0.0] * 5, threshold=-0.1)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: energy_share(torch.eye(3), 4), "k"),
        (lambda: energy_share(torch.zeros(3, 3), 1), "delta"),
        (lambda: rank_for_energy(torch.eye(3), 1.5), "share"),
        (lambda: update_rank(torch.eye(3), rtol=2.0), "rtol"),
        (lambda: top_subspace(torch.eye(3), 1, side="up"), "side"),
        (lambda: top_subspace(torch.eye(3), 0), "k"),
        (lambda: stable_rank(torch.ones(3)), "matrix"),
        (lambda: update_rank(torch.tensor([[1.0, math.nan]])), "delta"),
    ],
)
def test_bad_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------


def test_a_convolution_is_its_matrix_applied_to_each_window():
    model = build_small_model("cnn", width=6, depth=2, seed=3)
    conv = model.layers[1]
    x = _random(4, 6 * 19, seed=12).reshape(4, 6, 19)
    padded = torch.nn.functional.pad(x, (1, 1))
    windows = padded.unfold(2, 5, 2)  # (batch, channels, positions, kernel)
    by_matrix = torch.einsum(
        "oj,bpj->bop", as_matrix(conv.weight), windows.permute(0, 2, 1, 3).flatten(2)
    )
    assert torch.allclose(conv(x) - conv.bias[:, None], by_matrix, atol=1e-12)  # fmt: skip
    assert conv_lengths(3) == [19, 9, 4]
    shapes = {name: tuple(w.shape) for name, w in weight_matrices(model).items()}
    assert shapes == {"layer 1": (6, 5), "layer 2": (6, 30), "head": (10, 6 * 9)}


def test_models_are_seeded_and_scaled():
    a = weight_matrices(build_small_model("mlp", width=50, seed=1))
    b = weight_matrices(build_small_model("mlp", width=50, seed=1))
    c = weight_matrices(build_small_model("mlp", width=50, seed=2))
    small = weight_matrices(build_small_model("mlp", width=50, seed=1, init_scale=0.1))
    single = build_small_model("mlp", width=50, seed=1, dtype=torch.float32)
    for name in a:
        assert torch.equal(a[name], b[name]) and not torch.equal(a[name], c[name])
        assert torch.allclose(small[name], 0.1 * a[name], rtol=1e-15, atol=0)
        assert torch.allclose(weight_matrices(single)[name], a[name], rtol=1e-6, atol=1e-7)
    # He-normal: the entries of the 50 x 40 first layer have variance 2 / 40
    assert a["layer 1"].var().item() == pytest.approx(2 / 40, rel=0.1)
    assert set(a) == {"layer 1", "layer 2", "head"}


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"architecture": "rnn"}, "architecture"),
        ({"width": 0}, "width"),
        ({"depth": 5}, "depth"),
        ({"init_scale": 0.0}, "init_scale"),
        ({"seed": -1}, "seed"),
        ({"dtype": torch.int64}, "dtype"),
    ],
)
def test_bad_model_settings_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        build_small_model(**kwargs)


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------


def test_batch_stream_is_seeded_covers_each_epoch_and_skips(data):
    stream = BatchStream(data, 1000, seed=5)
    epoch = torch.cat([stream.next()[1] for _ in range(4)])
    assert torch.equal(torch.sort(epoch).values, torch.sort(data.y_train).values)
    first, second = BatchStream(data, 300, seed=5), BatchStream(data, 300, seed=5)
    for _ in range(17):
        first.next()
    second.skip(17)
    assert torch.equal(first.next()[0], second.next()[0])


def _run(data, **kwargs):
    settings = {"width": 20, "seed": 0} | kwargs.pop("model", {})
    model = build_small_model("mlp", **settings)
    options = {"steps": 60, "record_every": 20} | kwargs
    return model, train_recording_updates(model, data, **options)


def test_recorded_updates_are_the_weights_moved(data):
    model, run = _run(data, optimizer="sgd", lr=0.1)
    assert run.steps == [20, 40, 60] and len(run.losses) == 60
    now = weight_matrices(model)
    for name in run.layer_names:
        assert torch.equal(run.final_update(name), now[name] - run.initial[name])
        assert torch.equal(run.update_at(name, 40), run.updates[name][1])
    with pytest.raises(ValueError, match="step"):
        run.update_at("head", 30)
    with pytest.raises(ValueError, match="name"):
        run.final_update("layer 9")


def test_the_same_seed_gives_the_same_numbers(data):
    _, a = _run(data, optimizer="adam", lr=1e-2)
    _, b = _run(data, optimizer="adam", lr=1e-2)
    _, c = _run(data, optimizer="adam", lr=1e-2, seed=1)
    assert a.losses == b.losses and a.test_accuracy == b.test_accuracy
    assert all(torch.equal(a.final_update(n), b.final_update(n)) for n in a.layer_names)
    assert a.losses != c.losses


def test_sgd_moves_the_head_in_the_space_orthogonal_to_the_ones_vector(data):
    """Cross-entropy's gradient with respect to the logits, softmax(z) - onehot(y), sums to 0
    over the classes, so every SGD step on the head adds a matrix whose columns sum to 0: its
    update has rank <= K - 1 = 9 and 1^T Delta = 0. Adam rescales entries and breaks this."""
    _, sgd = _run(data, optimizer="sgd", lr=0.1)
    head = sgd.final_update("head")
    assert head.sum(0).abs().max() < 1e-12 * head.abs().max()
    assert update_rank(head) == 9
    _, adam = _run(data, optimizer="adam", lr=1e-2)
    assert (
        adam.final_update("head").sum(0).abs().max() > 1e-3 * adam.final_update("head").abs().max()
    )


def test_a_diverging_run_says_lower_the_learning_rate(data):
    with pytest.raises(DivergenceError, match="lower the learning rate"):
        _run(data, optimizer="sgd", lr=1e4, model={"init_scale": 5.0})


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"lr": 0.0}, "lr"),
        ({"steps": 0}, "steps"),
        ({"record_every": 100}, "record_every"),
        ({"batch_size": 0}, "batch_size"),
        ({"keep_state_at": 61}, "keep_state_at"),
    ],
)
def test_bad_training_settings_name_the_argument(data, kwargs, name):
    with pytest.raises(ValueError, match=name):
        _run(data, **kwargs)


def test_train_refuses_another_model(data):
    with pytest.raises(ValueError, match="model"):
        train_recording_updates(torch.nn.Linear(40, 10), data)
