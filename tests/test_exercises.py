"""Exercise checks: each accepts a solution, rejects the stub and plausible wrong answers, and
survives whatever the student's code does (exceptions, NaN, wrong types and shapes, loops).

The solutions here are written independently of the core's references (loops, numpy, the
formulas from the papers), so a check that agrees with them agrees with two implementations.
"""

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from lowdim_course.exercises import REGISTRY, CheckResult, check, exercise_ids
from lowdim_course.exercises.framework import call_with_time_limit

# ---------------------------------------------------------------------------------------------
# Solutions (independent of the core)
# ---------------------------------------------------------------------------------------------


def end_to_end(layers):
    product = layers[0]
    for layer in layers[1:]:
        product = layer @ product
    return product


def recovery_error(w, m_star):
    difference = np.asarray(w) - np.asarray(m_star)
    return math.sqrt((difference**2).sum()) / math.sqrt((np.asarray(m_star) ** 2).sum())


def spectral_init(surrogate, r_hat, depth, eps):
    u, _, vt = np.linalg.svd(np.asarray(surrogate))
    middle = [eps * np.eye(r_hat) for _ in range(depth - 2)]
    return [eps * vt[:r_hat], *middle, eps * u[:, :r_hat]]


def compressed_param_count(d, r_hat, depth):
    return d * r_hat + r_hat * d + sum(r_hat * r_hat for _ in range(depth - 2))


def layer_learning_rates(depth, lr, alpha):
    return [alpha * lr if layer in (0, depth - 1) else lr for layer in range(depth)]


def saxe_trajectory(t, s, m0, eta):
    """The logistic curve written as a shifted sigmoid: never overflows (torch.sigmoid)."""
    return s * torch.sigmoid(2 * s * t * eta - math.log(s / m0 - 1))


def half_way_time(s, u0, lr):
    tau = 1 / lr
    return tau / (2 * s) * math.log(s / u0 - 1)


def deep_mode_rhs(u, s, depth, lr):
    return lr * depth * u ** (2 - 2 / depth) * (s - u)


def effective_rank(w):
    sigma = np.linalg.svd(np.asarray(w), compute_uv=False)
    p = sigma / sigma.sum()
    entropy = -sum(pk * math.log(pk) for pk in p if pk > 0)
    return math.exp(entropy)


def rho_trajectory(eps, eta, depth, steps):
    values = [eps]
    for _ in range(steps):
        rho = values[-1]
        values.append(rho - eta * rho ** (2 * depth - 1))
    return torch.tensor(values, dtype=torch.float64)


def moved_rank(layer_t, layer_0, rho, eps):
    """numpy's rank with the tolerance relative to the layer (rounding is of its size)."""
    tolerance = 1e-10 * np.linalg.norm(np.asarray(layer_t), 2)
    return np.linalg.matrix_rank(np.asarray(layer_t - rho / eps * layer_0), tol=tolerance)


SOLUTIONS = {
    "00.end_to_end": end_to_end,
    "00.recovery_error": recovery_error,
    "01.saxe_trajectory": saxe_trajectory,
    "01.half_way_time": half_way_time,
    "02.deep_mode_rhs": deep_mode_rhs,
    "02.effective_rank": effective_rank,
    "03.rho_trajectory": rho_trajectory,
    "03.moved_rank": moved_rank,
    "04.spectral_init": spectral_init,
    "04.compressed_param_count": compressed_param_count,
    "04.layer_learning_rates": layer_learning_rates,
}


def stub(*args):
    raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# Plausible wrong answers, each with words its message must contain
# ---------------------------------------------------------------------------------------------


def _svd_layers(surrogate, r_hat, depth, eps, *, u_part, v_part):
    u, _, vt = torch.linalg.svd(surrogate)
    middle = [eps * torch.eye(r_hat, dtype=surrogate.dtype) for _ in range(depth - 2)]
    return [eps * v_part(u, vt, r_hat), *middle, eps * u_part(u, vt, r_hat)]


def _flip_first_row(layers):
    layers = [torch.as_tensor(layer).clone() for layer in layers]
    layers[0][0] *= -1
    return layers


def _product_reversed(layers):
    product = layers[-1]
    for layer in reversed(layers[:-1]):
        product = layer @ product
    return product


def _loop_from(layers, start):
    product = layers[start]
    for layer in layers[start + 1 :]:
        product = layer @ product
    return product


def _rho_with(power_of_depth, sign=-1.0, drop_first=False):
    def student(eps, eta, depth, steps):
        values = [eps]
        for _ in range(steps):
            values.append(values[-1] * (1 + sign * eta * values[-1] ** power_of_depth(depth)))
        return values[1:] if drop_first else values

    return student


