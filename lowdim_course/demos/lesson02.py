"""Lesson 02 demos: singular values learned one at a time, and how depth sharpens the stages.

* :func:`incremental_demo`: deep matrix factorization trained by the core's ``train`` from the
  original network's small orthogonal init; the singular values of the end-to-end matrix over
  training (from the ``History``) and its effective rank.
* :func:`separation_demo`: the deep mode ODE (``theory.integrate_deep_mode``) for two modes and
  the separation measure (``theory.separation``) against depth and initial scale.
* :func:`capstone_demo`: the student's own trainer (capstone ``02.train_deep_linear``) at depths
  2 and 3, drawn on the mode ODE's curves, next to the course's trainer
  (``theory.identity_init_spectra``).

Time is counted in gradient steps, ``tau = 1/lr``.
"""

from __future__ import annotations

import math

import torch

from ..exercises.capstone import run_student_code
from ..networks import original_network
from ..plots import demo_figure, show_figure
from ..problems import make_problem
from ..random_matrices import make_generator, random_orthogonal
from ..theory._common import first_crossing
from ..theory.deep_dynamics import (
    deep_half_way_time,
    half_way_iteration,
    identity_init_spectra,
    integrate_deep_mode,
    onset_time,
    separation,
    time_to_fraction,
)
from ..theory.rank_measures import effective_rank_of_spectrum, effective_rank_over_training
from ..threads import small_work
from ..training import train
from .lesson02_semantic import semantic_depth_demo

__all__ = [  # what the lesson and its tests import from here
    "MAX_STEPS",
    "capstone_demo",
    "incremental_demo",
    "lag_over_seeds",
    "measured_separation",
    "run_length",
    "semantic_depth_demo",
    "separation_demo",
    "target_spectrum",
]

SIZE = 12
EFFECTIVE_LR = 0.1
MAX_STEPS = 3000
DEPTHS = (2, 3, 4, 5)
SEPARATION_LR = 1e-2
SEPARATION_U0 = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2)
CAPSTONE_SIZE = 6
CAPSTONE_SPECTRUM = (1.0, 0.5, 0.25)
CAPSTONE_U0 = 1e-3
CAPSTONE_LR = 0.02
CAPSTONE_STEPS = 3000
CAPSTONE_DEPTHS = (2, 3)
AGREE = 1e-8  # largest gap between two implementations of the same gradient descent


def target_spectrum(gap: float, rank: int = 3) -> list[float]:
    """``(1, 1/gap, 1/gap^2, ...)``: ``rank`` singular values, each ``gap`` times the next."""
    if not gap > 1:
        raise ValueError(f"gap must be > 1 (the ratio s_k / s_(k+1)), got {gap!r}")
    return [gap**-k for k in range(rank)]


def measured_separation(spectra: torch.Tensor, singular_values, level: float = 0.9):
    """From logged spectra (one row per log): ``sigma_2 / s_2`` when ``sigma_1`` first reaches
    ``level * s_1`` (None if it never does). The singular values are sorted, so sigma_k is read
    as the strength of the k-th mode; a small value means mode 2 waited for mode 1."""
    s1, s2 = singular_values[0], singular_values[1]
    reached = first_crossing(spectra[:, 0], level * s1)
    return None if reached is None else float(spectra[reached, 1]) / s2


def _ode_half(s: float, u0: float, depth: int):
    """The aligned mode ODE's half-way step at step size ``EFFECTIVE_LR`` (None if u0 >= s/2)."""
    return deep_half_way_time(s, u0, depth, EFFECTIVE_LR) if u0 < s / 2 else None


def run_length(singular_values, u0: float, depth: int) -> int:
    """Steps for :func:`incremental_demo`: 2.5 times the weakest mode's ODE half-way time (or
    10 time constants ``1/(lr s)`` if it starts above half way), between 100 and 3000."""
    weakest = min(singular_values)
    half = _ode_half(weakest, u0, depth)
    steps = 2.5 * half if half is not None else 10.0 / (EFFECTIVE_LR * weakest)
    return int(min(MAX_STEPS, max(100, math.ceil(steps))))


