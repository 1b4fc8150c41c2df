"""Conformance: the bridge between the implementation (src/pbjoin) and the model.

This is the only module that knows both. It holds

- the correspondence between the implementation's names (node and resource ids)
  and the model's indices, and between wire messages and model messages;
- the refinement mapping `abstract`, from the in-memory engine's whole state to a
  model `State`;
- trace validation `validate_log`: every logged step is matched to the model action
  with the same name and parameters, which must be enabled, and the model's
  successor must agree with what the step logged (what it consumed, multicast and
  sent, and the member's state after it); the first divergence is reported with
  both sides.

The model runs with log compaction off, so log positions and cursors are absolute on
both sides. The failure/restart/change counters only bound model checking and are
not compared; a configuration's text and a copy's data files are compared through
`Contents` (the model has versions and a "current" flag where the implementation has
bytes).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from pbjoin.engine import DATA_PATH_ENVIRONMENT, Action, InMemoryEngine, WriteFate
from pbjoin.member import HOLDS_VIEW as IMPL_HOLDS_VIEW
from pbjoin.member import Phase
from pbjoin.resources import Disks, MemoryDisks, ResourceError, data_digest
from pbjoin.steplog import ClusterRecord, MemberSummary, StepRecord
from pbjoin.wire import (
    Access,
    ConfigMsg,
    DataAck,
    DataMsg,
    DataWrite,
    DirectMsg,
    Fail,
    GroupStateBody,
    GroupStateMsg,
    Join,
    JoinDone,
    MirrorActive,
    OrderedMsg,
    ResFail,
    ResRepair,
    StartMirror,
    WriteRecord,
    decode_data,
)
from pbjoin_model.protocol import machine as m
from pbjoin_model.protocol.machine import NO_NODE, NO_VIEW, P2P, GroupState, Msg, Params, State, View, WriteRec
from pbjoin_model.traces.render import data_msg_str, flatten, msg_str, p2p_str, view_fields

# Logged steps with no model counterpart: a message taken off a channel and rejected as
# malformed or stale (Discard, DiscardData), or refused because no member could have
# sent it (Refuse).
STUTTERS = ("Discard", "Refuse", "DiscardData")

_ORDERED: TypeAdapter[OrderedMsg] = TypeAdapter(Join | Access | JoinDone | MirrorActive | Fail | ResFail | ResRepair)
_DIRECT: TypeAdapter[DirectMsg] = TypeAdapter(GroupStateMsg | ConfigMsg | StartMirror)
_DATA: TypeAdapter[DataMsg] = TypeAdapter(DataWrite | DataAck)
_MIRROR = {"none": m.M_NONE, "syncing": m.M_SYNCING, "active": m.M_ACTIVE}
_WRITE_STATUS = {None: m.W_PENDING, "acked": m.W_ACKED, "refused": m.W_REFUSED, "unknown": m.W_UNKNOWN}
# A copy's write that no client submitted with that content and epoch: it maps to no write.
FOREIGN_WRITE = -1
_STATUS = {"joining": m.JOINING, "placed": m.PLACED, "active": m.ACTIVE}


class ConformanceError(ValueError):
    """A log that cannot even be mapped onto the model (unknown node, resource or step)."""


@dataclass(frozen=True)
class Correspondence:
    """Implementation names to model indices: nodes in the cluster's order, resources in the group's."""

    nodes: tuple[str, ...]
    resources: tuple[str, ...]

    @classmethod
    def of(cls, cluster: ClusterRecord) -> Correspondence:
        return cls(cluster.nodes, cluster.resources)

    def node(self, ident: str) -> int:
        try:
            return self.nodes.index(ident)
        except ValueError:
            raise ConformanceError(f"unknown node {ident!r}") from None

    def res(self, ident: str) -> int:
        try:
            return self.resources.index(ident)
        except ValueError:
            raise ConformanceError(f"unknown resource {ident!r}") from None

    def rset(self, idents: tuple[str, ...]) -> int:
        return sum(1 << self.res(r) for r in idents)

    def params(self, max_writes: int = 0, resource_failures: bool = False) -> Params:
        # Failures, restarts and configuration changes are bounded only to keep model
        # checking finite; an implementation run may make as many as it likes. Writes are
        # model state (one record each), so their number is the run's own bound.
        unbounded = 100_000
        return Params(
            nodes=len(self.nodes),
            resources=len(self.resources),
            max_failures=unbounded,
            max_restarts=unbounded,
            max_config_changes=unbounded,
            compact_log=False,
            max_writes=max_writes,
            # A log shows its resource failures; exhaustive replay explores none (no engine step
            # makes one: the environment fails resources outside the members).
            max_resource_failures=unbounded if resource_failures else 0,
        )

    def action(self, step: m.Step) -> Action:
        """The implementation's name for a model step."""
        params = tuple((k, self.resources[v] if k == "r" else self.nodes[v]) for k, v in step.params)
        return Action(step.action, params)  # type: ignore[arg-type]

    # ------------------------------------------------------------ messages and views

    def ordered(self, msg: OrderedMsg) -> Msg:
        n = self.node(msg.node)
        if isinstance(msg, Access):
            return Msg(m.ACCESS, n, msg.inc, rset=self.rset(msg.reaches))
        if isinstance(msg, MirrorActive):
            return Msg(m.MIRROR_ACTIVE, n, msg.inc, res=self.res(msg.resource), ver=msg.round)
        if isinstance(msg, ResFail | ResRepair):
            return Msg(m.RES_FAIL if isinstance(msg, ResFail) else m.RES_REPAIR, n, msg.inc, res=self.res(msg.resource))
        kind = {Join: m.JOIN, JoinDone: m.JOIN_DONE, Fail: m.FAIL}[type(msg)]
        return Msg(kind, n, msg.inc)

    def direct(
        self,
        msg: DirectMsg,
        sent_at: int = -1,
        writes: WriteNumbers | None = None,
        texts: Contents | None = None,
    ) -> P2P:
        """The model's message; `sent_at` (the sender's position, where known) is a CONFIG's or
        START_MIRROR's cur. Without `writes` the data path is off: a START_MIRROR carries nothing.
        With `texts`, a CONFIG whose text is not its version's maps to FOREIGN_TEXT."""
        if isinstance(msg, GroupStateMsg):
            return P2P(m.GROUP_STATE, gs=self.view(msg.state), cur=msg.position)
        if isinstance(msg, ConfigMsg):
            version = msg.version if texts is None else texts.held(msg.resource, msg.version, msg.data)
            return P2P(m.CONFIG, res=self.res(msg.resource), ver=version, cur=sent_at)
        if writes is None:
            return P2P(m.START_MIRROR, res=self.res(msg.resource), ver=msg.round, cur=sent_at)
        data = tuple(writes.number(w) for w in msg.writes)
        return P2P(m.START_MIRROR, res=self.res(msg.resource), ver=msg.round, cur=sent_at, data=data, ep=msg.epoch)

    def data(self, msg: DataMsg, writes: WriteNumbers, sent_at: int) -> m.DataMsg:
        if isinstance(msg, DataAck):
            return m.DataMsg(m.ACK, writes.number_of(msg.id), self.res(msg.resource))
        w = writes.number(msg.write)
        return m.DataMsg(m.WRITE, w, self.res(msg.resource), pos=msg.position, ep=msg.write.epoch, cur=sent_at)

    def view(self, body: GroupStateBody | None) -> View:
        if body is None:
            return NO_VIEW
        if tuple(s.resource for s in body.subgroups) != self.resources:
            raise ConformanceError("a group state lists the resources in another order")
        nodes = len(self.nodes)
        status, acc, inc = [m.ABSENT] * nodes, [0] * nodes, [0] * nodes
        for rec in body.members:
            i = self.node(rec.node)
            status[i], acc[i], inc[i] = _STATUS[rec.status], self.rset(rec.reaches), rec.inc
        return GroupState(
            prim=self.res(body.primary),
            sub=tuple(tuple(self.node(x) for x in s.members) for s in body.subgroups),
            host=tuple(NO_NODE if s.host is None else self.node(s.host) for s in body.subgroups),
            mirror=tuple(_MIRROR[s.mirror] for s in body.subgroups),
            status=tuple(status),
            acc=tuple(acc),
            inc=tuple(inc),
            lost=self.rset(body.lost),
            rounds=tuple(s.round for s in body.subgroups),
        )

    def initial_state(self, access: Mapping[str, tuple[str, ...]], max_writes: int = 0) -> State:
        return m.initial_state(self.params(max_writes), tuple(self.rset(access.get(n, ())) for n in self.nodes))


