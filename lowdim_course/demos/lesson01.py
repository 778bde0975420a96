"""Lesson 01 demos: the two-layer closed form of Saxe et al. (2014) against gradient descent.

* :func:`saxe_demo`: one mode of strength s, from an aligned or a random init; gradient descent
  (``theory.simulate_two_layer``) and the closed form ``u(t)`` (``theory.saxe_trajectory``).
* :func:`stages_demo` (:func:`stage_like_learning`): four modes at once, the stage-like loss
  curve and the half-way times.
* :func:`semantic_overview` and :func:`semantic_demo` (in ``lesson01_semantic``): the
  hierarchical items x features data set of Saxe, McClelland & Ganguli (2019)
  (``lowdim_course.semantic``), its modes and the order in which a linear network learns them,
  over five random inits.
* :func:`gd_step_demo`: the student's own gradient step (capstone ``01.two_layer_gd_step``)
  run from Section 3's aligned init, drawn over the course's gradient descent and the closed
  form.

Time is counted in gradient steps, with ``tau = 1/lr`` (the course's convention).
"""

from __future__ import annotations

import math

import torch

from ..exercises.capstone import run_student_code
from ..plots import demo_figure, show_figure
from ..theory.two_layer import (
    half_way_time,
    learning_time,
    mode_strengths,
    saxe_trajectory,
    simulate_two_layer,
    two_layer_start,
)
from ..threads import small_work
from .lesson01_semantic import SEMANTIC_MAX_STEPS, semantic_demo, semantic_overview, semantic_runs

__all__ = [  # what the lesson and its tests import from here
    "MAX_STEPS",
    "SEMANTIC_MAX_STEPS",
    "gd_step_demo",
    "run_length",
    "saxe_demo",
    "semantic_demo",
    "semantic_overview",
    "semantic_runs",
    "stage_like_learning",
    "stages_demo",
]

STAGE_SINGULAR_VALUES = (5.0, 3.0, 1.5, 0.75)
MAX_STEPS = 4000
MIN_STEPS = 50


def run_length(singular_values, u0, lr, factor=1.5, max_steps=MAX_STEPS) -> int:
    """Steps to simulate: ``factor`` times the slowest mode's half-way time plus one learning
    time ``tau/s`` (so the last mode is seen to saturate), at most ``max_steps``."""
    slowest = min(singular_values)
    steps = factor * half_way_time(slowest, u0, lr) + 1.0 / (slowest * lr)
    return int(min(max_steps, max(MIN_STEPS, math.ceil(steps))))


@small_work()
def saxe_demo(s: float = 3.0, u0: float = 1e-3, lr: float = 1e-2, init: str = "aligned"):
    """One mode: gradient descent on a 4 x 4 two-layer network vs the closed form u(t).

    The target is ``M = s u_1 v_1^T`` (rank one, d = 4). ``init='aligned'`` starts the network
    at ``W_2 W_1 = u0 U V^T``, the setting of the closed form; ``init='random'`` starts each
    layer at ``sqrt(u0)`` times a random orthogonal matrix, so the mode starts at a random
    fraction of u0 (possibly negative) and the closed form is only a guide.
    Prints and returns the half-way times (theory, GD), the largest gap between the curves and
    the final strength.
    """
    steps = run_length([s], u0, lr)
    run = simulate_two_layer([s], u0, lr, steps, init=init, d=4, seed=0)
    times = run.iterations.to(torch.float64)
    simulated = run.strengths[:, 0].cpu()
    theory = saxe_trajectory(times, s, u0, lr)
    t_half = half_way_time(s, u0, lr)
    reached = torch.nonzero(simulated >= s / 2)
    gd_half = int(reached[0, 0]) if reached.numel() else None
    gap = float((simulated - theory).abs().max())

    figure, (axes,) = demo_figure(1, 7, 3.6, title=False)
    axes.plot(
        times, simulated, color="tab:blue", lw=2.5, alpha=0.6, label=f"gradient descent ({init})"
    )
    axes.plot(times, theory, "k--", lw=1.2, label="closed form $u(t)$")
    axes.axhline(s, color="gray", lw=0.8, ls=":")
    axes.axvline(t_half, color="tab:red", lw=0.8, ls=":", label=r"$t_{1/2}$ (theory)")
    axes.set_xlabel("gradient step t")
    axes.set_ylabel("mode strength u")
    axes.set_title(f"s={s:.3g}, u0={u0:.3g}, lr={lr:.3g} (tau={1 / lr:.3g} steps)")
    axes.legend(loc="lower right")
    show_figure(figure)

    final = float(simulated[-1])
    print(f"half-way time: theory {t_half:.4g} steps, gradient descent {gd_half} steps")
    print(f"largest |GD - closed form| over {steps} steps: {gap:.3g} (s = {s:.3g})")
    print(f"strength after {steps} steps: {final:.3g}")
    if steps == MAX_STEPS and final < 0.9 * s:
        print(f"(stopped at {MAX_STEPS} steps: raise lr or u0 to see the end)")
    return {"steps": steps, "t_half": t_half, "gd_half": gd_half, "max_gap": gap, "final": final}


