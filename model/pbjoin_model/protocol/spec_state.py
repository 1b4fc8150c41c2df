"""The model's int-coded `State` as the values of the spec's variables, and back.

`spec_state` gives each variable of spec/JoinProtocol.tla the value TLC would print
for it: nodes are the model values n1..nN, resources the integers 1..NumRes (the
model's resource r is r + 1), sets of resources are sets, `NoNode` and `NoView` are
model values, messages are the spec's uniform records with 0 / NoView in unused
fields. `decode_state` is the exact inverse and is strict: every variable, domain,
record field and enumeration is checked, so a value that no model state encodes to
is reported (with its path) instead of being read as something close to it.

The inverse accepts what the two sources of spec values give: TLC prints functions
over 1..NumRes as sequences and model values bare, while ITF files carry functions as
maps and model values as strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import NoReturn, TypeVar

from pbjoin_model.protocol.machine import (
    CONFIG,
    DATA_NAMES,
    GROUP_STATE,
    MIRROR_ACTIVE,
    MIRROR_NAMES,
    MSG_NAMES,
    NO_NODE,
    NO_VIEW,
    P2P,
    P2P_NAMES,
    PHASE_NAMES,
    RES_FAIL,
    RES_REPAIR,
    START_MIRROR,
    STATUS_NAMES,
    VARIABLES,
    WRITE,
    WRITE_STATUS_NAMES,
    DataMsg,
    GroupState,
    Msg,
    Params,
    State,
    View,
    WriteRec,
    bits,
)
from pbjoin_model.protocol.tla_values import Fn, ModelValue, Record, Value, show

T = TypeVar("T")

NO_NODE_VALUE = ModelValue("NoNode")
NO_VIEW_VALUE = ModelValue("NoView")
GROUP_STATE_FIELDS = GroupState._fields
MSG_FIELDS = ("kind", "node", "inc", "res", "rset", "ver")
P2P_FIELDS = ("kind", "res", "ver", "gs", "cur", "data", "ep")
DATA_MSG_FIELDS = ("kind", "w", "res", "pos", "ep", "cur")
WRITE_FIELDS = ("st", "by", "pos", "ep", "wait")


class TraceError(ValueError):
    """A trace, or a state in it, that cannot be read; the message is one line."""


# ---------------------------------------------------------------- model -> spec


def node_value(n: int) -> ModelValue:
    return NO_NODE_VALUE if n == NO_NODE else ModelValue(f"n{n + 1}")


def rset_value(mask: int) -> frozenset[Value]:
    return frozenset(r + 1 for r in bits(mask))


def _over_nodes(values: Iterable[Value]) -> Fn:
    return Fn((node_value(n), v) for n, v in enumerate(values))


def _over_res(values: Iterable[Value]) -> Fn:
    return Fn((r + 1, v) for r, v in enumerate(values))


def group_state_value(gs: GroupState) -> Record:
    return Record(
        {
            "prim": gs.prim + 1,
            "sub": _over_res(tuple(node_value(x) for x in members) for members in gs.sub),
            "host": _over_res(node_value(h) for h in gs.host),
            "mirror": _over_res(MIRROR_NAMES[m] for m in gs.mirror),
            "status": _over_nodes(STATUS_NAMES[s] for s in gs.status),
            "acc": _over_nodes(rset_value(a) for a in gs.acc),
            "inc": _over_nodes(gs.inc),
            "lost": rset_value(gs.lost),
            "rounds": _over_res(gs.rounds),
        }
    )


def view_value(v: View) -> Value:
    return group_state_value(v) if isinstance(v, GroupState) else NO_VIEW_VALUE


def msg_value(m: Msg) -> Record:
    # res is shifted like every resource; -1 (unused) becomes the spec's 0.
    return Record(
        {
            "kind": MSG_NAMES[m.kind],
            "node": node_value(m.node),
            "inc": m.inc,
            "res": m.res + 1,
            "rset": rset_value(m.rset),
            "ver": m.ver,
        }
    )


def p2p_value(m: P2P) -> Record:
    return Record(
        {
            "kind": P2P_NAMES[m.kind],
            "res": m.res + 1,
            "ver": m.ver if m.kind in (CONFIG, START_MIRROR) else 0,
            "gs": view_value(m.gs),
            "cur": m.cur,
            "data": writes_value(m.data),
            "ep": m.ep,
        }
    )


def writes_value(copy: tuple[int, ...]) -> tuple[Value, ...]:
    """A sequence of write ids: the model's write w is w + 1 in the spec."""
    return tuple(w + 1 for w in copy)


