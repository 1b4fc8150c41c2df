"""Replay a trace on the model: is every step an enabled action, and what is violated?

Replay starts from the trace's first state, which must be an initial state of the
model, and requires each step's action instance to be enabled and to lead to exactly
the recorded state. It stops at the first step that is not, saying which action it
was and what differs; otherwise it evaluates the invariants on the last state (and on
the way, to report where a violation first appears) and confirms the invariant the
trace says is violated.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbjoin_model.explorer.bfs import DEADLOCK
from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import Params, State, Step, initial_states, is_intended_end, successors
from pbjoin_model.traces.render import flatten
from pbjoin_model.traces.trace import Trace

EXIT_HOLDS, EXIT_VIOLATED, EXIT_DIVERGED = 0, 1, 2


@dataclass(frozen=True)
class Divergence:
    step: int
    action: str  # the step's label, e.g. "Deliver(n=n2)"
    reason: str  # one line
    details: tuple[str, ...]  # what differs, or what is enabled instead


@dataclass(frozen=True)
class ReplayResult:
    trace: Trace
    divergence: Divergence | None
    violations: tuple[str, ...]  # what the last state violates (invariants, or Deadlock)
    first_violation: int | None  # the first step whose state violates an invariant

    @property
    def confirmed(self) -> bool:
        """The replay reached the end and the recorded violation (if any) is there."""
        if self.divergence is not None or not self.violations:
            return False
        return self.trace.violated is None or self.trace.violated in self.violations

    @property
    def exit_code(self) -> int:
        if self.divergence is not None:
            return EXIT_DIVERGED
        return EXIT_VIOLATED if self.confirmed else EXIT_HOLDS


def state_diff(model: State, recorded: State) -> tuple[str, ...]:
    """`path: model X, trace Y` for every leaf where the two states differ."""
    a, b = flatten(model), flatten(recorded)
    return tuple(
        f"{key}: model {a.get(key, '(absent)')}, trace {b.get(key, '(absent)')}"
        for key in [*a, *(k for k in b if k not in a)]
        if a.get(key) != b.get(key)
    )


def violated_by(s: State, p: Params) -> tuple[str, ...]:
    """The invariants s violates, and Deadlock if it is a stuck terminal state."""
    bad = [name for name, inv in INVARIANTS if not inv(s, p)]
    if not any(True for _ in successors(s, p)) and not is_intended_end(s):
        bad.append(DEADLOCK)
    return tuple(bad)


def _initial(s: State, p: Params) -> State | None:
    """The model's initial state with s's wiring, or None if s's wiring is not one."""
    if len(s.access) != p.nodes or not all(0 <= a < 1 << p.resources for a in s.access):
        return None
    # Initial states differ only in `access` (one per wiring), so build the one for s's.
    return next(initial_states(p))._replace(access=s.access)


def _check_step(i: int, before: State, step: Step, p: Params) -> Divergence | None:
    enabled = list(successors(before, p))
    if not step.params:  # the source named no parameters: no instance matched the state
        candidates = [t for t in enabled if step.action in (t.action, "?")]
        if not candidates:
            return Divergence(i, step.action, f"no instance of {step.action} is enabled", _enabled(enabled))
        closest = min(candidates, key=lambda t: len(state_diff(t.state, step.state)))
        return Divergence(
            i,
            step.action,
            f"no enabled instance of {step.action} leads to the recorded state; closest is {closest.label()}",
            state_diff(closest.state, step.state),
        )
    match = next((t for t in enabled if t.action == step.action and t.params == step.params), None)
    if match is None:
        return Divergence(i, step.label(), f"{step.label()} is not enabled", _enabled(enabled))
    if match.state != step.state:
        return Divergence(
            i,
            step.label(),
            f"{step.label()} is enabled but leads to a different state than the trace records",
            state_diff(match.state, step.state),
        )
    return None


def _enabled(steps: list[Step]) -> tuple[str, ...]:
    return ("enabled instead: " + (", ".join(t.label() for t in steps) or "nothing (no action is enabled)"),)


def replay(trace: Trace) -> ReplayResult:
    p = trace.params
    first = trace.steps[0].state
    init = _initial(first, p)
    if init != first:
        details = state_diff(init, first) if init is not None else ("access: not a wiring of these constants",)
        return ReplayResult(trace, Divergence(0, "Init", "the first state is not an initial state", details), (), None)
    first_violation = None
    for i, step in enumerate(trace.steps):
        if i:
            divergence = _check_step(i, trace.steps[i - 1].state, step, p)
            if divergence is not None:
                return ReplayResult(trace, divergence, (), first_violation)
        if first_violation is None and any(not inv(step.state, p) for _, inv in INVARIANTS):
            first_violation = i
    return ReplayResult(trace, None, violated_by(trace.steps[-1].state, p), first_violation)


def format_result(r: ReplayResult) -> str:
    t = r.trace
    rows = [
        ("source", t.source or "unknown"),
        ("mutant", t.params.mutant.value),
        ("recorded", f"{t.violated} violated" if t.violated else "no violation recorded"),
    ]
    if r.divergence is not None:
        d = r.divergence
        rows.append(("replayed", f"steps 0..{d.step - 1} of {len(t.steps) - 1}" if d.step else "nothing"))
        rows.append(("verdict", f"DIVERGES at step {d.step}: {d.reason}"))
    else:
        rows.append(("replayed", f"all {len(t.steps) - 1} steps: every one is enabled and reaches the recorded state"))
        last = ", ".join(r.violations) or "nothing"
        where = f" (first violation at step {r.first_violation})" if r.first_violation is not None else ""
        rows.append(("last state", f"violates {last}{where}"))
        if r.confirmed:
            verdict = f"REPRODUCED: the last state violates {t.violated or r.violations[0]}"
        elif t.violated and t.violated not in {DEADLOCK, *(name for name, _ in INVARIANTS)}:
            verdict = f"NOT REPRODUCED: the trace records {t.violated}, which the model does not check"
        elif t.violated:
            verdict = f"NOT REPRODUCED: the trace records {t.violated}, but the model's last state satisfies it"
        else:
            verdict = "REPLAYED: no violation"
        rows.append(("verdict", verdict))
    width = max(len(k) for k, _ in rows)
    lines = ["pbjoin replay", *(f"  {k:<{width}}  {v}" for k, v in rows)]
    if r.divergence is not None:
        lines += [f"    {line}" for line in r.divergence.details]
    return "\n".join(lines)
