"""Run a notebook headless without stalling: one kernel, one cell at a time, one deadline.

``jupyter nbconvert --execute`` and papermill (through nbclient) now and then wait out a cell's
whole timeout on lessons with slider panels, although the kernel answered at once
(jupyter/nbclient#312, jupyter/nbconvert#2003): nbclient waits for the cell's ``execute_reply``
with an asyncio poll, answers the page's ``Output`` widgets on the same socket meanwhile, and
that send can swallow the wake-up of the poll (``docs/headless-execution.md``;
``lowdim_course.jupyter_wakeup`` patches it for nbconvert users).

This runner uses jupyter_client's blocking client and sends nothing while it waits: it polls the
shell socket for the ``execute_reply`` of the cell, then reads IOPub until the cell's ``idle``
(outputs can arrive after the reply), giving up on ``idle`` only after ``IOPUB_GRACE`` seconds
of silence. Used by ``lowdim-course execute`` (run and save a lesson), the lesson builder
(``lowdim_course.authoring``), the grader and ``benchmarks/notebook_benchmark.py``.

    with HeadlessKernel(cwd="lessons") as kernel:
        reply = kernel.run("1 + 1", deadline=time.monotonic() + 10, outputs=[])
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .notebook_outputs import OutputCollector

IOPUB_GRACE = 10.0  # seconds of IOPub silence after the reply before we stop waiting for 'idle'
STARTUP_TIMEOUT = 60.0  # seconds for a kernel to start and answer kernel_info
_POLL_MS = 200  # how often a waiting loop checks the deadline and that the kernel lives


class KernelStartError(RuntimeError):
    """The kernel did not start or did not answer within the start-up allowance."""


class DeadlineReached(TimeoutError):
    """The deadline passed before the running cell replied (the kernel is left running)."""


class KernelDied(RuntimeError):
    """The kernel process ended while a cell was running."""


@dataclass
class CellResult:
    """How one code cell ended: ``status`` is ``'ok'`` or ``'error'`` (with ``ename``)."""

    index: int
    status: str
    ename: str | None = None
    evalue: str | None = None
    seconds: float = 0.0


@dataclass
class NotebookResult:
    """Every code cell that ran, in order, and why the run stopped early (``error``), if it did."""

    cells: list[CellResult] = field(default_factory=list)
    error: str | None = None
    timed_out: bool = False
    stopped_at: int | None = None  # index of the cell that was running when the run stopped
    seconds: float = 0.0

    @property
    def cell_errors(self) -> list[CellResult]:
        return [cell for cell in self.cells if cell.status == "error"]


class HeadlessKernel:
    """A kernel started in its own session and working directory, with nothing on our terminal.

    ``env`` replaces the kernel's environment (default: ours). The kernel's stdin, stdout and
    stderr go to /dev/null, so it holds no pipe of ours. Use as a context manager: the kernel is
    shut down (killed) on exit.

    The grader starts its kernels differently (``grading.worker``): ``argv`` is the command,
    with ``{connection_file}`` in it (no kernelspec is looked up, so none a notebook planted is
    used); ``connection_file`` puts that file, and Unix sockets beside it instead of TCP ports,
    in a folder of the caller's (``connection_file_owner`` then owns the file); ``launch``
    holds more ``subprocess.Popen`` arguments (a sandbox's descriptors and uid).
    """

    def __init__(
        self,
        *,
        cwd,
        env: dict | None = None,
        kernel_name: str = "python3",
        startup_timeout: float = STARTUP_TIMEOUT,
        argv: list[str] | None = None,
        connection_file=None,
        connection_file_owner: int | None = None,
        launch: dict | None = None,
    ):
        self.cwd = str(Path(cwd).resolve())
        self.argv = argv
        self.connection_file = connection_file
        self.connection_file_owner = connection_file_owner
        self.launch = dict(launch or {})
        self.env = dict(os.environ if env is None else env)
        self.kernel_name = kernel_name
        self.startup_timeout = startup_timeout
        self.manager = None
        self.client = None
        self.language_info: dict = {}
        self.execution_count = 0

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> HeadlessKernel:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()

    def start(self) -> None:
        self.manager = _manager(
            self.kernel_name, self.argv, self.connection_file, self.connection_file_owner
        )
        try:
            self.manager.start_kernel(
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                **self.launch,
            )
            self.client = self.manager.client()
            self.client.start_channels()
            self.client.wait_for_ready(timeout=self.startup_timeout)
            self.language_info = self._kernel_info().get("language_info", {})
        except Exception as exc:
            self.shutdown()
            raise KernelStartError(
                f"the kernel did not start within {self.startup_timeout:g} s "
                f"({type(exc).__name__}: {exc})"
            ) from exc

    def _kernel_info(self) -> dict:
        msg_id = self.client.kernel_info()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                reply = self.client.get_shell_msg(timeout=_POLL_MS / 1000)
                if reply["parent_header"].get("msg_id") == msg_id:
                    return reply["content"]
        return {}

    @property
    def pid(self) -> int | None:
        provisioner = getattr(self.manager, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def is_alive(self) -> bool:
        return self.manager is not None and self.manager.is_alive()

    def shutdown(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.stop_channels()
            self.client = None
        if self.manager is not None:
            with contextlib.suppress(Exception):
                self.manager.shutdown_kernel(now=True)
            with contextlib.suppress(Exception):
                self.manager.cleanup_resources()
            self.manager = None

    # -- running code ----------------------------------------------------------------------------

    def run(
        self,
        code: str,
        *,
        deadline: float,
        outputs: list | None = None,
        user_expressions: dict | None = None,
    ) -> dict:
        """Execute ``code``; return the content of its ``execute_reply``.

        ``deadline`` is a ``time.monotonic()`` value: past it, ``DeadlineReached``. When
        ``outputs`` is a list, the cell's outputs are appended to it as nbformat output nodes.
        A lone surrogate in ``code`` (no Unicode character: UTF-8 cannot carry it, so sending
        it would raise) is sent as U+FFFD.
        """
        import zmq

        msg_id = self.client.execute(
            re.sub(r"[\ud800-\udfff]", "\ufffd", code),
            store_history=True,
            allow_stdin=False,
            stop_on_error=False,
            user_expressions=user_expressions or {},
        )
        collector = OutputCollector(msg_id, outputs)
        shell, iopub = self.client.shell_channel, self.client.iopub_channel
        poller = zmq.Poller()
        poller.register(shell.socket, zmq.POLLIN)
        poller.register(iopub.socket, zmq.POLLIN)
        reply = None
        while reply is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeadlineReached
            ready = dict(poller.poll(min(_POLL_MS, max(1, int(remaining * 1000)))))
            if iopub.socket in ready:
                _drain(iopub, collector)
            if shell.socket in ready:
                while shell.msg_ready():
                    message = shell.get_msg(timeout=0)
                    if message["parent_header"].get("msg_id") == msg_id:
                        reply = message["content"]
            if reply is None and not ready and not self.is_alive():
                raise KernelDied
        # The reply is in: the cell's last outputs may still be on their way on IOPub.
        quiet_since = time.monotonic()
        while not collector.idle and time.monotonic() - quiet_since < IOPUB_GRACE:
            if time.monotonic() > deadline:
                break
            if iopub.socket.poll(_POLL_MS):
                _drain(iopub, collector)
                quiet_since = time.monotonic()
        count = reply.get("execution_count")
        if isinstance(count, int):
            self.execution_count = count
        return reply


def _manager(kernel_name: str, argv, connection_file, owner):
    """A jupyter_client ``KernelManager``: the named kernelspec's, or ``argv`` over Unix
    sockets beside ``connection_file`` (chowned to ``owner`` once written, when given)."""
    from jupyter_client.kernelspec import KernelSpec
    from jupyter_client.manager import KernelManager

    class _OwnedConnectionFile(KernelManager):
        def write_connection_file(self, **kwargs):
            super().write_connection_file(**kwargs)
            if owner is not None:
                os.chown(self.connection_file, owner, owner)

    manager = _OwnedConnectionFile(kernel_name=kernel_name)
    if argv is not None:
        manager._kernel_spec = KernelSpec(
            argv=list(argv), display_name="Python 3", language="python"
        )
    if connection_file is not None:
        manager.transport = "ipc"
        manager.connection_file = str(connection_file)
    return manager


def _drain(channel, collector) -> None:
    while channel.msg_ready():
        collector.receive(channel.get_msg(timeout=0))


def execute_notebook(
    notebook,
    *,
    cwd,
    timeout: float,
    env: dict | None = None,
    kernel_name: str = "python3",
    startup_timeout: float = STARTUP_TIMEOUT,
    stop_on_error: bool = False,
) -> NotebookResult:
    """Run every code cell of ``notebook`` (an nbformat node) in order, saving outputs into it.

    ``timeout`` bounds all cells together (kernel start-up is allowed ``startup_timeout`` more).
    A cell that raises does not stop the run unless ``stop_on_error``. Never hangs: a kernel
    that dies or runs past the deadline ends the run, with ``error`` saying so.
    """
    started = time.monotonic()
    result = NotebookResult()
    try:
        kernel = HeadlessKernel(
            cwd=cwd, env=env, kernel_name=kernel_name, startup_timeout=startup_timeout
        )
        kernel.start()
    except KernelStartError as exc:
        result.error = str(exc)
        return result
    try:
        if kernel.language_info:
            notebook.metadata["language_info"] = kernel.language_info
        deadline = time.monotonic() + timeout
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "code":
                continue
            cell.outputs = []
            cell.execution_count = None
            if not cell.source.strip():
                continue
            cell_started = time.monotonic()
            try:
                reply = kernel.run(cell.source, deadline=deadline, outputs=cell.outputs)
            except DeadlineReached:
                result.error = f"the notebook did not finish within {timeout:g} s"
                result.timed_out, result.stopped_at = True, index
                break
            except KernelDied:
                result.error = "the kernel died"
                result.stopped_at = index
                break
            cell.execution_count = reply.get("execution_count")
            for output in cell.outputs:
                if output.output_type == "execute_result":
                    output.execution_count = cell.execution_count
            status = reply.get("status", "error")
            result.cells.append(
                CellResult(
                    index,
                    "ok" if status == "ok" else "error",
                    reply.get("ename"),
                    reply.get("evalue"),
                    time.monotonic() - cell_started,
                )
            )
            if status != "ok" and stop_on_error:
                name, value = reply.get("ename"), reply.get("evalue")
                result.error = f"cell {index + 1} raised {name}: {value}"
                result.stopped_at = index
                break
    finally:
        kernel.shutdown()
        result.seconds = time.monotonic() - started
    return result
