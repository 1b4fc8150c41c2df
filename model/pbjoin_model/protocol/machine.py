"""The join protocol as an explicit state machine, mirroring spec/JoinProtocol.tla.

Every TLA+ action has one Python function here with the same name and parameters,
and every TLA+ state variable one field of `State` with the same name. Nodes are
0..N-1 (shown as n1..nN), resources 0..R-1 in failover-preference order (r1..rR);
resource 0 starts with the primary role. Sets of resources are bitmasks.

A `Mutant` switches on one deliberate bug so that the checkers can be tested on
protocol variants they must catch; `Mutant.NONE` is the protocol itself.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Generic, NamedTuple, TypeVar

T = TypeVar("T")

NO_NODE: Final = -1

# Enumerations are small ints, not strings: states then hash the same in every
# process (str hashes are salted) and compare totally (for symmetry reduction).
# The *_NAMES tables give the spec's string for each value.

# Node phases (the node's own, local progress).
OUT: Final = 0
WAIT_STATE: Final = 1
WAIT_PLACE: Final = 2
WAIT_CONFIG: Final = 3
MEMBER: Final = 4
REJECTED: Final = 5
DOWN: Final = 6
PHASE_NAMES = ("out", "waitState", "waitPlace", "waitConfig", "member", "rejected", "down")
HOLDS_VIEW: Final = (WAIT_PLACE, WAIT_CONFIG, MEMBER)
IN_GROUP: Final = (WAIT_STATE, WAIT_PLACE, WAIT_CONFIG, MEMBER)

# Member status inside a replicated group state.
ABSENT: Final = 0
JOINING: Final = 1
PLACED: Final = 2
ACTIVE: Final = 3
STATUS_NAMES = ("absent", "joining", "placed", "active")

# Mirroring status of a resource inside a replicated group state (M_NONE for the primary).
M_NONE: Final = 0
M_SYNCING: Final = 1
M_ACTIVE: Final = 2
MIRROR_NAMES = ("none", "syncing", "active")

# Ordered (group) message kinds. RES_FAIL and RES_REPAIR: a resource's host reports that
# the resource failed (an I/O error) or came back.
JOIN: Final = 0
ACCESS: Final = 1
JOIN_DONE: Final = 2
MIRROR_ACTIVE: Final = 3
FAIL: Final = 4
RES_FAIL: Final = 5
RES_REPAIR: Final = 6
MSG_NAMES = ("JOIN", "ACCESS", "JOIN_DONE", "MIRROR_ACTIVE", "FAIL", "RES_FAIL", "RES_REPAIR")
# The message kinds that exist only with resource failures (max_resource_failures > 0).
RESOURCE_MSG_NAMES = ("RES_FAIL", "RES_REPAIR")

# Point-to-point message kinds.
GROUP_STATE: Final = 0
CONFIG: Final = 1
START_MIRROR: Final = 2
P2P_NAMES = ("GROUP_STATE", "CONFIG", "START_MIRROR")

# Data-path message kinds (primary host <-> backup hosts, outside the group channel).
WRITE: Final = 0
ACK: Final = 1
DATA_NAMES = ("WRITE", "ACK")

# What became of a client write.
# W_UNKNOWN: its writer failed before answering, so the client never learns the outcome.
W_NONE: Final = 0
W_PENDING: Final = 1
W_ACKED: Final = 2
W_REFUSED: Final = 3
W_UNKNOWN: Final = 4
WRITE_STATUS_NAMES = ("none", "pending", "acked", "refused", "unknown")


class Mutant(enum.Enum):
    """Deliberately buggy protocol variants; each must be caught by the checkers."""

    NONE = "none"
    PLACEMENT_IGNORES_ACCESS = "placement-ignores-access"
    CONFIG_FROM_PRIMARY_TO_ALL = "config-from-primary-to-all"
    NO_HOST_REPLACEMENT = "no-host-replacement"
    PROMOTE_UNSYNCED_MIRROR = "promote-unsynced-mirror"
    HOST_CHOSEN_BY_LAGGING_VIEW = "host-chosen-by-lagging-view"
    REJECTED_STAYS_IN_SUBGROUP = "rejected-stays-in-subgroup"
    NO_STATE_RESEND = "no-state-resend"
    NO_MIRROR_RESTART = "no-mirror-restart"
    NO_MIRROR_TO_NEW_BACKUP = "no-mirror-to-new-backup"
    NO_CONFIG_PUSH_ON_TAKEOVER = "no-config-push-on-takeover"
    NO_CAUSAL_WAIT = "no-causal-wait"
    ASYNC_ACK = "async-ack"
    NO_FENCING = "no-fencing"
    ACK_IGNORES_SYNCING = "ack-ignores-syncing"
    RESYNC_SKIPS_CONCURRENT_WRITES = "resync-skips-concurrent-writes"
    ACK_BEFORE_APPLY = "ack-before-apply"
    WAIT_FOR_FAILED_MIRROR = "wait-for-failed-mirror"
    NO_EPOCH_BUMP = "no-epoch-bump"
    MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE = "mirror-stays-active-on-host-change"
    # Slips in the protocol's choices, each caught only by the property that states it.
    HOST_SUCCESSION_BY_NEWEST = "host-succession-by-newest"
    FAILOVER_TO_LAST_SYNCED = "failover-to-last-synced"
    PLACEMENT_IN_STATIC_ORDER = "placement-in-static-order"
    REJECTED_LEFT_JOINING = "rejected-left-joining"
    EVERY_HOST_SPONSORS = "every-host-sponsors"
    # Slips in handling a resource failure (visible only with max_resource_failures > 0).
    LOST_BACKUP_KEEPS_MIRROR = "lost-backup-keeps-mirror"
    PLACEMENT_ON_LOST_RESOURCE = "placement-on-lost-resource"
    NO_FAILOVER_ON_RESOURCE_FAILURE = "no-failover-on-resource-failure"
    NO_MIRROR_RESTART_AFTER_RESOURCE_FAILOVER = "no-mirror-restart-after-resource-failover"
    REPAIRED_MIRROR_COUNTS_AT_ONCE = "repaired-mirror-counts-at-once"


# Bugs of the data path: visible only with writes (max_writes > 0).
DATA_PATH_MUTANTS = frozenset(
    {
        Mutant.ASYNC_ACK,
        Mutant.NO_FENCING,
        Mutant.ACK_IGNORES_SYNCING,
        Mutant.RESYNC_SKIPS_CONCURRENT_WRITES,
        Mutant.ACK_BEFORE_APPLY,
        Mutant.WAIT_FOR_FAILED_MIRROR,
        Mutant.NO_EPOCH_BUMP,
    }
)

# Bugs in handling resource failures: visible only with max_resource_failures > 0.
RESOURCE_FAILURE_MUTANTS = frozenset(
    {
        Mutant.LOST_BACKUP_KEEPS_MIRROR,
        Mutant.PLACEMENT_ON_LOST_RESOURCE,
        Mutant.NO_FAILOVER_ON_RESOURCE_FAILURE,
        Mutant.NO_MIRROR_RESTART_AFTER_RESOURCE_FAILOVER,
        Mutant.REPAIRED_MIRROR_COUNTS_AT_ONCE,
    }
)

# Slips in the protocol's choices: they break no safety property, so the Z3 proof's
# inductive invariant (which states safety only) holds for them; the explorer and BMC
# catch them by the choice properties of protocol/invariants.py.
CHOICE_MUTANTS = frozenset(
    {
        Mutant.HOST_SUCCESSION_BY_NEWEST,
        Mutant.FAILOVER_TO_LAST_SYNCED,
        Mutant.PLACEMENT_IN_STATIC_ORDER,
        Mutant.REJECTED_LEFT_JOINING,
        Mutant.EVERY_HOST_SPONSORS,
    }
)

MUTANT_DESCRIPTIONS: dict[Mutant, str] = {
    Mutant.PLACEMENT_IGNORES_ACCESS: "placement puts every joiner in the primary subgroup, reachable or not",
    Mutant.CONFIG_FROM_PRIMARY_TO_ALL: "the primary host sends its configuration to every joiner, "
    "whatever its subgroup, and joiners install it unchecked",
    Mutant.NO_HOST_REPLACEMENT: "when a host fails, its subgroup keeps the failed node as host",
    Mutant.PROMOTE_UNSYNCED_MIRROR: "failover promotes the first hosted backup even if its mirror is not synchronised",
    Mutant.HOST_CHOSEN_BY_LAGGING_VIEW: "a joiner claims hostship in its ACCESS from its own (lagging) view "
    "instead of every member deciding on delivery",
    Mutant.REJECTED_STAYS_IN_SUBGROUP: "a joiner that reaches nothing is rejected but left in the primary subgroup",
    Mutant.NO_STATE_RESEND: "a new sponsor does not resend the group state to joiners still waiting for it",
    Mutant.NO_MIRROR_RESTART: "after a switchover or failover the new primary host does not restart mirroring",
    Mutant.NO_MIRROR_TO_NEW_BACKUP: "the primary host never starts mirroring to a backup host that joins after it",
    Mutant.NO_CONFIG_PUSH_ON_TAKEOVER: "a host taking over a subgroup does not send its configuration to the "
    "members, so a CONFIG lost with the failed host is never re-sent",
    Mutant.NO_CAUSAL_WAIT: "a member takes CONFIG and START_MIRROR before it has delivered what the sender had, "
    "so a lagging new backup host drops its START_MIRROR and mirroring never resumes",
    Mutant.ASYNC_ACK: "a write is acknowledged once the production copy holds it, before any mirror has it",
    Mutant.NO_FENCING: "copies accept writes of any epoch, so a deposed primary host's write lands",
    Mutant.ACK_IGNORES_SYNCING: "acknowledgement waits only for mirrors active in the primary host's view, "
    "so a mirror that is active in the group but lags by one acknowledged write can be promoted",
    Mutant.RESYNC_SKIPS_CONCURRENT_WRITES: "writes are sent only to active mirrors, so a mirror resynchronising "
    "while writes continue misses the writes made while it copied",
    Mutant.ACK_BEFORE_APPLY: "a backup host acknowledges a write as soon as it arrives, before it is on the copy: "
    "one that overtook its resynchronisation is acknowledged, dropped, and missing from the mirror",
    Mutant.WAIT_FOR_FAILED_MIRROR: "a pending write keeps waiting for a mirror whose host has failed, "
    "so it is never answered",
    Mutant.NO_EPOCH_BUMP: "a new primary host keeps the epoch its production copy already has, so a paused "
    "primary host's writes are still accepted after the takeover",
    Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE: "when a backup's host fails and the next member takes over, the "
    "mirror stays active, though a write acknowledged meanwhile never reached the copy: a failover then promotes "
    "a mirror that lags by one acknowledged write",
    Mutant.HOST_SUCCESSION_BY_NEWEST: "when a host fails, the newest member of its subgroup takes over "
    "instead of the next one in join order",
    Mutant.FAILOVER_TO_LAST_SYNCED: "failover promotes the last synchronised backup in resource order "
    "instead of the first",
    Mutant.PLACEMENT_IN_STATIC_ORDER: "placement takes the first reachable resource in the static resource "
    "order, ignoring which one is primary now",
    Mutant.REJECTED_LEFT_JOINING: "members leave a rejected joiner 'joining' in the group state (the joiner "
    "rejects itself on delivering its own empty ACCESS)",
    Mutant.EVERY_HOST_SPONSORS: "every host, not only the sponsor, sends the group state to a joiner whose "
    "JOIN it delivers",
    Mutant.LOST_BACKUP_KEEPS_MIRROR: "a failed backup resource keeps its mirroring status, so a later failover "
    "can promote a copy nobody can reach",
    Mutant.PLACEMENT_ON_LOST_RESOURCE: "placement ignores which resources have failed and puts a joiner on a "
    "failed one",
    Mutant.NO_FAILOVER_ON_RESOURCE_FAILURE: "when the primary resource fails, the group keeps it primary even "
    "though a backup's mirror is synchronised",
    Mutant.NO_MIRROR_RESTART_AFTER_RESOURCE_FAILOVER: "after a failover caused by the primary resource's "
    "failure, mirroring does not restart to the other backups",
    Mutant.REPAIRED_MIRROR_COUNTS_AT_ONCE: "a repaired backup resource comes back with active mirroring, "
    "without resynchronising",
}


@dataclass(frozen=True)
class Params:
    """The constants of one model configuration (the .cfg CONSTANTS)."""

    nodes: int = 3
    resources: int = 2
    max_failures: int = 1
    max_restarts: int = 1
    max_config_changes: int = 1
    # Client writes (the data path). 0 switches the data path off: no write, no
    # epoch, no fencing and no pause, so the join protocol's state space is unchanged.
    mutant: Mutant = Mutant.NONE
    max_writes: int = field(default=0, kw_only=True)
    # Resource failures (FailResource steps; each may be followed by a repair). 0 switches
    # them off: no resource fails and the state space is the protocol's without them.
    max_resource_failures: int = field(default=0, kw_only=True)
    # Folding the settled log prefix into `durable` is what keeps the state space
    # finite; conformance checking turns it off to compare absolute log positions
    # with an implementation's.
    compact_log: bool = True

    def __reduce__(self) -> tuple[Callable[..., Params], tuple[object, ...]]:
        """Pickled as a call of the constructor: compiled by mypyc, the class has no __dict__
        for pickle to restore, and its frozen __setattr__ refuses field by field."""
        fields = (self.nodes, self.resources, self.max_failures, self.max_restarts, self.max_config_changes)
        build = partial(Params, max_writes=self.max_writes, max_resource_failures=self.max_resource_failures)
        return build, (*fields, self.mutant, self.compact_log)

    def __post_init__(self) -> None:
        # Model checking is practical for a handful of nodes; the larger bounds serve
        # conformance checking of implementation traces, which never enumerates states.
        if not 1 <= self.nodes <= 64:
            raise ValueError(f"nodes must be between 1 and 64, got {self.nodes}")
        if not 1 <= self.resources <= 16:
            raise ValueError(f"resources must be between 1 and 16, got {self.resources}")
        writes_bound = 16 if self.compact_log else 100_000  # a log holds as many writes as its run made
        if not 0 <= self.max_writes <= writes_bound:
            raise ValueError(f"max_writes must be between 0 and {writes_bound}, got {self.max_writes}")
        for name in ("max_failures", "max_restarts", "max_config_changes", "max_resource_failures"):
            value = getattr(self, name)
            if not 0 <= value <= 100_000:
                raise ValueError(f"{name} must be between 0 and 100000, got {value}")


class GroupState(NamedTuple):
    """The replicated group state one member holds (its view)."""

    prim: int  # the resource with the primary role
    sub: tuple[tuple[int, ...], ...]  # per resource: subgroup members in join order
    host: tuple[int, ...]  # per resource: its host or NO_NODE
    mirror: tuple[int, ...]  # per resource: M_NONE / M_SYNCING / M_ACTIVE
    status: tuple[int, ...]  # per node: ABSENT / JOINING / PLACED / ACTIVE
    acc: tuple[int, ...]  # per node: recorded access set (bitmask), 0 if not placed
    inc: tuple[int, ...]  # per node: incarnation of the member, from its JOIN
    lost: int  # resources whose failure the group has delivered, with no repair since (bitmask)
    # Per resource: its mirroring round. A repair of it or of the production copy, and a failover
    # on a resource failure, start a new round; a START_MIRROR (and its MIRROR_ACTIVE) names its round.
    rounds: tuple[int, ...]


# A replicated group state, or NO_VIEW for a node that holds none.
View = GroupState | tuple[()]
NO_VIEW: Final[tuple[()]] = ()


class Msg(NamedTuple):
    """An ordered group message; unused fields hold -1 / 0."""

    kind: int
    node: int
    inc: int  # the incarnation of `node` that the message is from or about
    res: int = -1
    rset: int = 0
    ver: int = 0  # MIRROR_ACTIVE: the mirroring round it answers (GroupState.rounds)


class P2P(NamedTuple):
    """A point-to-point message; unused fields hold -1 / NO_VIEW.

    `cur` is the sender's cursor when it sent the message: for GROUP_STATE the position
    the state reflects, for CONFIG and START_MIRROR how far the receiver must have
    delivered before it takes the message (then its view knows what the sender knew).
    A START_MIRROR also carries the resynchronisation: the production copy's writes
    when it was sent (`data`) and the epoch of the primary host that sent it (`ep`).
    """

    kind: int
    res: int = -1
    ver: int = -1
    gs: View = NO_VIEW
    cur: int = -1
    data: tuple[int, ...] = ()
    ep: int = 0


class DataMsg(NamedTuple):
    """A data-path message: WRITE(w at position pos, epoch ep, for mirror res) or ACK(w, res).

    `cur` is the writer's cursor, as for CONFIG: the backup host takes the WRITE once
    it has delivered as much, so its view is at least as new as the writer's was.
    """

    kind: int
    w: int
    res: int
    pos: int = 0
    ep: int = 0
    cur: int = 0


class WriteRec(NamedTuple):
    """One client write: its status, the node that took it, where and under which epoch
    it went into the production copy, and the mirrors (bitmask) whose ack it waits for."""

    st: int = W_NONE
    by: int = NO_NODE
    pos: int = 0
    ep: int = 0
    wait: int = 0


class State(NamedTuple):
    access: tuple[int, ...]  # per node: resources it can reach (static wiring)
    phase: tuple[int, ...]
    cursor: tuple[int, ...]  # per node: ordered messages delivered
    view: tuple[View, ...]
    log: tuple[Msg, ...]  # the ordered stream
    chan: tuple[tuple[P2P, ...], ...]  # FIFO per (sender, receiver): index s * N + d
    cfg: tuple[tuple[int, ...], ...]  # per node, per resource: config version held, 0 = none
    resVer: tuple[int, ...]  # per resource: config version stored on the resource
    dataCurrent: tuple[bool, ...]  # per resource: holds the current production data (ghost)
    crashes: int
    restarts: int
    cfgChanges: int
    durable: GroupState  # group state after every ordered message already dropped from `log`
    inc: tuple[int, ...]  # per node: current incarnation (restarts so far)
    # The data path (all constant when max_writes = 0).
    data: tuple[tuple[int, ...], ...]  # per resource: the writes its copy holds, in order
    fence: tuple[int, ...]  # per resource: the highest epoch its copy has accepted
    epoch: tuple[int, ...]  # per node: the epoch it acts under as primary host, 0 = none
    stale: tuple[View, ...]  # per node: the view a paused (failed but running) node still acts on
    dchan: tuple[tuple[DataMsg, ...], ...]  # data-path FIFO per (sender, receiver): index s * N + d
    writes: tuple[WriteRec, ...]  # per client write, in submission order
    # Resource failures (both 0 when max_resource_failures = 0).
    broken: int = 0  # resources that have failed and are not repaired (bitmask): nobody can reach them
    resFailures: int = 0  # number of FailResource steps taken


VARIABLES = State._fields


class Step(NamedTuple):
    """One transition: the action's name, its parameters, and the successor."""

    action: str
    params: tuple[tuple[str, int], ...]
    state: State

    def label(self) -> str:
        args = ", ".join(f"{k}={node_or_res_name(k, v)}" for k, v in self.params)
        return f"{self.action}({args})"


