"""Lesson 05's checks accept independent solutions and reject the stub and plausible mistakes.

The solutions below are written from the formulas (numpy, loops), not from the core.
"""

import math

import numpy as np
import pytest
import torch

from lowdim_course.exercises import check
from lowdim_course.exercises.lesson05 import reference_sensing_surrogate
from lowdim_course.problems import make_problem

# ---------------------------------------------------------------------------------------------
# Independent solutions
# ---------------------------------------------------------------------------------------------


def sensing_surrogate(operator, measurements, d):
    a, y = np.asarray(operator), np.asarray(measurements)
    m = a.shape[0]
    total = np.zeros((d, d))
    for i in range(m):  # sum_i y_i A_i, A_i = row i reshaped (row-major)
        total += y[i] * a[i].reshape(d, d)
    return m * total  # (1/m) sum / sigma^2 with sigma^2 = 1/m^2


def completion_surrogate(target, mask, p):
    target, mask = np.asarray(target), np.asarray(mask)
    out = np.zeros_like(target)
    for i, j in zip(*np.nonzero(mask), strict=True):
        out[i, j] = target[i, j] / p
    return out


def subspace_angle(surrogate, target, r):
    qa = np.linalg.svd(np.asarray(target))[0][:, :r]
    qb = np.linalg.svd(np.asarray(surrogate))[0][:, :r]
    # sine of the largest angle: the largest singular value of (I - Q_A Q_A^T) Q_B
    sine = np.linalg.norm(qb - qa @ (qa.T @ qb), ord=2)
    return math.asin(min(1.0, sine))


def stub(*args):
    raise NotImplementedError("your code here")


# ---------------------------------------------------------------------------------------------
# The scaling behind 05.sensing_surrogate
# ---------------------------------------------------------------------------------------------


def test_the_unbiased_sensing_surrogate_is_m_squared_times_the_core_s():
    problem = make_problem("ms", d=8, r=2, m=50, seed=3)
    unbiased = reference_sensing_surrogate(problem.operator, problem.measurements, 8)
    assert torch.allclose(unbiased, problem.surrogate() * 50**2, rtol=1e-12, atol=0)


def test_the_unbiased_sensing_surrogate_has_mean_m_star():
    # average over many independent operators: the mean approaches M* (Monte Carlo, 1/sqrt(n))
    target = make_problem("mf", d=6, r=1, seed=0).target
    total, n = torch.zeros(6, 6, dtype=torch.float64), 400
    for seed in range(n):
        problem = make_problem("ms", d=6, m=30, seed=seed, target=target)
        total += reference_sensing_surrogate(problem.operator, problem.measurements, 6)
    error = torch.linalg.matrix_norm(total / n - target) / torch.linalg.matrix_norm(target)
    assert error < 0.15  # a biased version (M*/m or M*/m^2) would be off by ~1


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exercise", "solution"),
    [
        ("05.sensing_surrogate", sensing_surrogate),
        ("05.completion_surrogate", completion_surrogate),
        ("05.subspace_angle", subspace_angle),
    ],
)
def test_checks_accept_an_independent_solution_and_reject_the_stub(exercise, solution):
    assert check(exercise, solution).passed
    result = check(exercise, stub)
    assert not result.passed and "not implemented" in result.message


def _aty(a, y, d):
    return (a.T @ y).reshape(d, d)


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (lambda a, y, d: _aty(a, y, d) / a.shape[0], "mean is M*/m²"),
        (lambda a, y, d: _aty(a, y, d), "Σ y_i A_i, whose mean is M*/m"),
        (lambda a, y, d: a.shape[0] * _aty(a, y, d).T, "transposed"),
        (lambda a, y, d: a.shape[0] * a.T @ y, "wrong shape"),
        (lambda a, y, d: 3 * a.shape[0] * _aty(a, y, d), "factor of about 3"),
    ],
)
def test_sensing_check_names_the_mistake(wrong, says):
    result = check("05.sensing_surrogate", wrong)
    assert not result.passed and says in result.message


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (lambda t, mask, p: t * mask, "forgot to divide by p"),
        (lambda t, mask, p: t / p, "forgot the mask"),
        (lambda t, mask, p: t * mask * p, "multiplied by p"),
        (lambda t, mask, p: t * (~mask) / p, "UNOBSERVED"),
        (lambda t, mask, p: (t * mask / p).T, "transposed"),
    ],
)
def test_completion_check_names_the_mistake(wrong, says):
    result = check("05.completion_surrogate", wrong)
    assert not result.passed and says in result.message


def _angles(s, t, r):
    qa = torch.linalg.svd(t)[0][:, :r]
    qb = torch.linalg.svd(s)[0][:, :r]
    return torch.arccos(torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1))


