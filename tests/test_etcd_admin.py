"""`pbjoin group` (define, add-node, enable-auth) and `pbjoin status --etcd` against a real etcd."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import EtcdCluster

from pbjoin.cli.main import main


@pytest.fixture
def etcd(tmp_path: Path) -> Iterator[EtcdCluster]:
    (tmp_path / "etcd").mkdir()
    cluster = EtcdCluster(tmp_path / "etcd", size=1)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def test_define_a_group_then_read_it_live(etcd: EtcdCluster, capsys: pytest.CaptureFixture[str]) -> None:
    url = etcd.etcd_arg
    assert main(["group", "define", "--etcd", url, "--group", "g", "--resources", "r1", "r2"]) == 0
    assert capsys.readouterr().out == "group g: resources r1, r2 (r1 primary)\n"
    assert main(["status", "--etcd", url, "--group", "g", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [s["resource"] for s in status["state"]["subgroups"]] == ["r1", "r2"]
    assert status["state"]["primary"] == "r1" and status["state"]["members"] == [] and status["live"] == {}


def test_after_enable_auth_only_root_administers(
    etcd: EtcdCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = etcd.etcd_arg
    root, node = tmp_path / "root.pw", tmp_path / "n1.pw"
    root.write_text("root-secret\n")
    node.write_text("n1-secret\n")
    assert main(["group", "define", "--etcd", url, "--group", "g", "--resources", "r1"]) == 0
    assert (
        main(["group", "add-node", "--etcd", url, "--group", "g", "--node-id", "n1", "--node-password-file", str(node)])
        == 0
    )
    assert main(["group", "enable-auth", "--etcd", url, "--root-password-file", str(root)]) == 0
    capsys.readouterr()
    assert main(["group", "define", "--etcd", url, "--group", "h", "--resources", "r1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pbjoin: error: ") and err.count("\n") == 1
    assert main(["status", "--etcd", url, "--group", "g"]) == 2  # no credentials: refused
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["status", "--etcd", url, "--group", "g", "--password-file", str(root)]) == 0
    assert capsys.readouterr().out.startswith("group g: 0 ordered messages, primary resource r1")
