"""Exercises with automatic feedback: ``check("04.spectral_init", spectral_init)``.

One module per lesson (``lesson00.py``, ``lesson01.py``, ...) holds the lesson's reference
answers, hidden cases and diagnoses of common mistakes; every ``lessonNN`` module in this package
is imported (and so registered) here, so a new lesson needs no edit of this file. The machinery:

* ``framework``: the registry, ``check`` and ``judge`` (what every exercise module imports);
* ``calling``: calling the student's function on a fresh copy of the arguments, with a time limit;
* ``comparing``: reading the student's result and naming the mistake;
* ``self_check``: questions answered with a letter or a number;
* ``capstone``: running the student's own algorithm inside a lesson's figure.

In a notebook, the cell after an exercise calls::

    from lowdim_course.exercises import check
    check("04.spectral_init", spectral_init)

which prints one line (``✅ ... passed`` or ``❌ ... what is wrong — hint: ...``) and returns a
``CheckResult``. ``lowdim_course.grading`` runs whole notebooks and judges the functions
themselves, with ``framework.judge``.
"""

import importlib
import pkgutil
import re

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


def _register_every_lesson() -> None:
    for module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
        if re.fullmatch(r"lesson\d\d", module):
            importlib.import_module(f"{__name__}.{module}")


_register_every_lesson()
