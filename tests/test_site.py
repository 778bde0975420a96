"""The static site: built offline from the saved notebooks, and what a reader sees in a browser.

The quick tests check the pieces (README's section, the home page, a notebook as the site shows
it, the command's errors). The slow ones build the whole site once into a temporary folder and
read its pages; the browser test serves it on the loopback and opens lesson 04 in Debian's
Chromium (as ``test_browser.py`` does), with every request that leaves the site refused and
recorded.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import sys
import threading
from pathlib import Path

import nbformat
import pytest

from lowdim_course import course_map, links, website

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ARTIFACTS = ROOT / "test-artifacts" / "site"


def _panel_outputs(path: Path) -> int:
    """How many slider panels (outputs with a widget view) the saved notebook holds."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return sum(
        WIDGET_VIEW in output.get("data", {})
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
    )


def test_readme_section_is_the_text_under_its_heading():
    readme = "# T\n\nintro\n\n## What this course is\n\nIt is a course.\n\n## Layout\n\nx\n"
    assert website.readme_section(readme) == "It is a course."
    with pytest.raises(ValueError, match="no section '## Missing'"):
        website.readme_section(readme, "## Missing")


def test_the_home_page_has_the_course_the_lessons_and_the_glossary():
    home = website.home_page(ROOT)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert website.readme_section(readme) in home
    entries = [course_map.lesson_entry(s) for s in course_map.lesson_sources(ROOT)]
    assert len(entries) == len(LESSONS)
    for entry in entries:
        assert f"[{entry.number} {entry.title}](lessons/{entry.stem}.ipynb)" in home
        assert f"\nlessons/{entry.stem}\n" in home  # in the toctree
    assert "lessons/glossary\n```" in home
    assert links.binder_url(f"lessons/{entries[0].stem}.ipynb") in home


def test_the_site_drops_the_badge_and_the_install_cell_and_keeps_the_outputs():
    saved = nbformat.read(LESSONS[4], as_version=4)
    assert saved.cells[0].source.startswith("[![Open in Colab]")
    shown = website.site_notebook(nbformat.read(LESSONS[4], as_version=4))
    assert shown.cells[0].source.startswith("# Lesson 04")
    assert all(cell.source != links.INSTALL_CELL for cell in shown.cells)
    assert len(shown.cells) == len(saved.cells) - 1
    assert [c.get("outputs") for c in shown.cells[1:]] == [
        c.get("outputs") for c in saved.cells[2:]
    ]


def test_missing_packages_or_a_wrong_root_exit_2_with_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(website, "missing_packages", lambda: ["sphinx"])
    assert website.main(["--root", str(ROOT)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "sphinx" in error and '".[site]"' in error
    monkeypatch.setattr(website, "missing_packages", lambda: [])
    assert website.main(["--root", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "--root must be the course's repository" in error


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if sys.version_info < (3, 11):
        pytest.skip("the site's theme (sphinx-book-theme 1.4) needs Python >= 3.11")
    missing = website.missing_packages()
    if missing:
        pytest.fail(f"the site extra is part of the test extra, but {missing} cannot be imported")
    out = tmp_path_factory.mktemp("site")
    return website.build(ROOT, out).parent


@pytest.mark.slow
def test_every_lesson_page_shows_its_panels_as_static_figures(site):
    for path in LESSONS:
        page = (site / "lessons" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert "interactive(children=" not in page, path.name
        panels = re.findall(r'<div class="lowdim-static-panel">(.*?)</div>', page, re.DOTALL)
        assert len(panels) == _panel_outputs(path), path.name
        assert all('<img src="data:image/png;base64,' in panel for panel in panels), path.name
        assert links.COLAB_BADGE not in page and "find_spec(" not in page
    assert (site / "lessons" / "glossary.html").is_file()
    index = (site / "index.html").read_text(encoding="utf-8")
    for path in LESSONS:
        assert f'href="lessons/{path.stem}.html"' in index, path.name
    assert 'href="lessons/glossary.html"' in index


@pytest.mark.slow
def test_the_site_loads_nothing_from_outside(site):
    """Scripts, styles and images come from the site (MathJax included): it reads offline."""
    outside = re.compile(r"""<(?:script|img|link)\b[^>]*\b(?:src|href)=["'](https?:)?//""")
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        found = [m.group(0) for m in outside.finditer(text) if 'rel="' not in m.group(0)]
        assert not found, f"{page.relative_to(site)} loads {found[:3]}"
    assert (site / "_static" / "mathjax" / "MathJax.js").is_file()
    page = (site / "lessons" / "04_compressing_width.html").read_text(encoding="utf-8")
    binder = "https://mybinder.org/v2/gh/" + links.REPOSITORY
    colab = links.colab_url("lessons/04_compressing_width.ipynb")
    assert binder in page and colab in page  # the launch buttons (links, not loads)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.slow
@pytest.mark.browser
def test_lesson_04_shows_its_race_figure_and_typeset_formulas(served):
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _missing

    if not CHROMIUM.exists():
        _missing(f"there is no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    refused = []

    def only_the_site(route):
        if route.request.url.startswith(served):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", only_the_site)
            page.goto(f"{served}/lessons/04_compressing_width.html", wait_until="load")
            # MathJax 2 typesets after load: wait until every visible formula (myst's math spans;
            # those inside a closed <details> answer are typeset when it opens) holds its output
            untypeset = (
                "[...document.querySelectorAll('.math.notranslate')]"
                ".filter(e => e.offsetParent !== null)"
                ".filter(e => !e.querySelector('.MathJax, .MathJax_Display')).length"
            )
            typeset = "document.querySelectorAll('.MathJax, .MathJax_Display').length"
            page.wait_for_function(f"{typeset} >= 20 && {untypeset} === 0", timeout=60_000)
            # in MathJax's own web fonts, served by the site (without them it falls back to the
            # reader's fonts and misplaces accents and indices)
            page.wait_for_function(
                "[...document.fonts].some(f => f.family.startsWith('STIXMathJax_Main')"
                " && f.status === 'loaded')",
                timeout=30_000,
            )
            formula = page.locator(".MathJax_Display").filter(visible=True).first
            assert formula.bounding_box()["height"] > 10  # drawn, not an empty box
            race = page.locator(".lowdim-static-panel").filter(has_text="compressed error <=")
            assert race.count() >= 1
            figure = race.first.locator("img")
            figure.scroll_into_view_if_needed()
            size = figure.evaluate("img => [img.naturalWidth, img.complete]")
            assert size[0] > 300 and size[1]
            assert "interactive(children=" not in page.content()
            race.first.screenshot(path=str(ARTIFACTS / "lesson04-race.png"))
            formula.screenshot(path=str(ARTIFACTS / "lesson04-formula.png"))
        finally:
            browser.close()
    assert refused == [], f"the page asked for {refused[:3]} outside the site"


def test_readme_and_lesson_00_give_the_site_address_the_package_publishes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start_here = next((ROOT / "lessons" / "src").glob("00_*.md")).read_text(encoding="utf-8")
    assert f"<{links.SITE_URL}>" in readme and f"<{links.SITE_URL}>" in start_here
    workflow = (ROOT / ".github" / "workflows" / "site.yml").read_text(encoding="utf-8")
    assert "python -m lowdim_course.website" in workflow and "deploy-pages" in workflow
