"""What a lesson prints does not hang on rounding: another thread count, another processor.

Two processors (or one with another thread count) add the same products in another order, so
their results differ in the last bits. A number a lesson prints must not follow them, or the
saved notebook (which nbval compares) says one thing and a student's run another. For every
lesson, the functions whose printout the saved notebook shows (cells without
``# NBVAL_IGNORE_OUTPUT``) run three times, from cleared caches, and must print the same text:

* **one thread**: torch at one thread (the policy never asks for more than torch's setting);
* **two threads**: torch at two threads, as on a quiet two-core machine. The course's policy
  (``threads.py``) then picks two threads for large products (``threads_for``) and the
  ``ThreadTuner`` of a long loop uses them from its first step (patched: it would watch the
  load first); loops of small products still take one thread (``small_work``), which is the
  policy's own cure. Code that escapes the policy runs with two threads here;
* **another processor**: one thread under ``rounding.RoundingPerturbation()``, which multiplies
  every matrix product, reduction and decomposition by ``1 + 1e-12 u`` (u uniform in [-1, 1]),
  the size of the differences between BLAS code paths after a training run. The mode must see
  the computation (``count > 0``), or the test compares nothing. It is harsher than a real
  processor (1e-16 per product): a check that a quantity is zero up to rounding must use a
  threshold far above 1e-12 (lessons 03 and 10 use 1e-4 rad and 1e-9).

The quick tier runs the functions at reduced sizes, steps or seeds (the lesson's regime, less
of it); the functions that take no such argument, or stay slow, run in the slow tier with the
lesson's own arguments. Capstone demos get the exercise's reference answer (the solution's
printout, which holds the lesson's). A few cells print straight from the core; they run from
the lesson notebook's own source, after its import cell.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
import torch

from lowdim_course import threads
from lowdim_course.exercises import get_exercise
from lowdim_course.rounding import RoundingPerturbation

LESSONS = Path(__file__).resolve().parents[1] / "lessons"
MODES = ("one thread", "two threads", "another processor")


@dataclass(frozen=True)
class Demo:
    """``lowdim_course.demos.<module>.<function>(**kwargs)``, the capstone's answer first."""

    lesson: str
    module: str
    function: str
    kwargs: dict = field(default_factory=dict)
    capstone: str | None = None  # exercise id: its reference answer is the first argument
    label: str = ""
    computes: bool = True  # False: no product or reduction at all (the mode must see none)

    @property
    def id(self) -> str:
        return f"{self.lesson}-{self.function}{self.label}"

    def __call__(self):
        function = getattr(
            importlib.import_module(f"lowdim_course.demos.{self.module}"), self.function
        )
        answer = () if self.capstone is None else (get_exercise(self.capstone).reference,)
        function(*answer, **self.kwargs)


@dataclass(frozen=True)
class Cell:
    """Code cells of the lesson notebook that print from the core, found by a piece of text."""

    lesson: str
    markers: tuple[str, ...]
    label: str
    computes: bool = True

    @property
    def id(self) -> str:
        return f"{self.lesson}-cell-{self.label}"

    def __call__(self):
        cells = _code_cells(self.lesson)
        namespace = {}
        (setup,) = [c for c in cells if "from lowdim_course.exercises import check" in c]
        with contextlib.redirect_stdout(io.StringIO()):  # it may print the thread count
            exec(setup, namespace)
        for marker in self.markers:
            (source,) = [c for c in cells if marker in c]
            exec(source, namespace)


def _code_cells(lesson: str) -> list[str]:
    (path,) = LESSONS.glob(f"{lesson}_*.ipynb")
    notebook = json.loads(path.read_text())
    return ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]


def _lesson02_eps():
    """The solution's choice in lesson 02's capstone (every layer's initial scale)."""
    return 0.1


SMALL_RACE = {"d": 30, "r": 3, "r_hat": 6, "steps": 800}  # lesson 04's race, reaching 1e-4

