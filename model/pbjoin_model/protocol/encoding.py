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
from itertools import chain
from typing import Final

from pbjoin_model.protocol.machine import NO_VIEW, P2P, DataMsg, GroupState, GroupStateMemo, Msg, State, View, WriteRec

_NARROW: Final = b"\x00"  # one byte per int
_WIDE: Final = b"\x01"  # eight bytes per int (signed, should a field ever be below -1)


# Group states are shared by many states and messages: their encodings are memoised.
_VIEW_CODES: Final[GroupStateMemo[list[int]]] = GroupStateMemo()


def _view_code(gs: View) -> list[int]:
    if not isinstance(gs, GroupState):
        return [0]
    code = _VIEW_CODES.get(gs, ())
    if code is None:
        code = [1, gs.prim]
        for members in gs.sub:
            code.append(len(members))
            code.extend(members)
        code.extend([h + 1 for h in gs.host])
        code.extend(gs.mirror)
        code.extend(gs.status)
        code.extend(gs.acc)
        code.extend(gs.inc)
        code.append(gs.lost)
        code.extend(gs.rounds)
        _VIEW_CODES.put(gs, (), code)
    return code


def encode(s: State) -> bytes:
    """The state as bytes; equal states, and only they, encode equally."""
    out = [len(s.phase), len(s.resVer), len(s.writes)]
    out.extend(s.access)
    out.extend(s.phase)
    out.extend(s.cursor)
    for gs in s.view:
        out.extend(_view_code(gs))
    out.append(len(s.log))
    for m in s.log:
        out.extend((m.kind, m.node, m.inc, m.res + 1, m.rset, m.ver))
    # Every channel's length first, then the messages of the non-empty ones (most are empty).
    out.extend(map(len, s.chan))
    for msg in chain.from_iterable(s.chan):
        out.extend((msg.kind, msg.res + 1, msg.ver + 1))
        out.extend(_view_code(msg.gs))
        out.extend((msg.cur + 1, len(msg.data)))
        out.extend(msg.data)
        out.append(msg.ep)
    out.extend(chain.from_iterable(s.cfg))
    out.extend(s.resVer)
    out.extend(s.dataCurrent)
    out.extend((s.crashes, s.restarts, s.cfgChanges))
    out.extend(_view_code(s.durable))
    out.extend(s.inc)
    for copy in s.data:
        out.append(len(copy))
        out.extend(copy)
    out.extend(s.fence)
    out.extend(s.epoch)
    if any(s.stale):
        for gs in s.stale:
            out.extend(_view_code(gs))
    else:  # no paused node: every stale view is empty
        out.extend([0] * len(s.stale))
    out.extend(map(len, s.dchan))
    for dm in chain.from_iterable(s.dchan):
        out.extend(dm)
    for rec in s.writes:
        out.extend((rec.st, rec.by + 1, rec.pos, rec.ep, rec.wait))
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
