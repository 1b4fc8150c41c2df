"""Breadth-first explicit-state model checker for the Python model.

Breadth-first order makes every counterexample a shortest one. Visited states
are kept either exactly (the byte encoding of each canonical state) or as 64-bit
fingerprints (a BLAKE2b digest of that encoding), with the birthday-bound
probability that a collision hid a state reported next to the result. The queue
holds states encoded too: about a hundred bytes each instead of a tree of tuples.
A terminal state is either an intended end (every join settled, nothing in
flight) or stuck, and a stuck one is a violation.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import resource
import sqlite3
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from pbjoin_model.explorer.diskqueue import DiskQueue, Entry
from pbjoin_model.protocol.encoding import decode
from pbjoin_model.protocol.expansion import Key, expand, first_violation, orbit_key, tally
from pbjoin_model.protocol.invariants import INVARIANTS, Invariant
from pbjoin_model.protocol.machine import Params, State, Step, initial_states, is_intended_end, successors

DEADLOCK = "Deadlock"


class Verdict(Enum):
    HOLDS = "holds"
    VIOLATED = "violated"
    INCOMPLETE = "incomplete"

    @property
    def exit_code(self) -> int:
        return {Verdict.HOLDS: 0, Verdict.VIOLATED: 1, Verdict.INCOMPLETE: 3}[self]


@dataclass(frozen=True)
class Progress:
    generated: int
    distinct: int
    queue: int
    depth: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Options:
    symmetry: bool = True
    fingerprints: bool = False
    max_states: int | None = None  # stop (incomplete) after this many distinct states
    max_depth: int | None = None  # do not expand states at this depth (incomplete if any were cut)
    progress: Callable[[Progress], None] | None = None
    progress_every: float = 2.0  # seconds between progress reports
    invariants: tuple[str, ...] | None = None  # names to check; None checks them all
    workers: int = 1  # processes (set by pbjoin_model.explorer.parallel.check_parallel)
    disk: bool = False  # keep the fingerprint seen-set in an SQLite file and the queue in files
    max_memory_mb: float | None = None  # stop (incomplete) once the peak resident set passes this
    # Start only from these wirings (per node, the bitmask of resources it reaches);
    # None starts from every wiring. A fixed wiring makes configurations searchable whose
    # every-wiring state space is too large, for a bug that needs one particular wiring.
    wirings: tuple[tuple[int, ...], ...] | None = None


# The peak resident set is read every this many expanded states (a system call each).
MEMORY_CHECK_EVERY = 1024


def default_max_memory_mb() -> int:
    """Three quarters of this machine's physical memory: a run stops there, before the kernel kills it."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 3 // 4 // (1 << 20)


def memory_cut(opts: Options, share: float = 1.0) -> str | None:
    """The cut_by reason if this process's peak resident set has passed its share of opts.max_memory_mb."""
    if opts.max_memory_mb is None:
        return None
    peak = peak_memory_mb()
    if peak <= opts.max_memory_mb * share:
        return None
    return f"max memory {opts.max_memory_mb:,.0f} MB (peak resident set {peak:,.0f} MB)"


# Exhaustive search enumerates every wiring of nodes to resources (2^(nodes x resources)
# initial states) and, under symmetry, may try every order of nodes that look alike
# (nodes! renamings of one state). Past these bounds a run could not even start, so it
# is refused before anything is allocated.
MAX_WIRING_BITS = 24
MAX_SYMMETRIC_NODES = 8


def too_large(p: Params, symmetry: bool) -> str | None:
    """Why exhaustive search cannot start on `p`, or None."""
    if p.nodes * p.resources > MAX_WIRING_BITS:
        return (
            f"{p.nodes} nodes and {p.resources} resources have 2^{p.nodes * p.resources} wirings to start from; "
            f"exhaustive search takes nodes x resources <= {MAX_WIRING_BITS} (try pbjoin simulate)"
        )
    if symmetry and p.nodes > MAX_SYMMETRIC_NODES:
        return (
            f"symmetry reduction over {p.nodes} nodes may try {p.nodes}! renamings of one state; "
            f"it takes at most {MAX_SYMMETRIC_NODES} nodes (or use --no-symmetry)"
        )
    return None


@dataclass
class Result:
    params: Params
    options: Options
    verdict: Verdict
    distinct: int
    generated: int
    initial: int
    depth: int
    seconds: float
    peak_memory_mb: float
    intended_ends: int
    violated: str | None = None  # invariant name, or DEADLOCK
    trace: list[Step] = field(default_factory=list)  # starts with an "Init" step
    cut_by: str | None = None  # the bound that made the search incomplete
    action_counts: Counter[str] = field(default_factory=Counter)  # transitions taken, per action
    enabled_counts: Counter[str] = field(default_factory=Counter)  # expanded states enabling it

    @property
    def states_per_second(self) -> float:
        return self.generated / self.seconds if self.seconds > 0 else 0.0

    @property
    def collision_probability(self) -> float | None:
        """Birthday bound on a fingerprint collision among the distinct states seen."""
        if not self.options.fingerprints:
            return None
        return min(1.0, self.distinct * self.distinct / 2.0**65)


