"""Faults on a 3-server etcd cluster: losing the etcd leader while members crash mid-join."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import (
    Members,
    assert_conforms,
    assert_no_data_lost,
    converged,
    group_status,
    running_group,
    wait_for,
)

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
    with running_group(tmp_path, 3, RESOURCES) as group:
        yield group


def test_three_etcd_servers_eight_members_one_of_each_killed_mid_join(three_servers: Members) -> None:
    members, cluster = three_servers, three_servers.cluster
    ttl = 3  # no member may be declared failed while the two other etcd servers elect a leader
    first = members.start("m1", WIRING["m1"], ttl)
    wait_for(lambda: first.phase() == "member", 30, "the group to exist")
    joiners = [members.start(node, wiring, ttl) for node, wiring in WIRING.items() if node != "m1"]
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

    assert [j.node for j in joiners if j.process.poll() is not None] == [victim.node]  # no one else died
    status = group_status(cluster, "g")
    live = status["live"]
    assert isinstance(live, dict)
    assert sorted(live) == sorted(f"{j.node}#0" for j in [first, *joiners] if j is not victim)
    assert_no_data_lost(members)
    assert_conforms(members)
    assert all(r["step"] != "Crash" for r in victim.steps())  # killed: the merge synthesises its crash


def test_hosts_killed_while_concurrent_joiners_wait_at_each_phase(three_servers: Members) -> None:
    members, ttl = three_servers, 4  # a stopped process holds a join up for a second, well inside its lease
    a = members.start("m1", ("r0",), ttl)
    wait_for(lambda: a.phase() == "member", 30, "the group to exist")
    b = members.start("m2", ("r1",), ttl)
    members.start("m3", ("r0", "r2"), ttl)
    wait_for(lambda: converged(members), 60, "the backup host and a second primary-subgroup member")

    # A backup host killed while three joiners wait for the group state (the sponsor is stopped).
    a.signal(signal.SIGSTOP)
    waiting = [members.start(n, WIRING[n], ttl) for n in ("m4", "m5", "m6")]
    wait_for(lambda: all(j.phase() == "waitState" for j in waiting), 30, "three joiners waiting for the state")
    b.signal(signal.SIGKILL)
    a.signal(signal.SIGCONT)
    wait_for(lambda: converged(members), 60, "the joins to finish after the backup host's crash")

    # The primary host killed as soon as one of three concurrent joiners is placed but not yet active.
    joiners = [members.start(n, WIRING[n], ttl) for n in ("m7", "m8", "m2")]
    wait_for(
        lambda: any(j.phase() in ("waitPlace", "waitConfig") for j in joiners), 30, "a joiner past its placement", 0.005
    )
    a.signal(signal.SIGKILL)
    wait_for(lambda: converged(members), 60, "the joins to finish after the primary host's crash")

    state = group_status(members.cluster, "g")["state"]
    assert isinstance(state, dict)
    hosts = {s["resource"]: s["host"] for s in state["subgroups"]}
    assert hosts["r0"] == "m3"  # switchover to the next member of the primary subgroup
    assert all(hosts[r] is not None for r in RESOURCES)
    assert_no_data_lost(members)
    assert_conforms(members)
