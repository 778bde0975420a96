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
from collections.abc import Callable
from dataclasses import dataclass, field

from ..threads import small_work
from .calling import Outcome, call_with_time_limit, fresh_copy, one_line, wall_backstop
from .comparing import (  # noqa: F401  (_is_close: lesson 04's sign-tolerant comparison)
    Case,
    Mistake,
    Problem,
    _is_close,
    compare_arrays,
    compare_integers,
    random_matrix,
    seeded_generator,
    to_integer,
    to_tensor,
)

__all__ = [  # the names an exercise module needs, from one place
    "DEFAULT_TIME_LIMIT",
    "NOT_IMPLEMENTED_HINT",
    "REGISTRY",
    "Case",
    "CheckResult",
    "Exercise",
    "Mistake",
    "Outcome",
    "Problem",
    "call_with_time_limit",
    "check",
    "compare_arrays",
    "compare_integers",
    "exercise_ids",
    "failure",
    "fresh_copy",
    "get_exercise",
    "judge",
    "normalize_lesson",
    "one_line",
    "random_matrix",
    "register",
    "seeded_generator",
    "to_integer",
    "to_tensor",
]

DEFAULT_TIME_LIMIT = 5.0  # CPU seconds per call of an answer (``calling``: not wall-clock time)

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
# The check
# ---------------------------------------------------------------------------------------------


def check(exercise_id: str, student_function, *, time_limit: float | None = None) -> CheckResult:
    """Check ``student_function`` against the hidden cases of ``exercise_id``; print one line.

    Returns a ``CheckResult`` (``id``, ``passed``, ``score``, ``max_score``, ``message``) and
    never raises: an unknown id, a stub, an exception, NaN, a wrong type or shape, or an endless
    loop (each call is stopped after ``time_limit`` seconds of CPU time, default 5, or after
    four times that on the wall clock while it waits: ``calling``) all become a message.

    This is the student's instant feedback. It reports to nobody: the grader
    (``lowdim_course.grading``) calls the student's functions itself and judges their results in
    its own process.
    """
    try:
        with small_work():  # the cases, the answer and the reference: small products, one thread
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
        if outcome.timed_out and outcome.waited:
            return failure(
                exercise,
                f"did not return within {wall_backstop(seconds):g} s and used little CPU "
                f"meanwhile (waiting for something that never comes?) {where}",
                "an answer computes and returns: look for a sleep, an input() or a wait in a loop",
            )
        if outcome.timed_out:
            return failure(
                exercise,
                f"did not return within {seconds:g} s of CPU time (endless loop?) {where}",
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
