"""The verification side, found through entry points: never imported by name from here.

The verification commands and the demo's log checker are entry points of the `pbjoin`
distribution. They are usable when the `verify` extra's distributions are installed;
without them each command is still listed in `--help` and answers with one line naming
the extra, instead of a traceback deep inside an import.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTION = "pbjoin"
EXTRA = "verify"
INSTALL_HINT = f"pip install '{DISTRIBUTION}[{EXTRA}]'"
COMMANDS_GROUP = "pbjoin.commands"
LOG_CHECKERS_GROUP = "pbjoin.log_checkers"

LogChecker = Callable[[Path], tuple[bool, str, dict[str, Any]]]
"""Validates a step log file: (conforms, one line for people, a JSON-ready report)."""


def missing_extra() -> list[str]:
    """The distributions the `verify` extra requires that are not installed (empty: all there)."""
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []  # not installed as a distribution: there are no entry points either
    missing = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        if re.search(rf"""extra\s*==\s*["']{EXTRA}["']""", marker) is None:
            continue
        name = re.split(r"[\s<>=!~;\[(]", spec.strip(), maxsplit=1)[0]
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def unavailable_message(command: str, missing: list[str]) -> str:
    return f"pbjoin {command} needs the '{EXTRA}' extra ({', '.join(missing)} missing): {INSTALL_HINT}"


def command_entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=COMMANDS_GROUP), key=lambda ep: ep.name)


def log_checker() -> LogChecker | None:
    """The installed log checker, or None when the verification side is not installed."""
    if missing_extra():
        return None
    for entry_point in metadata.entry_points(group=LOG_CHECKERS_GROUP):
        checker: LogChecker = entry_point.load()
        return checker
    return None
