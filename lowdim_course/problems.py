"""Low-rank matrix recovery problems: factorization, completion and sensing.

Each problem holds a rank-r target ``M*`` (d x d) and the observations of it, and gives

* ``loss_grad_error(W)``: the training loss at the end-to-end matrix ``W`` (a float), its
  gradient with respect to ``W`` (a tensor) and the recovery error (a float), computed together
  because they share the residual and because each extra tensor op costs microseconds per step;
  ``loss_grad_error_of_product(A, B)`` is the same at ``W = A B``, where factorization and
  completion fold the product into the residual (what the training loop calls). Both come in
  two halves: ``parts_and_gradient*`` does the tensor work and never waits for the device, and
  ``loss_and_error(parts)`` finishes on the host, so a GPU loop can read many steps at once;
* ``surrogate()``: the matrix whose top singular vectors start the compressed network
  (Kwon et al. 2024, Sec. 3.2 "spectral initialization");
* ``recovery_error(W) = ||W - M*||_F / ||M*||_F``, the one error every task reports.

The losses are those of the paper's code (Kwon et al. 2024), so its learning rates carry over:

=========== ============================================== ================================
task        training loss                                  surrogate
=========== ============================================== ================================
``mf``      ``1/2 mean((W - M*)^2)`` over the d^2 entries   ``M*``
``mc``      ``1/2 sum_Omega (W - M*)^2 / |Omega|``         ``P_Omega(M*) / p``
``ms``      ``1/2 sum_i (<A_i, W> - y_i)^2``               ``(1/m) sum_i y_i A_i``
=========== ============================================== ================================
"""

from __future__ import annotations

import math

import torch

from .random_matrices import gaussian, make_generator, random_orthogonal
from .rank_measures import numerical_rank
from .validation import (
    check_choice,
    check_float,
    check_int,
    check_matrix,
    resolve_device,
    resolve_dtype,
)

TASKS = ("mf", "mc", "ms")
TASK_NAMES = {"mf": "matrix factorization", "mc": "matrix completion", "ms": "matrix sensing"}


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


