"""Run a command while other processes keep CPU cores busy: a student's laptop, on any machine.

    python scripts/with_busy_neighbour.py -- python -m pytest lessons solutions
    python scripts/with_busy_neighbour.py --spinners 2 -- python -m pytest lessons solutions

Starts ``--spinners`` Python processes (default 1) that spin (``while True: pass``) for as long as
the command runs, then stops them. Exits with the command's exit code; 2 with one line on a bad
call. The lessons' printed numbers must not change under such load (nbval compares them), and
their run times must not grow by more than 1.5x (``benchmarks/notebook_benchmark.py --loaded``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spinners", type=int, default=1, help="busy processes (1 to 64)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.exit(2, "with_busy_neighbour: give the command after --\n")
    if not 1 <= args.spinners <= 64:
        parser.exit(2, f"with_busy_neighbour: --spinners must be in [1, 64], got {args.spinners}\n")
    spinners = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.spinners)
    ]
    try:
        time.sleep(0.2)  # let the scheduler place them
        return subprocess.call(command)
    except FileNotFoundError:
        print(f"with_busy_neighbour: no such command: {command[0]}", file=sys.stderr)
        return 2
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


if __name__ == "__main__":
    sys.exit(main())
