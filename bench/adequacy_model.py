"""The model side's adequacy matrix: every model and spec mutant against every method.

Model mutants are the `Mutant`s of model/pbjoin_model/protocol/machine.py (the model with one
deliberate bug); spec mutants are the textual edits of spec/JoinProtocol.tla in
tests/spec_mutants.py. Each method is run as the suite runs it, with the budgets below.

Properties (the model checked against what it must satisfy):
- explore CFG: the explorer (every invariant and deadlock, with symmetry) on the shipped
  configurations small and writes, on 3 nodes and 2 resources with one failure
  (tests/test_mutants.py's THREE), on 3 nodes and 3 resources wired one node per resource (where
  the failover choice shows), and on the shipped failures, default and reference configurations
  cut after --max-states distinct states; explore resources: the configurations of
  tests/test_mutants.py's RESOURCE_CASES (one resource failure and repair: the shipped resources
  configuration, and 3 nodes by 3 resources wired one node per resource, cut after 250,000
  distinct states);
- liveness: the liveness properties under weak fairness on the configurations of
  tests/test_liveness.py, smallest first, until one fails;
- IndInv reachable: the proof's IndInv on every reachable state of
  tests/test_prove_invariant.py's configurations;
- unbounded proof: pbjoin prove's Z3 proof of IndInv for every size;
- BMC: bounded model checking of the exact symbolic model on the small configuration, every
  depth up to --bmc-depth.

Agreement (the model, or the spec, compared with another rendering of the protocol):
- TLC agreement: tests/test_tlc_agreement.py: TLC finds no violation and the model's state and
  generated counts on each of its configurations, the model's state set on two of them, and
  its orbit counts on 3 nodes and 2 resources without failures;
- invariant agreement: tests/test_invariant_agreement.py: TLC's verdict on every invariant and
  stream rule, state by state on its corpora, against the Python predicates and rules;
- symbolic agreement: tests/test_prove_symbolic.py: the Z3 transitions and symbolic invariants
  against the Python model's successors and predicates, on its sample of reachable states;
- simulation: pbjoin prove --simulation: each sampled model step is a step of the encodings
  the proof is about (tests/test_prove_simulation.py's configurations).

A model mutant is the model with its bug against the protocol's other renderings (TLC on the
spec, the symbolic model, the proof's encodings), which do not share it; a spec mutant is the
edited spec against the model. A cell says killed (what saw it), survived (what held, within
which budget) or n/a (why the method cannot run that mutant). Exit 0 when every model mutant
is killed by a property and every spec mutant by an agreement method, among the methods run;
1 otherwise.

    .venv/bin/python bench/adequacy_model.py [--quick] [--method NAME ...] [--mutant NAME ...]
        [--json FILE] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pbjoin_model.explorer.bfs import Options, Verdict, check, reachable
from pbjoin_model.explorer.liveness import check_liveness
from pbjoin_model.proofs.bmc import BmcVerdict, bmc
from pbjoin_model.proofs.indinv import CONJUNCTS
from pbjoin_model.proofs.prove import prove
from pbjoin_model.proofs.simulation import simulate
from pbjoin_model.proofs.symbolic import DATA_PATH_NOT_ENCODED, RESOURCE_FAILURES_NOT_ENCODED, Actions, GroupOps
from pbjoin_model.proofs.symbolic_invariants import SYMBOLIC_INVARIANTS
from pbjoin_model.protocol.config import load
from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import (
    CHOICE_MUTANTS,
    DATA_PATH_MUTANTS,
    RESOURCE_FAILURE_MUTANTS,
    Mutant,
    Params,
    State,
    successors,
)
from pbjoin_model.protocol.spec_state import decode_state
from pbjoin_model.traces.tlc import TlcResult, run_tlc
from pbjoin_model.traces.tlc_invariants import TlcEvaluationError, disagreements, step_disagreements, tlc_verdicts
from pbjoin_model.traces.tlc_trace import parse_states
from spec_mutants import SPEC_MUTANTS, SpecMutant
from test_invariant_agreement import CORPORA, corpus_of, verdicts_of
from test_liveness import LIVENESS_MUTANTS, RESOURCE_LIVENESS
from test_mutants import CHOICE_CASES, RESOURCE_CASES, THREE, params
from test_prove_invariant import REACHABLE_CONFIGS
from test_prove_simulation import SMALL as SIMULATION_SMALL
from test_prove_simulation import TWO_RESOURCES
from test_prove_symbolic import CONFIGS as SYMBOLIC_CONFIGS
from test_prove_symbolic import _encoding, _sample, _z3_successors
from test_tlc_agreement import CONFIGS as TLC_CONFIGS
from test_tlc_agreement import ORBITS_CONFIG, STATE_SET_CONFIGS, python_counts, python_orbits

T = TypeVar("T")

KILLED, SURVIVED, NOT_APPLICABLE = "killed", "survived", "n/a"
PROPERTY, AGREEMENT = "property", "agreement"
TLC_TIMEOUT = 900.0

NO_WRITES = "data-path mutant: the configuration has no writes, where the mutant is the protocol itself"
NO_RESOURCE_FAILURES = (
    "resource-failure mutant: the configurations have no resource failures, where the mutant is the protocol itself"
)
NOT_ENCODED = f"data-path mutant: {DATA_PATH_NOT_ENCODED}"
RESOURCES_NOT_ENCODED = f"resource-failure mutant: {RESOURCE_FAILURES_NOT_ENCODED}"
CHOICE_NOT_PROVED = (
    "choice mutant: the proof's group level encodes the protocol's choices and IndInv states safety only "
    "(pbjoin prove refuses it)"
)
INDINV_NO_WRITES = "data-path mutant: IndInv states no data-path property (its configurations have no writes)"
INDINV_NO_RESOURCE_FAILURES = (
    "resource-failure mutant: IndInv's configurations have no resource failures (the proof does not encode them)"
)
SPEC_NOT_RUN = "spec mutant: the method runs the Python model, not the spec (TLC runs the spec: TLC agreement)"
SPEC_NOT_COMPARED = "spec mutant: the method compares the Python model with the Z3 encodings; neither reads the spec"


@dataclass(frozen=True)
class Finding:
    verdict: str  # KILLED, SURVIVED or NOT_APPLICABLE
    how: str  # what saw the mutant, what held, or why the method cannot run it


def killed(how: str) -> Finding:
    return Finding(KILLED, how)


def survived(how: str) -> Finding:
    return Finding(SURVIVED, how)


def not_applicable(why: str) -> Finding:
    return Finding(NOT_APPLICABLE, why)


ModelMethod = Callable[[Mutant], Finding]
SpecMethod = Callable[[SpecMutant], Finding]


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # PROPERTY or AGREEMENT
    quick: bool  # seconds per mutant: part of --quick
    model: ModelMethod | str  # a reason string: n/a for every model mutant
    spec: SpecMethod | str


@dataclass(frozen=True)
class Budget:
    max_states: int  # distinct states of the explorer on the large shipped configurations
    bmc_depth: int
    liveness_states: int  # states of a liveness graph


def label(p: Params) -> str:
    """(nodes, resources, failures, restarts, configuration changes[, writes]), as the tests write them."""
    values = [p.nodes, p.resources, p.max_failures, p.max_restarts, p.max_config_changes]
    text = str(tuple(values + ([p.max_writes] if p.max_writes else [])))
    if p.max_resource_failures:
        text += f" with {p.max_resource_failures} resource failure{'s' if p.max_resource_failures > 1 else ''}"
    return text


def is_protocol_on(m: Mutant, p: Params) -> bool:
    """A data-path mutant without writes, or a resource-failure mutant without resource
    failures, is the protocol itself."""
    return (m in DATA_PATH_MUTANTS and p.max_writes == 0) or (
        m in RESOURCE_FAILURE_MUTANTS and p.max_resource_failures == 0
    )


def why_protocol(m: Mutant) -> str:
    return NO_WRITES if m in DATA_PATH_MUTANTS else NO_RESOURCE_FAILURES


def not_encoded(m: Mutant) -> str | None:
    """Why the Z3 encodings cannot express m's bug, if they cannot."""
    if m in DATA_PATH_MUTANTS:
        return NOT_ENCODED
    if m in RESOURCE_FAILURE_MUTANTS:
        return RESOURCES_NOT_ENCODED
    return None


def progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


SETUP = [0.0]  # seconds spent so far on shared set-up, which no cell's time includes


def timed(what: str, work: Callable[[], T]) -> T:
    """work(), shared set-up done once (TLC on the spec itself, a corpus), its time on stderr."""
    started = time.monotonic()
    value = work()
    seconds = time.monotonic() - started
    SETUP[0] += seconds
    progress(f"  (set-up, {what}: {seconds:.1f} s)")
    return value


# --- properties --------------------------------------------------------------------------------


def by_explorer(p: Params, options: Options) -> ModelMethod:
    def method(m: Mutant) -> Finding:
        if is_protocol_on(m, p):
            return not_applicable(why_protocol(m))
        result = check(dataclasses.replace(p, mutant=m), options)
        if result.verdict is Verdict.VIOLATED:
            return killed(f"{result.violated} after {len(result.trace) - 1} steps")
        if result.verdict is Verdict.HOLDS:
            return survived(f"holds on all {result.distinct:,} states")
        return survived(f"nothing in {result.distinct:,} states ({result.cut_by})")

    return method


RESOURCE_CONFIGS = sorted(
    {(p, wirings) for p, wirings, *_ in RESOURCE_CASES.values()}, key=lambda c: (c[0].nodes, c[0].resources)
)
# 3 nodes by 3 resources with a resource failure does not finish in minutes (past 2 million
# states); its mutant's counterexample is found after 178,181.
WIRED_RESOURCE_STATES = 250_000


