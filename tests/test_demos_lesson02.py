"""Lesson 02's demos, called as their slider panels call them (no kernel)."""

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lowdim_course.demos.lesson02 import (
    MAX_STEPS,
    capstone_demo,
    incremental_demo,
    measured_separation,
    run_length,
    separation_demo,
    target_spectrum,
)
from lowdim_course.theory import identity_init_spectra, integrate_deep_mode
from lowdim_course.widgets import int_slider, log_slider, slider_panel


def test_separation_demo_matches_the_spec_and_deeper_separates_more(capsys):
    result = separation_demo(depth=3, u0=1e-4, gap=2.0)
    table = result["separation"]
    # Measured once and pinned: 0.057 (L=2), 0.0016 (L=3), 0.0008 (L=4) at u0 = 1e-4, s = (1, 0.5)
    assert table[2] == pytest.approx(0.057, rel=0.02)
    assert table[3] == pytest.approx(0.0016, rel=0.02)
    assert table[4] == pytest.approx(0.0008, rel=0.03)
    assert table[2] > table[3] > table[4] > table[5]
    assert result["onset"] == pytest.approx(result["ode_half"], rel=0.1)
    assert result["onset"] > result["ode_half"]
    assert f"{table[3]:.3g}" in capsys.readouterr().out


def test_separation_demo_smaller_init_and_larger_gap_separate_more():
    base = separation_demo(depth=3, u0=1e-3, gap=2.0)["separation"][3]
    smaller = separation_demo(depth=3, u0=1e-5, gap=2.0)["separation"][3]
    closer = separation_demo(depth=3, u0=1e-3, gap=1.2)["separation"][3]
    assert smaller < 0.1 * base
    assert closer > 3 * base
    two_layers = separation_demo(depth=2, u0=1e-2, gap=1.3)
    assert two_layers["onset"] == pytest.approx(two_layers["ode_half"], rel=1e-6)


def test_incremental_demo_learns_the_singular_values_in_order(capsys):
    result = incremental_demo(depth=3, eps=0.1, gap=2.0)
    halves = [mode["gd_half"] for mode in result["modes"]]
    assert None not in halves and halves == sorted(halves)
    for mode in result["modes"]:
        # the random init lags behind the aligned ODE, but not by more than a factor 2
        assert mode["ode_half"] <= mode["gd_half"] <= 2 * mode["ode_half"]
    # the lesson's words: 36%, 19% and 65% later at the defaults, the weakest mode the most
    lags = [mode["gd_half"] / mode["ode_half"] - 1 for mode in result["modes"]]
    assert [round(100 * lag) for lag in lags] == [36, 19, 65]
    assert max(lags) == lags[-1]
    assert result["separation"] < 0.05
    assert result["erank_start"] == pytest.approx(12.0, rel=1e-6)
    assert result["erank_min"] < 1.3
    assert result["erank_end"] == pytest.approx(2.6, abs=0.15)
    assert result["final_error"] < 0.01
    assert f"{result['erank_min']:.3g}" in capsys.readouterr().out


def test_incremental_demo_deeper_is_more_incremental():
    shallow = incremental_demo(depth=2, eps=0.1, gap=2.0)
    deep = incremental_demo(depth=4, eps=0.3, gap=2.0)
    assert deep["separation"] < 0.2 * shallow["separation"]
    assert deep["erank_min"] < shallow["erank_min"]


def test_incremental_demo_stops_at_the_cap_and_says_so(capsys):
    result = incremental_demo(depth=5, eps=0.05, gap=2.0)
    assert result["steps"] == MAX_STEPS and result["modes"][-1]["gd_half"] is None
    assert "stopped at" in capsys.readouterr().out


def test_helpers():
    assert target_spectrum(2.0) == [1.0, 0.5, 0.25]
    with pytest.raises(ValueError, match="gap"):
        target_spectrum(1.0)
    assert 100 <= run_length([1.0, 0.5], 0.3**2, 2) <= MAX_STEPS
    assert run_length([0.01], 0.3**2, 2) == MAX_STEPS
    spectra = torch.tensor([[0.1, 0.01], [0.95, 0.02], [1.0, 0.5]])
    assert measured_separation(spectra, [1.0, 0.5]) == pytest.approx(0.04)
    assert measured_separation(spectra[:1], [1.0, 0.5]) is None


def test_panels_recompute_when_a_slider_moves():
    panel = slider_panel(
        separation_demo,
        depth=int_slider(3, 2, 5),
        u0=log_slider(1e-4, 1e-6, 1e-2),
        gap=log_slider(2.0, 1.2, 5.0),
    )
    before = panel.result
    panel.kwargs_widgets[1].value = 1e-2
    assert panel.result["separation"][3] > 10 * before["separation"][3]
    panel = slider_panel(
        incremental_demo,
        depth=int_slider(3, 2, 5),
        eps=log_slider(0.1, 0.05, 0.5),
        gap=log_slider(2.0, 1.2, 4.0),
    )
    before = panel.result
    panel.kwargs_widgets[0].value = 2
    assert panel.result["separation"] > 5 * before["separation"]


