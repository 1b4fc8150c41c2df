"""The exact model State as Z3 terms, for fixed sizes: one function per action of `protocol.machine`.

Every field of `State` becomes Z3 terms (ints and booleans); sequences (the log, the
channels, subgroups) become a fixed number of slots plus a length, with unused slots
holding a filler so that a state has exactly one encoding. Each action instance maps
a symbolic state to (enabled, successor, overflow): `overflow` is true when the
successor would need more slots than the encoding has, and such a successor is never
produced (callers report whether that could have happened, so a bounded answer never
silently depends on a capacity).

The encoding mirrors protocol.py line by line, with `ite` where Python branches on
data. tests/test_prove_symbolic.py checks it against `protocol.successors` by
enumeration: on sampled reachable states of small configurations (every mutant), the
set of successors Z3 allows equals the model's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

import z3

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
    JOIN_DONE,
    JOINING,
    M_ACTIVE,
    M_NONE,
    M_SYNCING,
    MEMBER,
    MIRROR_ACTIVE,
    NO_NODE,
    NO_VIEW,
    OUT,
    P2P,
    PLACED,
    REJECTED,
    START_MIRROR,
    WAIT_CONFIG,
    WAIT_PLACE,
    WAIT_STATE,
    GroupState,
    Msg,
    Mutant,
    Params,
    State,
    idle_data_path,
)

# z3 ships no type information (pyproject: ignore_missing_imports), so terms are Any.
Term = Any
T = TypeVar("T")


class SSeq(NamedTuple):
    """A sequence: `cap` slots, of which the first `length` are used."""

    items: tuple[Any, ...]
    length: Term


class SGroupState(NamedTuple):
    prim: Term
    sub: tuple[SSeq, ...]  # per resource, slots hold node numbers
    host: tuple[Term, ...]
    mirror: tuple[Term, ...]
    status: tuple[Term, ...]
    acc: tuple[tuple[Term, ...], ...]  # per node, per resource: bool
    inc: tuple[Term, ...]


class SMsg(NamedTuple):
    kind: Term
    node: Term
    inc: Term
    res: Term
    rset: tuple[Term, ...]  # per resource: bool


class SP2P(NamedTuple):
    kind: Term
    res: Term
    ver: Term
    gs: SGroupState
    cur: Term


class SState(NamedTuple):
    access: tuple[tuple[Term, ...], ...]  # per node, per resource: bool
    phase: tuple[Term, ...]
    cursor: tuple[Term, ...]
    has_view: tuple[Term, ...]  # view[n] is not NO_VIEW
    view: tuple[SGroupState, ...]  # the filler group state where has_view is false
    log: SSeq
    chan: tuple[SSeq, ...]  # index src * N + dst
    cfg: tuple[tuple[Term, ...], ...]
    resVer: tuple[Term, ...]
    dataCurrent: tuple[Term, ...]
    crashes: Term
    restarts: Term
    cfgChanges: Term
    durable: SGroupState
    inc: tuple[Term, ...]


@dataclass(frozen=True)
class Bounds:
    """Slots per sequence: the ordered log, each channel, each subgroup."""

    log: int
    chan: int
    sub: int


def default_bounds(p: Params, depth: int, chan: int = 3) -> Bounds:
    """Slots for `depth` steps from an initial state. A step multicasts at most once, so
    `depth` log slots always suffice. A subgroup gains a member only on an ACCESS from a
    joining node, and each incarnation joins once, so `nodes + max_restarts` slots always
    suffice (duplicates need a mutant). Channels may overflow; callers check and report it."""
    return Bounds(log=max(depth, 1), chan=chan, sub=p.nodes + p.max_restarts)


# ---------------------------------------------------------------- generic term trees


def _ground(c: Term) -> bool | None:
    """c's truth value when it is a plain Python bool, else None (a symbolic term)."""
    return c if isinstance(c, bool) else None


def Not(c: Term) -> Term:
    return (not c) if isinstance(c, bool) else z3.Not(c)


def And(*cs: Term) -> Term:
    terms = []
    for c in cs:
        if c is False:
            return False
        if c is not True:
            terms.append(c)
    return True if not terms else terms[0] if len(terms) == 1 else z3.And(*terms)


def Or(*cs: Term) -> Term:
    terms = []
    for c in cs:
        if c is True:
            return True
        if c is not False:
            terms.append(c)
    return False if not terms else terms[0] if len(terms) == 1 else z3.Or(*terms)


# Integer-valued state is encoded as Z3 Ints, or, inside `bitvector_ints`, as signed
# bit-vectors: every value of the model is a small integer (phases, node and resource
# numbers, cursors, versions, -1/-2 fillers), and BMC solves bit-vector problems by
# bit-blasting to SAT, far faster than with linear integer arithmetic.
_bv_width: int | None = None


@contextmanager
def bitvector_ints(width: int) -> Iterator[None]:
    """Encode integers as `width`-bit signed bit-vectors while building terms."""
    global _bv_width
    previous, _bv_width = _bv_width, width
    try:
        yield
    finally:
        _bv_width = previous


def int_const(name: str) -> Term:
    return z3.Int(name) if _bv_width is None else z3.BitVec(name, _bv_width)


def _lift(v: Term) -> Term:
    """A Python int as a term of the integer sort in use (bools and terms unchanged)."""
    if _bv_width is not None and type(v) is int:
        return z3.BitVecVal(v, _bv_width)
    return v


def If(c: Term, a: Term, b: Term) -> Term:
    if isinstance(c, bool):
        return a if c else b
    if isinstance(a, z3.ExprRef) and isinstance(b, z3.ExprRef) and a.eq(b):
        return a
    if not isinstance(a, z3.ExprRef) and not isinstance(b, z3.ExprRef) and a == b:
        return a
    return z3.If(c, _lift(a), _lift(b))


