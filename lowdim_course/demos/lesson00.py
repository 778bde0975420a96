"""Lesson 00 demo: a first look at the original and the compressed network on one problem."""

from __future__ import annotations

from ..comparison import compare
from ..plots import plot_error_curves, show_figure
from ..threads import small_work


@small_work()
def first_look(depth: int = 3, eps: float = 0.03, steps: int = 1500, d: int = 30, r: int = 3):
    """Train both networks on a small factorization problem; plot and print their errors.

    The learning rate follows the course's scaling ``lr = 50 (d/100)^(4/3)`` (the course's lr = 50
    at d = 100; see ``benchmarks/run_benchmarks.py``). Returns the comparison's summary dict.
    """
    lr = 50.0 * (d / 100) ** (4 / 3)
    result = compare("mf", d=d, r=r, depth=depth, eps=eps, steps=steps, lr=lr, tol=0.0)
    figure = plot_error_curves(
        {"original": result.original, "compressed": result.compressed},
        title=f"d={d}, r={r}, depth L={depth}, eps={eps:.3g}",
    )
    show_figure(figure)
    summary = result.to_dict()
    for side in ("original", "compressed"):
        values = summary[side]
        print(
            f"{side:>10}: {values['params']:>6,} parameters, "
            f"final error {values['final_error']:.2e}, "
            f"iterations to 1e-4: {values['iterations_to_1e-4']}"
        )
    return summary
