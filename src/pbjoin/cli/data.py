"""`pbjoin write` and `pbjoin read`: a client of a group's data path, over etcd.

Exit codes: 0 acknowledged (write) or answered (read); 1 refused (not taken; the reason
says why); 2 bad input or etcd unusable (one line on stderr); 3 unknown (no answer in
time: a write may or may not have been taken).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pbjoin.cli.node import PASSWORD_ENV
from pbjoin.wire import first_invalid_ident

EXIT_BAD_INPUT = 2
EXIT_FOR_STATUS = {"acked": 0, "value": 0, "refused": 1, "unknown": 3}


def register(commands: Any) -> None:
    for name, text in (
        ("write", "write KEY=VALUE through the group's primary host; acknowledged once every mirror holds it"),
        ("read", "read KEY's newest acknowledged value from the group's primary host"),
    ):
        cmd = commands.add_parser(
            name,
            help=text,
            description=(
                f"{text[0].upper()}{text[1:]}. The client finds the primary host from the group's stream in "
                "etcd and sends its request there (a node that is not the primary host refuses it and names "
                "the one that is; the client then asks that one). Exit 0: acknowledged (read: answered); 1: "
                "refused, not taken; 2: bad input or etcd unusable; 3: unknown, no answer in time (a write "
                "may or may not have been taken)."
            ),
        )
        cmd.add_argument("key", help="the key (letters, digits and _.:/-)")
        if name == "write":
            cmd.add_argument("value", help="the value (at most 4096 characters)")
        cmd.add_argument("--etcd", required=True, metavar="URL[,URL...]", help="etcd endpoints")
        cmd.add_argument("--group", required=True, help="the group's name")
        cmd.add_argument("--client-id", help="this client's name (default: the etcd user, else 'cli')")
        cmd.add_argument("--user", help="etcd user (default: the client id)")
        cmd.add_argument("--password-file", type=Path, help=f"file holding the etcd password (or set ${PASSWORD_ENV})")
        cmd.add_argument("--ca", help="CA certificate for the etcd servers' TLS certificates")
        cmd.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for an answer (default 10)")
        cmd.add_argument("--json", action="store_true", help="print the answer as JSON")
        cmd.set_defaults(handler=run_request)


def _error(message: str) -> int:
    print(f"pbjoin: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_request(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from pbjoin.etcd.client import Credentials, EtcdConnection, EtcdError
    from pbjoin.etcd.group_client import GroupClient
    from pbjoin.etcd.node import NodeError, read_group_resources
    from pbjoin.wire import ClientRequest

    client = args.client_id or args.user or "cli"
    invalid = first_invalid_ident([args.group, client])
    if invalid is not None:
        return _error(f"not a valid group or client name: {invalid!r}")
    if not 0 < args.timeout <= 3600:
        return _error("--timeout must be between 0 and 3600 seconds")
    value: str = getattr(args, "value", "")
    try:
        ClientRequest.model_validate({"op": args.command, "id": "check", "key": args.key, "value": value})
    except ValueError:
        return _error("the key must match [A-Za-z0-9][A-Za-z0-9_.:/-]{0,127} and the value be at most 4096 characters")
    try:
        password = os.environ.get(PASSWORD_ENV)
        if args.password_file is not None:
            password = args.password_file.read_text().strip()
        credentials = None if password is None else Credentials(args.user or client, password)
        conn = EtcdConnection([u.strip() for u in args.etcd.split(",") if u.strip()], credentials, args.ca)
        group = GroupClient(conn, args.group, client, read_group_resources(conn, args.group), args.timeout)
        result = group.write(args.key, value) if args.command == "write" else group.read(args.key)
    except OSError as exc:
        return _error(f"cannot read {exc.filename}: {exc.strerror}")
    except (EtcdError, NodeError) as exc:
        return _error(str(exc))
    if args.json:
        print(json.dumps(asdict(result)))
    elif result.status == "value":
        print(result.value if result.value is not None else f"{args.key} was never written", flush=True)
    else:
        where = f" by {result.node}" if result.node else ""
        detail = f" at position {result.position}, epoch {result.epoch}" if result.status == "acked" else ""
        reason = f": {result.reason}" if result.reason else ""
        print(f"{result.write_id} {result.status}{where}{detail}{reason}")
    return EXIT_FOR_STATUS[result.status]
