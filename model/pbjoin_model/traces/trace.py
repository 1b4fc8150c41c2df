"""One trace model for every source, and its ITF and checker-JSON forms.

A `Trace` is the constants it runs under (mutant included) and a list of the
model's `Step`s, the first an "Init" step; every source becomes one: the explicit
checker's counterexample, `pbjoin check --json` reports, ITF files and TLC output
(`traces.tlc_trace`).

ITF (the Informal Trace Format of Apalache and Quint, ADR-015) is written and read
with the `itf-py` library. Each ITF state holds exactly the spec's variables with the
values TLC would print for them (`protocol.spec_state`), so a state in an ITF file is a
state of spec/JoinProtocol.tla. The action taken into a state and its parameters are
in that state's `#meta` (`{"index": 3, "action": "Deliver", "params": {"n": "n1"}}`),
not in extra variables as Quint's `mbt::actionTaken`: `vars` then lists the spec's
variables and nothing else, and a tool comparing the states with the spec sees no
variable the spec does not have. The trace's `#meta` records the constants in TLA+
syntax (`"Node": "{n1, n2}"`), the mutant and the violated invariant, all as strings
so that every ITF reader (itf-rs reads `#meta` as string values) accepts the file.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import itf_py

from pbjoin_model.protocol.config import params_from_constants
from pbjoin_model.protocol.machine import (
    ACTION_NAMES,
    DATA_PATH_VARIABLES,
    RESOURCE_FAILURE_VARIABLES,
    VARIABLES,
    Mutant,
    Params,
    State,
    Step,
    initial_state,
    successors,
)
from pbjoin_model.protocol.spec_state import (
    NO_NODE_VALUE,
    NO_VIEW_VALUE,
    TraceError,
    decode_node,
    decode_res,
    decode_state,
    spec_state,
)
from pbjoin_model.protocol.tla_values import Fn, ModelValue, Record, TlaSyntaxError, Value, parse_value, show

INIT = "Init"
ITF_FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
CONSTANTS = ("Node", "NumRes", "MaxFailures", "MaxRestarts", "MaxConfigChanges", "MaxWrites", "MaxResourceFailures")
# Traces written before the data path (or resource failures) record no MaxWrites
# (MaxResourceFailures): theirs was 0.
OPTIONAL_CONSTANTS = {"MaxWrites": "0", "MaxResourceFailures": "0"}

# The parameters of each action, as `successors` names them.
ACTION_PARAMS: dict[str, tuple[str, ...]] = {
    "Join": ("n",),
    "RecoverGroupState": ("n",),
    "Deliver": ("n",),
    "Crash": ("n",),
    "Restart": ("n",),
    "ChangeConfig": ("n", "r"),
    "ReceiveGroupState": ("src", "n"),
    "ReceiveConfig": ("src", "n"),
    "ReceiveStartMirror": ("src", "n"),
    "Write": ("n",),
    "Pause": ("n",),
    "ReceiveWrite": ("src", "n"),
    "ReceiveAck": ("src", "n"),
    "FailResource": ("r",),
    "RepairResource": ("r",),
    "ReportFailure": ("n", "r"),
    "ReportRepair": ("n", "r"),
}
assert set(ACTION_PARAMS) == set(ACTION_NAMES)


@dataclass(frozen=True)
class Trace:
    """A behaviour of the model: constants, then steps from an initial state."""

    params: Params
    steps: tuple[Step, ...]  # steps[0] is the "Init" step
    violated: str | None = None  # what the source says the last state violates
    source: str = ""  # who produced it: "pbjoin check", "TLC", ...


def infer_step(before: State, action: str | None, after: State, p: Params) -> Step | None:
    """The enabled action instance (of `action`, or any) that leads from before to after.

    TLC names only the action of a step, and a foreign ITF trace may name none; the
    parameters are those of the instance whose successor is the recorded state.
    """
    for step in successors(before, p):
        if (action is None or step.action == action) and step.state == after:
            return step
    return None


# ---------------------------------------------------------------- constants


def constants_meta(p: Params) -> dict[str, str]:
    """The constants as TLA+ text, as in a .cfg file."""
    return {
        "Node": "{" + ", ".join(f"n{i + 1}" for i in range(p.nodes)) + "}",
        "NumRes": str(p.resources),
        "MaxFailures": str(p.max_failures),
        "MaxRestarts": str(p.max_restarts),
        "MaxConfigChanges": str(p.max_config_changes),
        "MaxWrites": str(p.max_writes),
        "MaxResourceFailures": str(p.max_resource_failures),
    }


def mutant_of(name: object) -> Mutant:
    try:
        return Mutant(name)
    except (ValueError, TypeError):
        raise TraceError(f"unknown mutant {name!r} (see pbjoin check --list-mutants)") from None


def _params_from_meta(meta: Mapping[str, Any], fallback: Params | None) -> Params:
    mutant = mutant_of(meta.get("mutant", Mutant.NONE.value))
    if not any(c in meta for c in CONSTANTS):
        if fallback is None:
            raise TraceError("the trace records no constants (Node, NumRes, ...) in its #meta; pass --config")
        return dataclasses.replace(fallback, mutant=mutant)
    values: dict[str, Value] = {}
    for name in CONSTANTS:
        text = meta.get(name, OPTIONAL_CONSTANTS.get(name))
        if not isinstance(text, str):
            raise TraceError(f"#meta.{name}: expected the constant's value as TLA+ text, got {text!r}")
        try:
            values[name] = parse_value(text)
        except TlaSyntaxError as exc:
            raise TraceError(f"#meta.{name}: {exc}") from None
    nodes = values["Node"]
    if not isinstance(nodes, frozenset) or {show(n) for n in nodes} != {f"n{i + 1}" for i in range(len(nodes))}:
        raise TraceError(f"#meta.Node: expected the model values {{n1, ..., nN}}, got {meta['Node']!r}")
    numbers: dict[str, int] = {}
    for name in CONSTANTS[1:]:
        v = values[name]
        if isinstance(v, bool) or not isinstance(v, int):
            raise TraceError(f"#meta.{name}: expected a natural number, got {meta[name]!r}")
        numbers[name] = v
    try:
        params = params_from_constants(len(nodes), numbers, mutant)
    except ValueError as exc:
        raise TraceError(f"#meta: {exc}") from None
    return dataclasses.replace(params, compact_log=meta.get("log_compaction", True) is not False)


# ---------------------------------------------------------------- ITF


@functools.cache
def _record_type(fields: tuple[str, ...]) -> Callable[..., Any]:
    # itf-py writes a namedtuple as an ITF record (and reads records back as such).
    return collections.namedtuple("Rec", fields)


def to_itf_value(v: Value, key: bool = False) -> Any:
    """A spec value in itf-py's Python representation.

    Sequences are ITF lists, except function arguments, which are tuples (`#tup`),
    as Apalache types `chan`'s domain Node \\X Node.
    """
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, ModelValue):
        return v.name
    if isinstance(v, tuple):
        return tuple(to_itf_value(x, key) for x in v) if key else [to_itf_value(x) for x in v]
    if isinstance(v, frozenset):
        return frozenset(to_itf_value(x, key=True) for x in v)
    if isinstance(v, Record):
        return _record_type(tuple(v))(*(to_itf_value(x) for _, x in v.items()))
    return {to_itf_value(k, key=True): to_itf_value(x) for k, x in v.items()}


def from_itf_value(v: Any, where: str) -> Value:
    """The spec value of an itf-py value (model values stay strings)."""
    if isinstance(v, bool | int | str):
        return v
    if isinstance(v, tuple) and hasattr(v, "_fields"):
        if hasattr(type(v), "_itf_variant"):
            raise TraceError(f"{where}: variants ({{tag, value}}) do not occur in this spec")
        record: Any = v  # a namedtuple that itf-py made for an ITF record
        return Record((k, from_itf_value(x, f"{where}.{k}")) for k, x in record._asdict().items())
    if isinstance(v, list | tuple):
        return tuple(from_itf_value(x, f"{where}[{i + 1}]") for i, x in enumerate(v))
    if isinstance(v, frozenset):
        return frozenset(from_itf_value(x, where) for x in v)
    if isinstance(v, dict):
        return Fn((from_itf_value(k, where), from_itf_value(x, where)) for k, x in v.items())
    raise TraceError(f"{where}: unsupported ITF value {v!r}")


def _step_meta(index: int, step: Step) -> dict[str, Any]:
    params: dict[str, Any] = {k: (v + 1 if k == "r" else f"n{v + 1}") for k, v in step.params}
    return {"index": index, "action": step.action, "params": params}


def to_itf(trace: Trace) -> dict[str, Any]:
    """The trace as ITF JSON (a dict ready for json.dump)."""
    meta: dict[str, Any] = {
        "format": "ITF",
        "format-description": ITF_FORMAT_DESCRIPTION,
        "source": "spec/JoinProtocol.tla",
        "description": f"{trace.source or 'pbjoin'}: "
        + (f"{trace.violated} violated" if trace.violated else f"{len(trace.steps) - 1} steps"),
        **constants_meta(trace.params),
        "mutant": trace.params.mutant.value,
    }
    if not trace.params.compact_log:
        meta["log_compaction"] = False  # an implementation log: absolute log positions
    if trace.violated:
        meta["violated"] = trace.violated
    if trace.source:
        meta["generator"] = trace.source
    states = [
        itf_py.State(meta=_step_meta(i, step), values={k: to_itf_value(v) for k, v in spec_state(step.state).items()})
        for i, step in enumerate(trace.steps)
    ]
    out: dict[str, Any] = itf_py.trace_to_json(
        itf_py.Trace(meta=meta, params=[], vars=list(VARIABLES), states=states, loop=None)
    )
    return out


def _step_params(action: str, raw: object, p: Params, where: str) -> tuple[tuple[str, int], ...]:
    names = ACTION_PARAMS[action]
    if not isinstance(raw, dict) or set(raw) != set(names):
        raise TraceError(f"{where}: {action} takes parameters {', '.join(names)}, got {raw!r}")
    out = []
    for name in names:
        value = raw[name]
        if name == "r":
            out.append((name, decode_res(value, p, f"{where}.{name}")))
        else:
            out.append((name, decode_node(value, p, f"{where}.{name}")))
    return tuple(out)


def from_itf(data: object, fallback: Params | None = None, mutant: Mutant | None = None) -> Trace:
    """A trace from ITF JSON; `fallback` gives the constants if the trace has none,
    `mutant` replaces the recorded variant."""
    if not isinstance(data, dict) or not isinstance(data.get("states"), list) or "vars" not in data:
        raise TraceError("not an ITF trace: expected a JSON object with 'vars' and 'states'")
    try:
        itf = itf_py.trace_from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TraceError(f"malformed ITF trace: {type(exc).__name__}: {exc}") from None
    if not isinstance(itf.meta, dict):
        raise TraceError("malformed ITF trace: #meta is not an object")
    p = _params_from_meta(itf.meta, fallback)
    if mutant is not None:
        p = dataclasses.replace(p, mutant=mutant)
    if not itf.states:
        raise TraceError("the ITF trace has no states")
    steps: list[Step] = []
    for i, st in enumerate(itf.states):
        where = f"state {i}"
        values = {k: from_itf_value(v, f"{where}: {k}") for k, v in st.values.items()}
        try:
            state = decode_state(with_idle_variables(values, p), p)
        except TraceError as exc:
            raise TraceError(f"{where}: {exc}") from None
        meta = st.meta if isinstance(st.meta, dict) else {}
        action = meta.get("action")
        if i == 0:
            if action not in (None, INIT):
                raise TraceError(f"{where}: the first state must be the initial state, got action {action!r}")
            steps.append(Step(INIT, (), state))
        elif action is None:
            # A trace that names no actions (written by another tool): find them.
            found = infer_step(steps[-1].state, None, state, p)
            steps.append(found if found is not None else Step("?", (), state))
        elif action not in ACTION_PARAMS:
            raise TraceError(f"{where}: unknown action {action!r}")
        else:
            steps.append(Step(action, _step_params(action, meta.get("params"), p, f"{where}: params"), state))
    violated = itf.meta.get("violated")
    return Trace(
        params=p,
        steps=tuple(steps),
        violated=violated if isinstance(violated, str) else None,
        source=str(itf.meta.get("generator", "ITF")),
    )


def itf_text(trace: Trace) -> str:
    """ITF JSON with one state per line: compact, yet a diff shows which steps changed."""
    data = to_itf(trace)
    states = data.pop("states")
    head = json.dumps(data)[:-1]
    body = ",\n".join(json.dumps(s, separators=(",", ":")) for s in states)
    return f'{head}, "states": [\n{body}\n]}}\n'


def write_itf(trace: Trace, path: str | Path) -> None:
    Path(path).write_text(itf_text(trace))


# ---------------------------------------------------------------- pbjoin check --json


def _obj(v: object, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise TraceError(f"{where}: expected a JSON object, got {type(v).__name__}")
    return v


def _list(v: object, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise TraceError(f"{where}: expected a JSON array, got {type(v).__name__}")
    return v


def _numbered(name: object, letter: str, what: str, where: str) -> int:
    """'r2' -> 2 for letter 'r'; anything else is an error (range checks follow in decode_state)."""
    if isinstance(name, str) and name[:1] == letter and name[1:].isdigit():
        return int(name[1:])
    raise TraceError(f"{where}: expected a {what} name {letter}1, {letter}2, ..., got {name!r}")


def _res_number(name: object, where: str) -> int:
    return _numbered(name, "r", "resource", where)


def _write_number(name: object, where: str) -> int:
    return _numbered(name, "w", "write", where)


def _json_scalar(v: object, where: str) -> Value:
    if isinstance(v, bool | int | str):
        return v
    raise TraceError(f"{where}: expected a number, string or boolean, got {v!r}")


def _json_rset(v: object, where: str) -> frozenset[Value]:
    return frozenset(_res_number(r, where) for r in _list(v, where))


def _json_by_node(v: object, where: str, f: Callable[[object, str], Value]) -> Fn:
    return Fn((k, f(x, f"{where}[{k}]")) for k, x in _obj(v, where).items())


def _json_by_res(v: object, where: str, f: Callable[[object, str], Value]) -> Fn:
    return Fn((_res_number(k, where), f(x, f"{where}[{k}]")) for k, x in _obj(v, where).items())


def _json_node(v: object, where: str) -> Value:
    return NO_NODE_VALUE if v == "none" else _json_scalar(v, where)


def _json_view(v: object, where: str) -> Value:
    if v is None:
        return NO_VIEW_VALUE
    gs = _obj(v, where)
    try:
        return Record(
            {
                "prim": _res_number(gs["prim"], f"{where}.prim"),
                "sub": _json_by_res(
                    gs["sub"], f"{where}.sub", lambda m, w: tuple(_json_node(x, w) for x in _list(m, w))
                ),
                "host": _json_by_res(gs["host"], f"{where}.host", _json_node),
                "mirror": _json_by_res(gs["mirror"], f"{where}.mirror", _json_scalar),
                "status": _json_by_node(gs["status"], f"{where}.status", _json_scalar),
                "acc": _json_by_node(gs["acc"], f"{where}.acc", _json_rset),
                "inc": _json_by_node(gs["inc"], f"{where}.inc", _json_scalar),
                "lost": _json_rset(gs.get("lost", []), f"{where}.lost"),
                "rounds": _json_by_res(
                    gs.get("rounds", {f"r{r + 1}": 0 for r in range(len(_obj(gs["host"], where)))}),
                    f"{where}.rounds",
                    _json_scalar,
                ),
            }
        )
    except KeyError as exc:
        raise TraceError(f"{where}: missing field {exc}") from None


def _json_msg(v: object, where: str) -> Value:
    m = _obj(v, where)
    kind = m.get("kind")
    res = 0  # the spec's "unused"
    if kind in ("MIRROR_ACTIVE", "RES_FAIL", "RES_REPAIR"):
        res = _res_number(m.get("res"), f"{where}.res")
    elif kind == "ACCESS" and "claim" in m:
        claim = m["claim"]
        if isinstance(claim, bool) or not isinstance(claim, int):
            raise TraceError(f"{where}.claim: expected 0 or 1, got {claim!r}")
        res = claim + 1
    return Record(
        {
            "kind": _json_scalar(kind, f"{where}.kind"),
            "node": _json_scalar(m.get("node"), f"{where}.node"),
            "inc": _json_scalar(m.get("inc"), f"{where}.inc"),
            "res": res,
            "rset": _json_rset(m.get("rset", []), f"{where}.rset"),
            "ver": _json_scalar(m.get("ver", 0), f"{where}.ver"),
        }
    )


def _json_p2p(v: object, where: str) -> Value:
    m = _obj(v, where)
    kind = m.get("kind")
    # Fields the kind does not use hold the spec's 0 / NoView.
    gs: Value = NO_VIEW_VALUE
    res: Value = 0
    ver: Value = 0
    cur: Value = _json_scalar(m.get("cur", 0), f"{where}.cur")
    if kind == "GROUP_STATE":
        gs = _json_view(m.get("gs"), f"{where}.gs")
    else:
        res = _res_number(m.get("res"), f"{where}.res")
        if kind == "CONFIG":
            ver = _json_scalar(m.get("ver"), f"{where}.ver")
        elif kind == "START_MIRROR":
            ver = _json_scalar(m.get("ver", 0), f"{where}.ver")  # the round, left out while 0
    data: Value = tuple(_write_number(w, f"{where}.data") for w in _list(m.get("data", []), f"{where}.data"))
    ep: Value = _json_scalar(m.get("ep", 0), f"{where}.ep")
    return Record(
        {
            "kind": _json_scalar(kind, f"{where}.kind"),
            "res": res,
            "ver": ver,
            "gs": gs,
            "cur": cur,
            "data": data,
            "ep": ep,
        }
    )


def _json_queues(v: object, var: str, p: Params, decode: Callable[[object, str], Value]) -> Fn:
    """A channel variable (`chan`, `dchan`) keyed "n1->n2"; the pairs it leaves out are empty."""
    queues: dict[Value, Value] = {(f"n{s + 1}", f"n{d + 1}"): () for s in range(p.nodes) for d in range(p.nodes)}
    for key, q in _obj(v, var).items():
        src, _, dst = key.partition("->")
        if (src, dst) not in queues:
            raise TraceError(f"{var}: unknown channel {key!r}")
        queues[(src, dst)] = tuple(decode(m, f"{var}[{key}][{i + 1}]") for i, m in enumerate(_list(q, key)))
    return Fn(queues.items())


def _json_state(v: object, p: Params) -> State:
    """The inverse of pbjoin_model.traces.render.state_to_json, through the spec's values."""
    d = _obj(v, "state")
    handlers: dict[str, Callable[[object], Value]] = {
        "access": lambda x: _json_by_node(x, "access", _json_rset),
        "phase": lambda x: _json_by_node(x, "phase", _json_scalar),
        "cursor": lambda x: _json_by_node(x, "cursor", _json_scalar),
        "view": lambda x: _json_by_node(x, "view", _json_view),
        "log": lambda x: tuple(_json_msg(m, f"log[{i + 1}]") for i, m in enumerate(_list(x, "log"))),
        "chan": lambda x: _json_queues(x, "chan", p, _json_p2p),
        "cfg": lambda x: _json_by_node(x, "cfg", lambda row, w: _json_by_res(row, w, _json_scalar)),
        "resVer": lambda x: _json_by_res(x, "resVer", _json_scalar),
        "dataCurrent": lambda x: _json_by_res(x, "dataCurrent", _json_scalar),
        "crashes": lambda x: _json_scalar(x, "crashes"),
        "restarts": lambda x: _json_scalar(x, "restarts"),
        "cfgChanges": lambda x: _json_scalar(x, "cfgChanges"),
        "durable": lambda x: _json_view(x, "durable"),
        "inc": lambda x: _json_by_node(x, "inc", _json_scalar),
    }
    handlers.update(
        data=lambda x: _json_by_res(x, "data", lambda q, w: tuple(_write_number(i, w) for i in _list(q, w))),
        fence=lambda x: _json_by_res(x, "fence", _json_scalar),
        epoch=lambda x: _json_by_node(x, "epoch", _json_scalar),
        stale=lambda x: _json_by_node(x, "stale", _json_view),
        dchan=lambda x: _json_queues(x, "dchan", p, _json_data_msg),
        writes=lambda x: tuple(
            _json_write(_obj(x, "writes").get(f"w{w + 1}"), f"writes[w{w + 1}]") for w in range(p.max_writes)
        ),
        broken=lambda x: _json_rset(x, "broken"),
        resFailures=lambda x: _json_scalar(x, "resFailures"),
    )
    unknown = sorted(set(d) - set(handlers))
    if unknown:
        raise TraceError(f"unknown variable {unknown[0]!r}")
    values = with_idle_variables({k: handlers[k](x) for k, x in d.items()}, p)
    values.setdefault("broken", frozenset())  # left out until a resource has failed
    values.setdefault("resFailures", 0)
    return decode_state(values, p)


