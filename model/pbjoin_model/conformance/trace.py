"""Implementation logs as traces, and traces replayed on the implementation.

`trace_of_log` turns a step log into the trace model every other source uses (the
model states the logged steps lead to, validated on the way), so `pbjoin trace
show/view/itf` and `pbjoin replay` read implementation logs like checker, BMC and
TLC traces. `replay_on_implementation` runs any trace's steps on the in-memory
engine and compares whole states through the refinement mapping.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from pbjoin.engine import WriteFate
from pbjoin.member import Member
from pbjoin.steplog import ClusterRecord, StepRecord
from pbjoin_model.conformance.refinement import (
    STUTTERS,
    ConformanceError,
    Contents,
    Correspondence,
    Divergence,
    WriteNumbers,
    abstract,
    check_step,
    differences,
    environment_steps,
    model_step,
    write_request,
)
from pbjoin_model.conformance.refinement import offered as offered_steps
from pbjoin_model.conformance.replay import engine_for
from pbjoin_model.protocol import machine as m
from pbjoin_model.protocol.machine import Step
from pbjoin_model.traces.trace import Trace


def trace_of_log(cluster: ClusterRecord, steps: list[StepRecord], name: str = "implementation log") -> Trace:
    """The model behaviour a conforming log stands for (its rejected-message steps are stutters).

    A log with client writes becomes a trace of the model with as many writes, numbered as
    `validate_log` numbers them. A lone intent (a process killed inside a step) is read as
    the step not taken: where that does not explain the rest, `pbjoin conform` does.
    """
    corr = Correspondence.of(cluster)
    max_writes = sum(1 for rec in steps if rec.step == "Write")
    p = corr.params(max_writes, resource_failures=True)
    s = corr.initial_state(cluster.access, max_writes)
    ledger: dict[str, WriteFate] = {}
    numbers = WriteNumbers(ledger) if max_writes else None
    texts = Contents()
    trace = [Step("Init", (), s)]
    for rec in steps:
        if rec.step in STUTTERS or rec.intent:
            continue
        label = f"{rec.step}({', '.join(f'{k}={v}' for k, v in rec.params.items())})"
        if rec.step == "Write":
            request = write_request(rec)
            if request is None or request[0] in ledger:
                raise ConformanceError(f"logged step {rec.seq} {label} does not log its client's request")
            ledger[request[0]] = WriteFate(by=rec.member, key=request[1], value=request[2], epoch=rec.post.epoch)
        for env in environment_steps(s, p, corr, rec):  # a resource failing or coming back, unlogged
            trace.append(env)
            s = env.state
        t = model_step(s, p, corr, rec.step, rec.params)
        if t is None or check_step(corr, s, t, rec, numbers, texts):
            reason = "is not enabled in the model" if t is None else "disagrees with the model's successor"
            raise ConformanceError(f"logged step {rec.seq} {label} {reason} (`pbjoin conform LOG` shows both sides)")
        params = tuple((k, corr.res(v) if k == "r" else corr.node(v)) for k, v in rec.params.items())
        trace.append(Step(rec.step, params, t))
        s = t
    renamed = [f"{m.node_name(i)}={n}" for i, n in enumerate(corr.nodes) if m.node_name(i) != n]
    source = f"{name} ({cluster.engine} engine)" + (f", nodes {' '.join(renamed)}" if renamed else "")
    return Trace(p, tuple(trace), None, source)


@dataclass(frozen=True)
class ImplementationReplay:
    steps: int  # steps taken on both sides with agreeing states
    total: int
    divergence: Divergence | None

    @property
    def conforms(self) -> bool:
        return self.divergence is None

    def render(self) -> str:
        if self.divergence is None:
            return f"implementation replayed all {self.total} steps; its state agrees with the trace after each"
        return (
            f"implementation DIVERGES after {self.steps} of {self.total} steps\n{self.divergence.render()}\n"
            "(a trace of a mutant diverges where the implementation does not share its bug)"
        )


def replay_on_implementation(trace: Trace) -> ImplementationReplay:
    """Take the trace's steps on a fresh in-memory engine wired as the trace's first state."""
    p = dataclasses.replace(trace.params, compact_log=False)
    first = trace.steps[0].state
    engine = engine_for(first.access, p, Member)
    corr = Correspondence.of(engine.cluster)
    s = m.initial_state(p, first.access)
    texts = Contents()
    total = len(trace.steps) - 1
    for i, step in enumerate(trace.steps[1:], 1):
        action = corr.action(step)
        if step.action in ("FailResource", "RepairResource"):
            engine.set_resource_failed(dict(action.params)["r"], step.action == "FailResource")
        elif not engine.is_enabled(action):
            offered = ", ".join(a.label() for a in offered_steps(engine, s)) or "nothing"
            rows = [("enabled", action.label(), offered)]
            return ImplementationReplay(i - 1, total, Divergence(i, action.label(), "not enabled on the engine", rows))
        else:
            engine.step(action)
        t = model_step(s, p, corr, step.action, dict(action.params))
        if t is None:
            raise ConformanceError(f"step {i} {action.label()} is not enabled in the model: replay the trace there")
        rows = differences(t, abstract(engine, corr, t, texts), corr)
        if rows:
            return ImplementationReplay(i - 1, total, Divergence(i, action.label(), "states differ", rows))
        s = t
    return ImplementationReplay(total, total, None)
