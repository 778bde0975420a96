"""Seconds per step of the paper's own JAX code and of the course's code, timed in one run.

Kwon et al.'s code (a checkout of their repository, ``--paper-code``; never copied into the
course) runs under a separate JAX environment (``--jax-python``) as a subprocess:
``paper_side_by_side_jax.py`` builds the networks as the paper's notebooks do (float64) and runs
its jit-compiled loop of 100 ``solver.train`` steps, compile time excluded (before timing, it
checks that 100 of its steps equal one outer loop of ``solver.train`` itself). The course's side
is ``lowdim_course.training.train`` at the reference settings, timed by ``run_benchmarks.py``'s
``seconds_per_step`` with the course's default thread policy (``threads=None``), twice over: the
wall clock of the whole ``train`` call per step (as the paper's blocks are timed) and
``History.seconds_per_step`` (compute seconds, the clock around the arithmetic only).

For each task (factorization, and completion with its mask) the rounds are interleaved, JAX
original, course original, JAX compressed, course compressed, repeated ``--rounds`` times, so a
noisy moment slows both sides alike. Reported: per-step medians and min-max over rounds, the
ratio course/paper of the medians and its range over rounds (each round's pair), both quiet and
"loaded" (one other busy process, ``run_benchmarks.busy_neighbour``).

    python benchmarks/paper_side_by_side.py --paper-code /work/paper-code \
        --jax-python /work/jaxenv/bin/python

The JAX environment needs jax, optax and what the paper's modules import (tqdm, matplotlib,
scipy): ``python3 -m venv /work/jaxenv && /work/jaxenv/bin/pip install jax optax tqdm
matplotlib``. Writes ``results/paper-side-by-side.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy
import torch
from threadpoolctl import ThreadpoolController

from lowdim_course.threads import available_cpus, threads_for
from lowdim_course.training import _largest_product_work

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import (
    TARGET_ERROR,
    build,
    busy_neighbour,
    cpu_model,
    seconds_per_step,
    settings_for,
)

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "paper_side_by_side_jax.py"
PROG = "paper_side_by_side"
EXIT_USAGE = 2
TASKS = ("mf", "mc")
NETWORKS = ("original", "compressed")
# paper: wall seconds of a block of 100 steps / 100. course: wall seconds of the whole ``train``
# call / steps, as the paper's side is timed. course_compute: ``History.seconds_per_step``, the
# clock around the arithmetic only (README's figures), without the loop's bookkeeping.
SIDES = ("paper", "course", "course_compute")
# What the driver imports from the checkout; kwon_compress_network marks the right repository.
PAPER_MODULES = ("network.py", "solver.py", "loss.py", "data.py", "utils.py")
# Run by --jax-python before anything is timed: exit 3 if jax or optax is missing, 4 if the
# paper's modules do not import (they also need tqdm, matplotlib and scipy).
IMPORT_CHECK = """
import sys
try:
    import jax, optax
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}".splitlines()[0]); sys.exit(3)
sys.path.insert(0, sys.argv[1])
try:
    import network, solver, loss, data, utils
    network.kwon_compress_network
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}".splitlines()[0]); sys.exit(4)
"""


class UsageError(Exception):
    """A wrong argument: one line on stderr and exit code 2."""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def check_paper_code(path) -> Path:
    if path is None:
        raise UsageError("--paper-code is required: a checkout of soominkwon/comp-deep-nets")
    path = Path(path)
    if not path.is_dir():
        raise UsageError(f"--paper-code {path}: not a directory")
    missing = [name for name in PAPER_MODULES if not (path / name).is_file()]
    if missing:
        raise UsageError(
            f"--paper-code {path}: not a checkout of the paper's code (no {', '.join(missing)})"
        )
    if "def kwon_compress_network" not in (path / "network.py").read_text(errors="replace"):
        raise UsageError(f"--paper-code {path}: network.py has no kwon_compress_network")
    return path.resolve()


def check_jax_python(path, paper_code: Path) -> Path:
    if path is None:
        raise UsageError("--jax-python is required: the python of a venv with jax and optax")
    path = Path(path)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise UsageError(f"--jax-python {path}: not an executable file")
    try:
        check = subprocess.run(
            [str(path), "-c", IMPORT_CHECK, str(paper_code)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"--jax-python {path}: does not run ({exc})") from None
    said = (check.stdout.strip().splitlines() or check.stderr.strip().splitlines() or [""])[-1]
    if check.returncode == 3:
        raise UsageError(f"--jax-python {path}: cannot import jax and optax ({said})")
    if check.returncode == 4:
        raise UsageError(
            f"--jax-python {path}: the modules of --paper-code do not import ({said}); "
            "they also need tqdm, matplotlib and scipy"
        )
    if check.returncode != 0:
        raise UsageError(f"--jax-python {path}: not a working python ({said})")
    return path


# ------------------------------------------------------------------------------------------
# The two sides
# ------------------------------------------------------------------------------------------


class PaperSide:
    """The JAX driver as a subprocess: ``time(task, network, blocks)`` -> seconds per step."""

    def __init__(self, jax_python, paper_code, settings, warmup_blocks):
        self._stderr = tempfile.TemporaryFile(mode="w+")
        command = [
            str(jax_python),
            str(DRIVER),
            "--paper-code",
            str(paper_code),
            "--tasks",
            ",".join(settings),
            "--settings",
            json.dumps(settings),
            "--warmup-blocks",
            str(warmup_blocks),
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.facts = self._read()
        # XLA's own thread pool, as the driver's process has it once everything is compiled
        self.facts["os_threads"] = _thread_count(self.process.pid)

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self._stderr.seek(0)
            lines = self._stderr.read().strip().splitlines() or ["(nothing on stderr)"]
            raise RuntimeError(f"the JAX driver stopped: {lines[-1]}")
        return json.loads(line)

    def time(self, task, network, blocks) -> float:
        self.process.stdin.write(f"{task} {network} {blocks}\n")
        self.process.stdin.flush()
        answer = self._read()
        if not answer["loss"] == answer["loss"] or answer["loss"] == float("inf"):
            raise RuntimeError(f"the paper's {task} {network} run diverged (loss {answer['loss']})")
        return answer["seconds_per_step"]

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write("quit\n")
                self.process.stdin.close()
                self.process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait()
        self._stderr.close()


def _thread_count(pid) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


class CourseSide:
    """The course's ``train`` on the reference problem of ``task``, one network at a time."""

    def __init__(self, task):
        self.settings = settings_for(task, 100, "cpu")  # the reference settings at d = 100
        self.problem, self.networks = build(self.settings)
        built = self.networks()
        self.facts = {
            name: {
                "params": network.num_params,
                "widths": list(network.widths),
                "lr": self.settings["lr"],
                "alpha": alpha,
                # the count the course's policy gives this run (threads=None)
                "policy_threads": threads_for(
                    _largest_product_work(network), self.problem.data_entries
                ),
            }
            for name, (network, alpha) in built.items()
        }

    def time(self, network, budget) -> tuple[float, float]:
        """(wall, compute) seconds per step of one timed ``train`` run (after a 5-step probe).

        The run starts where the course's runs start and ends at the recovery error
        ``TARGET_ERROR`` (or after its steps): the course's factorization step costs more once
        the error is below 1.2e-4 (``numpy_step``), so a run that went on for long after its
        target would time a regime no course run spends its time in.
        """
        only = lambda: {network: self.networks()[network]}  # noqa: E731
        wall = {}
        compute = seconds_per_step(
            self.problem,
            only,
            self.settings,
            repeats=1,
            budget=budget,
            wall=wall,
            stop_error=TARGET_ERROR,
        )
        return wall[network], compute[network]


