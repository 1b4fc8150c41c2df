"""ITF export and import through itf-py, and import of `pbjoin check --json` reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import itf_py
import pytest
from pbjoin_model.explorer.bfs import Options, check
from pbjoin_model.protocol.machine import VARIABLES, Mutant, Params, Step, initial_states, successors
from pbjoin_model.protocol.spec_state import TraceError, spec_state
from pbjoin_model.traces.render import trace_to_json
from pbjoin_model.traces.trace import CONSTANTS, Trace, from_checker_json, from_itf, itf_text, to_itf, to_itf_value

from pbjoin.cli.main import main

SMALL = Params(nodes=2, resources=2)
TRACES = Path(__file__).parent / "traces"
LAGGING = Params(nodes=3, resources=2, max_restarts=0, max_config_changes=0, mutant=Mutant.HOST_CHOSEN_BY_LAGGING_VIEW)


def counterexample(p: Params) -> Trace:
    result = check(p, Options())
    assert result.trace, p
    return Trace(p, tuple(result.trace), result.violated, "pbjoin check")


@pytest.fixture(scope="module")
def promote() -> Trace:
    return counterexample(Params(nodes=2, resources=2, mutant=Mutant.PROMOTE_UNSYNCED_MIRROR))


def test_itf_file_loads_back_equal_through_the_library(promote: Trace, tmp_path: Path) -> None:
    path = tmp_path / "t.itf.json"
    path.write_text(itf_text(promote))
    data = json.loads(path.read_text())
    loaded = itf_py.trace_from_json(data)
    # The library reads back exactly what it wrote, and the states are the spec's values.
    assert loaded == itf_py.trace_from_json(to_itf(promote))
    assert itf_py.trace_to_json(loaded) == data
    assert loaded.vars == list(VARIABLES)
    for st, step in zip(loaded.states, promote.steps, strict=True):
        assert st.values == {k: to_itf_value(v) for k, v in spec_state(step.state).items()}
    # ... and decoding it rebuilds the very same steps and states.
    assert from_itf(data) == promote


def test_itf_records_constants_mutant_violation_and_actions(promote: Trace) -> None:
    data = to_itf(promote)
    meta = data["#meta"]
    assert meta["format"] == "ITF"
    assert meta["Node"] == "{n1, n2}" and meta["NumRes"] == "2" and meta["MaxFailures"] == "1"
    assert meta["mutant"] == "promote-unsynced-mirror"
    assert meta["violated"] == "FailoverToFirstSynced"
    assert all(isinstance(v, str) for v in meta.values())  # readable by itf-rs too
    assert data["states"][0]["#meta"] == {"index": 0, "action": "Init", "params": {}}
    for i, (state, step) in enumerate(zip(data["states"], promote.steps, strict=True)):
        assert state["#meta"]["index"] == i and state["#meta"]["action"] == step.action
    deliver = next(s["#meta"] for s in data["states"] if s["#meta"]["action"] == "Deliver")
    assert deliver["params"] == {"n": "n1"} or deliver["params"] == {"n": "n2"}
    assert data["states"][0]["crashes"] == {"#bigint": "0"}


def regression_trace(mutant: str) -> Trace:
    return from_itf(json.loads((TRACES / f"{mutant}.itf.json").read_text()))


@pytest.mark.parametrize("path", sorted(TRACES.glob("*.itf.json")), ids=lambda p: p.name)
def test_itf_files_are_written_back_byte_for_byte(path: Path) -> None:
    """Reading a mutant's counterexample and writing it again gives the same file."""
    text = path.read_text()
    assert itf_text(from_itf(json.loads(text))) == text


def test_change_config_parameters_round_trip() -> None:
    """ChangeConfig's resource parameter is written as the spec's 1-based resource."""
    p = Params(nodes=1, resources=2, max_failures=0, max_restarts=0)
    steps = [Step("Init", (), next(s for s in initial_states(p) if s.access == (0b10,)))]
    for action in ("Join", "RecoverGroupState", "Deliver", "ChangeConfig"):
        steps.append(next(t for t in successors(steps[-1].state, p) if t.action == action))
    trace = Trace(p, tuple(steps))
    data = to_itf(trace)
    assert data["states"][-1]["#meta"]["params"] == {"n": "n1", "r": 2}
    assert from_itf(json.loads(json.dumps(data))) == Trace(p, tuple(steps), source="ITF")


