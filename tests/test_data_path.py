"""The data-path invariants are not vacuous: MC_writes reaches the situations they are about.

NoAckedWriteLost holding says little unless acknowledged writes meet failovers; fencing
says little unless a paused primary host really writes, is refused, and sometimes gets
through before the takeover. Each situation below must occur in some reachable state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from pbjoin_model.explorer.bfs import Verdict, check, reachable
from pbjoin_model.protocol.config import load
from pbjoin_model.protocol.machine import (
    M_ACTIVE,
    NO_NODE,
    START_MIRROR,
    W_ACKED,
    W_PENDING,
    W_REFUSED,
    W_UNKNOWN,
    WRITE,
    GroupState,
    State,
    replay,
)

P = load("writes").params


def _paused(s: State, n: int) -> bool:
    return isinstance(s.stale[n], GroupState)


def _failed_over_with_an_acked_write(s: State) -> bool:
    end = replay(s, len(s.log), P)
    return end.prim != 0 and any(x.st == W_ACKED for x in s.writes)


def _active_mirror_holds_writes(s: State) -> bool:
    end = replay(s, len(s.log), P)
    return end.host[end.prim] != NO_NODE and any(mode == M_ACTIVE and s.data[b] for b, mode in enumerate(end.mirror))


SITUATIONS: dict[str, Callable[[State], bool]] = {
    "an acknowledged write, after a failover to the backup resource": _failed_over_with_an_acked_write,
    "a paused primary host's write refused by a fenced copy": lambda s: any(
        x.st == W_REFUSED and _paused(s, x.by) for x in s.writes
    ),
    "a paused primary host's write acknowledged before the takeover": lambda s: any(
        x.st == W_ACKED and _paused(s, x.by) for x in s.writes
    ),
    "a paused primary host's write in flight to a backup host": lambda s: any(
        m.kind == WRITE and _paused(s, i // P.nodes) for i, q in enumerate(s.dchan) for m in q
    ),
    "a resynchronisation carrying writes": lambda s: any(m.kind == START_MIRROR and m.data for q in s.chan for m in q),
    "a write waiting for a mirror's ack": lambda s: any(x.st == W_PENDING and x.wait for x in s.writes),
    "an active mirror holding writes": _active_mirror_holds_writes,
    "a copy holding writes of two epochs": lambda s: any(len({s.writes[w].ep for w in copy}) > 1 for copy in s.data),
    "a write left unknown by its writer's failure": lambda s: any(x.st == W_UNKNOWN for x in s.writes),
}


@pytest.fixture(scope="module")
def reached() -> Counter[str]:
    seen: Counter[str] = Counter()
    for s in reachable(P, symmetry=True):
        for name, holds in SITUATIONS.items():
            if holds(s):
                seen[name] += 1
    return seen


@pytest.mark.parametrize("situation", list(SITUATIONS))
def test_the_writes_configuration_reaches(situation: str, reached: Counter[str]) -> None:
    assert reached[situation] > 0


def test_the_writes_configuration_holds_every_invariant() -> None:
    result = check(P)
    assert result.verdict is Verdict.HOLDS
    assert {"NoAckedWriteLost", "MirrorIsPrefix", "NoStaleWrite", "UniqueEpochs", "AckedOnce"} <= set(
        load("writes").invariants
    )
