"""The in-memory deterministic engine: total order, FIFO channels, crashes, all in one process.

Nothing happens unless the caller says which step comes next, so a test (or the
conformance checker) can drive the cluster through any interleaving, crash point and
delivery lag. Each step is one of the spec's actions with the same parameters
(`Deliver(n=n2)`, `ReceiveConfig(src=n1, n=n3)`), and is logged as one record.

The engine plays the cluster's part of the protocol: it keeps the total order of
group messages (every member delivers it at its own pace), multicasts FAIL when a
member crashes, and drops point-to-point messages to or from a failed incarnation.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass

from pbjoin.group import StreamStates
from pbjoin.member import DataSend, Member, Phase, Send
from pbjoin.resources import Crashed, Disks, MemoryDisks
from pbjoin.runtime import RECEIVE_STEP, MemberFactory, NodeRuntime, Outcome
from pbjoin.status import MemberRow
from pbjoin.steplog import AnswerRecord, ClusterRecord, MemberSummary, SentRecord, StepName, StepRecord, StepSink
from pbjoin.wire import (
    DataWrite,
    DirectMsg,
    Fail,
    MalformedMessageError,
    OrderedMsg,
    StartMirror,
    decode_data,
    decode_direct,
    decode_ordered,
    encode,
)

# The steps the environment takes (operators, clients, failures); the others are the
# protocol's own, which a scheduler runs until none is enabled.
ENVIRONMENT_STEPS: tuple[StepName, ...] = ("Join", "Crash", "Restart", "ChangeConfig", "Write", "Pause")
# The data path's environment steps: a run without client writes or pauses has none.
DATA_PATH_ENVIRONMENT: tuple[StepName, ...] = ("Write", "Pause")

# A host's probe of its resource: the steps that multicast RES_FAIL and RES_REPAIR.
REPORT_STEPS: tuple[StepName, ...] = ("ReportFailure", "ReportRepair")

# The steps that take the head of a data channel (WRITE and ACK) rather than a group channel.
DATA_STEPS = ("ReceiveWrite", "ReceiveAck", "DiscardData")


class StepRefusedError(ValueError):
    """A step that is not enabled in the current state."""


@dataclass(frozen=True)
class Action:
    name: StepName
    params: tuple[tuple[str, str], ...]

    def label(self) -> str:
        return f"{self.name}({', '.join(f'{k}={v}' for k, v in self.params)})"


@dataclass
class WriteFate:
    """One client write as its client sees it: who took it, where, and what it was told
    (None while it waits for its mirrors)."""

    by: str
    key: str
    value: str
    position: int = 0
    epoch: int = 0
    status: str | None = None
    waiting: tuple[str, ...] = ()


@dataclass
class Queued:
    to_inc: int
    raw: bytes
    sent_at: int  # the sender's position in the ordered stream when it sent this


class InMemoryEngine:
    def __init__(
        self,
        group: str,
        resources: tuple[str, ...],
        disks: dict[str, Disks],
        sink: StepSink,
        member_factory: MemberFactory = Member,
    ) -> None:
        self.group = group
        self.resources = resources
        self.nodes = tuple(disks)
        self.runtimes = {n: NodeRuntime(n, resources, d, member_factory) for n, d in disks.items()}
        self.ordered: list[bytes] = []
        # Only non-empty FIFO channels are kept: a cluster of n nodes has n*n of them.
        self.channels: dict[tuple[str, str], deque[Queued]] = {}
        self.data_channels: dict[tuple[str, str], deque[Queued]] = {}  # WRITE and ACK
        self.ledger: dict[str, WriteFate] = {}  # every write submitted, in submission order
        self._rank = {n: i for i, n in enumerate(self.nodes)}
        self.seq = 0
        self.sink = sink
        self.stream_states = StreamStates(resources)
        access = {n: d.probe(resources) for n, d in disks.items()}
        self.cluster = ClusterRecord(group=group, nodes=self.nodes, resources=resources, access=access, engine="memory")
        sink.write(self.cluster)

    def fork(self, sink: StepSink) -> InMemoryEngine:
        """An independent copy of the whole cluster (disks included) that logs to `sink`."""
        own, self.sink = self.sink, sink
        try:
            return copy.deepcopy(self)
        finally:
            self.sink = own

    # ------------------------------------------------------------ what may happen next

    def enabled(self) -> list[Action]:
        actions: list[Action] = []
        for n in self.nodes:
            rt = self.runtimes[n]
            node = (("n", n),)
            if rt.phase == Phase.OUT:
                actions.append(Action("Join", node))
            if self._may_recover(n):
                actions.append(Action("RecoverGroupState", node))
            if rt.holds_view() and rt.member.position < len(self.ordered):
                actions.append(Action("Deliver", node))
            if rt.in_group():
                actions.append(Action("Crash", node))
            if rt.phase == Phase.DOWN:
                actions.append(Action("Restart", node))
            for r in self.resources:
                if self._may_change_config(n, r):
                    actions.append(Action("ChangeConfig", (("n", n), ("r", r))))
            for r in self.resources:
                for report in REPORT_STEPS:
                    if self._may_report(report, n, r):
                        actions.append(Action(report, (("n", n), ("r", r))))
            if rt.member.acts_as_primary():
                actions.append(Action("Write", node))
            if self._may_pause(n):
                actions.append(Action("Pause", node))
        for src, dst in sorted(self.channels, key=lambda pair: (self._rank[pair[0]], self._rank[pair[1]])):
            name = self._receive_step(src, dst, self.channels[(src, dst)][0])
            if name is not None:
                actions.append(Action(name, (("src", src), ("n", dst))))
        for src, dst in sorted(self.data_channels, key=lambda pair: (self._rank[pair[0]], self._rank[pair[1]])):
            name = self._receive_data_step(src, dst, self.data_channels[(src, dst)][0])
            if name is not None:
                actions.append(Action(name, (("src", src), ("n", dst))))
        return actions

    def is_enabled(self, action: Action) -> bool:
        params = dict(action.params)
        n = params.get("n")
        if n not in self.runtimes or not set(params) <= {"n", "src", "r"}:
            return False
        rt = self.runtimes[n]
        if action.name == "Join":
            return rt.phase == Phase.OUT
        if action.name == "RecoverGroupState":
            return self._may_recover(n)
        if action.name == "Deliver":
            return rt.holds_view() and rt.member.position < len(self.ordered)
        if action.name == "Crash":
            return rt.in_group()
        if action.name == "Restart":
            return rt.phase == Phase.DOWN
        if action.name == "ChangeConfig":
            return params.get("r") in self.resources and self._may_change_config(n, params["r"])
        if action.name in ("ReportFailure", "ReportRepair"):
            return params.get("r") in self.resources and self._may_report(action.name, n, params["r"])
        if action.name == "Write":
            return rt.member.acts_as_primary()
        if action.name == "Pause":
            return self._may_pause(n)
        src = params.get("src", "")
        if action.name in DATA_STEPS:
            data = self.data_channels.get((src, n))
            return data is not None and self._receive_data_step(src, n, data[0]) == action.name
        queue = self.channels.get((src, n))
        return queue is not None and self._receive_step(params["src"], n, queue[0]) == action.name

    def _may_recover(self, n: str) -> bool:
        if self.runtimes[n].phase != Phase.WAIT_STATE:
            return False
        return not any(rt.holds_view() for m, rt in self.runtimes.items() if m != n)

    def _may_pause(self, n: str) -> bool:
        return self.runtimes[n].member.is_primary_host()

    def _may_change_config(self, n: str, r: str) -> bool:
        rt = self.runtimes[n]
        member = rt.member
        if member.phase != Phase.MEMBER or member.view is None or member.view.host[r] != n:
            return False
        return r not in member.view.lost and rt.resource_failure(r) is None

    def _may_report(self, name: str, n: str, r: str) -> bool:
        """A host's probe of its resource: ReportFailure if it finds it failed and the group does not
        count it lost, ReportRepair if it finds it working and the group counts it lost."""
        rt = self.runtimes[n]
        if name == "ReportFailure":
            return rt.member.may_report_failure(r) and rt.resource_failure(r) is not None
        return rt.member.may_report_repair(r) and rt.resource_failure(r) is None

    def _receive_step(self, src: str, dst: str, head: Queued) -> StepName | None:
        rt = self.runtimes[dst]
        try:
            msg = decode_direct(head.raw)
        except MalformedMessageError:
            return "Discard"
        if head.to_inc != rt.inc:
            return "Discard"
        if not rt.member.accepts(msg, head.sent_at):
            return None
        if self._refusal(src, dst, msg, head.sent_at) is not None:
            return "Refuse"
        return RECEIVE_STEP[type(msg)]

    def _receive_data_step(self, src: str, dst: str, head: Queued) -> StepName | None:
        rt = self.runtimes[dst]
        try:
            msg = decode_data(head.raw)
        except MalformedMessageError:
            return "DiscardData"
        if head.to_inc != rt.inc:
            return "DiscardData"
        if isinstance(msg, DataWrite) and self._resync_in_flight(src, dst, msg.resource):
            return None  # the resynchronisation and the writes after it are one stream
        if rt.data_waits(src, msg, head.sent_at):
            return None
        return RECEIVE_STEP[type(msg)]

    def _resync_in_flight(self, src: str, dst: str, resource: str) -> bool:
        for queued in self.channels.get((src, dst), ()):
            try:
                msg = decode_direct(queued.raw)
            except MalformedMessageError:
                continue
            if isinstance(msg, StartMirror) and msg.resource == resource:
                return True
        return False

    def _refusal(self, src: str, dst: str, msg: DirectMsg, sent_at: int) -> str | None:
        return self.runtimes[dst].refusal(src, msg, sent_at, self.stream_states, self._ordered_at)

    def _ordered_at(self, position: int) -> OrderedMsg:
        return decode_ordered(self.ordered[position])

    # ------------------------------------------------------------ taking a step

    def step(self, action: Action) -> StepRecord:
        if not self.is_enabled(action):
            raise StepRefusedError(f"{action.label()} is not enabled")
        params = dict(action.params)
        n = params["n"]
        rt = self.runtimes[n]
        inc = rt.inc
        consumed: dict[str, object] | None = None
        position: int | None = None
        if action.name == "Join":
            outcome = rt.join()
        elif action.name == "RecoverGroupState":
            outcome = rt.recover([decode_ordered(raw) for raw in self.ordered])
        elif action.name == "Deliver":
            position = rt.member.position
            msg = decode_ordered(self.ordered[position])
            consumed = msg.model_dump(mode="json")
            outcome = rt.deliver(msg)
        elif action.name == "ChangeConfig":
            outcome = rt.change_config(params["r"])
        elif action.name == "ReportFailure":
            outcome = rt.report_failure(params["r"], rt.resource_failure(params["r"]) or "")
        elif action.name == "ReportRepair":
            outcome = rt.report_repair(params["r"])
        elif action.name == "Crash":
            outcome = self._crash(n)
        elif action.name == "Restart":
            self._drop(self.data_channels, n)
            outcome = rt.restart()
            inc = rt.inc
        elif action.name == "Write":
            k = len(self.ledger) + 1
            consumed = {"id": f"w{k}", "key": f"k{k}", "value": f"v{k}"}
            outcome = self._write(n, f"w{k}", f"k{k}", f"v{k}")
        elif action.name == "Pause":
            outcome = self._pause(n)
        elif action.name in DATA_STEPS:
            consumed, outcome = self._take_data(params["src"], n, action.name)
        else:
            consumed, outcome = self._take_direct(params["src"], n, action.name)
        return self._record(action, n, inc, consumed, position, outcome)

    def crash_inside(self, action: Action, operation: int) -> StepRecord:
        """Take `action`, its node crashing just before the `operation`-th file operation of its
        effects (counting from 1): the member dies with whatever the step would have sent or
        multicast, its files are as far as it got, and the group fails it (logged as Crash)."""
        n = dict(action.params).get("n", "")
        if not self.is_enabled(action) or not self.runtimes[n].in_group():
            raise StepRefusedError(f"{action.label()} is not enabled for a member that may crash")
        inc, failpoints = self.runtimes[n].inc, self.runtimes[n].disks.failpoints
        failpoints.arm(operation)
        try:
            self.step(action)
        except Crashed:
            return self._record(Action("Crash", (("n", n),)), n, inc, None, None, self._crash(n))
        finally:
            failpoints.disarm()
        raise StepRefusedError(f"{action.label()} performs fewer than {operation} file operations")

    def write(self, n: str, write_id: str, key: str, value: str) -> StepRecord:
        """A client's write with its own id, key and value, as the `Write(n)` step."""
        rt = self.runtimes.get(n)
        if rt is None or not rt.member.acts_as_primary():
            raise StepRefusedError(f"Write(n={n}) is not enabled: {n} is not the primary host")
        if write_id in self.ledger:
            raise StepRefusedError(f"write {write_id} was submitted before: a write id names one write")
        request: dict[str, object] = {"id": write_id, "key": key, "value": value}  # the client's, as logged
        outcome = self._write(n, write_id, key, value)
        return self._record(Action("Write", (("n", n),)), n, rt.inc, request, None, outcome)

    def _write(self, n: str, write_id: str, key: str, value: str) -> Outcome:
        self.ledger[write_id] = WriteFate(by=n, key=key, value=value)
        return self.runtimes[n].write(write_id, key, value)

    def _update_ledger(self, n: str, outcome: Outcome) -> None:
        for answer in outcome.answers:
            fate = self.ledger.get(answer.id)
            if fate is not None and fate.by == n:
                fate.status, fate.position, fate.epoch = answer.status, answer.position, answer.epoch
                if answer.status != "unknown":  # an unanswered write keeps what it waited for
                    fate.waiting = ()
        for write_id, pending in self.runtimes[n].member.pending.items():
            fate = self.ledger.get(write_id)
            if fate is not None and fate.by == n:
                fate.position, fate.epoch = pending.position, pending.write.epoch
                fate.waiting = tuple(sorted(pending.waiting))

    def _take_data(self, src: str, dst: str, name: StepName) -> tuple[dict[str, object], Outcome]:
        head = self._pop(self.data_channels, src, dst)
        rt = self.runtimes[dst]
        try:
            msg = decode_data(head.raw)
        except MalformedMessageError as exc:
            return {"raw": head.raw.decode(errors="replace")}, Outcome(notes=[f"rejected from {src}: {exc}"])
        consumed = msg.model_dump(mode="json")
        if name == "DiscardData":
            note = f"rejected {msg.kind} from {src}: for incarnation {head.to_inc}, this is {rt.inc}"
            return consumed, Outcome(notes=[note])
        return consumed, rt.receive_data(src, msg)

    def _drop(self, channels: dict[tuple[str, str], deque[Queued]], n: str) -> None:
        """Every channel of this kind to or from n goes."""
        for other in self.nodes:
            channels.pop((n, other), None)
            channels.pop((other, n), None)

    @staticmethod
    def _pop(channels: dict[tuple[str, str], deque[Queued]], src: str, dst: str) -> Queued:
        queue = channels[(src, dst)]
        head = queue.popleft()
        if not queue:
            del channels[(src, dst)]
        return head

    def _pause(self, n: str) -> Outcome:
        """The group fails n (FAIL, its group channels gone); n keeps its data channels and acts on."""
        rt = self.runtimes[n]
        inc = rt.inc
        rt.pause()
        self._drop(self.channels, n)
        return Outcome(multicasts=[Fail(node=n, inc=inc)])

    def _take_direct(self, src: str, dst: str, name: StepName) -> tuple[dict[str, object], Outcome]:
        head = self._pop(self.channels, src, dst)
        rt = self.runtimes[dst]
        try:
            msg: DirectMsg = decode_direct(head.raw)
        except MalformedMessageError as exc:
            return {"raw": head.raw.decode(errors="replace")}, Outcome(notes=[f"rejected from {src}: {exc}"])
        consumed = msg.model_dump(mode="json")
        if name == "Discard":
            note = f"rejected {msg.kind} from {src}: for incarnation {head.to_inc}, this is {rt.inc}"
            return consumed, Outcome(notes=[note])
        if name == "Refuse":
            return consumed, Outcome(notes=[f"refused {self._refusal(src, dst, msg, head.sent_at)}"])
        return consumed, rt.receive(src, msg)

    def _crash(self, n: str) -> Outcome:
        rt = self.runtimes[n]
        inc = rt.inc
        outcome = rt.crash()
        self._drop(self.channels, n)
        self._drop(self.data_channels, n)
        outcome.multicasts.append(Fail(node=n, inc=inc))
        return outcome

    def _record(
        self,
        action: Action,
        n: str,
        inc: int,
        consumed: dict[str, object] | None,
        position: int | None,
        outcome: Outcome,
    ) -> StepRecord:
        multicast_at = []
        for msg in outcome.multicasts:
            multicast_at.append(len(self.ordered))
            self.ordered.append(encode(msg))
        sent = [self._transmit(n, s) for s in outcome.sends]
        data_sent = [self._transmit_data(n, s) for s in outcome.data_sends]
        self._update_ledger(n, outcome)
        self.seq += 1
        record = StepRecord(
            seq=self.seq,
            member=n,
            inc=inc,
            step=action.name,
            params=dict(action.params),
            consumed=consumed,
            position=position,
            multicast=[m.model_dump(mode="json") for m in outcome.multicasts],
            multicast_at=multicast_at,
            sent=sent,
            data_sent=data_sent,
            answers=[
                AnswerRecord(id=a.id, status=a.status, position=a.position, epoch=a.epoch, reason=a.reason)
                for a in outcome.answers
            ],
            effects=outcome.effects,
            data=outcome.data,
            notes=outcome.notes,
            post=MemberSummary.model_validate(self.runtimes[n].summary()),
        )
        self.sink.write(record)
        return record

    def _transmit(self, src: str, send: Send) -> SentRecord:
        receiver = self.runtimes.get(send.to)
        alive = receiver is not None and receiver.phase != Phase.DOWN and receiver.inc == send.to_inc
        if alive:
            sent_at = self.runtimes[src].member.position
            self.channels.setdefault((src, send.to), deque()).append(Queued(send.to_inc, encode(send.msg), sent_at))
        return SentRecord(to=send.to, to_inc=send.to_inc, msg=send.msg.model_dump(mode="json"), delivered=alive)

    def _transmit_data(self, src: str, send: DataSend) -> SentRecord:
        # A data channel lives until either end crashes or restarts (a paused writer still
        # takes ACKs); what is sent to a crashed incarnation is taken off and dropped.
        sender = self.runtimes[src].member
        receiver = self.runtimes.get(send.to)
        alive = receiver is not None and receiver.inc == send.to_inc
        if alive:
            sent_at = sender.position if sender.phase == Phase.MEMBER else 0
            queued = Queued(send.to_inc, encode(send.msg), sent_at)
            self.data_channels.setdefault((src, send.to), deque()).append(queued)
        return SentRecord(to=send.to, to_inc=send.to_inc, msg=send.msg.model_dump(mode="json"), delivered=alive)

    # ------------------------------------------------------------ resources failing

    def set_resource_failed(self, resource: str, failed: bool) -> None:
        """An in-memory resource fails (out of every node's reach, what it holds kept) or is
        repaired: the environment's FailResource / RepairResource. Not a step of any member, so
        not logged: the host's probe that notices it is (ReportFailure, ReportRepair). Directory
        resources fail by what happens to their directories."""
        if resource not in self.resources:
            raise StepRefusedError(f"{resource} is not a resource of the group")
        memory = [rt.disks for rt in self.runtimes.values() if isinstance(rt.disks, MemoryDisks)]
        if not memory:
            raise StepRefusedError("only in-memory resources fail on request")
        for disks in memory:
            if resource in disks.disks:
                disks.set_failed(resource, failed)

    # ------------------------------------------------------------ for tests and tools

    def inject_direct(self, src: str, dst: str, to_inc: int, raw: bytes) -> None:
        """Put raw bytes on a channel, as a faulty or hostile peer could."""
        sent_at = self.runtimes[src].member.position
        self.channels.setdefault((src, dst), deque()).append(Queued(to_inc, raw, sent_at))

    def inject_data(self, src: str, dst: str, to_inc: int, raw: bytes) -> None:
        """Put raw bytes on a data channel, as a faulty or hostile peer could."""
        self.data_channels.setdefault((src, dst), deque()).append(Queued(to_inc, raw, 0))

    def members(self) -> list[MemberRow]:
        rows = []
        for n, rt in self.runtimes.items():
            rows.append(MemberRow(n, rt.inc, MemberSummary.model_validate(rt.summary())))
        return rows

    def ordered_messages(self) -> list[OrderedMsg]:
        return [decode_ordered(raw) for raw in self.ordered]