@small_work()
def stages_demo(u0: float = 1e-4, lr: float = 1e-2):
    """The slider panel's callback: :func:`stage_like_learning` on s = (5, 3, 1.5, 0.75).

    (A panel turns every argument with a default into a slider, so the fixed settings live in
    :func:`stage_like_learning`.)
    """
    return stage_like_learning(u0, lr)


@small_work()
def stage_like_learning(
    u0: float = 1e-4,
    lr: float = 1e-2,
    singular_values=STAGE_SINGULAR_VALUES,
    max_steps: int = MAX_STEPS,
):
    """Several modes at once: stage-like learning and the half-way time of each mode.

    Gradient descent from the aligned init on ``M = U diag(singular_values) V^T``. Left: every
    mode strength (GD, solid) with its closed form (dashed). Right: the loss
    ``1/2 ||W_2 W_1 - M||_F^2 = 1/2 sum_i (s_i - u_i)^2`` (exact for the aligned init, whose
    off-diagonal part stays zero) on a log scale, a staircase of plateaus. Prints a table of
    half-way times (theory and GD) and learning times; returns them with the largest gap.
    At most ``max_steps`` steps are run (a mode not half learned by then shows ``None``).
    """
    s = [float(value) for value in singular_values]
    steps = run_length(s, u0, lr, max_steps=max_steps)
    run = simulate_two_layer(s, u0, lr, steps, init="aligned", seed=0)
    times = run.iterations.to(torch.float64)
    strengths = run.strengths.cpu()
    target = torch.tensor(s, dtype=torch.float64)
    loss = 0.5 * ((target - strengths) ** 2).sum(1)

    figure, (left, right) = demo_figure(2, 11, 3.6, title=False)
    rows, gap = [], 0.0
    for i, value in enumerate(s):
        color = f"C{i}"
        theory = saxe_trajectory(times, value, u0, lr)
        gap = max(gap, float((strengths[:, i] - theory).abs().max()))
        left.plot(times, strengths[:, i], color=color, lw=2.5, alpha=0.6, label=f"s={value:.3g}")
        left.plot(times, theory, "k--", lw=1)
        reached = torch.nonzero(strengths[:, i] >= value / 2)
        gd_half = int(reached[0, 0]) if reached.numel() else None
        rows.append(
            {
                "s": value,
                "t_half": half_way_time(value, u0, lr),
                "gd_half": gd_half,
                "learning_time": learning_time(value, u0, lr),
            }
        )
        right.axvline(rows[-1]["t_half"], color=color, lw=0.8, ls=":")
    left.set_xlabel("gradient step t")
    left.set_ylabel("mode strength $u_i$")
    left.set_title("modes: GD (solid), closed form (dashed)")
    left.legend()
    right.semilogy(times, loss, color="tab:gray")
    right.set_xlabel("gradient step t")
    right.set_ylabel(r"loss $\frac{1}{2}\|W_2W_1 - M\|_F^2$")
    right.set_title("plateaus between stages (dotted: $t_{1/2}$)")
    show_figure(figure)

    print(f"u0={u0:.3g}, lr={lr:.3g}, {steps} steps; largest |GD - closed form|: {gap:.3g}")
    print("     s   t_half theory   t_half GD   learning time (tau/s) ln(s/u0)")
    for row in rows:
        print(
            f"{row['s']:>6.3g}   {row['t_half']:>13.4g}   {row['gd_half']!s:>9}"
            f"   {row['learning_time']:>10.4g}"
        )
    return {"steps": steps, "max_gap": gap, "modes": rows}