def ite(c: Term, a: T, b: T) -> T:
    """`If` over a tree of NamedTuples/tuples of terms with the same shape."""
    if isinstance(c, bool):
        return a if c else b
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        parts = tuple(ite(c, x, y) for x, y in zip(a, b, strict=True))
        return type(a)(*parts) if hasattr(a, "_fields") else parts  # type: ignore[return-value]
    out: T = If(c, a, b)
    return out


def leaves(t: Any) -> Iterator[Term]:
    if isinstance(t, tuple):
        for x in t:
            yield from leaves(x)
    else:
        yield t


def equal(a: Any, b: Any) -> Term:
    return And(*(x == y for x, y in zip(leaves(a), leaves(b), strict=True)))


def select(items: Sequence[T], index: Term, default: T) -> T:
    """items[index] for a symbolic index (default when out of range)."""
    if isinstance(index, int):
        return items[index] if 0 <= index < len(items) else default
    out = default
    for i in reversed(range(len(items))):
        out = ite(index == i, items[i], out)
    return out


def store(items: tuple[T, ...], index: Term, value: T) -> tuple[T, ...]:
    if isinstance(index, int):
        return tuple(value if i == index else x for i, x in enumerate(items))
    return tuple(ite(index == i, value, x) for i, x in enumerate(items))


def any_of(items: Sequence[Term]) -> Term:
    return Or(*items)


def first_index(conds: Sequence[Term]) -> Term:
    """The first i with conds[i], or -1."""
    out: Term = -1
    for i in reversed(range(len(conds))):
        out = If(conds[i], i, out)
    return out


def last_index(conds: Sequence[Term]) -> Term:
    """The last i with conds[i], or -1."""
    out: Term = -1
    for i in range(len(conds)):
        out = If(conds[i], i, out)
    return out


# ---------------------------------------------------------------- sequences


class Overflow:
    """Collects the conditions under which an append would not fit."""

    def __init__(self) -> None:
        self.conds: list[Term] = []

    def any(self) -> Term:
        return any_of(self.conds)


def seq_append_if(q: SSeq, x: Any, cond: Term, overflow: Overflow) -> SSeq:
    cap = len(q.items)
    overflow.conds.append(And(cond, q.length >= cap))
    items = tuple(ite(And(cond, q.length == i), x, item) for i, item in enumerate(q.items))
    return SSeq(items, If(And(cond, q.length < cap), q.length + 1, q.length))


def seq_tail(q: SSeq, filler: Any) -> SSeq:
    return SSeq((*q.items[1:], filler), q.length - 1)


def seq_contains(q: SSeq, x: Term) -> Term:
    return any_of([And(i < q.length, item == x) for i, item in enumerate(q.items)])


def seq_remove(q: SSeq, x: Term, filler: Term) -> SSeq:
    """The sequence without any occurrence of x, order kept."""
    keep = [And(i < q.length, item != x) for i, item in enumerate(q.items)]
    before: list[Term] = []  # number of kept items before slot k
    count: Term = 0
    for k in range(len(q.items)):
        before.append(count)
        count = count + If(keep[k], 1, 0)
    items = []
    for i in range(len(q.items)):
        value: Term = filler
        for k in reversed(range(i, len(q.items))):
            value = If(And(keep[k], before[k] == i), q.items[k], value)
        items.append(value)
    return SSeq(tuple(items), count)


def seq_drop(q: SSeq, low: Term, filler: Any) -> SSeq:
    """The sequence without its first `low` items."""
    cap = len(q.items)
    items = []
    for i in range(cap):
        value = filler
        for k in reversed(range(cap)):
            value = ite(low == k, q.items[i + k] if i + k < cap else filler, value)
        items.append(value)
    return SSeq(tuple(items), q.length - low)


# ---------------------------------------------------------------- concrete values <-> terms


def _int(v: int) -> Term:
    # Concrete values stay Python values, so that encoding a concrete state evaluates
    # every action directly; they become Z3 terms only next to symbolic ones.
    return v


def _bits(mask: int, width: int) -> tuple[Term, ...]:
    return tuple(bool(mask >> r & 1) for r in range(width))


DATA_PATH_NOT_ENCODED = (
    "the Z3 encodings cover the join protocol only (MaxWrites = 0); the data path is checked by pbjoin check and TLC"
)


RESOURCE_FAILURES_NOT_ENCODED = (
    "the Z3 encodings cover node failures only (MaxResourceFailures = 0); resource failures are checked "
    "by pbjoin check and TLC"
)


