"""`protocol.invariants` on symbolic states (`proofs.symbolic`), one function per predicate.

Each function returns a term that is true exactly when the Python predicate of the same
name holds; tests/test_bmc.py checks this on every state of small configurations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pbjoin_model.proofs.symbolic import (
    SP2P,
    And,
    GroupOps,
    If,
    Not,
    Or,
    SGroupState,
    SMsg,
    SSeq,
    SState,
    Term,
    equal,
    first_index,
    select,
    seq_contains,
    seq_remove,
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
    JOINING,
    M_ACTIVE,
    M_NONE,
    M_SYNCING,
    MEMBER,
    NO_NODE,
    OUT,
    PLACED,
    REJECTED,
    START_MIRROR,
    Params,
)

SymbolicInvariant = Callable[[GroupOps, SState], Term]


def _implies(a: Term, b: Term) -> Term:
    return Or(Not(a), b)


def _members(gs: SGroupState) -> Iterator[tuple[int, int, Term, Term]]:
    """(resource, slot, slot is used, node in the slot) for every subgroup slot."""
    for r, q in enumerate(gs.sub):
        for i, x in enumerate(q.items):
            yield r, i, i < q.length, x


def _in_flight(s: SState, p: Params) -> Iterator[tuple[int, Term, SP2P]]:
    """(sender, slot is used, message) for every channel slot."""
    for c, q in enumerate(s.chan):
        for i, msg in enumerate(q.items):
            yield c // p.nodes, i < q.length, msg


def TypeOK(ops: GroupOps, s: SState) -> Term:
    p = ops.p
    conds = []
    for n in range(p.nodes):
        conds.append(And(s.phase[n] >= OUT, s.phase[n] <= DOWN))
        conds.append(s.has_view[n] == Or(*(s.phase[n] == h for h in HOLDS_VIEW)))
        conds.append(And(s.cursor[n] >= 0, s.cursor[n] <= s.log.length))
        conds += [And(v >= 0, v <= s.resVer[r] + p.max_config_changes) for r, v in enumerate(s.cfg[n])]
        gs = s.view[n]
        prim_ok = And(gs.prim >= 0, gs.prim < p.resources, select(gs.mirror, gs.prim, -1) == M_NONE)
        mirrors_ok = And(*(And(m >= M_NONE, m <= M_ACTIVE) for m in gs.mirror))
        conds.append(_implies(s.has_view[n], And(prim_ok, mirrors_ok)))
    conds += [
        And(s.crashes >= 0, s.crashes <= p.max_failures),
        And(s.restarts >= 0, s.restarts <= p.max_restarts),
        And(s.cfgChanges >= 0, s.cfgChanges <= p.max_config_changes),
    ]
    return And(*conds)


def SubgroupAccess(ops: GroupOps, s: SState) -> Term:
    conds = []
    for n in range(ops.p.nodes):
        gs = s.view[n]
        slots = list(_members(gs))
        for r, i, used, x in slots:
            reach = select(s.access, x, (False,) * ops.p.resources)[r]
            unique = And(*(Not(And(used2, x2 == x)) for r2, i2, used2, x2 in slots if (r2, i2) != (r, i)))
            conds.append(_implies(And(s.has_view[n], used), And(reach, unique)))
    return And(*conds)


def HostInSubgroup(ops: GroupOps, s: SState) -> Term:
    conds = []
    for n in range(ops.p.nodes):
        gs = s.view[n]
        for r, h in enumerate(gs.host):
            distinct = And(*(h != h2 for h2 in gs.host[r + 1 :]))
            member = And(seq_contains(gs.sub[r], h), select(gs.status, h, ABSENT) != ABSENT)
            conds.append(_implies(And(s.has_view[n], h != NO_NODE), And(distinct, member)))
    return And(*conds)


def UniqueHost(ops: GroupOps, s: SState) -> Term:
    p = ops.p
    believes = [[And(s.has_view[n], s.view[n].host[r] == n) for r in range(p.resources)] for n in range(p.nodes)]
    return And(
        *(
            Not(And(believes[a][r], believes[b][r]))
            for r in range(p.resources)
            for a in range(p.nodes)
            for b in range(a + 1, p.nodes)
        )
    )


def _primary_hosts(ops: GroupOps, s: SState) -> list[Term]:
    return [And(s.has_view[n], ops.is_primary_host(s.view[n], n)) for n in range(ops.p.nodes)]


def NoSplitBrain(ops: GroupOps, s: SState) -> Term:
    primary = _primary_hosts(ops, s)
    return And(*(Not(And(primary[a], primary[b])) for a in range(len(primary)) for b in range(a + 1, len(primary))))


def ViewsAgree(ops: GroupOps, s: SState) -> Term:
    nodes = range(ops.p.nodes)
    return And(
        *(
            _implies(And(s.has_view[a], s.has_view[b], s.cursor[a] == s.cursor[b]), equal(s.view[a], s.view[b]))
            for a in nodes
            for b in nodes
            if a < b
        )
    )


def _sender_view(s: SState, src: int) -> tuple[Term, SGroupState]:
    return s.has_view[src], s.view[src]


def ConfigFromHost(ops: GroupOps, s: SState) -> Term:
    conds = []
    for src, used, msg in _in_flight(s, ops.p):
        held, gs = _sender_view(s, src)
        conds.append(_implies(And(used, msg.kind == CONFIG), And(held, select(gs.host, msg.res, -2) == src)))
    return And(*conds)


def ConfigReachable(ops: GroupOps, s: SState) -> Term:
    return And(*(_implies(v != 0, s.access[n][r]) for n in range(ops.p.nodes) for r, v in enumerate(s.cfg[n])))


def ConfigNotNewerThanHost(ops: GroupOps, s: SState) -> Term:
    return And(*(v <= s.resVer[r] for row in s.cfg for r, v in enumerate(row)))


def MirrorFromPrimary(ops: GroupOps, s: SState) -> Term:
    conds = []
    for src, used, msg in _in_flight(s, ops.p):
        held, gs = _sender_view(s, src)
        primary = And(held, ops.is_primary_host(gs, src), msg.res != gs.prim)
        conds.append(_implies(And(used, msg.kind == START_MIRROR), primary))
    return And(*conds)


def NoDataLoss(ops: GroupOps, s: SState) -> Term:
    primary = _primary_hosts(ops, s)
    return And(*(_implies(primary[n], select(s.dataCurrent, s.view[n].prim, False)) for n in range(ops.p.nodes)))


def RejectedNotPlaced(ops: GroupOps, s: SState) -> Term:
    conds = []
    for n in range(ops.p.nodes):
        gs = s.view[n]
        for _, _, used, x in _members(gs):
            rejected = And(select(s.phase, x, -1) == REJECTED, select(gs.inc, x, -1) == select(s.inc, x, -2))
            conds.append(_implies(And(s.has_view[n], used), Not(rejected)))
    return And(*conds)


def ActiveHasConfig(ops: GroupOps, s: SState) -> Term:
    p = ops.p
    conds = []
    for n in range(p.nodes):
        r = ops.res_of(s.view[n], n)
        conds.append(_implies(s.phase[n] == MEMBER, And(r >= 0, select(s.cfg[n], r, 0) != 0)))
    for n in range(p.nodes):
        gs = s.view[n]
        for x in range(p.nodes):
            counted = And(s.has_view[n], gs.status[x] == ACTIVE, gs.inc[x] == s.inc[x], s.has_view[x])
            r = ops.res_of(gs, x)
            conds.append(_implies(And(counted, r >= 0), select(s.cfg[x], r, 0) != 0))
    return And(*conds)


StreamRule = Callable[[SGroupState, SMsg, SGroupState], Term]


def _every_stream_step(ops: GroupOps, s: SState, rule: StreamRule) -> Term:
    """The rule on each used log slot: message i takes the group state before it to the next."""
    before = s.durable
    conds = []
    for i, m in enumerate(s.log.items):
        after = ops.apply(before, m)
        conds.append(_implies(i < s.log.length, rule(before, m, after)))
        before = after
    return And(*conds)


def _seq_equal(a: SSeq, b: SSeq) -> Term:
    """Equal as sequences: the same length and the same used slots."""
    return And(
        a.length == b.length,
        *(_implies(i < a.length, x == y) for i, (x, y) in enumerate(zip(a.items, b.items, strict=True))),
    )


def _fail_of_member(before: SGroupState, m: SMsg) -> Term:
    return And(m.kind == FAIL, select(before.status, m.node, -1) != ABSENT)


def _resynced(gs: SGroupState, b: int) -> Term:
    hosted = And(gs.host[b] != NO_NODE, select(gs.host, gs.prim, NO_NODE) != NO_NODE)
    return If(hosted, M_SYNCING, M_NONE)


def _held_group_states(s: SState, p: Params) -> Iterator[tuple[Term, SGroupState]]:
    """(is held, group state) for the views, durable, and every channel slot's payload."""
    for n in range(p.nodes):
        yield s.has_view[n], s.view[n]
    yield True, s.durable
    for q in s.chan:
        for i, msg in enumerate(q.items):
            yield And(i < q.length, msg.kind == GROUP_STATE), msg.gs