def _itf(promote: Trace) -> dict[str, Any]:
    return copy.deepcopy(to_itf(promote))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("vars"), "not an ITF trace"),
        (lambda d: d.update(states=[]), "no states"),
        (lambda d: d["#meta"].update(mutant="nope"), "unknown mutant 'nope'"),
        (lambda d: d["#meta"].update(NumRes="two"), "#meta.NumRes"),
        (lambda d: d["#meta"].update(Node="{a, b}"), "#meta.Node: expected the model values"),
        (lambda d: d["#meta"].update(NumRes="0"), "resources must be between"),
        (lambda d: d["states"][3]["#meta"].update(action="Fly"), "state 3: unknown action 'Fly'"),
        (lambda d: d["states"][3]["#meta"].update(params={"x": "n1"}), "state 3: params: .* takes parameters n"),
        (lambda d: d["states"][3]["#meta"].update(params={"n": "n7"}), r"state 3: params\.n: expected a node"),
        (lambda d: d["states"][0]["#meta"].update(action="Join"), "the first state must be the initial state"),
        (lambda d: d["states"][2].update(phase={"#set": []}), "state 2: phase: expected a function"),
        (lambda d: d["states"][2].update(crashes={"#unserializable": "x"}), "state 2: crashes: unsupported"),
        (lambda d: d["states"][2].update(crashes={"tag": "Some", "value": {"a": 1}}), "variants"),
        (lambda d: d["states"][2].update(crashes={"#map": [[1]]}), "malformed ITF trace"),
    ],
)
def test_bad_itf_is_one_line_error(edit: Any, message: str, promote: Trace) -> None:
    data = _itf(promote)
    edit(data)
    with pytest.raises(TraceError, match=message):
        from_itf(data)


def test_itf_without_constants_takes_them_from_the_fallback(promote: Trace) -> None:
    data = _itf(promote)
    for name in CONSTANTS:
        del data["#meta"][name]
    with pytest.raises(TraceError, match="records no constants"):
        from_itf(data)
    assert from_itf(data, fallback=SMALL) == promote


def test_itf_without_actions_has_them_inferred(promote: Trace) -> None:
    """A trace written by another tool (Apalache, Quint) names no actions: they are found."""
    data = _itf(promote)
    for state in data["states"]:
        state["#meta"] = {"index": state["#meta"]["index"]}
    assert from_itf(data).steps == promote.steps


def test_checker_json_report_gives_the_same_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", "small", "--quiet", "--json", "--mutant", "no-host-replacement"]) == 1
    report = json.loads(capsys.readouterr().out)
    trace = from_checker_json(report)
    expected = counterexample(Params(nodes=2, resources=2, mutant=Mutant.NO_HOST_REPLACEMENT))
    assert trace.steps == expected.steps
    assert trace.violated == "HostSuccession" and trace.params == expected.params


def test_checker_json_keeps_the_host_claim_of_the_lagging_mutant() -> None:
    """That mutant's ACCESS carries a host claim; state_to_json records it so replay is exact."""
    trace = regression_trace(LAGGING.mutant.value)
    assert any(m.res >= 0 for step in trace.steps for m in step.state.log)  # a claim is made
    report = {
        "constants": {"nodes": 3, "resources": 2, "max_failures": 1, "max_restarts": 0, "max_config_changes": 0},
        "mutant": LAGGING.mutant.value,
        "violated": trace.violated,
        "trace": trace_to_json(list(trace.steps)),
    }
    assert from_checker_json(json.loads(json.dumps(report))).steps == trace.steps


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"constants": {"nodes": 2}, "trace": []}, "constants"),
        (
            {
                "constants": {
                    "nodes": 2,
                    "resources": 2,
                    "max_failures": 1,
                    "max_restarts": 1,
                    "max_config_changes": 1,
                },
                "trace": [],
            },
            "no trace",
        ),
        ([{"step": 0}], "bare trace list records no constants"),
        ("text", "expected a JSON object"),
    ],
)
def test_bad_checker_json_is_one_line_error(data: object, message: str) -> None:
    with pytest.raises(TraceError, match=message):
        from_checker_json(data)


def test_bad_checker_json_states_name_the_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", "small", "--quiet", "--json", "--mutant", "no-host-replacement"]) == 1
    report = json.loads(capsys.readouterr().out)
    edits: list[tuple[str, Any, str]] = [
        ("view", {"n1": {"prim": "r1"}}, r"step 2: view\[n1\]: missing field 'sub'"),
        ("chan", {"n1->n5": []}, "step 2: chan: unknown channel 'n1->n5'"),
        ("log", [{"kind": "ACCESS", "node": "n1", "inc": 0, "claim": "yes"}], r"step 2: log\[1\].claim"),
        ("cfg", {"n1": {"x1": 0}}, "step 2: cfg\\[n1\\]: expected a resource name"),
    ]
    for var, value, message in edits:
        bad = copy.deepcopy(report)
        bad["trace"][2]["state"][var] = value
        with pytest.raises(TraceError, match=message):
            from_checker_json(bad)
    report["trace"][1]["action"] = "Teleport"
    with pytest.raises(TraceError, match="step 1: unknown action 'Teleport'"):
        from_checker_json(report)


def test_itf_written_before_the_data_path_still_reads(promote: Trace) -> None:
    """No MaxWrites and no data-path variables: a trace from before writes existed (MaxWrites = 0)."""
    data = _itf(promote)
    del data["#meta"]["MaxWrites"]

    def strip(v: Any) -> Any:  # point-to-point messages had no data and ep fields
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if not ("gs" in v and k in ("data", "ep"))}
        return [strip(x) for x in v] if isinstance(v, list) else v

    data["states"] = [strip(state) for state in data["states"]]
    for state in data["states"]:
        for var in ("data", "fence", "epoch", "stale", "dchan", "writes"):
            del state[var]
    assert '"gs"' in json.dumps(data["states"]) and '"ep"' not in json.dumps(data["states"])
    assert from_itf(data) == promote
