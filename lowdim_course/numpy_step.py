"""The gradient-descent step on a CPU, in numpy on the layers' own memory.

On a CPU, ``train`` runs plain gradient descent on factorization and completion here rather
than through torch: the same update as ``DeepLinearNetwork.descend`` (Kwon et al. 2024,
Sec. 3.2, with the discrepant learning rate), written with numpy's products on numpy views of
the layers, which stay torch tensors and change in place. Why: at the course's sizes a step is
a dozen small products, and both the dispatch of each op and the BLAS behind it count. numpy
calls its BLAS (OpenBLAS in numpy's wheels) with about a microsecond of overhead per op; torch's
CPU build calls MKL, whose small double-precision products are slow on AMD processors
(``benchmarks/paper_side_by_side.py`` times this path beside the paper's code).

Two choices make the products fast. Orientation: OpenBLAS multiplies ``X @ Y^T`` (the second
factor a transposed view) about 1.3x to 1.5x slower than the other three orientations
(measured at d = 100, ``docs/cpu-step.md``), so the residual and the backward sweep's
``B_l`` are kept transposed, which makes every product of a step ``X @ Y``, ``X^T @ Y`` or
``X^T @ Y^T``. Arithmetic: factorization with a narrow last layer (the compressed network:
width ``w = r_hat`` much less than ``d``) never forms the ``d x d`` residual. With the target's
thin SVD ``M* = U_s V^T`` (``U_s = U S``, rank r) and ``P = W_{L-1} ... W_1``, the residual is a
product of two thin matrices, ``E = W_L P - M* = A C^T`` with ``A = [W_L, -U_s]`` and
``C = [P^T, V]`` (both ``d x (w + r)``), and the step needs only ``K_A = W_L^T A`` and
``K_C = P C`` (the first w rows of their Gram matrices):

    ``E P^T = A K_C^T``   (n times the last layer's gradient),
    ``W_L^T E = K_A C^T``   (what the backward sweep carries on),
    ``||E||_F^2 = <W_L^T W_L, P P^T> - 2 <W_L^T U_s, P V> + ||M*||_F^2``.

At d = 100, w = 20, r = 10 a step is then about 0.36 M multiply-adds instead of 0.72 M, the
paper's code's count. The last formula subtracts numbers of size ``||M*||^2`` to get a small
one: it loses digits as the fit improves, so below a relative error of 1e-2
(``FORMED_BELOW_ERROR``) the step also forms ``E = A C^T`` and reads the loss from it (about
0.3 M multiply-adds more); in float32 it always forms ``E``, the plain way. The gradient keeps
its accuracy either way: its rounding is that of ``E``'s.
"""

from __future__ import annotations

import numpy as np
import torch

from .problems import MatrixCompletion, MatrixFactorization, RecoveryProblem
from .rounding import active_perturbation

__all__ = ["FORMED_BELOW_ERROR", "NumpyStep", "runs_in_numpy"]

# Below this relative recovery error the factored step also forms E to read the loss. The Gram
# formula's loss carries a rounding error of about eps ||M*||^2, so the error it gives is good
# to about eps / (2 rho^2) relative at a relative error rho: 5e-13 at 1e-2. The last 15 or so
# steps of a reference run to 1e-4 (of about 2,300) are below it.
FORMED_BELOW_ERROR = 1e-2


def runs_in_numpy(problem: RecoveryProblem, network, optimizer: str) -> bool:
    """Whether ``train`` takes this path: plain gradient descent on a CPU, on MF or MC."""
    return (
        optimizer == "gd"
        and problem.device.type == "cpu"
        and network.device.type == "cpu"
        and problem.dtype in (torch.float64, torch.float32)
        and isinstance(problem, (MatrixFactorization, MatrixCompletion))
        and all(layer.is_contiguous() for layer in network.layers)
    )


