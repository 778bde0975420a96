"""Training restricted to ``W_t0 + U_k C V_k^T`` stays in that span, and the sweeps' spreads are
the spreads of their seeds (Lesson 12's core)."""

import numpy as np
import pytest
import torch

from lowdim_course.nonlinear import load_mnist1d_data, restricted_training
from lowdim_course.nonlinear.restricted_training import (
    outside_span,
    restrict_model,
    step_seconds_side_by_side,
    subspace_bases,
    train_restricted,
)
from lowdim_course.nonlinear.small_models import build_small_model, weight_matrices
from lowdim_course.nonlinear.update_sweep import (
    describe_run,
    gaussian_reference,
    restricted_comparison,
    step_time_ratio,
    sweep_setting,
    trained_run,
    update_sweep,
)
from lowdim_course.nonlinear.update_training import BatchStream, train_recording_updates

SMALL = {"width": 16, "steps": 60}


@pytest.fixture(scope="module")
def data():
    return load_mnist1d_data()


def _full_run(data, architecture="mlp", t0=20, optimizer="adam", lr=1e-2, width=16):
    model = build_small_model(architecture, width=width, depth=2, seed=0)
    run = train_recording_updates(model, data, optimizer=optimizer, lr=lr, steps=60,
                                  record_every=20, keep_state_at=t0)  # fmt: skip
    at_t0 = build_small_model(architecture, width=width, depth=2, seed=0)
    at_t0.load_state_dict(run.settings["state_at"])
    return run, at_t0


@pytest.mark.parametrize("architecture", ["mlp", "cnn"])
@pytest.mark.parametrize("subspace", ["learned", "random"])
def test_the_update_after_t0_lies_in_the_span(data, architecture, subspace):
    run, model = _full_run(data, architecture)
    at_t0 = weight_matrices(model)
    updates = {name: at_t0[name] - run.initial[name] for name in at_t0}
    bases = subspace_bases(updates, 3, subspace)
    result = train_restricted(model, data, run.initial, k=3, t0=20, steps=60, subspace=subspace)
    after = weight_matrices(model)
    for name in after:
        moved = (after[name] - at_t0[name]).numpy()
        assert np.linalg.norm(moved) > 1e-4  # it did train
        left, right = (b.numpy() for b in bases[name])
        # independently of outside_span: the parts outside the column and row spaces vanish
        residual_left = moved - left @ (left.T @ moved)
        residual_right = moved - (moved @ right) @ right.T
        assert np.linalg.norm(residual_left) < 1e-12 * np.linalg.norm(moved)
        assert np.linalg.norm(residual_right) < 1e-12 * np.linalg.norm(moved)
        assert result["outside"][name] < 1e-12
    # k^2 numbers per layer (k capped at the smaller side: 3 fits every layer here) + biases
    layers = len(after)
    biases = sum(m.bias.numel() for m in [*model.layers, model.head])
    assert result["trainable"] == layers * 9 + biases


def test_learned_bases_are_the_updates_top_singular_vectors(data):
    run, model = _full_run(data)
    at_t0 = weight_matrices(model)
    updates = {name: at_t0[name] - run.initial[name] for name in at_t0}
    bases = subspace_bases(updates, 2)
    for name, delta in updates.items():
        u, _, vh = np.linalg.svd(delta.numpy())
        left, right = bases[name]
        # the same subspaces (signs may differ): the projectors agree
        assert np.allclose(left @ left.T, u[:, :2] @ u[:, :2].T, atol=1e-10)
        assert np.allclose(right @ right.T, vh[:2].T @ vh[:2], atol=1e-10)


def test_restriction_starts_at_the_weights_of_t0(data):
    _, model = _full_run(data)
    before = weight_matrices(model)
    x = data.x_test[:50]
    with torch.no_grad():
        logits = model(x)
    bases = subspace_bases({n: torch.randn(*w.shape, dtype=torch.float64) for n, w in
                            before.items()}, 2, "random")  # fmt: skip
    trainable = restrict_model(model, bases)
    with torch.no_grad():
        assert torch.equal(model(x), logits)  # C = 0: nothing changed yet
    assert all(p.requires_grad for p in trainable)
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert len(frozen) == len(before)  # the original weights, one per layer


def test_outside_span_of_known_matrices():
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64,
                                       generator=torch.Generator().manual_seed(0)))  # fmt: skip
    left, right = q[:, :2], q[:, 2:4]
    inside = left @ torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64) @ right.T
    assert outside_span(inside, left, right) < 1e-14
    orthogonal = q[:, 4:5] @ q[:, 5:6].T
    assert outside_span(orthogonal, left, right) == pytest.approx(1.0)
    assert outside_span(inside + orthogonal, left, right) == pytest.approx(
        1 / np.sqrt(1 + 30), rel=1e-12
    )  # ||inside||_F^2 = 1 + 4 + 9 + 16 = 30, the orthogonal part has norm 1
    assert outside_span(torch.zeros(6, 6), left, right) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"k": 0}, "k"), ({"t0": 0}, "t0"), ({"steps": 10}, "steps"),
     ({"subspace": "best"}, "subspace"), ({"optimizer": "lbfgs"}, "optimizer")],
)  # fmt: skip
def test_bad_restricted_settings_name_the_argument(data, kwargs, name):
    run, model = _full_run(data)
    options = {"k": 2, "t0": 20, "steps": 60} | kwargs
    with pytest.raises(ValueError, match=name):
        train_restricted(model, data, run.initial, **options)