def reference_settings(task) -> dict:
    """What the JAX side needs to build the same problem: the course's reference settings."""
    settings = settings_for(task, 100, "cpu")
    keys = ("d", "r", "lr", "alpha") + (("p",) if task == "mc" else ())
    return {key: settings[key] for key in keys}


def measure(tasks, paper, courses, rounds, blocks, budget, log=print) -> dict:
    """``{task: {network: {side: [...]}}}``, seconds per step per round of each of ``SIDES``."""
    samples = {task: {name: {side: [] for side in SIDES} for name in NETWORKS} for task in tasks}
    for index in range(rounds):
        for task in tasks:
            for name in NETWORKS:
                samples[task][name]["paper"].append(paper.time(task, name, blocks))
                wall, compute = courses[task].time(name, budget)
                samples[task][name]["course"].append(wall)
                samples[task][name]["course_compute"].append(compute)
        log(f"  round {index + 1}/{rounds} done")
    return samples


# ------------------------------------------------------------------------------------------
# Arithmetic and the report
# ------------------------------------------------------------------------------------------


def spread(values) -> dict:
    values = list(values)
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "rounds": values,
    }


def summarize(samples: dict) -> dict:
    """Medians, ranges and course/paper ratios from ``measure``'s samples (one condition)."""
    result = {}
    for task, networks in samples.items():
        result[task] = {}
        for name, sides in networks.items():
            paper = sides["paper"]
            if not paper or any(len(sides[side]) != len(paper) for side in SIDES):
                raise ValueError(f"{task} {name}: need as many rounds of each side, >= 1")
            row = {side: spread(sides[side]) for side in SIDES}
            for side in SIDES[1:]:
                per_round = [c / p for c, p in zip(sides[side], paper, strict=True)]
                row[f"{side}_over_paper"] = row[side]["median"] / row["paper"]["median"]
                row[f"{side}_over_paper_per_round"] = spread(per_round)
            result[task][name] = row
        if all(name in networks for name in NETWORKS):
            result[task]["original_over_compressed"] = {
                side: result[task]["original"][side]["median"]
                / result[task]["compressed"][side]["median"]
                for side in SIDES
            }
    return result


