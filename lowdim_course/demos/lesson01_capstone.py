"""Lesson 01's capstone figure: the student's gradient step, at the step size the student chose.

The student writes ``two_layer_gd_step(W1, W2, M, eta)`` (capstone ``01.two_layer_gd_step``)
and decides the step ``eta`` for a strong mode, ``s = 10``: the largest step at which gradient
descent stays within 5% of s of the closed form of Saxe et al. (2014), so that the closed form
describes the training (Section 3's table: the gap grows about in proportion to ``eta s``).
:func:`gd_step_demo` runs the student's step at that eta from the aligned init, draws it over
the course's gradient descent and the closed form with a band of 5% of s around the latter, and
prints two verdicts: whether the student's step is gradient descent (its gap to the course's run)
and whether the chosen eta keeps the course's run inside the band while twice that step would
leave it (so the choice is within a factor 2 of the largest allowed step).
"""

from __future__ import annotations

import math

import torch

from ..exercises.capstone import run_student_code
from ..plots import demo_figure, show_figure
from ..theory.two_layer import (
    half_way_time,
    mode_strengths,
    saxe_trajectory,
    simulate_two_layer,
    two_layer_start,
)
from ..threads import small_work
from ..validation import check_float

MAX_STEPS = 4000
MIN_STEPS = 50
AGREEMENT = 1e-9  # a correct step's largest gap to the course's run, as a fraction of s
DEFAULT_STEP = 1e-2  # the figure's step when the student's choice cannot be used
TOLERANCE = 0.05  # the band around the closed form, as a fraction of s


def run_length(singular_values, m0, eta, factor=1.5, max_steps=MAX_STEPS) -> int:
    """Steps to simulate: ``factor`` times the slowest mode's half-way time plus one learning
    time ``tau/s`` (so the last mode is seen to saturate), at most ``max_steps``."""
    slowest = min(singular_values)
    steps = factor * half_way_time(slowest, m0, eta) + 1.0 / (slowest * eta)
    return int(min(max_steps, max(MIN_STEPS, math.ceil(steps))))


def _student_strengths(two_layer_gd_step, start, eta, steps):
    """Mode strength ``u_1^T W_2 W_1 v_1`` after 0..steps of the student's step."""
    w1, w2 = (layer.clone() for layer in start.layers)
    strengths = []
    for step in range(steps + 1):
        strengths.append(float(mode_strengths(w2 @ w1, start)[0]))
        if step == steps:
            break
        result = two_layer_gd_step(w1, w2, start.target.clone(), eta)
        if not isinstance(result, tuple | list) or len(result) != 2:
            raise ValueError(f"returned {type(result).__name__}, expected (W1_next, W2_next)")
        w1, w2 = (torch.as_tensor(x).detach().to(torch.float64) for x in result)
    return torch.tensor(strengths, dtype=torch.float64)


def _gap_to_theory(s, m0, eta) -> float:
    """The course's largest ``|GD - closed form| / s`` at step eta, run until the mode saturates."""
    steps = run_length([s], m0, eta, max_steps=10**6)
    run = simulate_two_layer([s], m0, eta, steps, d=4, seed=0)
    theory = saxe_trajectory(run.iterations.to(torch.float64), s, m0, eta)
    return float((run.strengths[:, 0].cpu() - theory).abs().max()) / s


def _chosen_step(chosen_step, s) -> tuple[float, str | None]:
    """The student's eta, or the default and a one-line reason when it cannot be used."""
    if chosen_step is None:
        return DEFAULT_STEP, "no step chosen"
    run = run_student_code(chosen_step, name="chosen_step")
    if not run.ok:
        return DEFAULT_STEP, "see the line above"
    try:
        eta = float(run.value)
    except (TypeError, ValueError):
        return DEFAULT_STEP, f"your chosen_step returned {type(run.value).__name__}, not a number"
    if not 0.0 < eta < 1.0 / s:
        return DEFAULT_STEP, (
            f"your chosen_step returned {eta:g}; a step must lie in (0, 1/s) = (0, {1 / s:g}): "
            "beyond 1/s gradient descent on this mode is unstable (Lesson 04's step check)"
        )
    return eta, None


