"""The stream level of IndInv: cross-view properties for every number of nodes and resources.

Every view is a deterministic function of the prefix of the ordered stream its holder
has delivered. Here group states are an uninterpreted sort `GS`, ordered messages an
uninterpreted sort `Msg`, and `apply: GS x Msg -> GS` is uninterpreted; the log is a
function from positions (integers) to messages and `prefix(k)` is the group state
after its first k messages (`prefix(0)` = durable). What `apply` may do is only what
the group level (`proofs.prove`) proves of `apply_message` for every message kind,
taken here as axioms:

* `good` is GroupStateInv, preserved by every message (the group obligations);
* HostStable and PrimaryStable: a host keeps its resource, and a primary host keeps
  the primary role, under every message except its own FAIL;
* StatusFrame and IncFrame: a message changes only its own node's status and
  incarnation, and an incarnation only to the message's;
* OwnStatus: how a message changes its own node's status, by kind (only an ACCESS
  places a joining node; only a JOIN changes an incarnation);
* MemberStable: a subgroup member stays in its subgroup under every message except its
  own FAIL;
* HostPlaced and MemberPlaced: in a good state a host, and a subgroup member, is placed
  or active; HostMember and OneSubgroup: a host is in its resource's subgroup, and a node
  in at most one subgroup (implied by GroupStateInv).
  or active (implied by GroupStateInv); HostMember: a host is a member of its subgroup;
* the mirror lemmas MirrorStep, MirrorReset, PrimMoves (how a message changes mirror
  status and the primary role) and MemberGain, FailUnmembers (how it changes subgroups).

With them the invariants below are inductive. Ranges over positions carry the
position of the holder's own JOIN (`join_pos`): after it, no FAIL of that node is in
the log, so HostRange and PrimRange (a host keeps its role in every later prefix)
hold from there on; every holder's cursor and every GROUP_STATE's cursor are past
their node's JOIN (JoinPosFresh, proved through incarnations); so two holders' views,
whatever their lag, are two prefixes of one stream, and UniqueHost, NoSplitBrain,
ViewsAgree, ConfigFromHost and MirrorFromPrimary follow for every size. The position of
a node's own ACCESS (`acc_pos`, ghost) does the same for RejectedNotPlaced: no prefix up
to it shows the node placed in its current incarnation, the prefixes after it either all
do or none does, and a node is rejected only by delivering it with the result absent.
For ActiveHasConfig, `cfg` says which configuration a node holds (a nonzero version) and
the ghost `cfg_res` which resource a member became a member with configuration for: a
node becomes a member only so, its subgroup after its JOIN never changes (MemberToEnd),
and a prefix shows it active in its current incarnation only while it is a member or
down (ActiveMember), so every view showing it active puts it in that subgroup.

The actions over-approximate protocol.py's (spec/README.md, "Stream level"): a
Deliver rejects its node only on its own ACCESS; on its own ACCESS it becomes a
member or waits for configuration, otherwise a joiner waiting for placement stays one,
one waiting for configuration stays one or becomes a member, a member stays one; it
becomes a member (and multicasts JOIN_DONE) only as host of a resource in its new view
whose configuration it reads (own placement as host, or a takeover); it may send
CONFIG for any resource its new view makes it host, START_MIRROR as primary host,
GROUP_STATE to a joiner its new view shows joining with the joiner's current
incarnation. A receipt drops any messages, installs a CONFIG in flight to the node
for the resource of its own subgroup while it waits for configuration or is a member,
becomes a member (and multicasts JOIN_DONE) only so, and multicasts MIRROR_ACTIVE only
as a member. Compact shifts every position.
NoDataLoss goes through the last prefix: its primary resource, and its active mirrors,
are current (EndCurrent, EndMirror); the ghost `host_since` (from where on no message
changes a resource's host) ties an active mirror to the cursor of the primary host,
which clears a backup's dataCurrent only on delivering a change of its host
(MirrorStable, MirrorSentFresh, HostSinceFirst).

The actions over-approximate protocol.py's (spec/README.md, "Stream level"): a
Deliver rejects its node only on its own ACCESS, and may send CONFIG for any resource
its new view makes it host, START_MIRROR as primary host to a backup's live host,
GROUP_STATE to a joiner its new view shows joining with the joiner's current incarnation,
and clears dataCurrent as _primary_duties does; receipts drop any messages, and append
MIRROR_ACTIVE only for a START_MIRROR in flight, setting its resource's dataCurrent;
Compact shifts every position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields

import z3

from pbjoin_model.proofs.encoding import (
    S_ABSENT,
    S_ACTIVE,
    S_JOINING,
    S_PLACED,
    EncodingEdit,
    Node,
    Res,
    Status,
    Term,
    own_step,
)
from pbjoin_model.proofs.indinv import host_since
from pbjoin_model.protocol.machine import (
    ACCESS,
    CONFIG,
    DOWN,
    FAIL,
    GROUP_STATE,
    HOLDS_VIEW,
    IN_GROUP,
    JOIN,
    M_ACTIVE,
    MEMBER,
    MIRROR_ACTIVE,
    NO_NODE,
    OUT,
    PHASE_NAMES,
    REJECTED,
    WAIT_CONFIG,
    WAIT_PLACE,
    WAIT_STATE,
    GroupState,
    Params,
    State,
    apply_message,
    res_of,
)
from pbjoin_model.protocol.machine import Msg as MsgT

GS = z3.DeclareSort("GS")
Msg = z3.DeclareSort("Msg")
Kind, (K_JOIN, K_ACCESS, K_JOIN_DONE, K_MIRROR_ACTIVE, K_FAIL) = z3.EnumSort(
    "Kind", ["JOIN", "ACCESS", "JOIN_DONE", "MIRROR_ACTIVE", "FAIL"]
)
KINDS = (K_JOIN, K_ACCESS, K_JOIN_DONE, K_MIRROR_ACTIVE, K_FAIL)

k, j = z3.Int("k"), z3.Int("j")
x, h, s_, d_ = z3.Const("x", Node), z3.Const("h", Node), z3.Const("s", Node), z3.Const("d", Node)
r, b = z3.Const("r", Res), z3.Const("b", Res)
g, m = z3.Const("g", GS), z3.Const("m", Msg)


class Stream:
    """The static symbols: messages' fields, `apply`, and what a group state shows."""

    def __init__(self) -> None:
        self.kind = z3.Function("kind", Msg, Kind)
        self.node = z3.Function("msgNode", Msg, Node)
        self.inc = z3.Function("msgInc", Msg, z3.IntSort())
        self.wf = z3.Function("wellFormed", Msg, z3.BoolSort())  # an ACCESS carries its node's real access set
        self.apply = z3.Function("apply", GS, Msg, GS)
        self.good = z3.Function("good", GS, z3.BoolSort())  # GroupStateInv holds
        self.has_host = z3.Function("hasHost", GS, Res, z3.BoolSort())
        self.host = z3.Function("host", GS, Res, Node)
        self.prim = z3.Function("prim", GS, Res)
        self.status = z3.Function("status", GS, Node, Status)
        self.ginc = z3.Function("inc", GS, Node, z3.IntSort())
        self.member = z3.Function("member", GS, Node, Res, z3.BoolSort())  # in that resource's subgroup
        self.mact = z3.Function("mirrorActive", GS, Res, z3.BoolSort())  # that backup's mirror is ACTIVE
        self.res = z3.Function("msgRes", Msg, Res)  # a MIRROR_ACTIVE's resource
        self.initial = z3.Const("initialGroupState", GS)

    def hosts(self, gs: Term, res: Term, n: Term) -> Term:
        return z3.And(self.has_host(gs, res), self.host(gs, res) == n)

    def primary_host(self, gs: Term, n: Term) -> Term:
        return self.hosts(gs, self.prim(gs), n)

    def same_host(self, g1: Term, g2: Term, res: Term) -> Term:
        """g1 and g2 agree on res's host (or on its having none)."""
        return z3.And(
            self.has_host(g1, res) == self.has_host(g2, res),
            z3.Implies(self.has_host(g1, res), self.host(g1, res) == self.host(g2, res)),
        )

    def placed_now(self, gs: Term, n: Term, inc: Term) -> Term:
        """gs shows n placed or active with incarnation inc."""
        return z3.And(z3.Or(self.status(gs, n) == S_PLACED, self.status(gs, n) == S_ACTIVE), self.ginc(gs, n) == inc)

    def axioms(self) -> list[tuple[str, Term]]:
        """The group level's theorems about apply_message (`proofs.prove` proves each)."""
        a = self.apply(g, m)
        ok = z3.And(self.good(g), self.wf(m))

        def own_fail(n: Term) -> Term:
            return z3.And(self.kind(m) == K_FAIL, self.node(m) == n)

        prim_host = self.host(g, self.prim(g))
        own = self.node(m)
        before, after = (self.status(g, own), self.ginc(g, own)), (self.status(a, own), self.ginc(a, own))
        own_status = z3.Or(*(z3.And(self.kind(m) == kd, own_step(str(kd), before, after, self.inc(m))) for kd in KINDS))
        same_primary_host = z3.And(
            self.has_host(g, self.prim(g)), self.prim(a) == self.prim(g), self.hosts(a, self.prim(a), prim_host)
        )
        is_fail = self.kind(m) == K_FAIL
        return [
            ("GroupStateInv preserved", z3.ForAll([g, m], z3.Implies(ok, self.good(a)), patterns=[a])),
            (
                "HostStable",
                z3.ForAll(
                    [g, m, r],
                    z3.Implies(
                        z3.And(ok, self.has_host(g, r), z3.Not(own_fail(self.host(g, r)))),
                        self.hosts(a, r, self.host(g, r)),
                    ),
                    patterns=[z3.MultiPattern(a, self.has_host(g, r))],
                ),
            ),
            (
                "PrimaryStable",
                z3.ForAll(
                    [g, m],
                    z3.Implies(
                        z3.And(ok, self.has_host(g, self.prim(g)), z3.Not(own_fail(prim_host))),
                        self.prim(a) == self.prim(g),
                    ),
                    patterns=[a],
                ),
            ),
            (
                "StatusFrame",
                z3.ForAll(
                    [g, m, x],
                    z3.Implies(
                        z3.And(ok, self.node(m) != x),
                        z3.And(self.status(a, x) == self.status(g, x), self.ginc(a, x) == self.ginc(g, x)),
                    ),
                    patterns=[z3.MultiPattern(a, self.status(g, x)), z3.MultiPattern(a, self.ginc(g, x))],
                ),
            ),
            (
                "IncFrame",
                z3.ForAll(
                    [g, m, x],
                    z3.Implies(ok, z3.Or(self.ginc(a, x) == self.ginc(g, x), self.ginc(a, x) == self.inc(m))),
                    patterns=[self.ginc(a, x)],
                ),
            ),
            ("OwnStatus", z3.ForAll([g, m], z3.Implies(ok, own_status), patterns=[a])),
            (
                "MemberStable",
                z3.ForAll(
                    [g, m, x, r],
                    z3.Implies(z3.And(ok, self.member(g, x, r), z3.Not(own_fail(x))), self.member(a, x, r)),
                    patterns=[z3.MultiPattern(a, self.member(g, x, r))],
                ),
            ),
            (
                "MirrorStep",
                z3.ForAll(
                    [g, m, r],
                    z3.Implies(
                        z3.And(ok, self.mact(a, r)),
                        z3.And(
                            self.has_host(g, r),
                            self.hosts(a, r, self.host(g, r)),
                            z3.Or(
                                self.mact(g, r),
                                z3.And(self.kind(m) == K_MIRROR_ACTIVE, own == self.host(g, r), self.res(m) == r),
                            ),
                        ),
                    ),
                    patterns=[self.mact(a, r)],
                ),
            ),
            (
                "MirrorReset",
                z3.ForAll(
                    [g, m, r],
                    z3.Implies(
                        z3.And(ok, self.has_host(a, self.prim(a)), z3.Not(same_primary_host)),
                        z3.Not(self.mact(a, r)),
                    ),
                    patterns=[self.mact(a, r)],
                ),
            ),
            (
                "PrimMoves",
                z3.ForAll(
                    [g, m],
                    z3.Implies(
                        z3.And(ok, self.prim(a) != self.prim(g)),
                        z3.And(self.has_host(g, self.prim(g)), self.mact(g, self.prim(a))),
                    ),
                    patterns=[a],
                ),
            ),
            (
                "MemberGain",
                z3.ForAll(
                    [g, m, x, r],
                    z3.Implies(
                        z3.And(ok, self.member(a, x, r), z3.Not(self.member(g, x, r))),
                        z3.And(self.kind(m) == K_ACCESS, own == x),
                    ),
                    patterns=[self.member(a, x, r)],
                ),
            ),
            (
                "FailUnmembers",
                z3.ForAll(
                    [g, m, r],
                    z3.Implies(z3.And(ok, is_fail), z3.Not(self.member(a, own, r))),
                    patterns=[self.member(a, own, r)],
                ),
            ),
            (
                "PrimaryMirrorNone",
                z3.ForAll([g], z3.Implies(self.good(g), z3.Not(self.mact(g, self.prim(g)))), patterns=[self.prim(g)]),
            ),
            (
                "HostPlaced",
                z3.ForAll(
                    [g, r],
                    z3.Implies(
                        z3.And(self.good(g), self.has_host(g, r)),
                        z3.Or(self.status(g, self.host(g, r)) == S_PLACED, self.status(g, self.host(g, r)) == S_ACTIVE),
                    ),
                ),
            ),
            (
                "MemberPlaced",
                z3.ForAll(
                    [g, x, r],
                    z3.Implies(
                        z3.And(self.good(g), self.member(g, x, r)),
                        z3.Or(self.status(g, x) == S_PLACED, self.status(g, x) == S_ACTIVE),
                    ),
                    patterns=[self.member(g, x, r)],
                ),
            ),
            (
                "HostMember",
                z3.ForAll(
                    [g, r],
                    z3.Implies(z3.And(self.good(g), self.has_host(g, r)), self.member(g, self.host(g, r), r)),
                    patterns=[self.has_host(g, r)],
                ),
            ),
            (
                "OneSubgroup",
                z3.ForAll(
                    [g, x, r, b],
                    z3.Implies(z3.And(self.good(g), self.member(g, x, r), self.member(g, x, b)), r == b),
                    patterns=[z3.MultiPattern(self.member(g, x, r), self.member(g, x, b))],
                ),
            ),
            (
                "initial_group_state",
                z3.And(
                    self.good(self.initial),
                    z3.ForAll([r], z3.Not(self.has_host(self.initial, r))),
                    z3.ForAll([x], z3.And(self.status(self.initial, x) == S_ABSENT, self.ginc(self.initial, x) == 0)),
                    z3.ForAll([x, r], z3.Not(self.member(self.initial, x, r))),
                    z3.ForAll([r], z3.Not(self.mact(self.initial, r))),
                ),
            ),
        ]


