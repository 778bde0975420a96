"""Calling the student's function safely: a fresh copy of the arguments and a time limit.

Nothing the call does escapes: an exception, ``SystemExit`` or an endless loop becomes an
:class:`Outcome`. Used by ``check``, by the grader in the student's kernel and by the capstone
figures (``capstone.run_student_code``).
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass

import numpy as np
import torch


class _TimeLimitReached(BaseException):
    """Raised inside the student's code by SIGALRM. BaseException: ``except Exception`` in the
    student's code does not swallow it."""


@dataclass
class Outcome:
    """What one call of the student's function did: returned ``value``, raised, or ran over.

    ``exception`` is the exception object when the call ran here, or its class name when it ran
    in the student's kernel (the grader gets the name and the message, never the object).
    """

    value: object = None
    exception: BaseException | str | None = None
    timed_out: bool = False
    message: str = ""

    @property
    def exception_name(self) -> str:
        exc = self.exception
        return exc if isinstance(exc, str) else type(exc).__name__

    @property
    def exception_text(self) -> str:
        return self.message if isinstance(self.exception, str) else one_line(self.exception)


def call_with_time_limit(function, args: tuple, seconds: float) -> Outcome:
    """Call ``function(*args)``, catching everything, and give up after ``seconds``.

    On the main thread (a Jupyter kernel runs cells there) the limit is a ``SIGALRM`` timer that
    raises inside the running code, so an endless loop is really stopped. Elsewhere (no signals
    off the main thread, or no SIGALRM on Windows) the call runs in a daemon thread that is
    abandoned when it overruns: the check still returns on time.
    """
    use_signal = (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0.0  # nobody else's timer is running
    )
    if use_signal:
        return _call_with_alarm(function, args, seconds)
    return _call_in_thread(function, args, seconds)


def _call_with_alarm(function, args, seconds) -> Outcome:
    def on_alarm(signum, frame):
        raise _TimeLimitReached

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outcome = Outcome()
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, seconds)
            outcome.value = function(*args)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _TimeLimitReached:
        outcome = Outcome(timed_out=True)
    except BaseException as exc:  # the student's code may raise anything, SystemExit included
        outcome = Outcome(exception=exc)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return outcome


def _call_in_thread(function, args, seconds) -> Outcome:
    outcome = Outcome()

    def target():
        try:
            outcome.value = function(*args)
        except BaseException as exc:
            outcome.exception = exc

    worker = threading.Thread(target=target, name="lowdim-course-check", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        return Outcome(timed_out=True)
    return outcome


def fresh_copy(value):
    """A deep copy of tensors, arrays and containers, so the student cannot change a case."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [fresh_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(fresh_copy(item) for item in value)
    return value


def one_line(value, limit: int = 160) -> str:
    """``str(value)`` on one line, whitespace collapsed, cut to ``limit`` characters."""
    text = " ".join(str(value).split()) or "(no message)"
    return text if len(text) <= limit else text[: limit - 3] + "..."
