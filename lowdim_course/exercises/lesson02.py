"""Lesson 02 exercises: deep mode dynamics and the effective rank.

* ``02.deep_mode_rhs``: the speed of a mode of an L-layer network from a balanced init,
  ``dm/dt = eta L m^{2-2/L} (s - m)`` per gradient step (Saxe et al. 2014; Arora et al. 2019,
  Thm. 3); reference :func:`lowdim_course.theory.deep_dynamics.deep_mode_rhs`.
* ``02.effective_rank``: ``erank(W) = exp(-sum_k p_k log p_k)`` with
  ``p_k = sigma_k / sum_j sigma_j`` (Roy & Vetterli 2007, Def. 1; ``0 log 0 = 0``); reference
  :func:`lowdim_course.theory.rank_measures.effective_rank`.
* ``02.train_deep_linear`` (capstone): gradient descent on ``1/2 ||W_L ... W_1 - M||_F^2`` from
  ``W_l(0) = eps I``, every layer stepping from the same old weights with
  ``grad_l = W_{L:l+1}^T (W_{L:1} - M) W_{l-1:1}^T``; returns the singular values of the
  end-to-end matrix at t = 0..steps (Arora, Cohen, Hu & Luo 2019, Sec. 3); reference
  :func:`lowdim_course.theory.deep_dynamics.identity_init_spectra`.
* ``02.halve_the_init`` (self-check): how the wait before a mode takes off changes when the
  end-to-end init of a depth-5 network is divided by 32, so that each layer's init halves
  (``t* ~ a0^{-(L-2)}``: 8 times longer).

The theory package is imported when a check runs, not when this module is imported.
"""

from __future__ import annotations

import torch

from .framework import (
    Case,
    Exercise,
    Mistake,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
)

# the capstone lives in its own module: importing it registers it
from .lesson02_capstone import (  # noqa: F401
    TRAIN_DEEP_LINEAR,
    reference_train_deep_linear,
)
from .self_check import choice_question


def reference_deep_mode_rhs(m, s, depth, eta):
    from ..theory.deep_dynamics import deep_mode_rhs

    return deep_mode_rhs(m, s, depth, eta)


def reference_effective_rank(matrix):
    from ..theory.rank_measures import effective_rank

    return effective_rank(matrix)


def _rhs(m, s, depth, eta, *, factor=None, exponent=None):
    factor = depth if factor is None else factor
    exponent = 2.0 - 2.0 / depth if exponent is None else exponent
    return eta * factor * m**exponent * (s - m)


def _rhs_cases() -> list[Case]:
    settings = [(5.0, 3, 1e-3), (1.0, 2, 0.1), (2.0, 4, 0.01), (3.0, 5, 0.5), (0.5, 3, 2.0)]
    cases = []
    for s, depth, eta in settings:
        m = torch.linspace(0.02 * s, 0.98 * s, 6, dtype=torch.float64)
        label = f"s={s:g}, depth={depth}, eta={eta:g}, m = a tensor of 6 values in (0, s)"
        cases.append(Case((m, s, depth, eta), label))
    return cases


_RHS_MISTAKES = (
    Mistake(
        lambda m, s, depth, eta: _rhs(m, s, depth - 1, eta),
        "this is the formula for depth L-1 (off by one in the depth)",
        "use the depth L as given: factor L and exponent 2 - 2/L",
    ),
    Mistake(
        lambda m, s, depth, eta: _rhs(m, s, depth + 1, eta),
        "this is the formula for depth L+1 (off by one in the depth)",
        "use the depth L as given: factor L and exponent 2 - 2/L",
    ),
    Mistake(
        lambda m, s, depth, eta: _rhs(m, s, depth, eta, exponent=2.0 / depth),
        "the exponent is 2/L; it should be 2 - 2/L",
        "m^{2-2/L}: for L = 2 this is m^1, the two-layer law 2m(s - m)",
    ),
    Mistake(
        lambda m, s, depth, eta: _rhs(m, s, depth, eta, exponent=2.0 - 1.0 / depth),
        "the exponent is 2 - 1/L; it should be 2 - 2/L",
        "m^{2-2/L}: for L = 2 this is m^1, the two-layer law 2m(s - m)",
    ),
    Mistake(
        lambda m, s, depth, eta: _rhs(m, s, depth, eta, factor=1),
        "the factor L is missing",
        "m = a^L, so dm/dt = L a^{L-1} da/dt: the chain rule brings the depth out in front",
    ),
    Mistake(
        lambda m, s, depth, eta: _rhs(m, s, depth, 1.0),
        "the step eta is missing",
        "per gradient step the speed is multiplied by eta (tau = 1/eta)",
    ),
    Mistake(
        lambda m, s, depth, eta: _rhs(m, s, depth, 1.0 / eta),
        "divided by the step eta instead of multiplying",
        "tau dm/dt = ... with tau = 1/eta, so dm/dt = eta * (...)",
    ),
)

DEEP_MODE_RHS = register(
    Exercise(
        id="02.deep_mode_rhs",
        title="How fast a mode of a deep network grows",
        signature="deep_mode_rhs(m, s, depth, eta) -> eta L m^{2-2/L} (s - m)",
        make_cases=_rhs_cases,
        reference=reference_deep_mode_rhs,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, mistakes=_RHS_MISTAKES, name="dm/dt"
        ),
        hint="the boxed mode equation divided by tau: the step eta, the depth, m raised to "
        "2 - 2/L and the distance still to go, s - m, all multiplied, value by value",
    )
)


