"""Trainable weight averaging: keep training, but only inside the span of saved checkpoints.

Li, Huang, Tao, Wu, He, Tao, Huang, Lin, "Trainable Weight Averaging: A General Approach for
Subspace Training" (ICLR 2023), Sec. 3. A training run saves checkpoints ``w_1, ..., w_K`` (one
per epoch here). Stochastic weight averaging (SWA, Izmailov et al. 2018) returns their mean
``(1/K) sum_i w_i``: fixed coefficients ``1/K``. TWA *trains* the coefficients: the weights are
restricted to ``span{w_1, ..., w_K}``, a K-dimensional subspace of the D-dimensional weight space.

* :func:`orthonormal_basis`: ``P`` (K x D) with orthonormal rows spanning the checkpoints
  (modified Gram-Schmidt with one re-orthogonalization; dependent checkpoints are dropped);
* :func:`projected_gradient`: ``P^T (P g)``, the gradient's component inside the span;
* :func:`twa`: start from the SWA mean and take SGD steps ``w <- w - lr P^T (P g)``, so the
  weights never leave the span (the paper's Eq. 4-5, without its scaling tricks);
  :func:`train_in_span` takes the same steps with any gradient, e.g. the full-batch one of
  :func:`gradient_oracle`.

The course's task is a small classification problem it generates itself
(:func:`make_classification_data`: no data set is downloaded) and a one-hidden-layer network
whose weights are one flat vector (:func:`logits`), so the subspace is easy to see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..random_matrices import make_generator
from ..threads import small_work
from ..validation import check_float, check_int, check_matrix, resolve_device


@dataclass
class Data:
    """Inputs and integer labels of a train and a test set (float64 / int64 tensors)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: int

    def to(self, device) -> Data:
        move = [t.to(device) for t in (self.x_train, self.y_train, self.x_test, self.y_test)]
        return Data(*move, self.classes)


def make_classification_data(
    n_train: int = 600,
    n_test: int = 2000,
    dim: int = 20,
    classes: int = 5,
    label_noise: float = 0.1,
    seed: int = 0,
) -> Data:
    """A synthetic classification task: labels of a random two-layer teacher, some flipped.

    ``x ~ N(0, I_dim)``; the teacher ``argmax_c (V tanh(U x))_c`` with U (2 dim x dim) and V
    (classes x 2 dim) Gaussian decides the label, then a fraction ``label_noise`` of the
    training labels is replaced by a uniformly random class (the test labels are clean).
    """
    n_train = check_int("n_train", n_train, low=1)
    n_test = check_int("n_test", n_test, low=1)
    dim = check_int("dim", dim, low=1)
    classes = check_int("classes", classes, low=2)
    label_noise = check_float("label_noise", label_noise, low=0.0, high=1.0)
    generator = make_generator(seed)
    u = torch.randn(2 * dim, dim, generator=generator, dtype=torch.float64) / math.sqrt(dim)
    v = torch.randn(classes, 2 * dim, generator=generator, dtype=torch.float64)
    x = torch.randn(n_train + n_test, dim, generator=generator, dtype=torch.float64)
    y = (torch.tanh(x @ u.T) @ v.T).argmax(1)
    flip = torch.rand(n_train, generator=generator) < label_noise
    random_labels = torch.randint(classes, (n_train,), generator=generator)
    y_train = torch.where(flip, random_labels, y[:n_train])
    return Data(x[:n_train], y_train, x[n_train:], y[n_train:], classes)


def parameter_count(dim: int, hidden: int, classes: int) -> int:
    """Weights of the network of :func:`logits`: ``hidden (dim + 1) + classes (hidden + 1)``."""
    return hidden * (dim + 1) + classes * (hidden + 1)


def init_weights(dim: int, hidden: int, classes: int, seed: int = 0) -> torch.Tensor:
    """A flat float64 weight vector: Gaussian layers scaled by 1/sqrt(fan-in), zero biases."""
    dim, hidden, classes = (
        check_int(n, v, low=1) for n, v in (("dim", dim), ("hidden", hidden), ("classes", classes))
    )
    generator = make_generator(seed)
    first = torch.randn(hidden, dim, generator=generator, dtype=torch.float64) / math.sqrt(dim)
    second = torch.randn(classes, hidden, generator=generator, dtype=torch.float64)
    second = second / math.sqrt(hidden)
    return torch.cat([first.flatten(), torch.zeros(hidden), second.flatten(), torch.zeros(classes)])


