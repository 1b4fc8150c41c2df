"""One node's member of the group, as a sans-IO state machine.

A `Member` is fed inputs (start a join, an ordered delivery, a direct message, the
answer to a resource query) and returns an `Output`: ordered messages to multicast,
direct messages to send, effects for the resource driver to perform, and notes (why
an input was ignored). It never touches the network, the disk or a clock, so the
same code runs under the deterministic in-memory engine, the etcd engine, and the
conformance checker's exhaustive scheduler.

Effects that answer a question (`ProbeAccess`, `LoadConfig`, `SyncMirror` and the data
path's `ApplyWrite`, `MirrorWrite`, `StartMirroring`, `InstallMirror`) are resolved by
the runtime within the same step: it performs them and feeds the answer back through
the method each names, merging the outputs.

Resource failure and repair (issue 19): an effect that finds its resource failed comes
back through `access_failed`; a host that finds its resource failed, or working again
after the group counted it lost, multicasts RES_FAIL or RES_REPAIR (at most one of each
in flight). A primary host that reports its production copy failed abdicates: it answers
its pending writes "unknown" and acts as primary host no more. START_MIRROR and
MIRROR_ACTIVE name their mirroring round, so a resynchronisation that a repair or a
failover made stale counts for nothing.

The data path (spec section "The data path"): the primary host takes client writes
on the production copy under its epoch and sends each to every backup host whose
mirror is synchronising or active; a write is acknowledged to its client once every
one of those has acknowledged it. A copy refuses writes older than the highest epoch
it has accepted, so a paused primary host that still acts on its stale view can
neither change a copy nor get a write acknowledged once a successor has taken over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

from pbjoin.group import GroupState, StreamStates
from pbjoin.wire import (
    Access,
    ConfigMsg,
    DataAck,
    DataMsg,
    DataWrite,
    DirectMsg,
    GroupStateMsg,
    Join,
    JoinDone,
    MirrorActive,
    OrderedMsg,
    ResFail,
    ResRepair,
    StartMirror,
    WriteRecord,
)


class Phase(Enum):
    OUT = "out"
    WAIT_STATE = "waitState"
    WAIT_PLACE = "waitPlace"
    WAIT_CONFIG = "waitConfig"
    MEMBER = "member"
    REJECTED = "rejected"
    DOWN = "down"


HOLDS_VIEW = (Phase.WAIT_PLACE, Phase.WAIT_CONFIG, Phase.MEMBER)
IN_GROUP = (Phase.WAIT_STATE, *HOLDS_VIEW)


class ProtocolError(RuntimeError):
    """An input the member's phase does not allow (a bug in the caller, not in a peer)."""


# ---------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Send:
    to: str
    to_inc: int  # the incarnation the message is for; a later one never receives it
    msg: DirectMsg


@dataclass(frozen=True)
class ProbeAccess:
    """Which of these managed resources can this node open?  Answer: `access_probed`."""

    resources: tuple[str, ...]


@dataclass(frozen=True)
class LoadConfig:
    """Read the configuration stored on the resource.  Answer: `config_loaded`."""

    resource: str
    takeover: bool  # a host taking over pushes what it read to its subgroup


@dataclass(frozen=True)
class InstallConfig:
    """Store this version of the resource's configuration on the node."""

    resource: str
    version: int
    data: str


@dataclass(frozen=True)
class StoreConfig:
    """A host writes a new configuration version to its resource."""

    resource: str
    version: int
    data: str


@dataclass(frozen=True)
class SyncMirror:
    """Copy the production data onto the backup resource.  Answer: `mirror_synced`."""

    resource: str
    production: str
    round: int = 0  # the mirroring round it answers


@dataclass(frozen=True)
class ApplyWrite:
    """The primary host takes a write on the production copy.  Answer: `write_applied`."""

    resource: str
    write: WriteRecord


@dataclass(frozen=True)
class MirrorWrite:
    """A backup host puts a mirrored write at its position on the copy.  Answer: `write_mirrored`."""

    resource: str
    position: int
    write: WriteRecord
    sender: str  # the primary host to acknowledge to


@dataclass(frozen=True)
class MirrorTarget:
    backup: str
    host: str
    host_inc: int
    round: int = 0


@dataclass(frozen=True)
class StartMirroring:
    """Read the production copy to resynchronise these mirrors, first fencing it with a
    new epoch when this member has just become primary host.  Answer: `mirroring_read`."""

    production: str
    targets: tuple[MirrorTarget, ...]
    take_epoch: bool


