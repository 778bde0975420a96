"""benchmarks/classroom.py's figures: students per core and memory per student, from its rows."""

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "classroom.py"


@pytest.fixture(scope="module")
def classroom():
    spec = importlib.util.spec_from_file_location("classroom_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(students, median, slowest, memory):
    return {
        "students": students,
        "latency_median_s": median,
        "latency_max_s": slowest,
        "memory_per_student_max_mib": memory,
        "memory_students_total_mib": memory * students,
        "memory_hub_and_proxy_mib": 190.0,
    }


@pytest.mark.parametrize(
    ("slowest", "per_core"),
    [
        ((0.5, 1.4, 3.0), 1.0),  # one student fits, alone on one core (one thread per kernel)
        ((0.5, 0.9, 3.0), 1.5),  # three on two cores
        ((0.5, 0.9, 0.99), 3.0),  # six on two cores
        ((1.2, 1.4, 3.0), 0.0),  # none
    ],
)
def test_students_per_core_is_the_largest_quick_class_over_the_cores_it_can_use(
    classroom, slowest, per_core
):
    rows = [_row(n, 0.4, s, 500.0 + n) for n, s in zip((1, 3, 6), slowest, strict=True)]
    result = {"rows": rows, "cpus": 2, "threshold_s": 1.0, "busy": 0, "date": "d"}
    result.update(cpu_model="c", moves=5)
    classroom.summarise(result)
    assert result["students_per_core"] == pytest.approx(per_core)
    assert result["memory_per_student_mib"] == 506.0  # the largest student of any class size
    table = classroom.markdown(result)
    assert table.count("\n| ") == 4  # the header and a row per class size
    assert "under 1 s" in table
