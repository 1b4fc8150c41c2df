"""Conformance of the implementation to the model: logs, exhaustive replay, lockstep, mutants."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from impl_mutants import DATA_PATH_MUTANTS, DRIVER_MUTANTS, ENGINE_MUTANTS, MUTANTS, variant
from pbjoin_model.conformance.refinement import (
    STUTTERS,
    Contents,
    Correspondence,
    abstract,
    differences,
    model_step,
    validate_log,
)
from pbjoin_model.conformance.refinement import offered as offered_steps
from pbjoin_model.conformance.replay import engine_for, logged_as, replay
from pbjoin_model.explorer.bfs import check
from pbjoin_model.protocol import machine as m
from pbjoin_model.protocol.machine import Params, State
from test_member_engine import logged

from pbjoin.demo import DemoError, run_demo
from pbjoin.engine import ENVIRONMENT_STEPS, InMemoryEngine
from pbjoin.member import Member
from pbjoin.resources import MemoryDisks, ResourceError
from pbjoin.runtime import MemberFactory
from pbjoin.steplog import MemoryLog, StepName, StepRecord, parse_log, read_log

SMALL = Params(nodes=2, resources=2, max_failures=1, max_restarts=1, max_config_changes=1)


def demo_log(tmp_path: Path, factory: MemberFactory = Member) -> tuple[Path, list[StepRecord]]:
    log = tmp_path / "cluster" / "log.jsonl"
    try:
        run_demo(log.parent, echo=lambda _: None, verbose=False, member_factory=factory)
    except ResourceError:
        assert factory is not Member  # a mutant may go on to ask for a disk it cannot reach
    return log, read_log(log)[1]


def test_the_demo_log_conforms_to_the_model(tmp_path: Path) -> None:
    log, steps = demo_log(tmp_path)
    report = validate_log(*read_log(log))
    assert report.conforms and report.steps == len(steps) == 119
    kinds = {rec.step for rec in steps}
    assert kinds == {
        "Join", "RecoverGroupState", "Deliver", "ReceiveGroupState", "ReceiveConfig",
        "ReceiveStartMirror", "ChangeConfig", "Crash", "Restart", "Write", "ReceiveWrite", "ReceiveAck",
        "ReportFailure",
    }  # fmt: skip


def test_a_tampered_log_is_caught_at_the_tampered_step_with_both_sides(tmp_path: Path) -> None:
    log, _ = demo_log(tmp_path)
    lines = log.read_text().splitlines()
    # step 19: n1 (primary host) delivers n2's ACCESS and sends it r1's configuration; claim it sent r2's.
    assert '"seq":19' in lines[19] and '"resource":"r1","version":1' in lines[19]
    lines[19] = lines[19].replace('"resource":"r1","version":1', '"resource":"r2","version":1')
    log.write_text("\n".join(lines) + "\n")
    report = validate_log(*read_log(log))
    assert report.divergence is not None and report.steps == 18
    assert report.divergence.render() == (
        "step 19 Deliver(n=n1): the model's successor disagrees with the logged step\n"
        "              model | implementation\n"
        "  sent to n2  CONFIG(r1, v1) | CONFIG(r2, v1)"
    )


def test_a_step_the_model_does_not_allow_is_reported(tmp_path: Path) -> None:
    log, _ = demo_log(tmp_path)
    lines = log.read_text().splitlines()
    del lines[1:3]  # drop n1's JOIN and its recovery: its first delivery has nothing to deliver
    report = validate_log(*parse_log(lines))
    assert report.divergence is not None
    assert report.divergence.render() == "step 3 Deliver(n=n1): not enabled in the model"


# Three members in one subgroup whose host is replaced twice (2 failures).
ONE_SUBGROUP_OF_THREE = Params(nodes=3, resources=1, max_failures=2, max_restarts=0, max_config_changes=0)
# A failover to the backup resource, then a joiner that reaches both resources.
FAILOVER_THEN_JOINER = Params(nodes=3, resources=2, max_failures=1, max_restarts=0, max_config_changes=0)


@pytest.mark.parametrize(
    ("p", "crash_points"),
    [(SMALL, True), (ONE_SUBGROUP_OF_THREE, False)],
    ids=["small-with-crash-points", "3-nodes-1-subgroup-2-failures"],
)
def test_every_model_transition_replays_on_the_implementation(p: Params, crash_points: bool) -> None:
    report = replay(p, depth=60, crash_points=crash_points)
    assert report.conforms, report.divergence and report.divergence.render()
    # every configuration change writes two files (resource and node store), 4 operations each
    assert report.crash_points >= (8 * report.actions["ChangeConfig"] if crash_points else 0)
    assert report.complete and report.coverage == 1.0
    checked = check(p)  # replay expands each state of the checker's state space once
    assert report.states == checked.distinct
    assert report.transitions == report.model_transitions == checked.generated - len(list(m.initial_states(p)))


def test_replay_reaches_a_failover_followed_by_a_joiner_of_several_resources() -> None:
    """n1 reaches r1, n2 reaches r2, n3 reaches both: n1 fails, the group fails over to r2, and n3
    joins it; every behaviour of that wiring replays (the whole configuration takes minutes)."""

    def joined_after_failover(s: State) -> bool:
        return any(isinstance(v, m.GroupState) and v.prim == 1 and v.status[2] == m.ACTIVE for v in s.view)

    report = replay(FAILOVER_THEN_JOINER, depth=60, wiring=(0b01, 0b10, 0b11), witness=joined_after_failover)
    assert report.conforms, report.divergence and report.divergence.render()
    assert report.complete and report.wirings == 1 and 0.01 < report.coverage < 1.0
    assert report.witnessed > 0  # the scenario is among the behaviours replayed


# Each member mutant, the depth of its shortest divergence on the small configuration, and what it shows.
REPLAY_CATCHES = [
    ("skips-access-probe", 2, "multicast  ACCESS(n1, {}) | ACCESS(n1, {r1, r2})"),
    ("forgets-to-install-config", 3, "configs  {'r1': 1} | {}"),
    ("no-state-resend", 4, "sent to n2  GROUP_STATE(@3) | "),
    ("config-from-primary-host", 7, "sent to n1  START_MIRROR(r2) | CONFIG(r1, v1), START_MIRROR(r2)"),
    ("promotes-unsynced-mirror", 9, "view.prim        r1 | r2"),
    ("pushes-old-text", 8, "text of r1 v2  'r1 configuration v2' | 'r1 initial configuration'"),
    ("installs-old-text", 4, "cfg  ((2, 0), (0, 0)) | ((v2 with another text, 0), (0, 0))"),
]


@pytest.mark.parametrize(("mutant", "depth", "divergence"), REPLAY_CATCHES)
def test_exhaustive_replay_catches_each_implementation_mutant(mutant: str, depth: int, divergence: str) -> None:
    report = replay(SMALL, depth=depth, member_factory=MUTANTS[mutant])
    assert report.divergence is not None, f"{mutant} escaped exhaustive replay"
    assert divergence in report.divergence.render()
    assert len(report.path) == depth
    assert replay(SMALL, depth=depth - 1, member_factory=MUTANTS[mutant]).conforms  # the shortest witness


DRIVER_CATCHES = [
    ("skips-a-data-file", False, 10, "data files of r2  the production data | other files"),
    ("garbles-config-text", False, 4, "v2 with another text"),
    ("writes-config-in-place", True, 4, "r1/config.json must hold"),
]


@pytest.mark.parametrize(("mutant", "crash_points", "depth", "divergence"), DRIVER_CATCHES)
def test_exhaustive_replay_catches_each_driver_mutant(
    mutant: str, crash_points: bool, depth: int, divergence: str
) -> None:
    report = replay(SMALL, depth=60, disks_factory=DRIVER_MUTANTS[mutant], crash_points=crash_points)
    assert report.divergence is not None, f"{mutant} escaped exhaustive replay"
    assert divergence in report.divergence.render() and len(report.path) == depth


def test_a_file_written_in_place_is_caught_only_by_a_crash_inside_the_write() -> None:
    """Once done, an in-place write leaves the right content: only a crash between its
    operations shows the torn file, so replay without crash points passes it."""
    assert replay(SMALL, depth=60, disks_factory=DRIVER_MUTANTS["writes-config-in-place"]).conforms


LOG_MUTANT = "logs-first-resource"


def test_exhaustive_replay_catches_a_log_that_names_the_wrong_parameters() -> None:
    report = replay(SMALL, depth=60, engine_class=ENGINE_MUTANTS[LOG_MUTANT])
    assert report.divergence is not None
    assert "logged step  ChangeConfig(n=n1, r=r2) | ChangeConfig(n=n1, r=r1) by n1" in report.divergence.render()


DEEP_MUTANT = "successor-is-newest-member"


def test_a_deep_mutant_needs_three_members_in_a_subgroup() -> None:
    """The newest member as successor is the next in join order whenever a subgroup had two."""
    factory = MUTANTS[DEEP_MUTANT]
    assert replay(SMALL, depth=60, member_factory=factory).conforms
    report = replay(ONE_SUBGROUP_OF_THREE, depth=60, member_factory=factory)
    assert report.divergence is not None and "view.host[r1]  n2 | n3" in report.divergence.render()


@pytest.mark.parametrize(
    ("mutant", "first_bad_step"),
    [("skips-access-probe", 2), ("forgets-to-install-config", 3), ("config-from-primary-host", 8)],
)
def test_trace_validation_catches_mutants_the_demo_exercises(tmp_path: Path, mutant: str, first_bad_step: int) -> None:
    log, _ = demo_log(tmp_path, MUTANTS[mutant])
    report = validate_log(*read_log(log))
    assert report.divergence is not None and report.divergence.seq == first_bad_step


@pytest.mark.parametrize("mutant", sorted(DATA_PATH_MUTANTS))
def test_the_demo_and_its_log_catch_every_data_path_mutant(tmp_path: Path, mutant: str) -> None:
    """The demo's own check (every acknowledged write on the promoted copy and the active mirrors,
    and exactly the writes whose mirrors answered acknowledged) and trace validation of its log."""
    with pytest.raises(DemoError):
        run_demo(tmp_path / "c", echo=lambda _: None, verbose=False, member_factory=DATA_PATH_MUTANTS[mutant])
    report = validate_log(*read_log(tmp_path / "c" / "log.jsonl"))
    assert report.divergence is not None, f"{mutant}'s demo log conforms"


# Seeded schedules hunting a mutant: a divergence found is enough, shrinking it is not needed.
MUTANT_HUNT = settings(
    max_examples=150,
    stateful_step_count=80,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.generate],
)


# The deep scenarios need particular wirings, which arbitrary ones rarely give: every node
# in one subgroup (its host replaced again and again), and a failover set-up (the first nodes
# reach only the production resource, the next only a backup, the last every resource).
WIRING_SHAPES = ("one subgroup", "failover", "any")


def shaped_wiring(shape: str, nodes: int, full: int, arbitrary: list[int]) -> tuple[int, ...]:
    if shape == "one subgroup":
        return (1,) * nodes
    if shape == "failover":
        return (*(1,) * (nodes - 2), 2 & full or 1, full)
    return tuple(w & full for w in arbitrary[:nodes])


class Lockstep(RuleBasedStateMachine):
    """Model and implementation side by side on random schedules, compared after every step."""

    mutant: str | None = None  # a mutant of impl_mutants (any kind), or the real implementation
    max_writes = 0  # client writes the schedules may make (the model needs a bound)
    rare: tuple[str, ...] = ()  # steps taken only one time in five they are offered
    # With patience, the environment's steps (joins, crashes, restarts, configuration changes)
    # are taken one time in `patience` that the protocol has steps to take, so that groups form
    # and settle between them, and a crash waits for three members in the group: subgroups of
    # three, failovers and rejoins are where the deep bugs are.
    patience: int | None = 4

    def __init__(self) -> None:
        super().__init__()
        self.engine: InMemoryEngine
        self.corr: Correspondence
        self.state: State
        self.params: Params

    @initialize(
        nodes=st.integers(3, 5),
        resources=st.integers(1, 3),
        shape=st.sampled_from(WIRING_SHAPES),
        wiring=st.lists(st.integers(0, 7), min_size=5, max_size=5),
    )
    def start(self, nodes: int, resources: int, shape: str, wiring: list[int]) -> None:
        full = (1 << resources) - 1
        access = shaped_wiring(shape, nodes, full, wiring)
        p = Params(nodes=nodes, resources=resources, compact_log=False, max_writes=self.max_writes)
        implementation = variant(self.mutant)
        self.engine = engine_for(access, p, implementation.member, implementation.disks, implementation.engine)
        self.corr = Correspondence.of(self.engine.cluster)
        self.params = self.corr.params(self.max_writes)
        self.state = m.initial_state(self.params, access)
        self.texts = Contents()

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        offered = offered_steps(self.engine, self.state)
        if not offered:
            return
        calm = [a for a in offered if a.name not in self.rare]
        if self.rare and calm and data.draw(st.integers(0, 9), label="calm") < 8:
            offered = calm
        if self.patience:
            in_group = sum(rt.in_group() for rt in self.engine.runtimes.values())
            own = [a for a in offered if a.name not in ENVIRONMENT_STEPS]
            outside = [a for a in offered if a.name in ENVIRONMENT_STEPS and (a.name != "Crash" or in_group >= 3)]
            if outside and (not own or data.draw(st.integers(1, self.patience), label="patience") == 1):
                offered = outside
            elif own:
                offered = own
        action = data.draw(st.sampled_from(offered), label="action")
        record = self.engine.step(action)
        assert not logged_as(action, record), logged_as(action, record)
        successor = model_step(self.state, self.params, self.corr, action.name, dict(action.params))
        assert successor is not None, f"{action.label()} is not enabled in the model"
        self.state = successor
        rows = differences(successor, abstract(self.engine, self.corr, successor, self.texts), self.corr)
        assert not rows, f"after {action.label()}: {rows}"

    @invariant()
    def same_actions_enabled(self) -> None:
        if not hasattr(self, "engine"):
            return
        offered = {a.label() for a in offered_steps(self.engine, self.state)}
        allowed = {self.corr.action(s).label() for s in m.successors(self.state, self.params)}
        assert offered == allowed


def test_model_and_implementation_agree_in_lockstep_on_random_schedules() -> None:
    run_state_machine_as_test(
        Lockstep,
        settings=settings(max_examples=100, stateful_step_count=60, deadline=None, database=None, derandomize=True),
    )


@pytest.mark.parametrize(
    ("mutant", "shows"),
    [
        ("skips-access-probe", "ACCESS"),
        (DEEP_MUTANT, r"view\[n\d\]\.host\[r1\]"),  # needs three members in a subgroup
        ("pushes-old-text", "CONFIG"),  # needs a configuration change with a member to send it to
        ("promotes-unsynced-mirror", "mirror"),  # needs a failover
        (LOG_MUTANT, "logged step"),
    ],
)
def test_seeded_lockstep_catches_shallow_and_deep_mutants(mutant: str, shows: str) -> None:
    class Mutated(Lockstep):
        pass

    Mutated.mutant = mutant
    with pytest.raises(AssertionError, match=shows):
        run_state_machine_as_test(
            Mutated,
            settings=MUTANT_HUNT,
        )


def test_the_log_of_any_lockstep_run_validates(tmp_path: Path) -> None:
    p = Params(nodes=3, resources=2, compact_log=False)
    engine = engine_for((1, 3, 2), p)
    without_writes = m.initial_state(p, (1, 3, 2))
    log = engine.sink
    assert isinstance(log, MemoryLog)
    for _ in range(80):
        offered = [a for a in offered_steps(engine, without_writes) if a.name != "Crash" or engine.seq % 17 == 0]
        if not offered:
            break
        engine.step(offered[engine.seq % len(offered)])
    cluster, *steps = log.records
    report = validate_log(cluster, steps)  # type: ignore[arg-type]
    assert report.conforms and report.steps == engine.seq


def test_the_implementation_names_its_steps_after_the_spec_actions() -> None:
    # src/pbjoin cannot import the model, so the list is written twice; this keeps the two equal.
    # A resource failing or coming back is no member's step: nobody logs it, validation infers it.
    unlogged = {"FailResource", "RepairResource"}
    assert set(get_args(StepName)) == {*m.ACTION_NAMES, *STUTTERS} - unlogged


@pytest.mark.parametrize("mutant", [None, "skips-a-data-file"])
def test_trace_validation_reads_the_data_files_a_mirror_was_synchronised_with(mutant: str | None) -> None:
    """A log records the digests of a synchronised mirror's data files and of the production
    copy's; validation holds them equal wherever the model holds the mirror current."""
    disks = DRIVER_MUTANTS[mutant] if mutant else MemoryDisks
    engine = engine_for((0b01, 0b10), Params(nodes=2, resources=2, compact_log=False), Member, disks)
    while protocol := [a for a in engine.enabled() if a.name not in ENVIRONMENT_STEPS or a.name == "Join"]:
        engine.step(protocol[0])
    cluster, steps = logged(engine)
    assert any(rec.data for rec in steps)
    report = validate_log(cluster, steps)
    if mutant is None:
        assert report.conforms, report.divergence and report.divergence.render()
    else:
        assert report.divergence is not None
        assert "data files of r2  the production data | other files" in report.divergence.render()
