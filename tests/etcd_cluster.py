"""Test fixtures: real etcd servers on free loopback ports, and member processes.

Every server runs from Debian's `etcd` binary with a temporary data directory; every
process started here is killed by the owner's `close()` (the pytest fixtures call it
in a finalizer), so a failing test leaves nothing running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pbjoin.etcd.client import Credentials, EtcdConnection, EtcdError
from pbjoin.etcd.security import add_node_user, define_group, enable_auth
from pbjoin.resources import create_resource

ROOT_PASSWORD = "root-secret"
PBJOIN = str(Path(sys.executable).parent / "pbjoin")
# Set to a member mutant's name (tests/impl_mutants.py), member processes run it instead of Member.
MUTANT_VARIABLE = "PBJOIN_TEST_MUTANT"
MUTANT_NODE = Path(__file__).with_name("mutant_node.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key, csr = directory / "server.pem", directory / "server-key.pem", directory / "server.csr"
    ext = directory / "san.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=pbjoin-test-ca",
            "-keyout", str(ca_key), "-out", str(ca))  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return ca, cert, key


@dataclass
class EtcdServer:
    name: str
    client_url: str
    peer_url: str
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None


@dataclass
class EtcdCluster:
    """`size` etcd servers forming one cluster; TLS on the client port if `tls`."""

    workdir: Path
    size: int = 1
    tls: bool = False
    servers: list[EtcdServer] = field(default_factory=list)
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    extra_args: tuple[str, ...] = ()

    def start(self) -> EtcdCluster:
        if shutil.which("etcd") is None:
            raise AssertionError("etcd is not installed: `make etcd` installs Debian's etcd-server")
        if self.tls:
            self.ca, self.cert, self.key = make_certificates(self.workdir / "tls")
        scheme = "https" if self.tls else "http"
        for i in range(self.size):
            name = f"e{i}"
            self.servers.append(
                EtcdServer(
                    name,
                    f"{scheme}://127.0.0.1:{free_port()}",
                    f"http://127.0.0.1:{free_port()}",
                    self.workdir / f"etcd-{name}",
                )
            )
        for server in self.servers:
            self._launch(server, state="new")
        wait_for(self._healthy, 30, "etcd to answer")
        return self

    def _launch(self, server: EtcdServer, state: str) -> None:
        initial = ",".join(f"{s.name}={s.peer_url}" for s in self.servers)
        args = [
            "etcd", "--name", server.name, "--data-dir", str(server.data_dir),
            "--listen-client-urls", server.client_url, "--advertise-client-urls", server.client_url,
            "--listen-peer-urls", server.peer_url, "--initial-advertise-peer-urls", server.peer_url,
            "--initial-cluster", initial, "--initial-cluster-state", state,
            "--initial-cluster-token", f"pbjoin-{os.getpid()}-{id(self)}",
            "--heartbeat-interval", "50", "--election-timeout", "500", "--log-level", "error",
        ]  # fmt: skip
        if self.tls:
            args += ["--cert-file", str(self.cert), "--key-file", str(self.key)]
        args += self.extra_args
        log = (self.workdir / f"etcd-{server.name}.log").open("ab")
        server.process = subprocess.Popen(args, stdout=log, stderr=log)

    def _healthy(self) -> bool:
        try:
            self.connection(root=False).get_prefix("/health-probe/")
            return True
        except EtcdError as exc:
            return "authentication" in str(exc) or "user name" in str(exc)

    @property
    def urls(self) -> list[str]:
        return [s.client_url for s in self.servers if s.process is not None and s.process.poll() is None]

    @property
    def etcd_arg(self) -> str:
        return ",".join(s.client_url for s in self.servers)

    def connection(self, root: bool = True, credentials: Credentials | None = None) -> EtcdConnection:
        creds = credentials or (Credentials("root", ROOT_PASSWORD) if root and self.auth_enabled else None)
        return EtcdConnection(self.urls, creds, str(self.ca) if self.ca else None)

    auth_enabled: bool = False

    def secure(self, group: str, resources: tuple[str, ...], nodes: list[str]) -> dict[str, Path]:
        """Define the group, one user per node, and enable authentication: node -> password file."""
        conn = self.connection()
        define_group(conn, group, resources)
        files = {}
        for node in nodes:
            password = f"{node}-secret"
            add_node_user(conn, group, node, password)
            path = self.workdir / f"{node}.password"
            path.write_text(password)
            files[node] = path
        enable_auth(conn, ROOT_PASSWORD)
        self.auth_enabled = True
        return files

    def leader(self) -> int | None:
        """Index of the server that is the Raft leader now, if the live servers agree on one."""
        ca = str(self.ca) if self.ca else None
        try:
            statuses = [
                (i, EtcdConnection([server.client_url], None, ca).post("/maintenance/status", {}))
                for i, server in enumerate(self.servers)
                if server.process is not None and server.process.poll() is None
            ]
        except EtcdError:
            return None
        for i, status in statuses:
            if all(int(s.get("leader", 0)) == int(status["header"]["member_id"]) for _, s in statuses):
                return i
        return None

    def kill(self, index: int) -> None:
        process = self.servers[index].process
        assert process is not None
        process.kill()
        process.wait()

    def restart(self, index: int, timeout: float = 30) -> None:
        """Start a killed server again on its own data directory, so it rejoins as the member it was.

        Its data directory already names the cluster, so etcd ignores `--initial-cluster-state`;
        "existing" is passed anyway so a lost data directory fails loudly instead of forming a
        new one-server cluster. Returns once it answers and the cluster agrees on a leader again.
        """
        server = self.servers[index]
        assert server.process is not None and server.process.poll() is not None, f"{server.name} is running"
        self._launch(server, state="existing")
        ca = str(self.ca) if self.ca else None

        def rejoined() -> bool:
            try:
                status = EtcdConnection([server.client_url], None, ca).post("/maintenance/status", {})
            except EtcdError:
                return False
            return int(status.get("leader", 0)) != 0 and self.leader() is not None

        wait_for(rejoined, timeout, f"etcd server {server.name} to rejoin the cluster")

    def close(self) -> None:
        for server in self.servers:
            if server.process is not None and server.process.poll() is None:
                server.process.kill()
                server.process.wait()


@dataclass
class Site:
    """Resource directories of one group on disk, and per-node wiring."""

    root: Path
    resources: tuple[str, ...]

    def create(self) -> Site:
        for r in self.resources:
            create_resource(self.path(r), r, f"site-{r}", {"ledger.txt": f"{r} production data\n"})
        return self

    def path(self, resource: str) -> Path:
        return self.root / "resources" / resource


def log_records(path: Path) -> list[dict[str, Any]]:
    """The whole lines of a step log that its process may be appending to right now."""
    if not path.exists():
        return []
    whole = path.read_text().rpartition("\n")[0]
    return [json.loads(line) for line in whole.splitlines() if line.strip()]


@dataclass
class MemberProcess:
    node: str
    log: Path
    node_dir: Path
    process: subprocess.Popen[bytes]
    stderr: Path

    def steps(self) -> list[dict[str, object]]:
        return [r for r in log_records(self.log) if r.get("record") == "step"]

    def phase(self) -> str | None:
        steps = self.steps()
        return str(steps[-1]["post"]["phase"]) if steps else None  # type: ignore[index]

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)


@dataclass
class Members:
    """Member processes of one group; `close()` kills whatever is still running."""

    cluster: EtcdCluster
    site: Site
    group: str
    workdir: Path
    passwords: dict[str, Path] = field(default_factory=dict)
    processes: list[MemberProcess] = field(default_factory=list)

    def start(self, node: str, wiring: tuple[str, ...], lease_ttl: int = 2, links: bool = True) -> MemberProcess:
        log = self.workdir / "logs" / f"{node}.jsonl"
        node_dir = self.workdir / "nodes" / node
        stderr = self.workdir / "logs" / f"{node}.stderr"
        stderr.parent.mkdir(parents=True, exist_ok=True)
        # Members start on different servers, so losing any one of them disconnects some members.
        urls = [s.client_url for s in self.cluster.servers]
        first = len(self.processes) % len(urls)
        endpoints = ",".join(urls[first:] + urls[:first])
        mutant = os.environ.get(MUTANT_VARIABLE)
        command = [PBJOIN] if not mutant else [sys.executable, str(MUTANT_NODE), mutant]
        args = [
            *command, "node", "--group", self.group, "--node-id", node, "--etcd", endpoints,
            "--resource", *(str(self.site.path(r)) for r in wiring),
            "--node-dir", str(node_dir), "--log", str(log), "--lease-ttl", str(lease_ttl),
        ]  # fmt: skip
        if links:
            args += ["--link", *(str(self.site.path(r)) for r in self.site.resources)]
        if node in self.passwords:
            args += ["--password-file", str(self.passwords[node])]
        if self.cluster.ca is not None:
            args += ["--ca", str(self.cluster.ca)]
        with stderr.open("ab") as err:
            process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
        member = MemberProcess(node, log, node_dir, process, stderr)
        self.processes.append(member)
        return member

    def logs(self) -> list[Path]:
        return sorted({p.log for p in self.processes if p.log.exists()})

    def close(self) -> None:
        for p in self.processes:
            if p.process.poll() is None:
                if p.process.returncode is None:
                    os.kill(p.process.pid, signal.SIGCONT)
                p.process.kill()
                p.process.wait()


# ---------------------------------------------------------------- checks shared by the tests


def group_status(cluster: EtcdCluster, group: str) -> dict[str, object]:
    from pbjoin.etcd.status import etcd_status

    password = ROOT_PASSWORD if cluster.auth_enabled else None
    ca = str(cluster.ca) if cluster.ca else None
    status: dict[str, object] = json.loads(
        etcd_status(",".join(cluster.urls), group, password=password, ca=ca, as_json=True)
    )
    return status


def host_of(members: Members, resource: str) -> str:
    """The host of `resource` in the live group state ("None" when it has none)."""
    state = group_status(members.cluster, members.group)["state"]
    assert isinstance(state, dict)
    return next(str(s["host"]) for s in state["subgroups"] if s["resource"] == resource)


def survivors(members: Members) -> list[MemberProcess]:
    return [p for p in members.processes if p.process.poll() is None]


def converged(members: Members, paused: tuple[MemberProcess, ...] = ()) -> bool:
    """Every running member (but the paused ones) is active and has delivered the whole ordered stream."""
    status = group_status(members.cluster, members.group)
    running = [p for p in survivors(members) if p not in paused]
    for p in running:
        steps = p.steps()
        if not steps:
            return False
        post = steps[-1]["post"]
        assert isinstance(post, dict)
        if post["phase"] != "member" or post["position"] != status["position"]:
            return False
    live = status["live"]
    assert isinstance(live, dict)
    return len(live) == len(running) and all(phase == "member" for phase in live.values())


def assert_conforms(members: Members) -> int:
    """Merge every member's log and check it against the model; the number of steps."""
    from pbjoin_model.conformance.logs import conform_logs

    report, steps = conform_logs(members.logs())
    assert report.conforms, report.divergence and report.divergence.render()
    return steps


