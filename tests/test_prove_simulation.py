"""The simulation check: every step of the Python model is a step of the abstract encodings
that `pbjoin prove` proves IndInv of, and the check rejects what it must."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from pbjoin_model.proofs.encoding import EncodingEdit
from pbjoin_model.proofs.prove import prove
from pbjoin_model.proofs.simulation import SimulationResult, StepMutant, name
from pbjoin_model.proofs.simulation import simulate as simulate_here
from pbjoin_model.protocol.machine import MSG_NAMES, RESOURCE_MSG_NAMES, Mutant, Params

from pbjoin.cli.main import main

SMALL = Params(2, 1, 1, 1, 1)  # restarts and a configuration change
TWO_RESOURCES = Params(2, 2, 1, 1, 1)  # mirrors: START_MIRROR, MIRROR_ACTIVE
THREE_NODES = Params(3, 1, 2, 0, 0)  # two failures
THREE_BY_TWO = Params(3, 2, 1, 0, 0)  # a backup subgroup of two, lagging views, mirrors

# Every action and the message kind it takes, as the coverage names them. The encodings'
# configurations have no resource failures, hence no RES_FAIL or RES_REPAIR.
KINDS = set(MSG_NAMES) - set(RESOURCE_MSG_NAMES)
DELIVERIES = {f"Deliver({kind})" for kind in KINDS}
RECEIPTS = {"ReceiveGroupState(GROUP_STATE)", "ReceiveConfig(CONFIG)", "ReceiveStartMirror(START_MIRROR)"}
EVERY_STEP = {"Join", "RecoverGroupState", "ChangeConfig", "Crash", "Restart"} | DELIVERIES | RECEIPTS


def simulate(*args: Any, **kwargs: Any) -> SimulationResult:
    """`simulate` in a fresh interpreter. Z3 sizes a check's tables by the largest term id its
    context ever gave out, so in a pytest worker that ran the proofs before, the same checks
    took 3 to 8 times as long (measured: 11 s fresh, 28 s after 3 M terms made and freed)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as fresh:
        return fresh.submit(simulate_here, *args, **kwargs).result()


def _failing(result: SimulationResult) -> set[tuple[str, str]]:
    return {(c.level, c.action) for c in result.failures()}


def _covered(result: SimulationResult) -> dict[str, set[str]]:
    """Per level, what the configurations have between them; each has every one checked."""
    for one in result.passes:
        assert all(not one.uncovered(level) for level in one.levels), one.name
    return {level: set().union(*(one.to_cover[level] for one in result.passes)) for level in result.passes[0].levels}


def test_the_protocol_simulates_at_every_level() -> None:
    result = simulate((SMALL, TWO_RESOURCES), per_stratum=1)
    assert result.verdict == "ok" and result.exit_code == 0, [c.line() for c in result.failures()]
    assert [(one.name, one.states, one.steps) for one in result.passes] == [
        ("2,1,1,1,1", 604, 1269),
        ("2,2,1,1,1", 4332, 9563),
    ]
    # every concrete action and every message kind is covered, at each level
    assert _covered(result) == {"group": KINDS, "config": EVERY_STEP, "stream": EVERY_STEP | {"Compact"}}
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
    assert (result.passes[0].states, result.passes[0].steps) == (5213, 18092)
    assert min(result.count(level) for level in ("group", "config", "stream")) >= 40
    mirrors = {"ReceiveStartMirror(START_MIRROR)", "Deliver(MIRROR_ACTIVE)"}  # with one resource, none
    assert _covered(result)["config"] == EVERY_STEP - {"Restart", "ChangeConfig"} - mirrors


# (3,2,1,0,0) has 414,695 steps up to renaming nodes: enumerating them takes about 20 s, its
# group-level pairs about 20 s, its stream-level steps about 45 s; one test per level pair.
THREE_BY_TWO_STEPS = EVERY_STEP - {"Restart", "ChangeConfig"}


def test_three_nodes_two_resources_simulate_at_the_group_and_configuration_levels() -> None:
    result = simulate((THREE_BY_TWO,), per_stratum=1, levels=("group", "config"))
    assert result.verdict == "ok", [c.line() for c in result.failures()]
    one = result.passes[0]
    assert (one.states, one.steps, one.pairs) == (115695, 414695, 2281)
    assert _covered(result) == {"group": KINDS, "config": THREE_BY_TWO_STEPS}
    assert one.count("config") == one.strata and one.count("group") == one.pairs


def test_three_nodes_two_resources_simulate_at_the_stream_level() -> None:
    result = simulate((THREE_BY_TWO,), per_stratum=1, levels=("stream",))
    assert result.verdict == "ok", [c.line() for c in result.failures()]
    one = result.passes[0]
    assert _covered(result) == {"stream": THREE_BY_TWO_STEPS | {"Compact"}}
    assert one.count("stream") - one.count("stream", "Compact") == one.strata


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
    # the shallowest step of each stratum comes before an unsynchronised mirror is promoted;
    # the second, drawn at random, is in the states after it
    result = simulate(
        (p,), mutant=mutant, per_stratum=2, levels=("group", "stream"), actions=frozenset({"FAIL", "Crash"})
    )
    assert result.verdict == "fail"
    assert {("group", "FAIL"), ("stream", "Crash")} <= _failing(result)
    crash = next(c for c in result.failures() if (c.level, c.action) == ("stream", "Crash"))
    assert "contradicts the axioms about apply" in crash.note
    # the group level's encoding of the mutant is the mutant: there, every step simulates
    # (the stream level takes the protocol's group-level lemmas as axioms: it never has the mutant)
    own = simulate((p,), mutant=mutant, encoding=mutant, per_stratum=1, levels=("group", "config"))
    assert own.verdict == "ok"


