"""Lesson 03 demos: training a deep linear network happens in a small, fixed subspace.

Yaras et al. (2023), Thm. 1, and Kwon et al. (2024), Sec. 3: for matrix factorization with a
rank-r target and ``W_l(0) = eps O_l``, gradient descent keeps
``W_l(t) = U_l diag(W~_l(t), rho(t) I_{d-2r}) V_l^T``. Both demos train one original network
(the core's ``train`` with ``record_layers=True``) and read the structure off its snapshots with
``lowdim_course.theory.invariant_subspace``; the same slider values reuse the same run.
:func:`capstone_demo` runs the student's measurement (capstone ``03.measure_layer``) on every
layer and checkpoint of that run and draws it against the recursion for rho(t) and 2r.
"""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import torch

from ..plots import demo_figure, show_figure
from ..problems import course_learning_rate, make_problem
from ..random_matrices import gaussian, make_generator
from ..theory.invariant_subspace import (
    EDGE_MARGIN,
    STEP_EDGE,
    mode_step_stability,
    moved_part,
    principal_angles,
    rho_trajectory,
)
from ..threads import small_work
from .lesson03_capstone import capstone_demo, subspace_run

# Principal angles below this are "zero": exact in theory, rounding in practice. The early
# moved part is tiny, so its rounding error is amplified: at the defaults the drift is 4e-10
# here and 1e-6 when every product and reduction is off by 1e-12 relative (another processor,
# harshly: rounding.RoundingPerturbation), which an older threshold of 1e-6 let flip the
# printed verdict. A subspace that really moved turns by order-one angles (a random one: 1.45).
ANGLE_ZERO = 1e-4
# A target direction counts as found once its principal angle is below this (radians).
ANGLE_FOUND = 0.1
# The step check (Lesson 04): the top mode settles at s_1^(1/L) only when eta L s_1^(2-2/L) is
# below STEP_EDGE; within EDGE_MARGIN of it the mode still rings at the end of a run and rounding
# can decide the outcome. With the course's lr = 50 (d/100)^(4/3) the number is 0.21-0.25 at
# L = 2, 0.71-0.80 at L = 3, 1.38-1.66 at L = 4 and 2.15-2.71 at L = 5 over the sliders' widths
# d = 20-60 and ranks r = 1-8 (:func:`step_checks` prints r = 3): the depth slider stops at 4.


_TOO_EARLY = (
    "note: the moved part is still at the level of rounding errors in some checkpoints, so its "
    "rank and subspaces cannot be measured yet: with this depth and eps learning has not "
    "started (raise eps or the steps)"
)


def step_check(d: int, r: int, depth: int, seed: int = 0) -> float:
    """``eta L s_1^(2-2/L)`` for the lesson's run: the top mode settles only below 2.

    ``eta = lr / d^2`` with the course's ``lr`` (``course_learning_rate``) and ``s_1`` the largest
    singular value of the run's target (``theory.invariant_subspace.mode_step_stability``, the
    linearised recursion of the top mode at its end point; Lesson 04).
    """
    problem = make_problem("mf", d=d, r=r, seed=seed)
    top = float(torch.linalg.svdvals(problem.target)[0])
    return mode_step_stability(top, course_learning_rate(d) / d**2, depth)


def _edge_warning(number: float) -> str | None:
    if number <= STEP_EDGE - EDGE_MARGIN:
        return None
    return (
        f"warning: the step check is at or past the edge (above {STEP_EDGE - EDGE_MARGIN:g}): "
        "the top mode overshoots instead of settling, the error stays large or the run "
        "diverges, and rounding decides which; take a smaller depth (Lesson 04)"
    )


