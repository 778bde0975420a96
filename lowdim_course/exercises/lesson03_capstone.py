"""Lesson 03's capstone exercise, ``03.measure_layer``.

Measure rho(t) and the moved rank on a layer, without knowing r: the reference answer, hidden
cases and named mistakes; registered when ``lesson03`` (which imports this module) is imported.
"""

from __future__ import annotations

import torch

from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    random_matrix,
    register,
    seeded_generator,
    to_integer,
    to_tensor,
)

RHO_RTOL = 1e-9  # singular values this close (relative) count as equal
RANK_RTOL = 1e-10  # moved singular values above this times ||W_l(t)||_2 count


def reference_measure_layer(layer_t, layer_0, eps):
    from ..theory.invariant_subspace import measure_layer

    return measure_layer(layer_t, layer_0, eps, RHO_RTOL, RANK_RTOL)


def _moved_rank_at(layer_t, layer_0, rho, eps, *, relative_to="layer", shrink=True):
    moved = layer_t - ((rho / eps) if shrink else 1.0) * layer_0
    sigma = torch.linalg.svdvals(moved)
    if relative_to == "layer":
        scale = torch.linalg.svdvals(layer_t)[0]
    else:
        scale = sigma[0]
    if scale == 0:
        return 0
    return int((sigma > RANK_RTOL * scale).sum())


def _largest_group(layer_t, eps=None) -> float:
    sigma = torch.linalg.svdvals(layer_t)
    close = (sigma[None, :] - sigma[:, None]).abs() <= RHO_RTOL * sigma[:, None]
    best = int(torch.argmax(close.sum(1)))
    return float(sigma[close[best]].mean())


def _measured(rho_of, **rank_options):
    def measure(layer_t, layer_0, eps):
        rho = rho_of(layer_t, eps)
        return rho, _moved_rank_at(layer_t, layer_0, rho, eps, **rank_options)

    return measure


_MEASURE_MISTAKES = (
    Mistake(
        _measured(lambda layer, eps: eps),
        "used rho = eps: the frozen directions shrink with rho(t), so the init must be scaled "
        "by rho(t)/eps, not left at eps",
        "rho(t) is not a parameter here: read it off the layer's singular values",
    ),
    Mistake(
        _measured(lambda layer, eps: float(torch.linalg.svdvals(layer).median())),
        "took the median singular value as rho: it finds the plateau only when the moving "
        "values split evenly around it (a run from an orthogonal start has r above and r "
        "below); the theorem does not promise that, and in this layer they do not",
        "rho is the value that the largest group of singular values shares, wherever in the "
        "spectrum that group sits",
    ),
    Mistake(
        _measured(lambda layer, eps: float(torch.linalg.svdvals(layer).quantile(0.5))),
        "took the median singular value as rho: it finds the plateau only when the moving "
        "values split evenly around it (a run from an orthogonal start has r above and r "
        "below); the theorem does not promise that, and in this layer they do not",
        "rho is the value that the largest group of singular values shares, wherever in the "
        "spectrum that group sits",
    ),
    Mistake(
        _measured(lambda layer, eps: float(torch.linalg.svdvals(layer)[-1])),
        "took the smallest singular value as rho: some of the 2r moving directions can sit "
        "below rho",
        "rho is the value that the largest group of singular values shares, wherever in the "
        "spectrum that group sits",
    ),
    Mistake(
        _measured(lambda layer, eps: float(torch.linalg.svdvals(layer)[0])),
        "took the largest singular value as rho: that is a learned direction",
        "rho is the value that the largest group of singular values shares, wherever in the "
        "spectrum that group sits",
    ),
    Mistake(
        _measured(_largest_group, relative_to="moved part"),
        "the rank's tolerance is relative to the moved part itself: when nothing has moved "
        "yet, rounding noise is all there is and counts as full rank",
        "rounding errors are of the size of the layer, so compare the moved part's singular "
        "values with the layer's largest one",
    ),
    Mistake(
        _measured(_largest_group, shrink=False),
        "subtracted W_l(0) itself: the init must first be shrunk by rho/eps, as the frozen "
        "directions were",
        "the moved part is W_l(t) - (rho/eps) W_l(0): then the frozen block cancels exactly",
    ),
)