@pytest.mark.parametrize(
    ("mutant", "p", "level", "action"),
    [
        (Mutant.PLACEMENT_IGNORES_ACCESS, TWO_RESOURCES, "group", "ACCESS"),
        (Mutant.NO_HOST_REPLACEMENT, TWO_RESOURCES, "group", "FAIL"),
        (Mutant.REJECTED_STAYS_IN_SUBGROUP, TWO_RESOURCES, "group", "ACCESS"),
        (Mutant.PLACEMENT_IN_STATIC_ORDER, TWO_RESOURCES, "group", "ACCESS"),
        (Mutant.CONFIG_FROM_PRIMARY_TO_ALL, TWO_RESOURCES, "config", "ReceiveConfig"),
        # these two need a third node (a lagging view; a backup subgroup of two)
        (Mutant.HOST_CHOSEN_BY_LAGGING_VIEW, THREE_BY_TWO, "group", "ACCESS"),
        (Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE, THREE_BY_TWO, "group", "FAIL"),
    ],
    ids=lambda v: v.value if isinstance(v, Mutant) else name(v) if isinstance(v, Params) else str(v),
)
def test_model_mutants_fail_against_the_protocols_encodings(mutant: Mutant, p: Params, level: str, action: str) -> None:
    """Only the steps of the action the mutant changes are checked (the others simulate, as
    the protocol's do: test_the_protocol_simulates_at_every_level and the 3-node tests)."""
    result = simulate((p,), mutant=mutant, per_stratum=1, levels=(level,), actions=frozenset({action}))
    assert (level, action) in _failing(result)
    assert {c.action for c in result.checks} == {action}


@pytest.mark.parametrize(
    ("mutant", "step_mutant", "action", "abstract"),
    [
        (Mutant.NONE, StepMutant.CRASH_KEEPS_CHANNELS, "Crash", "Crash"),
        (Mutant.NONE, StepMutant.RESTART_KEEPS_INCARNATION, "Restart", "Restart"),
        (Mutant.NONE, StepMutant.DELIVER_SKIPS_CONFIG_READ, "Deliver", "Deliver"),
        (Mutant.NONE, StepMutant.COMPACT_FOLDS_EVERYTHING, "Compact", "Compact"),
        (Mutant.CONFIG_FROM_PRIMARY_TO_ALL, StepMutant.NONE, "ReceiveConfig", "Receive"),
    ],
    ids=[m.value for m in StepMutant if m is not StepMutant.NONE] + [Mutant.CONFIG_FROM_PRIMARY_TO_ALL.value],
)
def test_a_changed_stream_step_fails_the_stream_level(
    mutant: Mutant, step_mutant: StepMutant, action: str, abstract: str
) -> None:
    """A stream-level step of the model changed (a slip in Crash, Restart, Deliver, compaction,
    or config-from-primary-to-all's ReceiveConfig) has no counterpart at the stream level,
    whose states alone are consistent: the step itself is what no abstract action allows."""
    p = TWO_RESOURCES if mutant is Mutant.CONFIG_FROM_PRIMARY_TO_ALL else SMALL
    result = simulate((p,), mutant=mutant, step_mutant=step_mutant, per_stratum=1, levels=("stream",))
    assert result.verdict == "fail" and result.step_mutant is step_mutant
    assert _failing(result) == {("stream", action)}
    failed = result.failures()[0]
    assert failed.tried == abstract and "no abstract counterpart among" in failed.line()
    assert action == "Compact" or failed.note == "no abstract action allows this step"


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
    assert "2,1,1,1,1 (2 nodes, 1 resources, MaxFailures 1, MaxRestarts 1, MaxConfigChanges 1" in out
    assert "604 states, 1,269 steps, 35 strata" in out
    assert (
        "checked: group 80 (every distinct group state and message the logs chain); config 35 of 1,269 steps; "
        "stream 35 of 1,269 steps and 15 Compacts" in out
    )
    assert "covered, every action and message kind it has: group ACCESS, FAIL, JOIN, JOIN_DONE; " in out
    assert "verdict: SIMULATES" in out
    argv = ["prove", "--simulation", "--configuration", "2,1,1,1,1", "--per-stratum", "1", "--json"]
    assert main([*argv, "--encoding-edit", "hosts-never-crash"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "fail" and report["encoding_edit"] == "hosts-never-crash"
    assert any(f["level"] == "stream" and f["action"] == "Crash" for f in report["failures"])
    [one] = report["configurations"]
    assert one["configuration"] == "2,1,1,1,1" and (one["states"], one["steps"], one["strata"]) == (604, 1269, 35)
    assert one["checked"] == {"group": 80, "config": 35, "stream": 50} and one["stream_compacts"] == 15
    assert one["uncovered"] == {"group": [], "config": [], "stream": []} and "Compact" in one["covered"]["stream"]
    assert main([*argv, "--step-mutant", "restart-keeps-incarnation"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["step_mutant"] == "restart-keeps-incarnation"
    assert {(f["level"], f["action"]) for f in report["failures"]} == {("stream", "Restart")}


def test_cli_simulation_names_its_configurations(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["prove", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "2,1,1,1,1; 2,2,1,1,1; 2,1,2,1,1; 3,1,2,0,0; 3,1,1,1,0; 3,1,1,0,1; 3,2,1,0,0" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["prove", "--encoding-edit", "hosts-never-crash"],
        ["prove", "--simulation", "--nodes", "2", "--resources", "1"],
        ["prove", "--simulation", "--configuration", "2,1"],
        ["prove", "--simulation", "--encoding-edit", "nonsense"],
        ["prove", "--simulation", "--step-mutant", "nonsense"],
    ],
)
def test_cli_simulation_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code  # type: ignore[assignment]
    assert code == 2
    assert "error" in capsys.readouterr().err
