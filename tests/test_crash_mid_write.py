"""Crashes inside a write: a node process SIGKILLed at random moments while it writes
configuration, copies and mirrors leaves every resource file readable, holding either the
content it had before the interrupted step or the one that step wrote, never anything else.

The writer is `tests/crash_writer.py` on the real directory driver. The same kills on a
driver that writes files in place (the buggy variant `--in-place`) must leave a damaged
file: that is what shows this test can tell the difference.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from crash_writer import config_text, write

from pbjoin.resources import CONFIG, COPY, ResourceError, create_resource, read_copy_file

WRITER = Path(__file__).with_name("crash_writer.py")
KILLS = 60


def layout(directory: Path) -> None:
    for r in ("r1", "r2"):
        create_resource(directory / r, r, "east", {})


def killed_at_random(directory: Path, rng: random.Random, in_place: bool, done: int) -> int:
    """Run the writer (it resumes where the disks are), SIGKILL it after a random delay;
    the last step finished so far."""
    args = [sys.executable, str(WRITER), str(directory), *(["--in-place"] if in_place else [])]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(rng.uniform(0.15, 0.45))  # start-up takes about 0.15 s; then several steps a second
    proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate()
    assert "Traceback" not in err, err
    finished = [int(line) for line in out.split()]
    return max([done, *finished])


def damage(directory: Path, done: int) -> list[str]:
    """What is wrong with the files after a kill once step `done` had finished (empty: nothing)."""
    problems: list[str] = []
    steps = {done, done + 1} if done else {1}  # the interrupted step may have reached any file

    def config_ok(path: Path) -> None:
        try:
            value = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            problems.append(f"{path} unreadable: {exc}")
            return
        version, text = value.get("version"), value.get("data")
        initial = version == 1 and text == "r1 initial configuration"
        if not initial and not (version in steps and text == config_text(version)):
            problems.append(f"{path}: version {version} with text {str(text)[:30]!r}, after step {done}")

    config_ok(directory / "r1" / CONFIG)
    if (directory / "node" / "config" / "r1.json").exists():
        config_ok(directory / "node" / "config" / "r1.json")
    for r in ("r1", "r2"):
        try:
            copy_ = read_copy_file(directory / r / COPY)
        except ResourceError as exc:
            problems.append(f"{r}/{COPY} unreadable: {exc}")
            continue
        held = len(copy_.writes)
        if held and (held not in steps or copy_.writes != [write(i) for i in range(1, held + 1)]):
            problems.append(f"{r}/{COPY} holds {held} writes after step {done}")
    return problems


def test_a_node_killed_inside_its_writes_leaves_old_or_new_content_in_every_file(tmp_path: Path) -> None:
    layout(tmp_path)
    rng = random.Random(1)
    done, progress = 0, []
    for kill in range(KILLS):
        done = killed_at_random(tmp_path, rng, False, done)
        problems = damage(tmp_path, done)
        assert problems == [], f"kill {kill + 1}: {problems}"
        progress.append(done)
    assert done > 20, f"the writer made too little progress to mean anything: {progress}"
    assert len(set(progress)) > KILLS // 3  # the kills landed at many different points


def test_the_same_kills_catch_a_driver_that_writes_in_place(tmp_path: Path) -> None:
    layout(tmp_path)
    rng = random.Random(1)
    done = 0
    for _ in range(KILLS):
        done = killed_at_random(tmp_path, rng, True, done)
        if damage(tmp_path, done):
            return
    raise AssertionError(f"{KILLS} kills of an in-place writer left every file intact")
