"""Lesson 03's capstone figure: the student's ``measure_layer`` on a run and on a built layer.

:func:`capstone_demo` runs the student's measurement (capstone ``03.measure_layer``) on every
layer and checkpoint of the lesson's run (``lesson03.subspace_run``) and draws it against the
recursion for rho(t) and against 2r. A trained layer from an orthogonal start has r singular
values above rho(t) and r below (measured at every checkpoint of the lesson's runs, d = 20-30,
r = 3-10, L = 2-4): the plateau of the d - 2r values at rho sits in the middle of the sorted
spectrum, so the median finds it there. The theorem (Yaras et al. 2023, Thm. 1) says nothing
about where the plateau sits, so the demo also measures one *built* layer with the theorem's
structure whose 2r moving values all lie above rho (d = 12, r = 4): there the middle of the
spectrum is a moving value, and an estimator that relies on the split shows.
"""

from __future__ import annotations

import functools

import torch

from ..exercises.capstone import run_student_code
from ..networks import original_network
from ..plots import demo_figure, show_figure
from ..problems import course_learning_rate, make_problem
from ..random_matrices import gaussian, make_generator
from ..theory.invariant_subspace import invariant_subspace_report, measure_layer, rho_trajectory
from ..threads import small_work
from ..training import train
from ..validation import check_int

# The student's rho(t) agrees with the recursion when within this relative gap.
RHO_AGREES = 1e-9
# The built layer: d, r, eps, rho and the 2r singular values of its moving block (all above rho).
BUILT_LAYER = (12, 4, 0.1, 0.05, (2.0, 1.5, 1.2, 1.0, 0.6, 0.4, 0.3, 0.2))


@functools.lru_cache(maxsize=4)
@small_work()
def subspace_run(d: int = 30, r: int = 3, depth: int = 3, eps: float = 0.1, steps: int = 600):
    """Train the original network on a rank-r factorization problem, keeping every layer.

    Returns ``(problem, history, report)`` with ``report`` the theory's
    ``invariant_subspace_report`` (rho(t), singular values at rho, moved ranks per checkpoint).
    Cached: the two demos of the lesson share one run per slider setting.
    """
    steps = check_int("steps", steps, low=10)
    problem = make_problem("mf", d=d, r=r, seed=0)
    network = original_network(d, depth, eps, seed=0)
    history = train(
        problem,
        network,
        lr=course_learning_rate(d),
        steps=steps,
        log_every=max(1, steps // 30),
        record_layers=True,
        record_layer_singular_values=True,
    )
    return problem, history, invariant_subspace_report(history)


def built_layer():
    """``(W(t), W(0), eps, rho, r)`` with ``W(t) = P diag(B, rho I_{d-2r}) Q^T``, ``W(0) = eps
    P Q^T``: the theorem's structure, built directly, every singular value of B above rho."""
    d, r, eps, rho, values = BUILT_LAYER
    generator = make_generator(303)
    left = torch.linalg.qr(gaussian(d, d, generator))[0]
    right = torch.linalg.qr(gaussian(d, d, generator))[0]
    block_left = torch.linalg.qr(gaussian(2 * r, 2 * r, generator))[0]
    block_right = torch.linalg.qr(gaussian(2 * r, 2 * r, generator))[0]
    middle = torch.eye(d, dtype=torch.float64) * rho
    block_values = torch.tensor(values, dtype=torch.float64)
    middle[: 2 * r, : 2 * r] = (block_left * block_values) @ block_right.T
    return left @ middle @ right.T, eps * left @ right.T, eps, rho, r


def _student_measurements(measure, snapshots, eps):
    """The student's ``(rho_hat, moved_rank)`` for every checkpoint (rows) and layer (columns)."""
    rhos, ranks = [], []
    for layers in snapshots:
        row_rho, row_rank = [], []
        for layer_t, layer_0 in zip(layers, snapshots[0], strict=True):
            rho, rank = _one(measure, layer_t, layer_0, eps)
            row_rho.append(rho)
            row_rank.append(rank)
        rhos.append(row_rho)
        ranks.append(row_rank)
    return torch.tensor(rhos, dtype=torch.float64), torch.tensor(ranks)


def _one(measure, layer_t, layer_0, eps):
    value = measure(layer_t.clone(), layer_0.clone(), eps)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"returned {type(value).__name__}, expected (rho_hat, rank)")
    return float(value[0]), int(value[1])


def _all_measurements(measure, snapshots, eps):
    layer_t, layer_0, built_eps, _, _ = built_layer()
    return _student_measurements(measure, snapshots, eps), _one(measure, layer_t, layer_0,
                                                                  built_eps)  # fmt: skip


