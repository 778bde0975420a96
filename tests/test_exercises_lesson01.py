"""Lesson 01's checks: the closed form at long times, the capstone gradient step and the
self-check on the semantic modes.

The solutions below are written from the formulas (numpy, autograd), not from the core.
"""

import math

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check, get_exercise
from lowdim_course.exercises.capstone import CAPSTONE_TAG

# ---------------------------------------------------------------------------------------------
# Independent solutions of 01.two_layer_gd_step
# ---------------------------------------------------------------------------------------------


def step_numpy(W1, W2, M, lr):
    """Entry by entry from the chain rule: dl/dW1[a, b] = sum_i W2[i, a] G[i, b], etc."""
    w1, w2, target = (np.asarray(x, dtype=float) for x in (W1, W2, M))
    residual = np.einsum("ih,hj->ij", w2, w1) - target
    grad1 = np.einsum("ia,ib->ab", w2, residual)
    grad2 = np.einsum("ib,hb->ih", residual, w1)
    return w1 - lr * grad1, w2 - lr * grad2


def step_autograd(W1, W2, M, lr):
    """A different correct variant: autograd on the summed loss, both gradients at once."""
    a = W1.clone().requires_grad_()
    b = W2.clone().requires_grad_()
    loss = 0.5 * ((b @ a - M) ** 2).sum()
    grad_a, grad_b = torch.autograd.grad(loss, (a, b))
    return [(a - lr * grad_a).detach(), (b - lr * grad_b).detach()]


def stub(*args):
    raise NotImplementedError("your code here")


# ---------------------------------------------------------------------------------------------
# Plausible wrong answers, each written independently
# ---------------------------------------------------------------------------------------------


def step_sequential(W1, W2, M, lr):
    W1 = W1 - lr * W2.T @ (W2 @ W1 - M)
    W2 = W2 - lr * (W2 @ W1 - M) @ W1.T  # uses the new W1
    return W1, W2


def step_sequential_other_way(W1, W2, M, lr):
    W2 = W2 - lr * (W2 @ W1 - M) @ W1.T
    W1 = W1 - lr * W2.T @ (W2 @ W1 - M)  # uses the new W2
    return W1, W2


def step_ascent(W1, W2, M, lr):
    residual = M - W2 @ W1  # the residual's sign flipped: a step uphill
    return W1 - lr * W2.T @ residual, W2 - lr * residual @ W1.T


def step_swapped(W1, W2, M, lr):
    residual = W2 @ W1 - M
    return W1 - lr * residual @ W1.T, W2 - lr * W2.T @ residual


def step_no_transposes(W1, W2, M, lr):
    residual = W2 @ W1 - M
    return W1 - lr * W2 @ residual, W2 - lr * residual @ W1


def step_without_lr(W1, W2, M, lr):
    residual = W2 @ W1 - M
    return W1 - W2.T @ residual, W2 - residual @ W1.T


def step_factor_two(W1, W2, M, lr):
    residual = W2 @ W1 - M
    return W1 - 2 * lr * W2.T @ residual, W2 - 2 * lr * residual @ W1.T


def step_only_first(W1, W2, M, lr):
    return W1 - lr * W2.T @ (W2 @ W1 - M), W2


def step_gradients(W1, W2, M, lr):
    residual = W2 @ W1 - M
    return W2.T @ residual, residual @ W1.T


def step_reversed_pair(W1, W2, M, lr):
    new1, new2 = step_numpy(W1, W2, M, lr)
    return new2, new1


def step_one_matrix(W1, W2, M, lr):
    return step_numpy(W1, W2, M, lr)[0]


CAPSTONE_MISTAKES = [
    (step_sequential, "W2's gradient used the new W1"),
    (step_sequential_other_way, "W1's gradient used the new W2"),
    (step_ascent, "ascent"),
    (step_swapped, "gradients of the two layers are swapped"),
    (step_no_transposes, "transposes are missing"),
    (step_without_lr, "step eta is missing"),
    (step_factor_two, "factor 2 too many"),
    (step_only_first, "only W1 was updated"),
    (step_gradients, "returned the gradients"),
    (step_reversed_pair, "wrong order"),
    (step_one_matrix, "expected a pair"),
]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("solution", [step_numpy, step_autograd])
def test_independent_steps_pass(solution):
    assert check("01.two_layer_gd_step", solution).passed


def test_the_step_stub_is_not_implemented_yet():
    result = check("01.two_layer_gd_step", stub)
    assert not result.passed and "not implemented yet" in result.message


@pytest.mark.parametrize(("wrong", "words"), CAPSTONE_MISTAKES)
def test_step_mistakes_are_named(wrong, words):
    result = check("01.two_layer_gd_step", wrong)
    assert not result.passed
    assert words in result.message
    assert " — hint: " in result.message