def by_resource_explorer(m: Mutant) -> Finding:
    """The explorer on each configuration with a resource failure, until one kills m."""
    held = []
    for protocol, wirings in RESOURCE_CONFIGS:
        p = dataclasses.replace(protocol, mutant=m)
        if is_protocol_on(m, p):
            continue
        wired = " wired" if wirings else ""
        result = check(p, Options(wirings=wirings, max_states=WIRED_RESOURCE_STATES if wirings else None))
        if result.verdict is Verdict.VIOLATED:
            return killed(f"{result.violated} after {len(result.trace) - 1} steps on {label(p)}{wired}")
        cut = f", cut by {result.cut_by}" if result.cut_by else ""
        held.append(f"{label(p)}{wired} ({result.distinct:,} states{cut})")
    return survived(f"holds on {', '.join(held)}")


# smallest first; the last has a resource failure and a repair (tests/test_liveness.py)
LIVENESS_CONFIGS = [params(c) for c in sorted({constants for constants, _ in LIVENESS_MUTANTS.values()})] + [
    RESOURCE_LIVENESS
]


def by_liveness(max_states: int) -> ModelMethod:
    def method(m: Mutant) -> Finding:
        held = []
        for protocol in LIVENESS_CONFIGS:
            p = dataclasses.replace(protocol, mutant=m)
            if is_protocol_on(m, p):
                continue
            result = check_liveness(p, max_states)
            failed = [r for r in result.results if not r.holds]
            if failed:
                return killed(f"{failed[0].name}[{failed[0].instance}] on {label(p)}".replace("[]", ""))
            held.append(label(p) if result.cut_by is None else f"{label(p)} cut at {max_states:,} states")
        return survived(f"holds on {', '.join(held)}")

    return method


def by_indinv(m: Mutant) -> Finding:
    if m in DATA_PATH_MUTANTS:
        return not_applicable(INDINV_NO_WRITES)
    if m in RESOURCE_FAILURE_MUTANTS:
        return not_applicable(INDINV_NO_RESOURCE_FAILURES)
    for constants in REACHABLE_CONFIGS:
        p = Params(*constants, mutant=m)
        for s in reachable(p, symmetry=True):
            broken = next((name for name, conjunct in CONJUNCTS if not conjunct(s, p)), None)
            if broken is not None:
                return killed(f"{broken} on a reachable state of {label(p)}")
    return survived(f"holds on every reachable state of {', '.join(map(str, REACHABLE_CONFIGS))}")


def by_proof(m: Mutant) -> Finding:
    if (reason := not_encoded(m)) is not None:
        return not_applicable(reason)
    if m in CHOICE_MUTANTS:
        return not_applicable(CHOICE_NOT_PROVED)
    result = prove(m)
    failed = [o for o in result.obligations if o.verdict == "fail"]
    if failed:
        return killed(f"{failed[0].conjunct} under {failed[0].action} ({len(failed)} obligations fail)")
    return survived("IndInv proved" if result.verdict == "proved" else f"verdict {result.verdict}")


