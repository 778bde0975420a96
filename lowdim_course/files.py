"""Writing result files atomically: a temporary file in the target's folder, then ``os.replace``.

An interrupt (Ctrl-C, a killed job) therefore leaves either the old file or the new one, never
half of one. Used by the command line, ``reproduce`` and the nonlinear experiment.

``check_output_file`` and ``check_output_folder`` tell, before any work, whether a file can be
written there later: the nearest folder that exists must let this process create a file (asked
with ``os.access`` and then tried with an empty temporary file, since ``os.access`` says yes to
root everywhere, even in ``/proc``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

# Figure formats the course saves (matplotlib's Agg backend writes all three).
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def save_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temporary_path)``, then ``os.replace`` it onto ``path`` (folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    save_atomically(path, lambda temporary: temporary.write_text(text))


def save_figure_atomically(figure, path: Path, dpi: int = 120) -> None:
    """``figure.savefig`` to ``path`` atomically, in the format its suffix names (PNG default)."""
    image_format = Path(path).suffix.lstrip(".").lower() or "png"
    save_atomically(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format=image_format))


def check_output_file(name: str, path, suffixes: tuple[str, ...] | None = None) -> Path:
    """``path`` as a Path, or ValueError (one line, naming ``name``) if it cannot be written.

    ``suffixes`` (lower case, with the dot) are the endings allowed. Missing folders are fine
    (``save_atomically`` creates them) as long as the nearest existing one is writable.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        last = suffixes[-1]
        allowed = f"{', '.join(suffixes[:-1])} or {last}" if len(suffixes) > 1 else last
        raise ValueError(f"{name} must end in {allowed}, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{name} must be a file name, got the folder {str(path)!r}")
    _check_can_create_in(name, path.parent, path)
    return path


def check_output_folder(name: str, path) -> Path:
    """``path`` as a Path, or ValueError (one line) if files cannot be written into it."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} must be a folder, got the file {path}")
    _check_can_create_in(name, path, path)
    return path


def _check_can_create_in(name: str, folder: Path, wanted: Path) -> None:
    existing = Path(os.path.abspath(folder))
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(
            f"{name}: cannot write {str(wanted)!r}: {existing} is a file, not a folder"
        )
    why = None
    if not os.access(existing, os.W_OK | os.X_OK):
        why = "permission denied"
    else:
        try:
            handle, probe = tempfile.mkstemp(dir=existing, prefix=".lowdim-course-probe-")
        except OSError as exc:
            why = exc.strerror or exc.__class__.__name__
        else:
            os.close(handle)
            os.unlink(probe)
    if why:
        raise ValueError(
            f"{name} must be a path this user can write, got {str(wanted)!r} (cannot create a "
            f"file in {existing}: {why})"
        )
