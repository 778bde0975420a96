"""Original and compressed deep linear networks: shapes, inits, counts, hand-written gradients."""

import itertools

import numpy as np
import pytest
import torch

from lowdim_course.networks import (
    DeepLinearNetwork,
    compressed_network,
    compressed_param_count,
    original_network,
    original_param_count,
    spectral_bases,
    spectral_init,
)
from lowdim_course.problems import make_problem
from lowdim_course.random_matrices import make_generator
from lowdim_course.threads import cpu_threads


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_original_network_shapes_counts_and_orthogonal_init(depth):
    network = original_network(12, depth, eps=0.05, seed=1)
    assert network.widths == [12] * (depth + 1)
    assert network.num_params == original_param_count(12, depth) == depth * 144
    for layer in network.layers:
        torch.testing.assert_close(layer.T @ layer, 0.05**2 * torch.eye(12, dtype=torch.float64))
    # different layers are different orthogonal matrices
    assert not torch.allclose(network.layers[0], network.layers[1])


def test_gaussian_init_has_the_orthogonal_init_scale_on_average():
    network = original_network(200, 3, eps=0.1, init="gaussian", seed=0)
    for layer in network.layers:
        frobenius = torch.linalg.matrix_norm(layer).item()
        assert frobenius == pytest.approx(0.1 * 200**0.5, rel=0.02)


@pytest.mark.parametrize("depth", [2, 3, 4])
def test_spectral_init_matches_the_surrogate_singular_vectors(depth):
    generator = make_generator(2)
    surrogate = torch.randn(16, 12, generator=generator, dtype=torch.float64)  # full rank
    r_hat, eps = 6, 0.01
    layers = spectral_init(surrogate, r_hat, depth, eps)
    assert len(layers) == depth
    assert layers[0].shape == (r_hat, 12) and layers[-1].shape == (16, r_hat)
    for middle in layers[1:-1]:
        torch.testing.assert_close(middle, eps * torch.eye(r_hat, dtype=torch.float64))
    # independent check with numpy's SVD: W_1 = eps V_hat^T, W_L = eps U_hat (up to a common sign
    # per singular pair, so compare the sign-free products U_hat U_hat^T and V_hat V_hat^T and the
    # end-to-end matrix eps^L U_hat V_hat^T, whose pairs carry matching signs)
    u, _, vt = (torch.from_numpy(x) for x in np.linalg.svd(surrogate.numpy()))
    first, last = layers[0] / eps, layers[-1] / eps
    torch.testing.assert_close(last @ last.T, u[:, :r_hat] @ u[:, :r_hat].T)
    torch.testing.assert_close(first.T @ first, vt[:r_hat].T @ vt[:r_hat])
    network = DeepLinearNetwork(layers)
    torch.testing.assert_close(network.end_to_end(), eps**depth * u[:, :r_hat] @ vt[:r_hat])


def test_spectral_init_beyond_the_rank_adds_orthonormal_seeded_directions():
    problem = make_problem("mf", 16, 3, seed=2)  # rank 3, r_hat = 6: three columns undefined
    surrogate = problem.surrogate()
    u_hat, vt_hat, rank = spectral_bases(surrogate, 6, completion_seed=4)
    assert rank == 3
    eye = torch.eye(6, dtype=torch.float64)
    torch.testing.assert_close(u_hat.T @ u_hat, eye)
    torch.testing.assert_close(vt_hat @ vt_hat.T, eye)
    # the first three pairs are the target's singular pairs (numpy, sign-free), so U_hat^T M* V_hat
    # is diag(s_1, s_2, s_3, 0, 0, 0): the extra directions see nothing of the target
    u, s, vt = (torch.from_numpy(x) for x in np.linalg.svd(surrogate.numpy()))
    torch.testing.assert_close(u_hat[:, :3] @ u_hat[:, :3].T, u[:, :3] @ u[:, :3].T)
    torch.testing.assert_close(vt_hat[:3].T @ vt_hat[:3], vt[:3].T @ vt[:3])
    expected = torch.zeros(6, 6, dtype=torch.float64)
    expected[:3, :3] = torch.diag(s[:3])
    torch.testing.assert_close(u_hat.T @ surrogate @ vt_hat.T, expected, atol=1e-12, rtol=0)
    # another seed draws other extra directions, the same top three
    other_u, other_vt, _ = spectral_bases(surrogate, 6, completion_seed=5)
    torch.testing.assert_close(other_u[:, :3], u_hat[:, :3])
    assert (other_u[:, 3:] - u_hat[:, 3:]).abs().max() > 0.1
    assert (other_vt[3:] - vt_hat[3:]).abs().max() > 0.1


