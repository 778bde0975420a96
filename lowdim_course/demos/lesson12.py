"""Lesson 12 demos: how many dimensions the weight updates of a nonlinear network use (MNIST-1D).

Kwon et al. (AISTATS 2024), abstract: "for many deep models, updates to the weight matrices
occur within a low-dimensional invariant subspace"; Lesson 03 proves it for deep linear
networks, these demos measure it on small classifiers of MNIST-1D (Greydanus & Kobak, ICML
2024), each number over five seeds (``nonlinear.update_sweep``):

* ``update_geometry_demo`` (toggle buttons: optimizer, learning rate as a multiple of the
  optimizer's default, width, initial scale): the spectrum of each layer's update, its energy
  share against k next to a Gaussian matrix of the same shape, and how much of the final update
  the top-k subspaces of earlier steps already hold; ``lesson12_geometry`` computes the data,
  ``show_geometry`` draws and prints it, and the buttons' positions are read from the shipped
  ``lesson12_table``;
* ``width_table``: the k holding 90% of the hidden layer's update at each width of the panel,
  Adam and SGD from a small start, next to a Gaussian matrix's;
* ``architecture_demo``: the MLP against a 1-D convolutional network (a convolution's weight
  read as the ``out x (in kernel)`` matrix it applies to each window);
* ``regime_table``: where the update is low-dimensional and where not, over a few settings;
* ``restricted_demo``: training restricted after t0 steps to ``W_t0 + U_k C V_k^T`` (learned or
  random subspaces) against full training;
* ``your_settling`` (capstone): the student's ``largest_angle`` on the updates of a network
  they choose, with their k and threshold: when does the top-k subspace settle?
"""

from __future__ import annotations

import math

from ..exercises.capstone import run_student_code
from ..nonlinear.update_geometry import (
    SETTLE_ANGLE,
    largest_angle,
    settling_step,
    spectral_gap,
)
from ..nonlinear.update_sweep import (
    DEFAULT_SETTING,
    ENERGY,
    MEASURES,
    SEEDS,
    T0,
    TOP_K,
    gaussian_reference,
    restricted_comparison,
    step_time_ratio,
    sweep_setting,
    trained_run,
)
from ..plots import demo_figure, show_figure
from ..spread import mean_sd
from ..threads import small_work
from ..validation import check_choice, check_float, check_int
from . import lesson12_table
from .lesson12_geometry import BASE_LR, geometry_data, lesson_setting

CNN_SETTING = {"architecture": "cnn", "width": 25, "depth": 3, "steps": 300}
# (label, overrides of DEFAULT_SETTING): the rows of regime_table
REGIMES = (
    ("Adam lr 1e-2, init 1 (default)", {}),
    ("Adam lr 1e-2, init 0.3", {"init_scale": 0.3}),
    ("SGD lr 0.1, init 1", {"optimizer": "sgd", "lr": 0.1}),
    ("SGD lr 0.1, init 0.3", {"optimizer": "sgd", "lr": 0.1, "init_scale": 0.3}),
    ("SGD lr 1, init 1", {"optimizer": "sgd", "lr": 1.0}),
)
RESTRICTED_REGIMES = (REGIMES[0], REGIMES[3])
OUTSIDE_TOLERANCE = 1e-9  # far above rounding (1e-15 measured; 1e-12 per op in the harshest test)
# (label, optimizer, initial scale) of width_table's columns, lr factor 1
WIDTH_REGIMES = (("Adam, init 1", "adam", 1.0), ("SGD, init 0.3", "sgd", 0.3))
LAYER_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")


def _pm(pair, digits=2) -> str:
    mean, sd = pair
    return f"{mean:.{digits}f} +- {sd:.{digits}f}"


def _setting_text(setting: dict) -> str:
    full = DEFAULT_SETTING | setting
    name = "MLP" if full["architecture"] == "mlp" else "CNN"
    size = f"width {full['width']}" if name == "MLP" else f"{full['width']} channels"
    return (f"{name} ({size}, depth {full['depth']}), {full['optimizer']} lr {full['lr']:g}, "
            f"init scale {full['init_scale']:g}, {full['steps']} steps")  # fmt: skip


