"""States and stream steps to compare the TLA+ invariants and rules with the Python ones on,
violating ones included.

Reachable states of the protocol and of the mutants violate only the invariants some
mutant breaks. To have every invariant both hold and fail somewhere, the corpus adds
perturbed reachable states: one value changed within its type (a view's host, primary,
mirror or member status, a configuration version, a cursor, a message's sender or
resource, a copy's order, an epoch, a phase), so that most perturbed states are still
well typed and each breaks what the perturbed value carries.

The stream-step invariants replay the log through each language's own ApplyMessage, so a
corpus state can break them only where the rule and the function differ; their rules are
compared on steps instead: (group state, message, next group state) triples from the
protocol's logs, from the mutants' (whose slips break the rules), and with the next group
state perturbed.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable

from pbjoin_model.explorer.bfs import Options, check, reachable
from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import (
    FAIL,
    M_ACTIVE,
    M_NONE,
    M_SYNCING,
    MEMBER,
    NO_NODE,
    OUT,
    REJECTED,
    WAIT_CONFIG,
    GroupState,
    Mutant,
    Params,
    State,
    apply_message,
)
from pbjoin_model.traces.tlc_invariants import StreamStep

Perturbation = Callable[[random.Random, State, Params], State | None]


def _set(t: tuple, i: int, v: object) -> tuple:  # type: ignore[type-arg]
    return (*t[:i], v, *t[i + 1 :])


def _holder(rng: random.Random, s: State) -> tuple[int, GroupState] | None:
    held = [(n, gs) for n, gs in enumerate(s.view) if isinstance(gs, GroupState)]
    return rng.choice(held) if held else None


def _with_view(s: State, n: int, gs: GroupState) -> State:
    return s._replace(view=_set(s.view, n, gs))


def claim_host(rng: random.Random, s: State, p: Params) -> State | None:
    """A holder believes it hosts a resource."""
    held = _holder(rng, s)
    if held is None:
        return None
    n, gs = held
    return _with_view(s, n, gs._replace(host=_set(gs.host, rng.randrange(p.resources), n)))


def claim_primary(rng: random.Random, s: State, p: Params) -> State | None:
    """A holder believes it is the primary host (split brain if another one does too)."""
    held = _holder(rng, s)
    if held is None:
        return None
    n, gs = held
    return _with_view(s, n, gs._replace(host=_set(gs.host, gs.prim, n)))


def move_primary(rng: random.Random, s: State, p: Params) -> State | None:
    """A holder's view names another primary resource (its mirror status none, as TypeOK wants)."""
    held = _holder(rng, s)
    if held is None or p.resources < 2:
        return None
    n, gs = held
    prim = rng.choice([r for r in range(p.resources) if r != gs.prim])
    return _with_view(s, n, gs._replace(prim=prim, mirror=_set(gs.mirror, prim, M_NONE)))


def flip_mirror(rng: random.Random, s: State, p: Params) -> State | None:
    held = _holder(rng, s)
    if held is None or p.resources < 2:
        return None
    n, gs = held
    b = rng.choice([r for r in range(p.resources) if r != gs.prim])
    return _with_view(s, n, gs._replace(mirror=_set(gs.mirror, b, rng.randrange(3))))


def flip_status(rng: random.Random, s: State, p: Params) -> State | None:
    held = _holder(rng, s)
    if held is None:
        return None
    n, gs = held
    return _with_view(s, n, gs._replace(status=_set(gs.status, rng.randrange(p.nodes), rng.randrange(4))))


def drop_member(rng: random.Random, s: State, p: Params) -> State | None:
    """A holder's view loses one member of a subgroup."""
    held = _holder(rng, s)
    if held is None:
        return None
    n, gs = held
    subs = [r for r, members in enumerate(gs.sub) if members]
    if not subs:
        return None
    r = rng.choice(subs)
    x = rng.choice(gs.sub[r])
    return _with_view(s, n, gs._replace(sub=_set(gs.sub, r, tuple(y for y in gs.sub[r] if y != x))))