QUICK = [
    Demo("00", "lesson00", "first_look", {"depth": 3, "eps": 0.03, "steps": 550, "d": 20}),
    Demo("00", "lesson00", "step_check_table"),
    Demo("01", "lesson01", "saxe_demo", {"s": 3.0, "m0": 1e-3, "eta": 1e-2}),
    Demo("01", "lesson01", "stages_demo", {"m0": 1e-4, "eta": 3e-2}),
    Demo("01", "lesson01", "closed_form_overflow", computes=False),  # elementwise only
    Demo("01", "lesson01", "closed_form_gaps", {"singular_values": (3.0,), "etas": (1e-2,)}),
    Demo("01", "lesson01", "semantic_overview"),
    Demo("01", "lesson01", "semantic_demo", {"init_scale": 0.1, "eta": 0.15, "depth": 2}),
    Demo("01", "lesson01", "gd_step_demo", {"s": 3.0}, capstone="01.two_layer_gd_step"),
    Demo("02", "lesson02", "separation_demo", computes=False),  # the mode ODE, elementwise
    Demo("02", "lesson02", "regime_table", computes=False),  # the mode ODE, elementwise
    Demo("02", "lesson02", "lag_over_seeds", {"seeds": range(2)}),
    Demo("02", "lesson02", "incremental_demo", {"depth": 3, "eps": 0.1, "gap": 2.0}),
    Demo("02", "lesson02", "semantic_depth_demo", {"lr": 0.15, "depths": (2,)}),
    Demo("03", "lesson03", "singular_value_waterfall", {"d": 20, "r": 2, "steps": 300}),
    Demo("03", "lesson03", "moving_subspaces", {"d": 20, "r": 2, "steps": 300}),
    Demo(
        "03",
        "lesson03",
        "capstone_demo",
        {"d": 20, "r": 2, "steps": 300},
        capstone="03.measure_layer",
    ),
    Demo("04", "lesson04", "parameter_counts", {"d": 100, "r_hat": 20}, computes=False),
    Demo("04", "lesson04", "scalar_modes", SMALL_RACE),
    Demo("04", "lesson04", "compression_race", SMALL_RACE),
    Demo(
        "04",
        "lesson04",
        "race_over_seeds",
        {"regimes": ((5, 0.2, 1.0),), "seeds": (0, 1), **SMALL_RACE, "steps": 300},
    ),
    Demo("04", "lesson04", "step_race", SMALL_RACE, capstone="04.compressed_gd_step"),
    Demo("05", "lesson05", "subspace_angles", {"m": 160, "p": 0.2, "r_hat": 2}),
    Demo("07", "lesson07", "gradient_check"),
    Demo("07", "lesson07", "toy_losses"),
    Demo("07", "lesson07", "subspace_panel", {"d": 100, "width": 16, "projection": "dense"}),
    Demo("08", "lesson08", "pruning_panel", {"p": 150}),
    Demo("08", "lesson08", "risk_table", {"seeds": 20}),
    Demo("08", "lesson08", "regime_table", {"p": 300, "keeps": (10, 30, 60, 90), "seeds": 10}),
    Demo("08", "lesson08", "retraining_table", {"p": 300}),
    Demo("08", "lesson08", "kept_spectrum_table", {"samples": (100, 200), "seeds": 10}),
    Demo(
        "08",
        "lesson08",
        "retraining_capstone",
        {"steps": 10, "seeds": 2},
        capstone="08.prune_and_retrain",
    ),
    Demo("09", "lesson09", "estimators_on_known_laws"),
    Demo("09", "lesson09", "same_ratio", {"ratio": 0.08}),
    Demo("10", "lesson10", "weight_averaging_demo", {"checkpoints": 10, "lr": 0.5}),
    Demo("11", "lesson11", "measures_vs_errors", {"keep": 0.2}),
    Demo("11", "lesson11", "rank_surrogates", {"seeds": (0, 1), "keeps": (0.1, 0.2)}),
    Demo("13", "lesson13", "starting_point"),
    Demo("13", "lesson13", "trainable_table"),
    Demo("13", "lesson13", "compressed_follows_full_width", {"size": 12, "steps": 100}),
    Demo("13", "lesson13", "few_shot_panel", computes=False),  # reads the shipped table
    Demo("13", "lesson13", "three_claims", computes=False),  # reads the shipped table
    Cell("03", ("problem, history, report = subspace_run(",), "subspace_run"),
    Cell("05", ("problem.surrogate()",), "surrogate_norms"),
    Cell("09", ("kesten_tail_index",), "kesten"),
    Cell("09", ("hill_estimator(pareto",), "hill"),
    Cell("09", ("stable_samples(alpha",), "prunable"),
    Cell("10", ("orthonormal_basis(", "torch.linalg.svdvals(run"), "span_checks"),
    Cell("11", ('("I_5", torch.eye(5))',), "rank_measures"),
    Cell("11", ("Gaussian cubed",), "sparsity"),
    # MNIST-1D: read from the shipped table (its rerun is tests/test_demos_lesson06.py's)
    Demo("06", "lesson06_mnist1d", "mnist1d_comparison", computes=False),
    Demo("06", "lesson06_mnist1d", "mnist1d_timing", computes=False),
    Demo("12", "lesson12", "update_geometry_demo", {"width": 25}, computes=False),  # the table
    Demo(  # what the shipped panel table holds at width 25, trained now
        "12", "lesson12", "update_geometry_demo", {"width": 25, "stored": False}, label="-trained"
    ),
    Demo("12", "lesson12", "width_table", computes=False),  # reads the shipped table
    Cell("12", ("update_geometry.stable_rank(w)",), "update_measures"),
]

