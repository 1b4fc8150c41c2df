"""Join latency and throughput of the etcd engine: N member processes joining one group on loopback.

Starts its own etcd server(s) on free loopback ports and N `pbjoin node` processes
(the first creates the group, the others join all at once, or one at a time with
--sequential), waits until all are
active members, and reads each member's structured log: a join's latency runs from
its JOIN step to the step that made it an active member (process start-up is not
counted). Prints p50/p99 join latency and joins per second, and checks the merged
step logs against the model. Stops every process it started.

    .venv/bin/python bench/bench_etcd.py --members 32
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from etcd_cluster import EtcdCluster, MemberProcess, Members, Site, assert_conforms, converged, wait_for

from pbjoin.etcd.security import define_group

RESOURCES = ("r0", "r1", "r2", "r3")


def join_times(stderr: Path) -> tuple[float, float]:
    """(time of the JOIN step, time it became an active member) from a member's structured log."""
    joined = active = None
    for line in stderr.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") != "step":
            continue
        if event["step"] == "Join" and joined is None:
            joined = float(event["ts"])
        if event["phase"] == "member" and active is None:
            active = float(event["ts"])
    if joined is None or active is None:
        raise SystemExit(f"{stderr.name}: the member never finished joining")
    return joined, active


def is_member(process: MemberProcess) -> bool:
    return process.phase() == "member"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(members_count: int, servers: int, workdir: Path, sequential: bool) -> dict[str, float | int | str]:
    cluster = EtcdCluster(workdir, size=servers)
    members = Members(cluster, Site(workdir, RESOURCES), "bench", workdir)
    try:
        cluster.start()
        members.site.create()
        define_group(cluster.connection(), "bench", RESOURCES)
        first = members.start("m00", ("r0",), lease_ttl=10)
        wait_for(lambda: first.phase() == "member", 60, "the group to exist")
        for i in range(1, members_count):
            # Every node reaches one or two resources, so all subgroups and mirrors are exercised.
            wiring = (RESOURCES[i % len(RESOURCES)], RESOURCES[(i * 3 + 1) % len(RESOURCES)])
            joiner = members.start(f"m{i:02d}", tuple(dict.fromkeys(wiring)), lease_ttl=10)
            if sequential:
                wait_for(partial(is_member, joiner), 60, f"{joiner.node} to join")
        started = time.monotonic()
        wait_for(lambda: converged(members), 600, f"{members_count} members to join", interval=0.5)
        settle = time.monotonic() - started
        spans = [join_times(p.stderr) for p in members.processes[1:]]
        latencies = [active - joined for joined, active in spans]
        window = max(a for _, a in spans) - min(j for j, _ in spans)
        steps = assert_conforms(members)
    finally:
        members.close()
        cluster.close()
    return {
        "members": members_count,
        "etcd_servers": servers,
        "joins": "one at a time" if sequential else "all at once",
        "join_latency_p50_ms": round(1000 * statistics.median(latencies), 1),
        "join_latency_p99_ms": round(1000 * percentile(latencies, 0.99), 1),
        "joins_per_second": round(len(latencies) / window, 2),
        "seconds_until_converged": round(settle, 1),
        "steps_conforming": steps,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--etcd-servers", type=int, default=1, choices=(1, 3))
    parser.add_argument(
        "--sequential", action="store_true", help="start each member once the previous one is active (no contention)"
    )
    parser.add_argument("-o", "--output", help="also write the result as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pbjoin-bench-etcd-") as tmp:
        result = run(args.members, args.etcd_servers, Path(tmp), args.sequential)
    for key, value in result.items():
        print(f"{key:>26}: {value}")
    if args.output:
        Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
