"""What a purge asks of each domain: the `Purger` protocol, and the one for a folder per room."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol


class Purger(Protocol):
    """Removes one domain's share of a room: files, rows, index entries.

    Must be idempotent (a second call finds nothing and returns 0) and complete; raise when
    something could not be removed, and the purge will be retried by a later sweep.
    """

    def purge(self, room_id: str) -> int:
        """Remove everything this domain keeps for `room_id`; return the bytes freed."""


class DirectoryPurger:
    """Removes `root/<room_id>/` and everything under it: for domains keeping a folder a room."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def purge(self, room_id: str) -> int:
        folder = self.root / room_id
        # A room id is never a path, but one that looked like one must not delete outside root.
        if folder.parent != self.root or room_id in {"", ".", ".."}:
            raise ValueError(f"not a room id: {room_id!r}")
        if not folder.is_dir():
            return 0
        removed = 0
        for parent, dirs, files in os.walk(folder, topdown=False):
            for name in files:
                path = Path(parent, name)
                try:
                    removed += path.lstat().st_size
                    path.unlink()
                except FileNotFoundError:
                    continue
            for name in dirs:
                Path(parent, name).rmdir()
        folder.rmdir()
        return removed