class NumpyStep:
    """One training step of ``network`` on ``problem``: ``parts()`` then ``descend()``.

    ``rates``: the per-layer learning rates (``layer_learning_rates``); ``weight_decay``:
    ``lambda`` of ``W_l <- (1 - lr_l lambda) W_l - lr_l grad_{W_l}``. The layers must be
    row-major (``DeepLinearNetwork`` stores them so).
    """

    def __init__(self, problem: RecoveryProblem, network, rates, weight_decay: float = 0.0):
        self.network = network
        self.matmul, self.inner = _products(active_perturbation())
        self.layers = [layer.detach().numpy() for layer in network.layers]
        self.weight_decay = weight_decay
        dtype = self.layers[0].dtype
        d = problem.d
        target = problem.target.numpy()
        self.target_t = np.ascontiguousarray(target.T)
        # The loss's gradient is E / n (factorization: n = d^2 entries; completion: the masked
        # residual over |Omega|). The 1/n goes into the rates: one pass over E fewer.
        if isinstance(problem, MatrixCompletion):
            self.n = problem.n_observed
            self.mask_t = np.ascontiguousarray(problem.mask.numpy().T.astype(dtype))
        else:
            self.n = problem.target.numel()
            self.mask_t = None
        self.rates = [rate / self.n for rate in rates]
        factors = _target_factors(problem, network, dtype)
        self.factored = None
        if factors is not None:
            self.factored = _FactoredResidual(
                *factors, network.widths[-2], target, self.matmul, self.inner
            )
        # E^T and B_l^T (l = 1 .. L-1), row-major; B_1 itself is kept untransposed: the first
        # layer's update reads it. gradient[l] has layer l's shape.
        self.residual_t = np.empty((d, d), dtype)
        self.back_t = [None] + [np.empty((d, w.shape[0]), dtype) for w in self.layers[1:-1]]
        self.first_back = np.empty(self.layers[0].shape, dtype)
        self.gradient = [None] + [np.empty(w.shape, dtype) for w in self.layers[1:]]
        self.lower = [self.layers[0]]
        for layer in self.layers[1:-1]:
            self.lower.append(np.empty((layer.shape[0], d), dtype))
        if self.factored is not None and len(self.layers) > 2:
            self.lower[-1] = self.factored.p  # the forward pass writes P where the Grams read it

    # ----------------------------------------------------------------------------------------
    def parts(self) -> list[float]:
        """Forward pass: the lower products, the residual (or its Grams) and ``parts``.

        ``parts`` are what ``problem.loss_and_error`` reads: ``[||G||^2]`` for factorization,
        ``[||G||^2, ||E||^2]`` for completion, ``G`` the loss's gradient at ``W_{L:1}``.
        """
        layers, lower = self.layers, self.lower
        last = len(layers) - 2  # lower[last] = P = W_{L-1:1}
        for index in range(1, last + 1):
            if index == last and self.factored is not None:  # P^T into C's first columns
                self.matmul(lower[index - 1].T, layers[index].T, self.factored.p.T)
            else:
                self.matmul(layers[index], lower[index - 1], lower[index])
        n = self.n
        if self.factored is not None:
            squared = self.factored.squared_norm(layers[0], layers[-1], last == 0)
            if squared < self.factored.exact_below:  # too few digits left: E itself, once
                squared = self.factored.formed_squared_norm(self.residual_t)
            return [squared / (n * n)]
        residual_t = self.residual_t
        self.matmul(lower[-1].T, layers[-1].T, residual_t)
        np.subtract(residual_t, self.target_t, out=residual_t)
        squared = self.inner(residual_t, residual_t)
        if self.mask_t is None:
            return [squared / (n * n)]
        np.multiply(residual_t, self.mask_t, out=residual_t)
        return [self.inner(residual_t, residual_t) / (n * n), squared]

    def end_to_end(self) -> torch.Tensor:
        """``W_L ... W_1`` as a new torch tensor (for the loop's snapshots)."""
        return self.network.layers[-1] @ torch.from_numpy(self.lower[-1])

    # ----------------------------------------------------------------------------------------
    def descend(self) -> None:
        """``W_l <- (1 - lr_l lambda) W_l - lr_l grad_{W_l}`` for every layer, after ``parts``.

        Backward sweep with ``B_L = E``: ``grad_l = B_l (W_{l-1:1})^T`` and
        ``B_{l-1} = W_l^T B_l``, each layer's gradient taken before ``B_{l-1}`` reads the
        layer's old value, as in ``DeepLinearNetwork.descend``. Here ``B_l^T`` is what is
        stored: ``grad_l = (B_l^T)^T (W_{l-1:1})^T`` and ``B_{l-1}^T = B_l^T W_l``.
        """
        layers, lower, top = self.layers, self.lower, len(self.layers) - 1
        if self.factored is None:
            back_t, start = self.residual_t, top
        else:  # the last layer from the factors; the sweep goes on from B_{L-1}
            self.factored.top_gradient(self.gradient[top])
            if top == 1:
                self.factored.back(self.first_back)
            else:
                self.factored.back_t(self.back_t[top - 1])
            self._update(top, self.gradient[top])
            back_t, start = self.back_t[top - 1], top - 1
        for index in range(start, 0, -1):
            self.matmul(back_t.T, lower[index - 1].T, self.gradient[index])
            if index == 1:
                self.matmul(layers[1].T, back_t.T, self.first_back)
            else:
                self.matmul(back_t, layers[index], self.back_t[index - 1])
            self._update(index, self.gradient[index])
            back_t = self.back_t[index - 1]
        self._update(0, self.first_back)

    def _update(self, index: int, gradient: np.ndarray) -> None:
        layer, rate = self.layers[index], self.rates[index]
        if self.weight_decay:
            layer *= 1 - rate * self.n * self.weight_decay
        np.multiply(gradient, rate, out=gradient)
        np.subtract(layer, gradient, out=layer)


