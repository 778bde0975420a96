"""Lesson 06's reference surrogate and compressed block, shared by its exercises.

``06.block_surrogate`` and ``06.compressed_block`` check the student's against these, and the
capstone ``06.train_compressed_block`` starts its hidden cases from them.
"""

from __future__ import annotations

import torch
from torch import nn

from ..nonlinear import compressed_block_layers


def _softmax_rows(bias, n):
    return torch.softmax(bias, dim=0).expand(n, -1)


def reference_block_surrogate(features, labels, output_weight, output_bias):
    """``S = C^T (Y - P)^T Phi / n`` (see ``lowdim_course.nonlinear.block_surrogate``)."""
    features = torch.as_tensor(features, dtype=torch.float64)
    n, classes = features.shape[0], output_weight.shape[0]
    one_hot = torch.nn.functional.one_hot(torch.as_tensor(labels), classes).to(torch.float64)
    residual = one_hot - _softmax_rows(output_bias, n)
    return output_weight.T @ residual.T @ features / n


def reference_compressed_block(surrogate, r_hat, depth, eps):
    """The block as ``nn.Sequential`` of bias-free ``nn.Linear`` layers, input side first."""
    layers = []
    for weight in compressed_block_layers(surrogate, r_hat, depth, eps):
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(weight)
        layers.append(layer)
    return nn.Sequential(*layers)
