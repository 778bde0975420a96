"""A bubblewrap sandbox for one graded notebook's kernel (Linux).

`bubblewrap <https://github.com/containers/bubblewrap>`_ (``bwrap``, Debian's package
``bubblewrap``; what Flatpak runs its applications in) starts the kernel in new Linux
namespaces, so that the notebook's code sees:

* a file system of its own: the system (``/usr``, ``/etc``, ...), Python and the course
  **read-only**, an empty private ``/tmp``, and one writable folder, its own (working directory,
  ``HOME``, IPython and Jupyter paths, the kernel's sockets and connection file), at the same
  path as on the host, so that the grader reaches the kernel's sockets by the paths in the
  connection file;
* no network (the kernel talks to the grader over Unix sockets in that folder, which need none),
  no other process (a pid namespace of its own: a classmate's kernel is not there to signal or
  to read), its own IPC and host name;
* when the grader runs as root, another uid on the host as well (:data:`SANDBOX_UID`, which no
  account has): ``bwrap`` makes the mounts as root, and the kernel's first act is to leave root
  for that uid for good (in a user namespace instead, the notebook would own root's files).

Everything the kernel wrote is in that one folder, which the worker removes; the pid namespace
ends with its first process, so nothing the notebook started outlives the kernel.
``probe()`` says whether a sandbox can be made here (``bwrap`` installed and user namespaces
allowed); where it cannot, the grader says so and grades without one (docs/grading.md).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

SANDBOX_UID = 64055  # the kernel's uid on the host when the grader runs as root (no user has it)
INNER_UID = 1000  # the uid the notebook sees inside (its files' owner, os.getuid())
_SYSTEM_DIRECTORIES = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/sys")
_OPTIONAL_FLAGS = ("--disable-userns",)  # hardening that older bubblewrap releases lack
_PROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Probe:
    """Whether a sandbox can be made here, which ``bwrap``, and if not, why (one line)."""

    works: bool
    program: str | None
    version: str
    reason: str = ""
    flags: tuple[str, ...] = field(default=())


def find_bwrap() -> str | None:
    """The ``bwrap`` on PATH, or None."""
    return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def probe() -> Probe:
    """Try to run ``true`` in a sandbox made as the grader's kernels are (cached)."""
    program = find_bwrap()
    if program is None:
        return Probe(False, None, "", "bubblewrap (bwrap) is not installed")
    version = _version(program)
    flags = tuple(flag for flag in _OPTIONAL_FLAGS if _supports(program, flag))
    try:
        result = subprocess.run(
            [program, *_namespace_options(flags), "--ro-bind", "/", "/", *_dropped(["true"])],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_PROBE_TIMEOUT,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Probe(False, program, version, f"bwrap could not run ({exc})")
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()
        why = said[-1] if said else f"exit code {result.returncode}"
        return Probe(False, program, version, f"bwrap cannot make a sandbox here: {why}")
    return Probe(True, program, version, flags=flags)


def _version(program: str) -> str:
    try:
        shown = subprocess.run([program, "--version"], capture_output=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "bubblewrap"
    return shown.stdout.decode(errors="replace").strip() or "bubblewrap"


def _supports(program: str, flag: str) -> bool:
    try:
        shown = subprocess.run([program, "--help"], capture_output=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return False
    return flag.encode() in shown.stdout + shown.stderr


def _as_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def _namespace_options(flags: tuple[str, ...]) -> list[str]:
    """New namespaces for everything. As an ordinary user: a user namespace too, in which the
    notebook's uid is :data:`INNER_UID` (the grader's own on the host). As root: no user
    namespace (in one, the notebook would own root's files); the command starts with
    :data:`DROP_TO_SANDBOX_UID`, which leaves root for :data:`SANDBOX_UID` on the host."""
    common = ["--die-with-parent", "--new-session"]  # no terminal to push keystrokes into
    if _as_root():
        namespaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
        namespaces += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
        return [*namespaces, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", *common]
    namespaces = ["--unshare-all", "--unshare-user", "--uid", str(INNER_UID)]
    return [*namespaces, "--gid", str(INNER_UID), *flags, *common]


# Run by the sandbox's Python as root, before the kernel: no way back to root (setresuid with
# every uid non-zero also clears the capabilities), no new privileges from set-uid programs.
DROP_TO_SANDBOX_UID = f"""\
import ctypes, os, sys
os.setgroups([])
os.setresgid({SANDBOX_UID}, {SANDBOX_UID}, {SANDBOX_UID})
os.setresuid({SANDBOX_UID}, {SANDBOX_UID}, {SANDBOX_UID})
ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
os.execv(sys.argv[1], sys.argv[1:])
"""


def _dropped(argv: list[str]) -> list[str]:
    """``argv``, preceded by the drop to :data:`SANDBOX_UID` when we are root."""
    if not _as_root():
        return list(argv)
    program = shutil.which(argv[0]) or argv[0]
    return [sys.executable, "-c", DROP_TO_SANDBOX_UID, program, *argv[1:]]


def python_directories() -> list[str]:
    """What the kernel imports from: Python's prefixes, every folder on ``sys.path`` and the
    course's package folder alone (not the checkout around it, for an editable install)."""
    package = Path(__file__).resolve().parents[1]
    found = [sys.base_prefix, sys.prefix, sys.exec_prefix, str(package)]
    found += [entry for entry in sys.path if entry and os.path.isdir(entry)]
    found += [entry for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep) if entry]
    kept: list[str] = []
    for entry in sorted({os.path.realpath(item) for item in found}):
        if not os.path.isdir(entry):
            continue
        if entry == str(package.parent):
            continue  # a source checkout on the path: only its package folder is shown
        if not any(entry.startswith(outer + os.sep) for outer in kept):
            kept.append(entry)
    return kept


class KernelSandbox:
    """The ``bwrap`` command line for a kernel whose one writable folder is ``folder``
    (``wrap(argv, cwd=...)``); as root, ``folder`` is handed over to :data:`SANDBOX_UID`."""

    def __init__(self, folder: Path, found: Probe | None = None):
        self.found = probe() if found is None else found
        if not self.found.works:
            raise RuntimeError(f"no sandbox: {self.found.reason}")
        self.folder = Path(folder)
        if _as_root():
            for path in (self.folder, *self.folder.rglob("*")):
                os.chown(path, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)

    def wrap(self, argv: list[str], *, cwd: Path) -> list[str]:
        options = [self.found.program, *_namespace_options(self.found.flags)]
        for directory in _SYSTEM_DIRECTORIES:
            if os.path.islink(directory):  # /bin -> usr/bin on a merged-/usr system
                options += ["--symlink", os.readlink(directory), directory]
            elif os.path.isdir(directory):
                options += ["--ro-bind", directory, directory]
        options += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
        shown = [
            directory
            for directory in python_directories()
            if not directory.startswith(tuple(d + os.sep for d in _SYSTEM_DIRECTORIES))
        ]
        # The folders above a bound one are made by bwrap; readable, or the uid cannot pass.
        made = {"/", "/tmp"}
        for directory in [*shown, str(self.folder)]:
            for parent in reversed(Path(directory).parents):
                if str(parent) not in made:
                    made.add(str(parent))
                    options += ["--perms", "0755", "--dir", str(parent)]
        for directory in shown:
            options += ["--ro-bind", directory, directory]
        options += ["--bind", str(self.folder), str(self.folder)]
        options += ["--unsetenv", "JPY_PARENT_PID"]  # its parent is the sandbox's pid 1
        options += ["--chdir", str(cwd), "--", *_dropped(argv)]
        return options

    @property
    def owner(self) -> int | None:
        """The uid that must own what the grader writes for the kernel (None: ours will do)."""
        return SANDBOX_UID if _as_root() else None