def node_name(n: int) -> str:
    return "none" if n == NO_NODE else f"n{n + 1}"


def res_name(r: int) -> str:
    return "none" if r < 0 else f"r{r + 1}"


def node_or_res_name(param: str, value: int) -> str:
    return res_name(value) if param == "r" else node_name(value)


def bits(mask: int) -> Iterator[int]:
    r = 0
    while mask:
        if mask & 1:
            yield r
        mask >>= 1
        r += 1


# ---------------------------------------------------------------- group state


def initial_group_state(p: Params) -> GroupState:
    return GroupState(
        prim=0,
        sub=((),) * p.resources,
        host=(NO_NODE,) * p.resources,
        mirror=(M_NONE,) * p.resources,
        status=(ABSENT,) * p.nodes,
        acc=(0,) * p.nodes,
        inc=(0,) * p.nodes,
        lost=0,
        rounds=(0,) * p.resources,
    )


def res_of(gs: GroupState, n: int) -> int:
    """The resource whose subgroup n belongs to, or -1."""
    for r, members in enumerate(gs.sub):
        if n in members:
            return r
    return -1


def is_primary_host(gs: GroupState, n: int) -> bool:
    return gs.host[gs.prim] == n


def sponsor(gs: GroupState) -> int:
    """The primary host, else the first host in resource order, else NO_NODE."""
    if gs.host[gs.prim] != NO_NODE:
        return gs.host[gs.prim]
    for h in gs.host:
        if h != NO_NODE:
            return h
    return NO_NODE


