"""The explorer's FIFO queue on disk: only its two ends stay in memory.

A wide BFS level is most of a search's memory: every state waiting in the queue. With
`--disk`, entries past a segment of `SEGMENT` are written to a temporary file, one file a
segment, and read back in order when the head runs out (TLC keeps its queue on disk the
same way). Imported by pbjoin_model.explorer.bfs only.
"""

from __future__ import annotations

import struct
from collections import deque
from pathlib import Path

# A queued state: its canonical encoding, its index in the seen-set, its depth.
Entry = tuple[bytes, int, int]

SEGMENT = 1 << 16  # entries per file
_HEADER = struct.Struct("<IQI")  # encoding length, index, depth


class DiskQueue:
    """FIFO: the head being read, the files written (oldest first), the tail being filled."""

    def __init__(self, directory: Path, segment: int | None = None) -> None:
        self.directory = directory
        self.segment = segment or SEGMENT
        self.head: deque[Entry] = deque()
        self.files: deque[Path] = deque()
        self.tail: list[Entry] = []
        self.length = 0
        self.spilled = 0  # files written so far

    def append(self, entry: Entry) -> None:
        self.tail.append(entry)
        self.length += 1
        if len(self.tail) >= self.segment:
            self._spill()

    def popleft(self) -> Entry:
        if not self.head:
            if self.files:
                self.head = self._load(self.files.popleft())
            else:
                self.head, self.tail = deque(self.tail), []
        entry = self.head.popleft()
        self.length -= 1
        return entry

    def __len__(self) -> int:
        return self.length

    def _spill(self) -> None:
        path = self.directory / f"queue-{self.spilled:09d}"
        with path.open("wb") as f:
            for code, index, depth in self.tail:
                f.write(_HEADER.pack(len(code), index, depth))
                f.write(code)
        self.files.append(path)
        self.spilled += 1
        self.tail = []

    def _load(self, path: Path) -> deque[Entry]:
        raw = path.read_bytes()
        path.unlink()
        entries: deque[Entry] = deque()
        at = 0
        while at < len(raw):
            size, index, depth = _HEADER.unpack_from(raw, at)
            at += _HEADER.size
            entries.append((raw[at : at + size], index, depth))
            at += size
        return entries
