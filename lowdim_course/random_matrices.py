"""Seeded random matrices.

Every draw happens on the CPU in float64 from a ``torch.Generator`` seeded by the caller, and is
only then moved to the requested device and dtype: the same seed gives the same numbers on every
run and on every device.
"""

from __future__ import annotations

import torch

from .validation import check_int


def make_generator(seed: int) -> torch.Generator:
    """A CPU generator seeded with ``seed`` (an integer >= 0)."""
    seed = check_int("seed", seed, low=0)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(seed)
    return generator


def gaussian(rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    """A ``rows x cols`` float64 matrix with independent N(0, 1) entries."""
    return torch.randn(rows, cols, generator=generator, dtype=torch.float64)


def random_orthogonal(d: int, generator: torch.Generator) -> torch.Tensor:
    """A Haar-distributed ``d x d`` orthogonal matrix.

    QR of a Gaussian matrix, with the columns of Q multiplied by the signs of diag(R) so that
    the result is uniform on O(d) (Mezzadri, "How to generate random matrices from the classical
    compact groups", 2007).
    """
    q, r = torch.linalg.qr(gaussian(d, d, generator))
    signs = torch.sign(torch.diagonal(r))
    signs[signs == 0] = 1.0
    return (q * signs).contiguous()