@dataclass(frozen=True)
class StreamState:
    """The state as the stream level sees it; channels are sets of messages in flight."""

    length: Term  # Int: messages in the log
    log: Term  # Int -> Msg
    prefix: Term  # Int -> GS: the group state after the first k messages
    phase: Term  # Node -> Int (protocol.py phase codes)
    inc: Term  # Node -> Int: current incarnation
    join_pos: Term  # Node -> Int: where the current incarnation's JOIN is (ghost)
    acc_pos: Term  # Node -> Int: where the current incarnation's ACCESS is (ghost)
    cursor: Term  # Node -> Int
    view: Term  # Node -> GS
    state_sent: Term  # Node x Node x Int -> Bool: a GROUP_STATE in flight, by its cursor
    state_payload: Term  # Node x Node x Int -> GS
    config_sent: Term  # Node x Node x Res -> Bool: a CONFIG in flight for that resource
    mirror_sent: Term  # Node x Node x Res -> Bool: a START_MIRROR in flight for that resource
    cfg: Term  # Node x Res -> Bool: holds a (nonzero) configuration version of that resource
    cfg_res: Term  # Node -> Res: the resource a member became a member with configuration for (ghost)
    data_current: Term  # Res -> Bool: dataCurrent (ghost of protocol.py)
    host_since: Term  # Res -> Int: no prefix from here on changes that resource's host (ghost)

    @staticmethod
    def fresh(name: str, log: Term = None, prefix: Term = None) -> StreamState:
        i, bo = z3.IntSort(), z3.BoolSort()
        return StreamState(
            z3.Int(f"{name}.len"),
            log if log is not None else z3.Function(f"{name}.log", i, Msg),
            prefix if prefix is not None else z3.Function(f"{name}.prefix", i, GS),
            z3.Function(f"{name}.phase", Node, i),
            z3.Function(f"{name}.inc", Node, i),
            z3.Function(f"{name}.joinPos", Node, i),
            z3.Function(f"{name}.accPos", Node, i),
            z3.Function(f"{name}.cursor", Node, i),
            z3.Function(f"{name}.view", Node, GS),
            z3.Function(f"{name}.stateSent", Node, Node, i, bo),
            z3.Function(f"{name}.statePayload", Node, Node, i, GS),
            z3.Function(f"{name}.configSent", Node, Node, Res, bo),
            z3.Function(f"{name}.mirrorSent", Node, Node, Res, bo),
            z3.Function(f"{name}.cfg", Node, Res, bo),
            z3.Function(f"{name}.cfgRes", Node, Res),
            z3.Function(f"{name}.dataCurrent", Res, bo),
            z3.Function(f"{name}.hostSince", Res, i),
        )