def by_bmc(depth: int) -> ModelMethod:
    def method(m: Mutant) -> Finding:
        if (reason := not_encoded(m)) is not None:
            return not_applicable(reason)
        p = dataclasses.replace(load("small").params, mutant=m)
        result = bmc(p, depth)
        if result.verdict is BmcVerdict.VIOLATED:
            return killed(f"{result.violated} at depth {len(result.trace) - 1} on {label(p)}")
        if result.verdict is BmcVerdict.HOLDS:
            return survived(f"holds to depth {depth} on {label(p)}")
        return survived(f"{result.verdict.value} after depth {result.reached} on {label(p)}")

    return method


# --- agreement ---------------------------------------------------------------------------------


@cache
def protocol_tlc(p: Params, symmetry: bool = False) -> TlcResult:
    """TLC on the spec itself (once per configuration)."""
    return timed(f"TLC on the spec, {label(p)}", partial(run_tlc, p, symmetry=symmetry, timeout=TLC_TIMEOUT))


def tlc_states(p: Params, spec_text: str | None = None) -> set[State]:
    """The distinct states TLC dumps for p, as model states."""
    with tempfile.TemporaryDirectory(prefix="adequacy-") as tmp:
        dump = Path(tmp) / "states.dump"
        run_tlc(p, timeout=TLC_TIMEOUT, dump=dump, spec_text=spec_text)
        return {decode_state(values, p) for _, values in parse_states(dump.read_text())}


@cache
def protocol_tlc_states(p: Params) -> frozenset[State]:
    return frozenset(timed(f"TLC's states of the spec, {label(p)}", partial(tlc_states, p)))


@cache
def model_counts(p: Params) -> tuple[int, int]:
    return timed(f"the model's counts, {label(p)}", partial(python_counts, p))


@cache
def model_orbits(p: Params) -> tuple[int, int]:
    orbits, generated = timed(f"the model's orbits, {label(p)}", partial(python_orbits, p))
    return len(orbits), generated


@cache
def model_states(p: Params) -> frozenset[State]:
    return timed(f"the model's states, {label(p)}", lambda: frozenset(reachable(p)))


def by_tlc_model(m: Mutant) -> Finding:
    for p in TLC_CONFIGS:
        if is_protocol_on(m, p):
            continue
        tlc = protocol_tlc(p)
        model = python_counts(dataclasses.replace(p, mutant=m))
        if model != (tlc.distinct_states, tlc.states_generated):
            return killed(f"counts on {label(p)}: model {model}, TLC {(tlc.distinct_states, tlc.states_generated)}")
    for p in STATE_SET_CONFIGS.values():
        if not is_protocol_on(m, p) and set(reachable(dataclasses.replace(p, mutant=m))) != protocol_tlc_states(p):
            return killed(f"state set on {label(p)}")
    if not is_protocol_on(m, ORBITS_CONFIG):
        tlc = protocol_tlc(ORBITS_CONFIG, symmetry=True)
        orbits, generated = python_orbits(dataclasses.replace(ORBITS_CONFIG, mutant=m))
        if (len(orbits), generated) != (tlc.distinct_states, tlc.states_generated):
            return killed(f"orbit counts on {label(ORBITS_CONFIG)}")
    return survived("same counts, state sets and orbit counts")


def by_tlc_spec(sm: SpecMutant) -> Finding:
    text = sm.text()
    for p in TLC_CONFIGS:
        tlc = run_tlc(p, timeout=TLC_TIMEOUT, spec_text=text)
        if tlc.errors:
            return killed(f"TLC error on {label(p)}: {tlc.errors[0][:60]}")
        if tlc.violated:
            return killed(f"TLC finds {tlc.violated[0]} violated on {label(p)}")
        if not tlc.completed:
            return killed(f"TLC does not complete on {label(p)}")
        counts = (tlc.distinct_states, tlc.states_generated)
        if counts != model_counts(p):
            return killed(f"counts on {label(p)}: TLC {counts}, model {model_counts(p)}")
    for p in STATE_SET_CONFIGS.values():
        if tlc_states(p, text) != model_states(p):
            return killed(f"state set on {label(p)}")
    tlc = run_tlc(ORBITS_CONFIG, symmetry=True, timeout=TLC_TIMEOUT, spec_text=text)
    if (tlc.distinct_states, tlc.states_generated) != model_orbits(ORBITS_CONFIG):
        return killed(f"orbit counts on {label(ORBITS_CONFIG)}")
    return survived("same counts, state sets and orbit counts, no violation")


_BUILT: set[str] = set()


