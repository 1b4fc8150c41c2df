"""The adequacy matrix: every implementation mutant against every conformance method.

The mutants (tests/impl_mutants.py) are of every part of the implementation: the member
(protocol and data path), the resource driver, and the engine's log. The methods, each as
the suite runs it:

- demo: the demo's story with the mutant, failing on its own checks (every acknowledged
  write on the promoted copy) or on trace validation of its log (member mutants only: the
  demo runs the directory driver and its own engine);
- replay small: exhaustive replay of every model transition, 2 nodes, 2 resources, 1 failure,
  1 restart, 1 configuration change, complete, with a crash before every file operation of
  every step;
- replay 3 nodes: exhaustive replay, complete, of 3 nodes in one subgroup with 2 failures;
- replay writes: exhaustive replay with one client write (2 nodes, 2 resources, 1 failure,
  no restart or configuration change) to depth 13;
- lockstep: seeded random schedules (favouring one subgroup, failovers and rejoins, then
  with up to 3 writes), model and implementation compared after every step;
- etcd: two etcd tests (join, fail over, leave, rejoin; writes across the primary host's
  crash), their member processes running the mutant (member mutants only).

Prints which method kills which mutant and how long it took (n/a: the method cannot run
that kind of mutant), then whether every mutant is killed by at least one method. Exit 0
when every mutant is killed, 1 otherwise.

    .venv/bin/python bench/adequacy.py [--json FILE] [--without-etcd] [--method NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from etcd_cluster import MUTANT_VARIABLE
from hypothesis.stateful import run_state_machine_as_test
from impl_mutants import DATA_PATH_MUTANTS, EVERY_MUTANT, MUTANTS, variant
from pbjoin_model.conformance.refinement import validate_log
from pbjoin_model.conformance.replay import replay
from pbjoin_model.protocol.machine import Params
from test_conformance import MUTANT_HUNT, ONE_SUBGROUP_OF_THREE, SMALL, Lockstep
from test_conformance_data import LockstepWithWrites

from pbjoin.demo import DemoError, run_demo
from pbjoin.resources import ResourceError
from pbjoin.steplog import read_log

TESTS = Path(__file__).resolve().parent.parent / "tests"
WRITES = Params(2, 2, 1, 0, 0, max_writes=1)
MEMBER_MUTANTS = {**MUTANTS, **DATA_PATH_MUTANTS}
NOT_APPLICABLE = "n/a"
ETCD_TESTS = (
    "test_etcd_members.py::test_members_join_fail_over_leave_and_rejoin",
    "test_etcd_data.py::test_writes_survive_the_primary_hosts_crash_and_go_on_at_the_next",
)


def by_demo(mutant: str) -> str | None:
    if mutant not in MEMBER_MUTANTS:
        return NOT_APPLICABLE
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "c"
        try:
            run_demo(directory, echo=lambda _: None, verbose=False, member_factory=MEMBER_MUTANTS[mutant])
        except (DemoError, ResourceError) as exc:
            return f"demo check: {str(exc)[:50]}"
        report = validate_log(*read_log(directory / "log.jsonl"))
        return None if report.divergence is None else f"log diverges at step {report.divergence.seq}"


def by_replay(p: Params, depth: int, crash_points: bool = False) -> Callable[[str], str | None]:
    def method(mutant: str) -> str | None:
        implementation = variant(mutant)
        report = replay(
            p,
            depth=depth,
            member_factory=implementation.member,
            disks_factory=implementation.disks,
            engine_class=implementation.engine,
            crash_points=crash_points,
        )
        return None if report.divergence is None else f"diverges after {len(report.path)} steps"

    return method


def by_lockstep(mutant: str) -> str | None:
    for machine in (Lockstep, LockstepWithWrites):

        class Mutated(machine):  # type: ignore[valid-type,misc]
            pass

        Mutated.mutant = mutant
        try:
            run_state_machine_as_test(Mutated, settings=MUTANT_HUNT)
        except AssertionError as exc:
            return f"diverges: {str(exc).splitlines()[0][:40]}"
    return None


def by_etcd(mutant: str) -> str | None:
    if mutant not in MEMBER_MUTANTS:
        return NOT_APPLICABLE
    for test in ETCD_TESTS:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:xdist", "-p", "no:cacheprovider", str(TESTS / test)],
            env={**os.environ, MUTANT_VARIABLE: mutant},
            capture_output=True,
            text=True,
            timeout=600,
        )
        if run.returncode != 0:
            return f"fails {test.split('::')[1][:40]}"
    return None


METHODS: dict[str, Callable[[str], str | None]] = {
    "demo": by_demo,
    "replay small+crashes": by_replay(SMALL, 60, crash_points=True),
    "replay 3 nodes": by_replay(ONE_SUBGROUP_OF_THREE, 60),
    "replay writes (d13)": by_replay(WRITES, 13),
    "lockstep (seeded)": by_lockstep,
    "etcd tests": by_etcd,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the matrix as JSON")
    parser.add_argument("--without-etcd", action="store_true", help="leave out the etcd tests (minutes per mutant)")
    parser.add_argument(
        "--method", action="append", choices=list(METHODS), help="run only this method (repeatable); default: all"
    )
    args = parser.parse_args()
    methods = {
        n: f
        for n, f in METHODS.items()
        if not (args.without_etcd and f is by_etcd) and (args.method is None or n in args.method)
    }
    matrix: dict[str, dict[str, dict[str, object]]] = {}
    print(f"{'mutant':<28}" + "".join(f"{n:>24}" for n in methods), flush=True)
    for mutant in EVERY_MUTANT:
        row: dict[str, dict[str, object]] = {}
        for name, method in methods.items():
            started = time.monotonic()
            found = method(mutant)
            row[name] = {
                "killed": found not in (None, NOT_APPLICABLE),
                "applies": found != NOT_APPLICABLE,
                "how": found,
                "seconds": round(time.monotonic() - started, 1),
            }
        matrix[mutant] = row
        cells = [
            "n/a" if not c["applies"] else f"{'KILLED' if c['killed'] else 'survived'} {c['seconds']:>6} s"
            for c in row.values()
        ]
        print(f"{mutant:<28}" + "".join(f"{c:>24}" for c in cells), flush=True)
    survivors = [m for m, row in matrix.items() if not any(c["killed"] for c in row.values())]
    killed_by = {n: sum(bool(matrix[m][n]["killed"]) for m in matrix) for n in methods}
    applies = {n: sum(bool(matrix[m][n]["applies"]) for m in matrix) for n in methods}
    print("killed per method: " + ", ".join(f"{n} {killed_by[n]}/{applies[n]}" for n in methods))
    print("every mutant killed by some method" if not survivors else f"SURVIVED every method: {', '.join(survivors)}")
    if args.json is not None:
        args.json.write_text(json.dumps(matrix, indent=2) + "\n")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