def _in(t: Term, codes: tuple[int, ...]) -> Term:
    return z3.Or(*(t == c for c in codes))


ALIVE = tuple(ph for ph in range(len(PHASE_NAMES)) if ph != DOWN)  # every phase but down


def holder(st: StreamState, n: Term) -> Term:
    return _in(st.phase(n), HOLDS_VIEW)


def in_group(st: StreamState, n: Term) -> Term:
    return _in(st.phase(n), IN_GROUP)


def stream_conjuncts(sm: Stream, st: StreamState) -> list[tuple[str, Term]]:
    """IndInv at the stream level: one named conjunct per lemma and per cross-view property."""
    pre, length, n = st.prefix, st.length, x
    within = z3.And(k >= 0, k <= length)
    after_join = z3.And(in_group(st, h), st.join_pos(h) < j, j >= 0, j <= length)
    n1, n2 = z3.Const("n1", Node), z3.Const("n2", Node)
    both = z3.And(holder(st, n1), holder(st, n2))
    mk = st.log(k)
    acc = st.acc_pos(n)

    def unplaced(pos: Term) -> Term:  # prefix(pos) does not show n placed in its current incarnation
        return z3.Not(sm.placed_now(pre(pos), n, st.inc(n)))

    own_access = z3.And(sm.kind(mk) == K_ACCESS, sm.inc(mk) == st.inc(sm.node(mk)))
    last, hs = pre(length), st.host_since
    return [
        (
            "PrefixChain",
            z3.And(
                length >= 0,
                z3.ForAll([k], z3.Implies(within, sm.good(pre(k)))),
                # triggered by prefix(k + 1) or by apply(prefix(k), log(k)), never by prefix(k)
                # alone, which would unfold the chain forever
                z3.ForAll(
                    [k],
                    z3.Implies(z3.And(k >= 0, k < length), z3.And(sm.wf(mk), pre(k + 1) == sm.apply(pre(k), mk))),
                    patterns=[pre(k + 1), sm.apply(pre(k), mk)],
                ),
            ),
        ),
        (
            "ViewIsPrefix",
            z3.ForAll(
                [n],
                z3.Implies(
                    holder(st, n),
                    z3.And(
                        st.join_pos(n) < st.cursor(n),
                        st.cursor(n) >= 0,
                        st.cursor(n) <= length,
                        st.view(n) == pre(st.cursor(n)),
                    ),
                ),
            ),
        ),
        (
            "StateInFlight",
            z3.ForAll(
                [s_, d_, k],
                z3.Implies(
                    st.state_sent(s_, d_, k),
                    z3.And(
                        within,
                        st.state_payload(s_, d_, k) == pre(k),
                        z3.Implies(in_group(st, d_), st.join_pos(d_) < k),
                        st.phase(d_) != OUT,
                        st.phase(d_) != DOWN,
                    ),
                ),
            ),
        ),
        ("JoinLogged", z3.ForAll([n], z3.Implies(in_group(st, n), st.join_pos(n) < length))),
        (
            "JoinsOld",
            z3.ForAll(
                [k],
                z3.Implies(
                    z3.And(k >= 0, k < length, sm.kind(mk) == K_JOIN),
                    z3.And(
                        sm.inc(mk) <= st.inc(sm.node(mk)),
                        z3.Implies(st.phase(sm.node(mk)) == OUT, sm.inc(mk) < st.inc(sm.node(mk))),
                        z3.Implies(
                            z3.And(in_group(st, sm.node(mk)), sm.inc(mk) == st.inc(sm.node(mk))),
                            k == st.join_pos(sm.node(mk)),
                        ),
                    ),
                ),
            ),
        ),
        ("IncBound", z3.ForAll([k, n], z3.Implies(within, sm.ginc(pre(k), n) <= st.inc(n)))),
        (
            "OutNotJoining",
            z3.ForAll(
                [k, n],
                z3.Implies(
                    z3.And(within, st.phase(n) == OUT),
                    z3.Or(sm.status(pre(k), n) == S_ABSENT, sm.ginc(pre(k), n) < st.inc(n)),
                ),
            ),
        ),
        (
            "JoinPosFresh",
            z3.ForAll(
                [k, n],
                z3.Implies(
                    z3.And(in_group(st, n), k >= 0, k <= st.join_pos(n)),
                    z3.Not(z3.And(sm.status(pre(k), n) == S_JOINING, sm.ginc(pre(k), n) == st.inc(n))),
                ),
            ),
        ),
        (
            "NoOwnFail",
            z3.ForAll(
                [k],
                z3.Implies(
                    z3.And(k >= 0, k < length, in_group(st, sm.node(mk)), st.join_pos(sm.node(mk)) < k),
                    sm.kind(mk) != K_FAIL,
                ),
            ),
        ),
        (
            "HostToEnd",
            z3.ForAll([h, r, j], z3.Implies(z3.And(after_join, sm.hosts(pre(j), r, h)), sm.hosts(pre(length), r, h))),
        ),
        (
            "PrimToEnd",
            z3.ForAll(
                [h, j],
                z3.Implies(z3.And(after_join, sm.primary_host(pre(j), h)), sm.prim(pre(length)) == sm.prim(pre(j))),
            ),
        ),
        (
            "AccessOnce",
            z3.ForAll(
                [k],
                z3.Implies(
                    z3.And(k >= 0, k < length),
                    z3.And(
                        sm.inc(mk) <= st.inc(sm.node(mk)),
                        z3.Implies(
                            own_access,
                            z3.And(
                                st.phase(sm.node(mk)) != OUT,
                                st.phase(sm.node(mk)) != WAIT_STATE,
                                z3.Implies(in_group(st, sm.node(mk)), k == st.acc_pos(sm.node(mk))),
                            ),
                        ),
                    ),
                ),
            ),
        ),
        (
            "WaitingUnplaced",
            z3.ForAll([k, n], z3.Implies(z3.And(within, st.phase(n) == WAIT_STATE), unplaced(k))),
        ),
        (
            "PlacedAfterAccess",
            z3.ForAll(
                [k, n],
                z3.Implies(
                    holder(st, n),
                    z3.And(acc < length, z3.Implies(z3.And(k >= 0, k <= acc), unplaced(k))),
                ),
            ),
        ),
        (
            "UnplacedStays",
            z3.ForAll(
                [k, n],
                z3.Implies(
                    z3.And(holder(st, n), acc >= 0, acc < k, k <= length, unplaced(acc + 1)),
                    unplaced(k),
                ),
            ),
        ),
        (
            "RejectedUnplaced",
            z3.ForAll([k, n], z3.Implies(z3.And(within, st.phase(n) == REJECTED), unplaced(k))),
        ),
        (
            "AccessOrder",
            z3.ForAll(
                [n],
                z3.Implies(
                    holder(st, n),
                    z3.And(
                        st.join_pos(n) <= acc,
                        z3.Implies(z3.Or(st.phase(n) == WAIT_CONFIG, st.phase(n) == MEMBER), acc < st.cursor(n)),
                    ),
                ),
            ),
        ),
        (
            "MemberToEnd",
            z3.ForAll(
                [h, r, j],
                z3.Implies(z3.And(after_join, sm.member(pre(j), h, r)), sm.member(pre(length), h, r)),
            ),
        ),
        (
            "ActiveMember",
            z3.ForAll(
                [k, n],
                z3.Implies(
                    z3.And(within, sm.status(pre(k), n) == S_ACTIVE, sm.ginc(pre(k), n) == st.inc(n)),
                    z3.Or(st.phase(n) == MEMBER, st.phase(n) == DOWN),
                ),
            ),
        ),
        (
            "NotMember",
            z3.ForAll(
                [n, r],
                z3.Implies(_in(st.phase(n), (OUT, DOWN, WAIT_STATE)), z3.Not(sm.member(pre(length), n, r))),
            ),
        ),
        (
            "PlacedAfterJoin",
            z3.ForAll(
                [k, n],
                z3.Implies(
                    z3.And(in_group(st, n), within, sm.placed_now(pre(k), n, st.inc(n))),
                    st.join_pos(n) < k,
                ),
            ),
        ),
        (
            "HostSince",
            z3.And(
                z3.ForAll([b], hs(b) <= length),
                z3.ForAll(
                    [k, b],
                    # no message from host_since on changes b's host (stated on apply, which
                    # PrefixChain equates with the next prefix, so that it survives the shift of Compact)
                    z3.Implies(
                        z3.And(k >= 0, hs(b) <= k, k < length),
                        sm.same_host(pre(k), sm.apply(pre(k), mk), b),
                    ),
                    patterns=[z3.MultiPattern(sm.apply(pre(k), mk), hs(b))],
                ),
            ),
        ),
        (
            "HostSinceFirst",
            z3.ForAll(
                [k, b],
                z3.Implies(
                    z3.And(
                        sm.has_host(pre(k), b),
                        in_group(st, sm.host(pre(k), b)),
                        st.join_pos(sm.host(pre(k), b)) < k,
                        k >= 0,
                        k <= length,
                    ),
                    hs(b) <= k,
                ),
                patterns=[sm.host(pre(k), b)],
            ),
        ),
        (
            "MirrorStable",
            z3.ForAll(
                [n, b],
                z3.Implies(
                    z3.And(holder(st, n), sm.primary_host(last, n), sm.mact(last, b)),
                    hs(b) <= st.cursor(n),
                ),
            ),
        ),
        (
            "MirrorSentFresh",
            z3.ForAll(
                [s_, d_, b],
                z3.Implies(st.mirror_sent(s_, d_, b), z3.And(sm.hosts(last, b, d_), hs(b) <= st.cursor(s_))),
            ),
        ),
        ("EndMirror", z3.ForAll([b], z3.Implies(sm.mact(last, b), st.data_current(b)))),
        ("EndCurrent", st.data_current(sm.prim(last))),
        (
            "ViewsAgree",
            z3.ForAll([n1, n2], z3.Implies(z3.And(both, st.cursor(n1) == st.cursor(n2)), st.view(n1) == st.view(n2))),
        ),
        (
            "UniqueHost",
            z3.ForAll(
                [n1, n2, r],
                z3.Implies(z3.And(both, sm.hosts(st.view(n1), r, n1), sm.hosts(st.view(n2), r, n2)), n1 == n2),
            ),
        ),
        (
            "NoSplitBrain",
            z3.ForAll(
                [n1, n2],
                z3.Implies(z3.And(both, sm.primary_host(st.view(n1), n1), sm.primary_host(st.view(n2), n2)), n1 == n2),
            ),
        ),
        (
            "ConfigFromHost",
            z3.ForAll(
                [s_, d_, r],
                z3.Implies(st.config_sent(s_, d_, r), z3.And(holder(st, s_), sm.hosts(st.view(s_), r, s_))),
            ),
        ),
        (
            "MirrorFromPrimary",
            z3.ForAll(
                [s_, d_, b],
                z3.Implies(
                    st.mirror_sent(s_, d_, b),
                    z3.And(
                        holder(st, s_),
                        sm.primary_host(st.view(s_), s_),
                        b != sm.prim(st.view(s_)),
                    ),
                ),
            ),
        ),
        (
            "RejectedNotPlaced",
            z3.ForAll(
                [n1, n, r],
                z3.Implies(
                    z3.And(holder(st, n1), st.phase(n) == REJECTED, sm.member(st.view(n1), n, r)),
                    sm.ginc(st.view(n1), n) != st.inc(n),
                ),
            ),
        ),
        (
            "ActiveHasConfig",
            z3.And(
                z3.ForAll(
                    [n],
                    z3.Implies(
                        st.phase(n) == MEMBER,
                        z3.And(
                            sm.member(st.view(n), n, st.cfg_res(n)),
                            z3.ForAll([r], z3.Implies(sm.member(st.view(n), n, r), st.cfg(n, r))),
                        ),
                    ),
                ),
                z3.ForAll(
                    [n1, n, r],
                    z3.Implies(
                        z3.And(
                            holder(st, n1),
                            holder(st, n),
                            sm.status(st.view(n1), n) == S_ACTIVE,
                            sm.ginc(st.view(n1), n) == st.inc(n),
                            sm.member(st.view(n1), n, r),
                        ),
                        st.cfg(n, r),
                    ),
                ),
            ),
        ),
        (
            "NoDataLoss",
            z3.ForAll(
                [n],
                z3.Implies(
                    z3.And(holder(st, n), sm.primary_host(st.view(n), n)),
                    st.data_current(sm.prim(st.view(n))),
                ),
            ),
        ),
    ]


