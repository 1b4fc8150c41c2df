"""Bounded model checking finds mutants with traces that replay on the explicit model."""

from __future__ import annotations

import json

import pytest

from model.bmc import BmcVerdict, bmc
from model.cli import main
from model.protocol import Mutant, Params
from model.replay import replay
from model.traces import Trace


def _replays(p: Params, result_trace: list, violated: str) -> None:  # type: ignore[type-arg]
    outcome = replay(Trace(p, tuple(result_trace), violated, "pbjoin bmc"))
    assert outcome.divergence is None, outcome.divergence
    assert outcome.confirmed


# Every safety mutant with the explicit checker's shortest counterexample: nodes, its
# length and the invariant it breaks (no-state-resend leaves a joiner stuck: Deadlock).
MUTANT_TRACES = [
    (Mutant.PLACEMENT_IGNORES_ACCESS, 2, 3, "SubgroupAccess"),
    (Mutant.NO_HOST_REPLACEMENT, 2, 5, "HostInSubgroup"),
    (Mutant.REJECTED_STAYS_IN_SUBGROUP, 2, 5, "SubgroupAccess"),
    (Mutant.PROMOTE_UNSYNCED_MIRROR, 2, 9, "NoDataLoss"),
    (Mutant.NO_STATE_RESEND, 2, 9, "Deadlock"),
    (Mutant.CONFIG_FROM_PRIMARY_TO_ALL, 2, 10, "ConfigReachable"),
    (Mutant.HOST_CHOSEN_BY_LAGGING_VIEW, 3, 10, "MirrorFromPrimary"),
]


def test_every_safety_mutant_has_a_case() -> None:
    caught = {m for m, *_ in MUTANT_TRACES}
    liveness = {
        Mutant.NONE,
        Mutant.NO_MIRROR_RESTART,
        Mutant.NO_MIRROR_TO_NEW_BACKUP,
        Mutant.NO_CONFIG_PUSH_ON_TAKEOVER,
    }
    assert caught | liveness == set(Mutant)


@pytest.mark.parametrize(("mutant", "nodes", "depth", "invariant"), MUTANT_TRACES, ids=lambda v: getattr(v, "value", v))
def test_bmc_finds_the_mutant_with_a_replayable_trace(mutant: Mutant, nodes: int, depth: int, invariant: str) -> None:
    """Asked at the shortest counterexample's depth only (the shallower ones are shown
    to be clean for the short mutants below), for the invariant that mutant breaks."""
    p = Params(nodes, 2, 1, 1, 1, mutant)
    result = bmc(p, depth, invariants=(invariant,), from_depth=depth)
    assert result.verdict is BmcVerdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == depth
    _replays(p, result.trace, invariant)


@pytest.mark.parametrize(
    ("mutant", "nodes", "depth", "invariant"), MUTANT_TRACES[:3], ids=lambda v: getattr(v, "value", v)
)
def test_bmc_traces_are_shortest(mutant: Mutant, nodes: int, depth: int, invariant: str) -> None:
    result = bmc(Params(nodes, 2, 1, 1, 1, mutant), depth)
    assert result.verdict is BmcVerdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == depth == result.reached  # depth by depth: nothing shallower


def test_bmc_beyond_explicit_search_four_nodes() -> None:
    p = Params(4, 2, 1, 1, 1, Mutant.PLACEMENT_IGNORES_ACCESS)
    result = bmc(p, 3)
    assert result.verdict is BmcVerdict.VIOLATED and result.violated == "SubgroupAccess"
    _replays(p, result.trace, "SubgroupAccess")


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
    assert report["violated"] == "SubgroupAccess" and len(report["trace"]) == 4
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
