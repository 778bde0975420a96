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