def _update(f: Term, at: Term, value: Term) -> Callable[[Term], Term]:
    """f with f(at) replaced by value, as a term in the argument."""
    return lambda arg: z3.If(arg == at, value, f(arg))


@dataclass
class StreamAction:
    action: str
    params: dict[str, Term]
    constraints: list[Term]
    post: StreamState
    pre: StreamState


class StreamLevel:
    """protocol.py's actions, as the stream level sees them (over-approximated)."""

    def __init__(self, sm: Stream, edit: EncodingEdit = EncodingEdit.NONE) -> None:
        self.sm = sm
        self.edit = edit

    def init(self, st: StreamState) -> list[Term]:
        return [
            st.length == 0,
            st.prefix(0) == self.sm.initial,
            z3.ForAll([x], z3.And(st.phase(x) == OUT, st.inc(x) == 0)),
            z3.ForAll([s_, d_, k], z3.Not(st.state_sent(s_, d_, k))),
            z3.ForAll([s_, d_, r], z3.And(z3.Not(st.config_sent(s_, d_, r)), z3.Not(st.mirror_sent(s_, d_, r)))),
            z3.ForAll([x, r], z3.Not(st.cfg(x, r))),
            st.data_current(self.sm.prim(self.sm.initial)),
            z3.ForAll([r], st.host_since(r) == 0),
        ]

    @staticmethod
    def _keep(st: StreamState, post: StreamState, names: set[str]) -> list[Term]:
        out = []
        for name in sorted(names):
            pre_f, post_f = getattr(st, name), getattr(post, name)
            if isinstance(pre_f, z3.FuncDeclRef):
                if pre_f.eq(post_f):
                    continue
                args = [z3.Const(f"a{i}", pre_f.domain(i)) for i in range(pre_f.arity())]
                out.append(z3.ForAll(args, post_f(*args) == pre_f(*args)))
            else:
                out.append(post_f == pre_f)
        return out

    @staticmethod
    def _set(post_f: Term, f: Callable[..., Term], sorts: tuple[Term, ...]) -> Term:
        args = [z3.Const(f"a{i}", sort) for i, sort in enumerate(sorts)]
        return z3.ForAll(args, post_f(*args) == f(*args))

    def _append(self, st: StreamState, post: StreamState, msg: Term, n: Term, kinds: tuple[Term, ...]) -> list[Term]:
        """The log grows by msg, a message of n's current incarnation (log and prefix are shared)."""
        sm = self.sm
        last, new_last = st.prefix(st.length), st.prefix(st.length + 1)
        return [
            post.length == st.length + 1,
            st.log(st.length) == msg,
            new_last == sm.apply(last, msg),
            z3.ForAll(
                [r],
                post.host_since(r) == z3.If(sm.same_host(last, new_last, r), st.host_since(r), st.length + 1),
            ),
            sm.wf(msg),
            sm.node(msg) == n,
            sm.inc(msg) == st.inc(n),
            z3.Or(*(sm.kind(msg) == kd for kd in kinds)),
        ]

    def _maybe_append(
        self, st: StreamState, post: StreamState, msg: Term, n: Term, kinds: tuple[Term, ...], appends: Term
    ) -> list[Term]:
        grow = z3.And(*self._append(st, post, msg, n, kinds))
        keep = z3.And(post.length == st.length, z3.ForAll([r], post.host_since(r) == st.host_since(r)))
        return [z3.If(appends, grow, keep)]

    def _subset(self, st: StreamState, post: StreamState, name: str, sorts: tuple[Term, ...]) -> Term:
        args = [z3.Const(f"a{i}", sort) for i, sort in enumerate(sorts)]
        return z3.ForAll(args, z3.Implies(getattr(post, name)(*args), getattr(st, name)(*args)))

    def transitions(self, st: StreamState) -> Iterator[StreamAction]:
        sm = self.sm
        n, msg = z3.Const("n", Node), z3.Const("appended", Msg)
        post = StreamState.fresh("post", st.log, st.prefix)
        every = {f.name for f in fields(StreamState)} - {"log", "prefix"}
        i = z3.IntSort()
        in_flight = {"state_sent", "state_payload", "config_sent", "mirror_sent"}

        # Join(n): JOIN(n, inc n) at the end of the log; the ghost join_pos records where.
        yield StreamAction(
            "Join",
            {"n": n},
            [
                st.phase(n) == OUT,
                *self._append(st, post, msg, n, (K_JOIN,)),
                self._set(post.phase, _update(st.phase, n, WAIT_STATE), (Node,)),
                self._set(post.join_pos, _update(st.join_pos, n, st.length), (Node,)),
                *self._keep(st, post, every - {"length", "host_since", "phase", "join_pos"}),
            ],
            post,
            st,
        )

        # ReceiveGroupState (adopting) or RecoverGroupState: n takes a GROUP_STATE in
        # flight, or the whole stream replayed, and multicasts its ACCESS.
        src, cur, recover = z3.Const("src", Node), z3.Int("cur"), z3.Bool("recovers")
        taken = z3.Const("adopted", GS)
        source = z3.If(
            recover,
            z3.And(cur == st.length, taken == st.prefix(st.length)),
            z3.And(st.state_sent(src, n, cur), taken == st.state_payload(src, n, cur)),
        )
        yield StreamAction(
            "Adopt",
            {"n": n, "src": src, "cur": cur, "recovers": recover},
            [
                st.phase(n) == WAIT_STATE,
                source,
                *self._append(st, post, msg, n, (K_ACCESS,)),
                self._set(post.phase, _update(st.phase, n, WAIT_PLACE), (Node,)),
                self._set(post.view, _update(st.view, n, taken), (Node,)),
                self._set(post.cursor, _update(st.cursor, n, cur), (Node,)),
                self._set(post.acc_pos, _update(st.acc_pos, n, st.length), (Node,)),
                self._subset(st, post, "state_sent", (Node, Node, i)),
                *self._keep(
                    st, post, every - {"length", "host_since", "phase", "view", "cursor", "acc_pos", "state_sent"}
                ),
            ],
            post,
            st,
        )

        # Deliver(n): the next message moves n's view one position on; n may be rejected
        # (only on delivering its own ACCESS, if its new view has it absent), may multicast
        # JOIN_DONE, and sends as its new view allows.
        c = st.cursor(n)
        delivered = st.log(c)
        own_access = z3.And(sm.kind(delivered) == K_ACCESS, sm.node(delivered) == n, sm.inc(delivered) == st.inc(n))
        g2 = sm.apply(st.view(n), delivered)
        rejected, appends, ph = z3.Bool("rejected"), z3.Bool("multicasts"), z3.Int("new_phase")
        send_config = z3.Function("sendsConfig", Node, Res, z3.BoolSort())
        send_mirror = z3.Function("sendsStartMirror", Node, Res, z3.BoolSort())
        send_state = z3.Function("sendsGroupState", Node, z3.BoolSort())
        joiner_inc = z3.Or(
            sm.ginc(g2, d_) == st.inc(d_),
            z3.And(sm.kind(delivered) == K_JOIN, sm.node(delivered) == d_, sm.inc(delivered) == st.inc(d_)),
        )
        new_state = z3.And(
            s_ == n,
            k == c + 1,
            z3.Not(rejected),
            send_state(d_),
            st.phase(d_) != DOWN,
            sm.status(g2, d_) == S_JOINING,
            joiner_inc,
        )
        new_config = z3.And(s_ == n, z3.Not(rejected), send_config(d_, r), sm.hosts(g2, r, n))
        # n reads r's configuration from the resource when its own placement makes it host
        # of r, or when it takes r over; it becomes a member only so (or stays one)
        reads = z3.And(z3.Not(rejected), sm.hosts(g2, r, n), z3.Or(own_access, z3.Not(sm.hosts(st.view(n), r, n))))
        took = z3.Const("configured", Res)

        def reads_at(res: Term) -> Term:
            return z3.substitute(reads, (r, res))

        old_ph = st.phase(n)
        phases = z3.If(
            own_access,
            z3.Or(ph == WAIT_CONFIG, ph == MEMBER),
            z3.And(
                z3.Implies(old_ph == WAIT_PLACE, ph == WAIT_PLACE),
                z3.Implies(old_ph == WAIT_CONFIG, z3.Or(ph == WAIT_CONFIG, ph == MEMBER)),
                z3.Implies(old_ph == MEMBER, ph == MEMBER),
            ),
        )
        becomes_member = z3.And(z3.Not(rejected), ph == MEMBER, old_ph != MEMBER)
        new_mirror = z3.And(s_ == n, z3.Not(rejected), send_mirror(d_, r), sm.primary_host(g2, n), r != sm.prim(g2))
        new_mirror = z3.And(
            s_ == n,
            z3.Not(rejected),
            send_mirror(d_, r),
            sm.primary_host(g2, n),
            r != sm.prim(g2),
            sm.hosts(g2, r, d_),
            _in(st.phase(d_), ALIVE),
            sm.ginc(g2, d_) == st.inc(d_),
        )
        # _primary_duties: a failover clears the old primary resource, a backup's host change it
        old = st.view(n)
        clears = z3.And(
            z3.Not(rejected),
            sm.primary_host(g2, n),
            z3.If(
                sm.primary_host(old, n),
                z3.And(
                    r != sm.prim(g2),
                    sm.has_host(old, r),
                    z3.Not(sm.hosts(g2, r, sm.host(old, r))),
                    z3.Not(sm.hosts(g2, r, n)),
                ),
                z3.And(sm.prim(g2) != sm.prim(old), r == sm.prim(old)),
            ),
        )
        yield StreamAction(
            "Deliver",
            {"n": n, "configured": took},
            [
                holder(st, n),
                c < st.length,
                *([sm.kind(delivered) != K_FAIL] if self.edit is EncodingEdit.FAIL_NEVER_DELIVERED else []),
                z3.Implies(rejected, z3.And(own_access, sm.status(g2, n) == S_ABSENT)),
                _in(ph, HOLDS_VIEW),
                phases,
                z3.Implies(becomes_member, z3.And(sm.hosts(g2, took, n), reads_at(took))),
                z3.Implies(appends, z3.And(z3.Not(rejected), ph == MEMBER, z3.Or(old_ph != MEMBER, own_access))),
                *self._maybe_append(st, post, msg, n, (K_JOIN_DONE,), appends),
                self._set(post.phase, _update(st.phase, n, z3.If(rejected, REJECTED, ph)), (Node,)),
                self._set(post.view, _update(st.view, n, g2), (Node,)),
                self._set(post.cursor, _update(st.cursor, n, c + 1), (Node,)),
                z3.ForAll([s_, d_, k], post.state_sent(s_, d_, k) == z3.Or(st.state_sent(s_, d_, k), new_state)),
                z3.ForAll(
                    [s_, d_, k],
                    post.state_payload(s_, d_, k) == z3.If(new_state, g2, st.state_payload(s_, d_, k)),
                ),
                z3.ForAll([s_, d_, r], post.config_sent(s_, d_, r) == z3.Or(st.config_sent(s_, d_, r), new_config)),
                z3.ForAll([s_, d_, r], post.mirror_sent(s_, d_, r) == z3.Or(st.mirror_sent(s_, d_, r), new_mirror)),
                z3.ForAll([x, r], post.cfg(x, r) == z3.Or(st.cfg(x, r), z3.And(x == n, reads))),
                self._set(post.cfg_res, _update(st.cfg_res, n, z3.If(becomes_member, took, st.cfg_res(n))), (Node,)),
                z3.ForAll([r], post.data_current(r) == z3.And(st.data_current(r), z3.Not(clears))),
                *self._keep(
                    st,
                    post,
                    every
                    - {"length", "host_since", "phase", "view", "cursor", "cfg", "cfg_res", "data_current"}
                    - in_flight,
                ),
            ],
            post,
            st,
        )

        # ReceiveGroupState (dropping), ReceiveConfig, ReceiveStartMirror: messages to n
        # leave the channels; n may become a member and multicast JOIN_DONE or MIRROR_ACTIVE.
        # A CONFIG for res from src is installed (its version is nonzero) when n waits for
        # configuration or is a member, and its view places n on res; n then becomes a
        # member if it was waiting, and multicasts JOIN_DONE only then.
        becomes, installs = z3.Bool("becomes_member"), z3.Bool("installs")
        src, res = z3.Const("src", Node), z3.Const("res", Res)
        becomes = z3.Bool("becomes_member")
        mirror_src = z3.Const("mirror_src", Node)
        reports = z3.And(appends, sm.kind(msg) == K_MIRROR_ACTIVE)
        yield StreamAction(
            "Receive",
            {"n": n, "src": src, "res": res},
            [
                z3.Implies(
                    installs,
                    z3.And(
                        st.config_sent(src, n, res),
                        z3.Or(st.phase(n) == WAIT_CONFIG, st.phase(n) == MEMBER),
                        sm.member(st.view(n), n, res),
                    ),
                ),
                z3.Implies(becomes, z3.And(installs, st.phase(n) == WAIT_CONFIG)),
                z3.Implies(appends, z3.Or(st.phase(n) == WAIT_CONFIG, st.phase(n) == MEMBER)),
                z3.Implies(z3.And(appends, sm.kind(msg) == K_JOIN_DONE), becomes),
                z3.Implies(z3.And(appends, sm.kind(msg) == K_MIRROR_ACTIVE), st.phase(n) == MEMBER),
                # ReceiveStartMirror: MIRROR_ACTIVE for the START_MIRROR's resource, now current
                z3.Implies(reports, st.mirror_sent(mirror_src, n, sm.res(msg))),
                z3.ForAll([r], post.data_current(r) == z3.Or(st.data_current(r), z3.And(reports, r == sm.res(msg)))),
                *self._maybe_append(st, post, msg, n, (K_JOIN_DONE, K_MIRROR_ACTIVE), appends),
                self._set(post.phase, _update(st.phase, n, z3.If(becomes, MEMBER, st.phase(n))), (Node,)),
                self._subset(st, post, "state_sent", (Node, Node, i)),
                self._subset(st, post, "config_sent", (Node, Node, Res)),
                self._subset(st, post, "mirror_sent", (Node, Node, Res)),
                z3.ForAll([x, r], post.cfg(x, r) == z3.Or(st.cfg(x, r), z3.And(x == n, r == res, installs))),
                self._set(post.cfg_res, _update(st.cfg_res, n, z3.If(becomes, res, st.cfg_res(n))), (Node,)),
                *self._keep(
                    st,
                    post,
                    every
                    - {"length", "host_since", "phase", "state_sent", "config_sent", "mirror_sent", "cfg", "cfg_res"}
                    - {"data_current"},
                ),
            ],
            post,
            st,
        )

        # ChangeConfig(n, res): host n sends the new version to members of its subgroup.
        yield StreamAction(
            "ChangeConfig",
            {"n": n, "res": res},
            [
                st.phase(n) == MEMBER,
                sm.hosts(st.view(n), res, n),
                z3.ForAll(
                    [s_, d_, r],
                    post.config_sent(s_, d_, r)
                    == z3.Or(st.config_sent(s_, d_, r), z3.And(s_ == n, r == res, send_config(d_, r))),
                ),
                z3.ForAll([x, r], post.cfg(x, r) == z3.Or(st.cfg(x, r), z3.And(x == n, r == res))),
                *self._keep(st, post, every - {"config_sent", "cfg"}),
            ],
            post,
            st,
        )

        # Crash(n): FAIL(n, inc n) at the end of the log; n's channels empty.
        yield StreamAction(
            "Crash",
            {"n": n},
            [
                in_group(st, n),
                *(
                    [z3.ForAll([r], z3.Not(sm.hosts(st.prefix(st.length), r, n)))]
                    if self.edit is EncodingEdit.HOSTS_NEVER_CRASH
                    else []
                ),
                *self._append(st, post, msg, n, (K_FAIL,)),
                self._set(post.phase, _update(st.phase, n, DOWN), (Node,)),
                z3.ForAll(
                    [s_, d_, k], post.state_sent(s_, d_, k) == z3.And(st.state_sent(s_, d_, k), s_ != n, d_ != n)
                ),
                z3.ForAll(
                    [s_, d_, r], post.config_sent(s_, d_, r) == z3.And(st.config_sent(s_, d_, r), s_ != n, d_ != n)
                ),
                z3.ForAll(
                    [s_, d_, r], post.mirror_sent(s_, d_, r) == z3.And(st.mirror_sent(s_, d_, r), s_ != n, d_ != n)
                ),
                z3.ForAll([x, r], post.cfg(x, r) == z3.And(st.cfg(x, r), x != n)),
                *self._keep(
                    st,
                    post,
                    every - {"length", "host_since", "phase", "state_sent", "config_sent", "mirror_sent", "cfg"},
                ),
            ],
            post,
            st,
        )

        # Restart(n): a new incarnation, outside the group.
        yield StreamAction(
            "Restart",
            {"n": n},
            [
                st.phase(n) == DOWN,
                self._set(post.phase, _update(st.phase, n, OUT), (Node,)),
                self._set(post.inc, _update(st.inc, n, st.inc(n) + 1), (Node,)),
                *self._keep(st, post, every - {"phase", "inc"}),
            ],
            post,
            st,
        )

        # Compact: the prefix nobody still needs is folded into durable; every position shifts.
        low = z3.Int("low")
        shifted = StreamState.fresh("compacted")
        yield StreamAction(
            "Compact",
            {"low": low},
            [
                low >= 0,
                low <= st.length,
                z3.ForAll([x], z3.Implies(holder(st, x), low <= st.cursor(x))),
                z3.ForAll([s_, d_, k], z3.Implies(st.state_sent(s_, d_, k), low <= k)),
                shifted.length == st.length - low,
                z3.ForAll([k], shifted.log(k) == st.log(k + low), patterns=[shifted.log(k)]),
                z3.ForAll([k], shifted.prefix(k) == st.prefix(k + low), patterns=[shifted.prefix(k)]),
                self._set(shifted.cursor, lambda a: z3.If(holder(st, a), st.cursor(a) - low, st.cursor(a)), (Node,)),
                self._set(shifted.join_pos, lambda a: st.join_pos(a) - low, (Node,)),
                self._set(shifted.acc_pos, lambda a: st.acc_pos(a) - low, (Node,)),
                self._set(shifted.host_since, lambda a: st.host_since(a) - low, (Res,)),
                z3.ForAll([s_, d_, k], shifted.state_sent(s_, d_, k) == st.state_sent(s_, d_, k + low)),
                z3.ForAll([s_, d_, k], shifted.state_payload(s_, d_, k) == st.state_payload(s_, d_, k + low)),
                *self._keep(
                    st,
                    shifted,
                    {"phase", "inc", "view", "config_sent", "mirror_sent", "cfg", "cfg_res", "data_current"},
                ),
            ],
            shifted,
            st,
        )


