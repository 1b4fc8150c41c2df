"""The simulation check: every step of the Python model is a step of the abstract systems.

`pbjoin prove` proves IndInv of three abstract encodings (the group-state, configuration
and stream levels), not of protocol.py. This module ties them to it: for the steps
(s, s') of small configurations (every reachable state up to a renaming of nodes, which
maps steps to steps and checks to checks; every step, or a sample stratified by action,
message kind and phases, each stratum kept), the step is mapped into each level's
vocabulary with s and s' pinned exactly, and Z3 must find the abstract action and the
axioms satisfiable together. A step for which no candidate abstract action is
satisfiable is a failing verdict that names the concrete action and the state. Every
stratum's key starts with the action and the message kind it takes, so every action and
message kind a configuration has is checked at each level (`Pass.uncovered` says so).

* group level: every (group state, ordered message) pair that some reachable log chains,
  `apply_message` applied: the abstract transition of the message's kind (or a stutter,
  where apply_message leaves the state as it is).
* configuration level: the step itself, views and CONFIGs in flight as relations.
* stream level: the step on the uncompacted successor (the log only grows), followed by
  `Compact` from it to the successor protocol.py keeps, with the group-level axioms about
  `apply` (`Stream.axioms`); pinned through `stream.History`, so that both states share
  one message and group-state constant per position and per value.

A model mutant that the encodings do not share fails here (`pbjoin prove` would still say
PROVED of the unchanged encodings), and so does each restrictive `EncodingEdit` and each
`StepMutant` (a stream-level step of the model changed).
"""

from __future__ import annotations

import dataclasses
import enum
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from pbjoin_model.explorer.bfs import reachable, reachable_steps
from pbjoin_model.proofs.encoding import (
    MI_ACTIVE,
    MI_NONE,
    MI_SYNCING,
    S_ABSENT,
    S_ACTIVE,
    S_JOINING,
    S_PLACED,
    ConfigLevel,
    EncodingEdit,
    GroupLevel,
    Node,
    NodeLevel,
    Res,
    RGroupState,
    Term,
    Transition,
    Vocabulary,
    views_ok,
)
from pbjoin_model.proofs.stream import History, Stream, StreamAction, StreamLevel, StreamState
from pbjoin_model.protocol.machine import (
    CONFIG,
    DATA_PATH_ACTIONS,
    FAIL,
    HOLDS_VIEW,
    MSG_NAMES,
    NO_NODE,
    P2P_NAMES,
    PHASE_NAMES,
    WAIT_STATE,
    GroupState,
    Msg,
    Mutant,
    Params,
    State,
    Step,
    apply_message,
    compact,
    fold,
    successors,
)

# The abstract actions a concrete action may be, per level (tried in order).
STREAM_ACTIONS: dict[str, tuple[str, ...]] = {
    "Join": ("Join",),
    "ReceiveGroupState": ("Adopt", "Receive"),
    "RecoverGroupState": ("Adopt",),
    "Deliver": ("Deliver",),
    "ReceiveConfig": ("Receive",),
    "ReceiveStartMirror": ("Receive",),
    "ChangeConfig": ("ChangeConfig",),
    "Crash": ("Crash",),
    "Restart": ("Restart",),
}
CONFIG_ACTIONS: dict[str, tuple[str, ...]] = {
    "Join": ("OtherActions",),
    "ReceiveGroupState": ("Deliver", "OtherActions"),
    "RecoverGroupState": ("Deliver",),
    "Deliver": ("Deliver",),
    "ReceiveConfig": ("ReceiveConfig",),
    "ReceiveStartMirror": ("OtherActions",),
    "ChangeConfig": ("ChangeConfig",),
    "Crash": ("Crash",),
    "Restart": ("OtherActions",),
}
GROUP_ACTIONS = ("ApplyJoin", "Place", "ApplyJoinDone", "ApplyMirrorActive", "ApplyFail")  # by message kind

