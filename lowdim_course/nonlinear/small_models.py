"""Small seeded classifiers for MNIST-1D's 40-sample signals, and their weight matrices.

Greydanus & Kobak, "Scaling down deep learning with MNIST-1D" (ICML 2024), Sec. 2 and Table 1
use an MLP and a small 1-D convolutional network on the same 40-feature signals; these are the
course's versions, small enough to train in seconds on one CPU thread:

* ``"mlp"``: ``x -> ReLU(A_1 x + a_1) -> ... -> ReLU(A_depth h + a_depth) -> C h + c``, every
  hidden layer ``width`` wide (depth 2, width 100 is the 40-100-100-10 MLP);
* ``"cnn"``: ``depth`` Conv1d layers of ``width`` channels (kernel 5, stride 2, padding 1, each
  followed by a ReLU; 40 -> 19 -> 9 -> 4 positions for depth 3) and a linear head on the
  flattened channels.

**Initialization.** He-normal weights scaled by ``init_scale``: a hidden layer's entries are
``init_scale * N(0, 2 / fan_in)``, the head's ``init_scale * N(0, 1 / fan_in)`` (fan_in: the
inputs of one output unit, ``in_channels * kernel`` for a convolution); biases start at zero.
Everything is drawn in float64 on the CPU from ``seed`` and then moved to the dtype, so a seed
gives the same network in float32 and float64, on any machine.

**A layer's weight matrix.** :func:`weight_matrices` reads every layer's weight as a matrix
with one row per output unit: a linear layer's ``out x in`` weight as it is, a convolution's
``out_channels x in_channels x kernel`` weight as the ``out_channels x (in_channels kernel)``
matrix that multiplies each window of the input (the convolution is that matrix applied at
every position). Its update ``W_t - W_0`` is what :mod:`update_geometry` measures.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..random_matrices import make_generator
from ..validation import check_choice, check_float, check_int

ARCHITECTURES = ("mlp", "cnn")
N_FEATURES, N_CLASSES = 40, 10
KERNEL, STRIDE, PADDING = 5, 2, 1
MAX_WIDTH = 1024
MAX_DEPTH = 4  # a depth-4 convolution stack leaves 1 position of the 40: the deepest that fits


def conv_lengths(depth: int, length: int = N_FEATURES) -> list[int]:
    """The signal's length after each convolution: ``floor((n + 2 pad - kernel) / stride) + 1``."""
    lengths = []
    for _ in range(depth):
        length = (length + 2 * PADDING - KERNEL) // STRIDE + 1
        lengths.append(length)
    return lengths


class SmallNet(nn.Module):
    """A stack of ReLU layers (linear or Conv1d) and a linear head; ``layers`` input side first."""

    def __init__(self, architecture: str, layers: list[nn.Module], head: nn.Linear):
        super().__init__()
        self.architecture = architecture
        self.layers = nn.ModuleList(layers)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.architecture == "cnn":
            x = x.unsqueeze(1)  # one input channel
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.head(x.flatten(1))

    def named_weights(self) -> dict[str, nn.Parameter]:
        """The weight of every layer, named ``"layer 1"``, ..., ``"head"`` (input side first)."""
        named = {f"layer {i + 1}": layer.weight for i, layer in enumerate(self.layers)}
        named["head"] = self.head.weight
        return named

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def build_small_model(
    architecture: str = "mlp",
    *,
    width: int = 100,
    depth: int = 2,
    init_scale: float = 1.0,
    seed: int = 0,
    dtype=torch.float64,
) -> SmallNet:
    """An MLP or a 1-D CNN for MNIST-1D (40 features, 10 classes), drawn from ``seed``.

    ``width``: hidden units (MLP) or channels (CNN) per layer, 1..1024; ``depth``: hidden layers
    (MLP) or convolutions (CNN), 1..4; ``init_scale``: multiplies every He-normal weight (1 is
    He's scale; biases start at 0).
    """
    check_choice("architecture", architecture, ARCHITECTURES)
    width = check_int("width", width, low=1, high=MAX_WIDTH)
    depth = check_int("depth", depth, low=1, high=MAX_DEPTH)
    init_scale = check_float("init_scale", init_scale, low=0.0, high=100.0, low_open=True)
    seed = check_int("seed", seed, low=0)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
    generator = make_generator(seed)

    def draw(shape, fan_in, gain):
        weight = torch.randn(*shape, generator=generator, dtype=torch.float64)
        return (init_scale * math.sqrt(gain / fan_in) * weight).to(dtype)

    layers = []
    if architecture == "mlp":
        fan_in = N_FEATURES
        for _ in range(depth):
            layer = nn.Linear(fan_in, width, dtype=dtype)
            _set(layer, draw((width, fan_in), fan_in, 2.0))
            layers.append(layer)
            fan_in = width
        head_in = width
    else:
        channels = 1
        for _ in range(depth):
            layer = nn.Conv1d(channels, width, KERNEL, STRIDE, PADDING, dtype=dtype)
            _set(layer, draw((width, channels, KERNEL), channels * KERNEL, 2.0))
            layers.append(layer)
            channels = width
        head_in = width * conv_lengths(depth)[-1]
    head = nn.Linear(head_in, N_CLASSES, dtype=dtype)
    _set(head, draw((N_CLASSES, head_in), head_in, 1.0))
    return SmallNet(architecture, layers, head)


def _set(layer: nn.Module, weight: torch.Tensor) -> None:
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.zero_()


def as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A layer's weight as a matrix: ``out x in`` as it is, ``out x in x kernel`` reshaped to
    ``out x (in kernel)`` (the matrix a convolution applies to each input window)."""
    if weight.ndim == 2:
        return weight
    if weight.ndim == 3:
        return weight.reshape(weight.shape[0], -1)
    raise ValueError(f"weight must be 2-D or 3-D (a Conv1d weight), got {weight.ndim} dimension(s)")


def weight_matrices(model: SmallNet) -> dict[str, torch.Tensor]:
    """Every layer's weight as a detached float64 CPU matrix (:func:`as_matrix`), input side
    first; a copy, so training the model afterwards leaves it unchanged."""
    if not isinstance(model, SmallNet):
        raise ValueError(f"model must be a SmallNet (see build_small_model), got {model!r}")
    return {
        name: as_matrix(w.detach()).to("cpu", torch.float64, copy=True)
        for name, w in model.named_weights().items()
    }