def selected_invariants(names: tuple[str, ...] | None) -> tuple[Invariant, ...]:
    return tuple(inv for name, inv in INVARIANTS if names is None or name in names)


class _Visited:
    """Distinct states by key, with the BFS parent of each, for trace rebuilding."""

    def __init__(self, fingerprints: bool, symmetry: bool) -> None:
        self.fingerprints = fingerprints
        self.symmetry = symmetry
        self.index: dict[Key, int] = {}
        self.keys: list[Key] = []
        self.parent: list[int] = []

    def key(self, s: State) -> Key:
        return self.encoded(s)[0]

    def admit(self, s: State, parent: int) -> tuple[int, bytes] | None:
        """Record s if new: its index and the encoding of its orbit's representative for the queue
        (which expands to the same successors, renamed); None if it was already seen."""
        key, code = self.encoded(s)
        i = self.add(key, parent)
        if i is None:
            return None
        return i, code

    def encoded(self, s: State) -> tuple[Key, bytes]:
        """s's seen-set key, and the encoding of s's orbit representative."""
        code, key = orbit_key(s, self.symmetry, self.fingerprints)
        return key, code

    def add(self, key: Key, parent: int) -> int | None:
        """Record a new state; None if it was already seen."""
        if key in self.index:
            return None
        i = len(self.keys)
        self.index[key] = i
        self.keys.append(key)
        self.parent.append(parent)
        return i

    def __len__(self) -> int:
        return len(self.keys)

    def key_at(self, i: int) -> Key:
        return self.keys[i]

    def parent_of(self, i: int) -> int:
        return self.parent[i]

    def path(self, i: int) -> list[int]:
        out = []
        while i >= 0:
            out.append(i)
            i = self.parent_of(i)
        return out[::-1]


class _DiskVisited(_Visited):
    """The fingerprint seen-set in an SQLite file, for searches that outgrow memory.

    SQLite keeps only a bounded page cache in memory; the table is keyed by
    fingerprint (for the membership test on every successor) and indexed by BFS
    number (for walking parents back when rebuilding a trace).
    """

    def __init__(self, symmetry: bool, directory: str) -> None:
        super().__init__(fingerprints=True, symmetry=symmetry)
        self.db = sqlite3.connect(os.path.join(directory, "seen.sqlite"))
        self.db.execute("PRAGMA journal_mode = OFF")  # scratch data: no crash recovery needed
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("CREATE TABLE seen (fp INTEGER PRIMARY KEY, idx INTEGER NOT NULL, parent INTEGER NOT NULL)")
        self.db.execute("CREATE UNIQUE INDEX by_idx ON seen (idx)")
        self.count = 0

    def add(self, key: Key, parent: int) -> int | None:
        cursor = self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)", (key, self.count, parent))
        if cursor.rowcount == 0:
            return None
        self.count += 1
        return self.count - 1

    def __len__(self) -> int:
        return self.count

    def key_at(self, i: int) -> Key:
        fp: int = self.db.execute("SELECT fp FROM seen WHERE idx = ?", (i,)).fetchone()[0]
        return fp

    def parent_of(self, i: int) -> int:
        parent: int = self.db.execute("SELECT parent FROM seen WHERE idx = ?", (i,)).fetchone()[0]
        return parent


def check(p: Params, options: Options | None = None) -> Result:
    opts = options or Options()
    reason = too_large(p, opts.symmetry)
    if reason is not None:
        raise ValueError(reason)
    # States are acyclic tuples: reference counting frees them, and the cyclic
    # collector would only re-traverse millions of live states, again and again.
    enabled = gc.isenabled()
    gc.disable()
    try:
        if not opts.disk:
            return _check(p, opts, _Visited(opts.fingerprints, opts.symmetry), deque())
        with tempfile.TemporaryDirectory(prefix="pbjoin-seen-") as directory:
            visited = _DiskVisited(opts.symmetry, directory)
            try:
                queue = DiskQueue(Path(directory))
                return _check(p, dataclasses.replace(opts, fingerprints=True), visited, queue)
            finally:
                visited.db.close()
    finally:
        if enabled:
            gc.enable()