# ---------------------------------------------------------------------------------------------
# Capstone: the student's gradient step
# ---------------------------------------------------------------------------------------------

AGREEMENT = 1e-9


def _student_strengths(two_layer_gd_step, start, lr, steps):
    """Mode strength ``u_1^T W_2 W_1 v_1`` after 0..steps of the student's step."""
    w1, w2 = (layer.clone() for layer in start.layers)
    strengths = []
    for step in range(steps + 1):
        strengths.append(float(mode_strengths(w2 @ w1, start)[0]))
        if step == steps:
            break
        result = two_layer_gd_step(w1, w2, start.target.clone(), lr)
        if not isinstance(result, tuple | list) or len(result) != 2:
            raise ValueError(f"returned {type(result).__name__}, expected (W1_next, W2_next)")
        w1, w2 = (torch.as_tensor(x).detach().to(torch.float64) for x in result)
    return torch.tensor(strengths, dtype=torch.float64)


@small_work()
def gd_step_demo(two_layer_gd_step, s: float = 3.0, u0: float = 1e-3, lr: float = 1e-2):
    """The student's step from Section 3's aligned init, over the course's run and closed form.

    One mode of strength s (d = 4, seed 0, the setting of :func:`saxe_demo`): the student's
    ``two_layer_gd_step`` is applied ``steps`` times from ``theory.two_layer_start`` and the
    mode strength ``u(t)`` is drawn over the course's gradient descent (``simulate_two_layer``,
    from the same matrices) and the closed form ``saxe_trajectory``. A failing step prints one
    line and the course's curves are drawn alone. Prints the largest gaps and the half-way steps.
    """
    steps = run_length([s], u0, lr)
    start = two_layer_start([s], u0, d=4, seed=0)
    course = simulate_two_layer([s], u0, lr, steps, d=4, seed=0).strengths[:, 0].cpu()
    times = torch.arange(steps + 1, dtype=torch.float64)
    theory = saxe_trajectory(times, s, u0, lr)
    run = run_student_code(
        lambda: _student_strengths(two_layer_gd_step, start, lr, steps), name="two_layer_gd_step"
    )

    figure, (axes,) = demo_figure(1, 7, 3.6, title=False)
    axes.plot(times, course, color="tab:blue", lw=4, alpha=0.35, label="course's gradient descent")
    axes.plot(times, theory, "k--", lw=1.0, label="closed form $u(t)$")
    if run.ok:
        axes.plot(times, run.value, color="tab:red", lw=1.2, label="your two_layer_gd_step")
    axes.axhline(s, color="gray", lw=0.8, ls=":")
    axes.set_xlabel("gradient step t")
    axes.set_ylabel("mode strength u")
    axes.set_title(f"aligned init: s={s:.3g}, u0={u0:.3g}, lr={lr:.3g}")
    axes.legend(loc="lower right")
    show_figure(figure)

    course_half = _first_half(course, s)
    summary = {
        "steps": steps,
        "course_gap_to_theory": float((course - theory).abs().max()),
        "course_half": course_half,
        "student_ran": run.ok,
    }
    print(
        f"{steps} steps; half-way step: closed form {half_way_time(s, u0, lr):.1f}, "
        f"course's gradient descent {course_half}"
    )
    print(
        f"course's gradient descent vs closed form: largest gap "
        f"{summary['course_gap_to_theory']:.3g} (the O(lr) error of discrete steps)"
    )
    if run.ok:
        gap = float((run.value - course).abs().max())
        summary.update(
            student_gap=gap, student_half=_first_half(run.value, s), agrees=gap <= AGREEMENT * s
        )
        if summary["agrees"]:
            print(
                f"your step vs the course's gradient descent: largest gap below "
                f"{AGREEMENT:g} x s: they agree, step for step"
            )
        else:
            half = summary["student_half"]
            when = f"half-way step {half}" if half is not None else "never half learned"
            print(
                f"your step vs the course's gradient descent: largest gap {gap:.3g} "
                f"({when}): they differ"
            )
    return summary


def _first_half(strengths, s):
    reached = torch.nonzero(strengths >= s / 2)
    return int(reached[0, 0]) if reached.numel() else None
