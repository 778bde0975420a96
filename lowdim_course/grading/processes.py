"""Find and end every process a graded notebook started, however it tried to hide.

A notebook's kernel can start processes that leave its process group (``setsid``) or its parent
(a double fork). Two nets catch them on Linux:

* the grading processes are *child subreapers* (``prctl(PR_SET_CHILD_SUBREAPER)``): an orphan
  is re-parented to the nearest of them instead of to init, so it stays a descendant;
* every process the kernel starts inherits an environment variable holding a per-notebook token,
  and ``/proc/PID/environ`` shows it.

``end_processes`` stops everything caught by either net (``SIGKILL``, repeated until nothing is
left, so a process that forks while it is being killed is caught too). Elsewhere (no ``/proc``)
only the kernel's own process group is ended.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time

TOKEN_VARIABLE = "LOWDIM_COURSE_GRADING_TOKEN"
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_DUMPABLE = 4


def become_subreaper(on: bool = True) -> bool:
    """Make this process adopt its orphaned descendants (Linux); True when it worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def protect_memory(on: bool = True) -> bool:
    """Make this process non-dumpable (Linux): a process of the same user that is not root can
    then no longer open our ``/proc/PID/mem``, ``environ`` or ``fd/`` (the secret of the entry's
    signature, our stdout). Root can, whatever we do. True when it worked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_DUMPABLE, 0 if on else 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _state_and_parent(pid: str) -> tuple[str, int] | None:
    """A process's state letter (``'Z'`` for a zombie) and parent pid, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read().decode(errors="replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2 :].split()  # the name may hold spaces and ')'
    return (fields[0], int(fields[1])) if len(fields) > 1 else None


def parents() -> dict[int, int]:
    """pid -> parent pid of every live (not zombie) process, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        status = _state_and_parent(entry) if entry.isdigit() else None
        if status is not None and status[0] != "Z":
            found[int(entry)] = status[1]
    return found


def descendants(root: int, parent_of: dict[int, int] | None = None) -> set[int]:
    """Every live process below ``root``."""
    parent_of = parents() if parent_of is None else parent_of
    children: dict[int, list[int]] = {}
    for pid, parent in parent_of.items():
        children.setdefault(parent, []).append(pid)
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def carrying_token(token: str) -> set[int]:
    """Every process whose environment holds ``TOKEN_VARIABLE=token``."""
    needle = f"{TOKEN_VARIABLE}={token}".encode() + b"\0"
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as file:
                if needle in file.read() + b"\0":
                    found.add(int(entry))
        except OSError:
            continue
    return found


def end_processes(
    *,
    root: int | None = None,
    token: str | None = None,
    group: int | None = None,
    reap: bool = True,
):
    """SIGKILL the descendants of ``root``, the carriers of ``token`` and process ``group``,
    again and again until none is left (at most about 5 s); with ``reap``, collect our own
    children that ended (leave it to the caller when some of them belong to a ``Popen``)."""
    me = os.getpid()
    for _ in range(100):
        targets: set[int] = set()
        if os.path.isdir("/proc"):
            if root is not None:
                targets |= descendants(root)
            if token is not None:
                targets |= carrying_token(token)
        targets.discard(me)
        if group is not None:
            with contextlib.suppress(OSError):
                os.killpg(group, signal.SIGKILL)
        if not targets:
            break
        for pid in targets:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.05)
        if reap:
            reap_children()


def reap_children(keep: set[int] = frozenset()) -> None:
    """Collect the exit status of our children that have ended (adopted orphans included),
    except ``keep`` (children that their own ``subprocess.Popen`` will wait for)."""
    if not os.path.isdir("/proc"):
        return
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in keep:
            continue
        if _state_and_parent(entry) == ("Z", me):
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(int(entry), os.WNOHANG)
