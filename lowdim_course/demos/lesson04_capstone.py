"""Lesson 04's capstone: the student's ``compressed_gd_step`` drives the compressed network.

``step_race_figure`` runs the student's step (capstone ``04.compressed_gd_step``) through
``exercises.capstone.run_student_code`` from the core's spectral initialization, at a discrepant
rate ``alpha > 1`` on the first and last layers (Kwon et al. 2024, Sec. 3.2), and draws its
recovery error next to the course's original and compressed networks, with the relative gap
between the student's curve and the course's compressed network at the same alpha. At
``alpha = 1`` every split of the rate among the layers is the same step; at ``alpha > 1`` a wrong
split (alpha on one end only, on every layer, on the middle layers) is another algorithm, and
the gap panel and the iterations to 1e-4 show it.
"""

from __future__ import annotations

import functools
import math

import torch

from ..comparison import REPORTED_ERROR
from ..exercises.capstone import run_student_code
from ..networks import DeepLinearNetwork, compressed_network, spectral_init
from ..plots import STYLE, demo_figure, show_figure
from ..problems import course_learning_rate, make_problem
from ..threads import small_work
from ..training import train

# Capstone 04: the student's step reproduces the course's compressed network when every
# recovery error agrees to this relative gap (the two differ by rounding only, about 1e-13).
STEP_AGREEMENT = 1e-6
# A run whose recovery error passes this (relative to ||M*||) has diverged: stop it there.
DIVERGED = 1e6


def _iterations_to(errors, level=REPORTED_ERROR):
    return next((t for t, e in enumerate(errors) if e < level), None)


@small_work()
def _student_compressed_run(step, problem, r_hat, depth, eps, eta, alpha, steps) -> list[float]:
    """Recovery errors of the compressed network driven by the student's ``step``.

    Starts from the core's spectral initialization of ``problem.surrogate()``; every iteration
    calls ``step(layers, target, eta, alpha)`` on the summed loss ``1/2 ||W_{L:1} - M*||_F^2``.
    Stops early (a shorter list) when the error stops being finite or passes ``DIVERGED``.
    """
    target = problem.target
    norm = float(torch.linalg.matrix_norm(target))
    layers = spectral_init(problem.surrogate(), r_hat, depth, eps)
    errors = []
    for t in range(steps + 1):
        product = DeepLinearNetwork(layers).end_to_end()
        error = float(torch.linalg.matrix_norm(product - target)) / norm
        if not math.isfinite(error) or error > DIVERGED:
            break
        errors.append(error)
        if t < steps:
            new = step(layers, target, eta, alpha)
            layers = [torch.as_tensor(w, dtype=target.dtype) for w in new]
    return errors


@functools.lru_cache(maxsize=4)
def _course_compressed(d, r, r_hat, depth, eps, alpha, steps) -> list[float]:
    """The course's compressed network (``train`` with ``alpha`` on the end layers)."""
    problem = make_problem("mf", d=d, r=r, seed=0)
    network = compressed_network(problem.surrogate(), r_hat, depth, eps)
    history = train(problem, network, lr=course_learning_rate(d), alpha=alpha, steps=steps)
    return list(history.recovery_error)


def _gaps(student, course) -> tuple[list[float], float]:
    """Relative gaps at each iteration the student ran, and the largest (inf if it stopped)."""
    gaps = [abs(a - b) / b for a, b in zip(student, course, strict=False)]
    largest = math.inf if len(student) < len(course) else max(gaps)
    return gaps, largest