def test_each_singular_pair_has_one_sign_convention():
    generator = make_generator(3)
    surrogate = torch.randn(9, 9, generator=generator, dtype=torch.float64)
    first = spectral_init(surrogate, 4, 3, 1.0)[0]
    flipped_input = spectral_init(
        -surrogate, 4, 3, 1.0
    )  # SVD of -S: the same vectors, one side flipped
    largest = first.abs().argmax(dim=1)
    assert (first.gather(1, largest[:, None]) > 0).all()
    torch.testing.assert_close(flipped_input[0], first)


def _perturbed(matrix, seed, relative=1e-12):
    noise = torch.randn(matrix.shape, generator=make_generator(seed), dtype=matrix.dtype)
    return matrix * (1 + relative * noise)


@pytest.mark.parametrize("threads", [1, 2])
def test_spectral_init_is_the_same_when_rounding_differs(threads):
    """A 1e-12 relative perturbation (the size of two processors' BLAS differences) and another
    thread count leave every layer unchanged to 1e-9, also beyond the surrogate's rank, where
    the SVD's own null-space basis changes completely."""
    problem = make_problem("mf", 40, 4, seed=1)
    surrogate = problem.surrogate()
    reference = spectral_init(surrogate, 10, 3, 0.5)
    with cpu_threads(threads):
        for seed in range(3):
            layers = spectral_init(_perturbed(surrogate, seed), 10, 3, 0.5)
            for want, got in zip(reference, layers, strict=True):
                torch.testing.assert_close(got, want, atol=1e-9, rtol=0)


@pytest.mark.parametrize(("d", "r_hat", "depth"), [(100, 20, 3), (50, 10, 2), (30, 7, 5)])
def test_compressed_parameter_count(d, r_hat, depth):
    network = compressed_network(torch.randn(d, d, dtype=torch.float64), r_hat, depth)
    assert network.num_params == compressed_param_count(d, r_hat, depth)
    assert network.num_params == 2 * d * r_hat + (depth - 2) * r_hat**2
    assert compressed_param_count(100, 20, 3) == 4_400 and original_param_count(100, 3) == 30_000


@pytest.mark.parametrize("widths", [[7, 7, 7, 7], [9, 4, 4, 4, 9], [6, 3, 6], [5, 8, 2, 6]])
def test_hand_written_gradients_match_autograd(widths):
    generator = make_generator(0)
    layers = [
        torch.randn(out, inp, generator=generator, dtype=torch.float64)
        for inp, out in itertools.pairwise(widths)
    ]
    loss_gradient = torch.randn(widths[-1], widths[0], generator=generator, dtype=torch.float64)
    network = DeepLinearNetwork([w.clone() for w in layers])
    hand = network.layer_gradients(network.prefix_products(), loss_gradient)

    leaves = [w.clone().requires_grad_(True) for w in layers]
    product = leaves[0]
    for leaf in leaves[1:]:
        product = leaf @ product
    (product * loss_gradient).sum().backward()  # d<G, W>/dW_l is the chain rule with G fixed
    for got, leaf in zip(hand, leaves, strict=True):
        torch.testing.assert_close(got, leaf.grad, rtol=1e-12, atol=1e-12)


