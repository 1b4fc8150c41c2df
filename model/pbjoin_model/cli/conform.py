"""`pbjoin conform`: the implementation checked against the model (step logs, or exhaustive replay)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pbjoin_model.cli.args import add_constant_flags, load_constants, natural
from pbjoin_model.conformance.check_log import report_json, report_text, validate_log_files
from pbjoin_model.conformance.refinement import ConformanceError
from pbjoin_model.conformance.replay import ReplayReport, replay
from pbjoin_model.explorer.bfs import too_large
from pbjoin_model.protocol.config import ConfigError

EXIT_BAD_INPUT = 2


def register_conform(commands: argparse._SubParsersAction[Any]) -> None:
    conform = commands.add_parser(
        "conform",
        help="check implementation step logs, or replay every model behaviour on the implementation",
        description=(
            "With LOG: validate the step log against the model, step by step (each step must be an enabled "
            "model action whose successor agrees with what was logged); the first divergence is shown with "
            "both sides. With --exhaustive: run every behaviour of the model up to --depth on the in-memory "
            "engine, for every wiring of the configuration, comparing whole states through the refinement "
            "mapping. Exit 0 conforms; 1 divergence; 2 bad input; 3 (--exhaustive) behaviours were cut by "
            "the depth. A state is expanded once per state of the checker's state space (log compacted, nodes "
            "renamed under symmetry), so the transitions replayed are reported as a share of the model's."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    conform.add_argument(
        "logs", nargs="*", type=Path, metavar="LOG", help="step logs; several (one per member) are merged first"
    )
    conform.add_argument("--exhaustive", action="store_true", help="replay model behaviours instead of a log")
    add_constant_flags(conform, default_config="small")
    conform.add_argument("--depth", type=natural, default=12, help="steps per behaviour (--exhaustive)")
    conform.add_argument(
        "--crash-points",
        action="store_true",
        help="also crash each step's node before each file operation of its effects (--exhaustive); "
        "every resource file must then be readable, with its content before or after the step",
    )
    conform.add_argument("--json", action="store_true", help="print a JSON report")
    conform.set_defaults(handler=run_conform)


def _fail(message: str) -> int:
    print(f"pbjoin: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_conform(args: argparse.Namespace) -> int:
    if args.exhaustive == bool(args.logs):
        return _fail("give either a LOG to validate or --exhaustive")
    if args.crash_points and not args.exhaustive:
        return _fail("--crash-points needs --exhaustive")
    if args.logs:
        return _conform_log(args)
    try:
        cfg = load_constants(args, args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    reason = too_large(cfg.params, symmetry=False)
    if reason is not None:
        return _fail(reason)
    result = replay(cfg.params, args.depth, progress=None if args.json else _progress, crash_points=args.crash_points)
    if args.json:
        print(json.dumps(_replay_json(result), indent=2))
    else:
        print(_replay_text(result))
    if result.divergence is not None:
        return 1
    return 0 if result.complete else 3


def _conform_log(args: argparse.Namespace) -> int:
    try:
        report = validate_log_files(args.logs)
    except ConformanceError as exc:
        return _fail(str(exc))
    if args.json:
        print(json.dumps(report_json(report), indent=2))
    else:
        print(report_text(report, ", ".join(map(str, args.logs))))
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
        "model_transitions": r.model_transitions,
        "coverage": round(r.coverage, 4),
        "crash_points": r.crash_points,
        "seconds": round(r.seconds, 3),
        "actions": dict(sorted(r.actions.items())),
        "divergence": None
        if div is None
        else {"step": div.step, "reason": div.reason, "rows": div.rows, "path": list(r.path)},
    }


def _replay_text(r: ReplayReport) -> str:
    cover = (
        f"{r.behaviours} behaviours ({r.transitions} transitions, {r.states} states, {r.wirings} wirings) "
        f"in {r.seconds:.1f} s\n  transition coverage: {r.transitions} of the model's {r.model_transitions} "
        f"transitions up to symmetry ({r.coverage:.1%})"
    )
    if r.crash_points:
        cover += f"\n  crash points: {r.crash_points} crashes inside a step's file operations, each old or new files"
    if r.divergence is not None:
        path = " -> ".join(r.path) or "(initial state)"
        return f"implementation DIVERGES from the model after {path}\n{r.divergence.render()}"
    taken = "  transitions compared per action: " + (
        ", ".join(f"{name} {count}" for name, count in sorted(r.actions.items())) or "none"
    )
    if r.complete:
        return f"implementation conforms: every behaviour of the model replayed, {cover}\n{taken}"
    verdict = f"implementation conforms up to depth {r.depth} (INCOMPLETE: longer behaviours not replayed): {cover}"
    return f"{verdict}\n{taken}"
