"""`pbjoin demo`, `pbjoin status` and `pbjoin conform`: the implementation, checked against the model."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from model.cli_args import add_constant_flags, load_constants, natural
from model.config import ConfigError
from model.conformance import ConformanceError, Report, validate_log
from model.conformance_logs import MergeError, conform_logs
from model.conformance_replay import ReplayReport, replay
from pbjoin import cli as impl_cli
from pbjoin.demo import DemoError, run_demo
from pbjoin.resources import ResourceError
from pbjoin.steplog import LogError, read_log

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction[Any]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run an embedded cluster through joins, a rejection and failures; check its log against the model",
        description=(
            "Run five members and three directory resources on two sites in one process (in-memory engine): "
            "joins into the primary and backup subgroups, a rejected join, a configuration change, a switchover, "
            "a failover and a rejoin. The group state is printed as tables after each part of the story; at the "
            "end the step log is validated against the model. Exit 0: the log conforms; 1: it does not."
        ),
    )
    demo.add_argument("--dir", type=Path, help="cluster directory to create (default: a new temporary directory)")
    demo.add_argument("--quiet", action="store_true", help="print the tables only, not every protocol step")
    demo.add_argument("--json", action="store_true", help="print only a JSON report (story output suppressed)")
    demo.set_defaults(handler=run_demo_command)
    impl_cli.register(commands)
    conform = commands.add_parser(
        "conform",
        help="check implementation step logs, or replay every model behaviour on the implementation",
        description=(
            "With LOG: validate the step log against the model, step by step (each step must be an enabled "
            "model action whose successor agrees with what was logged); the first divergence is shown with "
            "both sides. With --exhaustive: run every behaviour of the model up to --depth on the in-memory "
            "engine, for every wiring of the configuration, comparing whole states through the refinement "
            "mapping. Exit 0 conforms; 1 divergence; 2 bad input; 3 (--exhaustive) behaviours were cut by "
            "the depth."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    conform.add_argument(
        "logs", nargs="*", type=Path, metavar="LOG", help="step logs; several (one per member) are merged first"
    )
    conform.add_argument("--exhaustive", action="store_true", help="replay model behaviours instead of a log")
    add_constant_flags(conform, default_config="small")
    conform.add_argument("--depth", type=natural, default=12, help="steps per behaviour (--exhaustive)")
    conform.add_argument("--json", action="store_true", help="print a JSON report")
    conform.set_defaults(handler=run_conform)


def _fail(message: str) -> int:
    print(f"pbjoin: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_demo_command(args: argparse.Namespace) -> int:
    directory: Path = args.dir or Path(tempfile.mkdtemp(prefix="pbjoin-demo-"))
    if directory.exists() and any(directory.iterdir()):
        return _fail(f"{directory} is not empty; give a new directory")
    try:
        result = run_demo(directory, echo=(lambda _: None) if args.json else print, verbose=not args.quiet)
    except (DemoError, ResourceError, OSError) as exc:
        print(f"pbjoin: demo failed: {exc}", file=sys.stderr)
        return 1
    cluster, steps = read_log(result.log)
    report = validate_log(cluster, steps)
    if args.json:
        print(json.dumps({"directory": str(directory), "log": str(result.log), **_log_json(report)}, indent=2))
    else:
        print(f"\ncluster directory: {directory}   (`pbjoin status {result.log}` shows it again)")
        print(_report_text(report, result.log))
    return 0 if report.conforms else 1


def _log_json(report: Report) -> dict[str, Any]:
    div = report.divergence
    return {
        "conforms": report.conforms,
        "steps_checked": report.steps,
        "rejected_messages": report.stutters,
        "divergence": None
        if div is None
        else {"seq": div.seq, "step": div.step, "reason": div.reason, "rows": div.rows},
    }


def _report_text(report: Report, log: Path | str) -> str:
    if report.divergence is None:
        rejected = f", {report.stutters} rejected messages" if report.stutters else ""
        return f"log conforms to the model ({report.steps} steps checked{rejected}): {log}"
    return f"log DIVERGES from the model after {report.steps} conforming steps: {log}\n{report.divergence.render()}"


def run_conform(args: argparse.Namespace) -> int:
    if args.exhaustive == bool(args.logs):
        return _fail("give either a LOG to validate or --exhaustive")
    if args.logs:
        return _conform_log(args)
    try:
        cfg = load_constants(args, args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    result = replay(cfg.params, args.depth, progress=None if args.json else _progress)
    if args.json:
        print(json.dumps(_replay_json(result), indent=2))
    else:
        print(_replay_text(result))
    if result.divergence is not None:
        return 1
    return 0 if result.complete else 3


def _conform_log(args: argparse.Namespace) -> int:
    try:
        if len(args.logs) == 1:
            report = validate_log(*read_log(args.logs[0]))
        else:
            report, _ = conform_logs(args.logs)
    except (LogError, ConformanceError, MergeError) as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(_log_json(report), indent=2))
    else:
        print(_report_text(report, ", ".join(map(str, args.logs))))
    return 0 if report.conforms else 1


def _progress(wirings: int, states: int, behaviours: int) -> None:
    print(f"  wirings {wirings}  states {states}  behaviours {behaviours}", file=sys.stderr)


def _replay_json(r: ReplayReport) -> dict[str, Any]:
    div = r.divergence
    return {
        "conforms": r.conforms,
        "complete": r.complete,
        "depth": r.depth,
        "wirings": r.wirings,
        "states": r.states,
        "transitions": r.transitions,
        "behaviours": r.behaviours,
        "seconds": round(r.seconds, 3),
        "divergence": None
        if div is None
        else {"step": div.step, "reason": div.reason, "rows": div.rows, "path": list(r.path)},
    }


def _replay_text(r: ReplayReport) -> str:
    cover = (
        f"{r.behaviours} behaviours ({r.transitions} transitions, {r.states} states, {r.wirings} wirings) "
        f"in {r.seconds:.1f} s"
    )
    if r.divergence is not None:
        path = " -> ".join(r.path) or "(initial state)"
        return f"implementation DIVERGES from the model after {path}\n{r.divergence.render()}"
    if r.complete:
        return f"implementation conforms: every behaviour of the model replayed, {cover}"
    return f"implementation conforms up to depth {r.depth} (INCOMPLETE: longer behaviours not replayed): {cover}"