def HostSuccession(ops: GroupOps, s: SState) -> Term:
    oldest = [
        _implies(held, And(*(h == If(q.length > 0, q.items[0], NO_NODE) for h, q in zip(gs.host, gs.sub, strict=True))))
        for held, gs in _held_group_states(s, ops.p)
    ]

    def rule(before: SGroupState, m: SMsg, after: SGroupState) -> Term:
        conds = []
        for r, h in enumerate(before.host):
            rest = seq_remove(before.sub[r], m.node, -1)
            failed = h == m.node
            successor = If(failed, If(rest.length > 0, rest.items[0], NO_NODE), h)
            conds.append(after.host[r] == successor)
            conds.append(_implies(And(failed, before.prim != r), after.mirror[r] == _resynced(after, r)))
            switchover = And(failed, before.prim == r, successor != NO_NODE)
            restarted = [
                _implies(before.prim != b, after.mirror[b] == _resynced(after, b)) for b in range(len(before.host))
            ]
            conds.append(_implies(switchover, And(after.prim == before.prim, *restarted)))
        return _implies(_fail_of_member(before, m), And(*conds))

    return And(*oldest, _every_stream_step(ops, s, rule))


def FailoverToFirstSynced(ops: GroupOps, s: SState) -> Term:
    def rule(before: SGroupState, m: SMsg, after: SGroupState) -> Term:
        old = before.prim
        synced = [And(old != b, mode == M_ACTIVE) for b, mode in enumerate(before.mirror)]
        prim_sub = select(before.sub, old, before.sub[0])
        alone = And(*(_implies(i < prim_sub.length, x == m.node) for i, x in enumerate(prim_sub.items)))
        orphaned = And(_fail_of_member(before, m), select(before.host, old, NO_NODE) == m.node, alone)
        moved = after.prim != old
        should_move = And(orphaned, Or(*synced))
        restarted = [
            _implies(And(old != b, after.prim != b), mode == If(after.host[b] != NO_NODE, M_SYNCING, M_NONE))
            for b, mode in enumerate(after.mirror)
        ]
        failover = And(
            after.prim == first_index(synced),
            select(after.host, old, -2) == NO_NODE,
            select(after.mirror, old, -1) == M_NONE,
            *restarted,
        )
        return And(_implies(moved, should_move), _implies(should_move, moved), _implies(moved, failover))

    return _every_stream_step(ops, s, rule)