def _us(value) -> str:
    return f"{value * 1e6:,.0f} us" if value < 0.01 else f"{value * 1e3:,.1f} ms"


def markdown(report: dict) -> str:
    env = report["environment"]
    jax_side, course_side = env["paper_side"], env["course_side"]
    lines = [
        f"Measured {env['date']} on {env['cpu']}: the paper's code (JAX {jax_side['jax']}, "
        f"float64, jit-compiled fori_loop of 100 steps, XLA's default CPU threads"
        f"{', XLA_FLAGS=' + jax_side['xla_flags'] if jax_side['xla_flags'] else ''}; "
        f"{jax_side['os_threads']} OS threads in its process) and the course's code (its CPU "
        f"step in numpy {course_side.get('numpy', '?')} with {course_side.get('blas', '?')}, "
        f"torch {course_side['torch']}, float64, the course's default thread policy: "
        f"{course_side['policy_threads_text']}) in one run, rounds interleaved "
        f"({report['rounds']} rounds; paper: {report['blocks']} x 100 steps a round from the "
        f"start, after {report['warmup_blocks']} untimed warm-up blocks; course: one run a "
        f"round from the start to a recovery error of {TARGET_ERROR:g} or at most about "
        f"{report['budget']:g} s, after a 5-step probe). Both on the same problem sizes "
        "and settings, each side with its own random target (the paper's generate_data, the "
        "course's make_problem). Seconds per step, median [min-max over rounds]. course = "
        "wall clock of the whole train() call / steps, timed as the paper's blocks are (the "
        "fair comparison); course compute = "
        "History.seconds_per_step, the clock around the arithmetic only (README's figures). "
        "x/paper = ratio of the medians [range of the per-round ratios]; below 1 the course is "
        "faster.",
        "",
        "| task | network | condition | paper (JAX) | course | course/paper "
        "| course compute | compute/paper |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def times(side):
        return f"{_us(side['median'])} [{_us(side['min'])}-{_us(side['max'])}]"

    def ratio(row, side):
        per_round = row[f"{side}_over_paper_per_round"]
        return f"{row[f'{side}_over_paper']:.2f}x [{per_round['min']:.2f}-{per_round['max']:.2f}]"

    for condition, results in report["conditions"].items():
        for task, networks in results.items():
            for name in NETWORKS:
                row = networks[name]
                cells = [
                    task,
                    name,
                    condition,
                    times(row["paper"]),
                    times(row["course"]),
                    ratio(row, "course"),
                    times(row["course_compute"]),
                    ratio(row, "course_compute"),
                ]
                lines.append("| " + " | ".join(cells) + " |")
    speedups = []
    for condition, results in report["conditions"].items():
        for task, networks in results.items():
            speedup = networks.get("original_over_compressed")
            if speedup:
                speedups.append(
                    f"- {task}, {condition}: original/compressed per step, paper "
                    f"{speedup['paper']:.1f}x, course {speedup['course']:.1f}x (compute "
                    f"{speedup['course_compute']:.1f}x)"
                )
    if speedups:
        lines += ["", *speedups]
    checks = {
        key: network["difference_from_solver_train"]
        for key, network in jax_side.get("networks", {}).items()
        if "difference_from_solver_train" in network
    }
    if checks:
        lines += [
            "",
            "The timed JAX loop is the paper's step: after 100 steps from the same start it "
            "differs from one outer loop of the paper's solver.train by at most (relative) "
            + ", ".join(f"{value:.1e} ({key})" for key, value in checks.items())
            + ".",
        ]
    if "loaded" in report["conditions"]:
        lines += [
            "",
            "loaded = one other process spinning on a core for the whole of those rounds "
            "(run_benchmarks.busy_neighbour).",
        ]
    return "\n".join(lines) + "\n"


def numpy_blas_text() -> str:
    """numpy's BLAS as threadpoolctl names it, e.g. ``openblas 0.3.31 (Haswell kernels)``."""
    found = [
        f"{info['internal_api']} {info.get('version') or ''}".strip()
        + (f" ({info['architecture']} kernels)" if info.get("architecture") else "")
        for info in ThreadpoolController().select(user_api="blas").info()
    ]
    return ", ".join(found) or "an unnamed BLAS"


def environment(paper: PaperSide, courses: dict) -> dict:
    facts = dict(paper.facts)
    networks = facts.pop("networks")
    facts.pop("ready", None)
    policy = {
        f"{task} {name}": side.facts[name]["policy_threads"]
        for task, side in courses.items()
        for name in NETWORKS
    }
    text = ", ".join(f"{key} {count}" for key, count in policy.items())
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{cpu_model()}, {os.cpu_count()} cores",
        "paper_side": {**facts, "networks": networks},
        "course_side": {
            "numpy": numpy.__version__,
            "blas": numpy_blas_text(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "torch_threads": torch.get_num_threads(),
            "available_cpus": available_cpus(),
            "policy_threads": policy,
            "policy_threads_text": (
                f"threads=None; threads_for gives {text}; where it gives more than one, "
                "ThreadTuner drops to one while another process keeps a CPU busy"
            ),
            "networks": {
                f"{task} {name}": side.facts[name]
                for task, side in courses.items()
                for name in NETWORKS
            },
        },
    }


def write_report(report: dict, out: Path, stem: str = "paper-side-by-side") -> str:
    table = markdown(report)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"{stem}.md").write_text(table)
    return table


