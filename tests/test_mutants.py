"""Every buggy protocol variant is caught, by a known invariant, with a shortest trace."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pbjoin_model.explorer.bfs import DEADLOCK, Options, Verdict, check
from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import (
    CHOICE_MUTANTS,
    MUTANT_DESCRIPTIONS,
    RESOURCE_FAILURE_MUTANTS,
    W_REFUSED,
    Mutant,
    Params,
    successors,
)
from pbjoin_model.traces.render import format_trace
from pbjoin_model.traces.trace import from_itf

TRACES = Path(__file__).parent / "traces"

SMALL = (2, 2, 1, 1, 1)
THREE = (3, 2, 1, 0, 0)
# 2 nodes, 2 resources, 1 failure (crash or pause), no restart, no configuration change, writes
WRITES_1 = (2, 2, 1, 0, 0, 1)
WRITES_2 = (2, 2, 1, 0, 0, 2)

# The invariants that state the protocol's choices; the others are PROTOCOL.md's safety properties.
CHOICES = (
    "HostSuccession",
    "FailoverToFirstSynced",
    "PlacementFirstReachable",
    "RejectionLeavesNothing",
    "SponsorRule",
    # the rules for handling a resource failure
    "ResourceFailureHandled",
    "FailedNotMirrored",
)
SAFETY = tuple(name for name, _ in INVARIANTS if name not in CHOICES)

# mutant -> (constants, invariant that catches it, length of the shortest trace)
EXPECTED = {
    # A choice property sees a bad decision as soon as its message is in the ordered
    # stream, before any member delivers it: these are caught earlier than by SAFETY.
    Mutant.PLACEMENT_IGNORES_ACCESS: (SMALL, "PlacementFirstReachable", 2),
    Mutant.CONFIG_FROM_PRIMARY_TO_ALL: (SMALL, "ConfigReachable", 10),
    # the failed sole host stays host in durable: HostSuccession's state clause
    Mutant.NO_HOST_REPLACEMENT: (SMALL, "HostSuccession", 3),
    Mutant.PROMOTE_UNSYNCED_MIRROR: (SMALL, "FailoverToFirstSynced", 6),
    Mutant.HOST_CHOSEN_BY_LAGGING_VIEW: (THREE, "PlacementFirstReachable", 7),
    Mutant.REJECTED_STAYS_IN_SUBGROUP: (SMALL, "RejectionLeavesNothing", 2),
    # Mirroring must restart to a backup's new host: on one failure and three nodes.
    Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE: (THREE, "HostSuccession", 13),
    Mutant.NO_STATE_RESEND: (SMALL, DEADLOCK, 9),
    # The data path: an acknowledged write missing from an active mirror is caught the
    # moment the mirror is active (MirrorIsPrefix), before a failover would lose it.
    Mutant.ASYNC_ACK: (WRITES_1, "MirrorIsPrefix", 11),
    Mutant.NO_FENCING: (WRITES_2, "NoStaleWrite", 9),
    Mutant.ACK_IGNORES_SYNCING: (WRITES_1, "MirrorIsPrefix", 11),
    Mutant.RESYNC_SKIPS_CONCURRENT_WRITES: (WRITES_1, "MirrorIsPrefix", 11),
    Mutant.ACK_BEFORE_APPLY: (WRITES_1, "MirrorIsPrefix", 13),
    # The write waits for a crashed backup host's ack forever: its writer is stuck.
    Mutant.WAIT_FOR_FAILED_MIRROR: (WRITES_1, DEADLOCK, 10),
    # The new primary host shares the paused one's epoch: fencing is void.
    Mutant.NO_EPOCH_BUMP: (WRITES_1, "UniqueEpochs", 7),
}

# What PROTOCOL.md's safety properties alone catch, for the mutants a choice property
# catches first (CHOICES left out of the search).
CAUGHT_BY_SAFETY = {
    Mutant.NO_HOST_REPLACEMENT: (SMALL, "HostInSubgroup", 5),
    Mutant.PLACEMENT_IGNORES_ACCESS: (SMALL, "SubgroupAccess", 3),
    Mutant.PROMOTE_UNSYNCED_MIRROR: (SMALL, "NoDataLoss", 9),
    Mutant.HOST_CHOSEN_BY_LAGGING_VIEW: (THREE, "MirrorFromPrimary", 10),
    Mutant.REJECTED_STAYS_IN_SUBGROUP: (SMALL, "SubgroupAccess", 5),
}

# Slips in the protocol's choices that every safety property misses: each is caught by
# the one property stating that choice, and every other invariant holds on the whole
# configuration. mutant -> (constants, wirings to start from (None: all), property, length)
ONE_NODE_PER_RESOURCE = ((0b001, 0b010, 0b100),)  # n1 reaches r1, n2 r2, n3 r3
CHOICE_CASES = {
    # three members in one subgroup: the host fails, the newest member takes over
    Mutant.HOST_SUCCESSION_BY_NEWEST: ((3, 1, 1, 0, 0), None, "HostSuccession", 8),
    # two synchronised backups need three resources; every wiring of 3 x 3 is too many
    Mutant.FAILOVER_TO_LAST_SYNCED: ((3, 3, 1, 0, 0), ONE_NODE_PER_RESOURCE, "FailoverToFirstSynced", 17),
    # after a failover, the restarted old primary host reaches both resources
    Mutant.PLACEMENT_IN_STATIC_ORDER: ((2, 2, 1, 1, 0), None, "PlacementFirstReachable", 18),
    Mutant.REJECTED_LEFT_JOINING: ((2, 2, 0, 0, 0), None, "RejectionLeavesNothing", 2),
    # a backup host answers the third node's JOIN beside the primary host
    Mutant.EVERY_HOST_SPONSORS: ((3, 2, 0, 0, 0), None, "SponsorRule", 9),
}

# The failover that loses the write: with MirrorIsPrefix out of the way, NoAckedWriteLost
# catches the same mutants one failure later (the primary host crashes or pauses).
LOSES_ACKED_WRITE = {
    Mutant.ASYNC_ACK: (12, "Crash(n=n2)"),
    Mutant.ACK_IGNORES_SYNCING: (12, "Crash(n=n2)"),
    Mutant.RESYNC_SKIPS_CONCURRENT_WRITES: (12, "Crash(n=n2)"),
    Mutant.ACK_BEFORE_APPLY: (14, "Pause(n=n2)"),
    Mutant.PROMOTE_UNSYNCED_MIRROR: (7, "Crash(n=n2)"),
}


# Mutants whose shortest trace is too deep for the suite to search for: found once by
# `pbjoin check --config small --nodes 3 --resources 2 --max-failures 2 --max-restarts 0
# --max-config-changes 0 --max-writes 1 --mutant M --itf tests/traces/M.itf.json` (403 s
# here), and replayed from that file by tests/test_replay.py; `pbjoin prove` also catches
# this one, for every size (tests/test_prove.py).
DEEP = {
    # The backup's new host resynchronises, but the acknowledgement of the write the old
    # host never applied stopped waiting for it: the still-active mirror lags by one write.
    # (HostSuccession catches the same mutant on THREE: the mirror must restart.)
    Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE: ("MirrorIsPrefix", 18),
}

# Slips in handling a resource failure (spec/MC_resources.cfg: 2 nodes, 2 resources, a node
# failure, a write, a resource failure and its repair), each caught by a property that states
# the rule. mutant -> (params, wirings (None: all), property, length)
RESOURCES = Params(2, 2, 1, 0, 0, max_writes=1, max_resource_failures=1)
RESOURCE_CASES = {
    # the failed backup stays "active": the failure's delivery must stop its mirroring at once
    Mutant.LOST_BACKUP_KEEPS_MIRROR: (RESOURCES, None, "ResourceFailureHandled", 7),
    # a joiner that reaches only the failed resource is placed on it instead of rejected
    Mutant.PLACEMENT_ON_LOST_RESOURCE: (RESOURCES, None, "RejectionLeavesNothing", 6),
    Mutant.NO_FAILOVER_ON_RESOURCE_FAILURE: (RESOURCES, None, "FailoverToFirstSynced", 12),
    # mirroring to the other backups must restart after the failover: three resources
    Mutant.NO_MIRROR_RESTART_AFTER_RESOURCE_FAILOVER: (
        Params(3, 3, 0, 0, 0, max_resource_failures=1),
        ONE_NODE_PER_RESOURCE,
        "FailoverToFirstSynced",
        18,
    ),
    Mutant.REPAIRED_MIRROR_COUNTS_AT_ONCE: (RESOURCES, None, "ResourceFailureHandled", 9),
}

# What PROTOCOL.md's safety properties alone catch of them: a failed or unsynchronised copy
# counted as a mirror loses data. The other three break no safety property (the group merely
# loses availability or places a joiner where it cannot work): their choice properties, and
# FailoverHappens (tests/test_liveness.py), catch them.
RESOURCE_SAFETY = {
    Mutant.LOST_BACKUP_KEEPS_MIRROR: ("NoDataLoss", 20),
    Mutant.REPAIRED_MIRROR_COUNTS_AT_ONCE: ("MirrorIsPrefix", 12),
}

# Liveness mutants pass every safety check; tests/test_liveness.py catches them.
LIVENESS_MUTANTS = {
    Mutant.NO_MIRROR_TO_NEW_BACKUP,
    Mutant.NO_MIRROR_RESTART,
    Mutant.NO_CONFIG_PUSH_ON_TAKEOVER,
    Mutant.NO_CAUSAL_WAIT,
}


def params(constants: tuple[int, ...], mutant: Mutant = Mutant.NONE) -> Params:
    """Params from (nodes, resources, failures, restarts, changes[, writes])."""
    nodes, resources, failures, restarts, changes, *writes = constants
    return Params(nodes, resources, failures, restarts, changes, mutant, max_writes=sum(writes))


def test_every_mutant_has_an_expectation_and_a_description() -> None:
    real = {m for m in Mutant if m is not Mutant.NONE}
    cases = set(EXPECTED) | set(CHOICE_CASES) | set(DEEP) | set(RESOURCE_CASES) | LIVENESS_MUTANTS
    assert cases == real == set(MUTANT_DESCRIPTIONS)
    assert set(RESOURCE_CASES) == RESOURCE_FAILURE_MUTANTS
    assert not (set(EXPECTED) | set(CHOICE_CASES)) & LIVENESS_MUTANTS and not set(DEEP) & LIVENESS_MUTANTS
    assert not set(EXPECTED) & set(CHOICE_CASES) and set(CHOICE_CASES) == CHOICE_MUTANTS
    assert len(EXPECTED) >= 6


@pytest.mark.parametrize("mutant", list(EXPECTED), ids=lambda m: m.value)
def test_mutant_is_caught(mutant: Mutant) -> None:
    constants, invariant, length = EXPECTED[mutant]
    result = check(params(constants, mutant), Options(symmetry=True))
    assert result.verdict is Verdict.VIOLATED
    assert result.violated == invariant
    assert len(result.trace) - 1 == length
    text = format_trace(result.trace)
    assert text.startswith("  0. Initial state")
    assert f"{length:>3}. " in text


@pytest.mark.parametrize("mutant", list(CAUGHT_BY_SAFETY), ids=lambda m: m.value)
def test_mutant_is_caught_by_a_safety_property_too(mutant: Mutant) -> None:
    constants, invariant, length = CAUGHT_BY_SAFETY[mutant]
    result = check(params(constants, mutant), Options(invariants=SAFETY))
    assert result.verdict is Verdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == length


@pytest.mark.parametrize("mutant", list(CHOICE_CASES), ids=lambda m: m.value)
def test_choice_mutant_is_caught_by_its_property(mutant: Mutant) -> None:
    constants, wirings, invariant, length = CHOICE_CASES[mutant]
    result = check(params(constants, mutant), Options(wirings=wirings))
    assert result.verdict is Verdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == length


@pytest.mark.parametrize("mutant", list(CHOICE_CASES), ids=lambda m: m.value)
def test_choice_mutant_passes_every_other_invariant(mutant: Mutant) -> None:
    """Only the property stating the choice sees the slip: without it the search holds."""
    constants, wirings, invariant, _ = CHOICE_CASES[mutant]
    others = tuple(name for name, _ in INVARIANTS if name != invariant)
    result = check(params(constants, mutant), Options(wirings=wirings, invariants=others))
    assert result.verdict is Verdict.HOLDS


def test_protocol_holds_with_one_node_per_resource() -> None:
    """The configuration the failover mutant is caught on: the protocol itself passes it."""
    result = check(params((3, 3, 1, 0, 0)), Options(wirings=ONE_NODE_PER_RESOURCE))
    assert result.verdict is Verdict.HOLDS and result.initial == 1
    assert result.action_counts["ReceiveStartMirror"] > 0 and result.action_counts["Crash"] > 0


@pytest.mark.parametrize("mutant", list(DEEP), ids=lambda m: m.value)
def test_deep_mutant_has_its_shortest_trace_on_file(mutant: Mutant) -> None:
    invariant, length = DEEP[mutant]
    trace = from_itf(json.loads((TRACES / f"{mutant.value}.itf.json").read_text()))
    assert trace.params.mutant is mutant and trace.violated == invariant
    assert len(trace.steps) - 1 == length
    # the bug is visible only past what the suite's configurations search exhaustively
    assert trace.params.nodes == 3 and trace.params.max_failures == 2


@pytest.mark.parametrize("mutant", [Mutant.HOST_CHOSEN_BY_LAGGING_VIEW], ids=lambda m: m.value)
def test_mutant_needs_three_nodes(mutant: Mutant) -> None:
    """Two concurrent joiners that both claim a host need a third, sponsoring, node."""
    assert check(Params(*SMALL, mutant=mutant)).verdict is Verdict.HOLDS


@pytest.mark.parametrize("mutant", list(LOSES_ACKED_WRITE), ids=lambda m: m.value)
def test_data_path_mutant_loses_an_acknowledged_write(mutant: Mutant) -> None:
    length, failure = LOSES_ACKED_WRITE[mutant]
    result = check(params(WRITES_1, mutant), Options(invariants=("TypeOK", "NoAckedWriteLost")))
    assert result.verdict is Verdict.VIOLATED and result.violated == "NoAckedWriteLost"
    labels = [step.label() for step in result.trace[1:]]
    assert len(labels) == length and failure in labels and any(a.startswith("Write(") for a in labels)


def test_fencing_refuses_the_paused_primary_hosts_write() -> None:
    """The no-fencing trace, replayed on the protocol: the paused host's write is refused."""
    bad = check(params(WRITES_2, Mutant.NO_FENCING))
    labels = [step.label() for step in bad.trace[1:]]
    assert "Pause(n=n1)" in labels and labels[-1] == "Write(n=n1)"
    p = params(WRITES_2)
    state = bad.trace[0].state
    for step in bad.trace[1:]:
        state = next(t.state for t in successors(state, p) if t.label() == step.label())
    assert state.writes[1].st == W_REFUSED and len(state.data[0]) == 1


