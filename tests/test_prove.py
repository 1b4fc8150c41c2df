"""The Z3 proof of IndInv: every obligation proved, every safety mutant caught with a CTI."""

from __future__ import annotations

import json
import re

import pytest
import z3
from pbjoin_model.proofs.encoding import GroupLevel, RGroupState, Vocabulary
from pbjoin_model.proofs.prove import Obligation, ProofResult, _check, prove
from pbjoin_model.protocol.machine import CHOICE_MUTANTS, DATA_PATH_MUTANTS, RESOURCE_FAILURE_MUTANTS, Mutant

from pbjoin.cli.main import main

# Safety mutants whose bug IndInv's conjuncts see, with the obligation that catches each.
CAUGHT = {
    Mutant.PLACEMENT_IGNORES_ACCESS: ("SubgroupAccess", "Place"),
    Mutant.NO_HOST_REPLACEMENT: ("HostInSubgroup", "ApplyFail"),
    Mutant.PROMOTE_UNSYNCED_MIRROR: ("PromoteOnlySynced", "ApplyFail"),
    Mutant.HOST_CHOSEN_BY_LAGGING_VIEW: ("HostStable", "Place"),
    Mutant.REJECTED_STAYS_IN_SUBGROUP: ("SubgroupAccess", "Place"),
    Mutant.CONFIG_FROM_PRIMARY_TO_ALL: ("ConfigSentToReachers", "Deliver"),
    Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE: ("MirrorStep", "ApplyFail"),
}
# A stuck joiner (no-state-resend) is a progress failure, not a broken invariant; the
# liveness mutants break no safety property either. IndInv holds for all of them.
PASSING = {
    Mutant.NO_STATE_RESEND,
    Mutant.NO_MIRROR_RESTART,
    Mutant.NO_MIRROR_TO_NEW_BACKUP,
    Mutant.NO_CONFIG_PUSH_ON_TAKEOVER,
    Mutant.NO_CAUSAL_WAIT,
}


def exit_code(argv: list[str]) -> int | str | None:
    """main's exit status, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def test_every_mutant_is_classified() -> None:
    refused = DATA_PATH_MUTANTS | CHOICE_MUTANTS | RESOURCE_FAILURE_MUTANTS
    assert set(CAUGHT) | PASSING | refused | {Mutant.NONE} == set(Mutant)


@pytest.mark.parametrize("mutant", sorted(m.value for m in CHOICE_MUTANTS))
def test_choice_mutants_are_refused_not_proved(mutant: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The proof's group level makes the protocol's choices: it would prove the protocol, not the slip."""
    assert exit_code(["prove", "--mutant", mutant]) == 2
    assert "is a slip in one of the protocol's choices" in capsys.readouterr().err