@dataclass(frozen=True)
class WriteNumbers:
    """The model numbers writes in submission order; the implementation names them by id.

    A copy's record maps to its write only if it is what that write's client submitted
    (key, value) under the epoch the writer took it with: a copy that holds anything else
    shows as FOREIGN_WRITE where the model has the write.
    """

    ledger: Mapping[str, WriteFate]
    _index: dict[str, int] = field(default_factory=dict, compare=False)

    def number_of(self, write_id: str) -> int:
        if write_id not in self._index and len(self._index) < len(self.ledger):
            # the ledger only grows, in submission order: index what was added since
            for k, known in enumerate(itertools.islice(self.ledger, len(self._index), None), len(self._index)):
                self._index[known] = k
        return self._index.get(write_id, FOREIGN_WRITE)

    def number(self, rec: WriteRecord) -> int:
        fate = self.ledger.get(rec.id)
        if fate is None or (fate.key, fate.value, fate.epoch) != (rec.key, rec.value, rec.epoch):
            return FOREIGN_WRITE
        return self.number_of(rec.id)


# ---------------------------------------------------------------- comparing states


def _normal_view(gs: View) -> View:
    """The incarnation an absent member last had is not part of the observable state."""
    if not isinstance(gs, GroupState):
        return gs
    return gs._replace(inc=tuple(i if st != m.ABSENT else 0 for i, st in zip(gs.inc, gs.status, strict=True)))