def test_workspace_gives_the_same_products_and_gradients():
    network = original_network(10, 4, eps=0.3, seed=3)
    gradient = torch.randn(10, 10, dtype=torch.float64)
    workspace = network.workspace()
    fresh = network.layer_gradients(network.prefix_products(), gradient)
    reused = network.layer_gradients(network.prefix_products(out=workspace), gradient, workspace)
    for a, b in zip(fresh, reused, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("widths", [[6, 3, 6], [5, 8, 2, 4, 6]])
@pytest.mark.parametrize("weight_decay", [0.0, 0.3])
def test_fused_descent_step_equals_autograd_update(widths, weight_decay):
    generator = make_generator(1)
    layers = [
        torch.randn(out, inp, generator=generator, dtype=torch.float64)
        for inp, out in itertools.pairwise(widths)
    ]
    loss_gradient = torch.randn(widths[-1], widths[0], generator=generator, dtype=torch.float64)
    rates = [0.5 * (index + 1) for index in range(len(layers))]
    network = DeepLinearNetwork([w.clone() for w in layers])
    network.descend(
        network.prefix_products(out=network.workspace()),
        loss_gradient,
        rates,
        weight_decay,
        out=network.workspace(),
    )

    leaves = [w.clone().requires_grad_(True) for w in layers]
    product = leaves[0]
    for leaf in leaves[1:]:
        product = leaf @ product
    (product * loss_gradient).sum().backward()
    for after, leaf, rate in zip(network.layers, leaves, rates, strict=True):
        expected = leaf.detach() - rate * (leaf.grad + weight_decay * leaf.detach())
        torch.testing.assert_close(after, expected, rtol=1e-12, atol=1e-12)


def test_lower_products_are_the_prefix_products_but_the_last():
    network = original_network(9, 4, eps=0.5, seed=2)
    lower = network.lower_products(out=network.workspace())
    prefix = network.prefix_products()
    assert len(lower) == 3 and len(prefix) == 4
    for a, b in zip(lower, prefix, strict=False):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-14)


def test_every_layer_is_stored_row_major_whatever_it_was_given():
    surrogate = torch.randn(30, 30, generator=make_generator(3), dtype=torch.float64)
    network = compressed_network(surrogate, 6, depth=3)
    assert network.layers[-1].shape == (30, 6)
    assert all(w.is_contiguous() for w in network.layers)
    given = [w.T.contiguous().T for w in network.layers]  # column-major copies
    assert not given[-1].is_contiguous()
    rebuilt = DeepLinearNetwork(given, "compressed")
    assert all(w.is_contiguous() for w in rebuilt.layers)
    torch.testing.assert_close(rebuilt.end_to_end(), network.end_to_end(), rtol=0, atol=0)
    assert all(w.is_contiguous() for w in network.clone().layers)


def test_end_to_end_multiplies_in_layer_order():
    w1 = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    w2 = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    torch.testing.assert_close(DeepLinearNetwork([w1, w2]).end_to_end(), w2 @ w1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: original_network(10, 1), "depth must be an integer >= 2"),
        (lambda: original_network(10, 3, eps=0.0), "eps must be > 0"),
        (lambda: original_network(10, 3, eps=-1.0), "eps must be > 0"),
        (lambda: original_network(10, 3, init="uniform"), "init must be one of"),
        (lambda: original_network(10, 3, device="gpu"), "device must be"),
        (lambda: spectral_init(torch.eye(6), 7, 3, 0.1), r"r_hat must be an integer in \[1, 6\]"),
        (lambda: spectral_init(torch.eye(6), 0, 3, 0.1), r"r_hat must be an integer in \[1, 6\]"),
        (lambda: spectral_init(torch.eye(6), 2, 1, 0.1), "depth must be an integer >= 2"),
        (lambda: spectral_init(torch.ones(3), 1, 3, 0.1), "surrogate must be a 2-D matrix"),
        (lambda: compressed_network(torch.eye(6), 2, rank=3), "r_hat must be >= r=3"),
        (lambda: DeepLinearNetwork([torch.eye(3)]), "depth must be >= 2"),
        (lambda: DeepLinearNetwork([torch.eye(3), torch.eye(4)]), "layers do not chain"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("kind", ["original", "compressed"])
def test_steps_with_one_workspace_equal_steps_without(kind):
    """The workspace's transposed views follow the layers as they are updated in place."""
    generator = make_generator(4)
    target = torch.randn(12, 12, generator=generator, dtype=torch.float64)
    if kind == "original":
        network = original_network(12, 3, eps=0.3, seed=5)
    else:
        network = compressed_network(target, 4, depth=4)
    twin = network.clone()
    workspace = network.workspace()
    rates = [0.05, 0.02, 0.02, 0.05][: network.depth]
    for _ in range(20):
        lower = network.lower_products(out=workspace)
        gradient = torch.mm(network.layers[-1], lower[-1], out=workspace.prefix[-1]).sub_(target)
        network.descend(lower, gradient, rates, 0.1, out=workspace)
        twin_lower = twin.lower_products()
        twin.descend(twin_lower, twin.layers[-1] @ twin_lower[-1] - target, rates, 0.1)
    for a, b in zip(network.layers, twin.layers, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