def _print_layers(result: dict, k: int = TOP_K) -> dict:
    """The per-layer table; returns the Gaussian references by layer (a layer's stored
    ``"gaussian"``, else ``gaussian_reference`` of its shape)."""
    references = {}
    print(f"{'layer':>8} | {'shape':>9} | {'rank (1e-3)':>12} | {'stable rank':>14} | "
          f"{'Gaussian':>8} | "
          f"{f'top-{k} share':>13} | {'Gaussian':>8} | {'k for 90%':>12} | {'Gaussian':>8} | "
          f"{'captured at ' + str(T0):>15}")  # fmt: skip
    for name, layer in result["layers"].items():
        reference = layer.get("gaussian") or gaussian_reference(layer["shape"], k)
        references[name] = reference
        shape = "x".join(str(n) for n in layer["shape"])
        print(f"{name:>8} | {shape:>9} | {_pm(layer['rank'], 1):>12} | "
              f"{_pm(layer['stable_rank'], 1):>14} | "
              f"{reference['stable_rank'][0]:>8.1f} | {_pm(layer['top_k_share']):>13} | "
              f"{reference['top_k_share'][0]:>8.2f} | {_pm(layer['rank_for_energy'], 1):>12} | "
              f"{reference['rank_for_energy'][0]:>8.1f} | "
              f"{_pm(layer['captured_early']):>15}")  # fmt: skip
    return references


def geometry_for(
    optimizer="adam", lr_factor=1.0, width=100, init_scale=1.0, stored: bool = True
) -> dict:
    """The data of :func:`update_geometry_demo` at a panel position: read from the shipped
    ``lesson12_table`` when the position is on its grid (and the table is the code's),
    computed now otherwise, or always with ``stored=False`` (seconds)."""
    setting = lesson_setting(optimizer, lr_factor, width, init_scale)
    entry = lesson12_table.entry(optimizer, lr_factor, width, init_scale) if stored else None
    return geometry_data(setting) if entry is None else entry


def show_geometry(data: dict) -> dict:
    """Plot and print :func:`geometry_data`'s ``data``; returns the printed numbers as tuples."""
    setting = data["setting"]
    figure, (spectra, shares, captured) = demo_figure(3, 14, 3.6)
    for color, (name, layer) in zip(LAYER_COLORS, data["layers"].items(), strict=False):
        spectrum = layer["spectrum"]
        spectra.semilogy(range(1, len(spectrum) + 1), spectrum, color=color, label=name)
        shares.plot(range(len(layer["share"])), layer["share"], color=color, label=name)
        shares.plot(range(len(layer["gaussian_share"])), layer["gaussian_share"], color=color,
                    ls="--", lw=0.8)  # fmt: skip
        captured.plot(data["steps"], layer["captured"], color=color, label=name)
    spectra.set(xlabel="i", ylabel="$s_i / s_1$ of the update", title="spectrum (seed 0)")
    spectra.set_ylim(1e-4, 1.5)
    shares.set(xlabel="k", ylabel="energy share of the top k", xscale="symlog",
               title="top-k share (dashed: Gaussian)")  # fmt: skip
    captured.set(xlabel="step t", ylabel="share of final update", ylim=(0, 1),
                 title=f"inside the top-{TOP_K} subspaces of step t")  # fmt: skip
    for ax in (spectra, shares, captured):
        ax.grid(True, alpha=0.3)
    spectra.legend(fontsize=8)
    figure.suptitle(_setting_text(setting))
    show_figure(figure)
    layers = {name: _as_tuples(layer) for name, layer in data["layers"].items()}
    print(f"{_setting_text(setting)}; {len(SEEDS)} seeds; test accuracy "
          f"{_pm(data['accuracy'], 1)}%")  # fmt: skip
    _print_layers({"layers": layers})
    return {"setting": setting, "accuracy": tuple(data["accuracy"]), "layers": layers}


def _as_tuples(layer: dict) -> dict:
    """A stored layer's printed measures as ``(mean, sd)`` tuples (its shape a tuple); the
    plotted curves left out."""
    return {
        name: tuple(value) if name == "shape" or name in MEASURES else value
        for name, value in layer.items()
        if name not in ("spectrum", "share", "gaussian_share", "captured")
    }


