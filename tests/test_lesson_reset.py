"""``lowdim-course reset NN``: the committed lesson back, the student's copy kept where no test
run collects it, in a temporary git clone of this repository."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lowdim_course import cli, lesson_reset

ROOT = Path(__file__).resolve().parent.parent
LESSON = "lessons/04_compressing_width.ipynb"


def git(folder, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(folder), *arguments], capture_output=True, check=True)


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A clone of this repository's last commit; ``reset`` pointed at it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    top = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    )
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
        pytest.skip("the tests do not run from a git checkout")
    folder = tmp_path / "course"
    git(ROOT, "clone", "--quiet", str(ROOT), str(folder))
    monkeypatch.setattr(lesson_reset, "course_root", lambda: folder)
    monkeypatch.chdir(folder)
    return folder


def committed(folder, path) -> bytes:
    return git(folder, "show", f"HEAD:{path}").stdout


def run_cli(argv) -> int:
    try:
        return cli.main(argv)
    except SystemExit as exc:
        return exc.code


def test_reset_restores_the_committed_lesson_and_keeps_the_students_copy(clone, capsys):
    lesson = clone / LESSON
    students = lesson.read_bytes().replace(b'"cells": [', b'"cells": [\n', 1) + b"\n"
    lesson.write_bytes(students)
    assert students != committed(clone, LESSON)
    assert cli.main(["reset", "04"]) == 0
    printed = capsys.readouterr().out.strip()
    assert lesson.read_bytes() == committed(clone, LESSON)
    backups = list((clone / ".backups" / "lessons").glob("04_compressing_width.*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == students
    assert len(printed.splitlines()) == 1
    assert f"your copy is in {backups[0].relative_to(clone)}" in printed
    # git status: the lesson is clean again, the backup folder shows as untracked
    status = git(clone, "status", "--porcelain").stdout.decode().splitlines()
    assert status == ["?? .backups/"]


def test_no_test_run_collects_the_backup_or_an_executed_copy(clone):
    lesson = clone / LESSON
    lesson.write_bytes(lesson.read_bytes() + b"\n")
    lesson_reset.reset_lesson("4")
    # what `lowdim-course execute` writes by default (test_cli_validation checks the name)
    shutil.copy(lesson, lesson.with_name("04_compressing_width.executed.ipynb"))
    assert len(list((clone / lesson_reset.BACKUPS).rglob("*.ipynb"))) == 1
    # nbval's run (pytest lessons solutions) and pytest on the whole folder, tests aside
    for paths in (["lessons", "solutions"], [".", "--ignore=tests", "--ignore=benchmarks"]):
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        collected = subprocess.run(
            [*command, *paths],
            cwd=clone,
            capture_output=True,
            text=True,
        )
        assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
        assert "04_compressing_width.ipynb" in collected.stdout  # nbval is collecting notebooks
        assert lesson_reset.BACKUPS not in collected.stdout
        assert ".executed.ipynb" not in collected.stdout
    assert git(clone, "status", "--porcelain").stdout.decode().splitlines() == ["?? .backups/"]


def test_a_fresh_lesson_is_left_alone_and_a_deleted_one_comes_back(clone, capsys):
    assert cli.main(["reset", "4"]) == 0
    assert "already the committed version" in capsys.readouterr().out
    assert not (clone / ".backups").exists()
    (clone / LESSON).unlink()
    assert cli.main(["reset", "04"]) == 0
    assert (clone / LESSON).read_bytes() == committed(clone, LESSON)
    assert "no copy to keep" in capsys.readouterr().out and not (clone / ".backups").exists()


def test_solution_resets_the_solved_twin(clone):
    solution = clone / "solutions" / "04_compressing_width.ipynb"
    solution.write_text("{}")
    done = lesson_reset.reset_lesson("04", solution=True)
    assert solution.read_bytes() == committed(clone, "solutions/04_compressing_width.ipynb")
    assert done.backup.parent == clone / ".backups" / "solutions"
    assert done.backup.read_text() == "{}"
    assert (clone / LESSON).read_bytes() == committed(clone, LESSON)  # the lesson untouched


def test_two_resets_in_one_second_keep_both_copies(clone):
    lesson = clone / LESSON
    for text in ("first", "second"):
        lesson.write_text(text)
        lesson_reset.reset_lesson("04")
    kept = sorted(p.read_text() for p in (clone / ".backups" / "lessons").iterdir())
    assert kept == ["first", "second"]


@pytest.mark.parametrize("number", ["99", "4a", "", "-1"])
def test_a_lesson_that_does_not_exist_lists_the_numbers(number, clone, capsys):
    assert run_cli(["reset", number]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "NN must be a lesson number, one of 00, 01, 02," in err and f"got {number!r}" in err


def test_without_a_git_checkout_it_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    plain = tmp_path / "site-packages"
    (plain / "lessons").mkdir(parents=True)
    monkeypatch.setattr(lesson_reset, "course_root", lambda: plain)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above it
    assert run_cli(["reset", "04"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a git checkout of the course" in err
    assert "git clone https://github.com/lowdim-course/lowdim-course" in err


def test_a_backup_that_cannot_be_written_stops_before_the_lesson_is_touched(clone, capsys):
    (clone / ".backups").write_text("a file where the folder should be")
    lesson = clone / LESSON
    lesson.write_text("my work")
    assert run_cli(["reset", "04"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file, not a folder" in err and "Traceback" not in err
    assert lesson.read_text() == "my work"
