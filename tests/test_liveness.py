"""Liveness under weak fairness: the properties hold, liveness mutants are caught with lassos."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from pbjoin_model.explorer.bfs import Options, Verdict, check
from pbjoin_model.explorer.liveness import PROPERTY_NAMES, check_liveness, properties
from pbjoin_model.protocol.config import load
from pbjoin_model.protocol.machine import Mutant, Params, State, initial_states, is_intended_end, successors
from pbjoin_model.protocol.state_graph import UNFAIR_ACTIONS, Graph, build_graph, fair_end, tarjan

SMALL = Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1)


def test_liveness_holds_on_the_small_configuration() -> None:
    result = check_liveness(SMALL)
    assert result.holds
    # no writes and no resource failures here
    resource_failures = {"LossNoticed", "RepairNoticed", "FailoverHappens"}
    assert {r.name for r in result.results} == set(PROPERTY_NAMES) - {"WritesEnd"} - resource_failures
    assert len(result.results) == SMALL.nodes + SMALL.resources + 1
    assert result.distinct == check(SMALL, Options(symmetry=False)).distinct


# mutant -> (constants, property instance that fails)
LIVENESS_MUTANTS = {
    Mutant.NO_MIRROR_TO_NEW_BACKUP: ((2, 2, 1, 1, 1), "MirroringResumes[r2]"),
    Mutant.NO_CONFIG_PUSH_ON_TAKEOVER: ((3, 1, 1, 0, 0), "JoinsEnd[n1]"),
    Mutant.NO_MIRROR_RESTART: ((3, 2, 1, 0, 0), "MirroringResumes[r2]"),
    # A lagging new backup host drops its START_MIRROR: three nodes needed.
    Mutant.NO_CAUSAL_WAIT: ((3, 2, 1, 0, 0), "MirroringResumes[r2]"),
    # A write waiting for a failed mirror is never answered (also a stuck state for safety).
    Mutant.WAIT_FOR_FAILED_MIRROR: ((2, 2, 1, 0, 0, 1), "WritesEnd[w1]"),
}


@pytest.mark.parametrize(
    "params",
    [
        Params(nodes=3, resources=1, max_failures=2, max_restarts=0, max_config_changes=0),
        Params(nodes=2, resources=2, max_failures=2, max_restarts=1, max_config_changes=0),
    ],
    ids=["3n1r", "2n2r-restart"],
)
def test_liveness_holds_with_two_failures(params: Params) -> None:
    result = check_liveness(params)
    assert result.holds, [f"{r.name}[{r.instance}]" for r in result.results if not r.holds]
    assert result.distinct > 5_000


def test_liveness_holds_with_three_nodes_two_resources_and_two_failures() -> None:
    """MC_failures without the restart: a backup host, then the primary host can fail mid-resynchronisation.

    817,965 states without symmetry (the explorer's 136,476 orbits, unreduced); about 60 s and 1.6 GB.
    """
    params = Params(nodes=3, resources=2, max_failures=2, max_restarts=0, max_config_changes=0)
    result = check_liveness(params)
    assert result.holds, [f"{r.name}[{r.instance}]" for r in result.results if not r.holds]
    assert len(result.results) == 3 + 2 + 1
    assert result.distinct == 817_965


def test_writes_end_on_the_writes_configuration() -> None:
    """Every write at a live primary host is answered: WritesEnd per write, pauses and failovers included."""
    result = check_liveness(load("writes").params)
    assert result.holds, [f"{r.name}[{r.instance}]" for r in result.results if not r.holds]
    assert {r.instance for r in result.results if r.name == "WritesEnd"} == {"w1", "w2"}


def test_liveness_holds_with_three_nodes_and_two_resources() -> None:
    """The configuration on which a lagging backup host once stranded mirroring (NO_CAUSAL_WAIT)."""
    result = check_liveness(Params(nodes=3, resources=2, max_failures=1, max_restarts=0, max_config_changes=0))
    assert result.holds, [f"{r.name}[{r.instance}]" for r in result.results if not r.holds]
    assert len(result.results) == 3 + 2 + 1
    assert result.distinct == 693_531  # TLC's count for 3, 2, 1, 0, 0 (spec/README.md)


@pytest.mark.parametrize("mutant", list(LIVENESS_MUTANTS), ids=lambda m: m.value)
def test_liveness_mutant_is_caught_with_a_lasso(mutant: Mutant) -> None:
    constants, label = LIVENESS_MUTANTS[mutant]
    nodes, resources, failures, restarts, changes, *writes = constants
    params = Params(nodes, resources, failures, restarts, changes, mutant, max_writes=sum(writes))
    if mutant not in (Mutant.NO_CONFIG_PUSH_ON_TAKEOVER, Mutant.WAIT_FOR_FAILED_MIRROR):  # these also deadlock
        assert check(params).verdict is Verdict.HOLDS  # invisible to safety checking
    result = check_liveness(params)
    failed = {f"{r.name}[{r.instance}]" if r.instance else r.name: r for r in result.results if not r.holds}
    assert label in failed
    lasso = failed[label].lasso
    assert lasso is not None
    steps = lasso.prefix
    assert steps[0].action == "Init" and steps[0].state in set(initial_states(params))
    for before, step in itertools.pairwise(steps):
        assert step in list(successors(before.state, params))
    # the state space is acyclic, so every fair counterexample ends stuttering, where no fair
    # action is enabled (the environment's may be: they need never happen)
    assert lasso.cycle == []
    assert {step.action for step in successors(steps[-1].state, params)} <= UNFAIR_ACTIONS


def _diamond_graph(fair_loop: bool) -> Graph:
    """s0 -> s1 <-> s2, with an extra fair action enabled in s1 and s2 leaving the loop."""
    states: list[State] = list(initial_states(Params(nodes=1, resources=1, max_failures=0)))[:1] * 4
    g = Graph(states=states, edges=[[], [], [], []], parent=[-1, 0, 1, 1], instances=[], initial=[0])
    ids: dict[tuple[str, tuple[tuple[str, int], ...]], int] = {}
    spin = g.instance_id(("Deliver", (("n", 0),)), ids)
    leave = g.instance_id(("Join", (("n", 0),)), ids)
    crash = g.instance_id(("Crash", (("n", 0),)), ids)
    g.edges[0] = [(1, crash)]
    g.edges[1] = [(2, spin)] + ([(3, leave)] if not fair_loop else [])
    g.edges[2] = [(1, spin)] + ([(3, leave)] if not fair_loop else [])
    return g


def test_tarjan_and_fairness_on_a_graph_with_a_cycle() -> None:
    unfair = _diamond_graph(fair_loop=False)
    comps = {frozenset(c) for c in tarjan(unfair, [True] * 4)}
    assert frozenset({1, 2}) in comps
    # Join is enabled all along the loop and never taken inside it: weak fairness forbids staying
    assert not fair_end(unfair, [1, 2])
    assert fair_end(unfair, [3])  # terminal: stuttering is fair
    fair = _diamond_graph(fair_loop=True)
    assert fair_end(fair, [1, 2])
    assert not fair_end(unfair, [1])  # a single state without a self-loop, a fair action enabled: no end
    assert fair_end(fair, [0])  # only the environment's Crash is enabled: stuttering is fair
    assert "Crash" in UNFAIR_ACTIONS


def test_graph_has_every_reachable_state() -> None:
    g = build_graph(SMALL)
    assert g is not None
    assert len(g.states) == check(SMALL, Options(symmetry=False)).distinct
    assert sorted(g.initial) == list(range(len(list(initial_states(SMALL)))))
    terminal = [s for s, out in zip(g.states, g.edges, strict=True) if not out]
    assert terminal and all(is_intended_end(s) for s in terminal)


def test_every_property_instance_is_listed() -> None:
    names = [(p.name, getattr(p, "instance", "")) for p in properties(Params(nodes=3, resources=2))]
    assert names == [
        ("JoinsEnd", "n1"),
        ("JoinsEnd", "n2"),
        ("JoinsEnd", "n3"),
        ("MirroringResumes", "r1"),
        ("MirroringResumes", "r2"),
        ("ConfigConverges", ""),
    ]


def test_graph_bound_makes_liveness_incomplete_not_a_pass() -> None:
    assert build_graph(SMALL, max_states=100) is None
    result = check_liveness(SMALL, max_states=100)
    assert result.cut_by == "max states 100"
    assert not result.holds and not result.violated and result.results == []


RESOURCE_LIVENESS = Params(2, 2, 1, 0, 0, max_resource_failures=1)


def test_resource_failure_liveness_holds() -> None:
    """A failure and a repair are noticed, the group fails over to a synchronised copy, and
    mirroring resumes (MirroringResumes covers the repaired copy once RepairNoticed holds)."""
    result = check_liveness(RESOURCE_LIVENESS)
    assert result.holds, [f"{r.name}[{r.instance}]" for r in result.results if not r.holds]
    names = {r.name for r in result.results}
    assert {"LossNoticed", "RepairNoticed", "FailoverHappens", "MirroringResumes"} <= names


def test_no_failover_on_resource_failure_is_caught_by_failover_happens() -> None:
    """The group keeps the failed copy primary: nothing is stuck but the environment's repair is
    enabled, which need never happen, so the behaviour may stutter there; a checker that counted
    only terminal states as stuttering ends missed this."""
    params = dataclasses.replace(RESOURCE_LIVENESS, mutant=Mutant.NO_FAILOVER_ON_RESOURCE_FAILURE)
    result = check_liveness(params)
    failed = {f"{r.name}[{r.instance}]": r for r in result.results if not r.holds}
    assert set(failed) == {"FailoverHappens[r1 to r2 at n1]", "FailoverHappens[r1 to r2 at n2]"}
    lasso = failed["FailoverHappens[r1 to r2 at n1]"].lasso
    assert lasso is not None and lasso.cycle == []  # it stutters
    end = lasso.prefix[-1].state
    enabled = {step.action for step in successors(end, params)}
    assert "RepairResource" in enabled and enabled <= UNFAIR_ACTIONS
