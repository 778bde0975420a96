"""``reproduce`` and ``lowdim-course reproduce``: files, memory fallback, atomic writes, exits."""

import json
import sys
import types
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest
import torch

from lowdim_course import reproduce as rp
from lowdim_course.cli import main

SMALL_MF = {"d": 20, "r": 2, "lr": 6.0, "steps": 200}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_reproduce_writes_the_json_and_the_figure(tmp_path):
    data = rp.reproduce("mf", out_dir=tmp_path, progress=False, say=lambda _: None, **SMALL_MF)
    saved = json.loads((tmp_path / "mf.json").read_text())
    assert set(saved) >= {"task", "settings", "original", "compressed", "ratios", "fallback"}
    assert saved["task"] == "mf" and saved["settings"]["d"] == 20
    assert saved["settings"]["r_hat"] == 4 and saved["settings"]["lr"] == 6.0
    for side, params in (("original", 3 * 20 * 20), ("compressed", 2 * 20 * 4 + 16)):
        values = saved[side]
        assert values["params"] == params
        assert {"iterations_to_1e-4", "seconds_to_1e-4", "seconds_per_step", "final_error"} <= set(
            values
        )
        curve = values["curve"]
        assert len(curve["iteration"]) == len(curve["error"]) == len(curve["seconds"])
        assert len(curve["iteration"]) <= rp.CURVE_POINTS + 1
        assert curve["iteration"][0] == 0 and curve["iteration"][-1] == values["steps"]
        assert curve["error"][0] == pytest.approx(1.0, abs=1e-3)
    assert saved["ratios"]["params"] == pytest.approx(1200 / 176)
    assert (tmp_path / "mf.png").read_bytes()[:8] == PNG_MAGIC
    assert data["paths"] == [str(tmp_path / "mf.json"), str(tmp_path / "mf.png")]
    assert leftovers(tmp_path) == []


def test_subsampled_curve_keeps_first_and_last_points():
    history = types.SimpleNamespace(
        recovery_error=[1.0 / (t + 1) for t in range(1234)], seconds=list(range(1234))
    )
    curve = rp.subsample_curve(history, points=100)
    assert curve["iteration"][0] == 0 and curve["iteration"][-1] == 1233
    assert len(curve["iteration"]) <= 101
    assert curve["error"][-1] == pytest.approx(1 / 1234)


def test_sensing_falls_back_to_the_smaller_size_when_memory_is_short(tmp_path, monkeypatch, capsys):
    # 1 GB free: the reference operator (1.28 GB) does not fit, the fallback does (a smaller
    # fallback than the real d=100, m=2000 keeps the test fast).
    assert rp.SENSING_FALLBACK == {"d": 100, "m": 2000}
    assert rp.sensing_memory_needed(100, 2000, rp.torch.float64, "cpu") == {"cpu": 160_000_000}
    monkeypatch.setattr(rp, "SENSING_FALLBACK", {"d": 30, "m": 600})
    monkeypatch.setattr(rp, "free_memory_bytes", lambda device: 10**9)
    data = rp.reproduce("ms", out_dir=tmp_path, progress=False, steps=3)
    printed = capsys.readouterr().out
    assert "the sensing operator at d=200, m=4000 needs 1.28 GB on cpu" in printed
    assert "but only 1.00 GB is free: running at d=30, m=600 instead" in printed
    assert data["settings"]["d"] == 30 and data["settings"]["m"] == 600
    saved = json.loads((tmp_path / "ms.json").read_text())
    assert "running at d=30, m=600 instead" in saved["fallback"]
    assert saved["settings"]["d"] == 30 and saved["original"]["steps"] == 3


def test_sensing_keeps_the_reference_size_when_it_fits(monkeypatch):
    monkeypatch.setattr(rp, "free_memory_bytes", lambda device: 64 * 10**9)
    assert rp.sensing_fits(200, 4000, rp.torch.float64, "cpu") == (True, "")
    assert rp.sensing_memory_needed(200, 4000, rp.torch.float64, "cpu") == {"cpu": 1_280_000_000}
    # float32 on the CPU: drawn in float64, converted copy on top
    assert rp.sensing_memory_needed(10, 10, rp.torch.float32, "cpu") == {"cpu": 8000 + 4000}