class Encoding:
    """Encoders, decoders and fillers for one size (Params) and slot bounds."""

    def __init__(self, p: Params, bounds: Bounds) -> None:
        if p.max_writes:
            raise ValueError(DATA_PATH_NOT_ENCODED)
        if p.max_resource_failures:
            raise ValueError(RESOURCE_FAILURES_NOT_ENCODED)
        self.p = p
        self.bounds = bounds
        self.nodes = range(p.nodes)
        self.res = range(p.resources)
        self.filler_gs = self.group_state(
            GroupState(
                0,
                ((),) * p.resources,
                (NO_NODE,) * p.resources,
                (M_NONE,) * p.resources,
                (ABSENT,) * p.nodes,
                (0,) * p.nodes,
                (0,) * p.nodes,
                0,
                (0,) * p.resources,
            )
        )
        self.filler_msg = SMsg(_int(-1), _int(-1), _int(0), _int(-1), _bits(0, p.resources))
        self.filler_p2p = SP2P(_int(-1), _int(-1), _int(-1), self.filler_gs, _int(-1))

    # -- concrete to terms

    def group_state(self, gs: GroupState) -> SGroupState:
        p = self.p
        if any(len(m) > self.bounds.sub for m in gs.sub):
            raise ValueError(f"a subgroup longer than {self.bounds.sub} slots")
        if gs.lost or any(gs.rounds):
            raise ValueError(RESOURCE_FAILURES_NOT_ENCODED)
        sub = tuple(
            SSeq(tuple(_int(m[i] if i < len(m) else -1) for i in range(self.bounds.sub)), _int(len(m))) for m in gs.sub
        )
        return SGroupState(
            _int(gs.prim),
            sub,
            tuple(map(_int, gs.host)),
            tuple(map(_int, gs.mirror)),
            tuple(map(_int, gs.status)),
            tuple(_bits(a, p.resources) for a in gs.acc),
            tuple(map(_int, gs.inc)),
        )

    def msg(self, m: Msg) -> SMsg:
        return SMsg(_int(m.kind), _int(m.node), _int(m.inc), _int(m.res), _bits(m.rset, self.p.resources))

    def p2p(self, m: P2P) -> SP2P:
        gs = self.group_state(m.gs) if isinstance(m.gs, GroupState) else self.filler_gs
        return SP2P(_int(m.kind), _int(m.res), _int(m.ver), gs, _int(m.cur))

    def _seq(self, items: Sequence[Any], cap: int, filler: Any, what: str) -> SSeq:
        if len(items) > cap:
            raise ValueError(f"{what} longer than {cap} slots")
        return SSeq(tuple(items[i] if i < len(items) else filler for i in range(cap)), _int(len(items)))

    def state(self, s: State) -> SState:
        p = self.p
        return SState(
            access=tuple(_bits(a, p.resources) for a in s.access),
            phase=tuple(map(_int, s.phase)),
            cursor=tuple(map(_int, s.cursor)),
            has_view=tuple((isinstance(v, GroupState)) for v in s.view),
            view=tuple(self.group_state(v) if isinstance(v, GroupState) else self.filler_gs for v in s.view),
            log=self._seq([self.msg(m) for m in s.log], self.bounds.log, self.filler_msg, "the log"),
            chan=tuple(
                self._seq([self.p2p(m) for m in q], self.bounds.chan, self.filler_p2p, "a channel") for q in s.chan
            ),
            cfg=tuple(tuple(map(_int, row)) for row in s.cfg),
            resVer=tuple(map(_int, s.resVer)),
            dataCurrent=tuple((b) for b in s.dataCurrent),
            crashes=_int(s.crashes),
            restarts=_int(s.restarts),
            cfgChanges=_int(s.cfgChanges),
            durable=self.group_state(s.durable),
            inc=tuple(map(_int, s.inc)),
        )

    def variables(self, prefix: str) -> SState:
        """A state of fresh Z3 constants named after the fields."""
        counter = iter(range(1 << 30))

        def fresh(template: Term) -> Term:
            name = f"{prefix}_{next(counter)}"
            return z3.Bool(name) if isinstance(template, bool) else int_const(name)

        template = self.state(next(_initial(self.p)))

        def walk(t: Any) -> Any:
            if isinstance(t, tuple):
                parts = tuple(walk(x) for x in t)
                return type(t)(*parts) if hasattr(t, "_fields") else parts
            return fresh(t)

        out: SState = walk(template)
        return out

    # -- terms to concrete (under a model)

    def decode(self, s: SState, model: z3.ModelRef | None = None) -> State:
        """The concrete state s stands for (under `model`, where s has Z3 terms)."""

        def value(t: Term) -> Term:
            assert model is not None, "a symbolic state needs a model to decode"
            return model.eval(t, model_completion=True)

        def num(t: Term) -> int:
            if isinstance(t, int):
                return t
            v = value(t)
            return int(v.as_signed_long() if z3.is_bv_value(v) else v.as_long())

        def flag(t: Term) -> bool:
            return t if isinstance(t, bool) else bool(z3.is_true(value(t)))

        def mask(ts: Sequence[Term]) -> int:
            return sum(1 << r for r, t in enumerate(ts) if flag(t))

        def items(q: SSeq) -> list[Any]:
            return list(q.items[: num(q.length)])

        def gs(g: SGroupState) -> GroupState:
            return GroupState(
                num(g.prim),
                tuple(tuple(num(x) for x in items(q)) for q in g.sub),
                tuple(map(num, g.host)),
                tuple(map(num, g.mirror)),
                tuple(map(num, g.status)),
                tuple(mask(a) for a in g.acc),
                tuple(map(num, g.inc)),
                0,  # the encodings have no resource failures
                (0,) * len(g.host),
            )

        def msg(m: SMsg) -> Msg:
            return Msg(num(m.kind), num(m.node), num(m.inc), num(m.res), mask(m.rset))

        def p2p(m: SP2P) -> P2P:
            kind = num(m.kind)
            return P2P(kind, num(m.res), num(m.ver), gs(m.gs) if kind == GROUP_STATE else NO_VIEW, num(m.cur))

        return State(
            access=tuple(mask(a) for a in s.access),
            phase=tuple(map(num, s.phase)),
            cursor=tuple(map(num, s.cursor)),
            view=tuple(gs(v) if flag(h) else NO_VIEW for h, v in zip(s.has_view, s.view, strict=True)),
            log=tuple(msg(m) for m in items(s.log)),
            chan=tuple(tuple(p2p(m) for m in items(q)) for q in s.chan),
            cfg=tuple(tuple(map(num, row)) for row in s.cfg),
            resVer=tuple(map(num, s.resVer)),
            dataCurrent=tuple(map(flag, s.dataCurrent)),
            crashes=num(s.crashes),
            restarts=num(s.restarts),
            cfgChanges=num(s.cfgChanges),
            durable=gs(s.durable),
            inc=tuple(map(num, s.inc)),
            **idle_data_path(self.p),
        )

    def initial(self, s: SState) -> Term:
        """s is an initial state of the model (any wiring)."""
        init = self.state(next(_initial(self.p)))
        return And(*(equal(getattr(s, f), getattr(init, f)) for f in SState._fields if f != "access"))


