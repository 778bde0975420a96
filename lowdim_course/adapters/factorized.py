"""The update of one frozen weight matrix: full, LoRA, deep (full width) and deep compressed.

A pretrained layer ``W_0`` (m x n) is adapted to ``W_0 + Delta`` with ``Delta`` parameterized
four ways; each :class:`Adapter` holds its trainable factors and returns ``Delta``:

* ``"full"`` (full fine-tuning): ``Delta`` itself, m x n, from zero.
* ``"lora"`` (Hu et al. 2022, LoRA): ``Delta = B A`` with ``A`` (r x n) Gaussian,
  ``N(0, 1/n)``, and ``B`` (m x r) zero, so that ``Delta(0) = 0``.
* ``"deep"`` (Yaras et al. 2024's overparameterized three-layer factorization, uncompressed):
  ``Delta = W_3 W_2 W_1`` of width ``w = max(m, n)``, ``W_1`` w x n, ``W_2`` w x w, ``W_3``
  m x w, each ``eps`` times a Haar-random matrix with orthonormal columns or rows. Its
  ``Delta(0) = eps^3 O`` with ``O = W_3 W_2 W_1 / eps^3``: of size 1e-9 at ``eps = 1e-3``.
* ``"deep_compressed"`` (their Deep LoRA): ``Delta = L M_3 M_2 M_1 R^T`` with ``L`` (m x r) and
  ``R`` (n x r) fixed and the ``r x r`` factors ``M_l(0) = eps I`` trained, built from the
  full-width factorization's start and the loss's gradient ``G`` (m x n) with respect to
  ``Delta`` (:func:`compressed_deep_start`).

**Why the compressed one loses nothing** (Yaras et al. 2024, their theorem for deep matrix
factorization; Kwon et al. 2024, Sec. 3, for the same invariance): when each layer starts as
``eps`` times an orthogonal matrix and the loss's gradient keeps its column and row spaces in
a fixed subspace of dimension h, gradient descent changes every layer of the full-width
factorization only inside a ``2h``-dimensional subspace; the rest of each layer stays as it
started. Then ``Delta_deep(t) = L M_3 M_2 M_1 R^T + eps^3 O (I - R R^T)`` exactly, the second
term of size ``eps^3`` and outside both subspaces: training ``r = 2h`` columns is training the
whole thing. ``tests/test_adapters.py`` checks this step by step against the full-width
factorization for square layers. For a rectangular layer ``O`` has orthonormal columns or rows
only, the smaller side's ``L`` (or ``R``) is not orthonormal, and the match is approximate (as
in Yaras et al.'s code, whose outer factors are also fixed in their few-shot runs). For a network
the gradient's subspaces move during training, and the compressed adapter is then the
full-width one restricted to the subspace seen at the start.
"""

from __future__ import annotations

import math

import torch

from ..networks import spectral_bases
from ..random_matrices import gaussian, make_generator, random_orthogonal
from ..validation import check_choice, check_int, check_positive

KINDS = ("full", "lora", "deep", "deep_compressed")
DEEP_DEPTH = 3  # Deep LoRA's three factors
DEFAULT_EPS = 1e-3  # the scale of each deep factor at the start, as in Yaras et al.'s runs


