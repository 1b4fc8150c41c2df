"""Suite-wide settings and shared fixtures; the tests that run real processes on timers are marked `real_processes`.

`make test` runs the rest of the suite on two workers (`pytest -n 2 -m "not real_processes"`),
then these one after another (`-m real_processes`). They start etcd servers and member
processes, wait on leases and deadlines, and restart etcd servers on the ports they had: run
beside each other, one test's server could take a port another had just freed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pbjoin.resources import create_resource

REAL_PROCESSES = ("test_etcd_", "test_soak", "test_campaign", "test_crash_mid_write")


def pytest_itemcollected(item: pytest.Item) -> None:
    if item.path.name.startswith(REAL_PROCESSES):
        item.add_marker(pytest.mark.real_processes)


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    """Two resource directories as `pbjoin resource init` makes them: r1 with a data file, r2 empty."""
    links = {r: tmp_path / "resources" / r for r in ("r1", "r2")}
    create_resource(links["r1"], "r1", "east", {"orders.csv": "1,disk\n"})
    create_resource(links["r2"], "r2", "west", {})
    return links