def step_race_figure(compressed_gd_step, result, r_hat, depth, eps, steps, d, r, alpha) -> dict:
    """Capstone 04's figure: ``result`` (the course's race at alpha = 1) with the course's
    compressed network at ``alpha`` and the student's. See ``lesson04.step_race``."""
    problem = make_problem("mf", d=d, r=r, seed=0)
    eta = course_learning_rate(d) / d**2
    student = run_student_code(
        lambda: _student_compressed_run(
            compressed_gd_step, problem, r_hat, depth, eps, eta, alpha, steps
        ),
        name="compressed_gd_step",
    )
    curves = {
        "original": result.original.recovery_error,
        "compressed": result.compressed.recovery_error,
        "alpha": _course_compressed(d, r, r_hat, depth, eps, alpha, steps),
    }
    figure, axes = demo_figure(2, 11, 3.8)
    ax = axes[0]
    ax.semilogy(curves["original"], **STYLE["original"])
    ax.semilogy(curves["compressed"], color="0.5", ls=":", label=r"course: compressed, $\alpha=1$")
    ax.semilogy(curves["alpha"], lw=3, alpha=0.5, color=STYLE["compressed"]["color"],
                label=rf"course: compressed, $\alpha={alpha:g}$")  # fmt: skip
    gaps, largest = [], None
    if student.ok:
        ax.semilogy(student.value, "k--", lw=1, label=rf"yours: your step, $\alpha={alpha:g}$")
        gaps, largest = _gaps(student.value, curves["alpha"])
    ax.axhline(REPORTED_ERROR, color="0.6", lw=0.6)
    ax.set(xlabel="iteration", ylabel=r"$\|W_{L:1} - M^*\|_F / \|M^*\|_F$")
    ax.set_title(f"factorization d={d}, r={r}: r_hat={r_hat}, L={depth}, eps={eps:g}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    right = axes[1]
    if gaps:
        right.semilogy([max(g, 1e-17) for g in gaps], "k-", lw=1)
    right.axhline(STEP_AGREEMENT, color="0.6", lw=0.6, ls="--", label="agreement level")
    right.set(xlabel="iteration", ylabel="relative gap", ylim=(1e-17, 10), xlim=(0, steps),
              title=rf"yours against the course's compressed, $\alpha={alpha:g}$")  # fmt: skip
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8)
    show_figure(figure)

    reached = {name: _iterations_to(errors) for name, errors in curves.items()}
    if student.ok:
        reached["yours"] = _iterations_to(student.value)
    print(f"eta = {course_learning_rate(d):.4g} / d^2 = {eta:.4g} on 1/2 ||W - M*||^2, "
          f"{steps:,} steps; your step runs with alpha = {alpha:g}")  # fmt: skip
    labels = (("original", "course, original, alpha = 1"),
              ("compressed", "course, compressed, alpha = 1"),
              ("alpha", f"course, compressed, alpha = {alpha:g}"),
              ("yours", f"yours, compressed, alpha = {alpha:g}"))  # fmt: skip
    for name, label in labels:
        if name in reached:
            value = reached[name]
            shown = "not reached" if value is None else f"{value:,}"
            print(f"{label:>33}: iterations to 1e-4: {shown}")
    agree, first_gap = None, None
    if student.ok:
        course = curves["alpha"]
        first_gap = next((t for t, gap in enumerate(gaps) if gap > STEP_AGREEMENT), None)
        agree = largest <= STEP_AGREEMENT
        if agree:
            print(f"yours is the course's compressed network at alpha = {alpha:g} at every one "
                  f"of the {len(gaps):,} iterations (to {STEP_AGREEMENT:g})")  # fmt: skip
        elif len(student.value) < len(course):
            print(f"your run diverged at iteration {len(student.value)} (largest relative gap: "
                  "inf)")  # fmt: skip
        else:
            t = first_gap
            print(f"yours differs from the course's compressed network at alpha = {alpha:g} "
                  f"from iteration {t} on (error {student.value[t]:.7g} against "
                  f"{course[t]:.7g}); largest relative gap {largest:.2g}")  # fmt: skip
    return {
        "alpha": alpha,
        "eta": eta,
        "iterations_to_1e-4": reached,
        "student": student.value,
        "message": student.message,
        "agree": agree,
        "first_difference": first_gap,
        "largest_gap": largest,
    }
