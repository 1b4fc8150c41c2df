"""Logs with resource failures and repairs validate against the model (issue 19), and slips in
the implementation's handling of them are caught by trace validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from impl_mutants import RulesMutant
from pbjoin_model.conformance.refinement import validate_log
from pbjoin_model.conformance.replay import replay
from pbjoin_model.protocol.machine import Params
from test_member_engine import act, cluster, logged, settle

from pbjoin.engine import InMemoryEngine
from pbjoin.group import GroupState
from pbjoin.member import Member, Output
from pbjoin.runtime import MemberFactory


def _group(factory: MemberFactory = Member) -> InMemoryEngine:
    engine = cluster({"n1": {"r1"}, "n2": {"r1"}, "n3": {"r2"}, "n4": {"r2"}}, member_factory=factory)
    for n in ("n1", "n2", "n3"):
        engine.step(act("Join", n=n))
        settle(engine)
    return engine


def _loss_and_repair(engine: InMemoryEngine, resource: str = "r1") -> None:
    """Writes before, during and after `resource` fails and comes back."""
    engine.write("n1", "w1", "k1", "v1")
    settle(engine)
    engine.write("n1", "w2", "k2", "v2")  # pending at n1 when its production copy fails
    engine.set_resource_failed(resource, True)
    settle(engine)
    for k in (3, 4):
        for writer in [n for n, rt in engine.runtimes.items() if rt.member.acts_as_primary()][:1]:
            engine.write(writer, f"w{k}", f"k{k}", f"v{k}")
            settle(engine)
        engine.set_resource_failed(resource, False)
        settle(engine)


def _backup_lost_then_joiner(engine: InMemoryEngine) -> None:
    engine.set_resource_failed("r2", True)
    engine.write("n1", "w1", "k1", "v1")
    settle(engine)
    engine.step(act("Join", n="n4"))
    settle(engine)
    engine.set_resource_failed("r2", False)
    settle(engine)


SCENARIOS: dict[str, Callable[[InMemoryEngine], None]] = {
    "production copy lost, fail over, repaired as a backup": _loss_and_repair,
    "backup lost under a write, a joiner rejected, backup repaired": _backup_lost_then_joiner,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_log_with_resource_failures_conforms(scenario: str) -> None:
    engine = _group()
    SCENARIOS[scenario](engine)
    steps = logged(engine)[1]
    names = {r.step for r in steps}
    assert {"ReportFailure", "ReportRepair", "Write", "ReceiveStartMirror"} <= names
    assert any(r.consumed and r.consumed.get("kind") in ("RES_FAIL", "RES_REPAIR") for r in steps)
    report = validate_log(engine.cluster, steps)
    assert report.divergence is None, report.divergence.render()
    assert report.steps == len(steps) and report.final.broken == 0 and report.final.resFailures == 1


# ---------------------------------------------------------------- slips the validation must catch


class KeepsPendingWritesOnLoss(Member):
    """A primary host that reports its production copy failed keeps waiting on its pending writes."""

    def _report(self, kind: str, resource: str) -> Output:
        saved = dict(self.pending)
        self.pending.clear()
        out = super()._report(kind, resource)
        self.pending.update(saved)
        return out


class _NoFailover(GroupState):
    def _failover_target(self) -> str | None:
        return None if self.primary in self.lost else super()._failover_target()


class NoFailoverOnResourceFailure(RulesMutant):
    """The group keeps a failed production copy primary though a backup's mirror is synchronised."""

    RULES = _NoFailover


class _RoundsStandStill(GroupState):
    def _resource_repaired(self, msg: object) -> None:
        rounds = dict(self.rounds)
        super()._resource_repaired(msg)  # type: ignore[arg-type]
        self.rounds = rounds


class RepairKeepsTheRound(RulesMutant):
    """A repair starts no new mirroring round."""

    RULES = _RoundsStandStill


class NeverReports(Member):
    """A host never reports its resource failed: not on a probe, not when an effect finds it so."""

    def may_report_failure(self, resource: str) -> bool:
        return False

    def access_failed(self, effect: object, resource: str, reason: str) -> Output:
        out = super().access_failed(effect, resource, reason)  # type: ignore[arg-type]
        self.reports.clear()
        out.multicasts.clear()
        return out


MUTANTS: dict[str, tuple[MemberFactory, str]] = {
    "keeps-pending-writes-on-loss": (KeepsPendingWritesOnLoss, "answers"),
    "no-failover-on-resource-failure": (NoFailoverOnResourceFailure, "view.prim"),
    "repair-keeps-the-round": (RepairKeepsTheRound, "view.rounds"),
    "never-reports": (NeverReports, "multicast"),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_each_slip_in_handling_a_resource_failure_diverges(mutant: str) -> None:
    factory, row = MUTANTS[mutant]
    engine = _group(factory)
    _loss_and_repair(engine)
    report = validate_log(engine.cluster, logged(engine)[1])
    assert report.divergence is not None
    assert any(what.startswith(row) for what, _, _ in report.divergence.rows), report.divergence.render()


# ---------------------------------------------------------------- every model behaviour, on the engine

RESOURCE_FAILURES = Params(
    nodes=2, resources=2, max_failures=0, max_restarts=0, max_config_changes=0, max_resource_failures=1
)


def test_every_behaviour_with_a_resource_failure_and_repair_replays_on_the_implementation() -> None:
    """Exhaustive: every model behaviour of 2 nodes and 2 resources, one of which fails and may come
    back, runs on the in-memory engine (FailResource/RepairResource fail and repair its disks) with
    the same enabled steps and states after each (about 15 s)."""
    report = replay(RESOURCE_FAILURES, depth=26)
    assert report.divergence is None, report.divergence.render()
    assert report.complete and report.coverage == 1.0 and report.transitions > 13_000
    for action in ("FailResource", "RepairResource", "ReportFailure", "ReportRepair", "ReceiveStartMirror"):
        assert report.actions[action] > 0, action


def test_behaviours_with_a_write_and_a_resource_failure_replay_on_the_implementation() -> None:
    p = dataclasses.replace(RESOURCE_FAILURES, max_writes=1)
    report = replay(p, depth=12)
    assert report.divergence is None, report.divergence.render()
    assert report.actions["Write"] > 0 and report.actions["ReportFailure"] > 0


@pytest.mark.parametrize("mutant", ["no-failover-on-resource-failure", "repair-keeps-the-round"])
def test_exhaustive_replay_catches_a_slip(mutant: str) -> None:
    report = replay(RESOURCE_FAILURES, depth=26, member_factory=MUTANTS[mutant][0])
    assert report.divergence is not None
