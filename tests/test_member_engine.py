"""The sans-IO member and the in-memory engine: steps, refusals and rejected input."""

from __future__ import annotations

import pytest

from pbjoin.engine import ENVIRONMENT_STEPS, Action, InMemoryEngine, StepRefusedError
from pbjoin.member import Member, Phase, ProtocolError
from pbjoin.resources import Disk, MemoryDisks
from pbjoin.runtime import MemberFactory
from pbjoin.steplog import ClusterRecord, MemoryLog, StepRecord
from pbjoin.wire import ConfigMsg, Join, encode


def cluster(
    wiring: dict[str, set[str]], resources: tuple[str, ...] = ("r1", "r2"), member_factory: MemberFactory = Member
) -> InMemoryEngine:
    disks = {r: Disk(1, f"{r} v1") for r in resources}
    nodes = {n: MemoryDisks(disks, frozenset(w)) for n, w in wiring.items()}
    return InMemoryEngine("g", resources, dict(nodes), MemoryLog(), member_factory)


def logged(engine: InMemoryEngine) -> tuple[ClusterRecord, list[StepRecord]]:
    """The in-memory engine's log: its cluster record and its steps."""
    log = engine.sink
    assert isinstance(log, MemoryLog)
    cluster_record, *records = log.records
    assert isinstance(cluster_record, ClusterRecord)
    return cluster_record, [r for r in records if isinstance(r, StepRecord)]


def act(name: str, **params: str) -> Action:
    return Action(name, tuple(params.items()))  # type: ignore[arg-type]


def settle(engine: InMemoryEngine) -> list[StepRecord]:
    records = []
    while pending := [a for a in engine.enabled() if a.name not in ENVIRONMENT_STEPS]:
        records.append(engine.step(pending[0]))
    return records


def test_the_first_joiner_creates_the_group_and_hosts_the_primary_resource() -> None:
    engine = cluster({"n1": {"r1"}, "n2": {"r2"}})
    engine.step(act("Join", n="n1"))
    assert act("RecoverGroupState", n="n1") in engine.enabled()
    settle(engine)
    n1 = engine.runtimes["n1"].member
    assert n1.phase is Phase.MEMBER and n1.view is not None
    assert n1.view.primary_host == "n1" and n1.configs["r1"].version == 1
    engine.step(act("Join", n="n2"))
    assert act("RecoverGroupState", n="n2") not in engine.enabled()  # n1 holds the state: it must send it
    settle(engine)
    assert n1.view.host == {"r1": "n1", "r2": "n2"} and n1.view.mirror["r2"] == "active"


def test_a_joiner_that_reaches_nothing_is_rejected_and_leaves_no_trace() -> None:
    engine = cluster({"n1": {"r1"}, "n2": set()})
    engine.step(act("Join", n="n1"))
    settle(engine)
    engine.step(act("Join", n="n2"))
    records = settle(engine)
    assert engine.runtimes["n2"].phase is Phase.REJECTED
    assert any("join rejected" in note for r in records for note in r.notes)
    view = engine.runtimes["n1"].member.view
    assert view is not None and "n2" not in view.members and view.subgroups == {"r1": ["n1"], "r2": []}


def test_a_step_that_is_not_enabled_is_refused_and_changes_nothing() -> None:
    engine = cluster({"n1": {"r1"}})
    with pytest.raises(StepRefusedError, match=r"Deliver\(n=n1\) is not enabled"):
        engine.step(act("Deliver", n="n1"))
    assert engine.seq == 0 and engine.ordered == []
    with pytest.raises(ProtocolError, match="cannot deliver while out"):
        Member("n1", 0, ("r1",)).deliver(Join(node="n2", inc=0))
    with pytest.raises(ProtocolError, match="n1 cannot change configuration while out"):
        Member("n1", 0, ("r1",)).change_config("r1", "x")


def _member_state(member: Member) -> tuple[object, ...]:
    return (member.phase, member.position, member.view, dict(member.configs))


def test_malformed_and_stale_messages_are_rejected_with_a_logged_reason() -> None:
    engine = cluster({"n1": {"r1"}, "n2": {"r1"}})
    for n in ("n1", "n2"):
        engine.step(act("Join", n=n))
        settle(engine)
    before = _member_state(engine.runtimes["n2"].member)
    engine.inject_direct("n1", "n2", 0, b'{"v":1,"kind":"CONFIG","resource":"r1","version":"two","data":"x"}')
    engine.inject_direct("n1", "n2", 7, encode(ConfigMsg(resource="r1", version=9, data="replayed")))
    bad, stale = settle(engine)
    assert bad.step == stale.step == "Discard"
    assert bad.notes == [
        "rejected from n1: malformed direct message (CONFIG.version: Input should be a valid integer, "
        "unable to parse string as an integer)"
    ]
    assert stale.notes == ["rejected CONFIG from n1: for incarnation 7, this is 0"]
    assert _member_state(engine.runtimes["n2"].member) == before


def test_a_crash_fails_the_member_everywhere_and_a_restart_is_a_new_incarnation() -> None:
    engine = cluster({"n1": {"r1"}, "n2": {"r1"}})
    for n in ("n1", "n2"):
        engine.step(act("Join", n=n))
        settle(engine)
    crash = engine.step(act("Crash", n="n1"))
    assert crash.multicast == [{"v": 1, "kind": "FAIL", "node": "n1", "inc": 0}]
    settle(engine)
    view = engine.runtimes["n2"].member.view
    assert view is not None and view.primary_host == "n2" and "n1" not in view.members
    restart = engine.step(act("Restart", n="n1"))
    assert restart.inc == 1 and engine.runtimes["n1"].phase is Phase.OUT
    assert engine.runtimes["n1"].disks.installed_versions() == {}
