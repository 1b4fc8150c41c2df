"""The mypyc-compiled model (`make native`) and the pure-Python one check the same thing.

The compiled build is made in a copy of the model's sources, so the work tree's own state
(compiled or not) does not matter; without mypyc or a C compiler the comparison is skipped.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

MODEL = Path(__file__).resolve().parents[1] / "model"
PROBE = "from pbjoin_model.protocol import NATIVE, machine; print(NATIVE, machine.__file__.endswith('.py'))"
CHECKS = [
    ["--config", "small"],
    ["--config", "small", "--mutant", "no-host-replacement"],
    ["--config", "writes", "--max-restarts", "0", "--max-writes", "1"],
    ["--config", "default", "--max-states", "20000", "--workers", "2"],
]
SERIAL = ["--config", "default", "--max-states", "30000", "--fingerprints"]


def _python(code: list[str], model: Path, pure: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "PBJOIN_PURE"} | {"PYTHONPATH": str(model)}
    if pure:
        env["PBJOIN_PURE"] = "1"
    return subprocess.run([sys.executable, *code], env=env, capture_output=True, text=True, timeout=600, check=False)


def _check(args: list[str], model: Path, pure: bool) -> dict[str, Any]:
    program = "import sys; from pbjoin.cli.main import main; sys.exit(main())"
    proc = _python(["-c", program, "check", *args, "--json", "--quiet"], model, pure)
    assert proc.returncode in (0, 1, 3), proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


@pytest.fixture(scope="module")
def compiled_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if importlib.util.find_spec("mypyc") is None or shutil.which("cc") is None:
        pytest.skip("mypyc or a C compiler is missing: only the pure-Python model runs here")
    model = tmp_path_factory.mktemp("native")
    shutil.copy(MODEL / "build_native.py", model)
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "native.json")
    shutil.copytree(MODEL / "pbjoin_model", model / "pbjoin_model", ignore=ignore)
    build = subprocess.run(
        [sys.executable, "build_native.py"], cwd=model, capture_output=True, text=True, timeout=900, check=False
    )
    assert build.returncode == 0, build.stdout[-2000:] + build.stderr[-2000:]
    return model


def test_compiled_and_pure_models_give_identical_results(compiled_model: Path) -> None:
    assert _python(["-c", PROBE], compiled_model, pure=False).stdout.split() == ["True", "False"]
    assert _python(["-c", PROBE], compiled_model, pure=True).stdout.split() == ["False", "True"]
    for args in CHECKS:
        native, pure = _check(args, compiled_model, pure=False), _check(args, compiled_model, pure=True)
        assert native["native"] and not pure["native"]
        same = ("verdict", "violated", "distinct_states", "states_generated", "depth", "coverage", "trace")
        assert {k: native[k] for k in same} == {k: pure[k] for k in same}, args


def test_compiled_model_does_not_leak_with_the_cyclic_collector_off(compiled_model: Path) -> None:
    """mypyc's closures form reference cycles; the checker disables the cyclic collector, so none may be left."""
    native, pure = _check(SERIAL, compiled_model, pure=False), _check(SERIAL, compiled_model, pure=True)
    assert native["distinct_states"] == pure["distinct_states"] > 30_000
    assert native["peak_memory_mb"] < pure["peak_memory_mb"] * 1.3


def test_an_edited_source_is_run_from_source_not_from_the_stale_build(compiled_model: Path, tmp_path: Path) -> None:
    edited = tmp_path / "model"
    shutil.copytree(compiled_model, edited, ignore=shutil.ignore_patterns("build"))
    with (edited / "pbjoin_model" / "protocol" / "symmetry.py").open("a") as source:
        source.write("\n# edited after compiling\n")
    assert _python(["-c", PROBE], edited, pure=False).stdout.split() == ["False", "True"]


def test_compiled_params_pickle(compiled_model: Path) -> None:
    """A compiled frozen dataclass has no __dict__ for pickle to restore: Params rebuilds itself
    (the suite's simulation checks hand it to a fresh interpreter)."""
    program = (
        "import pickle; from pbjoin_model.protocol import NATIVE;"
        "from pbjoin_model.protocol.machine import Mutant, Params;"
        "p = Params(3, 2, 1, 0, 0, Mutant.NO_CAUSAL_WAIT, max_writes=2, max_resource_failures=1, compact_log=False);"
        "print(NATIVE, pickle.loads(pickle.dumps(p)) == p)"
    )
    for pure in (False, True):
        proc = _python(["-c", program], compiled_model, pure=pure)
        assert proc.stdout.split() == [str(not pure), "True"], proc.stderr
