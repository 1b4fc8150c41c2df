"""Merging the step logs of many member processes into one log the model can check.

Under the etcd engine every member process writes its own step log. Trace validation
(`pbjoin_model.conformance.refinement.validate_log`) needs one sequence of steps, consistent with

- each member's own order of steps;
- the total order of group messages (the step that multicast position p comes before
  the one that multicast p+1, and before every delivery of p);
- causality of point-to-point messages (a receive after its send, matched FIFO per
  sender, receiver and receiver incarnation), group and data channels (WRITE, ACK) alike;
- crashes: a member killed by a signal cannot log its Crash, so one is synthesised at
  the position of its FAIL (which the cluster wrote for it), after all of that
  incarnation's steps and after every receive of a message it sent (a crash drops the
  failed member's channels); a Restart is synthesised before a node's next
  incarnation starts;
- pauses: a primary host stopped past its lease (SIGSTOP) never learns that the group
  failed it, so it logs no Pause either. When its log shows it ran on after its FAIL (a
  client write refused as fenced, so a successor had taken over), a Pause is synthesised
  instead of the Crash, just before that write, and its steps after the Pause are the
  model's paused member (out of the group, acting on its stale view; its data channels
  stay open);
- fencing: a write refused as fenced comes after the first step that took an epoch
  newer than the write's (the takeover whose fence it ran into).

`merge_logs` builds that sequence by a topological sort; among the steps that may
come next it takes the one whose knowledge of the total order is smallest, which keeps
members that lag behind the stream where they really were. A step that committed
anything is logged twice by the process (before and after its commit); the later copy
wins. A lone early copy of a multicast is matched against the stream, or dropped when
it never committed (the process died first). A lone early copy of any other step is
kept: if it never committed, its incarnation died right after it, and taking the step
just before the crash is a behaviour the model has too (nobody received what it sent,
and the crash drops it). A lone intent (the process died inside the step) is kept as
such: validation considers the step both taken and not. A synthesised crash or restart
is marked so; what a killed member's clients were told is nobody's observation, so its
answers are not compared. Whether a point-to-point message reached a live incarnation
(`SentRecord.delivered`) is a property of the merged order and is recomputed.
"""

from __future__ import annotations

import heapq
import itertools
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbjoin.steplog import ClusterRecord, MemberSummary, StepName, StepRecord, read_log
from pbjoin_model.conformance.refinement import Report, validate_log

Incarnation = tuple[str, int]
RECEIVES = ("ReceiveGroupState", "ReceiveConfig", "ReceiveStartMirror")
DATA_RECEIVES = ("ReceiveWrite", "ReceiveAck")
DOWN = MemberSummary(phase="down", position=0, view=None, configs={})
# What a member paused past its lease may still do, on its stale view: take client writes
# (refused once its successor has fenced the copy) and its backups' acknowledgements.
AFTER_PAUSE = ("Write", "ReceiveAck", "DiscardData")
FAILURES: tuple[StepName, ...] = ("Crash", "Pause")  # the steps that take a member out of the group
FAILURE_NOTES: dict[StepName, str] = {
    "Crash": "synthesised: the cluster detected this crash",
    "Pause": "synthesised: the cluster failed this member, which ran on (a write of it was refused as fenced)",
}
OUT = MemberSummary(phase="out", position=0, view=None, configs={})


class MergeError(ValueError):
    """Logs that cannot be put in one order consistent with the total order and causality."""


@dataclass
class _Node:
    record: StepRecord
    hp: int = 0  # how far into the total order this step's knowledge reaches


def _cluster(clusters: list[ClusterRecord]) -> ClusterRecord:
    first = clusters[0]
    for c in clusters[1:]:
        if (c.group, c.resources) != (first.group, first.resources):
            raise MergeError(f"logs of different groups: {first.group} {first.resources} and {c.group} {c.resources}")
    access: dict[str, tuple[str, ...]] = {}
    for c in clusters:
        access.update(c.access)
    nodes = tuple(sorted({n for c in clusters for n in c.nodes}))
    return ClusterRecord(group=first.group, nodes=nodes, resources=first.resources, access=access, engine=first.engine)


def _latest(steps: list[StepRecord]) -> dict[Incarnation, list[StepRecord]]:
    """Per incarnation, its steps in order, the later copy of a step replacing the earlier."""
    by_key: dict[tuple[str, int, int], StepRecord] = {}
    for rec in steps:
        by_key[(rec.member, rec.inc, rec.seq)] = rec
    out: dict[Incarnation, list[StepRecord]] = defaultdict(list)
    for (member, inc, _), rec in sorted(by_key.items()):
        out[(member, inc)].append(rec)
    return out


