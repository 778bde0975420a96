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


def _drive(tuner, steps, seconds_for, monkeypatch):
    """Run ``tuner`` for ``steps`` steps; one with n threads takes ``seconds_for(step, n)``."""
    counts = []
    monkeypatch.setattr(threads.torch, "set_num_threads", counts.append)
    for step in range(steps):
        tuner.before_step(step)
        tuner.after_step(seconds_for(step, counts[-1]))
    return counts


def test_the_tuner_probes_interleaved_after_a_warm_up_and_keeps_the_faster(monkeypatch):
    tuner = threads.ThreadTuner(most=2, probe_steps=3, recheck_every=20)
    counts = _drive(tuner, 12, lambda step, n: 1.0 if n == 1 else 3.0, monkeypatch)  # loaded
    assert counts[:7] == [2, 2, 1, 2, 1, 2, 1]  # warm-up, then most/1 interleaved
    assert counts[7:] == [1] * 5 and tuner.chosen == 1


def test_the_tuner_keeps_several_threads_when_they_are_faster(monkeypatch):
    tuner = threads.ThreadTuner(most=4, probe_steps=2, recheck_every=10)
    counts = _drive(tuner, 8, lambda step, n: 1.0 / n, monkeypatch)
    assert counts[5:] == [4, 4, 4] and tuner.chosen == 4


def test_the_tuner_notices_a_neighbour_that_starts_mid_run(monkeypatch):
    def seconds(step, n):  # quiet until step 30, then two threads are ten times slower
        if n == 1:
            return 2.0
        return 1.0 if step < 30 else 10.0

    tuner = threads.ThreadTuner(most=2, probe_steps=3, recheck_every=20)
    counts = _drive(tuner, 60, seconds, monkeypatch)
    assert counts[10:20] == [2] * 10  # quiet: two threads
    assert counts[21:27] == [2, 1, 2, 1, 2, 1]  # the probe at step 21 is still quiet
    assert counts[41:47] == [2, 1, 2, 1, 2, 1]  # the next one sees the neighbour
    assert counts[47:] == [1] * 13


def test_the_tuner_rejects_settings_that_cannot_work():
    with pytest.raises(ValueError, match="most must be an integer >= 2"):
        threads.ThreadTuner(most=1)
    with pytest.raises(ValueError, match="recheck_every must be an integer >= 7"):
        threads.ThreadTuner(most=2, probe_steps=3, recheck_every=5)
