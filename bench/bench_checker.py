"""Benchmark of the explicit-state checker: states/s, distinct states, peak memory.

Runs the checker on a configuration (default: the reference one) for a budget
of distinct states, in a fresh process per measurement so peak memory is that
run's alone, with exact and fingerprint seen-sets. A budget that cuts the search
is printed as such: the figures are throughput, not a verdict.

    python bench/bench_checker.py [--config reference] [--budget 200000] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
from typing import Any

from model import config as configs
from model.checker import Options, check


def measure(config: str, budget: int | None, fingerprints: bool, symmetry: bool) -> dict[str, Any]:
    cfg = configs.load(config)
    result = check(
        cfg.params,
        Options(symmetry=symmetry and cfg.symmetry, fingerprints=fingerprints, max_states=budget),
    )
    return {
        "config": config,
        "constants": cfg.params.__dict__ | {"mutant": cfg.params.mutant.value},
        "seen_set": "fingerprints" if fingerprints else "exact",
        "symmetry": symmetry and cfg.symmetry,
        "verdict": result.verdict.value,
        "cut_by": result.cut_by,
        "distinct_states": result.distinct,
        "states_generated": result.generated,
        "depth": result.depth,
        "seconds": round(result.seconds, 2),
        "states_per_second": round(result.states_per_second),
        "distinct_per_second": round(result.distinct / result.seconds) if result.seconds else 0,
        "peak_memory_mb": round(result.peak_memory_mb, 1),
    }


def _child(args: tuple[str, int | None, bool, bool]) -> dict[str, Any]:
    return measure(*args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="reference", help="named configuration or .cfg path")
    parser.add_argument("--budget", type=int, default=200_000, help="distinct states per run (0: no budget)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args(argv)
    budget = args.budget or None
    runs = [(args.config, budget, fp, True) for fp in (False, True)]
    ctx = multiprocessing.get_context("spawn")
    rows = []
    for run in runs:
        with ctx.Pool(1) as pool:  # a fresh process: its peak RSS is this run's alone
            rows.append(pool.apply(_child, (run,)))
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"pbjoin checker benchmark: configuration {args.config}, {rows[0]['constants']}")
    header = (
        f"{'seen-set':<13}{'distinct':>12}{'generated':>12}{'states/s':>11}{'distinct/s':>11}{'peak MB':>9}  verdict"
    )
    print(header)
    for row in rows:
        verdict = row["verdict"] + (f" (cut by {row['cut_by']})" if row["cut_by"] else "")
        print(
            f"{row['seen_set']:<13}{row['distinct_states']:>12,}{row['states_generated']:>12,}"
            f"{row['states_per_second']:>11,}{row['distinct_per_second']:>11,}{row['peak_memory_mb']:>9,.0f}  {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
