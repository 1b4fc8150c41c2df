"""Resource drivers: directory disks, atomic writes, and the in-memory twin used for replay."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pbjoin.resources import (
    DirectoryDisks,
    Disk,
    MemoryDisks,
    ResourceError,
    atomic_write,
    create_resource,
    read_data,
)


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    links = {r: tmp_path / "resources" / r for r in ("r1", "r2")}
    create_resource(links["r1"], "r1", "east", {"orders.csv": "1,disk\n"})
    create_resource(links["r2"], "r2", "west", {})
    return links


def test_access_is_what_the_node_can_open(tmp_path: Path, site: dict[str, Path]) -> None:
    disks = DirectoryDisks(tmp_path / "n1", (site["r2"], tmp_path / "missing"), site)
    assert disks.probe(("r1", "r2", "r9")) == ("r2",)
    (site["r2"] / "identity.json").write_text("{broken")
    assert disks.probe(("r1", "r2")) == ()
    with pytest.raises(ResourceError, match="cannot reach resource r1"):
        disks.load_config("r1")


def test_configuration_moves_between_resource_and_node(tmp_path: Path, site: dict[str, Path]) -> None:
    disks = DirectoryDisks(tmp_path / "n1", (site["r1"],), site)
    assert disks.load_config("r1") == (1, "r1 initial configuration")
    disks.store_config("r1", 2, "v2")
    assert disks.stored_version("r1") == 2 and disks.load_config("r1") == (2, "v2")
    disks.install_config("r1", 2, "v2")
    assert disks.installed_versions() == {"r1": 2}
    disks.reset_node()
    assert disks.installed_versions() == {}


def test_mirroring_copies_the_production_data(tmp_path: Path, site: dict[str, Path]) -> None:
    (site["r2"] / "data" / "stale.txt").write_text("old")
    disks = DirectoryDisks(tmp_path / "n2", (site["r2"],), site)
    disks.sync_mirror("r2", "r1")
    assert read_data(site["r2"]) == read_data(site["r1"]) == {"orders.csv": "1,disk\n"}


def test_a_crash_during_a_write_leaves_the_old_file_and_no_litter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "config.json"
    atomic_write(target, b'{"version": 1, "data": "old"}')

    def crash(src: str, dst: str) -> None:
        raise OSError("power lost")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power lost"):
        atomic_write(target, b'{"version": 2, "data": "new"}')
    assert json.loads(target.read_text()) == {"version": 1, "data": "old"}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_a_corrupt_configuration_is_reported_not_used(tmp_path: Path, site: dict[str, Path]) -> None:
    (site["r1"] / "config.json").write_text('{"version": 0, "data": "x"}')
    disks = DirectoryDisks(tmp_path / "n1", (site["r1"],), site)
    with pytest.raises(ResourceError, match="must hold"):
        disks.load_config("r1")


def test_memory_disks_keep_the_same_contract() -> None:
    shared = {"r1": Disk(1, "c1", {"d": "x"}), "r2": Disk(1, "c2")}
    n1 = MemoryDisks(shared, frozenset({"r2"}))
    assert n1.probe(("r1", "r2")) == ("r2",)
    with pytest.raises(ResourceError):
        n1.load_config("r1")
    n1.store_config("r2", 2, "c2'")
    assert MemoryDisks(shared, frozenset({"r1", "r2"})).load_config("r2") == (2, "c2'")
    n1.sync_mirror("r2", "r1")
    assert shared["r2"].data == {"d": "x"}
    n1.install_config("r2", 2, "c2'")
    assert n1.installed_versions() == {"r2": 2}
