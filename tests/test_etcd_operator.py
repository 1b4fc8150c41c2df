"""What an operator runs into: stopping a node that is still waiting, `group add-node` and TLS mistakes."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from etcd_cluster import PBJOIN, EtcdCluster, converged, make_certificates, running_group, wait_for

from pbjoin.cli.main import main
from pbjoin.resources import create_resource


def test_sigterm_stops_a_node_that_waits_for_its_previous_incarnation(tmp_path: Path) -> None:
    with running_group(tmp_path, servers=1, resources=("r0",)) as members:
        first = members.start("a", ("r0",))
        wait_for(lambda: converged(members), 30, "a to create the group")
        args = [
            PBJOIN, "node", "--group", "g", "--node-id", "a", "--etcd", members.cluster.etcd_arg,
            "--resource", str(members.site.path("r0")), "--node-dir", str(tmp_path / "second"),
            "--log", str(tmp_path / "second.jsonl"),
        ]  # fmt: skip
        for sig in (signal.SIGTERM, signal.SIGINT):
            second = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            deadline = time.monotonic() + 30
            assert second.stderr is not None
            for line in second.stderr:
                if '"waiting"' in line or time.monotonic() > deadline:
                    break
            second.send_signal(sig)
            _, rest = second.communicate(timeout=10)
            assert second.returncode == 0, rest
            assert '"stopped"' in rest
        assert first.process.poll() is None, "the running incarnation must be left alone"
        assert converged(members)


def test_add_node_refuses_an_empty_password_and_an_undefined_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_group(tmp_path, servers=1, resources=("r0",)) as members:
        url = members.cluster.etcd_arg
        empty, good = tmp_path / "empty.pw", tmp_path / "good.pw"
        empty.write_text("\n")
        good.write_text("secret\n")
        add = ["group", "add-node", "--etcd", url, "--node-id", "n1", "--node-password-file"]
        assert main([*add, str(empty), "--group", "g"]) == 2
        assert "the password for n1 is empty" in capsys.readouterr().err
        assert main([*add, str(good), "--group", "nope"]) == 2
        err = capsys.readouterr().err
        assert "group nope is not defined" in err and err.count("\n") == 1
        assert main([*add, str(good), "--group", "g"]) == 0


def test_tls_mistakes_are_reported_as_tls_not_as_an_outage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = EtcdCluster(tmp_path / "etcd", size=1, tls=True)
    try:
        cluster.start()
        other_ca, _, _ = make_certificates(tmp_path / "other")
        url = cluster.etcd_arg
        status = ["status", "--group", "g", "--etcd"]
        for ca in ([], ["--ca", str(other_ca)]):
            assert main([*status, url, *ca]) == 2
            err = capsys.readouterr().err
            assert "TLS failed" in err and "give the CA that signed it with --ca" in err and err.count("\n") == 1
        assert main([*status, url.replace("https://", "http://"), "--ca", str(cluster.ca)]) == 2
        assert "if it serves TLS, use https://" in capsys.readouterr().err
    finally:
        cluster.close()


def test_define_never_reorders_the_resources_of_a_group_with_members(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with running_group(tmp_path, servers=1, resources=("r0", "r1")) as members:
        url = members.cluster.etcd_arg
        define = ["group", "define", "--etcd", url, "--group", "g", "--resources"]
        assert main([*define, "r1", "r0"]) == 0  # nobody joined yet: still free to change
        assert main([*define, "r0", "r1"]) == 0
        members.start("a", ("r0",))
        wait_for(lambda: converged(members), 30, "a to create the group")
        capsys.readouterr()
        assert main([*define, "r1", "r0"]) == 2
        err = capsys.readouterr().err
        assert "group g already has members" in err and err.count("\n") == 1
        assert main([*define, "r0", "r1"]) == 0  # the same definition again changes nothing
        assert converged(members)


def test_a_rejected_node_is_told_to_rejoin_under_a_new_id(tmp_path: Path) -> None:
    with running_group(tmp_path, servers=1, resources=("r0",)) as members:
        members.start("a", ("r0",))
        wait_for(lambda: converged(members), 30, "a to create the group")
        elsewhere = tmp_path / "unmanaged"
        create_resource(elsewhere, "other", "site-other", {})

        def node(wired_to: Path) -> subprocess.CompletedProcess[str]:
            args = [
                PBJOIN, "node", "--group", "g", "--node-id", "x", "--etcd", members.cluster.etcd_arg,
                "--resource", str(wired_to), "--node-dir", str(tmp_path / "x"), "--log", str(tmp_path / "x.jsonl"),
            ]  # fmt: skip
            return subprocess.run(args, capture_output=True, text=True, timeout=60)

        assert node(elsewhere).returncode == 3  # reaches none of the group's resources
        rewired = node(members.site.path("r0"))
        assert rewired.returncode == 2
        assert rewired.stderr.strip().endswith("x#0 was rejected by group g; it cannot rejoin")
        assert "Traceback" not in rewired.stderr
        assert converged(members)
