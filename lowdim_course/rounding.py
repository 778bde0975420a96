"""Another processor's rounding, on this one: a check that printed numbers do not hang on it.

Two processors (an Intel and an AMD core, AVX-512 or AVX2 kernels of the same BLAS), or one
processor with another thread count, add the same products in another order, so a matrix
product differs in its last bits: about 1e-16 relative per product, which grows to about 1e-12
over a training run. A number a lesson prints must not change with that, or the lesson prints
one thing on the author's machine and another on the student's.

One machine cannot be two processors, so :class:`RoundingPerturbation` imitates the second one:
while it is active, every matrix product, reduction and decomposition torch computes (``mm``,
``addmm``, ``bmm``, ``mv``, ``dot``, ``sum``, ``mean``, ``svd``, ``qr``, ``eigh``, ... in
:data:`PERTURBED_OPS`) returns its result multiplied entrywise by ``1 + size * z``, ``z``
uniform in ``[-1, 1]`` from a seeded generator of its own, ``size = 1e-12`` by default (the
forward pass, the backward pass and the optimizer alike). The CPU training step multiplies in
numpy (``numpy_step``), out of torch's sight: it perturbs its own products and dot products
the same way while a mode is in force (:func:`active_perturbation`). Printed text that is the
same with and without it does not depend on the processor; text that changes names the
computation to make well defined (an arbitrary null-space basis, a count at a stability edge).

Two ways in: ``with RoundingPerturbation(): ...`` in a test, or the environment variable
``LOWDIM_COURSE_PERTURB_ROUNDING=1e-12`` (read by :func:`perturb_from_environment`, which the
package calls on import), so that a Jupyter kernel, and nbval through it, runs a whole lesson
under it.
"""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack

from .validation import check_float

ENVIRONMENT_VARIABLE = "LOWDIM_COURSE_PERTURB_ROUNDING"

_aten = torch.ops.aten
# The results whose last bits depend on the order of a sum: products, reductions and the
# decompositions built on them (LAPACK calls BLAS). Every overload of each: functional, out=
# and in place (the training step writes into preallocated buffers with ``mm(..., out=)``).
PERTURBED_OPS = frozenset(
    {
        _aten.mm,
        _aten.addmm,
        _aten.addmm_,
        _aten.bmm,
        _aten.baddbmm,
        _aten.baddbmm_,
        _aten.mv,
        _aten.addmv,
        _aten.addmv_,
        _aten.dot,
        _aten.sum,
        _aten.mean,
        _aten._linalg_svd,
        _aten.linalg_qr,
        _aten._linalg_eigh,
        _aten.linalg_solve_ex,
        _aten._linalg_solve_ex,
        _aten.linalg_lstsq,
        _aten.cholesky,
        _aten.linalg_cholesky_ex,
    }
)


class RoundingPerturbation(TorchDispatchMode):
    """Multiply every result of :data:`PERTURBED_OPS` by ``1 + size * uniform(-1, 1)``.

    ``size`` is relative (default ``1e-12``, the size of two processors' differences after a
    training run); the noise comes from a CPU generator seeded with ``seed``, drawn in float64
    and moved to the result's device. Integer and boolean results pass unchanged. ``count``
    tells how many results were perturbed (a test can check that the mode saw its computation).
    """

    def __init__(self, size: float = 1e-12, seed: int = 0):
        super().__init__()
        self.size = check_float("size", size, low=0.0, high=1e-3)
        self.generator = torch.Generator(device="cpu")
        self.generator.manual_seed(seed)
        self.count = 0

    def _perturb(self, tensor):
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            return tensor
        if tensor.numel() == 0 or self.size == 0.0:
            return tensor
        noise = torch.rand(tensor.shape, generator=self.generator, dtype=torch.float64)
        factor = (1.0 + self.size * (2.0 * noise - 1.0)).to(tensor.device, tensor.dtype)
        self.count += 1
        return tensor.mul_(factor)

    def perturb_array(self, array):
        """The same perturbation on a numpy array, in place (the CPU training step's products,
        ``numpy_step``, which torch's dispatch never sees); returns it."""
        if array.size and self.size:
            noise = torch.rand(array.shape, generator=self.generator, dtype=torch.float64)
            array *= (1.0 + self.size * (2.0 * noise - 1.0)).numpy()
            self.count += 1
        return array

    def perturb_value(self, value: float) -> float:
        """The same perturbation on one number (a sum numpy returns as a scalar)."""
        return float(self.perturb_array(np.array([value], dtype=np.float64))[0])

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if func.overloadpacket not in PERTURBED_OPS:
            return result
        if isinstance(result, tuple):
            return tuple(self._perturb(item) for item in result)
        return self._perturb(result)


_active: RoundingPerturbation | None = None


def active_perturbation() -> RoundingPerturbation | None:
    """The innermost ``RoundingPerturbation`` in force now (entered or from the environment)."""
    for mode in reversed(_get_current_dispatch_mode_stack()):
        if isinstance(mode, RoundingPerturbation):
            return mode
    return None


def perturb_from_environment(environ=None) -> RoundingPerturbation | None:
    """Switch the perturbation on for the whole process when the environment asks for it.

    ``LOWDIM_COURSE_PERTURB_ROUNDING`` holds the relative size (``1e-12``); unset or empty:
    nothing happens. Called once when ``lowdim_course`` is imported; returns the active mode.
    """
    global _active
    environ = os.environ if environ is None else environ
    text = environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not text or _active is not None:
        return _active
    try:
        size = float(text)
    except ValueError:
        raise ValueError(
            f"{ENVIRONMENT_VARIABLE} must be a number in [0, 1e-3] (e.g. 1e-12), got {text!r}"
        ) from None
    _active = RoundingPerturbation(size)
    _active.__enter__()
    return _active


def order_with_ties(values, *, descending: bool = False, tolerance: float = 1e-9) -> list[int]:
    """Indices that sort ``values``; values equal up to rounding keep their listing order.

    A plain ``argsort`` orders exactly tied quantities (four equal singular values, features
    of equal weight) by their last bits, which the processor and the thread count decide, so
    a table printed in that order changes from machine to machine. Here the values are sorted,
    and consecutive ones closer than ``tolerance * max|values|`` (far above rounding, 1e-12,
    far below a real difference) form one group; groups come in sorted order, and within a
    group the indices keep their order in ``values``. A chain of values each within the
    tolerance of the next is one group.
    """
    tolerance = check_float("tolerance", tolerance, low=0.0, high=1e-3)
    flat = [float(v) for v in torch.as_tensor(values).detach().flatten().tolist()]
    if not all(map(math.isfinite, flat)):
        raise ValueError("values must be finite numbers (no NaN or infinity)")
    if not flat:
        return []
    gap = tolerance * max(abs(v) for v in flat)
    sign = -1.0 if descending else 1.0
    group, previous = {}, None
    for index in sorted(range(len(flat)), key=lambda i: sign * flat[i]):
        if previous is None:
            group[index] = 0
        else:
            step = abs(flat[index] - flat[previous]) > gap
            group[index] = group[previous] + step
        previous = index
    return sorted(range(len(flat)), key=lambda i: (group[i], i))
