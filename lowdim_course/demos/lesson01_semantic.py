"""Lesson 01, Section 6: living things and their features, learned one mode at a time.

The hierarchical items x features data set of Saxe, McClelland & Ganguli (2019, PNAS;
``lowdim_course.semantic``): ``semantic_overview`` shows its modes (categories at every level
of the hierarchy) and ``semantic_demo`` the order in which a linear network trained from a small
random init learns them, over five inits. The step ``eta`` is on the summed loss
``1/2 ||W_{L:1} - M||_F^2`` (the core's ``semantic.train_semantic`` calls it ``lr``).
"""

from __future__ import annotations

import torch

from .. import semantic
from ..plots import demo_figure, show_figure
from ..rounding import order_with_ties
from ..spread import format_mean_sd
from ..threads import small_work

SEMANTIC_SEEDS = range(5)
SEMANTIC_MAX_STEPS = 6000
_ITEM_MODES_COLOR = "0.55"


def _mode_label(data, k) -> str:
    return f"{data.meanings[k]} (s={float(data.singular_values[k]):.3g})"


def _orientation(data, k) -> float:
    """+1 or -1: the sign that makes mode k's first nonzero item entry positive (its name's)."""
    column = data.right[:, k]
    return float(torch.sign(column[column.abs() > 1e-9][0]))


def _top_features(data, k, count=3) -> str:
    """The features that weigh most in mode k's output direction, on each side of the split.

    Features of one category weigh exactly the same (and often more than ``count`` tie), so
    ties keep the order of ``data.features`` (``rounding.order_with_ties``) instead of the
    order their last bits give, which changes from one processor to another.
    """
    weights = data.left[:, k] * _orientation(data, k)
    largest = order_with_ties(weights, descending=True)
    smallest = order_with_ties(weights)
    positive = [data.features[i] for i in largest[:count] if weights[i] > 1e-9]
    negative = [data.features[i] for i in smallest[:count] if weights[i] < -1e-9]
    return ", ".join(positive) + (f" | {', '.join(negative)}" if negative else "")


@small_work()
def semantic_overview():
    """The items, their features and the modes of ``M = F^T / sqrt(P)`` with their meanings.

    Left: the feature matrix F (items x features). Right: each mode's item vector ``v_k`` (a row
    per mode), named by how it splits the items. Prints every item's features and, per mode,
    the singular value, the meaning and the features that weigh most on each side.
    """
    data = semantic.semantic_data()
    figure, (left, right) = demo_figure(2, 12, 4.2, title=False)
    left.imshow(data.feature_matrix.numpy(), cmap="Greys", aspect="auto")
    left.set_yticks(range(len(data.items)), data.items)
    left.set_xticks(range(len(data.features)), data.features, rotation=90, fontsize=7)
    left.set_title("features F (black = has it)")
    modes = range(len(data.meanings))
    signs = torch.stack([data.right[:, k] * _orientation(data, k) for k in modes])
    right.imshow(signs.numpy(), cmap="coolwarm", vmin=-0.75, vmax=0.75, aspect="auto")
    right.set_xticks(range(len(data.items)), data.items, rotation=45, fontsize=8)
    labels = [_mode_label(data, k) for k in range(len(data.meanings))]
    right.set_yticks(range(len(labels)), labels, fontsize=7)
    right.yaxis.tick_right()
    right.set_title("modes: item vectors $v_k$ (red +, blue -)")
    figure.subplots_adjust(bottom=0.32, right=0.8, wspace=0.15)
    show_figure(figure)

    print(
        f"{len(data.items)} items, {len(data.features)} features; M = F^T / sqrt({len(data.items)})"
    )
    for i, item in enumerate(data.items):
        owned = [f for f, has in zip(data.features, data.feature_matrix[i], strict=True) if has]
        print(f"  {item:>8}: {', '.join(owned)}")
    print("mode  s       meaning                       features (+ side | - side)")
    for k, meaning in enumerate(data.meanings):
        value = float(data.singular_values[k])
        print(f"  {k + 1}   {value:.4f}  {meaning:<28}  {_top_features(data, k)}")
    return {"singular_values": data.singular_values.tolist(), "meanings": list(data.meanings)}


def semantic_runs(init_scale: float, eta: float, depth: int, seeds=SEMANTIC_SEEDS):
    """The runs of :func:`semantic_demo`: one per seed from the small random init, same length."""
    data = semantic.semantic_data()
    steps = min(SEMANTIC_MAX_STEPS, semantic.run_length(data, depth, init_scale, eta))
    runs = [
        semantic.train_semantic(
            depth, init_scale=init_scale, lr=eta, steps=steps, seed=seed, data=data
        )
        for seed in seeds
    ]
    return data, runs