def with_idle_variables(values: dict[str, Value], p: Params) -> dict[str, Value]:
    """Without writes the data path has one value, and without resource failures so do their
    variables, so they may be left out (as `--json` and traces written before them do); they
    are filled in here."""
    idle = _idle_values(p)
    if not p.max_writes:
        for var in DATA_PATH_VARIABLES:
            values.setdefault(var, idle[var])
    if not p.max_resource_failures:
        for var in RESOURCE_FAILURE_VARIABLES:
            values.setdefault(var, idle[var])
    return values


@functools.cache
def _idle_values(p: Params) -> dict[str, Value]:
    return spec_state(initial_state(p, (0,) * p.nodes))


def _json_write(v: object, where: str) -> Value:
    x = _obj(v, where)
    return Record(
        {
            "st": _json_scalar(x.get("st"), f"{where}.st"),
            "by": _json_node(x.get("by"), f"{where}.by"),
            "pos": _json_scalar(x.get("pos"), f"{where}.pos"),
            "ep": _json_scalar(x.get("ep"), f"{where}.ep"),
            "wait": _json_rset(x.get("wait", []), f"{where}.wait"),
        }
    )


def _json_data_msg(v: object, where: str) -> Value:
    m = _obj(v, where)
    return Record(
        {
            "kind": _json_scalar(m.get("kind"), f"{where}.kind"),
            "w": _write_number(m.get("w"), f"{where}.w"),
            "res": _res_number(m.get("res"), f"{where}.res"),
            "pos": _json_scalar(m.get("pos", 0), f"{where}.pos"),
            "ep": _json_scalar(m.get("ep", 0), f"{where}.ep"),
            "cur": _json_scalar(m.get("cur", 0), f"{where}.cur"),
        }
    )


