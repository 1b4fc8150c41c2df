"""Exhaustive replay: every behaviour of the model, up to a depth, run on the implementation.

For each wiring, the in-memory engine (with in-memory disks) starts beside the
model's initial state. At every state reached, the implementation must offer
exactly the model's enabled actions (model behaviours are replayable, and the
implementation can do nothing the model cannot); every action is then taken on a
copy of the engine, and the engine's whole state must map (by the refinement
mapping) onto the model's successor, and the logged step must validate.

The model runs beside the engine with absolute log positions (as the engine has
them), but a state is expanded once per state of the checker's state space: its log
compacted and, with symmetry, its nodes renamed to the orbit's representative (only
one wiring per orbit is started). The implementation's state is a function of that
state up to renaming and renumbering (configuration texts and mirrored data are
determined by the versions and by the fixed production data), so a second path to
the same state has the same future. The transitions replayed are therefore counted
against the checker's: `coverage` is the share of the model's transitions (up to
symmetry) that ran on the implementation, 1.0 when the replay is complete.
Behaviours are counted over the explored graph: every path of at most `depth` steps
that ends at the bound or at a state with no successor.

With `crash_points`, every transition whose node may crash is also taken crashing just
before each of the file operations its effects perform (the disks count them): the
member dies with whatever the step would have sent, and the group fails it. The result
must be the model's Crash of that node from the state before the step, except that each
resource may hold what the step wrote to it: every file readable, holding the old or the
new content. Those states are checked, not explored further.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pbjoin.engine import Action, InMemoryEngine
from pbjoin.member import Member
from pbjoin.resources import Disk, MemoryDisks, ResourceError
from pbjoin.runtime import MemberFactory
from pbjoin.steplog import MemoryLog, StepRecord
from pbjoin_model.conformance.refinement import (
    ENVIRONMENT_ACTIONS,
    ConformanceError,
    Contents,
    Correspondence,
    Divergence,
    abstract,
    broken_resources,
    check_step,
    differences,
)
from pbjoin_model.conformance.refinement import offered as offered_steps
from pbjoin_model.protocol import machine as m
from pbjoin_model.protocol.machine import Params, State
from pbjoin_model.protocol.symmetry import canonical

# The production copy's data files at the start: more than one, so a copy that drops or
# garbles one of them differs from the production copy.
PRODUCTION_DATA = {"customers": "ada, grace", "orders": "o1: 3 disks"}

# What a step writes on a resource: after a crash inside the step, each resource holds either
# the values before the step or those after it.
RESOURCE_VARIABLES = ("resVer", "dataCurrent", "data", "fence")


@dataclass
class ReplayReport:
    wirings: int
    states: int  # distinct model states checked against the implementation
    transitions: int  # actions taken on both sides and compared
    behaviours: int  # paths of at most `depth` steps covered
    depth: int
    seconds: float
    model_transitions: int = 0  # the checker's transitions (up to symmetry) that replay could cover
    complete: bool = True  # every behaviour ended within the depth (none was cut)
    actions: Counter[str] = field(default_factory=Counter)  # transitions compared, per action
    crash_points: int = 0  # crashes inside a step's file operations checked
    witnessed: int = 0  # states replayed that satisfy replay's `witness`
    divergence: Divergence | None = None
    path: tuple[str, ...] = ()  # the actions leading to the divergence

    @property
    def conforms(self) -> bool:
        return self.divergence is None

    @property
    def coverage(self) -> float:
        """The share of the model's transitions replayed on the implementation."""
        return self.transitions / self.model_transitions if self.model_transitions else 1.0


DisksFactory = Callable[[dict[str, Disk], frozenset[str]], MemoryDisks]


def engine_for(
    access: tuple[int, ...],
    p: Params,
    member_factory: MemberFactory = Member,
    disks_factory: DisksFactory = MemoryDisks,
    engine_class: type[InMemoryEngine] = InMemoryEngine,
) -> InMemoryEngine:
    resources = tuple(m.res_name(r) for r in range(p.resources))
    disks = {
        r: Disk(1, f"{r} initial configuration", dict(PRODUCTION_DATA) if i == 0 else {})
        for i, r in enumerate(resources)
    }
    nodes = {
        m.node_name(n): disks_factory(disks, frozenset(r for i, r in enumerate(resources) if access[n] >> i & 1))
        for n in range(p.nodes)
    }
    return engine_class("replay", resources, dict(nodes), MemoryLog(), member_factory)


@dataclass
class _Keys:
    """The checker's name for a state replay reached: compacted log, canonical node names."""

    compacting: Params
    symmetry: bool

    def of(self, s: State) -> State:
        compacted = m.compact(s, self.compacting)
        return canonical(compacted) if self.symmetry else compacted