def has(mask: int, r: int) -> bool:
    return bool(mask >> r & 1)


def usable_primary_host(gs: GroupState, n: int) -> bool:
    """n is the primary host and the primary resource has not failed: it can serve and mirror."""
    return gs.host[gs.prim] == n and not has(gs.lost, gs.prim)


def placement(gs: GroupState, rset: int, p: Params) -> int:
    """The resource a joiner with access set rset is placed on, or -1 (rejected).

    A failed resource counts as unreachable: a node wired only to failed ones is rejected.
    """
    if p.mutant is not Mutant.PLACEMENT_ON_LOST_RESOURCE:
        rset &= ~gs.lost
    if p.mutant is Mutant.PLACEMENT_IGNORES_ACCESS and rset:
        return gs.prim
    if rset >> gs.prim & 1 and p.mutant is not Mutant.PLACEMENT_IN_STATIC_ORDER:
        return gs.prim
    for r in range(p.resources):
        if rset >> r & 1:
            return r
    return -1


def _set(t: tuple[T, ...], i: int, v: T) -> tuple[T, ...]:
    return (*t[:i], v, *t[i + 1 :])


def restart_mirrors(lost: int, mirror: list[int], host: tuple[int, ...], prim: int) -> None:
    """Mirroring restarts from a (new) primary host to every hosted backup that has not failed."""
    for b in range(len(mirror)):
        if b != prim:
            mirror[b] = M_SYNCING if host[b] != NO_NODE and not has(lost, b) else M_NONE


def resynced(lost: int, host: tuple[int, ...], prim: int, b: int) -> int:
    """The mirroring status of backup b when its host changes: synchronising while both it and
    the production copy have a host and neither resource has failed."""
    live = host[b] != NO_NODE and host[prim] != NO_NODE and not has(lost, b) and not has(lost, prim)
    return M_SYNCING if live else M_NONE


# The successor functions build tuples positionally: NamedTuple._replace is interpreted
# Python (a dict of keywords and a map per call) and was a fifth of the checker's time.
def _with_status(gs: GroupState, status: tuple[int, ...]) -> GroupState:
    return GroupState(gs.prim, gs.sub, gs.host, gs.mirror, status, gs.acc, gs.inc, gs.lost, gs.rounds)


class GroupStateMemo(Generic[T]):
    """A memo keyed by a group state and a small tuple of ints, dropped whole past a bound.

    Looked up by the group state's identity first: a tuple's hash walks all of it (a dozen
    tuples for a group state) on every lookup, an id's does not, and the same group state
    objects recur (they come from memoised steps, images and decodings). An equal group
    state that is another object falls back to the lookup by value, which keeps sharing.
    Each identity entry holds its group state, so its id cannot be reused while it is there.
    """

    def __init__(self, bound: int = 1 << 18) -> None:
        self.bound = bound
        self.by_value: dict[tuple[GroupState, tuple[int, ...]], T] = {}
        self.by_identity: dict[tuple[int, tuple[int, ...]], tuple[GroupState, T]] = {}

    def get(self, gs: GroupState, key: tuple[int, ...]) -> T | None:
        hit = self.by_identity.get((id(gs), key))
        if hit is not None and hit[0] is gs:
            return hit[1]
        known = self.by_value.get((gs, key))
        if known is not None:
            self._make_room()
            self.by_identity[(id(gs), key)] = (gs, known)
        return known

    def put(self, gs: GroupState, key: tuple[int, ...], value: T) -> None:
        self._make_room()
        self.by_value[(gs, key)] = value
        self.by_identity[(id(gs), key)] = (gs, value)

    def _make_room(self) -> None:
        """Drop both tables once the identity one (the larger: equal group states that are
        several objects each have an entry there) reaches the bound."""
        if len(self.by_identity) >= self.bound:
            self.by_value.clear()
            self.by_identity.clear()


class StepMemo(Generic[T]):
    """What is known of steps of the ordered stream (a group state and the message delivered on
    it): every member delivers the same messages to the same group states, and a search meets
    each step in the logs of many states. For one Params at a time (a mutant changes the steps)."""

    def __init__(self) -> None:
        self.params: Params | None = None
        self.memo: GroupStateMemo[T] = GroupStateMemo()

    def table_for(self, p: Params) -> GroupStateMemo[T]:
        if self.params is not p:
            self.params, self.memo = p, GroupStateMemo()
        return self.memo


_APPLIED: Final[StepMemo[GroupState]] = StepMemo()


def apply_message(gs: GroupState, m: Msg, p: Params) -> GroupState:
    """The deterministic effect of delivering one ordered message on a group state (memoised)."""
    applied = _APPLIED.table_for(p)
    after = applied.get(gs, m)
    if after is None:
        after = _delivered(gs, m, p)
        applied.put(gs, m, after)
    return after


def _delivered(gs: GroupState, m: Msg, p: Params) -> GroupState:
    if m.kind == JOIN:
        if gs.status[m.node] != ABSENT:
            return gs
        status, inc = _set(gs.status, m.node, JOINING), _set(gs.inc, m.node, m.inc)
        return GroupState(gs.prim, gs.sub, gs.host, gs.mirror, status, gs.acc, inc, gs.lost, gs.rounds)
    if m.kind == ACCESS:
        return _apply_access(gs, m, p)
    if m.kind == JOIN_DONE:
        if gs.status[m.node] != PLACED:
            return gs
        return _with_status(gs, _set(gs.status, m.node, ACTIVE))
    if m.kind == MIRROR_ACTIVE:
        r = m.res
        # A MIRROR_ACTIVE of an earlier round answers a resynchronisation that a repair has made stale.
        if gs.host[r] == m.node and r != gs.prim and gs.mirror[r] == M_SYNCING and m.ver == gs.rounds[r]:
            mirror = _set(gs.mirror, r, M_ACTIVE)
            return GroupState(gs.prim, gs.sub, gs.host, mirror, gs.status, gs.acc, gs.inc, gs.lost, gs.rounds)
        return gs
    if m.kind == FAIL:
        return _apply_fail(gs, m.node, p)
    if m.kind == RES_FAIL:
        return _apply_resource_failure(gs, m, p)
    assert m.kind == RES_REPAIR
    return _apply_resource_repair(gs, m, p)


