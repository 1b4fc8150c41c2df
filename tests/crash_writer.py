"""A node's resource writes in a loop, for tests/test_crash_mid_write.py to SIGKILL at random moments.

Step k (from where the disks are, so a killed run resumes) stores configuration version k on
resource r1 and installs it in the node's store, takes write k on r1's copy, and
resynchronises the mirror r2 with writes 1..k under epoch k, each through the real
directory driver; then it prints k. With `--in-place` every file is written the way a
buggy driver would (truncated, then written in pieces) instead of atomically.

    python tests/crash_writer.py DIR [--in-place]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pbjoin import resources
from pbjoin.resources import DirectoryDisks
from pbjoin.wire import WriteRecord


def config_text(version: int) -> str:
    return "".join(f"v{version} line {i}: " + "x" * 60 + "\n" for i in range(600))


def write(k: int) -> WriteRecord:
    return WriteRecord(id=f"app:{k}", key=f"k/{k}", value=f"value {k} " + "y" * 80, epoch=1)


def write_in_place(path: Path, content: bytes, failpoints: resources.Failpoints | None = None) -> None:
    with path.open("wb") as f:
        for i in range(0, len(content), 4096):
            f.write(content[i : i + 4096])
            f.flush()
        os.fsync(f.fileno())


def main() -> None:
    directory = Path(sys.argv[1])
    if "--in-place" in sys.argv:
        resources.atomic_write = write_in_place
    links = {r: directory / r for r in ("r1", "r2")}
    disks = DirectoryDisks(directory / "node", (links["r1"], links["r2"]), links)
    k = max(1, disks.load_config("r1")[0])
    while True:
        disks.store_config("r1", k, config_text(k))
        disks.install_config("r1", k, config_text(k))
        if len(disks.read_copy("r1")[1]) < k:
            disks.append_write("r1", write(k))
        disks.install_mirror("r2", k, tuple(write(i) for i in range(1, k + 1)))
        print(k, flush=True)
        k += 1


if __name__ == "__main__":
    main()
