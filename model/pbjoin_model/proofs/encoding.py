"""Inductive invariant of the join protocol, proved with Z3 for every number of nodes and resources.

Nodes and resources are uninterpreted sorts; a group state is a handful of relations
and functions over them (subgroup membership, host, status, mirroring, recorded
access), resources carry a total order (the failover preference). Quantifiers are
universal except where a transition picks a witness (the placement resource, the
failed node's subgroup, a new host, a failover target), which is a Skolem constant:
every formula stays in EPR (no function from Node or Res back into them), so Z3
decides each obligation.

Two levels (spec/README.md, "Inductive invariant"):

* the **group-state level**: every message kind as `apply_message` applies it. Every
  view, every GROUP_STATE payload and `durable` is `initial_group_state` with messages
  applied, so the conjuncts hold in all of them. Two-state lemmas (a host stays host
  until its own FAIL; the primary role moves only in a failover to a synchronised
  mirror) are what keeps lagging views consistent.
* the **configuration level**: each node's view is abstracted to an arbitrary group
  state satisfying the group-state invariant, and the actions that create, send,
  receive and drop configuration are modelled over relations for CONFIG messages in
  flight (an upper and a lower bound on the versions per sender, receiver and resource
  instead of a FIFO queue). It over-approximates protocol.py step by step (what
  `proofs.simulation` checks): phases and views change as the model changes them, sends
  to failed nodes are lost.

Each obligation is `IndInv /\\ Action => Conjunct'` for one action and one conjunct
(and `Init => Conjunct`), reported mypyvy-style. A counterexample to induction is
decoded into model values and printed like a checker trace.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import z3

from pbjoin_model.protocol.machine import (
    ABSENT,
    ACTIVE,
    HOLDS_VIEW,
    JOINING,
    M_ACTIVE,
    M_NONE,
    M_SYNCING,
    MEMBER,
    PHASE_NAMES,
    PLACED,
    WAIT_CONFIG,
    Mutant,
)

Term = Any  # z3 ships no type information


class EncodingEdit(enum.Enum):
    """Deliberately restrictive edits of the abstract encodings (not of the model).

    Each makes the abstract systems allow fewer steps than protocol.py takes, so IndInv
    stays provable while the proof says nothing about the steps cut away; the simulation
    check (`proofs.simulation`) must reject each. Selected by a parameter, as model
    mutants are, never by editing the source.
    """

    NONE = "none"
    HOSTS_NEVER_CRASH = "hosts-never-crash"  # a node that hosts a resource never crashes
    FAIL_NEVER_DELIVERED = "fail-never-delivered"  # no holder ever delivers a FAIL


Node = z3.DeclareSort("Node")
Res = z3.DeclareSort("Res")
Status, (S_ABSENT, S_JOINING, S_PLACED, S_ACTIVE) = z3.EnumSort("Status", ["absent", "joining", "placed", "active"])
Mirror, (MI_NONE, MI_SYNCING, MI_ACTIVE) = z3.EnumSort("Mirror", ["none", "syncing", "active"])
STATUS_CODES = {str(S_ABSENT): ABSENT, str(S_JOINING): JOINING, str(S_PLACED): PLACED, str(S_ACTIVE): ACTIVE}
MIRROR_CODES = {str(MI_NONE): M_NONE, str(MI_SYNCING): M_SYNCING, str(MI_ACTIVE): M_ACTIVE}

x, y, r, r2 = z3.Const("x", Node), z3.Const("y", Node), z3.Const("r", Res), z3.Const("r2", Res)


class Vocabulary:
    """The symbols shared by every obligation: static wiring and the resource order."""

    def __init__(self) -> None:
        self.access = z3.Function("access", Node, Res, z3.BoolSort())
        self.le = z3.Function("le", Res, Res, z3.BoolSort())
        self.first = z3.Const("first", Res)  # resource 1: starts primary

    def axioms(self) -> list[Term]:
        le, a, b, c = self.le, r, r2, z3.Const("r3", Res)
        return [
            z3.ForAll([a], le(a, a)),
            z3.ForAll([a, b], z3.Implies(z3.And(le(a, b), le(b, a)), a == b)),
            z3.ForAll([a, b, c], z3.Implies(z3.And(le(a, b), le(b, c)), le(a, c))),
            z3.ForAll([a, b], z3.Or(le(a, b), le(b, a))),
            z3.ForAll([a], le(self.first, a)),
        ]


# ---------------------------------------------------------------- group-state level


@dataclass(frozen=True)
class RGroupState:
    """A group state as relations: subgroup sets, host, status, mirroring, recorded access."""

    prim: Term
    member: Term  # Node x Res -> Bool
    has_host: Term  # Res -> Bool
    host: Term  # Res -> Node (meaningful where has_host)
    status: Term  # Node -> Status
    mirror: Term  # Res -> Mirror
    acc: Term  # Node x Res -> Bool
    inc: Term  # Node -> Int: the incarnation recorded by the member's JOIN

    @staticmethod
    def fresh(name: str) -> RGroupState:
        return RGroupState(
            z3.Const(f"{name}.prim", Res),
            z3.Function(f"{name}.member", Node, Res, z3.BoolSort()),
            z3.Function(f"{name}.hasHost", Res, z3.BoolSort()),
            z3.Function(f"{name}.host", Res, Node),
            z3.Function(f"{name}.status", Node, Status),
            z3.Function(f"{name}.mirror", Res, Mirror),
            z3.Function(f"{name}.acc", Node, Res, z3.BoolSort()),
            z3.Function(f"{name}.inc", Node, z3.IntSort()),
        )

    def hosts(self, res: Term, n: Term) -> Term:
        return z3.And(self.has_host(res), self.host(res) == n)


@dataclass(frozen=True)
class Update:
    """The post-state as definitions over the pre-state (each a term in x, y, r)."""

    prim: Term
    member: Term  # in x, r
    has_host: Term  # in r
    host: Term  # in r
    status: Term  # in x
    mirror: Term  # in r
    acc: Term  # in x, r
    inc: Term  # in x

    def define(self, post: RGroupState) -> list[Term]:
        return [
            post.prim == self.prim,
            z3.ForAll([x, r], post.member(x, r) == self.member),
            z3.ForAll([r], post.has_host(r) == self.has_host),
            z3.ForAll([r], post.host(r) == self.host),
            z3.ForAll([x], post.status(x) == self.status),
            z3.ForAll([r], post.mirror(r) == self.mirror),
            z3.ForAll([x, r], post.acc(x, r) == self.acc),
            z3.ForAll([x], post.inc(x) == self.inc),
        ]


def unchanged(gs: RGroupState) -> Update:
    return Update(
        gs.prim, gs.member(x, r), gs.has_host(r), gs.host(r), gs.status(x), gs.mirror(r), gs.acc(x, r), gs.inc(x)
    )


def _replace(u: Update, **changes: Term) -> Update:
    fields = {f: getattr(u, f) for f in Update.__dataclass_fields__}
    fields.update(changes)
    return Update(**fields)


@dataclass
class Transition:
    """One abstract action instance: its parameters, side conditions and the post-state."""

    action: str
    params: dict[str, Term]
    constraints: list[Term]
    post: RGroupState
    appended: Term | None = None  # the node appended to a subgroup, if any
    append_if: Term = False
    # The message's node and incarnation (what the stream level's frame lemmas name).
    about: Term = None
    msg_inc: Term = None
    msg_res: Term = None  # a MIRROR_ACTIVE's resource


def restart_mirrors(has_host: Callable[[Term], Term], prim: Term, old_mirror: Term) -> Term:
    """mirror'(r): syncing for a hosted backup, none for an unhosted one, the primary's kept."""
    return z3.If(r == prim, old_mirror, z3.If(has_host(r), MI_SYNCING, MI_NONE))


class GroupLevel:
    """apply_message per message kind, as transitions of one relational group state."""

    def __init__(self, voc: Vocabulary, mutant: Mutant, edit: EncodingEdit = EncodingEdit.NONE) -> None:
        self.voc = voc
        self.mutant = mutant
        self.edit = edit

    def init(self, gs: RGroupState) -> list[Term]:
        return [
            gs.prim == self.voc.first,
            z3.ForAll([x, r], z3.Not(gs.member(x, r))),
            z3.ForAll([r], z3.Not(gs.has_host(r))),
            z3.ForAll([x], gs.status(x) == S_ABSENT),
            z3.ForAll([r], gs.mirror(r) == MI_NONE),
            z3.ForAll([x, r], z3.Not(gs.acc(x, r))),
            z3.ForAll([x], gs.inc(x) == 0),
        ]

    def transitions(self, gs: RGroupState, post: RGroupState) -> Iterator[Transition]:
        yield self.join(gs, post)
        yield self.place(gs, post)
        yield self.join_done(gs, post)
        yield self.mirror_active(gs, post)
        yield self.fail(gs, post)

    def join(self, gs: RGroupState, post: RGroupState) -> Transition:
        j, i = z3.Const("j", Node), z3.Int("i")
        u = _replace(unchanged(gs), status=z3.If(x == j, S_JOINING, gs.status(x)), inc=z3.If(x == j, i, gs.inc(x)))
        return Transition(
            "ApplyJoin", {"j": j, "i": i}, [gs.status(j) == S_ABSENT, *u.define(post)], post, about=j, msg_inc=i
        )

    def join_done(self, gs: RGroupState, post: RGroupState) -> Transition:
        j = z3.Const("j", Node)
        u = _replace(unchanged(gs), status=z3.If(x == j, S_ACTIVE, gs.status(x)))
        return Transition(
            "ApplyJoinDone", {"j": j}, [gs.status(j) == S_PLACED, *u.define(post)], post, about=j, msg_inc=z3.Int("i")
        )

    def mirror_active(self, gs: RGroupState, post: RGroupState) -> Transition:
        n, res = z3.Const("n", Node), z3.Const("res", Res)
        ok = [gs.hosts(res, n), res != gs.prim, gs.mirror(res) == MI_SYNCING]
        u = _replace(unchanged(gs), mirror=z3.If(r == res, MI_ACTIVE, gs.mirror(r)))
        return Transition(
            "ApplyMirrorActive",
            {"n": n, "r": res},
            [*ok, *u.define(post)],
            post,
            about=n,
            msg_inc=z3.Int("i"),
            msg_res=res,
        )

    def place(self, gs: RGroupState, post: RGroupState) -> Transition:
        """ACCESS(j, S) of a joining node, S its real access set (the joiner probes it)."""
        voc = self.voc
        j, pr = z3.Const("j", Node), z3.Const("placed_on", Res)
        claim = z3.Bool("claims_host")  # the ACCESS's own host claim (mutant host-chosen-by-lagging-view)
        reaches_any = z3.Exists([r], voc.access(j, r))
        if self.mutant is Mutant.PLACEMENT_IGNORES_ACCESS:
            where = [pr == gs.prim]
        else:
            first = z3.ForAll([r], z3.Implies(voc.access(j, r), voc.le(pr, r)))
            where = [voc.access(j, pr), z3.If(voc.access(j, gs.prim), pr == gs.prim, first)]
        rejected = _replace(unchanged(gs), status=z3.If(x == j, S_ABSENT, gs.status(x)))
        if self.mutant is Mutant.REJECTED_STAYS_IN_SUBGROUP:
            rejected = _replace(rejected, member=z3.Or(gs.member(x, r), z3.And(x == j, r == gs.prim)))
        claims = claim if self.mutant is Mutant.HOST_CHOSEN_BY_LAGGING_VIEW else z3.Not(gs.has_host(pr))
        has_host = z3.Or(gs.has_host(r), z3.And(r == pr, claims))
        host = z3.If(z3.And(r == pr, claims), j, gs.host(r))
        becomes_host = claims
        prim_hosted = z3.Or(gs.has_host(gs.prim), z3.And(pr == gs.prim, claims))
        mirror_backup = z3.If(r == pr, z3.If(prim_hosted, MI_SYNCING, MI_NONE), gs.mirror(r))
        mirror_primary = restart_mirrors(
            lambda b: z3.Or(gs.has_host(b), z3.And(b == pr, claims)), gs.prim, gs.mirror(r)
        )
        mirror = z3.If(becomes_host, z3.If(pr == gs.prim, mirror_primary, mirror_backup), gs.mirror(r))
        placed = Update(
            gs.prim,
            z3.Or(gs.member(x, r), z3.And(x == j, r == pr)),
            has_host,
            host,
            z3.If(x == j, S_PLACED, gs.status(x)),
            mirror,
            z3.If(x == j, voc.access(j, r), gs.acc(x, r)),
            gs.inc(x),
        )
        both = [z3.If(reaches_any, z3.And(*where, *placed.define(post)), z3.And(*rejected.define(post)))]
        appended_to_prim = self.mutant is Mutant.REJECTED_STAYS_IN_SUBGROUP
        return Transition(
            "Place",
            {"j": j, "placed_on": pr, "claims_host": claim},
            [gs.status(j) == S_JOINING, *both],
            post,
            appended=j,
            append_if=True if appended_to_prim else reaches_any,
            about=j,
            msg_inc=z3.Int("i"),
        )

    def fail(self, gs: RGroupState, post: RGroupState) -> Transition:
        voc = self.voc
        f, rf, nh, tg = z3.Const("f", Node), z3.Const("f_res", Res), z3.Const("new_host", Node), z3.Const("target", Res)
        in_sub = gs.member(f, rf)
        # rf: f's subgroup (the first in resource order), if any
        witness = [
            z3.Or(in_sub, z3.ForAll([r], z3.Not(gs.member(f, r)))),
            z3.ForAll([r], z3.Implies(gs.member(f, r), voc.le(rf, r))),
        ]
        member = z3.And(gs.member(x, r), z3.Not(z3.And(x == f, r == rf, in_sub)))
        replaced = z3.And(in_sub, gs.hosts(rf, f))
        if self.mutant is Mutant.NO_HOST_REPLACEMENT:
            replaced = z3.BoolVal(False)
        # the next member of rf's subgroup becomes host (any remaining member: the proof does
        # not depend on which, so it covers the join-order choice of protocol.py)
        remaining = z3.And(gs.member(nh, rf), nh != f)
        witness.append(z3.Or(remaining, z3.ForAll([x], z3.Not(z3.And(gs.member(x, rf), x != f)))))

        def has_host2(b: Term) -> Term:
            return z3.If(z3.And(replaced, b == rf), remaining, gs.has_host(b))

        host2 = z3.If(z3.And(replaced, r == rf), nh, gs.host(r))
        prim_hosted = has_host2(gs.prim)
        synced = z3.BoolVal(True) if self.mutant is Mutant.PROMOTE_UNSYNCED_MIRROR else gs.mirror(tg) == MI_ACTIVE
        eligible = z3.And(tg != gs.prim, has_host2(tg), synced)
        b = z3.Const("b", Res)
        synced_b = z3.BoolVal(True) if self.mutant is Mutant.PROMOTE_UNSYNCED_MIRROR else gs.mirror(b) == MI_ACTIVE
        witness += [
            z3.Or(eligible, z3.ForAll([b], z3.Not(z3.And(b != gs.prim, has_host2(b), synced_b)))),
            z3.ForAll([b], z3.Implies(z3.And(b != gs.prim, has_host2(b), synced_b), voc.le(tg, b))),
        ]
        backup_case = z3.If(r == rf, z3.If(z3.And(has_host2(rf), prim_hosted), MI_SYNCING, MI_NONE), gs.mirror(r))
        if self.mutant is Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE:
            backup_case = z3.If(z3.And(r == rf, has_host2(rf), gs.mirror(r) == MI_ACTIVE), MI_ACTIVE, backup_case)
        switchover = restart_mirrors(has_host2, gs.prim, gs.mirror(r))
        failover = z3.If(r == tg, MI_NONE, z3.If(has_host2(r), MI_SYNCING, MI_NONE))
        primary_case = z3.If(prim_hosted, switchover, z3.If(eligible, failover, gs.mirror(r)))
        mirror = z3.If(replaced, z3.If(rf != gs.prim, backup_case, primary_case), gs.mirror(r))
        prim = z3.If(z3.And(replaced, rf == gs.prim, z3.Not(prim_hosted), eligible), tg, gs.prim)
        u = Update(
            prim,
            member,
            has_host2(r),
            host2,
            z3.If(x == f, S_ABSENT, gs.status(x)),
            mirror,
            z3.And(gs.acc(x, r), x != f),
            gs.inc(x),
        )
        params = {"f": f, "f_res": rf, "new_host": nh, "target": tg}
        constraints = [gs.status(f) != S_ABSENT, *witness, *u.define(post)]
        if self.edit is EncodingEdit.HOSTS_NEVER_CRASH:
            constraints.append(z3.ForAll([r], z3.Not(gs.hosts(r, f))))
        if self.edit is EncodingEdit.FAIL_NEVER_DELIVERED:
            constraints.append(z3.BoolVal(False))
        return Transition("ApplyFail", params, constraints, post, about=f, msg_inc=z3.Int("i"))


def group_conjuncts(voc: Vocabulary, gs: RGroupState) -> list[tuple[str, Term]]:
    """IndInv at the group-state level: one named conjunct per property."""
    return [
        (
            "SubgroupAccess",
            z3.And(
                z3.ForAll([x, r], z3.Implies(gs.member(x, r), voc.access(x, r))),
                z3.ForAll([x, r, r2], z3.Implies(z3.And(gs.member(x, r), gs.member(x, r2)), r == r2)),
            ),
        ),
        (
            "MemberStatus",
            z3.ForAll([x, r], z3.Implies(gs.member(x, r), z3.Or(gs.status(x) == S_PLACED, gs.status(x) == S_ACTIVE))),
        ),
        (
            "HostInSubgroup",
            z3.And(
                z3.ForAll([r], z3.Implies(gs.has_host(r), gs.member(gs.host(r), r))),
                z3.ForAll(
                    [r, r2],
                    z3.Implies(z3.And(gs.has_host(r), gs.has_host(r2), gs.host(r) == gs.host(r2)), r == r2),
                ),
            ),
        ),
        ("PrimaryMirrorNone", gs.mirror(gs.prim) == MI_NONE),
        ("MirrorNeedsHost", z3.ForAll([r], z3.Implies(gs.mirror(r) != MI_NONE, gs.has_host(r)))),
    ]


def group_lemmas(gs: RGroupState, t: Transition) -> list[tuple[str, Term]]:
    """Two-state properties of one transition: what keeps lagging views consistent."""
    post = t.post
    fail_of = t.params.get("f") if t.action == "ApplyFail" else None

    def not_own_fail(n: Term) -> Term:
        return z3.BoolVal(True) if fail_of is None else n != fail_of

    lemmas = [
        (
            "HostStable",
            z3.ForAll([r], z3.Implies(z3.And(gs.has_host(r), not_own_fail(gs.host(r))), post.hosts(r, gs.host(r)))),
        ),
        (
            "PrimaryStable",
            z3.Implies(z3.And(gs.has_host(gs.prim), not_own_fail(gs.host(gs.prim))), post.prim == gs.prim),
        ),
        ("PromoteOnlySynced", z3.Implies(post.prim != gs.prim, gs.mirror(post.prim) == MI_ACTIVE)),
        # a subgroup member stays in its subgroup under every message except its own FAIL
        (
            "MemberStable",
            z3.ForAll([x, r], z3.Implies(z3.And(gs.member(x, r), not_own_fail(x)), post.member(x, r))),
        ),
    ]
    if t.appended is not None:
        fresh = z3.ForAll([r], z3.Not(gs.member(t.appended, r)))
        lemmas.append(("AppendsFresh", z3.Implies(t.append_if, fresh)))
    else:
        lemmas.append(("AppendsFresh", z3.BoolVal(True)))
    # Frame lemmas the stream level (`proofs.stream`) takes as axioms about apply:
    # a message changes only its own node's status and incarnation, and an incarnation
    # only to the message's.
    lemmas.append(
        (
            "StatusFrame",
            z3.ForAll([x], z3.Implies(x != t.about, z3.And(post.status(x) == gs.status(x), post.inc(x) == gs.inc(x)))),
        )
    )
    lemmas.append(("IncFrame", z3.ForAll([x], z3.Or(post.inc(x) == gs.inc(x), post.inc(x) == t.msg_inc))))
    # How the message's own node's status and incarnation may change, by message kind.
    n = t.about
    before, after = (gs.status(n), gs.inc(n)), (post.status(n), post.inc(n))
    lemmas.append(("OwnStatus", own_step(ACTION_KIND[t.action], before, after, t.msg_inc)))
    lemmas += mirror_lemmas(gs, t)
    return lemmas


def mirror_lemmas(gs: RGroupState, t: Transition) -> list[tuple[str, Term]]:
    """How a message changes mirror status, the primary role and subgroup membership
    (what the stream level needs for NoDataLoss)."""
    post, kind, n = t.post, ACTION_KIND[t.action], t.about
    activates = z3.BoolVal(False)
    if kind == "MIRROR_ACTIVE":
        activates = z3.And(n == gs.host(r), r == t.msg_res)
    same_primary_host = z3.And(gs.has_host(gs.prim), post.prim == gs.prim, post.hosts(post.prim, gs.host(gs.prim)))
    prim_moves = z3.And(gs.has_host(gs.prim), gs.mirror(post.prim) == MI_ACTIVE)
    gains = z3.BoolVal(False) if kind != "ACCESS" else x == n
    lemmas = [
        (
            # a mirror is active only under the host it had, and becomes so only by its host's MIRROR_ACTIVE
            "MirrorStep",
            z3.ForAll(
                [r],
                z3.Implies(
                    post.mirror(r) == MI_ACTIVE,
                    z3.And(
                        gs.has_host(r),
                        post.hosts(r, gs.host(r)),
                        z3.Or(gs.mirror(r) == MI_ACTIVE, activates),
                    ),
                ),
            ),
        ),
        (
            # a new primary host (or primary resource) restarts every mirror
            "MirrorReset",
            z3.Implies(
                z3.And(post.has_host(post.prim), z3.Not(same_primary_host)),
                z3.ForAll([r], post.mirror(r) != MI_ACTIVE),
            ),
        ),
        # the primary role moves only away from a hosted primary resource, to an active mirror
        ("PrimMoves", z3.Implies(post.prim != gs.prim, prim_moves)),
        # only an ACCESS adds a node to a subgroup, and only its own
        ("MemberGain", z3.ForAll([x, r], z3.Implies(z3.And(post.member(x, r), z3.Not(gs.member(x, r))), gains))),
    ]
    if kind == "FAIL":
        lemmas.append(("FailUnmembers", z3.ForAll([r], z3.Not(post.member(n, r)))))
    return lemmas


# The message kind each group-level transition applies (the stream level's `kind`).
ACTION_KIND = {
    "ApplyJoin": "JOIN",
    "Place": "ACCESS",
    "ApplyJoinDone": "JOIN_DONE",
    "ApplyMirrorActive": "MIRROR_ACTIVE",
    "ApplyFail": "FAIL",
}


def own_step(kind: str, before: tuple[Term, Term], after: tuple[Term, Term], msg_inc: Term) -> Term:
    """A message of `kind` leaves its own node's (status, incarnation) `before` as `after`:
    unchanged, or JOIN: absent -> joining with the message's incarnation; ACCESS: joining ->
    absent or placed; JOIN_DONE: placed -> active; FAIL: -> absent; MIRROR_ACTIVE: no change.
    Only a JOIN changes an incarnation."""
    (s0, i0), (s1, i1) = before, after
    moves = {
        "JOIN": z3.And(s0 == S_ABSENT, s1 == S_JOINING, i1 == msg_inc),
        "ACCESS": z3.And(i1 == i0, s0 == S_JOINING, z3.Or(s1 == S_ABSENT, s1 == S_PLACED)),
        "JOIN_DONE": z3.And(i1 == i0, s0 == S_PLACED, s1 == S_ACTIVE),
        "MIRROR_ACTIVE": z3.BoolVal(False),
        "FAIL": z3.And(i1 == i0, s1 == S_ABSENT),
    }
    return z3.Or(z3.And(s1 == s0, i1 == i0), moves[kind])


def group_consequences(gs: RGroupState) -> list[tuple[str, Term]]:
    """Facts implied by the group-state conjuncts alone, which the stream level uses as axioms."""
    placed = z3.Or(gs.status(gs.host(r)) == S_PLACED, gs.status(gs.host(r)) == S_ACTIVE)
    member_placed = z3.Or(gs.status(x) == S_PLACED, gs.status(x) == S_ACTIVE)
    return [
        ("HostPlaced", z3.ForAll([r], z3.Implies(gs.has_host(r), placed))),
        ("MemberPlaced", z3.ForAll([x, r], z3.Implies(gs.member(x, r), member_placed))),
        ("HostMember", z3.ForAll([r], z3.Implies(gs.has_host(r), gs.member(gs.host(r), r)))),
        ("OneSubgroup", z3.ForAll([x, r, r2], z3.Implies(z3.And(gs.member(x, r), gs.member(x, r2)), r == r2))),
    ]


# ---------------------------------------------------------------- configuration level


@dataclass(frozen=True)
class NodeLevel:
    """Node state for the configuration properties; views are relational group states per node."""

    view_member: Term  # Node (viewer) x Node x Res -> Bool
    view_hosts: Term  # Node (viewer) x Res x Node -> Bool
    view_prim: Term  # Node (viewer) -> Res
    has_view: Term  # Node -> Bool
    phase: Term  # Node -> Int (protocol.py phase codes)
    cfg: Term  # Node x Res -> Int, 0 = none
    res_ver: Term  # Res -> Int
    config_sent: Term  # Node (src) x Node (dst) x Res -> Bool: a CONFIG in flight
    config_ver: Term  # Node x Node x Res -> Int: an upper bound on the versions of those CONFIGs
    config_low: Term  # Node x Node x Res -> Int: a lower bound on the versions of those CONFIGs

    @staticmethod
    def fresh(name: str) -> NodeLevel:
        b = z3.BoolSort()
        i = z3.IntSort()
        return NodeLevel(
            z3.Function(f"{name}.viewMember", Node, Node, Res, b),
            z3.Function(f"{name}.viewHosts", Node, Res, Node, b),
            z3.Function(f"{name}.viewPrim", Node, Res),
            z3.Function(f"{name}.hasView", Node, b),
            z3.Function(f"{name}.phase", Node, i),
            z3.Function(f"{name}.cfg", Node, Res, i),
            z3.Function(f"{name}.resVer", Res, i),
            z3.Function(f"{name}.configSent", Node, Node, Res, b),
            z3.Function(f"{name}.configVer", Node, Node, Res, i),
            z3.Function(f"{name}.configLow", Node, Node, Res, i),
        )


v_, s_, d_ = z3.Const("v", Node), z3.Const("s", Node), z3.Const("d", Node)


def views_ok(voc: Vocabulary, st: NodeLevel) -> list[Term]:
    """Phases are phases, and every view satisfies the group-state invariant's parts this level relies on."""
    holds = z3.Or(*(st.phase(v_) == ph for ph in HOLDS_VIEW))
    return [
        z3.ForAll([v_], z3.And(st.phase(v_) >= 0, st.phase(v_) < len(PHASE_NAMES), st.has_view(v_) == holds)),
        z3.ForAll([v_, x, r], z3.Implies(st.view_member(v_, x, r), voc.access(x, r))),
        z3.ForAll([v_, x, r, r2], z3.Implies(z3.And(st.view_member(v_, x, r), st.view_member(v_, x, r2)), r == r2)),
        z3.ForAll([v_, r, x], z3.Implies(st.view_hosts(v_, r, x), st.view_member(v_, x, r))),
        z3.ForAll([v_, r, x, y], z3.Implies(z3.And(st.view_hosts(v_, r, x), st.view_hosts(v_, r, y)), x == y)),
    ]


