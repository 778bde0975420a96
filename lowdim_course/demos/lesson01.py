"""Lesson 01 demos: the two-layer closed form of Saxe et al. (2014) against gradient descent.

* :func:`saxe_demo`: one mode of target s, from an aligned or a random init; gradient descent
  (``theory.simulate_two_layer``) and the closed form ``m(t)`` (``theory.saxe_trajectory``).
* :func:`closed_form_overflow`: the closed form as first written, ``s e^x / (e^x - 1 + s/m0)``,
  overflows to inf/inf = NaN; the stable form ``s / (1 + (s/m0 - 1) e^(-x))`` does not.
* :func:`closed_form_gaps`: the largest gap between gradient descent and the closed form, as a
  fraction of s, over s and eta: it grows about in proportion to ``eta s``.
* :func:`stages_demo` (:func:`stage_like_learning`): four modes at once, the stage-like loss
  curve and the half-way times.
* :func:`semantic_overview` and :func:`semantic_demo` (in ``lesson01_semantic``): the
  hierarchical items x features data set of Saxe, McClelland & Ganguli (2019)
  (``lowdim_course.semantic``), its modes and the order in which a linear network learns them,
  over five random inits.
* :func:`gd_step_demo` (in ``lesson01_capstone``): the student's own gradient step (capstone
  ``01.two_layer_gd_step``) at the step the student chose, drawn over the course's gradient
  descent and the closed form.

The mode strength is ``m_i(t) = u_i^T W_2 W_1 v_i`` (``m``, not ``u``: ``u_i`` is the target's
left singular vector), from ``m0``. Every step here is on the summed loss
``1/2 ||W_2 W_1 - M||_F^2``, so it is called ``eta`` (the course's notation); time is counted in
gradient steps, with ``tau = 1/eta``. The core's ``theory.two_layer`` takes the same numbers as
``u0`` and ``lr``.
"""

from __future__ import annotations

import math

import torch

from ..plots import demo_figure, show_figure
from ..theory.two_layer import half_way_time, learning_time, saxe_trajectory, simulate_two_layer
from ..threads import small_work
from .lesson01_capstone import MAX_STEPS, gd_step_demo, run_length
from .lesson01_semantic import SEMANTIC_MAX_STEPS, semantic_demo, semantic_overview, semantic_runs

