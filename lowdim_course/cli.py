"""The ``lowdim-course`` command: a thin layer over the library's functions.

Every failure a user can cause (a bad option, an output path that cannot be written, a learning
rate that diverges, ``cuda`` where there is none) ends with exit code 2 and one line on stderr
naming the argument, never a traceback; options and paths are checked before any training or
notebook run starts. The commands live in ``cli_training`` (compare, reproduce) and
``cli_notebooks`` (grade, execute, reset).
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .cli_notebooks import add_execute, add_grade, add_reset
from .cli_training import add_compare, add_reproduce
from .problems import TASKS

EXIT_USAGE = 2


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the full usage stays available under -h)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="lowdim-course",
        description="Low-dimensional learning dynamics and width compression of deep linear "
        "networks (Kwon et al., AISTATS 2024).",
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"lowdim-course {__version__}",
        help="print the version (lowdim-course X.Y.Z) and exit",
    )
    subparsers = parser.add_subparsers(
        dest="command",
        required=True,
        parser_class=_OneLineParser,
        metavar="COMMAND",
        help="compare, reproduce, grade, execute or reset (lowdim-course COMMAND -h for its "
        "options)",
    )
    add_compare(subparsers)
    add_reproduce(subparsers)
    add_grade(subparsers)
    add_execute(subparsers)
    add_reset(subparsers)
    return parser


def subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of one subcommand (``compare``, ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[command]
    raise KeyError(command)


def _parse(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """``parse_args``, with a hint where a task is given the other command's way.

    ``compare mf`` -> did you mean ``--task mf``; ``reproduce --task mf`` -> did you mean
    ``reproduce mf`` (reproduce names its experiments positionally).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "reproduce":
        for index, word in enumerate(argv[1:], start=1):
            if word == "--task" or word.startswith("--task="):
                given = word.partition("=")[2] or " ".join(argv[index + 1 : index + 2])
                subparser(parser, "reproduce").error(
                    "reproduce takes no --task, it names the experiments positionally: did you "
                    f"mean reproduce {given or 'mf mc ms'}?"
                )
    args, extras = parser.parse_known_args(argv)
    if extras:
        tasks = [word for word in extras if word in TASKS]
        if args.command == "compare" and tasks:
            subparser(parser, "compare").error(
                f"unrecognized argument {tasks[0]!r}: did you mean --task {tasks[0]}?"
            )
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def main(argv=None) -> int:
    parser = build_parser()
    args = _parse(parser, argv)
    try:
        return args.handler(args)
    # bad settings, unwritable paths, diverging runs (DivergenceError), and an optional package a
    # command needs (scikit-learn's digits): one line each
    except (ValueError, ImportError) as exc:
        message = " ".join(str(exc).split())
        print(f"lowdim-course {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"lowdim-course {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