# The configurations checked by default: 2 and 3 nodes, 2 resources, failures, restarts,
# configuration changes.
CONFIGURATIONS = (
    Params(2, 1, 1, 1, 1),
    Params(2, 2, 1, 1, 1),
    Params(2, 1, 2, 1, 1),
    Params(3, 1, 2, 0, 0),
    Params(3, 1, 1, 1, 0),
    Params(3, 1, 1, 0, 1),
    Params(3, 2, 1, 0, 0),
)
LEVELS = ("group", "config", "stream")


class StepMutant(enum.Enum):
    """Slips in what one stream-level step of the model does (not in the protocol's choices).

    Each makes one action of protocol.py leave a part of the state as it was (or
    compaction fold too much), as an edit of machine.py would. The check takes the
    reachable states of the model (with its `Mutant`) and the mutated steps from them:
    the stream level (and the configuration level, where it sees the part) must reject
    each. Selected by a parameter, as model mutants are; the explorer does not know them.
    """

    NONE = "none"
    CRASH_KEEPS_CHANNELS = "crash-keeps-channels"  # the messages to and from a crashed node stay in flight
    RESTART_KEEPS_INCARNATION = "restart-keeps-incarnation"  # a restarted node keeps its incarnation
    DELIVER_SKIPS_CONFIG_READ = "deliver-skips-config-read"  # a host by delivery does not read the configuration
    COMPACT_FOLDS_EVERYTHING = "compact-folds-everything"  # the whole log folded, what a holder still needs too


# A step mutant: the action, and the field of State it leaves as it was.
STEP_EDITS = {
    StepMutant.CRASH_KEEPS_CHANNELS: ("Crash", "chan"),
    StepMutant.RESTART_KEEPS_INCARNATION: ("Restart", "inc"),
    StepMutant.DELIVER_SKIPS_CONFIG_READ: ("Deliver", "cfg"),
}


@dataclass
class StepCheck:
    level: str  # "group", "config" or "stream"
    action: str  # the concrete action (for the group level: the message kind applied)
    abstract: str  # the abstract action found ("" when none)
    verdict: str  # "ok", "fail" or "unknown"
    seconds: float
    what: str  # the step, readable
    tried: str = ""  # the abstract actions tried
    note: str = ""  # for a failure: whether the states alone already contradict the axioms
    kind: str = ""  # the message kind the step takes (delivered or received), "" for none
    configuration: str = ""  # the configuration's name

    def line(self) -> str:
        if self.verdict == "ok":
            return f"{self.level}: {self.what} is {self.abstract} ok ({self.seconds:.2f} s)"
        why = f"; {self.note}" if self.note else ""
        return (
            f"{self.level}: {self.what}: {self.verdict}: no abstract counterpart among {self.tried}{why} "
            f"({self.seconds:.2f} s)"
        )


def covered(action: str, kind: str) -> str:
    """An (action, message kind) pair as the coverage reports name it: Deliver(FAIL), Crash."""
    return f"{action}({kind})" if kind else action


@dataclass
class Pass:
    """One configuration: what its enumeration found, and what each level checked of it."""

    name: str
    params: Params
    states: int  # reachable states enumerated (one per orbit under renaming nodes)
    steps: int  # concrete steps from them
    strata: int
    pairs: int  # distinct (group state, message, wiring) the logs chain: all checked at the group level
    to_cover: dict[str, set[str]]  # per level: every action and message kind the enumeration has
    checks: list[StepCheck] = field(default_factory=list)
    levels: tuple[str, ...] = LEVELS

    def count(self, level: str, action: str | None = None) -> int:
        return sum(1 for c in self.checks if c.level == level and action in (None, c.action))

    def uncovered(self, level: str) -> set[str]:
        """What the configuration has that no check of the level took (empty: all covered)."""
        if level not in self.levels:
            return set()
        return self.to_cover[level] - {covered(c.action, c.kind) for c in self.checks if c.level == level}


