"""Lesson 06 demos: a deep linear block inside a nonlinear network (Kwon et al. 2024, Sec. 5).

* ``three_models``: the plain MLP, Original + DLN and Original + C-DLN trained side by side on
  the digits (``lowdim_course.nonlinear.run_nonlinear``), test accuracy against iteration and
  seconds; prints the rounded accuracies and parameter counts and the accuracy half of the
  paper's claim; ``timing_report`` prints the seconds and the measured speed-up (which change
  from machine to machine);
* ``why_compressible``: the surrogate's singular values (rank <= K - 1) and those of how much the
  trained full-width block's end-to-end map moved, ``W_{L:1}(T) - W_{L:1}(0)``;
* ``compressed_block_demo``: the compressed model alone at a width r_hat, a factor alpha and a
  block depth (the panel's positions trained once and shipped, ``lesson06_slider_table``),
  against the cached full-width run;
* ``mnist1d_comparison`` and ``mnist1d_timing`` (in ``lesson06_mnist1d``): the three models on
  MNIST-1D, each at its tuned learning rate, from the shipped table of
  ``benchmarks/nonlinear_sweep.py --data mnist1d``;
* ``claim_over_splits`` and ``claim_timing_over_splits``: the claim's verdict over five data
  splits, its accuracy half (machine-independent) and its time half;
* ``your_compression`` (capstone, in ``lesson06_capstone``): the student's
  ``compress_and_train`` (spectral start from the surrogate, alpha on the first layer) against
  the course's runs with and without the discrepant rate and from a random start, on three
  splits.

The default runs are cached, so a panel opens at once; moving a slider reads the shipped table.
"""

from __future__ import annotations

import functools

import torch

from ..networks import spectral_bases
from ..nonlinear import (
    CLAIM_POINTS,
    CLAIM_SPEEDUP,
    DEFAULTS,
    LABELS,
    ClassifierHistory,
    block_surrogate,
    build_model,
    build_models,
    claim_check,
    load_digits_data,
    plot_accuracy,
    train_models,
)
from ..nonlinear_seeds import SEEDS, accuracy_summary, claim_over_seeds, time_summary
from ..plots import demo_figure, show_figure
from ..spread import format_mean_sd
from ..threads import small_work
from . import lesson06_slider_table
from .lesson06_capstone import your_compression
from .lesson06_mnist1d import COLORS, mnist1d_comparison, mnist1d_timing
from .lesson06_slider_table import compressed_run

__all__ = [  # what the lesson and its tests import from here
    "claim_over_splits",
    "claim_timing_over_splits",
    "compressed_block_demo",
    "mnist1d_comparison",
    "mnist1d_timing",
    "three_models",
    "timing_report",
    "why_compressible",
    "your_compression",
]


@functools.lru_cache(maxsize=2)
def _default_run(steps: int = DEFAULTS["steps"]):
    """The three models at the lesson's defaults, trained side by side (cached)."""
    data = load_digits_data(DEFAULTS["test_fraction"], DEFAULTS["seed"])
    with small_work():
        models, setup = build_models(("mlp", "dln", "cdln"), data, DEFAULTS)
    initial_block = models["dln"].block_end_to_end().clone()
    histories = train_models(
        models,
        data,
        lr=DEFAULTS["lr"],
        alpha=DEFAULTS["alpha"],
        alpha_layers=DEFAULTS["alpha_layers"],
        steps=steps,
        eval_every=DEFAULTS["eval_every"],
        setup_seconds=setup,
    )
    return data, models, histories, initial_block


def _accuracy_line(history) -> str:
    return (
        f"{history.label:>17}: {history.num_params:>7,} parameters "
        f"(block {history.block_params:>6,}), test accuracy {history.final_accuracy:.1f}% "
        f"after {history.steps} steps (best {history.best_accuracy:.1f}%)"
    )


