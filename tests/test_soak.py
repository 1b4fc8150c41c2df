"""A short soak: `make soak`'s nemesis and checker for about 75 s of churn instead of 10 minutes.

The targeted tests each hit one interleaving on purpose; this one runs every kind of
fault back to back on a 3-server authenticated etcd cluster, so a regression that only
shows when faults follow each other (a token expiring while the etcd leader is lost, a
join right after a failover) fails the suite and not only a manual soak.
"""

from __future__ import annotations

from pathlib import Path

import soak


def test_a_short_soak_injects_every_kind_of_fault_and_passes_every_check(tmp_path: Path) -> None:
    summary = soak.run(soak.Config(minutes=1.25, seed=1, workdir=tmp_path, every_kind=True))
    print(summary.render())
    assert summary.failures == [], "\n".join(summary.failures)
    assert [k for k in soak.KINDS if summary.faults[k] == 0] == [], f"kinds never injected: {summary.faults}"
    assert summary.members_lost_unexpectedly == 0
    assert summary.conformance_steps > 0
    # every lost resource directory was put back, and a live host noticed at least one repair
    assert summary.resource_repairs == summary.faults[soak.RESOURCE_LOSS] and summary.repairs_noticed >= 1
    assert summary.checks_passed > summary.total_faults  # a convergence check per fault, and the final checks
