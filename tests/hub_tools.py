"""A class on a local JupyterHub, for tests/test_classroom_hub.py and benchmarks/classroom.py.

A real JupyterHub on 127.0.0.1 (configurable-http-proxy from npm, SharedPasswordAuthenticator:
one password for the class, SimpleLocalProcessSpawner: each user's server runs this venv's
``jupyterhub-singleuser`` with ``HOME`` and its root folder in ``<folder>/<username>``), and
students who log in with Debian's Chromium (Playwright), open a lesson from its nbgitpuller link
(``links.nbgitpuller_url``, cloning a local bare copy of this repository: no network), run it and
move a slider. The page helpers are tests/test_browser.py's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from test_browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    LAB_SETTINGS,
    _free_port,
    _menu,
    _panel_images,
    _stop,
    _wait_for,
)

from lowdim_course import links

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SINGLEUSER = BIN / "jupyterhub-singleuser"
# where .ci/run installs it (npm install --prefix .ci/node configurable-http-proxy@5)
LOCAL_CHP = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
ARTIFACTS = ROOT / "test-artifacts" / "classroom"
BRANCH = "classroom"  # the branch of the bare copy that the links pull: this checkout's HEAD
PASSWORD = "lowdim-class-" + secrets.token_hex(4)
SPAWN_SECONDS = 180  # a user's server up, with other students starting theirs on 2 cores


def configurable_http_proxy() -> Path | None:
    """``$LOWDIM_CHP``, else the project-local npm install, else one on PATH."""
    for candidate in (
        os.environ.get("LOWDIM_CHP"),
        LOCAL_CHP,
        shutil.which("configurable-http-proxy"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def missing_pieces() -> str | None:
    """Why a class hub cannot run here, or None."""
    for module in ("jupyterhub", "nbgitpuller"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -e '.[classroom]')"
    if not SINGLEUSER.is_file():
        return f"there is no {SINGLEUSER} (pip install jupyterhub)"
    if configurable_http_proxy() is None:
        return (
            "configurable-http-proxy is missing (npm install --prefix .ci/node "
            "configurable-http-proxy@5, or set LOWDIM_CHP)"
        )
    if shutil.which("git") is None:
        return "git is missing"
    if not CHROMIUM.exists():
        return f"there is no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright)"
    return None


def bare_copy(folder: Path) -> str:
    """A bare clone of this repository in ``folder``, with ``BRANCH`` at this checkout's HEAD.

    What students pull is the committed lesson: the test sees the working tree's notebook only
    once it is committed. Returns the ``file://`` address the links name.
    """
    bare = folder / "lowdim-course.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(bare)], check=True)
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "-C", str(bare), "branch", "--force", BRANCH, head], check=True)
    return bare.as_uri()


def write_config(folder: Path, users: list[str], admin: str, port: int) -> Path:
    """``jupyterhub_config.py`` for a class hub on 127.0.0.1:``port``; state kept in ``folder``."""
    settings = folder / "lab-settings"  # a quiet JupyterLab: no news, every cell on the page
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    environment = {
        # the course from this checkout, in the students' kernels
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        # one thread per student: a shared machine is shared by the students
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "NBGITPULLER_APP": "lab",
    }
    config = f"""\