def _stream(incarnations: dict[Incarnation, list[StepRecord]]) -> dict[int, dict[str, Any]]:
    stream: dict[int, dict[str, Any]] = {}

    def note(position: int, msg: dict[str, Any]) -> None:
        if stream.setdefault(position, msg) != msg:
            raise MergeError(f"two different messages logged at position {position}")

    for recs in incarnations.values():
        for rec in recs:
            for position, msg in zip(rec.multicast_at, rec.multicast, strict=False):
                note(position, msg)
            if rec.step == "Deliver" and rec.position is not None and rec.consumed is not None:
                note(rec.position, rec.consumed)
    return stream


def _resolve_pending(inc: Incarnation, recs: list[StepRecord], stream: dict[int, dict[str, Any]]) -> list[StepRecord]:
    """Give each multicasting step its positions; drop a last step whose commit never happened."""
    own_crash = any(r.step in FAILURES for r in recs)
    authored = [
        p
        for p, msg in sorted(stream.items())
        if (msg["node"], msg["inc"]) == inc and (msg["kind"] != "FAIL" or own_crash)
    ]
    resolved: list[StepRecord] = []
    for i, rec in enumerate(recs):
        if not rec.multicast:
            resolved.append(rec)
            continue
        taken, authored = authored[: len(rec.multicast)], authored[len(rec.multicast) :]
        if len(taken) < len(rec.multicast):
            if rec.multicast_at or i != len(recs) - 1:
                raise MergeError(f"{inc[0]}#{inc[1]} step {rec.seq}: its multicast is not in the stream")
            break  # the process died before this step's transaction committed
        if [stream[p] for p in taken] != rec.multicast or (rec.multicast_at and rec.multicast_at != taken):
            raise MergeError(f"{inc[0]}#{inc[1]} step {rec.seq}: its multicast does not match the stream")
        resolved.append(rec.model_copy(update={"multicast_at": taken}))
    return resolved


def _fenced_epoch(rec: StepRecord) -> int | None:
    """The epoch of a client write this step refused as fenced: some newer epoch had reached the copy."""
    if rec.step != "Write":
        return None
    return next((a.epoch for a in rec.answers if a.status == "refused" and a.reason.startswith("fenced")), None)


def _resumed_at(recs: list[StepRecord]) -> int | None:
    """Where a failed incarnation that logged no failure of its own was paused, if its log
    shows that it ran on after the group failed it: just before its first write refused as
    fenced (a newer primary host had taken over), provided it is a primary host's view it
    acted on and every step from there is one a paused member may take."""
    first = next((i for i, rec in enumerate(recs) if _fenced_epoch(rec) is not None), None)
    if first is None or first == 0 or recs[first - 1].post.phase != "member":
        return None
    if any(rec.step not in AFTER_PAUSE or rec.multicast or rec.intent for rec in recs[first:]):
        return None
    return first


