"""Self-check questions: a concept checked like code, by the same ``check(...)`` and grader.

A self-check is an exercise whose answer function takes no argument and returns the answer:
the letter of a multiple-choice option, or a number::

    def which_option():
        return "b"

    check("NN.which_option", which_option)

A wrong option gets its own explanation (why that option is tempting and why it is wrong), so a
self-check teaches as it checks. Build one with :func:`choice_question` or
:func:`number_question` and ``register`` it in the lesson's exercise module; it is tagged
``"self-check"`` (the lesson's header counts it as a two-minute exercise).
"""

from __future__ import annotations

import math

from .framework import Case, Exercise, Mistake, Problem, compare_arrays

SELF_CHECK_TAG = "self-check"
_THE_ANSWER = Case((), "your answer")


def _no_arguments_reference(value):
    def reference():
        return value

    return reference


def choice_question(
    id: str,
    title: str,
    options: dict[str, str],
    correct: str,
    why_wrong: dict[str, str],
    hint: str,
) -> Exercise:
    """A multiple-choice question: the answer function returns one letter of ``options``.

    ``why_wrong`` explains every wrong option; ``hint`` points at the lesson's reasoning
    without naming the answer.
    """
    if correct not in options:
        raise ValueError(f"correct must be one of the options {sorted(options)}, got {correct!r}")
    missing = set(options) - set(why_wrong) - {correct}
    if missing or correct in why_wrong:
        raise ValueError(
            f"why_wrong must explain exactly the wrong options, missing {sorted(missing)}"
        )
    letters = ", ".join(repr(letter) for letter in sorted(options))

    def compare(expected, got, case):
        if not isinstance(got, str):
            return Problem(
                f"returned {type(got).__name__}, expected one letter: {letters}",
                'return the letter as a string, e.g. return "a"',
            )
        answer = got.strip().strip("()").strip().lower()
        if answer not in options:
            return Problem(f"{got!r} is not one of the options {letters}", hint)
        if answer != expected:
            return Problem(f"not ({answer}): {why_wrong[answer]}", hint)
        return None

    return Exercise(
        id=id,
        title=title,
        signature=f"{id.split('.', 1)[1]}() -> one of {letters}",
        make_cases=lambda: [_THE_ANSWER],
        reference=_no_arguments_reference(correct),
        compare=compare,
        hint=hint,
        tags=(SELF_CHECK_TAG,),
    )


def number_question(
    id: str,
    title: str,
    answer: float,
    mistakes: dict[float, str],
    hint: str,
    rtol: float = 0.02,
) -> Exercise:
    """A question with a numeric answer, accepted within ``rtol`` (a hand calculation rounds).

    ``mistakes`` maps a tempting wrong number to what it means.
    """
    if not math.isfinite(answer) or answer == 0:
        raise ValueError(f"answer must be a finite nonzero number, got {answer!r}")
    known = tuple(
        Mistake(_no_arguments_reference(float(value)), what, hint)
        for value, what in mistakes.items()
    )

    def compare(expected, got, case):
        return compare_arrays(expected, got, case, rtol=rtol, atol=0.0, mistakes=known)

    return Exercise(
        id=id,
        title=title,
        signature=f"{id.split('.', 1)[1]}() -> a number",
        make_cases=lambda: [_THE_ANSWER],
        reference=_no_arguments_reference(float(answer)),
        compare=compare,
        hint=hint,
        tags=(SELF_CHECK_TAG,),
    )