def _normal_group_state(gs: GroupState) -> GroupState:
    normal = _normal_view(gs)
    assert isinstance(normal, GroupState)
    return normal


def observable(s: State) -> State:
    """The part of a model state an implementation determines: no bound counters."""
    chan = tuple(tuple(x._replace(gs=_normal_view(x.gs)) for x in q) for q in s.chan)
    return s._replace(
        view=tuple(_normal_view(v) for v in s.view),
        stale=tuple(_normal_view(v) for v in s.stale),
        durable=_normal_group_state(s.durable),
        chan=chan,
        crashes=0,
        restarts=0,
        cfgChanges=0,
        resFailures=0,
    )


# A configuration whose text is not the one its version was written with: no model value.
FOREIGN_TEXT = -1


@dataclass
class Contents:
    """What the model numbers or flags and the implementation holds as bytes.

    Each configuration version has one text: the one its host stored on the resource.
    The model numbers configurations and has no texts, so the mapping holds the
    implementation to this: a version on a resource keeps the text it was first seen
    with, and a version a node installs or a CONFIG carries must have that text. Anything
    else maps to FOREIGN_TEXT, which no model state has, so the comparison shows it.

    The model flags a copy as holding the current production data (the ghost
    `dataCurrent`); nothing rewrites a copy's data files after the group starts, so a
    copy the model flags must hold exactly the files the production copy started with,
    byte for byte (`production_data`, their digest, recorded from the first copy flagged).
    """

    texts: dict[tuple[str, int], str] = field(default_factory=dict)
    production_data: str | None = None

    def stored(self, resource: str, version: int, text: str) -> int:
        known = self.texts.setdefault((resource, version), text)
        return version if known == text else FOREIGN_TEXT

    def held(self, resource: str, version: int, text: str) -> int:
        return version if self.texts.get((resource, version)) == text else FOREIGN_TEXT

    def data_current(self, flagged: bool, digest: str) -> bool:
        """Whether a copy the model flags (or not) as current holds the production data."""
        if not flagged:
            return False
        if self.production_data is None:
            self.production_data = digest
        return digest == self.production_data


def abstract(engine: InMemoryEngine, corr: Correspondence, ghosts: State, texts: Contents) -> State:
    """The refinement mapping: the model state the engine's whole state stands for.

    `ghosts` supplies what the implementation does not observe (the counters) and which
    copies the model holds current, normally the model state reached by the same steps: a
    copy it flags maps as current only if its data files are the production data. `texts`
    is the run's record of contents (the same object at every call of one run).
    """
    nodes = [engine.runtimes[n] for n in corr.nodes]
    some_disks = nodes[0].disks
    numbers = WriteNumbers(engine.ledger) if ghosts.writes else None
    res_ver = tuple(texts.stored(r, *some_disks.audit_config(r)) for r in corr.resources)
    cfg = []
    for rt in nodes:
        installed = rt.disks.installed_configs() if rt.phase != Phase.DOWN else {}
        cfg.append(tuple(texts.held(r, *installed[r]) if r in installed else 0 for r in corr.resources))
    chan = []
    for src in corr.nodes:
        for dst in corr.nodes:
            queue = engine.channels.get((src, dst), ())
            chan.append(tuple(corr.direct(_DIRECT.validate_json(q.raw), q.sent_at, numbers, texts) for q in queue))
    return State(
        access=tuple(corr.rset(rt.disks.probe(corr.resources)) for rt in nodes),
        phase=tuple(m.PHASE_NAMES.index(rt.phase.value) for rt in nodes),
        cursor=tuple(rt.member.position if rt.phase in IMPL_HOLDS_VIEW else 0 for rt in nodes),
        view=tuple(corr.view(rt.member.view.to_body() if rt.member.view else None) for rt in nodes),
        log=tuple(corr.ordered(msg) for msg in engine.ordered_messages()),
        chan=tuple(chan),
        cfg=tuple(cfg),
        resVer=res_ver,
        dataCurrent=tuple(
            texts.data_current(flagged, data_digest(some_disks.audit_data(r)))
            for r, flagged in zip(corr.resources, ghosts.dataCurrent, strict=True)
        ),
        crashes=ghosts.crashes,
        restarts=ghosts.restarts,
        cfgChanges=ghosts.cfgChanges,
        durable=m.initial_group_state(corr.params()),
        inc=tuple(rt.inc for rt in nodes),
        **_data_path(engine, corr, numbers, len(ghosts.writes), some_disks),
        broken=broken_resources(engine, corr),
        resFailures=ghosts.resFailures,
    )