@small_work()
def semantic_demo(init_scale: float = 0.1, eta: float = 0.05, depth: int = 2):
    """A linear network learning the semantic data: which mode when, over five random inits.

    The network (``semantic.train_semantic``: items -> 64 -> ... -> features, Gaussian entries
    of variance ``init_scale^2 / fan_in``) is trained by gradient descent on
    ``1/2 ||W_{L:1} - M||_F^2`` from seeds 0-4. The figure draws seed 0's mode strengths
    ``m_k(t)/s_k``, labelled with their meanings (the four single-item modes, of equal s, in
    gray). Prints per mode the half-way step (mean +- sd over the seeds) next to the closed
    form from the aligned init ``m0 = a^L`` (the random init starts the modes elsewhere, so
    only the order is compared), the order of learning, and the verdict on the order: it
    judges only the modes half learned in every seed (in how many seeds those were learned in
    the order of their singular values) and says how many modes were not, and so not judged.
    """
    try:
        data, runs = semantic_runs(init_scale, eta, depth)
    except ValueError as error:  # a diverging run: say so instead of a traceback
        print(f"{error}")
        return None
    steps = runs[0].strengths.shape[0] - 1
    stats = semantic.half_way_statistics(runs)
    aligned = semantic.aligned_half_way_times(data, depth, init_scale, eta)
    learned = [k for k in range(len(stats)) if stats[k] is not None]
    in_order = sum(_in_order(run, learned) for run in runs)

    figure, (axes,) = demo_figure(1, 9, 3.8, title=False)
    fractions = runs[0].fractions
    for k in range(len(data.meanings)):
        single = k >= 4
        axes.plot(
            fractions[:, k],
            color=_ITEM_MODES_COLOR if single else f"C{k}",
            lw=2,
            label=(
                None
                if k > 4
                else "single items (4 modes, equal s)"
                if single
                else _mode_label(data, k)
            ),
        )
    axes.axhline(0.5, color="gray", lw=0.6, ls=":")
    axes.set_xlabel("gradient step t")
    axes.set_ylabel("mode strength $m_k(t) / s_k$")
    axes.set_title(f"depth {depth}, init scale {init_scale:.3g}, eta {eta:.3g} (seed 0)")
    axes.legend(loc="lower right", fontsize=8)
    show_figure(figure)

    seeds = len(runs)
    print(
        f"depth {depth}, init scale {init_scale:.3g}, eta {eta:.3g}, {steps} steps, "
        f"{seeds} random inits"
    )
    print(
        "mode  meaning                        s       half-way step (mean +- sd)   "
        f"aligned m0=a^{depth}"
    )
    for k, meaning in enumerate(data.meanings):
        value = float(data.singular_values[k])
        print(
            f"  {k + 1}   {meaning:<28}  {value:.3f}   {format_mean_sd(stats[k], 1):>22}   "
            f"{aligned[k]:>10.1f}"
        )
    order = sorted(learned, key=lambda k: stats[k][0])
    names = list(dict.fromkeys("single items" if k >= 4 else data.meanings[k] for k in order))
    print("order (by mean half-way step): " + (" < ".join(names) or "no mode half learned"))
    missing = len(stats) - len(learned)
    if len(learned) < 2:
        print(
            f"order not judged: only {len(learned)} of {len(stats)} modes half learned in every "
            f"seed within {steps} steps; raise eta or the init scale"
        )
    else:
        judged = "every mode" if not missing else f"the {len(learned)} modes half learned"
        print(
            f"{judged}: each stronger one half learned no later than every weaker one in "
            f"{in_order} of {seeds} seeds"
        )
    if missing:
        print(
            f"{missing} of {len(stats)} modes not half learned within {steps} steps (in at least "
            "one seed): not judged (raise eta or the init scale)"
        )
    return {
        "steps": steps,
        "half_way": stats,
        "aligned": aligned,
        "in_order": in_order if len(learned) >= 2 else None,
        "judged_modes": len(learned),
        "not_half_learned": missing,
        "seeds": seeds,
    }


def _in_order(run, modes, tolerance: float = 1e-9) -> bool:
    """Whether, among ``modes``, every mode is half learned no later than every weaker one
    (ties in s exempt): the order of Section 4, judged only on modes that were learned."""
    steps = run.half_way_steps()
    values = run.singular_values
    return all(
        steps[i] <= steps[j] for i in modes for j in modes if values[i] > values[j] + tolerance
    )