def logged_as(action: Action, record: StepRecord) -> list[tuple[str, str, str]]:
    """A row when the step logged is not the step taken (its name, node or parameters)."""
    params = dict(action.params)
    if (record.step, record.params, record.member) == (action.name, params, params.get("n")):
        return []
    logged = ", ".join(f"{k}={v}" for k, v in record.params.items())
    return [("logged step", action.label(), f"{record.step}({logged}) by {record.member}")]


def model_transitions(p: Params, symmetry: bool = True) -> int:
    """Transitions of the checker's state space (up to symmetry): what replay can cover."""
    keys = _Keys(dataclasses.replace(p, compact_log=True), symmetry)
    frontier = list({keys.of(s) for s in m.initial_states(keys.compacting)})
    seen = set(frontier)
    total = 0
    while frontier:
        s = frontier.pop()
        for step in m.successors(s, keys.compacting):
            total += 1
            key = keys.of(step.state)
            if key not in seen:
                seen.add(key)
                frontier.append(key)
    return total


def replay(
    p: Params,
    depth: int,
    member_factory: MemberFactory = Member,
    progress: Callable[[int, int, int], None] | None = None,
    disks_factory: DisksFactory = MemoryDisks,
    symmetry: bool = True,
    wiring: tuple[int, ...] | None = None,
    crash_points: bool = False,
    engine_class: type[InMemoryEngine] = InMemoryEngine,
    witness: Callable[[State], bool] | None = None,
) -> ReplayReport:
    """Replay every model behaviour of at most `depth` steps, for every wiring (one per orbit
    with `symmetry`), or only from `wiring` (each node's resources, a bit each), on the engine;
    with `crash_points`, also crash each step's node before each of its file operations. The
    report counts the states replayed that satisfy `witness` (to show a scenario is among them)."""
    bounded = dataclasses.replace(p, compact_log=False)
    keys = _Keys(dataclasses.replace(p, compact_log=True), symmetry)
    start = time.perf_counter()
    report = ReplayReport(
        wirings=0,
        states=0,
        transitions=0,
        behaviours=0,
        depth=depth,
        seconds=0.0,
        model_transitions=model_transitions(p, symmetry),
    )
    started: set[State] = set()
    for init in m.initial_states(bounded):
        if keys.of(init) in started or wiring not in (None, init.access):
            continue
        started.add(keys.of(init))
        report.wirings += 1
        engine = engine_for(init.access, bounded, member_factory, disks_factory, engine_class)
        corr = Correspondence.of(engine.cluster)
        unbounded = dataclasses.replace(
            corr.params(p.max_writes), mutant=p.mutant, max_resource_failures=p.max_resource_failures
        )
        replayer = _Replayer(corr, bounded, unbounded, keys, report, crash_points, witness)
        if replayer.explore(init, engine, depth):
            break
        if progress is not None:
            progress(report.wirings, report.states, report.behaviours)
    report.seconds = time.perf_counter() - start
    return report


