"""The safety properties of PROTOCOL.md section 6, one predicate per TLA+ operator.

Each predicate takes a state and the constants and returns True when the property
holds. `INVARIANTS` lists them in the order the checker evaluates them (and the
order spec/MC_*.cfg names them), so the first violated one is reported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final

from pbjoin_model.protocol.machine import (
    ABSENT,
    ACCESS,
    ACTIVE,
    CONFIG,
    DOWN,
    FAIL,
    GROUP_STATE,
    HOLDS_VIEW,
    JOINING,
    M_ACTIVE,
    M_NONE,
    M_SYNCING,
    MEMBER,
    NO_NODE,
    OUT,
    P2P,
    PLACED,
    REJECTED,
    RES_FAIL,
    RES_REPAIR,
    START_MIRROR,
    W_ACKED,
    WAIT_CONFIG,
    WAIT_PLACE,
    WAIT_STATE,
    GroupState,
    Msg,
    Params,
    State,
    StepMemo,
    abdicated,
    acting_view,
    apply_message,
    believes_primary,
    bits,
    has,
    is_primary_host,
    res_of,
)

Invariant = Callable[[State, Params], bool]


def holders(s: State) -> Iterator[tuple[int, GroupState]]:
    """Live nodes holding a group state, with that state."""
    for n, gs in enumerate(s.view):
        if isinstance(gs, GroupState):
            yield n, gs


def TypeOK(s: State, p: Params) -> bool:
    phases = (OUT, WAIT_STATE, WAIT_PLACE, WAIT_CONFIG, MEMBER, REJECTED, DOWN)
    full = (1 << p.resources) - 1
    if len(s.phase) != p.nodes or any(ph not in phases for ph in s.phase):
        return False
    if any(a & ~full for a in s.access) or len(s.chan) != p.nodes * p.nodes:
        return False
    if any(not 1 <= v <= 1 + p.max_config_changes for v in s.resVer):
        return False
    for n in range(p.nodes):
        if bool(s.view[n]) != (s.phase[n] in HOLDS_VIEW):
            return False
        if not 0 <= s.cursor[n] <= len(s.log):
            return False
        top = 1 + p.max_config_changes
        if any(not 0 <= v <= min(top, s.resVer[r] + p.max_config_changes) for r, v in enumerate(s.cfg[n])):
            return False
    for _, gs in holders(s):
        if not 0 <= gs.prim < p.resources or gs.mirror[gs.prim] != M_NONE:
            return False
        if any(m not in (M_NONE, M_SYNCING, M_ACTIVE) for m in gs.mirror):
            return False
    epochs = range(p.max_failures + p.max_resource_failures + 2)
    if len(s.writes) != p.max_writes or any(w not in range(p.max_writes) for copy in s.data for w in copy):
        return False
    if any(f not in epochs for f in s.fence) or any(x not in epochs for x in s.epoch):
        return False
    if any(bool(gs) and s.phase[n] != DOWN for n, gs in enumerate(s.stale)):
        return False
    if s.broken & ~full or any(gs.lost & ~full for gs in held_group_states(s)):
        return False
    return (
        0 <= s.crashes <= p.max_failures
        and 0 <= s.restarts <= p.max_restarts
        and 0 <= s.cfgChanges <= p.max_config_changes
        and 0 <= s.resFailures <= p.max_resource_failures
    )


def SubgroupAccess(s: State, p: Params) -> bool:
    """Safety 1: every subgroup member reaches its subgroup's resource; one subgroup each."""
    for _, gs in holders(s):
        seen: set[int] = set()
        for r, members in enumerate(gs.sub):
            for x in members:
                if not s.access[x] >> r & 1 or x in seen:
                    return False
                seen.add(x)
    return True


