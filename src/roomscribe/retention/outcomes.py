"""What retention answers: download kinds and headers, the 410 it raises, purge and sweep results,
summaries, and what is kept of a room."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from roomscribe.errors import Gone, RoomscribeError
from roomscribe.retention.policy import Verdict
from roomscribe.retention.tables import Retention, RetentionState


class DownloadKind(StrEnum):
    RECORDING = "recording"
    TRANSCRIPT = "transcript"


RETAIN_UNTIL_HEADER = "Retain-Until"
"""States `retain_until` (ISO 8601) on every download of a recording or transcript."""


PURGE_DATE_HEADER = "Purge-Date"
"""States the purge date (ISO 8601) on a 410 for a recording past its deadline."""


class RetentionGone(Gone):
    """The recording is past its deadline, being purged or purged (410).

    `purge_date` is what the response states: when it was deleted, or the deadline it passed.
    """

    def __init__(self, message: str, *, room_id: str, purge_date: datetime) -> None:
        super().__init__(message)
        self.room_id = room_id
        self.purge_date = purge_date
        self.headers = {PURGE_DATE_HEADER: iso(purge_date)}


class PurgeIncomplete(RoomscribeError):
    """A purger failed; the room stays `purging` and the next sweep after the lease retries it."""


class PurgeOutcome(StrEnum):
    PURGED = "purged"
    ALREADY_PURGED = "already_purged"
    NOT_DUE = "not_due"
    HELD = "held"
    IN_PROGRESS = "in_progress"
    """Another worker claimed it less than a lease ago."""
    INCOMPLETE = "incomplete"
    """A purger raised; see the log."""


@dataclass(frozen=True, slots=True)
class PurgeResult:
    room_id: str
    outcome: PurgeOutcome
    retention: Retention
    """The row after the attempt: the tombstone when `outcome` is purged or already purged."""


@dataclass(slots=True)
class SweepReport:
    now: datetime
    dry_run: bool
    due: list[str]
    purged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Due when listed, but held, extended or claimed by another worker by the time we got there."""
    failed: list[str] = field(default_factory=list)
    bytes_removed: int = 0


@dataclass(frozen=True, slots=True)
class RetentionSummary:
    """Counts for `retention status` and the admin console."""

    retained: int
    held: int
    purging: int
    purged: int
    due: int
    upcoming: int
    """Retained, not held, deadline within the next 7 days (overdue included)."""
    bytes_removed: int
    next_deadline: datetime | None


@dataclass(frozen=True, slots=True)
class Kept:
    """A room's retention row and what the policy allows now (both None until it is registered,
    which happens as the room ends)."""

    row: Retention | None
    verdict: Verdict | None

    @property
    def available(self) -> bool:
        """The recording and transcript may be served now."""
        return self.verdict is not None and self.verdict.may_download

    @property
    def purged(self) -> bool:
        return self.row is not None and self.row.state is RetentionState.PURGED


def iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")