@dataclass
class SimulationResult:
    mutant: Mutant  # of the model
    encoding: Mutant  # whose abstract encodings
    edit: EncodingEdit
    step_mutant: StepMutant
    configurations: list[Params]
    passes: list[Pass] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def checks(self) -> list[StepCheck]:
        return [c for p in self.passes for c in p.checks]

    @property
    def verdict(self) -> str:
        """'fail' when a step has no counterpart; 'unknown' when Z3 could not decide one, or
        (which the sample rules out by construction) an action or message kind went unchecked."""
        verdicts = {c.verdict for c in self.checks}
        if any(p.uncovered(level) for p in self.passes for level in p.levels):
            verdicts.add("unknown")
        return "fail" if "fail" in verdicts else "unknown" if "unknown" in verdicts else "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": 0, "fail": 1, "unknown": 3}[self.verdict]

    def failures(self) -> list[StepCheck]:
        return [c for c in self.checks if c.verdict != "ok"]

    def count(self, level: str) -> int:
        return sum(p.count(level) for p in self.passes)


# Short tries under different random seeds before a long one: Z3's model search on the
# stream level's quantifiers either succeeds at once or wanders, depending on the seed. The
# tries are bounded by Z3's resource count, not the clock, so that a loaded machine (a CI
# runner, a parallel suite) reaches the same verdicts as an idle one; about 50 M units are a
# second here. The wall-clock timeout stays as the user's bound on a single check.
SAT_TRIES = (0, 1, 2)
SAT_TRY_RLIMIT = 250_000_000
SAT_LAST_RLIMIT = 2_000_000_000


def _sat(facts: list[Term], timeout_ms: int) -> str:
    """'ok' when the facts have a model, 'fail' when they have none."""
    for seed in (*SAT_TRIES, None):
        solver = z3.Solver()
        solver.set("timeout", timeout_ms)
        solver.set("rlimit", SAT_LAST_RLIMIT if seed is None else SAT_TRY_RLIMIT)
        if seed:
            solver.set("random_seed", seed)
        solver.add(*facts)
        answer = solver.check()
        if answer != z3.unknown:
            return "ok" if answer == z3.sat else "fail"
    return "unknown"


def _wiring(voc: Vocabulary, s: State, p: Params, nodes: list[Term], res: list[Term]) -> list[Term]:
    """The static vocabulary pinned: access as s's wiring, resources in their preference order."""
    out = [voc.first == res[0]]
    for i, a in enumerate(res):
        out += [voc.le(a, b) == (i <= q) for q, b in enumerate(res)]
    for n, node in enumerate(nodes):
        out += [voc.access(node, a) == bool(s.access[n] >> q & 1) for q, a in enumerate(res)]
    return out


def _universe(nodes: list[Term], res: list[Term]) -> list[Term]:
    x, r = z3.Const("x", Node), z3.Const("r", Res)
    out = [z3.ForAll([x], z3.Or(*(x == a for a in nodes))), z3.ForAll([r], z3.Or(*(r == q for q in res)))]
    if len(nodes) > 1:
        out.append(z3.Distinct(*nodes))
    if len(res) > 1:
        out.append(z3.Distinct(*res))
    return out


def _constants(p: Params) -> tuple[list[Term], list[Term]]:
    return [z3.Const(f"node{i}", Node) for i in range(p.nodes)], [z3.Const(f"res{i}", Res) for i in range(p.resources)]


# ---------------------------------------------------------------- group level


def pin_group_state(gs_sym: RGroupState, gs: GroupState, nodes: list[Term], res: list[Term]) -> list[Term]:
    """A relational group state pinned to a concrete one."""
    statuses = (S_ABSENT, S_JOINING, S_PLACED, S_ACTIVE)
    mirrors = (MI_NONE, MI_SYNCING, MI_ACTIVE)
    out = [gs_sym.prim == res[gs.prim]]
    for q, a in enumerate(res):
        out += [gs_sym.has_host(a) == (gs.host[q] != NO_NODE), gs_sym.mirror(a) == mirrors[gs.mirror[q]]]
        if gs.host[q] != NO_NODE:
            out.append(gs_sym.host(a) == nodes[gs.host[q]])
    for n, node in enumerate(nodes):
        out += [gs_sym.status(node) == statuses[gs.status[n]], gs_sym.inc(node) == gs.inc[n]]
        for q, a in enumerate(res):
            out += [gs_sym.member(node, a) == (n in gs.sub[q]), gs_sym.acc(node, a) == bool(gs.acc[n] >> q & 1)]
    return out