@pytest.mark.parametrize("mutant", sorted(m.value for m in RESOURCE_FAILURE_MUTANTS))
def test_resource_failure_mutants_are_refused_not_proved(mutant: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The encodings have no resource failures: such a bug must not be called proved."""
    assert exit_code(["prove", "--mutant", mutant]) == 2
    assert "is a resource-failure bug" in capsys.readouterr().err


@pytest.mark.parametrize("mutant", sorted(m.value for m in DATA_PATH_MUTANTS))
def test_data_path_mutants_are_refused_not_proved(mutant: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The proof does not see the data path, so it must not call a data-path bug proved."""
    assert exit_code(["prove", "--mutant", mutant]) == 2
    assert "is a data-path bug" in capsys.readouterr().err


def test_unbounded_proof_holds_with_every_obligation() -> None:
    result = prove()
    assert result.verdict == "proved" and result.exit_code == 0
    assert all(o.verdict == "ok" and not o.cti for o in result.obligations)
    pairs = {(o.conjunct, o.action) for o in result.obligations}
    group_actions = {
        t.action
        for t in GroupLevel(Vocabulary(), Mutant.NONE).transitions(RGroupState.fresh("a"), RGroupState.fresh("b"))
    }
    assert group_actions == {"ApplyJoin", "Place", "ApplyJoinDone", "ApplyMirrorActive", "ApplyFail"}
    for action in [*group_actions, "Init"]:
        for conjunct in ("SubgroupAccess", "MemberStatus", "HostInSubgroup", "PrimaryMirrorNone", "MirrorNeedsHost"):
            assert (conjunct, action) in pairs
    for action in ("Init", "Deliver", "ReceiveConfig", "ChangeConfig", "Crash", "OtherActions"):
        assert ("ConfigReachable", action) in pairs
    # no obligation holds vacuously: every premise set (Init, each action, GroupStateInv alone)
    # of every level is satisfiable, shown by a step of the model pinned exactly
    premises = {(o.level, o.action) for o in result.obligations}
    consistent = {(o.level, o.action): o for o in result.obligations if o.conjunct == "Consistent"}
    assert premises == set(consistent)
    assert all(o.verdict == "ok" and o.witness for o in consistent.values()), [
        o.line() for o in consistent.values() if not o.witness
    ]
    assert consistent[("group", "Implied")].line().startswith("GroupStateInv is satisfiable ok")
    assert consistent[("stream", "Init")].line().startswith("Init is satisfiable ok")
    for conjunct in ("ResourceVersioned", "ConfigSentVersioned", "HostHoldsConfig"):
        assert all((conjunct, a) in pairs for a in ("Init", "Deliver", "ReceiveConfig", "ChangeConfig", "Crash"))


def test_fixed_size_proof_holds() -> None:
    result = prove(domain=(2, 2))
    assert result.verdict == "proved"
    assert result.sizes == "2 nodes and 2 resources"


@pytest.mark.parametrize("mutant", list(CAUGHT), ids=lambda m: m.value)
def test_safety_mutant_fails_an_obligation_with_a_cti(mutant: Mutant) -> None:
    result = prove(mutant)
    assert result.verdict == "fail" and result.exit_code == 1
    failed = [o for o in result.obligations if o.verdict == "fail"]
    assert CAUGHT[mutant] in {(o.conjunct, o.action) for o in failed}
    for o in failed:
        assert "pre-state" in o.cti and f"action: {o.action}(" in o.cti and "post-state (changes):" in o.cti
        assert o.reachable.split(":")[0] in {"yes", "no", "unknown", "not checked"}


def test_a_cti_is_small_and_its_reachability_is_asked_of_the_explicit_checker() -> None:
    result = prove(Mutant.NO_HOST_REPLACEMENT)
    o = next(o for o in result.obligations if (o.conjunct, o.action) == ("HostInSubgroup", "ApplyFail"))
    assert "access[n3]" not in o.cti  # the smallest counterexample: at most two nodes
    assert re.search(r"host\[r\d\] = n\d", o.cti)
    assert o.reachable.startswith(("yes", "no"))


@pytest.mark.parametrize("mutant", sorted(PASSING, key=str), ids=str)
def test_mutants_without_a_safety_bug_pass(mutant: Mutant) -> None:
    assert prove(mutant).verdict == "proved"


def test_unknown_is_never_proved() -> None:
    a, b, c = z3.Ints("a b c")
    hard = z3.Implies(z3.And(a > 1, b > 1, c > 1), a * a * a + b * b * b != c * c * c)
    assert _check([], hard, timeout_ms=60_000, domain=None, rlimit=10_000)[0] == "unknown"
    result = ProofResult(Mutant.NONE, [Obligation("group", "X", "Y", "ok"), Obligation("group", "X", "Z", "unknown")])
    assert result.verdict == "unknown" and result.exit_code == 3


def test_cli_prove_unbounded(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--unbounded"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "preserves SubgroupAccess under Place ok" in "\n".join(out)
    lines = [line for line in out if line.startswith(("preserves", "initially"))]
    assert lines and all(re.fullmatch(r"(preserves \w+ under \w+|initially \w+) ok \(\d+\.\d\d s\)", x) for x in lines)
    assert "verdict: PROVED" in out[-1]


def test_cli_prove_json_and_mutant(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--json", "--mutant", "promote-unsynced-mirror"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "fail" and report["exit_code"] == 1
    failing = [o for o in report["obligations"] if o["verdict"] == "fail"]
    assert failing and all(o["cti"] for o in failing)


@pytest.mark.parametrize(
    "argv",
    [
        ["prove", "--nodes", "2"],
        ["prove", "--unbounded", "--nodes", "2", "--resources", "2"],
        ["prove", "--nodes", "0", "--resources", "2"],
        ["prove", "--timeout", "0"],
    ],
)
def test_cli_prove_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert exit_code(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error" in err
