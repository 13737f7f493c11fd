"""What `Index.reconcile` compares the index against (the database's word), and what it changed."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime

from roomscribe.visibility import Visibility


@dataclass(frozen=True, slots=True)
class ExpectedRoom:
    """What the database says a room holds, for `reconcile` to compare the index against.

    Besides the segments, the room facts every indexed segment repeats are checked, so a crash
    between changing a room's visibility and reindexing it cannot leave the old visibility behind.
    """

    segments: int | Set[str]
    """How many segments, or exactly which segment ids (slower to check: reads each document)."""
    title: str
    visibility: Visibility
    host_id: str | None
    date: datetime


Expectation = int | Set[str] | ExpectedRoom


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What `reconcile` changed."""

    removed: tuple[str, ...]
    """Rooms in the index the database no longer has."""
    reindexed: tuple[str, ...]
    """Rooms missing from the index or differing from the database, indexed afresh."""
