"""A new lesson's four files, ready to build: ``python -m lowdim_course.authoring new 12 "Title"``.

Writes

* ``lessons/src/NN_slug.md``: front matter, objectives, setup, one demo, one warm-up exercise
  (with two collapsible hints), a Think! with its answer, summary and references;
* ``lowdim_course/demos/lessonNN.py``: the demo the lesson calls (core code, never the
  student's);
* ``lowdim_course/exercises/lessonNN.py``: the exercise's reference, hidden cases and named
  mistakes (registered automatically: ``lowdim_course.exercises`` imports every ``lessonNN``);
* ``tests/test_lessonNN.py``: the check accepts an independent solution, rejects the stub and
  names three mistakes; the demo runs.

The example exercise (``NN.squared_norm``: the squared Frobenius norm) and demo are
placeholders that show the pattern; replace them with the lesson's own. Nothing is overwritten.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from .lesson_frame import FrontMatter
from .lesson_source import write_source

# The source's YAML header comes from lesson_source.write_source, as for every lesson.
FRONT = FrontMatter(
    summary="(what a student will see and do, one line: README's table and lesson 00's map)",
    prerequisites=["Lesson 00", "PyTorch tensors"],
    read_next=[
        "(a paper to read after this lesson, with one sentence on what the reader gets from it)",
        "(a second one)",
    ],
)

SOURCE = """# Lesson {nn} — {title}