def _check(p: Params, opts: Options, visited: _Visited, queue: deque[Entry] | DiskQueue) -> Result:
    """Breadth-first search; `queue` holds (encoded state, index, depth), empty at the start."""
    start = time.monotonic()
    generated = 0
    initial = 0
    intended_ends = 0
    max_depth_seen = 0
    cut_by: str | None = None
    counts: Counter[str] = Counter()
    enabled_counts: Counter[str] = Counter()
    next_report = start + opts.progress_every
    invariants = selected_invariants(opts.invariants)

    def finish(verdict: Verdict, violated: str | None = None, at: int | None = None) -> Result:
        seconds = time.monotonic() - start
        trace = rebuild_trace(p, visited, visited.path(at)) if at is not None else []
        return Result(
            params=p,
            options=opts,
            verdict=verdict,
            distinct=len(visited),
            generated=generated,
            initial=initial,
            depth=max_depth_seen,
            seconds=seconds,
            peak_memory_mb=peak_memory_mb(),
            intended_ends=intended_ends,
            violated=violated,
            trace=trace,
            cut_by=cut_by,
            action_counts=counts,
            enabled_counts=enabled_counts,
        )

    for s in initial_states(p):
        if opts.wirings is not None and s.access not in opts.wirings:
            continue
        generated += 1
        admitted = visited.admit(s, -1)
        if admitted is None:
            continue
        i, code = admitted
        initial += 1
        bad = first_violation(s, p, invariants)
        if bad:
            return finish(Verdict.VIOLATED, bad, i)
        queue.append((code, i, 0))
        if opts.max_states is not None and len(visited) >= opts.max_states:
            cut_by = f"max states {opts.max_states} (among the initial states)"
            return finish(Verdict.INCOMPLETE)

    expanded = 0
    add = visited.add
    while queue:
        if expanded % MEMORY_CHECK_EVERY == 0:
            over = memory_cut(opts)
            if over is not None:
                cut_by = over
                break
        expanded += 1
        code, i, depth = queue.popleft()
        s = decode(code)
        max_depth_seen = max(max_depth_seen, depth)
        if opts.max_depth is not None and depth >= opts.max_depth:
            if any(True for _ in successors(s, p)):
                cut_by = f"max depth {opts.max_depth}"
            continue
        steps = expand(s, p, opts.symmetry, opts.fingerprints)
        generated += len(steps)
        tally(steps, counts, enabled_counts)
        for _, t, code, key in steps:
            j = add(key, i)
            if j is None:
                continue
            bad = first_violation(t, p, invariants)
            if bad:
                max_depth_seen = max(max_depth_seen, depth + 1)
                return finish(Verdict.VIOLATED, bad, j)
            queue.append((code, j, depth + 1))
        if not steps:
            if is_intended_end(s):
                intended_ends += 1
            else:
                return finish(Verdict.VIOLATED, DEADLOCK, i)
        if opts.max_states is not None and len(visited) >= opts.max_states and queue:
            cut_by = f"max states {opts.max_states}"
            break
        if opts.progress is not None and time.monotonic() >= next_report:
            next_report = time.monotonic() + opts.progress_every
            opts.progress(Progress(generated, len(visited), len(queue), depth, time.monotonic() - start))

    return finish(Verdict.INCOMPLETE if cut_by else Verdict.HOLDS)


def rebuild_trace(p: Params, visited: _Visited, path: list[int]) -> list[Step]:
    """Concrete steps from an initial state along a path of (canonical) keys.

    Each stored key may stand for a whole orbit; walking forward from a concrete
    initial state and picking the successor whose key matches keeps node names
    consistent along the trace.
    """
    keys = [visited.key_at(i) for i in path]
    state = next(s for s in initial_states(p) if visited.key(s) == keys[0])
    trace = [Step("Init", (), state)]
    for key in keys[1:]:
        step = next(t for t in successors(state, p) if visited.key(t.state) == key)
        trace.append(step)
        state = step.state
    return trace


def peak_memory_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reachable(p: Params, symmetry: bool = False) -> Iterator[State]:
    """Every reachable state (orbit representatives when symmetry is on), BFS order."""
    for s, _ in reachable_steps(p, symmetry):
        yield s


def reachable_steps(p: Params, symmetry: bool = False) -> Iterator[tuple[State, list[Step]]]:
    """`reachable`, each state with its steps (computed once, for the search and the caller)."""
    visited = _Visited(False, symmetry)
    queue: deque[State] = deque()
    for s in initial_states(p):
        if visited.add(visited.key(s), -1) is not None:
            queue.append(s)
    while queue:
        s = queue.popleft()
        steps = list(successors(s, p))
        yield s, steps
        for step in steps:
            if visited.add(visited.key(step.state), -1) is not None:
                queue.append(step.state)
