"""Liveness under weak fairness, on the full state graph.

The liveness properties of PROTOCOL.md section 6, one operator each in the spec:

- `JoinsEnd`: for every node, being in the middle of a join leads to being a member,
  rejected or down (a join ends unless the joiner fails).
- `MirroringResumes`: for every resource, being a hosted backup while a primary host
  exists leads to its mirror being active in the primary host's view, or to that
  situation ending (the host or the primary host goes away).
- `ConfigConverges`: eventually always, every member holds the version stored on
  its resource (the bounded configuration changes eventually stop).
- `WritesEnd` (with writes): for every write, pending at a writer that is a live member
  leads to it being acknowledged or refused, or to the writer failing.
- With resource failures: `LossNoticed` (a failed resource whose host has not delivered its
  failure leads to that host delivering it, or to the resource's repair or the host's
  failure), `RepairNoticed` (the same for a repair), and `FailoverHappens` (the production
  copy failed while, in the primary host's view, a backup is synchronised and hosted by a
  live member h: some member then serves as primary host on another copy, unless the copy
  comes back or h fails). A repaired resource mirrors again by `RepairNoticed` and
  `MirroringResumes`.

A join ends also when the joiner's resource has failed (it waits for the repair, which
may never come); `MirroringResumes` is about backups that have not failed while the
production copy has not failed; `ConfigConverges` leaves out members of failed resources.

Fairness is weak fairness per action instance (`WF_vars(Deliver(n))` for each n, and
so on) for every action except the environment's `Crash`, `Pause`, `Restart`,
`ChangeConfig`, `Write`, `FailResource` and `RepairResource`. A behaviour violating
`P ~> Q` reaches a P-state and then stays in not-Q forever: it ends in a strongly
connected component of the not-Q states that is *fair* (every fair action continuously
enabled there is also taken there), or in a terminal state, where stuttering is fair
because nothing is enabled. The checker finds those components with Tarjan's algorithm
and prints the counterexample as a lasso: a shortest prefix, then the cycle (or the
stuttering end).

Symmetry reduction is not used here: merging states by renaming nodes is unsound for
per-node fairness, so the graph is built over concrete states.
"""

from __future__ import annotations

import gc
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pbjoin_model.protocol.machine import (
    DOWN,
    M_ACTIVE,
    MEMBER,
    NO_NODE,
    REJECTED,
    W_PENDING,
    WAIT_CONFIG,
    WAIT_PLACE,
    WAIT_STATE,
    GroupState,
    Params,
    State,
    Step,
    abdicated,
    has,
    is_primary_host,
    reporter,
    res_of,
    usable_primary_host,
)
from pbjoin_model.protocol.state_graph import Graph, build_graph, can_reach, fair_end, tarjan

Predicate = Callable[[State], bool]


# ---------------------------------------------------------------- properties


def primary_host(s: State) -> int:
    """The live node that believes it is the primary host, or NO_NODE."""
    for n, gs in enumerate(s.view):
        if isinstance(gs, GroupState) and is_primary_host(gs, n):
            return n
    return NO_NODE


def joining(n: int) -> Predicate:
    return lambda s: s.phase[n] in (WAIT_STATE, WAIT_PLACE, WAIT_CONFIG)


def _own_resource_lost(s: State, n: int) -> bool:
    gs = s.view[n]
    return isinstance(gs, GroupState) and has(gs.lost, res_of(gs, n))


def join_ended(n: int) -> Predicate:
    return lambda s: s.phase[n] in (MEMBER, REJECTED, DOWN) or (s.phase[n] == WAIT_CONFIG and _own_resource_lost(s, n))


def hosted_backup(r: int) -> Predicate:
    def holds(s: State) -> bool:
        ph = primary_host(s)
        if ph == NO_NODE:
            return False
        gs = s.view[ph]
        assert isinstance(gs, GroupState)
        return r != gs.prim and gs.host[r] != NO_NODE and not has(gs.lost, r) and not has(gs.lost, gs.prim)

    return holds


def mirror_active_or_gone(r: int) -> Predicate:
    hosted = hosted_backup(r)

    def holds(s: State) -> bool:
        if not hosted(s):
            return True
        gs = s.view[primary_host(s)]
        assert isinstance(gs, GroupState)
        return gs.mirror[r] == M_ACTIVE

    return holds


def config_converged(s: State) -> bool:
    for n, gs in enumerate(s.view):
        if s.phase[n] == MEMBER and isinstance(gs, GroupState):
            r = res_of(gs, n)
            if s.cfg[n][r] != s.resVer[r] and not has(gs.lost, r):
                return False
    return True