**(The lesson's question, in one sentence.)**

## Learning objectives

After this lesson you can

1. (an objective a student can check)

+++

## Setup

Run this cell first.

```{{code-cell}} ipython3
import torch  # noqa: F401, RUF100  (for your answers)

from lowdim_course.demos.lesson{nn} import example_demo
from lowdim_course.exercises import check
```

## 1. The idea

(The idea in words and formulas.) The squared Frobenius norm of a matrix is
$\\|W\\|_F^2 = \\sum_{{ij}} W_{{ij}}^2$.

```{{code-cell}} ipython3
summary = example_demo(scale=2.0)
```

### Exercise {nn}.1 — the squared Frobenius norm

Return $\\|W\\|_F^2$ for a matrix `W`.

```{{code-cell}} ipython3
def squared_norm(W):
    # BEGIN SOLUTION
    return (W**2).sum()
    # END SOLUTION
```

<details><summary>Hint 1: the idea</summary>

Every entry counts, squared; nothing else.

</details>

<details><summary>Hint 2: the shape of the code</summary>

1. Square every entry.
2. Add them all up and return the number.

</details>

```{{code-cell}} ipython3
check("{nn}.squared_norm", squared_norm);
```

**Think!** Why is the squared norm the sum of the squared singular values?

<details><summary>Answer</summary>

Orthogonal matrices keep lengths: $\\|U\\Sigma V^\\top\\|_F = \\|\\Sigma\\|_F$.

</details>

## Summary

* (what the student should take away)

## References

* (the papers the lesson is built on, with sections)
"""

DEMOS = '''"""Lesson {nn} demo: (what the lesson's figures show).

``example_demo`` draws a placeholder figure from the core; replace it with the lesson's own.
"""

from __future__ import annotations

import torch

from ..plots import demo_figure, show_figure
from ..validation import check_positive

__all__ = ["example_demo"]


def example_demo(scale: float = 1.0) -> dict:
    """Plot ``scale * t^2`` for t in [0, 1] and print its value at t = 1."""
    scale = check_positive("scale", scale)
    times = torch.linspace(0.0, 1.0, 50, dtype=torch.float64)
    figure, (axes,) = demo_figure(1, 6, 3.4, title=False)
    axes.plot(times, scale * times**2)
    axes.set_xlabel("t")
    show_figure(figure)
    value = float(scale)
    print(f"value at t = 1: {{value:.3g}}")
    return {{"value": value}}
'''

EXERCISES = '''"""Lesson {nn} exercises.

* ``{nn}.squared_norm``: ``||W||_F^2 = sum_ij W_ij^2`` (a placeholder: replace it).
"""

from __future__ import annotations

import torch

from .framework import (
    Case,
    Exercise,
    Mistake,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
)


def reference_squared_norm(W):
    return torch.linalg.matrix_norm(W) ** 2


def _cases() -> list[Case]:
    generator = seeded_generator({seed})
    shapes = [(3, 3), (4, 2), (1, 5)]
    return [Case((random_matrix(m, n, generator),), f"{{m}} x {{n}}") for m, n in shapes]


_MISTAKES = (
    Mistake(lambda W: torch.linalg.matrix_norm(W), "the norm, not its square", "square it"),
    Mistake(lambda W: W.sum() ** 2, "squared the sum of the entries", "square each entry first"),
    Mistake(
        lambda W: torch.linalg.matrix_norm(W, ord=2) ** 2,
        "the largest singular value squared (the spectral norm)",
        "every entry counts, not only the top singular value",
    ),
)

SQUARED_NORM = register(
    Exercise(
        id="{nn}.squared_norm",
        title="The squared Frobenius norm",
        signature="squared_norm(W) -> sum of the squared entries",
        make_cases=_cases,
        reference=reference_squared_norm,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_MISTAKES, name="the squared norm"
        ),
        hint="every entry counts, squared",
    )
)
'''

TESTS = '''"""Lesson {nn}: an independent solution passes, the stub and three mistakes fail."""

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

from lowdim_course.demos.lesson{nn} import example_demo
from lowdim_course.exercises import check


def squared_norm(W):  # numpy, entry by entry
    return float(sum(value**2 for value in np.asarray(W).ravel()))


def stub(*args):
    raise NotImplementedError("your code here")


def test_an_independent_solution_passes(capsys):
    assert check("{nn}.squared_norm", squared_norm).passed


def test_the_stub_fails(capsys):
    assert "not implemented yet" in check("{nn}.squared_norm", stub).message


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda W: np.linalg.norm(np.asarray(W)), "the norm, not its square"),
        (lambda W: np.asarray(W).sum() ** 2, "squared the sum"),
        (lambda W: np.linalg.norm(np.asarray(W), 2) ** 2, "largest singular value"),
    ],
)
def test_mistakes_are_named(student, words, capsys):
    result = check("{nn}.squared_norm", student)
    assert not result.passed and words in result.message, result.message


def test_the_demo_runs_and_prints(capsys):
    assert example_demo(scale=2.0)["value"] == 2.0
    assert "value at t = 1: 2" in capsys.readouterr().out
'''


def slug(title: str) -> str:
    """``"Low-rank adapters!"`` -> ``"low_rank_adapters"``; ValueError when nothing is left."""
    words = re.findall(r"[a-z0-9]+", title.lower())
    if not words:
        raise ValueError(f"title must contain letters or digits, got {title!r}")
    return "_".join(words)


def new_lesson(root: Path, number, title: str) -> list[Path]:
    """Write the four files of lesson ``number`` under ``root``; return their paths.

    ValueError (naming the argument) for a number outside 1..99, an empty title, or a lesson
    number that already has any of the files.
    """
    text = str(number).strip()
    if not text.isdigit() or not 1 <= int(text) <= 99:
        raise ValueError(f"number must be a lesson number 1..99, got {number!r}")
    nn = f"{int(text):02d}"
    root = Path(root)
    paths = {
        root / "lessons" / "src" / f"{nn}_{slug(title)}.md": SOURCE,
        root / "lowdim_course" / "demos" / f"lesson{nn}.py": DEMOS,
        root / "lowdim_course" / "exercises" / f"lesson{nn}.py": EXERCISES,
        root / "tests" / f"test_lesson{nn}.py": TESTS,
    }
    taken = [str(path) for path in paths if path.exists()]
    taken += [str(path) for path in (root / "lessons" / "src").glob(f"{nn}_*.md")]
    if taken:
        raise ValueError(f"number {nn} is taken: {', '.join(sorted(set(taken)))} exist")
    for path, template in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = template.format(nn=nn, title=title.strip(), seed=int(nn) * 1000)
        if template is SOURCE:  # its exercise id is a number of the prose, not of a run
            front = dataclasses.replace(FRONT, numbers_not_from_runs={f"{nn}.1": "exercise id"})
            text = f"{write_source(front, [])}\n{text}"
        path.write_text(text)
    return list(paths)
