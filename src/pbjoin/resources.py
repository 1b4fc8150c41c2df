"""Resource drivers: where the effects a member asks for are performed.

`DirectoryDisks` is the real driver: a resource is a directory standing in for a
disk (an identity file, its configuration, its data files) and a node reaches a
resource when it can open that directory through its own wiring. Every write is
atomic (temporary file, fsync, rename), so a crash leaves the old or the new
version of a file, never a torn one. `MemoryDisks` keeps the same contents in
memory, for schedulers that explore many behaviours and copy the whole cluster.

A resource can fail while its nodes stay up: its directory vanishes, becomes unreadable,
or holds another disk (its identity file no longer matches the one the node first saw).
Every access to a resource checks this first, and any I/O error on the resource itself
counts too: the driver raises `ResourceFailedError` naming the resource, which the
runtime turns into an input of the member (the host reports the failure to the group)
instead of a traceback. `check` answers the same question without touching anything,
for a host's periodic probe; `MemoryDisks.set_failed` fails and repairs an in-memory disk.

Both drivers pass every file operation (write a temporary file, fsync, rename, fsync
the directory, unlink) through their `Failpoints`, which by default only count them;
armed, they crash the node just before the k-th one, so that schedulers can explore a
crash between any two file operations of an effect.
"""

from __future__ import annotations

import copy
import fcntl
import functools
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pbjoin.wire import WriteRecord

IDENTITY = "identity.json"
CONFIG = "config.json"
DATA = "data"
COPY = "copy.json"  # the data path: {"fence": N, "writes": [...]}, one file so both change at once
COPY_LOCK = ".copy.lock"  # held around every read-modify-write of copy.json

# What a backup's copy did with a mirrored write: took it, already held it, refused it as
# older than its fence, or could not take it yet (an earlier write is missing).
MirrorOutcome = Literal["applied", "held", "fenced", "gap", "conflict"]
_Result = TypeVar("_Result")


class ResourceError(RuntimeError):
    """A resource that is missing, unreadable or not what the group expects."""


class ResourceFailedError(ResourceError):
    """A resource this node is wired to has failed: gone, unreadable, or another disk now."""

    def __init__(self, resource: str, reason: str) -> None:
        super().__init__(f"resource {resource} failed: {reason}")
        self.resource = resource
        self.reason = reason


class Crashed(BaseException):
    """The node died at a failpoint. A BaseException, so that no `except Exception` of the
    driver cleans up after it: a killed process leaves its temporary files behind."""


@dataclass
class Failpoints:
    """Counts a node's file operations; armed with `arm(k)`, the k-th operation from then
    on is never done: the node crashes just before it."""

    reached: int = 0  # file operations so far
    crash_before: int | None = None  # the value of `reached` at which to crash

    def arm(self, operation: int) -> None:
        self.crash_before = self.reached + operation

    def disarm(self) -> None:
        self.crash_before = None

    def reach(self, operation: str) -> None:
        self.reached += 1
        if self.reached == self.crash_before:
            self.crash_before = None
            raise Crashed(f"crashed before: {operation}")


class Disks(Protocol):
    """The storage one node sees: its wired resources and its own local store."""

    failpoints: Failpoints

    def probe(self, resources: tuple[str, ...]) -> tuple[str, ...]: ...
    def check(self, resource: str) -> str | None: ...
    def load_config(self, resource: str) -> tuple[int, str]: ...
    def store_config(self, resource: str, version: int, data: str) -> None: ...
    def install_config(self, resource: str, version: int, data: str) -> None: ...
    def installed_versions(self) -> dict[str, int]: ...
    def installed_configs(self) -> dict[str, tuple[int, str]]: ...
    def stored_version(self, resource: str) -> int: ...
    def audit_config(self, resource: str) -> tuple[int, str]: ...
    def audit_data(self, resource: str) -> dict[str, str]: ...
    def sync_mirror(self, backup: str, production: str) -> None: ...
    def mirror_digests(self, backup: str, production: str) -> dict[str, str]: ...
    def reset_node(self) -> None: ...
    # the data path: each copy's writes in order and the highest epoch it has accepted
    def read_copy(self, resource: str) -> tuple[int, tuple[WriteRecord, ...]]: ...
    def take_epoch(self, resource: str) -> int: ...
    def append_write(self, resource: str, write: WriteRecord) -> int | None: ...
    def mirror_write(self, resource: str, position: int, write: WriteRecord) -> MirrorOutcome: ...
    def install_mirror(self, resource: str, epoch: int, writes: tuple[WriteRecord, ...]) -> bool: ...
    def audit_copy(self, resource: str) -> tuple[int, tuple[WriteRecord, ...]]: ...


