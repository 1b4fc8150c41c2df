"""`pbjoin demo`: the embedded story, its log then checked against the model when that is installed."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from pbjoin.cli.plugins import INSTALL_HINT, log_checker
from pbjoin.demo import DemoError, run_demo
from pbjoin.resources import ResourceError

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction[Any]) -> None:
    demo = commands.add_parser(
        "demo",
        help="run an embedded cluster through joins, a rejection and failures; check its log against the model",
        description=(
            "Run five members and three directory resources on two sites in one process (in-memory engine): "
            "joins into the primary and backup subgroups, a rejected join, a configuration change, a switchover, "
            "a failover and a rejoin. The group state is printed as tables after each part of the story; at the "
            "end the step log is validated against the model (with the 'verify' extra installed; without it the "
            "demo says so and skips the check). Exit 0: the story ran and its log conforms (or was not "
            "checked); 1: it does not conform or the story failed."
        ),
    )
    demo.add_argument("--dir", type=Path, help="cluster directory to create (default: a new temporary directory)")
    demo.add_argument("--quiet", action="store_true", help="print the tables only, not every protocol step")
    demo.add_argument("--json", action="store_true", help="print only a JSON report (story output suppressed)")
    demo.set_defaults(handler=run_demo_command)


def run_demo_command(args: argparse.Namespace) -> int:
    directory: Path = args.dir or Path(tempfile.mkdtemp(prefix="pbjoin-demo-"))
    if directory.exists() and any(directory.iterdir()):
        print(f"pbjoin: error: {directory} is not empty; give a new directory", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = run_demo(directory, echo=(lambda _: None) if args.json else print, verbose=not args.quiet)
    except (DemoError, ResourceError, OSError) as exc:
        print(f"pbjoin: demo failed: {exc}", file=sys.stderr)
        return 1
    checker = log_checker()
    report: dict[str, Any]
    if checker is None:
        conforms, line, report = (
            True,
            f"log not checked against the model: install the verify extra ({INSTALL_HINT})",
            {},
        )
    else:
        conforms, line, report = checker(result.log)
    if args.json:
        checked = {"checked": checker is not None, **report}
        body = {"directory": str(directory), "log": str(result.log), "writes": result.writes, "conformance": checked}
        print(json.dumps(body, indent=2))
    else:
        print(f"\ncluster directory: {directory}   (`pbjoin status {result.log}` shows it again)")
        print(line)
    return 0 if conforms else 1
