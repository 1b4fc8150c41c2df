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
from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test
from impl_mutants import DATA_PATH_MUTANTS, EVERY_MUTANT
from pbjoin_model.conformance.refinement import Contents, Correspondence, abstract, differences, validate_log
from pbjoin_model.conformance.replay import engine_for, replay
from pbjoin_model.protocol import machine as m
from pbjoin_model.protocol.machine import Params
from test_conformance import DEEP_MUTANT, DRIVER_CATCHES, LOG_MUTANT, MUTANT_HUNT, REPLAY_CATCHES, Lockstep
from test_member_engine import act, cluster, logged, settle

from pbjoin.member import Member
from pbjoin.resources import MemoryDisks
from pbjoin.runtime import MemberFactory
from pbjoin.steplog import ClusterRecord, MemoryLog, StepRecord

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
    texts = Contents()
    for label in ("Join(n=n1)", "RecoverGroupState(n=n1)", "Deliver(n=n1)", "Deliver(n=n1)", "Write(n=n1)"):
        step = next(x for x in m.successors(s, p) if x.label() == label)
        engine.step(corr.action(step))
        s = step.state
    assert not differences(s, abstract(engine, corr, s, texts), corr)
    disk = engine.runtimes["n1"].disks
    assert isinstance(disk, MemoryDisks)
    first = disk.disks["r1"].copy.writes[0]
    disk.disks["r1"].copy.writes[0] = first.model_copy(update={"value": "not what the client wrote"})
    assert ("data[r1]", "<<w1>>", "<<w?>>") in differences(s, abstract(engine, corr, s, texts), corr)


TAKEN: Counter[str] = Counter()


class LockstepWithWrites(Lockstep):
    max_writes = 3
    rare = ("Crash", "Restart", "Pause")  # so that groups form, and mirror, between failures
    patience = None

    def teardown(self) -> None:
        if hasattr(self, "engine"):
            TAKEN.update(r.step for r in logged(self.engine)[1])


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
    with pytest.raises(AssertionError, match=r"after |assert .* == "):
        run_state_machine_as_test(Mutated, settings=MUTANT_HUNT)


def paused_primary_story(factory: MemberFactory = Member) -> list[StepRecord]:
    """Three nodes, a backup, writes mirrored and acknowledged, a pause and a takeover."""
    wiring = {"n1": {"r1"}, "n2": {"r2"}, "n3": {"r1"}}
    engine = cluster(wiring, member_factory=factory)
    for n in wiring:
        engine.step(act("Join", n=n))
        settle(engine)
    engine.write("n1", "order-1", "orders/1", "disk tower")
    settle(engine)
    engine.step(act("Pause", n="n1"))
    settle(engine)
    engine.write("n1", "order-2", "orders/2", "too late")  # fenced: refused
    engine.write("n3", "order-3", "orders/3", "tape drive")
    settle(engine)
    return logged(engine)[1]


def test_a_step_log_with_writes_validates_step_by_step() -> None:
    steps = paused_primary_story()
    assert {"Write", "ReceiveWrite", "ReceiveAck", "Pause"} <= {r.step for r in steps}
    assert {(a.id, a.status) for r in steps for a in r.answers} == {
        ("order-1", "acked"),
        ("order-2", "refused"),
        ("order-3", "acked"),
    }
    report = validate_log(CLUSTER, steps)
    assert report.conforms, report.divergence and report.divergence.render()
    assert report.steps == len(steps)


@pytest.mark.parametrize(
    ("mutant", "shows"),
    [
        ("acks-before-mirrors", "answers"),
        ("keeps-its-epoch", "epoch"),
        ("resyncs-empty", "sent to n2"),
        ("ack-names-another-mirror", "data sent to n1"),
    ],
)
def test_trace_validation_catches_data_path_mutants_in_a_log(mutant: str, shows: str) -> None:
    report = validate_log(CLUSTER, paused_primary_story(DATA_PATH_MUTANTS[mutant]))
    assert report.divergence is not None, f"{mutant} passed trace validation"
    assert any(row[0] == shows for row in report.divergence.rows), report.divergence.render()


def test_a_write_step_that_does_not_log_its_request_is_a_divergence() -> None:
    steps = paused_primary_story()
    first = next(i for i, r in enumerate(steps) if r.step == "Write")
    steps[first] = steps[first].model_copy(update={"consumed": None})
    report = validate_log(CLUSTER, steps)
    assert report.divergence is not None and "must log its client's request" in report.divergence.reason


CLUSTER = ClusterRecord(
    group="g",
    nodes=("n1", "n2", "n3"),
    resources=("r1", "r2"),
    access={"n1": ("r1",), "n2": ("r2",), "n3": ("r1",)},
    engine="memory",
)


def _killed_inside_a_write(completed: bool) -> tuple[ClusterRecord, list[StepRecord]]:
    """n1, primary host, acks one write; then its process dies inside a second Write (the step
    logged only as its intent, the write never reaching the copy); n2 takes over and writes."""
    wiring = {"n1": {"r1"}, "n2": {"r1"}, "n3": {"r2"}}
    engine = cluster(wiring)
    for n in wiring:
        engine.step(act("Join", n=n))
        settle(engine)
    engine.write("n1", "w-1", "k1", "v1")
    settle(engine)
    log = engine.sink
    assert isinstance(log, MemoryLog)
    before = len(log.records)
    last = next(r for r in reversed(log.records) if isinstance(r, StepRecord) and r.member == "n1")
    died_inside = last.model_copy(
        update={
            "seq": engine.seq,
            "step": "Write",
            "params": {"n": "n1"},
            "consumed": {"id": "w-lost", "key": "k9", "value": "v9"},
            "position": None,
            "multicast": [],
            "multicast_at": [],
            "sent": [],
            "answers": [],
            "effects": [],
            "notes": [],
            "intent": not completed,
        }
    )
    engine.step(act("Crash", n="n1"))
    settle(engine)
    engine.write("n2", "w-2", "k2", "v2")
    settle(engine)
    records: list[ClusterRecord | StepRecord] = [*log.records[:before], died_inside, *log.records[before:]]
    cluster_record = records[0]
    assert isinstance(cluster_record, ClusterRecord)
    return cluster_record, [s for s in records[1:] if isinstance(s, StepRecord)]


def test_a_write_its_process_died_inside_is_explained_whether_or_not_it_reached_the_copy() -> None:
    """The lone intent's write never reached the copy: the later write is the model's second
    write only in the candidate where the intent was not taken, which must survive."""
    report = validate_log(*_killed_inside_a_write(completed=False))
    assert report.conforms, report.divergence and report.divergence.render()
    assert [w.st for w in report.final.writes] == [m.W_ACKED, m.W_ACKED, m.W_NONE]  # the lost write never taken


def test_the_same_write_logged_as_taken_diverges() -> None:
    report = validate_log(*_killed_inside_a_write(completed=True))
    assert report.divergence is not None


def test_every_implementation_mutant_is_killed_by_a_test_of_the_suite() -> None:
    killed = {mutant for mutant, *_ in REPLAY_CATCHES + DRIVER_CATCHES} | {DEEP_MUTANT, LOG_MUTANT} | set(CAUGHT)
    assert killed == set(EVERY_MUTANT)
