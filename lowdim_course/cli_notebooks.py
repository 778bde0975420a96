"""The command line's notebook commands: ``grade``, ``execute`` and ``reset`` (``cli`` builds the
parser). As for training, every option and output path is checked before any notebook runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .files import check_output_file, write_atomically


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


def add_grade(subparsers) -> None:
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
    parser.add_argument(
        "notebooks",
        nargs="+",
        type=Path,
        metavar="NOTEBOOK",
        help="submitted notebooks, or folders: every .ipynb file inside (checkpoints skipped)",
    )
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
        help="seconds for all the cells of one notebook together, > 0 (default 300; the "
        "kernel's start-up and the grader's checks have allowances of their own: 60 s and 180 s)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="notebooks graded at once, an integer >= 1 (default: the number of CPUs this "
        "process may use)",
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the kernels without bubblewrap even where it works (one notebook at a time)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(handler=run_grade)


def run_grade(args) -> int:
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
    check_positive("--timeout", args.timeout)
    if args.jobs is not None and args.jobs < 1:
        raise ValueError(f"--jobs must be an integer >= 1, got {args.jobs}")
    for option in ("json", "csv"):
        if getattr(args, option) is not None:
            check_output_file(f"--{option}", getattr(args, option))

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


EXECUTED_SUFFIX = ".executed.ipynb"


def add_execute(subparsers) -> None:
    parser = subparsers.add_parser(
        "execute",
        help="run a notebook top to bottom headless and save a copy with its outputs",
        description="Run every cell in a fresh kernel, waiting on each cell's reply (so it does "
        "not stall on slider panels, as nbconvert --execute can), and save the notebook with "
        f"its outputs to a new file: NAME{EXECUTED_SUFFIX} next to NAME.ipynb, or --out; "
        "NOTEBOOK itself is overwritten only with --in-place. Exit 1 if a cell raised (the "
        "notebook is saved all the same).",
    )
    parser.add_argument(
        "notebook", type=Path, metavar="NOTEBOOK", help="the .ipynb file to run (left unchanged)"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--out",
        "--output",
        dest="out",
        type=Path,
        metavar="PATH",
        help=f"where to save (default: NAME{EXECUTED_SUFFIX} next to NOTEBOOK)",
    )
    where.add_argument(
        "--in-place", action="store_true", help="overwrite NOTEBOOK with the executed notebook"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds for all cells, > 0 (default 600)"
    )
    parser.set_defaults(handler=run_execute)


def executed_path(notebook: Path) -> Path:
    """``lessons/04_x.ipynb`` -> ``lessons/04_x.executed.ipynb``."""
    name = notebook.name.removesuffix(".ipynb")
    return notebook.with_name(name + EXECUTED_SUFFIX)


def run_execute(args) -> int:
    _require_course_extra("execute")
    import nbformat

    from .headless import execute_notebook
    from .validation import check_positive

    check_positive("--timeout", args.timeout)
    if not args.notebook.is_file():
        raise ValueError(f"NOTEBOOK {str(args.notebook)!r} does not exist")
    target = args.notebook if args.in_place else (args.out or executed_path(args.notebook))
    if args.in_place:
        check_output_file("NOTEBOOK (--in-place)", target)
    else:
        check_output_file("--out" if args.out else f"--out (default NAME{EXECUTED_SUFFIX})", target)
    try:
        notebook = nbformat.read(args.notebook, as_version=4)
    except Exception as exc:
        raise ValueError(f"NOTEBOOK {str(args.notebook)!r} is not a notebook ({exc})") from exc
    result = execute_notebook(notebook, cwd=args.notebook.resolve().parent, timeout=args.timeout)
    write_atomically(target, nbformat.writes(notebook) + "\n")
    for cell in result.cell_errors:
        print(f"cell {cell.index + 1}: {cell.ename}: {cell.evalue}", file=sys.stderr)
    print(f"wrote {target} ({result.seconds:.1f} s)")
    if result.error:
        raise ValueError(result.error)
    return 1 if result.cell_errors else 0


def add_reset(subparsers) -> None:
    parser = subparsers.add_parser(
        "reset",
        help="give back a fresh copy of lesson NN (your copy is kept in .backups/)",
        description="Overwrite lessons/NN_name.ipynb with the version of the git repository you "
        "cloned (git show HEAD:lessons/NN_name.ipynb, in the folder holding lowdim_course), "
        "after copying yours to .backups/lessons/NN_name.YYYYmmdd-HHMMSS.ipynb: a folder that "
        "pytest and nbval never collect and that git status lists as untracked. Needs a git "
        "checkout; by hand: copy your notebook elsewhere, then git checkout HEAD -- "
        "lessons/NN_name.ipynb.",
    )
    parser.add_argument("number", metavar="NN", help="the lesson's number, e.g. 04 or 4")
    parser.add_argument(
        "--solution",
        action="store_true",
        help="reset solutions/NN_name.ipynb (the solved twin) instead of the lesson",
    )
    parser.set_defaults(handler=run_reset)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_reset(args) -> int:
    from .lesson_reset import reset_lesson

    done = reset_lesson(args.number, solution=args.solution)
    if not done.changed:
        print(f"{_shown(done.path)} is already the committed version: nothing to do")
    elif done.backup is None:
        print(f"wrote {_shown(done.path)} (the committed version; there was no copy to keep)")
    else:
        print(
            f"wrote {_shown(done.path)} (the committed version); your copy is in "
            f"{_shown(done.backup)}"
        )
    return 0
