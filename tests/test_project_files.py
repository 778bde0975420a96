"""What lets others reuse the course: licences, the citation file, one version, the -m entry."""

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import lowdim_course

ROOT = Path(__file__).resolve().parent.parent
tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


@pytest.fixture(scope="module")
def citation():
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_licences_are_declared_in_spdx_form_and_shipped(project):
    assert project["license"] == "MIT"  # an SPDX expression, not the deprecated table
    for name in project["license-files"]:
        assert (ROOT / name).is_file()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    content = (ROOT / "LICENSE-content").read_text()
    assert "CC BY 4.0" in content and "creativecommons.org/licenses/by/4.0" in content


def test_the_version_lives_in_one_place(project, citation):
    assert "version" not in project and "version" in project["dynamic"]
    assert importlib.metadata.version("lowdim-course") == lowdim_course.__version__
    assert citation["version"] == lowdim_course.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert f"## {lowdim_course.__version__} " in changelog


def test_project_urls_name_the_source_the_site_and_the_issues(project):
    from lowdim_course import links

    urls = project["urls"]
    assert {"Source", "Issues", "Documentation"} <= set(urls)
    assert all(url.startswith("https://") for url in urls.values())
    assert urls["Documentation"] == links.SITE_URL and urls["Source"] == links.REPOSITORY_URL


def test_citation_file_has_what_cff_1_2_requires(citation):
    assert citation["cff-version"] == "1.2.0"
    assert citation["message"] and citation["title"] and citation["authors"]
    assert citation["license"] == "MIT"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", str(citation["date-released"]))
    for reference in citation["references"]:
        assert reference["type"] and reference["title"] and reference["authors"]
        assert isinstance(reference["year"], int)


def test_citation_references_are_the_papers_the_lessons_cite(citation):
    lessons = " ".join(p.read_text() for p in (ROOT / "lessons" / "src").glob("*.md"))
    titles = [reference["title"] for reference in citation["references"]]
    assert any(title.startswith("Efficient Compression of Overparameterized") for title in titles)
    for reference in citation["references"]:
        first_author = reference["authors"][0]["family-names"]
        words = reference["title"].split(":")[0].split()[:4]
        assert first_author in lessons, f"{first_author} is cited by no lesson"
        assert " ".join(words).lower() in lessons.lower(), f"no lesson cites {reference['title']}"


def test_python_dash_m_is_the_command_line():
    helped = subprocess.run(
        [sys.executable, "-m", "lowdim_course", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0
    assert all(command in helped.stdout for command in ("compare", "reproduce", "grade"))
    wrong = subprocess.run(
        [sys.executable, "-m", "lowdim_course", "compare", "--task", "nope"],
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1


def test_readmes_launch_badges_open_lesson_00_at_the_pinned_ref():
    from lowdim_course import links

    readme = (ROOT / "README.md").read_text()
    assert links.colab_badge("lessons/00_start_here.ipynb") in readme
    assert links.binder_url("lessons/00_start_here.ipynb") in readme