@small_work()
def three_models(steps: int = DEFAULTS["steps"]):
    """Train (or reuse) the three models; plot test accuracy against iteration and seconds.

    Prints what does not depend on the machine: parameters, final and best test accuracy (0.1
    points), the iterations each model needs to come within 0.5 points of Original + DLN's final
    accuracy, and whether C-DLN does. The seconds are in the returned dict (``timing_report``).
    """
    _, _, histories, _ = _default_run(steps)
    figure, axes = demo_figure(2, 10, 3.6)
    plot_accuracy(
        histories,
        axes=axes,
        title=f"digits: w={DEFAULTS['width']}, L={DEFAULTS['depth']}, "
        f"r_hat={DEFAULTS['r_hat']}, alpha={DEFAULTS['alpha']:g}",
    )
    show_figure(figure)
    claim = claim_check(histories)
    for history in histories.values():
        print(_accuracy_line(history))
    target = claim["target_accuracy"]
    print(f"target: Original + DLN's final accuracy minus {CLAIM_POINTS} points = {target:.1f}%")
    for kind in ("mlp", "dln", "cdln"):
        reached = histories[kind].iterations_to(target)
        text = "not reached" if reached is None else f"iteration {reached}"
        print(f"{histories[kind].label:>17} reaches it at {text}")
    gap = claim["accuracy_gap"]
    print(
        f"C-DLN minus DLN, final accuracy on this split: {gap:+.1f} points -> within "
        f"{CLAIM_POINTS} points: {gap >= -CLAIM_POINTS}; parameters "
        f"{claim['params_ratio']:.2f}x fewer (block {claim['block_params_ratio']:.1f}x)"
    )
    return {
        "histories": histories,
        "claim": claim,
        "final_accuracy": {k: h.final_accuracy for k, h in histories.items()},
    }


@small_work()
def timing_report(summary: dict) -> dict:
    """Print the seconds of ``three_models``' run and the measured speed-up (machine-dependent)."""
    histories, claim = summary["histories"], summary["claim"]
    for history in histories.values():
        reached = history.seconds_to(claim["target_accuracy"])
        print(
            f"{history.label:>17}: {history.seconds_per_step * 1e3:6.1f} ms per step, "
            f"{history.seconds[-1]:.2f} s in all (setup {history.setup_seconds:.3f} s), to the "
            f"target {'not reached' if reached is None else f'{reached:.2f} s'}"
        )
    speedup = claim["speedup"]
    print(
        f"speed-up DLN / C-DLN: per step {claim['per_step_speedup']:.2g}x, to the target "
        f"{'-' if speedup is None else f'{speedup:.2g}x'} -> the claim (within {CLAIM_POINTS} "
        f"points, at least {CLAIM_SPEEDUP:g}x faster) holds on this split: {claim['holds']}"
    )
    return {
        "speedup": speedup,
        "per_step_speedup": claim["per_step_speedup"],
        "holds": claim["holds"],
    }


