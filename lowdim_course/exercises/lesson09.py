"""Lesson 09 exercises: measuring heavy tails and compressibility (Barsbey et al. 2021).

* ``09.hill_estimator``: ``hill_estimator(samples, k) -> alpha_hat`` with
  ``1/alpha_hat = (1/k) sum_{i=1}^k log(|x|_(i) / |x|_(k+1))`` over the order statistics of the
  absolute values (Hill 1975); reference
  :func:`lowdim_course.literature.heavy_tails.hill_estimator`.
  The cases are Pareto and alpha-stable samples of known index.
* ``09.prunable_fraction``: ``prunable_fraction(weights, rel_error) -> fraction`` of entries that
  magnitude pruning can zero with relative l2 error at most ``rel_error``
  (:func:`lowdim_course.literature.heavy_tails.prunable_fraction`).
* ``09.block_tail_index`` (capstone): ``block_tail_index(samples) -> alpha_hat``, the block-sum
  estimator of Mohammadi, Mohammadpour, Ogata (2015) with the median over block sizes that
  Barsbey et al.'s code takes, uncapped (a capped one fails on uniform samples); reference
  :func:`lowdim_course.literature.heavy_tails.stable_tail_index`.
* ``09.below_two`` (self-check): a layer reads 1.02 on its raw entries, with column medians
  about 0.3: what to do first (centre the columns: an offset pulls the estimate towards 1).
"""

from __future__ import annotations

import math

import torch

from .capstone import CAPSTONE_TAG
from .framework import Case, Exercise, Mistake, compare_arrays, register, seeded_generator
from .self_check import choice_question


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
        "the threshold is x_(k+1), the largest value NOT among the k used",
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
        "the tail index is about |x|: rank the samples by their absolute value",
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
        hint="above a high threshold a power-law tail looks exponential on a log scale, with "
        "rate alpha: take the k largest |x| as the tail and the next one as the threshold; "
        "alpha is one over their mean log-excess over the threshold",
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
        # a tie: removing one entry leaves exactly 0.5^2 of the energy (exact in floating
        # point), so "error at most rel_error" keeps it and a strict "<" does not
        Case(
            (torch.tensor([[1.0, -1.0], [1.0, 1.0]], dtype=torch.float64), 0.5),
            "[[1, -1], [1, 1]], 50%",
        ),
    ]


def _energy(weights):
    w = torch.as_tensor(weights, dtype=torch.float64).flatten()
    return w, torch.cumsum(torch.sort(w * w).values, 0) / (w * w).sum()


_PRUNABLE_MISTAKES = (
    Mistake(
        lambda w, e: int((_energy(w)[1] < e * e).sum()) / _energy(w)[0].numel(),
        "stopped BEFORE a removal whose error equals rel_error exactly (used < instead of <=)",
        "the error may reach rel_error: count the removals whose share of the energy is at "
        "most rel_error squared",
    ),
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
        hint="remove the weights from the smallest |w| upwards and follow the share of the "
        "squared norm removed so far; count how many can go while that share stays within "
        "rel_error squared, as a fraction of all weights",
    )
)


# ---------------------------------------------------------------------------------------------
# Capstone: the block estimator Barsbey et al. use, with the median over block sizes
# ---------------------------------------------------------------------------------------------

_BLOCK_SIZES = (2, 5, 10, 20, 50, 100, 500, 1000)


def _reference_block(samples):
    from ..literature.heavy_tails import stable_tail_index

    return stable_tail_index(samples)


def _block_cases() -> list[Case]:
    from ..literature.heavy_tails import stable_samples

    generator = seeded_generator(9200)
    return [
        Case((stable_samples(1.5, 2000, seed=11),), "2,000 alpha-stable samples, alpha=1.5"),
        Case((stable_samples(1.2, 1500, seed=12),), "1,500 alpha-stable samples, alpha=1.2"),
        Case(
            (torch.randn(1000, generator=generator, dtype=torch.float64),),
            "1,000 Gaussian samples",
        ),
        Case((stable_samples(1.8, 1234, seed=13),), "1,234 alpha-stable samples, alpha=1.8"),
        # bounded samples: no power-law tail, and the uncapped median reads above 2 (2.2-2.5)
        Case(
            (2 * torch.rand(1000, generator=generator, dtype=torch.float64) - 1,),
            "1,000 uniform samples on [-1, 1]",
        ),
    ]


