"""Reading and comparing the student's result with the reference, and naming the mistake.

``compare_arrays`` and ``compare_integers`` return ``None`` when the answer is right, else a
:class:`Problem` (what is wrong and a hint): a wrong type or shape, NaN, a known
:class:`Mistake` of the exercise, a transpose, a sign, a constant factor, or the largest error.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .calling import fresh_copy


@dataclass(frozen=True)
class Problem:
    """A diagnosis: what is wrong with the student's answer and a hint to fix it."""

    what: str
    hint: str | None = None


@dataclass(frozen=True)
class Case:
    """One hidden case: positional arguments and a short description shown on failure."""

    args: tuple
    label: str


@dataclass(frozen=True)
class Mistake:
    """A plausible wrong answer: if the student's output equals ``compute(*args)``, say ``what``."""

    compute: Callable
    what: str
    hint: str


def _type_name(value) -> str:
    return type(value).__name__


def to_tensor(value, what: str = "a number or an array") -> torch.Tensor | Problem:
    """The student's value as a float64 CPU tensor, or a ``Problem`` saying why it is not one.

    Accepts torch tensors (on any device, with or without grad), numpy arrays and scalars,
    Python numbers and (nested) lists or tuples of those.
    """
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            return Problem(f"returned complex values, expected {what}")
        return value.detach().to("cpu", torch.float64)
    if isinstance(value, bool | np.bool_):
        return Problem(f"returned a boolean ({value}), expected {what}")
    if isinstance(value, numbers.Real | np.generic | np.ndarray):
        array = np.asarray(value)
        if array.dtype.kind not in "iuf":
            return Problem(f"returned an array of {array.dtype}, expected {what}")
        return torch.from_numpy(array.astype(np.float64, copy=True))
    if isinstance(value, list | tuple):
        if len(value) == 0:
            return Problem(f"returned an empty {_type_name(value)}, expected {what}")
        items = [to_tensor(item, what) for item in value]
        for item in items:
            if isinstance(item, Problem):
                return item
        if any(item.shape != items[0].shape for item in items):
            return Problem(f"returned a ragged {_type_name(value)} (items of different shapes)")
        return torch.stack(items)
    return Problem(f"returned {_type_name(value)}, expected {what}")


def _is_close(expected: torch.Tensor, got: torch.Tensor, rtol: float, atol: float) -> bool:
    if expected.shape != got.shape:
        return False
    scale = torch.linalg.vector_norm(expected).item()
    error = torch.linalg.vector_norm(got - expected).item()
    return error <= rtol * scale + atol


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def compare_arrays(
    expected,
    got,
    case: Case,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-10,
    mistakes: Sequence[Mistake] = (),
    name: str = "the result",
    nan_hint: str | None = None,
) -> Problem | None:
    """Compare a numeric result (scalar, vector or matrix) with the reference and diagnose.

    Passes when ``||got - expected|| <= rtol ||expected|| + atol``. Otherwise, in this order:
    wrong type, wrong shape (transposed?), NaN/inf, a known mistake, a transposed square
    matrix, a sign flip, a constant factor (wrong scale), and finally the largest error.
    """
    expected = to_tensor(expected)
    if isinstance(expected, Problem):
        raise TypeError(f"reference result: {expected.what}")
    got = to_tensor(got, "a number" if expected.numel() == 1 else "an array")
    if isinstance(got, Problem):
        return got
    if expected.ndim == 0:
        if got.numel() != 1:
            return Problem(
                f"wrong shape (expected a single number, got shape {tuple(got.shape)})",
                "return one number (a 0-d tensor or a float)",
            )
        got = got.reshape(())
    elif got.shape != expected.shape:
        return _shape_problem(expected, got, name)
    nan_hint = nan_hint or "look for 0/0, a log or a power of zero, or an overflow"
    if torch.isnan(got).any():
        return Problem(f"NaN in {name}", nan_hint)
    if torch.isinf(got).any():
        return Problem(f"infinite values in {name}", nan_hint)
    if _is_close(expected, got, rtol, atol):
        return None
    for mistake in mistakes:
        try:
            wrong = to_tensor(mistake.compute(*fresh_copy(case.args)))
        except Exception:
            continue
        if (
            isinstance(wrong, torch.Tensor)
            and wrong.shape == got.shape
            and _is_close(wrong, got, rtol, atol)
        ):
            return Problem(mistake.what, mistake.hint)
    if expected.ndim == 0:
        ratio = got.item() / expected.item() if expected.item() != 0 else math.inf
        if abs(ratio + 1) < 1e-6:
            return Problem(
                f"wrong sign: expected {_fmt(expected.item())}, got {_fmt(got.item())}",
                "check the sign",
            )
        factor = f" (a factor of about {_fmt(ratio)})" if math.isfinite(ratio) else ""
        return Problem(
            f"wrong value: expected {_fmt(expected.item())}, got {_fmt(got.item())}{factor}"
        )
    if (
        expected.ndim == 2
        and expected.shape[0] == expected.shape[1]
        and _is_close(expected, got.T, rtol, atol)
    ):
        return Problem(f"{name} is transposed", "check the order of the factors and of the indices")
    denominator = torch.dot(expected.flatten(), expected.flatten()).item()
    if denominator > 0:
        ratio = torch.dot(got.flatten(), expected.flatten()).item() / denominator
        meaningful = ratio != 0 and abs(ratio - 1) > 1e-3
        if meaningful and _is_close(ratio * expected, got, rtol, atol):
            if abs(ratio + 1) < 1e-6:
                return Problem(f"{name} is off by a factor of -1", "check the sign")
            return Problem(
                f"{name} is off by a factor of about {_fmt(ratio)}",
                "check the scale: a missing or extra factor, or a wrong normalization",
            )
    error = torch.max(torch.abs(got - expected)).item()
    return Problem(f"wrong values in {name} (largest error {_fmt(error)})")


