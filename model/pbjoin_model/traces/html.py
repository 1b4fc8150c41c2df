"""A trace as one self-contained HTML page: message-sequence chart and step slider.

The chart has one lane per node and one row per step. Ordered messages are a dot on
the sender's lane where they are multicast and an arrow to every member at the step
where that member delivers them, so lagging deliveries are visibly later; point-to-
point messages are arrows from send to receipt, and those lost with a crashed node
end in a cross. The slider (or a click on a row, or the arrow keys) selects a step
and shows the group state each node holds then, changed cells and disagreeing rows
highlighted, and the invariants that state violates. CSS, script and data are all
inline, so the page works offline and can be attached to a review as one file.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import DOWN, OUT, PHASE_NAMES, GroupState, State, Step, node_name
from pbjoin_model.traces.render import diff, flatten, msg_str, p2p_str
from pbjoin_model.traces.text import constants_line, delivered_note, is_view_line, step_label, view_table
from pbjoin_model.traces.trace import Trace

LANE_GAP = 170
ROW_H = 34
LEFT = 300  # room for the step labels
TOP = 50


@dataclass(frozen=True)
class Arrow:
    kind: str  # "ordered" or "p2p"
    label: str
    src: int  # lane (node) of the sender
    sent: int  # step that sent it
    dst: int
    received: int  # step that delivered it, or that lost it
    lost: bool = False


@dataclass(frozen=True)
class Mark:
    kind: str  # "multicast", "crash", "restart"
    lane: int
    step: int
    label: str


@dataclass
class Chart:
    arrows: list[Arrow] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)


def _dropped(before: State, step: Step) -> int:
    """How many messages the step's compaction cut from the head of the log."""
    after = step.state
    actor = dict(step.params).get("n", -1)
    for m, view in enumerate(after.view):
        if isinstance(before.view[m], GroupState) and isinstance(view, GroupState):
            # Compaction lowers every holder's cursor by the number of messages cut.
            delivered = 1 if step.action == "Deliver" and m == actor else 0
            return max(0, min(len(before.log), before.cursor[m] + delivered - after.cursor[m]))
    # Nobody held a view across the step: the kept suffix is where the logs overlap,
    # with at most the one message this step multicast after it.
    for k in range(len(before.log) + 1):
        kept = before.log[k:]
        if after.log[: len(kept)] == kept and len(after.log) - len(kept) <= 1:
            return k
    return len(before.log)


