"""Lesson 13 exercises: LoRA and Deep LoRA, the counts, the update and the compressed start.

* ``13.trainable_counts``: the numbers each update of an m x n layer trains, full fine-tuning
  ``m n``, LoRA ``r (m + n)``, the full-width deep factorization ``w n + w^2 + m w``
  (``w = max(m, n)``) and Deep LoRA ``3 r^2`` (its outer factors L and R are fixed).
* ``13.deep_lora_update``: ``Delta = L M_3 M_2 M_1 R^T`` from the fixed outer factors and the
  three trained ``r x r`` ones; reference :meth:`lowdim_course.adapters.Adapter.delta`.
* ``13.compressed_start`` (capstone): ``(L, R)`` from the full-width factorization's start and
  the loss's gradient; reference :func:`lowdim_course.adapters.compressed_deep_start`.
* ``13.why_fixed_outer_factors`` (self-check): why L and R can stay fixed.
"""

from __future__ import annotations

import torch

from .capstone import CAPSTONE_TAG
from .framework import (
    Case,
    Exercise,
    Mistake,
    Problem,
    compare_arrays,
    random_matrix,
    register,
    seeded_generator,
    to_tensor,
)
from .self_check import choice_question

# ---------------------------------------------------------------------------------------------
# 13.trainable_counts
# ---------------------------------------------------------------------------------------------


def reference_trainable_counts(m, n, r):
    width = max(m, n)
    return [m * n, r * (m + n), width * n + width * width + m * width, 3 * r * r]


def _count_cases() -> list[Case]:
    return [
        Case((128, 128, 8), "the hidden layer, 128 x 128, r = 8"),
        Case((128, 40, 4), "the first layer, 128 x 40, r = 4"),
        Case((10, 128, 2), "the output layer, 10 x 128, r = 2"),
        Case((768, 768, 8), "a BERT attention matrix, 768 x 768, r = 8"),
    ]


_COUNT_MISTAKES = (
    Mistake(
        lambda m, n, r: [m * n, r * (m + n), width_min(m, n), 3 * r * r],
        "gave the full-width factorization the width min(m, n)",
        "the full-width factorization is as wide as the layer's larger side, w = max(m, n): "
        "W_1 is w x n, W_2 is w x w, W_3 is m x w",
    ),
    Mistake(
        lambda m, n, r: [m * n, r * (m + n), _full_width(m, n), 3 * r * r + r * (m + n)],
        "counted Deep LoRA's outer factors L and R as trained",
        "L (m x r) and R (n x r) are built once from the start and stay fixed; only the three "
        "r x r factors learn",
    ),
    Mistake(
        lambda m, n, r: [m * n, r * m * n, _full_width(m, n), 3 * r * r],
        "counted LoRA as r m n",
        "LoRA's update is B A with B m x r and A r x n: how many numbers is that?",
    ),
    Mistake(
        lambda m, n, r: [m * n, r * (m + n), 3 * max(m, n) ** 2, 3 * r * r],
        "counted the full-width factorization as three w x w matrices",
        "only the middle factor is square; the first is w x n and the last m x w",
    ),
)


def width_min(m, n):
    width = min(m, n)
    return width * n + width * width + m * width


def _full_width(m, n):
    width = max(m, n)
    return width * n + width * width + m * width


TRAINABLE_COUNTS = register(
    Exercise(
        id="13.trainable_counts",
        title="What each update trains",
        signature="trainable_counts(m, n, r) -> [full, LoRA, deep full width, Deep LoRA]",
        make_cases=_count_cases,
        reference=reference_trainable_counts,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, rtol=0.0, atol=0.0, mistakes=_COUNT_MISTAKES, name="the counts"
        ),
        hint="write each update's factors with their shapes and add up their entries: full "
        "fine-tuning trains Delta itself, LoRA the two factors of B A, the full-width deep "
        "factorization three factors of width max(m, n), Deep LoRA only its r x r middle",
    )
)


# ---------------------------------------------------------------------------------------------
# 13.deep_lora_update
# ---------------------------------------------------------------------------------------------


def reference_deep_lora_update(left, inner, right):
    m1, m2, m3 = inner
    return left @ m3 @ m2 @ m1 @ right.T


def _update_cases() -> list[Case]:
    generator = seeded_generator(13100)
    cases = []
    for m, n, r, label in ((12, 12, 4, "12 x 12"), (7, 15, 2, "7 x 15"), (15, 6, 4, "15 x 6")):
        left = random_matrix(m, r, generator)
        right = random_matrix(n, r, generator)
        inner = [random_matrix(r, r, generator) for _ in range(3)]
        cases.append(Case((left, inner, right), f"a {label} layer, r = {r}"))
    return cases


