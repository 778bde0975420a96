"""How many CPU threads torch and numpy's BLAS may use: the course's one thread policy.

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
long loop asks a ``ThreadTuner`` instead: it watches how busy the other processes keep the CPUs
and drops to one thread while they would take a core from the loop, so a neighbour that starts
or stops mid-run is noticed (measured: ``benchmarks/run_benchmarks.py``, quiet and loaded).

**What a lesson prints runs on one thread, always.** Every demo a lesson calls (each function a
lesson imports from ``lowdim_course.demos`` carries ``@small_work()``), every slider move
(``widgets.slider_panel``), every exercise check (``exercises.check``, the grader's calls in
the student's kernel and its judging) and every capstone figure's run of a student's function
(``exercises.capstone.run_student_code``) runs with one torch thread, whatever torch's
setting and however large its products. Two reasons: a fixed count
makes the printed numbers independent of the machine's cores and load (two threads split a
product's sums differently and can change its last digit), and one thread cannot be stalled by
a busy neighbour (lesson 02's depth demo took 324 s with two threads beside a busy process and
8 s with one, on 2 cores). Inside those, ``train`` sees torch at one thread and uses one
(``threads_for`` never asks for more than torch's setting). The several-thread path, with its
``ThreadTuner``, is for the command line and the benchmarks (``compare``, ``reproduce``).
``tests/test_thread_policy.py`` runs demos, checks and capstone figures with torch at two
threads beside a simulated busy neighbour and fails on any product computed with more than one.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import platform
import time
from pathlib import Path

import psutil
import torch
from threadpoolctl import ThreadpoolController

from .validation import check_float, check_int

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


@functools.cache
def _numpy_blas_pools() -> tuple:
    """The thread pools of numpy's BLAS (OpenBLAS in numpy's wheels), found once by threadpoolctl.

    The CPU training step multiplies with numpy (``numpy_step``), so the policy sets these
    pools along with torch's. After a product on several threads OpenBLAS's helper threads
    spin for a while (measured: a second core busy for over 0.4 s after five 300 x 300
    products), and a process-wide CPU-time signal (the exercise checks' time limit) may land
    on one of them and be handled late: every numpy product of the course runs under the
    policy, building the step included.
    """
    blas = ThreadpoolController().select(user_api="blas").lib_controllers
    # numpy's own (other packages, scipy for one, may load a BLAS of their own)
    return tuple(pool for pool in blas if "numpy" in pool.filepath) or tuple(blas)


def numpy_blas_threads() -> int:
    """The thread count numpy's BLAS uses now (1 where it reports no pool)."""
    return max((pool.get_num_threads() or 1 for pool in _numpy_blas_pools()), default=1)


def set_threads(count: int) -> None:
    """Set torch's CPU threads and numpy's BLAS threads to ``count``."""
    torch.set_num_threads(count)
    _set_pools([(pool, count) for pool in _numpy_blas_pools()])


def _set_pools(counts) -> None:
    # Only where the count changes: each call goes into OpenBLAS, on every entry and exit.
    for pool, count in counts:
        if count and pool.get_num_threads() != count:
            pool.set_num_threads(count)


@contextlib.contextmanager
def cpu_threads(threads: int | None):
    """Run the body with ``threads`` CPU threads (None: unchanged); restored after.

    The count is torch's and numpy's BLAS's. Also a decorator: ``@cpu_threads(1)`` runs the
    whole function on one thread.
    """
    previous = torch.get_num_threads()
    previous_pools = [(pool, pool.get_num_threads()) for pool in _numpy_blas_pools()]
    if threads is not None:
        set_threads(check_int("threads", threads, low=1))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
        _set_pools(previous_pools)


def small_work():
    """``cpu_threads`` for a loop of small products (a demo, a lesson's toy run): one thread.

    The policy's answer for ``product_work = 0``; usable as ``with small_work():`` or as a
    decorator, ``@small_work()``.
    """
    return cpu_threads(threads_for(0))


def cpu_usage_sample() -> tuple[float, float, float]:
    """``(busy seconds of every CPU, this process's CPU seconds, wall seconds)``, cumulative.

    Differences of two samples tell how many CPUs the *other* processes kept busy in between.
    """
    every = psutil.cpu_times()
    busy = sum(every) - every.idle - getattr(every, "iowait", 0.0)
    own = psutil.Process().cpu_times()
    return busy, own.user + own.system, time.monotonic()


class ThreadTuner:
    """Several threads while the CPUs are free; one thread as soon as a neighbour is busy.

    Two threads wait for each other at every product: with another process busy on one of two
    cores, the thread that shares its core is descheduled for a whole time slice now and then,
    and the step it belongs to takes 50 ms instead of 0.2 ms (measured: median step 178 us,
    mean 1.7-3.0 ms; one thread: 195 us). Timing a few steps does not see those rare stalls,
    so the tuner watches the load instead: every ``check_every`` seconds it reads how many
    CPUs the other processes kept busy since the last check (``cpu_usage_sample``) and uses
    ``available - busy elsewhere`` threads, rounded, between 1 and ``most``. It starts with one
    thread: a run's first ``check_every`` seconds cost at most the gain of the others.

    The loop calls ``before_step()``, which sets torch's thread count when it changes.
    Different thread counts can round the last digit of a product differently (relative
    1e-12 in the course's runs), never more.
    """

    def __init__(
        self, most: int, check_every: float = 0.2, available: int | None = None, sample=None
    ):
        self.most = check_int("most", most, low=2)
        self.check_every = check_float("check_every", check_every, low=0.0, low_open=True)
        self.available = available_cpus() if available is None else available
        self.sample = cpu_usage_sample if sample is None else sample
        self.chosen = None
        self._last = None

    def _count_from(self, previous, now) -> int:
        busy, own, wall = (b - a for a, b in zip(previous, now, strict=True))
        elsewhere = max(0.0, busy - own) / wall if wall > 0 else 0.0
        return max(1, min(self.most, math.floor(self.available - elsewhere + 0.5)))

    def before_step(self) -> None:
        if self._last is None:  # one thread until the first look at the machine
            self._last = self.sample()
            self._set(1)
            return
        if time.monotonic() - self._last[2] < self.check_every:
            return
        now = self.sample()
        self._set(self._count_from(self._last, now))
        self._last = now

    def _set(self, count: int) -> None:
        if count != self.chosen:
            self.chosen = count
            set_threads(count)


def cpu_model() -> str:
    """The processor's name: ``model name`` in /proc/cpuinfo (Linux), else what platform says.

    Written next to every measured time (benchmarks, shipped tables): Intel and AMD processors
    run the same code at different speeds."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown processor"
