"""A deep linear block inside a nonlinear network, full or compressed (Kwon et al. 2024, Sec. 5).

Three classifiers on scikit-learn's handwritten digits (8 x 8 images, 64 features, 10 classes,
1,797 samples shipped inside the package: nothing is downloaded):

* ``"mlp"`` (the paper's *Original*): ``x -> ReLU(A_k ... ReLU(A_1 x)) = phi(x) in R^w ->
  logits = C phi(x) + c``, ``k = hidden_layers`` ReLU layers of width ``w``;
* ``"dln"`` (*Original + DLN*): the same network with an overparameterized **deep linear block**
  of L bias-free ``w x w`` layers inserted before the output layer,
  ``logits = C W_L ... W_1 phi(x) + c``, initialized like the course's original DLN,
  ``W_l(0) = eps O_l`` with ``O_l`` Haar orthogonal;
* ``"cdln"`` (*Original + C-DLN*): the block compressed to width ``r_hat``:
  ``W_1`` is ``r_hat x w``, ``L - 2`` middle layers ``r_hat x r_hat``, ``W_L`` is ``w x r_hat``,
  so the block has ``2 w r_hat + (L-2) r_hat^2`` parameters instead of ``L w^2``.

**How the compressed block is initialized.** The spectral initialization of
:func:`lowdim_course.networks.spectral_init` needs a surrogate matrix whose top singular vectors
point where the block's end-to-end map ``B = W_{L:1}`` will learn. For the three recovery tasks
of the course the surrogates (``M*``, ``P_Omega(M*)/p``, ``(1/m) sum_i y_i A_i``) are all
proportional to **minus the gradient of the training loss with respect to the end-to-end matrix
at zero**, ``-grad_W l(0)``. The nonlinear block uses the same definition: with every other layer
at its (shared, seeded) initialization and ``B = 0``,

    ``S = -d l / d B |_{B=0} = C^T (Y - P)^T Phi / n``

for the mean cross-entropy ``l`` over the n training samples, ``Phi`` (n x w) the features
``phi(x_i)``, ``Y`` the one-hot labels and ``P = softmax(c)`` the predictions at ``B = 0``
(:func:`block_surrogate`). ``S`` is the direction the first gradient step would move ``B``; its
rank is at most ``K - 1 = 9`` (K classes). Then ``W_1 = eps V_hat^T``, ``W_l = eps I``,
``W_L = eps U_hat`` from ``S = U Sigma V^T``. This costs one forward pass over the training set
and one SVD, and that time is counted in the compressed model's seconds.

**Learning rates.** Every layer outside the block steps with ``lr``; inside the block the
discrepant learning rate (:func:`block_learning_rates`, as optimizer parameter groups by
:func:`block_parameter_groups`): by default (``alpha_layers="first"``) the block's first layer
steps with ``alpha * lr`` and the others with ``lr``, as Kwon et al. describe their nonlinear
experiment; ``alpha_layers="ends"`` puts ``alpha`` on the first *and last* layer, as in their
matrix experiments. ``alpha`` is applied to the compressed block only; the full-width block uses
``alpha = 1`` as in the paper's original.

**What differs from the paper's FashionMNIST experiment** (Sec. 5: test accuracy about 0.902 at
about 260 s for Original + DLN, 1,250 iterations; about 0.901 at about 115 s compressed; plain MLP
about 0.89): the data set (digits: 1,797 samples of 64 features instead of 70,000 of 784, so it
fits a laptop and needs no download), the sizes (one hidden ReLU layer of width w = 128 in the
lesson, 512 in ``reproduce``, not the paper's network), the optimizer (full-batch Adam, lr 1e-3,
with a fixed seed by default; plain gradient descent and mini-batches are options), the number of
iterations (100 or 200, not 1,250), float64 on the CPU (float32 on a GPU), the discrepant rate
(alpha = 3 on the block's first layer, the value chosen by a measured sweep), and the
initialization of the compressed block (the gradient surrogate above; the paper does not spell
its construction out for this experiment).
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .files import save_figure_atomically, write_atomically
from .networks import spectral_init
from .random_matrices import make_generator, random_orthogonal
from .training import DivergenceError, cpu_threads, layer_learning_rates
from .validation import (
    check_choice,
    check_float,
    check_int,
    check_positive,
    resolve_device,
    resolve_dtype,
)

KINDS = ("mlp", "dln", "cdln")
LABELS = {"mlp": "Original (MLP)", "dln": "Original + DLN", "cdln": "Original + C-DLN"}
OPTIMIZERS = ("adam", "gd")
# Which layers of the compressed block step with alpha lr: "first" (W_1, as Kwon et al. describe
# their nonlinear experiment) or "ends" (W_1 and W_L, as in their matrix experiments).
ALPHA_LAYERS = ("first", "ends")
CLAIM_POINTS = 0.5  # the claim: the same accuracy within 0.5 points ...
CLAIM_SPEEDUP = 2.0  # ... in at least 2x less training time

# The lesson's setting (a few seconds on a laptop CPU) and the `reproduce` setting (bigger block).
DEFAULTS = {
    "width": 128,
    "depth": 3,
    "r_hat": 20,
    "eps": 1.0,
    "lr": 1e-3,
    "alpha": 3.0,
    "alpha_layers": "first",
    "steps": 100,
    "eval_every": 5,
    "hidden_layers": 1,
    "optimizer": "adam",
    "batch_size": None,
    "test_fraction": 0.25,
    "seed": 0,
}
REPRODUCE_SETTINGS = {**DEFAULTS, "width": 512, "steps": 200}


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


@dataclass
class Digits:
    """Standardized digits split into train and test tensors (labels are int64 class indices)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 10

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def to(self, device=None, dtype=None) -> Digits:
        return Digits(
            self.x_train.to(device=device, dtype=dtype),
            self.y_train.to(device=device),
            self.x_test.to(device=device, dtype=dtype),
            self.y_test.to(device=device),
            self.n_classes,
        )


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 x 64 pixel values and the labels, read once per process from scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "lesson 06 needs scikit-learn (pip install 'scikit-learn>=1.3' or the course extra)"
        ) from exc
    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float64)
    return x, torch.as_tensor(bunch.target, dtype=torch.int64)