def node_conjuncts(voc: Vocabulary, st: NodeLevel) -> list[tuple[str, Term]]:
    return [
        ("ConfigReachable", z3.ForAll([x, r], z3.Implies(st.cfg(x, r) != 0, voc.access(x, r)))),
        ("ConfigNotNewerThanHost", z3.ForAll([x, r], z3.And(st.cfg(x, r) >= 0, st.cfg(x, r) <= st.res_ver(r)))),
        (
            "ConfigSentToReachers",
            z3.ForAll([s_, d_, r], z3.Implies(st.config_sent(s_, d_, r), voc.access(d_, r))),
        ),
        (
            "ConfigSentNotNewer",
            z3.ForAll(
                [s_, d_, r],
                z3.Implies(st.config_sent(s_, d_, r), z3.And(st.config_ver(s_, d_, r) <= st.res_ver(r))),
            ),
        ),
        # What the stream level, which records configuration as held or not, relies on:
        # every CONFIG in flight carries a version (>= 1), and a holder that hosts a
        # resource in its own view holds that resource's configuration.
        ("ResourceVersioned", z3.ForAll([r], st.res_ver(r) >= 1)),
        (
            "ConfigSentVersioned",
            z3.ForAll([s_, d_, r], z3.Implies(st.config_sent(s_, d_, r), st.config_low(s_, d_, r) >= 1)),
        ),
        (
            "HostHoldsConfig",
            z3.ForAll([v_, r], z3.Implies(z3.And(st.has_view(v_), st.view_hosts(v_, r, v_)), st.cfg(v_, r) >= 1)),
        ),
    ]


