"""The implementation's own command line (`python -m pbjoin`), usable without the model.

The full `pbjoin` command (model/cli.py) includes these subcommands alongside the
model checkers and the conformance tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NoReturn

from pbjoin.status import freshest_view, latest, render
from pbjoin.steplog import LogError, read_log

EXIT_BAD_INPUT = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def register(commands: argparse._SubParsersAction[Parser]) -> None:
    status = commands.add_parser(
        "status",
        help="show a group's state from a member step log",
        description=(
            "Read a step log (one JSON record per line, as written by `pbjoin demo` or a member) and show "
            "each member's last logged state and the freshest copy of the group state. Exit 2 if the log "
            "cannot be read."
        ),
    )
    status.add_argument("log", type=Path, help="the step log (log.jsonl)")
    status.add_argument("--json", action="store_true", help="print the members and the group state as JSON")
    status.set_defaults(handler=run_status)


def run_status(args: argparse.Namespace) -> int:
    try:
        cluster, steps = read_log(args.log)
    except LogError as exc:
        print(f"pbjoin: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    rows = latest(cluster, steps)
    if args.json:
        fresh = freshest_view(rows)
        group_state = None if fresh is None else {"held_by": fresh[0], "position": fresh[1], **fresh[2].model_dump()}
        report = {
            "group": cluster.group,
            "steps": len(steps),
            "members": [{"node": r.node, "inc": r.inc, **r.summary.model_dump(exclude={"view"})} for r in rows],
            "group_state": group_state,
        }
        print(json.dumps(report, indent=2))
    else:
        print(f"group {cluster.group}: {len(steps)} steps logged")
        print(render(cluster, rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m pbjoin", description="Members of a primary-backup group with backup resources.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    register(commands)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code