SLOW = [
    Demo("01", "lesson01", "stage_like_learning", {"m0": 1e-4, "eta": 1e-3, "max_steps": 7000}),
    Demo("01", "lesson01", "semantic_demo", {"depth": 3}, label="-depth3"),
    Demo("02", "lesson02", "semantic_depth_demo", label="-lesson"),
    Demo("02", "lesson02", "capstone_demo", {"choose_eps": _lesson02_eps}, "02.train_deep_linear"),
    Demo("04", "lesson04", "race_over_seeds", label="-lesson"),
    Demo("04", "lesson04_alpha", "discrepant_rate", {"alpha": 5.0}),
    Demo("04", "lesson04_alpha", "alpha_over_seeds"),
    Demo("05", "lesson05", "sensing_race", {"m": 320, "r_hat": 4}),
    Demo("05", "lesson05", "sensing_over_seeds", {"m": 320, "r_hat": 4}),
    Demo(
        "05",
        "lesson05",
        "sensing_race",
        {"m": 120, "r_hat": 4, "eps": 0.003, "steps": 20000},
        label="-few",
    ),
    Demo("05", "lesson05_completion", "completion_race", {"p": 0.3, "alpha": 5.0, "r_hat": 4}),
    Demo("05", "lesson05_completion", "completion_over_seeds", {"p": 0.3, "r_hat": 4}),
    Demo(
        "05",
        "lesson05_completion",
        "completion_capstone",
        {"p": 0.3, "alpha": 5.0, "r_hat": 4},
        capstone="05.train_compressed_completion",
    ),
    Demo("06", "lesson06", "why_compressible", {"r_hat": 20}),
    Demo("06", "lesson06", "three_models"),
    Demo("06", "lesson06", "claim_over_splits"),
    Demo("06", "lesson06_capstone", "your_compression", capstone="06.compress_and_train"),
    Demo("06", "lesson06", "compressed_block_demo", {"r_hat": 20, "alpha": 1.0, "depth": 3}),
    Demo(  # what the shipped panel table holds for the lesson's call, trained now
        "06",
        "lesson06",
        "compressed_block_demo",
        {"r_hat": 20, "alpha": 1.0, "depth": 3, "stored": False},
        label="-trained",
    ),
    Demo("07", "lesson07", "subspace_panel", {"d": 100, "width": 32}, label="-lesson"),
    Demo("07", "lesson07", "dint_sweep"),
    Demo("07", "lesson07", "your_subspace_training", capstone="07.train_in_subspace"),
    Demo("09", "lesson09", "tail_index", {"lr": 0.15, "batch_size": 1}),
    Demo("09", "lesson09", "stable_pruning", {"alpha": 1.5}),
    Demo("09", "lesson09", "ratio_sweep"),
    Demo("09", "lesson09", "block_estimator_capstone", capstone="09.block_tail_index"),
    Demo("10", "lesson10", "sgd_step_sweep"),
    Demo("10", "lesson10", "twa_over_seeds", {"checkpoints": 10, "lr": 0.5}),
    Demo("10", "lesson10", "your_twa", capstone="10.train_twa"),
    Demo("11", "lesson11", "erank_staircase_demo", {"depth": 3, "eps": 0.01}),
    Demo("11", "lesson11", "erank_staircase_demo", {"depth": 4, "eps": 0.1}, label="-depth4"),
    Demo("11", "lesson11", "your_rank_for_error", {"rel_error": 0.1}, capstone="11.rank_for_error"),
    Demo("11", "lesson11", "flat_tail_example", {}),  # a 500 x 500 SVD
    Demo("13", "lesson13", "compressed_follows_full_width", label="-lesson"),
    Demo("13", "lesson13_capstone", "your_deep_lora", {"rank": 4}, capstone="13.compressed_start"),
    Demo("12", "lesson12", "update_geometry_demo", computes=False),  # reads the shipped table
    Demo("12", "lesson12", "update_geometry_demo", {"stored": False}, label="-trained"),
    Demo("12", "lesson12", "regime_table"),
    Demo("12", "lesson12", "architecture_demo"),
    Demo("12", "lesson12", "restricted_demo"),
    Demo(
        "12", "lesson12", "your_settling", {"k": 2, "threshold": 0.2}, capstone="12.largest_angle"
    ),
]