def set_config(rng: random.Random, s: State, p: Params) -> State | None:
    n, r = rng.randrange(p.nodes), rng.randrange(p.resources)
    v = rng.randrange(s.resVer[r] + p.max_config_changes + 1)
    return s._replace(cfg=_set(s.cfg, n, _set(s.cfg[n], r, v)))


def shift_cursor(rng: random.Random, s: State, p: Params) -> State | None:
    """A holder's cursor moves, sometimes past the end of the log (TypeOK fails)."""
    held = _holder(rng, s)
    if held is None:
        return None
    n, _ = held
    return s._replace(cursor=_set(s.cursor, n, rng.randrange(len(s.log) + 2)))


def resend_from_another(rng: random.Random, s: State, p: Params) -> State | None:
    """The head of a channel arrives from another sender (appended to that channel)."""
    busy = [i for i, q in enumerate(s.chan) if q]
    if not busy or p.nodes < 2:
        return None
    i = rng.choice(busy)
    src, dst = divmod(i, p.nodes)
    other = rng.choice([x for x in range(p.nodes) if x != src])
    j = other * p.nodes + dst
    chan = _set(s.chan, i, s.chan[i][1:])
    return s._replace(chan=_set(chan, j, (*chan[j], s.chan[i][0])))


def retarget_message(rng: random.Random, s: State, p: Params) -> State | None:
    """A message in flight names another resource."""
    busy = [(i, k) for i, q in enumerate(s.chan) for k, msg in enumerate(q) if msg.res >= 0]
    if not busy:
        return None
    i, k = rng.choice(busy)
    msg = s.chan[i][k]._replace(res=rng.randrange(p.resources))
    return s._replace(chan=_set(s.chan, i, _set(s.chan[i], k, msg)))


def rewrite_log(rng: random.Random, s: State, p: Params) -> State | None:
    """An ordered message is about another node, or an ACCESS carries another access set."""
    if not s.log:
        return None
    k = rng.randrange(len(s.log))
    m = s.log[k]
    if rng.random() < 0.5:
        m = m._replace(rset=rng.randrange(1 << p.resources)) if m.rset or m.kind != FAIL else m
    else:
        m = m._replace(node=rng.randrange(p.nodes))
    return s._replace(log=_set(s.log, k, m))


def flip_phase(rng: random.Random, s: State, p: Params) -> State | None:
    """A member waits for configuration again (or the reverse), or an outsider is rejected."""
    n = rng.randrange(p.nodes)
    swap = {MEMBER: WAIT_CONFIG, WAIT_CONFIG: MEMBER, OUT: REJECTED}
    if s.phase[n] not in swap:
        return None
    return s._replace(phase=_set(s.phase, n, swap[s.phase[n]]))


def reject_keeping_config(rng: random.Random, s: State, p: Params) -> State | None:
    """A node outside the group is rejected, yet holds a configuration."""
    outside = [n for n in range(p.nodes) if s.phase[n] in (OUT, REJECTED)]
    if not outside:
        return None
    n, r = rng.choice(outside), rng.randrange(p.resources)
    return s._replace(phase=_set(s.phase, n, REJECTED), cfg=_set(s.cfg, n, _set(s.cfg[n], r, 1)))


def reorder_copy(rng: random.Random, s: State, p: Params) -> State | None:
    """A copy holds its writes in another order, or one twice."""
    copies = [r for r, copy in enumerate(s.data) if copy]
    if not copies:
        return None
    r = rng.choice(copies)
    copy = s.data[r]
    changed = copy[::-1] if len(copy) > 1 else (*copy, copy[0])
    return s._replace(data=_set(s.data, r, changed))


def copy_epoch(rng: random.Random, s: State, p: Params) -> State | None:
    """A node takes another node's epoch."""
    if p.nodes < 2:
        return None
    a, b = rng.sample(range(p.nodes), 2)
    return s._replace(epoch=_set(s.epoch, a, s.epoch[b] or 1))


