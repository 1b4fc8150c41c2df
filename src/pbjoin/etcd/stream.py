"""The group's ordered stream, as every member computes it from etcd's history.

All of a group's keys live under `/pbjoin/<group>/`; a member watches that whole
prefix from revision 1 and feeds every change, in revision order, to a `GroupStream`.
The stream is a pure function of that history, so every member (and `pbjoin status`)
computes the same one:

- `members/<node>/<inc>`: an incarnation's liveness key, bound to its lease; its value
  is the member's published phase.
- `log/by/<node>/<inc>/<step>-<k>`: a group message multicast by that incarnation.
- `log/fail/<writer>/<node>/<inc>`: the FAIL of that incarnation, written once its
  liveness key is gone (by itself on a clean leave, else by the survivors, each under
  its own name: the first valid one counts, so nobody can take another's place).
- `p2p/<from>/<from_inc>/<to>/<to_inc>/<step>-<k>`: a point-to-point message (a group
  channel's, or a data channel's WRITE or ACK: the envelope says which).
- `requests/<client>/<node>/<id>`: a client's write or read, addressed to one node.
- `answers/<node>/<client>/<id>`: that node's answer, committed in the transaction of the
  step that decided it, so only a live incarnation can ever answer.

A group message takes the next position in the total order only if it is *valid*:
created (never an overwrite), under its author's own key, by an incarnation whose
liveness key exists at that revision (a replay by an older incarnation, or anything
written after its lease expired, is ignored), and for FAIL: the incarnation was in the
group and its liveness key is gone. Keys are written with create-only transactions,
and etcd's RBAC lets a node write only its own `members/`, `log/by/`, `log/fail/` and
`p2p/` keys, so no node can speak for another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pbjoin.etcd.client import KeyValue, WatchEvent
from pbjoin.group import GroupState, StreamStates
from pbjoin.wire import Fail, Join, MalformedMessageError, OrderedMsg, decode_ordered

IN_GROUP_PHASES = ("waitState", "waitPlace", "waitConfig", "member")
VIEW_PHASES = ("waitPlace", "waitConfig", "member")


def group_prefix(group: str) -> str:
    return f"/pbjoin/{group}/"


@dataclass(frozen=True)
class Keys:
    """Key names of one group."""

    group: str

    @property
    def prefix(self) -> str:
        return group_prefix(self.group)

    @property
    def config(self) -> str:
        return f"{self.prefix}config"

    def member(self, node: str, inc: int) -> str:
        return f"{self.prefix}members/{node}/{inc}"

    def member_prefix(self, node: str) -> str:
        return f"{self.prefix}members/{node}/"

    def message(self, node: str, inc: int, step: int, k: int) -> str:
        return f"{self.prefix}log/by/{node}/{inc}/{step:08d}-{k}"

    def message_prefix(self, node: str) -> str:
        return f"{self.prefix}log/by/{node}/"

    def fail(self, writer: str, node: str, inc: int) -> str:
        return f"{self.prefix}log/fail/{writer}/{node}/{inc}"

    def fail_prefix(self, writer: str) -> str:
        return f"{self.prefix}log/fail/{writer}/"

    @property
    def recovery(self) -> str:
        """Touched by every RecoverGroupState, so two concurrent recoveries conflict."""
        return f"{self.prefix}recovery"

    def p2p(self, src: str, src_inc: int, dst: str, dst_inc: int, step: int, k: int) -> str:
        return f"{self.prefix}p2p/{src}/{src_inc}/{dst}/{dst_inc}/{step:08d}-{k}"

    def p2p_prefix(self, node: str) -> str:
        return f"{self.prefix}p2p/{node}/"

    def request(self, client: str, node: str, request_id: str) -> str:
        return f"{self.prefix}requests/{client}/{node}/{request_id}"

    def request_prefix(self, client: str) -> str:
        return f"{self.prefix}requests/{client}/"

    def answer(self, node: str, client: str, request_id: str) -> str:
        return f"{self.prefix}answers/{node}/{client}/{request_id}"

    def answer_prefix(self, node: str) -> str:
        return f"{self.prefix}answers/{node}/"


@dataclass(frozen=True)
class Direct:
    """A point-to-point message as it sits in etcd: who sent it, to whom, and when."""

    src: str
    src_inc: int
    dst: str
    dst_inc: int
    revision: int
    value: bytes


@dataclass(frozen=True)
class Request:
    """A client's request as it sits in etcd (its value is decoded by the node that takes it)."""

    client: str
    node: str
    id: str
    revision: int
    value: bytes


