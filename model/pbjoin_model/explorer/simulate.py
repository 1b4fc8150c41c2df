"""Random simulation for configurations too large to exhaust.

Each run starts from a random initial state and takes uniformly random enabled
actions up to a depth, checking the invariants at every state and stopping at a
terminal one (a stuck terminal state is a deadlock). Runs are reproducible: run i
uses `random.Random(f"{seed}:{i}")`. Finding nothing proves nothing, so a clean
simulation is reported as incomplete, never as a pass.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from pbjoin_model.explorer.bfs import DEADLOCK, selected_invariants
from pbjoin_model.protocol.expansion import first_violation
from pbjoin_model.protocol.machine import ACTION_NAMES, Params, State, Step, initial_state, is_intended_end, successors


@dataclass
class SimulationResult:
    params: Params
    runs: int
    depth: int
    seed: int
    steps: int
    distinct: int  # distinct states visited over all runs
    seconds: float
    taken: Counter[str] = field(default_factory=Counter)
    enabled: Counter[str] = field(default_factory=Counter)  # states in which the action was enabled
    violated: str | None = None
    trace: list[Step] = field(default_factory=list)
    run: int | None = None  # the run that found the violation

    @property
    def never_taken(self) -> list[str]:
        return [a for a in ACTION_NAMES if not self.taken[a]]


def random_initial_state(p: Params, rng: random.Random) -> State:
    """One wiring drawn uniformly (the draw `rng.choice(list(initial_states(p)))` makes,
    without listing 2^(nodes x resources) states)."""
    code = rng.randrange(1 << (p.nodes * p.resources))
    mask = (1 << p.resources) - 1
    return initial_state(p, tuple((code >> (i * p.resources)) & mask for i in range(p.nodes)))


def simulate(
    p: Params, runs: int, depth: int, seed: int, invariants: tuple[str, ...] | None = None
) -> SimulationResult:
    start = time.monotonic()
    checks = selected_invariants(invariants)
    seen: set[int] = set()
    result = SimulationResult(p, runs, depth, seed, 0, 0, 0.0)
    for run in range(runs):
        rng = random.Random(f"{seed}:{run}")
        state = random_initial_state(p, rng)
        trace = [Step("Init", (), state)]
        seen.add(hash(state))
        bad = first_violation(state, p, checks)
        for _ in range(depth):
            if bad:
                break
            options = list(successors(state, p))
            for name in {step.action for step in options}:
                result.enabled[name] += 1
            if not options:
                bad = None if is_intended_end(state) else DEADLOCK
                break
            step = rng.choice(options)
            result.taken[step.action] += 1
            result.steps += 1
            trace.append(step)
            state = step.state
            seen.add(hash(state))
            bad = first_violation(state, p, checks)
        if bad:
            result.violated, result.trace, result.run = bad, trace, run
            break
    result.runs = run + 1 if runs else 0
    result.distinct = len(seen)
    result.seconds = time.monotonic() - start
    return result
