"""The lesson frame: front matter -> "Before you start" (time, needs, glossary) and "Read next";
self-check questions; the guarded call that lets a capstone figure use the student's code."""

import math

import pytest
import torch

from lowdim_course.authoring import make_notebook
from lowdim_course.exercises.capstone import run_student_code
from lowdim_course.exercises.framework import call_with_time_limit, judge
from lowdim_course.exercises.self_check import choice_question, number_question
from lowdim_course.grading.judging import decode
from lowdim_course.grading.kernel_results import encode
from lowdim_course.lesson_frame import (
    EXERCISE_MINUTES,
    READING_WORDS_PER_MINUTE,
    FrontMatter,
    before_you_start,
    exercise_kinds,
    front_matter,
)
from lowdim_course.lesson_source import read_source, write_source

FRONT = """---
jupytext:
  notebook_metadata_filter: lowdim_course
  text_representation: {extension: .md, format_name: myst}
lowdim_course:
  prerequisites:
  - the SVD
  - gradient descent
  read_next:
  - Saxe et al. (2019). *A mathematical theory of semantic development.* PNAS. The same modes
    on a hierarchy of living things.
  - 'Arora, Cohen, Hazan (2018). *On the optimization of deep networks: acceleration.* ICML.'
---

# Lesson 99 — A title

Intro text.

+++

## 1. Something

```{code-cell} ipython3
check("01.half_way_time", half_way_time);
```
"""


def test_front_matter_is_read_from_the_yaml_header():
    front, cells = read_source(FRONT)
    assert front.prerequisites == ["the SVD", "gradient descent"]
    assert len(front.read_next) == 2
    assert front.read_next[0].endswith("PNAS. The same modes on a hierarchy of living things.")
    assert front.read_next[1].endswith("acceleration.* ICML.")
    assert [kind for kind, _ in cells] == ["markdown", "markdown", "code"]
    assert cells[0][1].startswith("# Lesson 99")


def test_a_source_without_front_matter_has_an_empty_one():
    front, cells = read_source("# Title\n\ntext\n")
    assert front == FrontMatter() and cells == [("markdown", "# Title\n\ntext")]


def test_writing_a_source_and_reading_it_back_gives_the_same_lesson():
    front = FrontMatter(
        summary="modes: one at a time",  # a colon, which YAML must quote
        prerequisites=["Lesson 00", "the SVD $U \\Sigma V^\\top$"],
        read_next=["Saxe et al. (2019). 'Quoted' words, and a long line " * 4],
    )
    cells = [
        ("markdown", "# Lesson 12 — X\n\ntext"),
        ("markdown", "more"),
        ("code", "def f(x):\n\n\n    return x  # blank lines kept"),
    ]
    text = write_source(front, cells)
    assert "```{code-cell} ipython3" in text and "notebook_metadata_filter: lowdim_course" in text
    assert "\n  - Lesson 00\n" in text  # block-style lists, one item per line
    back_front, back_cells = read_source(text)
    assert back_cells == cells
    assert back_front.summary == front.summary and back_front.prerequisites == front.prerequisites
    assert back_front.read_next == [" ".join(item.split()) for item in front.read_next]


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({"time": 40}, "unknown keys \\['time'\\]"),
        ({"summary": ["a", "b"]}, "summary must be one line"),
        ({"prerequisites": "x; y"}, "prerequisites must be a list"),
        ({"read_next": [1, 2]}, "read_next must be a list"),
        (["summary"], "must be a mapping"),
    ],
)
def test_malformed_front_matter_is_an_error_that_names_the_key(metadata, words):
    with pytest.raises(ValueError, match=words):
        front_matter(metadata)


def test_a_header_that_is_not_yaml_or_a_raw_cell_is_named():
    with pytest.raises(ValueError, match="YAML header does not parse"):
        read_source("---\nlowdim_course:\n  summary: a: b\n---\n# T\n")
    raw = "# T\n\n```{raw-cell}\nraw text\n```\n"
    with pytest.raises(ValueError, match="cell 2 is a raw cell"):
        read_source(raw)


def test_the_header_states_how_its_time_was_estimated():
    front, cells = read_source(FRONT)
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
        front, _ = read_source(path.read_text())
        assert front.summary, f"{path.name} has no summary"
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
