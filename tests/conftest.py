"""Suite-wide settings: the tests that run real processes on timers are marked `real_processes`.

`make test` runs the rest of the suite on two workers (`pytest -n 2 -m "not real_processes"`),
then these one after another (`-m real_processes`). They start etcd servers and member
processes, wait on leases and deadlines, and restart etcd servers on the ports they had: run
beside each other, one test's server could take a port another had just freed.
"""

from __future__ import annotations

import pytest

REAL_PROCESSES = ("test_etcd_", "test_soak", "test_campaign", "test_crash_mid_write")


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.path.name.startswith(REAL_PROCESSES):
        item.add_marker(pytest.mark.real_processes)