def test_sensing_that_fits_nowhere_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(rp, "free_memory_bytes", lambda device: 1000)
    with pytest.raises(ValueError, match=r"needs .* GB on cpu .* lower m or d"):
        rp.run_experiment("ms", progress=False, say=lambda _: None, steps=1)
    with pytest.raises(ValueError, match="lower m or d"):  # already at most the fallback size
        rp.run_experiment("ms", progress=False, say=lambda _: None, d=20, m=100, steps=1)


def test_free_memory_is_psutils_available_ram_on_every_platform(monkeypatch):
    free = rp.free_memory_bytes("cpu")
    assert isinstance(free, int) and free > 10**6
    if sys.platform.startswith("linux"):  # agrees with the kernel's own MemAvailable
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        kernel = next(int(line.split()[1]) * 1024 for line in meminfo if "MemAvailable" in line)
        assert abs(free - kernel) < 0.2 * kernel

    def unreadable():
        raise OSError("no memory information here")

    monkeypatch.setattr(rp.psutil, "virtual_memory", unreadable)
    assert rp.free_memory_bytes("cpu") is None
    fits, why = rp.sensing_fits(200, 4000, torch.float64, "cpu")  # falls back, and says why
    assert not fits and "cannot be read" in why


def test_a_failure_mid_run_keeps_finished_files_and_leaves_no_temporary_ones(tmp_path, monkeypatch):
    import lowdim_course.comparison as comparison

    real_train = comparison.train

    def failing_train(problem, network, **kwargs):
        if problem.task == "mc":
            raise RuntimeError("boom")
        return real_train(problem, network, **kwargs)

    monkeypatch.setattr(comparison, "train", failing_train)
    with pytest.raises(RuntimeError, match="boom"):
        rp.reproduce_many(
            ["mf", "mc"], out_dir=tmp_path, progress=False, say=lambda _: None, d=20, r=2,
            lr=6.0, steps=100,
        )  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mf.json", "mf.png"]
    assert json.loads((tmp_path / "mf.json").read_text())["task"] == "mf"
    assert (tmp_path / "mf.png").read_bytes()[:8] == PNG_MAGIC


def test_an_interrupt_while_saving_the_figure_leaves_no_half_file(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def half_save(self, path, **kwargs):
        with open(path, "wb") as file:
            file.write(PNG_MAGIC)  # half a file, then the interrupt
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", half_save)
    with pytest.raises(KeyboardInterrupt):
        rp.reproduce("mf", out_dir=tmp_path, progress=False, say=lambda _: None, **SMALL_MF)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mf.json"]  # the JSON was finished


def test_bad_settings_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="task must be one of"):
        rp.reproduce("mx", out_dir=tmp_path)
    with pytest.raises(ValueError, match="p applies to task 'mc' only"):
        rp.reference_settings("mf", p=0.5)
    with pytest.raises(ValueError, match="width is not a setting; the settings are"):
        rp.reference_settings("mf", width=3)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="out_dir must be a folder"):
        rp.reproduce("mf", out_dir=tmp_path / "file")


def test_reference_settings_are_the_spec_s():
    mf, mc, ms = (rp.reference_settings(task) for task in ("mf", "mc", "ms"))
    assert (mf["d"], mf["r"], mf["depth"], mf["eps"], mf["lr"], mf["r_hat"]) == (
        100, 10, 3, 1e-2, 50.0, 20,
    )  # fmt: skip
    assert (mc["d"], mc["r"], mc["p"], mc["lr"], mc["alpha"]) == (100, 5, 0.3, 10.0, 5.0)
    assert (ms["d"], ms["m"], ms["r"], ms["lr"], ms["alpha"]) == (200, 4000, 5, 10.0, 1.0)


