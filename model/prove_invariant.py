"""IndInv of model/prove.py as a predicate on model States (and spec/JoinProtocol.tla's IndInv).

The Z3 proof states each conjunct over relations; here the same conjuncts are read off
a concrete state: the group-state conjuncts for every group state the state holds
(each view, `durable`, each GROUP_STATE in flight), the configuration conjuncts for
the configuration held and in flight. tests/test_prove_invariant.py checks that IndInv
holds on every reachable state of small configurations, so the proof is about an
invariant of the protocol the checker explores, not merely an inductive one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from model.invariants import ConfigNotNewerThanHost, ConfigReachable, in_flight
from model.protocol import ACTIVE, CONFIG, GROUP_STATE, M_NONE, NO_NODE, PLACED, GroupState, Params, State


def group_states(s: State, p: Params) -> Iterator[GroupState]:
    yield s.durable
    for gs in s.view:
        if isinstance(gs, GroupState):
            yield gs
    for _, msg in in_flight(s, p, GROUP_STATE):
        assert isinstance(msg.gs, GroupState)
        yield msg.gs


def _subgroup_access(s: State, gs: GroupState) -> bool:
    seen: set[int] = set()
    for r, members in enumerate(gs.sub):
        for x in members:
            if not s.access[x] >> r & 1 or x in seen:
                return False
            seen.add(x)
    return True


def _member_status(gs: GroupState) -> bool:
    return all(gs.status[x] in (PLACED, ACTIVE) for members in gs.sub for x in members)


def _host_in_subgroup(gs: GroupState) -> bool:
    hosts = [h for h in gs.host if h != NO_NODE]
    return len(hosts) == len(set(hosts)) and all(h == NO_NODE or h in gs.sub[r] for r, h in enumerate(gs.host))


def _mirrors(gs: GroupState) -> bool:
    primary_none = gs.mirror[gs.prim] == M_NONE
    return primary_none and all(m == M_NONE or gs.host[r] != NO_NODE for r, m in enumerate(gs.mirror))


def _config_sent(s: State, p: Params) -> bool:
    for i, q in enumerate(s.chan):
        dst = i % p.nodes
        for msg in q:
            if msg.kind == CONFIG and (not s.access[dst] >> msg.res & 1 or msg.ver > s.resVer[msg.res]):
                return False
    return True


CONJUNCTS: tuple[tuple[str, Callable[[State, Params], bool]], ...] = (
    ("SubgroupAccess", lambda s, p: all(_subgroup_access(s, gs) for gs in group_states(s, p))),
    ("MemberStatus", lambda s, p: all(_member_status(gs) for gs in group_states(s, p))),
    ("HostInSubgroup", lambda s, p: all(_host_in_subgroup(gs) for gs in group_states(s, p))),
    ("PrimaryMirrorNone/MirrorNeedsHost", lambda s, p: all(_mirrors(gs) for gs in group_states(s, p))),
    ("ConfigReachable", ConfigReachable),
    ("ConfigNotNewerThanHost", ConfigNotNewerThanHost),
    ("ConfigSentToReachers/ConfigSentNotNewer", _config_sent),
)


def IndInv(s: State, p: Params) -> bool:
    return all(conjunct(s, p) for _, conjunct in CONJUNCTS)