def logits(weights: torch.Tensor, x: torch.Tensor, hidden: int, classes: int) -> torch.Tensor:
    """``W_2 relu(W_1 x + b_1) + b_2`` with the four blocks read from the flat ``weights``."""
    dim = x.shape[1]
    sizes = [hidden * dim, hidden, classes * hidden, classes]
    if weights.numel() != sum(sizes):
        raise ValueError(
            f"weights must have {sum(sizes)} entries for dim={dim}, hidden={hidden}, "
            f"classes={classes}, got {weights.numel()}"
        )
    w1, b1, w2, b2 = torch.split(weights, sizes)
    h = torch.relu(x @ w1.reshape(hidden, dim).T + b1)
    return h @ w2.reshape(classes, hidden).T + b2


def loss_and_gradient(weights, x, y, hidden: int, classes: int) -> tuple[float, torch.Tensor]:
    """Mean cross-entropy of the batch and its gradient with respect to the flat weights.

    Back-propagation written out (two matrix products per layer), several times faster than
    autograd at these sizes; the tests compare it with autograd.
    """
    n, dim = x.shape
    sizes = [hidden * dim, hidden, classes * hidden, classes]
    w1, b1, w2, b2 = torch.split(weights, sizes)
    w1, w2 = w1.reshape(hidden, dim), w2.reshape(classes, hidden)
    pre = x @ w1.T + b1
    h = torch.relu(pre)
    z = h @ w2.T + b2
    log_p = torch.log_softmax(z, dim=1)
    loss = -float(log_p.gather(1, y[:, None]).mean())
    dz = torch.exp(log_p)
    dz[torch.arange(n), y] -= 1.0
    dz /= n
    dh = (dz @ w2) * (pre > 0)
    gradient = torch.cat([(dh.T @ x).flatten(), dh.sum(0), (dz.T @ h).flatten(), dz.sum(0)])
    return loss, gradient


def accuracy(weights, x, y, hidden: int, classes: int) -> float:
    """Fraction of correctly classified examples.

    The correct predictions are counted as an integer and divided once, so the fraction is
    the same double whatever the order of the sum (a float mean would also be exact here,
    but a check that perturbs every float reduction, ``rounding.RoundingPerturbation``,
    would move it off ``k / n``, and half of all ``k / 2000`` are ties at three decimals).
    """
    with torch.no_grad():
        correct = int((logits(weights, x, hidden, classes).argmax(1) == y).sum())
    return correct / y.numel()


@small_work()
def sgd_checkpoints(
    data: Data,
    *,
    epochs: int = 20,
    hidden: int = 32,
    lr: float = 0.05,
    batch_size: int = 30,
    seed: int = 0,
    device="cpu",
) -> dict:
    """Minibatch SGD for ``epochs`` epochs; the weights after each epoch are the checkpoints.

    Returns ``{"checkpoints": (epochs + 1) x D tensor (row 0 the init), "test_accuracy": list
    over the same rows, "hidden": hidden}``.
    """
    epochs = check_int("epochs", epochs, low=1)
    hidden = check_int("hidden", hidden, low=1)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    device = resolve_device(device)
    data = data.to(device)
    weights = init_weights(data.x_train.shape[1], hidden, data.classes, seed).to(device)
    generator = make_generator(seed + 1)
    saved = [weights]
    for _ in range(epochs):
        weights = _epoch(data, weights, hidden, lr, batch_size, generator, basis=None)
        saved.append(weights)
    checkpoints = torch.stack(saved)
    accuracies = [accuracy(w, data.x_test, data.y_test, hidden, data.classes) for w in saved]
    return {"checkpoints": checkpoints, "test_accuracy": accuracies, "hidden": hidden}


def orthonormal_basis(checkpoints, rtol: float = 1e-10) -> torch.Tensor:
    """Rows of ``P`` (k x D, k <= K): an orthonormal basis of the span of the K checkpoints.

    Modified Gram-Schmidt (Li et al. 2023, Sec. 3.2), each vector orthogonalized twice against
    the rows found so far ("twice is enough", Giraud et al. 2005); a checkpoint whose remainder
    is below ``rtol`` times its norm lies in the span already and adds no row.
    """
    w = check_matrix("checkpoints", checkpoints)
    w = w.to(torch.float64) if not w.is_floating_point() else w
    rtol = check_float("rtol", rtol, low=0.0, high=1.0, low_open=True)
    rows: list[torch.Tensor] = []
    for vector in w:
        norm = torch.linalg.vector_norm(vector)
        remainder = vector.clone()
        for _ in range(2):
            for row in rows:
                remainder = remainder - (row @ remainder) * row
        size = torch.linalg.vector_norm(remainder)
        if norm > 0 and size > rtol * norm:
            rows.append(remainder / size)
    if not rows:
        raise ValueError("checkpoints must hold at least one nonzero vector")
    return torch.stack(rows)


