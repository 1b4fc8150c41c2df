"""Setting a group up in etcd: its definition, one user per node, and authentication.

Each node gets its own etcd user and role. The role may read the group's keys and
write only what that node may author: its own liveness keys, its own group messages,
FAIL records, point-to-point messages and answers to clients, and the recovery marker. A client
of the data path gets a user that may write only its own requests. etcd enforces this, so a node without credentials,
or with one node's credentials posing as another, is refused by etcd itself.
"""

from __future__ import annotations

import json
from typing import Any

from pbjoin.etcd.client import EtcdConnection, EtcdError, b64, prefix_end
from pbjoin.etcd.stream import Keys


def define_group(conn: EtcdConnection, group: str, resources: tuple[str, ...]) -> None:
    """Write the group's definition: its managed resources in failover order.

    A group that has ever had a member keeps its resources: every member's view is the
    stream applied to them, so changing them under the members would make status and
    members disagree. Redefining with the same resources is a no-op; a new layout is a
    new group.
    """
    keys = Keys(group)
    current = conn.get(keys.config)
    changed = current is not None and json.loads(current.value).get("resources") != list(resources)
    if changed and (
        conn.latest_revision_under(f"{keys.prefix}log/") or conn.latest_revision_under(f"{keys.prefix}members/")
    ):
        raise EtcdError(
            f"group {group} already has members: its resources cannot change under them (define a new group)"
        )
    conn.put(keys.config, json.dumps({"resources": list(resources)}).encode())


def _grant(conn: EtcdConnection, role: str, perm: str, key: str, whole_prefix: bool) -> None:
    permission: dict[str, Any] = {"permType": perm, "key": b64(key)}
    if whole_prefix:
        permission["range_end"] = prefix_end(key)
    conn.post("/auth/role/grant", {"name": role, "perm": permission})


def add_node_user(conn: EtcdConnection, group: str, node: str, password: str) -> None:
    """An etcd user named after the node, allowed to write only that node's own keys."""
    keys = Keys(group)
    if not password:
        raise EtcdError(f"the password for {node} is empty: that user could never log in")
    if conn.get(keys.config) is None:
        raise EtcdError(f"group {group} is not defined: run `pbjoin group define` first")
    role = f"pbjoin-{group}-{node}"
    conn.post("/auth/role/add", {"name": role})
    _grant(conn, role, "READ", keys.prefix, whole_prefix=True)
    own = (keys.member_prefix(node), keys.message_prefix(node), keys.p2p_prefix(node), keys.fail_prefix(node))
    for prefix in (*own, keys.answer_prefix(node)):
        _grant(conn, role, "READWRITE", prefix, whole_prefix=True)
    _grant(conn, role, "READWRITE", keys.recovery, whole_prefix=False)
    conn.post("/auth/user/add", {"name": node, "password": password})
    conn.post("/auth/user/grant", {"user": node, "role": role})


def add_client_user(conn: EtcdConnection, group: str, client: str, password: str) -> None:
    """An etcd user for a client of the data path: it may read the group (to find the primary
    host and its answers) and write only its own requests."""
    keys = Keys(group)
    if not password:
        raise EtcdError(f"the password for {client} is empty: that user could never log in")
    if conn.get(keys.config) is None:
        raise EtcdError(f"group {group} is not defined: run `pbjoin group define` first")
    role = f"pbjoin-{group}-client-{client}"
    conn.post("/auth/role/add", {"name": role})
    _grant(conn, role, "READ", keys.prefix, whole_prefix=True)
    _grant(conn, role, "READWRITE", keys.request_prefix(client), whole_prefix=True)
    conn.post("/auth/user/add", {"name": client, "password": password})
    conn.post("/auth/user/grant", {"user": client, "role": role})


def enable_auth(conn: EtcdConnection, root_password: str) -> None:
    """Create the root user and turn authentication on (from then on every request needs a user)."""
    conn.post("/auth/user/add", {"name": "root", "password": root_password})
    try:
        conn.post("/auth/role/add", {"name": "root"})
    except EtcdError as exc:
        if "already exists" not in str(exc):
            raise
    conn.post("/auth/user/grant", {"user": "root", "role": "root"})
    conn.post("/auth/enable", {})
