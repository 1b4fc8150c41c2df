"""Bounded model checking finds mutants with traces that replay on the explicit model."""

from __future__ import annotations

import json

import pytest
from pbjoin_model.explorer.bfs import check
from pbjoin_model.proofs.bmc import BmcVerdict, bmc
from pbjoin_model.protocol.machine import DATA_PATH_MUTANTS, RESOURCE_FAILURE_MUTANTS, Mutant, Params
from pbjoin_model.traces.replay import replay
from pbjoin_model.traces.trace import Trace

from pbjoin.cli.main import main


def _replays(p: Params, result_trace: list, violated: str) -> None:  # type: ignore[type-arg]
    outcome = replay(Trace(p, tuple(result_trace), violated, "pbjoin bmc"))
    assert outcome.divergence is None, outcome.divergence
    assert outcome.confirmed


# Safety mutants with the explicit checker's shortest counterexample: nodes, its length,
# the invariant it breaks and the channel slots the search gets. The deadlock-only
# no-state-resend needs 9 steps and has its own test below.
SHORT = [
    # the choice properties see these bad decisions as soon as the message is multicast
    (Mutant.PLACEMENT_IGNORES_ACCESS, 2, 2, "PlacementFirstReachable"),
    (Mutant.NO_HOST_REPLACEMENT, 2, 3, "HostSuccession"),
    (Mutant.REJECTED_STAYS_IN_SUBGROUP, 2, 2, "RejectionLeavesNothing"),
    (Mutant.REJECTED_LEFT_JOINING, 2, 2, "RejectionLeavesNothing"),
]
DEEP = [
    (Mutant.PROMOTE_UNSYNCED_MIRROR, 2, 9, "NoDataLoss", 3),
    (Mutant.CONFIG_FROM_PRIMARY_TO_ALL, 2, 10, "ConfigReachable", 2),
]


def test_every_safety_mutant_is_covered() -> None:
    covered = {m for m, *_ in SHORT + DEEP} | {Mutant.NO_STATE_RESEND}
    liveness = {
        Mutant.NONE,
        Mutant.NO_MIRROR_RESTART,
        Mutant.NO_MIRROR_TO_NEW_BACKUP,
        Mutant.NO_CONFIG_PUSH_ON_TAKEOVER,
        Mutant.NO_CAUSAL_WAIT,
    }
    # The Z3 encodings stop at the join protocol; tests/test_mutants.py catches these.
    # A mirror kept active across a host change needs 3 nodes and 2 failures: the unbounded
    # proof catches it (tests/test_prove.py), BMC's depth does not reach it in the suite.
    beyond_depth = {Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE}
    # host-chosen-by-lagging-view needs 3 nodes and 10 steps: BMC finds it (`pbjoin bmc
    # --nodes 3 --depth 10 --from-depth 10 --invariant MirrorFromPrimary --chan-slots 3
    # --mutant host-chosen-by-lagging-view`), but Z3 took 2.5 to 11 minutes here (its time
    # varies with what the process built before), too long for the suite. The unbounded
    # proof's CTI (tests/test_prove.py), the simulation check and the explicit checker
    # catch it in the suite.
    beyond_suite = {Mutant.HOST_CHOSEN_BY_LAGGING_VIEW}
    # Slips in the protocol's choices that need three nodes, three resources or 18 steps:
    # tests/test_mutants.py catches them, tests/test_prove_symbolic.py checks that the
    # symbolic model takes their steps and its invariants see their slips.
    choices_beyond_depth = {
        Mutant.HOST_SUCCESSION_BY_NEWEST,
        Mutant.FAILOVER_TO_LAST_SYNCED,
        Mutant.PLACEMENT_IN_STATIC_ORDER,
        Mutant.EVERY_HOST_SPONSORS,
    }
    refused = DATA_PATH_MUTANTS | RESOURCE_FAILURE_MUTANTS  # the encodings have neither
    assert covered | liveness | refused | beyond_depth | beyond_suite | choices_beyond_depth == set(Mutant)


