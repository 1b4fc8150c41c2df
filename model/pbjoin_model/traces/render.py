"""Readable and machine-readable renderings of states and traces.

A state is flattened into `path -> value` lines using the spec's variable names
and TLA+-like value syntax (`{r1, r2}`, `<<n1, n2>>`); a trace step then shows only
the lines that changed. `state_to_json` gives the whole state with the spec's
string enumerations, for `--json`.
"""

from __future__ import annotations

from typing import Any

from pbjoin_model.protocol.machine import (
    ACCESS,
    CONFIG,
    DATA_NAMES,
    GROUP_STATE,
    MIRROR_ACTIVE,
    MIRROR_NAMES,
    MSG_NAMES,
    P2P,
    P2P_NAMES,
    PHASE_NAMES,
    RES_FAIL,
    RES_REPAIR,
    START_MIRROR,
    STATUS_NAMES,
    WRITE,
    WRITE_STATUS_NAMES,
    DataMsg,
    GroupState,
    Msg,
    State,
    Step,
    View,
    WriteRec,
    bits,
    node_name,
    node_or_res_name,
    res_name,
)


def rset_str(mask: int) -> str:
    return "{" + ", ".join(res_name(r) for r in bits(mask)) + "}"


def msg_str(m: Msg) -> str:
    name = MSG_NAMES[m.kind]
    if m.kind == ACCESS:
        return f"{name}({node_name(m.node)}, {rset_str(m.rset)})"
    if m.kind in (MIRROR_ACTIVE, RES_FAIL, RES_REPAIR):
        round_ = f" round {m.ver}" if m.ver else ""
        return f"{name}({node_name(m.node)}, {res_name(m.res)}{round_})"
    return f"{name}({node_name(m.node)})"


def p2p_str(m: P2P) -> str:
    name = P2P_NAMES[m.kind]
    if m.kind == GROUP_STATE:
        return f"{name}(@{m.cur})"
    after = f" @{m.cur}" if m.cur > 0 else ""  # taken once the receiver has delivered that far
    if m.kind == CONFIG:
        return f"{name}({res_name(m.res)}, v{m.ver}{after})"
    assert m.kind == START_MIRROR
    if m.ver:  # the mirroring round, after a resource failure
        after = f" round {m.ver}{after}"
    if m.ep:  # the resynchronisation the data path adds
        return f"{name}({res_name(m.res)}, {writes_str(m.data)} e{m.ep}{after})"
    return f"{name}({res_name(m.res)}{after})"


def write_name(w: int) -> str:
    """w1, w2, ... in submission order; a negative number is a write no client submitted."""
    return f"w{w + 1}" if w >= 0 else "w?"


def writes_str(copy: tuple[int, ...]) -> str:
    return seq_str([write_name(w) for w in copy])


def data_msg_str(m: DataMsg) -> str:
    if m.kind == WRITE:
        after = f" @{m.cur}" if m.cur > 0 else ""
        return f"WRITE({write_name(m.w)} #{m.pos} e{m.ep} for {res_name(m.res)}{after})"
    return f"{DATA_NAMES[m.kind]}({write_name(m.w)}, {res_name(m.res)})"


def write_rec_str(x: WriteRec) -> str:
    if x.by < 0:
        return WRITE_STATUS_NAMES[x.st]
    wait = f" waits {rset_str(x.wait)}" if x.wait else ""
    return f"{WRITE_STATUS_NAMES[x.st]} by {node_name(x.by)} #{x.pos} e{x.ep}{wait}"


def seq_str(items: list[str]) -> str:
    return "<<" + ", ".join(items) + ">>"


def _flatten_view(prefix: str, gs: View, out: dict[str, str]) -> None:
    if not isinstance(gs, GroupState):
        out[prefix] = "NoView"
        return
    out[f"{prefix}.prim"] = res_name(gs.prim)
    for r in range(len(gs.sub)):
        out[f"{prefix}.sub[{res_name(r)}]"] = seq_str([node_name(x) for x in gs.sub[r]])
        out[f"{prefix}.host[{res_name(r)}]"] = node_name(gs.host[r])
        out[f"{prefix}.mirror[{res_name(r)}]"] = MIRROR_NAMES[gs.mirror[r]]
    for n in range(len(gs.status)):
        out[f"{prefix}.status[{node_name(n)}]"] = STATUS_NAMES[gs.status[n]]
        out[f"{prefix}.acc[{node_name(n)}]"] = rset_str(gs.acc[n])
        out[f"{prefix}.inc[{node_name(n)}]"] = str(gs.inc[n])
    if gs.lost:  # resources whose failure the group has delivered
        out[f"{prefix}.lost"] = rset_str(gs.lost)
    for r, count in enumerate(gs.rounds):
        if count:
            out[f"{prefix}.rounds[{res_name(r)}]"] = str(count)