class ConfigLevel:
    """The actions that touch configuration, over-approximating protocol.py's (every step of
    the model is one of them: `proofs.simulation`)."""

    def __init__(self, voc: Vocabulary, mutant: Mutant, edit: EncodingEdit = EncodingEdit.NONE) -> None:
        self.voc = voc
        self.mutant = mutant
        self.edit = edit

    def init(self, st: NodeLevel) -> list[Term]:
        return [
            z3.ForAll([v_], z3.Not(st.has_view(v_))),
            z3.ForAll([x, r], st.cfg(x, r) == 0),
            z3.ForAll([r], st.res_ver(r) == 1),
            z3.ForAll([s_, d_, r], z3.Not(st.config_sent(s_, d_, r))),
        ]

    def _frame(self, st: NodeLevel, post: NodeLevel, keep: set[str]) -> list[Term]:
        out = []
        for name in sorted(keep):  # a fixed term order: Z3's search, and so its verdict, depends on it
            pre_f, post_f = getattr(st, name), getattr(post, name)
            args = [z3.Const(f"a{i}", pre_f.domain(i)) for i in range(pre_f.arity())]
            out.append(z3.ForAll(args, post_f(*args) == pre_f(*args)) if args else post_f == pre_f)
        return out

    def transitions(self, st: NodeLevel, post: NodeLevel) -> Iterator[tuple[str, dict[str, Term], list[Term]]]:
        n, res, src = z3.Const("n", Node), z3.Const("res", Res), z3.Const("src", Node)
        all_fields = set(NodeLevel.__dataclass_fields__)
        views = {"view_member", "view_hosts", "view_prim", "has_view"}

        # Deliver(n) / ReceiveGroupState / RecoverGroupState: n's view becomes another group
        # state (one satisfying the group-state invariant: views_ok on the post-state), and
        # its phase any phase (placed, rejected, a member; views_ok ties having a view to
        # it); as host of `res` it may read the configuration from the resource (new host,
        # takeover) and send its version to members of res's subgroup in its new view (some
        # of them: a send to a failed node is lost). A view that newly makes n a host does so
        # only for the resource it reads.
        takes = z3.Bool("reads_resource")
        sends = z3.Function("sends_to", Node, z3.BoolSort())
        hosts_res = post.view_hosts(n, res, n)
        new_cfg = z3.If(z3.And(takes, hosts_res), st.res_ver(res), st.cfg(n, res))
        targets = z3.And(sends(d_), hosts_res, post.view_member(n, d_, res), post.has_view(n))
        was_host = z3.And(st.has_view(n), st.view_hosts(n, r, n))
        deliver = [
            *self._frame(st, post, {"res_ver"}),
            z3.ForAll([x], z3.Implies(x != n, post.phase(x) == st.phase(x))),
            z3.ForAll(
                [r],
                z3.Implies(
                    z3.And(post.has_view(n), post.view_hosts(n, r, n), z3.Not(was_host)), z3.And(r == res, takes)
                ),
            ),
            z3.ForAll([v_, x, r], z3.Implies(v_ != n, post.view_member(v_, x, r) == st.view_member(v_, x, r))),
            z3.ForAll([v_, r, x], z3.Implies(v_ != n, post.view_hosts(v_, r, x) == st.view_hosts(v_, r, x))),
            z3.ForAll([v_], z3.Implies(v_ != n, post.has_view(v_) == st.has_view(v_))),
            z3.ForAll([x, r], post.cfg(x, r) == z3.If(z3.And(x == n, r == res), new_cfg, st.cfg(x, r))),
        ]
        new_sent = z3.And(s_ == n, r == res, targets)
        if self.mutant is Mutant.CONFIG_FROM_PRIMARY_TO_ALL:
            # the primary host also sends its primary's configuration to a joiner placed elsewhere
            joiner = z3.Const("joiner", Node)
            prim = post.view_prim(n)
            elsewhere = z3.Exists([r2], z3.And(post.view_member(n, joiner, r2), r2 != prim))
            new_sent = z3.Or(new_sent, z3.And(s_ == n, d_ == joiner, r == prim, post.view_hosts(n, prim, n), elsewhere))
        sent_ver = z3.If(r == res, new_cfg, st.cfg(n, r))
        old_ver, old_low = st.config_ver(s_, d_, r), st.config_low(s_, d_, r)
        deliver += [
            z3.ForAll([v_], z3.Implies(v_ != n, post.view_prim(v_) == st.view_prim(v_))),
            z3.ForAll([s_, d_, r], post.config_sent(s_, d_, r) == z3.Or(st.config_sent(s_, d_, r), new_sent)),
            z3.ForAll(
                [s_, d_, r],
                post.config_ver(s_, d_, r)
                == z3.If(new_sent, z3.If(st.config_sent(s_, d_, r), _max(old_ver, sent_ver), sent_ver), old_ver),
            ),
            z3.ForAll(
                [s_, d_, r],
                post.config_low(s_, d_, r)
                == z3.If(new_sent, z3.If(st.config_sent(s_, d_, r), _min(old_low, sent_ver), sent_ver), old_low),
            ),
        ]
        yield "Deliver", {"n": n, "res": res}, deliver

        # ReceiveConfig(src, n): takes some CONFIG for `res` (FIFO order abstracted away:
        # any one in flight; the message may stay, covering duplicates) and installs a
        # version within the bounds of the ones in flight, if n's view places it on res;
        # a node waiting for its configuration then becomes a member.
        version = z3.Int("installed_version")
        keeps = z3.Bool("another_copy_in_flight")
        mine = st.has_view(n)
        if self.mutant is not Mutant.CONFIG_FROM_PRIMARY_TO_ALL:
            mine = z3.And(mine, st.view_member(n, n, res))
        installs = z3.And(z3.Or(st.phase(n) == WAIT_CONFIG, st.phase(n) == MEMBER), mine)
        receive = [
            st.config_sent(src, n, res),
            version >= st.config_low(src, n, res),
            version <= st.config_ver(src, n, res),
            *self._frame(st, post, all_fields - {"cfg", "config_sent", "phase"}),
            z3.ForAll(
                [x],
                post.phase(x) == z3.If(z3.And(x == n, installs, st.phase(n) == WAIT_CONFIG), MEMBER, st.phase(x)),
            ),
            z3.ForAll([x, r], post.cfg(x, r) == z3.If(z3.And(x == n, r == res, installs), version, st.cfg(x, r))),
            z3.ForAll(
                [s_, d_, r],
                post.config_sent(s_, d_, r)
                == z3.If(z3.And(s_ == src, d_ == n, r == res), keeps, st.config_sent(s_, d_, r)),
            ),
        ]
        yield "ReceiveConfig", {"src": src, "n": n, "res": res}, receive

        # ChangeConfig(n, res): host n stores a new version and sends it to its subgroup
        # (to some of it: a send to a failed node is lost).
        new = st.res_ver(res) + 1
        change_sent = z3.And(s_ == n, r == res, st.view_member(n, d_, res), d_ != n, sends(d_))
        change = [
            st.phase(n) == MEMBER,
            st.has_view(n),
            st.view_hosts(n, res, n),
            *self._frame(st, post, views | {"phase"}),
            z3.ForAll([r], post.res_ver(r) == z3.If(r == res, new, st.res_ver(r))),
            z3.ForAll([x, r], post.cfg(x, r) == z3.If(z3.And(x == n, r == res), new, st.cfg(x, r))),
            z3.ForAll(
                [s_, d_, r],
                post.config_sent(s_, d_, r) == z3.Or(st.config_sent(s_, d_, r), change_sent),
            ),
            z3.ForAll([s_, d_, r], post.config_ver(s_, d_, r) == z3.If(change_sent, new, st.config_ver(s_, d_, r))),
            z3.ForAll(
                [s_, d_, r],
                post.config_low(s_, d_, r)
                == z3.If(
                    change_sent,
                    z3.If(st.config_sent(s_, d_, r), _min(st.config_low(s_, d_, r), new), new),
                    st.config_low(s_, d_, r),
                ),
            ),
        ]
        yield "ChangeConfig", {"n": n, "res": res}, change

        # Crash(n): n forgets its configuration and view; its channels empty.
        crash = [
            *(
                [z3.ForAll([r], z3.Not(z3.And(st.has_view(n), st.view_hosts(n, r, n))))]
                if self.edit is EncodingEdit.HOSTS_NEVER_CRASH
                else []
            ),
            *self._frame(st, post, {"res_ver", "view_member", "view_hosts", "view_prim", "config_ver", "config_low"}),
            z3.ForAll([v_], post.has_view(v_) == z3.And(st.has_view(v_), v_ != n)),
            z3.ForAll([x], z3.Implies(x != n, post.phase(x) == st.phase(x))),
            z3.ForAll([x, r], post.cfg(x, r) == z3.If(x == n, 0, st.cfg(x, r))),
            z3.ForAll([s_, d_, r], post.config_sent(s_, d_, r) == z3.And(st.config_sent(s_, d_, r), s_ != n, d_ != n)),
        ]
        yield "Crash", {"n": n}, crash

        # Join, Restart, ReceiveStartMirror and the rest only change phases.
        other = [*self._frame(st, post, all_fields - {"phase"})]
        yield "OtherActions", {}, other


def _max(*terms: Term) -> Term:
    out = terms[0]
    for t in terms[1:]:
        out = z3.If(t > out, t, out)
    return out


def _min(*terms: Term) -> Term:
    out = terms[0]
    for t in terms[1:]:
        out = z3.If(t < out, t, out)
    return out