def broken_resources(engine: InMemoryEngine, corr: Correspondence) -> int:
    """The resources that have failed now (bitmask): in-memory disks say so whoever is wired to
    them; a directory resource is failed if a node wired to it finds it so."""
    broken = 0
    for r, resource in enumerate(corr.resources):
        for rt in engine.runtimes.values():
            disks = rt.disks
            if isinstance(disks, MemoryDisks):
                failed = resource in disks.disks and disks.disks[resource].failed
            else:
                try:
                    failed = disks.check(resource) is not None
                except ResourceError:
                    continue  # not wired to it
            broken |= int(failed) << r
            break
    return broken


def _data_path(
    engine: InMemoryEngine, corr: Correspondence, numbers: WriteNumbers | None, max_writes: int, audit: Disks
) -> dict[str, Any]:
    """The data-path variables as the engine's disks (read through `audit`), members, data
    channels and ledger hold them.

    Without writes (no `numbers`) the model is the write-free abstraction: its data path
    stays idle (no epoch is taken there), so the implementation's is not compared.
    """
    if numbers is None:
        return m.idle_data_path(corr.params(max_writes))
    if len(engine.ledger) > max_writes:
        raise ConformanceError(f"{len(engine.ledger)} writes submitted; the model has {max_writes}")
    copies = [audit.audit_copy(r) for r in corr.resources]
    members = [engine.runtimes[n].member for n in corr.nodes]
    dchan = []
    for src in corr.nodes:
        for dst in corr.nodes:
            queue = engine.data_channels.get((src, dst), ())
            dchan.append(tuple(corr.data(decode_data(q.raw), numbers, q.sent_at) for q in queue))
    writes = [WriteRec()] * max_writes
    for k, fate in enumerate(engine.ledger.values()):
        st = _WRITE_STATUS[fate.status]
        wait = corr.rset(fate.waiting) if st in (m.W_PENDING, m.W_UNKNOWN) else 0
        writes[k] = WriteRec(st=st, by=corr.node(fate.by), pos=fate.position, ep=fate.epoch, wait=wait)
    return {
        "data": tuple(tuple(numbers.number(w) for w in copy[1]) for copy in copies),
        "fence": tuple(copy[0] for copy in copies),
        "epoch": tuple(member.epoch for member in members),
        "stale": tuple(corr.view(x.stale_view.to_body() if x.stale_view else None) for x in members),
        "dchan": tuple(dchan),
        "writes": tuple(writes),
    }


def differences(expected: State, actual: State, corr: Correspondence) -> list[tuple[str, str, str]]:
    """(variable, model, implementation) for every observable variable that differs."""
    rows: list[tuple[str, str, str]] = []
    a, b = observable(expected), observable(actual)
    for name in State._fields:
        x, y = getattr(a, name), getattr(b, name)
        if x == y:
            continue
        if name == "view":
            for n, (vx, vy) in enumerate(zip(x, y, strict=True)):
                if vx != vy:
                    fx, fy = view_fields(vx), view_fields(vy)
                    for key in sorted(set(fx) | set(fy)):
                        if fx.get(key) != fy.get(key):
                            rows.append((f"view[{corr.nodes[n]}].{key}", fx.get(key, "-"), fy.get(key, "-")))
        elif name == "log":
            rows.append(("log", ", ".join(msg_str(q) for q in x), ", ".join(msg_str(q) for q in y)))
        elif name == "chan":
            for i, (qx, qy) in enumerate(zip(x, y, strict=True)):
                if qx != qy:
                    src, dst = divmod(i, len(corr.nodes))
                    label = f"chan[{corr.nodes[src]}->{corr.nodes[dst]}]"
                    rows.append((label, ", ".join(p2p_str(q) for q in qx), ", ".join(p2p_str(q) for q in qy)))
        elif name in m.DATA_PATH_VARIABLES:
            fx, fy = flatten(a), flatten(b)
            for key in sorted(k for k in set(fx) | set(fy) if k.startswith(f"{name}[")):
                if fx.get(key) != fy.get(key):
                    rows.append((key, fx.get(key, "-"), fy.get(key, "-")))
        elif name == "dataCurrent":
            for r, (vx, vy) in enumerate(zip(x, y, strict=True)):
                if vx != vy:
                    rows.append((f"data files of {corr.resources[r]}", "the production data", "other files"))
        elif name in ("cfg", "resVer"):
            rows.append((name, _versions_str(x, expected_versions=x), _versions_str(y, expected_versions=x)))
        else:
            rows.append((name, str(x), str(y)))
    return rows


