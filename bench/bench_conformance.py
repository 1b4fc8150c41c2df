"""Benchmark of the implementation and its conformance checking on the in-memory engine.

A cluster of `--members` nodes (64 by default) over three directory-free in-memory
resources grows one join at a time: each join is the joiner's JOIN plus every
protocol step until the cluster settles (every member delivers JOIN, ACCESS and
JOIN_DONE), so a join costs O(members) steps. Join latency is the wall time of
that, per join. Then the whole step log is validated against the model
(`validate_log`), which gives logged steps checked per second; exhaustive replay runs
on the small configuration to the end, with crash points, which gives replayed
transitions per second and the transition coverage; and the seeded lockstep test runs
with a larger example budget than the suite's (`--lockstep-examples`), model and
implementation compared after every step.
Peak memory is the process's peak resident set after each phase (tracemalloc would
slow the phases it measures several times over).

    python bench/bench_conformance.py [--members 64] [--replay-depth 60] [--lockstep-examples 1000]
                                      [-o bench/conformance.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
from pbjoin_model.conformance.refinement import validate_log
from pbjoin_model.conformance.replay import replay
from pbjoin_model.protocol.machine import Params
from test_conformance import Lockstep

from pbjoin.engine import ENVIRONMENT_STEPS, Action, InMemoryEngine
from pbjoin.resources import Disk, MemoryDisks
from pbjoin.steplog import MemoryLog, StepRecord


def grow_cluster(members: int) -> tuple[InMemoryEngine, list[float], int]:
    resources = ("r1", "r2", "r3")
    disks = {r: Disk(1, f"{r} v1", {"d": "production"} if r == "r1" else {}) for r in resources}
    # every third node reaches a backup site only; the rest reach the production site too
    wiring = {f"n{i + 1}": frozenset({"r1", "r2"} if i % 3 else {resources[1 + i % 2]}) for i in range(members)}
    engine = InMemoryEngine("bench", resources, {n: MemoryDisks(disks, w) for n, w in wiring.items()}, MemoryLog())
    latencies = []
    for node in engine.nodes:
        start = time.perf_counter()
        engine.step(Action("Join", (("n", node),)))
        while pending := [a for a in engine.enabled() if a.name not in ENVIRONMENT_STEPS]:
            engine.step(pending[0])
        latencies.append(time.perf_counter() - start)
    return engine, latencies, engine.seq


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_lockstep(examples: int) -> tuple[int, Counter[str], float]:
    """The suite's lockstep state machine on `examples` seeded schedules of up to 80 steps."""
    taken: Counter[str] = Counter()

    class Counted(Lockstep):
        def teardown(self) -> None:
            if hasattr(self, "engine"):
                log = self.engine.sink
                assert isinstance(log, MemoryLog)
                taken.update(r.step for r in log.records if isinstance(r, StepRecord))

    start = time.perf_counter()
    budget = settings(max_examples=examples, stateful_step_count=80, deadline=None, database=None, derandomize=True)
    run_state_machine_as_test(Counted, settings=budget)
    return examples, taken, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=64)
    parser.add_argument("--replay-depth", type=int, default=60)
    parser.add_argument("--lockstep-examples", type=int, default=1000)
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args()

    start = time.perf_counter()
    engine, latencies, steps = grow_cluster(args.members)
    grow_seconds = time.perf_counter() - start
    grow_peak = peak_rss_mb()

    sink = engine.sink
    assert isinstance(sink, MemoryLog)
    records = sink.records[1:]
    step_records = [r for r in records if isinstance(r, StepRecord)]
    start = time.perf_counter()
    report = validate_log(engine.cluster, step_records)
    validate_seconds = time.perf_counter() - start
    validate_peak = peak_rss_mb()
    if not report.conforms:
        raise SystemExit(
            f"the benchmark's own log does not conform:\n{report.divergence and report.divergence.render()}"
        )

    small = Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1)
    replayed = replay(small, args.replay_depth, crash_points=True)
    replay_peak = peak_rss_mb()
    examples, taken, lockstep_seconds = run_lockstep(args.lockstep_examples)

    results: dict[str, Any] = {
        "members": args.members,
        "joins": len(latencies),
        "protocol_steps": steps,
        "steps_per_join": round(steps / len(latencies), 1),
        "join_latency_ms": {
            "p50": round(statistics.median(latencies) * 1e3, 2),
            "p99": round(percentile(latencies, 0.99) * 1e3, 2),
            "max": round(max(latencies) * 1e3, 2),
        },
        "engine_steps_per_second": round(steps / grow_seconds),
        "engine_peak_mb": grow_peak,
        "validated_steps": report.steps,
        "validated_steps_per_second": round(report.steps / validate_seconds),
        "validate_peak_mb": validate_peak,
        "replay": {
            "depth": replayed.depth,
            "states": replayed.states,
            "transitions": replayed.transitions,
            "behaviours": replayed.behaviours,
            "transitions_per_second": round(replayed.transitions / replayed.seconds),
            "coverage": round(replayed.coverage, 4),
            "complete": replayed.complete,
            "crash_points": replayed.crash_points,
            "seconds": round(replayed.seconds, 1),
            "peak_mb": replay_peak,
            "conforms": replayed.conforms,
        },
        "lockstep": {
            "examples": examples,
            "steps": sum(taken.values()),
            "steps_per_second": round(sum(taken.values()) / lockstep_seconds),
            "seconds": round(lockstep_seconds, 1),
            "taken": dict(sorted(taken.items())),
        },
    }
    lat = results["join_latency_ms"]
    print(f"in-memory engine, {args.members} members: {steps} protocol steps, {results['steps_per_join']} per join")
    print(f"  join latency          p50 {lat['p50']} ms   p99 {lat['p99']} ms   max {lat['max']} ms")
    print(
        f"  engine                {results['engine_steps_per_second']} steps/s, peak RSS {results['engine_peak_mb']} MB"
    )
    print(
        f"  trace validation      {report.steps} logged steps checked at {results['validated_steps_per_second']} "
        f"steps/s, peak RSS {results['validate_peak_mb']} MB"
    )
    rep = results["replay"]
    print(
        f"  exhaustive replay     small configuration, depth {rep['depth']}"
        f"{' (complete)' if rep['complete'] else ''}: {rep['states']} states, {rep['transitions']} transitions "
        f"at {rep['transitions_per_second']}/s ({rep['coverage']:.1%} of the model's), {rep['crash_points']} "
        f"crash points, {rep['seconds']} s, peak RSS {rep['peak_mb']} MB"
    )
    lock = results["lockstep"]
    print(
        f"  lockstep (seeded)     {lock['examples']} schedules, {lock['steps']} steps compared at "
        f"{lock['steps_per_second']} steps/s in {lock['seconds']} s"
    )
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