def HostInSubgroup(s: State, p: Params) -> bool:
    """Safety 2 (per view): a host is a member of its subgroup, and hosts one resource."""
    for _, gs in holders(s):
        hosts = [h for h in gs.host if h != NO_NODE]
        if len(hosts) != len(set(hosts)):
            return False
        for r, h in enumerate(gs.host):
            if h != NO_NODE and (h not in gs.sub[r] or gs.status[h] == ABSENT):
                return False
    return True


def UniqueHost(s: State, p: Params) -> bool:
    """Safety 2 (across views): no two live nodes both believe they host the same resource."""
    believers: dict[int, int] = {}
    for n, gs in holders(s):
        for r, h in enumerate(gs.host):
            if h == n and believers.setdefault(r, n) != n:
                return False
    return True


def NoSplitBrain(s: State, p: Params) -> bool:
    """Safety 3: no two live nodes each believe they are the primary host, lagging views included."""
    primaries = [n for n, gs in holders(s) if believes_primary(s, n, gs)]
    return len(primaries) <= 1


def ViewsAgree(s: State, p: Params) -> bool:
    """Safety 4: nodes that delivered the same prefix hold identical group state."""
    by_cursor: dict[int, GroupState] = {}
    return all(by_cursor.setdefault(s.cursor[n], gs) == gs for n, gs in holders(s))


def in_flight(s: State, p: Params, kind: int) -> Iterator[tuple[int, P2P]]:
    """Point-to-point messages of one kind in any channel, with their senders."""
    for i, q in enumerate(s.chan):
        for msg in q:
            if msg.kind == kind:
                yield i // p.nodes, msg


def ConfigFromHost(s: State, p: Params) -> bool:
    """Safety 5: configuration in flight comes from a node that hosts that resource in its view."""
    for src, msg in in_flight(s, p, CONFIG):
        gs = s.view[src]
        if not isinstance(gs, GroupState) or gs.host[msg.res] != src:
            return False
    return True


def ConfigReachable(s: State, p: Params) -> bool:
    """Safety 5: nobody holds configuration of a resource it cannot reach."""
    for n in range(p.nodes):
        for r, v in enumerate(s.cfg[n]):
            if v and not s.access[n] >> r & 1:
                return False
    return True


def ConfigNotNewerThanHost(s: State, p: Params) -> bool:
    """Safety 5: no member holds a newer version than its host (whose copy is the resource's)."""
    return all(v <= s.resVer[r] for row in s.cfg for r, v in enumerate(row))


def MirrorFromPrimary(s: State, p: Params) -> bool:
    """Safety 6: START_MIRROR in flight comes from the primary host, for a backup resource, unless it
    is stale: its sender has since reported its production copy failed, or a new mirroring round has
    started (receivers drop it)."""
    for src, msg in in_flight(s, p, START_MIRROR):
        gs = s.view[src]
        if not isinstance(gs, GroupState):
            return False
        stale = abdicated(s, src, gs) or msg.ver != gs.rounds[msg.res]
        if not stale and (not is_primary_host(gs, src) or msg.res == gs.prim):
            return False
    return True


def NoDataLoss(s: State, p: Params) -> bool:
    """Safety 6: whoever acts as primary host does so on a copy holding the current data."""
    return all(s.dataCurrent[gs.prim] for n, gs in holders(s) if believes_primary(s, n, gs))


def _acked(s: State) -> Iterator[tuple[int, int]]:
    """Acknowledged writes and the production position each was acknowledged at."""
    for w, rec in enumerate(s.writes):
        if rec.st == W_ACKED:
            yield w, rec.pos


def NoAckedWriteLost(s: State, p: Params) -> bool:
    """Data path: every acknowledged write is in the group's primary copy, at the position it was acknowledged."""
    if not p.max_writes:
        return True
    prod = s.data[stream_end(s, p).prim]
    return all(pos <= len(prod) and prod[pos - 1] == w for w, pos in _acked(s))


