"""Parallel breadth-first checking with worker processes.

Each of W workers owns the states whose fingerprint is congruent to its number
modulo W: it alone keeps their part of the seen-set, checks their invariants and
expands them. Search proceeds level by level: a worker expands its frontier,
keeps the successors it owns, and ships the others to their owners; once every
worker has heard from every peer, the next level starts. Level-synchronous BFS
visits exactly the states, levels and violations of the serial search, so counts,
depth and verdict are identical and a counterexample is still a shortest one.

Fingerprints are BLAKE2b digests of the (canonical) states' byte encodings, the same
in every process. Frontiers and shipments hold states encoded (bytes pickle at almost
no cost, a tree of tuples does not); a state is decoded when it is expanded.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing as mp
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from typing import Any

from pbjoin_model.explorer.bfs import (
    DEADLOCK,
    MEMORY_CHECK_EVERY,
    Options,
    Progress,
    Result,
    Verdict,
    memory_cut,
    peak_memory_mb,
    selected_invariants,
    too_large,
)
from pbjoin_model.protocol.encoding import decode
from pbjoin_model.protocol.expansion import expand, first_violation, orbit_key, tally
from pbjoin_model.protocol.machine import Params, State, Step, initial_states, is_intended_end, successors

_CHUNK = 2000  # states per message between workers


def encoded(s: State, symmetry: bool) -> tuple[int, bytes]:
    """s's fingerprint, and the encoding of s's orbit representative (which is what is expanded)."""
    code, key = orbit_key(s, symmetry, True)
    return int(key), code


def fingerprint(s: State, symmetry: bool) -> int:
    return encoded(s, symmetry)[0]


@dataclass
class _LevelReport:
    worker: int
    new: int = 0
    generated: int = 0
    frontier: int = 0
    intended_ends: int = 0
    violations: list[tuple[int, int, str]] = field(default_factory=list)  # (depth, fingerprint, invariant)
    counts: Counter[str] = field(default_factory=Counter)
    enabled: Counter[str] = field(default_factory=Counter)
    peak_memory_mb: float = 0.0
    memory_cut: str | None = None  # the worker passed its share of the memory bound and stopped expanding


def _worker(
    me: int,
    workers: int,
    p: Params,
    opts: Options,
    commands: Queue[Any],
    inboxes: list[Queue[Any]],
    reports: Queue[Any],
) -> None:
    gc.disable()
    invariants = selected_invariants(opts.invariants)
    parent: dict[int, int] = {}  # fingerprint -> parent fingerprint (-1 for initial states)
    # (encoded state, fingerprint, whether its invariants were checked). A state a peer shipped
    # is checked when it is decoded to be expanded, not decoded a second time on arrival; the
    # driver asks for the rest ("check") before it reports a violation or stops early.
    frontier: list[tuple[bytes, int, bool]] = []
    report = _LevelReport(me)
    depth = 0  # of the states in `frontier`
    # Fingerprints shipped during this level and the one before: a state shipped once is in
    # its owner's seen-set after that level, so shipping it again only costs. Most states
    # generated again are generated within two levels (a third of all shipments remain on
    # the one-failure configuration), and two levels' sets stay small.
    shipped_now: set[int] = set()
    shipped_before: set[int] = set()

    def admit(s: State, code: bytes, fp: int, parent_fp: int) -> None:
        """Record s if new and check it; `code` encodes its orbit's representative."""
        if fp in parent:
            return
        parent[fp] = parent_fp
        report.new += 1
        verify(s, fp, depth)
        frontier.append((code, fp, True))

    def verify(s: State, fp: int, at_depth: int) -> None:
        """Report the first invariant s violates, if any."""
        bad = first_violation(s, p, invariants)
        if bad:
            report.violations.append((at_depth, fp, bad))

    def check(entries: list[tuple[bytes, int, bool]], at_depth: int) -> None:
        """Check the invariants of the entries not yet checked."""
        for code, fp, checked in entries:
            if not checked:
                verify(decode(code), fp, at_depth)

    for s in initial_states(p):
        fp, code = encoded(s, opts.symmetry)
        if fp % workers == me:
            admit(s, code, fp, -1)
    report.frontier = len(frontier)
    reports.put(report)

    while True:
        command = commands.get()
        if command == "stop":
            return
        if command == "parents":
            reports.put(parent)
            continue
        if command == "check":
            report = _LevelReport(me)
            check(frontier, depth)
            frontier = [(code, fp, True) for code, fp, _ in frontier]
            reports.put(report)
            continue
        expand_now, report = frontier, _LevelReport(me)
        frontier = []
        depth += 1
        outgoing: list[list[tuple[bytes, int, int]]] = [[] for _ in range(workers)]
        for k, (code_s, fp_s, checked) in enumerate(expand_now):
            if k % MEMORY_CHECK_EVERY == 0:
                report.memory_cut = memory_cut(opts, share=1 / workers)
                if report.memory_cut is not None:
                    check(expand_now[k:], depth - 1)
                    break
            s = decode(code_s)
            if not checked:
                verify(s, fp_s, depth - 1)
            steps = expand(s, p, opts.symmetry, True)
            report.generated += len(steps)
            tally(steps, report.counts, report.enabled)
            for _, t, code, key in steps:
                fp = int(key)
                owner = fp % workers
                if owner == me:
                    admit(t, code, fp, fp_s)
                elif fp not in shipped_now and fp not in shipped_before:
                    shipped_now.add(fp)
                    outgoing[owner].append((code, fp, fp_s))
                    if len(outgoing[owner]) >= _CHUNK:
                        inboxes[owner].put(outgoing[owner])
                        outgoing[owner] = []
            if not steps:
                if is_intended_end(s):
                    report.intended_ends += 1
                else:
                    report.violations.append((depth - 1, fp_s, DEADLOCK))
        shipped_before, shipped_now = shipped_now, set()
        for peer in range(workers):
            if peer != me:
                if outgoing[peer]:
                    inboxes[peer].put(outgoing[peer])
                inboxes[peer].put(None)  # this level's shipments to peer are complete
        finished = 0
        while finished < workers - 1:
            batch = inboxes[me].get()
            if batch is None:
                finished += 1
                continue
            for code, fp, parent_fp in batch:
                if fp not in parent and report.memory_cut is None:
                    parent[fp] = parent_fp
                    report.new += 1
                    frontier.append((code, fp, False))
        report.frontier = len(frontier)
        report.peak_memory_mb = peak_memory_mb()
        reports.put(report)


