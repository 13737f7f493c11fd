"""The policy's rules at their edges, and its one invariant (deadlines only move later) for any
input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers.retention import T
from roomscribe.config import Settings
from roomscribe.retention import policy
from roomscribe.retention.policy import Durations

D = Durations()
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def test_durations_default_to_30_and_120_days_and_follow_settings() -> None:
    assert Durations() == Durations(retention=30 * DAY, report_retention=120 * DAY)
    assert Durations.from_settings(Settings(retention_days=7, report_retention_days=60)) == \
        Durations(retention=7 * DAY, report_retention=60 * DAY)
    with pytest.raises(ValueError, match="positive"):
        Durations(retention=timedelta(0))


def test_deadline_is_thirty_days_after_the_end() -> None:
    assert policy.retain_until(T, durations=D) == T + 30 * DAY


@pytest.mark.parametrize("reported", [T - DAY, T, T + 10 * DAY, T + 30 * DAY - SECOND])
def test_a_report_before_the_deadline_keeps_it_120_days(reported: datetime) -> None:
    assert policy.retain_until(T, durations=D, reported_at=reported) == T + 120 * DAY


@pytest.mark.parametrize("reported", [T + 30 * DAY, T + 31 * DAY])
def test_a_report_at_or_after_the_deadline_changes_nothing(reported: datetime) -> None:
    assert policy.retain_until(T, durations=D, reported_at=reported) == T + 30 * DAY


def test_a_deadline_never_moves_earlier() -> None:
    shorter = Durations(retention=DAY, report_retention=2 * DAY)
    assert policy.retain_until(T, durations=shorter, previous=T + 30 * DAY) == T + 30 * DAY
    odd = Durations(retention=30 * DAY, report_retention=10 * DAY)
    assert policy.retain_until(T, durations=odd, reported_at=T + DAY) == T + 30 * DAY


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="ended_at"):
        policy.retain_until(T.replace(tzinfo=None), durations=D)
    with pytest.raises(ValueError, match="now"):
        policy.evaluate(retain_until=T, held=False, now=datetime(2025, 1, 1))


def test_before_the_deadline_everything_is_allowed() -> None:
    v = policy.evaluate(retain_until=T + 30 * DAY, held=False, now=T + 29 * DAY)
    assert (v.due, v.may_download, v.may_report) == (False, True, True)


@pytest.mark.parametrize("late", [timedelta(0), SECOND, 400 * DAY])
def test_from_the_deadline_on_it_is_due_and_closed(late: timedelta) -> None:
    v = policy.evaluate(retain_until=T + 30 * DAY, held=False, now=T + 30 * DAY + late)
    assert (v.due, v.may_download, v.may_report) == (True, False, False)


def test_a_hold_keeps_it_downloadable_but_not_reportable() -> None:
    v = policy.evaluate(retain_until=T + 30 * DAY, held=True, now=T + 40 * DAY)
    assert (v.due, v.may_download, v.may_report) == (False, True, False)


def test_once_purged_nothing_is_allowed_or_due() -> None:
    v = policy.evaluate(retain_until=T + 30 * DAY, held=False, now=T + DAY, purged=True)
    assert (v.due, v.may_download, v.may_report) == (False, False, False)


instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1),
                        timezones=st.just(UTC))
days = st.integers(min_value=1, max_value=400).map(lambda n: n * DAY)


@given(ended=instants, reported=st.none() | instants, previous=st.none() | instants,
       retention=days, report_retention=days)
def test_the_deadline_is_never_before_the_base_or_the_previous_one(
        ended: datetime, reported: datetime | None, previous: datetime | None,
        retention: timedelta, report_retention: timedelta) -> None:
    durations = Durations(retention=retention, report_retention=report_retention)
    deadline = policy.retain_until(ended, durations=durations, reported_at=reported,
                                   previous=previous)
    assert deadline >= ended + retention
    assert previous is None or deadline >= previous
    assert deadline >= policy.retain_until(ended, durations=durations, previous=previous)


@given(deadline=instants, now=instants, held=st.booleans())
def test_due_and_downloadable_never_both(deadline: datetime, now: datetime, held: bool) -> None:
    v = policy.evaluate(retain_until=deadline, held=held, now=now)
    assert not (v.due and v.may_download)
    assert not (v.due and v.may_report)