__all__ = [  # what the lesson and its tests import from here
    "MAX_STEPS",
    "SEMANTIC_MAX_STEPS",
    "closed_form_gaps",
    "closed_form_overflow",
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


@small_work()
def saxe_demo(s: float = 3.0, m0: float = 1e-3, eta: float = 1e-2, init: str = "aligned"):
    """One mode: gradient descent on a 4 x 4 two-layer network vs the closed form m(t).

    The target is ``M = s u_1 v_1^T`` (rank one, d = 4). ``init='aligned'`` starts the network
    at ``W_2 W_1 = m0 U V^T``, the setting of the closed form; ``init='random'`` starts each
    layer at ``sqrt(m0)`` times a random orthogonal matrix, so the mode starts at a random
    fraction of m0 (possibly negative) and the closed form is only a guide.
    Prints and returns the half-way times (theory, GD), the largest gap between the curves and
    the final strength.
    """
    steps = run_length([s], m0, eta)
    run = simulate_two_layer([s], m0, eta, steps, init=init, d=4, seed=0)
    times = run.iterations.to(torch.float64)
    simulated = run.strengths[:, 0].cpu()
    theory = saxe_trajectory(times, s, m0, eta)
    t_half = half_way_time(s, m0, eta)
    reached = torch.nonzero(simulated >= s / 2)
    gd_half = int(reached[0, 0]) if reached.numel() else None
    gap = float((simulated - theory).abs().max())

    figure, (axes,) = demo_figure(1, 7, 3.6, title=False)
    axes.plot(
        times, simulated, color="tab:blue", lw=2.5, alpha=0.6, label=f"gradient descent ({init})"
    )
    axes.plot(times, theory, "k--", lw=1.2, label="closed form $m(t)$")
    axes.axhline(s, color="gray", lw=0.8, ls=":")
    axes.axvline(t_half, color="tab:red", lw=0.8, ls=":", label=r"$t_{1/2}$ (theory)")
    axes.set_xlabel("gradient step t")
    axes.set_ylabel("mode strength m")
    axes.set_title(f"s={s:.3g}, m0={m0:.3g}, eta={eta:.3g} (tau={1 / eta:.3g} steps)")
    axes.legend(loc="lower right")
    show_figure(figure)

    final = float(simulated[-1])
    print(f"half-way time: theory {t_half:.4g} steps, gradient descent {gd_half} steps")
    print(
        f"largest |GD - closed form| over {steps} steps: {gap:.3g}, {100 * gap / s:.1f}% of "
        f"s = {s:.3g} (eta s = {eta * s:.3g})"
    )
    print(f"strength after {steps} steps: {final:.3g}")
    if steps == MAX_STEPS and final < 0.9 * s:
        print(f"(stopped at {MAX_STEPS} steps: raise eta or m0 to see the end)")
    return {"steps": steps, "t_half": t_half, "gd_half": gd_half, "max_gap": gap, "final": final}


@small_work()
def stages_demo(m0: float = 1e-4, eta: float = 1e-2):
    """The slider panel's callback: :func:`stage_like_learning` on s = (5, 3, 1.5, 0.75).

    (A panel turns every argument with a default into a slider, so the fixed settings live in
    :func:`stage_like_learning`.)
    """
    return stage_like_learning(m0, eta)


@small_work()
def stage_like_learning(
    m0: float = 1e-4,
    eta: float = 1e-2,
    singular_values=STAGE_SINGULAR_VALUES,
    max_steps: int = MAX_STEPS,
):
    """Several modes at once: stage-like learning and the half-way time of each mode.

    Gradient descent from the aligned init on ``M = U diag(singular_values) V^T``. Left: every
    mode strength (GD, solid) with its closed form (dashed). Right: the loss
    ``1/2 ||W_2 W_1 - M||_F^2 = 1/2 sum_i (s_i - m_i)^2`` (exact for the aligned init, whose
    off-diagonal part stays zero) on a log scale, a staircase of plateaus. Prints a table of
    half-way times (theory and GD) and learning times; returns them with the largest gap.
    At most ``max_steps`` steps are run (a mode not half learned by then shows ``None``).
    """
    s = [float(value) for value in singular_values]
    steps = run_length(s, m0, eta, max_steps=max_steps)
    run = simulate_two_layer(s, m0, eta, steps, init="aligned", seed=0)
    times = run.iterations.to(torch.float64)
    strengths = run.strengths.cpu()
    target = torch.tensor(s, dtype=torch.float64)
    loss = 0.5 * ((target - strengths) ** 2).sum(1)

    figure, (left, right) = demo_figure(2, 11, 3.6, title=False)
    rows, gap = [], 0.0
    for i, value in enumerate(s):
        color = f"C{i}"
        theory = saxe_trajectory(times, value, m0, eta)
        gap = max(gap, float((strengths[:, i] - theory).abs().max()))
        left.plot(times, strengths[:, i], color=color, lw=2.5, alpha=0.6, label=f"s={value:.3g}")
        left.plot(times, theory, "k--", lw=1)
        reached = torch.nonzero(strengths[:, i] >= value / 2)
        gd_half = int(reached[0, 0]) if reached.numel() else None
        rows.append(
            {
                "s": value,
                "t_half": half_way_time(value, m0, eta),
                "gd_half": gd_half,
                "learning_time": learning_time(value, m0, eta),
            }
        )
        right.axvline(rows[-1]["t_half"], color=color, lw=0.8, ls=":")
    left.set_xlabel("gradient step t")
    left.set_ylabel("mode strength $m_i$")
    left.set_title("modes: GD (solid), closed form (dashed)")
    left.legend()
    right.semilogy(times, loss, color="tab:gray")
    right.set_xlabel("gradient step t")
    right.set_ylabel(r"loss $\frac{1}{2}\|W_2W_1 - M\|_F^2$")
    right.set_title("plateaus between stages (dotted: $t_{1/2}$)")
    show_figure(figure)

    print(f"m0={m0:.3g}, eta={eta:.3g}, {steps} steps; largest |GD - closed form|: {gap:.3g}")
    print("     s   t_half theory   t_half GD   learning time (tau/s) ln(s/m0)")
    for row in rows:
        print(
            f"{row['s']:>6.3g}   {row['t_half']:>13.4g}   {row['gd_half']!s:>9}"
            f"   {row['learning_time']:>10.4g}"
        )
    return {"steps": steps, "max_gap": gap, "modes": rows}


# ---------------------------------------------------------------------------------------------
# The closed form on a computer: overflow, and how far gradient descent is from it
# ---------------------------------------------------------------------------------------------


def _first_written(times, s, m0, eta):
    """The closed form as derived, ``s e^x / (e^x - 1 + s/m0)`` with ``x = 2 s eta t``."""
    growth = torch.exp(2.0 * s * eta * times)
    return s * growth / (growth - 1.0 + s / m0)


@small_work()
def closed_form_overflow(s: float = 3.0, m0: float = 1e-3, eta: float = 1e-2, times=None):
    """Both ways of writing the closed form, in float32 and float64, at short and long times.

    ``e^x`` overflows once ``x = 2 s eta t`` passes ``ln`` of the largest float (88.7 in float32,
    709.8 in float64): the first-written form becomes inf/inf = NaN while the stable form
    ``s / (1 + (s/m0 - 1) e^(-x))`` (numerator and denominator divided by ``e^x``) reaches s.
    Prints the first step at which each precision overflows and a table; returns the values.
    """
    times = [100.0, 1000.0, 2000.0, 20000.0] if times is None else [float(t) for t in times]
    first_overflow = {
        name: math.log(torch.finfo(dtype).max) / (2.0 * s * eta)
        for name, dtype in (("float32", torch.float32), ("float64", torch.float64))
    }
    rows = {}
    for name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
        t = torch.tensor(times, dtype=dtype)
        rows[name] = {
            "first written": _first_written(t, s, m0, eta).tolist(),
            "stable": saxe_trajectory(t, s, m0, eta).tolist(),
        }
    print(
        f"s={s:g}, m0={m0:g}, eta={eta:g}: e^(2 s eta t) overflows after step "
        f"{first_overflow['float32']:,.0f} in float32, {first_overflow['float64']:,.0f} in float64"
    )
    print("precision  form            " + "".join(f"{f't = {t:,.0f}':>13}" for t in times))
    for name, forms in rows.items():
        for form, values in forms.items():
            print(f"{name:<10} {form:<15} " + "".join(f"{v:>13.4g}" for v in values))
    return {"times": times, "first_overflow": first_overflow, **rows}


GAP_SINGULAR_VALUES = (1.0, 3.0, 10.0)
GAP_STEPS = (1e-3, 3e-3, 1e-2, 3e-2)


@small_work()
def closed_form_gaps(singular_values=GAP_SINGULAR_VALUES, etas=GAP_STEPS, m0: float = 1e-3):
    """The largest ``|GD - closed form| / s`` over a run, for each s and step eta (aligned init).

    Each run is long enough for the mode to saturate (no cap on the steps). The gap is the
    error of Euler's method on the mode equation: per step the discrete growth factor
    ``1 + 2 eta s`` falls short of ``e^(2 eta s)``, so gradient descent lags the flow, by a
    fraction of s that grows about in proportion to ``eta s`` (with a factor that grows slowly,
    like ``ln(s/m0)``, with the length of the plateau). Prints the table (percent of s, and the
    ratio of the gap to ``eta s``); returns ``{(s, eta): gap / s}``.
    """
    gaps = {}
    for s in singular_values:
        for eta in etas:
            steps = run_length([s], m0, eta, max_steps=10**6)
            run = simulate_two_layer([s], m0, eta, steps, d=4, seed=0)
            theory = saxe_trajectory(run.iterations.to(torch.float64), s, m0, eta)
            gaps[(s, eta)] = float((run.strengths[:, 0].cpu() - theory).abs().max()) / s
    print(f"largest |GD - closed form| as a percent of s (aligned init, m0={m0:g})")
    print("   s  " + "".join(f"{f'eta={eta:g}':>12}" for eta in etas) + "   gap/s divided by eta s")
    for s in singular_values:
        cells = "".join(f"{100 * gaps[(s, eta)]:>11.2f}%" for eta in etas)
        ratios = [gaps[(s, eta)] / (eta * s) for eta in etas]
        print(f"{s:>4g}  {cells}   {min(ratios):.2f} to {max(ratios):.2f}")
    return gaps
