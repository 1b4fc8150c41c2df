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
    copies = data_path_status(stream, state.host, state.primary)
    if as_json:
        body = state.to_body().model_dump(mode="json", exclude={"v"})
        report = {"group": group, "position": len(stream.ordered), "state": body, "live": live, "copies": copies}
        return json.dumps(report, indent=2)
    lines = [f"group {group}: {len(stream.ordered)} ordered messages, primary resource {state.primary}"]
    for r in state.resources:
        members = ", ".join(state.subgroups[r]) or "-"
        role = "primary" if r == state.primary else f"backup (mirror {state.mirror[r]})"
        lines.append(f"  {r}: {role}, host {state.host[r] or '-'}, members {members}{_copy_text(copies.get(r))}")
    for node, member in state.members.items():
        lines.append(f"  member {node}#{member.inc}: {member.status}, reaches {', '.join(member.reaches) or '-'}")
    lines.append(f"  live: {', '.join(f'{k} ({v})' for k, v in live.items()) or 'none'}")
    return "\n".join(lines)


def data_path_status(stream: GroupStream, host: dict[str, str | None], primary: str) -> dict[str, dict[str, int]]:
    """Per hosted resource, its copy as its live host last published it: writes held, fence,
    and for a mirror its lag (writes the production copy holds beyond it); for the primary
    resource, the primary host's epoch and the writes waiting for mirrors."""
    published = {
        m.copy.resource: m.copy
        for (node, _), m in sorted(stream.live.items())
        if m.copy is not None and host.get(m.copy.resource) == node
    }
    production = published.get(primary)
    out: dict[str, dict[str, int]] = {}
    for r, c in published.items():
        row = {"writes": c.writes, "fence": c.fence}
        if r == primary:
            row |= {"epoch": c.epoch, "pending": c.pending}
        elif production is not None:
            row["lag"] = max(0, production.writes - c.writes)
        out[r] = row
    return out


def _copy_text(row: dict[str, int] | None) -> str:
    if row is None:
        return ""
    parts = [f"copy {row['writes']} writes", f"fence {row['fence']}"]
    parts += [f"{k} {row[k]}" for k in ("epoch", "pending", "lag") if k in row]
    return "; " + ", ".join(parts)