def view_fields(gs: View) -> dict[str, str]:
    """The fields of one group state as `field -> value` text; empty for no view."""
    out: dict[str, str] = {}
    if isinstance(gs, GroupState):
        _flatten_view("", gs, out)
    return {key[1:]: value for key, value in out.items()}


def flatten(s: State) -> dict[str, str]:
    """Every leaf of the state as `path -> value` text, in a stable order."""
    out: dict[str, str] = {}
    nodes = range(len(s.phase))
    for n in nodes:
        out[f"access[{node_name(n)}]"] = rset_str(s.access[n])
    for n in nodes:
        out[f"phase[{node_name(n)}]"] = PHASE_NAMES[s.phase[n]]
    for n in nodes:
        out[f"cursor[{node_name(n)}]"] = str(s.cursor[n])
    out["log"] = seq_str([msg_str(m) for m in s.log])
    for i, q in enumerate(s.chan):
        src, dst = divmod(i, len(s.phase))
        if q:
            out[f"chan[{node_name(src)}->{node_name(dst)}]"] = seq_str([p2p_str(m) for m in q])
    for n in nodes:
        for r, v in enumerate(s.cfg[n]):
            out[f"cfg[{node_name(n)}][{res_name(r)}]"] = str(v)
    for r, v in enumerate(s.resVer):
        out[f"resVer[{res_name(r)}]"] = str(v)
    for r, b in enumerate(s.dataCurrent):
        out[f"dataCurrent[{res_name(r)}]"] = "TRUE" if b else "FALSE"
    out["crashes"] = str(s.crashes)
    out["restarts"] = str(s.restarts)
    out["cfgChanges"] = str(s.cfgChanges)
    if s.resFailures:  # resource failures, once one has happened
        out["broken"] = rset_str(s.broken)
        out["resFailures"] = str(s.resFailures)
    for n in nodes:
        out[f"inc[{node_name(n)}]"] = str(s.inc[n])
    for n in nodes:
        _flatten_view(f"view[{node_name(n)}]", s.view[n], out)
    _flatten_view("durable", s.durable, out)
    if s.writes:  # the data path, when the configuration has writes
        for r, copy in enumerate(s.data):
            out[f"data[{res_name(r)}]"] = writes_str(copy)
            out[f"fence[{res_name(r)}]"] = str(s.fence[r])
        for n in nodes:
            out[f"epoch[{node_name(n)}]"] = str(s.epoch[n])
        for i, dq in enumerate(s.dchan):
            src, dst = divmod(i, len(s.phase))
            if dq:
                out[f"dchan[{node_name(src)}->{node_name(dst)}]"] = seq_str([data_msg_str(m) for m in dq])
        for w, x in enumerate(s.writes):
            out[f"writes[{write_name(w)}]"] = write_rec_str(x)
        for n in nodes:
            if isinstance(s.stale[n], GroupState):
                _flatten_view(f"stale[{node_name(n)}]", s.stale[n], out)
    return out


def diff(before: dict[str, str], after: dict[str, str]) -> list[str]:
    lines = []
    for key, value in after.items():
        old = before.get(key)
        if old != value:
            lines.append(f"{key} = {value}" if old is None else f"{key}: {old} -> {value}")
    lines.extend(f"{key} (gone, was {value})" for key, value in before.items() if key not in after)
    return lines


def format_trace(trace: list[Step], full: bool = False, first: int | None = None) -> str:
    """Numbered steps: action with parameters, then changed (or all) variables.

    With `first`, the trace continues an earlier one: trace[0] is that trace's last
    state (not printed) and the steps are numbered from first + 1.
    """
    out: list[str] = []
    previous: dict[str, str] = flatten(trace[0].state) if first is not None else {}
    for i, step in enumerate(trace):
        if first is not None and i == 0:
            continue
        flat = flatten(step.state)
        head = "Initial state" if step.action == "Init" else step.label()
        note = delivered_message(trace[i - 1].state, step) if i else ""
        number = i if first is None else first + i
        out.append(f"{number:>3}. {head}{note}")
        lines = [f"{k} = {v}" for k, v in flat.items()] if full or number == 0 else diff(previous, flat)
        out.extend(f"       {line}" for line in lines)
        previous = flat
    return "\n".join(out)


def delivered_message(before: State, step: Step) -> str:
    """For Deliver steps, which ordered message was delivered."""
    if step.action != "Deliver":
        return ""
    n = dict(step.params)["n"]
    return f"  -- delivers {msg_str(before.log[before.cursor[n]])}"