@small_work()
def capstone_demo(
    measure_layer_fn, d: int = 30, r: int = 3, depth: int = 3, eps: float = 0.1, steps: int = 600
):
    """The student's measurement on every layer and checkpoint of the lesson's run, and on
    the built layer (:data:`BUILT_LAYER`).

    Left: the measured rho(t)/eps of each layer (markers) on the recursion's (line); centre: the
    measured rank of the moved part per layer against 2r; right: the built layer's sorted
    singular values with its rho and the student's rho_hat. If the student's function fails,
    one line says why and the course's ``measure_layer`` is drawn instead. Prints the largest
    relative gap between the measured rho and the recursion, in how many (checkpoint, layer)
    pairs the moved rank differs from the course's report, and the built layer's gap and rank.
    """
    _, history, report = subspace_run(d, r, depth, eps, steps)
    snapshots = history.layer_snapshots
    iterations = history.log_iterations
    run = run_student_code(
        lambda: _all_measurements(measure_layer_fn, snapshots, eps), name="measure_layer"
    )
    (rho, ranks), (built_rho, built_rank) = (
        run.value if run.ok else _all_measurements(measure_layer, snapshots, eps)
    )
    who = "your" if run.ok else "the course's"
    mark = "yours" if run.ok else "course's"
    recursion = report.rho  # rho(t) at the checkpoints
    curve = rho_trajectory(eps, report.eta, depth, iterations[-1])

    figure, axes = demo_figure(3, 14)
    axes[0].plot(curve / eps, color="k", lw=1.5, label=r"recursion $\rho(t)/\varepsilon$")
    for layer in range(depth):
        axes[0].plot(iterations, rho[:, layer] / eps, ls="none", marker="o^s"[layer % 3],
                     ms=7 - 2 * layer, mfc="none", color=f"C{layer}",
                     label=f"$W_{{{layer + 1}}}$ ({mark})")  # fmt: skip
    axes[0].set(xlabel="iteration", ylabel=r"$\hat\rho(t)/\varepsilon$",
                title="the frozen directions' scale, measured")  # fmt: skip
    axes[0].legend(fontsize=8)
    for layer in range(depth):
        axes[1].plot(iterations, ranks[:, layer] + 0.08 * (layer - 1), ls="none",
                     marker="o^s"[layer % 3], mfc="none", color=f"C{layer}",
                     label=f"$W_{{{layer + 1}}}$ ({mark})")  # fmt: skip
    axes[1].step(iterations, report.moved_rank[:, 0], where="post", color="k", lw=0.8,
                 label="course's report ($W_1$)")  # fmt: skip
    axes[1].axhline(2 * r, color="0.5", lw=0.8, ls="--", label="2r")
    axes[1].set(xlabel="iteration", ylabel="rank of the moved part", ylim=(-1, d + 1),
                title=r"rank of $W_l(t) - (\hat\rho/\varepsilon) W_l(0)$")  # fmt: skip
    axes[1].legend(fontsize=8, loc="center right")
    layer_t, _, _, true_rho, built_r = built_layer()
    sigma = torch.linalg.svdvals(layer_t)
    axes[2].semilogy(torch.arange(1, len(sigma) + 1), sigma, "o", color="0.3", mfc="none")
    axes[2].axhline(true_rho, color="k", lw=1.5, label=r"its $\rho$")
    axes[2].axhline(built_rho, color="C3", ls="--", lw=1.5, label=rf"$\hat\rho$ ({mark})")
    axes[2].set(xlabel="index i (largest first)", ylabel=r"$\sigma_i$",
                title=f"a built layer: all {2 * built_r} moving values above rho")  # fmt: skip
    axes[2].legend(fontsize=8)
    figure.suptitle(f"d={d}, r={r}, depth L={depth}, eps={eps:.3g}, eta=lr/d^2={report.eta:.3g}")
    show_figure(figure)

    gap = float(((rho - recursion[:, None]) / recursion[:, None]).abs().max())
    built_gap = abs(built_rho - true_rho) / true_rho
    differ = int((ranks != report.moved_rank).sum())
    summary = {
        "student_ran": run.ok,
        "largest_rho_gap": gap,
        "rho_agrees": gap < RHO_AGREES,
        "rank_is_2r": bool((ranks[1:] == 2 * r).all()),
        "rank_agrees": differ == 0,
        "ranks_differing": differ,
        "rho_end": float(recursion[-1]),
        "built_rho_gap": built_gap,
        "built_rank": built_rank,
    }
    print(f"{len(iterations)} checkpoints x {depth} layers of the run above ({who} measurement)")
    print(f"rho fell from eps = {eps:.3g} to {summary['rho_end']:.6g} "
          f"({100 * (1 - summary['rho_end'] / eps):.3g}% lower)")  # fmt: skip
    gap_text = f"below {RHO_AGREES:g}" if summary["rho_agrees"] else f"{gap:.3g}"
    print(f"measured rho vs the recursion, largest relative gap: {gap_text}")
    print(f"moved rank = 2r = {2 * r} at every checkpoint after t = 0, in every layer: "
          f"{summary['rank_is_2r']}")  # fmt: skip
    print(f"moved ranks that differ from the course's invariant_subspace_report: {differ} of "
          f"{ranks.numel()}")  # fmt: skip
    built_text = f"below {RHO_AGREES:g}" if built_gap < RHO_AGREES else f"{built_gap:.3g}"
    print(f"built layer (d = {len(sigma)}, {2 * built_r} moving values all above rho = "
          f"{true_rho:g}): relative gap of rho_hat {built_text}, moved rank {built_rank} "
          f"(2r = {2 * built_r})")  # fmt: skip
    return summary