def _apply_resource_failure(gs: GroupState, m: Msg, p: Params) -> GroupState:
    """Resource m.res failed, as its host reports: it stops counting as a mirror, and if it was
    the primary resource the primary role fails over to the first synchronised backup."""
    r = m.res
    if has(gs.lost, r) or gs.host[r] != m.node:
        return gs  # only the resource's host in the deliverer's view may report it
    lost = gs.lost | 1 << r
    mirror = list(gs.mirror)
    prim = gs.prim
    rounds = gs.rounds
    if r != prim:
        if p.mutant is not Mutant.LOST_BACKUP_KEEPS_MIRROR:
            mirror[r] = M_NONE
    else:
        target = _failover_target(gs, gs.host, p)
        if target >= 0 and p.mutant is not Mutant.NO_FAILOVER_ON_RESOURCE_FAILURE:
            # The old primary host lives on: its resynchronisations still in flight are stale.
            rounds = tuple(x + 1 for x in gs.rounds)
            prim = target
            mirror[prim] = M_NONE
            if p.mutant is not Mutant.NO_MIRROR_RESTART_AFTER_RESOURCE_FAILOVER:
                restart_mirrors(lost, mirror, gs.host, prim)
        else:  # the production copy is out of reach: mirroring from it stops
            mirror = [M_NONE] * len(mirror)
    return GroupState(prim, gs.sub, gs.host, tuple(mirror), gs.status, gs.acc, gs.inc, lost, rounds)


def _apply_resource_repair(gs: GroupState, m: Msg, p: Params) -> GroupState:
    """Resource m.res came back, as its host reports; it must resynchronise before it counts."""
    r = m.res
    if not has(gs.lost, r) or gs.host[r] != m.node:
        return gs
    lost = gs.lost & ~(1 << r)
    # A resynchronisation sent before the repair is stale: a copy that came back missed what was
    # written meanwhile, and so does every copy resynchronised from a production copy that did.
    rounds = tuple(x + 1 for x in gs.rounds) if r == gs.prim else _set(gs.rounds, r, gs.rounds[r] + 1)
    mirror = list(gs.mirror)
    if r == gs.prim:
        restart_mirrors(lost, mirror, gs.host, r)
    elif p.mutant is Mutant.REPAIRED_MIRROR_COUNTS_AT_ONCE and gs.host[gs.prim] != NO_NODE:
        mirror[r] = M_ACTIVE
    else:
        mirror[r] = resynced(lost, gs.host, gs.prim, r)
    return GroupState(gs.prim, gs.sub, gs.host, tuple(mirror), gs.status, gs.acc, gs.inc, lost, rounds)


def _apply_access(gs: GroupState, m: Msg, p: Params) -> GroupState:
    j = m.node
    if gs.status[j] != JOINING:
        return gs
    r = placement(gs, m.rset, p)
    if r < 0:
        if p.mutant is Mutant.REJECTED_STAYS_IN_SUBGROUP:
            sub = _set(gs.sub, gs.prim, gs.sub[gs.prim] + (j,))
            status = _set(gs.status, j, ABSENT)
            return GroupState(gs.prim, sub, gs.host, gs.mirror, status, gs.acc, gs.inc, gs.lost, gs.rounds)
        if p.mutant is Mutant.REJECTED_LEFT_JOINING:
            return gs
        return _with_status(gs, _set(gs.status, j, ABSENT))
    host = gs.host
    claims_host = m.res == 1 if p.mutant is Mutant.HOST_CHOSEN_BY_LAGGING_VIEW else host[r] == NO_NODE
    if claims_host:
        host = _set(host, r, j)
    mirror = list(gs.mirror)
    if host[r] == j:
        if r == gs.prim:
            restart_mirrors(gs.lost, mirror, host, gs.prim)
        else:
            mirror[r] = resynced(gs.lost, host, gs.prim, r)
    sub = _set(gs.sub, r, gs.sub[r] + (j,))
    status, acc = _set(gs.status, j, PLACED), _set(gs.acc, j, m.rset)
    return GroupState(gs.prim, sub, host, tuple(mirror), status, acc, gs.inc, gs.lost, gs.rounds)


def _apply_fail(gs: GroupState, f: int, p: Params) -> GroupState:
    if gs.status[f] == ABSENT:
        return gs
    status = _set(gs.status, f, ABSENT)
    acc = _set(gs.acc, f, 0)
    r = res_of(gs, f)
    if r < 0:
        return GroupState(gs.prim, gs.sub, gs.host, gs.mirror, status, acc, gs.inc, gs.lost, gs.rounds)
    sub = _set(gs.sub, r, tuple(x for x in gs.sub[r] if x != f))
    host = gs.host
    mirror = list(gs.mirror)
    prim = gs.prim
    if host[r] == f and p.mutant is not Mutant.NO_HOST_REPLACEMENT:
        successor = -1 if p.mutant is Mutant.HOST_SUCCESSION_BY_NEWEST else 0
        host = _set(host, r, sub[r][successor] if sub[r] else NO_NODE)
        if r != prim:
            kept = p.mutant is Mutant.MIRROR_STAYS_ACTIVE_ON_HOST_CHANGE and host[r] != NO_NODE
            if not (kept and mirror[r] == M_ACTIVE):
                mirror[r] = resynced(gs.lost, host, prim, r)
        elif host[prim] != NO_NODE:  # switchover inside the primary subgroup
            if not has(gs.lost, prim):
                restart_mirrors(gs.lost, mirror, host, prim)
        else:
            target = _failover_target(gs, host, p)
            if target >= 0:
                mirror[prim] = M_NONE
                prim = target
                mirror[prim] = M_NONE
                restart_mirrors(gs.lost, mirror, host, prim)
    return GroupState(prim, sub, host, tuple(mirror), status, acc, gs.inc, gs.lost, gs.rounds)


def _failover_target(gs: GroupState, host: tuple[int, ...], p: Params) -> int:
    order = range(len(host) - 1, -1, -1) if p.mutant is Mutant.FAILOVER_TO_LAST_SYNCED else range(len(host))
    for b in order:
        if b == gs.prim or host[b] == NO_NODE:
            continue
        if gs.mirror[b] == M_ACTIVE or p.mutant is Mutant.PROMOTE_UNSYNCED_MIRROR:
            return b
    return -1


def replay(s: State, upto: int, p: Params) -> GroupState:
    """The group state after the first `upto` ordered messages still in the log."""
    gs = s.durable
    for m in s.log[:upto]:
        gs = apply_message(gs, m, p)
    return gs


# ---------------------------------------------------------------- initial states


def initial_states(p: Params) -> Iterator[State]:
    """One initial state per access relation (every wiring of nodes to resources)."""
    n, r = p.nodes, p.resources
    for code in range(1 << (n * r)):
        yield initial_state(p, tuple((code >> (i * r)) & ((1 << r) - 1) for i in range(n)))


DATA_PATH_VARIABLES = ("data", "fence", "epoch", "stale", "dchan", "writes")
RESOURCE_FAILURE_VARIABLES = ("broken", "resFailures")


def idle_data_path(p: Params) -> dict[str, Any]:
    """The data-path variables before any write: their only values when max_writes = 0."""
    n, r = p.nodes, p.resources
    return {
        "data": ((),) * r,
        "fence": (0,) * r,
        "epoch": (0,) * n,
        "stale": (NO_VIEW,) * n,
        "dchan": ((),) * (n * n),
        "writes": (WriteRec(),) * p.max_writes,
    }


def initial_state(p: Params, access: tuple[int, ...]) -> State:
    """The initial state for one wiring: per node, the bitmask of resources it reaches."""
    n, r = p.nodes, p.resources
    return State(
        access=access,
        phase=(OUT,) * n,
        cursor=(0,) * n,
        view=(NO_VIEW,) * n,
        log=(),
        chan=((),) * (n * n),
        cfg=((0,) * r,) * n,
        resVer=(1,) * r,
        dataCurrent=tuple(i == 0 for i in range(r)),
        crashes=0,
        restarts=0,
        cfgChanges=0,
        durable=initial_group_state(p),
        inc=(0,) * n,
        **idle_data_path(p),
    )


# ---------------------------------------------------------------- actions