def chart(trace: Trace) -> Chart:
    """The messages and failures of a trace, as arrows and marks between lanes."""
    out = Chart()
    n = trace.params.nodes
    base = 0  # stream position of log[0]: messages compacted away so far
    multicast: dict[int, tuple[int, int, str]] = {}  # stream position -> (step, sender, label)
    queues: list[list[tuple[int, int, str]]] = [[] for _ in range(n * n)]  # per channel: (step, src, label)
    for i in range(1, len(trace.steps)):
        before, step = trace.steps[i - 1].state, trace.steps[i]
        after, params = step.state, dict(step.params)
        actor = params.get("n", -1)  # -1: a step whose parameters no source could tell
        if step.action == "Deliver" and actor >= 0 and before.cursor[actor] < len(before.log):
            sent = multicast.get(base + before.cursor[actor])
            if sent is not None:
                out.arrows.append(Arrow("ordered", sent[2], sent[1], sent[0], actor, i))
        if step.action == "Crash" and actor >= 0:
            out.marks.append(Mark("crash", actor, i, "crash"))
            for c, queue in enumerate(queues):
                if actor in divmod(c, n):
                    out.arrows.extend(Arrow("p2p", lbl, src, s, c % n, i, lost=True) for s, src, lbl in queue)
                    queue.clear()
        if step.action == "Restart" and actor >= 0:
            out.marks.append(Mark("restart", actor, i, "restart"))
        if step.action.startswith("Receive") and "src" in params and actor >= 0:
            queue = queues[params["src"] * n + actor]
            if queue:
                s, src, lbl = queue.pop(0)
                out.arrows.append(Arrow("p2p", lbl, src, s, actor, i))
        dropped = _dropped(before, step)
        kept = len(before.log) - dropped
        base += dropped
        for j, m in enumerate(after.log[kept:], start=kept):
            multicast[base + j] = (i, m.node, msg_str(m))
            out.marks.append(Mark("multicast", m.node, i, msg_str(m)))
        for c, queue in enumerate(queues):
            del queue[len(after.chan[c]) :]  # only if the trace is inconsistent
            queue.extend((i, c // n, p2p_str(m)) for m in after.chan[c][len(queue) :])
    return out


# ---------------------------------------------------------------- SVG


def _x(lane: int) -> int:
    return LEFT + 60 + lane * LANE_GAP


def _y(step: int) -> int:
    return TOP + step * ROW_H + ROW_H // 2


def _text(x: float, y: float, text: str, cls: str, anchor: str = "start") -> str:
    return f'<text x="{x:.0f}" y="{y:.0f}" class="{cls}" text-anchor="{anchor}">{html.escape(text)}</text>'


def _svg(trace: Trace, ch: Chart, violations: list[list[str]]) -> str:
    n, steps = trace.params.nodes, len(trace.steps)
    width, height = _x(n - 1) + 200, TOP + steps * ROW_H + 20
    parts = [
        f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="message sequence chart">',
        '<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
    ]
    for i in range(steps):
        cls = "row bad" if violations[i] else "row"
        parts.append(
            f'<rect class="{cls}" data-step="{i}" x="0" y="{TOP + i * ROW_H}" width="{width}" height="{ROW_H}"/>'
        )
    parts.append(f'<rect id="cursor" x="0" y="{TOP}" width="{width}" height="{ROW_H}" class="cursor"/>')
    for i, step in enumerate(trace.steps):
        label = "Initial state" if i == 0 else step_label(step)
        parts.append(_text(8, _y(i) + 4, f"{i}. {label}", "steplabel"))
    for lane in range(n):
        parts.append(_text(_x(lane), TOP - 18, node_name(lane), "lanename", "middle"))
        for i, step in enumerate(trace.steps):
            phase = step.state.phase[lane]
            y0, y1 = TOP + i * ROW_H, TOP + (i + 1) * ROW_H
            cls = "lane down" if phase == DOWN else "lane out" if phase == OUT else "lane"
            parts.append(f'<line class="{cls}" x1="{_x(lane)}" y1="{y0}" x2="{_x(lane)}" y2="{y1}"/>')
            if i == 0 or trace.steps[i - 1].state.phase[lane] != phase:
                parts.append(_text(_x(lane) - 6, y0 + 11, PHASE_NAMES[phase], "phase", "end"))
    for a in ch.arrows:
        x1, y1, x2, y2 = _x(a.src), _y(a.sent), _x(a.dst), _y(a.received)
        cls = f"arrow {a.kind}" + (" lost" if a.lost else "")
        if a.src == a.dst:  # a node delivering its own message: a loop to the right of its lane
            path = f"M{x1},{y1} C{x1 + 60},{y1} {x2 + 60},{y2} {x2 + 4},{y2}"
        else:
            path = f"M{x1},{y1} L{x2 + (6 if x2 < x1 else -6)},{y2}"
        end = "" if a.lost else ' marker-end="url(#head)"'
        parts.append(f'<path class="{cls}" d="{path}"{end}><title>{html.escape(a.label)}</title></path>')
        if a.lost:
            parts.append(_text(x2, y2 + 5, "✕", "lostmark", "middle"))
        if a.kind == "p2p":
            parts.append(_text((x1 + x2) / 2 + 4, (y1 + y2) / 2 - 3, a.label, "msglabel p2plabel"))
    for m in ch.marks:
        x, y = _x(m.lane), _y(m.step)
        if m.kind == "multicast":
            parts.append(f'<circle class="send" cx="{x}" cy="{y}" r="4"><title>{html.escape(m.label)}</title></circle>')
            parts.append(_text(x + 8, y - 6, m.label, "msglabel"))
        elif m.kind == "crash":
            parts.append(_text(x, y + 6, "✕", "crash", "middle"))
        else:
            parts.append(_text(x + 8, y + 4, "↻ restart", "restart"))
    parts.append("</svg>")
    return "\n".join(parts)


# ---------------------------------------------------------------- page


def _step_data(trace: Trace, violations: list[list[str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    previous: dict[str, str] = {}
    for i, step in enumerate(trace.steps):
        before = trace.steps[i - 1].state if i else None
        flat = flatten(step.state)
        changes = [line for line in diff(previous, flat) if not is_view_line(line)] if i else []
        table = view_table(before, step.state, full=True)
        assert table is not None  # full tables are always built
        out.append(
            {
                "label": "Initial state" if before is None else step_label(step),
                "note": delivered_note(before, step).strip(" -") if before is not None else "",
                "changes": changes,
                "headers": list(table.headers),
                "rows": [[r.field, list(r.cells), list(r.changed), r.lag] for r in table.rows],
                "violations": violations[i],
            }
        )
        previous = flat
    return out


def violations_per_step(trace: Trace) -> list[list[str]]:
    return [[name for name, inv in INVARIANTS if not inv(step.state, trace.params)] for step in trace.steps]


def render_html(trace: Trace) -> str:
    """The whole page for one trace."""
    violations = violations_per_step(trace)
    if trace.violated and trace.violated not in violations[-1]:
        violations[-1] = [*violations[-1], trace.violated]  # e.g. Deadlock, which no predicate states
    first_bad = next((i for i, v in enumerate(violations) if v), None)
    p = trace.params
    title = (
        f"pbjoin trace: {trace.violated} violated" if trace.violated else f"pbjoin trace: {len(trace.steps) - 1} steps"
    )
    if first_bad is None:
        banner = '<p class="banner ok">No invariant is violated along this trace.</p>'
    else:
        names = ", ".join(violations[first_bad])
        banner = f'<p class="banner">Violated: <b>{html.escape(names)}</b> at step {first_bad}.</p>'
    data = json.dumps(_step_data(trace, violations)).replace("</", "<\\/")
    return _PAGE.format(
        title=html.escape(title),
        source=html.escape(trace.source or "unknown"),
        constants=html.escape(constants_line(p)),
        mutant=html.escape(p.mutant.value),
        banner=banner,
        last=len(trace.steps) - 1,
        svg=_svg(trace, chart(trace), violations),
        data=data,
        css=_CSS,
        js=_JS,
    )


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; color: #1d2330; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
.meta { color: #555; margin: 0 0 8px; }
.banner { background: #fde2e1; border-left: 5px solid #c62828; padding: 6px 10px; margin: 8px 0; }
.banner.ok { background: #e3f4e4; border-color: #2e7d32; }
.controls { display: flex; gap: 8px; align-items: center; margin: 8px 0; }
#step { width: 360px; }
.layout { display: flex; gap: 24px; align-items: flex-start; flex-wrap: wrap; }
.chartbox { overflow: auto; max-height: 85vh; border: 1px solid #ddd; }
.row { fill: transparent; cursor: pointer; }
.row:hover { fill: #f2f5fb; }
.row.bad { fill: #fdecea; }
.cursor { fill: #ffd54f; fill-opacity: 0.45; pointer-events: none; }
.steplabel { font: 12px ui-monospace, monospace; fill: #1d2330; pointer-events: none; }
.lanename { font-weight: bold; }
.lane { stroke: #39465e; stroke-width: 2; }
.lane.out { stroke: #c3c8d2; }
.lane.down { stroke: #c62828; stroke-dasharray: 4 4; }
.phase { font-size: 10px; fill: #7a8294; }
.arrow { fill: none; stroke-width: 1.5; }
.arrow.ordered { stroke: #1565c0; }
.arrow.p2p { stroke: #2e7d32; }
.arrow.lost { stroke: #c62828; stroke-dasharray: 5 3; }
.send { fill: #1565c0; }
.msglabel { font: 10px ui-monospace, monospace; fill: #1565c0; }
.p2plabel { fill: #2e7d32; }
.crash, .lostmark { fill: #c62828; font-size: 18px; font-weight: bold; }
.restart { fill: #6a1b9a; font-size: 11px; }
#panel { flex: 1; min-width: 420px; }
#panel h2 { font-size: 16px; margin: 0 0 6px; }
#violations { color: #c62828; font-weight: bold; }
#changes { font: 12px ui-monospace, monospace; background: #f6f7f9; padding: 6px; white-space: pre-wrap; }
table { border-collapse: collapse; font: 12px ui-monospace, monospace; }
th, td { border: 1px solid #d5d9e0; padding: 2px 6px; text-align: left; }
td.changed { background: #fff3b0; font-weight: bold; }
tr.lag td:first-child { border-left: 4px solid #ef6c00; }
td.noview { color: #aaa; }
.legend { color: #555; font-size: 12px; }
"""

_JS = """
(function () {
  "use strict";
  var steps = JSON.parse(document.getElementById("trace-data").textContent);
  var slider = document.getElementById("step");
  var cursor = document.getElementById("cursor");
  var rows = document.querySelectorAll(".row");
  function cell(tag, text, cls) {
    var el = document.createElement(tag);
    el.textContent = text;
    if (cls) { el.className = cls; }
    return el;
  }
  function render(i) {
    var s = steps[i];
    slider.value = String(i);
    document.getElementById("step-title").textContent =
      "Step " + i + " of " + (steps.length - 1) + ": " + s.label + (s.note ? "  (" + s.note + ")" : "");
    document.getElementById("violations").textContent =
      s.violations.length ? "Violates " + s.violations.join(", ") : "";
    document.getElementById("changes").textContent = s.changes.length ? s.changes.join("\\n") : "(no change)";
    var table = document.getElementById("views");
    table.replaceChildren();
    var head = document.createElement("tr");
    head.appendChild(cell("th", "field"));
    s.headers.forEach(function (h) { head.appendChild(cell("th", h)); });
    table.appendChild(head);
    s.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      if (row[3]) { tr.className = "lag"; }
      tr.appendChild(cell("td", row[0]));
      row[1].forEach(function (v, k) {
        tr.appendChild(cell("td", v === "" ? "-" : v, row[2][k] ? "changed" : (v === "" ? "noview" : "")));
      });
      table.appendChild(tr);
    });
    cursor.setAttribute("y", rows[i].getAttribute("y"));
  }
  slider.addEventListener("input", function () { render(Number(slider.value)); });
  rows.forEach(function (row) {
    row.addEventListener("click", function () { render(Number(row.getAttribute("data-step"))); });
  });
  document.addEventListener("keydown", function (e) {
    if (e.target === slider) { return; }  // the slider moves itself on arrow keys
    var i = Number(slider.value);
    if (e.key === "ArrowRight" && i < steps.length - 1) { render(i + 1); }
    if (e.key === "ArrowLeft" && i > 0) { render(i - 1); }
  });
  render(0);
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<h1>{title}</h1>
<p class="meta">source {source} &middot; {constants} &middot; mutant {mutant}</p>
{banner}
<div class="controls">
  <label for="step">step</label>
  <input type="range" id="step" min="0" max="{last}" value="0">
  <span class="legend">arrow keys or a click on a row also move; blue: ordered messages (dot = multicast),
  green: point-to-point, red dashed: lost</span>
</div>
<div class="layout">
<div class="chartbox">
{svg}
</div>
<div id="panel">
  <h2 id="step-title"></h2>
  <p id="violations"></p>
  <div id="changes"></div>
  <h2>Group state held by each node</h2>
  <p class="legend">columns: nodes with their cursor (@k: ordered messages delivered) or phase, and the
  durable state; yellow: changed by this step; orange edge: members disagree (lag)</p>
  <table id="views"></table>
</div>
</div>
<script id="trace-data" type="application/json">{data}</script>
<script>{js}</script>
</body>
</html>
"""
