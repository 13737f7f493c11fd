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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from roomscribe.audit import service as audit
from roomscribe.audit.tables import AuditAction
from roomscribe.db import session_scope
from roomscribe.errors import Conflict, NotFound
from roomscribe.retention import policy
from roomscribe.retention.outcomes import (
    DownloadKind,
    Kept,
    PurgeIncomplete,
    PurgeOutcome,
    PurgeResult,
    RetentionGone,
    RetentionSummary,
    SweepReport,
    iso,
)
from roomscribe.retention.policy import Durations, Verdict
from roomscribe.retention.purgers import Purger
from roomscribe.retention.runner import PurgeRunner, due_clause
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


RowObserver = Callable[[Retention], None]
"""Told about every row whose deadline, hold or state changed, after the change committed."""

_Change = Callable[[Retention], Mapping[str, Any] | None]


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
        self._observers: list[RowObserver] = []
        self._runner = PurgeRunner(engine, purgers, lease, self.announce)

    def subscribe(self, observer: RowObserver) -> None:
        self._observers.append(observer)

    def unsubscribe(self, observer: RowObserver) -> None:
        self._observers.remove(observer)

    def announce(self, row: Retention) -> None:
        """Tell observers (the scheduler) that `row` changed. Call it after the commit."""
        for observer in list(self._observers):
            try:
                observer(row)
            except Exception:
                # The change is committed; an observer failing must not undo it for the caller.
                # The hourly sweep catches a purge a failed observer did not schedule.
                log.exception("retention observer failed for room %s", row.room_id)

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
            stale = session.exec(select(Retention.room_id).where(self._runner.stale(now))).all()
            overdue = session.exec(select(Retention.room_id).where(due_clause(now))
                                   .order_by(col(Retention.retain_until))).all()
        return [*stale, *overdue]

    def upcoming(self, *, now: datetime, within: timedelta = timedelta(days=7),
                 limit: int = 100) -> list[Retention]:
        """Purges due by `now + within`, overdue ones first; held rooms are not upcoming."""
        with Session(self._engine) as session:
            return list(session.exec(
                select(Retention).where(due_clause(now + within))
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
                                    .where(due_clause(now + within))).one()
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
        if self._runner.claim([room_id], now=now, reason=reason):
            return self._runner.run([room_id], now=now, actor_id=actor_id)[room_id]
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
        result = self.purge(room_id, now=now, reason=PurgeReason.ACCOUNT_CLOSED, actor_id=by)
        if result.outcome is PurgeOutcome.PURGED:
            return True
        # Announced only now: told first, the scheduler would purge at the new deadline (now)
        # at once, in its own thread, and this purge would find it in progress and return
        # before the room is gone (seen in CI). Now it only retries what did not complete.
        self.announce(row)
        return False

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
                               f"{iso(result.retention.retain_until)}")
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
        if report.due and not self._runner.purgers:
            log.warning("retention: no purgers configured; the sweep only writes tombstones")
        for start in range(0, len(report.due), _SWEEP_BATCH):
            batch = report.due[start:start + _SWEEP_BATCH]
            try:
                results = self._runner.run(
                    self._runner.claim(batch, now=now, reason=PurgeReason.SWEEP), now=now,
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

    # Helpers

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
        return RetentionGone(f"{refused}: {why.format(iso(date))}", room_id=row.room_id,
                             purge_date=date)

