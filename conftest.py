"""Test tiers. ``pytest`` runs everything (CI); ``pytest -m "not slow and not browser"`` is the
contributor's quick tier: the core's tests without the notebooks (nbval), the graders that start
Jupyter kernels and the fresh-install and browser tests.

A test file joins the slow tier with ``pytestmark = pytest.mark.slow``; the notebook items that
nbval collects from ``lessons/`` and ``solutions/`` are marked here.
"""

import pytest

# `lowdim-course execute X.ipynb` saves X.executed.ipynb next to X: a run's output, never a test.
collect_ignore_glob = ["*.executed.ipynb"]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.path).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)