def _incremental_run(depth: float, eps: float, gap: float, seed: int = 0):
    """The training run behind :func:`incremental_demo` (target and initialization from seed)."""
    d = SIZE
    s = target_spectrum(gap)
    steps = run_length(s, eps**depth, depth)
    problem = make_problem("mf", d=d, singular_values=s, seed=seed)
    network = original_network(d, depth, eps, seed=seed)
    return train(
        problem, network, lr=EFFECTIVE_LR * d * d, steps=steps, log_every=max(1, steps // 200)
    )  # fmt: skip


def _half_way_steps(history, singular_values, u0: float, depth: int) -> list[dict]:
    """Each mode's first logged step with sigma_k >= s_k / 2 (GD) and the aligned ODE's."""
    iterations = torch.tensor(history.log_iterations)
    spectra = history.singular_value_matrix()
    modes = []
    for k, value in enumerate(singular_values):
        reached = first_crossing(spectra[:, k], value / 2)
        gd_half = None if reached is None else int(iterations[reached])
        modes.append({"s": value, "gd_half": gd_half, "ode_half": _ode_half(value, u0, depth)})
    return modes


@small_work()
def lag_over_seeds(depth: int = 3, eps: float = 0.1, gap: float = 2.0, seeds=range(5)) -> dict:
    """How much later than the aligned ODE gradient descent reaches each mode's half-way point,
    from a random orthogonal init, over ``seeds`` (target's singular vectors and init).

    Prints per seed the ratio GD / ODE of the half-way steps for every mode; returns them.
    """
    s = target_spectrum(gap)
    ratios = []
    for seed in seeds:
        modes = _half_way_steps(_incremental_run(depth, eps, gap, int(seed)), s, eps**depth, depth)
        ratios.append([m["gd_half"] / m["ode_half"] if m["gd_half"] and m["ode_half"] else None
                       for m in modes])  # fmt: skip
    print(f"half-way step, gradient descent / aligned ODE, depth {depth}, eps {eps:g}, "
          f"{len(ratios)} seeds")  # fmt: skip
    print("seed   " + "   ".join(f"mode {k + 1} (s={v:.3g})" for k, v in enumerate(s)))
    for seed, row in zip(seeds, ratios, strict=True):
        print(f"{seed:>4}   " + "   ".join(f"{'-' if x is None else f'{x:.2f}':>15}" for x in row))
    values = [x for row in ratios for x in row if x is not None]
    later = sum(all(x is not None and x > 1 for x in row) for row in ratios)
    print(f"gradient descent is later than the ODE for every mode in {later} of {len(ratios)} "
          f"seeds; ratios {min(values):.2f} to {max(values):.2f}")  # fmt: skip
    return {"ratios": ratios, "later_in_every_mode": later}


@small_work()
def incremental_demo(depth: int = 3, eps: float = 0.1, gap: float = 2.0):
    """Train an L-layer 12 x 12 network on a rank-3 target with singular values (1, 1/g, 1/g^2).

    The network is the course's original one (``W_l(0) = eps O_l``, O_l random orthogonal); the
    loss is factorization's ``1/2 mean (W - M*)^2`` with ``lr = 0.1 d^2``, i.e. step 0.1 on the
    summed loss. The run's length is :func:`run_length`. Left: the end-to-end singular values
    over training (target values dotted).
    Right: the effective rank. Prints each singular value's half-way iteration (GD) next to the
    ODE's, the measured separation and the effective rank; returns them.
    """
    d = SIZE
    s = target_spectrum(gap)
    u0 = eps**depth
    history = _incremental_run(depth, eps, gap)
    steps = history.steps
    iterations = torch.tensor(history.log_iterations)
    spectra = history.singular_value_matrix()
    erank = effective_rank_over_training(history)

    figure, (left, right) = demo_figure(2, 11, 3.6, title=False)
    left.plot(iterations, spectra[:, len(s) :], color="lightgray", lw=1)
    for k, value in enumerate(s):
        left.plot(iterations, spectra[:, k], color=f"C{k}", lw=2, label=f"$\\sigma_{k + 1}$")
        left.axhline(value, color=f"C{k}", lw=0.8, ls=":")
    modes = _half_way_steps(history, s, u0, depth)
    left.set_xlabel("gradient step")
    left.set_ylabel("singular values of $W_{L:1}$")
    left.set_title(f"depth L={depth}, eps={eps:.3g}, gap={gap:.3g} (d={d})")
    left.legend()
    right.plot(iterations, erank, color="tab:purple")
    target_erank = effective_rank_of_spectrum(torch.tensor(s))
    right.axhline(target_erank, color="gray", lw=0.8, ls=":", label="target's")
    right.legend()
    right.set_xlabel("gradient step")
    right.set_ylabel("effective rank of $W_{L:1}$")
    right.set_ylim(0, d + 1)
    right.set_title("effective rank over training")
    show_figure(figure)

    measured = measured_separation(spectra, s)
    lowest = float(erank.min())
    print(f"{steps} steps, final recovery error {history.final_error:.3g}")
    print("    s_k   half-way step (GD)   half-way step (aligned ODE)")
    for mode in modes:
        ode = "above s/2 at t=0" if mode["ode_half"] is None else f"{mode['ode_half']:.4g}"
        print(f"{mode['s']:>7.3g}   {mode['gd_half']!s:>18}   {ode:>27}")
    if steps == MAX_STEPS and modes[-1]["gd_half"] is None:
        print(f"(stopped at {MAX_STEPS} steps: a larger eps or a smaller depth learns faster)")
    label = "not reached" if measured is None else f"{measured:.3g}"
    print(f"sigma_2 / s_2 when sigma_1 reaches 0.9 s_1: {label}")
    print(
        f"effective rank: start {float(erank[0]):.3g}, lowest {lowest:.3g}, "
        f"end {float(erank[-1]):.3g} (target's: {target_erank:.3g})"
    )
    return {
        "steps": steps,
        "modes": modes,
        "separation": measured,
        "erank_start": float(erank[0]),
        "erank_min": lowest,
        "erank_end": float(erank[-1]),
        "final_error": history.final_error,
    }


@small_work()
def separation_demo(depth: int = 3, u0: float = 1e-4, gap: float = 2.0):
    """Two modes ``s = (1, 1/gap)`` from the end-to-end init u0, for depths 2 to 5 (mode ODE).

    Left: the fractions ``u_1/s_1`` (solid) and ``u_2/s_2`` (dashed) against time measured in
    units of ``t_90``, the time mode 1 needs to reach 90%; the chosen depth is drawn bold.
    Right: the separation (``u_2/s_2`` at ``t_90``) against u0 for each depth, log-log; the
    chosen setting is marked. Prints the separations at u0 for every depth and, for the chosen
    depth, mode 1's ODE half-way time next to the onset formula; returns them.
    """
    s1, s2, lr = 1.0, 1.0 / gap, SEPARATION_LR
    figure, (left, right) = demo_figure(2, 11, 3.6, title=False)
    grid = torch.linspace(0.0, 2.5, 101, dtype=torch.float64)
    table = {}
    for i, layers in enumerate(DEPTHS):
        t90 = time_to_fraction(s1, u0, layers, lr, 0.9)
        width = 2.5 if layers == depth else 1.0
        alpha = 1.0 if layers == depth else 0.45
        for s, style in ((s1, "-"), (s2, "--")):
            fraction = integrate_deep_mode(s, u0, layers, lr, grid * t90) / s
            label = f"L={layers}" if s == s1 else None
            left.plot(grid, fraction, style, color=f"C{i}", lw=width, alpha=alpha, label=label)
        u0_grid = [value for value in SEPARATION_U0 if value < 0.5 * s2]
        curve = [separation(layers, value, (s1, s2), lr) for value in u0_grid]
        right.loglog(
            u0_grid, curve, "o-", color=f"C{i}", lw=width, alpha=alpha, label=f"L={layers}"
        )
        table[layers] = separation(layers, u0, (s1, s2), lr)
    left.axvline(1.0, color="gray", lw=0.8, ls=":")
    left.set_xlabel(r"time / $t_{90}$ (mode 1 at 90%)")
    left.set_ylabel("fraction learned $u_i / s_i$")
    left.set_title(f"s = (1, {s2:.3g}), u0 = {u0:.3g}: mode 1 solid, mode 2 dashed")
    left.legend()
    right.loglog([u0], [table[depth]], "k*", ms=14)
    right.set_xlabel("initial end-to-end scale $u_0$")
    right.set_ylabel("separation $u_2/s_2$ at $t_{90}$")
    right.set_title("smaller is more incremental")
    right.legend()
    show_figure(figure)

    a0 = u0 ** (1.0 / depth)
    ode_half = deep_half_way_time(s1, u0, depth, lr)
    formula = onset_time(s1, a0, depth, lr)
    print(f"s = (1, {s2:.3g}), u0 = {u0:.3g}; separation u_2/s_2 when u_1 = 0.9 s_1:")
    for layers, value in table.items():
        mark = "  <- chosen depth" if layers == depth else ""
        print(f"  L={layers}: {value:.3g}{mark}")
    name = "exact (tau/2s) ln(s/u0 - 1)" if depth == 2 else "tau / ((L-2) s a0^(L-2))"
    print(
        f"mode 1 at L={depth} (a0 = {a0:.3g}, lr = {lr:.3g}): ODE half-way step {ode_half:.4g}, "
        f"onset formula {name} = {formula:.4g}"
    )
    return {"separation": table, "ode_half": ode_half, "onset": formula}


def capstone_target(d: int = CAPSTONE_SIZE, singular_values=CAPSTONE_SPECTRUM, seed: int = 0):
    """``M = Q diag(s) Q^T`` with a random orthogonal Q: symmetric and positive semi-definite.

    From ``W_l(0) = eps I`` such a target makes the init balanced and aligned (every layer is
    ``Q diag(a) Q^T``), so each singular value of ``W_{L:1}`` follows the mode recursion and
    the mode ODE of Section 1 applies, although M is not diagonal.
    """
    basis = random_orthogonal(d, make_generator(seed)).to(torch.float64)
    k = len(singular_values)
    return (basis[:, :k] * torch.tensor(singular_values, dtype=torch.float64)) @ basis[:, :k].T


def _student_spectra(train_deep_linear, target, depths, u0):
    """The student's spectra for each depth, as float64 tensors of the expected shape."""
    d = target.shape[0]
    spectra = []
    for depth in depths:
        value = train_deep_linear(target.clone(), depth, u0 ** (1 / depth), CAPSTONE_LR,
                                  CAPSTONE_STEPS)  # fmt: skip
        value = torch.as_tensor(value).detach().to("cpu", torch.float64)
        if tuple(value.shape) != (CAPSTONE_STEPS + 1, d):
            raise ValueError(
                f"returned shape {tuple(value.shape)} at depth {depth}, expected (steps + 1, d) "
                f"= {(CAPSTONE_STEPS + 1, d)}"
            )
        spectra.append(value)
    return spectra


@small_work()
def capstone_demo(train_deep_linear, u0: float = CAPSTONE_U0):
    """The student's trainer at depths 2 and 3 on the course's mode ODE (incremental learning).

    Target: :func:`capstone_target` (6 x 6, singular values 1, 0.5, 0.25); every layer starts at
    ``eps = u0^(1/L)`` so both depths start from the same end-to-end ``u0``; step 0.02,
    3000 steps. Each panel draws the mode ODE's curves ``integrate_deep_mode`` (solid) and the
    student's singular values (dashed); if the student's function fails, one line says why and
    the course's trainer (``identity_init_spectra``) is drawn instead. Prints, per depth, the
    largest gap between the student's singular values and the course's gradient descent, and
    to the ODE; returns them.
    """
    target = capstone_target()
    d, k = target.shape[0], len(CAPSTONE_SPECTRUM)
    run = run_student_code(
        lambda: _student_spectra(train_deep_linear, target, CAPSTONE_DEPTHS, u0),
        name="train_deep_linear",
    )
    times = torch.arange(CAPSTONE_STEPS + 1, dtype=torch.float64)
    figure, axes = demo_figure(len(CAPSTONE_DEPTHS), 11)
    summary = {
        "student_ran": run.ok,
        "half_way": {},
        "gap_to_ode": {},
        "gap_to_course": {},
        "student_gap_to_ode": {},
    }
    for index, (axis, depth) in enumerate(zip(axes, CAPSTONE_DEPTHS, strict=True)):
        eps = u0 ** (1 / depth)
        course = identity_init_spectra(target, depth, eps, CAPSTONE_LR, CAPSTONE_STEPS)
        ode = torch.stack([integrate_deep_mode(s, u0, depth, CAPSTONE_LR, times)
                           for s in CAPSTONE_SPECTRUM], dim=1)  # fmt: skip
        shown = run.value[index] if run.ok else course
        who = "yours" if run.ok else "the course's trainer"
        for mode, s in enumerate(CAPSTONE_SPECTRUM):
            axis.plot(times, ode[:, mode], color=f"C{mode}", lw=3, alpha=0.35,
                      label=f"mode ODE, s={s:g}")  # fmt: skip
            axis.plot(times, shown[:, mode], color=f"C{mode}", lw=1.2, ls="--",
                      label=f"$\\sigma_{mode + 1}$ ({who})")  # fmt: skip
        axis.plot(times, shown[:, k:], color="0.6", lw=0.8)
        axis.set(xlabel="gradient step", ylabel="singular values of $W_{L:1}$",
                 title=f"depth L={depth}, eps = u0^(1/L) = {eps:.3g}")  # fmt: skip
        if index == 0:
            axis.legend(fontsize=7, loc="center right")
        summary["half_way"][depth] = half_way_iteration(shown[:, :k], CAPSTONE_SPECTRUM)
        summary["gap_to_ode"][depth] = float((course[:, :k] - ode).abs().max())
        if run.ok:
            summary["gap_to_course"][depth] = float((run.value[index] - course).abs().max())
            summary["student_gap_to_ode"][depth] = float(
                (run.value[index][:, :k] - ode).abs().max()
            )
    figure.suptitle(f"M = Q diag{CAPSTONE_SPECTRUM} Q^T (d={d}), u0 = {u0:g}, lr = {CAPSTONE_LR:g}")
    show_figure(figure)

    print(f"d = {d}, s = {CAPSTONE_SPECTRUM}, u0 = {u0:g}, lr = {CAPSTONE_LR:g}, "
          f"{CAPSTONE_STEPS} steps")  # fmt: skip
    for depth in CAPSTONE_DEPTHS:
        line = (f"  L={depth}: course's gradient descent vs mode ODE, largest gap "
                f"{summary['gap_to_ode'][depth]:.2g}")  # fmt: skip
        if run.ok:
            gap = summary["gap_to_course"][depth]
            mine = "below 1e-8" if gap < AGREE else f"{gap:.3g}"
            line += (f"; yours vs the course's gradient descent {mine}, vs the ODE "
                     f"{summary['student_gap_to_ode'][depth]:.2g}")  # fmt: skip
        print(line)
    whose = "your" if run.ok else "the course's"
    for depth in CAPSTONE_DEPTHS:
        print(f"  L={depth}: half-way steps of sigma_1, sigma_2, sigma_3 ({whose} run): "
              f"{summary['half_way'][depth]}")  # fmt: skip
    if run.ok:
        summary["agree"] = all(gap < AGREE for gap in summary["gap_to_course"].values())
        if summary["agree"]:
            print("your trainer agrees with the course's at both depths (gaps below 1e-8).")
        else:
            print(
                "your trainer does NOT agree with the course's (a gap above 1e-8): see the check."
            )
    print("The gap to the ODE is the step size's: it halves when lr is halved.")
    return summary
