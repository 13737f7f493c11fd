"""Each ended room's deadline, holds, downloads and the purge.

Every change to a `Retention` row is conditional on what it was decided from: reports and holds
are a compare-and-set on the row's `version`, re-checked against the policy on the fresh row; a
purge claim is an UPDATE whose WHERE is the policy's "due" (and which bumps the version). That is
what keeps a report and a purge racing for the same room from leaving it half-purged: whichever
commits first wins and the other sees its result. A report that finds the row claimed by a purge
is refused; a purge that finds the deadline moved does nothing.

A purge runs in three steps so that slow purgers never hold a database lock:

1. claim: `retained → purging` (one transaction, deadline and hold re-checked inside it);
2. every `Purger` removes its part of the room (recording, tracks, transcripts, exports, index);
3. finish: `purging → purged` with the bytes removed, and the audit event (one transaction).

A sweep does the same for a batch of rooms at a time, so 1,000 due rooms cost a few dozen
transactions rather than thousands.

A purge that fails or dies between 1 and 3 leaves the row `purging`; once its claim is older than
the lease, the next sweep takes it over and runs every purger again, which is why purgers must be
idempotent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Engine, and_, bindparam, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from roomscribe.audit import service as audit
from roomscribe.audit.tables import AuditAction
from roomscribe.db import forget_deleted, session_scope
from roomscribe.errors import Conflict, Gone, NotFound, RoomscribeError
from roomscribe.retention import policy
from roomscribe.retention.policy import Durations, Verdict
from roomscribe.retention.schemas import RetentionOverview
from roomscribe.retention.tables import (
    PurgeReason,
    Retention,
    RetentionCreate,
    RetentionState,
)

log = logging.getLogger(__name__)

UPCOMING_DAYS = 7
"""How far ahead "upcoming purges" look, unless asked otherwise."""
_CAS_ATTEMPTS = 5
_SWEEP_BATCH = 200


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
        self.headers = {PURGE_DATE_HEADER: _iso(purge_date)}


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


Listener = Callable[[Retention], None]
"""Told about every row whose deadline, hold or state changed, after the change committed."""

_Change = Callable[[Retention], Mapping[str, Any] | None]


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="seconds")


class RetentionService:
    """Deadlines, holds, downloads and purges of ended rooms. Every method takes `now` (or `at`)
    from the caller, so one injected clock drives the whole policy.

    `lease` is how long a purge's claim is its own: after that a sweep may take the room over,
    so it must exceed the longest purge.
    """

    def __init__(self, engine: Engine, *, durations: Durations | None = None,
                 purgers: Sequence[Purger] = (), lease: timedelta = timedelta(minutes=15)) -> None:
        self._engine = engine
        self.durations = durations or Durations()
        self._purgers = tuple(purgers)
        self._lease = lease
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def announce(self, row: Retention) -> None:
        """Tell listeners (the scheduler) that `row` changed. Call it after the commit."""
        for listener in list(self._listeners):
            try:
                listener(row)
            except Exception:
                # The change is committed; a listener failing must not undo it for the caller.
                # The hourly sweep catches a purge a failed listener did not schedule.
                log.exception("retention listener failed for room %s", row.room_id)

    # Reading

    def get(self, room_id: str) -> Retention:
        with Session(self._engine) as session:
            return self._load(session, room_id)

    def overview(self, *, now: datetime, storage_used: int) -> RetentionOverview:
        """The admins' counts, with the bytes the recordings take now."""
        return RetentionOverview(**asdict(self.summary(now=now)), storage_bytes=storage_used)

    def rows(self, room_ids: Iterable[str]) -> dict[str, Retention]:
        """The retention rows (title, deadline, hold) of these rooms, those that have one."""
        wanted = set(room_ids)
        if not wanted:
            return {}
        with Session(self._engine) as session:
            found = session.exec(select(Retention).where(col(Retention.room_id).in_(wanted)))
            return {row.room_id: row for row in found}

    def kept(self, room_id: str, *, now: datetime) -> Kept:
        """Whether the room's recording is kept at `now`, and its row (for the pages)."""
        with Session(self._engine) as session:
            row = session.get(Retention, room_id)
        return Kept(row, None if row is None else self._verdict(row, now))

    def verdict(self, room_id: str, *, now: datetime) -> Verdict:
        return self._verdict(self.get(room_id), now)

    def due(self, *, now: datetime) -> list[str]:
        """Rooms to purge at `now`: purges whose claim is older than the lease (their worker
        died or failed), then overdue rooms not on hold, oldest deadline first."""
        with Session(self._engine) as session:
            stale = session.exec(select(Retention.room_id).where(self._stale_clause(now))).all()
            overdue = session.exec(select(Retention.room_id).where(self._due_clause(now))
                                   .order_by(col(Retention.retain_until))).all()
        return [*stale, *overdue]

    def upcoming(self, *, now: datetime, within: timedelta = timedelta(days=7),
                 limit: int = 100) -> list[Retention]:
        """Purges due by `now + within`, overdue ones first; held rooms are not upcoming."""
        with Session(self._engine) as session:
            return list(session.exec(
                select(Retention).where(self._due_clause(now + within))
                .order_by(col(Retention.retain_until)).limit(limit)).all())

    def holds(self, *, limit: int = 100) -> list[Retention]:
        with Session(self._engine) as session:
            return list(session.exec(
                select(Retention)
                .where(col(Retention.hold).is_(True),
                       col(Retention.state) == RetentionState.RETAINED)
                .order_by(col(Retention.hold_at)).limit(limit)).all())

    def summary(self, *, now: datetime, within: timedelta = timedelta(days=7)) -> RetentionSummary:
        with Session(self._engine) as session:
            by_state = dict(session.exec(
                select(col(Retention.state), func.count()).group_by(Retention.state)).all())
            held = session.exec(select(func.count()).select_from(Retention).where(
                col(Retention.hold).is_(True),
                col(Retention.state) == RetentionState.RETAINED)).one()
            upcoming = session.exec(select(func.count()).select_from(Retention)
                                    .where(self._due_clause(now + within))).one()
            next_deadline = session.exec(select(func.min(Retention.retain_until)).where(
                col(Retention.hold).is_(False),
                col(Retention.state) == RetentionState.RETAINED)).one()
            removed = session.exec(select(func.coalesce(func.sum(Retention.bytes_removed), 0))
                                   ).one()
        return RetentionSummary(
            retained=by_state.get(RetentionState.RETAINED, 0), held=held,
            purging=by_state.get(RetentionState.PURGING, 0),
            purged=by_state.get(RetentionState.PURGED, 0),
            due=len(self.due(now=now)), upcoming=upcoming, bytes_removed=int(removed),
            next_deadline=next_deadline,
        )

    # Changing

    def register(self, room: RetentionCreate) -> Retention:
        """Start keeping an ended room. Registering it again returns the row unchanged."""
        row = Retention.model_validate(room, update={
            "retain_until": policy.retain_until(room.ended_at, durations=self.durations)})
        try:
            with session_scope(self._engine) as session:
                if (existing := session.get(Retention, room.room_id)) is not None:
                    return existing
                session.add(row)
        except IntegrityError:
            return self.get(room.room_id)
        self.announce(row)
        return row

    def authorize_download(self, room_id: str, *, kind: DownloadKind, actor_id: int,
                           is_admin: bool, now: datetime) -> Retention:
        """Allow (and log) one download of the recording or transcript; the caller states the
        returned `retain_until` in the response."""
        with session_scope(self._engine) as session:
            row = self._load(session, room_id)
            policy.check_keeper(actor_id, is_admin=is_admin, host_id=row.host_id)
            if not self._verdict(row, now).may_download:
                raise self._gone(row, now, refused=f"the {kind} of room {room_id} is gone")
            action = (AuditAction.DOWNLOAD_RECORDING if kind is DownloadKind.RECORDING
                      else AuditAction.DOWNLOAD_TRANSCRIPT)
            audit.record(session, action=action, at=now, actor_id=actor_id, room_id=room_id,
                         detail={"retain_until": row.retain_until})
        return row

    def extend_for_report(self, session: Session, *, room_id: str, at: datetime) -> Retention:
        """Apply a report filed at `at` inside the caller's transaction, so the report row and
        the new deadline commit together. Raises `RetentionGone` after the deadline or once a
        purge has claimed the room. Call `announce` with the result after the commit."""

        def change(row: Retention) -> Mapping[str, Any]:
            if not self._verdict(row, at).may_report:
                raise self._gone(row, at, refused=f"room {room_id} can no longer be reported")
            reported_at = row.reported_at or at
            # Written even when the deadline does not move (a second report): the compare-and-set
            # is what proves no purge claimed the row since we read it.
            return {"reported_at": reported_at,
                    "retain_until": policy.retain_until(
                        row.ended_at, durations=self.durations, reported_at=reported_at,
                        previous=row.retain_until)}

        row, _ = self._transition(session, room_id, change)
        return row

    def place_hold(self, room_id: str, *, by: int, now: datetime,
                   note: str | None = None) -> Retention:
        """Block the purge until `release_hold`; placing it twice changes nothing."""

        def change(row: Retention) -> Mapping[str, Any] | None:
            if row.state is not RetentionState.RETAINED:
                raise self._gone(row, now, refused=f"room {room_id} cannot be held")
            return None if row.hold else {"hold": True, "hold_by": by, "hold_at": now}

        with session_scope(self._engine) as session:
            row, changed = self._transition(session, room_id, change)
            if changed:
                audit.record(session, action=AuditAction.HOLD_PLACED, at=now, actor_id=by,
                             room_id=room_id, detail={"note": note,
                                                      "retain_until": row.retain_until})
        if changed:
            self.announce(row)
        return row

    def release_hold(self, room_id: str, *, by: int, now: datetime,
                     note: str | None = None) -> Retention:
        """Let the deadline apply again; an overdue room becomes due at once."""

        def change(row: Retention) -> Mapping[str, Any] | None:
            return {"hold": False, "hold_by": None, "hold_at": None} if row.hold else None

        with session_scope(self._engine) as session:
            row, changed = self._transition(session, room_id, change)
            if changed:
                audit.record(session, action=AuditAction.HOLD_RELEASED, at=now, actor_id=by,
                             room_id=room_id, detail={"note": note,
                                                      "retain_until": row.retain_until})
        if changed:
            self.announce(row)
        return row

    # Purging

    def purge(self, room_id: str, *, now: datetime, reason: PurgeReason,
              actor_id: int | None = None) -> PurgeResult:
        """Purge `room_id` if the policy says it is due at `now`; safe to call any number of
        times, from any number of workers."""
        if self._claim([room_id], now=now, reason=reason):
            return self._purge_claimed([room_id], now=now, actor_id=actor_id)[room_id]
        with Session(self._engine) as session:
            row = self._load(session, room_id)
        if row.state is RetentionState.PURGED:
            outcome = PurgeOutcome.ALREADY_PURGED
        elif row.state is RetentionState.PURGING:
            outcome = PurgeOutcome.IN_PROGRESS
        else:
            outcome = PurgeOutcome.HELD if row.hold else PurgeOutcome.NOT_DUE
        return PurgeResult(room_id, outcome, row)

    def purge_for_closed_account(self, room_id: str, *, by: int, now: datetime) -> bool:
        """The host closed their account: delete the room's recording now, before its deadline,
        unless a report or a hold keeps it (then it stays until its deadline, as promised to
        whoever reported it). True when it was purged."""

        def change(row: Retention) -> Mapping[str, Any] | None:
            if row.state is not RetentionState.RETAINED or row.hold or row.reported_at:
                return None
            return {"retain_until": min(row.retain_until, now)}

        with session_scope(self._engine) as session:
            row, changed = self._transition(session, room_id, change)
        if not changed:
            return False
        self.announce(row)
        result = self.purge(room_id, now=now, reason=PurgeReason.ACCOUNT_CLOSED, actor_id=by)
        return result.outcome is PurgeOutcome.PURGED

    def purge_now(self, room_id: str, *, by: int, now: datetime) -> Retention:
        """The admin console's "purge now": only for what is past its deadline and not held."""
        result = self.purge(room_id, now=now, reason=PurgeReason.ADMIN, actor_id=by)
        match result.outcome:
            case PurgeOutcome.PURGED | PurgeOutcome.ALREADY_PURGED:
                return result.retention
            case PurgeOutcome.HELD:
                raise Conflict(f"room {room_id} is on hold; release the hold first")
            case PurgeOutcome.NOT_DUE:
                raise Conflict(f"room {room_id} is retained until "
                               f"{_iso(result.retention.retain_until)}")
            case PurgeOutcome.IN_PROGRESS:
                raise Conflict(f"room {room_id} is being purged already")
            case PurgeOutcome.INCOMPLETE:
                raise PurgeIncomplete(f"the purge of room {room_id} did not complete; "
                                      "it will be retried")

    def sweep(self, *, now: datetime, dry_run: bool = False) -> SweepReport:
        """Purge everything due at `now`, a batch of rooms a transaction; one room (or batch)
        failing does not stop the others."""
        report = SweepReport(now=now, dry_run=dry_run, due=self.due(now=now))
        if dry_run:
            return report
        if report.due and not self._purgers:
            log.warning("retention: no purgers configured; the sweep only writes tombstones")
        for start in range(0, len(report.due), _SWEEP_BATCH):
            batch = report.due[start:start + _SWEEP_BATCH]
            try:
                results = self._purge_claimed(
                    self._claim(batch, now=now, reason=PurgeReason.SWEEP), now=now,
                    actor_id=None)
            except Exception:
                log.exception("sweep: a batch of %d purges failed", len(batch))
                report.failed += batch
                continue
            for room_id in batch:
                if (result := results.get(room_id)) is None:
                    report.skipped.append(room_id)
                elif result.outcome is PurgeOutcome.PURGED:
                    report.purged.append(room_id)
                    report.bytes_removed += result.retention.bytes_removed
                else:
                    report.failed.append(room_id)
        return report

    def _claim(self, room_ids: Sequence[str], *, now: datetime,
               reason: PurgeReason) -> list[str]:
        """Mark the rooms of `room_ids` that are due at `now` as `purging`, in one transaction.

        The policy is re-checked by the UPDATE itself, so a report or hold committed a moment
        earlier wins, and one committed later finds the row claimed. A stale claim is taken over
        with its original reason.
        """
        fresh = (update(Retention)
                 .where(col(Retention.room_id).in_(room_ids), self._due_clause(now))
                 .values(state=RetentionState.PURGING, purge_started_at=now,
                         purge_reason=reason, version=col(Retention.version) + 1))
        stale = (update(Retention)
                 .where(col(Retention.room_id).in_(room_ids), self._stale_clause(now))
                 .values(purge_started_at=now, version=col(Retention.version) + 1))
        claimed: set[str] = set()
        with session_scope(self._engine) as session:
            for stmt in (fresh, stale):
                claimed.update(session.exec(
                    stmt.returning(col(Retention.room_id))
                    .execution_options(synchronize_session=False)).scalars())
        return [room_id for room_id in room_ids if room_id in claimed]

    def _purge_claimed(self, room_ids: Sequence[str], *, now: datetime,
                       actor_id: int | None) -> dict[str, PurgeResult]:
        """Run every purger on each claimed room, then record the outcomes in one transaction."""
        removed: dict[str, int] = {}
        failed: set[str] = set()
        for room_id in room_ids:
            removed[room_id] = 0
            for purger in self._purgers:
                try:
                    removed[room_id] += purger.purge(room_id)
                except Exception:
                    # Keep going: remove as much as possible now; the retry repeats every purger.
                    failed.add(room_id)
                    log.exception("purger %s failed for room %s", type(purger).__name__,
                                  room_id)
        if not room_ids:
            return {}
        owned = (update(Retention)
                 .where(col(Retention.room_id) == bindparam("rid"),
                        col(Retention.state) == RetentionState.PURGING))
        added = {"bytes_removed": col(Retention.bytes_removed) + bindparam("n"),
                 "version": col(Retention.version) + 1}
        with session_scope(self._engine) as session:
            conn = session.connection()
            done = {**added, "state": RetentionState.PURGED, "purged_at": now}
            for values, rooms in ((done, [r for r in room_ids if r not in failed]),
                                  (added, [r for r in room_ids if r in failed])):
                if rooms:
                    conn.execute(owned.values(values),
                                 [{"rid": r, "n": removed[r]} for r in rooms])
            rows = {row.room_id: row for row in session.exec(
                select(Retention).where(col(Retention.room_id).in_(room_ids)))}
            for room_id in room_ids:
                row = rows[room_id]
                if room_id not in failed:
                    audit.record(
                        session, at=now, actor_id=actor_id, room_id=room_id,
                        action=(AuditAction.PURGE_NOW if row.purge_reason is PurgeReason.ADMIN
                                else AuditAction.PURGE),
                        detail={"reason": row.purge_reason, "bytes_removed": row.bytes_removed,
                                "ended_at": row.ended_at, "retain_until": row.retain_until})
        try:
            forget_deleted(self._engine)
        except Exception:  # the purge is done; the next one truncates the log again
            log.exception("truncating the database log after a purge failed")
        results: dict[str, PurgeResult] = {}
        for room_id in room_ids:
            if room_id in failed:
                results[room_id] = PurgeResult(room_id, PurgeOutcome.INCOMPLETE, rows[room_id])
            else:
                results[room_id] = PurgeResult(room_id, PurgeOutcome.PURGED, rows[room_id])
                self.announce(rows[room_id])
        return results

    # Helpers

    @staticmethod
    def _due_clause(now: datetime) -> ColumnElement[bool]:
        # `policy.is_due` as SQL, so the sweep finds (and the claim re-checks) a whole set at once.
        return and_(col(Retention.state) == RetentionState.RETAINED,
                    col(Retention.hold).is_(False), col(Retention.retain_until) <= now)

    def _stale_clause(self, now: datetime) -> ColumnElement[bool]:
        return and_(col(Retention.state) == RetentionState.PURGING,
                    col(Retention.purge_started_at) <= now - self._lease)

    def _load(self, session: Session, room_id: str) -> Retention:
        row = session.get(Retention, room_id, populate_existing=True)
        if row is None:
            raise NotFound(f"no retained recording for room {room_id}")
        return row

    def _transition(self, session: Session, room_id: str,
                    change: _Change) -> tuple[Retention, bool]:
        """Apply `change(fresh_row)` as a compare-and-set on the version, retrying on a race.

        `change` sees the latest committed row, raises to refuse, returns None to leave it be.
        """
        for _ in range(_CAS_ATTEMPTS):
            row = self._load(session, room_id)
            values = change(row)
            if values is None:
                return row, False
            result = session.exec(
                update(Retention)
                .where(col(Retention.room_id) == room_id, col(Retention.version) == row.version)
                .values({**values, "version": row.version + 1})
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                return self._load(session, room_id), True
        raise Conflict(f"the retention of room {room_id} keeps changing; try again")

    def _verdict(self, row: Retention, now: datetime) -> Verdict:
        return policy.evaluate(retain_until=row.retain_until, held=row.hold, now=now,
                               purged=row.state is not RetentionState.RETAINED)

    @staticmethod
    def _gone(row: Retention, now: datetime, *, refused: str) -> RetentionGone:
        """`refused` ("room X can no longer be reported") and why, with the date to state."""
        if row.state is RetentionState.PURGED and row.purged_at is not None:
            date, why = row.purged_at, "its recording was deleted on {}"
        elif row.state is RetentionState.PURGING:
            date, why = row.purge_started_at or now, "its recording is being deleted (since {})"
        else:
            date, why = row.retain_until, "its retention ended on {}; deletion is pending"
        return RetentionGone(f"{refused}: {why.format(_iso(date))}", room_id=row.room_id,
                             purge_date=date)