def orthonormal_matrix(rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    """A Haar-random ``rows x cols`` matrix with orthonormal columns (rows >= cols) or rows."""
    square = random_orthogonal(max(rows, cols), generator)
    return square[:rows, :cols].contiguous()


class Adapter:
    """The trainable factors of one layer's update and the update they make.

    ``factors``: the tensors an optimizer trains; ``fixed``: the others (``L`` and ``R`` of the
    compressed deep adapter). ``delta()`` is the m x n update (differentiable in the factors).
    """

    def __init__(self, kind: str, shape: tuple, factors: list, fixed: list | None = None, eps=None):
        self.kind = kind
        self.shape = tuple(shape)
        self.factors = factors
        self.fixed = fixed or []
        self.eps = eps  # the deep factors' starting scale

    def __repr__(self) -> str:
        return f"Adapter({self.kind!r}, shape={self.shape}, trainable={self.trainable_parameters})"

    def delta(self) -> torch.Tensor:
        if self.kind == "full":
            return self.factors[0]
        if self.kind == "lora":
            lora_a, lora_b = self.factors
            return lora_b @ lora_a
        inner = self.factors[-1]
        for factor in reversed(self.factors[:-1]):
            inner = inner @ factor
        if self.kind == "deep":
            return inner
        left, right = self.fixed
        return left @ inner @ right.T

    @property
    def trainable_parameters(self) -> int:
        return sum(factor.numel() for factor in self.factors)


def _trainable(tensors):
    return [tensor.detach().clone().requires_grad_(True) for tensor in tensors]


def full_adapter(shape, dtype=torch.float64) -> Adapter:
    """Full fine-tuning: ``Delta`` (m x n) from zero."""
    rows, cols = _shape(shape)
    return Adapter("full", (rows, cols), _trainable([torch.zeros(rows, cols, dtype=dtype)]))


def lora_adapter(shape, rank: int, seed: int = 0, dtype=torch.float64) -> Adapter:
    """LoRA of rank r: ``Delta = B A``, ``A ~ N(0, 1/n)`` (r x n), ``B = 0`` (m x r)."""
    rows, cols = _shape(shape)
    rank = check_int("rank", rank, low=1, high=min(rows, cols))
    lora_a = gaussian(rank, cols, make_generator(seed)) / math.sqrt(cols)
    lora_b = torch.zeros(rows, rank, dtype=torch.float64)
    return Adapter("lora", (rows, cols), _trainable([t.to(dtype) for t in (lora_a, lora_b)]))


def deep_adapter(shape, eps: float = DEFAULT_EPS, seed: int = 0, dtype=torch.float64) -> Adapter:
    """The full-width three-layer factorization: ``W_l(0) = eps`` x orthonormal, width max(m, n)."""
    rows, cols = _shape(shape)
    eps = check_positive("eps", eps)
    width = max(rows, cols)
    generator = make_generator(seed)
    shapes = [(width, cols), (width, width), (rows, width)]
    layers = [eps * orthonormal_matrix(r, c, generator) for r, c in shapes]
    factors = _trainable([layer.to(dtype) for layer in layers])
    return Adapter("deep", (rows, cols), factors, eps=eps)


def compressed_deep_start(deep: Adapter, gradient: torch.Tensor, rank: int):
    """``(L, R)``: the fixed outer factors of the compressed deep adapter of width ``rank``.

    ``deep`` is the full-width factorization at its start (:func:`deep_adapter`), ``gradient``
    the loss's gradient ``G`` with respect to ``Delta`` at the pretrained weights (``Delta = 0``;
    at the full-width start, ``Delta = eps^3 O``, it differs by ``O(eps^3)``), and
    ``rank = 2h`` even. With
    ``O = W_3 W_2 W_1 / eps^3`` and ``G``'s top-h singular vectors ``U_h``, ``V_h``: on the
    larger side (n >= m: the input side) the basis is ``R = orth([V_h, O^T U_h])`` (n x 2h)
    and ``L = O R``; when m > n, ``L = orth([U_h, O V_h])`` and ``R = O^T L``. This is the
    subspace in which the full-width factorization's first update lies: the gradient's own
    directions and the images of the other side's through the starting factorization. (Yaras
    et al. build it in their code as the complement of the directions neither moves; the two
    are the same subspace.) The compressed ``Delta(0) = eps^3 O R R^T`` (or ``eps^3 L L^T O``)
    is the full-width start restricted to it.
    """
    if not isinstance(deep, Adapter) or deep.kind != "deep":
        raise ValueError(f"deep must be a full-width deep adapter (deep_adapter), got {deep!r}")
    rows, cols = deep.shape
    rank = check_int("rank", rank, low=2, high=min(rows, cols))
    if rank % 2:
        raise ValueError(f"rank must be even (half from each side of the gradient), got {rank}")
    if not isinstance(gradient, torch.Tensor) or tuple(gradient.shape) != deep.shape:
        raise ValueError(f"gradient must be a {rows} x {cols} tensor, got {gradient!r}")
    half = rank // 2
    with torch.no_grad():
        product = deep.delta() / deep.eps**DEEP_DEPTH  # O: orthonormal columns or rows
        u_top, vt_top, _ = spectral_bases(gradient.to(product.dtype), half)
        if cols >= rows:
            right = _orthonormal_basis(torch.cat([vt_top.T, product.T @ u_top], dim=1), rank)
            left = product @ right
        else:
            left = _orthonormal_basis(torch.cat([u_top, product @ vt_top.T], dim=1), rank)
            right = product.T @ left
    return left.contiguous(), right.contiguous()


def compressed_deep_adapter(
    deep: Adapter, gradient: torch.Tensor, rank: int, eps: float = DEFAULT_EPS
) -> Adapter:
    """Deep LoRA: ``Delta = L M_3 M_2 M_1 R^T``, ``M_l(0) = eps I_rank`` trained, L, R fixed."""
    eps = check_positive("eps", eps)
    left, right = compressed_deep_start(deep, gradient, rank)
    inner = [eps * torch.eye(rank, dtype=left.dtype) for _ in range(DEEP_DEPTH)]
    return Adapter("deep_compressed", deep.shape, _trainable(inner), [left, right], eps=eps)


def _orthonormal_basis(columns: torch.Tensor, rank: int) -> torch.Tensor:
    """An orthonormal basis of the span of ``columns`` (QR, ``diag(R)`` made positive)."""
    q, r = torch.linalg.qr(columns)
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return (q * signs)[:, :rank]


def _shape(shape) -> tuple[int, int]:
    if not isinstance(shape, tuple | list | torch.Size) or len(shape) != 2:
        raise ValueError(f"shape must be (rows, cols), got {shape!r}")
    return check_int("rows", shape[0], low=1), check_int("cols", shape[1], low=1)


def make_adapter(kind: str, shape, rank: int = 8, seed: int = 0, eps: float = DEFAULT_EPS):
    """One adapter of ``kind`` (not the compressed one, which needs a gradient)."""
    check_choice("kind", kind, KINDS[:3])
    if kind == "full":
        return full_adapter(shape)
    if kind == "lora":
        return lora_adapter(shape, rank, seed)
    return deep_adapter(shape, eps, seed)


def descend_on_target(adapter: Adapter, target: torch.Tensor, lr: float, steps: int) -> list:
    """Gradient descent on ``0.5 ||Delta - target||_F^2`` (deep matrix factorization's loss),
    in place on the adapter's factors; returns ``Delta`` after each step."""
    deltas = []
    for _ in range(steps):
        loss = 0.5 * (adapter.delta() - target).square().sum()
        grads = torch.autograd.grad(loss, adapter.factors)
        with torch.no_grad():
            for factor, grad in zip(adapter.factors, grads, strict=True):
                factor -= lr * grad
        deltas.append(adapter.delta().detach().clone())
    return deltas