def group_pins(
    voc: Vocabulary,
    pre: RGroupState,
    gs: GroupState,
    s: State,
    p: Params,
    t: Transition | None = None,
    post: RGroupState | None = None,
    after: GroupState | None = None,
    msg: Msg | None = None,
) -> list[Term]:
    """The group level pinned to gs (and to `after` = gs with msg applied, as transition t):
    exactly p's nodes and resources, s's wiring."""
    nodes, res = _constants(p)
    out = _universe(nodes, res) + _wiring(voc, s, p, nodes, res) + pin_group_state(pre, gs, nodes, res)
    if post is not None and after is not None:
        out += pin_group_state(post, after, nodes, res)
    if t is not None and msg is not None:
        out.append(t.about == nodes[msg.node])
    return out


def check_group_step(
    gs: GroupState, msg: Msg, s: State, p: Params, encoding: Mutant, edit: EncodingEdit, timeout_ms: int
) -> StepCheck:
    """apply_message(gs, msg) of the model (p.mutant) as a transition of the group level (`encoding`)."""
    t0 = time.monotonic()
    after = apply_message(gs, msg, p)
    what = f"apply {MSG_NAMES[msg.kind]}(n{msg.node + 1}, inc {msg.inc})"
    if after == gs:
        return StepCheck("group", MSG_NAMES[msg.kind], "a stutter", "ok", time.monotonic() - t0, what)
    voc = Vocabulary()
    pre, post = RGroupState.fresh("pre"), RGroupState.fresh("post")
    t = next(t for t in GroupLevel(voc, encoding, edit).transitions(pre, post) if t.action == GROUP_ACTIONS[msg.kind])
    base = voc.axioms() + group_pins(voc, pre, gs, s, p, t, post, after, msg)
    verdict = _sat([*base, *t.constraints], timeout_ms)
    found = t.action if verdict == "ok" else ""
    return StepCheck("group", MSG_NAMES[msg.kind], found, verdict, time.monotonic() - t0, what, t.action)


# ---------------------------------------------------------------- configuration level


