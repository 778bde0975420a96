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


def related_task(dtype=torch.float64) -> ClassificationData:
    """The related task: 4,000 signals to draw examples from, 1,000 to test on."""
    return load_mnist1d_data(TARGET_DATA_SEED, dtype=dtype, transforms=TARGET_TRANSFORMS)


def few_shot(
    data: ClassificationData, per_class: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` training signals of each class, drawn without replacement from ``seed``.

    The draws are nested: with the same seed, the examples of a smaller ``per_class`` are among
    those of a larger one, so a curve over ``per_class`` adds examples rather than redrawing.
    """
    if not isinstance(data, ClassificationData):
        raise ValueError(f"data must be ClassificationData (related_task()), got {data!r}")
    fewest = int(torch.bincount(data.y_train, minlength=data.n_classes).min())
    per_class = check_int("per_class", per_class, low=1, high=fewest)
    generator = make_generator(check_int("seed", seed, low=0))
    chosen = []
    for label in range(data.n_classes):
        members = (data.y_train == label).nonzero().flatten()
        order = torch.randperm(members.numel(), generator=generator)
        chosen.append(members[order[:per_class]])
    index = torch.cat(chosen)
    return data.x_train[index], data.y_train[index]
