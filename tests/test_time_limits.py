"""An answer's time limit counts its CPU time, so a busy machine cannot fail a correct answer.

Each behaviour is checked both ways the limit is kept (``exercises/calling.py``): with an
interval timer on the main thread (Linux, macOS, a Jupyter kernel) and with a watching thread
(off the main thread, and on the main thread of a platform without interval timers, such as
Windows). Endless answers end themselves when the test is over, so no abandoned thread keeps
spinning.
"""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from lowdim_course.exercises import check
from lowdim_course.exercises.calling import WAIT_FACTOR, call_with_time_limit, wall_backstop
from lowdim_course.exercises.framework import DEFAULT_TIME_LIMIT, REGISTRY
from lowdim_course.grading import CHECK_TIMEOUT

LIMIT = 0.1  # CPU seconds; the backstop is WAIT_FACTOR times longer on the wall clock


@pytest.fixture
def stop():
    """Set when the test ends: the endless answers below return then."""
    event = threading.Event()
    yield event
    event.set()


def _in_main_thread(work):
    return work()


def _in_a_worker_thread(work):
    results = []
    worker = threading.Thread(target=lambda: results.append(work()))
    worker.start()
    worker.join(60)
    assert not worker.is_alive() and results, "the watcher did not return"
    return results[0]


def _without_interval_timers(work, monkeypatch):
    monkeypatch.delattr(signal, "setitimer")  # as on Windows: the watching thread takes over
    return work()


@pytest.fixture(params=["timers", "worker thread", "no interval timers"])
def run(request, monkeypatch):
    """Runs ``work()`` so that the limit is kept one way or the other."""
    if request.param == "timers":
        return _in_main_thread
    if request.param == "worker thread":
        return _in_a_worker_thread
    return lambda work: _without_interval_timers(work, monkeypatch)


def _timed(run, work):
    started = time.monotonic()
    result = run(work)
    return result, time.monotonic() - started


def test_a_cpu_bound_endless_loop_stops_at_the_cpu_limit(run, stop, capsys):
    def endless(layers):
        while not stop.is_set():
            pass

    result, seconds = _timed(run, lambda: check("00.end_to_end", endless, time_limit=LIMIT))
    assert not result.passed
    assert "did not return within 0.1 s of CPU time (endless loop?)" in result.message
    assert seconds < LIMIT * WAIT_FACTOR  # stopped by the CPU limit, not by the backstop


def test_an_endless_loop_that_sleeps_stops_at_the_wall_clock_backstop(run, stop, capsys):
    def sleeping(layers):
        while not stop.is_set():
            time.sleep(0.01)

    result, seconds = _timed(run, lambda: check("00.end_to_end", sleeping, time_limit=LIMIT))
    assert not result.passed
    assert f"did not return within {wall_backstop(LIMIT):g} s and used little CPU" in (
        result.message
    )
    assert "waiting for something that never comes?" in result.message
    assert wall_backstop(LIMIT) <= seconds < wall_backstop(LIMIT) + 5


