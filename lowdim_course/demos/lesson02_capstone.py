"""Lesson 02's capstone figure: the student's deep linear trainer at the student's own init scale.

:func:`capstone_demo` runs the student's ``train_deep_linear`` (capstone ``02.train_deep_linear``)
at depth 3 from every layer at the student's ``eps`` (their ``choose_eps()``) and at depth 2
from the same end-to-end start ``m0 = eps^3``, next to the course's trainer
(``theory.identity_init_spectra``) and the aligned mode ODE (``theory.integrate_deep_mode``).

The target ``M = U diag(s) V^T`` has independent random ``U`` and ``V``: it is *not* symmetric.
For a symmetric target ``Q diag(s) Q^T`` every layer stays ``Q diag(a) Q^T``, all layers commute
and are symmetric, so a gradient with the products in the wrong order (``W_{l-1:1}^T G
W_{L:l+1}^T``) or without their transposes gives exactly the right numbers; on a non-symmetric
target it does not (the swapped order even diverges). The decision: ``eps`` small enough that
the stages separate (mode 2 under 5% learned when mode 1 reaches 90%), large enough that the
weakest mode is learned within the step budget (Section 2's onset time grows as ``1/eps`` at
depth 3). The verdict is taken with the course's trainer over five targets.
"""

from __future__ import annotations

import contextlib
import io
import math

import torch

from ..exercises.capstone import run_student_code
from ..plots import demo_figure, show_figure
from ..random_matrices import make_generator, random_orthogonal
from ..theory._common import first_crossing
from ..theory.deep_dynamics import half_way_iteration, identity_init_spectra, integrate_deep_mode
from ..threads import small_work

CAPSTONE_SIZE = 6
CAPSTONE_SPECTRUM = (1.0, 0.5, 0.25)
CAPSTONE_ETA = 0.02  # the step on the summed loss 1/2 ||W_{L:1} - M||_F^2
CAPSTONE_STEPS = 4000
CAPSTONE_DEPTH = 3  # the depth the student's eps is for
CONTRAST_DEPTH = 2  # started from the same end-to-end m0 = eps^3
TARGET_SEEDS = range(5)
UNDECIDED_EPS = 0.3  # drawn until the student chooses: the stages overlap there
LARGEST_EPS = 0.5
SEPARATED = 0.05  # mode 2 below 5% learned when mode 1 reaches 90%: incremental
AGREE = 1e-8  # largest gap between two implementations of the same gradient descent
PROBE_STEPS = 300  # the symmetric-target rerun that tells an order or transpose mistake


def capstone_target(seed: int = 0, *, symmetric: bool = False, d: int = CAPSTONE_SIZE):
    """``M = U diag(1, 0.5, 0.25) V^T`` (float64) with random orthogonal U, V drawn from ``seed``.

    ``symmetric=True`` gives ``U diag(s) U^T``: then ``W_l(0) = eps I`` is balanced and aligned
    and each singular value follows the mode ODE, but every layer stays symmetric and all layers
    commute, which hides the order and the transposes of the products in the gradient.
    """
    generator = make_generator(seed)
    left = random_orthogonal(d, generator).to(torch.float64)
    right = left if symmetric else random_orthogonal(d, generator).to(torch.float64)
    k = len(CAPSTONE_SPECTRUM)
    return (left[:, :k] * torch.tensor(CAPSTONE_SPECTRUM, dtype=torch.float64)) @ right[:, :k].T


def _depth_scales(eps: float) -> dict[int, float]:
    """Per-layer scale at each depth: eps at depth 3, the same ``m0 = eps^3`` at depth 2."""
    m0 = eps**CAPSTONE_DEPTH
    return {CAPSTONE_DEPTH: eps, CONTRAST_DEPTH: m0 ** (1 / CONTRAST_DEPTH)}


def separation_of(spectra: torch.Tensor, level: float = 0.9) -> float | None:
    """``sigma_2 / s_2`` when ``sigma_1`` first reaches ``level s_1`` (None if it never does)."""
    s1, s2 = CAPSTONE_SPECTRUM[:2]
    reached = first_crossing(spectra[:, 0], level * s1)
    return None if reached is None else float(spectra[reached, 1]) / s2


def _student_spectra(train_deep_linear, target, scales, steps):
    """The student's spectra per depth, as float64 tensors of the expected shape."""
    d = target.shape[0]
    spectra = {}
    for depth, eps in scales.items():
        value = train_deep_linear(target.clone(), depth, eps, CAPSTONE_ETA, steps)
        value = torch.as_tensor(value).detach().to("cpu", torch.float64)
        if tuple(value.shape) != (steps + 1, d):
            raise ValueError(f"returned shape {tuple(value.shape)} at depth {depth}, expected "
                             f"(steps + 1, d) = {(steps + 1, d)}")  # fmt: skip
        spectra[depth] = value
    return spectra


