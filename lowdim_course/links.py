"""Where the course lives online: its repository, the ref every link pins, launch links.

One place for the addresses that lessons, README, pyproject.toml and the site print: the GitHub
repository, the one git ref that every launch link and the install cell pin (``PINNED_REF``), and
the links that open a notebook in Google Colab or on Binder.

A lesson opened in Colab runs its first code cell (``INSTALL_CELL``, written by the lesson
builder): where ``lowdim_course`` cannot be imported it runs ``pip install`` of this release
from the repository, else it does nothing. ``INSTALL_SOURCE_VARIABLE`` names an environment
variable that replaces what is installed (a wheel file, for a test without the network).
"""

from __future__ import annotations

import urllib.parse

REPOSITORY = "lowdim-course/lowdim-course"
REPOSITORY_URL = f"https://github.com/{REPOSITORY}"
# the static site, published from main by .github/workflows/site.yml (GitHub Pages)
SITE_URL = "https://lowdim-course.github.io/lowdim-course/"
# The branch ``main`` until a release is cut; then the release's tag, ``v`` + the version
# (CONTRIBUTING.md, "Cutting a release"). tests/test_links.py fails when this ref does not resolve
# in the repository, or when a link anywhere in the repository pins another one.
PINNED_REF = "main"
INSTALL_SOURCE = f"git+{REPOSITORY_URL}@{PINNED_REF}"
INSTALL_SOURCE_VARIABLE = "LOWDIM_COURSE_INSTALL_SOURCE"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE = "https://mybinder.org/badge_logo.svg"


def colab_url(notebook: str, ref: str = PINNED_REF) -> str:
    """Open ``notebook`` (a path inside the repository, e.g. ``lessons/00_start_here.ipynb``)."""
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{ref}/{notebook}"


def binder_url(notebook: str, ref: str = PINNED_REF) -> str:
    """Open ``notebook`` in JupyterLab on Binder (the environment of ``binder/``)."""
    return f"https://mybinder.org/v2/gh/{REPOSITORY}/{ref}?urlpath=lab/tree/{notebook}"


def colab_badge(notebook: str) -> str:
    """Markdown for an "Open in Colab" badge linking ``notebook``."""
    return f"[![Open in Colab]({COLAB_BADGE})]({colab_url(notebook)})"


INSTALL_CELL = f'''# In Google Colab (or wherever the course is missing) this installs it and
# keeps the PyTorch already there. With the course installed it does nothing.
import importlib.util
import sys

if importlib.util.find_spec("lowdim_course") is None:
    import os
    import subprocess

    source = os.environ.get(
        "{INSTALL_SOURCE_VARIABLE}",
        "{INSTALL_SOURCE}",
    )
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", source], check=True)
if "google.colab" in sys.modules:  # Colab draws ipywidgets 8 sliders with its widget manager
    from google.colab import output

    output.enable_custom_widget_manager()'''


# The folder nbgitpuller clones the repository into, in the student's home: the repository's name.
CLONE_FOLDER = REPOSITORY.split("/")[-1]
NBGITPULLER_APPS = ("lab", "notebook")


def nbgitpuller_url(
    hub_url: str,
    notebook: str,
    ref: str = PINNED_REF,
    repository_url: str = REPOSITORY_URL,
    app: str = "lab",
) -> str:
    """A link that clones (or updates) the course in a hub user's home and opens ``notebook``.

    nbgitpuller's ``git-pull`` endpoint, reached through the hub's ``user-redirect`` (so one link
    serves every student: the hub sends each to their own server)::

        {hub_url}/hub/user-redirect/git-pull?repo=R&branch=B&targetpath=lowdim-course
            &urlpath=lab/tree/lowdim-course/{notebook}

    ``targetpath`` is given, not left to nbgitpuller's default (the last part of ``repo``), so
    that a mirror or a local bare clone (``.../lowdim-course.git``) lands in the same folder as
    the course's own repository. A second click pulls again and merges the student's edits.
    """
    parsed = urllib.parse.urlsplit(hub_url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"hub_url must be an http:// or https:// address, got {hub_url!r}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"hub_url must have no query or fragment, got {hub_url!r}")
    if app not in NBGITPULLER_APPS:
        raise ValueError(f"app must be one of {NBGITPULLER_APPS}, got {app!r}")
    notebook = notebook.strip("/")
    if not notebook:
        raise ValueError("notebook must be a path inside the repository, got an empty one")
    opener = "lab/tree" if app == "lab" else "notebooks"
    query = urllib.parse.urlencode(
        {
            "repo": repository_url,
            "branch": ref,
            "targetpath": CLONE_FOLDER,
            "urlpath": f"{opener}/{CLONE_FOLDER}/{notebook}",
        },
        quote_via=urllib.parse.quote,
    )
    return f"{hub_url.rstrip('/')}/hub/user-redirect/git-pull?{query}"