def _initial(p: Params) -> Iterator[State]:
    from pbjoin_model.protocol.machine import initial_states

    return initial_states(p)


# ---------------------------------------------------------------- group state


class GroupOps:
    """apply_message and its helpers on symbolic group states."""

    def __init__(self, enc: Encoding) -> None:
        self.enc = enc
        self.p = enc.p
        self.mutant = enc.p.mutant
        self._applied: dict[tuple[int, ...], SGroupState] = {}

    def res_of(self, gs: SGroupState, n: Term) -> Term:
        return first_index([seq_contains(q, n) for q in gs.sub])

    def is_primary_host(self, gs: SGroupState, n: Term) -> Term:
        return select(gs.host, gs.prim, _int(NO_NODE)) == n

    def sponsor(self, gs: SGroupState) -> Term:
        prim_host = select(gs.host, gs.prim, _int(NO_NODE))
        first = select(gs.host, first_index([h != NO_NODE for h in gs.host]), _int(NO_NODE))
        return If(prim_host != NO_NODE, prim_host, first)

    def placement(self, gs: SGroupState, rset: tuple[Term, ...]) -> Term:
        nonempty = any_of(list(rset))
        if self.mutant is Mutant.PLACEMENT_IGNORES_ACCESS:
            return If(nonempty, gs.prim, _int(-1))
        if self.mutant is Mutant.PLACEMENT_IN_STATIC_ORDER:
            return first_index(list(rset))
        return If(select(rset, gs.prim, (False)), gs.prim, first_index(list(rset)))

    @staticmethod
    def restart_mirrors(mirror: tuple[Term, ...], host: tuple[Term, ...], prim: Term) -> tuple[Term, ...]:
        return tuple(
            If(prim != b, If(host[b] != NO_NODE, _int(M_SYNCING), _int(M_NONE)), mirror[b]) for b in range(len(mirror))
        )

    def apply(self, gs: SGroupState, m: SMsg) -> SGroupState:
        # Memoised by term identity: compaction replays the same prefix for every action.
        key = tuple(t if isinstance(t, int) else -1 - t.get_id() for t in (*leaves(gs), *leaves(m)))
        if key not in self._applied:
            self._applied[key] = self._apply(gs, m)
        return self._applied[key]

    def _apply(self, gs: SGroupState, m: SMsg) -> SGroupState:
        status_of = select(gs.status, m.node, _int(-1))
        joined = gs._replace(status=store(gs.status, m.node, _int(JOINING)), inc=store(gs.inc, m.node, m.inc))
        on_join = ite(status_of == ABSENT, joined, gs)
        on_done = ite(status_of == PLACED, gs._replace(status=store(gs.status, m.node, _int(ACTIVE))), gs)
        r = m.res
        syncing = And(select(gs.host, r, _int(-2)) == m.node, r != gs.prim, select(gs.mirror, r, _int(-1)) == M_SYNCING)
        on_mirror = ite(syncing, gs._replace(mirror=store(gs.mirror, r, _int(M_ACTIVE))), gs)
        return ite(
            m.kind == JOIN,
            on_join,
            ite(
                m.kind == ACCESS,
                self._access(gs, m),
                ite(m.kind == JOIN_DONE, on_done, ite(m.kind == MIRROR_ACTIVE, on_mirror, self._fail(gs, m.node))),
            ),
        )

    def _append_member(self, gs: SGroupState, r: Term, j: Term) -> tuple[SSeq, ...]:
        # Never overflows with default_bounds' subgroup slots (see there).
        unused = Overflow()
        return tuple(seq_append_if(q, j, r == i, unused) for i, q in enumerate(gs.sub))

    def _access(self, gs: SGroupState, m: SMsg) -> SGroupState:
        j = m.node
        r = self.placement(gs, m.rset)
        absent = store(gs.status, j, _int(ABSENT))
        if self.mutant is Mutant.REJECTED_STAYS_IN_SUBGROUP:
            rejected = gs._replace(status=absent, sub=self._append_member(gs, gs.prim, j))
        elif self.mutant is Mutant.REJECTED_LEFT_JOINING:
            rejected = gs
        else:
            rejected = gs._replace(status=absent)
        if self.mutant is Mutant.HOST_CHOSEN_BY_LAGGING_VIEW:
            claims = m.res == 1
        else:
            claims = select(gs.host, r, _int(-2)) == NO_NODE
        host = ite(claims, store(gs.host, r, j), gs.host)
        hosts = select(host, r, _int(-2)) == j
        prim_hosted = select(host, gs.prim, _int(NO_NODE)) != NO_NODE
        backup = store(gs.mirror, r, If(prim_hosted, _int(M_SYNCING), _int(M_NONE)))
        mirror = ite(hosts, ite(r == gs.prim, self.restart_mirrors(gs.mirror, host, gs.prim), backup), gs.mirror)
        placed = gs._replace(
            sub=self._append_member(gs, r, j),
            host=host,
            mirror=mirror,
            status=store(gs.status, j, _int(PLACED)),
            acc=store(gs.acc, j, m.rset),
        )
        joining = select(gs.status, j, _int(-1)) == JOINING
        return ite(joining, ite(r < 0, rejected, placed), gs)

    def _fail(self, gs: SGroupState, f: Term) -> SGroupState:
        p = self.p
        status = store(gs.status, f, _int(ABSENT))
        acc = store(gs.acc, f, _bits(0, p.resources))
        r = self.res_of(gs, f)
        sub = tuple(ite(r == i, seq_remove(q, f, _int(-1)), q) for i, q in enumerate(gs.sub))
        replaced = select(gs.host, r, _int(-2)) == f
        if self.mutant is Mutant.NO_HOST_REPLACEMENT:
            replaced = False
        rest = select(sub, r, sub[0])
        successor = rest.items[0]
        if self.mutant is Mutant.HOST_SUCCESSION_BY_NEWEST:
            successor = select(rest.items, rest.length - 1, _int(NO_NODE))
        new_host = If(rest.length > 0, successor, _int(NO_NODE))
        host = ite(replaced, store(gs.host, r, new_host), gs.host)
        prim_host = select(host, gs.prim, _int(NO_NODE))
        hosted = select(host, r, _int(NO_NODE)) != NO_NODE
        reset = If(And(hosted, prim_host != NO_NODE), _int(M_SYNCING), _int(M_NONE))
        if self.mutant is Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE:
            active = select(gs.mirror, r, _int(M_NONE)) == M_ACTIVE
            reset = If(And(hosted, active), _int(M_ACTIVE), reset)
        backup_mirror = store(gs.mirror, r, reset)
        switchover = self.restart_mirrors(gs.mirror, host, gs.prim)
        target = self._failover_target(gs, host)
        failed_over = self.restart_mirrors(
            store(store(gs.mirror, gs.prim, _int(M_NONE)), target, _int(M_NONE)), host, target
        )
        prim = If(And(replaced, r == gs.prim, prim_host == NO_NODE, target >= 0), target, gs.prim)
        mirror = ite(
            replaced,
            ite(
                r != gs.prim,
                backup_mirror,
                ite(prim_host != NO_NODE, switchover, ite(target >= 0, failed_over, gs.mirror)),
            ),
            gs.mirror,
        )
        removed = SGroupState(prim, sub, host, mirror, status, acc, gs.inc)
        unplaced = gs._replace(status=status, acc=acc)
        return ite(select(gs.status, f, _int(-1)) == ABSENT, gs, ite(r < 0, unplaced, removed))

    def _failover_target(self, gs: SGroupState, host: tuple[Term, ...]) -> Term:
        ok = []
        for b in range(self.p.resources):
            synced = (True) if self.mutant is Mutant.PROMOTE_UNSYNCED_MIRROR else gs.mirror[b] == M_ACTIVE
            ok.append(And(gs.prim != b, host[b] != NO_NODE, synced))
        return last_index(ok) if self.mutant is Mutant.FAILOVER_TO_LAST_SYNCED else first_index(ok)

    def replay(self, durable: SGroupState, log: SSeq, upto: Term) -> SGroupState:
        """The group state after the first `upto` messages of the log (upto <= its length)."""
        states = [durable]
        for i, m in enumerate(log.items):
            states.append(ite(i < log.length, self.apply(states[-1], m), states[-1]))
        return select(states, upto, durable)


