"""Soak campaign: a nemesis churns a group on a 3-server etcd cluster, a checker judges the result.

In the style of Jepsen and etcd's robustness tests: one fault at a time from a schedule
drawn from `--seed`, the group given a deadline to converge after each, and at the end
the merged step logs of every incarnation checked against the model. The unit tests
each hit one interleaving on purpose; this finds the ones nobody thought of, by running
joins, leaves, crashes, pauses, etcd leader losses and idle stretches past the auth
token lifetime back to back for many minutes.

Faults (one at a time, a random pause between them):

- join: start a node that is not running (a new incarnation of it);
- leave: SIGTERM a member, which must exit 0;
- kill: SIGKILL a random member;
- primary_kill: SIGKILL the host of the primary resource;
- pause: SIGSTOP a member past its lease, then SIGCONT: it must stop by itself with the
  "declared failed" exit code, or go on if it was not declared failed;
- etcd_leader_loss: kill the Raft leader (never more than one server down, so quorum
  holds); it is restarted on its data directory one to three faults later, and always
  before the next etcd fault;
- idle: no fault for the auth token lifetime plus 2 s, so every member's token expires;
- resource_loss: a resource's directory is lost under its live members, the primary
  resource and another in turn, removed or its identity overwritten in turn: its host must
  report it and the group fail over from it or stop mirroring to it. It is repaired (put
  back as it was, now stale) one to three faults later, and always before the next loss;
  the group must then notice the repair wherever a live member hosts it.

A member process may end only because of a fault aimed at it, with that fault's
outcome; anything else (a traceback, an unexpected exit code, a member that exits by
itself) is a failed check. `make soak` runs it for `SOAK_MINUTES` (10).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from etcd_cluster import (
    EtcdCluster,
    MemberProcess,
    Members,
    Site,
    assert_conforms,
    assert_no_data_lost,
    converged,
    group_status,
    survivors,
    wait_for,
)

from pbjoin.etcd.client import EtcdError
from pbjoin.etcd.node import EXIT_CRASHED, EXIT_LEFT

GROUP = "g"
RESOURCES = ("r0", "r1", "r2")
# Only a and c reach the first resource, so the primary fails over to r1 whenever both are down.
WIRING = {"a": ("r0",), "b": ("r1",), "c": ("r0", "r1"), "d": ("r2", "r1"), "e": ("r2",)}

JOIN, LEAVE, KILL, PRIMARY_KILL = "join", "leave", "kill", "primary_kill"
PAUSE, ETCD_LEADER_LOSS, IDLE = "pause", "etcd_leader_loss", "idle"
RESOURCE_LOSS = "resource_loss"
KINDS = (JOIN, LEAVE, KILL, PRIMARY_KILL, PAUSE, ETCD_LEADER_LOSS, IDLE, RESOURCE_LOSS)
PRIMARY_PAUSE = "primary_pause"  # the data campaign's (tests/campaign.py): SIGSTOP the primary host
LABELS = {
    JOIN: "joins",
    LEAVE: "leaves",
    KILL: "kills",
    PRIMARY_KILL: "primary kills",
    PAUSE: "pauses",
    ETCD_LEADER_LOSS: "etcd leader losses",
    IDLE: "idle stretches",
    RESOURCE_LOSS: "resource losses",
    PRIMARY_PAUSE: "primary pauses",
}
REMOVALS = (LEAVE, KILL, PRIMARY_KILL, PAUSE)
KEEP_RUNNING = 3  # below this many running members the next fault is a join: the group stays busy
POLL = 0.5  # each status read replays the group's whole history: polling faster steals the members' CPU


@dataclass(frozen=True)
class Config:
    """One campaign: how long, which schedule, and the time constants that compress it.

    With `every_kind` the churn goes on past `minutes` until every kind was injected once
    (up to three times `minutes` in all): how many faults fit in a time depends on how fast
    the machine converges, and a short run must still see every kind."""

    minutes: float
    seed: int
    lease_ttl: int = 3
    token_ttl: int = 3
    deadline: float = 60.0
    workdir: Path | None = None
    every_kind: bool = False


@dataclass
class Fault:
    """One line of the schedule, as printed and as written to the JSON summary."""

    at: float
    kind: str
    target: str
    outcome: str
    converged_s: float | None


@dataclass
class Summary:
    """What the campaign did and what the checker found; `--json` writes it as is."""

    seed: int
    minutes: float
    workdir: str
    kinds: tuple[str, ...] = KINDS
    faults: dict[str, int] = field(default_factory=dict)
    total_faults: int = 0
    pauses_declared_failed: int = 0
    etcd_restarts: int = 0
    resource_repairs: int = 0
    repairs_noticed: int = 0
    failovers: int = 0
    primary_host_changes: int = 0
    etcd_leader_changes: int = 0
    members_lost_unexpectedly: int = 0
    conformance_steps: int = 0
    checks_passed: int = 0
    checks_failed: int = 0
    failures: list[str] = field(default_factory=list)
    schedule: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.faults = {k: self.faults.get(k, 0) for k in self.kinds}

    def render(self, title: str = "soak summary") -> str:
        lines = [
            f"{title}: seed {self.seed}, {self.minutes:g} min, work directory {self.workdir}",
            f"  faults injected:           {self.total_faults}",
            *(f"    {LABELS[k]:<23}{self.faults[k]}" for k in self.kinds),
            f"  pauses declared failed:    {self.pauses_declared_failed}",
            f"  etcd server restarts:      {self.etcd_restarts}",
            f"  resource repairs:          {self.resource_repairs} ({self.repairs_noticed} noticed by a live host)",
            f"  failovers observed:        {self.failovers} (primary resource changes)",
            f"  primary host changes:      {self.primary_host_changes}",
            f"  etcd leader changes:       {self.etcd_leader_changes}",
            f"  members lost unexpectedly: {self.members_lost_unexpectedly}",
            f"  conformance steps checked: {self.conformance_steps}",
            f"  checks: {self.checks_passed} passed, {self.checks_failed} failed",
            *(f"  FAILED: {f}" for f in self.failures),
        ]
        return "\n".join(lines)


@dataclass
class Tracked:
    """A member process and the fault aimed at it, if any: the only allowed reasons for it to end."""

    member: MemberProcess
    fate: str | None = None  # KILL, LEAVE or PAUSE once one was injected
    audited: bool = False


class Campaign:
    """The nemesis (one fault at a time) and the checks after each fault and at the end."""

    kinds: tuple[str, ...] = KINDS
    links = True  # members copy data/ files over the shared replication network too

    def __init__(self, config: Config, workdir: Path) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.cluster = EtcdCluster(workdir, size=3, extra_args=("--auth-token-ttl", str(config.token_ttl)))
        self.members = Members(self.cluster, Site(workdir, RESOURCES), GROUP, workdir)
        self.summary = Summary(config.seed, config.minutes, str(workdir), self.kinds)
        self.tracked: list[Tracked] = []
        self.bag: list[str] = []
        self.etcd_down: int | None = None
        self.restart_etcd_in = 0  # member faults left before the killed etcd server comes back
        self.started = time.monotonic()
        self.leader: int | None = None
        self.primary: tuple[str, str] | None = None  # (primary resource, its host) at the last convergence
        self.lost: set[str] = set()  # the group's failed resources at the last observation
        self.damaged: tuple[str, Callable[[], object]] | None = None  # a lost resource and how to repair it
        self.repair_in = 0  # faults left before the lost resource is repaired
        self.losses = 0
        self.said_overtime = False

    # ------------------------------------------------------------ checks

    def check(self, ok: bool, failure: str) -> bool:
        if ok:
            self.summary.checks_passed += 1
        else:
            self.summary.checks_failed += 1
            self.summary.failures.append(failure)
            self.say(f"check failed: {failure}")
        return ok

    def say(self, line: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f} s] {line}", flush=True)

    def converged_now(self, paused: tuple[MemberProcess, ...]) -> bool:
        """`converged`, with an etcd that cannot answer yet or a step log caught mid-line taken as "not yet"."""
        try:
            return converged(self.members, paused)
        except (EtcdError, ValueError):
            return False

    def settle(self, what: str, paused: tuple[MemberProcess, ...] = ()) -> float | None:
        """Wait (up to the deadline) for the group to converge; seconds taken, None (a failed check) if it did not."""
        start = time.monotonic()
        while time.monotonic() - start < self.config.deadline:
            if self.converged_now(paused):
                self.check(True, "")
                return time.monotonic() - start
            time.sleep(POLL)
        self.check(False, f"no convergence within {self.config.deadline:.0f} s after {what}: {self.describe()}")
        return None

    def describe(self) -> str:
        """The live group and each running member's last phase and position: what a stuck run looks like."""
        phases = ", ".join(f"{p.node}:{p.phase()}" for p in survivors(self.members))
        try:
            status = group_status(self.cluster, GROUP)
            return f"live {status['live']} at position {status['position']}; processes {phases}"
        except (EtcdError, ValueError) as exc:
            return f"status unreadable ({exc}); processes {phases}"

    def audit(self, during: str) -> None:
        """Every process that ended since the last audit (`during` what) ended the way its fault says."""
        expected = {KILL: -signal.SIGKILL, LEAVE: EXIT_LEFT, PAUSE: EXIT_CRASHED}
        for t in self.tracked:
            code = t.member.process.poll()
            if code is None or t.audited:
                continue
            t.audited = True
            if t.fate is None:
                self.summary.members_lost_unexpectedly += 1
            self.check(
                t.fate is not None and code == expected[t.fate],
                f"{t.member.node} (pid {t.member.process.pid}) exited {code} after {t.fate or 'no fault aimed at it'}"
                f" during {during}: {last_error(t.member.stderr)} (in {t.member.stderr})",
            )

    def observe(self) -> None:
        """Count etcd leader changes and primary resource/host changes seen since the last observation."""
        leader = self.cluster.leader()
        if leader is not None:
            if self.leader is not None and leader != self.leader:
                self.summary.etcd_leader_changes += 1
            self.leader = leader
        state = self.group_state()
        if state is None:
            return
        self.lost = {str(r) for r in state["lost"]}
        primary = str(state["primary"])
        host = next(str(s["host"]) for s in state["subgroups"] if s["resource"] == primary)
        if self.primary is not None:
            self.summary.failovers += primary != self.primary[0]
            self.summary.primary_host_changes += (primary, host) != self.primary
        self.primary = (primary, host)

    # ------------------------------------------------------------ the nemesis

    def running(self) -> list[MemberProcess]:
        return sorted(survivors(self.members), key=lambda p: p.node)

    def start(self, node: str) -> MemberProcess:
        member = self.members.start(node, WIRING[node], self.config.lease_ttl, links=self.links)
        self.tracked.append(Tracked(member))
        return member

    def aim(self, member: MemberProcess, fate: str) -> None:
        next(t for t in self.tracked if t.member is member).fate = fate

    def applicable(self, kind: str) -> bool:
        running = len(self.running())
        if kind == JOIN:
            return bool(self.joinable())
        if kind == RESOURCE_LOSS:
            return self.damaged is None and not self.lost
        if kind == PRIMARY_KILL:
            return running > 1 and self.primary_host() is not None
        if kind in REMOVALS:
            return running > 1  # the group keeps a member, so it never has to be recovered from nothing
        return True

    def primary_host(self) -> MemberProcess | None:
        """The running process hosting the primary resource at the last convergence."""
        host = self.primary[1] if self.primary is not None else None
        return next((p for p in self.running() if p.node == host), None)

    def next_kind(self) -> str:
        """The first applicable kind left in the shuffled bag (a new bag when none is); a join when few run."""
        if len(self.running()) < KEEP_RUNNING and self.applicable(JOIN):
            return JOIN
        if not any(self.applicable(k) for k in self.bag):
            self.bag = list(self.kinds)  # each kind once per shuffled bag, so a short run still sees every kind
            self.rng.shuffle(self.bag)
        kind = next(k for k in self.bag if self.applicable(k))
        self.bag.remove(kind)
        return kind

    def inject(self, kind: str) -> tuple[str, str]:
        """Inject one fault (the method named after its kind): (its target, what happened)."""
        fault: Callable[[], tuple[str, str]] = getattr(self, kind)
        return fault()

    def joinable(self) -> list[str]:
        """Nodes not running that reach a resource the group has not lost: a node that reaches
        only lost ones would be rejected, and a rejected node may never rejoin."""
        up = {p.node for p in self.running()}
        lost = self.lost | ({self.damaged[0]} if self.damaged else set())
        return sorted(n for n in set(WIRING) - up if set(WIRING[n]) - lost)

    def join(self) -> tuple[str, str]:
        node = self.rng.choice(self.joinable())
        self.start(node)
        return node, "started"

    def leave(self) -> tuple[str, str]:
        member = self.rng.choice(self.running())
        self.aim(member, LEAVE)
        member.signal(signal.SIGTERM)
        try:
            code = member.process.wait(self.config.deadline)
        except subprocess.TimeoutExpired:
            member.signal(signal.SIGKILL)
            member.process.wait()
            self.aim(member, KILL)
            self.check(False, f"{member.node} did not leave within {self.config.deadline:.0f} s of SIGTERM")
            return member.node, "did not leave: killed"
        return member.node, f"exit {code}"

    def kill(self) -> tuple[str, str]:
        member = self.rng.choice(self.running())
        self.aim(member, KILL)
        member.signal(signal.SIGKILL)
        member.process.wait()
        return member.node, "killed"

    def primary_kill(self) -> tuple[str, str]:
        member = self.primary_host()
        assert member is not None and self.primary is not None
        self.aim(member, KILL)
        member.signal(signal.SIGKILL)
        member.process.wait()
        return member.node, f"killed the host of {self.primary[0]}"

    def pause(self) -> tuple[str, str]:
        return self.pause_member(self.rng.choice(self.running()))

    def pause_member(self, member: MemberProcess) -> tuple[str, str]:
        member.signal(signal.SIGSTOP)
        stopped = time.monotonic()
        time.sleep(self.config.lease_ttl + self.rng.uniform(0.5, 2.0))
        # Stopped past its lease: the group must declare it failed (its FAIL in the stream)
        # while it sleeps. It is woken then, not once the group converged without it: a
        # host stopped inside a copy's read-modify-write holds that copy's lock, so its
        # successor can take the copy over only after it wakes, finds itself failed and
        # exits (the lock makes them take turns; it never lets the two interleave).
        dropped = self.wait_declared_failed(member)
        member.signal(signal.SIGCONT)
        stopped_for = time.monotonic() - stopped
        if not dropped:
            return member.node, f"stopped {stopped_for:.1f} s, never dropped"
        self.aim(member, PAUSE)
        try:
            code = member.process.wait(self.config.deadline)
        except subprocess.TimeoutExpired:
            return member.node, f"stopped {stopped_for:.1f} s, declared failed but still running"
        self.summary.pauses_declared_failed += 1
        return member.node, f"stopped {stopped_for:.1f} s, declared failed, exit {code}"

    def wait_declared_failed(self, member: MemberProcess) -> bool:
        """Whether the group put `member`'s FAIL in its stream within the deadline (a failed check if not)."""

        def declared() -> bool:
            try:
                status = group_status(self.cluster, GROUP)
            except EtcdError:
                return False
            state, live = status["state"], status["live"]
            assert isinstance(state, dict) and isinstance(live, dict)
            in_group = any(m["node"] == member.node for m in state["members"])
            return not in_group and not any(k.startswith(f"{member.node}#") for k in live)

        failure = f"{member.node}, paused past its lease, not declared failed in {self.config.deadline:.0f} s"
        return self.wait_until(declared, failure) is not None

    def wait_until(self, condition: Callable[[], bool], failure: str) -> float | None:
        """Poll `condition` up to the deadline: the seconds it took, or None and a failed check."""
        start = time.monotonic()
        while time.monotonic() - start < self.config.deadline:
            if condition():
                return time.monotonic() - start
            time.sleep(POLL)
        self.check(False, failure)
        return None

    def group_state(self) -> dict[str, Any] | None:
        """The group state etcd holds now; None while etcd cannot answer."""
        try:
            state = group_status(self.cluster, GROUP)["state"]
        except EtcdError:
            return None
        assert isinstance(state, dict)
        return state

    def etcd_leader_loss(self) -> tuple[str, str]:
        if self.etcd_down is not None:
            self.restart_etcd()
        leader = self.cluster.leader()
        if leader is None:
            wait_for(lambda: self.cluster.leader() is not None, self.config.deadline, "an etcd leader", POLL)
            leader = self.cluster.leader()
        assert leader is not None
        self.cluster.kill(leader)
        self.etcd_down, self.restart_etcd_in = leader, self.rng.randint(1, 3)
        elected = time.monotonic()
        try:
            wait_for(lambda: self.cluster.leader() not in (None, leader), self.config.deadline, "a new leader", 0.1)
        except AssertionError as exc:
            self.check(False, f"after killing etcd server e{leader}: {exc}")
            return f"e{leader}", "no new leader"
        return f"e{leader}", f"new leader e{self.cluster.leader()} in {time.monotonic() - elected:.1f} s"

    def idle(self) -> tuple[str, str]:
        idle_for = self.config.token_ttl + 2.0
        time.sleep(idle_for)
        return "-", f"idle {idle_for:.0f} s"

    def resource_loss(self) -> tuple[str, str]:
        """Lose the primary resource and another one in turn; remove the directory and overwrite
        its identity in turn. Repaired (put back as it was) a few faults later."""
        primary = self.primary[0] if self.primary is not None else RESOURCES[0]
        self.losses += 1
        resource = primary if self.losses % 2 else self.rng.choice([r for r in RESOURCES if r != primary])
        path = self.members.site.path(resource)
        if self.losses % 4 in (0, 1):  # removed, overwritten, overwritten, removed: both by the second loss
            away = path.with_name(f"{resource}.lost")
            path.rename(away)
            self.damaged = (resource, lambda: away.rename(path))
            how = "directory removed"
        else:
            identity = (path / "identity.json").read_bytes()
            another = {"resource": resource, "site": "elsewhere", "id": "another disk"}
            (path / "identity.json").write_text(json.dumps(another))
            self.damaged = (resource, lambda: (path / "identity.json").write_bytes(identity))
            how = "identity overwritten"
        self.repair_in = self.rng.randint(1, 3)
        role = "the primary resource" if resource == primary else "a backup resource"
        wait_for_loss = self.wait_reported_lost(resource)
        return resource, f"{role}, {how}; {wait_for_loss}"

    def wait_reported_lost(self, resource: str) -> str:
        """Wait for the group to have `resource` lost, if a running member hosts it (nobody else can tell)."""

        def reported() -> bool:
            state = self.group_state()
            return state is not None and resource in state["lost"]

        if not self.hosted(resource):
            return "no live host to notice"
        failure = f"{resource}, lost under a live host, not reported in {self.config.deadline:.0f} s"
        took = self.wait_until(reported, failure)
        return "never reported" if took is None else f"reported lost in {took:.1f} s"

    def hosted(self, resource: str) -> bool:
        """Whether a running member belongs to `resource`'s subgroup."""
        state = self.group_state()
        running = {p.node for p in self.running()}
        return state is not None and any(
            s["resource"] == resource and set(s["members"]) & running for s in state["subgroups"]
        )

    def repair_resource(self) -> None:
        """Put the lost resource back as it was; a live host must notice and resynchronise it."""
        assert self.damaged is not None
        (resource, repair), self.damaged = self.damaged, None
        repair()
        self.summary.resource_repairs += 1
        hosted = self.hosted(resource)
        took = self.settle(f"repairing {resource}")
        self.audit(f"the repair of {resource}")
        if hosted:

            def repair_noticed() -> bool:
                self.observe()
                return resource not in self.lost

            failure = f"{resource}, repaired under a live host, still lost after {self.config.deadline:.0f} s"
            if self.wait_until(repair_noticed, failure) is not None:
                self.summary.repairs_noticed += 1
        self.observe()
        noticed = "noticed" if resource not in self.lost else "not noticed (no live host)"
        self.say(f"{resource} repaired, {noticed}; {outcome_of(took, self.config.deadline)}")

    def restart_etcd(self) -> None:
        """Bring the killed etcd server back on its data directory, then let the group settle on three again."""
        assert self.etcd_down is not None
        index, self.etcd_down = self.etcd_down, None
        try:
            self.cluster.restart(index)
        except AssertionError as exc:
            self.check(False, str(exc))
            return
        self.summary.etcd_restarts += 1
        took = self.settle(f"restarting etcd server e{index}")
        self.audit(f"the restart of etcd server e{index}")
        self.observe()
        self.say(f"etcd server e{index} restarted; {outcome_of(took, self.config.deadline)}")

    # ------------------------------------------------------------ the campaign

    def setup(self, workdir: Path) -> None:
        self.cluster.start()
        self.members.site.create()
        self.members.passwords = self.cluster.secure(GROUP, RESOURCES, sorted(WIRING))
        first = self.start("a")
        wait_for(lambda: first.phase() == "member", self.config.deadline, "a to create the group", POLL)
        for node in self.rng.sample(sorted(set(WIRING) - {"a"}), 3):
            self.start(node)
        self.settle("the first joins")
        self.observe()
        self.say(f"etcd {self.cluster.etcd_arg}, members {[p.node for p in self.running()]}, work in {workdir}")

    def never_injected(self) -> list[str]:
        return [k for k in self.kinds if self.summary.faults[k] == 0]

    def churn(self) -> None:
        end = time.monotonic() + self.config.minutes * 60
        overtime_end = end + (2 * self.config.minutes * 60 if self.config.every_kind else 0)
        while time.monotonic() < end or (time.monotonic() < overtime_end and self.never_injected()):
            if time.monotonic() >= end and not self.said_overtime:
                self.said_overtime = True
                self.say(f"--minutes is up; the churn goes on until {', '.join(self.never_injected())} was injected")
            time.sleep(self.rng.uniform(0.5, 2.5))
            kind = self.next_kind()
            at = time.monotonic() - self.started
            target, outcome = self.inject(kind)
            took = self.settle(f"{kind} of {target}")
            self.audit(f"fault #{self.summary.total_faults + 1} ({kind} of {target})")
            self.observe()
            self.summary.faults[kind] += 1
            self.summary.total_faults += 1
            self.summary.schedule.append(Fault(round(at, 1), kind, target, outcome, took and round(took, 1)))
            self.say(f"#{self.summary.total_faults:<3} {kind:<16} {target:<3} {outcome}; "
                     f"{outcome_of(took, self.config.deadline)}")  # fmt: skip
            if took is None:
                self.say("the group is stuck: churn stops so the logs show the first divergence only")
                return
            if self.etcd_down is not None and kind != ETCD_LEADER_LOSS:
                self.restart_etcd_in -= 1
                if self.restart_etcd_in <= 0:
                    self.restart_etcd()
            if self.damaged is not None and kind != RESOURCE_LOSS:
                self.repair_in -= 1
                if self.repair_in <= 0:
                    self.repair_resource()
        if self.config.every_kind and self.never_injected():
            self.say(f"the churn stopped at 3x --minutes; never injected: {', '.join(self.never_injected())}")

    def finish(self) -> None:
        """Churn over: everything restarted and converged, then the checks on the whole run."""
        if self.etcd_down is not None:
            self.restart_etcd()
        if self.damaged is not None:
            self.repair_resource()
        self.settle("the end of the churn")
        self.audit("the end of the churn")
        self.check(
            self.summary.members_lost_unexpectedly == 0,
            f"{self.summary.members_lost_unexpectedly} members lost to something other than an injected fault",
        )
        for name, run in self.final_checks().items():
            try:
                run()
                self.check(True, "")
            except (AssertionError, EtcdError) as exc:
                self.check(False, f"{name}: {exc}")
            except Exception as exc:  # a check that could not even run (a log that admits no merge) failed too
                self.check(False, f"{name}: {type(exc).__name__}: {exc}")
        for stderr in sorted({t.member.stderr for t in self.tracked}):  # one file per node, all its incarnations
            count = stderr.read_text(errors="replace").count("Traceback") if stderr.exists() else 0
            self.check(count == 0, f"{count} traceback(s) in {stderr}, the last: {last_error(stderr)}")

    def final_checks(self) -> dict[str, Callable[[], None]]:
        """The checks on the whole run, by name; each raises AssertionError on a failure."""
        return {"data": lambda: assert_no_data_lost(self.members), "conformance": self.conform}

    def conform(self) -> None:
        started = time.monotonic()
        self.summary.conformance_steps = assert_conforms(self.members)
        self.say(f"{self.summary.conformance_steps} merged steps conform ({time.monotonic() - started:.1f} s)")

    def close(self) -> None:
        self.members.close()
        self.cluster.close()