def PlacementFirstReachable(ops: GroupOps, s: SState) -> Term:
    def rule(before: SGroupState, m: SMsg, after: SGroupState) -> Term:
        j = m.node
        placing = And(m.kind == ACCESS, select(before.status, j, -1) == JOINING, Or(*m.rset))
        first = If(select(m.rset, before.prim, False), before.prim, first_index(list(m.rset)))
        conds = []
        for r in range(len(before.sub)):
            old, new = before.sub[r], after.sub[r]
            appended = And(
                new.length == old.length + 1,
                *(_implies(i < old.length, x == y) for i, (x, y) in enumerate(zip(old.items, new.items, strict=True))),
                select(new.items, old.length, -2) == j,
            )
            host = after.host[r] == If(before.host[r] == NO_NODE, j, before.host[r])
            conds.append(If(first == r, And(appended, host), _seq_equal(new, old)))
        acc = select(after.acc, j, tuple(Not(x) for x in m.rset))
        recorded = And(*(x == y for x, y in zip(acc, m.rset, strict=True)))
        return _implies(placing, And(*conds, select(after.status, j, -1) == PLACED, recorded))

    return _every_stream_step(ops, s, rule)


def RejectionLeavesNothing(ops: GroupOps, s: SState) -> Term:
    def rule(before: SGroupState, m: SMsg, after: SGroupState) -> Term:
        j = m.node
        rejecting = And(m.kind == ACCESS, select(before.status, j, -1) == JOINING, Not(Or(*m.rset)))
        status = [If(j == x, ABSENT, st) for x, st in enumerate(before.status)]
        unchanged = And(
            after.prim == before.prim,
            *(_seq_equal(a, b) for a, b in zip(after.sub, before.sub, strict=True)),
            equal(after.host, before.host),
            equal(after.mirror, before.mirror),
            equal(after.status, tuple(status)),
            equal(after.acc, before.acc),
            equal(after.inc, before.inc),
        )
        return _implies(rejecting, unchanged)

    holds_nothing = [_implies(s.phase[n] == REJECTED, And(*(v == 0 for v in s.cfg[n]))) for n in range(ops.p.nodes)]
    return And(*holds_nothing, _every_stream_step(ops, s, rule))


