"""Stand-ins for another processor: the same call with rounding changed, its printed text kept.

Two processors (or two torch thread counts) run the same matrix products through different BLAS
code paths, whose results differ in the last bits: about 1e-16 relative per product, growing to
~1e-12 over a chain of them; ``lowdim_course.rounding.RoundingPerturbation`` imitates that on
one machine. ``printed_text`` runs a demo with a given thread count, with or without that
perturbation, and returns what it printed.
"""

from __future__ import annotations

import contextlib
import io

from lowdim_course.rounding import RoundingPerturbation
from lowdim_course.threads import cpu_threads


def printed_text(
    function, *args, threads: int, noise: RoundingPerturbation | None = None, **kwargs
):
    """``(what function(*args, **kwargs) printed, what it returned)`` with torch at ``threads``
    threads, inside ``noise`` if one is given; torch's thread count is restored after."""
    buffer = io.StringIO()
    with cpu_threads(threads), contextlib.redirect_stdout(buffer):
        with noise or contextlib.nullcontext():
            returned = function(*args, **kwargs)
    return buffer.getvalue(), returned