_UPDATE_MISTAKES = (
    Mistake(
        lambda left, inner, right: left @ inner[0] @ inner[1] @ inner[2] @ right.T,
        "multiplied the inner factors in the order M_1 M_2 M_3",
        "the input meets M_1 first, so it stands rightmost: L M_3 M_2 M_1 R^T",
    ),
)

DEEP_LORA_UPDATE = register(
    Exercise(
        id="13.deep_lora_update",
        title="Deep LoRA's update",
        signature="deep_lora_update(left, inner, right) -> L M_3 M_2 M_1 R^T (inner = "
        "[M_1, M_2, M_3])",
        make_cases=_update_cases,
        reference=reference_deep_lora_update,
        compare=lambda expected, got, case: compare_arrays(
            expected, got, case, rtol=1e-10, mistakes=_UPDATE_MISTAKES, name="the update"
        ),
        hint="a product of five matrices: R^T takes the layer's input (n numbers) down to r, "
        "the inner factors act in that r-dimensional space in the order they are listed, and "
        "L brings the result up to the layer's m outputs",
    )
)


# ---------------------------------------------------------------------------------------------
# 13.compressed_start (capstone)
# ---------------------------------------------------------------------------------------------


def reference_compressed_start(factors, eps, gradient, rank):
    from ..adapters import Adapter, compressed_deep_start

    rows, cols = factors[-1].shape[0], factors[0].shape[1]
    deep = Adapter("deep", (rows, cols), list(factors), eps=eps)
    return compressed_deep_start(deep, gradient, rank)


def _start_cases() -> list[Case]:
    from ..adapters import deep_adapter

    generator = seeded_generator(13200)
    cases = []
    shapes = (
        (12, 12, 4, "a square 12 x 12 layer"),
        (8, 14, 4, "a wide 8 x 14 layer"),
        (14, 8, 6, "a tall 14 x 8 layer"),
        (10, 10, 2, "a square 10 x 10 layer, r = 2"),
    )
    for index, (m, n, rank, label) in enumerate(shapes):
        deep = deep_adapter((m, n), eps=1e-3, seed=13200 + index)
        factors = [factor.detach() for factor in deep.factors]
        # a gradient with well-separated singular values, so its top directions are defined
        u, _ = torch.linalg.qr(random_matrix(m, min(m, n), generator))
        v, _ = torch.linalg.qr(random_matrix(n, min(m, n), generator))
        spectrum = torch.tensor([0.6**k for k in range(min(m, n))], dtype=torch.float64)
        gradient = u @ torch.diag(spectrum) @ v.T
        cases.append(Case((factors, 1e-3, gradient, rank), f"{label}, rank {rank}"))
    return cases  # fmt: skip


def _start_product(pair):
    """``L R^T``: the same for every choice of basis of the subspace (the check compares it)."""
    left, right = pair
    return left @ right.T


def _orth(columns, rank):
    q, _ = torch.linalg.qr(columns)
    return q[:, :rank]


def _wrong_start(factors, eps, gradient, rank, *, sides="both", scale=True, orthonormal=True,
                 larger_side=True):  # fmt: skip
    product = factors[2] @ factors[1] @ factors[0]
    if scale:
        product = product / eps**3
    u, _, vh = torch.linalg.svd(gradient)
    half = rank // 2
    count = rank if sides != "both" else half
    m, n = gradient.shape
    input_side = (n >= m) == larger_side
    if input_side:
        parts = {"gradient": [vh[:count].T], "image": [product.T @ u[:, :count]]}
        parts["both"] = parts["gradient"] + parts["image"]
        columns = torch.cat(parts[sides], dim=1)
        right = _orth(columns, rank) if orthonormal else columns
        return product @ right, right
    parts = {"gradient": [u[:, :count]], "image": [product @ vh[:count].T]}
    parts["both"] = parts["gradient"] + parts["image"]
    columns = torch.cat(parts[sides], dim=1)
    left = _orth(columns, rank) if orthonormal else columns
    return left, product.T @ left


