"""The machinery behind ``check``: a registry of exercises, a guarded call, and diagnoses.

An *exercise* is a function the student writes in a lesson (a stub that raises
``NotImplementedError`` until filled in). Its check

1. builds a few hidden cases (fixed seeds, so the feedback is the same run after run),
2. calls the student's function on a fresh copy of each case's arguments under a time limit,
3. compares the result with the core's reference implementation, with tolerances, and
4. prints ONE line: ``✅ <id>: passed (k/k cases)`` or ``❌ <id>: <what is wrong> — hint: <hint>``.

Nothing the student's code does (raise, return NaN, a list, a numpy array, the wrong shape, loop
forever) escapes ``check``: it always returns a :class:`CheckResult` and never raises.

``judge`` holds steps 3-4 on their own, so that the grader can judge, in its own process, the
results that the student's functions returned in the student's kernel.
"""

from __future__ import annotations

import math
import numbers
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

DEFAULT_TIME_LIMIT = 5.0

NOT_IMPLEMENTED_HINT = (
    "replace `raise NotImplementedError` (or `...`) with your code and `return` the result, "
    "then run this cell again"
)


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class CheckResult:
    """What ``check`` found: ``passed`` with ``score`` out of ``max_score``, and the one line."""

    id: str
    passed: bool
    score: float
    max_score: float
    message: str

    @property
    def line(self) -> str:
        """The line ``check`` prints: ``✅``/``❌``, the exercise id and the message."""
        return f"{'✅' if self.passed else '❌'} {self.id}: {self.message}"

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "passed": self.passed,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
        }

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.line

    def _ipython_display_(self):
        # ``check(...)`` is often the last line of a cell: the line is already printed, so the
        # notebook shows nothing more (plain Python still gets the dataclass repr).
        return None


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


@dataclass
class Exercise:
    """One exercise: its id (``'NN.name'``), the hidden cases, the reference and the comparison.

    ``compare(expected, got, case)`` returns ``None`` when ``got`` is right, else a ``Problem``.
    ``hint`` is the general hint shown when no specific diagnosis applies.
    ``allowed_core_calls`` names the course functions (``'lowdim_course.problems.make_problem'``)
    an answer may call; the grader flags any other call into ``lowdim_course`` from an answer.
    """

    id: str
    title: str
    signature: str
    make_cases: Callable[[], list[Case]]
    reference: Callable
    compare: Callable
    hint: str
    points: float = 1.0
    time_limit: float = DEFAULT_TIME_LIMIT
    tags: tuple = field(default_factory=tuple)
    allowed_core_calls: tuple = ()

    @property
    def lesson(self) -> str:
        return self.id.split(".", 1)[0]


REGISTRY: dict[str, Exercise] = {}


def register(exercise: Exercise) -> Exercise:
    """Add ``exercise`` to the registry (ids are ``'NN.name'`` and unique)."""
    lesson, _, name = exercise.id.partition(".")
    if not (len(lesson) == 2 and lesson.isdigit() and name):
        raise ValueError(f"exercise id must look like 'NN.name', got {exercise.id!r}")
    if exercise.id in REGISTRY:
        raise ValueError(f"exercise id {exercise.id!r} is registered twice")
    REGISTRY[exercise.id] = exercise
    return exercise


def normalize_lesson(lesson) -> str:
    """``4``, ``'4'``, ``'04'`` -> ``'04'``; ValueError for anything that is not 0..99."""
    text = str(lesson).strip() if isinstance(lesson, str | int) else None
    if isinstance(lesson, bool) or text is None or not text.isdigit() or int(text) > 99:
        raise ValueError(f"lesson must be a lesson number 0..99 such as '04', got {lesson!r}")
    return f"{int(text):02d}"


def exercise_ids(lesson=None) -> list[str]:
    """The registered exercise ids, in lesson order; only those of ``lesson`` when given."""
    if lesson is None:
        return sorted(REGISTRY)
    prefix = normalize_lesson(lesson) + "."
    return sorted(key for key in REGISTRY if key.startswith(prefix))


def get_exercise(exercise_id: str) -> Exercise:
    """The registered exercise, or ValueError listing the known ids."""
    if exercise_id not in REGISTRY:
        raise ValueError(
            f"exercise_id must be one of {', '.join(sorted(REGISTRY))}, got {exercise_id!r}"
        )
    return REGISTRY[exercise_id]


# ---------------------------------------------------------------------------------------------
# Calling the student's function safely
# ---------------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------------------------