WRONG = {
    "00.end_to_end": [
        (_product_reversed, "wrong order"),
        (lambda layers: _loop_from(layers, 1), "left out the first layer"),
        (lambda layers: end_to_end(layers).T, "transposed"),
        (lambda layers: -end_to_end(layers), "factor of -1"),
    ],
    "00.recovery_error": [
        (lambda w, m: torch.linalg.norm(w - m), "divide by ||M*||_F"),
        (lambda w, m: recovery_error(w, m) ** 2, "squared"),
        (lambda w, m: torch.linalg.norm(w - m) / torch.linalg.norm(w), "||W||_F"),
        (lambda w, m: 2 * recovery_error(w, m), "factor of about 2"),
    ],
    "01.saxe_trajectory": [
        (lambda t, s, u0, lr: saxe_trajectory(t, s, u0, lr / 2), "factor 2"),
        (
            lambda t, s, u0, lr: s / (1 + s / u0 * torch.exp(-2 * s * t * lr)),
            "'- 1' is missing",
        ),
        (lambda t, s, u0, lr: -saxe_trajectory(t, s, u0, lr), "factor of -1"),
        (lambda t, s, u0, lr: saxe_trajectory(t, s, u0, lr)[:-1], "wrong length"),
    ],
    "01.half_way_time": [
        (lambda s, u0, lr: math.log(s / u0) / (2 * s * lr), "'- 1' is missing"),
        (lambda s, u0, lr: 2 * half_way_time(s, u0, lr), "factor 1/2"),
        (lambda s, u0, lr: -half_way_time(s, u0, lr), "wrong sign"),
        (lambda s, u0, lr: lr * math.log(s / u0 - 1) / (2 * s), "tau = 1/eta"),
    ],
    "02.deep_mode_rhs": [
        (lambda u, s, depth, lr: deep_mode_rhs(u, s, depth - 1, lr), "depth L-1"),
        (lambda u, s, depth, lr: deep_mode_rhs(u, s, depth + 1, lr), "depth L+1"),
        (lambda u, s, depth, lr: lr * depth * u ** (2 - 2 / depth) * (u - s), "factor of -1"),
        (lambda u, s, depth, lr: deep_mode_rhs(u, s, depth, lr) / depth, "factor L"),
        (lambda u, s, depth, lr: deep_mode_rhs(u, s, depth, lr).numpy()[None], "wrong shape"),
    ],
    "02.effective_rank": [
        (lambda w: math.log(effective_rank(w)), "exp is missing"),
        (lambda w: 1 / effective_rank(w), "minus sign"),
        (
            lambda w: effective_rank(np.diag(np.linalg.svd(np.asarray(w), compute_uv=False) ** 2)),
            "squared singular values",
        ),
        (
            lambda w: torch.exp(
                -(
                    (p := torch.linalg.svdvals(w) / torch.linalg.svdvals(w).sum()) * torch.log(p)
                ).sum()
            ),
            "0 log 0",
        ),
    ],
    "03.rho_trajectory": [
        (_rho_with(lambda depth: 2 * depth), "off by one in the depth"),
        (_rho_with(lambda depth: 2 * (depth - 1), drop_first=True), "steps + 1"),
        (_rho_with(lambda depth: 2 * (depth - 1), sign=1.0), "sign"),
        (_rho_with(lambda depth: depth - 1), "2(L-1)"),
    ],
    "03.moved_rank": [
        (lambda w_t, w_0, rho, eps: torch.linalg.matrix_rank(w_t), "full rank"),
        (lambda w_t, w_0, rho, eps: torch.linalg.matrix_rank(w_t - w_0), "full rank"),
        (
            lambda w_t, w_0, rho, eps: int((torch.linalg.svdvals(w_t - rho / eps * w_0) > 0).sum()),
            "tolerance",
        ),
        (lambda w_t, w_0, rho, eps: moved_rank(w_t, w_0, rho, eps) + 1, "expected 4, got 5"),
        (  # numpy's default tolerance, relative to the moved part: rank 9 when nothing moved
            lambda w_t, w_0, rho, eps: np.linalg.matrix_rank(np.asarray(w_t - rho / eps * w_0)),
            "relative to the moved part's own largest singular value",
        ),
    ],
    "04.spectral_init": [
        (lambda *a: [layer.T for layer in spectral_init(*a)], "transposed"),
        (lambda s, r, depth, eps: spectral_init(s, r, depth + 1, eps), "off by one"),
        (lambda s, r, depth, eps: spectral_init(s, r, depth - 1, eps), "off by one"),
        (lambda *a: _flip_first_row(spectral_init(*a)), "signs"),
        (lambda s, r, depth, eps: spectral_init(s, r, depth, 1.0), "factor of about"),
        (
            lambda *a: _svd_layers(
                *a, u_part=lambda u, vt, r: vt[:r].T, v_part=lambda u, vt, r: u[:, :r].T
            ),
            "left singular vectors",
        ),
        (
            lambda *a: _svd_layers(
                *a, u_part=lambda u, vt, r: u[:, -r:], v_part=lambda u, vt, r: vt[-r:]
            ),
            "SMALLEST",
        ),
    ],
    "04.compressed_param_count": [
        (lambda d, r, depth: 2 * d * r + (depth - 1) * r * r, "off by one in the depth"),
        (lambda d, r, depth: depth * d * d, "ORIGINAL"),
        (lambda d, r, depth: d * r + (depth - 2) * r * r, "one of the two"),
        (lambda d, r, depth: [2 * d * r + (depth - 2) * r * r] * 2, "single integer"),
    ],
    "04.layer_learning_rates": [
        (lambda depth, lr, alpha: [alpha * lr] + [lr] * (depth - 1), "first layer only"),
        (lambda depth, lr, alpha: [lr] + [alpha * lr] * (depth - 2) + [lr], "middle layers"),
        (lambda depth, lr, alpha: [alpha * lr] + [lr] * (depth - 1) + [alpha * lr], "length"),
        (lambda depth, lr, a: [lr / a] + [lr] * (depth - 2) + [lr / a], "divided by alpha"),
    ],
}


