"""Every compute path of a lesson under the thread policy (``lowdim_course/threads.py``).

With torch and numpy's BLAS set to two threads and a neighbour process busy on one of two CPUs
(simulated: the policy's load sample says so), the policy's answer is one thread everywhere. A
dispatch mode records torch's thread count at every operation that can use more than one thread
(matrix products and factorizations, and element-wise work above torch's grain size, 32,768
entries), and numpy's BLAS threads at every step of the CPU training loop (``numpy_step``); each
demo a lesson calls, each exercise check and each capstone figure must stay at one. A second
test reads the lessons' sources: every demo a lesson imports carries ``@small_work()``, so a new
demo cannot escape the policy unseen.
"""

import ast
import functools
import inspect
import re
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from lowdim_course import numpy_step, threads

ROOT = Path(__file__).resolve().parent.parent
GRAIN_SIZE = 32_768  # at::internal::GRAIN_SIZE: below it an element-wise op runs on one thread
# Operations that reach BLAS or LAPACK (threaded however small their operands) ...
THREADED_OPS = {"mm", "addmm", "bmm", "baddbmm", "addbmm", "mv", "addmv", "dot", "vdot", "addr"}
THREADED_OPS |= {"convolution", "_convolution", "cholesky", "triangular_solve", "geqrf", "ormqr"}
# ... and every linalg op but the norm of a vector, which is element-wise.
ELEMENTWISE_LINALG = {"linalg_vector_norm"}


def _threaded(name: str, operands) -> bool:
    if name in THREADED_OPS:
        return True
    if name.startswith(("linalg_", "_linalg_")) and name not in ELEMENTWISE_LINALG:
        return True
    return any(isinstance(x, torch.Tensor) and x.numel() >= GRAIN_SIZE for x in operands)


class ThreadWatch(TorchDispatchMode):
    """Records the most torch threads any threaded operation ran with, and where it first ran
    with more than one."""

    def __init__(self):
        super().__init__()
        self.most = 0
        self.operations = 0
        self.where = ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name.split("::")[-1]
        if _threaded(name, tree_leaves((args, kwargs))):
            self.operations += 1
            count = torch.get_num_threads()
            self.most = max(self.most, count)
            if count > 1 and not self.where:  # the first offender (reading the stack is slow)
                frames = [
                    f"{Path(f.filename).name}:{f.lineno} {f.function}"
                    for f in inspect.stack(0)[1:]
                    if "lowdim_course" in f.filename
                ]
                self.where = f"{name} in " + " < ".join(frames[:6])
        return func(*args, **kwargs)

    def numpy_step(self, method):
        """``method`` of ``numpy_step.NumpyStep``, recording numpy's BLAS threads as it runs."""

        @functools.wraps(method)
        def watched(step, *args):
            self.operations += 1
            count = threads.numpy_blas_threads()
            self.most = max(self.most, count)
            if count > 1 and not self.where:
                self.where = f"NumpyStep.{method.__name__} (numpy's BLAS)"
            return method(step, *args)

        return watched


def busy_neighbour_sample():
    """``threads.cpu_usage_sample`` as it reads beside a process that keeps one CPU busy."""
    own, wall = time.process_time(), time.monotonic()
    return own + wall, own, wall


@pytest.fixture
def loaded(monkeypatch):
    """Torch at two threads on two CPUs, one of them busy elsewhere: the policy says one."""
    monkeypatch.setattr(threads, "available_cpus", lambda: 2)
    monkeypatch.setattr(threads, "cpu_usage_sample", busy_neighbour_sample)
    with threads.cpu_threads(2):  # torch's own setting is restored afterwards
        tuner = threads.ThreadTuner(2, check_every=1e-3)
        tuner.before_step()
        time.sleep(2e-3)
        tuner.before_step()  # the policy's own answer under this load
        assert tuner.chosen == 1
        threads.set_threads(2)  # torch and numpy's BLAS
        watch = ThreadWatch()
        for name in ("parts", "descend"):  # the CPU training step multiplies in numpy
            method = getattr(numpy_step.NumpyStep, name)
            monkeypatch.setattr(numpy_step.NumpyStep, name, watch.numpy_step(method))
        yield watch


def _clear_course_caches() -> None:
    """Empty every ``functools.lru_cache`` of the course: a demo that only reads what an
    earlier test computed proves nothing."""
    for name, module in list(sys.modules.items()):
        if name.startswith("lowdim_course"):
            for value in list(vars(module).values()):
                if callable(getattr(value, "cache_clear", None)):
                    value.cache_clear()


def _run_watched(watch, work):
    _clear_course_caches()
    with watch:
        result = work()
    assert watch.operations > 0, "nothing threaded ran: the case proves nothing"
    assert watch.most == 1, f"{watch.most} threads under load, first at {watch.where}"
    return result


def _semantic_depth(monkeypatch):
    from lowdim_course.demos import lesson02_semantic

    monkeypatch.setattr(lesson02_semantic, "SEMANTIC_SEEDS", range(1))
    monkeypatch.setattr(lesson02_semantic, "SEMANTIC_MAX_STEPS", 200)
    return lesson02_semantic.semantic_depth_demo(depths=(2,))


def _nonlinear_block(monkeypatch):
    from lowdim_course.demos import lesson06

    monkeypatch.setitem(lesson06.DEFAULTS, "steps", 2)  # a fresh, two-step cached run
    return lesson06.why_compressible(r_hat=20)


