"""IndInv of `proofs.prove` as a predicate on model States (and spec/JoinProtocol.tla's IndInv).

The Z3 proof states each conjunct over relations; here the same conjuncts are read off
a concrete state: the group-state conjuncts for every group state the state holds
(each view, `durable`, each GROUP_STATE in flight), the configuration conjuncts for
the configuration held and in flight, and the stream-level conjuncts (`proofs.stream`)
over the prefixes of the log, `replay(s, k)` being the group state after k messages and
`join_pos` and `acc_pos` the positions of a node's current JOIN and ACCESS (-1 once
compaction folded them away, or none yet), `host_since` the first position from which no
prefix changes a resource's host.
tests/test_prove_invariant.py checks that IndInv holds on every reachable state of small
configurations, so the proof is about an invariant of the protocol the checker explores, not merely an inductive one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pbjoin_model.protocol.invariants import (
    ActiveHasConfig,
    ConfigFromHost,
    ConfigNotNewerThanHost,
    ConfigReachable,
    MirrorFromPrimary,
    NoDataLoss,
    NoSplitBrain,
    RejectedNotPlaced,
    UniqueHost,
    ViewsAgree,
    in_flight,
)
from pbjoin_model.protocol.machine import (
    ABSENT,
    ACCESS,
    ACTIVE,
    CONFIG,
    DOWN,
    FAIL,
    GROUP_STATE,
    HOLDS_VIEW,
    IN_GROUP,
    JOIN,
    JOINING,
    M_ACTIVE,
    M_NONE,
    MEMBER,
    NO_NODE,
    OUT,
    PLACED,
    REJECTED,
    START_MIRROR,
    WAIT_CONFIG,
    WAIT_STATE,
    GroupState,
    Params,
    State,
    apply_message,
)


def group_states(s: State, p: Params) -> Iterator[GroupState]:
    yield s.durable
    for gs in s.view:
        if isinstance(gs, GroupState):
            yield gs
    for _, msg in in_flight(s, p, GROUP_STATE):
        assert isinstance(msg.gs, GroupState)
        yield msg.gs


def _subgroup_access(s: State, gs: GroupState) -> bool:
    seen: set[int] = set()
    for r, members in enumerate(gs.sub):
        for x in members:
            if not s.access[x] >> r & 1 or x in seen:
                return False
            seen.add(x)
    return True


def _member_status(gs: GroupState) -> bool:
    return all(gs.status[x] in (PLACED, ACTIVE) for members in gs.sub for x in members)


def _host_in_subgroup(gs: GroupState) -> bool:
    hosts = [h for h in gs.host if h != NO_NODE]
    return len(hosts) == len(set(hosts)) and all(h == NO_NODE or h in gs.sub[r] for r, h in enumerate(gs.host))


def _mirrors(gs: GroupState) -> bool:
    primary_none = gs.mirror[gs.prim] == M_NONE
    return primary_none and all(m == M_NONE or gs.host[r] != NO_NODE for r, m in enumerate(gs.mirror))


def _config_sent(s: State, p: Params) -> bool:
    for i, q in enumerate(s.chan):
        dst = i % p.nodes
        for msg in q:
            if msg.kind == CONFIG and (not s.access[dst] >> msg.res & 1 or msg.ver > s.resVer[msg.res]):
                return False
    return True


def _versioned(s: State, p: Params) -> bool:
    """ResourceVersioned, ConfigSentVersioned, HostHoldsConfig: every resource's version and every
    CONFIG in flight is at least 1, and a holder hosting a resource in its own view holds its configuration."""
    if any(v < 1 for v in s.resVer):
        return False
    if any(msg.kind == CONFIG and msg.ver < 1 for q in s.chan for msg in q):
        return False
    return all(
        s.cfg[n][r] >= 1
        for n, gs in enumerate(s.view)
        if isinstance(gs, GroupState)
        for r in range(p.resources)
        if gs.host[r] == n
    )


def prefixes(s: State, p: Params) -> list[GroupState]:
    """replay(s, k) for every k from 0 to the log's length."""
    out = [s.durable]
    for m in s.log:
        out.append(apply_message(out[-1], m, p))
    return out


def join_pos(s: State, n: int) -> int:
    """Where n's current incarnation's JOIN is in the log; -1 if compaction dropped it (or none)."""
    for k, m in enumerate(s.log):
        if m.kind == JOIN and m.node == n and m.inc == s.inc[n]:
            return k
    return -1


def acc_pos(s: State, n: int) -> int:
    """Where n's current incarnation's ACCESS is in the log; -1 if compaction dropped it (or none)."""
    for k, m in enumerate(s.log):
        if m.kind == ACCESS and m.node == n and m.inc == s.inc[n]:
            return k
    return -1


def _view_is_prefix(s: State, p: Params) -> bool:
    pre = prefixes(s, p)
    return all(
        join_pos(s, n) < s.cursor[n] <= len(s.log) and gs == pre[s.cursor[n]]
        for n, gs in enumerate(s.view)
        if isinstance(gs, GroupState)
    )


