"""`pbjoin check` and `pbjoin simulate`: explore the protocol model.

Exit codes follow the conventions users of model checkers rely on:
0 every invariant holds on the full state space, 1 a violation (with its trace),
2 bad input (one-line error), 3 incomplete (a bound cut the search).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections import Counter
from typing import Any

from pbjoin_model.cli.args import add_constant_flags, load_constants, mutant, natural
from pbjoin_model.explorer.bfs import (
    DEADLOCK,
    Options,
    Progress,
    Result,
    Verdict,
    check,
    default_max_memory_mb,
    too_large,
)
from pbjoin_model.explorer.liveness import LivenessResult, PropertyResult, check_liveness
from pbjoin_model.explorer.parallel import check_parallel
from pbjoin_model.explorer.simulate import simulate
from pbjoin_model.protocol import NATIVE
from pbjoin_model.protocol.config import ConfigError, ModelConfig
from pbjoin_model.protocol.machine import (
    ACTION_NAMES,
    DATA_PATH_ACTIONS,
    MUTANT_DESCRIPTIONS,
    RESOURCE_FAILURE_ACTIONS,
    Mutant,
    Params,
)
from pbjoin_model.traces.render import format_trace, trace_to_json
from pbjoin_model.traces.text import constants_line
from pbjoin_model.traces.trace import Trace, write_itf

EXIT_BAD_INPUT = 2


def register_check(commands: argparse._SubParsersAction[Any]) -> None:
    chk = commands.add_parser(
        "check",
        help="explicit-state model check of the protocol",
        description=(
            "Explore every reachable state of the Python model (breadth-first, so counterexamples are "
            "shortest) and check the safety invariants and deadlock freedom. Constants come from the "
            "spec's TLC configuration files; flags override them. Exit 0: all invariants hold on the "
            "full state space; 1: violation (trace printed); 2: bad input; 3: incomplete (a bound cut "
            "the search)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_constant_flags(chk, default_config="default")
    chk.add_argument("--mutant", type=mutant, default=Mutant.NONE, help="check a deliberately buggy variant")
    chk.add_argument("--list-mutants", action="store_true", help="list the mutants, one per line, and exit")
    chk.add_argument("--no-symmetry", action="store_true", help="turn symmetry reduction over nodes off")
    chk.add_argument(
        "--fingerprints", action="store_true", help="store 64-bit fingerprints instead of whole states (less memory)"
    )
    chk.add_argument(
        "--disk",
        action="store_true",
        help="keep the seen-set as fingerprints in an SQLite file and the queue in files, for runs that "
        "outgrow memory (one worker)",
    )
    chk.add_argument(
        "--workers",
        type=natural,
        default=1,
        help="worker processes; more than 1 partitions the states among processes (same result as serial)",
    )
    chk.add_argument("--max-states", type=natural, help="stop after this many distinct states (incomplete)")
    chk.add_argument("--max-depth", type=natural, help="do not explore past this depth (incomplete)")
    chk.add_argument(
        "--max-memory",
        type=natural,
        default=default_max_memory_mb(),
        metavar="MB",
        help="stop (incomplete) once the checker's peak resident memory, all workers together, passes this; "
        "the default is three quarters of this machine's memory",
    )
    chk.add_argument(
        "--liveness",
        action="store_true",
        help="also check the liveness properties under weak fairness, on the full state graph "
        "(symmetry is not used for this part: it is unsound with per-node fairness)",
    )
    chk.add_argument("--json", action="store_true", help="print a JSON report on stdout instead of text")
    chk.add_argument("--full", action="store_true", help="show whole states in the trace, not only changes")
    chk.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    chk.add_argument("--itf", metavar="PATH", help="save the counterexample (if any) as an ITF trace")
    chk.set_defaults(handler=run_check)


def register_simulate(commands: argparse._SubParsersAction[Any]) -> None:
    sim = commands.add_parser(
        "simulate",
        help="random walks for configurations too large to exhaust",
        description=(
            "Random walks from random initial states, checking every invariant and deadlock freedom at "
            "each state. Reproducible by seed. Exit 1: violation (trace printed); 3: none found (a "
            "simulation is never a proof); 2: bad input."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_constant_flags(sim, default_config="default")
    sim.add_argument("--mutant", type=mutant, default=Mutant.NONE, help="simulate a buggy variant")
    sim.add_argument("--depth", type=natural, default=100, help="maximum steps per run")
    sim.add_argument("--runs", type=natural, default=1000, help="number of runs")
    sim.add_argument("--seed", type=natural, default=0, help="random seed (runs are reproducible)")
    sim.add_argument("--json", action="store_true", help="print a JSON report")
    sim.set_defaults(handler=run_simulate)


def run_check(args: argparse.Namespace) -> int:
    if args.list_mutants:
        width = max(len(m.value) for m in MUTANT_DESCRIPTIONS)
        for mutant, text in MUTANT_DESCRIPTIONS.items():
            print(f"{mutant.value:<{width}}  {text}")
        return 0
    try:
        cfg = load_constants(args, args.config)
    except ConfigError as exc:
        print(f"pbjoin: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.max_memory < 1:
        print("pbjoin: error: --max-memory must be at least 1 MB", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.disk and args.workers > 1:
        print("pbjoin: error: --disk works with one worker (drop --workers)", file=sys.stderr)
        return EXIT_BAD_INPUT
    params = dataclasses.replace(cfg.params, mutant=args.mutant)
    reason = too_large(params, cfg.symmetry and not args.no_symmetry)
    if reason is not None:
        print(f"pbjoin: error: {reason}", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = Options(
        disk=args.disk,
        symmetry=cfg.symmetry and not args.no_symmetry,
        fingerprints=args.fingerprints,
        max_states=args.max_states,
        max_depth=args.max_depth,
        max_memory_mb=args.max_memory,
        progress=None if args.quiet else _print_progress,
        invariants=cfg.invariants,
    )
    result = check(params, options) if args.workers <= 1 else check_parallel(params, options, workers=args.workers)
    if args.itf and result.trace:
        try:
            write_itf(Trace(params, tuple(result.trace), result.violated, "pbjoin check"), args.itf)
        except OSError as exc:
            print(f"pbjoin: error: cannot write {args.itf}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    elif args.itf:
        print(f"pbjoin: no counterexample, {args.itf} not written", file=sys.stderr)
    live = check_liveness(params, args.max_states) if args.liveness and result.verdict is Verdict.HOLDS else None
    if args.json:
        report = report_json(cfg, result)
        if live is not None:
            report["liveness"] = liveness_json(live)
        print(json.dumps(report, indent=2))
    else:
        print(report_text(cfg, result, full=args.full))
        if args.liveness and live is None:
            print("\nliveness: not checked, the safety check did not end with HOLDS")
        elif live is not None:
            print(liveness_text(live, full=args.full))
    if live is not None and live.violated:
        return Verdict.VIOLATED.exit_code
    if live is not None and live.cut_by:
        return Verdict.INCOMPLETE.exit_code
    return result.verdict.exit_code


def run_simulate(args: argparse.Namespace) -> int:
    try:
        cfg = load_constants(args, args.config)
    except ConfigError as exc:
        print(f"pbjoin: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    params = dataclasses.replace(cfg.params, mutant=args.mutant)
    sim = simulate(params, runs=args.runs, depth=args.depth, seed=args.seed, invariants=cfg.invariants)
    verdict = Verdict.VIOLATED if sim.violated else Verdict.INCOMPLETE
    if args.json:
        print(
            json.dumps(
                {
                    "verdict": verdict.value,
                    "exit_code": verdict.exit_code,
                    "violated": sim.violated,
                    "run": sim.run,
                    "runs": sim.runs,
                    "depth": sim.depth,
                    "seed": sim.seed,
                    "steps": sim.steps,
                    "distinct_states": sim.distinct,
                    "seconds": round(sim.seconds, 3),
                    "coverage": {a: {"enabled": sim.enabled[a], "taken": sim.taken[a]} for a in ACTION_NAMES},
                    "never_taken": sim.never_taken,
                    "trace": trace_to_json(sim.trace) if sim.violated else [],
                },
                indent=2,
            )
        )
        return verdict.exit_code
    print(f"pbjoin simulate: {constants_line(params)}, mutant {params.mutant.value}")
    print(
        f"  {sim.runs:,} runs of at most {sim.depth} steps, seed {sim.seed}: {sim.steps:,} steps, "
        f"{sim.distinct:,} distinct states, {sim.seconds:.1f} s"
    )
    print(coverage_text(sim.enabled, sim.taken, params))
    if sim.violated:
        what = "a stuck state (deadlock)" if sim.violated == DEADLOCK else f"invariant {sim.violated}"
        print(f"  verdict: VIOLATED: {what} in run {sim.run} (--seed {sim.seed}), {len(sim.trace) - 1} steps")
        print(f"\nCounterexample ({sim.violated}), not necessarily shortest:\n{format_trace(sim.trace)}")
    else:
        print("  verdict: INCOMPLETE: no violation found; a simulation is not a proof")
    return verdict.exit_code


def coverage_text(enabled: Counter[str], taken: Counter[str], p: Params) -> str:
    """Per action: in how many states it was enabled and how often taken; unused ones flagged."""
    lines = ["  coverage       action               enabled      taken"]
    for a in ACTION_NAMES:
        flag = "   <- never taken: the check says nothing about it" if not taken[a] else ""
        if not p.max_writes and a in DATA_PATH_ACTIONS:
            flag = "   (data path off: MaxWrites = 0)"
        if not p.max_resource_failures and a in RESOURCE_FAILURE_ACTIONS:
            flag = "   (resource failures off: MaxResourceFailures = 0)"
        lines.append(f"                 {a:<19}{enabled[a]:>10,}{taken[a]:>11,}{flag}")
    return "\n".join(lines)


def liveness_text(live: LivenessResult, full: bool = False) -> str:
    if live.cut_by:
        return (
            f"\nliveness: INCOMPLETE: the unreduced state graph has more states than {live.cut_by}; "
            "nothing is proved (liveness cannot use symmetry)"
        )
    lines = [
        "",
        f"liveness (weak fairness per action instance; symmetry off; {live.distinct:,} states, {live.seconds:.1f} s)",
    ]
    width = max(len(_property_label(r)) for r in live.results)
    lines += [f"  {_property_label(r):<{width}}  {_property_verdict(r)}" for r in live.results]
    for r in live.results:
        if r.lasso is None:
            continue
        lines.append(f"\nCounterexample ({_property_label(r)}), a lasso:")
        lines.append(format_trace(r.lasso.prefix, full=full))
        if r.lasso.cycle:
            loop = len(r.lasso.prefix) - 1
            lines.append(f"  -- the cycle starts at step {loop} and returns to it:")
            lines.append(format_trace([r.lasso.prefix[-1], *r.lasso.cycle], full=full, first=loop))
        else:
            lines.append(
                "  -- from here the behaviour stutters forever: no fair action is enabled (at most the "
                "environment's crashes, restarts, configuration changes, writes, resource failures and "
                "repairs, which need never happen)"
            )
    return "\n".join(lines)


def _property_label(r: PropertyResult) -> str:
    return f"{r.name}[{r.instance}]" if r.instance else r.name


def _property_verdict(r: PropertyResult) -> str:
    if r.lasso is None:
        return "holds"
    end = f"a {len(r.lasso.cycle)}-step cycle" if r.lasso.cycle else "stuttering"
    return f"VIOLATED: {len(r.lasso.prefix) - 1}-step prefix, then {end}"


def liveness_json(live: LivenessResult) -> dict[str, Any]:
    return {
        "distinct_states": live.distinct,
        "seconds": round(live.seconds, 3),
        "holds": live.holds,
        "cut_by": live.cut_by,
        "properties": [
            {
                "name": r.name,
                "instance": r.instance,
                "holds": r.holds,
                "prefix": trace_to_json(r.lasso.prefix) if r.lasso else [],
                "cycle": trace_to_json(r.lasso.cycle) if r.lasso else [],
            }
            for r in live.results
        ],
    }


def _print_progress(p: Progress) -> None:
    print(
        f"progress: {p.generated:,} states generated, {p.distinct:,} distinct, queue {p.queue:,}, "
        f"depth {p.depth}, {p.rate:,.0f} states/s",
        file=sys.stderr,
        flush=True,
    )


def verdict_line(result: Result) -> str:
    if result.verdict is Verdict.HOLDS:
        return "HOLDS: every invariant holds on the full state space, no stuck state"
    if result.verdict is Verdict.INCOMPLETE:
        return f"INCOMPLETE: the search was cut by {result.cut_by}; nothing is proved beyond it"
    what = "a stuck state (deadlock)" if result.violated == DEADLOCK else f"invariant {result.violated}"
    return f"VIOLATED: {what}, shortest trace has {len(result.trace) - 1} steps"


def report_text(cfg: ModelConfig, result: Result, full: bool = False) -> str:
    opts = result.options
    rows = [
        ("configuration", f"{cfg.name}" + (f" ({cfg.path})" if cfg.path else "")),
        ("constants", constants_line(result.params)),
        ("mutant", result.params.mutant.value),
        ("symmetry", "on, Permutations(Node)" if opts.symmetry else "off"),
        ("workers", f"{opts.workers} process{'es' if opts.workers > 1 else ''}"),
        ("model code", "compiled with mypyc (make native)" if NATIVE else "pure Python"),
        (
            "seen-set",
            "exact"
            if not opts.fingerprints
            else f"64-bit fingerprints{' in an SQLite file' if opts.disk else ''}, "
            f"collision probability <= {result.collision_probability:.1e}",
        ),
        (
            "states",
            f"{result.generated:,} generated, {result.distinct:,} distinct "
            f"({result.initial:,} initial), depth {result.depth}",
        ),
        ("terminal", f"{result.intended_ends:,} intended end states"),
        (
            "time",
            f"{result.seconds:.1f} s, {result.states_per_second:,.0f} states/s, "
            f"peak memory {result.peak_memory_mb:,.0f} MB"
            + (f" (bound {opts.max_memory_mb:,.0f} MB)" if opts.max_memory_mb is not None else ""),
        ),
        ("invariants", f"{len(opts.invariants or ())} checked: {', '.join(opts.invariants or ())}"),
        (
            "coverage",
            coverage_text(result.enabled_counts, result.action_counts, result.params).split("coverage", 1)[1].strip(),
        ),
        ("verdict", verdict_line(result)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"  {k:<{width}}  {v}" for k, v in rows]
    text = "pbjoin check\n" + "\n".join(lines)
    if result.trace:
        text += f"\n\nCounterexample ({result.violated}):\n" + format_trace(result.trace, full=full)
    return text


def report_json(cfg: ModelConfig, result: Result) -> dict[str, Any]:
    p = result.params
    return {
        "configuration": cfg.name,
        "path": str(cfg.path) if cfg.path else None,
        "constants": {
            "nodes": p.nodes,
            "resources": p.resources,
            "max_failures": p.max_failures,
            "max_restarts": p.max_restarts,
            "max_config_changes": p.max_config_changes,
            "max_writes": p.max_writes,
            "max_resource_failures": p.max_resource_failures,
        },
        "mutant": p.mutant.value,
        "symmetry": result.options.symmetry,
        "fingerprints": result.options.fingerprints,
        "disk": result.options.disk,
        "workers": result.options.workers,
        "native": NATIVE,
        "collision_probability": result.collision_probability,
        "verdict": result.verdict.value,
        "exit_code": result.verdict.exit_code,
        "violated": result.violated,
        "cut_by": result.cut_by,
        "states_generated": result.generated,
        "distinct_states": result.distinct,
        "initial_states": result.initial,
        "depth": result.depth,
        "intended_end_states": result.intended_ends,
        "seconds": round(result.seconds, 3),
        "states_per_second": round(result.states_per_second, 1),
        "peak_memory_mb": round(result.peak_memory_mb, 1),
        "max_memory_mb": result.options.max_memory_mb,
        "invariants": list(result.options.invariants or ()),
        "coverage": {a: {"enabled": result.enabled_counts[a], "taken": result.action_counts[a]} for a in ACTION_NAMES},
        "never_taken": [a for a in ACTION_NAMES if not result.action_counts[a]],
        "trace": trace_to_json(result.trace),
    }