def merge_logs(logs: list[tuple[ClusterRecord, list[StepRecord]]]) -> tuple[ClusterRecord, list[StepRecord]]:
    if not logs:
        raise MergeError("no logs to merge")
    cluster = _cluster([c for c, _ in logs])
    incarnations = _latest([rec for _, steps in logs for rec in steps])
    stream = _stream(incarnations)
    for incarnation, recs in list(incarnations.items()):
        incarnations[incarnation] = _resolve_pending(incarnation, recs, stream)
    if stream and sorted(stream) != list(range(max(stream) + 1)):
        missing = sorted(set(range(max(stream) + 1)) - set(stream))
        raise MergeError(f"no log shows what sits at position {missing[0]} of the total order")

    owner: dict[int, int] = {}
    nodes: list[_Node] = []
    edges: dict[int, set[int]] = defaultdict(set)

    def add(rec: StepRecord) -> int:
        nodes.append(_Node(rec))
        index = len(nodes) - 1
        for p in rec.multicast_at:
            owner[p] = index
        return index

    # An incarnation whose only step never committed (killed inside its Join) did nothing.
    chains: dict[Incarnation, list[int]] = {inc: [add(r) for r in recs] for inc, recs in incarnations.items() if recs}
    crashes: dict[Incarnation, int] = {}  # a failed incarnation's Crash or Pause
    pauses: set[int] = set()
    for p, msg in sorted(stream.items()):
        if p not in owner:
            if msg["kind"] != "FAIL":
                raise MergeError(f"no log has the step that multicast position {p} ({msg['kind']})")
            failed = (msg["node"], msg["inc"])
            chain = chains.setdefault(failed, [])
            resumed = _resumed_at([nodes[i].record for i in chain])
            step: StepName = "Crash" if resumed is None else "Pause"
            failure = StepRecord(
                seq=0,
                member=failed[0],
                inc=failed[1],
                step=step,
                params={"n": failed[0]},
                multicast=[msg],
                multicast_at=[p],
                notes=[FAILURE_NOTES[step]],
                synthesised=True,
                post=DOWN,
            )
            crashes[failed] = add(failure)
            if resumed is None:
                chain.append(crashes[failed])
            else:
                chain.insert(resumed, crashes[failed])
                pauses.add(crashes[failed])
    for (node, inc), chain in sorted(chains.items()):
        if nodes[chain[-1]].record.step in FAILURES:
            crashes[(node, inc)] = chain[-1]
        if inc > 0 and (node, inc - 1) in chains:
            restart = add(
                StepRecord(seq=0, member=node, inc=inc, step="Restart", params={"n": node}, post=OUT, synthesised=True)
            )
            edges[chains[(node, inc - 1)][-1]].add(restart)
            chain.insert(0, restart)
    for chain in chains.values():
        for a, b in itertools.pairwise(chain):
            edges[a].add(b)
    positions = sorted(owner)
    for p, q in itertools.pairwise(positions):
        if owner[p] != owner[q]:
            edges[owner[p]].add(owner[q])
    sends: dict[tuple[str, str, int], list[tuple[int, int]]] = defaultdict(list)
    receives: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    data_sends: dict[tuple[str, str, int], list[tuple[int, int]]] = defaultdict(list)
    data_receives: dict[tuple[str, str, int], list[int]] = defaultdict(list)
    for (node, inc), chain in chains.items():
        for i in chain:
            rec = nodes[i].record
            for k, sent in enumerate(rec.sent):
                sends[(node, sent.to, sent.to_inc)].append((i, k))
            for k, sent in enumerate(rec.data_sent):
                data_sends[(node, sent.to, sent.to_inc)].append((i, k))
            if rec.step in RECEIVES or (rec.step == "Discard" and rec.consumed and "raw" not in rec.consumed):
                receives[(rec.params["src"], node, inc)].append(i)
            if rec.step in DATA_RECEIVES or (rec.step == "DiscardData" and rec.consumed and "raw" not in rec.consumed):
                data_receives[(rec.params["src"], node, inc)].append(i)
    for i, n in enumerate(nodes):
        rec = n.record
        if rec.step == "Deliver" and rec.position is not None:
            edges[owner[rec.position]].add(i)
        if rec.step == "RecoverGroupState":
            if rec.post.position > 0:
                edges[owner[rec.post.position - 1]].add(i)
            if owner.get(rec.post.position, i) != i:  # it may multicast that position itself
                edges[i].add(owner[rec.post.position])
    _match_channels(nodes, edges, crashes, sends, receives, data=False, open_after=set())
    # A Pause leaves the member's data channels open: its WRITEs and ACKs may be taken after it.
    _match_channels(nodes, edges, crashes, data_sends, data_receives, data=True, open_after=pauses)
    _fencing_edges(nodes, edges, chains)
    order = _topological(nodes, edges, chains)
    return cluster, _finish(order, cluster)


def _match_channels(
    nodes: list[_Node],
    edges: dict[int, set[int]],
    crashes: dict[Incarnation, int],
    sends: dict[tuple[str, str, int], list[tuple[int, int]]],
    receives: dict[tuple[str, str, int], list[int]],
    data: bool,
    open_after: set[int],
) -> None:
    """Each receive after the send it took (FIFO per channel), and before its sender's crash,
    which drops the channel (but for the failures in `open_after`): a discard is the one
    receive that may come after it."""
    discard = "DiscardData" if data else "Discard"
    for channel, taken in receives.items():
        # Every incarnation of the sender has its own channel to the receiver: what one had
        # sent but not yet delivered when it crashed is dropped, and its successor's
        # messages come next. So a receive may skip the rest of a crashed incarnation's.
        sent_list = sorted(
            sends.get(channel, []), key=lambda sk: (nodes[sk[0]].record.inc, nodes[sk[0]].record.seq, sk[1])
        )
        i = 0
        for receive in taken:
            while True:
                if i >= len(sent_list):
                    raise MergeError(f"{channel[1]}#{channel[2]} took more messages from {channel[0]} than were sent")
                send, k = sent_list[i]
                sender = nodes[send].record
                sent = sender.data_sent[k] if data else sender.sent[k]
                if nodes[receive].record.consumed == sent.msg:
                    break
                later = next(
                    (j for j in range(i + 1, len(sent_list)) if nodes[sent_list[j][0]].record.inc != sender.inc), None
                )
                if later is None or (sender.member, sender.inc) not in crashes:
                    raise MergeError(f"{channel[1]} took from {channel[0]} a message other than the one sent next")
                i = later
            i += 1
            edges[send].add(receive)
            sender_crash = crashes.get((sender.member, sender.inc))
            if sender_crash is not None and sender_crash not in open_after and nodes[receive].record.step != discard:
                edges[receive].add(sender_crash)


