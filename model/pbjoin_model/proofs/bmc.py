"""Bounded model checking: unroll the exact symbolic model (`proofs.symbolic`) with Z3.

From any initial state, up to `depth` steps: is there a behaviour whose last state
violates an invariant, or is stuck (no action enabled, not an intended end)? Depth by
depth, so the trace found is a shortest one. A trace is decoded to model States and
the caller can replay it on pbjoin_model.protocol.machine (tests/test_bmc.py does, step by step).

The log has enough slots for `depth` steps; channels have a fixed number of slots,
and a behaviour needing more is cut. When no violation is found, one last query asks
whether some enabled action at some depth would overflow a channel; if one could, the
answer is INCOMPLETE, never HOLDS. An `unknown` from Z3 (a timeout) is UNKNOWN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum

import z3

from pbjoin_model.explorer.bfs import DEADLOCK
from pbjoin_model.proofs.symbolic import (
    Actions,
    And,
    Encoding,
    If,
    Not,
    Or,
    SState,
    Term,
    bitvector_ints,
    default_bounds,
    equal,
    int_const,
    intended_end,
    leaves,
)
from pbjoin_model.proofs.symbolic_invariants import SYMBOLIC_INVARIANTS
from pbjoin_model.protocol.machine import OUT, Params, Step
from pbjoin_model.protocol.machine import compact as compact_state


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
    overflow_at: int | None = None  # a depth where a channel could overflow (no verdict HOLDS then)
    seconds_per_depth: list[float] = field(default_factory=list)
    from_depth: int = 0  # violations were asked for from this depth on


def _term(t: Term) -> Term:
    return z3.BoolVal(t) if isinstance(t, bool) else t


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


def _touched_in_order(s: SState, p: Params) -> list[Term]:
    """Symmetry breaking: nodes leave their initial state in index order.

    The model is symmetric in its nodes (the explicit checker reduces by the same
    symmetry), so every behaviour has a renaming in which node i acts before node
    i+1 first does; it has the same length and violates the same invariants."""
    touched = [Or(s.phase[n] != OUT, s.inc[n] != 0) for n in range(p.nodes)]
    return [_term(z3.Implies(_term(touched[n]), _term(touched[n - 1]))) for n in range(1, p.nodes)]


def _width(p: Params, depth: int, instances: int) -> int:
    """Bits for every integer of the unrolling: cursors up to depth, instance numbers, -2 fillers."""
    largest = max(depth + 2, instances, p.nodes * p.nodes, 2 + p.max_config_changes + p.max_restarts, 16)
    return largest.bit_length() + 2


def bmc(
    p: Params,
    depth: int,
    chan_slots: int = 3,
    timeout_ms: int = 0,
    invariants: tuple[str, ...] | None = None,
    from_depth: int = 0,
    access: tuple[int, ...] | None = None,
) -> BmcResult:
    """Unroll up to `depth` steps, asking at each depth from `from_depth` on for a
    violation (shortest first; shallower depths are then only checked for overflow).
    `access` fixes the wiring (per node, a bitmask of resources) instead of trying all.

    The encoding is chosen for SAT: integers are bit-vectors (bit-blasted), the log is
    not compacted inside the unrolling (compaction only renames settled history, and its
    symbolic replay of log prefixes dominated the terms; decoded states are compacted
    before they are returned), nodes leave their initial state in index order, and each
    depth is a fresh QF_BV problem (Z3's incremental mode skips the preprocessing that
    eliminates the per-step state copies)."""
    start = time.monotonic()
    instances = p.nodes * (5 + p.resources) + 3 * p.nodes * p.nodes  # as Actions.instances yields them
    with bitvector_ints(_width(p, depth, instances)):
        result = _unroll(p, depth, chan_slots, timeout_ms, invariants, from_depth, access)
    result.seconds = time.monotonic() - start
    return result


def _unroll(
    p: Params,
    depth: int,
    chan_slots: int,
    timeout_ms: int,
    invariants: tuple[str, ...] | None,
    from_depth: int,
    access: tuple[int, ...] | None,
) -> BmcResult:
    enc = Encoding(p, default_bounds(p, depth, chan_slots))
    actions = Actions(enc, compacted=False)
    checked = [(name, inv) for name, inv in SYMBOLIC_INVARIANTS if invariants is None or name in invariants]
    deadlock = invariants is None or DEADLOCK in invariants
    states = [enc.variables("s0")]
    base: list[Term] = [_term(enc.initial(states[0]))]
    if access is not None:
        wiring = tuple(tuple(bool(a >> r & 1) for r in range(p.resources)) for a in access)
        base.append(_term(equal(states[0].access, wiring)))
    steps: list[list[tuple[str, tuple[tuple[str, int], ...]]]] = []
    acts: list[Term] = []
    result = BmcResult(p, depth, BmcVerdict.HOLDS, 0.0, -1, from_depth=from_depth)
    overflows: list[Term] = []  # per depth: some enabled action would overflow a channel
    for k in range(depth + 1):
        t0 = time.monotonic()
        s = states[k]
        if access is None:  # a fixed wiring is not symmetric in the nodes
            base += _touched_in_order(s, p)
        instances = list(actions.instances(s))
        bad = [(name, Not(inv(actions.ops, s))) for name, inv in checked]
        if deadlock:
            enabled = [tr.enabled for _, _, tr in instances]
            bad.append((DEADLOCK, And(Not(Or(*enabled)), Not(intended_end(s, p)))))
        if k < depth:
            overflows.append(Or(*(And(tr.enabled, tr.overflow) for _, _, tr in instances)))
        answer, model = z3.unsat, None
        if k >= from_depth:
            answer, model = _solve([*base, _term(Or(*(cond for _, cond in bad)))], timeout_ms)
        if answer == z3.unknown:
            result.verdict = BmcVerdict.UNKNOWN
            break
        if model is not None:
            result.verdict = BmcVerdict.VIOLATED
            result.violated = next(name for name, cond in bad if _holds(model, cond))
            result.trace = _decode(enc, model, states, acts, steps)
            result.reached = k
            break
        result.reached = k
        if k < depth:
            act = int_const(f"act{k}")
            chosen = enc.variables(f"s{k + 1}")
            base.append(_term(And(act >= 0, act < len(instances))))
            for i, (_, _, tr) in enumerate(instances):
                base.append(_term(Or(act != i, And(tr.enabled, Not(tr.overflow)))))
            base += map(_term, _next_state(s, chosen, act, [tr.post for _, _, tr in instances]))
            states.append(chosen)
            acts.append(act)
            steps.append([(name, params) for name, params, _ in instances])
        result.seconds_per_depth.append(time.monotonic() - t0)
    if result.verdict is BmcVerdict.HOLDS:
        # Only now, and once for every depth: a violation found needs no overflow check.
        answer, model = _solve([*base, _term(Or(*overflows))], timeout_ms)
        if answer == z3.unknown:
            result.verdict = BmcVerdict.UNKNOWN
        elif model is not None:
            result.verdict = BmcVerdict.INCOMPLETE
            result.overflow_at = next(k for k, cond in enumerate(overflows) if _holds(model, cond))
    return result


def _holds(model: z3.ModelRef, cond: Term) -> bool:
    return bool(z3.is_true(model.eval(_term(cond), model_completion=True)))


def _solve(assertions: list[Term], timeout_ms: int) -> tuple[z3.CheckSatResult, z3.ModelRef | None]:
    solver = z3.SolverFor("QF_BV")
    if timeout_ms:
        solver.set("timeout", timeout_ms)
    solver.add(*assertions)
    answer = solver.check()
    return answer, solver.model() if answer == z3.sat else None


def _decode(
    enc: Encoding,
    model: z3.ModelRef,
    states: list[SState],
    acts: list[Term],
    steps: list[list[tuple[str, tuple[tuple[str, int], ...]]]],
) -> list[Step]:
    """The trace as model States, compacted as protocol.py compacts them."""
    p = enc.p
    trace = [Step("Init", (), compact_state(enc.decode(states[0], model), p))]
    for k, act in enumerate(acts):
        name, params = steps[k][model.eval(act, model_completion=True).as_signed_long()]
        trace.append(Step(name, params, compact_state(enc.decode(states[k + 1], model), p)))
    return trace