def from_checker_json(data: object, fallback: Params | None = None, mutant: Mutant | None = None) -> Trace:
    """A trace from a `pbjoin check --json` report (or its bare "trace" list)."""
    if isinstance(data, list):
        if fallback is None:
            raise TraceError("a bare trace list records no constants; pass --config")
        p, steps_json, violated = fallback, data, None
    else:
        report = _obj(data, "report")
        const = _obj(report.get("constants"), "constants")
        try:
            p = Params(
                nodes=const["nodes"],
                resources=const["resources"],
                max_failures=const["max_failures"],
                max_restarts=const["max_restarts"],
                max_config_changes=const["max_config_changes"],
                max_writes=const.get("max_writes", 0),
                max_resource_failures=const.get("max_resource_failures", 0),
                mutant=mutant_of(report.get("mutant", "none")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise TraceError(f"constants: {exc}") from None
        steps_json = _list(report.get("trace"), "trace")
        violated = report.get("violated") if isinstance(report.get("violated"), str) else None
    if not steps_json:
        raise TraceError("the report has no trace (the check found no violation)")
    if mutant is not None:
        p = dataclasses.replace(p, mutant=mutant)
    steps = []
    for i, raw in enumerate(steps_json):
        item = _obj(raw, f"step {i}")
        action = item.get("action")
        try:
            state = _json_state(item.get("state"), p)
            if i == 0:
                if action != INIT:
                    raise TraceError(f"the first step must be {INIT}, got {action!r}")
                steps.append(Step(INIT, (), state))
                continue
            if action not in ACTION_PARAMS:
                raise TraceError(f"unknown action {action!r}")
            raw_params = _obj(item.get("params"), "params")
            converted = {k: _res_number(v, f"params.{k}") if k == "r" else v for k, v in raw_params.items()}
            steps.append(Step(action, _step_params(action, converted, p, "params"), state))
        except TraceError as exc:
            raise TraceError(f"step {i}: {exc}") from None
    return Trace(params=p, steps=tuple(steps), violated=violated, source="pbjoin check --json")
