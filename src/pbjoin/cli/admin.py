"""`pbjoin status` and `pbjoin group`: read a group's state, and administer a group on etcd."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pbjoin.status import freshest_view, latest, render
from pbjoin.steplog import LogError, read_log

EXIT_BAD_INPUT = 2


def register(commands: argparse._SubParsersAction[Any]) -> None:
    status = commands.add_parser(
        "status",
        help="show a group's state from a step log, or live from etcd",
        description=(
            "With LOG: read a step log (one JSON record per line, as written by `pbjoin demo` or a member) "
            "and show each member's last logged state and the freshest copy of the group state. With --etcd "
            "and --group: read the group's ordered stream and live members from etcd. Exit 2 if the log or "
            "etcd cannot be read."
        ),
    )
    status.add_argument("log", nargs="?", type=Path, help="the step log (log.jsonl)")
    status.add_argument("--etcd", metavar="URL[,URL...]", help="read the live group from these etcd endpoints")
    status.add_argument("--group", help="the group's name (with --etcd)")
    status.add_argument("--user", help="etcd user (default root when a password is given)")
    status.add_argument("--password-file", type=Path, help="file holding the etcd password")
    status.add_argument("--ca", help="CA certificate for the etcd servers' TLS certificates")
    status.add_argument("--json", action="store_true", help="print the members and the group state as JSON")
    status.set_defaults(handler=run_status)

    group = commands.add_parser(
        "group",
        help="define a group in etcd and give each node its own etcd user",
        description=(
            "Administer a group that runs on etcd (`pbjoin node`). `define` writes the group's resources in "
            "failover order (the first starts primary); `add-node` creates an etcd user for one node that may "
            "write only its own keys and the group's message prefix; `add-client` one for a client of the data "
            "path (`pbjoin write`, `pbjoin read`) that may write only its own requests; `enable-auth` creates "
            "etcd's root user and turns authentication on. Run them with etcd's root account once authentication is on."
        ),
    )
    actions = group.add_subparsers(dest="group_command", required=True, parser_class=type(group))
    for name, text in (
        ("define", "write the group's definition: its resources in failover order"),
        ("add-node", "an etcd user for one node, allowed to write only its own keys"),
        ("add-client", "an etcd user for one client of the data path, allowed to write only its own requests"),
        ("enable-auth", "create etcd's root user and turn authentication on"),
    ):
        action = actions.add_parser(name, help=text, description=text)
        action.add_argument("--etcd", required=True, metavar="URL[,URL...]", help="etcd endpoints")
        action.add_argument("--password-file", type=Path, help="file holding etcd's root password (once auth is on)")
        action.add_argument("--ca", help="CA certificate for the etcd servers' TLS certificates")
        if name != "enable-auth":
            action.add_argument("--group", required=True, help="the group's name")
        if name == "define":
            action.add_argument("--resources", required=True, nargs="+", help="resource ids, failover order")
        if name == "add-node":
            action.add_argument("--node-id", required=True, help="the node (and etcd user) name")
            action.add_argument("--node-password-file", required=True, type=Path, help="file with its password")
        if name == "add-client":
            action.add_argument("--client-id", required=True, help="the client (and etcd user) name")
            action.add_argument("--client-password-file", required=True, type=Path, help="file with its password")
        if name == "enable-auth":
            action.add_argument("--root-password-file", required=True, type=Path, help="file with root's password")
    group.set_defaults(handler=run_group)


def run_status(args: argparse.Namespace) -> int:
    if (args.log is None) == (args.etcd is None):
        print("pbjoin: error: give either a LOG or --etcd URL --group G", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.etcd is not None:
        return _etcd_status(args)
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


def _etcd_status(args: argparse.Namespace) -> int:
    from pbjoin.etcd.client import EtcdError  # the etcd client is only needed for live groups
    from pbjoin.etcd.node import NodeError
    from pbjoin.etcd.status import etcd_status

    if not args.group:
        print("pbjoin: error: --etcd needs --group", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        password = args.password_file.read_text().strip() if args.password_file else None
        print(etcd_status(args.etcd, args.group, user=args.user, password=password, ca=args.ca, as_json=args.json))
    except OSError as exc:
        print(f"pbjoin: error: cannot read {args.password_file}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (EtcdError, NodeError) as exc:
        print(f"pbjoin: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def run_group(args: argparse.Namespace) -> int:
    from pbjoin.etcd.client import Credentials, EtcdConnection, EtcdError
    from pbjoin.etcd.security import add_client_user, add_node_user, define_group, enable_auth
    from pbjoin.wire import first_invalid_ident

    names = [
        getattr(args, "group", None),
        getattr(args, "node_id", None),
        getattr(args, "client_id", None),
        *getattr(args, "resources", []),
    ]
    invalid = first_invalid_ident(names)
    if invalid is not None:
        print(f"pbjoin: error: not a valid node or resource name: {invalid!r}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        root = args.password_file.read_text().strip() if args.password_file else None
        conn = EtcdConnection(args.etcd.split(","), None if root is None else Credentials("root", root), args.ca)
        if args.group_command == "define":
            if len(set(args.resources)) != len(args.resources):
                raise ValueError("--resources names a resource twice")
            define_group(conn, args.group, tuple(args.resources))
            print(f"group {args.group}: resources {', '.join(args.resources)} ({args.resources[0]} primary)")
        elif args.group_command == "add-node":
            add_node_user(conn, args.group, args.node_id, args.node_password_file.read_text().strip())
            print(f"group {args.group}: etcd user {args.node_id} may write only its own keys")
        elif args.group_command == "add-client":
            add_client_user(conn, args.group, args.client_id, args.client_password_file.read_text().strip())
            print(f"group {args.group}: etcd user {args.client_id} may write only its own requests")
        else:
            enable_auth(conn, args.root_password_file.read_text().strip())
            print("etcd authentication is on; use root's password for `pbjoin group` from now on")
    except OSError as exc:
        print(f"pbjoin: error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (EtcdError, ValueError) as exc:
        print(f"pbjoin: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0
