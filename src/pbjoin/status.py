"""The group state as tables: from a running engine or from a step log.

Each member logs its own state after every step, so the last record of each
member tells where it is; the group state shown is the copy held by the member
that has delivered the most ordered messages (members that lag hold a prefix of it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from pbjoin.steplog import ClusterRecord, MemberSummary, StepRecord
from pbjoin.wire import GroupStateBody


@dataclass
class MemberRow:
    node: str
    inc: int
    summary: MemberSummary


def latest(cluster: ClusterRecord, steps: list[StepRecord]) -> list[MemberRow]:
    """Each node's last logged state (nodes that never stepped are out)."""
    rows = {n: MemberRow(n, 0, MemberSummary(phase="out", position=0, view=None, configs={})) for n in cluster.nodes}
    for rec in steps:
        rows[rec.member] = MemberRow(rec.member, rec.inc, rec.post)
    return [rows[n] for n in cluster.nodes]


def freshest_view(rows: list[MemberRow]) -> tuple[str, int, GroupStateBody] | None:
    holders = [r for r in rows if r.summary.view is not None]
    if not holders:
        return None
    best = max(holders, key=lambda r: r.summary.position)
    assert best.summary.view is not None
    return best.node, best.summary.position, GroupStateBody.model_validate(best.summary.view)


def render(cluster: ClusterRecord, rows: list[MemberRow], sites: dict[str, str] | None = None) -> str:
    """Two tables: the members, and the resources as the freshest group state has them."""
    fresh = freshest_view(rows)
    body = fresh[2] if fresh else None
    role: dict[str, str] = {}
    subgroup: dict[str, str] = {}
    if body is not None:
        for s in body.subgroups:
            for x in s.members:
                subgroup[x] = s.resource
            if s.host is not None:
                role[s.host] = "primary host" if s.resource == body.primary else "backup host"
    member_table = [
        [
            r.node,
            r.inc,
            r.summary.phase,
            subgroup.get(r.node, "-") if r.summary.phase not in ("out", "down", "rejected") else "-",
            role.get(r.node, "member" if r.node in subgroup else "-") if r.summary.phase != "down" else "-",
            ", ".join(f"{res} v{v}" for res, v in r.summary.configs.items()) or "-",
            r.summary.position if r.summary.view is not None else "-",
            ", ".join(cluster.access.get(r.node, ())) or "nothing",
        ]
        for r in rows
    ]
    out = [
        tabulate(member_table, headers=["member", "inc", "phase", "subgroup", "role", "config", "delivered", "reaches"])
    ]
    if body is not None and fresh is not None:
        resource_table: list[list[Any]] = [
            [
                s.resource,
                (sites or {}).get(s.resource, "-"),
                ("primary" if s.resource == body.primary else "backup")
                + (" (failed)" if s.resource in body.lost else ""),
                s.host or "-",
                ", ".join(s.members) or "-",
                s.mirror if s.resource != body.primary else "-",
            ]
            for s in body.subgroups
        ]
        out.append(f"group state as held by {fresh[0]} after {fresh[1]} ordered messages:")
        out.append(tabulate(resource_table, headers=["resource", "site", "role", "host", "subgroup", "mirror"]))
    else:
        out.append("no member holds the group state")
    return "\n".join(out)