def _state_in_flight(s: State, p: Params) -> bool:
    pre = prefixes(s, p)
    for c, queue in enumerate(s.chan):
        d = c % p.nodes
        for msg in queue:
            if msg.kind != GROUP_STATE:
                continue
            if not 0 <= msg.cur <= len(s.log) or msg.gs != pre[msg.cur] or s.phase[d] in (OUT, DOWN):
                return False
            if s.phase[d] in IN_GROUP and not join_pos(s, d) < msg.cur:
                return False
    return True


def _joins_old(s: State, p: Params) -> bool:
    for k, m in enumerate(s.log):
        if m.kind != JOIN:
            continue
        if m.inc > s.inc[m.node] or (s.phase[m.node] == OUT and m.inc >= s.inc[m.node]):
            return False
        if s.phase[m.node] in IN_GROUP and m.inc == s.inc[m.node] and k != join_pos(s, m.node):
            return False
    return True


def _incarnations(s: State, p: Params) -> bool:
    """IncBound, OutNotJoining and JoinPosFresh."""
    for k, gs in enumerate(prefixes(s, p)):
        for x in range(p.nodes):
            if gs.inc[x] > s.inc[x]:
                return False
            if s.phase[x] == OUT and gs.status[x] != ABSENT and gs.inc[x] >= s.inc[x]:
                return False
            fresh = gs.status[x] == JOINING and gs.inc[x] == s.inc[x]
            if s.phase[x] in IN_GROUP and k <= join_pos(s, x) and fresh:
                return False
    return True


def _no_own_fail(s: State, p: Params) -> bool:
    return not any(
        m.kind == FAIL and s.phase[m.node] in IN_GROUP and join_pos(s, m.node) < k for k, m in enumerate(s.log)
    )


def _after_own_join(s: State, p: Params) -> Iterator[tuple[int, GroupState, GroupState]]:
    """(h, a prefix after h's JOIN, the last prefix) for every live node h."""
    pre = prefixes(s, p)
    for h in range(p.nodes):
        if s.phase[h] in IN_GROUP:
            for gs in pre[join_pos(s, h) + 1 :]:
                yield h, gs, pre[-1]


def _roles_to_end(s: State, p: Params) -> bool:
    """HostToEnd and PrimToEnd: a live node's role in a prefix after its JOIN holds in the last one."""
    for h, gs, last in _after_own_join(s, p):
        if any(gs.host[r] == h and last.host[r] != h for r in range(p.resources)):
            return False
        if gs.host[gs.prim] == h and last.prim != gs.prim:
            return False
    return True


def placed_now(s: State, gs: GroupState, x: int) -> bool:
    """gs shows x placed or active in its current incarnation (the stream level's `placed_now`)."""
    return gs.status[x] in (PLACED, ACTIVE) and gs.inc[x] == s.inc[x]


def _access_once(s: State, p: Params) -> bool:
    """No message of a newer incarnation than its node's; the current incarnation's ACCESS is
    not logged while its node is out or waiting for state, and only once while it is in the group."""
    for k, m in enumerate(s.log):
        if m.inc > s.inc[m.node]:
            return False
        if m.kind == ACCESS and m.inc == s.inc[m.node]:
            if s.phase[m.node] in (OUT, WAIT_STATE):
                return False
            if s.phase[m.node] in IN_GROUP and k != acc_pos(s, m.node):
                return False
    return True


def _unplaced(s: State, p: Params) -> bool:
    """WaitingUnplaced, PlacedAfterAccess, UnplacedStays and RejectedUnplaced: which prefixes
    may show a node placed (or active) in its current incarnation."""
    pre = prefixes(s, p)
    for x in range(p.nodes):
        placed = [placed_now(s, gs, x) for gs in pre]
        if s.phase[x] in (WAIT_STATE, REJECTED) and any(placed):
            return False
        if s.phase[x] in HOLDS_VIEW:
            a = acc_pos(s, x)
            if not a < len(s.log) or any(placed[: a + 1]):
                return False
            if a >= 0 and not placed[a + 1] and any(placed[a + 1 :]):
                return False
    return True


def _access_order(s: State, p: Params) -> bool:
    """AccessOrder: a holder's JOIN is no later than its ACCESS, which a node waiting for
    configuration or a member has delivered."""
    for x in range(p.nodes):
        if s.phase[x] not in HOLDS_VIEW:
            continue
        if join_pos(s, x) > acc_pos(s, x):
            return False
        if s.phase[x] in (WAIT_CONFIG, MEMBER) and not acc_pos(s, x) < s.cursor[x]:
            return False
    return True


def _member_to_end(s: State, p: Params) -> bool:
    """MemberToEnd: a live node's subgroup in a prefix after its JOIN is its subgroup in the last one."""
    return not any(
        h in gs.sub[r] and h not in last.sub[r] for h, gs, last in _after_own_join(s, p) for r in range(p.resources)
    )


def _active_member(s: State, p: Params) -> bool:
    """ActiveMember: a prefix shows a node active in its current incarnation only while it is a member or down."""
    for gs in prefixes(s, p):
        for x in range(p.nodes):
            if gs.status[x] == ACTIVE and gs.inc[x] == s.inc[x] and s.phase[x] not in (MEMBER, DOWN):
                return False
    return True


