"""The thread policy: the CPU quota it reads, the count it picks, the setting it restores."""

import pytest
import torch

from lowdim_course import threads


def _write(root, name, text):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),  # cgroup v2: 1.5 CPUs
        ({"cpu.max": "max 100000\n"}, None),  # v2, no quota
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),  # v1
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),  # v1 none
        ({"cpu.max": "garbled\n"}, None),
        ({}, None),  # no cgroup files at all (macOS, Windows)
    ],
)
def test_cgroup_quota_is_read_from_v2_and_v1_files(tmp_path, files, expected):
    for name, text in files.items():
        _write(tmp_path, name, text)
    assert threads.cgroup_cpu_quota(tmp_path) == expected


@pytest.mark.parametrize(("quota", "expected"), [(None, 8), (1.5, 2), (0.5, 1), (64.0, 8)])
def test_available_cpus_is_the_affinity_capped_by_the_quota(monkeypatch, quota, expected):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: quota)
    assert threads.available_cpus() == expected


def test_small_work_takes_one_thread_and_large_work_never_more_than_available(monkeypatch):
    monkeypatch.setattr(threads, "available_cpus", lambda: 1)
    with threads.cpu_threads(4):
        assert threads.threads_for(10**9) == 1  # a quota of one CPU wins over torch's 4
    monkeypatch.setattr(threads, "available_cpus", lambda: 3)
    with threads.cpu_threads(4):
        assert threads.threads_for(0) == 1
        assert threads.threads_for(threads.SMALL_PRODUCT_WORK) == 1
        assert threads.threads_for(threads.SMALL_PRODUCT_WORK + 1) == 3
        assert threads.threads_for(0, data_entries=threads.SMALL_DATA_ENTRIES + 1) == 3
    with threads.cpu_threads(2):
        assert threads.threads_for(10**9) == 2  # torch's own setting is the other cap


def test_cpu_threads_restores_the_setting_even_after_an_error():
    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), threads.cpu_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before


def test_small_work_as_a_decorator_runs_on_one_thread():
    @threads.small_work()
    def inside():
        return torch.get_num_threads()

    before = torch.get_num_threads()
    assert inside() == 1
    assert torch.get_num_threads() == before


def test_cpu_threads_rejects_a_bad_count():
    with pytest.raises(ValueError, match="threads must be an integer >= 1"), threads.cpu_threads(0):
        pass


class _ScriptedLoad:
    """Cumulative CPU samples in which other processes keep ``busy_elsewhere`` CPUs busy."""

    def __init__(self):
        self.busy, self.own, self.wall = 0.0, 0.0, 0.0
        self.busy_elsewhere = 0.0

    def advance(self, seconds, own_cpus):
        self.wall += seconds
        self.own += own_cpus * seconds
        self.busy += (own_cpus + self.busy_elsewhere) * seconds

    def __call__(self):
        return self.busy, self.own, self.wall


def _tuner_with(load, monkeypatch, most=2, available=2, sample=None):
    counts = []
    monkeypatch.setattr(threads, "set_threads", counts.append)  # torch's and numpy's BLAS's
    clock = {"now": 0.0}
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock["now"])
    tuner = threads.ThreadTuner(most, check_every=0.2, available=available, sample=sample or load)
    load.wall = 0.0

    def run(seconds, steps=10):
        for _ in range(steps):
            tuner.before_step()
            clock["now"] += seconds / steps
            load.advance(seconds / steps, own_cpus=tuner.chosen)
            load.wall = clock["now"]

    return tuner, counts, run


def test_the_tuner_uses_every_thread_on_a_quiet_machine(monkeypatch):
    load = _ScriptedLoad()
    tuner, counts, run = _tuner_with(load, monkeypatch)
    run(2.0, steps=100)
    assert counts == [1, 2] and tuner.chosen == 2  # one thread until the first look


def test_the_tuner_drops_to_one_thread_while_a_neighbour_is_busy_and_back_after(monkeypatch):
    load = _ScriptedLoad()
    tuner, counts, run = _tuner_with(load, monkeypatch)
    run(1.0, steps=50)
    load.busy_elsewhere = 1.0  # a browser tab spinning on one core
    run(1.0, steps=50)
    assert tuner.chosen == 1
    load.busy_elsewhere = 0.0
    run(1.0, steps=50)
    assert counts == [1, 2, 1, 2] and tuner.chosen == 2


def test_the_tuner_keeps_what_the_neighbours_leave(monkeypatch):
    load = _ScriptedLoad()
    tuner, _counts, run = _tuner_with(load, monkeypatch, most=8, available=8)
    load.busy_elsewhere = 2.6
    run(1.0, steps=50)
    assert tuner.chosen == 5  # 8 - 2.6, rounded
    load.busy_elsewhere = 7.9
    run(1.0, steps=50)
    assert tuner.chosen == 1  # never fewer than one


def test_the_tuner_reads_the_machine_only_every_check_interval(monkeypatch):
    calls = []
    load = _ScriptedLoad()

    def counting():
        calls.append(1)
        return load()

    _tuner, _counts, run = _tuner_with(load, monkeypatch, sample=counting)
    run(1.0, steps=1000)  # a thousand steps in one second: about five reads, not a thousand
    assert 4 <= len(calls) <= 7


def test_cpu_usage_sample_counts_this_process_within_the_machine():
    busy, own, wall = threads.cpu_usage_sample()
    spent = sum(i * i for i in range(200_000))  # some CPU time of our own
    busy2, own2, wall2 = threads.cpu_usage_sample()
    assert spent > 0 and wall2 > wall and own2 >= own and busy2 >= busy


def test_the_tuner_rejects_settings_that_cannot_work():
    with pytest.raises(ValueError, match="most must be an integer >= 2"):
        threads.ThreadTuner(most=1)
    with pytest.raises(ValueError, match="check_every must be > 0"):
        threads.ThreadTuner(most=2, check_every=0.0)