def describe_stream_cti(
    sm: Stream, st: StreamState, action: StreamAction | None
) -> Callable[[z3.ModelRef], tuple[str, str]]:
    """A stream-level CTI: per node its phase, incarnation, cursor and JOIN position; the log's kinds."""

    def describe(model: z3.ModelRef) -> tuple[str, str]:
        def ev(t: Term) -> Term:
            return model.eval(t, model_completion=True)

        nodes = list(model.get_universe(Node) or [])

        def name(t: Term) -> str:
            value = ev(t)
            return next((f"n{i + 1}" for i, a in enumerate(nodes) if a.eq(value)), str(value))

        def state(s: StreamState) -> list[str]:
            length = ev(s.length).as_long()
            out = [f"len = {length}"]
            out.append(
                "log = <<"
                + ", ".join(
                    f"{ev(sm.kind(s.log(q)))}({name(sm.node(s.log(q)))})" for q in range(max(0, min(length, 12)))
                )
                + ">>"
            )
            for a in nodes:
                ph = ev(s.phase(a)).as_long()
                phase = PHASE_NAMES[ph] if 0 <= ph < len(PHASE_NAMES) else str(ph)
                out.append(
                    f"{name(a)}: phase {phase}, inc {ev(s.inc(a))}, cursor {ev(s.cursor(a))}, "
                    f"JOIN at {ev(s.join_pos(a))}, ACCESS at {ev(s.acc_pos(a))}"
                )
            return out

        lines = ["  pre-state (stream level):"] + [f"       {line}" for line in state(st)]
        if action is not None:
            lines.append(f"  action: {action.action}({', '.join(f'{p}={ev(v)}' for p, v in action.params.items())})")
            lines.append("  post-state:")
            lines += [f"       {line}" for line in state(action.post)]
        return "\n".join(lines), "not checked: the stream level abstracts group states"

    return describe


