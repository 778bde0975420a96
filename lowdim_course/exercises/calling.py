"""Calling the student's function safely: a fresh copy of the arguments and a time limit.

Nothing the call does escapes: an exception, ``SystemExit`` or an endless loop becomes an
:class:`Outcome`. Used by ``check``, by the grader in the student's kernel and by the capstone
figures (``capstone.run_student_code``).

**The limit counts CPU time, not the wall clock.** On a busy machine (a laptop with a browser
open, a class graded in parallel) the answer gets a smaller share of a core: it takes longer
but uses the same CPU seconds, so a limit on CPU time never stops a correct answer because the
machine is busy, while an endless loop uses CPU at the full rate and is stopped as soon as ever.
(A wall-clock limit punishes the busy machine: the same correct answer passes or is told
"endless loop?" depending on what else runs.) An answer that waits instead of computing
(``time.sleep`` in a loop, ``input()``, a lock never released) uses no CPU; a wall-clock
backstop, ``WAIT_FACTOR`` times the limit, stops it, and the outcome says that it waited.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

# The wall-clock backstop is this many times the CPU limit: 20 s for the usual 5 s. A correct
# answer uses a fraction f of its limit, so it reaches the backstop only with less than f/4 of a
# core; a waiting answer always does. Not longer: six answers that wait (the most exercises a
# lesson has, Lesson 05) must still fit the grader's 180 s for its checks (grading.CHECK_TIMEOUT).
WAIT_FACTOR = 4.0
_POLL_SECONDS = 0.01  # how often the timer's handler or the watcher thread reads the clocks


class _TimeLimitReached(BaseException):
    """Raised inside the student's code by a timer's signal. BaseException: ``except
    Exception`` in the student's code does not swallow it. ``waited``: the wall-clock backstop
    (not the CPU limit) fired."""

    def __init__(self, waited: bool):
        super().__init__(waited)
        self.waited = waited


@dataclass
class Outcome:
    """What one call of the student's function did: returned ``value``, raised, or ran over.

    ``exception`` is the exception object when the call ran here, or its class name when it ran
    in the student's kernel (the grader gets the name and the message, never the object).
    ``timed_out``: stopped by the time limit; ``waited``: by the wall-clock backstop, while it
    used little CPU (a sleep or a wait that never ends), rather than by the CPU limit.
    """

    value: object = None
    exception: BaseException | str | None = None
    timed_out: bool = False
    message: str = ""
    waited: bool = False

    @property
    def exception_name(self) -> str:
        exc = self.exception
        return exc if isinstance(exc, str) else type(exc).__name__

    @property
    def exception_text(self) -> str:
        return self.message if isinstance(self.exception, str) else one_line(self.exception)


def wall_backstop(seconds: float) -> float:
    """The wall-clock seconds after which a call under a ``seconds`` CPU limit is stopped."""
    return WAIT_FACTOR * seconds


def call_with_time_limit(function, args: tuple, seconds: float) -> Outcome:
    """Call ``function(*args)``, catching everything; stop it after ``seconds`` of CPU time.

    CPU time is the user + system time of the thread that runs the call, from the call's start
    (a library's helper threads, such as a multi-threaded product's, are not counted), and the
    call is also stopped after ``wall_backstop(seconds)`` of wall-clock time (see the module
    doc). On the main thread where the platform has interval timers (Linux, macOS; a Jupyter
    kernel runs cells on its main thread) a periodic ``ITIMER_REAL`` timer reads both clocks
    every ``_POLL_SECONDS`` and its handler raises inside the running code, so an endless loop
    is really stopped. Elsewhere (off the main thread, on Windows, or while another real-time
    timer of this process is set) the call runs in a daemon thread that is abandoned when it
    overruns; this thread watches the worker's own CPU clock where the platform gives one
    (``time.pthread_getcpuclockid``, Linux), else the process's (``time.process_time``), and
    the wall clock, so the check still returns on time.
    """
    use_signals = (
        hasattr(signal, "setitimer")
        and hasattr(signal, "ITIMER_REAL")
        and threading.current_thread() is threading.main_thread()
        # nobody else's real-time timer is running (an outer call's, the student's own alarm)
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0.0
    )
    if use_signals:
        return _call_with_timers(function, args, seconds)
    return _call_in_thread(function, args, seconds)


def _call_with_timers(function, args, seconds) -> Outcome:
    # Why not ITIMER_PROF (a signal after this much process CPU time): Linux sends it to
    # whichever thread is running when the time is up, which after a multi-threaded product is
    # often one of OpenBLAS's idling helper threads, and CPython 3.11 then runs the handler only
    # when the main thread next looks (measured: 11 of 20 endless loops ran to the backstop).
    # ITIMER_REAL's signal goes to the main thread, and its handler reads this thread's clock.
    running = True
    cpu_start = time.thread_time()
    wall_end = time.monotonic() + wall_backstop(seconds)

    def on_tick(signum, frame):
        if not running:  # the call has returned; the timer is being cleared
            return
        if time.thread_time() - cpu_start >= seconds:
            raise _TimeLimitReached(waited=False)
        if time.monotonic() >= wall_end:
            raise _TimeLimitReached(waited=True)

    tick = min(_POLL_SECONDS, seconds / 10)
    previous_alarm = signal.signal(signal.SIGALRM, on_tick)
    outcome = Outcome()
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, tick, tick)
            outcome.value = function(*args)
        finally:
            running = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _TimeLimitReached as reached:
        outcome = Outcome(timed_out=True, waited=reached.waited)
    except BaseException as exc:  # the student's code may raise anything, SystemExit included
        outcome = Outcome(exception=exc)
    finally:
        signal.signal(signal.SIGALRM, previous_alarm)
    return outcome


def _call_in_thread(function, args, seconds) -> Outcome:
    outcome = Outcome()

    def target():
        try:
            outcome.value = function(*args)
        except BaseException as exc:
            outcome.exception = exc

    worker = threading.Thread(target=target, name="lowdim-course-check", daemon=True)
    wall_end = time.monotonic() + wall_backstop(seconds)
    worker.start()
    cpu_clock = _thread_cpu_clock(worker)
    cpu_start = cpu_clock()
    while True:
        worker.join(_POLL_SECONDS)
        if not worker.is_alive():
            return outcome
        if cpu_clock() - cpu_start >= seconds:
            return Outcome(timed_out=True)
        if time.monotonic() >= wall_end:
            return Outcome(timed_out=True, waited=True)


def _thread_cpu_clock(worker: threading.Thread):
    """A function returning ``worker``'s CPU seconds (Linux), else the whole process's.

    The process's clock also counts other threads: an abandoned endless loop still spinning
    in an earlier check's thread would eat into this call's limit, which the thread's own
    clock does not."""
    try:
        clock = time.pthread_getcpuclockid(worker.ident)
        time.clock_gettime(clock)
    except (AttributeError, OSError, OverflowError, TypeError):
        return time.process_time

    def read() -> float:
        try:
            return time.clock_gettime(clock)
        except OSError:  # the thread has just ended: the caller sees it at its next join
            return 0.0

    return read


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