def _versions_str(versions: Any, expected_versions: Any) -> str:
    """Configuration versions, a FOREIGN_TEXT one shown with the version the model has there."""
    if isinstance(versions, tuple):
        return "(" + ", ".join(_versions_str(v, e) for v, e in zip(versions, expected_versions, strict=True)) + ")"
    return f"v{expected_versions} with another text" if versions == FOREIGN_TEXT else str(versions)


# ---------------------------------------------------------------- model steps

_NODE_ACTIONS: dict[str, Callable[[State, Params, int], State | None]] = {
    "Join": m.Join,
    "RecoverGroupState": m.RecoverGroupState,
    "Deliver": m.Deliver,
    "Crash": m.Crash,
    "Restart": m.Restart,
    "Write": m.Write,
    "Pause": m.Pause,
}
_CHANNEL_ACTIONS: dict[str, Callable[[State, Params, int, int], State | None]] = {
    "ReceiveGroupState": m.ReceiveGroupState,
    "ReceiveConfig": m.ReceiveConfig,
    "ReceiveStartMirror": m.ReceiveStartMirror,
    "ReceiveWrite": m.ReceiveWrite,
    "ReceiveAck": m.ReceiveAck,
}


def offered(engine: InMemoryEngine, s: State) -> list[Action]:
    """The engine's enabled steps the model state `s` can match: without writes the model is
    the write-free abstraction (no client writes, no pauses), and once its writes are all
    submitted, a client has no further write to make."""
    actions = engine.enabled()
    if not s.writes:
        return [a for a in actions if a.name not in DATA_PATH_ENVIRONMENT]
    if all(rec.st != m.W_NONE for rec in s.writes):
        return [a for a in actions if a.name != "Write"]
    return actions


def model_step(s: State, p: Params, corr: Correspondence, name: str, params: Mapping[str, str]) -> State | None:
    """The model's successor for the action of that name and parameters, or None if disabled."""
    if name in ENVIRONMENT_ACTIONS:
        return ENVIRONMENT_ACTIONS[name](s, p, corr.res(params["r"]))
    n = corr.node(params["n"])
    if name in _NODE_ACTIONS:
        return _NODE_ACTIONS[name](s, p, n)
    if name in _CHANNEL_ACTIONS:
        return _CHANNEL_ACTIONS[name](s, p, corr.node(params["src"]), n)
    if name == "ChangeConfig":
        return m.ChangeConfig(s, p, n, corr.res(params["r"]))
    if name == "ReportFailure":
        return m.ReportFailure(s, p, n, corr.res(params["r"]))
    if name == "ReportRepair":
        return m.ReportRepair(s, p, n, corr.res(params["r"]))
    raise ConformanceError(f"step {name!r} has no model action")


# ---------------------------------------------------------------- trace validation


@dataclass
class Divergence:
    seq: int
    step: str
    reason: str
    rows: list[tuple[str, str, str]]  # (what, model, implementation)

    def render(self) -> str:
        lines = [f"step {self.seq} {self.step}: {self.reason}"]
        if self.rows:
            width = max(len(r[0]) for r in self.rows)
            lines.append(f"  {'':{width}}  model | implementation")
            lines += [f"  {what:{width}}  {mine} | {theirs}" for what, mine, theirs in self.rows]
        return "\n".join(lines)


@dataclass
class Report:
    steps: int  # logged steps checked
    stutters: int  # logged steps the model does not see (rejected messages)
    divergence: Divergence | None
    final: State

    @property
    def conforms(self) -> bool:
        return self.divergence is None


def _label(rec: StepRecord) -> str:
    return f"{rec.step}({', '.join(f'{k}={v}' for k, v in rec.params.items())})"


def _summary_rows(corr: Correspondence, t: State, n: int, post: MemberSummary) -> list[tuple[str, str, str]]:
    rows = []
    phase = m.PHASE_NAMES[t.phase[n]]
    if phase != post.phase:
        rows.append(("phase", phase, post.phase))
    cursor = t.cursor[n] if t.phase[n] in m.HOLDS_VIEW else 0
    if cursor != post.position:
        rows.append(("position", str(cursor), str(post.position)))
    body = None if post.view is None else GroupStateBody.model_validate(post.view)
    mine, theirs = _normal_view(t.view[n]), _normal_view(corr.view(body))
    if mine != theirs:
        fx, fy = view_fields(mine), view_fields(theirs)
        for key in sorted(set(fx) | set(fy)):
            if fx.get(key) != fy.get(key):
                rows.append((f"view.{key}", fx.get(key, "-"), fy.get(key, "-")))
    configs = {corr.resources[r]: v for r, v in enumerate(t.cfg[n]) if v}
    if configs != post.configs:
        rows.append(("configs", str(configs), str(post.configs)))
    return rows