def corpora() -> Iterable[tuple[str, Params]]:
    """The corpora of tests/test_invariant_agreement.py, each built and evaluated by TLC once."""
    for name, (p, *_) in CORPORA.items():
        if name not in _BUILT:
            timed(f"corpus {name} and TLC's verdicts on it", partial(verdicts_of, name))
            _BUILT.add(name)
        yield name, p


def by_invariants_model(m: Mutant) -> Finding:
    for name, p in corpora():
        found = disagreements(corpus_of(name)[0], dataclasses.replace(p, mutant=m), verdicts_of(name).states)
        if found:
            d = found[0]
            return killed(f"{d.invariant} on a {name} corpus state: Python {d.python}, TLC {d.tlc}")
    return survived("same verdicts on every corpus state")


def by_invariants_spec(sm: SpecMutant) -> Finding:
    text = sm.text()
    for name, p in corpora():
        states, steps = corpus_of(name)
        try:
            verdicts = tlc_verdicts(states, p, steps, spec_text=text, timeout=TLC_TIMEOUT)
        except TlcEvaluationError:
            return killed(f"TLC cannot evaluate the {name} corpus")
        found = disagreements(states, p, verdicts.states)
        if found:
            d = found[0]
            return killed(f"{d.invariant} on a {name} corpus state: Python {d.python}, TLC {d.tlc}")
        rules = step_disagreements(steps, verdicts.steps)
        if rules:
            return killed(f"{rules[0][1]} on a {name} corpus step")
    return survived("same verdicts on every corpus state and step")


def by_symbolic(m: Mutant) -> Finding:
    if (reason := not_encoded(m)) is not None:
        return not_applicable(reason)
    for constants in sorted({constants for constants, _ in SYMBOLIC_CONFIGS}):
        protocol = Params(*constants)
        p = dataclasses.replace(protocol, mutant=m)
        states = _sample(p)
        enc = _encoding(protocol, states)
        actions = Actions(enc)
        ops = GroupOps(enc)
        for s in states:
            z3 = _z3_successors(actions, enc, s)
            model = {(t.action, t.params): t.state for t in successors(s, p)}
            if z3 != model:
                action = next(k for k in sorted(z3.keys() | model.keys()) if z3.get(k) != model.get(k))[0]
                return killed(f"{action} differs on a reachable state of {label(p)}")
            encoded = enc.state(s)
            for (name, predicate), (_, symbolic) in zip(INVARIANTS, SYMBOLIC_INVARIANTS, strict=True):
                if symbolic(ops, encoded) != predicate(s, p):
                    return killed(f"{name} verdict differs on a reachable state of {label(p)}")
    return survived("same successors and invariant verdicts on the sample")


def by_simulation(m: Mutant) -> Finding:
    if (reason := not_encoded(m)) is not None:
        return not_applicable(reason)
    result = simulate((SIMULATION_SMALL, TWO_RESOURCES), mutant=m, per_stratum=1)
    failed = result.failures()
    if result.verdict == "fail":
        first = next(c for c in failed if c.verdict == "fail")
        return killed(f"{first.level} level: {first.action} has no abstract step ({len(failed)} steps fail)")
    return survived(f"every sampled step simulates ({len(result.checks)} checks, verdict {result.verdict})")


# --- the matrix ----------------------------------------------------------------------------------


def methods(budget: Budget) -> list[Method]:
    cut = Options(max_states=budget.max_states)
    wired_constants, wirings, *_ = CHOICE_CASES[Mutant.FAILOVER_TO_LAST_SYNCED]
    return [
        Method("explore small", PROPERTY, True, by_explorer(load("small").params, Options()), SPEC_NOT_RUN),
        Method("explore writes", PROPERTY, True, by_explorer(load("writes").params, Options()), SPEC_NOT_RUN),
        Method("explore 3n2r", PROPERTY, False, by_explorer(params(THREE), Options()), SPEC_NOT_RUN),
        Method(
            "explore 3n3r wired",
            PROPERTY,
            False,
            by_explorer(params(wired_constants), Options(wirings=wirings)),
            SPEC_NOT_RUN,
        ),
        *(
            Method(f"explore {name}", PROPERTY, False, by_explorer(load(name).params, cut), SPEC_NOT_RUN)
            for name in ("failures", "default", "reference")
        ),
        Method("explore resources", PROPERTY, False, by_resource_explorer, SPEC_NOT_RUN),
        Method("liveness", PROPERTY, False, by_liveness(budget.liveness_states), SPEC_NOT_RUN),
        Method("IndInv reachable", PROPERTY, True, by_indinv, SPEC_NOT_RUN),
        Method("unbounded proof", PROPERTY, False, by_proof, SPEC_NOT_COMPARED),
        Method("BMC", PROPERTY, True, by_bmc(budget.bmc_depth), SPEC_NOT_RUN),
        Method("TLC agreement", AGREEMENT, False, by_tlc_model, by_tlc_spec),
        Method("invariant agreement", AGREEMENT, True, by_invariants_model, by_invariants_spec),
        Method("symbolic agreement", AGREEMENT, False, by_symbolic, SPEC_NOT_COMPARED),
        Method("simulation", AGREEMENT, False, by_simulation, SPEC_NOT_COMPARED),
    ]