def projected_gradient(basis: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
    """``P^T (P g)``: the part of ``g`` in the span of P's orthonormal rows (Li et al. Sec. 3)."""
    basis = check_matrix("basis", basis)
    if gradient.ndim != 1 or gradient.numel() != basis.shape[1]:
        raise ValueError(
            f"gradient must be a vector of length {basis.shape[1]} (the basis' columns), "
            f"got shape {tuple(gradient.shape)}"
        )
    return basis.T @ (basis @ gradient)


def swa(checkpoints) -> torch.Tensor:
    """Stochastic weight averaging: the mean ``(1/K) sum_i w_i`` of the checkpoints (rows)."""
    return check_matrix("checkpoints", checkpoints).to(torch.float64).mean(0)


@small_work()
def twa(
    data: Data,
    checkpoints,
    *,
    hidden: int,
    epochs: int = 2,
    lr: float = 0.5,
    batch_size: int = 30,
    start: str = "mean",
    seed: int = 0,
) -> dict:
    """Trainable weight averaging: SGD with projected gradients inside the checkpoints' span.

    Starts from the SWA mean (``start='mean'``) or the last checkpoint (``'last'``), and takes
    ``epochs`` epochs of ``w <- w - lr P^T (P g)``. Returns ``{"weights", "test_accuracy" (after
    each epoch, the start first), "coefficients" (P w at the end), "basis"}``.
    """
    if start not in ("mean", "last"):
        raise ValueError(f"start must be 'mean' or 'last', got {start!r}")
    epochs = check_int("epochs", epochs, low=0)
    lr = check_float("lr", lr, low=0.0, low_open=True)
    batch_size = check_int("batch_size", batch_size, low=1)
    checkpoints = check_matrix("checkpoints", checkpoints).to(torch.float64)
    data = data.to(checkpoints.device)
    basis = orthonormal_basis(checkpoints)
    weights = swa(checkpoints) if start == "mean" else checkpoints[-1].clone()
    generator = make_generator(seed + 2)
    accuracies = [accuracy(weights, data.x_test, data.y_test, hidden, data.classes)]
    for _ in range(epochs):
        weights = _epoch(data, weights, hidden, lr, batch_size, generator, basis=basis)
        accuracies.append(accuracy(weights, data.x_test, data.y_test, hidden, data.classes))
    return {
        "weights": weights,
        "test_accuracy": accuracies,
        "coefficients": basis @ weights,
        "basis": basis,
    }


def gradient_oracle(x, y, hidden: int, classes: int):
    """``weights -> (loss, gradient)``: the full-batch cross-entropy of the network on (x, y).

    What a training loop needs from the model, and nothing else: a loop in the checkpoints'
    span asks it for ``g`` at the current weights and projects it itself.
    """
    hidden = check_int("hidden", hidden, low=1)
    classes = check_int("classes", classes, low=2)

    def loss_and_grad(weights):
        weights = torch.as_tensor(weights, dtype=torch.float64)
        return loss_and_gradient(weights, x, y, hidden, classes)

    return loss_and_grad


def train_in_span(checkpoints, loss_and_grad, *, lr: float, steps: int, start: str = "mean"):
    """TWA with a given gradient: ``steps`` steps ``w <- w - lr P^T (P g(w))`` in the span.

    ``P`` is :func:`orthonormal_basis` of the checkpoints (rows); the start is their mean (SWA)
    or the last checkpoint, both in the span, so every iterate stays there (Li et al. 2023,
    Sec. 3, with coefficients ``c = P w``: ``c <- c - lr P g``). Returns the final weights.
    """
    if start not in ("mean", "last"):
        raise ValueError(f"start must be 'mean' or 'last', got {start!r}")
    lr = check_float("lr", lr, low=0.0, low_open=True)
    steps = check_int("steps", steps, low=0)
    checkpoints = check_matrix("checkpoints", checkpoints).to(torch.float64)
    basis = orthonormal_basis(checkpoints)
    weights = swa(checkpoints) if start == "mean" else checkpoints[-1].clone()
    for _ in range(steps):
        _, gradient = loss_and_grad(weights)
        weights = weights - lr * projected_gradient(basis, gradient)
    return weights


def _epoch(data, weights, hidden, lr, batch_size, generator, basis):
    n = data.x_train.shape[0]
    order = torch.randperm(n, generator=generator).to(data.x_train.device)
    for begin in range(0, n, batch_size):
        index = order[begin : begin + batch_size]
        _, gradient = loss_and_gradient(
            weights, data.x_train[index], data.y_train[index], hidden, data.classes
        )
        if basis is not None:
            gradient = basis.T @ (basis @ gradient)
        weights = weights - lr * gradient
    if not torch.isfinite(weights).all():
        raise ValueError(f"training diverged at lr={lr:g}: take a smaller lr")
    return weights
