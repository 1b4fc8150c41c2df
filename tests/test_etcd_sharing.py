"""Groups share etcd: other groups and unrelated keys never block, slow or confuse a group."""

from __future__ import annotations

import signal
import threading
from functools import partial
from pathlib import Path

from etcd_cluster import (
    EtcdCluster,
    MemberProcess,
    Members,
    Site,
    assert_conforms,
    converged,
    group_status,
    host_of,
    wait_for,
)

from pbjoin.etcd.security import define_group

RESOURCES = ("r0", "r1")


def primary_of(members: Members) -> str:
    state = group_status(members.cluster, members.group)["state"]
    assert isinstance(state, dict)
    return str(state["primary"])


def is_member(p: MemberProcess) -> bool:
    return p.phase() == "member"


def failed_over(members: Members) -> bool:
    return primary_of(members) == "r1" and converged(members)


def test_two_groups_and_a_writer_of_unrelated_keys_share_one_etcd(tmp_path: Path) -> None:
    cluster = EtcdCluster(tmp_path, size=1)
    groups = {name: Members(cluster, Site(tmp_path / name, RESOURCES), name, tmp_path / name) for name in ("g", "h")}
    stop = threading.Event()
    written = [0]

    def unrelated_writer() -> None:
        conn = cluster.connection()
        while not stop.wait(0.02):
            conn.put(f"/unrelated/app/key{written[0] % 5}", b"x")
            written[0] += 1

    writer = threading.Thread(target=unrelated_writer, daemon=True)
    try:
        cluster.start()
        cluster.connection().put("/unrelated/app/before", b"x")  # written before any group exists
        for name, members in groups.items():
            members.site.create()
            define_group(cluster.connection(), name, RESOURCES)
        writer.start()
        for members in groups.values():
            first = members.start("a", ("r0",))
            wait_for(partial(is_member, first), 30, f"a to create group {members.group}")
            second = members.start("b", ("r1",))  # b joins r1 before c, so b is r1's host
            wait_for(partial(is_member, second), 30, f"b to join group {members.group}")
            members.start("c", ("r1",))
        for members in groups.values():
            wait_for(partial(converged, members), 60, f"group {members.group} to converge")
        for members in groups.values():  # a failover in each group: r0's only member dies, r1 becomes primary
            members.processes[0].signal(signal.SIGKILL)
        for members in groups.values():
            wait_for(partial(failed_over, members), 60, f"group {members.group} to fail over")
            assert host_of(members, "r1") == "b"
            assert assert_conforms(members) > 0
        assert written[0] > 20, "the unrelated writer did not run"
    finally:
        stop.set()
        for members in groups.values():
            members.close()
        cluster.close()