@pytest.mark.parametrize(
    ("wrong", "says"),
    [
        (lambda s, t, r: _angles(s, t, r).min(), "SMALLEST principal angle"),
        (lambda s, t, r: torch.rad2deg(_angles(s, t, r).max()), "degrees"),
        (lambda s, t, r: torch.cos(_angles(s, t, r).max()), "cosine of the largest"),
        (lambda s, t, r: _angles(s, t, r), "expected one angle"),
        (
            lambda s, t, r: torch.arccos(
                torch.linalg.svdvals(
                    torch.linalg.svd(t)[2][:r] @ torch.linalg.svd(s)[2][:r].T
                ).clamp(-1, 1)
            ).max(),
            "RIGHT singular vectors",
        ),
    ],
)
def test_angle_check_names_the_mistake(wrong, says):
    result = check("05.subspace_angle", wrong)
    assert not result.passed and says in result.message


# ---------------------------------------------------------------------------------------------
# Capstone 05.train_compressed_completion and self-check 05.what_p_does
# ---------------------------------------------------------------------------------------------


def _chain(layers, n):
    out = np.eye(n)
    for w in layers:
        out = w @ out
    return out


def completion_run_numpy(observed, mask, p, r_hat, depth, eps, eta, alpha, steps, *,
                         masked=True, rates=None, swap=False, scale=None):  # fmt: skip
    """The compressed completion run from the formulas (numpy); the keywords make wrong answers
    (``masked=False``: the full loss; ``rates``: other rates; ``swap``: U and V swapped;
    ``scale``: the surrogate's divisor instead of p)."""
    seen = np.asarray(mask, dtype=float)
    y = np.asarray(observed) * seen
    d = y.shape[0]
    u, _, vt = np.linalg.svd(y / (p if scale is None else scale))
    first, last = eps * vt[:r_hat], eps * u[:, :r_hat]
    if swap:
        first, last = eps * u[:, :r_hat].T, eps * vt[:r_hat].T
    ws = [first] + [eps * np.eye(r_hat) for _ in range(depth - 2)] + [last]
    if rates is None:
        rates = [alpha * eta] + [eta] * (depth - 2) + [alpha * eta]
    for _ in range(steps):
        residual = _chain(ws, d) - y
        if masked:
            residual = residual * seen
        ws = [
            w - rate * _chain(ws[i + 1 :], w.shape[0]).T @ residual @ _chain(ws[:i], d).T
            for i, (w, rate) in enumerate(zip(ws, rates, strict=True))
        ]
    return _chain(ws, d)


def completion_run_autograd(observed, mask, p, r_hat, depth, eps, eta, alpha, steps):
    """A different correct answer: torch, the gradients by autograd, the init from the SVD of
    P_Omega(M*) without the 1/p (only the singular vectors matter)."""
    seen = mask.to(observed.dtype)
    u, _, vh = torch.linalg.svd(observed * seen)
    layers = [eps * vh[:r_hat]] + [eps * torch.eye(r_hat, dtype=observed.dtype)] * (depth - 2)
    layers = [w.clone() for w in [*layers, eps * u[:, :r_hat]]]
    for _ in range(steps):
        leaves = [w.detach().requires_grad_(True) for w in layers]
        product = leaves[0]
        for w in leaves[1:]:
            product = w @ product
        (0.5 * (((product - observed) * seen) ** 2).sum()).backward()
        layers = [
            w.detach() - (alpha * eta if i in (0, depth - 1) else eta) * w.grad
            for i, w in enumerate(leaves)
        ]
    product = layers[0]
    for w in layers[1:]:
        product = w @ product
    return product


def test_capstone_solutions_pass(capsys):
    assert check("05.train_compressed_completion", completion_run_numpy).passed
    assert check("05.train_compressed_completion", completion_run_autograd).passed


def test_capstone_stub_is_rejected(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    result = check("05.train_compressed_completion", stub)
    assert not result.passed and "not implemented yet" in result.message


def _rates(depth, ends, middle):
    return [ends] + [middle] * (depth - 2) + [ends]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"masked": False}, "FULL loss"),
        ({"rates": lambda depth, eta, alpha: _rates(depth, eta, eta)}, "alpha is missing"),
        ({"rates": lambda depth, eta, alpha: _rates(depth, alpha * eta, alpha * eta)},
         "applied to EVERY layer"),
        ({"rates": lambda depth, eta, alpha: _rates(depth, eta, alpha * eta)},
         "middle layers instead"),
        ({"swap": True}, "swapped the singular vectors"),
        ({"rates": "mean"}, "divided by |Omega|"),
    ],
)  # fmt: skip
def test_capstone_mistakes_are_named(change, words, capsys):
    def student(observed, mask, p, r_hat, depth, eps, eta, alpha, steps):
        options = dict(change)
        if options.get("rates") == "mean":
            n = int(np.asarray(mask).sum())
            options["rates"] = _rates(depth, alpha * eta / n, eta / n)
        elif callable(options.get("rates")):
            options["rates"] = options["rates"](depth, eta, alpha)
        return completion_run_numpy(observed, mask, p, r_hat, depth, eps, eta, alpha, steps,
                                    **options)  # fmt: skip

    result = check("05.train_compressed_completion", student)
    assert not result.passed and words in result.message, result.message


