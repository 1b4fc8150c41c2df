"""The live state of a group, read from etcd: what `pbjoin status --etcd` prints."""

from __future__ import annotations

import json
import threading
import time

from pbjoin.etcd.client import Credentials, EtcdConnection
from pbjoin.etcd.node import read_group_resources
from pbjoin.etcd.stream import GroupStream, Keys


def read_stream(conn: EtcdConnection, group: str, timeout: float = 30.0) -> GroupStream:
    """The group's stream as of now: its whole key history replayed through a watch."""
    revision, _ = conn.get_prefix(Keys(group).config)
    stream = GroupStream(group)
    if revision <= 1:
        return stream
    stop = threading.Event()
    deadline = time.monotonic() + timeout
    for batch in conn.watch_prefix(Keys(group).prefix, 1, stop):
        stream.apply(batch)
        if stream.revision >= revision or time.monotonic() > deadline:
            break
    stop.set()
    return stream


def etcd_status(
    etcd: str,
    group: str,
    *,
    user: str | None = None,
    password: str | None = None,
    ca: str | None = None,
    as_json: bool = False,
) -> str:
    """The group's state after its whole ordered stream, and which members are live in which phase.

    `etcd` is one or more endpoint URLs, comma-separated; with a password the request
    authenticates as `user` (default root); `ca` verifies the servers' TLS certificates.
    Raises EtcdError (unreachable, refused, bad URL) or NodeError (no such group), each
    with a one-line message.
    """
    endpoints = [u.strip() for u in etcd.split(",") if u.strip()]
    credentials = None if password is None else Credentials(user or "root", password)
    conn = EtcdConnection(endpoints, credentials, ca)
    resources = read_group_resources(conn, group)
    stream = read_stream(conn, group)
    state = stream.group_state(resources)
    live = {f"{n}#{i}": m.phase for (n, i), m in sorted(stream.live.items())}
    if as_json:
        body = state.to_body().model_dump(mode="json", exclude={"v"})
        return json.dumps({"group": group, "position": len(stream.ordered), "state": body, "live": live}, indent=2)
    lines = [f"group {group}: {len(stream.ordered)} ordered messages, primary resource {state.primary}"]
    for r in state.resources:
        members = ", ".join(state.subgroups[r]) or "-"
        role = "primary" if r == state.primary else f"backup (mirror {state.mirror[r]})"
        lines.append(f"  {r}: {role}, host {state.host[r] or '-'}, members {members}")
    for node, member in state.members.items():
        lines.append(f"  member {node}#{member.inc}: {member.status}, reaches {', '.join(member.reaches) or '-'}")
    lines.append(f"  live: {', '.join(f'{k} ({v})' for k, v in live.items()) or 'none'}")
    return "\n".join(lines)