# ---------------------------------------------------------------- model states as Z3 terms


class History:
    """The shared symbols for encoding model States that are stages of one history.

    `durable` and `log` are the oldest durable group state and the longest log the
    encoded states share: a state whose log is `log[offset:offset + L]` (its durable
    being the group state after `offset` messages) is encoded with the same message and
    group-state constants as any other. Nodes and resources are exactly p's; there is one
    message constant per log position and one group-state constant per distinct concrete
    group state (prefix, view or GROUP_STATE payload), showing what protocol.py's state
    shows. `apply` is protocol.py's `apply_message` on every pair the log chains, and on
    every FAIL of a subgroup member (closed under those FAILs), so that FailUnmembers
    holds; elsewhere it is the identity, which every other axiom allows. Call `facts()`
    after encoding the states.
    """

    def __init__(self, sm: Stream, p: Params, durable: GroupState, log: tuple[MsgT, ...]) -> None:
        self.sm, self.p, self.log = sm, p, log
        self.nodes = [z3.Const(f"node{i}", Node) for i in range(p.nodes)]
        self.res = [z3.Const(f"res{i}", Res) for i in range(p.resources)]
        self.msgs = [z3.Const(f"msg{i}", Msg) for i in range(len(log))]
        self.no_payload = z3.Function("noPayload", Node, Node, z3.IntSort(), GS)
        self.prefixes = [durable]
        for mm in log:
            self.prefixes.append(apply_message(self.prefixes[-1], mm, p))
        self.consts: dict[GroupState, Term] = {}
        self.shown: list[Term] = []
        for gs in self.prefixes:
            self.gs(gs)

    def gs(self, gs: GroupState) -> Term:
        """The constant of a concrete group state (one per distinct value)."""
        if gs in self.consts:
            return self.consts[gs]
        sm, nodes, res = self.sm, self.nodes, self.res
        c = z3.Const(f"gs{len(self.consts)}", GS)
        self.consts[gs] = c
        statuses = (S_ABSENT, S_JOINING, S_PLACED, S_ACTIVE)
        out = [sm.good(c), sm.prim(c) == res[gs.prim]]
        for q, host in enumerate(gs.host):
            out.append(sm.mact(c, res[q]) == (gs.mirror[q] == M_ACTIVE))
            out.append(sm.has_host(c, res[q]) == (host != NO_NODE))
            if host != NO_NODE:
                out.append(sm.host(c, res[q]) == nodes[host])
        for a, node in enumerate(nodes):
            out += [sm.status(c, node) == statuses[gs.status[a]], sm.ginc(c, node) == gs.inc[a]]
            for q, members in enumerate(gs.sub):
                out.append(sm.member(c, node, res[q]) == (a in members))
        self.shown += out
        return c

    def facts(self) -> list[Term]:
        sm, nodes, res = self.sm, self.nodes, self.res
        out = [z3.ForAll([x], z3.Or(*(x == a for a in nodes))), z3.ForAll([r], z3.Or(*(r == q for q in res)))]
        if len(nodes) > 1:
            out.append(z3.Distinct(*nodes))
        if len(res) > 1:
            out.append(z3.Distinct(*res))
        for mc, mm in zip(self.msgs, self.log, strict=True):
            out += [sm.kind(mc) == KINDS[mm.kind], sm.node(mc) == nodes[mm.node], sm.inc(mc) == mm.inc, sm.wf(mc)]
            if mm.kind == MIRROR_ACTIVE:
                out.append(sm.res(mc) == res[mm.res])
        table: dict[tuple[GroupState, int], GroupState] = {}
        for i in range(len(self.log)):
            table[(self.prefixes[i], i)] = self.prefixes[i + 1]
        fails = [i for i, mm in enumerate(self.log) if mm.kind == FAIL]
        todo = list(self.consts)
        while todo:
            gs = todo.pop()
            for i in fails:
                if (gs, i) not in table and res_of(gs, self.log[i].node) >= 0:
                    after = apply_message(gs, self.log[i], self.p)
                    table[(gs, i)] = after
                    if after not in self.consts:
                        self.gs(after)
                        todo.append(after)
        elsewhere: Term = g
        for (before, i), after in table.items():
            elsewhere = z3.If(z3.And(g == self.consts[before], m == self.msgs[i]), self.consts[after], elsewhere)
        out.append(z3.ForAll([g, m], sm.apply(g, m) == elsewhere))
        return out + self.shown

    def encode(self, st: StreamState, s: State, offset: int = 0, ghosts: bool = True) -> list[Term]:
        """Pin st to s, whose log is log[offset:]; with `ghosts`, also the ghost variables
        (read off the log as proofs.indinv does; -1 for a JOIN or ACCESS compacted away)."""
        nodes, res, p = self.nodes, self.res, self.p
        length = len(s.log)
        assert self.log[offset : offset + length] == s.log and self.prefixes[offset] == s.durable
        prefixes = self.prefixes[offset : offset + length + 1]

        # log and prefix as whole functions, by absolute position in the history (so that
        # states sharing them, or shifted by Compact, agree everywhere); positions outside
        # the history are one constant each, unconstrained
        def table(items: list[Term], arg: Term, default: Term) -> Term:
            value = default
            for i, item in enumerate(items):
                value = z3.If(arg == i, item, value)
            return value

        gs_all = [self.gs(q) for q in self.prefixes]
        out = [
            st.length == length,
            z3.ForAll([k], st.log(k) == table(self.msgs, k + offset, z3.Const("msgOutside", Msg))),
            z3.ForAll([k], st.prefix(k) == table(gs_all, k + offset, z3.Const("prefixOutside", GS))),
        ]
        for q in range(p.resources):
            out.append(st.data_current(res[q]) == s.dataCurrent[q])
            if ghosts:
                out.append(st.host_since(res[q]) == host_since(prefixes, q))
        for a, node in enumerate(nodes):
            out += [st.phase(node) == s.phase[a], st.inc(node) == s.inc[a]]
            if ghosts:
                joins = [i for i, mm in enumerate(s.log) if mm.kind == JOIN and mm.node == a and mm.inc == s.inc[a]]
                accesses = [
                    i for i, mm in enumerate(s.log) if mm.kind == ACCESS and mm.node == a and mm.inc == s.inc[a]
                ]
                out += [
                    st.join_pos(node) == (joins[0] if joins else -1),
                    st.acc_pos(node) == (accesses[0] if accesses else -1),
                ]
            out += [st.cfg(node, res[q]) == (v != 0) for q, v in enumerate(s.cfg[a])]
            view = s.view[a]
            if isinstance(view, GroupState):
                out += [st.cursor(node) == s.cursor[a], st.view(node) == self.gs(view)]
                if ghosts and s.phase[a] == MEMBER and res_of(view, a) >= 0:
                    out.append(st.cfg_res(node) == res[res_of(view, a)])
        state_msgs, config_msgs, mirror_msgs = [], [], []
        # unconstrained where no GROUP_STATE is in flight (one free function for every state
        # of the history, by absolute position, so that Compact's shift keeps it)
        payload: Term = self.no_payload(s_, d_, k + offset)
        for c, queue in enumerate(s.chan):
            src, dst = nodes[c // p.nodes], nodes[c % p.nodes]
            for sent in queue:
                if sent.kind == GROUP_STATE:
                    assert isinstance(sent.gs, GroupState)
                    here = z3.And(s_ == src, d_ == dst, k == sent.cur)
                    state_msgs.append(here)
                    payload = z3.If(here, self.gs(sent.gs), payload)
                elif sent.kind == CONFIG:
                    config_msgs.append(z3.And(s_ == src, d_ == dst, r == res[sent.res]))
                else:
                    mirror_msgs.append(z3.And(s_ == src, d_ == dst, r == res[sent.res]))
        out += [
            z3.ForAll([s_, d_, k], st.state_sent(s_, d_, k) == z3.Or(False, *state_msgs)),
            z3.ForAll([s_, d_, k], st.state_payload(s_, d_, k) == payload),
            z3.ForAll([s_, d_, r], st.config_sent(s_, d_, r) == z3.Or(False, *config_msgs)),
            z3.ForAll([s_, d_, r], st.mirror_sent(s_, d_, r) == z3.Or(False, *mirror_msgs)),
        ]
        return out


def encode_state(sm: Stream, st: StreamState, s: State, p: Params) -> list[Term]:
    """The stream-level abstraction of one model State, exactly (`History` on its own log)."""
    history = History(sm, p, s.durable, s.log)
    pinned = history.encode(st, s)
    return history.facts() + pinned
