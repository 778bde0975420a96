"""MNIST-1D is generated, never downloaded, and leaves the caller's random draws alone."""

import random
import socket
import sys

import numpy as np
import pytest
import torch

from lowdim_course.nonlinear import ClassificationData, build_model, load_mnist1d_data
from lowdim_course.nonlinear import mnist1d as mnist1d_module


@pytest.fixture(scope="module")
def data():
    return load_mnist1d_data()


def test_the_standard_set_has_the_papers_shape_and_balanced_classes(data):
    assert isinstance(data, ClassificationData) and data.name == "mnist1d"
    assert data.x_train.shape == (4000, 40) and data.x_test.shape == (1000, 40)
    assert data.x_train.dtype == torch.float64 and data.y_train.dtype == torch.int64
    labels = torch.cat([data.y_train, data.y_test])
    # 500 signals of each of the ten templates, shuffled across the split
    assert torch.bincount(labels, minlength=10).tolist() == [500] * 10
    per_class_in_test = torch.bincount(data.y_test, minlength=10)
    assert 60 < per_class_in_test.min() and per_class_in_test.max() < 140  # about 100 each


def test_the_features_are_standardized_over_the_whole_set(data):
    signals = torch.cat([data.x_train, data.x_test])
    assert abs(signals.mean().item()) < 1e-12
    assert signals.std(correction=0).item() == pytest.approx(1.0, abs=1e-12)


def test_the_same_seed_gives_the_same_signals_and_another_seed_others():
    mnist1d_module._generated.cache_clear()  # generate afresh, not from this process's cache
    again = load_mnist1d_data()
    first = load_mnist1d_data()
    other = load_mnist1d_data(data_seed=7)
    assert torch.equal(again.x_train, first.x_train) and torch.equal(again.y_test, first.y_test)
    assert not torch.allclose(other.x_train, first.x_train)


def test_loading_leaves_numpys_and_pythons_global_draws_as_they_were():
    mnist1d_module._generated.cache_clear()
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    expected = np.random.rand(3), random.random()  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    random.seed(123)
    load_mnist1d_data(data_seed=3)
    assert np.array_equal(np.random.rand(3), expected[0])  # noqa: NPY002
    assert random.random() == expected[1]


def test_nothing_is_downloaded(monkeypatch):
    mnist1d_module._generated.cache_clear()

    def refuse(*args, **kwargs):
        raise AssertionError("MNIST-1D tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    assert load_mnist1d_data(data_seed=5).x_train.shape == (4000, 40)


def test_device_and_dtype_are_applied(data):
    single = load_mnist1d_data(dtype=torch.float32)
    assert single.x_train.dtype == torch.float32 and single.y_train.dtype == torch.int64
    assert torch.allclose(single.x_train.double(), data.x_train, atol=1e-6)


def test_a_model_builds_on_it(data):
    model = build_model("cdln", data, width=32, r_hat=4, depth=3)
    assert model(data.x_test[:5]).shape == (5, 10)


@pytest.mark.parametrize("bad", [-1, 2**32, 1.5, "42", True])
def test_a_bad_data_seed_is_named(bad):
    with pytest.raises(ValueError, match="data_seed must be an integer"):
        load_mnist1d_data(data_seed=bad)


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    mnist1d_module._generated.cache_clear()
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    with pytest.raises(ImportError, match=r"pip install 'mnist1d>=0.0.2'"):
        load_mnist1d_data(data_seed=11)


def test_a_larger_set_and_a_related_task_are_made_from_the_same_templates(data):
    larger = load_mnist1d_data(num_samples=1000, data_seed=3)
    assert larger.x_train.shape == (800, 40) and larger.x_test.shape == (200, 40)
    sheared = load_mnist1d_data(data_seed=3, num_samples=1000, transforms={"shear_scale": 2.0})
    # the same seed draws the same labels and templates; only the shear differs
    assert torch.equal(sheared.y_train, larger.y_train)
    assert not torch.allclose(sheared.x_train, larger.x_train)
    unchanged = load_mnist1d_data(data_seed=3, num_samples=1000, transforms={"shear_scale": 0.75})
    assert torch.equal(unchanged.x_train, larger.x_train)  # 0.75 is the package's default


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"num_samples": 99}, "num_samples must be an integer in [100, 100000]"),
        ({"num_samples": 1005}, "num_samples must be a multiple of 10"),
        ({"transforms": {"shear": 2.0}}, "transforms may change"),
        ({"transforms": {"shear_scale": 9.0}}, "transforms['shear_scale'] must be"),
        ({"transforms": {"max_translation": 2.5}}, "transforms['max_translation'] must be an int"),
        ({"transforms": [("shear_scale", 2.0)]}, "transforms must be a dict"),
    ],
)
def test_bad_sizes_and_transforms_are_named(kwargs, words):
    with pytest.raises(ValueError) as raised:
        load_mnist1d_data(**kwargs)
    assert words in str(raised.value)
