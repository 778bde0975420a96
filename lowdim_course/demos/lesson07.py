"""Lesson 07 demos: intrinsic dimension (Li, Farkhoor, Liu, Yosinski, ICLR 2018).

* ``toy_losses``: the smallest loss reachable in a random d-dimensional subspace of the toy
  problem (D = 1000, 10 group sums): zero from d = 10 on;
* ``subspace_panel``: the teacher-task MLP trained in a random d-dimensional subspace (dense or
  sparse projection) against the directly trained baseline; sliders d, width, projection;
* ``dint_sweep``: d_int90 for three widths over five seeds (initialization and projection),
  with D growing about 10x;
* ``your_subspace_training`` (capstone): test accuracy against d from the student's own
  subspace loop, next to the course's, with both d_int90 marked.

Sizes are small (widths 16/32/64, 500 training points, 200 Adam steps) so that the lesson runs
in under a minute on a 2-core CPU; the paper's networks are far larger (Li et al. 2018, Sec. 3).
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics

import torch

from ..exercises.capstone import run_student_code
from ..literature.intrinsic_dimension import (
    accuracy,
    d_int90,
    dense_projection,
    loss_and_gradient,
    mlp_forward,
    mlp_init,
    mlp_num_params,
    mlp_sizes,
    teacher_task,
    toy_min_loss,
    train_in_subspace,
    train_mlp,
)
from ..plots import demo_figure, show_figure
from ..threads import small_work

N_TRAIN = 500
STEPS = 200
DIMS = (25, 50, 75, 100, 150, 200, 300)
WIDTHS = (16, 32, 64)
SEEDS = (0, 1, 2, 3, 4)


def _task():
    return teacher_task(n_train=N_TRAIN)


@small_work()
def toy_losses(max_d: int = 14, seed: int = 0) -> dict:
    """Exact minimum of the toy loss in a random d-dim subspace, d = 1..max_d (dense P)."""
    dims = list(range(1, max_d + 1))
    losses = [toy_min_loss(d, seed=seed) for d in dims]
    figure, (ax,) = demo_figure(1, 6, 3.4)
    ax.bar(dims, [max(v, 1e-3) for v in losses], color="tab:blue")
    ax.axvline(9.5, color="0.5", ls="--", lw=1)
    ax.set(
        xlabel="subspace dimension d",
        ylabel="smallest reachable loss",
        title="toy problem: D = 1000, 10 group sums 1..10",
    )
    show_figure(figure)
    below = max(losses[:9])
    lowest = min(range(9), key=losses.__getitem__)
    print("d:    " + " ".join(f"{d:>5}" for d in dims))
    print("loss: " + " ".join(f"{v:>5.3g}" if v > 1e-9 else f"{0:>5}" for v in losses))
    print(
        f"zero loss from d = 10 on: {all(v < 1e-9 for v in losses[9:])}; "
        f"d <= 9: at least {losses[lowest]:.3g} (at d = {dims[lowest]}), at most {below:.3g}"
    )
    return {"dims": dims, "losses": losses, "min_below_10": min(losses[:9])}


# Every call passes the seed: lru_cache keys (32, 100, "dense") and (32, 100, "dense", 0) apart,
# so a default seed would make the panel retrain what the sweep has already trained.
@functools.lru_cache(maxsize=32)
def _baseline(width: int, seed: int) -> dict:
    return train_mlp(width, None, steps=STEPS, task=_task(), seed=seed)


@functools.lru_cache(maxsize=256)
def _subspace(width: int, d: int, kind: str, seed: int) -> dict:
    return train_mlp(width, d, kind=kind, steps=STEPS, task=_task(), seed=seed)


@small_work()
def subspace_panel(d: int = 100, width: int = 32, projection: str = "dense") -> dict:
    """Train in a random d-dim subspace; compare with direct training of all D parameters."""
    base = _baseline(int(width), 0)
    run = _subspace(int(width), int(d), projection, 0)
    ratio = run["test_accuracy"] / base["test_accuracy"]
    figure, axes = demo_figure(2, 10, 3.6)
    axes[0].semilogy(base["losses"], color="0.4", label=f"direct, D = {base['D']:,}")
    axes[0].semilogy(run["losses"], color="tab:orange", label=f"subspace, d = {d} ({projection})")
    axes[0].set(xlabel="Adam step", ylabel="training cross-entropy")
    axes[0].legend(fontsize=8)
    names = ["direct", f"d = {d}"]
    values = [base["test_accuracy"], run["test_accuracy"]]
    axes[1].bar(names, values, color=["0.5", "tab:orange"])
    axes[1].axhline(0.9 * base["test_accuracy"], color="k", ls="--", lw=1, label="90% of direct")
    axes[1].set(ylabel="test accuracy", ylim=(0, 1))
    axes[1].legend(fontsize=8)
    figure.suptitle(f"teacher task, MLP width {width} (D = {base['D']:,}), {projection} P")
    show_figure(figure)
    print(
        f"width {width}: D = {base['D']:,} parameters; direct test accuracy "
        f"{base['test_accuracy']:.3f}"
    )
    print(
        f"subspace d = {d} ({projection}): test accuracy {run['test_accuracy']:.3f} = "
        f"{ratio:.3f} of direct -> {'reaches' if ratio >= 0.9 else 'misses'} the 90% line"
    )
    return {
        "D": base["D"],
        "baseline": base["test_accuracy"],
        "accuracy": run["test_accuracy"],
        "ratio": ratio,
    }


@small_work()
def dint_sweep(widths=WIDTHS, dims=DIMS, projection: str = "dense", seeds=SEEDS) -> dict:
    """d_int90 for each width and seed: the smallest d in ``dims`` reaching 90% of that seed's
    directly trained baseline (a seed fixes the initialization and the projection)."""
    rows = {}
    for width in widths:
        found, tried = [], []
        for seed in seeds:
            base = _baseline(width, seed)
            d_int, seen = d_int90(
                lambda d, w=width, s=seed: _subspace(w, d, projection, s)["test_accuracy"],
                base["test_accuracy"],
                dims,
            )
            found.append(d_int)
            tried.append(seen)
        reached = sorted(d for d in found if d is not None)
        rows[width] = {
            "D": mlp_num_params(mlp_sizes(width)),
            "baseline": statistics.mean(_baseline(width, seed)["test_accuracy"] for seed in seeds),
            "d_int90": found,
            "median": statistics.median(reached) if reached else None,
            "tried": tried,
        }
    sizes = [rows[w]["D"] for w in widths]
    figure, (ax,) = demo_figure(1, 6, 3.4)
    for seed_index in range(len(seeds)):
        ax.semilogx(
            sizes, [rows[w]["d_int90"][seed_index] or float("nan") for w in widths], "o-",
            color="0.7", lw=0.8, ms=3,
        )  # fmt: skip
    ax.semilogx(sizes, [rows[w]["median"] or float("nan") for w in widths], "o-", lw=2)
    ax.set(
        xlabel="parameters D",
        ylabel="d_int90",
        ylim=(0, max(dims)),
        title=f"d_int90 against network size ({len(seeds)} seeds, median in blue)",
    )
    show_figure(figure)
    print(f"{'width':>6} {'D':>7} {'direct acc':>11}  d_int90 per seed    median")
    for width, row in rows.items():
        per_seed = " ".join(f"{d!s:>4}" for d in row["d_int90"])
        median = row["median"]
        print(f"{width:>6} {row['D']:>7,} {row['baseline']:>11.3f}  {per_seed}  {median!s:>6}")
    growth = sizes[-1] / sizes[0]
    first, last = rows[widths[0]]["d_int90"], rows[widths[-1]]["d_int90"]
    ratios = [b / a for a, b in zip(first, last, strict=True) if a and b]
    slower = sum(ratio < growth / 3 for ratio in ratios)
    print(
        f"D grows {growth:.3g}x from width {widths[0]} to {widths[-1]}; d_int90 grows "
        f"{min(ratios):.3g}x to {max(ratios):.3g}x (per seed): less than a third of D's growth "
        f"in {slower} of {len(seeds)} seeds"
    )
    drops = _accuracy_drops(rows, widths, seeds)
    runs = len(widths) * len(seeds)
    if drops:
        _, width, seed, small, large, before, after = max(drops)
        print(
            f"accuracy fell from one d to the next in {len(drops)} of {runs} (width, seed) runs; "
            f"the largest fall: width {width}, seed {seed}, d = {small} -> {large} "
            f"({before:.3f} -> {after:.3f})"
        )
    else:
        print(f"accuracy rose with d in all {runs} (width, seed) runs")
    return {"rows": rows, "D_growth": growth, "d_int_growth": ratios, "slower_seeds": slower,
            "drops": drops}  # fmt: skip


def _accuracy_drops(rows, widths, seeds) -> list[tuple]:
    """(fall, width, seed, d, next d, accuracy at d, at next d) for every step of the grid at
    which a run's accuracy fell (each d draws its own projection: the subspaces are not nested)."""
    drops = []
    for width in widths:
        for seed, tried in zip(seeds, rows[width]["tried"], strict=True):
            dims = sorted(tried)
            for small, large in itertools.pairwise(dims):
                if tried[large] < tried[small]:
                    fall = tried[small] - tried[large]
                    drops.append((fall, width, seed, small, large, tried[small], tried[large]))
    return drops


