"""Time per obligation of `pbjoin prove`, unbounded and at fixed sizes, and BMC per mutant.

.venv/bin/python bench/bench_prove.py [--bmc] [-o results.json]
"""

from __future__ import annotations

import argparse
import json
import time

from model.bmc import bmc
from model.protocol import Mutant, Params
from model.prove import prove

# (mutant, nodes, depth): the explicit checker's shortest trace length for each.
BMC_CASES = (
    (Mutant.PLACEMENT_IGNORES_ACCESS, 2, 3),
    (Mutant.PLACEMENT_IGNORES_ACCESS, 4, 3),
    (Mutant.NO_HOST_REPLACEMENT, 2, 5),
    (Mutant.REJECTED_STAYS_IN_SUBGROUP, 2, 5),
    (Mutant.PROMOTE_UNSYNCED_MIRROR, 2, 9),
    (Mutant.NO_STATE_RESEND, 2, 9),
    (Mutant.CONFIG_FROM_PRIMARY_TO_ALL, 2, 10),
    (Mutant.HOST_CHOSEN_BY_LAGGING_VIEW, 3, 10),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bmc", action="store_true", help="also run BMC on every mutant (minutes)")
    parser.add_argument("-o", "--output", help="write the results as JSON")
    args = parser.parse_args()
    results: dict[str, object] = {}
    for label, domain in (("unbounded", None), ("2x2", (2, 2)), ("3x3", (3, 3)), ("5x4", (5, 4))):
        result = prove(domain=domain)
        print(f"prove {label}: {result.verdict}, {len(result.obligations)} obligations, {result.seconds:.2f} s")
        slowest = sorted(result.obligations, key=lambda o: -o.seconds)[:3]
        for o in slowest:
            print(f"  {o.line()}")
        results[f"prove_{label}"] = {o.line().rsplit(" (", 1)[0]: round(o.seconds, 4) for o in result.obligations}
    if args.bmc:
        for mutant, nodes, depth in BMC_CASES:
            start = time.monotonic()
            r = bmc(Params(nodes, 2, 1, 1, 1, mutant), depth)
            seconds = time.monotonic() - start
            print(f"bmc {mutant.value} nodes {nodes} depth {depth}: {r.verdict.value} {r.violated} {seconds:.1f} s")
            results[f"bmc_{mutant.value}_{nodes}"] = {
                "verdict": r.verdict.value,
                "violated": r.violated,
                "seconds": round(seconds, 1),
            }
    if args.output:
        with open(args.output, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
