"""Intrinsic dimension: train only ``z`` in ``theta = theta0 + P z``.

Li, Farkhoor, Liu, Yosinski. *Measuring the Intrinsic Dimension of Objective Landscapes.*
ICLR 2018. Sec. 2: a network with ``D`` parameters is trained in a random ``d``-dimensional
affine subspace ``theta = theta0 + P z`` (``theta0`` the usual random init, frozen; ``P`` a fixed
random ``D x d`` matrix with unit-norm columns; ``z`` starts at 0 and is the only thing trained).
By the chain rule the gradient in the subspace is ``grad_z L = P^T grad_theta L``
(:func:`subspace_gradient`). ``d_int90`` is the smallest ``d`` whose subspace-trained model
reaches 90% of the performance of the directly trained baseline (:func:`d_int90`).

Projections (:func:`make_projection`):

* ``'dense'``: Gaussian entries, each column scaled to unit norm; ``D d`` numbers, so it stops
  scaling at a few million parameters;
* ``'sparse'``: the paper's scalable choice (Sec. 2, "sparse random projections" after Li,
  Hastie, Church 2006): each column has ``k = ceil(sqrt(D))`` nonzeros ``±1/sqrt(k)`` at random
  rows, so ``sqrt(D) d`` numbers, stored as a torch sparse matrix. Columns are unit-norm exactly
  (rows drawn twice in one column are merged, then the column is renormalized).

The toy problem of Sec. 2 (:func:`toy_problem`) has ``D = 1000`` parameters in 10 groups of 100
whose sums must equal 1, 2, ..., 10: its intrinsic dimension is exactly 10. The MLP experiment
(:func:`teacher_task`, :func:`train_mlp`) classifies data labelled by a random teacher network.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..random_matrices import make_generator
from ..threads import small_work
from ..validation import check_choice, check_float, check_int, resolve_device

PROJECTIONS = ("dense", "sparse")


# ---------------------------------------------------------------------------------------------
# Projections and the subspace gradient
# ---------------------------------------------------------------------------------------------


def dense_projection(
    D: int, d: int, seed: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """A ``D x d`` Gaussian matrix with every column scaled to unit norm (Li et al., Sec. 2)."""
    D = check_int("D", D, low=1)
    d = check_int("d", d, low=1)
    generator = make_generator(seed)
    matrix = torch.randn(D, d, generator=generator, dtype=torch.float64)
    matrix = matrix / torch.linalg.vector_norm(matrix, dim=0, keepdim=True)
    return matrix.to(resolve_device(device), dtype)


def sparse_projection(
    D: int,
    d: int,
    seed: int = 0,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
    nonzeros: int | None = None,
) -> torch.Tensor:
    """A sparse ``D x d`` matrix, ``k = ceil(sqrt(D))`` entries ``±1/sqrt(k)`` per column.

    Very sparse random projections (Li, Hastie, Church 2006), the scalable projection of Li et
    al. 2018, Sec. 2. Memory ``k d`` instead of ``D d``. Returned as a coalesced COO tensor.
    """
    D = check_int("D", D, low=1)
    d = check_int("d", d, low=1)
    k = (
        math.ceil(math.sqrt(D))
        if nonzeros is None
        else check_int("nonzeros", nonzeros, low=1, high=D)
    )
    generator = make_generator(seed)
    rows = torch.randint(0, D, (d, k), generator=generator)
    signs = torch.randint(0, 2, (d, k), generator=generator, dtype=torch.float64) * 2 - 1
    cols = torch.arange(d).repeat_interleave(k)
    matrix = torch.sparse_coo_tensor(
        torch.stack([rows.reshape(-1), cols]), signs.reshape(-1), (D, d), check_invariants=False
    ).coalesce()
    index, values = matrix.indices(), matrix.values()
    norms = torch.zeros(d, dtype=torch.float64).index_add_(0, index[1], values**2).sqrt()
    values = values / norms[index[1]]
    return (
        torch.sparse_coo_tensor(index, values, (D, d), check_invariants=False)
        .coalesce()
        .to(resolve_device(device), dtype)
    )


def make_projection(
    kind: str,
    D: int,
    d: int,
    seed: int = 0,
    device: str = "cpu",
    dtype: torch.dtype = torch.float64,
) -> torch.Tensor:
    """``'dense'`` (:func:`dense_projection`) or ``'sparse'`` (:func:`sparse_projection`)."""
    check_choice("kind", kind, PROJECTIONS)
    maker = dense_projection if kind == "dense" else sparse_projection
    return maker(D, d, seed=seed, device=device, dtype=dtype)


def project(P: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """``P z`` for a dense or sparse ``P`` (differentiable in ``z``)."""
    if P.is_sparse:
        return torch.sparse.mm(P, z[:, None])[:, 0]
    return P @ z


def subspace_gradient(P: torch.Tensor, grad_theta: torch.Tensor) -> torch.Tensor:
    """``grad_z L(theta0 + P z) = P^T grad_theta L``: the chain rule (Li et al., Sec. 2)."""
    if P.ndim != 2 or grad_theta.ndim != 1 or grad_theta.shape[0] != P.shape[0]:
        raise ValueError(
            f"grad_theta must be a vector of length D = {P.shape[0] if P.ndim == 2 else '?'} "
            f"matching P of shape {tuple(P.shape)}, got shape {tuple(grad_theta.shape)}"
        )
    if P.is_sparse:
        return torch.sparse.mm(P.t(), grad_theta[:, None])[:, 0]
    return P.T @ grad_theta


# ---------------------------------------------------------------------------------------------
# Training in the subspace
# ---------------------------------------------------------------------------------------------


def train_in_subspace(
    loss: Callable[[torch.Tensor], torch.Tensor],
    theta0: torch.Tensor,
    P: torch.Tensor | None,
    steps: int,
    lr: float,
    optimizer: str = "adam",
) -> tuple[torch.Tensor, list[float]]:
    """Minimize ``loss(theta0 + P z)`` over ``z`` (from ``z = 0``); ``P=None`` trains theta.

    Full-batch Adam (or plain gradient descent, ``optimizer='gd'``) for ``steps`` steps.
    Returns the final ``theta`` (detached) and the loss before every step and after the last.
    """
    steps = check_int("steps", steps, low=0)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    check_choice("optimizer", optimizer, ("adam", "gd"))
    theta0 = theta0.detach()
    size = theta0.shape[0] if P is None else P.shape[1]
    z = torch.zeros(size, dtype=theta0.dtype, device=theta0.device, requires_grad=True)

    def theta_of(z):
        return theta0 + (z if P is None else project(P, z))

    opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.SGD)([z], lr=lr)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        value = loss(theta_of(z))
        value.backward()
        losses.append(float(value.detach()))
        opt.step()
    with torch.no_grad():
        theta = theta_of(z)
        losses.append(float(loss(theta)))
    return theta.detach(), losses


def loss_and_gradient(
    loss: Callable[[torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor], tuple[float, torch.Tensor]]:
    """``theta -> (L(theta), grad_theta L(theta))`` by autograd: the oracle a subspace loop asks.

    A training loop in ``theta = theta0 + P z`` needs from the model only the loss and its
    gradient in ``theta`` (length D); it carries the gradient into the subspace itself,
    ``grad_z = P^T grad_theta`` (Li et al. 2018, Sec. 2). The returned function keeps ``loss``
    as its attribute ``.loss``, so :func:`train_in_subspace` can run on the same objective.
    """
    if not callable(loss):
        raise ValueError(f"loss must be a function of theta returning a scalar, got {loss!r}")

    def loss_and_grad(theta: torch.Tensor) -> tuple[float, torch.Tensor]:
        theta = torch.as_tensor(theta).detach().requires_grad_(True)
        value = loss(theta)
        (grad,) = torch.autograd.grad(value, theta)
        return float(value.detach()), grad

    loss_and_grad.loss = loss
    return loss_and_grad


def d_int90(
    evaluate: Callable[[int], float], baseline: float, dims: Sequence[int], fraction: float = 0.9
) -> tuple[int | None, dict[int, float]]:
    """The smallest ``d`` in ``dims`` with ``evaluate(d) >= fraction * baseline`` (Sec. 2).

    ``dims`` are tried in increasing order and the search stops at the first success, so no
    larger ``d`` is trained. Returns ``(d_int, {d: performance})``; ``d_int`` is None when no
    ``d`` reaches the threshold.
    """
    fraction = check_float("fraction", fraction, low=0.0, high=1.0, low_open=True)
    baseline = check_float("baseline", baseline)
    dims = sorted({check_int("d", d, low=1) for d in dims})
    if not dims:
        raise ValueError("dims must hold at least one subspace dimension")
    seen = {}
    for d in dims:
        seen[d] = float(evaluate(d))
        if seen[d] >= fraction * baseline:
            return d, seen
    return None, seen


# ---------------------------------------------------------------------------------------------
# The toy problem of Sec. 2
# ---------------------------------------------------------------------------------------------


def toy_problem(groups: int = 10, group_size: int = 100):
    """``(A, target)``: ``A`` sums each group of ``group_size`` entries, ``target = 1..groups``.

    The loss is ``||A theta - target||^2``: D = groups x group_size parameters, and a zero loss
    needs ``groups`` independent directions, so the intrinsic dimension is exactly ``groups``.
    """
    groups = check_int("groups", groups, low=1)
    group_size = check_int("group_size", group_size, low=1)
    A = torch.kron(
        torch.eye(groups, dtype=torch.float64), torch.ones(1, group_size, dtype=torch.float64)
    )
    return A, torch.arange(1, groups + 1, dtype=torch.float64)


def toy_min_loss(
    d: int, seed: int = 0, kind: str = "dense", groups: int = 10, group_size: int = 100
) -> float:
    """The smallest toy loss reachable in a random d-dim subspace through ``theta0 = 0``.

    The loss is quadratic in ``z``: ``||A P z - target||^2``, so its minimum is a least-squares
    residual, computed exactly (what subspace training converges to). Zero for ``d >= groups``
    (``A P`` then has full row rank), positive below.
    """
    A, target = toy_problem(groups, group_size)
    P = make_projection(kind, A.shape[1], check_int("d", d, low=1), seed=seed)
    AP = (P.t() @ A.T).T if P.is_sparse else A @ P
    z = torch.linalg.lstsq(AP, target[:, None], driver="gelsd").solution[:, 0]
    return float(((AP @ z - target) ** 2).sum())


# ---------------------------------------------------------------------------------------------
# An MLP on data labelled by a random teacher
# ---------------------------------------------------------------------------------------------


def mlp_sizes(width: int, inputs: int = 10, classes: int = 4, hidden_layers: int = 2):
    """Layer sizes ``[inputs, width, ..., width, classes]``."""
    width = check_int("width", width, low=1)
    return (
        [check_int("inputs", inputs, low=1)]
        + [width] * check_int("hidden_layers", hidden_layers, low=1)
        + [check_int("classes", classes, low=2)]
    )


def mlp_num_params(sizes: Sequence[int]) -> int:
    """``D = sum (n_in + 1) n_out`` over the layers (weights and biases)."""
    return sum((a + 1) * b for a, b in itertools.pairwise(sizes))


def mlp_init(sizes: Sequence[int], seed: int = 0) -> torch.Tensor:
    """A flat He-initialized parameter vector (weights ``N(0, 2/n_in)``, biases 0)."""
    generator = make_generator(seed)
    parts = []
    for a, b in itertools.pairwise(sizes):
        parts.append(torch.randn(b * a, generator=generator, dtype=torch.float64) * (2 / a) ** 0.5)
        parts.append(torch.zeros(b, dtype=torch.float64))
    return torch.cat(parts)


def mlp_forward(theta: torch.Tensor, x: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """Logits of the ReLU MLP whose weights and biases are read in order from ``theta``."""
    offset, h = 0, x
    for layer, (a, b) in enumerate(itertools.pairwise(sizes)):
        weight = theta[offset : offset + a * b].view(b, a)
        bias = theta[offset + a * b : offset + a * b + b]
        offset += a * b + b
        h = h @ weight.T + bias
        if layer < len(sizes) - 2:
            h = torch.relu(h)
    return h


@dataclass(frozen=True)
class TeacherTask:
    """Inputs and labels for training and testing; labels are a random teacher's argmax."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    inputs: int
    classes: int