def _decode(adapter: TypeAdapter[Any], value: dict[str, Any], what: str) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise ConformanceError(f"logged {what} is not a wire message: {exc.errors()[0]['msg']}") from None


def check_step(
    corr: Correspondence,
    s: State,
    t: State,
    rec: StepRecord,
    writes: WriteNumbers | None = None,
    texts: Contents | None = None,
) -> list[tuple[str, str, str]]:
    """What a logged step shows that the model's successor disagrees with; `writes` (the
    log's own write numbering) when the run has client writes, which the data path's
    messages, answers and member state are then compared on. With `texts` (the run's), every
    CONFIG sent must carry its version's one text: the first one seen for that version, and
    the data files a step logs (after a mirror's synchronisation) must be the production data
    wherever the model holds that copy current."""
    n = corr.node(rec.member)
    rows: list[tuple[str, str, str]] = []
    for sent in rec.sent if texts is not None else ():
        if sent.msg.get("kind") == "CONFIG":
            config = _decode(_DIRECT, sent.msg, "message")
            assert isinstance(config, ConfigMsg) and texts is not None
            if texts.stored(config.resource, config.version, config.data) == FOREIGN_TEXT:
                known = texts.texts[(config.resource, config.version)]
                rows.append((f"text of {config.resource} v{config.version}", repr(known[:40]), repr(config.data[:40])))
    for resource, digest in rec.data.items() if texts is not None else ():
        if resource not in corr.resources:
            rows.append(("data files", "a resource of the group", resource))
        elif t.dataCurrent[corr.res(resource)] and texts is not None and not texts.data_current(True, digest):
            rows.append((f"data files of {resource}", "the production data", "other files"))
    if t.inc[n] != rec.inc:
        rows.append(("incarnation", str(t.inc[n]), str(rec.inc)))
    if rec.step == "Deliver" and rec.consumed is not None:
        taken = corr.ordered(_decode(_ORDERED, rec.consumed, "delivery"))
        if rec.position != s.cursor[n] or s.log[s.cursor[n]] != taken:
            expected = f"@{s.cursor[n]} {msg_str(s.log[s.cursor[n]])}"
            rows.append(("delivered", expected, f"@{rec.position} {msg_str(taken)}"))
    elif rec.step in _GROUP_RECEIVES and rec.consumed is not None:
        src = corr.node(rec.params["src"])
        head = s.chan[src * len(corr.nodes) + n][0]
        taken_p2p = corr.direct(_decode(_DIRECT, rec.consumed, "message"), writes=writes)
        if _normal_p2p(head, writes) != _normal_p2p(taken_p2p, writes):
            rows.append(("received", p2p_str(head), p2p_str(taken_p2p)))
    elif rec.step in ("ReceiveWrite", "ReceiveAck") and rec.consumed is not None and writes is not None:
        src = corr.node(rec.params["src"])
        dhead = s.dchan[src * len(corr.nodes) + n][0]._replace(cur=0)
        taken_data = corr.data(_decode(_DATA, rec.consumed, "data message"), writes, 0)
        if dhead != taken_data:
            rows.append(("received", data_msg_str(dhead), data_msg_str(taken_data)))
    appended = list(t.log[len(s.log) :])
    multicast = [corr.ordered(_decode(_ORDERED, x, "multicast")) for x in rec.multicast]
    if appended != multicast or rec.multicast_at != list(range(len(s.log), len(t.log))):
        rows.append(("multicast", ", ".join(map(msg_str, appended)), ", ".join(map(msg_str, multicast))))
    rows += _sent_rows(corr, s, t, n, rec, writes)
    rows += _summary_rows(corr, t, n, rec.post)
    if writes is not None:
        rows += _data_path_rows(corr, s, t, n, rec, writes)
    return rows