def load_digits_data(
    test_fraction: float = 0.25, seed: int = 0, device="cpu", dtype=None
) -> Digits:
    """scikit-learn's digits, a seeded random train/test split, features standardized.

    A permutation drawn from ``seed`` puts ``floor(test_fraction n)`` samples in the test set.
    Each feature is standardized with the *training* mean and standard deviation,
    ``x <- (x - mean_train) / std_train`` (features constant on the training set, the blank
    image corners, get std 1).
    """
    test_fraction = check_float(
        "test_fraction", test_fraction, low=0.0, high=1.0, low_open=True, high_open=True
    )
    device = resolve_device(device)
    dtype = resolve_dtype(dtype, device)
    x, y = (t.clone() for t in _raw_digits())
    n = x.shape[0]
    n_test = math.floor(test_fraction * n)
    if not 1 <= n_test < n:
        raise ValueError(f"test_fraction must leave samples on both sides, got {test_fraction:g}")
    order = torch.randperm(n, generator=make_generator(seed))
    test, train = order[:n_test], order[n_test:]
    mean = x[train].mean(dim=0)
    std = x[train].std(dim=0)
    std[std == 0] = 1.0
    x = (x - mean) / std
    return Digits(x[train], y[train], x[test], y[test], int(y.max()) + 1).to(device, dtype)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


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


def compressed_block_layers(surrogate, r_hat: int, depth: int = 3, eps: float = 1.0):
    """The compressed block ``[W_1, ..., W_L]``: spectral init from the surrogate (Sec. 3.2).

    ``W_1 = eps V_hat^T`` (r_hat x w), ``W_l = eps I_{r_hat}``, ``W_L = eps U_hat`` (w x r_hat)
    with ``surrogate = U Sigma V^T``; :func:`lowdim_course.networks.spectral_init`.
    """
    return spectral_init(surrogate, r_hat, depth, eps)