@dataclass(frozen=True)
class InstallMirror:
    """A backup host replaces its copy by the production copy's writes, unless a newer
    epoch fenced it.  Answer: `mirror_installed`."""

    resource: str
    production: str
    epoch: int
    writes: tuple[WriteRecord, ...]
    round: int = 0


Effect = (
    ProbeAccess | LoadConfig | InstallConfig | StoreConfig | SyncMirror | ApplyWrite | MirrorWrite | StartMirroring
) | InstallMirror


@dataclass(frozen=True)
class DataSend:
    """A data-path message (WRITE or ACK), on the data channel to `to`."""

    to: str
    to_inc: int
    msg: DataMsg


WriteStatus = Literal["acked", "refused", "unknown"]


@dataclass(frozen=True)
class WriteAnswer:
    """What the client that submitted a write is told, and where the write went: its
    position in the production copy (0 if refused) and the epoch it was taken under."""

    id: str
    status: WriteStatus
    position: int
    epoch: int
    reason: str = ""


@dataclass
class Output:
    multicasts: list[OrderedMsg] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data_sends: list[DataSend] = field(default_factory=list)
    answers: list[WriteAnswer] = field(default_factory=list)

    def extend(self, other: Output) -> None:
        self.multicasts += other.multicasts
        self.sends += other.sends
        self.effects += other.effects
        self.notes += other.notes
        self.data_sends += other.data_sends
        self.answers += other.answers


@dataclass
class Pending:
    """A write taken on the production copy, waiting for these mirrors' ACKs."""

    position: int
    write: WriteRecord
    waiting: set[str]


# ---------------------------------------------------------------- the member


@dataclass
class Config:
    version: int
    data: str


