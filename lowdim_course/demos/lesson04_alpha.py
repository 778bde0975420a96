"""Lesson 04, the discrepant learning rate: alpha on the end layers of a compressed network.

Kwon et al. (2024, Sec. 3.2) let the first and last layers step with ``alpha * lr``; their
completion experiments use alpha = 5. ``discrepant_rate`` draws one small completion problem at
a chosen alpha; ``alpha_over_seeds`` counts, over ten seeds, how the iterations to 1e-4 fall
with alpha and where they stall; ``width_over_seeds`` compares r_hat = r with the paper's
r_hat = 2r on the same problem at alpha = 5, at several observed fractions p.
"""

from __future__ import annotations

import functools
import itertools

from ..comparison import REPORTED_ERROR as TARGET_ERROR
from ..networks import compressed_network, original_network
from ..plots import STYLE, demo_figure, show_figure
from ..problems import make_problem
from ..spread import format_mean_sd, mean_sd
from ..threads import small_work
from ..training import train

# The small completion problem of the alpha demo: fast on a laptop, and alpha visibly matters.
MC_SETTINGS = {"d": 30, "r": 2, "p": 0.5, "lr": 5.0, "depth": 3, "eps": 1e-2, "steps": 4000}
ALPHAS = (1.0, 2.0, 5.0, 8.0, 10.0)
# Ten seeds for alpha: the failures near alpha = 10 come in some seeds, not all.
ALPHA_SEEDS = tuple(range(10))


def _mean_sd(values, digits: int = 2) -> str:
    return format_mean_sd(mean_sd(values) if values else None, digits)


# width_over_seeds: the observed fractions (0.5 is MC_SETTINGS'; at 0.2 recovery often fails)
WIDTH_PS = (0.5, 0.3, 0.2)
# a run "recovers" the target when its final recovery error is below this
RECOVERED = 1e-2


@functools.lru_cache(maxsize=128)
def _completion_run(network: str, alpha: float, seed: int = 0, p=None, r_hat=None):
    settings = MC_SETTINGS
    p = settings["p"] if p is None else p
    problem = make_problem("mc", d=settings["d"], r=settings["r"], p=p, seed=seed)
    if network == "original":
        model = original_network(settings["d"], settings["depth"], settings["eps"], seed=seed)
    else:
        width = 2 * settings["r"] if r_hat is None else r_hat
        model = compressed_network(problem.surrogate(), width, settings["depth"], settings["eps"])
    return train(
        problem, model, lr=settings["lr"], alpha=alpha, steps=settings["steps"], tol=1e-12
    )  # fmt: skip


@small_work()
def discrepant_rate(alpha: float = 5.0):
    """Matrix completion (d=30, r=2, half the entries seen): alpha on the end layers.

    The original network (alpha = 1) and the compressed one at alpha = 1 are drawn for
    reference; each run stops when the training loss is below 1e-12 (or after 4,000 steps).
    """
    original = _completion_run("original", 1.0)
    baseline = _completion_run("compressed", 1.0)
    chosen = _completion_run("compressed", float(alpha))
    figure, (ax,) = demo_figure(1, 6.5, 3.6, title=False)
    ax.semilogy(original.recovery_error, **STYLE["original"])
    ax.semilogy(baseline.recovery_error, color="0.5", ls="--", label=r"compressed, $\alpha=1$")
    ax.semilogy(
        chosen.recovery_error, color=STYLE["compressed"]["color"],
        label=rf"compressed, $\alpha={alpha:.3g}$",
    )  # fmt: skip
    ax.axhline(TARGET_ERROR, color="0.6", lw=0.6)
    ax.set(xlabel="iteration", ylabel=r"$\|W - M^*\|_F / \|M^*\|_F$")
    ax.set_title(r"completion, d=30, r=2, p=0.5: end layers step with $\alpha \cdot$ lr")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    show_figure(figure)

    runs = {
        "original": original,
        "compressed, alpha=1": baseline,
        f"compressed, alpha={alpha:.3g}": chosen,
    }
    summary = {
        name: {
            "iterations_to_1e-4": run.iterations_to(TARGET_ERROR),
            "final_error": run.final_error,
            "stopped": run.stopped_reason,
        }
        for name, run in runs.items()
    }
    for name, values in summary.items():
        reached = values["iterations_to_1e-4"]
        print(
            f"{name:>22}: iterations to 1e-4 {'not reached' if reached is None else reached:>11}"
            f", final error {values['final_error']:.2e}"
        )
    return summary