@dataclass
class _Replayer:
    """One wiring's replay; the states it expands are shared with no other wiring (the
    wiring is part of the state)."""

    corr: Correspondence
    bounded: Params
    unbounded: Params
    keys: _Keys
    report: ReplayReport
    crash_points: bool
    witness: Callable[[State], bool] | None
    texts: Contents = field(default_factory=Contents)
    successors: dict[State, list[State]] = field(default_factory=dict)  # by key
    engines: dict[State, tuple[State, InMemoryEngine]] = field(default_factory=dict)  # key -> (state, engine)
    paths: dict[State, tuple[str, ...]] = field(default_factory=dict)  # by key

    def explore(self, init: State, engine: InMemoryEngine, depth: int) -> bool:
        """True when a divergence was found (recorded in the report)."""
        first = self.keys.of(init)
        self.engines[first], self.paths[first] = (init, engine), ()
        level: Counter[State] = Counter({first: 1})
        for _ in range(depth):
            following: Counter[State] = Counter()
            for key, count in level.items():
                if key not in self.successors:
                    found = self._expand(key)
                    if found is None:
                        return True
                    self.successors[key] = found
                    self.report.states += 1
                if not self.successors[key]:
                    self.report.behaviours += count
                for child in self.successors[key]:
                    following[child] += count
            level = following
        self.report.behaviours += sum(level.values())
        self.report.states += sum(1 for key in level if key not in self.successors)
        if any(self.successors.get(key, True) for key in level):
            self.report.complete = False  # some behaviour may continue past the depth
        return False

    def _expand(self, key: State) -> list[State] | None:
        s, engine = self.engines.pop(key)
        corr, report = self.corr, self.report
        if self.witness is not None and self.witness(s):
            report.witnessed += 1
        offered = {a.label() for a in offered_steps(engine, s)} | self._environment(engine, s)
        allowed = {corr.action(step).label() for step in m.successors(s, self.unbounded)}
        if offered != allowed:
            rows = [
                ("enabled", ", ".join(sorted(allowed - offered)) or "-", ", ".join(sorted(offered - allowed)) or "-")
            ]
            report.divergence = Divergence(0, "(state)", "the implementation offers other actions than the model", rows)
            report.path = self.paths[key]
            return None
        found = []
        for step in m.successors(s, self.bounded):
            action = corr.action(step)
            child = engine.fork(MemoryLog())
            report.transitions += 1
            report.actions[step.action] += 1
            if step.action in ENVIRONMENT_ACTIONS:  # a resource fails or comes back: no member's step
                child.set_resource_failed(dict(action.params)["r"], step.action == "FailResource")
                rows = differences(step.state, abstract(child, corr, step.state, self.texts), corr)
                if rows:
                    report.divergence = Divergence(0, action.label(), "the engine's resources disagree", rows)
                    report.path = (*self.paths[key], action.label())
                    return None
                found.append(self._child(key, action, step.state, child))
                continue
            record = child.step(action)
            rows = (
                logged_as(action, record)
                or check_step(corr, s, step.state, record, texts=self.texts)
                or differences(step.state, abstract(child, corr, step.state, self.texts), corr)
            )
            if rows:
                report.divergence = Divergence(record.seq, action.label(), "the implementation's step disagrees", rows)
                report.path = (*self.paths[key], action.label())
                return None
            if self.crash_points and not self._crash_inside(key, s, engine, action, step.state, child):
                return None
            found.append(self._child(key, action, step.state, child))
        return found

    def _child(self, key: State, action: Action, t: State, child: InMemoryEngine) -> State:
        child_key = self.keys.of(t)
        if child_key not in self.paths:
            self.paths[child_key] = (*self.paths[key], action.label())
            self.engines[child_key] = (t, child)
        return child_key

    def _environment(self, engine: InMemoryEngine, s: State) -> set[str]:
        """The resource failures and repairs the engine's resources allow (the model's bound aside)."""
        if not self.bounded.max_resource_failures:
            return set()
        broken = broken_resources(engine, self.corr)
        labels = set()
        for r, resource in enumerate(self.corr.resources):
            if broken >> r & 1:
                labels.add(f"RepairResource(r={resource})")
            elif s.resFailures < self.bounded.max_resource_failures:
                labels.add(f"FailResource(r={resource})")
        return labels

    def _crash_inside(
        self, key: State, s: State, engine: InMemoryEngine, action: Action, t: State, done: InMemoryEngine
    ) -> bool:
        """Crash `action`'s node before each file operation the step performed (it ran to the
        end as `done`, reaching t); False when a crash left the resources in a state that is not
        the model's (recorded in the report)."""
        name = dict(action.params).get("n", "")
        n = self.corr.node(name) if name in self.corr.nodes else -1
        crash = m.Crash(s, self.unbounded, n) if n >= 0 else None
        if crash is None:
            return True
        operations = done.runtimes[name].disks.failpoints.reached - engine.runtimes[name].disks.failpoints.reached
        for operation in range(1, operations + 1):
            crashed = engine.fork(MemoryLog())
            record = crashed.crash_inside(action, operation)
            self.report.crash_points += 1
            texts = copy.deepcopy(self.texts)  # a torn or partial file must not become a version's text
            rows = check_step(self.corr, s, crash, record, texts=texts) or self._crash_rows(crashed, t, crash, texts)
            if rows:
                label = f"{action.label()} crashing before its file operation {operation} of {operations}"
                what = "a crash inside the step left what no crash of the model leaves"
                self.report.divergence = Divergence(record.seq, label, what, rows)
                self.report.path = (*self.paths[key], label)
                return False
        return True

    def _crash_rows(
        self, crashed: InMemoryEngine, t: State, crash: State, texts: Contents
    ) -> list[tuple[str, str, str]]:
        """How the crashed engine differs from `crash` with each resource as before or after the step."""
        try:
            actual = abstract(crashed, self.corr, crash, texts)
        except (ResourceError, ConformanceError) as exc:
            return [("resource files", "readable, old or new content", str(exc))]
        expected: dict[str, Any] = {v: getattr(crash, v) for v in RESOURCE_VARIABLES}
        for r in range(len(self.corr.resources)):
            if all(getattr(actual, v)[r] == getattr(t, v)[r] for v in RESOURCE_VARIABLES):
                expected = {v: (*values[:r], getattr(t, v)[r], *values[r + 1 :]) for v, values in expected.items()}
        return differences(crash._replace(**expected), actual, self.corr)
