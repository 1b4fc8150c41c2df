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
    Not,
    Or,
    SGroupState,
    SState,
    Term,
    equal,
    select,
    seq_contains,
)
from pbjoin_model.protocol.machine import (
    ABSENT,
    ACTIVE,
    CONFIG,
    DOWN,
    HOLDS_VIEW,
    M_ACTIVE,
    M_NONE,
    MEMBER,
    NO_NODE,
    OUT,
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


def DataPathIdle(ops: GroupOps, s: SState) -> Term:
    """A data-path invariant: the encodings have MaxWrites = 0 (Encoding refuses more), where every
    data-path variable keeps its initial value, so each of them holds in every state."""
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
)