@small_work()
def alpha_over_seeds(alphas=ALPHAS, seeds=ALPHA_SEEDS, original_alphas=(1.0, 5.0)) -> dict:
    """``discrepant_rate``'s completion problem over ``seeds`` (target, mask, initialization).

    Prints the iterations to 1e-4 of the original network at each of ``original_alphas`` (the
    control: does alpha help a network with no surrogate?) and of the compressed one at each of
    ``alphas``: mean +- sd over the seeds that reach it, and in how many seeds it is reached.
    """
    runs = {
        ("original" if alpha == 1.0 else f"original, alpha={alpha:g}"): [
            _completion_run("original", float(alpha), int(seed)) for seed in seeds
        ]
        for alpha in original_alphas
    }
    for alpha in alphas:
        runs[f"compressed, alpha={alpha:g}"] = [
            _completion_run("compressed", float(alpha), int(seed)) for seed in seeds
        ]  # fmt: skip
    settings = MC_SETTINGS
    print(f"completion d={settings['d']}, r={settings['r']}, p={settings['p']}, "
          f"at most {settings['steps']:,} steps, {len(seeds)} seeds")  # fmt: skip
    summary = {}
    for name, histories in runs.items():
        reached = [h.iterations_to(TARGET_ERROR) for h in histories]
        hits = [it for it in reached if it is not None]
        summary[name] = {"iterations_to_1e-4": reached,
                         "final_errors": [h.final_error for h in histories]}  # fmt: skip
        print(f"{name:>22}: iterations to 1e-4 {_mean_sd(hits, digits=0):>11}, reached in "
              f"{len(hits):>2} of {len(seeds)} seeds")  # fmt: skip
    per_seed = zip(*(summary[f"compressed, alpha={alpha:g}"]["iterations_to_1e-4"]
                     for alpha in sorted(alphas)), strict=True)  # fmt: skip
    falling = sum(_strictly_falling([it for it in row if it is not None]) for row in per_seed)
    summary["seeds_faster_with_every_larger_alpha"] = falling
    print(f"iterations fall with every larger alpha (among the runs that reach 1e-4) in {falling} "
          f"of {len(seeds)} seeds")  # fmt: skip
    return summary


def _strictly_falling(values) -> bool:
    return all(later < earlier for earlier, later in itertools.pairwise(values))


@small_work()
def width_over_seeds(ps=WIDTH_PS, seeds=ALPHA_SEEDS, alpha: float = 5.0) -> dict:
    """The compressed network at r_hat = r and r_hat = 2r (the paper's choice) on
    ``discrepant_rate``'s completion problem with a fraction ``p`` observed, over ``seeds``.

    Is the extra width slack for an inexact surrogate (the surrogate is noisier at smaller p)?
    Prints per p and width: in how many seeds the error reaches 1e-4, the iterations it takes
    (mean +- sd over those seeds), and in how many the final error is below ``RECOVERED``; then,
    per p, the range over the seeds where both widths reach 1e-4 of (iterations at 2r) minus
    (iterations at r).
    """
    r = MC_SETTINGS["r"]
    widths = (r, 2 * r)
    print(f"completion d={MC_SETTINGS['d']}, r={r}, alpha={alpha:g}, at most "
          f"{MC_SETTINGS['steps']:,} steps, {len(seeds)} seeds")  # fmt: skip
    print("   p   r_hat   iterations to 1e-4   reached 1e-4   final error below 1e-2")
    summary = {}
    for p in ps:
        rows = {}
        for width in widths:
            runs = [_completion_run("compressed", float(alpha), int(seed), float(p), width)
                    for seed in seeds]  # fmt: skip
            reached = [h.iterations_to(TARGET_ERROR) for h in runs]
            hits = [it for it in reached if it is not None]
            recovered = sum(h.final_error < RECOVERED for h in runs)
            rows[width] = {"iterations_to_1e-4": reached, "recovered": recovered,
                           "final_errors": [h.final_error for h in runs]}  # fmt: skip
            print(f"{p:>4g}   {width:>5}   {_mean_sd(hits, digits=0):>18}   "
                  f"{len(hits):>5} of {len(seeds)}   {recovered:>11} of {len(seeds)}")  # fmt: skip
        pairs = zip(rows[widths[1]]["iterations_to_1e-4"], rows[widths[0]]["iterations_to_1e-4"],
                    strict=True)  # fmt: skip
        differences = [wide - narrow for wide, narrow in pairs if None not in (wide, narrow)]
        rows["differences"] = differences
        summary[p] = rows
        if differences:
            print(f"      p = {p:g}: r_hat = {widths[1]} takes {min(differences):+d} to "
                  f"{max(differences):+d} iterations more than r_hat = {widths[0]} "
                  f"({len(differences)} seeds where both reach 1e-4)")  # fmt: skip
    return summary