def check(exercise_id: str, student_function, *, time_limit: float | None = None) -> CheckResult:
    """Check ``student_function`` against the hidden cases of ``exercise_id``; print one line.

    Returns a ``CheckResult`` (``id``, ``passed``, ``score``, ``max_score``, ``message``) and
    never raises: an unknown id, a stub, an exception, NaN, a wrong type or shape, or an endless
    loop (each call is stopped after ``time_limit`` seconds, default 5) all become a message.

    This is the student's instant feedback. It reports to nobody: the grader
    (``lowdim_course.grading``) calls the student's functions itself and judges their results in
    its own process.
    """
    try:
        result = _run_check(exercise_id, student_function, time_limit)
    except BaseException as exc:  # a bug in the check itself must not break the lesson
        if isinstance(exc, KeyboardInterrupt):
            message = "interrupted before the check finished — hint: run the cell again"
        else:
            message = (
                f"the check itself failed ({type(exc).__name__}: {one_line(exc)}) — "
                "hint: please report this to the course authors"
            )
        exercise = REGISTRY.get(exercise_id) if isinstance(exercise_id, str) else None
        points = exercise.points if exercise else 0.0
        result = CheckResult(str(exercise_id), False, 0.0, points, message)
    print(result.line, flush=True)
    return result


def _run_check(exercise_id, student_function, time_limit) -> CheckResult:
    if not isinstance(exercise_id, str) or exercise_id not in REGISTRY:
        known = ", ".join(sorted(REGISTRY))
        return CheckResult(
            str(exercise_id),
            False,
            0.0,
            0.0,
            f"unknown exercise {exercise_id!r} — hint: the known exercises are {known}",
        )
    exercise = REGISTRY[exercise_id]
    if student_function is None or student_function is Ellipsis:
        return failure(exercise, "not implemented yet", NOT_IMPLEMENTED_HINT)
    if not callable(student_function):
        return failure(
            exercise,
            f"expected a function, got {type(student_function).__name__}",
            f"pass the function itself, e.g. check({exercise.id!r}, my_function), not its result",
        )
    seconds = exercise.time_limit if time_limit is None else float(time_limit)
    if not (math.isfinite(seconds) and seconds > 0):
        seconds = exercise.time_limit

    def call(case: Case) -> Outcome:
        return call_with_time_limit(student_function, fresh_copy(case.args), seconds)

    return judge(exercise, exercise.make_cases(), call, seconds)


def failure(exercise: Exercise, what: str, hint: str | None = None) -> CheckResult:
    """A failed ``CheckResult`` for ``exercise``: ``what`` is wrong, and the hint."""
    message = f"{what} — hint: {hint or exercise.hint}"
    return CheckResult(exercise.id, False, 0.0, exercise.points, message)


def judge(exercise: Exercise, cases: list[Case], outcome_of, seconds: float) -> CheckResult:
    """Judge the student's outcome on each case, in order; the first wrong one fails the check.

    ``outcome_of(case)`` returns the :class:`Outcome` of the student's function on that case:
    ``check`` calls the function here, the grader reads what the function returned in the
    student's kernel. The reference answer is computed only after the student's call, so the
    student's code never runs while the expected value exists.
    """
    for index, case in enumerate(cases, start=1):
        where = f"on case {index}/{len(cases)} ({case.label})"
        outcome = outcome_of(case)
        if outcome.timed_out:
            return failure(
                exercise,
                f"did not return within {seconds:g} s (endless loop?) {where}",
                "look for a loop whose condition never changes, or a recursion without an end",
            )
        if outcome.exception is not None:
            name, text = outcome.exception_name, outcome.exception_text
            if name == "NotImplementedError":
                return failure(exercise, "not implemented yet", NOT_IMPLEMENTED_HINT)
            if name == "KeyboardInterrupt":
                hint = "run the cell again and let the check finish"
                return failure(exercise, "interrupted", hint)
            hint = None
            if name == "OverflowError":
                hint = "a value grows without bound: check the sign of the update and the formula"
            return failure(exercise, f"raised {name}: {text} {where}", hint)
        got = outcome.value
        if got is None or got is Ellipsis:
            what = "not implemented yet" if got is Ellipsis else "returned None"
            hint = (
                NOT_IMPLEMENTED_HINT
                if got is Ellipsis
                else "did you forget `return`? (a stub that only holds `...` returns None)"
            )
            if got is None and index == 1:
                what = "not implemented yet (the function returned None)"
            return failure(exercise, what, hint)
        expected = exercise.reference(*fresh_copy(case.args))
        try:
            problem = exercise.compare(expected, got, case)
        except Exception as exc:  # an unusual object (e.g. a failing __array__) from the student
            problem = Problem(f"could not read the result ({type(exc).__name__}: {one_line(exc)})")
        if problem is not None:
            return failure(exercise, f"{problem.what} {where}", problem.hint)
    return CheckResult(
        exercise.id,
        True,
        exercise.points,
        exercise.points,
        f"passed ({len(cases)}/{len(cases)} cases)",
    )


def one_line(value, limit: int = 160) -> str:
    """``str(value)`` on one line, whitespace collapsed, cut to ``limit`` characters."""
    text = " ".join(str(value).split()) or "(no message)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Reading and comparing the student's result
# ---------------------------------------------------------------------------------------------


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
