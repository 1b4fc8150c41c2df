"""TLC's verdict on every invariant of spec/JoinProtocol.tla, state by state.

Counting states, as tests/test_tlc_agreement.py does, says nothing about the bodies of
the invariants: a weakened TLA+ invariant still holds on every reachable state. Here TLC
evaluates each invariant the checkers name (`INVARIANTS`) on given model states, which may
be unreachable, violating ones: a generated module extends the spec, takes the states
(encoded by `spec_state`) as its initial states, and prints one tuple of verdicts per
state from an invariant that is always true (`PrintT`). `disagreements` compares those
verdicts with the Python predicates (evaluated with the protocol's own `Params`: the
spec has no mutants, and the stream-step invariants replay the log).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pbjoin_model.protocol.config import SPEC_DIR
from pbjoin_model.protocol.invariants import INVARIANTS, STREAM_RULES, Invariant, StreamRule
from pbjoin_model.protocol.machine import VARIABLES, GroupState, Msg, Params, State, node_name
from pbjoin_model.protocol.spec_state import group_state_value, msg_value, spec_state
from pbjoin_model.protocol.tla_values import show
from pbjoin_model.traces.tlc import MODULE, parse_output
from pbjoin_model.traces.tlc_trace import tlc_command

CORPUS_MODULE = "InvariantCorpus"
# TLC breaks a long tuple over several lines.
_VERDICTS = re.compile(r"<<\s*(\d+),\s*((?:(?:TRUE|FALSE),?\s*)+)>>")
_STEP_VERDICTS = re.compile(r"<<\s*\"step\",\s*(\d+),\s*((?:(?:TRUE|FALSE),?\s*)+)>>")

# One step of the ordered stream: the group state before a message, the message, and a
# group state after it (the spec's, a mutant's or a perturbed one).
StreamStep = tuple[GroupState, Msg, GroupState]


class TlcEvaluationError(RuntimeError):
    """TLC did not give a verdict for every state (a parse or evaluation error)."""


@dataclass(frozen=True)
class Disagreement:
    state: State
    invariant: str
    python: bool
    tlc: bool


def corpus_module(states: Sequence[State], p: Params, steps: Sequence[StreamStep] = ()) -> str:
    """A module whose initial states are `states`, each tagged with its index in `idx`, and
    which prints the verdict of every stream rule on every one of `steps` when it starts."""
    nodes = ", ".join(node_name(n) for n in range(p.nodes))
    records = ",\n  ".join(
        "[" + ", ".join(f"{k} |-> {show(v)}" for k, v in spec_state(s).items()) + "]" for s in states
    )
    assign = "\n    ".join(f"/\\ {v} = Corpus[idx].{v}" for v in VARIABLES)
    names = ", ".join(name for name, _ in INVARIANTS)
    triples = ",\n  ".join(
        f"[P |-> {show(group_state_value(a))}, m |-> {show(msg_value(m))}, Q |-> {show(group_state_value(b))}]"
        for a, m, b in steps
    )
    rules = ", ".join(f"{name}(Steps[i].P, Steps[i].m, Steps[i].Q)" for name, _ in STREAM_RULES)
    return f"""---- MODULE {CORPUS_MODULE} ----
EXTENDS {MODULE}
CONSTANTS {nodes}
VARIABLE idx

Corpus == <<
  {records}
>>

CorpusInit ==
    /\\ idx \\in 1..Len(Corpus)
    {assign}

CorpusNext == UNCHANGED <<vars, idx>>

Verdicts == PrintT(<<idx, {names}>>)

Steps == <<
  {triples}
>>

