"""Lesson 00 demo: a first look at the original and the compressed network on one problem.

The learning rate is the course's ``lr = 50 (d/100)^(4/3)`` on the mean loss, except where the
step check of Lesson 04 fails. With ``eta = lr / d^2`` the step on the summed loss, a mode of
strength s near its end point is multiplied at each step by ``1 - eta L s^(2-2/L)``, so gradient
descent is stable only while ``eta L s_1^(2-2/L) < 2`` (s_1 the target's largest singular
value). At d = 30, r = 3 the course's rate gives 0.75 at depth 3, 1.47 at depth 4 and 2.31 at
depth 5: at depth 5 the top mode overshoots and nothing is learned for any init scale. So the
demo lowers ``lr`` to the value where the check equals ``STEP_CHECK_LIMIT`` = 1.8 (Lesson 04's
margin of 0.2 below the edge) when the course's rate would pass it; below it, it keeps the
course's rate.
"""

from __future__ import annotations

import torch

from ..comparison import compare
from ..plots import plot_error_curves, show_figure
from ..problems import course_learning_rate, spread_spectrum_target
from ..theory.invariant_subspace import EDGE_MARGIN, STEP_EDGE, mode_step_stability
from ..threads import small_work
from ..validation import check_float, check_int

STEP_CHECK_LIMIT = STEP_EDGE - EDGE_MARGIN  # 1.8, the margin Lessons 03 and 04 keep


def demo_rate(depth: int, d: int, r: int, seed: int = 0) -> dict:
    """The rate :func:`first_look` uses and the step checks behind it.

    Returns ``course_lr`` and its ``course_check``, and ``lr`` and its ``check``: the course's
    rate where its check is at most ``STEP_CHECK_LIMIT``, else the rate whose check equals it.
    """
    depth = check_int("depth", depth, low=2)
    top = float(torch.linalg.svdvals(spread_spectrum_target(d, r, seed=seed))[0])
    course_lr = course_learning_rate(d)
    course_check = mode_step_stability(top, course_lr / d**2, depth)
    lr = course_lr * min(1.0, STEP_CHECK_LIMIT / course_check)
    return {
        "course_lr": course_lr,
        "course_check": course_check,
        "lr": lr,
        "check": mode_step_stability(top, lr / d**2, depth),
        "top": top,
    }


@small_work()
def step_check_table(d: int = 30, r: int = 3, depths=(2, 3, 4, 5)) -> list[dict]:
    """Print, per depth, the course's rate's step check and the rate the demo uses (no training)."""
    rows = [{"depth": depth, **demo_rate(depth, d, r)} for depth in depths]
    print(f"d={d}, r={r}: s_1 = {rows[0]['top']:.2f}, the course's lr = {rows[0]['course_lr']:.2f}")
    print("depth   step check at the course's lr   lr the demo uses   its step check")
    for row in rows:
        print(
            f"  {row['depth']}     {row['course_check']:>17.2f}       {row['lr']:>13.2f}"
            f"   {row['check']:>14.2f}"
        )
    print(f"(the demo lowers lr where the check would pass {STEP_CHECK_LIMIT:g})")
    return rows


@small_work()
def first_look(
    depth: int = 3,
    eps: float = 0.03,
    steps: int = 1500,
    d: int = 30,
    r: int = 3,
    lr: float | None = None,
):
    """Train both networks on a small factorization problem; plot and print their errors.

    ``lr`` (the step on the mean loss) defaults to :func:`demo_rate`'s: the course's scaling
    ``lr = 50 (d/100)^(4/3)`` (see ``benchmarks/run_benchmarks.py``), lowered where the step
    check ``eta L s_1^(2-2/L)`` would pass 1.8. Returns the comparison's summary dict.
    """
    if lr is None:
        lr = demo_rate(depth, d, r)["lr"]
    lr = check_float("lr", lr, low=0.0, low_open=True)
    result = compare("mf", d=d, r=r, depth=depth, eps=eps, steps=steps, lr=lr, tol=0.0)
    figure = plot_error_curves(
        {"original": result.original, "compressed": result.compressed},
        title=f"d={d}, r={r}, depth L={depth}, eps={eps:.3g}, lr={lr:.3g}",
    )
    show_figure(figure)
    summary = result.to_dict()
    print(f"lr = {lr:.2f} (the step on the mean loss)")
    for side in ("original", "compressed"):
        values = summary[side]
        print(
            f"{side:>10}: {values['params']:>6,} parameters, "
            f"final error {values['final_error']:.2e}, "
            f"iterations to 1e-4: {values['iterations_to_1e-4']}"
        )
    return summary
