"""The core's structure: imports go one way through the layers, no circles, small modules.

The layers are the ones CONTRIBUTING.md draws; a new module must be given its layer here.
"""

import ast
import collections
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lowdim_course"
MOST_LINES = 400

# Lower number = lower layer. A module may import from its own layer or any lower one.
LAYER = {
    "validation": 0,
    "random_matrices": 1,
    "rank_measures": 1,
    "spread": 1,
    "history": 1,
    "files": 1,
    "plots": 1,
    "widgets": 1,
    "threads": 1,
    "rounding": 1,
    "divergence": 1,
    "headless": 1,
    "notebook_outputs": 1,
    "jupyter_wakeup": 1,
    "lesson_skeleton": 7,
    "links": 1,
    "problems": 2,
    "networks": 2,
    "numpy_step": 2,
    "training": 3,
    "comparison": 4,
    "theory": 4,
    "semantic": 4,
    "literature": 5,
    "nonlinear": 5,
    "nonlinear_seeds": 5,
    "adapters": 5,
    "nonlinear_tuned": 5,
    "demos": 6,
    "exercises": 6,
    "lesson_frame": 6,
    "lesson_source": 6,
    "reproduce": 7,
    "course_map": 7,
    "grading": 7,
    "lesson_reset": 7,
    "cli": 8,
    "cli_training": 8,
    "cli_notebooks": 8,
    "authoring": 8,
    "website": 8,
    "__init__": 9,
    "__main__": 9,
}


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> set[str]:
    """The package's modules ``path`` imports, as dotted names inside the package."""
    package_parts = list(path.relative_to(PACKAGE).parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package_parts[: len(package_parts) - (node.level - 1)]
            module = base + (node.module.split(".") if node.module else [])
            if node.module is None:  # from . import a, b: each name may be a module
                found.update(".".join([*module, alias.name]) for alias in node.names)
            else:
                found.add(".".join(module))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("lowdim_course."):
            found.add(node.module.removeprefix("lowdim_course."))
        elif isinstance(node, ast.Import):
            found.update(
                alias.name.removeprefix("lowdim_course.")
                for alias in node.names
                if alias.name.startswith("lowdim_course.")
            )
    known = {_dotted(p) for p in _modules()}
    return {name for name in found if name in known and name}


def _graph():
    return {_dotted(path): _imported_modules(path) - {_dotted(path)} for path in _modules()}


def _top(dotted: str) -> str:
    return dotted.split(".")[0] or "__init__"


def test_every_module_has_a_layer():
    missing = sorted({_top(_dotted(p)) for p in _modules()} - set(LAYER))
    assert not missing, f"give these modules a layer in tests/test_structure.py: {missing}"


def test_imports_never_go_from_a_lower_layer_to_a_higher_one():
    upward = [
        f"{module} (layer {LAYER[_top(module)]}) imports {target} (layer {LAYER[_top(target)]})"
        for module, targets in _graph().items()
        for target in targets
        if LAYER[_top(target)] > LAYER[_top(module)]
    ]
    assert not upward, "\n".join(upward)


def _find_cycle(graph):
    state, stack = collections.defaultdict(int), []

    def visit(node):
        state[node], _ = 1, stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if state[successor] == 1:
                return [*stack[stack.index(successor) :], successor]
            if state[successor] == 0 and (cycle := visit(successor)):
                return cycle
        state[node], _ = 2, stack.pop()
        return None

    for node in sorted(graph):
        if state[node] == 0 and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_circle_between_modules_or_between_top_level_parts():
    graph = _graph()
    assert _find_cycle(graph) is None, " -> ".join(_find_cycle(graph))
    # between parts (a package counts as one): lower layers must not reach back up through
    # a chain, and two parts of one layer must not import each other
    parts = collections.defaultdict(set)
    for module, targets in graph.items():
        parts[_top(module)].update(_top(t) for t in targets if _top(t) != _top(module))
    parts.pop("__init__", None)
    assert _find_cycle(parts) is None, " -> ".join(_find_cycle(parts))


def test_the_cycle_finder_finds_a_cycle():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_is_over_400_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MOST_LINES, f"{path.name} has {lines} lines: split it by job"