def test_every_registered_exercise_has_a_solution_and_wrong_answers():
    # the warm-ups of lessons 00-04 are tested here; every other exercise (lessons 05 on, the
    # capstones and the self-checks) in tests/test_exercises_lessonNN.py
    assert set(SOLUTIONS) == set(WRONG)
    assert set(SOLUTIONS) <= set(REGISTRY)
    tests = "\n".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    untested = [key for key in REGISTRY if f'"{key}"' not in tests]
    assert not untested, f"exercises no test names: {untested}"
    assert {"04.compressed_param_count", "04.layer_learning_rates", "04.spectral_init"} <= set(
        exercise_ids("04")
    )
    assert all(key.startswith("04.") for key in exercise_ids("04"))
    assert exercise_ids(4) == exercise_ids("04")
    for lesson in ("00", "01", "02", "03", "04"):
        assert len(exercise_ids(lesson)) >= 2
    with pytest.raises(ValueError, match="lesson"):
        exercise_ids("four")


@pytest.mark.parametrize("exercise_id", sorted(SOLUTIONS))
def test_check_accepts_the_solution(exercise_id, capsys):
    result = check(exercise_id, SOLUTIONS[exercise_id])
    line = capsys.readouterr().out.strip()
    assert result.passed, result.message
    assert result.score == result.max_score == 1.0
    assert line.startswith(f"✅ {exercise_id}: passed (")
    assert line.count("\n") == 0


@pytest.mark.parametrize("exercise_id", sorted(SOLUTIONS))
def test_check_rejects_the_untouched_stub(exercise_id, capsys):
    result = check(exercise_id, stub)
    line = capsys.readouterr().out.strip()
    assert not result.passed and result.score == 0.0 and result.max_score == 1.0
    assert "not implemented yet" in result.message
    assert line == f"❌ {exercise_id}: {result.message}"


@pytest.mark.parametrize(
    ("exercise_id", "index"),
    [(key, index) for key, wrongs in sorted(WRONG.items()) for index in range(len(wrongs))],
)
def test_check_rejects_a_plausible_wrong_answer_and_names_it(exercise_id, index, capsys):
    student, words = WRONG[exercise_id][index]
    result = check(exercise_id, student)
    capsys.readouterr()
    assert not result.passed
    assert words in result.message, result.message
    assert " — hint: " in result.message


# ---------------------------------------------------------------------------------------------
# Robustness: nothing the student's code does escapes check
# ---------------------------------------------------------------------------------------------


def _endless(*args):
    while True:
        pass


@pytest.mark.parametrize(
    ("student", "words"),
    [
        (lambda layers: 1 / 0, "raised ZeroDivisionError: division by zero"),
        (lambda layers: end_to_end(layers) * float("nan"), "NaN"),
        (lambda layers: end_to_end(layers) * float("inf"), "infinite"),
        (lambda layers: end_to_end(layers)[:, :2], "wrong shape"),
        (lambda layers: "a matrix", "returned str"),
        (lambda layers: {"W": 1}, "returned dict"),
        (lambda layers: None, "not implemented yet"),
        (lambda layers: ..., "not implemented yet"),
        (lambda layers: [[1, 2], [3]], "ragged"),
        (lambda layers: torch.zeros(4, 4, dtype=torch.complex64), "complex"),
        (lambda layers: exit(3), "raised SystemExit"),
    ],
)
def test_check_survives_whatever_the_student_code_does(student, words, capsys):
    result = check("00.end_to_end", student)
    assert isinstance(result, CheckResult)
    assert not result.passed and words in result.message, result.message
    assert capsys.readouterr().out.count("\n") == 1