def parse(argv):
    parser = _OneLineParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper-code", help="a checkout of soominkwon/comp-deep-nets")
    parser.add_argument("--jax-python", help="the python of a venv with jax, optax, tqdm, ...")
    parser.add_argument("--tasks", default="mf,mc", help="comma-separated: mf, mc (default both)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--blocks", type=int, default=20, help="paper: 100-step blocks a round")
    parser.add_argument("--warmup-blocks", type=int, default=3, help="paper: untimed blocks")
    parser.add_argument("--budget", type=float, default=1.0, help="course: seconds a round")
    parser.add_argument("--no-load", action="store_true", help="skip the loaded rounds")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    tasks = tuple(args.tasks.split(","))
    bad = [task for task in tasks if task not in TASKS]
    if bad or not tasks:
        raise UsageError(f"--tasks: {bad[0] if bad else '(none)'} is not one of mf, mc")
    for name in ("rounds", "blocks", "warmup_blocks"):
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.budget <= 0:
        raise UsageError("--budget must be positive")
    args.tasks = tasks
    args.paper_code = check_paper_code(args.paper_code)
    args.jax_python = check_jax_python(args.jax_python, args.paper_code)
    return args


def main(argv=None) -> int:
    try:
        args = parse(argv)
    except UsageError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def log(text):
        print(text, file=sys.stderr, flush=True)

    settings = {task: reference_settings(task) for task in args.tasks}
    courses = {task: CourseSide(task) for task in args.tasks}
    log("starting the JAX side (compiling, warming up) ...")
    try:
        paper = PaperSide(args.jax_python, args.paper_code, settings, args.warmup_blocks)
    except (RuntimeError, ValueError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    try:
        conditions = {}
        log("quiet rounds ...")
        quiet = measure(args.tasks, paper, courses, args.rounds, args.blocks, args.budget, log)
        conditions["quiet"] = summarize(quiet)
        if not args.no_load:
            log("loaded rounds (one busy neighbour) ...")
            with busy_neighbour():
                loaded = measure(
                    args.tasks, paper, courses, args.rounds, args.blocks, args.budget, log
                )
            conditions["loaded"] = summarize(loaded)
        env = environment(paper, courses)
    except RuntimeError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        paper.close()
    report = {
        "environment": env,
        "settings": settings,
        "rounds": args.rounds,
        "blocks": args.blocks,
        "warmup_blocks": args.warmup_blocks,
        "budget": args.budget,
        "conditions": conditions,
    }
    print(write_report(report, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
