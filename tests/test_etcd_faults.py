"""Faults on a 3-server etcd cluster: losing the etcd leader while members crash mid-join."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import (
    EtcdCluster,
    Members,
    Site,
    assert_conforms,
    assert_no_data_lost,
    converged,
    group_status,
    wait_for,
)

from pbjoin.etcd.security import define_group

RESOURCES = ("r0", "r1", "r2")
WIRING = {
    "m1": ("r0",),
    "m2": ("r1",),
    "m3": ("r0", "r2"),
    "m4": ("r2",),
    "m5": ("r1", "r2"),
    "m6": ("r0",),
    "m7": ("r1",),
    "m8": ("r2", "r0"),
}


@pytest.fixture
def three_servers(tmp_path: Path) -> Iterator[Members]:
    cluster = EtcdCluster(tmp_path, size=3)
    group = Members(cluster, Site(tmp_path, RESOURCES), "g", tmp_path)
    try:
        cluster.start()
        group.site.create()
        define_group(cluster.connection(), "g", RESOURCES)
        yield group
    finally:
        group.close()
        cluster.close()


def test_three_etcd_servers_eight_members_one_of_each_killed_mid_join(three_servers: Members) -> None:
    members, cluster = three_servers, three_servers.cluster
    first = members.start("m1", WIRING["m1"])
    wait_for(lambda: first.phase() == "member", 30, "the group to exist")
    joiners = [members.start(node, wiring) for node, wiring in WIRING.items() if node != "m1"]
    # Mid-join: as soon as one joiner has multicast its JOIN and not yet finished, kill it and the etcd leader.
    victim = None

    def someone_mid_join() -> bool:
        nonlocal victim
        victim = next((j for j in joiners if j.phase() in ("waitState", "waitPlace", "waitConfig")), None)
        return victim is not None

    wait_for(someone_mid_join, 60, "a joiner in the middle of its join", interval=0.005)
    assert victim is not None
    victim.signal(signal.SIGKILL)
    leader = cluster.leader()
    assert leader is not None
    cluster.kill(leader)
    assert len(cluster.urls) == 2
    wait_for(lambda: cluster.leader() not in (None, leader), 30, "the two remaining etcd servers to elect a leader")
    wait_for(lambda: converged(members), 90, "the group to converge on the two remaining etcd servers")

    status = group_status(cluster, "g")
    live = status["live"]
    assert isinstance(live, dict)
    assert sorted(live) == sorted(f"{j.node}#0" for j in [first, *joiners] if j is not victim)
    assert_no_data_lost(members)
    assert_conforms(members)
    assert all(r["step"] != "Crash" for r in victim.steps())  # killed: the merge synthesises its crash