# written by tests/hub_tools.py: a class hub on one machine (docs/classroom.md)
c = get_config()  # noqa: F821
c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{_free_port()}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{_free_port()}"
c.ConfigurableHTTPProxy.command = [{str(configurable_http_proxy())!r}]
c.ConfigurableHTTPProxy.pid_file = {str(folder / "proxy.pid")!r}
c.JupyterHub.db_url = "sqlite:///{folder / "hub.sqlite"}"
c.JupyterHub.cookie_secret_file = {str(folder / "cookie_secret")!r}
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {PASSWORD!r}
c.SharedPasswordAuthenticator.admin_password = {PASSWORD + "-instructor"!r}
c.Authenticator.allowed_users = {set(users)!r}
c.Authenticator.admin_users = {{{admin!r}}}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(folder / "{username}")!r}
c.Spawner.cmd = [{str(SINGLEUSER)!r}]
c.Spawner.args = {["--allow-root"] if os.geteuid() == 0 else []!r}
c.Spawner.default_url = "/lab"
c.Spawner.environment = {environment!r}
c.Spawner.start_timeout = {SPAWN_SECONDS}
c.Spawner.http_timeout = {SPAWN_SECONDS}
c.JupyterHub.concurrent_spawn_limit = 0
"""
    path = folder / "jupyterhub_config.py"
    path.write_text(config)
    return path


@dataclass
class Hub:
    url: str
    folder: Path
    repository: str  # the file:// address of the bare copy the links pull

    def home(self, user: str) -> Path:
        return self.folder / user

    def link(self, notebook: str) -> str:
        return links.nbgitpuller_url(self.url, notebook, ref=BRANCH, repository_url=self.repository)


@contextlib.contextmanager
def running_hub(folder: Path, users: list[str], admin: str = "instructor"):
    """A hub for ``users`` (and ``admin``) until the block ends; then every server is stopped."""
    folder.mkdir(parents=True, exist_ok=True)
    repository = bare_copy(folder)
    port = _free_port()
    config = write_config(folder, [*users, admin], admin, port)
    log = (folder / "hub.log").open("w")
    hub = subprocess.Popen(
        [str(BIN / "jupyterhub"), "-f", str(config)],
        cwd=folder,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/hub/api/", timeout=5):
                    break
            except OSError:
                if hub.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    raise RuntimeError(
                        "JupyterHub did not start:\n" + (folder / "hub.log").read_text()[-5000:]
                    ) from None
                time.sleep(0.5)
        yield Hub(url, folder, repository)
    finally:
        _stop(hub)  # its process group: the proxy and the users' servers with their kernels
        log.close()
        _stop_strays(folder)


def _stop_strays(folder: Path) -> None:
    """Servers the hub left running (it stops them on SIGTERM; this is the net under that)."""
    import psutil

    for process in psutil.process_iter(["pid", "cwd"]):
        with contextlib.suppress(psutil.Error):
            cwd = process.info["cwd"] or ""
            if cwd.startswith(str(folder) + os.sep) and process.pid != os.getpid():
                process.kill()


def log_in(context, hub: Hub, user: str, next_url: str):
    """A page of ``context`` logged in as ``user`` and sent on to ``next_url``."""
    page = context.new_page()
    page.goto(f"{hub.url}/hub/login?next={urllib.parse.quote(next_url, safe='')}")
    page.fill("#username_input", user)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    return page


def open_lesson(context, hub: Hub, user: str, notebook: str):
    """Log in, follow the lesson's nbgitpuller link; the page once the notebook's kernel is idle."""
    link = hub.link(notebook)
    page = log_in(context, hub, user, urllib.parse.urlsplit(link).path + "?" + link.split("?")[1])
    name = Path(notebook).name
    page.wait_for_url(
        re.compile(rf"/user/{user}/lab/tree/.*{re.escape(name)}"), timeout=SPAWN_SECONDS * 1000
    )
    notebook_panel = page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-NotebookPanel-notebook"
    )
    notebook_panel.wait_for(timeout=SPAWN_SECONDS * 1000)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(
        timeout=SPAWN_SECONDS * 1000
    )
    return page, notebook_panel


def wait_until_idle(page, timeout: float) -> None:
    """Until no cell waits ([*]) and the kernel is idle, three looks in a row 0.5 s apart."""
    deadline = time.monotonic() + timeout
    calm = 0
    while calm < 3:
        if time.monotonic() > deadline:
            raise AssertionError(f"the notebook did not finish running within {timeout} s")
        busy = page.locator(".jp-InputPrompt", has_text="*").count() > 0
        busy = (
            busy or page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() == 0
        )
        calm = 0 if busy else calm + 1
        time.sleep(0.5)


def run_all(page, notebook_panel, timeout: float) -> None:
    """Clear the outputs, Run All Cells and wait; AssertionError names the cells that did not run.

    A Run All that starts no cell within 30 s (the kernel's connection was not up yet on a busy
    machine) is asked once more."""
    prompts = notebook_panel.locator(".jp-CodeCell .jp-InputPrompt")
    notebook_panel.locator(".jp-CodeCell").first.locator(".jp-InputPrompt").click()
    _menu(page, "Edit", "Clear Outputs of All Cells")
    _wait_for(lambda: not any(re.search(r"\d", t) for t in prompts.all_inner_texts()), 30,
              "clearing the outputs")  # fmt: skip
    for attempt in range(2):
        _menu(page, "Run", "Run All Cells")
        try:
            _wait_for(lambda: any(re.search(r"[\d*]", t) for t in prompts.all_inner_texts()), 30,
                      "the first cell's start")  # fmt: skip
            break
        except AssertionError:
            if attempt:
                raise
    wait_until_idle(page, timeout)
    unrun = [i + 1 for i, t in enumerate(prompts.all_inner_texts()) if not re.search(r"\[\d+\]", t)]
    if unrun:
        raise AssertionError(f"code cells that did not run: {unrun}")


def screenshot(page, name: str) -> None:
    """A picture of the page in test-artifacts/classroom/ (for a failure's report)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(Exception):
        page.screenshot(path=ARTIFACTS / f"{name}.png")


def slider_panel(page, notebook_panel, index: int = 0):
    """The ``index``-th cell whose output holds a slider panel, scrolled into view."""
    panels = notebook_panel.locator(".jp-Cell", has=page.locator(".widget-interact .widget-slider"))
    panel = panels.nth(index)
    panel.scroll_into_view_if_needed()
    panel.locator(".widget-interact img").first.wait_for(timeout=60_000)
    return panel


def move_slider(page, panel, timeout: float = 60) -> float:
    """One keyboard step of the panel's first slider; seconds until its figure is redrawn."""
    handle = panel.locator(".widget-slider .noUi-handle").first
    value = handle.get_attribute("aria-valuenow")
    at_max = value == handle.get_attribute("aria-valuemax")
    before = _panel_images(panel)
    handle.focus()
    started = time.perf_counter()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    deadline = started + timeout
    while True:
        images = _panel_images(panel)
        if images and images != before:
            return time.perf_counter() - started
        if time.perf_counter() > deadline:
            raise AssertionError(f"the panel was not redrawn within {timeout} s of the slider move")
        time.sleep(0.02)


def save(page) -> None:
    _menu(page, "File", "Save Notebook")
    page.locator(".jp-mod-dirty").wait_for(state="detached", timeout=60_000)


def launch_browser(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
