"""Resource drivers: directory disks, atomic writes, and the in-memory twin used for replay."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from pbjoin.resources import (
    Crashed,
    DirectoryDisks,
    Disk,
    MemoryDisks,
    ResourceError,
    atomic_write,
    create_resource,
    read_data,
)
from pbjoin.wire import WriteRecord


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


# Each effect of the directory driver, on node n1 wired to both resources: r1 production
# (three data files, a copy with one write), r2 a backup with a stale data file.
EFFECTS: dict[str, Callable[[DirectoryDisks], object]] = {
    "store configuration": lambda d: d.store_config("r1", 2, "r1 configuration v2"),
    "install configuration": lambda d: d.install_config("r1", 2, "r1 configuration v2"),
    "synchronise a mirror": lambda d: d.sync_mirror("r2", "r1"),
    "take an epoch": lambda d: d.take_epoch("r1"),
    "append a write": lambda d: d.append_write("r1", WriteRecord(id="w2", key="k", value="v2", epoch=1)),
    "install a mirror": lambda d: d.install_mirror("r2", 1, (WriteRecord(id="w1", key="k", value="v1", epoch=1),)),
}


def effect_site(root: Path, driver: type[DirectoryDisks] = DirectoryDisks) -> DirectoryDisks:
    links = {r: root / "resources" / r for r in ("r1", "r2")}
    create_resource(links["r1"], "r1", "east", {"a": "a1", "b": "b1", "c": "c1"})
    create_resource(links["r2"], "r2", "west", {"a": "a0", "stale": "s0"})
    disks = driver(root / "n1", (links["r1"], links["r2"]), links)
    disks.install_config("r1", 1, "r1 initial configuration")
    disks.append_write("r1", WriteRecord(id="w1", key="k", value="v1", epoch=1))
    return disks


def files(disks: DirectoryDisks) -> dict[str, object]:
    """Every file of the site as a reader finds it (raises if one cannot be read)."""
    found: dict[str, object] = {"node store": disks.installed_configs()}
    for r in ("r1", "r2"):
        found[f"{r}/config.json"] = disks.audit_config(r)
        found[f"{r}/copy.json"] = disks.audit_copy(r)
        for name, content in disks.audit_data(r).items():
            found[f"{r}/data/{name}"] = content
    return found


def torn_files(root: Path, effect: str, driver: type[DirectoryDisks] = DirectoryDisks) -> list[str]:
    """Crash the effect before each of its file operations in turn: the files that were then
    unreadable or held neither their content before the effect nor after it."""
    done = effect_site(root / "done", driver)
    before, operations = files(done), done.failpoints.reached
    EFFECTS[effect](done)
    after, operations = files(done), done.failpoints.reached - operations
    assert operations > 0
    problems = []
    for operation in range(1, operations + 1):
        disks = effect_site(root / f"crash{operation}", driver)
        disks.failpoints.arm(operation)
        with pytest.raises(Crashed):
            EFFECTS[effect](disks)
        try:
            found = files(disks)
        except ResourceError as exc:
            problems.append(f"crash before operation {operation}: {exc}")
            continue
        for name in sorted(set(found) | set(before) | set(after)):
            if found.get(name) not in (before.get(name), after.get(name)):
                problems.append(f"crash before operation {operation}: {name} holds {found.get(name)!r}")
    return problems


@pytest.mark.parametrize("effect", sorted(EFFECTS))
def test_a_crash_between_any_two_file_operations_leaves_old_or_new_files(tmp_path: Path, effect: str) -> None:
    assert torn_files(tmp_path, effect) == []


class WritesConfigInPlace(DirectoryDisks):
    """A driver that truncates a resource's configuration and rewrites it in place."""

    def store_config(self, resource: str, version: int, data: str) -> None:
        path = self._path(resource) / "config.json"
        self.failpoints.reach(f"truncate {path}")
        path.write_bytes(b"")
        self.failpoints.reach(f"write {path} in place")
        path.write_text(json.dumps({"version": version, "data": data}))


def test_crash_points_catch_a_configuration_written_in_place(tmp_path: Path) -> None:
    assert torn_files(tmp_path, "store configuration", WritesConfigInPlace) == [
        f"crash before operation 2: {tmp_path}/crash2/resources/r1/config.json is not valid JSON: Expecting value"
    ]