MODEL_MUTANTS = [m for m in Mutant if m is not Mutant.NONE]
Subject = Mutant | SpecMutant


def subjects() -> dict[str, Subject]:
    """Every mutant by its row's name: a spec mutant's is prefixed (several share a model mutant's name)."""
    out: dict[str, Subject] = {m.value: m for m in MODEL_MUTANTS}
    out.update({f"spec:{name}": m for name, m in SPEC_MUTANTS.items()})
    return out


def kind_of(subject: Subject) -> str:
    return "model" if isinstance(subject, Mutant) else "spec"


def run(method: Method, subject: Subject) -> Finding:
    if isinstance(subject, Mutant):
        return method.model(subject) if callable(method.model) else not_applicable(method.model)
    return method.spec(subject) if callable(method.spec) else not_applicable(method.spec)


Cell = dict[str, object]
Matrix = dict[str, dict[str, Cell]]


def required_kind(subject_kind: str) -> str:
    """A model mutant must be killed by a property, a spec mutant by an agreement method."""
    return PROPERTY if subject_kind == "model" else AGREEMENT


def unkilled(matrix: Matrix, kinds: dict[str, str], method_kinds: dict[str, str]) -> list[str]:
    return [
        name
        for name, row in matrix.items()
        if not any(c["verdict"] == KILLED and method_kinds[m] == required_kind(kinds[name]) for m, c in row.items())
    ]


def cell_text(cell: Cell, notes: list[str]) -> str:
    if cell["verdict"] == NOT_APPLICABLE:
        if cell["how"] not in notes:
            notes.append(str(cell["how"]))
        return f"n/a [{notes.index(str(cell['how'])) + 1}]"
    return f"{cell['verdict']} {cell['seconds']} s"


def render(matrix: Matrix, names: list[str]) -> tuple[list[list[str]], list[str]]:
    notes: list[str] = []
    rows = [[subject, *(cell_text(matrix[subject][n], notes) for n in names)] for subject in matrix]
    return rows, notes


def totals(matrix: Matrix, names: list[str], kinds: dict[str, str], method_kinds: dict[str, str]) -> list[str]:
    per_method = []
    for n in names:
        ran = [row[n] for row in matrix.values() if row[n]["verdict"] != NOT_APPLICABLE]
        per_method.append(f"{n} {sum(c['verdict'] == KILLED for c in ran)}/{len(ran)}")
    lines = ["killed per method (of the mutants it runs): " + ", ".join(per_method)]
    for subject_kind, what in (("model", "a property"), ("spec", "an agreement method")):
        mine = {name: row for name, row in matrix.items() if kinds[name] == subject_kind}
        if mine:
            left = unkilled(mine, kinds, method_kinds)
            lines.append(
                f"{subject_kind} mutants killed by {what}: {len(mine) - len(left)}/{len(mine)}"
                + (f" (not: {', '.join(left)})" if left else "")
            )
    return lines


