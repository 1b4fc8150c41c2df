"""The replicated group state and the deterministic effect of each ordered message.

Every member applies the same ordered messages in the same order to its copy, so
members that have delivered the same prefix hold the same group state: every
decision (placement, host replacement, failover) is a function of the copy alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pbjoin.wire import (
    Access,
    Fail,
    GroupStateBody,
    GroupStateMsg,
    Join,
    JoinDone,
    MemberRecord,
    MirrorActive,
    OrderedMsg,
    ResFail,
    ResRepair,
    SubgroupState,
)

MirrorStatus = Literal["none", "syncing", "active"]
MemberStatus = Literal["joining", "placed", "active"]


@dataclass
class Member:
    inc: int
    status: MemberStatus
    reaches: tuple[str, ...] = ()


@dataclass
class GroupState:
    """One member's copy of the group state."""

    resources: tuple[str, ...]  # managed resources in failover-preference order
    primary: str
    subgroups: dict[str, list[str]]  # per resource: members in join order
    host: dict[str, str | None]
    mirror: dict[str, MirrorStatus]
    members: dict[str, Member] = field(default_factory=dict)  # present members only
    # Resources whose failure the group has delivered (RES_FAIL), with no RES_REPAIR since.
    lost: set[str] = field(default_factory=set)
    # Per resource: its mirroring round. A repair of it or of the production copy, and a
    # failover on a resource failure, start a new round; a START_MIRROR and the MIRROR_ACTIVE
    # answering it name their round, and one of an earlier round counts for nothing.
    rounds: dict[str, int] = field(default_factory=dict)

    @classmethod
    def initial(cls, resources: tuple[str, ...]) -> GroupState:
        return cls(
            resources=resources,
            primary=resources[0],
            subgroups={r: [] for r in resources},
            host=dict.fromkeys(resources),
            mirror=dict.fromkeys(resources, "none"),
            rounds=dict.fromkeys(resources, 0),
        )

    def clone(self) -> GroupState:
        return type(self)(
            resources=self.resources,
            primary=self.primary,
            subgroups={r: list(members) for r, members in self.subgroups.items()},
            host=dict(self.host),
            mirror=dict(self.mirror),
            members={n: dataclasses.replace(m) for n, m in self.members.items()},
            lost=set(self.lost),
            rounds=dict(self.rounds),
        )

    # ------------------------------------------------------------ queries

    def resource_of(self, node: str) -> str | None:
        for r in self.resources:
            if node in self.subgroups[r]:
                return r
        return None

    @property
    def primary_host(self) -> str | None:
        return self.host[self.primary]

    def usable_primary_host(self, node: str) -> bool:
        """`node` is the primary host and the production copy has not failed: it can serve and mirror."""
        return self.host[self.primary] == node and self.primary not in self.lost

    def sponsor(self) -> str | None:
        """Who answers a JOIN: the primary host, else the first host in resource order."""
        if self.primary_host is not None:
            return self.primary_host
        return next((h for r in self.resources if (h := self.host[r]) is not None), None)

    def placement(self, reaches: tuple[str, ...]) -> str | None:
        """The primary resource if reachable, else the first reachable one; None rejects.

        A failed resource counts as unreachable: a node wired only to failed ones is rejected."""
        usable = tuple(r for r in reaches if r not in self.lost)
        if self.primary in usable:
            return self.primary
        return next((r for r in self.resources if r in usable), None)

    def joining(self) -> list[str]:
        return [n for n, m in self.members.items() if m.status == "joining"]

    # ------------------------------------------------------------ ordered messages

    def apply(self, msg: OrderedMsg) -> GroupState:
        """The group state after delivering `msg` (a new object; self is unchanged)."""
        gs = self.clone()
        if isinstance(msg, Join):
            if msg.node not in gs.members:
                gs.members[msg.node] = Member(inc=msg.inc, status="joining")
        elif isinstance(msg, Access):
            gs._place(msg)
        elif isinstance(msg, JoinDone):
            member = gs.members.get(msg.node)
            if member is not None and member.inc == msg.inc and member.status == "placed":
                member.status = "active"
        elif isinstance(msg, MirrorActive):
            r = msg.resource
            if (
                r in gs.host
                and gs.host[r] == msg.node
                and r != gs.primary
                and gs.mirror[r] == "syncing"
                and msg.round == gs.rounds[r]  # an earlier round's answers a resynchronisation made stale
            ):
                gs.mirror[r] = "active"
        elif isinstance(msg, Fail):
            gs._remove(msg)
        elif isinstance(msg, ResFail):
            gs._resource_failed(msg)
        else:
            assert isinstance(msg, ResRepair)
            gs._resource_repaired(msg)
        return gs

    def reported_by_host(self, msg: ResFail | ResRepair) -> bool:
        """Only the resource's host (this incarnation of it) in this view may report on it."""
        member = self.members.get(msg.node)
        return (
            msg.resource in self.host
            and self.host[msg.resource] == msg.node
            and member is not None
            and member.inc == msg.inc
        )

    def _restart_mirrors(self) -> None:
        """Mirroring restarts from a (new) primary host to every hosted backup that has not failed."""
        for b in self.resources:
            if b != self.primary:
                self.mirror[b] = "syncing" if self.host[b] is not None and b not in self.lost else "none"

    def _resynced(self, b: str) -> MirrorStatus:
        """Backup b's mirroring status when its host changes: synchronising while both it and the
        production copy have a host and neither has failed."""
        live = self.host[b] is not None and self.primary_host is not None
        return "syncing" if live and b not in self.lost and self.primary not in self.lost else "none"

    def _resource_failed(self, msg: ResFail) -> None:
        """The resource failed: it stops counting as a mirror; if it was the production copy, the
        primary role fails over to the first synchronised backup (with none, mirroring stops)."""
        r = msg.resource
        if r in self.lost or not self.reported_by_host(msg):
            return
        self.lost.add(r)
        if r != self.primary:
            self.mirror[r] = "none"
            return
        target = self._failover_target()
        if target is None:
            for b in self.resources:
                self.mirror[b] = "none"  # the production copy is out of reach: mirroring from it stops
            return
        # The old primary host lives on: its resynchronisations still in flight are stale.
        for b in self.resources:
            self.rounds[b] += 1
        self.primary = target
        self.mirror[target] = "none"
        self._restart_mirrors()

    def _resource_repaired(self, msg: ResRepair) -> None:
        """The failed resource works again; it must resynchronise before it counts."""
        r = msg.resource
        if r not in self.lost or not self.reported_by_host(msg):
            return
        self.lost.discard(r)
        # A resynchronisation sent before the repair is stale: a copy that came back missed what
        # was written meanwhile, and so does every copy resynchronised from a production copy that did.
        for b in self.resources if r == self.primary else (r,):
            self.rounds[b] += 1
        if r == self.primary:
            self._restart_mirrors()
        else:
            self.mirror[r] = self._resynced(r)

    def _place(self, msg: Access) -> None:
        member = self.members.get(msg.node)
        if member is None or member.inc != msg.inc or member.status != "joining":
            return
        r = self.placement(msg.reaches)
        if r is None:
            del self.members[msg.node]  # rejected: the joiner leaves, nothing else changes
            return
        self.subgroups[r].append(msg.node)
        member.status = "placed"
        member.reaches = msg.reaches
        if self.host[r] is None:
            self.host[r] = msg.node
            if r == self.primary:
                self._restart_mirrors()
            else:
                self.mirror[r] = self._resynced(r)

    def _remove(self, msg: Fail) -> None:
        member = self.members.get(msg.node)
        if member is None or member.inc != msg.inc:
            return
        del self.members[msg.node]
        r = self.resource_of(msg.node)
        if r is None:
            return
        self.subgroups[r].remove(msg.node)
        if self.host[r] != msg.node:
            return
        self.host[r] = self.subgroups[r][0] if self.subgroups[r] else None
        if r != self.primary:
            self.mirror[r] = self._resynced(r)
        elif self.primary_host is not None:
            if self.primary not in self.lost:
                self._restart_mirrors()  # switchover inside the primary subgroup
        else:
            self._fail_over()

    def _failover_target(self) -> str | None:
        """The first hosted backup whose mirror is synchronised, if any."""
        eligible = [b for b in self.resources if b != self.primary and self.host[b] is not None]
        return next((b for b in eligible if self.mirror[b] == "active"), None)

    def _fail_over(self) -> None:
        """Promote the first hosted backup whose mirror is synchronised, if any."""
        target = self._failover_target()
        if target is None:
            return  # no primary host until a node reaching the primary resource joins
        self.mirror[self.primary] = "none"
        self.primary = target
        self.mirror[target] = "none"
        self._restart_mirrors()

    # ------------------------------------------------------------ wire form

    def to_body(self) -> GroupStateBody:
        return GroupStateBody(
            primary=self.primary,
            subgroups=tuple(
                SubgroupState(
                    resource=r,
                    members=tuple(self.subgroups[r]),
                    host=self.host[r],
                    mirror=self.mirror[r],
                    round=self.rounds[r],
                )
                for r in self.resources
            ),
            members=tuple(
                MemberRecord(node=n, inc=m.inc, status=m.status, reaches=m.reaches) for n, m in self.members.items()
            ),
            lost=tuple(r for r in self.resources if r in self.lost),
        )

    @classmethod
    def from_body(cls, body: GroupStateBody) -> GroupState:
        resources = tuple(s.resource for s in body.subgroups)
        if (
            body.primary not in resources
            or len(set(resources)) != len(resources)
            or not set(body.lost) <= set(resources)
        ):
            raise ValueError("group state names an unknown or duplicate resource")
        return cls(
            resources=resources,
            primary=body.primary,
            subgroups={s.resource: list(s.members) for s in body.subgroups},
            host={s.resource: s.host for s in body.subgroups},
            mirror={s.resource: s.mirror for s in body.subgroups},
            members={m.node: Member(inc=m.inc, status=m.status, reaches=m.reaches) for m in body.members},
            lost=set(body.lost),
            rounds={s.resource: s.round for s in body.subgroups},
        )