def data_msg_value(m: DataMsg) -> Record:
    return Record({"kind": DATA_NAMES[m.kind], "w": m.w + 1, "res": m.res + 1, "pos": m.pos, "ep": m.ep, "cur": m.cur})


def write_rec_value(x: WriteRec) -> Record:
    return Record(
        {
            "st": WRITE_STATUS_NAMES[x.st],
            "by": node_value(x.by),
            "pos": x.pos,
            "ep": x.ep,
            "wait": rset_value(x.wait),
        }
    )


def _over_pairs(queues: Iterable[Iterable[Value]], n: int) -> Fn:
    return Fn(((node_value(i // n), node_value(i % n)), tuple(q)) for i, q in enumerate(queues))


def spec_state(s: State) -> dict[str, Value]:
    """Every spec variable's value, in the spec's VARIABLES order."""
    n = len(s.phase)
    return {
        "access": _over_nodes(rset_value(a) for a in s.access),
        "phase": _over_nodes(PHASE_NAMES[x] for x in s.phase),
        "cursor": _over_nodes(s.cursor),
        "view": _over_nodes(view_value(v) for v in s.view),
        "log": tuple(msg_value(m) for m in s.log),
        "chan": _over_pairs(((p2p_value(m) for m in q) for q in s.chan), n),
        "cfg": _over_nodes(_over_res(row) for row in s.cfg),
        "resVer": _over_res(s.resVer),
        "dataCurrent": _over_res(s.dataCurrent),
        "crashes": s.crashes,
        "restarts": s.restarts,
        "cfgChanges": s.cfgChanges,
        "durable": group_state_value(s.durable),
        "inc": _over_nodes(s.inc),
        "data": _over_res(writes_value(copy) for copy in s.data),
        "fence": _over_res(s.fence),
        "epoch": _over_nodes(s.epoch),
        "stale": _over_nodes(view_value(v) for v in s.stale),
        "dchan": _over_pairs(((data_msg_value(m) for m in q) for q in s.dchan), n),
        "writes": tuple(write_rec_value(x) for x in s.writes),
        "broken": rset_value(s.broken),
        "resFailures": s.resFailures,
    }


# ---------------------------------------------------------------- spec -> model


def _short(v: Value) -> str:
    text = show(v)
    return text if len(text) <= 60 else text[:57] + "..."


class _Decoder:
    """Strict inverse of `spec_state` for one set of constants."""

    def __init__(self, p: Params) -> None:
        self.p = p

    @staticmethod
    def fail(where: str, what: str, v: Value) -> NoReturn:
        raise TraceError(f"{where}: expected {what}, got {_short(v)}")

    def int_(self, v: Value, where: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            self.fail(where, "a natural number", v)
        return v

    def bool_(self, v: Value, where: str) -> bool:
        if not isinstance(v, bool):
            self.fail(where, "TRUE or FALSE", v)
        return v

    def enum(self, v: Value, names: tuple[str, ...], where: str) -> int:
        if not isinstance(v, str) or v not in names:
            self.fail(where, "one of " + ", ".join(f'"{x}"' for x in names), v)
        return names.index(v)

    def node(self, v: Value, where: str, none_ok: bool = False) -> int:
        # TLC prints model values bare; ITF carries them as strings.
        name = v.name if isinstance(v, ModelValue) else v if isinstance(v, str) else None
        if name == NO_NODE_VALUE.name and none_ok:
            return NO_NODE
        m = re.fullmatch(r"n([1-9][0-9]*)", name or "")
        if m is None or int(m.group(1)) > self.p.nodes:
            self.fail(where, f"a node n1..n{self.p.nodes}" + (" or NoNode" if none_ok else ""), v)
        return int(m.group(1)) - 1

    def res(self, v: Value, where: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= self.p.resources:
            self.fail(where, f"a resource 1..{self.p.resources}", v)
        return v - 1

    def zero(self, v: Value, where: str) -> None:
        if v != 0 or isinstance(v, bool):
            self.fail(where, "0 (unused field)", v)

    def rset(self, v: Value, where: str) -> int:
        if not isinstance(v, frozenset):
            self.fail(where, "a set of resources", v)
        mask = 0
        for r in v:
            mask |= 1 << self.res(r, f"{where} element")
        return mask

    def seq(self, v: Value, where: str) -> tuple[Value, ...]:
        if not isinstance(v, tuple):
            self.fail(where, "a sequence", v)
        return v

    def record(self, v: Value, fields: tuple[str, ...], where: str) -> Record:
        if not isinstance(v, Record) or set(v) != set(fields):
            self.fail(where, "a record with fields " + ", ".join(fields), v)
        return v

    def over_nodes(self, v: Value, where: str) -> list[Value]:
        """The values of a function over Node, in node order."""
        if not isinstance(v, Fn) or len(v) != self.p.nodes:
            self.fail(where, f"a function over the {self.p.nodes} nodes", v)
        out: dict[int, Value] = {self.node(k, f"{where} argument"): x for k, x in v.items()}
        if len(out) != self.p.nodes:
            self.fail(where, f"a function over the {self.p.nodes} nodes", v)
        return [out[n] for n in range(self.p.nodes)]

    def over_range(self, v: Value, k: int, where: str) -> list[Value]:
        """The values of a function over 1..k (TLC prints it as a sequence)."""
        if isinstance(v, tuple) and len(v) == k:
            return list(v)
        if isinstance(v, Fn) and set(v) == set(range(1, k + 1)):
            return [v[i] for i in range(1, k + 1)]
        self.fail(where, f"a function over 1..{k}", v)

    def over_res(self, v: Value, where: str) -> list[Value]:
        return self.over_range(v, self.p.resources, where)

    def group_state(self, v: Value, where: str) -> GroupState:
        if isinstance(v, Record) and set(v) == set(GROUP_STATE_FIELDS[:7]):  # written before resource failures
            idle: dict[str, Value] = {"lost": frozenset(), "rounds": Fn((r + 1, 0) for r in range(self.p.resources))}
            v = Record({**{str(k): x for k, x in v.items()}, **idle})
        gs = self.record(v, GROUP_STATE_FIELDS, where)
        nodes = [f"n{n + 1}" for n in range(self.p.nodes)]
        return GroupState(
            prim=self.res(gs["prim"], f"{where}.prim"),
            sub=tuple(
                tuple(self.node(x, f"{where}.sub[{r + 1}]") for x in self.seq(m, f"{where}.sub[{r + 1}]"))
                for r, m in enumerate(self.over_res(gs["sub"], f"{where}.sub"))
            ),
            host=tuple(
                self.node(h, f"{where}.host[{r + 1}]", none_ok=True)
                for r, h in enumerate(self.over_res(gs["host"], f"{where}.host"))
            ),
            mirror=tuple(
                self.enum(m, MIRROR_NAMES, f"{where}.mirror[{r + 1}]")
                for r, m in enumerate(self.over_res(gs["mirror"], f"{where}.mirror"))
            ),
            status=tuple(
                self.enum(s, STATUS_NAMES, f"{where}.status[{nodes[n]}]")
                for n, s in enumerate(self.over_nodes(gs["status"], f"{where}.status"))
            ),
            acc=tuple(
                self.rset(a, f"{where}.acc[{nodes[n]}]")
                for n, a in enumerate(self.over_nodes(gs["acc"], f"{where}.acc"))
            ),
            inc=tuple(
                self.int_(i, f"{where}.inc[{nodes[n]}]")
                for n, i in enumerate(self.over_nodes(gs["inc"], f"{where}.inc"))
            ),
            lost=self.rset(gs["lost"], f"{where}.lost"),
            rounds=tuple(
                self.int_(x, f"{where}.rounds[{r + 1}]")
                for r, x in enumerate(self.over_res(gs["rounds"], f"{where}.rounds"))
            ),
        )

    def view(self, v: Value, where: str) -> View:
        if v in (NO_VIEW_VALUE, NO_VIEW_VALUE.name):
            return NO_VIEW
        if not isinstance(v, Record):
            self.fail(where, "NoView or a group state record", v)
        return self.group_state(v, where)

    def msg(self, v: Value, where: str) -> Msg:
        if isinstance(v, Record) and set(v) == set(MSG_FIELDS[:5]):  # written before resource failures
            v = Record({**{str(k): x for k, x in v.items()}, "ver": 0})
        m = self.record(v, MSG_FIELDS, where)
        kind = self.enum(m["kind"], MSG_NAMES, f"{where}.kind")
        res = self.int_(m["res"], f"{where}.res") - 1
        if kind in (MIRROR_ACTIVE, RES_FAIL, RES_REPAIR):
            res = self.res(m["res"], f"{where}.res")
        return Msg(
            kind=kind,
            node=self.node(m["node"], f"{where}.node"),
            inc=self.int_(m["inc"], f"{where}.inc"),
            res=res,
            rset=self.rset(m["rset"], f"{where}.rset"),
            ver=self.int_(m["ver"], f"{where}.ver"),
        )

    def write_id(self, v: Value, where: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= self.p.max_writes:
            self.fail(where, f"a write 1..{self.p.max_writes}", v)
        return v - 1

    def writes_seq(self, v: Value, where: str) -> tuple[int, ...]:
        return tuple(self.write_id(w, f"{where}[{i + 1}]") for i, w in enumerate(self.seq(v, where)))

    def p2p(self, v: Value, where: str) -> P2P:
        if isinstance(v, Record) and set(v) == set(P2P_FIELDS[:5]):  # written before the data path
            v = Record({**{str(k): x for k, x in v.items()}, "data": (), "ep": 0})
        m = self.record(v, P2P_FIELDS, where)
        kind = self.enum(m["kind"], P2P_NAMES, f"{where}.kind")
        data = self.writes_seq(m["data"], f"{where}.data")
        ep = self.int_(m["ep"], f"{where}.ep")
        if kind != START_MIRROR:
            if data:
                self.fail(f"{where}.data", "<<>> (unused field)", m["data"])
            self.zero(m["ep"], f"{where}.ep")
        if kind == GROUP_STATE:
            self.zero(m["res"], f"{where}.res")
            self.zero(m["ver"], f"{where}.ver")
            gs = self.view(m["gs"], f"{where}.gs")
            if gs == NO_VIEW:
                self.fail(f"{where}.gs", "a group state record", m["gs"])
            return P2P(GROUP_STATE, gs=gs, cur=self.int_(m["cur"], f"{where}.cur"))
        if self.view(m["gs"], f"{where}.gs") != NO_VIEW:
            self.fail(f"{where}.gs", "NoView", m["gs"])
        cur = self.int_(m["cur"], f"{where}.cur")
        res = self.res(m["res"], f"{where}.res")
        if kind == CONFIG:
            return P2P(CONFIG, res=res, ver=self.int_(m["ver"], f"{where}.ver"), cur=cur)
        return P2P(kind, res=res, ver=self.int_(m["ver"], f"{where}.ver"), cur=cur, data=data, ep=ep)

    def data_msg(self, v: Value, where: str) -> DataMsg:
        m = self.record(v, DATA_MSG_FIELDS, where)
        kind = self.enum(m["kind"], DATA_NAMES, f"{where}.kind")
        msg = DataMsg(
            kind=kind,
            w=self.write_id(m["w"], f"{where}.w"),
            res=self.res(m["res"], f"{where}.res"),
            pos=self.int_(m["pos"], f"{where}.pos"),
            ep=self.int_(m["ep"], f"{where}.ep"),
            cur=self.int_(m["cur"], f"{where}.cur"),
        )
        if kind != WRITE:
            for f in ("pos", "ep", "cur"):
                self.zero(m[f], f"{where}.{f}")
        return msg

    def write_rec(self, v: Value, where: str) -> WriteRec:
        x = self.record(v, WRITE_FIELDS, where)
        return WriteRec(
            st=self.enum(x["st"], WRITE_STATUS_NAMES, f"{where}.st"),
            by=self.node(x["by"], f"{where}.by", none_ok=True),
            pos=self.int_(x["pos"], f"{where}.pos"),
            ep=self.int_(x["ep"], f"{where}.ep"),
            wait=self.rset(x["wait"], f"{where}.wait"),
        )

    def pairs(self, v: Value, var: str) -> list[tuple[str, int, tuple[Value, ...]]]:
        """A function over Node \\X Node: (where, src * N + dst, queue) for each pair."""
        n = self.p.nodes
        if not isinstance(v, Fn) or len(v) != n * n:
            self.fail(var, f"a function over the {n * n} pairs of nodes", v)
        out: dict[int, tuple[str, int, tuple[Value, ...]]] = {}
        for key, q in v.items():
            if not isinstance(key, tuple) or len(key) != 2:
                self.fail(f"{var} argument", "a pair of nodes <<src, dst>>", key)
            src, dst = self.node(key[0], f"{var} argument"), self.node(key[1], f"{var} argument")
            where = f"{var}[<<n{src + 1}, n{dst + 1}>>]"
            out[src * n + dst] = (where, src * n + dst, self.seq(q, where))
        if len(out) != n * n:
            self.fail(var, f"a function over the {n * n} pairs of nodes", v)
        return [out[i] for i in range(n * n)]

    def queues(self, v: Value, var: str, decode: Callable[[Value, str], T]) -> tuple[tuple[T, ...], ...]:
        """A channel variable (`chan`, `dchan`): each pair's queue, its messages decoded."""
        return tuple(
            tuple(decode(m, f"{where}[{i + 1}]") for i, m in enumerate(q)) for where, _, q in self.pairs(v, var)
        )

    def state(self, values: Mapping[str, Value]) -> State:
        missing = [x for x in VARIABLES if x not in values]
        if missing:
            raise TraceError(f"missing variable {missing[0]}")
        unknown = sorted(set(values) - set(VARIABLES))
        if unknown:
            raise TraceError(f"unknown variable {unknown[0]!r}")
        nodes = [f"n{n + 1}" for n in range(self.p.nodes)]

        def per_node(var: str) -> list[tuple[str, Value]]:
            return list(zip(nodes, self.over_nodes(values[var], var), strict=True))

        return State(
            access=tuple(self.rset(a, f"access[{n}]") for n, a in per_node("access")),
            phase=tuple(self.enum(x, PHASE_NAMES, f"phase[{n}]") for n, x in per_node("phase")),
            cursor=tuple(self.int_(c, f"cursor[{n}]") for n, c in per_node("cursor")),
            view=tuple(self.view(v, f"view[{n}]") for n, v in per_node("view")),
            log=tuple(self.msg(m, f"log[{i + 1}]") for i, m in enumerate(self.seq(values["log"], "log"))),
            chan=self.queues(values["chan"], "chan", self.p2p),
            cfg=tuple(
                tuple(self.int_(c, f"cfg[{n}][{r + 1}]") for r, c in enumerate(self.over_res(row, f"cfg[{n}]")))
                for n, row in per_node("cfg")
            ),
            resVer=tuple(
                self.int_(v, f"resVer[{r + 1}]") for r, v in enumerate(self.over_res(values["resVer"], "resVer"))
            ),
            dataCurrent=tuple(
                self.bool_(b, f"dataCurrent[{r + 1}]")
                for r, b in enumerate(self.over_res(values["dataCurrent"], "dataCurrent"))
            ),
            crashes=self.int_(values["crashes"], "crashes"),
            restarts=self.int_(values["restarts"], "restarts"),
            cfgChanges=self.int_(values["cfgChanges"], "cfgChanges"),
            durable=self.group_state(values["durable"], "durable"),
            inc=tuple(self.int_(i, f"inc[{n}]") for n, i in per_node("inc")),
            data=tuple(
                self.writes_seq(copy, f"data[{r + 1}]") for r, copy in enumerate(self.over_res(values["data"], "data"))
            ),
            fence=tuple(self.int_(f, f"fence[{r + 1}]") for r, f in enumerate(self.over_res(values["fence"], "fence"))),
            epoch=tuple(self.int_(x, f"epoch[{n}]") for n, x in per_node("epoch")),
            stale=tuple(self.view(v, f"stale[{n}]") for n, v in per_node("stale")),
            dchan=self.queues(values["dchan"], "dchan", self.data_msg),
            writes=tuple(
                self.write_rec(x, f"writes[{w + 1}]")
                for w, x in enumerate(self.over_range(values["writes"], self.p.max_writes, "writes"))
            ),
            broken=self.rset(values["broken"], "broken"),
            resFailures=self.int_(values["resFailures"], "resFailures"),
        )


def decode_state(values: Mapping[str, Value], p: Params) -> State:
    """The model state whose spec variables have these values (TraceError if none)."""
    return _Decoder(p).state(values)


def decode_node(v: Value, p: Params, where: str) -> int:
    return _Decoder(p).node(v, where)


def decode_res(v: Value, p: Params, where: str) -> int:
    return _Decoder(p).res(v, where)
