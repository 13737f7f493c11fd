"""Purges in batches: claim the rooms due, run every domain's purger, record what happened.

The claim is one UPDATE whose WHERE is the policy's "due", so a report or hold committed a moment
earlier wins; the outcomes (tombstones, bytes removed, audit events) are one transaction for the
whole batch. A purge that fails or dies in between leaves its rows `purging` until the lease
runs out and a later sweep claims them again; hence purgers must be idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Engine, and_, bindparam, update
from sqlmodel import col, select

from roomscribe.audit import service as audit
from roomscribe.audit.tables import AuditAction
from roomscribe.db import forget_deleted, session_scope
from roomscribe.retention.outcomes import PurgeOutcome, PurgeResult
from roomscribe.retention.purgers import Purger
from roomscribe.retention.tables import PurgeReason, Retention, RetentionState

log = logging.getLogger(__name__)


def due_clause(now: datetime) -> ColumnElement[bool]:
    """`policy.is_due` as SQL, so the sweep finds (and the claim re-checks) a whole set at once."""
    return and_(col(Retention.state) == RetentionState.RETAINED,
                col(Retention.hold).is_(False), col(Retention.retain_until) <= now)


class PurgeRunner:
    """Claims and purges rooms for `RetentionService`; `announce` hears of every purged row."""

    def __init__(self, engine: Engine, purgers: Sequence[Purger], lease: timedelta,
                 announce: Callable[[Retention], None]) -> None:
        self._engine = engine
        self.purgers = tuple(purgers)
        self._lease = lease
        self._announce = announce

    def stale(self, now: datetime) -> ColumnElement[bool]:
        """Claims older than the lease: their purge died, and the next sweep takes them over."""
        return and_(col(Retention.state) == RetentionState.PURGING,
                    col(Retention.purge_started_at) <= now - self._lease)

    def claim(self, room_ids: Sequence[str], *, now: datetime,
               reason: PurgeReason) -> list[str]:
        """Mark the rooms of `room_ids` that are due at `now` as `purging`, in one transaction.

        The policy is re-checked by the UPDATE itself, so a report or hold committed a moment
        earlier wins, and one committed later finds the row claimed. A stale claim is taken over
        with its original reason.
        """
        fresh = (update(Retention)
                 .where(col(Retention.room_id).in_(room_ids), due_clause(now))
                 .values(state=RetentionState.PURGING, purge_started_at=now,
                         purge_reason=reason, version=col(Retention.version) + 1))
        stale = (update(Retention)
                 .where(col(Retention.room_id).in_(room_ids), self.stale(now))
                 .values(purge_started_at=now, version=col(Retention.version) + 1))
        claimed: set[str] = set()
        with session_scope(self._engine) as session:
            for stmt in (fresh, stale):
                claimed.update(session.exec(
                    stmt.returning(col(Retention.room_id))
                    .execution_options(synchronize_session=False)).scalars())
        return [room_id for room_id in room_ids if room_id in claimed]

    def run(self, room_ids: Sequence[str], *, now: datetime,
                       actor_id: int | None) -> dict[str, PurgeResult]:
        """Run every purger on each claimed room, then record the outcomes in one transaction."""
        removed: dict[str, int] = {}
        failed: set[str] = set()
        for room_id in room_ids:
            removed[room_id] = 0
            for purger in self.purgers:
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
                self._announce(rows[room_id])
        return results
