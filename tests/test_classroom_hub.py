"""A class on a real JupyterHub: three students at once, then the instructor grades their work.

A JupyterHub on 127.0.0.1 (tests/hub_tools.py: configurable-http-proxy, one shared password,
each student's server in a home of its own under the test's folder). Three students log in at
the same time, each in a browser of their own, and open lesson 04 from its nbgitpuller link
(``links.nbgitpuller_url``, pulling a local bare copy of this repository's HEAD); each runs all
cells, moves a slider and sees the panel redrawn, and saves. Each student's server runs in their
home and shows only it; the other students' servers refuse their browser (403). The instructor
then grades the three saved notebooks, read from the three homes, with the course's grader
(docs/grading.md), and each report is for its own student's file.

Needs jupyterhub and nbgitpuller (the ``classroom`` extra), configurable-http-proxy (npm),
Chromium and Playwright; skips with the reason when one is missing, except under ``.ci/run``,
which installs them and sets ``LOWDIM_REQUIRE_HUB=1`` so that the test fails instead.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from hub_tools import (
    launch_browser,
    missing_pieces,
    move_slider,
    open_lesson,
    run_all,
    running_hub,
    save,
    screenshot,
    slider_panel,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

STUDENTS = ["student1", "student2", "student3"]
LESSON = "lessons/04_compressing_width.ipynb"
RUN_SECONDS = 420  # all of lesson 04, three students at once on 2 cores


def _student(hub, user, results):
    """One student's session, in a thread with its own Playwright and browser."""
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as playwright:
            browser = launch_browser(playwright)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = None
                try:
                    page, notebook = open_lesson(context, hub, user, LESSON)
                    run_all(page, notebook, RUN_SECONDS)
                    panel = slider_panel(page, notebook)
                    seconds = move_slider(page, panel)
                    save(page)
                    # what this student's browser may read: their own server, not the others'
                    own = context.request.get(f"{hub.url}/user/{user}/api/contents/")
                    listing = sorted(item["name"] for item in own.json()["content"])
                    others = {
                        other: context.request.get(
                            f"{hub.url}/user/{other}/api/contents/lowdim-course/{LESSON}"
                        ).status
                        for other in STUDENTS
                        if other != user
                    }
                except BaseException:
                    for shown in context.pages:
                        screenshot(shown, f"{user}_failure")
                    raise
                results[user] = {"redraw_seconds": seconds, "listing": listing, "others": others}
            finally:
                browser.close()
    except BaseException as error:  # reported by the test, in the main thread
        results[user] = {"error": f"{type(error).__name__}: {error}"}


def _processes_by_user() -> dict[str, list[tuple[str, str]]]:
    """(HOME, working folder) of every process started for a hub user (JUPYTERHUB_USER)."""
    import psutil

    found: dict[str, list[tuple[str, str]]] = {}
    for process in psutil.process_iter():
        try:
            environment = process.environ()
            user = environment.get("JUPYTERHUB_USER")
            if user:
                found.setdefault(user, []).append((environment.get("HOME", ""), process.cwd()))
        except psutil.Error:
            continue
    return found


def test_three_students_at_once_then_the_instructor_grades_their_notebooks(tmp_path):
    reason = missing_pieces()
    if reason:
        if os.environ.get("LOWDIM_REQUIRE_HUB") == "1":
            pytest.fail(f"the JupyterHub test must run here, but {reason}")
        pytest.skip(reason)
    from lowdim_course.grading import grade_notebooks

    results: dict[str, dict] = {}
    with running_hub(tmp_path / "hub", STUDENTS) as hub:
        threads = [threading.Thread(target=_student, args=(hub, u, results)) for u in STUDENTS]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failed = {user: r["error"] for user, r in results.items() if "error" in r}
        failed.update({user: "did not finish" for user in STUDENTS if user not in results})
        assert not failed, (
            f"{failed}\n--- hub log ---\n{(hub.folder / 'hub.log').read_text()[-4000:]}"
        )
        homes = {user: hub.home(user) for user in STUDENTS}
        # every process of a student's server (the server, its kernel) runs in that student's home
        servers = _processes_by_user()
        for user, home in homes.items():
            assert servers.get(user), f"no server process of {user}"
            for home_variable, cwd in servers[user]:
                assert home_variable == str(home)
                assert Path(cwd).is_relative_to(home), (user, cwd)

    for user in STUDENTS:
        # a server's root is its student's home, and another student's server refuses them
        assert results[user]["listing"] == ["lowdim-course"], results[user]["listing"]
        assert set(results[user]["others"].values()) == {403}, results[user]["others"]

    saved = {}
    for user, home in homes.items():
        # each student's copy lives in their own home, and in no other
        path = home / "lowdim-course" / LESSON
        assert path.is_file(), f"{user}'s notebook is not in their home"
        assert path.resolve().is_relative_to(home.resolve())
        notebook = json.loads(path.read_text())
        outputs = [o for c in notebook["cells"] for o in c.get("outputs", [])]
        assert outputs, f"{user}'s saved notebook has no outputs: it was not run and saved"
        assert not [o for o in outputs if o.get("output_type") == "error"]
        saved[user] = path

    # the instructor grades the three saved notebooks (read from the homes)
    paths = [saved[user] for user in STUDENTS]
    entries = grade_notebooks(paths, jobs=2)
    assert len(entries) == len(STUDENTS)
    for user, entry in zip(STUDENTS, entries, strict=True):
        assert Path(entry["notebook"]) == saved[user]  # the report is for this student's file
        assert entry["lesson"] == "04", entry
        assert entry["error"] is None, entry["error"]
        assert entry["exercises"], entry
        # the notebooks were run as released (no answer written): every exercise unanswered
        assert entry["score"] == 0 and entry["max_score"] > 0
