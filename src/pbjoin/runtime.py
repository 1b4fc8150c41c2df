"""A node's runtime: one member plus its disks, independent of any engine.

The runtime feeds the member an input, performs the effects it asks for on the
node's disks (answering its questions within the same step), and hands back what to
multicast and send. Engines own transport and ordering; the runtime owns the node.
A crash discards the member (its volatile state); a restart makes a new incarnation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pbjoin.group import StreamStates, group_state_refusal
from pbjoin.member import (
    HOLDS_VIEW,
    IN_GROUP,
    ApplyWrite,
    DataSend,
    Effect,
    InstallConfig,
    LoadConfig,
    Member,
    MirrorWrite,
    Output,
    Phase,
    ProbeAccess,
    Send,
    StartMirroring,
    StoreConfig,
    SyncMirror,
    WriteAnswer,
)
from pbjoin.resources import Disks, ResourceError, ResourceFailedError
from pbjoin.steplog import StepName
from pbjoin.wire import ConfigMsg, DataAck, DataMsg, DataWrite, DirectMsg, GroupStateMsg, OrderedMsg, StartMirror

MemberFactory = Callable[[str, int, tuple[str, ...]], Member]

# The step (the spec's action) that takes each kind of point-to-point message.
RECEIVE_STEP: dict[type, StepName] = {
    GroupStateMsg: "ReceiveGroupState",
    ConfigMsg: "ReceiveConfig",
    StartMirror: "ReceiveStartMirror",
    DataWrite: "ReceiveWrite",
    DataAck: "ReceiveAck",
}


@dataclass
class Outcome:
    """What one step of one node produced, for the engine to transmit and log."""

    multicasts: list[OrderedMsg] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data_sends: list[DataSend] = field(default_factory=list)
    answers: list[WriteAnswer] = field(default_factory=list)
    data: dict[str, str] = field(default_factory=dict)  # data digests after a mirror's synchronisation


class NodeRuntime:
    def __init__(
        self, node: str, resources: tuple[str, ...], disks: Disks, member_factory: MemberFactory = Member
    ) -> None:
        self.node = node
        self.resources = resources
        self.disks = disks
        self.member_factory = member_factory
        self.member = member_factory(node, 0, resources)

    @property
    def inc(self) -> int:
        return self.member.inc

    @property
    def phase(self) -> Phase:
        return self.member.phase

    def holds_view(self) -> bool:
        return self.member.phase in HOLDS_VIEW

    def in_group(self) -> bool:
        return self.member.phase in IN_GROUP

    def summary(self) -> dict[str, object]:
        """The member's state as logged: the configuration is what is installed on the node's disk."""
        summary = self.member.summary()
        if self.member.phase != Phase.DOWN:
            summary["configs"] = self.disks.installed_versions()
        return summary

    # ------------------------------------------------------------ steps

    def join(self) -> Outcome:
        return self._run(self.member.join())

    def recover(self, stream: list[OrderedMsg]) -> Outcome:
        return self._run(self.member.recover(stream))

    def deliver(self, msg: OrderedMsg) -> Outcome:
        return self._run(self.member.deliver(msg))

    def receive(self, src: str, msg: DirectMsg) -> Outcome:
        return self._run(self.member.receive(src, msg))

    def refusal(
        self, src: str, msg: DirectMsg, sent_at: int, stream: StreamStates, message_at: Callable[[int], OrderedMsg]
    ) -> str | None:
        """Why this node refuses a message from `src`: by its member's own view, then a
        GROUP_STATE by the ordered stream the engine sees (`message_at`)."""
        reason = self.member.refusal(src, msg, sent_at)
        if reason is None and isinstance(msg, GroupStateMsg):
            reason = group_state_refusal(src, msg, stream, message_at)
        return reason

    def change_config(self, resource: str) -> Outcome:
        version = self.member.configs[resource].version + 1
        return self._run(self.member.change_config(resource, f"{resource} configuration v{version}"))

    def write(self, write_id: str, key: str, value: str) -> Outcome:
        return self._run(self.member.write(write_id, key, value))

    def receive_data(self, src: str, msg: DataMsg) -> Outcome:
        return self._run(self.member.receive_data(src, msg))

    def data_waits(self, src: str, msg: DataMsg, sent_at: int) -> bool:
        """Whether a data message must wait on its channel: a WRITE waits until this member
        has delivered what its writer had, and while an earlier write is missing from the copy
        it would take it on (the resynchronisation in flight ahead of it brings that)."""
        member = self.member
        if not isinstance(msg, DataWrite) or member.view is None:
            return False
        if member.phase == Phase.WAIT_PLACE or member.position < sent_at:
            return True
        if not member.entitled(src, msg.resource):
            return False
        try:
            fence, writes = self.disks.read_copy(msg.resource)
        except ResourceFailedError:
            return False  # the copy failed: taking the write reports it
        return fence <= msg.write.epoch and msg.position > len(writes) + 1

    def resource_failure(self, resource: str) -> str | None:
        """Why this node finds `resource` failed now (None: it works): the host's probe."""
        try:
            return self.disks.check(resource)
        except ResourceError as exc:
            return str(exc)

    def report_failure(self, resource: str, reason: str) -> Outcome:
        return self._run(self.member.report_failure(resource, reason))

    def report_repair(self, resource: str) -> Outcome:
        return self._run(self.member.report_repair(resource))

    def pause(self) -> None:
        self.member.pause()

    def crash(self) -> Outcome:
        return Outcome(answers=self.member.crash())

    def restart(self) -> Outcome:
        unknown = self.member.stop_writing()
        self.disks.reset_node()
        self.member = self.member_factory(self.node, self.member.inc + 1, self.resources)
        return Outcome(answers=unknown)

    # ------------------------------------------------------------ effects

    def _run(self, out: Output) -> Outcome:
        outcome = Outcome()
        pending: list[Effect] = []
        follow: Output | None = out
        while True:
            if follow is not None:
                outcome.multicasts += follow.multicasts
                outcome.sends += follow.sends
                outcome.notes += follow.notes
                outcome.data_sends += follow.data_sends
                outcome.answers += follow.answers
                pending += follow.effects
            if not pending:
                return outcome
            effect = pending.pop(0)
            outcome.effects.append(_describe(effect))
            try:
                follow = self._perform(effect)
            except ResourceFailedError as exc:
                # An I/O error on a resource is the resource's failure: the member acts on it.
                follow = self.member.access_failed(effect, exc.resource, exc.reason)
                continue
            if isinstance(effect, SyncMirror):
                outcome.data.update(self.disks.mirror_digests(effect.resource, effect.production))

    def _perform(self, effect: Effect) -> Output | None:
        if isinstance(effect, ProbeAccess):
            return self.member.access_probed(self.disks.probe(effect.resources))
        if isinstance(effect, LoadConfig):
            version, data = self.disks.load_config(effect.resource)
            return self.member.config_loaded(effect.resource, version, data, effect.takeover)
        if isinstance(effect, InstallConfig):
            self.disks.install_config(effect.resource, effect.version, effect.data)
            return None
        if isinstance(effect, StoreConfig):
            self.disks.store_config(effect.resource, effect.version, effect.data)
            return None
        if isinstance(effect, SyncMirror):
            self.disks.sync_mirror(effect.resource, effect.production)
            return self.member.mirror_synced(effect)
        if isinstance(effect, ApplyWrite):
            return self.member.write_applied(effect.write, self.disks.append_write(effect.resource, effect.write))
        if isinstance(effect, MirrorWrite):
            outcome = self.disks.mirror_write(effect.resource, effect.position, effect.write)
            return self.member.write_mirrored(effect, outcome)
        if isinstance(effect, StartMirroring):
            epoch = self.disks.take_epoch(effect.production) if effect.take_epoch else None
            writes = self.disks.read_copy(effect.production)[1]
            return self.member.mirroring_read(effect, epoch, writes)
        installed = self.disks.install_mirror(effect.resource, effect.epoch, effect.writes)
        return self.member.mirror_installed(effect, installed)


