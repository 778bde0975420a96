"""Odd but honest files are graded, or get one specific message: an nbformat 3 notebook, a file
in Latin-1 or Windows-1252 bytes, a lone surrogate in a code cell; and the printed report of a
notebook whose answer raises with escape codes shows its real score.

The tests marked slow grade notebooks in Jupyter kernels (all of them in one run per module)."""

import json

import pytest
import student_answers as answers
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from student_answers import IMPORT, checked

from lowdim_course.exercises import exercise_ids
from lowdim_course.grading import format_report, grade_notebooks, worker
from lowdim_course.grading.inspection import decode_notebook, parse_notebook

END_TO_END = checked(answers.END_TO_END, "00.end_to_end")
RECOVERY = checked(answers.RECOVERY, "00.recovery_error")
LONE = "x = 'caf\ud800'\n"  # a lone surrogate: json.dumps writes it as the escape \ud800
# The answer is right on every case but raises once, with a message that would move the cursor
# up and repaint the lines above as passed.
REPAINT = "\x1b[1A\x1b[2K\r00_eve.ipynb (lesson 00): 2/2 \x1b[32m✅ passed"
RECOVERY_RAISING = f"""
def recovery_error(W, M_star):
    raise ValueError({REPAINT!r})
"""


def _v4(cells, markdown="# Lesson 00 — café") -> str:
    notebook = new_notebook(cells=[new_markdown_cell(markdown), *map(new_code_cell, cells)])
    return json.dumps(notebook)  # ensure_ascii: a lone surrogate becomes its escape


def _v3(cells) -> str:
    from nbformat.v3 import new_code_cell as old_cell
    from nbformat.v3 import new_notebook as old_notebook
    from nbformat.v3 import new_worksheet, writes_json

    sheet = new_worksheet(cells=[old_cell(input=source) for source in cells])
    return writes_json(old_notebook(worksheets=[sheet], metadata={"name": "old"}))


def test_an_nbformat_3_notebook_is_converted_and_its_lesson_read():
    text = _v3([IMPORT, END_TO_END, RECOVERY])
    assert json.loads(text)["nbformat"] == 3 and "cells" not in json.loads(text)
    entry, reading, notebook = worker.skeleton("homework.ipynb", text)
    assert entry["error"] is None and reading.lesson == "00"
    assert list(reading.answer_names) == exercise_ids("00")
    assert notebook["cells"][1]["source"] == END_TO_END
    assert entry["notes"] == ["an nbformat 3 notebook: converted to nbformat 4 before grading"]


def test_an_unknown_format_version_is_named_in_one_message():
    entry, reading, _ = worker.skeleton("00_x.ipynb", json.dumps({"nbformat": 5, "cells": []}))
    assert reading is None and "not a version-4 notebook (nbformat 5)" in entry["error"]


def test_a_lone_surrogate_in_a_code_cell_becomes_the_replacement_character_with_a_note():
    text = _v4([IMPORT, LONE + END_TO_END])
    assert "\\ud800" in text
    notes = []
    notebook = parse_notebook(text, notes)
    assert notebook["cells"][2]["source"] == "x = 'caf\ufffd'\n" + END_TO_END
    notebook["cells"][2]["source"].encode("utf-8")  # what failed to be sent before
    assert notes == [
        "cell 3 holds U+D800, a lone surrogate (no Unicode character, Python cannot run it): "
        "it ran with U+FFFD in its place"
    ]
    plain = []
    assert parse_notebook(_v4([IMPORT, END_TO_END]), plain)["cells"] and plain == []


@pytest.mark.parametrize(
    ("encoding", "named"), [("latin-1", "Windows-1252"), ("cp1252", "Windows-1252")]
)
def test_a_notebook_in_single_byte_text_is_read_with_a_note(encoding, named):
    text = _v4([IMPORT, END_TO_END], markdown="# Lesson 00, résumé")
    data = json.dumps(json.loads(text), ensure_ascii=False).encode(encoding)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    decoded, note = decode_notebook(data)
    assert json.loads(decoded)["cells"][0]["source"] == "# Lesson 00, résumé"
    offset = data.index("é".encode(encoding))
    assert note == (
        f"the file is not UTF-8 (byte 0xE9 at offset {offset}): read as {named}; "
        "Jupyter saves UTF-8"
    )
    assert decode_notebook(text.encode("utf-8")) == (text, None)


