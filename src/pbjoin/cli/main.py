"""`pbjoin`: parse the command line and run one command.

Exit codes follow the conventions users of model checkers rely on: 0 success (every
invariant holds, the log conforms, the node left cleanly), 1 a violation or divergence,
2 bad input (one line on stderr), 3 incomplete (a bound cut the search).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from typing import NoReturn

from pbjoin.cli import admin, data, demo, node, resource
from pbjoin.cli.plugins import INSTALL_HINT, command_entry_points, missing_extra, unavailable_message

EXIT_BAD_INPUT = 2


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see --help)\n")


def build_parser(command: str | None, missing: list[str]) -> tuple[argparse.ArgumentParser, set[str]]:
    """The parser, and the verification commands that cannot run here (`missing`: the extra's absent parts).

    Only the verification command being run is loaded (all of them for the top-level
    `--help`), so `pbjoin node` or `pbjoin status` never imports the verification package.
    """
    parser = Parser(
        prog="pbjoin",
        description=(
            "Specify, check and run the join protocol of a primary-backup group with backup resources. "
            "Production: node, group, status, write, read, resource, demo. Verification (the 'verify' extra): check, "
            "simulate, prove, bmc, trace, replay, tla, conform."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    node.register(commands)
    admin.register(commands)
    data.register(commands)
    resource.register(commands)
    demo.register(commands)
    unavailable: set[str] = set()
    for entry_point in command_entry_points():
        if missing:
            commands.add_parser(entry_point.name, help=f"(needs the verify extra: {INSTALL_HINT})")
            unavailable.add(entry_point.name)
        elif command is None or command == entry_point.name:
            register: Callable[[argparse._SubParsersAction[Parser]], None] = entry_point.load()
            register(commands)
        else:
            commands.add_parser(entry_point.name, help="verification command (see `pbjoin --help`)")
    return parser, unavailable


def main(argv: list[str] | None = None) -> int:
    # A reader that stops early (`pbjoin check | head`) ends the output quietly.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    args_list = sys.argv[1:] if argv is None else argv
    command = next((a for a in args_list if not a.startswith("-")), None)
    missing = missing_extra()
    parser, unavailable = build_parser(command, missing)
    if command in unavailable:
        print(f"pbjoin: error: {unavailable_message(command, missing)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args = parser.parse_args(args_list)
    handler: Callable[[argparse.Namespace], int] = args.handler  # set by each register()
    return handler(args)
