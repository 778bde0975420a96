"""The command line's training commands, ``compare`` and ``reproduce`` (``cli`` builds the parser).

Everything a user gives is checked before the first gradient step: the settings' ranges
(``comparison.check_settings``), the device, and that every output path can be written
(``files.check_output_file`` / ``check_output_folder``). A bad value is a ValueError whose
message starts with the option's name (``--r-hat must be ...``), which ``cli.main`` prints as one
line with exit code 2.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from .files import FIGURE_SUFFIXES, check_output_file, check_output_folder, write_atomically
from .problems import TASKS

# compare's numeric options, by their setting names (argparse's dest: --r-hat -> r_hat).
NUMERIC_OPTIONS = [
    ("d", int, "size of the d x d target (an integer >= 2; default 100)"),
    ("r", int, "rank of the target (an integer in [1, d/2]; default 10 for mf, 5 for mc, ms)"),
    ("r-hat", int, "width of the compressed network (an integer in [r, d]; default 2r)"),
    ("depth", int, "number of layers L (an integer >= 2; default 3)"),
    ("eps", float, "initial scale (a number > 0; default 1e-2)"),
    ("lr", float, "learning rate of the middle layers (a number > 0)"),
    ("alpha", float, "learning-rate factor of the compressed first and last layers (> 0)"),
    ("steps", int, "most gradient steps per network (an integer >= 1)"),
    ("tol", float, "stop when the training loss is below this (a number >= 0; default 1e-12)"),
    ("p", float, "completion only: fraction of observed entries, in (0, 1] (default 0.3)"),
    ("m", int, "sensing only: number of measurements, an integer >= 1 (default 2000)"),
    ("seed", int, "random seed (an integer >= 0; default 0)"),
]
# Setting names, longest first, and the options that set them (for the messages).
_OPTION_OF = {
    **{name.replace("-", "_"): f"--{name}" for name, _, _ in NUMERIC_OPTIONS},
    "device": "--device",
    "dtype": "--dtype",
    "out_dir": "--out",
}
ERROR_DEFINITION = (
    "error = ||W_L ... W_1 - M*||_F / ||M*||_F: the end-to-end matrix against the rank-r target "
    "M*, over all d x d entries; 'to 1e-4': until it is first below 1e-4"
)
UNOBSERVED_DEFINITION = (
    "unobserved error = the same over the entries the completion loss never sees"
)  # fmt: skip


@contextlib.contextmanager
def options_named():
    """Re-raise a setting's ValueError with the option's name first (``r_hat`` -> ``--r-hat``)."""
    try:
        yield
    except ValueError as exc:
        message = str(exc)
        for name in sorted(_OPTION_OF, key=len, reverse=True):
            if message.startswith(f"{name} "):
                raise ValueError(_OPTION_OF[name] + message[len(name) :]) from None
        raise


def add_device_options(parser) -> None:
    parser.add_argument(
        "--device", default="cpu", help="cpu (default), cuda, cuda:N or auto (a GPU if any)"
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default=None,
        help="float64 or float32 (default float64 on CPU, float32 on GPU)",
    )


def add_compare(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="train the original and the compressed network on one problem and compare them",
        description="Train the original deep linear network and its compressed version (spectral "
        "init, discrepant learning rate) on the same problem; print parameters, iterations and "
        "seconds to recovery error 1e-4 and the final error, where the error is "
        "||W_L...W_1 - M*||_F / ||M*||_F (end-to-end matrix against the target), and a last line "
        "of ratios compressed/original. Unset options take the reference settings of the task "
        "(mf: d=100 r=10 lr=50; mc: d=100 r=5 p=0.3 lr=10 alpha=5; ms: d=100 r=5 m=2000 lr=10). "
        "Every option and output path is checked before training starts.",
    )
    parser.add_argument(
        "--task",
        choices=TASKS,
        default="mf",
        help="mf (factorization), mc (completion) or ms (sensing); default mf",
    )
    for name, kind, text in NUMERIC_OPTIONS:
        parser.add_argument(f"--{name}", type=kind, default=None, help=text)
    add_device_options(parser)
    parser.add_argument(
        "--optimizer",
        choices=("gd", "adam"),
        default="gd",
        help="gd (plain gradient descent, the paper's; default) or adam",
    )
    parser.add_argument(
        "--json", type=Path, help="write the summary as JSON to this path (its folder must be "
        "writable)",
    )  # fmt: skip
    suffixes = ", ".join(FIGURE_SUFFIXES)
    parser.add_argument(
        "--plot",
        type=Path,
        help=f"save error vs iteration and vs seconds to this file ({suffixes}: the suffix "
        "picks the format)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(handler=run_compare)


def check_compare(args) -> dict:
    """Every compare option, before anything is built: the overrides for ``compare``."""
    from .comparison import resolve_settings
    from .validation import check_int, resolve_device

    overrides = {name.replace("-", "_"): None for name, _, _ in NUMERIC_OPTIONS}
    overrides = {key: getattr(args, key) for key in overrides}
    with options_named():
        if args.steps is not None:
            check_int("steps", args.steps, low=1)
        resolve_settings(args.task, **overrides)
        resolve_device(args.device)
    if args.json is not None:
        check_output_file("--json", args.json)
    if args.plot is not None:
        check_output_file("--plot", args.plot, FIGURE_SUFFIXES)
    return {**overrides, "device": args.device, "dtype": args.dtype, "optimizer": args.optimizer}


def ratio_line(summary: dict, device: str) -> str:
    """``compressed/original: parameters x, iterations to 1e-4 y, seconds to 1e-4 z (...)``.

    Each ratio is the compressed network's value over the original's, to 3 significant digits;
    ``n/a`` where a network never reached 1e-4.
    """
    missing = []

    def ratio(key):
        compressed, original = summary["compressed"].get(key), summary["original"].get(key)
        if compressed is None or not original:
            missing.append(key)
            return "n/a"
        return f"{compressed / original:.3g}"

    values = [ratio(key) for key in ("params", "iterations_to_1e-4", "seconds_to_1e-4")]
    where = "this CPU" if device == "cpu" else f"this GPU, {device}"
    note = "; n/a: a network never reached 1e-4" if missing else ""
    return (
        f"compressed/original: parameters {values[0]}, iterations to 1e-4 {values[1]}, "
        f"seconds to 1e-4 {values[2]} (seconds as measured in this run on {where}{note})"
    )


def run_compare(args) -> int:
    from .comparison import compare

    options = check_compare(args)
    result = compare(args.task, progress=not args.no_progress, **options)
    print(f"{args.task}: " + ", ".join(f"{k}={v}" for k, v in result.settings.items()))
    print(ERROR_DEFINITION)
    if args.task == "mc":
        print(UNOBSERVED_DEFINITION)
    print(result.table())
    if args.json:
        write_atomically(args.json, json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"wrote {args.json}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from .files import save_figure_atomically
        from .plots import plot_error_curves

        figure = plot_error_curves(
            {"original": result.original, "compressed": result.compressed},
            title=f"{args.task}: original vs compressed",
        )
        try:
            save_figure_atomically(figure, args.plot)
        finally:
            plt.close(figure)
        print(f"wrote {args.plot}")
    print(ratio_line(result.to_dict(), result.settings["device"]))
    return 0


def add_reproduce(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce",
        help="regenerate the paper's trajectory figures (PNG + JSON) at the reference settings",
        description="Train the original and the compressed network at the reference settings "
        "(mf: d=100 r=10 lr=50; mc: d=100 r=5 p=0.3 lr=10 alpha=5; ms: d=200 m=4000 r=5 lr=10, "
        "or d=100 m=2000 where memory is short) and write EXPERIMENT.png (error vs iteration and "
        "seconds) and EXPERIMENT.json into --out, each atomically as it completes. 'nonlinear' "
        "runs lesson 06's MLP experiment. The experiments are named positionally "
        "(reproduce mf mc), not with --task; every option and --out are checked before the "
        "first one trains.",
    )
    parser.add_argument(
        "experiments",
        nargs="+",
        metavar="EXPERIMENT",
        help="mf, mc, ms or nonlinear (several ok, run in this order)",
    )
    add_device_options(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("reproduced"),
        help="folder for the files (default reproduced/; created if missing, must be writable)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="cap on gradient steps per network, an integer >= 1 (mf/mc/ms)",
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="DATA",
        help="nonlinear only: digits (default) or mnist1d (MNIST-1D, each model at its tuned "
        "learning rate)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.set_defaults(handler=run_reproduce)


def check_reproduce(args) -> None:
    """Every reproduce option, before the first experiment trains."""
    from .reproduce import EXPERIMENTS, reference_settings
    from .validation import check_int, resolve_device

    for name in args.experiments:
        if name not in EXPERIMENTS:
            raise ValueError(f"EXPERIMENT must be one of {', '.join(EXPERIMENTS)}, got {name!r}")
    with options_named():
        if args.steps is not None:
            check_int("steps", args.steps, low=1)
        resolve_device(args.device)
        for name in args.experiments:
            if name != "nonlinear":
                reference_settings(name, steps=args.steps)
    if args.data is not None:
        if "nonlinear" not in args.experiments:
            raise ValueError("--data applies to the nonlinear experiment only")
        from .nonlinear.settings import DATA_SETS

        if args.data not in DATA_SETS:
            raise ValueError(f"--data must be one of {', '.join(DATA_SETS)}, got {args.data!r}")
    check_output_folder("--out", args.out)


def run_reproduce(args) -> int:
    from .reproduce import reproduce

    check_reproduce(args)
    for name in args.experiments:
        options = {"device": args.device, "out_dir": args.out, "progress": not args.no_progress}
        if name != "nonlinear":
            options.update(dtype=args.dtype, steps=args.steps)
        elif args.data is not None:
            options["data"] = args.data
        reproduce(name, **options)
    return 0