def _data_path_rows(
    corr: Correspondence, s: State, t: State, n: int, rec: StepRecord, writes: WriteNumbers
) -> list[tuple[str, str, str]]:
    """The data path as a logged step shows it: data messages sent, answers, and the member's
    epoch, pause and pending writes after it."""
    rows: list[tuple[str, str, str]] = []
    nodes = len(corr.nodes)
    for dst in range(nodes):
        i = n * nodes + dst
        before = () if rec.step in ("Crash", "Restart") else s.dchan[i]
        mine = [x._replace(cur=0) for x in t.dchan[i][len(before) :]]
        theirs = [
            corr.data(_decode(_DATA, sent.msg, "data message"), writes, 0)
            for sent in rec.data_sent
            if sent.delivered and sent.to == corr.nodes[dst]
        ]
        if mine != theirs:
            label = f"data sent to {corr.nodes[dst]}"
            rows.append((label, ", ".join(map(data_msg_str, mine)), ", ".join(map(data_msg_str, theirs))))
    ids = list(writes.ledger)
    told = [(ids[w], m.WRITE_STATUS_NAMES[x.st]) for w, x in enumerate(t.writes) if x.st != s.writes[w].st]
    expected = [(i, st) for i, st in told if st != "pending"]
    answered = [(a.id, a.status) for a in rec.answers]
    if not rec.synthesised and sorted(expected) != sorted(answered):
        rows.append(("answers", str(sorted(expected)), str(sorted(answered))))
    if t.epoch[n] != rec.post.epoch:
        rows.append(("epoch", str(t.epoch[n]), str(rec.post.epoch)))
    if isinstance(t.stale[n], GroupState) != rec.post.paused:
        rows.append(("paused", str(isinstance(t.stale[n], GroupState)), str(rec.post.paused)))
    pending = {
        ids[w]: [corr.resources[r] for r in range(len(corr.resources)) if x.wait >> r & 1]
        for w, x in enumerate(t.writes)
        if x.st == m.W_PENDING and x.by == n
    }
    if pending != rec.post.pending:
        rows.append(("pending", str(pending), str(rec.post.pending)))
    return rows


_GROUP_RECEIVES = ("ReceiveGroupState", "ReceiveConfig", "ReceiveStartMirror")


def _normal_p2p(x: P2P, writes: WriteNumbers | None = None) -> P2P:
    """A message as a logged step shows it: a CONFIG's or START_MIRROR's cur is the sender's
    position, which the log has as the step's post position (checked there), not in the message.
    Without client writes a START_MIRROR's resynchronisation is not compared (the model's
    data path is off)."""
    if x.kind != m.GROUP_STATE:
        return x._replace(cur=-1) if writes is not None else x._replace(cur=-1, data=(), ep=0)
    return x._replace(gs=_normal_view(x.gs))


def _sent_rows(
    corr: Correspondence, s: State, t: State, n: int, rec: StepRecord, writes: WriteNumbers | None
) -> list[tuple[str, str, str]]:
    nodes = len(corr.nodes)
    model_sent: dict[int, list[P2P]] = {}
    for dst in range(nodes):
        i = n * nodes + dst
        before = s.chan[i]
        if rec.step in _GROUP_RECEIVES and corr.node(rec.params["src"]) == n and dst == n:
            before = before[1:]
        if rec.step == "Crash":
            before = ()
        new = [_normal_p2p(x, writes) for x in t.chan[i][len(before) :]]
        if new:
            model_sent[dst] = new
    impl_sent: dict[int, list[P2P]] = {}
    for sent in rec.sent:
        if sent.delivered:
            impl_sent.setdefault(corr.node(sent.to), []).append(
                _normal_p2p(corr.direct(_decode(_DIRECT, sent.msg, "sent message"), writes=writes), writes)
            )
    rows = []
    for dst in sorted(set(model_sent) | set(impl_sent)):
        mine, theirs = model_sent.get(dst, []), impl_sent.get(dst, [])
        if mine != theirs:
            rows.append((f"sent to {corr.nodes[dst]}", ", ".join(map(p2p_str, mine)), ", ".join(map(p2p_str, theirs))))
    return rows


