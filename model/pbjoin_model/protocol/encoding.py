"""A compact, canonical byte encoding of model states, and 64-bit fingerprints of it.

`encode` writes a state as a flat sequence of ints: a header (nodes, resources, writes)
fixes the length of every per-node and per-resource field, and each field of variable
length (the log, a channel, a subgroup, a copy's writes) is preceded by its length, so
the sequence is self-delimiting and `decode` inverts it exactly. The fields that may hold
-1 (no node, no resource) are stored plus one, so that every int is at least 0. The ints go
out as one byte each when they all fit (they do in every exhaustive run: the log is
compacted and the bounds are small), else as eight bytes each; a leading format byte says
which.

Equal states have equal encodings whatever objects they share, so the encoding can stand
for the state in an exact seen-set (about a hundred bytes instead of a tree of tuples), and
its BLAKE2b digest is a fingerprint that is the same in every process and every run.
"""

from __future__ import annotations

from array import array
from hashlib import blake2b
from typing import Final

from pbjoin_model.protocol.machine import (
    NO_NODE,
    NO_VIEW,
    P2P,
    DataMsg,
    GroupState,
    GroupStateMemo,
    Msg,
    State,
    View,
    WriteRec,
)
from pbjoin_model.protocol.symmetry import rename_view

_NARROW: Final = b"\x00"  # one byte per int
_WIDE: Final = b"\x01"  # eight bytes per int (signed, should a field ever be below -1)


# Group states are shared by many states and messages: the encodings of their images under
# renamings are memoised, by group state and renaming.
_VIEW_CODES: Final[GroupStateMemo[list[int]]] = GroupStateMemo()


def _view_code(gs: View, pi: tuple[int, ...], inv: tuple[int, ...]) -> list[int]:
    """The ints of gs with node i renamed pi[i] (inv is pi's inverse)."""
    if not isinstance(gs, GroupState):
        return [0]
    code = _VIEW_CODES.get(gs, pi)
    if code is None:
        image = rename_view(gs, pi, inv)
        assert isinstance(image, GroupState)
        code = [1, image.prim]
        for members in image.sub:
            code.append(len(members))
            code.extend(members)
        code.extend([h + 1 for h in image.host])
        code.extend(image.mirror)
        code.extend(image.status)
        code.extend(image.acc)
        code.extend(image.inc)
        code.append(image.lost)
        code.extend(image.rounds)
        _VIEW_CODES.put(gs, pi, code)
    return code


def encode(s: State) -> bytes:
    """The state as bytes; equal states, and only they, encode equally."""
    identity = tuple(range(len(s.phase)))
    return encode_renamed(s, identity, identity)


def encode_renamed(s: State, pi: tuple[int, ...], inv: tuple[int, ...]) -> bytes:
    """encode(permute(s, pi)) (inv is pi's inverse), without building the renamed state: a
    search encodes every successor's orbit representative, and building it took as long as
    encoding it."""
    n = len(pi)
    out = [n, len(s.resVer), len(s.writes)]
    out.extend([s.access[old] for old in inv])
    out.extend([s.phase[old] for old in inv])
    out.extend([s.cursor[old] for old in inv])
    for old in inv:
        out.extend(_view_code(s.view[old], pi, inv))
    out.append(len(s.log))
    for m in s.log:
        out.extend((m.kind, pi[m.node], m.inc, m.res + 1, m.rset, m.ver))
    # Every channel's length first, then the messages of the non-empty ones (most are empty);
    # the channel from a to b is the one from inv[a] to inv[b] before renaming.
    chans = [s.chan[inv[a] * n + inv[b]] for a in range(n) for b in range(n)]
    out.extend([len(q) for q in chans])
    for q in chans:
        for msg in q:
            out.extend((msg.kind, msg.res + 1, msg.ver + 1))
            out.extend(_view_code(msg.gs, pi, inv))
            out.extend((msg.cur + 1, len(msg.data)))
            out.extend(msg.data)
            out.append(msg.ep)
    for old in inv:
        out.extend(s.cfg[old])
    out.extend(s.resVer)
    out.extend(s.dataCurrent)
    out.extend((s.crashes, s.restarts, s.cfgChanges))
    out.extend(_view_code(s.durable, pi, inv))
    out.extend([s.inc[old] for old in inv])
    for copy in s.data:
        out.append(len(copy))
        out.extend(copy)
    out.extend(s.fence)
    out.extend([s.epoch[old] for old in inv])
    if any(s.stale):
        for old in inv:
            out.extend(_view_code(s.stale[old], pi, inv))
    else:  # no paused node: every stale view is empty
        out.extend([0] * n)
    dchans = [s.dchan[inv[a] * n + inv[b]] for a in range(n) for b in range(n)]
    out.extend([len(q) for q in dchans])
    for dq in dchans:
        for dm in dq:
            out.extend(dm)
    for rec in s.writes:
        out.extend((rec.st, (pi[rec.by] if rec.by != NO_NODE else NO_NODE) + 1, rec.pos, rec.ep, rec.wait))
    out.extend((s.broken, s.resFailures))
    try:
        # bytes() of a list of ints is one C loop; array("b", ...) parses each int on its own.
        return _NARROW + bytes(out)
    except ValueError:  # an int above 255 (or below 0)
        return _WIDE + array("q", out).tobytes()


def fingerprint(s: State) -> int:
    """A 64-bit fingerprint of s: the same in every process and every run."""
    return digest(encode(s))