@dataclass
class LiveMember:
    phase: str
    lease: int
    create_revision: int
    mod_revision: int
    copy: CopySummary | None = None  # the copy it hosts, as it last published it


@dataclass(frozen=True)
class CopySummary:
    """A host's copy as published in its liveness key: for status only, never for decisions."""

    resource: str
    writes: int
    fence: int
    epoch: int
    pending: int

    @classmethod
    def parse(cls, raw: object) -> CopySummary | None:
        if not isinstance(raw, dict):
            return None
        try:
            resource, numbers = raw["resource"], [raw[k] for k in ("writes", "fence", "epoch", "pending")]
        except KeyError:
            return None
        if not isinstance(resource, str) or not all(isinstance(x, int) and x >= 0 for x in numbers):
            return None
        return cls(resource, *numbers)


Incarnation = tuple[str, int]


@dataclass
class GroupStream:
    group: str
    ordered: list[OrderedMsg] = field(default_factory=list)
    revisions: list[int] = field(default_factory=list)  # etcd revision of each position
    live: dict[Incarnation, LiveMember] = field(default_factory=dict)
    last_phase: dict[Incarnation, str] = field(default_factory=dict)
    joined: dict[str, int] = field(default_factory=dict)  # node -> its latest incarnation with a JOIN
    failed: dict[Incarnation, int] = field(default_factory=dict)  # -> position of its FAIL
    needs_fail: set[Incarnation] = field(default_factory=set)
    inbox_of: str | None = None  # keep only the point-to-point messages to this node
    direct: list[Direct] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)  # to inbox_of (every node's if None)
    recovery_revision: int = 0  # mod revision of the recovery key (0: never written)
    ignored: list[str] = field(default_factory=list)  # why a write was not taken, for the logs
    revision: int = 0  # last revision applied

    @property
    def keys(self) -> Keys:
        return Keys(self.group)

    # ------------------------------------------------------------ queries

    def next_incarnation(self, node: str) -> int:
        last = self.joined.get(node)
        return 0 if last is None else last + 1

    def in_group(self, inc: Incarnation) -> bool:
        """Joined and not failed (as far as the stream goes)."""
        node, number = inc
        return self.joined.get(node) == number and inc not in self.failed

    def fail_revision(self, inc: Incarnation) -> int | None:
        position = self.failed.get(inc)
        return None if position is None else self.revisions[position]

    def group_state(self, resources: tuple[str, ...]) -> GroupState:
        return StreamStates(resources).at(len(self.ordered), self.ordered.__getitem__)

    # ------------------------------------------------------------ applying etcd's history

    def apply(self, batch: list[WatchEvent]) -> None:
        """The changes of one revision, in the order of the transaction's operations.

        A revision already applied is skipped: a watch that reconnects may hand out its
        last revision again, and applying it twice would append its messages twice.
        """
        if batch[0].kv.mod_revision <= self.revision:
            self.ignored.append(f"ignored revision {batch[0].kv.mod_revision} again: already applied")
            return
        for event in batch:
            self._apply(event)
        self.revision = batch[0].kv.mod_revision

    def apply_snapshot_key(self, kv: KeyValue) -> None:
        self._apply(WatchEvent(deleted=False, kv=kv))

    def _apply(self, event: WatchEvent) -> None:
        kv = event.kv
        rest = kv.key[len(self.keys.prefix) :].split("/")
        try:
            if rest == ["recovery"]:
                self.recovery_revision = 0 if event.deleted else kv.mod_revision
            elif rest[0] == "members" and len(rest) == 3:
                self._member_key((rest[1], int(rest[2])), event)
            elif event.deleted or kv.version != 1:
                if rest[0] in ("log", "p2p", "requests"):
                    self.ignored.append(f"ignored a rewrite or deletion of {kv.key}")
            elif rest[:2] == ["log", "by"] and len(rest) == 5:
                self._message((rest[2], int(rest[3])), kv)
            elif rest[:2] == ["log", "fail"] and len(rest) == 5:
                self._fail((rest[3], int(rest[4])), kv)
            elif rest[0] == "p2p" and len(rest) == 6:
                self._p2p(rest, kv)
            elif rest[0] == "requests" and len(rest) == 4 and self.inbox_of in (None, rest[2]):
                self.requests.append(Request(rest[1], rest[2], rest[3], kv.mod_revision, kv.value))
        except ValueError:
            self.ignored.append(f"ignored {kv.key}: not a key of this protocol")

    def _member_key(self, inc: Incarnation, event: WatchEvent) -> None:
        if event.deleted:
            self.live.pop(inc, None)
            if self.in_group(inc) and self.last_phase.get(inc) in IN_GROUP_PHASES:
                self.needs_fail.add(inc)
            return
        kv = event.kv
        if kv.lease == 0:
            # Every incarnation binds its key to its lease; one without a lease would be a
            # member nothing could ever declare failed, so it is no member at all.
            self.live.pop(inc, None)
            return
        try:
            value = json.loads(kv.value)
            phase = str(value["phase"])
        except (ValueError, KeyError, TypeError):
            value, phase = {}, "out"
        copy_ = CopySummary.parse(value.get("copy"))
        self.live[inc] = LiveMember(phase, kv.lease, kv.create_revision, kv.mod_revision, copy_)
        self.last_phase[inc] = phase

    def _append(self, msg: OrderedMsg, revision: int) -> None:
        self.ordered.append(msg)
        self.revisions.append(revision)

    def _message(self, inc: Incarnation, kv: KeyValue) -> None:
        if inc not in self.live:
            self.ignored.append(f"ignored {kv.key}: incarnation {inc[0]}#{inc[1]} is not live")
            return
        try:
            msg = decode_ordered(kv.value)
        except MalformedMessageError as exc:
            self.ignored.append(f"ignored {kv.key}: {exc}")
            return
        if (msg.node, msg.inc) != inc or isinstance(msg, Fail):
            self.ignored.append(f"ignored {kv.key}: {msg.kind} for {msg.node}#{msg.inc} under another author's key")
            return
        if isinstance(msg, Join):
            previous = self.joined.get(msg.node)
            if msg.inc != self.next_incarnation(msg.node) or (
                previous is not None and (msg.node, previous) not in self.failed
            ):
                self.ignored.append(f"ignored {kv.key}: JOIN of an out-of-turn incarnation")
                return
            self.joined[msg.node] = msg.inc
        elif not self.in_group(inc):
            self.ignored.append(f"ignored {kv.key}: {inc[0]}#{inc[1]} is not in the group")
            return
        self._append(msg, kv.mod_revision)

    def _fail(self, inc: Incarnation, kv: KeyValue) -> None:
        expected = Fail(node=inc[0], inc=inc[1])
        try:
            msg = decode_ordered(kv.value)
        except MalformedMessageError as exc:
            self.ignored.append(f"ignored {kv.key}: {exc}")
            return
        if msg != expected:
            self.ignored.append(f"ignored {kv.key}: it holds {msg.kind} for {msg.node}#{msg.inc}")
            return
        if inc not in self.needs_fail:
            # Its liveness key is still there (or its FAIL already counted): a FAIL written
            # early takes nothing from anyone, since every writer has keys of its own.
            self.ignored.append(f"ignored {kv.key}: {inc[0]}#{inc[1]} is live or already failed")
            return
        self.needs_fail.discard(inc)
        self.failed[inc] = len(self.ordered)
        self._append(msg, kv.mod_revision)

    def _p2p(self, parts: list[str], kv: KeyValue) -> None:
        src = (parts[1], int(parts[2]))
        if self.inbox_of is not None and parts[3] != self.inbox_of:
            return
        if src not in self.live:
            self.ignored.append(f"ignored {kv.key}: sender {src[0]}#{src[1]} is not live")
            return
        self.direct.append(Direct(src[0], src[1], parts[3], int(parts[4]), kv.mod_revision, kv.value))
