"""The simulation check: every step of the Python model is a step of the abstract encodings
that `pbjoin prove` proves IndInv of, and the check rejects what it must."""

from __future__ import annotations

import json

import pytest
from pbjoin_model.proofs.encoding import EncodingEdit
from pbjoin_model.proofs.prove import prove
from pbjoin_model.proofs.simulation import SimulationResult, simulate
from pbjoin_model.protocol.machine import MSG_NAMES, RESOURCE_MSG_NAMES, Mutant, Params

from pbjoin.cli.main import main

SMALL = Params(2, 1, 1, 1, 1)  # restarts and a configuration change
TWO_RESOURCES = Params(2, 2, 1, 1, 1)  # mirrors: START_MIRROR, MIRROR_ACTIVE
THREE_NODES = Params(3, 1, 2, 0, 0)  # two failures


def _failing(result: SimulationResult) -> set[tuple[str, str]]:
    return {(c.level, c.action) for c in result.failures()}


def test_the_protocol_simulates_at_every_level() -> None:
    result = simulate((SMALL, TWO_RESOURCES), per_stratum=1)
    assert result.verdict == "ok" and result.exit_code == 0, [c.line() for c in result.failures()]
    assert result.steps == {"2 nodes, 1 resources, 1/1/1": 2526, "2 nodes, 2 resources, 1/1/1": 19102}
    # every concrete action and every message kind is covered, at each level
    stream = {c.action for c in result.checks if c.level == "stream"}
    assert stream == {
        "Join",
        "ReceiveGroupState",
        "RecoverGroupState",
        "Deliver",
        "ReceiveConfig",
        "ReceiveStartMirror",
        "ChangeConfig",
        "Crash",
        "Restart",
        "Compact",
    }
    assert {c.action for c in result.checks if c.level == "config"} == stream - {"Compact"}
    # no resource failures in the encodings' configurations: no RES_FAIL or RES_REPAIR
    assert {c.action for c in result.checks if c.level == "group"} == set(MSG_NAMES) - set(RESOURCE_MSG_NAMES)
    assert {c.abstract for c in result.checks if c.level == "group"} >= {
        "ApplyJoin",
        "Place",
        "ApplyJoinDone",
        "ApplyMirrorActive",
        "ApplyFail",
    }
    assert {c.abstract for c in result.checks if c.level == "stream"} == {
        "Join",
        "Adopt",
        "Deliver",
        "Receive",
        "ChangeConfig",
        "Crash",
        "Restart",
        "Compact",
    }


def test_the_protocol_simulates_on_three_nodes_with_two_failures() -> None:
    result = simulate((THREE_NODES,), per_stratum=1)
    assert result.verdict == "ok", [c.line() for c in result.failures()]
    assert result.steps == {"3 nodes, 1 resources, 2/0/0": 107907}
    assert min(result.count(level) for level in ("group", "config", "stream")) >= 40


@pytest.mark.parametrize(
    ("edit", "caught"),
    [
        (EncodingEdit.HOSTS_NEVER_CRASH, {("stream", "Crash"), ("config", "Crash"), ("group", "FAIL")}),
        (EncodingEdit.FAIL_NEVER_DELIVERED, {("stream", "Deliver"), ("group", "FAIL")}),
    ],
    ids=lambda v: v.value if isinstance(v, EncodingEdit) else "",
)
def test_each_restrictive_encoding_edit_fails(edit: EncodingEdit, caught: set[tuple[str, str]]) -> None:
    result = simulate((SMALL,), edit=edit, per_stratum=1)
    assert result.verdict == "fail" and result.exit_code == 1
    assert caught <= _failing(result)
    line = next(c.line() for c in result.failures() if c.level == "stream")
    assert "no abstract counterpart among" in line and "no abstract action allows this step" in line


