"""scripts/with_busy_neighbour.py: the command runs beside busy spinners, which stop after it."""

import subprocess
import sys
from pathlib import Path

import psutil

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "with_busy_neighbour.py"
SPINNER = "while True: pass"


def _spinners() -> int:
    count = 0
    for process in psutil.process_iter(["cmdline"]):
        if (process.info["cmdline"] or [])[-2:] == ["-c", SPINNER]:
            count += 1
    return count


def test_the_command_sees_the_spinners_and_its_exit_code_comes_back():
    before = _spinners()
    count_them = (
        "import psutil, sys; "
        f"n = sum((p.info['cmdline'] or [])[-2:] == ['-c', {SPINNER!r}] "
        "for p in psutil.process_iter(['cmdline'])); sys.exit(10 + n)"
    )
    code = subprocess.call(
        [sys.executable, str(SCRIPT), "--spinners", "2", "--", sys.executable, "-c", count_them]
    )
    assert code == 10 + before + 2
    assert _spinners() == before  # stopped after the command


def test_a_bad_call_is_one_line_and_exit_code_2():
    for args in (["--spinners", "0", "--", "true"], []):
        result = subprocess.run(
            [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
        )
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 or "usage" in result.stderr
        assert "with_busy_neighbour" in result.stderr
