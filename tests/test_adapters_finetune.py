"""Lesson 13's pretrained network, its related task and fine-tuning with each kind of update."""

import numpy as np
import pytest
import torch

from lowdim_course.adapters.finetune import build_adapters, fine_tune, layer_gradients
from lowdim_course.adapters.pretrained import (
    PRETRAINING,
    WEIGHTS_FILE,
    load_pretrained,
    main,
    pretrain,
    save_pretrained,
)
from lowdim_course.adapters.tasks import DRAW_POOL, few_shot, related_task, validation_set
from lowdim_course.divergence import DivergenceError
from lowdim_course.nonlinear.mnist1d import load_mnist1d_data


@pytest.fixture(scope="module")
def model():
    return load_pretrained()


@pytest.fixture(scope="module")
def task():
    return related_task()


def test_the_shipped_network_has_its_shapes_and_classifies_its_own_test_set(model):
    assert model.shapes == [(128, 40), (128, 128), (10, 128)]
    data = load_mnist1d_data(PRETRAINING["data_seed"], num_samples=PRETRAINING["num_samples"])
    # far above chance (10%) on signals it never saw; MNIST-1D MLPs reach about 70-80%
    assert model.accuracy(data.x_test, data.y_test) > 70


def test_the_forward_pass_is_the_mlp_written_out(model):
    x = related_task().x_test[:7]
    hidden = torch.relu(x @ model.weights[0].T + model.biases[0])
    hidden = torch.relu(hidden @ model.weights[1].T + model.biases[1])
    expected = hidden @ model.weights[2].T + model.biases[2]
    assert torch.allclose(model.forward(x), expected, atol=1e-12)
    delta = [torch.ones_like(w) * 0.01 for w in model.weights]
    moved = torch.relu(x @ (model.weights[0] + delta[0]).T + model.biases[0])
    moved = torch.relu(moved @ (model.weights[1] + delta[1]).T + model.biases[1])
    moved = moved @ (model.weights[2] + delta[2]).T + model.biases[2]
    assert torch.allclose(model.forward(x, delta), moved, atol=1e-12)


def test_saving_and_loading_keep_every_number(model, tmp_path):
    path = save_pretrained(model, tmp_path / "w.npz")
    again = load_pretrained(path)
    for a, b in zip(model.weights + model.biases, again.weights + again.biases, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(FileNotFoundError, match=r"python -m lowdim_course\.adapters\.pretrained"):
        load_pretrained(tmp_path / "missing.npz")


@pytest.mark.slow
def test_the_script_regenerates_the_shipped_weights(tmp_path, capsys):
    """The shipped file is what the script makes (to rounding: a 1e-12 perturbation of every
    product moved the pretrained weights by 1e-12 relative, so 1e-8 leaves room for any CPU)."""
    assert main(["--out", str(tmp_path / "again.npz")]) == 0
    assert "test accuracy" in capsys.readouterr().out
    shipped, again = load_pretrained(WEIGHTS_FILE), load_pretrained(tmp_path / "again.npz")
    for a, b in zip(shipped.weights + shipped.biases, again.weights + again.biases, strict=True):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-8, atol=1e-10)


def test_pretraining_is_seeded():
    short = {"epochs": 1, "num_samples": 1000}
    first, second = pretrain(short), pretrain(short)
    other = pretrain({**short, "seed": 1})
    assert all(torch.equal(a, b) for a, b in zip(first.weights, second.weights, strict=True))
    assert not torch.equal(first.weights[0], other.weights[0])


def test_the_script_rejects_a_folder_that_does_not_exist(tmp_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["--out", str(tmp_path / "nowhere" / "w.npz")])
    assert stopped.value.code == 2
    assert "--out: the folder" in capsys.readouterr().err


def test_few_shot_sets_are_balanced_nested_and_seeded(task):
    x2, _ = few_shot(task, 2, seed=3)
    x5, y5 = few_shot(task, 5, seed=3)
    assert torch.bincount(y5, minlength=10).tolist() == [5] * 10
    rows5 = {tuple(row.tolist()) for row in x5}
    assert all(tuple(row.tolist()) in rows5 for row in x2)  # the 2 are among the 5
    x5_other, _ = few_shot(task, 5, seed=4)
    assert not torch.equal(x5, x5_other)
    with pytest.raises(ValueError, match="per_class must be an integer in"):
        few_shot(task, 0, seed=0)


def test_the_related_task_is_harder_for_the_pretrained_network(model, task):
    own = load_mnist1d_data(PRETRAINING["data_seed"], num_samples=PRETRAINING["num_samples"])
    assert model.accuracy(task.x_test, task.y_test) < model.accuracy(own.x_test, own.y_test) - 5


def test_the_layer_gradients_are_the_loss_gradient_of_the_weights(model, task):
    """dl/dDelta at Delta = 0 is dl/dA: checked against autograd on the weights themselves."""
    x, y = few_shot(task, 3, seed=0)
    weights = [w.clone().requires_grad_(True) for w in model.weights]
    logits = type(model)(weights, model.biases).forward(x)
    expected = torch.autograd.grad(torch.nn.functional.cross_entropy(logits, y), weights)
    for got, want in zip(layer_gradients(model, x, y), expected, strict=True):
        assert torch.allclose(got, want, atol=1e-14)


