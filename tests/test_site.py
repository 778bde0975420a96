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
    notes = 0
    for was, now in zip(saved.cells[2:], shown.cells[1:], strict=True):
        assert now.source == website.without_nbval_markers(was.source)
        if was.cell_type != "code" or now.outputs == was.outputs:
            continue
        assert now.outputs[-1]["data"]["text/plain"] == website.SAME_RUN_NOTE
        notes += 1
    # each of lesson 04's slider panels is followed by its default run
    assert notes == _panel_outputs(LESSONS[4]) > 0


def _code(source, outputs=()):
    return nbformat.v4.new_code_cell(source, outputs=list(outputs))


def _panel(printout, figure="AAAA"):
    copy = (
        '<div class="lowdim-static-panel"><p><em>Slider panel</em></p>'
        f'<pre>{printout}</pre><img src="data:image/png;base64,{figure}" alt=""/></div>'
    )
    data = {website.WIDGET_VIEW: {"model_id": "x"}, "text/html": copy, "text/plain": "interactive"}
    return nbformat.v4.new_output("execute_result", data=data, execution_count=1)


def _run(printout, figure="AAAA"):
    return [
        nbformat.v4.new_output("display_data", data={"image/png": figure, "text/plain": "fig"}),
        nbformat.v4.new_output("stream", name="stdout", text=printout + "\n"),
    ]


def test_a_default_run_that_repeats_its_panel_shows_a_note_instead():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        _code("# NBVAL_IGNORE_OUTPUT\nslider_panel(f)", [_panel("a &lt; b\n1.5")]),
        nbformat.v4.new_markdown_cell("At the default settings:"),
        _code("run = f()", _run("a < b\n1.5", figure="BBBB")),  # same numbers, new timing axis
        _code("slider_panel(g)", [_panel("2.5")]),
        _code("run = g(other=1)", _run("3.5", figure="AAAA")),  # another run, not a repeat
        _code("slider_panel(h)", [_panel("")]),
        _code("run = h()", _run("", figure="AAAA")),  # prints nothing, draws the same figure
        _code("run = h()", _run("", figure="AAAA")),  # no panel directly before it
    ]
    assert website.drop_repeated_runs(notebook) == [2, 6]
    note = notebook.cells[2].outputs
    assert [o["data"]["text/plain"] for o in note] == [website.SAME_RUN_NOTE]
    assert notebook.cells[4].outputs == _run("3.5", figure="AAAA")
    assert notebook.cells[7].outputs == _run("", figure="AAAA")


