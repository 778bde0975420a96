"""Ending every process a notebook started: descendants, escaped carriers of the token, orphans.

Linux only (/proc, prctl); elsewhere the grader falls back to the kernel's process group.
"""

import os
import subprocess
import sys
import time

import pytest

from lowdim_course.grading import processes

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc (Linux)")

# A child that starts a grandchild in a session of its own (as a detached daemon would), prints
# the grandchild's pid and exits: the grandchild is an orphan that left the process group.
DETACH = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                         start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(child.pid, flush=True)
"""


def _alive(pid: int) -> bool:
    status = processes._state_and_parent(str(pid))
    return status is not None and status[0] != "Z"


def test_a_detached_grandchild_carrying_the_token_is_found_and_killed():
    token = "test-token-123"
    env = {**os.environ, processes.TOKEN_VARIABLE: token}
    run = subprocess.run([sys.executable, "-c", DETACH], env=env, capture_output=True, text=True)
    grandchild = int(run.stdout.split()[0])
    try:
        assert _alive(grandchild)
        assert grandchild in processes.carrying_token(token)
        assert grandchild not in processes.descendants(os.getpid())  # it left our tree
        processes.end_processes(token=token)
        deadline = time.monotonic() + 5
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(grandchild)
    finally:
        if _alive(grandchild):
            os.kill(grandchild, 9)


def test_a_subreaper_adopts_orphans_so_they_stay_descendants():
    assert processes.become_subreaper(True)
    try:
        run = subprocess.run([sys.executable, "-c", DETACH], capture_output=True, text=True)
        orphan = int(run.stdout.split()[0])
        deadline = time.monotonic() + 5
        while processes.parents().get(orphan) != os.getpid() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert processes.parents()[orphan] == os.getpid()  # re-parented to us, not to init
        assert orphan in processes.descendants(os.getpid())
        os.kill(orphan, 9)
        deadline = time.monotonic() + 5
        while processes._state_and_parent(str(orphan)) is not None:
            processes.reap_children()
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert processes._state_and_parent(str(orphan)) is None  # reaped, gone
    finally:
        processes.become_subreaper(False)