class StreamStates:
    """The group state after any prefix of one (growing) ordered stream.

    Only the latest state is kept, so positions asked for in increasing order cost one
    application of each message; the stream's messages are passed in on each call, so
    a copy of an engine never reads the stream of the engine it was copied from.
    """

    def __init__(self, resources: tuple[str, ...]) -> None:
        self._resources = resources
        self._position = 0
        self._state: GroupState | None = None  # made on first use: resources may still be unknown

    def at(self, position: int, message_at: Callable[[int], OrderedMsg]) -> GroupState:
        """The group state after the first `position` messages (all of them must exist)."""
        if self._state is None or position < self._position:
            self._position, self._state = 0, GroupState.initial(self._resources)
        while self._position < position:
            self._state = self._state.apply(message_at(self._position))
            self._position += 1
        return self._state


def group_state_refusal(
    src: str, msg: GroupStateMsg, states: StreamStates, message_at: Callable[[int], OrderedMsg]
) -> str | None:
    """Why a GROUP_STATE is not the group state at the position it names in the ordered stream.

    The member checks what its own knowledge allows; this is the engine's part: the
    engine sees the stream, so a state that no sponsor could have computed is refused.
    """
    if GroupState.from_body(msg.state) != states.at(msg.position, message_at):
        return f"GROUP_STATE from {src} is not the group state at position {msg.position} of the ordered stream"
    return None