def test_sweep_reports_the_mean_and_sd_of_its_seeds():
    seeds = (0, 1, 2, 3, 4)
    result = sweep_setting(seeds, k=3, **SMALL)
    runs = [trained_run(seed, **SMALL) for seed in seeds]
    accuracies = [run.test_accuracy for run in runs]
    assert result["accuracy"][0] == pytest.approx(np.mean(accuracies), rel=1e-12)
    assert result["accuracy"][1] == pytest.approx(np.std(accuracies, ddof=1), rel=1e-12)
    for name in runs[0].layer_names:
        ranks = [describe_run(run, k=3)[name]["stable_rank"] for run in runs]
        assert result["layers"][name]["stable_rank"][0] == pytest.approx(np.mean(ranks))
        assert result["layers"][name]["stable_rank"][1] == pytest.approx(np.std(ranks, ddof=1))
    again = sweep_setting(seeds, k=3, **SMALL)
    assert again["layers"] == result["layers"]
    both = update_sweep([SMALL, {**SMALL, "optimizer": "sgd", "lr": 0.1}], seeds, k=3)
    assert both[0]["layers"] == result["layers"] and both[1]["setting"]["optimizer"] == "sgd"


def test_describe_run_end_values(data):
    run = trained_run(0, **SMALL)
    described = describe_run(run, k=2)
    for layer in described.values():
        # the end's subspace against itself: angle 0, captured share = its top-k energy share
        assert layer["angles_left"][-1] == pytest.approx(0.0, abs=1e-6)
        assert layer["captured"][-1] == pytest.approx(layer["top_k_share"], rel=1e-10)
        assert all(c <= layer["top_k_share"] + 1e-12 for c in layer["captured"])
        assert layer["settle_left"] is not None and layer["settle_left"] <= run.steps[-1]


def test_gaussian_reference_against_its_known_size():
    """Stable rank of an m x n Gaussian matrix: about m n / (sqrt m + sqrt n)^2 for large sizes
    (the Frobenius norm squared is about m n, the top singular value about sqrt m + sqrt n)."""
    reference = gaussian_reference((400, 100), k=5)
    assert reference["stable_rank"][0] == pytest.approx(400 * 100 / (20 + 10) ** 2, rel=0.15)
    assert 0 < reference["top_k_share"][0] < 1


def test_restricted_comparison_over_seeds():
    result = restricted_comparison(k=2, t0=20, **SMALL)
    assert set(result["per_seed"]) == {"at t0", "full", "learned", "random", "learned - random"}
    paired = np.subtract(result["per_seed"]["learned"], result["per_seed"]["random"])
    assert result["accuracy"]["learned - random"][0] == pytest.approx(paired.mean())
    assert all(len(values) == 5 for values in result["per_seed"].values())
    assert result["outside"] < 1e-12
    assert result["trainable"]["restricted"] < result["trainable"]["full"]
    full = [trained_run(seed, **SMALL).test_accuracy for seed in range(5)]
    assert result["per_seed"]["full"] == full  # the same runs as without keep_state_at


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda: sweep_setting((0,)), "seeds"),
        (lambda: sweep_setting(widht=10), "setting"),
        (lambda: update_sweep([]), "settings"),
        (lambda: restricted_comparison(t0=800), "t0"),
        (lambda: gaussian_reference((0, 3)), "shape"),
    ],
)
def test_bad_sweep_input_names_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_side_by_side_timing_alternates_the_order_and_takes_the_median_ratio(data, monkeypatch):
    """A fake clock: a full step costs 1, a restricted step 3, except the restricted step of
    the first pair, which costs 30 (a hiccup of the machine). The median ratio is then 3, and
    the calls alternate full-first and restricted-first."""
    run, full = _full_run(data)
    restricted = build_small_model("mlp", width=16, depth=2, seed=0)
    restricted.load_state_dict(full.state_dict())
    at_t0 = weight_matrices(full)
    updates = {name: at_t0[name] - run.initial[name] for name in at_t0}
    trainable = restrict_model(restricted, subspace_bases(updates, 3))
    clock, order = [0.0], []

    def costing(model, name, cost):
        forward = model.forward

        def timed(x):
            order.append(name)
            clock[0] += 30.0 if (name == "restricted" and order.count(name) == 1) else cost
            return forward(x)

        monkeypatch.setattr(model, "forward", timed)

    costing(full, "full", 1.0)
    costing(restricted, "restricted", 3.0)
    monkeypatch.setattr(restricted_training.time, "perf_counter", lambda: clock[0])
    stream = BatchStream(data, 100, 0)
    before = {"full": weight_matrices(full), "restricted": weight_matrices(restricted)}
    timing = step_seconds_side_by_side(
        full, restricted, trainable, stream, optimizer="adam", lr=1e-2, pairs=5
    )
    assert timing["full"] == [1.0] * 5 and timing["restricted"] == [30.0] + [3.0] * 4
    assert timing["ratio"] == 3.0
    assert order[:4] == ["full", "restricted", "restricted", "full"]
    for name, model in (("full", full), ("restricted", restricted)):  # both took their steps
        after = weight_matrices(model)
        assert all(not torch.equal(after[key], before[name][key]) for key in after)


@pytest.mark.slow
def test_a_restricted_step_is_not_faster_than_a_full_one_at_these_sizes():
    # Lesson 12's statement, in its default regime, measured side by side over five seeds
    ratio = step_time_ratio()
    assert len(ratio["per_seed"]) == 5 and ratio["ratio"][0] > 0.9