class Member:
    """The protocol logic of one incarnation of one node."""

    def __init__(self, node: str, inc: int, resources: tuple[str, ...]) -> None:
        self.node = node
        self.inc = inc
        self.resources = resources  # the group's managed resources, in failover order
        self.phase = Phase.OUT
        self.view: GroupState | None = None
        self.position = 0  # ordered messages delivered (the next one to deliver)
        self.configs: dict[str, Config] = {}
        self.epoch = 0  # the epoch this member acts under as primary host; 0: none
        self.stale_view: GroupState | None = None  # paused past its lease: the view it still acts on
        self.pending: dict[str, Pending] = {}
        # This incarnation's RES_FAIL / RES_REPAIR reports multicast and not yet delivered by it.
        self.reports: set[tuple[str, str]] = set()

    # ------------------------------------------------------------ joining

    def join(self) -> Output:
        self._require(Phase.OUT, "join")
        self.phase = Phase.WAIT_STATE
        return Output(multicasts=[Join(node=self.node, inc=self.inc)])

    def recover(self, stream: list[OrderedMsg]) -> Output:
        """No live member holds the group state: rebuild it from the whole ordered stream."""
        self._require(Phase.WAIT_STATE, "recover the group state")
        view = StreamStates(self.resources).at(len(stream), stream.__getitem__)
        return self._adopt(view, len(stream))

    def _adopt(self, view: GroupState, position: int) -> Output:
        self.view = view
        self.position = position
        self.phase = Phase.WAIT_PLACE
        return Output(effects=[ProbeAccess(view.resources)])

    def access_probed(self, reaches: tuple[str, ...]) -> Output:
        self._require(Phase.WAIT_PLACE, "report access")
        assert self.view is not None
        ordered = tuple(r for r in self.view.resources if r in reaches)
        return Output(multicasts=[Access(node=self.node, inc=self.inc, reaches=ordered)])

    # ------------------------------------------------------------ direct messages

    def accepts(self, msg: DirectMsg, sent_at: int) -> bool:
        """Whether `msg` can be taken now: CONFIG and START_MIRROR wait for the stream.

        `sent_at` is how far the ordered stream had got when the sender sent it, as the
        engine knows it (never the sender's word). A CONFIG or START_MIRROR waits until
        this member has delivered its own placement and that far: then its view knows
        what the sender's did (a lagging new backup host would otherwise drop its
        START_MIRROR, and mirroring would never resume), and judges the sender exactly.
        """
        if isinstance(msg, GroupStateMsg):
            return True
        return self.phase != Phase.WAIT_PLACE and self.position >= sent_at

    def refusal(self, src: str, msg: DirectMsg, sent_at: int) -> str | None:
        """Why this member's own view does not let `src` send `msg`; None if it may.

        Asked only of a message `accepts` lets through, so the view is at least as new as
        the sender's was: CONFIG is only from the host of this member's resource,
        START_MIRROR only from the primary host, for the primary resource, to the host of
        the backup it names. Every message the protocol itself sends passes (the model's
        reachable states are checked for this), so a refused message is one no member
        sent: the caller logs it and changes nothing.
        """
        if src == self.node:
            return f"{msg.kind} from this node itself"
        if isinstance(msg, GroupStateMsg):
            return self._group_state_refusal(src, msg, sent_at)
        view = self.view
        if self.phase not in (Phase.WAIT_CONFIG, Phase.MEMBER) or view is None:
            return f"{msg.kind} from {src} for a member that is {self.phase.value}"
        if isinstance(msg, ConfigMsg):
            r = view.resource_of(self.node)
            if msg.resource != r:
                return f"CONFIG for {msg.resource} from {src}: this member is in the subgroup of {r}"
            if view.host[r] != src:
                return f"CONFIG for {r} from {src}: its host is {view.host[r]}"
            return None
        b = msg.resource
        if b not in view.resources or msg.production not in view.resources:
            return f"START_MIRROR from {src} names a resource the group does not manage"
        if msg.round > view.rounds[b]:
            return f"START_MIRROR for {b} from {src} names round {msg.round}; the group is at {view.rounds[b]}"
        if msg.round < view.rounds[b]:
            return None  # sent before a repair or a failover that its sender lived through: stale, dropped
        if view.primary_host != src:
            return f"START_MIRROR for {b} from {src}: the primary host is {view.primary_host}"
        if msg.production != view.primary:
            return f"START_MIRROR for {b} from {src} names {msg.production} as production, not {view.primary}"
        if view.host[b] != self.node or b == view.primary:
            return f"START_MIRROR for {b} from {src}: this member is not its backup host"
        return None

    def _group_state_refusal(self, src: str, msg: GroupStateMsg, sent_at: int) -> str | None:
        try:
            view = GroupState.from_body(msg.state)
        except ValueError as exc:
            return f"GROUP_STATE from {src}: {exc}"
        if view.resources != self.resources:
            return f"GROUP_STATE from {src} manages other resources"
        if view.sponsor() != src:
            return f"GROUP_STATE from {src}: the state it sends names {view.sponsor()} as the sponsor"
        me = view.members.get(self.node)
        if me is None or me.inc != self.inc or me.status != "joining":
            return f"GROUP_STATE from {src} does not have {self.node}#{self.inc} joining"
        if msg.position > sent_at:
            return f"GROUP_STATE from {src} claims position {msg.position}; the stream was at {sent_at}"
        return None

    def receive(self, src: str, msg: DirectMsg) -> Output:
        """Take a message that `accepts` and `refusal` let through (the model's rules may still drop it)."""
        if not isinstance(msg, GroupStateMsg) and self.phase == Phase.WAIT_PLACE:
            raise ProtocolError(f"{msg.kind} cannot be taken while {self.phase.value}")
        if isinstance(msg, GroupStateMsg):
            if self.phase != Phase.WAIT_STATE:
                return Output(notes=[f"dropped GROUP_STATE from {src}: not waiting for one"])
            return self._adopt(GroupState.from_body(msg.state), msg.position)
        if isinstance(msg, ConfigMsg):
            return self._receive_config(msg)
        return self._receive_start_mirror(src, msg)

    def _receive_config(self, msg: ConfigMsg) -> Output:
        # `refusal` has let through only a CONFIG from this member's host, for its own resource.
        out = self._install(msg.resource, msg.version, msg.data)
        if self.phase == Phase.WAIT_CONFIG:
            out.extend(self._join_done())
        return out

    def _receive_start_mirror(self, src: str, msg: StartMirror) -> Output:
        # `refusal` has let through only a START_MIRROR of the current round for a backup this
        # member hosts, or one of an earlier round (stale: its sender lived through a repair or
        # a failover since).
        r = msg.resource
        if self.phase != Phase.MEMBER:
            return Output(notes=[f"dropped START_MIRROR for {r} from {src}: not a member yet"])
        view = self.view
        assert view is not None
        if msg.round != view.rounds[r]:
            return Output(notes=[f"dropped START_MIRROR for {r} from {src}: round {msg.round} is stale"])
        if view.host[r] != self.node or r == view.primary or view.primary_host != src:
            return Output(
                notes=[f"dropped START_MIRROR for {r} from {src}: in this view, not for a backup hosted here"]
            )
        if r in view.lost or ("RES_FAIL", r) in self.reports:
            return Output(notes=[f"dropped START_MIRROR for {r} from {src}: {r} has failed"])
        return Output(effects=[InstallMirror(r, msg.production, msg.epoch, msg.writes, msg.round)])

    def mirror_installed(self, effect: InstallMirror, installed: bool) -> Output:
        # A copy fenced by a newer epoch keeps its writes; the spec announces the mirror
        # either way (only a deposed primary host's START_MIRROR can be fenced, and the
        # group's newest state no longer counts that mirror).
        out = Output(effects=[SyncMirror(effect.resource, effect.production, effect.round)])
        if not installed:
            out.notes.append(f"copy {effect.resource} kept: it has accepted a newer epoch than the resynchronisation's")
        return out

    def mirror_synced(self, effect: SyncMirror) -> Output:
        msg = MirrorActive(node=self.node, inc=self.inc, resource=effect.resource, round=effect.round)
        return Output(multicasts=[msg])

    # ------------------------------------------------------------ resource failure and repair

    def may_report_failure(self, resource: str) -> bool:
        """Whether this member would report `resource` failed if its probe found it so: it hosts it
        (placed), the group does not count it lost, and no report of its own is in flight."""
        return (
            self._reporter(resource)
            and resource not in self._view().lost
            and ("RES_FAIL", resource) not in self.reports
        )

    def may_report_repair(self, resource: str) -> bool:
        """Whether this member would report `resource` repaired if its probe found it working."""
        return (
            self._reporter(resource) and resource in self._view().lost and ("RES_REPAIR", resource) not in self.reports
        )

    def _reporter(self, resource: str) -> bool:
        view = self.view
        return (
            self.phase in (Phase.WAIT_CONFIG, Phase.MEMBER)
            and view is not None
            and view.host.get(resource) == self.node
        )

    def _view(self) -> GroupState:
        assert self.view is not None
        return self.view

    def report_failure(self, resource: str, reason: str) -> Output:
        """The host's probe found its resource failed (the ReportFailure step)."""
        if not self.may_report_failure(resource):
            raise ProtocolError(f"{self.node} may not report {resource} failed now")
        out = self._report("RES_FAIL", resource)
        out.notes.insert(0, f"resource {resource} failed: {reason}")
        return out

    def report_repair(self, resource: str) -> Output:
        """The host's probe found its lost resource working again (the ReportRepair step)."""
        if not self.may_report_repair(resource):
            raise ProtocolError(f"{self.node} may not report {resource} repaired now")
        return self._report("RES_REPAIR", resource)

    def _report(self, kind: str, resource: str) -> Output:
        """Multicast RES_FAIL or RES_REPAIR about `resource`, unless one is in flight already. A primary
        host reporting its production copy failed abdicates: its pending writes get no answer but unknown."""
        if (kind, resource) in self.reports:
            return Output()
        self.reports.add((kind, resource))
        msg = ResFail if kind == "RES_FAIL" else ResRepair
        out = Output(multicasts=[msg(node=self.node, inc=self.inc, resource=resource)])
        view = self.view
        if kind == "RES_FAIL" and view is not None and view.primary_host == self.node and view.primary == resource:
            reason = "the primary host lost its production copy before every mirror acknowledged it"
            out.answers += [
                WriteAnswer(i, "unknown", p.position, p.write.epoch, reason) for i, p in self.pending.items()
            ]
            self.pending.clear()
        return out

    def abdicated(self) -> bool:
        """Reported its view's production copy failed, not yet delivered: no longer acting as primary host."""
        return self.view is not None and ("RES_FAIL", self.view.primary) in self.reports

    def access_failed(self, effect: Effect, resource: str, reason: str) -> Output:
        """An effect found `resource` failed: the host reports it, and the effect's work is not done."""
        note = f"resource {resource} failed: {reason}"
        hosts = self.view is not None and self.view.host.get(resource) == self.node
        if isinstance(effect, LoadConfig) and not effect.takeover and self.phase == Phase.WAIT_PLACE:
            self.phase = Phase.WAIT_CONFIG  # a new host that cannot read its resource waits for its repair
        if isinstance(effect, ApplyWrite):
            told = WriteAnswer(
                effect.write.id, "refused", 0, effect.write.epoch, f"the production copy failed: {reason}"
            )
            out = Output(answers=[told])
            if self.phase == Phase.MEMBER and hosts:
                out.extend(self._report("RES_FAIL", resource))
            out.notes.insert(0, note)
            return out
        if isinstance(effect, StartMirroring) and not effect.targets:
            return Output(notes=[note])  # nothing to resynchronise: nothing read, nothing reported
        if not hosts or self.phase not in (Phase.WAIT_CONFIG, Phase.MEMBER):
            return Output(notes=[note])  # not its resource to report (a production copy read over a link)
        out = self._report("RES_FAIL", resource)
        out.notes.insert(0, note)
        return out

    # ------------------------------------------------------------ ordered delivery

    def deliver(self, msg: OrderedMsg) -> Output:
        if self.phase not in HOLDS_VIEW or self.view is None:
            raise ProtocolError(f"cannot deliver while {self.phase.value}")
        before = self.view
        after = before.apply(msg)
        self.view = after
        self.position += 1
        own = msg.node == self.node and msg.inc == self.inc
        reported_before = set(self.reports)
        if own and isinstance(msg, ResFail | ResRepair):
            self.reports.discard((msg.kind, msg.resource))
        out = Output()
        if isinstance(msg, Access) and own:
            out.extend(self._own_placement(after))
            if self.phase == Phase.REJECTED:
                return out
        out.extend(self._host_duties(before, after, msg, own))
        out.extend(self._primary_duties(before, after, reported_before))
        out.extend(self._sponsor_duties(before, after, msg))
        return out

    def _own_placement(self, after: GroupState) -> Output:
        if self.node not in after.members:
            self.phase = Phase.REJECTED
            self.view = None
            self.position = 0
            return Output(notes=["join rejected: this node reaches none of the group's resources"])
        r = after.resource_of(self.node)
        assert r is not None, "a placed joiner is in a subgroup of its own view"
        if after.host[r] == self.node:
            return Output(effects=[LoadConfig(resource=r, takeover=False)])
        self.phase = Phase.WAIT_CONFIG
        return Output()

    def _host_duties(self, before: GroupState, after: GroupState, msg: OrderedMsg, own: bool) -> Output:
        out = Output()
        for r in after.resources:
            if after.host[r] != self.node:
                continue
            takeover = before.host[r] != self.node and not (isinstance(msg, Access) and own)
            repaired = r in before.lost
            if (takeover or repaired) and r in after.lost:
                continue  # a failed resource cannot be read: the host waits for its repair
            if takeover or repaired:
                # takeover or repair: read the configuration from the resource, push it to the subgroup
                out.effects.append(LoadConfig(resource=r, takeover=True))
            elif (
                isinstance(msg, Access)
                and not own
                and after.resource_of(msg.node) == r
                and msg.node in before.members
                and before.members[msg.node].status == "joining"
            ):
                held = self.configs.get(r)
                if held is None:  # its own read failed: the joiner gets the configuration on the repair
                    out.notes.append(f"no configuration of {r} to send {msg.node}: {r} could not be read")
                    continue
                out.sends.append(Send(msg.node, msg.inc, ConfigMsg(resource=r, version=held.version, data=held.data)))
        return out

    def config_loaded(self, resource: str, version: int, data: str, takeover: bool) -> Output:
        """The configuration read from the resource this member hosts."""
        out = self._install(resource, version, data)
        if self.phase == Phase.WAIT_CONFIG or not takeover:
            out.extend(self._join_done())
        if takeover:
            assert self.view is not None
            for x in self.view.subgroups[resource]:
                if x != self.node:
                    config = ConfigMsg(resource=resource, version=version, data=data)
                    out.sends.append(Send(x, self.view.members[x].inc, config))
        return out

    def _primary_duties(self, before: GroupState, after: GroupState, reported_before: set[tuple[str, str]]) -> Output:
        out = Output()
        if not after.usable_primary_host(self.node) or ("RES_FAIL", after.primary) in self.reports:
            return out
        became = not before.usable_primary_host(self.node) or ("RES_FAIL", before.primary) in reported_before
        targets = []
        for b in after.resources:
            target = after.host[b]
            if b == after.primary or target == self.node or target is None or b in after.lost:
                continue
            if became or target != before.host[b] or b in before.lost:  # a new backup host, or b repaired
                targets.append(MirrorTarget(b, target, after.members[target].inc, after.rounds[b]))
        if became or targets:
            out.effects.append(StartMirroring(after.primary, tuple(targets), take_epoch=became))
        # A pending write stops waiting for a mirror whose host changed (the resynchronisation
        # just sent copies it) or that has no mirroring any more.
        keep = {b for b in after.resources if after.host[b] == before.host[b] and after.mirror[b] != "none"}
        for pending in list(self.pending.values()):
            if not pending.waiting <= keep:
                pending.waiting &= keep
                out.answers += self._settle(pending)
        return out

    def mirroring_read(self, request: StartMirroring, epoch: int | None, writes: tuple[WriteRecord, ...]) -> Output:
        """The production copy as it is now (and the new epoch, if one was taken)."""
        if epoch is not None:
            self.epoch = epoch
        out = Output()
        for t in request.targets:
            start = StartMirror(
                resource=t.backup, production=request.production, round=t.round, epoch=self.epoch, writes=writes
            )
            out.sends.append(Send(t.host, t.host_inc, start))
        return out

    # ------------------------------------------------------------ the data path

    def acting_view(self) -> GroupState | None:
        """The view this member acts on as primary host: its own, or a paused one's stale view."""
        return self.view if self.phase == Phase.MEMBER else self.stale_view

    def acts_as_primary(self) -> bool:
        """Whether it takes client writes: the primary host of the view it acts on, whose production
        copy the group does not count lost, and (a member) that has not abdicated."""
        view = self.acting_view()
        if view is None or view.primary_host != self.node or view.primary in view.lost:
            return False
        return not (self.phase == Phase.MEMBER and self.abdicated())

    def is_primary_host(self) -> bool:
        """A member that its own view makes the primary host (what a pause past its lease needs)."""
        return self.phase == Phase.MEMBER and self.view is not None and self.view.primary_host == self.node

    def write(self, write_id: str, key: str, value: str) -> Output:
        """A client's write, to be taken on the production copy under this member's epoch."""
        if not self.acts_as_primary():
            raise ProtocolError(f"{self.node} is not the primary host")
        if write_id in self.pending:
            reason = "a write with this id is already pending"
            return Output(answers=[WriteAnswer(write_id, "refused", 0, self.epoch, reason)])
        view = self.acting_view()
        assert view is not None
        record = WriteRecord(id=write_id, key=key, value=value, epoch=self.epoch)
        return Output(effects=[ApplyWrite(view.primary, record)])

    def write_applied(self, write: WriteRecord, position: int | None) -> Output:
        """The production copy took the write at `position`, or (None) refused it: fenced."""
        if position is None:
            reason = f"fenced: the production copy has accepted an epoch newer than {write.epoch}"
            return Output(answers=[WriteAnswer(write.id, "refused", 0, write.epoch, reason)])
        view = self.acting_view()
        assert view is not None
        out = Output()
        waiting = set()
        for b in view.resources:
            host = view.host[b]
            if b == view.primary or host is None or host == self.node or view.mirror[b] == "none":
                continue
            waiting.add(b)
            out.data_sends.append(
                DataSend(host, view.members[host].inc, DataWrite(resource=b, position=position, write=write))
            )
        pending = Pending(position, write, waiting)
        if waiting:
            self.pending[write.id] = pending
        out.answers += self._settle(pending)
        return out

    def _settle(self, pending: Pending) -> list[WriteAnswer]:
        if pending.waiting:
            return []
        self.pending.pop(pending.write.id, None)
        return [WriteAnswer(pending.write.id, "acked", pending.position, pending.write.epoch)]

    def entitled(self, src: str, resource: str) -> bool:
        """Whether this member takes `src`'s writes for `resource`: it hosts that backup and
        `src` is the primary host, both in its own view."""
        view = self.view
        return (
            self.phase == Phase.MEMBER
            and view is not None
            and view.host.get(resource) == self.node
            and resource != view.primary
            and resource not in view.lost
            and view.primary_host == src
        )

    def receive_data(self, src: str, msg: DataMsg) -> Output:
        if isinstance(msg, DataAck):
            pending = self.pending.get(msg.id)
            view = self.acting_view()
            if pending is None or msg.resource not in pending.waiting:
                return Output(notes=[f"ACK of {msg.id} for {msg.resource} from {src}: not waited for"])
            if view is None or view.host.get(msg.resource) != src:
                return Output(notes=[f"refused ACK of {msg.id} for {msg.resource} from {src}: not that mirror's host"])
            pending.waiting.discard(msg.resource)
            return Output(answers=self._settle(pending))
        what = f"WRITE {msg.write.id} for {msg.resource} from {src}"
        if self.view is None:
            return Output(notes=[f"dropped {what}: this node holds no view"])
        if not self.entitled(src, msg.resource):
            return Output(notes=[f"dropped {what}: in this view, not the primary host's write to a backup hosted here"])
        return Output(effects=[MirrorWrite(msg.resource, msg.position, msg.write, src)])

    def write_mirrored(self, effect: MirrorWrite, outcome: str) -> Output:
        if outcome not in ("applied", "held"):
            return Output(notes=[f"dropped WRITE {effect.write.id} for {effect.resource}: the copy {outcome} it"])
        view = self.view
        assert view is not None and effect.sender in view.members
        ack = DataAck(resource=effect.resource, id=effect.write.id)
        return Output(data_sends=[DataSend(effect.sender, view.members[effect.sender].inc, ack)])

    def pause(self) -> None:
        """Stopped past its lease: the group fails this member, but it wakes up acting on its view."""
        self.stale_view = self.view
        self._forget_group()

    def crash(self) -> list[WriteAnswer]:
        """The process ends: its pending writes are never answered, so their clients learn nothing."""
        self.stale_view = None
        self._forget_group()
        return self.stop_writing()

    def stop_writing(self) -> list[WriteAnswer]:
        reason = "the primary host failed before every mirror acknowledged it"
        unknown = [WriteAnswer(i, "unknown", p.position, p.write.epoch, reason) for i, p in self.pending.items()]
        self.pending.clear()
        self.epoch = 0
        return unknown

    def _forget_group(self) -> None:
        self.phase = Phase.DOWN
        self.view = None
        self.position = 0
        self.configs.clear()

    def _sponsor_duties(self, before: GroupState, after: GroupState, msg: OrderedMsg) -> Output:
        out = Output()
        if after.sponsor() != self.node:
            return out
        state = GroupStateMsg(state=after.to_body(), position=self.position)
        if before.sponsor() != self.node:
            targets = [j for j in after.joining() if j != self.node]
        elif isinstance(msg, Join) and msg.node in after.joining():
            targets = [msg.node]
        else:
            targets = []
        for j in targets:
            out.sends.append(Send(j, after.members[j].inc, state))
        return out

    # ------------------------------------------------------------ configuration

    def change_config(self, resource: str, data: str) -> Output:
        """A host changes its resource's configuration and sends it to its subgroup."""
        self._require(Phase.MEMBER, "change configuration")
        view = self.view
        assert view is not None
        if view.host.get(resource) != self.node:
            raise ProtocolError(f"{self.node} does not host {resource}")
        version = self.configs[resource].version + 1
        out = Output(effects=[StoreConfig(resource, version, data)])
        out.extend(self._install(resource, version, data))
        for x in view.subgroups[resource]:
            if x != self.node:
                out.sends.append(Send(x, view.members[x].inc, ConfigMsg(resource=resource, version=version, data=data)))
        return out

    def _install(self, resource: str, version: int, data: str) -> Output:
        self.configs[resource] = Config(version, data)
        return Output(effects=[InstallConfig(resource, version, data)])

    def _join_done(self) -> Output:
        if self.phase not in (Phase.WAIT_CONFIG, Phase.WAIT_PLACE):
            return Output()
        self.phase = Phase.MEMBER
        return Output(multicasts=[JoinDone(node=self.node, inc=self.inc)])

    def _require(self, phase: Phase, what: str) -> None:
        if self.phase != phase:
            raise ProtocolError(f"{self.node} cannot {what} while {self.phase.value}")

    # ------------------------------------------------------------ summary

    def summary(self) -> dict[str, object]:
        """The member's local state, as logged after every step."""
        return {
            "phase": self.phase.value,
            "position": self.position,
            "view": None if self.view is None else self.view.to_body().model_dump(mode="json"),
            "configs": {r: c.version for r, c in sorted(self.configs.items())},
            "epoch": self.epoch,
            "paused": self.stale_view is not None,
            "pending": {i: sorted(p.waiting) for i, p in sorted(self.pending.items())},
            "reports": sorted(f"{kind} {r}" for kind, r in self.reports),
        }
