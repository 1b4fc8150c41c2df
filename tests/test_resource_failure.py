"""Resource failure and repair in the implementation (issue 19): the drivers detect it."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from test_etcd_stream import KEYS, History
from test_member_engine import act, cluster, settle

import pbjoin.cli.node as node_cli
from pbjoin.engine import InMemoryEngine
from pbjoin.etcd.node import NodeError
from pbjoin.group import GroupState
from pbjoin.member import Phase
from pbjoin.resources import (
    DirectoryDisks,
    Disk,
    MemoryDisks,
    ResourceError,
    ResourceFailedError,
    create_resource,
)
from pbjoin.wire import (
    Join,
    MalformedMessageError,
    ResFail,
    ResRepair,
    StartMirror,
    WriteRecord,
    decode_ordered,
    encode,
)


def _every_access(disks: DirectoryDisks | MemoryDisks, resource: str) -> list[str]:
    """Each resource access of the driver, run on `resource`: the failures it raised."""
    write = WriteRecord(id="w1", key="k", value="v", epoch=1)
    accesses: list[Callable[[], object]] = [
        lambda: disks.load_config(resource),
        lambda: disks.store_config(resource, 2, "v2"),
        lambda: disks.read_copy(resource),
        lambda: disks.take_epoch(resource),
        lambda: disks.append_write(resource, write),
        lambda: disks.mirror_write(resource, 1, write),
        lambda: disks.install_mirror(resource, 1, (write,)),
    ]
    reasons = []
    for access in accesses:
        with pytest.raises(ResourceFailedError) as caught:
            access()
        assert caught.value.resource == resource
        reasons.append(caught.value.reason)
    return reasons


def test_a_vanished_directory_fails_every_access_and_repairs_when_back(tmp_path: Path, site: dict[str, Path]) -> None:
    disks = DirectoryDisks(tmp_path / "n1", (site["r1"], site["r2"]), site)
    assert disks.probe(("r1", "r2")) == ("r1", "r2") and disks.check("r1") is None
    shutil.move(site["r1"], tmp_path / "away")
    assert disks.check("r1") == f"its directory {site['r1']} is gone"
    assert set(_every_access(disks, "r1")) == {f"its directory {site['r1']} is gone"}
    assert disks.check("r2") is None and disks.load_config("r2") == (1, "r2 initial configuration")
    shutil.move(tmp_path / "away", site["r1"])  # the same disk comes back: repaired
    assert disks.check("r1") is None and disks.load_config("r1") == (1, "r1 initial configuration")


def test_another_disk_in_its_place_is_a_failure(tmp_path: Path, site: dict[str, Path]) -> None:
    disks = DirectoryDisks(tmp_path / "n1", (site["r1"],), site)
    assert disks.probe(("r1",)) == ("r1",)
    shutil.rmtree(site["r1"])
    create_resource(site["r1"], "r1", "east", {})  # same name, a new (empty) disk
    assert disks.check("r1") == f"{site['r1'] / 'identity.json'} no longer holds the identity first seen there"
    assert disks.probe(("r1",)) == ()
    _every_access(disks, "r1")


def test_an_unreadable_resource_is_a_failure_not_a_traceback(tmp_path: Path, site: dict[str, Path]) -> None:
    disks = DirectoryDisks(tmp_path / "n1", (site["r1"],), site)
    assert disks.probe(("r1",)) == ("r1",)
    identity = (site["r1"] / "identity.json").read_text()
    (site["r1"] / "identity.json").write_text("{torn")
    assert (disks.check("r1") or "").startswith("its identity cannot be read")
    _every_access(disks, "r1")
    (site["r1"] / "identity.json").write_text(identity)
    assert disks.check("r1") is None
    shutil.rmtree(site["r1"] / "data")  # a half-gone disk: the data directory vanished
    assert disks.check("r1") == f"{site['r1']} is not readable and writable"
    (site["r1"] / "data").mkdir()
    (site["r1"] / "config.json").unlink()  # an I/O error in the middle of an access
    with pytest.raises(ResourceFailedError, match="resource r1 failed: cannot read"):
        disks.load_config("r1")


def test_identity_records_a_unique_id(site: dict[str, Path]) -> None:
    one, two = (json.loads((site[r] / "identity.json").read_text()) for r in ("r1", "r2"))
    assert one["resource"] == "r1" and len(one["id"]) == 32 and one["id"] != two["id"]


def test_a_resource_never_reached_is_not_a_failure(tmp_path: Path, site: dict[str, Path]) -> None:
    disks = DirectoryDisks(tmp_path / "n1", (site["r2"],), site)
    with pytest.raises(ResourceError, match="cannot reach resource r1") as caught:
        disks.check("r1")
    assert not isinstance(caught.value, ResourceFailedError)


def test_memory_disks_fail_and_repair_for_every_node() -> None:
    shared = {"r1": Disk(1, "c1", {"d": "x"}), "r2": Disk(1, "c2")}
    n1, n2 = MemoryDisks(shared, frozenset({"r1", "r2"})), MemoryDisks(shared, frozenset({"r1"}))
    n1.set_failed("r1", True)
    assert n2.check("r1") == "the disk has failed" and n1.probe(("r1", "r2")) == ("r1", "r2")  # still wired
    assert set(_every_access(n2, "r1")) == {"the disk has failed"}
    n2.set_failed("r1", False)
    assert n1.check("r1") is None and n1.load_config("r1") == (1, "c1") and shared["r1"].data == {"d": "x"}


# ---------------------------------------------------------------- the member, on delivered messages


def _group() -> InMemoryEngine:
    """n1 hosts r1 (primary), n2 is in r1's subgroup, n3 hosts the backup r2 (mirror active);
    n4, wired to r2 only, has not joined."""
    engine = cluster({"n1": {"r1"}, "n2": {"r1"}, "n3": {"r2"}, "n4": {"r2"}})
    for n in ("n1", "n2", "n3"):
        engine.step(act("Join", n=n))
        settle(engine)
    view = engine.runtimes["n1"].member.view
    assert view is not None and view.mirror["r2"] == "active" and view.primary_host == "n1"
    return engine


def _views(engine: InMemoryEngine) -> list[GroupState]:
    return [rt.member.view for rt in engine.runtimes.values() if rt.member.view is not None]


def _copy(engine: InMemoryEngine, resource: str) -> list[str]:
    return [w.id for w in engine.runtimes["n1"].disks.audit_copy(resource)[1]]


def test_the_production_copy_fails_under_live_hosts_and_the_group_fails_over_to_the_mirror() -> None:
    engine = _group()
    for k in (1, 2):
        engine.write("n1", f"w{k}", f"k{k}", f"v{k}")
        settle(engine)
    engine.set_resource_failed("r1", True)
    assert act("ReportFailure", n="n1", r="r1") in engine.enabled()
    assert act("ReportFailure", n="n2", r="r1") not in engine.enabled()  # only the host reports
    records = settle(engine)
    report = records[0]
    assert report.step == "ReportFailure" and report.multicast == [
        {"v": 1, "kind": "RES_FAIL", "node": "n1", "inc": 0, "resource": "r1"}
    ]
    assert report.notes == ["resource r1 failed: the disk has failed"]
    for view in _views(engine):
        assert view.primary == "r2" and view.primary_host == "n3" and view.lost == {"r1"}
        assert view.mirror == {"r1": "none", "r2": "none"} and view.rounds == {"r1": 1, "r2": 1}
        assert view.subgroups["r1"] == ["n1", "n2"]  # its members stay, holding no usable resource
    assert [rt.phase for rt in engine.runtimes.values()] == [Phase.MEMBER] * 3 + [Phase.OUT]
    assert engine.runtimes["n3"].member.acts_as_primary() and not engine.runtimes["n1"].member.acts_as_primary()
    assert _copy(engine, "r2") == ["w1", "w2"]  # every acknowledged write is on the new production copy
    assert engine.runtimes["n3"].member.epoch == 2
    engine.write("n3", "w3", "k3", "v3")
    assert engine.ledger["w3"].status == "acked" and _copy(engine, "r2") == ["w1", "w2", "w3"]


def test_a_primary_host_that_reports_its_copy_failed_abdicates() -> None:
    engine = _group()
    engine.write("n1", "w1", "k1", "v1")  # sent to n3, not yet acknowledged
    assert engine.ledger["w1"].status is None
    engine.set_resource_failed("r1", True)
    record = engine.step(act("ReportFailure", n="n1", r="r1"))
    assert [(a.id, a.status) for a in record.answers] == [("w1", "unknown")]
    assert record.post.reports == ["RES_FAIL r1"] and record.post.pending == {}
    assert act("Write", n="n1") not in engine.enabled()  # it no longer acts as the primary host
    assert act("ReportFailure", n="n1", r="r1") not in engine.enabled()  # one report in flight
    settle(engine)
    assert engine.ledger["w1"].status == "unknown" and engine.runtimes["n1"].member.reports == set()


def test_a_write_that_hits_the_failed_copy_is_refused_and_reported() -> None:
    engine = _group()
    engine.set_resource_failed("r1", True)
    record = engine.write("n1", "w1", "k1", "v1")
    assert [(a.id, a.status) for a in record.answers] == [("w1", "refused")]
    assert [m["kind"] for m in record.multicast] == ["RES_FAIL"]
    assert act("ReportFailure", n="n1", r="r1") not in engine.enabled()


def test_a_repaired_production_copy_comes_back_as_a_backup_and_resynchronises() -> None:
    engine = _group()
    engine.write("n1", "w1", "k1", "v1")
    settle(engine)
    engine.set_resource_failed("r1", True)
    settle(engine)
    engine.write("n3", "w2", "k2", "v2")  # r1 is out of reach: it misses this one
    engine.step(act("ChangeConfig", n="n3", r="r2"))
    settle(engine)
    assert act("ChangeConfig", n="n1", r="r1") not in engine.enabled()
    engine.set_resource_failed("r1", False)
    assert act("ReportRepair", n="n1", r="r1") in engine.enabled()
    records = settle(engine)
    assert records[0].step == "ReportRepair"
    start = next(r for r in records if r.step == "ReceiveStartMirror")
    assert start.consumed is not None and start.consumed["round"] == 2 and start.consumed["resource"] == "r1"
    assert start.multicast[0]["kind"] == "MIRROR_ACTIVE" and start.multicast[0]["round"] == 2
    for view in _views(engine):
        assert view.primary == "r2" and view.lost == set() and view.mirror["r1"] == "active"
        assert view.rounds == {"r1": 2, "r2": 1}
    assert _copy(engine, "r1") == ["w1", "w2"]
    # the repaired host read r1's configuration and pushed it to its subgroup
    assert engine.runtimes["n2"].member.configs["r1"].version == 1
    assert any(s.to == "n2" and s.msg["kind"] == "CONFIG" for r in records for s in r.sent)


def test_a_failed_backup_stops_counting_and_nobody_is_placed_on_it() -> None:
    engine = _group()
    engine.set_resource_failed("r2", True)
    engine.write("n1", "w1", "k1", "v1")  # waits for r2's host, which cannot write it
    records = settle(engine)
    assert [r.multicast for r in records if r.member == "n3" and r.multicast] == [
        [{"v": 1, "kind": "RES_FAIL", "node": "n3", "inc": 0, "resource": "r2"}]
    ]
    assert engine.ledger["w1"].status == "acked"  # it stopped waiting for the failed mirror
    for view in _views(engine):
        assert view.primary == "r1" and view.lost == {"r2"} and view.mirror["r2"] == "none"
    engine.step(act("Join", n="n4"))  # wired only to the failed r2: it reaches nothing
    records = settle(engine)
    assert engine.runtimes["n4"].phase is Phase.REJECTED
    assert any("join rejected" in note for r in records for note in r.notes)


def test_a_new_host_whose_resource_is_broken_reports_and_waits_for_the_repair() -> None:
    engine = cluster({"n1": {"r1"}, "n2": {"r2"}, "n3": {"r2"}})
    engine.step(act("Join", n="n1"))
    settle(engine)
    engine.set_resource_failed("r2", True)
    engine.step(act("Join", n="n2"))
    records = settle(engine)
    (placed,) = [r for r in records if r.member == "n2" and r.consumed and r.consumed.get("kind") == "ACCESS"]
    assert placed.post.phase == "waitConfig" and [m["kind"] for m in placed.multicast] == ["RES_FAIL"]
    assert engine.runtimes["n2"].member.phase.value == "waitConfig"
    engine.step(act("Join", n="n3"))  # r2 is lost: n3 reaches only r2, so it is rejected
    settle(engine)
    assert engine.runtimes["n3"].phase is Phase.REJECTED
    engine.set_resource_failed("r2", False)
    records = settle(engine)
    assert records[0].step == "ReportRepair" and engine.runtimes["n2"].phase is Phase.MEMBER
    assert engine.runtimes["n2"].member.configs["r2"].version == 1
    view = engine.runtimes["n1"].member.view
    assert view is not None and view.mirror["r2"] == "active" and view.members["n2"].status == "active"


def test_a_report_from_anyone_but_the_host_changes_nothing_on_delivery() -> None:
    engine = _group()
    before = [view.to_body() for view in _views(engine)]
    for forged in (
        ResFail(node="n2", inc=0, resource="r1"),  # a member of r1's subgroup, not its host
        ResFail(node="n3", inc=0, resource="r1"),  # another subgroup's host
        ResFail(node="n1", inc=1, resource="r1"),  # another incarnation of the host
        ResRepair(node="n1", inc=0, resource="r1"),  # a repair of a resource that never failed
    ):
        engine.ordered.append(encode(forged))
    settle(engine)
    assert [view.to_body() for view in _views(engine)] == before


def test_malformed_reports_are_rejected_by_the_wire_schema() -> None:
    good = encode(ResFail(node="n1", inc=0, resource="r1"))
    assert decode_ordered(good) == ResFail(node="n1", inc=0, resource="r1")
    for bad in (
        good.replace(b'"r1"', b'"R 1"'),
        good.replace(b'"inc":0', b'"inc":-1'),
        good.replace(b'"resource":"r1"', b'"resource":"r1","extra":1'),
        good.replace(b'"resource":"r1"', b'"rset":"r1"'),
    ):
        with pytest.raises(MalformedMessageError, match="malformed ordered message"):
            decode_ordered(bad)


def test_the_etcd_stream_ignores_a_report_under_another_author_s_key() -> None:
    h = History()
    h.live("a", 0, "out")
    h.say(Join(node="a", inc=0), 1)
    h.say(ResFail(node="b", inc=0, resource="r0"), 2, author="a")
    h.put(KEYS.message("a", 0, 3, 0), b'{"v":1,"kind":"RES_FAIL","node":"a"}')
    h.say(ResFail(node="a", inc=0, resource="r0"), 4)
    assert h.stream.ordered == [Join(node="a", inc=0), ResFail(node="a", inc=0, resource="r0")]
    assert len(h.stream.ignored) == 2 and "under another author's key" in h.stream.ignored[0]


def test_a_stale_start_mirror_is_dropped_and_a_future_one_refused() -> None:
    engine = _group()
    inc = engine.runtimes["n3"].inc
    stale = StartMirror(resource="r2", production="r1", round=0)
    engine.set_resource_failed("r2", True)
    settle(engine)  # r2 lost
    engine.set_resource_failed("r2", False)
    settle(engine)  # r2 repaired: round 1, resynchronised
    view = engine.runtimes["n3"].member.view
    assert view is not None and view.rounds["r2"] == 1 and view.mirror["r2"] == "active"
    engine.inject_direct("n1", "n3", inc, encode(stale))
    (action,) = [a for a in engine.enabled() if dict(a.params).get("src") == "n1"]
    record = engine.step(action)
    assert action.name == "ReceiveStartMirror" and record.notes == [
        "dropped START_MIRROR for r2 from n1: round 0 is stale"
    ]
    assert not record.effects and not record.multicast
    engine.inject_direct("n1", "n3", inc, encode(StartMirror(resource="r2", production="r1", round=7)))
    (action,) = [a for a in engine.enabled() if dict(a.params).get("src") == "n1"]
    assert action.name == "Refuse"
    assert engine.step(action).notes == ["refused START_MIRROR for r2 from n1 names round 7; the group is at 1"]


def _node_args(tmp_path: Path, wired: list[Path], linked: list[Path]) -> argparse.Namespace:
    return argparse.Namespace(
        node_dir=str(tmp_path / "n1"), resource=[str(p) for p in wired], link=[str(p) for p in linked]
    )


def test_a_node_starts_without_a_disk_that_is_gone_and_sees_it_when_back(
    tmp_path: Path, site: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A node restarted while one of its disks is lost must still join with the others, and
    find the disk (wired and over the replication network) once it is put back."""
    away = tmp_path / "r2-away"
    site["r2"].rename(away)
    disks = node_cli._disks(_node_args(tmp_path, [site["r1"], site["r2"]], list(site.values())))
    warning = f"pbjoin node: warning: resource directory {site['r2']} is gone: treated as a failed disk\n"
    assert capsys.readouterr().err == warning  # once, though it is both wired and linked
    assert disks.probe(("r1", "r2")) == ("r1",)
    with pytest.raises(ResourceError, match="no replication link to resource r2"):
        disks.audit_data("r2")
    away.rename(site["r2"])
    assert disks.probe(("r1", "r2")) == ("r1", "r2") and disks.check("r2") is None
    assert disks.audit_data("r2") == {}
    disks.sync_mirror("r2", "r1")
    assert disks.audit_data("r2") == {"orders.csv": "1,disk\n"}


@pytest.mark.parametrize(
    ("wired", "linked", "wrong"),
    [
        (["r1-gone"], [], "r1-gone"),  # gone, but the node would reach nothing: the paths are wrong
        (["r1", "nowhere/r2"], [], "nowhere/r2"),  # its parent is missing too: not a failed disk
        (["r1"], ["."], "."),  # a directory that is not a resource
    ],
)
def test_a_path_that_cannot_be_a_failed_disk_is_refused(
    tmp_path: Path, site: dict[str, Path], wired: list[str], linked: list[str], wrong: str
) -> None:
    root = tmp_path / "resources"
    with pytest.raises(NodeError, match=f"unknown resource path {root / wrong}"):
        node_cli._disks(_node_args(tmp_path, [root / w for w in wired], [root / w for w in linked]))