def test_gradient_descent_lags_the_aligned_ode_in_every_seed_but_not_in_one_order(capsys):
    """Lesson 02's claim over five seeds: every mode is late (17-75%), and which mode lags most
    changes with the seed."""
    from lowdim_course.demos.lesson02 import lag_over_seeds

    summary = lag_over_seeds(depth=3, eps=0.1, gap=2.0)
    ratios = summary["ratios"]
    assert summary["later_in_every_mode"] == 5
    assert all(1.1 < x < 1.8 for row in ratios for x in row)
    most_late = {max(range(3), key=row.__getitem__) for row in ratios}
    assert len(most_late) > 1
    assert "in 5 of 5 seeds" in capsys.readouterr().out


def _correct_trainer(M, depth, eps, lr, steps):
    """Gradient descent from eps I with every gradient from the old layers (no core code)."""
    d = M.shape[0]
    layers = [eps * torch.eye(d, dtype=M.dtype) for _ in range(depth)]

    def chain(ws):
        out = torch.eye(d, dtype=M.dtype)
        for w in ws:
            out = w @ out
        return out

    spectra = [torch.linalg.svdvals(chain(layers))]
    for _ in range(steps):
        residual = chain(layers) - M
        layers = [
            w - lr * chain(layers[i + 1 :]).T @ residual @ chain(layers[:i]).T
            for i, w in enumerate(layers)
        ]
        spectra.append(torch.linalg.svdvals(chain(layers)))
    return torch.stack(spectra)


def test_capstone_demo_with_a_correct_trainer_says_it_agrees(capsys):
    summary = capstone_demo(_correct_trainer)
    printed = capsys.readouterr().out
    assert summary["student_ran"] and summary["agree"]
    assert "your trainer agrees with the course's at both depths" in printed
    assert all(gap < 1e-10 for gap in summary["gap_to_course"].values())
    # the gap to the mode ODE is the step size's (printed 0.012 and 0.021), the stages as printed
    assert summary["gap_to_ode"][2] == pytest.approx(0.012, abs=5e-4)
    assert summary["gap_to_ode"][3] == pytest.approx(0.021, abs=5e-4)
    assert summary["half_way"] == {2: [174, 312, 553], 3: [459, 894, 1728]}
    assert "[459, 894, 1728]" in printed


def test_capstone_demo_halving_the_step_halves_the_gap_to_the_ode():
    from lowdim_course.demos import lesson02

    target = lesson02.capstone_target()
    times = torch.arange(6001, dtype=torch.float64)
    course = identity_init_spectra(target, 3, 0.1, 0.01, 6000)[:, :3]
    ode = torch.stack([integrate_deep_mode(s, 1e-3, 3, 0.01, times) for s in (1, 0.5, 0.25)], 1)
    assert float((course - ode).abs().max()) == pytest.approx(0.021 / 2, rel=0.05)


def test_capstone_demo_with_the_stub_prints_one_line_and_draws_the_course(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    summary = capstone_demo(stub)
    printed = capsys.readouterr().out.splitlines()
    assert not summary["student_ran"]
    assert printed[0].startswith("your train_deep_linear is not written yet")
    assert sum("your train_deep_linear" in line for line in printed) == 1
    assert summary["half_way"] == {2: [174, 312, 553], 3: [459, 894, 1728]}


def test_capstone_demo_shows_a_wrong_trainer_as_disagreeing(capsys):
    def last_row_missing(M, depth, eps, lr, steps):
        return _correct_trainer(M, depth, eps, lr, steps)[:-1]

    def one_percent_off(M, depth, eps, lr, steps):
        return _correct_trainer(M, depth, eps, lr, steps) * 1.01

    assert not capstone_demo(last_row_missing)["student_ran"]
    assert "expected (steps + 1, d)" in capsys.readouterr().out
    assert not capstone_demo(one_percent_off)["agree"]
    assert "does NOT agree" in capsys.readouterr().out


def test_semantic_depth_demo_prints_widths_that_fall_with_depth(capsys):
    from lowdim_course.demos.lesson02 import semantic_depth_demo

    result = semantic_depth_demo(depths=(2, 3))
    out = capsys.readouterr().out
    assert "stage width" in out and "learned in the order of s in 5/5 seeds" in out
    assert result["in_order"] == {2: 5, 3: 5}
    for k in range(4):
        assert result["widths"][3][k][0] < 0.5 * result["widths"][2][k][0]
