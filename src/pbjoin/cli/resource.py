"""`pbjoin resource init`: lay out a new resource directory, so nobody has to learn the layout from code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pbjoin.resources import ResourceError, create_resource, describe_layout
from pbjoin.wire import first_invalid_ident

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction[Any]) -> None:
    resource = commands.add_parser(
        "resource",
        help="create a resource directory (a directory standing in for a disk)",
        description="Manage the directories that stand in for a group's disks. " + describe_layout(),
    )
    actions = resource.add_subparsers(dest="resource_command", required=True, parser_class=type(resource))
    init = actions.add_parser(
        "init",
        help="create a new, empty resource directory with configuration version 1",
        description="Create PATH as a new resource: its identity (name and site), configuration version 1 and an "
        "empty data folder. PATH must not exist or be an empty directory. " + describe_layout(),
    )
    init.add_argument("path", type=Path, metavar="PATH", help="the directory to create")
    init.add_argument("--name", required=True, help="the resource's id, as `pbjoin group define` lists it")
    init.add_argument("--site", required=True, help="the site the disk is at (shown by `pbjoin status`)")
    init.set_defaults(handler=run_init)


def run_init(args: argparse.Namespace) -> int:
    path: Path = args.path
    invalid = first_invalid_ident([args.name, args.site])
    if invalid is not None:
        print(f"pbjoin: error: not a valid name: {invalid!r}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise ResourceError(f"{path} exists and is not an empty directory")
        create_resource(path, args.name, args.site, {})
    except ResourceError as exc:
        print(f"pbjoin: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as exc:
        print(f"pbjoin: error: cannot create {path}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"resource {args.name} (site {args.site}) created at {path}, configuration version 1")
    return 0
