"""The adequacy matrix: every implementation mutant against every conformance method.

Methods (each on the in-memory engine, each as the suite runs it):

- demo: the demo's story with the mutant, failing on its own checks (every acknowledged
  write on the promoted copy) or on trace validation of its log;
- replay small: exhaustive replay of every model behaviour, 2 nodes, 2 resources, 1 failure,
  1 restart, 1 configuration change, to depth 9;
- replay writes: exhaustive replay with one client write (2 nodes, 2 resources, 1 failure,
  no restart or configuration change) to depth 13;
- lockstep: seeded random schedules, model and implementation compared after every step
  (with up to 3 writes and rare crashes).

Prints which method kills which mutant and how long it took, then whether every mutant is
killed by at least one method. The etcd tests, which run real processes, are not in the
matrix. Exit 0 when every mutant is killed, 1 otherwise.

    .venv/bin/python bench/adequacy.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hypothesis.stateful import run_state_machine_as_test
from impl_mutants import DATA_PATH_MUTANTS, MUTANTS
from pbjoin_model.conformance.refinement import validate_log
from pbjoin_model.conformance.replay import replay
from pbjoin_model.protocol.machine import Params
from test_conformance_data import MUTANT_HUNT, LockstepWithWrites

from pbjoin.demo import DemoError, run_demo
from pbjoin.resources import ResourceError
from pbjoin.steplog import read_log

SMALL = Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1)
WRITES = Params(2, 2, 1, 0, 0, max_writes=1)
EVERY = {**MUTANTS, **DATA_PATH_MUTANTS}


def by_demo(mutant: str) -> str | None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "c"
        try:
            run_demo(directory, echo=lambda _: None, verbose=False, member_factory=EVERY[mutant])
        except (DemoError, ResourceError) as exc:
            return f"demo check: {str(exc)[:50]}"
        report = validate_log(*read_log(directory / "log.jsonl"))
        return None if report.divergence is None else f"log diverges at step {report.divergence.seq}"


def by_replay(p: Params, depth: int) -> Callable[[str], str | None]:
    def method(mutant: str) -> str | None:
        report = replay(p, depth=depth, member_factory=EVERY[mutant])
        return None if report.divergence is None else f"diverges after {len(report.path)} steps"

    return method


def by_lockstep(mutant: str) -> str | None:
    class Mutated(LockstepWithWrites):
        pass

    Mutated.mutant = mutant
    try:
        run_state_machine_as_test(Mutated, settings=MUTANT_HUNT)
    except AssertionError as exc:
        return f"diverges: {str(exc).splitlines()[0][:40]}"
    return None


METHODS: dict[str, Callable[[str], str | None]] = {
    "demo": by_demo,
    "replay small (d9)": by_replay(SMALL, 9),
    "replay writes (d13)": by_replay(WRITES, 13),
    "lockstep (seeded)": by_lockstep,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the matrix as JSON")
    args = parser.parse_args()
    matrix: dict[str, dict[str, dict[str, object]]] = {}
    names = list(METHODS)
    print(f"{'mutant':<26}" + "".join(f"{n:>22}" for n in names), flush=True)
    for mutant in EVERY:
        row: dict[str, dict[str, object]] = {}
        for name, method in METHODS.items():
            started = time.monotonic()
            found = method(mutant)
            row[name] = {"killed": found is not None, "how": found, "seconds": round(time.monotonic() - started, 1)}
        matrix[mutant] = row
        cells = [f"{'KILLED' if c['killed'] else 'survived'} {c['seconds']:>6} s" for c in row.values()]
        print(f"{mutant:<26}" + "".join(f"{c:>22}" for c in cells), flush=True)
    survivors = [m for m, row in matrix.items() if not any(c["killed"] for c in row.values())]
    killed_by = {n: sum(bool(matrix[m][n]["killed"]) for m in matrix) for n in names}
    print("killed per method: " + ", ".join(f"{n} {k}/{len(matrix)}" for n, k in killed_by.items()))
    print("every mutant killed by some method" if not survivors else f"SURVIVED every method: {', '.join(survivors)}")
    if args.json is not None:
        args.json.write_text(json.dumps(matrix, indent=2) + "\n")
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main())