def _shape_problem(expected: torch.Tensor, got: torch.Tensor, name: str) -> Problem:
    want, have = tuple(expected.shape), tuple(got.shape)
    if expected.ndim == 1 and got.ndim == 1:
        return Problem(
            f"wrong length of {name} (expected {want[0]} values, got {have[0]})",
            "check where the count starts and ends (off by one?)",
        )
    if expected.ndim == 2 and have == want[::-1]:
        return Problem(
            f"wrong shape of {name} (expected {want}, got {have}): transposed?",
            "check the order of the factors or return the transpose",
        )
    return Problem(f"wrong shape of {name} (expected {want}, got {have})")


def to_integer(value) -> int | Problem:
    """An integer result: int, numpy integer, a one-element tensor/array or a whole float."""
    if isinstance(value, bool | np.bool_):
        return Problem(f"returned a boolean ({value}), expected an integer")
    if isinstance(value, numbers.Integral):
        return int(value)
    tensor = to_tensor(value, "an integer")
    if isinstance(tensor, Problem):
        return tensor
    if tensor.numel() != 1:
        return Problem(f"returned shape {tuple(tensor.shape)}, expected a single integer")
    number = tensor.item()
    if not math.isfinite(number):
        return Problem(f"returned {number}, expected an integer")
    if number != round(number):
        return Problem(f"returned {number:g}, expected a whole number")
    return round(number)


def compare_integers(
    expected: int, got, case: Case, *, mistakes: Sequence[Mistake] = ()
) -> Problem | None:
    """Exact comparison of an integer result, with known mistakes diagnosed."""
    got = to_integer(got)
    if isinstance(got, Problem):
        return got
    if got == int(expected):
        return None
    matches = []
    for mistake in mistakes:
        try:
            wrong = int(mistake.compute(*fresh_copy(case.args)))
        except Exception:
            continue
        if wrong == got:
            matches.append(mistake)
    if matches:  # several mistakes can give the same integer: name them all
        what = "; or ".join(mistake.what for mistake in matches)
        hint = "; or ".join(dict.fromkeys(mistake.hint for mistake in matches))
        return Problem(f"{what} (expected {expected}, got {got})", hint)
    return Problem(f"wrong value: expected {expected}, got {got}")


def seeded_generator(seed: int) -> torch.Generator:
    """A private CPU generator, so hidden cases never touch the global random state."""
    generator = torch.Generator()
    generator.manual_seed(seed)
    return generator


def random_matrix(rows: int, cols: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(rows, cols, generator=generator, dtype=torch.float64)
