"""One member of a group as a long-lived process over etcd.

The process owns a `NodeRuntime` (the sans-IO member plus its disks) and gives it
the cluster the protocol assumes, built from etcd (docs/etcd.md has the mapping):

- the ordered stream is the `GroupStream` this process computes from the group's
  key history (watched from revision 1, resumed after the last revision on any
  reconnect), delivered to the member one message at a time at its own pace;
- each step commits everything it produced in ONE transaction, conditioned on this
  incarnation's liveness key: its multicasts (consecutive positions), its
  point-to-point messages and its published phase. A member whose lease expired can
  therefore never speak again; it notices and stops;
- a vanished member's FAIL is written by whichever survivor's transaction wins.

Every step is written to the node's JSON-line step log: first as an intent, before it
runs (so a kill inside its effects on a resource leaves a trace); then, if it commits
anything, before its transaction (so a kill right after the commit loses no step others
may have seen: a multicast, a message sent, a published phase) and after it, with the
positions a multicast took; the merge in `pbjoin_model.conformance.logs` keeps
the latest copy and resolves a lone first copy.

Point-to-point messages carry the sender's *horizon*: the highest etcd revision its
step causally follows. A receiver takes a message only if neither its sender's nor
its own FAIL lies within the combined horizon; otherwise the model would already have
dropped it (a crash clears the failed member's channels), and the receiver discards
it. This is what lets the merged logs be put in one order the model accepts.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import queue
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from pbjoin.etcd.client import (
    EtcdAmbiguousError,
    EtcdConnection,
    EtcdError,
    EtcdUnreachableError,
    WatchEvent,
    delete_op,
    key_absent,
    key_created_at,
    key_modified_at,
    put_op,
)
from pbjoin.etcd.stream import VIEW_PHASES, Direct, GroupStream, Keys, Request
from pbjoin.group import StreamStates
from pbjoin.member import DataSend, Member, Phase, Send, WriteAnswer
from pbjoin.resources import Disks, ResourceError
from pbjoin.runtime import RECEIVE_STEP, NodeRuntime, Outcome
from pbjoin.steplog import AnswerRecord, ClusterRecord, JsonLineLog, MemberSummary, SentRecord, StepName, StepRecord
from pbjoin.wire import (
    ClientAnswer,
    DataMsg,
    DataWrite,
    DirectMsg,
    Fail,
    GroupStateMsg,
    MalformedMessageError,
    StartMirror,
    decode_data,
    decode_direct,
    decode_ordered,
    decode_request,
    encode,
)

EXIT_LEFT = 0
EXIT_CRASHED = 1  # declared failed (lease lost) or its FAIL is in the stream
EXIT_BAD_INPUT = 2
EXIT_REJECTED = 3


class NodeError(RuntimeError):
    """The node cannot start or go on; the message is one line."""


class StopRequestedError(Exception):
    """SIGTERM or SIGINT arrived while the node was still waiting to become a member."""


class LostError(Exception):
    """This incarnation has been declared failed: it must stop at once."""


PROBE_INTERVAL = 0.2  # seconds between a host's probes of its resource


def log_event(node: str, event: str, **fields: Any) -> None:
    """One structured log line on stderr."""
    record = {"ts": round(time.time(), 3), "node": node, "event": event, **fields}
    sys.stderr.write(json.dumps(record, default=str) + "\n")
    sys.stderr.flush()


def read_group_resources(conn: EtcdConnection, group: str) -> tuple[str, ...]:
    kv = conn.get(Keys(group).config)
    if kv is None:
        raise NodeError(f"group {group!r} is not defined in etcd (no {Keys(group).config})")
    try:
        resources = tuple(str(r) for r in json.loads(kv.value)["resources"])
    except (ValueError, KeyError, TypeError):
        raise NodeError(f"group {group!r} has a malformed definition") from None
    if not resources:
        raise NodeError(f"group {group!r} manages no resources")
    return resources


def envelope(horizon: int, msg: DirectMsg | DataMsg) -> bytes:
    value: dict[str, object] = {"horizon": horizon, "msg": encode(msg).decode()}
    if isinstance(msg, DirectMsg):
        return json.dumps(value).encode()
    return json.dumps({**value, "channel": "data"}).encode()


def _open(raw: bytes) -> tuple[int, str, str]:
    try:
        value = json.loads(raw)
        horizon, body, channel = value["horizon"], value["msg"], value.get("channel", "group")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise MalformedMessageError("malformed envelope") from None
    if not isinstance(horizon, int) or not isinstance(body, str) or channel not in ("group", "data"):
        raise MalformedMessageError("malformed envelope")
    return horizon, body, channel


def is_data(raw: bytes) -> bool:
    """Whether a point-to-point value is on a data channel (WRITE, ACK) rather than a group channel."""
    try:
        return _open(raw)[2] == "data"
    except MalformedMessageError:
        return False


def open_envelope(raw: bytes) -> tuple[int, DirectMsg]:
    horizon, body, channel = _open(raw)
    if channel != "group":
        raise MalformedMessageError("malformed envelope (a data message on a group channel)")
    return horizon, decode_direct(body.encode())


def open_data_envelope(raw: bytes) -> tuple[int, DataMsg]:
    horizon, body, channel = _open(raw)
    if channel != "data":
        raise MalformedMessageError("malformed envelope (a group message on a data channel)")
    return horizon, decode_data(body.encode())


@dataclass
class Pending:
    """A point-to-point message for this incarnation that it has not taken yet."""

    direct: Direct


class EtcdNode:
    def __init__(
        self,
        connect: Callable[[], EtcdConnection],
        group: str,
        node: str,
        disks: Disks,
        log: JsonLineLog,
        lease_ttl: int = 2,
    ) -> None:
        self.connect = connect
        self.conn = connect()
        self.keys = Keys(group)
        self.group = group
        self.node = node
        self.disks = disks
        self.log = log
        self.lease_ttl = lease_ttl
        self.stream = GroupStream(group, inbox_of=node)
        self.events: queue.Queue[list[WatchEvent] | BaseException] = queue.Queue()
        self.stop = threading.Event()
        self.change_config = threading.Event()  # set (SIGUSR1): hosts write a new configuration version
        self.halt = threading.Event()  # background threads end with the process's work
        self.lease_lost = threading.Event()
        self.inc = 0
        self.lease = 0
        self.created = 0  # create revision of this incarnation's liveness key
        self.horizon = 0
        self.step_no = 0
        self.inbox: dict[str, deque[Pending]] = {}  # group channels, per sender
        self.data_inbox: dict[str, deque[Pending]] = {}  # data channels (WRITE, ACK), per sender
        self.inbox_seen = 0
        self.requests_seen = 0
        self.dead_senders: set[tuple[str, int]] = set()
        self.published = "out"
        self.copy_published: dict[str, object] | None = None  # _copy_summary as of the last data step
        self.resources: tuple[str, ...] = ()
        self.runtime: NodeRuntime | None = None
        self.stream_states = StreamStates(())  # replaced once the group's resources are known
        self.next_probe = 0.0  # when this host next probes its resource (monotonic clock)

    # ------------------------------------------------------------ life cycle

    def run(self) -> int:
        try:
            self.resources = read_group_resources(self.conn, self.group)
            threading.Thread(target=self._watch, name="watch", daemon=True).start()
            self._catch_up(self.conn.latest_revision_under(self.keys.prefix))
            self._become_incarnation()
            return self._loop()
        except LostError as exc:
            log_event(self.node, "crashed", inc=self.inc, reason=str(exc))
            return EXIT_CRASHED
        except StopRequestedError as exc:
            if self.lease:  # the liveness key goes now, not when the lease runs out
                self.conn.revoke_lease(self.lease)
            log_event(self.node, "stopped", inc=self.inc, reason=str(exc))
            return 0
        finally:
            self.halt.set()

    def _watch(self) -> None:
        conn = self.connect()
        try:
            for batch in conn.watch_prefix(self.keys.prefix, 1, self.halt):
                self.events.put(batch)
        except BaseException as exc:  # handed to the main loop, which reports it
            self.events.put(exc)

    def _keep_alive(self) -> None:
        conn = self.connect()
        failing = False
        while not self.halt.wait(self.lease_ttl / 4):
            try:
                if conn.keep_alive(self.lease) < 0:
                    self.lease_lost.set()
                    return
            except EtcdError as exc:
                # etcd unreachable for now: retried, since the lease decides, not this thread.
                if not failing:
                    log_event(self.node, "keepalive-failing", lease=self.lease, reason=str(exc))
                failing = True
                continue
            if failing:
                log_event(self.node, "keepalive-restored", lease=self.lease)
                failing = False

    def _drain(self, wait: float) -> None:
        try:
            item = self.events.get(timeout=wait) if wait > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        while True:
            if isinstance(item, BaseException):
                if isinstance(item, EtcdError):
                    raise NodeError(str(item))
                raise item
            self.stream.apply(item)
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                return

    def _catch_up(self, revision: int, timeout: float = 30.0) -> None:
        """Wait until the watch has applied every change of the group up to `revision`.

        `revision` may count writes outside the group (a failed transaction answers with
        the store's revision): when the watch does not get there at once, the target is
        lowered to the group's own newest change.
        """
        started = time.monotonic()
        deadline = started + timeout
        lowered = False
        while self.stream.revision < revision:
            if not lowered and time.monotonic() - started > 0.2:
                revision = min(revision, self.conn.latest_revision_under(self.keys.prefix))
                lowered = True
                continue
            if time.monotonic() > deadline:
                raise NodeError(f"the watch did not reach revision {revision} in {timeout:.0f} s")
            if self.runtime is None and self.stop.is_set():  # a member leaves from its loop instead
                raise StopRequestedError("stopped while catching up with the group's stream")
            self._drain(0.05)

    def _become_incarnation(self) -> None:
        """Take the next incarnation number, once the previous one has left the group."""
        self.inc = self.stream.next_incarnation(self.node)
        previous = (self.node, self.inc - 1)
        announced = False
        while self.inc > 0 and previous not in self.stream.failed:
            if previous in self.stream.needs_fail:
                self._write_fail(previous)
            elif previous not in self.stream.live:
                raise NodeError(f"{self.node}#{previous[1]} was rejected by group {self.group}; it cannot rejoin")
            elif not announced:
                log_event(self.node, "waiting", reason=f"incarnation {previous[1]} is still live")
                announced = True
            if self.stop.is_set():
                raise StopRequestedError(f"stopped while incarnation {previous[1]} was still live")
            self._drain(0.1)
        key = self.keys.member(self.node, self.inc)
        for attempt in range(3):
            self.lease = self.conn.grant_lease(self.lease_ttl)
            if attempt == 0:
                threading.Thread(target=self._keep_alive, name="keepalive", daemon=True).start()
            try:
                ok, revision = self.conn.txn([key_absent(key)], [put_op(key, self._phase_value("out"), self.lease)])
                break
            except EtcdError as exc:
                # etcd slowed down (a leader election) until the fresh lease expired: take another.
                if "lease not found" not in str(exc) or attempt == 2:
                    raise
        if not ok:
            mine = self.conn.get(key)  # a resent request finds the key its first attempt created
            if mine is None or mine.lease != self.lease:
                raise NodeError(f"{self.node}#{self.inc} is already running")
            revision = mine.create_revision
        self.created = revision
        self.horizon = revision
        self._catch_up(revision)
        self.disks.reset_node()  # a new incarnation starts with no configuration installed
        inc = self.inc
        self.runtime = NodeRuntime(self.node, self.resources, self.disks, lambda n, _i, rs: Member(n, inc, rs))
        self.stream_states = StreamStates(self.resources)
        if not self.log.path.exists() or self.log.path.stat().st_size == 0:
            access = {self.node: self.disks.probe(self.resources)}
            self.log.write(
                ClusterRecord(
                    group=self.group, nodes=(self.node,), resources=self.resources, access=access, engine="etcd"
                )
            )
        log_event(self.node, "started", inc=self.inc, lease=self.lease, resources=list(self.resources))

    def _phase_value(self, phase: str, step: int = 0) -> bytes:
        value: dict[str, object] = {"phase": phase, "step": step, "pid": os.getpid()}
        if self.copy_published is not None:
            value["copy"] = self.copy_published
        return json.dumps(value).encode()

    def _copy_summary(self) -> dict[str, object] | None:
        """What `pbjoin status` shows of the data path: the copy this member hosts (writes held,
        fence), its epoch as primary host and the writes it still waits on mirrors for."""
        rt = self.runtime
        view = None if rt is None else rt.member.acting_view()
        if rt is None or view is None:
            return None
        hosted = next((r for r, host in view.host.items() if host == self.node), None)
        if hosted is None:
            return None
        try:
            fence, writes = rt.disks.read_copy(hosted)
        except ResourceError:
            return None  # unreadable now: the step that needs it reports the error
        return {
            "resource": hosted,
            "writes": len(writes),
            "fence": fence,
            "epoch": rt.member.epoch,
            "pending": len(rt.member.pending),
        }

    def _txn(self, compares: list[dict[str, Any]], ops: list[dict[str, Any]]) -> tuple[bool, int]:
        """Commit a step's transaction exactly once, even if the connection breaks mid-request."""
        me = self.keys.member(self.node, self.inc)
        while True:
            try:
                return self.conn.txn(compares, ops, resend=False)
            except EtcdAmbiguousError as exc:
                log_event(self.node, "reconnecting", reason=str(exc))
            while True:
                try:
                    kv = self.conn.get(me)
                    break
                except EtcdUnreachableError:
                    time.sleep(0.2)
            if kv is None:
                raise LostError("this incarnation's liveness key is gone")
            if json.loads(kv.value).get("step") == self.step_no:
                return True, kv.mod_revision  # it was committed before the connection broke

    # ------------------------------------------------------------ the main loop

    def _loop(self) -> int:
        progressed = True
        while True:
            self._drain(0.0 if progressed else 0.05)
            self._check_alive()
            rt = self.runtime
            assert rt is not None
            if self.stop.is_set():
                return self._leave()
            if rt.phase == Phase.REJECTED:
                log_event(self.node, "rejected", inc=self.inc, reason="reaches none of the group's resources")
                self.conn.revoke_lease(self.lease)
                return EXIT_REJECTED
            progressed = self._tick(rt)

    def _check_alive(self) -> None:
        me = (self.node, self.inc)
        if self.lease_lost.is_set():
            raise LostError("lease expired")
        if me in self.stream.failed:
            raise LostError("this incarnation's FAIL is in the ordered stream")
        if self.stream.revision >= self.created and me not in self.stream.live:
            raise LostError("this incarnation's liveness key is gone")

    def _tick(self, rt: NodeRuntime) -> bool:
        progressed = False
        for inc in sorted(self.stream.needs_fail):
            self._write_fail(inc)
            progressed = True
        if rt.phase == Phase.OUT:
            return self._commit("Join", {"n": self.node}, rt.join) or progressed
        if self.change_config.is_set() and rt.phase == Phase.MEMBER:
            self.change_config.clear()
            progressed |= self._change_config(rt)
        if self._may_recover(rt):
            progressed |= self._recover(rt)
        if rt.holds_view() and rt.member.position < len(self.stream.ordered):
            progressed |= self._deliver(rt)
        progressed |= self._probe_resources(rt)
        progressed |= self._take_requests(rt)
        return self._take_direct(rt) or progressed

    def _probe_resources(self, rt: NodeRuntime) -> bool:
        """A host probes its resource now and then: it reports a failure (ReportFailure) or, once the
        group counts it lost, its repair (ReportRepair)."""
        now = time.monotonic()
        if now < self.next_probe:
            return False
        self.next_probe = now + PROBE_INTERVAL
        for r in self.resources:
            params = {"n": self.node, "r": r}
            if rt.member.may_report_failure(r):
                reason = rt.resource_failure(r)
                if reason is not None:
                    log_event(self.node, "resource-failed", resource=r, reason=reason)
                    return self._commit("ReportFailure", params, partial(rt.report_failure, r, reason))
            elif rt.member.may_report_repair(r) and rt.resource_failure(r) is None:
                log_event(self.node, "resource-repaired", resource=r)
                return self._commit("ReportRepair", params, partial(rt.report_repair, r))
        return False

    def _change_config(self, rt: NodeRuntime) -> bool:
        view = rt.member.view
        assert view is not None
        changed = False
        for r in [r for r in view.resources if view.host[r] == self.node and r not in view.lost]:
            if rt.resource_failure(r) is not None:
                continue  # the probe reports it
            changed |= self._commit("ChangeConfig", {"n": self.node, "r": r}, partial(rt.change_config, r))
        return changed

    def _write_fail(self, inc: tuple[str, int]) -> None:
        fail = Fail(node=inc[0], inc=inc[1])
        key = self.keys.fail(self.node, *inc)
        ok, revision = self.conn.txn([key_absent(self.keys.member(*inc)), key_absent(key)], [put_op(key, encode(fail))])
        if ok:
            log_event(self.node, "declared-failed", failed=f"{inc[0]}#{inc[1]}", revision=revision)
        self._catch_up(revision)

    # ------------------------------------------------------------ steps

    def _commit(
        self,
        name: StepName,
        params: dict[str, str],
        run: Callable[[], Outcome],
        consumed: dict[str, Any] | None = None,
        position: int | None = None,
        compares: list[dict[str, Any]] | None = None,
        extra_ops: list[dict[str, Any]] | None = None,
    ) -> bool:
        """Run one step and commit what it produced atomically; False if a condition failed."""
        rt = self.runtime
        assert rt is not None
        # A kill inside the step's effects (a write fsynced, the log line not yet written)
        # must leave a trace of the step: this copy, replaced by the ones below.
        intent = self._record(name, params, consumed, position, Outcome(), [])
        self.log.write(intent.model_copy(update={"seq": self.step_no + 1, "intent": True}))
        snapshot = copy.deepcopy(rt.member)
        outcome = run()
        if outcome.effects or outcome.answers or outcome.data_sends:
            # only a step that touched the disks or the data path can change what status shows
            self.copy_published = self._copy_summary()
        self.step_no += 1
        ops = list(extra_ops or [])
        for k, msg in enumerate(outcome.multicasts):
            ops.append(put_op(self.keys.message(self.node, self.inc, self.step_no, k), encode(msg)))
        sends: list[Send | DataSend] = [*outcome.sends, *outcome.data_sends]
        for k, send in enumerate(sends):
            key = self.keys.p2p(self.node, self.inc, send.to, send.to_inc, self.step_no, k)
            ops.append(put_op(key, envelope(self.horizon, send.msg)))
        ops += self._answer_ops(outcome.answers)
        phase = rt.phase.value
        record = self._record(name, params, consumed, position, outcome, [])
        multicast_at: list[int] = []
        if ops or phase != self.published:
            # The liveness key carries the phase and this step's number: after a lost
            # connection, it tells whether the transaction was committed.
            me = self.keys.member(self.node, self.inc)
            ops.append(put_op(me, self._phase_value(phase, self.step_no), self.lease))
            self.log.write(record)  # before the commit: a kill right after it loses no step
            ok, revision = self._txn([key_created_at(me, self.created), *(compares or [])], ops)
            if not ok:
                rt.member = snapshot
                self.step_no -= 1
                if self.conn.get(self.keys.member(self.node, self.inc)) is None:
                    raise LostError("this incarnation's liveness key is gone")
                return False
            self.published = phase
            self.horizon = max(self.horizon, revision)
            if outcome.multicasts:
                self._catch_up(revision)
                multicast_at = [p for p, r in enumerate(self.stream.revisions) if r == revision]
                if len(multicast_at) != len(outcome.multicasts):
                    raise LostError("the stream did not take this incarnation's multicast")
        self.log.write(record.model_copy(update={"multicast_at": multicast_at}))
        log_event(self.node, "step", inc=self.inc, step=name, params=params, phase=phase)
        return True

    def _record(
        self,
        name: StepName,
        params: dict[str, str],
        consumed: dict[str, Any] | None,
        position: int | None,
        outcome: Outcome,
        multicast_at: list[int],
    ) -> StepRecord:
        rt = self.runtime
        assert rt is not None
        return StepRecord(
            seq=self.step_no,
            member=self.node,
            inc=self.inc,
            step=name,
            params=params,
            consumed=consumed,
            position=position,
            multicast=[m.model_dump(mode="json") for m in outcome.multicasts],
            multicast_at=multicast_at,
            sent=[
                SentRecord(to=s.to, to_inc=s.to_inc, msg=s.msg.model_dump(mode="json"), delivered=True)
                for s in outcome.sends
            ],
            data_sent=[
                SentRecord(to=s.to, to_inc=s.to_inc, msg=s.msg.model_dump(mode="json"), delivered=True)
                for s in outcome.data_sends
            ],
            answers=[
                AnswerRecord(id=a.id, status=a.status, position=a.position, epoch=a.epoch, reason=a.reason)
                for a in outcome.answers
            ],
            effects=outcome.effects,
            data=outcome.data,
            notes=outcome.notes,
            post=MemberSummary.model_validate(rt.member.summary()),
        )

    def _deliver(self, rt: NodeRuntime) -> bool:
        position = rt.member.position
        msg = self.stream.ordered[position]
        if isinstance(msg, Fail) and (msg.node, msg.inc) == (self.node, self.inc):
            raise LostError("delivered its own FAIL")
        self.horizon = max(self.horizon, self.stream.revisions[position])
        consumed = msg.model_dump(mode="json")
        return self._commit("Deliver", {"n": self.node}, lambda: rt.deliver(msg), consumed, position)

    def _may_recover(self, rt: NodeRuntime) -> bool:
        """No other member of the group holds a view (every vanished one already failed)."""
        if rt.phase != Phase.WAIT_STATE or self.stream.needs_fail:
            return False
        for node, inc in self.stream.joined.items():
            if node == self.node or not self.stream.in_group((node, inc)):
                continue
            live = self.stream.live.get((node, inc))
            if live is None or live.phase in VIEW_PHASES:
                return False
        return True

    def _recover(self, rt: NodeRuntime) -> bool:
        compares = [key_modified_at(self.keys.recovery, self.stream.recovery_revision)]
        for (node, inc), live in self.stream.live.items():
            if node != self.node and self.stream.in_group((node, inc)):
                compares.append(key_modified_at(self.keys.member(node, inc), live.mod_revision))
        stream = list(self.stream.ordered)
        self.horizon = max(self.horizon, self.stream.revision)
        marker = put_op(self.keys.recovery, json.dumps({"by": self.node, "inc": self.inc}).encode())
        return self._commit(
            "RecoverGroupState", {"n": self.node}, lambda: rt.recover(stream), compares=compares, extra_ops=[marker]
        )

    # ------------------------------------------------------------ point-to-point messages

    def _take_direct(self, rt: NodeRuntime) -> bool:
        for direct in self.stream.direct[self.inbox_seen :]:
            if direct.dst_inc == self.inc:
                inbox = self.data_inbox if is_data(direct.value) else self.inbox
                inbox.setdefault(direct.src, deque()).append(Pending(direct))
        self.inbox_seen = len(self.stream.direct)
        progressed = False
        for inbox, take in ((self.inbox, self._take_head), (self.data_inbox, self._take_data_head)):
            for src in sorted(inbox):
                queue_ = inbox[src]
                if queue_ and take(rt, src, queue_[0].direct):
                    queue_.popleft()
                    progressed = True
        return progressed

    def _take_data_head(self, rt: NodeRuntime, src: str, direct: Direct) -> bool:
        """Take the first waiting WRITE or ACK from src; False if it must wait.

        The same causal rules as a group channel's: a message from a sender whose FAIL
        lies within the combined horizon is one the model's crash already dropped.
        """
        params = {"src": src, "n": self.node}
        sender = (direct.src, direct.src_inc)
        try:
            sent_horizon, msg = open_data_envelope(direct.value)
        except MalformedMessageError as exc:
            raw = {"raw": direct.value.decode(errors="replace")}
            note = f"rejected from {src}: {exc}"
            return self._commit("DiscardData", params, lambda: Outcome(notes=[note]), raw)
        horizon = max(self.horizon, sent_horizon, direct.revision)
        if self.stream.revision < horizon:
            return False
        own_fail = self.stream.fail_revision((self.node, self.inc))
        if own_fail is not None and own_fail <= horizon:
            raise LostError("a data message arrived from past this incarnation's FAIL")
        consumed = msg.model_dump(mode="json")
        sender_fail = self.stream.fail_revision(sender)
        if sender in self.dead_senders or (sender_fail is not None and sender_fail <= horizon):
            self.dead_senders.add(sender)
            note = f"dropped {msg.kind} from {src}#{direct.src_inc}: it failed before this could be taken"
            return self._commit("DiscardData", params, lambda: Outcome(notes=[note]), consumed)
        if isinstance(msg, DataWrite) and self._resync_waiting(src, msg.resource):
            return False  # the resynchronisation and the writes after it are one stream
        sent_at = bisect.bisect_left(self.stream.revisions, direct.revision)
        if rt.data_waits(src, msg, sent_at):
            return False
        self.horizon = horizon
        return self._commit(RECEIVE_STEP[type(msg)], params, lambda: rt.receive_data(src, msg), consumed)

    def _resync_waiting(self, src: str, resource: str) -> bool:
        for pending in self.inbox.get(src, ()):
            try:
                msg = open_envelope(pending.direct.value)[1]
            except MalformedMessageError:
                continue
            if isinstance(msg, StartMirror) and msg.resource == resource:
                return True
        return False

    # ------------------------------------------------------------ clients' requests

    def _answer_ops(self, answers: list[WriteAnswer]) -> list[dict[str, Any]]:
        """Each answer to a client, as the key it waits for (ids are `<client>:<request>`)."""
        ops = []
        for answer in answers:
            client, _, request_id = answer.id.partition(":")
            if not request_id:
                continue  # not a client's request (none comes any other way on etcd)
            body = ClientAnswer(
                id=request_id,
                status=answer.status,
                reason=answer.reason,
                primary=self.node,
                position=answer.position,
                epoch=answer.epoch,
            )
            ops.append(put_op(self.keys.answer(self.node, client, request_id), encode(body)))
        return ops

    def _take_requests(self, rt: NodeRuntime) -> bool:
        progressed = False
        for request in self.stream.requests[self.requests_seen :]:
            self.requests_seen += 1
            if request.revision > self.created:  # else addressed to an earlier incarnation
                self._serve(rt, request)
                progressed = True
        return progressed

    def _serve(self, rt: NodeRuntime, request: Request) -> None:
        """Answer a request: a write is the model's Write step; a refusal and a read are no step."""
        try:
            req = decode_request(request.value)
        except MalformedMessageError as exc:
            self._answer_now(request, ClientAnswer(id=request.id, status="refused", reason=str(exc)))
            return
        if req.id != request.id:
            reason = f"the request names id {req.id} under the key of {request.id}"
            self._answer_now(request, ClientAnswer(id=request.id, status="refused", reason=reason))
            return
        member = rt.member
        view = member.view if rt.phase == Phase.MEMBER else None
        if view is None or view.primary_host != self.node:
            primary = None if view is None else view.primary_host
            reason = f"{self.node} is not the primary host" + ("" if primary is None else f"; {primary} is")
            self._answer_now(request, ClientAnswer(id=req.id, status="refused", reason=reason, primary=primary))
            return
        if not member.acts_as_primary():
            reason = f"the production copy {view.primary} has failed; the group is failing over"
            self._answer_now(request, ClientAnswer(id=req.id, status="refused", reason=reason))
            return
        if req.op == "read":
            self._answer_now(request, self._read(rt, req.id, req.key, view.primary))
            return
        assert req.value is not None
        write_id = f"{request.client}:{req.id}"
        consumed = {"id": write_id, "key": req.key, "value": req.value}
        self._commit("Write", {"n": self.node}, partial(rt.write, write_id, req.key, req.value), consumed)

    def _read(self, rt: NodeRuntime, request_id: str, key: str, production: str) -> ClientAnswer:
        """The newest acknowledged value of `key` in the production copy: a write still waiting
        for a mirror is not read (its host may fail and a mirror without it take over)."""
        member = rt.member
        try:
            fence, writes = rt.disks.read_copy(production)
        except ResourceError as exc:
            return ClientAnswer(id=request_id, status="refused", reason=str(exc), primary=self.node)
        if fence > member.epoch:
            reason = f"fenced: the production copy has accepted an epoch newer than {member.epoch}"
            return ClientAnswer(id=request_id, status="refused", reason=reason)
        for position in range(len(writes), 0, -1):
            write = writes[position - 1]
            if write.key == key and write.id not in member.pending:
                return ClientAnswer(
                    id=request_id, status="value", primary=self.node, position=position, epoch=fence, value=write.value
                )
        return ClientAnswer(id=request_id, status="value", primary=self.node, epoch=fence)

    def _answer_now(self, request: Request, answer: ClientAnswer) -> None:
        """An answer decided outside any step, committed only while this incarnation is live."""
        me = self.keys.member(self.node, self.inc)
        key = self.keys.answer(self.node, request.client, request.id)
        ok, _ = self._txn([key_created_at(me, self.created), key_absent(key)], [put_op(key, encode(answer))])
        log_event(self.node, "answered", client=request.client, id=request.id, status=answer.status, ok=ok)

    def _take_head(self, rt: NodeRuntime, src: str, direct: Direct) -> bool:
        """Take the first waiting message from src; False if it must wait."""
        params = {"src": src, "n": self.node}
        sender = (direct.src, direct.src_inc)
        try:
            sent_horizon, msg = open_envelope(direct.value)
        except MalformedMessageError as exc:
            raw = {"raw": direct.value.decode(errors="replace")}
            note = f"rejected from {src}: {exc}"
            return self._commit("Discard", params, lambda: Outcome(notes=[note]), raw)
        horizon = max(self.horizon, sent_horizon, direct.revision)
        if self.stream.revision < horizon:
            return False  # the stream must reach what the sender knew before this can be decided
        own_fail = self.stream.fail_revision((self.node, self.inc))
        if own_fail is not None and own_fail <= horizon:
            raise LostError("a message arrived from past this incarnation's FAIL")
        consumed = msg.model_dump(mode="json")
        sender_fail = self.stream.fail_revision(sender)
        if sender in self.dead_senders or (sender_fail is not None and sender_fail <= horizon):
            self.dead_senders.add(sender)
            note = f"dropped {msg.kind} from {src}#{direct.src_inc}: it failed before this could be taken"
            return self._commit("Discard", params, lambda: Outcome(notes=[note]), consumed)
        # What the sender had delivered is at most what was written before this message.
        sent_at = bisect.bisect_left(self.stream.revisions, direct.revision)
        if not rt.member.accepts(msg, sent_at):
            return False
        self.horizon = horizon
        reason = rt.refusal(src, msg, sent_at, self.stream_states, self.stream.ordered.__getitem__)
        if reason is not None:
            note = f"refused {reason}"
            return self._commit("Refuse", params, lambda: Outcome(notes=[note]), consumed)
        name = RECEIVE_STEP[type(msg)]
        if isinstance(msg, GroupStateMsg) and rt.phase == Phase.WAIT_STATE:
            # Adopting a view must not race a RecoverGroupState: only while the sponsor is live.
            live = self.stream.live.get(sender)
            sponsor = [] if live is None else [key_created_at(self.keys.member(*sender), live.create_revision)]
            if live is not None and self._commit(
                name, params, lambda: rt.receive(src, msg), consumed, compares=sponsor
            ):
                return True
            self.dead_senders.add(sender)
            note = f"dropped GROUP_STATE from {src}#{direct.src_inc}: the sponsor is gone"
            return self._commit("Discard", params, lambda: Outcome(notes=[note]), consumed)
        return self._commit(name, params, lambda: rt.receive(src, msg), consumed)

    # ------------------------------------------------------------ leaving

    def _leave(self) -> int:
        """A clean shutdown: a member of the group multicasts its own FAIL (the spec's Crash)."""
        rt = self.runtime
        assert rt is not None
        if rt.in_group():
            me, fail_key = self.keys.member(self.node, self.inc), self.keys.fail(self.node, self.node, self.inc)
            fail = Fail(node=self.node, inc=self.inc)
            outcome = rt.crash()
            outcome.multicasts.append(fail)
            self.step_no += 1
            record = self._record("Crash", {"n": self.node}, None, None, outcome, [])
            self.log.write(record)
            # Deleting the liveness key first makes the FAIL valid in the same revision.
            ok, revision = self.conn.txn(
                [key_created_at(me, self.created), key_absent(fail_key)],
                [*self._answer_ops(outcome.answers), delete_op(me), put_op(fail_key, encode(fail))],
            )
            if not ok:
                written = self.conn.get(fail_key)  # a resent request finds its own FAIL
                if written is None or decode_ordered(written.value) != fail:
                    raise LostError("could not leave: this incarnation is already gone")
                revision = written.mod_revision
            self._catch_up(revision)
            multicast_at = [p for p, r in enumerate(self.stream.revisions) if r == revision]
            self.log.write(record.model_copy(update={"multicast_at": multicast_at}))
        self.conn.revoke_lease(self.lease)
        log_event(self.node, "left", inc=self.inc)
        return EXIT_LEFT