class _Effects:
    """Mutable scratch space for building one successor state.

    A field is copied into a list when an action first touches it: most steps change two or
    three of the state's fields, and the successor shares the others with its parent.
    """

    def __init__(self, s: State, p: Params) -> None:
        self.p = p
        self.s = s
        self.log = s.log
        self._phase: list[int] | None = None
        self._cursor: list[int] | None = None
        self._view: list[View] | None = None
        self._chan: list[tuple[P2P, ...]] | None = None
        self._cfg: list[tuple[int, ...]] | None = None
        self._dataCurrent: list[bool] | None = None
        self._data: list[tuple[int, ...]] | None = None
        self._fence: list[int] | None = None
        self._epoch: list[int] | None = None
        self._stale: list[View] | None = None
        self._dchan: list[tuple[DataMsg, ...]] | None = None
        self._writes: list[WriteRec] | None = None

    @property
    def phase(self) -> list[int]:
        if self._phase is None:
            self._phase = list(self.s.phase)
        return self._phase

    @property
    def cursor(self) -> list[int]:
        if self._cursor is None:
            self._cursor = list(self.s.cursor)
        return self._cursor

    @property
    def view(self) -> list[View]:
        if self._view is None:
            self._view = list(self.s.view)
        return self._view

    @property
    def chan(self) -> list[tuple[P2P, ...]]:
        if self._chan is None:
            self._chan = list(self.s.chan)
        return self._chan

    @property
    def cfg(self) -> list[tuple[int, ...]]:
        if self._cfg is None:
            self._cfg = list(self.s.cfg)
        return self._cfg

    @property
    def dataCurrent(self) -> list[bool]:
        if self._dataCurrent is None:
            self._dataCurrent = list(self.s.dataCurrent)
        return self._dataCurrent

    @property
    def data(self) -> list[tuple[int, ...]]:
        if self._data is None:
            self._data = list(self.s.data)
        return self._data

    @property
    def fence(self) -> list[int]:
        if self._fence is None:
            self._fence = list(self.s.fence)
        return self._fence

    @property
    def epoch(self) -> list[int]:
        if self._epoch is None:
            self._epoch = list(self.s.epoch)
        return self._epoch

    @property
    def stale(self) -> list[View]:
        if self._stale is None:
            self._stale = list(self.s.stale)
        return self._stale

    @property
    def dchan(self) -> list[tuple[DataMsg, ...]]:
        if self._dchan is None:
            self._dchan = list(self.s.dchan)
        return self._dchan

    @property
    def writes(self) -> list[WriteRec]:
        if self._writes is None:
            self._writes = list(self.s.writes)
        return self._writes

    def send(self, src: int, dst: int, dst_inc: int, msg: P2P) -> None:
        # Lost when that incarnation of the receiver has failed (it may have restarted).
        if self.phase[dst] == DOWN or self.s.inc[dst] != dst_inc:
            return
        i = src * self.p.nodes + dst
        self.chan[i] = self.chan[i] + (msg,)

    def pop(self, src: int, dst: int) -> None:
        i = src * self.p.nodes + dst
        self.chan[i] = self.chan[i][1:]

    def dsend(self, src: int, dst: int, dst_inc: int, msg: DataMsg) -> None:
        # Lost when addressed to a previous incarnation; a paused node keeps its own and takes ACKs.
        if self.s.inc[dst] != dst_inc:
            return
        i = src * self.p.nodes + dst
        self.dchan[i] = self.dchan[i] + (msg,)

    def dpop(self, src: int, dst: int) -> None:
        i = src * self.p.nodes + dst
        self.dchan[i] = self.dchan[i][1:]

    def stop_writer(self, n: int) -> None:
        """n's process ends: its data channels go, and its pending writes stay unanswered."""
        for x in range(self.p.nodes):
            self.dchan[n * self.p.nodes + x] = ()
            self.dchan[x * self.p.nodes + n] = ()
        for w, rec in enumerate(self.writes):
            if rec.st == W_PENDING and rec.by == n:
                self.writes[w] = rec._replace(st=W_UNKNOWN)

    def settle(self, w: int, wait: int) -> None:
        """Write w now waits for the mirrors in `wait`; with none left it is acknowledged."""
        self.writes[w] = self.writes[w]._replace(wait=wait, st=W_PENDING if wait else W_ACKED)

    def multicast(self, m: Msg) -> None:
        self.log = (*self.log, m)

    def report(self, n: int, kind: int, r: int) -> None:
        """n multicasts that resource r failed (RES_FAIL) or came back (RES_REPAIR), unless
        such a report of its own is still in the stream, not yet delivered by it."""
        if reported(self.log, self.cursor[n], n, self.s.inc[n], kind, r):
            return
        self.multicast(Msg(kind, n, self.s.inc[n], res=r))
        gs = self.view[n]
        if kind == RES_FAIL and isinstance(gs, GroupState) and is_primary_host(gs, n) and gs.prim == r:
            # It abdicates: with its production copy gone it cannot answer its pending writes.
            for w, rec in enumerate(self.writes):
                if rec.st == W_PENDING and rec.by == n:
                    self.writes[w] = rec._replace(st=W_UNKNOWN)

    def set_cfg(self, n: int, r: int, v: int) -> None:
        self.cfg[n] = _set(self.cfg[n], r, v)

    def build(
        self,
        *,
        res_ver: tuple[int, ...] | None = None,
        crashes: int | None = None,
        restarts: int | None = None,
        cfg_changes: int | None = None,
        inc: tuple[int, ...] | None = None,
    ) -> State:
        """The successor: every field this step may change, the rest taken from the state it left."""
        s = self.s
        return compact(
            tuple.__new__(
                State,
                (
                    s.access,
                    s.phase if self._phase is None else tuple(self._phase),
                    s.cursor if self._cursor is None else tuple(self._cursor),
                    s.view if self._view is None else tuple(self._view),
                    self.log,
                    s.chan if self._chan is None else tuple(self._chan),
                    s.cfg if self._cfg is None else tuple(self._cfg),
                    s.resVer if res_ver is None else res_ver,
                    s.dataCurrent if self._dataCurrent is None else tuple(self._dataCurrent),
                    s.crashes if crashes is None else crashes,
                    s.restarts if restarts is None else restarts,
                    s.cfgChanges if cfg_changes is None else cfg_changes,
                    s.durable,
                    s.inc if inc is None else inc,
                    s.data if self._data is None else tuple(self._data),
                    s.fence if self._fence is None else tuple(self._fence),
                    s.epoch if self._epoch is None else tuple(self._epoch),
                    s.stale if self._stale is None else tuple(self._stale),
                    s.dchan if self._dchan is None else tuple(self._dchan),
                    s.writes if self._writes is None else tuple(self._writes),
                    s.broken,
                    s.resFailures,
                ),
            ),
            self.p,
        )


def reported(log: tuple[Msg, ...], cursor: int, n: int, inc: int, kind: int, r: int) -> bool:
    """A report of n's current incarnation about r is in the stream past n's cursor."""
    return Msg(kind, n, inc, res=r) in log[cursor:]


def abdicated(s: State, n: int, gs: GroupState) -> bool:
    """n has reported that its view's primary resource failed and has not delivered the report
    yet: it knows its production copy is gone, so it no longer acts as the primary host."""
    return reported(s.log, s.cursor[n], n, s.inc[n], RES_FAIL, gs.prim)


def believes_primary(s: State, n: int, gs: GroupState) -> bool:
    """n, holding view gs, believes it is the primary host."""
    return is_primary_host(gs, n) and not abdicated(s, n, gs)


def compact(s: State, p: Params) -> State:
    """Fold the log prefix that nobody can still need into `durable`.

    A prefix is still needed while a live holder has not delivered it or a GROUP_STATE
    in flight will set a joiner's cursor inside it. Dropping it renumbers cursors and
    messages' `cur` (a CONFIG or START_MIRROR whose wait lies inside it has none left:
    0), so states that differ only in already-settled history become one state.
    """
    if not p.compact_log:
        return s
    low = len(s.log)
    for n, gs in enumerate(s.view):
        if isinstance(gs, GroupState):
            low = min(low, s.cursor[n])
    for q in s.chan:
        for msg in q:
            if msg.kind == GROUP_STATE:
                low = min(low, msg.cur)
    return fold(s, p, low)


def fold(s: State, p: Params, low: int) -> State:
    """The first `low` messages of the log folded into `durable`, positions renumbered."""
    if low == 0:
        return s
    durable = s.durable
    for m in s.log[:low]:
        durable = apply_message(durable, m, p)
    chan = tuple(tuple(_renumbered(msg, low) for msg in q) if q else q for q in s.chan)
    dchan = s.dchan
    if any(s.dchan):
        dchan = tuple(tuple(_renumbered_data(msg, low) for msg in q) if q else q for q in s.dchan)
    cursor = tuple(c - low if s.view[n] else c for n, c in enumerate(s.cursor))
    return tuple.__new__(
        State,
        (
            s.access,
            s.phase,
            cursor,
            s.view,
            s.log[low:],
            chan,
            s.cfg,
            s.resVer,
            s.dataCurrent,
            s.crashes,
            s.restarts,
            s.cfgChanges,
            durable,
            s.inc,
            s.data,
            s.fence,
            s.epoch,
            s.stale,
            dchan,
            s.writes,
            s.broken,
            s.resFailures,
        ),
    )


def _renumbered(msg: P2P, low: int) -> P2P:
    """msg once `low` messages have left the front of the log."""
    return P2P(msg.kind, msg.res, msg.ver, msg.gs, max(msg.cur - low, 0), msg.data, msg.ep)