@small_work()
def gradient_check(width: int = 16, d: int = 20, seed: int = 0) -> dict:
    """Autograd's gradient in z against P^T grad_theta, on the teacher task's loss."""
    from ..literature.intrinsic_dimension import subspace_gradient

    task, sizes = _task(), mlp_sizes(width)
    theta0 = mlp_init(sizes, seed=seed)
    P = dense_projection(theta0.shape[0], d, seed=seed + 1)
    z = (0.1 * torch.ones(d, dtype=torch.float64)).requires_grad_()
    theta = (theta0 + P @ z).detach().requires_grad_()

    def loss(t):
        return torch.nn.functional.cross_entropy(mlp_forward(t, task.x_train, sizes), task.y_train)

    (grad_z,) = torch.autograd.grad(loss(theta0 + P @ z), z)
    (grad_theta,) = torch.autograd.grad(loss(theta), theta)
    gap = float((grad_z - subspace_gradient(P, grad_theta)).abs().max() / grad_z.abs().max())
    print(
        f"D = {theta0.shape[0]:,}, d = {d}: autograd in z and P^T grad_theta agree to "
        f"1e-10: {gap < 1e-10}"
    )
    return {"relative_gap": gap}


# ---------------------------------------------------------------------------------------------
# The capstone: the student's subspace loop against the course's
# ---------------------------------------------------------------------------------------------

