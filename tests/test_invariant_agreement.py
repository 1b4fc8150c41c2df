"""The TLA+ invariants and the Python predicates agree state by state, violating states included.

TLC evaluates every invariant of spec/JoinProtocol.tla on each state of a corpus (reachable
states of the protocol and of mutants, their counterexamples, and perturbed states; see
invariant_corpus.py), and every stream rule on each step of a corpus of stream steps, and
must give the Python verdict on every one. Weakening a body in either language makes the
comparison fail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from functools import cache

import pytest
from invariant_corpus import corpus
from pbjoin_model.protocol.invariants import INVARIANTS, STREAM_RULES, holders, placement_step
from pbjoin_model.protocol.machine import ACCESS, GroupState, Msg, Mutant, Params, State, bits, is_primary_host
from pbjoin_model.traces.tlc_invariants import (
    StreamStep,
    TlcVerdicts,
    disagreements,
    step_disagreements,
    tlc_verdicts,
)
from spec_mutants import SPEC_MUTANTS
from test_mutants import ONE_NODE_PER_RESOURCE

SMALL = Params(2, 2, 1, 1, 1)
# name -> (constants, mutants whose states join the corpus, reachable states per source, perturbed,
# the wirings the mutants' searches start from (None: all))
CORPORA: dict[str, tuple[Params, tuple[Mutant, ...], int, int, tuple[tuple[int, ...], ...] | None]] = {
    "small": (
        SMALL,
        (
            Mutant.PLACEMENT_IGNORES_ACCESS,
            Mutant.CONFIG_FROM_PRIMARY_TO_ALL,
            Mutant.NO_HOST_REPLACEMENT,
            Mutant.PROMOTE_UNSYNCED_MIRROR,
            Mutant.REJECTED_STAYS_IN_SUBGROUP,
            Mutant.PLACEMENT_IN_STATIC_ORDER,
            Mutant.REJECTED_LEFT_JOINING,
        ),
        60,
        500,
        None,
    ),
    "writes": (
        Params(2, 2, 1, 0, 0, max_writes=2),
        (Mutant.ASYNC_ACK, Mutant.NO_FENCING, Mutant.NO_EPOCH_BUMP, Mutant.ACK_BEFORE_APPLY),
        60,
        400,
        None,
    ),
    # three nodes: the mutants' counterexamples and perturbations of their states only
    # (the reachable sets take half a minute each)
    "three": (
        Params(3, 2, 1, 0, 0),
        (
            Mutant.HOST_CHOSEN_BY_LAGGING_VIEW,
            Mutant.HOST_SUCCESSION_BY_NEWEST,
            Mutant.EVERY_HOST_SPONSORS,
            Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE,
        ),
        0,
        300,
        None,
    ),
    # resource failures: a failed backup kept as a mirror, a joiner placed on a failed resource,
    # no failover, a repaired copy counted at once
    "resources": (
        Params(2, 2, 1, 0, 0, max_writes=1, max_resource_failures=1),
        (
            Mutant.LOST_BACKUP_KEEPS_MIRROR,
            Mutant.PLACEMENT_ON_LOST_RESOURCE,
            Mutant.NO_FAILOVER_ON_RESOURCE_FAILURE,
            Mutant.REPAIRED_MIRROR_COUNTS_AT_ONCE,
        ),
        60,
        400,
        None,
    ),
    # three resources: a failover with two synchronised backups to choose from (the one wiring
    # the failover-to-last-synced mutant is caught on; every wiring of 3 x 3 is too many)
    "three resources": (Params(3, 3, 1, 0, 0), (Mutant.FAILOVER_TO_LAST_SYNCED,), 0, 150, ONE_NODE_PER_RESOURCE),
}


# The invariants that are only EveryStreamStep of a rule (HostSuccession and
# RejectionLeavesNothing have state clauses too): their rules are compared on steps.
STREAM_INVARIANTS = {"FailoverToFirstSynced", "PlacementFirstReachable", "ResourceFailureHandled"}


@cache
def corpus_of(name: str) -> tuple[list[State], list[StreamStep]]:
    p, mutants, per_source, perturbed, wirings = CORPORA[name]
    return corpus(p, mutants, per_source, perturbed, wirings=wirings)


def states_of(name: str) -> list[State]:
    return corpus_of(name)[0]


@cache
def verdicts_of(name: str) -> TlcVerdicts:
    states, steps = corpus_of(name)
    return tlc_verdicts(states, CORPORA[name][0], steps, timeout=600)


@pytest.mark.tlc
@pytest.mark.parametrize("name", list(CORPORA))
def test_tlc_and_python_give_the_same_verdicts(name: str) -> None:
    p = CORPORA[name][0]
    states, steps = corpus_of(name)
    found = disagreements(states, p, verdicts_of(name).states)
    assert found == [], [(d.invariant, d.python, d.tlc) for d in found[:5]]
    assert step_disagreements(steps, verdicts_of(name).steps) == []


@pytest.mark.tlc
def test_every_invariant_and_rule_both_holds_and_fails_in_the_corpus() -> None:
    """Otherwise a weakened body could agree by luck: each verdict is exercised both ways.
    A state breaks a stream-step invariant only where its rule and ApplyMessage part (which
    no corpus state shows): those invariants are exercised through their rules."""
    outcomes: dict[str, set[bool]] = {name: set() for name, _ in (*INVARIANTS, *STREAM_RULES)}
    for corpus_name in CORPORA:
        verdicts = verdicts_of(corpus_name)
        for verdict in (*verdicts.states, *verdicts.steps):
            for name, holds in verdict.items():
                outcomes[name].add(holds)
    one_sided = {name for name, seen in outcomes.items() if seen != {True, False}}
    assert one_sided == STREAM_INVARIANTS
    assert all(outcomes[name] == {True} for name in STREAM_INVARIANTS)


def _primaries_of_one_resource(s: State, p: Params) -> bool:
    """NoSplitBrain weakened: two primary hosts are tolerated if they name the same resource."""
    return len({gs.prim for n, gs in holders(s) if is_primary_host(gs, n)}) <= 1


def _weakened(invariants: tuple[tuple[str, object], ...]) -> tuple[tuple[str, object], ...]:
    return tuple((n, _primaries_of_one_resource if n == "NoSplitBrain" else inv) for n, inv in invariants)


def _split_brain_disagreements(verdicts: Sequence[Mapping[str, bool]], python: object) -> set[str]:
    p = CORPORA["small"][0]
    invariants = python if isinstance(python, tuple) else INVARIANTS
    return {d.invariant for d in disagreements(states_of("small"), p, verdicts, invariants)}


def _placement_ignoring_order(before: GroupState, m: Msg, after: GroupState) -> bool:
    """PlacementStep weakened: any reachable resource will do, first in the order or not."""
    return placement_step(before, m, after) or (
        m.kind == ACCESS and any(after.sub[r] == (*before.sub[r], m.node) for r in bits(m.rset))
    )


@pytest.mark.tlc
def test_weakened_python_bodies_disagree_with_tlc() -> None:
    verdicts = verdicts_of("small")
    assert _split_brain_disagreements(verdicts.states, _weakened(INVARIANTS)) == {"NoSplitBrain"}
    rules = tuple((n, _placement_ignoring_order if n == "PlacementStep" else r) for n, r in STREAM_RULES)
    found = step_disagreements(corpus_of("small")[1], verdicts.steps, rules)
    assert {name for _, name in found} == {"PlacementStep"}


@pytest.mark.tlc
def test_weakened_tla_bodies_disagree_with_python() -> None:
    """NoSplitBrain tolerating two primary hosts of one resource, and PlacementStep without
    the order: one TLC run on the weakened spec, each weakening seen and nothing else."""
    weak = SPEC_MUTANTS["placement-step-any-order"].apply(SPEC_MUTANTS["no-split-brain-same-resource"].text())
    states, steps = corpus_of("small")
    verdicts = tlc_verdicts(states, CORPORA["small"][0], steps, spec_text=weak, timeout=600)
    assert _split_brain_disagreements(verdicts.states, None) == {"NoSplitBrain"}
    assert {name for _, name in step_disagreements(steps, verdicts.steps)} == {"PlacementStep"}


@pytest.mark.tlc
def test_a_spec_failing_over_to_the_last_synced_backup_disagrees_on_three_resources() -> None:
    """Only the three-resource corpus has a failover with two synchronised backups: TLC replays
    its logs through the edited ApplyFail, and its FailoverToFirstSynced disagrees with Python's."""
    states, steps = corpus_of("three resources")
    p = CORPORA["three resources"][0]
    edited = SPEC_MUTANTS["failover-to-last-synced"].text()
    verdicts = tlc_verdicts(states, p, steps, spec_text=edited, timeout=600)
    assert {d.invariant for d in disagreements(states, p, verdicts.states)} == {"FailoverToFirstSynced"}


def test_the_corpus_is_made_of_states_of_its_configuration() -> None:
    for name, (p, *_) in CORPORA.items():
        states = states_of(name)
        assert len(states) == len(set(states)) > 100
        assert all(len(s.phase) == p.nodes and len(s.resVer) == p.resources for s in states)
        assert all(len(s.writes) == p.max_writes for s in states)
        assert any(isinstance(v, GroupState) for s in states for v in s.view)
    assert dataclasses.replace(SMALL) == CORPORA["small"][0]