class _FactoredResidual:
    """The residual ``E = A C^T`` of factorization kept in factors (see the module's docstring).

    ``A = [W_L, -U_s]`` and ``C = [P^T, V]`` are row-major ``d x (w + r)`` arrays; ``K_A^T``
    and ``K_C^T`` are kept as ``(w + r) x w`` row-major arrays, so that their last r rows, the
    cross terms of the loss, are one contiguous block.
    """

    def __init__(self, u_s, v, width: int, target, matmul, inner):
        self.matmul, self.inner = matmul, inner
        d, rank = u_s.shape
        dtype = target.dtype
        self.width = width
        self.a = np.empty((d, width + rank), dtype)
        self.a[:, width:] = -u_s
        self.c = np.empty((d, width + rank), dtype)
        self.c[:, width:] = v
        self.p = self.c[:, :width].T  # P = W_{L-1:1}, w x d, a view into C
        self.k_a_t = np.empty((width + rank, width), dtype)
        self.k_c_t = np.empty((width + rank, width), dtype)
        self.target_squared = float(np.vdot(target, target))
        # Below this ||E||^2 the formula has fewer than 12 correct digits: E is formed too.
        self.exact_below = FORMED_BELOW_ERROR**2 * self.target_squared

    def squared_norm(self, first: np.ndarray, last: np.ndarray, two_layers: bool) -> float:
        """``||E||_F^2`` from the Grams of ``A`` and ``C``, once ``P`` is in place."""
        width = self.width
        if two_layers:  # P is the first layer itself
            np.copyto(self.p, first)
        np.copyto(self.a[:, :width], last)
        self.matmul(self.a.T, self.a[:, :width], self.k_a_t)
        self.matmul(self.c.T, self.c[:, :width], self.k_c_t)
        whole = self.inner(self.k_a_t, self.k_c_t)  # <W^T W, P P^T> - <W^T U_s, P V>
        cross = self.inner(self.k_a_t[width:], self.k_c_t[width:])  # -<W^T U_s, P V>
        return max(whole + cross + self.target_squared, 0.0)

    def formed_squared_norm(self, out: np.ndarray) -> float:
        """``||E||_F^2`` from ``E = A C^T`` formed in ``out`` (d x d): every digit."""
        self.matmul(self.a, self.c.T, out)
        return self.inner(out, out)

    def top_gradient(self, out: np.ndarray) -> None:
        """``E P^T = A K_C^T`` into ``out``."""
        self.matmul(self.a, self.k_c_t, out)

    def back_t(self, out: np.ndarray) -> None:
        """``(W_L^T E)^T = C K_A^T`` into ``out``."""
        self.matmul(self.c, self.k_a_t, out)

    def back(self, out: np.ndarray) -> None:
        """``W_L^T E = K_A C^T`` into ``out``."""
        self.matmul(self.k_a_t.T, self.c.T, out)


def _inner(a: np.ndarray, b: np.ndarray) -> float:
    """``<a, b>``, the sum of the entrywise products, as a float."""
    return float(np.vdot(a, b))


def _products(mode):
    """``(matmul(a, b, out), inner(a, b))``: numpy's, or perturbed by ``mode`` (see rounding.py)."""
    if mode is None:
        return np.matmul, _inner

    def matmul(a, b, out):
        return mode.perturb_array(np.matmul(a, b, out))

    def inner(a, b):
        return mode.perturb_value(np.vdot(a, b))

    return matmul, inner


def _target_factors(problem, network, dtype):
    """``(U_s, V)`` of the target when forming the residual costs more than the Grams, else None.

    Only for factorization in float64 (in float32 the Gram formula's loss would lose the digits
    a run needs long before it converges). The target's thin SVD keeps the singular values
    above rounding (``d eps sigma_1``): the course's targets are exactly rank r.
    """
    if not isinstance(problem, MatrixFactorization) or dtype != np.float64:
        return None
    d, width = problem.d, network.widths[-2]
    u, s, vh = problem.target_svd()
    rank = int((s > d * np.finfo(dtype).eps * s[0]).sum()) if s[0] > 0 else 0
    formed = 3 * d * d * width
    grams = 4 * d * width * (width + rank)
    if rank == 0 or grams >= formed:
        return None
    u_s = u[:, :rank] * s[:rank]
    return np.ascontiguousarray(u_s), np.ascontiguousarray(vh[:rank].T)