@dataclass
class Copy:
    """A resource's data-path contents: the fence and the writes, in the order taken."""

    fence: int = 0
    writes: list[WriteRecord] = field(default_factory=list)

    def take_epoch(self) -> int:
        self.fence += 1
        return self.fence

    def append(self, write: WriteRecord) -> int | None:
        """The production copy takes a write under its epoch; None if a newer epoch fenced it."""
        if self.fence > write.epoch:
            return None
        self.writes.append(write)
        self.fence = write.epoch
        return len(self.writes)

    def mirror(self, position: int, write: WriteRecord) -> MirrorOutcome:
        if self.fence > write.epoch:
            return "fenced"
        if position == len(self.writes) + 1:
            self.writes.append(write)
            self.fence = write.epoch
            return "applied"
        if position > len(self.writes):
            return "gap"
        return "held" if self.writes[position - 1] == write else "conflict"

    def install(self, epoch: int, writes: tuple[WriteRecord, ...]) -> bool:
        if self.fence > epoch:
            return False
        self.fence, self.writes = epoch, list(writes)
        return True


class _CopyFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    fence: int = Field(ge=0)
    writes: tuple[WriteRecord, ...]


def atomic_write(path: Path, content: bytes, failpoints: Failpoints | None = None) -> None:
    reach = failpoints.reach if failpoints is not None else _no_failpoint
    reach(f"write a temporary file for {path}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            reach(f"fsync the temporary file for {path}")
            os.fsync(f.fileno())
        reach(f"rename the temporary file to {path}")
        os.replace(tmp, path)
    except Exception:
        Path(tmp).unlink(missing_ok=True)
        raise
    reach(f"fsync the directory of {path}")
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _no_failpoint(operation: str) -> None:
    pass


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
        f'A resource directory holds {IDENTITY} ({{"resource": NAME, "site": SITE, "id": UNIQUE}}: a node '
        "that finds another identity where it first saw this one treats the resource as failed), "
        f'{CONFIG} ({{"version": N, "data": TEXT}}, written by the resource\'s host) and {DATA}/ (the copy\'s '
        "data files); every file is written atomically (temporary file, fsync, rename)."
    )


def create_resource(path: Path, resource: str, site: str, data: dict[str, str]) -> None:
    """Lay out a fresh resource directory: identity, configuration version 1, data files."""
    (path / DATA).mkdir(parents=True, exist_ok=True)
    identity = {"resource": resource, "site": site, "id": uuid.uuid4().hex}
    atomic_write(path / IDENTITY, json.dumps(identity).encode())
    atomic_write(path / CONFIG, json.dumps({"version": 1, "data": f"{resource} initial configuration"}).encode())
    for name, content in data.items():
        atomic_write(path / DATA / name, content.encode())


def resource_identity(path: Path) -> str:
    return read_identity(path)[0]


def read_identity(path: Path) -> tuple[str, dict[str, object]]:
    """The resource a directory says it is, and its whole identity record."""
    identity = _read_json(path / IDENTITY)
    ident = identity.get("resource")
    if not isinstance(ident, str):
        raise ResourceError(f"{path / IDENTITY} names no resource")
    return ident, identity


def data_digest(files: dict[str, str]) -> str:
    """A copy's data files (names and contents) as one SHA-256 digest: equal digests, equal copies."""
    return hashlib.sha256(json.dumps(sorted(files.items())).encode()).hexdigest()


def read_data(path: Path) -> dict[str, str]:
    data = path / DATA
    return {f.name: f.read_text() for f in sorted(data.iterdir()) if not f.name.startswith(".")}