CAPSTONE_WIDTH = 16
CAPSTONE_DIMS = (10, 25, 50, 75, 100, 150)
CAPSTONE_LR = 1.0  # plain gradient descent, for the subspace runs and the direct baseline


@functools.lru_cache(maxsize=1)
def _capstone_problem():
    """theta0, the test-accuracy function, the loss and its gradient oracle (width 16, seed 0)."""
    task, sizes = _task(), mlp_sizes(CAPSTONE_WIDTH)
    theta0 = mlp_init(sizes, seed=0)

    def loss(theta):
        return torch.nn.functional.cross_entropy(
            mlp_forward(theta, task.x_train, sizes), task.y_train
        )

    def test_accuracy(theta):
        return accuracy(theta, task.x_test, task.y_test, sizes)

    return theta0, loss, loss_and_gradient(loss), test_accuracy


def _capstone_projection(d: int) -> torch.Tensor:
    theta0 = _capstone_problem()[0]
    return dense_projection(theta0.shape[0], d, seed=1)


@functools.lru_cache(maxsize=1)
def _course_subspace_curve():
    """The course's gradient descent (autograd through theta0 + P z) at every d, and direct."""
    theta0, loss, _, test_accuracy = _capstone_problem()
    with small_work():
        base, _ = train_in_subspace(loss, theta0, None, STEPS, CAPSTONE_LR, optimizer="gd")
        thetas = {
            d: train_in_subspace(
                loss, theta0, _capstone_projection(d), STEPS, CAPSTONE_LR, optimizer="gd"
            )[0]
            for d in CAPSTONE_DIMS
        }
    return test_accuracy(base), thetas, {d: test_accuracy(t) for d, t in thetas.items()}


