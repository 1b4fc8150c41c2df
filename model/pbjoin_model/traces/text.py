"""Text view of a trace: numbered steps, changed variables, member views side by side.

Each step lists the variables it changed (`traces.render`'s `flatten`/`diff`), except
the group states: those are one table, a column per node headed by its cursor (how
much of the ordered stream it has delivered) plus the durable state, and a row per
group-state field. A row is shown when the step changed it in some column or when
the members holding a view disagree on it, so a lagging member stands out.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbjoin_model.protocol.machine import PHASE_NAMES, GroupState, Params, State, Step, node_name
from pbjoin_model.traces.render import delivered_message, diff, flatten, view_fields
from pbjoin_model.traces.trace import Trace

CHANGED = "*"


@dataclass(frozen=True)
class ViewRow:
    field: str  # e.g. "host[r1]"
    cells: tuple[str, ...]  # one per node, then durable; "" where a node holds no view
    changed: tuple[bool, ...]
    lag: bool  # the members holding a view disagree on this field


@dataclass(frozen=True)
class ViewTable:
    headers: tuple[str, ...]  # "n1 @2", "n2 waitState", ..., "durable"
    rows: tuple[ViewRow, ...]


def _views(s: State) -> list[dict[str, str]]:
    return [*(view_fields(v) for v in s.view), view_fields(s.durable)]


def _header(s: State, n: int) -> str:
    name = node_name(n)
    return f"{name} @{s.cursor[n]}" if isinstance(s.view[n], GroupState) else f"{name} {PHASE_NAMES[s.phase[n]]}"


def view_table(before: State | None, after: State, full: bool) -> ViewTable | None:
    """The member views after a step; None when the step changed no view or cursor."""
    now = _views(after)
    old = _views(before) if before is not None else now
    if not full and before is not None and now == old and before.cursor == after.cursor:
        return None
    holders = [n for n, v in enumerate(after.view) if isinstance(v, GroupState)]
    rows = []
    for field in now[-1]:  # the durable state always has every field
        cells = tuple(view.get(field, "") for view in now)
        # A view that disappears (crash, rejection) shows in the header, not as changed rows.
        changed = tuple(cells[i] != "" and view.get(field, "") != cells[i] for i, view in enumerate(old))
        lag = len({cells[n] for n in holders}) > 1
        if full or any(changed) or lag:
            rows.append(ViewRow(field, cells, changed, lag))
    headers = (*(_header(after, n) for n in range(len(after.view))), "durable")
    return ViewTable(headers, tuple(rows))


def format_view_table(table: ViewTable, indent: str) -> list[str]:
    grid = [("views (* changed)", *table.headers)]
    for row in table.rows:
        cells = (
            (cell or "-") + (CHANGED if changed else "") for cell, changed in zip(row.cells, row.changed, strict=True)
        )
        grid.append((row.field, *cells))
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in grid]


def is_view_line(line: str) -> bool:
    return line.startswith(("view[", "durable"))


def step_label(step: Step) -> str:
    """`Deliver(n=n1)`; a step whose source named no parameters that fit shows `Deliver(?)`."""
    return step.label() if step.params else f"{step.action}(?)"


def delivered_note(before: State, step: Step) -> str:
    """Which ordered message a Deliver step delivers, if the step is possible at all."""
    n = dict(step.params).get("n", -1)
    if step.action != "Deliver" or not 0 <= n < len(before.cursor) or before.cursor[n] >= len(before.log):
        return ""
    return delivered_message(before, step)


def constants_line(p: Params) -> str:
    return (
        f"Node = {p.nodes} nodes, NumRes = {p.resources}, MaxFailures = {p.max_failures}, "
        f"MaxRestarts = {p.max_restarts}, MaxConfigChanges = {p.max_config_changes}, MaxWrites = {p.max_writes}"
        + (f", MaxResourceFailures = {p.max_resource_failures}" if p.max_resource_failures else "")
    )


def format_text(trace: Trace, full: bool = False) -> str:
    """Numbered steps; with full, whole states instead of changes."""
    indent = " " * 7
    out: list[str] = []
    previous: dict[str, str] = {}
    for i, step in enumerate(trace.steps):
        flat = flatten(step.state)
        before = trace.steps[i - 1].state if i else None
        head = "Initial state" if before is None else step_label(step)
        note = delivered_note(before, step) if before is not None else ""
        out.append(f"{i:>3}. {head}{note}")
        lines = [f"{k} = {v}" for k, v in flat.items()] if full or before is None else diff(previous, flat)
        out.extend(indent + line for line in lines if not is_view_line(line))
        table = view_table(before, step.state, full or before is None)
        if table is not None:
            out.extend(format_view_table(table, indent))
        previous = flat
    return "\n".join(out)