def _chosen_eps(choose_eps) -> tuple[float, bool]:
    """The student's eps and whether it was chosen (else :data:`UNDECIDED_EPS`, with a line)."""
    if choose_eps is None:
        print(f"no choose_eps given; the figure uses eps = {UNDECIDED_EPS:g}.")
        return UNDECIDED_EPS, False
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_student_code(choose_eps, name="choose_eps", seconds=5.0)
    message = run.message
    if run.ok:
        value = run.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            message = f"your choose_eps returned {type(value).__name__}, not a number"
        elif not 0 < value <= LARGEST_EPS:
            message = (f"your choose_eps returned {value!r}: eps must lie in (0, {LARGEST_EPS:g}] "
                       "(a small init)")  # fmt: skip
    if message is not None:
        print(f"{message}; the figure uses eps = {UNDECIDED_EPS:g} until you choose.")
        return UNDECIDED_EPS, False
    return float(value), True


def _symmetric_probe(train_deep_linear, eps: float) -> float | None:
    """Largest gap between the student's and the course's trainer on a symmetric target at
    depth 3 over :data:`PROBE_STEPS` steps (None if the student's code fails there), silently."""
    target = capstone_target(0, symmetric=True)
    with contextlib.redirect_stdout(io.StringIO()):
        run = run_student_code(
            lambda: _student_spectra(train_deep_linear, target, {CAPSTONE_DEPTH: eps}, PROBE_STEPS),
            name="train_deep_linear",
        )
    if not run.ok:
        return None
    course = identity_init_spectra(target, CAPSTONE_DEPTH, eps, CAPSTONE_ETA, PROBE_STEPS)
    return float((run.value[CAPSTONE_DEPTH] - course).abs().max())


def _over_targets(eps: float, seeds, steps: int) -> dict:
    """The course's trainer at the student's eps on every target: separation per depth and
    whether all three modes pass half way at depth 3 within ``steps``."""
    scales = _depth_scales(eps)
    separations = {depth: [] for depth in scales}
    in_time = []
    for seed in seeds:
        target = capstone_target(int(seed))
        for depth, scale in scales.items():
            spectra = identity_init_spectra(target, depth, scale, CAPSTONE_ETA, steps)
            separations[depth].append(separation_of(spectra))
            if depth == CAPSTONE_DEPTH:
                halves = half_way_iteration(spectra[:, : len(CAPSTONE_SPECTRUM)], CAPSTONE_SPECTRUM)
                in_time.append(None not in halves)
    separated = [x is not None and x < SEPARATED for x in separations[CAPSTONE_DEPTH]]
    works = sum(a and b for a, b in zip(separated, in_time, strict=True))
    return {"separation": separations, "in_time": sum(in_time), "separated": sum(separated),
            "works": works}  # fmt: skip


def _range(values) -> str:
    known = [x for x in values if x is not None]
    if not known:
        return "never (mode 1 not at 90%)"
    low, high = min(known), max(known)
    text = f"{low:.2g}" if f"{low:.2g}" == f"{high:.2g}" else f"{low:.2g} to {high:.2g}"
    return text if len(known) == len(values) else f"{text} ({len(values) - len(known)} never)"


def _draw(axis, depth, scale, shown, course, who, steps):
    """One depth's panel: the course's trainer (thick, light), the shown run (dashed), the
    aligned mode ODE (thin, dotted) from the same m0."""
    k = len(CAPSTONE_SPECTRUM)
    times = torch.arange(steps + 1, dtype=torch.float64)
    m0 = scale**depth
    for mode, s in enumerate(CAPSTONE_SPECTRUM):
        color = f"C{mode}"
        ode = integrate_deep_mode(s, m0, depth, CAPSTONE_ETA, times)
        axis.plot(times, course[:, mode], color=color, lw=3, alpha=0.35,
                  label=f"course's trainer, s={s:g}")  # fmt: skip
        axis.plot(times, shown[:, mode], color=color, lw=1.2, ls="--",
                  label=f"$\\sigma_{mode + 1}$ ({who})")  # fmt: skip
        axis.plot(times, ode, color=color, lw=0.8, ls=":")
    axis.plot(times, shown[:, k:], color="0.6", lw=0.8)
    axis.set(xlabel="gradient step", ylabel="singular values of $W_{L:1}$",
             title=f"depth {depth}, every layer at {scale:.3g} (m0 = {m0:.2g})")  # fmt: skip


