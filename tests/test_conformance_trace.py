"""Implementation logs in the common trace model, and traces replayed on the implementation."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pbjoin_model.cli.trace import load_trace
from pbjoin_model.conformance.refinement import ConformanceError
from pbjoin_model.conformance.trace import replay_on_implementation, trace_of_log
from pbjoin_model.protocol.machine import Params, Step, initial_states, successors
from pbjoin_model.traces.html import render_html
from pbjoin_model.traces.replay import replay
from pbjoin_model.traces.trace import Trace, from_itf, to_itf

from pbjoin.cli.main import main
from pbjoin.demo import run_demo
from pbjoin.steplog import read_log

TRACES = sorted(Path("tests/traces").glob("*.itf.json"))


@pytest.fixture(scope="module")
def demo_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = run_demo(tmp_path_factory.mktemp("demo") / "c", echo=lambda _: None, verbose=False)
    return result.log


def test_a_log_becomes_a_trace_the_model_replays(demo_log: Path) -> None:
    trace = trace_of_log(*read_log(demo_log))
    assert len(trace.steps) == 121 and trace.steps[0].action == "Init"
    assert [s.label() for s in trace.steps[1:3]] == ["Join(n=n1)", "RecoverGroupState(n=n1)"]
    result = replay(trace)
    assert result.divergence is None and result.violations == ()


def test_a_log_trace_survives_the_itf_round_trip(demo_log: Path) -> None:
    trace = trace_of_log(*read_log(demo_log))
    back = from_itf(to_itf(trace))
    assert back.params == trace.params and not back.params.compact_log
    assert back.steps == trace.steps


def test_the_html_view_draws_a_lane_per_member(demo_log: Path) -> None:
    page = render_html(trace_of_log(*read_log(demo_log)))
    assert page.count("<html") == 1 and all(f"n{i}" in page for i in range(1, 6))
    assert 'src="http' not in page and 'href="http' not in page  # works offline


def test_a_log_that_does_not_conform_is_refused_in_one_line(demo_log: Path, tmp_path: Path) -> None:
    lines = demo_log.read_text().splitlines()
    lines[3] = lines[3].replace('"phase":"member"', '"phase":"waitConfig"')
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConformanceError, match=r"^logged step 3 Deliver\(n=n1\) disagrees with the model's successor"):
        trace_of_log(*read_log(bad))
    assert main(["trace", "show", str(bad)]) == 2


def random_walk(p: Params, steps: int, seed: int) -> Trace:
    rng = random.Random(seed)
    init = list(initial_states(p))[rng.randrange(1 << (p.nodes * p.resources))]
    trace = [Step("Init", (), init)]
    for _ in range(steps):
        options = list(successors(trace[-1].state, p))
        if not options:
            break
        trace.append(rng.choice(options))
    return Trace(p, tuple(trace), None, "random walk")


@pytest.mark.parametrize("seed", range(6))
def test_model_traces_replay_on_the_implementation(seed: int) -> None:
    trace = random_walk(Params(nodes=3, resources=2), 40, seed)  # compacted, as the checker makes them
    result = replay_on_implementation(trace)
    assert result.conforms, result.render()
    assert result.steps == len(trace.steps) - 1 > 10


@pytest.mark.parametrize("path", TRACES, ids=[p.name.removesuffix(".itf.json") for p in TRACES])
def test_a_mutant_counterexample_diverges_on_the_implementation(path: Path) -> None:
    trace = load_trace(str(path))
    result = replay_on_implementation(trace)
    assert result.divergence is not None, f"the implementation shares the bug of {path.name}"
    assert result.steps < len(trace.steps) - 1
    assert "(a trace of a mutant diverges where the implementation does not share its bug)" in result.render()


def test_cli_replays_a_log_on_the_implementation(demo_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--implementation", str(demo_log)]) == 0
    # the demo log's 119 steps and the FailResource(r2) nobody logs
    assert "implementation replayed all 120 steps" in capsys.readouterr().out
    assert main(["replay", "--implementation", str(TRACES[0])]) == 1
