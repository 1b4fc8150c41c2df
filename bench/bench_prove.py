"""Time per obligation of `pbjoin prove`, unbounded and at fixed sizes, and BMC per mutant.

.venv/bin/python bench/bench_prove.py [--bmc] [-o results.json]
"""

from __future__ import annotations

import argparse
import json
import time

from pbjoin_model.proofs.bmc import bmc
from pbjoin_model.proofs.prove import prove
from pbjoin_model.protocol.machine import Mutant, Params

# (mutant, nodes, depth, invariant): the explicit checker's shortest trace for each, and
# at 4 nodes, beyond what the explicit checker exhausts quickly.
BMC_CASES = (
    (Mutant.PLACEMENT_IGNORES_ACCESS, 2, 3, "SubgroupAccess"),
    (Mutant.PLACEMENT_IGNORES_ACCESS, 4, 3, "SubgroupAccess"),
    (Mutant.NO_HOST_REPLACEMENT, 2, 5, "HostInSubgroup"),
    (Mutant.REJECTED_STAYS_IN_SUBGROUP, 2, 5, "SubgroupAccess"),
    (Mutant.PROMOTE_UNSYNCED_MIRROR, 2, 9, "NoDataLoss"),
    (Mutant.PROMOTE_UNSYNCED_MIRROR, 4, 9, "NoDataLoss"),
    (Mutant.NO_STATE_RESEND, 2, 9, "Deadlock"),
    (Mutant.CONFIG_FROM_PRIMARY_TO_ALL, 2, 10, "ConfigReachable"),
    (Mutant.HOST_CHOSEN_BY_LAGGING_VIEW, 3, 10, "MirrorFromPrimary"),
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
        for mutant, nodes, depth, invariant in BMC_CASES:
            # at the known depth, for the invariant that mutant breaks (pbjoin bmc --from-depth --invariant)
            start = time.monotonic()
            r = bmc(Params(nodes, 2, 1, 1, 1, mutant), depth, invariants=(invariant,), from_depth=depth)
            seconds = time.monotonic() - start
            print(f"bmc {mutant.value} nodes {nodes} depth {depth}: {r.verdict.value} {r.violated} {seconds:.1f} s")
            results[f"bmc_{mutant.value}_{nodes}"] = {
                "depth": depth,
                "verdict": r.verdict.value,
                "violated": r.violated,
                "seconds": round(seconds, 1),
            }
    if args.output:
        with open(args.output, "w") as out:
            json.dump(results, out, indent=2)


if __name__ == "__main__":
    main()
