"""Lesson 02 demos: singular values learned one at a time, and how depth sharpens the stages.

* :func:`incremental_demo`: deep matrix factorization trained by the core's ``train`` from the
  original network's small orthogonal init; the singular values of the end-to-end matrix over
  training (from the ``History``) and its effective rank.
* :func:`separation_demo`: the deep mode ODE (``theory.integrate_deep_mode``) for two modes and
  the separation measure (``theory.separation``) against depth and initial scale.
* :func:`regime_table`: where Section 3's statements hold, over depth and initial scale: the
  separation at a gap of 1.2, and how far the onset formula lies above the half-way time.
* :func:`capstone_demo` (in ``lesson02_capstone``): the student's own trainer at the student's
  own init scale on a non-symmetric target, next to the course's trainer.

Time is counted in gradient steps of eta on the summed loss, ``tau = 1/eta``.
"""

from __future__ import annotations

import math

import torch

from ..networks import original_network
from ..plots import demo_figure, show_figure
from ..problems import make_problem
from ..theory._common import first_crossing
from ..theory.deep_dynamics import (
    deep_half_way_time,
    integrate_deep_mode,
    onset_time,
    separation,
    time_to_fraction,
)
from ..theory.rank_measures import effective_rank_of_spectrum, effective_rank_over_training
from ..threads import small_work
from ..training import train
from .lesson02_capstone import capstone_demo
from .lesson02_semantic import semantic_depth_demo

__all__ = [  # what the lesson and its tests import from here
    "MAX_STEPS",
    "capstone_demo",
    "incremental_demo",
    "lag_over_seeds",
    "measured_separation",
    "regime_table",
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
SEPARATION_M0 = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2)
REGIME_M0 = (1e-6, 1e-4, 1e-2)
REGIME_GAP = 1.2


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


def _ode_half(s: float, m0: float, depth: int):
    """The aligned mode ODE's half-way step at step size ``EFFECTIVE_LR`` (None if m0 >= s/2)."""
    return deep_half_way_time(s, m0, depth, EFFECTIVE_LR) if m0 < s / 2 else None


def run_length(singular_values, m0: float, depth: int) -> int:
    """Steps for :func:`incremental_demo`: 2.5 times the weakest mode's ODE half-way time (or
    10 time constants ``1/(lr s)`` if it starts above half way), between 100 and 3000."""
    weakest = min(singular_values)
    half = _ode_half(weakest, m0, depth)
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


