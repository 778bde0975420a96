"""Lesson 04's capstone: the student's ``compressed_gd_step`` drives the compressed network.

``step_race_figure`` runs the student's step (capstone ``04.compressed_gd_step``) through
``exercises.capstone.run_student_code`` from the core's spectral initialization and draws its
recovery error next to the course's original and compressed networks (Kwon et al. 2024, Sec. 3).
"""

from __future__ import annotations

import torch

from ..comparison import REPORTED_ERROR
from ..exercises.capstone import run_student_code
from ..networks import DeepLinearNetwork, spectral_init
from ..plots import STYLE, demo_figure, show_figure
from ..problems import course_learning_rate, make_problem
from ..threads import small_work

# Capstone 04: the student's step reproduces the course's compressed network when every
# recovery error agrees to this relative gap (the two differ by rounding only, about 1e-13).
STEP_AGREEMENT = 1e-6


def _iterations_to(errors, level=REPORTED_ERROR):
    return next((t for t, e in enumerate(errors) if e < level), None)


@small_work()
def _student_compressed_run(step, problem, r_hat, depth, eps, lr, steps) -> list[float]:
    """Recovery errors of the compressed network driven by the student's ``step``.

    Starts from the core's spectral initialization of ``problem.surrogate()``; every iteration
    calls ``step(layers, target, lr, 1.0)`` on the summed loss ``1/2 ||W_{L:1} - M*||_F^2``.
    """
    target = problem.target
    norm = float(torch.linalg.matrix_norm(target))
    layers = spectral_init(problem.surrogate(), r_hat, depth, eps)
    errors = []
    for t in range(steps + 1):
        product = DeepLinearNetwork(layers).end_to_end()
        errors.append(float(torch.linalg.matrix_norm(product - target)) / norm)
        if t < steps:
            layers = [torch.as_tensor(w, dtype=target.dtype) for w in step(layers, target, lr, 1.0)]
    return errors


def step_race_figure(compressed_gd_step, result, r_hat, depth, eps, steps, d, r) -> dict:
    """Capstone 04's figure: ``result`` (the course's race) with the student's compressed run.

    See ``lesson04.step_race``, which runs the course's race and hands it here.
    """
    problem = make_problem("mf", d=d, r=r, seed=0)
    lr = course_learning_rate(d) / d**2
    student = run_student_code(
        lambda: _student_compressed_run(compressed_gd_step, problem, r_hat, depth, eps, lr, steps),
        name="compressed_gd_step",
    )
    curves = {
        "original": result.original.recovery_error,
        "compressed": result.compressed.recovery_error,
    }
    figure, (ax,) = demo_figure(1, 7, 3.8)
    ax.semilogy(curves["original"], **STYLE["original"])
    ax.semilogy(curves["compressed"], lw=3, alpha=0.5, color=STYLE["compressed"]["color"],
                label="course: compressed")  # fmt: skip
    if student.ok:
        ax.semilogy(student.value, "k--", lw=1, label="yours: compressed, your step")
    ax.axhline(REPORTED_ERROR, color="0.6", lw=0.6)
    ax.set(xlabel="iteration", ylabel=r"$\|W_{L:1} - M^*\|_F / \|M^*\|_F$")
    ax.set_title(f"factorization d={d}, r={r}: r_hat={r_hat}, L={depth}, eps={eps:g}", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    show_figure(figure)

    reached = {name: _iterations_to(errors) for name, errors in curves.items()}
    if student.ok:
        reached["yours"] = _iterations_to(student.value)
    print(f"lr = {course_learning_rate(d):.4g} / d^2 = {lr:.4g} on 1/2 ||W - M*||^2, alpha = 1, "
          f"{steps:,} steps")  # fmt: skip
    for name, label in (("original", "course, original"), ("compressed", "course, compressed"),
                        ("yours", "yours, compressed")):  # fmt: skip
        if name in reached:
            value = reached[name]
            shown = "not reached" if value is None else f"{value:,}"
            print(f"{label:>19}: iterations to 1e-4: {shown}")
    agree, first_gap = None, None
    if student.ok:
        course = curves["compressed"]
        gaps = [abs(a - b) / b for a, b in zip(student.value, course, strict=False)]
        first_gap = next((t for t, gap in enumerate(gaps) if gap > STEP_AGREEMENT), None)
        agree = first_gap is None and len(student.value) == len(course)
        if agree:
            print(f"your compressed network is the course's at every one of the {len(gaps):,} "
                  f"iterations (to {STEP_AGREEMENT:g})")  # fmt: skip
        else:
            t = first_gap if first_gap is not None else min(len(gaps), len(course) - 1)
            print(f"your compressed network differs from the course's from iteration {t} on "
                  f"(error {student.value[t]:.7g} against {course[t]:.7g}); largest relative "
                  f"gap {max(gaps):.2g}")  # fmt: skip
    return {
        "iterations_to_1e-4": reached,
        "student": student.value,
        "message": student.message,
        "agree": agree,
        "first_difference": first_gap,
    }
