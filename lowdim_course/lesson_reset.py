"""A fresh copy of one lesson notebook, from the git repository the student cloned.

``reset_lesson("04")`` writes ``lessons/04_compressing_width.ipynb`` as the repository's last
commit holds it (``git show HEAD:lessons/04_compressing_width.ipynb``, run in the folder that
holds ``lowdim_course``), after keeping the student's copy in ``.backups/lessons/`` under a
time-stamped name, e.g. ``.backups/lessons/04_compressing_width.20261207-130502.ipynb``.

Why there: the test runs (``pytest``, whose ``testpaths`` are ``tests``, ``lessons`` and
``solutions``, and nbval's ``pytest lessons solutions``) never look outside those folders, and
pytest never enters a folder whose name starts with a dot even when asked for the whole
repository; ``.backups/`` is not in ``.gitignore``, so ``git status`` lists it as untracked.
Without a git checkout (a pip-installed course) there is no pristine copy to take: the error
says how to get one.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .files import check_output_file, save_atomically
from .links import REPOSITORY_URL

BACKUPS = ".backups"
FOLDERS = {False: "lessons", True: "solutions"}


@dataclass(frozen=True)
class Reset:
    """What ``reset_lesson`` did: the notebook written and where the old copy went (or None)."""

    path: Path
    backup: Path | None
    changed: bool


def course_root() -> Path:
    """The folder holding the ``lowdim_course`` package (the repository root in a checkout)."""
    return Path(__file__).resolve().parent.parent


def _git(root: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-C", str(root), *arguments], capture_output=True, check=False
    )  # fmt: skip


def checkout_root(root: Path) -> Path:
    """``root`` if it is the top of a git checkout with a commit, else ValueError saying how."""
    advice = (
        f"get the course with git (git clone {REPOSITORY_URL}) and run reset there, or download "
        f"the notebook again from {REPOSITORY_URL}"
    )
    try:
        top = _git(root, "rev-parse", "--show-toplevel")
    except FileNotFoundError:
        raise ValueError(f"reset needs git, which is not installed here: {advice}") from None
    if top.returncode != 0 or Path(top.stdout.decode().strip()).resolve() != root.resolve():
        raise ValueError(f"{root} is not a git checkout of the course: {advice}")
    if _git(root, "rev-parse", "--verify", "--quiet", "HEAD").returncode != 0:
        raise ValueError(f"the git checkout at {root} has no commit to take the lesson from")
    return root


def committed_notebooks(root: Path, folder: str) -> dict[str, str]:
    """``{"04": "04_compressing_width.ipynb", ...}``: the numbered notebooks HEAD holds."""
    listed = _git(root, "ls-tree", "--name-only", "HEAD", f"{folder}/")
    names = [Path(line).name for line in listed.stdout.decode().splitlines()]
    return {
        name[:2]: name
        for name in sorted(names)
        if name.endswith(".ipynb") and name[:2].isdigit() and name[2:3] == "_"
    }


def lesson_number(number: str, known: dict[str, str]) -> str:
    """``"4"`` or ``"04"`` as the two-digit key of ``known``, or ValueError listing them."""
    text = str(number).strip()
    key = f"{int(text):02d}" if text.isdigit() else None
    if key not in known:
        raise ValueError(
            f"NN must be a lesson number, one of {', '.join(known)}, got {str(number)!r}"
        )
    return key


def backup_path(root: Path, folder: str, name: str, when: float | None = None) -> Path:
    """A name not yet taken under ``.backups/<folder>/``: ``<stem>.<YYYYmmdd-HHMMSS>.ipynb``."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    stem = Path(name).stem
    target = root / BACKUPS / folder / f"{stem}.{stamp}.ipynb"
    count = 1
    while target.exists():
        count += 1
        target = root / BACKUPS / folder / f"{stem}.{stamp}-{count}.ipynb"
    return target


def reset_lesson(number: str, *, solution: bool = False, root: Path | None = None) -> Reset:
    """Write the committed copy of lesson ``number`` (its solution with ``solution``).

    The student's copy, when it differs from the committed one, is first copied to
    ``backup_path``; a copy equal to the committed one is left alone (nothing to back up).
    """
    root = checkout_root(Path(root) if root is not None else course_root())
    folder = FOLDERS[bool(solution)]
    known = committed_notebooks(root, folder)
    if not known:
        raise ValueError(f"the last commit of {root} holds no {folder}/NN_*.ipynb notebook")
    name = known[lesson_number(number, known)]
    shown = _git(root, "show", f"HEAD:{folder}/{name}")
    if shown.returncode != 0:
        raise ValueError(f"git show HEAD:{folder}/{name} failed: {shown.stderr.decode().strip()}")
    pristine, path = shown.stdout, root / folder / name
    current = path.read_bytes() if path.is_file() else None
    if current == pristine:
        return Reset(path, None, changed=False)
    check_output_file(f"{folder}/{name}", path)  # both writes checked before either
    backup = None
    if current is not None:
        backup = check_output_file(BACKUPS, backup_path(root, folder, name))
        save_atomically(backup, lambda temporary: temporary.write_bytes(current))
    mode = path.stat().st_mode & 0o777 if current is not None else 0o644

    def write(temporary: Path) -> None:
        temporary.write_bytes(pristine)
        temporary.chmod(mode)  # a temporary file is 0600; keep the notebook's own mode

    save_atomically(path, write)
    return Reset(path, backup, changed=True)
