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
from lowdim_course.exercises.lesson02_capstone import _TRAIN_MISTAKES
from lowdim_course.theory import identity_init_spectra, integrate_deep_mode
from lowdim_course.widgets import int_slider, log_slider, slider_panel


def test_separation_demo_matches_the_spec_and_deeper_separates_more(capsys):
    result = separation_demo(depth=3, m0=1e-4, gap=2.0)
    table = result["separation"]
    # Measured once and pinned: 0.057 (L=2), 0.0016 (L=3), 0.0008 (L=4) at m0 = 1e-4, s = (1, 0.5)
    assert table[2] == pytest.approx(0.057, rel=0.02)
    assert table[3] == pytest.approx(0.0016, rel=0.02)
    assert table[4] == pytest.approx(0.0008, rel=0.03)
    assert table[2] > table[3] > table[4] > table[5]
    assert result["onset"] == pytest.approx(result["ode_half"], rel=0.1)
    assert result["onset"] > result["ode_half"]
    # the lesson's words: at the defaults t* lies 4.1% above the half-way time
    assert round(100 * result["above"], 1) == 4.1
    printed = capsys.readouterr().out
    assert f"{table[3]:.3g}" in printed and "(+4.1%)" in printed


def test_regime_table_close_modes_and_onset_error_over_the_sliders(capsys):
    """Section 3's statements with their regime: at gap 1.2 two layers learn the modes almost
    together at every m0; deep ones separate them at m0 = 1e-4 (0.0244 at L = 3, 0.00248 at
    L = 5) but not at m0 = 1e-2 (0.563, 0.275). t* over-estimates the half-way time by 23% at
    m0 = 1e-2, L = 3, by under 1% at L = 5 or m0 = 1e-6."""
    from lowdim_course.demos.lesson02 import regime_table

    table = regime_table()
    sep, above = table["separation"], table["above"]
    assert all(sep[m0][2] > 0.4 for m0 in sep)
    assert f"{sep[1e-4][3]:.3g}" == "0.0244" and f"{sep[1e-4][5]:.3g}" == "0.00248"
    assert f"{sep[1e-2][3]:.3g}" == "0.563" and f"{sep[1e-2][5]:.3g}" == "0.275"
    assert round(100 * above[1e-2][3]) == 23 and round(100 * above[1e-4][3], 1) == 4.1
    assert max(above[1e-6].values()) < 0.01 and max(row[5] for row in above.values()) < 0.03
    for row in above.values():  # deeper is closer
        assert row[3] > row[4] > row[5] > 0
    printed = capsys.readouterr().out
    assert "+23.2%" in printed and "0.0244" in printed and "0.00248" in printed


def test_separation_demo_smaller_init_and_larger_gap_separate_more():
    base = separation_demo(depth=3, m0=1e-3, gap=2.0)["separation"][3]
    smaller = separation_demo(depth=3, m0=1e-5, gap=2.0)["separation"][3]
    closer = separation_demo(depth=3, m0=1e-3, gap=1.2)["separation"][3]
    assert smaller < 0.1 * base
    assert closer > 3 * base
    two_layers = separation_demo(depth=2, m0=1e-2, gap=1.3)
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
        m0=log_slider(1e-4, 1e-6, 1e-2),
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


def _choose(eps):
    return lambda: eps


def test_capstone_demo_with_a_correct_trainer_and_eps_0_1_says_it_agrees_and_works(capsys):
    summary = capstone_demo(_correct_trainer, _choose(0.1))
    printed = capsys.readouterr().out
    assert summary["student_ran"] and summary["agree"] and summary["chosen"]
    assert "your trainer agrees with the course's at both depths" in printed
    assert all(gap < 1e-10 for gap in summary["gap_to_course"].values())
    # the lesson's words: on the shown target depth 3 from eps = 0.1 separates the stages ten
    # times more sharply than depth 2 from the same m0 = 1e-3 (0.0042 against 0.049)
    assert summary["half_way"] == {3: [491, 1341, 2026], 2: [180, 385, 600]}
    assert summary["separation"][3] == pytest.approx(0.0042, abs=5e-5)
    assert summary["separation"][2] == pytest.approx(0.049, abs=5e-4)
    verdict = summary["over_targets"]
    assert verdict["works"] == 5
    assert max(verdict["separation"][3]) < min(verdict["separation"][2])
    assert "L=3: separation 0.0042 to 0.018" in printed
    assert "L=2: separation 0.049 to 0.16" in printed
    assert "eps = 0.1 does both on 5 of 5" in printed