@pytest.mark.parametrize("kind", ["full", "lora", "deep_compressed"])
def test_fine_tuning_lowers_the_few_shot_loss_and_leaves_the_model_frozen(model, task, kind):
    x, y = few_shot(task, 5, seed=1)
    before = [w.clone() for w in model.weights]
    result = fine_tune(model, x, y, kind, rank=4, lr=1e-3, steps=100, seed=2, test=(x, y))
    # (the deep factors start at eps = 1e-3 and leave the saddle at zero slowly)
    assert result.train_loss[-1] < 0.95 * result.train_loss[0]
    assert all(torch.equal(a, b) for a, b in zip(before, model.weights, strict=True))
    assert [tuple(d.shape) for d in result.deltas] == model.shapes
    assert result.test_accuracy > model.accuracy(x, y)  # on its own examples, at least
    expected = {"full": sum(a * b for a, b in model.shapes), "lora": 4 * (168 + 256 + 138)}
    expected["deep_compressed"] = 3 * 3 * 16
    assert result.trainable_parameters == expected[kind]


def test_the_ranks_of_the_updates_are_at_most_the_adapters(model, task):
    x, y = few_shot(task, 5, seed=1)
    for kind in ("lora", "deep_compressed"):
        result = fine_tune(model, x, y, kind, rank=4, lr=1e-3, steps=30, seed=0)
        assert all(rank <= 4 for rank in result.numerical_ranks())
        assert all(1.0 <= s <= 4.0 + 1e-9 for s in result.stable_ranks())
    full = fine_tune(model, x, y, "full", lr=1e-3, steps=30)
    assert max(full.numerical_ranks()) > 4


def test_the_compressed_adapter_starts_from_each_layers_gradient(model, task):
    x, y = few_shot(task, 5, seed=1)
    adapters = build_adapters(model, "deep_compressed", 4, x, y, seed=0)
    for adapter, gradient in zip(adapters, layer_gradients(model, x, y), strict=True):
        _, right = adapter.fixed
        _, _, vh = torch.linalg.svd(gradient)
        top = vh[:2].T  # the gradient's top-2 right singular vectors lie in R's span
        assert torch.linalg.matrix_norm(top - right @ (right.T @ top)) < 1e-10


def test_a_learning_rate_too_large_stops_with_advice(model, task):
    x, y = few_shot(task, 2, seed=0)
    with pytest.raises(DivergenceError, match="lower the learning rate"):
        fine_tune(model, x, y, "full", lr=1e3, steps=50)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"kind": "adapter"}, "kind must be one of"),
        ({"kind": "deep_compressed", "rank": 3}, "rank must be even"),
        ({"kind": "lora", "rank": 0}, "rank must be an integer"),
        ({"kind": "lora", "lr": -1.0}, "lr must be"),
        ({"kind": "lora", "steps": 0}, "steps must be an integer"),
    ],
)
def test_bad_fine_tuning_arguments_are_named(model, task, kwargs, words):
    x, y = few_shot(task, 1, seed=0)
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError) as raised:
        fine_tune(model, x, y, kind, **kwargs)
    assert words in str(raised.value)


def test_a_checkpoint_is_the_shorter_run(model, task):
    """The accuracy read at step 40 of a 80-step run is the 40-step run's (same seed, same
    examples): the checkpoints neither skip nor repeat a step."""
    x, y = few_shot(task, 3, seed=2)
    test = (task.x_test, task.y_test)
    long = fine_tune(
        model,
        x,
        y,
        "lora",
        rank=2,
        lr=1e-3,
        steps=80,
        seed=1,
        test=test,
        validation=validation_set(task),
        checkpoints=(40,),
    )
    short = fine_tune(model, x, y, "lora", rank=2, lr=1e-3, steps=40, seed=1, test=test)
    assert long.accuracies["test"][40] == short.test_accuracy
    assert set(long.accuracies["validation"]) == {40, 80}
    assert long.test_accuracy == long.accuracies["test"][80]
    with pytest.raises(ValueError, match="checkpoint must be an integer in"):
        fine_tune(model, x, y, "lora", rank=2, steps=10, checkpoints=(20,))


def test_few_shot_examples_never_come_from_the_validation_set(task):
    x_val, _ = validation_set(task)
    validation_rows = {tuple(row.tolist()) for row in x_val}
    for seed in range(3):
        x, _ = few_shot(task, 20, seed)
        assert not any(tuple(row.tolist()) in validation_rows for row in x)
    assert x_val.shape[0] == task.x_train.shape[0] - DRAW_POOL == 1000


def test_a_start_function_gives_the_run_the_core_gives(model, task):
    """The capstone's route (the start built by a function from the factors, eps and the
    gradient) is the core's run, number for number, when the function is the reference."""
    from lowdim_course.exercises.lesson13 import reference_compressed_start

    x, y = few_shot(task, 3, seed=4)
    core = fine_tune(model, x, y, "deep_compressed", rank=4, lr=1e-3, steps=20, seed=1)
    routed = fine_tune(
        model, x, y, "deep_compressed", rank=4, lr=1e-3, steps=20, seed=1,
        start=reference_compressed_start,
    )  # fmt: skip
    for a, b in zip(core.deltas, routed.deltas, strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-18)
