"""Fault campaign of the data path (`make campaign`): is every acknowledged write still there?

Jepsen-style, on loopback: the soak's group (5 nodes a..e over 3 resources, a 3-server
etcd cluster with TLS off and authentication on) and its nemesis (joins, i.e. restarted
nodes; clean leaves; SIGKILLs of any member and of the primary host; SIGSTOPs past the
lease of any member and of the primary host; kills of etcd's Raft leader; idle stretches
past the auth token lifetime), one fault at a time on a schedule drawn from `--seed`,
while several clients (threads, each its own etcd user) write unique values continuously
through the primary host. The members run without a shared replication network: mirrors
get their data only from the data path.

When the churn ends the writers stop, the group settles, and the checker reads every
resource's copy from its directory:

- lost: an acknowledged write missing from the final production copy or from an active
  mirror (must be 0);
- duplicated: a write held twice by one copy (must be 0);
- foreign: a record that no client submitted with that key and value (must be 0);
- out of order: a write acknowledged before another was submitted, but after it in a
  copy (must be 0);
- deposed: a write acknowledged under an epoch older than one that had already
  acknowledged a write before it was submitted (must be 0);
- and the soak's checks: convergence after every fault, every exit explained by a fault,
  configurations intact, no traceback, the merged step logs conform to the model.

It prints attempted / acknowledged / refused / unknown / lost / duplicated, the faults
injected and the failovers seen. Exit 0: every check passed; 1: a check failed; 2: bad
arguments.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import soak
from etcd_cluster import assert_no_data_lost, group_status

from pbjoin.etcd.client import Credentials, EtcdConnection, EtcdError
from pbjoin.etcd.group_client import GroupClient
from pbjoin.etcd.security import add_client_user
from pbjoin.resources import ResourceError, read_copy_file
from pbjoin.wire import WriteRecord

KINDS = (*soak.KINDS, soak.PRIMARY_PAUSE)


@dataclass
class Attempt:
    """One client write as its client saw it."""

    writer: str
    key: str
    value: str
    submitted: float
    answered: float = 0.0
    status: str = ""
    write_id: str = ""
    epoch: int = 0
    node: str | None = None


@dataclass
class DataSummary:
    writers: int = 0
    attempted: int = 0
    acked: int = 0
    refused: int = 0
    unknown: int = 0
    lost: int = 0
    duplicated: int = 0
    foreign: int = 0
    out_of_order: int = 0
    deposed: int = 0
    unknown_present: int = 0  # unknown writes that did reach the production copy (allowed)
    epochs_seen: int = 0
    ack_p50_ms: float = 0.0
    ack_p99_ms: float = 0.0
    copies: dict[str, int] = field(default_factory=dict)  # resource -> writes it holds
    examples: list[str] = field(default_factory=list)

    def render(self) -> str:
        return "\n".join(
            [
                f"  writers:                   {self.writers}",
                f"  writes attempted:          {self.attempted}",
                f"    acknowledged             {self.acked}",
                f"    refused                  {self.refused}",
                f"    unknown                  {self.unknown} ({self.unknown_present} of them in the production copy)",
                f"  lost:                      {self.lost} (must be 0)",
                f"  duplicated:                {self.duplicated} (must be 0)",
                f"  never written:             {self.foreign} (must be 0)",
                f"  out of order:              {self.out_of_order} (must be 0)",
                f"  acked by a deposed epoch:  {self.deposed} (must be 0)",
                f"  epochs that acked writes:  {self.epochs_seen}",
                f"  ack latency:               p50 {self.ack_p50_ms:.1f} ms, p99 {self.ack_p99_ms:.1f} ms",
                f"  copies:                    {', '.join(f'{r} {n}' for r, n in self.copies.items())}",
                *(f"    e.g. {e}" for e in self.examples[:5]),
            ]
        )


def audit_writes(
    data: DataSummary,
    attempts: list[Attempt],
    copies: dict[str, list[WriteRecord]],
    production: str,
    active: list[str],
) -> None:
    """Count into `data` what the clients were told against what the copies hold.

    `copies` is every resource's write sequence as read from its directory; `production`
    and `active` name the copies that must hold every acknowledged write. Every violation
    found is listed in `data.examples` (empty when the run kept every promise).
    """
    data.attempted = len(attempts)
    acked = [a for a in attempts if a.status == "acked"]
    data.acked, data.refused = len(acked), sum(a.status == "refused" for a in attempts)
    data.unknown = sum(a.status == "unknown" for a in attempts)
    latencies = sorted((a.answered - a.submitted) * 1000 for a in acked)
    if latencies:
        data.ack_p50_ms = statistics.median(latencies)
        data.ack_p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    data.epochs_seen = len({a.epoch for a in acked})
    submitted = {(a.writer, a.key, a.value) for a in attempts}
    data.copies = {r: len(ws) for r, ws in copies.items()}
    problems: list[str] = []
    for r, writes in copies.items():
        ids = [w.id for w in writes]
        twice = len(ids) - len(set(ids))
        data.duplicated += twice
        if twice:
            problems.append(f"{r} holds {twice} writes twice")
        for w in writes:
            writer, _, _ = w.id.partition(":")
            if (writer, w.key, w.value) not in submitted:
                data.foreign += 1
                problems.append(f"{r} holds {w.id} {w.key}={w.value!r}, which no client submitted")
    for r in dict.fromkeys([production, *active]):
        position = {w.id: i for i, w in enumerate(copies.get(r, []))}
        missing = [a for a in acked if a.write_id not in position]
        data.lost += len(missing)
        problems += [f"acked {a.write_id} ({a.key}) missing from {r}" for a in missing[:3]]
        present = sorted((a for a in acked if a.write_id in position), key=lambda a: a.answered)
        answered_at = [a.answered for a in present]
        best_before = list(itertools.accumulate([position[a.write_id] for a in present], max))
        for b in present:
            k = bisect.bisect_left(answered_at, b.submitted)  # acked strictly before b was submitted
            if k and best_before[k - 1] > position[b.write_id]:
                data.out_of_order += 1
                problems.append(f"{b.write_id} sits before a write acked before it was submitted, in {r}")
    in_production = {w.id for w in copies.get(production, [])}
    data.unknown_present = sum(1 for a in attempts if a.status == "unknown" and a.write_id in in_production)
    by_answer = sorted(acked, key=lambda a: a.answered)
    answered_at = [a.answered for a in by_answer]
    newest = list(itertools.accumulate([a.epoch for a in by_answer], max))
    for b in acked:
        k = bisect.bisect_left(answered_at, b.submitted)
        if k and newest[k - 1] > b.epoch:
            data.deposed += 1
            problems.append(f"{b.write_id} acked under epoch {b.epoch} after epoch {newest[k - 1]} acked")
    data.examples = problems


class Writer(threading.Thread):
    """One client writing unique values back to back until told to stop."""

    def __init__(self, name: str, connect: Callable[[], EtcdConnection], timeout: float, stop: threading.Event):
        super().__init__(name=name, daemon=True)
        self.client_name = name
        self.connect = connect
        self.timeout = timeout
        self.stop = stop
        self.attempts: list[Attempt] = []
        self.error: str | None = None

    def run(self) -> None:
        client = GroupClient(self.connect(), soak.GROUP, self.client_name, soak.RESOURCES, self.timeout)
        n = 0
        while not self.stop.is_set():
            n += 1
            attempt = Attempt(self.client_name, f"{self.client_name}/{n}", f"{self.client_name}-{n}", time.monotonic())
            self.attempts.append(attempt)
            try:
                result = client.write(attempt.key, attempt.value)
            except EtcdError as exc:  # etcd unreachable for this request: its fate is unknown
                attempt.answered, attempt.status = time.monotonic(), "unknown"
                self.error = str(exc)
                time.sleep(0.2)
                continue
            attempt.answered = time.monotonic()
            attempt.status, attempt.write_id, attempt.epoch, attempt.node = (
                result.status,
                result.write_id,
                result.epoch,
                result.node,
            )


class DataCampaign(soak.Campaign):
    kinds = KINDS
    links = False

    def __init__(self, config: soak.Config, workdir: Path, writers: int) -> None:
        super().__init__(config, workdir)
        self.data = DataSummary(writers=writers)
        self.stop_writing = threading.Event()
        self.writers: list[Writer] = []

    def setup(self, workdir: Path) -> None:
        super().setup(workdir)
        root = self.cluster.connection()
        for k in range(self.data.writers):
            add_client_user(root, soak.GROUP, f"w{k}", f"w{k}-secret")

        for k in range(self.data.writers):

            def connect(k: int = k) -> EtcdConnection:
                return EtcdConnection(self.cluster.urls, Credentials(f"w{k}", f"w{k}-secret"))

            writer = Writer(f"w{k}", connect, 10.0, self.stop_writing)
            writer.start()
            self.writers.append(writer)
        self.say(f"{self.data.writers} writers started")

    def applicable(self, kind: str) -> bool:
        if kind == soak.PRIMARY_PAUSE:
            return super().applicable(soak.PRIMARY_KILL)
        return super().applicable(kind)

    def primary_pause(self) -> tuple[str, str]:
        member = self.primary_host()
        assert member is not None
        return self.pause_member(member)

    def finish(self) -> None:
        self.stop_writing.set()
        for writer in self.writers:
            writer.join(30)
            self.check(not writer.is_alive(), f"writer {writer.name} did not stop")
        super().finish()

    def final_checks(self) -> dict[str, Callable[[], None]]:
        return {
            "configurations": lambda: assert_no_data_lost(self.members, files=False),
            "writes": self.check_writes,
            "conformance": self.conform,
        }

    # ------------------------------------------------------------ the data checker

    def copies(self) -> dict[str, list[WriteRecord]]:
        held = {}
        for r in soak.RESOURCES:
            try:
                held[r] = read_copy_file(self.members.site.path(r) / "copy.json").writes
            except ResourceError as exc:
                raise AssertionError(f"copy of {r} unreadable: {exc}") from None
        return held

    def check_writes(self) -> None:
        attempts = [a for w in self.writers for a in w.attempts]
        state = group_status(self.cluster, soak.GROUP)["state"]
        assert isinstance(state, dict)
        production = str(state["primary"])
        active = [str(s["resource"]) for s in state["subgroups"] if s["mirror"] == "active"]
        audit_writes(self.data, attempts, self.copies(), production, active)
        assert not self.data.examples, (
            f"{len(self.data.examples)} data-path violations, the first: {self.data.examples[0]}"
        )
        assert self.data.acked > 0, "no write was acknowledged"

    def report(self) -> str:
        return self.summary.render("campaign summary") + "\n" + self.data.render()


@dataclass
class Outcome:
    summary: soak.Summary
    data: DataSummary
    text: str


def run(config: soak.Config, writers: int) -> Outcome:
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="pbjoin-campaign-"))
    workdir.mkdir(parents=True, exist_ok=True)
    campaign = DataCampaign(config, workdir, writers)
    try:
        campaign.setup(workdir)
        campaign.churn()
        campaign.finish()
    finally:
        campaign.stop_writing.set()
        campaign.close()
    if config.workdir is None and not campaign.summary.failures:
        shutil.rmtree(workdir, ignore_errors=True)
    return Outcome(campaign.summary, campaign.data, campaign.report())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tests/campaign.py",
        description=__doc__.split("\n\n")[0] + " See the module docstring (tests/campaign.py) for the checks.",
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the churn runs (default: 10)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the fault schedule (default: 1)")
    parser.add_argument(
        "--every-kind", action="store_true", help="go on past --minutes until every kind of fault was injected"
    )
    parser.add_argument("--writers", type=int, default=3, help="concurrent clients writing (default: 3)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the summaries and schedule as JSON")
    parser.add_argument("--workdir", type=Path, metavar="DIR", help="kept afterwards (default: a temporary one)")
    parser.add_argument("--lease-ttl", type=int, default=3, help="members' lease in seconds (default: 3)")
    parser.add_argument("--deadline", type=float, default=60.0, help="seconds to converge after a fault (default 60)")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.deadline <= 0 or not 1 <= args.writers <= 32 or args.lease_ttl < 1:
        parser.error("--minutes and --deadline must be positive, --writers 1..32, --lease-ttl at least 1")
    config = soak.Config(args.minutes, args.seed, args.lease_ttl, 3, args.deadline, args.workdir, args.every_kind)
    outcome = run(config, args.writers)
    print(outcome.text, flush=True)
    if args.json is not None:
        body = {"summary": asdict(outcome.summary), "data": asdict(outcome.data)}
        args.json.write_text(json.dumps(body, indent=2) + "\n")
    return 1 if outcome.summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
