"""A compact, canonical byte encoding of model states, and 64-bit fingerprints of it.

`encode` writes a state as a flat sequence of ints: a header (nodes, resources, writes)
fixes the length of every per-node and per-resource field, and each field of variable
length (the log, a channel, a subgroup, a copy's writes) is preceded by its length, so
the sequence is self-delimiting and `decode` inverts it exactly. The ints go out as one
signed byte each when they all fit (they do in every exhaustive run: the log is compacted
and the bounds are small), else as eight bytes each; a leading format byte says which.

Equal states have equal encodings whatever objects they share, so the encoding can stand
for the state in an exact seen-set (about a hundred bytes instead of a tree of tuples), and
its BLAKE2b digest is a fingerprint that is the same in every process and every run.
"""

from __future__ import annotations

from array import array
from hashlib import blake2b
from itertools import chain, islice

from pbjoin_model.protocol.machine import NO_VIEW, P2P, DataMsg, GroupState, Msg, State, View, WriteRec

_NARROW = b"\x00"  # one signed byte per int
_WIDE = b"\x01"  # eight bytes per int


# Group states are shared by many states and messages: their encodings are memoised,
# and the table is dropped whole when it grows past a bound.
_VIEW_CODES: dict[GroupState, list[int]] = {}
_VIEW_CODES_MAX = 1 << 18


def _view_code(gs: View) -> list[int]:
    if not isinstance(gs, GroupState):
        return [0]
    code = _VIEW_CODES.get(gs)
    if code is None:
        code = [1, gs.prim]
        for members in gs.sub:
            code.append(len(members))
            code.extend(members)
        code.extend(gs.host)
        code.extend(gs.mirror)
        code.extend(gs.status)
        code.extend(gs.acc)
        code.extend(gs.inc)
        code.append(gs.lost)
        code.extend(gs.rounds)
        if len(_VIEW_CODES) >= _VIEW_CODES_MAX:
            _VIEW_CODES.clear()
        _VIEW_CODES[gs] = code
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
    out.extend(chain.from_iterable(s.log))
    # Every channel's length first, then the messages of the non-empty ones (most are empty).
    out.extend(map(len, s.chan))
    for msg in chain.from_iterable(s.chan):
        out.extend((msg.kind, msg.res, msg.ver))
        out.extend(_view_code(msg.gs))
        out.extend((msg.cur, len(msg.data)))
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
    out.extend(chain.from_iterable(s.writes))
    out.extend((s.broken, s.resFailures))
    try:
        return _NARROW + array("b", out).tobytes()
    except OverflowError:
        return _WIDE + array("q", out).tobytes()


def fingerprint(s: State) -> int:
    """A 64-bit fingerprint of s: the same in every process and every run."""
    return digest(encode(s))


def digest(code: bytes) -> int:
    """The 64-bit BLAKE2b digest of an encoding, signed (as SQLite keys are)."""
    return int.from_bytes(blake2b(code, digest_size=8).digest(), "little", signed=True)


class _Reader:
    """The ints of an encoding, read front to back.

    A class, not closures inside `decode`: mypyc turns closures into an environment object
    that references them back, a cycle that the checker (which runs with the cyclic
    collector off) would leak on every state it decodes.
    """

    def __init__(self, data: bytes) -> None:
        ints = array("b" if data[:1] == _NARROW else "q")
        ints.frombytes(data[1:])
        self.ints = iter(ints.tolist())

    def one(self) -> int:
        return next(self.ints)

    def many(self, count: int) -> tuple[int, ...]:
        return tuple(islice(self.ints, count))

    def view(self, nodes: int, resources: int) -> View:
        if not self.one():
            return NO_VIEW
        prim = self.one()
        sub = tuple(self.many(self.one()) for _ in range(resources))
        many = self.many
        return GroupState(
            prim,
            sub,
            many(resources),
            many(resources),
            many(nodes),
            many(nodes),
            many(nodes),
            self.one(),
            many(resources),
        )


def decode(data: bytes) -> State:
    """The state that `encode` turned into `data`."""
    reader = _Reader(data)
    one, many = reader.one, reader.many
    n, r, w = one(), one(), one()
    access, phase, cursor = many(n), many(n), many(n)
    views = tuple(reader.view(n, r) for _ in range(n))
    log = tuple(Msg(*many(6)) for _ in range(one()))
    chan = []
    for length in many(n * n):
        queue = []
        for _ in range(length):
            kind, res, ver = many(3)
            gs = reader.view(n, r)
            cur = one()
            queue.append(P2P(kind, res, ver, gs, cur, many(one()), one()))
        chan.append(tuple(queue))
    cfg = tuple(many(r) for _ in range(n))
    res_ver = many(r)
    data_current = tuple(bool(x) for x in many(r))
    crashes, restarts, cfg_changes = many(3)
    durable = reader.view(n, r)
    assert isinstance(durable, GroupState), "the durable group state is never empty"
    inc = many(n)
    copies = tuple(many(one()) for _ in range(r))
    fence, epoch = many(r), many(n)
    stale = tuple(reader.view(n, r) for _ in range(n))
    dchan = tuple(tuple(DataMsg(*many(6)) for _ in range(length)) for length in many(n * n))
    writes = tuple(WriteRec(*many(5)) for _ in range(w))
    broken, res_failures = many(2)
    return State(
        access=access,
        phase=phase,
        cursor=cursor,
        view=views,
        log=log,
        chan=tuple(chan),
        cfg=cfg,
        resVer=res_ver,
        dataCurrent=data_current,
        crashes=crashes,
        restarts=restarts,
        cfgChanges=cfg_changes,
        durable=durable,
        inc=inc,
        data=copies,
        fence=fence,
        epoch=epoch,
        stale=stale,
        dchan=dchan,
        writes=writes,
        broken=broken,
        resFailures=res_failures,
    )
