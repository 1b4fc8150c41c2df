"""IndInv is an invariant of the model the checker explores, and mutants break it."""

from __future__ import annotations

import pytest
from pbjoin_model.explorer.bfs import reachable
from pbjoin_model.proofs.indinv import CONJUNCTS, IndInv
from pbjoin_model.protocol.machine import Mutant, Params

# (nodes, resources, failures, restarts, configuration changes) IndInv is checked on
REACHABLE_CONFIGS = [(2, 2, 1, 1, 1), (3, 1, 1, 0, 1), (2, 1, 2, 2, 1)]


@pytest.mark.parametrize("constants", REACHABLE_CONFIGS, ids=str)
def test_indinv_holds_on_every_reachable_state(constants: tuple[int, int, int, int, int]) -> None:
    nodes, resources, failures, restarts, changes = constants
    p = Params(nodes, resources, failures, restarts, changes)
    assert all(IndInv(s, p) for s in reachable(p, symmetry=True))


@pytest.mark.parametrize(
    ("mutant", "conjunct"),
    [
        (Mutant.PLACEMENT_IGNORES_ACCESS, "SubgroupAccess"),
        (Mutant.NO_HOST_REPLACEMENT, "HostInSubgroup"),
        (Mutant.CONFIG_FROM_PRIMARY_TO_ALL, "ConfigSentToReachers/ConfigSentNotNewer"),
        (Mutant.REJECTED_STAYS_IN_SUBGROUP, "RejectedNotPlaced"),
        (Mutant.PROMOTE_UNSYNCED_MIRROR, "MirrorStable/MirrorSentFresh/EndMirror/EndCurrent"),
        (Mutant.PROMOTE_UNSYNCED_MIRROR, "NoDataLoss"),
    ],
    ids=lambda v: getattr(v, "value", v),
)
def test_mutants_reach_states_outside_indinv(mutant: Mutant, conjunct: str) -> None:
    p = Params(2, 2, 1, 1, 1, mutant)
    check = dict(CONJUNCTS)[conjunct]
    assert any(not check(s, p) for s in reachable(p, symmetry=True))
