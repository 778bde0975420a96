"""Lesson 12's checks: accept independent solutions, reject the stub and plausible wrong answers."""

import math

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check


def stub(*args):
    raise NotImplementedError("your code here")


def _s(w):
    return np.linalg.svd(np.asarray(w, dtype=float), compute_uv=False)


# ---------------------------------------------------------------------------------------------
# 12.energy_share
# ---------------------------------------------------------------------------------------------


def energy_share_numpy(delta, k):
    s = _s(delta)
    return float(np.sum(s[:k] ** 2) / np.linalg.norm(np.asarray(delta), "fro") ** 2)


def energy_share_torch(delta, k):
    s = torch.linalg.svdvals(delta)
    return float((s[:k] ** 2).sum() / (s**2).sum())


def test_energy_share_solutions_pass():
    assert check("12.energy_share", energy_share_numpy).passed
    assert check("12.energy_share", energy_share_torch).passed


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda d, k: _s(d)[:k].sum() / _s(d).sum(), "not their squares"),
        (lambda d, k: math.sqrt(energy_share_numpy(d, k)), "square root"),
        (lambda d, k: np.sum(_s(d)[: k + 1] ** 2) / np.sum(_s(d) ** 2), "k + 1"),
        (lambda d, k: np.sum(_s(d)[:k] ** 2) / _s(d)[0] ** 2, "s_1^2"),
        (lambda d, k: 1 - energy_share_numpy(d, k), "left OUT"),
        (lambda d, k: np.sum(np.sort(_s(d))[:k] ** 2) / np.sum(_s(d) ** 2), "SMALLEST"),
        (lambda d, k: 0.5, "wrong value"),
    ],
)
def test_energy_share_mistakes_are_rejected(student, words):
    result = check("12.energy_share", student)
    assert not result.passed and words in result.message, result.message


def test_energy_share_stub_is_rejected():
    assert "not implemented yet" in check("12.energy_share", stub).message


# ---------------------------------------------------------------------------------------------
# 12.principal_angles
# ---------------------------------------------------------------------------------------------


def principal_angles_numpy(qa, qb):
    cosines = np.linalg.svd(np.asarray(qa).T @ np.asarray(qb), compute_uv=False)
    return np.sort(np.arccos(np.clip(cosines, -1, 1)))


def principal_angles_scipy(qa, qb):
    import scipy.linalg

    return np.sort(scipy.linalg.subspace_angles(np.asarray(qa), np.asarray(qb)))


def test_principal_angles_solutions_pass():
    assert check("12.principal_angles", principal_angles_numpy).passed
    assert check("12.principal_angles", principal_angles_scipy).passed


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda a, b: principal_angles_numpy(a, b)[::-1].copy(), "largest first"),
        (lambda a, b: np.degrees(principal_angles_numpy(a, b)), "degrees"),
        (lambda a, b: np.cos(principal_angles_numpy(a, b)), "cosines"),
        (lambda a, b: np.sort(np.arccos(np.clip(np.diag(np.asarray(a).T @ np.asarray(b)),
                                                -1, 1))), "diagonal"),
        (lambda a, b: np.sort(np.arcsin(np.cos(principal_angles_numpy(a, b)))), "arcsin"),
        (lambda a, b: principal_angles_numpy(a, b)[:1], "length"),
    ],
)  # fmt: skip
def test_principal_angles_mistakes_are_rejected(student, words):
    result = check("12.principal_angles", student)
    assert not result.passed and words in result.message, result.message


def test_principal_angles_unclipped_arccos_is_caught_or_passes_honestly():
    """Without the clip a cosine of 1 + 1e-16 gives NaN: the check must not pass NaN."""

    def unclipped(a, b):
        return np.sort(np.arccos(np.linalg.svd(np.asarray(a).T @ np.asarray(b),
                                               compute_uv=False)))  # fmt: skip

    result = check("12.principal_angles", unclipped)
    if not result.passed:
        assert "NaN" in result.message, result.message


def test_principal_angles_stub_is_rejected():
    assert "not implemented yet" in check("12.principal_angles", stub).message


