"""Lesson 11 demos: measuring compressibility (Ou et al. survey; Roy & Vetterli 2007; Hoyer 2004).

* ``measures_vs_errors``: effective rank, stable rank, Hoyer and Gini of 40 matrices (decaying
  spectra and heavy-tailed entries) against the errors of their best rank-k and k-sparse
  compressions; the Spearman correlations say which measure predicts which error;
* ``rank_surrogates``: the survey's claim that the effective rank beats l1-type measures of the
  singular values, tested as a predictor of the rank-k error on five such families;
* ``erank_staircase_demo``: the effective rank of the end-to-end matrix while a deep linear
  network fits a rank-5 target (d = 50), plateau by plateau.
"""

from __future__ import annotations

import functools

import torch

from ..literature.compressibility import (
    erank_staircase,
    matrix_family,
    prediction_table,
    spectral_prediction_over_seeds,
)
from ..networks import original_network
from ..plots import demo_figure, show_figure
from ..problems import make_problem
from ..training import train
from .lesson03 import course_learning_rate


@functools.lru_cache(maxsize=1)
def _family():
    return matrix_family(count=40, size=30, seed=0)


@functools.lru_cache(maxsize=8)
def _table(keep: float) -> dict:
    return prediction_table(_family()[0], keep=keep)


def measures_vs_errors(keep: float = 0.2):
    """Scatter plots of measure against compression error; prints the correlation table.

    ``keep``: the rank-k compression keeps ``k = keep * 30`` singular triplets; the k-sparse
    one keeps as many entries as that factorization has numbers, ``k (30 + 30)``.
    """
    keep = round(keep, 4)
    table = _table(keep)
    labels = _family()[1]
    colors = ["tab:blue" if item["kind"] == "decaying spectrum" else "tab:red" for item in labels]
    figure, axes = demo_figure(2, 10, 3.6)
    for ax, measure, error in (
        (axes[0], "effective rank", "rank-k"),
        (axes[1], "Hoyer", "k-sparse"),
    ):
        ax.scatter(table["measures"][measure], table["errors"][error], c=colors, s=14)
        rho = table["correlation"][measure][error]
        ax.set(xlabel=measure, ylabel=f"{error} relative error", title=f"Spearman {rho:.2f}")
    axes[0].scatter([], [], c="tab:blue", s=14, label="decaying spectrum")
    axes[0].scatter([], [], c="tab:red", s=14, label="stable entries")
    axes[0].legend(fontsize=8)
    show_figure(figure)
    k = max(1, round(keep * 30))
    print(f"40 matrices 30 x 30; rank-k keeps k={k}, k-sparse keeps {k * 60} entries")
    print(f"{'Spearman':>15} | {'rank-k':>7} | {'k-sparse':>8}")
    for measure, row in table["correlation"].items():
        print(f"{measure:>15} | {row['rank-k']:>7.2f} | {row['k-sparse']:>8.2f}")
    return table["correlation"]


@functools.lru_cache(maxsize=2)
def _spectral(seeds: tuple, keeps: tuple) -> dict:
    return spectral_prediction_over_seeds(seeds=seeds, keeps=keeps)


def rank_surrogates(seeds=(0, 1, 2, 3, 4), keeps=(0.1, 0.2, 0.3)) -> dict:
    """Spearman correlation of each measure of the singular values with the rank-k error.

    One family of 40 matrices per seed (``matrix_family``); prints, per budget ``keep``, each
    measure's correlation as mean +- sd over the seeds, and which measure was best in each seed.
    Sparsity measures are turned so that larger means less compressible, like the ranks.
    """
    table = _spectral(tuple(seeds), tuple(keeps))
    names = list(table["correlation"][keeps[0]])
    print(f"Spearman correlation with the rank-k error, {len(seeds)} families of 40 matrices "
          "(mean +- sd over the families)")  # fmt: skip
    print(f"{'measure of the singular values':>32} | "
          + " | ".join(f"k = {round(keep * 30):>2} of 30" for keep in keeps))  # fmt: skip
    for name in names:
        cells = [table["correlation"][keep][name] for keep in keeps]
        print(f"{name:>32} | " + " | ".join(f"{m:.3f} +- {sd:.3f}" for m, sd in cells))
    for keep in keeps:
        wins = table["best_counts"][keep]
        shown = ", ".join(f"{name} {count}" for name, count in wins.items() if count)
        print(f"best measure per family at k = {round(keep * 30)}: {shown}")
    return table


@functools.lru_cache(maxsize=8)
def _run(depth: int, eps: float, d: int = 50, r: int = 5, steps: int = 3000):
    problem = make_problem("mf", d=d, r=r, seed=0)
    network = original_network(d, depth, eps, seed=0)
    history = train(problem, network, lr=course_learning_rate(d), steps=steps, log_every=10)
    return problem, history


def erank_staircase_demo(depth: int = 3, eps: float = 0.01):
    """Effective rank of ``W_{L:1}`` over training (d = 50, r = 5, lr = 50 (d/100)^(4/3)).

    Marks the predicted plateaus ``erank(s_1, ..., s_k)``; prints start, lowest, the iteration at
    which each mode is learned, the effective rank halfway between two such moments (the measured
    plateaus, see ``erank_staircase``) and the end against erank(M*).
    """
    eps = round(eps, 6)
    problem, history = _run(depth, eps)
    stairs = erank_staircase(history, problem.target)
    figure, (ax,) = demo_figure(1, 7, 3.6)
    ax.semilogy(history.log_iterations, stairs["erank"], color="tab:purple")
    for value in stairs["predicted"]:
        ax.axhline(value, color="0.7", lw=0.6, ls=":")
    ax.set(
        xlabel="iteration",
        ylabel="effective rank of $W_{L:1}$",
        title=f"deep factorization d=50, r=5, L={depth}, eps={eps:.3g}",
    )
    show_figure(figure)
    plateaus = ", ".join("-" if p is None else f"{p:.2f}" for p in stairs["plateaus"])
    predicted = ", ".join(f"{p:.2f}" for p in stairs["predicted"])
    print(
        f"effective rank: start {stairs['start']:.3g}, lowest {stairs['lowest']:.2f}, "
        f"end {stairs['end']:.2f} (erank(M*) = {stairs['target']:.2f})"
    )
    learned = ", ".join("-" if t is None else f"{t:,}" for t in stairs["learned_at"])
    print(f"mode k learned (sigma_k reaches s_k/2) at iteration: {learned}")
    print(f"effective rank halfway between modes k and k+1: {plateaus}")
    print(f"predicted erank(s_1..s_k):                     {predicted}")
    final = float(history.recovery_error[-1])
    print(f"recovery error after {history.steps:,} steps: {final:.1e}")
    return {key: value for key, value in stairs.items() if key != "erank"} | {
        "final_error": final,
        "erank_curve": torch.as_tensor(stairs["erank"]),
    }