def last_error(stderr: Path) -> str:
    """The last line of `stderr` that is not a structured log line: a traceback's exception, or a one-line error."""
    lines = stderr.read_text(errors="replace").splitlines() if stderr.exists() else []
    plain = [line for line in lines if line.strip() and not line.startswith("{")]
    return plain[-1].strip() if plain else "nothing but structured logs"


def outcome_of(took: float | None, deadline: float) -> str:
    return f"converged in {took:.1f} s" if took is not None else f"NOT converged within {deadline:.0f} s"


def run(config: Config) -> Summary:
    """Run one campaign and its checks; the work directory is kept when given or when a check failed."""
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="pbjoin-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    campaign = Campaign(config, workdir)
    try:
        campaign.setup(workdir)
        campaign.churn()
        campaign.finish()
    finally:
        campaign.close()
    if config.workdir is None and not campaign.summary.failures:
        shutil.rmtree(workdir, ignore_errors=True)
    return campaign.summary


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python tests/soak.py",
        description=(
            "Churn a pbjoin group of 5 nodes (a..e) over 3 resources on a 3-server etcd cluster with "
            "authentication on: joins, clean leaves, kills, kills of the primary host, pauses past the lease, "
            "etcd leader losses, idle stretches past the auth token lifetime, and resource directories lost "
            "under live members (and put back later), one at a time. After each fault the group must converge; "
            "at the end every member exit must be explained by a fault aimed at it, no data may be lost, "
            "no member may have printed a traceback, and the merged step logs "
            "must conform to the model. Exit 0: every check passed; 1: a check failed; 2: bad arguments "
            "(or etcd not installed)."
        ),
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the churn runs (default: 10)")
    parser.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the fault schedule: the same seed draws the same kinds, targets and pauses (which process "
        "a target is still depends on the group at that moment) (default: 1)",
    )
    parser.add_argument(
        "--every-kind",
        action="store_true",
        help="go on past --minutes until every kind of fault was injected once (up to 3x --minutes in all)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the summary and schedule as JSON")
    parser.add_argument(
        "--workdir",
        type=Path,
        metavar="DIR",
        help="where etcd data, resources and member logs go, kept afterwards (default: a temporary directory, "
        "removed unless a check failed)",
    )
    parser.add_argument(
        "--lease-ttl",
        type=int,
        default=3,
        help="members' lease in seconds: crash detection and pauses take about this long (default: 3)",
    )
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=3,
        help="etcd's --auth-token-ttl in seconds; idle stretches last 2 s longer (default: 3)",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=60.0,
        help="seconds the group has to converge after each fault before it counts as a failed check (default: 60)",
    )
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.deadline <= 0:
        parser.error("--minutes and --deadline must be positive")
    if args.lease_ttl < 1 or args.token_ttl < 1:
        parser.error("--lease-ttl and --token-ttl must be at least 1 second")
    if shutil.which("etcd") is None:
        parser.error("etcd is not installed: `make etcd` installs Debian's etcd-server")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config(
        args.minutes, args.seed, args.lease_ttl, args.token_ttl, args.deadline, args.workdir, args.every_kind
    )
    summary = run(config)
    print(summary.render(), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(summary), indent=2) + "\n")
    return 1 if summary.failures else 0


if __name__ == "__main__":
    sys.exit(main())