def MirrorIsPrefix(s: State, p: Params) -> bool:
    """Data path: while the group has a primary host, an active mirror holds a prefix of the
    production copy that lacks at most writes not yet acknowledged."""
    if not p.max_writes:
        return True
    end = stream_end(s, p)
    if end.host[end.prim] == NO_NODE:
        return True
    prod = s.data[end.prim]
    for b, mode in enumerate(end.mirror):
        if mode == M_ACTIVE:
            copy = s.data[b]
            if copy != prod[: len(copy)] or any(pos > len(copy) for _, pos in _acked(s)):
                return False
    return True


def NoStaleWrite(s: State, p: Params) -> bool:
    """Data path (fencing): no copy took a write of an older epoch after one of a newer epoch."""
    for copy in s.data:
        epochs = [s.writes[w].ep for w in copy]
        if epochs != sorted(epochs):
            return False
    return True


def UniqueEpochs(s: State, p: Params) -> bool:
    """Data path (fencing): no two nodes acting as primary host, paused ones included, share an epoch."""
    epochs = [s.epoch[n] for n in range(p.nodes) if s.epoch[n] and acting_view(s, n) is not None]
    return len(set(epochs)) == len(epochs)


def AckedOnce(s: State, p: Params) -> bool:
    """Data path: every write sits in every copy at most once, and only at the one position it was taken at."""
    return all(s.writes[w].pos == i + 1 for copy in s.data for i, w in enumerate(copy))


def RejectedNotPlaced(s: State, p: Params) -> bool:
    """Safety 7: a rejected joiner is in no subgroup of any view."""
    for _, gs in holders(s):
        for members in gs.sub:
            if any(s.phase[x] == REJECTED and gs.inc[x] == s.inc[x] for x in members):
                return False
    return True


def ActiveHasConfig(s: State, p: Params) -> bool:
    """Safety 7: an active member holds its resource's configuration."""
    for n in range(p.nodes):
        if s.phase[n] == MEMBER:
            gs = s.view[n]
            assert isinstance(gs, GroupState)
            r = res_of(gs, n)
            if r < 0 or not s.cfg[n][r]:  # a member in no subgroup of its own view holds nothing
                return False
    for _, gs in holders(s):
        for x, st in enumerate(gs.status):
            if st == ACTIVE and gs.inc[x] == s.inc[x] and s.view[x]:
                r = res_of(gs, x)
                if r >= 0 and not s.cfg[x][r]:
                    return False
    return True


# ---------------------------------------------------------------- the protocol's choices
# Stated apart from the functions that implement them (_apply_access, _apply_fail,
# sponsor), so that a slip made in those is caught here. Every decision is taken on the
# delivery of an ordered message, the same by every member, so the group-state rules are
# stated on each step of the ordered stream (see EveryStreamStep in the spec).

StreamRule = Callable[[GroupState, Msg, GroupState], bool]


# One step of the ordered stream: the group state before it, the message, the group state
# after it, and the rules of STREAM_RULES that the step satisfies (bit i for rule i).
StreamStep = tuple[GroupState, Msg, GroupState, int]


class _LastWalk:
    """The stream steps of the state the invariants were last evaluated on.

    The five stream-step invariants walk the same steps of one state's log, one after the
    other: the walk is made once. Holding the state keeps it alive, so `is` cannot match a
    new one.
    """

    def __init__(self) -> None:
        self.state: State | None = None
        self.params: Params | None = None
        self.steps: tuple[StreamStep, ...] = ()


_LAST_WALK: Final = _LastWalk()
# A step recurs in the logs of many states, a parent's and its children's: its successor group
# state and its rule verdicts are memoised together, one lookup per step of a walk.
_STEPS: Final[StepMemo[tuple[GroupState, int]]] = StepMemo()


