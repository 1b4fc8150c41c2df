"""Authority: a member refuses what its view does not let the sender send, and never a real message.

A member takes a CONFIG or START_MIRROR only once it has delivered as far as the
sender had when sending (the model's `caught_up`); `Member.refusal` then judges the
message by the receiver's own view. Refusing is safe only if no message the protocol
sends is ever refused, so the same rules are checked here over every reachable state
of the model (in the model's terms), and the implementation's rules on forged messages.
"""

from __future__ import annotations

import pytest
from pbjoin_model.conformance.refinement import validate_log
from pbjoin_model.explorer.bfs import reachable
from pbjoin_model.protocol import machine as m
from pbjoin_model.protocol.machine import GroupState as ModelView
from pbjoin_model.protocol.machine import Params, State
from test_member_engine import act, cluster, logged, settle

from pbjoin.engine import Action, InMemoryEngine
from pbjoin.group import GroupState
from pbjoin.wire import ConfigMsg, DirectMsg, GroupStateMsg, StartMirror, encode


def unauthorized(s: State, p: Params) -> str | None:
    """The first message in flight that the implementation's refusal rules would refuse."""
    for i, queue in enumerate(s.chan):
        src, n = divmod(i, p.nodes)
        for msg in queue:
            where = f"{m.P2P_NAMES[msg.kind]} {m.node_name(src)}->{m.node_name(n)}"
            if src == n:
                return f"{where}: to itself"
            if msg.kind == m.GROUP_STATE:
                gs = msg.gs
                assert isinstance(gs, ModelView)
                if m.sponsor(gs) != src or gs.status[n] != m.JOINING or gs.inc[n] != s.inc[n]:
                    return f"{where}: not from the sponsor of the state, or not for a joiner"
                if gs != m.replay(s, msg.cur, p):
                    return f"{where}: not the group state at its position"
                continue
            if s.phase[n] not in m.HOLDS_VIEW:
                return f"{where}: receiver is {m.PHASE_NAMES[s.phase[n]]}"
            if not m.caught_up(s, p, n, msg):
                continue  # the receiver waits: it judges once it knows what the sender knew
            view = s.view[n]
            assert isinstance(view, ModelView)
            if msg.kind == m.CONFIG:
                r = m.res_of(view, n)
                if msg.res != r or view.host[r] != src:
                    return f"{where}: not from the host of the receiver's resource"
            elif msg.ver > view.rounds[msg.res]:
                return f"{where}: of a round the receiver's view has not reached"
            elif msg.ver < view.rounds[msg.res]:
                continue  # stale: its sender lived through a repair or failover since; the receiver drops it
            elif view.host[view.prim] != src or view.host[msg.res] != n or msg.res == view.prim:
                return f"{where}: not from the primary host to a backup host"
    return None


@pytest.mark.parametrize(
    "params",
    [
        Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1),
        Params(nodes=3, resources=1, max_failures=2, max_restarts=1, max_config_changes=1),
        Params(nodes=3, resources=2, max_failures=1, max_restarts=0, max_config_changes=0),
    ],
    ids=["2n2r", "3n1r-2failures", "3n2r"],
)
def test_no_message_the_protocol_sends_is_refused_in_any_reachable_state(params: Params) -> None:
    states = 0
    for s in reachable(params, symmetry=True):
        states += 1
        reason = unauthorized(s, params)
        assert reason is None, (reason, s)
    assert states > 1000


def test_with_resource_failures_only_stale_rounds_reach_a_receiver_that_no_longer_entitles_the_sender() -> None:
    """A START_MIRROR whose sender lived through a repair or a resource failover is of an earlier round
    than the receiver's caught-up view: the receiver drops it (ReceiveStartMirror) instead of refusing
    it, and every other message the protocol sends still passes the refusal rules."""
    p = Params(nodes=2, resources=2, max_failures=0, max_restarts=0, max_config_changes=0, max_resource_failures=2)
    states = stale = 0
    for s in reachable(p, symmetry=True):
        states += 1
        reason = unauthorized(s, p)
        assert reason is None, (reason, s)
        for i, queue in enumerate(s.chan):
            view = s.view[i % p.nodes]
            for msg in queue:
                if msg.kind == m.START_MIRROR and isinstance(view, ModelView) and msg.ver < view.rounds[msg.res]:
                    stale += m.caught_up(s, p, i % p.nodes, msg)
    assert states > 50_000 and stale > 0


def test_the_check_itself_sees_a_forged_message() -> None:
    p = Params(nodes=2, resources=1, max_failures=0, max_restarts=0, max_config_changes=0)
    settled = next(s for s in reachable(p) if s.phase == (m.MEMBER, m.MEMBER) and not any(s.chan))
    view = settled.view[0]
    assert isinstance(view, ModelView) and view.host[0] == 0
    forged = settled._replace(chan=((), (), (m.P2P(m.CONFIG, res=0, ver=2, cur=0),), ()))  # n2 -> n1
    assert unauthorized(forged, p) == "CONFIG n2->n1: not from the host of the receiver's resource"
    assert unauthorized(settled, p) is None


