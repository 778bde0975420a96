"""What the grader's cell sends back from the student's kernel, and how (``kernel_side``).

The kernel answers with plain data (``encode``: numbers and nested lists, never Python
objects), written as JSON by ``json_text`` (here, not by the ``json`` module, which the notebook
may have replaced) and sent by ``send`` down a pipe that the grading worker opened and handed to
the kernel when it started, before any cell of the notebook ran. So nothing on the way goes
through IPython's display formatters, ``json`` or ``importlib``: the grader's cell carries this
file's text and ``kernel_side``'s and runs them itself. What the student's code could still do
to the kernel's own built-ins is the limit of any in-kernel check (docs/grading.md).
"""

from __future__ import annotations

import math
import os

_write = os.write  # taken when the grader's cell starts, before any answer is called
FRAME_MARK = b"lowdim-grader-frame "


_MAX_DEPTH = 8
_MAX_STRING = 200  # characters of a returned string the grader reads


def encode_outcome(outcome) -> dict:
    """One call's outcome as plain data: its value, what it raised, or that it ran over."""
    if outcome.timed_out:
        return {"timed_out": True, "waited": bool(outcome.waited)}
    if outcome.exception is not None:
        return {"raised": outcome.exception_name, "message": outcome.exception_text}
    try:
        return {"value": encode(outcome.value)}
    except Exception as exc:  # a result that cannot be read (a failing __array__, ...)
        return {"unreadable": f"{type(exc).__name__}: {' '.join(str(exc).split())[:160]}"}


def encode(value, depth: int = 0):
    """``value`` as JSON-ready data: tensors and arrays become flat lists of numbers.

    Tensor subclasses are read through the base class's methods, so an override of ``norm``,
    ``__sub__`` or ``__torch_function__`` changes nothing: only the numbers travel.
    """
    import numpy as np
    import torch
    from torch import nn

    if depth > _MAX_DEPTH:
        raise ValueError("the result is nested too deeply")
    if value is None:
        return {"kind": "none"}
    if value is Ellipsis:
        return {"kind": "ellipsis"}
    if isinstance(value, bool | np.bool_):
        return {"kind": "bool", "value": bool(value)}
    if isinstance(value, int | np.integer):
        return {"kind": "int", "value": int(value)}
    if isinstance(value, float | np.floating):
        return {"kind": "float", "value": _number(float(value))}
    if isinstance(value, str):  # a self-check answer such as "b"; only a short plain copy travels
        return {"kind": "str", "value": str.__str__(value)[:_MAX_STRING]}
    if isinstance(value, torch.Tensor):
        with torch._C.DisableTorchFunction():
            plain = torch.Tensor.detach(value).cpu()
            dtype = str(plain.dtype).removeprefix("torch.")
            if plain.is_complex():
                return {"kind": "complex", "type": "Tensor"}
            numbers = [_number(x) for x in plain.reshape(-1).to(torch.float64).tolist()]
            shape = list(plain.shape)
        return {"kind": "tensor", "dtype": dtype, "shape": shape, "data": numbers}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iufb":
            return {"kind": "object", "type": f"ndarray of {value.dtype}"}
        flat = np.asarray(value, dtype=np.float64).reshape(-1)
        return {
            "kind": "ndarray",
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "data": [_number(x) for x in flat.tolist()],
        }
    if isinstance(value, nn.Module):
        return _encode_module(value, depth)
    if isinstance(value, list | tuple):
        kind = "list" if isinstance(value, list) else "tuple"
        return {"kind": kind, "items": [encode(item, depth + 1) for item in list(value)]}
    return {"kind": "object", "type": type(value).__name__}


def _encode_module(module, depth: int) -> dict:
    from torch import nn

    own = {
        name: encode(parameter.data if parameter is not None else None, depth + 1)
        for name, parameter in nn.Module.named_parameters(module, recurse=False)
    }
    if isinstance(module, nn.Linear):
        own.setdefault("bias", {"kind": "none"})
    children = [
        [name, _encode_module(child, depth + 1)] for name, child in nn.Module.named_children(module)
    ]
    if depth > _MAX_DEPTH:
        raise ValueError("the module is nested too deeply")
    return {"kind": "module", "type": _torch_type(module), "own": own, "children": children}


def _torch_type(module) -> str:
    """The name of the nearest ``torch.nn`` class ``module`` is an instance of (``Linear`` for a
    subclass of ``nn.Linear``): what the comparisons test with ``isinstance``, so the grader
    rebuilds the module as that class, as the student's ``check`` sees it. A class of the
    student's own on ``nn.Module`` keeps its name."""
    for cls in type.mro(type(module)):
        if str(getattr(cls, "__module__", "")).startswith("torch.nn.") and cls.__name__ != "Module":
            return str(cls.__name__)
    return str(type(module).__name__)


def _number(x: float):
    return x if math.isfinite(x) else str(x)  # 'nan', 'inf', '-inf' survive strict JSON


def json_text(value) -> str:
    """JSON text of plain data (None, booleans, numbers, strings, lists, tuples, dicts with
    string keys), ASCII only; non-finite floats as ``NaN`` and ``Infinity``, as ``json`` writes
    them. TypeError for anything else."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(int(value))
    if isinstance(value, float):
        number = float(value)
        if number != number:
            return "NaN"
        if math.isinf(number):
            return "Infinity" if number > 0 else "-Infinity"
        return float.__repr__(number)
    if isinstance(value, str):
        return '"' + "".join(map(_json_character, str.__str__(value))) + '"'
    if isinstance(value, list | tuple):
        return "[" + ",".join(json_text(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = (json_text(str.__str__(key)) + ":" + json_text(item) for key, item in value.items())
        return "{" + ",".join(pairs) + "}"
    raise TypeError(f"not plain data: {type(value).__name__}")


def _json_character(character: str) -> str:
    code = ord(character)
    if character in '"\\':
        return "\\" + character
    if 0x20 <= code < 0x7F:
        return character
    if code > 0xFFFF:  # a UTF-16 surrogate pair, as JSON spells characters beyond the BMP
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def send(fd: int, nonce: str, text: str) -> None:
    """Write ``FRAME_MARK nonce length\\n text`` to file descriptor ``fd`` (the worker's pipe)."""
    payload = text.encode("ascii")
    data = FRAME_MARK + f"{nonce} {len(payload)}\n".encode("ascii") + payload
    while data:
        data = data[_write(fd, data) :]
