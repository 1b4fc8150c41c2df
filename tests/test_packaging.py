"""The built wheel works anywhere: a fresh venv outside the checkout, without and with the verify extra."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)], out)
    assert built.returncode == 0, built.stderr[-2000:]
    (found,) = out.glob("pbjoin-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A venv outside the checkout with the wheel installed, no extras."""
    where = tmp_path_factory.mktemp("venv")
    venv.create(where / "env", with_pip=True)
    installed = _run([str(where / "env" / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)], where)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return where


def test_the_wheel_holds_the_spec_and_no_generic_top_level_package(wheel: Path) -> None:
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("pbjoin-")}
    assert tops == {"pbjoin", "pbjoin_model"}
    for spec_file in ("JoinProtocol.tla", "MC_small.cfg", "MC_default.cfg", "MC_failures.cfg", "MC_reference.cfg"):
        assert f"pbjoin_model/spec/{spec_file}" in names


def test_without_the_extra_production_runs_and_verification_says_what_to_install(fresh_venv: Path) -> None:
    bin_dir = fresh_venv / "env" / "bin"
    pbjoin = str(bin_dir / "pbjoin")
    outside = fresh_venv  # not the checkout
    assert _run([pbjoin, "--help"], outside).returncode == 0
    assert _run([pbjoin, "node", "--help"], outside).returncode == 0
    demo = _run([pbjoin, "demo", "--quiet", "--dir", str(outside / "demo")], outside)
    assert demo.returncode == 0, demo.stderr
    assert "log conforms to the model" not in demo.stdout
    assert "install the verify extra (pip install 'pbjoin[verify]')" in demo.stdout
    check = _run([pbjoin, "check", "--config", "small"], outside)
    assert check.returncode == 2 and check.stdout == ""
    assert check.stderr.count("\n") == 1 and "pip install 'pbjoin[verify]'" in check.stderr
    assert "Traceback" not in check.stderr
    made = _run([pbjoin, "resource", "init", str(outside / "r1"), "--name", "r1", "--site", "east"], outside)
    assert made.returncode == 0 and (outside / "r1" / "identity.json").is_file()
    python = str(bin_dir / "python")
    for generic in ("model", "tests", "bench"):
        assert _run([python, "-c", f"import {generic}"], outside).returncode != 0, generic
    shown = _run([python, "-m", "pip", "show", "pbjoin"], outside).stdout
    requires = next(line for line in shown.splitlines() if line.startswith("Requires:"))
    assert "pytest" not in requires and "z3" not in requires and "hypothesis" not in requires


def test_with_the_extra_check_prove_and_demo_work_from_anywhere(fresh_venv: Path, wheel: Path) -> None:
    bin_dir = fresh_venv / "env" / "bin"
    extra = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", f"{wheel}[verify]"], fresh_venv)
    assert extra.returncode == 0, extra.stderr[-2000:]
    pbjoin = str(bin_dir / "pbjoin")
    check = _run([pbjoin, "check", "--config", "small", "--quiet"], fresh_venv)
    assert check.returncode == 0, check.stderr
    assert "HOLDS" in check.stdout
    demo = _run([pbjoin, "demo", "--quiet", "--dir", str(fresh_venv / "demo2")], fresh_venv)
    assert demo.returncode == 0 and "log conforms to the model" in demo.stdout
    proof = _run([pbjoin, "prove", "--unbounded"], fresh_venv)
    assert proof.returncode == 0, proof.stdout[-2000:]
