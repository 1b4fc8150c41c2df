"""The exact symbolic model is the Python model: same successors, same invariant verdicts."""

from __future__ import annotations

import itertools

import pytest
import z3
from pbjoin_model.explorer.bfs import Options, check, reachable
from pbjoin_model.proofs.symbolic import Actions, Bounds, Encoding, GroupOps, equal
from pbjoin_model.proofs.symbolic_invariants import SYMBOLIC_INVARIANTS
from pbjoin_model.protocol.invariants import INVARIANTS
from pbjoin_model.protocol.machine import Mutant, Params, State, successors
from test_mutants import CHOICE_CASES

SMALL = (2, 2, 1, 1, 1)
SAMPLE = 150  # reachable states per configuration (every k-th, spread over all depths)


def _sample(p: Params) -> list[State]:
    states = list(reachable(p, symmetry=True))
    step = max(1, len(states) // SAMPLE)
    return states[::step]


def _encoding(p: Params, states: list[State]) -> Encoding:
    log = max(len(s.log) for s in states) + 1
    chan = max(len(q) for s in states for q in s.chan) + 2 * p.resources + 1
    return Encoding(p, Bounds(log, chan, p.nodes + p.max_restarts))


def _z3_successors(actions: Actions, enc: Encoding, s: State) -> dict[tuple[str, tuple[tuple[str, int], ...]], State]:
    out = {}
    for name, params, t in actions.instances(enc.state(s)):
        assert isinstance(t.enabled, bool), "a concrete state gives ground terms"
        if t.enabled:
            assert t.overflow is False
            out[(name, params)] = enc.decode(t.post)
    return out


CONFIGS = [(SMALL, m) for m in Mutant] + [((3, 1, 1, 0, 1), Mutant.NONE)]


@pytest.mark.parametrize(("constants", "mutant"), CONFIGS, ids=lambda c: getattr(c, "value", str(c)))
def test_z3_allows_exactly_the_models_transitions(constants: tuple[int, int, int, int, int], mutant: Mutant) -> None:
    nodes, resources, failures, restarts, changes = constants
    p = Params(nodes, resources, failures, restarts, changes, mutant)
    states = _sample(p)
    enc = _encoding(p, states)
    actions = Actions(enc)
    for s in states:
        model = {(t.action, t.params): t.state for t in successors(s, p)}
        assert _z3_successors(actions, enc, s) == model


def test_symbolic_terms_agree_with_the_model_under_a_solver() -> None:
    """The same actions built over Z3 variables (as BMC uses them): every (instance, successor)
    a solver allows from a pinned pre-state is a model step, and every model step is allowed."""
    p = Params(*SMALL)
    states = _sample(p)[40:120:20]
    enc = _encoding(p, states)
    actions = Actions(enc)
    pre = enc.variables("pre")
    instances = list(actions.instances(pre))
    for s in states:
        expected = {(t.action, t.params): t.state for t in successors(s, p)}
        solver = z3.Solver()
        solver.add(equal(pre, enc.state(s)))
        found = {}
        for name, params, t in instances:
            solver.push()
            solver.add(t.enabled)
            if solver.check() == z3.sat:
                found[(name, params)] = enc.decode(t.post, solver.model())
            solver.pop()
        assert found == expected


@pytest.mark.parametrize("mutant", list(Mutant), ids=lambda m: m.value)
def test_symbolic_invariants_match_the_python_predicates(mutant: Mutant) -> None:
    p = Params(*SMALL, mutant=mutant)
    states = list(itertools.islice(reachable(p, symmetry=True), 800))
    enc = _encoding(p, states)
    ops = GroupOps(enc)
    for s in states:
        encoded = enc.state(s)
        for (name, predicate), (_, symbolic) in zip(INVARIANTS, SYMBOLIC_INVARIANTS, strict=True):
            assert symbolic(ops, encoded) == predicate(s, p), name


@pytest.mark.parametrize("mutant", list(CHOICE_CASES), ids=lambda m: m.value)
def test_z3_takes_the_choice_mutants_steps_and_sees_the_slip(mutant: Mutant) -> None:
    """Along the explorer's trace to the mutant's slip (on a configuration where the slip shows,
    which SMALL is not for all of them): the same successors, and the same invariant verdicts,
    the violated property's included."""
    constants, wirings, invariant, _ = CHOICE_CASES[mutant]
    p = Params(*constants, mutant=mutant)
    states = [step.state for step in check(p, Options(wirings=wirings)).trace]
    enc = _encoding(p, states)
    actions = Actions(enc)
    ops = GroupOps(enc)
    for s in states:
        assert _z3_successors(actions, enc, s) == {(t.action, t.params): t.state for t in successors(s, p)}
        encoded = enc.state(s)
        for (name, predicate), (_, symbolic) in zip(INVARIANTS, SYMBOLIC_INVARIANTS, strict=True):
            assert symbolic(ops, encoded) == predicate(s, p), name
    violated = dict(SYMBOLIC_INVARIANTS)[invariant]
    assert violated(ops, enc.state(states[-1])) is False