def build_model(
    kind: str,
    data: Digits,
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
    [1, width]). ``depth`` is the block's number of layers (>= 2).
    """
    check_choice("kind", kind, KINDS)
    if not isinstance(data, Digits):
        raise ValueError(f"data must be Digits (see load_digits_data), got {data!r}")
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
        weights = compressed_block_layers(surrogate, r_hat, depth, eps)
        model.block = nn.ModuleList(_linear(w, None) for w in weights)
    return model


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


@dataclass
class ClassifierHistory:
    """Test accuracy (percent) and training loss at the evaluated iterations.

    ``seconds[k]`` is the compute time up to ``iterations[k]``: building the model (for the
    compressed one this includes the surrogate and its SVD) plus the training steps, without the
    time spent evaluating.
    """

    kind: str
    settings: dict = field(default_factory=dict)
    iterations: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    test_accuracy: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    num_params: int = 0
    block_params: int = 0
    setup_seconds: float = 0.0
    stopped_reason: str = "steps"

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @property
    def steps(self) -> int:
        return self.iterations[-1] if self.iterations else 0

    @property
    def final_accuracy(self) -> float:
        return self.test_accuracy[-1] if self.test_accuracy else math.nan

    @property
    def best_accuracy(self) -> float:
        return max(self.test_accuracy) if self.test_accuracy else math.nan

    @property
    def seconds_per_step(self) -> float:
        """Mean training seconds per step (setup excluded)."""
        if not self.steps:
            return math.nan
        return (self.seconds[-1] - self.setup_seconds) / self.steps

    def first_reaching(self, accuracy: float) -> int | None:
        """Index of the first evaluation with test accuracy >= ``accuracy`` (None if never)."""
        return next((k for k, a in enumerate(self.test_accuracy) if a >= accuracy - 1e-9), None)

    def iterations_to(self, accuracy: float) -> int | None:
        index = self.first_reaching(accuracy)
        return None if index is None else self.iterations[index]

    def seconds_to(self, accuracy: float) -> float | None:
        index = self.first_reaching(accuracy)
        return None if index is None else self.seconds[index]

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "label": self.label,
            "params": self.num_params,
            "block_params": self.block_params,
            "steps": self.steps,
            "final_test_accuracy": self.final_accuracy,
            "best_test_accuracy": self.best_accuracy,
            "seconds": self.seconds[-1] if self.seconds else math.nan,
            "setup_seconds": self.setup_seconds,
            "seconds_per_step": self.seconds_per_step,
            "iterations": list(self.iterations),
            "curve_seconds": list(self.seconds),
            "test_accuracy": list(self.test_accuracy),
            "train_loss": list(self.train_loss),
        }


class _Trainer:
    """One model's optimizer and its step; ``step()`` returns the loss before the update."""

    def __init__(
        self, model, data, lr, alpha, alpha_layers, optimizer, batch_size, seed, divergence_factor
    ):
        self.model, self.data = model, data
        groups = [
            {"params": [p for layer in model.hidden for p in layer.parameters()], "lr": lr},
            {"params": list(model.output.parameters()), "lr": lr},
        ]
        if model.depth:
            groups += block_parameter_groups(model.block_layers(), lr, alpha, alpha_layers)
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(groups)
        else:
            self.optimizer = torch.optim.SGD(groups)
        self.batch_size = batch_size
        self.generator = make_generator(seed + 2)
        self.order, self.position = None, 0
        self.initial_loss = None
        self.divergence_factor = divergence_factor
        self.settings = {"lr": lr, "alpha": alpha}

    def _batch(self):
        x, y = self.data.x_train, self.data.y_train
        if self.batch_size is None or self.batch_size >= x.shape[0]:
            return x, y
        if self.order is None or self.position + self.batch_size > x.shape[0]:
            self.order = torch.randperm(x.shape[0], generator=self.generator).to(x.device)
            self.position = 0
        index = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return x[index], y[index]

    def step(self, iteration: int) -> float:
        x, y = self._batch()
        self.optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        value = float(loss.detach())
        if self.initial_loss is None:
            self.initial_loss = value
        exploded = value > self.divergence_factor * self.initial_loss
        if not math.isfinite(value) or exploded:
            raise DivergenceError(
                f"training of {LABELS[self.model.kind]} diverged at step {iteration}: the loss "
                f"became {value:.3g} (it started at {self.initial_loss:.3g}); lower the learning "
                f"rate (lr={self.settings['lr']:g}, alpha={self.settings['alpha']:g})"
            )
        return value