def write_pending(w: int) -> Predicate:
    return lambda s: s.writes[w].st == W_PENDING and s.phase[s.writes[w].by] == MEMBER


def write_answered_or_writer_gone(w: int) -> Predicate:
    return lambda s: s.writes[w].st != W_PENDING or s.phase[s.writes[w].by] != MEMBER


def _unnoticed(s: State, r: int, failed: bool) -> bool:
    """r's host (in its own view, placed) has not delivered that r failed (or came back) though it did."""
    if has(s.broken, r) != failed:
        return False
    views = (reporter(s, n, r) for n in range(len(s.phase)))
    return any(gs is not None and has(gs.lost, r) != failed for gs in views)


def loss_unnoticed(r: int) -> Predicate:
    return lambda s: _unnoticed(s, r, failed=True)


def repair_unnoticed(r: int) -> Predicate:
    return lambda s: _unnoticed(s, r, failed=False)


def failover_pending(r: int, b: int, h: int) -> Predicate:
    """The primary copy r failed while, in the primary host's view, backup b is synchronised and
    hosted by h, a live member."""

    def holds(s: State) -> bool:
        ph = primary_host(s)
        if ph == NO_NODE or not has(s.broken, r) or s.phase[h] != MEMBER:
            return False
        gs = s.view[ph]
        assert isinstance(gs, GroupState)
        return gs.prim == r and gs.mirror[b] == M_ACTIVE and gs.host[b] == h

    return holds


def failed_over(r: int, h: int) -> Predicate:
    """A member serves as primary host on another copy, or r came back, or h failed."""

    def holds(s: State) -> bool:
        if not has(s.broken, r) or s.phase[h] != MEMBER:
            return True
        return any(
            gs.prim != r and usable_primary_host(gs, n) and not abdicated(s, n, gs)
            for n, gs in enumerate(s.view)
            if isinstance(gs, GroupState)
        )

    return holds


def negation(pred: Predicate) -> Predicate:
    return lambda s: not pred(s)


@dataclass(frozen=True)
class LeadsTo:
    """P ~> Q for one instance (node or resource) of a property."""

    name: str
    instance: str
    p: Predicate
    q: Predicate


@dataclass(frozen=True)
class EventuallyAlways:
    """<>[]C."""

    name: str
    c: Predicate


Property = LeadsTo | EventuallyAlways


def properties(params: Params) -> list[Property]:
    props: list[Property] = [LeadsTo("JoinsEnd", f"n{n + 1}", joining(n), join_ended(n)) for n in range(params.nodes)]
    props += [
        LeadsTo("MirroringResumes", f"r{r + 1}", hosted_backup(r), mirror_active_or_gone(r))
        for r in range(params.resources)
    ]
    props.append(EventuallyAlways("ConfigConverges", config_converged))
    props += [
        LeadsTo("WritesEnd", f"w{w + 1}", write_pending(w), write_answered_or_writer_gone(w))
        for w in range(params.max_writes)
    ]
    if params.max_resource_failures:
        for r in range(params.resources):
            props += [
                LeadsTo("LossNoticed", f"r{r + 1}", loss_unnoticed(r), negation(loss_unnoticed(r))),
                LeadsTo("RepairNoticed", f"r{r + 1}", repair_unnoticed(r), negation(repair_unnoticed(r))),
            ]
            props += [
                LeadsTo(
                    "FailoverHappens", f"r{r + 1} to r{b + 1} at n{h + 1}", failover_pending(r, b, h), failed_over(r, h)
                )
                for b in range(params.resources)
                if b != r
                for h in range(params.nodes)
            ]
    return props


PROPERTY_NAMES = (
    "JoinsEnd",
    "MirroringResumes",
    "ConfigConverges",
    "WritesEnd",
    "LossNoticed",
    "RepairNoticed",
    "FailoverHappens",
)


# ---------------------------------------------------------------- the state graph


# ---------------------------------------------------------------- checking


@dataclass
class Lasso:
    prefix: list[Step]  # from an initial state ("Init" first) to the first state of the loop
    cycle: list[Step]  # steps from the loop's first state back to it; empty: stutters forever


@dataclass
class PropertyResult:
    name: str
    instance: str
    holds: bool
    lasso: Lasso | None = None


