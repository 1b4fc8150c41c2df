"""Conformance of the data path: the implementation's copies, epochs, data channels and
what its clients were told, against the model's, state by state.

The refinement mapping reads each resource's copy (fence and writes, every record's
content checked against what its client submitted), each member's epoch and stale
view, the data channels and the engine's ledger of answers; exhaustive replay and
lockstep compare all of it after every step.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from impl_mutants import DATA_PATH_MUTANTS
from pbjoin_model.conformance.refinement import Correspondence, abstract, differences
from pbjoin_model.conformance.replay import engine_for, replay
from pbjoin_model.protocol import machine as m
from pbjoin_model.protocol.machine import Params
from test_conformance import Lockstep

from pbjoin.resources import MemoryDisks
from pbjoin.steplog import MemoryLog, StepRecord

# 2 nodes, 2 resources, 1 failure (a crash or a pause), no restart: writes, mirroring,
# failover and a paused primary host are all within 13 steps (an ACK first at 13).
WRITES = Params(2, 2, 1, 0, 0, max_writes=1)


def test_every_behaviour_with_a_write_conforms_to_the_model() -> None:
    report = replay(WRITES, depth=13)
    assert report.conforms, report.divergence and report.divergence.render()
    for action in ("Write", "ReceiveWrite", "ReceiveAck", "Pause", "ReceiveStartMirror"):
        assert report.actions[action] > 0, f"no behaviour took {action}"


# implementation mutant -> (depth of its shortest divergence, the variable that shows it)
CAUGHT = {
    "acks-before-mirrors": (8, "writes[w1]"),
    "keeps-its-epoch": (3, "epoch[n1]"),
    "acks-without-applying": (12, "data[r2]"),
    "resyncs-empty": (8, "START_MIRROR(r2, <<>> e1"),
    "ack-names-another-mirror": (12, "ACK(w1, r1)"),
}


def test_every_data_path_mutant_has_an_expectation() -> None:
    assert set(CAUGHT) == set(DATA_PATH_MUTANTS)


@pytest.mark.parametrize("mutant", sorted(CAUGHT))
def test_exhaustive_replay_catches_each_data_path_mutant(mutant: str) -> None:
    depth, shows = CAUGHT[mutant]
    report = replay(WRITES, depth=depth, member_factory=DATA_PATH_MUTANTS[mutant])
    assert report.divergence is not None, f"{mutant} escaped exhaustive replay"
    assert shows in report.divergence.render() and len(report.path) == depth


def test_a_copy_holding_a_write_no_client_made_is_a_difference() -> None:
    engine = engine_for((1, 2), dataclasses.replace(WRITES, compact_log=False))
    corr = Correspondence.of(engine.cluster)
    p = corr.params(WRITES.max_writes)
    s = m.initial_state(p, (1, 2))
    for label in ("Join(n=n1)", "RecoverGroupState(n=n1)", "Deliver(n=n1)", "Deliver(n=n1)", "Write(n=n1)"):
        step = next(x for x in m.successors(s, p) if x.label() == label)
        engine.step(corr.action(step))
        s = step.state
    assert not differences(s, abstract(engine, corr, s), corr)
    disk = engine.runtimes["n1"].disks
    assert isinstance(disk, MemoryDisks)
    first = disk.disks["r1"].copy.writes[0]
    disk.disks["r1"].copy.writes[0] = first.model_copy(update={"value": "not what the client wrote"})
    assert ("data[r1]", "<<w1>>", "<<w?>>") in differences(s, abstract(engine, corr, s), corr)


TAKEN: Counter[str] = Counter()


class LockstepWithWrites(Lockstep):
    max_writes = 3
    rare = ("Crash", "Restart", "Pause")  # so that groups form, and mirror, between failures

    def teardown(self) -> None:
        if hasattr(self, "engine"):
            log = self.engine.sink
            assert isinstance(log, MemoryLog)
            TAKEN.update(r.step for r in log.records if isinstance(r, StepRecord))


def test_lockstep_with_writes_agrees_on_seeded_random_schedules() -> None:
    TAKEN.clear()
    run_state_machine_as_test(
        LockstepWithWrites,
        settings=settings(max_examples=150, stateful_step_count=80, deadline=None, database=None, derandomize=True),
    )
    for step in ("Write", "ReceiveWrite", "ReceiveAck", "Pause", "Crash", "Restart"):
        assert TAKEN[step] > 0, f"no schedule took {step}"


@pytest.mark.parametrize("mutant", sorted(CAUGHT))
def test_lockstep_with_writes_catches_each_data_path_mutant(mutant: str) -> None:
    class Mutated(LockstepWithWrites):
        pass

    Mutated.mutant = mutant
    quick = settings(
        max_examples=150,
        stateful_step_count=80,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
    )
    with pytest.raises(AssertionError, match=r"after |assert .* == "):
        run_state_machine_as_test(Mutated, settings=quick)
