"""The explicit-state checker: verdicts, bounds, fingerprints, symmetry soundness, traces."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from pbjoin_model.explorer import diskqueue
from pbjoin_model.explorer.bfs import (
    DEADLOCK,
    Options,
    Progress,
    Verdict,
    _DiskVisited,
    check,
    reachable,
    selected_invariants,
)
from pbjoin_model.explorer.diskqueue import DiskQueue
from pbjoin_model.protocol.expansion import first_violation
from pbjoin_model.protocol.machine import Mutant, Params, initial_states, is_intended_end, successors
from pbjoin_model.protocol.symmetry import canonical, orbit

SMALL = Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1)
TINY = Params(nodes=2, resources=1, max_failures=1, max_restarts=0, max_config_changes=0)


def test_protocol_holds_on_small_configuration() -> None:
    result = check(SMALL, Options(symmetry=False))
    assert result.verdict is Verdict.HOLDS
    assert result.violated is None and result.trace == []
    assert result.initial == 16  # every wiring of 2 nodes to 2 resources
    assert result.intended_ends > 0
    assert result.distinct == sum(1 for _ in reachable(SMALL))


def test_protocol_holds_with_two_failures_on_three_nodes_and_two_resources() -> None:
    """A backup host and then the primary host can fail: the data-loss cases need both.

    `MC_failures.cfg` adds a restart (1,754,910 states, 5 minutes); without it the space
    is explored here in about 20 seconds.
    """
    params = Params(nodes=3, resources=2, max_failures=2, max_restarts=0, max_config_changes=0)
    result = check(params, Options(symmetry=True))
    assert result.verdict is Verdict.HOLDS
    assert result.distinct == 136_476
    assert result.intended_ends > 0


def test_every_reachable_terminal_state_is_an_intended_end() -> None:
    for s in reachable(TINY):
        if not any(True for _ in successors(s, TINY)):
            assert is_intended_end(s)


@pytest.mark.parametrize(
    "params",
    [
        SMALL,
        Params(nodes=3, resources=1, max_failures=1, max_restarts=0, max_config_changes=0),
        Params(
            nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1, mutant=Mutant.NO_STATE_RESEND
        ),
    ],
)
def test_symmetry_counts_orbits_exactly(params: Params) -> None:
    """The reduced search visits one state per orbit of the full state space."""
    full = set(reachable(params, symmetry=False))
    orbits = {canonical(s) for s in full}
    assert len(set(reachable(params, symmetry=True))) == len(orbits)
    # every orbit is closed in the full space: the reduction merged only renamings
    for rep in list(orbits)[:300]:
        assert orbit(rep, params) <= full


def test_canonical_form_is_the_same_for_every_renaming() -> None:
    states = list(reachable(SMALL))
    for s in states[:: max(1, len(states) // 200)]:
        images = orbit(s, SMALL)
        assert len({canonical(t) for t in images}) == 1


@pytest.mark.parametrize("mutant", [m for m in Mutant if m is not Mutant.NONE])
def test_symmetry_does_not_change_verdicts(mutant: Mutant) -> None:
    params = Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1, mutant=mutant)
    with_sym = check(params, Options(symmetry=True))
    without = check(params, Options(symmetry=False))
    assert with_sym.verdict is without.verdict
    assert with_sym.violated == without.violated
    assert len(with_sym.trace) == len(without.trace)


def test_fingerprints_match_exact_search_and_report_collision_bound() -> None:
    exact = check(SMALL, Options(fingerprints=False))
    fp = check(SMALL, Options(fingerprints=True))
    assert fp.distinct == exact.distinct and fp.verdict is exact.verdict
    assert exact.collision_probability is None
    assert fp.collision_probability is not None and 0 < fp.collision_probability < 1e-9


def test_state_bound_makes_the_verdict_incomplete_not_a_pass() -> None:
    result = check(SMALL, Options(max_states=100))
    assert result.verdict is Verdict.INCOMPLETE and result.verdict.exit_code == 3
    assert result.cut_by == "max states 100"


def test_depth_bound_makes_the_verdict_incomplete_not_a_pass() -> None:
    result = check(SMALL, Options(max_depth=5))
    assert result.verdict is Verdict.INCOMPLETE and result.cut_by == "max depth 5"
    assert result.depth == 5


def test_depth_bound_beyond_the_diameter_is_complete() -> None:
    full = check(TINY)
    assert check(TINY, Options(max_depth=full.depth + 1)).verdict is Verdict.HOLDS


def test_counterexample_is_a_real_shortest_behaviour() -> None:
    params = Params(
        nodes=2,
        resources=2,
        max_failures=1,
        max_restarts=0,
        max_config_changes=0,
        mutant=Mutant.PROMOTE_UNSYNCED_MIRROR,
    )
    # FailoverToFirstSynced sees the bad failover as soon as the FAIL is multicast
    result = check(params)
    assert result.verdict is Verdict.VIOLATED and result.violated == "FailoverToFirstSynced"
    trace = result.trace
    assert trace[0].action == "Init" and trace[0].state in set(initial_states(params))
    for before, step in itertools.pairwise(trace):
        assert step in list(successors(before.state, params))
    invariants = selected_invariants(None)
    assert all(first_violation(step.state, params, invariants) is None for step in trace[:-1])
    assert first_violation(trace[-1].state, params, invariants) == "FailoverToFirstSynced"
    # shortest: no violating state is reachable in fewer steps
    assert check(params, Options(max_depth=len(trace) - 2)).verdict is Verdict.INCOMPLETE


def test_stuck_state_is_reported_as_deadlock() -> None:
    params = Params(
        nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1, mutant=Mutant.NO_STATE_RESEND
    )
    result = check(params)
    assert result.violated == DEADLOCK
    last = result.trace[-1].state
    assert not list(successors(last, params)) and not is_intended_end(last)


def test_progress_is_reported_on_long_runs() -> None:
    seen: list[Progress] = []
    check(SMALL, Options(progress=seen.append, progress_every=0.0))
    assert seen and all(p.distinct > 0 and p.rate >= 0 for p in seen)
    assert [p.generated for p in seen] == sorted(p.generated for p in seen)


def test_selected_invariants_limit_what_is_checked() -> None:
    params = Params(
        nodes=2,
        resources=2,
        max_failures=0,
        max_restarts=0,
        max_config_changes=0,
        mutant=Mutant.PLACEMENT_IGNORES_ACCESS,
    )
    assert check(params).violated == "PlacementFirstReachable"
    others = tuple(name for name in ("TypeOK", "NoSplitBrain"))
    assert check(params, Options(invariants=others)).verdict is Verdict.HOLDS


def test_disk_seen_set_and_queue_match_memory_and_rebuild_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = check(SMALL, Options(fingerprints=True))
    written: list[int] = []
    spill = DiskQueue._spill

    def counted(queue: DiskQueue) -> None:
        written.append(len(queue.tail))
        spill(queue)

    monkeypatch.setattr(diskqueue, "SEGMENT", 100)  # the queue of SMALL's widest levels spills
    monkeypatch.setattr(DiskQueue, "_spill", counted)
    disk = check(SMALL, Options(disk=True))
    assert len(written) > 5 and set(written) == {100}
    assert (disk.distinct, disk.generated, disk.depth, disk.verdict) == (
        memory.distinct,
        memory.generated,
        memory.depth,
        memory.verdict,
    )
    assert disk.options.fingerprints and disk.collision_probability == memory.collision_probability
    buggy = Params(2, 2, 1, 1, 1, mutant=Mutant.NO_HOST_REPLACEMENT)
    on_disk = check(buggy, Options(disk=True))
    in_memory = check(buggy, Options(fingerprints=True))
    assert on_disk.violated == in_memory.violated == "HostSuccession"
    assert on_disk.trace == in_memory.trace


def test_disk_seen_set_lives_in_sqlite(tmp_path: Path) -> None:
    visited = _DiskVisited(symmetry=False, directory=str(tmp_path))
    assert visited.add(11, -1) == 0 and visited.add(22, 0) == 1 and visited.add(33, 1) == 2
    assert visited.add(22, 2) is None  # already seen
    assert len(visited) == 3 and visited.key_at(2) == 33
    assert visited.path(2) == [0, 1, 2]
    visited.db.close()
    assert (tmp_path / "seen.sqlite").stat().st_size > 0


def test_the_disk_queue_is_first_in_first_out_across_its_files(tmp_path: Path) -> None:
    queue = DiskQueue(tmp_path, segment=3)
    taken: list[int] = []
    for i in range(20):
        queue.append((bytes([i]) * (i % 4), i, i // 5))
        if i % 3 == 2:
            taken.append(queue.popleft()[1])
    assert any(tmp_path.iterdir())  # some entries wait in files
    while len(queue):
        code, index, depth = queue.popleft()
        assert code == bytes([index]) * (index % 4) and depth == index // 5
        taken.append(index)
    assert taken == list(range(20)) and not any(tmp_path.iterdir())