_START_MISTAKES = (
    Mistake(
        lambda *a: _start_product(_wrong_start(*a, sides="gradient")),
        "built the basis from the gradient's top singular vectors alone",
        "half the basis comes from the gradient's own top directions on that side, the other "
        "half from the other side's top directions carried across by the starting product "
        "O = W_3 W_2 W_1 / eps^3 (O^T U_h on the input side)",
    ),
    Mistake(
        lambda *a: _start_product(_wrong_start(*a, sides="image")),
        "built the basis from the carried-across directions alone",
        "the gradient's own top directions on that side belong in the basis too",
    ),
    Mistake(
        lambda *a: _start_product(_wrong_start(*a, orthonormal=False)),
        "did not orthonormalize the basis (the two halves are not orthogonal to each other)",
        "stack the 2h directions side by side and take Q of their QR decomposition",
    ),
    Mistake(
        lambda *a: _start_product(_wrong_start(*a, scale=False)),
        "used W_3 W_2 W_1 without dividing by eps^3",
        "O = W_3 W_2 W_1 / eps^3 has orthonormal columns or rows; without the division every "
        "carried-across direction is eps^3 = 1e-9 times too short",
    ),
    Mistake(
        lambda *a: _start_product(_wrong_start(*a, larger_side=False)),
        "built the orthonormal basis on the layer's smaller side",
        "build it on the LARGER side (the input side when n >= m, else the output side) and "
        "carry it to the other side with O (or O^T)",
    ),
)


def _compare_start(expected, got, case):
    if not isinstance(got, tuple | list) or len(got) != 2:
        return Problem(
            f"returned {type(got).__name__}, expected a pair (L, R)",
            "return left, right: L is m x rank, R is n x rank",
        )
    left, right = (to_tensor(item, "a matrix") for item in got)
    for name, item in (("L", left), ("R", right)):
        if isinstance(item, Problem):
            return Problem(f"{name}: {item.what}", item.hint)
    gradient, rank = case.args[2], case.args[3]
    m, n = gradient.shape
    if tuple(left.shape) != (m, rank) or tuple(right.shape) != (n, rank):
        return Problem(
            f"wrong shapes: L is {tuple(left.shape)} and R is {tuple(right.shape)}, expected "
            f"({m}, {rank}) and ({n}, {rank})",
            "rank columns on each side: rank / 2 from the gradient, rank / 2 carried across",
        )
    return compare_arrays(
        _start_product(expected),
        _start_product((left, right)),
        case,
        rtol=1e-7,
        mistakes=_START_MISTAKES,
        name="L R^T (the start, up to eps^3)",
    )


COMPRESSED_START = register(
    Exercise(
        id="13.compressed_start",
        title="Deep LoRA's compressed start",
        signature="compressed_start(factors, eps, gradient, rank) -> (L, R)",
        make_cases=_start_cases,
        reference=reference_compressed_start,
        compare=_compare_start,
        hint="O = W_3 W_2 W_1 / eps^3; take the gradient's top h = rank / 2 singular vectors U_h "
        "and V_h. On the larger side (n >= m: the input side) stack the gradient's own top "
        "directions with the other side's carried across by O, orthonormalize them (QR), and "
        "map that basis to the other side with O. Any orthonormal basis of the same subspace "
        "passes: the check compares L R^T",
        tags=(CAPSTONE_TAG,),
    )
)


# ---------------------------------------------------------------------------------------------
# 13.why_fixed_outer_factors (self-check)
# ---------------------------------------------------------------------------------------------

WHY_FIXED_OUTER_FACTORS = register(
    choice_question(
        id="13.why_fixed_outer_factors",
        title="Why Deep LoRA may keep L and R fixed",
        options={
            "a": "because fixing them is a regularizer that the paper tuned",
            "b": "because, started from eps times orthogonal matrices, gradient descent changes "
            "each factor of the full-width product only inside the 2h-dimensional subspaces "
            "built from the gradient's top directions: the rest of every factor never moves, "
            "so L and R already span everything the update can reach",
            "c": "because LoRA also keeps one of its factors fixed",
            "d": "because r x r factors cannot be trained together with m x r ones",
        },
        correct="b",
        why_wrong={
            "a": "it is not a choice that trades accuracy for something: for deep matrix "
            "factorization the compressed factors follow the full-width ones exactly (Lesson "
            "13's test of it), so there is nothing to tune",
            "c": "LoRA trains both A and B (B starts at zero, A at random); fixing one of them "
            "would leave a rank-r update with a fixed row or column space chosen at random",
            "d": "any factors can be trained together; the question is whether training L and R "
            "would add anything the three inner factors cannot already do",
        },
        hint="recall Lesson 03: with orthogonal initialization the layers of a deep linear "
        "network change only inside a subspace fixed from the start. What does that say about "
        "the columns of W_3 and the rows of W_1 outside it?",
    )
)
