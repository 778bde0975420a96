"""The classification data sets: a tensor container, and scikit-learn's 8 x 8 handwritten digits.

The digits ship with scikit-learn (no download); MNIST-1D is generated in :mod:`.mnist1d`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from ..random_matrices import make_generator
from ..validation import (
    check_float,
    resolve_device,
    resolve_dtype,
)


@dataclass
class ClassificationData:
    """Standardized features split into train and test tensors (labels: int64 class indices).

    ``x_train`` is n_train x n_features (one sample a row); ``name`` says which data set.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int = 10
    name: str = "digits"

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def to(self, device=None, dtype=None) -> ClassificationData:
        return ClassificationData(
            self.x_train.to(device=device, dtype=dtype),
            self.y_train.to(device=device),
            self.x_test.to(device=device, dtype=dtype),
            self.y_test.to(device=device),
            self.n_classes,
            self.name,
        )


Digits = ClassificationData  # the name this container had while digits was the only data set


@functools.lru_cache(maxsize=1)
def _raw_digits() -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,797 x 64 pixel values and the labels, read once per process from scikit-learn."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError(
            "the digits data set (lesson 06, reproduce nonlinear) comes with scikit-learn: "
            "pip install 'scikit-learn>=1.3' (or the course's extra: 'lowdim-course[course]')"
        ) from None
    bunch = load_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float64)
    return x, torch.as_tensor(bunch.target, dtype=torch.int64)


def load_digits_data(
    test_fraction: float = 0.25, seed: int = 0, device="cpu", dtype=None
) -> ClassificationData:
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
    data = ClassificationData(x[train], y[train], x[test], y[test], int(y.max()) + 1, "digits")
    return data.to(device, dtype)
