"""Argument checks shared by the whole core.

Every public function validates its arguments up front so that a mistake is reported as a
``ValueError`` naming the argument and its valid range, never as a traceback from inside torch.
"""

from __future__ import annotations

import math
import numbers

import torch


def check_int(name: str, value, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an int, or raise ValueError naming ``name`` and the range [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer{_range_text(low, high)}, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer{_range_text(low, high)}, got {value}")
    return value


def check_float(
    name: str,
    value,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite float inside the given interval, or raise ValueError."""
    interval = _interval_text(low, high, low_open, high_open)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number {interval}, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number {interval}, got {value}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be {interval}, got {value:g}")
    return value


def check_positive(name: str, value) -> float:
    """A finite float > 0 (learning rates, initial scales, tolerances of a ratio)."""
    return check_float(name, value, low=0.0, low_open=True)


def check_choice(name: str, value, choices) -> str:
    """``value`` must be one of ``choices`` (strings)."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_matrix(name: str, value, *, shape: tuple[int, int] | None = None) -> torch.Tensor:
    """A finite 2-D tensor (or array-like) of the given shape."""
    try:
        tensor = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{name} must be a 2-D array of numbers ({exc})") from None
    if tensor.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got {tensor.ndim} dimension(s)")
    if shape is not None and tuple(tensor.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(tensor.shape)}")
    if not (tensor.is_floating_point() or tensor.dtype in _INTEGER_DTYPES):
        raise ValueError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"{name} must be finite: it holds NaN or infinity")
    return tensor


_INTEGER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def resolve_device(device) -> torch.device:
    """Map ``'cpu'``, ``'cuda'``, ``'cuda:N'`` or ``'auto'`` to a torch device that exists here."""
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "mps" or device.startswith("mps:"):
        # Apple's GPU backend has no float64, in which the course computes what lessons print.
        raise ValueError(
            f"device={device!r}: Apple GPUs (MPS) are not supported, they have no float64, the "
            "precision every lesson's printed numbers are computed in; use device='cpu' "
            "(the lessons are sized for a laptop CPU)"
        )
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was asked for but no CUDA GPU is available here; "
                "use device='cpu' or 'auto'"
            )
        try:
            resolved = torch.device(device)
        except RuntimeError:
            raise ValueError(
                f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}"
            ) from None
        if resolved.index is None:
            # Tensors report "cuda:0", never "cuda": name the index so devices compare equal.
            return torch.device("cuda", torch.cuda.current_device())
        if resolved.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) exist"
            )
        return resolved
    raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")


_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_dtype(dtype, device: torch.device) -> torch.dtype:
    """``None`` means float64 on CPU (exact comparisons) and float32 on GPU (speed)."""
    if dtype is None:
        return torch.float64 if device.type == "cpu" else torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype}")
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    raise ValueError(f"dtype must be 'float64' or 'float32', got {dtype!r}")


def _range_text(low, high) -> str:
    if low is not None and high is not None:
        return f" in [{low}, {high}]"
    if low is not None:
        return f" >= {low}"
    if high is not None:
        return f" <= {high}"
    return ""


def _interval_text(low, high, low_open, high_open) -> str:
    if low is not None and high is not None:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        return f"in {left}{low:g}, {high:g}{right}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high:g}"
    return "(any finite value)"