def clear_caches() -> int:
    """Empty every ``functools.lru_cache`` of the course's modules; returns how many."""
    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("lowdim_course"):
            continue
        for value in list(vars(module).values()):
            if callable(value) and hasattr(value, "cache_clear"):
                value.cache_clear()
                cleared += 1
    return cleared


def _tuner_uses_every_thread(tuner) -> None:
    tuner._set(tuner.most)


@contextlib.contextmanager
def _policy_on_two_quiet_cpus():
    """Two CPUs, nobody else busy: what ``threads.py`` then decides, from the first step."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "available_cpus", lambda: 2)
        patch.setattr(threads.ThreadTuner, "before_step", _tuner_uses_every_thread)
        yield


def printed(case, mode: str) -> tuple[str, int | None]:
    """``case``'s printed text in ``mode`` (one of ``MODES``) and the perturbation's count."""
    clear_caches()
    out, count = io.StringIO(), None
    quiet = _policy_on_two_quiet_cpus() if mode == "two threads" else contextlib.nullcontext()
    with quiet, threads.cpu_threads(2 if mode == "two threads" else 1):
        with contextlib.redirect_stdout(out):
            if mode == "another processor":
                with RoundingPerturbation() as perturbation:
                    case()
                count = perturbation.count
            else:
                case()
    plt.close("all")
    return out.getvalue(), count


def _check_same_text(case) -> None:
    texts = {}
    for mode in MODES:
        texts[mode], count = printed(case, mode)
    assert texts["one thread"].strip(), f"{case.id} printed nothing"
    assert (count > 0) == case.computes, f"the perturbation saw {count} results of {case.id}"
    reference = texts["one thread"].splitlines(True)
    differences = [
        f"{mode}:\n" + "".join(difflib.unified_diff(reference, text.splitlines(True), n=0))
        for mode, text in texts.items()
        if text != texts["one thread"]
    ]
    assert not differences, f"{case.id} prints other text than with one thread, with " + (
        "\n".join(differences)
    )


@pytest.mark.parametrize("case", QUICK, ids=lambda case: case.id)
def test_printed_text_is_the_same_with_two_threads_and_another_rounding(case):
    _check_same_text(case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW, ids=lambda case: case.id)
def test_printed_text_at_the_lessons_own_settings(case):
    _check_same_text(case)


def test_the_two_thread_run_gives_large_products_two_threads():
    """The harness's premise: under it the policy really answers two, and the tuner uses two."""
    with _policy_on_two_quiet_cpus(), threads.cpu_threads(2):
        assert threads.threads_for(product_work=10**8) == 2
        assert threads.threads_for(product_work=0) == 1  # small products: the policy's one
        tuner = threads.ThreadTuner(2)
        with threads.cpu_threads(1):
            tuner.before_step()
            assert torch.get_num_threads() == 2


def test_clearing_the_caches_makes_a_demo_compute_again():
    """Without it the second and third runs would print the first run's cached result."""
    from lowdim_course.demos import lesson03

    lesson03.subspace_run(d=20, r=2, steps=50)
    assert lesson03.subspace_run.cache_info().currsize >= 1
    assert clear_caches() > 10
    assert lesson03.subspace_run.cache_info().currsize == 0