@small_work()
def why_compressible(r_hat: int = DEFAULTS["r_hat"]):
    """Singular values of the surrogate S and of the trained block's change; subspace overlap.

    Left: ``sigma_i(S)``, ``S = -dl/dB at B = 0`` (rank <= K - 1 = 9). Right: ``sigma_i`` of
    ``Delta = W_{L:1}(T) - W_{L:1}(0)`` for the trained Original + DLN: how far its end-to-end
    map moved. Prints how many singular values hold 90% and 99% of ``||Delta||_F^2`` and the
    fraction of ``||Delta||_F^2`` inside a pair of subspaces, ``||U^T Delta V||_F^2 /
    ||Delta||_F^2``: the surrogate's top singular subspaces (its rank, 9: all that S defines),
    the compressed block's starting subspaces (those 9 and ``r_hat - 9`` seeded directions,
    :func:`lowdim_course.networks.spectral_bases`), and what a random pair of ``r_hat``-dim
    subspaces holds on average, ``(r_hat / w)^2``.
    """
    data, models, _, initial_block = _default_run(DEFAULTS["steps"])
    fresh = build_model("mlp", data, width=DEFAULTS["width"], seed=DEFAULTS["seed"])
    surrogate = block_surrogate(fresh, data.x_train, data.y_train)
    s_values = torch.linalg.svdvals(surrogate)
    change = models["dln"].block_end_to_end() - initial_block
    c_values = torch.linalg.svdvals(change)
    energy = torch.cumsum(c_values**2, 0) / (c_values**2).sum()
    k90, k99 = (int((energy < q).sum()) + 1 for q in (0.9, 0.99))
    left, right_t, rank = spectral_bases(surrogate, r_hat, completion_seed=DEFAULTS["seed"] + 1)

    def share(columns):
        projected = left[:, :columns].T @ change @ right_t[:columns].T
        return float(
            torch.linalg.matrix_norm(projected) ** 2 / torch.linalg.matrix_norm(change) ** 2
        )

    inside_surrogate, inside_block = share(rank), share(r_hat)
    chance = (r_hat / change.shape[0]) ** 2

    figure, axes = demo_figure(2, 10, 3.4)
    shown = 40
    axes[0].semilogy(range(1, shown + 1), s_values[:shown] / s_values[0], "o", ms=3)
    axes[0].set(
        xlabel="index i",
        ylabel=r"$\sigma_i(S) / \sigma_1(S)$",
        title="surrogate S at initialization",
    )
    axes[0].set_ylim(1e-18, 2)
    axes[1].semilogy(
        range(1, shown + 1), c_values[:shown] / c_values[0], "o", ms=3, color="tab:blue"
    )
    axes[1].axvline(r_hat + 0.5, color="tab:orange", lw=1, label=f"r_hat = {r_hat}")
    axes[1].set(
        xlabel="index i",
        ylabel=r"$\sigma_i(\Delta) / \sigma_1(\Delta)$",
        title=r"trained DLN: $\Delta = W_{L:1}(T) - W_{L:1}(0)$",
    )
    axes[1].legend()
    for ax in axes:
        ax.grid(True, alpha=0.3)
    show_figure(figure)
    print(
        f"surrogate S: {surrogate.shape[0]} x {surrogate.shape[1]}, numerical rank {rank} "
        f"(K - 1 = {data.n_classes - 1})"
    )
    print(
        f"trained block's change Delta: {k90} singular values hold 90% of its energy, "
        f"{k99} hold 99% (of {len(c_values)})"
    )
    print(f"share of ||Delta||^2 inside the surrogate's top-{rank} singular subspaces: "
          f"{inside_surrogate:.2f}")  # fmt: skip
    if r_hat > rank:
        print(f"inside the compressed block's starting subspaces ({rank} + {r_hat - rank} seeded "
              f"directions): {inside_block:.2f}; two random {r_hat}-dim subspaces: "
              f"{chance:.3f} on average")  # fmt: skip
    return {"surrogate_rank": rank, "energy_90": k90, "energy_99": k99,
            "inside_surrogate": inside_surrogate, "inside_block": inside_block,
            "inside_chance": chance}  # fmt: skip


def _compressed_curve(r_hat: int, alpha: float, depth: int, stored: bool) -> ClassifierHistory:
    """C-DLN's history at (r_hat, alpha, depth): the shipped table's, or trained now."""
    entry = lesson06_slider_table.entry(r_hat, alpha, depth) if stored else None
    if entry is None:
        return compressed_run(r_hat, round(alpha, 6), depth, DEFAULTS["steps"])
    return ClassifierHistory(
        kind="cdln",
        iterations=list(entry["iterations"]),
        test_accuracy=list(entry["test_accuracy"]),
        block_params=entry["block_params"],
    )