def test_capstone_surrogate_scale_does_not_matter(capsys):
    """The self-check's answer: without the 1/p (or with any positive scale) the run is the
    same, because the spectral initialization reads only the singular vectors."""
    for scale in (1.0, 0.01, 7.0):

        def student(*args, scale=scale):
            return completion_run_numpy(*args, scale=scale)

        assert check("05.train_compressed_completion", student).passed


@pytest.mark.parametrize("answer", ["b", "B", "(b)", " b "])
def test_self_check_right_letter_passes(answer, capsys):
    assert check("05.what_p_does", lambda: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "never enter"), ("c", "changes no singular vector"), ("d", "only chooses where")],
)
def test_self_check_wrong_letters_explain(letter, words, capsys):
    result = check("05.what_p_does", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


# ---------------------------------------------------------------------------------------------
# Self-check 05.seed_that_misses; 05.subspace_angle's tolerance near 0
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", ["b", "B", "(b)"])
def test_seed_that_misses_right_letter_passes(answer, capsys):
    assert check("05.seed_that_misses", lambda: answer).passed


@pytest.mark.parametrize(
    ("letter", "words"),
    [("a", "seed 1's story"), ("c", "speeds up the original"), ("d", "stops falling")],
)
def test_seed_that_misses_wrong_letters_explain(letter, words, capsys):
    result = check("05.seed_that_misses", lambda: letter)
    assert not result.passed and f"not ({letter})" in result.message and words in result.message


def _angle_by_arccos(surrogate, target, r):
    """The lesson's solution: arccos of the smallest cosine (ill conditioned near 0)."""
    q_a = torch.linalg.svd(target)[0][:, :r]
    q_b = torch.linalg.svd(surrogate)[0][:, :r]
    return torch.arccos(torch.linalg.svdvals(q_a.T @ q_b).clamp(-1.0, 1.0).min())


def test_angle_tolerance_follows_the_arccos_conditioning():
    from lowdim_course.exercises.lesson05 import ANGLE_ATOL, COSINE_ROUNDING, angle_tolerance

    # at 0: arccos(1 - delta) = sqrt(2 delta) to first order
    assert angle_tolerance(0.0) == pytest.approx(math.sqrt(2 * COSINE_ROUNDING), rel=1e-4)
    for angle in (0.05, 0.5, 1.5):  # delta / sin(theta) < 1e-7 there: the plain tolerance
        assert COSINE_ROUNDING / math.sin(angle) < ANGLE_ATOL
        assert angle_tolerance(angle) == ANGLE_ATOL


def _angle_with_cosine_rounding(surrogate, target, r):
    """The arccos answer with its cosine 1e-12 too small: what another processor's rounding
    (the course's harsh stand-in, rounding.RoundingPerturbation) can do to it."""
    q_a = torch.linalg.svd(target)[0][:, :r]
    q_b = torch.linalg.svd(surrogate)[0][:, :r]
    cosine = torch.linalg.svdvals(q_a.T @ q_b).min().clamp(max=1.0) * (1 - 1e-12)
    return torch.arccos(cosine)


def test_a_cosine_off_by_rounding_passes_where_a_fixed_1e_7_would_fail():
    from lowdim_course.exercises.comparing import compare_arrays
    from lowdim_course.exercises.lesson05 import SUBSPACE_ANGLE
    from lowdim_course.rounding import RoundingPerturbation

    assert check("05.subspace_angle", _angle_with_cosine_rounding).passed
    case = SUBSPACE_ANGLE.make_cases()[-1]  # the surrogate is the target: angle 0
    got = _angle_with_cosine_rounding(*case.args)
    assert 1e-6 < float(got) < 2e-6  # sqrt(2e-12)
    expected = SUBSPACE_ANGLE.reference(*case.args)
    assert compare_arrays(expected, got.reshape(()), case, atol=1e-7) is not None
    with RoundingPerturbation():  # and the lesson's own solution, under the stand-in
        assert check("05.subspace_angle", _angle_by_arccos).passed


def test_the_tolerance_is_the_old_one_on_every_case_but_the_zero_angle():
    """Not loosened for real mistakes: only where arccos is ill conditioned (angle 0) does the
    tolerance exceed the former fixed 1e-7, and an answer 1e-4 off is still rejected."""
    from lowdim_course.exercises.lesson05 import SUBSPACE_ANGLE, angle_tolerance

    looser = []
    for case in SUBSPACE_ANGLE.make_cases():
        expected = float(SUBSPACE_ANGLE.reference(*case.args))
        if angle_tolerance(expected) > 1e-7:
            looser.append(expected)
    assert len(looser) == 1 and looser[0] < 1e-7

    def off(surrogate, target, r):
        return _angle_by_arccos(surrogate, target, r) + 1e-4

    assert not check("05.subspace_angle", off).passed