@small_work()
def update_geometry_demo(
    optimizer="adam", lr_factor=1.0, width=100, init_scale=1.0, stored: bool = True
) -> dict:
    """The update ``W_T - W_0`` of each layer of the MLP 40-width-width-10 after 600 steps.

    Left: singular values of each layer's update (seed 0) over the largest one, a Gaussian
    matrix of the same shape dashed. Middle: the energy share of the top k directions against
    k (mean over five seeds; dashed: Gaussian). Right: the share of the final update inside
    the top-5 subspaces found at each earlier step (``captured_share``), mean over seeds.
    Prints each layer's numerical rank (singular values above 1e-3 s_1), stable rank, top-5
    share, the k holding 90% of the energy (all mean +- sd over seeds, the last three next to a
    Gaussian matrix's) and the captured share at step 200. A position on the lesson's grid is
    read from the shipped table (:func:`geometry_for`): a move answers at once;
    ``stored=False`` trains now.
    """
    return show_geometry(geometry_for(optimizer, lr_factor, width, init_scale, stored))


@small_work()
def width_table() -> dict:
    """The k holding 90% of the energy of the hidden (width x width) layer's update at each
    width of the panel, for Adam (lr factor 1, initial scale 1) and SGD from a small start (lr
    factor 1, initial scale 0.3): mean +- sd over five seeds, and as a share of the width, next
    to a Gaussian width x width matrix's (mean of five). Read from the shipped table (computed
    now without one: a minute).

    Returns ``{width: {regime label: (mean, sd), "Gaussian": mean}}``.
    """
    rows = {}
    print(f"k holding {ENERGY:.0%} of the hidden layer's update at lr factor 1, mean +- sd "
          f"over {len(SEEDS)} seeds (share of the width)")  # fmt: skip
    print(f"{'width':>5} | " + " | ".join(f"{label:>20}" for label, _, _ in WIDTH_REGIMES)
          + f" | {'Gaussian':>12}")  # fmt: skip
    for width in lesson12_table.WIDTHS:
        row, cells = {}, []
        for label, optimizer, init_scale in WIDTH_REGIMES:
            hidden = geometry_for(optimizer, 1.0, width, init_scale)["layers"]["layer 2"]
            row[label] = tuple(hidden["rank_for_energy"])
            cells.append(f"{_pm(row[label], 1)} ({row[label][0] / width:.0%})")
        row["Gaussian"] = hidden["gaussian"]["rank_for_energy"][0]
        rows[width] = row
        print(f"{width:>5} | " + " | ".join(f"{cell:>20}" for cell in cells)
              + f" | {row['Gaussian']:>5.1f} ({row['Gaussian'] / width:.0%})")  # fmt: skip
    return rows


@small_work()
def architecture_demo(optimizer="adam") -> dict:
    """The MLP (width 100, 600 steps) against the 1-D CNN (25 channels, depth 3, 300 steps).

    Prints, for each, the test accuracy and the per-layer table of ``update_geometry_demo``;
    a convolution's update is read as the ``out x (in_channels kernel)`` matrix.
    """
    check_choice("optimizer", optimizer, tuple(BASE_LR))
    results = {}
    for architecture, setting in (("mlp", {}), ("cnn", CNN_SETTING)):
        setting = setting | {"optimizer": optimizer, "lr": BASE_LR[optimizer]}
        results[architecture] = sweep_setting(SEEDS, **setting)
        print(f"{_setting_text(setting)}: test accuracy "
              f"{_pm(results[architecture]['accuracy'], 1)}%")  # fmt: skip
        _print_layers(results[architecture])
    return {name: {"accuracy": r["accuracy"], "layers": r["layers"]} for name, r in
            results.items()}  # fmt: skip


@small_work()
def regime_table() -> list[dict]:
    """For each of ``REGIMES`` (MLP width 100, 600 steps, five seeds): test accuracy, and for
    the hidden 100 x 100 layer and the head, the top-5 share and the k that holds 90% of the
    update's energy, and the head's numerical rank (mean +- sd). A Gaussian 100 x 100 matrix
    needs k = 51 for 90%."""
    rows = []
    print(f"{'setting':>31} | {'accuracy %':>11} | {'layer 2 top-5':>13} | "
          f"{'layer 2 k90':>12} | {'head top-5':>11} | {'head k90':>10} | "
          f"{'head rank (1e-3)':>16}")  # fmt: skip
    for label, overrides in REGIMES:
        result = sweep_setting(SEEDS, **overrides)
        hidden, head = result["layers"]["layer 2"], result["layers"]["head"]
        print(f"{label:>31} | {_pm(result['accuracy'], 1):>11} | "
              f"{_pm(hidden['top_k_share']):>13} | {_pm(hidden['rank_for_energy'], 1):>12} | "
              f"{_pm(head['top_k_share']):>11} | "
              f"{_pm(head['rank_for_energy'], 1):>10} | {_pm(head['rank'], 1):>16}")  # fmt: skip
        rows.append({"label": label, "accuracy": result["accuracy"], "layer 2": hidden,
                     "head": head})  # fmt: skip
    reference = gaussian_reference((100, 100))
    print(f"a Gaussian 100 x 100 matrix: top-5 share {reference['top_k_share'][0]:.2f}, "
          f"k90 {reference['rank_for_energy'][0]:.1f}")  # fmt: skip
    return rows


