"""The attack table: one node's own etcd credentials used against the group.

A thief holding node b's credentials can do what b's process may do, and nothing
more. Each row below is one attempt with b's credentials and its expected outcome:
refused by etcd itself (RBAC), or taken and ignored by every member (the stream
ignores the key, or the receiver's own view refuses the message) with the group
state unchanged. After the whole table the group is exactly as before, every member
still runs, the merged logs conform to the model, and a real failure of the primary
host still fails over, although b wrote a FAIL for it in advance.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from etcd_cluster import (
    MemberProcess,
    Members,
    assert_conforms,
    connection_as,
    converged,
    group_status,
    host_of,
    secured_group,
    wait_for,
)

from pbjoin.etcd.client import EtcdAccessDeniedError, EtcdConnection, b64, prefix_end
from pbjoin.etcd.stream import Keys
from pbjoin.wire import Access, ConfigMsg, Fail, GroupStateMsg, Join, StartMirror, encode

RESOURCES = ("r0", "r1")
KEYS = Keys("g")


@dataclass
class Scene:
    members: Members
    procs: dict[str, MemberProcess]
    thief: EtcdConnection  # b's credentials

    def inc(self, node: str) -> int:
        live = group_status(self.members.cluster, "g")["live"]
        assert isinstance(live, dict)
        return next(int(key.split("#")[1]) for key in live if key.split("#")[0] == node)

    def p2p(self, src: str, dst: str, value: bytes, step: int) -> None:
        key = KEYS.p2p(src, self.inc(src), dst, self.inc(dst), 90_000 + step, 0)
        self.thief.put(key, value)


def envelope(msg: ConfigMsg | StartMirror | GroupStateMsg) -> bytes:
    return json.dumps({"horizon": 0, "msg": encode(msg).decode()}).encode()


def refused_by(proc: MemberProcess, text: str) -> Callable[[], bool]:
    def seen() -> bool:
        return any(s["step"] in ("Refuse", "Discard") and text in str(s["notes"]) for s in proc.steps())

    return seen


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    with secured_group(tmp_path, RESOURCES, ["a", "b", "c", "d"]) as members:
        procs = {"a": members.start("a", ("r0",), lease_ttl=3)}
        wait_for(lambda: procs["a"].phase() == "member", 30, "a to create the group")
        for node, wiring in (("b", ("r0",)), ("c", ("r1",)), ("d", ("r0",))):
            procs[node] = members.start(node, wiring, lease_ttl=3)
            wait_for(lambda: converged(members), 60, f"{node} to join")
        yield Scene(members, procs, connection_as(members, "b"))


def test_one_node_s_credentials_cannot_disturb_the_group(scene: Scene) -> None:
    members, procs, thief = scene.members, scene.procs, scene.thief
    assert host_of(members, "r0") == "a" and host_of(members, "r1") == "c"
    before = group_status(members.cluster, "g")
    state = before["state"]
    assert isinstance(state, dict)
    ib = scene.inc("b")
    _, own = thief.get_prefix(KEYS.message_prefix("b"))
    join = next(kv for kv in own if b'"JOIN"' in kv.value)
    _, a_keys = thief.get_prefix(KEYS.message_prefix("a"))
    real_state = GroupStateMsg.model_validate({"state": _body(state), "position": int(str(before["position"]))})

    def denied(attempt: Callable[[], object]) -> Callable[[], None]:
        def row() -> None:
            with pytest.raises(EtcdAccessDeniedError, match="permission denied"):
                attempt()

        return row

    def ignored_by(receiver: str, text: str, write: Callable[[], None]) -> Callable[[], None]:
        def row() -> None:
            write()
            wait_for(refused_by(procs[receiver], text), 30, f"{receiver} to refuse: {text}")

        return row

    def lease_of(node: str) -> int:
        kv = thief.get(KEYS.member(node, scene.inc(node)))
        assert kv is not None
        return kv.lease

    table: dict[str, Callable[[], object]] = {
        "forged CONFIG from a member that is not the host": ignored_by(
            "d", "CONFIG for r0 from b: its host is a",
            lambda: scene.p2p("b", "d", envelope(ConfigMsg(resource="r0", version=9, data="evil")), 1),
        ),
        "forged CONFIG into another subgroup": ignored_by(
            "c", "CONFIG for r0 from b: this member is in the subgroup of r1",
            lambda: scene.p2p("b", "c", envelope(ConfigMsg(resource="r0", version=9, data="evil")), 2),
        ),
        "forged START_MIRROR from a member that is not the primary host": ignored_by(
            "c", "START_MIRROR for r1 from b: the primary host is a",
            lambda: scene.p2p("b", "c", envelope(StartMirror(resource="r1", production="r0")), 3),
        ),
        "forged GROUP_STATE (the real state, from a non-sponsor)": ignored_by(
            "c", "GROUP_STATE from b: the state it sends names a as the sponsor",
            lambda: scene.p2p("b", "c", envelope(real_state), 4),
        ),
        "garbage point-to-point value": ignored_by(
            "d", "rejected from b: malformed envelope", lambda: scene.p2p("b", "d", b"\x00garbage{", 5)
        ),
        "a point-to-point key naming another sender": denied(
            lambda: thief.put(KEYS.p2p("a", scene.inc("a"), "d", scene.inc("d"), 1, 0), b"{}")
        ),
        "a group message under another node's key": denied(
            lambda: thief.put(KEYS.message("a", scene.inc("a"), 99, 0), join.value)
        ),
        "another node's message copied under b's own key": lambda: thief.put(
            KEYS.message("b", ib, 90_001, 0), a_keys[-1].value
        ),
        "b's old JOIN replayed under a new key": lambda: thief.put(KEYS.message("b", ib, 90_002, 0), join.value),
        "a message of an incarnation that is not live": lambda: thief.put(
            KEYS.message("b", ib + 5, 1, 0), encode(Join(node="b", inc=ib + 5))
        ),
        "a point-to-point message of an incarnation that is not live": lambda: thief.put(
            KEYS.p2p("b", ib + 5, "d", scene.inc("d"), 1, 0), envelope(ConfigMsg(resource="r0", version=9, data="x"))
        ),
        "rewriting an existing key": lambda: thief.put(join.key, encode(Access(node="b", inc=ib, reaches=()))),
        "garbage group message": lambda: thief.put(KEYS.message("b", ib, 90_003, 0), b"not json"),
        "squatting another node's failure key": denied(
            lambda: thief.put(KEYS.fail("a", "a", scene.inc("a")), encode(Fail(node="a", inc=scene.inc("a"))))
        ),
        "a FAIL for the live primary host under b's own key": lambda: thief.put(
            KEYS.fail("b", "a", scene.inc("a")), encode(Fail(node="a", inc=scene.inc("a")))
        ),
        "an unleased member key": lambda: thief.put(KEYS.member("b", ib + 1), b'{"phase": "member", "step": 1}'),
        "deleting another member's liveness key": denied(
            lambda: thief.post("/kv/deleterange", {"key": b64(KEYS.member("a", scene.inc("a")))})
        ),
        "revoking another member's lease": denied(lambda: thief.revoke_lease(lease_of("a"))),
        "deleting the group prefix": denied(
            lambda: thief.post("/kv/deleterange", {"key": b64(KEYS.prefix), "range_end": b64(prefix_end(KEYS.prefix))})
        ),
        "rewriting the group definition": denied(lambda: thief.put(KEYS.config, b'{"resources": ["r1", "r0"]}')),
    }  # fmt: skip
    assert len(table) >= 12
    for what, attempt in table.items():
        try:
            attempt()
        except AssertionError as exc:
            raise AssertionError(f"{what}: {exc}") from None
        assert all(p.process.poll() is None for p in procs.values()), f"a member died after: {what}"

    wait_for(lambda: converged(members), 30, "the group to settle after the attacks")
    after = group_status(members.cluster, "g")
    assert after["state"] == before["state"] and after["position"] == before["position"]
    assert after["live"] == before["live"], "a phantom or missing member"
    assert assert_conforms(members) > 0

    procs["a"].signal(signal.SIGKILL)  # b's early FAIL for a must not block a's real one
    wait_for(lambda: host_of(members, "r0") == "b" and converged(members), 60, "b to take over r0 from a")
    assert assert_conforms(members) > 0


def _body(state: dict[str, object]) -> dict[str, object]:
    """The group state as GROUP_STATE carries it, from `pbjoin status --json`."""
    return {k: state[k] for k in ("primary", "subgroups", "members")}
