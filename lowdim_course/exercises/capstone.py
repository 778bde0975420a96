"""Capstones: the student's own implementation of a lesson's central algorithm, used by the lesson.

A capstone exercise is checked like any other (``check("01.gd_step", gd_step)``); then a demo
draws a figure *from the student's function* next to the course's own result, so a wrong answer
shows in the picture as well as in the message. A student's bug must never break a lesson, so
the demo runs the student's part through :func:`run_student_code`, which catches everything
(a stub, an exception, an endless loop, a NaN) and says in one line what happened; the demo then
draws the course's curves alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..threads import small_work
from .calling import wall_backstop
from .framework import NOT_IMPLEMENTED_HINT, call_with_time_limit, one_line

CAPSTONE_TAG = "capstone"


@dataclass
class StudentRun:
    """What running the student's code gave: ``value``, or ``None`` and a one-line ``message``."""

    value: object = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.message is None


def _has_nan(value) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(value.is_floating_point() and not torch.isfinite(value).all())
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list | tuple):
        return any(_has_nan(item) for item in value)
    return False


def run_student_code(work, *, name: str, seconds: float = 30.0) -> StudentRun:
    """Run ``work()`` (which calls the student's function ``name``), catching everything.

    ``seconds`` is a limit on CPU time, with a wall-clock backstop four times longer for work
    that waits (``calling.call_with_time_limit``).

    Returns ``StudentRun(value)`` or ``StudentRun(None, message)``, and prints the message (one
    line, ending with what the figure shows instead) when there is one. The work runs on one
    CPU thread, as every check does (``threads.py``).
    """
    with small_work():
        outcome = call_with_time_limit(work, (), seconds)
    message = None
    if outcome.timed_out and outcome.waited:
        message = (
            f"your {name} did not finish within {wall_backstop(seconds):g} s and used little CPU "
            "meanwhile (waiting for something that never comes?)"
        )
    elif outcome.timed_out:
        message = f"your {name} did not finish within {seconds:g} s of CPU time (endless loop?)"
    elif outcome.exception is not None:
        if outcome.exception_name == "NotImplementedError":
            message = f"your {name} is not written yet ({NOT_IMPLEMENTED_HINT.split(',')[0]})"
        else:
            message = (
                f"your {name} raised {outcome.exception_name}: {one_line(outcome.exception_text)}"
            )
    elif outcome.value is None:
        message = f"your {name} returned None (a missing `return`?)"
    elif _has_nan(outcome.value):
        message = f"your {name} produced NaN or infinite values (a diverging step?)"
    if message is not None:
        print(f"{message}; the figure shows the course's result only.", flush=True)
        return StudentRun(None, message)
    return StudentRun(outcome.value)