def pin_node_level(st: NodeLevel, s: State, p: Params, nodes: list[Term], res: list[Term]) -> list[Term]:
    """The configuration level's state pinned to s: views only for holders, versions in flight within their bounds."""
    out: list[Term] = []
    for n, node in enumerate(nodes):
        out += [st.phase(node) == s.phase[n], st.has_view(node) == (s.phase[n] in HOLDS_VIEW)]
        out += [st.cfg(node, a) == s.cfg[n][q] for q, a in enumerate(res)]
        view = s.view[n]
        if isinstance(view, GroupState):
            out.append(st.view_prim(node) == res[view.prim])
            for q, a in enumerate(res):
                for y, other in enumerate(nodes):
                    out += [
                        st.view_member(node, other, a) == (y in view.sub[q]),
                        st.view_hosts(node, a, other) == (view.host[q] == y),
                    ]
    out += [st.res_ver(a) == s.resVer[q] for q, a in enumerate(res)]
    for c, queue in enumerate(s.chan):
        src, dst = nodes[c // p.nodes], nodes[c % p.nodes]
        for q, a in enumerate(res):
            versions = [msg.ver for msg in queue if msg.kind == CONFIG and msg.res == q]
            out.append(st.config_sent(src, dst, a) == bool(versions))
            out += [st.config_ver(src, dst, a) >= v for v in versions]
            out += [st.config_low(src, dst, a) <= v for v in versions]
    return out


def config_pins(
    voc: Vocabulary,
    pre: NodeLevel,
    s: State,
    p: Params,
    post: NodeLevel | None = None,
    step: Step | None = None,
    abstract_params: dict[str, Term] | None = None,
) -> list[Term]:
    """The configuration level pinned to s (and to the step's successor, its parameters to the step's)."""
    nodes, res = _constants(p)
    out = _universe(nodes, res) + _wiring(voc, s, p, nodes, res) + pin_node_level(pre, s, p, nodes, res)
    if post is not None and step is not None:
        out += pin_node_level(post, step.state, p, nodes, res)
        params, abstract = dict(step.params), abstract_params or {}
        out += [abstract[name] == nodes[params[name]] for name in ("n", "src") if name in abstract]
        if "res" in abstract and "r" in params:
            out.append(abstract["res"] == res[params["r"]])
    return out


def check_config_step(
    s: State, step: Step, p: Params, encoding: Mutant, edit: EncodingEdit, timeout_ms: int
) -> StepCheck:
    t0 = time.monotonic()
    voc = Vocabulary()
    pre, post = NodeLevel.fresh("pre"), NodeLevel.fresh("post")
    base = voc.axioms() + views_ok(voc, pre) + views_ok(voc, post)
    candidates = CONFIG_ACTIONS[step.action]
    verdict = "fail"
    for action, abstract_params, constraints in ConfigLevel(voc, encoding, edit).transitions(pre, post):
        if action not in candidates:
            continue
        pins = config_pins(voc, pre, s, p, post, step, abstract_params)
        verdict = _sat([*base, *constraints, *pins], timeout_ms)
        if verdict == "ok":
            break
    found, tried = (action, "") if verdict == "ok" else ("", "/".join(candidates))
    what, kind = _describe(s, step), step_kind(s, step, p)
    return StepCheck("config", step.action, found, verdict, time.monotonic() - t0, what, tried, kind=kind)


# ---------------------------------------------------------------- stream level


def uncompacted(s: State, step: Step, p: Params) -> State:
    """The successor of the same action instance before protocol.py folds the settled log prefix."""
    pu = dataclasses.replace(p, compact_log=False)
    return next(t.state for t in successors(s, pu) if t.action == step.action and t.params == step.params)


def model_step(s: State, step: Step, p: Params, mutant: StepMutant = StepMutant.NONE) -> tuple[Step, State]:
    """The step as the model with the step mutant takes it, and its successor before compaction."""
    grown = uncompacted(s, step, p)
    if mutant is StepMutant.COMPACT_FOLDS_EVERYTHING:
        return step._replace(state=fold(grown, p, len(grown.log))), grown
    if mutant in STEP_EDITS and step.action == STEP_EDITS[mutant][0]:
        part = STEP_EDITS[mutant][1]
        grown = grown._replace(**{part: getattr(s, part)})
        return step._replace(state=compact(grown, p)), grown
    return step, grown


def stream_pins(
    sm: Stream, s: State, step: Step | None, p: Params, act: StreamAction | StreamState, grown: State | None = None
) -> list[Term]:
    """The stream level pinned to s (ghosts included) when `act` is a state, or to the step
    as `act`: the step on its successor before compaction (`grown`, by default protocol.py's),
    or for Compact the fold from it to the successor."""
    if grown is None:
        grown = uncompacted(s, step, p) if step is not None else s
    history = History(sm, p, s.durable, grown.log)
    if isinstance(act, StreamState):
        return history.encode(act, s) + history.facts()
    assert step is not None
    if act.action == "Compact":
        low = len(grown.log) - len(step.state.log)
        out = history.encode(act.pre, grown) + history.encode(act.post, step.state, offset=low, ghosts=False)
        out.append(act.params["low"] == low)
        return out + history.facts()
    out = history.encode(act.pre, s) + history.encode(act.post, grown, ghosts=False)
    params = dict(step.params)
    if "n" in act.params:
        out.append(act.params["n"] == history.nodes[params["n"]])
    if "res" in act.params and "r" in params:
        out.append(act.params["res"] == history.res[params["r"]])
    return out + history.facts()


def check_stream_step(
    s: State, step: Step, grown: State, p: Params, edit: EncodingEdit, timeout_ms: int
) -> list[StepCheck]:
    """The step (whose successor before compaction is `grown`) as a stream-level action,
    then (if the model compacted) as Compact."""
    t0 = time.monotonic()
    after = step.state
    low = len(grown.log) - len(after.log)
    sm = Stream()
    axioms = [a for _, a in sm.axioms()]
    level = StreamLevel(sm, edit)
    pre = StreamState.fresh("pre")
    out: list[StepCheck] = []
    verdict, found = "fail", ""
    for act in level.transitions(pre):
        if act.action not in STREAM_ACTIONS[step.action]:
            continue
        verdict = _sat([*axioms, *act.constraints, *stream_pins(sm, s, step, p, act, grown)], timeout_ms)
        if verdict == "ok":
            found = act.action
            break
    tried = "/".join(STREAM_ACTIONS[step.action])
    what, kind = _describe(s, step), step_kind(s, step, p)
    check = StepCheck("stream", step.action, found, verdict, time.monotonic() - t0, what, tried, kind=kind)
    if verdict == "fail":
        check.note = _stream_note(sm, axioms, s, grown, p, timeout_ms)
    out.append(check)
    if low > 0:
        t1 = time.monotonic()
        mid = StreamState.fresh("grown")
        folding = next(a for a in StreamLevel(sm, edit).transitions(mid) if a.action == "Compact")
        verdict = _sat([*axioms, *folding.constraints, *stream_pins(sm, s, step, p, folding, grown)], timeout_ms)
        what = f"{_describe(s, step)}, then Compact(low={low})"
        found = "Compact" if verdict == "ok" else ""
        out.append(StepCheck("stream", "Compact", found, verdict, time.monotonic() - t1, what, "Compact"))
    return out


def _stream_note(sm: Stream, axioms: list[Term], s: State, grown: State, p: Params, timeout_ms: int) -> str:
    """Why a stream step has no counterpart: its states contradict the axioms about apply
    (protocol.py's apply_message breaks a group-level lemma), or no action allows it."""
    for name, state in (("pre-state", s), ("post-state", grown)):
        if _sat([*axioms, *stream_pins(sm, state, None, p, StreamState.fresh("alone"))], timeout_ms) == "fail":
            return f"the {name} alone contradicts the axioms about apply (a group-level lemma fails for the model)"
    return "no abstract action allows this step"


# ---------------------------------------------------------------- the steps checked


def _describe(s: State, step: Step) -> str:
    phases = "/".join(PHASE_NAMES[ph] for ph in s.phase)
    return f"{step.label()} from phases {phases}, log length {len(s.log)}"


def step_kind(s: State, step: Step, p: Params) -> str:
    """The kind of the message the step takes: delivered from the log, or the head it receives."""
    params = dict(step.params)
    if step.action == "Deliver":
        return MSG_NAMES[s.log[s.cursor[params["n"]]].kind]
    if "src" in params:
        return P2P_NAMES[s.chan[params["src"] * p.nodes + params["n"]][0].kind]
    return ""


def stratum(s: State, step: Step, p: Params) -> tuple[object, ...]:
    """What distinguishes steps for the sample: the action, the message it takes (kind, own or
    not), the acting node's phase before and after, whether the log did not grow by one
    (compacted, or nothing appended), the kinds sent, whether messages were dropped. It
    starts with the action and the kind."""
    params = dict(step.params)
    n = params["n"]
    t = step.state
    own = None  # for a Deliver: whether the message is the node's own
    if step.action == "Deliver":
        msg = s.log[s.cursor[n]]
        own = msg.node == n and msg.inc == s.inc[n]
    sends = tuple(sorted({P2P_NAMES[m.kind] for q, q2 in zip(s.chan, t.chan, strict=True) for m in q2[len(q) :]}))
    dropped = sum(len(q) for q in s.chan) > sum(len(q) for q in t.chan) + ("src" in params)
    compacted = len(t.log) < len(s.log) + 1
    return (step.action, step_kind(s, step, p), own, s.phase[n], t.phase[n], compacted, sends, dropped)


@dataclass
class Sample:
    """What one configuration contributes: the sampled steps (each with its successor before
    compaction) and the group-level pairs."""

    steps: list[tuple[State, Step, State]]
    pairs: list[tuple[GroupState, Msg, State]]
    states: int  # reachable states enumerated (orbit representatives)
    total: int  # concrete steps enumerated
    strata: int
    to_cover: dict[str, set[str]]  # per level: the actions and message kinds the steps have


def sample(p: Params, per_stratum: int, seed: int = 0, mutant: StepMutant = StepMutant.NONE) -> Sample:
    """One pass over every reachable state up to renaming nodes: of every stratum the first
    step in BFS order (the shallowest, cheapest for Z3) and up to `per_stratum` - 1 more
    (reservoir-sampled; 0: every step), the steps as the model with the step mutant takes
    them; and every distinct (group state, message, wiring) that a reachable log chains."""
    rng = random.Random(seed)
    kept: dict[tuple[object, ...], list[tuple[State, Step, State | None]]] = {}
    seen: dict[tuple[object, ...], int] = {}
    pairs: dict[tuple[GroupState, Msg, tuple[int, ...]], State] = {}
    to_cover: dict[str, set[str]] = {level: set() for level in LEVELS}
    states = total = 0
    for s, steps in reachable_steps(p, symmetry=True):
        states += 1
        gs = s.durable
        for msg in s.log:
            pairs.setdefault((gs, msg, s.access), s)
            gs = apply_message(gs, msg, p)
        for step in steps:
            if step.action in DATA_PATH_ACTIONS:
                continue
            grown = None
            if mutant is not StepMutant.NONE:
                step, grown = model_step(s, step, p, mutant)
            total += 1
            key = stratum(s, step, p)
            seen[key] = seen.get(key, 0) + 1
            bucket = kept.setdefault(key, [])
            if len(bucket) < per_stratum or not per_stratum:
                bucket.append((s, step, grown))
            else:
                i = rng.randrange(1, seen[key])
                if i < per_stratum:
                    bucket[i] = (s, step, grown)
    for key in kept:
        to_cover["config"].add(covered(str(key[0]), str(key[1])))
        if key[5]:  # compacted
            to_cover["stream"].add("Compact")
    to_cover["stream"] |= to_cover["config"]
    to_cover["group"] = {MSG_NAMES[msg.kind] for _, msg, _ in pairs}
    chosen = [
        (s, step, uncompacted(s, step, p) if grown is None else grown)
        for bucket in kept.values()
        for s, step, grown in bucket
    ]
    return Sample(chosen, [(gs, msg, s) for (gs, msg, _), s in pairs.items()], states, total, len(kept), to_cover)


def simulate(
    configurations: tuple[Params, ...] = CONFIGURATIONS,
    mutant: Mutant = Mutant.NONE,
    encoding: Mutant = Mutant.NONE,
    edit: EncodingEdit = EncodingEdit.NONE,
    per_stratum: int = 2,
    levels: tuple[str, ...] = LEVELS,
    timeout_ms: int = 120_000,
    on_check: Callable[[StepCheck], None] | None = None,
    step_mutant: StepMutant = StepMutant.NONE,
    actions: frozenset[str] | None = None,
) -> SimulationResult:
    """The model with `mutant` (and `step_mutant`) against the encodings of `encoding` (with
    `edit`), on each configuration. The group level checks apply_message, which a step
    mutant leaves alone. `actions` narrows the checks to those steps (message kinds at the
    group level, the model's actions at the others): what the rest would have covered is
    then uncovered, and the verdict at best unknown."""
    start = time.monotonic()
    configured = [dataclasses.replace(c, mutant=mutant) for c in configurations]
    result = SimulationResult(mutant, encoding, edit, step_mutant, configured)
    for p in result.configurations:
        found = sample(p, per_stratum, mutant=step_mutant)
        one = Pass(name(p), p, found.states, found.total, found.strata, len(found.pairs), found.to_cover)
        one.levels = tuple(level for level in LEVELS if level in levels)
        result.passes.append(one)

        def record(c: StepCheck, one: Pass = one) -> None:
            c.configuration = one.name
            one.checks.append(c)
            if on_check is not None:
                on_check(c)

        if "group" in levels:
            for gs, msg, s in found.pairs:
                if actions is None or MSG_NAMES[msg.kind] in actions:
                    record(check_group_step(gs, msg, s, p, encoding, edit, timeout_ms))
        for s, step, grown in found.steps:
            if actions is not None and step.action not in actions:
                continue
            if "config" in levels:
                record(check_config_step(s, step, p, encoding, edit, timeout_ms))
            if "stream" in levels:
                for c in check_stream_step(s, step, grown, p, edit, timeout_ms):
                    record(c)
    result.seconds = time.monotonic() - start
    return result


def name(p: Params) -> str:
    """A configuration as --configuration takes it: nodes, resources, MaxFailures, MaxRestarts, MaxConfigChanges."""
    return f"{p.nodes},{p.resources},{p.max_failures},{p.max_restarts},{p.max_config_changes}"


# ---------------------------------------------------------------- witnesses for the premises

# The configuration whose reachable steps witness that every obligation's premises hold together.
WITNESS_CONFIGURATION = Params(2, 2, 1, 1, 1)


@dataclass
class Witnesses:
    """Per level and abstract action, concrete steps of the model that are instances of it:
    the richest found (most FAILs in the log, then most messages in flight, then the
    longest log), then the first (BFS: the shallowest)."""

    p: Params
    initial: State
    group: dict[str, list[tuple[GroupState, Msg, State]]] = field(default_factory=dict)
    config: dict[str, list[tuple[State, Step]]] = field(default_factory=dict)
    stream: dict[str, list[tuple[State, Step]]] = field(default_factory=dict)


def _richness(s: State) -> tuple[int, int, int]:
    return (sum(m.kind == FAIL for m in s.log), sum(len(q) for q in s.chan), len(s.log))


def stream_action_of(s: State, step: Step) -> str:
    """The stream-level action a concrete step is (before any Compact)."""
    if step.action == "ReceiveGroupState":
        return "Adopt" if s.phase[dict(step.params)["n"]] == WAIT_STATE else "Receive"
    return STREAM_ACTIONS[step.action][0]


def find_witnesses(p: Params = WITNESS_CONFIGURATION) -> Witnesses:
    best: dict[tuple[str, str], tuple[tuple[int, int, int], object]] = {}
    first: dict[tuple[str, str], object] = {}

    def offer(level: str, action: str, s: State, item: object) -> None:
        score = _richness(s)
        first.setdefault((level, action), item)
        if (level, action) not in best or score > best[(level, action)][0]:
            best[(level, action)] = (score, item)

    initial = None
    for s in reachable(p):
        if initial is None:
            initial = s
        gs = s.durable
        for msg in s.log:
            after = apply_message(gs, msg, p)
            if after != gs:
                offer("group", GROUP_ACTIONS[msg.kind], s, (gs, msg, s))
            gs = after
        for step in successors(s, p):
            if step.action in DATA_PATH_ACTIONS:
                continue
            offer("stream", stream_action_of(s, step), s, (s, step))
            if len(uncompacted(s, step, p).log) > len(step.state.log):
                offer("stream", "Compact", s, (s, step))
            if step.action != "ReceiveGroupState" or s.phase[dict(step.params)["n"]] != WAIT_STATE:
                offer("config", CONFIG_ACTIONS[step.action][0], s, (s, step))
    assert initial is not None
    out = Witnesses(p, initial)
    for (level, action), (_, item) in best.items():
        items = [item] if first[(level, action)] is item else [item, first[(level, action)]]
        getattr(out, level)[action] = items
    return out
