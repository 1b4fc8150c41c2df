"""Write latency, throughput and failover time of the data path over etcd, on loopback.

For 0, 1 and 2 backups (one member per resource, each on its own resource, no shared
replication network) it starts one etcd server and the group, waits until every mirror
is active, then lets `--clients` clients write unique keys back to back through the
primary host for `--seconds`. A write counts only when it is acknowledged, that is,
held durably by the production copy and every active mirror. Prints p50/p99 latency
and acknowledged writes per second.

Failover time: with 2 backups, a client keeps writing while the primary host is killed
(SIGKILL); the time runs from the kill to the first write acknowledged by the new primary
host. It is bounded below by the members' lease (`--lease-ttl`), which is how long etcd
takes to notice the crash. Every process is stopped afterwards; the merged step logs are
checked against the model.

    .venv/bin/python bench/bench_writes.py --seconds 10 -o bench/writes.json
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from etcd_cluster import Members, assert_conforms, converged, group_status, running_group, wait_for

from pbjoin.etcd.group_client import GroupClient


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def mirrors_active(members: Members) -> bool:
    state = group_status(members.cluster, members.group)["state"]
    assert isinstance(state, dict)
    return all(s["mirror"] in ("none", "active") for s in state["subgroups"])


def form(members: Members, resources: tuple[str, ...], lease_ttl: int) -> None:
    """One member per resource: n0 on r0 (primary) creates the group, the others become backup hosts."""
    first = members.start("n0", (resources[0],), lease_ttl, links=False)
    wait_for(lambda: first.phase() == "member", 30, "n0 to create the group")
    for i, r in enumerate(resources[1:], start=1):
        members.start(f"n{i}", (r,), lease_ttl, links=False)
    wait_for(lambda: converged(members) and mirrors_active(members), 60, "every backup host to mirror r0")


def client(members: Members, resources: tuple[str, ...], name: str) -> GroupClient:
    return GroupClient(members.cluster.connection(), members.group, name, resources, 15.0)


def throughput(members: Members, resources: tuple[str, ...], clients: int, seconds: float) -> dict[str, float | int]:
    latencies: list[list[float]] = [[] for _ in range(clients)]
    not_acked = [0] * clients
    stop = time.monotonic() + seconds

    def write(k: int) -> None:
        app = client(members, resources, f"c{k}")
        n = 0
        while time.monotonic() < stop:
            n += 1
            result = app.write(f"c{k}/{n}", f"v{n}")
            if result.status == "acked":
                latencies[k].append(result.seconds * 1000)
            else:
                not_acked[k] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=write, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    every = [x for lat in latencies for x in lat]
    if not every:
        raise SystemExit("no write was acknowledged")
    return {
        "acked": len(every),
        "not_acked": sum(not_acked),
        "writes_per_s": round(len(every) / took, 1),
        "p50_ms": round(percentile(every, 0.5), 1),
        "p99_ms": round(percentile(every, 0.99), 1),
    }


def failover_time(members: Members, resources: tuple[str, ...]) -> dict[str, float | str]:
    """Seconds from SIGKILL of the primary host to the first write acknowledged by its successor."""
    app = client(members, resources, "failover")
    assert app.write("before", "v").status == "acked"
    primary = next(p for p in members.processes if p.node == app.find_primary())
    killed = time.monotonic()
    primary.signal(signal.SIGKILL)
    primary.process.wait()
    n = 0
    while time.monotonic() - killed < 60:
        n += 1
        result = app.write(f"after/{n}", "v")
        if result.status == "acked" and result.node != primary.node:
            return {
                "killed": primary.node,
                "new_primary_host": str(result.node),
                "seconds": round(time.monotonic() - killed, 2),
            }
    raise SystemExit("no write was acknowledged within 60 s of the primary host's kill")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="writing time per backup count (default: 10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent writers (default: 4)")
    parser.add_argument("--lease-ttl", type=int, default=2, help="members' lease in seconds (default: 2)")
    parser.add_argument("-o", "--output", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    if args.seconds <= 0 or not 1 <= args.clients <= 64 or args.lease_ttl < 1:
        parser.error("--seconds must be positive, --clients 1..64, --lease-ttl at least 1")
    results: dict[str, object] = {"clients": args.clients, "lease_ttl_s": args.lease_ttl, "by_backups": {}}
    print(f"{'backups':>7}  {'clients':>7}  {'acked':>7}  {'writes/s':>9}  {'p50 ms':>7}  {'p99 ms':>7}")
    for backups in (0, 1, 2):
        resources = tuple(f"r{i}" for i in range(backups + 1))
        for clients in sorted({1, args.clients}):
            with (
                tempfile.TemporaryDirectory(prefix="pbjoin-bench-writes-") as tmp,
                running_group(Path(tmp), 1, resources) as members,
            ):
                form(members, resources, args.lease_ttl)
                row = throughput(members, resources, clients, args.seconds)
                assert_conforms(members)
                if backups == 2 and clients == args.clients:
                    results["failover"] = failover_time(members, resources)
            results["by_backups"][f"{backups}/{clients}"] = row  # type: ignore[index]
            print(
                f"{backups:>7}  {clients:>7}  {row['acked']:>7}  {row['writes_per_s']:>9}  "
                f"{row['p50_ms']:>7}  {row['p99_ms']:>7}",
                flush=True,
            )
    failover = results["failover"]
    assert isinstance(failover, dict)
    print(
        f"failover: SIGKILL of the primary host {failover['killed']} to the first write acknowledged by "
        f"{failover['new_primary_host']}: {failover['seconds']} s (lease {args.lease_ttl} s)"
    )
    if args.output is not None:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
