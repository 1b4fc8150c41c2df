"""Symmetry reduction over node identities (TLC's SYMMETRY Permutations(Node)).

Nodes are interchangeable except through what the state records about them, the
access relation included: permuting node identities permutes `access` with
everything else, so two states are merged only when some renaming of nodes maps
one onto the other wiring and all. The canonical form of a state is the least
(by tuple order) of its images under the renamings that sort a cheap
per-node signature; that set of renamings is the same for every member of an
orbit, so the representative is exact, not a hash-based approximation.
"""

from __future__ import annotations

from itertools import permutations, product
from typing import Final

from pbjoin_model.protocol.machine import NO_NODE, P2P, DataMsg, GroupState, GroupStateMemo, Msg, Params, State, View


def _permute_view(gs: GroupState, pi: tuple[int, ...], inv: tuple[int, ...]) -> GroupState:
    return GroupState(
        gs.prim,
        tuple(tuple(pi[x] for x in members) for members in gs.sub),
        tuple(pi[h] if h != NO_NODE else NO_NODE for h in gs.host),
        gs.mirror,
        tuple(gs.status[o] for o in inv),
        tuple(gs.acc[o] for o in inv),
        tuple(gs.inc[o] for o in inv),
        gs.lost,
        gs.rounds,
    )


# Group states are shared by many states and messages, so their images are memoised.
_VIEW_IMAGES: Final[GroupStateMemo[GroupState]] = GroupStateMemo(1 << 20)


def rename_view(gs: View, pi: tuple[int, ...], inv: tuple[int, ...]) -> View:
    """gs with node i renamed pi[i] (inv is pi's inverse), memoised."""
    if not isinstance(gs, GroupState):
        return gs
    image = _VIEW_IMAGES.get(gs, pi)
    if image is None:
        # encode() renames by the identity: gs is its own image, no copy of it is needed.
        image = gs if pi == tuple(range(len(pi))) else _permute_view(gs, pi, inv)
        _VIEW_IMAGES.put(gs, pi, image)
    return image


def _p2p(m: P2P, pi: tuple[int, ...], inv: tuple[int, ...]) -> P2P:
    if not isinstance(m.gs, GroupState):
        return m
    return tuple.__new__(P2P, (m.kind, m.res, m.ver, rename_view(m.gs, pi, inv), m.cur, m.data, m.ep))


def inverse(pi: tuple[int, ...]) -> tuple[int, ...]:
    """The renaming that undoes pi: inverse(pi)[pi[i]] == i."""
    inv = [0] * len(pi)
    for old, new in enumerate(pi):
        inv[new] = old
    return tuple(inv)


# Helpers are module functions, not closures inside `permute`: mypyc makes closures share an
# environment object that references them back, a cycle leaked on every call while the
# checker runs with the cyclic collector off.
def permute(s: State, pi: tuple[int, ...]) -> State:
    """The image of s when node i is renamed pi[i]."""
    n = len(pi)
    inv = inverse(pi)
    chan: list[tuple[P2P, ...]] = [()] * (n * n)
    for i, q in enumerate(s.chan):
        if q:
            src, dst = divmod(i, n)
            chan[pi[src] * n + pi[dst]] = tuple(_p2p(m, pi, inv) for m in q)
    dchan: tuple[tuple[DataMsg, ...], ...] = s.dchan  # all empty without writes
    if any(s.dchan):
        moved: list[tuple[DataMsg, ...]] = [()] * (n * n)
        for i, dq in enumerate(s.dchan):
            if dq:
                src, dst = divmod(i, n)
                moved[pi[src] * n + pi[dst]] = dq
        dchan = tuple(moved)
    durable = rename_view(s.durable, pi, inv)
    assert isinstance(durable, GroupState)
    return tuple.__new__(
        State,
        (
            tuple(s.access[o] for o in inv),
            tuple(s.phase[o] for o in inv),
            tuple(s.cursor[o] for o in inv),
            tuple(rename_view(s.view[o], pi, inv) for o in inv),
            tuple([tuple.__new__(Msg, (m.kind, pi[m.node], m.inc, m.res, m.rset, m.ver)) for m in s.log]),
            tuple(chan),
            tuple(s.cfg[o] for o in inv),
            s.resVer,
            s.dataCurrent,
            s.crashes,
            s.restarts,
            s.cfgChanges,
            durable,
            tuple(s.inc[o] for o in inv),
            s.data,
            s.fence,
            tuple(s.epoch[o] for o in inv),
            tuple(rename_view(s.stale[o], pi, inv) for o in inv),
            dchan,
            tuple(rec._replace(by=pi[rec.by]) if rec.by != NO_NODE else rec for rec in s.writes),
            s.broken,
            s.resFailures,
        ),
    )


def candidate_renamings(s: State) -> list[tuple[int, ...]]:
    """Renamings that put nodes in signature order, trying every order among ties."""
    n = len(s.phase)
    sig = [(s.access[x], s.phase[x], s.cursor[x], s.inc[x], s.cfg[x]) for x in range(n)]
    order = sorted(range(n), key=sig.__getitem__)
    blocks: list[list[int]] = []
    for x in order:
        if blocks and sig[blocks[-1][0]] == sig[x]:
            blocks[-1].append(x)
        else:
            blocks.append([x])
    if len(blocks) == n:
        pi = [0] * n
        for new, old in enumerate(order):
            pi[old] = new
        return [tuple(pi)]
    result = []
    for choice in product(*(permutations(b) for b in blocks)):
        pi = [0] * n
        for new, old in enumerate(x for block in choice for x in block):
            pi[old] = new
        result.append(tuple(pi))
    return result


def canonical(s: State) -> State:
    """The orbit representative of s under renaming of nodes."""
    renamings = candidate_renamings(s)
    if len(renamings) == 1:
        pi = renamings[0]
        return s if pi == tuple(range(len(pi))) else permute(s, pi)
    return min(permute(s, pi) for pi in renamings)


def orbit(s: State, p: Params) -> set[State]:
    """Every distinct image of s under all renamings (for tests of soundness)."""
    return {permute(s, pi) for pi in permutations(range(p.nodes))}
