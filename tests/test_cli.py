"""`pbjoin check` as a user runs it: exit codes, one-line errors, text and JSON reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pbjoin_model.protocol.machine import MUTANT_DESCRIPTIONS

from pbjoin.cli.main import main

SMALL_ARGS = ["check", "--config", "small", "--quiet"]


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pbjoin", *args], capture_output=True, text=True, timeout=600)


def test_small_configuration_holds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(SMALL_ARGS) == 0
    out = capsys.readouterr().out
    assert "verdict        HOLDS" in out
    assert "symmetry       on" in out


def test_mutant_exits_1_with_a_numbered_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL_ARGS, "--mutant", "no-host-replacement"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATED: invariant HostSuccession, shortest trace has 3 steps" in out
    assert "Counterexample (HostSuccession):" in out
    assert "  2. RecoverGroupState(n=n1)" in out and "  3. Crash(n=n1)" in out


THREE_NODES = ["--nodes", "3", "--max-restarts", "0", "--max-config-changes", "0"]
ONE_WRITE = ["--max-writes", "1", "--max-restarts", "0", "--max-config-changes", "0"]
NEEDS = {
    "host-chosen-by-lagging-view": THREE_NODES,
    "no-mirror-to-new-backup": ["--liveness"],
    "no-config-push-on-takeover": [*THREE_NODES, "--resources", "1"],
    "async-ack": ONE_WRITE,
    "ack-ignores-syncing": ONE_WRITE,
    "resync-skips-concurrent-writes": ONE_WRITE,
    "ack-before-apply": ONE_WRITE,
    "wait-for-failed-mirror": ONE_WRITE,
    "no-epoch-bump": ONE_WRITE,
    "no-fencing": ["--max-writes", "2", "--max-restarts", "0", "--max-config-changes", "0"],
    "host-succession-by-newest": [*THREE_NODES, "--resources", "1"],
    "every-host-sponsors": THREE_NODES,
    "lost-backup-keeps-mirror": ["--config", "resources"],
    "placement-on-lost-resource": ["--config", "resources"],
    "no-failover-on-resource-failure": ["--config", "resources"],
    "repaired-mirror-counts-at-once": ["--config", "resources"],
}


# Their traces need 3 nodes and 2 failures (a 403 s search), or 3 nodes and 3 resources with
# one wiring (which pbjoin check cannot fix): the suite replays the traces stored
# (tests/test_mutants.py checks the searches that find them).
REPLAYED = {
    "mirror-stays-active-on-host-change": "MirrorIsPrefix",
    "failover-to-last-synced": "FailoverToFirstSynced",
    "no-mirror-restart-after-resource-failover": "FailoverToFirstSynced",
}


# Liveness mutants whose lassos need 3 nodes and 2 resources (minutes each): the same search
# runs in tests/test_liveness.py (test_liveness_mutant_is_caught_with_a_lasso), once.
LIVENESS_ON_THREE_NODES = {"no-mirror-restart", "no-causal-wait"}


@pytest.mark.parametrize(
    "mutant", sorted(m.value for m in MUTANT_DESCRIPTIONS if m.value not in LIVENESS_ON_THREE_NODES)
)
def test_every_mutant_exits_1(mutant: str, capsys: pytest.CaptureFixture[str]) -> None:
    if mutant in REPLAYED:
        assert main(["replay", str(Path(__file__).parent / "traces" / f"{mutant}.itf.json")]) == 1
        assert f"REPRODUCED: the last state violates {REPLAYED[mutant]}" in capsys.readouterr().out
        return
    assert main([*SMALL_ARGS, "--mutant", mutant, *NEEDS.get(mutant, [])]) == 1
    assert "Counterexample (" in capsys.readouterr().out


def test_json_report_has_full_states(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL_ARGS, "--mutant", "placement-ignores-access", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "violated" and report["violated"] == "PlacementFirstReachable"
    assert report["exit_code"] == 1
    assert next(s["action"] for s in report["trace"]) == "Init"
    last = report["trace"][-1]
    assert set(last["state"]) >= {"access", "phase", "view", "log", "chan", "cfg", "durable", "inc"}
    assert report["distinct_states"] > 0 and report["peak_memory_mb"] > 0


def test_bound_exits_3_and_says_incomplete(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL_ARGS, "--max-states", "50"]) == 3
    assert "INCOMPLETE: the search was cut by max states 50" in capsys.readouterr().out


@pytest.mark.parametrize("workers", ["1", "2"])
def test_memory_bound_exits_3_and_says_incomplete(workers: str) -> None:
    """A bound below what the interpreter itself takes cuts the run at its first check."""
    proc = run([*SMALL_ARGS, "--workers", workers, "--max-memory", "1"])
    assert proc.returncode == 3, proc.stderr
    assert "INCOMPLETE: the search was cut by max memory 1 MB (peak resident set" in proc.stdout
    assert "(bound 1 MB)" in proc.stdout


def test_default_memory_bound_lets_a_small_run_finish(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL_ARGS, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"] == "holds" and 0 < report["peak_memory_mb"] < report["max_memory_mb"]


def test_list_mutants_prints_name_then_description() -> None:
    proc = run(["check", "--list-mutants"])
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    assert len(lines) == len(MUTANT_DESCRIPTIONS)
    for line, (mutant, text) in zip(lines, MUTANT_DESCRIPTIONS.items(), strict=True):
        name, _, rest = line.partition(" ")
        assert name == mutant.value and rest.strip() == text


@pytest.mark.parametrize(
    "args, message",
    [
        (["check", "--mutant", "nope"], "unknown mutant 'nope'"),
        (["check", "--nodes", "x"], "expected a whole number"),
        (["check", "--nodes", "0"], "nodes must be between 1 and 64"),
        (["check", "--config", "missing"], "no such configuration"),
        (["check", "--bogus"], "unrecognized arguments: --bogus"),
        (["check", "--max-memory", "0"], "--max-memory must be at least 1 MB"),
        (["check", "--nodes", "50", "--max-states", "10"], "50 nodes and 2 resources have 2^100 wirings"),
        (["check", "--nodes", "50", "--no-symmetry", "--workers", "2"], "have 2^100 wirings"),
        (["check", "--nodes", "9", "--max-states", "10"], "symmetry reduction over 9 nodes"),
        (["conform", "--exhaustive", "--nodes", "50", "--depth", "3"], "have 2^100 wirings"),
        ([], "the following arguments are required"),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    proc = run(args)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


def test_a_bound_cuts_a_large_configuration_among_its_initial_states() -> None:
    """9 nodes, 2 resources: 2^18 wirings; --max-states 10 ends the run at once, INCOMPLETE."""
    proc = run(["check", "--nodes", "9", "--no-symmetry", "--max-states", "10", "--quiet"])
    assert proc.returncode == 3, proc.stderr
    assert "INCOMPLETE: the search was cut by max states 10 (among the initial states)" in proc.stdout


def test_simulation_draws_its_wirings_without_listing_them() -> None:
    proc = run(["simulate", "--nodes", "50", "--runs", "2", "--depth", "10"])
    assert proc.returncode == 3 and "no violation found" in proc.stdout, proc.stderr


def test_malformed_cfg_file_is_one_line_exit_2(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.cfg"
    cfg.write_text("CONSTANTS\n  Node = {n1, n2}\n  NumRes = two\n")
    proc = run(["check", "--config", str(cfg)])
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"pbjoin: error: {cfg}: NumRes must be a natural number, got 'two'"


def test_progress_lines_go_to_stderr() -> None:
    proc = run(["check", "--config", "small", "--nodes", "3", "--max-restarts", "0", "--max-config-changes", "0"])
    assert proc.returncode == 0
    assert "progress: " in proc.stderr and "states/s" in proc.stderr
    assert "progress: " not in proc.stdout


def test_liveness_holds_on_small(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL_ARGS, "--liveness"]) == 0
    out = capsys.readouterr().out
    assert "liveness (weak fairness per action instance; symmetry off;" in out
    assert "JoinsEnd[n1]" in out and "ConfigConverges" in out and "VIOLATED" not in out


def test_liveness_mutant_exits_1_with_a_lasso(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL_ARGS, "--liveness", "--mutant", "no-mirror-to-new-backup"]) == 1
    out = capsys.readouterr().out
    assert "verdict        HOLDS" in out  # safety cannot see it
    # stuck where only the environment could still act (a crash here): a fair end
    assert "MirroringResumes[r2]  VIOLATED: 11-step prefix, then stuttering" in out
    assert "Counterexample (MirroringResumes[r2]), a lasso:" in out
    assert "-- from here the behaviour stutters forever: no fair action is enabled" in out


def test_coverage_flags_actions_never_taken(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL_ARGS, "--max-failures", "0", "--max-restarts", "0"]) == 0
    out = capsys.readouterr().out
    flagged = [line.split()[0] for line in out.splitlines() if "<- never taken" in line]
    assert flagged == ["Crash", "Restart"]
    assert "Crash                       0          0   <- never taken" in out


def test_simulate_finds_a_mutant_and_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["simulate", "--config", "default", "--mutant", "promote-unsynced-mirror", "--seed", "1", "--json"]
    assert main(args) == 1
    first = json.loads(capsys.readouterr().out)
    assert main(args) == 1
    again = json.loads(capsys.readouterr().out)
    assert first["violated"] == "FailoverToFirstSynced" and first["trace"] == again["trace"]
    assert first["run"] == again["run"]


def test_clean_simulation_is_incomplete_not_a_pass(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "--config", "small", "--runs", "50", "--depth", "40"]) == 3
    assert "INCOMPLETE: no violation found; a simulation is not a proof" in capsys.readouterr().out


def test_liveness_on_a_graph_past_the_bound_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    # safety finishes (symmetry shrinks it below the bound); the unreduced graph does not fit
    assert main([*SMALL_ARGS, "--liveness", "--max-states", "5000"]) == 3
    out = capsys.readouterr().out
    assert "verdict        HOLDS" in out
    assert "liveness: INCOMPLETE: the unreduced state graph has more states than max states 5000" in out


def test_disk_seen_set_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL_ARGS, "--disk"]) == 0
    out = capsys.readouterr().out
    assert "seen-set       64-bit fingerprints in an SQLite file, collision probability <=" in out
    assert "4,332 distinct" in out


def test_disk_with_workers_is_bad_input() -> None:
    proc = run(["check", "--config", "small", "--disk", "--workers", "2"])
    assert proc.returncode == 2
    assert proc.stderr.strip() == "pbjoin: error: --disk works with one worker (drop --workers)"