def test_bmc_refuses_the_data_path_with_a_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bmc", "--config", "writes", "--depth", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the data path is checked by pbjoin check and TLC" in err


@pytest.mark.parametrize(("mutant", "nodes", "depth", "invariant"), SHORT, ids=lambda v: getattr(v, "value", v))
def test_bmc_finds_a_shortest_replayable_trace(mutant: Mutant, nodes: int, depth: int, invariant: str) -> None:
    """Depth by depth, every invariant and Deadlock: nothing shallower, then the violation."""
    p = Params(nodes, 2, 1, 1, 1, mutant)
    result = bmc(p, depth)
    assert result.verdict is BmcVerdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == depth == result.reached
    _replays(p, result.trace, invariant)


@pytest.mark.parametrize(("mutant", "nodes", "depth", "invariant", "slots"), DEEP, ids=lambda v: getattr(v, "value", v))
def test_bmc_finds_a_deep_mutant_with_a_replayable_trace(
    mutant: Mutant, nodes: int, depth: int, invariant: str, slots: int
) -> None:
    """Asked at the shortest counterexample's depth only, for the invariant it breaks."""
    p = Params(nodes, 2, 1, 1, 1, mutant)
    result = bmc(p, depth, chan_slots=slots, invariants=(invariant,), from_depth=depth)
    assert result.verdict is BmcVerdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == depth
    _replays(p, result.trace, invariant)


def test_bmc_with_a_fixed_wiring() -> None:
    p = Params(2, 2, 1, 1, 1, Mutant.NO_HOST_REPLACEMENT)
    result = bmc(p, 5, invariants=("HostInSubgroup",), from_depth=5, access=(1, 1))
    assert result.verdict is BmcVerdict.VIOLATED and result.trace[0].state.access == (1, 1)
    _replays(p, result.trace, "HostInSubgroup")


def test_bmc_finds_the_deadlock_only_mutant_on_the_checker_counterexample_wiring() -> None:
    """no-state-resend breaks no safety property: its joiner is stuck (Deadlock) after 9 steps."""
    p = Params(2, 2, 1, 1, 1, Mutant.NO_STATE_RESEND)
    explicit = check(p)
    assert explicit.violated == "Deadlock" and len(explicit.trace) - 1 == 9
    wiring = explicit.trace[0].state.access
    result = bmc(p, 9, invariants=("Deadlock",), from_depth=9, access=wiring)
    assert result.verdict is BmcVerdict.VIOLATED and result.violated == "Deadlock"
    assert len(result.trace) - 1 == 9 and result.trace[0].state.access == wiring
    _replays(p, result.trace, "Deadlock")


def test_bmc_protocol_holds_up_to_the_depth() -> None:
    result = bmc(Params(2, 2, 1, 1, 1), 3)
    assert result.verdict is BmcVerdict.HOLDS and result.reached == 3 and result.overflow_at is None


def _exit_code(argv: list[str]) -> int | str | None:
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_cli_bmc(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bmc", "--depth", "3", "--nodes", "2", "--mutant", "placement-ignores-access", "--json"]
    assert _exit_code(argv) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["violated"] == "PlacementFirstReachable" and len(report["trace"]) == 3
    assert _exit_code(["bmc", "--depth", "2", "--nodes", "2"]) == 0
    assert "HOLDS up to depth 2" in capsys.readouterr().out
    argv = ["bmc", "--depth", "5", "--from-depth", "5", "--nodes", "2", "--invariant", "HostInSubgroup"]
    assert _exit_code([*argv, "--mutant", "no-host-replacement"]) == 1
    assert "VIOLATED: HostInSubgroup after 5 steps" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["bmc", "--nodes", "2"],
        ["bmc", "--depth", "2", "--nodes", "0"],
        ["bmc", "--depth", "-1"],
        ["bmc", "--depth", "2", "--chan-slots", "0"],
        ["bmc", "--depth", "2", "--from-depth", "3"],
        ["bmc", "--depth", "2", "--invariant", "NoSuchThing"],
    ],
)
def test_cli_bmc_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(argv) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
