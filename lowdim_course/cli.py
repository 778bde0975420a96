"""The ``lowdim-course`` command: a thin layer over the library's functions.

Every failure a user can cause (a bad option, a learning rate that diverges, ``cuda`` where there
is none) ends with exit code 2 and one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .files import write_atomically
from .problems import TASKS

EXIT_USAGE = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays available under -h)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _add_compare(subparsers):
    parser = subparsers.add_parser(
        "compare",
        help="train the original and the compressed network on one problem and compare them",
        description="Train the original deep linear network and its compressed version (spectral "
        "init, discrepant learning rate) on the same problem; print parameters, iterations and "
        "seconds to recovery error 1e-4 and the final error. Unset options take the reference "
        "settings of the task (mf: d=100 r=10 lr=50; mc: d=100 r=5 p=0.3 lr=10 alpha=5; "
        "ms: d=100 r=5 m=2000 lr=10).",
    )
    parser.add_argument("--task", choices=TASKS, default="mf", help="mf, mc or ms (default mf)")
    for name, kind, text in [
        ("d", int, "size of the d x d target"),
        ("r", int, "rank of the target"),
        ("r-hat", int, "width of the compressed network (default 2r)"),
        ("depth", int, "number of layers L (default 3)"),
        ("eps", float, "initial scale (default 1e-2)"),
        ("lr", float, "learning rate of the middle layers"),
        ("alpha", float, "learning-rate factor of the compressed first and last layers"),
        ("steps", int, "most gradient steps per network"),
        ("tol", float, "stop when the training loss is below this (default 1e-12)"),
        ("p", float, "completion: fraction of observed entries (default 0.3)"),
        ("m", int, "sensing: number of measurements (default 2000)"),
        ("seed", int, "random seed (default 0)"),
    ]:
        parser.add_argument(f"--{name}", type=kind, default=None, help=text)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default=None,
        help="default float64 on CPU, float32 on GPU",
    )
    parser.add_argument("--optimizer", choices=("gd", "adam"), default="gd")
    parser.add_argument("--json", type=Path, help="write the summary as JSON to this path")
    parser.add_argument("--plot", type=Path, help="save error vs iteration and seconds (PNG)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(handler=_run_compare)


def _run_compare(args) -> int:
    from .comparison import compare

    overrides = {
        key: getattr(args, key)
        for key in (
            "d",
            "r",
            "r_hat",
            "depth",
            "eps",
            "lr",
            "alpha",
            "steps",
            "tol",
            "p",
            "m",
            "seed",
            "device",
            "dtype",
            "optimizer",
        )
    }
    result = compare(args.task, progress=not args.no_progress, **overrides)
    print(f"{args.task}: " + ", ".join(f"{k}={v}" for k, v in result.settings.items()))
    print(result.table())
    if args.json:
        write_atomically(args.json, json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .plots import plot_error_curves

        figure = plot_error_curves(
            {"original": result.original, "compressed": result.compressed},
            title=f"{args.task}: original vs compressed",
        )
        args.plot.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(args.plot, dpi=120)
        print(f"wrote {args.plot}")
    return 0


def _add_grade(subparsers):
    parser = subparsers.add_parser(
        "grade",
        help="run submitted lesson notebooks headless and score their exercises",
        description="Execute each notebook alone, in a fresh kernel in a temporary directory, "
        "then call its answer functions on the hidden cases and judge the results; report, per "
        "exercise, whether it passed, with a score per notebook and a total. A folder stands "
        "for the notebooks in it. Exit 0 when grading ran, even with failing exercises. Each "
        "kernel runs in a bubblewrap sandbox (apt install bubblewrap); without one, the first "
        "line says so and the notebooks run one at a time with your user's rights.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    parser.add_argument("--json", type=Path, help="write the scores as JSON to this path")
    parser.add_argument(
        "--csv",
        type=Path,
        help="write a gradebook as CSV to this path (a row per notebook and exercise, totals)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for all the cells of one notebook together (default 300; the kernel's "
        "start-up and the grader's checks have allowances of their own: 60 s and 180 s)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="notebooks graded at once (default: the number of CPUs this process may use)",
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the kernels without bubblewrap even where it works (one notebook at a time)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(handler=_run_grade)


def _run_grade(args) -> int:
    _require_course_extra("grade")
    from .grading import (
        format_csv,
        format_entry,
        format_json,
        format_report,
        grade_notebooks,
        notebook_paths,
        printable,
        sandbox_status,
    )
    from .validation import check_positive

    paths = notebook_paths(args.notebooks)
    check_positive("timeout", args.timeout)
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1, got {args.jobs}")

    def progress(done, total, entry):
        if not args.quiet:
            print(
                f"graded {done}/{total}: {printable(entry['notebook'], one_line=True)} "
                f"{entry['score']:g}/{entry['max_score']:g} ({entry['seconds']:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    sandbox = False if args.no_sandbox else None
    without = sandbox_status(sandbox)
    print(f"lowdim-course grade: {without or 'each notebook in a bubblewrap sandbox'}")
    if without and hasattr(os, "geteuid") and os.geteuid() == 0:
        print(
            "lowdim-course grade: warning: grading as root without a sandbox: the notebooks "
            "run as root and can read or change anything (docs/grading.md)",
            file=sys.stderr,
        )
    entries = grade_notebooks(
        paths, timeout=args.timeout, jobs=args.jobs, sandbox=sandbox, progress=progress
    )
    for entry in entries:
        print(format_entry(entry))
    print(format_report(entries).splitlines()[-1])
    # Written after every notebook's processes are gone, by this process only.
    if args.json:
        write_atomically(args.json, format_json(entries))
        print(f"wrote {args.json}")
    if args.csv:
        write_atomically(args.csv, format_csv(entries))
        print(f"wrote {args.csv}")
    return 0


def _add_execute(subparsers):
    parser = subparsers.add_parser(
        "execute",
        help="run a notebook top to bottom headless and save it with its outputs",
        description="Run every cell in a fresh kernel, waiting on each cell's reply (so it does "
        "not stall on slider panels, as nbconvert --execute can), and save the notebook with "
        "its outputs. Exit 1 if a cell raised (the notebook is saved all the same).",
    )
    parser.add_argument("notebook", type=Path, metavar="NOTEBOOK")
    parser.add_argument(
        "--output", type=Path, help="where to save (default: overwrite NOTEBOOK in place)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds for all cells (default 600)"
    )
    parser.set_defaults(handler=_run_execute)


def _run_execute(args) -> int:
    _require_course_extra("execute")
    import nbformat

    from .headless import execute_notebook
    from .validation import check_positive

    check_positive("--timeout", args.timeout)
    if not args.notebook.is_file():
        raise ValueError(f"NOTEBOOK {str(args.notebook)!r} does not exist")
    try:
        notebook = nbformat.read(args.notebook, as_version=4)
    except Exception as exc:
        raise ValueError(f"NOTEBOOK {str(args.notebook)!r} is not a notebook ({exc})") from exc
    result = execute_notebook(notebook, cwd=args.notebook.resolve().parent, timeout=args.timeout)
    target = args.output or args.notebook
    write_atomically(target, nbformat.writes(notebook) + "\n")
    for cell in result.cell_errors:
        print(f"cell {cell.index + 1}: {cell.ename}: {cell.evalue}", file=sys.stderr)
    print(f"wrote {target} ({result.seconds:.1f} s)")
    if result.error:
        raise ValueError(result.error)
    return 1 if result.cell_errors else 0


def _require_course_extra(command: str) -> None:
    """ValueError (one line, exit 2) when the notebook tools of the course extra are missing."""
    import importlib.util

    missing = [
        name for name in ("nbformat", "jupyter_client", "ipykernel")
        if importlib.util.find_spec(name) is None
    ]  # fmt: skip
    if missing:
        raise ValueError(
            f"{command} needs {', '.join(missing)}: pip install 'lowdim-course[course]'"
        )


def _add_reproduce(subparsers):
    parser = subparsers.add_parser(
        "reproduce",
        help="regenerate the paper's trajectory figures (PNG + JSON) at the reference settings",
        description="Train the original and the compressed network at the reference settings "
        "(mf: d=100 r=10 lr=50; mc: d=100 r=5 p=0.3 lr=10 alpha=5; ms: d=200 m=4000 r=5 lr=10, "
        "or d=100 m=2000 where memory is short) and write EXPERIMENT.png (error vs iteration and "
        "seconds) and EXPERIMENT.json into --out, each atomically as it completes. 'nonlinear' "
        "runs lesson 06's MLP experiment.",
    )
    parser.add_argument(
        "experiments", nargs="+", metavar="EXPERIMENT", help="mf, mc, ms or nonlinear (several ok)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default=None,
        help="default float64 on CPU, float32 on GPU",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("reproduced"), help="folder (default reproduced/)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="cap on gradient steps per network (mf/mc/ms)"
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="DATA",
        help="nonlinear only: digits (default) or mnist1d (MNIST-1D, each model at its tuned "
        "learning rate)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(handler=_run_reproduce)


def _run_reproduce(args) -> int:
    from .reproduce import EXPERIMENTS, reproduce

    for name in args.experiments:
        if name not in EXPERIMENTS:
            raise ValueError(f"EXPERIMENT must be one of {', '.join(EXPERIMENTS)}, got {name!r}")
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be an integer >= 1, got {args.steps}")
    if args.data is not None:  # checked before any experiment trains
        if "nonlinear" not in args.experiments:
            raise ValueError("--data applies to the nonlinear experiment only")
        from .nonlinear.settings import DATA_SETS

        if args.data not in DATA_SETS:
            raise ValueError(f"--data must be one of {', '.join(DATA_SETS)}, got {args.data!r}")
    for name in args.experiments:
        options = {"device": args.device, "out_dir": args.out, "progress": not args.no_progress}
        if name != "nonlinear":
            options.update(dtype=args.dtype, steps=args.steps)
        elif args.data is not None:
            options["data"] = args.data
        reproduce(name, **options)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="lowdim-course",
        description="Low-dimensional learning dynamics and width compression of deep linear "
        "networks (Kwon et al., AISTATS 2024).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    _add_compare(subparsers)
    _add_grade(subparsers)
    _add_execute(subparsers)
    _add_reproduce(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as exc:  # bad settings and diverging runs (DivergenceError)
        print(f"lowdim-course {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ImportError as exc:  # an optional package a command needs (scikit-learn's digits)
        print(f"lowdim-course {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lowdim-course {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
