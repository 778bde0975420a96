"""The lesson frame: front matter -> "Before you start" (time, needs, glossary) and "Read next";
self-check questions; the guarded call that lets a capstone figure use the student's code."""

import math

import pytest
import torch

from lowdim_course.authoring import make_notebook, parse_source
from lowdim_course.exercises.capstone import run_student_code
from lowdim_course.exercises.framework import call_with_time_limit, judge
from lowdim_course.exercises.self_check import choice_question, number_question
from lowdim_course.grading.judging import decode
from lowdim_course.grading.kernel_side import encode
from lowdim_course.lesson_frame import (
    EXERCISE_MINUTES,
    READING_WORDS_PER_MINUTE,
    before_you_start,
    exercise_kinds,
    split_front_matter,
)

FRONT = """---
prerequisites: the SVD; gradient descent
read_next:
- Saxe et al. (2019). *A mathematical theory of semantic development.* PNAS. The same modes
  on a hierarchy of living things.
- Arora, Cohen, Hazan (2018). *On the optimization of deep networks.* ICML.
---
# Lesson 99 — A title

Intro text.

+++

## 1. Something

```python
check("01.half_way_time", half_way_time);
```
"""


def test_front_matter_is_read_and_removed_from_the_body():
    front, body = split_front_matter(FRONT)
    assert front.prerequisites == ["the SVD", "gradient descent"]
    assert len(front.read_next) == 2
    assert front.read_next[0].endswith("PNAS. The same modes on a hierarchy of living things.")
    assert body.lstrip().startswith("# Lesson 99")


def test_a_source_without_front_matter_is_unchanged():
    front, body = split_front_matter("# Title\n\ntext\n")
    assert front.prerequisites == [] and front.read_next == [] and body == "# Title\n\ntext\n"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("---\nprerequisites: x\n# Title\n", "not closed"),
        ("---\ntime: 40\n---\n# T\n", "front matter line 2"),
        ("---\n- an item without read_next\n---\n", "front matter line 2"),
    ],
)
def test_malformed_front_matter_is_an_error_that_names_the_line(text, words):
    with pytest.raises(ValueError, match=words):
        split_front_matter(text)


def test_the_header_states_how_its_time_was_estimated():
    front, body = split_front_matter(FRONT)
    cells = parse_source(body)
    words = sum(len(text.split()) for kind, text in cells if kind == "markdown")
    header = before_you_start(front, cells, run_seconds=75.0)
    reading = math.ceil(words / READING_WORDS_PER_MINUTE)
    total = reading + EXERCISE_MINUTES["warm-up"] + 2  # 75 s of running rounds up to 2 min
    assert f"about {total} minutes" in header
    assert "1 warm-up" in header and "measured: 75 s" in header
    assert "the SVD; gradient descent" in header
    assert "](../lessons/glossary.md)" in header


def test_exercise_kinds_come_from_the_registered_tags():
    cells = [("code", 'check("04.spectral_init", f)\ncheck("04.spectral_init", f)')]
    assert exercise_kinds(cells) == ["warm-up"]  # counted once, untagged = warm-up


def test_the_notebook_gets_the_header_second_and_read_next_last(tmp_path):
    source = tmp_path / "99_demo.md"
    source.write_text(FRONT)
    notebook = make_notebook(source, solved=False)
    texts = [cell.source for cell in notebook.cells]
    badge, title = texts[0].split("\n\n", 1)  # the Colab badge, then the source's first cell
    assert badge.startswith("[![Open in Colab]") and title.startswith("# Lesson 99")
    assert notebook.cells[1].cell_type == "code"  # the install cell (links.INSTALL_CELL)
    assert texts[2].startswith("## Before you start")
    assert texts[-1].startswith("## Read next\n\n* Saxe et al. (2019)")
    assert "---" not in texts[0]


def test_every_lesson_source_has_front_matter_that_parses():
    from pathlib import Path

    sources = sorted((Path(__file__).parents[1] / "lessons" / "src").glob("[0-9][0-9]_*.md"))
    assert sources
    for path in sources:
        front, _ = split_front_matter(path.read_text())
        assert front.prerequisites, f"{path.name} states no prerequisites"
        assert len(front.read_next) >= 2, f"{path.name} has fewer than two read-next items"