def test_the_shown_code_has_no_nbval_markers_and_nothing_else_removed():
    source = (
        "# NBVAL_IGNORE_OUTPUT\nx = 1  # NBVAL_SKIP stays: not a marker line\n  #NBVAL_SKIP\ny = 2"
    )
    assert website.without_nbval_markers(source) == (
        "x = 1  # NBVAL_SKIP stays: not a marker line\ny = 2"
    )
    assert website.without_nbval_markers("# NBVAL_RAISES_EXCEPTION") == ""


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
    mathjax = site / "_static" / "mathjax"
    assert (mathjax / "tex-chtml.js").is_file()
    fonts = {f.name for f in (mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff")}
    assert {"MathJax_Main-Regular.woff", "MathJax_AMS-Regular.woff"} <= fonts
    page = (site / "lessons" / "04_compressing_width.html").read_text(encoding="utf-8")
    binder = "https://mybinder.org/v2/gh/" + links.REPOSITORY
    colab = links.colab_url("lessons/04_compressing_width.ipynb")
    assert binder in page and colab in page  # the launch buttons (links, not loads)


@pytest.mark.slow
def test_the_download_button_gives_the_lesson_as_saved_with_its_install_cell(site):
    """The page hides the install cell; the notebook it offers keeps it, so it runs in Colab."""
    for path in LESSONS:
        page = (site / "lessons" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert f'href="../_sources/lessons/{path.name}"' in page, path.name  # the theme's button
        download = site / "_sources" / "lessons" / path.name
        notebook = nbformat.read(download, as_version=4)
        code = [cell for cell in notebook.cells if cell.cell_type == "code"]
        assert code[0].source == links.INSTALL_CELL, path.name
        assert download.read_bytes() == path.read_bytes(), path.name


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


def _browser(playwright):
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _missing

    if not CHROMIUM.exists():
        _missing(f"there is no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def _sync_playwright():
    from test_browser import _missing

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed (pip install playwright)")
    return sync_playwright()


# What a page shows, read in the browser once MathJax has typeset it and its fonts are in.
READ_PAGE = """async () => {
  const startup = window.MathJax && window.MathJax.startup;
  if (startup) await startup.promise;
  await document.fonts.ready;
  const seen = {nbval: [], repeats: [], panels: 0, math: startup ? [] : null,
                formulas: document.querySelectorAll('span.math').length,
                // TeX that MathJax could not read (an unknown macro, say) is drawn as an error
                texErrors: [...document.querySelectorAll('mjx-merror')].map(
                  e => e.getAttribute('data-mjx-error') || e.textContent)};
  for (const input of document.querySelectorAll('.cell_input')) {
    if (input.innerText.includes('NBVAL_')) seen.nbval.push(input.innerText.slice(0, 80));
  }
  // A slider panel's static copy and the outputs of the next code cell (markdown between is no
  // cell): the same printout, or a figure equal pixel for pixel, is the run shown twice.
  const pixels = async (img) => {
    await img.decode();
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const context = canvas.getContext('2d');
    context.drawImage(img, 0, 0);
    return context.getImageData(0, 0, canvas.width, canvas.height).data;
  };
  const same = (a, b) => a.length === b.length && a.every((value, i) => value === b[i]);
  const cells = [...document.querySelectorAll('div.cell')];
  for (const [i, cell] of cells.entries()) {
    const panel = cell.querySelector('.lowdim-static-panel');
    if (!panel) continue;
    seen.panels += 1;
    const next = i + 1 < cells.length && cells[i + 1].querySelector('.cell_output');
    if (!next) continue;
    const printout = [...panel.querySelectorAll('pre')].map(p => p.innerText.trim()).join('\\n');
    const printed = [...next.querySelectorAll('pre')].map(p => p.innerText.trim()).join('\\n');
    const figures = await Promise.all([...panel.querySelectorAll('img')].map(pixels));
    let drawn = false;
    for (const img of next.querySelectorAll('img')) {
      const image = await pixels(img);
      drawn = drawn || figures.some(figure => same(figure, image));
    }
    if ((printout && printed.includes(printout)) || drawn) {
      seen.repeats.push(printout.slice(0, 60) || 'a figure');
    }
  }
  // Inline math against its line of text. A zero-size inline-block sits with its bottom on the
  // baseline of the line it is in (CSS 2.1, 10.8.1: an empty inline-block's baseline is its
  // bottom margin edge). One put right after the formula's span marks the text's baseline; one
  // put first inside MathJax's <mjx-math> (an inline-block holding the formula) marks the
  // formula's. Their bottoms agree when the formula sits on the line, whatever it holds
  // (subscripts and fractions reach below, which the formula's own box would not tell apart).
  if (startup) {
    for (const item of startup.document.math) {
      const root = item.typesetRoot;
      const math = root && root.querySelector('mjx-math');
      if (item.display || !math || root.offsetParent === null) continue;
      const text = root.parentElement;  // myst's <span class="math">, in the paragraph
      const zero = () => {
        const marker = document.createElement('span');
        marker.style.cssText = 'display:inline-block;width:0;height:0';
        return marker;
      };
      const line = zero(), own = zero();
      text.after(line);
      math.prepend(own);
      const box = math.getBoundingClientRect();
      const onLine = line.getBoundingClientRect(), onMath = own.getBoundingClientRect();
      line.remove();
      own.remove();
      const size = parseFloat(getComputedStyle(text.parentElement).fontSize);
      seen.math.push({
        tex: item.math,
        sameLine: Math.abs(onLine.left - box.right) < 1,  // not wrapped away from the formula
        baseline: onMath.bottom - onLine.bottom,
        scale: parseFloat(getComputedStyle(root).fontSize) / size,
        height: box.height / size,
      });
    }
  }
  return seen;
}"""


@pytest.fixture(scope="module")
def rendered(served, site):
    """Every page (home, lessons, glossary) as the browser shows it, read once.

    Each page's requests that leave the site are refused and recorded; those that fail or get
    an error status (a missing font, say) are recorded too.
    """
    names = ["index.html"] + [f"lessons/{p.stem}.html" for p in LESSONS] + ["lessons/glossary.html"]
    pages = {}
    with _sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            for name in names:
                refused, failed = [], []

                def only_the_site(route, refused=refused):
                    if route.request.url.startswith(served):
                        route.continue_()
                    else:
                        refused.append(route.request.url)
                        route.abort()

                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.route("**/*", only_the_site)
                page.on("response", lambda r, f=failed: r.status >= 400 and f.append(r.url))
                page.on(
                    "requestfailed",
                    lambda r, f=failed: r.url.startswith(served) and f.append(r.url),
                )
                page.goto(f"{served}/{name}", wait_until="load")
                seen = page.evaluate(READ_PAGE)
                page.wait_for_load_state("networkidle")  # fonts asked for late
                pages[name] = {**seen, "refused": refused, "failed": failed}
                page.close()
        finally:
            browser.close()
    return pages


@pytest.mark.slow
@pytest.mark.browser
def test_every_page_gets_everything_it_asks_for_from_the_site(rendered):
    """No 404 (MathJax 2's copy lacked two fonts it asked for), nothing from outside."""
    for name, seen in rendered.items():
        assert seen["failed"] == [], f"{name}: {seen['failed'][:3]} failed"
        assert seen["refused"] == [], f"{name} asked for {seen['refused'][:3]} outside the site"


@pytest.mark.slow
@pytest.mark.browser
def test_no_slider_panel_is_followed_by_the_same_run(rendered):
    for name, seen in rendered.items():
        assert seen["repeats"] == [], f"{name} shows these panels' runs twice: {seen['repeats']}"
    panels = sum(seen["panels"] for seen in rendered.values())
    assert panels == sum(_panel_outputs(path) for path in LESSONS)  # every panel was compared


@pytest.mark.slow
@pytest.mark.browser
def test_the_shown_code_has_no_nbval_markers(rendered):
    for name, seen in rendered.items():
        assert seen["nbval"] == [], f"{name} shows {seen['nbval'][:2]}"


@pytest.mark.slow
@pytest.mark.browser
def test_inline_math_sits_on_the_line_at_the_text_size(rendered):
    """Every inline formula: on the text's baseline (to 1.5 px), at 1 to 1.15 times its size.

    MathJax 2 set formulas at 120 % in the STIX fonts and about 4 px above the line. A single
    letter's box stays under 1.3 times the text's font size.
    """
    measured = 0
    for name, seen in rendered.items():
        if not seen["formulas"]:
            continue
        assert seen["math"] is not None, f"{name} has formulas but MathJax 3 did not start"
        assert len(seen["math"]) > 0, f"{name}: no inline formula was typeset"
        assert seen["texErrors"] == [], f"{name}: MathJax could not read {seen['texErrors'][:3]}"
        for formula in seen["math"]:
            where = f"{name}, ${formula['tex']}$"
            if formula["sameLine"]:
                assert abs(formula["baseline"]) <= 1.5, f"{where}: {formula['baseline']} px off"
                measured += 1
            assert 1.0 <= formula["scale"] <= 1.15, f"{where}: {formula['scale']:.2f} x the text"
            if re.fullmatch(r"[A-Za-z0-9]", formula["tex"].strip()):
                assert formula["height"] <= 1.3, f"{where}: {formula['height']:.2f} em high"
    assert measured > 100


@pytest.mark.slow
@pytest.mark.browser
def test_lesson_04_shows_its_race_figure_and_typeset_formulas(served):
    refused = []

    def only_the_site(route):
        if route.request.url.startswith(served):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with _sync_playwright() as playwright:
        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", only_the_site)
            page.goto(f"{served}/lessons/04_compressing_width.html", wait_until="load")
            # MathJax 3 typesets after load: wait until every visible formula (myst's math spans;
            # those inside a closed <details> answer included) holds its output
            untypeset = (
                "[...document.querySelectorAll('.math.notranslate')]"
                ".filter(e => !e.querySelector('mjx-container')).length"
            )
            typeset = "document.querySelectorAll('mjx-container').length"
            page.wait_for_function(f"{typeset} >= 20 && {untypeset} === 0", timeout=60_000)
            # in MathJax's own TeX web fonts, served by the site (without them it falls back to
            # the reader's fonts and misplaces accents and indices)
            page.wait_for_function(
                "[...document.fonts].some(f => f.family.startsWith('MJXTEX')"
                " && f.status === 'loaded')",
                timeout=30_000,
            )
            formula = page.locator('mjx-container[display="true"]').filter(visible=True).first
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
            page.locator("p").filter(has=page.locator("mjx-container")).first.screenshot(
                path=str(ARTIFACTS / "lesson04-inline-math.png")
            )
        finally:
            browser.close()
    assert refused == [], f"the page asked for {refused[:3]} outside the site"


def test_readme_and_lesson_00_give_the_site_address_the_package_publishes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start_here = next((ROOT / "lessons" / "src").glob("00_*.md")).read_text(encoding="utf-8")
    assert f"<{links.SITE_URL}>" in readme and f"<{links.SITE_URL}>" in start_here
    workflow = (ROOT / ".github" / "workflows" / "site.yml").read_text(encoding="utf-8")
    assert "python -m lowdim_course.website" in workflow and "deploy-pages" in workflow
