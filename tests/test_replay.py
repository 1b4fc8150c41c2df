"""Replay on the model: regression counterexamples in tests/traces, and divergences."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from pbjoin_model.protocol.machine import Mutant, Step
from pbjoin_model.traces.replay import EXIT_DIVERGED, EXIT_HOLDS, EXIT_VIOLATED, replay
from pbjoin_model.traces.trace import Trace, from_itf, itf_text

from pbjoin.cli.main import main

TRACES = Path(__file__).parent / "traces"
REGRESSIONS = sorted(TRACES.glob("*.itf.json"))


def load(path: Path) -> Trace:
    return from_itf(json.loads(path.read_text()))


def test_there_is_a_regression_trace_per_mutant_with_a_safety_counterexample() -> None:
    names = {p.name.removesuffix(".itf.json") for p in REGRESSIONS}
    assert len(names) >= 7
    assert names <= {m.value for m in Mutant}


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.name)
def test_regression_trace_reproduces_its_violation(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = load(path)
    assert trace.params.mutant.value == path.name.removesuffix(".itf.json")  # from the trace's #meta
    assert trace.violated is not None
    result = replay(trace)
    assert result.divergence is None
    assert trace.violated in result.violations
    assert result.confirmed and result.exit_code == EXIT_VIOLATED
    assert main(["replay", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"REPRODUCED: the last state violates {trace.violated}" in out


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: p.name)
def test_the_correct_protocol_does_not_follow_a_mutant_trace(path: Path) -> None:
    trace = load(path)
    fixed = dataclasses.replace(trace, params=dataclasses.replace(trace.params, mutant=Mutant.NONE))
    result = replay(fixed)
    # Either some step is not a step of the protocol, or the end state is fine there.
    assert result.divergence is not None or trace.violated not in result.violations


def test_divergence_names_the_step_and_what_differs(capsys: pytest.CaptureFixture[str]) -> None:
    path = TRACES / "promote-unsynced-mirror.itf.json"
    assert main(["replay", str(path), "--mutant", "none"]) == EXIT_DIVERGED
    captured = capsys.readouterr()
    assert "DIVERGES at step 9: Deliver(n=n1) is enabled but leads to a different state" in captured.out
    assert "view[n1].prim: model r1, trace r2" in captured.out
    assert "dataCurrent[r1]: model TRUE, trace FALSE" in captured.out
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("pbjoin: error: ") and "step 9" in err[0]


def test_a_step_that_is_not_enabled_lists_what_is() -> None:
    trace = load(TRACES / "no-host-replacement.itf.json")
    steps = list(trace.steps)
    steps[2] = Step("Restart", (("n", 0),), steps[2].state)  # nobody is down yet
    result = replay(dataclasses.replace(trace, steps=tuple(steps)))
    assert result.divergence is not None and result.exit_code == EXIT_DIVERGED
    assert result.divergence.step == 2
    assert result.divergence.reason == "Restart(n=n1) is not enabled"
    assert result.divergence.details[0].startswith("enabled instead: ")
    assert "Join(n=n2)" in result.divergence.details[0]


def test_a_step_without_parameters_gets_the_closest_instance() -> None:
    trace = load(TRACES / "no-host-replacement.itf.json")
    steps = list(trace.steps)
    last = steps[-1]
    broken = last.state._replace(crashes=last.state.crashes + 5)
    steps[-1] = Step(last.action, (), broken)
    result = replay(dataclasses.replace(trace, steps=tuple(steps)))
    assert result.divergence is not None
    assert result.divergence.reason.startswith(f"no enabled instance of {last.action} leads to the recorded state")
    assert any(line.startswith("crashes: model") for line in result.divergence.details)


def test_the_first_state_must_be_initial() -> None:
    trace = load(TRACES / "no-host-replacement.itf.json")
    steps = list(trace.steps)
    steps[0] = Step("Init", (), steps[3].state)
    result = replay(dataclasses.replace(trace, steps=tuple(steps)))
    assert result.divergence is not None and result.divergence.step == 0
    assert result.divergence.reason == "the first state is not an initial state"


def test_a_prefix_replays_without_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = load(TRACES / "promote-unsynced-mirror.itf.json")
    prefix = dataclasses.replace(trace, steps=trace.steps[:5], violated=None)
    result = replay(prefix)
    assert result.divergence is None and result.violations == () and result.exit_code == EXIT_HOLDS
    claimed = tmp_path / "claimed.itf.json"
    claimed.write_text(itf_text(dataclasses.replace(prefix, violated="NoDataLoss")))
    assert main(["replay", str(claimed)]) == EXIT_HOLDS
    assert "NOT REPRODUCED: the trace records NoDataLoss, but the model's last state satisfies it" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"vars": [], "states": "x"}', "not an ITF trace"),
        ("[1, 2]", "bare trace list records no constants"),
        ("State 1: <Initial predicate>\n/\\ x = 1\n", "TLC output records no constants"),
    ],
)
def test_bad_trace_files_are_one_line_errors(
    content: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad"
    path.write_text(content)
    assert main(["replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"pbjoin: error: {path}: ") and message in err


def test_missing_and_binary_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    binary = tmp_path / "b.bin"
    binary.write_bytes(b"\xff\xfe\x00\x81")
    assert main(["replay", str(binary)]) == 2
    assert "not a text file" in capsys.readouterr().err
    assert main(["replay", str(TRACES / "no-host-replacement.itf.json"), "--config", "nope"]) == 2
    assert "no such configuration" in capsys.readouterr().err