# ---------------------------------------------------------------------------------------------
# Self-check questions (built here, not registered: the registry holds the course's own)
# ---------------------------------------------------------------------------------------------

QUESTION = choice_question(
    "99.which",
    "Which one",
    {"a": "one", "b": "two", "c": "three"},
    correct="b",
    why_wrong={"a": "one is too few", "c": "three is too many"},
    hint="count the layers",
)


def _judge(exercise, answer):
    def call(case):
        return call_with_time_limit(answer, case.args, 5.0)

    return judge(exercise, exercise.make_cases(), call, 5.0)


@pytest.mark.parametrize("letter", ["b", "B", " (b) "])
def test_the_right_letter_passes_however_it_is_written(letter):
    assert _judge(QUESTION, lambda: letter).passed


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (lambda: "a", "not (a): one is too few"),
        (lambda: "c", "not (c): three is too many"),
        (lambda: "e", "'e' is not one of the options"),
        (lambda: 2, "returned int, expected one letter"),
        (lambda: None, "not implemented yet"),
    ],
)
def test_a_wrong_choice_is_explained(answer, words):
    result = _judge(QUESTION, answer)
    assert not result.passed and words in result.message, result.message


def test_a_choice_question_must_explain_every_wrong_option():
    with pytest.raises(ValueError, match="why_wrong"):
        choice_question("99.x", "x", {"a": "1", "b": "2"}, "a", {}, "hint")
    with pytest.raises(ValueError, match="correct"):
        choice_question("99.x", "x", {"a": "1"}, "z", {}, "hint")


def test_a_number_question_accepts_a_rounded_answer_and_names_a_known_mistake():
    question = number_question(
        "99.n", "How many", 4.0 * math.log(10), {2.0 * math.log(10): "half: the factor 2"}, "h"
    )
    assert _judge(question, lambda: 9.2).passed  # 9.21 rounded by hand
    result = _judge(question, lambda: 4.6)
    assert not result.passed and "half: the factor 2" in result.message
    with pytest.raises(ValueError, match="answer"):
        number_question("99.n", "x", math.nan, {}, "h")


def test_a_string_answer_travels_from_the_kernel_to_the_grader_short_and_plain():
    class Sneaky(str):
        def __eq__(self, other):  # claims to equal anything
            return True

    assert decode(encode("b")) == "b"
    travelled = decode(encode(Sneaky("a")))
    assert type(travelled) is str and travelled == "a"
    assert len(decode(encode("x" * 10_000))) == 200


# ---------------------------------------------------------------------------------------------
# run_student_code: a student's bug never breaks the capstone's figure
# ---------------------------------------------------------------------------------------------


def _stub():
    raise NotImplementedError("your code here")


@pytest.mark.parametrize(
    ("work", "words"),
    [
        (_stub, "your step is not written yet"),
        (lambda: 1 / 0, "your step raised ZeroDivisionError"),
        (lambda: None, "returned None"),
        (lambda: [torch.ones(2), torch.tensor([math.nan])], "NaN"),
        (lambda: math.inf, "NaN or infinite"),
    ],
)
def test_a_failing_student_function_gives_one_line_and_no_value(work, words, capsys):
    run = run_student_code(work, name="step")
    line = capsys.readouterr().out
    assert not run.ok and run.value is None and words in run.message
    assert line.count("\n") == 1 and "the figure shows the course's result only" in line


def test_an_endless_student_function_is_stopped(capsys):
    def endless():
        while True:
            pass

    run = run_student_code(endless, name="loop", seconds=0.2)
    assert not run.ok and "did not finish within 0.2 s" in run.message


def test_a_working_student_function_gives_its_value_silently(capsys):
    run = run_student_code(lambda: torch.ones(3), name="step")
    assert run.ok and torch.equal(run.value, torch.ones(3))
    assert capsys.readouterr().out == ""
