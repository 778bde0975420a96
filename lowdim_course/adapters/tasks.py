"""The related task Lesson 13 adapts to, and its few-shot training sets.

The pretrained network saw MNIST-1D with the package's transformations; the related task draws
the same ten templates with a stronger shear (``shear_scale`` 2.0 instead of 0.75: each signal
is tilted by a random slope up to about three times as large) from another data seed. The
pretrained network still classifies part of it (the lesson prints how much), and a few examples
of each class must teach it the rest.
"""

from __future__ import annotations

import torch

from ..nonlinear.data import ClassificationData
from ..nonlinear.mnist1d import load_mnist1d_data
from ..random_matrices import make_generator
from ..validation import check_int

TARGET_TRANSFORMS = {"shear_scale": 2.0}
TARGET_DATA_SEED = 1
DRAW_POOL = 3000  # few-shot examples come from the first 3,000 training signals ...
# ... and the other 1,000 are the validation set that chooses a learning rate and a step count


def related_task(dtype=torch.float64) -> ClassificationData:
    """The related task: 4,000 training signals (a pool and a validation set), 1,000 for testing."""
    return load_mnist1d_data(TARGET_DATA_SEED, dtype=dtype, transforms=TARGET_TRANSFORMS)


def validation_set(data: ClassificationData) -> tuple[torch.Tensor, torch.Tensor]:
    """The training signals no few-shot set uses (1,000 of the related task's)."""
    return data.x_train[DRAW_POOL:], data.y_train[DRAW_POOL:]


def few_shot(
    data: ClassificationData, per_class: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` signals of each class from the first ``DRAW_POOL``, drawn from ``seed``.

    The draws are nested: with the same seed, the examples of a smaller ``per_class`` are among
    those of a larger one, so a curve over ``per_class`` adds examples rather than redrawing.
    """
    if not isinstance(data, ClassificationData):
        raise ValueError(f"data must be ClassificationData (related_task()), got {data!r}")
    pool = data.y_train[:DRAW_POOL]
    fewest = int(torch.bincount(pool, minlength=data.n_classes).min())
    per_class = check_int("per_class", per_class, low=1, high=fewest)
    generator = make_generator(check_int("seed", seed, low=0))
    chosen = []
    for label in range(data.n_classes):
        members = (pool == label).nonzero().flatten()
        order = torch.randperm(members.numel(), generator=generator)
        chosen.append(members[order[:per_class]])
    index = torch.cat(chosen)
    return data.x_train[index], data.y_train[index]