def stream_steps(s: State, p: Params) -> tuple[StreamStep, ...]:
    """Each message of the log with the group state before it (after the messages ahead of it) and after it."""
    last = _LAST_WALK
    if last.state is s and last.params is p:
        return last.steps
    known_steps = _STEPS.table_for(p)
    steps = []
    before = s.durable
    for m in s.log:
        known = known_steps.get(before, m)
        if known is None:
            after = apply_message(before, m, p)
            holds = 0
            for bit, (_, rule) in enumerate(STREAM_RULES):
                if rule(before, m, after):
                    holds |= 1 << bit
            known = (after, holds)
            known_steps.put(before, m, known)
        steps.append((before, m, known[0], known[1]))
        before = known[0]
    last.state, last.params, last.steps = s, p, tuple(steps)
    return last.steps


def stream_end(s: State, p: Params) -> GroupState:
    """The group state after every message in the log."""
    steps = stream_steps(s, p)
    return steps[-1][2] if steps else s.durable


def every_stream_step(s: State, p: Params, rule: StreamRule) -> bool:
    """Message log[i] takes the group state after the first i - 1 messages to the next one."""
    bit = _RULE_BITS.get(rule)
    if bit is None:
        return all(rule(before, m, after) for before, m, after, _ in stream_steps(s, p))
    return all(step[3] >> bit & 1 for step in stream_steps(s, p))


def _fail_of_member(before: GroupState, m: Msg) -> bool:
    return m.kind == FAIL and before.status[m.node] != ABSENT


def _resynced(gs: GroupState, b: int) -> int:
    """Mirroring of backup b as it restarts: synchronising if b and the primary have hosts
    and neither has failed."""
    live = gs.host[b] != NO_NODE and gs.host[gs.prim] != NO_NODE and not has(gs.lost, b)
    return M_SYNCING if live and not has(gs.lost, gs.prim) else M_NONE


def host_succession_step(before: GroupState, m: Msg, after: GroupState) -> bool:
    """HostSuccession's rule on one step of the ordered stream."""
    if not _fail_of_member(before, m):
        return True
    for r, h in enumerate(before.host):
        rest = [x for x in before.sub[r] if x != m.node]
        successor = (rest[0] if rest else NO_NODE) if h == m.node else h
        if after.host[r] != successor:
            return False
        if h != m.node:
            continue
        if r != before.prim and after.mirror[r] != _resynced(after, r):
            return False
        if r == before.prim and successor != NO_NODE:  # switchover
            if after.prim != before.prim:
                return False
            if any(after.mirror[b] != _resynced(after, b) for b in range(len(after.host)) if b != before.prim):
                return False
    return True


def held_group_states(s: State) -> Iterator[GroupState]:
    """The group states the system holds: the views, durable, and those in flight."""
    yield from (gs for _, gs in holders(s))
    yield s.durable
    for q in s.chan:
        for msg in q:
            if msg.kind == GROUP_STATE:
                assert isinstance(msg.gs, GroupState)
                yield msg.gs


def HostSuccession(s: State, p: Params) -> bool:
    """A failed host's successor is the next member of its subgroup in join order, or none; mirroring
    restarts to a backup's new host, and to every hosted backup after a switchover. As a state:
    every subgroup's host is its oldest member (which also covers a FAIL folded into durable at once)."""
    for gs in held_group_states(s):
        if any(h != (members[0] if members else NO_NODE) for h, members in zip(gs.host, gs.sub, strict=True)):
            return False
    return every_stream_step(s, p, host_succession_step)


def failover_step(before: GroupState, m: Msg, after: GroupState) -> bool:
    """FailoverToFirstSynced's rule on one step of the ordered stream."""
    old = before.prim
    synced = [b for b, mode in enumerate(before.mirror) if b != old and mode == M_ACTIVE and not has(before.lost, b)]
    orphaned = _fail_of_member(before, m) and before.host[old] == m.node and all(x == m.node for x in before.sub[old])
    if (after.prim != old) != ((orphaned or _loss_reported(before, m, old)) and bool(synced)):
        return False
    if after.prim == old:
        return True
    if after.prim != min(synced) or after.mirror[old] != M_NONE or (orphaned and after.host[old] != NO_NODE):
        return False
    return all(
        mode == (M_SYNCING if after.host[b] != NO_NODE and not has(after.lost, b) else M_NONE)
        for b, mode in enumerate(after.mirror)
        if b not in (old, after.prim)
    )


