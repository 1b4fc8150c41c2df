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
    Effect,
    InstallConfig,
    LoadConfig,
    Member,
    Output,
    Phase,
    ProbeAccess,
    Send,
    StoreConfig,
    SyncMirror,
)
from pbjoin.resources import Disks
from pbjoin.steplog import StepName
from pbjoin.wire import ConfigMsg, DirectMsg, GroupStateMsg, OrderedMsg, StartMirror

MemberFactory = Callable[[str, int, tuple[str, ...]], Member]

# The step (the spec's action) that takes each kind of point-to-point message.
RECEIVE_STEP: dict[type, StepName] = {
    GroupStateMsg: "ReceiveGroupState",
    ConfigMsg: "ReceiveConfig",
    StartMirror: "ReceiveStartMirror",
}


@dataclass
class Outcome:
    """What one step of one node produced, for the engine to transmit and log."""

    multicasts: list[OrderedMsg] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    effects: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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

    def crash(self) -> None:
        self.member.phase = Phase.DOWN
        self.member.view = None
        self.member.position = 0
        self.member.configs.clear()

    def restart(self) -> None:
        self.disks.reset_node()
        self.member = self.member_factory(self.node, self.member.inc + 1, self.resources)

    # ------------------------------------------------------------ effects

    def _run(self, out: Output) -> Outcome:
        outcome = Outcome(multicasts=list(out.multicasts), sends=list(out.sends), notes=list(out.notes))
        pending = list(out.effects)
        while pending:
            effect = pending.pop(0)
            outcome.effects.append(_describe(effect))
            follow = self._perform(effect)
            if follow is not None:
                outcome.multicasts += follow.multicasts
                outcome.sends += follow.sends
                outcome.notes += follow.notes
                pending += follow.effects
        return outcome

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
        assert isinstance(effect, SyncMirror)
        self.disks.sync_mirror(effect.resource, effect.production)
        return self.member.mirror_synced(effect.resource)


def _describe(effect: Effect) -> str:
    if isinstance(effect, ProbeAccess):
        return f"probe access to {', '.join(effect.resources)}"
    if isinstance(effect, LoadConfig):
        return f"load configuration of {effect.resource} from the resource"
    if isinstance(effect, InstallConfig):
        return f"install configuration {effect.resource} v{effect.version}"
    if isinstance(effect, StoreConfig):
        return f"store configuration {effect.resource} v{effect.version} on the resource"
    return f"synchronise mirror {effect.resource} from {effect.production}"
