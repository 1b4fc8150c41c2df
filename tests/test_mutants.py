"""Every buggy protocol variant is caught, by a known invariant, with a shortest trace."""

from __future__ import annotations

import pytest
from pbjoin_model.explorer.bfs import DEADLOCK, Options, Verdict, check
from pbjoin_model.protocol.machine import MUTANT_DESCRIPTIONS, Mutant, Params
from pbjoin_model.traces.render import format_trace

SMALL = (2, 2, 1, 1, 1)
THREE = (3, 2, 1, 0, 0)

# mutant -> (constants, invariant that catches it, length of the shortest trace)
EXPECTED = {
    Mutant.PLACEMENT_IGNORES_ACCESS: (SMALL, "SubgroupAccess", 3),
    Mutant.CONFIG_FROM_PRIMARY_TO_ALL: (SMALL, "ConfigReachable", 10),
    Mutant.NO_HOST_REPLACEMENT: (SMALL, "HostInSubgroup", 5),
    Mutant.PROMOTE_UNSYNCED_MIRROR: (SMALL, "NoDataLoss", 9),
    Mutant.HOST_CHOSEN_BY_LAGGING_VIEW: (THREE, "MirrorFromPrimary", 10),
    Mutant.REJECTED_STAYS_IN_SUBGROUP: (SMALL, "SubgroupAccess", 5),
    Mutant.NO_STATE_RESEND: (SMALL, DEADLOCK, 9),
}


# Liveness mutants pass every safety check; tests/test_liveness.py catches them.
LIVENESS_MUTANTS = {
    Mutant.NO_MIRROR_TO_NEW_BACKUP,
    Mutant.NO_MIRROR_RESTART,
    Mutant.NO_CONFIG_PUSH_ON_TAKEOVER,
    Mutant.NO_CAUSAL_WAIT,
}


def test_every_mutant_has_an_expectation_and_a_description() -> None:
    real = {m for m in Mutant if m is not Mutant.NONE}
    assert set(EXPECTED) | LIVENESS_MUTANTS == real == set(MUTANT_DESCRIPTIONS)
    assert not set(EXPECTED) & LIVENESS_MUTANTS
    assert len(EXPECTED) >= 6


@pytest.mark.parametrize("mutant", list(EXPECTED), ids=lambda m: m.value)
def test_mutant_is_caught(mutant: Mutant) -> None:
    constants, invariant, length = EXPECTED[mutant]
    result = check(Params(*constants, mutant=mutant), Options(symmetry=True))
    assert result.verdict is Verdict.VIOLATED
    assert result.violated == invariant
    assert len(result.trace) - 1 == length
    text = format_trace(result.trace)
    assert text.startswith("  0. Initial state")
    assert f"{length:>3}. " in text


@pytest.mark.parametrize("mutant", [Mutant.HOST_CHOSEN_BY_LAGGING_VIEW], ids=lambda m: m.value)
def test_mutant_needs_three_nodes(mutant: Mutant) -> None:
    """Two concurrent joiners that both claim a host need a third, sponsoring, node."""
    assert check(Params(*SMALL, mutant=mutant)).verdict is Verdict.HOLDS
