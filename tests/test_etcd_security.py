"""etcd with TLS and authentication: only a node's own credentials let it join and speak.

Each refused attempt must leave the group exactly as it was: same ordered stream,
same group state, same live members.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import (
    PBJOIN,
    Members,
    assert_conforms,
    connection_as,
    converged,
    group_status,
    secured_group,
    wait_for,
)

from pbjoin.etcd.client import EtcdAccessDeniedError, EtcdConnection, EtcdError
from pbjoin.etcd.stream import Keys

RESOURCES = ("r0", "r1")
KEYS = Keys("g")


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Members]:
    with secured_group(tmp_path, RESOURCES, ["a", "b", "c"]) as members:
        yield members


def run_node(members: Members, node: str, *auth: str) -> subprocess.CompletedProcess[str]:
    args = [
        PBJOIN, "node", "--group", "g", "--node-id", node, "--etcd", members.cluster.etcd_arg,
        "--resource", str(members.site.path("r0")), "--node-dir", str(members.workdir / "intruder"),
        "--log", str(members.workdir / "intruder.jsonl"), *auth,
    ]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_only_a_node_s_own_credentials_let_it_join_and_nothing_else_disturbs_the_group(secured: Members) -> None:
    members = secured
    a = members.start("a", ("r0",))
    wait_for(lambda: a.phase() == "member", 30, "a to create the group over TLS with its credentials")
    b = members.start("b", ("r1",))
    wait_for(lambda: converged(members), 30, "b to join")
    b.signal(signal.SIGKILL)  # leaves old messages of a failed incarnation to replay
    wait_for(lambda: converged(members), 30, "the group to drop b")
    before = group_status(members.cluster, "g")
    ca = ("--ca", str(members.cluster.ca))
    intruder_log = members.workdir / "intruder.jsonl"

    attempts = {
        "no credentials": run_node(members, "c", *ca),
        "another node's identity": run_node(
            members, "c", *ca, "--user", "a", "--password-file", str(members.passwords["a"])
        ),
        "a wrong password": run_node(members, "c", *ca, "--password-file", str(members.passwords["b"])),
        "no CA to verify the servers": run_node(members, "c", "--password-file", str(members.passwords["c"])),
    }
    reasons = {
        "no credentials": "user name is empty",
        "another node's identity": "permission denied",
        "a wrong password": "authentication failed",
        "no CA to verify the servers": "TLS failed",
    }
    for what, result in attempts.items():
        assert result.returncode == 2, what
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, what
        assert reasons[what] in result.stderr, (what, result.stderr)
    assert not intruder_log.exists() or "step" not in intruder_log.read_text()

    # Writing as a node that has no user at all, and replaying b's old JOIN with b's own credentials.
    anonymous = EtcdConnection(members.cluster.urls, None, str(members.cluster.ca))
    with pytest.raises(EtcdAccessDeniedError):
        anonymous.put(KEYS.message("b", 1, 1, 0), b"{}")
    b_conn = connection_as(members, "b")
    _, old = b_conn.get_prefix(KEYS.message_prefix("b"))
    join = next(kv for kv in old if b'"JOIN"' in kv.value)
    b_conn.put(join.key, join.value)  # rewrite the old key
    b_conn.put(KEYS.message("b", 0, 99, 0), join.value)  # the old incarnation "speaks" again
    with pytest.raises(EtcdAccessDeniedError):
        b_conn.put(KEYS.message("a", 0, 99, 0), join.value)  # b writing as a
    with pytest.raises(EtcdError, match="permission denied"):
        b_conn.put(KEYS.config, b'{"resources": ["r1"]}')  # b redefining the group

    after = group_status(members.cluster, "g")
    assert after == before
    assert a.process.poll() is None
    assert_conforms(members)