def _half_way_steps(history, singular_values, m0: float, depth: int) -> list[dict]:
    """Each mode's first logged step with sigma_k >= s_k / 2 (GD) and the aligned ODE's."""
    iterations = torch.tensor(history.log_iterations)
    spectra = history.singular_value_matrix()
    modes = []
    for k, value in enumerate(singular_values):
        reached = first_crossing(spectra[:, k], value / 2)
        gd_half = None if reached is None else int(iterations[reached])
        modes.append({"s": value, "gd_half": gd_half, "ode_half": _ode_half(value, m0, depth)})
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
    m0 = eps**depth
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
    modes = _half_way_steps(history, s, m0, depth)
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
    print(f"step eta = {EFFECTIVE_LR:g} on the summed loss 1/2 ||W - M||^2 (the course's train: "
          f"lr = eta d^2 = {EFFECTIVE_LR * d * d:.3g} on the mean loss), tau = 1/eta = "
          f"{1 / EFFECTIVE_LR:g}")  # fmt: skip
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
def separation_demo(depth: int = 3, m0: float = 1e-4, gap: float = 2.0):
    """Two modes ``s = (1, 1/gap)`` from the end-to-end init m0, for depths 2 to 5 (mode ODE).

    Left: the fractions ``m_1/s_1`` (solid) and ``m_2/s_2`` (dashed) against time measured in
    units of ``t_90``, the time mode 1 needs to reach 90%; the chosen depth is drawn bold.
    Right: the separation (``m_2/s_2`` at ``t_90``) against m0 for each depth, log-log; the
    chosen setting is marked. Prints the separations at m0 for every depth and, for the chosen
    depth, mode 1's ODE half-way time next to the onset formula; returns them.
    """
    s1, s2, lr = 1.0, 1.0 / gap, SEPARATION_LR
    figure, (left, right) = demo_figure(2, 11, 3.6, title=False)
    grid = torch.linspace(0.0, 2.5, 101, dtype=torch.float64)
    table = {}
    for i, layers in enumerate(DEPTHS):
        t90 = time_to_fraction(s1, m0, layers, lr, 0.9)
        width = 2.5 if layers == depth else 1.0
        alpha = 1.0 if layers == depth else 0.45
        for s, style in ((s1, "-"), (s2, "--")):
            fraction = integrate_deep_mode(s, m0, layers, lr, grid * t90) / s
            label = f"L={layers}" if s == s1 else None
            left.plot(grid, fraction, style, color=f"C{i}", lw=width, alpha=alpha, label=label)
        m0_grid = [value for value in SEPARATION_M0 if value < 0.5 * s2]
        curve = [separation(layers, value, (s1, s2), lr) for value in m0_grid]
        right.loglog(
            m0_grid, curve, "o-", color=f"C{i}", lw=width, alpha=alpha, label=f"L={layers}"
        )
        table[layers] = separation(layers, m0, (s1, s2), lr)
    left.axvline(1.0, color="gray", lw=0.8, ls=":")
    left.set_xlabel(r"time / $t_{90}$ (mode 1 at 90%)")
    left.set_ylabel("fraction learned $u_i / s_i$")
    left.set_title(f"s = (1, {s2:.3g}), m0 = {m0:.3g}: mode 1 solid, mode 2 dashed")
    left.legend()
    right.loglog([m0], [table[depth]], "k*", ms=14)
    right.set_xlabel("initial end-to-end scale $u_0$")
    right.set_ylabel("separation $m_2/s_2$ at $t_{90}$")
    right.set_title("smaller is more incremental")
    right.legend()
    show_figure(figure)

    a0 = m0 ** (1.0 / depth)
    ode_half = deep_half_way_time(s1, m0, depth, lr)
    formula = onset_time(s1, a0, depth, lr)
    print(f"s = (1, {s2:.3g}), m0 = {m0:.3g}; separation m_2/s_2 when m_1 = 0.9 s_1:")
    for layers, value in table.items():
        mark = "  <- chosen depth" if layers == depth else ""
        print(f"  L={layers}: {value:.3g}{mark}")
    name = "exact (tau/2s) ln(s/m0 - 1)" if depth == 2 else "tau / ((L-2) s a0^(L-2))"
    above = formula / ode_half - 1.0
    print(
        f"mode 1 at L={depth} (a0 = {a0:.3g}, eta = {lr:.3g}): ODE half-way step {ode_half:.4g}, "
        f"onset formula {name} = {formula:.4g} ({100 * above:+.1f}%)"
    )
    return {"separation": table, "ode_half": ode_half, "onset": formula, "above": above}


@small_work()
def regime_table(m0s=REGIME_M0, gap: float = REGIME_GAP) -> dict:
    """Where Section 3's statements hold, from the mode ODE (step eta = 0.01, s_1 = 1).

    Prints, for each m0 in ``m0s`` and depth 2-5, the separation for two close modes
    ``s = (1, 1/gap)``; and for depths 3-5 how far the onset formula ``t*`` lies above mode 1's
    half-way time, ``t*/t_half - 1`` (at depth 2 the printed formula is exact). Returns both.
    """
    s2, lr = 1.0 / gap, SEPARATION_LR
    separations = {m0: {L: separation(L, m0, (1.0, s2), lr) for L in DEPTHS} for m0 in m0s}
    deep = [L for L in DEPTHS if L >= 3]
    above = {
        m0: {L: onset_time(1.0, m0 ** (1 / L), L, lr) / deep_half_way_time(1.0, m0, L, lr) - 1
             for L in deep}
        for m0 in m0s
    }  # fmt: skip
    print(f"separation m_2/s_2 for close modes s = (1, {s2:.3g}) (gap {gap:g}):")
    print("      m0 " + "".join(f"{f'L={L}':>9}" for L in DEPTHS))
    for m0, row in separations.items():
        print(f"{m0:>8.0e} " + "".join(f"{row[L]:>9.3g}" for L in DEPTHS))
    print("onset formula t* above mode 1's half-way time (s = 1):")
    print("      m0 " + "".join(f"{f'L={L}':>9}" for L in deep))
    for m0, row in above.items():
        print(f"{m0:>8.0e} " + "".join(f"{f'{100 * x:+.1f}%':>9}" for x in row.values()))
    return {"separation": separations, "above": above}
