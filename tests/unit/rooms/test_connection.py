"""Close codes and the connection's stop."""

from __future__ import annotations

from roomscribe.errors import Forbidden, NotFound
from roomscribe.rooms import connection
from roomscribe.rooms.connection import ENDED, REMOVED, Close, Connection, close_for


def test_close_codes_are_distinct() -> None:
    closes = [v for v in vars(connection).values() if isinstance(v, Close)]
    assert len(closes) >= 9
    assert len({c.code for c in closes}) == len(closes)


def test_refusals_close_with_4000_plus_their_http_status() -> None:
    assert close_for(NotFound("no room 'x'")) == Close(4404, "no room 'x'")
    assert close_for(Forbidden("")).code == 4403


async def test_the_first_reason_to_stop_wins_and_late_callbacks_run_at_once() -> None:
    conn = Connection(account_id=1)
    told: list[str] = []
    conn.on_stop(lambda: told.append("early"))
    conn.stop(REMOVED)
    conn.stop(ENDED)
    conn.on_stop(lambda: told.append("late"))
    assert await conn.stopped() == REMOVED
    assert told == ["early", "late"]