ASSUME \\A i \\in 1..Len(Steps) : PrintT(<<"step", i, {rules}>>)
====
"""


def corpus_config(p: Params) -> str:
    nodes = [node_name(n) for n in range(p.nodes)]
    lines = [
        "CONSTANTS",
        f"    Node = {{{', '.join(nodes)}}}",
        *(f"    {n} = {n}" for n in nodes),
        f"    NumRes = {p.resources}",
        f"    MaxFailures = {p.max_failures}",
        f"    MaxRestarts = {p.max_restarts}",
        f"    MaxConfigChanges = {p.max_config_changes}",
        f"    MaxWrites = {p.max_writes}",
        f"    MaxResourceFailures = {p.max_resource_failures}",
        "    NoNode = NoNode",
        "    NoView = NoView",
        "INIT CorpusInit",
        "NEXT CorpusNext",
        "INVARIANT Verdicts",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TlcVerdicts:
    states: list[dict[str, bool]]  # per state, each invariant's verdict
    steps: list[dict[str, bool]]  # per stream step, each stream rule's verdict


def tlc_verdicts(
    states: Sequence[State],
    p: Params,
    steps: Sequence[StreamStep] = (),
    spec_text: str | None = None,
    timeout: float | None = None,
) -> TlcVerdicts:
    """TLC's verdicts on the states and the stream steps; `spec_text` replaces spec/JoinProtocol.tla."""
    text = spec_text if spec_text is not None else (SPEC_DIR / f"{MODULE}.tla").read_text()
    with tempfile.TemporaryDirectory(prefix="pbjoin-inv-") as tmp:
        work = Path(tmp)
        (work / f"{MODULE}.tla").write_text(text)
        (work / f"{CORPUS_MODULE}.tla").write_text(corpus_module(states, p, steps))
        (work / "MC.cfg").write_text(corpus_config(p))
        cmd = [*tlc_command(), "-workers", "1", "-deadlock", "-cleanup", "-metadir", str(work / "states")]
        cmd += ["-config", "MC.cfg", f"{CORPUS_MODULE}.tla"]
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, check=False)
        shutil.rmtree(work / "states", ignore_errors=True)
    output = proc.stdout + proc.stderr
    result = parse_output(output, proc.returncode)
    names = [name for name, _ in INVARIANTS]
    verdicts: dict[int, dict[str, bool]] = {}
    for idx, values in _VERDICTS.findall(output):
        flags = [v == "TRUE" for v in re.findall(r"TRUE|FALSE", values)]
        if len(flags) == len(names):
            verdicts[int(idx)] = dict(zip(names, flags, strict=True))
    rule_names = [name for name, _ in STREAM_RULES]
    step_verdicts: dict[int, dict[str, bool]] = {}
    for idx, values in _STEP_VERDICTS.findall(output):
        flags = [v == "TRUE" for v in re.findall(r"TRUE|FALSE", values)]
        step_verdicts[int(idx)] = dict(zip(rule_names, flags, strict=True))
    if result.errors or result.violated or len(verdicts) != len(states) or len(step_verdicts) != len(steps):
        raise TlcEvaluationError(
            f"TLC gave verdicts for {len(verdicts)} of {len(states)} states and {len(step_verdicts)} of "
            f"{len(steps)} steps: {output[-3000:]}"
        )
    return TlcVerdicts([verdicts[i + 1] for i in range(len(states))], [step_verdicts[i + 1] for i in range(len(steps))])


def disagreements(
    states: Sequence[State],
    p: Params,
    verdicts: Sequence[Mapping[str, bool]],
    invariants: Sequence[tuple[str, Invariant]] = INVARIANTS,
) -> list[Disagreement]:
    """Every (state, invariant) on which the Python predicate and TLC's verdict differ."""
    out = []
    for s, tlc in zip(states, verdicts, strict=True):
        for name, predicate in invariants:
            python = predicate(s, p)
            if python != tlc[name]:
                out.append(Disagreement(s, name, python, tlc[name]))
    return out


def step_disagreements(
    steps: Sequence[StreamStep],
    verdicts: Sequence[Mapping[str, bool]],
    rules: Sequence[tuple[str, StreamRule]] = STREAM_RULES,
) -> list[tuple[StreamStep, str]]:
    """Every (stream step, rule) on which the Python rule and TLC's verdict differ."""
    return [
        (step, name)
        for step, tlc in zip(steps, verdicts, strict=True)
        for name, rule in rules
        if rule(*step) != tlc[name]
    ]
