"""`pbjoin node`: run one member of a group as a long-lived process over etcd.

Exit codes: 0 left the group cleanly (SIGTERM or SIGINT), 1 declared failed (its lease
expired), 2 bad input or etcd unreachable/refusing (one line on stderr), 3 rejected
by the group (it reaches none of the group's resources).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from pbjoin.etcd.client import Credentials, EtcdConnection, EtcdError
from pbjoin.etcd.node import EXIT_BAD_INPUT, EtcdNode, NodeError, read_group_resources
from pbjoin.resources import DirectoryDisks, ResourceError, resource_identity
from pbjoin.steplog import JsonLineLog
from pbjoin.wire import first_invalid_ident

PASSWORD_ENV = "PBJOIN_ETCD_PASSWORD"
DEFAULT_LEASE_TTL = 5


class _DefaultsShown(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default only when it has one (not "(default: None)" on every flag)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.required:
            return action.help
        return super()._get_help_string(action)


def register(commands: Any) -> None:
    node = commands.add_parser(
        "node",
        help="run one member of a group as a process over etcd",
        description=(
            "Join GROUP as NODE over the etcd cluster at URL and stay a member until SIGTERM (leave "
            "the group) or a crash (the others detect it when the lease expires). Writes a JSON-line "
            "step log and structured logs on stderr. SIGUSR1: a host writes a new configuration "
            "version of each resource it hosts and sends it to its subgroup. Exit 0: left; 1: declared "
            "failed; 2: bad input or etcd unusable; 3: rejected by the group."
        ),
        formatter_class=_DefaultsShown,
    )
    node.add_argument("--group", required=True, help="the group's name")
    node.add_argument("--node-id", required=True, help="this node's name (also its etcd user)")
    node.add_argument("--etcd", required=True, help="etcd endpoint URLs, comma-separated")
    node.add_argument(
        "--resource", nargs="+", required=True, metavar="PATH", help="resource directories this node is wired to"
    )
    node.add_argument(
        "--link",
        nargs="*",
        default=[],
        metavar="PATH",
        help=(
            "optional: resource directories on a shared replication network; a synchronised mirror then also "
            "copies the production copy's data/ files over them (the data path's writes are mirrored over "
            "etcd either way)"
        ),
    )
    node.add_argument("--node-dir", required=True, help="this node's local store (installed configuration)")
    node.add_argument("--log", required=True, help="the JSON-line step log (appended to)")
    node.add_argument("--user", help="etcd user (default: the node id; no authentication without a password)")
    node.add_argument("--password-file", help=f"file holding the etcd password (or set ${PASSWORD_ENV})")
    node.add_argument("--ca", help="CA certificate to verify the etcd servers' TLS certificates")
    node.add_argument(
        "--lease-ttl",
        type=int,
        default=DEFAULT_LEASE_TTL,
        help=(
            "seconds without a keep-alive before the group declares this node failed: "
            "shorter detects a crash sooner, longer rides out pauses and load (2 s was seen to trip on a loaded "
            "2-core machine)"
        ),
    )
    node.set_defaults(handler=run_node)


def _fail(message: str) -> int:
    sys.stderr.write(f"pbjoin node: error: {message}\n")
    return EXIT_BAD_INPUT


def _credentials(args: argparse.Namespace) -> Credentials | None:
    password = os.environ.get(PASSWORD_ENV)
    if args.password_file:
        try:
            password = Path(args.password_file).read_text().strip()
        except OSError as exc:
            raise NodeError(f"cannot read {args.password_file}: {exc.strerror}") from None
    if password is None:
        return None
    return Credentials(args.user or args.node_id, password)


def _identify(path: Path) -> tuple[str | None, str | None]:
    """The resource a directory says it is, or None and why it cannot be identified now."""
    if not path.is_dir():
        return None, "not a directory"
    try:
        return resource_identity(path), None
    except ResourceError as exc:
        return None, str(exc)


def _disks(args: argparse.Namespace) -> DirectoryDisks:
    """The node's disks. A directory that is gone from a place that exists is a failed disk:
    the node starts without it (a warning) and sees it once it is back, unless no wired
    directory is usable, when the node could only be rejected. Any other unusable path (its
    parent missing too, or a directory that is not a resource) is a mistake in the command."""
    wiring = tuple(Path(p) for p in args.resource)
    linked = tuple(Path(p) for p in args.link)
    links: dict[str, Path] = {}
    unusable: dict[Path, str] = {}
    for path in (*wiring, *linked):
        resource, why = _identify(path)
        if resource is not None:
            links[resource] = path
        elif why is not None:
            unusable[path] = why
    for path, why in unusable.items():
        failed_disk = not path.exists() and path.parent.is_dir()
        if not failed_disk or all(p in unusable for p in wiring):
            raise NodeError(f"unknown resource path {path}: {why}")
    for path in unusable:
        sys.stderr.write(f"pbjoin node: warning: resource directory {path} is gone: treated as a failed disk\n")
    pending = tuple(path for path in linked if path in unusable)
    return DirectoryDisks(Path(args.node_dir), wiring, links if args.link else {}, pending_links=pending)


def run_node(args: argparse.Namespace) -> int:
    if first_invalid_ident([args.node_id, args.group]) is not None:
        return _fail("--group and --node-id must match [a-z][a-z0-9_-]{0,31}")
    if args.lease_ttl < 1:
        return _fail("--lease-ttl must be at least 1 second")
    endpoints = [u.strip() for u in args.etcd.split(",") if u.strip()]
    try:
        disks = _disks(args)
        credentials = _credentials(args)

        def connect() -> EtcdConnection:
            return EtcdConnection(endpoints, credentials, args.ca)

        read_group_resources(connect(), args.group)  # fail before any log file is created
        log = JsonLineLog(Path(args.log))
        member = EtcdNode(connect, args.group, args.node_id, disks, log, args.lease_ttl)

        def leave(signum: int, frame: FrameType | None) -> None:
            member.stop.set()

        def change_config(signum: int, frame: FrameType | None) -> None:
            member.change_config.set()

        # `pbjoin` lets SIGPIPE kill it (for `| head`); a member must instead see a broken
        # connection to a lost etcd server as an error and go to the next server.
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, leave)
        signal.signal(signal.SIGINT, leave)
        signal.signal(signal.SIGUSR1, change_config)
        try:
            return member.run()
        finally:
            log.close()
    except (NodeError, EtcdError, ResourceError, OSError) as exc:
        return _fail(str(exc))