def markdown(matrix: Matrix, names: list[str]) -> str:
    rows, notes = render(matrix, names)
    out = ["| mutant | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    out += [""] + [f"- [{i}] {note}" for i, note in enumerate(notes, start=1)]
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="Methods: " + ", ".join(m.name for m in methods(Budget(1, 1, 1)))
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the matrix as JSON")
    parser.add_argument(
        "--update",
        type=Path,
        metavar="FILE",
        help="run only the chosen cells and write them into this earlier --json report, keeping its other cells",
    )
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="FILE",
        help="also write the matrix as a Markdown table (with --update: the whole updated report's)",
    )
    parser.add_argument("--quick", action="store_true", help="only the methods that take seconds per mutant")
    parser.add_argument("--method", action="append", metavar="NAME", help="run only this method (repeatable)")
    parser.add_argument("--mutant", action="append", metavar="NAME", help="run only this mutant (repeatable)")
    parser.add_argument("--kind", choices=("model", "spec"), help="run only the model or only the spec mutants")
    parser.add_argument(
        "--max-states", type=int, default=100_000, help="explorer budget on failures, default, reference (%(default)s)"
    )
    parser.add_argument("--bmc-depth", type=int, default=5, help="BMC's depth on small (%(default)s)")
    parser.add_argument(
        "--liveness-states", type=int, default=1_000_000, help="largest liveness graph (%(default)s states)"
    )
    args = parser.parse_args()
    budget = Budget(args.max_states, args.bmc_depth, args.liveness_states)
    earlier: dict[str, Any] | None = None
    if args.update is not None:
        try:
            earlier = json.loads(args.update.read_text())
        except (OSError, ValueError) as e:
            parser.error(f"--update {args.update}: not a report this script wrote ({e})")
        if earlier.get("budget") != dataclasses.asdict(budget):
            parser.error(f"--update {args.update}: its budget {earlier.get('budget')} is not this run's")
    every = methods(budget)
    known = subjects()
    for name in args.method or []:
        if name not in {m.name for m in every}:
            parser.error(f"no method {name!r} (one of: {', '.join(m.name for m in every)})")
    for name in args.mutant or []:
        if name not in known:
            parser.error(f"no mutant {name!r} (one of: {', '.join(known)})")
    chosen = [m for m in every if (args.method is None or m.name in args.method) and (m.quick or not args.quick)]
    names = [m.name for m in chosen]
    picked = {
        name: s
        for name, s in known.items()
        if (args.mutant is None or name in args.mutant) and (args.kind is None or kind_of(s) == args.kind)
    }
    kinds = {name: kind_of(s) for name, s in picked.items()}
    method_kinds = {m.name: m.kind for m in chosen}
    started = time.monotonic()
    matrix: Matrix = {}
    total, done = len(picked) * len(chosen), 0
    for name, subject in picked.items():
        matrix[name] = {}
        for method in chosen:
            done += 1
            t0, setup = time.monotonic(), SETUP[0]
            found = run(method, subject)
            seconds = round(time.monotonic() - t0 - (SETUP[0] - setup), 1)
            matrix[name][method.name] = {"verdict": found.verdict, "how": found.how, "seconds": seconds}
            progress(f"[{done}/{total}] {name} / {method.name}: {found.verdict} ({found.how}) {seconds} s")
    rows, notes = render(matrix, names)
    widths = [max(len(r[i]) for r in [["mutant", *names], *rows]) for i in range(len(names) + 1)]
    for row in [["mutant", *names], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for i, note in enumerate(notes, start=1):
        print(f"[{i}] {note}")
    for line in totals(matrix, names, kinds, method_kinds):
        print(line)
    wall = time.monotonic() - started
    print(f"wall time {wall:.0f} s")
    if args.json is not None:
        report = {
            "methods": {m.name: {"kind": m.kind, "quick": m.quick} for m in chosen},
            "budget": dataclasses.asdict(budget),
            "mutants": {name: {"kind": kinds[name], "cells": row} for name, row in matrix.items()},
            "seconds": round(wall),
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if earlier is not None:
        earlier["methods"].update({m.name: {"kind": m.kind, "quick": m.quick} for m in chosen})
        for subject_name, cells in matrix.items():
            row_of = earlier["mutants"].setdefault(subject_name, {"kind": kinds[subject_name], "cells": {}})
            row_of["cells"].update(cells)
        earlier["seconds"] += round(wall)
        args.update.write_text(json.dumps(earlier, indent=2) + "\n")
    if args.markdown is not None:
        if earlier is None:
            args.markdown.write_text(markdown(matrix, names))
        else:  # the whole updated report, methods in their usual order
            merged = {name: row["cells"] for name, row in earlier["mutants"].items()}
            args.markdown.write_text(markdown(merged, [m.name for m in every if m.name in earlier["methods"]]))
    return 1 if unkilled(matrix, kinds, method_kinds) else 0


if __name__ == "__main__":
    sys.exit(main())
