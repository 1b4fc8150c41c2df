"""The data-path fault campaign: its checker on histories that break each promise, and a short run.

`make campaign` runs the same campaign for 10 minutes; here the churn lasts about 80 s, enough
for every kind of fault once (the primary host killed and paused, and the primary resource's
directory lost, among them) while three clients write.
"""

from __future__ import annotations

from pathlib import Path

import campaign
import pytest
import soak
from campaign import Attempt, DataSummary, audit_writes

from pbjoin.wire import WriteRecord


def attempt(writer: str, n: int, submitted: float, answered: float, status: str = "acked", epoch: int = 1) -> Attempt:
    return Attempt(
        writer,
        f"{writer}/{n}",
        f"{writer}-{n}",
        submitted,
        answered,
        status,
        write_id=f"{writer}:{n}",
        epoch=epoch,
        node="a",
    )


def held(a: Attempt, epoch: int | None = None) -> WriteRecord:
    return WriteRecord(id=a.write_id, key=a.key, value=a.value, epoch=a.epoch if epoch is None else epoch)


def audit(attempts: list[Attempt], copies: dict[str, list[WriteRecord]], active: list[str]) -> DataSummary:
    data = DataSummary()
    audit_writes(data, attempts, copies, "r0", active)
    return data


W1, W2, W3 = attempt("w0", 1, 0.0, 1.0), attempt("w0", 2, 1.5, 2.0), attempt("w1", 1, 2.5, 3.0)


def test_a_history_that_keeps_every_promise_passes() -> None:
    unknown = attempt("w1", 2, 3.5, 9.0, status="unknown")
    data = audit(
        [W1, W2, W3, unknown], {"r0": [held(W1), held(W2), held(W3)], "r1": [held(W1), held(W2), held(W3)]}, ["r1"]
    )
    assert data.examples == []
    assert (data.attempted, data.acked, data.unknown, data.unknown_present) == (4, 3, 1, 0)


def test_an_acked_write_missing_from_an_active_mirror_is_lost() -> None:
    data = audit([W1, W2], {"r0": [held(W1), held(W2)], "r1": [held(W1)]}, ["r1"])
    assert data.lost == 1 and "acked w0:2 (w0/2) missing from r1" in data.examples


def test_an_acked_write_missing_from_production_is_lost_though_no_mirror_is_active() -> None:
    data = audit([W1, W2], {"r0": [held(W2)], "r1": [held(W1), held(W2)]}, [])
    assert data.lost == 1


def test_a_mirror_that_is_not_active_may_lag() -> None:
    assert audit([W1, W2], {"r0": [held(W1), held(W2)], "r1": []}, []).examples == []


def test_a_write_held_twice_is_duplicated() -> None:
    data = audit([W1], {"r0": [held(W1), held(W1)]}, [])
    assert data.duplicated == 1


def test_a_value_no_client_wrote_is_reported() -> None:
    forged = WriteRecord(id="w0:9", key="w0/9", value="forged", epoch=1)
    changed = WriteRecord(id=W1.write_id, key=W1.key, value="other", epoch=1)
    data = audit([W1], {"r0": [held(W1)], "r1": [forged, changed]}, [])
    assert data.foreign == 2


def test_writes_in_another_order_than_acknowledged_are_out_of_order() -> None:
    data = audit([W1, W2], {"r0": [held(W2), held(W1)]}, [])
    assert data.out_of_order == 1


def test_concurrent_writes_may_land_in_either_order() -> None:
    overlapping = attempt("w1", 1, 0.5, 1.2)  # submitted before W1 was acked
    assert audit([W1, overlapping], {"r0": [held(overlapping), held(W1)]}, []).examples == []


def test_a_write_acked_under_an_older_epoch_after_a_newer_one_acked_is_deposed() -> None:
    new = attempt("w0", 1, 0.0, 1.0, epoch=2)
    stale = attempt("w1", 1, 1.5, 2.0, epoch=1)
    data = audit([new, stale], {"r0": [held(new), held(stale)]}, [])
    assert data.deposed == 1


def test_a_short_campaign_loses_no_acknowledged_write(tmp_path: Path) -> None:
    outcome = campaign.run(soak.Config(minutes=1.35, seed=3, workdir=tmp_path, every_kind=True), writers=3)
    print(outcome.text)
    summary, data = outcome.summary, outcome.data
    assert summary.failures == [], "\n".join(summary.failures)
    assert [k for k in campaign.KINDS if summary.faults[k] == 0] == [], f"kinds never injected: {summary.faults}"
    assert data.acked > 100 and data.attempted == data.acked + data.refused + data.unknown
    assert (data.lost, data.duplicated, data.foreign, data.out_of_order, data.deposed) == (0, 0, 0, 0, 0)
    assert summary.primary_host_changes >= 2  # the primary host killed and paused: writes went on under new epochs
    assert data.epochs_seen >= 2
    assert summary.conformance_steps > 0
    # the first resource loss is the primary resource's: failed over (or halted) with every acked write
    assert summary.resource_repairs == summary.faults[soak.RESOURCE_LOSS] >= 1


@pytest.mark.parametrize("argv", [["--minutes", "0"], ["--writers", "0"], ["--lease-ttl", "0"]])
def test_bad_arguments_are_refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        campaign.main(argv)
    assert exc.value.code == 2 and "error:" in capsys.readouterr().err
