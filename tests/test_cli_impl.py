"""`pbjoin demo`, `pbjoin status`, `pbjoin conform` and `python -m pbjoin` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pbjoin.cli.main import main
from pbjoin.resources import DirectoryDisks, resource_identity


def test_demo_tells_the_story_and_ends_conforming(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(f"log conforms to the model (119 steps checked): {tmp_path / 'c' / 'log.jsonl'}")
    assert "join rejected: this node reaches none of the group's resources" in out
    assert "ReceiveStartMirror(src=n1, n=n3)  took START_MIRROR; multicast MIRROR_ACTIVE" in out
    rejoined = out.split("== 13.")[1].split("== 14.")[0]
    assert "r2          west    primary  n3      n3          -" in rejoined  # failed over to the synchronised mirror
    assert "r1          east    backup   n1      n1          active" in rejoined
    assert (tmp_path / "c" / "nodes" / "n1" / "config" / "r1.json").is_file()


def test_demo_loses_the_production_directory_under_its_live_host_and_fails_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dir", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    scene = out.split("== 14.")[1].split("== 15.")[0]
    r2 = tmp_path / "c" / "resources" / "r2"
    assert "     the directory of r2 is removed; its members stay up\n" in scene and not r2.exists()
    assert f"ReportFailure(n=n3, r=r2)  multicast RES_FAIL; resource r2 failed: its directory {r2} is gone" in scene
    assert "Deliver(n=n1)  took RES_FAIL; sent START_MIRROR to n4" in scene  # n1 now primary host: r3 resyncs
    assert "n1            1  member    r1          primary host" in scene
    assert "n3            0  member    r2          backup host" in scene  # its host is still up
    assert "r1          east    primary          n1      n1          -" in scene
    assert "r2          west    backup (failed)  n3      n3          none" in scene
    assert "r3          west    backup           n4      n4          active" in scene
    after = out.split("== 15.")[1]
    assert "ReceiveAck(src=n4, n=n1)  took ACK; told app:8 acked" in after
    assert "app:7 acked, app:8 acked\nevery acknowledged write (5) is on the production copy" in after
    assert "r2's directory was removed under its live host: the group failed over to r1 without losing one" in after


def test_demo_refuses_a_directory_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"pbjoin: error: {tmp_path} is not empty; give a new directory\n"
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.fixture
def demo_log(tmp_path: Path) -> Path:
    assert main(["demo", "--quiet", "--dir", str(tmp_path / "c")]) == 0
    return tmp_path / "c" / "log.jsonl"


def test_status_shows_the_last_state_of_every_member(demo_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["status", str(demo_log), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    phases = {m["node"]: m["phase"] for m in report["members"]}
    assert phases == {"n1": "member", "n2": "down", "n3": "member", "n4": "member", "n5": "rejected"}
    assert report["group_state"]["primary"] == "r1" and report["steps"] == 119


def test_conform_reports_a_divergence_with_exit_1(demo_log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = demo_log.read_text().splitlines()
    lines[5] = lines[5].replace('"phase":"waitState"', '"phase":"member"')
    demo_log.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    assert main(["conform", str(demo_log), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["divergence"]["seq"] == 5 and ["phase", "waitState", "member"] in report["divergence"]["rows"]


def test_conform_exhaustive_is_incomplete_when_cut_by_the_depth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conform", "--exhaustive", "--depth", "3", "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert report["conforms"] and not report["complete"] and report["wirings"] == 10  # one per orbit
    assert 0 < report["coverage"] < 1 and report["transitions"] < report["model_transitions"]
    assert main(["conform", "--exhaustive", "--depth", "40", "--nodes", "1", "--resources", "1"]) == 0
    out = capsys.readouterr().out
    assert "every behaviour of the model replayed" in out and "up to symmetry (100.0%)" in out
    assert main(["conform", "--exhaustive", "--depth", "40", "--nodes", "1", "--resources", "1", "--crash-points"]) == 0
    assert "crash points: " in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["conform"], "give either a LOG to validate or --exhaustive"),
        (["conform", "x.log", "--crash-points"], "--crash-points needs --exhaustive"),
        (["conform", "/no/such/log"], "cannot read /no/such/log: No such file or directory"),
        (["status", "/no/such/log"], "cannot read /no/such/log: No such file or directory"),
        (["status"], "give either a LOG or --etcd URL --group G"),
        (["status", "--etcd", "http://127.0.0.1:9"], "--etcd needs --group"),
        (["status", "--etcd", "http://127.0.0.1:9", "--group", "g"], "etcd unreachable (http://127.0.0.1:9"),
        (["conform", "--exhaustive", "--depth", "-1"], "argument --depth"),
    ],
)
def test_bad_input_gets_one_line_and_exit_2(args: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(args)
    except SystemExit as usage_error:  # argparse exits by itself
        code = int(usage_error.code or 0)
    assert code == 2
    err = capsys.readouterr().err
    assert error in err and err.count("\n") == 1


def test_a_malformed_log_is_one_line_with_the_line_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text(
        '{"record":"cluster","group":"g","nodes":["n1"],"resources":["r1"],"access":{},"engine":"memory"}\n'
        '{"record":"step","seq":"x"}\n'
    )
    assert main(["conform", str(log)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pbjoin: error: {log}:2: not a step-log record (step.seq:") and err.count("\n") == 1


def test_the_implementation_cli_stands_alone(demo_log: Path) -> None:
    code = "import sys, pbjoin.cli.main; sys.exit(pbjoin.cli.main.main(['status', sys.argv[1]])); "
    probe = "import sys; assert not any(m.startswith(('pbjoin_model', 'z3')) for m in sys.modules), 'model imported'"
    done = subprocess.run(
        [sys.executable, "-c", f"import atexit; atexit.register(lambda: exec({probe!r})); {code}", str(demo_log)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "group demo: 119 steps logged" in done.stdout and "model imported" not in done.stderr


def test_demo_json_is_the_report_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json", "--dir", str(tmp_path / "c")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {
        "directory": str(tmp_path / "c"),
        "log": str(tmp_path / "c" / "log.jsonl"),
        "writes": {
            "app:3": "acked",
            "app:4": "acked",
            "app:5": "unknown",
            "app:6": "acked",
            "app:7": "acked",
            "app:8": "acked",
        },
        "conformance": {
            "checked": True,
            "conforms": True,
            "steps_checked": 119,
            "rejected_messages": 0,
            "divergence": None,
        },
    }


def test_resource_init_lays_out_a_resource_a_node_can_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["resource", "init", str(tmp_path / "r1"), "--name", "r1", "--site", "east"]) == 0
    assert "resource r1 (site east) created" in capsys.readouterr().out
    assert resource_identity(tmp_path / "r1") == "r1"
    disks = DirectoryDisks(node_dir=tmp_path / "n", wiring=(tmp_path / "r1",), links={"r1": tmp_path / "r1"})
    assert disks.probe(("r1",)) == ("r1",) and disks.load_config("r1")[0] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "R1!", "--site", "east"], "not a valid name: 'R1!'"),
        (["--name", "r1", "--site", ""], "not a valid name: ''"),
    ],
)
def test_resource_init_refuses_bad_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["resource", "init", str(tmp_path / "r"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


def test_resource_init_never_overwrites_a_directory_in_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    used = tmp_path / "r1"
    used.mkdir()
    (used / "precious").write_text("data")
    assert main(["resource", "init", str(used), "--name", "r1", "--site", "east"]) == 2
    assert "exists and is not an empty directory" in capsys.readouterr().err
    assert sorted(p.name for p in used.iterdir()) == ["precious"]
