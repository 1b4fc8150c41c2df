"""Hand-driven scenarios through the model: each protocol rule of PROTOCOL.md sections 4-5."""

from __future__ import annotations

from pbjoin_model.protocol.machine import (
    ABSENT,
    ACTIVE,
    DOWN,
    M_ACTIVE,
    M_NONE,
    M_SYNCING,
    MEMBER,
    NO_NODE,
    REJECTED,
    WAIT_CONFIG,
    GroupState,
    Params,
    State,
    initial_states,
    is_intended_end,
    successors,
)

P = Params(nodes=3, resources=2, max_failures=1, max_restarts=1, max_config_changes=1)  # nodes: per test
R1, R2 = 0b01, 0b10


def params_for(s: State) -> Params:
    return Params(len(s.access), P.resources, P.max_failures, P.max_restarts, P.max_config_changes)


def start(*access: int) -> State:
    """The initial state in which node i reaches the resources in access[i]."""
    p = Params(len(access), P.resources, P.max_failures, P.max_restarts, P.max_config_changes)
    return next(s for s in initial_states(p) if s.access == access)


def act(s: State, action: str, **params: int) -> State:
    """The successor by one named, parameterised action (it must be enabled)."""
    p = params_for(s)
    want = tuple(sorted(params.items()))
    for step in successors(s, p):
        if step.action == action and tuple(sorted(step.params)) == want:
            return step.state
    raise AssertionError(f"{action}{params} is not enabled")


def settle(s: State) -> State:
    """Deliver and receive everything pending, lowest node first, until quiet."""
    p = params_for(s)
    quiet = {"Join", "Crash", "Restart", "ChangeConfig"}
    while True:
        step = next((t for t in successors(s, p) if t.action not in quiet), None)
        if step is None:
            return s
        s = step.state


def view(s: State, n: int) -> GroupState:
    gs = s.view[n]
    assert isinstance(gs, GroupState)
    return gs


def joined(*access: int, count: int | None = None) -> State:
    """The first `count` nodes (default all) join one after another, each settling first."""
    s = start(*access)
    for n in range(len(access) if count is None else count):
        s = settle(act(s, "Join", n=n))
    return s


def test_first_joiner_creates_the_group_and_hosts_the_primary() -> None:
    s = joined(R1 | R2, R2, R1)
    gs = view(s, 0)
    assert gs.prim == 0 and gs.host == (0, 1)
    assert gs.sub == ((0, 2), (1,))
    assert all(ph == MEMBER for ph in s.phase)
    assert gs.status == (ACTIVE, ACTIVE, ACTIVE)
    assert gs.mirror == (M_NONE, M_ACTIVE)  # n2 hosts the backup and its mirror synchronised
    assert s.dataCurrent == (True, True)
    assert s.cfg == ((1, 0), (0, 1), (1, 0))  # n3 got r1's configuration from its host n1
    assert is_intended_end(s)


def test_joiner_that_reaches_nothing_is_rejected_and_changes_nothing() -> None:
    s = joined(R1, 0)
    assert s.phase[1] == REJECTED and s.view[1] == ()
    gs = view(s, 0)
    assert gs.status[1] == ABSENT and all(1 not in m for m in gs.sub)
    assert is_intended_end(s)


def test_joiner_reaching_primary_and_backup_joins_the_primary_subgroup() -> None:
    s = joined(R1, R1 | R2)
    assert view(s, 0).sub == ((0, 1), ())


def test_non_host_waits_for_config_from_its_host() -> None:
    s = joined(R1, R1)
    s = act(s, "ChangeConfig", n=0, r=0)
    assert s.cfg[0][0] == 2 and s.cfg[1][0] == 1 and s.resVer[0] == 2
    s = settle(s)
    assert s.cfg[1][0] == 2


def test_failover_promotes_a_synchronised_backup() -> None:
    s = joined(R1, R2)
    assert view(s, 0).mirror[1] == M_ACTIVE
    s = settle(act(s, "Crash", n=0))
    gs = view(s, 1)
    assert s.phase[0] == DOWN
    assert gs.prim == 1 and gs.host == (NO_NODE, 1)
    assert s.dataCurrent == (False, True)  # the old primary copy is stale from now on


def test_unsynchronised_backup_is_never_promoted() -> None:
    s = joined(R1, R2, count=1)
    s = act(s, "Join", n=1)
    s = act(s, "Deliver", n=0)  # n1 delivers JOIN(n2) and, as sponsor, sends the group state
    s = act(s, "ReceiveGroupState", src=0, n=1)
    s = act(s, "Deliver", n=0)  # n1 places n2 as backup host and sends START_MIRROR
    s = act(s, "Deliver", n=1)  # n2 places itself; START_MIRROR not yet received
    assert view(s, 1).mirror[1] == M_SYNCING
    s = settle(act(s, "Crash", n=0))
    gs = view(s, 1)
    assert gs.prim == 0 and gs.host == (NO_NODE, 1)  # no primary host until r1 is reachable again


def test_switchover_inside_the_primary_subgroup_restarts_mirroring() -> None:
    s = joined(R1, R1, R2)
    s = settle(act(s, "Crash", n=0))
    gs = view(s, 1)
    assert gs.prim == 0 and gs.host == (1, 2)
    assert gs.mirror[1] == M_ACTIVE  # n2 restarted mirroring and n3 re-synchronised
    assert s.cfg[1][0] == s.resVer[0]


def test_backup_host_failure_hands_the_resource_to_the_next_member() -> None:
    s = joined(R1, R2, R2)
    s = settle(act(s, "Crash", n=1))
    gs = view(s, 0)
    assert gs.host == (0, 2) and gs.sub[1] == (2,)
    assert gs.mirror[1] == M_ACTIVE and s.dataCurrent[1]


def test_joiner_waiting_for_config_from_a_failed_host_takes_over() -> None:
    s = joined(R1, R1, count=1)
    s = act(s, "Join", n=1)
    s = act(s, "Deliver", n=0)
    s = act(s, "ReceiveGroupState", src=0, n=1)
    s = act(s, "Deliver", n=1)  # n2 placed in r1's subgroup, waits for CONFIG
    assert s.phase[1] == WAIT_CONFIG
    s = settle(act(s, "Crash", n=0))
    assert view(s, 1).host[0] == 1 and s.phase[1] == MEMBER and s.cfg[1][0] == 1


def test_restarted_node_rejoins_as_a_new_incarnation() -> None:
    s = joined(R1, R1)
    s = settle(act(s, "Crash", n=1))
    s = settle(act(act(s, "Restart", n=1), "Join", n=1))
    assert s.inc[1] == 1 and s.phase[1] == MEMBER
    assert view(s, 0).inc[1] == 1 and view(s, 0).sub[0] == (0, 1)


def test_lagging_member_acts_on_a_stale_view() -> None:
    s = joined(R1, R1, R1, count=2)
    s = act(s, "Join", n=2)
    s = act(s, "Deliver", n=0)  # n1 delivers JOIN(n3); n2 has not
    s = act(s, "ReceiveGroupState", src=0, n=2)
    assert view(s, 0).status[2] != view(s, 1).status[2]  # n2 has not delivered it yet
    assert s.cursor[0] == s.cursor[1] + 1
