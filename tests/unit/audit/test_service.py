"""The audit log: append-only, newest first, filtered and paged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from helpers.retention import ADMIN, HOST, T
from roomscribe.audit import service as audit
from roomscribe.audit.tables import AuditAction, AuditEvent
from roomscribe.db import session_scope
from roomscribe.errors import InvalidInput

H = timedelta(hours=1)


@pytest.fixture
def logged(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        audit.record(session, action=AuditAction.REPORT_FILED, at=T, actor_id=HOST,
                     room_id="r1", detail={"report_id": 1, "retain_until": T + 120 * 24 * H})
        audit.record(session, action=AuditAction.HOLD_PLACED, at=T + H, actor_id=ADMIN,
                     room_id="r1")
        audit.record(session, action=AuditAction.DOWNLOAD_RECORDING, at=T + 2 * H,
                     actor_id=HOST, room_id="r2")
        audit.record(session, action=AuditAction.PURGE, at=T + 3 * H, room_id="r2",
                     detail={"bytes_removed": 5})
    return engine


def query(engine: Engine, **filters: object) -> list[str]:
    with Session(engine) as session:
        return [e.action for e in audit.query(session, **filters).items]  # type: ignore[arg-type]


def test_newest_first_with_detail_as_json(logged: Engine) -> None:
    with Session(logged) as session:
        page = audit.query(session)
    assert [e.action for e in page.items] == ["purge", "download.recording", "hold.placed",
                                              "report.filed"]
    assert page.items[0].actor_id is None and page.items[0].at == T + 3 * H
    assert page.items[-1].detail == {"report_id": 1, "retain_until": "2025-05-01T12:00:00+00:00"}
    assert page.next_before is None


def test_filters_combine(logged: Engine) -> None:
    assert query(logged, room_id="r1") == ["hold.placed", "report.filed"]
    assert query(logged, actor_id=HOST) == ["download.recording", "report.filed"]
    assert query(logged, actions=["purge", "hold.placed"]) == ["purge", "hold.placed"]
    assert query(logged, since=T + H, until=T + 3 * H) == ["download.recording", "hold.placed"]
    assert query(logged, room_id="r2", actor_id=HOST) == ["download.recording"]


def test_pages_follow_the_cursor(logged: Engine) -> None:
    seen: list[str] = []
    before = None
    with Session(logged) as session:
        while True:
            page = audit.query(session, limit=3, before=before)
            seen += [e.action for e in page.items]
            if (before := page.next_before) is None:
                break
    assert seen == ["purge", "download.recording", "hold.placed", "report.filed"]
    with pytest.raises(InvalidInput), Session(logged) as session:
        audit.query(session, limit=0)


def test_events_cannot_be_changed_or_deleted(logged: Engine) -> None:
    with pytest.raises(ValueError, match="append-only"), session_scope(logged) as session:
        event = session.exec(select(AuditEvent)).first()
        assert event is not None
        event.action = "nothing.happened"
    with pytest.raises(ValueError, match="append-only"), session_scope(logged) as session:
        session.delete(session.exec(select(AuditEvent)).first())
    assert len(query(logged)) == 4


def test_detail_must_be_json(engine: Engine) -> None:
    with pytest.raises(TypeError, match="not JSON serializable"), \
            session_scope(engine) as session:
        audit.record(session, action="x", at=T, detail={"bad": object()})
