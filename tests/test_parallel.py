"""Parallel workers give the serial search's result."""

from __future__ import annotations

import pytest
from pbjoin_model.explorer.bfs import Options, Verdict, check
from pbjoin_model.explorer.parallel import check_parallel
from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import Mutant, Params, successors

SMALL = Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1)


@pytest.mark.parametrize("symmetry", [True, False])
@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_counts_equal_serial(workers: int, symmetry: bool) -> None:
    serial = check(SMALL, Options(symmetry=symmetry, fingerprints=True))
    parallel = check_parallel(SMALL, Options(symmetry=symmetry), workers=workers)
    assert parallel.verdict is serial.verdict is Verdict.HOLDS
    assert (parallel.distinct, parallel.generated, parallel.depth) == (serial.distinct, serial.generated, serial.depth)
    assert parallel.initial == serial.initial and parallel.intended_ends == serial.intended_ends
    assert parallel.action_counts == serial.action_counts and parallel.enabled_counts == serial.enabled_counts
    assert parallel.options.fingerprints and parallel.options.workers == workers
    assert parallel.collision_probability is not None


@pytest.mark.parametrize("mutant", [m for m in Mutant if m is not Mutant.NONE], ids=lambda m: m.value)
def test_parallel_finds_the_same_violation_at_the_same_depth(mutant: Mutant) -> None:
    params = Params(2, 2, 1, 1, 1, mutant=mutant)
    serial = check(params)
    parallel = check_parallel(params, workers=2)
    assert parallel.verdict is serial.verdict
    assert parallel.violated == serial.violated
    assert len(parallel.trace) == len(serial.trace)
    for before, step in zip(parallel.trace, parallel.trace[1:], strict=False):
        assert step in list(successors(before.state, params))
    if parallel.trace and serial.violated != "Deadlock":
        predicate = dict(INVARIANTS)[serial.violated or ""]
        assert not predicate(parallel.trace[-1].state, params)


def test_parallel_bounds_are_incomplete() -> None:
    result = check_parallel(SMALL, Options(max_depth=4), workers=2)
    assert result.verdict is Verdict.INCOMPLETE and result.cut_by == "max depth 4" and result.depth == 4


def test_parallel_checks_the_states_at_its_bounds() -> None:
    """A state a peer shipped is checked when expanded; at a bound it is never expanded, and its
    violation must still be found, as the serial search finds it on arrival."""
    cut_at_a_violation = []
    for mutant in Mutant:
        params = Params(2, 2, 1, 1, 1, mutant=mutant)
        serial = check(params)
        if serial.verdict is not Verdict.VIOLATED or serial.violated == "Deadlock":
            continue  # deadlocks are found by expanding, so a bound before them hides them
        cut_at_a_violation.append(mutant)
        depth = len(serial.trace) - 1
        states_before = check(params, Options(max_depth=depth - 1)).distinct
        for bound in (Options(max_depth=depth), Options(max_states=states_before + 1)):
            for workers in (2, 3):
                parallel = check_parallel(params, bound, workers=workers)
                assert parallel.verdict is Verdict.VIOLATED, (mutant, bound, workers)
                assert len(parallel.trace) == depth + 1
    assert len(cut_at_a_violation) >= 7, cut_at_a_violation