@small_work()
def compressed_block_demo(
    r_hat: int = DEFAULTS["r_hat"],
    alpha: float = DEFAULTS["alpha"],
    depth: int = DEFAULTS["depth"],
    stored: bool = True,
):
    """Original + C-DLN at (r_hat, alpha, depth) against the cached default runs.

    At the defaults the lesson's cached run is reused; at the panel's other positions the
    curve comes from the shipped table (:mod:`.lesson06_slider_table`, the same training run
    once), so a slider move costs a plot; off the table, or with ``stored=False``, the model is
    trained now (0.5 to 2.5 s). Plots test accuracy against iteration; prints the block's
    parameters and the final and best accuracy (0.1 points) next to Original + DLN's.
    """
    r_hat, depth = int(r_hat), int(depth)
    alpha = float(alpha)
    _, _, histories, _ = _default_run(DEFAULTS["steps"])
    defaults = (r_hat, depth) == (DEFAULTS["r_hat"], DEFAULTS["depth"])
    if defaults and abs(alpha - DEFAULTS["alpha"]) < 1e-12:
        compressed = histories["cdln"]
    else:
        compressed = _compressed_curve(r_hat, alpha, depth, stored)
    figure, axes = demo_figure(1, 6.5, 3.4)
    ax = axes[0]
    shown = {"mlp": histories["mlp"], "dln": histories["dln"], "cdln": compressed}
    for kind, history in shown.items():
        ax.plot(history.iterations, history.test_accuracy, color=COLORS[kind], label=LABELS[kind])
    low = min(min(h.test_accuracy[1:] or h.test_accuracy) for h in shown.values())
    title = f"C-DLN: r_hat={r_hat}, alpha={alpha:.3g}, L={depth} (others: defaults)"
    ax.set(xlabel="iteration", ylabel="test accuracy (%)", ylim=(max(low - 2, 0), 100.5))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    show_figure(figure)
    dln = histories["dln"]
    gap = compressed.final_accuracy - dln.final_accuracy
    print(
        f"C-DLN block: {compressed.block_params:,} parameters (DLN block "
        f"{dln.block_params:,}); test accuracy {compressed.final_accuracy:.1f}% "
        f"(best {compressed.best_accuracy:.1f}%), DLN {dln.final_accuracy:.1f}%: "
        f"{gap:+.1f} points"
    )
    return {
        "block_params": compressed.block_params,
        "final_accuracy": compressed.final_accuracy,
        "best_accuracy": compressed.best_accuracy,
        "gap": gap,
    }


@functools.lru_cache(maxsize=2)
def _rows_over_splits(seeds=SEEDS):
    return claim_over_seeds(seeds)


def _pm(pair, digits: int = 1) -> str:
    return format_mean_sd(pair, digits)


@small_work()
def claim_over_splits(seeds=SEEDS) -> dict:
    """The three-model race on ``seeds`` splits (new test set and initial weights each time).

    Prints the machine-independent half of the claim: final test accuracies (mean +- sd), C-DLN
    minus DLN (mean +- sd, min..max), in how many splits C-DLN comes within 0.5 points of DLN,
    and the ratio of iterations to that target. ``claim_timing_over_splits`` adds the seconds.
    """
    rows = _rows_over_splits(tuple(seeds))
    summary = accuracy_summary(rows)
    print(f"{summary['seeds']} splits of the digits (seeds {', '.join(str(r.seed) for r in rows)})"
          f", defaults: lr={DEFAULTS['lr']:g}, alpha={DEFAULTS['alpha']:g} on the block's "
          f"{DEFAULTS['alpha_layers']} layer, {DEFAULTS['steps']} Adam steps")  # fmt: skip
    for kind, label in (("mlp", "Original (MLP)"), ("dln", "Original + DLN"),
                        ("cdln", "Original + C-DLN")):  # fmt: skip
        print(f"{label:>17}: final test accuracy {_pm(summary['accuracy'][kind])} %")
    low, high = summary["gap_range"]
    print(f"C-DLN minus DLN: {_pm(summary['gap'], 2)} points (min {low:+.1f}, max {high:+.1f})")
    holds = summary["accuracy_holds"]
    print(f"C-DLN reaches DLN's final accuracy minus {CLAIM_POINTS} points and ends within "
          f"{CLAIM_POINTS} points in {holds} of {summary['seeds']} splits")  # fmt: skip
    print(f"iterations to that target, DLN / C-DLN: {_pm(summary['iterations_ratio'], 2)} "
          f"({summary['iterations_ratio_seeds']} splits where both reach it)")  # fmt: skip
    return summary


@small_work()
def claim_timing_over_splits(seeds=SEEDS) -> dict:
    """The machine-dependent half over the same splits: speed-ups and the whole verdict."""
    rows = _rows_over_splits(tuple(seeds))
    summary = time_summary(rows)
    print(f"speed-up DLN / C-DLN per step: {_pm(summary['per_step_speedup'], 2)}x; to the "
          f"target: {_pm(summary['speedup'], 2)}x ({summary['speedup_seeds']} splits)")  # fmt: skip
    print(f"the whole claim (within {CLAIM_POINTS} points, at least {CLAIM_SPEEDUP:g}x faster) "
          f"holds in {summary['holds']} of {summary['seeds']} splits on this machine")  # fmt: skip
    return summary