# ---------------------------------------------------------------- actions


class Effects:
    """protocol._Effects on symbolic states; `when(cond, body)` is Python's `if` on data."""

    def __init__(self, ops: GroupOps, s: SState) -> None:
        self.ops = ops
        self.enc = ops.enc
        self.p = ops.p
        self.s = s
        self.fields: dict[str, Any] = {f: getattr(s, f) for f in SState._fields}
        self.overflow = Overflow()

    def __getattr__(self, name: str) -> Any:
        if name in SState._fields:
            return self.__dict__["fields"][name]
        raise AttributeError(name)

    def set(self, name: str, value: Any) -> None:
        self.fields[name] = value

    def set_at(self, name: str, index: int, value: Any) -> None:
        items = list(self.fields[name])
        items[index] = value
        self.fields[name] = tuple(items)

    def when(self, cond: Term, body: Callable[[], None]) -> None:
        ground = _ground(cond)
        if ground is not None:
            if ground:
                body()
            return
        saved = dict(self.fields)
        before = len(self.overflow.conds)
        body()
        self.fields = {f: ite(cond, self.fields[f], saved[f]) for f in SState._fields}
        # the body's appends only happen under cond, and so do their overflows
        self.overflow.conds[before:] = [And(cond, c) for c in self.overflow.conds[before:]]

    def send(self, src: int, dst: Term, dst_inc: Term, msg: SP2P, cond: Term = True) -> None:
        n = self.p.nodes
        chan = list(self.fields["chan"])
        for d in range(n):
            alive = And(cond, dst == d, self.fields["phase"][d] != DOWN, self.s.inc[d] == dst_inc)
            chan[src * n + d] = seq_append_if(chan[src * n + d], msg, alive, self.overflow)
        self.fields["chan"] = tuple(chan)

    def pop(self, src: int, dst: int) -> None:
        self.set_at(
            "chan", src * self.p.nodes + dst, seq_tail(self.chan[src * self.p.nodes + dst], self.enc.filler_p2p)
        )

    def multicast(self, m: SMsg) -> None:
        self.fields["log"] = seq_append_if(self.log, m, (True), self.overflow)

    def set_cfg(self, n: int, r: Term, v: Term) -> None:
        self.set_at("cfg", n, store(self.cfg[n], r, v))

    def build(self, compacted: bool) -> SState:
        state = SState(**self.fields)
        return compact(self.ops, state) if compacted else state


