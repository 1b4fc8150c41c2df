"""Resource drivers: where the effects a member asks for are performed.

`DirectoryDisks` is the real driver: a resource is a directory standing in for a
disk (an identity file, its configuration, its data files) and a node reaches a
resource when it can open that directory through its own wiring. Every write is
atomic (temporary file, fsync, rename), so a crash leaves the old or the new
version of a file, never a torn one. `MemoryDisks` keeps the same contents in
memory, for schedulers that explore many behaviours and copy the whole cluster.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

IDENTITY = "identity.json"
CONFIG = "config.json"
DATA = "data"


class ResourceError(RuntimeError):
    """A resource that is missing, unreadable or not what the group expects."""


class Disks(Protocol):
    """The storage one node sees: its wired resources and its own local store."""

    def probe(self, resources: tuple[str, ...]) -> tuple[str, ...]: ...
    def load_config(self, resource: str) -> tuple[int, str]: ...
    def store_config(self, resource: str, version: int, data: str) -> None: ...
    def install_config(self, resource: str, version: int, data: str) -> None: ...
    def installed_versions(self) -> dict[str, int]: ...
    def stored_version(self, resource: str) -> int: ...
    def sync_mirror(self, backup: str, production: str) -> None: ...
    def reset_node(self) -> None: ...


def atomic_write(path: Path, content: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _read_json(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_text())
    except OSError as exc:
        raise ResourceError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ResourceError(f"{path} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ResourceError(f"{path} does not hold a JSON object")
    return value


def _config_of(value: dict[str, object], where: Path) -> tuple[int, str]:
    version, data = value.get("version"), value.get("data")
    if not isinstance(version, int) or version < 1 or not isinstance(data, str):
        raise ResourceError(f"{where} must hold {{'version': positive int, 'data': str}}")
    return version, data


def describe_layout() -> str:
    """The resource directory layout, in one sentence for people (`--help`)."""
    return (
        f'A resource directory holds {IDENTITY} ({{"resource": NAME, "site": SITE}}), {CONFIG} '
        f'({{"version": N, "data": TEXT}}, written by the resource\'s host) and {DATA}/ (the copy\'s '
        "data files); every file is written atomically (temporary file, fsync, rename)."
    )


def create_resource(path: Path, resource: str, site: str, data: dict[str, str]) -> None:
    """Lay out a fresh resource directory: identity, configuration version 1, data files."""
    (path / DATA).mkdir(parents=True, exist_ok=True)
    atomic_write(path / IDENTITY, json.dumps({"resource": resource, "site": site}).encode())
    atomic_write(path / CONFIG, json.dumps({"version": 1, "data": f"{resource} initial configuration"}).encode())
    for name, content in data.items():
        atomic_write(path / DATA / name, content.encode())


def resource_identity(path: Path) -> str:
    ident = _read_json(path / IDENTITY).get("resource")
    if not isinstance(ident, str):
        raise ResourceError(f"{path / IDENTITY} names no resource")
    return ident


def read_data(path: Path) -> dict[str, str]:
    data = path / DATA
    return {f.name: f.read_text() for f in sorted(data.iterdir()) if not f.name.startswith(".")}


@dataclass
class DirectoryDisks:
    """A node's view of directory resources.

    `wiring` is the node's physical access: the resource directories it is cabled to.
    `links` is the storage replication network the mirroring copy runs over (every
    resource directory), which is not the node's access.
    """

    node_dir: Path
    wiring: tuple[Path, ...]
    links: dict[str, Path]

    def _reachable(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for path in self.wiring:
            try:
                found[resource_identity(path)] = path
            except ResourceError:
                continue  # a disk this node cannot open is one it does not reach
        return found

    def _path(self, resource: str) -> Path:
        path = self._reachable().get(resource)
        if path is None:
            raise ResourceError(f"{self.node_dir.name} cannot reach resource {resource}")
        return path

    def probe(self, resources: tuple[str, ...]) -> tuple[str, ...]:
        reachable = self._reachable()
        return tuple(r for r in resources if r in reachable)

    def load_config(self, resource: str) -> tuple[int, str]:
        path = self._path(resource) / CONFIG
        return _config_of(_read_json(path), path)

    def store_config(self, resource: str, version: int, data: str) -> None:
        atomic_write(self._path(resource) / CONFIG, json.dumps({"version": version, "data": data}).encode())

    def _store(self) -> Path:
        store = self.node_dir / "config"
        store.mkdir(parents=True, exist_ok=True)
        return store

    def install_config(self, resource: str, version: int, data: str) -> None:
        atomic_write(self._store() / f"{resource}.json", json.dumps({"version": version, "data": data}).encode())

    def installed_versions(self) -> dict[str, int]:
        versions = {}
        for path in sorted(self._store().glob("*.json")):
            versions[path.stem] = _config_of(_read_json(path), path)[0]
        return versions

    def stored_version(self, resource: str) -> int:
        """The configuration version on a resource, read over the storage network (for audits)."""
        path = self.links[resource] / CONFIG
        return _config_of(_read_json(path), path)[0]

    def sync_mirror(self, backup: str, production: str) -> None:
        source, target = self.links.get(production), self._path(backup)
        if source is None:
            raise ResourceError(f"no replication link to production resource {production}")
        wanted = read_data(source)
        for name, content in wanted.items():
            atomic_write(target / DATA / name, content.encode())
        for stale in set(read_data(target)) - set(wanted):
            (target / DATA / stale).unlink()

    def reset_node(self) -> None:
        shutil.rmtree(self.node_dir / "config", ignore_errors=True)


@dataclass
class Disk:
    version: int
    config: str
    data: dict[str, str] = field(default_factory=dict)


@dataclass
class MemoryDisks:
    """The same contract as DirectoryDisks over shared in-memory disks."""

    disks: dict[str, Disk]  # shared by every node of the cluster
    wiring: frozenset[str]
    installed: dict[str, tuple[int, str]] = field(default_factory=dict)

    def _disk(self, resource: str) -> Disk:
        if resource not in self.wiring or resource not in self.disks:
            raise ResourceError(f"cannot reach resource {resource}")
        return self.disks[resource]

    def probe(self, resources: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(r for r in resources if r in self.wiring and r in self.disks)

    def load_config(self, resource: str) -> tuple[int, str]:
        disk = self._disk(resource)
        return disk.version, disk.config

    def store_config(self, resource: str, version: int, data: str) -> None:
        disk = self._disk(resource)
        disk.version, disk.config = version, data

    def install_config(self, resource: str, version: int, data: str) -> None:
        self.installed[resource] = (version, data)

    def installed_versions(self) -> dict[str, int]:
        return {r: v for r, (v, _) in sorted(self.installed.items())}

    def stored_version(self, resource: str) -> int:
        return self.disks[resource].version

    def sync_mirror(self, backup: str, production: str) -> None:
        self._disk(backup).data = copy.deepcopy(self.disks[production].data)

    def reset_node(self) -> None:
        self.installed.clear()
