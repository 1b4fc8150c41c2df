"""Exhaustive replay: every behaviour of the model, up to a depth, run on the implementation.

For each wiring, the in-memory engine (with in-memory disks) starts beside the
model's initial state. At every state reached, the implementation must offer
exactly the model's enabled actions (model behaviours are replayable, and the
implementation can do nothing the model cannot); every action is then taken on a
copy of the engine, and the engine's whole state must map (by the refinement
mapping) onto the model's successor, and the logged step must validate.

States are expanded once: the implementation's state is a function of its mapped
model state (configuration data and mirrored data are determined by the versions
and by the fixed production data), so a second path to the same state has the same
future. Behaviours are counted over the explored graph: every path of at most
`depth` steps that ends at the bound or at a state with no successor.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from pbjoin.engine import InMemoryEngine
from pbjoin.member import Member
from pbjoin.resources import Disk, MemoryDisks
from pbjoin.runtime import MemberFactory
from pbjoin.steplog import MemoryLog
from pbjoin_model.conformance.refinement import (
    ConfigTexts,
    Correspondence,
    Divergence,
    abstract,
    check_step,
    differences,
)
from pbjoin_model.conformance.refinement import offered as offered_steps
from pbjoin_model.protocol import machine as m
from pbjoin_model.protocol.machine import Params, State


@dataclass
class ReplayReport:
    wirings: int
    states: int  # distinct model states checked against the implementation
    transitions: int  # actions taken on both sides and compared
    behaviours: int  # paths of at most `depth` steps covered
    depth: int
    seconds: float
    complete: bool = True  # every behaviour ended within the depth (none was cut)
    actions: Counter[str] = field(default_factory=Counter)  # transitions compared, per action
    divergence: Divergence | None = None
    path: tuple[str, ...] = ()  # the actions leading to the divergence

    @property
    def conforms(self) -> bool:
        return self.divergence is None


def engine_for(access: tuple[int, ...], p: Params, member_factory: MemberFactory = Member) -> InMemoryEngine:
    resources = tuple(m.res_name(r) for r in range(p.resources))
    disks = {
        r: Disk(1, f"{r} initial configuration", {"data": "production"} if i == 0 else {})
        for i, r in enumerate(resources)
    }
    nodes = {
        m.node_name(n): MemoryDisks(disks, frozenset(r for i, r in enumerate(resources) if access[n] >> i & 1))
        for n in range(p.nodes)
    }
    return InMemoryEngine("replay", resources, dict(nodes), MemoryLog(), member_factory)


def replay(
    p: Params,
    depth: int,
    member_factory: MemberFactory = Member,
    progress: Callable[[int, int, int], None] | None = None,
) -> ReplayReport:
    """Replay every model behaviour of at most `depth` steps, for every wiring, on the engine."""
    bounded = dataclasses.replace(p, compact_log=False)
    start = time.perf_counter()
    report = ReplayReport(wirings=0, states=0, transitions=0, behaviours=0, depth=depth, seconds=0.0)
    for init in m.initial_states(bounded):
        report.wirings += 1
        engine = engine_for(init.access, bounded, member_factory)
        corr = Correspondence.of(engine.cluster)
        unbounded = dataclasses.replace(corr.params(p.max_writes), mutant=p.mutant)
        if _replay_from(init, engine, corr, bounded, unbounded, depth, report, ConfigTexts()):
            break
        if progress is not None:
            progress(report.wirings, report.states, report.behaviours)
    report.seconds = time.perf_counter() - start
    return report


def _replay_from(
    init: State,
    engine: InMemoryEngine,
    corr: Correspondence,
    bounded: Params,
    unbounded: Params,
    depth: int,
    report: ReplayReport,
    texts: ConfigTexts,
) -> bool:
    """Explore one wiring; True when a divergence was found (recorded in the report)."""
    successors: dict[State, list[State]] = {}
    engines: dict[State, InMemoryEngine] = {init: engine}
    paths: dict[State, tuple[str, ...]] = {init: ()}
    level: Counter[State] = Counter({init: 1})
    for _ in range(depth):
        following: Counter[State] = Counter()
        for s, count in level.items():
            if s not in successors:
                found = _expand(s, engines.pop(s), corr, bounded, unbounded, paths, engines, report, texts)
                if found is None:
                    return True
                successors[s] = found
                report.states += 1
            if not successors[s]:
                report.behaviours += count
            for t in successors[s]:
                following[t] += count
        level = following
    report.behaviours += sum(level.values())
    report.states += sum(1 for s in level if s not in successors)
    if any(successors.get(s, True) for s in level):
        report.complete = False  # some behaviour may continue past the depth
    return False


def _expand(
    s: State,
    engine: InMemoryEngine,
    corr: Correspondence,
    bounded: Params,
    unbounded: Params,
    paths: dict[State, tuple[str, ...]],
    engines: dict[State, InMemoryEngine],
    report: ReplayReport,
    texts: ConfigTexts,
) -> list[State] | None:
    offered = {a.label() for a in offered_steps(engine, s)}
    allowed = {corr.action(step).label() for step in m.successors(s, unbounded)}
    if offered != allowed:
        rows = [("enabled", ", ".join(sorted(allowed - offered)) or "-", ", ".join(sorted(offered - allowed)) or "-")]
        report.divergence = Divergence(0, "(state)", "the implementation offers other actions than the model", rows)
        report.path = paths[s]
        return None
    found = []
    for step in m.successors(s, bounded):
        action = corr.action(step)
        child = engine.fork(MemoryLog())
        record = child.step(action)
        report.transitions += 1
        report.actions[step.action] += 1
        rows = check_step(corr, s, step.state, record, texts=texts) or differences(
            step.state, abstract(child, corr, step.state, texts), corr
        )
        if rows:
            report.divergence = Divergence(record.seq, action.label(), "the implementation's step disagrees", rows)
            report.path = (*paths[s], action.label())
            return None
        if step.state not in paths:
            paths[step.state] = (*paths[s], action.label())
            engines[step.state] = child
        found.append(step.state)
    return found
