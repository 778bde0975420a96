"""Score what the student's functions returned, in the grader's own process.

The kernel sends plain data (``kernel_side.encode``); here it becomes tensors, arrays and
modules again and goes through the same ``judge`` as the student's ``check`` — the reference
answers, the hidden cases and the comparisons are the grader's own, untouched by the notebook.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..exercises import get_exercise
from ..exercises.framework import Outcome, judge
from ..threads import small_work

NOT_RUN = "check did not run"


def decode(data):
    """The inverse of ``kernel_side.encode`` (an unknown object becomes a stand-in of its type's
    name, so the comparison says "returned Foo, expected ...")."""
    if not isinstance(data, dict):
        raise ValueError("malformed result")
    kind = data.get("kind")
    if kind == "none":
        return None
    if kind == "ellipsis":
        return Ellipsis
    if kind == "bool":
        return bool(data["value"])
    if kind == "int":
        return int(data["value"])
    if kind == "float":
        return _number(data["value"])
    if kind == "str":
        return str(data["value"])
    if kind in ("tensor", "ndarray"):
        numbers = [_number(x) for x in data["data"]]
        shape = [int(n) for n in data["shape"]]
        array = np.array(numbers, dtype=np.float64).reshape(shape)
        dtype = str(data.get("dtype", "float64"))
        if kind == "ndarray":
            return array.astype(np.dtype(dtype)) if _is_numpy_dtype(dtype) else array
        tensor = torch.from_numpy(array)
        target = getattr(torch, dtype, None)
        return tensor.to(target) if isinstance(target, torch.dtype) else tensor
    if kind in ("list", "tuple"):
        items = [decode(item) for item in data["items"]]
        return items if kind == "list" else tuple(items)
    if kind == "module":
        return _decode_module(data)
    if kind == "complex":
        return torch.zeros(1, dtype=torch.complex128)
    return _stand_in(str(data.get("type", "object")))()


def _is_numpy_dtype(name: str) -> bool:
    try:
        np.dtype(name)
    except TypeError:
        return False
    return True


def _number(x) -> float:
    return float(x)  # a number, or 'nan', 'inf', '-inf' (strict JSON has no such numbers)


def _decode_module(data) -> nn.Module:
    own = {name: decode(value) for name, value in data.get("own", {}).items()}
    children = [(name, _decode_module(child)) for name, child in data.get("children", [])]
    kind = str(data.get("type", "Module"))
    if kind == "Linear" and isinstance(own.get("weight"), torch.Tensor):
        weight, bias = own["weight"], own.get("bias")
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            layer.weight = nn.Parameter(weight)
            if bias is not None:
                layer.bias = nn.Parameter(torch.as_tensor(bias))
        # what a subclass of nn.Linear added stays, so that counting parameters sees it
        for name, value in own.items():
            if name not in ("weight", "bias") and isinstance(value, torch.Tensor):
                layer.register_parameter(name, nn.Parameter(value))
        for name, child in children:
            layer.add_module(name, child)
        return layer
    if kind == "Sequential":
        module = nn.Sequential()
    elif kind == "ModuleList":
        module = nn.ModuleList()
    else:
        module = _stand_in(kind, nn.Module)()
    for name, value in own.items():
        if isinstance(value, torch.Tensor):
            module.register_parameter(name, nn.Parameter(value))
    for name, child in children:
        module.add_module(name, child)
    return module


def _stand_in(name: str, base=object):
    safe = name if name.isidentifier() else "object"
    return type(safe, (base,), {})


def _outcome(data) -> Outcome:
    if data.get("timed_out"):
        return Outcome(timed_out=True, waited=data.get("waited") is True)
    if "raised" in data:
        return Outcome(exception=str(data["raised"]), message=str(data.get("message", "")))
    if "unreadable" in data:
        return Outcome(value=_stand_in("unreadable")())
    return Outcome(value=decode(data["value"]))


class _CasesChanged(Exception):
    """The kernel ran a different number of cases than the grader's own."""


def score_exercise(exercise_id: str, record: dict | None, flags: list[str]) -> dict:
    """One gradebook item from the kernel's record of ``exercise_id`` (see ``kernel_side``)."""
    exercise = get_exercise(exercise_id)

    def item(passed: bool, message: str) -> dict:
        return _item(exercise_id, passed, message)

    if record is None:
        return item(False, f"{NOT_RUN} (the grader's checks did not run)")
    name = record.get("name", "?")
    if record.get("missing"):
        return item(
            False,
            f"no function `{name}` in the notebook (was its cell deleted, renamed, or did it "
            "raise?)",
        )
    if "not_callable" in record:
        return item(False, f"`{name}` is a {record['not_callable']}, not a function")
    origin = record.get("origin", {})
    if origin.get("kind") == "course":
        return item(
            False,
            f"flagged: `{name}` is the course's own implementation ({origin.get('what')}), not "
            "an answer: write the function yourself",
        )
    if origin.get("kind") != "cell":
        return item(
            False,
            f"flagged: `{name}` was not defined in one of this notebook's cells (it comes from "
            f"{origin.get('what')}): define it in the exercise cell",
        )
    suspicious = list(record.get("core_calls", []))
    if suspicious:
        shown = ", ".join(suspicious[:3])
        return item(
            False,
            f"flagged: `{name}` calls the course's own code ({shown}): an answer must compute "
            "the result itself",
        )
    if record.get("suspicious"):
        return item(False, f"flagged: while `{name}` ran it {'; '.join(record['suspicious'])}")
    if flags:
        return item(False, f"flagged for review: {flags[0]}")
    outcomes = [_outcome(data) for data in record.get("outcomes", [])]
    pending = iter(outcomes)

    def outcome_of(case):
        try:
            return next(pending)
        except StopIteration:
            raise _CasesChanged from None

    try:
        with small_work():  # the cases and the reference answers: small products, one thread
            cases = exercise.make_cases()
            result = judge(exercise, cases, outcome_of, exercise.time_limit)
    except _CasesChanged:
        return item(False, "flagged: the notebook changed the hidden cases (fewer were run)")
    if result.passed and len(outcomes) != len(cases):
        return item(False, "flagged: the notebook changed the hidden cases (more were run)")
    if not result.passed and result.message.startswith("flagged"):
        return item(False, result.message)
    return item(result.passed, result.message)


def unscored(exercise_id: str, message: str) -> dict:
    """A zero item with ``message`` (a notebook that did not run to its checks)."""
    return _item(exercise_id, False, message)


def _item(exercise_id: str, passed: bool, message: str) -> dict:
    points = float(get_exercise(exercise_id).points)
    return {
        "id": exercise_id,
        "passed": passed,
        "score": points if passed else 0.0,
        "max_score": points,
        "message": message,
    }
