"""Original versus compressed network on the same problem: the paper's main experiment.

``compare(task, ...)`` builds one problem, trains the original deep linear network (width d,
orthogonal init) and the compressed one (width r_hat, spectral init, discrepant learning rate
alpha on its first and last layers), and returns both histories with a JSON-ready summary.
Defaults are the reference settings (``TASK_DEFAULTS``: the paper's problem sizes).
"""

from __future__ import annotations

from dataclasses import dataclass

from .history import History, error_label
from .networks import INITS, compressed_network, original_network
from .problems import TASKS, make_problem
from .threads import small_work
from .training import OPTIMIZERS, train
from .validation import check_choice, check_float, check_int, check_positive

# The reference settings: the problem sizes of Kwon et al.'s notebooks, with lr = 50 for MF (the
# course's choice; the paper's MF notebook uses lr = 1).
TASK_DEFAULTS = {
    "mf": {"d": 100, "r": 10, "lr": 50.0, "alpha": 1.0, "steps": 5000},
    "mc": {"d": 100, "r": 5, "p": 0.3, "lr": 10.0, "alpha": 5.0, "steps": 20000},
    "ms": {"d": 100, "r": 5, "m": 2000, "lr": 10.0, "alpha": 1.0, "steps": 4000},
}
COMMON_DEFAULTS = {
    "depth": 3,
    "eps": 1e-2,
    "tol": 1e-12,
    "stop_error": None,  # stop once the recovery error is below this (None: run to tol or steps)
    "seed": 0,
    "device": "cpu",
    "dtype": None,
    "init": "orthogonal",
    "optimizer": "gd",
}
# Options that only one task reads: p (observed fraction) and m (measurements).
TASK_ONLY = {"p": "mc", "m": "ms"}
# Every setting a caller may give (r_hat defaults to 2r).
SETTING_NAMES = tuple(
    sorted({*COMMON_DEFAULTS, *(key for task in TASK_DEFAULTS.values() for key in task), "r_hat"})
)
REPORTED_ERROR = 1e-4


@dataclass
class Comparison:
    """Both runs on one problem, and what the table and the JSON report."""

    task: str
    settings: dict
    original: History
    compressed: History

    def to_dict(self, error: float = REPORTED_ERROR) -> dict:
        sides = {}
        for name, history in (("original", self.original), ("compressed", self.compressed)):
            side = history.summary(error)
            if "unobserved_error" in history.logged_metrics:
                side["final_unobserved_error"] = history.logged_metrics["unobserved_error"][-1]
            sides[name] = side
        return {"task": self.task, "settings": self.settings, **sides}

    def table(self, error: float = REPORTED_ERROR) -> str:
        """A plain-text table: parameters, iterations and seconds to ``error``, final error."""
        label = error_label(error)
        rows = [("", "original", "compressed")]
        data = self.to_dict(error)
        fields = [
            ("parameters", "params", "{:,}"),
            (f"iterations to {label}", f"iterations_to_{label}", "{:,}"),
            (f"seconds to {label}", f"seconds_to_{label}", "{:.3f}"),
            ("seconds per step", "seconds_per_step", "{:.2e}"),
            ("final error", "final_error", "{:.2e}"),
        ]
        if self.task == "mc":
            fields.append(("final unobserved error", "final_unobserved_error", "{:.2e}"))
        for title, key, fmt in fields:
            cells = [data[side].get(key) for side in ("original", "compressed")]
            rows.append((title, *("-" if c is None else fmt.format(c) for c in cells)))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in rows
        ]
        return "\n".join(lines)


def resolve_settings(task: str, **overrides) -> dict:
    """The reference settings for ``task`` with every non-None override applied.

    This is the one place settings are made: ``compare``, ``reproduce``, the command line and
    the benchmarks all start here. A name that is not a setting is a ValueError listing them.
    """
    check_choice("task", task, TASKS)
    unknown = sorted(key for key in overrides if key not in SETTING_NAMES)
    if unknown:
        raise ValueError(
            f"{unknown[0]} is not a setting; the settings are {', '.join(SETTING_NAMES)}"
        )
    settings = {"task": task, **COMMON_DEFAULTS, **TASK_DEFAULTS[task]}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in TASK_ONLY and TASK_ONLY[key] != task:
            raise ValueError(f"{key} applies to task {TASK_ONLY[key]!r} only, not {task!r}")
        settings[key] = value
    if settings.get("r_hat") is None:
        settings["r_hat"] = 2 * check_int("r", settings["r"])  # its range: check_settings
    check_settings(settings)
    return settings


