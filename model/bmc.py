"""Bounded model checking: unroll the exact symbolic model (model/symbolic.py) with Z3.

From any initial state, up to `depth` steps: is there a behaviour whose last state
violates an invariant, or is stuck (no action enabled, not an intended end)? Depth by
depth, so the trace found is a shortest one. A trace is decoded to model States and
the caller can replay it on model.protocol (tests/test_bmc.py does, step by step).

The log has enough slots for `depth` steps; channels have a fixed number of slots,
and a behaviour needing more is cut. Each depth also asks whether some enabled action
would overflow a channel; if one could, a "no violation" answer is INCOMPLETE, never
HOLDS. An `unknown` from Z3 (a timeout) is UNKNOWN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

import z3

from model.checker import DEADLOCK
from model.protocol import Params, Step
from model.symbolic import (
    Actions,
    And,
    Encoding,
    If,
    Not,
    Or,
    SState,
    Term,
    compact,
    default_bounds,
    equal,
    intended_end,
    leaves,
)
from model.symbolic_invariants import SYMBOLIC_INVARIANTS


class BmcVerdict(Enum):
    VIOLATED = "violated"  # a behaviour of at most `depth` steps ends in a violation
    HOLDS = "holds"  # no behaviour of at most `depth` steps does (no channel overflowed)
    INCOMPLETE = "incomplete"  # none found, but a channel could have overflowed
    UNKNOWN = "unknown"  # Z3 gave up (timeout)

    @property
    def exit_code(self) -> int:
        return {BmcVerdict.VIOLATED: 1, BmcVerdict.HOLDS: 0, BmcVerdict.INCOMPLETE: 3, BmcVerdict.UNKNOWN: 3}[self]


@dataclass
class BmcResult:
    params: Params
    depth: int  # the depth asked for
    verdict: BmcVerdict
    seconds: float
    reached: int  # the deepest depth fully checked
    violated: str | None = None  # invariant name or Deadlock
    trace: list[Step] = field(default_factory=list)
    overflow_at: int | None = None  # first depth where a channel could overflow
    seconds_per_depth: list[float] = field(default_factory=list)


def _term(t: Term) -> Term:
    return z3.BoolVal(t) if isinstance(t, bool) else t


def _satisfiable(solver: z3.Solver, condition: Term) -> bool:
    solver.push()
    solver.add(_term(condition))
    answer = solver.check()
    solver.pop()
    return bool(answer == z3.sat)


def _next_state(pre: SState, nxt: SState, act: Term, posts: list[SState]) -> list[Term]:
    """nxt is the successor by instance `act`: one equation per leaf, naming only the
    instances that change that leaf (most leave most of the state alone)."""
    pre_leaves = list(leaves(pre))
    post_leaves = [list(leaves(post)) for post in posts]
    equations = []
    for j, (old, new) in enumerate(zip(pre_leaves, leaves(nxt), strict=True)):
        value = old
        for i in reversed(range(len(posts))):
            candidate = post_leaves[i][j]
            if candidate is old or (
                isinstance(candidate, z3.ExprRef) and isinstance(old, z3.ExprRef) and candidate.eq(old)
            ):
                continue
            value = If(act == i, candidate, value)
        equations.append(new == value)
    return equations


def bmc(
    p: Params, depth: int, chan_slots: int = 3, timeout_ms: int = 0, invariants: tuple[str, ...] | None = None
) -> BmcResult:
    start = time.monotonic()
    enc = Encoding(p, default_bounds(p, depth, chan_slots))
    actions = Actions(enc, compacted=False)
    checked = [(name, inv) for name, inv in SYMBOLIC_INVARIANTS if invariants is None or name in invariants]
    solver = z3.Solver()
    if timeout_ms:
        solver.set("timeout", timeout_ms)
    states = [enc.variables("s0")]
    solver.add(enc.initial(states[0]))
    steps: list[list[tuple[str, tuple[tuple[str, int], ...]]]] = []
    acts: list[Term] = []
    result = BmcResult(p, depth, BmcVerdict.HOLDS, 0.0, -1)
    for k in range(depth + 1):
        t0 = time.monotonic()
        s = states[k]
        instances = list(actions.instances(s))
        enabled = [tr.enabled for _, _, tr in instances]
        bad = [(name, Not(inv(actions.ops, s))) for name, inv in checked]
        bad.append((DEADLOCK, And(Not(Or(*enabled)), Not(intended_end(s, p)))))
        solver.push()
        solver.add(_term(z3.Or(*(_term(cond) for _, cond in bad))))
        answer = solver.check()
        model = solver.model() if answer == z3.sat else None
        solver.pop()
        if answer == z3.unknown:
            result.verdict = BmcVerdict.UNKNOWN
            break
        if model is not None:
            result.verdict = BmcVerdict.VIOLATED
            result.violated = next(name for name, cond in bad if z3.is_true(model.eval(cond, model_completion=True)))
            result.trace = _decode(enc, model, states, acts, steps)
            result.reached = k
            break
        result.reached = k
        if k < depth:
            overflow = Or(*(And(tr.enabled, tr.overflow) for _, _, tr in instances))
            if result.overflow_at is None and _satisfiable(solver, overflow):
                result.overflow_at = k
            act = z3.Int(f"act{k}")
            chosen = enc.variables(f"u{k}")  # the successor before compaction
            nxt = enc.variables(f"s{k + 1}")
            solver.add(act >= 0, act < len(instances))
            for i, (_, _, tr) in enumerate(instances):
                solver.add(_term(Or(act != i, And(tr.enabled, Not(tr.overflow)))))
            solver.add(*map(_term, _next_state(s, chosen, act, [tr.post for _, _, tr in instances])))
            solver.add(_term(equal(nxt, compact(actions.ops, chosen))))
            states.append(nxt)
            acts.append(act)
            steps.append([(name, params) for name, params, _ in instances])
        result.seconds_per_depth.append(time.monotonic() - t0)
    if result.verdict is BmcVerdict.HOLDS and result.overflow_at is not None:
        result.verdict = BmcVerdict.INCOMPLETE
    result.seconds = time.monotonic() - start
    return result


def _decode(
    enc: Encoding,
    model: z3.ModelRef,
    states: list[SState],
    acts: list[Term],
    steps: list[list[tuple[str, tuple[tuple[str, int], ...]]]],
) -> list[Step]:
    trace = [Step("Init", (), enc.decode(states[0], model))]
    for k, act in enumerate(acts):
        name, params = steps[k][model.eval(act, model_completion=True).as_long()]
        trace.append(Step(name, params, enc.decode(states[k + 1], model)))
    return trace
