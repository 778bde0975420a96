"""Adapting a pretrained network to a related task from few examples (Lesson 13).

Yaras, Wang, Balzano, Qu, "Compressible dynamics in deep overparameterized low-rank learning &
adaptation" (ICML 2024) carry the invariant subspace of Kwon et al. (2024) into fine-tuning:
a layer's update is an overparameterized three-layer factorization (Deep LoRA), compressed from
the start to a small width. The modules, one job each: ``factorized`` (the four updates of a
frozen layer: full fine-tuning, LoRA, the full-width deep factorization and its compressed
form), ``pretrained`` (the MLP pretrained on MNIST-1D, shipped as weights, and the script that
makes them), ``tasks`` (the related task and its few-shot training sets), ``finetune`` (the
fine-tuning loop and the ranks of what it learned).
"""

from .factorized import (
    DEEP_DEPTH,
    DEFAULT_EPS,
    KINDS,
    Adapter,
    compressed_deep_adapter,
    compressed_deep_start,
    deep_adapter,
    descend_on_target,
    full_adapter,
    lora_adapter,
    make_adapter,
    orthonormal_matrix,
)

__all__ = [
    "DEEP_DEPTH",
    "DEFAULT_EPS",
    "KINDS",
    "Adapter",
    "compressed_deep_adapter",
    "compressed_deep_start",
    "deep_adapter",
    "descend_on_target",
    "full_adapter",
    "lora_adapter",
    "make_adapter",
    "orthonormal_matrix",
]