def _not_member(s: State, p: Params) -> bool:
    """NotMember: a node out of the group, down or waiting for state is in no subgroup of the last prefix."""
    last = prefixes(s, p)[-1]
    return not any(
        s.phase[x] in (OUT, DOWN, WAIT_STATE) and x in members for members in last.sub for x in range(p.nodes)
    )


def _placed_after_join(s: State, p: Params) -> bool:
    """PlacedAfterJoin: no prefix up to a live node's JOIN shows it placed in its current incarnation."""
    for k, gs in enumerate(prefixes(s, p)):
        for x in range(p.nodes):
            if s.phase[x] in IN_GROUP and placed_now(s, gs, x) and not join_pos(s, x) < k:
                return False
    return True


def host_since(pre: list[GroupState], r: int) -> int:
    """The ghost `host_since`: the first position from which no prefix changes r's host."""
    since = 0
    for i in range(1, len(pre)):
        if pre[i].host[r] != pre[i - 1].host[r]:
            since = i
    return since


def _host_since_first(s: State, p: Params) -> bool:
    """HostSinceFirst: a live node hosting r in a prefix after its JOIN hosts it from host_since on."""
    pre = prefixes(s, p)
    for r in range(p.resources):
        since = host_since(pre, r)
        for k, gs in enumerate(pre):
            h = gs.host[r]
            if h != NO_NODE and s.phase[h] in IN_GROUP and join_pos(s, h) < k and since > k:
                return False
    return True


def _mirrors_current(s: State, p: Params) -> bool:
    """MirrorStable, MirrorSentFresh, EndMirror and EndCurrent: an active mirror in the last prefix
    kept its host since the primary host's cursor and is current, as is the primary resource; a
    START_MIRROR in flight goes to its resource's host in the last prefix, whose host has not changed
    since the sender's cursor."""
    pre = prefixes(s, p)
    last = pre[-1]
    if not s.dataCurrent[last.prim]:
        return False
    for b in range(p.resources):
        if last.mirror[b] != M_ACTIVE:
            continue
        if not s.dataCurrent[b]:
            return False
        n = last.host[last.prim]
        if n != NO_NODE and s.phase[n] in HOLDS_VIEW and host_since(pre, b) > s.cursor[n]:
            return False
    for c, queue in enumerate(s.chan):
        src, dst = divmod(c, p.nodes)
        for msg in queue:
            if msg.kind == START_MIRROR and (last.host[msg.res] != dst or host_since(pre, msg.res) > s.cursor[src]):
                return False
    return True


CONJUNCTS: tuple[tuple[str, Callable[[State, Params], bool]], ...] = (
    ("SubgroupAccess", lambda s, p: all(_subgroup_access(s, gs) for gs in group_states(s, p))),
    ("MemberStatus", lambda s, p: all(_member_status(gs) for gs in group_states(s, p))),
    ("HostInSubgroup", lambda s, p: all(_host_in_subgroup(gs) for gs in group_states(s, p))),
    ("PrimaryMirrorNone/MirrorNeedsHost", lambda s, p: all(_mirrors(gs) for gs in group_states(s, p))),
    ("ConfigReachable", ConfigReachable),
    ("ConfigNotNewerThanHost", ConfigNotNewerThanHost),
    ("ConfigSentToReachers/ConfigSentNotNewer", _config_sent),
    ("ResourceVersioned/ConfigSentVersioned/HostHoldsConfig", _versioned),
    ("ViewIsPrefix", _view_is_prefix),
    ("StateInFlight", _state_in_flight),
    ("JoinsOld", _joins_old),
    ("IncBound/OutNotJoining/JoinPosFresh", _incarnations),
    ("NoOwnFail", _no_own_fail),
    ("HostToEnd/PrimToEnd", _roles_to_end),
    ("AccessOnce", _access_once),
    ("WaitingUnplaced/PlacedAfterAccess/UnplacedStays/RejectedUnplaced", _unplaced),
    ("AccessOrder", _access_order),
    ("MemberToEnd", _member_to_end),
    ("ActiveMember", _active_member),
    ("NotMember", _not_member),
    ("PlacedAfterJoin", _placed_after_join),
    ("HostSinceFirst", _host_since_first),
    ("MirrorStable/MirrorSentFresh/EndMirror/EndCurrent", _mirrors_current),
    ("ViewsAgree", ViewsAgree),
    ("UniqueHost", UniqueHost),
    ("NoSplitBrain", NoSplitBrain),
    ("ConfigFromHost", ConfigFromHost),
    ("MirrorFromPrimary", MirrorFromPrimary),
    ("RejectedNotPlaced", RejectedNotPlaced),
    ("ActiveHasConfig", ActiveHasConfig),
    ("NoDataLoss", NoDataLoss),
)


def IndInv(s: State, p: Params) -> bool:
    return all(conjunct(s, p) for _, conjunct in CONJUNCTS)