@small_work()
def gd_step_demo(two_layer_gd_step, chosen_step=None, s: float = 10.0, m0: float = 1e-3):
    """The student's step, at the student's chosen eta, over the course's run and closed form.

    One mode of target s (d = 4, seed 0, aligned init, as :func:`saxe_demo`): the student's
    ``two_layer_gd_step`` is applied from ``theory.two_layer_start`` and the mode strength
    ``m(t)`` is drawn over the course's gradient descent (``simulate_two_layer``, same matrices)
    and the closed form, with a band of ``TOLERANCE`` s around it. ``chosen_step()`` returns the
    student's eta (without one, or with an unusable one, the figure uses 1e-2 and says why).
    Prints the step's agreement with the course's run and the verdict on the chosen eta.
    """
    s = check_float("s", s, low=0.0, low_open=True)
    m0 = check_float("m0", m0, low=0.0, high=s, low_open=True, high_open=True)
    eta, why_default = _chosen_step(chosen_step, s)
    if why_default:
        print(f"step: {why_default}; the figure uses eta = {eta:g}")
    steps = run_length([s], m0, eta)
    start = two_layer_start([s], m0, d=4, seed=0)
    course = simulate_two_layer([s], m0, eta, steps, d=4, seed=0).strengths[:, 0].cpu()
    times = torch.arange(steps + 1, dtype=torch.float64)
    theory = saxe_trajectory(times, s, m0, eta)
    run = run_student_code(
        lambda: _student_strengths(two_layer_gd_step, start, eta, steps), name="two_layer_gd_step"
    )

    figure, (axes,) = demo_figure(1, 7, 3.6, title=False)
    axes.fill_between(
        times, theory - TOLERANCE * s, theory + TOLERANCE * s, color="0.85",
        label=f"closed form +- {100 * TOLERANCE:g}% of s",
    )  # fmt: skip
    axes.plot(times, course, color="tab:blue", lw=4, alpha=0.35, label="course's gradient descent")
    axes.plot(times, theory, "k--", lw=1.0, label="closed form $m(t)$")
    if run.ok:
        axes.plot(times, run.value, color="tab:red", lw=1.2, label="your two_layer_gd_step")
    axes.axhline(s, color="gray", lw=0.8, ls=":")
    axes.set_xlabel("gradient step t")
    axes.set_ylabel("mode strength m")
    axes.set_title(f"aligned init: s={s:.3g}, m0={m0:.3g}, eta={eta:.3g}")
    axes.legend(loc="lower right", fontsize=8)
    show_figure(figure)

    gap = _gap_to_theory(s, m0, eta)
    gap_double = _gap_to_theory(s, m0, 2 * eta) if 2 * eta < 1.0 / s else math.inf
    summary = {
        "eta": eta,
        "steps": steps,
        "course_gap_to_theory": gap,
        "double_step_gap_to_theory": gap_double,
        "within": gap <= TOLERANCE,
        "largest_within_factor_two": gap <= TOLERANCE < gap_double,
        "student_ran": run.ok,
    }
    print(
        f"eta = {eta:g}, {steps} steps; half-way step: closed form "
        f"{half_way_time(s, m0, eta):.1f}, course's gradient descent {_first_half(course, s)}"
    )
    if not summary["within"]:
        verdict = (
            "outside the band: the closed form does not describe this run; take a smaller step"
        )
    elif summary["largest_within_factor_two"]:
        verdict = "inside the band, and a step twice as large would leave it: a good choice"
    else:
        verdict = (
            "inside the band, but a step twice as large would stay inside too "
            f"({100 * gap_double:.2f}%): a larger step learns the mode in fewer steps"
        )
    print(f"gradient descent vs closed form: largest gap {100 * gap:.2f}% of s; {verdict}")
    if run.ok:
        student_gap = float((run.value - course).abs().max())
        summary.update(
            student_gap=student_gap,
            student_half=_first_half(run.value, s),
            agrees=student_gap <= AGREEMENT * s,
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
                f"your step vs the course's gradient descent: largest gap {student_gap:.3g} "
                f"({when}): they differ"
            )
    return summary


def _first_half(strengths, s):
    reached = torch.nonzero(strengths >= s / 2)
    return int(reached[0, 0]) if reached.numel() else None