@pytest.mark.slow  # about a minute: five settings, five targets each
@pytest.mark.parametrize(
    ("eps", "works", "words"),
    [(0.06, 3, "eps too small"), (0.08, 5, None), (0.14, 5, None), (0.16, 3, "eps too large"),
     (0.3, 0, "eps too large")],
)  # fmt: skip
def test_capstone_demo_window_for_eps(eps, works, words, capsys):
    """The decision the lesson asks for: eps about 0.08 to 0.14 works on all five targets; below
    it the weakest mode misses the 4000-step budget, above it mode 2 starts too early."""
    summary = capstone_demo(_correct_trainer, _choose(eps))
    printed = capsys.readouterr().out
    assert summary["over_targets"]["works"] == works
    if words is None:
        assert "eps too" not in printed
    else:
        assert words in printed


@pytest.mark.parametrize("answer", [2.0, 0.0, "0.1", None, True])
def test_capstone_demo_refuses_an_eps_outside_the_range(answer, capsys):
    summary = capstone_demo(_correct_trainer, _choose(answer), seeds=range(1), steps=50)
    assert not summary["chosen"] and summary["eps"] == 0.3
    assert "the figure uses eps = 0.3 until you choose" in capsys.readouterr().out


def test_capstone_demo_with_the_stubs_prints_one_line_each_and_draws_the_course(capsys):
    def stub(*args):
        raise NotImplementedError("your code here")

    summary = capstone_demo(stub, stub)
    printed = capsys.readouterr().out.splitlines()
    assert not summary["student_ran"] and not summary["chosen"]
    assert printed[0].startswith("your choose_eps is not written yet")
    assert printed[1].startswith("your train_deep_linear is not written yet")
    assert sum("your train_deep_linear" in line for line in printed) == 1
    assert summary["half_way"] == {3: [134, 384, 477], 2: [97, 222, 265]}
    assert summary["over_targets"]["separated"] == 0


def test_capstone_demo_shows_a_wrong_trainer_as_disagreeing(capsys):
    def last_row_missing(M, depth, eps, eta, steps):
        return _correct_trainer(M, depth, eps, eta, steps)[:-1]

    def one_percent_off(M, depth, eps, eta, steps):
        return _correct_trainer(M, depth, eps, eta, steps) * 1.01

    short = {"seeds": range(1), "steps": 300}
    assert not capstone_demo(last_row_missing, _choose(0.1), **short)["student_ran"]
    assert "expected (steps + 1, d)" in capsys.readouterr().out
    assert not capstone_demo(one_percent_off, _choose(0.1), **short)["agree"]
    assert "does NOT agree" in capsys.readouterr().out


@pytest.mark.parametrize("mistake", _TRAIN_MISTAKES, ids=lambda m: m.what[:40])
def test_capstone_figure_differs_for_every_named_mistake(mistake, capsys):
    """Each named mistake of 02.train_deep_linear changes the printed largest gap to the course's
    trainer from below 1e-8 to above 1e-3 (or the run fails and prints no values); the order
    and transpose mistakes, which a symmetric target hides, are named as such."""
    short = {"seeds": range(1), "steps": 1000}
    correct = capstone_demo(_correct_trainer, _choose(0.1), **short)
    assert max(correct["gap_to_course"].values()) < 1e-8
    capsys.readouterr()
    wrong = capstone_demo(mistake.compute, _choose(0.1), **short)
    printed = capsys.readouterr().out
    assert min(wrong["gap_to_course"].values()) > 1e-3
    assert "largest gap below 1e-8" not in printed
    named = "the order or the transposes of the products in the gradient are wrong" in printed
    assert named == any(key in mistake.what for key in ("not transposed", "wrong order"))


def test_the_symmetric_target_hides_the_order_of_the_products():
    """Why the capstone's target is not symmetric: on Q diag(s) Q^T the swapped order and the
    missing transposes give exactly the course's numbers; on U diag(s) V^T they do not."""
    from lowdim_course.demos.lesson02_capstone import capstone_target

    symmetric, general = capstone_target(0, symmetric=True), capstone_target(0)
    assert torch.allclose(symmetric, symmetric.T) and not torch.allclose(general, general.T)
    for wrong in [m for m in _TRAIN_MISTAKES if "gradient are" in m.what]:
        course = identity_init_spectra(symmetric, 3, 0.1, 0.02, 200)
        assert float((wrong.compute(symmetric, 3, 0.1, 0.02, 200) - course).abs().max()) < 1e-12
        course = identity_init_spectra(general, 3, 0.1, 0.02, 200)
        assert float((wrong.compute(general, 3, 0.1, 0.02, 200) - course).abs().max()) > 1e-4