def test_cli_runs_and_writes(tmp_path, capsys):
    code = run_cli(["reproduce", "mf", "--steps", "20", "--out", str(tmp_path), "--no-progress"])
    assert code == 0
    assert (tmp_path / "mf.json").exists() and (tmp_path / "mf.png").exists()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["reproduce", "mx"],
        ["reproduce", "mf", "--steps", "0"],
        ["reproduce", "mf", "--device", "tpu"],
        ["reproduce", "mf", "--dtype", "float16"],
        ["reproduce"],
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, tmp_path, capsys):
    assert run_cli([*argv, "--out", str(tmp_path)] if len(argv) > 1 else argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_nonlinear_missing_is_exit_2_and_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "lowdim_course.nonlinear", None)  # import fails
    assert run_cli(["reproduce", "nonlinear", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not available" in err


def test_nonlinear_without_scikit_learn_says_what_to_install(tmp_path, monkeypatch, capsys):
    from lowdim_course.nonlinear import data

    data._raw_digits.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # as if it were not installed
    try:
        assert run_cli(["reproduce", "nonlinear", "--out", str(tmp_path), "--no-progress"]) == 2
    finally:
        data._raw_digits.cache_clear()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "pip install 'scikit-learn>=1.3'" in err
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_nonlinear_is_handed_to_its_module(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("lowdim_course.nonlinear")
    fake.reproduce_nonlinear = lambda **kwargs: calls.append(kwargs) or {"paths": []}
    monkeypatch.setitem(sys.modules, "lowdim_course.nonlinear", fake)
    assert run_cli(["reproduce", "nonlinear", "--out", str(tmp_path), "--no-progress"]) == 0
    assert calls == [{"device": "cpu", "out_dir": tmp_path, "progress": False}]


def test_nonlinear_data_is_handed_to_its_module(tmp_path, monkeypatch):
    import lowdim_course.nonlinear.settings as settings

    calls = []
    fake = types.ModuleType("lowdim_course.nonlinear")
    fake.reproduce_nonlinear = lambda **kwargs: calls.append(kwargs) or {"paths": []}
    monkeypatch.setitem(sys.modules, "lowdim_course.nonlinear", fake)
    monkeypatch.setitem(sys.modules, "lowdim_course.nonlinear.settings", settings)
    argv = ["reproduce", "nonlinear", "--data", "mnist1d", "--out", str(tmp_path), "--no-progress"]
    assert run_cli(argv) == 0
    assert calls == [{"device": "cpu", "out_dir": tmp_path, "progress": False, "data": "mnist1d"}]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["nonlinear", "--data", "mnist2d"],
            "--data must be one of digits, mnist1d, got 'mnist2d'",
        ),
        (["mf", "nonlinear", "--data", "fashion"], "--data must be one of"),
        (["mf", "--data", "mnist1d"], "--data applies to the nonlinear experiment only"),
    ],
)
def test_bad_data_is_refused_before_any_training(argv, message, tmp_path, monkeypatch, capsys):
    trained = []
    monkeypatch.setattr(rp, "run_experiment", lambda *a, **k: trained.append(a))
    monkeypatch.setattr(rp, "_reproduce_nonlinear", lambda **k: trained.append(k))
    assert run_cli(["reproduce", *argv, "--out", str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert trained == [] and not list(tmp_path.iterdir())


def test_reproduce_checks_data_before_training(tmp_path, monkeypatch):
    from lowdim_course.nonlinear import experiment

    trained = []
    monkeypatch.setattr(experiment, "run_nonlinear", lambda **k: trained.append(k))
    monkeypatch.setattr(rp, "run_experiment", lambda *a, **k: trained.append(a))
    with pytest.raises(ValueError, match="data applies to the 'nonlinear' experiment only"):
        rp.reproduce("mf", out_dir=tmp_path, data="mnist1d")
    with pytest.raises(ValueError, match="data must be one of 'digits', 'mnist1d', got 'mnist'"):
        rp.reproduce("nonlinear", out_dir=tmp_path, data="mnist", progress=False)
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        experiment.reproduce_nonlinear(out_dir=tmp_path, data="mnist1d", steps=0, progress=False)
    assert trained == [] and not list(tmp_path.iterdir())
