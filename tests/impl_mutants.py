"""Deliberately buggy implementations; the conformance checkers must catch every one.

Each mutant is a Member subclass (the production code carries no switches for them)
plugged into the engine through its member factory, a resource driver (a MemoryDisks
subclass) plugged in through replay's disks factory, or an engine (an InMemoryEngine
subclass) whose log misreports the steps it takes.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbjoin.engine import Action, InMemoryEngine
from pbjoin.group import GroupState
from pbjoin.member import DataSend, Member, MirrorWrite, Output, Send, StartMirroring, WriteAnswer
from pbjoin.resources import MemoryDisks
from pbjoin.runtime import MemberFactory, Outcome
from pbjoin.steplog import StepRecord
from pbjoin.wire import Access, ConfigMsg, DataAck, DataMsg, Fail, OrderedMsg, WriteRecord


class RulesMutant(Member):
    """A member whose replicated group state decides by the mutant rules of RULES, a GroupState
    subclass: the view takes that class on every delivery (a state sent by a sponsor arrives as
    a plain GroupState)."""

    RULES: type[GroupState]

    def deliver(self, msg: OrderedMsg) -> Output:
        if self.view is not None:
            self.view.__class__ = self.RULES
        return super().deliver(msg)


class SkipsAccessProbe(Member):
    """Claims to reach every managed resource instead of probing."""

    def access_probed(self, reaches: tuple[str, ...]) -> Output:
        assert self.view is not None
        return super().access_probed(self.view.resources)


class ConfigFromPrimaryHost(Member):
    """The primary host also sends its own (primary) configuration to joiners of other subgroups."""

    def deliver(self, msg: OrderedMsg) -> Output:
        out = super().deliver(msg)
        view = self.view
        if isinstance(msg, Access) and view is not None and msg.node != self.node and view.primary_host == self.node:
            placed = view.resource_of(msg.node)
            if placed is not None and placed != view.primary:
                held = self.configs[view.primary]
                config = ConfigMsg(resource=view.primary, version=held.version, data=held.data)
                out.sends.append(Send(msg.node, msg.inc, config))
        return out


class _UnsyncedFailover(GroupState):
    def _fail_over(self) -> None:
        target = next((b for b in self.resources if b != self.primary and self.host[b] is not None), None)
        if target is None:
            return
        self.mirror[self.primary] = "none"
        self.primary = target
        self.mirror[target] = "none"
        self._restart_mirrors()


class PromotesUnsyncedMirror(RulesMutant):
    """Fails over to the first hosted backup whether or not its mirror is synchronised."""

    RULES = _UnsyncedFailover


class ForgetsToInstallConfig(Member):
    """Acknowledges configuration (JOIN_DONE) without writing it to the node's disk."""

    def _install(self, resource: str, version: int, data: str) -> Output:
        super()._install(resource, version, data)
        return Output()


class NoStateResend(Member):
    """A member that becomes sponsor does not resend the group state to waiting joiners."""

    def _sponsor_duties(self, before: GroupState, after: GroupState, msg: OrderedMsg) -> Output:
        if before.sponsor() != self.node and after.sponsor() == self.node:
            return Output()
        return super()._sponsor_duties(before, after, msg)


class AcksBeforeMirrors(Member):
    """Tells the client a write succeeded once the production copy has it (asynchronous mirroring)."""

    def write_applied(self, write: WriteRecord, position: int | None) -> Output:
        out = super().write_applied(write, position)
        if position is not None and write.id in self.pending:
            del self.pending[write.id]
            out.answers.append(WriteAnswer(write.id, "acked", position, write.epoch))
        return out


class KeepsItsEpoch(Member):
    """A new primary host acts under the epoch its production copy already has: no fencing."""

    def mirroring_read(self, request: StartMirroring, epoch: int | None, writes: tuple[WriteRecord, ...]) -> Output:
        return super().mirroring_read(request, None if epoch is None else epoch - 1, writes)


class AcksWithoutApplying(Member):
    """A backup host acknowledges a write on arrival and never puts it on its copy."""

    def receive_data(self, src: str, msg: DataMsg) -> Output:
        out = super().receive_data(src, msg)
        for effect in out.effects:
            if isinstance(effect, MirrorWrite):
                out.effects.remove(effect)
                out.extend(self.write_mirrored(effect, "applied"))
        return out


class ResyncsEmpty(Member):
    """The resynchronisation sends no writes: a new mirror starts from nothing."""

    def mirroring_read(self, request: StartMirroring, epoch: int | None, writes: tuple[WriteRecord, ...]) -> Output:
        return super().mirroring_read(request, epoch, ())


class AckNamesAnotherMirror(Member):
    """A backup host's ACK names the production resource instead of its own mirror."""

    def write_mirrored(self, effect: MirrorWrite, outcome: str) -> Output:
        out = super().write_mirrored(effect, outcome)
        assert self.view is not None
        out.data_sends = [
            DataSend(d.to, d.to_inc, DataAck(resource=self.view.primary, id=effect.write.id)) for d in out.data_sends
        ]
        return out


