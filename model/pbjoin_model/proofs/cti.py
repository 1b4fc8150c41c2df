"""Counterexamples to induction from `proofs.prove`, in the checker's trace form.

A Z3 model of a failed obligation has finitely many nodes and resources; they become
n1.. and r1.. (resources in failover order), and the group states become
protocol.GroupState values rendered with the same `key = value` lines as a trace.
Whether the pre-state is reachable is asked of the explicit-state checker at that
size, where the size allows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import z3

from pbjoin_model.explorer.bfs import reachable
from pbjoin_model.proofs.encoding import (
    MIRROR_CODES,
    STATUS_CODES,
    Node,
    NodeLevel,
    Res,
    RGroupState,
    Transition,
    Vocabulary,
)
from pbjoin_model.protocol.machine import NO_NODE, PHASE_NAMES, GroupState, Mutant, Params, State
from pbjoin_model.traces.render import diff, rset_str, view_fields

Term = Any

# The explicit search that decides reachability of a CTI's pre-state stops here.
REACHABILITY_STATE_LIMIT = 100_000


class _Universe:
    """The CTI model's nodes and resources, numbered like the model's (resources in order)."""

    def __init__(self, model: z3.ModelRef, voc: Vocabulary) -> None:
        self.model = model
        self.nodes = list(model.get_universe(Node) or [])
        res = list(model.get_universe(Res) or [])
        self.res = sorted(res, key=lambda a: sum(1 for b in res if self.true(voc.le(b, a))))
        self.voc = voc

    def true(self, t: Term) -> bool:
        return bool(z3.is_true(self.model.eval(t, model_completion=True)))

    def node(self, t: Term) -> int:
        value = self.model.eval(t, model_completion=True)
        return next(i for i, n in enumerate(self.nodes) if n.eq(value))

    def resource(self, t: Term) -> int:
        value = self.model.eval(t, model_completion=True)
        return next(i for i, q in enumerate(self.res) if q.eq(value))

    def access(self) -> tuple[int, ...]:
        return tuple(
            sum(1 << k for k, q in enumerate(self.res) if self.true(self.voc.access(n, q))) for n in self.nodes
        )

    def group_state(self, gs: RGroupState) -> GroupState:
        sub = tuple(tuple(i for i, n in enumerate(self.nodes) if self.true(gs.member(n, q))) for q in self.res)
        host = tuple(self.node(gs.host(q)) if self.true(gs.has_host(q)) else NO_NODE for q in self.res)
        ev = self.model.eval
        return GroupState(
            self.resource(gs.prim),
            sub,
            host,
            tuple(MIRROR_CODES[str(ev(gs.mirror(q), model_completion=True))] for q in self.res),
            tuple(STATUS_CODES[str(ev(gs.status(n), model_completion=True))] for n in self.nodes),
            tuple(sum(1 << k for k, q in enumerate(self.res) if self.true(gs.acc(n, q))) for n in self.nodes),
            tuple(ev(gs.inc(n), model_completion=True).as_long() for n in self.nodes),
            0,  # the encodings have no resource failures
            (0,) * len(self.res),
        )

    def value(self, t: Term) -> str:
        if t.sort() == Node:
            return f"n{self.node(t) + 1}"
        if t.sort() == Res:
            return f"r{self.resource(t) + 1}"
        return str(self.model.eval(t, model_completion=True))


def _params(u: _Universe, names: dict[str, Term]) -> str:
    return ", ".join(f"{k}={u.value(v)}" for k, v in names.items())


def _same_view(a: GroupState, b: GroupState) -> bool:
    """Equal as far as the relational encoding sees: subgroups as sets, incarnations ignored."""
    return (
        a.prim == b.prim
        and tuple(map(frozenset, a.sub)) == tuple(map(frozenset, b.sub))
        and (a.host, a.mirror, a.status, a.acc) == (b.host, b.mirror, b.status, b.acc)
    )


def _find(p: Params, matches: Callable[[State], bool]) -> str:
    if p.nodes > 3 or p.nodes * p.resources > 6:
        return f"not checked: {p.nodes} nodes and {p.resources} resources are too many for explicit search here"
    for i, s in enumerate(reachable(p)):
        if matches(s):
            return f"yes: reachable with {p.nodes} nodes, {p.resources} resources, 1 failure, 1 restart, 1 change"
        if i >= REACHABILITY_STATE_LIMIT:
            return f"unknown: not among the first {REACHABILITY_STATE_LIMIT:,} reachable states"
    return f"no: not reachable with {p.nodes} nodes, {p.resources} resources, 1 failure, 1 restart, 1 change"


def group_reachability(mutant: Mutant, access: tuple[int, ...], gs: GroupState) -> str:
    """Does some reachable state with this wiring hold this group state (a view or durable)?"""
    p = Params(len(access), len(gs.mirror), 1, 1, 1, mutant)

    def matches(s: State) -> bool:
        views = [v for v in s.view if isinstance(v, GroupState)] + [s.durable]
        return s.access == access and any(_same_view(v, gs) for v in views)

    return _find(p, matches)


def describe_group_cti(
    voc: Vocabulary, pre: RGroupState, t: Transition | None, mutant: Mutant
) -> Callable[[z3.ModelRef], tuple[str, str]]:
    def describe(model: z3.ModelRef) -> tuple[str, str]:
        u = _Universe(model, voc)
        access = u.access()
        before = u.group_state(pre)
        lines = ["  pre-state (a group state: a view, a GROUP_STATE payload or durable):"]
        lines += [f"       access[n{i + 1}] = {rset_str(a)}" for i, a in enumerate(access)]
        lines += [f"       {k} = {v}" for k, v in view_fields(before).items() if not k.startswith("inc")]
        if t is not None:
            after = u.group_state(t.post)
            lines.append(f"  action: {t.action}({_params(u, t.params)})")
            lines.append("  post-state (changes):")
            lines += [f"       {line}" for line in diff(view_fields(before), view_fields(after))]
        return "\n".join(lines), group_reachability(mutant, access, before)

    return describe


def describe_config_cti(
    voc: Vocabulary, st: NodeLevel, step: tuple[str, NodeLevel] | None, params: dict[str, Term]
) -> Callable[[z3.ModelRef], tuple[str, str]]:
    def fields(u: _Universe, s: NodeLevel) -> dict[str, str]:
        out: dict[str, str] = {}
        for i, n in enumerate(u.nodes):
            phase = u.model.eval(s.phase(n), model_completion=True).as_long()
            out[f"phase[n{i + 1}]"] = PHASE_NAMES[phase] if 0 <= phase < len(PHASE_NAMES) else str(phase)
            for k, q in enumerate(u.res):
                out[f"cfg[n{i + 1}][r{k + 1}]"] = u.value(s.cfg(n, q))
            if u.true(s.has_view(n)):
                for k, q in enumerate(u.res):
                    members = [f"n{j + 1}" for j, m in enumerate(u.nodes) if u.true(s.view_member(n, m, q))]
                    hosts = [f"n{j + 1}" for j, m in enumerate(u.nodes) if u.true(s.view_hosts(n, q, m))]
                    out[f"view[n{i + 1}].sub[r{k + 1}]"] = "{" + ", ".join(members) + "}"
                    out[f"view[n{i + 1}].host[r{k + 1}]"] = hosts[0] if hosts else "none"
            else:
                out[f"view[n{i + 1}]"] = "NoView"
        for k, q in enumerate(u.res):
            out[f"resVer[r{k + 1}]"] = u.value(s.res_ver(q))
        for i, a in enumerate(u.nodes):
            for j, b in enumerate(u.nodes):
                for k, q in enumerate(u.res):
                    if u.true(s.config_sent(a, b, q)):
                        out[f"chan[n{i + 1}->n{j + 1}] CONFIG(r{k + 1})"] = (
                            f"version <= {u.value(s.config_ver(a, b, q))}"
                        )
        return out

    def describe(model: z3.ModelRef) -> tuple[str, str]:
        u = _Universe(model, voc)
        before = fields(u, st)
        lines = ["  pre-state (configuration level):"]
        lines += [f"       access[n{i + 1}] = {rset_str(a)}" for i, a in enumerate(u.access())]
        lines += [f"       {k} = {v}" for k, v in before.items()]
        if step is not None:
            action, post = step
            lines.append(f"  action: {action}({_params(u, params)})")
            lines.append("  post-state (changes):")
            lines += [f"       {line}" for line in diff(before, fields(u, post))]
        return "\n".join(lines), "not checked: the configuration level abstracts views and channels"

    return describe