def _describe(effect: Effect) -> str:
    if isinstance(effect, ProbeAccess):
        return f"probe access to {', '.join(effect.resources)}"
    if isinstance(effect, LoadConfig):
        return f"load configuration of {effect.resource} from the resource"
    if isinstance(effect, InstallConfig):
        return f"install configuration {effect.resource} v{effect.version}"
    if isinstance(effect, StoreConfig):
        return f"store configuration {effect.resource} v{effect.version} on the resource"
    if isinstance(effect, SyncMirror):
        return f"synchronise mirror {effect.resource} from {effect.production}"
    if isinstance(effect, ApplyWrite):
        return f"take write {effect.write.id} on {effect.resource} under epoch {effect.write.epoch}"
    if isinstance(effect, MirrorWrite):
        return f"mirror write {effect.write.id} at {effect.resource}[{effect.position}] (epoch {effect.write.epoch})"
    if isinstance(effect, StartMirroring):
        fence = "fence it with a new epoch, then " if effect.take_epoch else ""
        mirrors = ", ".join(t.backup for t in effect.targets) or "no mirror"
        return f"{fence}read {effect.production} to resynchronise {mirrors}"
    return f"install {len(effect.writes)} writes of {effect.production} on {effect.resource} (epoch {effect.epoch})"
