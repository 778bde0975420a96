"""classroom/z2jh-config.yaml: Zero to JupyterHub values that fit the measured class.

The keys are where the Helm chart reads them (``singleuser.image.name`` and ``.tag``,
``singleuser.cpu.limit`` and ``.guarantee``, ``singleuser.memory.limit`` and ``.guarantee``,
``cull.enabled`` and ``.timeout``), and the resources agree with
benchmarks/results/classroom.json: each student is guaranteed at least the memory the largest
student used there, and at least the share of a core that kept every slider move under the
benchmark's threshold.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lowdim_course import links

yaml = pytest.importorskip("yaml", reason="pyyaml (it comes with Jupyter) reads the config")

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "classroom" / "z2jh-config.yaml"
MEASURED = ROOT / "benchmarks" / "results" / "classroom.json"
# JupyterHub's ByteSpecification (what KubeSpawner reads): units of 1024
UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def to_bytes(value) -> float:
    """``"1.5G"`` -> bytes, as JupyterHub reads a memory limit; ValueError for anything else."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT])", str(value))
    if match is None:
        raise ValueError(f"value must be a number with one of the suffixes K, M, G, T: {value!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


@pytest.fixture(scope="module")
def values() -> dict:
    return yaml.safe_load(CONFIG.read_text())


@pytest.fixture(scope="module")
def measured() -> dict:
    return json.loads(MEASURED.read_text())


def test_the_image_is_named_where_the_chart_reads_it_and_pins_the_links_ref(values):
    image = values["singleuser"]["image"]
    assert isinstance(image["name"], str) and "/" in image["name"] and ":" not in image["name"]
    assert str(image["tag"]) == links.PINNED_REF  # the image is the course at the links' ref


def test_memory_guarantee_holds_the_largest_measured_student(values, measured):
    memory = values["singleuser"]["memory"]
    guarantee, limit = to_bytes(memory["guarantee"]), to_bytes(memory["limit"])
    largest = max(row["memory_per_student_max_mib"] for row in measured["rows"]) * 2**20
    assert guarantee >= largest, f"guarantee {memory['guarantee']} < measured {largest / 2**20}M"
    assert limit >= 1.5 * guarantee  # headroom for a heavier lesson than the measured one


def test_cpu_guarantee_is_the_share_of_a_core_that_kept_sliders_quick(values, measured):
    cpu = values["singleuser"]["cpu"]
    assert 0 < cpu["guarantee"] <= cpu["limit"]
    assert measured["students_per_core"] > 0, "no class size kept every slider move quick"
    assert cpu["guarantee"] >= 1 / measured["students_per_core"] - 1e-9
    assert cpu["limit"] >= 1  # a kernel runs one thread: one core is what it can use


def test_idle_servers_are_culled(values):
    cull = values["cull"]
    assert cull["enabled"] is True and 0 < cull["timeout"] <= 4 * 3600 and cull["every"] > 0


def test_students_get_the_lesson_links_app_and_one_thread(values):
    single = values["singleuser"]
    assert single["defaultUrl"] == "/lab"
    assert single["extraEnv"]["OMP_NUM_THREADS"] == "1"


@pytest.mark.parametrize("text", ["2", "2GB", "G", "-1G", "1.5g"])
def test_a_memory_value_the_chart_would_not_read_is_an_error(text):
    with pytest.raises(ValueError, match="value must be a number"):
        to_bytes(text)
