"""README's lesson table and lesson 00's map are written from the lesson sources."""

import shutil
from pathlib import Path

import pytest

from lowdim_course import course_map, links
from lowdim_course.lesson_frame import FrontMatter
from lowdim_course.lesson_source import write_source

ROOT = Path(__file__).resolve().parent.parent


def test_readme_and_lesson_00_hold_the_tables_the_sources_give():
    entries = [course_map.lesson_entry(s) for s in course_map.lesson_sources(ROOT)]
    assert [e.number for e in entries] == [f"{n:02d}" for n in range(len(entries))]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start_here = next((ROOT / "lessons" / "src").glob("00_*.md")).read_text(encoding="utf-8")
    stale = "run `python -m lowdim_course.authoring 00` to rebuild them"
    assert course_map.readme_table(entries) in readme, stale
    assert course_map.map_table(entries) in start_here, stale
    for entry in entries:  # every row links a notebook that exists
        assert (ROOT / "lessons" / f"{entry.stem}.ipynb").is_file()


def test_a_new_lesson_gets_its_row_in_both_places(tmp_path):
    (tmp_path / "lessons").mkdir()
    shutil.copytree(ROOT / "lessons" / "src", tmp_path / "lessons" / "src")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "lessons" / "src" / "12_adapters.md").write_text(
        write_source(
            FrontMatter(summary="low-rank adapters, trained"),
            [("markdown", "# Lesson 12 — Adapters\n\ntext")],
        )
    )
    changed = course_map.sync(tmp_path)
    assert {p.name for p in changed} == {"README.md", "00_start_here.md"}
    readme = (tmp_path / "README.md").read_text()
    colab = links.colab_url("lessons/12_adapters.ipynb")
    name = "[12 Adapters](lessons/12_adapters.ipynb)"
    row = f"| {name} | low-rank adapters, trained | [Colab]({colab}) |"
    assert row in readme
    start_here = (tmp_path / "lessons" / "src" / "00_start_here.md").read_text()
    assert "| **12 Adapters** | low-rank adapters, trained |" in start_here
    assert course_map.sync(tmp_path) == []  # a second run changes nothing


@pytest.mark.parametrize(
    ("front", "heading", "message"),
    [
        (FrontMatter(prerequisites=["none"]), "# Lesson 12 — A", "needs a 'summary:' line"),
        (FrontMatter(summary="s"), "# Lesson twelve", "must read '# Lesson NN — Title'"),
        (FrontMatter(summary="s"), "# Lesson 13 — A", "says Lesson 13, the file name 12"),
    ],
)
def test_a_source_without_what_the_table_needs_is_named(tmp_path, front, heading, message):
    source = tmp_path / "12_a.md"
    source.write_text(write_source(front, [("markdown", heading)]))
    with pytest.raises(ValueError, match=message):
        course_map.lesson_entry(source)


@pytest.mark.parametrize(
    "text",
    [
        "no markers",
        f"{course_map.END} {course_map.BEGIN}",
        f"{course_map.BEGIN} {course_map.BEGIN}",
    ],
)
def test_markers_missing_or_out_of_order_are_an_error(text):
    with pytest.raises(ValueError, match="must hold the markers"):
        course_map.replace_between_markers(text, "body", "README.md")


def test_the_summary_is_read_from_the_header(tmp_path):
    source = tmp_path / "01_x.md"
    source.write_text(
        "---\nlowdim_course:\n  summary: '  modes:   one at a time '\n---\n\n# Lesson 01 — X\n"
    )
    assert course_map.lesson_entry(source).summary == "modes: one at a time"


def test_the_hub_table_links_every_lesson_on_the_class_hub(capsys):
    from urllib.parse import parse_qs, urlsplit

    hub = "https://hub.example.edu"
    assert course_map.main(["--hub", hub, "--ref", "v9"], root=ROOT) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == course_map.HUB_HEADER
    notebooks = sorted(p.name for p in (ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
    assert len(lines) - 2 == len(notebooks)
    for line, notebook in zip(lines[2:], notebooks, strict=True):
        assert line.startswith(f"| {notebook[:2]} ")
        url = line.split("](", 1)[1].rsplit(")", 1)[0]
        assert url.startswith(f"{hub}/hub/user-redirect/git-pull?")
        query = parse_qs(urlsplit(url).query)
        assert query["urlpath"] == [f"lab/tree/lowdim-course/lessons/{notebook}"]
        assert query["branch"] == ["v9"]
        assert query["repo"] == [links.REPOSITORY_URL]


def test_a_bad_hub_address_stops_the_command_with_its_name(capsys):
    with pytest.raises(SystemExit) as stopped:
        course_map.main(["--hub", "hub.example.edu"], root=ROOT)
    assert stopped.value.code == 2
    assert "hub_url must be an http" in capsys.readouterr().err
