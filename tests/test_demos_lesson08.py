"""Lesson 08's demos, called as their slider panels call them (no kernel)."""

import functools

import matplotlib

matplotlib.use("Agg")

import torch

from lowdim_course.demos.lesson08 import pruning_panel, retraining_capstone, retraining_table
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
