"""Every number a lesson's text states is one its saved outputs print, or a declared exception.

A number in a lesson's prose that comes from its own runs (an error, a ratio, an iteration count)
must appear, as a whole token, in the saved outputs of the lesson or of its solution: when a
rebuild changes a run, the text cannot go on quoting the old value. The numbers considered are
``lesson_frame.prose_numbers``: written with a decimal point or a thousands separator, outside
LaTeX math, code, link targets and HTML tags. A number that does not come from the runs (a
paper's figure, a data set's size, a setting, an exercise id, an arXiv id, a section) is declared
with its reason in the source's header (``numbers_not_from_runs``), and a declared number that the
prose no longer states fails too; one whose reason names a file of the repository (a benchmark's
results) must appear in that file. Reads the saved notebooks; starts no kernel.
"""

import html
import re
from pathlib import Path

import nbformat
import pytest

from lowdim_course.lesson_frame import NUMBER, FrontMatter, front_matter, prose_numbers
from lowdim_course.lesson_source import read_source, write_source

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "lessons" / "src").glob("[0-9][0-9]_*.md"))
# Lessons whose text is being rewritten: checked again once rebuilt.
PENDING_REWRITE: dict[str, str] = {}
# The builder's own cells: the measured build time and the header's reading list, not prose.
GENERATED_HEADINGS = ("## Before you start", "## Read next")
# Output kinds whose text a reader sees (an image's bytes are not text).
TEXT_KINDS = ("text/plain", "text/html", "text/markdown")
# A repository file named in a reason, e.g. benchmarks/results/benchmark.md.
CITED_FILE = re.compile(r"[\w.-]+(?:/[\w.-]+)+\.(?:md|json|csv)\b")


def _notebook(folder: str, source: Path):
    return nbformat.read(ROOT / folder / f"{source.stem}.ipynb", as_version=4)


def output_numbers(notebook) -> set[str]:
    """Every ``NUMBER`` token the notebook's saved outputs show (a slider panel's static copy of
    its opening run included: it is HTML)."""
    texts = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            texts.append(output.get("text", ""))
            data = output.get("data", {})
            for kind in TEXT_KINDS:
                if kind in data:
                    texts.append(html.unescape(re.sub(r"<[^>]+>", " ", data[kind])))
    return set(NUMBER.findall("\n".join(texts)))


def stated_numbers(notebook) -> dict[str, str]:
    """``{number: the sentence around it}`` for the numbers the Markdown cells state."""
    found = {}
    for cell in notebook.cells:
        if cell.cell_type != "markdown" or cell.source.startswith(GENERATED_HEADINGS):
            continue
        for number in prose_numbers(cell.source):
            at = cell.source.find(number)
            found.setdefault(number, " ".join(cell.source[max(0, at - 60) : at + 40].split()))
    return found


@pytest.mark.parametrize(
    "source",
    [path for path in SOURCES if path.name[:2] not in PENDING_REWRITE],
    ids=lambda path: path.name[:2],
)
def test_every_number_in_the_text_is_printed_by_the_lesson_or_declared(source):
    front, _ = read_source(source.read_text(encoding="utf-8"))
    lesson = _notebook("lessons", source)
    printed = output_numbers(lesson) | output_numbers(_notebook("solutions", source))
    stated = stated_numbers(lesson)
    declared = front.numbers_not_from_runs
    unexplained = {n: where for n, where in stated.items() if n not in printed | set(declared)}
    assert not unexplained, (
        f"{source.name}: numbers in the text that no saved output prints; use the output's "
        "number, or declare the number with its reason under numbers_not_from_runs:\n"
        + "\n".join(f"  {n}: ...{where}..." for n, where in unexplained.items())
    )
    stale = sorted(set(declared) - set(stated))
    assert not stale, f"{source.name}: declared numbers the text no longer states: {stale}"
    for number, reason in declared.items():
        for cited in CITED_FILE.findall(reason):
            path = ROOT / cited
            assert path.is_file(), f"{source.name}: {number}'s reason cites {cited}, not a file"
            assert number in NUMBER.findall(path.read_text(encoding="utf-8")), (
                f"{source.name}: {number} is not in {cited}, which its reason cites"
            )


def test_the_pending_lessons_exist():
    # an exclusion outlives its reason unnoticed when the lesson is renamed or removed
    numbers = {path.name[:2] for path in SOURCES}
    assert set(PENDING_REWRITE) <= numbers


def test_prose_numbers_are_whole_tokens_outside_math_and_code():
    text = (
        "It reached 1.29 +- 0.05 and 2,252 iterations (v0.1.0, x1.5, 11.29 or 1.295 are other "
        "tokens), $a = 0.75$ and $$b = 3.5$$ are math, `lr=0.5` is code, [see](page_2.5.html) a "
        "link, <img width='1.5'> a tag; the error 7.70e-06; 300 is an integer.\n"
        "```python\nx = 0.25\n```\n"
    )
    assert prose_numbers(text) == ["1.29", "0.05", "2,252", "11.29", "1.295", "7.70e-06"]
    assert prose_numbers(r"it costs \$1.50 and \$2.50") == ["1.50", "2.50"]
    # a run's number in math as a decimal times a power of ten reads as Python prints it
    assert prose_numbers(r"errors $7.70\cdot10^{-6}$ and $2.5 \times 10^{3}$, $9\cdot10^4$") == [
        "7.70e-06",
        "2.5e+03",
    ]
    # "4.7x" is 4.7 times; "4.7xyz" is no number
    assert NUMBER.findall("4.7x faster, 4.0x, 2.5xyz") == ["4.7", "4.0"]
    # a number counts in the outputs only as a whole token too
    assert not {"1.29", "0.05"} & set(NUMBER.findall("11.295 0.055 x0.05"))


def test_a_declared_number_must_be_a_quoted_number_with_a_reason():
    front = front_matter({"numbers_not_from_runs": {"1,797": " digits data  set size "}})
    assert front.numbers_not_from_runs == {"1,797": "digits data set size"}
    assert front.as_metadata() == {"numbers_not_from_runs": {"1,797": "digits data set size"}}
    for bad, message in (
        ({0.5: "a setting"}, "quote the number"),
        ({"about 0.5": "a setting"}, "is not a number"),
        ({"300": "a setting"}, "is not a number"),  # integers are not checked: nothing to declare
        ({"0.5": ""}, "needs its reason"),
        ({"0.5": None}, "needs its reason"),
        (["0.5"], "must be a mapping"),
    ):
        with pytest.raises(ValueError, match=message):
            front_matter({"numbers_not_from_runs": bad})


def test_declared_numbers_survive_writing_and_reading_the_source():
    # YAML must quote 0.5 (else it reads back as a float) and 1,797
    declared = {"0.5": "the init scale slider's largest value", "1,797": "digits data set size"}
    front = FrontMatter(summary="s", numbers_not_from_runs=declared)
    text = write_source(front, [("markdown", "# Lesson 12 — X\n\n0.5 and 1,797")])
    assert read_source(text)[0].numbers_not_from_runs == declared