@dataclass
class DirectoryDisks:
    """A node's view of directory resources.

    `wiring` is the node's physical access: the resource directories it is cabled to.
    `links` is an optional shared replication network (resource directories by name) that
    a synchronised mirror also copies the production copy's data/ files over; without
    links, a mirror holds the data path's writes only (streamed by the primary host).
    `pending_links` are link directories that could not be identified yet (a failed disk
    when the node started): each is looked at again when a resource is not among `links`.
    """

    node_dir: Path
    wiring: tuple[Path, ...]
    links: dict[str, Path]
    failpoints: Failpoints = field(default_factory=Failpoints)
    pending_links: tuple[Path, ...] = ()

    def __post_init__(self) -> None:
        # Per resource: the wired directory it was first found in and its identity there.
        self._known: dict[str, tuple[Path, dict[str, object]]] = {}

    def _reachable(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for path in self.wiring:
            try:
                resource, identity = read_identity(path)
            except ResourceError:
                continue  # a disk this node cannot open is one it does not reach
            known = self._known.setdefault(resource, (path, identity))
            if known == (path, identity):
                found[resource] = path
        return found

    def _failure(self, resource: str) -> str | None:
        """Why a wired resource is failed now, or None; a resource never found is not wired."""
        if resource not in self._known:
            self._reachable()
        known = self._known.get(resource)
        if known is None:
            raise ResourceError(f"{self.node_dir.name} cannot reach resource {resource}")
        path, identity = known
        if not path.is_dir():
            return f"its directory {path} is gone"
        try:
            found = read_identity(path)
        except ResourceError as exc:
            return f"its identity cannot be read ({exc})"
        if found != (resource, identity):
            return f"{path / IDENTITY} no longer holds the identity first seen there"
        if not os.access(path, os.R_OK | os.W_OK | os.X_OK) or not (path / DATA).is_dir():
            return f"{path} is not readable and writable"
        return None

    def check(self, resource: str) -> str | None:
        """Why this wired resource has failed (None: it works); a host's probe."""
        return self._failure(resource)

    def _path(self, resource: str) -> Path:
        reason = self._failure(resource)
        if reason is not None:
            raise ResourceFailedError(resource, reason)
        return self._known[resource][0]

    @contextmanager
    def _using(self, resource: str) -> Iterator[Path]:
        """The resource's directory, checked; any I/O error on it while in use is its failure."""
        path = self._path(resource)
        try:
            yield path
        except ResourceFailedError:
            raise
        except (OSError, ResourceError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ResourceFailedError(resource, reason) from None

    def probe(self, resources: tuple[str, ...]) -> tuple[str, ...]:
        reachable = self._reachable()
        return tuple(r for r in resources if r in reachable)

    def load_config(self, resource: str) -> tuple[int, str]:
        with self._using(resource) as directory:
            path = directory / CONFIG
            return _config_of(_read_json(path), path)

    def store_config(self, resource: str, version: int, data: str) -> None:
        content = json.dumps({"version": version, "data": data}).encode()
        with self._using(resource) as directory:
            atomic_write(directory / CONFIG, content, self.failpoints)

    def _store(self) -> Path:
        store = self.node_dir / "config"
        store.mkdir(parents=True, exist_ok=True)
        return store

    def install_config(self, resource: str, version: int, data: str) -> None:
        content = json.dumps({"version": version, "data": data}).encode()
        atomic_write(self._store() / f"{resource}.json", content, self.failpoints)

    def installed_versions(self) -> dict[str, int]:
        return {r: version for r, (version, _) in self.installed_configs().items()}

    def installed_configs(self) -> dict[str, tuple[int, str]]:
        """Each configuration in the node's own store: version and text."""
        return {path.stem: _config_of(_read_json(path), path) for path in sorted(self._store().glob("*.json"))}

    def stored_version(self, resource: str) -> int:
        """The configuration version on a resource, read over the storage network (for audits)."""
        return self.audit_config(resource)[0]

    def _link(self, resource: str) -> Path | None:
        """The resource's directory on the replication network, if it has been identified."""
        if resource not in self.links:
            for path in self.pending_links:
                try:
                    self.links.setdefault(resource_identity(path), path)
                except ResourceError:
                    continue
        return self.links.get(resource)

    def _linked(self, resource: str) -> Path:
        path = self._link(resource)
        if path is None:
            raise ResourceError(f"no replication link to resource {resource}")
        return path

    def audit_config(self, resource: str) -> tuple[int, str]:
        """The configuration on a resource (version and text), read over the storage network."""
        path = self._linked(resource) / CONFIG
        return _config_of(_read_json(path), path)

    def audit_data(self, resource: str) -> dict[str, str]:
        """A resource's data files, read over the storage network (for audits)."""
        return read_data(self._linked(resource))

    def sync_mirror(self, backup: str, production: str) -> None:
        if not self.links and not self.pending_links:
            return  # no shared replication network: the data path alone mirrors
        source = self._link(production)
        if source is None:
            raise ResourceError(f"no replication link to production resource {production}")
        try:
            wanted = read_data(source)
        except OSError as exc:
            raise ResourceFailedError(production, f"cannot read it over the link: {exc.strerror}") from None
        with self._using(backup) as target:
            for name, content in wanted.items():
                atomic_write(target / DATA / name, content.encode(), self.failpoints)
            for stale in sorted(set(read_data(target)) - set(wanted)):
                self.failpoints.reach(f"unlink {target / DATA / stale}")
                (target / DATA / stale).unlink()

    def mirror_digests(self, backup: str, production: str) -> dict[str, str]:
        """The data digests of a synchronised mirror and of its production copy, read back
        (none without a replication network: the data files are then not mirrored)."""
        source = self._link(production)
        if source is None:
            return {}
        try:
            return {production: data_digest(read_data(source)), backup: data_digest(read_data(self._path(backup)))}
        except (OSError, ResourceError):
            return {}  # one of them failed meanwhile: nothing to show

    def reset_node(self) -> None:
        shutil.rmtree(self.node_dir / "config", ignore_errors=True)

    @contextmanager
    def _changing_copy(self, resource: str) -> Iterator[tuple[Path, Copy]]:
        """The copy, locked against every other process for one read-modify-write.

        Two processes may reach one resource at once (a paused primary host that woke up
        and its successor): without the lock, a write read under the old fence could be
        saved over the new one and undo the fencing.
        """
        with self._using(resource) as directory:
            fd = os.open(directory / COPY_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                path = directory / COPY
                yield path, read_copy_file(path)
            finally:
                os.close(fd)  # closing releases the lock

    def _save_copy(self, path: Path, copy_: Copy) -> None:
        content = _CopyFile(fence=copy_.fence, writes=tuple(copy_.writes)).model_dump_json().encode()
        atomic_write(path, content, self.failpoints)

    def read_copy(self, resource: str) -> tuple[int, tuple[WriteRecord, ...]]:
        with self._using(resource) as directory:
            copy_ = read_copy_file(directory / COPY)  # one atomically replaced file: no lock
        return copy_.fence, tuple(copy_.writes)

    def audit_copy(self, resource: str) -> tuple[int, tuple[WriteRecord, ...]]:
        """A resource's fence and writes, read over the storage network (for audits)."""
        copy_ = read_copy_file(self._linked(resource) / COPY)
        return copy_.fence, tuple(copy_.writes)

    def take_epoch(self, resource: str) -> int:
        with self._changing_copy(resource) as (path, copy_):
            epoch = copy_.take_epoch()
            self._save_copy(path, copy_)
        return epoch

    def append_write(self, resource: str, write: WriteRecord) -> int | None:
        with self._changing_copy(resource) as (path, copy_):
            position = copy_.append(write)
            if position is not None:
                self._save_copy(path, copy_)
        return position

    def mirror_write(self, resource: str, position: int, write: WriteRecord) -> MirrorOutcome:
        with self._changing_copy(resource) as (path, copy_):
            outcome = copy_.mirror(position, write)
            if outcome == "applied":
                self._save_copy(path, copy_)
        return outcome

    def install_mirror(self, resource: str, epoch: int, writes: tuple[WriteRecord, ...]) -> bool:
        with self._changing_copy(resource) as (path, copy_):
            if not copy_.install(epoch, writes):
                return False
            self._save_copy(path, copy_)
        return True


def read_copy_file(path: Path) -> Copy:
    """A resource's copy.json (absent: an empty copy never fenced)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Copy()
    except OSError as exc:
        raise ResourceError(f"cannot read {path}: {exc.strerror}") from None
    try:
        body = _CopyFile.model_validate_json(raw)
    except ValidationError:
        raise ResourceError(f"{path} must hold {{'fence': epoch, 'writes': [write, ...]}}") from None
    return Copy(body.fence, list(body.writes))


@dataclass
class Disk:
    version: int
    config: str
    data: dict[str, str] = field(default_factory=dict)
    copy: Copy = field(default_factory=Copy)
    failed: bool = False  # out of reach of every node; what it holds stays on it


@dataclass
class MemoryDisks:
    """The same contract as DirectoryDisks over shared in-memory disks, with the same file
    operations passed through `failpoints`: a file is replaced atomically (its new content
    visible from the rename on), a mirror copy is one replacement per data file."""

    disks: dict[str, Disk]  # shared by every node of the cluster
    wiring: frozenset[str]
    installed: dict[str, tuple[int, str]] = field(default_factory=dict)
    failpoints: Failpoints = field(default_factory=Failpoints)

    def _disk(self, resource: str) -> Disk:
        if resource not in self.wiring or resource not in self.disks:
            raise ResourceError(f"cannot reach resource {resource}")
        disk = self.disks[resource]
        if disk.failed:
            raise ResourceFailedError(resource, "the disk has failed")
        return disk

    def check(self, resource: str) -> str | None:
        return "the disk has failed" if self._disk_of(resource).failed else None

    def _disk_of(self, resource: str) -> Disk:
        if resource not in self.wiring or resource not in self.disks:
            raise ResourceError(f"cannot reach resource {resource}")
        return self.disks[resource]

    def set_failed(self, resource: str, failed: bool) -> None:
        """The shared disk fails (out of every node's reach) or is repaired (holding what it held)."""
        self.disks[resource].failed = failed

    def _replace(self, file: str, change: Callable[[], None]) -> None:
        """Replace a file atomically: temporary file, fsync, rename (`change`), fsync the directory."""
        for operation in ("write a temporary file for", "fsync the temporary file for", "rename the temporary file to"):
            self.failpoints.reach(f"{operation} {file}")
        change()
        self.failpoints.reach(f"fsync the directory of {file}")

    def probe(self, resources: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(r for r in resources if r in self.wiring and r in self.disks)

    def load_config(self, resource: str) -> tuple[int, str]:
        return _readable_config(resource, self._disk(resource))

    def store_config(self, resource: str, version: int, data: str) -> None:
        disk = self._disk(resource)

        def store() -> None:
            disk.version, disk.config = version, data

        self._replace(f"{resource}/{CONFIG}", store)

    def install_config(self, resource: str, version: int, data: str) -> None:
        self._replace(f"config/{resource}.json", lambda: self.installed.__setitem__(resource, (version, data)))

    def installed_versions(self) -> dict[str, int]:
        return {r: v for r, (v, _) in sorted(self.installed.items())}

    def installed_configs(self) -> dict[str, tuple[int, str]]:
        return dict(sorted(self.installed.items()))

    def stored_version(self, resource: str) -> int:
        return self.audit_config(resource)[0]

    def audit_config(self, resource: str) -> tuple[int, str]:
        return _readable_config(resource, self.disks[resource])

    def audit_data(self, resource: str) -> dict[str, str]:
        return dict(self.disks[resource].data)

    def sync_mirror(self, backup: str, production: str) -> None:
        target, wanted = self._disk(backup).data, dict(self.disks[production].data)
        for name, content in sorted(wanted.items()):
            self._replace(f"{backup}/{DATA}/{name}", functools.partial(target.__setitem__, name, content))
        for stale in sorted(set(target) - set(wanted)):
            self.failpoints.reach(f"unlink {backup}/{DATA}/{stale}")
            del target[stale]

    def mirror_digests(self, backup: str, production: str) -> dict[str, str]:
        return {r: data_digest(self.disks[r].data) for r in (production, backup)}

    def reset_node(self) -> None:
        self.installed.clear()

    def read_copy(self, resource: str) -> tuple[int, tuple[WriteRecord, ...]]:
        copy_ = self._disk(resource).copy
        return copy_.fence, tuple(copy_.writes)

    def audit_copy(self, resource: str) -> tuple[int, tuple[WriteRecord, ...]]:
        copy_ = self.disks[resource].copy
        return copy_.fence, tuple(copy_.writes)

    def _change_copy(self, resource: str, change: Callable[[Copy], _Result]) -> _Result:
        """One read-modify-write of a copy, saved (atomically) only if it changed."""
        disk = self._disk(resource)
        changed = copy.deepcopy(disk.copy)
        result = change(changed)
        if changed != disk.copy:
            self._replace(f"{resource}/{COPY}", lambda: setattr(disk, "copy", changed))
        return result

    def take_epoch(self, resource: str) -> int:
        return self._change_copy(resource, Copy.take_epoch)

    def append_write(self, resource: str, write: WriteRecord) -> int | None:
        return self._change_copy(resource, lambda c: c.append(write))

    def mirror_write(self, resource: str, position: int, write: WriteRecord) -> MirrorOutcome:
        return self._change_copy(resource, lambda c: c.mirror(position, write))

    def install_mirror(self, resource: str, epoch: int, writes: tuple[WriteRecord, ...]) -> bool:
        return self._change_copy(resource, lambda c: c.install(epoch, writes))


def _readable_config(resource: str, disk: Disk) -> tuple[int, str]:
    """A configuration as a reader finds it: a file torn by a crash is unreadable."""
    if disk.version < 1:
        raise ResourceError(f"{resource}/{CONFIG} must hold {{'version': positive int, 'data': str}}")
    return disk.version, disk.config
