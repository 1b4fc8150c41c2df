"""Deliberately buggy variants of spec/JoinProtocol.tla; the spec-model agreement checks must catch every one.

A spec mutant is a textual edit of the module (each replaced text occurs exactly once),
of one of two kinds: a weakened invariant or stream-rule body, which changes no state
space and only a state-by-state comparison of verdicts sees (tests/test_invariant_agreement.py),
or a changed action, which changes what TLC explores (tests/test_tlc_agreement.py). Several
are the spec's half of a model mutant (the same name as in `Mutant`): a slip made in the
spec alone must be caught by comparing the spec with the model. bench/adequacy_model.py
runs every one against every method.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbjoin_model.protocol.config import SPEC_DIR

BODY = "invariant body"
ACTION = "action"


@dataclass(frozen=True)
class SpecMutant:
    name: str
    kind: str  # BODY or ACTION
    description: str
    edits: tuple[tuple[str, str], ...]  # (text of the module, its replacement)

    def apply(self, text: str) -> str:
        """`text` with this mutant's edits; each edited text must occur exactly once."""
        for old, new in self.edits:
            if text.count(old) != 1:
                raise ValueError(f"spec mutant {self.name}: {old!r} occurs {text.count(old)} times, not once")
            text = text.replace(old, new)
        return text

    def text(self) -> str:
        """spec/JoinProtocol.tla with this mutant's edits."""
        return self.apply((SPEC_DIR / "JoinProtocol.tla").read_text())


_SPLIT_BRAIN = "(BelievesPrimary(n1, view[n1]) /\\ BelievesPrimary(n2, view[n2])) => n1 = n2"
_ACKED_AT_POSITION = "Acked(w) => writes[w].pos <= Len(prod) /\\ prod[writes[w].pos] = w"

SPEC_MUTANTS: dict[str, SpecMutant] = {
    m.name: m
    for m in (
        SpecMutant(
            "no-split-brain-same-resource",
            BODY,
            "NoSplitBrain tolerates two primary hosts if their views name the same primary resource",
            ((_SPLIT_BRAIN, _SPLIT_BRAIN.replace("n1 = n2", "view[n1].prim = view[n2].prim")),),
        ),
        SpecMutant(
            "placement-step-any-order",
            BODY,
            "PlacementStep accepts any reachable resource, first in the group's order or not",
            (("        /\\ \\A r2 \\in m.rset \\ P.lost : ~Before(P, r2, r)\n", ""),),
        ),
        SpecMutant(
            "acked-write-anywhere",
            BODY,
            "NoAckedWriteLost asks only that an acknowledged write is somewhere in the primary copy, "
            "not at the position it was acknowledged at",
            ((_ACKED_AT_POSITION, "Acked(w) => InSeq(w, prod)"),),
        ),
        SpecMutant(
            "host-succession-by-newest",
            ACTION,
            "ApplyFail makes the newest member of a failed host's subgroup its host (shows with three members)",
            (
                (
                    "IF sub[r] # <<>> THEN Head(sub[r]) ELSE NoNode]",
                    "IF sub[r] # <<>> THEN sub[r][Len(sub[r])] ELSE NoNode]",
                ),
            ),
        ),
        SpecMutant(
            "failover-to-last-synced",
            ACTION,
            "FailoverTarget picks the last synchronised backup in resource order (shows with three resources)",
            (
                (
                    "IN  IF ok = {} THEN 0 ELSE Min(ok)",
                    "IN  IF ok = {} THEN 0 ELSE CHOOSE b \\in ok : \\A b2 \\in ok : b2 <= b",
                ),
            ),
        ),
        SpecMutant(
            "placement-in-static-order",
            ACTION,
            "Placement takes the first reachable resource in static order, ignoring which one is primary now",
            (
                (
                    "    IN  IF gs.prim \\in ok THEN gs.prim\n        ELSE IF ok # {} THEN Min(ok)",
                    "    IN  IF ok # {} THEN Min(ok)",
                ),
            ),
        ),
        SpecMutant(
            "no-causal-wait",
            ACTION,
            "CONFIG, START_MIRROR and WRITE are taken before the receiver has delivered what the sender had",
            (
                (
                    'CaughtUp(n, msg) == phase[n] # "waitPlace" /\\ cursor[n] >= msg.cur',
                    'CaughtUp(n, msg) == phase[n] # "waitPlace"',
                ),
            ),
        ),
        SpecMutant(
            "no-fencing",
            ACTION,
            "neither the production copy nor a mirror refuses a write of an older epoch",
            (
                ("ELSE IF fence[prod] > ep THEN refused", "ELSE IF FALSE THEN refused"),
                ("fenced  == fence[b] > m.ep", "fenced  == FALSE"),
            ),
        ),
    )
}
