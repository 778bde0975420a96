"""Lesson 08's demos, called as their slider panels call them (no kernel)."""

import functools
import math

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lowdim_course.demos.lesson08 import (
    pruning_panel,
    regime_table,
    retraining_capstone,
    retraining_table,
)
from lowdim_course.exercises.lesson08 import _RETRAIN_MISTAKES
from lowdim_course.widgets import choice, float_slider, int_slider, slider_panel


def test_default_panel_beats_the_oracle(capsys):
    summary = pruning_panel()
    assert summary["beats_oracle"] and summary["risk"] < summary["oracle"] / 2
    assert summary["peak_p"] in (95, 105)
    assert "p = 150: pruned risk" in capsys.readouterr().out


def test_below_s_nothing_is_pruned():
    summary = pruning_panel(p=60)
    assert summary["risk"] == summary["large_risk"]


def test_retraining_table_helps_only_with_correlation():
    table = retraining_table()
    assert table[0.0]["retrained"] > table[0.0]["pruned"]
    assert table[0.7]["retrained"] < table[0.7]["pruned"]


def test_moving_a_slider_recomputes():
    panel = slider_panel(
        pruning_panel,
        p=int_slider(150, 20, 300, step=5),
        keep=int_slider(90, 30, 95, step=5),
        noise=float_slider(1.0, 0.0, 2.0, step=0.1),
        correlation=float_slider(0.0, 0.0, 0.9, step=0.1),
        retrain=choice([False, True]),
    )
    first = panel.result
    panel.kwargs_widgets[0].value = 300
    assert panel.result["p"] == 300 and panel.result["risk"] != first["risk"]
    panel.kwargs_widgets[4].value = True
    assert panel.result["risk"] > first["risk"]


def _student_retrain(X, y, weights, keep, lr, steps, moving=False):
    """Capstone 08 written from the maths (torch); ``moving``: the mask re-chosen every step."""
    mask = torch.zeros_like(weights)
    mask[torch.topk(weights.abs(), keep).indices] = 1.0
    w = mask * weights
    for _ in range(steps):
        if moving:
            w = w - lr * X.T @ (X @ w - y) / X.shape[0]
            mask = torch.zeros_like(w)
            mask[torch.topk(w.abs(), keep).indices] = 1.0
            w = mask * w
        else:
            w = w - lr * mask * (X.T @ (X @ w - y)) / X.shape[0]
    return w


def test_retraining_capstone_agrees_with_a_correct_student(capsys):
    result = retraining_capstone(_student_retrain)
    assert result["agree"] is True and result["message"] is None
    out = capsys.readouterr().out
    assert "agree with the course's at every s" in out
    # the lesson's claims: converged at s = 10, 30; between pruning and the refit at s = 90,
    # rising with the number of steps
    course, refit, pruned = result["course"], result["refit"], result["pruned"]
    for keep in (10, 30):
        assert abs(course[keep] - refit[keep]) < 1e-3 and course[keep] < pruned[keep]
    assert pruned[90] < course[90] < refit[90]
    by_steps = result["by_steps"]
    assert by_steps[10] < by_steps[100] < by_steps[1000] < refit[90]
    assert max(result["smallest_eigenvalues"]) < 0.01 and max(result["largest_eigenvalues"]) < 5


