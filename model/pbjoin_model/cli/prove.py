"""`pbjoin prove` and `pbjoin bmc`: Z3 proofs of the inductive invariant, and bounded model checking.

Exit codes: 0 proved / no violation within the bound, 1 an obligation fails (its
counterexample to induction printed) / a violation found (its trace printed), 2 bad
input, 3 Z3 answered unknown or timed out, or the bound cut the search. Never 0
unless everything asked was established.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import sys
from typing import Any

from pbjoin_model.cli.args import add_constant_flags, load_constants, mutant, natural
from pbjoin_model.explorer.bfs import DEADLOCK
from pbjoin_model.proofs.bmc import BmcResult, BmcVerdict, bmc
from pbjoin_model.proofs.encoding import EncodingEdit
from pbjoin_model.proofs.prove import Obligation, ProofResult, prove
from pbjoin_model.proofs.simulation import (
    CONFIGURATIONS,
    LEVELS,
    Pass,
    SimulationResult,
    StepCheck,
    StepMutant,
    name,
    simulate,
)
from pbjoin_model.proofs.symbolic import DATA_PATH_NOT_ENCODED, RESOURCE_FAILURES_NOT_ENCODED
from pbjoin_model.proofs.symbolic_invariants import SYMBOLIC_INVARIANTS
from pbjoin_model.protocol.config import ConfigError
from pbjoin_model.protocol.machine import (
    CHOICE_MUTANTS,
    DATA_PATH_MUTANTS,
    RESOURCE_FAILURE_MUTANTS,
    Mutant,
    Params,
)
from pbjoin_model.traces.render import format_trace, trace_to_json

EXIT_BAD_INPUT = 2

COVERAGE = (
    "IndInv covers: the group state under every ordered message (SubgroupAccess, MemberStatus, "
    "HostInSubgroup, PrimaryMirrorNone, MirrorNeedsHost; lemmas HostStable, PrimaryStable, "
    "PromoteOnlySynced, AppendsFresh, StatusFrame, IncFrame, OwnStatus, MemberStable, MirrorStep, MirrorReset, "
    "PrimMoves, MemberGain, FailUnmembers), configuration "
    "(ConfigReachable, ConfigNotNewerThanHost, ConfigSentToReachers, ConfigSentNotNewer, ResourceVersioned, "
    "ConfigSentVersioned, HostHoldsConfig) and the stream of "
    "views (ViewsAgree, UniqueHost, NoSplitBrain, ConfigFromHost, MirrorFromPrimary, RejectedNotPlaced, "
    "ActiveHasConfig, NoDataLoss). Not proved here: the data path (NoAckedWriteLost, MirrorIsPrefix, "
    "NoStaleWrite, UniqueEpochs, AckedOnce) is proved for fixed sizes only, by exhaustive exploration "
    "(pbjoin check --config writes, and TLC); the largest exhausted: 3 nodes, 2 resources, 2 failures, 1 write "
    "(1,291,475 states)"
)


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected seconds > 0, got {value}")
    return value


def register_prove(commands: Any) -> None:
    prv = commands.add_parser(
        "prove",
        help="prove the inductive invariant with Z3, for every size or a fixed one",
        description=(
            "Check with Z3 that IndInv holds initially and is preserved by every action, one obligation per "
            "action and conjunct. --unbounded (the default): nodes and resources are uninterpreted sorts, so "
            "the proof covers every number of them. --nodes N --resources R: the same obligations with exactly "
            "that many. Exit 0: every obligation proved; 1: one fails (counterexample to induction printed); "
            "2: bad input; 3: Z3 answered unknown or timed out (never reported as proved)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    prv.add_argument("--unbounded", action="store_true", help="every number of nodes and resources (the default)")
    prv.add_argument("--nodes", type=natural, help="exactly this many nodes (with --resources)")
    prv.add_argument("--resources", type=natural, help="exactly this many resources (with --nodes)")
    prv.add_argument("--mutant", type=mutant, default=Mutant.NONE, help="prove a deliberately buggy variant")
    prv.add_argument("--timeout", type=_positive_seconds, default=60.0, help="seconds per obligation")
    prv.add_argument("--json", action="store_true", help="print a JSON report on stdout instead of text")
    sim = prv.add_argument_group(
        "simulation check",
        "--simulation: instead of the proof, check that every step of the Python model (with --mutant and "
        "--step-mutant) is a step of the abstract encodings the proof is about (the protocol's, or --encoding-of's, "
        "with --encoding-edit): each concrete step mapped into each level's vocabulary, s and s' pinned, and Z3 "
        "asked for the abstract action and the axioms. Every reachable state of each configuration is enumerated "
        "(up to renaming nodes); of its steps, a sample stratified by action, message kind, phases, sends, drops "
        "and compaction (every action and message kind at each level); at the group level, every distinct "
        "(group state, message) that a reachable log chains. "
        "Exit 0: every step has its counterpart; 1: a step has none (the action named); 3: Z3 unknown.",
    )
    sim.add_argument("--simulation", action="store_true", help="run the simulation check")
    sim.add_argument(
        "--encoding-of",
        type=mutant,
        default=Mutant.NONE,
        metavar="MUTANT",
        help="the abstract encodings of this mutant ('none': the protocol's, which pbjoin prove proves)",
    )
    _add_choice(sim, "--encoding-edit", EncodingEdit, "a deliberately restrictive edit of the encodings")
    _add_choice(sim, "--step-mutant", StepMutant, "a slip in one stream-level step of the model")
    sim.add_argument(
        "--per-stratum",
        type=natural,
        default=2,
        help="steps checked per stratum of the sample: the shallowest, and more drawn at random (0: every step)",
    )
    sim.add_argument(
        "--configuration",
        action="append",
        type=_configuration,
        metavar="N,R,F,RS,C",
        help="nodes, resources, MaxFailures, MaxRestarts, MaxConfigChanges (repeatable; without it: "
        + "; ".join(name(c) for c in CONFIGURATIONS)
        + ")",
        default=argparse.SUPPRESS,
    )
    sim.add_argument("--verbose", action="store_true", help="print every check, not only the failing ones")
    prv.set_defaults(handler=run_prove)


def _add_choice(group: Any, flag: str, kind: type[enum.Enum], what: str) -> None:
    """An option taking one of an enum's values ('none' by default) that the check must reject."""

    def parse(text: str) -> enum.Enum:
        try:
            return kind(text)
        except ValueError:
            choices = ", ".join(e.value for e in kind)
            raise argparse.ArgumentTypeError(
                f"unknown {flag[2:].replace('-', ' ')} {text!r} (one of {choices})"
            ) from None

    metavar = "|".join(e.value for e in kind)
    group.add_argument(
        flag, type=parse, default=kind("none"), metavar=metavar, help=f"{what} (the check must reject it)"
    )


