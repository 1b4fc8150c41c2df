"""Resource failure and repair in the implementation (issue 19): the drivers detect it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from pbjoin.resources import (
    DirectoryDisks,
    Disk,
    MemoryDisks,
    ResourceError,
    ResourceFailedError,
    create_resource,
)
from pbjoin.wire import WriteRecord


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    links = {r: tmp_path / "resources" / r for r in ("r1", "r2")}
    create_resource(links["r1"], "r1", "east", {"orders.csv": "1,disk\n"})
    create_resource(links["r2"], "r2", "west", {})
    return links


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