def test_retraining_capstone_with_the_stub_prints_one_line(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    result = retraining_capstone(stub)
    assert result["student"] is None and result["agree"] is None
    out = capsys.readouterr().out
    assert out.count("prune_and_retrain is not written yet") == 1 and "Traceback" not in out
    assert "yours" not in out


def test_retraining_capstone_shows_a_moving_mask(capsys):
    result = retraining_capstone(functools.partial(_student_retrain, moving=True))
    assert result["agree"] is False
    assert "differ from the course's" in capsys.readouterr().out


def test_every_column_of_the_regime_table_is_an_average_over_the_same_sets(capsys):
    """Recomputed with numpy from the same training sets: each oracle is least squares (or
    ridge) on the first features, best-k never above best-s, and the pruned-vs-best-s verdict
    is the paired mean difference against two of its standard errors."""
    import numpy as np

    from lowdim_course.literature.pruning import training_sets

    seeds = 12
    table = regime_table(p=300, keeps=(10, 60), seeds=seeds, boundary=(60, 70))
    x, y, beta = (t.numpy() for t in training_sets(300, seeds=seeds))
    fits = np.stack([np.linalg.pinv(a) @ b for a, b in zip(x, y, strict=True)])

    def risk(weights):
        error = -beta.copy()
        error[: weights.shape[0]] += weights
        return 1.0 + error @ error

    for keep, row in table["rows"].items():
        pruned, oracle = [], {}
        for a, b, w in zip(x, y, fits, strict=True):
            kept = np.where(np.abs(w) >= np.sort(np.abs(w))[-keep], w, 0.0)
            pruned.append(risk(kept))
            for k in range(1, keep + 1):
                oracle.setdefault(k, []).append(risk(np.linalg.lstsq(a[:, :k], b, rcond=None)[0]))
        means = {k: np.mean(v) for k, v in oracle.items()}
        assert row["pruned"] == pytest.approx(np.mean(pruned), rel=1e-9)
        assert row["best_s"] == pytest.approx(means[keep], rel=1e-9)
        assert row["best_k"] == pytest.approx(min(means.values()), rel=1e-9)
        assert row["best_k"] <= row["best_s"]
        difference = np.array(pruned) - np.array(oracle[keep])
        mean, error = difference.mean(), difference.std(ddof=1) / seeds**0.5
        assert row["difference"] == pytest.approx((mean, error), rel=1e-9)
        expected = "first" if mean < -2 * error else "second" if mean > 2 * error else "within"
        assert row["verdict"].startswith(expected)
    assert "best-s wins (by 2 standard errors) up to s =" in capsys.readouterr().out


@pytest.mark.slow
def test_the_boundary_where_pruning_starts_to_beat_best_s():
    """The lesson's 50 sets at p = 300: best-s wins (paired, 2 standard errors) up to s = 62,
    pruning from s = 68 on, and the crossing lies between 60 and 70 as the closed form of the
    best-s oracle's mean risk says too: below the pruned mean at s = 60, above it at s = 70."""
    from lowdim_course.literature.pruning import expected_least_squares_risk
    from lowdim_course.literature.pruning_regimes import per_set_risks, pruning_boundary

    scan = pruning_boundary(300, (60, 62, 64, 66, 68, 70), seeds=50)
    assert scan["oracle_wins_up_to"] == 62 and scan["pruning_wins_from"] == 68
    assert [verdict for verdict, _, _ in scan["rows"].values()] == [
        "second", "second", "within noise", "within noise", "first", "first"
    ]  # fmt: skip
    for keep, below in ((60, True), (70, False)):
        pruned = float(per_set_risks(300, keep, seeds=50, retrained=False)["pruned"].mean())
        assert (expected_least_squares_risk(keep) < pruned) is below


@pytest.mark.slow
@pytest.mark.parametrize("mistake", _RETRAIN_MISTAKES, ids=lambda m: m.what[:30])
def test_each_named_mistake_shows_in_the_capstone_figure(mistake, capsys):
    """The printed distance of the student's weights from the course's after 10 steps (the
    figure's right panel) is 1e-12 or less for a correct answer and above 0.05 (or not finite)
    for every named mistake; 10 training sets keep it short."""
    correct = retraining_capstone(_student_retrain, seeds=10)
    wrong = retraining_capstone(mistake.compute, seeds=10)
    assert correct["weight_distance"] <= 1e-12
    distance = wrong["weight_distance"]
    assert not math.isfinite(distance) or distance > 0.05
    printed = capsys.readouterr().out
    assert printed.count("largest relative distance over the 10 sets") == 2
