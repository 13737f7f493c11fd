"""The retention policy as pure functions: what may happen to a room's recording at a given instant.

Nothing here reads a clock or a database: the caller passes `now`, so tests, the `--now` option of
`retention sweep` and the scheduler all evaluate the very same rules.

- The deadline is `ended_at + retention` (30 days by default).
- A report filed before the deadline moves it to `ended_at + report_retention` (120 days).
- A deadline only ever moves later.
- A hold keeps everything as it is: the recording is not due, and stays downloadable, until the
  hold is released; then the deadline applies again (so an overdue recording is due at once).
- Reports are accepted strictly before the deadline; at the deadline the recording is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from roomscribe.config import Settings
from roomscribe.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Durations:
    """How long after the room ended its recording is kept."""

    retention: timedelta = timedelta(days=30)
    """Without a report."""
    report_retention: timedelta = timedelta(days=120)
    """With a report filed before the deadline (investigation time included)."""

    def __post_init__(self) -> None:
        if self.retention <= timedelta(0) or self.report_retention <= timedelta(0):
            raise ValueError("retention durations must be positive")

    @classmethod
    def from_settings(cls, settings: Settings) -> Durations:
        return cls(retention=timedelta(days=settings.retention_days),
                   report_retention=timedelta(days=settings.report_retention_days))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy allows at one instant."""

    retain_until: datetime
    due: bool
    """The recording should be purged now."""
    may_download: bool
    may_report: bool


def _aware(value: datetime, name: str) -> datetime:
    # Comparing naive and aware datetimes raises deep inside a sweep; refuse them at the door.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value


def retain_until(ended_at: datetime, *, durations: Durations, reported_at: datetime | None = None,
                 previous: datetime | None = None) -> datetime:
    """The deadline of a room that ended at `ended_at`.

    `reported_at` is the first report's time; it only counts when filed before the plain
    deadline. `previous` is the deadline already in force: the result is never earlier, so a
    shortened setting never cuts short what was promised.
    """
    _aware(ended_at, "ended_at")
    deadline = ended_at + durations.retention
    if reported_at is not None and _aware(reported_at, "reported_at") < deadline:
        deadline = max(deadline, ended_at + durations.report_retention)
    if previous is not None:
        deadline = max(deadline, _aware(previous, "previous"))
    return deadline


def is_due(*, retain_until: datetime, held: bool, now: datetime, purged: bool = False) -> bool:
    return not purged and not held and _aware(now, "now") >= retain_until


def may_download(*, retain_until: datetime, held: bool, now: datetime,
                 purged: bool = False) -> bool:
    return not purged and (held or _aware(now, "now") < retain_until)


def may_report(*, retain_until: datetime, now: datetime, purged: bool = False) -> bool:
    # A hold does not reopen reporting: after the deadline the answer is the same with or without.
    return not purged and _aware(now, "now") < retain_until


def evaluate(*, retain_until: datetime, held: bool, now: datetime,
             purged: bool = False) -> Verdict:
    """Every decision at `now` for a recording whose deadline is `retain_until`.

    `purged` is true once a purge has started: from then on nothing is allowed and nothing is due.
    """
    return Verdict(
        retain_until=retain_until,
        due=is_due(retain_until=retain_until, held=held, now=now, purged=purged),
        may_download=may_download(retain_until=retain_until, held=held, now=now, purged=purged),
        may_report=may_report(retain_until=retain_until, now=now, purged=purged),
    )


def check_keeper(actor_id: int | None, *, is_admin: bool, host_id: int) -> None:
    """Who may download a room's recording and transcript, and correct it: its host and admins."""
    if actor_id != host_id and not is_admin:
        raise Forbidden("only the host and admins may download a room's recording and transcript")
