"""The gradebook shows what notebooks wrote without obeying it: no escape sequence reaches the
terminal, no CSV cell runs as a spreadsheet formula, and the JSON keeps every string exactly.
No kernel here: the entries are built by hand, as the grader builds them."""

import csv
import io
import json

import pytest

from lowdim_course.grading import format_csv, format_entry, format_json, format_report, printable
from lowdim_course.grading.report import csv_cell

# What an answer's exception message can carry to repaint a 0/2 report as 2/2 with ticks: cursor
# up and erase line (CSI), the same as one C1 byte, a window title (OSC), a carriage return, a
# newline, a right-to-left override, a backspace.
UP_AND_ERASE = "\x1b[1A\x1b[2K\r"
FORGED = (
    f"{UP_AND_ERASE}{UP_AND_ERASE}04_eve.ipynb (lesson 00): 2/2\n  ✅ 00.end_to_end  1/1  passed"
    "\x9b1A\x1b]0;all passed\x07\u202e\x08\x1b7\x1b(B"
)


def _entry(notebook="04_eve.ipynb", message=FORGED):
    items = [
        {"id": i, "passed": False, "score": 0.0, "max_score": 1.0, "message": message}
        for i in ("00.end_to_end", "00.recovery_error")
    ]
    return {
        "notebook": notebook,
        "lesson": "00",
        "score": 0.0,
        "max_score": 2.0,
        "exercises": items,
        "error": None,
        "flags": [],
        "notes": [f"a note{UP_AND_ERASE}"],
        "cell_errors": [],
        "seconds": 1.0,
    }


def test_escape_codes_in_messages_cannot_repaint_the_printed_score():
    report = format_report([_entry()])
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in report)
    assert "\u202e" not in report
    lines = report.split("\n")
    # one head, one note, one line per exercise, the total: nothing added by the messages
    assert len(lines) == 5
    assert lines[0] == "04_eve.ipynb (lesson 00): 0/2"
    assert lines[1] == "  note: a note"
    assert all(line.startswith("  ❌ 00.") for line in lines[2:4])
    assert "✅" not in "".join(line[:4] for line in lines) and lines[4].startswith("total: 0/2")
    # the message's words are still there, on the exercise's own line
    assert "04_eve.ipynb (lesson 00): 2/2   ✅ 00.end_to_end" in lines[2]
    assert "[1A" not in report and "all passed" not in report and "(B" not in report


def test_a_file_name_with_escape_codes_or_newlines_prints_as_one_plain_line():
    entry = _entry(notebook="04_a\x1b[31m\nb\tc\udcff.ipynb", message="wrong value")
    head = format_entry(entry).split("\n")[0]
    assert head == "04_a b c\ufffd.ipynb (lesson 00): 0/2"
    head.encode("utf-8")  # a lone surrogate (a file name that is not UTF-8) could not be printed


def test_printable_keeps_text_tabs_and_newlines_and_removes_only_controls():
    text = "résumé ✅ 1/2\tx\ny → 中文"
    assert printable(text) == text
    assert printable("a\x00b\x07c\x7fd\x85e\u200ff\u2066g\x1b") == "abcdefg"
    assert printable("x\ud800y") == "x\ufffdy"
    assert printable("a\tb\nc", one_line=True) == "a b c"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t"])
def test_csv_cells_that_start_as_a_formula_are_quoted(start):
    name = f"{start}1+2+HYPERLINK(0).ipynb"
    rows = list(csv.reader(io.StringIO(format_csv([_entry(notebook=name, message=name)]))))
    body = [row for row in rows[1:] if row[0] != "TOTAL"]
    assert len(body) == 3  # two exercises and the notebook's TOTAL row
    for row in body:
        assert row[0] == "'" + name
    assert [row[6] for row in body[:2]] == ["'" + name] * 2
    assert [row[4] for row in body] == ["0", "0", "0"]  # numbers stay numbers


def test_csv_cells_with_a_carriage_return_or_a_control_first_are_quoted_after_cleaning():
    assert csv_cell("\r=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert csv_cell("\x1b[0m@SUM(A1)") == "'@SUM(A1)"


@pytest.mark.parametrize("name", ["04_alice.ipynb", "class/B-2 (late) 1+1=2.ipynb", "é.ipynb"])
def test_a_benign_name_is_unchanged_in_the_csv(name):
    rows = list(csv.reader(io.StringIO(format_csv([_entry(notebook=name, message="ok = 1")]))))
    assert {row[0] for row in rows[1:-1]} == {name}
    assert rows[1][6] == "ok = 1" and rows[-1][0] == "TOTAL"


def test_the_json_keeps_every_string_exactly():
    plain = [_entry(notebook="=1+2.ipynb", message="é " + FORGED)]
    text = format_json(plain)
    assert json.loads(text) == plain and "é" in text  # non-ASCII as it is
    odd = [_entry(notebook="\udcff.ipynb", message="x\ud800y")]
    text = format_json(odd)
    text.encode("utf-8")  # a lone surrogate is written as an escape, which UTF-8 can hold
    assert json.loads(text) == odd


def test_cli_grade_escapes_a_formula_file_name_in_the_csv_and_not_in_the_json(
    tmp_path, monkeypatch, capsys
):
    from lowdim_course.cli import main

    monkeypatch.chdir(tmp_path)
    names = ["=1+2+HYPERLINK(0).ipynb", "00_\x1b[2J\x1b[Hwiped.ipynb"]
    for name in names:
        (tmp_path / name).write_text("not a notebook")  # nothing to run: no kernel starts
    code = main([*["grade", *names], "--csv", "out.csv", "--json", "out.json", "--jobs", "1"])
    assert code == 0
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err
    assert (
        "00_[2J[Hwiped.ipynb" not in captured.out and "00_wiped.ipynb (lesson 00)" in captured.out
    )
    rows = list(csv.reader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert {row[0] for row in rows[1:-1]} == {"'" + names[0], "00_wiped.ipynb"}
    assert [entry["notebook"] for entry in json.loads((tmp_path / "out.json").read_text())] == names