def test_course_trainer_on_the_symmetric_target_follows_the_mode_ode_to_the_step_size():
    """On Q diag(s) Q^T from eps I gradient descent is the mode ODE's Euler scheme: the gap to
    the ODE is about 0.021 at eta = 0.02 (depth 3, m0 = 1e-3) and halves with the step."""
    from lowdim_course.demos.lesson02_capstone import capstone_target

    target = capstone_target(0, symmetric=True)
    gaps = []
    for eta, steps in ((0.02, 3000), (0.01, 6000)):
        times = torch.arange(steps + 1, dtype=torch.float64)
        course = identity_init_spectra(target, 3, 0.1, eta, steps)[:, :3]
        ode = torch.stack([integrate_deep_mode(s, 1e-3, 3, eta, times) for s in (1, 0.5, 0.25)], 1)
        gaps.append(float((course - ode).abs().max()))
    assert gaps[0] == pytest.approx(0.021, abs=5e-4)
    assert gaps[1] == pytest.approx(gaps[0] / 2, rel=0.05)


def test_semantic_depth_demo_prints_widths_that_fall_with_depth(capsys):
    from lowdim_course.demos.lesson02 import semantic_depth_demo

    result = semantic_depth_demo(depths=(2, 3))
    out = capsys.readouterr().out
    assert "stage width" in out and "learned in the order of s in 5/5 seeds" in out
    assert result["in_order"] == {2: 5, 3: 5}
    for k in range(4):
        assert result["widths"][3][k][0] < 0.5 * result["widths"][2][k][0]


@pytest.mark.slow  # about 30 s: five seeds at depth 4
def test_semantic_depth_4_widths_as_the_lesson_states_them(capsys):
    """Section 6 and the Summary: at depth 4 the widths are 0.04, 0.11 +- 0.13, 0.06 and 0.08;
    mode 2's mean and spread come from one seed in five, the other four below a tenth."""
    from lowdim_course import semantic
    from lowdim_course.demos.lesson02 import semantic_depth_demo

    result = semantic_depth_demo(depths=(4,))
    printed = capsys.readouterr().out
    assert "depth 4: 0.04 +- 0.00; 0.11 +- 0.13; 0.06 +- 0.00; 0.08 +- 0.01" in printed
    data = semantic.semantic_data()
    steps = min(6000, semantic.run_length(data, 4, 0.1, 0.05))
    second = [
        semantic.stage_widths(
            semantic.train_semantic(4, init_scale=0.1, lr=0.05, steps=steps, seed=seed, data=data)
        )[1]
        for seed in range(5)
    ]
    assert sorted(x < 0.1 for x in second) == [False, True, True, True, True]
    assert max(second) > 0.2
    assert result["widths"][4][1][0] > 0.1 > max(result["widths"][4][k][0] for k in (0, 2, 3))


def test_incremental_demo_same_u0_still_separates_with_depth():
    """Section 5's Think!: at m0 = 1e-2 (eps = 0.1, 0.215, 0.316 at L = 2, 3, 4, all on the
    slider) the separation still falls by a factor of two to three per layer."""
    separations = [
        incremental_demo(depth=L, eps=1e-2 ** (1 / L), gap=2.0)["separation"] for L in (2, 3, 4)
    ]
    for k in range(2):
        assert 2 < separations[k] / separations[k + 1] < 3.2
    assert 1e-2 ** (1 / 2) >= 0.05 > 1e-3 ** (1 / 2)  # the slider's lowest eps is 0.05


def test_incremental_demo_depth_5_at_the_default_eps_learns_nothing(capsys):
    """Section 5's depth bullet: at eps = 0.1 depth 5 stops at 3000 steps with nothing
    learned; eps = 0.3 learns all three modes."""
    stuck = incremental_demo(depth=5, eps=0.1, gap=2.0)
    assert stuck["steps"] == MAX_STEPS and all(m["gd_half"] is None for m in stuck["modes"])
    learned = incremental_demo(depth=5, eps=0.3, gap=2.0)
    assert all(m["gd_half"] is not None for m in learned["modes"])
    assert "lr = eta d^2 = 14.4 on the mean loss" in capsys.readouterr().out


def test_incremental_demo_a_large_gap_separates_two_layers_less_than_depth_does():
    """Section 5's gap bullet: at eps = 0.05 (the slider's lowest) and gap 4 two layers have
    mode 2 about 6% learned when mode 1 reaches 90%, nearly four times the default run's
    (depth 3)."""
    wide = incremental_demo(depth=2, eps=0.05, gap=4.0)["separation"]
    default = incremental_demo(depth=3, eps=0.1, gap=2.0)["separation"]
    narrow = incremental_demo(depth=2, eps=0.05, gap=2.0)["separation"]
    assert round(100 * wide) == 6 and narrow > 3 * wide
    assert 3.5 <= wide / default < 4