# ---------------------------------------------------------------------------------------------
# 12.largest_angle (capstone)
# ---------------------------------------------------------------------------------------------


def largest_angle_numpy(delta_a, delta_b, k):
    ua = np.linalg.svd(np.asarray(delta_a, dtype=float))[0][:, :k]
    ub = np.linalg.svd(np.asarray(delta_b, dtype=float))[0][:, :k]
    cosines = np.linalg.svd(ua.T @ ub, compute_uv=False)
    return float(np.arccos(np.clip(cosines.min(), -1, 1)))


def largest_angle_projectors(delta_a, delta_b, k):
    """Another correct answer: sin of the largest angle = ||P_a - P_b||_2 (projectors)."""
    ua = torch.linalg.svd(delta_a)[0][:, :k]
    ub = torch.linalg.svd(delta_b)[0][:, :k]
    gap = torch.linalg.matrix_norm(ua @ ua.T - ub @ ub.T, ord=2)
    return float(torch.arcsin(gap.clamp(max=1.0)))


def test_capstone_solutions_pass():
    assert check("12.largest_angle", largest_angle_numpy).passed
    assert check("12.largest_angle", largest_angle_projectors).passed


def _u(d, k, last=False):
    u = np.linalg.svd(np.asarray(d, dtype=float))[0]
    return u[:, -k:] if last else u[:, :k]


def _angles(a, b):
    return np.arccos(np.clip(np.linalg.svd(a.T @ b, compute_uv=False), -1, 1))


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda a, b, k: _angles(np.linalg.svd(np.asarray(a))[2][:k].T,
                                 np.linalg.svd(np.asarray(b))[2][:k].T).max(), "RIGHT"),
        (lambda a, b, k: _angles(_u(a, k), _u(b, k)).min(), "smallest angle"),
        (lambda a, b, k: _angles(_u(a, k, True), _u(b, k, True)).max(), "LAST columns"),
        (lambda a, b, k: _angles(_u(a, k + 1), _u(b, k + 1)).max(), "k + 1"),
        (lambda a, b, k: math.degrees(largest_angle_numpy(a, b, k)), "degrees"),
        (lambda a, b, k: 0.0, "wrong value"),
    ],
)  # fmt: skip
def test_capstone_mistakes_are_rejected(student, words):
    result = check("12.largest_angle", student)
    assert not result.passed and words in result.message, result.message


def test_capstone_stub_is_rejected():
    assert "not implemented yet" in check("12.largest_angle", stub).message


# ---------------------------------------------------------------------------------------------
# 12.sgd_head_rank (self-check)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["b", "B", "(b)"])
def test_sgd_head_rank_right_letter_passes(answer):
    assert check("12.sgd_head_rank", lambda: answer).passed


@pytest.mark.parametrize(("letter", "words"), [("a", "every row"), ("c", "10 rows"),
                                               ("d", "exact identity")])  # fmt: skip
def test_sgd_head_rank_wrong_letters_explain(letter, words):
    result = check("12.sgd_head_rank", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


def test_sgd_head_rank_stub_is_rejected():
    assert "not implemented yet" in check("12.sgd_head_rank", stub).message


def test_the_answer_b_is_what_training_shows():
    """The lesson's runs (regime table, 600 steps, recorded every 50): under SGD the head's
    tenth singular value is rounding (< 1e-12 of the first) at every recorded step of every
    seed, from either initial scale; under Adam it is not."""
    from lowdim_course.nonlinear.update_sweep import trained_run

    for init_scale in (1.0, 0.3):
        for seed in range(5):
            sgd = trained_run(seed, optimizer="sgd", lr=0.1, init_scale=init_scale)
            assert len(sgd.updates["head"]) == 12
            for delta in sgd.updates["head"]:
                s = np.linalg.svd(delta.numpy(), compute_uv=False)
                assert s[9] < 1e-12 * s[0]
    adam = trained_run(0, optimizer="adam", lr=1e-2)
    s = np.linalg.svd(adam.final_update("head").numpy(), compute_uv=False)
    assert s[9] > 1e-3 * s[0]
