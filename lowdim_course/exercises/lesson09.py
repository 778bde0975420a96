"""Lesson 09 exercises: measuring heavy tails and compressibility (Barsbey et al. 2021).

* ``09.hill_estimator``: ``hill_estimator(samples, k) -> alpha_hat`` with
  ``1/alpha_hat = (1/k) sum_{i=1}^k log(|x|_(i) / |x|_(k+1))`` over the order statistics of the
  absolute values (Hill 1975); reference
  :func:`lowdim_course.literature.heavy_tails.hill_estimator`.
  The cases are Pareto and alpha-stable samples of known index.
* ``09.prunable_fraction``: ``prunable_fraction(weights, rel_error) -> fraction`` of entries that
  magnitude pruning can zero with relative l2 error at most ``rel_error``
  (:func:`lowdim_course.literature.heavy_tails.prunable_fraction`).
"""

from __future__ import annotations

import torch

from .framework import Case, Exercise, Mistake, compare_arrays, register, seeded_generator


def _reference_hill(samples, k):
    from ..literature.heavy_tails import hill_estimator

    return hill_estimator(samples, k)


def _reference_prunable(weights, rel_error):
    from ..literature.heavy_tails import prunable_fraction

    return prunable_fraction(weights, rel_error)


def _pareto(alpha, n, generator, signed=False):
    x = torch.rand(n, generator=generator, dtype=torch.float64) ** (-1 / alpha)
    if signed:
        x = x * torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    return x


def _hill_cases() -> list[Case]:
    from ..literature.heavy_tails import stable_samples

    generator = seeded_generator(9000)
    return [
        Case((_pareto(2.0, 5000, generator), 500), "5,000 Pareto samples of index 2, k=500"),
        Case((_pareto(1.0, 2000, generator, signed=True), 100), "signed Pareto, index 1, k=100"),
        Case((stable_samples(1.5, 4000, seed=3), 100), "4,000 alpha-stable samples, alpha=1.5"),
        Case((_pareto(4.0, 50, generator), 10), "50 Pareto samples of index 4, k=10"),
    ]


def _sorted_abs(samples):
    return torch.sort(torch.as_tensor(samples, dtype=torch.float64).abs(), descending=True).values


_HILL_MISTAKES = (
    Mistake(
        lambda x, k: float(torch.log(_sorted_abs(x)[:k] / _sorted_abs(x)[k]).mean()),
        "returned 1/alpha (the mean log-spacing) instead of alpha",
        "Hill's estimate of alpha is ONE OVER the mean of log(x_(i) / x_(k+1))",
    ),
    Mistake(
        lambda x, k: float(1 / torch.log(_sorted_abs(x)[:k] / _sorted_abs(x)[k - 1]).mean()),
        "divided by the k-th largest value instead of the (k+1)-th",
        "the threshold is x_(k+1), the largest value NOT among the k used (index k from 0)",
    ),
    Mistake(
        lambda x, k: float(1 / (torch.log(_sorted_abs(x)[:k] / _sorted_abs(x)[k]).sum() / (k + 1))),
        "averaged over k+1 terms",
        "the mean is over the k largest values: divide the sum by k",
    ),
    Mistake(
        lambda x, k: float(
            1
            / torch.log(
                torch.sort(torch.as_tensor(x, dtype=torch.float64))[0].flip(0)[:k]
                / torch.sort(torch.as_tensor(x, dtype=torch.float64))[0].flip(0)[k]
            ).mean()
        ),
        "sorted the signed samples (forgot the absolute value)",
        "the tail index is about |x|: sort x.abs()",
    ),
)

HILL = register(
    Exercise(
        id="09.hill_estimator",
        title="Hill's tail-index estimator",
        signature="hill_estimator(samples, k) -> alpha_hat",
        make_cases=_hill_cases,
        reference=_reference_hill,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, rtol=1e-8, mistakes=_HILL_MISTAKES, name="the tail index"
        ),
        hint="x = sorted |samples|, largest first; alpha_hat = 1 / mean(log(x[:k] / x[k]))",
    )
)


def _prunable_cases() -> list[Case]:
    from ..literature.heavy_tails import stable_samples

    generator = seeded_generator(9100)
    return [
        Case(
            (torch.tensor([10.0, 0.1, 0.2, -0.3, 5.0], dtype=torch.float64), 0.1),
            "[10, 0.1, 0.2, -0.3, 5], 10%",
        ),
        Case((torch.randn(1000, generator=generator, dtype=torch.float64), 0.1), "Gaussian, 10%"),
        Case((stable_samples(1.5, 2000, seed=4), 0.1), "2,000 alpha-stable weights, 10%"),
        Case((torch.randn(500, generator=generator, dtype=torch.float64), 0.3), "Gaussian, 30%"),
        Case((stable_samples(1.2, 300, seed=6).reshape(20, 15), 0.05), "a 20 x 15 matrix, 5%"),
    ]


def _energy(weights):
    w = torch.as_tensor(weights, dtype=torch.float64).flatten()
    return w, torch.cumsum(torch.sort(w * w).values, 0) / (w * w).sum()


_PRUNABLE_MISTAKES = (
    Mistake(
        lambda w, e: int((_energy(w)[1] <= e).sum()) / _energy(w)[0].numel(),
        "compared the pruned ENERGY with rel_error (forgot to square it)",
        "||w - w_pruned|| <= rel_error ||w|| means the removed sum of squares <= rel_error^2 "
        "times the total",
    ),
    Mistake(
        lambda w, e: int((_energy(w)[1] <= e * e).sum()),
        "returned the number of prunable weights, not the fraction",
        "divide by the number of weights",
    ),
    Mistake(
        lambda w, e: (
            int(
                (
                    torch.cumsum(torch.sort(torch.as_tensor(w).abs().flatten().double())[0], 0)
                    / torch.as_tensor(w).abs().double().sum()
                    <= e
                ).sum()
            )
            / torch.as_tensor(w).numel()
        ),
        "measured the error in l1 (sums of |w|) instead of l2",
        "use squares: the relative l2 error of the removed entries",
    ),
    Mistake(
        lambda w, e: (
            int(
                (
                    torch.cumsum(
                        torch.sort((torch.as_tensor(w).double() ** 2).flatten(), descending=True)[
                            0
                        ],
                        0,
                    )
                    / (torch.as_tensor(w).double() ** 2).sum()
                    <= e * e
                ).sum()
            )
            / torch.as_tensor(w).numel()
        ),
        "removed the LARGEST weights first",
        "magnitude pruning removes the smallest |w| first",
    ),
)

PRUNABLE = register(
    Exercise(
        id="09.prunable_fraction",
        title="The fraction prunable at a given error",
        signature="prunable_fraction(weights, rel_error) -> fraction",
        make_cases=_prunable_cases,
        reference=_reference_prunable,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, rtol=1e-9, mistakes=_PRUNABLE_MISTAKES, name="the fraction"
        ),
        hint="sort w**2 increasingly, cumulative sum / total; count the entries <= rel_error**2; "
        "divide by the number of weights",
    )
)