@small_work()
def step_checks(ds=(20, 30, 40, 60), depths=(2, 3, 4, 5), r: int = 3) -> dict:
    """The step check ``eta L s_1^(2-2/L)`` of the lesson's runs, per width d and depth L.

    Prints one row per depth and returns ``{depth: [number per d]}``; the sliders' depths are
    those whose every number is at most ``STEP_EDGE - EDGE_MARGIN``.
    """
    table = {int(depth): [step_check(int(d), r, int(depth)) for d in ds] for depth in depths}
    print("step check eta L s_1^(2-2/L), lr = 50 (d/100)^(4/3), eta = lr/d^2 (settles below 2):")
    print("depth L | " + " | ".join(f"d = {d:>2}" for d in ds))
    for depth, numbers in table.items():
        edge = " <- past the edge" if max(numbers) > STEP_EDGE - EDGE_MARGIN else ""
        print(f"{depth:>7} | " + " | ".join(f"{n:>6.2f}" for n in numbers) + edge)
    return table


@small_work()
def singular_value_waterfall(
    d: int = 30, r: int = 3, depth: int = 3, eps: float = 0.1, steps: int = 600
):
    """The singular values of every layer over training, against rho(t) and the counts.

    Left: the spectrum of the middle layer at successive checkpoints (a waterfall, light to
    dark); centre: every layer's singular values against iteration, with the recursion's rho(t)
    dashed; right: per layer, how many singular values equal rho(t) and the rank of the moved
    part ``W_l(t) - (rho/eps) W_l(0)``. Prints and returns the numbers at the last checkpoint.
    """
    stability = step_check(d, r, depth)
    problem, history, report = subspace_run(d, r, depth, eps, steps)
    spectra = torch.stack([torch.stack(layers) for layers in history.layer_singular_values])
    iterations = history.log_iterations
    eta = report.eta
    rho = rho_trajectory(eps, eta, depth, iterations[-1])
    middle = depth // 2  # index of the layer drawn in the waterfall

    figure, axes = demo_figure(3, 13)
    colors = plt.cm.viridis(torch.linspace(0.9, 0.0, len(iterations)).numpy())
    index = torch.arange(1, d + 1)
    for spectrum, color in zip(spectra[:, middle], colors, strict=True):
        axes[0].semilogy(index, spectrum, color=color, lw=1)
    cluster = _cluster(spectra[-1, middle], d - 2 * r)
    if cluster is not None:  # shade the indices of the d - 2r singular values at rho
        first = d - cluster[1] - (d - 2 * r) + 1
        axes[0].axvspan(first - 0.5, first + d - 2 * r - 0.5, color="0.9", zorder=0)
    axes[0].axhline(float(rho[-1]), color="k", ls="--", lw=1, label=r"$\rho(T)$")
    axes[0].set(
        xlabel="index i (largest first)",
        ylabel=rf"$\sigma_i(W_{{{middle + 1}}})$",
        title=f"spectrum of $W_{{{middle + 1}}}$, light = early",
    )
    axes[0].legend(loc="upper right")

    for layer in range(depth):
        axes[1].semilogy(iterations, spectra[:, layer], color=f"C{layer}", lw=0.8, alpha=0.7)
    axes[1].semilogy(rho, color="k", ls="--", lw=1.5, label=r"$\rho(t)$ (recursion)")
    axes[1].set(xlabel="iteration", ylabel="singular values", title="all layers over training")
    axes[1].legend(loc="center right")

    for layer in range(depth):
        axes[2].step(
            iterations, report.at_rho[:, layer], where="post", color=f"C{layer}",
            label=r"# equal to $\rho(t)$" if layer == 0 else None,
        )  # fmt: skip
        axes[2].step(
            iterations, report.moved_rank[:, layer], where="post", color=f"C{layer}", ls=":",
            label="rank of moved part" if layer == 0 else None,
        )  # fmt: skip
    for level, text in ((d - 2 * r, "d - 2r"), (2 * r, "2r")):
        axes[2].axhline(level, color="0.6", lw=0.6)
        axes[2].annotate(text, (iterations[-1], level), ha="right", va="bottom", color="0.4")
    axes[2].set(xlabel="iteration", ylabel="count", ylim=(-1, d + 2), title="per layer")
    axes[2].legend(loc="center right")
    figure.suptitle(f"d={d}, r={r}, depth L={depth}, eps={eps:.3g}, eta=lr/d^2={eta:.3g}")
    show_figure(figure)

    target_values = torch.linalg.svdvals(problem.target)[:r]
    learned = spectra[-1, middle, :r]
    after_start = slice(1, None)
    summary = {
        "at_rho": report.at_rho[-1].tolist(),
        "moved_rank": report.moved_rank[-1].tolist(),
        "at_rho_always": bool((report.at_rho[after_start] == d - 2 * r).all()),
        "moved_rank_always": bool((report.moved_rank[after_start] == 2 * r).all()),
        "rho_final": float(rho[-1]),
        "measured_rho": None if cluster is None else cluster[0],
        "learned": learned.tolist(),
        "predicted_learned": (target_values ** (1 / depth)).tolist(),
        "final_error": history.final_error,
        "eta": eta,
        "iterations": iterations[-1],
        "step_check": stability,
    }
    print(f"after {iterations[-1]} steps (eta = {eta:.3g}), per layer W_1 ... W_{depth}:")
    print(f"  singular values equal to rho(t):  {summary['at_rho']}  (d - 2r = {d - 2 * r})")
    print(f"  rank of W_l(t) - (rho/eps) W_l(0): {summary['moved_rank']}  (2r = {2 * r})")
    print(
        f"  the same at every checkpoint after t = 0: {summary['at_rho_always']} "
        f"and {summary['moved_rank_always']}"
    )
    if not summary["moved_rank_always"]:
        print(_TOO_EARLY)
    if summary["measured_rho"] is not None:
        print(
            f"rho(T) from the recursion {_sig(summary['rho_final'])}, "
            f"measured {_sig(summary['measured_rho'])} (started at eps = {_sig(eps)})"
        )
    print(
        f"top {r} singular values of W_{middle + 1}: {_sigs(summary['learned'])}; "
        f"target's s_i^(1/L): {_sigs(summary['predicted_learned'])}"
    )
    print(f"recovery error {summary['final_error']:.2e}")
    print(f"step check: eta L s_1^(2-2/L) = {stability:.2f} (the top mode settles only below 2)")
    warning = _edge_warning(stability)
    if warning:
        print(warning)
    return summary