def drop_host(rng: random.Random, s: State, p: Params) -> State | None:
    """A holder's view forgets a resource's host."""
    held = _holder(rng, s)
    if held is None:
        return None
    n, gs = held
    return _with_view(s, n, gs._replace(host=_set(gs.host, rng.randrange(p.resources), NO_NODE)))


PERTURBATIONS: tuple[Perturbation, ...] = (
    claim_host,
    claim_primary,
    move_primary,
    flip_mirror,
    flip_status,
    drop_member,
    set_config,
    shift_cursor,
    resend_from_another,
    retarget_message,
    rewrite_log,
    flip_phase,
    reject_keeping_config,
    reorder_copy,
    copy_epoch,
    drop_host,
)


def perturb_group_state(rng: random.Random, gs: GroupState, p: Params) -> GroupState:
    """One value of a group state changed within its type."""
    r, x = rng.randrange(p.resources), rng.randrange(p.nodes)
    choice = rng.randrange(6)
    if choice == 0:
        return gs._replace(host=_set(gs.host, r, rng.choice([NO_NODE, *range(p.nodes)])))
    if choice == 1:
        return gs._replace(prim=r, mirror=_set(gs.mirror, r, M_NONE))
    if choice == 2:
        return gs._replace(mirror=_set(gs.mirror, r, rng.choice([M_NONE, M_SYNCING, M_ACTIVE])))
    if choice == 3:
        return gs._replace(status=_set(gs.status, x, rng.randrange(4)))
    if choice == 4:
        members = gs.sub[r]
        changed = members[:-1] if members and rng.random() < 0.5 else (*members, x)
        return gs._replace(sub=_set(gs.sub, r, changed))
    return gs._replace(acc=_set(gs.acc, x, rng.randrange(1 << p.resources)))


def stream_steps(s: State, p: Params) -> list[StreamStep]:
    """The steps of s's ordered stream, replayed by p's (perhaps a mutant's) apply_message."""
    before, out = s.durable, []
    for m in s.log:
        after = apply_message(before, m, p)
        out.append((before, m, after))
        before = after
    return out


def _spread(states: list[State], count: int) -> list[State]:
    """`count` states spread over the whole list (BFS order: every depth)."""
    step = max(1, len(states) // count)
    return states[::step][:count]


def corpus(
    p: Params,
    mutants: Iterable[Mutant],
    per_source: int,
    perturbed: int,
    seed: int = 17,
    wirings: tuple[tuple[int, ...], ...] | None = None,
) -> tuple[list[State], list[StreamStep]]:
    """Reachable states of the protocol and of `mutants` on p (each mutant's violating states
    first), the explorer's counterexample of each mutant, and perturbed states; and the
    stream steps of all of them, with as many perturbed ones. With `per_source` 0 no
    reachable set is enumerated: the counterexamples are the states, and the perturbed
    states are theirs. `wirings` fixes the mutants' searches to those wirings (for a
    configuration whose every wiring is too many to search)."""
    rng = random.Random(seed)
    base = list(reachable(p, symmetry=True)) if per_source else []
    states = _spread(base, per_source) if per_source else []
    steps = [step for s in states for step in stream_steps(s, p)]
    for mutant in mutants:
        q = dataclasses.replace(p, mutant=mutant)
        chosen = [step.state for step in check(q, Options(wirings=wirings)).trace]
        if per_source:
            reached = list(reachable(q, symmetry=True))
            bad = [s for s in reached if any(not inv(s, q) for _, inv in INVARIANTS)]
            chosen += _spread(bad, per_source // 2) + _spread(reached, per_source // 2)
        else:
            base += chosen
        states += chosen
        steps += [step for s in chosen for step in stream_steps(s, q)]
    for i in range(perturbed):  # every perturbation as often as the others
        changed = PERTURBATIONS[i % len(PERTURBATIONS)](rng, rng.choice(base), p)
        if changed is not None:
            states.append(changed)
    steps = list(dict.fromkeys(steps))
    steps += [(a, m, perturb_group_state(rng, b, p)) for a, m, b in rng.sample(steps, min(perturbed, len(steps)))]
    return list(dict.fromkeys(states)), list(dict.fromkeys(steps))
