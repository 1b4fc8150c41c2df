"""The model side's adequacy matrix (bench/adequacy_model.py, last run in bench/adequacy_model.json):
it covers every mutant and method, agrees with the suite's own expectations and with cells run
again now, and every model mutant is killed by a property, every spec mutant by an agreement method."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pbjoin_model.protocol.machine import CHOICE_MUTANTS, DATA_PATH_MUTANTS, Mutant
from spec_mutants import SPEC_MUTANTS
from test_bmc import SHORT
from test_liveness import LIVENESS_MUTANTS
from test_mutants import CHOICE_CASES, EXPECTED, RESOURCE_CASES, SMALL, THREE
from test_prove import CAUGHT, PASSING

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import adequacy_model as am  # noqa: E402

REPORT: dict[str, Any] = json.loads((BENCH / "adequacy_model.json").read_text())
BUDGET = am.Budget(**REPORT["budget"])
METHODS = {m.name: m for m in am.methods(BUDGET)}


def cell(mutant: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = REPORT["mutants"][mutant]["cells"][method]
    return found


def test_the_matrix_has_every_mutant_and_every_method() -> None:
    every = {m.value for m in am.MODEL_MUTANTS} | {f"spec:{n}" for n in SPEC_MUTANTS}
    assert set(REPORT["mutants"]) == set(am.subjects()) == every
    assert {name: v["kind"] for name, v in REPORT["methods"].items()} == {m.name: m.kind for m in METHODS.values()}
    for name, row in REPORT["mutants"].items():
        assert row["kind"] == am.kind_of(am.subjects()[name])
        assert set(row["cells"]) == set(METHODS)
        verdicts = (am.KILLED, am.SURVIVED, am.NOT_APPLICABLE)
        assert all(c["verdict"] in verdicts and c["how"] for c in row["cells"].values())


def test_every_model_mutant_is_killed_by_a_property_and_every_spec_mutant_by_an_agreement_method() -> None:
    """Not only by comparing the model with the spec: a slip made in both would pass that."""
    for name, row in REPORT["mutants"].items():
        required = am.required_kind(row["kind"])
        assert any(c["verdict"] == am.KILLED and METHODS[m].kind == required for m, c in row["cells"].items()), name
    kinds = {name: row["kind"] for name, row in REPORT["mutants"].items()}
    matrix = {name: row["cells"] for name, row in REPORT["mutants"].items()}
    assert am.unkilled(matrix, kinds, {m.name: m.kind for m in METHODS.values()}) == []


def test_the_matrix_agrees_with_the_suites_expectations() -> None:
    """The cells the suite's tables also state: first counterexamples, the proof's verdicts, lassos, BMC depths."""
    explorer = {SMALL: "explore small", THREE: "explore 3n2r"}
    for m, (constants, invariant, length) in EXPECTED.items():
        if constants in explorer:
            assert cell(m.value, explorer[constants])["how"] == f"{invariant} after {length} steps", m
    _, _, invariant, length = CHOICE_CASES[Mutant.FAILOVER_TO_LAST_SYNCED]
    wired = cell(Mutant.FAILOVER_TO_LAST_SYNCED.value, "explore 3n3r wired")
    assert wired["how"] == f"{invariant} after {length} steps"
    for m, (p, wirings, invariant, length) in RESOURCE_CASES.items():
        where = am.label(p) + (" wired" if wirings else "")
        assert cell(m.value, "explore resources")["how"] == f"{invariant} after {length} steps on {where}", m
    for m in CAUGHT:
        assert cell(m.value, "unbounded proof")["verdict"] == am.KILLED, m
    for m in PASSING:
        proof = cell(m.value, "unbounded proof")
        assert (proof["verdict"], proof["how"]) == (am.SURVIVED, "IndInv proved"), m
    for m in CHOICE_MUTANTS | DATA_PATH_MUTANTS:
        proof = cell(m.value, "unbounded proof")
        reason = am.CHOICE_NOT_PROVED if m in CHOICE_MUTANTS else am.NOT_ENCODED
        assert (proof["verdict"], proof["how"]) == (am.NOT_APPLICABLE, reason), m
    for m in LIVENESS_MUTANTS:
        assert cell(m.value, "liveness")["verdict"] == am.KILLED, m
    for m, nodes, depth, invariant in SHORT:
        if nodes == 2 and depth <= BUDGET.bmc_depth:
            assert cell(m.value, "BMC")["how"] == f"{invariant} at depth {depth} on (2, 2, 1, 1, 1)", m


# (mutant, method): cells of every verdict, cheap enough to run again in the suite
AGAIN = [
    ("no-host-replacement", "explore small"),
    ("every-host-sponsors", "explore small"),
    ("async-ack", "explore small"),
    ("no-fencing", "explore writes"),
    ("placement-ignores-access", "IndInv reachable"),
    ("rejected-left-joining", "BMC"),
    ("no-state-resend", "liveness"),
    ("placement-on-lost-resource", "explore resources"),
    ("spec:no-split-brain-same-resource", "explore small"),
]


@pytest.mark.parametrize(("mutant", "method"), AGAIN, ids=lambda v: str(v))
def test_cells_run_again_give_the_same_verdict(mutant: str, method: str) -> None:
    found = am.run(METHODS[method], am.subjects()[mutant])
    assert (found.verdict, found.how) == (cell(mutant, method)["verdict"], cell(mutant, method)["how"])


def test_the_script_prints_a_matrix_and_writes_its_json(tmp_path: Path) -> None:
    script = [sys.executable, str(BENCH / "adequacy_model.py")]
    shown = subprocess.run([*script, "--help"], capture_output=True, text=True, check=True)
    assert "--quick" in shown.stdout and "explore small" in shown.stdout
    out = tmp_path / "m.json"
    argv = ["--method", "explore small", "--method", "BMC", "--mutant", "no-host-replacement", "--json", str(out)]
    run = subprocess.run([*script, *argv, "--bmc-depth", "3"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == ["mutant", "explore", "small", "BMC"]
    assert lines[1].split()[:2] == ["no-host-replacement", "killed"]
    assert "model mutants killed by a property: 1/1" in run.stdout
    assert run.stderr.count("[1/2] no-host-replacement / explore small: killed (HostSuccession after 3 steps)") == 1
    report = json.loads(out.read_text())
    assert (
        report["mutants"]["no-host-replacement"]["cells"]["BMC"]["how"]
        == "HostSuccession at depth 3 on (2, 2, 1, 1, 1)"
    )
    bad = subprocess.run([*script, "--method", "nothing"], capture_output=True, text=True)
    assert bad.returncode == 2 and "no method 'nothing'" in bad.stderr


def test_update_reruns_cells_into_an_earlier_report_and_keeps_the_others(tmp_path: Path) -> None:
    script = [sys.executable, str(BENCH / "adequacy_model.py"), "--bmc-depth", "3"]
    out = tmp_path / "m.json"
    first = ["--method", "explore small", "--mutant", "no-host-replacement", "--json", str(out)]
    assert subprocess.run([*script, *first], capture_output=True, text=True, timeout=300).returncode == 0
    table = tmp_path / "m.md"
    again = ["--method", "BMC", "--mutant", "no-host-replacement", "--update", str(out), "--markdown", str(table)]
    assert subprocess.run([*script, *again], capture_output=True, text=True, timeout=300).returncode == 0
    cells = json.loads(out.read_text())["mutants"]["no-host-replacement"]["cells"]
    assert cells["explore small"]["how"] == "HostSuccession after 3 steps"
    assert cells["BMC"]["how"] == "HostSuccession at depth 3 on (2, 2, 1, 1, 1)"
    assert table.read_text().startswith("| mutant | explore small | BMC |")
    other = subprocess.run([*script[:-1], "4", "--method", "BMC", "--update", str(out)], capture_output=True, text=True)
    assert other.returncode == 2 and "is not this run's" in other.stderr