def test_a_model_mutant_the_encoding_does_not_share_fails() -> None:
    """promote-unsynced-mirror breaks NoDataLoss in the model; the protocol's encodings (which
    `pbjoin prove` proves) do not have it, so the model no longer simulates them."""
    p, mutant = TWO_RESOURCES, Mutant.PROMOTE_UNSYNCED_MIRROR
    result = simulate((p,), mutant=mutant, per_stratum=1, levels=("group", "stream"))
    assert result.verdict == "fail"
    assert {("group", "FAIL"), ("stream", "Crash")} <= _failing(result)
    crash = next(c for c in result.failures() if (c.level, c.action) == ("stream", "Crash"))
    assert "contradicts the axioms about apply" in crash.note
    # the group level's encoding of the mutant is the mutant: there, every step simulates
    # (the stream level takes the protocol's group-level lemmas as axioms: it never has the mutant)
    own = simulate((p,), mutant=mutant, encoding=mutant, per_stratum=1, levels=("group", "config"))
    assert own.verdict == "ok"


@pytest.mark.parametrize(
    ("mutant", "level", "action"),
    [
        (Mutant.PLACEMENT_IGNORES_ACCESS, "group", "ACCESS"),
        (Mutant.NO_HOST_REPLACEMENT, "group", "FAIL"),
        (Mutant.REJECTED_STAYS_IN_SUBGROUP, "group", "ACCESS"),
        (Mutant.PLACEMENT_IN_STATIC_ORDER, "group", "ACCESS"),
        (Mutant.CONFIG_FROM_PRIMARY_TO_ALL, "config", "ReceiveConfig"),
    ],
    ids=lambda v: v.value if isinstance(v, Mutant) else str(v),
)
def test_model_mutants_fail_against_the_protocols_encodings(mutant: Mutant, level: str, action: str) -> None:
    result = simulate((TWO_RESOURCES,), mutant=mutant, per_stratum=1, levels=(level,))
    assert (level, action) in _failing(result)


def test_the_config_mutant_simulates_its_own_encoding() -> None:
    mutant = Mutant.CONFIG_FROM_PRIMARY_TO_ALL
    result = simulate((TWO_RESOURCES,), mutant=mutant, encoding=mutant, per_stratum=1, levels=("config",))
    assert result.verdict == "ok"


def test_prove_is_blind_to_a_restrictive_edit() -> None:
    """What the simulation check is for: cutting every host's crash out of the encodings
    leaves IndInv provable."""
    assert prove(edit=EncodingEdit.HOSTS_NEVER_CRASH).verdict == "proved"


def test_unsatisfiable_premises_are_a_failing_verdict() -> None:
    """fail-never-delivered makes ApplyFail's premises contradictory: its obligations all
    hold vacuously, and only the consistency obligation says so."""
    result = prove(edit=EncodingEdit.FAIL_NEVER_DELIVERED)
    assert result.verdict == "fail"
    failed = {(o.level, o.conjunct, o.action) for o in result.obligations if o.verdict == "fail"}
    assert ("group", "Consistent", "ApplyFail") in failed
    assert all(conjunct == "Consistent" for _, conjunct, _ in failed)
    assert all(o.verdict == "ok" for o in result.obligations if o.action == "ApplyFail" and o.conjunct != "Consistent")


def test_cli_simulation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--simulation", "--configuration", "2,1,1,1,1", "--per-stratum", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 nodes, 1 resources, 1/1/1: 2526 steps" in out and "verdict: SIMULATES" in out
    argv = ["prove", "--simulation", "--configuration", "2,1,1,1,1", "--per-stratum", "1", "--json"]
    assert main([*argv, "--encoding-edit", "hosts-never-crash"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "fail" and report["encoding_edit"] == "hosts-never-crash"
    assert any(f["level"] == "stream" and f["action"] == "Crash" for f in report["failures"])


@pytest.mark.parametrize(
    "argv",
    [
        ["prove", "--encoding-edit", "hosts-never-crash"],
        ["prove", "--simulation", "--nodes", "2", "--resources", "1"],
        ["prove", "--simulation", "--configuration", "2,1"],
        ["prove", "--simulation", "--encoding-edit", "nonsense"],
    ],
)
def test_cli_simulation_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    assert "error" in capsys.readouterr().err
