"""The grader agrees with the student's own ``check``, and reads decorated answers as answers.

No Jupyter kernel here (the quick tier): the grader's cell (``kernel_side.collect``) runs in this
process on functions compiled under a stand-in of the kernel's cell folder, and its records are
judged by the grader's own ``score_exercise``, exactly as after a kernel. The notebooks graded
in real kernels are in tests/test_grading_honest.py.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json

import pytest
import student_answers as answers
import torch
from test_exercises import SOLUTIONS, WRONG
from torch import nn

from lowdim_course.exercises import REGISTRY, check, get_exercise
from lowdim_course.exercises.framework import call_with_time_limit, fresh_copy
from lowdim_course.grading import kernel_results, kernel_side
from lowdim_course.grading.judging import score_exercise

# ---------------------------------------------------------------------------------------------
# Both verdicts on one function
# ---------------------------------------------------------------------------------------------


def check_verdict(exercise_id: str, function) -> bool:
    with contextlib.redirect_stdout(io.StringIO()):
        return check(exercise_id, function).passed


def grader_verdict(exercise_id: str, function) -> dict:
    """The grader's item for ``function``'s results, with the origin taken as a cell's: what
    reaches the grader from the kernel (plain data through JSON) and its judgment of it."""
    exercise = get_exercise(exercise_id)
    outcomes = []
    for case in exercise.make_cases():
        outcome = call_with_time_limit(function, fresh_copy(case.args), exercise.time_limit)
        outcomes.append(kernel_results.encode_outcome(outcome))
        if outcome.timed_out or outcome.exception is not None:
            break
    record = {"name": "f", "origin": {"kind": "cell"}, "outcomes": outcomes}
    record = json.loads(json.dumps({**record, "core_calls": [], "suspicious": []}))
    return score_exercise(exercise_id, record, [])


class OwnLinear(nn.Linear):
    """A student's own layer class: an ``nn.Linear`` that says what it is."""

    def extra_repr(self) -> str:
        return "own " + super().extra_repr()


class OwnSequential(nn.Sequential):
    pass


def _as_block(layer_class, container=nn.Sequential):
    def compressed_block(surrogate, r_hat, depth, eps):
        u, _, vh = torch.linalg.svd(surrogate, full_matrices=False)
        middle = [eps * torch.eye(r_hat, dtype=surrogate.dtype) for _ in range(depth - 2)]
        layers = []
        for weight in [eps * vh[:r_hat], *middle, eps * u[:, :r_hat]]:
            layer = layer_class(weight.shape[1], weight.shape[0], bias=False, dtype=weight.dtype)
            with torch.no_grad():
                layer.weight.copy_(weight)
            layers.append(layer)
        return container(*layers)

    return compressed_block