def _compare_measurement(expected, got, case) -> Problem | None:
    expected_rho, expected_rank = expected
    if not isinstance(got, tuple | list) or len(got) != 2:
        return Problem(
            f"returned {type(got).__name__}, expected a pair (rho_hat, moved_rank)",
            "return two things: the estimated rho(t) (a number) and the rank (an integer)",
        )
    rho, rank = to_tensor(got[0], "a number"), to_integer(got[1])
    if isinstance(rho, Problem):
        return Problem(f"rho_hat: {rho.what}", "rho_hat is one number, e.g. a float")
    if isinstance(rank, Problem):
        return Problem(f"moved_rank: {rank.what}", "the rank is a whole number")
    if rho.numel() != 1:
        return Problem(f"rho_hat has shape {tuple(rho.shape)}, expected a single number")
    rho = rho.item()
    rho_ok = abs(rho - expected_rho) <= 1e-7 * expected_rho
    if rho_ok and rank == expected_rank:
        return None
    for mistake in _MEASURE_MISTAKES:
        try:
            wrong_rho, wrong_rank = mistake.compute(*case.args)
        except Exception:
            continue
        # a wrong rho names its mistake whatever the rank; a right rho needs the rank too
        rho_mistake = abs(wrong_rho - expected_rho) > 1e-7 * expected_rho
        if abs(rho - wrong_rho) <= 1e-7 * abs(wrong_rho) and (rho_mistake or rank == wrong_rank):
            return Problem(mistake.what, mistake.hint)
    if not rho_ok:
        return Problem(
            f"wrong rho_hat: expected {expected_rho:.6g}, got {rho:.6g}",
            "rho is the value that the largest group of (nearly) equal singular values shares",
        )
    return Problem(
        f"wrong moved rank: expected {expected_rank}, got {rank} (rho_hat is right)",
        "subtract the init shrunk by rho_hat/eps, then count the singular values above "
        "1e-10 times the layer's largest",
    )


def _layer_pair(d, r, eps, rho, block_values, generator):
    """``W(0) = eps P Q^T`` and ``W(t) = P diag(B, rho I_{d-2r}) Q^T``, B with the given
    singular values: the structure of Yaras et al.'s theorem, built directly."""
    left, _ = torch.linalg.qr(random_matrix(d, d, generator))
    right, _ = torch.linalg.qr(random_matrix(d, d, generator))
    block_left, _ = torch.linalg.qr(random_matrix(2 * r, 2 * r, generator))
    block_right, _ = torch.linalg.qr(random_matrix(2 * r, 2 * r, generator))
    values = torch.tensor(block_values, dtype=torch.float64)
    middle = torch.eye(d, dtype=torch.float64) * rho
    middle[: 2 * r, : 2 * r] = (block_left * values) @ block_right.T
    return left @ middle @ right.T, eps * left @ right.T


def _real_run_case() -> Case:
    """W_2 after 150 steps of gradient descent (step 0.05, summed loss) from ``0.3 O_l``,
    fitting a rank-2 target, d = 10, L = 3: a real run, written out here (the grader flags
    calls into the course's trainer while the cases are made)."""
    generator = seeded_generator(3301)
    d, depth, eps, eta = 10, 3, 0.3, 0.05
    target = random_matrix(d, 2, generator) @ random_matrix(2, d, generator) / 3
    layers = [eps * torch.linalg.qr(random_matrix(d, d, generator))[0] for _ in range(depth)]
    start = [layer.clone() for layer in layers]
    for _ in range(150):
        product = layers[2] @ layers[1] @ layers[0]
        residual = product - target
        gradients = [
            (layers[2] @ layers[1]).T @ residual,
            layers[2].T @ residual @ layers[0].T,
            residual @ (layers[1] @ layers[0]).T,
        ]
        layers = [w - eta * g for w, g in zip(layers, gradients, strict=True)]
    return Case((layers[1], start[1], eps), "W_2 of a real run (d=10, r=2, L=3, eps=0.3) at t=150")


def _measure_cases() -> list[Case]:
    generator = seeded_generator(3300)
    settings = [  # d, r, eps, rho, the 2r singular values of the moving block
        (10, 2, 0.1, 0.0731, (1.2, 0.8, 0.05, 0.02)),
        (10, 3, 0.3, 0.21, (1.5, 1.1, 0.7, 0.5, 0.4, 0.35)),
        (12, 1, 0.01, 0.0099, (0.9, 0.004)),
    ]
    cases = []
    for d, r, eps, rho, block in settings:
        layer_t, layer_0 = _layer_pair(d, r, eps, rho, block, generator)
        label = f"d={d}, eps={eps:g}, a layer with {d - 2 * r} singular values at rho={rho:g}"
        cases.append(Case((layer_t, layer_0, eps), label))
    start, _ = torch.linalg.qr(random_matrix(8, 8, generator))
    shrunk = 0.7 * (0.05 * start)
    cases.append(Case((shrunk, 0.05 * start, 0.05), "nothing moved yet: W(t) = 0.7 W(0), d=8"))
    cases.append(_real_run_case())
    return cases


MEASURE_LAYER = register(
    Exercise(
        id="03.measure_layer",
        title="Capstone: read rho(t) and the moved rank off a layer",
        signature="measure_layer(layer_t, layer_0, eps) -> (rho_hat, moved_rank)",
        make_cases=_measure_cases,
        reference=reference_measure_layer,
        compare=_compare_measurement,
        hint="the frozen directions all share one singular value, so rho(t) is the value that "
        "the most singular values agree on (to a relative 1e-9); subtract the init shrunk by "
        "rho_hat/eps and count the moved part's singular values above 1e-10 times the layer's "
        "largest",
        tags=(CAPSTONE_TAG,),
    )
)
