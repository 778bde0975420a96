"""How many CPU threads torch may use: the course's one thread policy.

Every loop in the course multiplies small matrices. Waking a second thread for each product costs
a few microseconds, which only pays when a product has enough work (the original network at
d = 100: 100^3 multiply-adds). Two more things decide the count:

* the CPUs this process may really use: a container or Binder often shows all of the host's
  cores but grants a quota of one or two (cgroup ``cpu.max``), and ``taskset`` narrows the
  affinity. ``available_cpus`` reads both, so the policy never asks for more than it has;
* contention: with another busy process on one of two cores, a two-thread product waits for its
  slower half every time (measured in ``benchmarks/``: 3x to 25x slower), while one thread
  keeps its speed.

Callers say how much work their products do; ``threads_for`` answers, and ``cpu_threads`` runs
a block with that count and restores torch's setting after. Where several threads may pay, a
long loop asks a ``ThreadTuner`` instead: it times steps with one thread and with several,
interleaved, keeps the faster, and checks again from time to time, so a neighbour that starts
or stops mid-run is noticed (measured: ``benchmarks/run_benchmarks.py``, quiet and loaded).
"""

from __future__ import annotations

import contextlib
import math
import os
import statistics
from pathlib import Path

import torch

from .validation import check_int

# Below this many multiply-adds in the largest product of a step (a few hundred microseconds),
# waking a second thread for each op costs more than it saves; above it (the original network at
# d = 100: 100^3) two threads are faster on a quiet machine. Measured: benchmarks/.
SMALL_PRODUCT_WORK = 500_000
# Sensing reads an m x d^2 operator every step: that counts too, however narrow the network.
SMALL_DATA_ENTRIES = 160 * 160

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_cpu_quota(root: Path = _CGROUP_ROOT) -> float | None:
    """CPUs granted by the cgroup's quota (``cpu.max`` in v2, ``cfs_quota/period`` in v1).

    None when there is no quota (or no cgroup file to read, as on macOS and Windows).
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by the cgroup quota (at least 1)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cpus = os.cpu_count() or 1
    quota = cgroup_cpu_quota()
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def threads_for(product_work: int = 0, data_entries: int = 0) -> int:
    """The thread count for a loop whose largest product does ``product_work`` multiply-adds.

    One thread when every product is small (``product_work <= SMALL_PRODUCT_WORK`` and the data
    read per step ``<= SMALL_DATA_ENTRIES``) or when only one CPU is available; otherwise
    torch's own setting, capped by ``available_cpus()``.
    """
    small = product_work <= SMALL_PRODUCT_WORK and data_entries <= SMALL_DATA_ENTRIES
    if small:
        return 1
    return max(1, min(torch.get_num_threads(), available_cpus()))


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """Run the body with ``threads`` torch CPU threads (None: unchanged); restored after.

    Also a decorator: ``@cpu_threads(1)`` runs the whole function on one thread.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(check_int("threads", threads, low=1))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def small_work():
    """``cpu_threads`` for a loop of small products (a demo, a lesson's toy run): one thread.

    The policy's answer for ``product_work = 0``; usable as ``with small_work():`` or as a
    decorator, ``@small_work()``.
    """
    return cpu_threads(threads_for(0))


class ThreadTuner:
    """Picks, while a loop runs, the faster of one thread and ``most`` threads.

    A probe runs ``probe_steps`` steps with each count, interleaved (a busy neighbour slows
    both alike), after one untimed warm-up step; the loop then runs with the count whose
    median step was shorter, and probes again every ``recheck_every`` steps. The loop calls
    ``before_step(step)`` (which sets torch's thread count) and ``after_step(seconds)``.
    Different thread counts can round the last digit of a product differently (relative
    1e-12 in the course's runs), never more.
    """

    def __init__(self, most: int, probe_steps: int = 3, recheck_every: int = 500):
        self.most = check_int("most", most, low=2)
        self.probe_steps = check_int("probe_steps", probe_steps, low=1)
        self.recheck_every = check_int("recheck_every", recheck_every, low=2 * probe_steps + 1)
        self.chosen = most
        self._timings: dict[int, list[float]] = {1: [], most: []}
        self._current = most
        self._probe_start = 1

    def _probe_count(self, step: int) -> int | None:
        """The count a probe step uses, or None outside the probe."""
        offset = step - self._probe_start
        if 0 <= offset < 2 * self.probe_steps:
            return self.most if offset % 2 == 0 else 1
        return None

    def before_step(self, step: int) -> None:
        if step - self._probe_start >= self.recheck_every:
            self._probe_start = step
        probing = self._probe_count(step)
        self._current = self.chosen if probing is None else probing
        self._probing = probing is not None
        self._step = step
        torch.set_num_threads(self._current)

    def after_step(self, seconds: float) -> None:
        if not self._probing:
            return
        self._timings[self._current].append(seconds)
        if self._step - self._probe_start == 2 * self.probe_steps - 1:  # the probe's last step
            one, most = (statistics.median(self._timings[n]) for n in (1, self.most))
            self.chosen = 1 if one <= most else self.most
            self._timings = {1: [], self.most: []}