def validate_log(cluster: ClusterRecord, steps: list[StepRecord]) -> Report:
    """Check a step log against the model, step by step; stop at the first divergence.

    A log with client writes is checked against the model with as many writes, numbered
    in the order the log's `Write` steps took them (each logs its client's request).

    A step logged only as an intent was interrupted: its process died inside it, before
    or after its effect on a resource (each step has at most one). Both are behaviours
    of the model, the step not taken and the step taken, so both are kept as candidate
    states; the later steps decide, and the log conforms if one candidate explains it all.
    """
    corr = Correspondence.of(cluster)
    max_writes = sum(1 for rec in steps if rec.step == "Write")
    p = corr.params(max_writes, resource_failures=True)
    # Each candidate has its own ledger: a write whose step may not have been taken has
    # a number in the one where it was, and none in the other.
    candidates = [_Candidate(corr.initial_state(cluster.access, max_writes), {})]
    texts = Contents()
    checked = stutters = 0
    for rec in steps:
        if rec.step in STUTTERS:
            stutters += 1
            continue
        fate: tuple[str, WriteFate] | None = None
        if rec.step == "Write":
            request = write_request(rec)
            if request is None or any(request[0] in c.ledger for c in candidates):
                reason = "a Write step must log its client's request (id, key, value), a new id each"
                return Report(checked, stutters, Divergence(rec.seq, _label(rec), reason, []), candidates[0].state)
            write_id, key, value = request
            fate = write_id, WriteFate(by=rec.member, key=key, value=value, epoch=rec.post.epoch)
        if rec.intent:
            forks = [c.take(p, corr, rec, fate, alone=False) for c in candidates]
            candidates = _distinct([*candidates, *(f for f in forks if f is not None)])
            checked += 1
            continue
        survivors: list[_Candidate] = []
        failure: Report | None = None
        for c in candidates:
            taken = c.take(p, corr, rec, fate, alone=len(candidates) == 1)
            if taken is None:
                failure = failure or Report(
                    checked, stutters, Divergence(rec.seq, _label(rec), "not enabled in the model", []), c.state
                )
                continue
            rows = check_step(corr, c.state, taken.state, rec, taken.numbers, texts)
            if rows:
                reason = "the model's successor disagrees with the logged step"
                failure = failure or Report(
                    checked, stutters, Divergence(rec.seq, _label(rec), reason, rows), taken.state
                )
                continue
            survivors.append(taken)
        if not survivors:
            assert failure is not None
            return failure
        candidates = _distinct(survivors)
        checked += 1
    return Report(checked, stutters, None, candidates[0].state)


@dataclass
class _Candidate:
    """A model state that explains the log so far, with the writes submitted on its way."""

    state: State
    ledger: dict[str, WriteFate]
    numbers: WriteNumbers | None = None

    def __post_init__(self) -> None:
        if self.numbers is None and self.state.writes:
            self.numbers = WriteNumbers(self.ledger)

    def take(
        self, p: Params, corr: Correspondence, rec: StepRecord, fate: tuple[str, WriteFate] | None, alone: bool
    ) -> _Candidate | None:
        """The candidate after the logged step (with the write it submits, if any); `alone`:
        no other candidate shares this one's ledger, so it may grow in place."""
        t = model_step(environment(self.state, p, corr, rec), p, corr, rec.step, rec.params)
        if t is None:
            return None
        if fate is None:
            return _Candidate(t, self.ledger, self.numbers)
        if alone:
            self.ledger[fate[0]] = fate[1]
            return _Candidate(t, self.ledger, self.numbers)
        return _Candidate(t, {**self.ledger, fate[0]: fate[1]})


def environment(s: State, p: Params, corr: Correspondence, rec: StepRecord) -> State:
    """The model state once the resource failures and repairs a logged step shows have happened.

    Nobody logs a resource failing or coming back (the environment's FailResource and
    RepairResource): a step logs what it found. So a resource fails just before the first
    step that found it failed (it multicasts RES_FAIL or notes the failure), and comes back
    just before the step that reports its repair (ReportRepair)."""
    for step in environment_steps(s, p, corr, rec):
        s = step.state
    return s


def environment_steps(s: State, p: Params, corr: Correspondence, rec: StepRecord) -> list[m.Step]:
    """The FailResource and RepairResource steps `environment` takes before a logged step."""
    failed = {x["resource"] for x in rec.multicast if x.get("kind") == "RES_FAIL" and "resource" in x}
    failed |= {note.split()[1] for note in rec.notes if note.startswith("resource ") and " failed: " in note}
    changes = [("FailResource", r) for r in sorted(failed & set(corr.resources))]
    if rec.step == "ReportRepair" and rec.params.get("r") in corr.resources:
        changes.append(("RepairResource", rec.params["r"]))
    steps = []
    for name, resource in changes:
        t = ENVIRONMENT_ACTIONS[name](s, p, corr.res(resource))
        if t is not None:
            steps.append(m.Step(name, (("r", corr.res(resource)),), t))
            s = t
    return steps


ENVIRONMENT_ACTIONS: dict[str, Callable[[State, Params, int], State | None]] = {
    "FailResource": m.FailResource,
    "RepairResource": m.RepairResource,
}


def _distinct(candidates: list[_Candidate]) -> list[_Candidate]:
    unique: dict[tuple[State, tuple[str, ...]], _Candidate] = {}
    for c in candidates:
        unique.setdefault((c.state, tuple(c.ledger)), c)
    return list(unique.values())


def write_request(rec: StepRecord) -> tuple[str, str, str] | None:
    request = rec.consumed or {}
    write_id, key, value = request.get("id"), request.get("key"), request.get("value")
    if set(request) != {"id", "key", "value"}:
        return None
    if not (isinstance(write_id, str) and isinstance(key, str) and isinstance(value, str)):
        return None
    return write_id, key, value