def _loss_reported(before: GroupState, m: Msg, r: int) -> bool:
    """m reports r's failure and the group takes it: it comes from r's host, r not yet lost."""
    return m.kind == RES_FAIL and m.res == r and before.host[r] == m.node and not has(before.lost, r)


def FailoverToFirstSynced(s: State, p: Params) -> bool:
    """Failover only when the primary subgroup is left empty or the primary resource fails, to the
    first synchronised backup in resource order that has not failed; the old primary becomes a
    backup without mirroring (and without a host if its subgroup is empty)."""
    return every_stream_step(s, p, failover_step)


def before_in_order(gs: GroupState, r1: int, r2: int) -> bool:
    """r1 comes before r2 in the group's current order: the primary first, then backups in resource order."""
    if r1 == gs.prim:
        return r2 != gs.prim
    return r2 != gs.prim and r1 < r2


def placement_step(before: GroupState, m: Msg, after: GroupState) -> bool:
    """PlacementFirstReachable's rule on one step of the ordered stream."""
    j = m.node
    if m.kind != ACCESS or before.status[j] != JOINING or not m.rset & ~before.lost:
        return True
    reached = list(bits(m.rset & ~before.lost))
    firsts = [r for r in reached if not any(before_in_order(before, r2, r) for r2 in reached)]
    return any(
        after.sub[r] == (*before.sub[r], j)
        and all(after.sub[r2] == before.sub[r2] for r2 in range(len(before.sub)) if r2 != r)
        and after.host[r] == (j if before.host[r] == NO_NODE else before.host[r])
        and after.status[j] == PLACED
        and after.acc[j] == m.rset
        for r in firsts
    )


def PlacementFirstReachable(s: State, p: Params) -> bool:
    """A joiner joins the subgroup of the first resource it reaches in the group's current order,
    failed resources counting as unreachable."""
    return every_stream_step(s, p, placement_step)


def rejection_step(before: GroupState, m: Msg, after: GroupState) -> bool:
    """RejectionLeavesNothing's rule on one step of the ordered stream."""
    if m.kind != ACCESS or before.status[m.node] != JOINING or m.rset & ~before.lost:
        return True
    status = tuple(ABSENT if x == m.node else st for x, st in enumerate(before.status))
    return after == GroupState(
        before.prim, before.sub, before.host, before.mirror, status, before.acc, before.inc, before.lost, before.rounds
    )


def RejectionLeavesNothing(s: State, p: Params) -> bool:
    """A joiner that reaches no resource (or only failed ones) is rejected: it changes nothing in the
    group state but its own status, and holds no configuration."""
    if any(s.phase[n] == REJECTED and any(s.cfg[n]) for n in range(p.nodes)):
        return False
    return every_stream_step(s, p, rejection_step)


def SponsorRule(s: State, p: Params) -> bool:
    """A group state in flight to a joiner comes from the sponsor of the state it carries, for its
    current incarnation: its primary host, or with none the host of its first hosted resource."""
    for i, q in enumerate(s.chan):
        src, j = divmod(i, p.nodes)
        for msg in q:
            if msg.kind != GROUP_STATE:
                continue
            gs = msg.gs
            assert isinstance(gs, GroupState)
            if gs.status[j] != JOINING or gs.inc[j] != s.inc[j]:
                return False
            hosts = [h for h in gs.host if h != NO_NODE]
            expected = gs.host[gs.prim] if gs.host[gs.prim] != NO_NODE else (hosts[0] if hosts else NO_NODE)
            if src != expected:
                return False
    return True


