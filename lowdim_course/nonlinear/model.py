"""The three classifiers: MLP, MLP with a deep linear block, MLP with the compressed block."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..networks import spectral_init
from ..random_matrices import make_generator, random_orthogonal
from ..validation import (
    check_choice,
    check_int,
    check_positive,
)
from .data import ClassificationData
from .settings import DEFAULTS, KINDS


class BlockMLP(nn.Module):
    """ReLU MLP ``phi``, an optional bias-free linear block, and a linear output layer.

    ``forward(x) = output(block(phi(x)))`` with ``block(z) = W_L ... W_1 z`` (identity when the
    block is empty, the plain MLP).
    """

    def __init__(
        self, hidden: list[nn.Linear], block: list[nn.Linear], output: nn.Linear, kind: str
    ):
        super().__init__()
        self.hidden = nn.ModuleList(hidden)
        self.block = nn.ModuleList(block)
        self.output = output
        self.kind = kind

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``phi(x)``: the last ReLU layer's output, what the block receives."""
        for layer in self.hidden:
            x = torch.relu(layer(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.features(x)
        for layer in self.block:
            z = layer(z)
        return self.output(z)

    @property
    def depth(self) -> int:
        """Number of layers in the linear block (0 for the plain MLP)."""
        return len(self.block)

    def block_layers(self) -> list[torch.Tensor]:
        """The block's weights ``[W_1, ..., W_L]`` (input side first)."""
        return [layer.weight for layer in self.block]

    def block_end_to_end(self) -> torch.Tensor:
        """``W_{L:1} = W_L ... W_1`` (w x w); the identity for the plain MLP."""
        width = self.output.in_features
        product = torch.eye(width, dtype=self.output.weight.dtype, device=self.output.weight.device)
        with torch.no_grad():
            for layer in self.block:
                product = layer.weight @ product
        return product

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @property
    def block_params(self) -> int:
        return sum(layer.weight.numel() for layer in self.block)


def dln_block_param_count(width: int, depth: int) -> int:
    """``L w^2``: the full-width block's parameters."""
    return check_int("depth", depth, low=2) * check_int("width", width, low=1) ** 2


def cdln_block_param_count(width: int, r_hat: int, depth: int) -> int:
    """``2 w r_hat + (L-2) r_hat^2``: the compressed block's parameters (as networks.py)."""
    width = check_int("width", width, low=1)
    r_hat = check_int("r_hat", r_hat, low=1, high=width)
    depth = check_int("depth", depth, low=2)
    return 2 * width * r_hat + (depth - 2) * r_hat**2


def _linear(weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Linear:
    out_features, in_features = weight.shape
    layer = nn.Linear(
        in_features, out_features, bias=bias is not None, device=weight.device, dtype=weight.dtype
    )
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    return layer


def _base_layers(n_features, n_classes, width, hidden_layers, seed, device, dtype):
    """The hidden and output layers every model shares: He-normal weights, zero biases.

    ``A_j ~ N(0, 2 / fan_in)`` (ReLU layers), ``C ~ N(0, 1 / w)``, drawn from ``seed`` in float64
    on the CPU, so the three models start from the same MLP.
    """
    generator = make_generator(seed)
    hidden, fan_in = [], n_features
    for _ in range(hidden_layers):
        weight = torch.randn(width, fan_in, generator=generator, dtype=torch.float64)
        weight = weight * math.sqrt(2.0 / fan_in)
        hidden.append(
            _linear(weight.to(device, dtype), torch.zeros(width, device=device, dtype=dtype))
        )
        fan_in = width
    weight = torch.randn(n_classes, width, generator=generator, dtype=torch.float64)
    weight = weight / math.sqrt(width)
    output = _linear(weight.to(device, dtype), torch.zeros(n_classes, device=device, dtype=dtype))
    return hidden, output


def block_surrogate(model: BlockMLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``S = -dl/dB at B = 0 = C^T (Y - P)^T Phi / n``: the compressed block's surrogate.

    ``l(B) = mean_i CE(C B phi(x_i) + c, y_i)`` is the training loss as a function of the block's
    end-to-end matrix B (w x w), every other layer fixed. At ``B = 0`` the logits are ``c`` for
    every sample, ``P = softmax(c)`` (one row per sample), and the chain rule gives the formula
    (Phi: n x w features, Y: n x K one-hot labels, C: K x w output weights). For deep matrix
    factorization, completion and sensing the same definition gives, up to a positive factor,
    the course's surrogates ``M*``, ``P_Omega(M*)/p`` and ``(1/m) sum y_i A_i``.
    """
    if not isinstance(model, BlockMLP):
        raise ValueError(f"model must be a BlockMLP (see build_model), got {model!r}")
    with torch.no_grad():
        features = model.features(x)
        n_classes = model.output.out_features
        logits = model.output.bias.expand(features.shape[0], n_classes)
        residual = torch.nn.functional.one_hot(y, n_classes).to(features.dtype)
        residual = residual - torch.softmax(logits, dim=1)
        return model.output.weight.T @ residual.T @ features / features.shape[0]


def compressed_block_layers(
    surrogate, r_hat: int, depth: int = 3, eps: float = 1.0, completion_seed: int = 0
):
    """The compressed block ``[W_1, ..., W_L]``: spectral init from the surrogate (Sec. 3.2).

    ``W_1 = eps V_hat^T`` (r_hat x w), ``W_l = eps I_{r_hat}``, ``W_L = eps U_hat`` (w x r_hat)
    with ``surrogate = U Sigma V^T``; :func:`lowdim_course.networks.spectral_init`. The surrogate
    has rank at most ``K - 1``: with ``r_hat`` above it, the other columns are seeded directions
    orthogonal to the top ones (``completion_seed``), not whatever null-space basis the SVD's
    rounding gives (:func:`lowdim_course.networks.spectral_bases`).
    """
    return spectral_init(surrogate, r_hat, depth, eps, completion_seed)


def build_model(
    kind: str,
    data: ClassificationData,
    *,
    width: int = DEFAULTS["width"],
    depth: int = DEFAULTS["depth"],
    r_hat: int = DEFAULTS["r_hat"],
    eps: float = DEFAULTS["eps"],
    hidden_layers: int = DEFAULTS["hidden_layers"],
    seed: int = DEFAULTS["seed"],
) -> BlockMLP:
    """One of the three classifiers, on ``data``'s device and dtype.

    All three share the hidden and output layers drawn from ``seed``. ``"dln"`` adds
    ``W_l = eps O_l`` (Haar orthogonal, drawn from ``seed + 1``); ``"cdln"`` adds the compressed
    block with spectral init from :func:`block_surrogate` on the training set (``r_hat`` in
    [1, width]; columns beyond the surrogate's rank drawn from ``seed + 1``, like the full
    block's layers). ``depth`` is the block's number of layers (>= 2).
    """
    check_choice("kind", kind, KINDS)
    if not isinstance(data, ClassificationData):
        raise ValueError(
            "data must be ClassificationData (see load_digits_data, load_mnist1d_data), "
            f"got {data!r}"
        )
    width = check_int("width", width, low=1)
    depth = check_int("depth", depth, low=2)
    if kind == "cdln":
        r_hat = check_int("r_hat", r_hat, low=1, high=width)
    eps = check_positive("eps", eps)
    hidden_layers = check_int("hidden_layers", hidden_layers, low=1)
    seed = check_int("seed", seed, low=0)
    device, dtype = data.x_train.device, data.x_train.dtype
    hidden, output = _base_layers(
        data.n_features, data.n_classes, width, hidden_layers, seed, device, dtype
    )
    model = BlockMLP(hidden, [], output, kind)
    if kind == "dln":
        generator = make_generator(seed + 1)
        weights = [eps * random_orthogonal(width, generator) for _ in range(depth)]
        model.block = nn.ModuleList(_linear(w.to(device, dtype), None) for w in weights)
    elif kind == "cdln":
        surrogate = block_surrogate(model, data.x_train, data.y_train)
        weights = compressed_block_layers(surrogate, r_hat, depth, eps, completion_seed=seed + 1)
        model.block = nn.ModuleList(_linear(w, None) for w in weights)
    return model