def check_parallel(p: Params, options: Options | None = None, workers: int = 2) -> Result:
    """The same search as `checker.check`, spread over `workers` processes.

    Workers exchange 64-bit fingerprints, never whole seen-sets, so the search
    always runs in fingerprint mode and reports the collision bound.
    """
    opts = dataclasses.replace(options or Options(), fingerprints=True, workers=workers)
    reason = too_large(p, opts.symmetry)
    if reason is not None:
        raise ValueError(reason)
    if opts.wirings is not None:
        raise ValueError("the parallel search starts from every wiring; fixed wirings need the serial one")
    ctx = mp.get_context("fork")
    commands = [ctx.Queue() for _ in range(workers)]
    inboxes = [ctx.Queue() for _ in range(workers)]
    reports: Queue[Any] = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(w, workers, p, opts, commands[w], inboxes, reports), daemon=True)
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        return _Driver(p, opts, commands, reports).run()
    finally:
        for q in commands:
            q.put("stop")
        for proc in procs:
            proc.join(timeout=10)


class _Driver:
    """The coordinator: starts each level, adds up the workers' reports, decides when to stop."""

    def __init__(self, p: Params, opts: Options, commands: list[Queue[Any]], reports: Queue[Any]) -> None:
        self.p, self.opts, self.commands, self.reports = p, opts, commands, reports
        self.start = time.monotonic()
        self.distinct = self.generated = self.depth = self.intended_ends = 0
        self.counts: Counter[str] = Counter()
        self.enabled: Counter[str] = Counter()
        self.worker_memory = 0.0

    def level(self) -> list[_LevelReport]:
        reports = [self.reports.get() for _ in self.commands]
        for r in reports:
            self.distinct += r.new
            self.generated += r.generated
            self.intended_ends += r.intended_ends
            self.counts.update(r.counts)
            self.enabled.update(r.enabled)
        self.worker_memory = max(self.worker_memory, sum(r.peak_memory_mb for r in reports))
        return reports

    def run(self) -> Result:
        reports = self.level()
        self.initial = self.distinct
        self.generated = sum(1 for _ in initial_states(self.p))
        while True:
            cut = next((r.memory_cut for r in reports if r.memory_cut is not None), None)
            frontier = sum(r.frontier for r in reports)
            bound = None
            if frontier and self.opts.max_depth is not None and self.depth >= self.opts.max_depth:
                bound = f"max depth {self.opts.max_depth}"
            elif frontier and self.opts.max_states is not None and self.distinct >= self.opts.max_states:
                bound = f"max states {self.opts.max_states}"
            violations = [v for r in reports for v in r.violations]
            if violations or cut is not None or bound is not None:
                violations += self.unchecked_violations()  # the shortest may be among them
            if violations:
                _, fp, name = min(violations)
                trace = _rebuild(self.p, self.opts, fp, self.parents())
                self.depth = max(self.depth, len(trace) - 1)
                return self.result(Verdict.VIOLATED, violated=name, trace=trace)
            if cut is not None:  # before the frontier test: a worker that stopped left its states unexpanded
                return self.result(Verdict.INCOMPLETE, cut_by=cut)
            if not frontier:
                return self.result(Verdict.HOLDS)
            if bound is not None:
                return self.result(Verdict.INCOMPLETE, cut_by=bound)
            for q in self.commands:
                q.put("expand")
            reports = self.level()
            if sum(r.new for r in reports):
                self.depth += 1
            if self.opts.progress is not None:
                queue = sum(r.frontier for r in reports)
                elapsed = time.monotonic() - self.start
                self.opts.progress(Progress(self.generated, self.distinct, queue, self.depth, elapsed))

    def unchecked_violations(self) -> list[tuple[int, int, str]]:
        """The violations among frontier states whose invariants were not checked yet."""
        for q in self.commands:
            q.put("check")
        return [v for _ in self.commands for v in self.reports.get().violations]

    def parents(self) -> dict[int, int]:
        for q in self.commands:
            q.put("parents")
        merged: dict[int, int] = {}
        for _ in self.commands:
            merged.update(self.reports.get())
        return merged

    def result(
        self, verdict: Verdict, violated: str | None = None, trace: list[Step] | None = None, cut_by: str | None = None
    ) -> Result:
        return Result(
            params=self.p,
            options=self.opts,
            verdict=verdict,
            distinct=self.distinct,
            generated=self.generated,
            initial=self.initial,
            depth=self.depth,
            seconds=time.monotonic() - self.start,
            peak_memory_mb=peak_memory_mb() + self.worker_memory,
            intended_ends=self.intended_ends,
            violated=violated,
            trace=trace or [],
            cut_by=cut_by,
            action_counts=self.counts,
            enabled_counts=self.enabled,
        )


def _rebuild(p: Params, opts: Options, fp: int, parents: dict[int, int]) -> list[Step]:
    """Concrete steps from an initial state to the state with fingerprint fp."""
    chain = [fp]
    while parents[chain[-1]] != -1:
        chain.append(parents[chain[-1]])
    chain.reverse()
    state = next(s for s in initial_states(p) if fingerprint(s, opts.symmetry) == chain[0])
    trace = [Step("Init", (), state)]
    for key in chain[1:]:
        step = next(t for t in successors(state, p) if fingerprint(t.state, opts.symmetry) == key)
        trace.append(step)
        state = step.state
    return trace
