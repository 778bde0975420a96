"""Deep linear networks: the original (full width) and the compressed (width r_hat) one.

A network is a list of layers ``W_1, ..., W_L`` (input side first) whose end-to-end map is
``W_{L:1} = W_L ... W_1``. Gradients are written by hand (Kwon et al. 2024, Sec. 2): for a loss
``l(W_{L:1})`` with gradient ``G = grad l``,

    ``grad_{W_l} = (W_L ... W_{l+1})^T  G  (W_{l-1} ... W_1)^T``,

computed in one backward sweep over the prefix products, so a step costs O(L) matrix products
and no autograd graph. ``tests/test_networks.py`` checks it against autograd.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import torch

from .random_matrices import gaussian, make_generator, random_orthogonal
from .validation import (
    check_choice,
    check_int,
    check_matrix,
    check_positive,
    resolve_device,
    resolve_dtype,
)

INITS = ("orthogonal", "gaussian")


@dataclass
class Workspace:
    """Preallocated outputs of one training step, reused every step (``network.workspace()``).

    ``prefix[i]``: ``W_{i+2} ... W_1`` (the last one receives the end-to-end matrix, or the
    problem's residual computed from it); ``gradient[l]``: layer l's gradient (``gradient[0]``
    is None: the first layer's gradient is the last backward product itself); ``back[i]``:
    ``B_{i+1} = W_{i+2}^T B_{i+2}`` of the backward sweep. ``layers_t[l]`` and ``lower_t[l]`` are
    transposed views of layer l and of the prefix product ``W_{l:1}`` (``lower_t[0]`` is
    ``W_1^T``), made once: at d = 100 making a view costs about 0.6 us, 1% of a compressed step,
    and the step would make four. ``lower`` holds the tensors the views belong to.
    """

    prefix: list[torch.Tensor]
    gradient: list[torch.Tensor | None]
    back: list[torch.Tensor]
    lower: list[torch.Tensor] = field(default_factory=list)
    layers_t: list[torch.Tensor] = field(default_factory=list)
    lower_t: list[torch.Tensor] = field(default_factory=list)


class DeepLinearNetwork:
    """Layers ``W_1 .. W_L`` with ``W_l`` of shape ``(widths[l], widths[l-1])``."""

    def __init__(self, layers, kind: str = "custom"):
        layers = [torch.as_tensor(w).contiguous() for w in layers]  # row-major, always
        if len(layers) < 2:
            raise ValueError(f"depth must be >= 2 layers, got {len(layers)}")
        for lower, upper in itertools.pairwise(layers):
            if lower.ndim != 2 or upper.ndim != 2 or upper.shape[1] != lower.shape[0]:
                raise ValueError(
                    "layers do not chain: each W_{l+1} must have as many columns as W_l has rows"
                )
        self.layers = layers
        self.kind = kind

    @property
    def depth(self) -> int:
        return len(self.layers)

    @property
    def widths(self) -> list[int]:
        """``[d_in, width_1, ..., d_out]``."""
        return [self.layers[0].shape[1]] + [w.shape[0] for w in self.layers]

    @property
    def num_params(self) -> int:
        return sum(w.numel() for w in self.layers)

    @property
    def device(self) -> torch.device:
        return self.layers[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].dtype

    def prefix_products(self, out: Workspace | None = None) -> list[torch.Tensor]:
        """``[W_1, W_2 W_1, ..., W_L ... W_1]``; the last one is the end-to-end matrix.

        ``out`` (from ``workspace()``) receives the L-1 products instead of new tensors.
        """
        products = self.lower_products(out)
        target = None if out is None else out.prefix[-1]
        products.append(torch.mm(self.layers[-1], products[-1], out=target))
        return products

    def lower_products(self, out: Workspace | None = None) -> list[torch.Tensor]:
        """``[W_1, W_2 W_1, ..., W_{L-1} ... W_1]``: the prefix products without the last.

        They are all a gradient step needs besides ``G``: the training loop hands ``W_L`` and
        ``W_{L-1:1}`` to the problem, which folds the last product into its residual.
        """
        products = [self.layers[0]]
        for index in range(1, self.depth - 1):
            target = None if out is None else out.prefix[index - 1]
            products.append(torch.mm(self.layers[index], products[-1], out=target))
        return products

    def end_to_end(self) -> torch.Tensor:
        """``W_{L:1} = W_L ... W_1``."""
        return self.prefix_products()[-1]

    def layer_gradients(
        self, prefix_products, end_to_end_gradient, out: Workspace | None = None
    ) -> list[torch.Tensor]:
        """Gradients of every layer given ``G``, the loss gradient at the end-to-end matrix.

        Backward sweep: ``B_L = G``, ``grad_l = B_l (W_{l-1:1})^T``, ``B_{l-1} = W_l^T B_l``,
        and ``grad_1 = B_1``. Only the first L-1 prefix products are read, so
        ``lower_products()`` will do as well as ``prefix_products()``.
        """
        gradients = [None] * self.depth
        back = end_to_end_gradient
        for index in range(self.depth - 1, 0, -1):
            grad_out = None if out is None else out.gradient[index]
            back_out = None if out is None else out.back[index - 1]
            gradients[index] = torch.mm(back, prefix_products[index - 1].T, out=grad_out)
            back = torch.mm(self.layers[index].T, back, out=back_out)
        gradients[0] = back
        return gradients

    def descend(
        self,
        prefix_products,
        end_to_end_gradient,
        rates,
        weight_decay=0.0,
        out: Workspace | None = None,
    ) -> None:
        """One gradient-descent update of every layer, fused into the backward sweep.

        ``W_l <- (1 - lr_l lambda) W_l - lr_l grad_{W_l}``, with the gradients of
        ``layer_gradients``. Each layer is updated by one ``addmm_`` as soon as its gradient's
        factors are known, after ``B_{l-1} = W_l^T B_l`` has used its old value: the step
        costs the same products as ``layer_gradients`` and no gradient tensor is stored.
        """
        back = end_to_end_gradient
        for index in range(self.depth - 1, 0, -1):
            layer, rate = self.layers[index], rates[index]
            lower = prefix_products[index - 1]
            if out is None:
                layer_t, lower_t, back_out = layer.T, lower.T, None
            else:
                layer_t, back_out = out.layers_t[index], out.back[index - 1]
                lower_t = out.lower_t[index - 1] if lower is out.lower[index - 1] else lower.T
            lower_back = torch.mm(layer_t, back, out=back_out)
            layer.addmm_(back, lower_t, beta=1 - rate * weight_decay, alpha=-rate)
            back = lower_back
        first, rate = self.layers[0], rates[0]
        if weight_decay:
            first.mul_(1 - rate * weight_decay)
        first.add_(back, alpha=-rate)

    def workspace(self) -> Workspace:
        """Preallocated outputs for ``prefix_products``, ``layer_gradients`` and ``descend``.

        A training step writes into the same buffers every time: at d = 100 allocating the
        output of each product costs about as much as a third of the product itself.
        """
        d_in = self.widths[0]

        def empty(rows, cols):
            return torch.empty(rows, cols, device=self.device, dtype=self.dtype)

        prefix = [empty(w.shape[0], d_in) for w in self.layers[1:]]
        lower = [self.layers[0], *prefix[:-1]]  # what lower_products(out) returns
        return Workspace(
            prefix=prefix,
            gradient=[None] + [empty(*w.shape) for w in self.layers[1:]],
            back=[empty(w.shape[1], d_in) for w in self.layers[1:]],
            lower=lower,
            layers_t=[w.T for w in self.layers],
            lower_t=[p.T for p in lower],
        )

    def clone(self) -> DeepLinearNetwork:
        return DeepLinearNetwork([w.clone() for w in self.layers], self.kind)

    def to(self, device=None, dtype=None) -> DeepLinearNetwork:
        return DeepLinearNetwork([w.to(device=device, dtype=dtype) for w in self.layers], self.kind)

    def __repr__(self) -> str:
        shapes = " -> ".join(str(w) for w in self.widths)
        return (
            f"DeepLinearNetwork({self.kind}, depth={self.depth}, widths {shapes}, "
            f"{self.num_params:,} parameters)"
        )


def original_param_count(d: int, depth: int) -> int:
    """``L d^2``: every layer of the original network is d x d."""
    return depth * d * d


def compressed_param_count(d: int, r_hat: int, depth: int) -> int:
    """``2 d r_hat + (L - 2) r_hat^2``: two d x r_hat end layers, L-2 r_hat x r_hat middles."""
    return 2 * d * r_hat + (depth - 2) * r_hat * r_hat


def original_network(
    d: int,
    depth: int = 3,
    eps: float = 1e-2,
    *,
    init: str = "orthogonal",
    seed: int = 0,
    device="cpu",
    dtype=None,
) -> DeepLinearNetwork:
    """The original DLN: L layers of size d x d, ``W_l(0) = eps O_l`` with O_l Haar orthogonal.

    ``init='gaussian'`` draws N(0, 1/d) entries instead, scaled by eps, so each layer has the
    same expected Frobenius norm ``eps sqrt(d)`` as the orthogonal one.
    """
    d = check_int("d", d, low=1)
    depth = check_int("depth", depth, low=2)
    eps = check_positive("eps", eps)
    check_choice("init", init, INITS)
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    generator = make_generator(seed)
    if init == "orthogonal":
        layers = [eps * random_orthogonal(d, generator) for _ in range(depth)]
    else:
        layers = [eps * gaussian(d, d, generator) / d**0.5 for _ in range(depth)]
    return DeepLinearNetwork([w.to(device=device, dtype=dtype) for w in layers], "original")


def rank_above_rounding(singular_values: torch.Tensor) -> int:
    """How many singular values exceed ``sqrt(machine eps) * sigma_1``: a rank rounding can't move.

    The threshold (1.5e-8 relative in float64, 3.5e-4 in float32) sits far above the rounding
    of a zero singular value (about 1e-16 relative in float64) and far below the singular values
    of the course's surrogates, so a perturbation of the matrix by 1e-12 (the size of the
    differences between two processors' BLAS) cannot change the count.
    """
    if singular_values.numel() == 0 or singular_values[0] <= 0:
        return 0
    tolerance = torch.finfo(singular_values.dtype).eps ** 0.5 * singular_values[0]
    return int((singular_values > tolerance).sum())


def _fix_signs(u: torch.Tensor, vh: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip each singular pair ``(u_k, v_k)`` so that ``v_k``'s largest entry is positive.

    LAPACK, MKL and cuSOLVER may return ``(-u_k, -v_k)``; one convention makes the layers the
    same on every machine. The product ``u_k v_k^T`` does not change.
    """
    largest = vh.abs().argmax(dim=1, keepdim=True)
    signs = torch.sign(vh.gather(1, largest))
    signs[signs == 0] = 1
    return u * signs.T, vh * signs


def _seeded_completion(basis: torch.Tensor, count: int, generator) -> torch.Tensor:
    """``count`` orthonormal columns orthogonal to ``basis`` (n x k), drawn from ``generator``.

    A Gaussian n x count matrix, projected off ``basis`` twice (one projection leaves rounding
    of size 1e-16 along it, the second removes that), then orthonormalized by QR with the signs
    of ``diag(R)`` made positive, so that the result is a smooth function of the draw and of
    ``basis``.
    """
    draw = gaussian(basis.shape[0], count, generator).to(basis.device, basis.dtype)
    for _ in range(2):
        draw = draw - basis @ (basis.T @ draw)
    q, r = torch.linalg.qr(draw)
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1
    return q * signs


def spectral_bases(surrogate, r_hat: int, completion_seed: int = 0):
    """``(U_hat, V_hat^T, k)``: the top-r_hat singular vectors, the same on every machine.

    The first ``k = min(r_hat, rank_above_rounding)`` pairs are the surrogate's singular
    vectors, each pair's sign fixed by :func:`_fix_signs`. When ``r_hat`` exceeds that rank
    (matrix factorization with ``r_hat = 2r > r``; the nonlinear block of Lesson 06, whose
    surrogate has rank ``K - 1``), the remaining ``r_hat - k`` singular vectors belong to a zero
    singular value and are not defined by the surrogate: an SVD returns *some* basis of its null
    space, chosen by rounding, so it changes with the processor and the thread count. Here they
    are drawn instead: seeded Gaussian directions (``completion_seed``) orthogonal to the top
    ``k``, for the left and the right side, orthonormalized (:func:`_seeded_completion`).
    """
    u, singular_values, vh = torch.linalg.svd(surrogate, full_matrices=False)
    rank = min(r_hat, rank_above_rounding(singular_values))
    u_hat, vt_hat = _fix_signs(u[:, :rank], vh[:rank])
    if rank < r_hat:
        generator = make_generator(completion_seed)
        u_extra = _seeded_completion(u_hat, r_hat - rank, generator)
        v_extra = _seeded_completion(vt_hat.T, r_hat - rank, generator)
        u_hat = torch.cat([u_hat, u_extra], dim=1)
        vt_hat = torch.cat([vt_hat, v_extra.T], dim=0)
    return u_hat.contiguous(), vt_hat.contiguous(), rank


def spectral_init(
    surrogate, r_hat: int, depth: int = 3, eps: float = 1e-2, completion_seed: int = 0
):
    """Layers of the compressed network from the top-r_hat singular vectors of ``surrogate``.

    With ``surrogate = U S V^T`` (Kwon et al. 2024, Sec. 3.2):
    ``W_1 = eps V_hat^T`` (r_hat x d), ``W_l = eps I_{r_hat}`` for 1 < l < L,
    ``W_L = eps U_hat`` (d x r_hat), where U_hat, V_hat are the first r_hat columns of U, V.
    Works for any depth L >= 2 (for L = 2 there is no middle layer). Columns beyond the
    surrogate's numerical rank are seeded directions orthogonal to the others
    (``completion_seed``; :func:`spectral_bases` says why).
    """
    surrogate = check_matrix("surrogate", surrogate)
    if not surrogate.is_floating_point():
        surrogate = surrogate.to(torch.float64)
    d_out, d_in = surrogate.shape
    r_hat = check_int("r_hat", r_hat, low=1, high=min(d_out, d_in))
    depth = check_int("depth", depth, low=2)
    eps = check_positive("eps", eps)
    completion_seed = check_int("completion_seed", completion_seed, low=0)
    u_hat, vt_hat, _ = spectral_bases(surrogate, r_hat, completion_seed)
    identity = torch.eye(r_hat, dtype=surrogate.dtype, device=surrogate.device)
    middle = [eps * identity.clone() for _ in range(depth - 2)]
    return [eps * vt_hat, *middle, eps * u_hat]


def compressed_network(
    surrogate, r_hat: int, depth: int = 3, eps: float = 1e-2, *, rank: int | None = None
) -> DeepLinearNetwork:
    """The compressed DLN (C-DLN) of width r_hat with spectral initialization.

    ``rank`` (the target rank r, when known) makes ``r_hat < r`` an error: a network narrower
    than the target's rank cannot fit it. The layers live on the surrogate's device and dtype.
    """
    r_hat = check_int("r_hat", r_hat, low=1)
    if rank is not None and r_hat < rank:
        raise ValueError(f"r_hat must be >= r={rank} (the target's rank), got {r_hat}")
    return DeepLinearNetwork(spectral_init(surrogate, r_hat, depth, eps), "compressed")