def compact(ops: GroupOps, s: SState) -> SState:
    """protocol.compact: fold the prefix nobody still needs into `durable`."""
    low: Term = s.log.length
    for n in ops.enc.nodes:
        low = If(And(s.has_view[n], s.cursor[n] < low), s.cursor[n], low)
    for q in s.chan:
        for i, msg in enumerate(q.items):
            needed = And(i < q.length, msg.kind == GROUP_STATE, msg.cur < low)
            low = If(needed, msg.cur, low)
    durable = ops.replay(s.durable, s.log, low)
    chan = tuple(
        SSeq(tuple(m._replace(cur=If(m.kind >= 0, If(m.cur > low, m.cur - low, 0), m.cur)) for m in q.items), q.length)
        for q in s.chan
    )
    cursor = tuple(If(h, c - low, c) for h, c in zip(s.has_view, s.cursor, strict=True))
    return s._replace(log=seq_drop(s.log, low, ops.enc.filler_msg), cursor=cursor, chan=chan, durable=durable)


class Transition(NamedTuple):
    enabled: Term
    post: SState
    overflow: Term


def _msg(kind: int, node: Term, inc: Term, res: Term, rset: tuple[Term, ...]) -> SMsg:
    return SMsg(_int(kind), node, inc, res, rset)


