"""`pbjoin demo`: an embedded cluster on directory resources, driven through a story.

Five nodes and three resources on two sites: r1 (the production copy) at site
east, r2 and r3 (mirror copies) at site west. The story: the first node creates
the group, others join into the primary and backup subgroups, a node that reaches
nothing is rejected, a host changes its configuration, the primary host fails
(switchover), the next one fails too (failover to the synchronised mirror), and the
first node restarts and rejoins on the old production copy, now a backup. Then the
production copy itself is lost while its host stays up: its directory is removed, the
host's probe finds it gone and reports it (RES_FAIL), and the group fails over to the
first synchronised mirror. A client writes orders through whichever node is the primary
host before, between and during the failovers; at the end every acknowledged write must
be on the promoted production copy and on every active mirror, in the order it was
acknowledged.

Commands (joins, crashes, restarts, configuration changes, client writes) are the story's; every
other step (deliveries, point-to-point receipts) runs until the cluster settles,
always taking the first enabled step, so the run is reproducible.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pbjoin.engine import ENVIRONMENT_STEPS, Action, InMemoryEngine
from pbjoin.member import Member
from pbjoin.resources import COPY, DirectoryDisks, create_resource, read_copy_file, read_data
from pbjoin.runtime import MemberFactory
from pbjoin.status import render
from pbjoin.steplog import JsonLineLog, MemoryLog, StepName, StepRecord

SITES = {"r1": "east", "r2": "west", "r3": "west"}
WIRING = {
    "n1": ("r1",),
    "n2": ("r1", "r2"),
    "n3": ("r2",),
    "n4": ("r3",),
    "n5": (),
}
PRODUCTION_DATA = {"orders.csv": "id,item\n1,disk tower\n2,tape drive\n", "ledger.txt": "balance 1200\n"}


def command(name: StepName, node: str, resource: str | None = None) -> Action:
    params = (("n", node),) if resource is None else (("n", node), ("r", resource))
    return Action(name, params)


@dataclass(frozen=True)
class ClientWrite:
    """A client's write submitted at `node` (the `Write(n)` step with the client's own id, key and value)."""

    node: str
    order: int
    item: str

    def submit(self, engine: InMemoryEngine) -> StepRecord:
        return engine.write(self.node, f"app:{self.order}", f"order/{self.order}", self.item)


@dataclass(frozen=True)
class RemoveDirectory:
    """The resource's directory is removed from under the live cluster: no step of any member
    (the environment's FailResource); the host's next probe of it is one."""

    resource: str


Command = Action | ClientWrite | RemoveDirectory

STORY: tuple[tuple[str, tuple[Command, ...]], ...] = (
    ("n1 joins: no group yet, so it creates one and hosts the primary resource", (command("Join", "n1"),)),
    ("n3 joins: it reaches only r2, so it hosts that backup and mirroring starts", (command("Join", "n3"),)),
    ("n2 joins: it reaches r1, so it joins the primary subgroup and gets r1's configuration", (command("Join", "n2"),)),
    ("n4 joins: it hosts r3, the second backup", (command("Join", "n4"),)),
    ("n5 joins: it reaches none of the group's resources, so its join is rejected", (command("Join", "n5"),)),
    (
        "n1 changes r1's configuration: version 2 goes to its subgroup (n2) only",
        (command("ChangeConfig", "n1", "r1"),),
    ),
    (
        "a client writes two orders through n1, the primary host: each is acknowledged once r2 and r3 hold it",
        (ClientWrite("n1", 3, "3,rack"), ClientWrite("n1", 4, "4,cable")),
    ),
    (
        "n1 takes order 5 and fails before its mirrors answer (order 5's fate is unknown): "
        "n2 takes over r1 (switchover) with a new epoch and resynchronises the mirrors",
        (ClientWrite("n1", 5, "5,switch"), command("Crash", "n1")),
    ),
    ("the client writes order 6 through n2, the new primary host", (ClientWrite("n2", 6, "6,fan"),)),
    (
        "n2 fails: r1 has no member left, so r2 (mirror active) becomes primary (failover)",
        (command("Crash", "n2"),),
    ),
    ("the client writes order 7 through n3, the primary host of r2", (ClientWrite("n3", 7, "7,shelf"),)),
    ("n1 restarts as a new incarnation", (command("Restart", "n1"),)),
    (
        "n1 joins again: r1 is now a backup; n1 hosts it and the primary host mirrors to it",
        (command("Join", "n1"),),
    ),
    (
        "r2's directory (the production copy) is removed while its host n3 stays up: n3's probe finds it "
        "gone and multicasts RES_FAIL; the group fails over to r1, the first synchronised mirror, and n1 "
        "becomes the primary host with a new epoch",
        (RemoveDirectory("r2"),),
    ),
    ("the client writes order 8 through n1, the primary host of r1", (ClientWrite("n1", 8, "8,rail"),)),
)


class DemoError(RuntimeError):
    """The story did not go as the protocol promises (a bug, reported as such)."""


@dataclass
class DemoResult:
    directory: Path
    log: Path
    steps: int
    writes: dict[str, str]  # each client write's id: what its client was told


def build_cluster(
    directory: Path, sink: JsonLineLog | MemoryLog, member_factory: MemberFactory = Member
) -> InMemoryEngine:
    resources = tuple(SITES)
    links = {r: directory / "resources" / r for r in resources}
    for r, path in links.items():
        create_resource(path, r, SITES[r], PRODUCTION_DATA if r == "r1" else {})
    disks = {
        node: DirectoryDisks(directory / "nodes" / node, tuple(links[r] for r in wired), links)
        for node, wired in WIRING.items()
    }
    return InMemoryEngine("demo", resources, dict(disks), sink, member_factory)


def settle(engine: InMemoryEngine, show: Callable[[StepRecord], None]) -> int:
    """Take protocol steps (never a command) until none is enabled."""
    taken = 0
    while True:
        pending = [a for a in engine.enabled() if a.name not in ENVIRONMENT_STEPS]
        if not pending:
            return taken
        show(engine.step(pending[0]))
        taken += 1


def describe(rec: StepRecord) -> str:
    args = ", ".join(f"{k}={v}" for k, v in rec.params.items())
    parts = [f"{rec.seq:>3}  {rec.step}({args})"]
    if rec.step == "Write" and rec.consumed is not None:
        parts.append(f"client write {rec.consumed['id']}: {rec.consumed['key']} = {rec.consumed['value']!r}")
    elif rec.consumed is not None:
        parts.append(f"took {rec.consumed.get('kind', 'a malformed message')}")
    parts += [f"multicast {m['kind']}" for m in rec.multicast]
    parts += [f"sent {s.msg['kind']} to {s.to}" for s in rec.sent if s.delivered]
    parts += [f"told {a.id} {a.status}" for a in rec.answers]
    parts += rec.notes
    return "  ".join([parts[0], "; ".join(parts[1:])]).rstrip()


def run_demo(
    directory: Path,
    echo: Callable[[str], None] = print,
    verbose: bool = True,
    member_factory: MemberFactory = Member,
) -> DemoResult:
    directory.mkdir(parents=True, exist_ok=True)
    log_path = directory / "log.jsonl"
    log_path.unlink(missing_ok=True)
    sink = JsonLineLog(log_path)
    try:
        engine = build_cluster(directory, sink, member_factory)
        steps = 0
        show: Callable[[StepRecord], None] = (lambda rec: echo(describe(rec))) if verbose else (lambda rec: None)
        for number, (title, commands) in enumerate(STORY, 1):
            echo(f"\n== {number}. {title}")
            for cmd in commands:
                if isinstance(cmd, RemoveDirectory):
                    shutil.rmtree(directory / "resources" / cmd.resource)
                    echo(f"     the directory of {cmd.resource} is removed; its members stay up")
                    continue
                show(cmd.submit(engine) if isinstance(cmd, ClientWrite) else engine.step(cmd))
                steps += 1
            steps += settle(engine, show)
            echo(_table(engine))
        _check_data(directory, engine)
        echo(_writes(engine))
    finally:
        sink.close()
    return DemoResult(directory, log_path, steps, {w: f.status or "pending" for w, f in engine.ledger.items()})


def _table(engine: InMemoryEngine) -> str:
    return render(engine.cluster, engine.members(), SITES)


def _check_data(directory: Path, engine: InMemoryEngine) -> None:
    """After the failovers the production data and every acknowledged write must be on the new
    primary resource and on every active mirror, the writes in the order they were acknowledged."""
    holders = [rt.member.view for rt in engine.runtimes.values() if rt.member.view is not None]
    if not holders:
        raise DemoError("no member holds the group state at the end of the story")
    view = holders[0]
    found = read_data(directory / "resources" / view.primary)
    if found != PRODUCTION_DATA:
        raise DemoError(f"production data on {view.primary} differs from what was written on r1")
    acked = sorted((f for f in engine.ledger.items() if f[1].status == "acked"), key=lambda f: f[1].position)
    active = [r for r, status in view.mirror.items() if status == "active"]
    for resource in [view.primary, *active]:
        copy_ = read_copy_file(directory / "resources" / resource / COPY)
        held = {(w.id, w.key, w.value) for w in copy_.writes}
        order = [w.id for w in copy_.writes]
        for write_id, fate in acked:
            if (write_id, fate.key, fate.value) not in held:
                raise DemoError(f"acknowledged write {write_id} ({fate.key}) is missing from {resource}")
        if [i for i in order if i in dict(acked)] != [i for i, _ in acked]:
            raise DemoError(f"{resource} holds the acknowledged writes out of their order")
    told = [write_id for write_id, _ in acked]
    if told != ["app:3", "app:4", "app:6", "app:7", "app:8"]:  # app:5's writer failed before its mirrors answered
        raise DemoError(f"the client was told acked for {told or 'no write'}, not for orders 3, 4, 6, 7 and 8")
    if view.lost != {"r2"} or view.primary != "r1":
        raise DemoError(f"after r2's directory was removed the group runs on {view.primary}, lost {sorted(view.lost)}")


def _writes(engine: InMemoryEngine) -> str:
    told = ", ".join(f"{w} {f.status or 'pending'}" for w, f in engine.ledger.items())
    acked = sum(f.status == "acked" for f in engine.ledger.values())
    return (
        f"\nclient writes: {told}\nevery acknowledged write ({acked}) is on the production copy and every active mirror"
        "\nr2's directory was removed under its live host: the group failed over to r1 without losing one"
    )