def spread_spectrum_indices(d: int, r: int) -> list[int]:
    """Indices ``floor(i d / (2r))``, i = 0..r-1: r indices spread over the top half of d."""
    return [(i * d) // (2 * r) for i in range(r)]


def spread_spectrum_target(d: int, r: int, seed: int = 0) -> torch.Tensor:
    """The course's rank-r target: SVD of a d x d N(0,1) matrix, keep triplets at spread indices.

    With ``G = U diag(s) V^T`` and ``idx = floor(i d / 2r)`` for i < r, the target is
    ``M* = U[:, idx] diag(s[idx]) V[:, idx]^T``: its singular values are spread over the top half
    of the Gaussian spectrum (as Kwon et al.'s code does) rather than being the r largest.
    """
    d = check_int("d", d, low=2)
    r = check_int("r", r, low=1, high=d // 2)
    u, s, vh = torch.linalg.svd(gaussian(d, d, make_generator(seed)))
    idx = torch.tensor(spread_spectrum_indices(d, r))
    return (u[:, idx] * s[idx]) @ vh[idx, :]


def target_from_singular_values(d: int, singular_values, seed: int = 0) -> torch.Tensor:
    """``M* = U diag(s) V^T`` with random orthonormal U, V (d x r) and the given s (all > 0)."""
    d = check_int("d", d, low=2)
    s = torch.as_tensor(singular_values, dtype=torch.float64).flatten()
    if s.numel() < 1 or s.numel() > d:
        raise ValueError(f"singular_values must hold between 1 and d={d} values, got {s.numel()}")
    if not torch.isfinite(s).all() or (s <= 0).any():
        raise ValueError("singular_values must be finite and > 0")
    generator = make_generator(seed)
    u = random_orthogonal(d, generator)[:, : s.numel()]
    v = random_orthogonal(d, generator)[:, : s.numel()]
    return (u * s) @ v.T


def _resolve_target(d, r, seed, target, singular_values) -> torch.Tensor:
    if target is not None and singular_values is not None:
        raise ValueError("give at most one of target and singular_values")
    if target is not None:
        target = check_matrix("target", target).to(torch.float64)
        if target.shape[0] != target.shape[1]:
            raise ValueError(f"target must be square (d x d), got shape {tuple(target.shape)}")
        if d is not None and target.shape[0] != d:
            raise ValueError(f"target must have shape ({d}, {d}), got {tuple(target.shape)}")
        if torch.linalg.matrix_norm(target) == 0:
            raise ValueError("target must not be the zero matrix")
        return target
    if singular_values is not None:
        return target_from_singular_values(d, singular_values, seed)
    return spread_spectrum_target(d, r, seed)


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


class RecoveryProblem:
    """Common part of the three tasks: the target, its norm, the recovery error, devices."""

    task: str = ""

    def __init__(self, target: torch.Tensor, device, dtype):
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.target = target.to(device=self.device, dtype=self.dtype)
        self.d = target.shape[0]
        self.rank = numerical_rank(target)
        self._target_norm = torch.linalg.matrix_norm(self.target)
        self._target_norm_value = self._target_norm.item()

    @property
    def name(self) -> str:
        return TASK_NAMES[self.task]

    def recovery_error(self, end_to_end: torch.Tensor) -> torch.Tensor:
        """``||W - M*||_F / ||M*||_F``."""
        return torch.linalg.matrix_norm(end_to_end - self.target) / self._target_norm

    def loss(self, end_to_end: torch.Tensor) -> float:
        """The training loss alone."""
        return self.loss_grad_error(end_to_end)[0]

    def loss_grad_error(self, end_to_end: torch.Tensor):
        """``(loss, gradient, error)`` at ``end_to_end``: two floats and a tensor."""
        parts, gradient = self.parts_and_gradient(end_to_end)
        loss, error = self.loss_and_error(parts.tolist())
        return loss, gradient, error

    def loss_grad_error_of_product(self, left: torch.Tensor, right: torch.Tensor, out=None):
        """``loss_grad_error(left @ right)``, for an end-to-end matrix given as two factors.

        The training loop calls this with ``W_L`` and ``W_{L-1} ... W_1``. Factorization and
        completion fold the product into their residual, ``addmm(M*, left, right, beta=-1)``:
        one matrix op fewer per step. ``out`` (d x d) receives the product or the residual.
        """
        parts, gradient = self.parts_and_gradient_of_product(left, right, out)
        loss, error = self.loss_and_error(parts.tolist())
        return loss, gradient, error

    def parts_and_gradient(self, end_to_end: torch.Tensor):
        """``(parts, gradient)``: the gradient and the few numbers loss and error come from.

        ``parts`` is a 0-d or 1-d tensor on the problem's device (squared norms); nothing here
        waits for the device, so a GPU loop can keep ``parts`` of many steps and read them at
        once. ``loss_and_error(parts.tolist())`` turns them into the two floats.
        """
        raise NotImplementedError

    def parts_and_gradient_of_product(self, left, right, out=None):
        """``parts_and_gradient(left @ right)``; see ``loss_grad_error_of_product``."""
        return self.parts_and_gradient(torch.mm(left, right, out=out))

    def loss_and_error(self, parts: float | list[float]) -> tuple[float, float]:
        """The training loss and the recovery error from ``parts.tolist()`` (host arithmetic)."""
        raise NotImplementedError

    def surrogate(self) -> torch.Tensor:
        raise NotImplementedError

    @property
    def data_entries(self) -> int:
        """Numbers one loss evaluation reads: d^2 here, m d^2 for sensing's operator."""
        return self.d * self.d

    def settings(self) -> dict:
        return {"task": self.task, "d": self.d, "r": self.rank}


class MatrixFactorization(RecoveryProblem):
    """Fit every entry of M*: loss ``1/2 mean((W - M*)^2)``, gradient ``(W - M*) / d^2``."""

    task = "mf"

    def parts_and_gradient(self, end_to_end):
        return self._parts((end_to_end - self.target).mul_(1.0 / self.target.numel()))

    def parts_and_gradient_of_product(self, left, right, out=None):
        # The gradient (left @ right - M*) / d^2 in one BLAS call: gemm's own alpha and beta.
        scale = 1.0 / self.target.numel()
        gradient = torch.addmm(self.target, left, right, beta=-scale, alpha=scale, out=out)
        return self._parts(gradient)

    _flat_of: tuple | None = None  # (tensor, its flat view): the loop's buffer, every step

    def _parts(self, gradient):
        if self._flat_of is not None and self._flat_of[0] is gradient:
            flat = self._flat_of[1]
        else:
            flat = gradient.view(-1)
            self._flat_of = (gradient, flat)
        return torch.dot(flat, flat), gradient  # ||G||^2: one number, a 0-d tensor

    def loss_and_error(self, parts):
        """From ``||G||^2`` with ``G = (W - M*) / n``: ``||W - M*||^2 = n^2 ||G||^2``."""
        n_entries = self.target.numel()
        squared_norm = (parts if isinstance(parts, float) else parts[0]) * n_entries * n_entries
        loss = 0.5 * squared_norm / n_entries
        return loss, math.sqrt(squared_norm) / self._target_norm_value

    def surrogate(self):
        return self.target

    _svd: tuple | None = None

    def target_svd(self):
        """``(U, s, V^T)`` of the target as numpy arrays, computed once (the CPU step's factors)."""
        if self._svd is None:
            u, s, vh = torch.linalg.svd(self.target.cpu(), full_matrices=False)
            self._svd = (u.numpy(), s.numpy(), vh.numpy())
        return self._svd


class MatrixCompletion(RecoveryProblem):
    """Observe exactly ``floor(p d^2)`` entries chosen uniformly at random (the mask Omega).

    Loss ``1/2 sum_Omega (W - M*)^2 / |Omega|``, gradient ``P_Omega(W - M*) / |Omega|``.
    The surrogate ``P_Omega(M*) / p`` has expectation M* (each entry is seen with chance p).
    """

    task = "mc"

    def __init__(self, target, p, generator, device, dtype):
        super().__init__(target, device, dtype)
        self.p = p
        n_entries = self.d * self.d
        n_observed = math.floor(p * n_entries)
        if n_observed < 1:
            raise ValueError(
                f"p={p:g} observes no entry of a {self.d} x {self.d} matrix: p must be >= 1/d^2"
            )
        chosen = torch.randperm(n_entries, generator=generator)[:n_observed]
        mask = torch.zeros(n_entries, dtype=torch.bool)
        mask[chosen] = True
        self.mask = mask.reshape(self.d, self.d).to(self.device)
        self.n_observed = n_observed
        self._mask_float = self.mask.to(self.dtype)
        self._gradient_mask = self._mask_float / n_observed
        unobserved = self.target * (1 - self._mask_float)
        self._unobserved_target_norm = torch.linalg.matrix_norm(unobserved)

    def parts_and_gradient(self, end_to_end):
        return self._parts(end_to_end - self.target)

    def parts_and_gradient_of_product(self, left, right, out=None):
        return self._parts(torch.addmm(self.target, left, right, beta=-1, out=out))

    def _parts(self, residual):
        # G = P_Omega(W - M*) / |Omega| in one multiply; the loss 1/2 ||P_Omega(W - M*)||^2 /
        # |Omega| is then |Omega| ||G||^2 / 2. Two dot products: at the demos' sizes every
        # tensor op costs microseconds, more than the arithmetic.
        gradient = residual * self._gradient_mask
        flat_gradient, flat_residual = gradient.view(-1), residual.view(-1)
        parts = torch.stack(
            [torch.dot(flat_gradient, flat_gradient), torch.dot(flat_residual, flat_residual)]
        )
        return parts, gradient

    def loss_and_error(self, parts):
        """From ``(||G||^2, ||W - M*||^2)``."""
        loss = 0.5 * self.n_observed * parts[0]
        return loss, math.sqrt(parts[1]) / self._target_norm_value

    def surrogate(self):
        return self.target * self._mask_float / self.p

    def unobserved_error(self, end_to_end: torch.Tensor) -> torch.Tensor:
        """Recovery error on the entries the loss never sees (nan when every entry is seen)."""
        residual = (end_to_end - self.target) * (1 - self._mask_float)
        return torch.linalg.matrix_norm(residual) / self._unobserved_target_norm

    def settings(self):
        return {**super().settings(), "p": self.p, "observed": self.n_observed}


class MatrixSensing(RecoveryProblem):
    """Gaussian linear measurements ``y_i = <A_i, M*>``, i = 1..m, entries of A_i ~ N(0,1)/m.

    The m matrices are stored as one ``m x d^2`` operator ``A`` (row i = vec(A_i)), so a step
    costs two matrix-vector products: residual ``A vec(W) - y`` and gradient
    ``A^T (A vec(W) - y)``. Loss ``1/2 ||A vec(W) - y||^2``; surrogate ``A^T y / m``, the
    course's ``(1/m) sum_i y_i A_i``. With this 1/m scale of A its mean is ``M* / m^2``, not M*
    (``E[y_i A_i] = M* / m^2``): a positive multiple, so its singular vectors, which are all
    the spectral initialization uses, are those of the unbiased ``m sum_i y_i A_i``.
    """

    task = "ms"

    def __init__(self, target, m, generator, device, dtype):
        super().__init__(target, device, dtype)
        self.m = m
        n_numbers = m * self.d * self.d
        try:
            operator = torch.randn(m, self.d * self.d, generator=generator, dtype=torch.float64)
            operator /= m
            self.operator = operator.to(device=self.device, dtype=self.dtype)
        except (RuntimeError, MemoryError) as exc:
            gigabytes = n_numbers * 8 / 1e9
            raise ValueError(
                f"the sensing operator needs m*d^2 = {n_numbers:,} numbers ({gigabytes:.2f} GB in "
                f"float64), which does not fit here: lower m or d ({exc.__class__.__name__})"
            ) from None
        del operator
        self.measurements = self.operator @ self.target.reshape(-1)

    @property
    def data_entries(self) -> int:
        return self.operator.numel()

    @property
    def operator_bytes(self) -> int:
        """Memory of the stored operator, the main cost of sensing."""
        return self.operator.numel() * self.operator.element_size()

    def parts_and_gradient(self, end_to_end):
        residual = torch.mv(self.operator, end_to_end.reshape(-1)) - self.measurements
        gradient = torch.mv(self.operator.T, residual).reshape(self.d, self.d)
        parts = torch.stack([torch.dot(residual, residual), self.recovery_error(end_to_end)])
        return parts, gradient

    def loss_and_error(self, parts):
        """From ``(||A vec(W) - y||^2, recovery error)``."""
        return 0.5 * parts[0], parts[1]

    def surrogate(self):
        return torch.mv(self.operator.T, self.measurements).reshape(self.d, self.d) / self.m

    def settings(self):
        return {**super().settings(), "m": self.m}


def make_problem(
    task: str = "mf",
    d: int | None = None,
    r: int = 10,
    *,
    p: float = 0.3,
    m: int = 2000,
    seed: int = 0,
    target=None,
    singular_values=None,
    device="cpu",
    dtype=None,
) -> RecoveryProblem:
    """Build a factorization (``'mf'``), completion (``'mc'``) or sensing (``'ms'``) problem.

    The target is the spread-spectrum rank-r matrix drawn from ``seed`` unless ``target`` (a d x d
    matrix) or ``singular_values`` (with random singular vectors) is given. Completion observes
    ``floor(p d^2)`` entries; sensing takes ``m`` Gaussian measurements. ``d`` defaults to 100,
    or to the size of a given target. Observations are drawn
    after the target from the same seeded generator.
    """
    check_choice("task", task, TASKS)
    seed = check_int("seed", seed, low=0)
    if target is None:
        d = check_int("d", 100 if d is None else d, low=2)
    if target is None and singular_values is None:
        check_int("r", r, low=1, high=d // 2)
    resolve_dtype(dtype, resolve_device(device))
    if task == "mc":
        p = check_float("p", p, low=0.0, high=1.0, low_open=True)
    if task == "ms":
        m = check_int("m", m, low=1)
    target_matrix = _resolve_target(d, r, seed, target, singular_values)
    observation_generator = make_generator(seed + 1)
    if task == "mf":
        return MatrixFactorization(target_matrix, device, dtype)
    if task == "mc":
        return MatrixCompletion(target_matrix, p, observation_generator, device, dtype)
    return MatrixSensing(target_matrix, m, observation_generator, device, dtype)


def course_learning_rate(d: int) -> float:
    """``lr = 50 (d/100)^(4/3)`` for the core's mean MF loss: the course's lr = 50 at d = 100.

    The scaling keeps ``eta = lr / d^2`` times the target's largest singular value (about
    ``2 sqrt(d)``) to the power ``4/3`` constant, so small demo problems train as fast and as
    stably as the reference one (see ``benchmarks/``).
    """
    return 50.0 * (check_int("d", d, low=2) / 100) ** (4 / 3)