def digest(code: bytes) -> int:
    """The 64-bit BLAKE2b digest of an encoding, signed (as SQLite keys are)."""
    return int.from_bytes(blake2b(code, digest_size=8).digest(), "little", signed=True)


# Decoded group states are memoised by their codes, for the same reason: most states in the
# queue hold a few of the same group states. The table is dropped whole past a bound.
_VIEWS_BY_CODE: Final[dict[tuple[int, ...], GroupState]] = {}
_VIEWS_BY_CODE_MAX: Final = 1 << 18


def _decode_view(ints: list[int], i: int, nodes: int, resources: int) -> tuple[View, int]:
    """The view whose code starts at ints[i], and the position after it."""
    if not ints[i]:
        return NO_VIEW, i + 1
    end = i + 2
    for _ in range(resources):
        end += 1 + ints[end]
    end += 3 * resources + 3 * nodes + 1
    key = tuple(ints[i:end])
    gs = _VIEWS_BY_CODE.get(key)
    if gs is None:
        j = i + 2
        sub = []
        for _ in range(resources):
            size = ints[j]
            sub.append(tuple(ints[j + 1 : j + 1 + size]))
            j += 1 + size
        host = tuple([h - 1 for h in ints[j : j + resources]])
        mirror = tuple(ints[j + resources : j + 2 * resources])
        j += 2 * resources
        status = tuple(ints[j : j + nodes])
        acc = tuple(ints[j + nodes : j + 2 * nodes])
        inc = tuple(ints[j + 2 * nodes : j + 3 * nodes])
        j += 3 * nodes
        gs = GroupState(ints[i + 1], tuple(sub), host, mirror, status, acc, inc, ints[j], tuple(ints[j + 1 : end]))
        if len(_VIEWS_BY_CODE) >= _VIEWS_BY_CODE_MAX:
            _VIEWS_BY_CODE.clear()
        _VIEWS_BY_CODE[key] = gs
    return gs, end


def decode(data: bytes) -> State:
    """The state that `encode` turned into `data`."""
    if data[:1] == _NARROW:
        ints = list(data[1:])
    else:
        codes = array("q")
        codes.frombytes(data[1:])
        ints = codes.tolist()
    n, r, w = ints[0], ints[1], ints[2]
    i = 3
    access, phase, cursor = tuple(ints[i : i + n]), tuple(ints[i + n : i + 2 * n]), tuple(ints[i + 2 * n : i + 3 * n])
    i += 3 * n
    views = []
    for _ in range(n):
        gs, i = _decode_view(ints, i, n, r)
        views.append(gs)
    log = []
    for _ in range(ints[i]):
        log.append(
            tuple.__new__(Msg, (ints[i + 1], ints[i + 2], ints[i + 3], ints[i + 4] - 1, ints[i + 5], ints[i + 6]))
        )
        i += 6
    i += 1
    lengths = ints[i : i + n * n]
    i += n * n
    chan: list[tuple[P2P, ...]] = []
    for length in lengths:
        if not length:
            chan.append(())
            continue
        queue = []
        for _ in range(length):
            kind, res, ver = ints[i], ints[i + 1] - 1, ints[i + 2] - 1
            gs, i = _decode_view(ints, i + 3, n, r)
            cur, size = ints[i] - 1, ints[i + 1]
            copy = tuple(ints[i + 2 : i + 2 + size])
            i += 2 + size
            queue.append(tuple.__new__(P2P, (kind, res, ver, gs, cur, copy, ints[i])))
            i += 1
        chan.append(tuple(queue))
    cfg = []
    for _ in range(n):
        cfg.append(tuple(ints[i : i + r]))
        i += r
    res_ver = tuple(ints[i : i + r])
    data_current = tuple([bool(x) for x in ints[i + r : i + 2 * r]])
    i += 2 * r
    crashes, restarts, cfg_changes = ints[i], ints[i + 1], ints[i + 2]
    durable, i = _decode_view(ints, i + 3, n, r)
    assert isinstance(durable, GroupState), "the durable group state is never empty"
    inc = tuple(ints[i : i + n])
    i += n
    copies = []
    for _ in range(r):
        size = ints[i]
        copies.append(tuple(ints[i + 1 : i + 1 + size]))
        i += 1 + size
    fence, epoch = tuple(ints[i : i + r]), tuple(ints[i + r : i + r + n])
    i += r + n
    stale = []
    for _ in range(n):
        gs, i = _decode_view(ints, i, n, r)
        stale.append(gs)
    lengths = ints[i : i + n * n]
    i += n * n
    dchan: list[tuple[DataMsg, ...]] = []
    for length in lengths:
        dqueue = []
        for _ in range(length):
            dqueue.append(DataMsg(ints[i], ints[i + 1], ints[i + 2], ints[i + 3], ints[i + 4], ints[i + 5]))
            i += 6
        dchan.append(tuple(dqueue))
    writes = []
    for _ in range(w):
        writes.append(WriteRec(ints[i], ints[i + 1] - 1, ints[i + 2], ints[i + 3], ints[i + 4]))
        i += 5
    return tuple.__new__(
        State,
        (
            access,
            phase,
            cursor,
            tuple(views),
            tuple(log),
            tuple(chan),
            tuple(cfg),
            res_ver,
            data_current,
            crashes,
            restarts,
            cfg_changes,
            durable,
            inc,
            tuple(copies),
            fence,
            epoch,
            tuple(stale),
            tuple(dchan),
            tuple(writes),
            ints[i],
            ints[i + 1],
        ),
    )