def _view_json(gs: View) -> Any:
    if not isinstance(gs, GroupState):
        return None
    return {
        "prim": res_name(gs.prim),
        "sub": {res_name(r): [node_name(x) for x in m] for r, m in enumerate(gs.sub)},
        "host": {res_name(r): node_name(h) for r, h in enumerate(gs.host)},
        "mirror": {res_name(r): MIRROR_NAMES[v] for r, v in enumerate(gs.mirror)},
        "status": {node_name(n): STATUS_NAMES[v] for n, v in enumerate(gs.status)},
        "acc": {node_name(n): [res_name(r) for r in bits(a)] for n, a in enumerate(gs.acc)},
        "inc": {node_name(n): i for n, i in enumerate(gs.inc)},
        **({"lost": [res_name(r) for r in bits(gs.lost)]} if gs.lost else {}),
        **({"rounds": {res_name(r): c for r, c in enumerate(gs.rounds)}} if any(gs.rounds) else {}),
    }


def _msg_json(m: Msg) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": MSG_NAMES[m.kind], "node": node_name(m.node), "inc": m.inc}
    if m.kind == ACCESS:
        out["rset"] = [res_name(r) for r in bits(m.rset)]
        if m.res >= 0:  # the host claim of mutant host-chosen-by-lagging-view (replay needs it)
            out["claim"] = m.res
    if m.kind in (MIRROR_ACTIVE, RES_FAIL, RES_REPAIR):
        out["res"] = res_name(m.res)
    if m.ver:
        out["ver"] = m.ver
    return out


def _p2p_json(m: P2P) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": P2P_NAMES[m.kind], "cur": m.cur}
    if m.kind == GROUP_STATE:
        out["gs"] = _view_json(m.gs)
    else:
        out["res"] = res_name(m.res)
    if m.kind == CONFIG or (m.kind == START_MIRROR and m.ver):
        out["ver"] = m.ver
    if m.kind == START_MIRROR and m.ep:
        out["data"] = [write_name(w) for w in m.data]
        out["ep"] = m.ep
    return out


def _data_msg_json(m: DataMsg) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": DATA_NAMES[m.kind], "w": write_name(m.w), "res": res_name(m.res)}
    if m.kind == WRITE:
        out.update(pos=m.pos, ep=m.ep, cur=m.cur)
    return out


def state_to_json(s: State) -> dict[str, Any]:
    nodes = range(len(s.phase))
    return {
        "access": {node_name(n): [res_name(r) for r in bits(s.access[n])] for n in nodes},
        "phase": {node_name(n): PHASE_NAMES[s.phase[n]] for n in nodes},
        "cursor": {node_name(n): s.cursor[n] for n in nodes},
        "view": {node_name(n): _view_json(s.view[n]) for n in nodes},
        "log": [_msg_json(m) for m in s.log],
        "chan": {
            f"{node_name(i // len(s.phase))}->{node_name(i % len(s.phase))}": [_p2p_json(m) for m in q]
            for i, q in enumerate(s.chan)
            if q
        },
        "cfg": {node_name(n): {res_name(r): v for r, v in enumerate(s.cfg[n])} for n in nodes},
        "resVer": {res_name(r): v for r, v in enumerate(s.resVer)},
        "dataCurrent": {res_name(r): b for r, b in enumerate(s.dataCurrent)},
        "crashes": s.crashes,
        "restarts": s.restarts,
        "cfgChanges": s.cfgChanges,
        "durable": _view_json(s.durable),
        "inc": {node_name(n): s.inc[n] for n in nodes},
        **(_data_path_json(s) if s.writes else {}),
        **({"broken": [res_name(r) for r in bits(s.broken)], "resFailures": s.resFailures} if s.resFailures else {}),
    }


def _data_path_json(s: State) -> dict[str, Any]:
    nodes = range(len(s.phase))
    return {
        "data": {res_name(r): [write_name(w) for w in copy] for r, copy in enumerate(s.data)},
        "fence": {res_name(r): f for r, f in enumerate(s.fence)},
        "epoch": {node_name(n): s.epoch[n] for n in nodes},
        "stale": {node_name(n): _view_json(s.stale[n]) for n in nodes},
        "dchan": {
            f"{node_name(i // len(s.phase))}->{node_name(i % len(s.phase))}": [_data_msg_json(m) for m in q]
            for i, q in enumerate(s.dchan)
            if q
        },
        "writes": {
            write_name(w): {
                "st": WRITE_STATUS_NAMES[x.st],
                "by": node_name(x.by),
                "pos": x.pos,
                "ep": x.ep,
                "wait": [res_name(r) for r in bits(x.wait)],
            }
            for w, x in enumerate(s.writes)
        },
    }


def trace_to_json(trace: list[Step]) -> list[dict[str, Any]]:
    return [
        {
            "step": i,
            "action": step.action,
            "params": {k: node_or_res_name(k, v) for k, v in step.params},
            "state": state_to_json(step.state),
        }
        for i, step in enumerate(trace)
    ]
