"""Stand-ins for another processor: the same call with rounding changed, its printed text kept.

Two processors (or two torch thread counts) run the same matrix products through different BLAS
code paths, whose results differ in the last bits: about 1e-16 relative per product, growing to
~1e-12 over a chain of them. ``RoundingNoise`` imitates that on one machine: every matrix
product's result is multiplied by ``1 + rel * z`` with ``z`` standard normal, drawn from a
seeded generator (so a test is repeatable). ``printed_text`` runs a demo with a given thread
count, with or without that noise, and returns what it printed.
"""

from __future__ import annotations

import contextlib
import io

import torch
from torch.utils._python_dispatch import TorchDispatchMode

# The matrix products, every overload (functional, ``out=`` and in place: the course's training
# step writes into preallocated buffers with ``torch.mm(..., out=)`` and ``addmm_``).
_aten = torch.ops.aten
PRODUCTS = frozenset(
    {_aten.mm, _aten.addmm, _aten.addmm_, _aten.bmm, _aten.baddbmm, _aten.baddbmm_, _aten.mv,
     _aten.addmv, _aten.addmv_, _aten.dot, _aten.matmul}
)  # fmt: skip


class RoundingNoise(TorchDispatchMode):
    """Within the block, every floating-point matrix product is off by ``rel`` relative.

    ``perturbed`` counts the products changed, so a test can prove the noise was applied.
    """

    def __init__(self, rel: float = 1e-12, seed: int = 0):
        super().__init__()
        self.rel = rel
        self.generator = torch.Generator().manual_seed(seed)
        self.perturbed = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.overloadpacket in PRODUCTS and out.is_floating_point():
            # in place: an out= or in-place product must leave its result in the caller's buffer
            noise = torch.randn(out.shape, generator=self.generator, dtype=out.dtype)
            out.mul_(1 + self.rel * noise)
            self.perturbed += 1
        return out


def printed_text(function, *args, threads: int, noise: RoundingNoise | None = None, **kwargs):
    """``(what function(*args, **kwargs) printed, what it returned)`` with torch at ``threads``
    threads, inside ``noise`` if one is given; torch's thread count is restored after."""
    before = torch.get_num_threads()
    buffer = io.StringIO()
    torch.set_num_threads(threads)
    try:
        with contextlib.redirect_stdout(buffer), noise or contextlib.nullcontext():
            returned = function(*args, **kwargs)
    finally:
        torch.set_num_threads(before)
    return buffer.getvalue(), returned