@small_work()
def restricted_demo(k: int = TOP_K, t0: int = T0) -> dict:
    """Full training (600 steps) against training restricted after ``t0`` steps to
    ``W = W_t0 + U_k C V_k^T`` in every layer, in the learned top-k subspaces of the update so
    far or in random ones, for the default (Adam) and the SGD small-init regime, five seeds.

    One panel per regime: test accuracy per seed (at t0, full, learned, random). Prints mean
    +- sd, the paired difference learned - random, the numbers trained after t0 and whether every
    update after t0 lies in its span (``outside_span`` below OUTSIDE_TOLERANCE). The seconds are
    in :func:`restricted_seconds` (a timing changes from run to run).
    """
    k = check_int("k", k, low=1, high=40)
    t0 = check_int("t0", t0, low=1, high=DEFAULT_SETTING["steps"] - 1)
    figure, axes = demo_figure(len(RESTRICTED_REGIMES), 11, 3.6)
    results = {}
    keys = ("at t0", "full", "learned", "random")
    for ax, (label, overrides) in zip(axes, RESTRICTED_REGIMES, strict=True):
        result = restricted_comparison(k=k, t0=t0, **overrides)
        results[label] = result
        for seed_index in range(len(SEEDS)):
            ax.plot(range(len(keys)), [result["per_seed"][key][seed_index] for key in keys],
                    "o-", color="0.6", lw=0.8, ms=3)  # fmt: skip
        ax.plot(range(len(keys)), [result["accuracy"][key][0] for key in keys], "s-",
                color="k", label="mean")  # fmt: skip
        ax.set_xticks(range(len(keys)), ["at t0", "full", f"learned k={k}", f"random k={k}"])
        ax.set(ylabel="test accuracy (%)", title=label)
        ax.grid(True, alpha=0.3)
    show_figure(figure)
    for label, result in results.items():
        accuracy = result["accuracy"]
        print(f"{label}: restricted after t0 = {t0} of {DEFAULT_SETTING['steps']} steps, k = {k}")
        print(
            "  test accuracy: "
            + ", ".join(f"{key} {_pm(accuracy[key], 1)}" for key in keys)
            + f"; learned - random (paired by seed) {_pm(accuracy['learned - random'], 1)}"
        )
        inside = "yes" if result["outside"] < OUTSIDE_TOLERANCE else "NO"
        print(f"  numbers trained after t0: {result['trainable']['restricted']:,} of "
              f"{result['trainable']['full']:,}; every update after t0 inside its span "
              f"(outside part < {OUTSIDE_TOLERANCE:g} of it): {inside}")  # fmt: skip
    return results


@small_work()
def restricted_seconds(results: dict) -> dict:
    """One restricted step over one full step per regime of :func:`restricted_demo`, timed side
    by side (``update_sweep.step_time_ratio``: median of 60 pairs per seed, mean +- sd)."""
    ratios = {}
    for label, overrides in RESTRICTED_REGIMES:
        result = results[label]
        ratio = step_time_ratio(result["k"], result["t0"], result["seeds"], **overrides)
        ratios[label] = ratio["ratio"]
        print(f"{label}: one restricted step / one full step = {_pm(ratio['ratio'], 2)} "
              f"(median of 60 side-by-side pairs, {len(result['seeds'])} seeds)")  # fmt: skip
    return ratios


# ---------------------------------------------------------------------------------------------
# Capstone: when does the top-k subspace settle?
# ---------------------------------------------------------------------------------------------

CAPSTONE_SEEDS = (0, 1, 2, 3, 4)