@small_work()
def capstone_demo(
    train_deep_linear, choose_eps=None, *, seeds=TARGET_SEEDS, steps: int = CAPSTONE_STEPS
):
    """The student's trainer at the student's ``eps`` on a non-symmetric target.

    Target :func:`capstone_target` (seed ``seeds[0]``, 6 x 6, singular values 1, 0.5, 0.25);
    depth 3 from ``W_l(0) = eps I`` with eps = ``choose_eps()``, depth 2 from the same
    end-to-end ``m0 = eps^3``; step eta = 0.02 on the summed loss, ``steps`` steps. Left two
    panels: the course's trainer (thick, light), the student's singular values (dashed), the
    aligned mode ODE (dotted). Right: the largest gap between the student's and the course's
    singular values at each step (log scale). Prints, per depth, that gap, the half-way steps
    and the separation; if the student's trainer fails or disagrees, whether it agrees on a
    symmetric target (then the order or transposes of the products are wrong); and, with the
    course's trainer over ``seeds`` targets, whether eps makes learning incremental (separation
    below 0.05 at depth 3) and learns all three modes within ``steps``. Returns all of it.
    """
    seeds = list(seeds)
    eps, chosen = _chosen_eps(choose_eps)
    scales = _depth_scales(eps)
    target = capstone_target(seeds[0])
    run = run_student_code(
        lambda: _student_spectra(train_deep_linear, target, scales, steps),
        name="train_deep_linear",
    )
    k = len(CAPSTONE_SPECTRUM)
    summary = {"student_ran": run.ok, "eps": eps, "chosen": chosen, "gap_to_course": {},
               "half_way": {}, "separation": {}}  # fmt: skip
    figure, axes = demo_figure(3, 13, 3.8)
    who = "yours" if run.ok else "the course's trainer"
    for axis, (depth, scale) in zip(axes[:2], scales.items(), strict=True):
        course = identity_init_spectra(target, depth, scale, CAPSTONE_ETA, steps)
        shown = run.value[depth] if run.ok else course
        _draw(axis, depth, scale, shown, course, who, steps)
        summary["half_way"][depth] = half_way_iteration(shown[:, :k], CAPSTONE_SPECTRUM)
        summary["separation"][depth] = separation_of(shown)
        if run.ok:
            gaps = (run.value[depth] - course).abs().amax(dim=1).clamp_min(1e-17)
            summary["gap_to_course"][depth] = float(gaps.max())
            axes[2].semilogy(gaps, label=f"depth {depth}")
        else:
            summary["gap_to_course"][depth] = math.inf
    axes[0].legend(fontsize=6, loc="center right")
    axes[2].axhline(AGREE, color="gray", lw=0.8, ls=":", label="1e-8")
    axes[2].set(xlabel="gradient step", ylabel="largest |yours - course's|",
                title="your trainer vs the course's")  # fmt: skip
    if not run.ok:
        axes[2].text(0.5, 0.5, "no values from your trainer", ha="center",
                     transform=axes[2].transAxes)  # fmt: skip
    axes[2].legend(fontsize=7)
    figure.suptitle(f"M = U diag{CAPSTONE_SPECTRUM} V^T, not symmetric (d = {target.shape[0]}), "
                    f"eta = {CAPSTONE_ETA:g}, eps = {eps:g}")  # fmt: skip
    show_figure(figure)

    print(f"M = U diag{CAPSTONE_SPECTRUM} V^T (U, V independent rotations: not symmetric), "
          f"eta = {CAPSTONE_ETA:g} on the summed loss, {steps} steps")  # fmt: skip
    whose = "your" if run.ok else "the course's"
    for depth, scale in scales.items():
        gap = summary["gap_to_course"][depth]
        mine = "below 1e-8" if gap < AGREE else f"{gap:.2g}"
        mine = f"yours vs the course's trainer, largest gap {mine}; " if run.ok else ""
        separation = summary["separation"][depth]
        print(f"  L={depth} (every layer {scale:.3g}): {mine}half-way steps ({whose} run) "
              f"{summary['half_way'][depth]}; separation "
              f"{'never' if separation is None else f'{separation:.2g}'}")  # fmt: skip
    summary["agree"] = run.ok and all(gap < AGREE for gap in summary["gap_to_course"].values())
    failed_by_you = not run.ok and "not written yet" not in (run.message or "")
    summary["symmetric_gap"] = None
    if run.ok and summary["agree"]:
        print("your trainer agrees with the course's at both depths (gaps below 1e-8).")
    elif run.ok or failed_by_you:
        summary["symmetric_gap"] = probe = _symmetric_probe(train_deep_linear, eps)
        if probe is not None and probe < AGREE:
            print("your trainer does NOT agree with the course's here, but it does on a symmetric "
                  "target Q diag(s) Q^T, where all layers commute: the order or the transposes "
                  "of the products in the gradient are wrong (W_{L:l+1}^T on the left of the "
                  "residual, W_{l-1:1}^T on its right). Run the check for details.")  # fmt: skip
        else:
            print("your trainer does NOT agree with the course's (on a symmetric target "
                  "either): run the check to see which step is wrong.")  # fmt: skip
    verdict = _over_targets(eps, seeds, steps)
    summary["over_targets"] = verdict
    names = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}-{seeds[-1]}"
    print(f"the course's trainer at eps = {eps:g} on {len(seeds)} target(s) ({names}):")
    for depth in scales:
        print(f"  L={depth}: separation {_range(verdict['separation'][depth])}")
    n = len(seeds)
    print(f"  L={CAPSTONE_DEPTH}: separated (below {SEPARATED:g}) on {verdict['separated']} of "
          f"{n}, all three modes half way by step {steps} on {verdict['in_time']} of {n}: "
          f"eps = {eps:g} does both on {verdict['works']} of {n}")  # fmt: skip
    if verdict["separated"] < n:
        print("  -> eps too large for sharp stages: mode 2 is already on its way.")
    if verdict["in_time"] < n:
        print(f"  -> eps too small for the budget: the weakest mode waits past step {steps}.")
    return summary