def test_a_correct_answer_that_gets_little_cpu_passes(run, capsys):
    # Longer than the limit on the wall clock (as on a busy machine), with little CPU: a
    # wall-clock limit of LIMIT seconds stopped it; the CPU limit lets it finish.
    exercise = REGISTRY["00.end_to_end"]
    calls = []

    def slow_but_right(layers):
        if not calls:  # the first call waits: it runs well past the limit on the wall clock
            time.sleep(2 * LIMIT)
        calls.append(1)
        return exercise.reference(layers)

    result, seconds = _timed(run, lambda: check("00.end_to_end", slow_but_right, time_limit=LIMIT))
    assert result.passed, result.message
    assert seconds >= 2 * LIMIT and len(calls) == len(exercise.make_cases())


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_a_correct_answer_beside_a_busy_neighbour_on_its_core_passes():
    """A real neighbour: a process spinning on the same core takes half of it."""
    cpu = sorted(os.sched_getaffinity(0))[0]
    before = os.sched_getaffinity(0)
    spinner = subprocess.Popen(
        [sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"]
    )
    try:
        os.sched_setaffinity(0, {cpu})
        time.sleep(0.2)  # the spinner is running

        def answer(x):  # 0.3 s of CPU, then the right result
            started = time.thread_time()
            while time.thread_time() - started < 0.3:
                pass
            return x + 1

        started = time.monotonic()
        outcome = call_with_time_limit(answer, (1,), 0.5)
        seconds = time.monotonic() - started
    finally:
        os.sched_setaffinity(0, before)
        spinner.kill()
        spinner.wait()
    assert seconds > 0.5, f"the neighbour did not slow the answer ({seconds:.2f} s)"
    assert not outcome.timed_out and outcome.value == 2, outcome


def test_the_backstop_times_the_most_exercises_of_a_lesson_fit_the_graders_checks():
    per_lesson = {}
    for exercise in REGISTRY.values():
        per_lesson[exercise.lesson] = per_lesson.get(exercise.lesson, 0) + 1
    slowest = max(wall_backstop(exercise.time_limit) for exercise in REGISTRY.values())
    assert slowest == wall_backstop(DEFAULT_TIME_LIMIT) == WAIT_FACTOR * DEFAULT_TIME_LIMIT
    # every answer of the largest lesson waiting until its backstop still leaves the grader
    # time to read the results (its checks' allowance, CHECK_TIMEOUT, is wall-clock time)
    assert max(per_lesson.values()) * slowest < CHECK_TIMEOUT


def test_the_timers_and_handlers_are_restored_after_a_stopped_call(stop):
    handler = signal.getsignal(signal.SIGALRM)

    def endless():
        while not stop.is_set():
            pass

    assert call_with_time_limit(endless, (), 0.05).timed_out
    assert signal.getsignal(signal.SIGALRM) == handler
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    # a timer someone else set is left alone: the call runs in a watched thread instead
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        outcome = call_with_time_limit(lambda: threading.current_thread().name, (), 1.0)
        assert outcome.value == "lowdim-course-check"
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 90.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def test_an_endless_loop_after_multi_threaded_products_stops_at_the_cpu_limit(stop):
    """After a product on several threads OpenBLAS's helper threads idle by spinning; a CPU
    timer's signal then went to one of them and the loop ran on to the wall-clock backstop."""
    np = pytest.importorskip("numpy")
    from lowdim_course.threads import cpu_threads

    def endless():
        while not stop.is_set():
            pass

    late = 0
    for _ in range(10):
        with cpu_threads(2):
            matrix = np.full((300, 300), 1 / 300)
            for _ in range(5):
                matrix = matrix @ matrix
        started = time.monotonic()
        outcome = call_with_time_limit(endless, (), LIMIT)
        late += outcome.waited or time.monotonic() - started >= LIMIT * WAIT_FACTOR
        assert outcome.timed_out
    assert late == 0, f"{late} of 10 loops ran to the backstop"


@pytest.mark.parametrize(("waited", "words"), [(False, "of CPU time"), (True, "used little CPU")])
def test_the_grader_tells_a_waiting_answer_from_an_endless_loop(waited, words):
    # the kernel sends the outcome as data; the grader's judge names what happened
    from lowdim_course.exercises.calling import Outcome
    from lowdim_course.exercises.framework import judge
    from lowdim_course.grading.judging import _outcome
    from lowdim_course.grading.kernel_results import encode_outcome as _encode_outcome

    sent = _encode_outcome(Outcome(timed_out=True, waited=waited))
    exercise = REGISTRY["00.end_to_end"]
    received = _outcome(sent)
    result = judge(exercise, exercise.make_cases(), lambda case: received, exercise.time_limit)
    assert received.timed_out and received.waited is waited
    assert not result.passed and words in result.message, result.message


def test_a_capstone_figure_names_a_waiting_answer_and_an_endless_one(stop, capsys):
    from lowdim_course.exercises.capstone import run_student_code

    def spinning():
        while not stop.is_set():
            pass

    def sleeping():
        while not stop.is_set():
            time.sleep(0.01)

    spun = run_student_code(spinning, name="loop", seconds=LIMIT)
    slept = run_student_code(sleeping, name="loop", seconds=LIMIT)
    assert "did not finish within 0.1 s of CPU time (endless loop?)" in spun.message
    assert f"did not finish within {wall_backstop(LIMIT):g} s and used little CPU" in (
        slept.message
    )
    assert capsys.readouterr().out.count("the figure shows the course's result only") == 2
