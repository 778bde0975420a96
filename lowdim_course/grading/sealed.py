"""The grading code, read once before any notebook runs, and served to every worker from memory.

Each notebook is graded by a fresh worker process. Were it to import the course from disk, a
notebook that can write there (an editable install, a grader running as root without a sandbox)
could change the comparisons and kill its kernel, and the re-grade would judge with the changed
code. So ``grade_notebooks`` takes a ``snapshot()`` of every module of the package before the
first notebook runs, and starts each worker with ``BOOTSTRAP``: it reads its job (snapshot
included) on stdin and imports ``lowdim_course`` from that snapshot alone, never from a path a
notebook could reach. The grader's cell in the kernel is built from the same snapshot
(``kernel_side``, ``kernel_results``). Python itself and the libraries are still read from disk:
the sandbox keeps them read-only (``sandbox``); without one, docs/grading.md says what is left.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "lowdim_course"

# Run as ``python -c BOOTSTRAP``. It must not import the package before its finder is in place.
BOOTSTRAP = """\
import importlib.abc, importlib.util, json, os, sys
job = json.loads(sys.stdin.buffer.read())
sys.stdin.close()
modules = job["sealed"]

class SealedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name != "lowdim_course" and not name.startswith("lowdim_course."):
            return None
        if name not in modules:
            raise ModuleNotFoundError(f"no module named {name!r} in the sealed copy", name=name)
        origin, _, package = modules[name]
        spec = importlib.util.spec_from_loader(name, self, origin=origin, is_package=package)
        spec.has_location = True
        if package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        origin, source, _ = modules[module.__spec__.name]
        module.__file__ = origin
        exec(compile(source, origin, "exec"), module.__dict__)

sys.meta_path.insert(0, SealedFinder())
from lowdim_course.grading import worker
sys.exit(worker.main(job))
"""


def snapshot() -> dict[str, list]:
    """Every module of the package: ``{dotted name: [path, source, is_package]}``."""
    root = Path(__file__).resolve().parents[1]
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        package = parts[-1] == "__init__"
        name = ".".join((PACKAGE, *(parts[:-1] if package else parts)))
        modules[name] = [str(path), path.read_text(encoding="utf-8"), package]
    return modules


def source(job: dict, module: str) -> tuple[str, str]:
    """``(path, source)`` of ``module`` (``lowdim_course.grading.kernel_side``) from the job's
    snapshot, or from disk when the job has none (a worker called directly, in tests)."""
    sealed = job.get("sealed")
    if sealed and module in sealed:
        path, text, _ = sealed[module]
        return path, text
    path = Path(__file__).resolve().parents[2].joinpath(*module.split(".")).with_suffix(".py")
    return str(path), path.read_text(encoding="utf-8")