def _renumbered_data(msg: DataMsg, low: int) -> DataMsg:
    return DataMsg(msg.kind, msg.w, msg.res, msg.pos, msg.ep, max(msg.cur - low, 0))


def Join(s: State, p: Params, n: int) -> State | None:
    """Node n multicasts JOIN(n)."""
    if s.phase[n] != OUT:
        return None
    e = _Effects(s, p)
    e.multicast(Msg(JOIN, n, s.inc[n]))
    e.phase[n] = WAIT_STATE
    return e.build()


def _adopt_state(e: _Effects, n: int, gs: GroupState, cur: int) -> None:
    """A joiner takes a group state, probes its access and multicasts ACCESS."""
    e.view[n] = gs
    e.cursor[n] = cur
    e.phase[n] = WAIT_PLACE
    claim = -1
    if e.p.mutant is Mutant.HOST_CHOSEN_BY_LAGGING_VIEW:
        r = placement(gs, e.s.access[n], e.p)
        claim = int(r >= 0 and gs.host[r] == NO_NODE)
    e.multicast(Msg(ACCESS, n, e.s.inc[n], res=claim, rset=e.s.access[n]))


def ReceiveGroupState(s: State, p: Params, src: int, n: int) -> State | None:
    """n takes the head GROUP_STATE from src; a joiner adopts it, anyone else drops it."""
    q = s.chan[src * p.nodes + n]
    if not q or q[0].kind != GROUP_STATE:
        return None
    e = _Effects(s, p)
    e.pop(src, n)
    if s.phase[n] == WAIT_STATE:
        gs = q[0].gs
        assert isinstance(gs, GroupState)
        _adopt_state(e, n, gs, q[0].cur)
    return e.build()


def RecoverGroupState(s: State, p: Params, n: int) -> State | None:
    """A joiner with no live state holder left takes the group state from the durable stream."""
    if s.phase[n] != WAIT_STATE:
        return None
    if any(s.phase[m] in HOLDS_VIEW for m in range(p.nodes) if m != n):
        return None
    e = _Effects(s, p)
    _adopt_state(e, n, replay(s, len(s.log), p), len(s.log))
    return e.build()


def Deliver(s: State, p: Params, n: int) -> State | None:
    """n delivers the next ordered message and acts on it."""
    if s.phase[n] not in HOLDS_VIEW or s.cursor[n] >= len(s.log):
        return None
    gs = s.view[n]
    assert isinstance(gs, GroupState)
    m = s.log[s.cursor[n]]
    gs2 = apply_message(gs, m, p)
    e = _Effects(s, p)
    e.view[n] = gs2
    e.cursor[n] = s.cursor[n] + 1
    own = m.node == n and m.inc == s.inc[n]
    if m.kind == ACCESS and own:
        _own_placement(e, n, gs2)
    if e.phase[n] == REJECTED:
        return e.build()
    _host_duties(e, n, gs, gs2, m, own)
    _primary_duties(e, n, gs, gs2, m)
    _sponsor_duties(e, n, gs, gs2, m)
    return e.build()


def _own_placement(e: _Effects, n: int, gs2: GroupState) -> None:
    rejected = gs2.status[n] == ABSENT
    if e.p.mutant is Mutant.REJECTED_LEFT_JOINING:
        rejected = gs2.status[n] == JOINING
    if rejected:
        e.phase[n] = REJECTED
        e.view[n] = NO_VIEW
        e.cursor[n] = 0
        return
    r = res_of(gs2, n)
    assert r >= 0, "a placed joiner is in a subgroup of its own view"
    if gs2.host[r] == n and not has(e.s.broken, r):
        e.set_cfg(n, r, e.s.resVer[r])  # a new host reads the configuration from the resource
        e.multicast(Msg(JOIN_DONE, n, e.s.inc[n]))
        e.phase[n] = MEMBER
    else:
        e.phase[n] = WAIT_CONFIG
        if gs2.host[r] == n:  # the read failed: it waits for the resource to come back
            e.report(n, RES_FAIL, r)


def _host_duties(e: _Effects, n: int, gs: GroupState, gs2: GroupState, m: Msg, own: bool) -> None:
    for r in range(e.p.resources):
        if gs2.host[r] != n:
            continue
        takeover = gs.host[r] != n and not (m.kind == ACCESS and own)
        if (takeover or has(gs.lost, r)) and has(gs2.lost, r):
            continue  # a failed resource cannot be read: the host waits for its repair
        if takeover or has(gs.lost, r):
            # takeover or repair: read the configuration from the resource, push it to the subgroup
            if has(e.s.broken, r):
                e.report(n, RES_FAIL, r)
                continue
            e.set_cfg(n, r, e.s.resVer[r])
            if e.phase[n] == WAIT_CONFIG:
                e.multicast(Msg(JOIN_DONE, n, e.s.inc[n]))
                e.phase[n] = MEMBER
            for x in gs2.sub[r]:
                if x != n and e.p.mutant is not Mutant.NO_CONFIG_PUSH_ON_TAKEOVER:
                    e.send(n, x, gs2.inc[x], P2P(CONFIG, res=r, ver=e.cfg[n][r], cur=e.cursor[n]))
        elif m.kind == ACCESS and not own and res_of(gs2, m.node) == r and gs.status[m.node] == JOINING:
            e.send(n, m.node, m.inc, P2P(CONFIG, res=r, ver=e.cfg[n][r], cur=e.cursor[n]))
    if (
        e.p.mutant is Mutant.CONFIG_FROM_PRIMARY_TO_ALL
        and m.kind == ACCESS
        and m.node != n
        and is_primary_host(gs2, n)
        and gs2.status[m.node] == PLACED
        and res_of(gs2, m.node) != gs2.prim
    ):
        e.send(n, m.node, m.inc, P2P(CONFIG, res=gs2.prim, ver=e.cfg[n][gs2.prim], cur=e.cursor[n]))


def _start_mirror(e: _Effects, n: int, gs2: GroupState, b: int) -> None:
    # The resynchronisation copies the production copy as it is now; writes made
    # from now on follow on the data channel and are applied after it.
    if has(e.s.broken, gs2.prim):
        e.report(n, RES_FAIL, gs2.prim)  # the production copy cannot be read
        return
    msg = P2P(START_MIRROR, res=b, ver=gs2.rounds[b], cur=e.cursor[n], data=e.data[gs2.prim], ep=e.epoch[n])
    e.send(n, gs2.host[b], gs2.inc[gs2.host[b]], msg)


def _primary_duties(e: _Effects, n: int, gs: GroupState, gs2: GroupState, m: Msg) -> None:
    inc = e.s.inc[n]
    if not usable_primary_host(gs2, n) or reported(e.log, e.cursor[n], n, inc, RES_FAIL, gs2.prim):
        return
    became = not usable_primary_host(gs, n) or reported(e.s.log, e.s.cursor[n], n, inc, RES_FAIL, gs.prim)
    if became and gs2.prim != gs.prim:
        e.dataCurrent[gs.prim] = False  # failover: the old primary copy stops being current
    if became and e.p.max_writes:
        # The new primary host fences its production copy: its epoch is one above any the
        # copy has accepted, so writes of every earlier primary host are refused from now on.
        bump = 0 if e.p.mutant is Mutant.NO_EPOCH_BUMP and e.fence[gs2.prim] else 1
        e.epoch[n] = e.fence[gs2.prim] + bump
        e.fence[gs2.prim] = e.epoch[n]

    for b in range(e.p.resources):
        if b == gs2.prim or gs2.host[b] == n:
            continue
        if has(gs2.lost, b):
            if not has(gs.lost, b):
                e.dataCurrent[b] = False  # mirroring to b stopped: it failed
            continue
        if became:
            if gs2.host[b] != NO_NODE and not (e.p.mutant is Mutant.NO_MIRROR_RESTART and m.kind == FAIL):
                _start_mirror(e, n, gs2, b)
        elif gs2.host[b] != gs.host[b] or has(gs.lost, b):  # a new backup host, or b repaired
            if gs.host[b] != NO_NODE and not has(gs.lost, b):
                e.dataCurrent[b] = False  # mirroring to b stopped while production continues
            new_backup = gs.host[b] == NO_NODE and e.p.mutant is Mutant.NO_MIRROR_TO_NEW_BACKUP
            if gs2.host[b] != NO_NODE and not new_backup:
                _start_mirror(e, n, gs2, b)
    # A pending write stops waiting for a mirror whose host changed (the resynchronisation
    # just sent copies it) or that has no mirroring any more (it cannot be promoted).
    pending = [w for w, rec in enumerate(e.writes) if rec.st == W_PENDING and rec.by == n]
    if not pending or e.p.mutant is Mutant.WAIT_FOR_FAILED_MIRROR:
        return
    keep = sum(1 << b for b in range(e.p.resources) if gs2.host[b] == gs.host[b] and gs2.mirror[b] != M_NONE)
    for w in pending:
        if e.writes[w].wait & ~keep:
            e.settle(w, e.writes[w].wait & keep)