@small_work()
def your_settling(
    largest_angle_function,
    k: int = 2,
    threshold: float = SETTLE_ANGLE,
    optimizer: str = "sgd",
    lr_factor: float = 1.0,
    width: int = 100,
    init_scale: float = 0.3,
) -> dict:
    """Capstone 12: the student's ``largest_angle`` on the updates of a network they choose.

    For the MLP of ``lesson_setting(optimizer, lr_factor, width, init_scale)`` (600 steps, the
    update recorded every 50), the largest angle between the top-k left subspace of each
    layer's update at step t and at the end. Left: seed 0, the course's curve and the
    student's crosses, the ``threshold`` dotted. Right: the settling step per layer (mean over
    five seeds) from the course's and the student's angles, and the spectral gap
    ``s_{k+1} / s_k`` at the end. A stub, an exception or NaN prints one line and the figure
    shows the course's result only.
    """
    k = check_int("k", k, low=1, high=10)
    threshold = check_float("threshold", threshold, low=0.0, high=math.pi / 2)
    setting = lesson_setting(optimizer, lr_factor, width, init_scale)
    runs = [trained_run(seed, **setting) for seed in CAPSTONE_SEEDS]
    names = runs[0].layer_names
    steps = runs[0].steps
    course = {name: [[largest_angle(delta, run.final_update(name), k) for delta in
                      run.updates[name]] for run in runs] for name in names}  # fmt: skip

    def students_run():
        return {name: [[float(largest_angle_function(delta.clone(), run.final_update(name).clone(),
                                                     k)) for delta in run.updates[name]]
                       for run in runs] for name in names}  # fmt: skip

    student = run_student_code(students_run, name="largest_angle", seconds=60.0)
    figure, (curves, settle) = demo_figure(2, 12, 3.6)
    settle_course, settle_student, gaps = {}, {}, {}
    for index, (color, name) in enumerate(zip(LAYER_COLORS, names, strict=False)):
        curves.plot(steps, course[name][0], color=color, label=f"{name} (course)")
        settle_course[name] = [_settled(steps, angles, threshold) for angles in course[name]]
        gaps[name] = mean_sd(spectral_gap(run.final_update(name), k) for run in runs)
        settle.bar(index - 0.2, sum(settle_course[name]) / len(runs), 0.4, color=color,
                   alpha=0.5)  # fmt: skip
        if student.ok:
            mine = student.value[name]
            curves.plot(steps, mine[0], "x", color="k", ms=5)
            settle_student[name] = [_settled(steps, angles, threshold) for angles in mine]
            settle.bar(index + 0.2, sum(settle_student[name]) / len(runs), 0.4, color="k",
                       alpha=0.7)  # fmt: skip
    curves.axhline(threshold, color="0.4", ls=":", lw=1)
    curves.set(xlabel="step t", ylabel="largest angle to the end (rad)",
               title=f"top-{k} left subspace, seed 0 (x: yours)")  # fmt: skip
    curves.legend(fontsize=7)
    settle.set_xticks(range(len(names)), names)
    settle.set(ylabel="settling step (mean of 5 seeds)",
               title="course (light) and yours (dark)")  # fmt: skip
    for ax in (curves, settle):
        ax.grid(True, alpha=0.3)
    figure.suptitle(_setting_text(setting) + f"; k = {k}, threshold {threshold:g} rad")
    show_figure(figure)

    print(f"{_setting_text(setting)}; top-{k} left subspace, threshold {threshold:g} rad")
    print(f"{'layer':>8} | {'settles at step (course)':>24} | {'s_k+1 / s_k at the end':>22}"
          + (f" | {'yours':>16}" if student.ok else ""))  # fmt: skip
    for name in names:
        row = (f"{name:>8} | {_pm(mean_sd(settle_course[name]), 0):>24} | "
               f"{_pm(gaps[name]):>22}")  # fmt: skip
        if student.ok:
            row += f" | {_pm(mean_sd(settle_student[name]), 0):>16}"
        print(row)
    result = {"course_settle": settle_course, "gaps": gaps, "student": None, "agree": None}
    if student.ok:
        agree = sum(
            abs(a - b) <= 1e-6
            for name in names
            for mine, theirs in zip(student.value[name], course[name], strict=True)
            for a, b in zip(mine, theirs, strict=True)
        )
        total = len(names) * len(runs) * len(steps)
        print(f"your angle equals the course's (within 1e-6 rad) at {agree} of {total} "
              "(layer, seed, step)")  # fmt: skip
        result.update(student=settle_student, agree=(agree, total))
    return result


def _settled(steps, angles, threshold) -> int:
    """The settling step, or the last step when only the end is within the threshold."""
    step = settling_step(steps, angles, threshold)
    return steps[-1] if step is None else step