class WithScale(nn.Linear):
    """An ``nn.Linear`` with one parameter more: the block then has too many parameters."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.scale = nn.Parameter(torch.ones(1, dtype=self.weight.dtype))


def _decorated(kind, function):
    if kind == "no_grad":
        return torch.no_grad()(function)
    if kind == "partial":
        return functools.partial(function)
    return functools.wraps(function)(lambda *args: function(*args))


# Accepted variants: every exercise's reference, the independent solutions of lessons 00-04 (also
# decorated), and answers that return what check accepts in another form.
ACCEPTED = [
    *[(key, "reference", exercise.reference) for key, exercise in sorted(REGISTRY.items())],
    *[(key, "solution", function) for key, function in sorted(SOLUTIONS.items())],
    *[
        (key, kind, _decorated(kind, SOLUTIONS[key]))
        for key in ("00.end_to_end", "04.spectral_init", "03.rho_trajectory")
        for kind in ("no_grad", "partial", "wraps")
    ],
    ("00.end_to_end", "numpy", lambda layers: SOLUTIONS["00.end_to_end"](layers).numpy()),
    ("00.end_to_end", "float32", lambda layers: SOLUTIONS["00.end_to_end"](layers).float()),
    (
        "04.layer_learning_rates",
        "tuple",
        lambda *a: tuple(SOLUTIONS["04.layer_learning_rates"](*a)),
    ),
    ("06.compressed_block", "nn.Linear subclass", _as_block(OwnLinear)),
    ("06.compressed_block", "nn.Sequential subclass", _as_block(nn.Linear, OwnSequential)),
    (
        "06.compressed_block",
        "nn.ModuleList",
        _as_block(nn.Linear, lambda *layers: nn.ModuleList(layers)),
    ),
]
REJECTED = [
    *[(key, f"wrong {index}", wrong) for key, wrongs in sorted(WRONG.items())
      for index, (wrong, _) in enumerate(wrongs)],
    *[(key, "stub", lambda *a: (_ for _ in ()).throw(NotImplementedError)) for key in REGISTRY],
    ("06.compressed_block", "subclass with a parameter more", _as_block(WithScale)),
    ("06.compressed_block", "subclass with a bias", _as_block(
        lambda i, o, bias, dtype: OwnLinear(i, o, bias=True, dtype=dtype))),
]  # fmt: skip


@pytest.mark.parametrize(
    ("exercise_id", "variant", "function"),
    ACCEPTED,
    ids=[f"{key}-{variant}" for key, variant, _ in ACCEPTED],
)
def test_the_grader_accepts_what_check_accepts(exercise_id, variant, function):
    assert check_verdict(exercise_id, function), variant
    item = grader_verdict(exercise_id, function)
    assert item["passed"] and item["message"].startswith("passed"), item


@pytest.mark.parametrize(
    ("exercise_id", "variant", "function"),
    REJECTED,
    ids=[f"{key}-{variant}" for key, variant, _ in REJECTED],
)
def test_the_grader_rejects_what_check_rejects(exercise_id, variant, function):
    assert not check_verdict(exercise_id, function), variant
    item = grader_verdict(exercise_id, function)
    assert not item["passed"] and item["score"] == 0.0, item


def test_every_exercise_has_an_accepted_and_a_rejected_variant():
    assert {key for key, _, _ in ACCEPTED} == set(REGISTRY)
    assert {key for key, _, _ in REJECTED} == set(REGISTRY)


# ---------------------------------------------------------------------------------------------
# The grader's cell on decorated answers (the kernel stood in for)
# ---------------------------------------------------------------------------------------------

DECORATED = {
    # torch's own decorator: a wrapper in torch's code around the cell's function
    "no_grad": ("00.end_to_end", "end_to_end", "@torch.no_grad()\n" + answers.END_TO_END),
    # a C wrapper that caches (the arguments are ints, so they can be hashed)
    "lru_cache": (
        "04.compressed_param_count",
        "compressed_param_count",
        "@functools.lru_cache\n" + answers.PARAM_COUNT,
    ),
    # a decorator of the student's own, written with functools.wraps
    "wraps": (
        "04.layer_learning_rates",
        "layer_learning_rates",
        "def logged(f):\n    @functools.wraps(f)\n    def inner(*a):\n        return f(*a)\n"
        "    return inner\n@logged\n" + answers.RATES,
    ),
    # an answer made with functools.partial
    "partial": (
        "04.spectral_init",
        "spectral_init",
        answers.SPECTRAL_INIT.replace("def spectral_init(", "def init_with(scale, ").replace(
            "eps * ", "scale * eps * "
        )
        + "spectral_init = functools.partial(init_with, 1.0)\n",
    ),
    # check("00.end_to_end", lambda L: end_to_end(L)): the grader gets the lambda's text
    "lambda": ("00.end_to_end", "lambda L: end_to_end(L)", answers.END_TO_END),
}


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A stand-in kernel: a namespace, and a folder whose files count as the notebook's cells."""
    cell_dir = tmp_path / "ipykernel_4242"
    cell_dir.mkdir()
    namespace = {"torch": torch, "functools": functools, "__name__": "__main__"}
    monkeypatch.setattr(kernel_side, "_user_namespace", lambda: namespace)
    monkeypatch.setattr(kernel_side, "_cell_directory", lambda: str(cell_dir))

    def run(source: str, filename: str | None = None):
        path = filename or str(cell_dir / f"cell{len(namespace)}.py")
        exec(compile(source, path, "exec"), namespace)

    def collect(exercise_id: str, name: str) -> dict:
        records = json.loads(kernel_side.collect("nonce", [[exercise_id, name]], 5.0))
        return score_exercise(exercise_id, records["exercises"][exercise_id], records["flags"])

    return run, collect