def _update_geometry(monkeypatch):
    from lowdim_course.demos import lesson12
    from lowdim_course.nonlinear import update_sweep

    monkeypatch.setitem(update_sweep.DEFAULT_SETTING, "steps", 20)  # fresh, short cached runs
    return lesson12.update_geometry_demo(width=25)


def _demo(module, name, **arguments):
    def run(monkeypatch):
        demos = __import__(f"lowdim_course.demos.{module}", fromlist=[name])
        return getattr(demos, name)(**arguments)

    return run


# One demo per lesson at small sizes, as a slider or a cell calls it (lesson 02's depth demo
# took 324 s beside a busy neighbour with two threads, 8 s with one).
DEMOS = {
    "00 first_look": _demo("lesson00", "first_look", steps=100, d=10, r=2),
    "01 saxe_demo": _demo("lesson01", "saxe_demo", s=2.0, m0=1e-2, eta=2e-2),
    "02 semantic_depth_demo": _semantic_depth,
    "03 singular_value_waterfall": _demo(
        "lesson03", "singular_value_waterfall", d=12, r=2, depth=2, eps=0.3, steps=50
    ),
    "04 compression_race": _demo("lesson04", "compression_race", steps=100),
    "05 sensing_race": _demo("lesson05", "sensing_race", m=120, r_hat=4, steps=100),
    "06 why_compressible": _nonlinear_block,
    "07 toy_losses": _demo("lesson07", "toy_losses"),
    "08 pruning_panel": _demo("lesson08", "pruning_panel", p=60),
    "09 same_ratio": _demo("lesson09", "same_ratio"),
    "10 weight_averaging_demo": _demo("lesson10", "weight_averaging_demo"),
    "11 measures_vs_errors": _demo("lesson11", "measures_vs_errors"),
    "12 update_geometry_demo": _update_geometry,
}


@pytest.mark.parametrize("name", DEMOS)
def test_a_demo_runs_on_the_policys_one_thread_beside_a_busy_neighbour(
    name, loaded, monkeypatch, capsys
):
    _run_watched(loaded, functools.partial(DEMOS[name], monkeypatch))


@pytest.mark.parametrize(
    "exercise_id", ["00.end_to_end", "04.compressed_gd_step", "06.block_surrogate"]
)
def test_an_exercise_check_runs_on_one_thread_beside_a_busy_neighbour(exercise_id, loaded, capsys):
    from lowdim_course.exercises import check, get_exercise

    result = _run_watched(loaded, lambda: check(exercise_id, get_exercise(exercise_id).reference))
    assert result.passed, result.message


@pytest.mark.parametrize(
    ("module", "demo", "exercise_id"),
    [
        ("lesson01", "gd_step_demo", "01.two_layer_gd_step"),
        ("lesson03", "capstone_demo", "03.measure_layer"),
    ],
)
def test_a_capstone_figure_runs_on_one_thread_beside_a_busy_neighbour(
    module, demo, exercise_id, loaded, capsys
):
    from lowdim_course.exercises import get_exercise

    figure = getattr(__import__(f"lowdim_course.demos.{module}", fromlist=[demo]), demo)
    answer = get_exercise(exercise_id).reference  # the student's function, solved
    _run_watched(loaded, lambda: figure(answer))
    assert "the figure shows the course's result only" not in capsys.readouterr().out


def test_the_graders_calls_and_judging_run_on_one_thread_beside_a_busy_neighbour(
    loaded, monkeypatch
):
    import json

    import student_answers

    from lowdim_course.grading import kernel_side
    from lowdim_course.grading.judging import score_exercise

    namespace = {"torch": torch}
    exec(student_answers.COMPRESSED_STEP, namespace)  # as a notebook's cell defines it
    monkeypatch.setattr(kernel_side, "_user_namespace", lambda: namespace)
    wanted = [["04.compressed_gd_step", "compressed_gd_step"]]
    with loaded:
        record = json.loads(kernel_side.collect("n", wanted))["exercises"][wanted[0][0]]
        record["origin"] = {"kind": "cell"}  # exec'd here, not in a notebook's cell
        item = score_exercise(wanted[0][0], record, [])
    assert item["passed"], item["message"]
    assert loaded.operations > 0 and loaded.most == 1, loaded.where


def _lesson_imports() -> dict[tuple[str, str], str]:
    """``(demo module, name) -> lesson source`` for every name a lesson imports from a demo."""
    imports = {}
    for source in sorted((ROOT / "lessons" / "src").glob("*.md")):
        for cell in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", source.read_text(), re.S):
            code = "\n".join(
                line for line in cell.splitlines() if not line.startswith(("%", "!", ":"))
            )
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "lowdim_course.demos"
                ):
                    for alias in node.names:
                        imports.setdefault((node.module, alias.name), source.name)
    return imports


def _decorator_names(function) -> list[str]:
    function = inspect.unwrap(function)
    tree = ast.parse(Path(inspect.getsourcefile(function)).read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == function.__name__:
            return [ast.unparse(decorator) for decorator in node.decorator_list]
    raise AssertionError(f"{function.__qualname__} is not a module-level function")


def test_every_demo_a_lesson_imports_runs_under_small_work():
    imports = _lesson_imports()
    assert len(imports) > 40 and {module for module, _ in imports} >= {
        f"lowdim_course.demos.lesson{n:02d}" for n in range(12)
    }
    missing = []
    for (module, name), source in sorted(imports.items()):
        function = getattr(__import__(module, fromlist=[name]), name)
        if "small_work()" not in _decorator_names(function):
            missing.append(f"{source}: {module}.{name}")
    assert not missing, "demos without @small_work(): " + ", ".join(missing)
