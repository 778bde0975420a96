"""Launch links pin one git ref (``links.PINNED_REF``), and that ref exists in the repository.

Colab opens ``.../blob/<ref>/lessons/NN.ipynb``, Binder builds ``.../v2/gh/<repo>/<ref>``, and a
lesson's install cell runs ``pip install git+...@<ref>``: a ref that is not in the repository
breaks all three for every student. These tests read the repository's own git data, so they run
in a clone (CI's is one) and skip in an unpacked wheel or sdist.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from lowdim_course import __version__, links

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = re.escape(links.REPOSITORY)
# every way a file of the course can pin a ref of its own repository in a launch link
PINNING_PATTERNS = [
    re.compile(rf"colab\.research\.google\.com/github/{REPOSITORY}/blob/([^/\s]+)/"),
    re.compile(rf"mybinder\.org/v2/gh/{REPOSITORY}/([^?/\s)\"']+)"),
    re.compile(rf"git\+https://github\.com/{REPOSITORY}(?:\.git)?@([\w.\-/]+)"),
]
SCANNED_SUFFIXES = {".md", ".py", ".ipynb", ".toml", ".cff", ".yml", ".yaml", ".cfg", ".txt"}
# the history may name refs of its time; this file names patterns, not refs
NOT_SCANNED = {"CHANGELOG.md", "tests/test_links.py"}


def _git(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(ROOT), *arguments], capture_output=True, text=True, check=False
    )


@pytest.fixture(scope="module")
def tracked_files() -> list[Path]:
    listed = _git("ls-files")
    if not (ROOT / ".git").exists() or listed.returncode != 0:
        pytest.skip("not a git checkout of the course (an unpacked wheel or sdist)")
    return [ROOT / name for name in listed.stdout.splitlines()]


def _resolves(ref: str) -> bool:
    """Whether ``ref`` names a commit as a branch, a tag or a remote-tracking branch.

    A checkout made by a CI service may hold only a detached commit and ``origin/<branch>``.
    """
    candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}", f"refs/remotes/origin/{ref}"]
    return any(
        _git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}").returncode == 0
        for name in candidates
    )


def _pinned_refs(files: list[Path]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in files:
        relative = path.relative_to(ROOT).as_posix()
        if path.suffix not in SCANNED_SUFFIXES or relative in NOT_SCANNED or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for pattern in PINNING_PATTERNS:
            for ref in pattern.findall(text):
                found.setdefault(relative, set()).add(ref)
    return found


def test_the_pinned_ref_resolves_in_the_repository(tracked_files):
    assert _resolves(links.PINNED_REF), (
        f"links.PINNED_REF = {links.PINNED_REF!r} is neither a branch nor a tag of this "
        "repository: cut the release's tag (CONTRIBUTING.md, 'Cutting a release') or pin a branch"
    )


def test_a_ref_that_does_not_exist_is_caught(tracked_files):
    assert not _resolves("v999.0.0-never-released")


def test_every_launch_link_in_the_repository_pins_the_same_ref(tracked_files):
    found = _pinned_refs(tracked_files)
    other = {path: refs for path, refs in found.items() if refs != {links.PINNED_REF}}
    assert not other, f"links pinning another ref than {links.PINNED_REF!r}: {other}"
    # the places a newcomer clicks first all carry pinned links
    lessons = {path.relative_to(ROOT).as_posix() for path in (ROOT / "lessons").glob("*.ipynb")}
    assert lessons and lessons <= set(found), sorted(lessons - set(found))
    assert {"README.md", "pyproject.toml"} <= set(found)


def test_the_scan_sees_a_link_pinning_another_ref(tmp_path):
    stray = tmp_path / "stray.md"
    stray.write_text(
        f"[Colab]({links.colab_url('lessons/04_compressing_width.ipynb', ref='v0.0.9')}) and "
        f"pip install git+{links.REPOSITORY_URL}@v0.0.9"
    )
    pinned = {ref for pattern in PINNING_PATTERNS for ref in pattern.findall(stray.read_text())}
    assert pinned == {"v0.0.9"}


def test_a_release_tag_names_this_version():
    if re.fullmatch(r"v\d.*", links.PINNED_REF):
        assert links.PINNED_REF == f"v{__version__}"
    else:
        assert links.PINNED_REF in {"main"}, "pin the main branch or this release's tag"
    assert links.INSTALL_SOURCE.endswith(f"@{links.PINNED_REF}")
    assert f"/blob/{links.PINNED_REF}/" in links.colab_url("lessons/00_start_here.ipynb")
    assert f"/{links.PINNED_REF}?urlpath=" in links.binder_url("lessons/00_start_here.ipynb")


@pytest.mark.parametrize("hub", ["https://hub.example.edu", "http://127.0.0.1:8000/base/"])
def test_an_nbgitpuller_link_parses_back_to_its_repository_branch_and_path(hub):
    from urllib.parse import parse_qs, urlsplit

    repository = "file:///srv/class/lowdim-course.git"  # a mirror: not the default's folder name
    link = links.nbgitpuller_url(hub, "lessons/04 a&b.ipynb", ref="v1.0", repository_url=repository)
    parts = urlsplit(link)
    hub_parts = urlsplit(hub)
    assert (parts.scheme, parts.netloc) == (hub_parts.scheme, hub_parts.netloc)
    assert parts.path == hub_parts.path.rstrip("/") + "/hub/user-redirect/git-pull"
    assert parse_qs(parts.query, strict_parsing=True) == {
        "repo": [repository],
        "branch": ["v1.0"],
        "targetpath": ["lowdim-course"],
        "urlpath": ["lab/tree/lowdim-course/lessons/04 a&b.ipynb"],
    }
    classic = urlsplit(links.nbgitpuller_url(hub, "lessons/x.ipynb", app="notebook"))
    assert parse_qs(classic.query)["urlpath"] == ["notebooks/lowdim-course/lessons/x.ipynb"]
    assert parse_qs(classic.query)["repo"] == [links.REPOSITORY_URL]
    assert parse_qs(classic.query)["branch"] == [links.PINNED_REF]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"hub_url": "hub.example.edu"}, "hub_url must be an http"),
        ({"hub_url": "ftp://hub.example.edu"}, "hub_url must be an http"),
        ({"hub_url": "https://"}, "hub_url must be an http"),
        ({"hub_url": "https://hub.example.edu/?next=x"}, "hub_url must have no query"),
        ({"hub_url": "https://hub.example.edu", "app": "colab"}, "app must be one of"),
        ({"hub_url": "https://hub.example.edu", "notebook": "/"}, "notebook must be a path"),
    ],
)
def test_a_bad_nbgitpuller_argument_is_named(arguments, message):
    arguments = {"notebook": "lessons/00_start_here.ipynb", **arguments}
    with pytest.raises(ValueError, match=message):
        links.nbgitpuller_url(**arguments)
