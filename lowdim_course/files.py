"""Writing result files atomically: a temporary file in the target's folder, then ``os.replace``.

An interrupt (Ctrl-C, a killed job) therefore leaves either the old file or the new one, never
half of one. Used by the command line, ``reproduce`` and the nonlinear experiment.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


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
    image_format = Path(path).suffix.lstrip(".") or "png"
    save_atomically(path, lambda temporary: figure.savefig(temporary, dpi=dpi, format=image_format))
