"""The liveness checker's inner loops, compiled with the model: the full state graph of a
configuration and its strongly connected components (`make native` compiles this module with
the code it calls; pbjoin_model.explorer.liveness holds the properties and the verdicts).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

from pbjoin_model.protocol.machine import Params, State, initial_states, successors

UNFAIR_ACTIONS: Final = frozenset(
    {"Crash", "Pause", "Restart", "ChangeConfig", "Write", "FailResource", "RepairResource"}
)
ActionInstance = tuple[str, tuple[tuple[str, int], ...]]


@dataclass
class Graph:
    states: list[State] = field(default_factory=list)
    edges: list[list[tuple[int, int]]] = field(default_factory=list)  # (target, action instance id)
    parent: list[int] = field(default_factory=list)  # BFS tree, for shortest prefixes
    instances: list[ActionInstance] = field(default_factory=list)
    initial: list[int] = field(default_factory=list)

    def instance_id(self, key: ActionInstance, ids: dict[ActionInstance, int]) -> int:
        if key not in ids:
            ids[key] = len(self.instances)
            self.instances.append(key)
        return ids[key]


def build_graph(p: Params, max_states: int | None = None) -> Graph | None:
    """The full reachable graph, or None when it has more than max_states states."""
    g = Graph()
    index: dict[State, int] = {}
    ids: dict[ActionInstance, int] = {}
    queue: deque[int] = deque()
    for s in initial_states(p):
        if s not in index:
            index[s] = len(g.states)
            g.states.append(s)
            g.edges.append([])
            g.parent.append(-1)
            g.initial.append(index[s])
            queue.append(index[s])
    while queue:
        i = queue.popleft()
        for step in successors(g.states[i], p):
            j = index.get(step.state)
            if j is None:
                if max_states is not None and len(g.states) >= max_states:
                    return None
                j = index[step.state] = len(g.states)
                g.states.append(step.state)
                g.edges.append([])
                g.parent.append(i)
                queue.append(j)
            g.edges[i].append((j, g.instance_id((step.action, step.params), ids)))
    return g


def tarjan(g: Graph, inside: list[bool]) -> list[list[int]]:
    """Strongly connected components of the subgraph induced by `inside` (iterative)."""
    n = len(g.states)
    index = [-1] * n
    low = [0] * n
    on_stack = [False] * n
    stack: list[int] = []
    comps: list[list[int]] = []
    counter = 0
    for root in range(n):
        if not inside[root] or index[root] >= 0:
            continue
        work = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            v, k = work[-1]
            if k < len(g.edges[v]):
                work[-1] = (v, k + 1)
                w = g.edges[v][k][0]
                if not inside[w]:
                    continue
                if index[w] < 0:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    u = work[-1][0]
                    low[u] = min(low[u], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack[w] = False
                        comp.append(w)
                        if w == v:
                            break
                    comps.append(comp)
    return comps


def fair_end(g: Graph, comp: list[int]) -> bool:
    """Can a weakly fair behaviour stay in `comp` forever?"""
    members = set(comp)
    if len(comp) == 1:
        v = comp[0]
        if all(g.instances[a][0] in UNFAIR_ACTIONS for _, a in g.edges[v]):
            return True  # stuttering is fair: no fair action is enabled (at most the environment's)
        if not any(w == v for w, _ in g.edges[v]):
            return False  # no cycle through a single state
    taken = {a for v in comp for w, a in g.edges[v] if w in members}
    always_enabled: set[int] | None = None
    for v in comp:
        enabled = {a for _, a in g.edges[v] if g.instances[a][0] not in UNFAIR_ACTIONS}
        always_enabled = enabled if always_enabled is None else always_enabled & enabled
    return not (always_enabled or set()) - taken


def can_reach(g: Graph, targets: set[int], inside: list[bool]) -> set[int]:
    reverse: dict[int, list[int]] = {}
    for v, out in enumerate(g.edges):
        if inside[v]:
            for w, _ in out:
                if inside[w]:
                    reverse.setdefault(w, []).append(v)
    seen = set(targets)
    queue = deque(targets)
    while queue:
        w = queue.popleft()
        for v in reverse.get(w, ()):
            if v not in seen:
                seen.add(v)
                queue.append(v)
    return seen
