"""The pretrained network Lesson 13 adapts: a ReLU MLP trained on a large MNIST-1D set.

Its weights ship as ``pretrained_mlp.npz`` (about 190 kB, float64) next to this module, so the
lesson starts from them in a second; this module also regenerates them, and a slow test does
so and compares::

    python -m lowdim_course.adapters.pretrained            # rewrite the shipped file
    python -m lowdim_course.adapters.pretrained --out w.npz

The network: ``x -> ReLU(A_1 x + b_1) -> ReLU(A_2 . + b_2) -> A_3 . + b_3`` with widths
40 -> 128 -> 128 -> 10, He-normal weights and zero biases drawn from ``seed``, trained with
Adam (lr 1e-3, batches of 200 in a seeded order, 30 epochs, float64) on 16,000 MNIST-1D signals
(``num_samples = 20,000``, the standard data seed 42; the other 4,000 are its test set).
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..nonlinear.mnist1d import STANDARD_DATA_SEED, load_mnist1d_data
from ..random_matrices import make_generator
from ..threads import cpu_threads

WEIGHTS_FILE = Path(__file__).with_name("pretrained_mlp.npz")
PRETRAINING = {
    "widths": (40, 128, 128, 10),
    "num_samples": 20_000,
    "data_seed": STANDARD_DATA_SEED,
    "epochs": 30,
    "batch_size": 200,
    "lr": 1e-3,
    "seed": 0,
}


@dataclass
class PretrainedMLP:
    """Frozen weights ``A_l`` (out x in) and biases ``b_l``; ``forward`` adds layer updates."""

    weights: list
    biases: list

    @property
    def shapes(self) -> list[tuple[int, int]]:
        return [tuple(w.shape) for w in self.weights]

    def forward(self, x: torch.Tensor, deltas=None) -> torch.Tensor:
        """The logits with layer l's weight ``A_l + deltas[l]`` (``None``: no update)."""
        deltas = deltas or [None] * len(self.weights)
        last = len(self.weights) - 1
        for index, (weight, bias, delta) in enumerate(
            zip(self.weights, self.biases, deltas, strict=True)
        ):
            if delta is not None:
                weight = weight + delta
            x = torch.addmm(bias, x, weight.T)
            if index < last:
                x = torch.relu(x)
        return x

    def accuracy(self, x: torch.Tensor, y: torch.Tensor, deltas=None) -> float:
        """Percent of ``x`` classified as ``y``."""
        with torch.no_grad():
            return 100.0 * (self.forward(x, deltas).argmax(dim=1) == y).double().mean().item()

    def arrays(self) -> dict:
        named = {}
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases, strict=True)):
            named[f"weight{index}"] = weight.detach().cpu().numpy()
            named[f"bias{index}"] = bias.detach().cpu().numpy()
        return named


def pretrain(settings: dict | None = None, progress: bool = False) -> PretrainedMLP:
    """Train the network of the module doc from scratch (about 10 s on one core)."""
    settings = {**PRETRAINING, **(settings or {})}
    data = load_mnist1d_data(settings["data_seed"], num_samples=settings["num_samples"])
    generator = make_generator(settings["seed"])
    widths = settings["widths"]
    weights, biases = [], []
    for fan_in, fan_out in itertools.pairwise(widths):
        # He-normal before a ReLU, N(0, 1/fan_in) for the output layer
        relu_follows = len(weights) < len(widths) - 2
        scale = math.sqrt((2.0 if relu_follows else 1.0) / fan_in)
        weight = torch.randn(fan_out, fan_in, generator=generator, dtype=torch.float64) * scale
        weights.append(weight.requires_grad_(True))
        biases.append(torch.zeros(fan_out, dtype=torch.float64, requires_grad=True))
    model = PretrainedMLP(weights, biases)
    optimizer = torch.optim.Adam(weights + biases, lr=settings["lr"])
    n = data.x_train.shape[0]
    with cpu_threads(1):
        for _ in tqdm(range(settings["epochs"]), desc="pretraining", disable=not progress):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, settings["batch_size"]):
                batch = order[start : start + settings["batch_size"]]
                logits = model.forward(data.x_train[batch])
                loss = torch.nn.functional.cross_entropy(logits, data.y_train[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
    return PretrainedMLP([w.detach() for w in model.weights], [b.detach() for b in model.biases])


def save_pretrained(model: PretrainedMLP, path) -> Path:
    path = Path(path)
    np.savez(path, **model.arrays())
    return path


def load_pretrained(path=None) -> PretrainedMLP:
    """The shipped network (``WEIGHTS_FILE``), or the one saved at ``path``, frozen."""
    path = Path(path) if path is not None else WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"no pretrained weights at {path}: make them with "
            "python -m lowdim_course.adapters.pretrained --out PATH"
        )
    with np.load(path) as stored:
        count = len([name for name in stored.files if name.startswith("weight")])
        weights = [torch.from_numpy(stored[f"weight{i}"].copy()) for i in range(count)]
        biases = [torch.from_numpy(stored[f"bias{i}"].copy()) for i in range(count)]
    return PretrainedMLP(weights, biases)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lowdim_course.adapters.pretrained",
        description="Pretrain Lesson 13's MLP on MNIST-1D and save its weights.",
    )
    parser.add_argument(
        "--out", default=str(WEIGHTS_FILE), help="where to write the .npz (default: shipped file)"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    if not out.parent.is_dir():
        parser.error(f"--out: the folder {out.parent} does not exist")
    model = pretrain(progress=True)
    data = load_mnist1d_data(PRETRAINING["data_seed"], num_samples=PRETRAINING["num_samples"])
    save_pretrained(model, out)
    print(
        f"wrote {out}: test accuracy {model.accuracy(data.x_test, data.y_test):.1f}% on "
        f"{data.x_test.shape[0]:,} held-out signals"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
