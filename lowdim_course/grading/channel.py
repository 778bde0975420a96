"""The pipe on which the grader's cell sends the answers' results out of the kernel.

The worker opens it and hands its writing end to the kernel at start-up, before any cell of the
notebook runs; the grader's cell writes one frame, ``FRAME_MARK nonce length\\n payload``
(``kernel_results.send``), with a nonce that exists only in that cell's text. The worker reads
the pipe in a thread while the cell runs (a large result would otherwise fill the pipe and
stall the kernel), skips whatever else was written to it, and takes the frame with its nonce.
"""

from __future__ import annotations

import os
import select
import threading
import time

from .kernel_results import FRAME_MARK

MAX_BYTES = 64 * 2**20  # more than any lesson's results; a notebook flooding the pipe is cut off
_POLL_SECONDS = 0.1


class ResultsPipe:
    """``write_fd`` goes to the kernel (``pass_fds``); ``listen()`` before the grader's cell,
    ``frame(nonce)`` after its reply, ``close()`` at the end."""

    def __init__(self):
        self.read_fd, self.write_fd = os.pipe()
        self.kernel_fd = self.write_fd  # the number it keeps in the kernel (``pass_fds``)
        self._data = bytearray()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.overflowed = False

    def kernel_started(self) -> None:
        """Our copy of the writing end is no longer needed once the kernel holds its own."""
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None

    def listen(self) -> None:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.read_fd], [], [], _POLL_SECONDS)
            if not ready:
                continue
            chunk = os.read(self.read_fd, 1 << 16)
            if not chunk:
                return
            with self._lock:
                if len(self._data) + len(chunk) > MAX_BYTES:
                    self.overflowed = True
                    return
                self._data += chunk

    def frame(self, nonce: str, wait: float = 2.0) -> bytes | None:
        """The payload of the frame marked ``nonce``; None if it is not complete after ``wait``
        seconds (the cell's reply can come before the pipe is drained)."""
        head = FRAME_MARK + nonce.encode("ascii") + b" "
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                found = _payload(bytes(self._data), head)
            if found is not None or time.monotonic() > deadline or self.overflowed:
                return found
            time.sleep(0.01)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        for fd in (self.read_fd, self.write_fd):
            if fd is not None:
                os.close(fd)
        self.read_fd = self.write_fd = None


def _payload(data: bytes, head: bytes) -> bytes | None:
    start = data.find(head)
    if start < 0:
        return None
    length_start = start + len(head)
    end_of_line = data.find(b"\n", length_start)
    if end_of_line < 0:
        return None
    length = data[length_start:end_of_line]
    if not length.isdigit():
        return None
    body = end_of_line + 1
    return data[body : body + int(length)] if len(data) >= body + int(length) else None
