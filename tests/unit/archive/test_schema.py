"""How segments are laid out for the index: dates as UTC epoch seconds, the newest-first key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from roomscribe.archive.documents import epoch, newest_key

NOON = datetime(2026, 5, 1, 12, tzinfo=UTC)


def test_naive_dates_are_utc_and_aware_ones_are_converted() -> None:
    assert epoch(NOON) == epoch(NOON.replace(tzinfo=None)) == 1_777_636_800
    assert epoch(NOON.astimezone(timezone(timedelta(hours=-5)))) == epoch(NOON)


def test_newest_key_orders_later_rooms_first_then_by_time_in_the_room() -> None:
    keys = [newest_key(NOON + timedelta(days=1), 500.0), newest_key(NOON, 0.0),
            newest_key(NOON, 0.1), newest_key(NOON, 3600.0),
            newest_key(NOON - timedelta(seconds=1), 0.0),
            newest_key(datetime(1969, 12, 31, tzinfo=UTC), 0.0)]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    # Times past what the key holds (19 days) or before 0 clamp instead of spilling into the date.
    assert newest_key(NOON, 10**9) < newest_key(NOON - timedelta(seconds=1), 0.0)
    assert newest_key(NOON, -5.0) == newest_key(NOON, 0.0)