def test_bytes_windows_1252_leaves_undefined_are_read_as_latin_1():
    decoded, note = decode_notebook(b'{"a": "\x81\xe9"}')
    assert decoded == '{"a": "\x81é"}' and note.endswith("read as Latin-1; Jupyter saves UTF-8")


def test_a_latin_1_file_that_is_no_notebook_gets_the_note_and_the_error(tmp_path):
    path, text = tmp_path / "03_broken.ipynb", "{ pas un carnet, déjà"
    path.write_bytes(text.encode("latin-1"))
    (entry,) = grade_notebooks([path], jobs=1)  # nothing to run: no kernel starts
    assert entry["lesson"] == "03" and entry["score"] == 0.0
    assert entry["error"].startswith("could not read the notebook: JSONDecodeError")
    assert entry["notes"] == [
        f"the file is not UTF-8 (byte 0xE9 at offset {text.index('é')}): read as Windows-1252; "
        "Jupyter saves UTF-8"
    ]


def test_a_grader_error_while_grading_is_said_for_every_exercise(monkeypatch):
    def failing(*args):
        raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")

    monkeypatch.setattr(worker, "_grade", failing)
    job = {"label": "00_a.ipynb", "text": _v4([IMPORT, END_TO_END])}
    entry = worker.grade(job)
    assert [item["id"] for item in entry["exercises"]] == exercise_ids("00")
    assert entry["error"].startswith("internal grader error: UnicodeEncodeError")
    assert all(item["message"] == entry["error"] for item in entry["exercises"])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("odd")
    files = {
        "surrogate": ("00_lone.ipynb", _v4([IMPORT, LONE + END_TO_END, RECOVERY]).encode()),
        "version3": ("00_old.ipynb", _v3([IMPORT, END_TO_END, RECOVERY]).encode()),
        "latin1": (
            "00_latin.ipynb",
            json.dumps(json.loads(_v4([IMPORT, "# déjà vu\n" + END_TO_END, RECOVERY])))
            .replace("\\u00e9", "é")
            .replace("\\u00e0", "à")
            .encode("latin-1"),
        ),
        "repaint": ("00_eve.ipynb", _v4([IMPORT, END_TO_END, RECOVERY_RAISING]).encode()),
    }
    paths = []
    for name, data in files.values():
        paths.append(folder / name)
        paths[-1].write_bytes(data)
    entries = grade_notebooks(paths, timeout=120)
    return dict(zip(files, entries, strict=True))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["surrogate", "version3", "latin1"])
def test_odd_but_honest_files_score_full_marks_with_a_note(graded, name):
    entry = graded[name]
    assert entry["error"] is None and entry["flags"] == [] and entry["lesson"] == "00", entry
    assert entry["score"] == entry["max_score"] == len(exercise_ids("00")), entry
    words = {"surrogate": "U+D800", "version3": "nbformat 3", "latin1": "not UTF-8"}[name]
    assert len(entry["notes"]) == 1 and words in entry["notes"][0]


@pytest.mark.slow
def test_an_answer_raising_escape_codes_prints_its_real_score(graded):
    entry = graded["repaint"]
    assert entry["score"] == 1.0 and entry["max_score"] == 2.0
    message = {item["id"]: item["message"] for item in entry["exercises"]}["00.recovery_error"]
    assert "\x1b[1A" in message  # the data keeps what the answer raised ...
    report = format_report([entry])
    assert "\x1b" not in report and "\r" not in report  # ... the printed report does not obey it
    lines = report.split("\n")
    assert lines[0] == f"{entry['notebook']} (lesson 00): 1/2" and len(lines) == 4
    assert lines[0].endswith("/00_eve.ipynb (lesson 00): 1/2")
    assert lines[1].startswith("  ✅ 00.end_to_end") and lines[2].startswith("  ❌ 00.recovery")


@pytest.mark.slow
def test_headless_sends_a_lone_surrogate_as_the_replacement_character(tmp_path):
    import time

    from lowdim_course.headless import HeadlessKernel

    with HeadlessKernel(cwd=tmp_path) as kernel:
        reply = kernel.run(
            LONE + "n = len(x)",
            deadline=time.monotonic() + 30,
            user_expressions={"x": "x", "n": "n"},
        )
    assert reply["status"] == "ok", reply
    assert reply["user_expressions"]["x"]["data"]["text/plain"] == "'caf\ufffd'"
    assert reply["user_expressions"]["n"]["data"]["text/plain"] == "4"