def block_learning_rates(
    depth: int, lr: float, alpha: float = 1.0, alpha_layers: str = "first"
) -> list[float]:
    """The block's per-layer rates, input side first.

    ``alpha_layers="first"``: ``[alpha lr, lr, ..., lr]``, the discrepant rate on the block's
    first layer only, as Kwon et al. (2024, Sec. 5) describe their nonlinear experiment.
    ``"ends"``: ``[alpha lr, lr, ..., lr, alpha lr]``, first and last layer, as in their matrix
    experiments (``training.layer_learning_rates``).
    """
    check_choice("alpha_layers", alpha_layers, ALPHA_LAYERS)
    rates = layer_learning_rates(depth, lr, alpha)
    if alpha_layers == "first":
        rates[-1] = lr
    return rates


def block_parameter_groups(
    block_weights, lr: float, alpha: float = 1.0, alpha_layers: str = "first"
) -> list[dict]:
    """One optimizer parameter group per block layer, ``{"params": [W_l], "lr": rate_l}``.

    The rates are :func:`block_learning_rates`: the discrepant learning rate of Kwon et al.
    (2024, Sec. 3.2) as parameter groups of one optimizer, so that Adam (or SGD) steps the
    block's first layer with ``alpha lr`` and the others with ``lr``.
    """
    block_weights = list(block_weights)
    rates = block_learning_rates(len(block_weights), lr, alpha, alpha_layers)
    return [{"params": [w], "lr": rate} for w, rate in zip(block_weights, rates, strict=True)]


def train_block_on_features(
    block,
    head: nn.Linear,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    lr: float = DEFAULTS["lr"],
    alpha: float = DEFAULTS["alpha"],
    steps: int = DEFAULTS["steps"],
    alpha_layers: str = DEFAULTS["alpha_layers"],
) -> list[float]:
    """Train a linear block and the output layer in place on fixed features; the losses.

    ``logits = head(W_L ... W_1 features)`` with ``block = [W_1, ..., W_L]`` (``nn.Linear``
    layers, input side first), mean cross-entropy, full-batch Adam (default betas and eps) with
    the block's layers at :func:`block_learning_rates` (``alpha lr`` on the first layer for
    ``alpha_layers="first"``, Kwon et al. 2024, Sec. 5) and the head at ``lr``. Each step clears
    the gradients, computes the loss, backpropagates and steps. Returns the ``steps`` losses, each
    taken before its step. The features stay fixed (the ReLU layers are not trained): this is
    the part of ``train_models``' C-DLN step that the discrepant rate acts on.
    """
    block = list(block)
    if len(block) < 2 or not all(isinstance(layer, nn.Linear) for layer in block):
        raise ValueError(f"block must hold at least 2 nn.Linear layers, got {block!r}")
    if not isinstance(head, nn.Linear):
        raise ValueError(f"head must be an nn.Linear, got {head!r}")
    lr = check_positive("lr", lr)
    alpha = check_positive("alpha", alpha)
    steps = check_int("steps", steps, low=0)
    groups = block_parameter_groups([layer.weight for layer in block], lr, alpha, alpha_layers)
    optimizer = torch.optim.Adam([*groups, {"params": list(head.parameters()), "lr": lr}])
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        hidden = features
        for layer in block:
            hidden = layer(hidden)
        loss = torch.nn.functional.cross_entropy(head(hidden), labels)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def test_accuracy(model: BlockMLP, data: Digits) -> float:
    """Percentage of test samples whose largest logit is the true class."""
    predictions = model(data.x_test).argmax(dim=1)
    return 100.0 * float((predictions == data.y_test).to(torch.float64).mean())


