"""`pbjoin node` on bad input: one line on stderr, exit 2, no traceback; and `etcd_status`."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import PBJOIN, EtcdCluster, Site, free_port

from pbjoin.etcd.client import EtcdError
from pbjoin.etcd.node import NodeError
from pbjoin.etcd.security import define_group
from pbjoin.etcd.status import etcd_status


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd"), size=1)
    try:
        cluster.start()
        define_group(cluster.connection(), "g", ("r0", "r1"))
        yield cluster
    finally:
        cluster.close()


def node(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    site = Site(tmp_path, ("r0", "r1")).create()
    base = ["--node-dir", str(tmp_path / "n"), "--log", str(tmp_path / "log.jsonl"), "--lease-ttl", "1"]
    resource = ["--resource", str(site.path("r0"))]
    return subprocess.run([PBJOIN, "node", *base, *resource, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--group", "g", "--node-id", "Bad Name"], "--node-id must match"),
        (["--group", "g", "--node-id", "a", "--lease-ttl", "0"], "--lease-ttl must be at least 1"),
        (["--group", "nosuch", "--node-id", "a"], "group 'nosuch' is not defined"),
        (["--group", "g", "--node-id", "a", "--resource", "/nonexistent/disk"], "unknown resource path"),
        (["--group", "g", "--node-id", "a", "--link", "/etc"], "unknown resource path /etc"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(etcd: EtcdCluster, tmp_path: Path, args: list[str], message: str) -> None:
    result = node(tmp_path, "--etcd", etcd.etcd_arg, *args)
    assert result.returncode == 2
    assert result.stderr.startswith("pbjoin node: error: ") and result.stderr.count("\n") == 1
    assert message in result.stderr
    assert not (tmp_path / "log.jsonl").exists()


def test_unreachable_etcd_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = node(tmp_path, "--etcd", f"http://127.0.0.1:{free_port()}", "--group", "g", "--node-id", "a")
    assert result.returncode == 2
    assert result.stderr.startswith("pbjoin node: error: etcd unreachable") and result.stderr.count("\n") == 1


def test_a_bad_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = node(tmp_path, "--etcd", "etcd.example:2379", "--group", "g", "--node-id", "a")
    assert result.returncode == 2
    assert "bad etcd URL" in result.stderr and result.stderr.count("\n") == 1


def test_a_node_reaching_no_resource_of_the_group_is_rejected_with_a_reason(etcd: EtcdCluster, tmp_path: Path) -> None:
    elsewhere = Site(tmp_path / "elsewhere", ("x9",)).create()
    result = node(
        tmp_path, "--etcd", etcd.etcd_arg, "--group", "g", "--node-id", "z", "--resource", str(elsewhere.path("x9"))
    )
    assert result.returncode == 3
    assert '"event": "rejected"' in result.stderr and "reaches none of the group's resources" in result.stderr
    status = etcd_status(etcd.etcd_arg, "g")
    assert "live: none" in status and "member z" not in status


def test_status_of_an_undefined_group_or_an_unreachable_etcd_raises_one_line_errors(etcd: EtcdCluster) -> None:
    with pytest.raises(NodeError, match="group 'nosuch' is not defined"):
        etcd_status(etcd.etcd_arg, "nosuch")
    with pytest.raises(EtcdError, match="etcd unreachable"):
        etcd_status(f"http://127.0.0.1:{free_port()}", "g")