def _block_variant(samples, **wrong) -> float:
    """The block estimate with one named mistake in ``wrong``; written without the core."""
    x = torch.as_tensor(samples, dtype=torch.float64).flatten()
    n = x.numel()
    limit = n if wrong.get("large_blocks") else n // 2
    sizes = [k for k in _BLOCK_SIZES if k <= limit]
    if not wrong.get("no_sqrt"):
        sizes.append(max(2, math.isqrt(n)))
    sizes = sorted(set(sizes))
    estimates = []
    for k1 in sizes:
        k2 = n // k1
        used = x[: k1 * k2]
        if wrong.get("strided"):
            blocks = used.reshape(k1, k2).sum(0)
        elif wrong.get("abs_sums"):
            blocks = used.abs().reshape(k2, k1).sum(1)
        else:
            blocks = used.reshape(k2, k1).sum(1)
        base = x if wrong.get("leftovers") else used
        gap = float(torch.log(blocks.abs()).mean() - torch.log(base.abs()).mean())
        scale = math.log(k2) if wrong.get("log_k2") else math.log(k1)
        estimates.append(gap / scale if wrong.get("inverse") else scale / gap)
    values = torch.tensor(estimates, dtype=torch.float64)
    if wrong.get("capped"):
        return min(float(torch.quantile(values, 0.5)), 2.0)
    if wrong.get("mean"):
        return float(values.mean())
    if wrong.get("lower_median"):
        return float(torch.sort(values).values[(values.numel() - 1) // 2])
    return float(torch.quantile(values, 0.5))


def _block(**wrong):
    return lambda samples: _block_variant(samples, **wrong)


_BLOCK_MISTAKES = (
    Mistake(
        _block(capped=True),
        "capped the estimate at 2 (min(median, 2))",
        "return the median uncapped: a reading above 2 is what tells you the samples are not "
        "from a stable law with infinite variance (Barsbey et al.'s code caps; this function "
        "must not, so that the lesson can see where the estimate lands)",
    ),
    Mistake(
        _block(inverse=True),
        "returned 1/alpha (the log gap over log K1) instead of alpha",
        "the mean log grows by log(K1) / alpha: alpha is log K1 over the gap",
    ),
    Mistake(
        _block(log_k2=True),
        "divided by log K2, the number of blocks, instead of log K1, the block size",
        "a sum of K1 stable samples is K1^(1/alpha) times one sample: the scale is the number "
        "of samples IN a block",
    ),
    Mistake(
        _block(mean=True),
        "averaged the estimates of the block sizes instead of taking their median",
        "one bad block size (e.g. a few huge blocks) drags a mean along: take the median",
    ),
    Mistake(
        _block(lower_median=True),
        "took the lower of the two middle estimates (torch.median does that) for an even number "
        "of block sizes",
        "with an even number of estimates the median is the mean of the two middle ones",
    ),
    Mistake(
        _block(abs_sums=True),
        "summed |X| in each block instead of X",
        "the stability property is about sums of the signed samples: positive and negative "
        "values must be allowed to cancel; take |.| of the block sum",
    ),
    Mistake(
        _block(no_sqrt=True),
        "left out the block size floor(sqrt(n))",
        "the block sizes are those of the list up to n // 2, plus floor(sqrt(n)), each once",
    ),
    Mistake(
        _block(large_blocks=True),
        "kept block sizes larger than n/2 (a single block is no average)",
        "use only the block sizes K1 <= n // 2, so that there are at least two blocks",
    ),
    Mistake(
        _block(strided=True),
        "summed strided blocks (every K2-th sample) instead of consecutive ones",
        "block i holds the K1 consecutive samples i*K1, ..., (i+1)*K1 - 1",
    ),
    Mistake(
        _block(leftovers=True),
        "used the leftover samples beyond K1*K2 in the mean of log|X|",
        "both means are over the same K1*K2 samples: drop the leftovers from both",
    ),
)

BLOCK_TAIL_INDEX = register(
    Exercise(
        id="09.block_tail_index",
        title="Capstone: the block estimator of the tail index",
        signature="block_tail_index(samples) -> alpha_hat",
        make_cases=_block_cases,
        reference=_reference_block,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, rtol=1e-6, mistakes=_BLOCK_MISTAKES, name="the tail index"
        ),
        hint="summing K1 independent alpha-stable samples multiplies their size by "
        "K1^(1/alpha): compare the mean log-size of block sums with that of single samples, "
        "for each block size, and take the median of the resulting alphas",
        tags=(CAPSTONE_TAG,),
    )
)


BELOW_TWO = register(
    choice_question(
        id="09.below_two",
        title="A raw reading far below 2: what to do first",
        options={
            "a": "nothing: 1.02 is below 2, so the variance is infinite and the layer is "
            "compressible",
            "b": "centre each column by its median and estimate again: with an offset the block "
            "sums grow like K1, not K1^(1/alpha), and the estimate drifts towards 1",
            "c": "cap the reading at 2, since the estimator cannot see above 2",
            "d": "use larger blocks only: 1.02 is the noise of the small blocks",
        },
        correct="b",
        why_wrong={
            "a": "the formula assumes a strictly stable law, centred at 0. With a column offset "
            "of 0.3 and spread 0.5, a block of K1 entries sums to about 0.3 K1, so log|Y| grows "
            "by log K1 and the estimate reads about 1 whatever the tail: Gaussian entries with "
            "those medians and spreads read 1.02 raw and 1.88 centred (the cell below)",
            "c": "capping changes nothing below 2: 1.02 stays 1.02. The reading is low because "
            "of the offset, not because it overshoots",
            "d": "larger blocks make it worse: the offset's share of a block sum grows with K1, "
            "so the largest block sizes read closest to 1",
        },
        hint="what is the sum of K1 entries of a column whose entries are about 0.3 plus "
        "noise of size 0.5, for K1 = 2 and for K1 = 500? Compare with K1^(1/alpha) times one "
        "entry",
    )
)