def train_models(
    models: dict[str, BlockMLP],
    data: Digits,
    *,
    lr: float = DEFAULTS["lr"],
    alpha: float = DEFAULTS["alpha"],
    alpha_layers: str = DEFAULTS["alpha_layers"],
    steps: int = DEFAULTS["steps"],
    eval_every: int = DEFAULTS["eval_every"],
    optimizer: str = DEFAULTS["optimizer"],
    batch_size: int | None = DEFAULTS["batch_size"],
    seed: int = DEFAULTS["seed"],
    setup_seconds: dict | None = None,
    divergence_factor: float = 1e4,
    threads: int | None = 1,
    progress: bool = False,
) -> dict[str, ClassifierHistory]:
    """Train the models side by side (one step of each in turn) and record their histories.

    Interleaving the steps means a busy machine slows every model alike, so the seconds compare.
    ``alpha`` multiplies the learning rate of the *compressed* block's first layer
    (``alpha_layers="first"``) or of its first and last (``"ends"``); a full-width block trains
    with ``alpha = 1``. Mini-batches (``batch_size``) are drawn
    from a generator seeded by ``seed``; ``None`` is full-batch. Evaluates the test accuracy at
    iteration 0 and every ``eval_every`` steps (and at the last). Raises ``DivergenceError``
    (a ValueError) when a loss is not finite or exceeds ``divergence_factor`` times its first
    value. Ctrl-C stops all models and returns what was recorded. ``threads``: CPU threads for
    the run (restored after); the default 1 is the fastest on a busy laptop for these sizes
    (two threads on a shared 2-core machine were measured up to 60x slower), ``None`` keeps
    torch's setting.
    """
    if not isinstance(models, dict) or not models:
        raise ValueError("models must be a non-empty dict name -> BlockMLP")
    lr = check_positive("lr", lr)
    alpha = check_float("alpha", alpha, low=0.0, low_open=True)
    steps = check_int("steps", steps, low=1)
    eval_every = check_int("eval_every", eval_every, low=1)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    check_choice("alpha_layers", alpha_layers, ALPHA_LAYERS)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    seed = check_int("seed", seed, low=0)
    divergence_factor = check_float("divergence_factor", divergence_factor, low=1.0, low_open=True)
    setup_seconds = setup_seconds or {}
    trainers, histories, clocks = {}, {}, {}
    for name, model in models.items():
        if not isinstance(model, BlockMLP):
            raise ValueError(f"models[{name!r}] must be a BlockMLP, got {model!r}")
        rate_factor = alpha if model.kind == "cdln" else 1.0
        trainers[name] = _Trainer(
            model, data, lr, rate_factor, alpha_layers, optimizer, batch_size, seed,
            divergence_factor,
        )  # fmt: skip
        clocks[name] = float(setup_seconds.get(name, 0.0))
        histories[name] = ClassifierHistory(
            kind=model.kind,
            settings={
                "lr": lr,
                "alpha": alpha,
                "block_alpha": rate_factor,
                "alpha_layers": alpha_layers,
                "optimizer": optimizer,
                "batch_size": batch_size,
                "seed": seed,
                "depth": model.depth,
                "device": str(data.x_train.device),
                "dtype": str(data.x_train.dtype).removeprefix("torch."),
            },
            num_params=model.num_params,
            block_params=model.block_params,
            setup_seconds=clocks[name],
        )

    def evaluate(iteration, losses):
        for name, model in models.items():
            history = histories[name]
            history.iterations.append(iteration)
            history.seconds.append(clocks[name])
            history.test_accuracy.append(test_accuracy(model, data))
            history.train_loss.append(losses.get(name, math.nan))

    synchronize = torch.cuda.synchronize if data.x_train.device.type == "cuda" else None
    with torch.no_grad():
        initial = {
            n: float(torch.nn.functional.cross_entropy(m(data.x_train), data.y_train))
            for n, m in models.items()
        }
    evaluate(0, initial)
    bar = tqdm(total=steps, desc="nonlinear", disable=not progress, leave=False)
    threads_context = cpu_threads(threads)
    threads_context.__enter__()
    try:
        for iteration in range(1, steps + 1):
            losses = {}
            for name, trainer in trainers.items():
                started = time.perf_counter()
                losses[name] = trainer.step(iteration)
                if synchronize is not None:
                    synchronize()
                clocks[name] += time.perf_counter() - started
            if iteration % eval_every == 0 or iteration == steps:
                evaluate(iteration, losses)
            bar.update(1)
    except KeyboardInterrupt:
        for history in histories.values():
            history.stopped_reason = "interrupted"
    finally:
        threads_context.__exit__(None, None, None)
        bar.close()
    return histories


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------