def assert_no_data_lost(members: Members, files: bool = True) -> None:
    """Every member holds its resource's current configuration; every active mirror's data/ files
    equal production's (`files`: when the members copy them over a replication network)."""
    from pbjoin.resources import read_data

    status = group_status(members.cluster, members.group)
    state = status["state"]
    assert isinstance(state, dict)
    primary = members.site.path(str(state["primary"]))
    production = read_data(primary)
    for sub in state["subgroups"]:
        path = members.site.path(sub["resource"])
        stored = json.loads((path / "config.json").read_text())["version"]
        for node in sub["members"]:
            installed = json.loads(
                (members.workdir / "nodes" / node / "config" / f"{sub['resource']}.json").read_text()
            )
            assert installed["version"] == stored, f"{node} holds {sub['resource']} v{installed['version']}"
        if files and sub["mirror"] == "active":
            assert read_data(path) == production, f"mirror {sub['resource']} differs from production"


@contextmanager
def running_group(workdir: Path, servers: int, resources: tuple[str, ...], group: str = "g") -> Iterator[Members]:
    """`servers` etcd servers, the resource directories and the group defined; all killed afterwards."""
    cluster = EtcdCluster(workdir, size=servers)
    members = Members(cluster, Site(workdir, resources), group, workdir)
    try:
        cluster.start()
        members.site.create()
        define_group(cluster.connection(), group, resources)
        yield members
    finally:
        members.close()
        cluster.close()


@contextmanager
def secured_group(
    workdir: Path, resources: tuple[str, ...], nodes: list[str], extra_args: tuple[str, ...] = ()
) -> Iterator[Members]:
    """One etcd server with TLS and authentication, group g defined with a user per node; all killed afterwards."""
    cluster = EtcdCluster(workdir, size=1, tls=True, extra_args=extra_args)
    members = Members(cluster, Site(workdir, resources), "g", workdir)
    try:
        cluster.start()
        members.site.create()
        members.passwords = cluster.secure("g", resources, nodes)
        yield members
    finally:
        members.close()
        cluster.close()


def connection_as(members: Members, node: str) -> EtcdConnection:
    """A client holding `node`'s own etcd credentials (what a thief of them would have)."""
    password = members.passwords[node].read_text()
    return EtcdConnection(members.cluster.urls, Credentials(node, password), str(members.cluster.ca))