def test_endless_loop_is_stopped_by_the_time_limit(capsys):
    result = check("04.compressed_param_count", _endless, time_limit=0.2)
    assert not result.passed
    assert "did not return within 0.2 s of CPU time (endless loop?)" in result.message
    # the alarm is gone and the handler restored: later code is not interrupted
    assert check("04.compressed_param_count", compressed_param_count).passed


def test_time_limit_off_the_main_thread_uses_a_daemon_thread(capsys):
    stop = threading.Event()

    def until_stopped(*args):  # an endless loop that the test can end afterwards
        while not stop.is_set():
            pass

    results = []
    worker = threading.Thread(
        target=lambda: results.append(check("00.end_to_end", until_stopped, time_limit=0.2))
    )
    try:
        worker.start()
        worker.join(10)
        assert not worker.is_alive()
        assert "did not return within 0.2 s" in results[0].message
    finally:
        stop.set()
    outcome = call_with_time_limit(lambda x: x + 1, (1,), 1.0)
    assert outcome.value == 2 and outcome.exception is None and not outcome.timed_out
    raised = call_with_time_limit(lambda x: 1 / x, (0,), 1.0)
    assert raised.exception_name == "ZeroDivisionError" and "division" in raised.exception_text


def test_numpy_lists_float32_and_gradients_are_accepted(capsys):
    assert check("00.end_to_end", lambda layers: end_to_end(layers).numpy()).passed
    assert check("00.end_to_end", lambda layers: end_to_end(layers).tolist()).passed
    assert check("00.end_to_end", lambda layers: end_to_end(layers).float()).passed
    assert check(
        "00.end_to_end", lambda layers: end_to_end([w.requires_grad_() for w in layers])
    ).passed
    assert check("04.compressed_param_count", lambda *a: float(compressed_param_count(*a))).passed
    assert check("04.layer_learning_rates", lambda *a: np.array(layer_learning_rates(*a))).passed
    assert check(
        "04.spectral_init", lambda *a: [torch.as_tensor(w) for w in spectral_init(*a)]
    ).passed


def test_a_student_who_changes_the_inputs_in_place_does_not_fool_the_check(capsys):
    def in_place(layers):
        result = end_to_end(layers).clone()
        for layer in layers:
            layer.zero_()
        return result

    assert check("00.end_to_end", in_place).passed
    assert check("00.end_to_end", end_to_end).passed


def test_spectral_init_with_the_opposite_singular_vector_signs_passes(capsys):
    def flipped(surrogate, r_hat, depth, eps):
        layers = spectral_init(surrogate, r_hat, depth, eps)
        layers[0], layers[-1] = -layers[0], -layers[-1]
        return layers

    assert check("04.spectral_init", flipped).passed


def test_bad_arguments_to_check_become_messages_not_exceptions(capsys):
    unknown = check("99.nothing", end_to_end)
    assert not unknown.passed and "unknown exercise '99.nothing'" in unknown.message
    not_callable = check("00.end_to_end", end_to_end([torch.eye(2), torch.eye(2)]))
    assert "expected a function, got Tensor" in not_callable.message
    assert "not implemented yet" in check("00.end_to_end", ...).message


def test_result_object_and_no_file_channel(tmp_path, monkeypatch, capsys):
    # the old grade log is gone: a check writes nowhere, whatever the environment says
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("LOWDIM_COURSE_GRADE_LOG", str(log))
    passed = check("04.compressed_param_count", compressed_param_count)
    failed = check("04.layer_learning_rates", stub)
    assert not log.exists()
    assert set(passed.to_dict()) == {"id", "passed", "score", "max_score", "message"}
    assert json.loads(json.dumps(failed.to_dict())) == failed.to_dict()
    assert bool(passed) and not bool(failed)
    assert str(passed) == "✅ 04.compressed_param_count: passed (5/5 cases)"
    assert passed._ipython_display_() is None


def test_the_expected_value_is_not_on_the_stack_while_the_student_runs(capsys):
    # A student's function that reads the reference answer off its callers' frames: the
    # reference is computed only after the call returns, so there is nothing to read.
    import inspect

    def peek(layers):
        for frame in inspect.stack()[1:]:
            if "expected" in frame.frame.f_locals:
                return frame.frame.f_locals["expected"]
        return torch.zeros(1)

    result = check("00.end_to_end", peek)
    assert not result.passed and "wrong shape" in result.message
