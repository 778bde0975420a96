"""The four updates of a frozen layer; the compressed deep adapter against the full-width one."""

import pytest
import torch

from lowdim_course.adapters import (
    Adapter,
    compressed_deep_adapter,
    compressed_deep_start,
    deep_adapter,
    descend_on_target,
    full_adapter,
    lora_adapter,
    orthonormal_matrix,
)
from lowdim_course.random_matrices import gaussian, make_generator


def _low_rank_target(rows, cols, rank, seed):
    """A rank-``rank`` matrix of spectral norm 1."""
    generator = make_generator(seed)
    target = gaussian(rows, rank, generator) @ gaussian(rank, cols, generator)
    return target / torch.linalg.matrix_norm(target, 2)


@pytest.mark.parametrize(("size", "seed"), [(12, 2), (20, 3)])
def test_the_compressed_adapter_follows_the_full_width_one_step_by_step(size, seed):
    """Yaras et al.'s invariance for a square layer: the full-width factorization changes only
    inside the subspace the compressed one trains, so the two updates differ only outside it
    (by the rest of the full-width start, of size eps^3) at every step, while the update itself
    travels to the target."""
    target = _low_rank_target(size, size, 2, seed=1)
    deep = deep_adapter((size, size), eps=0.4, seed=seed)
    compressed = compressed_deep_adapter(deep, -target, rank=4, eps=0.4)  # G at Delta = 0
    left, right = compressed.fixed
    full_path = descend_on_target(deep, target, lr=0.2, steps=300)
    compressed_path = descend_on_target(compressed, target, lr=0.2, steps=300)
    start_error = torch.linalg.matrix_norm(target)
    assert torch.linalg.matrix_norm(compressed_path[-1] - target) < 0.02 * start_error
    for full, small in zip(full_path, compressed_path, strict=True):
        difference = full - small
        assert torch.linalg.matrix_norm(difference @ right) < 1e-12 * start_error
        assert torch.linalg.matrix_norm(left.T @ difference) < 1e-12 * start_error
        assert torch.linalg.matrix_norm(difference) <= 0.4**3 * size**0.5 * (1 + 1e-9)


def test_a_subspace_not_built_from_the_gradient_does_not_follow():
    """The check above can fail: a random pair (L, R) of the same width drifts away."""
    rows = cols = 12
    target = _low_rank_target(rows, cols, 2, seed=1)
    deep = deep_adapter((rows, cols), eps=0.4, seed=2)
    compressed = compressed_deep_adapter(deep, -target, rank=4, eps=0.4)
    generator = make_generator(9)
    right = orthonormal_matrix(cols, 4, generator)
    left = deep.delta().detach() / 0.4**3 @ right
    compressed.fixed = [left, right]
    full_path = descend_on_target(deep, target, lr=0.2, steps=200)
    compressed_path = descend_on_target(compressed, target, lr=0.2, steps=200)
    difference = full_path[-1] - compressed_path[-1]
    assert torch.linalg.matrix_norm(difference @ right) > 0.1 * torch.linalg.matrix_norm(target)


def test_the_compressed_start_is_the_full_width_start_restricted_to_its_subspace():
    deep = deep_adapter((10, 16), eps=1e-3, seed=5)
    gradient = gaussian(10, 16, make_generator(6))
    _, right = compressed_deep_start(deep, gradient, rank=6)
    compressed = compressed_deep_adapter(deep, gradient, rank=6, eps=1e-3)
    start = deep.delta().detach()
    assert torch.allclose(right.T @ right, torch.eye(6, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(compressed.delta().detach(), start @ right @ right.T, atol=1e-20)
    # R holds the gradient's top-3 right singular vectors
    _, _, vh = torch.linalg.svd(gradient)
    top = vh[:3].T
    assert torch.linalg.matrix_norm(top - right @ (right.T @ top)) < 1e-12


def test_lora_starts_at_zero_and_the_full_adapter_is_the_update():
    lora = lora_adapter((8, 20), rank=3, seed=1)
    assert lora.delta().abs().max() == 0 and lora.trainable_parameters == 3 * 20 + 8 * 3
    a, _ = lora.factors
    assert a.std().item() == pytest.approx(1 / 20**0.5, rel=0.3)  # N(0, 1/n)
    full = full_adapter((8, 20))
    assert full.delta() is full.factors[0] and full.trainable_parameters == 160


def test_the_deep_factors_are_scaled_orthonormal_matrices():
    deep = deep_adapter((6, 11), eps=0.01, seed=0)
    assert [tuple(f.shape) for f in deep.factors] == [(11, 11), (11, 11), (6, 11)]
    for factor in deep.factors:
        singular = torch.linalg.svdvals(factor.detach())
        assert torch.allclose(singular, torch.full_like(singular, 0.01), rtol=1e-12)
    # the compressed adapter trains 3 r^2 numbers
    compressed = compressed_deep_adapter(deep, gaussian(6, 11, make_generator(1)), rank=4)
    assert compressed.trainable_parameters == 3 * 16
    assert isinstance(compressed, Adapter) and compressed.kind == "deep_compressed"


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: lora_adapter((5, 5), rank=6), "rank must be an integer in [1, 5]"),
        (lambda: lora_adapter((5,), rank=1), "shape must be (rows, cols)"),
        (lambda: deep_adapter((5, 5), eps=0.0), "eps must be"),
        (
            lambda: compressed_deep_adapter(
                deep_adapter((6, 6)), torch.zeros(6, 6, dtype=torch.float64), rank=3
            ),
            "rank must be even",
        ),
        (
            lambda: compressed_deep_adapter(deep_adapter((6, 6)), torch.zeros(5, 6), rank=2),
            "gradient must be a 6 x 6 tensor",
        ),
        (
            lambda: compressed_deep_start(full_adapter((6, 6)), torch.zeros(6, 6), rank=2),
            "deep must be a full-width deep adapter",
        ),
    ],
)
def test_bad_arguments_are_named(call, words):
    with pytest.raises(ValueError) as raised:
        call()
    assert words in str(raised.value)