@small_work()
def moving_subspaces(d: int = 30, r: int = 3, depth: int = 3, eps: float = 0.1, steps: int = 600):
    """Where the layers move is fixed from the first step; what they have learned is not.

    Left: the largest principal angle between the column space of layer l's moved part
    ``W_l(t) - (rho/eps) W_l(0)`` at each checkpoint and at the end (zero up to rounding),
    and between the column space of W_l's moved part and the row space of W_{l+1}'s (the chain
    ``V_{l+1} = U_l``); a random 2r-dimensional subspace for scale. Right: the r principal
    angles between the top-r left singular subspace of ``W_{L:1}(t)`` and the target's
    column space: they close one at a time, as the modes are learned.
    """
    warning = _edge_warning(step_check(d, r, depth))
    problem, history, report = subspace_run(d, r, depth, eps, steps)
    iterations = history.log_iterations
    snapshots = history.layer_snapshots
    rho = report.rho.tolist()

    def moved(log, layer):
        return moved_part(snapshots[log][layer], snapshots[0][layer], rho[log], eps)

    def angles(a, b):
        return principal_angles(a, b, rtol=1e-9)

    final = [moved(-1, layer) for layer in range(depth)]
    drift = torch.tensor(
        [
            [float(angles(moved(log, layer), final[layer]).max()) for layer in range(depth)]
            for log in range(1, len(iterations) - 1)
        ]
    )
    chain = max(
        float(angles(final[layer], final[layer + 1].mT).max()) for layer in range(depth - 1)
    )
    random_space = gaussian(d, 2 * r, make_generator(1))
    random_angle = float(angles(final[0], random_space).max())

    u_target = torch.linalg.svd(problem.target)[0][:, :r]
    learned = []
    for layers in snapshots:
        end_to_end = functools.reduce(lambda product, w: w @ product, layers)
        learned.append(angles(torch.linalg.svd(end_to_end)[0][:, :r], u_target))
    learned = torch.stack(learned)  # (logs, r), ascending per row
    found = [
        next((iterations[j] for j in range(len(iterations)) if learned[j, k] < ANGLE_FOUND), None)
        for k in range(r)
    ]

    figure, axes = demo_figure(2, 11)
    floor = 1e-16
    for layer in range(depth):
        axes[0].semilogy(
            iterations[1:-1], drift[:, layer].clamp(min=floor), color=f"C{layer}", marker=".",
            label=f"$W_{{{layer + 1}}}$: moved part at t vs at T",
        )  # fmt: skip
    axes[0].axhline(random_angle, color="k", ls="--", lw=1, label="a random 2r-dim subspace")
    axes[0].set(
        ylim=(floor / 2, 3), xlabel="iteration", ylabel="largest principal angle (rad)",
        title="where the layers move: fixed from the start",
    )  # fmt: skip
    axes[0].legend(fontsize=8, loc="center right")
    for k in range(r):
        color = plt.cm.plasma(k / r)
        axes[1].plot(iterations, learned[:, k], color=color, lw=1.5, label=f"angle {k + 1}")
    axes[1].axhline(ANGLE_FOUND, color="0.5", lw=0.6)
    axes[1].set(
        xlabel="iteration", ylabel="principal angle (rad)",
        title=r"what $W_{L:1}$ has learned: top-r subspace vs target's",
    )  # fmt: skip
    axes[1].legend(fontsize=8)
    figure.suptitle(f"d={d}, r={r}, depth L={depth}, eps={eps:.3g}")
    show_figure(figure)

    summary = {
        "largest_drift": float(drift.max()),
        "drift_is_zero": bool(drift.max() < ANGLE_ZERO),
        "largest_chain_angle": chain,
        "chain_is_zero": bool(chain < ANGLE_ZERO),
        "random_angle": random_angle,
        "found_at": found,
        "learned_angles_final": learned[-1].tolist(),
    }
    print(
        f"moved subspaces, checkpoint t vs end, every layer: largest angle < {ANGLE_ZERO:g} rad: "
        f"{summary['drift_is_zero']}"
    )
    print(
        f"column space of moved W_l = row space of moved W_(l+1) (angle < {ANGLE_ZERO:g}): "
        f"{summary['chain_is_zero']}"
    )
    if not bool((report.moved_rank[1:] == 2 * r).all()):
        print(_TOO_EARLY)
    print(f"for scale, a random {2 * r}-dim subspace: largest angle {_sig(random_angle)} rad")
    print(f"iterations at which 1, 2, ..., r target directions are found (angle < {ANGLE_FOUND}):")
    print(f"  {found}")
    if warning:
        print(warning)
    return summary


def _cluster(values, size: int) -> tuple[float, int] | None:
    """The ``size`` values closest together (the d - 2r copies of rho): their mean, and where
    they start in ascending order (None if ``size`` is 0)."""
    if size < 1:
        return None
    ordered = torch.sort(values).values
    spreads = ordered[size - 1 :] - ordered[: len(ordered) - size + 1]
    start = int(torch.argmin(spreads))
    return float(ordered[start : start + size].mean()), start


def _sig(value: float) -> str:
    """Three significant digits."""
    return f"{value:.3g}"


def _sigs(values) -> str:
    return "[" + ", ".join(_sig(v) for v in values) + "]"


__all__ = [
    "EDGE_MARGIN",
    "STEP_EDGE",
    "capstone_demo",
    "course_learning_rate",
    "moving_subspaces",
    "singular_value_waterfall",
    "step_check",
    "step_checks",
    "subspace_run",
]
