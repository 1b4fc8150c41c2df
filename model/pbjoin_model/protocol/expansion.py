"""The explorer's inner step, compiled with the model: a state's successors with their keys.

A search spends its time here: for each state it expands, every successor, its orbit
representative's encoding (what the queue keeps) and its seen-set key (that encoding, or its
fingerprint), and the count of its actions; and for each new state, its first violated
invariant. Kept beside the model so that `make native` compiles it with the code it calls.
"""

from __future__ import annotations

from pbjoin_model.protocol.encoding import digest, encode, encode_renamed
from pbjoin_model.protocol.invariants import Invariant
from pbjoin_model.protocol.machine import Params, State, successors
from pbjoin_model.protocol.symmetry import candidate_renamings, canonical, inverse

# A seen-set key: an orbit's encoding (exact) or its 64-bit fingerprint.
Key = bytes | int
# A successor: the action taken, the successor, its orbit's encoding, and its seen-set key.
Successor = tuple[str, State, bytes, Key]


def expand(s: State, p: Params, symmetry: bool, fingerprints: bool) -> list[Successor]:
    """Every successor of s, in the order of `successors`."""
    out: list[Successor] = []
    for step in successors(s, p):
        code, key = orbit_key(step.state, symmetry, fingerprints)
        out.append((step.action, step.state, code, key))
    return out


def tally(steps: list[Successor], taken: dict[str, int], enabled: dict[str, int]) -> None:
    """Count each action of `steps` in `taken`, and once in `enabled` (the coverage table)."""
    actions: set[str] = set()
    for action, _, _, _ in steps:
        taken[action] = taken.get(action, 0) + 1
        actions.add(action)
    for action in actions:
        enabled[action] = enabled.get(action, 0) + 1


def orbit_key(s: State, symmetry: bool, fingerprints: bool) -> tuple[bytes, Key]:
    """The encoding of s's orbit representative (of s itself without symmetry), which is what
    the queue keeps, and its seen-set key: that encoding, or its fingerprint."""
    code = canonical_code(s) if symmetry else encode(s)
    return code, digest(code) if fingerprints else code


def canonical_code(s: State) -> bytes:
    """encode(canonical(s)), without building the representative when a single renaming sorts
    s's nodes (all but about 1% of the states a search meets)."""
    renamings = candidate_renamings(s)
    if len(renamings) == 1:
        return encode_renamed(s, renamings[0], inverse(renamings[0]))
    return encode(canonical(s))


def first_violation(s: State, p: Params, invariants: tuple[Invariant, ...]) -> str | None:
    """The name of the first invariant s violates, or None."""
    for predicate in invariants:
        if not predicate(s, p):
            return predicate.__name__
    return None