def resource_failure_step(before: GroupState, m: Msg, after: GroupState) -> bool:
    """ResourceFailureHandled's rule on one step of the ordered stream."""
    if m.kind not in (RES_FAIL, RES_REPAIR):
        return after.lost == before.lost
    r = m.res
    if m.kind == RES_FAIL:
        if not _loss_reported(before, m, r):
            return after == before  # a stale or repeated report changes nothing
        if after.lost != before.lost | 1 << r or after.mirror[r] != M_NONE:
            return False
        if r != before.prim:
            unchanged = all(after.mirror[b] == before.mirror[b] for b in range(len(before.mirror)) if b != r)
            return after.prim == before.prim and unchanged
        return after.prim != before.prim or not any(after.mirror)  # no failover: no mirroring either
    if not has(before.lost, r) or before.host[r] != m.node:
        return after == before
    if after.lost != before.lost & ~(1 << r) or after.prim != before.prim:
        return False
    return after.mirror[r] != M_ACTIVE  # a repaired copy resynchronises before it counts


def ResourceFailureHandled(s: State, p: Params) -> bool:
    """Only a resource's host reports its failure or repair, once: a failed backup stops counting as a
    mirror at once (a failed primary fails over, or all mirroring stops), and a repaired resource
    must resynchronise before it counts again. No other message changes which resources failed."""
    return every_stream_step(s, p, resource_failure_step)


def FailedNotMirrored(s: State, p: Params) -> bool:
    """In every group state held: a failed resource has no mirroring, and while the primary resource
    is failed no backup is mirrored (nothing can be copied from it)."""
    for gs in held_group_states(s):
        if any(has(gs.lost, b) and mode != M_NONE for b, mode in enumerate(gs.mirror)):
            return False
        if has(gs.lost, gs.prim) and any(gs.mirror):
            return False
    return True


# The rules of the stream-step invariants, by their TLA+ operator names: the invariants
# hold when every logged step satisfies them (EveryStreamStep).
STREAM_RULES: Final[tuple[tuple[str, StreamRule], ...]] = (
    ("HostSuccessionStep", host_succession_step),
    ("FailoverStep", failover_step),
    ("PlacementStep", placement_step),
    ("RejectionStep", rejection_step),
    ("ResourceFailureStep", resource_failure_step),
)

_RULE_BITS: Final[dict[StreamRule, int]] = {rule: bit for bit, (_, rule) in enumerate(STREAM_RULES)}

INVARIANTS: tuple[tuple[str, Invariant], ...] = (
    ("TypeOK", TypeOK),
    ("SubgroupAccess", SubgroupAccess),
    ("HostInSubgroup", HostInSubgroup),
    ("UniqueHost", UniqueHost),
    ("NoSplitBrain", NoSplitBrain),
    ("ViewsAgree", ViewsAgree),
    ("ConfigFromHost", ConfigFromHost),
    ("ConfigReachable", ConfigReachable),
    ("ConfigNotNewerThanHost", ConfigNotNewerThanHost),
    ("MirrorFromPrimary", MirrorFromPrimary),
    ("NoDataLoss", NoDataLoss),
    ("RejectedNotPlaced", RejectedNotPlaced),
    ("ActiveHasConfig", ActiveHasConfig),
    ("NoAckedWriteLost", NoAckedWriteLost),
    ("MirrorIsPrefix", MirrorIsPrefix),
    ("NoStaleWrite", NoStaleWrite),
    ("UniqueEpochs", UniqueEpochs),
    ("AckedOnce", AckedOnce),
    ("HostSuccession", HostSuccession),
    ("FailoverToFirstSynced", FailoverToFirstSynced),
    ("PlacementFirstReachable", PlacementFirstReachable),
    ("RejectionLeavesNothing", RejectionLeavesNothing),
    ("SponsorRule", SponsorRule),
    ("ResourceFailureHandled", ResourceFailureHandled),
    ("FailedNotMirrored", FailedNotMirrored),
)