@pytest.mark.parametrize("max_writes", [1, 2])
def test_data_path_holds_with_a_paused_primary_host(max_writes: int) -> None:
    result = check(Params(2, 2, 1, 0, 0, max_writes=max_writes), Options())
    assert result.verdict is Verdict.HOLDS
    assert result.action_counts["Pause"] > 0 and result.action_counts["ReceiveAck"] > 0


def test_only_unique_epochs_sees_a_takeover_without_a_new_epoch() -> None:
    """With equal epochs no copy ever sees an older one: the other invariants all hold."""
    others = tuple(name for name, _ in INVARIANTS if name != "UniqueEpochs")
    assert check(params(WRITES_2, Mutant.NO_EPOCH_BUMP), Options(invariants=others)).verdict is Verdict.HOLDS


@pytest.mark.parametrize("mutant", list(RESOURCE_CASES), ids=lambda m: m.value)
def test_resource_failure_mutant_is_caught_by_its_property(mutant: Mutant) -> None:
    p, wirings, invariant, length = RESOURCE_CASES[mutant]
    result = check(dataclasses.replace(p, mutant=mutant), Options(wirings=wirings))
    assert result.verdict is Verdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == length
    assert "FailResource" in [step.action for step in result.trace]


@pytest.mark.parametrize("mutant", list(RESOURCE_SAFETY), ids=lambda m: m.value)
def test_resource_failure_mutant_is_caught_by_a_safety_property_too(mutant: Mutant) -> None:
    invariant, length = RESOURCE_SAFETY[mutant]
    result = check(dataclasses.replace(RESOURCES, mutant=mutant), Options(invariants=SAFETY))
    assert result.verdict is Verdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == length


def test_resource_failure_mutants_need_a_resource_failure() -> None:
    """Without resource failures each of them is the protocol: same states, every invariant holds."""
    base = dataclasses.replace(RESOURCES, max_resource_failures=0)
    protocol = check(base)
    for mutant in RESOURCE_CASES:
        result = check(dataclasses.replace(base, mutant=mutant))
        assert result.verdict is Verdict.HOLDS and result.distinct == protocol.distinct, mutant