def test_the_step_is_a_capstone_with_small_cases():
    exercise = get_exercise("01.two_layer_gd_step")
    assert CAPSTONE_TAG in exercise.tags
    cases = exercise.make_cases()
    assert any(case.args[0].shape[0] != case.args[0].shape[1] for case in cases)
    assert all(max(arg.shape) <= 12 for case in cases for arg in case.args[:3])


def test_general_hints_give_the_idea_not_the_code():
    for exercise_id in ("01.saxe_trajectory", "01.half_way_time", "01.two_layer_gd_step"):
        hint = get_exercise(exercise_id).hint
        for code in ("torch.exp", "math.log", "ln(s/u0 - 1)", ".T", "W2.T", "return "):
            assert code not in hint, (exercise_id, code)


def test_which_split_first_accepts_b_in_any_spelling():
    for answer in ("b", "B", "(b)", " (B) "):
        assert check("01.which_split_first", lambda answer=answer: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "features times the items"), ("c", "own s"), ("d", "five seeds")],
)
def test_which_split_first_explains_every_wrong_option(letter, words):
    result = check("01.which_split_first", lambda: letter)
    assert not result.passed
    assert f"not ({letter})" in result.message and words in result.message


def _new_hierarchy_modes():
    """The self-check's data, built from its description: cats, dogs (4 breeds each, 2 features
    each), owls, hawks (2 species each, 3 features each), one feature per item, 2 per upper
    category. Returns the singular values of M = F^T / sqrt(P) and the item vectors v_k."""
    groups = {
        "all": range(12),
        "mammals": range(8),
        "birds": range(8, 12),
        "cats": range(4),
        "dogs": range(4, 8),
        "owls": range(8, 10),
        "hawks": range(10, 12),
    }
    own = {"all": 2, "mammals": 2, "birds": 2, "cats": 2, "dogs": 2, "owls": 3, "hawks": 3}
    columns = []
    for name, count in own.items():
        column = np.zeros(12)
        column[list(groups[name])] = 1.0
        columns += [column] * count
    columns += list(np.eye(12))
    features = np.array(columns).T  # items x features
    _, values, vt = np.linalg.svd(features.T / math.sqrt(12), full_matrices=False)
    return values, vt


def test_the_self_check_answer_holds_in_its_new_hierarchy():
    """(b): the cats-vs-dogs split (items 0-3 against 4-7) is a mode with P s^2 = 9, larger than
    owls vs hawks (items 8-9 against 10-11), P s^2 = 7, which has more features per side."""
    values, vt = _new_hierarchy_modes()
    split = {
        "cats vs dogs": [1] * 4 + [-1] * 4 + [0] * 4,
        "owls vs hawks": [0] * 8 + [1, 1, -1, -1],
    }
    strength = {}
    for name, pattern in split.items():
        pattern = np.array(pattern) / np.linalg.norm(pattern)
        (k,) = [k for k in range(len(values)) if abs(abs(vt[k] @ pattern) - 1) < 1e-9]
        strength[name] = values[k]
    assert 12 * strength["cats vs dogs"] ** 2 == pytest.approx(9)
    assert 12 * strength["owls vs hawks"] ** 2 == pytest.approx(7)


# ---------------------------------------------------------------------------------------------
# 01.saxe_trajectory at long times: the first-written form overflows
# ---------------------------------------------------------------------------------------------


def trajectory_first_written(t, s, m0, eta):
    """s e^x / (e^x - 1 + s/m0), x = 2 s eta t: exact until e^x overflows."""
    growth = torch.exp(2 * s * eta * t)
    return s * growth / (growth - 1 + s / m0)


def trajectory_stable_numpy(t, s, m0, eta):
    """Numerator and denominator divided by e^x, in numpy (float64)."""
    x = 2 * s * eta * np.asarray(t, dtype=float)
    return s / (1 + (s / m0 - 1) * np.exp(-x))


def test_the_trajectory_cases_include_long_times_in_both_precisions():
    """Some case overflows the first-written form in float32 and one in float64."""
    overflowing = set()
    for case in get_exercise("01.saxe_trajectory").make_cases():
        times = case.args[0]
        if not torch.isfinite(trajectory_first_written(*case.args)).all():
            overflowing.add(times.dtype)
            assert str(times.dtype).removeprefix("torch.") in case.label
    assert overflowing == {torch.float32, torch.float64}


def test_a_stable_numpy_trajectory_passes():
    assert check("01.saxe_trajectory", trajectory_stable_numpy).passed


def test_the_first_written_trajectory_is_named_as_overflowing():
    result = check("01.saxe_trajectory", trajectory_first_written)
    assert not result.passed
    assert "overflows at long times" in result.message and "inf/inf = NaN" in result.message
    assert "divide the numerator and the denominator" in result.message


def test_a_trajectory_with_an_unrelated_nan_is_not_called_an_overflow():
    def nan_at_start(t, s, m0, eta):
        values = trajectory_stable_numpy(t, s, m0, eta)
        values[0] = np.nan
        return values

    result = check("01.saxe_trajectory", nan_at_start)
    assert not result.passed and "overflows" not in result.message and "NaN" in result.message
