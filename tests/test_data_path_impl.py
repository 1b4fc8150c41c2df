"""The implementation's data path: writes, synchronous mirroring, fencing, on the in-memory engine.

Each test tells one story of the spec's data path (spec/README.md, "The data path") on
real members and resource drivers, and checks what the clients were told against what
the copies hold.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_member_engine import act, settle
from test_member_engine import cluster as engine_cluster

from pbjoin.engine import InMemoryEngine, StepRefusedError
from pbjoin.member import ProtocolError
from pbjoin.resources import COPY, DirectoryDisks, Disk, MemoryDisks, ResourceError, create_resource
from pbjoin.steplog import StepRecord
from pbjoin.wire import DataAck, WriteRecord, encode

# n1 hosts the primary resource r1, n2 the backup r2; n3 joins r1's subgroup after n1.
WIRING = {"n1": {"r1"}, "n2": {"r2"}, "n3": {"r1"}}


def cluster(wiring: dict[str, set[str]] = WIRING) -> tuple[InMemoryEngine, dict[str, Disk]]:
    """The engine, and the disks its nodes share (to read the copies directly)."""
    engine = engine_cluster(wiring)
    shared = engine.runtimes[next(iter(wiring))].disks
    assert isinstance(shared, MemoryDisks)
    return engine, shared.disks


def formed() -> tuple[InMemoryEngine, dict[str, Disk]]:
    engine, disks = cluster()
    for n in WIRING:
        engine.step(act("Join", n=n))
        settle(engine)
    return engine, disks


def answers(records: list[StepRecord]) -> dict[str, str]:
    return {a.id: a.status for r in records for a in r.answers}


def ids(disk: Disk) -> list[str]:
    return [w.id for w in disk.copy.writes]


def test_a_write_is_acknowledged_only_once_the_active_mirror_holds_it() -> None:
    engine, disks = formed()
    n1 = engine.runtimes["n1"].member
    assert n1.epoch == 1 and disks["r1"].copy.fence == 1  # the first primary host fenced its copy
    taken = engine.write("n1", "a", "k", "v")
    assert taken.answers == [] and n1.pending["a"].waiting == {"r2"}
    assert ids(disks["r1"]) == ["a"] and ids(disks["r2"]) == []
    assert [s.to for s in taken.data_sent] == ["n2"]
    records = settle(engine)
    assert [r.step for r in records] == ["ReceiveWrite", "ReceiveAck"]
    assert answers(records) == {"a": "acked"} and not n1.pending
    assert disks["r2"].copy.writes == disks["r1"].copy.writes == [WriteRecord(id="a", key="k", value="v", epoch=1)]


def test_without_a_mirror_the_production_copy_alone_acknowledges() -> None:
    engine, disks = cluster({"n1": {"r1"}})
    engine.step(act("Join", n="n1"))
    settle(engine)
    assert answers([engine.write("n1", "a", "k", "v")]) == {"a": "acked"}
    assert ids(disks["r1"]) == ["a"]


def test_acknowledged_writes_survive_a_switchover_and_a_failover() -> None:
    engine, disks = formed()
    told = answers([engine.write("n1", "a", "k", "1"), *settle(engine)])
    engine.step(act("Crash", n="n1"))  # n3, next in r1's subgroup, becomes primary host
    settle(engine)
    n3 = engine.runtimes["n3"].member
    assert n3.acts_as_primary() and n3.epoch == 2 and disks["r1"].copy.fence == 2
    told |= answers([engine.write("n3", "b", "k", "2"), *settle(engine)])
    engine.step(act("Crash", n="n3"))  # r1's subgroup is empty: failover to the active mirror r2
    settle(engine)
    n2 = engine.runtimes["n2"].member
    assert n2.view is not None and n2.view.primary == "r2" and n2.acts_as_primary()
    assert n2.epoch == 3 and disks["r2"].copy.fence == 3  # above every epoch r2 had accepted
    assert told == {"a": "acked", "b": "acked"}
    assert ids(disks["r2"]) == ["a", "b"]


def test_a_pending_write_of_a_crashed_primary_host_is_unknown_to_its_client() -> None:
    engine, _ = formed()
    engine.write("n1", "a", "k", "v")
    crash = engine.step(act("Crash", n="n1"))
    assert [(a.id, a.status) for a in crash.answers] == [("a", "unknown")]
    assert "a" not in answers(settle(engine))  # never acknowledged afterwards


def test_a_paused_primary_host_is_fenced_once_its_successor_took_over() -> None:
    engine, disks = formed()
    engine.step(act("Pause", n="n1"))
    n1 = engine.runtimes["n1"].member
    assert n1.acts_as_primary() and n1.stale_view is not None  # it still believes it is primary host
    settle(engine)
    assert engine.runtimes["n3"].member.epoch == 2
    stale = engine.write("n1", "late", "k", "stale")
    assert [(a.id, a.status) for a in stale.answers] == [("late", "refused")]
    assert "fenced" in stale.answers[0].reason
    assert "late" not in ids(disks["r1"]) + ids(disks["r2"])


def test_a_paused_primary_hosts_write_is_acknowledged_only_by_a_backup_that_still_follows_it() -> None:
    engine, disks = formed()
    engine.step(act("Pause", n="n1"))
    engine.write("n1", "early", "k", "v")  # nobody has delivered FAIL(n1) yet
    assert ids(disks["r1"]) == ["early"]
    # n2 takes it before it learns of the failure: applied, acknowledged, and then kept,
    # since the successor resynchronises r2 from the copy that holds it
    engine.step(act("ReceiveWrite", src="n1", n="n2"))
    told = answers([engine.step(act("ReceiveAck", src="n2", n="n1")), *settle(engine)])
    assert told == {"early": "acked"}
    assert engine.runtimes["n3"].member.acts_as_primary()
    assert ids(disks["r1"]) == ids(disks["r2"]) == ["early"] and disks["r2"].copy.fence == 2


def test_a_backup_that_learnt_of_the_pause_drops_the_paused_hosts_write() -> None:
    engine, disks = formed()
    engine.step(act("Pause", n="n1"))
    engine.write("n1", "early", "k", "v")
    records = settle(engine)  # n2 delivers FAIL(n1) before it takes the write
    assert [r.step for r in records][-1] == "ReceiveWrite"
    assert "not the primary host's write" in records[-1].notes[0]
    assert "early" not in answers(records) and engine.runtimes["n1"].member.pending["early"].waiting == {"r2"}
    # the write is on r2 all the same, brought by the successor's resynchronisation
    assert ids(disks["r2"]) == ["early"]


def test_a_backup_takes_writes_only_from_its_primary_host_and_refuses_forged_acks() -> None:
    engine, disks = formed()
    engine.write("n1", "a", "k", "v")
    n1 = engine.runtimes["n1"].member
    engine.inject_data("n3", "n1", n1.inc, encode(DataAck(resource="r2", id="a")))  # n3 does not host r2
    refused = engine.step(act("ReceiveAck", src="n3", n="n1"))
    assert refused.answers == [] and n1.pending["a"].waiting == {"r2"}
    assert any("not that mirror's host" in note for note in refused.notes)
    engine.inject_data("n1", "n2", engine.runtimes["n2"].inc, b'{"kind": "WRITE", "resource": 7}')
    records = settle(engine)
    assert sorted(r.step for r in records) == ["DiscardData", "ReceiveAck", "ReceiveWrite"]
    assert any("malformed data message" in note for r in records if r.step == "DiscardData" for note in r.notes)
    assert answers(records) == {"a": "acked"} and ids(disks["r2"]) == ["a"]


def test_only_a_primary_host_takes_writes() -> None:
    engine, _ = formed()
    with pytest.raises(StepRefusedError, match="n2 is not the primary host"):
        engine.write("n2", "a", "k", "v")
    with pytest.raises(ProtocolError, match="n2 is not the primary host"):
        engine.runtimes["n2"].member.write("a", "k", "v")
    assert act("Write", n="n1") in engine.enabled() and act("Write", n="n2") not in engine.enabled()


def test_the_directory_copy_keeps_fence_and_writes_in_one_atomic_file(tmp_path: Path) -> None:
    create_resource(tmp_path / "r1", "r1", "site-a", {})
    disks = DirectoryDisks(tmp_path / "node", (tmp_path / "r1",), {"r1": tmp_path / "r1"})
    assert disks.read_copy("r1") == (0, ())
    assert disks.take_epoch("r1") == 1
    first = WriteRecord(id="a", key="k", value="v", epoch=1)
    assert disks.append_write("r1", first) == 1
    assert disks.take_epoch("r1") == 2
    assert disks.append_write("r1", WriteRecord(id="b", key="k", value="w", epoch=1)) is None  # fenced
    assert disks.mirror_write("r1", 1, first) == "fenced"
    assert disks.read_copy("r1") == (2, (first,))
    (tmp_path / "r1" / COPY).write_text('{"fence": -1, "writes": []}')
    with pytest.raises(ResourceError, match=r"copy.json must hold") as caught:
        disks.read_copy("r1")
    assert "\n" not in str(caught.value)


def _append_many(root: str, writer: int, count: int) -> None:
    disks = DirectoryDisks(Path(root) / f"node{writer}", (Path(root) / "r1",), {})
    for k in range(count):
        disks.append_write("r1", WriteRecord(id=f"p{writer}-{k}", key="k", value=str(k), epoch=1))


def test_processes_sharing_a_copy_never_lose_each_others_writes(tmp_path: Path) -> None:
    """A paused primary host that wakes up and its successor reach one resource at once:
    every read-modify-write of the copy is serialised, so none undoes another's."""
    import multiprocessing

    create_resource(tmp_path / "r1", "r1", "site-a", {})
    DirectoryDisks(tmp_path / "node", (tmp_path / "r1",), {}).take_epoch("r1")
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_append_many, args=(str(tmp_path), w, 40)) for w in range(4)]
    for p in writers:
        p.start()
    for p in writers:
        p.join(60)
        assert p.exitcode == 0
    fence, writes = DirectoryDisks(tmp_path / "node", (tmp_path / "r1",), {}).read_copy("r1")
    assert fence == 1
    assert sorted(w.id for w in writes) == sorted(f"p{w}-{k}" for w in range(4) for k in range(40))