@small_work()
def your_subspace_training(train_in_subspace_function) -> dict:
    """Capstone 07: test accuracy against d from the student's ``train_in_subspace``.

    The teacher task's MLP of width 16 (D = 516), theta0 and P as in the lesson (seed 0, dense
    P from seed 1), 200 steps of plain gradient descent at lr 1.0 in each subspace d of
    ``CAPSTONE_DIMS``, against the course's loop (autograd through theta0 + P z) and the
    directly trained baseline (all D parameters, same steps and lr); d_int90 marked for both
    (Li et al. 2018, Sec. 2). A stub, an exception or NaN in the student's code prints one line
    and the figure shows the course's curve only.
    """
    theta0, _, oracle, test_accuracy = _capstone_problem()
    baseline, course_thetas, course = _course_subspace_curve()
    line = 0.9 * baseline

    def students_run():
        thetas = {}
        with small_work():
            for d in CAPSTONE_DIMS:
                P = _capstone_projection(d)
                theta = train_in_subspace_function(theta0.clone(), P, oracle, CAPSTONE_LR, STEPS)
                theta = torch.as_tensor(theta, dtype=torch.float64).detach().reshape(-1)
                if theta.shape != theta0.shape:
                    raise ValueError(
                        f"it returned {theta.numel()} numbers at d = {d}, expected theta (D = "
                        f"{theta0.numel()})"
                    )
                thetas[d] = theta
        return thetas

    student = run_student_code(students_run, name="train_in_subspace")
    course_dint, _ = d_int90(course.__getitem__, baseline, CAPSTONE_DIMS)

    figure, (ax,) = demo_figure(1, 6.5, 3.6)
    dims = list(CAPSTONE_DIMS)
    ax.plot(dims, [course[d] for d in dims], "o-", color="tab:blue", label="course")
    ax.axhline(line, color="k", ls="--", lw=1, label="90% of direct training")
    if course_dint is not None:
        ax.axvline(
            course_dint,
            color="tab:blue",
            lw=1,
            alpha=0.6,
            label=f"course's d_int90 = {course_dint}",
        )
    result = {
        "baseline": baseline,
        "course": course,
        "course_d_int90": course_dint,
        "student": None,
        "student_d_int90": None,
        "agree": None,
        "gap": None,
    }
    if student.ok:
        mine = {d: test_accuracy(theta) for d, theta in student.value.items()}
        mine_dint, _ = d_int90(mine.__getitem__, baseline, CAPSTONE_DIMS)
        ax.plot(dims, [mine[d] for d in dims], "s:", color="k", ms=4, label="yours")
        if mine_dint is not None:
            ax.axvline(mine_dint, color="k", ls=":", lw=1, label=f"your d_int90 = {mine_dint}")
        gap = max(  # the largest relative distance from the course's theta, over the d's
            float(torch.linalg.vector_norm(student.value[d] - course_thetas[d]))
            / float(torch.linalg.vector_norm(course_thetas[d]))
            for d in dims
        )
        gap = gap if math.isfinite(gap) else math.inf  # a diverged theta: inf - inf is NaN
        result.update(student=mine, student_d_int90=mine_dint, agree=gap <= 1e-6, gap=gap)
    ax.set(
        xlabel="subspace dimension d",
        ylabel="test accuracy",
        title=f"MLP width {CAPSTONE_WIDTH} (D = {theta0.numel()}), {STEPS} GD steps, "
        f"lr {CAPSTONE_LR:g}",
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    show_figure(figure)

    print(
        f"direct gradient descent on all D = {theta0.numel()} parameters: test accuracy "
        f"{baseline:.3f}; the 90% line: {line:.3f}"
    )
    print("d:       " + " ".join(f"{d:>6}" for d in dims))
    print(
        "course:  " + " ".join(f"{course[d]:>6.3f}" for d in dims) + f"   d_int90 = {course_dint}"
    )
    if student.ok:
        mine = result["student"]
        print(
            "yours:   "
            + " ".join(f"{mine[d]:>6.3f}" for d in dims)
            + f"   d_int90 = {result['student_d_int90']}"
        )
        gap = result["gap"]
        print(
            "largest distance of your theta from the course's (relative): "
            + ("below 1e-10" if gap < 1e-10 else f"{gap:.1e}")
            + f"; they agree at every d (to 1e-6): {result['agree']}"
        )
    return result
