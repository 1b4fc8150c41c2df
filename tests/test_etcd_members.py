"""Member processes over one real etcd server: joins, crashes, clean leaves, restarts, pauses.

Each test starts its own etcd on free loopback ports and member processes (`pbjoin
node`), drives them with signals, waits until the group converges, and then checks
every member's step log against the model (merged into one order) and that no
configuration version or mirrored data was lost.
"""

from __future__ import annotations

import base64
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from etcd_cluster import (
    MemberProcess,
    Members,
    assert_conforms,
    assert_no_data_lost,
    converged,
    group_status,
    log_records,
    running_group,
    wait_for,
)
from pbjoin_model.conformance.logs import conform_logs

from pbjoin.etcd.client import EtcdConnection
from pbjoin.etcd.node import EtcdNode
from pbjoin.etcd.stream import Keys
from pbjoin.resources import DirectoryDisks
from pbjoin.steplog import JsonLineLog

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


class KilledRightAfterCommit(BaseException):
    """The process dies the instant etcd applied its transaction: nothing after the commit runs."""


class DiesAfterSending:
    """A connection whose process is killed right after a transaction carrying a point-to-point message."""

    def __init__(self, conn: EtcdConnection, p2p_prefix: str) -> None:
        self.conn = conn
        self.p2p_prefix = p2p_prefix

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def txn(
        self, compare: list[dict[str, Any]], success: list[dict[str, Any]], resend: bool = True
    ) -> tuple[bool, int]:
        result = self.conn.txn(compare, success, resend)
        keys = [base64.b64decode(op["request_put"]["key"]).decode() for op in success if "request_put" in op]
        if result[0] and any(key.startswith(self.p2p_prefix) for key in keys):
            raise KilledRightAfterCommit
        return result


def test_a_host_killed_between_sending_and_logging_still_logged_the_send(members: Members) -> None:
    """Regression: a step that only sends was logged after its commit, so such a kill lost the send."""
    cluster = members.cluster
    log_path = members.workdir / "logs" / "a.jsonl"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    site = members.site
    disks = DirectoryDisks(members.workdir / "nodes" / "a", (site.path("r0"),), {r: site.path(r) for r in RESOURCES})
    log = JsonLineLog(log_path)
    host = EtcdNode(cluster.connection, "g", "a", disks, log, lease_ttl=2)
    host.conn = DiesAfterSending(host.conn, Keys("g").p2p_prefix("a"))  # type: ignore[assignment]
    killed: list[BaseException] = []

    def run_host() -> None:
        try:
            host.run()
        except KilledRightAfterCommit as exc:
            killed.append(exc)

    thread = threading.Thread(target=run_host, daemon=True)
    thread.start()
    wait_for(lambda: any(r.get("post", {}).get("phase") == "member" for r in read_steps(log_path)), 30, "the group")
    joiner = members.start("b", ("r0", "r1"))
    thread.join(60)
    assert killed, "the host never sent the joiner its group state"
    log.close()
    last = read_steps(log_path)[-1]
    assert (last["step"], [s["to"] for s in last["sent"]]) == ("Deliver", ["b"])
    wait_for(lambda: converged(members), 60, "the joiner to take over after the host's lease expired")
    report, steps = conform_logs([log_path, joiner.log])
    assert report.conforms, report.divergence and report.divergence.render()
    assert steps > len(read_steps(log_path))


def read_steps(path: Path) -> list[dict[str, Any]]:
    # Intents are copies logged before a step's commit; the step's later copy follows them.
    return [r for r in log_records(path) if r.get("record") == "step" and not r.get("intent")]