def _fencing_edges(nodes: list[_Node], edges: dict[int, set[int]], chains: dict[Incarnation, list[int]]) -> None:
    """A write refused as fenced after the step that fenced the copy: the first to take an
    epoch above the write's. Every newer epoch descends from that takeover, so it is the
    earliest step whose effect the refusal can have seen."""
    takeovers: list[tuple[int, Incarnation, int]] = []  # (epoch, incarnation, step) where an epoch was taken
    for incarnation, chain in chains.items():
        epoch = 0
        for i in chain:
            post = nodes[i].record.post.epoch
            if post > epoch and not nodes[i].record.synthesised:
                takeovers.append((post, incarnation, i))
            epoch = post
    for incarnation, chain in chains.items():
        for i in chain:
            refused = _fenced_epoch(nodes[i].record)
            if refused is None:
                continue
            newer = [(epoch, step) for epoch, other, step in takeovers if epoch > refused and other != incarnation]
            if newer:
                first = min(epoch for epoch, _ in newer)
                for epoch, step in newer:
                    if epoch == first:
                        edges[step].add(i)


def _knowledge(nodes: list[_Node], chains: dict[Incarnation, list[int]]) -> None:
    for chain in chains.values():
        hp = 0
        for i in chain:
            rec = nodes[i].record
            hp = max(hp, rec.post.position, *(p + 1 for p in rec.multicast_at))
            if rec.position is not None:
                hp = max(hp, rec.position + 1)
            nodes[i].hp = hp


def _topological(
    nodes: list[_Node], edges: dict[int, set[int]], chains: dict[Incarnation, list[int]]
) -> list[StepRecord]:
    _knowledge(nodes, chains)
    indegree = [0] * len(nodes)
    for targets in edges.values():
        for t in targets:
            indegree[t] += 1
    ready = [(nodes[i].hp, i) for i in range(len(nodes)) if indegree[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        _, i = heapq.heappop(ready)
        order.append(i)
        for t in edges.get(i, ()):
            indegree[t] -= 1
            if indegree[t] == 0:
                heapq.heappush(ready, (nodes[t].hp, t))
    if len(order) != len(nodes):
        stuck = next(nodes[i].record for i in range(len(nodes)) if indegree[i] > 0)
        raise MergeError(f"the logs admit no order consistent with causality (around {stuck.member} {stuck.step})")
    return [nodes[i].record for i in order]


def _finish(order: list[StepRecord], cluster: ClusterRecord) -> list[StepRecord]:
    """Number the steps and recompute which point-to-point messages reached a live incarnation."""
    inc = dict.fromkeys(cluster.nodes, 0)
    down = dict.fromkeys(cluster.nodes, False)
    last: dict[Incarnation, MemberSummary] = {}
    paused: set[Incarnation] = set()
    merged: list[StepRecord] = []
    for seq, rec in enumerate(order, 1):
        incarnation = (rec.member, rec.inc)
        if rec.step in FAILURES:
            down[rec.member] = True
        elif rec.step == "Restart":
            down[rec.member], inc[rec.member] = False, rec.inc
        if rec.step == "Pause" and rec.synthesised:
            paused.add(incarnation)
            rec = rec.model_copy(update={"post": _paused(last[incarnation])})
        elif incarnation in paused:
            # The process never learnt that the group failed it: it logged its old view.
            note = "the merge: taken after the group failed this member, on its stale view"
            rec = rec.model_copy(update={"post": _paused(rec.post), "notes": [*rec.notes, note]})
        last[incarnation] = rec.post
        sent = [s.model_copy(update={"delivered": not down[s.to] and inc[s.to] == s.to_inc}) for s in rec.sent]
        # A data channel outlives a group failure (Pause); only the receiver's next incarnation ends it.
        data_sent = [s.model_copy(update={"delivered": inc[s.to] == s.to_inc}) for s in rec.data_sent]
        merged.append(rec.model_copy(update={"seq": seq, "sent": sent, "data_sent": data_sent}))
    return merged


def _paused(post: MemberSummary) -> MemberSummary:
    """A member's state once the group failed it while it ran on: out of the group, acting on its stale view."""
    return DOWN.model_copy(update={"epoch": post.epoch, "paused": True, "pending": post.pending})


def conform_logs(paths: list[Path]) -> tuple[Report, int]:
    """Merge the step logs at paths and check the result against the model: (report, steps merged)."""
    cluster, steps = merge_logs([read_log(p) for p in paths])
    return validate_log(cluster, steps), len(steps)
