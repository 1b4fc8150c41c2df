"""A group left idle longer than etcd's auth token lifetime and the watch's read timeout still works."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from etcd_cluster import EtcdCluster, Members, Site, assert_conforms, converged, host_of, survivors, wait_for

RESOURCES = ("r0", "r1")
TOKEN_TTL = 2  # seconds; etcd's default is 300
IDLE = 20.0  # past several token lifetimes and the watch's 15 s read timeout


def test_an_idle_authenticated_group_survives_token_expiry_and_fails_over(tmp_path: Path) -> None:
    cluster = EtcdCluster(tmp_path, size=1, tls=True, extra_args=("--auth-token-ttl", str(TOKEN_TTL)))
    members = Members(cluster, Site(tmp_path, RESOURCES), "g", tmp_path)
    try:
        cluster.start()
        members.site.create()
        members.passwords = cluster.secure("g", RESOURCES, ["a", "b", "c"])
        a = members.start("a", ("r0",), lease_ttl=3)
        wait_for(lambda: a.phase() == "member", 30, "a to create the group")
        members.start("b", ("r0",), lease_ttl=3)
        members.start("c", ("r1",), lease_ttl=3)
        wait_for(lambda: converged(members), 60, "b and c to join")
        time.sleep(IDLE)
        assert len(survivors(members)) == 3, "a member died while the group was idle"
        a.signal(signal.SIGKILL)  # the primary host
        wait_for(lambda: host_of(members, "r0") == "b" and converged(members), 60, "b to replace the primary host")
        assert len(survivors(members)) == 2
        assert assert_conforms(members) > 0
    finally:
        members.close()
        cluster.close()