def _erank_cases() -> list[Case]:
    generator = seeded_generator(2000)
    diagonal = torch.diag(torch.tensor([3.0, 1.0, 0.0, 0.0], dtype=torch.float64))
    orthogonal, _ = torch.linalg.qr(random_matrix(5, 5, generator))
    column = random_matrix(6, 1, generator)
    row = random_matrix(1, 4, generator)
    decaying = random_matrix(7, 7, generator) @ torch.diag(
        torch.tensor([2.0**-k for k in range(7)], dtype=torch.float64)
    )
    return [
        Case((random_matrix(6, 6, generator),), "a 6 x 6 Gaussian matrix"),
        Case((diagonal,), "diag(3, 1, 0, 0): two singular values are exactly 0"),
        Case((random_matrix(5, 8, generator),), "a 5 x 8 Gaussian matrix"),
        Case((2.0 * orthogonal,), "2 x an orthogonal 5 x 5 matrix (all singular values equal)"),
        Case((decaying,), "a 7 x 7 matrix with decaying columns"),
        Case((column @ row,), "a 6 x 4 matrix of rank one"),
    ]


def _spectrum(matrix):
    return torch.linalg.svdvals(matrix)


def _entropy(p):
    p = p[p > 0]
    return -(p * torch.log(p)).sum()


_ERANK_MISTAKES = (
    Mistake(
        lambda w: _entropy(_spectrum(w) / _spectrum(w).sum()),
        "returned the entropy -sum p_k log p_k: the exp is missing",
        "the effective rank is exp(entropy)",
    ),
    Mistake(
        lambda w: torch.exp(-_entropy(_spectrum(w) / _spectrum(w).sum())),
        "exp(+sum p_k log p_k): the minus sign is missing (this is 1/erank)",
        "erank = exp(-sum_k p_k log p_k), the minus makes it >= 1",
    ),
    Mistake(
        lambda w: torch.exp(_entropy(_spectrum(w) ** 2 / (_spectrum(w) ** 2).sum())),
        "p_k from the squared singular values",
        "p_k = sigma_k / sum_j sigma_j, the singular values themselves (not squared)",
    ),
    Mistake(
        lambda w: 2.0 ** _entropy(_spectrum(w) / _spectrum(w).sum()),
        "2 ** entropy: the entropy is in nats, so the base is e",
        "use the natural log and torch.exp",
    ),
    Mistake(
        lambda w: torch.exp(_entropy(_spectrum(w) / _spectrum(w).max())),
        "p_k normalized by the largest singular value instead of the sum",
        "p_k = sigma_k / sum_j sigma_j, so that the p_k sum to 1",
    ),
)

EFFECTIVE_RANK = register(
    Exercise(
        id="02.effective_rank",
        title="The effective rank",
        signature="effective_rank(W) -> exp(-sum_k p_k log p_k), p_k = sigma_k / sum_j sigma_j",
        make_cases=_erank_cases,
        reference=reference_effective_rank,
        compare=lambda expected, got, case: compare_arrays(
            expected,
            got,
            case,
            mistakes=_ERANK_MISTAKES,
            name="the effective rank",
            nan_hint="0 log 0 counts as 0: leave the zero p_k out of the sum (log 0 is -inf), "
            "or use a function that defines x log x as 0 at x = 0",
        ),
        hint="turn the singular values into a probability vector (each divided by their sum), "
        "take its entropy in nats, and exponentiate",
    )
)


# ---------------------------------------------------------------------------------------------
# Self-check: what a 32 times smaller end-to-end init (each layer halved) does to the wait
# ---------------------------------------------------------------------------------------------

HALVE_THE_INIT = register(
    choice_question(
        id="02.halve_the_init",
        title="A deep network started 32 times smaller end to end",
        options={
            "a": "it gets longer by a fixed number of steps, whatever m0 was",
            "b": "about 2 times longer",
            "c": "about 8 times longer",
            "d": "about 32 times longer",
        },
        correct="c",
        why_wrong={
            "a": "that is the two-layer law: for L = 2 a small mode grows exponentially and the "
            "wait is logarithmic in 1/m0, so dividing m0 by 32 only adds (tau/2s) ln 32 steps. "
            "For L >= 3 a small layer grows like a^(L-1), faster than exponentially, and the "
            "wait is polynomial in 1/a0",
            "b": "2 is how much each layer's scale a0 = m0^(1/5) shrinks, and the wait is "
            "proportional to 1/a0 only at depth 3. At L = 5 it scales as a0^-(L-2) = a0^-3",
            "d": "32 is how much the end-to-end init m0 shrinks, but the wait is not "
            "proportional to 1/m0: it scales as a0^-(L-2) = m0^(-(L-2)/L), and at L = 5 "
            "that is 32^(3/5) = 8",
        },
        hint="turn the change of m0 into the change of each layer's a0 (m0 = a0^L), then use how "
        "the onset time t* of Section 2 depends on a0",
    )
)
