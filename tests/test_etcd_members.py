"""Member processes over one real etcd server: joins, crashes, clean leaves, restarts, pauses.

Each test starts its own etcd on free loopback ports and member processes (`pbjoin
node`), drives them with signals, waits until the group converges, and then checks
every member's step log against the model (merged into one order) and that no
configuration version or mirrored data was lost.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import (
    MemberProcess,
    Members,
    assert_conforms,
    assert_no_data_lost,
    converged,
    group_status,
    running_group,
    wait_for,
)

RESOURCES = ("r0", "r1", "r2")


def configs(member: MemberProcess) -> object:
    steps = member.steps()
    return steps[-1]["post"]["configs"] if steps else None  # type: ignore[index]


@pytest.fixture
def members(tmp_path: Path) -> Iterator[Members]:
    with running_group(tmp_path, 1, RESOURCES) as group:
        yield group


def test_members_join_fail_over_leave_and_rejoin(members: Members) -> None:
    a = members.start("a", ("r0",))
    wait_for(lambda: a.phase() == "member", 30, "the first member to create the group")
    b, c, d = members.start("b", ("r1",)), members.start("c", ("r2",)), members.start("d", ("r0", "r1"))
    wait_for(lambda: converged(members), 60, "three concurrent joins")
    state = group_status(members.cluster, "g")["state"]
    assert isinstance(state, dict)
    assert [(s["resource"], s["host"], s["mirror"]) for s in state["subgroups"]] == [
        ("r0", "a", "none"),
        ("r1", "b", "active"),
        ("r2", "c", "active"),
    ]

    # The primary host writes configuration version 2 and sends it to d; the backup hosts do the same alone.
    for host in (a, b, c):
        host.signal(signal.SIGUSR1)
    wait_for(lambda: configs(d) == {"r0": 2} and configs(a) == {"r0": 2}, 30, "configuration v2 to reach d")
    a.signal(signal.SIGKILL)  # the primary host crashes: d takes over the primary resource
    c.signal(signal.SIGTERM)  # a backup host leaves cleanly
    assert c.process.wait(30) == 0
    wait_for(lambda: converged(members), 60, "switchover after the primary host's crash")
    a2 = members.start("a", ("r0",))  # the crashed node comes back as a new incarnation
    wait_for(lambda: converged(members), 60, "the restarted node to rejoin")

    status = group_status(members.cluster, "g")
    assert status["live"] == {"a#1": "member", "b#0": "member", "d#0": "member"}
    state = status["state"]
    assert isinstance(state, dict)
    assert [(s["resource"], s["host"], s["members"]) for s in state["subgroups"]] == [
        ("r0", "d", ["d", "a"]),
        ("r1", "b", ["b"]),
        ("r2", None, []),
    ]
    assert a2.process.poll() is None and b.process.poll() is None and d.process.poll() is None
    assert configs(a2) == {"r0": 2} and configs(b) == {"r1": 2}  # no configuration version was lost
    assert_no_data_lost(members)
    steps = assert_conforms(members)
    assert steps > 40


def test_kills_while_joiners_wait_for_the_group_state_and_for_their_configuration(members: Members) -> None:
    # Leases of 4 s let a stopped process hold up a join for a second without being declared failed.
    ttl = 4
    a = members.start("a", ("r0",), ttl)
    wait_for(lambda: a.phase() == "member", 30, "the group to exist")
    members.start("b", ("r0", "r1"), ttl)
    c = members.start("c", ("r1",), ttl)
    wait_for(lambda: converged(members), 60, "b and c to join")

    # A joiner killed while it waits for the group state (its sponsor, the primary host, is stopped).
    a.signal(signal.SIGSTOP)
    j1 = members.start("j1", ("r1",), ttl)
    wait_for(lambda: j1.phase() == "waitState", 30, "j1 to wait for the group state")
    j1.signal(signal.SIGKILL)
    # The sponsor itself killed while a joiner waits for the group state from it.
    j2 = members.start("j2", ("r0",), ttl)
    wait_for(lambda: j2.phase() == "waitState", 30, "j2 to wait for the group state")
    a.signal(signal.SIGKILL)
    a.signal(signal.SIGCONT)
    wait_for(lambda: converged(members), 60, "j2 to join through the new primary host b")

    # A joiner killed while it waits for its configuration (the host of r1 is stopped).
    c.signal(signal.SIGSTOP)
    j3 = members.start("j3", ("r1",), ttl)
    wait_for(lambda: j3.phase() == "waitConfig", 30, "j3 to wait for its configuration")
    j3.signal(signal.SIGKILL)
    # The host killed while a joiner waits for its configuration: the joiner becomes the host.
    j4 = members.start("j4", ("r1",), ttl)
    wait_for(lambda: j4.phase() == "waitConfig", 30, "j4 to wait for its configuration")
    c.signal(signal.SIGKILL)
    c.signal(signal.SIGCONT)
    wait_for(lambda: converged(members), 60, "j4 to take over r1")

    state = group_status(members.cluster, "g")["state"]
    assert isinstance(state, dict)
    assert [(s["resource"], s["host"], s["members"], s["mirror"]) for s in state["subgroups"]] == [
        ("r0", "b", ["b", "j2"], "none"),
        ("r1", "j4", ["j4"], "active"),
        ("r2", None, [], "none"),
    ]
    assert_no_data_lost(members)
    assert_conforms(members)


def test_a_member_paused_past_its_lease_is_failed_and_its_node_rejoins(members: Members) -> None:
    a = members.start("a", ("r0",), 1)
    wait_for(lambda: a.phase() == "member", 30, "the group to exist")
    b = members.start("b", ("r0", "r1"), 1)
    wait_for(lambda: converged(members), 60, "b to join")
    b.signal(signal.SIGSTOP)
    wait_for(lambda: converged(members, paused=(b,)), 30, "the group to drop b once its lease expired")
    b.signal(signal.SIGCONT)
    assert b.process.wait(30) == 1  # it finds itself declared failed and stops
    assert "crashed" in b.stderr.read_text()
    members.start("b", ("r0", "r1"), 1)
    wait_for(lambda: converged(members), 60, "b's new incarnation to join")
    assert group_status(members.cluster, "g")["live"] == {"a#0": "member", "b#1": "member"}
    assert_no_data_lost(members)
    assert_conforms(members)