def _sponsor_duties(e: _Effects, n: int, gs: GroupState, gs2: GroupState, m: Msg) -> None:
    if e.p.mutant is Mutant.EVERY_HOST_SPONSORS and sponsor(gs2) != n and n in gs2.host:
        if m.kind == JOIN and gs2.status[m.node] == JOINING:
            e.send(n, m.node, m.inc, P2P(GROUP_STATE, gs=gs2, cur=e.cursor[n]))
        return
    if sponsor(gs2) != n:
        return
    state = P2P(GROUP_STATE, gs=gs2, cur=e.cursor[n])
    if sponsor(gs) != n and e.p.mutant is not Mutant.NO_STATE_RESEND:
        for j in range(e.p.nodes):
            if gs2.status[j] == JOINING and j != n:
                e.send(n, j, gs2.inc[j], state)
    elif m.kind == JOIN and gs2.status[m.node] == JOINING:
        e.send(n, m.node, m.inc, state)


def caught_up(s: State, p: Params, n: int, msg: P2P) -> bool:
    """Whether n may take a CONFIG or START_MIRROR: its placement delivered, and all the sender had."""
    return s.phase[n] != WAIT_PLACE and (s.cursor[n] >= msg.cur or p.mutant is Mutant.NO_CAUSAL_WAIT)


def ReceiveConfig(s: State, p: Params, src: int, n: int) -> State | None:
    """n takes the head CONFIG from src, once it has delivered its placement and what src had."""
    q = s.chan[src * p.nodes + n]
    if not q or q[0].kind != CONFIG or not caught_up(s, p, n, q[0]):
        return None
    msg = q[0]
    e = _Effects(s, p)
    e.pop(src, n)
    gs = s.view[n]
    mine = isinstance(gs, GroupState) and res_of(gs, n) == msg.res
    if p.mutant is Mutant.CONFIG_FROM_PRIMARY_TO_ALL:
        mine = isinstance(gs, GroupState)
    if s.phase[n] in (WAIT_CONFIG, MEMBER) and mine:
        e.set_cfg(n, msg.res, msg.ver)
        if s.phase[n] == WAIT_CONFIG:
            e.multicast(Msg(JOIN_DONE, n, s.inc[n]))
            e.phase[n] = MEMBER
    return e.build()


def ReceiveStartMirror(s: State, p: Params, src: int, n: int) -> State | None:
    """n takes the head START_MIRROR from src (once caught up); a backup host synchronises and reports."""
    q = s.chan[src * p.nodes + n]
    if not q or q[0].kind != START_MIRROR or not caught_up(s, p, n, q[0]):
        return None
    r = q[0].res
    e = _Effects(s, p)
    e.pop(src, n)
    gs = s.view[n]
    # Dropped unless n hosts the backup in its view and the sender is the primary host there (a deposed
    # one's resynchronisation is stale), and unless it is of an earlier round or n has reported the
    # copy failed.
    if (
        s.phase[n] == MEMBER
        and isinstance(gs, GroupState)
        and gs.host[r] == n
        and r != gs.prim
        and not has(gs.lost, r)
        and is_primary_host(gs, src)
        and q[0].ver == gs.rounds[r]
        and not reported(s.log, s.cursor[n], n, s.inc[n], RES_FAIL, r)
    ):
        if has(s.broken, r):
            e.report(n, RES_FAIL, r)  # the copy cannot be written
            return e.build()
        msg = q[0]
        if s.fence[r] <= msg.ep or p.mutant is Mutant.NO_FENCING:
            e.data[r] = msg.data
            e.fence[r] = max(s.fence[r], msg.ep)
        e.dataCurrent[r] = True
        e.multicast(Msg(MIRROR_ACTIVE, n, s.inc[n], res=r, ver=msg.ver))
    return e.build()


def ChangeConfig(s: State, p: Params, n: int, r: int) -> State | None:
    """Host n changes r's configuration and sends the new version to its subgroup."""
    gs = s.view[n]
    if (
        s.phase[n] != MEMBER
        or not isinstance(gs, GroupState)
        or gs.host[r] != n
        or s.cfgChanges >= p.max_config_changes
        or has(s.broken | gs.lost, r)
    ):
        return None
    v = s.resVer[r] + 1
    e = _Effects(s, p)
    e.set_cfg(n, r, v)
    for x in gs.sub[r]:
        if x != n:
            e.send(n, x, gs.inc[x], P2P(CONFIG, res=r, ver=v, cur=s.cursor[n]))
    return e.build(res_ver=_set(s.resVer, r, v), cfg_changes=s.cfgChanges + 1)


def _fail(e: _Effects, n: int) -> None:
    """What the group sees when n fails: FAIL(n), and n's group channels and view gone."""
    e.phase[n] = DOWN
    e.view[n] = NO_VIEW
    e.cursor[n] = 0
    e.cfg[n] = (0,) * e.p.resources
    for x in range(e.p.nodes):
        e.chan[n * e.p.nodes + x] = ()
        e.chan[x * e.p.nodes + n] = ()
    e.multicast(Msg(FAIL, n, e.s.inc[n]))


def Crash(s: State, p: Params, n: int) -> State | None:
    """Group member n crashes; the cluster multicasts FAIL(n) and drops n's channels."""
    if s.phase[n] not in IN_GROUP or s.crashes >= p.max_failures:
        return None
    e = _Effects(s, p)
    _fail(e, n)
    e.epoch[n] = 0
    e.stop_writer(n)
    return e.build(crashes=s.crashes + 1)


def Pause(s: State, p: Params, n: int) -> State | None:
    """Primary host n stops past its lease: the group fails it (FAIL(n)), but n keeps running
    on the view it had, still believing it is the primary host, with its data channels open."""
    gs = s.view[n]
    if (
        not p.max_writes
        or s.phase[n] != MEMBER
        or not isinstance(gs, GroupState)
        or not is_primary_host(gs, n)
        or s.crashes >= p.max_failures
    ):
        return None
    e = _Effects(s, p)
    _fail(e, n)
    e.stale[n] = gs
    return e.build(crashes=s.crashes + 1)


def Restart(s: State, p: Params, n: int) -> State | None:
    """Failed node n restarts as a new incarnation, outside the group (a paused one stops acting)."""
    if s.phase[n] != DOWN or s.restarts >= p.max_restarts:
        return None
    e = _Effects(s, p)
    e.phase[n] = OUT
    e.stale[n] = NO_VIEW
    e.epoch[n] = 0
    e.stop_writer(n)
    return e.build(restarts=s.restarts + 1, inc=_set(s.inc, n, s.inc[n] + 1))


def acting_view(s: State, n: int) -> GroupState | None:
    """The view under which n acts as primary host: its own as a member, or a paused node's stale one."""
    gs = s.view[n] if s.phase[n] == MEMBER else s.stale[n]
    if isinstance(gs, GroupState) and is_primary_host(gs, n):
        return gs
    return None


def Write(s: State, p: Params, n: int) -> State | None:
    """A client submits the next write to n, which believes it is the primary host.

    n applies it to the production copy under its epoch (refused if the copy has accepted
    a newer one) and sends it to every backup host whose mirror is synchronising or
    active; it is acknowledged once each of those has acknowledged it.
    """
    gs = acting_view(s, n)
    if gs is None or has(gs.lost, gs.prim) or W_NONE not in (rec.st for rec in s.writes):
        return None
    if s.phase[n] == MEMBER and abdicated(s, n, gs):
        return None
    w = next(i for i, rec in enumerate(s.writes) if rec.st == W_NONE)
    prod, ep = gs.prim, s.epoch[n]
    e = _Effects(s, p)
    if has(s.broken, prod):  # an I/O error: the client is told, and a member reports the failure
        e.writes[w] = WriteRec(st=W_REFUSED, by=n, ep=ep)
        if s.phase[n] == MEMBER:
            e.report(n, RES_FAIL, prod)
        return e.build()
    if s.fence[prod] > ep and p.mutant is not Mutant.NO_FENCING:
        e.writes[w] = WriteRec(st=W_REFUSED, by=n, ep=ep)
        return e.build()
    e.data[prod] = s.data[prod] + (w,)
    e.fence[prod] = max(s.fence[prod], ep)
    pos = len(e.data[prod])
    cur = s.cursor[n] if s.phase[n] == MEMBER else 0  # a paused node's position is no longer known
    wait = 0
    for b in range(p.resources):
        h = gs.host[b]
        if b == prod or h in (NO_NODE, n) or gs.mirror[b] == M_NONE:
            continue
        syncing = gs.mirror[b] == M_SYNCING
        if syncing and p.mutant is Mutant.RESYNC_SKIPS_CONCURRENT_WRITES:
            continue
        e.dsend(n, h, gs.inc[h], DataMsg(WRITE, w, b, pos=pos, ep=ep, cur=cur))
        if not (syncing and p.mutant is Mutant.ACK_IGNORES_SYNCING):
            wait |= 1 << b
    if p.mutant is Mutant.ASYNC_ACK:
        wait = 0
    e.writes[w] = WriteRec(by=n, pos=pos, ep=ep)
    e.settle(w, wait)
    return e.build()


