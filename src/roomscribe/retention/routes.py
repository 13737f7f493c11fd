"""The admin API of the retention policy: holds, upcoming purges, "purge now", counts and storage
used, and the audit log.

Admins only: every handler takes the `admin` dependency, which refuses anonymous callers (401) and
every other account (403). The policy's clock is `app.state.clock`, read once a request as `now`,
so tests move time for the API, the pages and the scheduler alike.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from roomscribe.accounts.tables import Account
from roomscribe.audit.service import MAX_PAGE as AUDIT_MAX_PAGE
from roomscribe.audit.service import AuditLog
from roomscribe.audit.tables import AuditPage
from roomscribe.errors import Forbidden
from roomscribe.params import Cursor
from roomscribe.retention.schemas import HoldChange, RetentionAdmin, RetentionOverview
from roomscribe.retention.service import UPCOMING_DAYS, RetentionService
from roomscribe.retention.tables import Retention, RetentionPublic


def provide_retention(state: State) -> RetentionService:
    service: RetentionService = state.retention
    return service


def provide_now(state: State) -> datetime:
    now: datetime = state.clock()
    return now


def provide_admin(caller: NamedDependency[Account]) -> Account:
    if not caller.is_admin:
        raise Forbidden("only admins may do this")
    return caller


def provide_audit_log(state: State) -> AuditLog:
    log: AuditLog = state.audit_log
    return log


DEPENDENCIES = {
    "retention": Provide(provide_retention, sync_to_thread=False),
    "audit_log": Provide(provide_audit_log, sync_to_thread=False),
    "now": Provide(provide_now, sync_to_thread=False),
    "admin": Provide(provide_admin, sync_to_thread=False),
}


def admin_view(row: Retention) -> RetentionAdmin:
    return RetentionAdmin.model_validate(row, from_attributes=True)


class AdminRetentionController(Controller):
    path = "/api/v1/admin"
    tags = ("admin",)

    @get("/retention", operation_id="getRetentionOverview", sync_to_thread=True)
    def summary(self, admin: NamedDependency[Account], retention: NamedDependency[RetentionService],
                now: NamedDependency[datetime],
                storage_used: NamedDependency[int]) -> RetentionOverview:
        """Counts by state, what is due and upcoming, bytes freed and storage used now."""
        return retention.overview(now=now, storage_used=storage_used)

    @get("/retention/{room_id:str}", operation_id="getRoomRetention", sync_to_thread=True)
    def room(self, room_id: FromPath[str], admin: NamedDependency[Account],
             retention: NamedDependency[RetentionService]) -> RetentionAdmin:
        """One ended room's deadline, hold and state; after the purge, its tombstone."""
        return admin_view(retention.get(room_id))

    @get("/purges", operation_id="listUpcomingPurges", sync_to_thread=True)
    def upcoming(self, admin: NamedDependency[Account],
                 retention: NamedDependency[RetentionService], now: NamedDependency[datetime],
                 days: Annotated[int, QueryParameter(ge=1, le=90)] = UPCOMING_DAYS,
                 ) -> list[RetentionPublic]:
        """Purges due within `days` (7 by default), overdue ones first; held rooms are not due."""
        return [RetentionPublic.model_validate(row, from_attributes=True)
                for row in retention.upcoming(now=now, within=timedelta(days=days))]

    @post("/purges/{room_id:str}", operation_id="purgeNow", sync_to_thread=True,
          status_code=HTTP_200_OK)
    def purge_now(self, room_id: FromPath[str], admin: NamedDependency[Account],
                  retention: NamedDependency[RetentionService],
                  now: NamedDependency[datetime]) -> RetentionPublic:
        """Purge a room past its deadline now; 409 while it is retained or held. The tombstone."""
        assert admin.id is not None
        return RetentionPublic.model_validate(
            retention.purge_now(room_id, by=admin.id, now=now), from_attributes=True)

    @get("/holds", operation_id="listHolds", sync_to_thread=True)
    def holds(self, admin: NamedDependency[Account],
              retention: NamedDependency[RetentionService]) -> list[RetentionAdmin]:
        """Rooms on hold, oldest hold first."""
        return [admin_view(row) for row in retention.holds()]

    @put("/holds/{room_id:str}", operation_id="placeHold", sync_to_thread=True)
    def place_hold(self, room_id: FromPath[str], data: JSONBody[HoldChange],
                   admin: NamedDependency[Account], retention: NamedDependency[RetentionService],
                   now: NamedDependency[datetime]) -> RetentionAdmin:
        """Keep the room's recording past its deadline until the hold is released."""
        assert admin.id is not None
        return admin_view(retention.place_hold(room_id, by=admin.id, now=now, note=data.note))

    @delete("/holds/{room_id:str}", operation_id="releaseHold", sync_to_thread=True,
            status_code=HTTP_200_OK)
    def release_hold(self, room_id: FromPath[str], admin: NamedDependency[Account],
                     retention: NamedDependency[RetentionService], now: NamedDependency[datetime],
                     note: FromQuery[str | None] = None) -> RetentionAdmin:
        """Let the deadline apply again: a room past it is purged at once."""
        assert admin.id is not None
        return admin_view(retention.release_hold(room_id, by=admin.id, now=now, note=note))

    @get("/audit", operation_id="listAuditEvents", sync_to_thread=True)
    def audit_log(
        self, audit_log: NamedDependency[AuditLog], admin: NamedDependency[Account],
        room_id: FromQuery[str | None] = None, actor_id: Cursor = None,
        action: FromQuery[list[str] | None] = None,
        since: FromQuery[datetime | None] = None, until: FromQuery[datetime | None] = None,
        before: Cursor = None,
        limit: Annotated[int, QueryParameter(ge=1, le=AUDIT_MAX_PAGE)] = 50,
    ) -> AuditPage:
        """Reports, status changes, holds, downloads and purges: who, what, when. Newest first;
        every filter given must match; pass `next_before` back as `before` for older events."""
        return audit_log.page(room_id=room_id, actor_id=actor_id, actions=action,
                              since=since, until=until, before=before, limit=limit)