def _configuration(text: str) -> Params:
    try:
        numbers = [int(part) for part in text.split(",")]
        if len(numbers) != 5:
            raise ValueError("expected five numbers")
        nodes, resources, failures, restarts, changes = numbers
        return Params(nodes, resources, failures, restarts, changes)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad configuration {text!r}: {exc}") from None


def register_bmc(commands: Any) -> None:
    bm = commands.add_parser(
        "bmc",
        help="bounded model checking of the exact model with Z3",
        description=(
            "Unroll the exact model (every action of the Python model as Z3 terms) from every initial state "
            "for up to --depth steps and look for a state violating an invariant or stuck. The trace found is "
            "a shortest one and replays on the explicit model. Exit 0: none within the depth; 1: violation "
            "(trace printed); 2: bad input; 3: Z3 unknown/timeout, or a channel could overflow its slots."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_constant_flags(bm, default_config="default")
    bm.add_argument("--depth", type=natural, required=True, help="maximum number of steps")
    bm.add_argument("--mutant", type=mutant, default=Mutant.NONE, help="check a deliberately buggy variant")
    bm.add_argument("--chan-slots", type=natural, default=3, help="messages each channel can hold")
    bm.add_argument("--timeout", type=_positive_seconds, help="seconds per Z3 query (none by default)")
    bm.add_argument(
        "--invariant",
        action="append",
        choices=[*(name for name, _ in SYMBOLIC_INVARIANTS), DEADLOCK],
        help="look only for this violation (repeatable; default: every invariant and Deadlock)",
    )
    bm.add_argument(
        "--from-depth",
        type=natural,
        default=0,
        help="ask for violations only from this depth on (shallower ones are still checked for overflow)",
    )
    bm.add_argument("--json", action="store_true", help="print a JSON report on stdout instead of text")
    bm.set_defaults(handler=run_bmc)


def _error(message: str) -> int:
    print(f"pbjoin: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_prove(args: argparse.Namespace) -> int:
    if args.mutant in DATA_PATH_MUTANTS:
        return _error(f"mutant {args.mutant.value} is a data-path bug: {DATA_PATH_NOT_ENCODED}")
    if args.mutant in RESOURCE_FAILURE_MUTANTS:
        return _error(f"mutant {args.mutant.value} is a resource-failure bug: {RESOURCE_FAILURES_NOT_ENCODED}")
    if args.simulation:
        return run_simulation(args)
    if args.encoding_of is not Mutant.NONE or args.encoding_edit is not EncodingEdit.NONE:
        return _error("--encoding-of and --encoding-edit go with --simulation")
    if args.mutant in CHOICE_MUTANTS:
        return _error(
            f"mutant {args.mutant.value} is a slip in one of the protocol's choices: the proof's group level "
            "encodes the protocol's choices only and its IndInv states safety; pbjoin check and pbjoin bmc catch it"
        )
    fixed = args.nodes is not None or args.resources is not None
    if fixed and args.unbounded:
        return _error("--unbounded and --nodes/--resources exclude each other")
    if fixed and (args.nodes is None or args.resources is None):
        return _error("--nodes and --resources go together")
    domain = None
    if fixed:
        try:
            Params(nodes=args.nodes, resources=args.resources)
        except ValueError as exc:
            return _error(str(exc))
        domain = (args.nodes, args.resources)
    print_line = None if args.json else _print_obligation
    result = prove(args.mutant, timeout_ms=int(args.timeout * 1000), domain=domain, on_result=print_line)
    if args.json:
        print(json.dumps(prove_json(result), indent=2))
    else:
        print(prove_summary(result))
    return result.exit_code


def run_simulation(args: argparse.Namespace) -> int:
    if args.nodes is not None or args.resources is not None or args.unbounded:
        return _error("--simulation takes --configuration, not --unbounded, --nodes or --resources")
    if args.encoding_of in DATA_PATH_MUTANTS | CHOICE_MUTANTS:
        return _error(f"the encodings do not encode mutant {args.encoding_of.value}")
    configurations = tuple(getattr(args, "configuration", CONFIGURATIONS))

    def show(c: StepCheck) -> None:
        if args.verbose or c.verdict != "ok":
            print(c.line(), flush=True)

    result = simulate(
        configurations,
        mutant=args.mutant,
        encoding=args.encoding_of,
        edit=args.encoding_edit,
        per_stratum=args.per_stratum,
        timeout_ms=int(args.timeout * 1000),
        on_check=None if args.json else show,
        step_mutant=args.step_mutant,
    )
    if args.json:
        print(json.dumps(simulation_json(result), indent=2))
    else:
        print(simulation_summary(result))
    return result.exit_code


def simulation_summary(result: SimulationResult) -> str:
    lines = [
        f"pbjoin prove --simulation (model mutant {result.mutant.value}, step mutant {result.step_mutant.value}, "
        f"encodings of {result.encoding.value}, edit {result.edit.value})",
        "  every reachable state of each configuration enumerated (up to renaming nodes); checked of its steps:",
    ]
    for one in result.passes:
        lines += _pass_lines(one)
    if result.verdict == "ok":
        lines.append(
            f"  verdict: SIMULATES: every step checked is a step of the abstract encodings ({result.seconds:.1f} s)"
        )
    elif result.verdict == "fail":
        actions = sorted({f"{c.level} {c.action}" for c in result.failures() if c.verdict == "fail"})
        lines.append(
            f"  verdict: FAILED: {len(result.failures())} steps have no abstract counterpart "
            f"({', '.join(actions)}) ({result.seconds:.1f} s)"
        )
    else:
        lines.append(
            f"  verdict: UNKNOWN: Z3 could not decide {len(result.failures())} checks, or a level missed an action"
        )
    return "\n".join(lines)


def _checked(one: Pass, level: str) -> str:
    """How many steps a level checked of one configuration, and of how many."""
    if level not in one.levels:
        return f"{level} not checked"
    n, compacts = one.count(level), one.count(level, "Compact")
    text = {
        "group": f"group {n:,} (every distinct group state and message the logs chain)",
        "config": f"config {n:,} of {one.steps:,} steps",
        "stream": f"stream {n - compacts:,} of {one.steps:,} steps and {compacts:,} Compacts",
    }[level]
    failed = sum(1 for c in one.checks if c.level == level and c.verdict != "ok")
    return f"{text} ({failed} without counterpart)" if failed else text


def _pass_lines(one: Pass) -> list[str]:
    checked = "; ".join(_checked(one, level) for level in LEVELS)
    missing = "; ".join(
        f"{level}: {', '.join(sorted(one.uncovered(level)))}" for level in LEVELS if one.uncovered(level)
    )
    compact = ", and Compact at the stream level" if "Compact" in one.to_cover["stream"] else ""
    kinds = (
        f"group {', '.join(sorted(one.to_cover['group']))}; "
        f"config and stream {', '.join(sorted(one.to_cover['config']))}{compact}"
    )
    coverage = f"NOT covered: {missing}" if missing else f"covered, every action and message kind it has: {kinds}"
    return [
        f"  {one.name} ({_constants(one.params)}): {one.states:,} states, {one.steps:,} steps, {one.strata} strata",
        f"    checked: {checked}",
        f"    {coverage}",
    ]


def simulation_json(result: SimulationResult) -> dict[str, Any]:
    return {
        "mutant": result.mutant.value,
        "step_mutant": result.step_mutant.value,
        "encoding_of": result.encoding.value,
        "encoding_edit": result.edit.value,
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "seconds": round(result.seconds, 3),
        "configurations": [
            {
                "configuration": one.name,
                "constants": _constants_json(one.params),
                "states": one.states,
                "steps": one.steps,
                "strata": one.strata,
                "group_pairs": one.pairs,
                "levels": list(one.levels),
                "checked": {level: one.count(level) for level in one.levels},
                "stream_compacts": one.count("stream", "Compact"),
                "failed": {
                    level: sum(1 for c in one.checks if c.level == level and c.verdict != "ok") for level in one.levels
                },
                "covered": {level: sorted(one.to_cover[level]) for level in one.levels},
                "uncovered": {level: sorted(one.uncovered(level)) for level in one.levels},
            }
            for one in result.passes
        ],
        "checks": {level: result.count(level) for level in LEVELS},
        "failures": [dataclasses.asdict(c) for c in result.failures()],
    }


def _print_obligation(o: Obligation) -> None:
    print(o.line(), flush=True)
    if o.cti:
        print("  counterexample to induction:")
        print(o.cti)
        if o.reachable:
            print(f"  pre-state reachable? {o.reachable}")


def prove_summary(result: ProofResult) -> str:
    counts = {v: sum(1 for o in result.obligations if o.verdict == v) for v in ("ok", "fail", "unknown")}
    head = f"pbjoin prove ({result.sizes}, mutant {result.mutant.value}): {len(result.obligations)} obligations"
    if result.verdict == "proved":
        verdict = f"PROVED: every obligation holds ({result.seconds:.1f} s)"
    elif result.verdict == "fail":
        verdict = f"FAILED: {counts['fail']} obligations fail, {counts['unknown']} unknown ({result.seconds:.1f} s)"
    else:
        verdict = f"UNKNOWN: Z3 could not decide {counts['unknown']} obligations; nothing is claimed for them"
    return f"{head}\n  {COVERAGE}\n  verdict: {verdict}"


def prove_json(result: ProofResult) -> dict[str, Any]:
    return {
        "sizes": result.sizes,
        "mutant": result.mutant.value,
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "seconds": round(result.seconds, 3),
        "obligations": [
            {
                "level": o.level,
                "conjunct": o.conjunct,
                "action": o.action,
                "verdict": o.verdict,
                "seconds": round(o.seconds, 4),
                "cti": o.cti or None,
                "reachable": o.reachable or None,
            }
            for o in result.obligations
        ],
    }


def run_bmc(args: argparse.Namespace) -> int:
    try:
        cfg = load_constants(args, args.config)
    except ConfigError as exc:
        return _error(str(exc))
    if args.chan_slots < 1:
        return _error("--chan-slots must be at least 1")
    params = dataclasses.replace(cfg.params, mutant=args.mutant)
    timeout_ms = int(args.timeout * 1000) if args.timeout else 0
    if args.from_depth > args.depth:
        return _error("--from-depth must not exceed --depth")
    invariants = tuple(args.invariant) if args.invariant else None
    if params.max_writes or params.mutant in DATA_PATH_MUTANTS:
        return _error(DATA_PATH_NOT_ENCODED)
    if params.max_resource_failures:
        return _error(RESOURCE_FAILURES_NOT_ENCODED)
    result = bmc(params, args.depth, args.chan_slots, timeout_ms, invariants, args.from_depth)
    if args.json:
        print(json.dumps(bmc_json(result), indent=2))
    else:
        print(bmc_text(result))
    return result.verdict.exit_code


def _constants(p: Params) -> str:
    return (
        f"{p.nodes} nodes, {p.resources} resources, MaxFailures {p.max_failures}, MaxRestarts {p.max_restarts}, "
        f"MaxConfigChanges {p.max_config_changes}, mutant {p.mutant.value}"
    )


def _constants_json(p: Params) -> dict[str, Any]:
    return dataclasses.asdict(p) | {"mutant": p.mutant.value}


def bmc_text(r: BmcResult) -> str:
    lines = [f"pbjoin bmc: {_constants(r.params)}, depth {r.depth}, {r.seconds:.1f} s"]
    if r.verdict is BmcVerdict.VIOLATED:
        shortest = f"depths below {r.from_depth} not searched" if r.from_depth else "a shortest trace"
        lines.append(f"  verdict: VIOLATED: {r.violated} after {len(r.trace) - 1} steps ({shortest})")
        lines.append(f"\nCounterexample ({r.violated}):\n{format_trace(r.trace)}")
    elif r.verdict is BmcVerdict.HOLDS:
        if r.from_depth:
            lines.append(
                f"  verdict: HOLDS at depths {r.from_depth}..{r.depth}: no behaviour of that many steps violates"
            )
        else:
            lines.append(f"  verdict: HOLDS up to depth {r.depth}: no behaviour of at most {r.depth} steps violates")
    elif r.verdict is BmcVerdict.INCOMPLETE:
        lines.append(
            f"  verdict: INCOMPLETE: nothing found up to depth {r.depth}, but a channel could exceed its slots "
            f"from depth {r.overflow_at} (raise --chan-slots)"
        )
    else:
        lines.append(
            f"  verdict: UNKNOWN: Z3 gave up at depth {r.reached + 1}; depths 0..{r.reached} have no violation"
        )
    return "\n".join(lines)


def bmc_json(r: BmcResult) -> dict[str, Any]:
    p = r.params
    return {
        "constants": _constants_json(p),
        "depth": r.depth,
        "verdict": r.verdict.value,
        "exit_code": r.verdict.exit_code,
        "violated": r.violated,
        "reached": r.reached,
        "from_depth": r.from_depth,
        "overflow_at": r.overflow_at,
        "seconds": round(r.seconds, 3),
        "seconds_per_depth": [round(s, 3) for s in r.seconds_per_depth],
        "trace": trace_to_json(r.trace),
    }
