"""Index segments' columns as numpy arrays, kept across searches.

A segment never changes after it is written (deletions are applied per search), so its columns
are loaded once and reused until it is merged away; the cache is process-wide and keeps the
`KEPT` most recently used segments.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from roomscribe.archive.analysis import TEXT_ANALYZER
from roomscribe.archive.index import Index
from roomscribe.archive.whoosh_columns import numeric_column

KEPT = 64


class SegmentColumns:
    """One index segment's columns as arrays."""

    def __init__(self, reader: Any) -> None:
        self.newest = numeric_column(reader, "newest")
        self.date = numeric_column(reader, "date")
        self.room = numeric_column(reader, "room_key")
        self.visibility = numeric_column(reader, "visibility")
        self.host = numeric_column(reader, "host_key")
        self.lang = numeric_column(reader, "lang_key")
        self._rooms: list[RoomRun] | None = None
        self._by_room: npt.NDArray[np.int64] | None = None
        self._lock = threading.Lock()

    def rooms(self, reader: Any) -> tuple[list[RoomRun], npt.NDArray[np.int64]]:
        """Every room with segments here, and all docnums ordered by room (each room's run in
        it is `RoomRun.first` to `RoomRun.first + RoomRun.count`). Built on first use: one stored
        document read per room."""
        with self._lock:
            if self._rooms is None or self._by_room is None:
                by_room = np.argsort(self.room, kind="stable").astype(np.int64)
                keys, firsts, counts = np.unique(self.room[by_room], return_index=True,
                                                 return_counts=True)
                table = []
                for key, first, count in zip(keys.tolist(), firsts.tolist(), counts.tolist(),
                                             strict=True):
                    stored = reader.stored_fields(int(by_room[first]))
                    words = tuple(t.text for t in TEXT_ANALYZER(stored["room_title"]))
                    table.append(RoomRun(key, stored["room_id"], words, first, count))
                self._rooms, self._by_room = table, by_room
            return self._rooms, self._by_room


@dataclass(frozen=True, slots=True)
class RoomRun:
    """One room's documents in a segment: `first` to `first + count` in the by-room order."""

    key: int
    room_id: str
    title_words: tuple[str, ...]
    first: int
    count: int


_CACHE: OrderedDict[tuple[str, str], SegmentColumns] = OrderedDict()
_LOCK = threading.Lock()


def columns_of(index: Index, reader: Any) -> SegmentColumns:
    """The columns of the segment `reader` reads, loaded on first use."""
    key = (str(index.path), reader.segment().segment_id())
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    loaded = SegmentColumns(reader)  # outside the lock: a big segment takes a moment to load
    with _LOCK:
        _CACHE[key] = loaded
        while len(_CACHE) > KEPT:
            _CACHE.popitem(last=False)
    return loaded