class Actions:
    """One method per action of protocol.py, same names and parameters.

    With `compacted=False` successors are left uncompacted: compaction is a function
    of the successor alone, so an unrolling can apply it once to the chosen successor
    instead of once per action instance.
    """

    def __init__(self, enc: Encoding, compacted: bool = True) -> None:
        self.enc = enc
        self.compacted = compacted
        self.p = enc.p
        self.ops = GroupOps(enc)
        self.no_rset = _bits(0, enc.p.resources)

    def _done(self, enabled: Term, e: Effects) -> Transition:
        return Transition(enabled, e.build(self.compacted), e.overflow.any())

    def Join(self, s: SState, n: int) -> Transition:
        e = Effects(self.ops, s)
        e.multicast(_msg(JOIN, _int(n), s.inc[n], _int(-1), self.no_rset))
        e.set_at("phase", n, _int(WAIT_STATE))
        return self._done(s.phase[n] == OUT, e)

    def _adopt_state(self, e: Effects, n: int, gs: SGroupState, cur: Term) -> None:
        e.set_at("view", n, gs)
        e.set_at("has_view", n, (True))
        e.set_at("cursor", n, cur)
        e.set_at("phase", n, _int(WAIT_PLACE))
        claim: Term = _int(-1)
        if self.p.mutant is Mutant.HOST_CHOSEN_BY_LAGGING_VIEW:
            r = self.ops.placement(gs, e.s.access[n])
            claim = If(And(r >= 0, select(gs.host, r, _int(-2)) == NO_NODE), _int(1), _int(0))
        e.multicast(_msg(ACCESS, _int(n), e.s.inc[n], claim, e.s.access[n]))

    def ReceiveGroupState(self, s: SState, src: int, n: int) -> Transition:
        q = s.chan[src * self.p.nodes + n]
        head: SP2P = q.items[0]
        e = Effects(self.ops, s)
        e.pop(src, n)
        e.when(s.phase[n] == WAIT_STATE, lambda: self._adopt_state(e, n, head.gs, head.cur))
        return self._done(And(q.length > 0, head.kind == GROUP_STATE), e)

    def RecoverGroupState(self, s: SState, n: int) -> Transition:
        alone = And(*(Not(Or(*(s.phase[m] == h for h in HOLDS_VIEW))) for m in self.enc.nodes if m != n))
        e = Effects(self.ops, s)
        self._adopt_state(e, n, self.ops.replay(s.durable, s.log, s.log.length), s.log.length)
        return self._done(And(s.phase[n] == WAIT_STATE, alone), e)

    def Deliver(self, s: SState, n: int) -> Transition:
        ops = self.ops
        gs = s.view[n]
        m: SMsg = select(s.log.items, s.cursor[n], self.enc.filler_msg)
        gs2 = ops.apply(gs, m)
        e = Effects(ops, s)
        e.set_at("view", n, gs2)
        e.set_at("cursor", n, s.cursor[n] + 1)
        own = And(m.node == n, m.inc == s.inc[n])
        e.when(And(m.kind == ACCESS, own), lambda: self._own_placement(e, n, gs2))

        def duties() -> None:
            self._host_duties(e, n, gs, gs2, m, own)
            self._primary_duties(e, n, gs, gs2, m)
            self._sponsor_duties(e, n, gs, gs2, m)

        e.when(e.phase[n] != REJECTED, duties)
        holds = Or(*(s.phase[n] == h for h in HOLDS_VIEW))
        return self._done(And(holds, s.cursor[n] < s.log.length), e)

    def _own_placement(self, e: Effects, n: int, gs2: SGroupState) -> None:
        def rejected() -> None:
            e.set_at("phase", n, _int(REJECTED))
            e.set_at("view", n, self.enc.filler_gs)
            e.set_at("has_view", n, (False))
            e.set_at("cursor", n, _int(0))

        r = self.ops.res_of(gs2, n)

        def new_host() -> None:
            e.set_cfg(n, r, select(e.s.resVer, r, _int(0)))
            e.multicast(_msg(JOIN_DONE, _int(n), e.s.inc[n], _int(-1), self.no_rset))
            e.set_at("phase", n, _int(MEMBER))

        def placed() -> None:
            hosts = select(gs2.host, r, _int(-2)) == n
            e.when(hosts, new_host)
            e.when(Not(hosts), lambda: e.set_at("phase", n, _int(WAIT_CONFIG)))

        absent = select(gs2.status, _int(n), _int(-1)) == ABSENT
        if self.p.mutant is Mutant.REJECTED_LEFT_JOINING:
            absent = select(gs2.status, _int(n), _int(-1)) == JOINING
        e.when(absent, rejected)
        e.when(Not(absent), placed)

    def _host_duties(self, e: Effects, n: int, gs: SGroupState, gs2: SGroupState, m: SMsg, own: Term) -> None:
        ops, p = self.ops, self.p
        for r in self.enc.res:
            takeover = And(gs2.host[r] == n, gs.host[r] != n, Not(And(m.kind == ACCESS, own)))

            def take_over(r: int = r) -> None:
                e.set_cfg(n, _int(r), e.s.resVer[r])

                def done() -> None:
                    e.multicast(_msg(JOIN_DONE, _int(n), e.s.inc[n], _int(-1), self.no_rset))
                    e.set_at("phase", n, _int(MEMBER))

                e.when(e.phase[n] == WAIT_CONFIG, done)
                if p.mutant is not Mutant.NO_CONFIG_PUSH_ON_TAKEOVER:
                    members = gs2.sub[r]
                    for i, x in enumerate(members.items):
                        msg = SP2P(_int(CONFIG), _int(r), e.cfg[n][r], self.enc.filler_gs, e.cursor[n])
                        inc_x = select(gs2.inc, x, _int(-1))
                        e.send(n, x, inc_x, msg, And(i < members.length, x != n))

            e.when(takeover, take_over)
            answer = And(
                gs2.host[r] == n,
                Not(takeover),
                m.kind == ACCESS,
                Not(own),
                ops.res_of(gs2, m.node) == r,
                select(gs.status, m.node, _int(-1)) == JOINING,
            )
            e.when(
                answer,
                lambda r=r: e.send(  # type: ignore[misc]
                    n, m.node, m.inc, SP2P(_int(CONFIG), _int(r), e.cfg[n][r], self.enc.filler_gs, e.cursor[n])
                ),
            )
        if p.mutant is Mutant.CONFIG_FROM_PRIMARY_TO_ALL:
            to_all = And(
                m.kind == ACCESS,
                m.node != n,
                ops.is_primary_host(gs2, _int(n)),
                select(gs2.status, m.node, _int(-1)) == PLACED,
                ops.res_of(gs2, m.node) != gs2.prim,
            )
            ver = select(e.cfg[n], gs2.prim, _int(0))
            e.send(n, m.node, m.inc, SP2P(_int(CONFIG), gs2.prim, ver, self.enc.filler_gs, e.cursor[n]), to_all)

    def _primary_duties(self, e: Effects, n: int, gs: SGroupState, gs2: SGroupState, m: SMsg) -> None:
        ops, p = self.ops, self.p
        became = Not(ops.is_primary_host(gs, _int(n)))

        def duties() -> None:
            failover = And(became, gs2.prim != gs.prim)
            e.set("dataCurrent", ite(failover, store(e.dataCurrent, gs.prim, (False)), e.dataCurrent))
            for b in self.enc.res:
                hb = gs2.host[b]
                start = SP2P(_int(START_MIRROR), _int(b), _int(0), self.enc.filler_gs, e.cursor[n])
                inc_hb = select(gs2.inc, hb, _int(-1))
                skip = Or(gs2.prim == b, hb == n)
                restart = And(hb != NO_NODE)
                if p.mutant is Mutant.NO_MIRROR_RESTART:
                    restart = And(restart, m.kind != FAIL)
                e.send(n, hb, inc_hb, start, And(Not(skip), became, restart))
                changed = And(Not(skip), Not(became), hb != gs.host[b])
                stale = And(changed, gs.host[b] != NO_NODE)
                e.set_at("dataCurrent", b, And(e.dataCurrent[b], Not(stale)))
                new_backup = False
                if p.mutant is Mutant.NO_MIRROR_TO_NEW_BACKUP:
                    new_backup = gs.host[b] == NO_NODE
                e.send(n, hb, inc_hb, start, And(changed, hb != NO_NODE, Not(new_backup)))

        e.when(ops.is_primary_host(gs2, _int(n)), duties)

    def _sponsor_duties(self, e: Effects, n: int, gs: SGroupState, gs2: SGroupState, m: SMsg) -> None:
        ops, p = self.ops, self.p

        def duties() -> None:
            state = SP2P(_int(GROUP_STATE), _int(-1), _int(-1), gs2, e.cursor[n])
            resend = ops.sponsor(gs) != n
            if p.mutant is Mutant.NO_STATE_RESEND:
                resend = False
            for j in self.enc.nodes:
                if j != n:
                    e.send(n, _int(j), gs2.inc[j], state, And(resend, gs2.status[j] == JOINING))
            joined = And(Not(resend), m.kind == JOIN, select(gs2.status, m.node, _int(-1)) == JOINING)
            e.send(n, m.node, m.inc, state, joined)

        e.when(ops.sponsor(gs2) == n, duties)
        if p.mutant is Mutant.EVERY_HOST_SPONSORS:
            answers = And(ops.sponsor(gs2) != n, Or(*(h == n for h in gs2.host)))
            joined = And(m.kind == JOIN, select(gs2.status, m.node, _int(-1)) == JOINING)
            state = SP2P(_int(GROUP_STATE), _int(-1), _int(-1), gs2, e.cursor[n])
            e.when(answers, lambda: e.send(n, m.node, m.inc, state, joined))

    def ReceiveConfig(self, s: SState, src: int, n: int) -> Transition:
        q = s.chan[src * self.p.nodes + n]
        msg: SP2P = q.items[0]
        e = Effects(self.ops, s)
        e.pop(src, n)
        mine = s.has_view[n]
        if self.p.mutant is not Mutant.CONFIG_FROM_PRIMARY_TO_ALL:
            mine = And(mine, self.ops.res_of(s.view[n], _int(n)) == msg.res)

        def install() -> None:
            e.set_cfg(n, msg.res, msg.ver)

            def done() -> None:
                e.multicast(_msg(JOIN_DONE, _int(n), s.inc[n], _int(-1), self.no_rset))
                e.set_at("phase", n, _int(MEMBER))

            e.when(s.phase[n] == WAIT_CONFIG, done)

        e.when(And(Or(s.phase[n] == WAIT_CONFIG, s.phase[n] == MEMBER), mine), install)
        return self._done(And(q.length > 0, msg.kind == CONFIG, self._caught_up(s, n, msg)), e)

    def ReceiveStartMirror(self, s: SState, src: int, n: int) -> Transition:
        q = s.chan[src * self.p.nodes + n]
        r = q.items[0].res
        e = Effects(self.ops, s)
        e.pop(src, n)
        gs = s.view[n]

        def sync() -> None:
            e.set("dataCurrent", store(e.dataCurrent, r, (True)))
            e.multicast(_msg(MIRROR_ACTIVE, _int(n), s.inc[n], r, self.no_rset))

        # the sender must be the primary host in n's view (protocol.ReceiveStartMirror); the round
        # and reported-failure checks are vacuous here, the encodings having no resource failures
        backup_host = And(
            s.phase[n] == MEMBER,
            s.has_view[n],
            select(gs.host, r, _int(-2)) == n,
            r != gs.prim,
            self.ops.is_primary_host(gs, _int(src)),
        )
        e.when(backup_host, sync)
        return self._done(And(q.length > 0, q.items[0].kind == START_MIRROR, self._caught_up(s, n, q.items[0])), e)

    def _caught_up(self, s: SState, n: int, msg: SP2P) -> Term:
        """protocol.caught_up: n's placement is delivered, and everything the sender had."""
        if self.p.mutant is Mutant.NO_CAUSAL_WAIT:
            return s.phase[n] != WAIT_PLACE
        return And(s.phase[n] != WAIT_PLACE, s.cursor[n] >= msg.cur)

    def ChangeConfig(self, s: SState, n: int, r: int) -> Transition:
        gs = s.view[n]
        v = s.resVer[r] + 1
        e = Effects(self.ops, s)
        e.set_cfg(n, _int(r), v)
        members = gs.sub[r]
        for i, x in enumerate(members.items):
            msg = SP2P(_int(CONFIG), _int(r), v, self.enc.filler_gs, s.cursor[n])
            e.send(n, x, select(gs.inc, x, _int(-1)), msg, And(i < members.length, x != n))
        e.set_at("resVer", r, v)
        e.set("cfgChanges", s.cfgChanges + 1)
        enabled = And(s.phase[n] == MEMBER, s.has_view[n], gs.host[r] == n, s.cfgChanges < self.p.max_config_changes)
        return self._done(enabled, e)

    def Crash(self, s: SState, n: int) -> Transition:
        p = self.p
        e = Effects(self.ops, s)
        e.set_at("phase", n, _int(DOWN))
        e.set_at("view", n, self.enc.filler_gs)
        e.set_at("has_view", n, (False))
        e.set_at("cursor", n, _int(0))
        e.set_at("cfg", n, tuple(_int(0) for _ in self.enc.res))
        empty = SSeq((self.enc.filler_p2p,) * self.enc.bounds.chan, _int(0))
        for x in self.enc.nodes:
            e.set_at("chan", n * p.nodes + x, empty)
            e.set_at("chan", x * p.nodes + n, empty)
        e.multicast(_msg(FAIL, _int(n), s.inc[n], _int(-1), self.no_rset))
        e.set("crashes", s.crashes + 1)
        in_group = Or(*(s.phase[n] == ph for ph in IN_GROUP))
        return self._done(And(in_group, s.crashes < p.max_failures), e)

    def Restart(self, s: SState, n: int) -> Transition:
        e = Effects(self.ops, s)
        e.set_at("phase", n, _int(OUT))
        e.set("restarts", s.restarts + 1)
        e.set_at("inc", n, s.inc[n] + 1)
        return self._done(And(s.phase[n] == DOWN, s.restarts < self.p.max_restarts), e)

    def instances(self, s: SState) -> Iterator[tuple[str, tuple[tuple[str, int], ...], Transition]]:
        """Every action instance, named as protocol.successors names its steps."""
        for n in self.enc.nodes:
            yield "Join", (("n", n),), self.Join(s, n)
            yield "RecoverGroupState", (("n", n),), self.RecoverGroupState(s, n)
            yield "Deliver", (("n", n),), self.Deliver(s, n)
            yield "Crash", (("n", n),), self.Crash(s, n)
            yield "Restart", (("n", n),), self.Restart(s, n)
            for r in self.enc.res:
                yield "ChangeConfig", (("n", n), ("r", r)), self.ChangeConfig(s, n, r)
        for src in self.enc.nodes:
            for n in self.enc.nodes:
                params = (("src", src), ("n", n))
                yield "ReceiveGroupState", params, self.ReceiveGroupState(s, src, n)
                yield "ReceiveConfig", params, self.ReceiveConfig(s, src, n)
                yield "ReceiveStartMirror", params, self.ReceiveStartMirror(s, src, n)


def intended_end(s: SState, p: Params) -> Term:
    """protocol.is_intended_end."""
    settled = [Or(ph == MEMBER, ph == REJECTED, ph == DOWN) for ph in s.phase]
    quiet = [q.length == 0 for q in s.chan]
    caught_up = [z3.Implies(s.phase[n] == MEMBER, s.cursor[n] == s.log.length) for n in range(p.nodes)]
    return And(*settled, *quiet, *caught_up)