def _settings(overrides: dict, base: dict) -> dict:
    unknown = sorted(set(overrides) - set(base))
    if unknown:
        raise ValueError(
            f"unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(base))}"
        )
    return {**base, **overrides}


def build_models(kinds, data: Digits, settings: dict) -> tuple[dict, dict]:
    """``({kind: model}, {kind: seconds to build it})`` for the given settings."""
    models, setup = {}, {}
    for kind in kinds:
        started = time.perf_counter()
        models[kind] = build_model(
            kind,
            data,
            width=settings["width"],
            depth=settings["depth"],
            r_hat=settings["r_hat"],
            eps=settings["eps"],
            hidden_layers=settings["hidden_layers"],
            seed=settings["seed"],
        )
        setup[kind] = time.perf_counter() - started
    return models, setup


def run_nonlinear(
    kinds=KINDS,
    device="cpu",
    dtype=None,
    progress: bool = False,
    threads: int | None = 1,
    **overrides,
) -> dict[str, ClassifierHistory]:
    """Build the requested models on one data split and train them side by side.

    ``overrides`` are any of ``DEFAULTS``' keys (width, depth, r_hat, eps, lr, alpha,
    alpha_layers, steps,
    eval_every, hidden_layers, optimizer, batch_size, test_fraction, seed). Each model's build
    time is counted in its seconds. ``threads`` CPU threads build and train the models (see
    ``train_models``).
    """
    settings = _settings(overrides, DEFAULTS)
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("kinds must name at least one of 'mlp', 'dln', 'cdln'")
    for kind in kinds:
        check_choice("kinds", kind, KINDS)
    data = load_digits_data(settings["test_fraction"], settings["seed"], device, dtype)
    with cpu_threads(threads):
        models, setup = build_models(kinds, data, settings)
    histories = train_models(
        models,
        data,
        lr=settings["lr"],
        alpha=settings["alpha"],
        alpha_layers=settings["alpha_layers"],
        steps=settings["steps"],
        eval_every=settings["eval_every"],
        optimizer=settings["optimizer"],
        batch_size=settings["batch_size"],
        seed=settings["seed"],
        setup_seconds=setup,
        threads=threads,
        progress=progress,
    )
    for history in histories.values():
        history.settings.update(settings)
    return histories


