"""The live state of a group, read from etcd: what `pbjoin status --etcd` prints."""

from __future__ import annotations

import json
import threading

from pbjoin.etcd.client import Credentials, EtcdConnection, EtcdError
from pbjoin.etcd.node import read_group_resources
from pbjoin.etcd.stream import GroupStream, Keys


def read_stream(conn: EtcdConnection, group: str, timeout: float = 30.0) -> GroupStream:
    """The group's stream as of now: its whole key history replayed through a watch.

    Only the group's own keys count: other groups and unrelated keys in the same etcd
    neither delay nor change it. Live members are the liveness keys that exist now (a
    deletion is no key's newest change, so the replay alone could miss a lease expiry).
    """
    keys = Keys(group)
    revision = conn.latest_revision_under(keys.prefix)
    stream = GroupStream(group)
    if revision == 0:
        return stream
    stop = threading.Event()
    timer = threading.Timer(timeout, stop.set)  # the watch checks it at least once per read timeout
    timer.start()
    try:
        for batch in conn.watch_prefix(keys.prefix, 1, stop):
            stream.apply(batch)
            if stream.revision >= revision:
                break
    finally:
        stop.set()
        timer.cancel()
    if stream.revision < revision:
        raise EtcdError(f"the watch of group {group} did not reach revision {revision} in {timeout:.0f} s")
    _, present = conn.get_prefix(f"{keys.prefix}members/")
    existing = {kv.key for kv in present}
    for inc in [inc for inc in stream.live if keys.member(*inc) not in existing]:
        del stream.live[inc]
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
