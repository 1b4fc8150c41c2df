"""The data path over etcd: client writes and reads through the primary host, synchronous
mirroring to the backup hosts over etcd, failover, and what every copy holds afterwards.

Each test runs real etcd and member processes (`pbjoin node`) and a client
(`GroupClient`, or the `pbjoin write`/`pbjoin read` commands), then reads every resource's
copy from its directory and merges the members' step logs against the model.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import PBJOIN, Members, assert_conforms, converged, group_status, running_group, wait_for

from pbjoin.etcd.client import key_absent, put_op
from pbjoin.etcd.group_client import GroupClient, Result
from pbjoin.etcd.status import etcd_status
from pbjoin.etcd.stream import Keys
from pbjoin.resources import read_copy_file
from pbjoin.wire import ClientRequest, decode_answer, encode

RESOURCES = ("r0", "r1", "r2")


@pytest.fixture
def members(tmp_path: Path) -> Iterator[Members]:
    with running_group(tmp_path, 1, RESOURCES) as group:
        yield group


def formed(members: Members) -> None:
    """a hosts the primary r0, b and c the backups; no shared replication network (no --link)."""
    a = members.start("a", ("r0",), links=False)
    wait_for(lambda: a.phase() == "member", 30, "the first member to create the group")
    members.start("b", ("r1",), links=False)
    members.start("c", ("r2",), links=False)
    wait_for(lambda: converged(members) and mirrors_active(members), 60, "b and c to join and mirror r0")


def mirrors_active(members: Members) -> bool:
    state = group_status(members.cluster, members.group)["state"]
    assert isinstance(state, dict)
    return all(s["mirror"] in ("none", "active") for s in state["subgroups"])


def client(members: Members, name: str = "app", timeout: float = 15.0) -> GroupClient:
    return GroupClient(members.cluster.connection(), members.group, name, RESOURCES, timeout)


def copy_ids(members: Members, resource: str) -> list[str]:
    return [w.id for w in read_copy_file(members.site.path(resource) / "copy.json").writes]


def test_an_acknowledged_write_is_on_the_production_copy_and_every_mirror(members: Members) -> None:
    formed(members)
    app = client(members)
    results = [app.write(f"k{i}", f"v{i}") for i in range(5)]
    assert [r.status for r in results] == ["acked"] * 5, results
    assert [r.position for r in results] == [1, 2, 3, 4, 5]
    acked = [r.write_id for r in results]
    for resource in RESOURCES:
        assert copy_ids(members, resource) == acked, resource
    assert app.read("k3").value == "v3"
    assert app.read("never").status == "value" and app.read("never").value is None
    # pbjoin status shows each copy as its host published it: writes held, fence, epoch, lag
    status = json.loads(etcd_status(members.cluster.etcd_arg, members.group, as_json=True))
    production = status["copies"]["r0"]
    assert production["writes"] == 5 and production["pending"] == 0 and production["epoch"] == production["fence"] >= 1
    assert {r: (c["writes"], c["lag"]) for r, c in status["copies"].items() if r != "r0"} == {
        "r1": (5, 0),
        "r2": (5, 0),
    }
    assert "copy 5 writes, fence 1, lag 0" in etcd_status(members.cluster.etcd_arg, members.group)
    assert_conforms(members)


def test_a_node_that_is_not_the_primary_host_refuses_and_names_the_one_that_is(members: Members) -> None:
    formed(members)
    conn, keys = members.cluster.connection(), Keys(members.group)
    request = ClientRequest(op="write", id="direct-1", key="k", value="v")
    where = keys.request("app", "b", "direct-1")
    conn.txn([key_absent(where)], [put_op(where, encode(request))])
    answer_key = keys.answer("b", "app", "direct-1")
    wait_for(lambda: conn.get(answer_key) is not None, 15, "b's answer")
    kv = conn.get(answer_key)
    assert kv is not None
    answer = decode_answer(kv.value)
    assert (answer.status, answer.primary) == ("refused", "a"), answer
    assert "b is not the primary host; a is" in answer.reason
    for resource in RESOURCES:
        assert copy_ids(members, resource) == []
    # The client library follows the refusal to the primary host.
    app = client(members)
    app.primary = "c"
    result = app.write("k", "v")
    assert (result.status, result.node, result.attempts) == ("acked", "a", 2), result


def test_a_malformed_request_is_refused_and_changes_nothing(members: Members) -> None:
    formed(members)
    conn, keys = members.cluster.connection(), Keys(members.group)
    for request_id, raw in (
        ("bad-1", b"not json"),
        ("bad-2", b'{"v":1,"kind":"REQUEST","op":"write","id":"bad-2","key":"k"}'),
        ("bad-3", b'{"v":1,"kind":"REQUEST","op":"write","id":"other","key":"k","value":"v"}'),
    ):
        conn.put(keys.request("app", "a", request_id), raw)
        answer_key = keys.answer("a", "app", request_id)
        wait_for(lambda: conn.get(answer_key) is not None, 15, "a's answer")  # noqa: B023
        kv = conn.get(answer_key)
        assert kv is not None and decode_answer(kv.value).status == "refused"
    assert copy_ids(members, "r0") == []
    assert all(p.process.poll() is None for p in members.processes)
    assert_conforms(members)


def test_writes_survive_the_primary_hosts_crash_and_go_on_at_the_next(members: Members) -> None:
    formed(members)
    app = client(members)
    before = [app.write(f"before{i}", "x") for i in range(3)]
    assert all(r.status == "acked" for r in before)
    a = members.processes[0]
    a.signal(signal.SIGKILL)
    a.process.wait()
    # r0 has no other member, so r1 (b) takes over as production; its copy holds every acked write.
    # A write sent to a before its lease ran out has no answer: unknown, and not in any copy.
    after: list[Result] = []
    unanswered: list[Result] = []
    while len(after) < 3:
        result = app.write(f"after{len(after)}", "y")
        assert result.status != "refused", result
        (after if result.status == "acked" else unanswered).append(result)
        assert len(unanswered) < 5, unanswered
    assert {r.node for r in after} == {"b"} and {r.node for r in unanswered} <= {"a"}
    state = group_status(members.cluster, members.group)["state"]
    assert isinstance(state, dict) and state["primary"] == "r1"
    acked = [r.write_id for r in before + after]
    assert copy_ids(members, "r1") == acked
    assert copy_ids(members, "r2") == acked
    assert copy_ids(members, "r0") == [r.write_id for r in before]  # a was killed: nothing more reached it
    assert all(r.epoch > before[0].epoch for r in after)
    assert_conforms(members)


def test_pbjoin_write_and_read_commands(members: Members) -> None:
    formed(members)
    base = ["--etcd", members.cluster.etcd_arg, "--group", members.group, "--client-id", "ops"]
    wrote = subprocess.run([PBJOIN, "write", "colour", "blue", *base], capture_output=True, text=True, timeout=60)
    assert wrote.returncode == 0, wrote.stderr
    assert " acked by a at position 1, epoch " in wrote.stdout
    read = subprocess.run([PBJOIN, "read", "colour", *base, "--json"], capture_output=True, text=True, timeout=60)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["value"] == "blue"
    bad = subprocess.run([PBJOIN, "write", "bad key", "v", *base], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "key must match" in bad.stderr


def test_over_tls_and_authentication_a_client_writes_only_its_own_requests(tmp_path: Path) -> None:
    from etcd_cluster import secured_group

    from pbjoin.etcd.client import Credentials, EtcdAccessDeniedError, EtcdConnection
    from pbjoin.etcd.security import add_client_user

    with secured_group(tmp_path, RESOURCES, ["a", "b"]) as members:
        add_client_user(members.cluster.connection(), "g", "app", "app-secret")
        a = members.start("a", ("r0",), links=False)
        wait_for(lambda: a.phase() == "member", 30, "a to create the group")
        members.start("b", ("r1",), links=False)
        wait_for(lambda: converged(members) and mirrors_active(members), 60, "b to join and mirror r0")
        ca = str(members.cluster.ca)
        as_app = EtcdConnection(members.cluster.urls, Credentials("app", "app-secret"), ca)
        result = GroupClient(as_app, "g", "app", RESOURCES, 15).write("k", "v")
        assert result.status == "acked", result
        assert copy_ids(members, "r1") == [result.write_id]
        keys = Keys("g")
        request = encode(ClientRequest(op="write", id="forged", key="k", value="x"))
        with pytest.raises(EtcdAccessDeniedError):  # another client's request
            as_app.put(keys.request("other", "a", "forged"), request)
        with pytest.raises(EtcdAccessDeniedError):  # an answer in a node's name
            as_app.put(keys.answer("a", "app", "forged"), b"{}")
        as_b = EtcdConnection(members.cluster.urls, Credentials("b", members.passwords["b"].read_text()), ca)
        with pytest.raises(EtcdAccessDeniedError):  # a node answering in another node's name
            as_b.put(keys.answer("a", "app", "forged"), b"{}")
        with pytest.raises(EtcdAccessDeniedError):  # a node posing as a client
            as_b.put(keys.request("app", "a", "forged"), request)
        assert copy_ids(members, "r0") == [result.write_id]
        assert_conforms(members)


@pytest.mark.parametrize("damage", ["removed", "corrupted"])
def test_the_production_directory_lost_under_live_members_fails_over_to_the_mirror(
    members: Members, tmp_path: Path, damage: str
) -> None:
    """Issue 19: r0's directory vanishes (or its identity file is overwritten) while a (its host)
    stays up; a reports RES_FAIL, the group fails over to the synchronised mirror r1, every
    acknowledged write is there; r0 put back is reported repaired and resynchronised as a backup;
    the merged logs conform to the model."""
    formed(members)
    app = client(members)
    before = [app.write(f"k{i}", f"v{i}") for i in range(3)]
    assert [r.status for r in before] == ["acked"] * 3, before
    production = members.site.path("r0")
    identity = (production / "identity.json").read_bytes()
    if damage == "removed":
        production.rename(tmp_path / "r0-away")
    else:
        (production / "identity.json").write_text('{"resource": "r0", "site": "x", "id": "another disk"}')

    def failed_over() -> bool:
        state = group_status(members.cluster, members.group)["state"]
        assert isinstance(state, dict)
        return state["primary"] == "r1" and state["lost"] == ["r0"] and mirrors_active(members)

    wait_for(failed_over, 30, "the group to fail over from the lost r0 to r1")
    assert copy_ids(members, "r1")[:3] == [r.write_id for r in before]
    after = app.write("k3", "v3")
    assert after.status == "acked" and copy_ids(members, "r1") == [*(r.write_id for r in before), after.write_id]
    assert app.read("k1").value == "v1"
    if damage == "removed":
        (tmp_path / "r0-away").rename(production)
    else:
        (production / "identity.json").write_bytes(identity)

    def repaired() -> bool:
        state = group_status(members.cluster, members.group)["state"]
        assert isinstance(state, dict)
        r0 = next(s for s in state["subgroups"] if s["resource"] == "r0")
        return bool(state["lost"] == [] and r0["mirror"] == "active")

    wait_for(repaired, 30, "r0 to be reported repaired and resynchronised from r1")
    assert copy_ids(members, "r0") == copy_ids(members, "r1")
    assert_conforms(members)