def claim_check(histories: dict[str, ClassifierHistory]) -> dict:
    """The paper's claim, measured: C-DLN reaches Original + DLN's accuracy (within 0.5 points)
    in at least 2x less training time.

    ``target = final accuracy of Original + DLN - 0.5``; each model's seconds to first reach it
    (at an evaluation); ``speedup = seconds_dln / seconds_cdln``; ``accuracy_gap`` = final
    accuracy of C-DLN minus that of Original + DLN. Holds when C-DLN reaches the target, its
    final accuracy is at most 0.5 points below, and the speed-up is at least 2.
    """
    dln, cdln = histories["dln"], histories["cdln"]
    target = dln.final_accuracy - CLAIM_POINTS
    seconds = {k: histories[k].seconds_to(target) for k in ("dln", "cdln")}
    iterations = {k: histories[k].iterations_to(target) for k in ("dln", "cdln")}
    speedup = None
    if seconds["dln"] is not None and seconds["cdln"]:
        speedup = seconds["dln"] / seconds["cdln"]
    gap = cdln.final_accuracy - dln.final_accuracy
    holds = speedup is not None and speedup >= CLAIM_SPEEDUP and gap >= -CLAIM_POINTS
    return {
        "target_accuracy": target,
        "accuracy_gap": gap,
        "seconds_to_target": seconds,
        "iterations_to_target": iterations,
        "speedup": speedup,
        "per_step_speedup": dln.seconds_per_step / cdln.seconds_per_step,
        "params_ratio": dln.num_params / cdln.num_params,
        "block_params_ratio": dln.block_params / cdln.block_params,
        "holds": holds,
    }


def summarize(histories: dict[str, ClassifierHistory]) -> dict:
    """JSON-ready summary: settings, each model's numbers and curves, and the claim if both
    block models ran."""
    first = next(iter(histories.values()))
    per_model = ("block_alpha",)
    summary = {
        "experiment": "nonlinear",
        "settings": {k: v for k, v in first.settings.items() if k not in per_model},
        "models": {name: history.to_dict() for name, history in histories.items()},
    }
    if "dln" in histories and "cdln" in histories:
        summary["claim"] = claim_check(histories)
    return summary


def plot_accuracy(histories: dict[str, ClassifierHistory], axes=None, title: str | None = None):
    """Test accuracy against iteration (left) and against compute seconds (right)."""
    import matplotlib.pyplot as plt

    if axes is None:
        figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
        figure.subplots_adjust(left=0.08, right=0.985, bottom=0.15, top=0.83, wspace=0.25)
    figure = axes[0].figure
    colors = {"mlp": "tab:gray", "dln": "tab:blue", "cdln": "tab:orange"}
    for history in histories.values():
        style = {"color": colors[history.kind], "label": history.label}
        axes[0].plot(history.iterations, history.test_accuracy, **style)
        axes[1].plot(history.seconds, history.test_accuracy, **style)
    axes[0].set_xlabel("iteration")
    axes[1].set_xlabel("seconds (compute)")
    low = min(min(h.test_accuracy[1:] or h.test_accuracy) for h in histories.values())
    for ax in axes:
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(max(low - 2, 0), 100.5)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower right")
    if title:
        figure.suptitle(title)
    return figure


def reproduce_nonlinear(device="cpu", out_dir=Path("."), progress: bool = True, **overrides):
    """Run the three models at ``REPRODUCE_SETTINGS`` (plus overrides); write PNG and JSON.

    Writes ``nonlinear.png`` (accuracy against iteration and seconds) and ``nonlinear.json``
    (``summarize``'s dict) into ``out_dir``, each atomically (temp file + ``os.replace``), and
    returns the summary with the two paths added.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _settings(overrides, REPRODUCE_SETTINGS)
    histories = run_nonlinear(device=device, progress=progress, **settings)
    summary = summarize(histories)
    png, js = out_dir / "nonlinear.png", out_dir / "nonlinear.json"
    summary["png"], summary["json"] = str(png), str(js)

    import matplotlib.pyplot as plt

    claim = summary["claim"]
    figure = plot_accuracy(
        histories,
        title=f"digits, w={settings['width']}, L={settings['depth']}, r_hat={settings['r_hat']}: "
        f"C-DLN {claim['speedup'] or float('nan'):.2g}x faster to "
        f"{claim['target_accuracy']:.1f}%",
    )
    save_figure_atomically(figure, png)
    plt.close(figure)
    write_atomically(js, json.dumps(summary, indent=2))
    return summary
