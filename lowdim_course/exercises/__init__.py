"""Exercises with automatic feedback: ``check("04.spectral_init", spectral_init)``.

One module per lesson (``lesson00`` ... ``lesson11``) holds the reference answers, the hidden
cases and the diagnoses of common mistakes; ``framework`` holds the registry and the guarded
call. In a notebook, the cell after an exercise calls::

    from lowdim_course.exercises import check
    check("04.spectral_init", spectral_init)

which prints one line (``✅ ... passed`` or ``❌ ... what is wrong — hint: ...``) and returns a
``CheckResult``. ``lowdim_course.grading`` runs whole notebooks and judges the functions
themselves, with ``framework.judge``.
"""

from . import (  # noqa: F401  (registration)
    lesson00,
    lesson01,
    lesson02,
    lesson03,
    lesson04,
    lesson05,
    lesson06,
    lesson07,
    lesson08,
    lesson09,
    lesson10,
    lesson11,
)
from .framework import (
    REGISTRY,
    CheckResult,
    Exercise,
    check,
    exercise_ids,
    get_exercise,
    normalize_lesson,
)

__all__ = [
    "REGISTRY",
    "CheckResult",
    "Exercise",
    "check",
    "exercise_ids",
    "get_exercise",
    "normalize_lesson",
]