@pytest.mark.parametrize("kind", sorted(DECORATED))
def test_a_decorated_answer_is_graded_as_the_function_inside(kind, kernel):
    run, collect = kernel
    exercise_id, name, source = DECORATED[kind]
    run(source)
    item = collect(exercise_id, name)
    assert item["passed"] and item["message"].startswith("passed"), item


def test_a_cell_run_under_percent_percent_time_is_a_cell(kernel):
    run, collect = kernel
    run(answers.END_TO_END, filename="<timed exec>")  # where IPython's %%time compiles the cell
    assert collect("00.end_to_end", "end_to_end")["passed"]


def test_a_library_wrapper_around_a_cell_function_is_looked_through(kernel, tmp_path):
    run, collect = kernel
    run(
        "def traced(f):\n    @functools.wraps(f)\n    def inner(*a):\n        return f(*a)\n"
        "    return inner\n",
        filename=str(tmp_path / "site-packages" / "tracing.py"),
    )
    run(answers.END_TO_END + "end_to_end = traced(end_to_end)\n")
    assert collect("00.end_to_end", "end_to_end")["passed"]


COURSE_BEHIND_A_WRAPPER = {
    "partial": "spectral_init = functools.partial(networks.spectral_init)",
    "no_grad": "spectral_init = torch.no_grad()(networks.spectral_init)",
    "lru_cache": "spectral_init = functools.lru_cache(networks.spectral_init)",
    # a wrapper that lies: it says it wraps a function of the cell, and claims the cell's module
    "lying lru_cache": (
        "def decoy(surrogate, r_hat, depth, eps):\n    return []\n"
        "spectral_init = functools.lru_cache(networks.spectral_init)\n"
        "spectral_init.__wrapped__ = decoy\nspectral_init.__module__ = '__main__'"
    ),
    "lambda": None,  # check("04.spectral_init", lambda *a: networks.spectral_init(*a))
    "exec'd": "exec('def spectral_init(*a):\\n    return networks.spectral_init(*a)')",
}


@pytest.mark.parametrize("kind", sorted(COURSE_BEHIND_A_WRAPPER))
def test_the_course_behind_a_wrapper_is_still_flagged(kind, kernel):
    run, collect = kernel
    run("from lowdim_course import networks")
    source = COURSE_BEHIND_A_WRAPPER[kind]
    if source is None:
        item = collect("04.spectral_init", "lambda *a: networks.spectral_init(*a)")
    else:
        run(source)
        item = collect("04.spectral_init", "spectral_init")
    assert not item["passed"] and item["message"].startswith("flagged"), item


# A right answer compiled from a string (as if read from the course's solutions), made to look
# like a cell's function by a wrapper that names a decoy defined in a cell.
EXECD = (
    "source = " + repr(answers.SPECTRAL_INIT) + "\nexec(source)\n"
    "def decoy(surrogate, r_hat, depth, eps):\n    return []\n"
)
OUTSIDE_BEHIND_A_LIE = {
    "wraps": "spectral_init = functools.wraps(decoy)(spectral_init)",
    "__wrapped__": "spectral_init.__wrapped__ = decoy",
    "partial subclass": (
        "class Partial(functools.partial):\n    func = property(lambda self: decoy)\n"
        "spectral_init = Partial(spectral_init)"
    ),
    "no lie": "pass",
}


@pytest.mark.parametrize("kind", sorted(OUTSIDE_BEHIND_A_LIE))
def test_code_from_outside_the_cells_is_flagged_behind_a_lying_wrapper(kind, kernel):
    run, collect = kernel
    run(EXECD + OUTSIDE_BEHIND_A_LIE[kind])
    item = collect("04.spectral_init", "spectral_init")
    assert not item["passed"] and "not defined in one of this notebook's cells" in item["message"]