def check_settings(settings: dict) -> None:
    """ValueError naming the first setting out of its range, before anything is built or trained.

    The same ranges the problem, the networks and ``train`` check later: d >= 2,
    1 <= r <= d/2, r <= r_hat <= d, depth >= 2, eps, lr, alpha > 0, steps >= 0, tol >= 0,
    stop_error > 0 (or None), seed >= 0, completion's p in (0, 1], sensing's m >= 1.
    """
    d = check_int("d", settings["d"], low=2)
    r = check_int("r", settings["r"], low=1, high=d // 2)
    r_hat = check_int("r_hat", settings["r_hat"], low=1, high=d)
    if r_hat < r:
        raise ValueError(f"r_hat must be >= r={r} (the target's rank), got {r_hat}")
    check_int("depth", settings["depth"], low=2)
    for name in ("eps", "lr", "alpha"):
        check_positive(name, settings[name])
    check_int("steps", settings["steps"], low=0)
    check_float("tol", settings["tol"], low=0.0)
    if settings.get("stop_error") is not None:
        check_positive("stop_error", settings["stop_error"])
    check_int("seed", settings["seed"], low=0)
    check_choice("init", settings["init"], INITS)
    check_choice("optimizer", settings["optimizer"], OPTIMIZERS)
    if "p" in settings:
        check_float("p", settings["p"], low=0.0, high=1.0, low_open=True)
    if "m" in settings:
        check_int("m", settings["m"], low=1)


def build_problem(settings: dict):
    """The problem that ``settings`` (from ``resolve_settings``) describe."""
    return make_problem(
        settings["task"],
        settings["d"],
        settings["r"],
        **{key: settings[key] for key in TASK_ONLY if key in settings},
        seed=settings["seed"],
        device=settings["device"],
        dtype=settings["dtype"],
    )


def build_networks(problem, settings: dict) -> dict:
    """Fresh ``{"original": (network, alpha), "compressed": (network, alpha)}`` for ``problem``.

    The original network trains with alpha = 1 (the discrepant rate is the compressed network's
    device); both start at scale eps, the compressed one from the problem's surrogate.
    """
    original = original_network(
        settings["d"],
        settings["depth"],
        settings["eps"],
        init=settings["init"],
        seed=settings["seed"],
        device=problem.device,
        dtype=problem.dtype,
    )
    compressed = compressed_network(
        problem.surrogate(),
        settings["r_hat"],
        settings["depth"],
        settings["eps"],
        rank=settings["r"],
    )
    return {"original": (original, 1.0), "compressed": (compressed, settings["alpha"])}


def run_both(
    problem, settings: dict, *, progress: bool = False, log_every: int = 100, label: str = ""
) -> Comparison:
    """Train both networks of ``build_networks`` on ``problem``; a Ctrl-C stops both.

    The settings returned record the device and dtype the problem actually used.
    """
    common = {
        "lr": settings["lr"],
        "steps": settings["steps"],
        "tol": settings["tol"],
        "stop_error": settings["stop_error"],
        "optimizer": settings["optimizer"],
        "progress": progress,
        "log_every": log_every,
    }
    histories = {}
    for name, (network, alpha) in build_networks(problem, settings).items():
        description = f"{label} {name}".strip()
        histories[name] = train(problem, network, alpha=alpha, description=description, **common)
        if histories[name].stopped_reason == "interrupted":
            raise KeyboardInterrupt
    settings = {
        **settings,
        "device": str(problem.device),
        "dtype": str(problem.dtype).removeprefix("torch."),
    }
    return Comparison(settings["task"], settings, histories["original"], histories["compressed"])


def compare(task: str = "mf", *, progress: bool = False, **overrides) -> Comparison:
    """Train the original and the compressed network on one problem (see module docstring).

    Keyword overrides (``SETTING_NAMES``): d, r, r_hat (default 2r), depth, eps, lr, alpha,
    steps, tol, stop_error, p, m, seed, device, dtype, init, optimizer. Both networks stop when
    the training loss falls below tol; any other name is a ValueError.
    """
    settings = resolve_settings(task, **overrides)
    return run_both(build_problem(settings), settings, progress=progress)


@small_work()  # a demo the lessons import (threads.py): one thread, like all of them
def timing_report(summary: dict) -> dict:
    """Print the wall-clock side of ``compression_race``'s summary (changes between runs)."""
    times = {}
    for side in ("original", "compressed"):
        values = summary[side]
        times[side] = (values["seconds_to_1e-4"], values["seconds_per_step"])
        to_target = values["seconds_to_1e-4"]
        print(
            f"{side:>10}: {values['seconds_per_step'] * 1e6:.0f} us per step, seconds to 1e-4: "
            f"{'not reached' if to_target is None else f'{to_target:.3f}'}"
        )
    per_step = times["original"][1] / times["compressed"][1]
    line = f"speed-up per step {per_step:.2g}x"
    if times["original"][0] and times["compressed"][0]:
        line += f", to 1e-4 {times['original'][0] / times['compressed'][0]:.2g}x"
    print(line)
    return times