class PushesOldText(Member):
    """A host that changes its configuration sends the new version number with the old text."""

    def change_config(self, resource: str, data: str) -> Output:
        old = self.configs[resource].data
        out = super().change_config(resource, data)
        out.sends = [
            Send(x.to, x.to_inc, x.msg.model_copy(update={"data": old})) if isinstance(x.msg, ConfigMsg) else x
            for x in out.sends
        ]
        return out


class InstallsOldText(Member):
    """A member taking a CONFIG installs its version number but keeps the text it had."""

    def _install(self, resource: str, version: int, data: str) -> Output:
        held = self.configs.get(resource)
        return super()._install(resource, version, held.data if held is not None and held.version else data)


class _NewestSuccessor(GroupState):
    def _remove(self, msg: Fail) -> None:
        r, member = self.resource_of(msg.node), self.members.get(msg.node)
        was_host = r is not None and member is not None and member.inc == msg.inc and self.host[r] == msg.node
        super()._remove(msg)
        if was_host and r is not None and self.subgroups[r]:
            self.host[r] = self.subgroups[r][-1]


class SuccessorIsNewestMember(RulesMutant):
    """A failed host's successor is the subgroup's newest member, not the next in join order
    (the same member whenever the subgroup had two: it shows with three)."""

    RULES = _NewestSuccessor


MUTANTS: dict[str, MemberFactory] = {
    "skips-access-probe": SkipsAccessProbe,
    "config-from-primary-host": ConfigFromPrimaryHost,
    "promotes-unsynced-mirror": PromotesUnsyncedMirror,
    "forgets-to-install-config": ForgetsToInstallConfig,
    "no-state-resend": NoStateResend,
    "pushes-old-text": PushesOldText,
    "installs-old-text": InstallsOldText,
    "successor-is-newest-member": SuccessorIsNewestMember,
}

# Bugs of the data path: they show only in runs with client writes.
DATA_PATH_MUTANTS: dict[str, MemberFactory] = {
    "acks-before-mirrors": AcksBeforeMirrors,
    "keeps-its-epoch": KeepsItsEpoch,
    "acks-without-applying": AcksWithoutApplying,
    "resyncs-empty": ResyncsEmpty,
    "ack-names-another-mirror": AckNamesAnotherMirror,
}


class SkipsADataFile(MemoryDisks):
    """Synchronises a mirror's data files but the last one (in name order)."""

    def sync_mirror(self, backup: str, production: str) -> None:
        super().sync_mirror(backup, production)
        files = self._disk(backup).data
        files.pop(max(files), None)


class GarblesConfigText(MemoryDisks):
    """Stores a configuration on its resource with the right version and a cut-off text."""

    def store_config(self, resource: str, version: int, data: str) -> None:
        super().store_config(resource, version, data[: len(data) // 2])


class WritesConfigInPlace(MemoryDisks):
    """Stores a configuration by truncating the file and writing it in place: right once done,
    unreadable if the node dies in between."""

    def store_config(self, resource: str, version: int, data: str) -> None:
        disk = self._disk(resource)
        self.failpoints.reach(f"truncate {resource}/config.json")
        disk.version, disk.config = 0, ""
        self.failpoints.reach(f"write {resource}/config.json in place")
        disk.version, disk.config = version, data
        self.failpoints.reach(f"fsync {resource}/config.json")


# Bugs of a resource driver (replay's disks factory) rather than of the member.
DRIVER_MUTANTS: dict[str, type[MemoryDisks]] = {
    "skips-a-data-file": SkipsADataFile,
    "garbles-config-text": GarblesConfigText,
    "writes-config-in-place": WritesConfigInPlace,
}


class LogsFirstResource(InMemoryEngine):
    """Logs every configuration change as a change of the first resource, whichever it changed."""

    def _record(
        self,
        action: Action,
        n: str,
        inc: int,
        consumed: dict[str, object] | None,
        position: int | None,
        outcome: Outcome,
    ) -> StepRecord:
        if action.name == "ChangeConfig":
            action = Action(action.name, (("n", n), ("r", self.resources[0])))
        return super()._record(action, n, inc, consumed, position, outcome)


# Bugs of the engine's log: the steps are right, what the log says of them is not.
ENGINE_MUTANTS: dict[str, type[InMemoryEngine]] = {"logs-first-resource": LogsFirstResource}


@dataclass(frozen=True)
class Variant:
    """An implementation to run: the real one, or one of its parts replaced by a mutant."""

    member: MemberFactory = Member
    disks: type[MemoryDisks] = MemoryDisks
    engine: type[InMemoryEngine] = InMemoryEngine


def variant(mutant: str | None) -> Variant:
    """The implementation with `mutant` (a name from any of the tables above), or the real one."""
    if mutant is None:
        return Variant()
    if mutant in DRIVER_MUTANTS:
        return Variant(disks=DRIVER_MUTANTS[mutant])
    if mutant in ENGINE_MUTANTS:
        return Variant(engine=ENGINE_MUTANTS[mutant])
    return Variant(member={**MUTANTS, **DATA_PATH_MUTANTS}[mutant])


EVERY_MUTANT: tuple[str, ...] = (*MUTANTS, *DATA_PATH_MUTANTS, *DRIVER_MUTANTS, *ENGINE_MUTANTS)
