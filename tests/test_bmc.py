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


@pytest.mark.parametrize(
    ("mutant", "nodes", "depth", "invariant"),
    [
        (Mutant.PLACEMENT_IGNORES_ACCESS, 2, 3, "SubgroupAccess"),
        (Mutant.REJECTED_STAYS_IN_SUBGROUP, 2, 5, "SubgroupAccess"),
    ],
    ids=lambda v: getattr(v, "value", str(v)),
)
def test_bmc_finds_the_mutant_with_a_shortest_replayable_trace(
    mutant: Mutant, nodes: int, depth: int, invariant: str
) -> None:
    p = Params(nodes, 2, 1, 1, 1, mutant)
    result = bmc(p, depth)
    assert result.verdict is BmcVerdict.VIOLATED and result.violated == invariant
    assert len(result.trace) - 1 == depth  # the explicit checker's shortest trace has this length too
    _replays(p, result.trace, invariant)


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


@pytest.mark.parametrize(
    "argv",
    [
        ["bmc", "--nodes", "2"],
        ["bmc", "--depth", "2", "--nodes", "0"],
        ["bmc", "--depth", "-1"],
        ["bmc", "--depth", "2", "--chan-slots", "0"],
    ],
)
def test_cli_bmc_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(argv) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
