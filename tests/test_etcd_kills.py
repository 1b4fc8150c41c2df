"""Real member processes SIGKILLed at random moments while hosts write configurations and
backups copy the production data: every resource file stays whole.

Two resources, one member each (the primary host on r0, the backup host on r1, which copies
r0's data files over the replication links whenever it resynchronises) and a third member
on both. Again and again the hosts are told to write a new configuration version (SIGUSR1)
and a member is killed a random moment later, then started again (a new incarnation, whose
rejoin makes the backup host resynchronise). After each kill every file of every resource
must be readable and hold content some step wrote whole; at the end the group converges
and no data is lost. (The members' merged logs are not validated here: after runs like this
one the merge can find a position of the total order that no log shows, and refuses.)
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from etcd_cluster import Members, assert_no_data_lost, converged, running_group, wait_for

from pbjoin.resources import CONFIG, COPY, read_copy_file, read_data

RESOURCES = ("r0", "r1")
WIRING = {"a": ("r0",), "b": ("r1",), "c": ("r0", "r1")}
KILLS = 50


@pytest.fixture
def members(tmp_path: Path) -> Iterator[Members]:
    with running_group(tmp_path, 1, RESOURCES) as group:
        yield group


def torn(members: Members) -> list[str]:
    """What is wrong with the resources' files now (nothing: empty)."""
    production_files = {"ledger.txt": {f"{r} production data\n" for r in RESOURCES}}
    problems = []
    for r in RESOURCES:
        path = members.site.path(r)
        try:
            config = json.loads((path / CONFIG).read_text())
            read_copy_file(path / COPY)
            data = read_data(path)
        except (OSError, ValueError) as exc:
            problems.append(f"{r}: {exc}")
            continue
        version, text = config.get("version"), config.get("data")
        whole = f"{r} initial configuration" if version == 1 else f"{r} configuration v{version}"
        if text != whole:
            problems.append(f"{r}/{CONFIG} holds version {version} with the text {text!r}")
        for name, content in data.items():
            if content not in production_files.get(name, set()):
                problems.append(f"{r}/data/{name} holds {content!r}")
    return problems


def test_members_killed_at_random_moments_leave_every_resource_file_whole(members: Members) -> None:
    rng = random.Random(13)
    running = {node: members.start(node, wiring) for node, wiring in WIRING.items()}
    wait_for(lambda: converged(members), 60, "the group to form")
    for kill in range(KILLS):
        for member in running.values():
            member.signal(signal.SIGUSR1)  # a host writes a new configuration version
        time.sleep(rng.uniform(0.0, 0.05))
        node = rng.choice(sorted(running))
        running[node].signal(signal.SIGKILL)
        running[node].process.wait(10)
        assert torn(members) == [], f"after kill {kill + 1} of {node}"
        running[node] = members.start(node, WIRING[node])
        wait_for(lambda: converged(members), 60, f"the group to settle after kill {kill + 1}")
    assert torn(members) == []
    assert_no_data_lost(members)
