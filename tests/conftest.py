"""Suite-wide settings: the tests that run real processes on timers share one xdist worker.

`make test` runs the suite on two workers (`pytest -n 2 --dist loadgroup`). Tests that
start etcd servers and member processes wait on leases and deadlines: they run one after
another on one worker, so that at most one such group competes with the other worker's
model checking for the machine's cores. Run without xdist, the marks change nothing.
"""

from __future__ import annotations

import pytest

REAL_PROCESSES = ("test_etcd_", "test_soak", "test_campaign", "test_crash_mid_write")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name.startswith(REAL_PROCESSES):
            item.add_marker(pytest.mark.xdist_group("real-processes"))