@functools.lru_cache(maxsize=4)
def teacher_task(
    n_train: int = 1000,
    n_test: int = 2000,
    inputs: int = 10,
    classes: int = 4,
    teacher_width: int = 16,
    seed: int = 0,
) -> TeacherTask:
    """Gaussian inputs labelled by a random one-hidden-layer ReLU teacher (argmax of its logits).

    Generated by the course from ``seed``; no data is downloaded. Cached (read-only tensors).
    """
    n_train = check_int("n_train", n_train, low=1)
    n_test = check_int("n_test", n_test, low=1)
    generator = make_generator(seed)
    sizes = [inputs, check_int("teacher_width", teacher_width, low=1), classes]
    teacher = mlp_init(sizes, seed=seed + 1)
    x = torch.randn(n_train + n_test, inputs, generator=generator, dtype=torch.float64)
    labels = mlp_forward(teacher, x, sizes).argmax(dim=1)
    return TeacherTask(
        x[:n_train], labels[:n_train], x[n_train:], labels[n_train:], inputs, classes
    )


def accuracy(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, sizes) -> float:
    """Fraction of ``x`` whose predicted class equals ``y``.

    The correct predictions are counted as an integer and divided once, so the fraction is
    the same double whatever the order of the sum (a float mean would also be exact here,
    but a check that perturbs every float reduction, ``rounding.RoundingPerturbation``,
    would move it off ``k / n``, and half of all ``k / 2000`` are ties at three decimals).
    """
    with torch.no_grad():
        correct = int((mlp_forward(theta, x, sizes).argmax(dim=1) == y).sum())
    return correct / y.numel()