def SponsorRule(ops: GroupOps, s: SState) -> Term:
    p = ops.p
    conds = []
    for c, q in enumerate(s.chan):
        src, j = divmod(c, p.nodes)
        for i, msg in enumerate(q.items):
            gs = msg.gs
            prim_host = select(gs.host, gs.prim, NO_NODE)
            first_host = select(gs.host, first_index([h != NO_NODE for h in gs.host]), NO_NODE)
            sponsor = If(prim_host != NO_NODE, prim_host, first_host)
            ok = And(gs.status[j] == JOINING, gs.inc[j] == s.inc[j], sponsor == src)
            conds.append(_implies(And(i < q.length, msg.kind == GROUP_STATE), ok))
    return And(*conds)


def DataPathIdle(ops: GroupOps, s: SState) -> Term:
    """A data-path invariant: the encodings have MaxWrites = 0 (Encoding refuses more), where every
    data-path variable keeps its initial value, so each of them holds in every state."""
    return True


def ResourceFailuresIdle(ops: GroupOps, s: SState) -> Term:
    """A resource-failure invariant: the encodings have MaxResourceFailures = 0 (Encoding refuses
    more), where no group state has a failed resource and no RES_FAIL or RES_REPAIR is sent, so
    each of them holds in every state."""
    return True


SYMBOLIC_INVARIANTS: tuple[tuple[str, SymbolicInvariant], ...] = (
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
    ("NoAckedWriteLost", DataPathIdle),
    ("MirrorIsPrefix", DataPathIdle),
    ("NoStaleWrite", DataPathIdle),
    ("UniqueEpochs", DataPathIdle),
    ("AckedOnce", DataPathIdle),
    ("HostSuccession", HostSuccession),
    ("FailoverToFirstSynced", FailoverToFirstSynced),
    ("PlacementFirstReachable", PlacementFirstReachable),
    ("RejectionLeavesNothing", RejectionLeavesNothing),
    ("SponsorRule", SponsorRule),
    ("ResourceFailureHandled", ResourceFailuresIdle),
    ("FailedNotMirrored", ResourceFailuresIdle),
)