# ---------------------------------------------------------------- the implementation, on forged input


def group() -> InMemoryEngine:
    """n1 hosts r1 (primary), n2 is a member of r1's subgroup, n3 hosts the backup r2."""
    engine = cluster({"n1": {"r1"}, "n2": {"r1"}, "n3": {"r2"}})
    for n in ("n1", "n2", "n3"):
        engine.step(act("Join", n=n))
        settle(engine)
    return engine


def state_of(engine: InMemoryEngine) -> list[object]:
    return [
        (rt.member.phase, rt.member.position, rt.member.view, dict(rt.member.configs), rt.disks.installed_versions())
        for rt in engine.runtimes.values()
    ]


FORGERIES: dict[str, tuple[str, str, DirectMsg]] = {
    "CONFIG from a member that is not the host": ("n2", "n1", ConfigMsg(resource="r1", version=9, data="evil")),
    "CONFIG for another subgroup": ("n1", "n3", ConfigMsg(resource="r1", version=9, data="evil")),
    "CONFIG from outside the subgroup": ("n3", "n2", ConfigMsg(resource="r1", version=9, data="evil")),
    "START_MIRROR from a backup host": ("n2", "n3", StartMirror(resource="r2", production="r1")),
    "START_MIRROR naming another production": ("n1", "n3", StartMirror(resource="r2", production="r2")),
    "START_MIRROR to a member that hosts no backup": ("n1", "n2", StartMirror(resource="r2", production="r1")),
}


@pytest.mark.parametrize("what", list(FORGERIES))
def test_a_forged_message_is_refused_logged_and_changes_nothing(what: str) -> None:
    engine = group()
    src, dst, msg = FORGERIES[what]
    before = state_of(engine)
    engine.inject_direct(src, dst, engine.runtimes[dst].inc, encode(msg))
    (action,) = [a for a in engine.enabled() if dict(a.params).get("src") == src]
    assert action.name == "Refuse"
    record = engine.step(action)
    assert record.notes and record.notes[0].startswith(f"refused {msg.kind}")
    assert not record.effects and not record.multicast and not record.sent
    assert state_of(engine) == before
    assert validate_log(engine.cluster, logged(engine)[1]).divergence is None  # a refusal is a stutter


def test_a_group_state_that_is_not_the_stream_s_is_refused_even_from_the_sponsor() -> None:
    engine = group()
    view = engine.runtimes["n1"].member.view
    assert isinstance(view, GroupState)
    engine.step(Action("Crash", (("n", "n2"),)))
    engine.step(Action("Restart", (("n", "n2"),)))
    engine.step(Action("Join", (("n", "n2"),)))
    while [a for a in engine.enabled() if a.label() == "Deliver(n=n1)"]:
        engine.step(Action("Deliver", (("n", "n1"),)))
    (real,) = engine.channels[("n1", "n2")]
    engine.channels.pop(("n1", "n2"))
    honest = GroupStateMsg.model_validate_json(real.raw)
    tampered = honest.state.model_copy(update={"primary": "r2"})
    for body, position in ((tampered, honest.position), (honest.state, honest.position - 1)):
        engine.inject_direct("n1", "n2", 1, encode(GroupStateMsg(state=body, position=position)))
        (action,) = [a for a in engine.enabled() if dict(a.params).get("src") == "n1"]
        assert action.name == "Refuse", body
        record = engine.step(action)
        assert record.post.phase == "waitState"
    engine.inject_direct("n1", "n2", 1, real.raw)
    (action,) = [a for a in engine.enabled() if dict(a.params).get("src") == "n1"]
    assert action.name == "ReceiveGroupState"
    assert engine.step(action).post.phase == "waitPlace"


def test_a_lagging_member_waits_for_what_the_sender_knew_then_takes_its_configuration() -> None:
    """n3 has not delivered the FAIL that made n2 its host: it takes n2's CONFIG only after delivering it."""
    engine = cluster({n: {"r1"} for n in ("n1", "n2", "n3")}, resources=("r1",))
    for n in ("n1", "n2", "n3"):
        engine.step(act("Join", n=n))
        settle(engine)
    engine.step(Action("Crash", (("n", "n1"),)))
    engine.step(Action("Deliver", (("n", "n2"),)))  # n2 takes over and pushes its configuration
    assert engine.runtimes["n3"].member.view is not None and engine.runtimes["n3"].member.view.host["r1"] == "n1"
    receive = Action("ReceiveConfig", (("src", "n2"), ("n", "n3")))
    assert receive not in engine.enabled()
    engine.step(Action("Deliver", (("n", "n3"),)))
    record = engine.step(receive)
    assert record.effects == ["install configuration r1 v1"] and not record.notes