def train_mlp(
    width: int,
    d: int | None = None,
    kind: str = "dense",
    steps: int = 300,
    lr: float | None = None,
    seed: int = 0,
    task: TeacherTask | None = None,
    device: str = "cpu",
) -> dict:
    """Train the teacher task's MLP directly (``d=None``) or in a random d-dim subspace.

    Full-batch Adam on the cross-entropy; ``lr`` defaults to 1e-2 directly and 0.1 in the
    subspace (``z`` moves along unit-norm directions, each shared by all weights). Returns
    ``{'D', 'd', 'test_accuracy', 'train_accuracy', 'losses'}``.
    """
    task = teacher_task() if task is None else task
    device = resolve_device(device)
    sizes = mlp_sizes(width, task.inputs, task.classes)
    D = mlp_num_params(sizes)
    theta0 = mlp_init(sizes, seed=seed).to(device)
    x, y = task.x_train.to(device), task.y_train.to(device)
    P = None
    if d is not None:
        P = make_projection(kind, D, check_int("d", d, low=1), seed=seed + 1, device=device)
    lr = (1e-2 if d is None else 0.1) if lr is None else lr

    def loss(theta):
        return torch.nn.functional.cross_entropy(mlp_forward(theta, x, sizes), y)

    if device.type == "cpu":
        with small_work():
            theta, losses = train_in_subspace(loss, theta0, P, steps, lr)
    else:
        theta, losses = train_in_subspace(loss, theta0, P, steps, lr)
    theta = theta.cpu()
    return {
        "D": D,
        "d": d,
        "test_accuracy": accuracy(theta, task.x_test, task.y_test, sizes),
        "train_accuracy": accuracy(theta, task.x_train, task.y_train, sizes),
        "losses": losses,
    }