def ReceiveWrite(s: State, p: Params, src: int, n: int) -> State | None:
    """Backup host n takes the head WRITE from src: applies it in order and acknowledges it.

    n takes it once it has delivered what the writer had; it drops a write from a node
    that is not the primary host in its view, for a copy it does not host, or of an
    epoch older than its copy has accepted. The resynchronisation and the writes after it
    are one stream: a write waits while a START_MIRROR for its mirror from the same sender
    is still in flight, and a write past the copy's end waits too.
    """
    q = s.dchan[src * p.nodes + n]
    if not q or q[0].kind != WRITE:
        return None
    m = q[0]
    early = p.mutant is Mutant.ACK_BEFORE_APPLY
    if not early and any(msg.kind == START_MIRROR and msg.res == m.res for msg in s.chan[src * p.nodes + n]):
        return None
    gs = s.view[n]
    e = _Effects(s, p)
    if isinstance(gs, GroupState):
        if s.phase[n] == WAIT_PLACE or s.cursor[n] < m.cur:
            return None
        b = m.res
        entitled = (
            s.phase[n] == MEMBER
            and gs.host[b] == n
            and b != gs.prim
            and not has(gs.lost, b)
            and is_primary_host(gs, src)
        )
        if entitled and has(s.broken, b):
            e.report(n, RES_FAIL, b)  # the copy cannot be written: the write is dropped unanswered
            e.dpop(src, n)
            return e.build()
        fenced = s.fence[b] > m.ep and p.mutant is not Mutant.NO_FENCING
        copy = s.data[b]
        applies = entitled and not fenced and m.pos == len(copy) + 1
        holds = entitled and not fenced and m.pos <= len(copy) and copy[m.pos - 1] == m.w
        if entitled and not fenced and m.pos > len(copy) + 1 and not early:
            return None
        if applies:
            e.data[b] = (*copy, m.w)
            e.fence[b] = max(s.fence[b], m.ep)
        if applies or holds or (entitled and early):
            e.dsend(n, src, gs.inc[src], DataMsg(ACK, m.w, b))
    e.dpop(src, n)
    return e.build()


def ReceiveAck(s: State, p: Params, src: int, n: int) -> State | None:
    """Writer n takes the head ACK from src: the mirror it names holds the write."""
    q = s.dchan[src * p.nodes + n]
    if not q or q[0].kind != ACK:
        return None
    m = q[0]
    e = _Effects(s, p)
    e.dpop(src, n)
    rec = s.writes[m.w]
    if rec.st == W_PENDING and rec.by == n:
        e.settle(m.w, rec.wait & ~(1 << m.res))
    return e.build()


def FailResource(s: State, p: Params, r: int) -> State | None:
    """Resource r fails: nobody can reach it; what it holds stays on it, out of reach."""
    if has(s.broken, r) or s.resFailures >= p.max_resource_failures:
        return None
    return compact(s._replace(broken=s.broken | 1 << r, resFailures=s.resFailures + 1), p)


def RepairResource(s: State, p: Params, r: int) -> State | None:
    """Failed resource r comes back, holding what it held when it failed (stale by now)."""
    if not has(s.broken, r):
        return None
    return compact(s._replace(broken=s.broken & ~(1 << r)), p)


def reporter(s: State, n: int, r: int) -> GroupState | None:
    """n's view, if n is r's host in it and in the group with a placement: who may report r."""
    gs = s.view[n]
    if s.phase[n] in (WAIT_CONFIG, MEMBER) and isinstance(gs, GroupState) and gs.host[r] == n:
        return gs
    return None


def _report_change(s: State, p: Params, n: int, r: int, kind: int) -> State | None:
    """Host n finds r failed (RES_FAIL) or back (RES_REPAIR) though its view says otherwise, and
    multicasts so unless such a report of its own is still undelivered."""
    gs = reporter(s, n, r)
    failed = kind == RES_FAIL
    if gs is None or has(s.broken, r) != failed or has(gs.lost, r) == failed:
        return None
    if reported(s.log, s.cursor[n], n, s.inc[n], kind, r):
        return None
    e = _Effects(s, p)
    e.report(n, kind, r)
    return e.build()


def ReportFailure(s: State, p: Params, n: int, r: int) -> State | None:
    """Host n finds its resource r failed (an I/O error on a probe) and multicasts RES_FAIL."""
    return _report_change(s, p, n, r, RES_FAIL)


def ReportRepair(s: State, p: Params, n: int, r: int) -> State | None:
    """Host n finds its failed resource r reachable again and multicasts RES_REPAIR."""
    return _report_change(s, p, n, r, RES_REPAIR)


# ---------------------------------------------------------------- next-state relation


def successors(s: State, p: Params) -> Iterator[Step]:
    """Every enabled action instance and its successor, in a fixed order."""
    # The actions are called by name, not through a table of functions: a compiled call
    # to a known function skips boxing its arguments (about 45 calls a state). Steps are
    # built by tuple.__new__: a NamedTuple's own __new__ is interpreted.
    for n in range(p.nodes):
        node_steps = (
            ("Join", Join(s, p, n)),
            ("RecoverGroupState", RecoverGroupState(s, p, n)),
            ("Deliver", Deliver(s, p, n)),
            ("Crash", Crash(s, p, n)),
            ("Restart", Restart(s, p, n)),
            ("Write", Write(s, p, n)),
            ("Pause", Pause(s, p, n)),
        )
        for name, t in node_steps:
            if t is not None:
                yield tuple.__new__(Step, (name, (("n", n),), t))
        for r in range(p.resources):
            node_res_steps = (
                ("ChangeConfig", ChangeConfig(s, p, n, r)),
                ("ReportFailure", ReportFailure(s, p, n, r)),
                ("ReportRepair", ReportRepair(s, p, n, r)),
            )
            for name, t in node_res_steps:
                if t is not None:
                    yield tuple.__new__(Step, (name, (("n", n), ("r", r)), t))
    for r in range(p.resources):
        res_steps = (("FailResource", FailResource(s, p, r)), ("RepairResource", RepairResource(s, p, r)))
        for name, t in res_steps:
            if t is not None:
                yield tuple.__new__(Step, (name, (("r", r),), t))
    yield from _receive_steps(s, p, s.chan, _P2P_ACTIONS)
    yield from _receive_steps(s, p, s.dchan, _DATA_ACTIONS)


Receiver = Callable[[State, Params, int, int], "State | None"]


def _receive_steps(
    s: State,
    p: Params,
    channels: Sequence[Sequence[P2P | DataMsg]],
    receivers: dict[int, Receiver],
) -> Iterator[Step]:
    """The receive step at the head of each non-empty channel, by the kind of its head message."""
    for i, q in enumerate(channels):
        if not q:
            continue
        src, n = divmod(i, p.nodes)
        receive = receivers[q[0].kind]
        t = receive(s, p, src, n)
        if t is not None:
            yield tuple.__new__(Step, (receive.__name__, (("src", src), ("n", n)), t))


_P2P_ACTIONS: dict[int, Receiver] = {
    GROUP_STATE: ReceiveGroupState,
    CONFIG: ReceiveConfig,
    START_MIRROR: ReceiveStartMirror,
}
_DATA_ACTIONS: dict[int, Receiver] = {WRITE: ReceiveWrite, ACK: ReceiveAck}

ACTION_NAMES = (
    "Join",
    "ReceiveGroupState",
    "RecoverGroupState",
    "Deliver",
    "ReceiveConfig",
    "ReceiveStartMirror",
    "ChangeConfig",
    "Crash",
    "Restart",
    "Write",
    "ReceiveWrite",
    "ReceiveAck",
    "Pause",
    "FailResource",
    "RepairResource",
    "ReportFailure",
    "ReportRepair",
)
# The actions that exist only with client writes (MaxWrites > 0).
DATA_PATH_ACTIONS = ("Write", "ReceiveWrite", "ReceiveAck", "Pause")
# The actions that exist only with resource failures (MaxResourceFailures > 0).
RESOURCE_FAILURE_ACTIONS = ("FailResource", "RepairResource", "ReportFailure", "ReportRepair")


def is_intended_end(s: State) -> bool:
    """A terminal state the protocol means to reach: every join settled, nothing in flight.

    Only a failed writer may leave a write pending or data-path messages behind it.
    """
    if any(ph not in (MEMBER, REJECTED, DOWN) for ph in s.phase):
        return False
    if any(s.chan):
        return False
    nodes = len(s.phase)
    if any(q and s.phase[i // nodes] != DOWN for i, q in enumerate(s.dchan)):
        return False
    if any(rec.st == W_PENDING and s.phase[rec.by] != DOWN for rec in s.writes):
        return False
    return all(s.cursor[n] == len(s.log) for n in range(len(s.phase)) if s.phase[n] == MEMBER)