@dataclass
class LivenessResult:
    params: Params
    distinct: int
    seconds: float
    results: list[PropertyResult]
    cut_by: str | None = None  # set when the graph was too large: nothing was checked

    @property
    def holds(self) -> bool:
        return self.cut_by is None and all(r.holds for r in self.results)

    @property
    def violated(self) -> bool:
        return any(not r.holds for r in self.results)


def check_liveness(p: Params, max_states: int | None = None) -> LivenessResult:
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.monotonic()
        g = build_graph(p, max_states)
        if g is None:
            return LivenessResult(p, max_states or 0, time.monotonic() - start, [], f"max states {max_states}")
        results = [_check_property(g, prop) for prop in properties(p)]
        return LivenessResult(p, len(g.states), time.monotonic() - start, results)
    finally:
        if enabled:
            gc.enable()


def _check_property(g: Graph, prop: Property) -> PropertyResult:
    """Find a fair behaviour that violates the property, or show there is none.

    `P ~> Q` fails when a reachable P-state can stay among not-Q states forever,
    i.e. reach a fair end inside them. `<>[]C` fails when a fair end contains a
    not-C state (a fair cycle passes through it infinitely often, or the behaviour
    stutters in it).
    """
    n = len(g.states)
    if isinstance(prop, LeadsTo):
        inside = [not prop.q(s) for s in g.states]
        starts = {i for i in range(n) if inside[i] and prop.p(g.states[i])}
        instance = prop.instance
    else:
        inside = [True] * n
        starts = {i for i in range(n) if not prop.c(g.states[i])}
        instance = ""
    accepting: set[int] = set()
    loops: dict[int, list[int]] = {}
    for comp in tarjan(g, inside):
        if not fair_end(g, comp):
            continue
        if isinstance(prop, EventuallyAlways) and starts.isdisjoint(comp):
            continue
        for v in comp:
            accepting.add(v)
            loops[v] = comp
    candidates = starts & can_reach(g, accepting, inside) if isinstance(prop, LeadsTo) else starts & accepting
    if not candidates:
        return PropertyResult(prop.name, instance, True)
    first = min(candidates, key=lambda i: (_depth(g, i), i))
    return PropertyResult(prop.name, instance, False, _lasso(g, first, accepting, loops, inside))


def _depth(g: Graph, i: int) -> int:
    d = 0
    while g.parent[i] >= 0:
        i = g.parent[i]
        d += 1
    return d


def _step(g: Graph, v: int, w: int, via: int | None = None) -> Step:
    a = via if via is not None else next(a for t, a in g.edges[v] if t == w)
    action, params = g.instances[a]
    return Step(action, params, g.states[w])


def _path_within(g: Graph, src: int, goal: Callable[[int], bool], allowed: Callable[[int], bool]) -> list[int]:
    """Shortest path of states from src to a goal state, through allowed states only."""
    prev = {src: -1}
    queue = deque([src])
    while queue:
        v = queue.popleft()
        if goal(v):
            path = []
            while v >= 0:
                path.append(v)
                v = prev[v]
            return path[::-1]
        for w, _ in g.edges[v]:
            if w not in prev and allowed(w):
                prev[w] = v
                queue.append(w)
    raise AssertionError("no path")


def _lasso(g: Graph, first: int, accepting: set[int], loops: dict[int, list[int]], inside: list[bool]) -> Lasso:
    chain = []
    v = first
    while v >= 0:
        chain.append(v)
        v = g.parent[v]
    chain.reverse()
    prefix = [Step("Init", (), g.states[chain[0]])]
    prefix += [_step(g, a, b) for a, b in itertools.pairwise(chain)]
    to_loop = _path_within(g, first, lambda x: x in accepting, lambda x: inside[x])
    prefix += [_step(g, a, b) for a, b in itertools.pairwise(to_loop)]
    entry = to_loop[-1]
    comp = set(loops[entry])
    if len(comp) == 1 and not g.edges[entry]:
        return Lasso(prefix, [])
    # A cycle through the component that takes every edge once would be fair; taking
    # one edge per fair instance is enough, so walk to each such edge and back.
    cycle: list[Step] = []
    here = entry
    needed = {a: (v, w) for v in comp for w, a in g.edges[v] if w in comp}
    for v, w in needed.values():
        path = _path_within(g, here, v.__eq__, comp.__contains__)
        cycle += [_step(g, a, b) for a, b in itertools.pairwise(path)]
        cycle.append(_step(g, v, w))
        here = w
    back = _path_within(g, here, entry.__eq__, comp.__contains__)
    cycle += [_step(g, a, b) for a, b in itertools.pairwise(back)]
    return Lasso(prefix, cycle)
